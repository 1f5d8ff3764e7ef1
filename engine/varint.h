/*
 * varint.h - LEB128 numbers: 7 bits a byte, low bits first, the high bit
 * set on every byte but the last; at most 10 bytes for a uint64_t.  The
 * free-space map's records (FORMAT.md 9) and write batches (FORMAT.md 21)
 * store their numbers this way.
 */
#ifndef BIRCH_ENGINE_VARINT_H
#define BIRCH_ENGINE_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define BI_VARINT_MAX 10 /* bytes, for a uint64_t */

/* The bytes x takes. */
static inline size_t bi_varint_len(uint64_t x)
{
    size_t n = 1;
    while (x >= 0x80) x >>= 7, n++;
    return n;
}

/* Writes x at p (room for bi_varint_len(x) bytes); returns the end. */
static inline uint8_t *bi_varint_write(uint8_t *p, uint64_t x)
{
    while (x >= 0x80) {
        *p++ = (uint8_t)(x | 0x80);
        x >>= 7;
    }
    *p++ = (uint8_t)x;
    return p;
}

/* How bi_varint_read fails. */
enum { BI_VARINT_SHORT = -1, BI_VARINT_LONG = -2, BI_VARINT_NOT_SHORTEST = -3 };

/* Reads a number from [*p, end) into *x and moves *p past it: 0, or
 * BI_VARINT_SHORT (it runs past end) or BI_VARINT_LONG (more than 10
 * bytes).  With strict, also BI_VARINT_LONG for a value above 2^64 - 1
 * and BI_VARINT_NOT_SHORTEST for a form longer than it needs (so that one
 * number has one encoding); without, the bits above 64 are dropped, as the
 * free-space map has always read them. */
static inline int bi_varint_read(const uint8_t **p, const uint8_t *end, uint64_t *x, int strict)
{
    uint64_t v = 0;
    const uint8_t *q = *p;
    for (unsigned i = 0; i < BI_VARINT_MAX; i++) {
        if (q == end) return BI_VARINT_SHORT;
        uint8_t c = *q++;
        if (strict && i == BI_VARINT_MAX - 1 && c > 1) return BI_VARINT_LONG;
        v |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            if (strict && i > 0 && c == 0) return BI_VARINT_NOT_SHORTEST;
            *x = v;
            *p = q;
            return 0;
        }
    }
    return BI_VARINT_LONG;
}

#endif
