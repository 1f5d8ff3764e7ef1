/*
 * test_tool.c - the birch command (tools/birch.c), run as a program.
 *
 * dump and load are tested in both directions against Debian's lmdb-utils
 * (mdb_load, mdb_dump): an LMDB environment migrated into birch and back
 * must hold the same records.  Missing lmdb-utils fail the test (install
 * them: ./build.sh deps).  The other commands are checked for their
 * output and exit codes, and for staying silent on stderr when it is not
 * a terminal.  The program is found next to this test's build directory:
 * <build>/tools/birch.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

static char tool[PATH_MAX + 16];

static void find_tool(void)
{
    char exe[PATH_MAX - 16];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ck_assert_int_gt(n, 0);
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    *slash = 0;                   /* <build>/tests */
    slash = strrchr(exe, '/');
    *slash = 0;                   /* <build> */
    snprintf(tool, sizeof tool, "%s/tools/birch", exe);
    ck_assert_msg(access(tool, X_OK) == 0, "the birch program is not at %s (build the birch_tool target)", tool);
}

/* Runs a shell command (formatted); returns its exit status.  Its standard
 * output goes to *out (malloc'd, NUL-terminated) unless out is NULL, its
 * standard error to *err likewise. */
static int sh(char **out, char **err, const char *fmt, ...)
{
    char cmd[8192], *o = bt_path("out"), *e = bt_path("err"), full[9000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "(%s) >%s 2>%s </dev/null", cmd, o, e);
    int st = system(full);
    ck_assert_msg(st != -1 && WIFEXITED(st), "could not run: %s", cmd);
    char **dst[2] = {out, err};
    const char *src[2] = {o, e};
    for (int i = 0; i < 2; i++) {
        if (!dst[i]) continue;
        FILE *f = fopen(src[i], "r");
        ck_assert_ptr_nonnull(f);
        size_t cap = 1 << 16, n = 0;
        char *b = malloc(cap);
        size_t r;
        while ((r = fread(b + n, 1, cap - n - 1, f)) > 0) {
            n += r;
            if (n + 1 == cap) b = realloc(b, cap *= 2);
        }
        b[n] = 0;
        fclose(f);
        *dst[i] = b;
    }
    remove(o);
    remove(e);
    free(o);
    free(e);
    return WEXITSTATUS(st);
}

static void need_lmdb_utils(void)
{
    int rc = sh(NULL, NULL, "command -v mdb_dump && command -v mdb_load");
    ck_assert_msg(rc == 0, "mdb_dump / mdb_load are missing: install Debian's lmdb-utils (./build.sh deps); "
                           "the dump/load tests need them");
}

/* ---- Data ----------------------------------------------------------------------- */

/* Record i of table t: binary keys and values, some values larger than a
 * page. */
static size_t rec_key(int t, int i, uint8_t *k)
{
    k[0] = (uint8_t)t;
    k[1] = 0;
    k[2] = (uint8_t)(i >> 8);
    k[3] = (uint8_t)i;
    k[4] = '\n';
    for (int j = 0; j < i % 4; j++) k[5 + j] = (uint8_t)(0xfe + j);
    return 5 + (size_t)(i % 4);
}

static size_t rec_val(int t, int i, uint8_t *v)
{
    size_t n = i % 50 == 0 ? 9000 : (size_t)(i * 7 % 90);
    bt_pattern(v, n, (uint64_t)(t * 100000 + i));
    return n;
}

enum { NT = 3, NR = 400 };

static void fill_birch(const char *path)
{
    birch_db *db = bt_open(path, NULL);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    uint8_t k[16], *v = malloc(9000);
    for (int t = 0; t < NT; t++) {
        char name[16];
        snprintf(name, sizeof name, "table-%d", t);
        birch_table *tb = bt_table(w, name, BIRCH_CREATE);
        for (int i = 0; i < NR; i++) {
            size_t kn = rec_key(t, i, k);
            bt_put(w, tb, k, kn, v, rec_val(t, i, v));
        }
    }
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db));
    free(v);
}

/* The file holds exactly what fill_birch writes (tables may have other
 * names: prefix + index). */
static void expect_birch(const char *path, const char *prefix)
{
    birch_db *db = bt_open(path, NULL);
    bt_check(db);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    uint8_t k[16], *v = malloc(9000);
    for (int t = 0; t < NT; t++) {
        char name[32];
        snprintf(name, sizeof name, "%s%d", prefix, t);
        birch_table *tb = bt_table(r, name, 0);
        ck_assert_uint_eq(bt_count(r, tb), NR);
        for (int i = 0; i < NR; i++) {
            size_t kn = rec_key(t, i, k);
            bt_expect(r, tb, k, kn, v, rec_val(t, i, v));
        }
    }
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    free(v);
}

static void put_hex(FILE *f, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) fprintf(f, "%02x", p[i]);
}

/* A dump in mdb_dump's format with the same records, for mdb_load. */
static void write_dump(const char *path, const char *prefix)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    uint8_t k[16], *v = malloc(9000);
    for (int t = 0; t < NT; t++) {
        fprintf(f, "VERSION=3\nformat=bytevalue\ndatabase=%s%d\ntype=btree\nmapsize=104857600\nHEADER=END\n", prefix,
                t);
        /* in memcmp order (LMDB's default order too) */
        for (int i = 0; i < NR; i++) {
            size_t kn = rec_key(t, i, k), vn = rec_val(t, i, v);
            fputc(' ', f);
            put_hex(f, k, kn);
            fputs("\n ", f);
            put_hex(f, v, vn);
            fputc('\n', f);
        }
        fputs("DATA=END\n", f);
    }
    ck_assert_int_eq(fclose(f), 0);
    free(v);
}

/* ---- dump / load against lmdb-utils -------------------------------------------------- */

START_TEST(test_lmdb_to_birch)
{
    need_lmdb_utils();
    char *dump = bt_path("dump"), *env = bt_path("env"), *db = bt_path("db"), *err, *out;
    write_dump(dump, "lm-");
    ck_assert_int_eq(sh(NULL, &err, "mkdir %s && mdb_load -f %s %s", env, dump, env), 0);
    free(err);
    ck_assert_int_eq(sh(NULL, &err, "mdb_dump -a %s | %s load %s", env, tool, db), 0);
    ck_assert_msg(!*err, "load said: %s", err); /* not a terminal: silent */
    free(err);
    expect_birch(db, "lm-");
    /* The main database (no database= line) goes to table "main"; -t names it. */
    char *db2 = bt_path("db2");
    ck_assert_int_eq(sh(NULL, NULL, "mdb_dump -s lm-1 %s | sed /^database=/d | %s load %s", env, tool, db2), 0);
    /* format=print (mdb_dump -p): printable bytes as they are, others \\xx. */
    char *env2 = bt_path("env2");
    ck_assert_int_eq(sh(NULL, NULL,
                        "mkdir %s && printf 'VERSION=3\\nformat=bytevalue\\ntype=btree\\nHEADER=END\\n"
                        " 6b31\\n 0a7620ff\\nDATA=END\\n' | mdb_load %s && mdb_dump -p %s | %s load -t printed %s",
                        env2, env2, env2, tool, db2),
                     0);
    ck_assert_int_eq(sh(&out, NULL, "%s scan %s printed", tool, db2), 0);
    ck_assert_str_eq(out, "6b31\t0a7620ff\n");
    free(out);
    free(env2);
    ck_assert_int_eq(sh(&out, NULL, "%s tables %s", tool, db2), 0);
    ck_assert_str_eq(out, "main\nprinted\n");
    free(out);
    free(dump);
    free(env);
    free(db);
    free(db2);
}
END_TEST

START_TEST(test_birch_to_lmdb)
{
    need_lmdb_utils();
    char *src = bt_path("src"), *env = bt_path("env"), *back = bt_path("back"), *mine = bt_path("mine"),
         *theirs = bt_path("theirs");
    fill_birch(src);
    ck_assert_int_eq(sh(NULL, NULL, "mkdir %s && %s dump %s | mdb_load %s", env, tool, src, env), 0);
    /* LMDB now holds the records: its own dump has the same data lines. */
    ck_assert_int_eq(sh(NULL, NULL, "%s dump %s | grep '^ ' >%s", tool, src, mine), 0);
    ck_assert_int_eq(sh(NULL, NULL, "mdb_dump -a %s | grep '^ ' >%s", env, theirs), 0);
    ck_assert_int_eq(sh(NULL, NULL, "cmp %s %s", mine, theirs), 0);
    char *out;
    ck_assert_int_eq(sh(&out, NULL, "mdb_dump -a %s | grep -c '^database='", env), 0);
    ck_assert_str_eq(out, "3\n");
    free(out);
    /* And back into birch. */
    ck_assert_int_eq(sh(NULL, NULL, "mdb_dump -a %s | %s load %s", env, tool, back), 0);
    expect_birch(back, "table-");
    free(src);
    free(env);
    free(back);
    free(mine);
    free(theirs);
}
END_TEST

START_TEST(test_dump_load_birch)
{
    char *src = bt_path("src"), *dst = bt_path("dst"), *out, *err;
    fill_birch(src);
    birch_db *db = bt_open(src, NULL);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_table_set_schema(w, bt_table(w, "table-1", 0), bt_str("my schema\n")));
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db));
    ck_assert_int_eq(sh(NULL, &err, "%s dump %s | %s load %s", tool, src, tool, dst), 0);
    free(err);
    expect_birch(dst, "table-");
    db = bt_open(dst, NULL);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_val s;
    BT_OK(birch_table_schema(r, bt_table(r, "table-1", 0), &s));
    ck_assert(s.size == 10 && memcmp(s.data, "my schema\n", 10) == 0);
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    /* One table only. */
    ck_assert_int_eq(sh(&out, NULL, "%s dump %s -t table-2 | grep -c '^ '", tool, src), 0);
    ck_assert_str_eq(out, "800\n");
    free(out);
    ck_assert_int_eq(sh(NULL, NULL, "%s dump %s -t nosuch", tool, src), 4);
    /* Bad input: clear errors, exit 4. */
    ck_assert_int_eq(sh(NULL, &err, "printf 'hello\\n' | %s load %s", tool, dst), 4);
    ck_assert_msg(strstr(err, "line 1"), "%s", err);
    free(err);
    ck_assert_int_eq(sh(NULL, &err, "printf 'VERSION=3\\nformat=bytevalue\\nduplicates=1\\nHEADER=END\\n' | %s load %s",
                        tool, dst), 4);
    ck_assert_msg(strstr(err, "duplicate"), "%s", err);
    free(err);
    ck_assert_int_eq(sh(NULL, &err, "printf 'VERSION=3\\nHEADER=END\\n 6x\\n 00\\nDATA=END\\n' | %s load %s", tool, dst), 4);
    ck_assert_msg(strstr(err, "bad hex"), "%s", err);
    free(err);
    ck_assert_int_eq(sh(NULL, NULL, "printf 'VERSION=3\\nHEADER=END\\n 61\\n' | %s load %s", tool, dst), 4);
    free(src);
    free(dst);
}
END_TEST

/* ---- The other commands ------------------------------------------------------------ */

START_TEST(test_stat_check_copy_compact)
{
    char *src = bt_path("src"), *cp = bt_path("cp"), *out, *err;
    fill_birch(src);
    ck_assert_int_eq(sh(&out, NULL, "%s stat %s", tool, src), 0);
    ck_assert_msg(strstr(out, "page size     4096") && strstr(out, "table table-2") && strstr(out, "entries     400") &&
                      strstr(out, "depth       ") && strstr(out, "overflow)"),
                  "%s", out);
    free(out);
    ck_assert_int_eq(sh(&out, NULL, "%s tables %s", tool, src), 0);
    ck_assert_str_eq(out, "table-0\ntable-1\ntable-2\n");
    free(out);
    ck_assert_int_eq(sh(&out, NULL, "%s check %s", tool, src), 0);
    ck_assert_msg(strstr(out, "ok: "), "%s", out);
    free(out);
    /* Not a terminal: no progress output, nothing on stderr. */
    ck_assert_int_eq(sh(NULL, &err, "%s copy --compact %s %s", tool, src, cp), 0);
    ck_assert_str_eq(err, "");
    free(err);
    expect_birch(cp, "table-");
    ck_assert_int_eq(sh(NULL, &err, "%s copy %s %s", tool, src, cp), 4); /* exists */
    ck_assert_msg(strstr(err, "exists"), "%s", err);
    free(err);
    ck_assert_int_eq(sh(NULL, &err, "%s compact %s", tool, src), 0);
    ck_assert_str_eq(err, "");
    free(err);
    expect_birch(src, "table-");
    /* Damage: check exits 1 and names the problem. */
    uint8_t junk[64];
    memset(junk, 0x5a, sizeof junk);
    bt_file_write(cp, junk, sizeof junk, 3 * 4096 + 100);
    ck_assert_int_eq(sh(NULL, &err, "%s check %s", tool, cp), 1);
    ck_assert_msg(strstr(err, "damaged"), "%s", err);
    free(err);
    free(src);
    free(cp);
}
END_TEST

START_TEST(test_exit_codes)
{
    char *f = bt_path("f"), *txt = bt_path("txt"), *out, *err;
    fill_birch(f);
    FILE *t = fopen(txt, "w");
    fputs("not a database, only text, long enough to look like a file\n", t);
    fclose(t);
    ck_assert_int_eq(sh(&out, NULL, "%s --help", tool), 0);
    ck_assert_msg(strstr(out, "Exit codes") && strstr(out, "birch dump FILE"), "%s", out);
    free(out);
    const char *cmds[] = {"stat", "tables", "check", "copy", "compact", "dump", "load", "get", "put", "del", "scan"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        ck_assert_int_eq(sh(&out, NULL, "%s %s --help", tool, cmds[i]), 0);
        ck_assert_msg(strstr(out, "usage: birch ") && strstr(out, "Exit codes"), "%s --help: %s", cmds[i], out);
        free(out);
        ck_assert_int_eq(sh(NULL, NULL, "%s %s", tool, cmds[i]), 2); /* no arguments */
    }
    ck_assert_int_eq(sh(NULL, NULL, "%s", tool), 2);
    ck_assert_int_eq(sh(NULL, NULL, "%s frobnicate", tool), 2);
    ck_assert_int_eq(sh(NULL, NULL, "%s stat %s extra", tool, f), 2);
    ck_assert_int_eq(sh(NULL, NULL, "%s scan %s table-0 --bogus", tool, f), 2);
    ck_assert_int_eq(sh(NULL, &err, "%s stat %s.missing", tool, f), 3);
    ck_assert_msg(strstr(err, "no such file"), "%s", err);
    free(err);
    ck_assert_int_eq(sh(NULL, &err, "%s stat %s", tool, txt), 3);
    ck_assert_msg(strstr(err, "not a birch database"), "%s", err);
    free(err);
    ck_assert_int_eq(sh(NULL, NULL, "%s check %s", tool, txt), 1);
    ck_assert_int_eq(sh(NULL, NULL, "%s compact %s.missing", tool, f), 3);
    ck_assert_int_eq(sh(NULL, NULL, "%s get %s nosuch k", tool, f), 1);
    /* A file locked by another handle. */
    birch_db *db = bt_open(f, NULL);
    ck_assert_int_eq(sh(NULL, &err, "%s stat %s", tool, f), 3);
    ck_assert_msg(strstr(err, "busy"), "%s", err);
    free(err);
    ck_assert_int_eq(sh(NULL, NULL, "%s compact %s", tool, f), 3);
    BT_OK(birch_close(db));
    free(f);
    free(txt);
}
END_TEST

START_TEST(test_get_put_del_scan)
{
    char *f = bt_path("f"), *out;
    /* A typed table: u64 keys, string values (the schema text of birch_typed). */
    birch_db *db = bt_open(f, NULL);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "users", BIRCH_CREATE);
    BT_OK(birch_table_set_schema(w, t, bt_str("birch-typed 1\nkey u64\nvalue string\n")));
    for (uint64_t i = 1; i <= 12; i++) {
        uint8_t k[8];
        size_t kn;
        char v[32];
        BT_OK(birch_key_encode(&birch_key_u64, &i, k, sizeof k, &kn));
        snprintf(v, sizeof v, "user %" PRIu64, i);
        bt_put(w, t, k, kn, v, strlen(v));
    }
    bt_put_s(w, bt_table(w, "raw", BIRCH_CREATE), "k\x01", "v");
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db));

    ck_assert_int_eq(sh(&out, NULL, "%s get %s users 7", tool, f), 0);
    ck_assert_str_eq(out, "user 7\n");
    free(out);
    ck_assert_int_eq(sh(NULL, NULL, "%s get %s users 99", tool, f), 1);
    ck_assert_int_eq(sh(NULL, NULL, "%s get %s users -3", tool, f), 2); /* not a u64 */
    ck_assert_int_eq(sh(&out, NULL, "%s scan %s users --from 10", tool, f), 0);
    ck_assert_str_eq(out, "10\tuser 10\n11\tuser 11\n12\tuser 12\n");
    free(out);
    ck_assert_int_eq(sh(&out, NULL, "%s scan %s users -n 2", tool, f), 0);
    ck_assert_str_eq(out, "1\tuser 1\n2\tuser 2\n");
    free(out);
    ck_assert_int_eq(sh(NULL, NULL, "%s put %s users 100 'a new user'", tool, f), 0);
    ck_assert_int_eq(sh(&out, NULL, "%s get %s users 100", tool, f), 0);
    ck_assert_str_eq(out, "a new user\n");
    free(out);
    ck_assert_int_eq(sh(NULL, NULL, "%s del %s users 100", tool, f), 0);
    ck_assert_int_eq(sh(NULL, NULL, "%s del %s users 100", tool, f), 1);
    /* No schema: keys and values shown as hex; --hex takes hex. */
    ck_assert_int_eq(sh(&out, NULL, "%s scan %s raw", tool, f), 0);
    ck_assert_str_eq(out, "6b01\t76\n");
    free(out);
    ck_assert_int_eq(sh(&out, NULL, "%s get %s raw 6b01 --hex", tool, f), 0);
    ck_assert_str_eq(out, "76\n");
    free(out);
    ck_assert_int_eq(sh(NULL, NULL, "%s put %s raw 6b0 00 --hex", tool, f), 2); /* odd hex */
    ck_assert_int_eq(sh(&out, NULL, "%s scan %s raw --prefix k", tool, f), 0);
    ck_assert_str_eq(out, "6b01\t76\n");
    free(out);
    free(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tool");
    TCase *tc = bt_tcase("tool");
    tcase_add_checked_fixture(tc, find_tool, NULL);
    tcase_add_test(tc, test_lmdb_to_birch);
    tcase_add_test(tc, test_birch_to_lmdb);
    tcase_add_test(tc, test_dump_load_birch);
    tcase_add_test(tc, test_stat_check_copy_compact);
    tcase_add_test(tc, test_exit_codes);
    tcase_add_test(tc, test_get_put_del_scan);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
