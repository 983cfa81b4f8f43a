#!/usr/bin/env bash
# Packaging test, inside fresh mount/PID/network namespaces (started by package-test.sh; this shell is PID 1):
# mounts an overlay of the sid root with a private /proc, /run and the host's /dev, copies the payload (the .deb and
# distro/tests) into it and runs harness/in-root.sh there with chroot.
#
#   namespace.sh ROOT WORK [SCENARIO...]
set -euo pipefail

ROOT="$1"
WORK="$2"
shift 2
M="$WORK/merged"

mount -t overlay overlay -o "lowerdir=$ROOT,upperdir=$WORK/upper,workdir=$WORK/work" "$M"
mount -t proc proc "$M/proc"
mount -t tmpfs -o mode=0755 tmpfs "$M/run"
mount --bind /dev "$M/dev"
mount --bind /dev/pts "$M/dev/pts"
mount --bind -o ro /sys "$M/sys"
mkdir -p "$M/opt/kres-package-test"
cp -r "$WORK/payload/." "$M/opt/kres-package-test/"

chroot "$M" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LANG=C.UTF-8 TERM=dumb /bin/bash /opt/kres-package-test/tests/harness/in-root.sh "$@"
