#!/usr/bin/env bash
# Queries lost over UDP, TCP and DoT during forced reloads under load (docs/benchmarks-daemon.md, "Stream
# transports"). Runs bench/stream-drain.py inside the sid root in a private network namespace (loopback only), with
# net.ipv4.tcp_migrate_req as given (default: left at the namespace's default, 0; the manager may enable it).
#   bench/stream-drain.sh BIN [ARGS for stream-drain.py...]     e.g. bench/stream-drain.sh target/release/knot-resolver --mode tcp --client conn --load half
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="$(realpath "$1")"; shift
migrate="${TCP_MIGRATE_REQ:-}"
exec "$here/scripts/sid-root.sh" with-mounts chroot "${KRES_SID_ROOT:-/var/tmp/kres-sid-root}" env LOGLEVEL="${LOGLEVEL:-notice}" SHOWLOG="${SHOWLOG:-}" \
    unshare --net -- sh -c 'ip link set lo up; if [ -n "$1" ]; then echo "$1" > /proc/sys/net/ipv4/tcp_migrate_req; fi; shift; exec python3 "$@"' \
    sh "$migrate" "$here/bench/stream-drain.py" --bin "$bin" "$@"
