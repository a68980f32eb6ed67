#!/usr/bin/env bash
# The main job: mounts examples/hello.ts, shows it working through the
# kernel (ls, stat, cat, a refused write), then unmounts with SIGINT.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
[ -e /dev/fuse ] || { echo "demo: /dev/fuse is missing (see above)" >&2; exit 1; }

mnt=$(mktemp -d /tmp/denofuse-demo.XXXXXX)
deno run --allow-ffi --allow-read examples/hello.ts "$mnt" &
pid=$!
cleanup() {
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if grep -qs " $mnt " /proc/mounts; then fusermount3 -u -z "$mnt" || true; fi
  rmdir "$mnt" 2>/dev/null || true
}
trap cleanup EXIT

for _ in $(seq 100); do
  grep -qs " $mnt " /proc/mounts && break
  kill -0 "$pid" 2>/dev/null || { echo "demo: hello exited before mounting" >&2; exit 1; }
  sleep 0.1
done
grep -s " $mnt " /proc/mounts

set -x
ls -l "$mnt"
stat -c '%n: %s bytes, mode %a, %F' "$mnt/message"
cat "$mnt/message"
{ echo "overwrite" > "$mnt/message"; } 2>&1 || true
set +x

kill -INT "$pid"
wait "$pid"
if grep -qs " $mnt " /proc/mounts; then
  echo "demo: FAILED, $mnt is still mounted" >&2
  exit 1
fi
echo "demo: hello was mounted, served ls/stat/cat, refused the write, and unmounted cleanly on SIGINT"
