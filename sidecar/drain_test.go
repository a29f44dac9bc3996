package sidecar_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/sidecar"
)

// TestDrainKeepsServingThenCloses: a stopping replica first says it is not
// ready while it still answers, each answer closing its connection, so a
// router that has not seen the drain yet gets served instead of meeting a
// closed socket; after the grace it stops accepting.
func TestDrainKeepsServingThenCloses(t *testing.T) {
	p := startPod(t, sidecar.Config{DrainGrace: 2 * time.Second})
	client := &http.Client{Timeout: 10 * time.Second}
	complete := func() (*http.Response, error) {
		resp, err := client.Post(p.url+"/v1/completions", "application/json",
			strings.NewReader(`{"model":"stories260K","prompt":"Once upon a time","max_tokens":2}`))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	if resp, err := complete(); err != nil || resp.StatusCode != 200 || resp.Close {
		t.Fatalf("before the drain: %v %+v", err, resp)
	}
	stopped := make(chan struct{})
	go func() { p.stop(); close(stopped) }()

	deadline := time.Now().Add(time.Second)
	for {
		resp, err := client.Get(p.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 503 && strings.Contains(string(body), "draining") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d %s", resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := complete()
	if err != nil || resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("during the grace: %v %+v", err, resp)
	}
	select {
	case <-stopped:
		t.Fatal("the sidecar stopped before its grace ended")
	default:
	}
	<-stopped
	if _, err := complete(); err == nil {
		t.Fatal("a stopped sidecar answered")
	}
}
