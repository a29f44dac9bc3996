// Command graft-envoy-gateway is the gateway built as an Envoy dynamic
// module: Envoy loads it (go build -buildmode=c-shared) and runs the
// gateway's decisions on its own worker threads, in place of the ext_proc
// call to graft gateway. The decisions are the gateway package's, step for
// step (gateway.Call); only the transport differs. That saves each request
// two hand-offs between processes, and Envoy the work of an ext_proc
// stream, which on a loaded host were most of what the gateway added.
//
// xds configures it (xds.GatewayModule) with a JSON gateway.ModuleConfig.
// Built without cgo it is an empty program: a module needs cgo.
package main

func main() {}
