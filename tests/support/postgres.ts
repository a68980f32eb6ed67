/**
 * A real PostgreSQL server for one test: `initdb` into a fresh temporary
 * directory owned by the `postgres` user (initdb and the server refuse to
 * run as root), `pg_ctl` serving only a Unix socket in that directory
 * (`listen_addresses = ''`), everything run through `setpriv` as
 * `postgres`. {@link withPostgres} stops the server and removes the
 * directory in `finally`; a server that does not stop in time is killed, so
 * no `postgres` process outlives the test. Debian keeps the server binaries
 * in /usr/lib/postgresql/VERSION/bin (scripts/install_deps.sh installs the
 * `postgresql` package when it is missing). The benchmark starts its
 * PostgreSQL for pgfs with it too (bench/lib/database.ts).
 *
 * @module
 */

import { join } from "node:path";
import { sh } from "./mount.ts";

/** A running (or stopped, see {@link PostgresServer.stop}) test server. */
export interface PostgresServer {
  /** The directory holding the data directory, the socket and the log. */
  readonly dir: string;
  /** The Unix socket directory (also `dir`). */
  readonly socketDir: string;
  /** A libpq-style URL of database `name` (default "postgres") as the superuser. */
  url(name?: string): string;
  /** Runs SQL through psql as the superuser; returns psql's unaligned, tuples-only output. */
  psql(sql: string, database?: string): Promise<string>;
  /** Creates a database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown: open sessions are disconnected). */
  stop(): Promise<void>;
  /** Starts it again after {@link stop}. */
  start(): Promise<void>;
  /** The server log so far. */
  log(): Promise<string>;
}

/** Options of {@link withPostgres}. */
export interface PostgresOptions {
  /**
   * Require this password of the superuser (scram-sha-256 on the socket);
   * default: trust (no password).
   */
  password?: string;
  /**
   * Where its directory is made (default: the system's temporary
   * directory). The benchmark puts it on a tmpfs (/dev/shm), where fsyncs
   * cost nothing, as they cost nothing to sqlitefs on its backing tmpfs.
   */
  parent?: string;
  /**
   * Run the server (the postmaster, hence every backend it forks) on these
   * CPUs only, a `taskset -c` list: the benchmark's pinned mode puts the
   * whole filesystem, database included, on the clients' CPU.
   */
  cpus?: string;
}

const SUPERUSER = "postgres";

/** The directory with initdb and pg_ctl (Debian: /usr/lib/postgresql/N/bin). */
export async function postgresBin(): Promise<string> {
  const root = "/usr/lib/postgresql";
  const versions: number[] = [];
  try {
    for await (const e of Deno.readDir(root)) {
      if (/^\d+$/.test(e.name)) versions.push(Number(e.name));
    }
  } catch { /* not Debian's layout */ }
  for (const v of versions.sort((a, b) => b - a)) {
    const bin = join(root, String(v), "bin");
    if (await exists(join(bin, "initdb"))) return bin;
  }
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && await exists(join(dir, "initdb")) && await exists(join(dir, "pg_ctl"))) return dir;
  }
  throw new Error(
    "PostgreSQL's initdb was not found (looked in /usr/lib/postgresql/*/bin and PATH): " +
      "run scripts/install_deps.sh (apt-get install postgresql)",
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** uid and gid of the `postgres` user. */
async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const passwd = await Deno.readTextFile("/etc/passwd");
  const line = passwd.split("\n").find((l) => l.startsWith(`${SUPERUSER}:`));
  if (!line) {
    throw new Error("there is no postgres user: run scripts/install_deps.sh (installs postgresql)");
  }
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** Runs a command to completion, failing with its output on a non-zero status. */
async function run(
  cmd: string,
  args: string[],
  { timeoutMs = 60_000, env }: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<string> {
  const r = await sh(cmd, args, { timeoutMs, env });
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited with ${r.code}:\n${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

/**
 * Starts a fresh PostgreSQL server, runs `fn` with it, then stops it and
 * removes its directory, whatever `fn` did.
 *
 * @param fn the test body
 * @param options see {@link PostgresOptions}
 */
export async function withPostgres<T>(
  fn: (pg: PostgresServer) => Promise<T>,
  options: PostgresOptions = {},
): Promise<T> {
  const bin = await postgresBin();
  const { uid, gid } = await postgresIds();
  const dir = await Deno.makeTempDir({ dir: options.parent, prefix: "denofuse-pg-" });
  const data = join(dir, "data");
  const logFile = join(dir, "server.log");
  // taskset execs setpriv, which execs the command: the CPU list sticks to the postmaster.
  const pin = options.cpus === undefined ? [] : ["taskset", "-c", options.cpus];
  const asPostgres = (cmd: string, args: string[], timeoutMs?: number) => {
    const argv = [
      ...pin,
      "setpriv",
      `--reuid=${uid}`,
      `--regid=${gid}`,
      "--clear-groups",
      "--",
      join(bin, cmd),
      ...args,
    ];
    return run(argv[0], argv.slice(1), { timeoutMs, env: { LC_ALL: "C", HOME: dir } });
  };
  let running = false;
  const start = async () => {
    await asPostgres("pg_ctl", [
      "-D",
      data,
      "-l",
      logFile,
      "-w",
      "-t",
      "60",
      "-o",
      `-c listen_addresses='' -c unix_socket_directories='${dir}' -c max_connections=60 ` +
      `-c shared_buffers=16MB`,
      "start",
    ], 90_000);
    running = true;
  };
  const stop = async () => {
    if (!running) return;
    const pid = await postmasterPid(data);
    await asPostgres("pg_ctl", ["-D", data, "-m", "fast", "-w", "-t", "30", "stop"], 40_000);
    running = false;
    // pg_ctl returns once postmaster.pid is gone; the process itself exits a moment later.
    if (pid !== undefined) await waitGone(pid, 10_000);
  };
  try {
    await Deno.chown(dir, uid, gid);
    const initArgs = ["-D", data, "-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync"];
    if (options.password !== undefined) {
      const pwfile = join(dir, "pwfile");
      await Deno.writeTextFile(pwfile, options.password + "\n", { mode: 0o600 });
      await Deno.chown(pwfile, uid, gid);
      initArgs.push("--pwfile", pwfile, "--auth-local=scram-sha-256", "--auth-host=reject");
    } else {
      initArgs.push("--auth-local=trust", "--auth-host=reject");
    }
    await asPostgres("initdb", initArgs, 120_000);
    if (options.password !== undefined) await Deno.remove(join(dir, "pwfile"));
    await start();
    const url = (name = "postgres") =>
      `postgres://${SUPERUSER}@/${encodeURIComponent(name)}?host=${encodeURIComponent(dir)}`;
    const psql = (sql: string, database = "postgres") =>
      run("psql", [
        "-h",
        dir,
        "-U",
        SUPERUSER,
        "-d",
        database,
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        sql,
      ], {
        timeoutMs: 30_000,
        env: options.password === undefined ? {} : { PGPASSWORD: options.password },
      });
    const server: PostgresServer = {
      dir,
      socketDir: dir,
      url,
      psql,
      async createDatabase(name) {
        await psql(`CREATE DATABASE "${name}"`);
        return url(name);
      },
      stop,
      start,
      log: () => Deno.readTextFile(logFile).catch(() => ""),
    };
    return await fn(server);
  } finally {
    try {
      await stop();
    } catch (error) {
      console.error(`postgres: pg_ctl stop failed, killing the server: ${error}`);
      await killServer(data);
    }
    // Gone already when stopPostgresIn's caller removed it meanwhile.
    await Deno.remove(dir, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}

/**
 * Stops the server of a {@link withPostgres} directory, if one runs there,
 * for a caller whose `withPostgres` will not reach its `finally` (the
 * benchmark exiting on Ctrl-C: `pg_ctl` detached the server from our
 * process group, so the signal did not reach it). A fast shutdown (SIGINT,
 * what `pg_ctl -m fast` sends), then SIGKILL after 10 s.
 *
 * @param dir the directory, {@link PostgresServer.dir}
 */
export async function stopPostgresIn(dir: string): Promise<void> {
  const data = join(dir, "data");
  const pid = await postmasterPid(data);
  if (pid === undefined) return;
  try {
    Deno.kill(pid, "SIGINT");
  } catch {
    return;
  }
  await waitGone(pid, 10_000).catch(() => killServer(data));
}

/** The postmaster's pid from postmaster.pid, if it is there. */
async function postmasterPid(data: string): Promise<number | undefined> {
  try {
    const pid = Number((await Deno.readTextFile(join(data, "postmaster.pid"))).split("\n")[0]);
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Waits until process `pid` no longer exists (probing with the harmless SIGCONT). */
async function waitGone(pid: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      Deno.kill(pid, "SIGCONT");
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`postgres process ${pid} is still running ${ms} ms after stopping`);
}

/** Last resort: SIGKILL the postmaster and its backends, and wait for them to go. */
async function killServer(data: string): Promise<void> {
  const pid = await postmasterPid(data);
  if (pid === undefined) return;
  // Backends are the postmaster's children: kill them too, or they linger on their clients.
  const children = await run("pgrep", ["-P", String(pid)]).catch(() => "");
  for (const p of [pid, ...children.split("\n").filter(Boolean).map(Number)]) {
    try {
      Deno.kill(p, "SIGKILL");
    } catch { /* gone */ }
  }
  await waitGone(pid, 10_000).catch((e) => console.error(`postgres: ${e.message}`));
}
