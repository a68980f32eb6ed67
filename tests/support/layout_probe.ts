/**
 * Generates a C program that checks every declared layout (ffi/layout.ts)
 * against the libfuse and glibc headers with offsetof/sizeof, and the
 * fuse_file_info bit positions by setting each bitfield in a zeroed struct.
 */

import { fileInfoBits, type Layouts } from "../../ffi/layout.ts";
import { LOWLEVEL_OPS, LOWLEVEL_OPS_SLOTS } from "../../ffi/lowlevel_ops.ts";

/** C member expressions for layout fields whose names are not C member names. */
const C_MEMBER: Record<string, string> = {
  st_atime: "st_atim.tv_sec",
  st_atime_nsec: "st_atim.tv_nsec",
  st_mtime: "st_mtim.tv_sec",
  st_mtime_nsec: "st_mtim.tv_nsec",
  st_ctime: "st_ctim.tv_sec",
  st_ctime_nsec: "st_ctim.tv_nsec",
};

const C_TYPE: Record<keyof Layouts, string> = {
  stat: "struct stat",
  statvfs: "struct statvfs",
  fuse_entry_param: "struct fuse_entry_param",
  fuse_file_info: "struct fuse_file_info",
  fuse_ctx: "struct fuse_ctx",
  fuse_conn_info: "struct fuse_conn_info",
  fuse_args: "struct fuse_args",
  fuse_buf: "struct fuse_buf",
  fuse_bufvec: "struct fuse_bufvec",
  fuse_forget_data: "struct fuse_forget_data",
  libfuse_version: "struct libfuse_version",
  flock: "struct flock",
};

/** Structs that only newer libfuse releases declare: minimum minor version. */
const SINCE: Partial<Record<keyof Layouts, number>> = { libfuse_version: 17 };

/** Members that are bitfields (checked by bit probing, not offsetof). */
const SKIP = new Set(["fuse_file_info.bits"]);

/**
 * The probe's C source. It prints one line per check:
 * `name expected actual`, and exits 1 if any differ.
 *
 * @param layouts the layouts to check
 * @param headerVersion libfuse version the headers declare, for fuse_file_info bits and growth
 */
export function probeSource(layouts: Layouts): string {
  const lines: string[] = [];
  const check = (name: string, expected: string | number, actual: string) =>
    lines.push(`  CHECK("${name}", ${expected}, ${actual});`);
  for (
    const [key, layout] of Object.entries(layouts) as [keyof Layouts, Layouts[keyof Layouts]][]
  ) {
    const ctype = C_TYPE[key];
    const since = SINCE[key];
    if (since) lines.push(`#if FUSE_MINOR_VERSION >= ${since}`);
    // Structs libfuse grew: we declare the older size and allocate the newer one.
    if (key === "fuse_buf") {
      check(`sizeof(${ctype})`, "(FUSE_MINOR_VERSION >= 17 ? 48 : 40)", `sizeof(${ctype})`);
    } else if (key === "fuse_file_info") {
      check(`sizeof(${ctype})`, "(FUSE_MINOR_VERSION >= 17 ? 64 : 40)", `sizeof(${ctype})`);
    } else if (key === "fuse_bufvec") {
      check(`sizeof(${ctype})`, "(FUSE_MINOR_VERSION >= 17 ? 72 : 64)", `sizeof(${ctype})`);
    } else {
      check(`sizeof(${ctype})`, layout.size, `sizeof(${ctype})`);
    }
    for (const [field, { offset }] of Object.entries(layout.fields)) {
      if (SKIP.has(`${key}.${field}`)) continue;
      const member = key === "stat" ? (C_MEMBER[field] ?? field) : field;
      check(`${key}.${field}`, offset, `offsetof(${ctype}, ${member})`);
    }
    if (since) lines.push("#endif");
  }
  check(
    "sizeof(struct fuse_lowlevel_ops) >= slots",
    1,
    `sizeof(struct fuse_lowlevel_ops) >= ${LOWLEVEL_OPS_SLOTS * 8}`,
  );
  for (const [name, row] of Object.entries(LOWLEVEL_OPS)) {
    check(`fuse_lowlevel_ops.${name}`, row.slot * 8, `offsetof(struct fuse_lowlevel_ops, ${name})`);
  }
  const bits = (v: number) => fileInfoBits(v);
  const bitNames = Object.keys(bits(314)) as (keyof ReturnType<typeof fileInfoBits>)[];
  for (const b of bitNames) {
    // Expected positions come from fileInfoBits() for the header's version.
    const expected = `(FUSE_MINOR_VERSION == 15 || FUSE_MINOR_VERSION == 16 ? ${bits(315)[b]} : ${
      bits(314)[b]
    })`;
    check(`fuse_file_info.${b} bit`, expected, `bit_of_${b}()`);
  }
  const bitFns = bitNames.map((b) => `
static int bit_of_${b}(void) {
  struct fuse_file_info fi;
  uint32_t word;
  memset(&fi, 0, sizeof fi);
  fi.${b} = 1;
  memcpy(&word, (char *)&fi + ${layouts.fuse_file_info.fields.bits.offset}, 4);
  return word ? __builtin_ctz(word) : -1;
}`).join("\n");
  return `#define FUSE_USE_VERSION 35
#define _GNU_SOURCE
#include <fuse_lowlevel.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

static int failures = 0;
#define CHECK(name, expected, actual) do { \\
  long e_ = (long)(expected), a_ = (long)(actual); \\
  printf("%s %ld %ld\\n", name, e_, a_); \\
  if (e_ != a_) failures++; \\
} while (0)
${bitFns}

int main(void) {
  printf("version %d\\n", FUSE_MAJOR_VERSION * 100 + FUSE_MINOR_VERSION);
${lines.join("\n")}
  return failures ? 1 : 0;
}
`;
}
