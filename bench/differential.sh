#!/usr/bin/env bash
# Differential validation at scale: our `kresctl validate` against the reference's (/usr/bin/kresctl, Python, from
# Debian's knot-resolver6) on COUNT documents generated from our JSON Schema with SEED, inside the Debian sid root.
#
# It runs the test `differential_validate_agrees_with_reference` of the kresctl `cli` test binary (the same test
# CI runs on a few hundred documents) with KRES_DIFF_COUNT and KRES_DIFF_SEED, outside nextest, so there is no
# time limit. The summary (documents, agreements, each intentional difference) is printed at the end; disagreeing
# documents are written with both outputs to target/tmp/differential-SEED/ (report.txt lists them all).
# See docs/differential.md.
#
# Usage: bench/differential.sh [COUNT [SEED]]     (defaults: 3000 documents, seed 1)
# Must run as root (chroot). Uses scripts/sid-root.sh (build + with-mounts) like `cargo xtask test`.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
WORKSPACE="$(cd "$SCRIPT_DIR/.." && pwd -P)"
SID_ROOT="$WORKSPACE/scripts/sid-root.sh"
COUNT="${1:-3000}"
SEED="${2:-1}"

log() { printf 'differential: %s\n' "$*" >&2; }
die() { printf 'differential: error: %s\n' "$*" >&2; exit 1; }

[[ "$COUNT" =~ ^[0-9]+$ && "$SEED" =~ ^[0-9]+$ ]] || die "usage: $0 [COUNT [SEED]] (whole numbers)"
[[ $(id -u) -eq 0 ]] || die "must run as root (the reference runs inside the sid root through chroot)"

log "building kresctl and its cli test binary"
cd "$WORKSPACE"
cargo build --quiet -p kresctl
test_bin="$(cargo test --quiet -p kresctl --test cli --no-run --message-format=json |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "cli" and m.get("executable"):
        print(m["executable"])')"
[[ -x "$test_bin" ]] || die "cannot find the kresctl cli test binary"

"$SID_ROOT" build
log "$COUNT documents, seed $SEED"
start=$(date +%s)
status=0
KRES_DIFF_COUNT="$COUNT" KRES_DIFF_SEED="$SEED" "$SID_ROOT" with-mounts "$WORKSPACE/scripts/in-root" "$test_bin" \
    differential::differential_validate_agrees_with_reference --exact --nocapture --test-threads 1 || status=$?
log "took $(($(date +%s) - start)) s; exit status $status"
if [[ $status -ne 0 ]]; then
    log "disagreements: $WORKSPACE/target/tmp/differential-$SEED/report.txt"
fi
exit "$status"
