package openai

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// routes serves each "METHOD /path" pattern and answers the rest as OpenAI
// does, in its JSON error shape: 405 with Allow for a known path asked with
// another method, 404 for an unknown path. (ServeMux would answer both in
// plain text, which OpenAI clients cannot parse.)
func routes(handlers map[string]http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	allowed := map[string][]string{}
	for pattern, h := range handlers {
		mux.Handle(pattern, h)
		method, path, _ := strings.Cut(pattern, " ")
		allowed[path] = append(allowed[path], method)
		if method == http.MethodGet {
			allowed[path] = append(allowed[path], http.MethodHead)
		}
	}
	for path, methods := range allowed {
		slices.Sort(methods)
		mux.Handle(path, methodNotAllowed(methods))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Code: strPtr("unknown_url"),
			Message: fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path)})
	})
	return mux
}

func methodNotAllowed(methods []string) http.Handler {
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error", Code: strPtr("method_not_allowed"),
			Message: fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, allow)})
	})
}
