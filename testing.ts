/**
 * Testing aids for denofuse filesystems: {@link testMount} mounts an
 * `Operations` object on a temporary directory for the length of a test.
 * Tests must use async file APIs on the mount (see the function's docs).
 *
 * @module
 */

export { type TestMount, testMount, type TestMountOptions } from "./utils/testing.ts";
