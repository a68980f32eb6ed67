/**
 * The benchmark's shared vocabulary: set ids, what a server under test is,
 * and the shape of bench/results/latest.json (and of every set's results
 * file). It imports nothing of bench/, so that every other module of
 * bench/lib can depend on it and the imports run one way.
 *
 * @module
 */

/** The sets `--set=` accepts (bench/lib/sets.ts). */
export type SetId = "main" | "kernel-passthrough" | "paths" | "pgfs";

/** Which library serves the filesystem. */
export type Impl = "denofuse" | "libfuse" | "pyfuse3" | "go-fuse" | "kernel";
/** What the filesystem does. */
export type Kind = "hello" | "tmpfs" | "passthrough";

/** One filesystem under test (bench/lib/servers.ts defines them all). */
export interface ServerDef {
  /** Stable id used in the results, e.g. `deno-hello`. */
  readonly id: string;
  readonly impl: Impl;
  readonly kind: Kind;
  /** One line for the report. */
  readonly label: string;
  /** Whether it mirrors a source directory on the backing tmpfs. */
  readonly needsSource: boolean;
  /**
   * Whether it keeps its state (a database) in a fresh directory on the
   * backing tmpfs, passed as `source` and removed after the session; unlike
   * a source, the benchmark's files are made through the mount.
   */
  readonly stateDir?: boolean;
  /**
   * Whether it keeps its state in an empty database of a PostgreSQL server
   * started for the session (bench/lib/database.ts); that database's URL
   * is passed as `source`.
   */
  readonly postgres?: boolean;
  /**
   * The set it belongs to (bench/lib/sets.ts); a server without one is run
   * by the main set.
   */
  readonly set?: SetId;
  /**
   * Whether the clients read and write without O_DIRECT. Kernel
   * passthrough needs it: the kernel serves an O_DIRECT open of a FUSE file
   * opened with FOPEN_DIRECT_IO through the server even when a backing
   * file is attached, and examples/passthrough.ts sets direct I/O for
   * O_DIRECT opens.
   */
  readonly bufferedIo?: boolean;
  /**
   * The command line (without taskset), or null for the kernel's tmpfs,
   * which is measured directly on the backing directory as a reference.
   */
  argv(mnt: string, source: string): string[] | null;
}

/** Pinned: server and client(s) on CPU 0 (`taskset -c 0`); unpinned: no affinity. */
export type Mode = "pinned" | "unpinned";

/** One case of one server in one mode. */
export interface CaseResult {
  unit: string;
  /** One value per run, in run order. */
  runs: number[];
  median: number;
}

/** Memory of one server process (KiB). */
export interface MemoryResult {
  /** VmRSS after mounting and the first access, before any load. */
  idleKiB: number;
  /** Highest VmHWM over every session of this server (workload and lookups). */
  peakKiB: number;
  /** VmRSS after the first half of the lookup/forget cycles. */
  afterHalfKiB: number;
  /** VmRSS after all of them. */
  afterLookupsKiB: number;
  /** afterLookupsKiB - afterHalfKiB: growth over the second half (a leak grows linearly). */
  growthSecondHalfKiB: number;
  /** stat() calls made (each one a LOOKUP; the kernel's inodes were dropped every `dropEvery`). */
  lookups: number;
  /** Distinct files looked up in turn (1 for the hello servers). */
  files: number;
  dropEvery: number;
  /** drop_caches writes made (each one makes the kernel FORGET the inode). */
  drops: number;
  /** stat()/s during the cycles. */
  lookupRate: number;
}

/** A target from the project's issue, checked against the results. */
export interface TargetCheck {
  name: string;
  mode: Mode | "any";
  value: number | null;
  target: string;
  met: boolean | null;
}

/** The whole result file. */
export interface BenchResults {
  schema: "denofuse-bench/1";
  /** Which set of servers and cases ran (bench/lib/sets.ts). */
  set: SetId;
  date: string;
  quick: boolean;
  durationSecs: number;
  machine: {
    nproc: number;
    cpuModel: string;
    kernel: string;
    memTotalKiB: number;
    deno: string;
    v8: string;
    libfuse: string;
    pyfuse3: string;
    python: string;
    /** Debian's golang-github-hanwen-go-fuse-dev version ("unknown" when not installed). */
    goFuse: string;
    /** The Go toolchain the go-fuse servers were built with ("unknown" when none). */
    go: string;
    /** Pipe ping-pong between two processes: µs per round trip on one CPU and across two. */
    pipeRoundTrip: { sameCpuUs: number; crossCpuUs: number };
  };
  /**
   * Other processes' CPU use: the machine's idle share measured (over at
   * least 0.3 s) before each session, when nothing of the benchmark runs.
   */
  background: {
    idleBeforeSessionsMinPct: number;
    idleBeforeSessionsMedianPct: number;
    loadavgStart: string;
    loadavgEnd: string;
    /** Sessions that started with the machine under 90% idle (after waiting up to `waitQuiet`). */
    busySessions: string[];
  };
  /** `dirty`: library files differ from the commit; null where git was not available. */
  git: { commit: string; dirty: boolean | null };
  config: {
    runs: number;
    secs: number;
    parallel: number;
    entries: number;
    fileCapBytes: number;
    lookups: number;
    lookupsRef: number;
    dropEvery: number;
    waitQuiet: number;
    modes: Mode[];
    servers: string[];
    backing: string;
  };
  servers: Array<{
    id: string;
    impl: string;
    kind: string;
    label: string;
    command: string;
    /** The clients' reads and writes do not use O_DIRECT. */
    bufferedIo: boolean;
  }>;
  cases: Array<{ id: string; label: string; unit: string; parallel: boolean }>;
  /** results[mode][server][case] */
  results: Record<string, Record<string, Record<string, CaseResult>>>;
  /** ratios[mode][comparison][case] = median(num) / median(den), same run */
  ratios: Record<string, Record<string, Record<string, number | null>>>;
  comparisons: Array<{ id: string; num: string; den: string; label: string }>;
  memory: Record<string, MemoryResult>;
  targets: TargetCheck[];
}
