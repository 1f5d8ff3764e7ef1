/*
 * fbs_gen.h - what test_fbs_gen.c and fbs_evolution_v1.c share: checks of
 * values read through generated accessors against JSON (defined in
 * test_fbs_gen.c), the bounds walk of test_fbs_gen's mutation test, and
 * the plain functions through which fbs_evolution_v1.c reads and builds
 * evolution_v1.fbs buffers (its header defines the same type names as
 * evolution_v2.fbs's, so the two cannot meet in one translation unit).
 */
#ifndef BIRCH_TEST_FBS_GEN_H
#define BIRCH_TEST_FBS_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "birch.h"
#include "json.h"

/* ---- Checks against JSON (test_fbs_gen.c) ---------------------------------- */

/* What is being read (file and builder, e.g. "flatc game.json"): every
 * failure message starts with it. */
extern char fg_ctx[512];

/* A scalar field read through its accessor (got) and _present (present;
 * -1 for a struct member or vector element, which has no _present),
 * against JSON j: absent (or null) means the schema default dflt.  A
 * stored field is present exactly when the value differs from the
 * default (flatc and birch's builder both leave defaults out). */
void fg_int(const char *what, long long got, int present, const jv *j, long long dflt);
void fg_uint(const char *what, unsigned long long got, int present, const jv *j, unsigned long long dflt);
/* Floats: nan matches nan, infinities by sign, others within 1e-6
 * relative (float fields hold the JSON's value rounded to float). */
void fg_flt(const char *what, double got, int present, const jv *j, double dflt);
void fg_bool(const char *what, int got, int present, const jv *j, int dflt);
/* An optional scalar (= null): present exactly when JSON gives a value;
 * absent reads 0. */
void fg_opt_int(const char *what, long long got, int present, const jv *j);
void fg_opt_uint(const char *what, unsigned long long got, int present, const jv *j);
void fg_opt_flt(const char *what, double got, int present, const jv *j);
/* An enum value: JSON names it ("Best"; bit flags: "A B C"), or gives a
 * number.  vals / names: every value of the enum and what the generated
 * E_name() gives for it; got_name: E_name(got).  Checks the value, and
 * that E_name names it when it is one of the enum's values (NULL when it
 * is not). */
void fg_enum(const char *what, uint64_t got, const char *got_name, int present, const jv *j, uint64_t dflt,
             int flags, size_t n, const uint64_t *vals, const char *const *names);
/* A string field: NUL-terminated, _len and _present agree with JSON
 * (absent: NULL, length 0, not present). */
void fg_str(const char *what, const char *got, size_t len, int present, const jv *j);
/* A string element of a vector (birch_fb_strlen gives its length). */
void fg_str_at(const char *what, const char *got, const jv *j);
/* A vector: _len, _present and (elems: the T_name() pointer of scalar and
 * struct vectors, aligned to align; has_elems 0 for other vectors) against
 * a JSON array or nothing.  Returns the length. */
size_t fg_vec(const char *what, size_t len, int present, int has_elems, const void *elems, size_t align,
              const jv *j);
/* A table, struct or union value: non-NULL exactly when JSON has it
 * (not null); returns whether it is there. */
int fg_has(const char *what, const void *got, const jv *j);
/* A JSON number as an integer (absent or null: dflt). */
long long fg_ji(const jv *j, long long dflt);
unsigned long long fg_ju(const jv *j, unsigned long long dflt);

/* Checker of enum E's values: ck_E(what, E got, int present, const jv *j,
 * E dflt), over every value of E listed after flags (1 for bit_flags). */
#define FG_ENUM_CHECK(E, flags, ...)                                                                 \
    __attribute__((unused)) static void ck_##E(const char *what, E got, int present, const jv *j, E dflt) \
    {                                                                                                \
        static const E vals_[] = {__VA_ARGS__};                                                      \
        enum { n_ = sizeof vals_ / sizeof vals_[0] };                                                \
        uint64_t v_[n_];                                                                             \
        const char *names_[n_];                                                                      \
        for (size_t i_ = 0; i_ < n_; i_++) {                                                         \
            v_[i_] = (uint64_t)vals_[i_];                                                            \
            names_[i_] = E##_name(vals_[i_]);                                                        \
        }                                                                                            \
        fg_enum(what, (uint64_t)got, E##_name(got), present, j, (uint64_t)dflt, flags, n_, v_, names_); \
    }

/* Field checks of table T's field f of the table t against JSON object j
 * (member f), through the generated T_f and T_f_present. */
#define CK_INT(T, t, j, f, dflt) fg_int(#T "." #f, (long long)T##_##f(t), T##_##f##_present(t), jget(j, #f), dflt)
#define CK_UINT(T, t, j, f, dflt) \
    fg_uint(#T "." #f, (unsigned long long)T##_##f(t), T##_##f##_present(t), jget(j, #f), dflt)
#define CK_FLT(T, t, j, f, dflt) fg_flt(#T "." #f, (double)T##_##f(t), T##_##f##_present(t), jget(j, #f), dflt)
#define CK_BOOL(T, t, j, f, dflt) fg_bool(#T "." #f, T##_##f(t), T##_##f##_present(t), jget(j, #f), dflt)
#define CK_ENUM(E, T, t, j, f, dflt) ck_##E(#T "." #f, T##_##f(t), T##_##f##_present(t), jget(j, #f), dflt)
#define CK_OPT_INT(T, t, j, f) fg_opt_int(#T "." #f, (long long)T##_##f(t), T##_##f##_present(t), jget(j, #f))
#define CK_OPT_UINT(T, t, j, f) \
    fg_opt_uint(#T "." #f, (unsigned long long)T##_##f(t), T##_##f##_present(t), jget(j, #f))
#define CK_OPT_FLT(T, t, j, f) fg_opt_flt(#T "." #f, (double)T##_##f(t), T##_##f##_present(t), jget(j, #f))
#define CK_STR(T, t, j, f) fg_str(#T "." #f, T##_##f(t), T##_##f##_len(t), T##_##f##_present(t), jget(j, #f))
/* Scalar and struct vectors (T_f gives the elements in place). */
#define CK_VEC(T, t, j, f, align) \
    fg_vec(#T "." #f, T##_##f##_len(t), T##_##f##_present(t), 1, T##_##f(t), align, jget(j, #f))
/* Vectors of strings, tables and unions (no T_f). */
#define CK_VECN(T, t, j, f) fg_vec(#T "." #f, T##_##f##_len(t), T##_##f##_present(t), 0, NULL, 1, jget(j, #f))

/* ---- Reading in bounds (test_fbs_gen.c) --------------------------------- */

/* The bytes a walk may read: a buffer, or a nested buffer inside one.
 * sum accumulates every byte a walk touches (so that each is read). */
typedef struct fg_bounds {
    const uint8_t *lo, *hi;
    const char *ctx; /* for messages: which buffer, seed, round */
    uint64_t sum;
} fg_bounds;

/* [p, p + n) lies inside b (p may be NULL: nothing to check); reads it. */
void fg_in(fg_bounds *b, const void *p, size_t n, const char *what);
/* A string an accessor returned (or NULL): its length, bytes and NUL
 * inside b. */
void fg_in_str(fg_bounds *b, const char *s, const char *what);

/* ---- evolution_v1.fbs (fbs_evolution_v1.c) ------------------------------- */

/* shop_evolution_Directory_fb of evolution_v1.fbs, its value format, and
 * shop_evolution_Directory_verify. */
const birch_fb_table *ev1_root_desc(void);
const birch_value_format *ev1_format(void);
int ev1_verify(const void *buf, size_t n, char *msg, size_t cap);
/* A verified v1 buffer (or the root of a guard's view: root non-NULL)
 * read field by field through the v1 accessors against a v1 JSON file. */
void ev1_check(const void *buf, size_t n, const void *root, const jv *j);
/* A v2 buffer read through the v1 accessors against its v2 JSON: the
 * fields v1 knows read as written (Status Deleted as the unknown value 2,
 * a Phone contact as the unknown union type 2, no value), age (which v2
 * deprecates and does not write) as v1's default, and v2's new fields
 * invisible. */
void ev1_check_v2_data(const void *buf, size_t n, const jv *j2);
/* Profile.age of the profile whose key is id, through v1's find_by_id;
 * *present its _present (asserts that the profile is there). */
unsigned ev1_age(const void *buf, size_t n, uint64_t id, int *present);
/* evolution_v1.json (min: evolution_v1_min.json) built through the v1
 * builders; the buffer lives in b. */
birch_val ev1_build(birch_fb_builder *b, int min);
/* Reads every field of a buffer the v1 verifier accepted, each pointer
 * checked against bd. */
void ev1_walk(fg_bounds *bd, const void *buf, size_t n);

#endif /* BIRCH_TEST_FBS_GEN_H */
