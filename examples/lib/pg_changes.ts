/**
 * Coherence between the mounts of one pgfs database. Every request that
 * changes something collects what it changed in a {@link ChangeSet}; the
 * transaction ends with `pg_notify` of it, which PostgreSQL delivers to
 * every LISTENing session when (and only if) the transaction commits. Each
 * mount's {@link KernelCache} turns the other mounts' change sets into
 * invalidations of what its own kernel cached: entries (a name created,
 * removed or renamed, negative entries included), attributes, and file
 * data. A mount's own changes need none: its kernel saw them happen.
 *
 * The payload is JSON (`{"m":mount,"a":[ino],"d":[ino],"e":[[parent,name,deleted]],"l":[ino]}`,
 * names in base64); a change set too large for one notification (8000 bytes)
 * is split.
 *
 * @module
 */

import type { Notifications } from "../../mod.ts";

/** The channel every mount of a database listens on. */
export const CHANNEL = "pgfs";
/** Stay below PostgreSQL's 8000-byte payload limit. */
const MAX_PAYLOAD = 7000;

/** An entry that changed: `[parent, name, deleted child inode or 0]`. */
type EntryChange = [number, Uint8Array, number];

/** What one request changed. */
export class ChangeSet {
  /** Inodes whose attributes changed. */
  readonly attrs = new Set<number>();
  /** Inodes whose data changed (their attributes did too). */
  readonly data = new Set<number>();
  /** Names created, removed or pointed elsewhere. */
  readonly entries: EntryChange[] = [];
  /** Inodes some of whose locks were released. */
  readonly locks = new Set<number>();

  /** Whether there is nothing to announce. */
  get empty(): boolean {
    return this.attrs.size + this.data.size + this.entries.length + this.locks.size === 0;
  }

  /**
   * Notes changed attributes.
   *
   * @param inos the inodes
   */
  attr(...inos: number[]): void {
    for (const ino of inos) this.attrs.add(ino);
  }

  /**
   * Notes changed data (and so attributes).
   *
   * @param ino the inode
   */
  wrote(ino: number): void {
    this.data.add(ino);
  }

  /**
   * Notes a name that now means something else (or nothing), and its directory's new attributes.
   *
   * @param parent the directory
   * @param name the name
   * @param deleted the inode the name named, if it was removed
   */
  entry(parent: number, name: Uint8Array, deleted = 0): void {
    this.entries.push([parent, name, deleted]);
    this.attrs.add(parent);
  }

  /**
   * Notes released locks (waiting mounts look again).
   *
   * @param ino the inode
   */
  unlocked(ino: number): void {
    this.locks.add(ino);
  }

  /**
   * The notifications to send.
   *
   * @param mount the sending mount's id
   * @returns JSON payloads, each within PostgreSQL's limit
   */
  payloads(mount: number): string[] {
    const attrs = [...this.attrs].filter((ino) => !this.data.has(ino));
    const out: string[] = [];
    let entries: Array<[number, string, number]> = [];
    const flush = (last: boolean) => {
      const body: Record<string, unknown> = { m: mount, e: entries };
      if (last) Object.assign(body, { a: attrs, d: [...this.data], l: [...this.locks] });
      out.push(JSON.stringify(body));
      entries = [];
    };
    let size = 0;
    for (const [parent, name, deleted] of this.entries) {
      const encoded: [number, string, number] = [parent, toBase64(name), deleted];
      size += encoded[1].length + 40;
      if (size > MAX_PAYLOAD && entries.length > 0) {
        flush(false);
        size = encoded[1].length + 40;
      }
      entries.push(encoded);
    }
    flush(true);
    return out;
  }
}

/** A change set as received. */
export interface ReceivedChange {
  mount: number;
  attrs: number[];
  data: number[];
  entries: EntryChange[];
  locks: number[];
}

/**
 * Reads a payload of {@link ChangeSet.payloads}.
 *
 * @param payload the notification's text
 * @returns the change, or undefined if it is not one (another program's notification)
 */
export function decodeChange(payload: string): ReceivedChange | undefined {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof body !== "object" || body === null || typeof body.m !== "number") return undefined;
  const numbers = (v: unknown) =>
    Array.isArray(v) ? v.filter((x): x is number => Number.isSafeInteger(x)) : [];
  const entries: EntryChange[] = [];
  for (const e of Array.isArray(body.e) ? body.e : []) {
    if (!Array.isArray(e) || typeof e[1] !== "string") continue;
    entries.push([Number(e[0]), fromBase64(e[1]), Number(e[2]) || 0]);
  }
  return {
    mount: body.m,
    attrs: numbers(body.a),
    data: numbers(body.d),
    entries,
    locks: numbers(body.l),
  };
}

/** What a {@link KernelCache} tells the filesystem about. */
export interface CacheEvents {
  /** Another mount changed this file's data: its cached pages are stale. */
  dataChanged(ino: number): void;
  /** Locks of this inode were released somewhere. */
  unlocked(ino: number): void;
}

/**
 * Applies other mounts' changes to this mount's kernel caches.
 */
export class KernelCache {
  #kernel: Notifications | undefined;

  /**
   * @param self this mount's id (its own changes are skipped)
   * @param events the filesystem's side of a change
   */
  constructor(readonly self: () => number, readonly events: CacheEvents) {}

  /**
   * Where invalidations go: the mount's notifications (a MountHandle, or
   * the module-level functions after `init`).
   *
   * @param kernel the notifications, or undefined to stop
   */
  attach(kernel: Notifications | undefined): void {
    this.#kernel = kernel;
  }

  /**
   * Handles one notification.
   *
   * @param payload its text
   */
  receive(payload: string): void {
    const change = decodeChange(payload);
    if (!change) return;
    for (const ino of change.locks) this.events.unlocked(ino);
    if (change.mount === this.self()) return;
    for (const ino of change.data) this.events.dataChanged(ino);
    const kernel = this.#kernel;
    if (!kernel) return;
    // The kernel answers ENOENT for what it has not cached: nothing to drop.
    const ignore = () => {};
    for (const [parent, name, deleted] of change.entries) {
      if (deleted) kernel.notifyDelete(parent, deleted, name).catch(ignore);
      else kernel.invalidateEntry(parent, name).catch(ignore);
    }
    for (const ino of change.attrs) kernel.invalidateInode(ino, true).catch(ignore);
    for (const ino of change.data) kernel.invalidateInode(ino, false).catch(ignore);
  }

  /**
   * Drops this mount's own kernel's cached attributes of `ino`, for a
   * change its kernel did not see in a reply (an access time set after a read).
   *
   * @param ino the inode
   */
  refreshOwn(ino: number): void {
    this.#kernel?.invalidateInode(ino, true).catch(() => {});
  }

  /**
   * After this mount was cut off from the database (notifications may have
   * been missed): every cached name is made stale at once where the kernel
   * and libfuse can (FUSE_NOTIFY_INC_EPOCH, libfuse 3.18), and the
   * attributes and data of every inode the kernel holds are dropped.
   *
   * @param known the inodes the kernel holds
   */
  resync(known: Iterable<number>): void {
    const kernel = this.#kernel;
    if (!kernel) return;
    const ignore = () => {};
    kernel.incrementEpoch().catch(ignore);
    for (const ino of known) {
      this.events.dataChanged(ino);
      kernel.invalidateInode(ino, false).catch(ignore);
    }
  }
}

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return new Uint8Array(0);
  }
}
