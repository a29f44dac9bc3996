// Package dataset reads fine-tuning files in the two JSONL formats OpenAI's
// fine-tuning API accepts: chat ({"messages": [...]}) and prompt/completion.
// The platform validates uploads with it and the trainer reads them with it,
// so a file that passes validation is exactly a file the trainer can use.
package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxLineBytes bounds one JSONL line; a longer line is reported, not buffered.
const MaxLineBytes = 4 << 20

// maxReported keeps an error message readable when a whole file is wrong.
const maxReported = 10

// Message is one chat turn. Weight, when present on an assistant turn, is 0
// (do not learn from it) or 1, as in OpenAI's chat fine-tuning format.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	Weight  *int   `json:"weight,omitempty"`
}

// Example is one training line: either Messages or Prompt+Completion.
type Example struct {
	Line       int       `json:"-"`
	Messages   []Message `json:"messages,omitempty"`
	Prompt     string    `json:"prompt,omitempty"`
	Completion string    `json:"completion,omitempty"`
}

// IsChat reports whether the example is in the chat format.
func (e Example) IsChat() bool { return e.Messages != nil }

// Learned reports whether the model is trained on the message's content.
func (m Message) Learned() bool {
	return m.Role == "assistant" && (m.Weight == nil || *m.Weight == 1)
}

// LineError names one bad line and why it is bad.
type LineError struct {
	Line   int
	Reason string
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Error lists the bad lines of a file (the first few) and how many there were.
type Error struct {
	Lines []LineError
	Total int
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, l := range e.Lines {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(l.Error())
	}
	if more := e.Total - len(e.Lines); more > 0 {
		fmt.Fprintf(&b, " (and %d more bad lines)", more)
	}
	return b.String()
}

// ErrEmpty is returned for a file without a single example.
var ErrEmpty = errors.New("the file has no examples: want one JSON object per line")

// ParseFile reads and validates a JSONL fine-tuning file.
func ParseFile(path string) ([]Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f)
}

// Parse reads and validates every line. It returns all examples only when
// every line is valid; otherwise an *Error naming the bad lines.
func Parse(r io.Reader) ([]Example, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		out    []Example
		bad    Error
		format string
	)
	for line := 1; ; line++ {
		raw, err := readLine(br)
		if err == io.EOF && raw == nil {
			break
		}
		if err != nil && err != io.EOF {
			if errors.Is(err, errLineTooLong) {
				bad.add(line, err.Error())
				continue
			}
			return nil, err
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		ex, reason := parseLine(raw)
		if reason == "" {
			f := formatOf(ex)
			if format == "" {
				format = f
			} else if f != format {
				reason = fmt.Sprintf("this line is in the %s format but earlier lines are in the %s format; use one format per file", f, format)
			}
		}
		if reason != "" {
			bad.add(line, reason)
			continue
		}
		ex.Line = line
		out = append(out, ex)
	}
	if bad.Total > 0 {
		return nil, &bad
	}
	if len(out) == 0 {
		return nil, ErrEmpty
	}
	return out, nil
}

func (e *Error) add(line int, reason string) {
	e.Total++
	if len(e.Lines) < maxReported {
		e.Lines = append(e.Lines, LineError{Line: line, Reason: reason})
	}
}

func formatOf(e Example) string {
	if e.IsChat() {
		return "chat"
	}
	return "prompt/completion"
}

var errLineTooLong = fmt.Errorf("line longer than %d bytes", MaxLineBytes)

// readLine returns one line without its newline; an over-long line is
// drained and reported so the lines after it keep their numbers.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			if err == io.EOF && line != nil {
				return line, nil
			}
			return nil, err
		}
		if len(line)+len(chunk) > MaxLineBytes {
			for isPrefix {
				if _, isPrefix, err = br.ReadLine(); err != nil {
					break
				}
			}
			return []byte{}, errLineTooLong
		}
		line = append(line, chunk...)
		if !isPrefix {
			return line, nil
		}
	}
}
