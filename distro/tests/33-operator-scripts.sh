#!/usr/bin/env bash
# What operators' scripts written for the Python manager rely on, checked the way such a script checks it: the
# reference's log lines (grep), the raw response headers (curl -si | grep '^ETag:'), kresd PIDs (pgrep) after a
# plain reload (unchanged) and a forced one, and kresctl's exit codes and output streams.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

kresd_pids() { pgrep -x kresd | sort; }

step "response headers are spelled as the reference's"
head="$(curl -si --unix-socket "$SOCK" http://localhost/v1/config | tr -d '\r' | sed '/^$/q')"
printf '%s\n' "$head"
grep -q '^ETag: "' <<<"$head" || fail "no '^ETag:' line"
grep -q '^Content-Type: application/json' <<<"$head" || fail "no '^Content-Type:' line"
grep -q '^Content-Length: ' <<<"$head" || fail "no '^Content-Length:' line"
curl -si -X POST --unix-socket "$SOCK" http://localhost/reload | tr -d '\r' | grep -q '^Content-Type: text/plain' ||
    fail "POST /reload: no '^Content-Type:' line"

step "the start-up lines"
for line in "Manager fully initialized and running in" "spawned: 'kresd0' with pid" \
    "success: kresd0 entered RUNNING state, process sent notification via \$NOTIFY_SOCKET" \
    "exited: policy-loader (exit status 0; expected)"; do
    grep -qF "$line" "$LOG" || fail "not in the log: $line"
done

step "a plain reload of an unchanged file: same kresd PIDs, nothing applied"
pids="$(kresd_pids)"
[[ $(wc -l <<<"$pids") -eq 2 ]] || fail "kresd PIDs: $pids"
applied=$(log_count "$APPLIED")
reloaded=$(log_count "Configuration file successfully reloaded")
out="$(kresctl reload)" || fail "kresctl reload failed"
[[ -z "$out" ]] || fail "kresctl reload printed: $out"
[[ $(log_count "Configuration file successfully reloaded") -eq $((reloaded + 1)) ]] || fail "no reload line"
grep -qF "Reloading event triggered..." "$LOG" || fail "no 'Reloading event triggered...'"
[[ $(log_count "$APPLIED") -eq $applied ]] || fail "an unchanged reload logged '$APPLIED'"
[[ "$(kresd_pids)" == "$pids" ]] || fail "kresd PIDs changed: $pids -> $(kresd_pids)"

step "a forced reload: every kresd replaced, the apply logged"
stopped=$(log_count "stopped: kresd")
kresctl reload --force >/dev/null || fail "kresctl reload --force failed"
[[ $(log_count "$APPLIED") -eq $((applied + 1)) ]] || fail "the forced reload did not log '$APPLIED'"
new="$(kresd_pids)"
[[ $(wc -l <<<"$new") -eq 2 ]] || fail "kresd PIDs after the forced reload: $new"
[[ -z "$(comm -12 <(printf '%s\n' "$pids") <(printf '%s\n' "$new"))" ]] || fail "a kresd survived: $pids -> $new"
[[ $(log_count "stopped: kresd") -ge $((stopped + 2)) ]] || fail "no 'stopped: kresdN' lines for the old workers"
grep -qF "waiting for kresd" "$LOG" || fail "no 'waiting for kresdN to stop'"

step "SIGHUP: the reference's line, nothing applied"
kill -HUP "$(pgrep -o -x knot-resolver)"
wait_log "Configuration file successfully reloaded" $((reloaded + 2))
grep -qF "Received SIGHUP, reloading configuration file" "$LOG" || fail "no SIGHUP line"
[[ $(log_count "$APPLIED") -eq $((applied + 1)) ]] || fail "an unchanged SIGHUP reload logged '$APPLIED'"

step "a refused change: HTTP 422, the reference's line, nothing applied"
status="$(api_status -X PUT -H 'Content-Type: application/json' -d '{"script": "error(1)"}' /v1/config/lua)"
[[ "$status" == 422 ]] || fail "PUT of a Lua error: $status"
grep -qF "Kresd with the new config failed to start, rejecting config" "$LOG" || fail "no refusal line"
[[ $(log_count "$APPLIED") -eq $((applied + 1)) ]] || fail "a refused change logged '$APPLIED'"

step "an applied change"
kresctl config set -p /workers 1 >/dev/null || fail "kresctl config set -p /workers 1"
[[ $(log_count "$APPLIED") -eq $((applied + 2)) ]] || fail "the change did not log '$APPLIED'"

step "kresctl exit codes and streams"
set +e
kresctl config set -p /workers many >/tmp/out 2>/tmp/err
rc=$?
set -e
[[ $rc -eq 1 && ! -s /tmp/out ]] && grep -q '^status: 400' /tmp/err || fail "an invalid value: exit $rc"
set +e
kresctl -s /tmp/nonexistent.sock reload >/tmp/out 2>/tmp/err
rc=$?
set -e
[[ $rc -eq 1 && ! -s /tmp/out && -s /tmp/err ]] || fail "no manager: exit $rc"
set +e
kresctl nosuchcommand >/tmp/out 2>/tmp/err
rc=$?
set -e
[[ $rc -eq 2 && ! -s /tmp/out && -s /tmp/err ]] || fail "a usage error: exit $rc"
[[ "$(kresctl --version)" == 6.* ]] || fail "kresctl --version: $(kresctl --version)"
