package console

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"
)

// FineTuning is what the console reads of fine-tuning jobs (every tenant's,
// the console being an admin's); *jobs.Service is one through a small
// adapter in the control process.
type FineTuning interface {
	Recent(ctx context.Context, limit int) ([]TuningJob, error)
}

// TuningJob is one job with its loss per step, oldest first.
type TuningJob struct {
	ID, Tenant, Model, Deployment, Status string
	FineTunedModel, Error                 string
	Created                               time.Time
	Step, TotalSteps                      int
	TrainLoss                             []float64
	ValidLoss                             []float64 // NaN where a step had none
}

// jobRow is a job as the page shows it: its loss curves drawn.
type jobRow struct {
	TuningJob
	Charts []Chart
}

func formatLoss(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

// jobList is the recent jobs, refreshed while they train: the loss chart
// grows a point per step.
func (c *Console) jobList(w http.ResponseWriter, r *http.Request) {
	if c.cfg.FineTuning == nil {
		fragment(w, "job-list", []jobRow{})
		return
	}
	js, err := c.cfg.FineTuning.Recent(r.Context(), 10)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "state_unavailable", "reading the fine-tuning jobs: "+err.Error())
		return
	}
	rows := make([]jobRow, 0, len(js))
	for _, j := range js {
		row := jobRow{TuningJob: j, Charts: []Chart{lineChart("training loss", "per step", j.TrainLoss, formatLoss)}}
		if hasValue(j.ValidLoss) {
			row.Charts = append(row.Charts, lineChart("validation loss", "per epoch", j.ValidLoss, formatLoss))
		}
		rows = append(rows, row)
	}
	fragment(w, "job-list", rows)
}

func hasValue(vs []float64) bool {
	for _, v := range vs {
		if !math.IsNaN(v) {
			return true
		}
	}
	return false
}
