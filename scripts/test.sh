#!/usr/bin/env bash
# The whole test suite: type check, lint, format check, then every test
# (real mounts through the kernel) with Deno's op and resource sanitizers on.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh

deno check mod.ts testing.ts posix.ts paths.ts examples/ tests/ $([ -d bench ] && echo bench/)
deno lint
deno fmt --check
deno doc --lint mod.ts testing.ts posix.ts paths.ts
deno test --doc --allow-all --quiet mod.ts posix.ts paths.ts core/ ffi/ ops/ paths/ posix/ utils/
# Mount-free tests first: dispatch rules, codecs, layers, constants. No /dev/fuse needed.
UNIT=(tests/dispatch_test.ts tests/codec_test.ts tests/dirent_test.ts tests/layers_test.ts tests/constants_test.ts)
deno test --allow-all --sanitize-ops --sanitize-resources "${UNIT[@]}"
unit_list=$(IFS=,; echo "${UNIT[*]}")
deno publish --dry-run --allow-dirty --quiet
[ -e /dev/fuse ] || { echo "test: /dev/fuse is missing: the tests through the kernel cannot run" >&2; exit 1; }
fuse_mounts() { grep -E ' fuse(\.[^ ]+)? ' /proc/mounts | sort || true; }
# Only mounts this run leaves behind count (a crashed earlier process may have left some).
before=$(fuse_mounts)
status=0
deno test --allow-all --sanitize-ops --sanitize-resources --ignore="$unit_list" tests/ || status=$?

left=$(comm -13 <(echo "$before") <(fuse_mounts) | grep . || true)
if [ -n "$left" ]; then
  echo "test: FUSE mounts were left behind:" >&2
  echo "$left" >&2
  status=1
fi
exit "$status"
