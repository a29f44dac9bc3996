// The part of Envoy's dynamic-module ABI (version v0.2.0, Envoy 1.40) that
// the gateway module uses: the types and callbacks it calls, and the hooks
// Envoy requires an HTTP filter module to export. Envoy resolves every hook
// by name and calls it with C's calling convention, so each declaration
// below must keep the ABI's exact types and enumerator order.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GRAFT_ENVOY_ABI_VERSION "v0.2.0"

typedef struct {
  const char* ptr;  // owned by Envoy; valid until the hook returns
  size_t length;
} envoy_dynamic_module_type_envoy_buffer;

typedef struct {
  const char* ptr;  // owned by the module; read during the call only
  size_t length;
} envoy_dynamic_module_type_module_buffer;

typedef struct {
  const char* key_ptr;
  size_t key_length;
  const char* value_ptr;
  size_t value_length;
} envoy_dynamic_module_type_module_http_header;

typedef struct {
  const char* key_ptr;
  size_t key_length;
  const char* value_ptr;
  size_t value_length;
} envoy_dynamic_module_type_envoy_http_header;

typedef enum {
  envoy_dynamic_module_type_http_header_type_RequestHeader,
  envoy_dynamic_module_type_http_header_type_RequestTrailer,
  envoy_dynamic_module_type_http_header_type_ResponseHeader,
  envoy_dynamic_module_type_http_header_type_ResponseTrailer,
} envoy_dynamic_module_type_http_header_type;

typedef enum {
  envoy_dynamic_module_type_http_body_type_ReceivedRequestBody,
  envoy_dynamic_module_type_http_body_type_BufferedRequestBody,
  envoy_dynamic_module_type_http_body_type_ReceivedResponseBody,
  envoy_dynamic_module_type_http_body_type_BufferedResponseBody,
} envoy_dynamic_module_type_http_body_type;

typedef enum {
  envoy_dynamic_module_type_http_callout_result_Success,
  envoy_dynamic_module_type_http_callout_result_Reset,
  envoy_dynamic_module_type_http_callout_result_ExceedResponseBufferLimit,
} envoy_dynamic_module_type_http_callout_result;

typedef enum {
  envoy_dynamic_module_type_http_stream_reset_reason_ConnectionFailure,
  envoy_dynamic_module_type_http_stream_reset_reason_ConnectionTermination,
  envoy_dynamic_module_type_http_stream_reset_reason_LocalReset,
  envoy_dynamic_module_type_http_stream_reset_reason_LocalRefusedStreamReset,
  envoy_dynamic_module_type_http_stream_reset_reason_Overflow,
  envoy_dynamic_module_type_http_stream_reset_reason_RemoteReset,
  envoy_dynamic_module_type_http_stream_reset_reason_RemoteRefusedStreamReset,
  envoy_dynamic_module_type_http_stream_reset_reason_ProtocolError,
} envoy_dynamic_module_type_http_stream_reset_reason;

// Envoy casts these to its FilterHeadersStatus / FilterDataStatus /
// FilterTrailersStatus, so only the order matters; the module uses the
// first few of each.
typedef enum {
  envoy_dynamic_module_type_on_http_filter_request_headers_status_Continue,
  envoy_dynamic_module_type_on_http_filter_request_headers_status_StopIteration,
} envoy_dynamic_module_type_on_http_filter_request_headers_status;

typedef enum {
  envoy_dynamic_module_type_on_http_filter_request_body_status_Continue,
  envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationAndBuffer,
  envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationAndWatermark,
  envoy_dynamic_module_type_on_http_filter_request_body_status_StopIterationNoBuffer,
} envoy_dynamic_module_type_on_http_filter_request_body_status;

typedef enum {
  envoy_dynamic_module_type_on_http_filter_request_trailers_status_Continue,
  envoy_dynamic_module_type_on_http_filter_request_trailers_status_StopIteration,
} envoy_dynamic_module_type_on_http_filter_request_trailers_status;

typedef enum {
  envoy_dynamic_module_type_on_http_filter_response_headers_status_Continue,
} envoy_dynamic_module_type_on_http_filter_response_headers_status;

typedef enum {
  envoy_dynamic_module_type_on_http_filter_response_body_status_Continue,
} envoy_dynamic_module_type_on_http_filter_response_body_status;

typedef enum {
  envoy_dynamic_module_type_on_http_filter_response_trailers_status_Continue,
} envoy_dynamic_module_type_on_http_filter_response_trailers_status;

typedef void* envoy_dynamic_module_type_http_filter_config_envoy_ptr;
typedef const void* envoy_dynamic_module_type_http_filter_config_module_ptr;
typedef void* envoy_dynamic_module_type_http_filter_envoy_ptr;
typedef const void* envoy_dynamic_module_type_http_filter_module_ptr;
typedef void* envoy_dynamic_module_type_http_filter_scheduler_module_ptr;

// Callbacks Envoy exports. Weak, so that the package also links as a
// program (go build ./...): the module binds them to Envoy's at load time.
#define GRAFT_ENVOY_CALLBACK __attribute__((weak))
GRAFT_ENVOY_CALLBACK bool envoy_dynamic_module_callback_http_get_header(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_http_header_type header_type,
    envoy_dynamic_module_type_module_buffer key,
    envoy_dynamic_module_type_envoy_buffer* result, size_t index, size_t* optional_size);
// A NULL value removes the header.
GRAFT_ENVOY_CALLBACK bool envoy_dynamic_module_callback_http_set_header(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_http_header_type header_type,
    envoy_dynamic_module_type_module_buffer key, envoy_dynamic_module_type_module_buffer value);
GRAFT_ENVOY_CALLBACK void envoy_dynamic_module_callback_http_send_response(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter, uint32_t status_code,
    envoy_dynamic_module_type_module_http_header* headers, size_t headers_size,
    envoy_dynamic_module_type_module_buffer body, envoy_dynamic_module_type_module_buffer details);
GRAFT_ENVOY_CALLBACK size_t envoy_dynamic_module_callback_http_get_body_chunks_size(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_http_body_type body_type);
GRAFT_ENVOY_CALLBACK bool envoy_dynamic_module_callback_http_get_body_chunks(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter,
    envoy_dynamic_module_type_http_body_type body_type,
    envoy_dynamic_module_type_envoy_buffer* chunks);
GRAFT_ENVOY_CALLBACK bool envoy_dynamic_module_callback_http_received_buffered_request_body(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter);
GRAFT_ENVOY_CALLBACK envoy_dynamic_module_type_http_filter_scheduler_module_ptr
envoy_dynamic_module_callback_http_filter_scheduler_new(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter);
GRAFT_ENVOY_CALLBACK void envoy_dynamic_module_callback_http_filter_scheduler_commit(
    envoy_dynamic_module_type_http_filter_scheduler_module_ptr scheduler, uint64_t event_id);
GRAFT_ENVOY_CALLBACK void envoy_dynamic_module_callback_http_filter_scheduler_delete(
    envoy_dynamic_module_type_http_filter_scheduler_module_ptr scheduler);
GRAFT_ENVOY_CALLBACK void envoy_dynamic_module_callback_http_filter_continue_decoding(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter);
// The request's span in Envoy's tracer; NULL when Envoy traces nothing. Its
// ids are hex strings in storage the next call may reuse.
GRAFT_ENVOY_CALLBACK void* envoy_dynamic_module_callback_http_get_active_span(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter);
GRAFT_ENVOY_CALLBACK bool envoy_dynamic_module_callback_http_span_get_trace_id(
    void* span, envoy_dynamic_module_type_envoy_buffer* result);
GRAFT_ENVOY_CALLBACK bool envoy_dynamic_module_callback_http_span_get_span_id(
    void* span, envoy_dynamic_module_type_envoy_buffer* result);
GRAFT_ENVOY_CALLBACK void envoy_dynamic_module_callback_http_clear_route_cache(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter);
