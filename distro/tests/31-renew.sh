#!/usr/bin/env bash
# Renew (POST /renew, /renew/force with curl): re-applies the configuration in force; force restarts every worker.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

before=$(log_count "$APPLIED")
pids="$(worker_pids)"

step "POST /renew re-runs the policy-loader without restarting workers"
[[ "$(api_status -X POST /renew)" == 200 ]] || fail "POST /renew"
[[ $(log_count "$APPLIED") -eq $((before + 1)) ]] || fail "renew was not applied"
[[ "$(worker_pids)" == "$pids" ]] || fail "renew restarted workers"

step "POST /renew/force restarts every worker"
[[ "$(api_status -X POST /renew/force)" == 200 ]] || fail "POST /renew/force"
[[ $(log_count "$APPLIED") -eq $((before + 2)) ]] || fail "renew/force was not applied"
new="$(worker_pids)"
[[ $(wc -l <<<"$new") -eq 2 ]] || fail "workers after renew/force: $new"
[[ -z "$(comm -12 <(sort <<<"$pids") <(sort <<<"$new"))" ]] || fail "a worker survived renew/force"
[[ "$(dns_status localhost A)" == NOERROR ]] || fail "no answer after renew/force"

step "unknown routes"
[[ "$(api_status -X POST /renew/forced)" == 404 ]] || fail "POST /renew/forced is not 404"
