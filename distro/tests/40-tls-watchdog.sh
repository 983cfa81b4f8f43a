#!/usr/bin/env bash
# The TLS certificate watchdog (/network/tls/watchdog): a DoT listener keeps serving whatever certificate is on disk,
# without restarting workers, after an in-place write, a rename-over (mv of a new file onto the name) and a
# delete + recreate. Each is logged as "TLS cert files reload triggered".
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

TLS=/etc/knot-resolver/tls
TRIGGERED="TLS cert files reload triggered"
mkdir -p "$TLS"
for cn in one two three four; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=$cn.test" \
        -keyout "$TLS/$cn.key" -out "$TLS/$cn.pem" 2>/dev/null || fail "openssl"
done
cp "$TLS/one.pem" "$TLS/cert.pem"
cp "$TLS/one.key" "$TLS/key.pem"
chown -R knot-resolver:knot-resolver "$TLS"

# The CN of the certificate a DoT query is answered with (kdig -d prints the chain: ";; DEBUG:  #1, CN=one.test").
served_cn() {
    kdig -d +tls +timeout=2 +retry=0 @127.0.0.1 -p 853 localhost A 2>&1 | sed -n 's/.*#1, CN=\([^ ,]*\).*/\1/p' | head -n 1
}
# Several connections (spread over both workers by SO_REUSEPORT) all get CN=$1.
all_served() {
    for _ in 1 2 3 4 5 6; do [[ "$(served_cn)" == "$1" ]] || return 1; done
}

step "a DoT listener with the watchdog on"
must kresctl config set -p /network/tls \
    "{\"cert-file\": \"$TLS/cert.pem\", \"key-file\": \"$TLS/key.pem\", \"watchdog\": true}" >/dev/null
must kresctl config set -p /network/listen/- '{"interface": "127.0.0.1@853", "kind": "dot"}' >/dev/null
wait_for "DoT served with CN=one.test" 20 all_served one.test
pids="$(worker_pids)"

step "in-place write"
before=$(log_count "$TRIGGERED")
cat "$TLS/two.pem" >"$TLS/cert.pem"
cat "$TLS/two.key" >"$TLS/key.pem"
wait_log "$TRIGGERED" "$before"
wait_for "CN=two.test" 20 all_served two.test

step "rename-over"
before=$(log_count "$TRIGGERED")
cp "$TLS/three.pem" "$TLS/cert.pem.new"
cp "$TLS/three.key" "$TLS/key.pem.new"
chown knot-resolver:knot-resolver "$TLS"/*.new
mv "$TLS/cert.pem.new" "$TLS/cert.pem"
mv "$TLS/key.pem.new" "$TLS/key.pem"
wait_log "$TRIGGERED" "$before"
wait_for "CN=three.test" 20 all_served three.test

step "delete and recreate"
before=$(log_count "$TRIGGERED")
rm "$TLS/cert.pem" "$TLS/key.pem"
sleep 1
all_served three.test || fail "the certificate in use changed while the files were missing"
cp "$TLS/four.pem" "$TLS/cert.pem"
cp "$TLS/four.key" "$TLS/key.pem"
chown knot-resolver:knot-resolver "$TLS/cert.pem" "$TLS/key.pem"
wait_log "$TRIGGERED" "$before"
wait_for "CN=four.test" 20 all_served four.test

[[ "$(worker_pids)" == "$pids" ]] || fail "workers were restarted"
