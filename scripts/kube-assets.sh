#!/usr/bin/env bash
# Installs the control-plane binaries the Kubernetes provider's tests run (etcd and
# kube-apiserver, no kubelet) into $1, once per version. kube-apiserver has no Go-installable
# module of its own: k8s.io/kubernetes points its staging modules at ./staging, so a scratch
# module replaces each with the published k8s.io/X v0.<minor>.<patch> and builds the command.
set -euo pipefail
dest=$1 version=$2
mkdir -p "$dest"

if [ ! -x "$dest/etcd" ]; then
  if ! command -v etcd >/dev/null && [ ! -x /usr/bin/etcd ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
  fi
  # Debian's unit would start a system etcd on 2379; tests run their own on free ports.
  systemctl disable --now etcd >/dev/null 2>&1 || true
  cp "$(command -v etcd || echo /usr/bin/etcd)" "$dest/etcd"
fi

if [ ! -x "$dest/kube-apiserver" ]; then
  scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
  cd "$scratch"
  go mod init graft.local/kubeassets >/dev/null 2>&1
  gomod=$(go mod download -json "k8s.io/kubernetes@v$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  staging_version="v0.${version#*.}"
  sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" | sort -u | while read -r m; do
    echo "replace $m => $m $staging_version" >> go.mod
  done
  go get "k8s.io/kubernetes/cmd/kube-apiserver@v$version"
  major=${version%%.*} rest=${version#*.} minor=${rest%%.*}
  CGO_ENABLED=0 go build -trimpath -o "$dest/kube-apiserver.tmp" -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=v$version \
    -X k8s.io/component-base/version.gitMajor=$major \
    -X k8s.io/component-base/version.gitMinor=$minor" k8s.io/kubernetes/cmd/kube-apiserver
  mv "$dest/kube-apiserver.tmp" "$dest/kube-apiserver"
fi
"$dest/kube-apiserver" --version
"$dest/etcd" --version | head -1
