#!/usr/bin/env bash
# Benchmark: whole-process `kresctl validate` and `kresctl convert` of our kresctl (release build) against the
# reference's (/usr/bin/kresctl, Python, from Debian's knot-resolver6) inside the Debian sid root.
#
# Inputs: every valid example configuration of this repository (etc/config/examples) and generated large ones
# (bench/gen-config.py): /forward with FORWARD_SIZES items, /local-data/addresses with ADDRESS_SIZES names.
# Method: hyperfine (installed into the root on first use), `--shell=none`, warm-up runs, outputs discarded;
# without hyperfine, a loop timing each run with `date +%s%N`. Results: JSON per case and a Markdown table
# (results.md) in the output directory; the table is printed at the end.
#
# Usage: bench/validate-convert.sh [--quick]
#   --quick            fewer runs and smaller generated inputs (a smoke test of the script, not a measurement)
# Environment:
#   KRES_BENCH_DIR     output directory (default: <workspace>/target/bench/validate-convert; must be inside the
#                      workspace, which is what the root can see)
#   FORWARD_SIZES      default "1000 10000 100000"
#   ADDRESS_SIZES      default "1000 10000 100000"
#   KRES_BENCH_NO_BUILD=1  use the existing target/release/kresctl
#   KRES_BENCH_NO_HYPERFINE=1  use the date loop even if hyperfine is available
#   KRES_BENCH_CANDIDATE   another kresctl binary (inside the workspace) measured as a third column, e.g. a build
#                      with a datamodel change being evaluated
# Must run as root (chroot). Uses scripts/sid-root.sh (build + with-mounts) like `cargo xtask test`.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
WORKSPACE="$(cd "$SCRIPT_DIR/.." && pwd -P)"
SID_ROOT="$WORKSPACE/scripts/sid-root.sh"
OUT="${KRES_BENCH_DIR:-$WORKSPACE/target/bench/validate-convert}"
OURS="$WORKSPACE/target/release/kresctl"
REFERENCE=/usr/bin/kresctl
CANDIDATE="${KRES_BENCH_CANDIDATE:-}"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# --- inside the root: measure ---------------------------------------------------------------------------------------

have_hyperfine() {
    [[ "${KRES_BENCH_NO_HYPERFINE:-0}" != 1 ]] && command -v hyperfine >/dev/null
}

ensure_hyperfine() {
    [[ "${KRES_BENCH_NO_HYPERFINE:-0}" == 1 ]] && return 0
    command -v hyperfine >/dev/null && return 0
    log "installing hyperfine into the sid root (Debian package)"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends hyperfine >/dev/null 2>&1 ||
        { apt-get update >/dev/null 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends hyperfine >/dev/null 2>&1; }; }; then
        log "cannot install hyperfine; falling back to a date +%s%N loop"
    fi
}

# loop_measure NAME RUNS WARMUP JSON CMD...: hyperfine-like JSON ({"results": [{command, mean, stddev, ...}]}).
loop_measure() {
    local name="$1" runs="$2" warmup="$3" json="$4"
    shift 4
    local i t0 t1 times=()
    for ((i = 0; i < warmup; i++)); do "$@" >/dev/null 2>&1 || die "failed: $*"; done
    for ((i = 0; i < runs; i++)); do
        t0=$(date +%s%N)
        "$@" >/dev/null 2>&1 || die "failed: $*"
        t1=$(date +%s%N)
        times+=("$(((t1 - t0) / 1000))")
    done
    python3 - "$name" "$json" "$*" "${times[@]}" <<'EOF'
import json, statistics, sys
name, path, command, *micros = sys.argv[1:]
t = [int(m) / 1e6 for m in micros]
json.dump({"results": [{"command": name, "command_line": command, "mean": statistics.mean(t),
                        "stddev": statistics.stdev(t) if len(t) > 1 else 0.0, "median": statistics.median(t),
                        "min": min(t), "max": max(t), "times": t}]}, open(path, "w"))
EOF
}

# measure CASE IMPL ARGS...: one implementation on one case. The number of runs follows the duration of a first
# (checking) run: many short runs, a few long ones.
measure() {
    local case="$1" impl="$2"
    shift 2
    local bin warmup runs_min runs_max t0 t1 json="$OUT/results/$case.$impl.json"
    case "$impl" in
        ours) bin="$OURS" ;;
        candidate) bin="$CANDIDATE" ;;
        *) bin="$REFERENCE" ;;
    esac
    t0=$(date +%s%N)
    "$bin" "$@" >/dev/null 2>"$OUT/results/$case.$impl.stderr" ||
        die "$impl kresctl $* failed: $(head -c 2000 "$OUT/results/$case.$impl.stderr")"
    t1=$(date +%s%N)
    if ((t1 - t0 < 100000000)); then
        warmup=3 runs_min=20 runs_max=300
    elif ((t1 - t0 < 2000000000)); then
        warmup=1 runs_min=5 runs_max=30
    else
        warmup=0 runs_min=3 runs_max=3
    fi
    if [[ "$QUICK" == 1 ]]; then warmup=1 runs_min=2 runs_max=3; fi
    if have_hyperfine; then
        hyperfine --shell=none --style=none --warmup "$warmup" --min-runs "$runs_min" --max-runs "$runs_max" \
            --export-json "$json" --command-name "$impl" -- "$(printf '%q ' "$bin" "$@")" \
            >"$OUT/results/$case.$impl.log" 2>&1 ||
            die "hyperfine failed for $impl kresctl $*: $(tail -c 2000 "$OUT/results/$case.$impl.log")"
    else
        loop_measure "$impl" "$runs_min" "$warmup" "$json" "$bin" "$@"
    fi
}

inner() {
    cd "$OUT/inputs"
    ensure_hyperfine
    mkdir -p "$OUT/results"
    rm -f "$OUT"/results/*
    {
        echo "nproc=$(nproc)"
        echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
        echo "kernel=$(uname -r)"
        echo "reference=$("$REFERENCE" --version 2>&1 | tail -1) (python $(python3 -c 'import sys; print(sys.version.split()[0])'))"
        echo "ours=$("$OURS" --version)"
        [[ -z "$CANDIDATE" ]] || echo "candidate=$CANDIDATE"
        if have_hyperfine; then echo "method=$(hyperfine --version) --shell=none"; else echo "method=date +%s%N loop"; fi
    } >"$OUT/results/machine.txt"
    local f case impl IMPLS="reference ours"
    [[ -n "$CANDIDATE" ]] && IMPLS="$IMPLS candidate"
    for f in *.yaml; do
        case="${f%.yaml}"
        log "$case"
        for impl in $IMPLS; do
            measure "$case.validate" "$impl" validate "$f"
            measure "$case.convert-worker" "$impl" convert "$f"
            measure "$case.convert-policy-loader" "$impl" convert --type policy-loader "$f"
        done
    done
}

# --- on the host: prepare, enter the root, summarize --------------------------------------------------------------

prepare_inputs() {
    local in="$OUT/inputs" n
    rm -rf "$in"
    mkdir -p "$in"
    local examples="$WORKSPACE/etc/config/examples" f
    for f in "$examples"/config.*.yaml; do
        case "$(basename "$f")" in config.old-format*) continue ;; esac # old format: refused by design
        cp "$f" "$in/"
    done
    for n in $FORWARD_SIZES; do python3 "$SCRIPT_DIR/gen-config.py" forward "$n" "$in/gen-forward-$n.yaml"; done
    for n in $ADDRESS_SIZES; do python3 "$SCRIPT_DIR/gen-config.py" addresses "$n" "$in/gen-addresses-$n.yaml"; done
}

main() {
    QUICK=0
    if [[ "${1:-}" == --inner ]]; then
        QUICK="${2:-0}"
        inner
        return
    fi
    if [[ "${1:-}" == --quick ]]; then
        QUICK=1
        : "${FORWARD_SIZES:=100 1000}"
        : "${ADDRESS_SIZES:=1000 10000}"
    fi
    : "${FORWARD_SIZES:=1000 10000 100000}"
    : "${ADDRESS_SIZES:=1000 10000 100000}"
    [[ $(id -u) -eq 0 ]] || die "must run as root (the benchmark runs inside the sid root through chroot)"
    case "$OUT" in
        "$WORKSPACE"/*) ;;
        *) die "KRES_BENCH_DIR=$OUT is not inside the workspace $WORKSPACE, so the sid root cannot see it" ;;
    esac
    if [[ "${KRES_BENCH_NO_BUILD:-0}" != 1 ]]; then
        log "building kresctl (release)"
        (cd "$WORKSPACE" && cargo build --release --quiet -p kresctl)
    fi
    [[ -x "$OURS" ]] || die "$OURS is missing (build it with: cargo build --release -p kresctl)"
    if [[ -n "$CANDIDATE" ]]; then
        CANDIDATE="$(realpath "$CANDIDATE")"
        [[ -x "$CANDIDATE" && "$CANDIDATE" == "$WORKSPACE"/* ]] ||
            die "KRES_BENCH_CANDIDATE=$CANDIDATE must be an executable inside the workspace (the root sees only that)"
        export KRES_BENCH_CANDIDATE="$CANDIDATE"
    fi
    "$SID_ROOT" build
    prepare_inputs
    "$SID_ROOT" with-mounts "$SID_ROOT" exec /bin/bash "$SCRIPT_DIR/validate-convert.sh" --inner "$QUICK"
    python3 "$SCRIPT_DIR/summarize.py" "$OUT" | tee "$OUT/results.md"
}

main "$@"
