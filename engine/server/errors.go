package server

import (
	"errors"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/sample"
)

// invalid is an InvalidArgument status naming param in the message and in a
// BadRequest field violation, so a client can recover OpenAI's error "param".
func invalid(param, msg string) error {
	if param == "" {
		return status.Error(codes.InvalidArgument, msg)
	}
	text := msg
	if !strings.Contains(msg, param) {
		text = param + ": " + msg
	}
	st := status.New(codes.InvalidArgument, text)
	br := &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: param, Description: msg}}}
	if d, err := st.WithDetails(br); err == nil {
		st = d
	}
	return st.Err()
}

// requestStatus turns an engine refusal into a gRPC status.
func requestStatus(err error) error {
	if errors.Is(err, engine.ErrQueueFull) {
		return status.Error(codes.ResourceExhausted, err.Error())
	}
	var re *engine.RequestError
	if errors.As(err, &re) {
		if re.NotFound {
			return status.Error(codes.NotFound, re.Msg)
		}
		return invalid(re.Param, re.Msg)
	}
	var pe *sample.ParamError
	if errors.As(err, &pe) {
		return invalid("sampling."+pe.Param, pe.Msg)
	}
	return status.Error(codes.Unavailable, err.Error())
}
