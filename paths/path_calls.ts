/**
 * Calls of path handlers that survive renames: the path is resolved from
 * the node table right when the handler is called, and a call that fails
 * with ENOENT while a rename is in flight, or whose path has moved since,
 * is made again on the new path (at most three times). Without this, an
 * async handler's rename that has changed the store but not yet replied
 * (so the node table still has the old names) would make a concurrent
 * lookup below it fail for no reason.
 *
 * @module
 */

import { errno, FUSEError, type MaybePromise } from "../mod.ts";
import type { NodeTable, PathNode } from "./node_table.ts";
import { joinPath, type Path, type PathName } from "./path.ts";
import { isNoEntry } from "./settle.ts";

const NO_ENTRY = new FUSEError(errno.ENOENT);
/** Attempts of a path call that keeps failing with ENOENT while paths change under it. */
const ATTEMPTS = 3;

function samePath(a: Path, b: Path): boolean {
  if (typeof a === "string" || typeof b === "string") return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Path calls retried across renames.
 *
 * @example
 * ```ts
 * import { NodeTable } from "./node_table.ts";
 * import { PathCalls } from "./path_calls.ts";
 * const table = new NodeTable(false);
 * const calls = new PathCalls(table);
 * console.log(calls.call(table.root, "a", (p) => p)); // "/a"
 * ```
 */
export class PathCalls {
  readonly #table: NodeTable;
  readonly #renames = new Set<Promise<unknown>>();

  /**
   * Creates the caller.
   *
   * @param table the node table paths are resolved in
   */
  constructor(table: NodeTable) {
    this.#table = table;
  }

  /**
   * The current path of `node`, or of its entry `name`.
   *
   * @param node a node
   * @param name an entry of it, or undefined for the node itself
   * @returns the path
   * @throws {FUSEError} ENOENT when the node has no name left
   */
  pathOf(node: PathNode, name: PathName | undefined): Path {
    const path = this.#table.path(node);
    if (path === null) throw NO_ENTRY;
    return name === undefined ? path : joinPath(path, name);
  }

  /**
   * Keeps note of a rename until it settles (calls failing with ENOENT
   * meanwhile wait for it and try again).
   *
   * @param rename the rename's promise, which updates the node table when it resolves
   * @returns the same promise
   */
  track<T>(rename: Promise<T>): Promise<T> {
    this.#renames.add(rename);
    const untrack = () => void this.#renames.delete(rename);
    rename.then(untrack, untrack);
    return rename;
  }

  /**
   * `fn` on the path of `node` (or of its entry `name`).
   *
   * @param node the node
   * @param name its entry, or undefined
   * @param fn the handler call
   * @returns what `fn` returns (a synchronous answer stays synchronous)
   * @throws {FUSEError} ENOENT when the node has no name; what `fn` throws
   */
  call<T>(
    node: PathNode,
    name: PathName | undefined,
    fn: (path: Path) => MaybePromise<T>,
  ): MaybePromise<T> {
    const path = this.pathOf(node, name);
    let r: MaybePromise<T>;
    try {
      r = fn(path);
    } catch (e) {
      return this.#again(e, node, name, path, fn);
    }
    return r instanceof Promise ? r.catch((e) => this.#again(e, node, name, path, fn)) : r;
  }

  /** The retry of {@link call}, its closures made only when a call failed. */
  #again<T>(
    e: unknown,
    node: PathNode,
    name: PathName | undefined,
    path: Path,
    fn: (path: Path) => MaybePromise<T>,
  ): MaybePromise<T> {
    return this.#retry(e, [path], () => [this.pathOf(node, name)], (p) => fn(p[0]), 1);
  }

  /**
   * {@link call} with two paths (rename, link).
   *
   * @param a the first node
   * @param an its entry, or undefined
   * @param b the second node
   * @param bn its entry, or undefined
   * @param fn the handler call
   * @returns what `fn` returns
   * @throws {FUSEError} ENOENT when a node has no name; what `fn` throws
   */
  call2<T>(
    a: PathNode,
    an: PathName | undefined,
    b: PathNode,
    bn: PathName | undefined,
    fn: (pa: Path, pb: Path) => MaybePromise<T>,
  ): MaybePromise<T> {
    const paths = [this.pathOf(a, an), this.pathOf(b, bn)];
    const again = () => [this.pathOf(a, an), this.pathOf(b, bn)];
    const retry = (e: unknown) => this.#retry(e, paths, again, (p) => fn(p[0], p[1]), 1);
    let r: MaybePromise<T>;
    try {
      r = fn(paths[0], paths[1]);
    } catch (e) {
      return retry(e);
    }
    return r instanceof Promise ? r.catch(retry) : r;
  }

  #retry<T>(
    error: unknown,
    tried: Path[],
    again: () => Path[],
    fn: (paths: Path[]) => MaybePromise<T>,
    attempt: number,
  ): MaybePromise<T> {
    if (!isNoEntry(error) || attempt >= ATTEMPTS) throw error;
    const moved = (paths: Path[]) => paths.some((p, i) => !samePath(p, tried[i]));
    let now: Path[];
    try {
      now = again();
    } catch {
      throw error;
    }
    if (this.#renames.size === 0 && !moved(now)) throw error;
    return (async () => {
      for (let i = 0; i < ATTEMPTS && this.#renames.size > 0; i++) {
        await Promise.allSettled([...this.#renames]);
      }
      let next: Path[];
      try {
        next = again();
      } catch {
        throw error;
      }
      if (!moved(next)) throw error;
      try {
        return await fn(next);
      } catch (e) {
        return this.#retry(e, next, again, fn, attempt + 1);
      }
    })();
  }
}
