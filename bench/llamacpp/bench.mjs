// llama.cpp's side of `graft bench engine --vs-llamacpp`: the same GGUF, the same
// prompts and the same token counts as Graft's run, through node-llama-cpp's
// low-level context/sequence API on the CPU. Prints one JSON object on stdout.
//
// Usage: UV_THREADPOOL_SIZE=1 node bench.mjs PLAN.json
// PLAN: {model, threads, prefill: {tokens, reps}, decode: {prompts, lead, tokens, reps, batches},
//        greedy: {prompt, tokens, prompts}}
// Without UV_THREADPOOL_SIZE=1 libuv's idle worker threads compete with
// llama.cpp's 2 compute threads and it runs 1.7-2.7x slower on a 2-core host.
import {readFile} from "node:fs/promises";
import {performance} from "node:perf_hooks";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const plan = JSON.parse(await readFile(process.argv[2], "utf8"));

const llama = await getLlama({
    gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
    logLevel: LlamaLogLevel.error, maxThreads: plan.threads
});
const model = await llama.loadModel({modelPath: plan.model, gpuLayers: 0, useMmap: true});

// newContext sizes the KV cache for n sequences of at most perSeq tokens each.
async function newContext(n, perSeq) {
    return model.createContext({
        sequences: n, contextSize: n * perSeq, batchSize: Math.max(512, n),
        threads: plan.threads, flashAttention: false
    });
}

// generate runs greedy decoding of count tokens after prompt and returns the
// tokens with the time each arrived.
async function generate(seq, prompt, count) {
    const tokens = [], times = [];
    for await (const t of seq.evaluate(prompt, {temperature: 0})) {
        tokens.push(t);
        times.push(performance.now());
        if (tokens.length >= count) break;
    }
    return {tokens, times};
}

const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// prefill times the first token of a full prompt, which costs one batched
// evaluation of the prompt plus one sampling step, as on Graft's side.
async function prefill() {
    const p = plan.prefill.tokens;
    const ctx = await newContext(1, p.length + 8);
    const seq = ctx.getSequence();
    await generate(seq, p.slice(0, 8), 1); // warm-up
    const rates = [];
    for (let r = 0; r < plan.prefill.reps; r++) {
        await seq.clearHistory();
        const t0 = performance.now();
        await generate(seq, p, 1);
        rates.push(p.length / ((performance.now() - t0) / 1000));
    }
    await ctx.dispose();
    return median(rates);
}

// decode returns the aggregate rate of n sequences decoding at once;
// node-llama-cpp batches one token of every waiting sequence into each
// llama_decode. As on Graft's side each repetition runs them for lead and for
// lead+tokens tokens and divides the extra tokens by the extra time, so prefill
// and start-up cancel out; the median of the repetitions is reported.
async function decode(n) {
    const {prompts, lead, tokens, reps} = plan.decode;
    const perSeq = Math.max(...prompts.map(p => p.length)) + lead + tokens + 8;
    const ctx = await newContext(n, perSeq);
    const seqs = Array.from({length: n}, () => ctx.getSequence());
    const run = async count => {
        await Promise.all(seqs.map(s => s.clearHistory()));
        const t0 = performance.now();
        const runs = await Promise.all(seqs.map((s, i) => generate(s, prompts[i], count)));
        for (const r of runs) {
            if (r.tokens.length !== count) throw new Error(`a sequence made ${r.tokens.length} tokens, want ${count}`);
        }
        return performance.now() - t0;
    };
    await run(lead); // warm-up: the context's first batches are slower
    const rates = [];
    // On a busy machine a repetition can time the longer run as no slower
    // (a tiny model's extra tokens take less than the noise): such a pair
    // measures nothing, so a few more repetitions are tried in its place.
    const want = reps || 1;
    for (let r = 0; rates.length < want && r < want + 5; r++) {
        const short = await run(lead);
        const long = await run(lead + tokens);
        if (long > short) rates.push(n * tokens / ((long - short) / 1000));
    }
    await ctx.dispose();
    if (rates.length === 0) throw new Error(`decode of ${n} sequences: no repetition took longer for more tokens`);
    return median(rates);
}

async function greedy(prompt) {
    const ctx = await newContext(1, prompt.length + plan.greedy.tokens + 8);
    const {tokens} = await generate(ctx.getSequence(), prompt, plan.greedy.tokens);
    await ctx.dispose();
    return tokens;
}

// greedyAll decodes each of plan.greedy.prompts (the agreement check).
async function greedyAll() {
    const out = [];
    for (const p of plan.greedy.prompts || []) out.push(await greedy(p));
    return out;
}

const out = {
    version: "node-llama-cpp " + (JSON.parse(await readFile(new URL("./node_modules/node-llama-cpp/package.json", import.meta.url), "utf8")).version),
    build: llama.gpu === false ? "cpu" : String(llama.gpu),
    threads: plan.threads,
    greedy: await greedy(plan.greedy.prompt),
    greedy_all: await greedyAll(),
    prefill_tok_s: await prefill(),
    decode_tok_s: {}
};
for (const n of plan.decode.batches) {
    out.decode_tok_s[n] = await decode(n);
}
await model.dispose();
await llama.dispose();
process.stdout.write(JSON.stringify(out) + "\n");
