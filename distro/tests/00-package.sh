#!/usr/bin/env bash
# The package is installed beside knot-resolver6 and has taken over the Python manager's files (dpkg-divert).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

step "package state"
[[ "$(dpkg-query -W -f='${db:Status-Status}' knot-resolver-manager-rs)" == installed ]] || fail "not installed"
[[ "$(dpkg-query -W -f='${db:Status-Status}' knot-resolver6)" == installed ]] || fail "knot-resolver6 missing"

step "diversions"
diversions="$(dpkg-divert --list '*' | grep 'by knot-resolver-manager-rs' | sort)"
printf '%s\n' "$diversions"
for pair in \
    /usr/bin/knot-resolver:/usr/bin/knot-resolver.python \
    /usr/bin/kresctl:/usr/bin/kresctl.python \
    /usr/lib/systemd/system/knot-resolver.service:/usr/lib/systemd/system/knot-resolver.service.python \
    /usr/share/man/man8/kresctl.8.gz:/usr/share/man/man8/kresctl.python.8.gz \
    /usr/share/bash-completion/completions/kresctl:/usr/share/bash-completion/completions/kresctl.distrib; do
    grep -qxF "diversion of ${pair%%:*} to ${pair#*:} by knot-resolver-manager-rs" <<<"$diversions" ||
        fail "missing diversion $pair"
done
[[ $(wc -l <<<"$diversions") -eq 5 ]] || fail "unexpected diversions"

step "our binaries, the Python ones beside them"
for bin in knot-resolver kresctl; do
    [[ "$(head -c 4 /usr/bin/$bin)" == $'\x7fELF' ]] || fail "/usr/bin/$bin is not ours"
    head -n 1 /usr/bin/$bin.python | grep -q python3 || fail "/usr/bin/$bin.python is not the Python one"
done
# The bare version, like the reference's (operators' scripts compare it).
must knot-resolver --version | grep -qx '6.5.0' || fail "knot-resolver --version"
must kresctl --version | grep -qx '6.5.0' || fail "kresctl --version"
must kresctl.python validate "$CONFIG" >/dev/null
must kresctl validate "$CONFIG" >/dev/null

step "sysctl: TCP request migration for rolling restarts (applied by postinst)"
[[ -f /usr/lib/sysctl.d/60-knot-resolver-manager-rs.conf ]] || fail "no sysctl.d file"
grep -qx 'net.ipv4.tcp_migrate_req = 1' /usr/lib/sysctl.d/60-knot-resolver-manager-rs.conf || fail "sysctl.d file content"
[[ "$(cat /proc/sys/net/ipv4/tcp_migrate_req)" == 1 ]] || fail "net.ipv4.tcp_migrate_req is not 1 after install"

step "unit, man pages, completions"
unit=/usr/lib/systemd/system/knot-resolver.service
grep -q 'Rust manager' $unit || fail "the unit is not ours"
grep -q -- '--logtarget=syslog' $unit.python || fail "the Python unit was not kept"
for line in 'Type=notify' 'ExecStart=/usr/bin/knot-resolver --loglevel=notice --logtarget=syslog --config=/etc/knot-resolver/config.yaml' \
    'ExecReload=/usr/bin/kresctl --config=/etc/knot-resolver/config.yaml reload' 'KillSignal=SIGINT' \
    'User=knot-resolver' 'WatchdogSec=60s' 'OOMPolicy=continue' \
    'AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_SETPCAP' 'RuntimeDirectory=knot-resolver'; do
    grep -qxF -- "$line" $unit || fail "the unit lacks $line"
done
if command -v systemd-analyze >/dev/null; then
    # Offline syntax check (no systemd runs here); only complaints about our unit count.
    out="$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify $unit 2>&1 || true)"
    # (Documentation= pages cannot be shown without man-db: not a problem of the unit.)
    if grep 'knot-resolver.service' <<<"$out" | grep -v -e "Can't show" -e 'Failed to connect' -e 'not running'; then
        fail "systemd-analyze verify complains about the unit"
    fi
fi
for page in knot-resolver kresctl kresctl-validate kresctl-convert kresctl-schema kresctl-migrate kresctl-config \
    kresctl-config-get kresctl-config-set kresctl-reload kresctl-metrics kresctl-cache-clear kresctl-pids; do
    zcat /usr/share/man/man8/$page.8.gz | grep -q "^\.TH $page 8 " || fail "man page $page(8)"
done
zcat /usr/share/man/man8/kresctl.python.8.gz | grep -qi kresctl || fail "the Python kresctl(8) was not kept"
grep -q '^_kresctl()' /usr/share/bash-completion/completions/kresctl || fail "bash completion of kresctl"
grep -q '_kresctl_completion' /usr/share/bash-completion/completions/kresctl.distrib || fail "Python completion kept"
for f in bash-completion/completions/knot-resolver fish/vendor_completions.d/kresctl.fish \
    fish/vendor_completions.d/knot-resolver.fish zsh/vendor-completions/_kresctl zsh/vendor-completions/_knot-resolver; do
    [[ -s /usr/share/$f ]] || fail "missing /usr/share/$f"
done
# bash really completes kresctl's subcommands from the installed file.
words="$(bash -c '. /usr/share/bash-completion/completions/kresctl; COMP_WORDS=(kresctl ""); COMP_CWORD=1;
    _kresctl kresctl "" kresctl; printf "%s\n" "${COMPREPLY[@]}"')"
for sub in validate convert schema migrate config reload stop metrics cache pids; do
    grep -qx "$sub" <<<"$words" || fail "bash does not complete $sub"
done
# kresctl completion prints the packaged scripts.
kresctl completion --bash | cmp -s - /usr/share/bash-completion/completions/kresctl || fail "kresctl completion --bash"

step "the default configuration"
cmp -s "$CONFIG" /usr/share/doc/knot-resolver-manager-rs/examples/config.yaml ||
    fail "/etc/knot-resolver/config.yaml differs from the packaged default"
dpkg-query -W -f='${Conffiles}\n' knot-resolver6 | grep -q "$CONFIG" || fail "$CONFIG is not knot-resolver6's conffile"
