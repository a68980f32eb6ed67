/**
 * Kernel passthrough's backing files at the ABI (libfuse 3.17+, Linux
 * 6.9+): registering a descriptor for an open reply and dropping a
 * registration. With a request at hand through libfuse
 * (`fuse_passthrough_open`/`_close`); without one (a reply that was not
 * delivered, the mount's end) through the device ioctl on the session's
 * descriptor, which is all `fuse_passthrough_close` does.
 *
 * @module
 */

import { captureLibfuseLog, recentLibfuseMessages } from "./log.ts";
import { FUSE_DEV_IOC_BACKING_CLOSE } from "./layout.ts";
import type { LoadedLibraries } from "./library.ts";
import type { RequestPointer } from "./reply.ts";

/** What registering a backing file gave: an id > 0, or the errno and libfuse's message. */
export type BackingOpenResult =
  | { readonly id: number }
  | { readonly id: 0; readonly errno: number; readonly message: string };

/** The calls {@link BackingFileCalls} makes, as the ops layer sees them (tests fake it). */
export interface BackingCalls {
  /**
   * Registers `fd` as a backing file.
   *
   * @param req the open, create or tmpfile request being answered
   * @param fd an open descriptor of a regular file
   * @returns the backing id, or why there is none
   */
  open(req: RequestPointer, fd: number): BackingOpenResult;
  /**
   * Drops a backing id.
   *
   * @param req a request of the session (release), or null when none is at hand
   * @param id the backing id
   * @returns 0, or the errno the kernel answered
   */
  close(req: RequestPointer | null, id: number): number;
}

const ENOSYS = 38;

/** {@link BackingCalls} for one session of the loaded libfuse. */
export class BackingFileCalls implements BackingCalls {
  readonly #libs: LoadedLibraries;
  readonly #session: Deno.PointerObject;
  readonly #id = new Int32Array(1);

  /**
   * @param libs the loaded libraries
   * @param session the `struct fuse_session *`
   */
  constructor(libs: LoadedLibraries, session: Deno.PointerObject) {
    this.#libs = libs;
    this.#session = session;
  }

  /** @inheritdoc */
  open(req: RequestPointer, fd: number): BackingOpenResult {
    const open = this.#libs.fuse.fuse_passthrough_open;
    if (!open) return { id: 0, errno: ENOSYS, message: "libfuse has no fuse_passthrough_open" };
    let errno = 0;
    // libfuse logs the failure itself; capture it for our debug log rather
    // than print it on every open.
    const id = captureLibfuseLog(this.#libs, () => {
      const id = open(req, fd);
      if (id <= 0) errno = this.#errno();
      return id;
    }, (id) => id <= 0);
    if (id > 0) return { id };
    return { id: 0, errno, message: recentLibfuseMessages().join(" ") };
  }

  /** @inheritdoc */
  close(req: RequestPointer | null, id: number): number {
    const close = this.#libs.fuse.fuse_passthrough_close;
    if (req !== null && close) {
      let errno = 0;
      captureLibfuseLog(this.#libs, () => {
        const rc = close(req, id);
        if (rc < 0) errno = this.#errno();
        return rc;
      }, (rc) => rc < 0);
      return errno;
    }
    const fd = this.#libs.fuse.fuse_session_fd(this.#session);
    this.#id[0] = id;
    const rc = this.#libs.libc.ioctl(fd, BigInt(FUSE_DEV_IOC_BACKING_CLOSE), this.#id);
    return rc < 0 ? this.#errno() : 0;
  }

  #errno(): number {
    return new Deno.UnsafePointerView(this.#libs.libc.__errno_location()!).getInt32(0);
  }
}
