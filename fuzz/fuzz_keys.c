/*
 * fuzz_keys.c - libFuzzer harness for the key formats (formats/key.c).
 *
 * Input: byte 0 picks a format (modulo the table below: every built-in
 * format, two fixed sizes and seven tuples); the rest is decoded as a key
 * of that format.  Decoding must either refuse it with BIRCH_EFORMAT or
 * give a value whose encoding is exactly the input again (the decoder is
 * strict: no two byte strings decode to one value).  Then, for a value
 * that decoded: the size query, an output buffer one byte short
 * (BIRCH_EKEYSIZE with the right length), every prefix (a byte prefix of
 * the input), decoding with no scratch (fine, or BIRCH_EKEYSIZE) and the
 * canonical name.
 *
 * Buffers are malloc'd at their exact sizes so that ASan sees any read or
 * write past them.  Needs only api/ and formats/key.c:
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iapi fuzz/fuzz_keys.c formats/key.c
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"

BIRCH_KEY_FIXED(fk_fx1, 1);
BIRCH_KEY_FIXED(fk_fx3, 3);
BIRCH_KEY_FIXED(fk_fx16, 16);

typedef struct { uint64_t id; birch_val name; } fk_us;
BIRCH_KEY_TUPLE(fk_tus, fk_us, &birch_key_u64, id, &birch_key_string, name);

/* A raw byte (maybe 0xFF) right after a terminated string. */
typedef struct { birch_val s; uint8_t b; birch_val raw; } fk_sub;
BIRCH_KEY_TUPLE(fk_tsub, fk_sub, &birch_key_string, s, &birch_key_u8, b, &birch_key_bytes, raw);

typedef struct { birch_val a, b; } fk_bb;
BIRCH_KEY_TUPLE(fk_tbb, fk_bb, &birch_key_bytes, a, &birch_key_bytes, b);

typedef struct { int32_t i; double d; bool flag; const char *c; } fk_idbc;
BIRCH_KEY_TUPLE(fk_tidbc, fk_idbc, &birch_key_i32, i, &birch_key_f64, d, &birch_key_bool, flag,
                &birch_key_cstr, c);

typedef struct { uint8_t h[3]; birch_val s; int16_t x; } fk_fsi;
BIRCH_KEY_TUPLE(fk_tfsi, fk_fsi, &fk_fx3, h, &birch_key_string, s, &birch_key_i16, x);

typedef struct { const char *a, *b; } fk_cc;
BIRCH_KEY_TUPLE(fk_tcc, fk_cc, &birch_key_cstr, a, &birch_key_cstr, b);

typedef struct {
    uint8_t a; int64_t b; float c; birch_val d; birch_val e; uint8_t f[1]; bool g; uint16_t h;
} fk_8;
BIRCH_KEY_TUPLE(fk_t8, fk_8, &birch_key_u8, a, &birch_key_i64, b, &birch_key_f32, c,
                &birch_key_bytes, d, &birch_key_string, e, &fk_fx1, f, &birch_key_bool, g,
                &birch_key_u16, h);

/* The order is part of the corpus format (byte 0 of the seeds in
 * fuzz/corpus/keys): append, never reorder. */
static const birch_key_format *const fk_formats[] = {
    &birch_key_u8,   &birch_key_u16,   &birch_key_u32,  &birch_key_u64,    /* 0..3 */
    &birch_key_i8,   &birch_key_i16,   &birch_key_i32,  &birch_key_i64,    /* 4..7 */
    &birch_key_f32,  &birch_key_f64,   &birch_key_bool, &birch_key_string, /* 8..11 */
    &birch_key_cstr, &birch_key_bytes, &fk_fx1,         &fk_fx16,          /* 12..15 */
    &fk_tus,         &fk_tsub,         &fk_tbb,         &fk_tidbc,         /* 16..19 */
    &fk_tfsi,        &fk_tcc,          &fk_t8,                             /* 20..22 */
};
#define FK_NFORMATS (sizeof fk_formats / sizeof fk_formats[0])

#define FK_REQUIRE(cond, ...)                                                          \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "fuzz_keys invariant broken at %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                              \
            fprintf(stderr, "\n");                                                     \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* An exact-size copy (ASan then catches a read past the end). */
static uint8_t *fk_dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n ? n : 1);
    FK_REQUIRE(q, "out of memory");
    if (n) memcpy(q, p, n);
    return q;
}

/* Checks on a value v that decoded from in[0..n). */
static void fk_check_value(const birch_key_format *f, const void *v, const uint8_t *in, size_t n)
{
    /* Re-encoding into exactly n bytes gives the input back. */
    uint8_t *out = malloc(n ? n : 1);
    FK_REQUIRE(out, "out of memory");
    size_t len = 0;
    int rc = birch_key_encode(f, v, out, n, &len);
    FK_REQUIRE(rc == BIRCH_OK, "re-encode returned %d", rc);
    FK_REQUIRE(len == n, "re-encode gave %zu bytes, not %zu", len, n);
    FK_REQUIRE(n == 0 || memcmp(out, in, n) == 0, "re-encode differs from the input");

    /* The size query, and a buffer one byte short. */
    len = 0;
    rc = birch_key_encode(f, v, NULL, 0, &len);
    FK_REQUIRE(rc == (n ? BIRCH_EKEYSIZE : BIRCH_OK) && len == n, "size query: %d, %zu", rc, len);
    if (n) {
        len = 0;
        rc = birch_key_encode(f, v, out, n - 1, &len);
        FK_REQUIRE(rc == BIRCH_EKEYSIZE && len == n, "short buffer: %d, %zu", rc, len);
    }

    /* Every prefix is a byte prefix of the input, the whole one all of it. */
    unsigned arity = f->kind == BIRCH_KEY_TUPLE ? f->n : 1;
    size_t prev = 0;
    for (unsigned k = 0; k <= arity; k++) {
        len = 0;
        rc = birch_key_encode_prefix(f, v, k, out, n, &len);
        FK_REQUIRE(rc == BIRCH_OK, "prefix %u returned %d", k, rc);
        FK_REQUIRE(len <= n && (len == 0 || memcmp(out, in, len) == 0), "prefix %u is not a prefix", k);
        FK_REQUIRE(k == 0 ? len == 0 : len > prev || (f->kind != BIRCH_KEY_TUPLE && len == prev),
                "prefix %u does not grow", k);
        FK_REQUIRE(k < arity || len == n, "prefix %u is not the whole key", k);
        prev = len;
    }
    free(out);
}

int fz_keys_run(const uint8_t *data, size_t size);
int fz_keys_run(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const birch_key_format *f = fk_formats[data[0] % FK_NFORMATS];
    size_t n = size - 1;
    uint8_t *in = fk_dup_exact(data + 1, n);
    uint8_t *scratch = malloc(n + 1);
    FK_REQUIRE(scratch, "out of memory");

    char name[BIRCH_KEY_NAME_MAX];
    int nl = birch_key_name(f, name, sizeof name);
    FK_REQUIRE(nl > 0 && (size_t)nl == strlen(name), "name returned %d", nl);

    _Alignas(16) uint8_t v[128];
    memset(v, 0xa5, sizeof v);
    int rc = birch_key_decode(f, in, n, v, scratch, n + 1);
    FK_REQUIRE(rc == BIRCH_OK || rc == BIRCH_EFORMAT, "%s: decode returned %d", name, rc);
    if (rc == BIRCH_OK) {
        fk_check_value(f, v, in, n);
        /* Without scratch: the same answer, or too small. */
        _Alignas(16) uint8_t w[128];
        rc = birch_key_decode(f, in, n, w, NULL, 0);
        FK_REQUIRE(rc == BIRCH_OK || rc == BIRCH_EKEYSIZE, "%s: decode without scratch: %d", name, rc);
        if (rc == BIRCH_OK) fk_check_value(f, w, in, n);
    } else {
        /* A refused input is refused whatever the scratch, and the value
         * is left alone. */
        for (size_t i = 0; i < sizeof v; i++) FK_REQUIRE(v[i] == 0xa5, "%s: value written on error", name);
        rc = birch_key_decode(f, in, n, v, NULL, 0);
        FK_REQUIRE(rc == BIRCH_EFORMAT, "%s: refused with scratch, %d without", name, rc);
    }
    free(scratch);
    free(in);
    return 0;
}

/* Defining FZ_NO_ENTRY leaves the entry point out, so that a test can
 * include this file next to the other harnesses and call fz_keys_run. */
#ifndef FZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fz_keys_run(data, size); }
#endif
