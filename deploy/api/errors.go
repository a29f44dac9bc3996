package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/graft-ai/graft/deploy"
)

// Error is an error in the OpenAI API's shape, with its HTTP status.
type Error struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *Error) Error() string {
	if e.Param != nil {
		return fmt.Sprintf("%s (%d, param %s)", e.Message, e.Status, *e.Param)
	}
	return fmt.Sprintf("%s (%d)", e.Message, e.Status)
}

func ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func newError(status int, typ, code, param, msg string) *Error {
	return &Error{Status: status, Type: typ, Code: ptr(code), Param: ptr(param), Message: msg}
}

// toError maps what the deploy package returns onto a status and shape.
func toError(err error) *Error {
	var fe *deploy.FieldError
	var te *deploy.TransitionError
	var se *deploy.StaleError
	var we *deploy.WakeError
	var ae *Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &fe):
		return newError(http.StatusBadRequest, "invalid_request_error", "invalid_value", fe.Field, fe.Error())
	case errors.Is(err, deploy.ErrNotFound):
		return newError(http.StatusNotFound, "invalid_request_error", "deployment_not_found", "", err.Error())
	case errors.Is(err, deploy.ErrExists):
		return newError(http.StatusConflict, "invalid_request_error", "deployment_exists", "name", err.Error())
	case errors.As(err, &te):
		return newError(http.StatusConflict, "invalid_request_error", "invalid_transition", "", te.Error())
	case errors.As(err, &se):
		return newError(http.StatusConflict, "invalid_request_error", "conflict", "", se.Error())
	case errors.As(err, &we):
		return newError(http.StatusConflict, "invalid_request_error", "deployment_"+strings.ToLower(string(we.Status)), "", we.Error())
	}
	return newError(http.StatusInternalServerError, "server_error", "", "", err.Error())
}

func writeError(w http.ResponseWriter, e *Error) {
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, e.Status, map[string]*Error{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
