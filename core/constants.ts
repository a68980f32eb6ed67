/**
 * The Linux constants filesystems compare against, so that code ported
 * from pyfuse3 (which exports `RENAME_EXCHANGE`, `RENAME_NOREPLACE` and
 * `ENOATTR`) or from Python's `os` and `stat` modules (the rest) needs no
 * magic numbers. Values are the Linux ones, the same on x86_64 and aarch64.
 *
 * @module
 */

/** rename's `flags`: fail with EEXIST if the target exists. */
export const RENAME_NOREPLACE = 1;
/** rename's `flags`: swap source and target atomically. */
export const RENAME_EXCHANGE = 2;
/** rename's `flags`: leave a whiteout at the source (overlay filesystems). */
export const RENAME_WHITEOUT = 4;

/** "No such attribute": pyfuse3's `ENOATTR`, which is ENODATA on Linux. */
export const ENOATTR = 61;

/** setxattr's `flags`: fail with EEXIST if the attribute exists. */
export const XATTR_CREATE = 1;
/** setxattr's `flags`: fail with ENODATA (ENOATTR) if the attribute does not exist. */
export const XATTR_REPLACE = 2;

/** fallocate's `mode`: do not change the file size. */
export const FALLOC_FL_KEEP_SIZE = 0x01;
/** fallocate's `mode`: deallocate the range (with KEEP_SIZE). */
export const FALLOC_FL_PUNCH_HOLE = 0x02;
/** fallocate's `mode`: remove the range and shift the rest down. */
export const FALLOC_FL_COLLAPSE_RANGE = 0x08;
/** fallocate's `mode`: zero the range. */
export const FALLOC_FL_ZERO_RANGE = 0x10;
/** fallocate's `mode`: insert a hole, shifting the rest up. */
export const FALLOC_FL_INSERT_RANGE = 0x20;
/** fallocate's `mode`: unshare shared blocks. */
export const FALLOC_FL_UNSHARE_RANGE = 0x40;

/** lseek's `whence`: from the start. */
export const SEEK_SET = 0;
/** lseek's `whence`: from the current position. */
export const SEEK_CUR = 1;
/** lseek's `whence`: from the end. */
export const SEEK_END = 2;
/** lseek's `whence`: the next data at or after the offset. */
export const SEEK_DATA = 3;
/** lseek's `whence`: the next hole at or after the offset. */
export const SEEK_HOLE = 4;

/** `st_mode`: the file type bits. */
export const S_IFMT = 0o170000;
/** `st_mode` type: socket. */
export const S_IFSOCK = 0o140000;
/** `st_mode` type: symbolic link. */
export const S_IFLNK = 0o120000;
/** `st_mode` type: regular file. */
export const S_IFREG = 0o100000;
/** `st_mode` type: block device. */
export const S_IFBLK = 0o060000;
/** `st_mode` type: directory. */
export const S_IFDIR = 0o040000;
/** `st_mode` type: character device. */
export const S_IFCHR = 0o020000;
/** `st_mode` type: FIFO. */
export const S_IFIFO = 0o010000;

// statx(2) (`<sys/stat.h>`): the fields a `statx` handler's answer fills
// (`StatxAttributes.mask`), the file attribute flags, the sync flags.
/** statx mask: `stx_mode`'s file type. */
export const STATX_TYPE = 0x1;
/** statx mask: `stx_mode`'s permission bits. */
export const STATX_MODE = 0x2;
/** statx mask: `stx_nlink`. */
export const STATX_NLINK = 0x4;
/** statx mask: `stx_uid`. */
export const STATX_UID = 0x8;
/** statx mask: `stx_gid`. */
export const STATX_GID = 0x10;
/** statx mask: `stx_atime`. */
export const STATX_ATIME = 0x20;
/** statx mask: `stx_mtime`. */
export const STATX_MTIME = 0x40;
/** statx mask: `stx_ctime`. */
export const STATX_CTIME = 0x80;
/** statx mask: `stx_ino`. */
export const STATX_INO = 0x100;
/** statx mask: `stx_size`. */
export const STATX_SIZE = 0x200;
/** statx mask: `stx_blocks`. */
export const STATX_BLOCKS = 0x400;
/** statx mask: everything `struct stat` has (type through blocks). */
export const STATX_BASIC_STATS = 0x7ff;
/** statx mask: `stx_btime`, the birth (creation) time. */
export const STATX_BTIME = 0x800;
/** statx attribute: the file is compressed by the filesystem. */
export const STATX_ATTR_COMPRESSED = 0x4;
/** statx attribute: the file cannot be modified (chattr +i). */
export const STATX_ATTR_IMMUTABLE = 0x10;
/** statx attribute: the file can only be appended to (chattr +a). */
export const STATX_ATTR_APPEND = 0x20;
/** statx attribute: the file is not a candidate for backup (chattr +d). */
export const STATX_ATTR_NODUMP = 0x40;
/** statx flags: do what stat(2) does (the default). */
export const AT_STATX_SYNC_AS_STAT = 0x0000;
/** statx flags: the caller wants fresh attributes (a network filesystem should ask its server). */
export const AT_STATX_FORCE_SYNC = 0x2000;
/** statx flags: cached attributes are good enough. */
export const AT_STATX_DONT_SYNC = 0x4000;
