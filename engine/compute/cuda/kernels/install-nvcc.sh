#!/usr/bin/env bash
# Installs nvcc 11.8 from Debian bookworm's non-free component when it is missing.
# The machine's apt source lists only main, so a second source for the same archive
# with contrib and non-free is added, signed by the Debian archive keyring.
set -euo pipefail
command -v nvcc >/dev/null && exit 0
src=/etc/apt/sources.list.d/graft-cuda-nonfree.sources
if [ ! -f "$src" ]; then
  cat >"$src" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit >/dev/null
nvcc --version | tail -n 2
