#!/usr/bin/env bash
# A fuzzing campaign with the property tests (crates/kres-datamodel/tests/datamodel/patch/properties.rs
# and lua/escape_props.rs there): rounds of every property with a large case count and a fresh recorded seed, until
# DURATION seconds have passed. The parser properties cover arbitrary bytes, YAML-like text and mutated corpus
# files (etc/config/examples, tests/golden/configs, as YAML and as JSON). Each round is bounded by `timeout`
# (ROUND_TIMEOUT): a hang fails the campaign like a panic does.
#
# usage: bench/fuzz.sh                 (DURATION=600 CASES=2000 LUA_CASES=500 ROUND_TIMEOUT=300)
# Writes the log of every round and a summary to target/fuzz/; prints the summary (for docs/reliability.md).
set -euo pipefail

DURATION=${DURATION:-600}
CASES=${CASES:-2000}
LUA_CASES=${LUA_CASES:-500}
ROUND_TIMEOUT=${ROUND_TIMEOUT:-300}
ROOT_DIR=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT_DIR/target/fuzz"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"

cd "$ROOT_DIR"
# Build once (debug: assertions and overflow checks on, and panics unwind so proptest shrinks a failure).
cargo test -p kres-datamodel --test datamodel --no-run 2>"$OUT/build.log"
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="$ROOT_DIR/scripts/in-root"

start=$(date +%s)
round=0
failed=0
: >"$SUMMARY"
echo "fuzz campaign $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD), duration ${DURATION}s" | tee -a "$SUMMARY"
while (( $(date +%s) - start < DURATION )); do
    round=$((round + 1))
    seed=$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
    for filter in "patch::properties::" "lua::escape_props::"; do
        name=${filter%%::*}
        cases=$CASES
        [[ $name == lua ]] && cases=$LUA_CASES
        log="$OUT/round-$round-$name.log"
        t0=$(date +%s)
        if PROPTEST_CASES=$cases PROPTEST_RNG_SEED=$seed timeout "$ROUND_TIMEOUT" \
            "$ROOT_DIR/scripts/sid-root.sh" with-mounts cargo test -q -p kres-datamodel --test datamodel -- "$filter" \
            >"$log" 2>&1; then
            result=ok
        else
            result="FAILED (exit $?; see $log)"
            failed=$((failed + 1))
        fi
        tests=$(grep -o '[0-9]* passed' "$log" | head -1 || true)
        echo "round $round $name seed=$seed cases/property=$cases ${tests:-?} $(( $(date +%s) - t0 ))s: $result" \
            | tee -a "$SUMMARY"
    done
done
elapsed=$(( $(date +%s) - start ))
echo "done: $round rounds in ${elapsed}s, $failed failed" | tee -a "$SUMMARY"
(( failed == 0 ))
