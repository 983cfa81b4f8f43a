#!/usr/bin/env bash
# Renew (POST /renew, /renew/force with curl): re-reads the files the configuration refers to (RPZ, hosts files)
# and re-applies what changed; with nothing changed it applies nothing (as the reference's). Force restarts every
# worker.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

before=$(log_count "$APPLIED")
pids="$(worker_pids)"

step "POST /renew with nothing changed applies nothing"
[[ "$(api_status -X POST /renew)" == 200 ]] || fail "POST /renew"
grep -qF "Renewing configuration event triggered..." "$LOG" || fail "the renew request was not logged"
grep -qF "Configuration successfully renewed" "$LOG" || fail "the renew was not logged"
[[ $(log_count "$APPLIED") -eq $before ]] || fail "an unchanged renew logged an apply"
[[ "$(worker_pids)" == "$pids" ]] || fail "renew restarted workers"

step "POST /renew after a hosts file changed re-reads it, without restarting workers"
printf '192.0.2.31 renew.test\n' >/tmp/renew.hosts
chmod 644 /tmp/renew.hosts
must kresctl config set -p /local-data '{"addresses-files": ["/tmp/renew.hosts"]}' >/dev/null
wait_for "renew.test = 192.0.2.31" 10 test "$(dns_addresses renew.test)" == 192.0.2.31
before=$(log_count "$APPLIED")
pids="$(worker_pids)"
printf '192.0.2.32 renew.test\n' >/tmp/renew.hosts
[[ "$(api_status -X POST /renew)" == 200 ]] || fail "POST /renew"
wait_for "renew.test = 192.0.2.32" 10 test "$(dns_addresses renew.test)" == 192.0.2.32
[[ $(log_count "$APPLIED") -eq $before ]] || fail "re-reading a file logged a configuration apply"
[[ "$(worker_pids)" == "$pids" ]] || fail "renew restarted workers"

step "POST /renew/force restarts every worker"
[[ "$(api_status -X POST /renew/force)" == 200 ]] || fail "POST /renew/force"
[[ $(log_count "$APPLIED") -eq $((before + 1)) ]] || fail "renew/force was not applied"
new="$(worker_pids)"
[[ $(wc -l <<<"$new") -eq 2 ]] || fail "workers after renew/force: $new"
[[ -z "$(comm -12 <(sort <<<"$pids") <(sort <<<"$new"))" ]] || fail "a worker survived renew/force"
[[ "$(dns_status localhost A)" == NOERROR ]] || fail "no answer after renew/force"

step "unknown routes"
[[ "$(api_status -X POST /renew/forced)" == 404 ]] || fail "POST /renew/forced is not 404"
