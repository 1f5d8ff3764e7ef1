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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "internal.h"
#include <xxhash.h>

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
    birch_cursor_close(c);
    BT_OK(birch_cursor_open(w, t, &c));
    BT_RC(birch_cursor_seek(c, bt_str("zzz")), BIRCH_NOTFOUND);
    BT_OK(birch_cursor_last(c));
    BT_RC(birch_cursor_next(c), BIRCH_NOTFOUND);
    birch_cursor_close(c);
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
    char want[64];
    snprintf(want, sizeof want, "format version %u", BI_FORMAT_VERSION + 1);
    BT_ERRMSG_HAS(want);
    birch_options ro = bt_opts();
    ro.read_only = 1;
    BT_RC(birch_open(path, &ro, &db), BIRCH_EVERSION);
    /* A version 1 file (a free tree, before issue 12) is refused, and the
     * message says how to convert it. */
    for (int slot = 0; slot < 2; slot++) {
        bi_meta m;
        bt_meta_read(path, slot, &m);
        m.version = 1;
        bt_meta_write(path, slot, &m, 1);
    }
    BT_RC(birch_open(path, &o, &db), BIRCH_EVERSION);
    BT_ERRMSG_HAS("format version 1");
    BT_ERRMSG_HAS("birch dump");
    BT_ERRMSG_HAS("birch load");
    BT_RC(birch_open(path, &ro, &db), BIRCH_EVERSION);
    /* A version 2 file (a 112-byte meta whose checksum covers its first
     * 104 bytes, before format 3 grew it) is refused as a version, with
     * the way to convert it, not as a damaged file. */
    for (int slot = 0; slot < 2; slot++) {
        bi_meta m;
        bt_meta_read(path, slot, &m);
        m.version = 2;
        uint64_t sum = XXH3_64bits(&m, 104);
        memcpy((uint8_t *)&m + 104, &sum, 8);
        bt_meta_write(path, slot, &m, 0);
    }
    BT_RC(birch_open(path, &o, &db), BIRCH_EVERSION);
    BT_ERRMSG_HAS("format version 2");
    BT_ERRMSG_HAS("birch load");
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
    birch_db *db = bt_open(path, &o), *db2 = bt_open(path, &o);
    /* TRY while a write transaction is active, in this handle or another. */
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE), *w2 = NULL;
    BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY, &w2), BIRCH_EBUSY);
    BT_RC(birch_txn_begin(db2, BIRCH_TXN_WRITE | BIRCH_TXN_TRY, &w2), BIRCH_EBUSY);
    /* Compaction needs the file alone. */
    BT_RC(birch_compact(path, NULL, NULL, NULL), BIRCH_EBUSY);
    BT_OK(birch_close(db2));
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
        BT_RC(birch_table_rename(w, "base", "renamed"), BIRCH_ETXN);
        BT_RC(birch_table_set_schema(w, base, bt_str("s")), BIRCH_ETXN);
        struct birch_table_stat st;
        BT_RC(birch_table_stat(w, base, &st), BIRCH_ETXN);
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

/* ---- What the operating system refused at open ---------------------------------- */

/* What a child process (run_child) recorded: the code and detail of each
 * call it made, in order, and a note for the parent. */
typedef struct os_result {
    int n;
    int rc[8];
    char msg[8][400];
    char note[200];
} os_result;

static void rec(os_result *r, int rc)
{
    if (r->n >= 8) return;
    r->rc[r->n] = rc;
    snprintf(r->msg[r->n], sizeof r->msg[0], "%s", birch_errmsg());
    r->n++;
}

/* Runs fn(arg, result) in a child process and hands back what it recorded.
 * A watchdog kills the child after `seconds`: a call that blocks (an open
 * waiting on a FIFO) fails the test instead of hanging it.  The child may
 * give up its privileges or enter namespaces without touching this
 * process. */
static void run_child(void (*fn)(void *arg, os_result *r), void *arg, unsigned seconds, os_result *out)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        alarm(seconds); /* SIGALRM's default action ends the process */
        os_result r;
        memset(&r, 0, sizeof r);
        fn(arg, &r);
        const char *p = (const char *)&r;
        for (size_t done = 0; done < sizeof r;) {
            ssize_t w = write(fds[1], p + done, sizeof r - done);
            if (w <= 0) _exit(2);
            done += (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    memset(out, 0, sizeof *out);
    size_t got = 0;
    while (got < sizeof *out) {
        ssize_t n = read(fds[0], (char *)out + got, sizeof *out - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fds[0]);
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(!WIFSIGNALED(st), "the child was killed by signal %d (%s): a call blocked or crashed",
                  WTERMSIG(st), WTERMSIG(st) == SIGALRM ? "the watchdog" : "not the watchdog");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0 && got == sizeof *out, "the child failed (status %d)", st);
}

/* Call i of r returned want, and its detail mentions each text given. */
static void expect_call(const os_result *r, int i, int want, const char *t1, const char *t2, const char *t3)
{
    ck_assert_msg(i < r->n, "call %d was not made (%d calls; note: %s)", i, r->n, r->note);
    ck_assert_msg(r->rc[i] == want, "call %d returned %d (%s: %s), expected %d (%s)", i, r->rc[i],
                  birch_strerror(r->rc[i]), r->msg[i], want, birch_strerror(want));
    const char *t[3] = {t1, t2, t3};
    for (int k = 0; k < 3; k++)
        ck_assert_msg(!t[k] || strstr(r->msg[i], t[k]), "call %d: detail \"%s\" does not mention \"%s\"", i,
                      r->msg[i], t[k]);
}

static birch_options ro_opts(void)
{
    birch_options o = bt_opts();
    o.read_only = 1;
    return o;
}

/* A directory of its own under the test directory (mode 0755), for files
 * whose permissions or kind the tests set.  Remove it with rm_dir. */
static char *make_dir(const char *tag)
{
    char *d = bt_path(tag);
    ck_assert_msg(mkdir(d, 0755) == 0, "mkdir(%s): %s", d, strerror(errno));
    ck_assert_int_eq(chmod(d, 0755), 0); /* whatever the umask */
    return d;
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void rm_dir(char *dir)
{
    chmod(dir, 0755);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = join(dir, e->d_name);
        unlink(p);
        free(p);
    }
    closedir(d);
    ck_assert_msg(rmdir(dir) == 0, "rmdir(%s): %s", dir, strerror(errno));
    free(dir);
}

static void missing_dir_calls(void *arg, os_result *r)
{
    const char *dir = arg;
    birch_options o = bt_opts(), ro = ro_opts();
    birch_db *db = NULL;
    char *p = join(dir, "no-such-dir/x.db");
    rec(r, birch_open(p, &o, &db));  /* 0 */
    rec(r, birch_open(p, &ro, &db)); /* 1 */
    free(p);
    p = join(dir, "file.db/x.db"); /* a regular file used as a directory */
    rec(r, birch_open(p, &o, &db));  /* 2 */
    free(p);
    rec(r, birch_open(dir, &o, &db));  /* 3: the directory itself */
    rec(r, birch_open(dir, &ro, &db)); /* 4 */
    o.recreate = BIRCH_RECREATE_ALWAYS;
    rec(r, birch_open(dir, &o, &db)); /* 5 */
}

/* A path whose directory does not exist, a regular file in the middle of
 * a path, and a directory: specific codes, and details naming the path and
 * the operating system's reason. */
START_TEST(err_os_missing_dir_and_directory)
{
    char *dir = make_dir("osdir");
    char *file = join(dir, "file.db");
    birch_options o = bt_opts();
    make_base(file, &o);
    os_result r;
    run_child(missing_dir_calls, dir, 60, &r);
    expect_call(&r, 0, BIRCH_NOTFOUND, "no-such-dir/x.db", "No such file or directory", "does its directory exist");
    expect_call(&r, 1, BIRCH_NOTFOUND, "no-such-dir/x.db", "No such file or directory", NULL);
    expect_call(&r, 2, BIRCH_NOTFOUND, "file.db/x.db", "Not a directory", NULL);
    expect_call(&r, 3, BIRCH_ENOTDB, dir, "Is a directory", NULL);
    expect_call(&r, 4, BIRCH_ENOTDB, dir, "is a directory", NULL);
    expect_call(&r, 5, BIRCH_ENOTDB, dir, "Is a directory", NULL);
    expect_base_file(file);
    free(file);
    rm_dir(dir);
}
END_TEST

static void special_file_calls(void *arg, os_result *r)
{
    const char *path = arg;
    birch_options o = bt_opts(), ro = ro_opts();
    birch_db *db = NULL;
    rec(r, birch_open(path, &o, &db));
    rec(r, birch_open(path, &ro, &db));
    o.recreate = BIRCH_RECREATE_ALWAYS;
    rec(r, birch_open(path, &o, &db));
    rec(r, birch_compact(path, NULL, NULL, NULL));
}

static void expect_special(const char *path, const char *kind)
{
    os_result r;
    run_child(special_file_calls, (void *)path, 30, &r);
    for (int i = 0; i < 4; i++) expect_call(&r, i, BIRCH_ENOTDB, path, kind, "not a birch database file");
}

/* A FIFO with no writer (an open must neither block nor read it), a
 * socket (open(2) says ENXIO) and a device are refused as not databases,
 * by every call that opens a file. */
START_TEST(err_os_fifo_socket_device)
{
    char *dir = make_dir("osspecial");
    char *fifo = join(dir, "fifo.db");
    ck_assert_int_eq(mkfifo(fifo, 0644), 0);
    expect_special(fifo, "is a FIFO");

    char *sock = join(dir, "sock.db");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    ck_assert_uint_lt(strlen(sock), sizeof sa.sun_path);
    strcpy(sa.sun_path, sock);
    ck_assert_msg(bind(s, (struct sockaddr *)&sa, sizeof sa) == 0, "bind(%s): %s", sock, strerror(errno));
    expect_special(sock, "is a socket");
    close(s);

    struct stat st;
    ck_assert_msg(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode), "/dev/null is not a character device");
    expect_special("/dev/null", "is a device");
    ck_assert_msg(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode), "/dev/null was replaced");
    free(fifo);
    free(sock);
    rm_dir(dir);
}
END_TEST

/* Permission tests.  Files in dir: secret.db (mode 0000), readable.db
 * (0444); dir itself 0555.  Run as an unprivileged user: when the test
 * runs as root (as CI does), the child gives up root for uid/gid 65534
 * first, since root's permission checks pass whatever the mode. */
static void permission_calls(void *arg, os_result *r)
{
    const char *dir = arg;
    if (chdir(dir) != 0) {
        snprintf(r->note, sizeof r->note, "chdir(%s): %s", dir, strerror(errno));
        return;
    }
    if (geteuid() == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
            snprintf(r->note, sizeof r->note, "cannot give up root: %s", strerror(errno));
            return;
        }
    }
    snprintf(r->note, sizeof r->note, "running as uid %ld", (long)geteuid());
    birch_options o = bt_opts(), ro = ro_opts();
    birch_db *db = NULL;
    rec(r, birch_open("secret.db", &o, &db));             /* 0: no read or write permission */
    rec(r, birch_open("secret.db", &ro, &db));            /* 1 */
    rec(r, birch_open("readable.db", &o, &db));           /* 2: no write permission */
    rec(r, birch_open("new.db", &o, &db));                /* 3: no permission to create in dir */
    rec(r, birch_compact("secret.db", NULL, NULL, NULL)); /* 4 */
    int rc = birch_open("readable.db", &ro, &db);         /* 5: reading what one may read works */
    rec(r, rc);
    if (rc == BIRCH_OK) {
        rec(r, birch_copy(db, "copy.db", 0, NULL, NULL)); /* 6: no permission to create the copy */
        rec(r, birch_close(db));                          /* 7 */
    }
}

START_TEST(err_os_permission)
{
    char *dir = make_dir("osperm");
    char *secret = join(dir, "secret.db"), *readable = join(dir, "readable.db");
    birch_options o = bt_opts();
    make_base(secret, &o);
    make_base(readable, &o);
    ck_assert_int_eq(chmod(secret, 0000), 0);
    ck_assert_int_eq(chmod(readable, 0444), 0);
    ck_assert_int_eq(chmod(dir, 0555), 0);
    os_result r;
    run_child(permission_calls, dir, 60, &r);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_int_eq(chmod(secret, 0644), 0);
    ck_assert_int_eq(chmod(readable, 0644), 0);
    expect_call(&r, 0, BIRCH_EACCES, "secret.db", "Permission denied", NULL);
    expect_call(&r, 1, BIRCH_EACCES, "secret.db", "Permission denied", "the file's permissions");
    expect_call(&r, 2, BIRCH_EACCES, "readable.db", "Permission denied", NULL);
    expect_call(&r, 3, BIRCH_EACCES, "new.db", "Permission denied", "directory");
    expect_call(&r, 4, BIRCH_EACCES, "secret.db", "Permission denied", NULL);
    expect_call(&r, 5, BIRCH_OK, NULL, NULL, NULL);
    expect_call(&r, 6, BIRCH_EACCES, "copy.db", "Permission denied", NULL);
    expect_call(&r, 7, BIRCH_OK, NULL, NULL, NULL);
    /* Nothing was changed or created. */
    expect_base_file(secret);
    expect_base_file(readable);
    char *copy = join(dir, "copy.db"), *created = join(dir, "new.db");
    ck_assert_int_ne(access(copy, F_OK), 0);
    ck_assert_int_ne(access(created, F_OK), 0);
    free(copy);
    free(created);
    free(secret);
    free(readable);
    rm_dir(dir);
}
END_TEST

/* Read-only file systems.  The child makes one where it can: a tmpfs
 * mounted in a mount namespace of its own (as root, or as the root of a
 * new user namespace), holding a database, then remounted read-only.  The
 * namespace, and the mount, die with the child.  Where neither is allowed
 * (a container without CAP_SYS_ADMIN and without user namespaces), it
 * looks for a read-only mount the machine already has (containers mount
 * /sys and parts of /proc read-only) and creates, or opens for writing,
 * a file there.  The note says which way was taken. */
static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int private_tmpfs(const char *dir)
{
    if (geteuid() == 0) {
        if (unshare(CLONE_NEWNS) != 0) return -1;
    } else {
        char map[64];
        uid_t uid = geteuid();
        gid_t gid = getegid();
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return -1;
        snprintf(map, sizeof map, "0 %ld 1", (long)uid);
        if (write_file("/proc/self/uid_map", map) != 0) return -1;
        if (write_file("/proc/self/setgroups", "deny") != 0) return -1;
        snprintf(map, sizeof map, "0 %ld 1", (long)gid);
        if (write_file("/proc/self/gid_map", map) != 0) return -1;
    }
    /* Private first, so that nothing mounted here reaches the parent's
     * namespace through shared propagation. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return -1;
    return mount("birch-test", dir, "tmpfs", 0, "size=8m,mode=0755");
}

static void rofs_namespace_calls(const char *dir, os_result *r)
{
    char *db_path = join(dir, "ro.db"), *fresh = join(dir, "fresh.db"), *copy = join(dir, "copy.db");
    birch_options o = bt_opts(), ro = ro_opts();
    birch_db *db = NULL;
    int rc = birch_open(db_path, &o, &db);
    if (rc == BIRCH_OK) {
        birch_txn *w = NULL;
        birch_table *t = NULL;
        rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &w);
        if (rc == BIRCH_OK) rc = birch_table_open(w, "t", BIRCH_CREATE, &t);
        if (rc == BIRCH_OK) rc = birch_put(w, t, bt_str("k"), bt_str("v"), 0);
        rc = rc == BIRCH_OK ? birch_txn_commit(w) : (birch_txn_abort(w), rc);
        int crc = birch_close(db);
        if (rc == BIRCH_OK) rc = crc;
    }
    if (rc == BIRCH_OK && mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL) != 0) rc = -1000 - errno;
    if (rc != BIRCH_OK) {
        snprintf(r->note, sizeof r->note, "preparing the read-only tmpfs failed: %d (%s)", rc, birch_errmsg());
    } else {
        rec(r, birch_open(db_path, &o, &db));                 /* 0: the existing file, for writing */
        rec(r, birch_open(fresh, &o, &db));                   /* 1: a new file */
        rec(r, birch_compact(db_path, NULL, NULL, NULL));     /* 2 */
        rc = birch_open(db_path, &ro, &db);                   /* 3: reading works */
        rec(r, rc);
        if (rc == BIRCH_OK) {
            birch_txn *t = NULL;
            birch_table *tab = NULL;
            birch_val v = {NULL, 0};
            int g = birch_txn_begin(db, BIRCH_TXN_READ, &t);
            if (g == BIRCH_OK) g = birch_table_open(t, "t", 0, &tab);
            if (g == BIRCH_OK) g = birch_get(t, tab, bt_str("k"), &v);
            if (g == BIRCH_OK && (v.size != 1 || memcmp(v.data, "v", 1))) g = BIRCH_ECORRUPT;
            birch_txn_abort(t);
            rec(r, g);                                        /* 4 */
            rec(r, birch_copy(db, copy, 0, NULL, NULL));      /* 5: no copy on a read-only file system */
            rec(r, birch_close(db));                          /* 6 */
        }
        snprintf(r->note, sizeof r->note, "namespace");
    }
    free(db_path);
    free(fresh);
    free(copy);
}

/* A read-only mount the machine has: r->note becomes "existing <path>"
 * and the calls are a create under it and, if it holds a regular file at
 * its top, an open of that file for writing. */
static void rofs_existing_calls(os_result *r)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f) return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        /* id parent major:minor root mount-point mount-options ... - type source super-options */
        char mnt[1024], opts[1024];
        if (sscanf(line, "%*s %*s %*s %*s %1023s %1023s", mnt, opts) != 2) continue;
        char *sep = strstr(line, " - ");
        char super[1024] = "";
        if (sep && sscanf(sep, " - %*s %*s %1023s", super) != 1) super[0] = 0;
        int ro = 0;
        for (char *tok = strtok(opts, ","); tok; tok = strtok(NULL, ",")) ro |= strcmp(tok, "ro") == 0;
        for (char *tok = strtok(super, ","); tok; tok = strtok(NULL, ",")) ro |= strcmp(tok, "ro") == 0;
        struct stat st;
        if (!ro || strchr(mnt, '\\') || stat(mnt, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/birch-rofs-test-%ld.db", strcmp(mnt, "/") ? mnt : "", (long)getpid());
        birch_options o = bt_opts();
        birch_db *db = NULL;
        int rc = birch_open(path, &o, &db);
        if (rc == BIRCH_OK) birch_close(db); /* not read-only after all */
        if (rc != BIRCH_EREADONLY) continue;
        r->n = 0;
        rec(r, rc);
        snprintf(r->note, sizeof r->note, "existing %.180s", path);
        DIR *d = opendir(mnt);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            snprintf(path, sizeof path, "%s/%.256s", strcmp(mnt, "/") ? mnt : "", e->d_name);
            if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
            rec(r, birch_open(path, &o, &db)); /* refused before anything is read or written */
            if (r->rc[1] == BIRCH_OK) birch_close(db);
            snprintf(r->note, sizeof r->note, "existing %.180s", path);
            break;
        }
        if (d) closedir(d);
        break;
    }
    fclose(f);
}

static void rofs_calls(void *arg, os_result *r)
{
    const char *dir = arg;
    if (private_tmpfs(dir) == 0) {
        rofs_namespace_calls(dir, r);
        return;
    }
    rofs_existing_calls(r);
}

START_TEST(err_os_readonly_fs)
{
    char *dir = make_dir("osrofs");
    os_result r;
    run_child(rofs_calls, dir, 120, &r);
    if (strcmp(r.note, "namespace") == 0) {
        expect_call(&r, 0, BIRCH_EREADONLY, "ro.db", "Read-only file system", "open it read-only");
        expect_call(&r, 1, BIRCH_EREADONLY, "fresh.db", "Read-only file system", NULL);
        expect_call(&r, 2, BIRCH_EREADONLY, "ro.db", "Read-only file system", NULL);
        expect_call(&r, 3, BIRCH_OK, NULL, NULL, NULL);
        expect_call(&r, 4, BIRCH_OK, NULL, NULL, NULL);
        expect_call(&r, 5, BIRCH_EREADONLY, "copy.db", "Read-only file system", NULL);
        expect_call(&r, 6, BIRCH_OK, NULL, NULL, NULL);
    } else if (strncmp(r.note, "existing ", 9) == 0) {
        fprintf(stderr, "err_os_readonly_fs: no mount namespace here; used the read-only mount of %s\n", r.note + 9);
        expect_call(&r, 0, BIRCH_EREADONLY, "birch-rofs-test", "Read-only file system", "open it read-only");
        if (r.n > 1) expect_call(&r, 1, BIRCH_EREADONLY, "Read-only file system", NULL, NULL);
    } else {
        /* Neither a namespace nor a read-only mount: the open path cannot
         * meet EROFS on this machine.  err_os_open_error_mapping checks the
         * mapping EROFS -> BIRCH_EREADONLY that open would apply. */
        fprintf(stderr, "err_os_readonly_fs: no mount namespace and no read-only mount on this machine (%s); "
                        "only the EROFS mapping is checked\n", r.note);
        int rc = bi_io_posix_open_error(EROFS, "/ro/x.db", 1);
        ck_assert_int_eq(rc, BIRCH_EREADONLY);
        BT_ERRMSG_HAS("Read-only file system");
    }
    rm_dir(dir);
}
END_TEST

/* Every errno the open path maps, including those a test machine cannot
 * provoke (ENOSPC, EDQUOT, ENOMEM, ELOOP): the code and a detail naming
 * the path and the system's reason. */
START_TEST(err_os_open_error_mapping)
{
    static const struct {
        int e, create, rc;
        const char *text;
    } cases[] = {
        {EACCES, 1, BIRCH_EACCES, "Permission denied"},
        {EPERM, 0, BIRCH_EACCES, "not permitted"},
        {EROFS, 1, BIRCH_EREADONLY, "Read-only file system"},
        {ENOENT, 1, BIRCH_NOTFOUND, "does its directory exist"},
        {ENOENT, 0, BIRCH_NOTFOUND, "No such file"},
        {ENOTDIR, 0, BIRCH_NOTFOUND, "Not a directory"},
        {EISDIR, 1, BIRCH_ENOTDB, "Is a directory"},
        {ENOSPC, 1, BIRCH_EFULL, "No space left"},
        {EDQUOT, 1, BIRCH_EFULL, "quota"},
        {ENOMEM, 0, BIRCH_ENOMEM, "memory"},
        {ENAMETOOLONG, 0, BIRCH_EINVAL, "too long"},
        {ELOOP, 0, BIRCH_EINVAL, "symbolic links"},
        {ENXIO, 0, BIRCH_EIO, "No such device or address"}, /* a path that is not a socket */
        {EIO, 0, BIRCH_EIO, "Input/output error"},
        {EMFILE, 0, BIRCH_EIO, "Too many open files"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = bi_io_posix_open_error(cases[i].e, "/some/dir/x.db", cases[i].create);
        ck_assert_msg(rc == cases[i].rc, "errno %d gave %d (%s)", cases[i].e, rc, birch_errmsg());
        BT_ERRMSG_HAS("/some/dir/x.db");
        BT_ERRMSG_HAS(cases[i].text);
    }
}
END_TEST

/* ---- The free list names a page in use -------------------------------------- */

/* A file image in memory. */
typedef struct image {
    unsigned char *b;
    uint64_t size;
    uint32_t ps;
} image;

static unsigned char *ipage(image *im, uint64_t pgno)
{
    ck_assert_msg(pgno >= BI_META_PAGES && (pgno + 1) * im->ps <= im->size, "page %" PRIu64 " outside the image", pgno);
    return im->b + pgno * im->ps;
}

static bi_meta *imeta(image *im, int slot) { return (bi_meta *)(void *)(im->b + (uint64_t)slot * im->ps); }

/* The root page of table name, from the catalog. */
static uint64_t table_root(image *im, const bi_meta *m, const char *name)
{
    uint64_t pg = m->catalog.root;
    size_t len = strlen(name);
    for (int depth = 0; depth < BI_MAX_DEPTH; depth++) {
        uint8_t *page = ipage(im, pg);
        unsigned n = bi_nkeys(page), i;
        if (!bi_is_leaf(page)) { /* the last child whose separator is <= name */
            for (i = 1; i < n && bi_key_cmp(bi_node_key(page, i), bi_node_klen(page, i), (const uint8_t *)name, len) <= 0;)
                i++;
            pg = bi_branch_child(page, i - 1);
            continue;
        }
        for (i = 0; i < n; i++) {
            if (bi_node_klen(page, i) != len || memcmp(bi_node_key(page, i), name, len)) continue;
            bi_table_rec rec;
            memcpy(&rec, bi_leaf_val(page, i), sizeof rec);
            return rec.tree.root;
        }
        break;
    }
    ck_abort_msg("table %s not found in the catalog", name);
    return 0;
}

/* Appends one operation (opcode and nargs arguments) to the body of the
 * free-space map's newest record, before its end mark. */
static void map_append(image *im, const bi_meta *m, const uint64_t *op, int nargs)
{
    ck_assert_uint_ne(m->freemap.root, 0);
    uint8_t *p = ipage(im, m->freemap.root);
    bi_fmrec f;
    memcpy(&f, p + BI_HDR, sizeof f);
    uint8_t *end = p + BI_HDR + sizeof f + f.body_len - 1; /* the end mark */
    ck_assert_uint_eq(*end, BI_FMOP_END);
    uint8_t enc[64];
    size_t n = 0;
    for (int i = 0; i <= nargs; i++)
        for (uint64_t x = op[i];; ) {
            uint8_t c = x & 0x7f;
            x >>= 7;
            enc[n++] = (uint8_t)(c | (x ? 0x80 : 0));
            if (!x) break;
        }
    ck_assert_uint_le(BI_HDR + sizeof f + f.body_len + n, m->freemap.count * im->ps);
    memcpy(end, enc, n);
    end[n] = BI_FMOP_END;
    f.body_len += n;
    memcpy(p + BI_HDR, &f, sizeof f);
}

/* After the map's newest record changed: its checksum into every meta
 * that names it, as a birch that wrote the record would have done.  The
 * file is then damaged only in what the record says. */
static void reseal_map(image *im, uint64_t root)
{
    for (int slot = 0; slot < 2; slot++) {
        bi_meta *m = imeta(im, slot);
        if (m->freemap.root != root) continue;
        m->freemap.csum = bi_sum(ipage(im, root), m->freemap.count * im->ps);
        bi_meta_seal(m);
    }
}

/* Table "base" and table "victim", then deletes over a few commits so
 * that the free tree holds records; closed cleanly (so open verifies no
 * page: the damage below is met by the writer, not at open). */
static void make_free_base(const char *path)
{
    birch_options o = bt_opts();
    make_base(path, &o);
    birch_db *db = bt_open(path, &o);
    for (int c = 0; c < 3; c++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *v = bt_table(w, "victim", BIRCH_CREATE), *b = bt_table(w, "base", 0);
        char k[32];
        for (int i = 0; i < 300; i++) {
            snprintf(k, sizeof k, "victim-%04d-%d", i, c);
            bt_put_s(w, v, k, k);
        }
        for (int i = c; i < BASE_KEYS; i += 7) {
            base_key(i, k, sizeof k);
            BT_OK(birch_put(w, b, bt_str(k), bt_str(k), 0)); /* rewritten: its old pages are freed */
        }
        BT_OK(birch_txn_commit(w));
    }
    BT_OK(birch_close(db));
}

/* A write transaction on the damaged file: a put into table `first` if
 * not NULL, then puts of 1000-byte values into table `into` (enough to use
 * up the first free record), then a put of key "a" into table `last` if
 * not NULL, until one fails; the failure (or else the commit's, which
 * at_commit requires) must be BIRCH_ECORRUPT with a detail mentioning
 * want, the commit must not happen, and the file must be unchanged, byte
 * for byte. */
static void expect_write_refused(const char *path, const char *first, const char *into, const char *last,
                                 const char *want, int at_commit)
{
    uint64_t size0;
    unsigned char *before = slurp(path, &size0);
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, into, 0);
    char k[32], v[1000];
    memset(v, 'v', sizeof v);
    int rc = first ? birch_put(w, bt_table(w, first, 0), bt_str("new-first"), bt_str("v"), 0) : BIRCH_OK;
    for (int i = 0; i < 200 && rc == BIRCH_OK; i++) {
        snprintf(k, sizeof k, "new-%04d", i);
        rc = birch_put(w, t, bt_str(k), bt_val(v, sizeof v), 0);
    }
    if (rc == BIRCH_OK && last) rc = birch_put(w, bt_table(w, last, 0), bt_str("a"), bt_str("v"), 0);
    ck_assert_msg(!at_commit || rc == BIRCH_OK, "a put returned %d (%s); the commit was to find it", rc,
                  birch_errmsg());
    if (rc == BIRCH_OK) {
        rc = birch_txn_commit(w);
        ck_assert_msg(rc == BIRCH_ECORRUPT, "the commit returned %d (%s)", rc, birch_errmsg());
        BT_ERRMSG_HAS(want);
    } else {
        ck_assert_msg(rc == BIRCH_ECORRUPT, "a put returned %d (%s)", rc, birch_errmsg());
        BT_ERRMSG_HAS(want);
        BT_ERRMSG_HAS("damaged file");
        BT_RC(birch_txn_commit(w), BIRCH_ETXN);
    }
    /* No commit happened: a reader sees none of the puts. */
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_absent(r, bt_table(r, into, 0), "new-0000", 8);
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    uint64_t size1;
    unsigned char *after = slurp(path, &size1);
    ck_assert_uint_eq(size0, size1);
    ck_assert_msg(memcmp(before, after, size0) == 0, "the refused transaction changed the file");
    free(before);
    free(after);
}

/* A free-space map that names a page still in use is caught by the first
 * write transaction that meets it, which fails with BIRCH_ECORRUPT before
 * it commits, leaving the file as it was:
 *   0 damaged  a byte of the newest record changed (as a disk or a stray
 *              write would change it): its checksum fails when the writer
 *              loads the map, whatever table it changes;
 *   1 sealed   the record frees the root of table "victim", checksums
 *              right (as a bug in birch that wrote it would leave it), and
 *              the writer changes "victim": the page is free when the tree
 *              frees it (or handed out for its own copy);
 *   2 twice    the record frees a page it already listed, checksums right;
 *   3 later    the record lists the root of "victim" as pending (freed by
 *              the last commit); the writer's first allocation finds no
 *              free page and reclaims the pending ones, so when the copy
 *              of the root frees it, the page is free already;
 *   4 reached  the record frees the first leaf of "victim"; the writer
 *              uses the free pages for table "base", then puts into that
 *              leaf of "victim": its search reaches a page written in this
 *              transaction through a parent that was not (or, if the page
 *              became a branch of "base", a page of the wrong level). */
START_TEST(err_corrupt_free_list_names_live_page)
{
    for (int variant = 0; variant < 5; variant++) {
        char *path = bt_path("freelive");
        make_free_base(path);
        image im;
        im.ps = 4096;
        im.b = slurp(path, &im.size);
        int slot = bt_meta_current(path);
        bi_meta *m = imeta(&im, slot);
        uint64_t live = table_root(&im, m, "victim");
        if (variant == 4) { /* the first leaf below the root */
            uint8_t *root = ipage(&im, live);
            ck_assert_msg(!bi_is_leaf(root), "table victim is one page");
            live = bi_branch_child(root, 0);
            ck_assert(bi_is_leaf(ipage(&im, live)));
        }
        if (variant == 0) {
            ipage(&im, m->freemap.root)[BI_HDR + sizeof(bi_fmrec)] ^= 0x40;
        } else if (variant == 2) {
            uint64_t op[] = {BI_FMOP_FREE, live, 1};
            map_append(&im, m, op, 2);
            map_append(&im, m, op, 2);
        } else if (variant == 3) {
            uint64_t op[] = {BI_FMOP_PEND, m->txnid << 1 | 1, live, 1};
            map_append(&im, m, op, 3);
        } else {
            uint64_t op[] = {BI_FMOP_FREE, live, 1};
            map_append(&im, m, op, 2);
        }
        if (variant > 0) {
            m->free_pages += variant == 2 ? 2 : 1;
            bi_meta_seal(m);
            reseal_map(&im, m->freemap.root);
        }
        bt_file_write(path, im.b, im.size, 0);
        free(im.b);
        /* birch_check sees it too. */
        birch_options o = bt_opts();
        birch_db *db = bt_open(path, &o);
        BT_RC(birch_check(db, NULL, 0), BIRCH_ECORRUPT);
        BT_OK(birch_close(db));
        if (variant == 0) expect_write_refused(path, NULL, "base", NULL, "checksum mismatch", 0);
        else if (variant == 1) expect_write_refused(path, NULL, "victim", NULL, "free-space map", 0);
        else if (variant == 2) expect_write_refused(path, NULL, "base", NULL, "freed again while free", 0);
        else if (variant == 3) expect_write_refused(path, "victim", "base", NULL, "a tree still used it", 0);
        else expect_write_refused(path, NULL, "base", "victim", "page", 0);
        bt_remove(path);
        free(path);
    }
}
END_TEST

/* ---- birch_errmsg is per thread ---------------------------------------------- */

typedef struct errmsg_arg {
    birch_db *db;
    int which;
    pthread_barrier_t *bar;
    char fail[256];
} errmsg_arg;

/* Fails in its own way, again and again, in step with the other thread,
 * and checks after each failure that the detail is its own. */
static void *errmsg_thread(void *p)
{
    errmsg_arg *a = p;
    birch_options bad = bt_opts();
    bad.page_size = 3000;
    for (int i = 0; i < 2000 && !a->fail[0]; i++) {
        pthread_barrier_wait(a->bar);
        int rc;
        const char *want;
        if (a->which == 0) {
            birch_db *db = NULL;
            rc = birch_open("/nonexistent-dir/x.db", &bad, &db);
            want = "page_size 3000";
        } else {
            birch_txn *t = NULL;
            rc = birch_txn_begin(a->db, 0x40, &t);
            want = "unknown flags 0x40";
        }
        pthread_barrier_wait(a->bar); /* both have failed: now each reads */
        if (rc != BIRCH_EINVAL || !strstr(birch_errmsg(), want))
            snprintf(a->fail, sizeof a->fail, "thread %d round %d: %d, \"%s\"", a->which, i, rc, birch_errmsg());
    }
    return NULL;
}

/* Calls that succeed leave the detail alone: a successful open, commit
 * and read after a failure still show the failure's detail (nothing inside
 * them records a spurious one, e.g. while choosing the meta page). */
START_TEST(err_errmsg_success_leaves_it)
{
    char *path = bt_path("succ");
    birch_db *db = bt_open(path, NULL);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    BT_OK(birch_put(w, t, bt_str("k"), bt_str("v"), 0));
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db));
    BT_RC(birch_txn_begin(NULL, BIRCH_TXN_READ, NULL), BIRCH_EINVAL);
    char before[512];
    snprintf(before, sizeof before, "%s", birch_errmsg());
    db = bt_open(path, NULL); /* reopen: chooses and verifies a meta */
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *rt = bt_table(r, "t", 0);
    birch_val v;
    BT_OK(birch_get(r, rt, bt_str("k"), &v));
    birch_txn_abort(r);
    ck_assert_str_eq(birch_errmsg(), before);
    BT_OK(birch_close(db));
    free(path);
}
END_TEST

START_TEST(err_errmsg_per_thread)
{
    char *path = bt_path("errmsg");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    birch_txn *t = NULL;
    BT_RC(birch_txn_begin(db, 0x80, &t), BIRCH_EINVAL); /* this thread's own detail */
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    errmsg_arg a[2] = {{db, 0, &bar, ""}, {db, 1, &bar, ""}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, errmsg_thread, &a[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&bar);
    ck_assert_msg(!a[0].fail[0], "%s", a[0].fail);
    ck_assert_msg(!a[1].fail[0], "%s", a[1].fail);
    BT_ERRMSG_HAS("unknown flags 0x80"); /* untouched by the threads */
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- Successful calls leave birch_errmsg() alone (issue 11) -------------- */

/* The detail every successful call below must leave: a formatted message
 * (in err.c's buffers, which a probe's message could overwrite). */
static const char *const KNOWN_ERR = "birch_stream_resume_key: s is NULL";

static void set_known_error(void)
{
    BT_RC(birch_stream_resume_key(NULL, NULL, 0, NULL), BIRCH_EINVAL);
    ck_assert_str_eq(birch_errmsg(), KNOWN_ERR);
}

/* Every call that changed the detail, listed, then the known error again
 * so that the next call is judged on its own. */
static char changed[4096];

static void leaves_errmsg(int rc, const char *call, int line)
{
    ck_assert_msg(rc >= 0, "line %d: %s returned %d (%s)", line, call, rc, birch_errmsg());
    if (strcmp(birch_errmsg(), KNOWN_ERR) == 0) return;
    size_t n = strlen(changed);
    snprintf(changed + n, sizeof changed - n, "\n  line %d: %s set '%s'", line, call, birch_errmsg());
    set_known_error();
}
#define LEAVES(expr) leaves_errmsg((expr), #expr, __LINE__)

static int count_name(const char *name, void *ctx)
{
    (void)name;
    ++*(int *)ctx;
    return 0;
}

static int count_item(const birch_item *it, void *ctx)
{
    (void)it;
    ++*(int *)ctx;
    return 0;
}

/* Successful calls that get there through an internal failure they
 * recover from: open creating the file (its probe: the file is missing),
 * open falling back to the older meta, table and typed-table creation
 * (the catalog lookup misses), puts into an empty tree, typed contains
 * and delete of an absent key, streams and lists that end at
 * BIRCH_NOTFOUND, a batch into an empty table, commits that allocate from
 * the free list, cursors re-seeking after a change, copy and compact. */
START_TEST(err_errmsg_success_paths_leave_it)
{
    changed[0] = 0;
    char *path = bt_path("succ-paths");
    bt_remove(path);
    birch_options o = bt_opts();
    birch_db *db = NULL;
    set_known_error();
    LEAVES(birch_open(path, &o, &db)); /* creates the file */

    birch_txn *w = NULL;
    birch_table *t = NULL, *raw = NULL;
    LEAVES(birch_txn_begin(db, BIRCH_TXN_WRITE, &w));
    LEAVES(birch_table_open(w, "t", BIRCH_CREATE, &t));
    LEAVES(birch_table_open(w, "raw", BIRCH_CREATE, &raw)); /* no schema: a reader may type it */
    LEAVES(birch_put(w, t, bt_str("k0"), bt_str("v0"), 0)); /* into an empty tree */
    char k[32];
    for (int i = 1; i < 300; i++) {
        snprintf(k, sizeof k, "k%03d", i);
        BT_OK(birch_put(w, t, bt_str(k), bt_str("a value long enough to fill a few pages"), 0));
    }
    LEAVES(birch_txn_commit(w));

    birch_typed ty, tr;
    LEAVES(birch_typed_open(db, NULL, "typed", &birch_key_u64, &birch_value_bytes, BIRCH_CREATE, &ty));
    LEAVES(birch_typed_open(db, NULL, "raw", &birch_key_u64, &birch_value_bytes, 0, &tr));
    uint64_t keys[3] = {10, 11, 12}, absent = 99;
    birch_val vals[3] = {bt_str("a"), bt_str("b"), bt_str("c")};
    LEAVES(birch_typed_put_batch(NULL, &ty, 3, keys, vals)); /* into an empty table */
    LEAVES(birch_typed_contains(NULL, &ty, &absent));
    LEAVES(birch_typed_contains(NULL, &ty, &keys[0]));
    LEAVES(birch_typed_delete(NULL, &ty, &absent));
    LEAVES(birch_typed_delete(NULL, &ty, &keys[2]));
    LEAVES(birch_typed_put(NULL, &ty, &keys[2], &vals[2], 0));
    birch_guard g;
    memset(&g, 0, sizeof g);
    LEAVES(birch_typed_get(NULL, &ty, &keys[1], &g));
    LEAVES(birch_guard_release(&g));

    int n = 0;
    birch_stream_opts all = {0};
    LEAVES(birch_stream_each(NULL, &ty, &all, count_item, &n));
    ck_assert_int_eq(n, 3);
    uint64_t got[4];
    size_t ng = 0;
    LEAVES(birch_stream_collect(NULL, &ty, &all, got, NULL, 4, &ng));
    ck_assert_uint_eq(ng, 3);
    uint64_t hi = 1000; /* beyond every key: the reverse stream's seek misses */
    birch_stream_opts so = {.hi = &hi, .hi_bound = BIRCH_INCLUSIVE, .reverse = 1};
    birch_stream *s = NULL;
    birch_item it;
    LEAVES(birch_stream_open(NULL, &ty, &so, &s));
    LEAVES(birch_stream_next(s, &it));
    ck_assert_uint_eq(*(const uint64_t *)it.key, 12);
    birch_stream_close(s);

    /* Deletes, then commits that reuse the freed pages; a cursor that
     * moves after the records under it changed. */
    LEAVES(birch_txn_begin(db, BIRCH_TXN_WRITE, &w));
    LEAVES(birch_table_open(w, "t", 0, &t));
    for (int i = 1; i < 300; i += 2) {
        snprintf(k, sizeof k, "k%03d", i);
        BT_OK(birch_del(w, t, bt_str(k)));
    }
    LEAVES(birch_txn_commit(w));
    for (int round = 0; round < 3; round++) {
        LEAVES(birch_txn_begin(db, BIRCH_TXN_WRITE, &w));
        LEAVES(birch_table_open(w, "t", 0, &t));
        birch_cursor *c = NULL;
        LEAVES(birch_cursor_open(w, t, &c));
        LEAVES(birch_cursor_first(c));
        for (int i = 1; i < 300; i += 2) {
            snprintf(k, sizeof k, "k%03d", i);
            BT_OK(birch_put(w, t, bt_str(k), bt_str(round ? "again" : "back"), 0));
        }
        LEAVES(birch_cursor_next(c));
        LEAVES(birch_cursor_prev(c));
        birch_cursor_close(c);
        LEAVES(birch_txn_commit(w));
    }
    n = 0;
    LEAVES(birch_txn_begin(db, BIRCH_TXN_READ, &w));
    LEAVES(birch_table_list(w, count_name, &n));
    ck_assert_int_eq(n, 3);
    birch_txn_abort(w);
    /* A rename (the new name's lookup misses) and back; a table's stat. */
    LEAVES(birch_txn_begin(db, BIRCH_TXN_WRITE, &w));
    LEAVES(birch_table_rename(w, "raw", "raw2"));
    LEAVES(birch_table_rename(w, "raw2", "raw"));
    struct birch_table_stat ts;
    LEAVES(birch_table_stat(w, t, &ts));
    LEAVES(birch_table_stat(w, raw, &ts)); /* an empty tree */
    LEAVES(birch_txn_commit(w));
    LEAVES(birch_txn_begin(db, BIRCH_TXN_WRITE, &w));
    LEAVES(birch_table_drop(w, "raw")); /* an empty tree */
    LEAVES(birch_txn_commit(w));
    char msg[128];
    LEAVES(birch_check(db, msg, sizeof msg));
    LEAVES(birch_sync(db));
    char *copy = bt_path("succ-paths-copy");
    bt_remove(copy);
    LEAVES(birch_copy(db, copy, 0, NULL, NULL));
    LEAVES(birch_close(db));
    LEAVES(birch_compact(path, &o, NULL, NULL));

    /* The newest meta damaged: open falls back to the other one. */
    int cur = bt_meta_current(path);
    bi_meta m;
    bt_meta_read(path, cur, &m);
    m.txnid ^= 1;
    bt_meta_write(path, cur, &m, 0);
    db = NULL;
    o.read_only = 1;
    LEAVES(birch_open(path, &o, &db));
    LEAVES(birch_close(db));

    ck_assert_msg(changed[0] == 0, "successful calls changed birch_errmsg():%s", changed);
    bt_remove(copy);
    free(copy);
    bt_remove(path);
    free(path);
}
END_TEST

/* A commit whose growth step does not fit (here: RLIMIT_FSIZE, the step
 * of at least 1 MiB refused with EFBIG) falls back to the pages it needs,
 * and succeeds: the refused step is no failure of it. */
START_TEST(err_errmsg_growth_fallback_leaves_it)
{
    changed[0] = 0;
    char *path = bt_path("succ-grow");
    birch_options o = bt_opts();
    make_base(path, &o);
    birch_db *db = bt_open(path, &o);
    struct rlimit old, rl;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    rl = old;
    rl.rlim_cur = (rlim_t)(bt_file_size(path) + (512u << 10)); /* room for the pages, not the step */
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of the signal */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    unsigned char v[4000];
    memset(v, 'g', sizeof v);
    char k[32];
    int grew = 0;
    for (int c = 0; c < 20 && !grew; c++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "grow", BIRCH_CREATE);
        for (int i = 0; i < 25; i++) {
            snprintf(k, sizeof k, "%05d-%02d", c, i);
            BT_OK(birch_put(w, t, bt_str(k), bt_val(v, sizeof v), 0));
        }
        uint64_t before = bt_file_size(path);
        set_known_error();
        LEAVES(birch_txn_commit(w));
        grew = bt_file_size(path) > before;
    }
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_sig);
    ck_assert_msg(grew, "no commit grew the file");
    ck_assert_msg(changed[0] == 0, "successful calls changed birch_errmsg():%s", changed);
    expect_base(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- Format calls record their own detail (issue 11) --------------------- */

/* A failing format call (formats/) must replace the known, unrelated
 * detail with its own, naming what was wrong; a successful one must leave
 * it.  One representative failure or two per format file. */

#define FMTERR_FIELDS(X) X(string, name) X(bool, ok)
BIRCH_ARCHIVE(FmtErr, 1, FMTERR_FIELDS);

#define FmtTiny_FIELDS(_) _(STRING, FmtTiny, label, 0)
BIRCH_FB_TABLE(FmtTiny, "TINY", FmtTiny_FIELDS);

typedef struct fmt_pair {
    uint32_t a, b;
} fmt_pair;
BIRCH_POD_FORMAT(fmt_pair_format, fmt_pair, 1);

/* expr fails with want, and birch_errmsg() is no longer the known detail
 * but one that mentions text. */
#define FMT_FAILS(expr, want, text)                                                                   \
    do {                                                                                          \
        set_known_error();                                                                        \
        BT_RC((expr), (want));                                                                    \
        ck_assert_msg(strcmp(birch_errmsg(), KNOWN_ERR) != 0, "%s left birch_errmsg() as it was", #expr); \
        BT_ERRMSG_HAS(text);                                                                      \
    } while (0)

START_TEST(err_errmsg_archive_failures)
{
    size_t sz = 0;
    FMT_FAILS(birch_archive_measure(NULL, NULL, &sz), BIRCH_EINVAL, "birch_archive_measure: schema is NULL");
    const birch_archive_type *t = &FmtErr_archive.type;
    FmtErr_src src = {bt_str("ok"), true};
    uint8_t bad_bool = 2;
    memcpy(&src.ok, &bad_bool, 1); /* a bool object holding 2 (the builder reads its byte) */
    FMT_FAILS(birch_archive_measure(t, &src, &sz), BIRCH_EINVAL, "archive FmtErr.ok: bool holds a byte other than 0 or 1");
    src.ok = true;
    src.name = (birch_val){"\xff", 1};
    FMT_FAILS(birch_archive_measure(t, &src, &sz), BIRCH_EINVAL, "archive FmtErr.name: string is not valid UTF-8");
    _Alignas(8) uint8_t buf[64] = {0};
    FMT_FAILS(birch_archive_write(t, &src, buf, 1), BIRCH_EINVAL, "birch_archive_write: 1 bytes, less than");
    /* The verifier, with no msg buffer: birch_errmsg() still says why. */
    FMT_FAILS(birch_archive_check(t, buf, 3, NULL, 0), BIRCH_EFORMAT, "archive FmtErr: buffer of 3 bytes is shorter");
    /* With one: the same text in both. */
    char msg[200];
    FMT_FAILS(birch_archive_check(t, buf, 3, msg, sizeof msg), BIRCH_EFORMAT, "is shorter than the FmtErr struct");
    ck_assert_str_eq(msg, birch_errmsg());
}
END_TEST

START_TEST(err_errmsg_key_failures)
{
    uint8_t out[32];
    size_t len = 0;
    birch_val bad = {"\xff", 1};
    FMT_FAILS(birch_key_encode(&birch_key_string, &bad, out, sizeof out, &len), BIRCH_EINVAL,
              "birch_key_encode: a string element is not valid UTF-8");
    uint8_t two = 2;
    FMT_FAILS(birch_key_encode(&birch_key_bool, &two, out, sizeof out, &len), BIRCH_EINVAL,
              "a bool element holds a byte other than 0 or 1");
    uint64_t u = 7;
    FMT_FAILS(birch_key_encode(&birch_key_u64, &u, out, 4, &len), BIRCH_EKEYSIZE, "does not fit in cap bytes");
    ck_assert_uint_eq(len, 8);
    FMT_FAILS(birch_key_decode(&birch_key_u64, out, 3, &u, NULL, 0), BIRCH_EFORMAT,
              "birch_key_decode: the key ends inside a number");
    bool b;
    FMT_FAILS(birch_key_decode(&birch_key_bool, &two, 1, &b, NULL, 0), BIRCH_EFORMAT, "a bool byte other than 0 or 1");
    FMT_FAILS(birch_key_decode(NULL, out, 1, &b, NULL, 0), BIRCH_EINVAL, "birch_key_decode: the key format is NULL");
    char name[2];
    FMT_FAILS(birch_key_name(&birch_key_string, name, sizeof name), BIRCH_EINVAL,
              "birch_key_name: the name does not fit in 2 bytes");
}
END_TEST

START_TEST(err_errmsg_value_failures)
{
    uint8_t data[16] = {0};
    FMT_FAILS(birch_pod_verify(&fmt_pair_format, data, 3, NULL, 0), BIRCH_EFORMAT, "pod fmt_pair: 3 bytes stored, 8 expected");
    FMT_FAILS(birch_pod_verify(NULL, data, 8, NULL, 0), BIRCH_EINVAL, "birch_pod_verify: not a pod format");
    fmt_pair v = {1, 2};
    FMT_FAILS(birch_pod_encode(&fmt_pair_format, &v, data, 9), BIRCH_EINVAL, "birch_pod_encode: pod fmt_pair: 9 bytes");
    FMT_FAILS(birch_value_string.verify(&birch_value_string, "\xff", 1, NULL, 0), BIRCH_EFORMAT,
              "string: not valid UTF-8");
    birch_val bad = {"\xc0\x80", 2}; /* an overlong NUL */
    size_t sz;
    FMT_FAILS(birch_value_string.size(&birch_value_string, &bad, &sz), BIRCH_EINVAL, "string value: not valid UTF-8");
    char d[4];
    FMT_FAILS(fmt_pair_format.describe(&fmt_pair_format, d, sizeof d), BIRCH_EINVAL,
              "birch_pod_describe: the description needs");
}
END_TEST

START_TEST(err_errmsg_flatbuffers_failures)
{
    _Alignas(8) uint8_t buf[16] = {0};
    FMT_FAILS(birch_fb_verify(&FmtTiny_fb, buf, 2, NULL, NULL, 0), BIRCH_EFORMAT, "flatbuffers FmtTiny:");
    memcpy(buf, "\x08\x00\x00\x00NOPE", 8);
    FMT_FAILS(birch_fb_verify(&FmtTiny_fb, buf, sizeof buf, NULL, NULL, 0), BIRCH_EFORMAT,
              "file identifier 'NOPE', expected 'TINY'");
    FMT_FAILS(birch_fb_verify(NULL, buf, sizeof buf, NULL, NULL, 0), BIRCH_EINVAL, "birch_fb_verify: root is NULL");
    /* The builder's calls return nothing: the failing one records why at
     * once, and birch_fb_finish reports the first failure again. */
    birch_fb_builder *b = birch_fb_builder_new();
    ck_assert_ptr_nonnull(b);
    set_known_error();
    ck_assert_uint_eq(birch_fb_string(b, NULL, 5), 0);
    BT_ERRMSG_HAS("birch_fb_string: s is NULL and n is not 0");
    birch_val out;
    FMT_FAILS(birch_fb_finish(b, 1, "TINY", 0, &out), BIRCH_EINVAL,
              "birch_fb_finish: an earlier builder call failed: birch_fb_string: s is NULL");
    FMT_FAILS(birch_fb_builder_error(b), BIRCH_EINVAL, "birch_fb_string: s is NULL");
    birch_fb_builder_free(b);
}
END_TEST

/* Successful format calls leave the detail as it was. */
START_TEST(err_errmsg_format_successes_leave_it)
{
    changed[0] = 0;
    set_known_error();
    /* archive */
    const birch_archive_type *t = &FmtErr_archive.type;
    FmtErr_src src = {bt_str("fine"), true};
    size_t sz = 0;
    LEAVES(birch_archive_measure(t, &src, &sz));
    _Alignas(8) uint8_t abuf[128];
    ck_assert_uint_le(sz, sizeof abuf);
    LEAVES(birch_archive_write(t, &src, abuf, sz));
    char msg[200];
    LEAVES(birch_archive_check(t, abuf, sz, msg, sizeof msg));
    LEAVES(birch_archive_describe(&FmtErr_format, msg, sizeof msg));
    /* key */
    uint8_t kbuf[32];
    size_t len = 0;
    birch_val s = bt_str("key");
    LEAVES(birch_key_encode(&birch_key_string, &s, kbuf, sizeof kbuf, &len));
    birch_val back;
    LEAVES(birch_key_decode(&birch_key_string, kbuf, len, &back, NULL, 0));
    LEAVES(birch_key_name(&birch_key_u64, msg, sizeof msg));
    /* value */
    fmt_pair v = {1, 2};
    _Alignas(8) uint8_t pbuf[sizeof v];
    LEAVES(birch_pod_size(&fmt_pair_format, &v, &sz));
    LEAVES(birch_pod_encode(&fmt_pair_format, &v, pbuf, sizeof pbuf));
    LEAVES(birch_pod_verify(&fmt_pair_format, pbuf, sizeof pbuf, msg, sizeof msg));
    LEAVES(birch_value_string.verify(&birch_value_string, "ok", 2, msg, sizeof msg));
    /* flatbuffers */
    birch_fb_builder *b = birch_fb_builder_new();
    ck_assert_ptr_nonnull(b);
    birch_fb_ref label = birch_fb_cstring(b, "hello");
    birch_fb_start(b);
    birch_fb_add_ref(b, 0, label);
    birch_fb_ref root = birch_fb_end(b);
    birch_val out;
    LEAVES(birch_fb_finish(b, root, "TINY", 0, &out));
    LEAVES(birch_fb_builder_error(b));
    LEAVES(birch_fb_verify(&FmtTiny_fb, out.data, out.size, NULL, msg, sizeof msg));
    birch_fb_builder_free(b);
    ck_assert_msg(changed[0] == 0, "successful calls changed birch_errmsg():%s", changed);
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
    tcase_add_test(tc, err_os_missing_dir_and_directory);
    tcase_add_test(tc, err_os_fifo_socket_device);
    tcase_add_test(tc, err_os_permission);
    tcase_add_test(tc, err_os_readonly_fs);
    tcase_add_test(tc, err_os_open_error_mapping);
    tcase_add_test(tc, err_corrupt_free_list_names_live_page);
    tcase_add_test(tc, err_errmsg_per_thread);
    tcase_add_test(tc, err_errmsg_success_leaves_it);
    tcase_add_test(tc, err_errmsg_success_paths_leave_it);
    tcase_add_test(tc, err_errmsg_growth_fallback_leaves_it);
    tcase_add_test(tc, err_errmsg_archive_failures);
    tcase_add_test(tc, err_errmsg_key_failures);
    tcase_add_test(tc, err_errmsg_value_failures);
    tcase_add_test(tc, err_errmsg_flatbuffers_failures);
    tcase_add_test(tc, err_errmsg_format_successes_leave_it);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
