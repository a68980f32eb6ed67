/**
 * The libfuse3 and libc symbols denofuse calls, with their C prototypes.
 *
 * This is the only symbol table of the library. Symbols that older libfuse
 * releases lack are `optional` and checked before use.
 *
 * @module
 */

/** libfuse3 low-level API. */
export const FUSE_SYMBOLS = {
  // int fuse_version(void)
  fuse_version: { parameters: [], result: "i32" },
  // const char *fuse_pkgversion(void)
  fuse_pkgversion: { parameters: [], result: "pointer" },

  // struct fuse_session *fuse_session_new(
  //   struct fuse_args *args, const struct fuse_lowlevel_ops *op,
  //   size_t op_size, void *userdata)
  // (3.17+ keeps it as a compat symbol beside the versioned one)
  fuse_session_new: {
    parameters: [
      /* args */ "buffer",
      /* op */ "buffer",
      /* op_size */ "usize",
      /* userdata */ "pointer",
    ],
    result: "pointer",
    optional: true,
  },
  // struct fuse_session *fuse_session_new_versioned(
  //   struct fuse_args *args, const struct fuse_lowlevel_ops *op, size_t op_size,
  //   struct libfuse_version *version, void *userdata)            (3.17+)
  fuse_session_new_versioned: {
    parameters: [
      /* args */ "buffer",
      /* op */ "buffer",
      /* op_size */ "usize",
      /* version */ "buffer",
      /* userdata */ "pointer",
    ],
    result: "pointer",
    optional: true,
  },
  // int fuse_session_mount(struct fuse_session *se, const char *mountpoint)
  fuse_session_mount: {
    parameters: [/* se */ "pointer", /* mountpoint */ "buffer"],
    result: "i32",
  },
  // void fuse_session_unmount(struct fuse_session *se)
  fuse_session_unmount: { parameters: [/* se */ "pointer"], result: "void" },
  // void fuse_session_destroy(struct fuse_session *se)
  fuse_session_destroy: { parameters: [/* se */ "pointer"], result: "void" },
  // int fuse_session_fd(struct fuse_session *se)
  fuse_session_fd: { parameters: [/* se */ "pointer"], result: "i32" },
  // void fuse_session_exit(struct fuse_session *se)
  fuse_session_exit: { parameters: [/* se */ "pointer"], result: "void" },
  // int fuse_session_exited(struct fuse_session *se)
  fuse_session_exited: { parameters: [/* se */ "pointer"], result: "i32" },
  // int fuse_session_receive_buf(struct fuse_session *se, struct fuse_buf *buf)
  fuse_session_receive_buf: { parameters: [/* se */ "pointer", /* buf */ "buffer"], result: "i32" },
  // void fuse_session_process_buf(struct fuse_session *se, const struct fuse_buf *buf)
  fuse_session_process_buf: {
    parameters: [/* se */ "pointer", /* buf */ "buffer"],
    result: "void",
  },
  // void fuse_opt_free_args(struct fuse_args *args)
  fuse_opt_free_args: { parameters: [/* args */ "buffer"], result: "void" },
  // void fuse_set_log_func(fuse_log_func_t func)
  fuse_set_log_func: { parameters: [/* func */ "function"], result: "void" },

  // const struct fuse_ctx *fuse_req_ctx(fuse_req_t req)
  fuse_req_ctx: { parameters: [/* req */ "pointer"], result: "pointer" },
  // int fuse_req_getgroups(fuse_req_t req, int size, gid_t list[])
  fuse_req_getgroups: {
    parameters: [/* req */ "pointer", /* size */ "i32", /* list */ "buffer"],
    result: "i32",
  },
  // void fuse_req_interrupt_func(fuse_req_t req, fuse_interrupt_func_t func, void *data)
  fuse_req_interrupt_func: {
    parameters: [/* req */ "pointer", /* func */ "function", /* data */ "pointer"],
    result: "void",
  },
  // int fuse_req_interrupted(fuse_req_t req)
  fuse_req_interrupted: { parameters: [/* req */ "pointer"], result: "i32" },

  // int fuse_reply_err(fuse_req_t req, int err)
  fuse_reply_err: { parameters: [/* req */ "pointer", /* err */ "i32"], result: "i32" },
  // void fuse_reply_none(fuse_req_t req)
  fuse_reply_none: { parameters: [/* req */ "pointer"], result: "void" },
  // int fuse_reply_entry(fuse_req_t req, const struct fuse_entry_param *e)
  fuse_reply_entry: { parameters: [/* req */ "pointer", /* e */ "buffer"], result: "i32" },
  // int fuse_reply_create(fuse_req_t req, const struct fuse_entry_param *e,
  //                       const struct fuse_file_info *fi)
  fuse_reply_create: {
    parameters: [/* req */ "pointer", /* e */ "buffer", /* fi */ "buffer"],
    result: "i32",
  },
  // int fuse_reply_attr(fuse_req_t req, const struct stat *attr, double attr_timeout)
  fuse_reply_attr: {
    parameters: [/* req */ "pointer", /* attr */ "buffer", /* attr_timeout */ "f64"],
    result: "i32",
  },
  // int fuse_reply_readlink(fuse_req_t req, const char *link)
  fuse_reply_readlink: { parameters: [/* req */ "pointer", /* link */ "buffer"], result: "i32" },
  // int fuse_reply_open(fuse_req_t req, const struct fuse_file_info *fi)
  fuse_reply_open: { parameters: [/* req */ "pointer", /* fi */ "buffer"], result: "i32" },
  // int fuse_reply_write(fuse_req_t req, size_t count)
  fuse_reply_write: { parameters: [/* req */ "pointer", /* count */ "usize"], result: "i32" },
  // int fuse_reply_buf(fuse_req_t req, const char *buf, size_t size)
  fuse_reply_buf: {
    parameters: [/* req */ "pointer", /* buf */ "buffer", /* size */ "usize"],
    result: "i32",
  },
  // int fuse_reply_statfs(fuse_req_t req, const struct statvfs *stbuf)
  fuse_reply_statfs: { parameters: [/* req */ "pointer", /* stbuf */ "buffer"], result: "i32" },
  // int fuse_reply_xattr(fuse_req_t req, size_t count)
  fuse_reply_xattr: { parameters: [/* req */ "pointer", /* count */ "usize"], result: "i32" },
  // int fuse_reply_lock(fuse_req_t req, const struct flock *lock)
  fuse_reply_lock: { parameters: [/* req */ "pointer", /* lock */ "buffer"], result: "i32" },
  // int fuse_reply_bmap(fuse_req_t req, uint64_t idx)
  fuse_reply_bmap: { parameters: [/* req */ "pointer", /* idx */ "u64"], result: "i32" },
  // int fuse_reply_ioctl(fuse_req_t req, int result, const void *buf, size_t size)
  fuse_reply_ioctl: {
    parameters: [/* req */ "pointer", /* result */ "i32", /* buf */ "buffer", /* size */ "usize"],
    result: "i32",
  },
  // int fuse_reply_poll(fuse_req_t req, unsigned revents)
  fuse_reply_poll: { parameters: [/* req */ "pointer", /* revents */ "u32"], result: "i32" },
  // int fuse_lowlevel_notify_poll(struct fuse_pollhandle *ph)
  // (only wakes pollers: takes no lock a pending request could hold)
  fuse_lowlevel_notify_poll: { parameters: [/* ph */ "pointer"], result: "i32" },
  // void fuse_pollhandle_destroy(struct fuse_pollhandle *ph)
  fuse_pollhandle_destroy: { parameters: [/* ph */ "pointer"], result: "void" },
  // int fuse_reply_lseek(fuse_req_t req, off_t off)
  fuse_reply_lseek: { parameters: [/* req */ "pointer", /* off */ "i64"], result: "i32" },
  // int fuse_reply_statx(fuse_req_t req, int flags, struct statx *statx,
  //                      double attr_timeout)                             (3.18+)
  fuse_reply_statx: {
    parameters: [
      /* req */ "pointer",
      /* flags */ "i32",
      /* statx */ "buffer",
      /* attr_timeout */ "f64",
    ],
    result: "i32",
    optional: true,
  },
  // int fuse_passthrough_open(fuse_req_t req, int fd)                   (3.17+)
  fuse_passthrough_open: {
    parameters: [/* req */ "pointer", /* fd */ "i32"],
    result: "i32",
    optional: true,
  },
  // int fuse_passthrough_close(fuse_req_t req, int backing_id)          (3.17+)
  fuse_passthrough_close: {
    parameters: [/* req */ "pointer", /* backing_id */ "i32"],
    result: "i32",
    optional: true,
  },

  // Entries are encoded in JS (ffi/dirent.ts); these two stay bound so that
  // tests/dirent_test.ts can compare that encoder's bytes with libfuse's.
  // size_t fuse_add_direntry(fuse_req_t req, char *buf, size_t bufsize,
  //   const char *name, const struct stat *stbuf, off_t off)
  fuse_add_direntry: {
    parameters: [
      /* req */ "pointer",
      /* buf */ "buffer",
      /* bufsize */ "usize",
      /* name */ "buffer",
      /* stbuf */ "buffer",
      /* off */ "i64",
    ],
    result: "usize",
  },

  // size_t fuse_add_direntry_plus(fuse_req_t req, char *buf, size_t bufsize,
  //   const char *name, const struct fuse_entry_param *e, off_t off)
  fuse_add_direntry_plus: {
    parameters: [
      /* req */ "pointer",
      /* buf */ "buffer",
      /* bufsize */ "usize",
      /* name */ "buffer",
      /* e */ "buffer",
      /* off */ "i64",
    ],
    result: "usize",
  },

  // Notifications: see ffi/notify.ts.
  // int fuse_lowlevel_notify_inval_inode(struct fuse_session *se, fuse_ino_t ino,
  //   off_t off, off_t len)
  fuse_lowlevel_notify_inval_inode: {
    parameters: [/* se */ "pointer", /* ino */ "u64", /* off */ "i64", /* len */ "i64"],
    result: "i32",
    // The kernel may block this write on locks a pending request holds;
    // run it off the JS thread so the loop can answer that request.
    nonblocking: true,
  },
  // int fuse_lowlevel_notify_inval_entry(struct fuse_session *se, fuse_ino_t parent,
  //   const char *name, size_t namelen)
  fuse_lowlevel_notify_inval_entry: {
    parameters: [
      /* se */ "pointer",
      /* parent */ "u64",
      /* name */ "buffer",
      /* namelen */ "usize",
    ],
    result: "i32",
    // The kernel may block this write on locks a pending request holds;
    // run it off the JS thread so the loop can answer that request.
    nonblocking: true,
  },
  // int fuse_lowlevel_notify_delete(struct fuse_session *se, fuse_ino_t parent,
  //   fuse_ino_t child, const char *name, size_t namelen)
  fuse_lowlevel_notify_delete: {
    parameters: [
      /* se */ "pointer",
      /* parent */ "u64",
      /* child */ "u64",
      /* name */ "buffer",
      /* namelen */ "usize",
    ],
    result: "i32",
    // The kernel may block this write on locks a pending request holds;
    // run it off the JS thread so the loop can answer that request.
    nonblocking: true,
  },
  // size_t fuse_buf_size(const struct fuse_bufvec *bufv)
  fuse_buf_size: { parameters: [/* bufv */ "pointer"], result: "usize" },
  // ssize_t fuse_buf_copy(struct fuse_bufvec *dst, struct fuse_bufvec *src,
  //   enum fuse_buf_copy_flags flags)
  fuse_buf_copy: {
    parameters: [/* dst */ "buffer", /* src */ "pointer", /* flags */ "i32"],
    result: "isize",
  },
  // int fuse_lowlevel_notify_store(struct fuse_session *se, fuse_ino_t ino,
  //   off_t offset, struct fuse_bufvec *bufv, enum fuse_buf_copy_flags flags)
  fuse_lowlevel_notify_store: {
    parameters: [
      /* se */ "pointer",
      /* ino */ "u64",
      /* offset */ "i64",
      /* bufv */ "buffer",
      /* flags */ "i32",
    ],
    result: "i32",
    // The kernel may block this write on locks a pending request holds;
    // run it off the JS thread so the loop can answer that request.
    nonblocking: true,
  },
  // int fuse_lowlevel_notify_retrieve(struct fuse_session *se, fuse_ino_t ino,
  //   size_t size, off_t offset, void *cookie)
  fuse_lowlevel_notify_retrieve: {
    parameters: [
      /* se */ "pointer",
      /* ino */ "u64",
      /* size */ "usize",
      /* offset */ "i64",
      /* cookie */ "pointer",
    ],
    result: "i32",
    // The kernel may block this write on locks a pending request holds;
    // run it off the JS thread so the loop can answer that request.
    nonblocking: true,
  },
  // int fuse_lowlevel_notify_increment_epoch(struct fuse_session *se)   (3.18+)
  fuse_lowlevel_notify_increment_epoch: {
    parameters: [/* se */ "pointer"],
    result: "i32",
    // Like the others: off the JS thread.
    nonblocking: true,
    optional: true,
  },
  // The same symbol, bound only to see whether it exists: a nonblocking
  // symbol is wrapped even when missing (calling it then throws), so only a
  // plain binding is null where libfuse (< 3.18) lacks it.
  fuse_lowlevel_notify_increment_epoch_exists: {
    name: "fuse_lowlevel_notify_increment_epoch",
    parameters: [/* se */ "pointer"],
    result: "i32",
    optional: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The libc functions the request loop and the session need. */
const LOOP_LIBC_SYMBOLS = {
  // int fcntl(int fd, int cmd, ... /* int arg */)
  fcntl: { parameters: [/* fd */ "i32", /* cmd */ "i32", /* arg */ "i32"], result: "i32" },
  // int ioctl(int fd, unsigned long request, ... /* void *argp */)
  // (variadic; passed like a named argument on both ABIs, as with fcntl)
  ioctl: { parameters: [/* fd */ "i32", /* request */ "u64", /* argp */ "buffer"], result: "i32" },
  // int poll(struct pollfd *fds, nfds_t nfds, int timeout)
  poll: { parameters: [/* fds */ "buffer", /* nfds */ "u64", /* timeout */ "i32"], result: "i32" },
  // int eventfd(unsigned int initval, int flags)
  eventfd: { parameters: [/* initval */ "u32", /* flags */ "i32"], result: "i32" },
  // ssize_t write(int fd, const void *buf, size_t count)
  write: { parameters: [/* fd */ "i32", /* buf */ "buffer", /* count */ "usize"], result: "isize" },
  // ssize_t read(int fd, void *buf, size_t count)
  read: { parameters: [/* fd */ "i32", /* buf */ "buffer", /* count */ "usize"], result: "isize" },
  // int close(int fd)
  close: { parameters: [/* fd */ "i32"], result: "i32" },
  // int *__errno_location(void)
  __errno_location: { parameters: [], result: "pointer" },
  // int vsnprintf(char *str, size_t size, const char *format, va_list ap)
  vsnprintf: {
    parameters: [
      /* str */ "buffer",
      /* size */ "usize",
      /* format */ "pointer",
      /* ap */ "pointer",
    ],
    result: "i32",
  },
  // int clock_gettime(clockid_t clockid, struct timespec *tp)
  clock_gettime: { parameters: [/* clockid */ "i32", /* tp */ "buffer"], result: "i32" },
  // int access(const char *pathname, int mode)
  access: { parameters: [/* pathname */ "buffer", /* mode */ "i32"], result: "i32" },
  // uid_t getuid(void)
  getuid: { parameters: [], result: "u32" },
  // pid_t gettid(void)   (glibc >= 2.30): the serving thread, for the poll thread's watchdog
  gettid: { parameters: [], result: "i32", optional: true },
  // gid_t getgid(void)
  getgid: { parameters: [], result: "u32" },
  // size_t strlen(const char *s)
  strlen: { parameters: [/* s */ "pointer"], result: "usize" },
  // int getpagesize(void)   (the receive buffers' size depends on it)
  getpagesize: { parameters: [], result: "i32" },
  // void *malloc(size_t size)   (receive buffers: memory V8 can never free)
  malloc: { parameters: [/* size */ "usize"], result: "pointer" },
  // void free(void *ptr)
  free: { parameters: [/* ptr */ "pointer"], result: "void" },

  // For parking auto_unmount's control socket (ffi/auto_unmount.ts).
  // int open(const char *pathname, int flags, ... /* mode_t mode */)
  open: { parameters: [/* pathname */ "buffer", /* flags */ "i32"], result: "i32" },
  // ssize_t getdents64(int fd, void *dirp, size_t count)   (glibc >= 2.30)
  getdents64: {
    parameters: [/* fd */ "i32", /* dirp */ "buffer", /* count */ "usize"],
    result: "isize",
    optional: true,
  },
  // int getsockopt(int sockfd, int level, int optname, void *optval, socklen_t *optlen)
  getsockopt: {
    parameters: [
      /* sockfd */ "i32",
      /* level */ "i32",
      /* optname */ "i32",
      /* optval */ "buffer",
      /* optlen */ "buffer",
    ],
    result: "i32",
  },
  // int socketpair(int domain, int type, int protocol, int sv[2])
  socketpair: {
    parameters: [/* domain */ "i32", /* type */ "i32", /* protocol */ "i32", /* sv */ "buffer"],
    result: "i32",
  },
  // ssize_t sendmsg(int sockfd, const struct msghdr *msg, int flags)
  sendmsg: {
    parameters: [/* sockfd */ "i32", /* msg */ "buffer", /* flags */ "i32"],
    result: "isize",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * The libc functions of the POSIX helpers (the `@denofuse/fuse/posix`
 * export), with their C prototypes.
 */
export const POSIX_SYMBOLS = {
  // int *__errno_location(void)
  __errno_location: { parameters: [], result: "pointer" },
  // uid_t geteuid(void)
  geteuid: { parameters: [], result: "u32" },
  // mode_t umask(mode_t mask)
  umask: { parameters: [/* mask */ "u32"], result: "u32" },

  // int openat(int dirfd, const char *pathname, int flags, ... /* mode_t mode */)
  // (variadic; on the Linux x86_64 and aarch64 ABIs a trailing integer is
  // passed like a named one, as with ffi/symbols.ts's fcntl)
  openat: {
    parameters: [/* dirfd */ "i32", /* pathname */ "buffer", /* flags */ "i32", /* mode */ "u32"],
    result: "i32",
  },
  // Same function, off the JS thread: opening a file can wait for the
  // backing filesystem (NFS, FUSE, a disk spinning up).
  openat_nb: {
    name: "openat",
    parameters: [/* dirfd */ "i32", /* pathname */ "buffer", /* flags */ "i32", /* mode */ "u32"],
    result: "i32",
    nonblocking: true,
  },
  // int close(int fd)
  close: { parameters: [/* fd */ "i32"], result: "i32" },
  // int dup(int oldfd)
  dup: { parameters: [/* oldfd */ "i32"], result: "i32" },
  // off_t lseek(int fd, off_t offset, int whence)
  lseek: { parameters: [/* fd */ "i32", /* offset */ "i64", /* whence */ "i32"], result: "i64" },
  // ssize_t read(int fd, void *buf, size_t count)
  read: { parameters: [/* fd */ "i32", /* buf */ "buffer", /* count */ "usize"], result: "isize" },
  // ssize_t write(int fd, const void *buf, size_t count)
  write: { parameters: [/* fd */ "i32", /* buf */ "buffer", /* count */ "usize"], result: "isize" },

  // ssize_t pread(int fd, void *buf, size_t count, off_t offset)
  pread: {
    parameters: [/* fd */ "i32", /* buf */ "buffer", /* count */ "usize", /* offset */ "i64"],
    result: "isize",
  },
  // Same function, off the JS thread: reading waits for the disk.
  pread_nb: {
    name: "pread",
    parameters: [/* fd */ "i32", /* buf */ "buffer", /* count */ "usize", /* offset */ "i64"],
    result: "isize",
    nonblocking: true,
  },
  // ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
  pwrite: {
    parameters: [/* fd */ "i32", /* buf */ "buffer", /* count */ "usize", /* offset */ "i64"],
    result: "isize",
  },
  // Same function, off the JS thread: writing may wait for dirty-page throttling.
  pwrite_nb: {
    name: "pwrite",
    parameters: [/* fd */ "i32", /* buf */ "buffer", /* count */ "usize", /* offset */ "i64"],
    result: "isize",
    nonblocking: true,
  },
  // int fsync(int fd)
  fsync: { parameters: [/* fd */ "i32"], result: "i32" },
  // Same function, off the JS thread: fsync waits for the disk by design.
  fsync_nb: { name: "fsync", parameters: [/* fd */ "i32"], result: "i32", nonblocking: true },
  // int fdatasync(int fd)
  fdatasync: { parameters: [/* fd */ "i32"], result: "i32" },
  // Same function, off the JS thread.
  fdatasync_nb: {
    name: "fdatasync",
    parameters: [/* fd */ "i32"],
    result: "i32",
    nonblocking: true,
  },
  // ssize_t getdents64(int fd, void *dirp, size_t count)
  getdents64: {
    parameters: [/* fd */ "i32", /* dirp */ "buffer", /* count */ "usize"],
    optional: true,
    result: "isize",
  },
  // Same function, off the JS thread: a large directory is many disk blocks.
  getdents64_nb: {
    name: "getdents64",
    parameters: [/* fd */ "i32", /* dirp */ "buffer", /* count */ "usize"],
    result: "isize",
    nonblocking: true,
  },

  // int fstatat(int dirfd, const char *pathname, struct stat *statbuf, int flags)
  fstatat: {
    parameters: [
      /* dirfd */ "i32",
      /* pathname */ "buffer",
      /* statbuf */ "buffer",
      /* flags */ "i32",
    ],
    result: "i32",
    // glibc < 2.33 (Debian 11, Ubuntu 20.04, RHEL 8) has only __fxstatat.
    optional: true,
  },
  // int __fxstatat(int ver, int dirfd, const char *pathname, struct stat *statbuf, int flags)
  __fxstatat: {
    parameters: [
      /* ver */ "i32",
      /* dirfd */ "i32",
      /* pathname */ "buffer",
      /* statbuf */ "buffer",
      /* flags */ "i32",
    ],
    result: "i32",
    optional: true,
  },
  // int __xmknodat(int ver, int dirfd, const char *pathname, mode_t mode, dev_t *dev)
  __xmknodat: {
    parameters: [
      /* ver */ "i32",
      /* dirfd */ "i32",
      /* pathname */ "buffer",
      /* mode */ "u32",
      /* dev */ "buffer",
    ],
    result: "i32",
    optional: true,
  },
  // int fstatfs(int fd, struct statfs *buf)
  fstatfs: { parameters: [/* fd */ "i32", /* buf */ "buffer"], result: "i32" },
  // int fstatvfs(int fd, struct statvfs *buf)
  fstatvfs: { parameters: [/* fd */ "i32", /* buf */ "buffer"], result: "i32" },
  // int statvfs(const char *path, struct statvfs *buf)
  statvfs: { parameters: [/* path */ "buffer", /* buf */ "buffer"], result: "i32" },
  // int faccessat(int dirfd, const char *pathname, int mode, int flags)
  faccessat: {
    parameters: [/* dirfd */ "i32", /* pathname */ "buffer", /* mode */ "i32", /* flags */ "i32"],
    result: "i32",
  },
  // ssize_t readlinkat(int dirfd, const char *pathname, char *buf, size_t bufsiz)
  readlinkat: {
    parameters: [
      /* dirfd */ "i32",
      /* pathname */ "buffer",
      /* buf */ "buffer",
      /* bufsiz */ "usize",
    ],
    result: "isize",
  },
  // int mkdirat(int dirfd, const char *pathname, mode_t mode)
  mkdirat: {
    parameters: [/* dirfd */ "i32", /* pathname */ "buffer", /* mode */ "u32"],
    result: "i32",
  },
  // int mknodat(int dirfd, const char *pathname, mode_t mode, dev_t dev)
  mknodat: {
    parameters: [/* dirfd */ "i32", /* pathname */ "buffer", /* mode */ "u32", /* dev */ "u64"],
    result: "i32",
    // glibc < 2.33 has only __xmknodat.
    optional: true,
  },
  // int symlinkat(const char *target, int newdirfd, const char *linkpath)
  symlinkat: {
    parameters: [/* target */ "buffer", /* newdirfd */ "i32", /* linkpath */ "buffer"],
    result: "i32",
  },
  // int unlinkat(int dirfd, const char *pathname, int flags)
  unlinkat: {
    parameters: [/* dirfd */ "i32", /* pathname */ "buffer", /* flags */ "i32"],
    result: "i32",
  },
  // int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
  //               unsigned int flags)
  renameat2: {
    parameters: [
      /* olddirfd */ "i32",
      /* oldpath */ "buffer",
      /* newdirfd */ "i32",
      /* newpath */ "buffer",
      /* flags */ "u32",
    ],
    result: "i32",
  },
  // int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
  linkat: {
    parameters: [
      /* olddirfd */ "i32",
      /* oldpath */ "buffer",
      /* newdirfd */ "i32",
      /* newpath */ "buffer",
      /* flags */ "i32",
    ],
    result: "i32",
  },
  // int fchmodat(int dirfd, const char *pathname, mode_t mode, int flags)
  fchmodat: {
    parameters: [/* dirfd */ "i32", /* pathname */ "buffer", /* mode */ "u32", /* flags */ "i32"],
    result: "i32",
  },
  // int fchmod(int fd, mode_t mode)
  fchmod: { parameters: [/* fd */ "i32", /* mode */ "u32"], result: "i32" },
  // int fchownat(int dirfd, const char *pathname, uid_t owner, gid_t group, int flags)
  fchownat: {
    parameters: [
      /* dirfd */ "i32",
      /* pathname */ "buffer",
      /* owner */ "u32",
      /* group */ "u32",
      /* flags */ "i32",
    ],
    result: "i32",
  },
  // int fchown(int fd, uid_t owner, gid_t group)
  fchown: { parameters: [/* fd */ "i32", /* owner */ "u32", /* group */ "u32"], result: "i32" },
  // int utimensat(int dirfd, const char *pathname, const struct timespec times[2], int flags)
  utimensat: {
    parameters: [
      /* dirfd */ "i32",
      /* pathname */ "buffer",
      /* times */ "buffer",
      /* flags */ "i32",
    ],
    result: "i32",
  },
  // int futimens(int fd, const struct timespec times[2])
  futimens: { parameters: [/* fd */ "i32", /* times */ "buffer"], result: "i32" },
  // int truncate(const char *path, off_t length)
  truncate: { parameters: [/* path */ "buffer", /* length */ "i64"], result: "i32" },
  // int ftruncate(int fd, off_t length)
  ftruncate: { parameters: [/* fd */ "i32", /* length */ "i64"], result: "i32" },

  // ssize_t getxattr(const char *path, const char *name, void *value, size_t size)
  getxattr: {
    parameters: [
      /* path */ "buffer",
      /* name */ "buffer",
      /* value */ "buffer",
      /* size */ "usize",
    ],
    result: "isize",
  },
  // int setxattr(const char *path, const char *name, const void *value, size_t size, int flags)
  setxattr: {
    parameters: [
      /* path */ "buffer",
      /* name */ "buffer",
      /* value */ "buffer",
      /* size */ "usize",
      /* flags */ "i32",
    ],
    result: "i32",
  },
  // ssize_t listxattr(const char *path, char *list, size_t size)
  listxattr: {
    parameters: [/* path */ "buffer", /* list */ "buffer", /* size */ "usize"],
    result: "isize",
  },
  // int removexattr(const char *path, const char *name)
  removexattr: { parameters: [/* path */ "buffer", /* name */ "buffer"], result: "i32" },
  // The same four without following a final symlink (l*) and on a descriptor (f*).
  // ssize_t lgetxattr(const char *path, const char *name, void *value, size_t size)
  lgetxattr: {
    parameters: [
      /* path */ "buffer",
      /* name */ "buffer",
      /* value */ "buffer",
      /* size */ "usize",
    ],
    result: "isize",
  },
  // int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)
  lsetxattr: {
    parameters: [
      /* path */ "buffer",
      /* name */ "buffer",
      /* value */ "buffer",
      /* size */ "usize",
      /* flags */ "i32",
    ],
    result: "i32",
  },
  // ssize_t llistxattr(const char *path, char *list, size_t size)
  llistxattr: {
    parameters: [/* path */ "buffer", /* list */ "buffer", /* size */ "usize"],
    result: "isize",
  },
  // int lremovexattr(const char *path, const char *name)
  lremovexattr: { parameters: [/* path */ "buffer", /* name */ "buffer"], result: "i32" },
  // ssize_t fgetxattr(int fd, const char *name, void *value, size_t size)
  fgetxattr: {
    parameters: [/* fd */ "i32", /* name */ "buffer", /* value */ "buffer", /* size */ "usize"],
    result: "isize",
  },
  // int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)
  fsetxattr: {
    parameters: [
      /* fd */ "i32",
      /* name */ "buffer",
      /* value */ "buffer",
      /* size */ "usize",
      /* flags */ "i32",
    ],
    result: "i32",
  },
  // ssize_t flistxattr(int fd, char *list, size_t size)
  flistxattr: {
    parameters: [/* fd */ "i32", /* list */ "buffer", /* size */ "usize"],
    result: "isize",
  },
  // int fremovexattr(int fd, const char *name)
  fremovexattr: { parameters: [/* fd */ "i32", /* name */ "buffer"], result: "i32" },

  // int name_to_handle_at(int dirfd, const char *pathname, struct file_handle *handle,
  //                       int *mount_id, int flags)
  name_to_handle_at: {
    parameters: [
      /* dirfd */ "i32",
      /* pathname */ "buffer",
      /* handle */ "buffer",
      /* mount_id */ "buffer",
      /* flags */ "i32",
    ],
    result: "i32",
  },
  // int open_by_handle_at(int mount_fd, struct file_handle *handle, int flags)
  open_by_handle_at: {
    parameters: [/* mount_fd */ "i32", /* handle */ "buffer", /* flags */ "i32"],
    result: "i32",
  },
  // int getrlimit(int resource, struct rlimit *rlim)
  getrlimit: { parameters: [/* resource */ "i32", /* rlim */ "buffer"], result: "i32" },
  // int setrlimit(int resource, const struct rlimit *rlim)
  setrlimit: { parameters: [/* resource */ "i32", /* rlim */ "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * Every libc function denofuse calls: one table, loaded once (ffi/libc.ts)
 * for the session and the POSIX helpers alike.
 */
export const LIBC_SYMBOLS = {
  ...LOOP_LIBC_SYMBOLS,
  ...POSIX_SYMBOLS,
} as const satisfies Deno.ForeignLibraryInterface;
