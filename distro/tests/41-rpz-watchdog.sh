#!/usr/bin/env bash
# The RPZ watchdog (/local-data/rpz[*]/watchdog): the rules follow the file after an in-place append, a
# rename-over (mv of a new file onto the name) and a delete + recreate, each logged as "Renewing configuration has
# finished", without restarting workers. Without the watchdog, nothing happens on a change.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

RPZ_DIR=/etc/knot-resolver/rpz
RPZ="$RPZ_DIR/test.rpz"
RENEWED="Renewing configuration has finished"
mkdir -p "$RPZ_DIR"
# shellcheck disable=SC2016 # $ORIGIN is the zone file's
printf '$ORIGIN rpz.example.\nblocked1.test CNAME .\n' >"$RPZ"
chown -R knot-resolver:knot-resolver "$RPZ_DIR"

blocked() { [[ "$(dns_status "$1" A)" == NXDOMAIN ]]; }

step "an RPZ without the watchdog"
must kresctl config set -p /local-data "{\"rpz\": [{\"file\": \"$RPZ\", \"watchdog\": false}]}" >/dev/null
wait_for "blocked1.test NXDOMAIN" 10 blocked blocked1.test
before=$(log_count "$RENEWED")
echo 'blocked0.test CNAME .' >>"$RPZ"
sleep 2
[[ $(log_count "$RENEWED") -eq $before ]] || fail "a change was followed without the watchdog"

step "the watchdog on"
must kresctl config set -p /local-data/rpz/0/watchdog true >/dev/null
pids="$(worker_pids)"

step "in-place append"
before=$(log_count "$RENEWED")
echo 'blocked2.test CNAME .' >>"$RPZ"
wait_log "$RENEWED" "$before"
wait_for "blocked2.test NXDOMAIN" 10 blocked blocked2.test

step "rename-over"
before=$(log_count "$RENEWED")
cp "$RPZ" "$RPZ.new"
echo 'blocked3.test CNAME .' >>"$RPZ.new"
mv "$RPZ.new" "$RPZ"
wait_log "$RENEWED" "$before"
wait_for "blocked3.test NXDOMAIN" 10 blocked blocked3.test

step "delete and recreate"
before=$(log_count "$RENEWED")
cp "$RPZ" /tmp/test.rpz.backup
rm "$RPZ"
sleep 1
blocked blocked3.test || fail "the rules in force changed while the file was missing"
cp /tmp/test.rpz.backup "$RPZ"
echo 'blocked4.test CNAME .' >>"$RPZ"
wait_log "$RENEWED" "$before"
wait_for "blocked4.test NXDOMAIN" 10 blocked blocked4.test
blocked blocked1.test || fail "blocked1.test is no longer blocked"

[[ "$(worker_pids)" == "$pids" ]] || fail "workers were restarted"
errors="$(grep -E '^(manager|supervisor)\[[0-9]+\]: [^ ]+ +ERROR' "$LOG" || true)"
[[ -z "$errors" ]] || fail "errors in the manager's log: $errors"
