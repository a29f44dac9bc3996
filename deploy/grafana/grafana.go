// Package grafana holds Graft's Grafana dashboard: the gateway, the xDS
// control plane, the deployment controllers, the replicas' vLLM-named
// metrics and their GPUs' DCGM-named ones. Import it in Grafana from
// graft.json, or serve Dashboard.
package grafana

import _ "embed"

// Dashboard is graft.json.
//
//go:embed graft.json
var Dashboard []byte
