/*
 * test_record.c - birch_put / birch_get / birch_del / birch_count: key order
 * and comparison, overwrite, NOOVERWRITE, APPEND, key and value size limits,
 * inline and overflow values and changes between them, binary keys,
 * thousands of keys inserted and deleted in random order, persistence.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static char *path;
static birch_db *db;
static birch_options opts;

static void setup(void)
{
    path = bt_path("record");
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

START_TEST(put_get_overwrite_del)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put_s(w, t, "apple", "red");
    bt_put_s(w, t, "banana", "yellow");
    ck_assert_uint_eq(bt_count(w, t), 2);
    bt_put_s(w, t, "apple", "green, a much longer value than before");
    bt_expect_s(w, t, "apple", "green, a much longer value than before");
    ck_assert_uint_eq(bt_count(w, t), 2);
    bt_put_s(w, t, "apple", "");
    bt_expect_s(w, t, "apple", "");
    BT_OK(birch_del(w, t, bt_str("banana")));
    bt_expect_absent(w, t, "banana", 6);
    BT_RC(birch_del(w, t, bt_str("banana")), BIRCH_NOTFOUND);
    BT_RC(birch_del(w, t, bt_str("cherry")), BIRCH_NOTFOUND);
    ck_assert_uint_eq(bt_count(w, t), 1);
    BT_OK(birch_txn_commit(w));

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    bt_expect_s(r, t, "apple", "");
    bt_expect_absent(r, t, "banana", 6);
    ck_assert_uint_eq(bt_count(r, t), 1);
    birch_txn_abort(r);
}
END_TEST

/* Keys compare with memcmp, shorter first on a tie: prefixes are distinct
 * keys, and zero bytes and 0xff bytes are ordinary bytes. */
START_TEST(binary_keys_and_prefixes)
{
    static const struct {
        const char *k;
        size_t n;
    } keys[] = {
        {"\x00", 1},         {"\x00\x00", 2},     {"\x00\x01", 2}, {"\x01", 1},
        {"a", 1},            {"ab", 2},           {"ab\x00", 3},   {"abc", 3},
        {"abcd", 4},         {"abcde", 5},        {"abd", 3},      {"b", 1},
        {"\x7f", 1},         {"\x80", 1},         {"\xff", 1},     {"\xff\x00", 2},
        {"\xff\xff", 2},     {"\xff\xff\xff", 3},
    };
    const int n = (int)(sizeof keys / sizeof keys[0]);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    for (int i = n - 1; i >= 0; i--) bt_put(w, t, keys[i].k, keys[i].n, &i, sizeof i);
    ck_assert_uint_eq(bt_count(w, t), (uint64_t)n);
    BT_OK(birch_txn_commit(w));

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    for (int i = 0; i < n; i++) bt_expect(r, t, keys[i].k, keys[i].n, &i, sizeof i);
    bt_expect_absent(r, t, "abcdef", 6);
    bt_expect_absent(r, t, "\x00\x00\x00", 3);
    /* A forward scan gives the keys in the order listed. */
    birch_cursor *c = NULL;
    BT_OK(birch_cursor_open(r, t, &c));
    int i = 0;
    for (int rc = birch_cursor_first(c); rc == BIRCH_OK; rc = birch_cursor_next(c), i++) {
        birch_val k, v;
        BT_OK(birch_cursor_get(c, &k, &v));
        ck_assert_int_lt(i, n);
        ck_assert_uint_eq(k.size, keys[i].n);
        ck_assert_mem_eq(k.data, keys[i].k, keys[i].n);
        ck_assert_mem_eq(v.data, &i, sizeof i);
    }
    ck_assert_int_eq(i, n);
    birch_cursor_close(c);
    birch_txn_abort(r);
}
END_TEST

START_TEST(nooverwrite)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    BT_OK(birch_put(w, t, bt_str("k"), bt_str("first"), BIRCH_NOOVERWRITE));
    BT_RC(birch_put(w, t, bt_str("k"), bt_str("second"), BIRCH_NOOVERWRITE), BIRCH_EXISTS);
    bt_expect_s(w, t, "k", "first");
    /* EXISTS does not fail the transaction. */
    bt_put_s(w, t, "k2", "v2");
    BT_OK(birch_txn_commit(w));
    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "t", 0);
    BT_RC(birch_put(w, t, bt_str("k"), bt_str("third"), BIRCH_NOOVERWRITE), BIRCH_EXISTS);
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "t", 0), "k", "first");
    bt_expect_s(r, bt_table(r, "t", 0), "k2", "v2");
    birch_txn_abort(r);
}
END_TEST

/* A sorted bulk load with APPEND, across commits, with prefixes; keys that
 * do not sort after the last one are refused. */
START_TEST(append_bulk_load)
{
    enum { N = 20000 };
    char k[32];
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    for (int i = 0; i < N / 2; i++) {
        snprintf(k, sizeof k, "%08d", i);
        BT_OK(birch_put(w, t, bt_str(k), bt_str(k), BIRCH_APPEND));
    }
    BT_RC(birch_put(w, t, bt_str("00000005"), bt_str("x"), BIRCH_APPEND), BIRCH_EXISTS);
    snprintf(k, sizeof k, "%08d", N / 2 - 1);
    BT_RC(birch_put(w, t, bt_str(k), bt_str("x"), BIRCH_APPEND), BIRCH_EXISTS); /* equal */
    bt_expect_s(w, t, k, k);
    BT_OK(birch_txn_commit(w));

    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "t", 0);
    for (int i = N / 2; i < N; i++) {
        snprintf(k, sizeof k, "%08d", i);
        BT_OK(birch_put(w, t, bt_str(k), bt_str(k), BIRCH_APPEND));
        if (i % 1000 == 0) { /* an extension of the last key sorts after it */
            char k2[40];
            snprintf(k2, sizeof k2, "%s\x01", k);
            BT_OK(birch_put(w, t, bt_str(k2), bt_str("ext"), BIRCH_APPEND));
        }
    }
    BT_OK(birch_txn_commit(w));

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    ck_assert_uint_eq(bt_count(r, t), N + N / 2 / 1000);
    for (int i = 0; i < N; i += 13) {
        snprintf(k, sizeof k, "%08d", i);
        bt_expect_s(r, t, k, k);
    }
    birch_txn_abort(r);
}
END_TEST

/* Keys of every length from 1 to the maximum; the limit is exact. */
START_TEST(key_sizes)
{
    size_t mk = birch_max_key_size(db);
    unsigned char *key = malloc(mk + 2);
    bt_pattern(key, mk + 2, 7);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    for (size_t n = 1; n <= mk; n++) {
        key[0] = (unsigned char)(n >> 8); /* distinct first bytes keep keys apart */
        key[1 % n] = (unsigned char)n;
        bt_put(w, t, key, n, &n, sizeof n);
    }
    BT_RC(birch_put(w, t, bt_val(key, mk + 1), bt_val("v", 1), 0), BIRCH_EKEYSIZE);
    BT_RC(birch_put(w, t, bt_val(key, 0), bt_val("v", 1), 0), BIRCH_EKEYSIZE);
    BT_OK(birch_txn_commit(w));
    db = bt_reopen(db, path, &opts);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    ck_assert_uint_eq(bt_count(r, t), mk);
    for (size_t n = 1; n <= mk; n++) {
        key[0] = (unsigned char)(n >> 8);
        key[1 % n] = (unsigned char)n;
        bt_expect(r, t, key, n, &n, sizeof n);
    }
    birch_txn_abort(r);
    free(key);
}
END_TEST

/* Values from 0 bytes to several pages, including sizes around the inline
 * and overflow thresholds; values change between inline and overflow. */
START_TEST(value_sizes_and_overflow_changes)
{
    uint32_t ps = birch_page_size(db);
    size_t sizes[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 100, 255, 256, 511, 512, 1000, 1023,
                      1024, 1025, ps / 4 - 1, ps / 4, ps / 4 + 1, ps / 2 - 17, ps / 2,
                      ps / 2 + 1, ps - 64, ps - 16, ps - 1, ps, ps + 1, 2 * ps - 16,
                      2 * ps, 3 * ps, 3 * ps + 5, 10 * ps, 100000, 1 << 20};
    const int n = (int)(sizeof sizes / sizeof sizes[0]);
    size_t maxv = 1 << 20;
    unsigned char *buf = malloc(maxv);
    char k[32];

    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "size%03d", i);
        bt_pattern(buf, sizes[i], (uint64_t)i);
        bt_put(w, t, k, strlen(k), buf, sizes[i]);
        bt_expect(w, t, k, strlen(k), buf, sizes[i]);
    }
    BT_OK(birch_txn_commit(w));

    /* Each value changes to the size of another (small <-> big). */
    for (int round = 1; round <= 3; round++) {
        w = bt_begin(db, BIRCH_TXN_WRITE);
        t = bt_table(w, "t", 0);
        for (int i = 0; i < n; i++) {
            int j = (i * 7 + round * 11) % n;
            snprintf(k, sizeof k, "size%03d", i);
            bt_pattern(buf, sizes[j], (uint64_t)(round * 1000 + i));
            bt_put(w, t, k, strlen(k), buf, sizes[j]);
        }
        BT_OK(birch_txn_commit(w));
        db = bt_reopen(db, path, &opts);
        birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
        t = bt_table(r, "t", 0);
        for (int i = 0; i < n; i++) {
            int j = (i * 7 + round * 11) % n;
            snprintf(k, sizeof k, "size%03d", i);
            bt_pattern(buf, sizes[j], (uint64_t)(round * 1000 + i));
            bt_expect(r, t, k, strlen(k), buf, sizes[j]);
        }
        birch_txn_abort(r);
    }
    /* Delete the big ones. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "t", 0);
    for (int i = 0; i < n; i += 2) {
        snprintf(k, sizeof k, "size%03d", i);
        BT_OK(birch_del(w, t, bt_str(k)));
    }
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    ck_assert_uint_eq(bt_count(r, t), (uint64_t)(n - (n + 1) / 2));
    birch_txn_abort(r);
    free(buf);
}
END_TEST

static void random_key(bt_rng *r, unsigned char *k, size_t *n, size_t mk)
{
    *n = bt_chance(r, 80) ? bt_range(r, 1, 24) : bt_range(r, 1, mk);
    bt_fill(r, k, *n);
}

/* Thousands of random keys inserted in random order in several commits,
 * half of them deleted, the rest overwritten; compared with the model. */
START_TEST(random_insert_delete_vs_model)
{
    uint64_t seed = bt_seed(0xb1c4);
    bt_rng rng = {seed};
    size_t mk = birch_max_key_size(db);
    unsigned char key[4096], val[9000];
    bt_model m;
    bt_model_init(&m);
    for (int c = 0; c < 10; c++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "t", BIRCH_CREATE);
        for (int i = 0; i < 1500; i++) {
            size_t kn, vn = bt_chance(&rng, 90) ? bt_below(&rng, 200) : bt_below(&rng, 9000);
            random_key(&rng, key, &kn, mk);
            bt_fill(&rng, val, vn);
            bt_put(w, t, key, kn, val, vn);
            bt_model_put(&m, key, kn, val, vn);
        }
        /* Delete about a third of what exists, overwrite another third. */
        for (size_t i = 0; i < m.n; i++) {
            uint64_t x = bt_below(&rng, 3);
            if (x == 0) {
                BT_OK(birch_del(w, t, bt_val(m.v[i]->key, m.v[i]->klen)));
                bt_model_del(&m, m.v[i]->key, m.v[i]->klen);
                i--;
                continue;
            }
            if (x == 1) {
                size_t vn = bt_below(&rng, 300);
                bt_fill(&rng, val, vn);
                unsigned char kk[4096];
                size_t kn = m.v[i]->klen;
                memcpy(kk, m.v[i]->key, kn);
                bt_put(w, t, kk, kn, val, vn);
                bt_model_put(&m, kk, kn, val, vn);
            }
        }
        ck_assert_msg(bt_count(w, t) == m.n, "seed %llu: count %llu, model %zu",
                      (unsigned long long)seed, (unsigned long long)bt_count(w, t), m.n);
        BT_OK(birch_txn_commit(w));
    }
    db = bt_reopen(db, path, &opts);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "t", 0);
    ck_assert_uint_eq(bt_count(r, t), m.n);
    for (size_t i = 0; i < m.n; i++) {
        birch_val v;
        int rc = birch_get(r, t, bt_val(m.v[i]->key, m.v[i]->klen), &v);
        ck_assert_msg(rc == BIRCH_OK, "seed %llu: item %zu missing (%d)", (unsigned long long)seed,
                      i, rc);
        ck_assert_msg(v.size == m.v[i]->vlen && memcmp(v.data, m.v[i]->val, v.size) == 0,
                      "seed %llu: item %zu differs", (unsigned long long)seed, i);
    }
    birch_txn_abort(r);
    bt_model_free(&m);
}
END_TEST

/* Deleting every key leaves an empty table that works like a new one. */
START_TEST(delete_everything)
{
    char k[32];
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "k%07d", i * 37 % 5000);
        bt_put_s(w, t, k, "value value value value");
    }
    BT_OK(birch_txn_commit(w));
    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "t", 0);
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "k%07d", i * 53 % 5000);
        BT_OK(birch_del(w, t, bt_str(k)));
    }
    ck_assert_uint_eq(bt_count(w, t), 0);
    birch_cursor *c = NULL;
    BT_OK(birch_cursor_open(w, t, &c));
    BT_RC(birch_cursor_first(c), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_last(c), BIRCH_NOTFOUND);
    birch_cursor_close(c);
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    ck_assert_uint_eq(bt_count(r, t), 0);
    bt_expect_absent(r, t, "k0000001", 8);
    birch_txn_abort(r);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, t, "again", "1");
    BT_OK(birch_txn_commit(w));
    r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, t, "again", "1");
    ck_assert_uint_eq(bt_count(r, t), 1);
    birch_txn_abort(r);
}
END_TEST

/* A value pointer from get stays valid (and unchanged) for the whole read
 * transaction; in a write transaction until the next change. */
START_TEST(value_pointer_lifetimes)
{
    unsigned char big[10000];
    bt_pattern(big, sizeof big, 5);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put(w, t, "big", 3, big, sizeof big);
    bt_put_s(w, t, "small", "tiny value");
    birch_val v1, v2;
    BT_OK(birch_get(w, t, bt_str("big"), &v1));
    BT_OK(birch_get(w, t, bt_str("small"), &v2));
    ck_assert_mem_eq(v1.data, big, sizeof big); /* both valid until the next put */
    ck_assert_mem_eq(v2.data, "tiny value", 10);
    BT_OK(birch_txn_commit(w));

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_OK(birch_get(r, t, bt_str("big"), &v1));
    BT_OK(birch_get(r, t, bt_str("small"), &v2));
    for (int i = 0; i < 200; i++) { /* many more reads in the same txn */
        birch_val x;
        BT_OK(birch_get(r, t, bt_str(i % 2 ? "big" : "small"), &x));
    }
    ck_assert_uint_eq(v1.size, sizeof big);
    ck_assert_mem_eq(v1.data, big, sizeof big);
    ck_assert_mem_eq(v2.data, "tiny value", 10);
    birch_txn_abort(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("record");
    TCase *tc = bt_tcase("record");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, put_get_overwrite_del);
    tcase_add_test(tc, binary_keys_and_prefixes);
    tcase_add_test(tc, nooverwrite);
    tcase_add_test(tc, append_bulk_load);
    tcase_add_test(tc, key_sizes);
    tcase_add_test(tc, value_sizes_and_overflow_changes);
    tcase_add_test(tc, random_insert_delete_vs_model);
    tcase_add_test(tc, delete_everything);
    tcase_add_test(tc, value_pointer_lifetimes);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
