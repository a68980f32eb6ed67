/**
 * Making `auto_unmount` hold when the filesystem process is killed.
 *
 * With `auto_unmount`, libfuse leaves one end of a socketpair open in this
 * process; fusermount3 holds the other end, waits for EOF on it, and then
 * unmounts only if opening the mount point fails with ENOTCONN (see
 * `should_auto_unmount` in libfuse's util/fusermount.c).
 *
 * When a process dies, the kernel closes its descriptors in ascending order
 * but releases the files afterwards from a list that current kernels run
 * last-in first-out, so the higher-numbered file goes first. The socket is
 * above /dev/fuse: through fusermount3, libfuse receives the /dev/fuse
 * descriptor into the number that fusermount3's end of the pair just
 * vacated, one below its own end (3 and 4 in libfuse's C hello_ll, 22 and
 * 23 under Deno); mounting directly (3.17 as root), it opens /dev/fuse
 * before creating the pair. So the socket is released first. If the dying
 * process is then preempted before it releases /dev/fuse (a busy machine),
 * fusermount3's open() is queued on the still-live connection, fails with
 * ECONNABORTED when the connection is aborted a moment later, and
 * fusermount3 exits without unmounting: the mount is left dead ("Transport
 * endpoint is not connected"). libfuse's C examples lose the same race.
 *
 * No descriptor number orders the two releases on every kernel (older ones
 * ran that list first-in first-out), so the socket is parked in flight
 * instead: sent with SCM_RIGHTS into a socketpair of which this process
 * keeps only the receiving end. At exit the kernel releases that end along
 * with every other file, /dev/fuse included, and only while releasing it
 * drops the parked socket, whose release the kernel then queues behind all
 * of them. fusermount3 therefore sees EOF only after the connection is
 * gone, and its open() fails with ENOTCONN.
 *
 * Parked, the socket is in no descriptor table, and the end holding it is
 * close-on-exec (libfuse's socket is not), so a child process of the
 * filesystem no longer inherits it and keeps fusermount3 waiting after the
 * filesystem died.
 *
 * @module
 */

import type { LibC } from "./libc.ts";
import { nulTerminated } from "./codec.ts";

const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_TYPE = 3;
const SO_PEERCRED = 17;
const SO_DOMAIN = 39;
const SCM_RIGHTS = 1;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;

/**
 * The descriptors open in this process, read from /proc/self/fd.
 *
 * @param libc the loaded libc
 * @returns the descriptor numbers, or null if they cannot be listed
 */
export function openDescriptors(libc: LibC): Set<number> | null {
  if (!libc.getdents64) return null;
  // No O_DIRECTORY: its value differs between x86_64 and aarch64, and
  // getdents64 refuses anything but a directory anyway.
  const dir = libc.open(nulTerminated("/proc/self/fd"), O_RDONLY | O_CLOEXEC);
  if (dir < 0) return null;
  const fds = new Set<number>();
  const buf = new Uint8Array(16384);
  const view = new DataView(buf.buffer);
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const n = Number(libc.getdents64(dir, buf, BigInt(buf.length)));
      if (n < 0) return null;
      if (n === 0) break;
      // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
      for (let at = 0; at < n;) {
        const reclen = view.getUint16(at + 16, true);
        const name = decoder.decode(buf.subarray(at + 19, buf.indexOf(0, at + 19)));
        if (/^\d+$/.test(name)) fds.add(Number(name));
        at += reclen;
      }
    }
  } finally {
    libc.close(dir);
  }
  fds.delete(dir);
  return fds;
}

function intOption(libc: LibC, fd: number, name: number): number | null {
  const value = new Int32Array(1);
  const length = new Uint32Array([4]);
  return libc.getsockopt(fd, SOL_SOCKET, name, value, length) === 0 ? value[0] : null;
}

/**
 * Whether `fd` is a Unix stream socket made by `socketpair()` in this
 * process (its peer credentials are this process's), as libfuse's control
 * socket is. Sockets connected to other processes do not qualify.
 */
function isOwnSocketPairEnd(libc: LibC, fd: number): boolean {
  if (intOption(libc, fd, SO_DOMAIN) !== AF_UNIX) return false;
  if (intOption(libc, fd, SO_TYPE) !== SOCK_STREAM) return false;
  const cred = new Int32Array(3); // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
  const length = new Uint32Array([cred.byteLength]);
  if (libc.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, length) !== 0) return false;
  return cred[0] === Deno.pid;
}

const address = (buf: BufferSource) => BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));

/** Sends `fd` over `via` with SCM_RIGHTS (and one byte: a stream socket sends no empty message). */
function sendDescriptor(libc: LibC, via: number, fd: number): boolean {
  const payload = new Uint8Array(1);
  const iov = new BigUint64Array([address(payload), 1n]); // struct iovec
  // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; } + one int,
  // padded to CMSG_SPACE(sizeof(int)) = 24.
  const control = new Uint8Array(24);
  const cv = new DataView(control.buffer);
  cv.setBigUint64(0, 20n, true); // CMSG_LEN(sizeof(int))
  cv.setInt32(8, SOL_SOCKET, true);
  cv.setInt32(12, SCM_RIGHTS, true);
  cv.setInt32(16, fd, true);
  // struct msghdr { name; namelen (+pad); iov; iovlen; control; controllen; flags (+pad) }
  const msg = new BigUint64Array([0n, 0n, address(iov), 1n, address(control), 24n, 0n]);
  return Number(libc.sendmsg(via, msg, MSG_DONTWAIT | MSG_NOSIGNAL)) === 1;
}

/**
 * After a mount with `auto_unmount`, finds libfuse's control socket among
 * the descriptors that appeared during the mount and parks it as described
 * in the module documentation. Leaves everything as it was unless exactly
 * one candidate is found.
 *
 * Only for libfuse releases that forget the socket after mounting (3.18
 * and earlier): a libfuse that keeps and later closes it must not see it
 * moved.
 *
 * @param libc the loaded libc
 * @param before the descriptors open just before `fuse_session_mount`
 * @returns the descriptor that now holds the socket in flight (kept open
 *   for the life of the process, as libfuse keeps the socket), or -1 if
 *   nothing was parked
 */
export function parkAutoUnmountSocket(libc: LibC, before: Set<number>): number {
  const after = openDescriptors(libc);
  if (!after) return -1;
  const candidates = [...after].filter((fd) => !before.has(fd) && isOwnSocketPairEnd(libc, fd));
  if (candidates.length !== 1) return -1;
  const [control] = candidates;
  const pair = new Int32Array(2);
  if (libc.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) !== 0) return -1;
  const [sender, holder] = pair;
  const sent = sendDescriptor(libc, sender, control);
  // The message stays queued at `holder` after the sending end is closed.
  libc.close(sender);
  if (!sent) {
    libc.close(holder);
    return -1;
  }
  libc.close(control);
  return holder;
}
