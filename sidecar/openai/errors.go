package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

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

// fromRPC maps an engine call's error to the client's; rename translates the
// engine's parameter names to the endpoint's (e.g. prompt -> messages for chat).
func fromRPC(err error, rename map[string]string) *apiError {
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
		p := fieldViolation(st)
		if r, ok := rename[p]; ok {
			p = r
		}
		return badRequest(p, "%s", st.Message())
	case codes.NotFound:
		return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: strPtr("model_not_found"), Message: st.Message()}
	case codes.Unimplemented:
		return &apiError{Status: http.StatusNotImplemented, Type: "invalid_request_error", Message: st.Message()}
	case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return engineUnavailable(errors.New(st.Message()))
	}
	return &apiError{Status: http.StatusInternalServerError, Type: "internal_error", Message: st.Message()}
}

func fieldViolation(st *status.Status) string {
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.FieldViolations) > 0 {
			return br.FieldViolations[0].Field
		}
	}
	return ""
}

// retryAfterSeconds is what a 503 tells clients to wait: an engine restart on a
// small model takes seconds.
const retryAfterSeconds = "5"

func writeError(w http.ResponseWriter, e *apiError) {
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(map[string]*apiError{"error": e})
}
