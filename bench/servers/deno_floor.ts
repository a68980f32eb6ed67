/**
 * The cost floor of a denofuse round trip: hello_ll's file tree served by
 * denofuse's own session and request loop, but with callbacks that send
 * replies encoded once at start-up. No dispatch, no handler, no encoding
 * per request: what is left is libfuse, the FFI crossings and the loop.
 * The gap between this server and C hello_ll bounds what any work on
 * denofuse's JS side can win (see bench/README.md).
 *
 *     deno run --allow-ffi --allow-read bench/servers/deno_floor.ts MOUNTPOINT
 *
 * Built on internal modules on purpose; not an example of the API.
 *
 * @module
 */

import { acquireLibraries } from "../../ffi/library.ts";
import { buildLowLevelOps } from "../../ffi/lowlevel_ops.ts";
import { LowLevelSession } from "../../ffi/session.ts";
import { encodeFileInfo, EntryParamBuffer } from "../../ffi/codec.ts";
import { fileInfoBits } from "../../ffi/layout.ts";
import { serveRequests } from "../../ops/loop.ts";
import { EntryAttributes, FileInfo } from "../../core/types.ts";

const ROOT = 1, FILE = 2, ENOENT = 2;
const NAME = new TextEncoder().encode("hello");
const mountpoint = Deno.args.at(-1)!;

const libs = acquireLibraries();
const { fuse } = libs;
const encoded = (attr: EntryAttributes, entry: boolean) => {
  const bytes = new EntryParamBuffer();
  return (entry ? bytes.encode(attr) : bytes.encodeStatOnly(attr)).slice();
};
const timeouts = { entryTimeout: 0, attrTimeout: 0 };
const rootAttr = new EntryAttributes({ ...timeouts, stIno: ROOT, stMode: 0o040755, stNlink: 2 });
const fileAttr = new EntryAttributes({
  ...timeouts,
  stIno: FILE,
  stMode: 0o100444,
  stNlink: 1,
  stSize: 13,
});
const rootStat = encoded(rootAttr, false), fileStat = encoded(fileAttr, false);
const fileEntry = encoded(fileAttr, true);
const opened = encodeFileInfo(new FileInfo({ fh: 2 }), 0, fileInfoBits(libs.version));
const isHello = (name: Deno.PointerValue) => {
  const view = new Deno.UnsafePointerView(name!);
  return NAME.every((b, i) => view.getUint8(i) === b) && view.getUint8(NAME.length) === 0;
};

type Req = Deno.PointerValue;
const lowlevel = buildLowLevelOps({
  init: () => {},
  lookup: (req: Req, parent: number | bigint, name: Deno.PointerValue) =>
    Number(parent) === ROOT && isHello(name)
      ? fuse.fuse_reply_entry(req, fileEntry)
      : fuse.fuse_reply_err(req, ENOENT),
  forget: (req: Req) => fuse.fuse_reply_none(req),
  forget_multi: (req: Req) => fuse.fuse_reply_none(req),
  getattr: (req: Req, ino: number | bigint) =>
    Number(ino) === FILE
      ? fuse.fuse_reply_attr(req, fileStat, 0)
      : Number(ino) === ROOT
      ? fuse.fuse_reply_attr(req, rootStat, 0)
      : fuse.fuse_reply_err(req, ENOENT),
  open: (req: Req) => fuse.fuse_reply_open(req, opened),
  release: (req: Req) => fuse.fuse_reply_err(req, 0),
}, libs.version);

const session = new LowLevelSession(libs, lowlevel.struct, lowlevel.size, ["fsname=deno_floor"]);
session.mount(mountpoint);
const state = { terminating: false, inflight: 0 };
Deno.addSignalListener("SIGTERM", () => {
  state.terminating = true;
  session.wake();
});
try {
  await serveRequests(session, state);
} finally {
  session.stopWaiting();
  session.unmount();
  session.destroy();
  lowlevel.close();
}
