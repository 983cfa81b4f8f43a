#!/usr/bin/env bash
# Queries lost over UDP, TCP and DoT during forced reloads under load (docs/benchmarks-daemon.md, part D). Runs
# bench/stream-drain.py inside the sid root in a private network namespace (loopback only).
#   bench/stream-drain.sh BIN [ARGS for stream-drain.py...]
#   e.g. bench/stream-drain.sh target/release/knot-resolver --mode tcp --client conn --load half
# TCP_MIGRATE_REQ=0|1 presets net.ipv4.tcp_migrate_req in the namespace (default: the kernel's 0; the package
# sets 1 with a sysctl.d file, the manager only checks it and warns); TCP_MIGRATE_REQ=ro keeps it 0 and read-only
# (a private mount namespace binds it read-only). LOGLEVEL=debug SHOWLOG=1 print the daemon's log; KEEP=1 keeps its scratch directory (/tmp/kres-stream-drain-* in the root).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="$(realpath "$1")"; shift
migrate="${TCP_MIGRATE_REQ:-}"
exec "$here/scripts/sid-root.sh" with-mounts chroot "${KRES_SID_ROOT:-/var/tmp/kres-sid-root}" \
    env LOGLEVEL="${LOGLEVEL:-notice}" SHOWLOG="${SHOWLOG:-}" KEEP="${KEEP:-}" \
    unshare --net --mount --propagation unchanged -- sh -c '
        ip link set lo up
        f=/proc/sys/net/ipv4/tcp_migrate_req
        case "$1" in
            ro) mount --make-rprivate /proc && mount --bind "$f" "$f" && mount -o remount,bind,ro "$f" "$f" ;;
            ?*) echo "$1" > "$f" ;;
        esac
        shift; exec python3 "$@"' \
    sh "$migrate" "$here/bench/stream-drain.py" --bin "$bin" "$@"
