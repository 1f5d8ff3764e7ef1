/*
 * utf8.c - UTF-8 validation for string keys and values.
 */
#include "formats.h"

/* Length of the sequence lead byte c starts, and the range its second byte
 * must fall in (which rules out overlongs, surrogates and > U+10FFFF). */
static int lead(uint8_t c, uint8_t *lo, uint8_t *hi)
{
    *lo = 0x80, *hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0) *lo = 0xA0;
        if (c == 0xED) *hi = 0x9F;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0) *lo = 0x90;
        if (c == 0xF4) *hi = 0x8F;
        return 4;
    }
    return 0;
}

bool bi_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t lo, hi;
        int len = lead(s[i], &lo, &hi);
        if (len == 0 || (size_t)len > n - i) return false;
        for (int k = 1; k < len; k++) {
            uint8_t c = s[i + k];
            if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return false;
        }
        i += (size_t)len;
    }
    return true;
}
