#!/usr/bin/env bash
# A newcomer's first run, measured: from `git clone` to `sandbox ready` with empty caches
# (Go modules, Go's build cache, kplat's cache of binaries and npm packages), each phase
# timed. npm's own download cache is the machine's. Takes a quarter of an hour or more and
# both cores; run it from the project's root: `npm run bench:first-run`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/kplat-first-run-XXXXXX")
export GOMODCACHE=$work/go-mod GOCACHE=$work/go-build KPLAT_CACHE=$work/kplat-cache
sandbox=
cleanup() {
  [ -z "$sandbox" ] || kill -TERM "$sandbox" 2>/dev/null || true
  [ -z "$sandbox" ] || wait "$sandbox" 2>/dev/null || true
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

began=$SECONDS
git clone -q "$root" "$work/kplat"
cd "$work/kplat"
npm ci --no-audit --no-fund >"$work/npm-ci.log" 2>&1
installed=$SECONDS

npm run --silent sandbox >"$work/sandbox.log" 2>&1 &
sandbox=$!
until grep -q '^sandbox ready' "$work/sandbox.log"; do
  kill -0 "$sandbox" 2>/dev/null || { tail -n 40 "$work/sandbox.log" >&2; exit 1; }
  sleep 1
done
ready=$SECONDS

echo "first run, clone to sandbox ready: $((ready - began)) s"
echo "  git clone and npm ci: $((installed - began)) s"
echo "  npm run sandbox until ready: $((ready - installed)) s, of which:"
grep -E '^provide-binaries: built ' "$work/sandbox.log" | sed 's/^provide-binaries: /    /'
grep -E '^ground: installed |^# started in' "$work/sandbox.log" | sed 's/^/    /' || true
