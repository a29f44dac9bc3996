#!/usr/bin/env bash
# The one script a GPU machine runs (make device-test). It expects what
# `make device-build` carried in .device/: cuda.test (go test -c of
# engine/compute/cuda, CGO_ENABLED=0), gpu.test (sidecar/gpu, with cgo for
# NVML), graft, and models/stories260K. Results
# go to $OUT (or ./device-out). Budget: about 8 minutes on an H100.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
export GRAFT_TESTDATA=$PWD/.device/models GRAFT_CUDA=1
# cuBLAS may live only in PyTorch's pip wheels; point the backend at it.
if [ -z "${GRAFT_CUBLAS:-}" ]; then
  GRAFT_CUBLAS=$(python3 - 2>/dev/null <<'PY'
import glob, os, site
for d in site.getsitepackages():
    for p in sorted(glob.glob(os.path.join(d, "nvidia", "*", "lib", "libcublas.so.*")), reverse=True):
        print(p); raise SystemExit
PY
)
  [ -n "$GRAFT_CUBLAS" ] && export GRAFT_CUBLAS && export LD_LIBRARY_PATH=$(dirname "$GRAFT_CUBLAS"):${LD_LIBRARY_PATH:-}
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$OUT/gpu.txt" 2>&1
status=0
run() { # name, timeout, command...
  local name=$1 limit=$2; shift 2
  echo "== $name"
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 40 "$OUT/$name.log"
  echo "== $name: exit $rc"
  [ $rc -eq 0 ] || status=1
}
# Kernels vs the CPU, batch invariance, golden ids, mixed adapters, leak.
run device-tests 240 .device/cuda.test -test.v -test.count=1 -test.run 'TestDevice[^B]|TestOpen|TestPTX'
# Benchmark (prints the table) and the transformers + PEFT baseline.
run bench 180 env GRAFT_CUDA_BENCH=1 .device/cuda.test -test.v -test.count=1 -test.run TestDeviceBenchmark
run peft-baseline 180 python3 scripts/device/peft_baseline.py
# GPU telemetry through NVML (the only cgo binary), against nvidia-smi.
run gpu-telemetry 30 env GRAFT_NVML=1 .device/gpu.test -test.v -test.count=1 -test.run TestDeviceNVML
# The CLI end to end on the GPU.
run graft-generate 30 .device/graft generate --device cuda --model .device/models/stories260K/gguf/stories260K.gguf --prompt "" --max-tokens 32
exit $status
