package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extproc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/xds"
)

// tenantHeader tells replicas and the management API whose request it is.
const tenantHeader = "x-graft-tenant"

// exchange is one HTTP request's conversation with Envoy.
type exchange struct {
	method, path  string
	authorization string
	key           state.APIKey
	management    bool // a management API call: routed by path, not by model
	reserved      int  // tokens charged to the key's TPM at admission
	// When Envoy streams the body without waiting for the headers' answer
	// (one round trip instead of two), that answer is the route, so it
	// waits for the whole body; each chunk is then passed on unchanged.
	awaitBody bool
	body      []byte
	chunks    int
}

// Process handles one request: its headers (authenticate), then its body
// (resolve the model, admit, pick the route key), buffered by Envoy or
// streamed to the gateway.
func (g *Gateway) Process(stream extproc.ExternalProcessor_ProcessServer) error {
	ctx := stream.Context()
	var ex exchange
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		var resp []*extproc.ProcessingResponse
		// last: the message ends the request (only its headers and body are
		// sent here)
		var last bool
		switch r := req.Request.(type) {
		case *extproc.ProcessingRequest_RequestHeaders:
			last = r.RequestHeaders.GetEndOfStream()
			ctx = traceContext(ctx, r.RequestHeaders)
			switch h := g.onHeaders(ctx, &ex, r.RequestHeaders); {
			case h != nil:
				resp = append(resp, h)
			case req.GetProtocolConfig().GetSendBodyWithoutWaitingForHeaderResponse():
				ex.awaitBody = true
			default:
				resp = append(resp, &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_RequestHeaders{
					RequestHeaders: &extproc.HeadersResponse{}}})
			}
		case *extproc.ProcessingRequest_RequestBody:
			last = r.RequestBody.GetEndOfStream()
			resp = g.onBody(ctx, &ex, r.RequestBody)
		case *extproc.ProcessingRequest_ResponseTrailers:
			// From the usage filter, on a stream of its own: nothing else
			// follows, and Envoy waits for no answer.
			g.onTrailers(req.GetMetadataContext(), r.ResponseTrailers)
			if req.GetObservabilityMode() {
				return nil
			}
			resp = append(resp, &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_ResponseTrailers{
				ResponseTrailers: &extproc.TrailersResponse{}}})
		default:
			// Only request headers and body are configured; answer anything
			// else with an empty continue so the stream never stalls.
			resp = append(resp, &extproc.ProcessingResponse{})
		}
		for _, r := range resp {
			if err := stream.Send(r); err != nil {
				return err
			}
			if r.GetImmediateResponse() != nil {
				// Answered: a body Envoy already streamed (it does not wait
				// for the headers' answer) must not be decided on for a
				// request refused at its headers (no key, say).
				return nil
			}
		}
		if last && len(resp) > 0 {
			// Answered in full: the gateway ends the stream with its answer
			// (trailers in the same write) instead of waking again for
			// the reset Envoy sends after its last response; Envoy takes
			// the close as processing complete.
			return nil
		}
	}
}

func (g *Gateway) onHeaders(ctx context.Context, ex *exchange, h *extproc.HttpHeaders) *extproc.ProcessingResponse {
	readHeaders(ex, h)
	return g.decideHeaders(ctx, ex, h.GetEndOfStream())
}

// readHeaders takes what the gateway reads of a request's headers.
func readHeaders(ex *exchange, h *extproc.HttpHeaders) {
	for _, hv := range h.GetHeaders().GetHeaders() {
		v := hv.GetValue()
		if v == "" {
			v = string(hv.GetRawValue())
		}
		switch hv.GetKey() {
		case ":method":
			ex.method = v
		case ":path":
			ex.path = v
		case "authorization":
			ex.authorization = v
		}
	}
}

// decideHeaders authenticates the request and settles what its headers
// can; nil when its body decides. endOfStream says no body follows.
func (g *Gateway) decideHeaders(ctx context.Context, ex *exchange, endOfStream bool) *extproc.ProcessingResponse {
	actx, span := g.tracer.Start(ctx, "gateway.authenticate")
	key, err := g.authenticate(actx, ex.authorization)
	if err == errWouldBlock {
		markWouldWait(span, "gateway.authenticate")
		span.End()
		return wouldBlock
	}
	if err != nil {
		span.SetAttributes(attribute.Int("http.response.status_code", err.status))
		span.End()
		return g.refuse(err)
	}
	span.SetAttributes(attribute.String("graft.tenant", key.Tenant))
	span.End()
	ex.key = key
	path, _, _ := strings.Cut(ex.path, "?")
	switch {
	case path == xds.ManagementPrefix || strings.HasPrefix(path, xds.ManagementPrefix+"/"):
		if !key.Admin {
			return g.refuse(forbidden("This API key may not manage deployments; use an admin key (graft keys create --admin)."))
		}
		ex.management = true
		return tenantHeaders(key.Tenant)
	case tenantPath(path):
		// Files and fine-tuning jobs are the tenant's own: any key may
		// use them, and the control API learns whose they are.
		ex.management = true
		return tenantHeaders(key.Tenant)
	case path == "/v1/models" && ex.method == "GET":
		if inline(ctx) {
			return wouldBlock // a listing reads Redis
		}
		return g.models(ctx, key.Tenant)
	}
	if endOfStream {
		// No body follows: nothing names a model.
		return g.refuse(badRequest("model", "This endpoint needs a JSON body with a model."))
	}
	// The body decides; nil lets a streamed exchange answer these headers
	// with the route once it has the body.
	return nil
}

// tenantHeaders answers a request the control API serves: it learns whose
// request it is, and nothing is reserved to settle.
func tenantHeaders(tenant string) *extproc.ProcessingResponse {
	return &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_RequestHeaders{
		RequestHeaders: &extproc.HeadersResponse{Response: &extproc.CommonResponse{
			HeaderMutation: &extproc.HeaderMutation{SetHeaders: []*core.HeaderValueOption{
				header(tenantHeader, tenant), header(xds.HeaderNoSettle, "1"),
			}},
		}}}}
}

func tenantPath(path string) bool {
	for _, p := range xds.TenantPrefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

func (g *Gateway) authenticate(ctx context.Context, authorization string) (state.APIKey, *apiError) {
	if authorization == "" && g.cfg.AnonymousTenant != "" {
		return state.APIKey{Tenant: g.cfg.AnonymousTenant}, nil
	}
	k, err := g.keys.Authenticate(ctx, authorization)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return k, ae
		}
		return k, internal("authentication failed")
	}
	return k, nil
}

// routedFields is the part of an OpenAI request body the gateway reads.
type routedFields struct {
	Model               *string `json:"model"`
	MaxTokens           *int    `json:"max_tokens"`
	MaxCompletionTokens *int    `json:"max_completion_tokens"`
	Messages            present `json:"messages"`
}

// present records that a field was there without keeping (copying) it.
type present bool

func (p *present) UnmarshalJSON([]byte) error { *p = true; return nil }

// maxStreamedBody bounds a body the gateway gathers itself, as Envoy
// bounds one it buffers (xds's default request limit).
const maxStreamedBody = 32 << 20

func (g *Gateway) onBody(ctx context.Context, ex *exchange, b *extproc.HttpBody) []*extproc.ProcessingResponse {
	pass := &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_RequestBody{
		RequestBody: &extproc.BodyResponse{}}}
	if ex.management {
		return []*extproc.ProcessingResponse{pass}
	}
	if !ex.awaitBody {
		// Buffered by Envoy: the whole body, its headers already answered.
		return []*extproc.ProcessingResponse{g.decideTraced(ctx, ex, b.GetBody())}
	}
	ex.body = append(ex.body, b.GetBody()...)
	ex.chunks++
	if len(ex.body) > maxStreamedBody {
		return []*extproc.ProcessingResponse{g.refuse(tooLarge())}
	}
	if !b.GetEndOfStream() {
		return nil
	}
	resp := g.decideTraced(ctx, ex, ex.body)
	if resp.GetImmediateResponse() != nil {
		return []*extproc.ProcessingResponse{resp}
	}
	out := []*extproc.ProcessingResponse{{
		Response: &extproc.ProcessingResponse_RequestHeaders{RequestHeaders: &extproc.HeadersResponse{
			Response: resp.GetRequestBody().GetResponse()}},
		DynamicMetadata: resp.GetDynamicMetadata(),
	}}
	for range ex.chunks {
		out = append(out, pass)
	}
	return out
}

func (g *Gateway) decideTraced(ctx context.Context, ex *exchange, body []byte) *extproc.ProcessingResponse {
	ctx, span := g.tracer.Start(ctx, "gateway.decide")
	defer span.End()
	resp := g.decide(ctx, ex, body)
	if resp == wouldBlock {
		markWouldWait(span, "gateway.decide")
	}
	if ir := resp.GetImmediateResponse(); ir != nil {
		span.SetAttributes(attribute.Int("http.response.status_code", int(ir.GetStatus().GetCode())))
		span.SetStatus(codes.Error, ir.GetDetails())
	}
	return resp
}

// decide resolves, admits and routes one request body.
func (g *Gateway) decide(ctx context.Context, ex *exchange, body []byte) *extproc.ProcessingResponse {
	start := time.Now()
	var f routedFields
	if err := json.Unmarshal(body, &f); err != nil {
		return g.refuse(badRequest("", "We could not parse the JSON body of your request."))
	}
	if f.Model == nil {
		return g.refuse(badRequest("model", "You must provide a model parameter."))
	}
	dep, adapter, err := ParseModel(*f.Model)
	if err != nil {
		return g.refuse(notFound(*f.Model))
	}
	g.metrics.decide.Observe(time.Since(start).Seconds())
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("graft.deployment", dep), attribute.String("graft.adapter_id", adapter),
		attribute.String("graft.tenant", ex.key.Tenant))
	max := f.MaxCompletionTokens
	if max == nil {
		max = f.MaxTokens
	}
	outcome := "routed"
	defer func() {
		if outcome != "" {
			g.metrics.byDeployment.WithLabelValues(dep, adapter, ex.key.Tenant, outcome).Inc()
		}
	}()
	// The deployment is resolved before the key is charged, so that an
	// inline step gives up (errWouldBlock) before it has charged anything;
	// its refusal still comes after the rate limit's, as it always has.
	refused, wake := g.resolve(ctx, ex.key.Tenant, dep, adapter)
	if refused == errWouldBlock || wake && inline(ctx) {
		outcome = ""
		return wouldBlock
	}
	ex.reserved = estimateTokens(max, len(body), bool(f.Messages))
	if ae := g.limits.admitOrWait(ctx, ex.key.Hash, ex.key.RPM, ex.key.TPM, ex.reserved); ae != nil {
		ex.reserved = 0
		if ae == errWouldBlock {
			outcome = ""
			return wouldBlock
		}
		g.metrics.rateLimited.WithLabelValues(dep, ex.key.Tenant).Inc()
		outcome = strconv.Itoa(ae.status)
		return g.refuse(ae)
	}
	if wake {
		refused = g.hold(ctx, dep)
	}
	if ae := refused; ae != nil {
		outcome = strconv.Itoa(ae.status)
		if ae.code == "model_not_found" {
			// Names that are no deployment (the caller's) get no series of
			// their own: clients would choose the metric's cardinality.
			ae, outcome = notFound(*f.Model), ""
		}
		return g.refuse(ae)
	}
	set := []*core.HeaderValueOption{
		header(xds.HeaderDeployment, dep),
		header(xds.HeaderAdapter, adapter),
		header(tenantHeader, ex.key.Tenant),
	}
	if rk := g.spread.RouteKey(dep, adapter); rk != "" {
		set = append(set, header(xds.HeaderRouteKey, rk))
	}
	// The replica needs no key, and a client's own x-graft-* headers must
	// not survive.
	remove := []string{"authorization"}
	md := reservation(ex)
	if md == nil {
		set = append(set, header(xds.HeaderNoSettle, "1"))
	} else {
		remove = append(remove, xds.HeaderNoSettle) // a client may not skip settling
	}
	g.metrics.requests.WithLabelValues("routed").Inc()
	return &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_RequestBody{
		RequestBody: &extproc.BodyResponse{Response: &extproc.CommonResponse{
			HeaderMutation:  &extproc.HeaderMutation{SetHeaders: set, RemoveHeaders: remove},
			ClearRouteCache: true,
		}},
	}, DynamicMetadata: md}
}

// onTrailers settles a request's token reservation, which the gateway left
// in Envoy's metadata at admission, with the usage the replica reports.
func (g *Gateway) onTrailers(md *core.Metadata, h *extproc.HttpTrailers) {
	r := md.GetFilterMetadata()[xds.MetadataNamespace].GetFields()
	hash := r[reservationKey].GetStringValue()
	tpm, reserved := int(r[reservationTPM].GetNumberValue()), int(r[reservationTokens].GetNumberValue())
	if hash == "" || reserved == 0 {
		return
	}
	for _, hv := range h.GetTrailers().GetHeaders() {
		if hv.GetKey() != xds.TrailerUsage {
			continue
		}
		v := hv.GetValue()
		if v == "" {
			v = string(hv.GetRawValue())
		}
		if used, err := strconv.Atoi(v); err == nil && used >= 0 {
			g.limits.settle(hash, tpm, reserved, used)
			return
		}
	}
}

// Fields of the reservation the gateway leaves in Envoy's metadata.
const (
	reservationKey    = "key"
	reservationTPM    = "tpm"
	reservationTokens = "reserved"
)

// reservation is the metadata that lets the usage filter's separate call
// settle what admission reserved; nil when nothing needs settling.
func reservation(ex *exchange) *structpb.Struct {
	if ex.reserved == 0 || ex.key.TPM <= 0 {
		return nil
	}
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		xds.MetadataNamespace: structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			reservationKey:    structpb.NewStringValue(ex.key.Hash),
			reservationTPM:    structpb.NewNumberValue(float64(ex.key.TPM)),
			reservationTokens: structpb.NewNumberValue(float64(ex.reserved)),
		}}),
	}}
}

func header(k, v string) *core.HeaderValueOption {
	return &core.HeaderValueOption{
		Header:       &core.HeaderValue{Key: k, RawValue: []byte(v)},
		AppendAction: core.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// refuse answers the client directly with an OpenAI error.
func (g *Gateway) refuse(e *apiError) *extproc.ProcessingResponse {
	g.metrics.requests.WithLabelValues(strconv.Itoa(e.status)).Inc()
	return immediate(e)
}

// immediate is e as Envoy's answer to the client.
func immediate(e *apiError) *extproc.ProcessingResponse {
	var hs []*core.HeaderValueOption
	for k, v := range e.headers() {
		hs = append(hs, header(k, v))
	}
	return &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extproc.ImmediateResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(e.status)},
			Headers: &extproc.HeaderMutation{SetHeaders: hs},
			Body:    e.body(),
			Details: "graft_gateway_" + strings.ReplaceAll(e.code, " ", "_"),
		},
	}}
}
