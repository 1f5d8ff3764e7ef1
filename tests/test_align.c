/*
 * test_align.c - every value pointer returned by birch_get and by cursors is
 * 8-byte aligned: small, inline and overflow values; keys of every length
 * from 1 to 40 and odd lengths up to the maximum; read and write
 * transactions (the writer's own dirty pages too); after overwrites that
 * change a value's size; at every page size.  A struct of alignment 8 is
 * read in place.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

typedef struct rec {
    uint64_t a;
    double b;
    uint32_t c;
    uint16_t d;
    uint8_t e;
} rec;

static size_t key_len(int i, size_t mk)
{
    if (i < 40) return (size_t)i + 1;                   /* 1..40 */
    size_t n = 41 + (size_t)(i - 40) * 13;              /* odd and even lengths further out */
    return n <= mk ? n : mk - (size_t)(i % 2);          /* up to the maximum */
}

static void make_key(int i, size_t n, unsigned char *k)
{
    memset(k, 'k', n);
    k[0] = (unsigned char)(i >> 8);
    if (n > 1) k[1] = (unsigned char)i;
    else k[0] = (unsigned char)i;
}

static size_t val_len(int i, uint32_t ps)
{
    static const size_t small[] = {0, 1, 3, 7, 8, 9, 13, 24, 31, 33, 100, 255};
    switch (i % 4) {
    case 0: return small[(size_t)i / 4 % (sizeof small / sizeof small[0])];
    case 1: return sizeof(rec);
    case 2: return (size_t)ps / 5 + (size_t)i % 17; /* large inline or overflow */
    default: return (size_t)ps * (1 + (size_t)i % 3) + (size_t)i % 11; /* overflow runs */
    }
}

static void fill_val(unsigned char *v, size_t n, int i, int gen)
{
    bt_pattern(v, n, (uint64_t)i * 131 + (uint64_t)gen);
    if (n >= sizeof(rec)) {
        rec r = {(uint64_t)i * 1000003u + (uint64_t)gen, i * 0.5 + gen, (uint32_t)i, (uint16_t)gen,
                 (uint8_t)i};
        memcpy(v, &r, sizeof r);
    }
}

/* Checks every record through get and through a cursor in txn. */
static void check_all(birch_txn *txn, birch_table *t, int n, size_t mk, uint32_t ps, int gen,
                      const char *what)
{
    unsigned char *k = malloc(mk + 1), *v = malloc(4 * (size_t)ps);
    for (int i = 0; i < n; i++) {
        size_t kn = key_len(i, mk), vn = val_len(i + gen, ps);
        make_key(i, kn, k);
        fill_val(v, vn, i, gen);
        birch_val out;
        BT_OK(birch_get(txn, t, bt_val(k, kn), &out));
        ck_assert_msg(BT_ALIGNED(out.data),
                      "%s, page size %u: get of key length %zu, value size %zu: pointer %p "
                      "not 8-byte aligned",
                      what, ps, kn, vn, out.data);
        ck_assert_uint_eq(out.size, vn);
        ck_assert_msg(vn == 0 || memcmp(out.data, v, vn) == 0, "%s: value %d differs", what, i);
        if (vn >= sizeof(rec)) { /* read in place as a struct */
            const rec *r = out.data;
            ck_assert_uint_eq(r->a, (uint64_t)i * 1000003u + (uint64_t)gen);
            ck_assert(r->b == i * 0.5 + gen);
            ck_assert_uint_eq(r->c, (uint32_t)i);
        }
    }
    birch_cursor *c = NULL;
    BT_OK(birch_cursor_open(txn, t, &c));
    int seen = 0;
    for (int rc = birch_cursor_first(c); rc == BIRCH_OK; rc = birch_cursor_next(c), seen++) {
        birch_val key, val;
        BT_OK(birch_cursor_get(c, &key, &val));
        ck_assert_msg(BT_ALIGNED(val.data),
                      "%s, page size %u: cursor value of key length %zu, size %zu: pointer %p "
                      "not 8-byte aligned",
                      what, ps, key.size, val.size, val.data);
    }
    for (int rc = birch_cursor_last(c); rc == BIRCH_OK; rc = birch_cursor_prev(c)) {
        birch_val val;
        BT_OK(birch_cursor_get(c, NULL, &val));
        ck_assert_msg(BT_ALIGNED(val.data), "%s: reverse cursor value %p not aligned", what,
                      val.data);
    }
    ck_assert_int_eq(seen, n);
    birch_cursor_close(c);
    free(k);
    free(v);
}

static void put_all(birch_txn *w, birch_table *t, int n, size_t mk, uint32_t ps, int gen)
{
    unsigned char *k = malloc(mk + 1), *v = malloc(4 * (size_t)ps);
    for (int i = 0; i < n; i++) {
        size_t kn = key_len(i, mk), vn = val_len(i + gen, ps);
        make_key(i, kn, k);
        fill_val(v, vn, i, gen);
        bt_put(w, t, k, kn, v, vn);
        /* The writer's own dirty copy is aligned too, right after the put. */
        birch_val out;
        BT_OK(birch_get(w, t, bt_val(k, kn), &out));
        ck_assert_msg(BT_ALIGNED(out.data),
                      "write txn, page size %u: key length %zu, value size %zu: pointer %p", ps,
                      kn, vn, out.data);
    }
    free(k);
    free(v);
}

static void run(uint32_t ps)
{
    char *path = bt_path("align");
    birch_options o = bt_opts_fast();
    o.page_size = ps;
    birch_db *db = bt_open(path, &o);
    size_t mk = birch_max_key_size(db);
    int n = 40 + (int)((mk - 40) / 13) + 2;
    if (n > 400) n = 400;
    for (int gen = 0; gen < 3; gen++) { /* each generation changes every value's size */
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "t", BIRCH_CREATE);
        put_all(w, t, n, mk, ps, gen);
        check_all(w, t, n, mk, ps, gen, "write txn");
        BT_OK(birch_txn_commit(w));
        birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
        check_all(r, t, n, mk, ps, gen, "read txn");
        birch_txn_abort(r);
    }
    db = bt_reopen(db, path, &o);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    check_all(r, bt_table(r, "t", 0), n, mk, ps, 2, "after reopen");
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}

START_TEST(aligned_4096) { run(4096); }
END_TEST
START_TEST(aligned_512) { run(512); }
END_TEST
START_TEST(aligned_1024) { run(1024); }
END_TEST
START_TEST(aligned_65536) { run(65536); }
END_TEST

/* Keys of every length 1..64 with values of every size 0..40: all aligned,
 * with the records dense on the page (every slot position). */
START_TEST(dense_small_records)
{
    char *path = bt_path("align-dense");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    unsigned char k[70], v[48];
    int n = 0;
    for (size_t kn = 1; kn <= 64; kn++) {
        for (size_t vn = 0; vn <= 40; vn++) {
            memset(k, 'a', kn);
            k[kn - 1] = (unsigned char)vn;
            bt_pattern(v, vn, kn * 100 + vn);
            bt_put(w, t, k, kn, v, vn);
            n++;
        }
    }
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_cursor *c = NULL;
    BT_OK(birch_cursor_open(r, t, &c));
    int seen = 0;
    for (int rc = birch_cursor_first(c); rc == BIRCH_OK; rc = birch_cursor_next(c), seen++) {
        birch_val key, val;
        BT_OK(birch_cursor_get(c, &key, &val));
        ck_assert_msg(BT_ALIGNED(val.data), "key length %zu value size %zu: %p", key.size,
                      val.size, val.data);
        birch_val g;
        BT_OK(birch_get(r, t, key, &g));
        ck_assert_msg(BT_ALIGNED(g.data), "get: key length %zu: %p", key.size, g.data);
        ck_assert_ptr_eq(g.data, val.data);
    }
    ck_assert_int_eq(seen, n);
    birch_cursor_close(c);
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("align");
    TCase *tc = bt_tcase("align");
    tcase_add_test(tc, aligned_4096);
    tcase_add_test(tc, aligned_512);
    tcase_add_test(tc, aligned_1024);
    tcase_add_test(tc, aligned_65536);
    tcase_add_test(tc, dense_small_records);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
