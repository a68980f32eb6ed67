/**
 * Processes and mounts for the benchmark: every child has a deadline, every
 * mount is unmounted in `finally`, and nothing is left behind.
 *
 * @module
 */

import { isMounted, withTimeout } from "../../tests/support/mount.ts";

// The deadline and mount-table helpers are the test suite's, shared.
export { isMounted, withTimeout };

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Output of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Where and with what environment a command runs (added to ours). */
export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
}

/**
 * Runs a command to completion with a deadline; on timeout the process is
 * killed (SIGKILL) and the promise rejects.
 */
export async function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
  opts: RunOptions = {},
): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out: Deno.CommandOutput;
  try {
    out = await withTimeout(`${cmd} ${args.join(" ")}`, timeoutMs, child.output());
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    throw error;
  }
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs a command and fails with its stderr unless it exits 0. */
export async function runOk(
  cmd: string,
  args: string[],
  timeoutMs: number,
  opts: RunOptions = {},
): Promise<string> {
  const r = await run(cmd, args, timeoutMs, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited with ${r.code}:\n${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}

/** The mount points (field 5) of this mount namespace whose filesystem type starts with `type`. */
export async function mountsOfType(type: string): Promise<Set<string>> {
  const table = await Deno.readTextFile("/proc/self/mountinfo");
  const out = new Set<string>();
  for (const line of table.split("\n")) {
    const fields = line.split(" ");
    const sep = fields.indexOf("-");
    if (sep > 0 && fields[sep + 1]?.startsWith(type)) out.add(fields[4]);
  }
  return out;
}

/**
 * Unmounts a FUSE mount: a normal `fusermount3 -u` first (the server sees
 * the device go away and exits by itself), a lazy one if that fails.
 */
export async function fuseUnmount(path: string): Promise<void> {
  if (!(await isMounted(path))) return;
  const r = await run("fusermount3", ["-u", path], 10_000).catch(() => null);
  if (r?.code === 0 && !(await isMounted(path))) return;
  await run("fusermount3", ["-u", "-z", path], 10_000).catch(() => null);
  if (await isMounted(path)) await run("umount", ["-l", path], 10_000).catch(() => null);
}

/** VmRSS and VmHWM of a process, in KiB (0 if it is gone). */
export async function memoryOf(pid: number): Promise<{ rssKiB: number; hwmKiB: number }> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const get = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
    return { rssKiB: get("VmRSS") || 0, hwmKiB: get("VmHWM") || 0 };
  } catch {
    return { rssKiB: 0, hwmKiB: 0 };
  }
}

/** A filesystem server running as a child process, mounted on `mnt`. */
export interface RunningServer {
  readonly mnt: string;
  readonly pid: number;
  /** What the server wrote to stderr so far. */
  stderr(): string;
  /** VmHWM seen so far, in KiB (read now). */
  memory(): Promise<{ rssKiB: number; hwmKiB: number }>;
}

/**
 * Starts `argv` (which mounts on `mnt`), waits until the mount answers,
 * runs `fn`, and in `finally` unmounts, waits for the server to exit (or
 * kills it) and checks that nothing stays mounted.
 *
 * @param argv the server's command line, including `mnt`
 * @param mnt an empty directory
 * @param fn the work to do while mounted; bounded by `timeoutMs`
 * @param timeoutMs deadline for `fn`
 * @returns what `fn` returned and the server's VmHWM at the end
 */
export async function withServer<T>(
  argv: string[],
  mnt: string,
  fn: (server: RunningServer) => Promise<T>,
  timeoutMs: number,
): Promise<{ value: T; hwmKiB: number }> {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stderr) {
      stderr += dec.decode(chunk);
      // Keep the tail only: a chatty server must not grow our memory.
      if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
    }
  })();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const server: RunningServer = {
    mnt,
    pid: child.pid,
    stderr: () => stderr,
    memory: () => memoryOf(child.pid),
  };
  let hwmKiB = 0;
  let value: T;
  let leftover = false;
  try {
    const deadline = Date.now() + 30_000;
    while (!(await isMounted(mnt))) {
      if (exited) throw new Error(`${argv.join(" ")} exited before mounting:\n${stderr}`);
      if (Date.now() > deadline) throw new Error(`${argv.join(" ")} did not mount in 30 s`);
      await sleep(20);
    }
    // The first access waits for FUSE_INIT; a subprocess keeps a hung
    // server from blocking this process.
    await runOk("stat", ["-c", "%i", mnt], 20_000);
    value = await withTimeout(`benchmark of ${argv.join(" ")}`, timeoutMs, fn(server));
    hwmKiB = (await memoryOf(child.pid)).hwmKiB;
  } finally {
    await fuseUnmount(mnt);
    try {
      await withTimeout("server exit", 15_000, status);
    } catch {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await status;
    }
    await reading;
    await fuseUnmount(mnt);
    leftover = await isMounted(mnt);
  }
  if (leftover) throw new Error(`${mnt} is still mounted`);
  return { value, hwmKiB };
}
