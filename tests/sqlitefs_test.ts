/**
 * Tests of examples/sqlitefs.ts through the kernel: the example runs as a
 * subprocess (as users run it), clients are Python and shell processes, and
 * the database is inspected with node:sqlite only while no server holds it.
 * POSIX behaviour is checked by tests/conformance_test.ts; these check what
 * is particular to a filesystem in a database: the tree surviving remounts,
 * storage in blocks, durability under `kill -9`, batching of unsynced
 * changes, and the refusal of databases that are not ours.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { forceUnmount, REPO, sh, type SpawnedFs, withSpawnedFs } from "./support/mount.ts";
import { py, pyJson, statvfs } from "./support/fs_checks.ts";
import { acquireLibraries, releaseLibraries } from "../ffi/library.ts";
import { Listings, type TypedEntry } from "../examples/lib/sqlite_listings.ts";

const FLAGS = ["--allow-ffi", "--allow-read", "--allow-write"];
const BLOCK = 65536;

/** Serves `db` from a subprocess for `fn`; SIGTERM afterwards commits and unmounts. */
function withSqlitefs(
  db: string,
  fn: (fs: SpawnedFs) => Promise<void>,
  options: string[] = [],
  timeoutMs = 30_000,
): Promise<void> {
  const args = options.length ? ["-o", options.join(","), db] : [db];
  return withSpawnedFs("sqlitefs.ts", args, fn, { denoFlags: FLAGS, timeoutMs });
}

/** Runs sqlitefs with `args` to completion (for what it refuses: it never mounts). */
async function runRefused(...args: string[]): Promise<{ code: number; stderr: string }> {
  const mnt = await Deno.makeTempDir({ prefix: "denofuse-mnt-" });
  try {
    const script = join(REPO, "examples", "sqlitefs.ts");
    const r = await sh(Deno.execPath(), ["run", ...FLAGS, script, ...args, mnt], {
      timeoutMs: 30_000,
    });
    return { code: r.code, stderr: r.stderr };
  } finally {
    await forceUnmount(mnt);
    await Deno.remove(mnt);
  }
}

/** Opens the database read-only for `fn` (no server may hold it); removes the -shm it makes. */
function inspect<T>(db: string, fn: (d: DatabaseSync) => T): T {
  const made = ["-wal", "-shm"].filter((s) => !existsSync(db + s));
  const d = new DatabaseSync(db, { readOnly: true });
  try {
    return fn(d);
  } finally {
    d.close();
    for (const s of made) {
      try {
        Deno.removeSync(db + s);
      } catch { /* not made */ }
    }
  }
}

function existsSync(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "denofuse-sqlitefs-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function killServer(fs: SpawnedFs): Promise<void> {
  fs.child.kill("SIGKILL");
  await fs.exited();
}

/** Builds a tree with every kind of inode, attribute and data layout. */
const BUILD_TREE = `
import os, stat, sys
d = os.fsencode(sys.argv[1])
p = lambda *parts: os.path.join(d, *[os.fsencode(x) for x in parts])
def write(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.write(fd, data)
    os.close(fd)
os.mkdir(p("dir"), 0o750)
write(p("dir", "small"), b"s" * 100)
write(p("big"), os.urandom(3 * 2**20 + 12345))
fd = os.open(p("sparse"), os.O_WRONLY | os.O_CREAT, 0o600)
os.pwrite(fd, b"head", 0)
os.pwrite(fd, b"tail", 10 * 2**20)
os.close(fd)
write(os.path.join(d, b"caf\\xe9"), b"latin-1 name")
os.symlink(b"dir/small", p("link"))
os.link(p("dir", "small"), p("hard"))
os.mkfifo(p("fifo"), 0o640)
os.mknod(p("chr"), 0o600 | stat.S_IFCHR, os.makedev(1, 3))
os.mknod(p("sock"), 0o600 | stat.S_IFSOCK)
os.setxattr(p("dir", "small"), b"user.k", b"v" * 1000)
os.setxattr(p("dir"), b"trusted.t", b"\\x00\\xff")
write(p("owned"), b"o")
os.chown(p("owned"), 1234, 5678)
os.chmod(p("owned"), 0o2751)
write(p("times"), b"t")
os.utime(p("times"), ns=(1_234_567_890_123_456_789, -1_500_000_001))
os.mkdir(p("dir", "sub"))
os.rename(p("dir", "sub"), p("moved"))
`;

/**
 * Everything observable about the tree: lstat (atime only where nothing
 * reads), xattrs, link targets, and a hash of every regular file's bytes.
 */
const MANIFEST = `
import hashlib, json, os, stat, sys
d = os.fsencode(sys.argv[1])
out = {}
paths = []
for root, dirs, files in os.walk(d):
    for n in dirs + files:
        paths.append(os.path.join(root, n))
for path in sorted(paths):
    st = os.lstat(path)
    e = {k: getattr(st, "st_" + k) for k in ("ino", "mode", "nlink", "uid", "gid", "rdev", "blocks", "mtime_ns", "ctime_ns")}
    e["size"] = st.st_size if not stat.S_ISDIR(st.st_mode) else "-"
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode) and not stat.S_ISLNK(st.st_mode) or path.endswith(b"times"):
        e["atime_ns"] = st.st_atime_ns
    e["xattrs"] = {n: os.getxattr(path, n, follow_symlinks=False).hex() for n in sorted(os.listxattr(path, follow_symlinks=False))}
    out[os.path.relpath(path, d).hex()] = e
for path in sorted(paths):
    st = os.lstat(path)
    key = os.path.relpath(path, d).hex()
    if stat.S_ISLNK(st.st_mode):
        out[key]["target"] = os.readlink(path).hex()
    elif stat.S_ISREG(st.st_mode) and not path.endswith(b"times"):
        with open(path, "rb") as f:
            out[key]["sha256"] = hashlib.sha256(f.read()).hexdigest()
print(json.dumps(out, sort_keys=True))
`;

type Manifest = Record<string, Record<string, unknown>>;

Deno.test("sqlitefs's Listings slice by cookie and keep at most their capacity, least recently listed evicted", () => {
  const entries = (n: number, from = 3): TypedEntry[] =>
    Array.from(
      { length: n },
      (_, i) => [from + i, new Uint8Array([97 + (i % 26)]), 100 + i, 0o100000],
    );
  const listings = new Listings(10);
  listings.keep(1, entries(4));
  listings.keep(2, entries(4));
  assert.deepEqual(listings.slice(1, 4, 2)?.map((e) => e[0]), [5, 6], "after cookie 4, two");
  assert.deepEqual(listings.slice(1, 6, 100), [], "after the last cookie: nothing");
  listings.keep(3, entries(4)); // 12 > 10: 2, listed least recently, goes
  assert.equal(listings.slice(2, 0, 10), undefined);
  assert.equal(listings.size, 8);
  listings.keep(4, entries(11)); // larger than the capacity: never kept
  assert.equal(listings.slice(4, 0, 1), undefined);
  assert.ok(listings.tooLarge(4), "remembered as too large");
  listings.forget(4);
  assert.ok(!listings.tooLarge(4), "until it changes");
  listings.forget(1);
  assert.equal(listings.slice(1, 0, 1), undefined);
  assert.equal(listings.size, 4);
  listings.clear();
  assert.equal(listings.size, 0);
});

Deno.test("sqlitefs lists a directory right after every kind of change to it (listings are kept in memory between changes)", async () => {
  await withTempDir(async (dir) => {
    await withSqlitefs(join(dir, "fs.db"), async ({ mnt }) => {
      // Each step changes "d" (or what its entries are), then lists it twice
      // with getdents (names, inode numbers, d_type), against lstat of each name.
      const mismatches = await pyJson<string[]>(
        `
import ctypes, json, os, stat, sys
root = sys.argv[1]
d = os.path.join(root, "d")
other = os.path.join(root, "other")
libc = ctypes.CDLL(None, use_errno=True)
def exchange(a, b):
    assert libc.renameat2(-100, a.encode(), -100, b.encode(), 2) == 0, ctypes.get_errno()
def kind(m):
    return "d" if stat.S_ISDIR(m) else "l" if stat.S_ISLNK(m) else "p" if stat.S_ISFIFO(m) else "f"
def listing():
    # d_type only: no stat of any entry.
    return {e.name: (e.inode(), "d" if e.is_dir(follow_symlinks=False) else
        "l" if e.is_symlink() else "f" if e.is_file(follow_symlinks=False) else "p")
        for e in os.scandir(d)}
os.mkdir(d)
os.mkdir(other)
os.mkdir(os.path.join(other, "x"))
# Enough for plain READDIR requests after the first (READDIRPLUS) one.
for i in range(2000):
    open(os.path.join(d, f"f{i:04}"), "w").close()
model = listing()
# Each step changes d's entries and names the ones it touched: entries near
# the end, which plain READDIRs list (the first request is a READDIRPLUS).
steps = [
    ("create", lambda: open(os.path.join(d, "new"), "w").close(), ["new"]),
    ("unlink", lambda: os.unlink(os.path.join(d, "f1990")), ["f1990"]),
    ("rename within", lambda: os.rename(os.path.join(d, "f1991"), os.path.join(d, "g1991")), ["f1991", "g1991"]),
    ("rename over", lambda: os.rename(os.path.join(d, "f1992"), os.path.join(d, "f1993")), ["f1992", "f1993"]),
    ("rename out", lambda: os.rename(os.path.join(d, "f1994"), os.path.join(other, "f1994")), ["f1994"]),
    ("rename in", lambda: os.rename(os.path.join(other, "f1994"), os.path.join(d, "back")), ["back"]),
    ("mkdir", lambda: os.mkdir(os.path.join(d, "sub")), ["sub"]),
    ("symlink", lambda: os.symlink("f1995", os.path.join(d, "link")), ["link"]),
    ("hard link", lambda: os.link(os.path.join(d, "f1995"), os.path.join(d, "f1995-too")), ["f1995-too"]),
    ("mkfifo", lambda: os.mkfifo(os.path.join(d, "fifo")), ["fifo"]),
    ("exchange a file and a directory", lambda: exchange(os.path.join(d, "f1996"), os.path.join(d, "sub")), ["f1996", "sub"]),
    ("exchange across directories", lambda: exchange(os.path.join(d, "f1997"), os.path.join(other, "x")), ["f1997"]),
    ("rmdir", lambda: os.rmdir(os.path.join(d, "f1996")), ["f1996"]),
]
bad = [] if len(model) == 2000 else [f"initial: {len(model)} entries"]
for name, step, touched in steps:
    step()
    for n in touched:
        try:
            st = os.lstat(os.path.join(d, n))
            model[n] = (st.st_ino, kind(st.st_mode))
        except FileNotFoundError:
            model.pop(n, None)
    for attempt in ("first", "again"):
        got = listing()
        if got != model:
            extra = sorted(set(got.items()) - set(model.items()))
            missing = sorted(set(model.items()) - set(got.items()))
            bad.append(f"{name} ({attempt}): extra {extra}, missing {missing}")
print(json.dumps(bad))
`,
        [mnt],
      );
      assert.deepEqual(mismatches, []);
    });
  });
});

Deno.test("sqlitefs keeps the tree, data, xattrs, owners, modes and nanosecond times across remounts", async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, "fs.db");
    let before: Manifest = {};
    await withSqlitefs(db, async ({ mnt }) => {
      await py(BUILD_TREE, [mnt]);
      before = await pyJson<Manifest>(MANIFEST, [mnt]);
    });
    assert.equal(Object.keys(before).length, 13);
    const times = before[hex("times")];
    assert.deepEqual([times.atime_ns, times.mtime_ns], [1234567890123456789, -1500000001]);
    // Unmounted cleanly: the WAL was checkpointed into the database and removed.
    assert.equal(existsSync(db + "-wal"), false);
    await withSqlitefs(db, async ({ mnt }) => {
      assert.deepEqual(await pyJson<Manifest>(MANIFEST, [mnt]), before);
    });
  });
});

function hex(s: string): string {
  return Array.from(new TextEncoder().encode(s), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("sqlitefs stores data in 64 KiB blocks: a small file costs about its size, holes nothing", async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, "fs.db");
    const st = await withSqlitefsResult(db, async (mnt) =>
      await pyJson<Record<string, number[]>>(
        `import json, os, sys
d = sys.argv[1]
def write(name, data):
    with open(os.path.join(d, name), "wb") as f: f.write(data)
write("small", b"x" * 100)
write("mib", b"y" * (2**20 + 10))
fd = os.open(os.path.join(d, "sparse"), os.O_RDWR | os.O_CREAT)
os.pwrite(fd, b"head", 0)
os.pwrite(fd, b"tail", 10 * 2**20)
seek = [os.lseek(fd, 0, os.SEEK_HOLE), os.lseek(fd, ${BLOCK}, os.SEEK_DATA), os.lseek(fd, 10 * 2**20, os.SEEK_HOLE)]
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
assert libc.fallocate(fd, 3, 0, ${BLOCK}) == 0  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
seek.append(os.lseek(fd, 0, os.SEEK_DATA))
head = os.pread(fd, 8, 0)
os.close(fd)
os.mkdir(os.path.join(d, "many"))
for i in range(1000):
    write(os.path.join("many", f"f{i:04}"), bytes([i % 256]) * 100)
out = {n: [os.stat(os.path.join(d, n)).st_size, os.stat(os.path.join(d, n)).st_blocks] for n in ("small", "mib", "sparse")}
out["listed"] = [len(os.listdir(os.path.join(d, "many"))), len({e.inode() for e in os.scandir(os.path.join(d, "many"))})]
out["seek"] = seek
out["head"] = list(head)
print(json.dumps(out))`,
        [mnt],
      ));
    assert.deepEqual(st.small, [100, 1], "100 bytes: one 512-byte unit");
    assert.deepEqual(st.mib, [2 ** 20 + 10, Math.ceil((2 ** 20 + 10) / 512)]);
    assert.deepEqual(st.sparse, [10 * 2 ** 20 + 4, 1], "after the punch: the 4-byte tail block");
    assert.deepEqual(st.seek, [BLOCK, 10 * 2 ** 20, 10 * 2 ** 20 + 4, 10 * 2 ** 20]);
    assert.deepEqual(st.head, [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(st.listed, [1000, 1000], "listed across readdir chunks");
    const rows = inspect(db, (d) => {
      const blocks = d.prepare(
        `SELECT d.name AS name, b.idx AS idx, length(b.data) AS len FROM dentries d
         JOIN blocks b ON b.ino = d.ino WHERE d.parent = 1 ORDER BY d.name, b.idx`,
      ).all().map((r) => `${new TextDecoder().decode(r.name as Uint8Array)}:${r.idx}:${r.len}`);
      const size = Number(d.prepare("PRAGMA page_count").get()!.page_count) * 4096;
      return { blocks, size };
    });
    const mib = Array.from({ length: 16 }, (_, i) => `mib:${i}:${BLOCK}`).concat("mib:16:10");
    assert.deepEqual(rows.blocks, [...mib, "small:0:100", "sparse:160:4"]);
    // 1,000 files of 100 bytes: each costs its bytes and under 200 of metadata
    // (on the kernel's tmpfs each would take a 4 KiB page).
    const data = 2 ** 20 + 10 + 100 + 4 + 1000 * 100;
    assert.ok(rows.size < data + 1000 * 200 + BLOCK, `database of ${rows.size} bytes`);
  });
});

/** Like withSqlitefs, but returns what `fn` returns. */
async function withSqlitefsResult<T>(
  db: string,
  fn: (mnt: string) => Promise<T>,
  options: string[] = [],
): Promise<T> {
  let result: T | undefined;
  await withSqlitefs(db, async ({ mnt }) => {
    result = await fn(mnt);
  }, options);
  return result!;
}

/**
 * A write load for the kill test: files of random sizes (some written
 * back to front, leaving holes that are filled later), each fsynced, renamed
 * into place and the directory fsynced, then acknowledged on stdout as
 * "path sha256"; between them unsynced noise (files written and never
 * synced, some removed again). Ends when the server dies under it.
 */
const LOAD = `
import hashlib, os, random, sys
root, tag, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(seed)
d = os.path.join(root, tag)
os.mkdir(d)
dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
try:
    for i in range(1, 1_000_000):
        size = rnd.choice([0, rnd.randrange(1, 5000), rnd.randrange(5000, 150_000), rnd.randrange(150_000, 1_200_000)])
        data = rnd.randbytes(size)
        tmp, name = os.path.join(d, f"tmp{i}"), os.path.join(d, f"f{i}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        cuts = sorted({0, size, *(rnd.randrange(0, size + 1) for _ in range(rnd.randrange(0, 4)))})
        pieces = list(zip(cuts, cuts[1:]))
        if rnd.random() < 0.3:
            pieces.reverse()
        for a, b in pieces:
            os.pwrite(fd, data[a:b], a)
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, name)
        os.fsync(dfd)
        print(f"{tag}/f{i} {hashlib.sha256(data).hexdigest()}", flush=True)
        if rnd.random() < 0.5:
            with open(os.path.join(d, f"u{i}"), "wb") as f:
                f.write(rnd.randbytes(rnd.randrange(0, 200_000)))
        if rnd.random() < 0.3 and os.path.exists(os.path.join(d, f"u{i - 1}")):
            os.unlink(os.path.join(d, f"u{i - 1}"))
except OSError:
    pass
`;

/** Checks "path sha256" lines (from a file) and walks the whole tree; prints what is wrong. */
const VERIFY = `
import hashlib, json, os, sys
root = sys.argv[1]
bad, walked = [], 0
for line in open(sys.argv[2]).read().split("\\n"):
    if not line:
        continue
    path, digest = line.split(" ")
    try:
        with open(os.path.join(root, path), "rb") as f:
            got = hashlib.sha256(f.read()).hexdigest()
    except OSError as e:
        got = f"{type(e).__name__} {e.errno}"
    if got != digest:
        bad.append(f"{path}: {got}")
for top, dirs, files in os.walk(root):
    for n in dirs + files:
        os.lstat(os.path.join(top, n))
        walked += 1
print(json.dumps({"bad": bad, "walked": walked}))
`;

/** SQL that must find nothing in a consistent database. */
const INCONSISTENT = [
  "SELECT 'entry without inode', d.ino FROM dentries d LEFT JOIN inodes i ON i.ino = d.ino WHERE i.ino IS NULL",
  "SELECT 'block without inode', b.ino FROM blocks b LEFT JOIN inodes i ON i.ino = b.ino WHERE i.ino IS NULL",
  "SELECT 'block past the end', b.ino FROM blocks b JOIN inodes i ON i.ino = b.ino WHERE b.idx * 65536 + length(b.data) > i.size",
  `SELECT 'link count', i.ino FROM inodes i WHERE i.ino != 1 AND (i.mode & 61440) != 16384
     AND i.nlink != (SELECT count(*) FROM dentries d WHERE d.ino = i.ino)`,
  `SELECT 'directory link count', i.ino FROM inodes i WHERE (i.mode & 61440) = 16384 AND i.nlink > 0
     AND i.nlink != 2 + (SELECT count(*) FROM dentries d JOIN inodes c ON c.ino = d.ino
       WHERE d.parent = i.ino AND (c.mode & 61440) = 16384)`,
];

/** PRAGMA integrity_check, then the consistency queries; returns every problem found. */
function checkDatabase(db: string): string[] {
  return inspect(db, (d) => {
    const problems = d.prepare("PRAGMA integrity_check").all().map((r) => String(r.integrity_check))
      .filter((r) => r !== "ok");
    for (const sql of INCONSISTENT) {
      problems.push(...d.prepare(sql).all().map((r) => Object.values(r).join(" ")));
    }
    return problems;
  });
}

const KILLS = 20;

Deno.test(`sqlitefs: what fsync acknowledged survives ${KILLS} kill -9 at random points during a write load`, async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, "fs.db"), ackFile = join(dir, "acked");
    const all: string[] = [];
    let last: string[] = [];
    const perKill: number[] = [];
    for (let cycle = 0; cycle <= KILLS; cycle++) {
      await withSqlitefs(
        db,
        async (fs) => {
          // The files acknowledged before the last kill (all of them at the end) are intact.
          await Deno.writeTextFile(ackFile, (cycle === KILLS ? all : last).join("\n"));
          const check = await pyJson<{ bad: string[]; walked: number }>(VERIFY, [fs.mnt, ackFile]);
          assert.deepEqual(check.bad, [], `after kill ${cycle}`);
          if (cycle === KILLS) return;
          last = await loadUntilKilled(fs, `c${cycle}`, cycle, 150 + Math.random() * 750);
          all.push(...last);
          perKill.push(last.length);
        },
        [],
        60_000,
      );
      if (cycle < KILLS) {
        assert.deepEqual(checkDatabase(db), [], `database after kill ${cycle + 1}`);
      }
    }
    console.log(`acknowledged files per kill: ${perKill.join(" ")}; ${all.length} verified`);
    assert.ok(all.length >= KILLS, `only ${all.length} files were acknowledged`);
    assert.deepEqual(checkDatabase(db), []);
  });
});

/** Runs LOAD on the mount, SIGKILLs the server after `ms`, returns the acknowledged lines. */
async function loadUntilKilled(fs: SpawnedFs, tag: string, seed: number, ms: number) {
  const load = new Deno.Command("/usr/bin/python3", {
    args: ["-c", LOAD, fs.mnt, tag, String(seed)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = load.output();
  await new Promise((r) => setTimeout(r, ms));
  await killServer(fs);
  const timer = setTimeout(() => load.kill("SIGKILL"), 10_000);
  try {
    const out = await output;
    return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "");
  } finally {
    clearTimeout(timer);
  }
}

/** Names, sizes, modification times and hashes of every file in `dir`. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    const info = await Deno.stat(path);
    const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
    out.push(`${e.name} ${info.size} ${info.mtime?.getTime()} ${hexBytes(new Uint8Array(digest))}`);
  }
  return out.sort();
}

function hexBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Makes a sqlitefs database with a few files, unmounted cleanly. */
async function makeFilesystem(db: string): Promise<void> {
  await withSqlitefs(db, async ({ mnt }) => {
    await py(
      `import os, sys
for i in range(50):
    with open(os.path.join(sys.argv[1], f"f{i}"), "wb") as f: f.write(os.urandom(i * 1000))`,
      [mnt],
    );
  });
}

Deno.test("sqlitefs refuses a file that is not its database, is damaged or newer, or is in use, and changes nothing", async () => {
  await withTempDir(async (dir) => {
    const cases: Array<[string, RegExp]> = [];
    const text = join(dir, "notes.txt");
    await Deno.writeTextFile(text, "shopping list: milk, eggs, a FUSE filesystem\n".repeat(10));
    cases.push([text, /notes\.txt is not an SQLite database .* give the path of a new file/s]);

    for (const [name, mode] of [["app.db", "DELETE"], ["app-wal.db", "WAL"]]) {
      const foreign = new DatabaseSync(join(dir, name));
      foreign.exec(
        `PRAGMA journal_mode = ${mode}; CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
        INSERT INTO users (name) VALUES ('ada'), ('grace')`,
      );
      foreign.close();
      cases.push([
        join(dir, name),
        /is an SQLite database, but not a sqlitefs filesystem .*tables: users/s,
      ]);
    }

    const ours = join(dir, "ours.db");
    await makeFilesystem(ours);
    const damaged = join(dir, "damaged.db");
    await Deno.copyFile(ours, damaged);
    const root = inspect(
      damaged,
      (d) =>
        Number(
          d.prepare("SELECT rootpage FROM sqlite_schema WHERE name = 'dentries'").get()!.rootpage,
        ),
    );
    const file = await Deno.open(damaged, { write: true });
    await file.seek((root - 1) * 4096, Deno.SeekMode.Start);
    await file.write(new Uint8Array(64).fill(0xee));
    file.close();
    cases.push([damaged, /damaged\.db is a damaged sqlitefs database .*Restore it from a backup/s]);

    const newer = join(dir, "newer.db");
    await Deno.copyFile(ours, newer);
    const d = new DatabaseSync(newer);
    d.exec("PRAGMA user_version = 3");
    d.close();
    cases.push([newer, /schema version 3; this sqlitefs reads version 2/]);

    for (const [path, message] of cases) {
      const before = await snapshot(dir);
      const r = await runRefused(path);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /Nothing in it was changed\./);
      assert.deepEqual(await snapshot(dir), before, `${path} or its neighbours changed`);
    }

    const used = ours;
    await withSqlitefs(used, async ({ mnt }) => {
      const before = await snapshot(dir);
      const r = await runRefused(used);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /ours\.db is in use by another process .* Unmount that one first/s);
      assert.deepEqual(await snapshot(dir), before);
      assert.equal((await Deno.stat(join(mnt, "f3"))).size, 3000, "the first mount still serves");
    });
  });
});

Deno.test("sqlitefs commits unsynced changes after -o commit= seconds, synced ones at once", async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, "fs.db");
    const write = (mnt: string, name: string, sync: boolean) =>
      py(
        `import os, sys
fd = os.open(os.path.join(sys.argv[1], sys.argv[2]), os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"data of " + sys.argv[2].encode())
if sys.argv[3] == "1": os.fsync(fd)
os.close(fd)`,
        [mnt, name, sync ? "1" : "0"],
      );
    const names = async (mnt: string) =>
      (await Array.fromAsync(Deno.readDir(mnt))).map((e) => e.name).sort();
    await withSqlitefs(db, async (fs) => {
      await write(fs.mnt, "synced", true);
      await write(fs.mnt, "unsynced", false);
      await killServer(fs);
    }, ["commit=60"]);
    await withSqlitefs(db, async (fs) => {
      assert.deepEqual(await names(fs.mnt), ["synced"], "the unsynced file died with the batch");
      assert.equal(await Deno.readTextFile(join(fs.mnt, "synced")), "data of synced");
      await write(fs.mnt, "later", false);
      await new Promise((r) => setTimeout(r, 800));
      await killServer(fs);
    }, ["commit=0.2"]);
    await withSqlitefs(db, async ({ mnt }) => {
      assert.deepEqual(await names(mnt), ["later", "synced"], "committed 0.2 s after the change");
    });
    assert.deepEqual(checkDatabase(db), []);
  });
});

Deno.test("sqlitefs keeps an unlinked open file until it is closed; a crash's leftovers go at the next mount", async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, "fs.db");
    const unlinked = (d: DatabaseSync) =>
      d.prepare(
        `SELECT count(*) AS n, (SELECT count(*) FROM blocks b JOIN inodes i ON i.ino = b.ino
         WHERE i.nlink = 0) AS blocks FROM inodes WHERE nlink = 0`,
      ).get();
    await withSqlitefs(db, async (fs) => {
      const holder = new Deno.Command("/usr/bin/python3", {
        args: [
          "-c",
          `import os, sys
path = os.path.join(sys.argv[1], "doomed")
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"x" * 200_000)
os.unlink(path)
os.fsync(fd)
print(os.pread(fd, 3, 199_997).decode(), os.fstat(fd).st_nlink, flush=True)
sys.stdin.read()`,
          fs.mnt,
        ],
        stdin: "piped",
        stdout: "piped",
      }).spawn();
      let line = "";
      for await (const chunk of holder.stdout.pipeThrough(new TextDecoderStream())) {
        line += chunk;
        if (line.includes("\n")) break;
      }
      assert.equal(line.trim(), "xxx 0", "readable after unlink");
      await killServer(fs);
      await holder.stdin.close();
      await holder.status;
    });
    assert.deepEqual({ ...inspect(db, unlinked) }, { n: 1, blocks: 4 }, "held at the crash");
    await withSqlitefs(db, async ({ mnt }) => {
      assert.deepEqual(await Array.fromAsync(Deno.readDir(mnt)), []);
    });
    assert.deepEqual(
      { ...inspect(db, unlinked) },
      { n: 0, blocks: 0 },
      "deleted at the next mount",
    );
  });
});

Deno.test("sqlitefs runs as a command: root options for a new database, statfs, clean exit", async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, "new.db");
    await withSqlitefs(db, async ({ mnt, child, exited, stderr }) => {
      const root = await Deno.stat(mnt);
      assert.deepEqual([root.mode! & 0o7777, root.uid, root.gid], [0o700, 12, 34]);
      const vfs = await statvfs(mnt);
      assert.deepEqual([vfs.bsize, vfs.frsize, vfs.namemax], [4096, 4096, 255]);
      assert.ok(vfs.blocks > vfs.bfree && vfs.bfree > 0 && vfs.bfree === vfs.bavail, `${vfs}`);
      assert.ok(vfs.files > vfs.ffree, JSON.stringify(vfs));
      child.kill("SIGTERM");
      assert.equal((await exited()).code, 0, stderr());
      assert.match(stderr(), /sqlitefs: mounted on .*\nsqlitefs: unmounted/s);
    }, ["mode=700,uid=12,gid=34,commit=2"]);
    const bad = await runRefused("-o", "commit=soon", join(dir, "other.db"));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /bad option commit=soon/);
    // The options apply to new databases only; an existing one keeps its root.
    await withSqlitefs(db, async ({ mnt }) => {
      assert.equal((await Deno.stat(mnt)).mode! & 0o7777, 0o700);
    }, ["mode=755"]);
  });
});

Deno.test("sqlitefs refuses a write that does not fit under -o size= with ENOSPC, and space freed is used again", async () => {
  await withTempDir(async (dir) => {
    const db = join(dir, "fs.db");
    const out = await withSqlitefsResult(db, async (mnt) =>
      await pyJson<Record<string, unknown>>(
        `import errno, json, os, sys
d = sys.argv[1]
out = {}
chunk = bytes(range(256)) * 4096
fd = os.open(os.path.join(d, "big"), os.O_WRONLY | os.O_CREAT, 0o644)
n = 0
try:
    while True:
        os.write(fd, chunk)
        n += 1
except OSError as e:
    out["error"] = errno.errorcode[e.errno]
os.close(fd)
out["written"] = n
out["size"] = os.stat(os.path.join(d, "big")).st_size
with open(os.path.join(d, "big"), "rb") as f:
    out["intact"] = f.read() == chunk * n
try:
    os.mkdir(os.path.join(d, "still-room-for-this"))
    out["mkdir"] = "ok"
except OSError as e:
    out["mkdir"] = errno.errorcode[e.errno]
v = os.statvfs(d)
out["full"] = v.f_bavail * v.f_frsize < 2**20
os.unlink(os.path.join(d, "big"))
with open(os.path.join(d, "again"), "wb") as f:
    f.write(chunk * 2)
out["again"] = os.stat(os.path.join(d, "again")).st_size
print(json.dumps(out))`,
        [mnt],
      ), ["size=4m"]);
    assert.equal(out.error, "ENOSPC");
    assert.ok((out.written as number) >= 2 && (out.written as number) <= 4, `${out.written} MiB`);
    assert.equal(out.size, (out.written as number) * 2 ** 20, "the refused write left nothing");
    assert.equal(out.intact, true);
    assert.equal(out.full, true);
    assert.equal(out.again, 2 * 2 ** 20, "space freed by unlink is used again");
    assert.deepEqual(checkDatabase(db), []);
  });
});

Deno.test("sqlitefs survives its disk filling up: ENOSPC, the unsynced batch lost, synced files kept", async () => {
  await withTempDir(async (dir) => {
    const disk = join(dir, "disk");
    await Deno.mkdir(disk);
    const m = await sh("mount", ["-t", "tmpfs", "-o", "size=3m", "denofuse-full", disk]);
    assert.equal(m.code, 0, m.stderr);
    try {
      const db = join(disk, "fs.db");
      const out = await withSqlitefsResult(db, async (mnt) =>
        await pyJson<Record<string, unknown>>(
          `import errno, json, os, sys
d = sys.argv[1]
out = {}
def fail(fn):
    try:
        fn()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
with open(os.path.join(d, "kept"), "wb") as f:
    f.write(b"k" * 1000)
    f.flush()
    os.fsync(f.fileno())
fd = os.open(os.path.join(d, "big"), os.O_WRONLY | os.O_CREAT, 0o644)
while (r := fail(lambda: os.write(fd, b"b" * 2**20))) == "ok":
    pass
out["full"] = r
out["handle"] = fail(lambda: os.write(fd, b"x"))
fail(lambda: os.close(fd))
out["after"] = sorted(os.listdir(d))
with open(os.path.join(d, "again"), "wb") as f:
    f.write(b"a" * 100_000)
    f.flush()
    os.fsync(f.fileno())
out["end"] = sorted(os.listdir(d))
print(json.dumps(out))`,
          [mnt],
        ));
      assert.deepEqual(out, {
        full: "ENOSPC",
        handle: "EIO",
        after: ["kept"],
        end: ["again", "kept"],
      });
      // Room for SQLite to check the database (and for its -shm file).
      await sh("mount", ["-o", "remount,size=64m", disk]);
      assert.deepEqual(checkDatabase(db), []);
      await withSqlitefs(db, async ({ mnt }) => {
        assert.equal((await Deno.readFile(join(mnt, "kept"))).length, 1000);
        assert.equal((await Deno.readFile(join(mnt, "again"))).length, 100_000);
      });
    } finally {
      await sh("umount", [disk]);
    }
  });
});

Deno.test("sqlitefs keeps birth times in the database (stat -c %W with libfuse 3.18) and upgrades a version 1 database", async () => {
  const libs = acquireLibraries();
  const statx = libs.version >= 318;
  releaseLibraries();
  /** `stat -c %W` of each name: the birth time in seconds, 0 where unknown or without statx. */
  const births = async (mnt: string, ...names: string[]) => {
    const r = await sh("stat", ["-c", "%W", ...names.map((n) => join(mnt, n))]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split("\n").map(BigInt);
  };
  const stored = (db: string) =>
    inspect(db, (d) => {
      const rows = d.prepare(
        "SELECT d.name AS name, i.btime AS btime FROM dentries d JOIN inodes i ON i.ino = d.ino " +
          "WHERE d.parent = 1 ORDER BY d.name",
      );
      rows.setReadBigInts(true);
      const version = Number(d.prepare("PRAGMA user_version").get()!.user_version);
      const btimes = Object.fromEntries(
        rows.all().map((r) => [new TextDecoder().decode(r.name as Uint8Array), r.btime]),
      );
      return { version, btimes };
    });
  await withTempDir(async (dir) => {
    const db = join(dir, "fs.db");
    const start = BigInt(Math.floor(Date.now() / 1000));
    let first = 0n;
    await withSqlitefs(db, async ({ mnt }) => {
      await Deno.writeTextFile(join(mnt, "a"), "a");
      [first] = await births(mnt, "a");
    });
    const end = BigInt(Math.ceil(Date.now() / 1000));
    const v2 = stored(db);
    assert.equal(v2.version, 2);
    const aNs = v2.btimes.a as bigint;
    assert.ok(aNs >= start * 1_000_000_000n && aNs <= end * 1_000_000_000n, `btime ${aNs}`);
    assert.equal(first, statx ? aNs / 1_000_000_000n : 0n);
    // After a remount, from the database.
    await withSqlitefs(db, async ({ mnt }) => {
      await Deno.writeTextFile(join(mnt, "a"), "changed");
      assert.deepEqual(await births(mnt, "a"), [first]);
    });

    // What a version 1 sqlitefs left: no btime column.
    const old = new DatabaseSync(db);
    old.exec("ALTER TABLE inodes DROP COLUMN btime; PRAGMA user_version = 1");
    old.close();
    await withSqlitefs(db, async ({ mnt }) => {
      assert.equal(await Deno.readTextFile(join(mnt, "a")), "changed");
      await Deno.writeTextFile(join(mnt, "b"), "b");
      const [a, b] = await births(mnt, "a", "b");
      assert.equal(a, 0n, "unknown for an inode of version 1");
      if (statx) assert.ok(b >= start, `b born at ${b}`);
      else assert.equal(b, 0n);
    });
    const upgraded = stored(db);
    assert.equal(upgraded.version, 2);
    assert.equal(upgraded.btimes.a, null);
    assert.equal(typeof upgraded.btimes.b, "bigint");
  });
});
