package adaptersource

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Error is an adapter failure told in terms a client may see: the adapter's
// id and what is wrong with it in the adapter's own terms, never a server path,
// a network address or a Go type. Cause keeps the full story for the server's log.
type Error struct {
	ID string
	// Reason classifies the failure: ErrBadRef, ErrNotFound, ErrAuth and
	// ErrInvalid are the client's to fix; ErrCorrupt and ErrUnavailable are a
	// remote source's fault, ErrTimeout its slowness; nil is this server's fault.
	Reason error
	Msg    string
	Cause  error
}

// Error is the client's message: "adapter `id`: what is wrong".
func (e *Error) Error() string {
	if e.ID == "" {
		return e.Msg
	}
	return fmt.Sprintf("adapter `%s`: %s", e.ID, e.Msg)
}

// Unwrap makes errors.Is see both the Reason and whatever the cause wraps.
func (e *Error) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Reason, e.Cause} {
		if err != nil { // errors.As may not be handed a nil error
			errs = append(errs, err)
		}
	}
	return errs
}

// badRefError is an id ParseRef refuses, with why in words a client can use.
type badRefError struct{ id, why string }

func (e *badRefError) Error() string { return fmt.Sprintf("%v %q: %s", ErrBadRef, e.id, e.why) }
func (e *badRefError) Unwrap() error { return ErrBadRef }

// httpStatusError is a source's HTTP error status that has no sentinel.
type httpStatusError struct{ method, url, status string }

func (e *httpStatusError) Error() string { return e.method + " " + e.url + ": " + e.status }

// describe turns any error from fetching id into an *Error whose message is
// safe to show: errors built as *Error keep their message; the rest, mostly
// remote failures whose text holds URLs and resolver addresses, are worded from
// what they are.
func describe(id string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		out := *e
		if out.ID == "" {
			out.ID = id
		}
		if out.Cause == nil {
			out.Cause = err
		}
		return &out
	}
	e = &Error{ID: id, Cause: err}
	var bad *badRefError
	src := sourceName(id)
	switch {
	case errors.As(err, &bad):
		e.Reason, e.Msg = ErrBadRef, "not a valid adapter id: "+bad.why
	case src == "":
		e.Msg = "could not be prepared (the server's log has the cause)"
	case isTimeout(err):
		e.Reason, e.Msg = ErrTimeout, "timed out fetching it from the "+src
	case errors.Is(err, ErrNotFound):
		e.Reason, e.Msg = ErrNotFound, "the "+src+" has no such adapter"
		if src == "hf:// source" {
			e.Msg += " (a private repository needs a token)"
		}
	case errors.Is(err, ErrAuth):
		e.Reason, e.Msg = ErrAuth, "the "+src+" refused access to it"
	case errors.Is(err, ErrCorrupt):
		e.Reason, e.Msg = ErrCorrupt, "the download from the "+src+" failed verification (size or checksum differs from what the source declared)"
	case errors.Is(err, ErrInvalid):
		e.Reason, e.Msg = ErrInvalid, "not a valid PEFT LoRA adapter"
	default:
		e.Reason, e.Msg = reachError(src, err)
	}
	return e
}

// reachError words a failure to talk to a remote source by its kind alone.
func reachError(src string, err error) (error, string) {
	var (
		dns  *net.DNSError
		op   *net.OpError
		http *httpStatusError
	)
	switch {
	case errors.As(err, &dns):
		return ErrUnavailable, "could not reach the " + src + ": its host name does not resolve"
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrUnavailable, "could not reach the " + src + ": connection refused"
	case errors.As(err, &http):
		return ErrUnavailable, "the " + src + " answered " + http.status
	case errors.As(err, &op):
		return ErrUnavailable, "could not reach the " + src + ": " + op.Op + " failed"
	}
	return ErrUnavailable, "fetching it from the " + src + " failed"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// sourceName names the remote source of id for messages; "" for a local id.
func sourceName(id string) string {
	ref, err := ParseRef(id)
	if err != nil {
		return ""
	}
	switch ref.Kind {
	case KindHub:
		return "hf:// source"
	case KindS3:
		return "s3:// source"
	}
	return ""
}
