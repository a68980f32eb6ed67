/**
 * Touching one's own mount under granular permission flags. Without
 * `--allow-all`, Deno resolves each path on the calling JS thread before a
 * file operation, so a thread that serves a mount must never be the one
 * that touches it. Each case runs Deno as a subprocess with exactly the
 * flags under test and a timeout, so a deadlock shows as a failure.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { sh } from "./support/mount.ts";

const LIBRARY = new URL("../", import.meta.url).href;
const GRANULAR = ["--allow-ffi", "--allow-read", "--allow-write"];

/** Writes `source` to a temporary file and runs Deno on it with `args`. */
async function runDeno(file: string, source: string, args: string[]) {
  const dir = await Deno.makeTempDir({ prefix: "denofuse-perm-" });
  try {
    const path = join(dir, file);
    await Deno.writeTextFile(path, source);
    return await sh(Deno.execPath(), [...args, path], { timeoutMs: 60_000 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("testMount() of a module serves in a Worker: sync APIs and close() work under --allow-ffi --allow-read --allow-write", async () => {
  const source = `
import assert from "node:assert/strict";
import { testMount } from "${LIBRARY}testing.ts";
Deno.test("granular", async () => {
  await using fs = await testMount({ module: "${LIBRARY}examples/tmpfs.ts", export: "TmpFs" });
  const path = fs.mountpoint + "/f";
  Deno.writeTextFileSync(path, "written synchronously\\n");
  assert.equal(Deno.readTextFileSync(path), "written synchronously\\n");
  // tmpfs keeps POSIX locks, so close() sends FLUSH, answered by the Worker.
  const file = Deno.openSync(path, { read: true, write: true });
  file.writeSync(new TextEncoder().encode("W"));
  file.close();
  assert.equal(await Deno.readTextFile(path), "Written synchronously\\n");
  assert.ok((await fs.handle.statistics()).flush.count >= 1);
  assert.equal((await fs.handle.connection())?.protoMajor, 7);
});
`;
  const r = await runDeno("granular_test.ts", source, ["test", ...GRANULAR]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /1 passed/);
});

Deno.test("testMount(ops) without --allow-all fails at once with the fix instead of deadlocking", async () => {
  const source = `
import { testMount } from "${LIBRARY}testing.ts";
import { HelloFs } from "${LIBRARY}examples/hello.ts";
try {
  await testMount(new HelloFs());
} catch (error) {
  console.log(String(error));
}
`;
  const r = await runDeno("same_thread.ts", source, ["run", ...GRANULAR]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /would deadlock on its own mount\. Pass the filesystem's module instead/);
});

Deno.test("a script that touches its own in-thread mount under granular flags gets EDEADLK and an explanation, not a hang", async () => {
  const source = `
import { mount } from "${LIBRARY}mod.ts";
import { HelloFs } from "${LIBRARY}examples/hello.ts";
const dir = await Deno.makeTempDir();
const fs = mount(new HelloFs(), dir, { options: ["fsname=self-touch"], handleSignals: false });
const start = performance.now();
try {
  await Deno.readTextFile(dir + "/message");
  console.log("read it?!");
} catch (error) {
  console.log(String(error), Math.round((performance.now() - start) / 1000) + " s");
} finally {
  await fs.unmount();
  await Deno.remove(dir);
}
console.log("unmounted");
`;
  const r = await runDeno("self_touch.ts", source, ["run", ...GRANULAR]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Resource deadlock avoided \(os error 35\) [23] s\nunmounted\n/);
  assert.match(r.stderr, /is itself waiting for a request to it.*serve it with mountInWorker\(\)/);
});

Deno.test("the deadlock guard is up before the loop first lets the script run, however slow FUSE_INIT was", async () => {
  // A first batch of requests that outlasts the loop's event-loop turn (2 ms:
  // a slow init() here, any request under emulation) used to hand the
  // script its turn before the poll thread, which hosts the guard, existed.
  const source = `
import { mount } from "${LIBRARY}mod.ts";
import { HelloFs } from "${LIBRARY}examples/hello.ts";
const fs = new HelloFs();
fs.init = () => {
  const until = performance.now() + 20;
  while (performance.now() < until);
};
const dir = await Deno.makeTempDir();
const handle = mount(fs, dir, { options: ["fsname=slow-init"], handleSignals: false });
try {
  await Deno.readTextFile(dir + "/message");
  console.log("read it?!");
} catch (error) {
  console.log(String(error));
} finally {
  await handle.unmount();
  await Deno.remove(dir);
}
console.log("unmounted");
`;
  const r = await runDeno("slow_init.ts", source, ["run", ...GRANULAR]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Resource deadlock avoided \(os error 35\)\nunmounted\n/);
});

Deno.test("mountInWorker() lets a script use its own mount synchronously under granular flags", async () => {
  const source = `
import { mountInWorker } from "${LIBRARY}mod.ts";
const dir = await Deno.makeTempDir();
{
  await using fs = await mountInWorker(
    { module: "${LIBRARY}examples/hello.ts", export: "HelloFs" },
    dir,
    ["fsname=worker"],
  );
  console.log(Deno.readTextFileSync(fs.mountpoint + "/message").trim());
  console.log(Deno.readDirSync(dir).map((e) => e.name).toArray().join(","));
}
console.log(Deno.readDirSync(dir).toArray().length === 0 ? "unmounted" : "still mounted");
Deno.removeSync(dir);
`;
  const r = await runDeno("worker_script.ts", source, ["run", ...GRANULAR]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "hello world\nmessage\nunmounted\n");
});

Deno.test("mountInWorker() reports a missing export and a bad mount point as errors of the caller", async () => {
  const source = `
import { mountInWorker } from "${LIBRARY}mod.ts";
for (const [fs, dir] of [
  [{ module: "${LIBRARY}examples/hello.ts", export: "NoSuchFs" }, "/tmp"],
  [{ module: "${LIBRARY}examples/hello.ts", export: "HelloFs" }, "/nonexistent/dir"],
]) {
  await mountInWorker(fs, dir).then(() => console.log("mounted?!"), (e) => console.log(e.name + ": " + e.message));
}
`;
  const r = await runDeno("worker_errors.ts", source, ["run", ...GRANULAR]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /TypeError: .*has no export named "NoSuchFs"/);
  assert.match(r.stdout, /FuseMountError: .*\/nonexistent\/dir/);
});

Deno.test("mountInWorker(): an error escaping the filesystem's code is logged and the Worker keeps serving", async () => {
  const dir = await Deno.makeTempDir({ prefix: "denofuse-perm-" });
  try {
    await Deno.writeTextFile(
      join(dir, "careless.ts"),
      `import { HelloFs } from "${LIBRARY}examples/hello.ts";
export class CarelessFs extends HelloFs {
  override getattr(inode: number) {
    // A rejection nobody handles: it must not take the mount down.
    void Promise.reject(new Error("careless " + inode));
    return super.getattr(inode);
  }
}
`,
    );
    const script = `
import { mountInWorker } from "${LIBRARY}mod.ts";
const mnt = Deno.makeTempDirSync();
{
  await using fs = await mountInWorker({ module: "${
      join(dir, "careless.ts")
    }", export: "CarelessFs" }, mnt);
  for (let i = 0; i < 3; i++) Deno.statSync(mnt + "/message");
  await new Promise((r) => setTimeout(r, 200));
  console.log(Deno.readTextFileSync(mnt + "/message").trim());
}
Deno.removeSync(mnt);
`;
    await Deno.writeTextFile(join(dir, "main.ts"), script);
    const r = await sh(Deno.execPath(), ["run", ...GRANULAR, join(dir, "main.ts")], {
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hello world\n");
    assert.match(r.stderr, /unhandled rejection in the filesystem's Worker: Error: careless/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
