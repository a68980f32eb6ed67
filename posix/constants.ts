/**
 * The Linux constants of the POSIX helpers' system calls: open flags (which
 * differ between x86_64 and aarch64), `*at()` flags, utimensat's special
 * times, mode bits, resource and handle limits.
 *
 * @module
 */

const ARCH_O = Deno.build.arch === "aarch64"
  ? { O_DIRECTORY: 0o40000, O_NOFOLLOW: 0o100000, O_DIRECT: 0o200000 }
  : { O_DIRECTORY: 0o200000, O_NOFOLLOW: 0o400000, O_DIRECT: 0o40000 };

/** open(2) flags. */
export const O = {
  O_RDONLY: 0,
  O_WRONLY: 1,
  O_RDWR: 2,
  O_ACCMODE: 3,
  O_CREAT: 0o100,
  O_EXCL: 0o200,
  O_NOCTTY: 0o400,
  O_TRUNC: 0o1000,
  O_APPEND: 0o2000,
  O_CLOEXEC: 0o2000000,
  O_PATH: 0o10000000,
  ...ARCH_O,
} as const;

/** `*at()` flags and the special directory fd. */
export const AT = {
  FDCWD: -100,
  SYMLINK_NOFOLLOW: 0x100,
  REMOVEDIR: 0x200,
  /** faccessat(2): check with the effective ids (the same bit as `REMOVEDIR`). */
  EACCESS: 0x200,
  SYMLINK_FOLLOW: 0x400,
  EMPTY_PATH: 0x1000,
} as const;

/** `tv_nsec` values of utimensat(2). */
export const UTIME = { NOW: (1 << 30) - 1, OMIT: (1 << 30) - 2 } as const;

/** File type and special mode bits. */
export const S = {
  IFMT: 0o170000,
  IFDIR: 0o040000,
  IFREG: 0o100000,
  IFLNK: 0o120000,
  IFCHR: 0o020000,
  IFBLK: 0o060000,
  IFIFO: 0o010000,
  IFSOCK: 0o140000,
  ISUID: 0o4000,
  ISGID: 0o2000,
} as const;

/** access(2) modes: `F_OK` (exists), or any of `R_OK`, `W_OK`, `X_OK`. */
export const ACCESS = { F_OK: 0, X_OK: 1, W_OK: 2, R_OK: 4 } as const;

/** `uid_t`/`gid_t` -1: "leave unchanged" for fchownat. */
export const NO_ID = 0xffff_ffff;

/** `RLIMIT_NOFILE` (the same number on x86_64 and aarch64). */
export const RLIMIT_NOFILE = 7;

/** `MAX_HANDLE_SZ`: the largest `f_handle` any filesystem encodes (`<linux/exportfs.h>`). */
export const MAX_HANDLE_SZ = 128;
