/** Lower-case hexadecimal of bytes (what JSR's manifest checksums use). */
export function encodeHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
