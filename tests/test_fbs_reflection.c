/*
 * test_fbs_reflection.c - tools/fbs_reflection.h against what flatc writes
 * with `flatc --schema -b`: the binary schema of a schema of this test's
 * own (namespace, enum with a gap, struct with padding, union, key,
 * required, deprecated, defaults, vector of strings, file identifier,
 * root type) verifies as a reflection.Schema and reads back field by field
 * as the schema says; every truncation and random byte changes are refused
 * or read in bounds (under AddressSanitizer in that build).
 * The first step of issue 15's schema compiler: birch reads a schema
 * through its own verifier and accessors.  Then the compiler itself
 * (tools/fbs_schema.c, fbs_emit.c, linked in) over every prefix and random
 * changes of tests/fbs/game.fbs's binary schema: a message or a header,
 * never a read out of bounds.  Needs flatc (./build.sh deps).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tools/fbs_reflection.h"
#include "../tools/fbs_schema.h"
#include "support.h"

static const char inv_fbs[] =
    "namespace Inv;\n"
    "enum Kind : ubyte { Tool, Food = 3 }\n"
    "struct Dim { w: float; h: double; }\n"
    "table Supplier { name: string (key); }\n"
    "union Extra { Supplier }\n"
    "table Item { name: string (required); kind: Kind = Food; dim: Dim; extra: Extra;\n"
    "             old: int (deprecated); tags: [string]; weight: double = 2.5; }\n"
    "root_type Item;\n"
    "file_identifier \"INVT\";\n";

static uint8_t *bfbs;
static size_t bfbs_len;

/* Writes inv.fbs in the test's directory, runs flatc on it and reads the
 * binary schema into an 8-aligned buffer. */
static void make_bfbs(void)
{
    ck_assert_msg(system("command -v flatc >/dev/null 2>&1") == 0,
                  "flatc not found: install flatbuffers-compiler (./build.sh deps installs it)");
    const char *dir = getenv("BIRCH_TEST_DIR");
    if (!dir || !*dir) dir = "/tmp";
    char path[4096], cmd[8400];
    snprintf(path, sizeof path, "%s/inv-%ld.fbs", dir, (long)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(inv_fbs, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "cd '%s' && flatc --schema -b inv-%ld.fbs", dir, (long)getpid());
    ck_assert_msg(system(cmd) == 0, "flatc failed: %s", cmd);
    snprintf(path, sizeof path, "%s/inv-%ld.bfbs", dir, (long)getpid());
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "no %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert(n > 8);
    rewind(f);
    bfbs_len = (size_t)n;
    ck_assert_int_eq(posix_memalign((void **)&bfbs, 8, bfbs_len), 0);
    ck_assert_uint_eq(fread(bfbs, 1, bfbs_len, f), bfbs_len);
    fclose(f);
}

static void setup(void) { make_bfbs(); }
static void teardown(void) { free(bfbs); }

static const reflection_Object_table *object_named(const reflection_Schema_table *s, const char *name)
{
    for (size_t i = 0; i < reflection_Schema_objects_len(s); i++)
        if (strcmp(reflection_Object_name(reflection_Schema_objects_at(s, i)), name) == 0)
            return reflection_Schema_objects_at(s, i);
    ck_abort_msg("no object %s", name);
    return NULL;
}

static const reflection_Field_table *field_named(const reflection_Object_table *o, const char *name)
{
    for (size_t i = 0; i < reflection_Object_fields_len(o); i++)
        if (strcmp(reflection_Field_name(reflection_Object_fields_at(o, i)), name) == 0)
            return reflection_Object_fields_at(o, i);
    ck_abort_msg("no field %s in %s", name, reflection_Object_name(o));
    return NULL;
}

START_TEST(reads_what_flatc_wrote)
{
    char msg[256];
    ck_assert_msg(reflection_Schema_verify(bfbs, bfbs_len, NULL, msg, sizeof msg) == BIRCH_OK, "%s", msg);
    const reflection_Schema_table *s = reflection_Schema_root(bfbs, bfbs_len, 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(reflection_Schema_file_ident(s), "INVT");
    ck_assert_str_eq(reflection_Object_name(reflection_Schema_root_table(s)), "Inv.Item");
    /* Objects and enums sorted by full name. */
    ck_assert_uint_eq(reflection_Schema_objects_len(s), 3);
    ck_assert_str_eq(reflection_Object_name(reflection_Schema_objects_at(s, 0)), "Inv.Dim");
    ck_assert_str_eq(reflection_Object_name(reflection_Schema_objects_at(s, 2)), "Inv.Supplier");
    ck_assert_uint_eq(reflection_Schema_enums_len(s), 2);

    /* The struct: laid out with its padding. */
    const reflection_Object_table *dim = object_named(s, "Inv.Dim");
    ck_assert(reflection_Object_is_struct(dim));
    ck_assert_int_eq(reflection_Object_bytesize(dim), 16);
    ck_assert_int_eq(reflection_Object_minalign(dim), 8);
    const reflection_Field_table *w = field_named(dim, "w"), *h = field_named(dim, "h");
    ck_assert_uint_eq(reflection_Field_offset(w), 0);
    ck_assert_uint_eq(reflection_Field_padding(w), 4);
    ck_assert_int_eq(reflection_Type_base_type(reflection_Field_type(w)), reflection_Float);
    ck_assert_uint_eq(reflection_Field_offset(h), 8);
    ck_assert_int_eq(reflection_Type_base_type(reflection_Field_type(h)), reflection_Double);

    /* The table: ids in declaration order (a union takes two), defaults,
     * required, deprecated, types and their indexes. */
    const reflection_Object_table *item = object_named(s, "Inv.Item");
    ck_assert(!reflection_Object_is_struct(item));
    const reflection_Field_table *f = field_named(item, "name");
    ck_assert_uint_eq(reflection_Field_id(f), 0);
    ck_assert(reflection_Field_required(f));
    ck_assert_int_eq(reflection_Type_base_type(reflection_Field_type(f)), reflection_String);
    f = field_named(item, "kind");
    ck_assert_uint_eq(reflection_Field_id(f), 1);
    ck_assert_int_eq(reflection_Field_default_integer(f), 3);
    ck_assert_int_eq(reflection_Type_base_type(reflection_Field_type(f)), reflection_UByte);
    const reflection_Enum_table *kind = reflection_Schema_enums_at(s, (size_t)reflection_Type_index(reflection_Field_type(f)));
    ck_assert_str_eq(reflection_Enum_name(kind), "Inv.Kind");
    f = field_named(item, "dim");
    ck_assert_uint_eq(reflection_Field_id(f), 2);
    ck_assert_int_eq(reflection_Type_base_type(reflection_Field_type(f)), reflection_Obj);
    ck_assert_str_eq(reflection_Object_name(reflection_Schema_objects_at(s, (size_t)reflection_Type_index(reflection_Field_type(f)))),
                     "Inv.Dim");
    f = field_named(item, "extra_type");
    ck_assert_uint_eq(reflection_Field_id(f), 3);
    ck_assert_int_eq(reflection_Type_base_type(reflection_Field_type(f)), reflection_UType);
    f = field_named(item, "extra");
    ck_assert_uint_eq(reflection_Field_id(f), 4);
    ck_assert_uint_eq(reflection_Field_offset(f), 4 + 2 * 4); /* its vtable slot */
    ck_assert_int_eq(reflection_Type_base_type(reflection_Field_type(f)), reflection_Union);
    f = field_named(item, "old");
    ck_assert_uint_eq(reflection_Field_id(f), 5);
    ck_assert(reflection_Field_deprecated(f));
    f = field_named(item, "tags");
    ck_assert_uint_eq(reflection_Field_id(f), 6);
    ck_assert_int_eq(reflection_Type_base_type(reflection_Field_type(f)), reflection_Vector);
    ck_assert_int_eq(reflection_Type_element(reflection_Field_type(f)), reflection_String);
    f = field_named(item, "weight");
    ck_assert(reflection_Field_default_real(f) == 2.5);
    ck_assert(reflection_Field_key(field_named(object_named(s, "Inv.Supplier"), "name")));

    /* The enums: values in order, a union's members naming their tables. */
    ck_assert_int_eq(reflection_Type_base_type(reflection_Enum_underlying_type(kind)), reflection_UByte);
    ck_assert(!reflection_Enum_is_union(kind));
    ck_assert_uint_eq(reflection_Enum_values_len(kind), 2);
    ck_assert_str_eq(reflection_EnumVal_name(reflection_Enum_values_at(kind, 1)), "Food");
    ck_assert_int_eq(reflection_EnumVal_value(reflection_Enum_values_at(kind, 1)), 3);
    const reflection_Enum_table *extra = reflection_Schema_enums_at(s, 0);
    ck_assert_str_eq(reflection_Enum_name(extra), "Inv.Extra");
    ck_assert(reflection_Enum_is_union(extra));
    ck_assert_uint_eq(reflection_Enum_values_len(extra), 2); /* NONE and Supplier */
    const reflection_EnumVal_table *sup = reflection_Enum_values_at(extra, 1);
    ck_assert_str_eq(reflection_EnumVal_name(sup), "Supplier");
    ck_assert_int_eq(reflection_EnumVal_value(sup), 1);
    ck_assert_str_eq(reflection_Object_name(reflection_Schema_objects_at(
                         s, (size_t)reflection_Type_index(reflection_EnumVal_union_type(sup)))),
                     "Inv.Supplier");
}
END_TEST

/* Reads every name and type of a verified schema (AddressSanitizer, in
 * that build, watches the reads: buf is exactly n bytes of the heap). */
static size_t walk(const uint8_t *buf, size_t n)
{
    const reflection_Schema_table *s = reflection_Schema_root(buf, n, 0);
    size_t chars = 0;
    for (size_t i = 0; i < reflection_Schema_objects_len(s); i++) {
        const reflection_Object_table *o = reflection_Schema_objects_at(s, i);
        chars += strlen(reflection_Object_name(o));
        for (size_t j = 0; j < reflection_Object_fields_len(o); j++) {
            const reflection_Field_table *f = reflection_Object_fields_at(o, j);
            chars += strlen(reflection_Field_name(f)) + (size_t)(uint8_t)reflection_Type_base_type(reflection_Field_type(f));
        }
    }
    for (size_t i = 0; i < reflection_Schema_enums_len(s); i++) {
        const reflection_Enum_table *e = reflection_Schema_enums_at(s, i);
        chars += strlen(reflection_Enum_name(e));
        for (size_t j = 0; j < reflection_Enum_values_len(e); j++)
            chars += strlen(reflection_EnumVal_name(reflection_Enum_values_at(e, j)));
    }
    return chars;
}

/* Every prefix and random changes of one to four bytes: refused, or they
 * verify and read in bounds.  A prefix that cuts only the padding flatc
 * leaves at the end still holds the whole schema. */
START_TEST(damaged_schemas_refused_or_read_in_bounds)
{
    char msg[256];
    size_t whole = walk(bfbs, bfbs_len), prefixes = 0;
    for (size_t n = 0; n < bfbs_len; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, bfbs, n);
        if (reflection_Schema_verify(cut, n, NULL, msg, sizeof msg) == BIRCH_OK) {
            prefixes++;
            ck_assert_msg(walk(cut, n) == whole, "a prefix of %zu bytes verified but reads differently", n);
        }
        free(cut);
    }
    ck_assert_uint_lt(prefixes, 8); /* at most the end's padding */
    uint8_t *copy;
    ck_assert_int_eq(posix_memalign((void **)&copy, 8, bfbs_len), 0);
    uint64_t seed = 0x5eed15u, x = seed;
    size_t passed = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(copy, bfbs, bfbs_len);
        for (int k = 0; k < 1 + round % 4; k++) {
            x = x * 6364136223846793005u + 1442695040888963407u;
            copy[(x >> 33) % bfbs_len] = (uint8_t)(x >> 13);
        }
        if (reflection_Schema_verify(copy, bfbs_len, NULL, msg, sizeof msg) != BIRCH_OK) continue;
        passed++;
        ck_assert_msg(walk(copy, bfbs_len) > 0, "seed %#llx round %d: a verified schema with no names",
                      (unsigned long long)seed, round);
    }
    fprintf(stderr, "fbs_reflection: %zu prefixes verified (padding cut); seed %#llx: %zu of 3000 changed schemas "
            "verified and were read\n", prefixes, (unsigned long long)seed, passed);
    free(copy);
}
END_TEST

/* ---- The schema compiler over damaged binary schemas ------------------- */

/* The binary schema of tests/fbs/game.fbs (unions of other namespaces,
 * vectors of unions, arrays, force_align) as `birch fbs` has flatc write
 * it (--bfbs-builtins), 8-aligned and malloc'd. */
static uint8_t *game_bfbs(size_t *n)
{
    char src[4096], cmd[9000], path[4200];
    snprintf(src, sizeof src, "%s", __FILE__);
    *strrchr(src, '/') = 0;
    const char *dir = getenv("BIRCH_TEST_DIR");
    if (!dir || !*dir) dir = "/tmp";
    snprintf(cmd, sizeof cmd, "flatc --schema -b --bfbs-builtins -I '%s/fbs/include' -o '%s' '%s/fbs/game.fbs'", src,
             dir, src);
    ck_assert_msg(system(cmd) == 0, "flatc failed: %s", cmd);
    snprintf(path, sizeof path, "%s/game.bfbs", dir);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    ck_assert(len > 8);
    rewind(f);
    uint8_t *b;
    ck_assert_int_eq(posix_memalign((void **)&b, 8, (size_t)len), 0);
    ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* The compiler's two steps on buf: a model or a message, then a header
 * or a message (names that collide).  Returns 1 when a header came out. */
static int compile(const uint8_t *buf, size_t n, const char *what)
{
    fbs_schema s;
    char err[512] = "";
    if (fbs_schema_load(&s, buf, n, err, sizeof err) != 0) {
        ck_assert_msg(err[0] != 0, "%s: the model was refused without a message", what);
        return 0;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    err[0] = 0;
    int rc = fbs_emit(&s, f, "game.fbs", "GAME_BIRCH_H_", err, sizeof err);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_msg(rc == 0 || err[0] != 0, "%s: no header and no message", what);
    fbs_schema_free(&s);
    free(text);
    return rc == 0;
}

/* Every prefix and thousands of random changes of a binary schema: the
 * compiler refuses them with a message or writes a header, reading in
 * bounds (AddressSanitizer watches in that build). */
START_TEST(compiler_on_damaged_schemas)
{
    size_t n;
    uint8_t *game = game_bfbs(&n);
    ck_assert_msg(compile(game, n, "game.bfbs"), "the intact schema does not compile");
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, game, cut);
        compile(p, cut, "a prefix");
        free(p);
    }
    uint8_t *copy;
    ck_assert_int_eq(posix_memalign((void **)&copy, 8, n), 0);
    uint64_t seed = 0xfb5c0de, x = seed;
    size_t headers = 0;
    for (int round = 0; round < 4000; round++) {
        char what[64];
        memcpy(copy, game, n);
        for (int k = 0; k < 1 + round % 3; k++) {
            x = x * 6364136223846793005u + 1442695040888963407u;
            copy[(x >> 33) % n] = (uint8_t)(x >> 13);
        }
        snprintf(what, sizeof what, "seed %#llx round %d", (unsigned long long)seed, round);
        headers += (size_t)compile(copy, n, what);
    }
    fprintf(stderr, "fbs_reflection: seed %#llx: %zu of 4000 changed schemas compiled to a header\n",
            (unsigned long long)seed, headers);
    free(copy);
    free(game);
}
END_TEST

/* A binary schema of one table T with one field x of base type base (and
 * element elem), with advanced_features adv, built with birch's builder
 * through fbs_reflection.h: what a newer flatc could write. */
static birch_val newer_schema(birch_fb_builder *b, int8_t base, int8_t elem, uint64_t adv)
{
    birch_fb_ref xname = birch_fb_cstring(b, "x"), tname = birch_fb_cstring(b, "T");
    reflection_Type_start(b);
    reflection_Type_add_base_type(b, base);
    reflection_Type_add_element(b, elem);
    birch_fb_ref type = reflection_Type_end(b);
    reflection_Field_start(b);
    reflection_Field_add_name(b, xname);
    reflection_Field_add_type(b, type);
    birch_fb_ref field = reflection_Field_end(b);
    birch_fb_ref fields = reflection_Object_vec_fields(b, &field, 1);
    reflection_Object_start(b);
    reflection_Object_add_name(b, tname);
    reflection_Object_add_fields(b, fields);
    birch_fb_ref obj = reflection_Object_end(b);
    birch_fb_ref objs = reflection_Schema_vec_objects(b, &obj, 1), enums = reflection_Schema_vec_enums(b, NULL, 0);
    reflection_Schema_start(b);
    reflection_Schema_add_objects(b, objs);
    reflection_Schema_add_enums(b, enums);
    reflection_Schema_add_advanced_features(b, adv);
    birch_val out;
    BT_OK(reflection_Schema_finish(b, reflection_Schema_end(b), 0, &out));
    return out;
}

/* What a newer flatc's binary schemas may hold that birch cannot read
 * (64-bit offsets: base type Vector64, advanced-feature bits past the four
 * flatc 2.0.8 knows) is a named error, and the same schema without it is
 * a header. */
START_TEST(newer_features_refused)
{
    birch_fb_builder *b = birch_fb_builder_new();
    static const struct {
        int8_t base, elem;
        uint64_t adv;
        const char *want;
    } cases[] = {
        {reflection_Int, 0, 0, NULL},
        {reflection_Vector64, reflection_UByte, 0, "T.x: type 18 is not one birch knows (64-bit offsets"},
        {reflection_Int, 0, 16, "advanced_features 0x10; 64-bit offsets"},
        {reflection_Vector, reflection_Vector64, 0, "T.x: a vector of type 18"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        birch_fb_builder_reset(b);
        birch_val v = newer_schema(b, cases[i].base, cases[i].elem, cases[i].adv);
        fbs_schema s;
        char err[512] = "";
        int rc = fbs_schema_load(&s, v.data, v.size, err, sizeof err);
        if (!cases[i].want) {
            ck_assert_msg(rc == 0, "case %zu: %s", i, err);
            fbs_schema_free(&s);
            continue;
        }
        ck_assert_msg(rc != 0, "case %zu: loaded", i);
        ck_assert_msg(strstr(err, cases[i].want) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].want);
    }
    birch_fb_builder_free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fbs_reflection");
    TCase *tc = tcase_create("fbs_reflection");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, reads_what_flatc_wrote);
    tcase_add_test(tc, damaged_schemas_refused_or_read_in_bounds);
    tcase_add_test(tc, compiler_on_damaged_schemas);
    tcase_add_test(tc, newer_features_refused);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
