#!/usr/bin/env bash
# Reload: kresctl reload re-reads /etc/knot-resolver/config.yaml (as ExecReload= does), --force restarts every
# worker, SIGHUP (Type=notify-reload) does the same as kresctl reload, and an invalid file changes nothing.
# "Config applied successfully to all workers" is logged once per applied change (or forced reload); an unchanged
# reload applies nothing, as the reference's.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

supervisor_pid() { pgrep -o -x knot-resolver; }
add_record() { printf 'local-data:\n  records: |\n    reload.test. 300 A %s\n' "$1" >>"$CONFIG"; }
packaged="$(cat "$CONFIG")"

step "reload without a change applies nothing: no apply logged, no policy-loader, no worker restarted"
before=$(log_count "$APPLIED")
reloaded=$(log_count "Configuration file successfully reloaded")
loader=$(log_count "spawned: 'policy-loader'")
pids="$(worker_pids)"
[[ -z "$(must kresctl reload)" ]] || fail "kresctl reload printed something (the reference's prints nothing)"
[[ $(log_count "Configuration file successfully reloaded") -eq $((reloaded + 1)) ]] || fail "the reload was not logged"
[[ $(log_count "$APPLIED") -eq $before ]] || fail "an unchanged reload logged an apply"
[[ $(log_count "spawned: 'policy-loader'") -eq $loader ]] || fail "an unchanged reload ran the policy-loader"
[[ "$(worker_pids)" == "$pids" ]] || fail "an unchanged reload restarted workers"

step "reload applies a changed file (rules only: no worker restart)"
add_record 192.0.2.1
must kresctl reload
[[ $(log_count "$APPLIED") -eq $((before + 1)) ]] || fail "the change was not applied once"
[[ "$(dns_addresses reload.test)" == 192.0.2.1 ]] || fail "reload.test: '$(dns_addresses reload.test)'"
[[ "$(worker_pids)" == "$pids" ]] || fail "a rules-only change restarted workers"

step "reload --force restarts every worker"
must kresctl reload --force
[[ $(log_count "$APPLIED") -eq $((before + 2)) ]] || fail "the forced reload was not applied"
new="$(worker_pids)"
[[ $(wc -l <<<"$new") -eq 2 ]] || fail "workers after the forced reload: $new"
[[ -z "$(comm -12 <(sort <<<"$pids") <(sort <<<"$new"))" ]] || fail "a worker survived the forced reload"
[[ "$(dns_addresses reload.test)" == 192.0.2.1 ]] || fail "reload.test after the forced reload"

step "SIGHUP to the main process reloads too"
printf '%s\n' "$packaged" >"$CONFIG"
add_record 192.0.2.2
kill -HUP "$(supervisor_pid)"
wait_log "$APPLIED" $((before + 2))
wait_for "reload.test = 192.0.2.2" 10 test "$(dns_addresses reload.test)" == 192.0.2.2

step "an invalid file is refused; the configuration in force stays"
sed -i 's/^workers: 2$/workers: many/' "$CONFIG"
if kresctl reload >/tmp/reload.out 2>&1; then
    cat /tmp/reload.out
    fail "kresctl reload succeeded with an invalid file"
fi
cat /tmp/reload.out
grep -q 'workers' /tmp/reload.out || fail "kresctl reload does not say what is wrong"
grep -qF 'Configuration has NOT been changed.' "$LOG" || fail "the log does not say the configuration stayed"
[[ $(log_count "$APPLIED") -eq $((before + 3)) ]] || fail "something was applied"
[[ "$(dns_addresses reload.test)" == 192.0.2.2 ]] || fail "the configuration in force changed"
[[ "$(must kresctl config get -p /workers)" == 2 ]] || fail "kresctl config get -p /workers"
