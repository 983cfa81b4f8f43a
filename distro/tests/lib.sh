# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are for the scenarios that source this
# Helpers for the packaging scenarios (sourced; see harness/in-root.sh). The manager runs on the packaged defaults:
# /etc/knot-resolver/config.yaml (2 workers on 127.0.0.1@53), the API on /run/knot-resolver/kres-api.sock, its log
# in $KRES_TEST_LOG. Scenarios talk to it only with kresctl, curl --unix-socket and kdig; python3 and openssl only
# check what they return.
set -euo pipefail

SOCK=/run/knot-resolver/kres-api.sock
CONFIG=/etc/knot-resolver/config.yaml
LOG="${KRES_TEST_LOG:?run the scenarios through harness/in-root.sh}"
APPLIED="Config applied successfully to all workers"

step() { printf '== %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

# curl on the management socket: api [curl args] PATH
api() {
    local path="${*: -1}"
    curl --silent --show-error --max-time 120 --unix-socket "$SOCK" "${@:1:$#-1}" "http://localhost$path"
}

# The HTTP status of a request: api_status [curl args] PATH
api_status() {
    api --output /dev/null --write-out '%{http_code}' "$@"
}

# How many log lines contain the fixed string $1.
log_count() { grep -cF -- "$1" "$LOG" || true; }

# wait_for DESCRIPTION TIMEOUT_S COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
    local what="$1" timeout="$2"
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        ((SECONDS < deadline)) || fail "timed out after ${timeout} s waiting for $what"
        sleep 0.2
    done
}

# log_grew PATTERN BEFORE: true once the log has more than BEFORE lines with PATTERN.
log_grew() { [[ $(log_count "$1") -gt $2 ]]; }

# wait_log PATTERN BEFORE [TIMEOUT]
wait_log() { wait_for "'$1' in the manager's log (more than $2 times)" "${3:-30}" log_grew "$1" "$2"; }

# The rcode of a query to the resolver: dns_status NAME [TYPE] [kdig args]
dns_status() {
    local name="$1" type="${2:-A}"
    shift $(($# < 2 ? $# : 2))
    kdig @127.0.0.1 +timeout=2 +retry=0 "$@" "$name" "$type" 2>&1 | sed -n 's/.*status: \([A-Z]*\).*/\1/p' | head -n 1
}

# The addresses in the answer: dns_addresses NAME
dns_addresses() { kdig @127.0.0.1 +timeout=2 +retry=0 +short "$1" A 2>/dev/null | grep -E '^[0-9.]+$' | sort || true; }

# PIDs of the running kresd workers (from the API), one per line, sorted.
worker_pids() {
    api /processes/kresd | python3 -c 'import json, sys; print("\n".join(sorted(str(p["pid"]) for p in json.load(sys.stdin))))'
}

# Evaluates a Python expression on the JSON read from stdin (bound to `d`), printing the result.
json_get() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

# Runs a command, failing the scenario with its output if it fails.
must() {
    local out
    if ! out="$("$@" 2>&1)"; then
        printf '%s\n' "$out" >&2
        fail "command failed: $*"
    fi
    printf '%s\n' "$out"
}
