#!/usr/bin/env bash
# manager: none
# Removing the package gives knot-resolver6's Python manager its files back (the diversions are undone).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

step "dpkg -r knot-resolver-manager-rs"
must dpkg -r knot-resolver-manager-rs
[[ -z "$(dpkg-divert --list '*' | grep 'knot-resolver-manager-rs' || true)" ]] || fail "diversions are left"
for bin in knot-resolver kresctl; do
    head -n 1 /usr/bin/$bin | grep -q python3 || fail "/usr/bin/$bin is not the Python one again"
    [[ ! -e /usr/bin/$bin.python ]] || fail "/usr/bin/$bin.python is left"
done
grep -q -- '--logtarget=syslog' /usr/lib/systemd/system/knot-resolver.service || fail "the Python unit is not back"
[[ ! -e /usr/lib/systemd/system/knot-resolver.service.python ]] || fail "the diverted unit is left"
[[ -e /usr/share/man/man8/kresctl.8.gz && ! -e /usr/share/man/man8/kresctl.python.8.gz ]] || fail "kresctl(8)"
[[ ! -e /usr/share/man/man8/knot-resolver.8.gz ]] || fail "knot-resolver(8) is left"
grep -q '_kresctl_completion' /usr/share/bash-completion/completions/kresctl || fail "the Python completion"
must kresctl validate "$CONFIG" >/dev/null

step "installing again"
must dpkg -i /opt/kres-package-test/*.deb >/dev/null
[[ "$(head -c 4 /usr/bin/kresctl)" == $'\x7fELF' ]] || fail "kresctl is not ours after reinstalling"
