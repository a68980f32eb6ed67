/**
 * System calls that may block (or may be answered by one of our own mounts)
 * and whose errno matters. They run synchronously in a short-lived Worker,
 * so the JS thread — which may be the very thread serving the filesystem
 * they touch — stays free, and errno is read on the thread that set it (a
 * `nonblocking` FFI call would lose it on Deno's thread pool).
 *
 * @module
 */

/** What the worker sends back. */
export interface SyscallResult {
  /** The call's return value (-1 on failure). */
  result: number;
  /** errno after a failure, else 0. */
  errno: number;
  /** Output bytes (getxattr). */
  data?: Uint8Array;
}

/** The request messages the worker understands. */
export type SyscallRequest =
  | { op: "syncfs"; path: Uint8Array }
  | { op: "getxattr"; path: Uint8Array; name: Uint8Array; size: number }
  | { op: "setxattr"; path: Uint8Array; name: Uint8Array; value: Uint8Array; flags: number };

// The worker is created from this source through a blob URL so that it
// needs no file beside this module at run time (deno compile safe).
const WORKER_SOURCE = `
const O_RDONLY = 0, O_CLOEXEC = 0o2000000;
const libc = Deno.dlopen("libc.so.6", {
  // int open(const char *pathname, int flags)
  open: { parameters: ["buffer", "i32"], result: "i32" },
  // int close(int fd)
  close: { parameters: ["i32"], result: "i32" },
  // int syncfs(int fd)
  syncfs: { parameters: ["i32"], result: "i32" },
  // ssize_t getxattr(const char *path, const char *name, void *value, size_t size)
  getxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  // int setxattr(const char *path, const char *name, const void *value, size_t size, int flags)
  setxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  // int *__errno_location(void)
  __errno_location: { parameters: [], result: "pointer" },
}).symbols;
const errno = () => new Deno.UnsafePointerView(libc.__errno_location()).getInt32(0);
self.onmessage = ({ data: req }) => {
  let result = -1, err = 0, data;
  if (req.op === "syncfs") {
    const fd = libc.open(req.path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) err = errno();
    else {
      result = libc.syncfs(fd);
      if (result < 0) err = errno();
      libc.close(fd);
    }
  } else if (req.op === "getxattr") {
    data = new Uint8Array(req.size);
    result = Number(libc.getxattr(req.path, req.name, data, BigInt(req.size)));
    if (result < 0) err = errno();
    else data = data.subarray(0, Math.min(result, req.size));
  } else if (req.op === "setxattr") {
    result = libc.setxattr(req.path, req.name, req.value, BigInt(req.value.length), req.flags);
    if (result < 0) err = errno();
  }
  self.postMessage({ result, errno: err, data });
};
`;

/**
 * Runs one system call in a fresh worker thread.
 *
 * @param request the call and its arguments (paths and names NUL-terminated)
 * @returns the result and errno
 */
export async function blockingSyscall(request: SyscallRequest): Promise<SyscallResult> {
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" }));
  const worker = new Worker(url, { type: "module" });
  try {
    return await new Promise<SyscallResult>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<SyscallResult>) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`denofuse: system call worker failed: ${e.message}`));
      };
      worker.postMessage(request);
    });
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
}
