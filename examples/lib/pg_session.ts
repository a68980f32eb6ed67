/**
 * A pgfs mount's presence in its database: a row in `pgfs.mounts`, a
 * session advisory lock on its id held by one dedicated connection (the
 * mount is alive exactly as long as the lock is held: PostgreSQL drops it
 * when the connection goes, however the process ended), and LISTEN on the
 * change channel on that same connection.
 *
 * When the connection is lost (the server restarted, the network broke),
 * the session reconnects with backoff, takes the lock again, registers the
 * mount again if another mount reaped it meanwhile, and calls `resumed`,
 * since notifications may have been missed. Other mounts reap a mount whose
 * lock nobody holds ({@link reapDeadMounts}): its open-file holds and its
 * locks go, so a crashed mount's locks are released and its unlinked open
 * files deleted.
 *
 * @module
 */

import { connect, type Pool } from "./pg_client.ts";
import { CHANNEL } from "./pg_changes.ts";
import type { PgTarget } from "./pg_connect.ts";

/** First key of the mounts' advisory locks (the second is the mount id). */
const MOUNT_LOCK = 0x70676d;
/** Longest wait between reconnection attempts. */
const MAX_BACKOFF_MS = 2000;

/** What a {@link MountSession} reports. */
export interface SessionEvents {
  /** A notification on the change channel. */
  notify(payload: string): void;
  /** Connected again after a loss: re-register what the mount holds, resync caches. */
  resumed(): Promise<void>;
  /** The session is lost for now (reconnecting). */
  lost(reason: string): void;
}

/** The dedicated connection of one mount. */
export class MountSession {
  #sql: Pool;
  #id = 0;
  #closing = false;
  #reconnecting: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    readonly target: PgTarget,
    readonly events: SessionEvents,
    connectTimeoutSeconds: number,
  ) {
    this.#sql = connect(target, {
      max: 1,
      connectTimeoutSeconds,
      statementTimeoutMs: 0,
      onnotify: (channel, payload) => {
        if (channel === CHANNEL) events.notify(payload);
      },
      onclose: () => this.#lost(),
    });
  }

  /**
   * Registers a new mount and starts listening.
   *
   * @param target where
   * @param events callbacks
   * @param connectTimeoutSeconds how long to wait for the server
   * @returns the session
   */
  static async open(
    target: PgTarget,
    events: SessionEvents,
    connectTimeoutSeconds: number,
  ): Promise<MountSession> {
    const session = new MountSession(target, events, connectTimeoutSeconds);
    try {
      await session.#register();
    } catch (error) {
      await session.close();
      throw error;
    }
    return session;
  }

  /** This mount's id (stable across reconnections). */
  get id(): number {
    return this.#id;
  }

  /** Whether the session is connected (not reconnecting). */
  get connected(): boolean {
    return this.#reconnecting === undefined;
  }

  async #register(): Promise<void> {
    await this.#sql.begin(async (tx) => {
      if (this.#id === 0) {
        const [row] = await tx`
          INSERT INTO pgfs.mounts (host, pid) VALUES (${host()}, ${Deno.pid}) RETURNING id`;
        this.#id = Number(row.id);
      } else {
        await tx`
          INSERT INTO pgfs.mounts (id, host, pid) OVERRIDING SYSTEM VALUE
          VALUES (${this.#id}, ${host()}, ${Deno.pid}) ON CONFLICT (id) DO NOTHING`;
      }
      // Taken before the row commits: no other mount can see the row unlocked.
      await tx`SELECT pg_advisory_lock(${MOUNT_LOCK}, ${this.#id}::int)`;
    });
    await this.#sql.unsafe(`LISTEN "${CHANNEL}"`);
  }

  #lost(): void {
    if (this.#closing || this.#reconnecting) return;
    this.events.lost("the database connection closed");
    this.#reconnecting = this.#reconnect().finally(() => this.#reconnecting = undefined);
  }

  async #reconnect(): Promise<void> {
    for (let attempt = 0; !this.#closing; attempt++) {
      await new Promise<void>((resolve) => {
        this.#timer = setTimeout(resolve, Math.min(100 * 2 ** attempt, MAX_BACKOFF_MS));
      });
      this.#timer = undefined;
      if (this.#closing) return;
      try {
        await this.#register();
        await this.events.resumed();
        return;
      } catch {
        // Still down: try again.
      }
    }
  }

  /** Ends the session: the lock goes, other mounts reap the row. */
  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#timer);
    await this.#reconnecting?.catch(() => {});
    try {
      if (this.#id !== 0) await this.#sql`DELETE FROM pgfs.mounts WHERE id = ${this.#id}`;
    } catch {
      // The database is gone: the row is reaped by the next mount.
    }
    await this.#sql.end({ timeout: 5 });
  }
}

/**
 * Deletes the mounts nobody holds the lock of (crashed or cut off), with
 * their open-file holds and locks, then the inodes without names that
 * nobody holds any more.
 *
 * @param sql the pool
 * @param self this mount's id
 * @returns the inodes whose locks were released (waiters look again)
 */
export async function reapDeadMounts(sql: Pool, self: number): Promise<number[]> {
  return await sql.begin(async (tx) => {
    const dead = await tx`
      SELECT id FROM pgfs.mounts
       WHERE id <> ${self} AND pg_try_advisory_xact_lock(${MOUNT_LOCK}, id::int)`;
    if (dead.length === 0) return [];
    const ids = dead.map((r) => Number(r.id));
    const locked = await tx`
      SELECT DISTINCT ino FROM pgfs.locks WHERE mount = ANY(${ids}::bigint[])`;
    await tx`DELETE FROM pgfs.mounts WHERE id = ANY(${ids}::bigint[])`;
    await tx`
      DELETE FROM pgfs.inodes i WHERE i.nlink = 0
         AND NOT EXISTS (SELECT 1 FROM pgfs.holds h WHERE h.ino = i.ino)`;
    return locked.map((r) => Number(r.ino));
  });
}

/** This machine's name for `pgfs.mounts` (empty without --allow-sys). */
function host(): string {
  try {
    return Deno.hostname();
  } catch {
    return "";
  }
}
