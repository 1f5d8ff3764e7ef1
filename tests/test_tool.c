/*
 * test_tool.c - the birch command (tools/), run as a program.
 *
 * dump and load are tested in both directions against Debian's lmdb-utils
 * (mdb_load, mdb_dump): an LMDB environment migrated into birch and back
 * must hold the same records, and an LMDB dump that goes through birch
 * must come back the same, for the unnamed database and named ones.
 * Missing lmdb-utils fail the test (install them: ./build.sh deps).
 * The other commands are checked for their output and for the exit codes
 * of one table (0 success, 1 failure, 2 usage); writes to a full disk, a
 * closed pipe or a closed stdout must fail; numbers are decimal and
 * range-checked; put and load create a file only with --create.  What
 * the commands show on a terminal is checked through a pseudo-terminal
 * (script(1), util-linux); when stderr is not a terminal they say
 * nothing there.  The program is found next to this test's build
 * directory: <build>/tools/birch.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

static char tool[PATH_MAX + 16];

static void find_tool(void) { snprintf(tool, sizeof tool, "%s", bt_tool_path()); }

static void need_lmdb_utils(void)
{
    int rc = bt_sh(NULL, NULL, "command -v mdb_dump && command -v mdb_load");
    ck_assert_msg(rc == 0, "mdb_dump / mdb_load are missing: install Debian's lmdb-utils (./build.sh deps); "
                           "the dump/load tests need them");
}

static void need_script(void)
{
    ck_assert_msg(bt_sh(NULL, NULL, "command -v script") == 0,
                  "script (util-linux) is missing: the terminal tests need it");
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Runs cmd (a shell command, formatted) on a pseudo-terminal: its stdout
 * and stderr are the terminal, and both come back in the result
 * (malloc'd).  Returns cmd's exit status. */
static int on_terminal(char **out, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    ck_assert_msg(!strchr(cmd, '\''), "no quotes in a terminal command: %s", cmd);
    return bt_sh(out, NULL, "script -qec '%s' /dev/null", cmd);
}

/* Two mdb_dump outputs are the same but for the mapsize= line: that is
 * the size of LMDB's map, a setting of the environment, not its data
 * (birch dump asks for a map twice the size of its file; the first
 * environment had LMDB's default). */
static void same_dump(const char *a, const char *b)
{
    char *na, *nb;
    ck_assert_int_eq(bt_sh(&na, NULL, "grep -c '^mapsize=' %s", a), 0);
    ck_assert_int_eq(bt_sh(&nb, NULL, "grep -c '^mapsize=' %s", b), 0);
    ck_assert_str_eq(na, nb); /* one per section in both */
    free(na);
    free(nb);
    char *out;
    int rc = bt_sh(&out, NULL, "sed /^mapsize=/d %s >%s.n && sed /^mapsize=/d %s >%s.n && diff %s.n %s.n", a, a, b, b, a, b);
    ck_assert_msg(rc == 0, "the dumps differ:\n%s", out);
    free(out);
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
    ck_assert_int_eq(bt_sh(NULL, &err, "mkdir %s && mdb_load -f %s %s", env, dump, env), 0);
    free(err);
    ck_assert_int_eq(bt_sh(NULL, &err, "mdb_dump -a %s | %s load --create %s", env, tool, db), 0);
    ck_assert_msg(!*err, "load said: %s", err); /* not a terminal: silent */
    free(err);
    expect_birch(db, "lm-");
    /* The main database (no database= line) goes to table "main"; -t names it. */
    char *db2 = bt_path("db2");
    ck_assert_int_eq(bt_sh(NULL, NULL, "mdb_dump -s lm-1 %s | sed /^database=/d | %s load --create %s", env, tool, db2),
                     0);
    /* format=print (mdb_dump -p): printable bytes as they are, others \\xx. */
    char *env2 = bt_path("env2");
    ck_assert_int_eq(bt_sh(NULL, NULL,
                        "mkdir %s && printf 'VERSION=3\\nformat=bytevalue\\ntype=btree\\nHEADER=END\\n"
                        " 6b31\\n 0a7620ff\\nDATA=END\\n' | mdb_load %s && mdb_dump -p %s | %s load -t printed %s",
                        env2, env2, env2, tool, db2),
                     0);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s scan %s printed", tool, db2), 0);
    ck_assert_str_eq(out, "\"k1\"\t0a7620ff\n");
    free(out);
    free(env2);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s tables %s", tool, db2), 0);
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
    ck_assert_int_eq(bt_sh(NULL, NULL, "mkdir %s && %s dump %s | mdb_load %s", env, tool, src, env), 0);
    /* LMDB now holds the records: its own dump has the same data lines. */
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s dump %s | grep '^ ' >%s", tool, src, mine), 0);
    ck_assert_int_eq(bt_sh(NULL, NULL, "mdb_dump -a %s | grep '^ ' >%s", env, theirs), 0);
    ck_assert_int_eq(bt_sh(NULL, NULL, "cmp %s %s", mine, theirs), 0);
    char *out;
    ck_assert_int_eq(bt_sh(&out, NULL, "mdb_dump -a %s | grep -c '^database='", env), 0);
    ck_assert_str_eq(out, "3\n");
    free(out);
    /* And back into birch. */
    ck_assert_int_eq(bt_sh(NULL, NULL, "mdb_dump -a %s | %s load --create %s", env, tool, back), 0);
    expect_birch(back, "table-");
    free(src);
    free(env);
    free(back);
    free(mine);
    free(theirs);
}
END_TEST

/* LMDB's unnamed database through birch and back: mdb_dump, birch load
 * (into table "main"), birch dump (no database= line for "main"),
 * mdb_load into a new environment, mdb_dump: the same dump.  Before,
 * birch dump wrote database=main and mdb_load made a named database. */
START_TEST(test_lmdb_round_trip_unnamed)
{
    need_lmdb_utils();
    char *src = bt_path("src"), *a = bt_path("a"), *d1 = bt_path("d1"), *db = bt_path("db"), *mine = bt_path("mine"),
         *b = bt_path("b"), *d3 = bt_path("d3"), *out;
    /* Binary keys (a NUL, a newline), an empty value, a value over a page. */
    FILE *f = fopen(src, "w");
    ck_assert_ptr_nonnull(f);
    fputs("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 00\n 00\n 0a\n \n 6b0a00ff\n 76\n 7a\n ", f);
    for (int i = 0; i < 6000; i++) fprintf(f, "%02x", (i * 7) & 0xff);
    fputs("\nDATA=END\n", f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(bt_sh(NULL, NULL, "mkdir %s && mdb_load -f %s %s && mdb_dump %s >%s", a, src, a, a, d1), 0);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s load --create %s <%s && %s dump %s >%s", tool, db, d1, tool, db, mine), 0);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s tables %s", tool, db), 0);
    ck_assert_str_eq(out, "main\n");
    free(out);
    ck_assert_int_eq(bt_sh(NULL, NULL, "grep -q ^database= %s", mine), 1); /* none */
    ck_assert_int_eq(bt_sh(NULL, NULL, "mkdir %s && mdb_load -f %s %s && mdb_dump %s >%s", b, mine, b, b, d3), 0);
    same_dump(d1, d3);
    free(src);
    free(a);
    free(d1);
    free(db);
    free(mine);
    free(b);
    free(d3);
}
END_TEST

/* Named databases through birch and back (a backslash in a name too), and
 * a birch file with table "main" beside others. */
START_TEST(test_lmdb_round_trip_named)
{
    need_lmdb_utils();
    char *src = bt_path("src"), *a = bt_path("a"), *d1 = bt_path("d1"), *db = bt_path("db"), *mine = bt_path("mine"),
         *b = bt_path("b"), *d3 = bt_path("d3"), *out;
    FILE *f = fopen(src, "w");
    ck_assert_ptr_nonnull(f);
    const char *names[] = {"sub-one", "back\\slash\\0a", "sub two"};
    for (int t = 0; t < 3; t++) {
        fprintf(f, "VERSION=3\nformat=bytevalue\ndatabase=%s\ntype=btree\nHEADER=END\n", names[t]);
        for (int i = 0; i < 50; i++) fprintf(f, " %02x%02x0a\n %02x\n", t, i, i);
        fputs("DATA=END\n", f);
    }
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(bt_sh(NULL, NULL, "mkdir %s && mdb_load -f %s %s && mdb_dump -a %s >%s", a, src, a, a, d1), 0);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s load --create %s <%s && %s dump %s >%s", tool, db, d1, tool, db, mine), 0);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s tables %s", tool, db), 0);
    ck_assert_str_eq(out, "back\\\\slash\\\\0a\nsub two\nsub-one\n");
    free(out);
    ck_assert_int_eq(bt_sh(NULL, NULL, "mkdir %s && mdb_load -f %s %s && mdb_dump -a %s >%s", b, mine, b, b, d3), 0);
    same_dump(d1, d3);

    /* "main" and named tables: "main" comes first, without database=
     * (mdb_load keeps the last database= for the sections after it). */
    char *mixed = bt_path("mixed"), *env = bt_path("env");
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s put --create %s alpha a 1 && %s put %s main mk mv && %s put %s zeta z 26", tool,
                        mixed, tool, mixed, tool, mixed),
                     0);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s dump %s | grep -e ^VERSION -e ^database=", tool, mixed), 0);
    ck_assert_str_eq(out, "VERSION=3\nVERSION=3\ndatabase=alpha\nVERSION=3\ndatabase=zeta\n");
    free(out);
    ck_assert_int_eq(bt_sh(NULL, NULL, "mkdir %s && %s dump %s | mdb_load %s", env, tool, mixed, env), 0);
    ck_assert_int_eq(bt_sh(&out, NULL, "mdb_dump %s | grep -A1 '^ 6d6b$'", env), 0); /* the unnamed db */
    ck_assert_str_eq(out, " 6d6b\n 6d76\n");
    free(out);
    ck_assert_int_eq(bt_sh(&out, NULL, "mdb_dump -s alpha %s | grep '^ '", env), 0);
    ck_assert_str_eq(out, " 61\n 31\n");
    free(out);
    free(src);
    free(a);
    free(d1);
    free(db);
    free(mine);
    free(b);
    free(d3);
    free(mixed);
    free(env);
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
    ck_assert_int_eq(bt_sh(NULL, &err, "%s dump %s | %s load --create %s", tool, src, tool, dst), 0);
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
    ck_assert_int_eq(bt_sh(&out, NULL, "%s dump %s -t table-2 | grep -c '^ '", tool, src), 0);
    ck_assert_str_eq(out, "800\n");
    free(out);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s dump %s -t nosuch", tool, src), 1);
    /* Bad input: clear errors, exit 1. */
    ck_assert_int_eq(bt_sh(NULL, &err, "printf 'hello\\n' | %s load %s", tool, dst), 1);
    ck_assert_msg(strstr(err, "line 1"), "%s", err);
    free(err);
    /* duplicates=1 (LMDB's MDB_DUPSORT) loads into a multimap table, and
     * dumps back the same way. */
    ck_assert_int_eq(bt_sh(NULL, NULL, "printf 'VERSION=3\\nformat=bytevalue\\nduplicates=1\\ndatabase=dups\\nHEADER=END\\n"
                        " 6b\\n 32\\n 6b\\n 31\\n 6a\\n 30\\nDATA=END\\n' | %s load %s", tool, dst), 0);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s dump %s -t dups | grep -v mapsize", tool, dst), 0);
    ck_assert_str_eq(out, "VERSION=3\nformat=bytevalue\nduplicates=1\ndatabase=dups\ntype=btree\nHEADER=END\n"
                          " 6a\n 30\n 6b\n 31\n 6b\n 32\nDATA=END\n");
    free(out);
    /* A table's sequence travels as birch_sequence=N; a load never lowers
     * one (ids given since the dump are not given again). */
    db = bt_open(dst, NULL);
    birch_txn *ws = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *st = bt_table(ws, "seq", BIRCH_CREATE);
    BT_OK(birch_sequence_set(ws, st, 12345));
    BT_OK(birch_put(ws, st, bt_str("k"), bt_str("v"), 0));
    BT_OK(birch_txn_commit(ws));
    BT_OK(birch_close(db));
    ck_assert_int_eq(bt_sh(&out, NULL, "%s dump %s -t seq | grep birch_sequence", tool, dst), 0);
    ck_assert_str_eq(out, "birch_sequence=12345\n");
    free(out);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s dump %s -t seq | sed 's/^database=seq/database=seq2/' | %s load %s", tool,
                        dst, tool, dst), 0);
    ck_assert_int_eq(bt_sh(NULL, NULL, "printf 'VERSION=3\\ndatabase=seq\\nbirch_sequence=5\\nHEADER=END\\nDATA=END\\n' | "
                        "%s load %s", tool, dst), 0);
    db = bt_open(dst, NULL);
    birch_txn *rs = bt_begin(db, BIRCH_TXN_READ);
    uint64_t seq;
    BT_OK(birch_sequence_get(rs, bt_table(rs, "seq2", 0), &seq));
    ck_assert_uint_eq(seq, 12345);
    BT_OK(birch_sequence_get(rs, bt_table(rs, "seq", 0), &seq));
    ck_assert_uint_eq(seq, 12345); /* not lowered to 5 */
    birch_txn_abort(rs);
    BT_OK(birch_close(db));
    const char *bad_seq[] = {"-1", " -1", "+5", " 12", "", "12x", "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad_seq / sizeof *bad_seq; i++) {
        ck_assert_int_eq(bt_sh(NULL, &err, "printf 'VERSION=3\\nbirch_sequence=%s\\nHEADER=END\\nDATA=END\\n' | %s load %s",
                            bad_seq[i], tool, dst), 1);
        ck_assert_msg(strstr(err, "bad birch_sequence"), "birch_sequence=%s: %s", bad_seq[i], err);
        free(err);
    }
    ck_assert_int_eq(bt_sh(NULL, &err, "printf 'VERSION=3\\nHEADER=END\\n 6x\\n 00\\nDATA=END\\n' | %s load %s", tool, dst), 1);
    ck_assert_msg(strstr(err, "bad hex"), "%s", err);
    free(err);
    ck_assert_int_eq(bt_sh(NULL, NULL, "printf 'VERSION=3\\nHEADER=END\\n 61\\n' | %s load %s", tool, dst), 1);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s load %s </dev/null", tool, dst), 1); /* no dump at all */
    free(src);
    free(dst);
}
END_TEST

/* Table names with control bytes: escaped on the database= line (mdb_load
 * still reads the header), exact in birch_database=HEX, which birch load
 * reverses; a NUL is refused.  Before, a newline in a name stopped the
 * dump, and other control bytes went into the header raw. */
START_TEST(test_names_escaped)
{
    need_lmdb_utils();
    char *src = bt_path("src"), *dst = bt_path("dst"), *env = bt_path("env"), *out, *err;
    const char *names[] = {"back\\slash\\0a", "caf\xc3\xa9", "line\nbreak", "tab\there\x01\x7f"};
    enum { N = sizeof names / sizeof names[0] };
    birch_db *db = bt_open(src, NULL);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    for (int i = 0; i < N; i++) bt_put_s(w, bt_table(w, names[i], BIRCH_CREATE), "k", names[i]);
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db));

    ck_assert_int_eq(bt_sh(&out, NULL, "%s dump %s | grep -e ^database= -e ^birch_database=", tool, src), 0);
    ck_assert_str_eq(out, "database=back\\slash\\0a\n"
                          "database=caf\xc3\xa9\n"
                          "database=line\\0abreak\n"
                          "birch_database=6c696e650a627265616b\n"
                          "database=tab\\09here\\01\\7f\n"
                          "birch_database=7461620968657265017f\n");
    free(out);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s tables %s", tool, src), 0);
    ck_assert_str_eq(out, "back\\\\slash\\\\0a\ncaf\\xc3\\xa9\nline\\x0abreak\ntab\\x09here\\x01\\x7f\n");
    free(out);
    /* birch load gets the names back exactly. */
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s dump %s | %s load --create %s", tool, src, tool, dst), 0);
    db = bt_open(dst, NULL);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    for (int i = 0; i < N; i++) bt_expect_s(r, bt_table(r, names[i], 0), "k", names[i]);
    ck_assert_uint_eq(bt_stat(db).table_count, N);
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    /* mdb_load reads the header (and takes the escaped name as it is). */
    ck_assert_int_eq(bt_sh(NULL, NULL, "mkdir %s && %s dump %s | mdb_load %s", env, tool, src, env), 0);
    ck_assert_int_eq(bt_sh(&out, NULL, "mdb_dump -s 'line\\0abreak' %s | grep '^ '", env), 0);
    ck_assert_str_eq(out, " 6b\n 6c696e650a627265616b\n");
    free(out);
    /* A NUL in a name: refused, raw or in hex; nothing is loaded. */
    ck_assert_int_eq(bt_sh(NULL, &err, "printf 'VERSION=3\\ndatabase=a\\000b\\nHEADER=END\\n 61\\n 62\\nDATA=END\\n' | %s load %s",
                        tool, dst), 1);
    ck_assert_msg(strstr(err, "NUL"), "%s", err);
    free(err);
    ck_assert_int_eq(bt_sh(NULL, &err, "printf 'VERSION=3\\nbirch_database=610062\\nHEADER=END\\n 61\\n 62\\nDATA=END\\n' | "
                                    "%s load %s", tool, dst), 1);
    ck_assert_msg(strstr(err, "NUL"), "%s", err);
    free(err);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s tables %s | wc -l", tool, dst), 0);
    ck_assert_str_eq(out, "4\n");
    free(out);
    free(src);
    free(dst);
    free(env);
}
END_TEST

/* ---- The other commands ------------------------------------------------------------ */

/* What birch stat prints for table name of path: its figures from
 * birch_table_stat, which must hold what fill_birch wrote (key and value
 * bytes summed here from rec_key and rec_val). */
static void stat_block(const char *path, int t, char *out, size_t cap)
{
    birch_db *db = bt_open(path, NULL);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    char name[16];
    snprintf(name, sizeof name, "table-%d", t);
    struct birch_table_stat st;
    BT_OK(birch_table_stat(r, bt_table(r, name, 0), &st));
    uint8_t k[16], *v = malloc(9000);
    uint64_t keys = 0, vals = 0;
    for (int i = 0; i < NR; i++) {
        keys += rec_key(t, i, k);
        vals += rec_val(t, i, v);
    }
    free(v);
    ck_assert_uint_eq(st.records, NR);
    ck_assert_uint_eq(st.key_bytes, keys);
    ck_assert_uint_eq(st.value_bytes, vals);
    ck_assert_uint_gt(st.overflow_pages, 0);
    uint64_t pages = st.branch_pages + st.leaf_pages;
    snprintf(out, cap,
             "table %s\n"
             "  entries     %" PRIu64 "\n"
             "  depth       %" PRIu32 "\n"
             "  pages       %" PRIu64 " (%" PRIu64 " branch, %" PRIu64 " leaf, %" PRIu64 " overflow)\n"
             "  key bytes   %" PRIu64 "\n"
             "  value bytes %" PRIu64 "\n"
             "  fill        %.1f%% (%" PRIu64 " of %" PRIu64 " bytes of branch and leaf pages in use)\n"
             "  schema      (none)\n",
             name, st.records, st.depth, pages + st.overflow_pages, st.branch_pages, st.leaf_pages,
             st.overflow_pages, keys, vals, st.fill * 100.0, st.used_bytes, pages * 4096);
    birch_txn_abort(r);
    BT_OK(birch_close(db));
}

START_TEST(test_stat_check_copy_compact)
{
    char *src = bt_path("src"), *cp = bt_path("cp"), *out, *err;
    fill_birch(src);
    ck_assert_int_eq(bt_sh(&out, &err, "%s stat %s", tool, src), 0);
    ck_assert_msg(strstr(out, "page size     4096") && strstr(out, "table table-2") && strstr(out, "entries     400") &&
                      strstr(out, "depth       ") && strstr(out, "overflow)"),
                  "%s", out);
    ck_assert_str_eq(err, ""); /* not a terminal: no progress */
    /* Each table's block, whole: entries, depth, pages by kind, key and
     * value bytes, fill, schema. */
    for (int t = 0; t < NT; t++) {
        char want[1024];
        stat_block(src, t, want, sizeof want);
        ck_assert_msg(strstr(out, want), "expected\n%s\nin\n%s", want, out);
    }
    free(out);
    free(err);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s tables %s", tool, src), 0);
    ck_assert_str_eq(out, "table-0\ntable-1\ntable-2\n");
    free(out);
    ck_assert_int_eq(bt_sh(&out, &err, "%s check %s", tool, src), 0);
    ck_assert_msg(strstr(out, "ok: "), "%s", out);
    ck_assert_str_eq(err, "");
    free(out);
    free(err);
    ck_assert_int_eq(bt_sh(NULL, &err, "%s dump %s", tool, src), 0);
    ck_assert_str_eq(err, "");
    free(err);
    /* Not a terminal: no progress output, nothing on stderr. */
    ck_assert_int_eq(bt_sh(NULL, &err, "%s copy --compact %s %s", tool, src, cp), 0);
    ck_assert_str_eq(err, "");
    free(err);
    expect_birch(cp, "table-");
    ck_assert_int_eq(bt_sh(NULL, &err, "%s copy %s %s", tool, src, cp), 1); /* exists */
    ck_assert_msg(strstr(err, "exists"), "%s", err);
    free(err);
    ck_assert_int_eq(bt_sh(NULL, &err, "%s compact %s", tool, src), 0);
    ck_assert_str_eq(err, "");
    free(err);
    expect_birch(src, "table-");
    /* Damage: check exits 1 and names the problem. */
    uint8_t junk[64];
    memset(junk, 0x5a, sizeof junk);
    bt_file_write(cp, junk, sizeof junk, 3 * 4096 + 100);
    ck_assert_int_eq(bt_sh(NULL, &err, "%s check %s", tool, cp), 1);
    ck_assert_msg(strstr(err, "damaged"), "%s", err);
    free(err);
    free(src);
    free(cp);
}
END_TEST

/* ---- readers, and stat's oldest snapshot ---------------------------------------------- */

/* One slot line of birch readers, taken apart. */
typedef struct slot_line {
    unsigned slot;
    long long pid;
    char snap[32], age[32], state[16];
} slot_line;

#define READERS_HEADER "slot  pid        snapshot   age_ms     state\n"

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* Runs birch readers on path and returns its slot lines (up to max) and
 * their count.  Checks the form of the whole output: the header line, then
 * lines of exactly the header's columns (rebuilt from their fields, they
 * read the same), a snapshot that is a number with an age in digits, or
 * "idle" with "-", and "alive" or "stale". */
static int list_readers(const char *path, slot_line *l, int max)
{
    char *out, *err;
    ck_assert_int_eq(bt_sh(&out, &err, "%s readers %s", tool, path), 0);
    ck_assert_str_eq(err, "");
    free(err);
    ck_assert_msg(strncmp(out, READERS_HEADER, strlen(READERS_HEADER)) == 0, "no header: %s", out);
    int n = 0;
    for (char *p = out + strlen(READERS_HEADER); *p;) {
        char *nl = strchr(p, '\n'), again[256];
        ck_assert_msg(nl != NULL, "an unfinished line: %s", p);
        *nl = 0;
        ck_assert_msg(n < max, "more than %d slots: %s", max, p);
        slot_line *s = &l[n++];
        ck_assert_msg(sscanf(p, "%u %lld %31s %31s %15s", &s->slot, &s->pid, s->snap, s->age, s->state) == 5,
                      "a bad line: %s", p);
        snprintf(again, sizeof again, "%-5u %-10lld %-10s %-10s %s", s->slot, s->pid, s->snap, s->age, s->state);
        ck_assert_str_eq(p, again);
        ck_assert_msg(strcmp(s->snap, "idle") == 0 ? strcmp(s->age, "-") == 0
                                                   : all_digits(s->snap) && all_digits(s->age),
                      "a bad snapshot or age: %s", p);
        ck_assert_msg(strcmp(s->state, "alive") == 0 || strcmp(s->state, "stale") == 0, "a bad state: %s", p);
        p = nl + 1;
    }
    free(out);
    return n;
}

/* The slot line of process pid: exactly one. */
static const slot_line *slot_of(const slot_line *l, int n, long long pid)
{
    const slot_line *found = NULL;
    for (int i = 0; i < n; i++) {
        if (l[i].pid != pid) continue;
        ck_assert_msg(!found, "pid %lld holds slots %u and %u", pid, found->slot, l[i].slot);
        found = &l[i];
    }
    ck_assert_msg(found != NULL, "no slot of pid %lld", pid);
    return found;
}

/* birch readers shows this process's slot while a read transaction pins a
 * snapshot: the pid, that snapshot, its age and "alive"; then idle once the
 * transaction ends (the handle keeps its slot).  The command's own handle
 * holds no slot. */
START_TEST(test_readers_alive)
{
    char *f = bt_path("f");
    slot_line l[8];
    birch_db *db = bt_open(f, NULL);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", BIRCH_CREATE), "k", "v");
    BT_OK(birch_txn_commit(w));
    ck_assert_int_eq(list_readers(f, l, 8), 0); /* no read yet: no slot */
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    uint64_t id = birch_txn_id(r);
    ck_assert_uint_gt(id, 0);
    usleep(150 * 1000);
    ck_assert_int_eq(list_readers(f, l, 8), 1);
    char want[32];
    snprintf(want, sizeof want, "%" PRIu64, id);
    ck_assert_int_eq(l[0].pid, getpid());
    ck_assert_str_eq(l[0].snap, want);
    ck_assert_str_eq(l[0].state, "alive");
    uint64_t age = strtoull(l[0].age, NULL, 10);
    ck_assert_msg(age >= 100 && age < 60000, "pinned 150 ms ago, age %" PRIu64, age); /* a coarse clock */
    unsigned slot = l[0].slot;
    birch_txn_abort(r);
    ck_assert_int_eq(list_readers(f, l, 8), 1);
    ck_assert_uint_eq(l[0].slot, slot);
    ck_assert_int_eq(l[0].pid, getpid());
    ck_assert_str_eq(l[0].snap, "idle");
    ck_assert_str_eq(l[0].age, "-");
    ck_assert_str_eq(l[0].state, "alive");
    /* Nothing is stale: --clear-stale frees nothing and keeps this slot. */
    char *out;
    ck_assert_int_eq(bt_sh(&out, NULL, "%s readers --clear-stale %s", tool, f), 0);
    ck_assert_str_eq(out, "freed 0 stale reader slots\n");
    free(out);
    ck_assert_int_eq(list_readers(f, l, 8), 1);
    ck_assert_int_eq(l[0].pid, getpid());
    BT_OK(birch_close(db));
    ck_assert_int_eq(list_readers(f, l, 8), 0); /* closed: the slot is freed */
    free(f);
}
END_TEST

/* A process killed while its read transaction pins a snapshot leaves a
 * stale slot: listed with its pid as "stale" beside the live readers,
 * freed by --clear-stale (which reports 1 and leaves the live slot), and
 * gone from the next listing. */
START_TEST(test_readers_stale)
{
    char *f = bt_path("f"), *out;
    slot_line l[8];
    birch_db *db = bt_open(f, NULL);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", BIRCH_CREATE), "k", "v");
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db)); /* the child inherits no handle */
    int ready[2], release[2];
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(release), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Its own handle and a read transaction; then it waits (until the
         * kill, or the parent's end of release closing if the test fails
         * first).  id 0 tells the parent that something failed. */
        close(ready[0]);
        close(release[1]);
        birch_db *cdb;
        birch_txn *ct;
        uint64_t cid = 0;
        if (birch_open(f, NULL, &cdb) == BIRCH_OK && birch_txn_begin(cdb, BIRCH_TXN_READ, &ct) == BIRCH_OK)
            cid = birch_txn_id(ct);
        if (write(ready[1], &cid, sizeof cid) != sizeof cid) _exit(2);
        char c;
        while (read(release[0], &c, 1) > 0) {
        }
        _exit(1);
    }
    close(ready[1]);
    close(release[0]);
    uint64_t cid = 0;
    ck_assert_int_eq(read(ready[0], &cid, sizeof cid), sizeof cid);
    close(ready[0]);
    ck_assert_msg(cid != 0, "the child could not open the database or begin its read transaction");
    /* Alive first. */
    ck_assert_int_eq(list_readers(f, l, 8), 1);
    char want[32];
    snprintf(want, sizeof want, "%" PRIu64, cid);
    ck_assert_int_eq(l[0].pid, pid);
    ck_assert_str_eq(l[0].snap, want);
    ck_assert_str_eq(l[0].state, "alive");
    /* A live reader of this process beside it, taken while the child's
     * slot is alive (a reader needing a slot later would take the stale
     * one over). */
    db = bt_open(f, NULL);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    char mine[32];
    snprintf(mine, sizeof mine, "%" PRIu64, birch_txn_id(r));
    /* Killed: no birch_close, its slot stays behind. */
    int st;
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    close(release[1]);
    int n = list_readers(f, l, 8);
    ck_assert_int_eq(n, 2);
    const slot_line *dead = slot_of(l, n, pid), *live = slot_of(l, n, getpid());
    ck_assert_str_eq(dead->snap, want);
    ck_assert_str_eq(dead->state, "stale");
    ck_assert_str_eq(live->snap, mine);
    ck_assert_str_eq(live->state, "alive");
    ck_assert_uint_ne(dead->slot, live->slot);
    unsigned live_slot = live->slot;
    ck_assert_int_eq(bt_sh(&out, NULL, "%s readers --clear-stale %s", tool, f), 0);
    ck_assert_str_eq(out, "freed 1 stale reader slot\n");
    free(out);
    ck_assert_int_eq(list_readers(f, l, 8), 1);
    ck_assert_int_eq(l[0].pid, getpid());
    ck_assert_uint_eq(l[0].slot, live_slot);
    ck_assert_str_eq(l[0].snap, mine);
    ck_assert_str_eq(l[0].state, "alive");
    ck_assert_int_eq(bt_sh(&out, NULL, "%s readers --clear-stale %s", tool, f), 0);
    ck_assert_str_eq(out, "freed 0 stale reader slots\n");
    free(out);
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    free(f);
}
END_TEST

/* birch stat shows the oldest snapshot a reader holds (older than the last
 * commit while a read transaction pins it) and the readers open; once the
 * reader ends, the oldest is the last commit and there are no readers. */
START_TEST(test_stat_oldest)
{
    char *f = bt_path("f"), *out, want[128];
    birch_db *db = bt_open(f, NULL);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", BIRCH_CREATE), "k", "v1");
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    uint64_t old = birch_txn_id(r);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", 0), "k", "v2");
    uint64_t last = birch_txn_id(w);
    BT_OK(birch_txn_commit(w));
    ck_assert_uint_gt(last, old);
    ck_assert_uint_eq(bt_stat(db).txnid, last);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s stat %s", tool, f), 0);
    snprintf(want, sizeof want, "\nlast txn      %" PRIu64 "\noldest txn    %" PRIu64 "\nreaders       1\n", last, old);
    ck_assert_msg(strstr(out, want), "expected\n%s\nin\n%s", want, out);
    free(out);
    birch_txn_abort(r);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s stat %s", tool, f), 0);
    snprintf(want, sizeof want, "\nlast txn      %" PRIu64 "\noldest txn    %" PRIu64 "\nreaders       0\n", last, last);
    ck_assert_msg(strstr(out, want), "expected\n%s\nin\n%s", want, out);
    free(out);
    BT_OK(birch_close(db));
    free(f);
}
END_TEST

/* One table of exit codes for every command: 0 success, 1 failure, 2
 * usage.  Before, a file that did not open gave 3 and other failures 4. */
START_TEST(test_exit_codes)
{
    char *f = bt_path("f"), *txt = bt_path("txt"), *missing = bt_path("missing"), *out, *err;
    fill_birch(f);
    FILE *t = fopen(txt, "w");
    fputs("not a database, only text, long enough to look like a file\n", t);
    fclose(t);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s --help", tool), 0);
    ck_assert_msg(strstr(out, "Exit codes") && strstr(out, "birch dump FILE") && strstr(out, "  2  usage"), "%s", out);
    free(out);
    /* Each command with the arguments it needs (%1$s: the file). */
    static const char *const cmds[][2] = {
        {"stat", "%s"},     {"tables", "%s"}, {"check", "%s"},           {"copy", "%s %s.copy"},
        {"compact", "%s"},  {"dump", "%s"},   {"load", "%s"},            {"get", "%s table-0 k"},
        {"put", "%s t k v"}, {"del", "%s t k"}, {"scan", "%s table-0"}, {"readers", "%s"},
        {"readers", "--clear-stale %s"},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        const char *name = cmds[i][0];
        char args[1024], cmd[sizeof tool + 1200];
        ck_assert_int_eq(bt_sh(&out, NULL, "%s %s --help", tool, name), 0);
        ck_assert_msg(strstr(out, "usage: birch ") && strstr(out, "Exit codes"), "%s --help: %s", name, out);
        free(out);
        ck_assert_int_eq(bt_sh(NULL, NULL, "%s %s", tool, name), 2); /* no arguments */
        snprintf(args, sizeof args, cmds[i][1], missing, missing);
        snprintf(cmd, sizeof cmd, "%s %s %s", tool, name, args);
        ck_assert_int_eq(bt_sh(NULL, &err, "%s --bogus", cmd), 2);
        ck_assert_msg(strstr(err, "unknown option --bogus") && strstr(err, "--help"), "%s: %s", name, err);
        free(err);
        ck_assert_int_eq(bt_sh(NULL, NULL, "%s extra", cmd), 2);
        ck_assert_int_eq(bt_sh(NULL, &err, "%s", cmd), 1); /* no such file */
        ck_assert_msg(strstr(err, "no such database"), "%s: %s", name, err);
        free(err);
        ck_assert_msg(!exists(missing), "%s created %s", name, missing);
        snprintf(args, sizeof args, cmds[i][1], txt, txt);
        ck_assert_int_eq(bt_sh(NULL, &err, "%s %s %s", tool, name, args), 1); /* not a database */
        ck_assert_msg(strstr(err, "not a birch database"), "%s: %s", name, err);
        free(err);
    }
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s", tool), 2);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s frobnicate", tool), 2);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s get %s nosuch k", tool, f), 1);    /* no table */
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s get %s table-0 k", tool, f), 1);   /* no key */
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s del %s table-0 k", tool, f), 1);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s get %s table-0 0 --hex", tool, f), 2); /* odd hex */
    /* A file another handle has open: the tools share it (a put commits
     * beside it), but compaction needs it alone. */
    birch_db *db = bt_open(f, NULL);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s stat %s", tool, f), 0);
    ck_assert_int_eq(bt_sh(NULL, &err, "%s compact %s", tool, f), 1);
    ck_assert_msg(strstr(err, "needs it alone"), "%s", err);
    free(err);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s put %s t k v", tool, f), 0);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "t", 0), "k", "v");
    BT_OK(birch_txn_commit(r));
    BT_OK(birch_close(db));
    free(f);
    free(txt);
    free(missing);
}
END_TEST

/* Numbers are decimal digits, range-checked: no sign, no 0x, no octal, no
 * spaces, no overflow.  Before, -n -1 meant "all" (strtoull), and keys
 * were read with base 0 (010 was 8). */
START_TEST(test_numbers)
{
    char *f = bt_path("f"), *nf = bt_path("nf"), *out, *err;
    birch_db *db = bt_open(f, NULL);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "users", BIRCH_CREATE), *ints = bt_table(w, "ints", BIRCH_CREATE);
    BT_OK(birch_table_set_schema(w, t, bt_str("birch-typed 1\nkey u64\nvalue string\n")));
    BT_OK(birch_table_set_schema(w, ints, bt_str("birch-typed 1\nkey i64\nvalue string\n")));
    for (uint64_t i = 1; i <= 12; i++) {
        uint8_t k[8];
        size_t kn;
        char v[32];
        BT_OK(birch_key_encode(&birch_key_u64, &i, k, sizeof k, &kn));
        snprintf(v, sizeof v, "user %" PRIu64, i);
        bt_put(w, t, k, kn, v, strlen(v));
    }
    int64_t keys[] = {-5, 3};
    for (int i = 0; i < 2; i++) {
        uint8_t k[8];
        size_t kn;
        BT_OK(birch_key_encode(&birch_key_i64, &keys[i], k, sizeof k, &kn));
        bt_put(w, ints, k, kn, i ? "three" : "minus five", i ? 5 : 10);
    }
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db));

    const char *bad[] = {"-1", "1x", "''", "+1", "' 1'", "0x2", "1e3", "99999999999999999999", "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(bt_sh(NULL, &err, "%s scan %s users -n %s", tool, f, bad[i]), 2);
        ck_assert_msg(strstr(err, "-n takes a count"), "-n %s: %s", bad[i], err);
        free(err);
    }
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s scan %s users -n", tool, f), 2); /* missing */
    ck_assert_int_eq(bt_sh(&out, NULL, "%s scan %s users -n 010 | wc -l", tool, f), 0);
    ck_assert_str_eq(out, "10\n");
    free(out);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s scan %s users -n 18446744073709551615 | wc -l", tool, f), 0);
    ck_assert_str_eq(out, "12\n");
    free(out);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s scan %s users -n 0", tool, f), 0);
    ck_assert_str_eq(out, "");
    free(out);
    /* Keys of number formats: decimal too. */
    ck_assert_int_eq(bt_sh(&out, NULL, "%s get %s users 010", tool, f), 0);
    ck_assert_str_eq(out, "user 10\n");
    free(out);
    const char *bad_keys[] = {"0x7", "' 7'", "+7", "-7", "7.0", "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++)
        ck_assert_msg(bt_sh(NULL, NULL, "%s get %s users %s", tool, f, bad_keys[i]) == 2, "key %s", bad_keys[i]);
    /* Signed keys: a negative number is a key, not an option; -- works too. */
    ck_assert_int_eq(bt_sh(&out, NULL, "%s get %s ints -5", tool, f), 0);
    ck_assert_str_eq(out, "minus five\n");
    free(out);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s get %s ints -- -5", tool, f), 0);
    ck_assert_str_eq(out, "minus five\n");
    free(out);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s get %s ints -9223372036854775809", tool, f), 2);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s scan %s ints", tool, f), 0);
    ck_assert_str_eq(out, "-5\tminus five\n3\tthree\n");
    free(out);
    /* --page-size: a power of two from 512 to 65536, with --create only. */
    const char *bad_sizes[] = {"1000", "256", "131072", "-4096", "4k", "0x1000"};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        ck_assert_int_eq(bt_sh(NULL, &err, "%s put --create --page-size %s %s t k v", tool, bad_sizes[i], nf), 2);
        ck_assert_msg(strstr(err, "--page-size takes"), "--page-size %s: %s", bad_sizes[i], err);
        free(err);
    }
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s put --page-size 8192 %s t k v", tool, nf), 2);
    ck_assert(!exists(nf));
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s put --create --page-size 8192 %s t k v", tool, nf), 0);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s stat %s", tool, nf), 0);
    ck_assert_msg(strstr(out, "page size     8192\n"), "%s", out);
    free(out);
    free(f);
    free(nf);
}
END_TEST

/* put and load create a missing file only with --create; the other
 * commands never do.  Before, put and load created it silently. */
START_TEST(test_create)
{
    char *f = bt_path("f"), *g = bt_path("g"), *dump = bt_path("dump"), *err;
    FILE *d = fopen(dump, "w");
    fputs("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 6b\n 76\nDATA=END\n", d);
    fclose(d);
    ck_assert_int_eq(bt_sh(NULL, &err, "%s put %s t k v", tool, f), 1);
    ck_assert_msg(strstr(err, "no such database; use --create to create it"), "%s", err);
    free(err);
    ck_assert_int_eq(bt_sh(NULL, &err, "%s load %s <%s", tool, f, dump), 1);
    ck_assert_msg(strstr(err, "no such database; use --create to create it"), "%s", err);
    free(err);
    ck_assert_int_eq(bt_sh(NULL, &err, "%s del %s t k", tool, f), 1);
    ck_assert_msg(strstr(err, "no such database"), "%s", err);
    free(err);
    ck_assert(!exists(f));
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s put --create %s t k v", tool, f), 0);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s put %s t k2 v2", tool, f), 0); /* exists now */
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s load --create %s <%s", tool, g, dump), 0);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s load %s <%s", tool, g, dump), 0);
    birch_db *db = bt_open(f, NULL);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "t", 0), "k", "v");
    bt_expect_s(r, bt_table(r, "t", 0), "k2", "v2");
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    db = bt_open(g, NULL);
    r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "main", 0), "k", "v");
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    free(f);
    free(g);
    free(dump);
}
END_TEST

/* A write to standard output that fails is an error (exit 1 and a
 * message): a full disk, a closed pipe (whether SIGPIPE is ignored or
 * not), a closed stdout.  Before, only dump flushed and checked, and
 * SIGPIPE killed it. */
START_TEST(test_write_errors)
{
    char *f = bt_path("f"), *err;
    fill_birch(f); /* its dump is about a megabyte: more than a pipe holds */
    const char *cmds[] = {"stat %s",  "tables %s",  "check %s",        "dump %s",         "dump %s -t table-1",
                          "scan %s table-2", "get %s table-0 000000000a --hex", "--help", "--version", "scan --help",
                          "readers %s", "readers --clear-stale %s"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, cmds[i], f);
        ck_assert_int_eq(bt_sh(NULL, NULL, "%s %s", tool, cmd), 0);
        ck_assert_msg(bt_sh(NULL, &err, "%s %s >/dev/full", tool, cmd) == 1, "%s >/dev/full", cmd);
        ck_assert_msg(strstr(err, "writing to standard output: No space left on device"), "%s: %s", cmd, err);
        free(err);
    }
    /* A closed pipe, with SIGPIPE at its default and ignored. */
    signal(SIGPIPE, SIG_DFL);
    const char *pipes[] = {"dump %s", "scan %s table-0"};
    for (size_t i = 0; i < 2; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, pipes[i], f);
        ck_assert_int_eq(bt_sh(NULL, &err, "(%s %s; echo rc=$? >&2) | head -c1 >/dev/null", tool, cmd), 0);
        ck_assert_msg(strstr(err, "writing to standard output: Broken pipe") && strstr(err, "rc=1"), "%s: %s", cmd, err);
        free(err);
        ck_assert_int_eq(bt_sh(NULL, &err, "(trap '' PIPE; %s %s; echo rc=$? >&2) | head -c1 >/dev/null", tool, cmd), 0);
        ck_assert_msg(strstr(err, "writing to standard output: Broken pipe") && strstr(err, "rc=1"), "%s: %s", cmd, err);
        free(err);
    }
    /* A closed stdout: the output fails, and never lands in the database
     * file (which would otherwise be opened as descriptor 1). */
    ck_assert_int_eq(bt_sh(NULL, &err, "%s tables %s >&-", tool, f), 1);
    ck_assert_msg(strstr(err, "writing to standard output"), "%s", err);
    free(err);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s dump %s >&-", tool, f), 1);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s put %s extra k v >&-", tool, f), 0); /* prints nothing */
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s check %s", tool, f), 0);
    expect_birch(f, "table-");
    free(f);
}
END_TEST

/* A load or put that fails removes the file it created with --create
 * (through a symbolic link: the file behind it, not the link), and only
 * that: a file that was there before stays, byte for byte.  Before, the
 * failed command left an empty database behind. */
START_TEST(test_failed_create_removes)
{
    char *f = bt_path("f"), *old = bt_path("old"), *copy = bt_path("copy"), *link = bt_path("link"),
         *target = bt_path("target"), *err;
    const char *bad[] = {"VERSION=3\\ndatabase=a\\000b\\nHEADER=END\\n 61\\n 62\\nDATA=END\\n",
                         "VERSION=3\\nbirch_database=610062\\nHEADER=END\\n 61\\n 62\\nDATA=END\\n"};
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s put --create %s t k v && cp %s %s", tool, old, old, copy), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(bt_sh(NULL, &err, "printf '%s' | %s load --create %s", bad[i], tool, f), 1);
        ck_assert_msg(strstr(err, "NUL"), "%s", err);
        free(err);
        ck_assert_msg(!exists(f), "the failed load left %s", f);
        ck_assert_int_eq(bt_sh(NULL, NULL, "printf '%s' | %s load --create %s", bad[i], tool, old), 1);
        ck_assert_int_eq(bt_sh(NULL, NULL, "printf '%s' | %s load %s", bad[i], tool, old), 1);
        ck_assert_int_eq(bt_sh(NULL, NULL, "cmp %s %s", old, copy), 0);
    }
    /* A failure after a committed batch: the new file goes all the same. */
    ck_assert_int_eq(bt_sh(NULL, NULL, "(printf 'VERSION=3\\nHEADER=END\\n'; i=0; while [ $i -lt 10001 ]; do "
                                    "printf ' %%08x\\n 76\\n' $i; i=$((i+1)); done; printf ' 6x\\n') | "
                                    "%s load --create %s", tool, f), 1);
    ck_assert(!exists(f));
    /* A dangling symbolic link: the file created behind it goes, the link stays. */
    ck_assert_int_eq(symlink(target, link), 0);
    ck_assert_int_eq(bt_sh(NULL, NULL, "printf '%s' | %s load --create %s", bad[0], tool, link), 1);
    ck_assert(!exists(target));
    struct stat st;
    ck_assert_int_eq(lstat(link, &st), 0);
    /* put --create with a bad key: the same. */
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s put --create --hex %s t 6 76", tool, f), 2);
    ck_assert(!exists(f));
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s put --create --hex %s t 6 76", tool, old), 2);
    ck_assert_int_eq(bt_sh(NULL, NULL, "cmp %s %s", old, copy), 0);
    free(f);
    free(old);
    free(copy);
    free(link);
    free(target);
}
END_TEST

/* On a terminal: progress bars (stat, check, dump, copy, compact, load)
 * and what copy and compact wrote.  Before, stat, check and dump showed
 * nothing and copy no summary. */
START_TEST(test_terminal)
{
    need_script();
    char *src = bt_path("src"), *cp = bt_path("cp"), *d1 = bt_path("d1"), *d2 = bt_path("d2"), *nf = bt_path("nf"),
         *out;
    fill_birch(src);
    ck_assert_int_eq(on_terminal(&out, "%s copy %s %s", tool, src, cp), 0);
    char want[1024];
    snprintf(want, sizeof want, "%s -> %s: ", src, cp);
    ck_assert_msg(strstr(out, "copy [") && strstr(out, "100%") && strstr(out, want) && strstr(out, " pages, ") &&
                      strstr(out, " bytes"),
                  "%s", out);
    free(out);
    ck_assert_int_eq(on_terminal(&out, "%s compact %s", tool, cp), 0);
    snprintf(want, sizeof want, "%s: ", cp);
    ck_assert_msg(strstr(out, "compact [") && strstr(out, want) && strstr(out, " -> "), "%s", out);
    free(out);
    ck_assert_int_eq(on_terminal(&out, "%s stat %s", tool, src), 0);
    ck_assert_msg(strstr(out, "stat [") && strstr(out, "100%") && strstr(out, "table table-2"), "%s", out);
    free(out);
    ck_assert_int_eq(on_terminal(&out, "%s check %s", tool, src), 0);
    ck_assert_msg(strstr(out, "check: checking ") && strstr(out, "check [") && strstr(out, "100%") &&
                      strstr(out, "ok: "),
                  "%s", out);
    free(out);
    /* dump: a bar when the dump goes elsewhere, and the same dump. */
    ck_assert_int_eq(on_terminal(&out, "%s dump %s >%s", tool, src, d1), 0);
    ck_assert_msg(strstr(out, "dump [") && strstr(out, "100%"), "%s", out);
    free(out);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s dump %s >%s && cmp %s %s", tool, src, d2, d1, d2), 0);
    ck_assert_int_eq(on_terminal(&out, "%s dump %s -t table-0", tool, src), 0);
    ck_assert_msg(!strstr(out, "dump ["), "%s", out); /* not into the dump on the screen */
    free(out);
    ck_assert_int_eq(on_terminal(&out, "%s load --create %s <%s", tool, nf, d1), 0);
    ck_assert_msg(strstr(out, "loaded 1200 records"), "%s", out);
    free(out);
    expect_birch(nf, "table-");
    free(src);
    free(cp);
    free(d1);
    free(d2);
    free(nf);
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

    ck_assert_int_eq(bt_sh(&out, NULL, "%s get %s users 7", tool, f), 0);
    ck_assert_str_eq(out, "user 7\n");
    free(out);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s get %s users 99", tool, f), 1);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s get %s users -3", tool, f), 2); /* not a u64 */
    ck_assert_int_eq(bt_sh(&out, NULL, "%s scan %s users --from 10", tool, f), 0);
    ck_assert_str_eq(out, "10\tuser 10\n11\tuser 11\n12\tuser 12\n");
    free(out);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s scan %s users -n 2", tool, f), 0);
    ck_assert_str_eq(out, "1\tuser 1\n2\tuser 2\n");
    free(out);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s scan %s users -n 1 --hex", tool, f), 0);
    ck_assert_str_eq(out, "0000000000000001\t757365722031\n");
    free(out);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s put %s users 100 'a new user'", tool, f), 0);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s get %s users 100", tool, f), 0);
    ck_assert_str_eq(out, "a new user\n");
    free(out);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s del %s users 100", tool, f), 0);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s del %s users 100", tool, f), 1);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s scan %s users --from 1 --prefix 1", tool, f), 2);
    /* No schema: printable text in quotes, anything else in hex. */
    ck_assert_int_eq(bt_sh(&out, NULL, "%s scan %s raw", tool, f), 0);
    ck_assert_str_eq(out, "6b01\t\"v\"\n");
    free(out);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s get %s raw 6b01 --hex", tool, f), 0);
    ck_assert_str_eq(out, "76\n");
    free(out);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s put %s raw 6b0 00 --hex", tool, f), 2); /* odd hex */
    ck_assert_int_eq(bt_sh(&out, NULL, "%s scan %s raw --prefix k", tool, f), 0);
    ck_assert_str_eq(out, "6b01\t\"v\"\n");
    free(out);
    /* The text "6b01" and the bytes 6b 01 look different; quotes and
     * backslashes inside text are escaped; an empty value is "". */
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s put %s raw 6b01 'say \"hi\\\"'", tool, f), 0);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s put %s raw empty ''", tool, f), 0);
    ck_assert_int_eq(bt_sh(NULL, NULL, "%s put %s raw tab \"$(printf 'a\\tb')\"", tool, f), 0);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s scan %s raw", tool, f), 0);
    ck_assert_str_eq(out, "\"6b01\"\t\"say \\\"hi\\\\\\\"\"\n"
                          "\"empty\"\t\"\"\n"
                          "6b01\t\"v\"\n"
                          "\"tab\"\t610962\n");
    free(out);
    ck_assert_int_eq(bt_sh(&out, NULL, "%s get %s raw empty", tool, f), 0);
    ck_assert_str_eq(out, "\"\"\n");
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
    tcase_add_test(tc, test_lmdb_round_trip_unnamed);
    tcase_add_test(tc, test_lmdb_round_trip_named);
    tcase_add_test(tc, test_dump_load_birch);
    tcase_add_test(tc, test_names_escaped);
    tcase_add_test(tc, test_stat_check_copy_compact);
    tcase_add_test(tc, test_readers_alive);
    tcase_add_test(tc, test_readers_stale);
    tcase_add_test(tc, test_stat_oldest);
    tcase_add_test(tc, test_exit_codes);
    tcase_add_test(tc, test_numbers);
    tcase_add_test(tc, test_create);
    tcase_add_test(tc, test_failed_create_removes);
    tcase_add_test(tc, test_write_errors);
    tcase_add_test(tc, test_terminal);
    tcase_add_test(tc, test_get_put_del_scan);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
