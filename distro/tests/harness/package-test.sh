#!/usr/bin/env bash
# Packaging test, host side (run by `cargo xtask package-test`, as root):
#
#   distro/tests/harness/package-test.sh PACKAGE.deb [SCENARIO...]
#
# Installs PACKAGE.deb into a throw-away overlay of the Debian sid root (scripts/sid-root.sh) and runs the scenarios
# distro/tests/NN-*.sh (all, or the named ones: "30-reload" or "reload") against knot-resolver running on the
# packaged defaults. Everything happens in private mount, PID and network namespaces (namespace.sh): the shared root
# is never modified, its other users are not disturbed, port 53 on 127.0.0.1 is private, and every process and
# mount disappears with the namespace. KRES_TEST_KEEP=1 keeps the overlay's upper layer (logs under
# <dir>/upper/var/log/kres-package-test/).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
TESTS="$(dirname "$HERE")"
ROOT="${KRES_SID_ROOT:-/var/tmp/kres-sid-root}"
ROOT="${ROOT%/}"

die() {
    printf 'package-test: error: %s\n' "$*" >&2
    exit 1
}

[[ $# -ge 1 ]] || die "usage: $0 PACKAGE.deb [SCENARIO...]"
[[ $(id -u) -eq 0 ]] || die "must run as root (namespaces, overlay mount, chroot)"
[[ -x "$ROOT/usr/sbin/kresd" ]] || die "the sid root $ROOT is not built; run \"cargo xtask root\""
command -v unshare >/dev/null || die "unshare (util-linux) is missing"
DEB="$(realpath -- "$1")"
shift
[[ -f "$DEB" ]] || die "no package file $DEB"

WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/kres-package-test.XXXXXX")"

# Mounts live only in the private mount namespace, so nothing should ever be mounted under $WORK here; check anyway
# before deleting (a bind mount of /dev under it would make rm -rf destroy the host's /dev).
cleanup() {
    local rc=$?
    if awk -v w="$WORK" 'index($5, w) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
        printf 'package-test: warning: something is still mounted under %s; not deleting it\n' "$WORK" >&2
    elif [[ "${KRES_TEST_KEEP:-}" == 1 ]]; then
        printf 'package-test: kept %s (logs in upper/var/log/kres-package-test/)\n' "$WORK" >&2
    else
        rm -rf --one-file-system "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$WORK/upper" "$WORK/work" "$WORK/merged" "$WORK/payload"
cp "$DEB" "$WORK/payload/"
cp -r "$TESTS" "$WORK/payload/tests"

unshare --mount --pid --net --fork --kill-child --propagation private -- \
    bash "$HERE/namespace.sh" "$ROOT" "$WORK" "$@"
