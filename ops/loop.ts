/**
 * The request loop. It runs on the JS thread inside Deno's event loop (see
 * docs/request_loop.md): with `/dev/fuse` non-blocking it drains every
 * queued request synchronously (libfuse calls our callbacks from inside
 * `fuse_session_process_buf`) and only when the queue is empty waits for a
 * dedicated poll thread (ffi/poller.ts), leaving the JS thread free for
 * handlers' own I/O.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { type LowLevelSession, Received } from "../ffi/session.ts";

/** Requests handled back to back before the loop lets timers and I/O run. */
const DRAIN_BUDGET = 256;
/** Microtask checkpoints the loop allows settled async handlers before parking. */
const MICROTASK_ROUNDS = 4;

/** What the loop reads of its mount on every round. */
export interface LoopState {
  /** Set by terminate(): stop at the next round. */
  readonly terminating: boolean;
  /** Requests whose asynchronous handlers have not answered yet. */
  readonly inflight: number;
}

/**
 * Serves requests until `state.terminating`, the unmount, or the session's
 * end.
 *
 * @param session the mounted session
 * @param state the mount's flags, read on every round
 * @returns resolves when the loop stopped
 */
export async function serveRequests(session: LowLevelSession, state: LoopState): Promise<void> {
  let microtaskRounds = 0;
  while (!state.terminating) {
    let handled = 0;
    let got: Received;
    while ((got = session.receive()) === Received.Request) {
      const before = state.inflight;
      session.process();
      if (++handled === DRAIN_BUDGET) break;
      // An asynchronous handler whose promise is already settled replies
      // from a microtask: let it before reading again. Its client cannot
      // send the next request before that reply, so reading first would
      // mostly find the queue empty (one more system call per request).
      if (state.inflight > before) {
        await undefined;
        if (state.terminating) break;
      }
    }
    if (got === Received.Closed || session.exited()) return;
    if (got === Received.Request) {
      // Budget used up with requests still queued: let timers and I/O run.
      // (setImmediate, not setTimeout(0): Deno's timers have 1 ms steps,
      // and a 2 ms stall per 256 requests cost 60% of the throughput.)
      await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    if (handled > 0) microtaskRounds = 0;
    if (state.inflight > 0 && microtaskRounds < MICROTASK_ROUNDS) {
      // Async handlers that are already done reply from microtasks: let
      // them, so that their clients' next requests are served before parking.
      microtaskRounds++;
      await undefined;
      continue;
    }
    microtaskRounds = 0;
    await session.waitReadable();
  }
}
