/*
 * test_txn.c - transactions: commit, abort, snapshots seen by read
 * transactions (single thread), transaction ids, BIRCH_TXN_TRY, cursors
 * outliving their transaction, large and empty transactions.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static char *path;
static birch_db *db;

static void setup(void)
{
    path = bt_path("txn");
    birch_options o = bt_opts_fast();
    db = bt_open(path, &o);
}

static void teardown(void)
{
    if (db) {
        bt_check(db);
        BT_OK(birch_close(db));
    }
    db = NULL;
    bt_remove(path);
    free(path);
}

START_TEST(commit_makes_changes_visible)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put_s(w, t, "k1", "v1");
    bt_expect_s(w, t, "k1", "v1"); /* a writer sees its own changes */
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "t", 0), "k1", "v1");
    BT_OK(birch_txn_commit(r)); /* commit of a read txn just ends it */
}
END_TEST

START_TEST(abort_discards_everything)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put_s(w, t, "keep", "1");
    BT_OK(birch_txn_commit(w));

    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "t", 0);
    bt_put_s(w, t, "keep", "changed");
    bt_put_s(w, t, "new", "2");
    BT_OK(birch_del(w, t, bt_str("keep")));
    bt_table(w, "other", BIRCH_CREATE);
    for (int i = 0; i < 2000; i++) { /* enough to split pages */
        char k[16];
        snprintf(k, sizeof k, "bulk%05d", i);
        bt_put_s(w, t, k, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    }
    birch_txn_abort(w);

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    bt_expect_s(r, t, "keep", "1");
    bt_expect_absent(r, t, "new", 3);
    bt_expect_absent(r, t, "bulk00001", 9);
    ck_assert_uint_eq(bt_count(r, t), 1);
    birch_table *o = NULL;
    BT_RC(birch_table_open(r, "other", 0, &o), BIRCH_NOTFOUND);
    birch_txn_abort(r);
    ck_assert_uint_eq(bt_stat(db).table_count, 1);
    birch_txn_abort(NULL); /* no-op */
}
END_TEST

/* Read transactions keep their snapshot while the writer changes, commits,
 * and changes again; several readers at several versions at once. */
START_TEST(readers_keep_their_snapshot)
{
    enum { NV = 8, NK = 300 };
    birch_txn *readers[NV];
    char k[32], v[64];
    for (int ver = 0; ver < NV; ver++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "t", BIRCH_CREATE);
        for (int i = 0; i < NK; i++) {
            snprintf(k, sizeof k, "key%04d", i);
            if ((i + ver) % 4 == 0) {
                int rc = birch_del(w, t, bt_str(k));
                ck_assert(rc == BIRCH_OK || rc == BIRCH_NOTFOUND);
            } else {
                snprintf(v, sizeof v, "value %d of %d %*s", ver, i, i % 40, "");
                bt_put_s(w, t, k, v);
            }
        }
        /* A reader started now sees the previous version, not this one. */
        birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
        if (ver > 0) {
            birch_table *rt = bt_table(r, "t", 0);
            ck_assert_uint_eq(bt_count(r, rt), NK - NK / 4);
        } else {
            birch_table *rt = NULL;
            BT_RC(birch_table_open(r, "t", 0, &rt), BIRCH_NOTFOUND);
        }
        birch_txn_abort(r);
        BT_OK(birch_txn_commit(w));
        readers[ver] = bt_begin(db, BIRCH_TXN_READ);
    }
    /* Every reader still sees its own version exactly. */
    for (int ver = 0; ver < NV; ver++) {
        birch_txn *r = readers[ver];
        birch_table *t = bt_table(r, "t", 0);
        uint64_t n = 0;
        for (int i = 0; i < NK; i++) {
            snprintf(k, sizeof k, "key%04d", i);
            if ((i + ver) % 4 == 0) {
                bt_expect_absent(r, t, k, strlen(k));
            } else {
                snprintf(v, sizeof v, "value %d of %d %*s", ver, i, i % 40, "");
                bt_expect_s(r, t, k, v);
                n++;
            }
        }
        ck_assert_uint_eq(bt_count(r, t), n);
    }
    for (int ver = 0; ver < NV; ver++) birch_txn_abort(readers[ver]);
}
END_TEST

START_TEST(transaction_ids)
{
    birch_txn *r0 = bt_begin(db, BIRCH_TXN_READ);
    uint64_t base = birch_txn_id(r0);
    ck_assert_uint_eq(base, bt_stat(db).txnid);
    birch_txn_abort(r0);

    uint64_t last = base;
    for (int i = 0; i < 10; i++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        uint64_t id = birch_txn_id(w);
        ck_assert_uint_gt(id, last);
        /* A reader that starts while the writer runs reads the last commit. */
        birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
        ck_assert_uint_eq(birch_txn_id(r), last);
        birch_txn_abort(r);
        bt_put_s(w, bt_table(w, "t", BIRCH_CREATE), "k", "v");
        if (i % 3 == 2) {
            birch_txn_abort(w);
            ck_assert_uint_eq(bt_stat(db).txnid, last);
        } else {
            BT_OK(birch_txn_commit(w));
            ck_assert_uint_eq(bt_stat(db).txnid, id);
            last = id;
        }
        r = bt_begin(db, BIRCH_TXN_READ);
        ck_assert_uint_eq(birch_txn_id(r), last);
        birch_txn_abort(r);
    }
    /* Ids survive a reopen. */
    birch_options o = bt_opts_fast();
    db = bt_reopen(db, path, &o);
    ck_assert_uint_eq(bt_stat(db).txnid, last);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    ck_assert_uint_gt(birch_txn_id(w), last);
    birch_txn_abort(w);
}
END_TEST

START_TEST(try_gives_busy_while_writer_active)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", BIRCH_CREATE), "a", "1");
    birch_txn *w2 = NULL;
    BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY, &w2), BIRCH_EBUSY);
    /* Readers are not blocked by the writer. */
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_txn_abort(r);
    /* The writer is unaffected by the refused attempt. */
    bt_put_s(w, bt_table(w, "t", 0), "b", "2");
    BT_OK(birch_txn_commit(w));
    w2 = bt_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY);
    birch_table *t = bt_table(w2, "t", 0);
    bt_expect_s(w2, t, "a", "1");
    bt_expect_s(w2, t, "b", "2");
    birch_txn_abort(w2);
    w2 = bt_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY);
    BT_OK(birch_txn_commit(w2));
}
END_TEST

/* Cursors belong to the caller: the end of their transaction does not
 * close them; they answer BIRCH_ETXN until birch_cursor_close, which is
 * safe before or after the end (LeakSanitizer checks that every one was
 * freed, each exactly once). */
START_TEST(cursors_outlive_their_txn)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put_s(w, t, "a", "1");
    birch_cursor *c1 = NULL, *c2 = NULL, *c[5];
    BT_OK(birch_cursor_open(w, t, &c1));
    BT_OK(birch_cursor_open(w, t, &c2));
    BT_OK(birch_cursor_first(c1));
    birch_cursor_close(c2); /* before the end */
    BT_OK(birch_txn_commit(w));
    BT_RC(birch_cursor_next(c1), BIRCH_ETXN);
    birch_cursor_close(c1); /* after it */

    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "t", 0);
    BT_OK(birch_cursor_open(w, t, &c1));
    BT_OK(birch_cursor_last(c1));
    birch_txn_abort(w);
    BT_RC(birch_cursor_get(c1, NULL, NULL), BIRCH_ETXN);
    birch_cursor_close(c1);

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    for (int i = 0; i < 5; i++) {
        BT_OK(birch_cursor_open(r, t, &c[i]));
        BT_OK(birch_cursor_seek(c[i], bt_str("a")));
    }
    BT_OK(birch_txn_commit(r));
    for (int i = 0; i < 5; i++) {
        BT_RC(birch_cursor_seek(c[i], bt_str("a")), BIRCH_ETXN);
        birch_cursor_close(c[i]);
    }

    r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    BT_OK(birch_cursor_open(r, t, &c1));
    birch_cursor_close(c1);
    birch_cursor_close(NULL);
    birch_txn_abort(r);
}
END_TEST

START_TEST(empty_write_commit)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", BIRCH_CREATE), "k", "v");
    BT_OK(birch_txn_commit(w));
    birch_stat before = bt_stat(db);
    for (int i = 0; i < 20; i++) {
        w = bt_begin(db, BIRCH_TXN_WRITE);
        BT_OK(birch_txn_commit(w));
    }
    birch_stat after = bt_stat(db);
    ck_assert_uint_ge(after.txnid, before.txnid);
    ck_assert_uint_le(after.page_count, before.page_count + 4);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "t", 0), "k", "v");
    birch_txn_abort(r);
}
END_TEST

/* One transaction with many records, committed, then checked after reopen. */
START_TEST(large_transaction)
{
    enum { N = 60000 };
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "big", BIRCH_CREATE);
    char k[32], v[64];
    bt_rng rng = {42};
    for (int i = 0; i < N; i++) {
        uint64_t x = bt_mix((uint64_t)i); /* random order */
        snprintf(k, sizeof k, "%016llx", (unsigned long long)x);
        snprintf(v, sizeof v, "v%d", i);
        bt_put_s(w, t, k, v);
        if (bt_chance(&rng, 1)) bt_expect_s(w, t, k, v);
    }
    ck_assert_uint_eq(bt_count(w, t), N);
    BT_OK(birch_txn_commit(w));
    birch_options o = bt_opts_fast();
    db = bt_reopen(db, path, &o);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "big", 0);
    ck_assert_uint_eq(bt_count(r, t), N);
    for (int i = 0; i < N; i += 7) {
        snprintf(k, sizeof k, "%016llx", (unsigned long long)bt_mix((uint64_t)i));
        snprintf(v, sizeof v, "v%d", i);
        bt_expect_s(r, t, k, v);
    }
    birch_txn_abort(r);
}
END_TEST

/* A table handle from one transaction works in later ones. */
START_TEST(table_handle_outlives_transaction)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put_s(w, t, "a", "1");
    BT_OK(birch_txn_commit(w));
    for (int i = 0; i < 3; i++) {
        w = bt_begin(db, BIRCH_TXN_WRITE);
        char k[8];
        snprintf(k, sizeof k, "b%d", i);
        bt_put_s(w, t, k, "2");
        BT_OK(birch_txn_commit(w));
    }
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, t, "a", "1");
    bt_expect_s(r, t, "b2", "2");
    ck_assert_uint_eq(bt_count(r, t), 4);
    birch_txn_abort(r);
}
END_TEST

/* A finished transaction used again: every call refuses with BIRCH_ETXN
 * and the database is as the commit left it.  Its cursors refuse moves
 * and can still be closed (LMDB users close read cursors after the end). */
START_TEST(finished_transaction_used_again)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put_s(w, t, "a", "1");
    birch_cursor *wc;
    BT_OK(birch_cursor_open(w, t, &wc));
    BT_OK(birch_txn_commit(w));
    birch_val k = bt_str("b"), v = bt_str("2"), out;
    uint64_t n;
    BT_RC(birch_put(w, t, k, v, 0), BIRCH_ETXN);
    BT_RC(birch_del(w, t, bt_str("a")), BIRCH_ETXN);
    BT_RC(birch_get(w, t, bt_str("a"), &out), BIRCH_ETXN);
    BT_RC(birch_count(w, t, &n), BIRCH_ETXN);
    birch_table *t2;
    BT_RC(birch_table_open(w, "u", BIRCH_CREATE, &t2), BIRCH_ETXN);
    BT_RC(birch_table_drop(w, "t"), BIRCH_ETXN);
    BT_RC(birch_txn_commit(w), BIRCH_ETXN);
    birch_txn_abort(w); /* a no-op on an ended transaction */
    BT_RC(birch_cursor_first(wc), BIRCH_ETXN);
    BT_RC(birch_cursor_next(wc), BIRCH_ETXN);
    BT_RC(birch_cursor_get(wc, &k, &out), BIRCH_ETXN);
    birch_cursor_close(wc);

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_cursor *rc;
    BT_OK(birch_cursor_open(r, t, &rc));
    BT_OK(birch_cursor_first(rc));
    birch_txn_abort(r);
    BT_RC(birch_get(r, t, bt_str("a"), &out), BIRCH_ETXN);
    BT_RC(birch_cursor_prev(rc), BIRCH_ETXN);
    BT_RC(birch_cursor_seek(rc, bt_str("a")), BIRCH_ETXN);
    birch_cursor_close(rc); /* after the end: safe */

    r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, t, "a", "1");
    bt_expect_absent(r, t, "b", 1);
    ck_assert_uint_eq(bt_count(r, t), 1);
    birch_txn_abort(r);
}
END_TEST

/* birch_sync makes non-durable commits durable: afterwards both meta
 * slots hold durable metas and the file reopens with the data. */
START_TEST(sync_makes_weak_commits_durable)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE); /* db uses DURABLE_NONE */
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put_s(w, t, "k", "v");
    BT_OK(birch_txn_commit(w));
    int cur = bt_meta_current(path);
    bi_meta m, other;
    bt_meta_read(path, cur, &m);
    ck_assert_msg(m.flags & BI_META_WEAK, "a DURABLE_NONE commit writes a weak meta");
    uint64_t id = m.txnid;
    BT_OK(birch_sync(db));
    /* A durable copy (base = its own id, so open verifies nothing) goes to
     * the other slot, leaving the weak one as a fallback. */
    bt_meta_read(path, cur ^ 1, &other);
    ck_assert_msg(bt_meta_sealed(&other) && !(other.flags & BI_META_WEAK) && other.txnid == id &&
                      other.base_txnid == id,
                  "birch_sync wrote a durable meta for txn %llu", (unsigned long long)id);
    BT_OK(birch_sync(db)); /* nothing to do: still fine */
    BT_RC(birch_sync(NULL), BIRCH_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("txn");
    TCase *tc = bt_tcase("txn");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, commit_makes_changes_visible);
    tcase_add_test(tc, abort_discards_everything);
    tcase_add_test(tc, readers_keep_their_snapshot);
    tcase_add_test(tc, transaction_ids);
    tcase_add_test(tc, try_gives_busy_while_writer_active);
    tcase_add_test(tc, cursors_outlive_their_txn);
    tcase_add_test(tc, empty_write_commit);
    tcase_add_test(tc, large_transaction);
    tcase_add_test(tc, table_handle_outlives_transaction);
    tcase_add_test(tc, finished_transaction_used_again);
    tcase_add_test(tc, sync_makes_weak_commits_durable);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
