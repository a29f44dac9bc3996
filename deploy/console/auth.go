package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/graft-ai/graft/deploy/state"
)

type keyCtx struct{}

// auth passes a request on only with an admin key: the management API's own
// (Config.APIKey) or an admin API key stored in Redis.
func (c *Console) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || key == "" {
			writeError(w, http.StatusUnauthorized, "invalid_api_key", "no admin key sent: log in with the admin API key")
			return
		}
		if status, code, msg := c.checkKey(r.Context(), key); status != 0 {
			writeError(w, status, code, msg)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyCtx{}, key)))
	})
}

// checkKey returns a zero status for an admin key, else the refusal.
func (c *Console) checkKey(ctx context.Context, key string) (int, string, string) {
	if c.cfg.APIKey != "" && subtle.ConstantTimeCompare([]byte(key), []byte(c.cfg.APIKey)) == 1 {
		return 0, "", ""
	}
	if c.cfg.Store == nil {
		return http.StatusUnauthorized, "invalid_api_key", "incorrect admin key"
	}
	rec, err := c.cfg.Store.LookupAPIKey(ctx, state.HashAPIKey(key))
	switch {
	case errors.Is(err, state.ErrNoKey):
		return http.StatusUnauthorized, "invalid_api_key", "incorrect admin key: it is neither the management API's key nor an API key of this platform"
	case err != nil:
		return http.StatusServiceUnavailable, "key_check_failed", "the key could not be checked: " + err.Error()
	case !rec.Admin:
		return http.StatusForbidden, "not_admin", "this API key (tenant " + rec.Tenant + ") may call models but is not an admin key; create one with graft keys create --admin"
	}
	return 0, "", ""
}

// requestKey is the key the request was let in with.
func requestKey(ctx context.Context) string {
	k, _ := ctx.Value(keyCtx{}).(string)
	return k
}

func (c *Console) session(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"object": "session", "traces": c.cfg.JaegerURL != ""})
}
