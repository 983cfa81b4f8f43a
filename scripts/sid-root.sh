#!/usr/bin/env bash
# Debian sid root ("sid root") in which the project's tests and dev runs execute.
#
# The root holds the real kresd 6, kdig, knotd, dnsperf and promtool from Debian packages. Host-built binaries run
# inside it through chroot: the workspace is bind-mounted at the same absolute path inside the root, so a path under
# target/ means the same file on the host and inside the root.
#
# Usage: scripts/sid-root.sh <command> [args]
#   build            create the root (debootstrap) and install the package list; idempotent, fast when up to date
#   mount            mount /proc /sys /dev /dev/pts and the workspace into the root and keep them (until `umount`)
#   umount           drop the `mount` pin; unmount whatever no running `with-mounts` still needs
#   status           show the root, its package stamp, its mounts and the processes holding them
#   exec CMD...      run CMD inside the root (chroot, clean env, cwd kept when it exists inside the root)
#   with-mounts CMD...  mount, run CMD on the host, unmount on every exit path (refcounted: concurrent users are safe)
#   destroy          delete the root; refuses while anything under it is mounted or in use
#   mirror           print the Debian mirror that `build` would use
#   host-prereqs     install what the host needs to build and run the root (debootstrap, protoc); `build` does it too
#
# Environment:
#   KRES_SID_ROOT     the root directory (default /var/tmp/kres-sid-root, outside any checkout)
#   KRES_SID_MIRROR   Debian mirror URI (default: taken from the host's apt sources; never hard-coded here)
#   KRES_WORKSPACE    directory bind-mounted into the root (default: the checkout this script lives in)
#   KRES_SHARED_DIR   also bind-mounted (read-only) when set; so is the checkout's sibling `shared/` if it exists
#
# Mount safety: `rm -rf` of a root with /dev or the workspace bind-mounted deletes the host's /dev or the checkout.
# Every path that deletes anything checks /proc/self/mountinfo first and refuses if anything under the root is
# mounted.
set -euo pipefail

ROOT="${KRES_SID_ROOT:-/var/tmp/kres-sid-root}"
ROOT="${ROOT%/}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
WORKSPACE="${KRES_WORKSPACE:-$(cd "$SCRIPT_DIR/.." && pwd -P)}"
WORKSPACE="${WORKSPACE%/}"

# Host directories visible at the same path inside the root: the workspace (read-write), then read-only data that
# tests read from outside the checkout: the sibling `shared/` (tests find it as $CARGO_MANIFEST_DIR/../../../shared)
# and $KRES_SHARED_DIR.
mount_paths() {
    printf '%s\n' "$WORKSPACE"
    local shared
    shared="$(dirname "$WORKSPACE")/shared"
    if [[ -d "$shared" ]]; then
        printf '%s\n' "ro:$shared"
    fi
    if [[ -n "${KRES_SHARED_DIR:-}" && -d "$KRES_SHARED_DIR" ]]; then
        local dir
        dir="$(cd "$KRES_SHARED_DIR" && pwd -P)"
        [[ "$dir" == "$shared" ]] || printf '%s\n' "ro:$dir"
    fi
}

# Packages installed in the root. Re-running `build` installs only what is missing (stamp keyed on this list).
PACKAGES=(
    knot-resolver6 knot-dnsutils knot dnsperf
    curl procps iproute2 ca-certificates
    python3-jsonschema python3-prometheus-client python3-watchdog
    lua-basexx lua-cqueues lua-http lua-psl luajit
    promtool
    chromium-headless-shell
    etcd-server etcd-client
)
# Installed after PACKAGES, without recommends; a failure here is a warning, not an error. promtool (needed to check
# metrics) is in its own small package in sid, so the prometheus server is not installed; add it here if wanted.
OPTIONAL_PACKAGES=()

# State kept next to the root (not inside it, so `destroy` of a half-built root keeps the lock usable).
LOCK_FILE="$ROOT.lock"            # flock for mount bookkeeping
BUILD_LOCK_FILE="$ROOT.build.lock" # flock for debootstrap/apt-get
USERS_DIR="$ROOT.users"           # one file per mount user: <pid> (with-mounts) or pin.<n> (mount); content: workspace
WS_MOUNTS_FILE="$ROOT.ws-mounts"  # the workspace mount points this script made (only those are unmounted per user)
STAMP_DIR="$ROOT/var/lib/kres-sid-root"
BOOTSTRAP_STAMP="$STAMP_DIR/debootstrap.done"
PACKAGES_STAMP="$STAMP_DIR/packages.stamp"
BASE_MOUNTS=(proc sys dev dev/pts)
IN_ROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf 'sid-root: %s\n' "$*" >&2; }
die() { printf 'sid-root: error: %s\n' "$*" >&2; exit 1; }

require_root_user() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (chroot, mount and debootstrap need it)"
}

# --- mount inspection ---------------------------------------------------------------------------------------------

# Mount points (one per line, octal escapes decoded) at or under $1, deepest first.
mounts_under() {
    local prefix="$1"
    awk -v p="$prefix" '
        function unesc(s,   out, i, c) {
            out = ""
            for (i = 1; i <= length(s); i++) {
                c = substr(s, i, 1)
                if (c == "\\" && substr(s, i + 1, 3) ~ /^[0-7][0-7][0-7]$/) {
                    out = out sprintf("%c", (substr(s, i + 1, 1) * 64) + (substr(s, i + 2, 1) * 8) + substr(s, i + 3, 1))
                    i += 3
                } else {
                    out = out c
                }
            }
            return out
        }
        { m = unesc($5); if (m == p || index(m, p "/") == 1) print m }
    ' /proc/self/mountinfo | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-
}

is_mounted() { # exact mount point
    local target="$1" m
    while IFS= read -r m; do
        [[ "$m" == "$target" ]] && return 0
    done < <(mounts_under "$target")
    return 1
}

refuse_if_mounted() {
    local what="$1" found
    found="$(mounts_under "$ROOT")"
    if [[ -n "$found" ]]; then
        printf 'sid-root: error: refusing to %s: these are still mounted under %s:\n' "$what" "$ROOT" >&2
        # shellcheck disable=SC2001
        sed 's/^/    /' <<<"$found" >&2
        printf 'sid-root: run "%s umount" (and stop any running "with-mounts" users) first\n' "$0" >&2
        exit 1
    fi
}

# Delete a directory tree that should hold no mounts. Checked right before deleting.
safe_rm_root() {
    refuse_if_mounted "delete $ROOT"
    # --one-file-system is a second guard for non-bind mounts (proc, sysfs, devtmpfs); bind mounts of the same
    # filesystem are caught only by the mountinfo check above.
    rm -rf --one-file-system "$ROOT"
}

# --- mirror -------------------------------------------------------------------------------------------------------

# The host's Debian mirror: first URIs: of a deb822 stanza with a plain Debian suite (not -security/-updates),
# else the first such `deb` line in sources.list.
detect_mirror() {
    if [[ -n "${KRES_SID_MIRROR:-}" ]]; then
        printf '%s\n' "${KRES_SID_MIRROR%/}"
        return
    fi
    local f uri
    shopt -s nullglob
    for f in /etc/apt/sources.list.d/*.sources; do
        uri="$(awk '
            function flush() {
                if (types ~ /(^|[ \t])deb([ \t]|$)/ && uris != "" && enabled != "no" && suites_ok) { print uris; found = 1; exit }
                types = ""; uris = ""; suites_ok = 0; enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            tolower($1) == "types:"   { types = $0; sub(/^[^:]*:[ \t]*/, "", types) }
            tolower($1) == "enabled:" { enabled = tolower($2) }
            tolower($1) == "uris:"    { uris = $2 }
            tolower($1) == "suites:"  {
                for (i = 2; i <= NF; i++)
                    if ($i ~ /^(sid|unstable|testing|stable|oldstable|experimental|buzz|rex|bo|hamm|slink|potato|woody|sarge|etch|lenny|squeeze|wheezy|jessie|stretch|buster|bullseye|bookworm|trixie|forky|duke)$/) suites_ok = 1
            }
            END { if (!found) flush() }
        ' "$f")"
        if [[ -n "$uri" ]]; then
            printf '%s\n' "${uri%/}"
            return
        fi
    done
    shopt -u nullglob
    if [[ -r /etc/apt/sources.list ]]; then
        uri="$(awk '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                uri = $i; suite = $(i + 1)
                if (uri ~ /^(https?|ftp|file):/ && suite !~ /[-\/]/) { print uri; exit }
            }
        ' /etc/apt/sources.list)"
        if [[ -n "$uri" ]]; then
            printf '%s\n' "${uri%/}"
            return
        fi
    fi
    die "cannot find a Debian mirror in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list; set KRES_SID_MIRROR"
}

# --- mounting (refcounted) ----------------------------------------------------------------------------------------

with_lock() { # run "$@" in a subshell holding the bookkeeping lock (errexit stays active inside)
    (
        exec 9>"$LOCK_FILE"
        flock 9
        "$@"
    )
}

# Remove entries of with-mounts users that died without cleaning up (SIGKILL).
prune_users_locked() {
    local f pid
    mkdir -p "$USERS_DIR"
    for f in "$USERS_DIR"/*; do
        [[ -e "$f" ]] || continue
        pid="${f##*/}"
        [[ "$pid" =~ ^[0-9]+$ ]] || continue
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$f"
        fi
    done
}

ws_mount_point() { printf '%s%s\n' "$ROOT" "$1"; }

mount_base_locked() {
    local d
    [[ -x "$ROOT/usr/bin/env" ]] || die "$ROOT is not a built root; run \"$0 build\" (or \"cargo xtask root\") first"
    for d in "${BASE_MOUNTS[@]}"; do
        mkdir -p "$ROOT/$d"
        if ! is_mounted "$ROOT/$d"; then
            mount --bind "/$d" "$ROOT/$d"
        fi
    done
}

mount_ws_locked() { # $1 = a host directory, "ro:<dir>" for a read-only one
    local spec="$1" src mp opts=()
    [[ -n "$spec" ]] || return 0
    src="${spec#ro:}"
    [[ "$spec" == ro:* ]] && opts=(-o ro)
    mp="$(ws_mount_point "$src")"
    mkdir -p "$mp"
    if ! is_mounted "$mp"; then
        mount --bind "${opts[@]}" "$src" "$mp"
    fi
    grep -qxF -- "$mp" "$WS_MOUNTS_FILE" 2>/dev/null || printf '%s\n' "$mp" >>"$WS_MOUNTS_FILE"
}

umount_one() {
    local mp="$1"
    if ! umount "$mp" 2>/dev/null; then
        log "umount $mp failed (busy?); detaching it lazily"
        umount -l "$mp"
    fi
}

is_base_mount() {
    local b
    for b in proc sys dev; do
        [[ "$1" == "$ROOT/$b" || "$1" == "$ROOT/$b/"* ]] && return 0
    done
    return 1
}

# Unmount every workspace no user needs any more, then the base mounts if nobody is left.
unmount_unused_locked() {
    prune_users_locked
    local needed=() f m keep ws
    for f in "$USERS_DIR"/*; do
        [[ -e "$f" ]] || continue
        while IFS= read -r m; do
            [[ -n "$m" ]] && needed+=("${m#ro:}")
        done <"$f"
    done
    # workspace mounts: the ones this script made (not a base mount). Mounts that running tests made inside the root
    # (a tmpfs under /tmp, ...) are not touched while anybody still uses the root.
    while IFS= read -r m; do
        [[ -n "$m" && "$m" != "$ROOT" ]] || continue
        is_base_mount "$m" && continue
        grep -qxF -- "$m" "$WS_MOUNTS_FILE" 2>/dev/null || continue
        ws="${m#"$ROOT"}"
        keep=0
        for f in "${needed[@]+"${needed[@]}"}"; do
            [[ "$f" == "$ws" ]] && keep=1
        done
        if [[ $keep -eq 0 ]]; then
            umount_one "$m"
        fi
    done < <(mounts_under "$ROOT")
    if [[ ${#needed[@]} -eq 0 ]]; then
        while IFS= read -r m; do
            [[ -n "$m" ]] || continue
            umount_one "$m"
        done < <(mounts_under "$ROOT")
        rm -f "$WS_MOUNTS_FILE"
    fi
}

acquire_locked() { # $1 = user entry name, $2... = mount_paths lines (none: base mounts only)
    local name="$1" p
    shift
    prune_users_locked
    mount_base_locked
    for p in "$@"; do
        mount_ws_locked "$p"
    done
    printf '%s\n' "$@" >"$USERS_DIR/$name"
}

release_locked() { # $1 = user entry name
    rm -f "$USERS_DIR/$1"
    unmount_unused_locked
}

# Mount the root (with the workspace if $1 is "ws", bare if it is ""), run the rest ("$@") and release the mounts on
# every exit path. Call it last in a (sub)shell: it installs an EXIT trap and leaves with the command's exit status.
run_with_mounts() {
    local which="$1" paths=()
    shift
    require_root_user
    [[ "$which" == ws ]] && mapfile -t paths < <(mount_paths)
    local me="$BASHPID"
    with_lock acquire_locked "$me" "${paths[@]}"
    # shellcheck disable=SC2064
    trap "with_lock release_locked '$me'" EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    "$@"
}

# --- exec inside the root -----------------------------------------------------------------------------------------

root_env() { # prints NUL-terminated NAME=value items for `env -i` inside the root
    printf '%s\0' "PATH=$IN_ROOT_PATH" "HOME=/root" "LANG=C.UTF-8" "USER=root"
    if [[ -n "${TERM:-}" ]]; then printf '%s\0' "TERM=$TERM"; fi
    local name
    while IFS= read -r name; do
        case "$name" in
            KRES_* | RUST_* | NEXTEST_* | CARGO_* | PROPTEST_* | CI | NO_COLOR | CLICOLOR* | COLUMNS | LINES)
                printf '%s=%s\0' "$name" "${!name}"
                ;;
        esac
    done < <(compgen -e)
}

in_root_ready() {
    is_mounted "$ROOT/proc" && is_mounted "$ROOT/dev" && is_mounted "$ROOT/dev/pts"
}

cmd_exec() {
    [[ $# -gt 0 ]] || die "usage: $0 exec CMD [ARGS...]"
    require_root_user
    in_root_ready || die "$ROOT is not mounted (no /proc or /dev inside it). Run the command through
    \"$0 with-mounts ...\" or \"cargo xtask test\", or mount it with \"$0 mount\"."
    local cwd="/"
    [[ -d "$ROOT$PWD" ]] && cwd="$PWD"
    local envs=()
    mapfile -d '' -t envs < <(root_env)
    exec chroot "$ROOT" /usr/bin/env -i -C "$cwd" "${envs[@]}" "$@"
}

# --- build --------------------------------------------------------------------------------------------------------

install_host_prereqs() {
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v flock >/dev/null || missing+=(util-linux)
    command -v chroot >/dev/null || missing+=(coreutils)
    # The workspace's etcd client (crate etcd-client) generates its gRPC code with protoc at build time.
    command -v protoc >/dev/null || missing+=(protobuf-compiler)
    [[ -e /usr/include/google/protobuf/descriptor.proto ]] || missing+=(libprotobuf-dev) # its well-known types
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "installing host prerequisites: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    fi
}

packages_key() {
    printf '%s\n' "main: ${PACKAGES[*]}" "optional: ${OPTIONAL_PACKAGES[*]}"
}

configure_root() {
    local mirror="$1"
    echo "deb $mirror sid main" >"$ROOT/etc/apt/sources.list"
    echo 'Acquire::Check-Valid-Until "false";' >"$ROOT/etc/apt/apt.conf.d/99no-check-valid-until"
    printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
    chmod +x "$ROOT/usr/sbin/policy-rc.d"
    # resolv.conf: only needed for apt inside the root; tests stay on loopback.
    rm -f "$ROOT/etc/resolv.conf"
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
}

missing_packages() { # names from "$@" not installed in the root (needs the root mounted)
    local p status
    for p in "$@"; do
        # shellcheck disable=SC2016 # ${...} is dpkg-query's format syntax
        status="$(chroot "$ROOT" /usr/bin/env -i PATH="$IN_ROOT_PATH" dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
        [[ "$status" == installed ]] || printf '%s\n' "$p"
    done
}

apt_in_root() {
    chroot "$ROOT" /usr/bin/env -i PATH="$IN_ROOT_PATH" HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

install_packages_mounted() {
    local missing=() optional_missing=()
    mapfile -t missing < <(missing_packages "${PACKAGES[@]}")
    mapfile -t optional_missing < <(missing_packages "${OPTIONAL_PACKAGES[@]}")
    if [[ ${#missing[@]} -eq 0 && ${#optional_missing[@]} -eq 0 ]]; then
        log "all packages already installed"
        return 0
    fi
    log "apt-get update inside the root"
    apt_in_root apt-get update
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "installing: ${missing[*]}"
        apt_in_root apt-get install -y "${missing[@]}"
    fi
    if [[ ${#optional_missing[@]} -gt 0 ]]; then
        log "installing optional: ${optional_missing[*]}"
        if ! apt_in_root apt-get install -y --no-install-recommends "${optional_missing[@]}"; then
            log "warning: optional packages failed to install: ${optional_missing[*]} (tests needing them will say so)"
        fi
    fi
    apt_in_root apt-get clean
}

cmd_build_locked() {
    local mirror
    install_host_prereqs # the host builds the workspace: checked even when the root is up to date (cheap)
    if [[ -f "$BOOTSTRAP_STAMP" && -f "$PACKAGES_STAMP" && "$(cat "$PACKAGES_STAMP")" == "$(packages_key)" ]]; then
        log "$ROOT is up to date"
        return 0
    fi
    mirror="$(detect_mirror)"
    if [[ ! -f "$BOOTSTRAP_STAMP" ]]; then
        if [[ -e "$ROOT" ]]; then
            log "removing the unfinished root $ROOT"
            with_lock unmount_unused_locked
            safe_rm_root
        fi
        log "debootstrap --variant=minbase sid $ROOT $mirror (a few minutes)"
        mkdir -p "$(dirname "$ROOT")"
        if ! debootstrap --variant=minbase sid "$ROOT" "$mirror"; then
            # debootstrap unmounts what it mounted, but make sure before anyone deletes the tree
            local m
            while IFS= read -r m; do [[ -n "$m" ]] && umount_one "$m"; done < <(mounts_under "$ROOT")
            die "debootstrap failed; see $ROOT/debootstrap/debootstrap.log"
        fi
        mkdir -p "$STAMP_DIR"
        date -u +%FT%TZ >"$BOOTSTRAP_STAMP"
    fi
    configure_root "$mirror"
    (run_with_mounts "" install_packages_mounted)
    packages_key >"$PACKAGES_STAMP"
    log "$ROOT is ready"
}

cmd_build() {
    require_root_user
    mkdir -p "$(dirname "$ROOT")"
    local fd
    exec {fd}>"$BUILD_LOCK_FILE"
    flock "$fd"
    cmd_build_locked
}

# --- other commands -----------------------------------------------------------------------------------------------

next_pin_name() {
    printf 'pin.%s\n' "$(printf '%s' "$WORKSPACE" | cksum | cut -d' ' -f1)"
}

cmd_mount() {
    require_root_user
    local paths=()
    mapfile -t paths < <(mount_paths)
    with_lock acquire_locked "$(next_pin_name)" "${paths[@]}"
    log "mounted; workspace $WORKSPACE is visible at the same path inside $ROOT (\"$0 umount\" to undo)"
}

cmd_umount() {
    require_root_user
    [[ -e "$ROOT" ]] || return 0
    with_lock release_locked "$(next_pin_name)"
    local left
    left="$(mounts_under "$ROOT")"
    if [[ -n "$left" ]]; then
        log "still mounted (in use by other users, see \"$0 status\"):"
        # shellcheck disable=SC2001
        sed 's/^/    /' <<<"$left" >&2
    else
        log "nothing is mounted under $ROOT"
    fi
}

cmd_status() {
    echo "root:       $ROOT"
    if [[ -f "$BOOTSTRAP_STAMP" ]]; then
        echo "bootstrap:  done $(cat "$BOOTSTRAP_STAMP")"
    elif [[ -e "$ROOT" ]]; then
        echo "bootstrap:  unfinished"
    else
        echo "bootstrap:  absent (run: $0 build)"
    fi
    if [[ -f "$PACKAGES_STAMP" ]]; then
        if [[ "$(cat "$PACKAGES_STAMP")" == "$(packages_key)" ]]; then
            echo "packages:   up to date"
        else
            echo "packages:   outdated (run: $0 build)"
        fi
    else
        echo "packages:   not installed"
    fi
    echo "workspace:  $WORKSPACE"
    echo "mounts:"
    mounts_under "$ROOT" | sed 's/^/    /'
    echo "users:"
    if [[ -d "$USERS_DIR" ]]; then
        local f
        for f in "$USERS_DIR"/*; do
            [[ -e "$f" ]] || continue
            printf '    %s -> %s\n' "${f##*/}" "$(paste -sd' ' "$f")"
        done
    fi
}

cmd_destroy() {
    require_root_user
    with_lock prune_users_locked
    if compgen -G "$USERS_DIR/*" >/dev/null; then
        die "refusing to destroy $ROOT: it is in use (see \"$0 status\"); run \"$0 umount\" and wait for with-mounts users"
    fi
    if [[ ! -e "$ROOT" ]]; then
        log "$ROOT does not exist"
        return 0
    fi
    local fd
    exec {fd}>"$BUILD_LOCK_FILE"
    flock "$fd"
    safe_rm_root
    rm -rf "$USERS_DIR"
    rm -f "$LOCK_FILE" "$BUILD_LOCK_FILE"
    log "destroyed $ROOT"
}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

main() {
    local cmd="${1:-}"
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
        build) cmd_build "$@" ;;
        mount) cmd_mount ;;
        umount | unmount) cmd_umount ;;
        status) cmd_status ;;
        exec) cmd_exec "$@" ;;
        with-mounts)
            [[ $# -gt 0 ]] || die "usage: $0 with-mounts CMD [ARGS...]"
            run_with_mounts ws "$@"
            ;;
        destroy) cmd_destroy ;;
        mirror) detect_mirror ;;
        host-prereqs)
            require_root_user
            install_host_prereqs
            ;;
        -h | --help | help | "") usage ;;
        *) die "unknown command '$cmd' (see $0 --help)" ;;
    esac
}

main "$@"
