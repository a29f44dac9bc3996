package openai

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
	"github.com/graft-ai/graft/sidecar/adaptersource"
)

// AdapterSource resolves an adapter id to a local directory holding
// adapter_config.json and adapter_model.safetensors, fetching it if it must
// (adaptersource.Catalog is the one the pod uses). Its errors should be
// *adaptersource.Error, whose messages are safe to show a client.
type AdapterSource interface {
	Resolve(ctx context.Context, id string) (dir string, err error)
	// List returns the ids available without a fetch, for /v1/models.
	List(ctx context.Context) ([]string, error)
}

// adapterLoader makes sure an adapter is loaded in the engine before its first
// request, loading each adapter once however many requests ask at the same time.
type adapterLoader struct {
	source   AdapterSource
	engine   enginev1.EngineClient
	group    singleflight.Group
	onLoaded func(id string)
	mu       sync.Mutex
	loaded   map[string]bool
	// refused holds the adapters the engine turned down (wrong shapes or
	// targets for this model: what the sidecar cannot check without the
	// model), so /v1/models stops offering them until one loads.
	refused map[string]bool
}

// loadTimeout bounds one fetch-and-load, which runs detached from the request
// that started it so a client hanging up does not fail the others waiting on it.
const loadTimeout = 10 * time.Minute

func (l *adapterLoader) ensure(ctx context.Context, id string) error {
	l.mu.Lock()
	done := l.loaded[id]
	l.mu.Unlock()
	if done {
		return nil
	}
	if l.source == nil {
		return &adaptersource.Error{ID: id, Reason: adaptersource.ErrNotFound, Msg: "this server serves no adapters"}
	}
	ch := l.group.DoChan(id, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		// The request that started the load carries its trace; the others
		// waiting on it show only their wait.
		tr := trace.SpanFromContext(ctx).TracerProvider().Tracer("github.com/graft-ai/graft/sidecar/openai")
		lctx, load := tr.Start(lctx, "adapter.load", trace.WithAttributes(attribute.String("graft.adapter_id", id)))
		defer load.End()
		fctx, fetch := tr.Start(lctx, "adapter.fetch")
		dir, err := l.source.Resolve(fctx, id)
		fetch.End()
		if err != nil {
			load.SetStatus(otelcodes.Error, err.Error())
			return nil, err
		}
		_, err = l.engine.LoadAdapter(lctx, &enginev1.LoadAdapterRequest{AdapterId: id, Path: dir})
		l.note(id, err)
		if err != nil {
			load.SetStatus(otelcodes.Error, "the engine refused the adapter")
			return nil, hideDir(err, dir)
		}
		if l.onLoaded != nil {
			l.onLoaded(id)
		}
		return nil, nil
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// note records the outcome of loading id into the engine.
func (l *adapterLoader) note(id string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refused == nil {
		l.refused = map[string]bool{}
	}
	if status.Code(err) == codes.InvalidArgument {
		l.refused[id] = true
	} else {
		delete(l.refused, id)
	}
	if err == nil {
		l.loaded[id] = true
	}
}

// wasRefused reports whether the engine refused the adapter when last asked.
func (l *adapterLoader) wasRefused(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused[id]
}

// forget drops an adapter the engine no longer has, so the next request reloads it.
func (l *adapterLoader) forget(id string, err error) {
	if status.Code(err) == codes.NotFound {
		l.mu.Lock()
		delete(l.loaded, id)
		l.mu.Unlock()
	}
}

// adapterError maps a failure to make adapter id ready to the client's error:
// an id that names no adapter is 404 model_not_found as OpenAI answers; a
// broken adapter, whether the sidecar's checks or the engine's find it, is 400
// invalid_adapter on "model"; a remote source that fails is 502, one that is
// too slow 504. Messages come from adaptersource and the engine's loader, both
// of which word them in the adapter's terms.
func adapterError(id string, err error) *apiError {
	var ae *adaptersource.Error
	if errors.As(err, &ae) {
		return sourceError(id, ae)
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.InvalidArgument {
		return invalidAdapter(fmt.Sprintf("adapter `%s` cannot be loaded: %s", id, violation(st)))
	}
	return fromRPC(err, nil)
}

func sourceError(id string, ae *adaptersource.Error) *apiError {
	switch ae.Reason {
	case adaptersource.ErrBadRef, adaptersource.ErrNotFound, adaptersource.ErrAuth:
		e := modelNotFound(id)
		e.Message = strings.TrimSuffix(e.Message, ".") + ": " + ae.Msg + "."
		return e
	case adaptersource.ErrInvalid:
		return invalidAdapter(ae.Error())
	}
	slog.Warn("adapter source failed", "adapter", id, "err", ae.Cause)
	switch ae.Reason {
	case adaptersource.ErrUnavailable, adaptersource.ErrCorrupt:
		return &apiError{Status: http.StatusBadGateway, Type: "api_error", Code: strPtr("adapter_source_unavailable"), Message: ae.Error()}
	case adaptersource.ErrTimeout:
		return &apiError{Status: http.StatusGatewayTimeout, Type: "api_error", Code: strPtr("adapter_source_timeout"), Message: ae.Error()}
	}
	return &apiError{Status: http.StatusInternalServerError, Type: "internal_error", Message: ae.Error()}
}

func invalidAdapter(msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Param: strPtr("model"), Code: strPtr("invalid_adapter"), Message: msg}
}

// hideDir keeps the adapter's folder out of an engine error before it can
// reach a client: the engine words its loader's errors relative to the
// folder, but this is the one place that knows what the folder is.
func hideDir(err error, dir string) error {
	st, ok := status.FromError(err)
	if !ok || !strings.Contains(st.Message(), dir) {
		return err
	}
	return status.Error(st.Code(), strings.ReplaceAll(st.Message(), dir, "the adapter's folder"))
}
