/*
 * utf8.c - UTF-8 validation for string keys, string values and archives.
 *
 * Well-formed UTF-8 as Unicode's table 3-7 defines it: no overlong forms,
 * no surrogates (U+D800..DFFF), nothing above U+10FFFF, no truncated
 * sequence.  The range allowed for the second byte depends on the first;
 * the later ones are always 0x80..0xBF.
 */
#include <string.h>

#include "formats.h"

/* How many leading bytes are known ASCII: n when all are, else at most
 * the index of the first that is not.  Four words are tested at once, and
 * the last bytes (fewer than 8) with the word that ends the string, which
 * overlaps bytes already tested: an ASCII string takes no byte-by-byte
 * step at all (a 52-byte one took 4 after ascii_run's 6 words). */
static size_t ascii_prefix(const uint8_t *s, size_t n)
{
    const uint64_t high = 0x8080808080808080ull;
    size_t i = 0;
    uint64_t a, b, c, d; /* four scalars: one 32-byte copy went through the stack */
    for (; n - i >= 32; i += 32) {
        memcpy(&a, s + i, 8), memcpy(&b, s + i + 8, 8), memcpy(&c, s + i + 16, 8), memcpy(&d, s + i + 24, 8);
        if ((a | b | c | d) & high) return i;
    }
    for (; n - i >= 8; i += 8) {
        memcpy(&a, s + i, 8);
        if (a & high) return i;
    }
    if (i == n || n < 8) return i;
    memcpy(&a, s + n - 8, 8);
    return a & high ? i : n;
}

bool bi_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = ascii_prefix(s, n);
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            if ((i & 7) == 0) i += ascii_prefix(s + i, n - i); /* back to a run of ASCII */
            continue;
        }
        size_t len;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c == 0xE0) len = 3, lo = 0xA0;              /* not overlong */
        else if (c == 0xED) len = 3, hi = 0x9F;              /* no surrogates */
        else if (c >= 0xE1 && c <= 0xEF) len = 3;
        else if (c == 0xF0) len = 4, lo = 0x90;              /* not overlong */
        else if (c == 0xF4) len = 4, hi = 0x8F;              /* <= U+10FFFF */
        else if (c >= 0xF1 && c <= 0xF3) len = 4;
        else return false; /* 0x80..0xC1 (continuation, overlong), 0xF5..0xFF */
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) return false;
        for (size_t k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return false;
        i += len;
    }
    return true;
}
