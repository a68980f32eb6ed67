/**
 * Command-line parsing shared by the examples: `[-o opt,opt...] MOUNTPOINT`
 * (or `SOURCE MOUNTPOINT`), the way libfuse's own examples take options.
 * Built on the public API only; copy it into your own filesystem's CLI.
 *
 * @module
 */

import { close, init, main, type MountOptions, type Operations } from "../../mod.ts";

/** What {@link parseMountArgs} found. */
export interface MountArgs {
  /** The positional arguments (mountpoint last). */
  positional: string[];
  /** The `-o` options, split at commas. */
  options: string[];
}

/**
 * Parses `[-o opt,opt...]... ARG...`.
 *
 * @param args usually `Deno.args`
 * @param positionalNames names of the expected positional arguments, for the usage message
 * @returns the positional arguments and options
 * @throws {Error} with a usage line when the arguments do not match
 * @example
 * ```ts
 * import { parseMountArgs } from "./cli.ts";
 * const { positional, options } = parseMountArgs(["-o", "ro,fsname=x", "/mnt"], ["MOUNTPOINT"]);
 * console.log(positional[0], options); // "/mnt" ["ro", "fsname=x"]
 * ```
 */
export function parseMountArgs(
  args: readonly string[],
  positionalNames: readonly string[],
): MountArgs {
  const usage = `usage: [-o opt,opt...] ${positionalNames.join(" ")}`;
  const positional: string[] = [];
  const options: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-o") {
      const value = args[++i];
      if (value === undefined) throw new Error(`-o needs a value\n${usage}`);
      options.push(...value.split(",").filter((o) => o !== ""));
    } else if (a.startsWith("-o") && a.length > 2) {
      options.push(...a.slice(2).split(",").filter((o) => o !== ""));
    } else if (a === "-h" || a === "--help") {
      throw new Error(usage);
    } else if (a.startsWith("-") && a !== "-") {
      throw new Error(`unknown flag ${a}\n${usage}`);
    } else {
      positional.push(a);
    }
  }
  if (positional.length !== positionalNames.length) {
    throw new Error(`expected ${positionalNames.join(" ")}\n${usage}`);
  }
  return { positional, options };
}

/** What {@link runFromCommandLine} needs to know about an example filesystem. */
export interface CommandLineFs {
  /** Program name for messages, e.g. "hello". */
  name: string;
  /** Names of the positional arguments, mountpoint last. */
  positional: string[];
  /**
   * Builds the filesystem from the arguments (possibly asynchronously, e.g.
   * after connecting to a database).
   *
   * @param positional the positional arguments
   * @param options the `-o` options
   * @returns the operations, the mount options to use, an optional hook
   *   run once mounted, and an optional cleanup run after unmounting
   */
  create(positional: string[], options: string[]): CreatedFs | Promise<CreatedFs>;
}

/** What {@link CommandLineFs.create} builds. */
export interface CreatedFs {
  ops: Operations;
  /** Mount options, or `init()`'s options object (e.g. with `deadlineMs`). */
  options: Iterable<string> | MountOptions;
  /** Runs right after mounting (e.g. to attach the mount's notifications). */
  mounted?: () => void;
  /** Runs after unmounting (also when mounting failed). */
  cleanup?: () => void | Promise<void>;
}

/**
 * The `main` of an example: parses `[-o opt,...] ARGS... MOUNTPOINT`, mounts
 * in the foreground, serves until SIGINT/SIGTERM/unmount, then unmounts.
 * Usage errors exit with status 2, setup and mount errors with status 1,
 * printing just the message (which names the fix).
 *
 * @param fs the example
 * @param args the command line (default `Deno.args`)
 * @returns resolves after unmounting
 */
export async function runFromCommandLine(fs: CommandLineFs, args = Deno.args): Promise<void> {
  const fail = (error: unknown, status: number): never => {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(status);
  };
  let parsed: MountArgs;
  try {
    parsed = parseMountArgs(args, fs.positional);
  } catch (error) {
    return fail(error, 2);
  }
  let made: CreatedFs;
  try {
    made = await fs.create(parsed.positional, parsed.options);
  } catch (error) {
    return fail(error, 1);
  }
  const mountpoint = parsed.positional.at(-1)!;
  try {
    init(made.ops, mountpoint, made.options);
  } catch (error) {
    await made.cleanup?.();
    return fail(error, 1);
  }
  made.mounted?.();
  console.error(`${fs.name}: mounted on ${mountpoint}`);
  try {
    await main();
  } finally {
    close();
    await made.cleanup?.();
  }
  console.error(`${fs.name}: unmounted`);
}
