/*
 * test_handles.c - handle lifetimes (issue 11, item 2): every use of an
 * ended transaction handle gives BIRCH_ETXN whatever ran since, cursors
 * and streams belong to their caller and close safely in any order,
 * guards refuse a second release (also of a copy), and birch_close says
 * what is still open.  Before this, ended handles were parked in a
 * quarantine of 256 and then freed: every test here touched freed memory
 * (visible under ASan) or, for guards, aborted in debug builds.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "support.h"

#define LATER_TXNS 300 /* more than the old quarantine of 256 */

static char *path;
static birch_db *db;

static void setup(void)
{
    path = bt_path("handles");
    birch_options o = bt_opts_fast();
    db = bt_open(path, &o);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%03d", i);
        bt_put_s(w, t, k, "v");
    }
    BT_OK(birch_txn_commit(w));
}

static void teardown(void)
{
    if (db) BT_OK(birch_close(db));
    db = NULL;
    bt_remove(path);
    free(path);
}

/* LATER_TXNS transactions, read and write alternately, each with a cursor. */
static void run_later_txns(void)
{
    for (int i = 0; i < LATER_TXNS; i++) {
        birch_txn *t = bt_begin(db, i % 2 ? BIRCH_TXN_WRITE : BIRCH_TXN_READ);
        birch_table *tb = bt_table(t, "t", 0);
        birch_cursor *c;
        BT_OK(birch_cursor_open(t, tb, &c));
        BT_OK(birch_cursor_first(c));
        if (i % 2) bt_put_s(t, tb, "later", "x");
        BT_OK(birch_txn_commit(t));
        birch_cursor_close(c);
    }
}

START_TEST(cursor_closed_long_after_its_txn)
{
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ), *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_cursor *cr, *cw;
    BT_OK(birch_cursor_open(r, bt_table(r, "t", 0), &cr));
    BT_OK(birch_cursor_open(w, bt_table(w, "t", 0), &cw));
    BT_OK(birch_cursor_first(cr));
    BT_OK(birch_cursor_first(cw));
    BT_OK(birch_txn_commit(r));
    birch_txn_abort(w);
    run_later_txns();
    /* Every move of a cursor of an ended transaction: BIRCH_ETXN. */
    BT_RC(birch_cursor_next(cr), BIRCH_ETXN);
    BT_ERRMSG_HAS("ended");
    BT_RC(birch_cursor_prev(cw), BIRCH_ETXN);
    BT_RC(birch_cursor_first(cr), BIRCH_ETXN);
    BT_RC(birch_cursor_last(cw), BIRCH_ETXN);
    BT_RC(birch_cursor_seek(cr, bt_str("k001")), BIRCH_ETXN);
    birch_val k, v;
    BT_RC(birch_cursor_get(cw, &k, &v), BIRCH_ETXN);
    birch_cursor_close(cr); /* freed memory before: ASan's use-after-free */
    birch_cursor_close(cw);
}
END_TEST

START_TEST(ended_txn_used_long_after)
{
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ), *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(r, "t", 0);
    ck_assert_uint_ne(birch_txn_id(r), 0);
    BT_OK(birch_txn_commit(w));
    birch_txn_abort(r);
    run_later_txns();
    birch_txn *ended[2] = {r, w};
    for (int i = 0; i < 2; i++) {
        birch_txn *x = ended[i];
        birch_val v;
        uint64_t n;
        birch_cursor *c = NULL;
        BT_RC(birch_get(x, t, bt_str("k001"), &v), BIRCH_ETXN);
        BT_ERRMSG_HAS("ended");
        BT_RC(birch_put(x, t, bt_str("k001"), bt_str("x"), 0), BIRCH_ETXN);
        BT_RC(birch_del(x, t, bt_str("k001")), BIRCH_ETXN);
        BT_RC(birch_count(x, t, &n), BIRCH_ETXN);
        BT_RC(birch_cursor_open(x, t, &c), BIRCH_ETXN);
        ck_assert_ptr_null(c);
        birch_table *t2 = NULL;
        BT_RC(birch_table_open(x, "t", 0, &t2), BIRCH_ETXN);
        BT_RC(birch_table_drop(x, "t"), BIRCH_ETXN);
        BT_RC(birch_table_rename(x, "t", "u"), BIRCH_ETXN);
        struct birch_table_stat st;
        BT_RC(birch_table_stat(x, t, &st), BIRCH_ETXN);
        BT_RC(birch_txn_commit(x), BIRCH_ETXN);
        birch_txn_abort(x); /* a no-op */
        ck_assert_uint_eq(birch_txn_id(x), 0);
    }
    /* Nothing was changed by the ended handles. */
    birch_txn *c = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(c, bt_table(c, "t", 0), "k001", "v");
    BT_OK(birch_txn_commit(c));
}
END_TEST

/* The slot an ended transaction lived in, taken by a newer one: the old
 * handle still decodes to BIRCH_ETXN, the new one is unaffected. */
START_TEST(slot_reused_by_newer_txn)
{
    uint64_t nslots = db->tok_nslots;
    birch_txn *old = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(old, "t", 0);
    bt_put_s(old, t, "old", "1");
    birch_txn_abort(old);
    birch_txn *nw = NULL;
    for (uint64_t i = 0; i < LATER_TXNS + 4 * nslots; i++) {
        nw = bt_begin(db, BIRCH_TXN_WRITE);
        /* The same slot, after more transactions than the old quarantine kept. */
        if (i >= LATER_TXNS && ((uintptr_t)nw - (uintptr_t)old) % nslots == 0) break;
        birch_txn_abort(nw);
        nw = NULL;
    }
    ck_assert_ptr_nonnull(nw);
    ck_assert_ptr_ne(nw, old);
    bt_put_s(nw, t, "new", "2");
    BT_RC(birch_put(old, t, bt_str("old"), bt_str("x"), 0), BIRCH_ETXN);
    birch_val v;
    BT_RC(birch_get(old, t, bt_str("new"), &v), BIRCH_ETXN);
    BT_RC(birch_txn_commit(old), BIRCH_ETXN);
    birch_txn_abort(old); /* must not end nw */
    ck_assert_uint_eq(birch_txn_id(old), 0);
    bt_expect_s(nw, t, "new", "2");
    BT_OK(birch_txn_commit(nw));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "t", 0), "new", "2");
    bt_expect_absent(r, bt_table(r, "t", 0), "old", 3);
    BT_OK(birch_txn_commit(r));
}
END_TEST

/* When a region's numbers run out, a new region takes over; tokens of the
 * old one still decode (to BIRCH_ETXN once ended) and its live
 * transactions still work. */
START_TEST(token_region_rollover)
{
    bi_tokhdr *h = atomic_load(&db->tok);
    h->limit = atomic_load(&h->next) + 3 * db->tok_nslots; /* run out soon */
    birch_txn *live = bt_begin(db, BIRCH_TXN_READ);
    birch_txn *ended = bt_begin(db, BIRCH_TXN_READ);
    BT_OK(birch_txn_commit(ended));
    for (int i = 0; i < 10 * (int)db->tok_nslots; i++) {
        birch_txn *t = bt_begin(db, i % 3 ? BIRCH_TXN_READ : BIRCH_TXN_WRITE);
        BT_OK(birch_txn_commit(t));
    }
    ck_assert_uint_ge(db->nregions, 2);
    ck_assert_ptr_ne(atomic_load(&db->tok), h);
    birch_val v;
    birch_table *t = NULL;
    BT_RC(birch_table_open(ended, "t", 0, &t), BIRCH_ETXN);
    t = bt_table(live, "t", 0);
    BT_OK(birch_get(live, t, bt_str("k001"), &v));
    BT_OK(birch_txn_commit(live));
    BT_RC(birch_get(live, t, bt_str("k001"), &v), BIRCH_ETXN);
}
END_TEST

/* ---- Guards ---------------------------------------------------------------- */

static void typed_table(birch_typed *ty)
{
    BT_OK(birch_typed_open(db, NULL, "typed", &birch_key_u64, &birch_value_bytes, BIRCH_CREATE, ty));
    for (uint64_t k = 1; k <= 3; k++) {
        birch_val v = bt_str("value");
        BT_OK(birch_typed_put(NULL, ty, &k, &v, 0));
    }
}

START_TEST(guard_copy_released_twice_own_snapshot)
{
    /* One reader slot: the second guard reuses the first one's slot. */
    BT_OK(birch_close(db));
    birch_options o = bt_opts_fast();
    o.max_readers = 1;
    db = bt_open(path, &o);
    birch_typed ty;
    typed_table(&ty);
    uint64_t k = 1;
    birch_guard g, copy;
    memset(&g, 0, sizeof g);
    BT_OK(birch_typed_get(NULL, &ty, &k, &g));
    copy = g; /* the misuse */
    BT_OK(birch_guard_release(&g));
    BT_RC(birch_guard_release(&g), BIRCH_ETXN); /* the same guard again */
    BT_ERRMSG_HAS("released twice");
    birch_guard g2;
    memset(&g2, 0, sizeof g2);
    BT_OK(birch_typed_get(NULL, &ty, &k, &g2)); /* takes the slot again */
    BT_RC(birch_guard_release(&copy), BIRCH_ETXN); /* must not let g2's slot go */
    BT_ERRMSG_HAS("released twice");
    /* g2 still holds the only slot: a read transaction finds none. */
    birch_txn *r;
    BT_RC(birch_txn_begin(db, BIRCH_TXN_READ, &r), BIRCH_EBUSY);
    BT_RC(birch_close(db), BIRCH_ETXN);
    BT_ERRMSG_HAS("1 guard still unreleased");
    BT_OK(birch_guard_release(&g2));
    r = bt_begin(db, BIRCH_TXN_READ);
    BT_OK(birch_txn_commit(r));
}
END_TEST

START_TEST(guard_copy_released_twice_in_txn)
{
    birch_typed ty;
    typed_table(&ty);
    uint64_t k1 = 1, k2 = 2;
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_guard g, copy, g2, late;
    memset(&g, 0, sizeof g);
    memset(&g2, 0, sizeof g2);
    memset(&late, 0, sizeof late);
    BT_OK(birch_typed_get(r, &ty, &k1, &g));
    copy = g;
    BT_OK(birch_typed_get(r, &ty, &k2, &g2));
    BT_OK(birch_guard_release(&copy));
    BT_RC(birch_guard_release(&g), BIRCH_ETXN);
    BT_ERRMSG_HAS("released twice");
    BT_OK(birch_guard_release(&g2)); /* the other guard is unaffected */
    BT_OK(birch_typed_get(r, &ty, &k1, &late));
    BT_OK(birch_txn_commit(r));
    run_later_txns(); /* the slot is reused */
    BT_RC(birch_guard_release(&late), BIRCH_ETXN); /* its transaction ended */
    BT_ERRMSG_HAS("has ended");
    BT_OK(birch_guard_release(NULL));
}
END_TEST

/* ---- birch_close says what is open ------------------------------------------ */

START_TEST(close_names_what_is_open)
{
    birch_typed ty;
    typed_table(&ty);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_RC(birch_close(db), BIRCH_ETXN);
    BT_ERRMSG_HAS("1 transaction still open");
    BT_OK(birch_txn_commit(r));

    uint64_t k = 1;
    birch_guard g;
    memset(&g, 0, sizeof g);
    BT_OK(birch_typed_get(NULL, &ty, &k, &g));
    BT_RC(birch_close(db), BIRCH_ETXN);
    BT_ERRMSG_HAS("1 guard still unreleased");
    ck_assert_ptr_null(strstr(birch_errmsg(), "transaction"));
    BT_OK(birch_guard_release(&g));

    birch_stream_opts so;
    memset(&so, 0, sizeof so);
    birch_stream *s1, *s2;
    r = bt_begin(db, BIRCH_TXN_READ);
    BT_OK(birch_stream_open(NULL, &ty, &so, &s1)); /* its own snapshot */
    BT_OK(birch_stream_open(r, &ty, &so, &s2));
    BT_RC(birch_close(db), BIRCH_ETXN);
    BT_ERRMSG_HAS("1 transaction still open, 2 streams still open");
    BT_OK(birch_txn_commit(r));
    birch_item it;
    BT_RC(birch_stream_next(s2, &it), BIRCH_ETXN); /* its transaction ended */
    BT_OK(birch_stream_next(s1, &it));
    birch_stream_close(s2);
    BT_RC(birch_close(db), BIRCH_ETXN);
    BT_ERRMSG_HAS("1 stream still open");
    birch_stream_close(s1);
}
END_TEST

/* ---- Closing in any order ----------------------------------------------------- */

enum { H_TXN, H_CURSOR, H_STREAM, H_GUARD, H_DB };
typedef struct handle {
    int kind, done;
    birch_txn *txn;
    birch_cursor *cur;
    birch_stream *stream;
    birch_guard guard;
    int in_txn; /* guards and streams: taken in txn (not their own snapshot) */
} handle;

/* Opens a random mix of transactions, cursors, streams and guards, then
 * ends them and the database in a random order, checking each outcome:
 * birch_close refuses while a transaction, own-snapshot guard or stream is
 * open, a stale cursor or stream answers BIRCH_ETXN, a guard of an ended
 * transaction BIRCH_ETXN, and cursors are closed even after the
 * database. */
static int closed_after_db; /* cursors closed after birch_close, over all rounds */

static void one_round(bt_rng *rng, birch_typed *ty)
{
    handle h[32];
    int n = 0;
    memset(h, 0, sizeof h);
    birch_txn *txns[6];
    int ntx = 0;
    if (bt_chance(rng, 50)) txns[ntx++] = bt_begin(db, BIRCH_TXN_WRITE);
    int nread = (int)bt_range(rng, 1, 4);
    for (int i = 0; i < nread; i++) txns[ntx++] = bt_begin(db, BIRCH_TXN_READ);
    for (int i = 0; i < ntx; i++) h[n++] = (handle){.kind = H_TXN, .txn = txns[i]};
    int extra = (int)bt_range(rng, 2, 12);
    for (int i = 0; i < extra && n < 31; i++) {
        birch_txn *t = txns[bt_below(rng, (uint64_t)ntx)];
        handle *x = &h[n++];
        x->kind = (int)bt_range(rng, H_CURSOR, H_GUARD);
        x->in_txn = x->kind == H_CURSOR || bt_chance(rng, 60);
        x->txn = t;
        uint64_t k = bt_range(rng, 1, 3);
        birch_stream_opts so;
        memset(&so, 0, sizeof so);
        if (x->kind == H_CURSOR) {
            BT_OK(birch_cursor_open(t, bt_table(t, "t", 0), &x->cur));
            BT_OK(birch_cursor_first(x->cur));
        } else if (x->kind == H_STREAM) {
            BT_OK(birch_stream_open(x->in_txn ? t : NULL, ty, &so, &x->stream));
        } else {
            BT_OK(birch_typed_get(x->in_txn ? t : NULL, ty, &k, &x->guard));
        }
    }
    h[n++] = (handle){.kind = H_DB};
    int left = n, db_closed = 0;
    while (left) {
        int i = (int)bt_below(rng, (uint64_t)n);
        handle *x = &h[i];
        if (x->done) continue;
        /* Guards of a transaction are released while the database is
         * open: their release reads the transaction's handle. */
        ck_assert_msg(!(x->kind == H_GUARD && db_closed), "a guard left after birch_close");
        int txn_ended = !db_closed && x->txn && birch_txn_id(x->txn) == 0;
        switch (x->kind) {
        case H_TXN:
            if (bt_chance(rng, 50)) BT_OK(birch_txn_commit(x->txn));
            else birch_txn_abort(x->txn);
            BT_RC(birch_txn_commit(x->txn), BIRCH_ETXN);
            break;
        case H_CURSOR:
            if (!db_closed) {
                int rc = birch_cursor_next(x->cur);
                if (txn_ended) ck_assert_int_eq(rc, BIRCH_ETXN);
                else ck_assert_msg(rc == BIRCH_OK || rc == BIRCH_NOTFOUND, "cursor_next %d", rc);
            }
            birch_cursor_close(x->cur); /* also after birch_close */
            closed_after_db += db_closed;
            break;
        case H_STREAM: {
            birch_item it;
            int rc = birch_stream_next(x->stream, &it);
            if (x->in_txn && txn_ended) ck_assert_int_eq(rc, BIRCH_ETXN);
            else ck_assert_msg(rc == BIRCH_OK || rc == BIRCH_NOTFOUND, "stream_next %d", rc);
            birch_stream_close(x->stream);
            break;
        }
        case H_GUARD:
            BT_RC(birch_guard_release(&x->guard), x->in_txn && txn_ended ? BIRCH_ETXN : BIRCH_OK);
            break;
        case H_DB: {
            int open = 0, wait = 0;
            for (int j = 0; j < n; j++)
                if (!h[j].done && (h[j].kind == H_TXN || h[j].kind == H_STREAM ||
                                   (h[j].kind == H_GUARD && !h[j].in_txn)))
                    open = 1;
            /* A guard taken in a transaction is released before the
             * database closes (birch_close does not count it). */
            for (int j = 0; j < n; j++)
                if (!h[j].done && h[j].kind == H_GUARD && h[j].in_txn) wait = 1;
            if (open && bt_chance(rng, 30)) BT_RC(birch_close(db), BIRCH_ETXN);
            if (open || wait) continue;
            BT_OK(birch_close(db));
            db = NULL;
            db_closed = 1;
            break;
        }
        }
        x->done = 1;
        left--;
    }
}

START_TEST(close_in_random_orders)
{
    uint64_t seed = bt_seed(0x51ced0);
    printf("close_in_random_orders: seed %#llx (BIRCH_SEED)\n", (unsigned long long)seed);
    fflush(stdout);
    bt_rng rng = {seed};
    birch_options o = bt_opts_fast();
    for (int round = 0; round < 60; round++) {
        if (!db) db = bt_open(path, &o);
        birch_typed ty;
        typed_table(&ty);
        one_round(&rng, &ty);
        ck_assert_ptr_null(db);
    }
    ck_assert_msg(closed_after_db > 0, "no cursor was closed after birch_close (seed %#llx)", (unsigned long long)seed);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("handles");
    TCase *tc = bt_tcase("handles");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, cursor_closed_long_after_its_txn);
    tcase_add_test(tc, ended_txn_used_long_after);
    tcase_add_test(tc, slot_reused_by_newer_txn);
    tcase_add_test(tc, token_region_rollover);
    tcase_add_test(tc, guard_copy_released_twice_own_snapshot);
    tcase_add_test(tc, guard_copy_released_twice_in_txn);
    tcase_add_test(tc, close_names_what_is_open);
    tcase_add_test(tc, close_in_random_orders);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return bt_run(suite());
}
