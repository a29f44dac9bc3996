package xds

import (
	"encoding/json"
	"fmt"
	"time"

	accesslog "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	fileal "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// AccessLogEntry is one line of the front's access log. The durations split
// Envoy's part of a request at the points where it waits on someone else:
// the client's body, the gateway (and the route it chose), the replica's
// first byte, so a slow front names its slow hop.
type AccessLogEntry struct {
	Start      string `json:"start"` // RFC 3339 with microseconds
	Method     string `json:"method"`
	Path       string `json:"path"`
	Status     int    `json:"status"`
	Deployment string `json:"deployment"`
	Adapter    string `json:"adapter"`
	Upstream   string `json:"upstream"`
	// RequestUS: first to last byte of the request from the client.
	RequestUS int64 `json:"request_us"`
	// RouteUS: last request byte to the first byte sent to the replica:
	// the gateway's answer, routing and an upstream connection.
	RouteUS int64 `json:"route_us"`
	// UpstreamUS: first byte sent to the replica to its first byte back.
	UpstreamUS int64 `json:"upstream_us"`
	// ResponseUS: the replica's first byte to the client's.
	ResponseUS int64 `json:"response_us"`
	// FirstByteUS: first request byte to the client's first response byte.
	FirstByteUS int64 `json:"first_byte_us"`
	// GatewayUS: the gateway's exchange as Envoy's ext_proc filter timed
	// it, from sending the request headers to their answer (the route).
	GatewayUS int64 `json:"gateway_us,string"`
}

// StartTime parses Start.
func (e AccessLogEntry) StartTime() (time.Time, error) { return time.Parse(time.RFC3339Nano, e.Start) }

// ParseAccessLogEntry reads one line. Envoy writes null for a duration it
// has no end for (a request it answered itself has no upstream); those read
// as -1. The ext_proc filter writes its latency as a string.
func ParseAccessLogEntry(line []byte) (AccessLogEntry, error) {
	e := AccessLogEntry{RequestUS: -1, RouteUS: -1, UpstreamUS: -1, ResponseUS: -1, FirstByteUS: -1, GatewayUS: -1}
	if err := json.Unmarshal(line, &e); err != nil {
		return AccessLogEntry{}, fmt.Errorf("xds: access log line: %w", err)
	}
	return e, nil
}

// accessLogFormat is AccessLogEntry in Envoy's command operators.
var accessLogFormat = map[string]any{
	"start":         "%START_TIME(%Y-%m-%dT%H:%M:%S.%6fZ)%",
	"method":        "%REQ(:METHOD)%",
	"path":          "%REQ(:PATH)%",
	"status":        "%RESPONSE_CODE%",
	"deployment":    "%REQ(" + HeaderDeployment + ")%",
	"adapter":       "%REQ(" + HeaderAdapter + ")%",
	"upstream":      "%UPSTREAM_HOST%",
	"request_us":    "%COMMON_DURATION(DS_RX_BEG:DS_RX_END:us)%",
	"route_us":      "%COMMON_DURATION(DS_RX_END:US_TX_BEG:us)%",
	"upstream_us":   "%COMMON_DURATION(US_TX_BEG:US_RX_BEG:us)%",
	"response_us":   "%COMMON_DURATION(US_RX_BEG:DS_TX_BEG:us)%",
	"first_byte_us": "%COMMON_DURATION(DS_RX_BEG:DS_TX_BEG:us)%",
	"gateway_us":    "%FILTER_STATE(envoy.filters.http.ext_proc:FIELD:request_header_latency_us)%",
}

func accessLog(path string) []*accesslog.AccessLog {
	if path == "" {
		return nil
	}
	format, err := structpb.NewStruct(accessLogFormat)
	if err != nil {
		panic(err) // a constant
	}
	f := &fileal.FileAccessLog{Path: path, AccessLogFormat: &fileal.FileAccessLog_LogFormat{LogFormat: &core.SubstitutionFormatString{
		Format: &core.SubstitutionFormatString_JsonFormat{JsonFormat: format},
	}}}
	return []*accesslog.AccessLog{{
		Name:       "envoy.access_loggers.file",
		ConfigType: &accesslog.AccessLog_TypedConfig{TypedConfig: mustAny(f)},
	}}
}
