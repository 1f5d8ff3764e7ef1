/*
 * key.c - key formats (api/birch_key.h): typed values encoded into bytes
 * whose memcmp order is the values' order, decoded back strictly.
 *
 * Encoding of one element:
 *   u8..u64     big-endian, so the most significant byte compares first
 *   i8..i64     big-endian with the sign bit flipped: the negatives (sign
 *               bit 1) become 0x00.. and sort before the others
 *   f32, f64    sign bit set: all bits flipped (a larger magnitude then
 *               sorts first); clear: only the sign bit flipped; big-endian.
 *               Pure bit operations, so every NaN payload and -0.0 survive
 *   bool        one byte, 0 or 1
 *   fixed(N)    the N bytes as they are
 *   string,     at the top level: the bytes as they are.  Inside a tuple:
 *   cstr,       each 0x00 written as 0x00 0xFF, then the terminator
 *   bytes       0x00 0x01 (see birch_key.h for why two bytes)
 *
 * Every function first checks the format (fmt_ok), so a hand-made or
 * damaged birch_key_format gives BIRCH_EINVAL rather than a wild read.
 * There is no mutable state outside the arguments.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "birch.h"
#include "err.h"
#include "formats.h"

/* Escape byte of a string or byte element inside a tuple, and the byte
 * after it: 0xFF for a 0x00 of the content, 0x01 for the end.  The end
 * (0x00 0x01) sorts before a 0x00 of the content (0x00 0xFF) and before
 * any other content byte (>= 0x01), so a shorter element sorts first. */
#define ESC 0x00u
#define ESC_NUL 0xFFu
#define ESC_END 0x01u

/* bool is read and written as one byte, so that a byte other than 0 or 1
 * is refused instead of being loaded as a _Bool (undefined behaviour). */
_Static_assert(sizeof(bool) == 1, "bool keys assume a one-byte _Bool");
/* The longest canonical name: tuple(fixed(N),...) with 8 elements of the
 * largest N. */
_Static_assert(sizeof "tuple()" + BIRCH_KEY_MAX_TUPLE * (sizeof "fixed(),") +
                   BIRCH_KEY_MAX_TUPLE * 20 <= BIRCH_KEY_NAME_MAX,
               "BIRCH_KEY_NAME_MAX too small");
_Static_assert(sizeof(size_t) <= 8, "fixed(N) names assume N has at most 20 digits");

#define BUILTIN(var, name, kind, ctype) \
    const birch_key_format var = {name, kind, sizeof(ctype), 0, 0, NULL, NULL}
BUILTIN(birch_key_u8, "u8", BIRCH_KEY_U8, uint8_t);
BUILTIN(birch_key_u16, "u16", BIRCH_KEY_U16, uint16_t);
BUILTIN(birch_key_u32, "u32", BIRCH_KEY_U32, uint32_t);
BUILTIN(birch_key_u64, "u64", BIRCH_KEY_U64, uint64_t);
BUILTIN(birch_key_i8, "i8", BIRCH_KEY_I8, int8_t);
BUILTIN(birch_key_i16, "i16", BIRCH_KEY_I16, int16_t);
BUILTIN(birch_key_i32, "i32", BIRCH_KEY_I32, int32_t);
BUILTIN(birch_key_i64, "i64", BIRCH_KEY_I64, int64_t);
BUILTIN(birch_key_f32, "f32", BIRCH_KEY_F32, float);
BUILTIN(birch_key_f64, "f64", BIRCH_KEY_F64, double);
BUILTIN(birch_key_bool, "bool", BIRCH_KEY_BOOL, bool);
BUILTIN(birch_key_string, "string", BIRCH_KEY_STRING, birch_val);
/* Same name as string: the encodings are the same, so a table created
 * with one can be opened with the other. */
BUILTIN(birch_key_cstr, "string", BIRCH_KEY_CSTR, const char *);
BUILTIN(birch_key_bytes, "bytes", BIRCH_KEY_BYTES, birch_val);

/* ---- Formats ------------------------------------------------------------ */

/* Encoded width of a number or bool kind; 0 for the others. */
static size_t scalar_width(int kind)
{
    switch (kind) {
    case BIRCH_KEY_U8: case BIRCH_KEY_I8: case BIRCH_KEY_BOOL: return 1;
    case BIRCH_KEY_U16: case BIRCH_KEY_I16: return 2;
    case BIRCH_KEY_U32: case BIRCH_KEY_I32: case BIRCH_KEY_F32: return 4;
    case BIRCH_KEY_U64: case BIRCH_KEY_I64: case BIRCH_KEY_F64: return 8;
    default: return 0;
    }
}

/* Whether f is a format this file can use without reading outside the
 * caller's value: known kind, the C size its kind implies, and for tuples
 * 1..8 non-tuple elements that each lie inside the struct. */
static bool fmt_ok(const birch_key_format *f, bool in_tuple)
{
    if (!f) return false;
    size_t w = scalar_width(f->kind);
    if (w) return f->c_size == w;
    switch (f->kind) {
    case BIRCH_KEY_STRING:
    case BIRCH_KEY_BYTES: return f->c_size == sizeof(birch_val);
    case BIRCH_KEY_CSTR: return f->c_size == sizeof(const char *);
    case BIRCH_KEY_FIXED: return f->fixed > 0 && f->c_size >= f->fixed;
    case BIRCH_KEY_TUPLE: break;
    default: return false;
    }
    if (in_tuple || f->n < 1 || f->n > BIRCH_KEY_MAX_TUPLE || !f->elem || !f->offset)
        return false;
    for (unsigned i = 0; i < f->n; i++) {
        const birch_key_format *e = f->elem[i];
        if (!fmt_ok(e, true) || f->offset[i] > f->c_size || e->c_size > f->c_size - f->offset[i])
            return false;
    }
    return true;
}

/* ---- Names -------------------------------------------------------------- */

/* Appends s to buf; false if it (and the final NUL) would not fit. */
static bool name_put(char *buf, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap - *pos) return false;
    memcpy(buf + *pos, s, n + 1);
    *pos += n;
    return true;
}

/* The name of a non-tuple format, from its kind rather than f->name, so
 * that a format built by hand still gets the canonical name. */
static bool name_elem(const birch_key_format *f, char *buf, size_t cap, size_t *pos)
{
    static const char *const names[] = {
        [BIRCH_KEY_U8] = "u8",   [BIRCH_KEY_U16] = "u16",   [BIRCH_KEY_U32] = "u32",
        [BIRCH_KEY_U64] = "u64", [BIRCH_KEY_I8] = "i8",     [BIRCH_KEY_I16] = "i16",
        [BIRCH_KEY_I32] = "i32", [BIRCH_KEY_I64] = "i64",   [BIRCH_KEY_F32] = "f32",
        [BIRCH_KEY_F64] = "f64", [BIRCH_KEY_BOOL] = "bool", [BIRCH_KEY_STRING] = "string",
        [BIRCH_KEY_CSTR] = "string", [BIRCH_KEY_BYTES] = "bytes",
    };
    if (f->kind == BIRCH_KEY_FIXED) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "fixed(%zu)", f->fixed);
        return name_put(buf, cap, pos, tmp);
    }
    return name_put(buf, cap, pos, names[f->kind]);
}

int birch_key_name(const birch_key_format *f, char *buf, size_t cap)
{
    if (!buf || cap == 0) return bi_err_s(BIRCH_EINVAL, "birch_key_name: buf is NULL or cap is 0");
    if (!fmt_ok(f, false)) return bi_err_s(BIRCH_EINVAL, "birch_key_name: the key format is NULL or malformed");
    size_t pos = 0;
    buf[0] = '\0';
    bool ok;
    if (f->kind != BIRCH_KEY_TUPLE) {
        ok = name_elem(f, buf, cap, &pos);
    } else {
        ok = name_put(buf, cap, &pos, "tuple(");
        for (unsigned i = 0; ok && i < f->n; i++)
            ok = (i == 0 || name_put(buf, cap, &pos, ",")) && name_elem(f->elem[i], buf, cap, &pos);
        ok = ok && name_put(buf, cap, &pos, ")");
    }
    if (!ok) {
        buf[0] = '\0';
        return bi_err(BIRCH_EINVAL, "birch_key_name: the name does not fit in %zu bytes", cap);
    }
    return (int)pos;
}

/* ---- Numbers -------------------------------------------------------------- */

/* The bits of the w-byte number at p (any alignment). */
static uint64_t load_bits(const void *p, size_t w)
{
    switch (w) {
    case 1: { uint8_t v; memcpy(&v, p, 1); return v; }
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
}

static void store_bits(void *p, size_t w, uint64_t bits)
{
    switch (w) {
    case 1: { uint8_t v = (uint8_t)bits; memcpy(p, &v, 1); break; }
    case 2: { uint16_t v = (uint16_t)bits; memcpy(p, &v, 2); break; }
    case 4: { uint32_t v = (uint32_t)bits; memcpy(p, &v, 4); break; }
    default: memcpy(p, &bits, 8); break;
    }
}

/* The order-preserving image of a number's bits (a bijection on w-byte
 * values), and its inverse. */
static uint64_t order_bits(int kind, size_t w, uint64_t v)
{
    uint64_t sign = 1ull << (8 * w - 1);
    uint64_t mask = sign | (sign - 1);
    switch (kind) {
    case BIRCH_KEY_I8: case BIRCH_KEY_I16: case BIRCH_KEY_I32: case BIRCH_KEY_I64:
        return v ^ sign;
    case BIRCH_KEY_F32: case BIRCH_KEY_F64:
        return (v & sign) ? ~v & mask : v ^ sign;
    default:
        return v;
    }
}

static uint64_t unorder_bits(int kind, size_t w, uint64_t v)
{
    uint64_t sign = 1ull << (8 * w - 1);
    uint64_t mask = sign | (sign - 1);
    switch (kind) {
    case BIRCH_KEY_I8: case BIRCH_KEY_I16: case BIRCH_KEY_I32: case BIRCH_KEY_I64:
        return v ^ sign;
    case BIRCH_KEY_F32: case BIRCH_KEY_F64:
        /* Sign bit set in the encoding: it was a non-negative number. */
        return (v & sign) ? v ^ sign : ~v & mask;
    default:
        return v;
    }
}

/* ---- Encoding ---------------------------------------------------------------- */

/* Output that keeps counting past cap, so that a failed encode still
 * learns the size it needs.  Nothing past cap is written. */
typedef struct kout {
    uint8_t *out;
    size_t cap, pos;
} kout;

static void out_put(kout *o, const void *p, size_t n)
{
    if (n == 0) return;
    if (o->pos <= o->cap && n <= o->cap - o->pos) memcpy(o->out + o->pos, p, n);
    /* Saturate: a length that wraps would look like it fits. */
    o->pos = n > SIZE_MAX - o->pos ? SIZE_MAX : o->pos + n;
}

static void out_byte(kout *o, uint8_t b) { out_put(o, &b, 1); }

/* The w low bytes of v (w: 1, 2, 4 or 8), most significant first: a byte
 * swap and a store of a constant size, not a loop of byte stores. */
static void store_be(uint8_t *at, uint64_t v, size_t w)
{
    uint64_t top = v << (64 - 8 * w);
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(top >> (56 - 8 * i));
    switch (w) {
    case 1: memcpy(at, b, 1); break;
    case 2: memcpy(at, b, 2); break;
    case 4: memcpy(at, b, 4); break;
    default: memcpy(at, b, 8); break;
    }
}

/* A string or byte element inside a tuple: each 0x00 escaped, then the
 * terminator. */
static void out_escaped(kout *o, const uint8_t *s, size_t n)
{
    const uint8_t esc_nul[2] = {ESC, ESC_NUL}, end[2] = {ESC, ESC_END};
    while (n) {
        const uint8_t *z = memchr(s, 0, n);
        size_t run = z ? (size_t)(z - s) : n;
        out_put(o, s, run);
        if (!z) break;
        out_put(o, esc_nul, 2);
        s += run + 1;
        n -= run + 1;
    }
    out_put(o, end, 2);
}

/* The bytes of a string-like value at p: string and bytes are birch_val,
 * cstr a NUL-terminated pointer.  Strings must be UTF-8. */
static int varlen_bytes(int kind, const void *p, const uint8_t **s, size_t *n)
{
    if (kind == BIRCH_KEY_CSTR) {
        const char *c;
        memcpy(&c, p, sizeof c);
        if (!c) return bi_err_s(BIRCH_EINVAL, "birch_key_encode: a cstr element is NULL");
        *s = (const uint8_t *)c;
        *n = strlen(c);
    } else {
        birch_val v;
        memcpy(&v, p, sizeof v);
        if (!v.data && v.size)
            return bi_err_s(BIRCH_EINVAL, "birch_key_encode: a string or bytes element has data NULL and size not 0");
        *s = v.data;
        *n = v.size;
    }
    if (kind != BIRCH_KEY_BYTES && !bi_utf8_valid(*s, *n))
        return bi_err_s(BIRCH_EINVAL, "birch_key_encode: a string element is not valid UTF-8");
    return BIRCH_OK;
}

/* Encodes the non-tuple value at p; escaped selects the in-tuple form of
 * strings and bytes. */
static int encode_elem(const birch_key_format *f, const void *p, bool escaped, kout *o)
{
    size_t w = scalar_width(f->kind);
    if (w) {
        uint64_t v = load_bits(p, w);
        if (f->kind == BIRCH_KEY_BOOL && v > 1)
            return bi_err_s(BIRCH_EINVAL, "birch_key_encode: a bool element holds a byte other than 0 or 1");
        v = order_bits(f->kind, w, v);
        /* In one store when it fits (byte by byte, a u64 took 160
         * instructions); else byte by byte, which writes what fits. */
        if (o->pos <= o->cap && w <= o->cap - o->pos) {
            store_be(o->out + o->pos, v, w);
            o->pos += w;
        } else {
            for (size_t i = w; i-- > 0;) out_byte(o, (uint8_t)(v >> (8 * i)));
        }
        return BIRCH_OK;
    }
    if (f->kind == BIRCH_KEY_FIXED) {
        out_put(o, p, f->fixed);
        return BIRCH_OK;
    }
    const uint8_t *s;
    size_t n;
    int rc = varlen_bytes(f->kind, p, &s, &n);
    if (rc) return rc;
    if (escaped) out_escaped(o, s, n);
    else out_put(o, s, n);
    return BIRCH_OK;
}

/* Encodes the first k elements of a tuple, or (k == 1) a non-tuple value;
 * k == 0 is the empty prefix. */
static int encode_k(const birch_key_format *f, const void *key, unsigned k, void *out, size_t cap,
                    size_t *len)
{
    if (!fmt_ok(f, false)) return bi_err_s(BIRCH_EINVAL, "birch_key_encode: the key format is NULL or malformed");
    if (!key || !len) return bi_err_s(BIRCH_EINVAL, "birch_key_encode: key or len is NULL");
    if (!out && cap) return bi_err_s(BIRCH_EINVAL, "birch_key_encode: out is NULL and cap is not 0");
    kout o = {out, cap, 0};
    int rc = BIRCH_OK;
    if (f->kind != BIRCH_KEY_TUPLE) {
        if (k > 1) return bi_err(BIRCH_EINVAL, "birch_key_encode_prefix: %u elements of a key that is no tuple", k);
        if (k == 1) rc = encode_elem(f, key, false, &o);
    } else {
        if (k > f->n) return bi_err(BIRCH_EINVAL, "birch_key_encode_prefix: %u elements of a %u-tuple", k, f->n);
        for (unsigned i = 0; rc == BIRCH_OK && i < k; i++)
            rc = encode_elem(f->elem[i], (const uint8_t *)key + f->offset[i], true, &o);
    }
    if (rc) return rc;
    *len = o.pos;
    /* Static: cap 0 is the documented size query, which may run in a loop. */
    if (o.pos > cap)
        return bi_err_s(BIRCH_EKEYSIZE, "birch_key_encode: the key does not fit in cap bytes (*len is the size it needs)");
    return BIRCH_OK;
}

int birch_key_encode(const birch_key_format *f, const void *key, void *out, size_t cap, size_t *len)
{
    /* A scalar that fits, the key of most typed gets, without the general
     * walk (encode_k): the same checks (fmt_ok's for a scalar kind, the
     * arguments', a bool's byte) and the same bytes, in a third of the
     * instructions.  Anything else, failures included, takes encode_k. */
    size_t w = f ? scalar_width(f->kind) : 0;
    if (w && f->c_size == w && key && len && out && cap >= w) {
        uint64_t v = load_bits(key, w);
        if (f->kind != BIRCH_KEY_BOOL || v <= 1) {
            store_be(out, order_bits(f->kind, w, v), w);
            *len = w;
            return BIRCH_OK;
        }
    }
    unsigned all = f && f->kind == BIRCH_KEY_TUPLE ? f->n : 1;
    return encode_k(f, key, all, out, cap, len);
}

int birch_key_encode_prefix(const birch_key_format *f, const void *key, unsigned k, void *out,
                            size_t cap, size_t *len)
{
    return encode_k(f, key, k, out, cap, len);
}

/* ---- Decoding ------------------------------------------------------------------ */

/* Decoding runs twice over the input: once with dst NULL, to refuse a
 * malformed input (BIRCH_EFORMAT) before a too-small scratch
 * (BIRCH_EKEYSIZE) and to leave the caller's value untouched on any
 * error; then for real, when nothing can fail any more. */
typedef struct kin {
    const uint8_t *in;
    size_t len, pos;
    uint8_t *scratch; /* NULL in the checking pass */
    size_t used;      /* scratch bytes taken (counted in both passes) */
} kin;

/* Scratch space for n bytes, NULL in the checking pass. */
static uint8_t *scratch_take(kin *r, size_t n)
{
    uint8_t *p = r->scratch ? r->scratch + r->used : NULL;
    r->used += n;
    return p;
}

/* A string value for dst: a birch_val, or for cstr a copy of s with a NUL
 * in scratch (the encoding has no NUL to point at). */
static int decode_string_out(int kind, const uint8_t *s, size_t n, kin *r, void *dst)
{
    if (kind == BIRCH_KEY_CSTR) {
        if (n && memchr(s, 0, n)) /* no const char * holds a NUL */
            return bi_err_s(BIRCH_EFORMAT, "birch_key_decode: a cstr key holds a NUL byte");
        uint8_t *c = scratch_take(r, n + 1);
        if (dst) {
            if (n) memcpy(c, s, n);
            c[n] = 0;
            const char *cp = (const char *)c;
            memcpy(dst, &cp, sizeof cp);
        }
        return BIRCH_OK;
    }
    if (dst) {
        birch_val v = {s, n};
        memcpy(dst, &v, sizeof v);
    }
    return BIRCH_OK;
}

/* An escaped element at r->pos: its content goes to scratch, where the
 * value points (it cannot point into the input, which holds the escapes). */
static int decode_escaped(int kind, kin *r, void *dst)
{
    /* Scan first: the content's length, and whether it is well-formed. */
    size_t n = 0, nuls = 0, p = r->pos;
    for (;;) {
        const uint8_t *z = p == r->len ? NULL : memchr(r->in + p, ESC, r->len - p);
        if (!z) return bi_err_s(BIRCH_EFORMAT, "birch_key_decode: a tuple's string or bytes element has no terminator");
        size_t run = (size_t)(z - (r->in + p));
        /* Each run between escapes is UTF-8 on its own: a multi-byte
         * sequence never contains 0x00, so none spans an escape. */
        if (kind != BIRCH_KEY_BYTES && !bi_utf8_valid(r->in + p, run))
            return bi_err_s(BIRCH_EFORMAT, "birch_key_decode: a string element is not valid UTF-8");
        n += run;
        p += run + 1;
        if (p == r->len) return bi_err_s(BIRCH_EFORMAT, "birch_key_decode: an escape cut short at the key's end");
        uint8_t b = r->in[p++];
        if (b == ESC_END) break;
        if (b != ESC_NUL)
            return bi_err_s(BIRCH_EFORMAT, "birch_key_decode: an escape byte followed by neither 0x01 nor 0xFF");
        n++, nuls++;
    }
    if (kind == BIRCH_KEY_CSTR && nuls)
        return bi_err_s(BIRCH_EFORMAT, "birch_key_decode: a cstr element holds a NUL byte");
    size_t start = r->pos;
    r->pos = p;
    uint8_t *c = scratch_take(r, n + (kind == BIRCH_KEY_CSTR));
    if (!dst) return BIRCH_OK;
    /* Copy, turning each 0x00 0xFF back into 0x00. */
    size_t q = 0;
    for (size_t i = start; q < n; i++) {
        c[q++] = r->in[i];
        if (r->in[i] == ESC) i++;
    }
    if (kind == BIRCH_KEY_CSTR) {
        c[n] = 0;
        const char *cp = (const char *)c;
        memcpy(dst, &cp, sizeof cp);
    } else {
        birch_val v = {c, n};
        memcpy(dst, &v, sizeof v);
    }
    return BIRCH_OK;
}

/* Decodes one non-tuple value at r->pos into dst (NULL: check only).  At
 * the top level (!escaped) a string or bytes value takes the rest of the
 * input. */
static int decode_elem(const birch_key_format *f, kin *r, bool escaped, void *dst)
{
    size_t left = r->len - r->pos;
    size_t w = scalar_width(f->kind);
    if (w) {
        if (left < w) return bi_err_s(BIRCH_EFORMAT, "birch_key_decode: the key ends inside a number");
        uint64_t v = 0;
        for (size_t i = 0; i < w; i++) v = v << 8 | r->in[r->pos + i];
        v = unorder_bits(f->kind, w, v);
        if (f->kind == BIRCH_KEY_BOOL && v > 1)
            return bi_err_s(BIRCH_EFORMAT, "birch_key_decode: a bool byte other than 0 or 1");
        if (dst) store_bits(dst, w, v);
        r->pos += w;
        return BIRCH_OK;
    }
    if (f->kind == BIRCH_KEY_FIXED) {
        if (left < f->fixed) return bi_err_s(BIRCH_EFORMAT, "birch_key_decode: the key ends inside a fixed element");
        if (dst) memcpy(dst, r->in + r->pos, f->fixed);
        r->pos += f->fixed;
        return BIRCH_OK;
    }
    if (escaped) return decode_escaped(f->kind, r, dst);
    const uint8_t *s = r->in ? r->in + r->pos : NULL;
    if (f->kind != BIRCH_KEY_BYTES && !bi_utf8_valid(s, left))
        return bi_err_s(BIRCH_EFORMAT, "birch_key_decode: a string key is not valid UTF-8");
    r->pos = r->len;
    return decode_string_out(f->kind, s, left, r, dst);
}

/* One pass over the whole input (see kin). */
static int decode_pass(const birch_key_format *f, kin *r, void *key)
{
    int rc;
    if (f->kind != BIRCH_KEY_TUPLE) {
        rc = decode_elem(f, r, false, key);
    } else {
        rc = BIRCH_OK;
        for (unsigned i = 0; rc == BIRCH_OK && i < f->n; i++)
            rc = decode_elem(f->elem[i], r, true, key ? (uint8_t *)key + f->offset[i] : NULL);
    }
    if (rc == BIRCH_OK && r->pos != r->len)
        return bi_err_s(BIRCH_EFORMAT, "birch_key_decode: bytes left over after the key's last element");
    return rc;
}

int birch_key_decode(const birch_key_format *f, const void *in, size_t len, void *key,
                     void *scratch, size_t scratch_cap)
{
    if (!fmt_ok(f, false)) return bi_err_s(BIRCH_EINVAL, "birch_key_decode: the key format is NULL or malformed");
    if ((!in && len) || !key || (!scratch && scratch_cap))
        return bi_err_s(BIRCH_EINVAL, "birch_key_decode: in, key or scratch is NULL (in and scratch may be only with size 0)");
    kin check = {in, len, 0, NULL, 0};
    int rc = decode_pass(f, &check, NULL);
    if (rc) return rc;
    if (check.used > scratch_cap) /* static: a caller may retry with more, in a loop */
        return bi_err_s(BIRCH_EKEYSIZE, "birch_key_decode: scratch_cap too small for the key (len + 1 bytes always suffice)");
    kin r = {in, len, 0, scratch, 0};
    return decode_pass(f, &r, key);
}
