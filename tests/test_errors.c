/*
 * test_errors.c - every result code of birch.h, each produced from a real
 * bad input, with the database intact afterwards (birch_check passes and
 * the data committed before is still readable).
 *
 * Damaged files are made per the layout in engine/page.h (docs/FORMAT.md):
 * meta pages 0 and 1, each a bi_meta sealed with XXH3-64 over the bytes
 * before its checksum field.  EIO, ENOMEM and the disk-full flavour of EFULL
 * come from a fault-injecting io table (support.c) passed to bi_open_io.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "support.h"

/* ---- A database with known contents -------------------------------------- */

enum { BASE_KEYS = 500 };

static void base_key(int i, char *k, size_t n) { snprintf(k, n, "base-%05d", i); }

/* Creates the file at path with table "base" holding BASE_KEYS records. */
static void make_base(const char *path, const birch_options *o)
{
    birch_db *db = bt_open(path, o);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "base", BIRCH_CREATE);
    char k[32];
    for (int i = 0; i < BASE_KEYS; i++) {
        base_key(i, k, sizeof k);
        bt_put_s(w, t, k, k);
    }
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db));
}

/* The base data is there, complete, through db. */
static void expect_base(birch_db *db)
{
    bt_check(db);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "base", 0);
    ck_assert_uint_eq(bt_count(r, t), BASE_KEYS);
    char k[32];
    for (int i = 0; i < BASE_KEYS; i++) {
        base_key(i, k, sizeof k);
        bt_expect_s(r, t, k, k);
    }
    birch_txn_abort(r);
}

/* Opens path normally and checks the base data. */
static void expect_base_file(const char *path)
{
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    expect_base(db);
    BT_OK(birch_close(db));
}

static unsigned char *slurp(const char *path, uint64_t *size)
{
    *size = bt_file_size(path);
    unsigned char *b = malloc(*size + 1);
    ck_assert_ptr_nonnull(b);
    bt_file_read(path, b, *size, 0);
    return b;
}

/* ---- NOTFOUND -------------------------------------------------------------- */

START_TEST(err_notfound)
{
    char *path = bt_path("notfound");
    birch_options o = bt_opts();
    make_base(path, &o);
    birch_db *db = bt_open(path, &o);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "base", 0), *x = NULL;
    birch_val v;
    birch_db *ro = NULL;
    birch_options roo = bt_opts();
    roo.read_only = 1;
    char *missing = bt_path("no-such-file");
    BT_RC(birch_open(missing, &roo, &ro), BIRCH_NOTFOUND); /* read-only never creates */
    ck_assert_ptr_null(ro);
    free(missing);
    BT_RC(birch_get(w, t, bt_str("missing"), &v), BIRCH_NOTFOUND);
    BT_RC(birch_del(w, t, bt_str("missing")), BIRCH_NOTFOUND);
    BT_RC(birch_table_open(w, "nosuchtable", 0, &x), BIRCH_NOTFOUND);
    BT_RC(birch_table_drop(w, "nosuchtable"), BIRCH_NOTFOUND);
    birch_table *e = bt_table(w, "empty", BIRCH_CREATE);
    birch_cursor *c = NULL;
    BT_OK(birch_cursor_open(w, e, &c));
    BT_RC(birch_cursor_first(c), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_seek(c, bt_str("a")), BIRCH_NOTFOUND);
    BT_OK(birch_cursor_open(w, t, &c));
    BT_RC(birch_cursor_seek(c, bt_str("zzz")), BIRCH_NOTFOUND);
    BT_OK(birch_cursor_last(c));
    BT_RC(birch_cursor_next(c), BIRCH_NOTFOUND);
    /* NOTFOUND from get/del/open does not fail the transaction. */
    bt_put_s(w, e, "k", "v");
    BT_OK(birch_txn_commit(w));
    expect_base(db);
    /* A put into a table dropped earlier in the transaction. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *gone = bt_table(w, "gone", BIRCH_CREATE);
    BT_OK(birch_table_drop(w, "gone"));
    BT_RC(birch_put(w, gone, bt_str("k"), bt_str("v"), 0), BIRCH_NOTFOUND);
    BT_RC(birch_get(w, gone, bt_str("k"), &v), BIRCH_NOTFOUND);
    birch_txn_abort(w);
    expect_base(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- EXISTS ---------------------------------------------------------------- */

START_TEST(err_exists)
{
    char *path = bt_path("exists");
    birch_options o = bt_opts();
    make_base(path, &o);
    birch_db *db = bt_open(path, &o);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "base", 0);
    BT_RC(birch_put(w, t, bt_str("base-00007"), bt_str("other"), BIRCH_NOOVERWRITE), BIRCH_EXISTS);
    BT_RC(birch_put(w, t, bt_str("base-00003"), bt_str("other"), BIRCH_APPEND), BIRCH_EXISTS);
    BT_RC(birch_put(w, t, bt_str("base-00499"), bt_str("other"), BIRCH_APPEND), BIRCH_EXISTS);
    BT_RC(birch_put(w, t, bt_str("a"), bt_str("other"), BIRCH_APPEND), BIRCH_EXISTS);
    bt_expect_s(w, t, "base-00007", "base-00007");
    bt_expect_absent(w, t, "a", 1);
    /* The transaction is still good. */
    BT_OK(birch_put(w, t, bt_str("base-00499+"), bt_str("x"), BIRCH_APPEND));
    BT_OK(birch_del(w, t, bt_str("base-00499+")));
    BT_OK(birch_txn_commit(w));
    expect_base(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- EINVAL ---------------------------------------------------------------- */

START_TEST(err_einval_open)
{
    char *path = bt_path("einval-open");
    birch_options o = bt_opts();
    make_base(path, &o);
    birch_db *db = NULL;
    BT_RC(birch_open(NULL, &o, &db), BIRCH_EINVAL);
    BT_RC(birch_open(path, &o, NULL), BIRCH_EINVAL);
    BT_RC(birch_open(NULL, NULL, NULL), BIRCH_EINVAL);

    /* Bad page sizes, for an existing file and for a new one. */
    char *fresh = bt_path("einval-fresh");
    const uint32_t bad_ps[] = {0, 1, 256, 511, 513, 1000, 3000, 4095, 4097, 131072, 1u << 31};
    for (size_t i = 0; i < sizeof bad_ps / sizeof bad_ps[0]; i++) {
        birch_options b = bt_opts();
        b.page_size = bad_ps[i];
        ck_assert_msg(birch_open(fresh, &b, &db) == BIRCH_EINVAL, "page_size %u accepted",
                      bad_ps[i]);
        ck_assert_msg(birch_open(path, &b, &db) == BIRCH_EINVAL,
                      "page_size %u accepted for an existing file", bad_ps[i]);
    }
    birch_options b = bt_opts();
    b.durability = 2;
    BT_RC(birch_open(fresh, &b, &db), BIRCH_EINVAL);
    b.durability = -1;
    BT_RC(birch_open(fresh, &b, &db), BIRCH_EINVAL);
    b = bt_opts();
    b.max_readers = 0;
    BT_RC(birch_open(fresh, &b, &db), BIRCH_EINVAL);

    /* A good open still works on both files afterwards. */
    expect_base_file(path);
    db = bt_open(fresh, &o);
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(fresh);
    bt_remove(path);
    free(fresh);
    free(path);
}
END_TEST

START_TEST(err_einval_calls)
{
    char *path = bt_path("einval");
    birch_options o = bt_opts();
    make_base(path, &o);
    birch_db *db = bt_open(path, &o);
    birch_txn *txn = NULL;
    BT_RC(birch_txn_begin(NULL, BIRCH_TXN_READ, &txn), BIRCH_EINVAL);
    BT_RC(birch_txn_begin(db, BIRCH_TXN_READ, NULL), BIRCH_EINVAL);
    BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE, NULL), BIRCH_EINVAL);
    BT_RC(birch_txn_begin(db, 0x80, &txn), BIRCH_EINVAL);
    BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE | 0x100, &txn), BIRCH_EINVAL);
    BT_RC(birch_stat_get(db, NULL), BIRCH_EINVAL);
    birch_stat st;
    BT_RC(birch_stat_get(NULL, &st), BIRCH_EINVAL);

    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = NULL;
    char longname[BIRCH_MAX_NAME_SIZE + 2];
    memset(longname, 'x', sizeof longname);
    longname[BIRCH_MAX_NAME_SIZE + 1] = 0;
    BT_RC(birch_table_open(w, "", BIRCH_CREATE, &t), BIRCH_EINVAL);
    BT_RC(birch_table_open(w, NULL, BIRCH_CREATE, &t), BIRCH_EINVAL);
    BT_RC(birch_table_open(w, longname, BIRCH_CREATE, &t), BIRCH_EINVAL);
    BT_RC(birch_table_open(w, "base", 0x40, &t), BIRCH_EINVAL);
    BT_RC(birch_table_open(w, "base", 0, NULL), BIRCH_EINVAL);
    BT_RC(birch_table_open(NULL, "base", 0, &t), BIRCH_EINVAL);
    t = bt_table(w, "base", 0);
    BT_RC(birch_put(w, t, bt_str("k"), bt_str("v"), 0x40), BIRCH_EINVAL);
    BT_RC(birch_put(w, NULL, bt_str("k"), bt_str("v"), 0), BIRCH_EINVAL);
    BT_RC(birch_put(NULL, t, bt_str("k"), bt_str("v"), 0), BIRCH_EINVAL);
    BT_RC(birch_put(w, t, bt_val(NULL, 3), bt_str("v"), 0), BIRCH_EINVAL);
    BT_RC(birch_put(w, t, bt_str("k"), bt_val(NULL, 3), 0), BIRCH_EINVAL);
    BT_RC(birch_get(w, t, bt_str("base-00001"), NULL), BIRCH_EINVAL);
    BT_RC(birch_del(w, NULL, bt_str("base-00001")), BIRCH_EINVAL);
    BT_RC(birch_count(w, t, NULL), BIRCH_EINVAL);
    BT_RC(birch_cursor_open(w, t, NULL), BIRCH_EINVAL);
    BT_RC(birch_table_list(w, NULL, NULL), BIRCH_EINVAL);
    /* EINVAL does not fail the transaction: it commits normally. */
    bt_put_s(w, t, "after-einval", "ok");
    BT_OK(birch_txn_commit(w));
    BT_RC(birch_txn_commit(NULL), BIRCH_EINVAL);

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "base", 0), "after-einval", "ok");
    birch_txn_abort(r);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_del(w, bt_table(w, "base", 0), bt_str("after-einval")));
    BT_OK(birch_txn_commit(w));
    expect_base(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- EKEYSIZE / EVALSIZE -------------------------------------------------- */

START_TEST(err_keysize_valsize)
{
    char *path = bt_path("sizes");
    birch_options o = bt_opts();
    make_base(path, &o);
    birch_db *db = bt_open(path, &o);
    size_t mk = birch_max_key_size(db);
    unsigned char *key = malloc(mk + 1);
    memset(key, 'k', mk + 1);
    unsigned char small[16] = {0};

    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "base", 0);
    BT_RC(birch_put(w, t, bt_val("x", 0), bt_str("v"), 0), BIRCH_EKEYSIZE);
    BT_RC(birch_put(w, t, bt_val(key, mk + 1), bt_str("v"), 0), BIRCH_EKEYSIZE);
    BT_RC(birch_put(w, t, bt_val(key, mk + 1), bt_str("v"), BIRCH_NOOVERWRITE), BIRCH_EKEYSIZE);
    /* A huge size over a 16-byte buffer: refused before anything is read
     * (ASan would report the overread). */
    BT_RC(birch_put(w, t, bt_str("k"), bt_val(small, (size_t)BIRCH_MAX_VALUE_SIZE + 1), 0),
          BIRCH_EVALSIZE);
    BT_RC(birch_put(w, t, bt_str("k"), bt_val(small, SIZE_MAX), 0), BIRCH_EVALSIZE);
    BT_RC(birch_put(w, t, bt_str("k"), bt_val(small, (size_t)1 << 40), BIRCH_NOOVERWRITE),
          BIRCH_EVALSIZE);
    /* None of these failed the transaction. */
    bt_put(w, t, key, mk, "max", 3);
    bt_expect_absent(w, t, "k", 1);
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "base", 0);
    bt_expect(r, t, key, mk, "max", 3);
    birch_txn_abort(r);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_del(w, bt_table(w, "base", 0), bt_val(key, mk)));
    BT_OK(birch_txn_commit(w));
    expect_base(db);
    BT_OK(birch_close(db));
    free(key);
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- ENOTDB ---------------------------------------------------------------- */

START_TEST(err_notdb)
{
    char *path = bt_path("text");
    const char *text = "This is a plain text file, not a database.\n"
                       "It has a few lines of ordinary words in it.\n";
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 200; i++) fputs(text, f); /* longer than two pages */
    fclose(f);
    uint64_t size0;
    unsigned char *before = slurp(path, &size0);
    birch_db *db = NULL;
    birch_options o = bt_opts();
    BT_RC(birch_open(path, &o, &db), BIRCH_ENOTDB);
    o.read_only = 1;
    BT_RC(birch_open(path, &o, &db), BIRCH_ENOTDB);
    /* The file was not touched. */
    uint64_t size1;
    unsigned char *after = slurp(path, &size1);
    ck_assert_uint_eq(size0, size1);
    ck_assert_msg(memcmp(before, after, size0) == 0, "failed open changed the text file");
    free(before);
    free(after);

    /* A short text file, shorter than any meta page. */
    f = fopen(path, "w");
    fputs("hello\n", f);
    fclose(f);
    o.read_only = 0;
    BT_RC(birch_open(path, &o, &db), BIRCH_ENOTDB);
    ck_assert_uint_eq(bt_file_size(path), 6);

    /* Random bytes. */
    unsigned char junk[16384];
    bt_pattern(junk, sizeof junk, 1234);
    bt_file_truncate(path, 0);
    bt_file_write(path, junk, sizeof junk, 0);
    BT_RC(birch_open(path, &o, &db), BIRCH_ENOTDB);

    /* The process is not left holding anything: a real database opens. */
    char *good = bt_path("good");
    make_base(good, &o);
    expect_base_file(good);
    bt_remove(good);
    free(good);
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- EVERSION ---------------------------------------------------------------- */

START_TEST(err_version)
{
    char *path = bt_path("version");
    birch_options o = bt_opts();
    make_base(path, &o);
    char *copy = bt_path("version-orig");
    bt_file_copy(path, copy);
    for (int slot = 0; slot < 2; slot++) {
        bi_meta m;
        bt_meta_read(path, slot, &m);
        ck_assert_msg(memcmp(m.magic, BI_MAGIC, 8) == 0, "meta %d has no magic", slot);
        ck_assert_uint_eq(m.version, BI_FORMAT_VERSION);
        m.version = BI_FORMAT_VERSION + 1;
        bt_meta_write(path, slot, &m, 1);
    }
    birch_db *db = NULL;
    BT_RC(birch_open(path, &o, &db), BIRCH_EVERSION);
    birch_options ro = bt_opts();
    ro.read_only = 1;
    BT_RC(birch_open(path, &ro, &db), BIRCH_EVERSION);
    /* Version 0 is unknown too. */
    for (int slot = 0; slot < 2; slot++) {
        bi_meta m;
        bt_meta_read(path, slot, &m);
        m.version = 0;
        bt_meta_write(path, slot, &m, 1);
    }
    BT_RC(birch_open(path, &o, &db), BIRCH_EVERSION);
    /* The untouched copy is fine. */
    expect_base_file(copy);
    bt_remove(copy);
    bt_remove(path);
    free(copy);
    free(path);
}
END_TEST

/* ---- ECORRUPT ---------------------------------------------------------------- */

START_TEST(err_corrupt_both_metas)
{
    char *path = bt_path("corrupt-metas");
    birch_options o = bt_opts();
    make_base(path, &o);
    /* One damaged meta: the other one is used. */
    bi_meta m;
    bt_meta_read(path, 0, &m);
    m.txnid ^= 0x10; /* checksum no longer matches */
    bt_meta_write(path, 0, &m, 0);
    birch_db *db = NULL;
    int rc = birch_open(path, &o, &db);
    if (rc == BIRCH_OK) BT_OK(birch_close(db));
    /* Both damaged: ECORRUPT, for read-write and read-only opens.  (Close
     * may have rewritten slot 0 with a clean copy of the state: damage it
     * again.) */
    bt_meta_read(path, 0, &m);
    m.txnid ^= 0x10;
    bt_meta_write(path, 0, &m, 0);
    bt_meta_read(path, 1, &m);
    m.npages ^= 0x1000;
    bt_meta_write(path, 1, &m, 0);
    BT_RC(birch_open(path, &o, &db), BIRCH_ECORRUPT);
    birch_options ro = bt_opts();
    ro.read_only = 1;
    BT_RC(birch_open(path, &ro, &db), BIRCH_ECORRUPT);
    /* The failed opens leave no lock behind; a good file still opens. */
    char *good = bt_path("good");
    make_base(good, &o);
    expect_base_file(good);
    bt_remove(good);
    free(good);
    bt_remove(path);
    free(path);
}
END_TEST

START_TEST(err_corrupt_meta_past_end)
{
    char *path = bt_path("corrupt-npages");
    birch_options o = bt_opts();
    make_base(path, &o);
    uint64_t size = bt_file_size(path);
    for (int slot = 0; slot < 2; slot++) {
        bi_meta m;
        bt_meta_read(path, slot, &m);
        m.npages = size / m.page_size + 100; /* valid checksum, impossible count */
        bt_meta_write(path, slot, &m, 1);
    }
    birch_db *db = NULL;
    BT_RC(birch_open(path, &o, &db), BIRCH_ECORRUPT);
    bt_remove(path);
    free(path);
}
END_TEST

/* A truncated file: both metas point past the (new) end. */
START_TEST(err_corrupt_truncated)
{
    char *path = bt_path("truncated");
    birch_options o = bt_opts();
    make_base(path, &o);
    birch_db *db = bt_open(path, &o);
    for (int c = 0; c < 2; c++) { /* grow well past a few pages in both metas */
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "big", BIRCH_CREATE);
        unsigned char v[3000];
        memset(v, c, sizeof v);
        char k[32];
        for (int i = 0; i < 300; i++) {
            snprintf(k, sizeof k, "%d-%d", c, i);
            bt_put(w, t, k, strlen(k), v, sizeof v);
        }
        BT_OK(birch_txn_commit(w));
    }
    uint32_t ps = birch_page_size(db);
    BT_OK(birch_close(db));
    bt_file_truncate(path, 3ull * ps);
    BT_RC(birch_open(path, &o, &db), BIRCH_ECORRUPT);
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- EBUSY -------------------------------------------------------------------- */

START_TEST(err_busy)
{
    char *path = bt_path("busy");
    birch_options o = bt_opts();
    o.max_readers = 2;
    make_base(path, &o);
    birch_db *db = bt_open(path, &o), *db2 = NULL;
    BT_RC(birch_open(path, &o, &db2), BIRCH_EBUSY);
    birch_options ro = bt_opts();
    ro.read_only = 1;
    BT_RC(birch_open(path, &ro, &db2), BIRCH_EBUSY);
    /* TRY while a write transaction is active. */
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE), *w2 = NULL;
    BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY, &w2), BIRCH_EBUSY);
    bt_put_s(w, bt_table(w, "base", 0), "during", "busy");
    BT_OK(birch_txn_commit(w));
    /* Reader slots used up. */
    birch_txn *r1 = bt_begin(db, BIRCH_TXN_READ), *r2 = bt_begin(db, BIRCH_TXN_READ), *r3 = NULL;
    BT_RC(birch_txn_begin(db, BIRCH_TXN_READ, &r3), BIRCH_EBUSY);
    birch_txn_abort(r1);
    birch_txn_abort(r2);
    w = bt_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY);
    BT_OK(birch_del(w, bt_table(w, "base", 0), bt_str("during")));
    BT_OK(birch_txn_commit(w));
    expect_base(db);
    BT_OK(birch_close(db));
    /* After close the file opens again. */
    expect_base_file(path);
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- EREADONLY ------------------------------------------------------------------ */

START_TEST(err_readonly)
{
    char *path = bt_path("readonly");
    birch_options o = bt_opts();
    make_base(path, &o);
    birch_db *db = bt_open(path, &o);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "base", 0), *x = NULL;
    BT_RC(birch_put(r, t, bt_str("k"), bt_str("v"), 0), BIRCH_EREADONLY);
    BT_RC(birch_del(r, t, bt_str("base-00001")), BIRCH_EREADONLY);
    BT_RC(birch_table_open(r, "new", BIRCH_CREATE, &x), BIRCH_EREADONLY);
    BT_RC(birch_table_drop(r, "base"), BIRCH_EREADONLY);
    BT_RC(birch_table_set_schema(r, t, bt_str("s")), BIRCH_EREADONLY);
    bt_expect_s(r, t, "base-00001", "base-00001"); /* reading still works */
    BT_OK(birch_txn_commit(r));
    BT_OK(birch_close(db));

    o.read_only = 1;
    db = bt_open(path, &o);
    birch_txn *w = NULL;
    BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE, &w), BIRCH_EREADONLY);
    expect_base(db);
    BT_OK(birch_close(db));
    expect_base_file(path);
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- EFULL ------------------------------------------------------------------------ */

/* Fills a database with max_size set until EFULL; the failed transaction
 * refuses further work with ETXN; the file stays within max_size; the data
 * committed before is intact and the space can still be managed. */
START_TEST(err_full_max_size)
{
    char *path = bt_path("full");
    birch_options o = bt_opts(); /* durable commits: freed pages are reusable at once */
    o.max_size = 1024 * 1024;
    make_base(path, &o);
    birch_db *db = bt_open(path, &o);
    unsigned char v[3000];
    memset(v, 'f', sizeof v);
    char k[32];
    int rc = BIRCH_OK, commits = 0;
    for (int c = 0; c < 1000 && rc == BIRCH_OK; c++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "fill", BIRCH_CREATE);
        for (int i = 0; i < 10 && rc == BIRCH_OK; i++) {
            snprintf(k, sizeof k, "%05d-%02d", c, i);
            rc = birch_put(w, t, bt_str(k), bt_val(v, sizeof v), 0);
        }
        if (rc != BIRCH_OK) {
            BT_RC(rc, BIRCH_EFULL);
            /* The failed transaction refuses writes, and its commit. */
            BT_RC(birch_put(w, t, bt_str("more"), bt_str("x"), 0), BIRCH_ETXN);
            BT_RC(birch_txn_commit(w), BIRCH_ETXN);
            break;
        }
        rc = birch_txn_commit(w);
        if (rc == BIRCH_OK) commits++;
    }
    BT_RC(rc, BIRCH_EFULL);
    ck_assert_int_gt(commits, 10);
    birch_stat st = bt_stat(db);
    ck_assert_uint_le(st.file_size, o.max_size);
    ck_assert_uint_le(bt_file_size(path), o.max_size);
    expect_base(db);
    /* Every committed fill record is there. */
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    ck_assert_uint_eq(bt_count(r, bt_table(r, "fill", 0)), (uint64_t)commits * 10);
    birch_txn_abort(r);
    /* Dropping the fill table makes room again. */
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_table_drop(w, "fill"));
    BT_OK(birch_txn_commit(w));
    w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "fill", BIRCH_CREATE);
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof k, "again-%02d", i);
        bt_put(w, t, k, strlen(k), v, sizeof v);
    }
    BT_OK(birch_txn_commit(w));
    db = bt_reopen(db, path, &o);
    expect_base(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* The disk is full: resize fails with EFULL. */
START_TEST(err_full_disk)
{
    char *path = bt_path("diskfull");
    birch_options o = bt_opts();
    make_base(path, &o);
    bt_fault f;
    bt_fault_init(&f);
    birch_db *db = NULL;
    BT_OK(bi_open_io(path, &o, &f.io, &db));
    f.fail_resize = 1;
    f.sticky = 1;
    unsigned char v[4000];
    memset(v, 'd', sizeof v);
    char k[32];
    int rc = BIRCH_OK;
    for (int c = 0; c < 200 && rc == BIRCH_OK; c++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "fill", BIRCH_CREATE);
        for (int i = 0; i < 50 && rc == BIRCH_OK; i++) {
            snprintf(k, sizeof k, "%05d-%02d", c, i);
            rc = birch_put(w, t, bt_str(k), bt_val(v, sizeof v), 0);
        }
        if (rc != BIRCH_OK) {
            BT_RC(birch_txn_commit(w), BIRCH_ETXN);
            break;
        }
        rc = birch_txn_commit(w);
    }
    BT_RC(rc, BIRCH_EFULL);
    ck_assert_int_ge(f.injected, 1);
    f.fail_resize = 0;
    f.sticky = 0;
    /* Readable through the same handle, and after a reopen. */
    expect_base(db);
    BT_OK(birch_close(db));
    expect_base_file(path);
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- EIO ---------------------------------------------------------------------- */

/* One commit of new records ("io" table) on top of the base data. */
static int io_workload(birch_db *db)
{
    birch_txn *w = NULL;
    int rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &w);
    if (rc) return rc;
    birch_table *t = NULL;
    rc = birch_table_open(w, "io", BIRCH_CREATE, &t);
    char k[32];
    unsigned char v[700];
    memset(v, 'i', sizeof v);
    for (int i = 0; i < 400 && rc == BIRCH_OK; i++) {
        snprintf(k, sizeof k, "io-%04d", i);
        rc = birch_put(w, t, bt_str(k), bt_val(v, sizeof v), 0);
    }
    for (int i = 0; i < 100 && rc == BIRCH_OK; i++) { /* and change the base table */
        snprintf(k, sizeof k, "base-%05d", i);
        birch_table *b = NULL;
        rc = birch_table_open(w, "base", 0, &b);
        if (rc == BIRCH_OK) rc = birch_put(w, b, bt_str(k), bt_str("changed"), 0);
    }
    if (rc) {
        birch_txn_abort(w);
        return rc;
    }
    return birch_txn_commit(w);
}

/* The state after a failed io_workload commit: either before it or after
 * it, whole.  Returns 1 if the commit is there. */
static int old_or_new(const char *path)
{
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    bt_check(db);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = NULL, *b = bt_table(r, "base", 0);
    int rc = birch_table_open(r, "io", 0, &t);
    int is_new = rc == BIRCH_OK;
    if (!is_new) BT_RC(rc, BIRCH_NOTFOUND);
    char k[32];
    if (is_new) ck_assert_uint_eq(bt_count(r, t), 400);
    ck_assert_uint_eq(bt_count(r, b), BASE_KEYS);
    for (int i = 0; i < BASE_KEYS; i++) {
        base_key(i, k, sizeof k);
        if (is_new && i < 100)
            bt_expect_s(r, b, k, "changed");
        else
            bt_expect_s(r, b, k, k);
    }
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    return is_new;
}

/* The first write of a commit fails: the commit returns EIO, the handle
 * refuses new write transactions until reopened, and the file holds the
 * state before the commit. */
START_TEST(err_eio_write)
{
    char *path = bt_path("eio");
    birch_options o = bt_opts();
    make_base(path, &o);
    bt_fault f;
    bt_fault_init(&f);
    birch_db *db = NULL;
    BT_OK(bi_open_io(path, &o, &f.io, &db));
    f.fail_write = 1;
    BT_RC(io_workload(db), BIRCH_EIO);
    ck_assert_int_eq(f.injected, 1);
    birch_txn *w = NULL;
    BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE, &w), BIRCH_EIO);
    BT_OK(birch_close(db));
    ck_assert_int_eq(old_or_new(path), 0);
    expect_base_file(path);
    bt_remove(path);
    free(path);
}
END_TEST

START_TEST(err_eio_sync)
{
    char *path = bt_path("eio-sync");
    birch_options o = bt_opts();
    make_base(path, &o);
    bt_fault f;
    bt_fault_init(&f);
    birch_db *db = NULL;
    BT_OK(bi_open_io(path, &o, &f.io, &db));
    f.fail_sync = 1;
    BT_RC(io_workload(db), BIRCH_EIO);
    birch_txn *w = NULL;
    BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE, &w), BIRCH_EIO);
    BT_OK(birch_close(db));
    old_or_new(path);
    bt_remove(path);
    free(path);
}
END_TEST

START_TEST(err_eio_read_at_open)
{
    char *path = bt_path("eio-read");
    birch_options o = bt_opts();
    make_base(path, &o);
    bt_fault f;
    bt_fault_init(&f);
    f.fail_read = 1;
    f.sticky = 1;
    birch_db *db = NULL;
    BT_RC(bi_open_io(path, &o, &f.io, &db), BIRCH_EIO);
    ck_assert_int_ge(f.injected, 1);
    expect_base_file(path);
    bt_remove(path);
    free(path);
}
END_TEST

/* Every write and every sync of a commit failing in turn (N = 1, 2, ...
 * until the commit gets through): each time the file holds the old or the
 * new state, whole, and passes the check. */
START_TEST(err_eio_each_operation)
{
    char *path = bt_path("eio-each");
    char *orig = bt_path("eio-orig");
    birch_options o = bt_opts();
    make_base(orig, &o);
    for (int kind = 0; kind < 2; kind++) {
        int done = 0;
        for (long n = 1; n < 10000 && !done; n++) {
            bt_file_copy(orig, path);
            bt_fault f;
            bt_fault_init(&f);
            birch_db *db = NULL;
            BT_OK(bi_open_io(path, &o, &f.io, &db));
            if (kind == 0)
                f.fail_write = n;
            else
                f.fail_sync = n;
            int rc = io_workload(db);
            int during_workload = f.injected != 0;
            /* Close writes a clean meta, so the fault may hit it instead. */
            int crc = birch_close(db);
            if (f.injected == 0) {
                BT_OK(rc);
                BT_OK(crc);
                done = 1;
            } else if (during_workload) {
                ck_assert_msg(rc == BIRCH_EIO, "%s %ld failed: commit returned %d (%s)",
                              kind ? "sync" : "write", n, rc, birch_strerror(rc));
            } else {
                BT_OK(rc);
                ck_assert_msg(crc == BIRCH_EIO, "%s %ld failed in close: %d", kind ? "sync" : "write", n, crc);
            }
            int is_new = old_or_new(path);
            if (done) ck_assert_int_eq(is_new, 1);
        }
        ck_assert_msg(done, "workload never completed");
    }
    bt_remove(orig);
    bt_remove(path);
    free(orig);
    free(path);
}
END_TEST

/* ---- ENOMEM ------------------------------------------------------------------- */

START_TEST(err_nomem_map)
{
    char *path = bt_path("enomem");
    birch_options o = bt_opts();
    make_base(path, &o);
    bt_fault f;
    bt_fault_init(&f);
    f.fail_map = 1;
    birch_db *db = NULL;
    BT_RC(bi_open_io(path, &o, &f.io, &db), BIRCH_ENOMEM);
    ck_assert_int_eq(f.injected, 1);
    /* No lock or mapping left behind: a normal open works. */
    expect_base_file(path);

    /* Growing past the reservation needs a new map; when that fails the
     * commit fails, and the data before it stays intact. */
    o.map_reserve = 1 << 20;
    bt_fault_init(&f);
    BT_OK(bi_open_io(path, &o, &f.io, &db));
    f.fail_map = 1;
    f.sticky = 1;
    unsigned char v[8000];
    memset(v, 'm', sizeof v);
    char k[32];
    int rc = BIRCH_OK;
    for (int c = 0; c < 50 && rc == BIRCH_OK; c++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "grow", BIRCH_CREATE);
        for (int i = 0; i < 40 && rc == BIRCH_OK; i++) {
            snprintf(k, sizeof k, "%03d-%03d", c, i);
            rc = birch_put(w, t, bt_str(k), bt_val(v, sizeof v), 0);
        }
        if (rc) {
            birch_txn_abort(w);
            break;
        }
        rc = birch_txn_commit(w);
    }
    ck_assert_msg(rc != BIRCH_OK, "the file grew to 16 MiB without a new map");
    ck_assert_msg(rc == BIRCH_ENOMEM || rc == BIRCH_EIO, "growth without map returned %d (%s)",
                  rc, birch_strerror(rc));
    f.fail_map = 0;
    f.sticky = 0;
    BT_OK(birch_close(db));
    expect_base_file(path);
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- ETXN --------------------------------------------------------------------- */

START_TEST(err_txn_close_with_open_txn)
{
    char *path = bt_path("etxn-close");
    birch_options o = bt_opts();
    make_base(path, &o);
    birch_db *db = bt_open(path, &o);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_RC(birch_close(db), BIRCH_ETXN);
    /* Nothing was closed: the reader still works. */
    bt_expect_s(r, bt_table(r, "base", 0), "base-00010", "base-00010");
    birch_txn_abort(r);

    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "base", 0), "pending", "1");
    BT_RC(birch_close(db), BIRCH_ETXN);
    bt_put_s(w, bt_table(w, "base", 0), "pending2", "2");
    BT_OK(birch_txn_commit(w));
    birch_txn *r1 = bt_begin(db, BIRCH_TXN_READ);
    birch_txn *r2 = bt_begin(db, BIRCH_TXN_READ);
    BT_RC(birch_close(db), BIRCH_ETXN);
    birch_txn_abort(r1);
    BT_RC(birch_close(db), BIRCH_ETXN);
    birch_txn_abort(r2);
    BT_OK(birch_close(db));

    db = bt_open(path, &o);
    birch_txn *rr = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(rr, bt_table(rr, "base", 0), "pending2", "2");
    birch_txn_abort(rr);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_del(w, bt_table(w, "base", 0), bt_str("pending")));
    BT_OK(birch_del(w, bt_table(w, "base", 0), bt_str("pending2")));
    BT_OK(birch_txn_commit(w));
    expect_base(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* A transaction whose put failed (EFULL against max_size) refuses further
 * writes and its commit with ETXN, and changes nothing. */
START_TEST(err_txn_failed_transaction)
{
    char *path = bt_path("etxn");
    birch_options o = bt_opts();
    o.max_size = 256 * 1024;
    make_base(path, &o);
    birch_db *db = bt_open(path, &o);
    unsigned char v[3000];
    memset(v, 't', sizeof v);
    char k[32];
    for (int round = 0; round < 2; round++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *base = bt_table(w, "base", 0);
        bt_put_s(w, base, "base-00001", "changed in the failed txn");
        birch_table *t = bt_table(w, "fill", BIRCH_CREATE);
        int rc = BIRCH_OK;
        for (int i = 0; i < 1000 && rc == BIRCH_OK; i++) {
            snprintf(k, sizeof k, "fill-%04d", i);
            rc = birch_put(w, t, bt_str(k), bt_val(v, sizeof v), 0);
        }
        ck_assert_msg(rc == BIRCH_EFULL, "3 MB of puts under max_size 256 KiB gave %d (%s)", rc,
                      birch_strerror(rc));
        BT_RC(birch_put(w, base, bt_str("k"), bt_str("v"), 0), BIRCH_ETXN);
        BT_RC(birch_put(w, t, bt_str("k"), bt_str("v"), BIRCH_NOOVERWRITE), BIRCH_ETXN);
        BT_RC(birch_del(w, base, bt_str("base-00002")), BIRCH_ETXN);
        birch_table *x = NULL;
        BT_RC(birch_table_open(w, "another", BIRCH_CREATE, &x), BIRCH_ETXN);
        BT_RC(birch_table_drop(w, "base"), BIRCH_ETXN);
        BT_RC(birch_table_set_schema(w, base, bt_str("s")), BIRCH_ETXN);
        if (round == 0)
            BT_RC(birch_txn_commit(w), BIRCH_ETXN);
        else
            birch_txn_abort(w); /* aborting a failed transaction is fine too */
        expect_base(db);
        birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
        BT_RC(birch_table_open(r, "fill", 0, &x), BIRCH_NOTFOUND);
        birch_txn_abort(r);
    }
    /* The next write transaction works normally. */
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "base", 0), "later", "ok");
    BT_OK(birch_del(w, bt_table(w, "base", 0), bt_str("later")));
    BT_OK(birch_txn_commit(w));
    db = bt_reopen(db, path, &o);
    expect_base(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = bt_tcase("errors");
    tcase_add_test(tc, err_notfound);
    tcase_add_test(tc, err_exists);
    tcase_add_test(tc, err_einval_open);
    tcase_add_test(tc, err_einval_calls);
    tcase_add_test(tc, err_keysize_valsize);
    tcase_add_test(tc, err_notdb);
    tcase_add_test(tc, err_version);
    tcase_add_test(tc, err_corrupt_both_metas);
    tcase_add_test(tc, err_corrupt_meta_past_end);
    tcase_add_test(tc, err_corrupt_truncated);
    tcase_add_test(tc, err_busy);
    tcase_add_test(tc, err_readonly);
    tcase_add_test(tc, err_full_max_size);
    tcase_add_test(tc, err_full_disk);
    tcase_add_test(tc, err_eio_write);
    tcase_add_test(tc, err_eio_sync);
    tcase_add_test(tc, err_eio_read_at_open);
    tcase_add_test(tc, err_eio_each_operation);
    tcase_add_test(tc, err_nomem_map);
    tcase_add_test(tc, err_txn_close_with_open_txn);
    tcase_add_test(tc, err_txn_failed_transaction);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
