#!/usr/bin/env bash
# Fleet rollout time with real nodes (docs/fleet.md, "Scale"): a real 3-member etcd cluster in the sid root and
# KRES_BENCH_FLEET_NODES (default 5) real managers with one kresd worker each; KRES_BENCH_ROUNDS (default 3)
# generations published, each rollout's time compared with the sum of the nodes' own apply times (their history's
# duration_ms, health hold included). Prints one line per round. Then the in-memory 1,000-node simulation.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo xtask test -p kres-manager -E 'test(fleet_bench_rollout_time_against_single_node_applies)' \
    --run-ignored only --no-capture 2>&1 | grep -E '^fleet (rollout|bench)|PASS|FAIL'
cargo xtask test -p kres-fleet -E 'test(scale_rollout_across_1000_nodes)' --no-capture 2>&1 | grep -Ei 'nodes|PASS|FAIL'
