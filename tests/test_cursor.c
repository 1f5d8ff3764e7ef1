/*
 * test_cursor.c - cursors: first/last/next/prev/seek on empty and deep
 * trees, the unpositioned state at either end, NULL out-pointers, cursors in
 * write transactions across puts and deletes, cursors in read transactions
 * across commits, random moves compared with a model.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static char *path;
static birch_db *db;
static birch_options opts;

static void setup(void)
{
    path = bt_path("cursor");
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

static birch_cursor *cur_open(birch_txn *txn, birch_table *t)
{
    birch_cursor *c = NULL;
    BT_OK(birch_cursor_open(txn, t, &c));
    ck_assert_ptr_nonnull(c);
    return c;
}

/* The cursor is on key k (string). */
static void at_s(birch_cursor *c, const char *k)
{
    birch_val key = {NULL, 0}, val = {NULL, 0};
    BT_OK(birch_cursor_get(c, &key, &val));
    ck_assert_msg(key.size == strlen(k) && memcmp(key.data, k, key.size) == 0,
                  "cursor on '%.*s', expected '%s'", (int)key.size, (const char *)key.data, k);
    ck_assert_msg(BT_ALIGNED(val.data), "cursor value pointer %p not aligned", val.data);
}

static void fill_keys(birch_txn *w, birch_table *t, int n)
{
    char k[32];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "k%06d", i * 2); /* even numbers: odd ones fall between */
        bt_put_s(w, t, k, k);
    }
}

START_TEST(empty_table)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    birch_cursor *c = cur_open(w, t);
    birch_val k, v;
    BT_RC(birch_cursor_get(c, &k, &v), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_first(c), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_last(c), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_next(c), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_prev(c), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_seek(c, bt_str("a")), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_get(c, &k, &v), BIRCH_NOTFOUND);
    birch_cursor_close(c);
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    c = cur_open(r, bt_table(r, "t", 0));
    BT_RC(birch_cursor_first(c), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_last(c), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_next(c), BIRCH_NOTFOUND);
    birch_cursor_close(c);
    birch_txn_abort(r);
}
END_TEST

/* Forward and backward over a tree several levels deep. */
START_TEST(full_scans_both_ways)
{
    enum { N = 20000 };
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    fill_keys(w, t, N);
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    birch_cursor *c = cur_open(r, t);
    char k[32];
    int i = 0;
    for (int rc = birch_cursor_first(c); rc == BIRCH_OK; rc = birch_cursor_next(c), i++) {
        snprintf(k, sizeof k, "k%06d", i * 2);
        at_s(c, k);
    }
    ck_assert_int_eq(i, N);
    /* Past the end the cursor is unpositioned. */
    birch_val kv;
    BT_RC(birch_cursor_get(c, &kv, NULL), BIRCH_NOTFOUND);
    i = N - 1;
    for (int rc = birch_cursor_last(c); rc == BIRCH_OK; rc = birch_cursor_prev(c), i--) {
        snprintf(k, sizeof k, "k%06d", i * 2);
        at_s(c, k);
    }
    ck_assert_int_eq(i, -1);
    birch_cursor_close(c);
    birch_txn_abort(r);
}
END_TEST

START_TEST(seek_positions)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    fill_keys(w, t, 5000);
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    birch_cursor *c = cur_open(r, t);
    char k[32], want[32];
    for (int i = 0; i < 10000; i += 7) {
        snprintf(k, sizeof k, "k%06d", i);
        BT_OK(birch_cursor_seek(c, bt_str(k)));
        snprintf(want, sizeof want, "k%06d", (i + 1) / 2 * 2); /* first even >= i */
        at_s(c, want);
        if (i >= 2) {
            BT_OK(birch_cursor_prev(c));
            snprintf(want, sizeof want, "k%06d", ((i + 1) / 2 - 1) * 2);
            at_s(c, want);
        }
    }
    BT_OK(birch_cursor_seek(c, bt_str("a")));
    at_s(c, "k000000");
    BT_OK(birch_cursor_seek(c, bt_str("k00000"))); /* prefix of the first key */
    at_s(c, "k000000");
    BT_OK(birch_cursor_seek(c, bt_str("k009998")));
    at_s(c, "k009998");
    BT_RC(birch_cursor_seek(c, bt_val("k009998\x00", 8)), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_seek(c, bt_str("l")), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_get(c, NULL, NULL), BIRCH_NOTFOUND);
    /* Unpositioned after a failed seek: next acts as first, prev as last. */
    BT_OK(birch_cursor_next(c));
    at_s(c, "k000000");
    BT_RC(birch_cursor_seek(c, bt_str("zzz")), BIRCH_NOTFOUND);
    BT_OK(birch_cursor_prev(c));
    at_s(c, "k009998");
    birch_cursor_close(c);
    birch_txn_abort(r);
}
END_TEST

START_TEST(ends_and_unpositioned)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    fill_keys(w, t, 3);
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    birch_cursor *c = cur_open(r, t);
    BT_OK(birch_cursor_next(c)); /* fresh: next = first */
    at_s(c, "k000000");
    birch_cursor_close(c);
    c = cur_open(r, t);
    BT_OK(birch_cursor_prev(c)); /* fresh: prev = last */
    at_s(c, "k000004");
    BT_RC(birch_cursor_next(c), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_get(c, NULL, NULL), BIRCH_NOTFOUND);
    BT_OK(birch_cursor_next(c)); /* wraps to first */
    at_s(c, "k000000");
    BT_RC(birch_cursor_prev(c), BIRCH_NOTFOUND);
    BT_OK(birch_cursor_prev(c)); /* wraps to last */
    at_s(c, "k000004");
    /* NULL out-pointers are allowed. */
    birch_val k = {NULL, 0}, v = {NULL, 0};
    BT_OK(birch_cursor_get(c, NULL, NULL));
    BT_OK(birch_cursor_get(c, &k, NULL));
    ck_assert_uint_eq(k.size, 7);
    BT_OK(birch_cursor_get(c, NULL, &v));
    ck_assert_uint_eq(v.size, 7);
    ck_assert_mem_eq(v.data, "k000004", 7);
    birch_cursor_close(c);
    birch_txn_abort(r);
}
END_TEST

/* In a write transaction a cursor keeps its key across puts and deletes. */
START_TEST(write_txn_cursor_survives_changes)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    fill_keys(w, t, 3000);
    birch_cursor *c = cur_open(w, t);
    BT_OK(birch_cursor_seek(c, bt_str("k001000")));
    at_s(c, "k001000");
    /* Inserts around it, enough to split its page. */
    char k[32];
    for (int i = 0; i < 400; i++) {
        snprintf(k, sizeof k, "k00100%d-%03d", i % 2, i);
        bt_put_s(w, t, k, "inserted value inserted value inserted value");
    }
    at_s(c, "k001000");
    BT_OK(birch_cursor_next(c));
    at_s(c, "k001000-000"); /* the smallest insert after k001000 */
    BT_OK(birch_cursor_seek(c, bt_str("k002000")));
    /* Delete the key under the cursor: get says NOTFOUND, moves continue. */
    BT_OK(birch_del(w, t, bt_str("k002000")));
    BT_RC(birch_cursor_get(c, NULL, NULL), BIRCH_NOTFOUND);
    BT_OK(birch_cursor_next(c));
    at_s(c, "k002002");
    BT_OK(birch_del(w, t, bt_str("k002002")));
    BT_OK(birch_cursor_prev(c));
    at_s(c, "k001998");
    /* Delete a whole range after the cursor (merges pages), then next. */
    for (int i = 2004; i < 4000; i += 2) {
        snprintf(k, sizeof k, "k%06d", i);
        BT_OK(birch_del(w, t, bt_str(k)));
    }
    BT_OK(birch_cursor_next(c));
    at_s(c, "k004000");
    BT_OK(birch_txn_commit(w));
    BT_RC(birch_cursor_next(c), BIRCH_ETXN); /* the caller closes it, after the end too */
    birch_cursor_close(c);
}
END_TEST

/* Deleting each key as the scan reaches it, and inserting a key right after
 * each visited key, both during one forward scan. */
START_TEST(modify_during_scan)
{
    enum { N = 2000 };
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    fill_keys(w, t, N);
    birch_cursor *c = cur_open(w, t);
    int visited = 0, inserted = 0;
    char k[32];
    for (int rc = birch_cursor_first(c); rc == BIRCH_OK; rc = birch_cursor_next(c)) {
        birch_val key;
        BT_OK(birch_cursor_get(c, &key, NULL));
        memcpy(k, key.data, key.size);
        k[key.size] = 0;
        visited++;
        if (key.size == 7) { /* an original key: delete it, add one after it */
            BT_OK(birch_del(w, t, bt_str(k)));
            strcat(k, "+");
            bt_put_s(w, t, k, "new");
            inserted++;
        } else {
            ck_assert_msg(k[7] == '+', "unexpected key %s", k);
        }
    }
    ck_assert_int_eq(inserted, N);
    ck_assert_int_eq(visited, 2 * N); /* every inserted key was visited too */
    ck_assert_uint_eq(bt_count(w, t), N);
    birch_cursor_close(c);
    BT_OK(birch_txn_commit(w));
}
END_TEST

/* A cursor in a read transaction keeps walking its snapshot while the
 * writer deletes everything and commits. */
START_TEST(read_cursor_ignores_later_commits)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    fill_keys(w, t, 4000);
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_cursor *c = cur_open(r, t);
    BT_OK(birch_cursor_seek(c, bt_str("k002000")));
    char k[32];
    for (int round = 0; round < 4; round++) {
        w = bt_begin(db, BIRCH_TXN_WRITE);
        for (int i = 0; i < 4000; i++) {
            snprintf(k, sizeof k, "k%06d", i * 2);
            if (round % 2 == 0)
                BT_OK(birch_del(w, t, bt_str(k)));
            else
                bt_put_s(w, t, k, "changed");
        }
        BT_OK(birch_txn_commit(w));
    }
    for (int i = 1000; i < 4000; i++) {
        snprintf(k, sizeof k, "k%06d", i * 2);
        at_s(c, k);
        birch_val v;
        BT_OK(birch_cursor_get(c, NULL, &v));
        ck_assert_mem_eq(v.data, k, 7);
        int rc = birch_cursor_next(c);
        if (i < 3999) BT_OK(rc);
        else BT_RC(rc, BIRCH_NOTFOUND);
    }
    birch_cursor_close(c);
    birch_txn_abort(r);
}
END_TEST

/* Several cursors on two tables at once move independently. */
START_TEST(independent_cursors)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *a = bt_table(w, "a", BIRCH_CREATE);
    birch_table *b = bt_table(w, "b", BIRCH_CREATE);
    fill_keys(w, a, 100);
    bt_put_s(w, b, "only", "one");
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_cursor *c1 = cur_open(r, a), *c2 = cur_open(r, a), *c3 = cur_open(r, b);
    BT_OK(birch_cursor_first(c1));
    BT_OK(birch_cursor_last(c2));
    BT_OK(birch_cursor_first(c3));
    BT_OK(birch_cursor_next(c1));
    BT_OK(birch_cursor_prev(c2));
    at_s(c1, "k000002");
    at_s(c2, "k000196");
    at_s(c3, "only");
    BT_RC(birch_cursor_next(c3), BIRCH_NOTFOUND);
    at_s(c1, "k000002");
    birch_cursor_close(c2);
    birch_cursor_close(c1);
    birch_cursor_close(c3);
    birch_txn_abort(r);
}
END_TEST

static const unsigned char alpha[5] = {0x00, 0x01, 'a', 'b', 0xff};

/* Random seeks and walks in both directions over random keys (prefixes,
 * zero bytes, up to the maximum length) and values of all sizes. */
START_TEST(random_moves_vs_model)
{
    uint64_t seed = bt_seed(0xc0c0);
    bt_rng rng = {seed};
    size_t mk = birch_max_key_size(db);
    unsigned char key[2048], val[20000];
    bt_model m;
    bt_model_init(&m);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    for (int i = 0; i < 4000; i++) {
        size_t kn = bt_chance(&rng, 70) ? bt_range(&rng, 1, 6) : bt_range(&rng, 1, mk);
        for (size_t j = 0; j < kn; j++) key[j] = alpha[bt_below(&rng, 5)];
        size_t vn = bt_chance(&rng, 90) ? bt_below(&rng, 100) : bt_below(&rng, sizeof val);
        bt_fill(&rng, val, vn);
        bt_put(w, t, key, kn, val, vn);
        bt_model_put(&m, key, kn, val, vn);
    }
    BT_OK(birch_txn_commit(w));

    for (int pass = 0; pass < 2; pass++) {
        birch_txn *txn = bt_begin(db, pass ? BIRCH_TXN_WRITE : BIRCH_TXN_READ);
        birch_cursor *c = cur_open(txn, t);
        for (int s = 0; s < 300; s++) {
            size_t kn = bt_range(&rng, 1, 8);
            for (size_t j = 0; j < kn; j++) key[j] = alpha[bt_below(&rng, 5)];
            int found;
            size_t idx = bt_model_lower(&m, key, kn, &found);
            int rc = birch_cursor_seek(c, bt_val(key, kn));
            if (idx == m.n) {
                ck_assert_msg(rc == BIRCH_NOTFOUND, "seed %" PRIu64 ": seek past the end gave %d",
                              seed, rc);
                continue;
            }
            ck_assert_msg(rc == BIRCH_OK, "seed %" PRIu64 ": seek gave %d", seed, rc);
            int dir = bt_chance(&rng, 50) ? 1 : -1;
            int steps = (int)bt_range(&rng, 1, 60);
            long i = (long)idx;
            for (int st = 0; st < steps; st++) {
                birch_val k, v;
                BT_OK(birch_cursor_get(c, &k, &v));
                const bt_item *it = m.v[i];
                ck_assert_msg(bt_keycmp(k.data, k.size, it->key, it->klen) == 0,
                              "seed %" PRIu64 ": seek %d step %d: wrong key", seed, s, st);
                ck_assert_msg(v.size == it->vlen && memcmp(v.data, it->val, v.size) == 0,
                              "seed %" PRIu64 ": seek %d step %d: wrong value", seed, s, st);
                ck_assert_msg(BT_ALIGNED(v.data), "seed %" PRIu64 ": unaligned value", seed);
                rc = dir > 0 ? birch_cursor_next(c) : birch_cursor_prev(c);
                i += dir;
                if (i < 0 || (size_t)i >= m.n) {
                    ck_assert_msg(rc == BIRCH_NOTFOUND, "seed %" PRIu64 ": walked past an end",
                                  seed);
                    break;
                }
                ck_assert_msg(rc == BIRCH_OK, "seed %" PRIu64 ": move gave %d", seed, rc);
            }
        }
        birch_txn_abort(txn);
        birch_cursor_close(c);
    }
    bt_model_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cursor");
    TCase *tc = bt_tcase("cursor");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, empty_table);
    tcase_add_test(tc, full_scans_both_ways);
    tcase_add_test(tc, seek_positions);
    tcase_add_test(tc, ends_and_unpositioned);
    tcase_add_test(tc, write_txn_cursor_survives_changes);
    tcase_add_test(tc, modify_during_scan);
    tcase_add_test(tc, read_cursor_ignores_later_commits);
    tcase_add_test(tc, independent_cursors);
    tcase_add_test(tc, random_moves_vs_model);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
