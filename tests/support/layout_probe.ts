/**
 * Generates a C program that checks every declared layout (ffi/layout.ts)
 * against the libfuse and glibc headers with offsetof/sizeof, and the
 * fuse_file_info bit positions by setting each bitfield in a zeroed struct.
 *
 * The expectations follow the libfuse version the headers declare
 * (`FUSE_MAJOR_VERSION * 100 + FUSE_MINOR_VERSION`): members and structs
 * younger than that release are not checked, grown structs are expected at
 * their grown size, and the bit positions are {@link fileInfoBits} of that
 * very version. So one generated source is right for 3.10, 3.14 and 3.17
 * headers alike.
 *
 * Two forms: "run" prints `name expected actual` per check and exits 1 on a
 * mismatch; "static" checks at compile time only (`_Static_assert`, and for
 * the bitfields calls to functions declared with `__attribute__((error))`
 * that only a correct layout lets `-O2` remove), for cross compilers whose
 * output cannot run here.
 */

import {
  FIELD_SINCE,
  FILE_INFO_ALLOC,
  FILE_INFO_BIT_SINCE,
  type FileInfoBits,
  fileInfoBits,
  FOPEN,
  FUSE_BUF_ALLOC,
  FUSE_BUFVEC_ALLOC,
  FUSE_DEV_IOC_BACKING_CLOSE,
  KILL_SUIDGID,
  type Layouts,
} from "../../ffi/layout.ts";
import { FUSE_CAP } from "../../ffi/conn.ts";
import { LOWLEVEL_OPS, LOWLEVEL_OPS_SLOTS } from "../../ffi/lowlevel_ops.ts";

/** C member expressions for layout fields whose names are not C member names. */
const C_MEMBER: Record<string, string> = {
  st_atime: "st_atim.tv_sec",
  st_atime_nsec: "st_atim.tv_nsec",
  st_mtime: "st_mtim.tv_sec",
  st_mtime_nsec: "st_mtim.tv_nsec",
  st_ctime: "st_ctim.tv_sec",
  st_ctime_nsec: "st_ctim.tv_nsec",
  // struct statx's timestamps are struct statx_timestamp.
  stx_atime: "stx_atime.tv_sec",
  stx_atime_nsec: "stx_atime.tv_nsec",
  stx_btime: "stx_btime.tv_sec",
  stx_btime_nsec: "stx_btime.tv_nsec",
  stx_ctime: "stx_ctime.tv_sec",
  stx_ctime_nsec: "stx_ctime.tv_nsec",
  stx_mtime: "stx_mtime.tv_sec",
  stx_mtime_nsec: "stx_mtime.tv_nsec",
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
  fuse_open_out: "struct fuse_open_out",
  fuse_in_header: "struct fuse_in_header",
  fuse_setattr_in: "struct fuse_setattr_in",
  fuse_open_in: "struct fuse_open_in",
  fuse_write_in: "struct fuse_write_in",
  fuse_create_in: "struct fuse_create_in",
  statfs: "struct statfs",
  statx: "struct statx",
};

/** Structs that only newer libfuse releases declare: the first `fuse_version()`. */
const SINCE: Partial<Record<keyof Layouts, number>> = { libfuse_version: 317 };

/**
 * Structs libfuse 3.17 grew at their end. We declare (and read) the older
 * members and allocate the 3.17 size for every one we own.
 */
const GROWN: Partial<Record<keyof Layouts, { since: number; size: number }>> = {
  fuse_file_info: { since: 317, size: FILE_INFO_ALLOC },
  fuse_buf: { since: 317, size: FUSE_BUF_ALLOC },
  fuse_bufvec: { since: 317, size: FUSE_BUFVEC_ALLOC },
};

/** The C names of each {@link KILL_SUIDGID} entry's opcode and flag. */
const KILL_NAMES: Record<keyof typeof KILL_SUIDGID, [opcode: string, flag: string]> = {
  setattr: ["FUSE_SETATTR", "FATTR_KILL_SUIDGID"],
  open: ["FUSE_OPEN", "FUSE_OPEN_KILL_SUIDGID"],
  write: ["FUSE_WRITE", "FUSE_WRITE_KILL_SUIDGID"],
  create: ["FUSE_CREATE", "FUSE_OPEN_KILL_SUIDGID"],
};

/**
 * Kernel protocol members that older `<linux/fuse.h>` headers (before
 * Linux 5.11) call `unused` or `padding`: checked only where the header
 * defines the macro that came with the name.
 */
const NAMED_WITH: Record<string, string> = {
  "fuse_open_in.open_flags": "FUSE_OPEN_KILL_SUIDGID",
  "fuse_create_in.open_flags": "FUSE_OPEN_KILL_SUIDGID",
};

/** Members that are bitfields (checked by bit probing, not offsetof). */
const SKIP = new Set(["fuse_file_info.bits"]);

/** The libfuse versions whose bit positions are spelled out; later ones use the last. */
const BIT_VERSIONS = [310, 311, 312, 313, 314, 315, 316, 317, 318];

/** How the probe checks. */
export interface ProbeOptions {
  /** "run" (default): a program to run; "static": compile-time checks only. */
  mode?: "run" | "static";
  /** Bit positions per version (default {@link fileInfoBits}); tests pass wrong ones. */
  bits?: (version: number) => FileInfoBits;
}

/**
 * The probe's C source.
 *
 * @param layouts the layouts to check, e.g. `layoutsFor("aarch64")`
 * @param options run or static form; bit positions
 * @returns C source to compile with `-I /usr/include/fuse3` (static form: with `-O2`)
 */
export function probeSource(layouts: Layouts, options: ProbeOptions = {}): string {
  const mode = options.mode ?? "run";
  const bitsFor = options.bits ?? fileInfoBits;
  const lines: string[] = [];
  const check = (name: string, expected: string | number, actual: string) =>
    lines.push(`  CHECK("${name}", ${expected}, ${actual});`);
  const since = (version: number | undefined, body: () => void) => {
    if (version) lines.push(`#if PROBE_VERSION >= ${version}`);
    body();
    if (version) lines.push("#endif");
  };
  for (
    const [key, layout] of Object.entries(layouts) as [keyof Layouts, Layouts[keyof Layouts]][]
  ) {
    const ctype = C_TYPE[key];
    since(SINCE[key], () => {
      const grown = GROWN[key];
      if (grown) {
        check(
          `sizeof(${ctype})`,
          `(PROBE_VERSION >= ${grown.since} ? ${grown.size} : ${layout.size})`,
          `sizeof(${ctype})`,
        );
        // What actually protects memory: we never allocate less than libfuse writes.
        check(
          `sizeof(${ctype}) <= allocated ${grown.size}`,
          1,
          `sizeof(${ctype}) <= ${grown.size}`,
        );
      } else {
        check(`sizeof(${ctype})`, layout.size, `sizeof(${ctype})`);
      }
      for (const [field, { offset }] of Object.entries(layout.fields)) {
        if (SKIP.has(`${key}.${field}`)) continue;
        const member = key === "stat" || key === "statx" ? (C_MEMBER[field] ?? field) : field;
        const macro = NAMED_WITH[`${key}.${field}`];
        if (macro) lines.push(`#ifdef ${macro}`);
        since(FIELD_SINCE[`${key}.${field}`], () => {
          check(`${key}.${field}`, offset, `offsetof(${ctype}, ${member})`);
        });
        if (macro) lines.push("#endif");
      }
    });
  }
  check(
    "sizeof(struct fuse_lowlevel_ops) >= slots",
    1,
    `sizeof(struct fuse_lowlevel_ops) >= ${LOWLEVEL_OPS_SLOTS * 8}`,
  );
  for (const [name, row] of Object.entries(LOWLEVEL_OPS)) {
    since((row as { since?: number }).since, () => {
      check(
        `fuse_lowlevel_ops.${name}`,
        row.slot * 8,
        `offsetof(struct fuse_lowlevel_ops, ${name})`,
      );
    });
  }

  // The build host's kernel headers may predate a flag (5.10's lack NOFLUSH,
  // 6.1's PASSTHROUGH and the backing-file ioctls), and older libfuse
  // headers a capability.
  const ifdef = (macro: string, value: number) => {
    lines.push(`#ifdef ${macro}`);
    check(macro, value, macro);
    lines.push("#endif");
  };
  for (const [name, value] of Object.entries(FOPEN)) ifdef(`FOPEN_${name}`, value);
  for (const [name, value] of Object.entries(FUSE_CAP)) ifdef(`FUSE_CAP_${name}`, value);
  ifdef("FUSE_DEV_IOC_BACKING_CLOSE", FUSE_DEV_IOC_BACKING_CLOSE);
  // Opcodes are enum members (every header has them); the kill flags are
  // macros of Linux 5.11+ headers.
  for (const [key, kill] of Object.entries(KILL_SUIDGID)) {
    const [opcode, flag] = KILL_NAMES[key as keyof typeof KILL_SUIDGID];
    check(opcode, kill.opcode, opcode);
    ifdef(flag, kill.bit);
  }

  // Bit positions: fileInfoBits() of the headers' own version.
  const bitNames = Object.keys(bitsFor(314)) as (keyof FileInfoBits)[];
  const expectedBit = (b: keyof FileInfoBits) => {
    const last = BIT_VERSIONS[BIT_VERSIONS.length - 1];
    const arms = BIT_VERSIONS.slice(0, -1).map((v) =>
      `PROBE_VERSION == ${v} ? ${bitsFor(v)[b]} : `
    );
    return `(${arms.join("")}${bitsFor(last)[b]})`;
  };
  const wordIndex = layouts.fuse_file_info.fields.bits.offset / 4;
  const bitFns: string[] = [];
  const bitChecks: string[] = [];
  for (const b of bitNames) {
    const gate = FILE_INFO_BIT_SINCE[b];
    const open = gate ? `#if PROBE_VERSION >= ${gate}\n` : "";
    const close = gate ? "\n#endif" : "";
    if (mode === "run") {
      bitFns.push(`${open}static int bit_of_${b}(void) {
  struct fuse_file_info fi;
  uint32_t word;
  memset(&fi, 0, sizeof fi);
  fi.${b} = 1;
  memcpy(&word, (char *)&fi + ${wordIndex * 4}, 4);
  return word ? __builtin_ctz(word) : -1;
}${close}`);
      bitChecks.push(
        `${open}  CHECK("fuse_file_info.${b} bit", ${expectedBit(b)}, bit_of_${b}());${close}`,
      );
    } else {
      bitFns.push(
        `${open}extern void fuse_file_info_${b}_is_not_at_the_declared_bit(void)\n` +
          `  __attribute__((error("fuse_file_info.${b} is not at the bit fileInfoBits() declares")));${close}`,
      );
      bitChecks.push(
        `${open}  if (((union fi_words){ .fi = { .${b} = 1 } }).w[${wordIndex}] != ` +
          `1u << ${expectedBit(b)})\n    fuse_file_info_${b}_is_not_at_the_declared_bit();${close}`,
      );
    }
  }

  const header = `#define FUSE_USE_VERSION 35
#define _GNU_SOURCE
#include <fuse_lowlevel.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>

/* The libfuse release the headers declare, as fuse_version() returns it. */
#define PROBE_VERSION (FUSE_MAJOR_VERSION * 100 + FUSE_MINOR_VERSION)
`;
  if (mode === "static") {
    return `${header}
#ifndef __OPTIMIZE__
#error "compile the static layout probe with -O2: the bitfield checks rely on constant folding"
#endif
#define CHECK(name, expected, actual) \\
  _Static_assert((long)(expected) == (long)(actual), name " differs from ffi/layout.ts")

${lines.join("\n")}

union fi_words {
  struct fuse_file_info fi;
  uint32_t w[sizeof(struct fuse_file_info) / 4];
};
${bitFns.join("\n")}

void denofuse_probe_bits(void);
void denofuse_probe_bits(void) {
${bitChecks.join("\n")}
}
`;
  }
  return `${header}
static int failures = 0;
#define CHECK(name, expected, actual) do { \\
  long e_ = (long)(expected), a_ = (long)(actual); \\
  printf("%s %ld %ld\\n", name, e_, a_); \\
  if (e_ != a_) failures++; \\
} while (0)
${bitFns.join("\n")}

int main(void) {
  printf("version %d\\n", PROBE_VERSION);
${lines.join("\n")}
${bitChecks.join("\n")}
  return failures ? 1 : 0;
}
`;
}
