/**
 * What the database-backed examples (examples/sqlitefs.ts, examples/pgfs.ts)
 * share about opening their store: the refusal of a database that is not
 * theirs, and the root directory a new filesystem starts with.
 *
 * @module
 */

/** A database the filesystem will not use; the message names the problem and the fix. */
export class DatabaseRefused extends Error {
  /**
   * @param message what is wrong and what to do
   */
  constructor(message: string) {
    super(message);
    this.name = "DatabaseRefused";
  }
}

/** Owner and mode of the root directory of a new filesystem. */
export interface RootAttributes {
  uid: number;
  gid: number;
  mode: number;
}
