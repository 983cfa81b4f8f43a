#!/usr/bin/env bash
# ETags of /v1/config: If-None-Match with the current tag is 304; a change gives a new tag.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

etag_of() { grep -i '^etag:' | tr -d '\r' | sed 's/^[Ee][Tt][Aa][Gg]: *//'; }

step "GET /v1/config has an ETag"
etag="$(api --dump-header - --output /dev/null /v1/config | etag_of)"
[[ -n "$etag" ]] || fail "no ETag"
echo "ETag: $etag"

step "If-None-Match with it: 304"
[[ "$(api_status -H "If-None-Match: $etag" /v1/config)" == 304 ]] || fail "not 304"
[[ "$(api_status -H 'If-None-Match: "other"' /v1/config)" == 200 ]] || fail "another tag is not 200"

step "a change makes a new ETag; the old one no longer matches"
must kresctl config set -p /logging/level notice >/dev/null
new="$(api --dump-header - --output /dev/null /v1/config | etag_of)"
[[ -n "$new" && "$new" != "$etag" ]] || fail "the ETag did not change ($etag -> $new)"
[[ "$(api_status -H "If-None-Match: $etag" /v1/config)" == 200 ]] || fail "the old tag still matches"
[[ "$(api_status -H "If-None-Match: $new" /v1/config)" == 304 ]] || fail "the new tag does not match"

step "If-Match guards writes"
[[ "$(api_status -X PUT -H "If-Match: $etag" -H 'Content-Type: application/json' -d '"info"' \
    /v1/config/logging/level)" == 412 ]] || fail "a write with a stale If-Match was not 412"
[[ "$(api_status -X PUT -H "If-Match: $new" -H 'Content-Type: application/json' -d '"info"' \
    /v1/config/logging/level)" == 200 ]] || fail "a write with the current If-Match failed"
