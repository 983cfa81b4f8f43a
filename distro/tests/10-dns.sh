#!/usr/bin/env bash
# The resolver runs on the packaged defaults: 2 workers as user knot-resolver answering on 127.0.0.1@53.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

step "DNS on 127.0.0.1@53"
[[ "$(dns_status localhost A)" == NOERROR ]] || fail "localhost A: $(kdig @127.0.0.1 +timeout=2 localhost A 2>&1)"
[[ "$(dns_addresses localhost)" == 127.0.0.1 ]] || fail "localhost is not 127.0.0.1"

step "processes"
mapfile -t pids < <(worker_pids)
[[ ${#pids[@]} -eq 2 ]] || fail "expected 2 workers, the API lists ${pids[*]}"
[[ "$(pidof kresd | wc -w)" -eq 2 ]] || fail "pidof kresd: $(pidof kresd)"
for pid in "${pids[@]}"; do
    [[ "$(ps -o user= -p "$pid")" == knot-resolver ]] || fail "kresd $pid does not run as knot-resolver"
done
[[ "$(ps -o user= -p "$(pidof -s knot-resolver)")" == knot-resolver ]] || fail "the manager's user"
must kresctl pids kresd | sort | diff - <(printf '%s\n' "${pids[@]}") || fail "kresctl pids kresd"
must kresctl pids --json | python3 -m json.tool >/dev/null

step "API basics"
api / | json_get 'd["status"]' | grep -qx RUNNING || fail "GET /"
api /readyz | json_get 'd["ready"]' | grep -qx True || fail "/readyz"
[[ "$(api_status /healthz)" == 200 ]] || fail "/healthz"
