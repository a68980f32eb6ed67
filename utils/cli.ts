/**
 * Command-line parsing shared by the examples: `[-o opt,opt...] MOUNTPOINT`
 * (or `SOURCE MOUNTPOINT`), the way libfuse's own examples take options.
 *
 * @module
 */

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
