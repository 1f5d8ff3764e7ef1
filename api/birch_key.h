/*
 * birch_key.h - key formats: typed keys encoded into bytes whose memcmp
 * order is the type's natural order (included by birch.h).
 *
 * A key format turns a C value into key bytes and back.  Tables compare
 * keys with memcmp, so a table keyed by a format iterates in the typed
 * order: -5 before 3 for signed integers, -inf < -1.5 < -0.0 < +0.0 < 2 for
 * floats, and so on.  Each format has a stable name that typed tables
 * store in their schema.
 *
 * C representation of each format's value (what `key` points to):
 *   birch_key_u8 .. u64       uint8_t .. uint64_t   big-endian
 *   birch_key_i8 .. i64       int8_t .. int64_t     big-endian, sign bit flipped
 *   birch_key_f32, f64        float, double         total order: negative NaNs
 *                                                   first, then -inf .. -0.0,
 *                                                   +0.0 .. +inf, positive NaNs
 *   birch_key_bool            bool (_Bool)          one byte, 0 or 1 (a bool whose
 *                                                   byte is neither: BIRCH_EINVAL)
 *   birch_key_string          birch_val (UTF-8)     validated: BIRCH_EINVAL if not UTF-8
 *                                                   (overlong forms, surrogates, above
 *                                                   U+10FFFF, cut-off sequences)
 *   birch_key_cstr            const char * (UTF-8)  NUL-terminated; same encoding
 *                                                   and name as birch_key_string (a
 *                                                   string holding U+0000 does not
 *                                                   decode as cstr: BIRCH_EFORMAT)
 *   birch_key_bytes           birch_val             raw bytes
 *   fixed-size bytes          uint8_t[N]            BIRCH_KEY_FIXED(N): UUIDs, hashes
 *   tuples                    a struct              BIRCH_KEY_TUPLE: up to 8 elements
 *
 * Encoding.  Numbers, bools and fixed bytes have fixed widths.  At the top
 * level a string or byte key is its bytes as they are.  Inside a tuple a
 * string or byte element is escaped (0x00 becomes 0x00 0xFF) and ends with
 * 0x00 0x01, so that the encoding of a tuple's first k elements is a prefix
 * of the whole tuple's: a tuple sorts right after its prefixes, and all
 * keys that share leading elements form one range (a prefix scan).
 *
 * Why the terminator is two bytes (as in CockroachDB's key encoding) where
 * FoundationDB's tuple layer uses a single 0x00: FoundationDB puts a type
 * code, never 0xFF, after it; birch writes the next element raw, and that
 * may start with 0xFF, which would read as an escaped 0x00.  With a single
 * 0x00, (bytes, bytes) ("", "\xFF\x00") and ("\x00", "\xFF") would both be
 * 00 FF 00 FF 00.  After 0x00 the next byte now says which it is: 0xFF a
 * 0x00 of the content, 0x01 the end; and the end (00 01) still sorts before
 * any continuation (00 FF, or a byte >= 0x01), so "a" < "a\0" < "a\1".
 *
 * Decoding is strict: every byte string that is not the encoding of some
 * value is refused (BIRCH_EFORMAT), so decode(encode(x)) == x (floats bit
 * for bit: NaN payloads, -0.0) and encode(decode(b)) == b.
 *
 * Empty keys.  An empty top-level string, cstr or bytes value encodes to
 * zero bytes (and zero bytes decode to it), but no table can hold it: the
 * engine's keys are 1 to birch_max_key_size() bytes.  A typed put,
 * put_batch, delete, get or contains of one is refused with
 * BIRCH_EKEYSIZE (as birch_put, birch_get and birch_del refuse any empty
 * key), with or without a transaction.  It is still a valid stream bound (below every key) and prefix
 * (every key).  It is not given a non-empty encoding because every
 * non-empty byte string already encodes a non-empty key: an encoding for
 * "" would have to change the encoding of other keys (a marker byte in
 * front of every key, say), and with it the order and the keys of every
 * table already written.  Inside a tuple an empty string or bytes element
 * is an ordinary element (00 01).
 */
#ifndef BIRCH_KEY_H
#define BIRCH_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "birch.h" /* birch_val, result codes (this header is part of it) */

#ifdef __cplusplus
extern "C" {
#endif

/* Most elements in a BIRCH_KEY_TUPLE. */
#define BIRCH_KEY_MAX_TUPLE 8
/* Room for any canonical name with its NUL (birch_key_name). */
#define BIRCH_KEY_NAME_MAX 256

/* Kinds of key format. */
enum birch_key_kind {
    BIRCH_KEY_U8, BIRCH_KEY_U16, BIRCH_KEY_U32, BIRCH_KEY_U64,
    BIRCH_KEY_I8, BIRCH_KEY_I16, BIRCH_KEY_I32, BIRCH_KEY_I64,
    BIRCH_KEY_F32, BIRCH_KEY_F64, BIRCH_KEY_BOOL,
    BIRCH_KEY_STRING, BIRCH_KEY_CSTR, BIRCH_KEY_BYTES, BIRCH_KEY_FIXED,
    BIRCH_KEY_TUPLE
};

typedef struct birch_key_format birch_key_format;

/* A key format.  The built-in ones are constants; fixed-size bytes and
 * tuples are declared with the macros below.  Treat the fields as
 * read-only. */
struct birch_key_format {
    const char *name;       /* stable schema name: "u64", "string", ...; for
                               fixed bytes and tuples see birch_key_name */
    int kind;               /* enum birch_key_kind */
    size_t c_size;          /* sizeof the C value */
    size_t fixed;           /* BIRCH_KEY_FIXED: number of bytes */
    unsigned n;             /* BIRCH_KEY_TUPLE: number of elements, 1..8 */
    const birch_key_format *const *elem; /* tuple elements (no nested tuples) */
    const size_t *offset;   /* offsetof each element in the tuple struct */
};

extern const birch_key_format birch_key_u8, birch_key_u16, birch_key_u32, birch_key_u64;
extern const birch_key_format birch_key_i8, birch_key_i16, birch_key_i32, birch_key_i64;
extern const birch_key_format birch_key_f32, birch_key_f64, birch_key_bool;
extern const birch_key_format birch_key_string, birch_key_cstr, birch_key_bytes;

/* Declares `static const birch_key_format name` for N-byte keys of C type
 * uint8_t[N] (or any N-byte type). */
#define BIRCH_KEY_FIXED(name, N) \
    static const birch_key_format name = {NULL, BIRCH_KEY_FIXED, (N), (N), 0, NULL, NULL}

/* Declares `static const birch_key_format name` for a tuple stored in the
 * C struct type `ctype`; the variadic arguments are pairs of
 * (element format, struct member), e.g.
 *   typedef struct { uint64_t customer; birch_val sku; } order_key;
 *   BIRCH_KEY_TUPLE(order_key_fmt, order_key,
 *                   &birch_key_u64, customer, &birch_key_string, sku);
 */
#define BIRCH_KEY_TUPLE(name, ctype, ...)                                                  \
    static const birch_key_format *const name##_elem_[] = {BIRCH_KT_FMTS_(__VA_ARGS__)};   \
    static const size_t name##_off_[] = {BIRCH_KT_OFFS_(ctype, __VA_ARGS__)};              \
    static const birch_key_format name = {NULL, BIRCH_KEY_TUPLE, sizeof(ctype), 0,         \
        (unsigned)(sizeof name##_off_ / sizeof name##_off_[0]), name##_elem_, name##_off_}

/* Writes the format's canonical schema name ("u64", "fixed(16)",
 * "tuple(u64,string)"; cstr is "string") and a NUL into buf.  Returns its
 * length (without the NUL), or BIRCH_EINVAL (NULL, bad format, or cap too
 * small: BIRCH_KEY_NAME_MAX bytes always suffice). */
int birch_key_name(const birch_key_format *f, char *buf, size_t cap);

/* Encodes the C value at key into out (cap bytes).  *len gets the encoded
 * length (0 for an empty top-level string or bytes value, which no table
 * can store: see "Empty keys" above).  out may be NULL when cap is 0, to
 * learn the size.  Errors:
 * BIRCH_EINVAL (NULL, invalid UTF-8, bool byte other than 0/1, bad
 * format), BIRCH_EKEYSIZE (does not fit in cap; *len then tells the size
 * needed).  On error out's contents are unspecified. */
int birch_key_encode(const birch_key_format *f, const void *key, void *out, size_t cap, size_t *len);

/* Decodes len bytes into the C value at key.  A string or bytes value
 * points into `in` at the top level and into scratch (scratch_cap bytes)
 * inside a tuple; a cstr value is always copied to scratch with its NUL.
 * len + 1 bytes of scratch always suffice; formats without strings or
 * bytes need none (scratch may be NULL when scratch_cap is 0, and in NULL
 * when len is 0).  Errors: BIRCH_EFORMAT (bytes that no value of the
 * format encodes to), BIRCH_EINVAL (NULL, bad format), BIRCH_EKEYSIZE
 * (scratch too small; only for input that is otherwise well-formed).  On
 * error *key is left as it was. */
int birch_key_decode(const birch_key_format *f, const void *in, size_t len, void *key,
                     void *scratch, size_t scratch_cap);

/* Encodes the first k elements of a tuple (k <= n; k == n is the whole
 * tuple): the prefix of every key that starts with those elements.  For
 * other formats k is 1 (the whole key).  k == 0 gives the empty prefix
 * (every key).  Arguments and errors as for birch_key_encode. */
int birch_key_encode_prefix(const birch_key_format *f, const void *key, unsigned k, void *out,
                            size_t cap, size_t *len);

/* ---- internal helpers of the macros ---- */
#define BIRCH_KT_NARG_(...) BIRCH_KT_NARG2_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define BIRCH_KT_NARG2_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, N, ...) N
#define BIRCH_KT_CAT_(a, b) BIRCH_KT_CAT2_(a, b)
#define BIRCH_KT_CAT2_(a, b) a##b
#define BIRCH_KT_FMTS_(...) BIRCH_KT_CAT_(BIRCH_KT_F, BIRCH_KT_NARG_(__VA_ARGS__))(__VA_ARGS__)
#define BIRCH_KT_OFFS_(t, ...) BIRCH_KT_CAT_(BIRCH_KT_O, BIRCH_KT_NARG_(__VA_ARGS__))(t, __VA_ARGS__)
#define BIRCH_KT_F2(f1, m1) f1
#define BIRCH_KT_F4(f1, m1, ...) f1, BIRCH_KT_F2(__VA_ARGS__)
#define BIRCH_KT_F6(f1, m1, ...) f1, BIRCH_KT_F4(__VA_ARGS__)
#define BIRCH_KT_F8(f1, m1, ...) f1, BIRCH_KT_F6(__VA_ARGS__)
#define BIRCH_KT_F10(f1, m1, ...) f1, BIRCH_KT_F8(__VA_ARGS__)
#define BIRCH_KT_F12(f1, m1, ...) f1, BIRCH_KT_F10(__VA_ARGS__)
#define BIRCH_KT_F14(f1, m1, ...) f1, BIRCH_KT_F12(__VA_ARGS__)
#define BIRCH_KT_F16(f1, m1, ...) f1, BIRCH_KT_F14(__VA_ARGS__)
#define BIRCH_KT_O2(t, f1, m1) offsetof(t, m1)
#define BIRCH_KT_O4(t, f1, m1, ...) offsetof(t, m1), BIRCH_KT_O2(t, __VA_ARGS__)
#define BIRCH_KT_O6(t, f1, m1, ...) offsetof(t, m1), BIRCH_KT_O4(t, __VA_ARGS__)
#define BIRCH_KT_O8(t, f1, m1, ...) offsetof(t, m1), BIRCH_KT_O6(t, __VA_ARGS__)
#define BIRCH_KT_O10(t, f1, m1, ...) offsetof(t, m1), BIRCH_KT_O8(t, __VA_ARGS__)
#define BIRCH_KT_O12(t, f1, m1, ...) offsetof(t, m1), BIRCH_KT_O10(t, __VA_ARGS__)
#define BIRCH_KT_O14(t, f1, m1, ...) offsetof(t, m1), BIRCH_KT_O12(t, __VA_ARGS__)
#define BIRCH_KT_O16(t, f1, m1, ...) offsetof(t, m1), BIRCH_KT_O14(t, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif /* BIRCH_KEY_H */
