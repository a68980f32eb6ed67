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
 * @module
 */

// Shared words: what each side waits on.
const READY = 0; // worker -> JS: 1 when poll() returned
const REQUEST = 1; // JS -> worker: 1 to poll again
const STOP = 2; // JS -> worker: 1 to exit

// Created from source through a blob URL so that nothing has to be read from
// beside this module at run time (deno compile safe).
const WORKER_SOURCE = `
const libc = Deno.dlopen("libc.so.6", {
  // int poll(struct pollfd *fds, nfds_t nfds, int timeout)
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  // ssize_t read(int fd, void *buf, size_t count)
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
});
const POLLIN = 1;
self.onmessage = ({ data: { shared, fd, wakeFd } }) => {
  const words = new Int32Array(shared);
  const fds = new Uint8Array(16);
  const view = new DataView(fds.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, POLLIN, true);
  view.setInt32(8, wakeFd, true);
  view.setInt16(12, POLLIN, true);
  const drain = new BigUint64Array(1);
  for (;;) {
    Atomics.wait(words, ${REQUEST}, 0);
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
   */
  constructor(fd: number, wakeFd: number) {
    this.#url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" }));
    this.#worker = new Worker(this.#url, { type: "module" });
    this.#worker.postMessage({ shared: this.#words.buffer, fd, wakeFd });
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
