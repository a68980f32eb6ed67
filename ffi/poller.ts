/**
 * Waiting for `/dev/fuse` to become readable without blocking the JS thread.
 *
 * A dedicated Worker thread sits in `poll()` on the device and an eventfd;
 * the JS thread asks it to poll and awaits the answer with
 * `Atomics.waitAsync`, so the hand-off is a futex wake each way (about 3 µs
 * on one CPU) and never needs Deno's shared blocking thread pool. (A
 * `nonblocking` FFI `poll()` would run on that pool; once ~30 async file
 * calls to our own mount occupied every pool thread, the poll could never
 * run and the mount deadlocked.)
 *
 * The thread also watches for the one deadlock no JS code can see: the JS
 * thread itself blocked in a request to its own mount (without
 * `--allow-all`, Deno resolves each path on the calling thread before a file
 * operation). When the device has had requests for a few seconds that the
 * JS thread does not read because it waits in `request_wait_answer`, the
 * thread answers them EDEADLK, so the blocked call fails instead of hanging
 * for ever, and says once why and what to do.
 *
 * @module
 */

// Shared words: what each side waits on.
const READY = 0; // worker -> JS: 1 when poll() returned
const REQUEST = 1; // JS -> worker: 1 to poll again
const STOP = 2; // JS -> worker: 1 to exit
/** How often the thread looks at the JS thread while that one is not waiting for requests. */
const WATCH_MS = 500;
/** Consecutive looks that must find it blocked on the mount before answering (2 s). */
const STUCK_CHECKS = 4;

// Created from source through a blob URL so that nothing has to be read from
// beside this module at run time (deno compile safe).
const WORKER_SOURCE = `
const libc = Deno.dlopen("libc.so.6", {
  // int poll(struct pollfd *fds, nfds_t nfds, int timeout)
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  // ssize_t read(int fd, void *buf, size_t count)
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // ssize_t write(int fd, const void *buf, size_t count)
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // int open(const char *path, int flags)
  open: { parameters: ["buffer", "i32"], result: "i32" },
  // int close(int fd)
  close: { parameters: ["i32"], result: "i32" },
});
const POLLIN = 1;
const WATCH_MS = ${WATCH_MS};
const STUCK_CHECKS = ${STUCK_CHECKS};
const EDEADLK = 35;
// FORGET, INTERRUPT, NOTIFY_REPLY and BATCH_FORGET take no reply.
const NO_REPLY = new Set([2, 36, 41, 42]);

// Watches the thread that serves the mount (tid). It answers only after
// that thread has sat in request_wait_answer for STUCK_CHECKS looks in a row
// while requests wait here unread: then nothing else could serve them. (A
// handler blocked that long on another FUSE filesystem looks the same; the
// message then says so, since no queued request came from the thread.)
// Requests that take no reply (FORGET, INTERRUPT, NOTIFY_REPLY) are lost.
function watchdog(fd, tid, mountpoint) {
  const one = new Uint8Array(8);
  new DataView(one.buffer).setInt32(0, fd, true);
  new DataView(one.buffer).setInt16(4, POLLIN, true);
  const wchanPath = new TextEncoder().encode("/proc/self/task/" + tid + "/wchan\\0");
  const wchan = new Uint8Array(64);
  const out = new DataView(new ArrayBuffer(16));
  let request = null, stuck = 0, warned = false;
  const readable = () => libc.symbols.poll(one, 1n, 0) > 0;
  const servingThreadWaitsOnFuse = () => {
    const f = libc.symbols.open(wchanPath, 0);
    if (f < 0) return false;
    const n = Number(libc.symbols.read(f, wchan, 64n));
    libc.symbols.close(f);
    return n > 0 && new TextDecoder().decode(wchan.subarray(0, n)) === "request_wait_answer";
  };
  // Returns whether one of the answered requests came from the serving thread itself.
  const answerQueued = () => {
    request ??= new Uint8Array(2 << 20);
    const header = new DataView(request.buffer);
    let own = false;
    while (servingThreadWaitsOnFuse()) {
      if (Number(libc.symbols.read(fd, request, BigInt(request.length))) < 40) break;
      if (NO_REPLY.has(header.getUint32(4, true))) continue;
      if (header.getUint32(32, true) === tid) own = true;
      out.setUint32(0, 16, true);
      out.setInt32(4, -EDEADLK, true);
      out.setBigUint64(8, header.getBigUint64(8, true), true);
      libc.symbols.write(fd, new Uint8Array(out.buffer), 16n);
    }
    return own;
  };
  const warn = (own) => {
    if (warned) return;
    warned = true;
    console.error(own
      ? "denofuse: the thread that serves " + mountpoint + " is itself waiting for a request " +
        "to it, which only it could answer: without --allow-all, Deno resolves each path on " +
        "the calling thread before a file operation. Its requests were answered EDEADLK. " +
        "Touch the mount from a subprocess, serve it with mountInWorker(), or run with -A."
      : "denofuse: the thread that serves " + mountpoint + " has been blocked for 2 s in a " +
        "request to a FUSE filesystem; the requests waiting here were answered EDEADLK. " +
        "Handlers must not block on FUSE filesystems synchronously.");
  };
  return {
    // The serving thread asked for a poll: it is not stuck.
    reset() {
      stuck = 0;
    },
    look() {
      if (!readable() || !servingThreadWaitsOnFuse()) {
        stuck = 0;
        return;
      }
      if (++stuck < STUCK_CHECKS) return;
      stuck = 0;
      warn(answerQueued());
    },
  };
}

self.onmessage = ({ data: { shared, fd, wakeFd, tid, mountpoint } }) => {
  const words = new Int32Array(shared);
  const fds = new Uint8Array(16);
  const view = new DataView(fds.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, POLLIN, true);
  view.setInt32(8, wakeFd, true);
  view.setInt16(12, POLLIN, true);
  const drain = new BigUint64Array(1);
  const watch = watchdog(fd, tid, mountpoint);
  for (;;) {
    // The JS thread not asking for a while: busy, or blocked on its own mount.
    if (Atomics.wait(words, ${REQUEST}, 0, WATCH_MS) === "timed-out") {
      watch.look();
      continue;
    }
    watch.reset();
    if (Atomics.load(words, ${STOP})) break;
    Atomics.store(words, ${REQUEST}, 0);
    view.setInt16(6, 0, true);
    view.setInt16(14, 0, true);
    libc.symbols.poll(fds, 2n, -1);
    // A wake-up from the eventfd is consumed here; the JS side re-checks its flags.
    if (view.getInt16(14, true) !== 0) libc.symbols.read(wakeFd, drain, 8n);
    Atomics.store(words, ${READY}, 1);
    Atomics.notify(words, ${READY});
  }
  libc.close();
  self.close();
};
`;

/** Waits for a file descriptor to become readable on a dedicated thread. */
export class Poller {
  readonly #words = new Int32Array(new SharedArrayBuffer(12));
  readonly #worker: Worker;
  readonly #url: string;
  #waiting = false;

  /**
   * Starts the poll thread.
   *
   * @param fd the descriptor to watch (`/dev/fuse`, non-blocking)
   * @param wakeFd an eventfd whose readability ends a wait early
   * @param tid the thread that serves the mount (the watchdog watches it)
   * @param mountpoint the mount, for the deadlock message
   */
  constructor(fd: number, wakeFd: number, tid: number, mountpoint: string) {
    this.#url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" }));
    this.#worker = new Worker(this.#url, { type: "module" });
    this.#worker.postMessage({ shared: this.#words.buffer, fd, wakeFd, tid, mountpoint });
  }

  /**
   * Resolves once `fd` is readable (or hung up) or the eventfd was written.
   *
   * @returns resolves on readiness
   */
  async wait(): Promise<void> {
    const words = this.#words;
    this.#waiting = true;
    try {
      Atomics.store(words, READY, 0);
      Atomics.store(words, REQUEST, 1);
      Atomics.notify(words, REQUEST);
      const result = Atomics.waitAsync(words, READY, 0);
      if (result.async) await result.value;
    } finally {
      this.#waiting = false;
    }
  }

  /** Whether a {@link wait} is pending. */
  get waiting(): boolean {
    return this.#waiting;
  }

  /**
   * Stops the thread. The caller must first make a pending poll return
   * (write the eventfd); the thread then sees the stop flag.
   */
  stop(): void {
    Atomics.store(this.#words, STOP, 1);
    Atomics.store(this.#words, REQUEST, 1);
    Atomics.notify(this.#words, REQUEST);
    this.#worker.terminate();
    URL.revokeObjectURL(this.#url);
  }
}
