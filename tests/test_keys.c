/*
 * test_keys.c - key formats (api/birch_key.h, formats/key.c).
 *
 * For every format: random values (and, for numbers, every pair of edge
 * values) encode so that memcmp order matches a typed comparator written
 * here independently of the encoding; decode(encode(x)) == x bit for bit;
 * for tuples every prefix encoding is a byte prefix of the key, strictly
 * shorter, and exactly the keys that share those leading elements start
 * with it.  Every short
 * byte string (over a small alphabet) and mutations of valid encodings
 * either decode to a value that re-encodes to the same bytes or are
 * refused.  Then names, known encodings, every bad input, and empty
 * top-level string and bytes keys in a table (refused: BIRCH_EKEYSIZE).
 *
 * Randomized parts print their seed on failure; BIRCH_SEED=N reruns one.
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

enum { STORE = 48 }; /* bytes behind each string or bytes element */

/* ck_assert records every passing check (a write to Check's pipe), which
 * makes the loops below slow; this only reports a failure. */
#define KCHECK(cond, ...)                    \
    do {                                     \
        if (!(cond)) ck_abort_msg(__VA_ARGS__); \
    } while (0)

/* A C value of any format under test, and the bytes its strings point to
 * (store[i] for tuple element i). */
typedef struct slot {
    _Alignas(16) unsigned char v[256];
    unsigned char store[BIRCH_KEY_MAX_TUPLE][STORE];
} slot;

/* ---- Formats under test ------------------------------------------------------ */

BIRCH_KEY_FIXED(fx1, 1);
BIRCH_KEY_FIXED(fx3, 3);
BIRCH_KEY_FIXED(fx16, 16);

typedef struct { uint64_t id; birch_val name; } t_us;
BIRCH_KEY_TUPLE(tk_us, t_us, &birch_key_u64, id, &birch_key_string, name);

/* A string, then a raw byte that may be 0xFF, then bytes: the case a
 * single-byte terminator would make ambiguous. */
typedef struct { birch_val s; uint8_t b; birch_val raw; } t_sub;
BIRCH_KEY_TUPLE(tk_sub, t_sub, &birch_key_string, s, &birch_key_u8, b, &birch_key_bytes, raw);

typedef struct { birch_val a, b; } t_bb;
BIRCH_KEY_TUPLE(tk_bb, t_bb, &birch_key_bytes, a, &birch_key_bytes, b);

typedef struct { int32_t i; double d; bool flag; const char *c; } t_idbc;
BIRCH_KEY_TUPLE(tk_idbc, t_idbc, &birch_key_i32, i, &birch_key_f64, d, &birch_key_bool, flag,
                &birch_key_cstr, c);

typedef struct { uint8_t h[3]; birch_val s; int16_t x; } t_fsi;
BIRCH_KEY_TUPLE(tk_fsi, t_fsi, &fx3, h, &birch_key_string, s, &birch_key_i16, x);

typedef struct {
    uint8_t a; int64_t b; float c; birch_val d; birch_val e; uint8_t f[2]; bool g; uint16_t h;
} t_8;
BIRCH_KEY_TUPLE(tk_8, t_8, &birch_key_u8, a, &birch_key_i64, b, &birch_key_f32, c,
                &birch_key_bytes, d, &birch_key_string, e, &fx1, f, &birch_key_bool, g,
                &birch_key_u16, h);

/* Compile-time check that the macro takes 1..8 elements. */
typedef struct { uint8_t e[8]; } t_n;
BIRCH_KEY_TUPLE(tn1, t_n, &birch_key_u8, e[0]);
BIRCH_KEY_TUPLE(tn2, t_n, &birch_key_u8, e[0], &birch_key_u8, e[1]);
BIRCH_KEY_TUPLE(tn3, t_n, &birch_key_u8, e[0], &birch_key_u8, e[1], &birch_key_u8, e[2]);
BIRCH_KEY_TUPLE(tn4, t_n, &birch_key_u8, e[0], &birch_key_u8, e[1], &birch_key_u8, e[2],
                &birch_key_u8, e[3]);
BIRCH_KEY_TUPLE(tn5, t_n, &birch_key_u8, e[0], &birch_key_u8, e[1], &birch_key_u8, e[2],
                &birch_key_u8, e[3], &birch_key_u8, e[4]);
BIRCH_KEY_TUPLE(tn6, t_n, &birch_key_u8, e[0], &birch_key_u8, e[1], &birch_key_u8, e[2],
                &birch_key_u8, e[3], &birch_key_u8, e[4], &birch_key_u8, e[5]);
BIRCH_KEY_TUPLE(tn7, t_n, &birch_key_u8, e[0], &birch_key_u8, e[1], &birch_key_u8, e[2],
                &birch_key_u8, e[3], &birch_key_u8, e[4], &birch_key_u8, e[5], &birch_key_u8, e[6]);
BIRCH_KEY_TUPLE(tn8, t_n, &birch_key_u8, e[0], &birch_key_u8, e[1], &birch_key_u8, e[2],
                &birch_key_u8, e[3], &birch_key_u8, e[4], &birch_key_u8, e[5], &birch_key_u8, e[6],
                &birch_key_u8, e[7]);
#define TN_ARITY(name) (sizeof name##_off_ / sizeof name##_off_[0])
_Static_assert(TN_ARITY(tn1) == 1 && TN_ARITY(tn2) == 2 && TN_ARITY(tn3) == 3 &&
                   TN_ARITY(tn4) == 4 && TN_ARITY(tn5) == 5 && TN_ARITY(tn6) == 6 &&
                   TN_ARITY(tn7) == 7 && TN_ARITY(tn8) == 8,
               "BIRCH_KEY_TUPLE arity");
_Static_assert(sizeof tk_8_elem_ / sizeof tk_8_elem_[0] == 8, "8-element tuple");

static const birch_key_format *const formats[] = {
    &birch_key_u8,  &birch_key_u16,  &birch_key_u32,    &birch_key_u64,  &birch_key_i8,
    &birch_key_i16, &birch_key_i32,  &birch_key_i64,    &birch_key_f32,  &birch_key_f64,
    &birch_key_bool, &birch_key_string, &birch_key_cstr, &birch_key_bytes, &fx1,
    &fx3,           &fx16,           &tk_us,            &tk_sub,         &tk_bb,
    &tk_idbc,       &tk_fsi,         &tk_8,             &tn1,            &tn8,
};
enum { NFORMATS = sizeof formats / sizeof formats[0] };

static const char *fname(const birch_key_format *f, char buf[BIRCH_KEY_NAME_MAX])
{
    if (birch_key_name(f, buf, BIRCH_KEY_NAME_MAX) < 0) snprintf(buf, BIRCH_KEY_NAME_MAX, "?");
    return buf;
}

static void hex(const void *p, size_t n, char *buf, size_t cap)
{
    const unsigned char *b = p;
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && o + 4 < cap; i++) o += (size_t)snprintf(buf + o, cap - o, "%02x ", b[i]);
}

/* ---- Width and kind helpers (test side) --------------------------------------- */

static size_t width(int kind)
{
    switch (kind) {
    case BIRCH_KEY_U8: case BIRCH_KEY_I8: case BIRCH_KEY_BOOL: return 1;
    case BIRCH_KEY_U16: case BIRCH_KEY_I16: return 2;
    case BIRCH_KEY_U32: case BIRCH_KEY_I32: case BIRCH_KEY_F32: return 4;
    case BIRCH_KEY_U64: case BIRCH_KEY_I64: case BIRCH_KEY_F64: return 8;
    default: return 0;
    }
}

static bool is_signed(int kind)
{
    return kind == BIRCH_KEY_I8 || kind == BIRCH_KEY_I16 || kind == BIRCH_KEY_I32 ||
           kind == BIRCH_KEY_I64;
}

/* Stores the low w bytes of bits as a w-byte integer (same representation
 * for the signed and unsigned types). */
static void store_w(void *dst, size_t w, uint64_t bits)
{
    uint8_t a = (uint8_t)bits;
    uint16_t b = (uint16_t)bits;
    uint32_t c = (uint32_t)bits;
    switch (w) {
    case 1: memcpy(dst, &a, 1); break;
    case 2: memcpy(dst, &b, 2); break;
    case 4: memcpy(dst, &c, 4); break;
    default: memcpy(dst, &bits, 8); break;
    }
}

static uint64_t load_u(const void *p, size_t w)
{
    uint8_t a; uint16_t b; uint32_t c; uint64_t d;
    switch (w) {
    case 1: memcpy(&a, p, 1); return a;
    case 2: memcpy(&b, p, 2); return b;
    case 4: memcpy(&c, p, 4); return c;
    default: memcpy(&d, p, 8); return d;
    }
}

static int64_t load_i(const void *p, size_t w)
{
    int8_t a; int16_t b; int32_t c; int64_t d;
    switch (w) {
    case 1: memcpy(&a, p, 1); return a;
    case 2: memcpy(&b, p, 2); return b;
    case 4: memcpy(&c, p, 4); return c;
    default: memcpy(&d, p, 8); return d;
    }
}

/* ---- Values ------------------------------------------------------------------ */

/* Edge values of an integer of w bytes, as bits: 0, 1, 2, -1/max, max-1,
 * MIN/0x80.., MIN+1, MAX/0x7F.., MAX-1. */
static bool int_special(size_t w, unsigned i, uint64_t *bits)
{
    uint64_t sign = 1ull << (8 * w - 1), mask = sign | (sign - 1);
    const uint64_t v[] = {0, 1, 2, mask, mask - 1, sign, sign + 1, sign - 1, sign - 2, 0x7f, 0x80};
    if (i >= sizeof v / sizeof v[0]) return false;
    *bits = v[i] & mask;
    return true;
}

static const uint32_t f32_special[] = {
    0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x807fffff, 0x00800000,
    0x80800000, 0x3f800000, 0xbf800000, 0x3f800001, 0x7f7fffff, 0xff7fffff, 0x7f800000,
    0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0xffffffff,
    0x7fa5a5a5, 0xffa5a5a5, 0x40490fdb,
};
static const uint64_t f64_special[] = {
    0x0000000000000000, 0x8000000000000000, 0x0000000000000001, 0x8000000000000001,
    0x000fffffffffffff, 0x0010000000000000, 0x8010000000000000, 0x3ff0000000000000,
    0xbff0000000000000, 0x3ff0000000000001, 0x7fefffffffffffff, 0xffefffffffffffff,
    0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000, 0xfff8000000000000,
    0x7ff0000000000001, 0xfff0000000000001, 0x7fffffffffffffff, 0xffffffffffffffff,
    0x7ff4a5a5a5a5a5a5, 0x400921fb54442d18, 0xc00921fb54442d18,
};

/* Edge value i of a number or bool format into dst; false past the last. */
static bool gen_special(const birch_key_format *f, unsigned i, void *dst)
{
    size_t w = width(f->kind);
    if (f->kind == BIRCH_KEY_BOOL) {
        if (i > 1) return false;
        store_w(dst, 1, i);
        return true;
    }
    if (f->kind == BIRCH_KEY_F32) {
        if (i >= sizeof f32_special / sizeof f32_special[0]) return false;
        memcpy(dst, &f32_special[i], 4);
        return true;
    }
    if (f->kind == BIRCH_KEY_F64) {
        if (i >= sizeof f64_special / sizeof f64_special[0]) return false;
        memcpy(dst, &f64_special[i], 8);
        return true;
    }
    uint64_t bits;
    if (!w || !int_special(w, i, &bits)) return false;
    store_w(dst, w, bits);
    return true;
}

static size_t put_utf8(uint8_t *p, uint32_t cp)
{
    if (cp < 0x80) { p[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { p[0] = (uint8_t)(0xc0 | cp >> 6); p[1] = (uint8_t)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        p[0] = (uint8_t)(0xe0 | cp >> 12);
        p[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        p[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    p[0] = (uint8_t)(0xf0 | cp >> 18);
    p[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    p[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    p[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* A code point, often one of the edges of the UTF-8 ranges. */
static uint32_t gen_cp(bt_rng *r, bool nul_ok)
{
    static const uint32_t cps[] = {0x00,   'a',    'b',    0x7f,   0x80,    0xe9,    0x7ff,
                                   0x800,  0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x1f600,
                                   0x10ffff};
    uint32_t cp;
    do {
        if (bt_chance(r, 80)) cp = cps[bt_below(r, sizeof cps / sizeof cps[0])];
        else cp = (uint32_t)bt_below(r, 0x110000);
    } while ((cp >= 0xd800 && cp <= 0xdfff) || (cp == 0 && !nul_ok));
    return cp;
}

static uint8_t gen_byte(bt_rng *r)
{
    static const uint8_t b[] = {0x00, 0x01, 0x02, 0x7f, 0x80, 0xfe, 0xff, 'a'};
    return bt_chance(r, 75) ? b[bt_below(r, sizeof b)] : (uint8_t)bt_rand(r);
}

/* A random value of the non-tuple format f into dst; strings point into
 * store.  Values are drawn from small sets often, so that equal values
 * (and, in tuples, equal leading elements) are common. */
static void gen_elem(const birch_key_format *f, bt_rng *r, void *dst, unsigned char *store)
{
    size_t w = width(f->kind);
    if (f->kind == BIRCH_KEY_F32 || f->kind == BIRCH_KEY_F64 || f->kind == BIRCH_KEY_BOOL) {
        unsigned n = 0;
        while (gen_special(f, n, dst)) n++;
        if (f->kind == BIRCH_KEY_BOOL || bt_chance(r, 50)) {
            gen_special(f, (unsigned)bt_below(r, n), dst);
        } else if (bt_chance(r, 30)) {
            double d = (double)((int)bt_below(r, 9) - 4) / 2; /* -2 .. 2 in halves */
            float fl = (float)d;
            if (w == 4) memcpy(dst, &fl, 4);
            else memcpy(dst, &d, 8);
        } else {
            store_w(dst, w, bt_rand(r));
        }
        return;
    }
    if (w) {
        uint64_t bits;
        if (bt_chance(r, 40)) int_special(w, (unsigned)bt_below(r, 11), &bits);
        else if (bt_chance(r, 40)) bits = (uint64_t)((int64_t)bt_below(r, 7) - 3);
        else bits = bt_rand(r);
        store_w(dst, w, bits);
        return;
    }
    if (f->kind == BIRCH_KEY_FIXED) {
        for (size_t i = 0; i < f->fixed; i++) ((unsigned char *)dst)[i] = gen_byte(r);
        return;
    }
    unsigned n = (unsigned)bt_below(r, 6); /* 0..5 characters or bytes */
    size_t len = 0;
    for (unsigned i = 0; i < n; i++) {
        if (f->kind == BIRCH_KEY_BYTES) store[len++] = gen_byte(r);
        else len += put_utf8(store + len, gen_cp(r, f->kind != BIRCH_KEY_CSTR));
    }
    if (f->kind == BIRCH_KEY_CSTR) {
        store[len] = 0;
        const char *c = (const char *)store;
        memcpy(dst, &c, sizeof c);
    } else {
        birch_val v = {store, len};
        memcpy(dst, &v, sizeof v);
    }
}

/* A random value of f; tuple elements from index `from` on only (the
 * others keep what s holds). */
static void gen_from(const birch_key_format *f, bt_rng *r, slot *s, unsigned from)
{
    if (f->kind != BIRCH_KEY_TUPLE) {
        gen_elem(f, r, s->v, s->store[0]);
        return;
    }
    for (unsigned i = from; i < f->n; i++) gen_elem(f->elem[i], r, s->v + f->offset[i], s->store[i]);
}

/* ---- Typed comparison, written without the encoding's tricks ------------------- */

static int sgn(long long x) { return (x > 0) - (x < 0); }

/* Total order on floats: negative NaNs, -inf .. -0.0, +0.0 .. +inf,
 * positive NaNs; NaNs by payload (a larger negative payload first, as
 * IEEE 754 totalOrder has it). */
static int cmp_float(bool a_nan, bool a_neg, uint64_t a_bits, double a, bool b_nan, bool b_neg,
                     uint64_t b_bits, double b)
{
    int ga = a_nan ? (a_neg ? 0 : 2) : 1, gb = b_nan ? (b_neg ? 0 : 2) : 1;
    if (ga != gb) return ga < gb ? -1 : 1;
    if (ga == 0) return a_bits == b_bits ? 0 : a_bits > b_bits ? -1 : 1;
    if (ga == 2) return a_bits == b_bits ? 0 : a_bits < b_bits ? -1 : 1;
    if (a < b) return -1;
    if (a > b) return 1;
    return a_neg == b_neg ? 0 : a_neg ? -1 : 1; /* -0.0 < +0.0 */
}

/* Decodes one code point of valid UTF-8 at *p. */
static uint32_t next_cp(const uint8_t **p)
{
    const uint8_t *s = *p;
    uint32_t cp;
    size_t n;
    if (s[0] < 0x80) cp = s[0], n = 1;
    else if (s[0] < 0xe0) cp = s[0] & 0x1fu, n = 2;
    else if (s[0] < 0xf0) cp = s[0] & 0x0fu, n = 3;
    else cp = s[0] & 0x07u, n = 4;
    for (size_t i = 1; i < n; i++) cp = cp << 6 | (s[i] & 0x3fu);
    *p = s + n;
    return cp;
}

/* Strings compare by code points, byte strings by bytes; shorter first on
 * a tie. */
static int cmp_seq(const uint8_t *a, size_t an, const uint8_t *b, size_t bn, bool utf8)
{
    if (!an || !bn) return (an > 0) - (bn > 0); /* (either may be NULL then) */
    const uint8_t *ae = a + an, *be = b + bn;
    while (a < ae && b < be) {
        uint32_t x = utf8 ? next_cp(&a) : *a++;
        uint32_t y = utf8 ? next_cp(&b) : *b++;
        if (x != y) return x < y ? -1 : 1;
    }
    return (a < ae) - (b < be);
}

static void str_of(const birch_key_format *f, const void *p, const uint8_t **s, size_t *n)
{
    if (f->kind == BIRCH_KEY_CSTR) {
        const char *c;
        memcpy(&c, p, sizeof c);
        *s = (const uint8_t *)c;
        *n = strlen(c);
    } else {
        birch_val v;
        memcpy(&v, p, sizeof v);
        *s = v.data;
        *n = v.size;
    }
}

static int cmp_elem(const birch_key_format *f, const void *a, const void *b)
{
    size_t w = width(f->kind);
    if (f->kind == BIRCH_KEY_F32) {
        float x, y;
        uint32_t xb, yb;
        memcpy(&x, a, 4), memcpy(&y, b, 4), memcpy(&xb, a, 4), memcpy(&yb, b, 4);
        return cmp_float(isnan(x), signbit(x), xb, x, isnan(y), signbit(y), yb, y);
    }
    if (f->kind == BIRCH_KEY_F64) {
        double x, y;
        uint64_t xb, yb;
        memcpy(&x, a, 8), memcpy(&y, b, 8), memcpy(&xb, a, 8), memcpy(&yb, b, 8);
        return cmp_float(isnan(x), signbit(x), xb, x, isnan(y), signbit(y), yb, y);
    }
    if (w && is_signed(f->kind)) {
        int64_t x = load_i(a, w), y = load_i(b, w);
        return (x > y) - (x < y);
    }
    if (w) {
        uint64_t x = load_u(a, w), y = load_u(b, w);
        return (x > y) - (x < y);
    }
    if (f->kind == BIRCH_KEY_FIXED) return sgn(memcmp(a, b, f->fixed));
    const uint8_t *as, *bs;
    size_t an, bn;
    str_of(f, a, &as, &an);
    str_of(f, b, &bs, &bn);
    return cmp_seq(as, an, bs, bn, f->kind != BIRCH_KEY_BYTES);
}

/* Lexicographic over the first k elements of a tuple (all of a non-tuple
 * value for k >= 1). */
static int cmp_k(const birch_key_format *f, const void *a, const void *b, unsigned k)
{
    if (f->kind != BIRCH_KEY_TUPLE) return k ? cmp_elem(f, a, b) : 0;
    for (unsigned i = 0; i < k && i < f->n; i++) {
        int c = cmp_elem(f->elem[i], (const uint8_t *)a + f->offset[i], (const uint8_t *)b + f->offset[i]);
        if (c) return c;
    }
    return 0;
}

static unsigned arity(const birch_key_format *f) { return f->kind == BIRCH_KEY_TUPLE ? f->n : 1; }

/* Bit-exact equality (floats by bits, so NaN payloads and -0.0 count). */
static bool eq_elem(const birch_key_format *f, const void *a, const void *b)
{
    size_t w = width(f->kind);
    if (w) return memcmp(a, b, w) == 0;
    if (f->kind == BIRCH_KEY_FIXED) return memcmp(a, b, f->fixed) == 0;
    const uint8_t *as, *bs;
    size_t an, bn;
    str_of(f, a, &as, &an);
    str_of(f, b, &bs, &bn);
    return an == bn && (an == 0 || memcmp(as, bs, an) == 0);
}

static bool eq_value(const birch_key_format *f, const void *a, const void *b)
{
    if (f->kind != BIRCH_KEY_TUPLE) return eq_elem(f, a, b);
    for (unsigned i = 0; i < f->n; i++)
        if (!eq_elem(f->elem[i], (const uint8_t *)a + f->offset[i], (const uint8_t *)b + f->offset[i]))
            return false;
    return true;
}

/* ---- Encode / decode helpers ------------------------------------------------- */

static size_t enc(const birch_key_format *f, const void *v, uint8_t *out, size_t cap)
{
    size_t len = 0;
    int rc = birch_key_encode(f, v, out, cap, &len);
    KCHECK(rc == BIRCH_OK, "encode returned %d (%s)", rc, birch_strerror(rc));
    return len;
}

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    return bt_keycmp(a, an, b, bn);
}

/* decode(e) gives a value equal to v, that re-encodes to e; the scratch is
 * malloc'd at exactly len + 1 bytes so ASan sees any overrun.  Also: the
 * size query and a cap one byte short both report the length. */
static void check_roundtrip(const birch_key_format *f, const slot *v, const uint8_t *e, size_t n,
                            uint64_t seed)
{
    char name[BIRCH_KEY_NAME_MAX], h[512];
    uint8_t *in = malloc(n ? n : 1), *scratch = malloc(n + 1), re[1024];
    KCHECK(in && scratch, "out of memory");
    memcpy(in, e, n);
    slot d;
    memset(&d, 0xa5, sizeof d);
    int rc = birch_key_decode(f, in, n, d.v, scratch, n + 1);
    hex(e, n, h, sizeof h);
    KCHECK(rc == BIRCH_OK, "seed %" PRIu64 " %s: decode of %s gave %d", seed, fname(f, name),
                  h, rc);
    KCHECK(eq_value(f, v->v, d.v), "seed %" PRIu64 " %s: decode(encode(x)) != x for %s",
                  seed, fname(f, name), h);
    size_t m = enc(f, d.v, re, sizeof re);
    KCHECK(m == n && memcmp(re, e, n) == 0, "seed %" PRIu64 " %s: re-encode of %s differs",
                  seed, fname(f, name), h);

    size_t len = 12345;
    rc = birch_key_encode(f, v->v, NULL, 0, &len);
    KCHECK(rc == (n ? BIRCH_EKEYSIZE : BIRCH_OK) && len == n, "size query: %d, %zu", rc, len);
    if (n) {
        len = 0;
        rc = birch_key_encode(f, v->v, re, n - 1, &len);
        KCHECK(rc == BIRCH_EKEYSIZE && len == n, "cap n-1: %d, %zu", rc, len);
    }
    free(in);
    free(scratch);
}

/* For tuples: each k-prefix is a byte prefix of the key (and strictly
 * shorter for k < n), and b's key starts with a's k-prefix exactly when b
 * has a's first k elements.  For others: k = 1 is the key, k = 0 empty. */
static void check_prefixes(const birch_key_format *f, const slot *a, const uint8_t *ea, size_t na,
                           const slot *b, const uint8_t *eb, size_t nb, uint64_t seed)
{
    char name[BIRCH_KEY_NAME_MAX];
    unsigned n = arity(f);
    for (unsigned k = 0; k <= n; k++) {
        uint8_t p[1024];
        size_t pn = 0;
        int rc = birch_key_encode_prefix(f, a->v, k, p, sizeof p, &pn);
        KCHECK(rc == BIRCH_OK, "prefix %u returned %d", k, rc);
        KCHECK(pn <= na && memcmp(p, ea, pn) == 0,
                      "seed %" PRIu64 " %s: %u-prefix is not a prefix", seed, fname(f, name), k);
        KCHECK(k == n ? pn == na : f->kind != BIRCH_KEY_TUPLE || pn < na, "seed %" PRIu64 " %s: %u-prefix length %zu of %zu",
                      seed, fname(f, name), k, pn, na);
        /* (A top-level string is a byte prefix of its extensions: there
         * only equal values give equal keys.) */
        bool same = cmp_k(f, a->v, b->v, k) == 0;
        bool starts = pn <= nb && memcmp(p, eb, pn) == 0;
        if (f->kind != BIRCH_KEY_TUPLE && !width(f->kind) && f->kind != BIRCH_KEY_FIXED)
            starts = k == 0 || (pn == nb && starts);
        KCHECK(same == starts, "seed %" PRIu64 " %s: k=%u same=%d starts=%d", seed,
                      fname(f, name), k, same, starts);
    }
    size_t pn;
    KCHECK(birch_key_encode_prefix(f, a->v, n + 1, NULL, 0, &pn) == BIRCH_EINVAL, "prefix n+1");
}

/* The memcmp order of the encodings of a and b is the typed order. */
static void check_order(const birch_key_format *f, const slot *a, const slot *b, uint64_t seed)
{
    uint8_t ea[1024], eb[1024];
    size_t na = enc(f, a->v, ea, sizeof ea), nb = enc(f, b->v, eb, sizeof eb);
    int want = cmp_k(f, a->v, b->v, arity(f));
    int got = sgn(bytes_cmp(ea, na, eb, nb));
    if (want != got) {
        char name[BIRCH_KEY_NAME_MAX], ha[512], hb[512];
        hex(ea, na, ha, sizeof ha);
        hex(eb, nb, hb, sizeof hb);
        ck_abort_msg("seed %" PRIu64 " %s: typed order %d, bytes order %d: %s vs %s", seed,
                     fname(f, name), want, got, ha, hb);
    }
    check_roundtrip(f, a, ea, na, seed);
    check_prefixes(f, a, ea, na, b, eb, nb, seed);
}

/* ---- Order and round trip, per format ------------------------------------------- */

START_TEST(keys_order_random)
{
    const birch_key_format *f = formats[_i];
    uint64_t seed = bt_seed(0x6b657973ull) + (uint64_t)_i;
    bt_rng r = {seed};
    int iters = (int)bt_env_u64("BIRCH_KEY_ITERS", 20000);
    for (int it = 0; it < iters; it++) {
        slot a, b;
        memset(&a, 0, sizeof a);
        gen_from(f, &r, &a, 0);
        if (bt_chance(&r, 10)) {
            b = a; /* equal values */
        } else if (f->kind == BIRCH_KEY_TUPLE && bt_chance(&r, 40)) {
            b = a; /* equal leading elements; b's strings there point into a */
            gen_from(f, &r, &b, (unsigned)bt_below(&r, f->n));
        } else {
            memset(&b, 0, sizeof b);
            gen_from(f, &r, &b, 0);
        }
        check_order(f, &a, &b, seed);
    }
}
END_TEST

/* Every pair of edge values of each number and bool format. */
START_TEST(keys_order_specials)
{
    for (unsigned fi = 0; fi < NFORMATS; fi++) {
        const birch_key_format *f = formats[fi];
        if (!width(f->kind)) continue;
        slot a, b;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        for (unsigned i = 0; gen_special(f, i, a.v); i++)
            for (unsigned j = 0; gen_special(f, j, b.v); j++) check_order(f, &a, &b, 0);
    }
}
END_TEST

/* The float edge values in their documented order, and NaN payloads and
 * -0.0 bit for bit. */
START_TEST(keys_float_total_order)
{
    /* Ascending by the total order. */
    static const uint64_t asc[] = {
        0xffffffffffffffff, 0xfff8000000000000, 0xfff0000000000001, 0xfff0000000000000,
        0xffefffffffffffff, 0xbff0000000000000, 0x8000000000000001, 0x8000000000000000,
        0x0000000000000000, 0x0000000000000001, 0x3ff0000000000000, 0x7fefffffffffffff,
        0x7ff0000000000000, 0x7ff0000000000001, 0x7ff8000000000000, 0x7fffffffffffffff,
    };
    uint8_t prev[8], cur[8];
    for (size_t i = 0; i < sizeof asc / sizeof asc[0]; i++) {
        double d;
        memcpy(&d, &asc[i], 8);
        ck_assert_uint_eq(enc(&birch_key_f64, &d, cur, sizeof cur), 8);
        if (i) ck_assert_msg(memcmp(prev, cur, 8) < 0, "f64 edge %zu not above %zu", i, i - 1);
        memcpy(prev, cur, 8);
        double back;
        BT_OK(birch_key_decode(&birch_key_f64, cur, 8, &back, NULL, 0));
        ck_assert_msg(memcmp(&back, &asc[i], 8) == 0, "f64 edge %zu changed bits", i);
    }
    static const uint32_t asc32[] = {0xffffffff, 0xffc00000, 0xff800001, 0xff800000, 0xbf800000,
                                     0x80000000, 0x00000000, 0x3f800000, 0x7f800000, 0x7f800001,
                                     0x7fc00000, 0x7fffffff};
    for (size_t i = 0; i < sizeof asc32 / sizeof asc32[0]; i++) {
        float fl;
        memcpy(&fl, &asc32[i], 4);
        ck_assert_uint_eq(enc(&birch_key_f32, &fl, cur, sizeof cur), 4);
        if (i) ck_assert_msg(memcmp(prev, cur, 4) < 0, "f32 edge %zu not above %zu", i, i - 1);
        memcpy(prev, cur, 4);
        float back;
        BT_OK(birch_key_decode(&birch_key_f32, cur, 4, &back, NULL, 0));
        ck_assert_msg(memcmp(&back, &asc32[i], 4) == 0, "f32 edge %zu changed bits", i);
    }
}
END_TEST

/* ---- Every byte string decodes strictly ------------------------------------------ */

/* decode(b) either fails with EFORMAT or gives a value whose encoding is b
 * again.  Returns 1 if it decoded. */
static int check_bytes(const birch_key_format *f, const uint8_t *b, size_t n)
{
    slot d;
    uint8_t *in = malloc(n ? n : 1), *scratch = malloc(n + 1), re[1024];
    KCHECK(in && scratch, "out of memory");
    memcpy(in, b, n);
    int rc = birch_key_decode(f, in, n, d.v, scratch, n + 1);
    char name[BIRCH_KEY_NAME_MAX], h[512];
    if (rc != BIRCH_OK && rc != BIRCH_EFORMAT) {
        hex(b, n, h, sizeof h);
        ck_abort_msg("%s: decode of %s gave %d", fname(f, name), h, rc);
    }
    if (rc == BIRCH_OK) {
        size_t m = enc(f, d.v, re, sizeof re);
        if (m != n || memcmp(re, b, n) != 0) {
            hex(b, n, h, sizeof h);
            ck_abort_msg("%s: %s decodes but re-encodes differently", fname(f, name), h);
        }
    }
    free(in);
    free(scratch);
    return rc == BIRCH_OK;
}

/* All strings of length 0..maxlen over the alphabet (all 256 bytes when
 * alpha is NULL).  Returns how many decoded. */
static long exhaust(const birch_key_format *f, const uint8_t *alpha, unsigned na, size_t maxlen)
{
    long ok = 0;
    uint8_t b[16];
    unsigned idx[16];
    if (!alpha) na = 256;
    for (size_t len = 0; len <= maxlen; len++) {
        memset(idx, 0, sizeof idx);
        for (;;) {
            for (size_t i = 0; i < len; i++) b[i] = alpha ? alpha[idx[i]] : (uint8_t)idx[i];
            ok += check_bytes(f, b, len);
            size_t i = 0;
            while (i < len && ++idx[i] == na) idx[i++] = 0;
            if (i == len) break;
        }
    }
    return ok;
}

START_TEST(keys_decode_exhaustive)
{
    /* One- and two-byte formats: every input of up to 2 bytes (so every
     * wrong width too); exactly the right width decodes, bool only 0/1. */
    ck_assert_int_eq(exhaust(&birch_key_u8, NULL, 0, 2), 256);
    ck_assert_int_eq(exhaust(&birch_key_i8, NULL, 0, 2), 256);
    ck_assert_int_eq(exhaust(&birch_key_bool, NULL, 0, 2), 2);
    ck_assert_int_eq(exhaust(&birch_key_u16, NULL, 0, 2), 65536);
    ck_assert_int_eq(exhaust(&birch_key_i16, NULL, 0, 2), 65536);
    ck_assert_int_eq(exhaust(&fx1, NULL, 0, 2), 256);

    /* Strings and tuples: an alphabet with the escape bytes, a UTF-8 pair
     * (c3 a9), a stray continuation and an invalid lead byte. */
    static const uint8_t al[] = {0x00, 0x01, 0xff, 'a', 0xc3, 0xa9, 0x80, 0x02};
    const unsigned na = sizeof al;
    ck_assert_int_gt(exhaust(&birch_key_string, al, na, 5), 0);
    ck_assert_int_gt(exhaust(&birch_key_cstr, al, na, 5), 0);
    ck_assert_int_eq(exhaust(&birch_key_bytes, al, na, 4), 1 + 8 + 64 + 512 + 4096);
    ck_assert_int_gt(exhaust(&tk_bb, al, na, 6), 0);
    ck_assert_int_gt(exhaust(&tk_sub, al, na, 6), 0);
    ck_assert_int_gt(exhaust(&tn1, al, na, 3), 0);
    ck_assert_int_gt(exhaust(&fx3, al, na, 4), 0);
}
END_TEST

/* Valid encodings with a byte changed, inserted, removed, or cut off. */
START_TEST(keys_decode_mutations)
{
    uint64_t seed = bt_seed(0x6d757461ull);
    bt_rng r = {seed};
    for (unsigned fi = 0; fi < NFORMATS; fi++) {
        const birch_key_format *f = formats[fi];
        for (int it = 0; it < 3000; it++) {
            slot a;
            memset(&a, 0, sizeof a);
            gen_from(f, &r, &a, 0);
            uint8_t e[1024];
            size_t n = enc(f, a.v, e, sizeof e - 8);
            switch (bt_below(&r, 4)) {
            case 0: if (n) e[bt_below(&r, n)] = gen_byte(&r); break;
            case 1: {
                size_t at = bt_below(&r, n + 1);
                memmove(e + at + 1, e + at, n - at);
                e[at] = gen_byte(&r);
                n++;
                break;
            }
            case 2: if (n) { size_t at = bt_below(&r, n); memmove(e + at, e + at + 1, n - at - 1); n--; } break;
            default: n = bt_below(&r, n + 1); break;
            }
            check_bytes(f, e, n);
        }
    }
}
END_TEST

/* ---- Known encodings ----------------------------------------------------------------- */

static void expect_enc(const birch_key_format *f, const void *v, const char *want, size_t wn)
{
    uint8_t e[256];
    size_t n = enc(f, v, e, sizeof e);
    char h1[512], h2[512], name[BIRCH_KEY_NAME_MAX];
    hex(e, n, h1, sizeof h1);
    hex(want, wn, h2, sizeof h2);
    ck_assert_msg(n == wn && memcmp(e, want, wn) == 0, "%s: got %s, want %s", fname(f, name), h1, h2);
}
#define EXPECT_ENC(f, v, lit) expect_enc(f, v, lit, sizeof lit - 1)

START_TEST(keys_known_encodings)
{
    uint8_t u8 = 0xab;
    uint16_t u16 = 0x1234;
    uint32_t u32 = 0x01020304;
    uint64_t u64 = 0x0102030405060708ull;
    EXPECT_ENC(&birch_key_u8, &u8, "\xab");
    EXPECT_ENC(&birch_key_u16, &u16, "\x12\x34");
    EXPECT_ENC(&birch_key_u32, &u32, "\x01\x02\x03\x04");
    EXPECT_ENC(&birch_key_u64, &u64, "\x01\x02\x03\x04\x05\x06\x07\x08");
    int8_t i8 = -1;
    EXPECT_ENC(&birch_key_i8, &i8, "\x7f");
    i8 = 0;
    EXPECT_ENC(&birch_key_i8, &i8, "\x80");
    int16_t i16 = INT16_MIN;
    EXPECT_ENC(&birch_key_i16, &i16, "\x00\x00");
    int32_t i32 = -2;
    EXPECT_ENC(&birch_key_i32, &i32, "\x7f\xff\xff\xfe");
    int64_t i64 = INT64_MAX;
    EXPECT_ENC(&birch_key_i64, &i64, "\xff\xff\xff\xff\xff\xff\xff\xff");
    i64 = INT64_MIN;
    EXPECT_ENC(&birch_key_i64, &i64, "\x00\x00\x00\x00\x00\x00\x00\x00");
    float fl = 1.0f;
    EXPECT_ENC(&birch_key_f32, &fl, "\xbf\x80\x00\x00");
    fl = -1.0f;
    EXPECT_ENC(&birch_key_f32, &fl, "\x40\x7f\xff\xff");
    fl = -0.0f;
    EXPECT_ENC(&birch_key_f32, &fl, "\x7f\xff\xff\xff");
    fl = 0.0f;
    EXPECT_ENC(&birch_key_f32, &fl, "\x80\x00\x00\x00");
    double d = -INFINITY;
    EXPECT_ENC(&birch_key_f64, &d, "\x00\x0f\xff\xff\xff\xff\xff\xff");
    d = 2.0;
    EXPECT_ENC(&birch_key_f64, &d, "\xc0\x00\x00\x00\x00\x00\x00\x00");
    bool t = true;
    EXPECT_ENC(&birch_key_bool, &t, "\x01");

    /* Top level: strings and bytes as they are; cstr like string. */
    birch_val s = bt_str("h\xc3\xa9llo");
    EXPECT_ENC(&birch_key_string, &s, "h\xc3\xa9llo");
    const char *c = "h\xc3\xa9llo";
    EXPECT_ENC(&birch_key_cstr, &c, "h\xc3\xa9llo");
    birch_val by = bt_val("\x00\xff\x00", 3);
    EXPECT_ENC(&birch_key_bytes, &by, "\x00\xff\x00");
    birch_val empty = bt_val(NULL, 0);
    EXPECT_ENC(&birch_key_bytes, &empty, "");
    uint8_t uuid[16] = {0xde, 0xad, 0, 0xff};
    EXPECT_ENC(&fx16, uuid, "\xde\xad\x00\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00");

    /* Tuples: 0x00 escaped as 00 ff, each string ends with 00 01. */
    t_us us = {1, bt_val("a\0", 2)};
    EXPECT_ENC(&tk_us, &us, "\x00\x00\x00\x00\x00\x00\x00\x01" "a\x00\xff\x00\x01");
    t_bb bb = {bt_val(NULL, 0), bt_val("\xff", 1)};
    EXPECT_ENC(&tk_bb, &bb, "\x00\x01\xff\x00\x01");
    t_idbc idbc = {-1, 0.0, true, "x"};
    EXPECT_ENC(&tk_idbc, &idbc, "\x7f\xff\xff\xff\x80\x00\x00\x00\x00\x00\x00\x00\x01x\x00\x01");
}
END_TEST

/* The inputs that a single 0x00 terminator would make ambiguous encode
 * differently and decode back. */
START_TEST(keys_terminator_unambiguous)
{
    slot a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    t_bb x = {bt_val(NULL, 0), bt_val("\xff\x00", 2)}, y = {bt_val("\x00", 1), bt_val("\xff", 1)};
    memcpy(a.v, &x, sizeof x);
    memcpy(b.v, &y, sizeof y);
    check_order(&tk_bb, &a, &b, 0);
    check_order(&tk_bb, &b, &a, 0);
    t_sub p = {bt_str("a"), 0xff, bt_val("\0x", 2)}, q = {bt_val("a\0", 2), 0xff, bt_str("x")};
    memcpy(a.v, &p, sizeof p);
    memcpy(b.v, &q, sizeof q);
    check_order(&tk_sub, &a, &b, 0);
    check_order(&tk_sub, &b, &a, 0);
    /* "a" < "a\0" < "a\1" < "b" inside a tuple. */
    const char *s[] = {"a", "a\0", "a\1", "b"};
    const size_t sn[] = {1, 2, 2, 1};
    for (int i = 0; i < 3; i++) {
        t_bb u = {bt_val(s[i], sn[i]), bt_val("\xff", 1)}, v = {bt_val(s[i + 1], sn[i + 1]), bt_val(NULL, 0)};
        memcpy(a.v, &u, sizeof u);
        memcpy(b.v, &v, sizeof v);
        check_order(&tk_bb, &a, &b, 0);
    }
}
END_TEST

/* ---- Names ------------------------------------------------------------------------- */

static void expect_name(const birch_key_format *f, const char *want)
{
    char buf[BIRCH_KEY_NAME_MAX];
    int n = birch_key_name(f, buf, sizeof buf);
    ck_assert_int_eq(n, (int)strlen(want));
    ck_assert_str_eq(buf, want);
    if (f->name) ck_assert_str_eq(f->name, want);
    /* Exactly enough room, and one byte less. */
    char *exact = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(exact);
    ck_assert_int_eq(birch_key_name(f, exact, (size_t)n + 1), n);
    ck_assert_str_eq(exact, want);
    BT_RC(birch_key_name(f, exact, (size_t)n), BIRCH_EINVAL);
    free(exact);
}

START_TEST(keys_names)
{
    expect_name(&birch_key_u8, "u8");
    expect_name(&birch_key_u16, "u16");
    expect_name(&birch_key_u32, "u32");
    expect_name(&birch_key_u64, "u64");
    expect_name(&birch_key_i8, "i8");
    expect_name(&birch_key_i16, "i16");
    expect_name(&birch_key_i32, "i32");
    expect_name(&birch_key_i64, "i64");
    expect_name(&birch_key_f32, "f32");
    expect_name(&birch_key_f64, "f64");
    expect_name(&birch_key_bool, "bool");
    expect_name(&birch_key_string, "string");
    expect_name(&birch_key_cstr, "string");
    expect_name(&birch_key_bytes, "bytes");
    expect_name(&fx1, "fixed(1)");
    expect_name(&fx16, "fixed(16)");
    expect_name(&tk_us, "tuple(u64,string)");
    expect_name(&tk_idbc, "tuple(i32,f64,bool,string)");
    expect_name(&tk_fsi, "tuple(fixed(3),string,i16)");
    expect_name(&tk_8, "tuple(u8,i64,f32,bytes,string,fixed(1),bool,u16)");
    expect_name(&tn1, "tuple(u8)");
    expect_name(&tn8, "tuple(u8,u8,u8,u8,u8,u8,u8,u8)");

    /* The longest name there can be fits BIRCH_KEY_NAME_MAX. */
    const birch_key_format big = {NULL, BIRCH_KEY_FIXED, SIZE_MAX, SIZE_MAX, 0, NULL, NULL};
    const birch_key_format *const el[8] = {&big, &big, &big, &big, &big, &big, &big, &big};
    const size_t off[8] = {0};
    const birch_key_format tup = {NULL, BIRCH_KEY_TUPLE, SIZE_MAX, 0, 8, el, off};
    char buf[BIRCH_KEY_NAME_MAX];
    int n = birch_key_name(&tup, buf, sizeof buf);
    ck_assert_int_gt(n, 8 * 20);
    ck_assert_int_lt(n, BIRCH_KEY_NAME_MAX);

    BT_RC(birch_key_name(NULL, buf, sizeof buf), BIRCH_EINVAL);
    BT_RC(birch_key_name(&birch_key_u8, NULL, 10), BIRCH_EINVAL);
    BT_RC(birch_key_name(&birch_key_u8, buf, 0), BIRCH_EINVAL);
}
END_TEST

/* Tuples of 1..8 elements. */
START_TEST(keys_tuple_arity)
{
    const birch_key_format *const tn[] = {&tn1, &tn2, &tn3, &tn4, &tn5, &tn6, &tn7, &tn8};
    t_n v = {{1, 2, 3, 4, 5, 6, 7, 8}};
    for (unsigned k = 1; k <= 8; k++) {
        const birch_key_format *f = tn[k - 1];
        ck_assert_uint_eq(f->n, k);
        ck_assert_uint_eq(f->c_size, sizeof(t_n));
        uint8_t e[16];
        ck_assert_uint_eq(enc(f, &v, e, sizeof e), k);
        ck_assert_mem_eq(e, v.e, k);
        t_n back = {{0}};
        BT_OK(birch_key_decode(f, e, k, &back, NULL, 0));
        ck_assert_mem_eq(back.e, v.e, k);
    }
}
END_TEST

/* ---- Bad input ---------------------------------------------------------------------- */

/* Byte strings that are not UTF-8, each with why. */
static const struct {
    const char *s;
    size_t n;
} bad_utf8[] = {
#define B(lit) {lit, sizeof lit - 1}
    B("\x80"),              /* lone continuation */
    B("\xbf"),
    B("a\x80z"),
    B("\xc0\x80"),          /* overlong NUL */
    B("\xc1\xbf"),          /* overlong 2-byte */
    B("\xe0\x80\x80"),      /* overlong 3-byte */
    B("\xe0\x9f\xbf"),
    B("\xf0\x80\x80\x80"),  /* overlong 4-byte */
    B("\xf0\x8f\xbf\xbf"),
    B("\xed\xa0\x80"),      /* surrogates */
    B("\xed\xbf\xbf"),
    B("\xed\xa0\xbd\xed\xb8\x80"), /* CESU-8 pair */
    B("\xf4\x90\x80\x80"),  /* above U+10FFFF */
    B("\xf5\x80\x80\x80"),
    B("\xf8\x88\x80\x80\x80"),
    B("\xfe"),
    B("\xff"),
    B("\xc3"),              /* truncated */
    B("a\xe2\x82"),
    B("\xf0\x9f\x98"),
    B("\xc3\x41"),          /* bad continuation */
    B("\xe2\x28\xa1"),
    B("\xf0\x9f\x98\x41"),
#undef B
};

START_TEST(keys_bad_utf8)
{
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        const char *s = bad_utf8[i].s;
        size_t n = bad_utf8[i].n, len;
        uint8_t out[64], scratch[64];
        birch_val v = bt_val(s, n);
        ck_assert_msg(birch_key_encode(&birch_key_string, &v, out, sizeof out, &len) == BIRCH_EINVAL,
                      "bad UTF-8 #%zu encoded", i);
        char cbuf[16];
        memcpy(cbuf, s, n);
        cbuf[n] = 0;
        const char *c = cbuf;
        ck_assert_msg(birch_key_encode(&birch_key_cstr, &c, out, sizeof out, &len) == BIRCH_EINVAL,
                      "bad UTF-8 #%zu encoded as cstr", i);
        t_us us = {7, v};
        ck_assert_msg(birch_key_encode(&tk_us, &us, out, sizeof out, &len) == BIRCH_EINVAL,
                      "bad UTF-8 #%zu encoded in a tuple", i);
        /* As bytes it is fine. */
        ck_assert_uint_eq(enc(&birch_key_bytes, &v, out, sizeof out), n);

        /* Decoding refuses the same bytes, at the top level and in a tuple. */
        birch_val d;
        ck_assert_msg(birch_key_decode(&birch_key_string, s, n, &d, NULL, 0) == BIRCH_EFORMAT,
                      "bad UTF-8 #%zu decoded", i);
        ck_assert_msg(birch_key_decode(&birch_key_cstr, s, n, &c, scratch, sizeof scratch) == BIRCH_EFORMAT,
                      "bad UTF-8 #%zu decoded as cstr", i);
        t_bb bb = {bt_val("z", 1), v};
        size_t en = enc(&tk_bb, &bb, out, sizeof out);
        t_us back;
        uint8_t tu[64] = {0, 0, 0, 0, 0, 0, 0, 7};
        memcpy(tu + 8, out + 3, en - 3); /* the second element, escaped */
        ck_assert_msg(birch_key_decode(&tk_us, tu, 8 + en - 3, &back, scratch, sizeof scratch) == BIRCH_EFORMAT,
                      "bad UTF-8 #%zu decoded in a tuple", i);
    }
    /* The edges of the valid ranges pass. */
    static const char *const good[] = {"\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf",
                                       "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
                                       "\xf4\x8f\xbf\xbf", "\x7f", ""};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        birch_val v = bt_str(good[i]), d;
        uint8_t out[16];
        size_t n = enc(&birch_key_string, &v, out, sizeof out);
        BT_OK(birch_key_decode(&birch_key_string, out, n, &d, NULL, 0));
        ck_assert_uint_eq(d.size, v.size);
    }
    /* U+0000 is valid UTF-8 for string, but no cstr holds it. */
    birch_val nul = bt_val("a\0b", 3), d;
    const char *c;
    char scratch[8];
    uint8_t out[16];
    ck_assert_uint_eq(enc(&birch_key_string, &nul, out, sizeof out), 3);
    BT_OK(birch_key_decode(&birch_key_string, out, 3, &d, NULL, 0));
    BT_RC(birch_key_decode(&birch_key_cstr, out, 3, &c, scratch, sizeof scratch), BIRCH_EFORMAT);
    t_idbc ti;
    static const char with_nul[] = "\x7f\xff\xff\xff\x80\x00\x00\x00\x00\x00\x00\x00\x01x\x00\xff\x00\x01";
    BT_RC(birch_key_decode(&tk_idbc, with_nul, sizeof with_nul - 1, &ti, scratch, sizeof scratch),
          BIRCH_EFORMAT);
}
END_TEST

static void expect_eformat(const birch_key_format *f, const char *in, size_t n)
{
    slot d;
    memset(&d, 0x5a, sizeof d);
    uint8_t scratch[64];
    char name[BIRCH_KEY_NAME_MAX], h[256];
    int rc = birch_key_decode(f, in, n, d.v, scratch, sizeof scratch);
    hex(in, n, h, sizeof h);
    ck_assert_msg(rc == BIRCH_EFORMAT, "%s: %s gave %d, not EFORMAT", fname(f, name), h, rc);
    /* The value is left as it was. */
    for (size_t i = 0; i < sizeof d.v; i++) ck_assert_uint_eq(d.v[i], 0x5a);
}
#define EXPECT_EFORMAT(f, lit) expect_eformat(f, lit, sizeof lit - 1)

START_TEST(keys_bad_bytes)
{
    /* Wrong widths. */
    for (unsigned fi = 0; fi < NFORMATS; fi++) {
        const birch_key_format *f = formats[fi];
        size_t w = width(f->kind);
        if (f->kind == BIRCH_KEY_FIXED) w = f->fixed;
        if (!w) continue;
        static const char zeros[17] = {0};
        expect_eformat(f, zeros, w - 1);
        expect_eformat(f, zeros, w + 1);
    }
    EXPECT_EFORMAT(&birch_key_bool, "\x02");
    EXPECT_EFORMAT(&birch_key_bool, "\xff");
    EXPECT_EFORMAT(&birch_key_bool, "");

    /* Tuples: terminators and escapes. */
    EXPECT_EFORMAT(&tk_bb, "");                        /* nothing */
    EXPECT_EFORMAT(&tk_bb, "a");                       /* no terminator */
    EXPECT_EFORMAT(&tk_bb, "\x00");                    /* escape cut short */
    EXPECT_EFORMAT(&tk_bb, "\x00\x01");                /* second element missing */
    EXPECT_EFORMAT(&tk_bb, "\x00\x01\x00");
    EXPECT_EFORMAT(&tk_bb, "\x00\x02\x00\x01\x00\x01"); /* bad escape */
    EXPECT_EFORMAT(&tk_bb, "\x00\x00\x00\x01\x00\x01");
    EXPECT_EFORMAT(&tk_bb, "\x00\x01\x00\x01\x00");    /* trailing bytes */
    EXPECT_EFORMAT(&tk_bb, "\x00\x01\x00\x01" "a");
    EXPECT_EFORMAT(&tk_bb, "\x00\x01\x00\xff");        /* NUL, then no end */
    EXPECT_EFORMAT(&tk_us, "\x00\x00\x00\x00\x00\x00\x00");        /* short u64 */
    EXPECT_EFORMAT(&tk_us, "\x00\x00\x00\x00\x00\x00\x00\x01");    /* string missing */
    EXPECT_EFORMAT(&tk_us, "\x00\x00\x00\x00\x00\x00\x00\x01" "a"); /* unterminated */
    EXPECT_EFORMAT(&tk_fsi, "abc\x00\x01\x80");                    /* short i16 */
    EXPECT_EFORMAT(&tk_fsi, "abc\x00\x01\x80\x00\x00");            /* trailing */
    EXPECT_EFORMAT(&tk_idbc, "\x7f\xff\xff\xff\x80\x00\x00\x00\x00\x00\x00\x00\x02x\x00\x01"); /* bool 2 */

    /* The same inputs well-formed decode. */
    t_bb bb;
    BT_OK(birch_key_decode(&tk_bb, "\x00\x01\x00\x01", 4, &bb, NULL, 0));
    ck_assert_uint_eq(bb.a.size, 0);
    ck_assert_uint_eq(bb.b.size, 0);
    uint8_t scratch[8];
    BT_OK(birch_key_decode(&tk_bb, "\x00\xff\x00\x01\xff\x00\x01", 7, &bb, scratch, sizeof scratch));
    ck_assert_uint_eq(bb.a.size, 1);
    ck_assert_mem_eq(bb.a.data, "\x00", 1);
    ck_assert_uint_eq(bb.b.size, 1);
    ck_assert_mem_eq(bb.b.data, "\xff", 1);
}
END_TEST

START_TEST(keys_bad_args)
{
    uint8_t out[64], scratch[64];
    size_t len;
    uint64_t u = 5;
    /* NULL pointers. */
    BT_RC(birch_key_encode(NULL, &u, out, sizeof out, &len), BIRCH_EINVAL);
    BT_RC(birch_key_encode(&birch_key_u64, NULL, out, sizeof out, &len), BIRCH_EINVAL);
    BT_RC(birch_key_encode(&birch_key_u64, &u, NULL, sizeof out, &len), BIRCH_EINVAL);
    BT_RC(birch_key_encode(&birch_key_u64, &u, out, sizeof out, NULL), BIRCH_EINVAL);
    BT_RC(birch_key_encode_prefix(NULL, &u, 1, out, sizeof out, &len), BIRCH_EINVAL);
    BT_RC(birch_key_encode_prefix(&birch_key_u64, NULL, 1, out, sizeof out, &len), BIRCH_EINVAL);
    BT_RC(birch_key_decode(NULL, out, 8, &u, NULL, 0), BIRCH_EINVAL);
    BT_RC(birch_key_decode(&birch_key_u64, NULL, 8, &u, NULL, 0), BIRCH_EINVAL);
    BT_RC(birch_key_decode(&birch_key_u64, out, 8, NULL, NULL, 0), BIRCH_EINVAL);
    BT_RC(birch_key_decode(&birch_key_u64, out, 8, &u, NULL, 4), BIRCH_EINVAL);
    /* An empty input may be NULL. */
    birch_val v = {"x", 1};
    BT_OK(birch_key_decode(&birch_key_bytes, NULL, 0, &v, NULL, 0));
    ck_assert_uint_eq(v.size, 0);
    BT_RC(birch_key_decode(&birch_key_u64, NULL, 0, &u, NULL, 0), BIRCH_EFORMAT);

    /* Values that are not values. */
    birch_val nulldata = {NULL, 3};
    BT_RC(birch_key_encode(&birch_key_bytes, &nulldata, out, sizeof out, &len), BIRCH_EINVAL);
    BT_RC(birch_key_encode(&birch_key_string, &nulldata, out, sizeof out, &len), BIRCH_EINVAL);
    const char *nullc = NULL;
    BT_RC(birch_key_encode(&birch_key_cstr, &nullc, out, sizeof out, &len), BIRCH_EINVAL);
    t_idbc ti = {1, 2.0, true, NULL};
    BT_RC(birch_key_encode(&tk_idbc, &ti, out, sizeof out, &len), BIRCH_EINVAL);
    /* ...but the prefix before the NULL string is fine. */
    BT_OK(birch_key_encode_prefix(&tk_idbc, &ti, 3, out, sizeof out, &len));
    ck_assert_uint_eq(len, 13);
    unsigned char notbool = 2;
    BT_RC(birch_key_encode(&birch_key_bool, &notbool, out, sizeof out, &len), BIRCH_EINVAL);

    /* Prefix lengths. */
    BT_RC(birch_key_encode_prefix(&birch_key_u64, &u, 2, out, sizeof out, &len), BIRCH_EINVAL);
    BT_OK(birch_key_encode_prefix(&birch_key_u64, &u, 0, out, sizeof out, &len));
    ck_assert_uint_eq(len, 0);
    t_us us = {1, bt_str("abc")};
    BT_RC(birch_key_encode_prefix(&tk_us, &us, 3, out, sizeof out, &len), BIRCH_EINVAL);
    BT_OK(birch_key_encode_prefix(&tk_us, &us, 1, out, sizeof out, &len));
    ck_assert_uint_eq(len, 8);

    /* cap too small: EKEYSIZE with the size needed, for encode and prefix. */
    len = 0;
    BT_RC(birch_key_encode(&tk_us, &us, out, 12, &len), BIRCH_EKEYSIZE);
    ck_assert_uint_eq(len, 13);
    len = 0;
    BT_RC(birch_key_encode(&tk_us, &us, NULL, 0, &len), BIRCH_EKEYSIZE);
    ck_assert_uint_eq(len, 13);
    len = 0;
    BT_RC(birch_key_encode_prefix(&tk_us, &us, 1, out, 7, &len), BIRCH_EKEYSIZE);
    ck_assert_uint_eq(len, 8);
    BT_OK(birch_key_encode(&tk_us, &us, out, 13, &len));
    ck_assert_uint_eq(len, 13);

    /* Scratch too small: EKEYSIZE, and the value is left alone; a
     * malformed input says EFORMAT whatever the scratch. */
    t_bb bb = {bt_val("keep", 4), bt_val("keep", 4)};
    BT_RC(birch_key_decode(&tk_bb, "a\x00\x01" "b\x00\x01", 6, &bb, scratch, 1), BIRCH_EKEYSIZE);
    ck_assert_mem_eq(bb.a.data, "keep", 4);
    BT_RC(birch_key_decode(&tk_bb, "a\x00\x01" "b\x00\x01", 6, &bb, NULL, 0), BIRCH_EKEYSIZE);
    BT_OK(birch_key_decode(&tk_bb, "a\x00\x01" "b\x00\x01", 6, &bb, scratch, 2));
    ck_assert_mem_eq(bb.a.data, "a", 1);
    ck_assert_mem_eq(bb.b.data, "b", 1);
    BT_RC(birch_key_decode(&tk_bb, "a\x00\x01" "b\x00\x02", 6, &bb, NULL, 0), BIRCH_EFORMAT);
    const char *c = "keep";
    BT_RC(birch_key_decode(&birch_key_cstr, "ab", 2, &c, scratch, 2), BIRCH_EKEYSIZE);
    ck_assert_str_eq(c, "keep");
    BT_OK(birch_key_decode(&birch_key_cstr, "ab", 2, &c, scratch, 3));
    ck_assert_str_eq(c, "ab");
    BT_OK(birch_key_decode(&birch_key_cstr, NULL, 0, &c, scratch, 1));
    ck_assert_str_eq(c, "");
    /* Top-level strings point into the input and need no scratch. */
    birch_val sv;
    const char *in = "abc";
    BT_OK(birch_key_decode(&birch_key_string, in, 3, &sv, NULL, 0));
    ck_assert_ptr_eq(sv.data, in);
    ck_assert_uint_eq(sv.size, 3);
}
END_TEST

/* Formats that are not formats: refused by every function. */
START_TEST(keys_bad_formats)
{
    static const birch_key_format *const tuple_in[] = {&tk_us};
    static const birch_key_format *const null_in[] = {NULL};
    static const birch_key_format *const u8s[9] = {&birch_key_u8, &birch_key_u8, &birch_key_u8,
                                                   &birch_key_u8, &birch_key_u8, &birch_key_u8,
                                                   &birch_key_u8, &birch_key_u8, &birch_key_u8};
    static const size_t offs[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    static const size_t far[1] = {200};
    const birch_key_format bad[] = {
        {NULL, 99, 8, 0, 0, NULL, NULL},                       /* unknown kind */
        {NULL, -1, 8, 0, 0, NULL, NULL},
        {NULL, BIRCH_KEY_U32, 8, 0, 0, NULL, NULL},            /* wrong C size */
        {NULL, BIRCH_KEY_STRING, 8, 0, 0, NULL, NULL},
        {NULL, BIRCH_KEY_FIXED, 0, 0, 0, NULL, NULL},          /* fixed(0) */
        {NULL, BIRCH_KEY_FIXED, 4, 8, 0, NULL, NULL},          /* larger than its C size */
        {NULL, BIRCH_KEY_TUPLE, 64, 0, 0, u8s, offs},          /* 0 elements */
        {NULL, BIRCH_KEY_TUPLE, 64, 0, 9, u8s, offs},          /* 9 elements */
        {NULL, BIRCH_KEY_TUPLE, 64, 0, 1, tuple_in, offs},     /* nested tuple */
        {NULL, BIRCH_KEY_TUPLE, 64, 0, 1, null_in, offs},      /* NULL element */
        {NULL, BIRCH_KEY_TUPLE, 64, 0, 1, NULL, offs},
        {NULL, BIRCH_KEY_TUPLE, 64, 0, 1, u8s, NULL},
        {NULL, BIRCH_KEY_TUPLE, 64, 0, 1, u8s, far},           /* element outside the struct */
        {NULL, BIRCH_KEY_TUPLE, 8, 0, 8, u8s, offs + 1},       /* last one just outside */
    };
    _Alignas(16) uint8_t val[256] = {0}, out[64], scratch[64];
    char name[BIRCH_KEY_NAME_MAX];
    size_t len;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const birch_key_format *f = &bad[i];
        ck_assert_msg(birch_key_name(f, name, sizeof name) == BIRCH_EINVAL, "bad format %zu named", i);
        ck_assert_msg(birch_key_encode(f, val, out, sizeof out, &len) == BIRCH_EINVAL,
                      "bad format %zu encoded", i);
        ck_assert_msg(birch_key_encode_prefix(f, val, 0, out, sizeof out, &len) == BIRCH_EINVAL,
                      "bad format %zu prefix", i);
        ck_assert_msg(birch_key_decode(f, out, 8, val, scratch, sizeof scratch) == BIRCH_EINVAL,
                      "bad format %zu decoded", i);
    }
    /* A hand-made format that is fine: 8 u8 elements ending at c_size. */
    const birch_key_format ok = {NULL, BIRCH_KEY_TUPLE, 8, 0, 8, u8s, offs};
    ck_assert_int_eq(birch_key_name(&ok, name, sizeof name), 30);
    ck_assert_uint_eq(enc(&ok, val, out, sizeof out), 8);
}
END_TEST

/* Empty top-level string, cstr and bytes keys.  The format encodes one (to
 * zero bytes, which decode back), but the engine's keys are 1 to
 * birch_max_key_size() bytes, so a typed table refuses it with
 * BIRCH_EKEYSIZE: put, delete and put_batch with or without a transaction,
 * get and contains in a read or write transaction; nothing is written and
 * the transaction stays usable.  As a stream bound it is accepted and lies
 * below every key; as a prefix it is every key.  Inside a tuple an empty
 * string is an ordinary element. */
START_TEST(keys_empty_top_level)
{
    char *path = bt_path("empty_keys");
    birch_options opts = bt_opts_fast();
    birch_db *db = bt_open(path, &opts);
    free(path);
    const birch_key_format *const fmts[] = {&birch_key_string, &birch_key_cstr, &birch_key_bytes};
    static const char *const names[] = {"string", "cstr", "bytes"};
    for (size_t f = 0; f < 3; f++) {
        char tname[16];
        snprintf(tname, sizeof tname, "t%zu", f);
        birch_typed t;
        int rc = birch_typed_open(db, NULL, tname, fmts[f], &birch_value_string, BIRCH_CREATE, &t);
        ck_assert_msg(rc == BIRCH_OK, "%s: typed_open %d: %s", names[f], rc, t.msg);
        birch_val ev = bt_val("", 0), nv = bt_val(NULL, 0), kv = bt_val("k", 1), val = bt_str("v");
        const char *ec = "", *kc = "k";
        const void *empty = f == 1 ? (const void *)&ec : (const void *)&ev;
        const void *key = f == 1 ? (const void *)&kc : (const void *)&kv;
        /* The encoding exists: zero bytes, which decode to the empty value. */
        uint8_t out[8];
        size_t len = 99;
        BT_OK(birch_key_encode(fmts[f], empty, out, sizeof out, &len));
        ck_assert_uint_eq(len, 0);
        if (f != 1) {
            BT_OK(birch_key_encode(fmts[f], &nv, NULL, 0, &len)); /* {NULL, 0} is empty too */
            ck_assert_uint_eq(len, 0);
        }
        BT_OK(birch_typed_put(NULL, &t, key, &val, 0));
        /* Refused by the table, with or without a transaction. */
        for (int in_txn = 0; in_txn < 2; in_txn++) {
            birch_txn *w = in_txn ? bt_begin(db, BIRCH_TXN_WRITE) : NULL;
            BT_RC(birch_typed_put(w, &t, empty, &val, 0), BIRCH_EKEYSIZE);
            if (f != 1) BT_RC(birch_typed_put(w, &t, &nv, &val, 0), BIRCH_EKEYSIZE);
            birch_guard g = {0};
            BT_RC(birch_typed_get(w, &t, empty, &g), BIRCH_EKEYSIZE);
            BT_RC(birch_typed_contains(w, &t, empty), BIRCH_EKEYSIZE);
            BT_RC(birch_typed_delete(w, &t, empty), BIRCH_EKEYSIZE);
            const void *keys2[2] = {key, empty};
            birch_val ks2[2], vs2[2] = {val, val};
            const char *cs2[2];
            for (int i = 0; i < 2; i++) {
                if (f == 1) cs2[i] = *(const char *const *)keys2[i];
                else ks2[i] = *(const birch_val *)keys2[i];
            }
            BT_RC(birch_typed_put_batch(w, &t, 2, f == 1 ? (const void *)cs2 : (const void *)ks2, vs2),
                  BIRCH_EKEYSIZE);
            if (w) BT_OK(birch_txn_commit(w)); /* still usable: nothing was written */
        }
        birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
        birch_guard g = {0};
        BT_RC(birch_typed_get(r, &t, empty, &g), BIRCH_EKEYSIZE);
        BT_RC(birch_typed_contains(r, &t, empty), BIRCH_EKEYSIZE);
        ck_assert_uint_eq(bt_count(r, t.table), 1);
        birch_txn_abort(r);
        /* A stream bound: below every key.  A prefix: every key. */
        for (int mode = BIRCH_INCLUSIVE; mode <= BIRCH_EXCLUSIVE; mode++)
            for (int rev = 0; rev < 2; rev++) {
                size_t n = 99;
                birch_stream_opts o = {0};
                o.reverse = rev;
                o.lo = empty, o.lo_bound = mode;
                BT_OK(birch_stream_collect(NULL, &t, &o, NULL, NULL, 4, &n));
                ck_assert_uint_eq(n, 1);
                o.lo_bound = BIRCH_UNBOUNDED;
                o.hi = empty, o.hi_bound = mode;
                BT_OK(birch_stream_collect(NULL, &t, &o, NULL, NULL, 4, &n));
                ck_assert_uint_eq(n, 0);
                o.hi_bound = BIRCH_UNBOUNDED;
                o.prefix = empty;
                BT_OK(birch_stream_collect(NULL, &t, &o, NULL, NULL, 4, &n));
                ck_assert_uint_eq(n, 1);
            }
    }
    /* Inside a tuple an empty string is an element like any other. */
    birch_typed tt;
    int rc = birch_typed_open(db, NULL, "tuple", &tk_us, &birch_value_string, BIRCH_CREATE, &tt);
    ck_assert_msg(rc == BIRCH_OK, "tuple: typed_open %d: %s", rc, tt.msg);
    t_us tk = {7, bt_val("", 0)};
    birch_val val = bt_str("v");
    BT_OK(birch_typed_put(NULL, &tt, &tk, &val, 0));
    ck_assert_int_eq(birch_typed_contains(NULL, &tt, &tk), 1);
    bt_check(db);
    BT_OK(birch_close(db));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keys");
    TCase *tc = bt_tcase("order");
    tcase_add_loop_test(tc, keys_order_random, 0, NFORMATS);
    tcase_add_test(tc, keys_order_specials);
    tcase_add_test(tc, keys_float_total_order);
    suite_add_tcase(s, tc);
    tc = bt_tcase("decode");
    tcase_add_test(tc, keys_decode_exhaustive);
    tcase_add_test(tc, keys_decode_mutations);
    tcase_add_test(tc, keys_known_encodings);
    tcase_add_test(tc, keys_terminator_unambiguous);
    suite_add_tcase(s, tc);
    tc = bt_tcase("api");
    tcase_add_test(tc, keys_names);
    tcase_add_test(tc, keys_tuple_arity);
    tcase_add_test(tc, keys_bad_utf8);
    tcase_add_test(tc, keys_bad_bytes);
    tcase_add_test(tc, keys_bad_args);
    tcase_add_test(tc, keys_bad_formats);
    tcase_add_test(tc, keys_empty_top_level);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
