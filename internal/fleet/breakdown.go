package fleet

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/graft-ai/graft/xds"
)

// Steps are quantiles of the parts of the front's requests that Envoy
// timed (see xds.AccessLogEntry).
type Steps struct {
	N                                   int
	Request, Route, Upstream, FirstByte Quantiles
	// Gateway is the ext_proc exchange (headers sent to route answered),
	// part of Route.
	Gateway Quantiles
}

// breakdown reads Envoy's access log into each row's Steps, counting the
// completions that started within the row's time window.
func breakdown(ctx context.Context, path string, rows []Row) error {
	want := 0
	for _, r := range rows {
		want += r.N - r.Errors
	}
	entries, err := readAccessLog(ctx, path, rows[0].start, want)
	if err != nil {
		return err
	}
	for i := range rows {
		var req, route, up, fb, gw []time.Duration
		for _, e := range entries {
			at, err := e.StartTime()
			if err != nil || at.Before(rows[i].start) || !at.Before(rows[i].end) || e.Status != 200 || e.FirstByteUS < 0 {
				continue
			}
			us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
			req, route, up, fb = append(req, us(e.RequestUS)), append(route, us(e.RouteUS)), append(up, us(e.UpstreamUS)), append(fb, us(e.FirstByteUS))
			if e.GatewayUS >= 0 {
				gw = append(gw, us(e.GatewayUS))
			}
		}
		rows[i].Steps = &Steps{N: len(fb), Request: quantiles(req), Route: quantiles(route), Upstream: quantiles(up), FirstByte: quantiles(fb), Gateway: quantiles(gw)}
	}
	return nil
}

// readAccessLog returns the completions logged since start, waiting (Envoy
// flushes its log about once a second) until want of them are there or
// five seconds pass.
func readAccessLog(ctx context.Context, path string, start time.Time, want int) ([]xds.AccessLogEntry, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		var entries []xds.AccessLogEntry
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			e, err := xds.ParseAccessLogEntry(sc.Bytes())
			if err != nil {
				return nil, err
			}
			if at, err := e.StartTime(); err == nil && !at.Before(start) && e.Path == "/v1/completions" {
				entries = append(entries, e)
			}
		}
		if len(entries) >= want || time.Now().After(deadline) {
			return entries, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func printSteps(w io.Writer, rows []Row) {
	if w == nil {
		return
	}
	fmt.Fprintln(w, "\nwhere the front's time went, as Envoy timed it (p50 / p99):")
	fmt.Fprintln(w, "  request: the client's first to last request byte; route: then to the first byte sent to the replica")
	fmt.Fprintln(w, "  (the gateway's answer, routing, a connection); upstream: the replica's time to first byte; first byte: all of it;")
	fmt.Fprintln(w, "  gateway: Envoy's ext_proc exchange, request headers sent to their answer (it starts within request)")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "req/s\tlogged\trequest\troute\tupstream\tfirst byte\tgateway\t")
	ms := func(q Quantiles) string { return fmt.Sprintf("%.2f / %.2f ms", float64(q.P50)/1e6, float64(q.P99)/1e6) }
	for _, r := range rows {
		s := r.Steps
		if s == nil {
			continue
		}
		fmt.Fprintf(tw, "%.0f\t%d\t%s\t%s\t%s\t%s\t%s\t\n", r.Rate, s.N, ms(s.Request), ms(s.Route), ms(s.Upstream), ms(s.FirstByte), ms(s.Gateway))
	}
	tw.Flush()
}
