//go:build cgo

package main

/*
#include <stdlib.h>
#include "envoy_abi.h"

static inline const void* graft_ptr(uintptr_t h) { return (const void*)h; }
static inline uintptr_t graft_handle(const void* p) { return (uintptr_t)p; }
*/
import "C"

import (
	"context"
	"log/slog"
	"runtime/cgo"
	"runtime/debug"
	"sync"
	"unsafe"

	"go.opentelemetry.io/otel/trace"

	"github.com/graft-ai/graft/gateway"
	"github.com/graft-ai/graft/xds"
)

type envoyFilter = C.envoy_dynamic_module_type_http_filter_envoy_ptr

// filter is one request's state. Its methods run on the Envoy worker thread
// that owns the request, except the goroutine of an async step, which
// touches only result (under mu) and the scheduler.
type filter struct {
	gw     *loaded
	ctx    context.Context // ends when Envoy is done with the request
	cancel context.CancelFunc
	call   *gateway.Call

	// needBody: the headers step asked for the whole body. bodyIn: it has
	// all arrived (body holds it). decided: the request went on or was
	// answered (answered: by the gateway itself); the module only watches
	// for the usage trailer after that.
	needBody, bodyIn, decided, answered bool
	body                                []byte
	pending                             bool // an async step is running

	mu        sync.Mutex
	sched     C.envoy_dynamic_module_type_http_filter_scheduler_module_ptr
	result    gateway.Verdict
	destroyed bool
}

// step names the step an async run did, as the scheduled event's id.
const (
	stepHeaders = 1
	stepBody    = 2
)

func handleOf(p C.envoy_dynamic_module_type_http_filter_module_ptr) cgo.Handle {
	return cgo.Handle(C.graft_handle(unsafe.Pointer(p)))
}

func filterOf(p C.envoy_dynamic_module_type_http_filter_module_ptr) *filter {
	return handleOf(p).Value().(*filter)
}

func configPtr(l *loaded) C.envoy_dynamic_module_type_http_filter_config_module_ptr {
	return C.envoy_dynamic_module_type_http_filter_config_module_ptr(C.graft_ptr(C.uintptr_t(cgo.NewHandle(l))))
}

func configHandle(p C.envoy_dynamic_module_type_http_filter_config_module_ptr) cgo.Handle {
	return cgo.Handle(C.graft_handle(unsafe.Pointer(p)))
}

func newFilter(gw *loaded) C.envoy_dynamic_module_type_http_filter_module_ptr {
	ctx, cancel := context.WithCancel(context.Background())
	f := &filter{gw: gw, ctx: ctx, cancel: cancel}
	return C.envoy_dynamic_module_type_http_filter_module_ptr(C.graft_ptr(C.uintptr_t(cgo.NewHandle(f))))
}

// guard keeps a panic in a request's decision (a bug) from taking Envoy,
// and every other request with it, down: the request gets a 500.
func (f *filter) guard(e envoyFilter, goOn *bool) {
	if r := recover(); r != nil {
		slog.Error("graft gateway module: a request's decision panicked", "panic", r, "stack", string(debug.Stack()))
		if !f.decided {
			f.decided, f.answered = true, true
			sendResponse(e, gateway.InternalError())
		}
		*goOn = false
	}
}

// onHeaders decides what the request's headers can; it returns whether
// the request goes on now.
func (f *filter) onHeaders(e envoyFilter, endOfStream bool) (goOn bool) {
	defer f.guard(e, &goOn)
	traceparent := header(e, "traceparent")
	f.call = f.gw.g.NewCall(envoySpan(e, f.gw.sampled(traceparent)), traceparent, header(e, "tracestate"))
	method, path, auth := header(e, ":method"), header(e, ":path"), header(e, "authorization")
	run := func(ctx context.Context, inline bool) gateway.Verdict {
		return f.call.Headers(ctx, method, path, auth, endOfStream, inline)
	}
	return f.decide(e, stepHeaders, run)
}

// onBody gathers the body; at its end, it decides on it when the headers
// asked for it. It returns whether the request goes on now.
func (f *filter) onBody(e envoyFilter, endOfStream bool) (goOn bool) {
	defer f.guard(e, &goOn)
	if f.decided {
		return !f.answered
	}
	if !endOfStream {
		return false
	}
	f.body, f.bodyIn = wholeBody(e), true
	if f.pending || !f.needBody {
		return false // the headers' async step decides, and takes it from here
	}
	return f.decideBody(e)
}

// onRequestTrailers ends a body that trailers follow: what Envoy buffered
// is all of it.
func (f *filter) onRequestTrailers(e envoyFilter) (goOn bool) {
	defer f.guard(e, &goOn)
	if f.decided {
		return !f.answered
	}
	f.body = chunks(e, C.envoy_dynamic_module_type_http_body_type_BufferedRequestBody, nil)
	f.bodyIn = true
	if f.pending || !f.needBody {
		return false
	}
	return f.decideBody(e)
}

func (f *filter) decideBody(e envoyFilter) bool {
	body := f.body
	run := func(ctx context.Context, inline bool) gateway.Verdict { return f.call.Body(ctx, body, inline) }
	return f.decide(e, stepBody, run)
}

// decide runs a step inline; when it would wait, it runs it again on a
// goroutine and the request stays stopped until onScheduled.
func (f *filter) decide(e envoyFilter, step uint64, run func(context.Context, bool) gateway.Verdict) bool {
	v := run(f.ctx, true)
	if !v.Blocked {
		return f.apply(e, step, v)
	}
	f.mu.Lock()
	if f.sched == nil {
		f.sched = C.envoy_dynamic_module_callback_http_filter_scheduler_new(e)
	}
	f.mu.Unlock()
	f.pending = true
	go func() {
		v := runGuarded(f.ctx, run)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.result = v
		if !f.destroyed {
			C.envoy_dynamic_module_callback_http_filter_scheduler_commit(f.sched, C.uint64_t(step))
		}
	}()
	return false
}

// runGuarded runs a step off Envoy's thread, where a panic would end the
// whole process: it becomes the request's 500.
func runGuarded(ctx context.Context, run func(context.Context, bool) gateway.Verdict) (v gateway.Verdict) {
	defer func() {
		if r := recover(); r != nil {
			slog.Error("graft gateway module: a request's decision panicked", "panic", r, "stack", string(debug.Stack()))
			v = gateway.InternalError()
		}
	}()
	return run(ctx, false)
}

// onScheduled takes an async step's verdict back on Envoy's thread.
func (f *filter) onScheduled(e envoyFilter, step uint64) {
	f.mu.Lock()
	v := f.result
	f.mu.Unlock()
	f.pending = false
	goOn := false
	defer f.guard(e, &goOn)
	if goOn = f.apply(e, step, v); goOn {
		C.envoy_dynamic_module_callback_http_filter_continue_decoding(e)
	}
}

// apply carries a verdict out; it returns whether the request goes on now.
func (f *filter) apply(e envoyFilter, step uint64, v gateway.Verdict) bool {
	switch {
	case v.Status != 0:
		f.decided, f.answered = true, true
		sendResponse(e, v)
		return false
	case v.NeedBody:
		f.needBody = true
		if step == stepHeaders && f.bodyIn {
			return f.decideBody(e) // the body came in while the headers' step ran
		}
		return false
	}
	for _, h := range v.Headers {
		setHeader(e, h[0], h[1])
	}
	for _, k := range v.Remove {
		removeHeader(e, k)
	}
	if v.ClearRoute {
		C.envoy_dynamic_module_callback_http_clear_route_cache(e)
	}
	f.decided = true
	return true
}

// onTrailers settles the request's tokens with the replica's usage, and
// keeps the usage trailer from the client.
func (f *filter) onTrailers(e envoyFilter) {
	used := headerOf(e, C.envoy_dynamic_module_type_http_header_type_ResponseTrailer, xds.TrailerUsage)
	if used == "" {
		return
	}
	if f.call != nil {
		f.call.Settle(used)
	}
	setHeaderOf(e, C.envoy_dynamic_module_type_http_header_type_ResponseTrailer, xds.TrailerUsage, nil)
}

// destroy ends the request: Envoy calls nothing of it after this, and an
// async step still running finds destroyed set and commits nothing.
func (f *filter) destroy(h cgo.Handle) {
	f.mu.Lock()
	f.destroyed = true
	if f.sched != nil {
		C.envoy_dynamic_module_callback_http_filter_scheduler_delete(f.sched)
		f.sched = nil
	}
	f.mu.Unlock()
	f.cancel()
	h.Delete()
}

// envoySpan is the request's span in Envoy's tracer, the parent of the
// gateway's spans; invalid when Envoy traces nothing. Envoy does not say
// whether it keeps the span: sampled is the module's best knowledge.
func envoySpan(e envoyFilter, sampled bool) trace.SpanContext {
	s := C.envoy_dynamic_module_callback_http_get_active_span(e)
	if s == nil {
		return trace.SpanContext{}
	}
	var b C.envoy_dynamic_module_type_envoy_buffer
	if !C.envoy_dynamic_module_callback_http_span_get_trace_id(s, &b) || b.ptr == nil {
		return trace.SpanContext{}
	}
	tid, err := trace.TraceIDFromHex(C.GoStringN(b.ptr, C.int(b.length)))
	if err != nil || !C.envoy_dynamic_module_callback_http_span_get_span_id(s, &b) || b.ptr == nil {
		return trace.SpanContext{}
	}
	sid, err := trace.SpanIDFromHex(C.GoStringN(b.ptr, C.int(b.length)))
	if err != nil {
		return trace.SpanContext{}
	}
	var flags trace.TraceFlags
	if sampled {
		flags = trace.FlagsSampled
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true})
}

func header(e envoyFilter, key string) string {
	return headerOf(e, C.envoy_dynamic_module_type_http_header_type_RequestHeader, key)
}

// headerOf copies the first value of key (Envoy's buffer lives only until
// the hook returns).
func headerOf(e envoyFilter, t C.envoy_dynamic_module_type_http_header_type, key string) string {
	var v C.envoy_dynamic_module_type_envoy_buffer
	if !C.envoy_dynamic_module_callback_http_get_header(e, t, moduleString(key), &v, 0, nil) || v.ptr == nil {
		return ""
	}
	return C.GoStringN(v.ptr, C.int(v.length))
}

func setHeader(e envoyFilter, key, value string) {
	setHeaderOf(e, C.envoy_dynamic_module_type_http_header_type_RequestHeader, key, &value)
}

func removeHeader(e envoyFilter, key string) {
	setHeaderOf(e, C.envoy_dynamic_module_type_http_header_type_RequestHeader, key, nil)
}

// setHeaderOf sets key to *value, or removes it when value is nil.
func setHeaderOf(e envoyFilter, t C.envoy_dynamic_module_type_http_header_type, key string, value *string) {
	v := C.envoy_dynamic_module_type_module_buffer{}
	if value != nil {
		v = moduleString(*value)
	}
	C.envoy_dynamic_module_callback_http_set_header(e, t, moduleString(key), v)
}

// moduleString and moduleBytes lend Go memory to Envoy for one call. Go's
// pointer rules allow it: the memory holds no Go pointers and Envoy keeps
// none after the call (send_response copies what it is given).
func moduleString(s string) C.envoy_dynamic_module_type_module_buffer {
	return C.envoy_dynamic_module_type_module_buffer{ptr: (*C.char)(unsafe.Pointer(unsafe.StringData(s))), length: C.size_t(len(s))}
}

func moduleBytes(b []byte) C.envoy_dynamic_module_type_module_buffer {
	return C.envoy_dynamic_module_type_module_buffer{ptr: (*C.char)(unsafe.Pointer(unsafe.SliceData(b))), length: C.size_t(len(b))}
}

// wholeBody copies the request body at its end: what earlier calls
// buffered, then this call's chunk, unless Envoy hands the buffer itself.
func wholeBody(e envoyFilter) []byte {
	if C.envoy_dynamic_module_callback_http_received_buffered_request_body(e) {
		return chunks(e, C.envoy_dynamic_module_type_http_body_type_ReceivedRequestBody, nil)
	}
	b := chunks(e, C.envoy_dynamic_module_type_http_body_type_BufferedRequestBody, nil)
	return chunks(e, C.envoy_dynamic_module_type_http_body_type_ReceivedRequestBody, b)
}

func chunks(e envoyFilter, t C.envoy_dynamic_module_type_http_body_type, out []byte) []byte {
	n := C.envoy_dynamic_module_callback_http_get_body_chunks_size(e, t)
	if n == 0 {
		return out
	}
	bufs := make([]C.envoy_dynamic_module_type_envoy_buffer, n)
	if !C.envoy_dynamic_module_callback_http_get_body_chunks(e, t, &bufs[0]) {
		return out
	}
	for _, b := range bufs {
		if b.length > 0 {
			out = append(out, unsafe.Slice((*byte)(unsafe.Pointer(b.ptr)), b.length)...)
		}
	}
	return out
}

// sendResponse answers the client with v (a refusal, or /v1/models).
func sendResponse(e envoyFilter, v gateway.Verdict) {
	hs := make([]C.envoy_dynamic_module_type_module_http_header, len(v.Headers))
	var pinned []unsafe.Pointer
	defer func() {
		for _, p := range pinned {
			C.free(p)
		}
	}()
	cstr := func(s string) *C.char {
		p := C.CString(s)
		pinned = append(pinned, unsafe.Pointer(p))
		return p
	}
	for i, h := range v.Headers {
		hs[i] = C.envoy_dynamic_module_type_module_http_header{key_ptr: cstr(h[0]), key_length: C.size_t(len(h[0])),
			value_ptr: cstr(h[1]), value_length: C.size_t(len(h[1]))}
	}
	var hp *C.envoy_dynamic_module_type_module_http_header
	if len(hs) > 0 {
		hp = &hs[0]
	}
	C.envoy_dynamic_module_callback_http_send_response(e, C.uint32_t(v.Status), hp, C.size_t(len(hs)), moduleBytes(v.Body), moduleString(v.Details))
}
