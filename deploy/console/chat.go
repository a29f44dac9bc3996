package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/graft-ai/graft/deploy/state"
)

// maxChatBody bounds what the playground may send on.
const maxChatBody = 1 << 20

// chat is the playground's request: sent on to the front door with the
// admin key (or, before there is one, to a ready replica of the deployment)
// and its answer, an SSE stream when asked, streamed back as it comes. The
// request gets a sampled traceparent of its own, whose trace id the answer
// names (X-Graft-Trace-Id) so the page links to the request's trace.
func (c *Console) chat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxChatBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "request_too_large", "the playground sends at most 1 MiB")
		return
	}
	var req struct {
		Model string `json:"model"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Model == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "send a chat request as JSON with a model (deployment or deployment/adapter)")
		return
	}
	url, client, err := c.chatTarget(r.Context(), req.Model)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "no_endpoint", err.Error())
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), "POST", url+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "bad_target", err.Error())
		return
	}
	traceID, span := randomHex(16), randomHex(8)
	out.Header.Set("Content-Type", "application/json")
	out.Header.Set("Authorization", "Bearer "+requestKey(r.Context()))
	out.Header.Set("traceparent", "00-"+traceID+"-"+span+"-01")
	resp, err := client.Do(out)
	if err != nil {
		writeError(w, http.StatusBadGateway, "upstream_unreachable", "sending the request to "+url+": "+err.Error())
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Retry-After", "X-Request-Id"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.Header().Set("X-Graft-Trace-Id", traceID)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	relay(w, resp.Body)
}

// relay copies an SSE stream, flushing each read so tokens show as they come.
func relay(w http.ResponseWriter, body io.Reader) {
	fl := http.NewResponseController(w)
	buf := make([]byte, 16<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = fl.Flush()
		}
		if err != nil {
			return
		}
	}
}

// chatTarget is the front door once it is known, else a ready replica.
func (c *Console) chatTarget(ctx context.Context, model string) (string, *http.Client, error) {
	if f := c.front.Load(); f != nil {
		return f.url, f.client, nil
	}
	name, _, _ := strings.Cut(model, "/")
	replicas, err := c.cfg.Store.Replicas(ctx, name)
	if err != nil {
		return "", nil, err
	}
	for _, rp := range replicas {
		if rp.State == state.StateReady && rp.Addr != "" {
			return "http://" + rp.Addr, &http.Client{}, nil
		}
	}
	return "", nil, &noReplica{name}
}

type noReplica struct{ deployment string }

func (e *noReplica) Error() string {
	return "no front door is configured and deployment " + e.deployment + " has no ready replica to ask"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
