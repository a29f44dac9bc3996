package adaptersource

import (
	"context"
	"errors"
	"time"

	"github.com/graft-ai/graft/internal/peft"
)

// Errors wrapped by sources, for callers to map onto API statuses. The Hub
// client also fetches base models (sidecar/modelsource), so the words of
// those it returns name no kind of file.
var (
	ErrNotFound = errors.New("not found at the source")
	ErrAuth     = errors.New("the source refused access")
	ErrCorrupt  = errors.New("download failed verification")
	ErrInvalid  = errors.New("adaptersource: not a valid PEFT LoRA adapter")
	// ErrUnavailable: a remote source could not be reached or failed.
	ErrUnavailable = errors.New("adaptersource: adapter source unavailable")
	// ErrTimeout: a remote source did not answer in time.
	ErrTimeout = errors.New("adaptersource: adapter source timed out")
)

// The files of a PEFT LoRA adapter that Graft loads. Other files (README,
// tokenizer, optimizer state) are never fetched.
const (
	ConfigFile  = peft.ConfigFile
	WeightsFile = peft.WeightsFile
)

// AdapterFiles lists what a Source fetches, config first (it is small and fails
// fast when the adapter does not exist).
var AdapterFiles = []string{ConfigFile, WeightsFile}

// MaxFileSize bounds any one downloaded file, so a hostile or broken source
// cannot fill the disk. Large-rank adapters of 70B models stay well below it.
const MaxFileSize int64 = 16 << 30

// Source fetches a remote adapter's files into dst, an existing empty directory.
// It verifies each file against what the source declares (size, checksum) and
// returns ErrNotFound, ErrAuth or ErrCorrupt (wrapped) when it can tell. The
// Cache validates the adapter's structure afterwards; a Source need not.
type Source interface {
	Fetch(ctx context.Context, ref Ref, dst string) (Manifest, error)
}

// Manifest describes a fetched adapter. The Cache stores it beside the files,
// written last: its presence marks the entry complete.
type Manifest struct {
	ID       string    `json:"id"`                 // canonical Ref.String()
	Origin   string    `json:"origin"`             // where it came from (URL)
	Revision string    `json:"revision,omitempty"` // resolved commit, when the source says
	Files    []File    `json:"files"`
	Fetched  time.Time `json:"fetched"`
}

// File is one stored file with the digest computed while it was written.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex
}
