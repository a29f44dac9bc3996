//go:build cgo

package main

/*
#include "envoy_abi.h"
*/
import "C"

import (
	"log/slog"
	"unsafe"
)

// The hooks Envoy calls, by name. Envoy requires every one of them from an
// HTTP filter module, the callout, stream and watermark hooks included,
// though the gateway makes no callouts.

var abiVersion = C.CString(C.GRAFT_ENVOY_ABI_VERSION)

//export envoy_dynamic_module_on_program_init
func envoy_dynamic_module_on_program_init() *C.char { return abiVersion }

//export envoy_dynamic_module_on_http_filter_config_new
func envoy_dynamic_module_on_http_filter_config_new(_ C.envoy_dynamic_module_type_http_filter_config_envoy_ptr,
	name, config C.envoy_dynamic_module_type_envoy_buffer) C.envoy_dynamic_module_type_http_filter_config_module_ptr {
	l, err := acquire(C.GoBytes(unsafe.Pointer(config.ptr), C.int(config.length)))
	if err != nil {
		// Envoy refuses the configuration (NACK) when this returns nil.
		slog.Error("graft gateway module: configuration refused", "filter", C.GoStringN(name.ptr, C.int(name.length)), "err", err)
		return nil
	}
	return configPtr(l)
}

//export envoy_dynamic_module_on_http_filter_config_destroy
func envoy_dynamic_module_on_http_filter_config_destroy(p C.envoy_dynamic_module_type_http_filter_config_module_ptr) {
	h := configHandle(p)
	h.Value().(*loaded).release()
	h.Delete()
}

//export envoy_dynamic_module_on_http_filter_new
func envoy_dynamic_module_on_http_filter_new(cfg C.envoy_dynamic_module_type_http_filter_config_module_ptr,
	_ C.envoy_dynamic_module_type_http_filter_envoy_ptr) C.envoy_dynamic_module_type_http_filter_module_ptr {
	return newFilter(configHandle(cfg).Value().(*loaded))
}

//export envoy_dynamic_module_on_http_filter_request_headers
func envoy_dynamic_module_on_http_filter_request_headers(e C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	p C.envoy_dynamic_module_type_http_filter_module_ptr, endOfStream C.bool) C.envoy_dynamic_module_type_on_http_filter_request_headers_status {
	if filterOf(p).onHeaders(e, bool(endOfStream)) {
		return C.envoy_dynamic_module_type_on_http_filter_request_headers_status_Continue
	}
	return C.envoy_dynamic_module_type_on_http_filter_request_headers_status_StopIteration
}

//export envoy_dynamic_module_on_http_filter_request_body
func envoy_dynamic_module_on_http_filter_request_body(e C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	p C.envoy_dynamic_module_type_http_filter_module_ptr, endOfStream C.bool) C.envoy_dynamic_module_type_on_http_filter_request_body_status {
	f := filterOf(p)
	switch {
	case f.onBody(e, bool(endOfStream)):
		return C.envoy_dynamic_module_type_on_http_filter_request_body_status_Continue
	case f.answered: // nothing of the body is wanted
		return C.envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationNoBuffer
	}
	return C.envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationAndBuffer
}

//export envoy_dynamic_module_on_http_filter_request_trailers
func envoy_dynamic_module_on_http_filter_request_trailers(e C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	p C.envoy_dynamic_module_type_http_filter_module_ptr) C.envoy_dynamic_module_type_on_http_filter_request_trailers_status {
	if filterOf(p).onRequestTrailers(e) {
		return C.envoy_dynamic_module_type_on_http_filter_request_trailers_status_Continue
	}
	return C.envoy_dynamic_module_type_on_http_filter_request_trailers_status_StopIteration
}

//export envoy_dynamic_module_on_http_filter_response_headers
func envoy_dynamic_module_on_http_filter_response_headers(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr, C.bool) C.envoy_dynamic_module_type_on_http_filter_response_headers_status {
	return C.envoy_dynamic_module_type_on_http_filter_response_headers_status_Continue
}

//export envoy_dynamic_module_on_http_filter_response_body
func envoy_dynamic_module_on_http_filter_response_body(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr, C.bool) C.envoy_dynamic_module_type_on_http_filter_response_body_status {
	return C.envoy_dynamic_module_type_on_http_filter_response_body_status_Continue
}

//export envoy_dynamic_module_on_http_filter_response_trailers
func envoy_dynamic_module_on_http_filter_response_trailers(e C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	p C.envoy_dynamic_module_type_http_filter_module_ptr) C.envoy_dynamic_module_type_on_http_filter_response_trailers_status {
	filterOf(p).onTrailers(e)
	return C.envoy_dynamic_module_type_on_http_filter_response_trailers_status_Continue
}

//export envoy_dynamic_module_on_http_filter_scheduled
func envoy_dynamic_module_on_http_filter_scheduled(e C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	p C.envoy_dynamic_module_type_http_filter_module_ptr, step C.uint64_t) {
	filterOf(p).onScheduled(e, uint64(step))
}

//export envoy_dynamic_module_on_http_filter_stream_complete
func envoy_dynamic_module_on_http_filter_stream_complete(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr) {
}

//export envoy_dynamic_module_on_http_filter_destroy
func envoy_dynamic_module_on_http_filter_destroy(p C.envoy_dynamic_module_type_http_filter_module_ptr) {
	filterOf(p).destroy(handleOf(p))
}

//export envoy_dynamic_module_on_http_filter_http_callout_done
func envoy_dynamic_module_on_http_filter_http_callout_done(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr, C.uint64_t, C.envoy_dynamic_module_type_http_callout_result,
	*C.envoy_dynamic_module_type_envoy_http_header, C.size_t, *C.envoy_dynamic_module_type_envoy_buffer, C.size_t) {
}

//export envoy_dynamic_module_on_http_filter_http_stream_headers
func envoy_dynamic_module_on_http_filter_http_stream_headers(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr, C.uint64_t, *C.envoy_dynamic_module_type_envoy_http_header, C.size_t, C.bool) {
}

//export envoy_dynamic_module_on_http_filter_http_stream_data
func envoy_dynamic_module_on_http_filter_http_stream_data(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr, C.uint64_t, *C.envoy_dynamic_module_type_envoy_buffer, C.size_t, C.bool) {
}

//export envoy_dynamic_module_on_http_filter_http_stream_trailers
func envoy_dynamic_module_on_http_filter_http_stream_trailers(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr, C.uint64_t, *C.envoy_dynamic_module_type_envoy_http_header, C.size_t) {
}

//export envoy_dynamic_module_on_http_filter_http_stream_complete
func envoy_dynamic_module_on_http_filter_http_stream_complete(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr, C.uint64_t) {
}

//export envoy_dynamic_module_on_http_filter_http_stream_reset
func envoy_dynamic_module_on_http_filter_http_stream_reset(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr, C.uint64_t, C.envoy_dynamic_module_type_http_stream_reset_reason) {
}

//export envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark
func envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr) {
}

//export envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark
func envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(C.envoy_dynamic_module_type_http_filter_envoy_ptr,
	C.envoy_dynamic_module_type_http_filter_module_ptr) {
}
