#!/usr/bin/env bash
# Benchmark: the daemon (issue 4 item 9) and the management API (issue 5 item 10), our `knot-resolver` (release
# build) side by side with the reference manager (/usr/bin/knot-resolver, Python + supervisord, from Debian's
# knot-resolver6) inside the Debian sid root, on the same configuration (2 workers, offline: local data, forward
# `.` to 127.0.0.1@9, priming/time-jump-detection/DNSSEC off, a free 127.0.0.1 port). docs/benchmarks-daemon.md
# has the method and the results.
#
# What is measured (helpers: bench/daemon-probe.py inside the root, bench/daemon-summarize.py on the host):
#   A. start/stop (daemon-probe.py startstop; runs interleaved ours/reference, the first round is a discarded
#      warm-up): process start to the first DNS answer (UDP query every 1 ms), to the API answering GET /;
#      VmRSS/Pss of every process of the tree 1 s after that; the stop signal to the whole tree gone. Signals: to
#      the main PID, SIGTERM and SIGINT (the reference unit's KillSignal), and SIGINT to every process at once
#      (systemd's default KillMode=control-group). kresd alone (daemon-probe.py kresd): spawn to READY=1, to the
#      first answer, SIGTERM to exit, and the policy-loader's run, with the worker Lua our kresctl renders.
#   B. one running instance per implementation and round, started on an empty cache (API on a unix socket, curl
#      --unix-socket, time_total): option change (PUT /v1/config/options/minimize) "cold" (right after the start,
#      while every worker's time-skew probe to the dead upstream is in flight) and "warm" (after waiting until no
#      worker has a query in flight: daemon-probe.py ctl-idle), local-data change (PUT .../local-data/addresses/...,
#      checked with a DNS query right after the answer), workers 2->3 and 3->2; dnsperf capacity (-c 8 -l 5), then
#      a forced reload (POST /reload/force, the request `kresctl reload --force` sends) under dnsperf at half the
#      capacity (-Q) and at full load, plus a half-load run without a reload (control); metrics scrape time with
#      8 workers (/metrics/json, /metrics/prometheus; GET / as the HTTP floor; the kresd side alone: the metrics
#      command sent to the 8 control sockets concurrently by daemon-probe.py ctl-scrape); the tree's RSS after all.
#   C. GET /v1/config throughput: wrk -t2 -c8 -d5s over TCP (wrk cannot use unix sockets, so this instance has
#      `management: {interface: 127.0.0.1@<port>}`; both implementations alike).
# Everything listens on 127.0.0.1 only; every process started here is killed on exit (trap), by PID and by the
# scratch directories it runs in (never by name).
#
# Usage: bench/daemon.sh [--quick]
#   --quick            few runs, short loads (a smoke test of the script, not a measurement)
# Environment:
#   KRES_BENCH_DIR     output directory (default: <workspace>/target/bench/daemon; must be inside the workspace)
#   RUNS_START         start/stop runs per variant (default 8; plus one warm-up round)
#   RUNS_CHANGE        config changes per kind and round (default 8)
#   RUNS_SCRAPE        metrics scrapes per format and round (default 200)
#   ROUNDS             rounds of B and C (default 2)
#   KRES_BENCH_NO_BUILD=1  use the existing target/release binaries
#   KRES_BENCH_ONLY    a subset of "A B C" (default all)
# Must run as root (chroot). Uses scripts/sid-root.sh (build + with-mounts) like `cargo xtask test`. Installs wrk
# into the sid root with apt-get on first use.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
WORKSPACE="$(cd "$SCRIPT_DIR/.." && pwd -P)"
SID_ROOT="$WORKSPACE/scripts/sid-root.sh"
OUT="${KRES_BENCH_DIR:-$WORKSPACE/target/bench/daemon}"
OURS_BIN="$WORKSPACE/target/release/knot-resolver"
OURS_CTL="$WORKSPACE/target/release/kresctl"
REF_BIN=/usr/bin/knot-resolver
PROBE="$SCRIPT_DIR/daemon-probe.py"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# --- inside the root ------------------------------------------------------------------------------------------------

STARTED=()   # top PIDs (session leaders) started by this script
BG=()        # other background PIDs (dnsperf)

cleanup() {
    local p
    for p in "${BG[@]}"; do
        pkill -KILL -P "$p" 2>/dev/null || true
        kill -KILL "$p" 2>/dev/null || true
    done
    for p in "${STARTED[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
    for p in ours ref kresd; do
        if [[ -d "$OUT/$p" ]]; then python3 "$PROBE" cleanup "$OUT/$p" >/dev/null 2>&1 || true; fi
    done
}

ensure_tools() {
    command -v dnsperf >/dev/null || die "dnsperf is missing in the sid root"
    command -v wrk >/dev/null && return 0
    log "installing wrk into the sid root (Debian package)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >/dev/null 2>&1 ||
        { apt-get update >/dev/null 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >/dev/null 2>&1; } ||
        die "cannot install wrk"
}

# Every 5 s (at most 2 h): the machine's CPU busy % over the interval and how many compiler/test processes of
# other users run (rustc, cargo, cc, ld, nextest): the noise of a shared machine. Read-only.
sample_load() {
    local i a b idle0 total0 idle1 total1 n
    read -r _ a b < <(awk '/^cpu / {idle=$5+$6; t=0; for (i=2;i<=NF;i++) t+=$i; print "x", idle, t}' /proc/stat)
    idle0=$a total0=$b
    for ((i = 0; i < 1440; i++)); do
        sleep 5
        read -r _ idle1 total1 < <(awk '/^cpu / {idle=$5+$6; t=0; for (i=2;i<=NF;i++) t+=$i; print "x", idle, t}' /proc/stat)
        n="$(pgrep -c -x 'rustc|cargo|cc|ld|cargo-nextest|clippy-driver|cc1' 2>/dev/null || true)"
        echo "$(date +%s) $(((100 * ((total1 - total0) - (idle1 - idle0))) / (total1 - total0 + 1))) $n" >>"$OUT/results/load.txt"
        idle0=$idle1 total0=$total1
    done
}

# gen_config IMPL DNS_PORT MGMT FILE: MGMT is "unix" (socket in the rundir) or a TCP port.
gen_config() {
    local impl="$1" port="$2" mgmt="$3" file="$4" dir="$OUT/$1" management
    if [[ "$mgmt" == unix ]]; then
        management="  unix-socket: $dir/run/kres-api.sock"
    else
        management="  interface: 127.0.0.1@$mgmt"
    fi
    # Ours keeps its configuration history in the run's directory, not in the root's /var/lib/knot-resolver.
    if [[ "$impl" == ours ]]; then
        management+=$'\n'"  state-dir: $dir/state"
    fi
    cat >"$file" <<EOF
# generated by bench/daemon.sh ($impl)
rundir: $dir/run
workers: 2
management:
$management
network:
  listen:
    - interface: 127.0.0.1@$port
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
  records: |
    txt.bench.example. 300 TXT "bench"
cache:
  storage: $dir/cache
  size-max: 50M
logging:
  level: notice
EOF
}

bin_of() { if [[ "$1" == ours ]]; then echo "$OURS_BIN"; else echo "$REF_BIN"; fi; }
stop_signal_of() { if [[ "$1" == ours ]]; then echo TERM; else echo INT; fi; }

# --- A: start / stop / RSS -------------------------------------------------------------------------------------------

part_a() {
    log "A: kresd alone (policy-loader run, spawn to READY, to first answer, SIGTERM to exit)"
    local kd="$OUT/kresd"
    mkdir -p "$kd/run" "$kd/cache"
    gen_config kresd "$DNS_KRESD" unix "$kd/config.yaml"
    (cd "$kd/run" && "$OURS_CTL" convert --type policy-loader "$kd/config.yaml" -o policy-loader.conf &&
        "$OURS_CTL" convert --type worker "$kd/config.yaml" -o kresd0.conf)
    python3 "$PROBE" kresd --dir "$kd/run" --port "$DNS_KRESD" --runs "$RUNS_START" >"$OUT/results/kresd.json"

    local run impl variant sig all port args line
    : >"$OUT/results/startstop.jsonl"
    for ((run = 0; run <= RUNS_START; run++)); do
        for variant in ours:TERM ref:INT ours:INT ref:TERM ours:INT:all ref:INT:all; do
            IFS=: read -r impl sig all <<<"$variant"
            port="$DNS_OURS"
            [[ "$impl" == ref ]] && port="$DNS_REF"
            args=(--port "$port" --api "$OUT/$impl/run/kres-api.sock" --rundir "$OUT/$impl" --signal "$sig"
                --log "$OUT/logs/startstop.$impl.log")
            [[ -n "$all" ]] && args+=(--signal-all)
            log "A: run $run/$RUNS_START $impl SIG$sig${all:+ to every process}"
            line="$(python3 "$PROBE" startstop "${args[@]}" --cwd "$OUT/$impl" -- "$(bin_of "$impl")" -c "$OUT/$impl/config.yaml")"
            python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(impl=sys.argv[2], variant=sys.argv[3], run=int(sys.argv[4])); print(json.dumps(d))' \
                "$line" "$impl" "SIG$sig${all:+ to all}" "$run" >>"$OUT/results/startstop.jsonl"
            if grep -q '"error"' <<<"$line"; then log "A: $impl failed: $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["error"])' "$line")"; fi
            sleep 0.5
        done
    done

    # where the time goes: three more runs of each at logging level debug; daemon-summarize.py reads the log
    # timestamps of the milestones relative to the process start and to the stop signal
    for ((run = 1; run <= 3; run++)); do
        for impl in ours ref; do
            log "A: timeline run $run/3 of $impl (logging level debug)"
            sed 's/^  level: notice$/  level: debug/' "$OUT/$impl/config.yaml" >"$OUT/$impl/config-debug.yaml"
            : >"$OUT/logs/timeline.$impl.$run.log"
            port="$DNS_OURS"
            [[ "$impl" == ref ]] && port="$DNS_REF"
            python3 "$PROBE" startstop --port "$port" --api "$OUT/$impl/run/kres-api.sock" --rundir "$OUT/$impl" \
                --signal "$(stop_signal_of "$impl")" --log "$OUT/logs/timeline.$impl.$run.log" --cwd "$OUT/$impl" \
                -- "$(bin_of "$impl")" -c "$OUT/$impl/config-debug.yaml" >"$OUT/results/timeline.$impl.$run.json"
            sleep 0.5
        done
    done
}

# --- a running instance ----------------------------------------------------------------------------------------------

TOP=""

# start_daemon IMPL CONFIG API: start in its own session, wait (bounded) until the API and DNS answer.
start_daemon() {
    local impl="$1" config="$2" api="$3" i
    (cd "$OUT/$impl" && exec setsid "$(bin_of "$impl")" -c "$config" >>"$OUT/logs/session.$impl.log" 2>&1) &
    TOP=$!
    STARTED+=("$TOP")
    for ((i = 0; i < 600; i++)); do
        if api_get "$api" / >/dev/null 2>&1 && dns_ok "$(dns_port_of "$impl")"; then return 0; fi
        [[ -d /proc/$TOP ]] || die "$impl exited during start-up (see $OUT/logs/session.$impl.log)"
        sleep 0.1
    done
    die "$impl did not become ready within 60 s"
}

stop_daemon() {
    local impl="$1" i st
    kill -"$(stop_signal_of "$impl")" "$TOP" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        st="$(awk '{print $3}' "/proc/$TOP/stat" 2>/dev/null || echo gone)"
        [[ "$st" == Z || "$st" == gone ]] && break
        sleep 0.1
    done
    kill -KILL -- "-$TOP" 2>/dev/null || true
    wait "$TOP" 2>/dev/null || true
    sleep 0.5
    local left
    left="$(python3 "$PROBE" cleanup "$OUT/$impl")"
    [[ "$left" == "[]" ]] || log "killed leftovers of $impl: $left"
}

dns_port_of() { if [[ "$1" == ours ]]; then echo "$DNS_OURS"; else echo "$DNS_REF"; fi; }
dns_ok() { kdig +short +timeout=1 +retry=0 @127.0.0.1 -p "$1" bench.example A 2>/dev/null | grep -q '^192\.0\.2\.'; }

# curl against the API: $API is a unix socket path or host:port.
curl_api() {
    local api="$1"
    shift
    if [[ "$api" == /* ]]; then
        curl -sS --max-time 120 --unix-socket "$api" "$@"
    else
        curl -sS --max-time 120 "$@"
    fi
}
api_url() { if [[ "$1" == /* ]]; then echo "http://localhost$2"; else echo "http://$1$2"; fi; }
api_get() { curl_api "$1" -f "$(api_url "$1" "$2")"; }

# timed_put API POINTER JSON OUTFILE: append time_total (s) to OUTFILE; die unless 200.
timed_put() {
    local api="$1" ptr="$2" body="$3" out="$4" res
    res="$(curl_api "$api" -o "$OUT/logs/last-body" -w '%{http_code} %{time_total}' -X PUT \
        -H 'Content-Type: application/json' --data-binary "$body" "$(api_url "$api" "/v1/config$ptr")")"
    [[ "${res%% *}" == 200 ]] || die "PUT $ptr $body -> $res: $(head -c 2000 "$OUT/logs/last-body")"
    echo "${res#* }" >>"$out"
}

timed_post() {
    local api="$1" path="$2" out="$3" res
    res="$(curl_api "$api" -o "$OUT/logs/last-body" -w '%{http_code} %{time_total}' -X POST "$(api_url "$api" "$path")")"
    [[ "${res%% *}" == 200 ]] || die "POST $path -> $res: $(head -c 2000 "$OUT/logs/last-body")"
    echo "${res#* }" >>"$out"
}

kresd_pids() { api_get "$1" /processes/kresd | python3 -c 'import json,sys; print(" ".join(str(p["pid"]) for p in json.load(sys.stdin)))'; }
kresd_count() { api_get "$1" /processes/kresd | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

# --- B: config changes, reload under load, metrics --------------------------------------------------------------------

dnsperf_run() { # PORT SECONDS OUTFILE [extra args]
    local port="$1" secs="$2" out="$3"
    shift 3
    dnsperf -s 127.0.0.1 -p "$port" -d "$OUT/queries.txt" -c 8 -l "$secs" "$@" >"$out" 2>&1
}

qps_of() { awk '/Queries per second:/ {printf "%d\n", $4}' "$1"; }

part_b_session() {
    local impl="$1" round="$2" api="$OUT/$1/run/kres-api.sock" port i v n
    port="$(dns_port_of "$impl")"
    local R="$OUT/results"
    log "B: $impl round $round: start (empty cache)"
    # an empty cache: kresd knows nothing about the (dead) upstream yet, see the "cold" series below
    rm -rf "${OUT:?}/$impl/cache"
    mkdir -p "$OUT/$impl/cache"
    start_daemon "$impl" "$OUT/$impl/config.yaml" "$api"
    sleep 1

    # "cold": every worker is younger than ~4 s, so its time-skew probe to the dead upstream (127.0.0.1@9) is
    # still in flight; a manager that drains a worker before stopping it waits for that query (up to its cap)
    log "B: $impl: option change x$RUNS_CHANGE (cold: upstream probe in flight)"
    for ((i = 0; i < RUNS_CHANGE; i++)); do
        if ((i % 2 == 0)); then v=false; else v=true; fi
        timed_put "$api" /options/minimize "$v" "$R/rt.$impl.option-cold.txt"
    done
    ((RUNS_CHANGE % 2 == 0)) || timed_put "$api" /options/minimize true "$OUT/logs/untimed.txt"
    # "warm": once one probe has failed for good, kresd's cache remembers the dead upstream and the probes of
    # new workers fail at once; no query is in flight when a worker is stopped
    python3 "$PROBE" ctl-idle --rundir "$OUT/$impl/run" --timeout 20 >>"$R/idle.$impl.jsonl"

    log "B: $impl: option change x$RUNS_CHANGE (warm)"
    for ((i = 0; i < RUNS_CHANGE; i++)); do
        if ((i % 2 == 0)); then v=false; else v=true; fi
        timed_put "$api" /options/minimize "$v" "$R/rt.$impl.option.txt"
    done
    ((RUNS_CHANGE % 2 == 0)) || timed_put "$api" /options/minimize true "$OUT/logs/untimed.txt"

    log "B: $impl: local-data change x$RUNS_CHANGE"
    for ((i = 0; i < RUNS_CHANGE; i++)); do
        if ((i % 2 == 0)); then v=192.0.2.2; else v=192.0.2.1; fi
        timed_put "$api" /local-data/addresses/bench.example "\"$v\"" "$R/rt.$impl.localdata.txt"
        # every worker must serve the new address as soon as the change is acknowledged (8 source ports)
        local ok=ok j
        for ((j = 0; j < 8; j++)); do
            [[ "$(kdig +short +timeout=1 +retry=0 @127.0.0.1 -p "$port" bench.example A 2>/dev/null)" == "$v" ]] || ok=stale
        done
        echo "$ok" >>"$R/ldcheck.$impl.txt"
    done
    ((RUNS_CHANGE % 2 == 0)) || timed_put "$api" /local-data/addresses/bench.example '"192.0.2.1"' "$OUT/logs/untimed.txt"

    log "B: $impl: workers 2->3->2 x$RUNS_CHANGE"
    for ((i = 0; i < RUNS_CHANGE; i++)); do
        timed_put "$api" /workers 3 "$R/rt.$impl.workers23.txt"
        n="$(kresd_count "$api")"
        [[ "$n" == 3 ]] || log "B: $impl: $n kresd after workers=3"
        timed_put "$api" /workers 2 "$R/rt.$impl.workers32.txt"
    done

    log "B: $impl: dnsperf capacity"
    dnsperf_run "$port" "$LOAD_SHORT" "$R/dnsperf.$impl.capacity.$round.txt"
    local cap half
    cap="$(qps_of "$R/dnsperf.$impl.capacity.$round.txt")"
    [[ -n "$cap" && "$cap" -gt 0 ]] || die "no capacity from dnsperf: $(cat "$R/dnsperf.$impl.capacity.$round.txt")"
    half=$((cap / 2))
    log "B: $impl: capacity $cap qps; half-load control run (no reload)"
    dnsperf_run "$port" "$LOAD_LONG" "$R/dnsperf.$impl.half-noreload.$round.txt" -Q "$half"
    echo "$half" >"$R/dnsperf.$impl.half-noreload.$round.qps"
    local kind extra dp before after
    for kind in half-reload full-reload; do
        extra=()
        [[ "$kind" == half-reload ]] && extra=(-Q "$half")
        log "B: $impl: forced reload under dnsperf ($kind)"
        before="$(kresd_pids "$api")"
        dnsperf_run "$port" "$LOAD_LONG" "$R/dnsperf.$impl.$kind.$round.txt" "${extra[@]}" &
        dp=$!
        BG+=("$dp")
        sleep "$RELOAD_AT"
        timed_post "$api" /reload/force "$R/rt.$impl.reload-$kind.txt"
        wait "$dp" || die "dnsperf failed: $(cat "$R/dnsperf.$impl.$kind.$round.txt")"
        [[ "$kind" == half-reload ]] && echo "$half" >"$R/dnsperf.$impl.$kind.$round.qps"
        after="$(kresd_pids "$api")"
        # did the forced reload replace every worker?
        python3 -c 'import sys; b, a = set(sys.argv[1].split()), set(sys.argv[2].split()); print("all-replaced" if b and not (a & b) and len(a) == 2 else "NOT-all-replaced", *sorted(b), "->", *sorted(a))' \
            "$before" "$after" >>"$R/reload-pids.$impl.txt"
    done

    log "B: $impl: metrics with 8 workers x$RUNS_SCRAPE"
    timed_put "$api" /workers 8 "$OUT/logs/untimed.txt"
    n="$(kresd_count "$api")"
    [[ "$n" == 8 ]] || die "$impl runs $n kresd, not 8"
    sleep 1
    local fmt
    for fmt in json prometheus; do
        for ((i = 0; i < 5; i++)); do api_get "$api" "/metrics/$fmt" >"$R/metrics.$impl.$fmt.sample"; done
        for ((i = 0; i < RUNS_SCRAPE; i++)); do
            curl_api "$api" -f -o /dev/null -w '%{time_total}\n' "$(api_url "$api" "/metrics/$fmt")" >>"$R/rt.$impl.metrics-$fmt.txt"
        done
    done
    # the kresd side alone (no manager, no HTTP): the same command to the 8 control sockets concurrently
    python3 "$PROBE" ctl-scrape --rundir "$OUT/$impl/run" --runs "$RUNS_SCRAPE" >"$R/ctlscrape.$impl.$round.json"
    # the HTTP floor: a route that does no work
    for ((i = 0; i < RUNS_SCRAPE; i++)); do
        curl_api "$api" -f -o /dev/null -w '%{time_total}\n' "$(api_url "$api" /)" >>"$R/rt.$impl.root.txt"
    done
    timed_put "$api" /workers 2 "$OUT/logs/untimed.txt"
    sleep 1
    python3 "$PROBE" rss "$TOP" >"$R/rss-after-b.$impl.$round.json"
    stop_daemon "$impl"
}

# --- C: GET /v1/config throughput over TCP ----------------------------------------------------------------------------

part_c_session() {
    local impl="$1" round="$2" mport api i
    mport="$MGMT_OURS"
    [[ "$impl" == ref ]] && mport="$MGMT_REF"
    api="127.0.0.1:$mport"
    gen_config "$impl" "$(dns_port_of "$impl")" "$mport" "$OUT/$impl/config-tcp.yaml"
    log "C: $impl round $round: wrk GET /v1/config over TCP"
    start_daemon "$impl" "$OUT/$impl/config-tcp.yaml" "$api"
    sleep 1
    api_get "$api" /v1/config >"$OUT/results/config-body.$impl.json"
    wrk -t2 -c8 -d1s "http://$api/v1/config" >/dev/null 2>&1 || true   # warm-up
    for ((i = 0; i < 3; i++)); do
        wrk -t2 -c8 -d"$WRK_SECS"s --latency "http://$api/v1/config" >"$OUT/results/wrk.$impl.$round.$i.txt" 2>&1
    done
    python3 "$PROBE" rss "$TOP" >"$OUT/results/rss-after-c.$impl.$round.json"
    stop_daemon "$impl"
}

inner() {
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    QUICK="$1"
    RUNS_START="${RUNS_START:-8}" RUNS_CHANGE="${RUNS_CHANGE:-8}" RUNS_SCRAPE="${RUNS_SCRAPE:-200}" ROUNDS="${ROUNDS:-2}"
    LOAD_SHORT=5 LOAD_LONG=10 RELOAD_AT=3 WRK_SECS=5
    if [[ "$QUICK" == 1 ]]; then
        RUNS_START=2 RUNS_CHANGE=2 RUNS_SCRAPE=10 ROUNDS=1 LOAD_SHORT=2 LOAD_LONG=4 RELOAD_AT=1 WRK_SECS=2
    fi
    local only="${KRES_BENCH_ONLY:-A B C}"
    ensure_tools
    mkdir -p "$OUT/results" "$OUT/logs"
    cd "$OUT"
    # a fresh state: the scratch directories of both implementations (plain directories inside target/)
    local impl
    for impl in ours ref kresd; do
        python3 "$PROBE" cleanup "$OUT/$impl" >/dev/null 2>&1 || true
        rm -rf "${OUT:?}/$impl"
        mkdir -p "$OUT/$impl/run" "$OUT/$impl/cache"
    done
    [[ "$only" == *A* ]] && rm -f "$OUT"/results/startstop.jsonl "$OUT"/results/kresd.json "$OUT"/results/timeline.*
    [[ "$only" == *B* ]] && rm -f "$OUT"/results/rt.* "$OUT"/results/ldcheck.* "$OUT"/results/dnsperf.* \
        "$OUT"/results/metrics.* "$OUT"/results/rss-after-b.* "$OUT"/results/ctlscrape.* \
        "$OUT"/results/reload-pids.* "$OUT"/results/idle.*
    [[ "$only" == *C* ]] && rm -f "$OUT"/results/wrk.* "$OUT"/results/rss-after-c.* "$OUT"/results/config-body.*
    find "$OUT/logs" -type f ! -name 'timeline.*' -delete
    rm -f "$OUT/results/load.txt"
    [[ "$only" == *A* ]] && rm -f "$OUT"/logs/timeline.*
    printf 'bench.example A\ntxt.bench.example TXT\n' >"$OUT/queries.txt"
    read -r DNS_OURS DNS_REF DNS_KRESD MGMT_OURS MGMT_REF < <(python3 "$PROBE" free-ports 5 | tr -d '[],')
    gen_config ours "$DNS_OURS" unix "$OUT/ours/config.yaml"
    gen_config ref "$DNS_REF" unix "$OUT/ref/config.yaml"
    {
        echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "nproc=$(nproc)"
        echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
        echo "kernel=$(uname -r)"
        echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
        echo "reference=$("$REF_BIN" --version 2>&1 | tail -1) (python $(python3 -c 'import sys; print(sys.version.split()[0])'), supervisor $(dpkg-query -W -f='${Version}' supervisor))"
        echo "ours=$("$OURS_BIN" --version 2>&1 | head -1) (git $(cat "$OUT/git-rev" 2>/dev/null || echo unknown))"
        echo "kresd=$(/usr/sbin/kresd --version 2>&1 | head -1)"
        echo "dnsperf=$(dpkg-query -W -f='${Version}' dnsperf) wrk=$(dpkg-query -W -f='${Version}' wrk) curl=$(curl --version | head -1 | cut -d' ' -f2)"
        echo "quick=$QUICK runs_start=$RUNS_START runs_change=$RUNS_CHANGE runs_scrape=$RUNS_SCRAPE rounds=$ROUNDS load=${LOAD_SHORT}s/${LOAD_LONG}s wrk=${WRK_SECS}s"
    } >"$OUT/results/machine.txt"
    sample_load &
    BG+=("$!")
    [[ "$only" == *A* ]] && part_a
    local round
    for ((round = 1; round <= ROUNDS; round++)); do
        if [[ "$only" == *B* ]]; then
            part_b_session ours "$round"
            part_b_session ref "$round"
        fi
        if [[ "$only" == *C* ]]; then
            part_c_session ours "$round"
            part_c_session ref "$round"
        fi
    done
    echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/results/machine.txt"
}

# --- on the host -----------------------------------------------------------------------------------------------------

main() {
    if [[ "${1:-}" == --inner ]]; then
        inner "${2:-0}"
        return
    fi
    local quick=0
    [[ "${1:-}" == --quick ]] && quick=1
    [[ $(id -u) -eq 0 ]] || die "must run as root (the benchmark runs inside the sid root through chroot)"
    case "$OUT" in
        "$WORKSPACE"/*) ;;
        *) die "KRES_BENCH_DIR=$OUT is not inside the workspace $WORKSPACE, so the sid root cannot see it" ;;
    esac
    if [[ "${KRES_BENCH_NO_BUILD:-0}" != 1 ]]; then
        log "building knot-resolver and kresctl (release)"
        (cd "$WORKSPACE" && cargo build --release --quiet -p kres-manager -p kresctl)
    fi
    [[ -x "$OURS_BIN" && -x "$OURS_CTL" ]] || die "build first: cargo build --release -p kres-manager -p kresctl"
    mkdir -p "$OUT"
    (cd "$WORKSPACE" && { git rev-parse --short HEAD; git diff --quiet HEAD -- crates || echo "+dirty"; } | paste -sd '' -) \
        >"$OUT/git-rev" 2>/dev/null || true
    "$SID_ROOT" build
    # pass the knobs through the root's clean environment
    local env=() v
    for v in KRES_BENCH_DIR RUNS_START RUNS_CHANGE RUNS_SCRAPE ROUNDS KRES_BENCH_ONLY; do
        [[ -n "${!v:-}" ]] && env+=("$v=${!v}")
    done
    "$SID_ROOT" with-mounts "$SID_ROOT" exec /usr/bin/env "${env[@]}" /bin/bash "$SCRIPT_DIR/daemon.sh" --inner "$quick"
    python3 "$SCRIPT_DIR/daemon-summarize.py" "$OUT" | tee "$OUT/results.md"
}

main "$@"
