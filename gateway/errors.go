package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// apiError is an answer the gateway gives itself, in OpenAI's error shape so
// the SDKs raise their usual exceptions.
type apiError struct {
	status     int
	typ, code  string
	param      string
	message    string
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.message }

func (e *apiError) body() []byte {
	type detail struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    string  `json:"code"`
	}
	d := detail{Message: e.message, Type: e.typ, Code: e.code}
	if e.param != "" {
		d.Param = &e.param
	}
	b, _ := json.Marshal(struct {
		Error detail `json:"error"`
	}{d})
	return b
}

func (e *apiError) headers() map[string]string {
	h := map[string]string{"content-type": "application/json"}
	if e.retryAfter > 0 {
		h["retry-after"] = strconv.Itoa(int((e.retryAfter + time.Second - 1) / time.Second))
	}
	if e.status == http.StatusUnauthorized {
		h["www-authenticate"] = `Bearer realm="graft"`
	}
	return h
}

func unauthorized(msg string) *apiError {
	return &apiError{status: 401, typ: "invalid_request_error", code: "invalid_api_key", message: msg}
}

func forbidden(msg string) *apiError {
	return &apiError{status: 403, typ: "permission_error", code: "insufficient_permissions", message: msg}
}

func badRequest(param, msg string) *apiError {
	return &apiError{status: 400, typ: "invalid_request_error", code: "invalid_request", param: param, message: msg}
}

// notFound never says whether a model exists for someone else.
func notFound(model string) *apiError {
	return &apiError{status: 404, typ: "invalid_request_error", code: "model_not_found", param: "model",
		message: "The model `" + model + "` does not exist or you do not have access to it."}
}

func unavailable(msg string, retry time.Duration) *apiError {
	return &apiError{status: 503, typ: "server_error", code: "deployment_unavailable", message: msg, retryAfter: retry}
}

func rateLimited(msg string, retry time.Duration) *apiError {
	return &apiError{status: 429, typ: "rate_limit_error", code: "rate_limit_exceeded", message: msg, retryAfter: retry}
}

func internal(msg string) *apiError {
	return &apiError{status: 500, typ: "server_error", code: "internal_error", message: msg}
}

func tooLarge() *apiError {
	return &apiError{status: 413, typ: "invalid_request_error", code: "request_too_large",
		message: "The request body is too large."}
}
