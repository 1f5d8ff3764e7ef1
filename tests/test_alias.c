/*
 * test_alias.c - writes whose arguments point into the database's own
 * pages (issue 11, item 1).
 *
 * birch promises (birch.h, "Memory rules") that put, put_reserve, del, the
 * typed puts and batches behave as if every argument had been copied
 * before anything changed, wherever it points: into the map, into a page
 * this write transaction already wrote (birch_get, a cursor, a guard, a
 * stream item), into the very record being replaced, or into another
 * record of the leaf being changed.  Each test writes through such
 * pointers and compares the table with a model built from copies taken
 * before the write.  Pointers are only used while they are valid, i.e.
 * taken again after every change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* ---- Helpers ------------------------------------------------------------- */

typedef struct fixture {
    char *path;
    birch_db *db;
    birch_txn *w;
    birch_table *t;
    bt_model m;
} fixture;

static void fx_open(fixture *f, const char *tag)
{
    f->path = bt_path(tag);
    birch_options o = bt_opts_fast();
    f->db = bt_open(f->path, &o);
    f->w = bt_begin(f->db, BIRCH_TXN_WRITE);
    f->t = bt_table(f->w, "t", BIRCH_CREATE);
    bt_model_init(&f->m);
}

/* The table holds exactly the model: count, every get, a full scan. */
static void fx_verify(fixture *f, const char *when)
{
    uint64_t n = 0;
    BT_OK(birch_count(f->w, f->t, &n));
    ck_assert_msg(n == f->m.n, "%s: count %llu, model %zu", when, (unsigned long long)n, f->m.n);
    birch_cursor *c;
    BT_OK(birch_cursor_open(f->w, f->t, &c));
    size_t i = 0;
    for (int rc = birch_cursor_first(c); rc == BIRCH_OK; rc = birch_cursor_next(c), i++) {
        birch_val k, v;
        BT_OK(birch_cursor_get(c, &k, &v));
        ck_assert_msg(i < f->m.n, "%s: more records than the model's %zu", when, f->m.n);
        const bt_item *it = f->m.v[i];
        ck_assert_msg(k.size == it->klen && memcmp(k.data, it->key, k.size) == 0, "%s: record %zu has the wrong key",
                      when, i);
        ck_assert_msg(v.size == it->vlen && memcmp(v.data, it->val, v.size) == 0,
                      "%s: record %zu (key %.*s): value of %zu bytes differs from the model's %zu", when, i,
                      (int)k.size, (const char *)k.data, v.size, it->vlen);
    }
    birch_cursor_close(c);
    ck_assert_msg(i == f->m.n, "%s: %zu records, model %zu", when, i, f->m.n);
}

/* Commits, checks the file and the records on a fresh transaction. */
static void fx_close(fixture *f)
{
    fx_verify(f, "before commit");
    BT_OK(birch_txn_commit(f->w));
    bt_check(f->db);
    f->w = bt_begin(f->db, BIRCH_TXN_WRITE);
    fx_verify(f, "after commit");
    birch_txn_abort(f->w);
    birch_close(f->db);
    bt_model_free(&f->m);
    free(f->path);
}

static void fx_put(fixture *f, const void *k, size_t kn, const void *v, size_t vn)
{
    BT_OK(birch_put(f->w, f->t, bt_val(k, kn), bt_val(v, vn), 0));
    bt_model_put(&f->m, k, kn, v, vn);
}

/* key%02d -> n bytes of pattern: ten small records share one leaf. */
static void fill_leaf(fixture *f, size_t base)
{
    for (int i = 0; i < 10; i++) {
        char k[16];
        unsigned char v[128];
        snprintf(k, sizeof k, "key%02d", i);
        size_t n = base + (size_t)i * 3;
        bt_pattern(v, n, (uint64_t)i + 1);
        fx_put(f, k, strlen(k), v, n);
    }
}

/* A malloc'd copy. */
static void *dup_bytes(const void *p, size_t n)
{
    void *c = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(c);
    if (n) memcpy(c, p, n);
    return c;
}

/* Value sizes around the overflow threshold (a third of a 4096-byte page,
 * about 1330 bytes with a short key) and well above it. */
static const size_t sizes[] = {1200, 1296, 1312, 1320, 1328, 1336, 1344, 1400, 4000, 9000, 70000};
#define NSIZES (int)(sizeof sizes / sizeof sizes[0])

/* ---- Big values got in the same write transaction --------------------- */

/* put(key, the value birch_get just returned for key): the overflow run
 * was freed before the copy (a use-after-free); inline values were
 * memcpy'd onto themselves. */
START_TEST(big_value_same_key)
{
    fixture f;
    fx_open(&f, "big_same");
    size_t n = sizes[_i];
    unsigned char *v0 = malloc(n);
    ck_assert_ptr_nonnull(v0);
    bt_pattern(v0, n, 7);
    fx_put(&f, "k", 1, v0, n);
    fx_put(&f, "j", 1, "neighbour", 9);
    birch_val v;
    /* The same bytes back under the same key. */
    BT_OK(birch_get(f.w, f.t, bt_str("k"), &v));
    BT_OK(birch_put(f.w, f.t, bt_str("k"), v, 0));
    fx_verify(&f, "same key, same value");
    /* A sub-range of it: another size, so the record is rebuilt. */
    BT_OK(birch_get(f.w, f.t, bt_str("k"), &v));
    BT_OK(birch_put(f.w, f.t, bt_str("k"), bt_val((const char *)v.data + 8, n - 8), 0));
    bt_model_put(&f.m, "k", 1, v0 + 8, n - 8);
    fx_verify(&f, "same key, sub-range");
    /* And back to a big size from a big value of another key. */
    fx_put(&f, "big", 3, v0, n);
    BT_OK(birch_get(f.w, f.t, bt_str("big"), &v));
    BT_OK(birch_put(f.w, f.t, bt_str("k"), v, 0));
    bt_model_put(&f.m, "k", 1, v0, n);
    fx_verify(&f, "same key, value of another key");
    free(v0);
    fx_close(&f);
}
END_TEST

/* The same with the value committed (in the map) before the write
 * transaction reads it, and put under a different key too. */
START_TEST(big_value_other_key_and_committed)
{
    fixture f;
    fx_open(&f, "big_other");
    size_t n = sizes[_i];
    unsigned char *v0 = malloc(n);
    ck_assert_ptr_nonnull(v0);
    bt_pattern(v0, n, 9);
    fx_put(&f, "k", 1, v0, n);
    birch_val v;
    BT_OK(birch_get(f.w, f.t, bt_str("k"), &v));
    BT_OK(birch_put(f.w, f.t, bt_str("other"), v, 0));
    bt_model_put(&f.m, "other", 5, v0, n);
    fx_verify(&f, "other key, dirty value");
    BT_OK(birch_txn_commit(f.w));
    f.w = bt_begin(f.db, BIRCH_TXN_WRITE);
    BT_OK(birch_get(f.w, f.t, bt_str("k"), &v)); /* now in the map */
    BT_OK(birch_put(f.w, f.t, bt_str("k"), bt_val((const char *)v.data + 1, n - 1), 0));
    bt_model_put(&f.m, "k", 1, v0 + 1, n - 1);
    BT_OK(birch_get(f.w, f.t, bt_str("other"), &v));
    BT_OK(birch_put(f.w, f.t, bt_str("third"), v, 0));
    bt_model_put(&f.m, "third", 5, v0, n);
    fx_verify(&f, "committed value");
    free(v0);
    fx_close(&f);
}
END_TEST

/* ---- Cursor keys and values inside the leaf being changed ------------- */

/* put(cursor key, new value of another size): the old record was removed
 * (moving the nodes of the leaf) before the key was copied, so the record
 * was stored under whatever bytes had moved there. */
START_TEST(cursor_key_into_leaf)
{
    fixture f;
    fx_open(&f, "cursor_key");
    fill_leaf(&f, 20);
    birch_cursor *c;
    BT_OK(birch_cursor_open(f.w, f.t, &c));
    for (int i = 0; i < 10; i++) {
        char want[16];
        snprintf(want, sizeof want, "key%02d", i);
        birch_val k, v;
        BT_OK(birch_cursor_seek(c, bt_str(want)));
        BT_OK(birch_cursor_get(c, &k, &v));
        unsigned char nv[64];
        bt_pattern(nv, sizeof nv - (size_t)i, 100 + (uint64_t)i);
        BT_OK(birch_put(f.w, f.t, k, bt_val(nv, sizeof nv - (size_t)i), 0));
        bt_model_put(&f.m, want, strlen(want), nv, sizeof nv - (size_t)i);
        fx_verify(&f, "cursor key, new value");
        /* Key and value both from the cursor: a prefix of its own value. */
        BT_OK(birch_cursor_seek(c, bt_str(want)));
        BT_OK(birch_cursor_get(c, &k, &v));
        void *copy = dup_bytes(v.data, v.size - 3);
        BT_OK(birch_put(f.w, f.t, k, bt_val(v.data, v.size - 3), 0));
        bt_model_put(&f.m, want, strlen(want), copy, v.size - 3);
        free(copy);
        fx_verify(&f, "cursor key and value");
    }
    birch_cursor_close(c);
    fx_close(&f);
}
END_TEST

/* put(key A, a sub-range of record B's value on the same leaf): removing
 * A's old record moved B's node before the value was copied. */
START_TEST(value_from_neighbour)
{
    fixture f;
    fx_open(&f, "neighbour");
    fill_leaf(&f, 30);
    for (int a = 0; a < 10; a++) {
        int b = (a * 7 + 3) % 10;
        char ka[16], kb[16];
        snprintf(ka, sizeof ka, "key%02d", a);
        snprintf(kb, sizeof kb, "key%02d", b);
        birch_val v;
        BT_OK(birch_get(f.w, f.t, bt_str(kb), &v));
        size_t n = v.size - 4 - (size_t)a % 3;
        void *copy = dup_bytes((const char *)v.data + 2, n);
        BT_OK(birch_put(f.w, f.t, bt_str(ka), bt_val((const char *)v.data + 2, n), 0));
        bt_model_put(&f.m, ka, strlen(ka), copy, n);
        free(copy);
        fx_verify(&f, "value from a neighbour");
    }
    fx_close(&f);
}
END_TEST

/* put_reserve(cursor key): the key was copied after the old record left. */
START_TEST(reserve_cursor_key)
{
    fixture f;
    fx_open(&f, "reserve");
    fill_leaf(&f, 40);
    birch_cursor *c;
    BT_OK(birch_cursor_open(f.w, f.t, &c));
    for (int i = 0; i < 10; i++) {
        char want[16];
        snprintf(want, sizeof want, "key%02d", i);
        birch_val k;
        BT_OK(birch_cursor_seek(c, bt_str(want)));
        BT_OK(birch_cursor_get(c, &k, NULL));
        void *out;
        size_t n = 10 + (size_t)i * 5;
        BT_OK(birch_put_reserve(f.w, f.t, k, n, 0, &out));
        bt_pattern(out, n, 200 + (uint64_t)i);
        unsigned char want_v[64];
        bt_pattern(want_v, n, 200 + (uint64_t)i);
        bt_model_put(&f.m, want, strlen(want), want_v, n);
        fx_verify(&f, "reserve with a cursor key");
    }
    /* A key from the map (committed), reserved over a big value. */
    BT_OK(birch_txn_commit(f.w));
    f.w = bt_begin(f.db, BIRCH_TXN_WRITE);
    birch_cursor_close(c);
    BT_OK(birch_cursor_open(f.w, f.t, &c));
    BT_OK(birch_cursor_seek(c, bt_str("key05")));
    birch_val k;
    BT_OK(birch_cursor_get(c, &k, NULL));
    void *out;
    BT_OK(birch_put_reserve(f.w, f.t, k, 5000, 0, &out));
    bt_pattern(out, 5000, 77);
    unsigned char *big = malloc(5000);
    ck_assert_ptr_nonnull(big);
    bt_pattern(big, 5000, 77);
    bt_model_put(&f.m, "key05", 5, big, 5000);
    free(big);
    birch_cursor_close(c);
    fx_close(&f);
}
END_TEST

/* del(cursor key), down to an empty table: every deletion removes the
 * page's node, merges or frees leaves, and at the end frees the root that
 * holds the key itself. */
START_TEST(del_cursor_key)
{
    fixture f;
    fx_open(&f, "del");
    for (int i = 0; i < 600; i++) {
        char k[16];
        unsigned char v[200];
        snprintf(k, sizeof k, "k%05d", i * 7919 % 600);
        size_t n = 20 + (size_t)i % 150;
        bt_pattern(v, n, (uint64_t)i);
        fx_put(&f, k, strlen(k), v, n);
    }
    birch_cursor *c;
    BT_OK(birch_cursor_open(f.w, f.t, &c));
    for (int round = 0; f.m.n; round++) {
        /* Alternate the first, the last and a middle record. */
        birch_val k;
        if (round % 3 == 0) BT_OK(birch_cursor_first(c));
        else if (round % 3 == 1) BT_OK(birch_cursor_last(c));
        else if (birch_cursor_seek(c, bt_str("k00300")) == BIRCH_NOTFOUND) BT_OK(birch_cursor_last(c));
        BT_OK(birch_cursor_get(c, &k, NULL));
        char copy[16];
        ck_assert_uint_lt(k.size, sizeof copy);
        memcpy(copy, k.data, k.size);
        BT_OK(birch_del(f.w, f.t, k));
        ck_assert(bt_model_del(&f.m, copy, k.size));
        if (round % 50 == 0 || f.m.n < 5) fx_verify(&f, "del with a cursor key");
        if (round == 300) { /* the rest from committed pages: keys in the map */
            BT_OK(birch_txn_commit(f.w));
            birch_cursor_close(c);
            f.w = bt_begin(f.db, BIRCH_TXN_WRITE);
            BT_OK(birch_cursor_open(f.w, f.t, &c));
        }
    }
    birch_cursor_close(c);
    fx_close(&f);
}
END_TEST

/* ---- The typed layer ------------------------------------------------------- */

typedef struct Order {
    uint64_t id;
    uint64_t customer;
    double total;
    uint32_t qty;
    uint32_t flags;
    char sku[16];
} Order;
BIRCH_POD_FORMAT(order_fmt, Order, 1);

static Order order_of(uint64_t id)
{
    Order o;
    memset(&o, 0, sizeof o);
    o.id = id;
    o.customer = id * 31 + 7;
    o.total = (double)id * 1.5;
    o.qty = (uint32_t)id % 17;
    snprintf(o.sku, sizeof o.sku, "sku-%llu", (unsigned long long)id);
    return o;
}

static void expect_order(birch_txn *txn, const birch_typed *t, uint64_t key, const Order *want)
{
    birch_guard g;
    memset(&g, 0, sizeof g);
    BT_OK(birch_typed_get(txn, t, &key, &g));
    ck_assert_msg(memcmp(g.view, want, sizeof *want) == 0, "order %llu: stored bytes differ",
                  (unsigned long long)key);
    birch_guard_release(&g);
}

/* birch_typed_put(key, guard.view): the value was encoded after its bytes
 * were cleared (same key: zeros stored) or moved by a split (other keys). */
START_TEST(typed_put_from_guard)
{
    char *path = bt_path("typed_guard");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    birch_typed t;
    BT_OK(birch_typed_open(db, NULL, "orders", &birch_key_u64, &order_fmt, BIRCH_CREATE, &t));
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    for (uint64_t i = 0; i < 200; i++) {
        Order ord = order_of(i);
        BT_OK(birch_typed_put(w, &t, &i, &ord, 0));
    }
    for (uint64_t i = 0; i < 200; i++) {
        birch_guard g;
        memset(&g, 0, sizeof g);
        BT_OK(birch_typed_get(w, &t, &i, &g));
        BT_OK(birch_typed_put(w, &t, &i, g.view, 0)); /* itself */
        birch_guard_release(&g);
        Order want = order_of(i);
        expect_order(w, &t, i, &want);
        /* Under a new key: the leaf fills and splits as the copies go in. */
        uint64_t nk = 1000 + i * 3 % 200;
        BT_OK(birch_typed_get(w, &t, &i, &g));
        BT_OK(birch_typed_put(w, &t, &nk, g.view, 0));
        birch_guard_release(&g);
        expect_order(w, &t, nk, &want);
    }
    BT_OK(birch_txn_commit(w));
    /* A guard on its own snapshot (the map), put with txn NULL. */
    birch_guard g;
    memset(&g, 0, sizeof g);
    uint64_t k = 5, k2 = 6;
    BT_OK(birch_typed_get(NULL, &t, &k, &g));
    BT_OK(birch_typed_put(NULL, &t, &k2, g.view, 0));
    birch_guard_release(&g);
    Order want = order_of(5);
    expect_order(NULL, &t, k2, &want);
    bt_check(db);
    birch_close(db);
    free(path);
}
END_TEST

/* A big bytes value through the guard's birch_val, and stream items
 * written back: the run was freed before encode copied from it. */
START_TEST(typed_bytes_guard_and_stream)
{
    char *path = bt_path("typed_bytes");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    birch_typed t;
    BT_OK(birch_typed_open(db, NULL, "blobs", &birch_key_u64, &birch_value_bytes, BIRCH_CREATE, &t));
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    enum { N = 12 };
    unsigned char *want[N];
    size_t wlen[N];
    for (uint64_t i = 0; i < N; i++) {
        wlen[i] = i % 2 ? sizes[i % NSIZES] : 50 + i;
        want[i] = malloc(wlen[i]);
        ck_assert_ptr_nonnull(want[i]);
        bt_pattern(want[i], wlen[i], 300 + i);
        birch_val v = bt_val(want[i], wlen[i]);
        BT_OK(birch_typed_put(w, &t, &i, &v, 0));
    }
    for (uint64_t i = 0; i < N; i++) {
        birch_guard g;
        memset(&g, 0, sizeof g);
        BT_OK(birch_typed_get(w, &t, &i, &g));
        birch_val sub = {(const char *)g.bytes.data + 1, g.bytes.size - 1};
        BT_OK(birch_typed_put(w, &t, &i, &sub, 0));
        birch_guard_release(&g);
        memmove(want[i], want[i] + 1, --wlen[i]);
    }
    /* Every stream item stored again under its own key, from the item. */
    birch_stream_opts so;
    memset(&so, 0, sizeof so);
    birch_stream *s;
    BT_OK(birch_stream_open(w, &t, &so, &s));
    birch_item it;
    int seen = 0;
    while (birch_stream_next(s, &it) == BIRCH_OK) {
        birch_val sub = {it.bytes.data, it.bytes.size - 1};
        uint64_t key = *(const uint64_t *)it.key;
        BT_OK(birch_typed_put(w, &t, it.key, &sub, 0));
        wlen[key]--;
        seen++;
    }
    birch_stream_close(s);
    ck_assert_int_eq(seen, N);
    for (uint64_t i = 0; i < N; i++) {
        birch_guard g;
        memset(&g, 0, sizeof g);
        BT_OK(birch_typed_get(w, &t, &i, &g));
        ck_assert_msg(g.bytes.size == wlen[i] && memcmp(g.bytes.data, want[i], wlen[i]) == 0,
                      "blob %llu: %zu bytes stored, want %zu", (unsigned long long)i, g.bytes.size, wlen[i]);
        birch_guard_release(&g);
        free(want[i]);
    }
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    birch_close(db);
    free(path);
}
END_TEST

/* birch_typed_put_batch whose values point into the records it replaces:
 * keys 0..N-1 get the values of keys rotated by one, as they were when
 * the batch was called. */
START_TEST(typed_batch_rotation)
{
    char *path = bt_path("typed_batch");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    birch_typed t;
    BT_OK(birch_typed_open(db, NULL, "blobs", &birch_key_u64, &birch_value_bytes, BIRCH_CREATE, &t));
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    enum { N = 8 };
    unsigned char *want[N];
    size_t wlen[N];
    uint64_t keys[N];
    birch_val vals[N];
    for (uint64_t i = 0; i < N; i++) {
        wlen[i] = _i ? sizes[(i * 3) % NSIZES] : 16 + i * 9;
        want[i] = malloc(wlen[i]);
        ck_assert_ptr_nonnull(want[i]);
        bt_pattern(want[i], wlen[i], 400 + i);
        birch_val v = bt_val(want[i], wlen[i]);
        BT_OK(birch_typed_put(w, &t, &i, &v, 0));
    }
    for (uint64_t i = 0; i < N; i++) {
        uint64_t from = (i + 1) % N;
        birch_guard g;
        memset(&g, 0, sizeof g);
        BT_OK(birch_typed_get(w, &t, &from, &g));
        keys[i] = i;
        vals[i] = g.bytes;
        birch_guard_release(&g);
    }
    BT_OK(birch_typed_put_batch(w, &t, N, keys, vals));
    for (uint64_t i = 0; i < N; i++) {
        uint64_t from = (i + 1) % N;
        birch_guard g;
        memset(&g, 0, sizeof g);
        BT_OK(birch_typed_get(w, &t, &i, &g));
        ck_assert_msg(g.bytes.size == wlen[from] && memcmp(g.bytes.data, want[from], wlen[from]) == 0,
                      "key %llu: %zu bytes stored, want key %llu's %zu", (unsigned long long)i, g.bytes.size,
                      (unsigned long long)from, wlen[from]);
        birch_guard_release(&g);
    }
    /* A pod batch whose values array is a guard's view (one record). */
    birch_typed ot;
    BT_OK(birch_typed_open(db, w, "orders", &birch_key_u64, &order_fmt, BIRCH_CREATE, &ot));
    for (uint64_t i = 0; i < 50; i++) {
        Order ord = order_of(i);
        BT_OK(birch_typed_put(w, &ot, &i, &ord, 0));
    }
    for (uint64_t i = 0; i < 50; i++) {
        birch_guard g;
        memset(&g, 0, sizeof g);
        BT_OK(birch_typed_get(w, &ot, &i, &g));
        BT_OK(birch_typed_put_batch(w, &ot, 1, &i, g.view));
        birch_guard_release(&g);
        Order want_o = order_of(i);
        expect_order(w, &ot, i, &want_o);
    }
    /* Committed records (in the map, so no copy aside): rotate again. */
    BT_OK(birch_txn_commit(w));
    w = bt_begin(db, BIRCH_TXN_WRITE);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t from = (i + 1) % N;
        birch_guard g;
        memset(&g, 0, sizeof g);
        BT_OK(birch_typed_get(w, &t, &from, &g));
        vals[i] = g.bytes;
        birch_guard_release(&g);
    }
    BT_OK(birch_typed_put_batch(w, &t, N, keys, vals));
    for (uint64_t i = 0; i < N; i++) {
        uint64_t from = (i + 2) % N;
        birch_guard g;
        memset(&g, 0, sizeof g);
        BT_OK(birch_typed_get(w, &t, &i, &g));
        ck_assert_msg(g.bytes.size == wlen[from] && memcmp(g.bytes.data, want[from], wlen[from]) == 0,
                      "committed, key %llu: %zu bytes stored, want key %llu's %zu", (unsigned long long)i,
                      g.bytes.size, (unsigned long long)from, wlen[from]);
        birch_guard_release(&g);
    }
    /* Bytes keys and values that are another table's records (keys and
     * values both in pages of this transaction). */
    birch_typed bt;
    BT_OK(birch_typed_open(db, w, "bb", &birch_key_bytes, &birch_value_bytes, BIRCH_CREATE, &bt));
    birch_val bkeys[N], bvals[N];
    for (uint64_t i = 0; i < N; i++) {
        birch_guard g;
        memset(&g, 0, sizeof g);
        BT_OK(birch_typed_get(w, &t, &i, &g));
        bkeys[i] = bt_val(g.bytes.data, g.bytes.size < 100 ? g.bytes.size : 100);
        bvals[i] = g.bytes;
        birch_guard_release(&g);
    }
    BT_OK(birch_typed_put_batch(w, &bt, N, bkeys, bvals));
    for (uint64_t i = 0; i < N; i++) {
        uint64_t from = (i + 2) % N;
        birch_val key = bt_val(want[from], wlen[from] < 100 ? wlen[from] : 100);
        birch_guard g;
        memset(&g, 0, sizeof g);
        BT_OK(birch_typed_get(w, &bt, &key, &g));
        ck_assert_msg(g.bytes.size == wlen[from] && memcmp(g.bytes.data, want[from], wlen[from]) == 0,
                      "bytes table, key of record %llu: wrong value", (unsigned long long)from);
        birch_guard_release(&g);
    }
    for (uint64_t i = 0; i < N; i++) free(want[i]);
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    birch_close(db);
    free(path);
}
END_TEST

static int fail_encode(const birch_value_format *f, const void *value, void *out, size_t size)
{
    (void)f, (void)value, (void)out, (void)size;
    return BIRCH_EINVAL;
}

/* A value encoded aside whose encode fails: nothing was written, so the
 * transaction stays usable (in place, it would have to fail). */
START_TEST(typed_aside_encode_failure)
{
    char *path = bt_path("typed_fail");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    birch_value_format failing = birch_value_bytes; /* same schema text, encode fails */
    failing.encode = fail_encode;
    birch_typed tb, tf;
    BT_OK(birch_typed_open(db, NULL, "f", &birch_key_u64, &birch_value_bytes, BIRCH_CREATE, &tb));
    BT_OK(birch_typed_open(db, NULL, "f", &birch_key_u64, &failing, 0, &tf));
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    uint64_t k1 = 1, k2 = 2, k3 = 3;
    birch_val v = bt_str("hello");
    BT_OK(birch_typed_put(w, &tb, &k1, &v, 0));
    birch_guard g;
    memset(&g, 0, sizeof g);
    BT_OK(birch_typed_get(w, &tb, &k1, &g));
    BT_RC(birch_typed_put(w, &tf, &k2, &g.bytes, 0), BIRCH_EINVAL);
    birch_guard_release(&g);
    BT_OK(birch_typed_put(w, &tb, &k3, &v, 0));
    BT_OK(birch_txn_commit(w));
    BT_RC(birch_typed_contains(NULL, &tb, &k2), 0);
    BT_RC(birch_typed_contains(NULL, &tb, &k3), 1);
    birch_close(db);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("alias");
    TCase *tc = bt_tcase("records");
    tcase_add_loop_test(tc, big_value_same_key, 0, NSIZES);
    tcase_add_loop_test(tc, big_value_other_key_and_committed, 0, NSIZES);
    tcase_add_test(tc, cursor_key_into_leaf);
    tcase_add_test(tc, value_from_neighbour);
    tcase_add_test(tc, reserve_cursor_key);
    tcase_add_test(tc, del_cursor_key);
    suite_add_tcase(s, tc);
    tc = bt_tcase("typed");
    tcase_add_test(tc, typed_put_from_guard);
    tcase_add_test(tc, typed_bytes_guard_and_stream);
    tcase_add_loop_test(tc, typed_batch_rotation, 0, 2);
    tcase_add_test(tc, typed_aside_encode_failure);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
