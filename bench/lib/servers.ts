/**
 * The filesystems under test and how to start them.
 *
 * Every FUSE server is mounted with `default_permissions` (denofuse and
 * pyfuse3 use it by default, the libfuse C examples and the go-fuse servers
 * get it explicitly) and answers with entry/attribute timeouts 0, so the
 * kernel sends the same requests to each.
 *
 * @module
 */

import { join } from "node:path";
import type { Built } from "./build.ts";
import type { ServerDef } from "./types.ts";

/** The Python interpreter that has pyfuse3 (Debian's python3-pyfuse3). */
export const PYTHON = "/usr/bin/python3";

/**
 * All servers, in report order.
 *
 * @param repo the repository root
 * @param built the compiled C programs
 * @returns the definitions
 */
export function serverDefs(repo: string, built: Built): ServerDef[] {
  const deno = (script: string, ...args: string[]) => [
    Deno.execPath(),
    "run",
    "--allow-ffi",
    "--allow-read",
    join(repo, script),
    ...args,
  ];
  const py = (script: string, ...args: string[]) => [PYTHON, join(repo, script), ...args];
  const cOpts = (fsname: string, extra = "") => `default_permissions,fsname=${fsname}${extra}`;
  return [
    {
      id: "deno-hello",
      impl: "denofuse",
      kind: "hello",
      label: "denofuse bench/servers/deno_hello.ts (timeouts 0)",
      needsSource: false,
      argv: (mnt) => deno("bench/servers/deno_hello.ts", mnt),
    },
    {
      id: "deno-hello-async",
      impl: "denofuse",
      kind: "hello",
      label: "denofuse bench/servers/deno_hello_async.ts (the same, async handlers)",
      needsSource: false,
      argv: (mnt) => deno("bench/servers/deno_hello_async.ts", mnt),
    },
    {
      id: "deno-floor",
      impl: "denofuse",
      kind: "hello",
      label: "bench/servers/deno_floor.ts: denofuse's loop and FFI with replies encoded once " +
        "(no dispatch, no handler): the floor of a denofuse round trip",
      needsSource: false,
      argv: (mnt) => deno("bench/servers/deno_floor.ts", mnt),
    },
    {
      id: "c-hello",
      impl: "libfuse",
      kind: "hello",
      label: "libfuse hello_ll.c, timeouts patched to 0, single-threaded (-s)",
      needsSource: false,
      argv: (mnt) => [built.helloLl, "-f", "-s", "-o", cOpts("c_hello"), mnt],
    },
    {
      id: "c-hello-mt",
      impl: "libfuse",
      kind: "hello",
      label: "libfuse hello_ll.c, timeouts patched to 0, default multi-threaded loop",
      needsSource: false,
      argv: (mnt) => [built.helloLl, "-f", "-o", cOpts("c_hello_mt"), mnt],
    },
    {
      id: "py-hello",
      impl: "pyfuse3",
      kind: "hello",
      label: "pyfuse3 bench/servers/py_hello.py (timeouts 0)",
      needsSource: false,
      argv: (mnt) => py("bench/servers/py_hello.py", mnt),
    },
    {
      id: "deno-tmpfs",
      impl: "denofuse",
      kind: "tmpfs",
      label: "denofuse examples/tmpfs.ts",
      needsSource: false,
      argv: (mnt) => deno("examples/tmpfs.ts", mnt),
    },
    {
      id: "deno-sqlitefs",
      impl: "denofuse",
      kind: "tmpfs",
      label: "denofuse examples/sqlitefs.ts, its database on the backing tmpfs",
      needsSource: false,
      stateDir: true,
      argv: (mnt, state) => [
        Deno.execPath(),
        "run",
        "--allow-ffi",
        "--allow-read",
        "--allow-write",
        join(repo, "examples/sqlitefs.ts"),
        join(state, "fs.db"),
        mnt,
      ],
    },
    {
      id: "deno-pgfs",
      impl: "denofuse",
      kind: "tmpfs",
      label: "denofuse examples/pgfs.ts -o timeout=0, in an empty database of a PostgreSQL " +
        "server of its own on /dev/shm (Unix socket)",
      needsSource: false,
      postgres: true,
      set: "pgfs",
      argv: (mnt, url) => [
        Deno.execPath(),
        "run",
        // The socket is on /dev/shm: Deno wants all permissions for a path under /dev.
        "--allow-all",
        join(repo, "examples/pgfs.ts"),
        // Its default lets the kernel keep names and attributes for 60 s
        // (other mounts invalidate them); 0 sends every request, like the others.
        "-o",
        "timeout=0",
        url,
        mnt,
      ],
    },
    {
      id: "deno-paths-memfs",
      impl: "denofuse",
      kind: "tmpfs",
      label: "denofuse examples/paths_memfs.ts (tmpfs.ts's filesystem on the path API)",
      needsSource: false,
      set: "paths",
      argv: (mnt) => deno("examples/paths_memfs.ts", mnt),
    },
    {
      id: "py-tmpfs",
      impl: "pyfuse3",
      kind: "tmpfs",
      label: "pyfuse3 bench/servers/py_tmpfs.py",
      needsSource: false,
      argv: (mnt) => py("bench/servers/py_tmpfs.py", mnt),
    },
    {
      id: "go-memfs",
      impl: "go-fuse",
      kind: "tmpfs",
      label: "go-fuse MemNodeFs (its memfs example), bench/servers/go_memfs.go: timeouts 0, " +
        "file data in files on the backing tmpfs",
      needsSource: false,
      stateDir: true,
      argv: (mnt, state) => [built.goMemfs, mnt, state],
    },
    {
      id: "deno-passthrough",
      impl: "denofuse",
      kind: "passthrough",
      label: "denofuse examples/passthrough.ts over a kernel tmpfs",
      needsSource: true,
      argv: (mnt, src) => deno("examples/passthrough.ts", src, mnt),
    },
    {
      id: "c-passthrough",
      impl: "libfuse",
      kind: "passthrough",
      label: "libfuse passthrough_ll.c -o cache=never,timeout=0, single-threaded (-s)",
      needsSource: true,
      argv: (mnt, src) => [
        built.passthroughLl,
        "-f",
        "-s",
        "-o",
        cOpts("c_passthrough", `,cache=never,timeout=0,source=${src}`),
        mnt,
      ],
    },
    {
      id: "c-passthrough-mt",
      impl: "libfuse",
      kind: "passthrough",
      label: "libfuse passthrough_ll.c -o cache=never,timeout=0, default multi-threaded loop",
      needsSource: true,
      argv: (mnt, src) => [
        built.passthroughLl,
        "-f",
        "-o",
        cOpts("c_passthrough_mt", `,cache=never,timeout=0,source=${src}`),
        mnt,
      ],
    },
    {
      id: "py-passthrough",
      impl: "pyfuse3",
      kind: "passthrough",
      label: "pyfuse3 bench/servers/py_passthrough.py over a kernel tmpfs",
      needsSource: true,
      argv: (mnt, src) => py("bench/servers/py_passthrough.py", src, mnt),
    },
    {
      id: "go-loopback",
      impl: "go-fuse",
      kind: "passthrough",
      label: "go-fuse fs.NewLoopbackRoot (its loopback example), bench/servers/go_loopback.go: " +
        "timeouts 0, over a kernel tmpfs",
      needsSource: true,
      argv: (mnt, src) => [built.goLoopback, mnt, src],
    },
    {
      id: "deno-passthrough-on",
      impl: "denofuse",
      kind: "passthrough",
      label: "denofuse examples/passthrough.ts, kernel passthrough on, clients without O_DIRECT",
      needsSource: true,
      set: "kernel-passthrough",
      bufferedIo: true,
      argv: (mnt, src) => deno("examples/passthrough.ts", src, mnt),
    },
    {
      id: "deno-passthrough-off",
      impl: "denofuse",
      kind: "passthrough",
      label: "denofuse examples/passthrough.ts -o kernel_passthrough=off (reads and writes served)",
      needsSource: true,
      set: "kernel-passthrough",
      argv: (mnt, src) => deno("examples/passthrough.ts", "-o", "kernel_passthrough=off", src, mnt),
    },
    {
      id: "kernel-tmpfs",
      impl: "kernel",
      kind: "tmpfs",
      label: "the kernel's tmpfs itself, no FUSE (reference)",
      needsSource: true,
      argv: () => null,
    },
  ];
}

/**
 * The comparisons reported as ratios: numerator / denominator, measured
 * in the same run.
 */
export const COMPARISONS: ReadonlyArray<{ id: string; num: string; den: string; label: string }> = [
  { id: "hello/c", num: "deno-hello", den: "c-hello", label: "denofuse / C (hello, -s)" },
  { id: "hello/c-mt", num: "deno-hello", den: "c-hello-mt", label: "denofuse / C (hello, mt)" },
  { id: "hello/py", num: "deno-hello", den: "py-hello", label: "denofuse / pyfuse3 (hello)" },
  {
    id: "hello-async/c",
    num: "deno-hello-async",
    den: "c-hello",
    label: "denofuse async handlers / C (hello, -s)",
  },
  {
    id: "hello-async/py",
    num: "deno-hello-async",
    den: "py-hello",
    label: "denofuse async handlers / pyfuse3 (hello)",
  },
  {
    id: "floor/c",
    num: "deno-floor",
    den: "c-hello",
    label: "denofuse FFI floor / C (hello, -s)",
  },
  {
    id: "passthrough/c",
    num: "deno-passthrough",
    den: "c-passthrough",
    label: "denofuse / C (passthrough, -s)",
  },
  {
    id: "passthrough/c-mt",
    num: "deno-passthrough",
    den: "c-passthrough-mt",
    label: "denofuse / C (passthrough, mt)",
  },
  {
    id: "passthrough/py",
    num: "deno-passthrough",
    den: "py-passthrough",
    label: "denofuse / pyfuse3 (passthrough)",
  },
  {
    id: "passthrough/go",
    num: "deno-passthrough",
    den: "go-loopback",
    label: "denofuse / go-fuse (passthrough)",
  },
  { id: "tmpfs/py", num: "deno-tmpfs", den: "py-tmpfs", label: "denofuse / pyfuse3 (tmpfs)" },
  { id: "tmpfs/go", num: "deno-tmpfs", den: "go-memfs", label: "denofuse / go-fuse (in-memory)" },
  {
    id: "paths/tmpfs",
    num: "deno-paths-memfs",
    den: "deno-tmpfs",
    label: "path API paths_memfs / inode API tmpfs",
  },
  {
    id: "sqlitefs/tmpfs",
    num: "deno-sqlitefs",
    den: "deno-tmpfs",
    label: "sqlitefs / tmpfs (denofuse)",
  },
  {
    id: "sqlitefs/py",
    num: "deno-sqlitefs",
    den: "py-tmpfs",
    label: "sqlitefs / pyfuse3 tmpfs",
  },
  {
    id: "pgfs/sqlitefs",
    num: "deno-pgfs",
    den: "deno-sqlitefs",
    label: "pgfs / sqlitefs (denofuse)",
  },
  {
    id: "tmpfs/c",
    num: "deno-tmpfs",
    den: "c-passthrough",
    label: "denofuse tmpfs / C passthrough_ll (-s)",
  },
  {
    id: "kpt/tmpfs",
    num: "deno-passthrough-on",
    den: "kernel-tmpfs",
    label: "kernel passthrough on / kernel tmpfs",
  },
  {
    id: "kpt/c",
    num: "deno-passthrough-on",
    den: "c-passthrough",
    label: "kernel passthrough on / C passthrough_ll (-s)",
  },
  {
    id: "kpt-off/c",
    num: "deno-passthrough-off",
    den: "c-passthrough",
    label: "kernel passthrough off / C passthrough_ll (-s)",
  },
  {
    id: "kpt/kpt-off",
    num: "deno-passthrough-on",
    den: "deno-passthrough-off",
    label: "kernel passthrough on / off",
  },
];
