/**
 * The request loop (ops/loop.ts) without a kernel: a fake session whose
 * client, like a program calling stat() in a loop, sends its next request
 * only once the previous one is answered. What is counted is how often the
 * loop reads an empty queue: each such read is a system call that finds
 * nothing.
 */

import assert from "node:assert/strict";
import type { LowLevelSession } from "../ffi/session.ts";
import { Received } from "../ffi/session.ts";
import { serveRequests } from "../ops/loop.ts";

/** A client that sends `total` requests one after another, and what the loop made of them. */
class OneAtATimeClient {
  readonly state = { terminating: false, inflight: 0 };
  queued = 1;
  answered = 0;
  emptyReads = 0;
  /** The loop parked on the poll thread: woken when the next request is sent. */
  #parked: (() => void) | null = null;

  constructor(readonly total: number, readonly handler: () => Promise<unknown>) {}

  /** The fake session the loop serves: requests come from this client. */
  session(): LowLevelSession {
    const fake = {
      startPollThread: () => ({}),
      receive: (): Received => {
        if (this.queued > 0) return Received.Request;
        this.emptyReads++;
        return Received.Empty;
      },
      process: () => {
        this.queued--;
        this.state.inflight++;
        // As the dispatcher does: one reaction replies when the handler settles.
        this.handler().then(() => this.#answer());
      },
      exited: () => false,
      waitBriefly: () => false,
      waitReadable: () => new Promise<void>((resolve) => this.#parked = resolve),
    };
    return fake as unknown as LowLevelSession;
  }

  #answer(): void {
    this.state.inflight--;
    if (++this.answered === this.total) this.state.terminating = true;
    else this.queued++;
    this.#parked?.();
    this.#parked = null;
  }
}

const SHAPES: Record<string, () => Promise<unknown>> = {
  // The shapes users write: an async handler need not await.
  // deno-lint-ignore require-await
  "returns a value": async () => 1,
  "awaits a value": async () => await 1,
  // deno-lint-ignore require-await
  "returns a promise": async () => Promise.resolve(1),
  "awaits twice": async () => {
    await 1;
    return await 2;
  },
};

for (const [shape, handler] of Object.entries(SHAPES)) {
  Deno.test(`serveRequests() answers an async handler that ${shape} without reading an empty queue`, async () => {
    const client = new OneAtATimeClient(1000, handler);
    await serveRequests(client.session(), client.state);
    assert.equal(client.answered, 1000);
    assert.equal(client.emptyReads, 0);
  });
}

Deno.test("serveRequests() parks when a handler waits for I/O, and serves on when it settles", async () => {
  const client = new OneAtATimeClient(20, () => new Promise((r) => setTimeout(r, 1)));
  await serveRequests(client.session(), client.state);
  assert.equal(client.answered, 20);
  // The queue is empty while each handler waits: the loop reads it, then parks.
  assert.ok(client.emptyReads >= 20, `${client.emptyReads} empty reads`);
});
