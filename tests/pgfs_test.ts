/**
 * examples/pgfs.ts on a real PostgreSQL server (tests/support/postgres.ts):
 * two mounts of one database as separate processes (as on two hosts),
 * coherent for names, attributes, data and locks; what fsync acknowledged
 * survives kill -9 and a restart of the server; an outage fails requests
 * with EIO and the mount serves again afterwards; foreign databases are
 * refused untouched; the password stays secret. The conformance run is in
 * tests/conformance_test.ts; the connection settings and the change
 * payloads are also tested without a mount.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ChangeSet, decodeChange } from "../examples/lib/pg_changes.ts";
import { parseTarget } from "../examples/lib/pg_connect.ts";
import { sh, type SpawnedFs, withSpawnedFs } from "./support/mount.ts";
import { type PostgresServer, withPostgres } from "./support/postgres.ts";
import { scaled } from "./support/emulation.ts";

/** The flags of pgfs's usage line and README: the tests check they are enough. */
const FLAGS = [
  "--allow-ffi",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys=hostname",
];

function withPgfs(
  url: string,
  fn: (fs: SpawnedFs) => Promise<void>,
  { env = {} as Record<string, string>, options = [] as string[] } = {},
): Promise<void> {
  const args = options.length > 0 ? ["-o", options.join(","), url] : [url];
  return withSpawnedFs("pgfs.ts", args, fn, { denoFlags: FLAGS, env, timeoutMs: 180_000 });
}

/** Polls `probe` until it returns true; returns the milliseconds it took. */
async function until(what: string, probe: () => Promise<boolean>, limitMs = 5000): Promise<number> {
  const start = performance.now();
  while (!(await probe())) {
    if (performance.now() - start > scaled(limitMs)) {
      throw new Error(`${what}: not seen in ${limitMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  return performance.now() - start;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function bash(script: string, timeoutMs = 30_000) {
  return await sh("bash", ["-c", script], { timeoutMs });
}

Deno.test("pgfs: the connection URL never carries the password, and the change payloads round-trip", () => {
  assert.throws(
    () => parseTarget("postgres://u:secret@/db?host=/tmp", () => undefined),
    /PGPASSWORD/,
  );
  assert.throws(
    () => parseTarget("postgres://u@/db?password=secret", () => undefined),
    /PGPASSWORD/,
  );
  const t = parseTarget(
    "postgres://u@/db?host=/run/pg",
    (n) => n === "PGPASSWORD" ? "pw" : undefined,
  );
  assert.deepEqual([t.host, t.user, t.database, t.password], ["/run/pg", "u", "db", "pw"]);

  const changes = new ChangeSet();
  changes.entry(1, new Uint8Array([0, 255, 0x2f]), 7);
  changes.wrote(9);
  changes.attr(9, 3);
  changes.unlocked(4);
  const [payload] = changes.payloads(12);
  const got = decodeChange(payload)!;
  assert.equal(got.mount, 12);
  assert.deepEqual(got.entries, [[1, new Uint8Array([0, 255, 0x2f]), 7]]);
  assert.deepEqual(got.data, [9]);
  assert.deepEqual(got.attrs.sort(), [1, 3]);
  assert.deepEqual(got.locks, [4]);
  assert.equal(decodeChange("not json"), undefined);

  const many = new ChangeSet();
  for (let i = 0; i < 100; i++) many.entry(1, new Uint8Array(200).fill(65 + (i % 26)));
  const payloads = many.payloads(1);
  assert.ok(payloads.length > 1, "a large change set is split");
  assert.ok(payloads.every((p) => p.length < 8000), "each payload fits pg_notify's limit");
  assert.equal(payloads.map((p) => decodeChange(p)!.entries.length).reduce((a, b) => a + b), 100);
});

Deno.test("pgfs: two mounts of one database see each other's changes at once, with long cache timeouts", async () => {
  await withPostgres(async (pg) => {
    const url = await pg.createDatabase("shared");
    await withPgfs(url, (a) =>
      withPgfs(url, async (b) => {
        const A = (p: string) => join(a.mnt, p), B = (p: string) => join(b.mnt, p);
        const latencies: Record<string, number> = {};
        // B caches the absence of "f" and of "d" (negative entries, 60 s).
        assert.equal(await exists(B("f")), false);
        assert.equal(await exists(B("d")), false);

        await Deno.writeTextFile(A("f"), "one");
        latencies.create = await until("create on A", () => exists(B("f")));
        await Deno.readTextFile(B("f"));

        await Deno.chmod(A("f"), 0o600);
        latencies.chmod = await until("chmod on A", async () =>
          ((await Deno.stat(B("f"))).mode! & 0o777) === 0o600);

        await Deno.truncate(A("f"), 1);
        latencies.truncate = await until("truncate on A", async () =>
          (await Deno.stat(B("f"))).size === 1);

        await Deno.mkdir(A("d"));
        latencies.mkdir = await until("mkdir on A", () =>
          exists(B("d")));

        await Deno.rename(A("f"), A("d/g"));
        latencies.rename = await until("rename on A", async () =>
          !(await exists(B("f"))) && await exists(B("d/g")));

        await Deno.remove(A("d/g"));
        latencies.unlink = await until("unlink on A", async () =>
          !(await exists(B("d/g"))));

        // Close-to-open for data: B read the old contents, A rewrites; B's next open sees A's.
        await Deno.writeTextFile(A("data"), "version 1");
        await until("data file", () =>
          exists(B("data")));
        assert.equal(await Deno.readTextFile(B("data")), "version 1");
        await Deno.writeTextFile(A("data"), "version 2, longer");
        assert.equal(await Deno.readTextFile(B("data")), "version 2, longer");

        // An open file outlives its last name, though another mount removed it.
        const held = await Deno.open(B("data"));
        try {
          await Deno.remove(A("data"));
          await until("unlink of data on A", async () =>
            !(await exists(B("data"))));
          const buf = new Uint8Array(7);
          assert.equal(await held.read(buf), 7);
          assert.equal(new TextDecoder().decode(buf), "version");
        } finally {
          held.close();
        }
        const left = await pg.psql("SELECT count(*) FROM pgfs.inodes WHERE nlink = 0", "shared");
        assert.equal(left.trim(), "0", "the unlinked inode went with its last handle");

        const worst = Math.max(...Object.values(latencies));
        console.log(`coherence latency (ms): ${
          JSON.stringify(latencies, (_, v) => typeof v === "number" ? Math.round(v * 10) / 10 : v)
        }`);
        assert.ok(worst < scaled(100), `a change took ${worst} ms to show on the other mount`);
      }));
  });
});

Deno.test("pgfs: flock and fcntl locks hold across mounts, and a killed mount's locks are released", async () => {
  await withPostgres(async (pg) => {
    const url = await pg.createDatabase("locks");
    await withPgfs(url, (a) =>
      withPgfs(url, async (b) => {
        await Deno.writeTextFile(join(a.mnt, "lock"), "");
        await until("lock file on B", () => exists(join(b.mnt, "lock")));
        // A holds an exclusive flock and an fcntl write lock on bytes 0-9 for a while.
        const holder = new Deno.Command("python3", {
          args: [
            "-c",
            `
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
fd2 = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd2, fcntl.LOCK_EX, 10, 0)
print("locked", flush=True)
time.sleep(600)
`,
            join(a.mnt, "lock"),
          ],
          stdout: "piped",
        }).spawn();
        try {
          const reader = holder.stdout.getReader();
          const { value } = await reader.read();
          reader.releaseLock();
          assert.match(new TextDecoder().decode(value), /locked/);
          const tryFlock = () => bash(`flock -n -x ${join(b.mnt, "lock")} true`);
          assert.notEqual((await tryFlock()).code, 0, "B's flock -n fails while A holds it");
          const tryLockf = (start: number) =>
            sh("python3", [
              "-c",
              `
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, ${start})
    print("got")
except OSError as e:
    print("busy", e.errno)
`,
              join(b.mnt, "lock"),
            ], { timeoutMs: 20_000 });
          assert.match((await tryLockf(0)).stdout, /busy/, "an overlapping fcntl lock conflicts");
          assert.match((await tryLockf(10)).stdout, /got/, "a range beside A's is free");
          // B waits for the flock; killing A's process releases it (the kernel unlocks at close).
          const waiter = bash(`flock -w 30 -x ${join(b.mnt, "lock")} echo acquired`, 40_000);
          await new Promise((r) => setTimeout(r, 300));
          holder.kill("SIGKILL");
          const waited = await waiter;
          assert.equal(waited.code, 0, waited.stderr);
          assert.match(waited.stdout, /acquired/);
        } finally {
          try {
            holder.kill("SIGKILL");
          } catch { /* already gone */ }
          await holder.status;
          await holder.stdout.cancel().catch(() => {});
        }
      }));
    // A mount that dies holding a lock: the others reap it and the lock is free again.
    await withPgfs(url, async (b) => {
      await withPgfs(url, async (a) => {
        const locker = bash(
          `exec python3 -c 'import fcntl,os,time; fd=os.open("${
            join(a.mnt, "lock")
          }", os.O_RDWR); ` +
            `fcntl.flock(fd, fcntl.LOCK_EX); print("locked", flush=True); time.sleep(600)' &
           sleep 1; kill -9 ${a.child.pid} $!; wait`,
          60_000,
        );
        await locker;
      });
      const started = performance.now();
      const got = await bash(`flock -w 30 -x ${join(b.mnt, "lock")} echo acquired`, 40_000);
      assert.equal(got.code, 0, got.stderr);
      const ms = performance.now() - started;
      console.log(`a killed mount's flock was free after ${Math.round(ms)} ms`);
      assert.ok(ms < scaled(15_000), `took ${ms} ms`);
    });
  });
});

/** Writes files until stopped, printing each name once its fsync (and close) returned. */
const WRITER = `
import os, sys
d = sys.argv[1]
i = 0
while True:
    name = "f%05d" % i
    try:
        fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, (name * 500).encode())
        os.fsync(fd)
        os.close(fd)
    except OSError as e:
        print("error", e.errno, flush=True)
        sys.exit(0)
    print(name, flush=True)
    i += 1
`;

function startWriter(dir: string) {
  const child = new Deno.Command("python3", { args: ["-c", WRITER, dir], stdout: "piped" })
    .spawn();
  const lines: string[] = [];
  const reading = (async () => {
    let rest = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      lines.push(...parts);
    }
  })();
  return { child, lines, done: () => Promise.all([child.status, reading]) };
}

async function checkAcknowledged(fs: SpawnedFs, names: string[]): Promise<void> {
  for (const name of names) {
    const text = await Deno.readTextFile(join(fs.mnt, name)).catch((error) => {
      throw new Error(`${name}: ${error}; the mount's output:\n${fs.stderr().slice(-3000)}`);
    });
    assert.equal(text, name.repeat(500), name);
  }
}

Deno.test("pgfs: what fsync acknowledged survives kill -9 of the mount", async () => {
  await withPostgres(async (pg) => {
    const url = await pg.createDatabase("durable");
    let acknowledged: string[] = [];
    await withPgfs(url, async (a) => {
      const writer = startWriter(a.mnt);
      try {
        await until("writes", () => Promise.resolve(writer.lines.length >= 30), 30_000);
        Deno.kill(a.child.pid, "SIGKILL");
        await a.exited();
      } finally {
        try {
          writer.child.kill("SIGKILL");
        } catch { /* it ended on ENOTCONN */ }
        await writer.done();
      }
      acknowledged = writer.lines.filter((l) => l.startsWith("f"));
    });
    assert.ok(acknowledged.length >= 30);
    await withPgfs(url, (b) => checkAcknowledged(b, acknowledged));
  });
});

Deno.test("pgfs: while PostgreSQL is down requests fail with EIO, and the mount serves again when it is back", async () => {
  await withPostgres(async (pg: PostgresServer) => {
    const url = await pg.createDatabase("outage");
    await withPgfs(url, async (a) => {
      const writer = startWriter(a.mnt);
      try {
        await until("writes", () => Promise.resolve(writer.lines.length >= 10), 30_000);
        await pg.stop();
        await writer.done();
      } finally {
        try {
          writer.child.kill("SIGKILL");
        } catch { /* ended */ }
        await writer.done();
      }
      assert.match(writer.lines.at(-1) ?? "", /^error 5$/, "the writer got EIO");
      const started = performance.now();
      const down = await bash(`stat ${a.mnt}/nothing-here; cat ${a.mnt}/f00000 > /dev/null`);
      const downMs = performance.now() - started;
      assert.notEqual(down.code, 0);
      assert.match(down.stderr, /Input\/output error/, a.stderr().slice(-3000));
      console.log(`requests failed after ${Math.round(downMs)} ms with the server down`);
      assert.ok(downMs < scaled(11_000), `a request took ${downMs} ms to fail`);

      await pg.start();
      const recovered = await until(
        "serving again",
        async () =>
          (await bash(`echo back > ${a.mnt}/after && cat ${a.mnt}/after`)).stdout === "back\n",
        20_000,
      );
      console.log(`served again ${Math.round(recovered)} ms after the server was back`);
      await checkAcknowledged(a, writer.lines.filter((l) => l.startsWith("f")));
    });
  });
});

Deno.test("pgfs: a database of something else, or of a newer pgfs, is refused untouched", async () => {
  await withPostgres(async (pg) => {
    const foreign = await pg.createDatabase("app");
    await pg.psql("CREATE TABLE users (id int); INSERT INTO users VALUES (1)", "app");
    const mnt = await Deno.makeTempDir();
    try {
      const run = (url: string) =>
        sh(Deno.execPath(), [
          "run",
          ...FLAGS,
          join(import.meta.dirname!, "../examples/pgfs.ts"),
          url,
          mnt,
        ], {
          timeoutMs: 60_000,
        });
      const r = await run(foreign);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /public\.users.*createdb/s);
      const tables = await pg.psql(
        "SELECT string_agg(nspname, ',') FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'",
        "app",
      );
      assert.equal(tables.trim(), "public", "no schema was created");

      const newer = await pg.createDatabase("newer");
      await withPgfs(newer, async () => {});
      await pg.psql("UPDATE pgfs.meta SET version = 99", "newer");
      const before = await pg.psql("SELECT count(*) FROM pgfs.inodes", "newer");
      const r2 = await run(newer);
      assert.equal(r2.code, 1);
      assert.match(r2.stderr, /schema version 99, newer/);
      assert.equal(await pg.psql("SELECT count(*) FROM pgfs.inodes", "newer"), before);
    } finally {
      await Deno.remove(mnt, { recursive: true });
    }
  });
});

Deno.test("pgfs: the password comes from PGPASSWORD and shows nowhere", async () => {
  const password = "s3cret-Pa55word";
  await withPostgres(async (pg) => {
    const url = await pg.createDatabase("secret");
    await withPgfs(url, async (a) => {
      await Deno.writeTextFile(join(a.mnt, "x"), "ok");
      assert.equal(await Deno.readTextFile(join(a.mnt, "x")), "ok");
      const cmdline = await Deno.readTextFile(`/proc/${a.child.pid}/cmdline`);
      assert.ok(!cmdline.includes(password));
      assert.match(a.stderr(), /LOOKUP|lookup/i, "the debug log is on");
      assert.ok(!a.stderr().includes(password), "the debug log does not show the password");
    }, { env: { PGPASSWORD: password, DENOFUSE_DEBUG: "1" } });
    // A wrong password: refused with a message naming the server, never the password.
    const mnt = await Deno.makeTempDir();
    try {
      const r = await sh(Deno.execPath(), [
        "run",
        ...FLAGS,
        join(import.meta.dirname!, "../examples/pgfs.ts"),
        url,
        mnt,
      ], { timeoutMs: 60_000, env: { PGPASSWORD: password + "-wrong" } });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /database "secret"/);
      assert.ok(!r.stderr.includes(password), r.stderr);
    } finally {
      await Deno.remove(mnt, { recursive: true });
    }
  }, { password });
});
