/**
 * Per-operation request statistics: counts, errors and latency percentiles,
 * kept in log-scale histograms so recording costs a few arithmetic
 * operations per request.
 *
 * @module
 */

/** Statistics of one operation. */
export interface OperationStats {
  /** Requests answered. */
  count: number;
  /** Of those, answered with an error. */
  errors: number;
  /**
   * Median latency in microseconds (from the callback to the reply, to
   * 0.1 µs), estimated from a sample of this operation's requests: the
   * first and then one in eight (every one while debug logging is on).
   */
  p50Us: number;
  /** 90th percentile latency in microseconds. */
  p90Us: number;
  /** 99th percentile latency in microseconds. */
  p99Us: number;
  /** Largest sampled latency in microseconds. */
  maxUs: number;
}

// Four buckets per power of two from 0.125 µs: bucket upper bounds within 19 %.
const SUB = 4;
const BUCKETS = 40 * SUB;
const MIN_US = 0.125;

function bucketOf(us: number): number {
  if (us <= MIN_US) return 0;
  const b = Math.ceil(Math.log2(us / MIN_US) * SUB);
  return b >= BUCKETS ? BUCKETS - 1 : b;
}

function upperBound(bucket: number): number {
  return MIN_US * 2 ** (bucket / SUB);
}

/** Rounds to 0.1 µs: the buckets are 19 % wide, more digits would be noise. */
const round = (us: number): number => Math.round(us * 10) / 10;
/** The statistics of one operation; the dispatcher holds one per request row. */
export class OperationCounter {
  /** Requests started, to pick the sampled ones. */
  #started = 0;
  count = 0;
  errors = 0;
  /** Requests whose latency was measured (a sample of `count`). */
  sampled = 0;
  maxUs = 0;
  readonly histogram = new Uint32Array(BUCKETS);

  /**
   * Called when a request arrives: decides whether its latency is sampled
   * (the first request, then one in eight). Each operation counts on its
   * own, so that a regular mix of operations (open, read, release, ...)
   * cannot leave one of them never sampled.
   *
   * @returns `performance.now()` for a sampled request, else -1
   */
  start(): number {
    return (this.#started++ & 7) === 0 ? performance.now() : -1;
  }

  /**
   * Records one answered request.
   *
   * @param startMs what {@link start} returned (-1: not sampled)
   * @param failed whether it was answered with an error
   */
  record(startMs: number, failed: boolean): void {
    this.count++;
    if (failed) this.errors++;
    if (startMs < 0) return;
    const us = (performance.now() - startMs) * 1000;
    this.sampled++;
    if (us > this.maxUs) this.maxUs = us;
    this.histogram[bucketOf(us)]++;
  }

  /**
   * @param p a fraction, e.g. 0.99
   * @returns the latency below which that fraction of the sample lies, in µs
   */
  percentile(p: number): number {
    const target = Math.ceil(this.sampled * p);
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.histogram[b];
      if (seen >= target) return Math.min(upperBound(b), this.maxUs);
    }
    return this.maxUs;
  }
}

/** Collects statistics for one mount. */
export class RequestStats {
  readonly #ops = new Map<string, OperationCounter>();

  /**
   * The counter of an operation, made on first use. The dispatcher takes
   * it once per request row, so counting costs no lookup per request.
   *
   * @param op the operation's (handler's) name
   * @returns its counter
   */
  counter(op: string): OperationCounter {
    let c = this.#ops.get(op);
    if (!c) this.#ops.set(op, c = new OperationCounter());
    return c;
  }

  /**
   * A snapshot of the operations that were requested at least once.
   *
   * @returns statistics per operation name
   */
  snapshot(): Record<string, OperationStats> {
    const out: Record<string, OperationStats> = {};
    for (const [op, c] of this.#ops) {
      if (c.count === 0) continue;
      out[op] = {
        count: c.count,
        errors: c.errors,
        p50Us: round(c.percentile(0.5)),
        p90Us: round(c.percentile(0.9)),
        p99Us: round(c.percentile(0.99)),
        maxUs: round(c.maxUs),
      };
    }
    return out;
  }
}
