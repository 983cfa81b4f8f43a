#!/usr/bin/env bash
# Changing /workers at runtime: kresctl config set -p /workers 3 -> 3 kresd processes, then back.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

count_kresd() { pidof kresd | wc -w; }

step "kresctl config set -p /workers 3"
must kresctl config set -p /workers 3
wait_for "3 kresd" 30 test "$(count_kresd)" -eq 3
[[ $(worker_pids | wc -l) -eq 3 ]] || fail "the API lists $(worker_pids | wc -l) workers"
[[ "$(must kresctl config get -p /workers)" == 3 ]] || fail "kresctl config get -p /workers"
[[ "$(must kresctl pids kresd | wc -l)" -eq 3 ]] || fail "kresctl pids kresd"
[[ "$(dns_status localhost A)" == NOERROR ]] || fail "no answer with 3 workers"

step "kresctl config set -p /workers 1"
must kresctl config set -p /workers 1
wait_for "1 kresd" 30 test "$(count_kresd)" -eq 1
api /readyz | json_get 'd["ready"]' | grep -qx True || fail "/readyz with 1 worker"
