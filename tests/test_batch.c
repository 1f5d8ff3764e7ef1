/*
 * test_batch.c - write batches (birch.h, "Write batches"): building and
 * reading back (birch_batch_each), applying against a model of sorted
 * tables with commits and aborts (seeded; the seed is in every failure),
 * atomicity when a change fails midway, every truncation and random
 * mutations of an encoding refused with nothing changed, mutated records
 * under a recomputed checksum refused or applied whole (checked against
 * the same changes made one by one in a second database), and bad
 * arguments.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "birch.h"
#include "support.h"

static char *path, *path2;
static birch_db *db;

static void setup(void)
{
    path = bt_path("batch");
    path2 = bt_path("batch2");
    birch_options o = bt_opts_fast();
    db = bt_open(path, &o);
}

static void teardown(void)
{
    if (db) BT_OK(birch_close(db));
    db = NULL;
    bt_remove(path);
    bt_remove(path2);
    free(path);
    free(path2);
}

/* ---- A digest of a whole database ---------------------------------------------- */

typedef struct digest_ctx {
    birch_txn *txn;
    XXH64_hash_t h;
    int rc;
} digest_ctx;

static int digest_table(const char *name, void *c)
{
    digest_ctx *d = c;
    birch_table *t;
    birch_cursor *cur;
    d->h = XXH3_64bits_withSeed(name, strlen(name) + 1, d->h);
    if ((d->rc = birch_table_open(d->txn, name, 0, &t)) || (d->rc = birch_cursor_open(d->txn, t, &cur))) return 1;
    unsigned flags;
    uint64_t seq;
    birch_val schema;
    BT_OK(birch_table_flags(d->txn, t, &flags));
    BT_OK(birch_sequence_get(d->txn, t, &seq));
    BT_OK(birch_table_schema(d->txn, t, &schema));
    d->h = XXH3_64bits_withSeed(schema.data, schema.size, d->h ^ flags ^ (seq << 8) ^ ((uint64_t)schema.size << 40));
    for (int rc = birch_cursor_first(cur); rc == BIRCH_OK; rc = birch_cursor_next(cur)) {
        birch_val k, v;
        BT_OK(birch_cursor_get(cur, &k, &v));
        d->h = XXH3_64bits_withSeed(k.data, k.size, d->h ^ k.size);
        d->h = XXH3_64bits_withSeed(v.data, v.size, d->h ^ (v.size << 20));
    }
    birch_cursor_close(cur);
    return 0;
}

static int digest_savepoint(const birch_savepoint_info *sp, void *c)
{
    digest_ctx *d = c;
    d->h = XXH3_64bits_withSeed(sp->name, strlen(sp->name) + 1, d->h ^ 0x5a5a);
    return 0;
}

/* Every table's name, kind, schema, sequence and records, in order, and
 * the savepoints' names, hashed. */
static uint64_t digest(birch_db *d)
{
    digest_ctx c = {NULL, 7, 0};
    BT_OK(birch_txn_begin(d, BIRCH_TXN_READ, &c.txn));
    ck_assert_int_eq(birch_table_list(c.txn, digest_table, &c), 0);
    ck_assert_int_eq(birch_savepoint_list(c.txn, digest_savepoint, &c), 0);
    BT_OK(c.rc);
    birch_txn_abort(c.txn);
    return c.h;
}

/* ---- The model: three tables of keys key(0) < key(1) < ... ------------------------ */

enum { NT = 3, NK = 48, VMAX = 40 };
static const char *const TABLES[NT + 1] = {"alpha", "beta", "gamma", "never"}; /* "never" gets deletes only */

typedef struct model {
    int exists[NT];
    int has[NT][NK];
    uint8_t val[NT][NK][VMAX];
    size_t vlen[NT][NK];
} model;

/* Key i: byte 1 + i / 2, and an 'x' after it for odd i, so that memcmp
 * order is i's order and keys have two lengths. */
static birch_val key_of(int i, uint8_t buf[2])
{
    buf[0] = (uint8_t)(1 + i / 2);
    buf[1] = 'x';
    return bt_val(buf, 1 + (size_t)(i & 1));
}

/* A random change, recorded in b and (as it will apply) in m. */
static void random_change(bt_rng *r, birch_batch *b, model *m)
{
    int t = (int)bt_below(r, NT + 1), i = (int)bt_below(r, NK);
    uint8_t kb[2], hb[2], v[VMAX];
    birch_val k = key_of(i, kb);
    unsigned what = (unsigned)bt_below(r, 10);
    if (t == NT) what = what < 5 ? 5 : 9; /* the table nobody puts to: deletes */
    if (what < 5) {
        size_t n = (size_t)bt_below(r, VMAX + 1);
        bt_fill(r, v, n);
        BT_OK(birch_batch_put(b, TABLES[t], k, bt_val(v, n)));
        m->exists[t] = 1;
        m->has[t][i] = 1;
        memcpy(m->val[t][i], v, n);
        m->vlen[t][i] = n;
    } else if (what < 8) {
        BT_OK(birch_batch_del(b, TABLES[t], k));
        if (t < NT) m->has[t][i] = 0;
    } else {
        int lo = bt_chance(r, 20) ? -1 : (int)bt_below(r, NK), hi = bt_chance(r, 20) ? -1 : (int)bt_below(r, NK);
        if (lo >= 0 && hi >= 0 && lo > hi) {
            int x = lo;
            lo = hi, hi = x;
        }
        birch_val lv = lo < 0 ? bt_val(NULL, 0) : key_of(lo, kb), hv = hi < 0 ? bt_val(NULL, 0) : key_of(hi, hb);
        BT_OK(birch_batch_del_range(b, TABLES[t], lv, hv));
        for (int j = lo < 0 ? 0 : lo; t < NT && j < (hi < 0 ? NK : hi); j++) m->has[t][j] = 0;
    }
}

/* The database holds exactly the model. */
static void same_as_model(const model *m, uint64_t seed, int round)
{
    birch_txn *txn;
    BT_OK(birch_txn_begin(db, BIRCH_TXN_READ, &txn));
    for (int t = 0; t <= NT; t++) {
        birch_table *tb;
        int rc = birch_table_open(txn, TABLES[t], 0, &tb);
        int want = t < NT && m->exists[t];
        ck_assert_msg((rc == BIRCH_OK) == want, "seed %llu round %d: table %s exists: %d, model: %d",
                      (unsigned long long)seed, round, TABLES[t], rc == BIRCH_OK, want);
        if (!want) continue;
        for (int i = 0; i < NK; i++) {
            uint8_t kb[2];
            birch_val v;
            rc = birch_get(txn, tb, key_of(i, kb), &v);
            ck_assert_msg((rc == BIRCH_OK) == m->has[t][i], "seed %llu round %d: %s key %d: rc %d, model has %d",
                          (unsigned long long)seed, round, TABLES[t], i, rc, m->has[t][i]);
            if (rc == BIRCH_OK)
                ck_assert_msg(v.size == m->vlen[t][i] && (!v.size || memcmp(v.data, m->val[t][i], v.size) == 0),
                              "seed %llu round %d: %s key %d: another value", (unsigned long long)seed, round,
                              TABLES[t], i);
        }
        uint64_t n;
        BT_OK(birch_count(txn, tb, &n));
        uint64_t want_n = 0;
        for (int i = 0; i < NK; i++) want_n += (uint64_t)m->has[t][i];
        ck_assert_msg(n == want_n, "seed %llu round %d: %s holds %llu records, the model %llu", (unsigned long long)seed,
                      round, TABLES[t], (unsigned long long)n, (unsigned long long)want_n);
    }
    birch_txn_abort(txn);
}

/* Random batches applied in transactions that commit (the model takes
 * them) or abort (it does not); some transactions apply several. */
START_TEST(random_batches_match_the_model)
{
    uint64_t seed = bt_seed(0xba7c4);
    fprintf(stderr, "random_batches_match_the_model: seed %llu (BIRCH_SEED)\n", (unsigned long long)seed);
    bt_rng r = {seed};
    static model m, pending;
    memset(&m, 0, sizeof m);
    birch_batch b;
    birch_batch_init(&b);
    for (int round = 0; round < 300; round++) {
        pending = m;
        birch_txn *txn;
        BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
        for (int k = (int)bt_range(&r, 1, 3); k > 0; k--) {
            birch_batch_clear(&b);
            for (int n = (int)bt_below(&r, 30); n > 0; n--) random_change(&r, &b, &pending);
            birch_val bytes;
            BT_OK(birch_batch_bytes(&b, &bytes));
            int rc = birch_batch_apply(txn, bytes);
            ck_assert_msg(rc == BIRCH_OK, "seed %llu round %d: apply: %d %s", (unsigned long long)seed, round, rc,
                          birch_errmsg());
        }
        if (bt_chance(&r, 25)) {
            birch_txn_abort(txn);
        } else {
            BT_OK(birch_txn_commit(txn));
            m = pending;
        }
        same_as_model(&m, seed, round);
    }
    birch_batch_free(&b);
}
END_TEST

/* ---- Reading a batch back ------------------------------------------------------ */

typedef struct seen {
    int n;
    birch_batch_op ops[8];
} seen;

static int collect(const birch_batch_op *op, void *c)
{
    seen *s = c;
    if (s->n == 8) return 99;
    s->ops[s->n++] = *op;
    return 0;
}

static int same_val(birch_val a, const char *b)
{
    return a.size == strlen(b) && (!a.size || memcmp(a.data, b, a.size) == 0);
}

START_TEST(each_gives_the_changes_back)
{
    birch_batch b;
    birch_batch_init(&b);
    BT_OK(birch_batch_put(&b, "t1", bt_str("k1"), bt_str("v1")));
    BT_OK(birch_batch_put(&b, "t1", bt_str("k2"), bt_val(NULL, 0)));
    BT_OK(birch_batch_del(&b, "t2", bt_str("k3")));
    BT_OK(birch_batch_del_range(&b, "t1", bt_val(NULL, 0), bt_str("m")));
    BT_OK(birch_batch_del_range(&b, "t2", bt_str("a"), bt_val(NULL, 0)));
    ck_assert_uint_eq(birch_batch_count(&b), 5);
    birch_val bytes;
    BT_OK(birch_batch_bytes(&b, &bytes));
    seen s = {0};
    BT_OK(birch_batch_each(bytes, collect, &s));
    ck_assert_int_eq(s.n, 5);
    static const int kinds[] = {BIRCH_BATCH_PUT, BIRCH_BATCH_PUT, BIRCH_BATCH_DEL, BIRCH_BATCH_DEL_RANGE,
                                BIRCH_BATCH_DEL_RANGE};
    static const char *const tables[] = {"t1", "t1", "t2", "t1", "t2"}, *const keys[] = {"k1", "k2", "k3", "", "a"},
                             *const vals[] = {"v1", "", "", "m", ""};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(s.ops[i].kind, kinds[i]);
        ck_assert(same_val(s.ops[i].table, tables[i]) && same_val(s.ops[i].key, keys[i]) &&
                  same_val(s.ops[i].val, vals[i]));
    }
    /* fn's non-zero return stops the walk and is returned. */
    s.n = 8;
    ck_assert_int_eq(birch_batch_each(bytes, collect, &s), 99);
    /* Cleared: an empty batch, which applies as nothing. */
    birch_batch_clear(&b);
    ck_assert_uint_eq(birch_batch_count(&b), 0);
    BT_OK(birch_batch_bytes(&b, &bytes));
    ck_assert_uint_eq(bytes.size, 24);
    s.n = 0;
    BT_OK(birch_batch_each(bytes, collect, &s));
    ck_assert_int_eq(s.n, 0);
    uint64_t before = digest(db);
    birch_txn *txn;
    BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    BT_OK(birch_batch_apply(txn, bytes));
    BT_OK(birch_txn_commit(txn));
    ck_assert(digest(db) == before);
    birch_batch_free(&b);
    /* Freed: usable again from empty. */
    BT_OK(birch_batch_put(&b, "t", bt_str("k"), bt_str("v")));
    ck_assert_uint_eq(birch_batch_count(&b), 1);
    birch_batch_free(&b);
}
END_TEST

/* Applies bytes in a transaction it commits; returns apply's code. */
static int apply_commit(birch_db *d, const void *p, size_t n)
{
    birch_txn *txn;
    BT_OK(birch_txn_begin(d, BIRCH_TXN_WRITE, &txn));
    int rc = birch_batch_apply(txn, bt_val(p, n));
    BT_OK(birch_txn_commit(txn));
    return rc;
}

/* Deletes from a missing table change nothing; a put after them in the
 * same batch creates it. */
START_TEST(deletes_then_put_to_a_missing_table)
{
    birch_batch b;
    birch_batch_init(&b);
    BT_OK(birch_batch_del(&b, "late", bt_str("k")));
    BT_OK(birch_batch_del_range(&b, "late", bt_val(NULL, 0), bt_val(NULL, 0)));
    BT_OK(birch_batch_put(&b, "late", bt_str("k"), bt_str("v")));
    BT_OK(birch_batch_del(&b, "late", bt_str("absent")));
    birch_val bytes;
    BT_OK(birch_batch_bytes(&b, &bytes));
    BT_OK(apply_commit(db, bytes.data, bytes.size));
    birch_txn *txn;
    birch_table *t;
    birch_val v;
    BT_OK(birch_txn_begin(db, BIRCH_TXN_READ, &txn));
    BT_OK(birch_table_open(txn, "late", 0, &t));
    BT_OK(birch_get(txn, t, bt_str("k"), &v));
    ck_assert(same_val(v, "v"));
    birch_txn_abort(txn);
    birch_batch_free(&b);
}
END_TEST

/* Keys and values from the batch's own bytes, while it grows (and
 * moves); a batch stored as a value and applied from the map in the
 * transaction that changes that page. */
START_TEST(aliased_bytes)
{
    birch_batch b;
    birch_batch_init(&b);
    BT_OK(birch_batch_put(&b, "t", bt_str("key-one"), bt_str("value-one")));
    for (int i = 0; i < 200; i++) { /* 200 copies of the first record's key and value: the buffer moves */
        birch_val bytes;
        BT_OK(birch_batch_bytes(&b, &bytes));
        const uint8_t *p = bytes.data;
        const uint8_t *k = NULL, *v = NULL;
        for (size_t j = 0; j + 9 <= bytes.size && !(k && v); j++) {
            if (!k && memcmp(p + j, "key-one", 7) == 0) k = p + j;
            if (!v && memcmp(p + j, "value-one", 9) == 0) v = p + j;
        }
        ck_assert(k && v);
        BT_OK(birch_batch_put(&b, "t", bt_val(k, 7), bt_val(v, 9)));
    }
    birch_val bytes;
    BT_OK(birch_batch_bytes(&b, &bytes));
    seen s = {0};
    ck_assert_int_eq(birch_batch_each(bytes, collect, &s), 99); /* more than 8 */
    for (int i = 0; i < 8; i++)
        ck_assert(same_val(s.ops[i].key, "key-one") && same_val(s.ops[i].val, "value-one"));
    /* Stored, read back in a write transaction, applied from the map: its
     * changes rewrite the page it is on. */
    birch_batch_clear(&b);
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%03d", i);
        BT_OK(birch_batch_put(&b, "store", bt_str(k), bt_str("0123456789")));
    }
    BT_OK(birch_batch_bytes(&b, &bytes));
    birch_txn *txn;
    birch_table *t;
    birch_val v;
    BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    BT_OK(birch_table_open(txn, "store", BIRCH_CREATE, &t));
    BT_OK(birch_put(txn, t, bt_str("batch"), bytes, 0));
    BT_OK(birch_get(txn, t, bt_str("batch"), &v));
    BT_OK(birch_batch_apply(txn, v));
    BT_OK(birch_txn_commit(txn));
    BT_OK(birch_txn_begin(db, BIRCH_TXN_READ, &txn));
    uint64_t n;
    BT_OK(birch_count(txn, t, &n));
    ck_assert_uint_eq(n, 51);
    birch_txn_abort(txn);
    birch_batch_free(&b);
}
END_TEST

/* ---- Atomicity ------------------------------------------------------------------ */

START_TEST(a_failing_change_undoes_the_batch)
{
    birch_txn *txn;
    BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    birch_table *t;
    BT_OK(birch_table_open(txn, "keep", BIRCH_CREATE, &t));
    BT_OK(birch_put(txn, t, bt_str("a"), bt_str("1"), 0));
    birch_table *mm;
    BT_OK(birch_table_open(txn, "multi", BIRCH_CREATE | BIRCH_MULTIMAP, &mm));
    BT_OK(birch_txn_commit(txn));
    uint64_t before = digest(db);

    /* A key this database cannot hold (but a batch can: up to 16,384
     * bytes), after changes that would have worked. */
    static uint8_t big[16384];
    birch_batch b;
    birch_batch_init(&b);
    BT_OK(birch_batch_put(&b, "keep", bt_str("b"), bt_str("2")));
    BT_OK(birch_batch_del(&b, "keep", bt_str("a")));
    BT_OK(birch_batch_put(&b, "fresh", bt_str("c"), bt_str("3")));
    BT_OK(birch_batch_put(&b, "keep", bt_val(big, birch_max_key_size(db) + 1), bt_str("4")));
    birch_val bytes;
    BT_OK(birch_batch_bytes(&b, &bytes));
    BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    BT_OK(birch_put(txn, t, bt_str("z"), bt_str("before the batch"), 0));
    BT_RC(birch_batch_apply(txn, bytes), BIRCH_EKEYSIZE);
    BT_ERRMSG_HAS("change 3 (a put in table 'keep')");
    BT_ERRMSG_HAS("nothing was applied");
    /* The transaction is as it was, and usable: its own put stays. */
    birch_val v;
    BT_OK(birch_get(txn, t, bt_str("z"), &v));
    BT_OK(birch_get(txn, t, bt_str("a"), &v));
    BT_RC(birch_get(txn, t, bt_str("b"), &v), BIRCH_NOTFOUND);
    birch_table *fresh;
    BT_RC(birch_table_open(txn, "fresh", 0, &fresh), BIRCH_NOTFOUND);
    BT_OK(birch_del(txn, t, bt_str("z")));
    BT_OK(birch_txn_commit(txn));
    ck_assert(digest(db) == before);

    /* A multimap table takes no change of a batch (a range delete would
     * take every value of its keys): refused whole. */
    for (int kind = BIRCH_BATCH_PUT; kind <= BIRCH_BATCH_DEL_RANGE; kind++) {
        birch_batch_clear(&b);
        BT_OK(birch_batch_put(&b, "keep", bt_str("b"), bt_str("2")));
        if (kind == BIRCH_BATCH_PUT) BT_OK(birch_batch_put(&b, "multi", bt_str("k"), bt_str("v")));
        if (kind == BIRCH_BATCH_DEL) BT_OK(birch_batch_del(&b, "multi", bt_str("k")));
        if (kind == BIRCH_BATCH_DEL_RANGE) BT_OK(birch_batch_del_range(&b, "multi", bt_val(NULL, 0), bt_val(NULL, 0)));
        BT_OK(birch_batch_bytes(&b, &bytes));
        BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
        BT_RC(birch_batch_apply(txn, bytes), BIRCH_ESCHEMA);
        BT_ERRMSG_HAS("change 1 (a ");
        BT_ERRMSG_HAS("in table 'multi')");
        BT_OK(birch_txn_commit(txn));
        ck_assert(digest(db) == before);
    }
    birch_batch_free(&b);
}
END_TEST

/* ---- Damaged and hostile batches --------------------------------------------- */

static void sample_batch(birch_batch *b)
{
    birch_batch_init(b);
    BT_OK(birch_batch_put(b, "one", bt_str("apple"), bt_str("red")));
    BT_OK(birch_batch_put(b, "one", bt_str("banana"), bt_str("yellow")));
    BT_OK(birch_batch_del(b, "two", bt_str("cherry")));
    BT_OK(birch_batch_put(b, "two", bt_str("date"), bt_str("brown")));
    BT_OK(birch_batch_del_range(b, "one", bt_str("b"), bt_str("c")));
    BT_OK(birch_batch_put(b, "three", bt_str("elder"), bt_val(NULL, 0)));
}

START_TEST(truncations_and_mutations_change_nothing)
{
    uint64_t seed = bt_seed(0xdab);
    fprintf(stderr, "truncations_and_mutations_change_nothing: seed %llu (BIRCH_SEED)\n", (unsigned long long)seed);
    bt_rng r = {seed};
    birch_batch b;
    sample_batch(&b);
    birch_val bytes;
    BT_OK(birch_batch_bytes(&b, &bytes));
    uint64_t before = digest(db);
    uint8_t *copy = malloc(bytes.size);
    ck_assert_ptr_nonnull(copy);
    for (size_t n = 0; n < bytes.size; n++) {
        memcpy(copy, bytes.data, n);
        int rc = apply_commit(db, copy, n);
        ck_assert_msg(rc == BIRCH_ECORRUPT, "a batch cut to %zu of %zu bytes: %d %s", n, bytes.size, rc, birch_errmsg());
        ck_assert_msg(digest(db) == before, "a batch cut to %zu bytes changed the database", n);
    }
    for (int i = 0; i < 3000; i++) {
        memcpy(copy, bytes.data, bytes.size);
        for (int k = (int)bt_range(&r, 1, 3); k > 0; k--) copy[bt_below(&r, bytes.size)] ^= (uint8_t)bt_range(&r, 1, 255);
        if (memcmp(copy, bytes.data, bytes.size) == 0) continue; /* two flips undid each other */
        int rc = apply_commit(db, copy, bytes.size);
        ck_assert_msg(rc == BIRCH_ECORRUPT, "seed %llu mutation %d: %d %s",
                      (unsigned long long)seed, i, rc, birch_errmsg());
        ck_assert_msg(digest(db) == before, "seed %llu mutation %d changed the database", (unsigned long long)seed, i);
    }
    /* Intact, it applies. */
    BT_OK(apply_commit(db, bytes.data, bytes.size));
    ck_assert(digest(db) != before);
    free(copy);
    birch_batch_free(&b);
}
END_TEST

/* The changes of a batch made one by one: each recorded again
 * (birch_batch_add) as a batch of its own and applied. */
typedef struct replay {
    birch_txn *txn;
    birch_batch one;
} replay;

static int replay_one(const birch_batch_op *op, void *c)
{
    replay *rp = c;
    birch_val v;
    birch_batch_clear(&rp->one);
    int rc = birch_batch_add(&rp->one, op);
    if (rc == BIRCH_OK) rc = birch_batch_bytes(&rp->one, &v);
    return rc ? rc : birch_batch_apply(rp->txn, v);
}

/* Records mutated under a recomputed checksum reach the parser: each is
 * refused with nothing changed, or applied whole, giving what the same
 * changes made one by one give in a second database. */
START_TEST(hostile_records_refused_or_applied_whole)
{
    uint64_t seed = bt_seed(0x40571e);
    fprintf(stderr, "hostile_records_refused_or_applied_whole: seed %llu (BIRCH_SEED)\n", (unsigned long long)seed);
    bt_rng r = {seed};
    birch_options o = bt_opts_fast();
    birch_db *db2 = bt_open(path2, &o);
    birch_batch b;
    sample_batch(&b);
    birch_val bytes;
    BT_OK(birch_batch_bytes(&b, &bytes));
    uint8_t *copy = malloc(bytes.size + 64);
    ck_assert_ptr_nonnull(copy);
    int applied = 0, refused = 0;
    for (int i = 0; i < 3000; i++) {
        size_t n = bytes.size;
        memcpy(copy, bytes.data, n);
        for (int k = (int)bt_range(&r, 1, 3); k > 0; k--) copy[24 + bt_below(&r, n - 24)] = (uint8_t)bt_rand(&r);
        if (bt_chance(&r, 10)) n = 24 + (size_t)bt_below(&r, n - 24); /* and cut */
        uint64_t h = XXH3_64bits_withSeed(copy + 24, n - 24, XXH3_64bits(copy, 16));
        for (int k = 0; k < 8; k++) copy[16 + k] = (uint8_t)(h >> (8 * k));
        uint64_t before = digest(db);
        int rc = apply_commit(db, copy, n);
        if (rc != BIRCH_OK) {
            refused++;
            ck_assert_msg(digest(db) == before, "seed %llu case %d: refused (%d %s) but changed", (unsigned long long)seed,
                          i, rc, birch_errmsg());
            continue;
        }
        applied++;
        birch_txn *txn;
        BT_OK(birch_txn_begin(db2, BIRCH_TXN_WRITE, &txn));
        replay rp = {txn, {0}};
        ck_assert_msg(birch_batch_each(bt_val(copy, n), replay_one, &rp) == BIRCH_OK, "seed %llu case %d: replay: %s",
                      (unsigned long long)seed, i, birch_errmsg());
        birch_batch_free(&rp.one);
        BT_OK(birch_txn_commit(txn));
        ck_assert_msg(digest(db) == digest(db2), "seed %llu case %d: applied, but not as its changes one by one",
                      (unsigned long long)seed, i);
    }
    ck_assert_msg(applied > 0 && refused > 0, "seed %llu: %d applied, %d refused", (unsigned long long)seed, applied,
                  refused);
    free(copy);
    birch_batch_free(&b);
    BT_OK(birch_close(db2));
}
END_TEST

/* ---- Every kind of change ----------------------------------------------------- */

/* A batch of every kind applied to db gives what the calls it names give
 * in a second database; each kind's refusals undo the whole batch. */
START_TEST(every_kind_applies_as_its_call)
{
    birch_options o = bt_opts_fast();
    birch_db *db2 = bt_open(path2, &o);
    birch_txn *txn;
    birch_table *t, *m;
    /* A savepoint in both, for the restore below. */
    for (int i = 0; i < 2; i++) {
        birch_db *d = i ? db2 : db;
        BT_OK(birch_txn_begin(d, BIRCH_TXN_WRITE, &txn));
        BT_OK(birch_table_open(txn, "old", BIRCH_CREATE, &t));
        BT_OK(birch_put(txn, t, bt_str("x"), bt_str("1"), 0));
        BT_OK(birch_txn_commit(txn));
        BT_OK(birch_txn_begin(d, BIRCH_TXN_WRITE, &txn));
        BT_OK(birch_savepoint_create(txn, "base"));
        BT_OK(birch_put(txn, t, bt_str("y"), bt_str("2"), 0));
        BT_OK(birch_txn_commit(txn));
    }
    birch_batch b;
    birch_batch_init(&b);
    BT_OK(birch_batch_create(&b, "plain", 0));
    BT_OK(birch_batch_create(&b, "plain", 0)); /* exists, same kind: nothing */
    BT_OK(birch_batch_set_schema(&b, "plain", bt_str("schema")));
    BT_OK(birch_batch_sequence_set(&b, "plain", 41));
    BT_OK(birch_batch_put(&b, "plain", bt_str("k"), bt_str("v")));
    BT_OK(birch_batch_rename(&b, "plain", "renamed"));
    BT_OK(birch_batch_create(&b, "multi", BIRCH_MULTIMAP));
    BT_OK(birch_batch_multi_put(&b, "multi", bt_str("a"), bt_str("1")));
    BT_OK(birch_batch_multi_put(&b, "multi", bt_str("a"), bt_str("2")));
    BT_OK(birch_batch_multi_put(&b, "multi", bt_str("b"), bt_str("1")));
    BT_OK(birch_batch_multi_put(&b, "multi", bt_str("c"), bt_str("1")));
    BT_OK(birch_batch_multi_put(&b, "made", bt_str("z"), bt_str("9"))); /* creates a multimap table */
    BT_OK(birch_batch_multi_del(&b, "multi", bt_str("a"), bt_str("1")));
    BT_OK(birch_batch_multi_del(&b, "multi", bt_str("a"), bt_str("7"))); /* missing pair: nothing */
    BT_OK(birch_batch_multi_del_all(&b, "multi", bt_str("b")));
    BT_OK(birch_batch_multi_del_all(&b, "nowhere", bt_str("b")));
    BT_OK(birch_batch_multi_del_range(&b, "multi", bt_str("c"), bt_val(NULL, 0)));
    BT_OK(birch_batch_drop(&b, "nowhere"));
    BT_OK(birch_batch_savepoint_create(&b, "mine"));
    BT_OK(birch_batch_savepoint_drop(&b, "nothing"));
    BT_OK(birch_batch_bytes(&b, &(birch_val){0}));
    birch_val bytes;
    BT_OK(birch_batch_bytes(&b, &bytes));
    ck_assert_uint_eq(birch_batch_count(&b), 20);
    BT_OK(apply_commit(db, bytes.data, bytes.size));

    BT_OK(birch_txn_begin(db2, BIRCH_TXN_WRITE, &txn));
    BT_OK(birch_table_open(txn, "plain", BIRCH_CREATE, &t));
    BT_OK(birch_table_set_schema(txn, t, bt_str("schema")));
    BT_OK(birch_sequence_set(txn, t, 41));
    BT_OK(birch_put(txn, t, bt_str("k"), bt_str("v"), 0));
    BT_OK(birch_table_rename(txn, "plain", "renamed"));
    BT_OK(birch_table_open(txn, "multi", BIRCH_CREATE | BIRCH_MULTIMAP, &m));
    BT_OK(birch_multi_put(txn, m, bt_str("a"), bt_str("2"), 0));
    BT_OK(birch_multi_put(txn, m, bt_str("c"), bt_str("1"), 0));
    BT_OK(birch_multi_del_all(txn, m, bt_str("c"), NULL)); /* the range delete's effect */
    BT_OK(birch_table_open(txn, "made", BIRCH_CREATE | BIRCH_MULTIMAP, &m));
    BT_OK(birch_multi_put(txn, m, bt_str("z"), bt_str("9"), 0));
    BT_OK(birch_savepoint_create(txn, "mine"));
    BT_OK(birch_txn_commit(txn));
    ck_assert(digest(db) == digest(db2));

    /* A drop and a restore. */
    birch_batch_clear(&b);
    BT_OK(birch_batch_drop(&b, "renamed"));
    BT_OK(birch_batch_savepoint_restore(&b, "base"));
    BT_OK(birch_batch_bytes(&b, &bytes));
    BT_OK(apply_commit(db, bytes.data, bytes.size));
    BT_OK(birch_txn_begin(db2, BIRCH_TXN_WRITE, &txn));
    BT_OK(birch_table_drop(txn, "renamed"));
    BT_OK(birch_savepoint_restore(txn, "base"));
    BT_OK(birch_txn_commit(txn));
    ck_assert(digest(db) == digest(db2));

    /* Refusals: each undoes the put before it. */
    static const struct {
        int rc;
        const char *what;
    } refusals[] = {{BIRCH_ESCHEMA, "create plain over multimap"}, {BIRCH_ESCHEMA, "create multimap over plain"},
                    {BIRCH_NOTFOUND, "rename missing"},             {BIRCH_EXISTS, "rename onto existing"},
                    {BIRCH_NOTFOUND, "schema of missing"},          {BIRCH_NOTFOUND, "sequence of missing"},
                    {BIRCH_ESCHEMA, "multimap put on plain"},       {BIRCH_ESCHEMA, "multimap range on plain"},
                    {BIRCH_NOTFOUND, "restore missing"},            {BIRCH_EXISTS, "savepoint twice"},
                    {BIRCH_NOTFOUND, "schema after a delete missed"}, {BIRCH_NOTFOUND, "rename after a delete missed"}};
    uint64_t before = digest(db);
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        birch_batch_clear(&b);
        BT_OK(birch_batch_put(&b, "old", bt_str("new"), bt_str("1")));
        BT_OK(birch_batch_create(&b, "multi2", BIRCH_MULTIMAP));
        switch (i) {
        case 0: BT_OK(birch_batch_create(&b, "multi2", 0)); break;
        case 1: BT_OK(birch_batch_create(&b, "old", BIRCH_MULTIMAP)); break;
        case 2: BT_OK(birch_batch_rename(&b, "missing", "x")); break;
        case 3: BT_OK(birch_batch_rename(&b, "old", "multi2")); break;
        case 4: BT_OK(birch_batch_set_schema(&b, "missing", bt_str("s"))); break;
        case 5: BT_OK(birch_batch_sequence_set(&b, "missing", 3)); break;
        case 6: BT_OK(birch_batch_multi_put(&b, "old", bt_str("k"), bt_str("v"))); break;
        case 7: BT_OK(birch_batch_multi_del_range(&b, "old", bt_val(NULL, 0), bt_val(NULL, 0))); break;
        case 8: BT_OK(birch_batch_savepoint_restore(&b, "missing")); break;
        case 9: BT_OK(birch_batch_savepoint_create(&b, "base")); break;
        case 10:
            BT_OK(birch_batch_del(&b, "gone", bt_str("k")));
            BT_OK(birch_batch_set_schema(&b, "gone", bt_str("s")));
            break;
        default:
            BT_OK(birch_batch_del(&b, "gone", bt_str("k")));
            BT_OK(birch_batch_rename(&b, "gone", "elsewhere"));
            break;
        }
        BT_OK(birch_batch_bytes(&b, &bytes));
        int rc = apply_commit(db, bytes.data, bytes.size);
        ck_assert_msg(rc == refusals[i].rc, "%s: %d (%s), expected %d", refusals[i].what, rc, birch_errmsg(),
                      refusals[i].rc);
        BT_ERRMSG_HAS(i < 10 ? "change 2 (a " : "change 3 (a ");
        ck_assert_msg(digest(db) == before, "%s changed the database", refusals[i].what);
    }
    birch_batch_free(&b);
    BT_OK(birch_close(db2));
}
END_TEST

/* ---- Bad arguments ---------------------------------------------------------------- */

START_TEST(bad_arguments)
{
    birch_batch b;
    birch_batch_init(&b);
    char name[300];
    memset(name, 'n', sizeof name);
    name[256] = 0;
    static uint8_t big[16385];
    BT_RC(birch_batch_put(NULL, "t", bt_str("k"), bt_str("v")), BIRCH_EINVAL);
    BT_RC(birch_batch_put(&b, NULL, bt_str("k"), bt_str("v")), BIRCH_EINVAL);
    BT_RC(birch_batch_put(&b, "", bt_str("k"), bt_str("v")), BIRCH_EINVAL);
    BT_RC(birch_batch_put(&b, name, bt_str("k"), bt_str("v")), BIRCH_EINVAL);
    BT_RC(birch_batch_put(&b, "t", bt_val(NULL, 0), bt_str("v")), BIRCH_EKEYSIZE);
    BT_RC(birch_batch_put(&b, "t", bt_val(NULL, 3), bt_str("v")), BIRCH_EINVAL);
    BT_RC(birch_batch_put(&b, "t", bt_str("k"), bt_val(NULL, 3)), BIRCH_EINVAL);
    BT_RC(birch_batch_put(&b, "t", bt_val(big, sizeof big), bt_str("v")), BIRCH_EKEYSIZE);
    BT_RC(birch_batch_del(&b, "t", bt_val(NULL, 0)), BIRCH_EKEYSIZE);
    BT_RC(birch_batch_del_range(&b, "t", bt_str("b"), bt_str("a")), BIRCH_EINVAL);
    BT_RC(birch_batch_del_range(&b, "t", bt_str("ab"), bt_str("a")), BIRCH_EINVAL);
    BT_RC(birch_batch_del_range(&b, "t", bt_str("a"), bt_val(big, sizeof big)), BIRCH_EKEYSIZE);
    BT_RC(birch_batch_bytes(&b, NULL), BIRCH_EINVAL);
    BT_RC(birch_batch_create(&b, "t", BIRCH_CREATE), BIRCH_EINVAL);
    BT_RC(birch_batch_create(&b, NULL, 0), BIRCH_EINVAL);
    BT_RC(birch_batch_drop(&b, ""), BIRCH_EINVAL);
    BT_RC(birch_batch_rename(&b, "t", NULL), BIRCH_EINVAL);
    BT_RC(birch_batch_rename(&b, "t", name), BIRCH_EINVAL);
    BT_RC(birch_batch_set_schema(&b, "t", bt_val(big, BIRCH_MAX_SCHEMA_SIZE + 1)), BIRCH_EVALSIZE);
    BT_RC(birch_batch_multi_put(&b, "t", bt_str("k"), bt_val(big, sizeof big)), BIRCH_EKEYSIZE);
    BT_RC(birch_batch_multi_del(&b, "t", bt_val(NULL, 0), bt_str("v")), BIRCH_EKEYSIZE);
    BT_RC(birch_batch_multi_del_range(&b, "t", bt_str("b"), bt_str("a")), BIRCH_EINVAL);
    BT_RC(birch_batch_savepoint_create(&b, NULL), BIRCH_EINVAL);
    BT_RC(birch_batch_savepoint_restore(&b, ""), BIRCH_EINVAL);
    BT_RC(birch_batch_savepoint_drop(&b, "01234567890123456789012345678901234567890123456789012345678901234"),
          BIRCH_EINVAL);
    BT_RC(birch_batch_add(&b, NULL), BIRCH_EINVAL);
    BT_OK(birch_batch_add(&b, &(birch_batch_op){BIRCH_BATCH_DROP, bt_str("t"), bt_val(NULL, 5), bt_val(NULL, 7), 9}));
    ck_assert_uint_eq(birch_batch_count(&b), 1); /* the fields a drop lacks are ignored */
    birch_batch_clear(&b);
    BT_RC(birch_batch_add(NULL, &(birch_batch_op){BIRCH_BATCH_DROP, bt_str("t"), {0}, {0}, 0}), BIRCH_EINVAL);
    BT_RC(birch_batch_add(&b, &(birch_batch_op){16, bt_str("t"), {0}, {0}, 0}), BIRCH_EINVAL);
    BT_RC(birch_batch_add(&b, &(birch_batch_op){0, bt_str("t"), {0}, {0}, 0}), BIRCH_EINVAL);
    BT_RC(birch_batch_add(&b, &(birch_batch_op){BIRCH_BATCH_DROP, bt_val("a\0b", 3), {0}, {0}, 0}), BIRCH_EINVAL);
    BT_RC(birch_batch_add(&b, &(birch_batch_op){BIRCH_BATCH_RENAME, bt_str("t"), {0}, bt_val(NULL, 0), 0}),
          BIRCH_EINVAL);
    BT_RC(birch_batch_add(&b, &(birch_batch_op){BIRCH_BATCH_SAVEPOINT_CREATE, {0}, bt_val("s\0", 2), {0}, 0}),
          BIRCH_EINVAL);
    ck_assert_uint_eq(birch_batch_count(&b), 0); /* nothing was recorded */
    ck_assert_uint_eq(birch_batch_count(NULL), 0);
    BT_RC(birch_batch_each(bt_str("x"), NULL, NULL), BIRCH_EINVAL);

    /* Applying: no transaction, a read one, one that ended, one with an
     * open child; a batch of another version; a name this database cannot
     * hold. */
    BT_OK(birch_batch_put(&b, "t", bt_str("k"), bt_str("v")));
    birch_val bytes;
    BT_OK(birch_batch_bytes(&b, &bytes));
    BT_RC(birch_batch_apply(NULL, bytes), BIRCH_EINVAL);
    birch_txn *txn, *child;
    BT_OK(birch_txn_begin(db, BIRCH_TXN_READ, &txn));
    BT_RC(birch_batch_apply(txn, bytes), BIRCH_EREADONLY);
    birch_txn_abort(txn);
    BT_RC(birch_batch_apply(txn, bytes), BIRCH_ETXN);
    BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    BT_RC(birch_batch_apply(txn, bt_val(NULL, 5)), BIRCH_EINVAL);
    BT_RC(birch_batch_apply(txn, bt_val(NULL, 0)), BIRCH_ECORRUPT);
    BT_OK(birch_txn_begin_nested(txn, &child));
    BT_RC(birch_batch_apply(txn, bytes), BIRCH_EBUSY);
    BT_OK(birch_batch_apply(child, bytes)); /* into the child: fine */
    BT_OK(birch_txn_commit(child));
    /* Version 2 under a good checksum is a newer batch; under the old one,
     * a damaged byte. */
    uint8_t v2[64];
    memcpy(v2, bytes.data, bytes.size);
    v2[4] = 2;
    BT_RC(birch_batch_apply(txn, bt_val(v2, bytes.size)), BIRCH_ECORRUPT);
    uint64_t h = XXH3_64bits_withSeed(v2 + 24, bytes.size - 24, XXH3_64bits(v2, 16));
    for (int k = 0; k < 8; k++) v2[16 + k] = (uint8_t)(h >> (8 * k));
    BT_RC(birch_batch_apply(txn, bt_val(v2, bytes.size)), BIRCH_EVERSION);
    BT_RC(birch_batch_each(bt_val(v2, bytes.size), collect, NULL), BIRCH_EVERSION);
    birch_batch_clear(&b);
    memset(name, 'n', 200);
    name[200] = 0;
    BT_OK(birch_batch_put(&b, name, bt_str("k"), bt_str("v")));
    BT_OK(birch_batch_bytes(&b, &bytes));
    int rc = birch_batch_apply(txn, bytes);
    ck_assert_msg(birch_max_name_size(db) >= 200 ? rc == BIRCH_OK : rc == BIRCH_EINVAL, "a 200-byte name: %d", rc);
    BT_OK(birch_txn_commit(txn));
    birch_batch_free(&b);
}
END_TEST

/* A database of 512-byte pages (128-byte names and keys) replays the
 * deletes of a batch recorded for larger pages as deletes of nothing; its
 * puts of what it cannot hold are refused whole. */
START_TEST(limits_of_a_smaller_database)
{
    birch_options o = bt_opts_fast();
    o.page_size = 512;
    birch_db *small = bt_open(path2, &o);
    ck_assert_uint_eq(birch_max_name_size(small), 128);
    char name[200];
    memset(name, 'n', 199);
    name[199] = 0;
    static uint8_t big[200];
    birch_batch b;
    birch_batch_init(&b);
    BT_OK(birch_batch_put(&b, "t", bt_str("k"), bt_str("v")));
    BT_OK(birch_batch_del(&b, name, bt_str("k")));
    BT_OK(birch_batch_del_range(&b, name, bt_val(NULL, 0), bt_val(NULL, 0)));
    BT_OK(birch_batch_del(&b, "t", bt_val(big, 129)));
    BT_OK(birch_batch_put(&b, "t", bt_val(big, 128), bt_str("at the limit")));
    /* Multimap deletes of a pair or key longer than this database holds:
     * nothing to delete. */
    BT_OK(birch_batch_create(&b, "m", BIRCH_MULTIMAP));
    BT_OK(birch_batch_multi_del(&b, "m", bt_str("k"), bt_val(big, 200)));
    BT_OK(birch_batch_multi_del(&b, "m", bt_val(big, 127), bt_str("v")));
    BT_OK(birch_batch_multi_del_all(&b, "m", bt_val(big, 129)));
    birch_val bytes;
    BT_OK(birch_batch_bytes(&b, &bytes));
    BT_OK(apply_commit(small, bytes.data, bytes.size));
    uint64_t before = digest(small);
    birch_batch_clear(&b);
    BT_OK(birch_batch_put(&b, "t", bt_str("k2"), bt_str("v")));
    BT_OK(birch_batch_put(&b, name, bt_str("k"), bt_str("v")));
    BT_OK(birch_batch_bytes(&b, &bytes));
    ck_assert_int_eq(apply_commit(small, bytes.data, bytes.size), BIRCH_EINVAL);
    birch_batch_clear(&b);
    BT_OK(birch_batch_put(&b, "t", bt_str("k2"), bt_str("v")));
    BT_OK(birch_batch_put(&b, "t", bt_val(big, 129), bt_str("v")));
    BT_OK(birch_batch_bytes(&b, &bytes));
    ck_assert_int_eq(apply_commit(small, bytes.data, bytes.size), BIRCH_EKEYSIZE);
    ck_assert(digest(small) == before);
    birch_batch_free(&b);
    BT_OK(birch_close(small));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = bt_tcase("batch");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, random_batches_match_the_model);
    tcase_add_test(tc, each_gives_the_changes_back);
    tcase_add_test(tc, deletes_then_put_to_a_missing_table);
    tcase_add_test(tc, aliased_bytes);
    tcase_add_test(tc, a_failing_change_undoes_the_batch);
    tcase_add_test(tc, truncations_and_mutations_change_nothing);
    tcase_add_test(tc, hostile_records_refused_or_applied_whole);
    tcase_add_test(tc, every_kind_applies_as_its_call);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, limits_of_a_smaller_database);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
