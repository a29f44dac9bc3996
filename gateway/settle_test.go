package gateway_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/graft-ai/graft/gateway"
)

// TestFrontSettlesTokensWithUsage: a key allowed 600 tokens a minute sends
// requests that reserve over 400 each (max_tokens) but stop at the first
// period. Each is settled with the usage the replica reports in its
// trailer, so all fit; charged their reservations, the second would get 429.
func TestFrontSettlesTokensWithUsage(t *testing.T) {
	p := startPlatform(t, platformOpts{replicas: 1})
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
}
