// Package fleet runs a small real platform on this machine (redis-server,
// pods, the front door) and measures what the front door costs: the time to first
// byte of the same request sent straight to a pod's sidecar and through
// Envoy and the gateway, at several request rates, in one run.
package fleet

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/graft-ai/graft/xds"
)

// Config says what to measure.
type Config struct {
	Model       string        // a GGUF or Hugging Face model the pod serves
	AdapterRoot string        // optional: adapters the pod may load
	Adapter     string        // optional: requests name this adapter
	Rates       []float64     // requests per second sent down each path
	Duration    time.Duration // per rate
	Listen      string        // the front's HTTPS address
	// HTTP2 sends the front's requests over HTTP/2; by default they use
	// HTTP/1.1 over TLS, as the official OpenAI SDKs do, and as the direct
	// path does in the clear.
	HTTP2 bool
	// Breakdown has Envoy log each request and prints where the front's
	// time went (xds.AccessLogEntry), per rate.
	Breakdown bool
	// EnvoyAlone adds a third path: a second Envoy, programmed alike but
	// with no gateway, so the front's cost splits into Envoy's and the
	// gateway's.
	EnvoyAlone bool
	// PodExe runs the pod as "graft serve" in its own process, as every
	// real client finds it; "" keeps it in this process, with the client,
	// which spares the direct path two process wake-ups no client gets.
	PodExe string
	// GatewayModule, when set, has Envoy load the gateway as this dynamic
	// module instead of calling it over ext_proc.
	GatewayModule string
	Out           io.Writer
}

// Row is one rate's result.
type Row struct {
	Rate                 float64
	N                    int
	Direct, Front, Added Quantiles
	Errors               int
	// EnvoyAlone is the time to first byte through an Envoy without the
	// gateway (Config.EnvoyAlone).
	EnvoyAlone *Quantiles
	// Steps splits the front's time, from Envoy's access log (Breakdown).
	Steps      *Steps
	start, end time.Time
}

// Quantiles of a time to first byte.
type Quantiles struct{ P50, P99 time.Duration }

// Run starts Redis, a pod, the front door, then loads both paths.
func Run(ctx context.Context, c Config) ([]Row, error) {
	env, err := start(ctx, c)
	if err != nil {
		return nil, err
	}
	defer env.stop()
	model := env.deployment
	if c.Adapter != "" {
		model += "/" + c.Adapter
	}
	body := fmt.Sprintf(`{"model":%q,"prompt":"Once upon a time","max_tokens":1,"stream":true}`, model)
	direct := &target{url: env.PodURLs[0] + "/v1/completions", client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	front := &target{url: env.URL + "/v1/completions", key: env.Key, client: frontClient(env.Client, c.HTTP2)}
	paths := []*target{direct, front}
	if env.bare != nil {
		paths = append(paths, &target{url: env.bare.url + "/v1/completions", client: frontClient(env.bare.client, c.HTTP2),
			headers: map[string]string{xds.HeaderDeployment: env.deployment}})
	}
	// Warm every path: connections, the adapter, Envoy's routes.
	for _, p := range paths {
		if err := p.warm(ctx, body); err != nil {
			return nil, err
		}
	}
	var rows []Row
	for _, rate := range c.Rates {
		start := time.Now()
		t, errs := load(ctx, paths, body, rate, c.Duration)
		row := Row{Rate: rate, N: len(t[0]), Direct: quantiles(t[0]), Front: quantiles(t[1]), Errors: errs, start: start, end: time.Now()}
		row.Added = Quantiles{P50: row.Front.P50 - row.Direct.P50, P99: row.Front.P99 - row.Direct.P99}
		if env.bare != nil {
			q := quantiles(t[2])
			row.EnvoyAlone = &q
		}
		rows = append(rows, row)
	}
	protocol := "HTTP/1.1"
	if c.HTTP2 {
		protocol = "HTTP/2"
	}
	if c.Out != nil {
		where := "in its own process"
		if c.PodExe == "" {
			where = "in the client's process"
		}
		gw := "an ext_proc service"
		if c.GatewayModule != "" {
			gw = "loaded into Envoy (" + c.GatewayModule + ")"
		}
		fmt.Fprintf(c.Out, "front requests over %s and TLS; direct requests over HTTP/1.1; the pod runs %s; the gateway is %s\n", protocol, where, gw)
	}
	print(c.Out, rows)
	if env.accessLog != "" {
		if err := breakdown(ctx, env.accessLog, rows); err != nil {
			return rows, err
		}
		printSteps(c.Out, rows)
	}
	return rows, nil
}

// frontClient is client (which trusts the front's CA) speaking HTTP/1.1
// unless http2.
func frontClient(client *http.Client, http2 bool) *http.Client {
	t, ok := client.Transport.(*http.Transport)
	if http2 || !ok {
		return client
	}
	t = t.Clone()
	t.ForceAttemptHTTP2 = false
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // non-nil: no h2
	if t.TLSClientConfig != nil {
		t.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	return &http.Client{Transport: t}
}

type target struct {
	url, key string
	headers  map[string]string
	client   *http.Client
}

// warm sends requests until one succeeds (a new route takes a moment to
// reach Envoy), then 20 more: connections, the adapter, caches.
func (t *target) warm(ctx context.Context, body string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := t.send(ctx, body)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fleet: %s does not answer: %w", t.url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for range 20 {
		t.send(ctx, body)
	}
	return nil
}

// send posts body and returns the time to the response's first byte.
func (t *target) send(ctx context.Context, body string) (time.Duration, error) {
	var first time.Time
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), "POST", t.url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("content-type", "application/json")
	if t.key != "" {
		req.Header.Set("authorization", "Bearer "+t.key)
	}
	for k, v := range t.headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	return first.Sub(start), nil
}

// load sends one request down each path per tick, open loop, for d, and
// returns each path's times to first byte. The paths' requests leave evenly
// spread over the tick: sent together, each would wait for the engine step
// of the others, and the differences would measure that collision rather
// than the front.
func load(ctx context.Context, paths []*target, body string, rate float64, d time.Duration) (times [][]time.Duration, errs int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	times = make([][]time.Duration, len(paths))
	record := func(i int) {
		defer wg.Done()
		v, err := paths[i].send(ctx, body)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if errs == 0 {
				slog.Warn("bench: request failed", "url", paths[i].url, "err", err)
			}
			errs++
			return
		}
		times[i] = append(times[i], v)
	}
	period := time.Duration(float64(time.Second) / rate)
	tick := time.NewTicker(period)
	defer tick.Stop()
	end := time.After(d)
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-end:
			wg.Wait()
			return
		case <-tick.C:
			wg.Add(len(paths))
			go record(0)
			for i := 1; i < len(paths); i++ {
				time.AfterFunc(period*time.Duration(i)/time.Duration(len(paths)), func() { record(i) })
			}
		}
	}
}

func quantiles(v []time.Duration) Quantiles {
	if len(v) == 0 {
		return Quantiles{}
	}
	slices.Sort(v)
	at := func(q float64) time.Duration { return v[min(int(q*float64(len(v))), len(v)-1)] }
	return Quantiles{P50: at(0.5), P99: at(0.99)}
}

func print(w io.Writer, rows []Row) {
	if w == nil {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	head := "req/s\trequests\tdirect p50\tdirect p99\tfront p50\tfront p99\tadded p50\tadded p99\terrors\t"
	if rows[0].EnvoyAlone != nil {
		head += "envoy alone p50\tenvoy alone p99\tgateway p50\t"
	}
	fmt.Fprintln(tw, head)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
	for _, r := range rows {
		fmt.Fprintf(tw, "%.0f\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t", r.Rate, r.N, ms(r.Direct.P50), ms(r.Direct.P99),
			ms(r.Front.P50), ms(r.Front.P99), ms(r.Added.P50), ms(r.Added.P99), r.Errors)
		if e := r.EnvoyAlone; e != nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t", ms(e.P50), ms(e.P99), ms(r.Front.P50-e.P50))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if rows[0].EnvoyAlone != nil {
		fmt.Fprintln(w, "envoy alone: the same Envoy setup with no gateway (the client names the deployment); gateway: front minus envoy alone")
	}
}
