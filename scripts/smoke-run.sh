#!/usr/bin/env bash
# Smoke test of the README's first command, used the way a newcomer uses it (CI runs it after the tests):
#   1. `cargo xtask run` starts (in its own process group, like a terminal's foreground job);
#   2. `kdig @127.0.0.1 -p 5335 dev.example` answers 192.0.2.1 (kdig inside the sid root);
#   3. `cargo xtask kresctl config set -p /workers 3` works and 3 workers answer;
#   4. SIGINT to the process group (Ctrl-C) stops it, and nothing is left: no knot-resolver or kresd process, no
#      API socket, no mount of this run under the root.
# Every wait is bounded. Exits non-zero with the manager's log on any failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="${KRES_SID_ROOT:-/var/tmp/kres-sid-root}"
ROOT="${ROOT%/}"
DEV_RUNDIR=/run/knot-resolver-dev
LOG="$(mktemp /tmp/kres-smoke-run.XXXXXX.log)"
run_pid=""

say() { printf 'smoke-run: %s\n' "$*" >&2; }

fail() {
    say "FAILED: $*"
    say "--- cargo xtask run output ($LOG) ---"
    tail -n 60 "$LOG" >&2 || true
    exit 1
}

# Processes of the dev run: inside the sid root, and either started with a dev config (supervisor, manager) or
# working in the dev rundir (kresd workers, policy-loader, cache GC). Other runs (tests) use other rundirs.
dev_processes() {
    local pid cwd
    for pid in $(pgrep -f 'knot-resolver|kresd|kres-cache-gc' || true); do
        [[ "$(readlink "/proc/$pid/root" 2>/dev/null)" == "$ROOT" ]] || continue
        cwd="$(readlink "/proc/$pid/cwd" 2>/dev/null || true)"
        if [[ "$cwd" == "$ROOT$DEV_RUNDIR"* || "$cwd" == "$DEV_RUNDIR"* ]] \
            || tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'config\.dev'; then
            echo "$pid"
        fi
    done
}

cleanup() {
    if [[ -n "$run_pid" ]] && kill -0 "$run_pid" 2>/dev/null; then
        kill -INT -- "-$run_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$run_pid" 2>/dev/null || true
    fi
    local left
    left="$(dev_processes)"
    if [[ -n "$left" ]]; then
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
    fi
}
trap cleanup EXIT

in_root() { scripts/sid-root.sh with-mounts scripts/sid-root.sh exec "$@"; }

# Count the A answers for dev.example (kdig inside the root, short timeout).
dig_dev() {
    in_root /usr/bin/kdig @127.0.0.1 -p 5335 +short +time=1 +retry=0 dev.example A 2>/dev/null || true
}

[[ -z "$(dev_processes)" ]] || fail "a dev manager is already running (pids: $(dev_processes | tr '\n' ' '))"

say "starting cargo xtask run (log: $LOG)"
setsid cargo xtask run </dev/null >"$LOG" 2>&1 &
run_pid=$!

say "waiting for kdig @127.0.0.1 -p 5335 dev.example to answer (up to 300 s, includes the build)"
answer=""
for _ in $(seq 1 300); do
    kill -0 "$run_pid" 2>/dev/null || fail "cargo xtask run exited early"
    answer="$(dig_dev)"
    [[ "$answer" == "192.0.2.1" ]] && break
    sleep 1
done
[[ "$answer" == "192.0.2.1" ]] || fail "dev.example did not resolve to 192.0.2.1 (got: '$answer')"
say "dev.example -> $answer"

workers() { dev_processes | while read -r p; do tr '\0' ' ' <"/proc/$p/cmdline"; echo; done | grep -c 'kresd.*kresd[0-9]*\.conf' || true; }
say "workers before: $(workers)"

say "cargo xtask kresctl config set -p /workers 3"
cargo xtask kresctl config set -p /workers 3 >>"$LOG" 2>&1 || fail "kresctl config set -p /workers 3 failed"
n=0
for _ in $(seq 1 100); do
    n="$(workers)"
    [[ "$n" == 3 ]] && break
    sleep 0.2
done
[[ "$n" == 3 ]] || fail "expected 3 kresd workers after the change, found $n"
got="$(cargo xtask kresctl config get -p /workers 2>>"$LOG" | tr -d '[:space:]')"
[[ "$got" == 3 ]] || fail "config get -p /workers printed '$got', expected 3"
answer="$(dig_dev)"
[[ "$answer" == "192.0.2.1" ]] || fail "dev.example stopped resolving after the change (got: '$answer')"
say "3 workers, still answering"

say "SIGINT to the process group (Ctrl-C)"
kill -INT -- "-$run_pid"
for _ in $(seq 1 300); do
    kill -0 "$run_pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$run_pid" 2>/dev/null && fail "cargo xtask run still running 30 s after SIGINT"
wait "$run_pid" || true
run_pid=""
for _ in $(seq 1 50); do
    [[ -z "$(dev_processes)" ]] && break
    sleep 0.1
done
left="$(dev_processes)"
[[ -z "$left" ]] || fail "processes left after SIGINT: $(for p in $left; do tr '\0' ' ' <"/proc/$p/cmdline"; echo; done)"
[[ ! -S "$ROOT$DEV_RUNDIR/kres-api.sock" ]] || fail "the API socket $ROOT$DEV_RUNDIR/kres-api.sock is left behind"
if grep -q " $ROOT/proc " /proc/self/mountinfo && [[ -z "$(ls "$ROOT.users" 2>/dev/null)" ]]; then
    fail "the sid root is still mounted with no registered user"
fi
say "stopped cleanly; nothing left running"
say "PASSED"
