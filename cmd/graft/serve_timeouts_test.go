package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The helpers below check the sidecar's HTTP timeouts on a running pod; see
// TestHardening5SlowClients.

// slowBody sends a request whose body trickles in a byte every 100ms; the
// server must end the request long before the body is complete.
func slowBody(t *testing.T, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const size = 600 // a minute of trickling
	fmt.Fprintf(c, "POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, size)
	answered := make(chan string, 1)
	go func() {
		out, _ := io.ReadAll(c) // until the server closes the connection
		answered <- string(out)
	}()
	for sent := 0; sent < size; sent++ {
		select {
		case out := <-answered:
			if strings.HasPrefix(out, "HTTP/1.1 200") {
				t.Fatalf("slow body answered 200: %s", out)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if _, err := c.Write([]byte(" ")); err != nil {
			return // the server closed the connection
		}
	}
	t.Fatal("the server read a body trickled in over a minute")
}

// idleKeepAlive makes one request on a keep-alive connection and then waits
// for the server to close it.
func idleKeepAlive(t *testing.T, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("healthz: %d, close %v: want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	if n, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v %v, want the server to close it", n, err)
	}
}

// longStreams runs streams that queue behind each other on one batch slot, so
// the last ones last several times the read and idle timeouts, and requires
// each to finish with all its tokens.
func longStreams(t *testing.T, addr string) {
	const streams, tokens = 10, 500
	body := fmt.Sprintf(`{"model": "stories260K", "prompt": "Once", "max_tokens": %d, "ignore_eos": true, "stream": true}`, tokens)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var longest time.Duration
	for range streams {
		wg.Go(func() {
			start := time.Now()
			resp, err := http.Post("http://"+addr+"/v1/completions", "application/json", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			out, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			chunks := strings.Count(string(out), `"text":`)
			if err != nil || resp.StatusCode != 200 || chunks < tokens/2 || !strings.HasSuffix(strings.TrimSpace(string(out)), "data: [DONE]") ||
				!strings.Contains(string(out), `"finish_reason":"length"`) {
				t.Errorf("stream: %d, %d chunks, %v, ends %q", resp.StatusCode, chunks, err, lastLines(string(out), 2))
			}
			mu.Lock()
			longest = max(longest, time.Since(start))
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("the longest stream took %v against 1s read and idle timeouts", longest)
}
