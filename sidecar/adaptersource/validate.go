package adaptersource

import (
	"errors"
	"io/fs"

	"github.com/graft-ai/graft/internal/peft"
)

// Validate checks that dir holds a loadable PEFT LoRA adapter as far as can be
// told without the base model: adapter_config.json parses and passes every
// check of peft.ParseConfig, and the weights file's header parses with at least
// one tensor, all of whose data is in the file. It reads no weights. Errors are
// *Error with Reason ErrInvalid, or ErrNotFound when the folder holds no
// adapter_config.json (it is not an adapter at all).
func Validate(dir string) (*peft.Config, error) {
	cfg, err := peft.ReadConfig(dir)
	if err != nil {
		reason := ErrInvalid
		if errors.Is(err, fs.ErrNotExist) {
			reason = ErrNotFound
		}
		return nil, &Error{Reason: reason, Msg: err.Error(), Cause: err}
	}
	if _, err := peft.CheckWeightsFile(dir); err != nil {
		return nil, &Error{Reason: ErrInvalid, Msg: err.Error(), Cause: err}
	}
	return cfg, nil
}
