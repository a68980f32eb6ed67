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
/**
 * Microtask checkpoints the loop allows an async handler to settle in,
 * after it started and before parking: `async` handlers that await a value
 * or return a promise of one settle a few checkpoints later, not at once.
 */
const MICROTASK_ROUNDS = 4;
/**
 * How long the serving thread itself waits for the next request once the
 * queue is empty and no handler is pending, before parking on the poll
 * thread: a request that comes this soon skips the hand-off through the
 * poll thread and the event loop (two thread wake-ups).
 */
const BRIEF_WAIT_MS = 1;
/** The longest the loop keeps the event loop (timers, I/O, signals) waiting. */
const TURN_MS = 2;

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

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
  // Before any await: the deadlock guard must watch from the first turn on.
  session.startPollThread();
  let microtaskRounds = 0;
  let turnAt = performance.now();
  while (!state.terminating) {
    let handled = 0;
    let got: Received;
    while ((got = session.receive()) === Received.Request) {
      const before = state.inflight;
      session.process();
      if (++handled === DRAIN_BUDGET) break;
      // An asynchronous handler that settles without waiting for I/O
      // replies from a microtask a checkpoint or a few later: let it before
      // reading again. Its client cannot send the next request before that
      // reply, so reading first would mostly find the queue empty (one more
      // system call per request).
      for (let round = 0; round < MICROTASK_ROUNDS && state.inflight > before; round++) {
        await undefined;
      }
      if (state.terminating) break;
    }
    if (got === Received.Closed || session.exited()) return;
    if (got === Received.Request || performance.now() - turnAt > TURN_MS) {
      // Budget used up with requests still queued, or the event loop kept
      // waiting long enough: let timers and I/O run. (setImmediate, not
      // setTimeout(0): Deno's timers have 1 ms steps, and a 2 ms stall per
      // 256 requests cost 60% of the throughput.)
      await nextTurn();
      turnAt = performance.now();
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
    if (state.inflight === 0 && session.waitBriefly(BRIEF_WAIT_MS)) continue;
    await session.waitReadable();
    turnAt = performance.now();
  }
}
