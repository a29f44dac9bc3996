// Package gateway is the front door's brain, run as Envoy's ext_proc
// service: it authenticates the API key, resolves the OpenAI "model" field to
// a deployment and an adapter, holds requests for a deployment that is waking
// up, and answers Envoy with the headers its routes and hash policy use.
package gateway

import (
	"fmt"
	"strings"

	"github.com/graft-ai/graft/deploy/state"
)

// ParseModel splits the OpenAI model field into a deployment and an adapter:
// "deployment" is the base model, "deployment/adapter" an adapter on it. The
// adapter part may itself hold slashes (a Hub id such as org/name).
func ParseModel(model string) (deployment, adapter string, err error) {
	if model == "" {
		return "", "", fmt.Errorf("you must provide a model parameter")
	}
	deployment, adapter, slash := strings.Cut(model, "/")
	if state.CheckName(deployment) != nil {
		return "", "", fmt.Errorf("the model %q does not name a deployment (deployment or deployment/adapter)", model)
	}
	if slash && (adapter == "" || strings.ContainsAny(adapter, "\x00\r\n") || len(adapter) > 512) {
		return "", "", fmt.Errorf("the model %q names no valid adapter after the deployment", model)
	}
	return deployment, adapter, nil
}
