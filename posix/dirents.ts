/**
 * Reading directories in batches with getdents64(2).
 *
 * @module
 */

/**
 * Splits getdents64(2) output into entries.
 *
 * @param buf the buffer the call filled
 * @param length the byte count it returned
 * @returns `{ ino, type, name }` per `struct linux_dirent64`
 */
export function parseDirents(
  buf: Uint8Array,
  length: number,
): Array<{ ino: bigint; type: number; name: Uint8Array }> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = [];
  // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
  for (let at = 0; at < length;) {
    const reclen = view.getUint16(at + 16, true);
    const nameStart = at + 19;
    let nameEnd = buf.indexOf(0, nameStart);
    if (nameEnd < 0 || nameEnd > at + reclen) nameEnd = at + reclen;
    out.push({
      ino: view.getBigUint64(at, true),
      type: view.getUint8(at + 18),
      name: buf.slice(nameStart, nameEnd),
    });
    at += reclen;
  }
  return out;
}
