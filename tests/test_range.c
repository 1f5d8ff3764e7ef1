/*
 * test_range.c - counts and ranks in O(log n) (birch_count_range,
 * birch_cursor_seek_rank, birch_cursor_rank), range deletion
 * (birch_del_range) and writes through a cursor (birch_cursor_put,
 * birch_cursor_del): exact answers on known tables, the leaves a range
 * deletion must not read, other cursors across cursor writes, bad input.
 * The randomized comparison with a model is in test_model_threads.c.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "support.h"

static char *path;
static birch_db *db;
static birch_options opts;

static void setup(void)
{
    path = bt_path("range");
    opts = bt_opts_fast();
    db = bt_open(path, &opts);
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

/* Key i: 8 bytes big-endian, so key order is number order. */
static birch_val key_of(uint64_t i, uint8_t k[8])
{
    for (int b = 0; b < 8; b++) k[b] = (uint8_t)(i >> (56 - 8 * b));
    return bt_val(k, 8);
}

/* Table t with keys 0, step, 2 * step, ... (n of them), values of vlen
 * bytes (a multiple of 8 past the overflow limit makes runs). */
static void fill(const char *name, uint64_t n, uint64_t step, size_t vlen)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, name, BIRCH_CREATE);
    uint8_t *v = calloc(1, vlen + 1), k[8];
    for (uint64_t i = 0; i < n; i++) {
        memcpy(v, &i, vlen < 8 ? vlen : 8);
        BT_OK(birch_put(w, t, key_of(i * step, k), bt_val(v, vlen), BIRCH_APPEND));
    }
    free(v);
    BT_OK(birch_txn_commit(w));
}

static uint64_t count_range(birch_txn *txn, birch_table *t, int64_t lo, int64_t hi)
{
    uint8_t a[8], b[8];
    birch_val l = lo < 0 ? (birch_val){NULL, 0} : key_of((uint64_t)lo, a);
    birch_val h = hi < 0 ? (birch_val){NULL, 0} : key_of((uint64_t)hi, b);
    uint64_t n = UINT64_MAX;
    BT_OK(birch_count_range(txn, t, l, h, &n));
    return n;
}

/* Keys 0, 2, 4, ...: counts of ranges whose bounds fall on keys and
 * between them, open ends, empty ranges, at every rank. */
START_TEST(count_range_exact)
{
    enum { N = 100000 };
    fill("t", N, 2, 16);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "t", 0);
    ck_assert_uint_eq(count_range(r, t, -1, -1), N);
    ck_assert_uint_eq(count_range(r, t, 0, 0), 0);
    ck_assert_uint_eq(count_range(r, t, 10, 10), 0);
    ck_assert_uint_eq(count_range(r, t, 10, 11), 1);   /* key 10 */
    ck_assert_uint_eq(count_range(r, t, 11, 12), 0);   /* no key 11 */
    ck_assert_uint_eq(count_range(r, t, 11, 13), 1);   /* key 12 */
    ck_assert_uint_eq(count_range(r, t, -1, 2 * 500), 500);
    ck_assert_uint_eq(count_range(r, t, 2 * 500, -1), N - 500);
    ck_assert_uint_eq(count_range(r, t, 2 * N, -1), 0); /* past the last */
    ck_assert_uint_eq(count_range(r, t, 2 * N + 5, 2 * N + 99), 0);
    bt_rng rng = {bt_seed(0x7a9e)};
    for (int i = 0; i < 20000; i++) {
        uint64_t a = bt_below(&rng, 2 * N + 10), b = bt_below(&rng, 2 * N + 10);
        if (a > b) { uint64_t x = a; a = b; b = x; }
        uint64_t want = (b + 1) / 2 - (a + 1) / 2;
        if (a / 2 >= N) want = 0;
        else if (b / 2 > N) want = N - (a + 1) / 2;
        ck_assert_msg(count_range(r, t, (int64_t)a, (int64_t)b) == want, "seed %" PRIu64 ": [%" PRIu64 ", %" PRIu64
                      ") counts %" PRIu64 ", want %" PRIu64, rng.s, a, b, count_range(r, t, (int64_t)a, (int64_t)b), want);
    }
    birch_cursor *c;
    BT_OK(birch_cursor_open(r, t, &c));
    for (uint64_t n = 0; n < N; n += 997) {
        BT_OK(birch_cursor_seek_rank(c, n));
        birch_val k;
        uint8_t want[8];
        BT_OK(birch_cursor_get(c, &k, NULL));
        ck_assert_mem_eq(k.data, key_of(2 * n, want).data, 8);
        uint64_t rank = UINT64_MAX;
        BT_OK(birch_cursor_rank(c, &rank));
        ck_assert_uint_eq(rank, n);
    }
    BT_OK(birch_cursor_seek_rank(c, N - 1));
    ck_assert_int_eq(birch_cursor_next(c), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_seek_rank(c, N), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_get(c, NULL, NULL), BIRCH_NOTFOUND); /* unpositioned */
    uint64_t rank;
    BT_RC(birch_cursor_rank(c, &rank), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_seek_rank(c, UINT64_MAX), BIRCH_NOTFOUND);
    birch_cursor_close(c);
    birch_txn_abort(r);
}
END_TEST

/* Half of the table deleted by one call: the count, the records either
 * side, birch_check's page accounting (nothing leaked or freed twice),
 * for small values and for values in overflow runs. */
static void half_by_range(size_t vlen)
{
    enum { N = 60000 };
    fill("t", N, 1, vlen);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", 0);
    uint8_t a[8], b[8];
    uint64_t n = 0;
    BT_OK(birch_del_range(w, t, key_of(N / 4, a), key_of(N / 4 + N / 2, b), &n));
    ck_assert_uint_eq(n, N / 2);
    ck_assert_uint_eq(bt_count(w, t), N - N / 2);
    ck_assert_uint_eq(count_range(w, t, N / 4, N / 4 + N / 2), 0);
    ck_assert_uint_eq(count_range(w, t, -1, N / 4), N / 4);
    uint8_t k[8];
    birch_val v;
    BT_OK(birch_get(w, t, key_of(N / 4 - 1, k), &v));
    BT_RC(birch_get(w, t, key_of(N / 4, k), &v), BIRCH_NOTFOUND);
    BT_RC(birch_get(w, t, key_of(N / 4 + N / 2 - 1, k), &v), BIRCH_NOTFOUND);
    BT_OK(birch_get(w, t, key_of(N / 4 + N / 2, k), &v));
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    w = bt_begin(db, BIRCH_TXN_WRITE); /* the rest, in pieces with open ends */
    t = bt_table(w, "t", 0);
    BT_OK(birch_del_range(w, t, (birch_val){NULL, 0}, key_of(100, a), &n));
    ck_assert_uint_eq(n, 100);
    BT_OK(birch_del_range(w, t, key_of(N - 100, a), (birch_val){NULL, 0}, &n));
    ck_assert_uint_eq(n, 100);
    BT_OK(birch_del_range(w, t, (birch_val){NULL, 0}, (birch_val){NULL, 0}, &n));
    ck_assert_uint_eq(n, N - N / 2 - 200);
    ck_assert_uint_eq(bt_count(w, t), 0);
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    birch_stat st = bt_stat(db);
    ck_assert_uint_ge(st.free_pages, 1);
}

START_TEST(del_range_half_small_values) { half_by_range(24); }
END_TEST

START_TEST(del_range_half_big_values) { half_by_range(3000); }
END_TEST

/* A range deletion frees the leaves inside the range by their numbers
 * alone: leaves in the middle of the range are overwritten with garbage
 * in the file, and the deletion neither reads them (it would find them
 * damaged) nor fails; what is left checks out. */
START_TEST(del_range_reads_no_inner_leaf)
{
    enum { N = 50000 };
    fill("t", N, 1, 40);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "t", 0);
    bi_tstate *ts;
    birch_txn *real = r;
    BT_OK(bi_txn_use(&real));
    BT_OK(bi_table_state(real, t, &ts));
    uint64_t leaves[8];
    for (int i = 0; i < 8; i++) { /* leaves of keys well inside [N/4, 3N/4) */
        bi_path p;
        int exact;
        uint8_t k[8];
        key_of(N / 3 + (uint64_t)i * (N / 24), k);
        BT_OK(bi_tree_search(real, &ts->tree, k, 8, &p, &exact));
        ck_assert(exact && p.depth >= 2);
        leaves[i] = p.pgno[p.depth - 1];
    }
    birch_txn_abort(r);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t junk[64];
    memset(junk, 0xA5, sizeof junk);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(pwrite(fd, junk, sizeof junk, (off_t)(leaves[i] * birch_page_size(db))), (ssize_t)sizeof junk);
    close(fd);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "t", 0);
    uint8_t a[8], b[8];
    uint64_t n;
    BT_OK(birch_del_range(w, t, key_of(N / 4, a), key_of(3 * N / 4, b), &n));
    ck_assert_uint_eq(n, N / 2);
    BT_OK(birch_txn_commit(w));
    bt_check(db); /* the damaged leaves are free pages now: never read */
}
END_TEST

/* Every other record deleted through the cursor during one scan; a
 * second cursor parked on a surviving record and a third on a deleted
 * one behave as birch.h says; a rewrite through BIRCH_CURRENT. */
START_TEST(cursor_del_every_other)
{
    enum { N = 30000 };
    fill("t", N, 1, 16);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", 0);
    birch_cursor *c, *keep, *gone;
    uint8_t k[8];
    BT_OK(birch_cursor_open(w, t, &c));
    BT_OK(birch_cursor_open(w, t, &keep));
    BT_OK(birch_cursor_open(w, t, &gone));
    BT_OK(birch_cursor_seek(keep, key_of(1001, k)));
    BT_OK(birch_cursor_seek(gone, key_of(1000, k)));
    uint64_t i = 0;
    int rc = birch_cursor_first(c);
    while (rc == BIRCH_OK) {
        birch_val key;
        BT_OK(birch_cursor_get(c, &key, NULL));
        ck_assert_mem_eq(key.data, key_of(i, k).data, 8);
        if (i % 2 == 0) {
            BT_OK(birch_cursor_del(c)); /* now on i + 1 */
        } else {
            if (i % 10 == 1) BT_OK(birch_cursor_put(c, (birch_val){NULL, 0}, bt_str("rewritten"), BIRCH_CURRENT));
            rc = birch_cursor_next(c);
        }
        i++;
        if (i == N) break;
    }
    ck_assert_uint_eq(i, N);
    BT_RC(birch_cursor_get(c, NULL, NULL), BIRCH_NOTFOUND); /* past the end */
    ck_assert_uint_eq(bt_count(w, t), N / 2);
    birch_val key, val;
    BT_OK(birch_cursor_get(keep, &key, NULL));
    ck_assert_mem_eq(key.data, key_of(1001, k).data, 8);
    uint64_t rank;
    BT_OK(birch_cursor_rank(keep, &rank));
    ck_assert_uint_eq(rank, 500);
    BT_RC(birch_cursor_get(gone, NULL, NULL), BIRCH_NOTFOUND);
    BT_OK(birch_cursor_next(gone));
    BT_OK(birch_cursor_get(gone, &key, &val));
    ck_assert_mem_eq(key.data, key_of(1001, k).data, 8);
    ck_assert_uint_eq(val.size, 9);
    ck_assert_mem_eq(val.data, "rewritten", 9);
    birch_cursor_close(c);
    birch_cursor_close(keep);
    birch_cursor_close(gone);
    BT_OK(birch_txn_commit(w));
    bt_check(db);
}
END_TEST

/* birch_cursor_put inserts and positions; a key the cursor returned may
 * be given back to it. */
START_TEST(cursor_put_positions)
{
    fill("t", 1000, 2, 8);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", 0);
    birch_cursor *c;
    uint8_t k[8];
    BT_OK(birch_cursor_open(w, t, &c));
    BT_OK(birch_cursor_put(c, key_of(501, k), bt_str("odd"), 0));
    birch_val key, val;
    BT_OK(birch_cursor_get(c, &key, &val));
    ck_assert_mem_eq(key.data, key_of(501, k).data, 8);
    uint64_t rank;
    BT_OK(birch_cursor_rank(c, &rank));
    ck_assert_uint_eq(rank, 251);
    BT_OK(birch_cursor_next(c));
    BT_OK(birch_cursor_get(c, &key, NULL));
    ck_assert_mem_eq(key.data, key_of(502, k).data, 8);
    /* its own key and a value pointing into the page */
    BT_OK(birch_cursor_get(c, &key, &val));
    BT_OK(birch_cursor_put(c, key, bt_val(val.data, 4), 0));
    BT_OK(birch_cursor_get(c, &key, &val));
    ck_assert_mem_eq(key.data, key_of(502, k).data, 8);
    ck_assert_uint_eq(val.size, 4);
    BT_RC(birch_cursor_put(c, key_of(502, k), bt_str("x"), BIRCH_NOOVERWRITE), BIRCH_EXISTS);
    birch_cursor_close(c);
    BT_OK(birch_txn_commit(w));
}
END_TEST

/* Each call's bad input: a specific error, nothing changed, the
 * transaction still usable. */
START_TEST(bad_input)
{
    fill("t", 100, 1, 8);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", 0);
    uint8_t a[8], b[8];
    uint64_t n;
    BT_RC(birch_count_range(w, t, key_of(50, a), key_of(10, b), &n), BIRCH_EINVAL);
    BT_ERRMSG_HAS("lo sorts after hi");
    BT_RC(birch_del_range(w, t, key_of(50, a), key_of(10, b), &n), BIRCH_EINVAL);
    BT_RC(birch_count_range(w, t, key_of(1, a), key_of(2, b), NULL), BIRCH_EINVAL);
    BT_RC(birch_count_range(NULL, t, key_of(1, a), key_of(2, b), &n), BIRCH_EINVAL);
    BT_RC(birch_del_range(w, NULL, key_of(1, a), key_of(2, b), &n), BIRCH_EINVAL);
    BT_RC(birch_del_range(w, t, (birch_val){NULL, 3}, key_of(2, b), &n), BIRCH_EINVAL);
    size_t big = birch_max_key_size(db) + 1;
    uint8_t *huge = calloc(1, big);
    BT_RC(birch_del_range(w, t, key_of(1, a), bt_val(huge, big), &n), BIRCH_EKEYSIZE);
    free(huge);
    BT_OK(birch_del_range(w, t, key_of(7, a), key_of(7, b), &n)); /* empty: nothing to do */
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(bt_count(w, t), 100);
    birch_cursor *c;
    BT_OK(birch_cursor_open(w, t, &c));
    BT_RC(birch_cursor_del(c), BIRCH_NOTFOUND); /* unpositioned */
    BT_RC(birch_cursor_put(c, (birch_val){NULL, 0}, bt_str("v"), BIRCH_CURRENT), BIRCH_NOTFOUND);
    BT_OK(birch_cursor_first(c));
    BT_RC(birch_cursor_put(c, key_of(5, a), bt_str("v"), BIRCH_CURRENT), BIRCH_EINVAL);
    BT_RC(birch_cursor_put(c, (birch_val){NULL, 0}, bt_str("v"), BIRCH_CURRENT | BIRCH_NOOVERWRITE), BIRCH_EINVAL);
    BT_RC(birch_cursor_put(c, key_of(5, a), bt_str("v"), 0x80), BIRCH_EINVAL);
    BT_RC(birch_cursor_put(NULL, key_of(5, a), bt_str("v"), 0), BIRCH_EINVAL);
    BT_RC(birch_cursor_del(NULL), BIRCH_EINVAL);
    uint64_t rank;
    BT_RC(birch_cursor_rank(c, NULL), BIRCH_EINVAL);
    BT_RC(birch_cursor_rank(NULL, &rank), BIRCH_EINVAL);
    BT_RC(birch_cursor_seek_rank(NULL, 0), BIRCH_EINVAL);
    BT_OK(birch_cursor_del(c)); /* still usable */
    birch_cursor_close(c);
    ck_assert_uint_eq(bt_count(w, t), 99);
    BT_OK(birch_txn_commit(w));
    /* Writes through a read transaction's cursor; a range in a read txn. */
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    BT_OK(birch_cursor_open(r, t, &c));
    BT_OK(birch_cursor_first(c));
    BT_RC(birch_cursor_del(c), BIRCH_EREADONLY);
    BT_RC(birch_cursor_put(c, (birch_val){NULL, 0}, bt_str("v"), BIRCH_CURRENT), BIRCH_EREADONLY);
    BT_RC(birch_del_range(r, t, (birch_val){NULL, 0}, (birch_val){NULL, 0}, &n), BIRCH_EREADONLY);
    ck_assert_uint_eq(count_range(r, t, -1, -1), 99);
    birch_cursor_close(c);
    birch_txn_abort(r);
    /* An ended transaction's cursor. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "t", 0);
    BT_OK(birch_cursor_open(w, t, &c));
    BT_OK(birch_cursor_first(c));
    birch_txn_abort(w);
    BT_RC(birch_cursor_del(c), BIRCH_ETXN);
    BT_RC(birch_cursor_rank(c, &rank), BIRCH_ETXN);
    birch_cursor_close(c);
}
END_TEST

/* Counts survive a reopen and stay exact after random changes in many
 * commits (birch_check verifies every count word). */
START_TEST(counts_across_commits)
{
    uint64_t seed = bt_seed(0xc0ffee);
    bt_rng rng = {seed};
    bt_model m;
    bt_model_init(&m);
    for (int c = 0; c < 30; c++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "t", BIRCH_CREATE);
        for (int i = 0; i < 400; i++) {
            uint8_t k[8];
            uint64_t x = bt_below(&rng, 20000);
            key_of(x, k);
            if (bt_chance(&rng, 70)) {
                size_t vn = bt_chance(&rng, 5) ? 5000 : 20;
                uint8_t *v = calloc(1, vn);
                bt_put(w, t, k, 8, v, vn);
                bt_model_put(&m, k, 8, v, vn);
                free(v);
            } else {
                int had = bt_model_del(&m, k, 8);
                BT_RC(birch_del(w, t, bt_val(k, 8)), had ? BIRCH_OK : BIRCH_NOTFOUND);
            }
        }
        BT_OK(birch_txn_commit(w));
        if (c % 10 == 9) db = bt_reopen(db, path, &opts);
        bt_check(db);
        birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
        t = bt_table(r, "t", 0);
        for (int q = 0; q < 50; q++) {
            uint64_t lo = bt_below(&rng, 21000), hi = lo + bt_below(&rng, 5000);
            uint8_t a[8], b[8];
            key_of(lo, a), key_of(hi, b);
            size_t want = bt_model_lower(&m, b, 8, NULL) - bt_model_lower(&m, a, 8, NULL);
            ck_assert_msg(count_range(r, t, (int64_t)lo, (int64_t)hi) == want, "seed %" PRIu64 ": commit %d", seed, c);
        }
        birch_txn_abort(r);
    }
    bt_model_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("range");
    TCase *tc = bt_tcase("range");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, count_range_exact);
    tcase_add_test(tc, del_range_half_small_values);
    tcase_add_test(tc, del_range_half_big_values);
    tcase_add_test(tc, del_range_reads_no_inner_leaf);
    tcase_add_test(tc, cursor_del_every_other);
    tcase_add_test(tc, cursor_put_positions);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, counts_across_commits);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
