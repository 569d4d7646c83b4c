#!/usr/bin/env bash
# Provides the proving ground's binaries at pinned versions: kube-apiserver,
# kube-controller-manager, kube-scheduler, etcd, kwok and helm.
#
# Uses $KUBEBUILDER_ASSETS when it holds a binary (the envtest convention), else the
# cache, else builds from the Go modules. Prints the directory that holds them all.
# A second run only checks the cache, so it takes well under a second.
set -euo pipefail

K8S_VERSION=1.35.4      # kube-apiserver, controller-manager, scheduler
ETCD_VERSION=3.6.5      # the etcd server that k8s.io/kubernetes v$K8S_VERSION pins
KWOK_VERSION=0.8.0
HELM_VERSION=3.19.5

cache=${KPLAT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kplat}
out="$cache/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION"
mkdir -p "$out"

log() { echo "provide-binaries: $*" >&2; }

# A binary found in KUBEBUILDER_ASSETS is linked in rather than built.
for b in kube-apiserver kube-controller-manager kube-scheduler etcd; do
  if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/$b" ] && [ ! -x "$out/$b" ]; then
    ln -sf "$KUBEBUILDER_ASSETS/$b" "$out/$b"
  fi
done

missing() { for b in "$@"; do [ -x "$out/$b" ] || return 0; done; return 1; }

export GOFLAGS="${GOFLAGS:-} -trimpath"
export CGO_ENABLED=0

if missing kube-apiserver kube-controller-manager kube-scheduler etcd; then
  log "building Kubernetes v$K8S_VERSION and etcd v$ETCD_VERSION from Go modules (first run only: about 20 minutes on 2 cores)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  minor=${K8S_VERSION#*.}; minor=${minor%%.*}
  # k8s.io/kubernetes points its staging modules at ./staging; a throw-away module
  # replaces each with its published twin at the matching v0 version.
  (
    cd "$work"
    go mod init kplat.local/k8s-binaries >/dev/null 2>&1
    go mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
    gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" | while read -r m; do
      go mod edit -replace="$m=$m@v0.${K8S_VERSION#*.}"
    done
    go mod edit -require="go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
    go mod tidy -e >/dev/null 2>&1 || true
    go mod download
    pkg=k8s.io/component-base/version
    ld="-s -w -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    go build -ldflags "$ld" -o "$work/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler
    go build -ldflags "-s -w" -o "$work/etcd" go.etcd.io/etcd/server/v3
    for b in kube-apiserver kube-controller-manager kube-scheduler etcd; do
      [ -x "$out/$b" ] || mv "$work/$b" "$out/$b"
    done
  )
fi

if missing kwok; then
  log "building kwok v$KWOK_VERSION"
  GOBIN="$out" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
fi

# kwok's own CRDs for per-pod logs and port-forwards, as the module publishes them.
if [ ! -f "$out/kwok-crds/kwok.x-k8s.io_portforwards.yaml" ]; then
  kwok_dir=$(go mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  mkdir -p "$out/kwok-crds"
  for crd in logs clusterlogs portforwards clusterportforwards; do
    cp "$kwok_dir/kustomize/crd/bases/kwok.x-k8s.io_$crd.yaml" "$out/kwok-crds/"
  done
  chmod -R u+w "$out/kwok-crds"
fi

if missing helm; then
  log "building helm v$HELM_VERSION"
  GOBIN="$out" go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
fi

echo "$out"
