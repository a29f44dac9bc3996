package gateway_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/gateway"
	"github.com/graft-ai/graft/xds"
)

// TestFrontSettlesTokensWithUsage: a key allowed 600 tokens a minute sends
// requests that reserve over 400 each (max_tokens) but stop at the first
// period. Each is settled with the usage the replica reports in its
// trailer, so all fit; charged their reservations, the second would get 429.
// The requests carry x-graft-no-settle, which the gateway overrides.
func TestFrontSettlesTokensWithUsage(t *testing.T) {
	for _, mode := range frontModes {
		t.Run(mode.name, func(t *testing.T) {
			p := startPlatform(t, platformOpts{replicas: 1, module: mode.module})
			key, rec := gateway.NewAPIKey("acme", "tpm", false)
			rec.TPM = 600
			if err := p.store.PutAPIKey(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			for i, stream := range []bool{false, true, false, true, false} {
				body := `{"model":"stories","prompt":"Once upon a time","max_tokens":400,"stop":["."]`
				if stream {
					body += `,"stream":true`
				}
				req, _ := http.NewRequest("POST", p.url+"/v1/completions", strings.NewReader(body+"}"))
				req.Header.Set("authorization", "Bearer "+key)
				req.Header.Set("content-type", "application/json")
				// A client may not spare its key the settlement.
				req.Header.Set(xds.HeaderNoSettle, "1")
				resp, err := p.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var out strings.Builder
				if stream {
					sc := bufio.NewScanner(resp.Body)
					for sc.Scan() {
						out.WriteString(sc.Text() + "\n")
					}
				} else {
					io.Copy(&out, resp.Body)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("request %d (stream %v): %d %s", i, stream, resp.StatusCode, out.String())
				}
				if v := resp.Trailer.Get("x-graft-usage-tokens"); v != "" {
					t.Errorf("request %d: the usage trailer reached the client (%q)", i, v)
				}
			}
		})
	}
}

// TestFrontCallsUsageOnlyToSettle: a key without a token limit has nothing
// to settle, so its requests cost Envoy one ext_proc stream each (the
// gateway's), not two; a limited key's requests also get the usage call.
func TestFrontCallsUsageOnlyToSettle(t *testing.T) {
	p := startPlatform(t, platformOpts{replicas: 1})
	if p.module {
		t.Skip("the gateway module reads the usage trailer itself: there is no usage call to count")
	}
	limited, rec := gateway.NewAPIKey("acme", "tpm", false)
	rec.TPM = 100_000
	if err := p.store.PutAPIKey(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	streams := func() int64 {
		n, err := p.front.Envoy.Counter(ctx, "http.graft.ext_proc.streams_started")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	send := func(key string) {
		body := `{"model":"stories","prompt":"Once upon a time","max_tokens":2}`
		req, _ := http.NewRequest("POST", p.url+"/v1/completions", strings.NewReader(body))
		req.Header.Set("authorization", "Bearer "+key)
		req.Header.Set("content-type", "application/json")
		resp, err := p.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	}
	// Envoy counts a usage stream as the response's trailers pass, which
	// may trail the client's read of the body by a moment.
	settle := func(want int64) int64 {
		deadline := time.Now().Add(5 * time.Second)
		for streams() < want && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // and no more than that
		return streams()
	}
	before := streams()
	for range 3 {
		send(p.key)
	}
	if got := settle(before+3) - before; got != 3 {
		t.Fatalf("3 requests of an unlimited key opened %d ext_proc streams, want 3", got)
	}
	before = streams()
	for range 2 {
		send(limited)
	}
	if got := settle(before+4) - before; got != 4 {
		t.Fatalf("2 requests of a limited key opened %d ext_proc streams, want 4", got)
	}
}
