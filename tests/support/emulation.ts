/**
 * The portability run's emulated suites (`scripts/portability.sh`, e.g.
 * `bookworm-arm64`: an arm64 Debian chroot whose programs, Deno included,
 * run under qemu-user on an x86_64 kernel) set `DENOFUSE_EMULATION` and
 * `DENOFUSE_TIME_FACTOR`. Emulation is 4-8x slower, so the test helpers'
 * timeouts are multiplied by the factor ({@link scaled}); the few tests
 * that need something qemu-user cannot do are skipped there only, each with
 * the emulation limit that stops it ({@link QEMU_LIMITS}, {@link unlessEmulated}).
 * Natively both variables are unset: factor 1, nothing skipped.
 */

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: not the portability run
  }
}

/** The emulator the tests run under ("qemu-user"), or "" natively. */
export const EMULATION = env("DENOFUSE_EMULATION") ?? "";

/** What timeouts are multiplied by: `DENOFUSE_TIME_FACTOR` (>= 1), else 1. */
export const TIME_FACTOR = Math.max(1, Number(env("DENOFUSE_TIME_FACTOR")) || 1);

/** `ms` scaled by {@link TIME_FACTOR}, for a timeout or a deadline (never a required delay). */
export function scaled(ms: number): number {
  return ms * TIME_FACTOR;
}

/**
 * What qemu-user cannot do that a test needs: a test skipped under
 * emulation names one of these, never a shortcoming of the library.
 */
export const QEMU_LIMITS = {
  cloneNewns:
    "qemu-user refuses clone(CLONE_NEWNS), which fusermount3 needs to unmount for auto_unmount",
  ioctl: "qemu-user passes only the ioctl numbers it knows, not a filesystem's own, to the kernel",
  rss:
    "under qemu-user the server's RSS includes qemu's translation cache, which grows with V8's JIT code",
} as const;

/**
 * `Deno.test` options for a test that cannot run under emulation: natively
 * `{ name }`; under emulation ignored, its name saying why.
 *
 * @example Deno.test({ ...unlessEmulated("mounts", QEMU_LIMITS.x), fn: async () => {} })
 */
export function unlessEmulated(
  name: string,
  limit: (typeof QEMU_LIMITS)[keyof typeof QEMU_LIMITS],
): { name: string; ignore: boolean } {
  return EMULATION
    ? { name: `${name} — SKIPPED under ${EMULATION}: ${limit}`, ignore: true }
    : { name, ignore: false };
}
