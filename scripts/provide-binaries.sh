#!/usr/bin/env bash
# Provides the proving ground's binaries at pinned versions: kube-apiserver,
# kube-controller-manager, kube-scheduler, etcd, kwok and helm; Argo CD (one binary, every
# component); Crossplane core, function-patch-and-transform and provider-nop.
#
# Uses $KUBEBUILDER_ASSETS when it holds a binary (the envtest convention), else the
# cache, else builds from the Go modules. Each part is cached in a folder named by its own
# versions, so raising one version rebuilds only that part. Prints one folder that links
# them all by name. A second run only checks the cache, so it takes well under a second.
#
# A first run builds the missing parts two at a time (KPLAT_BUILD_JOBS): Go compiles on
# every core, and one part's module download and link overlap another's compile. It says
# what it builds, for how long, and how long each part is expected to take: a status line
# on a terminal, a line a minute otherwise. Each part's output is in $cache/logs/PART.log,
# and its tail is printed when it fails.
#
# `--only NAME` builds just one part (k8s, argocd, crossplane, function-pat, provider-nop,
# function-auto-ready). `--for sandbox` leaves out function-auto-ready, which only the
# tests use (to render the cloud compositions).
set -euo pipefail

K8S_VERSION=1.35.4      # kube-apiserver, controller-manager, scheduler
ETCD_VERSION=3.6.5      # the etcd server that k8s.io/kubernetes v$K8S_VERSION pins
KWOK_VERSION=0.8.0
HELM_VERSION=3.19.5
ARGOCD_VERSION=3.2.11   # the newest that builds as a module (3.2.12 does not compile; 3.3 wants a vendored gitops-engine)
CROSSPLANE_VERSION=2.4.0
FUNCTION_PAT_VERSION=0.10.9
PROVIDER_NOP_VERSION=0.5.0
FUNCTION_AUTO_READY_VERSION=0.5.1  # only for rendering the cloud compositions (function-go-templating is not served)

only=
purpose=tests
case "${1:-}" in
  --only) only=$2 ;;
  --for) purpose=$2 ;;
esac
want() {
  if [ -n "$only" ]; then
    [ "$only" = "$1" ]
    return
  fi
  [ "$purpose" != sandbox ] || [ "$1" != function-auto-ready ]
}

cache=${KPLAT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kplat}
out="$cache/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION"
argocd_out="$cache/bin/argocd-$ARGOCD_VERSION"
crossplane_out="$cache/bin/crossplane-$CROSSPLANE_VERSION"
pat_out="$cache/bin/function-patch-and-transform-$FUNCTION_PAT_VERSION"
nop_out="$cache/bin/provider-nop-$PROVIDER_NOP_VERSION"
ready_out="$cache/bin/function-auto-ready-$FUNCTION_AUTO_READY_VERSION"
mkdir -p "$out" "$argocd_out" "$crossplane_out" "$pat_out" "$nop_out" "$ready_out"

log() { echo "provide-binaries: $*" >&2; }

# Debian packages the ground runs beside the binaries: git (for real, always), redis-server
# (Argo CD's cache), ip, unshare and nsenter (the ground's network namespace), openssl (the
# certificates Crossplane dials its function with). Installed when missing, as root;
# otherwise named, with the command to type.
missing=()
for pair in git:git redis-server:redis-server ip:iproute2 unshare:util-linux nsenter:util-linux openssl:openssl; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${missing[*]}"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  else
    echo "provide-binaries: missing ${missing[*]}; install them first (Debian: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

# A binary found in KUBEBUILDER_ASSETS is linked in rather than built.
for b in kube-apiserver kube-controller-manager kube-scheduler etcd; do
  if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/$b" ] && [ ! -x "$out/$b" ]; then
    ln -sf "$KUBEBUILDER_ASSETS/$b" "$out/$b"
  fi
done

missing() { for b in "$@"; do [ -x "$out/$b" ] || return 0; done; return 1; }

export GOFLAGS="${GOFLAGS:-} -trimpath"
export CGO_ENABLED=0
# The compiler collects garbage less often: the builds are CPU-bound on 2 cores, and memory
# (a few GB a compile at most) is what this machine has to spare.
export GOGC="${GOGC:-400}"

logs="$cache/logs"
mkdir -p "$logs"
# Each part notes how long its module download and its build took, for the closing line.
phase_start() { phase_began=$SECONDS; }
phase_end() { echo "$1 $((SECONDS - phase_began))" >> "$logs/$part.times"; }

# Builds one main package of a module at an exact version in a throw-away module (the
# module proxy serves these versions to `go get`, though not always to `go install`).
# $1 output binary, $2 module@version, $3 package, $4 ldflags; extra go.mod lines on stdin.
build_in_module() {
  local bin=$1 modver=$2 pkg=$3 ld=$4 work
  work=$(mktemp -d)
  (
    cd "$work"
    go mod init kplat.local/build
    cat >> go.mod
    phase_start
    go get "$pkg@${modver#*@}"
    phase_end download
    phase_start
    go build -ldflags "-s -w $ld" -o "$bin.tmp" "$pkg"
    mv "$bin.tmp" "$bin"
    phase_end build
  )
  local rc=$?
  rm -rf "$work"
  return $rc
}

module_dir() { go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'; }

# The parts: each a function that builds what is missing of it, and a test of whether
# anything is. Expected times are those measured on 2 cores with empty Go caches.
need_k8s() { missing kube-apiserver kube-controller-manager kube-scheduler etcd kwok helm || [ ! -f "$out/kwok-crds/kwok.x-k8s.io_portforwards.yaml" ]; }
part_k8s() {
  if missing kube-apiserver kube-controller-manager kube-scheduler etcd; then
    local minor
    # Not local: the EXIT trap runs after this function has returned.
    k8s_work=$(mktemp -d)
    trap 'rm -rf "${k8s_work:-}"' EXIT
    local work=$k8s_work
    minor=${K8S_VERSION#*.}; minor=${minor%%.*}
    # k8s.io/kubernetes points its staging modules at ./staging; a throw-away module
    # replaces each with its published twin at the matching v0 version.
    cd "$work"
    go mod init kplat.local/k8s-binaries
    go mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
    phase_start
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
    phase_end download
    phase_start
    local pkg=k8s.io/component-base/version
    local ld="-s -w -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    go build -ldflags "$ld" -o "$work/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler
    go build -ldflags "-s -w" -o "$work/etcd" go.etcd.io/etcd/server/v3
    phase_end build
    for b in kube-apiserver kube-controller-manager kube-scheduler etcd; do
      [ -x "$out/$b" ] || mv "$work/$b" "$out/$b"
    done
    cd /
  fi
  if missing kwok; then
    GOBIN="$out" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  fi
  # kwok's own CRDs for per-pod logs and port-forwards, as the module publishes them.
  if [ ! -f "$out/kwok-crds/kwok.x-k8s.io_portforwards.yaml" ]; then
    local kwok_dir
    kwok_dir=$(module_dir "sigs.k8s.io/kwok@v$KWOK_VERSION")
    mkdir -p "$out/kwok-crds"
    for crd in logs clusterlogs portforwards clusterportforwards; do
      cp "$kwok_dir/kustomize/crd/bases/kwok.x-k8s.io_$crd.yaml" "$out/kwok-crds/"
    done
    chmod -R u+w "$out/kwok-crds"
  fi
  if missing helm; then
    GOBIN="$out" go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  fi
}

# Argo CD: its go.mod pins k8s.io/* and a few others through a replace block that a module
# depending on it must repeat, or the build picks incompatible versions. Its CRDs as this
# version ships them (the controller must find the schema it was built for).
need_argocd() { [ ! -x "$argocd_out/argocd" ] || [ ! -f "$argocd_out/crds/application-crd.yaml" ]; }
part_argocd() {
  local mod="github.com/argoproj/argo-cd/v3@v$ARGOCD_VERSION"
  if [ ! -x "$argocd_out/argocd" ]; then
    local gomod pkg=github.com/argoproj/argo-cd/v3/common
    gomod=$(go mod download -json "$mod" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    sed -n '/^replace (/,/^)/p' "$gomod" | build_in_module "$argocd_out/argocd" "$mod" \
      github.com/argoproj/argo-cd/v3/cmd "-X $pkg.version=$ARGOCD_VERSION -X $pkg.gitTreeState=clean"
  fi
  if [ ! -f "$argocd_out/crds/application-crd.yaml" ]; then
    local dir
    dir=$(module_dir "$mod")
    mkdir -p "$argocd_out/crds"
    cp "$dir"/manifests/crds/*-crd.yaml "$argocd_out/crds/"
    chmod -R u+w "$argocd_out/crds"
  fi
}

# Crossplane core points its apis module at a folder of its repository; the published twin
# of the same version replaces it.
need_crossplane() { [ ! -x "$crossplane_out/crossplane" ] || [ ! -f "$crossplane_out/render.proto" ]; }
part_crossplane() {
  local mod="github.com/crossplane/crossplane/v2@v$CROSSPLANE_VERSION"
  if [ ! -x "$crossplane_out/crossplane" ]; then
    echo "replace github.com/crossplane/crossplane/apis/v2 => github.com/crossplane/crossplane/apis/v2 v$CROSSPLANE_VERSION" |
      build_in_module "$crossplane_out/crossplane" "$mod" \
        github.com/crossplane/crossplane/v2/cmd/crossplane "-X github.com/crossplane/crossplane-runtime/v2/pkg/version.version=v$CROSSPLANE_VERSION"
  fi
  if [ ! -f "$crossplane_out/render.proto" ]; then
    local dir
    dir=$(module_dir "$mod")
    mkdir -p "$crossplane_out/crds"
    cp "$dir"/cluster/crds/*.yaml "$crossplane_out/crds/"
    # The protocol of `crossplane internal render`, which renders a composition offline.
    cp "$dir"/proto/render/v1alpha1/render.proto "$crossplane_out/render.proto"
    chmod -R u+w "$crossplane_out/crds" "$crossplane_out/render.proto"
  fi
}

need_function-pat() { [ ! -x "$pat_out/function-patch-and-transform" ]; }
part_function-pat() {
  build_in_module "$pat_out/function-patch-and-transform" "github.com/crossplane-contrib/function-patch-and-transform@v$FUNCTION_PAT_VERSION" \
    github.com/crossplane-contrib/function-patch-and-transform "" </dev/null
}

need_provider-nop() { [ ! -x "$nop_out/provider-nop" ] || [ ! -f "$nop_out/crds/.done" ]; }
part_provider-nop() {
  local mod="github.com/crossplane-contrib/provider-nop@v$PROVIDER_NOP_VERSION"
  if [ ! -x "$nop_out/provider-nop" ]; then
    build_in_module "$nop_out/provider-nop" "$mod" github.com/crossplane-contrib/provider-nop/cmd/provider "" </dev/null
  fi
  if [ ! -f "$nop_out/crds/.done" ]; then
    local dir
    dir=$(module_dir "$mod")
    mkdir -p "$nop_out/crds"
    cp "$dir"/package/crds/*.yaml "$nop_out/crds/"
    chmod -R u+w "$nop_out/crds"
    touch "$nop_out/crds/.done"
  fi
}

need_function-auto-ready() { [ ! -x "$ready_out/function-auto-ready" ]; }
part_function-auto-ready() {
  # Published under crossplane-contrib, its go.mod still names the module crossplane/.
  printf 'require github.com/crossplane/function-auto-ready v%s\nreplace github.com/crossplane/function-auto-ready => github.com/crossplane-contrib/function-auto-ready v%s\n' \
    "$FUNCTION_AUTO_READY_VERSION" "$FUNCTION_AUTO_READY_VERSION" |
    build_in_module "$ready_out/function-auto-ready" "github.com/crossplane/function-auto-ready@v$FUNCTION_AUTO_READY_VERSION" \
      github.com/crossplane/function-auto-ready ""
}

# name|what it is|seconds it took on 2 cores with empty Go caches, two parts at a time;
# longest first, so that the two builds at a time end close together.
PARTS=(
  "k8s|Kubernetes v$K8S_VERSION, etcd v$ETCD_VERSION, kwok and helm|810"
  "argocd|Argo CD v$ARGOCD_VERSION|540"
  "crossplane|Crossplane v$CROSSPLANE_VERSION|235"
  "function-pat|function-patch-and-transform v$FUNCTION_PAT_VERSION|80"
  "provider-nop|provider-nop v$PROVIDER_NOP_VERSION|60"
  "function-auto-ready|function-auto-ready v$FUNCTION_AUTO_READY_VERSION|60"
)

mmss() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

todo=()
for entry in "${PARTS[@]}"; do
  name=${entry%%|*}
  if want "$name" && "need_$name"; then todo+=("$entry"); fi
done

if [ ${#todo[@]} -gt 0 ]; then
  jobs=${KPLAT_BUILD_JOBS:-2}
  expected=0
  for entry in "${todo[@]}"; do expected=$((expected + ${entry##*|})); done
  log "building ${#todo[@]} part(s) from Go modules, $jobs at a time (first run only; about $(mmss $((expected / jobs + 60))) on 2 cores with empty Go caches); logs in $logs"
  tty=false
  [ -t 2 ] && tty=true
  declare -A pid_of=() began_of=()
  began=$SECONDS
  next=0
  failed=
  last_line=$SECONDS
  # After a failure nothing new starts; what runs is let finish (its cache stays good).
  while { [ -z "$failed" ] && [ $next -lt ${#todo[@]} ]; } || [ ${#pid_of[@]} -gt 0 ]; do
    while [ -z "$failed" ] && [ $next -lt ${#todo[@]} ] && [ ${#pid_of[@]} -lt "$jobs" ]; do
      entry=${todo[$next]}; next=$((next + 1))
      IFS='|' read -r name what secs <<<"$entry"
      rm -f "$logs/$name.times"
      (part=$name; "part_$name") >"$logs/$name.log" 2>&1 &
      pid_of[$name]=$!
      began_of[$name]=$SECONDS
      $tty && printf '\r\033[K' >&2
      log "[$next/${#todo[@]}] building $what (expected about $(mmss "$secs"))"
    done
    sleep 1
    for name in "${!pid_of[@]}"; do
      if ! kill -0 "${pid_of[$name]}" 2>/dev/null; then
        rc=0; wait "${pid_of[$name]}" || rc=$?
        took=$((SECONDS - ${began_of[$name]}))
        split=$(awk '{t[$1]+=$2} END {if (length(t)) printf " (module download %dm%02ds, build %dm%02ds)", t["download"]/60, t["download"]%60, t["build"]/60, t["build"]%60}' "$logs/$name.times" 2>/dev/null || true)
        unset "pid_of[$name]"
        $tty && printf '\r\033[K' >&2
        if [ $rc -ne 0 ]; then
          log "building $name failed after $(mmss $took); the end of $logs/$name.log:"
          tail -n 40 "$logs/$name.log" >&2
          failed=$name
        else
          log "built $name in $(mmss $took)$split"
        fi
      fi
    done
    if [ ${#pid_of[@]} -gt 0 ]; then
      status="building ${!pid_of[*]}: $(mmss $((SECONDS - began))) of about $(mmss $((expected / jobs + 60)))"
      if $tty; then
        printf '\r\033[K%s' "provide-binaries: $status" >&2
      elif [ $((SECONDS - last_line)) -ge 60 ]; then
        log "$status"
        last_line=$SECONDS
      fi
    fi
  done
  [ -z "$failed" ] || exit 1
  log "built ${#todo[@]} part(s) in $(mmss $((SECONDS - began)))"
fi

[ -z "$only" ] || exit 0

# One folder that names every part, linked to where each is cached.
all="$cache/bin/ground-$K8S_VERSION-$ETCD_VERSION-$KWOK_VERSION-$HELM_VERSION-$ARGOCD_VERSION-$CROSSPLANE_VERSION-$FUNCTION_PAT_VERSION-$PROVIDER_NOP_VERSION-$FUNCTION_AUTO_READY_VERSION"
mkdir -p "$all"
for f in kube-apiserver kube-controller-manager kube-scheduler etcd kwok helm kwok-crds; do ln -sfn "$out/$f" "$all/$f"; done
ln -sfn "$argocd_out/argocd" "$all/argocd"
ln -sfn "$argocd_out/crds" "$all/argocd-crds"
ln -sfn "$crossplane_out/crossplane" "$all/crossplane"
ln -sfn "$crossplane_out/crds" "$all/crossplane-crds"
ln -sfn "$pat_out/function-patch-and-transform" "$all/function-patch-and-transform"
ln -sfn "$nop_out/provider-nop" "$all/provider-nop"
ln -sfn "$nop_out/crds" "$all/provider-nop-crds"
ln -sfn "$ready_out/function-auto-ready" "$all/function-auto-ready"
ln -sfn "$crossplane_out/render.proto" "$all/crossplane-render.proto"
echo "$all"
