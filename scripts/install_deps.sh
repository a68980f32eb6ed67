#!/usr/bin/env bash
# Installs what denofuse's demo and tests need on Debian/Ubuntu, as root:
# fuse3 + libfuse3 (apt), a C compiler and headers (the layout probe; on
# x86_64 also the aarch64 cross compiler for the aarch64 layout probe),
# attr and python3 (test clients), PostgreSQL (the server examples/pgfs.ts
# is tested against; tests/support/postgres.ts runs it), and Deno 2 from the npm registry when no
# deno is on PATH. Safe to run again: it skips what is already there.
set -euo pipefail

need_apt=()
command -v fusermount3 >/dev/null 2>&1 || need_apt+=(fuse3)
[ -e /usr/include/fuse3/fuse_lowlevel.h ] || need_apt+=(libfuse3-dev)
command -v cc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
command -v setfattr >/dev/null 2>&1 || need_apt+=(attr)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)
# Debian keeps initdb and pg_ctl in /usr/lib/postgresql/N/bin, off PATH.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 ||
  need_apt+=(postgresql)
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
# The aarch64 layout probe (tests/layout_test.ts) cross-compiles with it;
# without it that one test is skipped.
if [ "$(uname -m)" = x86_64 ] && ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then
  need_apt+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
fi
if ! command -v deno >/dev/null 2>&1 && ! command -v npm >/dev/null 2>&1; then
  need_apt+=(npm)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "install_deps: apt-get install ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if [[ " ${need_apt[*]} " == *" postgresql "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    # The tests start servers of their own: no system cluster left running.
    mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
  fi
  apt-get update -qq
  apt-get install -y -qq -o Dpkg::Options::=--force-confold "${need_apt[@]}" >/dev/null
fi

if ! command -v deno >/dev/null 2>&1; then
  echo "install_deps: npm install -g deno@2" >&2
  npm install -g --silent deno@2 >/dev/null
  hash -r
fi

if [ ! -e /dev/fuse ]; then
  modprobe fuse 2>/dev/null || true
fi
if [ ! -e /dev/fuse ]; then
  # Not fatal here: the mount-free tests still run; what needs mounts stops with this message.
  echo "install_deps: /dev/fuse is missing: load the fuse kernel module (modprobe fuse)" \
    "or, in a container, pass --device /dev/fuse --cap-add SYS_ADMIN" >&2
fi
deno --version | head -1 >&2
