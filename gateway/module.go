package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/graft-ai/graft/xds"
)

// ModuleConfig configures the gateway that Envoy loads as a dynamic module
// (cmd/graft-envoy-gateway). It travels as JSON in the filter's
// configuration over xDS, so it holds addresses and plain settings only;
// the module opens its own Redis connection and serves its own metrics.
type ModuleConfig struct {
	Redis           string  `json:"redis"` // URL of the platform's state
	WakeTimeout     string  `json:"wake_timeout,omitempty"`
	HoldLimit       int     `json:"hold_limit,omitempty"`
	HotRate         float64 `json:"hot_rate,omitempty"`
	MaxSpread       int     `json:"max_spread,omitempty"`
	AnonymousTenant string  `json:"anonymous_tenant,omitempty"`
	// MetricsListen is where the module serves /metrics ("" for nowhere).
	MetricsListen string `json:"metrics_listen,omitempty"`
	// OTLP is the trace collector's host:port ("" traces nothing).
	OTLP       string  `json:"otlp,omitempty"`
	TraceRatio float64 `json:"trace_ratio,omitempty"`
}

// Filter is the xDS configuration that has Envoy load the module at file
// (a path on Envoy's machine) with mc.
func (mc ModuleConfig) Filter(file string) (*xds.GatewayModule, error) {
	config, err := json.Marshal(mc)
	if err != nil {
		return nil, err
	}
	return &xds.GatewayModule{File: file, Config: config}, nil
}

// ModuleConfigOf is the module's configuration for the gateway c would run,
// with the platform's state at redisURL.
func ModuleConfigOf(c Config, redisURL string) ModuleConfig {
	mc := ModuleConfig{Redis: redisURL, HoldLimit: c.HoldLimit, HotRate: c.HotRate, MaxSpread: c.MaxSpread,
		AnonymousTenant: c.AnonymousTenant}
	if c.WakeTimeout > 0 {
		mc.WakeTimeout = c.WakeTimeout.String()
	}
	return mc
}

// GatewayConfig checks mc and turns it into the gateway's Config, without
// the store, deployments and registry the module makes itself.
func (mc ModuleConfig) GatewayConfig() (Config, error) {
	if mc.Redis == "" {
		return Config{}, errors.New("gateway module: redis is required")
	}
	if mc.HoldLimit < 0 || mc.MaxSpread < 0 || mc.HotRate < 0 {
		return Config{}, errors.New("gateway module: hold_limit, max_spread and hot_rate must not be negative")
	}
	c := Config{HoldLimit: mc.HoldLimit, HotRate: mc.HotRate, MaxSpread: mc.MaxSpread, AnonymousTenant: mc.AnonymousTenant}
	if mc.WakeTimeout != "" {
		d, err := time.ParseDuration(mc.WakeTimeout)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("gateway module: wake_timeout %q is not a positive duration", mc.WakeTimeout)
		}
		c.WakeTimeout = d
	}
	return c, nil
}
