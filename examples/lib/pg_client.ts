/**
 * The PostgreSQL client of examples/pgfs.ts: porsager's `postgres`
 * (postgres.js), and what pgfs makes of its errors.
 *
 * Why this client: it is maintained, pure JavaScript (no native addon, so
 * it runs under Deno from npm with no build step), speaks the extended
 * protocol with automatic prepared statements and pipelining, returns
 * `bytea` as bytes, and has LISTEN/NOTIFY built in (`onnotify`). `pg`
 * (node-postgres) would do as well; its pool and LISTEN need more glue.
 *
 * @module
 */

import postgres from "npm:postgres@3.4.10";
import * as fuse from "../../mod.ts";
import { type PgTarget, redact } from "./pg_connect.ts";

/** A pool of connections (what `begin` and `end` are called on). */
export type Pool = postgres.Sql<Record<string, unknown>>;
/** What queries run on: a pool, or one transaction's connection inside `begin`. */
export type Sql = Pool | postgres.TransactionSql<Record<string, unknown>>;

/** SQLSTATEs worth running a transaction again for: serialization failure, deadlock. */
const RETRY_STATES = new Set(["40001", "40P01"]);
/** SQLSTATE of a unique violation (a name created twice at once). */
const UNIQUE_VIOLATION = "23505";
/** SQLSTATE of a foreign key violation (an inode removed meanwhile). */
const FOREIGN_KEY_VIOLATION = "23503";

/** What {@link connect} needs besides the target. */
export interface ClientOptions {
  /** Connections in the pool. */
  max: number;
  /** Seconds to wait for a connection before failing. */
  connectTimeoutSeconds: number;
  /** Milliseconds a statement may run before the server cancels it (0: no limit). */
  statementTimeoutMs: number;
  /** Called with each notification (for a LISTENing session). */
  onnotify?: (channel: string, payload: string) => void;
  /** Called when a connection closes. */
  onclose?: () => void;
}

/**
 * A client for `target`: 64-bit integers come back as bigint, notices are
 * not printed, and every connection carries `application_name` pgfs.
 *
 * @param target where to connect, with the password if any
 * @param options pool size, timeouts, callbacks
 * @returns the client (end it with `sql.end()`)
 */
export function connect(target: PgTarget, options: ClientOptions): Pool {
  survivePostgresJsNullSocket();
  const socket = target.host.startsWith("/");
  // onnotify and onclose are documented options that the type definitions lack.
  const settings: Record<string, unknown> = {
    host: socket ? undefined : target.host,
    path: socket ? `${target.host}/.s.PGSQL.${target.port}` : undefined,
    port: target.port,
    user: target.user,
    database: target.database,
    password: target.password ?? "",
    max: options.max,
    connect_timeout: options.connectTimeoutSeconds,
    idle_timeout: 0,
    // Seconds before reconnecting after a failure (the default grows to 20 s; a
    // mount should serve again soon after the server is back).
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    onnotice: () => {},
    onnotify: options.onnotify,
    onclose: options.onclose,
    types: { bigint: postgres.BigInt },
    connection: {
      application_name: "pgfs",
      statement_timeout: options.statementTimeoutMs,
      ...target.params,
    },
  };
  return postgres(settings as postgres.Options<Record<string, postgres.PostgresType>>) as Pool;
}

let guarded = false;

/**
 * postgres.js 3.4.10 can throw from a queued `setImmediate` write after a
 * connection closed under it (`socket.write` on null: porsager/postgres
 * issues 1066, 1154 and 1208, fixes not yet released), an uncaught
 * exception that would end the process, and with it the mount, whenever
 * the server restarts. The queries of that connection have already been
 * rejected with CONNECTION_CLOSED by then, so the stray write is dropped;
 * any other uncaught error still ends the process.
 */
function survivePostgresJsNullSocket(): void {
  if (guarded) return;
  guarded = true;
  globalThis.addEventListener("error", (event) => {
    const error = event.error;
    if (
      error instanceof TypeError && /reading 'write'/.test(error.message) &&
      /postgres.*\/src\/connection\.js/.test(error.stack ?? "") &&
      /nextWrite/.test(error.stack ?? "")
    ) {
      event.preventDefault();
    }
  });
}

/**
 * Whether running the transaction again may succeed (it lost a race with
 * another mount's transaction and was rolled back whole).
 *
 * @param error what the transaction threw
 * @returns true for a serialization failure or deadlock
 */
export function isRetryable(error: unknown): boolean {
  return RETRY_STATES.has(sqlState(error) ?? "");
}

/**
 * Whether the query failed because its connection had died under it (the
 * server restarted since the connection was last used, or closed it just
 * now): nothing of a transaction that had not sent COMMIT yet happened, and
 * the pool opens a fresh connection for the next try. A server that is down
 * (ENOENT, ECONNREFUSED) or starting is not stale: that request fails.
 *
 * @param error what the query threw
 * @returns true for a terminated or closed connection
 */
export function isStaleConnection(error: unknown): boolean {
  const state = sqlState(error);
  if (state !== undefined) return STALE_STATES.has(state) || state.startsWith("08");
  return STALE_CODES.has(errorCode(error) ?? "");
}

/**
 * Server-side ends of a session (administrator or crash shutdown), and a
 * connection refused while the server shuts down or starts (57P03): the
 * next attempt gets a fresh connection.
 */
const STALE_STATES = new Set(["57P01", "57P02", "57P03"]);
/** postgres.js's and the socket's codes for a connection that closed under a query. */
const STALE_CODES = new Set(["CONNECTION_CLOSED", "CONNECTION_DESTROYED", "ECONNRESET", "EPIPE"]);

/**
 * The FUSE error a failed query means for the caller: a handler's own
 * FUSEError passes through; a name that another mount created at the same
 * moment is EEXIST, an inode removed meanwhile ENOENT; anything else
 * (server down, connection lost, statement timeout) is EIO, logged once
 * per kind with the password redacted.
 *
 * @param error what the query threw
 * @param target for redaction
 * @param log where the reason goes
 * @returns the error to answer with
 */
export function toFuseError(
  error: unknown,
  target: PgTarget,
  log: (line: string) => void,
): fuse.FUSEError {
  if (error instanceof fuse.FUSEError) return error;
  const state = sqlState(error);
  if (state === UNIQUE_VIOLATION) return new fuse.FUSEError(fuse.errno.EEXIST);
  if (state === FOREIGN_KEY_VIOLATION) return new fuse.FUSEError(fuse.errno.ENOENT);
  const message = error instanceof Error ? error.message : String(error);
  log(redact(`database error (${state ?? errorCode(error) ?? "no code"}): ${message}`, target));
  return new fuse.FUSEError(fuse.errno.EIO);
}

function sqlState(error: unknown): string | undefined {
  if (!(error instanceof Error) || error.name !== "PostgresError") return undefined;
  return (error as Error & { code?: string }).code;
}

function errorCode(error: unknown): string | undefined {
  return error instanceof Error ? (error as Error & { code?: string }).code : undefined;
}
