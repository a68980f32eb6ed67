/**
 * The layer's open handles: the number the kernel holds for an open file
 * or directory is a slot here, which names the node and the handler's own
 * handle. A read or write costs one array index to find both; no path is
 * built for it (the node's path is cached).
 *
 * @module
 */

import type { FileHandle } from "../mod.ts";
import type { PathNode } from "./node_table.ts";
import type { DirEntry } from "./operations.ts";

/** An open file or directory. */
export interface Slot {
  /** The node it was opened on; follows renames, survives unlinking. */
  readonly node: PathNode;
  /** The handler's handle. */
  readonly fh: FileHandle;
  /** Opened by opendir (else by open or create). */
  readonly dir: boolean;
  /** Directories: the listing being read, taken when it started or was rewound. */
  listing: DirEntry[] | null;
}

/**
 * Slots by number, numbers reused after release.
 *
 * @example
 * ```ts
 * import { HandleTable } from "./handles.ts";
 * import { NodeTable } from "./node_table.ts";
 * const handles = new HandleTable();
 * const n = handles.add(new NodeTable(false).root, 7);
 * console.log(handles.get(n)?.fh); // 7
 * ```
 */
export class HandleTable {
  readonly #slots: (Slot | undefined)[] = [undefined];
  readonly #free: number[] = [];
  #count = 0;

  /** How many handles are open. */
  get size(): number {
    return this.#count;
  }

  /**
   * Opens a slot.
   *
   * @param node the node opened
   * @param fh the handler's handle
   * @param dir whether opendir opened it
   * @returns the number to give the kernel
   */
  add(node: PathNode, fh: FileHandle, dir = false): number {
    const slot: Slot = { node, fh, dir, listing: null };
    const n = this.#free.pop() ?? this.#slots.length;
    this.#slots[n] = slot;
    this.#count++;
    return n;
  }

  /**
   * The slot behind a kernel handle.
   *
   * @param n the kernel's handle
   * @returns the slot, if open
   */
  get(n: number): Slot | undefined {
    return this.#slots[n];
  }

  /**
   * Closes a slot.
   *
   * @param n the kernel's handle
   * @returns the slot closed, if it was open
   */
  remove(n: number): Slot | undefined {
    const slot = this.#slots[n];
    if (slot === undefined) return undefined;
    this.#slots[n] = undefined;
    this.#free.push(n);
    this.#count--;
    return slot;
  }

  /**
   * Some open slot of `node`, to answer for a file that lost its last
   * name when the kernel asks by inode (fstat comes without a handle).
   *
   * @param node the node
   * @returns a file slot open on it, if any
   */
  anyOf(node: PathNode): Slot | undefined {
    if (node.opens === 0) return undefined;
    for (const slot of this.#slots) if (slot?.node === node && !slot.dir) return slot;
    return undefined;
  }
}
