/**
 * The C side of `struct fuse_lowlevel_ops`: one row per libfuse operation with
 * its slot in the struct and its C prototype. `ops/dispatch.ts` supplies a JS
 * implementation per row; {@link buildLowLevelOps} turns the implemented rows
 * into `Deno.UnsafeCallback`s and the function-pointer array libfuse reads.
 *
 * @module
 */

/** One `fuse_lowlevel_ops` member. */
interface OpRow {
  /** Index of the function pointer in `struct fuse_lowlevel_ops`. */
  readonly slot: number;
  /** The C parameters, in Deno FFI types. */
  readonly parameters: readonly Deno.NativeType[];
  /** The first `fuse_version()` whose struct has this member (absent: 3.10 has it). */
  readonly since?: number;
}

/**
 * `struct fuse_lowlevel_ops`, in declaration order: 44 members in libfuse
 * 3.10-3.16, `tmpfile` appended by 3.17 and `statx` by 3.18.
 */
export const LOWLEVEL_OPS = {
  // void (*init)(void *userdata, struct fuse_conn_info *conn)
  init: { slot: 0, parameters: ["pointer", "pointer"] },
  // void (*destroy)(void *userdata)
  destroy: { slot: 1, parameters: ["pointer"] },
  // void (*lookup)(fuse_req_t req, fuse_ino_t parent, const char *name)
  lookup: { slot: 2, parameters: ["pointer", "u64", "pointer"] },
  // void (*forget)(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
  forget: { slot: 3, parameters: ["pointer", "u64", "u64"] },
  // void (*getattr)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
  getattr: { slot: 4, parameters: ["pointer", "u64", "pointer"] },
  // void (*setattr)(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
  //                 struct fuse_file_info *fi)
  setattr: { slot: 5, parameters: ["pointer", "u64", "pointer", "i32", "pointer"] },
  // void (*readlink)(fuse_req_t req, fuse_ino_t ino)
  readlink: { slot: 6, parameters: ["pointer", "u64"] },
  // void (*mknod)(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
  mknod: { slot: 7, parameters: ["pointer", "u64", "pointer", "u32", "u64"] },
  // void (*mkdir)(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
  mkdir: { slot: 8, parameters: ["pointer", "u64", "pointer", "u32"] },
  // void (*unlink)(fuse_req_t req, fuse_ino_t parent, const char *name)
  unlink: { slot: 9, parameters: ["pointer", "u64", "pointer"] },
  // void (*rmdir)(fuse_req_t req, fuse_ino_t parent, const char *name)
  rmdir: { slot: 10, parameters: ["pointer", "u64", "pointer"] },
  // void (*symlink)(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
  symlink: { slot: 11, parameters: ["pointer", "pointer", "u64", "pointer"] },
  // void (*rename)(fuse_req_t req, fuse_ino_t parent, const char *name,
  //                fuse_ino_t newparent, const char *newname, unsigned int flags)
  rename: { slot: 12, parameters: ["pointer", "u64", "pointer", "u64", "pointer", "u32"] },
  // void (*link)(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
  link: { slot: 13, parameters: ["pointer", "u64", "u64", "pointer"] },
  // void (*open)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
  open: { slot: 14, parameters: ["pointer", "u64", "pointer"] },
  // void (*read)(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
  //              struct fuse_file_info *fi)
  read: { slot: 15, parameters: ["pointer", "u64", "usize", "i64", "pointer"] },
  // void (*write)(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
  //               struct fuse_file_info *fi)
  write: { slot: 16, parameters: ["pointer", "u64", "pointer", "usize", "i64", "pointer"] },
  // void (*flush)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
  flush: { slot: 17, parameters: ["pointer", "u64", "pointer"] },
  // void (*release)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
  release: { slot: 18, parameters: ["pointer", "u64", "pointer"] },
  // void (*fsync)(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
  fsync: { slot: 19, parameters: ["pointer", "u64", "i32", "pointer"] },
  // void (*opendir)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
  opendir: { slot: 20, parameters: ["pointer", "u64", "pointer"] },
  // void (*readdir)(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
  //                 struct fuse_file_info *fi)
  readdir: { slot: 21, parameters: ["pointer", "u64", "usize", "i64", "pointer"] },
  // void (*releasedir)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
  releasedir: { slot: 22, parameters: ["pointer", "u64", "pointer"] },
  // void (*fsyncdir)(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
  fsyncdir: { slot: 23, parameters: ["pointer", "u64", "i32", "pointer"] },
  // void (*statfs)(fuse_req_t req, fuse_ino_t ino)
  statfs: { slot: 24, parameters: ["pointer", "u64"] },
  // void (*setxattr)(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
  //                  size_t size, int flags)
  setxattr: { slot: 25, parameters: ["pointer", "u64", "pointer", "pointer", "usize", "i32"] },
  // void (*getxattr)(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
  getxattr: { slot: 26, parameters: ["pointer", "u64", "pointer", "usize"] },
  // void (*listxattr)(fuse_req_t req, fuse_ino_t ino, size_t size)
  listxattr: { slot: 27, parameters: ["pointer", "u64", "usize"] },
  // void (*removexattr)(fuse_req_t req, fuse_ino_t ino, const char *name)
  removexattr: { slot: 28, parameters: ["pointer", "u64", "pointer"] },
  // void (*access)(fuse_req_t req, fuse_ino_t ino, int mask)
  access: { slot: 29, parameters: ["pointer", "u64", "i32"] },
  // void (*create)(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
  //                struct fuse_file_info *fi)
  create: { slot: 30, parameters: ["pointer", "u64", "pointer", "u32", "pointer"] },
  // void (*getlk)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
  //               struct flock *lock)
  getlk: { slot: 31, parameters: ["pointer", "u64", "pointer", "pointer"] },
  // void (*setlk)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
  //               struct flock *lock, int sleep)
  setlk: { slot: 32, parameters: ["pointer", "u64", "pointer", "pointer", "i32"] },
  // void (*bmap)(fuse_req_t req, fuse_ino_t ino, size_t blocksize, uint64_t idx)
  bmap: { slot: 33, parameters: ["pointer", "u64", "usize", "u64"] },
  // void (*ioctl)(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
  //               struct fuse_file_info *fi, unsigned flags, const void *in_buf,
  //               size_t in_bufsz, size_t out_bufsz)
  ioctl: {
    slot: 34,
    parameters: ["pointer", "u64", "u32", "pointer", "pointer", "u32", "pointer", "usize", "usize"],
  },
  // void (*poll)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
  //              struct fuse_pollhandle *ph)
  poll: { slot: 35, parameters: ["pointer", "u64", "pointer", "pointer"] },
  // void (*retrieve_reply)(fuse_req_t req, void *cookie, fuse_ino_t ino, off_t offset,
  //                        struct fuse_bufvec *bufv)
  retrieve_reply: { slot: 37, parameters: ["pointer", "pointer", "u64", "i64", "pointer"] },
  // void (*forget_multi)(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
  forget_multi: { slot: 38, parameters: ["pointer", "usize", "pointer"] },
  // void (*flock)(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
  flock: { slot: 39, parameters: ["pointer", "u64", "pointer", "i32"] },
  // void (*fallocate)(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
  //                   struct fuse_file_info *fi)
  fallocate: { slot: 40, parameters: ["pointer", "u64", "i32", "i64", "i64", "pointer"] },
  // void (*readdirplus)(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
  //                     struct fuse_file_info *fi)
  readdirplus: { slot: 41, parameters: ["pointer", "u64", "usize", "i64", "pointer"] },
  // void (*copy_file_range)(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
  //   struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
  //   struct fuse_file_info *fi_out, size_t len, int flags)
  copy_file_range: {
    slot: 42,
    parameters: ["pointer", "u64", "i64", "pointer", "u64", "i64", "pointer", "usize", "i32"],
  },
  // void (*lseek)(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
  //               struct fuse_file_info *fi)
  lseek: { slot: 43, parameters: ["pointer", "u64", "i64", "i32", "pointer"] },
  // void (*tmpfile)(fuse_req_t req, fuse_ino_t parent, mode_t mode, struct fuse_file_info *fi)
  tmpfile: { slot: 44, since: 317, parameters: ["pointer", "u64", "u32", "pointer"] },
  // void (*statx)(fuse_req_t req, fuse_ino_t ino, int flags, int mask,
  //               struct fuse_file_info *fi)
  statx: { slot: 45, since: 318, parameters: ["pointer", "u64", "i32", "i32", "pointer"] },
} as const satisfies Record<string, OpRow>;

/** The name of a libfuse low-level operation. */
export type LowLevelOpName = keyof typeof LOWLEVEL_OPS;

/**
 * Number of function pointers in `struct fuse_lowlevel_ops` as of libfuse
 * 3.10-3.16 (init ... lseek). Passing this size keeps older libraries from
 * warning "library too old"; newer ones treat missing members as NULL.
 */
export const LOWLEVEL_OPS_SLOTS = 44;

/**
 * Whether the loaded libfuse's `fuse_lowlevel_ops` has an operation.
 *
 * @param name the operation
 * @param version the loaded library's `fuse_version()`
 * @returns false for members newer than that release (tmpfile before 3.17,
 *   statx before 3.18)
 */
export function hasLowLevelOp(name: LowLevelOpName, version: number): boolean {
  const row: OpRow = LOWLEVEL_OPS[name];
  return version >= (row.since ?? 0);
}

/**
 * The number of function pointers to pass for a libfuse release: every
 * member that release declares and we know (45 from 3.17, with tmpfile; 46
 * from 3.18, with statx).
 *
 * @param version the loaded library's `fuse_version()`
 * @returns the slot count
 */
export function lowLevelOpsSlots(version: number): number {
  let slots = LOWLEVEL_OPS_SLOTS;
  for (const [name, row] of Object.entries(LOWLEVEL_OPS) as [LowLevelOpName, OpRow][]) {
    if (hasLowLevelOp(name, version)) slots = Math.max(slots, row.slot + 1);
  }
  return slots;
}

// deno-lint-ignore no-explicit-any
type AnyCallback = (...args: any[]) => void;

/** JS implementations for some of the operations. */
export type LowLevelImpls = Partial<Record<LowLevelOpName, AnyCallback>>;

/** The `fuse_lowlevel_ops` struct and the callbacks it points to. */
export interface LowLevelOps {
  /** The struct, to pass to `fuse_session_new`. */
  readonly struct: Uint8Array<ArrayBuffer>;
  /** Its size in bytes, for `op_size`. */
  readonly size: number;
  /** Frees the callbacks; libfuse must not call them afterwards. */
  close(): void;
}

/**
 * Builds the `fuse_lowlevel_ops` struct. Only implemented operations get a
 * function pointer; the others stay NULL so libfuse answers ENOSYS itself.
 *
 * Callbacks are not thread-safe on purpose: libfuse only calls them from
 * `fuse_session_process_buf`, which the request loop calls on the JS thread.
 *
 * @param impls the implemented operations
 * @param version the loaded library's `fuse_version()`: members it does not
 *   declare are left out, and the struct has its size
 * @returns the struct and a `close()` that frees its callbacks
 */
export function buildLowLevelOps(impls: LowLevelImpls, version: number): LowLevelOps {
  const size = lowLevelOpsSlots(version) * 8;
  const struct = new Uint8Array(size);
  const view = new DataView(struct.buffer);
  const callbacks: Deno.UnsafeCallback[] = [];
  for (const [name, impl] of Object.entries(impls) as [LowLevelOpName, AnyCallback][]) {
    if (!impl || !hasLowLevelOp(name, version)) continue;
    const row = LOWLEVEL_OPS[name];
    const cb = new Deno.UnsafeCallback(
      { parameters: row.parameters, result: "void" } as Deno.UnsafeCallbackDefinition,
      impl,
    );
    callbacks.push(cb);
    view.setBigUint64(row.slot * 8, BigInt(Deno.UnsafePointer.value(cb.pointer)), true);
  }
  return {
    struct,
    size,
    close() {
      for (const cb of callbacks) cb.close();
      callbacks.length = 0;
    },
  };
}
