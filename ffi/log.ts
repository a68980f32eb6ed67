/**
 * Routing libfuse's log messages (`fuse_log`) through JS, so that a failed
 * mount can quote libfuse's own explanation in its error instead of leaving
 * it on stderr only.
 *
 * @module
 */

import { type LoadedLibraries, onUnload } from "./library.ts";

const LEVEL_NAMES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

let installed: Deno.UnsafeCallback | undefined;
let capturing: string[] | null = null;
let lastCaptured: string[] = [];
const formatBuffer = new Uint8Array(4096);
const decoder = new TextDecoder();

function install(libs: LoadedLibraries): void {
  if (installed) return;
  const { libc } = libs;
  // void (*fuse_log_func_t)(enum fuse_log_level level, const char *fmt, va_list ap)
  const callback = new Deno.UnsafeCallback(
    { parameters: ["i32", "pointer", "pointer"], result: "void" } as const,
    (level, fmt, ap) => {
      const n = libc.vsnprintf(formatBuffer, BigInt(formatBuffer.length), fmt, ap);
      const text = decoder.decode(
        formatBuffer.subarray(0, Math.min(Math.max(n, 0), formatBuffer.length - 1)),
      );
      if (capturing) capturing.push(text);
      else console.error(`libfuse ${LEVEL_NAMES[level] ?? level}: ${text.trimEnd()}`);
    },
  );
  installed = callback as unknown as Deno.UnsafeCallback;
  libs.fuse.fuse_set_log_func(callback.pointer);
}

onUnload((libs) => {
  if (!installed) return;
  // NULL restores libfuse's default logger, so no dangling callback remains.
  libs.fuse.fuse_set_log_func(null);
  installed.close();
  installed = undefined;
});

/**
 * Runs `fn` (a synchronous libfuse call) collecting what libfuse logs
 * meanwhile. Messages are printed to stderr afterwards unless `failed`
 * says the call failed, in which case the caller reports them through
 * {@link recentLibfuseMessages} in its error.
 *
 * @param libs the loaded libraries
 * @param fn the call
 * @param failed decides from the result whether the call failed
 * @returns what `fn` returned
 */
export function captureLibfuseLog<T>(
  libs: LoadedLibraries,
  fn: () => T,
  failed: (result: T) => boolean = () => false,
): T {
  install(libs);
  const outer = capturing;
  capturing = [];
  let result: T;
  try {
    result = fn();
  } finally {
    lastCaptured = capturing;
    capturing = outer;
  }
  if (!failed(result)) {
    for (const line of lines(lastCaptured)) console.error(`libfuse: ${line}`);
    lastCaptured = [];
  }
  return result;
}

/** Joins logged fragments into lines: libfuse logs one message in several calls. */
function lines(fragments: string[]): string[] {
  return fragments.join("").split("\n").map((l) => l.trimEnd()).filter((l) => l !== "");
}

/**
 * What libfuse logged during the last failed {@link captureLibfuseLog}.
 *
 * @returns the messages' lines, oldest first
 */
export function recentLibfuseMessages(): string[] {
  return lines(lastCaptured);
}
