/**
 * Reading and writing C structs described by {@link StructLayout}s.
 *
 * Writers work on JS-owned memory (a `DataView` over a buffer later passed to
 * C as a `"buffer"` argument); readers work on C-owned memory through
 * `Deno.UnsafePointerView`.
 *
 * @module
 */

import type { Field, StructLayout } from "./layout.ts";

/** A value that fits a C integer or double member. */
export type CValue = number | bigint;

/**
 * Writes one member into JS-owned struct memory.
 *
 * @param view the memory
 * @param base byte offset of the struct in `view`
 * @param field the member
 * @param value the value; 64-bit members take a number or a bigint exactly
 */
export function writeField(view: DataView, base: number, field: Field, value: CValue): void {
  const at = base + field.offset;
  switch (field.kind) {
    case "u8":
      view.setUint8(at, Number(value));
      return;
    case "i16":
      view.setInt16(at, Number(value), true);
      return;
    case "i32":
      view.setInt32(at, Number(value), true);
      return;
    case "u32":
      view.setUint32(at, Number(value), true);
      return;
    case "u64":
    case "pointer":
      view.setBigUint64(at, BigInt(value), true);
      return;
    case "i64":
      view.setBigInt64(at, BigInt(value), true);
      return;
    case "f64":
      view.setFloat64(at, Number(value), true);
      return;
  }
}

/**
 * Reads one member of C-owned struct memory.
 *
 * @param pv a view of the struct
 * @param field the member
 * @returns 64-bit members as bigint, all others as number
 */
export function readField(pv: Deno.UnsafePointerView, field: Field): CValue {
  switch (field.kind) {
    case "u8":
      return pv.getUint8(field.offset);
    case "i16":
      return pv.getInt16(field.offset);
    case "i32":
      return pv.getInt32(field.offset);
    case "u32":
      return pv.getUint32(field.offset);
    case "u64":
    case "pointer":
      return pv.getBigUint64(field.offset);
    case "i64":
      return pv.getBigInt64(field.offset);
    case "f64":
      return pv.getFloat64(field.offset);
  }
}

/**
 * Reads one 32-bit-or-smaller member as a number.
 *
 * @param pv a view of the struct
 * @param field the member (not a 64-bit one)
 * @returns the value
 */
export function readSmall(pv: Deno.UnsafePointerView, field: Field): number {
  return Number(readField(pv, field));
}

/**
 * A zeroed, JS-owned instance of a struct, with typed access to its members.
 * Pass `bytes` to C as a `"buffer"` argument: Deno hands C its address
 * without copying.
 */
export class OwnedStruct<F extends string> {
  /** The struct's memory. */
  readonly bytes: Uint8Array<ArrayBuffer>;
  /** A view of {@link bytes}. */
  readonly view: DataView<ArrayBuffer>;

  /**
   * @param layout the struct
   * @param allocSize bytes to allocate, when larger than the layout (ABI growth)
   */
  constructor(readonly layout: StructLayout<F>, allocSize = layout.size) {
    this.bytes = new Uint8Array(Math.max(allocSize, layout.size));
    this.view = new DataView(this.bytes.buffer);
  }

  /**
   * Sets a member.
   *
   * @param name the member
   * @param value its value
   */
  set(name: F, value: CValue): void {
    writeField(this.view, 0, this.layout.fields[name], value);
  }

  /**
   * Reads a member back.
   *
   * @param name the member
   * @returns 64-bit members as bigint, all others as number
   */
  get(name: F): CValue {
    const field = this.layout.fields[name];
    const at = field.offset;
    switch (field.kind) {
      case "u8":
        return this.view.getUint8(at);
      case "i16":
        return this.view.getInt16(at, true);
      case "i32":
        return this.view.getInt32(at, true);
      case "u32":
        return this.view.getUint32(at, true);
      case "u64":
      case "pointer":
        return this.view.getBigUint64(at, true);
      case "i64":
        return this.view.getBigInt64(at, true);
      case "f64":
        return this.view.getFloat64(at, true);
    }
  }
}
