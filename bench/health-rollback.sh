#!/usr/bin/env bash
# Health-gated applies (docs/benchmarks-daemon.md, part F): the canary's extra start and the time from a health
# failure to restored service. Runs bench/health-rollback.py inside the sid root in a private network namespace
# (loopback only).
#   bench/health-rollback.sh BIN [--rounds N]      e.g. bench/health-rollback.sh target/release/knot-resolver
# KEEP=1 keeps each round's scratch directory (/tmp/kres-health-bench-* in the root).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="$(realpath "$1")"; shift
exec "$here/scripts/sid-root.sh" with-mounts chroot "${KRES_SID_ROOT:-/var/tmp/kres-sid-root}" \
    env KEEP="${KEEP:-}" unshare --net -- sh -c 'ip link set lo up && exec python3 "$@"' \
    sh "$here/bench/health-rollback.py" --bin "$bin" "$@"
