// Package jobs runs LoRA fine-tuning jobs as OpenAI's fine-tuning API
// describes them: a job is created validating_files, queued once its files
// pass, running while a trainer process works on it, and ends succeeded
// (its adapter published where the deployment's replicas load it), failed
// or cancelled. Jobs and their events live in Redis, so a control process
// that restarts finds its jobs and resumes a running one from its
// checkpoint.
package jobs

import (
	"encoding/json"
	"time"
)

// Statuses, as OpenAI names them.
const (
	ValidatingFiles = "validating_files"
	Queued          = "queued"
	Running         = "running"
	Succeeded       = "succeeded"
	Failed          = "failed"
	Cancelled       = "cancelled"
)

// Finished reports whether status is terminal.
func Finished(status string) bool {
	return status == Succeeded || status == Failed || status == Cancelled
}

// Hyperparameters are the resolved training settings; the OpenAI ones are
// shown, LoRA's are Graft's extras.
type Hyperparameters struct {
	NEpochs                int      `json:"n_epochs"`
	BatchSize              int      `json:"batch_size"`
	LearningRateMultiplier float64  `json:"learning_rate_multiplier"`
	LoRARank               int      `json:"lora_rank"`
	LoRAAlpha              float64  `json:"lora_alpha"`
	LoRADropout            float64  `json:"lora_dropout"`
	TargetModules          []string `json:"target_modules"`
}

// JobError says why a job failed.
type JobError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param"`
}

// Job is a fine-tuning job: the OpenAI object's fields, then Graft's own
// (kept in Redis, not shown).
type Job struct {
	ID              string            `json:"id"`
	Object          string            `json:"object"` // "fine_tuning.job"
	CreatedAt       int64             `json:"created_at"`
	FinishedAt      *int64            `json:"finished_at"`
	EstimatedFinish *int64            `json:"estimated_finish"`
	Model           string            `json:"model"`
	FineTunedModel  *string           `json:"fine_tuned_model"`
	OrganizationID  string            `json:"organization_id"`
	Status          string            `json:"status"`
	Hyperparameters Hyperparameters   `json:"hyperparameters"`
	Method          *Method           `json:"method"`
	TrainingFile    string            `json:"training_file"`
	ValidationFile  *string           `json:"validation_file"`
	ResultFiles     []string          `json:"result_files"`
	TrainedTokens   *int64            `json:"trained_tokens"`
	Error           *JobError         `json:"error"`
	Seed            int64             `json:"seed"`
	Suffix          *string           `json:"user_provided_suffix"`
	Integrations    []json.RawMessage `json:"integrations"`
	Metadata        map[string]string `json:"metadata"`

	Internal Internal `json:"graft"`
}

// Method is OpenAI's method object; Graft trains "supervised" only.
type Method struct {
	Type       string `json:"type"`
	Supervised struct {
		Hyperparameters Hyperparameters `json:"hyperparameters"`
	} `json:"supervised"`
}

// Internal is what the runner needs beyond the OpenAI object.
type Internal struct {
	Tenant     string `json:"tenant"`
	Deployment string `json:"deployment"`
	BaseModel  string `json:"base_model"`
	Adapter    string `json:"adapter"` // the adapter's id on the deployment once published
	Attempts   int    `json:"attempts"`
	LastStep   int    `json:"last_step"`
	TotalSteps int    `json:"total_steps"`
	StartedAt  int64  `json:"started_at,omitempty"`
}

// Public is the job as the API shows it.
func (j Job) Public() map[string]any {
	b, _ := json.Marshal(j)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	delete(m, "graft")
	return m
}

// Event is one entry of a job's event list, as OpenAI shows it.
type Event struct {
	ID        string         `json:"id"`
	Object    string         `json:"object"` // "fine_tuning.job.event"
	CreatedAt int64          `json:"created_at"`
	Level     string         `json:"level"`
	Message   string         `json:"message"`
	Data      map[string]any `json:"data"`
	Type      string         `json:"type"` // "message" or "metrics"
}

func unix(t time.Time) *int64 {
	v := t.Unix()
	return &v
}
