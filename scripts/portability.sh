#!/usr/bin/env bash
# The portability run (`deno task test:portability`): the real-mount test
# suite inside Debian 11 (libfuse 3.10), 12 (3.14), 13 (3.17, soname
# libfuse3.so.4) and forky (testing, 3.18) root filesystems, with the host's
# own Deno binary, and inside a Debian 12 arm64 one under qemu-user emulation
# with Deno's arm64 build of the same version.
#
#   bash scripts/portability.sh [--rebuild] [--build-only] [--live] [SUITE...]
#   bash scripts/portability.sh [--live | --source DIR] --exec SUITE -- COMMAND [ARG...]
#
# SUITE defaults to "bullseye bookworm trixie forky bookworm-arm64". A suite is a
# Debian release, optionally with "-arm64" for that architecture run under
# qemu-user (see Emulation below). --exec runs one command
# (e.g. `deno test --allow-all tests/options_test.ts`, or `bash` for a shell)
# in a suite's chroot, set up exactly as for the test run.
#
# Needs root, /dev/fuse, unshare(1) and a Debian mirror. Each root filesystem
# is built once with debootstrap plus apt-get (fuse3, libfuse3-dev, gcc,
# python3, attr, util-linux, ...) and cached under .cache/rootfs/SUITE
# (git-ignored); --rebuild builds it again, --build-only stops after building.
#
# The suite runs on a snapshot of the checkout (the files git tracks or would
# track, copied to .cache/portability/checkout at the start, so all suites
# see the same tree even while someone edits); --live uses the checkout
# itself, --source DIR another tree. It is bind-mounted at the checkout's own path inside the
# chroot, beside /dev, /proc, /sys and the host's Deno binary (at
# /usr/local/bin/deno). Every suite runs in a private mount namespace
# (unshare -m); a trap unmounts everything, FUSE mounts the tests left
# included, and the namespace ends with the suite, so nothing stays mounted
# on the host. A watchdog unblocks a test that deadlocked against its own
# mount (aborting that FUSE connection through fusectl, so the test fails and
# the run goes on) and stops a suite that runs too long.
#
# Emulation (RELEASE-arm64): the root filesystem is arm64 and every program
# in it, Deno included, runs under qemu-user on the host's x86_64 kernel
# (the FUSE mounts are the host kernel's, as for the other suites). The
# script installs qemu-user-static and binfmt-support with apt when missing
# and registers qemu-aarch64 with binfmt_misc (flag F: the interpreter is
# opened at registration, so the chroot does not need it) if it is not
# registered; if the host has no binfmt_misc mounted, it is mounted in the
# suite's private mount namespace only, and the registration ends with it
# (see register_binfmt). Deno's arm64 build (@deno/linux-arm64-glibc, the
# host Deno's version) comes from the npm registry through npm and is
# cached in .cache/deno/. The tests run with DENOFUSE_EMULATION=qemu-user
# and DENOFUSE_TIME_FACTOR (the test helpers' timeouts are multiplied by it,
# and so is the stall breaker's limit), without the type check (see
# EMULATED_TEST_COMMAND); tests/support/emulation.ts skips the few tests
# that need what qemu-user cannot do, each naming that limit. Emulation is
# many times slower than native: it checks the arm64 ABI, not arm64 speed.
#
# Environment:
#   DENOFUSE_DEBIAN_MIRROR  mirror URL (default: the first .../debian URI of
#                           /etc/apt/sources.list*, else deb.debian.org)
#   DENOFUSE_ROOTFS_DIR     where the root filesystems live (default .cache/rootfs)
#   DENOFUSE_SUITE_TIMEOUT  seconds per suite's test run (default 1800)
#   DENOFUSE_STALL_SECONDS  a self-deadlocked FUSE server is unblocked after
#                           this many seconds (default 30; see break_stalls)
#   DENOFUSE_EMULATION_TIME_FACTOR  DENOFUSE_TIME_FACTOR for the emulated
#                           suites (default 6; native suites run with 1)
#   DENOFUSE_QEMU_CPU       QEMU_CPU for the emulated suites (default
#                           max,pauth=off; see QEMU_CPU_MODEL)
#
# Logs go to .cache/portability/SUITE.log; a summary (one Markdown table row
# per suite, for README.md's Compatibility table) is printed at the end and
# kept in .cache/portability/summary.md. Exit status 0 only if every suite
# passed.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd -P)
SELF="$REPO/scripts/portability.sh"
ROOTFS_DIR=${DENOFUSE_ROOTFS_DIR:-$REPO/.cache/rootfs}
LOG_DIR="$REPO/.cache/portability"
SNAPSHOT="$LOG_DIR/checkout"
SUITE_TIMEOUT=${DENOFUSE_SUITE_TIMEOUT:-1800}
STALL_SECONDS=${DENOFUSE_STALL_SECONDS:-30}
EMULATION_TIME_FACTOR=${DENOFUSE_EMULATION_TIME_FACTOR:-6}
# qemu-user's default CPU ("max") computes pointer authentication codes with
# the architected QARMA cipher, which V8's arm64 code (signed return
# addresses) pays for on every call: Deno runs 5-10x slower. Without the
# feature the signing instructions are hint-space no-ops (as on any ARMv8.0
# CPU) and Deno runs another 1.35x faster than with the implementation-
# defined cipher (max,pauth-impdef=on), which keeps the checks; pointer
# authentication is CPU hardening, not part of the ABI the suite tests.
QEMU_CPU_MODEL=${DENOFUSE_QEMU_CPU:-max,pauth=off}
DENO_CACHE="$REPO/.cache/deno"
STALL_POLL=5
STAMP=.denofuse-rootfs
# What the suite needs inside each chroot: fusermount3 (fuse3), the library
# and headers (libfuse3-dev pulls libfuse3-3 or, on trixie, libfuse3-4), a C
# compiler for the layout probe, python3 and attr for the test clients,
# setpriv and unshare (util-linux), mount/umount (mount), pkg-config (the
# benchmark smoke test builds libfuse's C examples), the aarch64 cross
# compiler (the aarch64 layout probe against this release's headers), nm
# (binutils, for the log) and git (a test client: tests/porting_test.ts
# commits in a repository on the mount). Installed with apt inside the
# chroot: debootstrap's own resolver cannot install libfuse3-dev (it depends
# on the virtual libselinux-dev).
# A cached root filesystem gets packages added here installed on next use.
# The arm64 suites need no cross compiler: their own cc probes aarch64.
BASE_PACKAGES="fuse3 libfuse3-dev gcc libc6-dev python3 attr util-linux mount binutils pkg-config git postgresql"
CROSS_PACKAGES="gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
TEST_COMMAND="deno test --allow-all --sanitize-ops --sanitize-resources tests/"
# Emulated suites skip the type check: it does not depend on the
# architecture (the native suites do it) and takes over 6 minutes under qemu.
EMULATED_TEST_COMMAND="deno test --no-check --allow-all --sanitize-ops --sanitize-resources tests/"

log() { echo "portability: $*" >&2; }
die() {
  log "$*"
  exit 1
}

# A suite is RELEASE (amd64, native) or RELEASE-ARCH (emulated).
suite_release() { echo "${1%%-*}"; }
suite_arch() {
  case $1 in
  *-*) echo "${1#*-}" ;;
  *) echo amd64 ;;
  esac
}
# The emulated architectures, as Debian, qemu/GNU and npm name them.
qemu_name() {
  case $1 in
  amd64) echo "" ;;
  arm64) echo aarch64 ;;
  *) die "unknown architecture $1 (known: amd64, arm64)" ;;
  esac
}
npm_platform() {
  case $1 in
  amd64) echo linux-x64-glibc ;;
  arm64) echo linux-arm64-glibc ;;
  esac
}
packages_for() {
  if [ "$(suite_arch "$1")" = amd64 ]; then
    echo "$BASE_PACKAGES $CROSS_PACKAGES"
  else
    echo "$BASE_PACKAGES"
  fi
}

# Every mount point at or below $1, deepest (most recently mounted) first.
mounts_under() {
  awk -v p="$1" '$2 == p || index($2, p "/") == 1 { print $2 }' /proc/self/mounts | tac
}

# Unmounts everything at or below $1; lazily if a plain unmount fails.
unmount_under() {
  local root=$1 m pass
  for pass in 1 2 3; do
    [ -n "$(mounts_under "$root")" ] || return 0
    while read -r m; do
      [ -n "$m" ] || continue
      if [ "$pass" -lt 3 ]; then umount "$m" 2>/dev/null || true; else umount -l "$m" || true; fi
    done < <(mounts_under "$root")
  done
  if [ -n "$(mounts_under "$root")" ]; then
    log "could not unmount:"
    mounts_under "$root" >&2
    return 1
  fi
}

# Aborts the FUSE connection of every FUSE mount below $1 (their servers get
# ENODEV, and processes blocked on them are released); with $2 = waiting,
# only of those with requests waiting for an answer. Only mounts of this
# private namespace: the connection number is the mount's minor device.
abort_fuse_under() {
  local root=$1 only=${2:-} ctl conn
  ctl=$(mktemp -d)
  if mount -t fusectl fusectl "$ctl" 2>/dev/null; then
    while read -r conn; do
      [ -e "$ctl/$conn/abort" ] || continue
      if [ "$only" = waiting ] && [ "$(cat "$ctl/$conn/waiting")" -eq 0 ]; then continue; fi
      echo "== aborting FUSE connection $conn ($(cat "$ctl/$conn/waiting") requests waiting)"
      echo 1 >"$ctl/$conn/abort" || true
    done < <(awk -v p="$root" '
      index($5, p "/") == 1 { split($0, halves, " - "); split(halves[2], f, " ");
        if (f[1] ~ /^fuse(blk)?(\.|$)/) { split($3, dev, ":"); print dev[2] } }' /proc/self/mountinfo)
    umount "$ctl"
  fi
  rmdir "$ctl"
}

# A FUSE server process with a thread blocked in a request to a FUSE mount
# may be waiting for itself: with libfuse < 3.11 Deno's close of a file of
# the process's own mount sends FLUSH, which the JS thread has to answer
# (newer libfuse lets denofuse set FOPEN_NOFLUSH). Such a test would hang
# the whole run. So when a thread of a process in chroot $1 that holds
# /dev/fuse open sits in one FUSE request wait (no context switch) for
# STALL_SECONDS, the connections with waiting requests are aborted: that
# test fails, and the run goes on.
declare -A stalled=() stall_sig=()
holds_dev_fuse() {
  local fd
  for fd in "$1"/fd/*; do
    case $(readlink "$fd" 2>/dev/null) in */dev/fuse) return 0 ;; esac
  done
  return 1
}
break_stalls() {
  local root=$1 proc task key sig n
  for proc in /proc/[0-9]*; do
    [ "$(readlink "$proc/root" 2>/dev/null)" = "$root" ] || continue
    holds_dev_fuse "$proc" || continue
    for task in "$proc"/task/[0-9]*; do
      key=${proc#/proc/}/${task##*/}
      if [ "$(cat "$task/wchan" 2>/dev/null)" != request_wait_answer ]; then
        unset "stalled[$key]" "stall_sig[$key]"
        continue
      fi
      sig=$(awk '/ctxt_switches/ { s += $2 } END { print s }' "$task/status" 2>/dev/null)
      if [ "${stall_sig[$key]:-}" = "$sig" ]; then n=$((${stalled[$key]:-0} + 1)); else n=0; fi
      stalled[$key]=$n
      stall_sig[$key]=$sig
      if [ $((n * STALL_POLL)) -ge "$STALL_SECONDS" ]; then
        echo "== stall breaker: thread $key ($(tr '\0' ' ' <"$proc/cmdline" | cut -c1-60)) of a" \
          "FUSE server has waited on one FUSE request for ${STALL_SECONDS}s"
        abort_fuse_under "$root" waiting
        stalled=()
        stall_sig=()
        return
      fi
    done
  done
}

# The Debian mirror from apt's configuration (one-line and deb822 formats).
find_mirror() {
  if [ -n "${DENOFUSE_DEBIAN_MIRROR:-}" ]; then
    echo "${DENOFUSE_DEBIAN_MIRROR%/}"
    return
  fi
  local files=() f url=""
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  if [ "${#files[@]}" -gt 0 ]; then
    url=$(
      awk '
        /^[[:space:]]*#/ { next }
        $1 == "URIs:" { for (i = 2; i <= NF; i++) print $i }
        $1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; break } }
      ' "${files[@]}" | grep -E '/debian/?$' | head -1 || true
    )
  fi
  url=${url:-http://deb.debian.org/debian}
  echo "${url%/}"
}

# $1 has a Release file for suite $2.
mirror_has() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -m 30 -o /dev/null "$1/dists/$2/Release"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -T 30 -O /dev/null "$1/dists/$2/Release"
  else
    return 0 # let debootstrap find out
  fi
}

# Makes programs of Debian architecture $1 runnable (nothing to do for
# amd64): installs qemu-user-static and binfmt-support with apt when
# missing, and checks that qemu-NAME can be registered with binfmt_misc.
ensure_emulation() {
  local qemu
  qemu=$(qemu_name "$1")
  [ -n "$qemu" ] || return 0
  if ! command -v "qemu-$qemu-static" >/dev/null 2>&1 || ! command -v update-binfmts >/dev/null 2>&1; then
    log "installing qemu-user-static and binfmt-support (to run $1 programs)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static binfmt-support >/dev/null ||
      die "apt-get install qemu-user-static binfmt-support failed"
  fi
  in_namespace --emulated "$1" true || die "could not register qemu-$qemu with binfmt_misc"
}

# Runs inside a private mount namespace: registers qemu-$1 with binfmt_misc
# unless it is registered. If the host has binfmt_misc mounted (a systemd
# host does), the registration is the host's and stays, as binfmt-support
# would make it at boot. If not, binfmt_misc is mounted in this namespace
# only, and the kernel drops the registration with that mount when the
# namespace ends: nothing of the run stays behind. Needs flag F (fix
# binary): the kernel opens the interpreter at registration, so a chroot
# runs the programs without having qemu in it.
register_binfmt() {
  local qemu=$1 dir=/proc/sys/fs/binfmt_misc conf
  [ -n "$qemu" ] || return 0
  if ! mountpoint -q "$dir"; then
    mount -t binfmt_misc binfmt_misc "$dir" || die "cannot mount binfmt_misc on $dir"
  fi
  [ "$(cat "$dir/status")" = enabled ] || echo 1 >"$dir/status"
  if [ -e "$dir/qemu-$qemu" ]; then
    grep -qx enabled "$dir/qemu-$qemu" || echo 1 >"$dir/qemu-$qemu"
    grep -qE '^flags:.*F' "$dir/qemu-$qemu" ||
      die "qemu-$qemu is registered without flag F (the chroot would need the interpreter);" \
        "remove it (echo -1 > $dir/qemu-$qemu) and run again"
    return 0
  fi
  # systemd-binfmt's line from qemu-user-static, else binfmt-support's.
  conf=/usr/lib/binfmt.d/qemu-$qemu.conf
  if [ -f "$conf" ]; then
    grep -m1 "^:qemu-$qemu:" "$conf" >"$dir/register"
  else
    update-binfmts --enable "qemu-$qemu"
  fi
  [ -e "$dir/qemu-$qemu" ] || die "registering qemu-$qemu with binfmt_misc failed"
}

# Runs inside a private mount namespace: COMMAND with programs of Debian
# architecture $1 runnable (see register_binfmt).
emulated() {
  register_binfmt "$(qemu_name "$1")"
  shift
  "$@"
}

# Runs COMMAND for a root filesystem of Debian architecture $1: directly for
# amd64, else in a private mount namespace with qemu registered.
for_arch() {
  if [ "$1" = amd64 ]; then
    shift
    "$@"
  else
    in_namespace --emulated "$@"
  fi
}

# The path of the Deno binary for Debian architecture $1: the host's own for
# amd64, else Deno's npm build of the host's version, fetched with npm pack
# once and cached in $DENO_CACHE.
deno_binary() {
  local arch=$1 version platform dir tmp
  if [ "$arch" = amd64 ]; then
    readlink -f "$(command -v deno)"
    return
  fi
  version=$(deno --version | sed -n '1s/^deno \([^ ]*\).*/\1/p')
  platform=$(npm_platform "$arch")
  dir="$DENO_CACHE/$platform-$version"
  if [ ! -x "$dir/deno" ]; then
    command -v npm >/dev/null 2>&1 || die "npm is needed to fetch @deno/$platform@$version"
    log "fetching Deno $version for $arch: npm pack @deno/$platform@$version"
    tmp=$(mktemp -d)
    if ! (cd "$tmp" && npm pack --silent "@deno/$platform@$version" >/dev/null) ||
      ! tar -xzf "$tmp"/*.tgz -C "$tmp" || [ ! -f "$tmp/package/deno" ]; then
      rm -rf "$tmp"
      die "could not get the deno binary out of @deno/$platform@$version"
    fi
    mkdir -p "$dir"
    install -m 0755 "$tmp/package/deno" "$dir/deno"
    rm -rf "$tmp"
  fi
  echo "$dir/deno"
}

build_rootfs() {
  local suite=$1 root="$ROOTFS_DIR/$1" mirror release arch packages started=$SECONDS
  release=$(suite_release "$suite")
  arch=$(suite_arch "$suite")
  packages=$(packages_for "$suite")
  if [ -f "$root/$STAMP" ]; then
    if ! grep -qx "packages=$packages" "$root/$STAMP"; then
      log "$suite: apt-get install $packages (the package list changed)"
      in_namespace --provision "$root" "$packages" "$arch" >>"$LOG_DIR/$suite.debootstrap.log" 2>&1 ||
        die "$suite: installing the packages failed; see $LOG_DIR/$suite.debootstrap.log"
      sed -i "s/^packages=.*/packages=$packages/" "$root/$STAMP"
    fi
    log "$suite: using cached $root ($(sed -n 's/^libfuse=//p' "$root/$STAMP"))"
    return 0
  fi
  command -v debootstrap >/dev/null 2>&1 || {
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  mirror=$(find_mirror)
  if ! mirror_has "$mirror" "$release"; then
    log "$release: not on $mirror; trying http://archive.debian.org/debian"
    mirror=http://archive.debian.org/debian
  fi
  local partial="$root.partial"
  unmount_under "$partial"
  rm -rf "$partial" "$root"
  mkdir -p "$ROOTFS_DIR"
  log "$suite: debootstrap $release ($arch) from $mirror into $partial (a few minutes)"
  # A release newer than the host's debootstrap (forky on Debian 12's) is
  # bootstrapped with the script of sid, which every release since buster
  # links to.
  local script=()
  if [ ! -e "/usr/share/debootstrap/scripts/$release" ] && [ -e /usr/share/debootstrap/scripts/sid ]; then
    script=(/usr/share/debootstrap/scripts/sid)
  fi
  if ! for_arch "$arch" debootstrap --variant=minbase --arch="$arch" "$release" "$partial" "$mirror" "${script[@]}" \
    >"$LOG_DIR/$suite.debootstrap.log" 2>&1; then
    unmount_under "$partial" || true
    tail -20 "$LOG_DIR/$suite.debootstrap.log" >&2
    die "$suite: debootstrap failed; see $LOG_DIR/$suite.debootstrap.log"
  fi
  unmount_under "$partial"
  log "$suite: apt-get install $packages"
  if ! in_namespace --provision "$partial" "$packages" "$arch" >>"$LOG_DIR/$suite.debootstrap.log" 2>&1; then
    tail -20 "$LOG_DIR/$suite.debootstrap.log" >&2
    die "$suite: installing the packages failed; see $LOG_DIR/$suite.debootstrap.log"
  fi
  # What a booted Debian system has and debootstrap's minbase lacks:
  # fusermount3 and libfuse read the mount table through /etc/mtab.
  ln -sfn ../proc/self/mounts "$partial/etc/mtab"
  local libfuse
  # shellcheck disable=SC2016 # dpkg-query's format, not shell
  libfuse=$(for_arch "$arch" chroot "$partial" dpkg-query -W -f '${Package} ${Version}\n' 'libfuse3-[0-9]*' | head -1)
  {
    echo "suite=$suite"
    echo "arch=$arch"
    echo "mirror=$mirror"
    echo "packages=$packages"
    echo "libfuse=$libfuse"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } >"$partial/$STAMP"
  mv "$partial" "$root"
  log "$suite: built ($libfuse) in $((SECONDS - started)) s"
}

# Copies what git tracks or would track (not .git, not ignored files) to
# $SNAPSHOT, so every suite tests the same tree.
snapshot_checkout() {
  if ! command -v git >/dev/null 2>&1 || ! git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
    die "no git checkout to snapshot at $REPO; use --live"
  fi
  rm -rf "$SNAPSHOT"
  mkdir -p "$SNAPSHOT"
  (cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
    tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -C "$SNAPSHOT" -xf -
  echo "$(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" status --porcelain |
    grep -q . && echo ' + uncommitted changes')" >"$SNAPSHOT/.denofuse-snapshot"
}

# Runs inside a private mount namespace: installs the packages $2 into the
# new root filesystem $1 (of Debian architecture $3) with its own apt
# (sources.list from debootstrap).
provision() {
  local root=$1 packages=$2
  trap 'unmount_under "$root"' EXIT
  mount --make-rprivate / 2>/dev/null || true
  register_binfmt "$(qemu_name "$3")"
  mount --rbind /dev "$root/dev"
  mount --make-rslave "$root/dev"
  mount -t proc proc "$root/proc"
  cat /etc/resolv.conf >"$root/etc/resolv.conf" 2>/dev/null || true
  # Testing's Release file (forky) is valid for a week only, which a mirror
  # snapshot outlives: apt is told not to check that date.
  # PostgreSQL (for the pgfs tests, which start servers of their own): no
  # system cluster, and no service started inside the chroot.
  mkdir -p "$root/etc/postgresql-common"
  echo "create_main_cluster = false" >"$root/etc/postgresql-common/createcluster.conf"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c "apt-get update -q -o Acquire::Check-Valid-Until=false && apt-get install -y -q --no-install-recommends $packages && apt-get clean"
  unmount_under "$root"
  trap - EXIT
}

# Runs inside a private mount namespace (see main): sets up the chroot of
# suite $1 with source tree $2, runs the shell script $3 in it under the
# watchdog, tears everything down.
in_chroot() {
  local suite=$1 source=$2 script=$3 root="$ROOTFS_DIR/$1" deno_bin pid="" arch
  local emulation="" time_factor=1 stall_seconds=$STALL_SECONDS qemu_cpu=""
  arch=$(suite_arch "$suite")
  deno_bin=$(deno_binary "$arch")
  if [ "$arch" != amd64 ]; then
    # Everything in the chroot runs under qemu-user, some 4-8x slower.
    emulation=qemu-user
    qemu_cpu=$QEMU_CPU_MODEL
    time_factor=$EMULATION_TIME_FACTOR
    stall_seconds=$((STALL_SECONDS * EMULATION_TIME_FACTOR))
  fi
  # On any exit: kill what runs in the chroot, release whatever of it is
  # blocked on a FUSE request, unmount everything.
  # shellcheck disable=SC2064 # root is fixed; pid is read when the trap runs
  trap 'if [ -n "$pid" ]; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
    abort_fuse_under "'"$root"'" >&2; unmount_under "'"$root"'"' EXIT
  trap 'exit 143' TERM INT HUP
  # Nothing mounted here may propagate back to the host.
  mount --make-rprivate /
  register_binfmt "$(qemu_name "$arch")"
  # The chroot's root as a mount point of its own, as on a real system
  # (unshare -m inside the chroot needs that to change "/"'s propagation).
  mount --bind "$root" "$root"
  mount --rbind /dev "$root/dev"
  mount --make-rslave "$root/dev"
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --make-rslave "$root/sys"
  mkdir -p "$root$REPO"
  mount --bind "$source" "$root$REPO"
  touch "$root/usr/local/bin/deno"
  mount --bind "$deno_bin" "$root/usr/local/bin/deno"
  [ -e "$root/etc/mtab" ] || ln -s ../proc/self/mounts "$root/etc/mtab"
  # Deno fetches npm packages (the pgfs tests' client) inside the chroot:
  # it trusts what the host trusts (e.g. a proxy's CA in SSL_CERT_FILE).
  local deno_cert=""
  if [ -n "${DENO_CERT:-${SSL_CERT_FILE:-}}" ] && [ -r "${DENO_CERT:-$SSL_CERT_FILE}" ]; then
    cp "${DENO_CERT:-$SSL_CERT_FILE}" "$root/etc/denofuse-host-ca.pem"
    deno_cert=/etc/denofuse-host-ca.pem
  fi

  local status=0 watchdog
  # In a session of its own, so the watchdog can signal all of it.
  setsid chroot "$root" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TMPDIR=/tmp NO_COLOR=1 DENO_NO_UPDATE_CHECK=1 \
    DENOFUSE_EMULATION="$emulation" DENOFUSE_TIME_FACTOR="$time_factor" ${qemu_cpu:+QEMU_CPU="$qemu_cpu"} \
    ${deno_cert:+DENO_CERT="$deno_cert"} TERM="${TERM:-dumb}" /bin/bash -c "$script" <&0 &
  pid=$!
  (
    STALL_SECONDS=$stall_seconds
    for ((t = 0; t < SUITE_TIMEOUT; t += STALL_POLL)); do
      kill -0 "$pid" 2>/dev/null || exit 0
      sleep "$STALL_POLL"
      break_stalls "$root"
    done
    echo "== watchdog: still running after ${SUITE_TIMEOUT}s; stopping it"
    kill -TERM -- "-$pid" 2>/dev/null || true
    sleep 10
    # A test blocked on its own mount cannot exit until the connection goes.
    abort_fuse_under "$root"
    sleep 5
    kill -KILL -- "-$pid" 2>/dev/null || true
  ) &
  watchdog=$!
  wait "$pid" || status=$?
  wait "$watchdog" || true

  local left
  left=$(awk -v p="$root" 'index($2, p "/") == 1 && $3 ~ /^fuse(blk)?(\.|$)/ { print $2 }' /proc/self/mounts)
  if [ -n "$left" ]; then
    echo "== FUSE mounts left behind:"
    echo "$left"
    [ "$status" -ne 0 ] || status=1
  fi
  pid=""
  abort_fuse_under "$root"
  unmount_under "$root"
  trap - EXIT
  return "$status"
}

# Runs this script with "$@" in a private mount namespace; a TERM or INT
# sent to us is passed on, so the namespace's trap cleans up before we exit.
in_namespace() {
  local child status=0
  unshare --mount --propagation private -- bash "$SELF" "$@" <&0 &
  child=$!
  trap 'kill -TERM "$child" 2>/dev/null || true' TERM INT HUP
  while kill -0 "$child" 2>/dev/null; do
    wait "$child" || status=$?
  done
  trap - TERM INT HUP
  return "$status"
}

# The test run of suite $1, with what the log should say about the chroot.
suite_script() {
  local command=$TEST_COMMAND
  [ "$(suite_arch "$1")" = amd64 ] || command=$EMULATED_TEST_COMMAND
  cat <<EOF
set -u
cd '$REPO'
echo "== chroot: \$(. /etc/os-release; echo "\$PRETTY_NAME"), \$(getconf GNU_LIBC_VERSION), \$(uname -m)"
echo "== deno: \$(deno --version | head -1)"
echo "== source: \$(cat .denofuse-snapshot 2>/dev/null || echo "live checkout")"
if [ -n "\$DENOFUSE_EMULATION" ]; then
  echo "== emulation: \$DENOFUSE_EMULATION (QEMU_CPU=\${QEMU_CPU:-default}), timeouts x\$DENOFUSE_TIME_FACTOR"
fi
for lib in /usr/lib/*-linux-gnu/libfuse3.so.*.*; do
  echo "== \$lib exports:"
  nm -D --defined-only "\$lib" | grep -E ' (fuse_session_new|fuse_version)' | sed 's/^/   /'
done
echo "== headers: \$(cat /usr/include/fuse3/*.h | grep -m1 -E 'define FUSE_MINOR_VERSION')"
exec $command
EOF
}

summarize() {
  local suite=$1 status=$2 logf="$LOG_DIR/$1.log" root="$ROOTFS_DIR/$1"
  local line distro libfuse soname passed failed ignored arch
  line=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$logf" | tail -1 || true)
  passed=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$line")
  failed=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$line")
  ignored=$(sed -nE 's/.* ([0-9]+) ignored.*/\1/p' <<<"$line")
  # shellcheck disable=SC1091 # the chroot's
  distro=$(. "$root/etc/os-release" && echo "$PRETTY_NAME")
  arch=$(suite_arch "$suite")
  [ "$arch" = amd64 ] || distro+=", $arch under qemu-user"
  libfuse=$(sed -n 's/^libfuse=//p' "$root/$STAMP")
  soname=$(find "$root"/usr/lib/*-linux-gnu -maxdepth 1 -name 'libfuse3.so.[0-9]' -printf '%f\n' | head -1)
  if [ -z "$line" ]; then
    passed="?"
    failed="? (no test summary, exit $status)"
  fi
  # shellcheck disable=SC2016 # Markdown backquotes
  printf '| %s | %s | `%s` | %s | %s | %s | %s |\n' \
    "${libfuse#* }" "$distro" "$soname" "${passed:-0}" "${failed:-0}" "${ignored:-0}" \
    "$(date -u +%Y-%m-%d)"
}

# What suite $1 needs before it runs: emulation for a foreign architecture,
# its root filesystem, its Deno binary.
prepare_suite() {
  local arch started=$SECONDS
  arch=$(suite_arch "$1")
  ensure_emulation "$arch"
  build_rootfs "$1"
  deno_binary "$arch" >/dev/null || exit 1
  [ "$arch" = amd64 ] || log "$1: ready in $((SECONDS - started)) s"
}

preflight() {
  [ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mounts)"
  [ -c /dev/fuse ] || die "/dev/fuse is missing (modprobe fuse)"
  [ "$(uname -m)" = x86_64 ] || die "the root filesystems are amd64; run this on x86_64"
  command -v deno >/dev/null 2>&1 || die "no deno on PATH"
  unshare --mount --propagation private true 2>/dev/null ||
    die "unshare --mount is not permitted here (a container needs CAP_SYS_ADMIN)"
  mkdir -p "$LOG_DIR"
}

main() {
  local rebuild=0 build_only=0 live=0 exec_suite="" suites=() source=$REPO
  while [ $# -gt 0 ]; do
    case $1 in
    --in-chroot) # internal: SUITE SOURCE SCRIPT, inside unshare
      in_chroot "$2" "$3" "$4"
      return
      ;;
    --provision) # internal: ROOT PACKAGES ARCH, inside unshare
      provision "$2" "$3" "$4"
      return
      ;;
    --emulated) # internal: ARCH COMMAND..., inside unshare
      shift
      emulated "$@"
      return
      ;;
    --rebuild) rebuild=1 ;;
    --build-only) build_only=1 ;;
    --live) live=1 ;;
    --source)
      live=1
      source=$(cd "${2:?--source needs a directory}" && pwd -P)
      shift
      ;;
    --exec)
      exec_suite=${2:?--exec needs a suite}
      shift 2
      [ "${1:-}" = "--" ] && shift
      [ $# -gt 0 ] || die "--exec $exec_suite needs a command"
      break
      ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'
      return
      ;;
    -*) die "unknown option $1" ;;
    *) suites+=("$1") ;;
    esac
    shift
  done
  preflight

  if [ -n "$exec_suite" ]; then
    prepare_suite "$exec_suite"
    if [ "$live" -eq 0 ]; then
      snapshot_checkout
      source=$SNAPSHOT
    fi
    local cmd
    printf -v cmd '%q ' "$@"
    in_namespace --in-chroot "$exec_suite" "$source" "cd '$REPO' && exec $cmd"
    return
  fi

  [ "${#suites[@]}" -gt 0 ] || suites=(bullseye bookworm trixie forky bookworm-arm64)
  local suite
  for suite in "${suites[@]}"; do
    [ "$rebuild" -eq 0 ] || rm -f "$ROOTFS_DIR/$suite/$STAMP"
    prepare_suite "$suite"
  done
  [ "$build_only" -eq 0 ] || return 0
  if [ "$live" -eq 0 ]; then
    snapshot_checkout
    source=$SNAPSHOT
    log "testing a snapshot of the checkout: $(cat "$SNAPSHOT/.denofuse-snapshot")"
  fi

  local overall=0 status rows=() started
  for suite in "${suites[@]}"; do
    log "$suite: running the test suite (log: $LOG_DIR/$suite.log)"
    status=0
    started=$SECONDS
    in_namespace --in-chroot "$suite" "$source" "$(suite_script "$suite")" \
      </dev/null >"$LOG_DIR/$suite.log" 2>&1 || status=$?
    log "$suite: the test run took $((SECONDS - started)) s"
    grep -E '^(== |   [0-9a-f]+ T |ok \||FAILED \|)' "$LOG_DIR/$suite.log" |
      sed "s/^/  [$suite] /" >&2 || true
    if [ "$status" -ne 0 ]; then
      overall=1
      log "$suite: FAILED (exit $status)"
      sed -n '/^ ERRORS /,/^ FAILURES /p' "$LOG_DIR/$suite.log" | head -80 >&2 || true
    fi
    rows+=("$(summarize "$suite" "$status")")
  done

  # The namespaces are gone; make sure the host sees nothing of them.
  if [ -n "$(mounts_under "$ROOTFS_DIR")" ]; then
    log "mounts left under $ROOTFS_DIR:"
    mounts_under "$ROOTFS_DIR" >&2
    overall=1
  fi
  {
    echo "| libfuse | distribution | soname | passed | failed | ignored | date |"
    echo "| ------- | ------------ | ------ | ------ | ------ | ------- | ---- |"
    printf '%s\n' "${rows[@]}"
  } | tee "$LOG_DIR/summary.md"
  return "$overall"
}

main "$@"; exit $?
