#!/usr/bin/env bash
# Packaging test, inside the throw-away sid root (started by namespace.sh): installs the package, then runs every
# scenario ../NN-*.sh (or the named ones) with a fresh manager started as knot-resolver.service would start it:
# user knot-resolver with CAP_NET_BIND_SERVICE, --logtarget=stderr (no journald here; the log goes to a
# file the scenario reads as $KRES_TEST_LOG), /etc/knot-resolver/config.yaml restored to the packaged default
# before each scenario. A scenario whose header has "# manager: none" runs without the manager (package removal).
set -uo pipefail

TESTS=/opt/kres-package-test/tests
PAYLOAD=/opt/kres-package-test
OUT=/var/log/kres-package-test
CONFIG=/etc/knot-resolver/config.yaml
export KRES_TEST_LOG="$OUT/manager.log"

mkdir -p "$OUT"
say() { printf 'package-test: %s\n' "$*"; }

ip link set lo up || { say "cannot bring up lo"; exit 1; }

say "installing $(basename "$PAYLOAD"/*.deb)"
if ! DEBIAN_FRONTEND=noninteractive dpkg -i "$PAYLOAD"/*.deb >"$OUT/dpkg-install.log" 2>&1; then
    cat "$OUT/dpkg-install.log"
    say "FAIL: dpkg -i"
    exit 1
fi
cp "$CONFIG" "$OUT/config.yaml.packaged"

MANAGER_PID=""

start_manager() {
    install -d -o knot-resolver -g knot-resolver -m 0750 /run/knot-resolver /var/lib/knot-resolver \
        /var/cache/knot-resolver
    # As systemd's StateDirectory= does for the unit: the state directory (the configuration history) belongs
    # to the service user, whatever created what inside it.
    chown -R knot-resolver:knot-resolver /var/lib/knot-resolver
    : >"$KRES_TEST_LOG"
    # ExecStart= of the unit, with its User=, AmbientCapabilities= and WorkingDirectory=.
    (
        cd /var/lib/knot-resolver || exit 1
        exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
            setpriv --reuid=knot-resolver --regid=knot-resolver --init-groups \
            --inh-caps=-all,+net_bind_service,+setpcap --ambient-caps=+net_bind_service,+setpcap \
            /usr/bin/knot-resolver --loglevel=notice --logtarget=stderr --config="$CONFIG"
    ) >>"$KRES_TEST_LOG" 2>&1 &
    MANAGER_PID=$!
    local deadline=$((SECONDS + 60))
    until curl --silent --fail --max-time 5 --unix-socket /run/knot-resolver/kres-api.sock \
        http://localhost/readyz >/dev/null 2>&1; do
        if ! kill -0 "$MANAGER_PID" 2>/dev/null; then
            say "knot-resolver exited before it was ready"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            say "knot-resolver not ready within 60 s"
            return 1
        fi
        sleep 0.1
    done
}

# SIGINT (the unit's KillSignal=), then wait; returns non-zero if it did not stop cleanly.
stop_manager() {
    [[ -n "$MANAGER_PID" ]] || return 0
    local pid=$MANAGER_PID rc=0
    MANAGER_PID=""
    kill -INT "$pid" 2>/dev/null
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        say "knot-resolver did not stop within 30 s after SIGINT"
        kill -KILL "$pid"
        rc=1
    fi
    wait "$pid" || { rc=$?; say "knot-resolver exited with $rc"; }
    if pidof kresd kres-cache-gc >/dev/null; then
        say "processes left after the stop: $(pidof kresd kres-cache-gc)"
        rc=1
    fi
    return "$rc"
}

# The scenarios: all NN-*.sh, or those named on the command line.
scenarios=()
if [[ $# -eq 0 ]]; then
    for f in "$TESTS"/[0-9][0-9]-*.sh; do scenarios+=("$f"); done
else
    for name in "$@"; do
        name="${name%.sh}"
        match=("$TESTS"/"$name".sh "$TESTS"/[0-9][0-9]-"$name".sh)
        found=""
        for f in "${match[@]}"; do [[ -f "$f" ]] && found="$f"; done
        [[ -n "$found" ]] || { say "no scenario '$name' in distro/tests"; exit 1; }
        scenarios+=("$found")
    done
fi

passed=()
failed=()
for script in "${scenarios[@]}"; do
    name="$(basename "$script" .sh)"
    cp "$OUT/config.yaml.packaged" "$CONFIG"
    rm -rf /run/knot-resolver
    started=$SECONDS
    ok=1
    with_manager=1
    grep -q '^# manager: none' "$script" && with_manager=0
    if ((with_manager)) && ! start_manager; then
        ok=0
    fi
    if ((ok)); then
        (cd /tmp && bash "$script") >"$OUT/$name.out" 2>&1 || ok=0
    fi
    if ((with_manager)); then
        stop_manager >>"$OUT/$name.out" 2>&1 || ok=0
        if grep -q 'panicked at' "$KRES_TEST_LOG"; then
            echo "the manager panicked" >>"$OUT/$name.out"
            ok=0
        fi
        cp "$KRES_TEST_LOG" "$OUT/$name.manager.log"
    fi
    if ((ok)); then
        say "PASS $name ($((SECONDS - started)) s)"
        passed+=("$name")
    else
        say "FAIL $name ($((SECONDS - started)) s); its output:"
        sed 's/^/    | /' "$OUT/$name.out"
        if ((with_manager)); then
            say "the manager's log (last 60 lines):"
            tail -n 60 "$OUT/$name.manager.log" | sed 's/^/    | /'
        fi
        failed+=("$name")
    fi
done

say "${#passed[@]} passed: ${passed[*]:-}"
if [[ ${#failed[@]} -gt 0 ]]; then
    say "${#failed[@]} FAILED: ${failed[*]}"
    exit 1
fi
