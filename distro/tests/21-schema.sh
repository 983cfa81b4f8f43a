#!/usr/bin/env bash
# The JSON Schema: kresctl schema (offline), kresctl schema --live and GET /schema are the same document.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

normalize() { python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))'; }

step "kresctl schema"
offline="$(must kresctl schema | normalize)"
grep -q '"properties"' <<<"$offline" || fail "not a schema"
must kresctl schema /tmp/schema.json >/dev/null
[[ "$(normalize </tmp/schema.json)" == "$offline" ]] || fail "kresctl schema FILE differs from stdout"

step "GET /schema"
live="$(api /schema | normalize)"
[[ "$live" == "$offline" ]] || fail "GET /schema differs from kresctl schema"

step "kresctl schema --live"
[[ "$(must kresctl schema --live | normalize)" == "$live" ]] || fail "kresctl schema --live differs from GET /schema"
