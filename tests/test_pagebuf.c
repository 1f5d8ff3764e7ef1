/*
 * test_pagebuf.c - the writer's page buffers (engine/pagebuf.c): buffers
 * are distinct and usable, given back ones are handed out again, buffers
 * of several pages and those past the region come from the heap and go
 * back there, and the end of a write transaction starts the region over
 * and gives back what lies past BI_POOL_BYTES (a large transaction leaves
 * no memory behind; a small one after it finds its buffers resident).
 * Under AddressSanitizer the region is off and every buffer is the heap's:
 * the same assertions hold where they do not name the region.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "support.h"

static char *path;
static birch_db *db;

static void setup(void)
{
    path = bt_path("pagebuf");
    birch_options o = bt_opts_fast();
    db = bt_open(path, &o);
}

static void teardown(void)
{
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}

static int region_on(void) { return db->pagebuf.base != NULL; }

/* 1,000 one-page buffers: distinct, each written whole; given back and
 * asked for again, the region hands the same ones out (nothing new). */
START_TEST(buffers_distinct_and_reused)
{
    enum { N = 1000 };
    uint32_t ps = db->psize;
    uint8_t **b = calloc(N, sizeof *b);
    for (int i = 0; i < N; i++) {
        ck_assert_ptr_nonnull(b[i] = bi_pagebuf_get(db, 1));
        memset(b[i], i & 0xff, ps);
    }
    for (int i = 0; i < N; i++)
        for (uint32_t j = 0; j < ps; j += 512) ck_assert_msg(b[i][j] == (i & 0xff), "buffer %d overwritten", i);
    if (region_on()) {
        ck_assert_uint_eq(db->pagebuf.live, N);
        ck_assert_uint_eq(db->pagebuf.used, (size_t)N * ps);
    }
    for (int i = 0; i < N; i++) bi_pagebuf_put(db, b[i]);
    size_t used = db->pagebuf.used;
    for (int i = 0; i < N; i++) ck_assert_ptr_nonnull(b[i] = bi_pagebuf_get(db, 1));
    if (region_on()) ck_assert_uint_eq(db->pagebuf.used, used); /* all from the free list */
    for (int i = 0; i < N; i++) bi_pagebuf_put(db, b[i]);
    bi_pagebuf_put(db, NULL); /* a no-op */
    free(b);
}
END_TEST

/* A buffer of several pages is the heap's (outside the region), and goes
 * back there: the region's count of buffers out does not move. */
START_TEST(runs_from_the_heap)
{
    uint8_t *one = bi_pagebuf_get(db, 1);
    size_t live = db->pagebuf.live;
    uint8_t *run = bi_pagebuf_get(db, 5);
    ck_assert_ptr_nonnull(run);
    memset(run, 7, (size_t)5 * db->psize);
    if (region_on()) {
        ck_assert(run < db->pagebuf.base || run >= db->pagebuf.base + db->pagebuf.size);
        ck_assert_uint_eq(db->pagebuf.live, live);
    }
    bi_pagebuf_put(db, run);
    ck_assert_uint_eq(db->pagebuf.live, live);
    bi_pagebuf_put(db, one);
}
END_TEST

/* A transaction that dirties far more than BI_POOL_BYTES: at its end the
 * region starts over, at most BI_POOL_BYTES of it still faulted in. */
START_TEST(large_transaction_leaves_nothing)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    char v[900];
    memset(v, 'v', sizeof v);
    for (int i = 0; i < 20000; i++) { /* about 18 MB of leaves */
        char k[16];
        int n = snprintf(k, sizeof k, "k%08d", i);
        BT_OK(birch_put(w, t, (birch_val){k, (size_t)n}, (birch_val){v, sizeof v}, 0));
    }
    if (region_on()) ck_assert_uint_gt(db->pagebuf.used, (size_t)BI_POOL_BYTES);
    BT_OK(birch_txn_commit(w));
    ck_assert_uint_eq(db->pagebuf.live, 0);
    ck_assert_uint_eq(db->pagebuf.used, 0);
    ck_assert_uint_le(db->pagebuf.ready, (size_t)BI_POOL_BYTES);
    /* The same after an abort, and the data is what the commit wrote. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "t", 0);
    BT_OK(birch_del_range(w, t, (birch_val){NULL, 0}, (birch_val){NULL, 0}, NULL));
    birch_txn_abort(w);
    ck_assert_uint_eq(db->pagebuf.live, 0);
    ck_assert_uint_eq(db->pagebuf.used, 0);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    ck_assert_uint_eq(bt_count(r, t), 20000);
    birch_txn_abort(r);
    bt_check(db);
}
END_TEST

/* A nested level's copies of its parent's pages are buffers too: aborted
 * and committed children give every one back by the root's end. */
START_TEST(nested_copies_given_back)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    for (int round = 0; round < 4; round++) {
        birch_txn *c;
        BT_OK(birch_txn_begin_nested(w, &c));
        for (int i = 0; i < 500; i++) {
            char k[16];
            int n = snprintf(k, sizeof k, "k%06d", i);
            BT_OK(birch_put(c, t, (birch_val){k, (size_t)n}, (birch_val){k, (size_t)n}, 0));
        }
        if (round % 2) birch_txn_abort(c);
        else BT_OK(birch_txn_commit(c));
    }
    BT_OK(birch_txn_commit(w));
    ck_assert_uint_eq(db->pagebuf.live, 0);
    ck_assert_uint_eq(db->pagebuf.used, 0);
    bt_check(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pagebuf");
    TCase *tc = tcase_create("pagebuf");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, buffers_distinct_and_reused);
    tcase_add_test(tc, runs_from_the_heap);
    tcase_add_test(tc, large_transaction_leaves_nothing);
    tcase_add_test(tc, nested_copies_given_back);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
