/**
 * The settings of examples/sqlitefs.ts and their `-o` spelling.
 *
 * @module
 */

/** Settings of a SqliteFs. */
export interface SqliteFsOptions {
  /** Longest time a change waits for a commit when nobody calls fsync (ms); default 1000. */
  commitMs?: number;
  /**
   * Most bytes the database may grow to (`-o size=`), like the kernel
   * tmpfs's `size=`: beyond it requests fail with ENOSPC. Default: as much
   * as the filesystem holding it has.
   */
  maxBytes?: number;
  /** Permission bits of the root directory of a new database; default 0o755. */
  rootMode?: number;
  /** Owner of the root directory of a new database; default this process's uid. */
  rootUid?: number;
  /** Group of the root directory of a new database; default this process's gid. */
  rootGid?: number;
}

/**
 * Splits `-o` options into sqlitefs's own (`commit`, `size`, `mode`, `uid`, `gid`)
 * and those for libfuse, which rejects options it does not know.
 *
 * @param options the `-o` options, split at commas
 * @returns the filesystem's settings and the mount options
 * @throws {Error} naming a malformed option
 */
export function splitOptions(options: string[]): { fs: SqliteFsOptions; mount: string[] } {
  const fs: SqliteFsOptions = {};
  const mount: string[] = [];
  for (const option of options) {
    const [key, value] = option.split("=", 2);
    if (value === undefined) {
      mount.push(option);
      continue;
    }
    const number = (pattern: RegExp, radix: number) => {
      if (!pattern.test(value)) throw new Error(`bad option ${option}`);
      return parseInt(value, radix);
    };
    switch (key) {
      case "commit":
        if (!/^\d+(\.\d+)?$/.test(value) || !(Number(value) > 0)) {
          throw new Error(`bad option ${option}: expected seconds > 0`);
        }
        fs.commitMs = Number(value) * 1000;
        break;
      case "size": {
        const match = /^(\d+)([kmgt]?)$/i.exec(value);
        const shift = { "": 0, k: 10, m: 20, g: 30, t: 40 }[match?.[2].toLowerCase() ?? ""];
        const bytes = match ? Number(match[1]) * 2 ** shift! : NaN;
        if (!(bytes >= 1) || !Number.isSafeInteger(bytes)) {
          throw new Error(`bad option ${option}: expected a size with optional k/m/g/t`);
        }
        fs.maxBytes = bytes;
        break;
      }
      case "mode":
        fs.rootMode = number(/^[0-7]{1,4}$/, 8);
        break;
      case "uid":
        fs.rootUid = number(/^\d+$/, 10);
        break;
      case "gid":
        fs.rootGid = number(/^\d+$/, 10);
        break;
      default:
        mount.push(option);
    }
  }
  return { fs, mount };
}
