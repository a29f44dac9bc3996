package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Jaeger's query API, as much of it as the console reads (/api/services,
// /api/traces, /api/traces/{id}); times are microseconds.
type jaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []jaegerSpan             `json:"spans"`
	Processes map[string]jaegerProcess `json:"processes"`
}

type jaegerSpan struct {
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	StartTime int64       `json:"startTime"`
	Duration  int64       `json:"duration"`
	Tags      []jaegerTag `json:"tags"`
	ProcessID string      `json:"processID"`
}

type jaegerTag struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

type jaegerProcess struct {
	ServiceName string `json:"serviceName"`
}

// parent is the span's parent in this trace ("" for a root).
func (s jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

func (s jaegerSpan) tag(k string) string {
	for _, t := range s.Tags {
		if t.Key == k {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

// jaegerError is Jaeger unreachable or answering an error, for the page.
type jaegerError struct {
	status int
	msg    string
}

func (e *jaegerError) Error() string { return e.msg }

// jaegerGet reads path (with query) from Jaeger into out.
func (c *Console) jaegerGet(ctx context.Context, path string, q url.Values, out any) error {
	u := c.cfg.JaegerURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return &jaegerError{http.StatusBadGateway, "Jaeger's query API at " + c.cfg.JaegerURL + " did not answer: " + err.Error()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return &jaegerError{http.StatusBadGateway, "reading Jaeger's answer: " + err.Error()}
	}
	if resp.StatusCode == http.StatusNotFound {
		return &jaegerError{http.StatusNotFound, "Jaeger has no such trace (it keeps recent traces in memory only)"}
	}
	if resp.StatusCode != http.StatusOK {
		return &jaegerError{http.StatusBadGateway, fmt.Sprintf("Jaeger answered %s: %.300s", resp.Status, body)}
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return &jaegerError{http.StatusBadGateway, "Jaeger's answer is not its API's JSON: " + err.Error()}
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return &jaegerError{http.StatusBadGateway, "Jaeger's answer is not its API's JSON: " + err.Error()}
	}
	return nil
}
