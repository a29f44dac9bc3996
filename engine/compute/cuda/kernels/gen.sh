#!/usr/bin/env bash
# Regenerates the committed PTX from the CUDA sources (run by `make cuda`):
# one module per target architecture, plus the sha256 of the sources that
# TestPTXIsFresh compares so a stale PTX fails `make test` without nvcc.
set -euo pipefail
cd "$(dirname "$0")"
./install-nvcc.sh
srcs=$(ls *.cu *.cuh | LC_ALL=C sort)
for arch in 80 90; do
  # -fmad=false: only explicit __fmaf_rn fuse, so shared helpers round alike
  # in every kernel (see common.cuh).
  nvcc -std=c++17 -O3 -fmad=false -arch=sm_$arch -ptx all.cu -o sm_$arch.ptx
  # A cubin build too, so every kernel is checked by ptxas, not just the front end.
  nvcc -std=c++17 -O3 -fmad=false -arch=sm_$arch -cubin all.cu -o /dev/null
done
cat $srcs | sha256sum | cut -d' ' -f1 >SOURCES.sha256
echo "cuda: regenerated sm_80.ptx sm_90.ptx for $(echo $srcs | tr '\n' ' ')"
