/*
 * test_multimap.c - multimap tables: a key, a sorted set of values.  Put,
 * del, del_all, count, first value through birch_get; cursors walk pairs
 * in (key, value) order and a key's values with next_value / prev_value /
 * seek_value / count_values; keys holding 0 bytes and keys that are
 * prefixes of others keep their order; ranges count and delete whole
 * keys; a randomized run against a model of pairs; the calls of each kind
 * of table refused on the other (BIRCH_ESCHEMA); sizes; persistence.
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
    path = bt_path("multimap");
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

static birch_table *multi(birch_txn *txn, const char *name, unsigned flags)
{
    birch_table *t = NULL;
    BT_OK(birch_table_open(txn, name, flags | BIRCH_MULTIMAP, &t));
    return t;
}

static uint64_t mcount(birch_txn *txn, birch_table *t, const char *k)
{
    uint64_t n = UINT64_MAX;
    BT_OK(birch_multi_count(txn, t, bt_str(k), &n));
    return n;
}

/* The cursor's pair is (k, v). */
static void expect_pair(birch_cursor *c, const char *k, const char *v)
{
    birch_val key, val;
    BT_OK(birch_cursor_get(c, &key, &val));
    ck_assert_msg(key.size == strlen(k) && !memcmp(key.data, k, key.size) && val.size == strlen(v) &&
                      !memcmp(val.data, v, val.size),
                  "cursor on (%.*s, %.*s), want (%s, %s)", (int)key.size, (const char *)key.data, (int)val.size,
                  (const char *)val.data, k, v);
}

START_TEST(sets_of_values)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = multi(w, "idx", BIRCH_CREATE);
    const char *vals[] = {"pear", "apple", "fig", "apple", "kiwi"}; /* "apple" twice: a set */
    for (int i = 0; i < 5; i++) BT_OK(birch_multi_put(w, t, bt_str("fruit"), bt_str(vals[i]), 0));
    BT_RC(birch_multi_put(w, t, bt_str("fruit"), bt_str("fig"), BIRCH_NOOVERWRITE), BIRCH_EXISTS);
    BT_OK(birch_multi_put(w, t, bt_str("veg"), bt_str("leek"), 0));
    BT_OK(birch_multi_put(w, t, bt_str("fru"), bt_str("zzz"), 0)); /* a prefix of "fruit" */
    ck_assert_uint_eq(mcount(w, t, "fruit"), 4);
    ck_assert_uint_eq(mcount(w, t, "fru"), 1);
    ck_assert_uint_eq(mcount(w, t, "none"), 0);
    ck_assert_uint_eq(bt_count(w, t), 6);
    birch_val v;
    BT_OK(birch_get(w, t, bt_str("fruit"), &v)); /* the first value */
    ck_assert_uint_eq(v.size, 5);
    ck_assert_mem_eq(v.data, "apple", 5);
    BT_RC(birch_get(w, t, bt_str("fr"), &v), BIRCH_NOTFOUND);
    BT_OK(birch_txn_commit(w));
    db = bt_reopen(db, path, &opts);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = multi(r, "idx", 0);
    birch_cursor *c;
    BT_OK(birch_cursor_open(r, t, &c));
    BT_OK(birch_cursor_first(c));
    expect_pair(c, "fru", "zzz"); /* a shorter key first, whatever its values */
    BT_RC(birch_cursor_next_value(c), BIRCH_NOTFOUND);
    expect_pair(c, "fru", "zzz"); /* stays */
    BT_OK(birch_cursor_next(c));
    const char *order[] = {"apple", "fig", "kiwi", "pear"};
    for (int i = 0; i < 4; i++) {
        expect_pair(c, "fruit", order[i]);
        uint64_t n;
        BT_OK(birch_cursor_count_values(c, &n));
        ck_assert_uint_eq(n, 4);
        if (i < 3) BT_OK(birch_cursor_next_value(c));
    }
    BT_RC(birch_cursor_next_value(c), BIRCH_NOTFOUND);
    expect_pair(c, "fruit", "pear");
    BT_OK(birch_cursor_prev_value(c));
    expect_pair(c, "fruit", "kiwi");
    BT_OK(birch_cursor_seek_value(c, bt_str("fruit"), bt_str("b")));
    expect_pair(c, "fruit", "fig");
    BT_RC(birch_cursor_seek_value(c, bt_str("fruit"), bt_str("q")), BIRCH_NOTFOUND);
    BT_OK(birch_cursor_seek(c, bt_str("fruit")));
    expect_pair(c, "fruit", "apple");
    BT_OK(birch_cursor_seek(c, bt_str("g")));
    expect_pair(c, "veg", "leek");
    uint64_t n;
    BT_OK(birch_count_range(r, t, bt_str("fruit"), bt_str("veg"), &n)); /* keys in [fruit, veg) */
    ck_assert_uint_eq(n, 4);
    BT_OK(birch_count_range(r, t, bt_str("fru"), bt_str("fruit"), &n));
    ck_assert_uint_eq(n, 1);
    birch_cursor_close(c);
    birch_txn_abort(r);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = multi(w, "idx", 0);
    BT_OK(birch_multi_del(w, t, bt_str("fruit"), bt_str("fig")));
    BT_RC(birch_multi_del(w, t, bt_str("fruit"), bt_str("fig")), BIRCH_NOTFOUND);
    uint64_t gone;
    BT_OK(birch_multi_del_all(w, t, bt_str("fruit"), &gone));
    ck_assert_uint_eq(gone, 3);
    BT_RC(birch_multi_del_all(w, t, bt_str("fruit"), &gone), BIRCH_NOTFOUND);
    ck_assert_uint_eq(mcount(w, t, "fru"), 1);
    BT_OK(birch_cursor_open(w, t, &c));
    BT_OK(birch_cursor_seek(c, bt_str("veg")));
    BT_OK(birch_cursor_del(c)); /* a pair through the cursor */
    birch_cursor_close(c);
    ck_assert_uint_eq(bt_count(w, t), 1);
    BT_OK(birch_txn_commit(w));
}
END_TEST

/* Keys with 0 bytes, and keys that are prefixes of each other: pairs sort
 * by key first, then value, as memcmp orders the keys. */
START_TEST(zero_bytes_and_prefixes)
{
    static const struct { const char *k; size_t kn; } keys[] = {
        {"a", 1}, {"a\0", 2}, {"a\0\0", 3}, {"a\0b", 3}, {"a\x01", 2}, {"ab", 2}, {"\0", 1}, {"\0\0", 2}, {"\xff", 1},
    };
    enum { NK = sizeof keys / sizeof keys[0] };
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = multi(w, "z", BIRCH_CREATE);
    for (int i = 0; i < NK; i++)
        for (int j = 0; j < 3; j++) { /* values with 0 bytes too, put in reverse order */
            uint8_t v[2] = {(uint8_t)(2 - j), 0};
            BT_OK(birch_multi_put(w, t, bt_val(keys[i].k, keys[i].kn), bt_val(v, 1 + (size_t)(j & 1)), 0));
        }
    birch_cursor *c;
    BT_OK(birch_cursor_open(w, t, &c));
    uint8_t pk[8], pv[8];
    size_t pkn = 0, pvn = 0, seen = 0;
    for (int rc = birch_cursor_first(c); rc == BIRCH_OK; rc = birch_cursor_next(c), seen++) {
        birch_val k, v;
        BT_OK(birch_cursor_get(c, &k, &v));
        if (seen) { /* (key, value) strictly ascending: keys by memcmp, then values */
            int kc = bt_keycmp(pk, pkn, k.data, k.size);
            ck_assert_msg(kc < 0 || (kc == 0 && bt_keycmp(pv, pvn, v.data, v.size) < 0), "pair %zu out of order", seen);
        }
        memcpy(pk, k.data, k.size);
        memcpy(pv, v.data, v.size);
        pkn = k.size;
        pvn = v.size;
    }
    ck_assert_uint_eq(seen, NK * 3);
    birch_cursor_close(c);
    for (int i = 0; i < NK; i++) {
        uint64_t n;
        BT_OK(birch_multi_count(w, t, bt_val(keys[i].k, keys[i].kn), &n));
        ck_assert_msg(n == 3, "key %d has %" PRIu64 " values", i, n);
    }
    BT_OK(birch_txn_commit(w));
}
END_TEST

START_TEST(refusals)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = multi(w, "m", BIRCH_CREATE), *p = bt_table(w, "plain", BIRCH_CREATE), *x;
    BT_RC(birch_table_open(w, "plain", BIRCH_MULTIMAP, &x), BIRCH_ESCHEMA);
    BT_OK(birch_table_open(w, "m", 0, &x)); /* a multimap table opens without the flag */
    BT_RC(birch_put(w, t, bt_str("k"), bt_str("v"), 0), BIRCH_ESCHEMA);
    void *out;
    BT_RC(birch_put_reserve(w, t, bt_str("k"), 4, 0, &out), BIRCH_ESCHEMA);
    BT_RC(birch_del(w, t, bt_str("k")), BIRCH_ESCHEMA);
    uint64_t n;
    BT_RC(birch_multi_put(w, p, bt_str("k"), bt_str("v"), 0), BIRCH_ESCHEMA);
    BT_ERRMSG_HAS("not a multimap");
    BT_RC(birch_multi_del(w, p, bt_str("k"), bt_str("v")), BIRCH_ESCHEMA);
    BT_RC(birch_multi_del_all(w, p, bt_str("k"), &n), BIRCH_ESCHEMA);
    BT_RC(birch_multi_count(w, p, bt_str("k"), &n), BIRCH_ESCHEMA);
    birch_cursor *c;
    static const uint8_t big0[1];
    BT_OK(birch_cursor_open(w, p, &c));
    BT_RC(birch_cursor_next_value(c), BIRCH_ESCHEMA);
    BT_RC(birch_cursor_seek_value(c, bt_str("k"), bt_str("v")), BIRCH_ESCHEMA);
    BT_RC(birch_cursor_count_values(c, &n), BIRCH_ESCHEMA);
    birch_cursor_close(c);
    BT_OK(birch_cursor_open(w, t, &c));
    BT_RC(birch_cursor_put(c, bt_str("k"), bt_str("v"), 0), BIRCH_ESCHEMA);
    BT_RC(birch_cursor_seek_value(c, bt_str("k"), bt_val("v", SIZE_MAX - 1)), BIRCH_EVALSIZE); /* never read */
    BT_RC(birch_cursor_seek_value(c, bt_str("k"), bt_val(NULL, 3)), BIRCH_EINVAL);
    BT_RC(birch_cursor_next_value(c), BIRCH_NOTFOUND); /* unpositioned */
    /* A refused seek_value leaves a positioned cursor where it was. */
    BT_OK(birch_multi_put(w, t, bt_str("pos"), bt_str("1"), 0));
    BT_OK(birch_cursor_seek_value(c, bt_str("pos"), bt_str("1")));
    BT_RC(birch_cursor_seek_value(c, bt_str("k"), bt_val(NULL, 3)), BIRCH_EINVAL);
    BT_RC(birch_cursor_seek_value(c, bt_val(big0, 0), bt_str("v")), BIRCH_EKEYSIZE);
    BT_RC(birch_cursor_seek_value(c, bt_str("k"), bt_val("v", SIZE_MAX - 1)), BIRCH_EVALSIZE);
    birch_val ck, cv;
    BT_OK(birch_cursor_get(c, &ck, &cv));
    ck_assert(ck.size == 3 && memcmp(ck.data, "pos", 3) == 0 && cv.size == 1 && *(const char *)cv.data == '1');
    BT_OK(birch_multi_del(w, t, bt_str("pos"), bt_str("1")));
    birch_cursor_close(c);
    /* Sizes: the escaped key, its end and the value fit one key. */
    size_t mk = birch_max_key_size(db);
    uint8_t *big = calloc(1, mk + 1);
    BT_RC(birch_multi_put(w, t, bt_val(big, 0), bt_str("v"), 0), BIRCH_EKEYSIZE);
    BT_RC(birch_multi_put(w, t, bt_val(big, mk + 1), bt_str("v"), 0), BIRCH_EKEYSIZE);
    BT_RC(birch_multi_put(w, t, bt_str("k"), bt_val(big, mk - 2), 0), BIRCH_EVALSIZE);
    BT_OK(birch_multi_put(w, t, bt_str("k"), bt_val(big, mk - 3), 0)); /* "k" 00 00 + value: exactly the limit */
    BT_RC(birch_multi_put(w, t, bt_val(big, mk / 2), bt_str(""), 0), BIRCH_EVALSIZE); /* zeros double */
    BT_RC(birch_multi_put(w, t, bt_val(NULL, 3), bt_str("v"), 0), BIRCH_EINVAL);
    BT_RC(birch_multi_put(w, t, bt_str("k"), bt_str("v"), 0x80), BIRCH_EINVAL);
    BT_RC(birch_multi_count(w, t, bt_str("k"), NULL), BIRCH_EINVAL);
    BT_RC(birch_multi_put(NULL, t, bt_str("k"), bt_str("v"), 0), BIRCH_EINVAL);
    free(big);
    ck_assert_uint_eq(bt_count(w, t), 1); /* nothing else changed */
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = multi(r, "m", 0);
    BT_RC(birch_multi_put(r, t, bt_str("k"), bt_str("v"), 0), BIRCH_EREADONLY);
    BT_RC(birch_multi_del_all(r, t, bt_str("k"), &n), BIRCH_EREADONLY);
    birch_txn_abort(r);
}
END_TEST

/* ---- Randomized: pairs against a model ------------------------------------ */

/* A pair in the model: key, 0 byte, value, with keys of 4 digits, so
 * that the model's memcmp order is (key, value) order. */
static size_t model_key(char *out, unsigned k, const uint8_t *v, size_t vn)
{
    int n = snprintf(out, 16, "k%04u", k);
    out[n] = 0;
    memcpy(out + n + 1, v, vn);
    return (size_t)n + 1 + vn;
}

START_TEST(random_vs_model)
{
    uint64_t seed = bt_seed(0x3417);
    bt_rng r = {seed};
    bt_model m;
    bt_model_init(&m);
    for (int round = 0; round < 40; round++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = multi(w, "t", BIRCH_CREATE);
        bt_model work;
        bt_model_init(&work);
        bt_model_copy(&work, &m);
        for (int i = 0; i < 300; i++) {
            unsigned k = (unsigned)bt_below(&r, 200);
            char ks[16], mk[64];
            snprintf(ks, sizeof ks, "k%04u", k);
            uint8_t v[24];
            size_t vn = bt_below(&r, 12);
            bt_fill(&r, v, vn);
            size_t mn = model_key(mk, k, v, vn);
            uint64_t op = bt_below(&r, 100);
            if (op < 60) {
                BT_OK(birch_multi_put(w, t, bt_str(ks), bt_val(v, vn), 0));
                bt_model_put(&work, mk, mn, "", 0);
            } else if (op < 85) { /* delete an existing pair or a random one */
                size_t lo = bt_model_lower(&work, mk, (size_t)5, NULL);
                if (lo < work.n && bt_chance(&r, 70) && !memcmp(work.v[lo]->key, mk, 6)) {
                    const bt_item *it = work.v[lo];
                    BT_OK(birch_multi_del(w, t, bt_str(ks), bt_val(it->key + 6, it->klen - 6)));
                    char cp[64];
                    size_t cn = it->klen;
                    memcpy(cp, it->key, cn);
                    bt_model_del(&work, cp, cn);
                } else {
                    int had = bt_model_del(&work, mk, mn);
                    BT_RC(birch_multi_del(w, t, bt_str(ks), bt_val(v, vn)), had ? BIRCH_OK : BIRCH_NOTFOUND);
                }
            } else if (op < 90) {
                size_t a = bt_model_lower(&work, mk, 6, NULL), b = a;
                while (b < work.n && !memcmp(work.v[b]->key, mk, 6)) b++;
                uint64_t gone = 0;
                BT_RC(birch_multi_del_all(w, t, bt_str(ks), &gone), b > a ? BIRCH_OK : BIRCH_NOTFOUND);
                ck_assert_msg(gone == b - a, "seed %" PRIu64 ": del_all %" PRIu64 ", model %zu", seed, gone, b - a);
                for (size_t j = b; j-- > a;) {
                    char cp[64];
                    size_t cn = work.v[j]->klen;
                    memcpy(cp, work.v[j]->key, cn);
                    bt_model_del(&work, cp, cn);
                }
            } else { /* count and walk the key's values */
                size_t a = bt_model_lower(&work, mk, 6, NULL), b = a;
                while (b < work.n && !memcmp(work.v[b]->key, mk, 6)) b++;
                uint64_t n = 0;
                BT_OK(birch_multi_count(w, t, bt_str(ks), &n));
                ck_assert_msg(n == b - a, "seed %" PRIu64 ": count %" PRIu64 ", model %zu", seed, n, b - a);
                birch_cursor *c;
                BT_OK(birch_cursor_open(w, t, &c));
                int rc = birch_cursor_seek(c, bt_str(ks));
                for (size_t j = a; j < b; j++) {
                    birch_val kk, vv;
                    ck_assert_int_eq(rc, BIRCH_OK);
                    BT_OK(birch_cursor_get(c, &kk, &vv));
                    ck_assert_msg(kk.size == 5 && !memcmp(kk.data, ks, 5) && vv.size == work.v[j]->klen - 6 &&
                                      !memcmp(vv.data, work.v[j]->key + 6, vv.size),
                                  "seed %" PRIu64 ": value %zu of %s differs", seed, j - a, ks);
                    rc = birch_cursor_next_value(c);
                }
                if (b > a) ck_assert_int_eq(rc, BIRCH_NOTFOUND);
                birch_cursor_close(c);
            }
        }
        ck_assert_msg(bt_count(w, t) == work.n, "seed %" PRIu64 ": %" PRIu64 " pairs, model %zu", seed,
                      bt_count(w, t), work.n);
        if (bt_chance(&r, 80)) {
            BT_OK(birch_txn_commit(w));
            bt_model tmp = m;
            m = work;
            work = tmp;
        } else {
            birch_txn_abort(w);
        }
        bt_model_free(&work);
        if (round % 10 == 9) db = bt_reopen(db, path, &opts);
    }
    bt_check(db);
    bt_model_free(&m);
}
END_TEST

/* ---- Typed multimap tables --------------------------------------------------- */

typedef struct u64v {
    uint64_t v;
} u64v;
BIRCH_POD_FORMAT(u64v_fmt, u64v, 1);

typedef struct collect {
    uint64_t v[16];
    int n;
} collect;

static int collect_u64(const void *value, void *ctx)
{
    collect *c = ctx;
    c->v[c->n++] = *(const uint64_t *)value;
    return c->n == 16;
}

START_TEST(typed_multimap)
{
    birch_typed_multi idx;
    /* string key -> set of u64 (an index from a name to the ids that hold it) */
    BT_OK(birch_typed_multi_open(db, NULL, "by_name", &birch_key_string, &birch_key_u64, BIRCH_CREATE, &idx));
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    uint64_t ids[] = {300, 7, 1000000, 42, 7};
    birch_val ann = bt_str("ann"), bob = bt_str("bob");
    for (int i = 0; i < 5; i++) BT_OK(birch_typed_multi_put(w, &idx, &ann, &ids[i]));
    BT_OK(birch_typed_multi_put(w, &idx, &bob, &ids[0]));
    BT_OK(birch_txn_commit(w));
    uint64_t n;
    BT_OK(birch_typed_multi_count(NULL, &idx, &ann, &n));
    ck_assert_uint_eq(n, 4);
    collect c = {{0}, 0};
    BT_OK(birch_typed_multi_values(NULL, &idx, &ann, collect_u64, &c));
    ck_assert_int_eq(c.n, 4); /* in numeric order, not byte order of the C value */
    ck_assert(c.v[0] == 7 && c.v[1] == 42 && c.v[2] == 300 && c.v[3] == 1000000);
    uint64_t gone = 7, none = 8;
    ck_assert_int_eq(birch_typed_multi_delete(NULL, &idx, &ann, &gone), 1);
    ck_assert_int_eq(birch_typed_multi_delete(NULL, &idx, &ann, &none), 0);
    birch_val nobody = bt_str("nobody");
    c.n = 0;
    BT_OK(birch_typed_multi_values(NULL, &idx, &nobody, collect_u64, &c));
    ck_assert_int_eq(c.n, 0);
    BT_OK(birch_typed_multi_delete_all(NULL, &idx, &ann, &n));
    ck_assert_uint_eq(n, 3);
    BT_OK(birch_typed_multi_delete_all(NULL, &idx, &ann, &n));
    ck_assert_uint_eq(n, 0);
    /* Formats are checked on reopen. */
    db = bt_reopen(db, path, &opts);
    BT_OK(birch_typed_multi_open(db, NULL, "by_name", &birch_key_string, &birch_key_u64, 0, &idx));
    BT_OK(birch_typed_multi_count(NULL, &idx, &bob, &n));
    ck_assert_uint_eq(n, 1);
    birch_typed_multi other;
    BT_RC(birch_typed_multi_open(db, NULL, "by_name", &birch_key_string, &birch_key_u32, 0, &other), BIRCH_ESCHEMA);
    ck_assert_msg(strstr(other.msg, "u64") && strstr(other.msg, "u32"), "%s", other.msg);
    birch_typed plain;
    BT_RC(birch_typed_open(db, NULL, "by_name", &birch_key_string, &u64v_fmt, 0, &plain),
          BIRCH_ESCHEMA);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_table(w, "flat", BIRCH_CREATE);
    BT_OK(birch_txn_commit(w));
    BT_RC(birch_typed_multi_open(db, NULL, "flat", &birch_key_string, &birch_key_u64, 0, &other), BIRCH_ESCHEMA);
    BT_RC(birch_typed_multi_put(NULL, NULL, &bob, &ids[0]), BIRCH_EINVAL);
    BT_RC(birch_typed_multi_values(NULL, &idx, &bob, NULL, NULL), BIRCH_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("multimap");
    TCase *tc = bt_tcase("multimap");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, sets_of_values);
    tcase_add_test(tc, zero_bytes_and_prefixes);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, random_vs_model);
    tcase_add_test(tc, typed_multimap);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
