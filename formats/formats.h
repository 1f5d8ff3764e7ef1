/*
 * formats.h - helpers the format modules share (internal).
 */
#ifndef BIRCH_FORMATS_H
#define BIRCH_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "birch.h"

/* What archive values store (docs/FORMAT.md, section 18), pinned so that no
 * compiler or ABI can change the layout of stored values: a relative
 * pointer is {u32 off; u32 len}, 8 bytes aligned to 4, and a bool is one
 * byte. */
_Static_assert(sizeof(birch_archive_ref) == 8 && _Alignof(birch_archive_ref) == 4 &&
                   offsetof(birch_archive_ref, off) == 0 && offsetof(birch_archive_ref, len) == 4,
               "archive layout (docs/FORMAT.md 18.2): a relative pointer is {u32 off at 0, u32 len at 4}");
_Static_assert(sizeof(bool) == 1, "archive layout (docs/FORMAT.md 18.1): a bool is one byte");

/* Whether s[0..n) is well-formed UTF-8 (Unicode table 3-7: no overlong
 * forms, no surrogates, nothing above U+10FFFF, no truncated sequence). */
bool bi_utf8_valid(const uint8_t *s, size_t n);

#endif /* BIRCH_FORMATS_H */
