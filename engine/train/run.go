package train

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/chattemplate"
	"github.com/graft-ai/graft/engine/kernel"
	"github.com/graft-ai/graft/finetune/dataset"
)

// InputError is a job that cannot run as given: a bad Config, a base model
// that does not load, a training or validation file that does not parse.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// hooks let tests see what a run did (its initial adapter, its batches).
type hooks struct {
	init  func(ad *adapter[float32])
	batch func(step int, micro [][]sample)
}

// Run trains an adapter as cfg says and writes it to cfg.OutputDir. It
// reports progress through onEvent (may be nil). When ctx is cancelled it
// stops within one layer's work and returns ctx's error; no adapter is written.
func Run(ctx context.Context, cfg Config, onEvent func(Event)) error {
	return run(ctx, cfg, onEvent, nil)
}

// job is a run's loaded state.
type job struct {
	cfg          Config
	net          *net[float32]
	ad           *adapter[float32]
	train, valid []sample
	plan         plan
	params       [][]float32
	grads        [][]float32
	opt          *adamW
	dropSrc      *rand.PCG
	emit         func(Event)
}

func run(ctx context.Context, cfg Config, onEvent func(Event), h *hooks) error {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return &InputError{err}
	}
	emit := func(e Event) {
		if onEvent != nil {
			e.Time = time.Now()
			onEvent(e)
		}
	}
	emit(Event{Message: "loading base model " + cfg.BaseModel})
	path := cfg.BaseModel
	if cfg.BaseModelPath != "" {
		path = cfg.BaseModelPath
	}
	l, err := engine.Load(path, hostBackend{})
	if err != nil {
		return &InputError{fmt.Errorf("base model: %w", err)}
	}
	defer l.Close()
	pool := kernel.NewPool(cfg.Threads)
	defer pool.Close()
	j, err := newJob(cfg, l, pool, emit)
	if err != nil {
		return &InputError{err}
	}
	if h != nil && h.init != nil {
		h.init(j.ad)
	}
	start := 0
	if cfg.CheckpointDir != "" {
		st, ok, err := loadCheckpoint(cfg.CheckpointDir, cfg, j.params, j.opt, j.dropSrc)
		if err != nil {
			return err
		}
		if ok {
			start = st.Step
			emit(Event{Step: start, TotalSteps: j.plan.total, Message: fmt.Sprintf("resumed from the checkpoint of step %d", start)})
		}
	}
	for s := start; s < j.plan.total; s++ {
		if err := j.step(ctx, s, h); err != nil {
			return err
		}
		if cfg.CheckpointDir != "" && (s+1)%cfg.CheckpointEvery == 0 && s+1 < j.plan.total {
			st := checkpointState{Step: s + 1, Total: j.plan.total, Job: fingerprint(cfg)}
			if st.Dropout, err = j.dropSrc.MarshalBinary(); err != nil {
				return err
			}
			if err := saveCheckpoint(cfg.CheckpointDir, st, j.params, j.opt); err != nil {
				return fmt.Errorf("checkpoint: %w", err)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := writeAdapter(cfg.OutputDir, cfg, j.ad); err != nil {
		return fmt.Errorf("writing the adapter: %w", err)
	}
	emit(Event{Step: j.plan.total, TotalSteps: j.plan.total, Message: "adapter written to " + cfg.OutputDir})
	return nil
}

func newJob(cfg Config, l *engine.Loaded, pool *kernel.Pool, emit func(Event)) (*job, error) {
	mc := l.Model.Config
	maxLen := cfg.MaxSeqLen
	if maxLen == 0 {
		maxLen = 1024
	}
	if mc.MaxPositions > 0 {
		maxLen = min(maxLen, mc.MaxPositions)
	}
	enc, err := newEncoder(l, maxLen)
	if err != nil {
		return nil, err
	}
	j := &job{cfg: cfg, emit: emit}
	if j.train, err = readSamples(enc, cfg.TrainFile, "training", emit); err != nil {
		return nil, err
	}
	if cfg.ValidFile != "" {
		if j.valid, err = readSamples(enc, cfg.ValidFile, "validation", emit); err != nil {
			return nil, err
		}
	}
	targets, _ := targetSet(cfg.TargetModules)
	initRng := rand.New(rand.NewPCG(uint64(cfg.Seed), 1))
	j.ad = newAdapter[float32](&mc, targets, cfg.Rank, loraScale(cfg.Alpha, cfg.Rank, cfg.RSLoRA), cfg.Dropout, initRng)
	j.ad.each(func(_, _ int, p *loraParam[float32]) {
		j.params = append(j.params, p.a, p.b)
		j.grads = append(j.grads, p.ga, p.gb)
	})
	j.opt = newAdamW(j.params, cfg.WeightDecay)
	j.dropSrc = rand.NewPCG(uint64(cfg.Seed), 2)
	j.net = newNet(newBase[float32](l.Model), j.ad, pool, maxLen, rand.New(j.dropSrc))
	j.plan = newPlan(len(j.train), cfg.BatchSize, cfg.GradAccum, cfg.Epochs, cfg.Seed)
	emit(Event{TotalSteps: j.plan.total, Message: fmt.Sprintf("%d training examples, %d optimizer steps (%d per epoch)",
		len(j.train), j.plan.total, j.plan.stepsPerEpoch)})
	return j, nil
}

func newEncoder(l *engine.Loaded, maxLen int) (*encoder, error) {
	e := &encoder{tok: l.Tokenizer, chat: l.Chat, vars: l.ChatVars, maxLen: maxLen}
	if e.chat == nil {
		var err error
		if e.chat, err = chattemplate.New(chattemplate.FallbackTemplate); err != nil {
			return nil, err
		}
	}
	eos, ok := l.Tokenizer.EOS()
	if !ok {
		if len(l.EOS) == 0 {
			return nil, errors.New("base model: the tokenizer has no end-of-sequence token")
		}
		eos = l.EOS[0]
	}
	e.eos = eos
	return e, nil
}

func readSamples(enc *encoder, path, what string, emit func(Event)) ([]sample, error) {
	exs, err := dataset.ParseFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s file: %w", what, err)
	}
	s, dropped, err := enc.encodeAll(exs)
	if err != nil {
		return nil, fmt.Errorf("%s file: %w", what, err)
	}
	if len(s) == 0 {
		return nil, fmt.Errorf("%s file: no example has a completion token within %d tokens", what, enc.maxLen)
	}
	if dropped > 0 {
		emit(Event{Message: fmt.Sprintf("%s file: %d examples have no completion token within %d tokens and are skipped", what, dropped, enc.maxLen)})
	}
	return s, nil
}

// step runs optimizer step s: every micro-batch forward and backward, the
// loss normalised over all completion tokens of the step, then clip and AdamW.
func (j *job) step(ctx context.Context, s int, h *hooks) error {
	epoch, micro := j.plan.step(s)
	batches := make([][]sample, len(micro))
	count, tokens := 0, 0
	for i, idx := range micro {
		for _, k := range idx {
			batches[i] = append(batches[i], j.train[k])
			count += (&packed{targets: j.train[k].targets}).lossTokens()
			tokens += len(j.train[k].tokens)
		}
	}
	if h != nil && h.batch != nil {
		h.batch(s, batches)
	}
	stop := func() bool { return ctx.Err() != nil }
	j.ad.zeroGrad()
	var lossSum float64
	pk := &packed{}
	for _, b := range batches {
		pk.reset()
		for _, smp := range b {
			pk.add(smp.tokens, smp.targets)
		}
		l, _, stopped := j.net.forward(pk, true, stop)
		if stopped || j.net.backward(pk, float32(1/float64(count)), stop) {
			return ctx.Err()
		}
		lossSum += l
	}
	clipGrads(j.grads, j.cfg.MaxGradNorm)
	lr := j.cfg.LearningRate * lrFactor(j.cfg.Schedule, s, j.cfg.WarmupSteps, j.plan.total)
	j.opt.update(j.net.pool, j.params, j.grads, lr)
	ev := Event{Step: s + 1, TotalSteps: j.plan.total, Epoch: epoch + 1, TrainLoss: lossSum / float64(count), LearningRate: lr, Tokens: tokens}
	if j.valid != nil && ((s+1)%j.plan.stepsPerEpoch == 0 || s+1 == j.plan.total) {
		v, err := j.validLoss(stop)
		if err != nil {
			return ctx.Err()
		}
		ev.ValidLoss = &v
	}
	j.emit(ev)
	return nil
}

// validLoss is the mean loss over the validation file's completion tokens.
func (j *job) validLoss(stop func() bool) (float64, error) {
	var sum float64
	var count int
	pk := &packed{}
	for i := 0; i < len(j.valid); i += j.cfg.BatchSize {
		pk.reset()
		for _, smp := range j.valid[i:min(i+j.cfg.BatchSize, len(j.valid))] {
			pk.add(smp.tokens, smp.targets)
		}
		l, c, stopped := j.net.forward(pk, false, stop)
		if stopped {
			return 0, errors.New("stopped")
		}
		sum, count = sum+l, count+c
	}
	return sum / float64(count), nil
}
