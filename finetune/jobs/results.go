package jobs

import (
	"bytes"
	"context"
	"encoding/csv"
	"strconv"
)

// resultCSV is a job's step metrics as OpenAI's result file holds them, one
// row per step with the columns Graft records (valid_loss empty on steps that
// were not evaluated).
func (s *Service) resultCSV(ctx context.Context, id string) ([]byte, error) {
	steps, err := s.metrics(ctx, id)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"step", "train_loss", "valid_loss", "learning_rate", "tokens"})
	for _, m := range steps {
		step, ok := m["step"].(float64)
		if !ok {
			continue
		}
		_ = w.Write([]string{strconv.Itoa(int(step)), num(m["train_loss"]), num(m["valid_loss"]),
			num(m["learning_rate"]), num(m["tokens"])})
	}
	w.Flush()
	return b.Bytes(), w.Error()
}

// num writes a metric as recorded, or nothing when the step lacks it.
func num(v any) string {
	f, ok := v.(float64)
	if !ok {
		return ""
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
