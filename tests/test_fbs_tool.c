/*
 * test_fbs_tool.c - `birch fbs`, the FlatBuffers schema compiler, as a
 * command: what it writes for a good schema, and that every bad input is
 * an error that names it and leaves no header behind: flatc missing,
 * flatc's own message (file and line) for a schema it refuses, a schema
 * feature birch cannot express (a union of structs), names that would
 * collide in C, usage errors, and each schema of tests/fbs/bad/ that must
 * be refused.  The headers' contents are tested by test_fbs_gen.c; the
 * oddities of tests/fbs/bad/ that must be handled (edge_cases.fbs, ...)
 * are compiled by the fbs_header_* tests (tests/CMakeLists.txt).  Needs flatc (./build.sh deps).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

static char dir[4096];

static void setup(void)
{
    ck_assert_msg(bt_sh(NULL, NULL, "command -v flatc") == 0,
                  "flatc not found: install flatbuffers-compiler (./build.sh deps installs it)");
    char *p = bt_path("fbs");
    snprintf(dir, sizeof dir, "%s.d", p);
    free(p);
    ck_assert_int_eq(bt_sh(NULL, NULL, "mkdir -p '%s'", dir), 0);
}

static void put_file(const char *name, const char *text)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

static int exists(const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* Runs `birch fbs ARGS` in dir; returns the exit status, stderr in *err. */
static int fbs(char **err, const char *args)
{
    return bt_sh(NULL, err, "cd '%s' && '%s' fbs %s", dir, bt_tool_path(), args);
}

/* The schema is refused: exit 1, stderr has want, and no out.h (nor a
 * temporary file) is left. */
static void refused(const char *schema, const char *want)
{
    put_file("s.fbs", schema);
    char *err = NULL;
    int rc = fbs(&err, "s.fbs -o out.h");
    ck_assert_msg(rc == 1, "exit %d for a refused schema; stderr: %s", rc, err);
    ck_assert_msg(strstr(err, want) != NULL, "stderr lacks \"%s\": %s", want, err);
    ck_assert_msg(!exists("out.h"), "a header was written for a refused schema");
    ck_assert_int_eq(bt_sh(NULL, NULL, "ls '%s' | grep -q tmp", dir), 1);
    free(err);
}

START_TEST(writes_a_header)
{
    put_file("inc.fbs", "namespace Common;\nstruct Dim { w: float; h: double; }\n");
    put_file("inv.fbs", "include \"inc.fbs\";\nnamespace Inv;\nenum Kind : ubyte { Tool, Food = 3 }\n"
                        "table Item { name: string (required); kind: Kind = Food; dim: Common.Dim; }\n"
                        "root_type Item;\nfile_identifier \"INVT\";\n");
    char *err = NULL;
    ck_assert_msg(fbs(&err, "inv.fbs -I . -o inv_birch.h") == 0, "%s", err);
    free(err);
    char *out = NULL;
    ck_assert_int_eq(bt_sh(&out, NULL, "cat '%s/inv_birch.h'", dir), 0);
    const char *want[] = {"typedef enum Inv_Kind", "Inv_Kind_Food = 3", "Inv_Kind_name(Inv_Kind v)",
                          "typedef struct Common_Dim", "_Static_assert(offsetof(Common_Dim, h) == 8",
                          "uint8_t birch_pad0_[4]", "_(ENUM, Inv_Item, kind, 1, u8, Inv_Kind, Inv_Kind_Food)",
                          "_(REQUIRED, STRING, Inv_Item, name, 0)", "BIRCH_FB_TABLE(Inv_Item, \"INVT\"",
                          "BIRCH_FB_FORMAT(Inv_Item_format, Inv_Item, 0)", "#ifndef INV_BIRCH_H_"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(out, want[i]) != NULL, "the header lacks \"%s\":\n%s", want[i], out);
    free(out);
    /* -o - writes the same to standard output. */
    char *again = NULL;
    ck_assert_int_eq(bt_sh(&again, NULL, "cd '%s' && '%s' fbs inv.fbs -I . -o - | cmp - inv_birch.h", dir,
                           bt_tool_path()),
                     0);
    free(again);
}
END_TEST

/* --depfile: a make rule naming every schema file flatc read, however the
 * schema reaches it (a relative path into a subdirectory, an -I
 * directory, an include of an include), with make's special characters
 * escaped; refused with -o -. */
START_TEST(depfile_lists_what_flatc_read)
{
    ck_assert_int_eq(bt_sh(NULL, NULL, "mkdir -p '%s/sub' '%s/inc dir'", dir, dir), 0);
    put_file("inc dir/leaf.fbs", "namespace L;\ntable Leaf { v: int; }\n");
    put_file("sub/mid.fbs", "include \"leaf.fbs\";\nnamespace M;\ntable Mid { l: L.Leaf; }\n");
    put_file("top.fbs", "include \"sub/mid.fbs\";\ntable Top { m: M.Mid; }\nroot_type Top;\n");
    char *err = NULL;
    ck_assert_msg(fbs(&err, "top.fbs -I 'inc dir' -o top_birch.h --depfile top.d") == 0, "%s", err);
    free(err);
    char *d = NULL;
    ck_assert_int_eq(bt_sh(&d, NULL, "cat '%s/top.d'", dir), 0);
    const char *want[] = {"top_birch.h: top.fbs", "./sub/mid.fbs", "./inc\\ dir/leaf.fbs"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(d, want[i]) != NULL, "the depfile lacks \"%s\":\n%s", want[i], d);
    free(d);
    /* make reads it: the header is out of date once leaf.fbs is newer. */
    ck_assert_int_eq(bt_sh(NULL, NULL, "cd '%s' && printf 'include top.d\\ntop_birch.h:\\n\\ttouch $@\\n' >m.mk && "
                                       "make -q -f m.mk top_birch.h", dir), 0);
    ck_assert_int_eq(bt_sh(NULL, NULL, "cd '%s' && touch -d '+1 minute' 'inc dir/leaf.fbs' && "
                                       "make -q -f m.mk top_birch.h", dir), 1);
    ck_assert_int_eq(fbs(&err, "top.fbs -o - --depfile top.d"), 2);
    free(err);
    /* A rule or header written over the schema, or the rule over the
     * header, is a usage error that writes nothing. */
    ck_assert_int_eq(fbs(&err, "top.fbs -o top_birch.h --depfile ./top.fbs"), 2);
    free(err);
    ck_assert_int_eq(fbs(&err, "top.fbs -o top_birch.h --depfile top_birch.h"), 2);
    free(err);
    ck_assert_int_eq(fbs(&err, "top.fbs -o ./top.fbs"), 2);
    free(err);
    ck_assert_int_eq(bt_sh(NULL, NULL, "cd '%s' && grep -q 'root_type Top' top.fbs && grep -q BIRCH_FB_TABLE top_birch.h",
                           dir),
                     0);
    /* A rule that cannot be written leaves the header as it was. */
    ck_assert_int_eq(bt_sh(NULL, NULL, "cd '%s' && echo old >old.h", dir), 0);
    ck_assert_int_eq(fbs(&err, "top.fbs -I 'inc dir' -o old.h --depfile no/such/dir/top.d"), 1);
    free(err);
    ck_assert_int_eq(bt_sh(NULL, NULL, "cd '%s' && test \"$(cat old.h)\" = old", dir), 0);
}
END_TEST

/* Two schemas that include a third: their headers compile together (each
 * block is guarded by its type's macro) in a program that uses the shared
 * types and both roots. */
START_TEST(headers_sharing_an_include)
{
    put_file("common.fbs", "namespace C;\nenum Unit : byte { G, Kg }\nstruct Qty { n: int; unit: Unit; }\n"
                           "table Tag { name: string (key); }\nroot_type Tag;\nfile_identifier \"CTAG\";\n");
    put_file("a.fbs", "include \"common.fbs\";\nnamespace A;\ntable Box { q: C.Qty; tags: [C.Tag]; }\n"
                      "root_type Box;\nfile_identifier \"ABOX\";\n");
    put_file("b.fbs", "include \"common.fbs\";\nnamespace B;\ntable Bag { q: C.Qty; tag: C.Tag; }\n"
                      "root_type Bag;\n");
    put_file("both.c", "#include \"a_birch.h\"\n#include \"b_birch.h\"\n"
                       "int main(void)\n{\n"
                       "    C_Qty q = {0};\n    q.unit = C_Unit_Kg;\n"
                       "    birch_fb_builder *b = birch_fb_builder_new();\n"
                       "    A_Box_start(b);\n    A_Box_add_q(b, &q);\n    birch_val v;\n"
                       "    int rc = A_Box_finish(b, A_Box_end(b), 0, &v);\n"
                       "    const A_Box_table *box = rc ? NULL : A_Box_root(v.data, v.size, 0);\n"
                       "    int ok = box && A_Box_verify(v.data, v.size, NULL, NULL, 0) == 0 &&\n"
                       "             A_Box_q(box)->unit == C_Unit_Kg && B_Bag_q(NULL) == NULL;\n"
                       "    birch_fb_builder_free(b);\n    return ok ? 0 : 1;\n}\n");
    char *err = NULL;
    ck_assert_msg(fbs(&err, "a.fbs -o a_birch.h") == 0, "%s", err);
    free(err);
    ck_assert_msg(fbs(&err, "b.fbs -o b_birch.h") == 0, "%s", err);
    free(err);
    ck_assert_msg(fbs(&err, "common.fbs -o common_birch.h") == 0, "%s", err);
    free(err);
    /* The included schema's root has its identifier in every header that
     * declares it, so which header a program includes first is no matter. */
    char *out = NULL;
    ck_assert_int_eq(bt_sh(&out, NULL, "cd '%s' && grep -h 'BIRCH_FB_TABLE(C_Tag' a_birch.h b_birch.h common_birch.h",
                           dir),
                     0);
    ck_assert_msg(strcmp(out, "BIRCH_FB_TABLE(C_Tag, \"CTAG\", C_Tag_FIELDS);\n"
                              "BIRCH_FB_TABLE(C_Tag, \"CTAG\", C_Tag_FIELDS);\n"
                              "BIRCH_FB_TABLE(C_Tag, \"CTAG\", C_Tag_FIELDS);\n") == 0,
                  "the three headers declare C.Tag differently:\n%s", out);
    free(out);
    char api[4096];
    snprintf(api, sizeof api, "%s", __FILE__);
    *strrchr(api, '/') = 0;
    /* Compiled, not linked: this build's library may carry sanitizers a
     * plain link would lack (test_fbs_gen runs what the headers declare). */
    int rc = bt_sh(NULL, &err, "cd '%s' && cc -std=c11 -pedantic -Wall -Wextra -Werror -I '%s/../api' -I . -c both.c",
                   dir, api);
    ck_assert_msg(rc == 0, "the two headers did not compile together (exit %d): %s", rc, err);
    free(err);
}
END_TEST

/* What the header says for the cases a reader could get wrong: a long
 * enum is a 64-bit integer type even when its values are small (a newer
 * schema's values must not be cut to an int); a force_align'd struct keeps
 * its members' alignment in C (birch stores values aligned to 8) and the
 * buffer's in its fields' kinds; names a macro could replace get a '_'. */
START_TEST(header_details)
{
    put_file("d.fbs", "namespace D;\nenum Big : long { A = 1, B = 2 }\nenum Small : short { X = -3, Y }\n"
                      "struct Q (force_align: 16) { x: float; y: float; }\n"
                      "struct P { q: Q; n: byte; }\n"
                      "table T { big: Big = B; small: Small = Y; q: Q; qs: [Q]; p: P; INT8_MAX: int; __x: int; }\n"
                      "root_type T;\n");
    char *err = NULL;
    ck_assert_msg(fbs(&err, "d.fbs -o d_birch.h") == 0, "%s", err);
    free(err);
    char *out = NULL;
    ck_assert_int_eq(bt_sh(&out, NULL, "cat '%s/d_birch.h'", dir), 0);
    const char *want[] = {"typedef int64_t D_Big;", "#define D_Big_B ((D_Big)2)", "typedef enum D_Small {",
                          "_(ENUM, D_T, big, 0, i64, D_Big, D_Big_B)", "_Static_assert(_Alignof(D_Q) == 4",
                          "_Static_assert(sizeof(D_Q) == 16", "_(STRUCT_ALIGNED, D_T, q, 2, D_Q, 16)",
                          "_(VECTOR_STRUCT_ALIGNED, D_T, qs, 3, D_Q, 16)", "_(STRUCT_ALIGNED, D_T, p, 4, D_P, 16)",
                          "_(SCALAR, D_T, INT8_MAX_, 5, i32, 0)", "_(SCALAR, D_T, __x_, 6, i32, 0)"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(out, want[i]) != NULL, "the header lacks \"%s\":\n%s", want[i], out);
    free(out);
    put_file("d.c", "#include <stdint.h>\n#include \"d_birch.h\"\nint main(void) { return 0; }\n");
    char api[4096];
    snprintf(api, sizeof api, "%s", __FILE__);
    *strrchr(api, '/') = 0;
    int rc = bt_sh(NULL, &err, "cd '%s' && cc -std=c11 -pedantic -Wall -Wextra -Werror -I '%s/../api' -c d.c", dir, api);
    ck_assert_msg(rc == 0, "the header does not compile (exit %d): %s", rc, err);
    free(err);
}
END_TEST

START_TEST(flatc_missing)
{
    put_file("s.fbs", "table T { a: int; }\nroot_type T;\n");
    char *err = NULL;
    ck_assert_int_eq(fbs(&err, "s.fbs -o out.h --flatc /nonexistent/flatc"), 1);
    ck_assert_msg(strstr(err, "not found") && strstr(err, "flatbuffers-compiler"), "%s", err);
    free(err);
    ck_assert_int_eq(bt_sh(NULL, &err, "cd '%s' && BIRCH_FLATC=no-such-flatc '%s' fbs s.fbs -o out.h", dir,
                           bt_tool_path()),
                     1);
    ck_assert_msg(strstr(err, "no-such-flatc not found"), "%s", err);
    free(err);
    ck_assert(!exists("out.h"));
}
END_TEST

START_TEST(flatc_errors_pass_through)
{
    /* flatc's message names the file and the line. */
    refused("table T {\n  a: int;\n  b: Missing;\n}\n", "s.fbs:");
    refused("table T {\n  a: int\n}\n", "s.fbs:3"); /* where flatc finds the ';' missing */
    refused("table T {\n  a: int\n}\n", "flatc refused s.fbs");
}
END_TEST

START_TEST(features_birch_cannot_express)
{
    refused("struct P { x: int; }\ntable T { a: int; }\nunion U { T, P }\ntable R { u: U; }\nroot_type R;\n",
            "union U: member P is a struct");
}
END_TEST

START_TEST(names_that_collide)
{
    /* Item_start: the builder's, and field start's reader. */
    refused("table Item { start: int; }\n", "Item_start would be defined twice");
    /* Item_name_len: string name's length, and field name_len's reader. */
    refused("table Item { name: string; name_len: int; }\n", "Item_name_len would be defined twice");
    /* Field present of table Foo_bar, and field bar of table Foo. */
    refused("table Foo { bar: int; }\ntable Foo_bar { present: int; }\n", "Foo_bar_present would be defined twice");
    /* A type whose C name C or birch reserves. */
    refused("table birch_val { a: int; }\n", "reserved");
    refused("table birch { fb_verify: int; }\n", "reserved");
}
END_TEST

/* A schema of table T with n fields: n - 1 deprecated ones, then `last`. */
static char *many_fields(unsigned n)
{
    size_t cap = 64 + (size_t)n * 40, o = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    o += (size_t)snprintf(s + o, cap - o, "table T {\n");
    for (unsigned i = 0; i + 1 < n; i++) o += (size_t)snprintf(s + o, cap - o, "  f%u: bool (deprecated);\n", i);
    snprintf(s + o, cap - o, "  last: int;\n}\nroot_type T;\n");
    return s;
}

START_TEST(layouts_birch_cannot_give)
{
    /* flatc allows force_align up to 32; birch's builder aligns to 16. */
    refused("struct Q (force_align: 32) { x: float; }\ntable T { q: Q; }\n", "struct Q: force_align 32");
    /* flatc 2.0.8 writes this default as 0, which the enum has no value for. */
    refused("enum U : ulong { Small = 1, Huge = 18446744073709551615 }\ntable T { u: U = Huge; }\n",
            "T.u: the binary schema gives the default 0, which enum U has no value for");
    /* A vtable has a 2-byte slot per id up to the largest, in 64 KiB
     * (flatc wants ids from 0 without a gap: the others deprecated). */
    char *many = many_fields(32766);
    refused(many, "T.last: field id 32765 is above 32764");
    free(many);
    /* A table's size is 16 bits: its fields, up to 3 bytes of padding
     * and its 4-byte soffset (65,536 here: one too many). */
    refused("struct S { a: [ubyte:65528]; b: long; }\ntable T { s: S; }\n",
            "T: its fields take up to 65543 bytes inside the table");
    refused("struct S { a: [ubyte:65529]; }\ntable T { s: S; }\n", "T: its fields take up to 65536 bytes inside");
    char *err = NULL;
    many = many_fields(32765);
    put_file("s.fbs", many);
    free(many);
    ck_assert_msg(fbs(&err, "s.fbs -o out.h") == 0, "a table with field ids up to 32764 is refused: %s", err);
    free(err);
    put_file("s.fbs", "struct S { a: [ubyte:65512]; b: long; }\ntable T { s: S; x: int; y: int; }\n"
                      "root_type T;\n");
    ck_assert_msg(fbs(&err, "s.fbs -o out.h") == 0, "the largest table birch builds is refused: %s", err);
    free(err);
    /* 65,535 bytes at most: 65,520 + 2 * 4 + 7. */
    put_file("s.fbs", "struct S { a: [ubyte:65512]; b: long; }\ntable T { s: S; x: int; y: int; z: ubyte; }\n");
    ck_assert_int_eq(fbs(&err, "s.fbs -o out.h"), 1);
    free(err);
}
END_TEST

START_TEST(usage_errors)
{
    put_file("s.fbs", "table T { a: int; }\n");
    char *err = NULL;
    ck_assert_int_eq(fbs(&err, "s.fbs"), 2);
    ck_assert_msg(strstr(err, "-o OUT.h"), "%s", err);
    free(err);
    ck_assert_int_eq(fbs(&err, "-o out.h"), 2);
    free(err);
    ck_assert_int_eq(fbs(&err, "s.fbs s.fbs -o out.h"), 2);
    free(err);
    ck_assert_int_eq(fbs(&err, "s.fbs -o out.h --bogus"), 2);
    free(err);
    ck_assert_int_eq(fbs(&err, "s.fbs -o"), 2);
    free(err);
    ck_assert(!exists("out.h"));
    ck_assert_int_eq(fbs(&err, "--help"), 0);
    free(err);
}
END_TEST

START_TEST(unwritable_output)
{
    put_file("s.fbs", "table T { a: int; }\nroot_type T;\n");
    char *err = NULL;
    ck_assert_int_eq(fbs(&err, "s.fbs -o no/such/dir/out.h"), 1);
    ck_assert_msg(strstr(err, "no/such/dir/out.h"), "%s", err);
    free(err);
    /* A failed run leaves an existing header as it was. */
    put_file("out.h", "old\n");
    put_file("s.fbs", "table T { a: int }\n");
    ck_assert_int_eq(fbs(&err, "s.fbs -o out.h"), 1);
    free(err);
    char *out = NULL;
    ck_assert_int_eq(bt_sh(&out, NULL, "cat '%s/out.h'", dir), 0);
    ck_assert_str_eq(out, "old\n");
    free(out);
}
END_TEST

/* tests/fbs/bad/ (its README says what each file is): every schema there
 * that flatc refuses, or that birch cannot express, fails with the error
 * that names it, and writes nothing. */
static const struct {
    const char *file, *want;
} BAD[] = {
    {"syntax_error.fbs", "syntax_error.fbs:10: 1: error: expecting: ;"},
    {"unknown_type.fbs", "type referenced but not defined (check namespace): Money"},
    {"union_struct.fbs", "union bad.Shape: member Point is a struct"},
    {"union_string.fbs", "member Raw is not a table"},
    {"c_keywords.fbs", "would be defined twice"},
    {"c_keywords_root.fbs", "is reserved in C or by birch"},
    {"collide_suffix.fbs", "would be defined twice"},
    {"collide_builder.fbs", "would be defined twice"},
    {"collide_types.fbs", "would be defined twice"},
    {"collide_namespaces.fbs", "would be defined twice"},
    {"reserved_names.fbs", "is reserved in C or by birch"},
    {"nested_struct.fbs", "bad.Holder.point: nested_flatbuffer \"Point\" names no table"},
    {"ident_nul.fbs", "the file_identifier is not 4 bytes without a NUL"},
    {"huge_struct.fbs", "bad.Holder: its fields take up to"},
};

START_TEST(bad_schemas_refused)
{
    char src[4096];
    snprintf(src, sizeof src, "%s", __FILE__);
    char *slash = strrchr(src, '/');
    ck_assert_ptr_nonnull(slash);
    *slash = 0;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        char *err = NULL;
        int rc = bt_sh(NULL, &err, "cd '%s' && '%s' fbs '%s/fbs/bad/%s' -o out.h", dir, bt_tool_path(), src,
                       BAD[i].file);
        ck_assert_msg(rc == 1, "%s: exit %d; stderr: %s", BAD[i].file, rc, err);
        ck_assert_msg(strstr(err, BAD[i].want) != NULL, "%s: stderr lacks \"%s\": %s", BAD[i].file, BAD[i].want,
                      err);
        ck_assert_msg(!exists("out.h"), "%s: a header was written", BAD[i].file);
        free(err);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fbs_tool");
    TCase *tc = bt_tcase("fbs_tool");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, writes_a_header);
    tcase_add_test(tc, headers_sharing_an_include);
    tcase_add_test(tc, depfile_lists_what_flatc_read);
    tcase_add_test(tc, header_details);
    tcase_add_test(tc, flatc_missing);
    tcase_add_test(tc, flatc_errors_pass_through);
    tcase_add_test(tc, features_birch_cannot_express);
    tcase_add_test(tc, names_that_collide);
    tcase_add_test(tc, layouts_birch_cannot_give);
    tcase_add_test(tc, usage_errors);
    tcase_add_test(tc, unwritable_output);
    tcase_add_test(tc, bad_schemas_refused);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
