package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// apiError is an error in OpenAI's shape with its HTTP status.
type apiError struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *apiError) Error() string { return e.Message }

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func badRequest(param, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: fmt.Sprintf(format, args...), Param: strPtr(param)}
}

// modelNotFound is what OpenAI answers for a model that does not exist.
func modelNotFound(model string) *apiError {
	return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: strPtr("model_not_found"),
		Message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model)}
}

func engineUnavailable(err error) *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Type: "service_unavailable", Code: strPtr("engine_unavailable"),
		Message: "the inference engine is unavailable: " + err.Error()}
}

// tooLarge is OpenAI's answer to a body over the size limit.
func tooLarge(limit int64) *apiError {
	return &apiError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: strPtr("request_too_large"),
		Message: fmt.Sprintf("the request body is larger than the limit of %d bytes", limit)}
}

// tooManyValues refuses a body of more than maxJSONValues values, as a body
// too large: what it costs the pod to decode grows with their number.
func tooManyValues() *apiError {
	return &apiError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: strPtr("request_too_large"),
		Message: fmt.Sprintf("the request body holds more JSON values (array items and object members) than the limit of %d", maxJSONValues)}
}

// arrayTooLong is OpenAI's refusal of a list parameter over its length limit.
func arrayTooLong(param string, limit, n int) *apiError {
	e := badRequest(param, "Invalid '%s': array too long. Expected an array with maximum length %d, but got an array with length %d instead.", param, limit, n)
	e.Code = strPtr("array_above_max_length")
	return e
}

// queueFull is a 429: the engine's queue is at its bound (--max-queued), and a
// client that retries after a moment is served once the batch drains.
func queueFull(msg string) *apiError {
	return &apiError{Status: http.StatusTooManyRequests, Type: "requests", Code: strPtr("rate_limit_exceeded"),
		Message: "the server is busy, try again shortly: " + msg}
}

// fromRPC maps an engine call's error to the client's; names translates the
// engine's field names to the request's parameters (nil: no request fields).
func fromRPC(err error, names *paramNames) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return engineUnavailable(err)
	}
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.InvalidArgument, codes.OutOfRange:
		field := fieldViolation(st)
		p := names.param(field)
		return badRequest(p, "%s", renameField(st.Message(), field, p))
	case codes.NotFound:
		return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: strPtr("model_not_found"), Message: st.Message()}
	case codes.Unimplemented:
		return &apiError{Status: http.StatusNotImplemented, Type: "invalid_request_error", Message: st.Message()}
	case codes.ResourceExhausted:
		// gRPC reports a message over its size limit with the same code; that
		// request can never succeed, so retrying it is no answer.
		if strings.Contains(st.Message(), "larger than max") {
			return &apiError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: strPtr("request_too_large"), Message: st.Message()}
		}
		return queueFull(st.Message())
	case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded, codes.Aborted:
		return engineUnavailable(errors.New(st.Message()))
	}
	return &apiError{Status: http.StatusInternalServerError, Type: "internal_error", Message: st.Message()}
}

// violation is what st says is wrong with its field, without the engine's
// name for the field in front: the engine's "path" means nothing to a client.
func violation(st *status.Status) string {
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.FieldViolations) > 0 {
			return br.FieldViolations[0].Description
		}
	}
	return st.Message()
}

func fieldViolation(st *status.Status) string {
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.FieldViolations) > 0 {
			return br.FieldViolations[0].Field
		}
	}
	return ""
}

// retryAfter is what a 503 or 429 tells clients to wait: an engine restart on
// a small model takes seconds; a full queue drains within a second or so.
var retryAfter = map[int]string{http.StatusServiceUnavailable: "5", http.StatusTooManyRequests: "1"}

func writeError(w http.ResponseWriter, e *apiError) {
	if s, ok := retryAfter[e.Status]; ok {
		w.Header().Set("Retry-After", s)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(map[string]*apiError{"error": e})
}
