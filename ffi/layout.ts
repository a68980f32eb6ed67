/**
 * C struct layouts used at the ABI boundary, declared once as data.
 *
 * Every offset, size and bit here is checked against the C headers by
 * `tests/layout_test.ts`, which compiles an `offsetof` probe with `cc`.
 * Nothing outside `ffi/` reads these numbers.
 *
 * @module
 */

/** The C type of one struct member, as read or written by {@link StructView}. */
export type FieldKind = "u8" | "i16" | "u16" | "i32" | "u32" | "u64" | "i64" | "f64" | "pointer";

/** One struct member: where it is and what C type it has. */
export interface Field {
  readonly offset: number;
  readonly kind: FieldKind;
}

/** A C struct: its size and the members this library reads or writes. */
export interface StructLayout<F extends string = string> {
  readonly size: number;
  readonly fields: Readonly<Record<F, Field>>;
}

const f = (offset: number, kind: FieldKind): Field => ({ offset, kind });

/** The CPU architectures whose layouts are declared here. */
export type Arch = "x86_64" | "aarch64";

/**
 * `struct stat` from glibc. The two 64-bit ABIs differ: x86_64 puts `st_nlink`
 * (8 bytes) before `st_mode`, aarch64 uses the generic layout with a 4-byte
 * `st_nlink` after `st_mode` and a 4-byte `st_blksize`.
 */
const STAT: Record<Arch, StructLayout> = {
  x86_64: {
    size: 144,
    fields: {
      st_dev: f(0, "u64"),
      st_ino: f(8, "u64"),
      st_nlink: f(16, "u64"),
      st_mode: f(24, "u32"),
      st_uid: f(28, "u32"),
      st_gid: f(32, "u32"),
      st_rdev: f(40, "u64"),
      st_size: f(48, "i64"),
      st_blksize: f(56, "i64"),
      st_blocks: f(64, "i64"),
      st_atime: f(72, "i64"),
      st_atime_nsec: f(80, "i64"),
      st_mtime: f(88, "i64"),
      st_mtime_nsec: f(96, "i64"),
      st_ctime: f(104, "i64"),
      st_ctime_nsec: f(112, "i64"),
    },
  },
  aarch64: {
    size: 128,
    fields: {
      st_dev: f(0, "u64"),
      st_ino: f(8, "u64"),
      st_mode: f(16, "u32"),
      st_nlink: f(20, "u32"),
      st_uid: f(24, "u32"),
      st_gid: f(28, "u32"),
      st_rdev: f(32, "u64"),
      st_size: f(48, "i64"),
      st_blksize: f(56, "i32"),
      st_blocks: f(64, "i64"),
      st_atime: f(72, "i64"),
      st_atime_nsec: f(80, "i64"),
      st_mtime: f(88, "i64"),
      st_mtime_nsec: f(96, "i64"),
      st_ctime: f(104, "i64"),
      st_ctime_nsec: f(112, "i64"),
    },
  },
};

/**
 * `struct statx` (`<sys/stat.h>`, glibc 2.28+; identical on both 64-bit
 * ABIs): what libfuse 3.18's `fuse_reply_statx` copies into the kernel's
 * `struct fuse_statx` (the same layout, 256 bytes). The timestamps are
 * `struct statx_timestamp` (`tv_sec` i64, `tv_nsec` u32).
 */
const STATX: StructLayout = {
  size: 256,
  fields: {
    stx_mask: f(0, "u32"),
    stx_blksize: f(4, "u32"),
    stx_attributes: f(8, "u64"),
    stx_nlink: f(16, "u32"),
    stx_uid: f(20, "u32"),
    stx_gid: f(24, "u32"),
    stx_mode: f(28, "u16"),
    stx_ino: f(32, "u64"),
    stx_size: f(40, "u64"),
    stx_blocks: f(48, "u64"),
    stx_attributes_mask: f(56, "u64"),
    stx_atime: f(64, "i64"),
    stx_atime_nsec: f(72, "u32"),
    stx_btime: f(80, "i64"),
    stx_btime_nsec: f(88, "u32"),
    stx_ctime: f(96, "i64"),
    stx_ctime_nsec: f(104, "u32"),
    stx_mtime: f(112, "i64"),
    stx_mtime_nsec: f(120, "u32"),
    stx_rdev_major: f(128, "u32"),
    stx_rdev_minor: f(132, "u32"),
    stx_dev_major: f(136, "u32"),
    stx_dev_minor: f(140, "u32"),
  },
};

/** `struct statvfs` (identical on both 64-bit ABIs). */
const STATVFS: StructLayout = {
  size: 112,
  fields: {
    f_bsize: f(0, "u64"),
    f_frsize: f(8, "u64"),
    f_blocks: f(16, "u64"),
    f_bfree: f(24, "u64"),
    f_bavail: f(32, "u64"),
    f_files: f(40, "u64"),
    f_ffree: f(48, "u64"),
    f_favail: f(56, "u64"),
    f_fsid: f(64, "u64"),
    f_flag: f(72, "u64"),
    f_namemax: f(80, "u64"),
  },
};

function entryParam(statSize: number): StructLayout {
  return {
    size: 16 + statSize + 16,
    fields: {
      ino: f(0, "u64"),
      generation: f(8, "u64"),
      attr: f(16, "u8"),
      attr_timeout: f(16 + statSize, "f64"),
      entry_timeout: f(16 + statSize + 8, "f64"),
    },
  };
}

/**
 * `struct fuse_file_info`. libfuse 3.17 grew it from 40 to 64 bytes
 * (`backing_id`, `compat_flags`, reserved words); we always allocate
 * {@link FILE_INFO_ALLOC} zeroed bytes so either library can write all of it.
 * The one-bit flags live in the 32-bit word at `bits`; their positions depend
 * on the library version, see {@link fileInfoBits}. `backing_id` (3.17) sits
 * in what older releases leave as padding after `poll_events`, which they
 * never read.
 */
const FILE_INFO: StructLayout = {
  size: 40,
  fields: {
    flags: f(0, "i32"),
    bits: f(4, "u32"),
    fh: f(16, "u64"),
    lock_owner: f(24, "u64"),
    poll_events: f(32, "u32"),
    backing_id: f(36, "i32"),
  },
};

/** Bytes allocated for every `fuse_file_info` we own: the 3.17+ size. */
export const FILE_INFO_ALLOC = 64;

/** Bit positions of the `fuse_file_info` one-bit flags this library uses. */
export interface FileInfoBits {
  writepage: number;
  direct_io: number;
  keep_cache: number;
  flush: number;
  nonseekable: number;
  flock_release: number;
  cache_readdir: number;
  noflush: number;
}

/**
 * The first `fuse_version()` that declares each flag, for flags younger than
 * libfuse 3.10. Older releases have padding at that bit: setting it there is
 * harmless but has no effect (libfuse never passes it to the kernel).
 */
export const FILE_INFO_BIT_SINCE: Readonly<Partial<Record<keyof FileInfoBits, number>>> = {
  // FOPEN_NOFLUSH, libfuse 3.11.
  noflush: 311,
};

/**
 * Whether the loaded libfuse has a `fuse_file_info` flag at all.
 *
 * @param version the value `fuse_version()` returned
 * @param flag the flag
 * @returns false when that libfuse predates the flag (see {@link FILE_INFO_BIT_SINCE})
 */
export function fileInfoHasBit(version: number, flag: keyof FileInfoBits): boolean {
  return version >= (FILE_INFO_BIT_SINCE[flag] ?? 0);
}

/**
 * The bit positions for a given `fuse_version()` (e.g. 314 for 3.14).
 *
 * libfuse 3.15 and 3.16 inserted `parallel_direct_writes` at bit 3, shifting
 * every later flag up by one; 3.17 moved it to the end again, restoring the
 * original positions (checked against the 3.10, 3.14 and 3.17 headers; no
 * 3.15/3.16 distribution is in the portability run). `noflush` is padding
 * before 3.11, see {@link FILE_INFO_BIT_SINCE}.
 *
 * @param version the value `fuse_version()` returned
 * @returns the bit index of each flag
 */
export function fileInfoBits(version: number): FileInfoBits {
  const shifted = version >= 315 && version < 317 ? 1 : 0;
  return {
    writepage: 0,
    direct_io: 1,
    keep_cache: 2,
    flush: 3 + shifted,
    nonseekable: 4 + shifted,
    flock_release: 5 + shifted,
    cache_readdir: 6 + shifted,
    noflush: 7 + shifted,
  };
}

/** `struct fuse_ctx`. */
const CTX: StructLayout = {
  size: 16,
  fields: {
    uid: f(0, "u32"),
    gid: f(4, "u32"),
    pid: f(8, "i32"),
    umask: f(12, "u32"),
  },
};

/**
 * `struct fuse_conn_info`, 128 bytes in every release. libfuse 3.17 took
 * `max_backing_stack_depth` (kernel passthrough), `capable_ext` and
 * `want_ext` (64-bit capability sets, of which `capable` and `want` are the
 * low halves) out of the reserved words; before 3.17 those bytes are
 * reserved and must not be written (see ffi/conn.ts).
 */
const CONN_INFO: StructLayout = {
  size: 128,
  fields: {
    proto_major: f(0, "u32"),
    proto_minor: f(4, "u32"),
    max_write: f(8, "u32"),
    max_read: f(12, "u32"),
    max_readahead: f(16, "u32"),
    capable: f(20, "u32"),
    want: f(24, "u32"),
    max_background: f(28, "u32"),
    congestion_threshold: f(32, "u32"),
    time_gran: f(36, "u32"),
    max_backing_stack_depth: f(40, "u32"),
    capable_ext: f(48, "u64"),
    want_ext: f(56, "u64"),
    request_timeout: f(64, "u16"),
  },
};

/**
 * The first `fuse_version()` that declares each struct member, for members
 * younger than libfuse 3.10 (keyed `struct.member`). The layout probe checks
 * them only against headers that have them.
 */
export const FIELD_SINCE: Readonly<Record<string, number>> = {
  "fuse_file_info.backing_id": 317,
  "fuse_conn_info.max_backing_stack_depth": 317,
  "fuse_conn_info.capable_ext": 317,
  "fuse_conn_info.want_ext": 317,
  "fuse_conn_info.request_timeout": 318,
};

/** `struct fuse_args`. */
const ARGS: StructLayout = {
  size: 24,
  fields: {
    argc: f(0, "i32"),
    argv: f(8, "pointer"),
    allocated: f(16, "i32"),
  },
};

/**
 * `struct fuse_buf`: 40 bytes up to 3.16; 3.17 appends `mem_size` (48 bytes).
 * We allocate {@link FUSE_BUF_ALLOC} zeroed bytes for every one we own.
 */
const BUF: StructLayout = {
  size: 40,
  fields: {
    size: f(0, "u64"),
    flags: f(8, "i32"),
    mem: f(16, "pointer"),
    fd: f(24, "i32"),
    pos: f(32, "i64"),
  },
};

/** Bytes allocated for every `fuse_buf` we own: the 3.17+ size. */
export const FUSE_BUF_ALLOC = 48;

/** `struct fuse_bufvec` with its single inline `fuse_buf`. */
const BUFVEC: StructLayout = {
  size: 24 + 40,
  fields: {
    count: f(0, "u64"),
    idx: f(8, "u64"),
    off: f(16, "u64"),
    buf: f(24, "u8"),
  },
};

/** Bytes allocated for a `fuse_bufvec` we own (its `fuse_buf` at the 3.17+ size). */
export const FUSE_BUFVEC_ALLOC = 24 + FUSE_BUF_ALLOC;

/** `struct fuse_forget_data`. */
const FORGET_DATA: StructLayout = {
  size: 16,
  fields: {
    ino: f(0, "u64"),
    nlookup: f(8, "u64"),
  },
};

/** `struct flock` (fcntl record locks; identical on both 64-bit ABIs). */
const FLOCK: StructLayout = {
  size: 32,
  fields: {
    l_type: f(0, "i16"),
    l_whence: f(2, "i16"),
    l_start: f(8, "i64"),
    l_len: f(16, "i64"),
    l_pid: f(24, "i32"),
  },
};

/**
 * The newest libfuse release whose ABI these layouts were checked against
 * (the layout probe on Debian forky's 3.18.3 headers, the portability run).
 * 3.18 changed nothing this library declares: `fuse_file_info` gained the
 * `kill_suidgid` bit after `parallel_direct_writes` (no flag we use moved),
 * `fuse_conn_info` a `request_timeout` in reserved words, and
 * `fuse_lowlevel_ops` the `statx` member (slot 45). It is the
 * version denofuse reports to `fuse_session_new_versioned` as the one it was
 * "compiled against" when the loaded library is newer, so that a future
 * libfuse can apply its compatibility handling for this ABI.
 */
export const NEWEST_VERIFIED_LIBFUSE: Readonly<{ major: number; minor: number; hotfix: number }> = {
  major: 3,
  minor: 18,
  hotfix: 3,
};

/** `struct libfuse_version` (3.17+, passed to `fuse_session_new_versioned`). */
const LIBFUSE_VERSION: StructLayout = {
  size: 16,
  fields: {
    major: f(0, "u32"),
    minor: f(4, "u32"),
    hotfix: f(8, "u32"),
    padding: f(12, "u32"),
  },
};

/**
 * `struct fuse_open_out` of the kernel protocol (`<linux/fuse.h>`), the body
 * of an OPEN/CREATE reply. Only used to send `FOPEN_NOFLUSH` through libfuse
 * releases older than 3.11, whose `fuse_file_info` has no `noflush` bit.
 */
const OPEN_OUT: StructLayout = {
  size: 16,
  fields: {
    fh: f(0, "u64"),
    open_flags: f(8, "u32"),
  },
};

/**
 * `struct fuse_in_header` of the kernel protocol (`<linux/fuse.h>`), which
 * starts every request in a receive buffer; the operation's argument
 * struct follows it. Read only for what libfuse does not pass on to the
 * callbacks (see {@link KILL_SUIDGID}).
 */
const IN_HEADER: StructLayout = {
  size: 40,
  fields: {
    opcode: f(4, "u32"),
  },
};

/** `struct fuse_setattr_in`: `valid` holds FATTR_KILL_SUIDGID. */
const SETATTR_IN: StructLayout = {
  size: 88,
  fields: {
    valid: f(0, "u32"),
  },
};

/** `struct fuse_open_in`: `open_flags` holds FUSE_OPEN_KILL_SUIDGID. */
const OPEN_IN: StructLayout = {
  size: 8,
  fields: {
    open_flags: f(4, "u32"),
  },
};

/** `struct fuse_write_in`: `write_flags` holds FUSE_WRITE_KILL_SUIDGID. */
const WRITE_IN: StructLayout = {
  size: 40,
  fields: {
    write_flags: f(20, "u32"),
  },
};

/** `struct fuse_create_in`: `open_flags` holds FUSE_OPEN_KILL_SUIDGID. */
const CREATE_IN: StructLayout = {
  size: 16,
  fields: {
    open_flags: f(12, "u32"),
  },
};

/**
 * The kernel's "clear set-user-ID and set-group-ID" flags (Linux 5.11+,
 * protocol 7.33), by the opcode of the request that carries them, with the
 * member of the request's argument struct that holds them. libfuse (3.17,
 * 3.18) passes none of them on to the callbacks, so denofuse reads them
 * from the request itself. The kernel sets them when the caller lacks
 * CAP_FSETID (write, truncate, open or create with O_TRUNC) or on any chown
 * of a non-directory, and only with FUSE_HANDLE_KILLPRIV_V2 negotiated,
 * except that a write through an open file with FOPEN_DIRECT_IO carries
 * FUSE_WRITE_KILL_SUIDGID in any case.
 */
export const KILL_SUIDGID = {
  /** FUSE_SETATTR (4): FATTR_KILL_SUIDGID in `fuse_setattr_in.valid`. */
  setattr: { opcode: 4, arg: "fuse_setattr_in", field: "valid", bit: 1 << 11 },
  /** FUSE_OPEN (14): FUSE_OPEN_KILL_SUIDGID in `fuse_open_in.open_flags`. */
  open: { opcode: 14, arg: "fuse_open_in", field: "open_flags", bit: 1 << 0 },
  /** FUSE_WRITE (16): FUSE_WRITE_KILL_SUIDGID in `fuse_write_in.write_flags`. */
  write: { opcode: 16, arg: "fuse_write_in", field: "write_flags", bit: 1 << 2 },
  /** FUSE_CREATE (35): FUSE_OPEN_KILL_SUIDGID in `fuse_create_in.open_flags`. */
  create: { opcode: 35, arg: "fuse_create_in", field: "open_flags", bit: 1 << 0 },
} as const;

/** Where one request keeps its kill flag: an entry of {@link KILL_SUIDGID}. */
export type KillFlag = (typeof KILL_SUIDGID)[keyof typeof KILL_SUIDGID];

/** `FOPEN_*` flags of `fuse_open_out.open_flags` (kernel protocol, stable). */
export const FOPEN = {
  DIRECT_IO: 1 << 0,
  KEEP_CACHE: 1 << 1,
  NONSEEKABLE: 1 << 2,
  CACHE_DIR: 1 << 3,
  NOFLUSH: 1 << 5,
  PASSTHROUGH: 1 << 7,
} as const;

/**
 * The FUSE device's ioctl that drops a kernel-passthrough backing id
 * (`FUSE_DEV_IOC_BACKING_CLOSE`, `_IOW(229, 2, uint32_t)` in
 * `<linux/fuse.h>`, Linux 6.9+). libfuse 3.17 wraps it as
 * `fuse_passthrough_close`, which needs a request; we call it directly
 * where none is at hand (a reply that was not delivered, the mount's end).
 */
export const FUSE_DEV_IOC_BACKING_CLOSE = 0x4004e502;

/**
 * `struct statfs` (`<sys/vfs.h>`): only `f_type`, which tells the passthrough
 * example whether its source lives in memory. Same layout on both ABIs.
 */
const STATFS: StructLayout = {
  size: 120,
  fields: {
    f_type: f(0, "i64"),
  },
};

/** All layouts for one architecture. */
export interface Layouts {
  stat: StructLayout;
  statvfs: StructLayout;
  fuse_entry_param: StructLayout;
  fuse_file_info: StructLayout;
  fuse_ctx: StructLayout;
  fuse_conn_info: StructLayout;
  fuse_args: StructLayout;
  fuse_buf: StructLayout;
  fuse_bufvec: StructLayout;
  fuse_forget_data: StructLayout;
  libfuse_version: StructLayout;
  flock: StructLayout;
  fuse_open_out: StructLayout;
  fuse_in_header: StructLayout;
  fuse_setattr_in: StructLayout;
  fuse_open_in: StructLayout;
  fuse_write_in: StructLayout;
  fuse_create_in: StructLayout;
  statfs: StructLayout;
  statx: StructLayout;
}

/**
 * The layouts for an architecture.
 *
 * @param arch the CPU architecture, normally `Deno.build.arch`
 * @returns the struct layouts of that ABI
 * @throws {Error} for an architecture whose layouts are not declared
 */
export function layoutsFor(arch: string): Layouts {
  if (arch !== "x86_64" && arch !== "aarch64") {
    throw new Error(
      `denofuse: no struct layouts for CPU architecture "${arch}" (supported: x86_64, aarch64)`,
    );
  }
  const stat = STAT[arch];
  return {
    stat,
    statvfs: STATVFS,
    fuse_entry_param: entryParam(stat.size),
    fuse_file_info: FILE_INFO,
    fuse_ctx: CTX,
    fuse_conn_info: CONN_INFO,
    fuse_args: ARGS,
    fuse_buf: BUF,
    fuse_bufvec: BUFVEC,
    fuse_forget_data: FORGET_DATA,
    libfuse_version: LIBFUSE_VERSION,
    flock: FLOCK,
    fuse_open_out: OPEN_OUT,
    fuse_in_header: IN_HEADER,
    fuse_setattr_in: SETATTR_IN,
    fuse_open_in: OPEN_IN,
    fuse_write_in: WRITE_IN,
    fuse_create_in: CREATE_IN,
    statfs: STATFS,
    statx: STATX,
  };
}

/** The layouts of the running process. */
export const LAYOUT: Layouts = layoutsFor(Deno.build.arch);
