/*
 * formats.h - helpers the format modules share (internal).
 */
#ifndef BIRCH_FORMATS_H
#define BIRCH_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether s[0..n) is well-formed UTF-8 (Unicode table 3-7: no overlong
 * forms, no surrogates, nothing above U+10FFFF, no truncated sequence). */
bool bi_utf8_valid(const uint8_t *s, size_t n);

#endif /* BIRCH_FORMATS_H */
