#!/usr/bin/env bash
# Cache clearing: everything, and one exact name and type, with JSON output.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

step "kresctl cache clear"
must kresctl cache clear

step "kresctl cache clear --json --exact-name --rr-type AAAA example.com."
must kresctl cache clear --json --exact-name --rr-type AAAA example.com. | python3 -m json.tool ||
    fail "the output is not JSON"

step "the same over curl"
api -X POST -H 'Content-Type: application/json' -d '{}' /cache/clear | json_get '"count" in d' | grep -qx True ||
    fail "POST /cache/clear {}"
api -X POST -H 'Content-Type: application/json' -d '{"name": "example.com.", "exact-name": true, "rr-type": "AAAA"}' \
    /cache/clear | python3 -m json.tool >/dev/null || fail "POST /cache/clear exact name"

step "invalid requests are refused"
if kresctl cache clear --rr-type AAAA example.com. 2>/tmp/err; then fail "rr-type without exact-name accepted"; fi
cat /tmp/err
[[ "$(api_status -X POST -H 'Content-Type: application/json' -d '{"rr-type": "AAAA"}' /cache/clear)" == 400 ]] ||
    fail "the API accepted rr-type without exact-name"
