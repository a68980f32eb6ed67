/**
 * The PostgreSQL server behind a database-backed server under test
 * (examples/pgfs.ts): one per session, started fresh and stopped again by
 * the test suite's {@link withPostgres}, so no session finds the tables,
 * WAL or caches of another.
 *
 * @module
 */

import { join } from "node:path";
import { stopPostgresIn, withPostgres } from "../../tests/support/postgres.ts";

/** A session's server: its directory, and whether initdb and the start are over. */
interface Running {
  readonly parent: string;
  readonly started: Promise<void>;
}

/** The servers of running sessions, for {@link stopDatabases}. */
const running = new Set<Running>();
/** Set by {@link stopDatabases}: a server that comes up afterwards serves no session. */
let stopping = false;

/**
 * Starts a PostgreSQL server, creates an empty database in it, runs `fn`
 * with that database's URL, then stops the server and removes its
 * directory. The directory is on /dev/shm, a tmpfs: fsyncs cost nothing
 * there, as they cost nothing to sqlitefs on the backing tmpfs. Pinned,
 * the server runs on CPU 0 with the filesystem and its clients, as
 * sqlitefs's in-process database does.
 *
 * @param pinned whether the session is pinned
 * @param fn the session, given the database's URL
 * @returns what `fn` returned
 */
export async function withDatabase<T>(
  pinned: boolean,
  fn: (url: string) => Promise<T>,
): Promise<T> {
  // Known before initdb runs, so that a Ctrl-C at any point finds the server.
  const parent = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "denofuse-bench-pg-" });
  const { promise: started, resolve } = Promise.withResolvers<void>();
  const entry = { parent, started };
  running.add(entry);
  try {
    // The postgres user must reach the server's directory inside.
    await Deno.chmod(parent, 0o755);
    return await withPostgres(async (pg) => {
      resolve();
      const url = await pg.createDatabase("bench");
      if (stopping) throw new Error("interrupted");
      return await fn(url);
    }, { parent, cpus: pinned ? "0" : undefined });
  } finally {
    resolve();
    running.delete(entry);
    // Gone already when stopDatabases removed it meanwhile.
    await Deno.remove(parent, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}

/**
 * Stops the servers of sessions cut short by a signal (the harness exits
 * without running their `finally`) and removes their directories. A
 * server still in initdb or starting is waited for (at most 60 s):
 * removing its directory under initdb would leave the shared memory of
 * initdb's backend in /dev/shm.
 */
export async function stopDatabases(): Promise<void> {
  stopping = true;
  for (const entry of running) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([entry.started, new Promise((r) => timer = setTimeout(r, 60_000))]);
    clearTimeout(timer);
    const dirs = await Array.fromAsync(Deno.readDir(entry.parent)).catch(() => []);
    for (const e of dirs) await stopPostgresIn(join(entry.parent, e.name));
    await Deno.remove(entry.parent, { recursive: true }).catch(() => {});
    running.delete(entry);
  }
}
