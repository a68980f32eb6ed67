/**
 * Testing aids for denofuse filesystems: {@link testMount} mounts a
 * filesystem on a temporary directory for the length of a test. Given the
 * filesystem's module it serves it in a Worker, so the test may use any
 * file API on the mount under any permission flags.
 *
 * @module
 */

export { type TestMount, testMount, type TestMountOptions } from "./utils/testing.ts";
