/*
 * test_fbs_gen.c - the headers `birch fbs` generates (issue 15), over the
 * schemas and JSON data of tests/fbs (tests/fbs/README.md says what each
 * covers and what flatc 2.0.8 does with them):
 *
 *   flatc_read      every NAME.json and NAME_min.json through `flatc -b`:
 *                   the buffer verifies with the generated T_verify and
 *                   reads field by field through the generated accessors
 *                   against the JSON (scalars and their defaults, nan and
 *                   inf included; enums through the C enum constants and
 *                   E_name(); bit flags; optional scalars; absent and empty
 *                   strings and vectors through _present; structs with
 *                   nested structs and fixed arrays through the C struct
 *                   members; unions and vectors of unions through _type and
 *                   _as_MEMBER; nested flatbuffers through _root; keyed
 *                   vectors through find_by, found and not), then once more
 *                   through the root's value format: birch_typed_put and a
 *                   guard's view
 *   birch_built     the same data built through the generated builders
 *                   (one hand-written builder per JSON file), read back the
 *                   same way, decoded by `flatc --json` (through the .bfbs:
 *                   flatc refuses a .fbs with vectors of unions) and
 *                   compared with the JSON as values, and with flatc's
 *                   decoding of its own buffer; no larger than flatc's
 *   evolution       evolution_v1 data read through evolution_v2's header
 *                   (added fields give their defaults, the deprecated age
 *                   is invisible) and v2 data through v1's (new fields,
 *                   enum values and union members ignored or unknown);
 *                   v1's header is in fbs_evolution_v1.c, as both define
 *                   the same C names
 *   deprecated      deprecated fields have no accessor and no descriptor,
 *                   and the fields after them keep their ids
 *   truncations_mutations
 *                   every prefix and thousands of random mutations (fixed
 *                   seed, printed; BIRCH_SEED sets it,
 *                   BIRCH_FBS_MUTATIONS the rounds per buffer) of every
 *                   buffer above are refused by T_verify or read whole in
 *                   bounds through the accessors (under ASan+UBSan in that
 *                   build: every buffer is a malloc block of its exact
 *                   size)
 *
 * Needs flatc (./build.sh deps installs flatbuffers-compiler).  flatc's
 * own binary-schema loader refuses docstore.fbs's .bfbs ("failed to load
 * binary schema": it cannot resolve the fully qualified nested_flatbuffer
 * name "docstore.Store"), so the decoding schema of docstore is a copy of
 * it naming the same table "Store".
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "docstore_birch.h"
#include "evolution_v2_birch.h"
#include "game_birch.h"
#include "inventory_birch.h"

#include "fbs_gen.h"
#include "json.h"
#include "support.h"

/* ---- Files and flatc -------------------------------------------------------- */

char fg_ctx[512];

static const char *fbs_dir(void)
{
    static char buf[4096];
    if (!buf[0]) {
        char src[4096];
        snprintf(src, sizeof src, "%s", __FILE__);
        snprintf(buf, sizeof buf, "%s/fbs", dirname(src));
    }
    return buf;
}

static const char *work_dir(void)
{
    static char dir[4096];
    if (!dir[0]) {
        const char *t = getenv("BIRCH_TEST_DIR");
        if (!t || !*t) t = getenv("TMPDIR");
        if (!t || !*t) t = "/tmp";
        snprintf(dir, sizeof dir, "%s/fbsgen-%ld", t, (long)getpid());
        ck_assert_msg(bt_sh(NULL, NULL, "mkdir -p '%s/bin' '%s/bfbs' '%s/dec' '%s/patched'", dir, dir, dir, dir) == 0,
                      "cannot create %s", dir);
    }
    return dir;
}

/* Runs flatc with args (formatted) in the work directory; asserts success. */
static void flatc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void flatc(const char *fmt, ...)
{
    static int checked;
    if (!checked) {
        ck_assert_msg(bt_sh(NULL, NULL, "command -v flatc") == 0,
                      "flatc not found: install flatbuffers-compiler (./build.sh deps installs it); "
                      "test_fbs_gen checks the generated headers against Google's flatc");
        checked = 1;
    }
    char args[6000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char *err = NULL;
    int rc = bt_sh(NULL, &err, "cd '%s' && flatc %s", work_dir(), args);
    ck_assert_msg(rc == 0, "flatc %s: exit %d: %s", args, rc, err);
    free(err);
}

/* A file's bytes in a malloc block of exactly its size (at least 1 byte;
 * malloc aligns it to 16, as a buffer with force_align 16 structs needs). */
static uint8_t *load(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_msg(fseek(f, 0, SEEK_END) == 0, "cannot seek %s", path);
    long size = ftell(f);
    ck_assert_msg(size >= 0, "cannot tell the size of %s", path);
    rewind(f);
    uint8_t *buf = malloc(size ? (size_t)size : 1);
    ck_assert_msg(buf != NULL, "out of memory for %s", path);
    ck_assert_msg(fread(buf, 1, (size_t)size, f) == (size_t)size, "cannot read %s", path);
    fclose(f);
    *n = (size_t)size;
    return buf;
}

static void save(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert_msg(fwrite(p, 1, n, f) == n, "cannot write %s", path);
    ck_assert_msg(fclose(f) == 0, "cannot write %s", path);
}

static uint8_t *copy_of(const void *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    ck_assert_msg(c != NULL, "out of memory for a %zu-byte copy", n);
    memcpy(c, p, n);
    return c;
}

/* `flatc -b` of tests/fbs/<json>.json with schema tests/fbs/<schema>.fbs
 * (written as bin/<json>.<ext>, ext: the schema's file_extension). */
static uint8_t *flatc_binary(const char *schema, const char *ext, const char *json, size_t *n)
{
    const char *d = fbs_dir();
    flatc("-b -I '%s' -I '%s/include' -o bin '%s/%s.fbs' '%s/%s.json'", d, d, d, schema, d, json);
    char path[8400];
    snprintf(path, sizeof path, "%s/bin/%s.%s", work_dir(), json, ext);
    return load(path, n);
}

/* bfbs/<schema>.bfbs: the binary schema flatc --json decodes through (with
 * --bfbs-builtins, so that it prints bit flags by name and nested
 * flatbuffers as objects).  docstore's from a copy whose nested_flatbuffer
 * names Store as "Store" (see the top of this file). */
static void make_bfbs(const char *schema)
{
    const char *d = fbs_dir();
    char src[8400];
    snprintf(src, sizeof src, "%s/%s.fbs", d, schema);
    if (!strcmp(schema, "docstore")) {
        size_t n;
        uint8_t *text = load(src, &n);
        char *patched = malloc(n + 1);
        ck_assert_msg(patched != NULL, "out of memory for docstore.fbs");
        memcpy(patched, text, n);
        patched[n] = 0;
        char *at = strstr(patched, "nested_flatbuffer: \"docstore.Store\"");
        ck_assert_msg(at != NULL, "docstore.fbs no longer nests \"docstore.Store\": update test_fbs_gen");
        /* "docstore.Store" -> "Store" plus 9 spaces */
        memcpy(at + strlen("nested_flatbuffer: \""), "Store\"         ", strlen("docstore.Store\""));
        snprintf(src, sizeof src, "%s/patched/docstore.fbs", work_dir());
        save(src, patched, n);
        free(patched);
        free(text);
    }
    flatc("--schema -b --bfbs-builtins -I '%s' -I '%s/include' -o bfbs '%s'", d, d, src);
}

/* flatc's JSON of buf (--defaults-json: scalars equal to their defaults
 * printed too), through bfbs/<schema>.bfbs; tag names the files. */
static jv *flatc_decode(const char *schema, const char *tag, const void *buf, size_t n)
{
    char path[8400];
    snprintf(path, sizeof path, "%s/bfbs/%s.bfbs", work_dir(), schema);
    if (access(path, R_OK) != 0) make_bfbs(schema);
    snprintf(path, sizeof path, "%s/dec/%s.bin", work_dir(), tag);
    save(path, buf, n);
    flatc("--json --strict-json --raw-binary --defaults-json -o dec bfbs/%s.bfbs -- dec/%s.bin", schema, tag);
    snprintf(path, sizeof path, "%s/dec/%s.json", work_dir(), tag);
    return jparse_file(path);
}

static jv *source_json(const char *json)
{
    char path[8400];
    snprintf(path, sizeof path, "%s/%s.json", fbs_dir(), json);
    return jparse_file(path);
}

/* ---- Checks against JSON (fbs_gen.h) -------------------------------------- */

static int jhas(const jv *j) { return j != NULL && j->t != 'z'; }

long long fg_ji(const jv *j, long long dflt)
{
    if (!jhas(j)) return dflt;
    if (j->t == 'b') return j->b;
    ck_assert_msg(j->t == 'n', "%s: JSON value is not a number", fg_ctx);
    char *end;
    long long v = strtoll(j->s, &end, 10);
    ck_assert_msg(*end == 0, "%s: JSON number %s is not an integer", fg_ctx, j->s);
    return v;
}

unsigned long long fg_ju(const jv *j, unsigned long long dflt)
{
    if (!jhas(j)) return dflt;
    if (j->t == 'b') return (unsigned long long)j->b;
    ck_assert_msg(j->t == 'n', "%s: JSON value is not a number", fg_ctx);
    if (j->s[0] == '-') return (unsigned long long)fg_ji(j, 0);
    char *end;
    unsigned long long v = strtoull(j->s, &end, 10);
    ck_assert_msg(*end == 0, "%s: JSON number %s is not an integer", fg_ctx, j->s);
    return v;
}

static double jdbl(const jv *j, double dflt)
{
    if (!jhas(j)) return dflt;
    ck_assert_msg(j->t == 'n', "%s: JSON value is not a number", fg_ctx);
    char *end;
    double v = strtod(j->s, &end);
    ck_assert_msg(*end == 0, "%s: JSON number %s does not parse", fg_ctx, j->s);
    return v;
}

/* Floats as the JSON gives them: nan is nan, infinities by sign, others
 * within 1e-6 relative (a float field rounds a double) or 1e-9 absolute
 * (flatc prints 12 decimals). */
static int feq(double got, double want)
{
    if (isnan(got) || isnan(want)) return isnan(got) && isnan(want);
    if (isinf(got) || isinf(want)) return got == want;
    return fabs(got - want) <= 1e-6 * fabs(want) + 1e-9;
}

void fg_int(const char *what, long long got, int present, const jv *j, long long dflt)
{
    long long want = fg_ji(j, dflt);
    ck_assert_msg(got == want, "%s: %s reads %lld, JSON says %lld", fg_ctx, what, got, want);
    if (present >= 0)
        ck_assert_msg(present == (jhas(j) && want != dflt), "%s: %s_present is %d for %lld (default %lld, %s in JSON)",
                      fg_ctx, what, present, got, dflt, jhas(j) ? "given" : "absent");
}

void fg_uint(const char *what, unsigned long long got, int present, const jv *j, unsigned long long dflt)
{
    unsigned long long want = fg_ju(j, dflt);
    ck_assert_msg(got == want, "%s: %s reads %llu, JSON says %llu", fg_ctx, what, got, want);
    if (present >= 0)
        ck_assert_msg(present == (jhas(j) && want != dflt), "%s: %s_present is %d for %llu (default %llu, %s in JSON)",
                      fg_ctx, what, present, got, dflt, jhas(j) ? "given" : "absent");
}

void fg_flt(const char *what, double got, int present, const jv *j, double dflt)
{
    double want = jdbl(j, dflt);
    ck_assert_msg(feq(got, want), "%s: %s reads %.17g, JSON says %.17g", fg_ctx, what, got, want);
    if (present >= 0)
        ck_assert_msg(present == (jhas(j) && !feq(want, dflt)), "%s: %s_present is %d for %.17g (default %.17g, %s in JSON)",
                      fg_ctx, what, present, got, dflt, jhas(j) ? "given" : "absent");
}

void fg_bool(const char *what, int got, int present, const jv *j, int dflt)
{
    ck_assert_msg(got == 0 || got == 1, "%s: %s reads %d, not a bool", fg_ctx, what, got);
    int want = jhas(j) ? (j->t == 'b' ? j->b : fg_ji(j, 0) != 0) : dflt;
    ck_assert_msg(got == want, "%s: %s reads %d, JSON says %d", fg_ctx, what, got, want);
    if (present >= 0)
        ck_assert_msg(present == (jhas(j) && want != dflt), "%s: %s_present is %d for %d (default %d, %s in JSON)", fg_ctx,
                      what, present, got, dflt, jhas(j) ? "given" : "absent");
}

static void fg_opt_present(const char *what, int present, const jv *j)
{
    ck_assert_msg(present == jhas(j), "%s: optional %s_present is %d, JSON %s", fg_ctx, what, present,
                  jhas(j) ? "gives a value" : "gives none");
}

void fg_opt_int(const char *what, long long got, int present, const jv *j)
{
    fg_opt_present(what, present, j);
    fg_int(what, got, -1, j, 0);
}

void fg_opt_uint(const char *what, unsigned long long got, int present, const jv *j)
{
    fg_opt_present(what, present, j);
    fg_uint(what, got, -1, j, 0);
}

void fg_opt_flt(const char *what, double got, int present, const jv *j)
{
    fg_opt_present(what, present, j);
    fg_flt(what, got, -1, j, 0);
}

void fg_enum(const char *what, uint64_t got, const char *got_name, int present, const jv *j, uint64_t dflt,
             int flags, size_t n, const uint64_t *vals, const char *const *names)
{
    uint64_t want = dflt;
    if (jhas(j) && j->t == 's') {
        want = 0;
        char *words = strdup(j->s), *save = NULL;
        ck_assert_msg(words != NULL, "out of memory");
        int count = 0;
        for (char *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save), count++) {
            size_t k = 0;
            while (k < n && (!names[k] || strcmp(names[k], w))) k++;
            ck_assert_msg(k < n, "%s: %s: JSON names %s, which E_name() gives for no value", fg_ctx, what, w);
            want |= vals[k];
        }
        free(words);
        ck_assert_msg(count == 1 || flags, "%s: %s: JSON names %d values of a plain enum", fg_ctx, what, count);
    } else if (jhas(j)) {
        want = fg_ju(j, 0);
    }
    ck_assert_msg(got == want, "%s: %s reads %" PRIu64 " (%s), JSON says %" PRIu64 " (%s)", fg_ctx, what, got,
                  got_name ? got_name : "no name", want, jhas(j) && j->t == 's' ? j->s : "a number");
    const char *want_name = NULL;
    for (size_t k = 0; k < n; k++)
        if (vals[k] == got) want_name = names[k];
    ck_assert_msg(got_name == want_name || (got_name && want_name && !strcmp(got_name, want_name)),
                  "%s: %s: E_name(%" PRIu64 ") is %s, the enum's value of that name is %s", fg_ctx, what, got,
                  got_name ? got_name : "NULL", want_name ? want_name : "none");
    if (present >= 0)
        ck_assert_msg(present == (jhas(j) && want != dflt), "%s: %s_present is %d for %" PRIu64 " (default %" PRIu64 ")",
                      fg_ctx, what, present, got, dflt);
}

void fg_str(const char *what, const char *got, size_t len, int present, const jv *j)
{
    ck_assert_msg(present == jhas(j), "%s: %s_present is %d, JSON %s", fg_ctx, what, present,
                  jhas(j) ? "has the string" : "has none");
    if (!jhas(j)) {
        ck_assert_msg(got == NULL && len == 0, "%s: %s reads \"%s\" (%zu bytes), JSON has none", fg_ctx, what,
                      got ? got : "(null)", len);
        return;
    }
    ck_assert_msg(j->t == 's', "%s: %s: JSON value is not a string", fg_ctx, what);
    ck_assert_msg(got != NULL, "%s: %s reads none, JSON says \"%s\"", fg_ctx, what, j->s);
    ck_assert_msg(len == j->slen && birch_fb_strlen(got) == len && !memcmp(got, j->s, len) && got[len] == 0,
                  "%s: %s reads \"%s\" (%zu bytes), JSON says \"%s\" (%zu)", fg_ctx, what, got, len, j->s, j->slen);
}

void fg_str_at(const char *what, const char *got, const jv *j)
{
    ck_assert_msg(jhas(j) && j->t == 's', "%s: %s: JSON has no string there", fg_ctx, what);
    ck_assert_msg(got != NULL, "%s: %s reads none, JSON says \"%s\"", fg_ctx, what, j->s);
    size_t len = birch_fb_strlen(got);
    ck_assert_msg(len == j->slen && !memcmp(got, j->s, len) && got[len] == 0,
                  "%s: %s reads \"%s\" (%zu bytes), JSON says \"%s\"", fg_ctx, what, got, len, j->s);
}

size_t fg_vec(const char *what, size_t len, int present, int has_elems, const void *elems, size_t align,
              const jv *j)
{
    ck_assert_msg(present == jhas(j), "%s: %s_present is %d, JSON %s", fg_ctx, what, present,
                  jhas(j) ? "has the vector" : "has none");
    if (!jhas(j)) {
        ck_assert_msg(len == 0, "%s: %s has %zu elements, JSON has no vector", fg_ctx, what, len);
        ck_assert_msg(!has_elems || elems == NULL, "%s: %s gives elements of an absent vector", fg_ctx, what);
        return 0;
    }
    ck_assert_msg(j->t == 'a', "%s: %s: JSON value is not an array", fg_ctx, what);
    ck_assert_msg(len == j->n, "%s: %s has %zu elements, JSON %zu", fg_ctx, what, len, j->n);
    if (has_elems) {
        ck_assert_msg(elems != NULL, "%s: %s gives no elements pointer for a vector that is there", fg_ctx, what);
        ck_assert_msg(((uintptr_t)elems & (align - 1)) == 0, "%s: %s's elements at %p are not %zu-byte aligned", fg_ctx,
                      what, elems, align);
    }
    return len;
}

int fg_has(const char *what, const void *got, const jv *j)
{
    ck_assert_msg((got != NULL) == jhas(j), "%s: %s is %s, JSON %s", fg_ctx, what, got ? "there" : "absent",
                  jhas(j) ? "has it" : "has none");
    return got != NULL;
}

/* A struct (or a struct element of a vector) of C type CT at an address
 * aligned for it. */
#define CK_ALIGNED(what, p, CT)                                                                           \
    ck_assert_msg(((uintptr_t)(const void *)(p) & (_Alignof(CT) - 1)) == 0, "%s: %s at %p is not %zu-byte aligned", \
                  fg_ctx, what, (const void *)(p), (size_t)_Alignof(CT))

/* A scalar vector's elements against a JSON array: check(what, element,
 * -1, JSON element, 0) for each, T_f(t)[i] the same as T_f_at(t, i), and
 * _at past the end 0.  I: integer and enum elements; F: floats. */
#define CK_IVEC(T, t, j, f, align, check)                                                                  \
    do {                                                                                                  \
        const jv *a_ = jget(j, #f);                                                                       \
        size_t n_ = CK_VEC(T, t, j, f, align);                                                            \
        for (size_t i_ = 0; i_ < n_; i_++) {                                                              \
            check(#T "." #f "[i]", T##_##f##_at(t, i_), -1, jat(a_, i_), 0);                               \
            ck_assert_msg((uint64_t)T##_##f(t)[i_] == (uint64_t)T##_##f##_at(t, i_),                       \
                          "%s: " #T "." #f "()[%zu] differs from _at", fg_ctx, i_);                        \
        }                                                                                                 \
        ck_assert_msg((uint64_t)T##_##f##_at(t, n_) == 0, "%s: " #T "." #f "_at past the end is not 0", fg_ctx); \
    } while (0)
#define CK_FVEC(T, t, j, f, align)                                                                         \
    do {                                                                                                  \
        const jv *a_ = jget(j, #f);                                                                       \
        size_t n_ = CK_VEC(T, t, j, f, align);                                                            \
        for (size_t i_ = 0; i_ < n_; i_++) {                                                              \
            fg_flt(#T "." #f "[i]", T##_##f##_at(t, i_), -1, jat(a_, i_), 0);                              \
            ck_assert_msg(T##_##f(t)[i_] == T##_##f##_at(t, i_), "%s: " #T "." #f "()[%zu] differs from _at", \
                          fg_ctx, i_);                                                                    \
        }                                                                                                 \
        ck_assert_msg(T##_##f##_at(t, n_) == 0, "%s: " #T "." #f "_at past the end is not 0", fg_ctx);     \
    } while (0)
/* A vector of strings. */
#define CK_SVEC(T, t, j, f)                                                                                \
    do {                                                                                                  \
        const jv *a_ = jget(j, #f);                                                                       \
        size_t n_ = CK_VECN(T, t, j, f);                                                                  \
        for (size_t i_ = 0; i_ < n_; i_++) fg_str_at(#T "." #f "[i]", T##_##f##_at(t, i_), jat(a_, i_));   \
        ck_assert_msg(T##_##f##_at(t, n_) == NULL, "%s: " #T "." #f "_at past the end is not NULL", fg_ctx); \
    } while (0)
/* An optional enum: present exactly when JSON gives it; absent reads 0. */
#define CK_OPT_ENUM(E, T, t, j, f)                                                                         \
    do {                                                                                                  \
        fg_opt_present(#T "." #f, T##_##f##_present(t), jget(j, #f));                                      \
        ck_##E(#T "." #f, T##_##f(t), -1, jget(j, #f), (E)0);                                             \
    } while (0)

/* Two strings as flatc orders (key) strings: bytewise, then the shorter first. */
static int keycmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

/* ---- JSON compared as values ---------------------------------------------- */

/* Vectors of tables with a (key): flatc sorts them (by key, strings
 * bytewise, integers by signedness), so a source JSON's elements are
 * sorted the same way before they are compared with a decoding. */
static const struct {
    const char *field, *key;
    char kind; /* 's' string, 'i' signed, 'u' unsigned */
} KEYED[] = {{"items", "sku", 's'}, {"bins", "id", 'i'}, {"meta", "key", 's'}, {"docs", "id", 'u'}, {"profiles", "id", 'u'}};

static char sort_kind;
static const char *sort_key;

static int keyed_cmp(const void *x, const void *y)
{
    const jv *a = jget(*(const jv *const *)x, sort_key), *b = jget(*(const jv *const *)y, sort_key);
    if (sort_kind == 's')
        return keycmp(jhas(a) ? a->s : "", jhas(a) ? a->slen : 0, jhas(b) ? b->s : "", jhas(b) ? b->slen : 0);
    if (sort_kind == 'i') {
        long long p = fg_ji(a, 0), q = fg_ji(b, 0);
        return (p > q) - (p < q);
    }
    unsigned long long p = fg_ju(a, 0), q = fg_ju(b, 0);
    return (p > q) - (p < q);
}

static int is_int_text(const char *s)
{
    if (*s == '-') s++;
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static int jnum_eq(const jv *a, const jv *b)
{
    if (is_int_text(a->s) && is_int_text(b->s)) {
        if ((a->s[0] == '-') != (b->s[0] == '-')) return fg_ji(a, 0) == 0 && fg_ji(b, 0) == 0;
        return a->s[0] == '-' ? fg_ji(a, 0) == fg_ji(b, 0) : fg_ju(a, 0) == fg_ju(b, 0);
    }
    return feq(strtod(b->s, NULL), strtod(a->s, NULL));
}

/* want (a source JSON, or flatc's decoding of its own buffer) and got
 * (flatc's decoding of birch's buffer) hold the same values.  strict: both
 * are decodings, with the same members; else want may leave members out
 * (got has them with their defaults, --defaults-json) and null means
 * absent.  field: the member name the value is under (keyed vectors). */
static void jmatch(const char *path, const char *field, const jv *want, const jv *got, int strict)
{
    if (!strict && want->t == 'z') {
        ck_assert_msg(!got || got->t == 'z', "%s: %s: JSON says null, flatc decodes a value", fg_ctx, path);
        return;
    }
    ck_assert_msg(got != NULL, "%s: %s: missing from flatc's decoding", fg_ctx, path);
    ck_assert_msg(got->t == want->t, "%s: %s: JSON type '%c', flatc decodes '%c'", fg_ctx, path, want->t, got->t);
    char sub[1024];
    switch (want->t) {
    case 'o':
        for (size_t i = 0; i < want->n; i++) {
            snprintf(sub, sizeof sub, "%s.%s", path, want->keys[i]);
            const jv *g = jget(got, want->keys[i]);
            if (!strict && want->items[i]->t == 'z') {
                ck_assert_msg(!g || g->t == 'z', "%s: %s: JSON says null, flatc decodes a value", fg_ctx, sub);
                continue;
            }
            ck_assert_msg(g != NULL, "%s: %s: missing from flatc's decoding", fg_ctx, sub);
            jmatch(sub, want->keys[i], want->items[i], g, strict);
        }
        if (strict)
            ck_assert_msg(want->n == got->n, "%s: %s: %zu members against %zu", fg_ctx, path, want->n, got->n);
        break;
    case 'a': {
        ck_assert_msg(want->n == got->n, "%s: %s: %zu elements in JSON, %zu decoded", fg_ctx, path, want->n, got->n);
        const jv **w = malloc((want->n ? want->n : 1) * sizeof *w);
        ck_assert_msg(w != NULL, "out of memory");
        for (size_t i = 0; i < want->n; i++) w[i] = want->items[i];
        for (size_t k = 0; !strict && k < sizeof KEYED / sizeof KEYED[0]; k++)
            if (!strcmp(field, KEYED[k].field) && want->n && want->items[0]->t == 'o') {
                sort_key = KEYED[k].key;
                sort_kind = KEYED[k].kind;
                qsort(w, want->n, sizeof *w, keyed_cmp);
            }
        for (size_t i = 0; i < want->n; i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            jmatch(sub, "", w[i], got->items[i], strict);
        }
        free(w);
        break;
    }
    case 's':
        ck_assert_msg(want->slen == got->slen && !memcmp(want->s, got->s, want->slen),
                      "%s: %s: JSON says \"%s\", flatc decodes \"%s\"", fg_ctx, path, want->s, got->s);
        break;
    case 'n':
        ck_assert_msg(jnum_eq(want, got), "%s: %s: JSON says %s, flatc decodes %s", fg_ctx, path, want->s, got->s);
        break;
    case 'b':
        ck_assert_msg(want->b == got->b, "%s: %s: JSON says %d, flatc decodes %d", fg_ctx, path, want->b, got->b);
        break;
    default:
        break;
    }
}

/* ---- Reading in bounds (fbs_gen.h) ----------------------------------------- */

void fg_in(fg_bounds *b, const void *p, size_t n, const char *what)
{
    if (!p) return;
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)b->lo, hi = (uintptr_t)b->hi;
    ck_assert_msg(a >= lo && a <= hi && n <= hi - a, "%s: %s: %zu bytes at offset %ld outside the %zu-byte buffer",
                  b->ctx, what, n, (long)(a - lo), (size_t)(hi - lo));
    const uint8_t *q = p;
    for (size_t i = 0; i < n; i++) b->sum += q[i];
}

void fg_in_str(fg_bounds *b, const char *s, const char *what)
{
    if (!s) return;
    fg_in(b, s - 4, 4, what);
    size_t len = birch_fb_strlen(s);
    ck_assert_msg(len < (size_t)((uintptr_t)b->hi - (uintptr_t)s), "%s: %s: a %zu-byte string past the buffer's end",
                  b->ctx, what, len);
    fg_in(b, s, len + 1, what);
    ck_assert_msg(s[len] == 0, "%s: %s: no NUL after the string", b->ctx, what);
}

/* ==== inventory.fbs ========================================================= */

FG_ENUM_CHECK(shop_common_Currency, 0, shop_common_Currency_XXX, shop_common_Currency_JPY, shop_common_Currency_USD,
              shop_common_Currency_EUR, shop_common_Currency_Max)
FG_ENUM_CHECK(shop_common_Unit, 0, shop_common_Unit_Unknown, shop_common_Unit_Piece, shop_common_Unit_Gram,
              shop_common_Unit_Millilitre, shop_common_Unit_Metre)
FG_ENUM_CHECK(shop_inventory_Grade, 0, shop_inventory_Grade_Reject, shop_inventory_Grade_Poor,
              shop_inventory_Grade_Unrated, shop_inventory_Grade_Good, shop_inventory_Grade_Best)
FG_ENUM_CHECK(shop_inventory_Shelf, 0, shop_inventory_Shelf_Floor, shop_inventory_Shelf_Low,
              shop_inventory_Shelf_Middle, shop_inventory_Shelf_High, shop_inventory_Shelf_Top)
FG_ENUM_CHECK(shop_inventory_Zone, 0, shop_inventory_Zone_Freezer, shop_inventory_Zone_Cold,
              shop_inventory_Zone_Ambient, shop_inventory_Zone_Hot)
FG_ENUM_CHECK(shop_inventory_Dock, 0, shop_inventory_Dock_North, shop_inventory_Dock_South, shop_inventory_Dock_East,
              shop_inventory_Dock_West)
FG_ENUM_CHECK(shop_inventory_Batch, 0, shop_inventory_Batch_Legacy, shop_inventory_Batch_Current,
              shop_inventory_Batch_Next, shop_inventory_Batch_Future)
FG_ENUM_CHECK(shop_inventory_Carrier, 0, shop_inventory_Carrier_Own, shop_inventory_Carrier_Post,
              shop_inventory_Carrier_Freight)
FG_ENUM_CHECK(shop_inventory_Ledger, 0, shop_inventory_Ledger_Opening, shop_inventory_Ledger_Zero,
              shop_inventory_Ledger_Closing)
FG_ENUM_CHECK(shop_inventory_Barcode, 0, shop_inventory_Barcode_NoCode, shop_inventory_Barcode_Ean13,
              shop_inventory_Barcode_Upper, shop_inventory_Barcode_Max)
FG_ENUM_CHECK(shop_inventory_Handling, 1, shop_inventory_Handling_Fragile, shop_inventory_Handling_Perishable,
              shop_inventory_Handling_Hazardous, shop_inventory_Handling_Oversize)
FG_ENUM_CHECK(shop_inventory_Certs, 1, shop_inventory_Certs_Iso9001, shop_inventory_Certs_Organic,
              shop_inventory_Certs_Audited)

/* The enums' values as the schema declares them (bit flags: 1 << the
 * declared bit), beyond what the JSON data reaches. */
static void ck_inventory_enum_values(void)
{
    ck_assert_msg(shop_inventory_Grade_Reject == -128 && shop_inventory_Grade_Best == 127 &&
                      shop_inventory_Grade_Unrated == 0 && shop_inventory_Grade_Good == 1,
                  "inventory: Grade's values");
    ck_assert_msg(shop_inventory_Shelf_Middle == 11 && shop_inventory_Shelf_Top == 255, "inventory: Shelf's values");
    ck_assert_msg(shop_inventory_Zone_Freezer == -32768 && shop_inventory_Zone_Hot == 32767, "inventory: Zone's values");
    ck_assert_msg(shop_inventory_Dock_South == 2 && shop_inventory_Dock_West == 65535, "inventory: Dock's values");
    ck_assert_msg(shop_inventory_Batch_Legacy == INT32_MIN && shop_inventory_Batch_Future == INT32_MAX,
                  "inventory: Batch's values");
    ck_assert_msg(shop_inventory_Carrier_Freight == UINT32_MAX && sizeof(shop_inventory_Carrier) == 4,
                  "inventory: Carrier's values, a u32 type");
    ck_assert_msg(shop_inventory_Ledger_Opening == INT64_MIN && shop_inventory_Ledger_Closing == INT64_MAX,
                  "inventory: Ledger's values");
    ck_assert_msg(shop_inventory_Barcode_Upper == (UINT64_C(1) << 63) && shop_inventory_Barcode_Max == UINT64_MAX,
                  "inventory: Barcode's values beyond INT64_MAX");
    ck_assert_msg(shop_inventory_Handling_Fragile == 1 && shop_inventory_Handling_Perishable == 2 &&
                      shop_inventory_Handling_Hazardous == 32 && shop_inventory_Handling_Oversize == 32768,
                  "inventory: Handling's bit flags are 1 << n");
    ck_assert_msg(shop_inventory_Certs_Organic == (UINT64_C(1) << 32) && shop_inventory_Certs_Audited == (UINT64_C(1) << 63),
                  "inventory: Certs' bit flags up to bit 63");
    ck_assert_msg(shop_common_Currency_JPY == 392 && shop_common_Currency_EUR == 978 && shop_common_Unit_Metre == 10 &&
                      shop_common_Unit_Unknown == -1,
                  "inventory: included enums' values");
    ck_assert_msg(shop_inventory_Grade_name((shop_inventory_Grade)5) == NULL &&
                      shop_inventory_Certs_name(shop_inventory_Certs_Iso9001 | shop_inventory_Certs_Organic) == NULL &&
                      !strcmp(shop_inventory_Barcode_name(UINT64_MAX), "Max"),
                  "inventory: E_name of values the enum lacks, of a mask of two flags, of a ulong above INT64_MAX");
}

static void ck_money(const char *what, const shop_common_Money *m, const jv *j)
{
    if (!fg_has(what, m, j)) return;
    CK_ALIGNED(what, m, shop_common_Money);
    fg_int("Money.amount", m->amount, -1, jget(j, "amount"), 0);
    ck_shop_common_Currency("Money.currency", (shop_common_Currency)m->currency, -1, jget(j, "currency"),
                            shop_common_Currency_XXX);
}

static void ck_quantity(const char *what, const shop_common_Quantity *q, const jv *j)
{
    if (!fg_has(what, q, j)) return;
    CK_ALIGNED(what, q, shop_common_Quantity);
    ck_shop_common_Unit("Quantity.unit", (shop_common_Unit)q->unit, -1, jget(j, "unit"), shop_common_Unit_Piece);
    fg_uint("Quantity.count", q->count, -1, jget(j, "count"), 0);
}

static void ck_item(const shop_inventory_Item_table *t, const jv *j)
{
    CK_STR(shop_inventory_Item, t, j, sku);
    CK_STR(shop_inventory_Item, t, j, name);
    CK_ENUM(shop_inventory_Grade, shop_inventory_Item, t, j, grade, shop_inventory_Grade_Good);
    CK_ENUM(shop_inventory_Shelf, shop_inventory_Item, t, j, shelf, shop_inventory_Shelf_High);
    CK_ENUM(shop_inventory_Zone, shop_inventory_Item, t, j, zone, shop_inventory_Zone_Ambient);
    CK_ENUM(shop_inventory_Dock, shop_inventory_Item, t, j, dock, shop_inventory_Dock_North);
    CK_ENUM(shop_inventory_Batch, shop_inventory_Item, t, j, batch, shop_inventory_Batch_Future);
    CK_ENUM(shop_inventory_Carrier, shop_inventory_Item, t, j, carrier, shop_inventory_Carrier_Freight);
    CK_ENUM(shop_inventory_Ledger, shop_inventory_Item, t, j, ledger, shop_inventory_Ledger_Opening);
    CK_ENUM(shop_inventory_Barcode, shop_inventory_Item, t, j, barcode, shop_inventory_Barcode_Ean13);
    CK_ENUM(shop_inventory_Handling, shop_inventory_Item, t, j, handling, shop_inventory_Handling_Fragile);
    /* certs = "Iso9001 Organic": a default by flag names */
    CK_ENUM(shop_inventory_Certs, shop_inventory_Item, t, j, certs,
            shop_inventory_Certs_Iso9001 | shop_inventory_Certs_Organic);
    ck_money("Item.price", shop_inventory_Item_price(t), jget(j, "price"));
    ck_assert_msg(shop_inventory_Item_price_present(t) == jhas(jget(j, "price")), "%s: Item.price_present", fg_ctx);
    ck_quantity("Item.stock", shop_inventory_Item_stock(t), jget(j, "stock"));
    ck_assert_msg(shop_inventory_Item_stock_present(t) == jhas(jget(j, "stock")), "%s: Item.stock_present", fg_ctx);
    CK_IVEC(shop_inventory_Item, t, j, bins, 4, fg_int);
    CK_UINT(shop_inventory_Item, t, j, weight_g, 0);
}

static void ck_bin(const shop_inventory_Bin_table *t, const jv *j)
{
    CK_INT(shop_inventory_Bin, t, j, id, 0);
    CK_STR(shop_inventory_Bin, t, j, label);
    CK_ENUM(shop_inventory_Shelf, shop_inventory_Bin, t, j, shelf, shop_inventory_Shelf_Middle);
    CK_ENUM(shop_inventory_Zone, shop_inventory_Bin, t, j, zone, shop_inventory_Zone_Cold);
    ck_quantity("Bin.capacity", shop_inventory_Bin_capacity(t), jget(j, "capacity"));
    ck_assert_msg(shop_inventory_Bin_capacity_present(t) == jhas(jget(j, "capacity")), "%s: Bin.capacity_present",
                  fg_ctx);
}

/* Every field with the schema's defaults (t NULL reads them all too). */
static void ck_metrics(const shop_inventory_Metrics_table *t, const jv *j)
{
    CK_BOOL(shop_inventory_Metrics, t, j, active, 1);
    CK_INT(shop_inventory_Metrics, t, j, i8, -100);
    CK_UINT(shop_inventory_Metrics, t, j, u8, 250);
    CK_INT(shop_inventory_Metrics, t, j, i16, -30000);
    CK_UINT(shop_inventory_Metrics, t, j, u16, 65000);
    CK_INT(shop_inventory_Metrics, t, j, i32, -2000000000);
    CK_UINT(shop_inventory_Metrics, t, j, u32, 4000000000u);
    CK_INT(shop_inventory_Metrics, t, j, i64, -9000000000000000000ll);
    CK_UINT(shop_inventory_Metrics, t, j, u64, 9223372036854775807ull);
    CK_FLT(shop_inventory_Metrics, t, j, f32, 3.5);
    CK_FLT(shop_inventory_Metrics, t, j, f64, -2.25e10);
    CK_INT(shop_inventory_Metrics, t, j, a_int8, 0x7f);
    CK_UINT(shop_inventory_Metrics, t, j, a_uint8, 0xFF);
    CK_INT(shop_inventory_Metrics, t, j, a_int16, -1);
    CK_UINT(shop_inventory_Metrics, t, j, a_uint16, 1);
    CK_INT(shop_inventory_Metrics, t, j, a_int32, INT32_MIN);
    CK_UINT(shop_inventory_Metrics, t, j, a_uint32, 0);
    CK_INT(shop_inventory_Metrics, t, j, a_int64, INT64_MIN);
    CK_UINT(shop_inventory_Metrics, t, j, a_uint64, 0x7FFFFFFFFFFFFFFFull);
    CK_FLT(shop_inventory_Metrics, t, j, a_float32, NAN);
    CK_FLT(shop_inventory_Metrics, t, j, a_float64, INFINITY);
    CK_FLT(shop_inventory_Metrics, t, j, neg_inf, -INFINITY);
    CK_FLT(shop_inventory_Metrics, t, j, pos_inf, INFINITY);
    CK_FLT(shop_inventory_Metrics, t, j, tiny, 5e-324);
    CK_UINT(shop_inventory_Metrics, t, j, big_ulong, 1234567890123456789ull);
    CK_FLT(shop_inventory_Metrics, t, j, neg_zero, -0.0); /* the .bfbs keeps 0.0 (README): not told apart */
    CK_BOOL(shop_inventory_Metrics, t, j, off, 0);
    if (!jhas(jget(j, "tiny")))
        ck_assert_msg(shop_inventory_Metrics_tiny(t) == 5e-324 && shop_inventory_Metrics_tiny(t) > 0,
                      "%s: Metrics.tiny's default is not the denormal 5e-324", fg_ctx);
    if (!jhas(jget(j, "a_float32")))
        ck_assert_msg(isnan(shop_inventory_Metrics_a_float32(t)), "%s: Metrics.a_float32's default is not nan", fg_ctx);
    if (!jhas(jget(j, "neg_inf")))
        ck_assert_msg(isinf(shop_inventory_Metrics_neg_inf(t)) && shop_inventory_Metrics_neg_inf(t) < 0,
                      "%s: Metrics.neg_inf's default is not -inf", fg_ctx);
}

static void ck_audit(const shop_inventory_Audit_table *t, const jv *j)
{
    CK_OPT_INT(shop_inventory_Audit, t, j, counted);
    CK_OPT_ENUM(shop_inventory_Grade, shop_inventory_Audit, t, j, grade);
    CK_OPT_INT(shop_inventory_Audit, t, j, i8);
    CK_OPT_UINT(shop_inventory_Audit, t, j, u8);
    CK_OPT_INT(shop_inventory_Audit, t, j, i16);
    CK_OPT_UINT(shop_inventory_Audit, t, j, u16);
    CK_OPT_INT(shop_inventory_Audit, t, j, i32);
    CK_OPT_UINT(shop_inventory_Audit, t, j, u32);
    CK_OPT_INT(shop_inventory_Audit, t, j, i64);
    CK_OPT_UINT(shop_inventory_Audit, t, j, u64);
    CK_OPT_FLT(shop_inventory_Audit, t, j, f32);
    CK_OPT_FLT(shop_inventory_Audit, t, j, f64);
    CK_OPT_ENUM(shop_inventory_Dock, shop_inventory_Audit, t, j, dock);
    CK_OPT_ENUM(shop_inventory_Handling, shop_inventory_Audit, t, j, handling);
}

static void ck_series(const shop_inventory_Series_table *t, const jv *j)
{
    CK_IVEC(shop_inventory_Series, t, j, v_bool, 1, fg_bool);
    CK_IVEC(shop_inventory_Series, t, j, v_i8, 1, fg_int);
    CK_IVEC(shop_inventory_Series, t, j, v_u8, 1, fg_uint);
    CK_IVEC(shop_inventory_Series, t, j, v_i16, 2, fg_int);
    CK_IVEC(shop_inventory_Series, t, j, v_u16, 2, fg_uint);
    CK_IVEC(shop_inventory_Series, t, j, v_i32, 4, fg_int);
    CK_IVEC(shop_inventory_Series, t, j, v_u32, 4, fg_uint);
    CK_IVEC(shop_inventory_Series, t, j, v_i64, 8, fg_int);
    CK_IVEC(shop_inventory_Series, t, j, v_u64, 8, fg_uint);
    CK_FVEC(shop_inventory_Series, t, j, v_f32, 4);
    CK_FVEC(shop_inventory_Series, t, j, v_f64, 8);
    CK_IVEC(shop_inventory_Series, t, j, grades, 1, ck_shop_inventory_Grade);
    CK_IVEC(shop_inventory_Series, t, j, barcodes, 8, ck_shop_inventory_Barcode);
    CK_IVEC(shop_inventory_Series, t, j, handling, 2, ck_shop_inventory_Handling);
    CK_IVEC(shop_inventory_Series, t, j, units, 1, ck_shop_common_Unit);
    CK_SVEC(shop_inventory_Series, t, j, names);
}

/* Keys a JSON vector of keyed tables does not hold. */
static int json_has_key(const jv *a, const char *key, const char *s, long long i)
{
    for (size_t k = 0; a && k < a->n; k++) {
        const jv *x = jget(a->items[k], key);
        if (s ? (jhas(x) && !strcmp(x->s, s)) : fg_ji(x, 0) == i) return 1;
    }
    return 0;
}

static void ck_warehouse(const shop_inventory_Warehouse_table *t, const jv *j)
{
    ck_inventory_enum_values();
    CK_STR(shop_inventory_Warehouse, t, j, name);

    /* items: sorted by sku, each JSON item found by find_by_sku */
    const jv *items = jget(j, "items");
    size_t n = CK_VECN(shop_inventory_Warehouse, t, j, items);
    for (size_t i = 1; i < n; i++) {
        const shop_inventory_Item_table *a = shop_inventory_Warehouse_items_at(t, i - 1),
                                        *b = shop_inventory_Warehouse_items_at(t, i);
        ck_assert_msg(keycmp(shop_inventory_Item_sku(a), shop_inventory_Item_sku_len(a), shop_inventory_Item_sku(b),
                             shop_inventory_Item_sku_len(b)) < 0,
                      "%s: Warehouse.items not sorted by sku at %zu", fg_ctx, i);
    }
    for (size_t i = 0; i < n; i++) {
        const jv *it = jat(items, i);
        const char *sku = jget(it, "sku")->s;
        const shop_inventory_Item_table *x = shop_inventory_Warehouse_items_find_by_sku(t, sku);
        ck_assert_msg(x != NULL, "%s: Warehouse.items_find_by_sku(\"%s\") finds nothing", fg_ctx, sku);
        ck_item(x, it);
        /* _n: the key by its length; a prefix of it or the key and a NUL are other keys. */
        size_t len = strlen(sku);
        ck_assert_msg(shop_inventory_Warehouse_items_find_by_sku_n(t, sku, len) == x, "%s: _n(\"%s\")", fg_ctx, sku);
        if (len) { /* a shorter key: found only if an item has it */
            char pre[256];
            snprintf(pre, sizeof pre, "%.*s", (int)(len - 1), sku);
            if (!json_has_key(items, "sku", pre, 0))
                ck_assert_msg(shop_inventory_Warehouse_items_find_by_sku_n(t, sku, len - 1) == NULL, "%s: _n(\"%s\", %zu)",
                              fg_ctx, sku, len - 1);
        }
        char nul[256];
        memcpy(nul, sku, len < 255 ? len : 255);
        nul[len < 255 ? len : 255] = 0;
        ck_assert_msg(len >= 255 || shop_inventory_Warehouse_items_find_by_sku_n(t, nul, len + 1) == NULL,
                      "%s: _n(\"%s\\0\") finds an item", fg_ctx, sku);
    }
    /* NULL is no key: it finds nothing, not the item whose sku is "". */
    ck_assert(shop_inventory_Warehouse_items_find_by_sku(t, NULL) == NULL);
    ck_assert(shop_inventory_Warehouse_items_find_by_sku_n(t, NULL, 3) == NULL);
    static const char *const no_skus[] = {"", "A", "BOLT-M7", "BOLT-M9", "BOLT-M8x", "TEA-0002\x01", "x", "zzz", "\xff"};
    for (size_t k = 0; k < sizeof no_skus / sizeof no_skus[0]; k++)
        if (!json_has_key(items, "sku", no_skus[k], 0))
            ck_assert_msg(shop_inventory_Warehouse_items_find_by_sku(t, no_skus[k]) == NULL,
                          "%s: Warehouse.items_find_by_sku(\"%s\") finds an item", fg_ctx, no_skus[k]);
    ck_assert_msg(shop_inventory_Warehouse_items_at(t, n) == NULL, "%s: Warehouse.items_at past the end", fg_ctx);

    /* bins: sorted by id (signed), each found by find_by_id */
    const jv *bins = jget(j, "bins");
    n = CK_VECN(shop_inventory_Warehouse, t, j, bins);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(shop_inventory_Bin_id(shop_inventory_Warehouse_bins_at(t, i - 1)) <
                          shop_inventory_Bin_id(shop_inventory_Warehouse_bins_at(t, i)),
                      "%s: Warehouse.bins not sorted by id at %zu", fg_ctx, i);
    for (size_t i = 0; i < n; i++) {
        const jv *b = jat(bins, i);
        int32_t id = (int32_t)fg_ji(jget(b, "id"), 0);
        const shop_inventory_Bin_table *x = shop_inventory_Warehouse_bins_find_by_id(t, id);
        ck_assert_msg(x != NULL, "%s: Warehouse.bins_find_by_id(%d) finds nothing", fg_ctx, id);
        ck_bin(x, b);
    }
    static const int32_t no_ids[] = {0, 1, -4, -2, 6, 8, INT32_MAX - 1, INT32_MIN + 1};
    for (size_t k = 0; k < sizeof no_ids / sizeof no_ids[0]; k++)
        if (!json_has_key(bins, "id", NULL, no_ids[k]))
            ck_assert_msg(shop_inventory_Warehouse_bins_find_by_id(t, no_ids[k]) == NULL,
                          "%s: Warehouse.bins_find_by_id(%d) finds a bin", fg_ctx, no_ids[k]);

    const jv *jm = jget(j, "metrics");
    fg_has("Warehouse.metrics", shop_inventory_Warehouse_metrics(t), jm);
    ck_assert_msg(shop_inventory_Warehouse_metrics_present(t) == jhas(jm), "%s: Warehouse.metrics_present", fg_ctx);
    ck_metrics(shop_inventory_Warehouse_metrics(t), jm);
    const jv *ja = jget(j, "audit");
    fg_has("Warehouse.audit", shop_inventory_Warehouse_audit(t), ja);
    ck_audit(shop_inventory_Warehouse_audit(t), ja);
    const jv *js = jget(j, "series");
    fg_has("Warehouse.series", shop_inventory_Warehouse_series(t), js);
    ck_series(shop_inventory_Warehouse_series(t), js);

    const jv *a = jget(j, "prices");
    n = CK_VEC(shop_inventory_Warehouse, t, j, prices, 8);
    for (size_t i = 0; i < n; i++) {
        ck_money("Warehouse.prices[i]", shop_inventory_Warehouse_prices_at(t, i), jat(a, i));
        ck_assert_msg(&shop_inventory_Warehouse_prices(t)[i] == shop_inventory_Warehouse_prices_at(t, i),
                      "%s: Warehouse.prices()[%zu] is not prices_at", fg_ctx, i);
    }
    ck_assert_msg(shop_inventory_Warehouse_prices_at(t, n) == NULL, "%s: Warehouse.prices_at past the end", fg_ctx);
    a = jget(j, "stock");
    n = CK_VEC(shop_inventory_Warehouse, t, j, stock, 4);
    for (size_t i = 0; i < n; i++)
        ck_quantity("Warehouse.stock[i]", shop_inventory_Warehouse_stock_at(t, i), jat(a, i));
    ck_quantity("Warehouse.capacity", shop_inventory_Warehouse_capacity(t), jget(j, "capacity"));
    ck_assert_msg(shop_inventory_Warehouse_capacity_present(t), "%s: the required Warehouse.capacity is absent", fg_ctx);
    CK_SVEC(shop_inventory_Warehouse, t, j, tags);
}

static void check_inventory(const void *root, const jv *j) { ck_warehouse(root, j); }

/* inventory.json through the generated builders, in the JSON's order
 * (flatc's parser builds in that order too).  Strings that repeat ("")
 * are shared. */
static birch_fb_ref inv_item(birch_fb_builder *b, const char *sku, const char *name, shop_inventory_Grade grade,
                             shop_inventory_Shelf shelf, shop_inventory_Zone zone, shop_inventory_Dock dock,
                             shop_inventory_Batch batch, shop_inventory_Carrier carrier, shop_inventory_Ledger ledger,
                             shop_inventory_Barcode barcode, uint16_t handling, shop_inventory_Certs certs,
                             shop_common_Money price, shop_common_Quantity stock, const int32_t *bins, int nbins,
                             uint32_t weight_g)
{
    birch_fb_ref s = birch_fb_shared_string(b, sku, strlen(sku));
    birch_fb_ref nm = name ? birch_fb_shared_string(b, name, strlen(name)) : 0;
    birch_fb_ref bv = nbins >= 0 ? shop_inventory_Item_vec_bins(b, bins, (size_t)nbins) : 0;
    shop_inventory_Item_start(b);
    shop_inventory_Item_add_sku(b, s);
    shop_inventory_Item_add_name(b, nm);
    shop_inventory_Item_add_grade(b, grade);
    shop_inventory_Item_add_shelf(b, shelf);
    shop_inventory_Item_add_zone(b, zone);
    shop_inventory_Item_add_dock(b, dock);
    shop_inventory_Item_add_batch(b, batch);
    shop_inventory_Item_add_carrier(b, carrier);
    shop_inventory_Item_add_ledger(b, ledger);
    shop_inventory_Item_add_barcode(b, barcode);
    shop_inventory_Item_add_handling(b, (shop_inventory_Handling)handling);
    shop_inventory_Item_add_certs(b, certs);
    shop_inventory_Item_add_price(b, &price);
    shop_inventory_Item_add_stock(b, &stock);
    shop_inventory_Item_add_bins(b, bv);
    shop_inventory_Item_add_weight_g(b, weight_g);
    return shop_inventory_Item_end(b);
}

static birch_fb_ref inv_bin(birch_fb_builder *b, int32_t id, const char *label, shop_inventory_Shelf shelf,
                            shop_inventory_Zone zone, const shop_common_Quantity *capacity)
{
    birch_fb_ref l = label ? birch_fb_shared_string(b, label, strlen(label)) : 0;
    shop_inventory_Bin_start(b);
    shop_inventory_Bin_add_id(b, id);
    shop_inventory_Bin_add_label(b, l);
    shop_inventory_Bin_add_shelf(b, shelf);
    shop_inventory_Bin_add_zone(b, zone);
    shop_inventory_Bin_add_capacity(b, capacity);
    return shop_inventory_Bin_end(b);
}

static birch_val finish(int rc, birch_val out, const char *what)
{
    ck_assert_msg(rc == BIRCH_OK, "%s: finish returned %d (%s)", what, rc, birch_errmsg());
    return out;
}

static birch_val build_inventory(birch_fb_builder *b, int min)
{
    birch_val out = {NULL, 0};
    if (min) {
        birch_fb_ref name = birch_fb_shared_string(b, "", 0);
        birch_fb_ref sku = birch_fb_cstring(b, "x");
        shop_inventory_Item_start(b);
        shop_inventory_Item_add_sku(b, sku);
        birch_fb_ref item = shop_inventory_Item_end(b);
        birch_fb_ref items = shop_inventory_Warehouse_vec_items(b, &item, 1);
        birch_fb_ref bins = shop_inventory_Warehouse_vec_bins(b, NULL, 0);
        shop_inventory_Metrics_start(b);
        birch_fb_ref metrics = shop_inventory_Metrics_end(b);
        birch_fb_ref vb = shop_inventory_Series_vec_v_bool(b, NULL, 0);
        birch_fb_ref vu8 = shop_inventory_Series_vec_v_u8(b, NULL, 0);
        birch_fb_ref vf64 = shop_inventory_Series_vec_v_f64(b, NULL, 0);
        birch_fb_ref grades = shop_inventory_Series_vec_grades(b, NULL, 0);
        birch_fb_ref names = shop_inventory_Series_vec_names(b, NULL, 0);
        shop_inventory_Series_start(b);
        shop_inventory_Series_add_v_bool(b, vb);
        shop_inventory_Series_add_v_u8(b, vu8);
        shop_inventory_Series_add_v_f64(b, vf64);
        shop_inventory_Series_add_grades(b, grades);
        shop_inventory_Series_add_names(b, names);
        birch_fb_ref series = shop_inventory_Series_end(b);
        birch_fb_ref prices = shop_inventory_Warehouse_vec_prices(b, NULL, 0);
        birch_fb_ref tags = shop_inventory_Warehouse_vec_tags(b, NULL, 0);
        shop_common_Quantity cap = {.unit = shop_common_Unit_Piece, .count = 0};
        shop_inventory_Warehouse_start(b);
        shop_inventory_Warehouse_add_name(b, name);
        shop_inventory_Warehouse_add_items(b, items);
        shop_inventory_Warehouse_add_bins(b, bins);
        shop_inventory_Warehouse_add_metrics(b, metrics);
        shop_inventory_Warehouse_add_series(b, series);
        shop_inventory_Warehouse_add_prices(b, prices);
        shop_inventory_Warehouse_add_capacity(b, &cap);
        shop_inventory_Warehouse_add_tags(b, tags);
        birch_fb_ref root = shop_inventory_Warehouse_end(b);
        return finish(shop_inventory_Warehouse_finish(b, root, 0, &out), out, "inventory_min");
    }
    birch_fb_ref name = birch_fb_cstring(b, "Central warehouse");
    birch_fb_ref items[3];
    static const int32_t tea_bins[] = {1, INT32_MIN, INT32_MAX};
    items[0] = inv_item(b, "TEA-0002", "Green tea, 100 g", shop_inventory_Grade_Best, shop_inventory_Shelf_Top,
                        shop_inventory_Zone_Freezer, shop_inventory_Dock_West, shop_inventory_Batch_Legacy,
                        shop_inventory_Carrier_Post, shop_inventory_Ledger_Closing, shop_inventory_Barcode_Max,
                        shop_inventory_Handling_Fragile | shop_inventory_Handling_Perishable |
                            shop_inventory_Handling_Oversize,
                        shop_inventory_Certs_Audited,
                        (shop_common_Money){.amount = INT64_MIN, .currency = shop_common_Currency_JPY},
                        (shop_common_Quantity){.unit = shop_common_Unit_Gram, .count = UINT32_MAX}, tea_bins, 3, 100);
    items[1] = inv_item(b, "BOLT-M8", NULL, shop_inventory_Grade_Reject, shop_inventory_Shelf_Floor,
                        shop_inventory_Zone_Hot, shop_inventory_Dock_East, shop_inventory_Batch_Current,
                        shop_inventory_Carrier_Own, shop_inventory_Ledger_Zero, shop_inventory_Barcode_Upper,
                        shop_inventory_Handling_Hazardous,
                        shop_inventory_Certs_Iso9001 | shop_inventory_Certs_Organic | shop_inventory_Certs_Audited,
                        (shop_common_Money){.amount = INT64_MAX, .currency = shop_common_Currency_Max},
                        (shop_common_Quantity){.unit = shop_common_Unit_Unknown, .count = 0}, NULL, 0, UINT32_MAX);
    items[2] = inv_item(b, "", "", shop_inventory_Grade_Poor, shop_inventory_Shelf_Low, shop_inventory_Zone_Ambient,
                        shop_inventory_Dock_South, shop_inventory_Batch_Next, shop_inventory_Carrier_Freight,
                        shop_inventory_Ledger_Opening, shop_inventory_Barcode_NoCode, 0, 0,
                        (shop_common_Money){.amount = 0, .currency = shop_common_Currency_XXX},
                        (shop_common_Quantity){.unit = shop_common_Unit_Metre, .count = 1}, NULL, -1, 0);
    birch_fb_ref iv = shop_inventory_Warehouse_vec_items(b, items, 3);
    birch_fb_ref bins[4];
    shop_common_Quantity ml = {.unit = shop_common_Unit_Millilitre, .count = 500};
    bins[0] = inv_bin(b, 7, "A-07", shop_inventory_Shelf_High, shop_inventory_Zone_Freezer, &ml);
    bins[1] = inv_bin(b, -3, "basement", shop_inventory_Shelf_Floor, shop_inventory_Zone_Ambient, NULL);
    bins[2] = inv_bin(b, INT32_MAX, NULL, shop_inventory_Shelf_Top, shop_inventory_Zone_Hot, NULL);
    bins[3] = inv_bin(b, INT32_MIN, "", shop_inventory_Shelf_Middle, shop_inventory_Zone_Cold, NULL);
    birch_fb_ref bv = shop_inventory_Warehouse_vec_bins(b, bins, 4);

    shop_inventory_Metrics_start(b);
    shop_inventory_Metrics_add_active(b, 0);
    shop_inventory_Metrics_add_i8(b, -128);
    shop_inventory_Metrics_add_u8(b, 255);
    shop_inventory_Metrics_add_i16(b, -32768);
    shop_inventory_Metrics_add_u16(b, 65535);
    shop_inventory_Metrics_add_i32(b, INT32_MAX);
    shop_inventory_Metrics_add_u32(b, UINT32_MAX);
    shop_inventory_Metrics_add_i64(b, INT64_MIN);
    shop_inventory_Metrics_add_u64(b, UINT64_MAX);
    shop_inventory_Metrics_add_f32(b, -1.5f);
    shop_inventory_Metrics_add_f64(b, 3.140625);
    shop_inventory_Metrics_add_a_int8(b, -1);
    shop_inventory_Metrics_add_a_uint8(b, 1);
    shop_inventory_Metrics_add_a_int16(b, 32767);
    shop_inventory_Metrics_add_a_uint16(b, 65535);
    shop_inventory_Metrics_add_a_int32(b, 1);
    shop_inventory_Metrics_add_a_uint32(b, UINT32_MAX);
    shop_inventory_Metrics_add_a_int64(b, INT64_MAX);
    shop_inventory_Metrics_add_a_uint64(b, 1);
    shop_inventory_Metrics_add_a_float32(b, 0.25f);
    shop_inventory_Metrics_add_a_float64(b, -1e15);
    shop_inventory_Metrics_add_neg_inf(b, 2.5);
    shop_inventory_Metrics_add_pos_inf(b, -0.125f);
    shop_inventory_Metrics_add_tiny(b, 0.000244140625);
    shop_inventory_Metrics_add_big_ulong(b, UINT64_MAX - 1);
    shop_inventory_Metrics_add_neg_zero(b, 1.0f);
    shop_inventory_Metrics_add_off(b, 1);
    birch_fb_ref metrics = shop_inventory_Metrics_end(b);

    shop_inventory_Audit_start(b);
    shop_inventory_Audit_add_counted(b, 0);
    shop_inventory_Audit_add_grade(b, shop_inventory_Grade_Unrated);
    shop_inventory_Audit_add_i8(b, 0);
    shop_inventory_Audit_add_u8(b, 0);
    shop_inventory_Audit_add_i16(b, 0);
    shop_inventory_Audit_add_u16(b, 0);
    shop_inventory_Audit_add_i32(b, 0);
    shop_inventory_Audit_add_u32(b, 0);
    shop_inventory_Audit_add_i64(b, 0);
    shop_inventory_Audit_add_u64(b, 0);
    shop_inventory_Audit_add_f32(b, 0.0f);
    shop_inventory_Audit_add_f64(b, 0.0);
    shop_inventory_Audit_add_dock(b, shop_inventory_Dock_North);
    shop_inventory_Audit_add_handling(b, (shop_inventory_Handling)0);
    birch_fb_ref audit = shop_inventory_Audit_end(b);

    static const _Bool v_bool[] = {1, 0, 1};
    static const int8_t v_i8[] = {-128, 0, 127};
    static const uint8_t v_u8[] = {0, 128, 255};
    static const int16_t v_i16[] = {-32768, 32767};
    static const uint16_t v_u16[] = {65535};
    static const int32_t v_i32[] = {INT32_MIN, 0, INT32_MAX};
    static const uint32_t v_u32[] = {UINT32_MAX, 1};
    static const int64_t v_i64[] = {INT64_MIN, INT64_MAX};
    static const uint64_t v_u64[] = {UINT64_MAX, 0};
    static const float v_f32[] = {1.5f, -0.0f, 3.4028235e38f};
    static const double v_f64[] = {0.5, -1.7976931348623157e308};
    static const int8_t grades[] = {shop_inventory_Grade_Reject, shop_inventory_Grade_Best, shop_inventory_Grade_Unrated};
    static const uint64_t barcodes[] = {shop_inventory_Barcode_Max, shop_inventory_Barcode_NoCode,
                                        shop_inventory_Barcode_Upper};
    static const uint16_t handling[] = {shop_inventory_Handling_Fragile,
                                        shop_inventory_Handling_Perishable | shop_inventory_Handling_Hazardous, 0};
    static const int8_t units[] = {shop_common_Unit_Unknown, shop_common_Unit_Metre};
    birch_fb_ref r_bool = shop_inventory_Series_vec_v_bool(b, v_bool, 3);
    birch_fb_ref r_i8 = shop_inventory_Series_vec_v_i8(b, v_i8, 3);
    birch_fb_ref r_u8 = shop_inventory_Series_vec_v_u8(b, v_u8, 3);
    birch_fb_ref r_i16 = shop_inventory_Series_vec_v_i16(b, v_i16, 2);
    birch_fb_ref r_u16 = shop_inventory_Series_vec_v_u16(b, v_u16, 1);
    birch_fb_ref r_i32 = shop_inventory_Series_vec_v_i32(b, v_i32, 3);
    birch_fb_ref r_u32 = shop_inventory_Series_vec_v_u32(b, v_u32, 2);
    birch_fb_ref r_i64 = shop_inventory_Series_vec_v_i64(b, v_i64, 2);
    birch_fb_ref r_u64 = shop_inventory_Series_vec_v_u64(b, v_u64, 2);
    birch_fb_ref r_f32 = shop_inventory_Series_vec_v_f32(b, v_f32, 3);
    birch_fb_ref r_f64 = shop_inventory_Series_vec_v_f64(b, v_f64, 2);
    birch_fb_ref r_grades = shop_inventory_Series_vec_grades(b, grades, 3);
    birch_fb_ref r_barcodes = shop_inventory_Series_vec_barcodes(b, barcodes, 3);
    birch_fb_ref r_handling = shop_inventory_Series_vec_handling(b, handling, 3);
    birch_fb_ref r_units = shop_inventory_Series_vec_units(b, units, 2);
    static const char third[] = "third \xc3\xa9\xe4\xb8\xad \"quoted\" \\ \n tab\t";
    birch_fb_ref names[3] = {birch_fb_cstring(b, "first"), birch_fb_shared_string(b, "", 0),
                             birch_fb_string(b, third, sizeof third - 1)};
    birch_fb_ref r_names = shop_inventory_Series_vec_names(b, names, 3);
    shop_inventory_Series_start(b);
    shop_inventory_Series_add_v_bool(b, r_bool);
    shop_inventory_Series_add_v_i8(b, r_i8);
    shop_inventory_Series_add_v_u8(b, r_u8);
    shop_inventory_Series_add_v_i16(b, r_i16);
    shop_inventory_Series_add_v_u16(b, r_u16);
    shop_inventory_Series_add_v_i32(b, r_i32);
    shop_inventory_Series_add_v_u32(b, r_u32);
    shop_inventory_Series_add_v_i64(b, r_i64);
    shop_inventory_Series_add_v_u64(b, r_u64);
    shop_inventory_Series_add_v_f32(b, r_f32);
    shop_inventory_Series_add_v_f64(b, r_f64);
    shop_inventory_Series_add_grades(b, r_grades);
    shop_inventory_Series_add_barcodes(b, r_barcodes);
    shop_inventory_Series_add_handling(b, r_handling);
    shop_inventory_Series_add_units(b, r_units);
    shop_inventory_Series_add_names(b, r_names);
    birch_fb_ref series = shop_inventory_Series_end(b);

    static const shop_common_Money prices[] = {{.amount = 1999, .currency = shop_common_Currency_USD},
                                               {.amount = -5, .currency = shop_common_Currency_EUR}};
    static const shop_common_Quantity stock[] = {{.unit = shop_common_Unit_Piece, .count = 12},
                                                 {.unit = shop_common_Unit_Gram, .count = 250}};
    birch_fb_ref pv = shop_inventory_Warehouse_vec_prices(b, prices, 2);
    birch_fb_ref sv = shop_inventory_Warehouse_vec_stock(b, stock, 2);
    shop_common_Quantity cap = {.unit = shop_common_Unit_Piece, .count = 100000};
    birch_fb_ref tags[3] = {birch_fb_cstring(b, "main"), birch_fb_shared_string(b, "", 0), birch_fb_cstring(b, "24h")};
    birch_fb_ref tv = shop_inventory_Warehouse_vec_tags(b, tags, 3);
    shop_inventory_Warehouse_start(b);
    shop_inventory_Warehouse_add_name(b, name);
    shop_inventory_Warehouse_add_items(b, iv);
    shop_inventory_Warehouse_add_bins(b, bv);
    shop_inventory_Warehouse_add_metrics(b, metrics);
    shop_inventory_Warehouse_add_audit(b, audit);
    shop_inventory_Warehouse_add_series(b, series);
    shop_inventory_Warehouse_add_prices(b, pv);
    shop_inventory_Warehouse_add_stock(b, sv);
    shop_inventory_Warehouse_add_capacity(b, &cap);
    shop_inventory_Warehouse_add_tags(b, tv);
    birch_fb_ref root = shop_inventory_Warehouse_end(b);
    return finish(shop_inventory_Warehouse_finish(b, root, 0, &out), out, "inventory");
}

static void walk_quantity(fg_bounds *bd, const shop_common_Quantity *q, const char *what)
{
    fg_in(bd, q, sizeof *q, what);
    if (q) bd->sum += (uint64_t)q->unit + q->count + (shop_common_Unit_name((shop_common_Unit)q->unit) != NULL);
}

static void walk_money(fg_bounds *bd, const shop_common_Money *m, const char *what)
{
    fg_in(bd, m, sizeof *m, what);
    if (m) bd->sum += (uint64_t)m->amount + m->currency + (shop_common_Currency_name((shop_common_Currency)m->currency) != NULL);
}

/* Every field of a buffer the verifier accepted, each pointer inside bd. */
static void walk_inventory(fg_bounds *bd, const void *buf, size_t size)
{
    const shop_inventory_Warehouse_table *w = shop_inventory_Warehouse_root(buf, size, 0);
    fg_in(bd, w, 4, "Warehouse");
    fg_in_str(bd, shop_inventory_Warehouse_name(w), "Warehouse.name");
    size_t n = shop_inventory_Warehouse_items_len(w);
    for (size_t i = 0; i < n; i++) {
        const shop_inventory_Item_table *t = shop_inventory_Warehouse_items_at(w, i);
        fg_in(bd, t, 4, "Item");
        fg_in_str(bd, shop_inventory_Item_sku(t), "Item.sku");
        fg_in_str(bd, shop_inventory_Item_name(t), "Item.name");
        bd->sum += (uint64_t)shop_inventory_Item_grade(t) + shop_inventory_Item_shelf(t) +
                   (uint64_t)shop_inventory_Item_zone(t) + shop_inventory_Item_dock(t) +
                   (uint64_t)shop_inventory_Item_batch(t) + shop_inventory_Item_carrier(t) +
                   (uint64_t)shop_inventory_Item_ledger(t) + shop_inventory_Item_barcode(t) +
                   shop_inventory_Item_handling(t) + shop_inventory_Item_certs(t) + shop_inventory_Item_weight_g(t) +
                   shop_inventory_Item_grade_present(t) + shop_inventory_Item_certs_present(t);
        bd->sum += shop_inventory_Grade_name(shop_inventory_Item_grade(t)) != NULL;
        walk_money(bd, shop_inventory_Item_price(t), "Item.price");
        walk_quantity(bd, shop_inventory_Item_stock(t), "Item.stock");
        size_t nb = shop_inventory_Item_bins_len(t);
        fg_in(bd, shop_inventory_Item_bins(t), nb * 4, "Item.bins");
        for (size_t k = 0; k <= nb; k++) bd->sum += (uint64_t)shop_inventory_Item_bins_at(t, k);
        const char *sku = shop_inventory_Item_sku(t);
        if (sku && memchr(sku, 0, shop_inventory_Item_sku_len(t) + 1) == sku + shop_inventory_Item_sku_len(t))
            fg_in(bd, shop_inventory_Warehouse_items_find_by_sku(w, sku), 4, "items_find_by_sku");
    }
    n = shop_inventory_Warehouse_bins_len(w);
    for (size_t i = 0; i < n; i++) {
        const shop_inventory_Bin_table *t = shop_inventory_Warehouse_bins_at(w, i);
        fg_in(bd, t, 4, "Bin");
        fg_in_str(bd, shop_inventory_Bin_label(t), "Bin.label");
        bd->sum += (uint64_t)shop_inventory_Bin_id(t) + shop_inventory_Bin_shelf(t) + (uint64_t)shop_inventory_Bin_zone(t);
        walk_quantity(bd, shop_inventory_Bin_capacity(t), "Bin.capacity");
        fg_in(bd, shop_inventory_Warehouse_bins_find_by_id(w, shop_inventory_Bin_id(t)), 4, "bins_find_by_id");
    }
    const shop_inventory_Metrics_table *m = shop_inventory_Warehouse_metrics(w);
    fg_in(bd, m, 4, "Metrics");
    bd->sum += shop_inventory_Metrics_active(m) + (uint64_t)shop_inventory_Metrics_i8(m) + shop_inventory_Metrics_u8(m) +
               (uint64_t)shop_inventory_Metrics_i16(m) + shop_inventory_Metrics_u16(m) +
               (uint64_t)shop_inventory_Metrics_i32(m) + shop_inventory_Metrics_u32(m) +
               (uint64_t)shop_inventory_Metrics_i64(m) + shop_inventory_Metrics_u64(m) +
               (uint64_t)(shop_inventory_Metrics_f32(m) > 0) + (uint64_t)(shop_inventory_Metrics_f64(m) > 0) +
               (uint64_t)shop_inventory_Metrics_a_int8(m) + shop_inventory_Metrics_a_uint8(m) +
               (uint64_t)shop_inventory_Metrics_a_int16(m) + shop_inventory_Metrics_a_uint16(m) +
               (uint64_t)shop_inventory_Metrics_a_int32(m) + shop_inventory_Metrics_a_uint32(m) +
               (uint64_t)shop_inventory_Metrics_a_int64(m) + shop_inventory_Metrics_a_uint64(m) +
               (uint64_t)(shop_inventory_Metrics_a_float32(m) > 0) + (uint64_t)(shop_inventory_Metrics_a_float64(m) > 0) +
               (uint64_t)(shop_inventory_Metrics_neg_inf(m) > 0) + (uint64_t)(shop_inventory_Metrics_pos_inf(m) > 0) +
               (uint64_t)(shop_inventory_Metrics_tiny(m) > 0) + shop_inventory_Metrics_big_ulong(m) +
               (uint64_t)(shop_inventory_Metrics_neg_zero(m) > 0) + shop_inventory_Metrics_off(m);
    const shop_inventory_Audit_table *a = shop_inventory_Warehouse_audit(w);
    fg_in(bd, a, 4, "Audit");
    bd->sum += shop_inventory_Audit_counted(a) + (uint64_t)shop_inventory_Audit_grade(a) +
               (uint64_t)shop_inventory_Audit_i8(a) + shop_inventory_Audit_u8(a) + (uint64_t)shop_inventory_Audit_i16(a) +
               shop_inventory_Audit_u16(a) + (uint64_t)shop_inventory_Audit_i32(a) + shop_inventory_Audit_u32(a) +
               (uint64_t)shop_inventory_Audit_i64(a) + shop_inventory_Audit_u64(a) +
               (uint64_t)(shop_inventory_Audit_f32(a) > 0) + (uint64_t)(shop_inventory_Audit_f64(a) > 0) +
               shop_inventory_Audit_dock(a) + shop_inventory_Audit_handling(a) + shop_inventory_Audit_counted_present(a) +
               shop_inventory_Audit_handling_present(a);
    const shop_inventory_Series_table *s = shop_inventory_Warehouse_series(w);
    fg_in(bd, s, 4, "Series");
#define WALK_VEC(f, size)                                                                                     \
    do {                                                                                                      \
        size_t n_ = shop_inventory_Series_##f##_len(s);                                                       \
        fg_in(bd, shop_inventory_Series_##f(s), n_ * (size), "Series." #f);                                   \
        for (size_t k_ = 0; k_ <= n_; k_++) bd->sum += (uint64_t)shop_inventory_Series_##f##_at(s, k_);       \
        bd->sum += shop_inventory_Series_##f##_present(s);                                                    \
    } while (0)
#define WALK_FVEC(f, size)                                                                                    \
    do {                                                                                                      \
        size_t n_ = shop_inventory_Series_##f##_len(s);                                                       \
        fg_in(bd, shop_inventory_Series_##f(s), n_ * (size), "Series." #f);                                   \
        for (size_t k_ = 0; k_ <= n_; k_++) bd->sum += (uint64_t)(shop_inventory_Series_##f##_at(s, k_) > 0); \
        bd->sum += shop_inventory_Series_##f##_present(s);                                                    \
    } while (0)
    WALK_VEC(v_bool, 1);
    WALK_VEC(v_i8, 1);
    WALK_VEC(v_u8, 1);
    WALK_VEC(v_i16, 2);
    WALK_VEC(v_u16, 2);
    WALK_VEC(v_i32, 4);
    WALK_VEC(v_u32, 4);
    WALK_VEC(v_i64, 8);
    WALK_VEC(v_u64, 8);
    WALK_FVEC(v_f32, 4);
    WALK_FVEC(v_f64, 8);
    WALK_VEC(grades, 1);
    WALK_VEC(barcodes, 8);
    WALK_VEC(handling, 2);
    WALK_VEC(units, 1);
#undef WALK_VEC
#undef WALK_FVEC
    n = shop_inventory_Series_names_len(s);
    for (size_t i = 0; i < n; i++) fg_in_str(bd, shop_inventory_Series_names_at(s, i), "Series.names[i]");
    n = shop_inventory_Warehouse_prices_len(w);
    fg_in(bd, shop_inventory_Warehouse_prices(w), n * sizeof(shop_common_Money), "Warehouse.prices");
    for (size_t i = 0; i < n; i++) walk_money(bd, shop_inventory_Warehouse_prices_at(w, i), "Warehouse.prices[i]");
    n = shop_inventory_Warehouse_stock_len(w);
    fg_in(bd, shop_inventory_Warehouse_stock(w), n * sizeof(shop_common_Quantity), "Warehouse.stock");
    for (size_t i = 0; i < n; i++) walk_quantity(bd, shop_inventory_Warehouse_stock_at(w, i), "Warehouse.stock[i]");
    walk_quantity(bd, shop_inventory_Warehouse_capacity(w), "Warehouse.capacity");
    n = shop_inventory_Warehouse_tags_len(w);
    for (size_t i = 0; i < n; i++) fg_in_str(bd, shop_inventory_Warehouse_tags_at(w, i), "Warehouse.tags[i]");
}

/* ==== game.fbs ================================================================ */

FG_ENUM_CHECK(game_Team, 0, game_Team_Neutral, game_Team_Red, game_Team_Blue, game_Team_Green)
FG_ENUM_CHECK(game_Layer, 0, game_Layer_Below, game_Layer_Ground, game_Layer_Air)
FG_ENUM_CHECK(game_Action, 0, game_Action_NONE, game_Action_Move, game_Action_Spell, game_Action_Attack)
FG_ENUM_CHECK(game_Equipment, 0, game_Equipment_NONE, game_Equipment_game_items_Weapon, game_Equipment_Potion,
              game_Equipment_Offhand, game_Equipment_geo_Circle)
FG_ENUM_CHECK(game_Shape, 0, game_Shape_NONE, game_Shape_geo_Circle, game_Shape_geo_Polygon)

static void ck_vec3(const char *what, const game_Vec3 *v, const jv *j)
{
    if (!fg_has(what, v, j)) return;
    CK_ALIGNED(what, v, game_Vec3);
    fg_flt("Vec3.x", v->x, -1, jget(j, "x"), 0);
    fg_flt("Vec3.y", v->y, -1, jget(j, "y"), 0);
    fg_flt("Vec3.z", v->z, -1, jget(j, "z"), 0);
}

static void ck_point(const char *what, const geo_Point *p, const jv *j)
{
    if (!fg_has(what, p, j)) return;
    CK_ALIGNED(what, p, geo_Point);
    fg_flt("Point.x", p->x, -1, jget(j, "x"), 0);
    fg_flt("Point.y", p->y, -1, jget(j, "y"), 0);
}

static void ck_rgb(const char *what, const game_Rgb *c, const jv *j)
{
    if (!fg_has(what, c, j)) return;
    fg_uint("Rgb.r", c->r, -1, jget(j, "r"), 0);
    fg_uint("Rgb.g", c->g, -1, jget(j, "g"), 0);
    fg_uint("Rgb.b", c->b, -1, jget(j, "b"), 0);
}

static void ck_quat(const char *what, const game_Quat *q, const jv *j)
{
    if (!fg_has(what, q, j)) return;
    CK_ALIGNED(what, q, game_Quat); /* force_align: 16 */
    fg_flt("Quat.x", q->x, -1, jget(j, "x"), 0);
    fg_flt("Quat.y", q->y, -1, jget(j, "y"), 0);
    fg_flt("Quat.z", q->z, -1, jget(j, "z"), 0);
}

static void ck_transform(const char *what, const game_Transform *t, const jv *j)
{
    if (!fg_has(what, t, j)) return;
    CK_ALIGNED(what, t, game_Transform);
    fg_uint("Transform.tick", t->tick, -1, jget(j, "tick"), 0);
    ck_quat("Transform.rotation", &t->rotation, jget(j, "rotation"));
    fg_flt("Transform.scale", t->scale, -1, jget(j, "scale"), 0);
}

static void ck_pose(const char *what, const game_Pose *p, const jv *j)
{
    if (!fg_has(what, p, j)) return;
    CK_ALIGNED(what, p, game_Pose);
    ck_vec3("Pose.position", &p->position, jget(j, "position"));
    fg_flt("Pose.heading", p->heading, -1, jget(j, "heading"), 0);
}

/* A fixed-size array: the JSON gives every element. */
static const jv *jfixed(const char *what, const jv *j, const char *key, size_t n)
{
    const jv *a = jget(j, key);
    ck_assert_msg(a && a->t == 'a' && a->n == n, "%s: %s: JSON has no [%zu] array", fg_ctx, what, n);
    return a;
}

static void ck_stats(const char *what, const game_Stats *s, const jv *j)
{
    if (!fg_has(what, s, j)) return;
    CK_ALIGNED(what, s, game_Stats);
    ck_game_Team("Stats.team", (game_Team)s->team, -1, jget(j, "team"), game_Team_Neutral);
    const jv *a = jfixed("Stats.ids", j, "ids", 3);
    for (size_t i = 0; i < 3; i++) fg_int("Stats.ids[i]", s->ids[i], -1, jat(a, i), 0);
    a = jfixed("Stats.corners", j, "corners", 2);
    for (size_t i = 0; i < 2; i++) ck_vec3("Stats.corners[i]", &s->corners[i], jat(a, i));
    a = jfixed("Stats.allies", j, "allies", 4);
    for (size_t i = 0; i < 4; i++) ck_game_Team("Stats.allies[i]", (game_Team)s->allies[i], -1, jat(a, i), game_Team_Neutral);
    a = jfixed("Stats.layers", j, "layers", 3);
    for (size_t i = 0; i < 3; i++) ck_game_Layer("Stats.layers[i]", (game_Layer)s->layers[i], -1, jat(a, i), game_Layer_Ground);
    a = jfixed("Stats.damage", j, "damage", 2);
    for (size_t i = 0; i < 2; i++) fg_flt("Stats.damage[i]", s->damage[i], -1, jat(a, i), 0);
    a = jfixed("Stats.flags", j, "flags", 5);
    for (size_t i = 0; i < 5; i++) fg_bool("Stats.flags[i]", s->flags[i], -1, jat(a, i), 0);
}

static void ck_weapon(const game_items_Weapon_table *t, const jv *j)
{
    CK_STR(game_items_Weapon, t, j, name);
    CK_INT(game_items_Weapon, t, j, damage, 10);
    ck_rgb("Weapon.color", game_items_Weapon_color(t), jget(j, "color"));
    ck_assert_msg(game_items_Weapon_color_present(t) == jhas(jget(j, "color")), "%s: Weapon.color_present", fg_ctx);
}

static void ck_potion(const game_items_Potion_table *t, const jv *j)
{
    CK_INT(game_items_Potion, t, j, heal, 25);
    CK_FLT(game_items_Potion, t, j, duration_s, 0);
}

static void ck_circle(const geo_Circle_table *t, const jv *j)
{
    ck_point("Circle.center", geo_Circle_center(t), jget(j, "center"));
    CK_FLT(geo_Circle, t, j, radius, 1.0);
}

static void ck_polygon(const geo_Polygon_table *t, const jv *j)
{
    const jv *a = jget(j, "points");
    size_t n = CK_VEC(geo_Polygon, t, j, points, 4);
    for (size_t i = 0; i < n; i++) ck_point("Polygon.points[i]", geo_Polygon_points_at(t, i), jat(a, i));
    CK_BOOL(geo_Polygon, t, j, closed, 1);
}

/* A union's value (val: T_u(t) or T_u_at(t, i)) and its typed readers
 * (as_*: T_u_as_MEMBER): exactly the one of the type is there, it is the
 * value, and it reads as JSON j. */
static void ck_as(const char *what, const void *val, int n, const void *const *as, unsigned type)
{
    for (int k = 0; k < n; k++)
        ck_assert_msg(as[k] == ((unsigned)k + 1 == type ? val : NULL), "%s: %s_as_ member %d is %p for type %u (value %p)",
                      fg_ctx, what, k + 1, as[k], type, val);
}

static void ck_equipment(const char *what, unsigned type, const void *val, const game_items_Weapon_table *w,
                         const game_items_Potion_table *p, const game_items_Weapon_table *o, const geo_Circle_table *c,
                         const jv *j)
{
    fg_has(what, val, j);
    const void *as[] = {w, p, o, c};
    ck_as(what, val, 4, as, type);
    if (w) ck_weapon(w, j);
    if (p) ck_potion(p, j);
    if (o) ck_weapon(o, j);
    if (c) ck_circle(c, j);
}

static void ck_shape(const char *what, unsigned type, const void *val, const geo_Circle_table *c,
                     const geo_Polygon_table *p, const jv *j)
{
    fg_has(what, val, j);
    const void *as[] = {c, p};
    ck_as(what, val, 2, as, type);
    if (c) ck_circle(c, j);
    if (p) ck_polygon(p, j);
}

static void ck_spell(const game_Spell_table *t, const jv *j)
{
    CK_STR(game_Spell, t, j, name);
    CK_UINT(game_Spell, t, j, cost, 5);
    ck_game_Equipment("Spell.focus_type", game_Spell_focus_type(t), -1, jget(j, "focus_type"), game_Equipment_NONE);
    ck_assert_msg(game_Spell_focus_present(t) == jhas(jget(j, "focus")), "%s: Spell.focus_present", fg_ctx);
    ck_equipment("Spell.focus", game_Spell_focus_type(t), game_Spell_focus(t), game_Spell_focus_as_game_items_Weapon(t),
                 game_Spell_focus_as_Potion(t), game_Spell_focus_as_Offhand(t), game_Spell_focus_as_geo_Circle(t),
                 jget(j, "focus"));
    ck_game_Shape("Spell.area_type", game_Spell_area_type(t), -1, jget(j, "area_type"), game_Shape_NONE);
    ck_shape("Spell.area", game_Spell_area_type(t), game_Spell_area(t), game_Spell_area_as_geo_Circle(t),
             game_Spell_area_as_geo_Polygon(t), jget(j, "area"));
}

static void ck_move(const game_Move_table *t, const jv *j)
{
    ck_vec3("Move.to", game_Move_to(t), jget(j, "to"));
    CK_BOOL(game_Move, t, j, run, 0);
}

static void ck_action(const char *what, unsigned type, const void *val, const game_Move_table *m,
                      const game_Spell_table *s, const game_items_Weapon_table *a, const jv *j)
{
    fg_has(what, val, j);
    const void *as[] = {m, s, a};
    ck_as(what, val, 3, as, type);
    if (m) ck_move(m, j);
    if (s) ck_spell(s, j);
    if (a) ck_weapon(a, j);
}

static void ck_monster(const game_Monster_table *t, const jv *j)
{
    CK_STR(game_Monster, t, j, name);
    CK_INT(game_Monster, t, j, hp, 100);
    CK_ENUM(game_Team, game_Monster, t, j, team, game_Team_Red);
    ck_game_Action("Monster.action_type", game_Monster_action_type(t), -1, jget(j, "action_type"), game_Action_NONE);
    ck_assert_msg(game_Monster_action_present(t) == jhas(jget(j, "action")), "%s: Monster.action_present", fg_ctx);
    ck_action("Monster.action", game_Monster_action_type(t), game_Monster_action(t), game_Monster_action_as_Move(t),
              game_Monster_action_as_Spell(t), game_Monster_action_as_Attack(t), jget(j, "action"));
    ck_pose("Monster.pose", game_Monster_pose(t), jget(j, "pose"));
    ck_transform("Monster.transform", game_Monster_transform(t), jget(j, "transform"));
    ck_stats("Monster.stats", game_Monster_stats(t), jget(j, "stats"));
    ck_assert_msg(game_Monster_pose_present(t) == jhas(jget(j, "pose")) &&
                      game_Monster_transform_present(t) == jhas(jget(j, "transform")) &&
                      game_Monster_stats_present(t) == jhas(jget(j, "stats")),
                  "%s: Monster's struct fields' _present", fg_ctx);

    /* equipment: a vector of unions */
    const jv *types = jget(j, "equipment_type"), *vals = jget(j, "equipment");
    size_t n = CK_VECN(game_Monster, t, j, equipment);
    ck_assert_msg(jhas(types) == jhas(vals) && (!jhas(types) || types->n == n), "%s: Monster.equipment_type's length",
                  fg_ctx);
    for (size_t i = 0; i < n; i++) {
        ck_game_Equipment("Monster.equipment_type[i]", game_Monster_equipment_type_at(t, i), -1, jat(types, i),
                          game_Equipment_NONE);
        ck_equipment("Monster.equipment[i]", game_Monster_equipment_type_at(t, i), game_Monster_equipment_at(t, i),
                     game_Monster_equipment_as_game_items_Weapon(t, i), game_Monster_equipment_as_Potion(t, i),
                     game_Monster_equipment_as_Offhand(t, i), game_Monster_equipment_as_geo_Circle(t, i), jat(vals, i));
    }
    ck_assert_msg(game_Monster_equipment_type_at(t, n) == 0 && game_Monster_equipment_at(t, n) == NULL &&
                      game_Monster_equipment_as_Potion(t, n) == NULL,
                  "%s: Monster.equipment past the end", fg_ctx);

    const jv *a = jget(j, "path");
    n = CK_VEC(game_Monster, t, j, path, 4);
    for (size_t i = 0; i < n; i++) ck_vec3("Monster.path[i]", game_Monster_path_at(t, i), jat(a, i));
    a = jget(j, "transforms");
    n = CK_VEC(game_Monster, t, j, transforms, 16);
    for (size_t i = 0; i < n; i++) {
        ck_transform("Monster.transforms[i]", game_Monster_transforms_at(t, i), jat(a, i));
        ck_assert_msg(&game_Monster_transforms(t)[i] == game_Monster_transforms_at(t, i),
                      "%s: Monster.transforms()[%zu] is not transforms_at", fg_ctx, i);
    }
    a = jget(j, "colors");
    n = CK_VEC(game_Monster, t, j, colors, 1);
    for (size_t i = 0; i < n; i++) ck_rgb("Monster.colors[i]", game_Monster_colors_at(t, i), jat(a, i));
    CK_OPT_INT(game_Monster, t, j, friendly);
}

static void ck_level(const game_Level_table *t, const jv *j)
{
    ck_assert_msg(game_Team_Green == 3 && game_Layer_Below == -1 && game_Action_Attack == 3 &&
                      game_Equipment_geo_Circle == 4 && !strcmp(game_Equipment_name(game_Equipment_Offhand), "Offhand") &&
                      !strcmp(game_Shape_name(game_Shape_geo_Polygon), "geo_Polygon") && game_Action_name(9) == NULL,
                  "game: enum and union values and names");
    CK_STR(game_Level, t, j, name);
    const jv *a = jget(j, "monsters");
    size_t n = CK_VECN(game_Level, t, j, monsters);
    for (size_t i = 0; i < n; i++) ck_monster(game_Level_monsters_at(t, i), jat(a, i));
    const jv *types = jget(j, "actions_type"), *vals = jget(j, "actions");
    n = CK_VECN(game_Level, t, j, actions);
    ck_assert_msg(jhas(types) == jhas(vals) && (!jhas(types) || types->n == n), "%s: Level.actions_type's length",
                  fg_ctx);
    for (size_t i = 0; i < n; i++) {
        ck_game_Action("Level.actions_type[i]", game_Level_actions_type_at(t, i), -1, jat(types, i), game_Action_NONE);
        ck_action("Level.actions[i]", game_Level_actions_type_at(t, i), game_Level_actions_at(t, i),
                  game_Level_actions_as_Move(t, i), game_Level_actions_as_Spell(t, i), game_Level_actions_as_Attack(t, i),
                  jat(vals, i));
    }
    ck_game_Shape("Level.background_type", game_Level_background_type(t), -1, jget(j, "background_type"),
                  game_Shape_NONE);
    ck_shape("Level.background", game_Level_background_type(t), game_Level_background(t),
             game_Level_background_as_geo_Circle(t), game_Level_background_as_geo_Polygon(t), jget(j, "background"));
    ck_vec3("Level.gravity", game_Level_gravity(t), jget(j, "gravity"));
}

static void check_game(const void *root, const jv *j) { ck_level(root, j); }

static birch_fb_ref game_weapon(birch_fb_builder *b, const char *name, int16_t damage, const game_Rgb *color)
{
    birch_fb_ref n = birch_fb_cstring(b, name);
    game_items_Weapon_start(b);
    game_items_Weapon_add_name(b, n);
    game_items_Weapon_add_damage(b, damage);
    game_items_Weapon_add_color(b, color);
    return game_items_Weapon_end(b);
}

static birch_fb_ref game_polygon(birch_fb_builder *b, const geo_Point *pts, size_t n, int closed)
{
    birch_fb_ref v = geo_Polygon_vec_points(b, pts, n);
    geo_Polygon_start(b);
    geo_Polygon_add_points(b, v);
    geo_Polygon_add_closed(b, closed);
    return geo_Polygon_end(b);
}

static birch_fb_ref game_move(birch_fb_builder *b, game_Vec3 to, int run)
{
    game_Move_start(b);
    game_Move_add_to(b, &to);
    game_Move_add_run(b, run);
    return game_Move_end(b);
}

/* game.json through the generated builders, in the JSON's order. */
static birch_val build_game(birch_fb_builder *b, int min)
{
    birch_val out = {NULL, 0};
    if (min) {
        birch_fb_ref name = birch_fb_shared_string(b, "", 0);
        game_Monster_start(b);
        game_Monster_add_name(b, name);
        birch_fb_ref m = game_Monster_end(b);
        birch_fb_ref mv = game_Level_vec_monsters(b, &m, 1);
        birch_fb_ref at = game_Level_vec_actions_type(b, NULL, 0);
        birch_fb_ref av = game_Level_vec_actions(b, NULL, 0);
        game_Level_start(b);
        game_Level_add_name(b, name);
        game_Level_add_monsters(b, mv);
        game_Level_add_actions(b, at, av);
        birch_fb_ref root = game_Level_end(b);
        return finish(game_Level_finish(b, root, 0, &out), out, "game_min");
    }
    birch_fb_ref name = birch_fb_cstring(b, "Level 1: the cellar");
    birch_fb_ref monsters[3];

    /* Orc */
    birch_fb_ref orc = birch_fb_cstring(b, "Orc");
    birch_fb_ref fireball = birch_fb_cstring(b, "Fireball");
    geo_Circle_start(b);
    geo_Circle_add_center(b, &(geo_Point){3.0f, 4.0f});
    geo_Circle_add_radius(b, 0.5f);
    birch_fb_ref focus = geo_Circle_end(b);
    static const geo_Point tri[] = {{0, 0}, {1, 0}, {0, 1}};
    birch_fb_ref area = game_polygon(b, tri, 3, 0);
    game_Spell_start(b);
    game_Spell_add_name(b, fireball);
    game_Spell_add_cost(b, 65535);
    game_Spell_add_focus_as_geo_Circle(b, focus);
    game_Spell_add_area_as_geo_Polygon(b, area);
    birch_fb_ref spell = game_Spell_end(b);
    static const uint8_t eq_types[] = {game_Equipment_game_items_Weapon, game_Equipment_Potion, game_Equipment_Offhand,
                                       game_Equipment_geo_Circle};
    birch_fb_ref eqt = game_Monster_vec_equipment_type(b, eq_types, 4);
    birch_fb_ref eq[4];
    eq[0] = game_weapon(b, "Axe", 32767, &(game_Rgb){255, 0, 128});
    game_items_Potion_start(b);
    game_items_Potion_add_heal(b, INT32_MIN);
    game_items_Potion_add_duration_s(b, 30.0f);
    eq[1] = game_items_Potion_end(b);
    eq[2] = game_weapon(b, "Buckler", -1, NULL);
    geo_Circle_start(b);
    geo_Circle_add_radius(b, 7.0f);
    eq[3] = geo_Circle_end(b);
    birch_fb_ref eqv = game_Monster_vec_equipment(b, eq, 4);
    static const game_Vec3 path[] = {{0, 0, 0}, {1, 2, 3}};
    birch_fb_ref pv = game_Monster_vec_path(b, path, 2);
    static const game_Transform transforms[] = {{.tick = 1, .rotation = {.x = 0, .y = 0, .z = 1}, .scale = 1.0f},
                                                {.tick = 2, .rotation = {.x = 1, .y = 0, .z = 0}, .scale = 0.5f}};
    birch_fb_ref tv = game_Monster_vec_transforms(b, transforms, 2);
    static const game_Rgb colors[] = {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}};
    birch_fb_ref cv = game_Monster_vec_colors(b, colors, 3);
    game_Pose pose = {.position = {1.5f, -2.25f, 1024.0f}, .heading = -0.125};
    game_Transform transform = {.tick = UINT32_MAX, .rotation = {.x = 0.5f, .y = -0.5f, .z = 0.75f}, .scale = 2.0f};
    game_Stats stats = {.team = game_Team_Blue,
                        .ids = {INT32_MIN, 0, INT32_MAX},
                        .corners = {{-1, -1, 0}, {1, 1, 8.5f}},
                        .allies = {game_Team_Neutral, game_Team_Red, game_Team_Blue, game_Team_Green},
                        .layers = {game_Layer_Below, game_Layer_Air, game_Layer_Ground},
                        .damage = {12.5, -0.0625},
                        .flags = {1, 0, 1, 1, 0}};
    game_Monster_start(b);
    game_Monster_add_name(b, orc);
    game_Monster_add_hp(b, -5);
    game_Monster_add_team(b, game_Team_Green);
    game_Monster_add_pose(b, &pose);
    game_Monster_add_transform(b, &transform);
    game_Monster_add_stats(b, &stats);
    game_Monster_add_action_as_Spell(b, spell);
    game_Monster_add_equipment(b, eqt, eqv);
    game_Monster_add_path(b, pv);
    game_Monster_add_transforms(b, tv);
    game_Monster_add_colors(b, cv);
    game_Monster_add_friendly(b, 0);
    monsters[0] = game_Monster_end(b);

    /* Bat */
    birch_fb_ref bat = birch_fb_cstring(b, "Bat");
    birch_fb_ref bite = game_weapon(b, "Bite", 3, NULL);
    birch_fb_ref et = game_Monster_vec_equipment_type(b, NULL, 0);
    birch_fb_ref ev = game_Monster_vec_equipment(b, NULL, 0);
    birch_fb_ref ep = game_Monster_vec_path(b, NULL, 0);
    game_Monster_start(b);
    game_Monster_add_name(b, bat);
    game_Monster_add_hp(b, 0);
    game_Monster_add_team(b, game_Team_Neutral);
    game_Monster_add_action_as_Attack(b, bite);
    game_Monster_add_equipment(b, et, ev);
    game_Monster_add_path(b, ep);
    game_Monster_add_friendly(b, 1);
    monsters[1] = game_Monster_end(b);

    /* Ghost */
    birch_fb_ref ghost = birch_fb_cstring(b, "Ghost");
    birch_fb_ref walk = game_move(b, (game_Vec3){-3.5f, 0, 2}, 1);
    game_Monster_start(b);
    game_Monster_add_name(b, ghost);
    game_Monster_add_action_as_Move(b, walk);
    monsters[2] = game_Monster_end(b);
    birch_fb_ref mv = game_Level_vec_monsters(b, monsters, 3);

    static const uint8_t act_types[] = {game_Action_Move, game_Action_Spell, game_Action_Attack, game_Action_Spell};
    birch_fb_ref at = game_Level_vec_actions_type(b, act_types, 4);
    birch_fb_ref acts[4];
    acts[0] = game_move(b, (game_Vec3){1, 1, 1}, 0);
    birch_fb_ref heal = birch_fb_cstring(b, "Heal");
    game_items_Potion_start(b);
    game_items_Potion_add_heal(b, 100);
    birch_fb_ref potion = game_items_Potion_end(b);
    game_Spell_start(b);
    game_Spell_add_name(b, heal);
    game_Spell_add_cost(b, 0);
    game_Spell_add_focus_as_Potion(b, potion);
    acts[1] = game_Spell_end(b);
    acts[2] = game_weapon(b, "Club", 10, &(game_Rgb){10, 20, 30});
    game_Spell_start(b);
    acts[3] = game_Spell_end(b);
    birch_fb_ref av = game_Level_vec_actions(b, acts, 4);
    static const geo_Point square[] = {{-10, -10}, {10, 10}};
    birch_fb_ref bg = game_polygon(b, square, 2, 1);
    game_Level_start(b);
    game_Level_add_name(b, name);
    game_Level_add_monsters(b, mv);
    game_Level_add_actions(b, at, av);
    game_Level_add_background_as_geo_Polygon(b, bg);
    game_Level_add_gravity(b, &(game_Vec3){0, -9.8125f, 0});
    birch_fb_ref root = game_Level_end(b);
    return finish(game_Level_finish(b, root, 0, &out), out, "game");
}

static void walk_vec3(fg_bounds *bd, const game_Vec3 *v, const char *what)
{
    fg_in(bd, v, sizeof *v, what);
    if (v) bd->sum += (uint64_t)(v->x > 0) + (uint64_t)(v->y > 0) + (uint64_t)(v->z > 0);
}

static void walk_rgb(fg_bounds *bd, const game_Rgb *c, const char *what)
{
    fg_in(bd, c, sizeof *c, what);
    if (c) bd->sum += (uint64_t)c->r + c->g + c->b;
}

static void walk_transform(fg_bounds *bd, const game_Transform *t, const char *what)
{
    fg_in(bd, t, sizeof *t, what);
    if (t) bd->sum += t->tick + (uint64_t)(t->rotation.x > 0) + (uint64_t)(t->rotation.z > 0) + (uint64_t)(t->scale > 0);
}

static void walk_weapon(fg_bounds *bd, const game_items_Weapon_table *w)
{
    if (!w) return;
    fg_in(bd, w, 4, "Weapon");
    fg_in_str(bd, game_items_Weapon_name(w), "Weapon.name");
    bd->sum += (uint64_t)game_items_Weapon_damage(w) + game_items_Weapon_name_len(w);
    walk_rgb(bd, game_items_Weapon_color(w), "Weapon.color");
}

static void walk_circle(fg_bounds *bd, const geo_Circle_table *c)
{
    if (!c) return;
    fg_in(bd, c, 4, "Circle");
    const geo_Point *p = geo_Circle_center(c);
    fg_in(bd, p, sizeof *p, "Circle.center");
    if (p) bd->sum += (uint64_t)(p->x > 0) + (uint64_t)(p->y > 0);
    bd->sum += (uint64_t)(geo_Circle_radius(c) > 0);
}

static void walk_polygon(fg_bounds *bd, const geo_Polygon_table *p)
{
    if (!p) return;
    fg_in(bd, p, 4, "Polygon");
    size_t n = geo_Polygon_points_len(p);
    fg_in(bd, geo_Polygon_points(p), n * sizeof(geo_Point), "Polygon.points");
    for (size_t i = 0; i < n; i++) {
        const geo_Point *q = geo_Polygon_points_at(p, i);
        fg_in(bd, q, sizeof *q, "Polygon.points[i]");
        bd->sum += (uint64_t)(q->x > 0) + (uint64_t)(q->y > 0);
    }
    bd->sum += geo_Polygon_closed(p);
}

static void walk_potion(fg_bounds *bd, const game_items_Potion_table *p)
{
    if (!p) return;
    fg_in(bd, p, 4, "Potion");
    bd->sum += (uint64_t)game_items_Potion_heal(p) + (uint64_t)(game_items_Potion_duration_s(p) > 0);
}

static void walk_spell(fg_bounds *bd, const game_Spell_table *s)
{
    if (!s) return;
    fg_in(bd, s, 4, "Spell");
    fg_in_str(bd, game_Spell_name(s), "Spell.name");
    bd->sum += game_Spell_cost(s) + game_Spell_focus_type(s) + game_Spell_area_type(s);
    fg_in(bd, game_Spell_focus(s), 4, "Spell.focus");
    fg_in(bd, game_Spell_area(s), 4, "Spell.area");
    walk_weapon(bd, game_Spell_focus_as_game_items_Weapon(s));
    walk_potion(bd, game_Spell_focus_as_Potion(s));
    walk_weapon(bd, game_Spell_focus_as_Offhand(s));
    walk_circle(bd, game_Spell_focus_as_geo_Circle(s));
    walk_circle(bd, game_Spell_area_as_geo_Circle(s));
    walk_polygon(bd, game_Spell_area_as_geo_Polygon(s));
}

static void walk_move(fg_bounds *bd, const game_Move_table *m)
{
    if (!m) return;
    fg_in(bd, m, 4, "Move");
    walk_vec3(bd, game_Move_to(m), "Move.to");
    bd->sum += game_Move_run(m);
}

static void walk_game(fg_bounds *bd, const void *buf, size_t size)
{
    const game_Level_table *l = game_Level_root(buf, size, 0);
    fg_in(bd, l, 4, "Level");
    fg_in_str(bd, game_Level_name(l), "Level.name");
    size_t n = game_Level_monsters_len(l);
    for (size_t i = 0; i < n; i++) {
        const game_Monster_table *m = game_Level_monsters_at(l, i);
        fg_in(bd, m, 4, "Monster");
        fg_in_str(bd, game_Monster_name(m), "Monster.name");
        bd->sum += (uint64_t)game_Monster_hp(m) + game_Monster_team(m) + game_Monster_action_type(m) +
                   game_Monster_friendly(m) + game_Monster_friendly_present(m);
        bd->sum += game_Team_name(game_Monster_team(m)) != NULL;
        fg_in(bd, game_Monster_action(m), 4, "Monster.action");
        walk_move(bd, game_Monster_action_as_Move(m));
        walk_spell(bd, game_Monster_action_as_Spell(m));
        walk_weapon(bd, game_Monster_action_as_Attack(m));
        const game_Pose *p = game_Monster_pose(m);
        fg_in(bd, p, sizeof *p, "Monster.pose");
        if (p) bd->sum += (uint64_t)(p->position.y > 0) + (uint64_t)(p->heading > 0);
        walk_transform(bd, game_Monster_transform(m), "Monster.transform");
        const game_Stats *s = game_Monster_stats(m);
        fg_in(bd, s, sizeof *s, "Monster.stats");
        if (s) {
            bd->sum += s->team + (uint64_t)s->ids[2] + (uint64_t)(s->corners[1].z > 0) + s->allies[3] +
                       (uint64_t)s->layers[2] + (uint64_t)(s->damage[1] > 0) + s->flags[4];
            bd->sum += game_Layer_name((game_Layer)s->layers[0]) != NULL;
        }
        size_t ne = game_Monster_equipment_len(m);
        for (size_t k = 0; k <= ne; k++) {
            bd->sum += game_Monster_equipment_type_at(m, k);
            fg_in(bd, game_Monster_equipment_at(m, k), 4, "Monster.equipment[i]");
            walk_weapon(bd, game_Monster_equipment_as_game_items_Weapon(m, k));
            walk_potion(bd, game_Monster_equipment_as_Potion(m, k));
            walk_weapon(bd, game_Monster_equipment_as_Offhand(m, k));
            walk_circle(bd, game_Monster_equipment_as_geo_Circle(m, k));
        }
        size_t np = game_Monster_path_len(m);
        fg_in(bd, game_Monster_path(m), np * sizeof(game_Vec3), "Monster.path");
        for (size_t k = 0; k < np; k++) walk_vec3(bd, game_Monster_path_at(m, k), "Monster.path[i]");
        size_t nt = game_Monster_transforms_len(m);
        fg_in(bd, game_Monster_transforms(m), nt * sizeof(game_Transform), "Monster.transforms");
        for (size_t k = 0; k < nt; k++) walk_transform(bd, game_Monster_transforms_at(m, k), "Monster.transforms[i]");
        size_t nc = game_Monster_colors_len(m);
        fg_in(bd, game_Monster_colors(m), nc * sizeof(game_Rgb), "Monster.colors");
        for (size_t k = 0; k < nc; k++) walk_rgb(bd, game_Monster_colors_at(m, k), "Monster.colors[i]");
    }
    n = game_Level_actions_len(l);
    for (size_t i = 0; i <= n; i++) {
        bd->sum += game_Level_actions_type_at(l, i);
        fg_in(bd, game_Level_actions_at(l, i), 4, "Level.actions[i]");
        walk_move(bd, game_Level_actions_as_Move(l, i));
        walk_spell(bd, game_Level_actions_as_Spell(l, i));
        walk_weapon(bd, game_Level_actions_as_Attack(l, i));
    }
    bd->sum += game_Level_background_type(l);
    fg_in(bd, game_Level_background(l), 4, "Level.background");
    walk_circle(bd, game_Level_background_as_geo_Circle(l));
    walk_polygon(bd, game_Level_background_as_geo_Polygon(l));
    walk_vec3(bd, game_Level_gravity(l), "Level.gravity");
}

/* ==== docstore.fbs ========================================================== */

FG_ENUM_CHECK(docstore_Kind, 0, docstore_Kind_Text, docstore_Kind_Json, docstore_Kind_Binary)
FG_ENUM_CHECK(docstore_Body, 0, docstore_Body_NONE, docstore_Body_Text, docstore_Body_Blob, docstore_Body_Link)

static void ck_text(const docstore_Text_table *t, const jv *j)
{
    CK_STR(docstore_Text, t, j, body);
    CK_STR(docstore_Text, t, j, lang);
}

static void ck_blob(const docstore_Blob_table *t, const jv *j)
{
    CK_STR(docstore_Blob, t, j, mime);
    CK_IVEC(docstore_Blob, t, j, data, 1, fg_uint);
}

static void ck_body(const char *what, unsigned type, const void *val, const docstore_Text_table *x,
                    const docstore_Blob_table *b, const docstore_Link_table *l, const jv *j);

static void ck_link(const docstore_Link_table *t, const jv *j)
{
    CK_UINT(docstore_Link, t, j, target, 0);
    ck_docstore_Body("Link.quote_type", docstore_Link_quote_type(t), -1, jget(j, "quote_type"), docstore_Body_NONE);
    ck_assert_msg(docstore_Link_quote_present(t) == jhas(jget(j, "quote")), "%s: Link.quote_present", fg_ctx);
    /* a union whose member (Link) holds the union itself */
    ck_body("Link.quote", docstore_Link_quote_type(t), docstore_Link_quote(t), docstore_Link_quote_as_Text(t),
            docstore_Link_quote_as_Blob(t), docstore_Link_quote_as_Link(t), jget(j, "quote"));
}

static void ck_body(const char *what, unsigned type, const void *val, const docstore_Text_table *x,
                    const docstore_Blob_table *b, const docstore_Link_table *l, const jv *j)
{
    fg_has(what, val, j);
    const void *as[] = {x, b, l};
    ck_as(what, val, 3, as, type);
    if (x) ck_text(x, j);
    if (b) ck_blob(b, j);
    if (l) ck_link(l, j);
}

static void ck_meta(const docstore_Meta_table *t, const jv *j)
{
    CK_STR(docstore_Meta, t, j, key);
    CK_STR(docstore_Meta, t, j, value);
}

static void ck_record(const docstore_Record_table *t, const jv *j)
{
    CK_STR(docstore_Record, t, j, title);
    CK_UINT(docstore_Record, t, j, version, 1);
    ck_docstore_Body("Record.body_type", docstore_Record_body_type(t), -1, jget(j, "body_type"), docstore_Body_NONE);
    ck_body("Record.body", docstore_Record_body_type(t), docstore_Record_body(t), docstore_Record_body_as_Text(t),
            docstore_Record_body_as_Blob(t), docstore_Record_body_as_Link(t), jget(j, "body"));
}

static void ck_author(const docstore_meta_Author_table *t, const jv *j)
{
    CK_STR(docstore_meta_Author, t, j, name);
    CK_STR(docstore_meta_Author, t, j, email);
}

/* A nested flatbuffer field: its bytes (T_f, T_f_len, T_f_present) hold a
 * buffer that verifies as root (no file identifier: flatc writes none),
 * and T_f_root is its root table. */
static const void *ck_nested(const char *what, const uint8_t *bytes, size_t len, int present, const void *root,
                             const birch_fb_table *desc, const jv *j)
{
    ck_assert_msg(present == jhas(j), "%s: %s_present is %d, JSON %s", fg_ctx, what, present,
                  jhas(j) ? "has a nested buffer" : "has none");
    if (!jhas(j)) {
        ck_assert_msg(bytes == NULL && len == 0 && root == NULL, "%s: %s: bytes or a root without a nested buffer",
                      fg_ctx, what);
        return NULL;
    }
    ck_assert_msg(bytes != NULL && len >= 8 && root != NULL, "%s: %s: no nested buffer (%zu bytes)", fg_ctx, what, len);
    char msg[256] = "";
    birch_fb_opts o = {BIRCH_FB_ANY_IDENT, 0, 0};
    int rc = birch_fb_verify(desc, bytes, len, &o, msg, sizeof msg);
    ck_assert_msg(rc == BIRCH_OK, "%s: %s: the nested buffer does not verify as %s: %s", fg_ctx, what, desc->name, msg);
    ck_assert_msg((const uint8_t *)root > bytes && (const uint8_t *)root < bytes + len,
                  "%s: %s_root is not inside the nested buffer", fg_ctx, what);
    return root;
}

static void ck_store(const docstore_Store_table *t, const jv *j);

static void ck_document(const docstore_Document_table *t, const jv *j)
{
    CK_UINT(docstore_Document, t, j, id, 0);
    CK_STR(docstore_Document, t, j, path);
    CK_ENUM(docstore_Kind, docstore_Document, t, j, kind, docstore_Kind_Text);

    /* meta: keyed by a string */
    const jv *meta = jget(j, "meta");
    size_t n = CK_VECN(docstore_Document, t, j, meta);
    for (size_t i = 1; i < n; i++) {
        const docstore_Meta_table *a = docstore_Document_meta_at(t, i - 1), *b = docstore_Document_meta_at(t, i);
        ck_assert_msg(keycmp(docstore_Meta_key(a), docstore_Meta_key_len(a), docstore_Meta_key(b),
                             docstore_Meta_key_len(b)) < 0,
                      "%s: Document.meta not sorted by key at %zu", fg_ctx, i);
    }
    for (size_t i = 0; i < n; i++) {
        const jv *m = jat(meta, i);
        const docstore_Meta_table *x = docstore_Document_meta_find_by_key(t, jget(m, "key")->s);
        ck_assert_msg(x != NULL, "%s: Document.meta_find_by_key(\"%s\") finds nothing", fg_ctx, jget(m, "key")->s);
        ck_meta(x, m);
    }
    static const char *const no_keys[] = {"", "a", "emptx", "empty ", "ownerr", "own", "zz"};
    for (size_t k = 0; k < sizeof no_keys / sizeof no_keys[0]; k++)
        if (!json_has_key(meta, "key", no_keys[k], 0))
            ck_assert_msg(docstore_Document_meta_find_by_key(t, no_keys[k]) == NULL,
                          "%s: Document.meta_find_by_key(\"%s\") finds an entry", fg_ctx, no_keys[k]);

    /* parts: a vector of unions with Link, which holds the union itself */
    const jv *types = jget(j, "parts_type"), *vals = jget(j, "parts");
    n = CK_VECN(docstore_Document, t, j, parts);
    ck_assert_msg(jhas(types) == jhas(vals) && (!jhas(types) || types->n == n), "%s: Document.parts_type's length",
                  fg_ctx);
    for (size_t i = 0; i < n; i++) {
        ck_docstore_Body("Document.parts_type[i]", docstore_Document_parts_type_at(t, i), -1, jat(types, i),
                         docstore_Body_NONE);
        ck_body("Document.parts[i]", docstore_Document_parts_type_at(t, i), docstore_Document_parts_at(t, i),
                docstore_Document_parts_as_Text(t, i), docstore_Document_parts_as_Blob(t, i),
                docstore_Document_parts_as_Link(t, i), jat(vals, i));
    }

    const jv *jr = jget(j, "record");
    const docstore_Record_table *r =
        ck_nested("Document.record", docstore_Document_record(t), docstore_Document_record_len(t),
                  docstore_Document_record_present(t), docstore_Document_record_root(t), &docstore_Record_fb, jr);
    if (r) ck_record(r, jr);
    const jv *ja = jget(j, "author");
    const docstore_meta_Author_table *a =
        ck_nested("Document.author", docstore_Document_author(t), docstore_Document_author_len(t),
                  docstore_Document_author_present(t), docstore_Document_author_root(t), &docstore_meta_Author_fb, ja);
    if (a) ck_author(a, ja);
    /* extra: a FlexBuffer, bytes to a C reader (flatc decodes it below) */
    const jv *je = jget(j, "extra");
    ck_assert_msg(docstore_Document_extra_present(t) == jhas(je) && (docstore_Document_extra_len(t) > 0) == jhas(je) &&
                      (docstore_Document_extra(t) != NULL) == jhas(je),
                  "%s: Document.extra (a flexbuffer) present with %zu bytes, JSON %s", fg_ctx,
                  docstore_Document_extra_len(t), jhas(je) ? "has one" : "has none");
}

static void ck_store(const docstore_Store_table *t, const jv *j)
{
    CK_STR(docstore_Store, t, j, name);
    const jv *docs = jget(j, "docs");
    size_t n = CK_VECN(docstore_Store, t, j, docs);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(docstore_Document_id(docstore_Store_docs_at(t, i - 1)) <
                          docstore_Document_id(docstore_Store_docs_at(t, i)),
                      "%s: Store.docs not sorted by id (unsigned) at %zu", fg_ctx, i);
    for (size_t i = 0; i < n; i++) {
        const jv *d = jat(docs, i);
        uint64_t id = fg_ju(jget(d, "id"), 0);
        const docstore_Document_table *x = docstore_Store_docs_find_by_id(t, id);
        ck_assert_msg(x != NULL, "%s: Store.docs_find_by_id(%" PRIu64 ") finds nothing", fg_ctx, id);
        ck_document(x, d);
    }
    static const uint64_t no_ids[] = {2, 3, 4, 6, UINT64_MAX - 1, UINT64_C(1) << 63};
    for (size_t k = 0; k < sizeof no_ids / sizeof no_ids[0]; k++) {
        int in = 0;
        for (size_t i = 0; docs && i < docs->n; i++) in |= fg_ju(jget(docs->items[i], "id"), 0) == no_ids[k];
        if (!in)
            ck_assert_msg(docstore_Store_docs_find_by_id(t, no_ids[k]) == NULL,
                          "%s: Store.docs_find_by_id(%" PRIu64 ") finds a document", fg_ctx, no_ids[k]);
    }
    const jv *js = jget(j, "snapshot");
    const docstore_Store_table *s =
        ck_nested("Store.snapshot", docstore_Store_snapshot(t), docstore_Store_snapshot_len(t),
                  docstore_Store_snapshot_present(t), docstore_Store_snapshot_root(t), &docstore_Store_fb, js);
    if (s) ck_store(s, js);
}

static void check_docstore(const void *root, const jv *j)
{
    ck_assert_msg(docstore_Kind_Binary == 10 && !strcmp(docstore_Kind_name(docstore_Kind_Binary), "Binary") &&
                      docstore_Body_Link == 3 && !strcmp(docstore_Body_name(docstore_Body_Link), "Link"),
                  "docstore: enum and union values and names");
    ck_store(root, j);
}

/* The FlexBuffers flatc 2.0.8 writes for docstore.json's two "extra"
 * values (a [ubyte] to birch; flatc decodes birch's copy back to the JSON
 * values in birch_built):
 * { "tags": [ "a", "b" ], "size": 12, "ratio": 0.5, "ok": true, "none": null } */
static const uint8_t FLEX_OBJECT[] = {
    0x74, 0x61, 0x67, 0x73, 0x00, 0x01, 0x61, 0x00, 0x01, 0x62, 0x00, 0x02, 0x06, 0x04, 0x14, 0x14, 0x73,
    0x69, 0x7a, 0x65, 0x00, 0x72, 0x61, 0x74, 0x69, 0x6f, 0x00, 0x6f, 0x6b, 0x00, 0x6e, 0x6f, 0x6e, 0x65,
    0x00, 0x05, 0x06, 0x0a, 0x11, 0x17, 0x28, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3f,
    0x0c, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x02, 0x6a, 0x0e, 0x06, 0x28, 0x19, 0x26, 0x01};
/* [ 1, "two", 3.0 ] */
static const uint8_t FLEX_ARRAY[] = {0x03, 0x74, 0x77, 0x6f, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00,
                                     0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x00,
                                     0x00, 0x00, 0x40, 0x40, 0x06, 0x14, 0x0e, 0x0f, 0x2a, 0x01};

static birch_fb_ref ds_text(birch_fb_builder *b, const char *body, const char *lang)
{
    birch_fb_ref bd = birch_fb_shared_string(b, body, strlen(body));
    birch_fb_ref lg = lang ? birch_fb_shared_string(b, lang, strlen(lang)) : 0;
    docstore_Text_start(b);
    docstore_Text_add_body(b, bd);
    docstore_Text_add_lang(b, lg);
    return docstore_Text_end(b);
}

static birch_fb_ref ds_blob(birch_fb_builder *b, const char *mime, const uint8_t *data, size_t n)
{
    birch_fb_ref m = birch_fb_cstring(b, mime);
    birch_fb_ref d = docstore_Blob_vec_data(b, data, n);
    docstore_Blob_start(b);
    docstore_Blob_add_mime(b, m);
    docstore_Blob_add_data(b, d);
    return docstore_Blob_end(b);
}

/* A nested buffer built by its own builder, finished without a file
 * identifier (as flatc writes nested buffers). */
static birch_val ds_nested(birch_fb_builder *inner, birch_fb_ref root, const char *what)
{
    birch_val out = {NULL, 0};
    return finish(birch_fb_finish(inner, root, NULL, 0, &out), out, what);
}

static birch_fb_ref ds_author(birch_fb_builder *b, const char *name, const char *email)
{
    birch_fb_builder *inner = birch_fb_builder_new();
    ck_assert_msg(inner != NULL, "birch_fb_builder_new for a nested buffer");
    birch_fb_ref n = birch_fb_cstring(inner, name);
    birch_fb_ref e = email ? birch_fb_cstring(inner, email) : 0;
    docstore_meta_Author_start(inner);
    docstore_meta_Author_add_name(inner, n);
    docstore_meta_Author_add_email(inner, e);
    birch_val v = ds_nested(inner, docstore_meta_Author_end(inner), "docstore author");
    birch_fb_ref r = docstore_Document_vec_author(b, v.data, v.size);
    birch_fb_builder_free(inner);
    return r;
}

static birch_fb_ref ds_document(birch_fb_builder *b, uint64_t id, const char *path, birch_fb_ref author)
{
    birch_fb_ref p = birch_fb_shared_string(b, path, strlen(path));
    docstore_Document_start(b);
    docstore_Document_add_id(b, id);
    docstore_Document_add_path(b, p);
    docstore_Document_add_author(b, author);
    return docstore_Document_end(b);
}

static birch_fb_ref ds_meta(birch_fb_builder *b, const char *key, const char *value)
{
    birch_fb_ref k = birch_fb_shared_string(b, key, strlen(key));
    birch_fb_ref v = birch_fb_shared_string(b, value, strlen(value));
    docstore_Meta_start(b);
    docstore_Meta_add_key(b, k);
    docstore_Meta_add_value(b, v);
    return docstore_Meta_end(b);
}

/* docstore.json through the generated builders, in the JSON's order. */
static birch_val build_docstore(birch_fb_builder *b, int min)
{
    birch_val out = {NULL, 0};
    birch_fb_ref docs[3];
    if (min) {
        birch_fb_ref name = birch_fb_shared_string(b, "", 0);
        docs[0] = ds_document(b, 0, "", 0);
        birch_fb_ref p = birch_fb_cstring(b, "/e");
        birch_fb_ref meta = docstore_Document_vec_meta(b, NULL, 0);
        birch_fb_ref pt = docstore_Document_vec_parts_type(b, NULL, 0);
        birch_fb_ref pv = docstore_Document_vec_parts(b, NULL, 0);
        docstore_Document_start(b);
        docstore_Document_add_id(b, 2);
        docstore_Document_add_path(b, p);
        docstore_Document_add_meta(b, meta);
        docstore_Document_add_parts(b, pt, pv);
        docs[1] = docstore_Document_end(b);
        birch_fb_ref dv = docstore_Store_vec_docs(b, docs, 2);
        docstore_Store_start(b);
        docstore_Store_add_name(b, name);
        docstore_Store_add_docs(b, dv);
        birch_fb_ref root = docstore_Store_end(b);
        return finish(docstore_Store_finish(b, root, 0, &out), out, "docstore_min");
    }
    birch_fb_builder *inner = birch_fb_builder_new();
    ck_assert_msg(inner != NULL, "birch_fb_builder_new for a nested buffer");
    birch_fb_ref name = birch_fb_cstring(b, "main store");

    /* the first document, id UINT64_MAX */
    birch_fb_ref path = birch_fb_cstring(b, "/notes/readme.txt");
    birch_fb_ref metas[3] = {ds_meta(b, "owner", "ann"), ds_meta(b, "encoding", "utf-8"), ds_meta(b, "empty", "")};
    birch_fb_ref meta = docstore_Document_vec_meta(b, metas, 3);
    static const uint8_t part_types[] = {docstore_Body_Text, docstore_Body_Blob, docstore_Body_Link, docstore_Body_Text};
    birch_fb_ref pt = docstore_Document_vec_parts_type(b, part_types, 4);
    birch_fb_ref parts[4];
    parts[0] = ds_text(b, "Hello, world.", "en");
    static const uint8_t png[] = {137, 80, 78, 71, 13, 10, 26, 10};
    parts[1] = ds_blob(b, "image/png", png, sizeof png);
    birch_fb_ref deep = ds_text(b, "deep", NULL);
    docstore_Link_start(b);
    docstore_Link_add_target(b, 7);
    docstore_Link_add_quote_as_Text(b, deep);
    birch_fb_ref inner_link = docstore_Link_end(b);
    docstore_Link_start(b);
    docstore_Link_add_target(b, 42);
    docstore_Link_add_quote_as_Link(b, inner_link);
    parts[2] = docstore_Link_end(b);
    parts[3] = ds_text(b, "", NULL);
    birch_fb_ref pv = docstore_Document_vec_parts(b, parts, 4);
    birch_fb_ref title = birch_fb_cstring(inner, "Readme");
    static const uint8_t two[] = {0, 255};
    birch_fb_ref body = ds_blob(inner, "text/plain", two, 2);
    docstore_Record_start(inner);
    docstore_Record_add_title(inner, title);
    docstore_Record_add_version(inner, 3);
    docstore_Record_add_body_as_Blob(inner, body);
    birch_val rec = ds_nested(inner, docstore_Record_end(inner), "docstore record");
    birch_fb_ref record = docstore_Document_vec_record(b, rec.data, rec.size);
    birch_fb_builder_reset(inner);
    birch_fb_ref author = ds_author(b, "Ann", "ann@example.com");
    birch_fb_ref extra = docstore_Document_vec_extra(b, FLEX_OBJECT, sizeof FLEX_OBJECT);
    docstore_Document_start(b);
    docstore_Document_add_id(b, UINT64_MAX);
    docstore_Document_add_path(b, path);
    docstore_Document_add_kind(b, docstore_Kind_Text);
    docstore_Document_add_meta(b, meta);
    docstore_Document_add_parts(b, pt, pv);
    docstore_Document_add_record(b, record);
    docstore_Document_add_author(b, author);
    docstore_Document_add_extra(b, extra);
    docs[0] = docstore_Document_end(b);

    /* id 1: empty vectors, an empty record */
    path = birch_fb_cstring(b, "/data/blob.bin");
    meta = docstore_Document_vec_meta(b, NULL, 0);
    pt = docstore_Document_vec_parts_type(b, NULL, 0);
    pv = docstore_Document_vec_parts(b, NULL, 0);
    docstore_Record_start(inner);
    rec = ds_nested(inner, docstore_Record_end(inner), "docstore empty record");
    record = docstore_Document_vec_record(b, rec.data, rec.size);
    birch_fb_builder_reset(inner);
    extra = docstore_Document_vec_extra(b, FLEX_ARRAY, sizeof FLEX_ARRAY);
    docstore_Document_start(b);
    docstore_Document_add_id(b, 1);
    docstore_Document_add_path(b, path);
    docstore_Document_add_kind(b, docstore_Kind_Binary);
    docstore_Document_add_meta(b, meta);
    docstore_Document_add_parts(b, pt, pv);
    docstore_Document_add_record(b, record);
    docstore_Document_add_extra(b, extra);
    docs[1] = docstore_Document_end(b);

    /* id 0 */
    path = birch_fb_shared_string(b, "", 0);
    title = birch_fb_string(inner, "", 0);
    docstore_Record_start(inner);
    docstore_Record_add_title(inner, title);
    docstore_Record_add_version(inner, 0);
    rec = ds_nested(inner, docstore_Record_end(inner), "docstore record 0");
    record = docstore_Document_vec_record(b, rec.data, rec.size);
    birch_fb_builder_reset(inner);
    docstore_Document_start(b);
    docstore_Document_add_id(b, 0);
    docstore_Document_add_path(b, path);
    docstore_Document_add_kind(b, docstore_Kind_Json);
    docstore_Document_add_record(b, record);
    docs[2] = docstore_Document_end(b);
    birch_fb_ref dv = docstore_Store_vec_docs(b, docs, 3);

    /* the snapshot: a Store nested in the Store */
    birch_fb_ref sname = birch_fb_cstring(inner, "previous");
    birch_fb_ref sdoc = ds_document(inner, 5, "/old", ds_author(inner, "Bob", NULL));
    birch_fb_ref sdocs = docstore_Store_vec_docs(inner, &sdoc, 1);
    docstore_Store_start(inner);
    docstore_Store_add_name(inner, sname);
    docstore_Store_add_docs(inner, sdocs);
    birch_val snap = ds_nested(inner, docstore_Store_end(inner), "docstore snapshot");
    birch_fb_ref snapshot = docstore_Store_vec_snapshot(b, snap.data, snap.size);
    birch_fb_builder_free(inner);

    docstore_Store_start(b);
    docstore_Store_add_name(b, name);
    docstore_Store_add_docs(b, dv);
    docstore_Store_add_snapshot(b, snapshot);
    birch_fb_ref root = docstore_Store_end(b);
    return finish(docstore_Store_finish(b, root, 0, &out), out, "docstore");
}

static void walk_store(fg_bounds *bd, const docstore_Store_table *s, int depth);

static void walk_body(fg_bounds *bd, const docstore_Text_table *x, const docstore_Blob_table *b,
                      const docstore_Link_table *l, int depth)
{
    if (x) {
        fg_in(bd, x, 4, "Text");
        fg_in_str(bd, docstore_Text_body(x), "Text.body");
        fg_in_str(bd, docstore_Text_lang(x), "Text.lang");
    }
    if (b) {
        fg_in(bd, b, 4, "Blob");
        fg_in_str(bd, docstore_Blob_mime(b), "Blob.mime");
        fg_in(bd, docstore_Blob_data(b), docstore_Blob_data_len(b), "Blob.data");
    }
    if (l) {
        ck_assert_msg(depth < 200, "%s: Link.quote nests beyond 200", bd->ctx);
        fg_in(bd, l, 4, "Link");
        bd->sum += docstore_Link_target(l) + docstore_Link_quote_type(l);
        fg_in(bd, docstore_Link_quote(l), 4, "Link.quote");
        walk_body(bd, docstore_Link_quote_as_Text(l), docstore_Link_quote_as_Blob(l), docstore_Link_quote_as_Link(l),
                  depth + 1);
    }
}

/* A nested buffer: its bytes inside bd, then a walk bounded by them. */
static fg_bounds nested_bounds(fg_bounds *bd, const uint8_t *bytes, size_t len, const char *what)
{
    fg_in(bd, bytes, len, what);
    fg_bounds in = {bytes, bytes + len, bd->ctx, 0};
    return in;
}

static void walk_document(fg_bounds *bd, const docstore_Document_table *d, int depth)
{
    fg_in(bd, d, 4, "Document");
    bd->sum += docstore_Document_id(d) + (uint64_t)docstore_Document_kind(d);
    fg_in_str(bd, docstore_Document_path(d), "Document.path");
    size_t n = docstore_Document_meta_len(d);
    for (size_t i = 0; i < n; i++) {
        const docstore_Meta_table *m = docstore_Document_meta_at(d, i);
        fg_in(bd, m, 4, "Meta");
        fg_in_str(bd, docstore_Meta_key(m), "Meta.key");
        fg_in_str(bd, docstore_Meta_value(m), "Meta.value");
        const char *k = docstore_Meta_key(m);
        if (k && strlen(k) == docstore_Meta_key_len(m))
            fg_in(bd, docstore_Document_meta_find_by_key(d, k), 4, "meta_find_by_key");
    }
    n = docstore_Document_parts_len(d);
    for (size_t i = 0; i <= n; i++) {
        bd->sum += docstore_Document_parts_type_at(d, i);
        fg_in(bd, docstore_Document_parts_at(d, i), 4, "Document.parts[i]");
        walk_body(bd, docstore_Document_parts_as_Text(d, i), docstore_Document_parts_as_Blob(d, i),
                  docstore_Document_parts_as_Link(d, i), 0);
    }
    if (docstore_Document_record(d)) {
        fg_bounds in = nested_bounds(bd, docstore_Document_record(d), docstore_Document_record_len(d), "Document.record");
        const docstore_Record_table *r = docstore_Document_record_root(d);
        fg_in(&in, r, 4, "Record");
        fg_in_str(&in, docstore_Record_title(r), "Record.title");
        in.sum += docstore_Record_version(r) + docstore_Record_body_type(r);
        fg_in(&in, docstore_Record_body(r), 4, "Record.body");
        walk_body(&in, docstore_Record_body_as_Text(r), docstore_Record_body_as_Blob(r), docstore_Record_body_as_Link(r), 0);
        bd->sum += in.sum;
    }
    if (docstore_Document_author(d)) {
        fg_bounds in = nested_bounds(bd, docstore_Document_author(d), docstore_Document_author_len(d), "Document.author");
        const docstore_meta_Author_table *a = docstore_Document_author_root(d);
        fg_in(&in, a, 4, "Author");
        fg_in_str(&in, docstore_meta_Author_name(a), "Author.name");
        fg_in_str(&in, docstore_meta_Author_email(a), "Author.email");
        bd->sum += in.sum;
    }
    fg_in(bd, docstore_Document_extra(d), docstore_Document_extra_len(d), "Document.extra");
    (void)depth;
}

static void walk_store(fg_bounds *bd, const docstore_Store_table *s, int depth)
{
    ck_assert_msg(depth < 100, "%s: Store.snapshot nests beyond 100", bd->ctx);
    fg_in(bd, s, 4, "Store");
    fg_in_str(bd, docstore_Store_name(s), "Store.name");
    size_t n = docstore_Store_docs_len(s);
    for (size_t i = 0; i < n; i++) {
        const docstore_Document_table *d = docstore_Store_docs_at(s, i);
        walk_document(bd, d, depth);
        fg_in(bd, docstore_Store_docs_find_by_id(s, docstore_Document_id(d)), 4, "docs_find_by_id");
    }
    if (docstore_Store_snapshot(s)) {
        fg_bounds in = nested_bounds(bd, docstore_Store_snapshot(s), docstore_Store_snapshot_len(s), "Store.snapshot");
        walk_store(&in, docstore_Store_snapshot_root(s), depth + 1);
        bd->sum += in.sum;
    }
}

static void walk_docstore(fg_bounds *bd, const void *buf, size_t size)
{
    walk_store(bd, docstore_Store_root(buf, size, 0), 0);
}

/* ==== evolution_v2.fbs (v1: fbs_evolution_v1.c) ============================ */

FG_ENUM_CHECK(shop_evolution_Status, 0, shop_evolution_Status_Active, shop_evolution_Status_Suspended,
              shop_evolution_Status_Deleted)
FG_ENUM_CHECK(shop_evolution_Contact, 0, shop_evolution_Contact_NONE, shop_evolution_Contact_Email,
              shop_evolution_Contact_Phone)

typedef shop_evolution_Directory_table Directory;
typedef shop_evolution_Profile_table Profile;

static void ck_ev2_contact(const Profile *t, const jv *j)
{
    const jv *jc = jget(j, "contact");
    ck_shop_evolution_Contact("Profile.contact_type", shop_evolution_Profile_contact_type(t), -1, jget(j, "contact_type"),
                              shop_evolution_Contact_NONE);
    ck_assert_msg(shop_evolution_Profile_contact_present(t) == jhas(jc), "%s: Profile.contact_present", fg_ctx);
    fg_has("Profile.contact", shop_evolution_Profile_contact(t), jc);
    const shop_evolution_Email_table *e = shop_evolution_Profile_contact_as_Email(t);
    const shop_evolution_Phone_table *p = shop_evolution_Profile_contact_as_Phone(t);
    const void *as[] = {e, p};
    ck_as("Profile.contact", shop_evolution_Profile_contact(t), 2, as, shop_evolution_Profile_contact_type(t));
    if (e) {
        CK_STR(shop_evolution_Email, e, jc, address);
        CK_BOOL(shop_evolution_Email, e, jc, verified, 0);
    }
    if (p) {
        CK_STR(shop_evolution_Phone, p, jc, number);
        CK_UINT(shop_evolution_Phone, p, jc, country, 1);
    }
}

/* A profile as v2 reads it: every v2 field, the ones v1 data lacks with
 * their defaults. */
static void ck_ev2_profile(const Profile *t, const jv *j)
{
    CK_UINT(shop_evolution_Profile, t, j, id, 0);
    CK_STR(shop_evolution_Profile, t, j, name);
    CK_ENUM(shop_evolution_Status, shop_evolution_Profile, t, j, status, shop_evolution_Status_Active);
    ck_ev2_contact(t, j);
    CK_IVEC(shop_evolution_Profile, t, j, scores, 4, fg_int);
    CK_INT(shop_evolution_Profile, t, j, birth_year, 1970);
    CK_SVEC(shop_evolution_Profile, t, j, tags);
    const shop_evolution_Avatar *av = shop_evolution_Profile_avatar(t);
    const jv *ja = jget(j, "avatar");
    ck_assert_msg(shop_evolution_Profile_avatar_present(t) == jhas(ja), "%s: Profile.avatar_present", fg_ctx);
    if (fg_has("Profile.avatar", av, ja)) {
        CK_ALIGNED("Profile.avatar", av, shop_evolution_Avatar);
        fg_uint("Avatar.width", av->width, -1, jget(ja, "width"), 0);
        fg_uint("Avatar.height", av->height, -1, jget(ja, "height"), 0);
        fg_uint("Avatar.color", av->color, -1, jget(ja, "color"), 0);
    }
    CK_OPT_FLT(shop_evolution_Profile, t, j, rank);
}

/* The profiles vector: sorted by id, found by find_by_id, absent keys not
 * found. */
static void ck_ev2_profiles(const Directory *d, const jv *j)
{
    const jv *ps = jget(j, "profiles");
    size_t n = CK_VECN(shop_evolution_Directory, d, j, profiles);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(shop_evolution_Profile_id(shop_evolution_Directory_profiles_at(d, i - 1)) <
                          shop_evolution_Profile_id(shop_evolution_Directory_profiles_at(d, i)),
                      "%s: Directory.profiles not sorted by id at %zu", fg_ctx, i);
    for (size_t i = 0; i < n; i++) {
        const jv *p = jat(ps, i);
        uint64_t id = fg_ju(jget(p, "id"), 0);
        const Profile *t = shop_evolution_Directory_profiles_find_by_id(d, id);
        ck_assert_msg(t != NULL, "%s: Directory.profiles_find_by_id(%" PRIu64 ") finds nothing", fg_ctx, id);
        ck_ev2_profile(t, p);
    }
    static const uint64_t absent[] = {2, 8, 1000, 1002, UINT64_MAX};
    for (size_t k = 0; k < sizeof absent / sizeof absent[0]; k++)
        ck_assert_msg(shop_evolution_Directory_profiles_find_by_id(d, absent[k]) == NULL,
                      "%s: Directory.profiles_find_by_id(%" PRIu64 ") finds a profile", fg_ctx, absent[k]);
}

static void ck_directory(const Directory *d, const jv *j)
{
    ck_assert_msg(shop_evolution_Status_Deleted == 2 && shop_evolution_Contact_Phone == 2 &&
                      !strcmp(shop_evolution_Status_name(shop_evolution_Status_Deleted), "Deleted"),
                  "evolution_v2: the appended enum value and union member");
    ck_ev2_profiles(d, j);
    const jv *jo = jget(j, "owner");
    ck_assert_msg(shop_evolution_Directory_owner_present(d) == jhas(jo), "%s: Directory.owner_present", fg_ctx);
    if (fg_has("Directory.owner", shop_evolution_Directory_owner(d), jo))
        ck_ev2_profile(shop_evolution_Directory_owner(d), jo);
}

static void check_ev2(const void *root, const jv *j) { ck_directory(root, j); }
static void check_ev1(const void *root, const jv *j) { ev1_check(NULL, 0, root, j); }

static birch_fb_ref ev2_email(birch_fb_builder *b, const char *address, int verified)
{
    birch_fb_ref a = birch_fb_cstring(b, address);
    shop_evolution_Email_start(b);
    shop_evolution_Email_add_address(b, a);
    shop_evolution_Email_add_verified(b, verified);
    return shop_evolution_Email_end(b);
}

/* evolution_v2.json through the v2 builders. */
static birch_val build_ev2(birch_fb_builder *b, int min)
{
    birch_val out = {NULL, 0};
    birch_fb_ref profiles[2], pv, owner;
    if (min) {
        pv = shop_evolution_Directory_vec_profiles(b, NULL, 0);
        shop_evolution_Profile_start(b);
        owner = shop_evolution_Profile_end(b);
    } else {
        birch_fb_ref name = birch_fb_cstring(b, "Ann");
        birch_fb_ref number = birch_fb_cstring(b, "+44 20 7946 0000");
        shop_evolution_Phone_start(b);
        shop_evolution_Phone_add_number(b, number);
        shop_evolution_Phone_add_country(b, 44);
        birch_fb_ref phone = shop_evolution_Phone_end(b);
        static const int32_t scores[] = {3, -1, INT32_MAX};
        birch_fb_ref sc = shop_evolution_Profile_vec_scores(b, scores, 3);
        birch_fb_ref tags[2] = {birch_fb_cstring(b, "admin"), birch_fb_cstring(b, "")};
        birch_fb_ref tv = shop_evolution_Profile_vec_tags(b, tags, 2);
        shop_evolution_Avatar avatar = {.width = 64, .height = 65535, .color = UINT32_MAX};
        shop_evolution_Profile_start(b);
        shop_evolution_Profile_add_id(b, 1001);
        shop_evolution_Profile_add_name(b, name);
        shop_evolution_Profile_add_status(b, shop_evolution_Status_Deleted);
        shop_evolution_Profile_add_contact_as_Phone(b, phone);
        shop_evolution_Profile_add_scores(b, sc);
        shop_evolution_Profile_add_birth_year(b, -32768);
        shop_evolution_Profile_add_tags(b, tv);
        shop_evolution_Profile_add_avatar(b, &avatar);
        shop_evolution_Profile_add_rank(b, 0.0f);
        profiles[0] = shop_evolution_Profile_end(b);

        birch_fb_ref email = ev2_email(b, "", 0);
        birch_fb_ref none = shop_evolution_Profile_vec_tags(b, NULL, 0);
        shop_evolution_Profile_start(b);
        shop_evolution_Profile_add_id(b, 7);
        shop_evolution_Profile_add_contact_as_Email(b, email);
        shop_evolution_Profile_add_tags(b, none);
        shop_evolution_Profile_add_rank(b, -2.5f);
        profiles[1] = shop_evolution_Profile_end(b);
        pv = shop_evolution_Directory_vec_profiles(b, profiles, 2);

        birch_fb_ref root_name = birch_fb_cstring(b, "root");
        shop_evolution_Profile_start(b);
        shop_evolution_Profile_add_id(b, UINT64_MAX);
        shop_evolution_Profile_add_name(b, root_name);
        shop_evolution_Profile_add_status(b, shop_evolution_Status_Suspended);
        shop_evolution_Profile_add_birth_year(b, 0);
        owner = shop_evolution_Profile_end(b);
    }
    shop_evolution_Directory_start(b);
    shop_evolution_Directory_add_profiles(b, pv);
    shop_evolution_Directory_add_owner(b, owner);
    birch_fb_ref root = shop_evolution_Directory_end(b);
    return finish(shop_evolution_Directory_finish(b, root, 0, &out), out, min ? "evolution_v2_min" : "evolution_v2");
}

static void walk_ev2_profile(fg_bounds *bd, const Profile *t)
{
    if (!t) return;
    fg_in(bd, t, 4, "Profile");
    bd->sum += shop_evolution_Profile_id(t) + (uint64_t)shop_evolution_Profile_status(t) +
               shop_evolution_Profile_contact_type(t) + (uint64_t)shop_evolution_Profile_birth_year(t) +
               (uint64_t)(shop_evolution_Profile_rank(t) > 0) + shop_evolution_Profile_rank_present(t);
    fg_in_str(bd, shop_evolution_Profile_name(t), "Profile.name");
    fg_in(bd, shop_evolution_Profile_contact(t), 4, "Profile.contact");
    const shop_evolution_Email_table *e = shop_evolution_Profile_contact_as_Email(t);
    if (e) {
        fg_in_str(bd, shop_evolution_Email_address(e), "Email.address");
        bd->sum += shop_evolution_Email_verified(e);
    }
    const shop_evolution_Phone_table *p = shop_evolution_Profile_contact_as_Phone(t);
    if (p) {
        fg_in_str(bd, shop_evolution_Phone_number(p), "Phone.number");
        bd->sum += shop_evolution_Phone_country(p);
    }
    size_t n = shop_evolution_Profile_scores_len(t);
    fg_in(bd, shop_evolution_Profile_scores(t), n * 4, "Profile.scores");
    n = shop_evolution_Profile_tags_len(t);
    for (size_t i = 0; i < n; i++) fg_in_str(bd, shop_evolution_Profile_tags_at(t, i), "Profile.tags[i]");
    const shop_evolution_Avatar *av = shop_evolution_Profile_avatar(t);
    fg_in(bd, av, sizeof *av, "Profile.avatar");
    if (av) bd->sum += (uint64_t)av->width + av->height + av->color;
}

static void walk_ev2(fg_bounds *bd, const void *buf, size_t size)
{
    const Directory *d = shop_evolution_Directory_root(buf, size, 0);
    fg_in(bd, d, 4, "Directory");
    size_t n = shop_evolution_Directory_profiles_len(d);
    for (size_t i = 0; i < n; i++) {
        const Profile *t = shop_evolution_Directory_profiles_at(d, i);
        walk_ev2_profile(bd, t);
        fg_in(bd, shop_evolution_Directory_profiles_find_by_id(d, shop_evolution_Profile_id(t)), 4, "find_by_id");
    }
    walk_ev2_profile(bd, shop_evolution_Directory_owner(d));
}

/* ==== The schemas ============================================================= */

static int ev1_verify_opts(const void *buf, size_t n, const birch_fb_opts *o, char *msg, size_t cap)
{
    ck_assert_msg(o == NULL, "ev1_verify takes no options");
    return ev1_verify(buf, n, msg, cap);
}
static const birch_value_format *fmt_inventory(void) { return &shop_inventory_Warehouse_format; }
static const birch_value_format *fmt_game(void) { return &game_Level_format; }
static const birch_value_format *fmt_docstore(void) { return &docstore_Store_format; }
static const birch_value_format *fmt_ev2(void) { return &shop_evolution_Directory_format; }
static const birch_fb_table *desc_inventory(void) { return &shop_inventory_Warehouse_fb; }
static const birch_fb_table *desc_game(void) { return &game_Level_fb; }
static const birch_fb_table *desc_docstore(void) { return &docstore_Store_fb; }
static const birch_fb_table *desc_ev2(void) { return &shop_evolution_Directory_fb; }

typedef struct schema {
    const char *name;  /* tests/fbs/<name>.fbs, <name>.json, <name>_min.json */
    const char *ext;   /* its file_extension: flatc -b writes <json>.<ext> */
    const char *ident; /* its file_identifier */
    int (*verify)(const void *buf, size_t size, const birch_fb_opts *o, char *msg, size_t cap); /* T_verify */
    const birch_fb_table *(*desc)(void);            /* T_fb */
    const birch_value_format *(*fmt)(void);         /* T_format */
    void (*check)(const void *root, const jv *j);   /* field by field against the JSON */
    birch_val (*build)(birch_fb_builder *b, int min); /* the JSON through the builders */
    void (*walk)(fg_bounds *bd, const void *buf, size_t size);
} schema;

static const schema SCHEMAS[] = {
    {"inventory", "binv", "BINV", shop_inventory_Warehouse_verify, desc_inventory, fmt_inventory, check_inventory,
     build_inventory, walk_inventory},
    {"game", "sav", "GAME", game_Level_verify, desc_game, fmt_game, check_game, build_game, walk_game},
    {"docstore", "bdoc", "BDOC", docstore_Store_verify, desc_docstore, fmt_docstore, check_docstore, build_docstore,
     walk_docstore},
    {"evolution_v1", "bin", "BEVO", ev1_verify_opts, ev1_root_desc, ev1_format, check_ev1, ev1_build, ev1_walk},
    {"evolution_v2", "bin", "BEVO", shop_evolution_Directory_verify, desc_ev2, fmt_ev2, check_ev2, build_ev2, walk_ev2},
};
#define NSCHEMAS ((int)(sizeof SCHEMAS / sizeof SCHEMAS[0]))

static const schema *schema_named(const char *name)
{
    for (int i = 0; i < NSCHEMAS; i++)
        if (!strcmp(SCHEMAS[i].name, name)) return &SCHEMAS[i];
    ck_abort_msg("no schema %s", name);
    return NULL;
}

static void json_name(char *out, size_t cap, const schema *s, int min)
{
    snprintf(out, cap, "%s%s", s->name, min ? "_min" : "");
}

static void verify_ok(const schema *s, const void *buf, size_t n)
{
    char msg[256] = "";
    int rc = s->verify(buf, n, NULL, msg, sizeof msg);
    ck_assert_msg(rc == BIRCH_OK, "%s: %s's generated T_verify refuses the buffer (%zu bytes): %d %s", fg_ctx, s->name, n,
                  rc, msg);
    ck_assert_msg(n >= 8 && !memcmp((const uint8_t *)buf + 4, s->ident, 4), "%s: the buffer's file identifier is not %s",
                  fg_ctx, s->ident);
}

/* The buffer put into a typed table of the schema's root value format
 * (T_format), read back through a guard: the view is the root in place,
 * and it reads as the JSON. */
static void typed_check(const schema *s, const void *buf, size_t n, const jv *j, const char *what)
{
    const birch_value_format *fmt = s->fmt();
    char text[256], want[256];
    ck_assert_msg(fmt->describe(fmt, text, sizeof text) > 0, "%s: T_format's describe fails", s->name);
    snprintf(want, sizeof want, "flatbuffers(%s, id %s)", s->desc()->name, s->ident);
    ck_assert_msg(!strcmp(text, want), "%s: T_format describes itself as \"%s\", not \"%s\"", s->name, text, want);

    char *path = bt_path("fbs");
    birch_options opts = bt_opts_fast();
    birch_db *db = bt_open(path, &opts);
    birch_typed t;
    int rc = birch_typed_open(db, NULL, s->name, &birch_key_u64, fmt, BIRCH_CREATE, &t);
    ck_assert_msg(rc == BIRCH_OK, "%s: birch_typed_open with T_format: %d %s", s->name, rc, t.msg);
    birch_val v = {buf, n};
    uint64_t key = 1;
    BT_OK(birch_typed_put(NULL, &t, &key, &v, 0));
    birch_guard g;
    BT_OK(birch_typed_get(NULL, &t, &key, &g));
    ck_assert_msg(g.bytes.size == n && !memcmp(g.bytes.data, buf, n), "%s: the guard's bytes are not the buffer put",
                  s->name);
    ck_assert_msg((const uint8_t *)g.view > (const uint8_t *)g.bytes.data &&
                      (const uint8_t *)g.view < (const uint8_t *)g.bytes.data + n &&
                      g.view == birch_fb_root(g.bytes.data, g.bytes.size, 0),
                  "%s: the guard's view is not the root table in place", s->name);
    char saved[200];
    snprintf(saved, sizeof saved, "%.199s", what); /* what may be fg_ctx itself */
    snprintf(fg_ctx, sizeof fg_ctx, "%s, through a guard of a typed table of %.100s_format", saved, s->desc()->name);
    s->check(g.view, j);
    BT_OK(birch_guard_release(&g));
    BT_OK(birch_close(db));
    free(path);
}

/* ---- flatc's buffers read through the generated accessors ------------------ */

START_TEST(flatc_read)
{
    const schema *s = &SCHEMAS[_i];
    for (int min = 0; min < 2; min++) {
        char json[64];
        json_name(json, sizeof json, s, min);
        jv *j = source_json(json);
        size_t n;
        uint8_t *buf = flatc_binary(s->name, s->ext, json, &n);
        snprintf(fg_ctx, sizeof fg_ctx, "flatc -b %s.json", json);
        verify_ok(s, buf, n);
        s->check(birch_fb_root(buf, n, 0), j);
        snprintf(fg_ctx, sizeof fg_ctx, "flatc -b %s.json", json);
        typed_check(s, buf, n, j, fg_ctx);
        free(buf);
        jfree(j);
    }
}
END_TEST

/* ---- Buffers built through the generated builders, decoded by flatc --------- */

START_TEST(birch_built)
{
    const schema *s = &SCHEMAS[_i];
    birch_fb_builder *b = birch_fb_builder_new();
    ck_assert_msg(b != NULL, "birch_fb_builder_new");
    for (int min = 0; min < 2; min++) {
        char json[64], tag[96];
        json_name(json, sizeof json, s, min);
        jv *j = source_json(json);
        birch_val v = s->build(b, min);
        size_t n = v.size;
        uint8_t *mine = copy_of(v.data, n);
        snprintf(fg_ctx, sizeof fg_ctx, "birch's builders, %s.json", json);
        verify_ok(s, mine, n);
        s->check(birch_fb_root(mine, n, 0), j);
        snprintf(fg_ctx, sizeof fg_ctx, "birch's builders, %s.json", json);
        typed_check(s, mine, n, j, fg_ctx);

        size_t fn;
        uint8_t *theirs = flatc_binary(s->name, s->ext, json, &fn);
        fprintf(stderr, "test_fbs_gen: %s.json: birch builds %zu bytes, flatc -b %zu\n", json, n, fn);
        ck_assert_msg(n <= fn, "%s.json: birch's buffer (%zu bytes) is larger than flatc's (%zu)", json, n, fn);

        snprintf(tag, sizeof tag, "birch_%s", json);
        jv *dec_mine = flatc_decode(s->name, tag, mine, n);
        snprintf(tag, sizeof tag, "flatc_%s", json);
        jv *dec_theirs = flatc_decode(s->name, tag, theirs, fn);
        /* The comparison itself, on flatc's own buffer first. */
        snprintf(fg_ctx, sizeof fg_ctx, "flatc --json of flatc's %s.json buffer, against %s.json", json, json);
        jmatch("$", "", j, dec_theirs, 0);
        snprintf(fg_ctx, sizeof fg_ctx, "flatc --json of birch's %s.json buffer, against %s.json", json, json);
        jmatch("$", "", j, dec_mine, 0);
        snprintf(fg_ctx, sizeof fg_ctx, "flatc --json of birch's %s.json buffer, against flatc's", json);
        jmatch("$", "", dec_theirs, dec_mine, 1);

        jfree(dec_mine);
        jfree(dec_theirs);
        free(theirs);
        free(mine);
        jfree(j);
        birch_fb_builder_reset(b);
    }
    birch_fb_builder_free(b);
}
END_TEST

/* ---- Schema evolution -------------------------------------------------------- */

/* The added fields of v2 as v1 data leaves them: their defaults. */
static void ck_added_defaults(const Directory *d)
{
    for (size_t i = 0; i < shop_evolution_Directory_profiles_len(d); i++) {
        const Profile *t = shop_evolution_Directory_profiles_at(d, i);
        ck_assert_msg(shop_evolution_Profile_birth_year(t) == 1970 && !shop_evolution_Profile_birth_year_present(t),
                      "%s: v2 reads birth_year %d in v1 data, not its default 1970", fg_ctx,
                      shop_evolution_Profile_birth_year(t));
        ck_assert_msg(!shop_evolution_Profile_tags_present(t) && shop_evolution_Profile_tags_len(t) == 0 &&
                          shop_evolution_Profile_tags_at(t, 0) == NULL,
                      "%s: v2 reads tags in v1 data", fg_ctx);
        ck_assert_msg(shop_evolution_Profile_avatar(t) == NULL && !shop_evolution_Profile_avatar_present(t),
                      "%s: v2 reads an avatar in v1 data", fg_ctx);
        ck_assert_msg(!shop_evolution_Profile_rank_present(t) && shop_evolution_Profile_rank(t) == 0,
                      "%s: v2 reads a rank in v1 data", fg_ctx);
        ck_assert_msg(shop_evolution_Profile_contact_as_Phone(t) == NULL, "%s: v2 reads a Phone in v1 data", fg_ctx);
    }
    ck_assert_msg(shop_evolution_Directory_owner(d) == NULL && !shop_evolution_Directory_owner_present(d),
                  "%s: v2 reads an owner in v1 data", fg_ctx);
}

/* Field name and id f of table descriptor t: the field is not there
 * (deprecated: no descriptor, no accessor). */
static void ck_no_field(const birch_fb_table *t, const char *name, unsigned id)
{
    for (size_t i = 0; i < t->nfields; i++) {
        ck_assert_msg(strcmp(t->fields[i].name, name) != 0, "%s has a descriptor for its deprecated field %s", t->name,
                      name);
        ck_assert_msg(t->fields[i].id != id, "%s's field %s has the deprecated field %s's id %u", t->name,
                      t->fields[i].name, name, id);
    }
}

static unsigned field_id(const birch_fb_table *t, const char *name)
{
    for (size_t i = 0; i < t->nfields; i++)
        if (!strcmp(t->fields[i].name, name)) return t->fields[i].id;
    ck_abort_msg("%s has no field %s", t->name, name);
    return 0;
}

START_TEST(evolution)
{
    birch_fb_builder *b = birch_fb_builder_new();
    ck_assert_msg(b != NULL, "birch_fb_builder_new");
    /* v2 deprecates Profile.age (id 2): no accessor, no descriptor; the
     * fields after it keep their ids. */
    ck_no_field(&shop_evolution_Profile_fb, "age", 2);
    ck_assert_msg(field_id(&shop_evolution_Profile_fb, "status") == 3 &&
                      field_id(&shop_evolution_Profile_fb, "contact") == 5 &&
                      field_id(&shop_evolution_Profile_fb, "birth_year") == 7 &&
                      field_id(&shop_evolution_Profile_fb, "rank") == 10,
                  "evolution_v2: Profile's ids around the deprecated age");

    for (int min = 0; min < 2; min++) {
        char json[64];
        snprintf(json, sizeof json, "evolution_v1%s", min ? "_min" : "");
        jv *j1 = source_json(json);
        size_t fn;
        uint8_t *theirs = flatc_binary("evolution_v1", "bin", json, &fn);
        birch_val v = ev1_build(b, min);
        uint8_t *mine = copy_of(v.data, v.size);
        const uint8_t *bufs[] = {theirs, mine};
        size_t sizes[] = {fn, v.size};
        for (int k = 0; k < 2; k++) {
            /* v1 data read by v2 */
            snprintf(fg_ctx, sizeof fg_ctx, "%s's v1 buffer of %s.json read through evolution_v2's header",
                     k ? "birch" : "flatc", json);
            char msg[256] = "";
            int rc = shop_evolution_Directory_verify(bufs[k], sizes[k], NULL, msg, sizeof msg);
            ck_assert_msg(rc == BIRCH_OK, "%s: v2's verifier refuses v1 data: %d %s", fg_ctx, rc, msg);
            const Directory *d = shop_evolution_Directory_root(bufs[k], sizes[k], 0);
            ck_ev2_profiles(d, j1); /* every v1 field as written (age aside) */
            ck_added_defaults(d);
            if (!min) { /* the deprecated age is in the buffer (v1 reads it), invisible to v2 */
                int present;
                ck_assert_msg(ev1_age(bufs[k], sizes[k], 1001, &present) == 41 && present,
                              "%s: v1 does not read Ann's age 41", fg_ctx);
                ck_assert_msg(ev1_age(bufs[k], sizes[k], 7, &present) == 255 && present,
                              "%s: v1 does not read age 255", fg_ctx);
            }
            /* old data in a table of the new format */
            typed_check(schema_named("evolution_v2"), bufs[k], sizes[k], j1, fg_ctx);
        }
        free(theirs);
        free(mine);
        jfree(j1);
        birch_fb_builder_reset(b);

        /* v2 data read by v1 */
        snprintf(json, sizeof json, "evolution_v2%s", min ? "_min" : "");
        jv *j2 = source_json(json);
        theirs = flatc_binary("evolution_v2", "bin", json, &fn);
        v = build_ev2(b, min);
        mine = copy_of(v.data, v.size);
        bufs[0] = theirs;
        bufs[1] = mine;
        sizes[0] = fn;
        sizes[1] = v.size;
        for (int k = 0; k < 2; k++) {
            snprintf(fg_ctx, sizeof fg_ctx, "%s's v2 buffer of %s.json read through evolution_v1's header",
                     k ? "birch" : "flatc", json);
            ev1_check_v2_data(bufs[k], sizes[k], j2);
            if (!min) {
                int present;
                ck_assert_msg(ev1_age(bufs[k], sizes[k], 1001, &present) == 0 && !present,
                              "%s: v1 reads an age v2 never writes", fg_ctx);
            }
        }
        free(theirs);
        free(mine);
        jfree(j2);
        birch_fb_builder_reset(b);
    }
    birch_fb_builder_free(b);
}
END_TEST

/* Deprecated fields elsewhere, and explicit ids (game.fbs) as the
 * descriptors give them. */
START_TEST(deprecated_and_ids)
{
    ck_no_field(&shop_inventory_Item_fb, "old_price", 14);
    ck_assert_msg(field_id(&shop_inventory_Item_fb, "stock") == 13 && field_id(&shop_inventory_Item_fb, "bins") == 15 &&
                      field_id(&shop_inventory_Item_fb, "weight_g") == 16,
                  "inventory: Item's ids around the deprecated old_price");
    ck_no_field(&shop_inventory_Warehouse_fb, "legacy_code", 10);
    ck_assert_msg(field_id(&shop_inventory_Warehouse_fb, "tags") == 9, "inventory: Warehouse.tags' id");
    /* Monster's ids as (id: N) gives them, a union's value at N and its type at N - 1 */
    static const struct {
        const char *name;
        unsigned id;
    } monster[] = {{"name", 0},  {"hp", 1},          {"team", 2},        {"action", 4},  {"pose", 5},
                   {"transform", 6}, {"stats", 7},   {"equipment", 9},   {"path", 10},   {"transforms", 11},
                   {"colors", 12},   {"friendly", 13}};
    ck_assert_msg(game_Monster_fb.nfields == sizeof monster / sizeof monster[0], "game: Monster has %zu fields",
                  game_Monster_fb.nfields);
    for (size_t i = 0; i < sizeof monster / sizeof monster[0]; i++)
        ck_assert_msg(field_id(&game_Monster_fb, monster[i].name) == monster[i].id, "game: Monster.%s's id is not %u",
                      monster[i].name, monster[i].id);
    ck_assert_msg(game_Monster_fb.fields[0].required && !strcmp(game_Monster_fb.fields[0].name, "name"),
                  "game: Monster.name (required)");
    ck_assert_msg(field_id(&game_Spell_fb, "focus") == 3 && field_id(&game_Spell_fb, "area") == 5,
                  "game: Spell's union ids");
    ck_assert_msg(!strcmp(shop_inventory_Warehouse_fb.ident, "BINV") && !strcmp(game_Level_fb.ident, "GAME") &&
                      !strcmp(docstore_Store_fb.ident, "BDOC") && shop_inventory_Item_fb.ident == NULL,
                  "file identifiers of the root types only");
}
END_TEST

/* ---- Truncations and mutations ---------------------------------------------- */

/* Verifies buf (a malloc block of exactly size bytes); when the verifier
 * accepts it, walks every field in bounds.  Returns whether it was
 * accepted. */
static int verify_or_walk(const schema *s, const uint8_t *buf, size_t size, const char *ctx)
{
    if (s->verify(buf, size, NULL, NULL, 0) != BIRCH_OK) return 0;
    fg_bounds bd = {buf, buf + size, ctx, 0};
    s->walk(&bd, buf, size);
    return 1;
}

START_TEST(truncations_mutations)
{
    const schema *s = &SCHEMAS[_i];
    uint64_t seed = bt_seed(0xfb5c0de) + (uint64_t)_i;
    long rounds = (long)bt_env_u64("BIRCH_FBS_MUTATIONS", 2500);
    bt_rng r = {seed};
    birch_fb_builder *b = birch_fb_builder_new();
    ck_assert_msg(b != NULL, "birch_fb_builder_new");
    for (int which = 0; which < 4; which++) {
        int min = which & 1, built = which >> 1;
        char json[64], ctx[512];
        json_name(json, sizeof json, s, min);
        size_t n;
        uint8_t *buf;
        if (built) {
            birch_val v = s->build(b, min);
            buf = copy_of(v.data, v.size);
            n = v.size;
            birch_fb_builder_reset(b);
        } else {
            buf = flatc_binary(s->name, s->ext, json, &n);
        }
        const char *whose = built ? "birch's" : "flatc's";
        snprintf(fg_ctx, sizeof fg_ctx, "%s %s.json", whose, json);
        snprintf(ctx, sizeof ctx, "%s %s.json unchanged", whose, json);
        ck_assert_msg(verify_or_walk(s, buf, n, ctx), "%s: the verifier refuses the unchanged buffer", ctx);

        size_t cut_ok = 0;
        for (size_t cut = 0; cut < n; cut++) {
            uint8_t *c = copy_of(buf, cut);
            snprintf(ctx, sizeof ctx, "%s %s.json cut to %zu of %zu bytes", whose, json, cut, n);
            cut_ok += (size_t)verify_or_walk(s, c, cut, ctx);
            free(c);
        }
        long mut_ok = 0;
        for (long i = 0; i < rounds; i++) {
            uint8_t *c = copy_of(buf, n);
            int flips = (int)bt_range(&r, 1, 4);
            for (int f = 0; f < flips; f++) {
                size_t at = (size_t)bt_below(&r, n);
                if (bt_chance(&r, 50)) c[at] ^= (uint8_t)(1u << bt_below(&r, 8));
                else c[at] = (uint8_t)bt_rand(&r);
            }
            snprintf(ctx, sizeof ctx, "%s %s.json, mutation round %ld of seed %#" PRIx64 " (BIRCH_SEED=%#" PRIx64 ")",
                     whose, json, i, seed, seed - (uint64_t)_i);
            mut_ok += verify_or_walk(s, c, n, ctx);
            free(c);
        }
        fprintf(stderr,
                "test_fbs_gen: %s %s.json (%zu bytes): %zu prefixes, %zu accepted (and read in bounds); "
                "%ld mutations (seed %#" PRIx64 "), %ld accepted (and read in bounds)\n",
                whose, json, n, n, cut_ok, rounds, seed, mut_ok);
        free(buf);
    }
    birch_fb_builder_free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fbs_gen");
    TCase *tc = bt_tcase("flatc_read");
    tcase_add_loop_test(tc, flatc_read, 0, NSCHEMAS);
    suite_add_tcase(s, tc);
    tc = bt_tcase("birch_built");
    tcase_add_loop_test(tc, birch_built, 0, NSCHEMAS);
    suite_add_tcase(s, tc);
    bt_add_case(s, "evolution", evolution);
    bt_add_case(s, "deprecated_and_ids", deprecated_and_ids);
    tc = bt_tcase("truncations_mutations");
    tcase_add_loop_test(tc, truncations_mutations, 0, NSCHEMAS);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
