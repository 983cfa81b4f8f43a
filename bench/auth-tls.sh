#!/bin/bash
# Benchmark (issue 13 item 7): GET /v1/config over TLS with a bearer token on our `knot-resolver` (release build)
# against the reference Python manager over plain HTTP, side by side with wrk, and the TLS handshake cost.
#   1. wrk -t2 -c8 -d5s, keep-alive: ours https:// + 'Authorization: Bearer' vs the reference's http://;
#   2. the same with 'Connection: close': every request opens a connection (TCP, and for ours a TLS handshake;
#      the token's check is cached in the manager, so it costs one MAC per request, not an argon2 verification);
#   3. curl, 200 sequential new connections to ours: time_appconnect - time_connect (the client's view of the TLS
#      handshake), and the same request's total time.
# Certificates are made with openssl (ECDSA P-256) in a scratch directory; the token is hashed by our
# `kresctl hash-token` (argon2id default parameters). Everything listens on 127.0.0.1; every process started here is
# killed on exit, by PID.
#
# Usage: bench/auth-tls.sh           (as root; builds the release binaries unless KRES_BENCH_NO_BUILD=1)
# Environment: KRES_BENCH_DIR (default <workspace>/target/bench/auth), ROUNDS (default 2), WRK_SECS (default 5).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
WORKSPACE="$(cd "$SCRIPT_DIR/.." && pwd -P)"
SID_ROOT="$WORKSPACE/scripts/sid-root.sh"
OUT="${KRES_BENCH_DIR:-$WORKSPACE/target/bench/auth}"
OURS_BIN="$WORKSPACE/target/release/knot-resolver"
OURS_CTL="$WORKSPACE/target/release/kresctl"
REF_BIN=/usr/bin/knot-resolver

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

STARTED=()
cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || true
    done
    sleep 1
    for pid in "${STARTED[@]}"; do
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# config IMPL DNS_PORT MANAGEMENT_LINES
config() {
    local dir="$OUT/$1"
    cat <<EOF
rundir: $dir/run
workers: 2
management:
$3
network:
  listen:
    - interface: 127.0.0.1@$2
options:
  priming: false
  time-jump-detection: false
dnssec:
  enable: false
forward:
  - subtree: .
    servers: [127.0.0.1@9]
local-data:
  addresses:
    bench.example: 192.0.2.1
cache:
  storage: $dir/cache
  size-max: 50M
logging:
  level: notice
EOF
}

# start IMPL BIN CONFIG CHECK_URL CURL_ARGS...: start in its own session, wait (bounded) until the API answers.
start() {
    local impl="$1" bin="$2" cfg="$3" url="$4" i
    shift 4
    (cd "$OUT/$impl" && exec setsid "$bin" -c "$cfg" >>"$OUT/$impl.log" 2>&1) &
    STARTED+=("$!")
    for ((i = 0; i < 600; i++)); do
        curl -sf -o /dev/null --max-time 5 "$@" "$url" && return 0
        sleep 0.1
    done
    die "$impl did not answer within 60 s (see $OUT/$impl.log)"
}

inner() {
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    ROUNDS="${ROUNDS:-2}" WRK_SECS="${WRK_SECS:-5}"
    command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >/dev/null
    rm -rf "$OUT/ours" "$OUT/ref" "$OUT/pki" "$OUT/results"
    mkdir -p "$OUT/ours/run" "$OUT/ours/cache" "$OUT/ref/run" "$OUT/ref/cache" "$OUT/pki" "$OUT/results"
    local pki="$OUT/pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/ca.key" -out "$pki/ca.pem" \
        -subj /CN=bench-ca -days 2 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/server.key" -out "$pki/server.csr" \
        -subj /CN=127.0.0.1 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$pki/ext"
    openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
        -out "$pki/server.pem" -days 2 -extfile "$pki/ext" 2>/dev/null
    local secret hash
    secret="$(head -c 32 /dev/urandom | base64)"
    hash="$(printf '%s\n' "$secret" | "$OURS_CTL" hash-token)"
    local api_ours api_ref
    api_ours="$(free_port)" api_ref="$(free_port)"
    config ours "$(free_port)" "  interface: 127.0.0.1@$api_ours
  state-dir: $OUT/ours/state
  tls: {cert-file: $pki/server.pem, key-file: $pki/server.key}
  tokens:
    - {name: bench, scope: read, hash: '$hash'}" >"$OUT/ours/config.yaml"
    config ref "$(free_port)" "  interface: 127.0.0.1@$api_ref" >"$OUT/ref/config.yaml"
    local ours_url="https://127.0.0.1:$api_ours/v1/config" ref_url="http://127.0.0.1:$api_ref/v1/config"
    local auth="Authorization: Bearer $secret"
    start ours "$OURS_BIN" "$OUT/ours/config.yaml" "$ours_url" --cacert "$pki/ca.pem" -H "$auth"
    start ref "$REF_BIN" "$OUT/ref/config.yaml" "$ref_url"
    # wrk checks no certificate; curl above and below does.
    {
        echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg) nproc=$(nproc)"
        echo "wrk=$(dpkg-query -W -f='${Version}' wrk) curl=$(curl --version | head -1 | cut -d' ' -f2) openssl=$(openssl version)"
    } >"$OUT/results/machine.txt"
    local round i
    for ((round = 1; round <= ROUNDS; round++)); do
        log "round $round: wrk keep-alive and Connection: close"
        wrk -t2 -c8 -d1s -H "$auth" "$ours_url" >/dev/null 2>&1 || true
        wrk -t2 -c8 -d1s "$ref_url" >/dev/null 2>&1 || true
        for ((i = 0; i < 3; i++)); do
            wrk -t2 -c8 -d"$WRK_SECS"s --latency -H "$auth" "$ours_url" >"$OUT/results/wrk.ours.keepalive.$round.$i.txt" 2>&1
            wrk -t2 -c8 -d"$WRK_SECS"s --latency "$ref_url" >"$OUT/results/wrk.ref.keepalive.$round.$i.txt" 2>&1
            wrk -t2 -c8 -d"$WRK_SECS"s --latency -H "$auth" -H 'Connection: close' "$ours_url" \
                >"$OUT/results/wrk.ours.close.$round.$i.txt" 2>&1
            wrk -t2 -c8 -d"$WRK_SECS"s --latency -H 'Connection: close' "$ref_url" \
                >"$OUT/results/wrk.ref.close.$round.$i.txt" 2>&1
        done
    done
    log "curl: 200 new TLS connections"
    for ((i = 0; i < 200; i++)); do
        curl -sS -o /dev/null --cacert "$pki/ca.pem" -H "$auth" \
            -w '%{time_connect} %{time_appconnect} %{time_total}\n' "$ours_url"
    done >"$OUT/results/curl.ours.txt"
    for ((i = 0; i < 200; i++)); do
        curl -sS -o /dev/null -w '%{time_connect} %{time_appconnect} %{time_total}\n' "$ref_url"
    done >"$OUT/results/curl.ref.txt"
    echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/results/machine.txt"
    grep -c "$secret" "$OUT/ours.log" >"$OUT/results/secret-in-log.txt" || true
}

summarize() {
    python3 - "$OUT/results" <<'EOF'
import glob, os, re, statistics, sys
r = sys.argv[1]
def rps(pattern):
    out = []
    for f in sorted(glob.glob(os.path.join(r, pattern))):
        m = re.search(r"Requests/sec:\s+([\d.]+)", open(f).read())
        if m: out.append(float(m.group(1)))
    return out
def p99(pattern):
    out = []
    for f in sorted(glob.glob(os.path.join(r, pattern))):
        m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", open(f).read())
        if m: out.append(float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)])
    return out
def fmt(v): return f"{statistics.median(v):,.0f} ({min(v):,.0f}–{max(v):,.0f}), n={len(v)}" if v else "-"
print("| wrk -t2 -c8 | ours: https + token | reference: http | ratio (medians) |")
print("|---|---|---|---|")
for mode in ("keepalive", "close"):
    o, f = rps(f"wrk.ours.{mode}.*"), rps(f"wrk.ref.{mode}.*")
    ratio = statistics.median(o) / statistics.median(f) if o and f else float("nan")
    print(f"| {mode}: req/s | {fmt(o)} | {fmt(f)} | {ratio:.1f}x |")
    po, pf = p99(f"wrk.ours.{mode}.*"), p99(f"wrk.ref.{mode}.*")
    if po and pf:
        print(f"| {mode}: p99 latency, ms | {statistics.median(po):.2f} | {statistics.median(pf):.2f} | |")
def curl(name):
    rows = [list(map(float, l.split())) for l in open(os.path.join(r, f"curl.{name}.txt")) if l.strip()]
    return rows
for name in ("ours", "ref"):
    rows = curl(name)
    hs = sorted((b - a) * 1e3 for a, b, _ in rows if b > 0)
    tot = sorted(t * 1e3 for _, _, t in rows)
    q = lambda v, p: v[min(len(v) - 1, int(p * len(v)))]
    if hs:
        print(f"\ncurl {name}: TLS handshake (appconnect - connect) median {q(hs,.5):.2f} ms, p90 {q(hs,.9):.2f} ms; "
              f"whole request median {q(tot,.5):.2f} ms, n={len(rows)}")
    else:
        print(f"\ncurl {name}: whole request median {q(tot,.5):.2f} ms (no TLS), n={len(rows)}")
print("\n" + open(os.path.join(r, "machine.txt")).read())
print("lines of the daemon log holding the secret:", open(os.path.join(r, "secret-in-log.txt")).read().strip() or "0")
EOF
}

main() {
    if [[ "${1:-}" == --inner ]]; then
        inner
        return
    fi
    [[ $(id -u) -eq 0 ]] || die "must run as root (the benchmark runs inside the sid root through chroot)"
    if [[ "${KRES_BENCH_NO_BUILD:-0}" != 1 ]]; then
        (cd "$WORKSPACE" && cargo build --release --quiet -p kres-manager -p kresctl)
    fi
    mkdir -p "$OUT"
    "$SID_ROOT" build
    local env=() v
    for v in KRES_BENCH_DIR ROUNDS WRK_SECS; do
        [[ -n "${!v:-}" ]] && env+=("$v=${!v}")
    done
    "$SID_ROOT" with-mounts "$SID_ROOT" exec /usr/bin/env "${env[@]}" /bin/bash "$SCRIPT_DIR/auth-tls.sh" --inner
    summarize | tee "$OUT/results.md"
}

main "$@"
