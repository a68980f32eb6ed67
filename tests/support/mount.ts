/**
 * Mount helpers for tests: every mount has a timeout and is unmounted in
 * `finally`, and each helper checks that no mount is left behind.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { mount, type MountHandle, type Operations } from "../../mod.ts";
import { scaled } from "./emulation.ts";

/** Paths of the repository, for spawning examples. */
export const REPO = new URL("../../", import.meta.url).pathname;

/** Whether `path` is currently a mount point. */
export async function isMounted(path: string): Promise<boolean> {
  const table = await Deno.readTextFile("/proc/self/mountinfo");
  return table.split("\n").some((l) => l.split(" ")[4] === path);
}

/**
 * Rejects after `ms` (times the emulation's time factor, see
 * `emulation.ts`) with a message naming `what`; the timer is always cleared.
 */
export async function withTimeout<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  ms = scaled(ms);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lazily unmounts `path` if something is still mounted there (cleanup of last resort). */
export async function forceUnmount(path: string): Promise<void> {
  if (await isMounted(path)) {
    await new Deno.Command("fusermount3", { args: ["-u", "-z", path], stderr: "null" }).output();
  }
}

/**
 * Mounts `ops` in this process on a fresh temporary directory, runs `fn`
 * with the mount point (and the mount's handle, for what FUSE_INIT
 * negotiated), then unmounts and removes the directory.
 * `fn` must use async file APIs only: a sync call on our own mount
 * would block the JS thread that serves it.
 */
export async function withMount(
  ops: Operations,
  fn: (mnt: string, handle: MountHandle) => Promise<void>,
  { options = ["default_permissions", "fsname=denofuse-test"], timeoutMs = 30_000 }: {
    options?: string[];
    timeoutMs?: number;
  } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  try {
    const fs = mount(ops, dir, { options, handleSignals: false });
    try {
      await withTimeout("test body", timeoutMs, fn(dir, fs));
    } finally {
      await withTimeout("unmount", 10_000, fs.unmount());
    }
    assert.equal(await isMounted(dir), false, `${dir} is still mounted`);
  } finally {
    await forceUnmount(dir);
    await Deno.remove(dir, { recursive: true });
  }
}

/** Output of a finished subprocess. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion (asynchronously, so it is safe against our
 * own mount) with a timeout.
 */
export async function sh(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; uid?: number; env?: Record<string, string> } = {},
): Promise<RunResult> {
  const io = { env: opts.env, stdout: "piped", stderr: "piped" } as const;
  const command = opts.uid === undefined
    ? new Deno.Command(cmd, { args, ...io })
    : new Deno.Command("setpriv", {
      args: [`--reuid=${opts.uid}`, `--regid=${opts.uid}`, "--clear-groups", cmd, ...args],
      ...io,
    });
  const child = command.spawn();
  const out = await withTimeout(
    `${cmd} ${args.join(" ")}`,
    opts.timeoutMs ?? 20_000,
    child.output(),
  ).catch(
    async (e) => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
      throw e;
    },
  );
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A filesystem example running as its own process. */
export interface SpawnedFs {
  mnt: string;
  child: Deno.ChildProcess;
  /** stderr collected so far. */
  stderr(): string;
  /** Waits for the process to exit (with a timeout) and returns its status. */
  exited(timeoutMs?: number): Promise<Deno.CommandStatus>;
}

/**
 * Runs `examples/<script>` with `args` (the mount point is appended) as a
 * subprocess, optionally through a `launcher` that execs it (e.g.
 * `["prlimit", "--nofile=512:512"]`), waits until it is mounted, runs `fn`,
 * then stops it with SIGTERM and cleans up.
 */
export async function withSpawnedFs(
  script: string,
  args: string[],
  fn: (fs: SpawnedFs) => Promise<void>,
  {
    denoFlags = ["--allow-ffi", "--allow-read"],
    timeoutMs = 60_000,
    env = {} as Record<string, string>,
    launcher = [] as string[],
  } = {},
): Promise<void> {
  const mnt = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  // A launcher (e.g. prlimit) must exec the command, so that the child is the server.
  const command = [
    ...launcher,
    Deno.execPath(),
    "run",
    ...denoFlags,
    join(REPO, "examples", script),
    ...args,
    mnt,
  ];
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    env,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stderr) stderr += dec.decode(chunk);
  })();
  const status = child.status;
  const fs: SpawnedFs = {
    mnt,
    child,
    stderr: () => stderr,
    exited: (ms = 15_000) => withTimeout(`${script} exit`, ms, status),
  };
  try {
    const deadline = Date.now() + scaled(20_000);
    while (!(await isMounted(mnt))) {
      const done = await Promise.race([
        status.then(() => true),
        new Promise((r) => setTimeout(() => r(false), 50)),
      ]);
      if (done) throw new Error(`${script} exited before mounting:\n${stderr}`);
      if (Date.now() > deadline) {
        throw new Error(`${script} did not mount within ${scaled(20)} s:\n${stderr}`);
      }
    }
    await withTimeout(`test of ${script}`, timeoutMs, fn(fs));
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* already exited */ }
    await withTimeout(`${script} exit after SIGTERM`, 15_000, status).catch(() =>
      child.kill("SIGKILL")
    );
    await status;
    await reading;
    await forceUnmount(mnt);
    assert.equal(await isMounted(mnt), false, `${mnt} is still mounted`);
    await Deno.remove(mnt, { recursive: true });
  }
}
