/*
 * test_savepoint.c - persistent savepoints: create, list, restore, drop;
 * the state a restore brings back (tables made and dropped since, records,
 * schemas, sequences, values in overflow runs), across reopens; the pages a
 * savepoint keeps are not reused while it exists and are once it is
 * dropped; restores in nested transactions and aborted ones; copies and
 * compaction keep savepoints; a randomized run against models of each
 * savepoint's state; bad input.  birch_check runs after every commit (its
 * page accounting sees a page reused under a savepoint, or one leaked).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "support.h"

static char *path;
static birch_db *db;
static birch_options opts;

static void setup(void)
{
    path = bt_path("savepoint");
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

static void put_n(birch_txn *w, birch_table *t, int from, int to, const char *tag, size_t vlen)
{
    char *v = malloc(vlen + 32);
    for (int i = from; i < to; i++) {
        char k[32];
        snprintf(k, sizeof k, "k%06d", i);
        memset(v, tag[0], vlen);
        snprintf(v, vlen + 32, "%s%d", tag, i);
        bt_put(w, t, k, strlen(k), v, vlen > strlen(v) ? vlen : strlen(v));
    }
    free(v);
}

/* Keys k000000 .. k<to-1> hold values that start with tag and their number. */
static void expect_tags(birch_txn *r, birch_table *t, int to, const char *tag)
{
    for (int i = 0; i < to; i += 97) {
        char k[32], want[32];
        snprintf(k, sizeof k, "k%06d", i);
        snprintf(want, sizeof want, "%s%d", tag, i);
        birch_val v;
        BT_OK(birch_get(r, t, bt_str(k), &v));
        ck_assert_msg(v.size >= strlen(want) && memcmp(v.data, want, strlen(want)) == 0, "key %s: not %s", k, want);
    }
}

/* The table holds n records, keys below to tagged tag. */
static void expect_n(birch_txn *r, birch_table *t, int n, int to, const char *tag)
{
    ck_assert_uint_eq(bt_count(r, t), (uint64_t)n);
    expect_tags(r, t, to, tag);
}

static int count_cb(const birch_savepoint_info *sp, void *ctx)
{
    (void)sp;
    ++*(int *)ctx;
    return 0;
}

static int savepoints_in(birch_txn *txn)
{
    int n = 0;
    BT_OK(birch_savepoint_list(txn, count_cb, &n));
    return n;
}

static int savepoints(void)
{
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    int n = 0;
    BT_OK(birch_savepoint_list(r, count_cb, &n));
    birch_txn_abort(r);
    return n;
}

START_TEST(restore_brings_back_everything)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *a = bt_table(w, "a", BIRCH_CREATE), *gone = bt_table(w, "gone", BIRCH_CREATE);
    put_n(w, a, 0, 3000, "v1-", 40);
    put_n(w, a, 3000, 3010, "big1-", 9000); /* overflow runs */
    bt_put_s(w, gone, "x", "y");
    BT_OK(birch_table_set_schema(w, a, bt_str("schema-1")));
    uint64_t seq;
    BT_OK(birch_sequence_next(w, a, &seq));
    BT_OK(birch_txn_commit(w));
    uint64_t kept = bt_stat(db).txnid;
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_savepoint_create(w, "before"));
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    /* Change everything: records, big values, schema, sequence, tables. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    a = bt_table(w, "a", 0);
    put_n(w, a, 0, 3000, "v2-", 50);
    put_n(w, a, 3000, 3010, "big2-", 12000);
    BT_OK(birch_table_set_schema(w, a, bt_str("schema-2")));
    BT_OK(birch_sequence_next(w, a, &seq));
    BT_OK(birch_table_drop(w, "gone"));
    birch_table *fresh = bt_table(w, "fresh", BIRCH_CREATE);
    bt_put_s(w, fresh, "f", "g");
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    db = bt_reopen(db, path, &opts);
    ck_assert_int_eq(savepoints(), 1);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_savepoint_restore(w, "before"));
    a = bt_table(w, "a", 0); /* visible in the same transaction */
    expect_n(w, a, 3010, 3000, "v1-");
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    db = bt_reopen(db, path, &opts);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    a = bt_table(r, "a", 0);
    expect_n(r, a, 3010, 3000, "v1-");
    birch_val v;
    BT_OK(birch_get(r, a, bt_str("k003005"), &v));
    ck_assert_uint_eq(v.size, 9000);
    BT_OK(birch_table_schema(r, a, &v));
    ck_assert_uint_eq(v.size, 8);
    ck_assert_mem_eq(v.data, "schema-1", 8);
    BT_OK(birch_sequence_get(r, a, &seq));
    ck_assert_uint_eq(seq, 1);
    gone = bt_table(r, "gone", 0);
    bt_expect_s(r, gone, "x", "y");
    BT_RC(birch_table_open(r, "fresh", 0, &fresh), BIRCH_NOTFOUND);
    ck_assert_int_eq(savepoints(), 1); /* the savepoint stays */
    birch_txn_abort(r);
    (void)kept;
    /* It can be restored again after more changes, then dropped. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    a = bt_table(w, "a", 0);
    put_n(w, a, 0, 500, "v3-", 40);
    BT_OK(birch_txn_commit(w));
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_savepoint_restore(w, "before"));
    BT_OK(birch_savepoint_drop(w, "before"));
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    ck_assert_int_eq(savepoints(), 0);
    r = bt_begin(db, BIRCH_TXN_READ);
    a = bt_table(r, "a", 0);
    expect_n(r, a, 3010, 3000, "v1-");
    birch_txn_abort(r);
}
END_TEST

/* While a savepoint exists the pages of its state are not reused: the
 * file grows with each rewrite; dropped, they are reused. */
START_TEST(pages_kept_then_reused)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    put_n(w, t, 0, 5000, "a", 60);
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_sync(db));
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_savepoint_create(w, "s"));
    BT_OK(birch_txn_commit(w));
    uint64_t pages0 = bt_stat(db).file_size;
    for (int round = 0; round < 6; round++) {
        w = bt_begin(db, BIRCH_TXN_WRITE);
        t = bt_table(w, "t", 0);
        put_n(w, t, 0, 5000, round % 2 ? "b" : "c", 60);
        BT_OK(birch_txn_commit(w));
        BT_OK(birch_sync(db));
    }
    bt_check(db);
    uint64_t grown = bt_stat(db).file_size;
    ck_assert_msg(grown > pages0, "the file did not grow (%" PRIu64 " -> %" PRIu64 ") while a savepoint kept pages",
                  pages0, grown);
    /* The savepoint's state is intact (nothing overwrote it). */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_savepoint_restore(w, "s"));
    t = bt_table(w, "t", 0);
    expect_n(w, t, 5000, 5000, "a");
    BT_OK(birch_savepoint_drop(w, "s"));
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_sync(db));
    bt_check(db);
    uint64_t free_before = bt_stat(db).free_pages;
    for (int round = 0; round < 6; round++) {
        w = bt_begin(db, BIRCH_TXN_WRITE);
        t = bt_table(w, "t", 0);
        put_n(w, t, 0, 5000, round % 2 ? "d" : "e", 60);
        BT_OK(birch_txn_commit(w));
        BT_OK(birch_sync(db));
    }
    uint64_t after = bt_stat(db).file_size;
    fprintf(stderr, "savepoint pages: file %" PRIu64 " -> %" PRIu64 " bytes in 6 rewrites under a savepoint, -> %" PRIu64
            " in 6 more after it was dropped (%" PRIu64 " pages free then)\n", pages0, grown, after, free_before);
    ck_assert_msg(after - grown < (grown - pages0) / 2, "the file grew as much after the savepoint was dropped (%" PRIu64
                  " -> %" PRIu64 " -> %" PRIu64 ")", pages0, grown, after);
}
END_TEST

/* The oldest savepoint's commit (meta.sp_oldest, which decides which
 * freed pages wait) follows creates and drops: a create or the drop of a
 * newer savepoint leaves it, the drop of the oldest moves it to the next
 * oldest (birch_check compares it with a walk after every commit). */
static uint64_t oldest_after_commit(birch_txn *w)
{
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    pthread_mutex_lock(&db->lock);
    uint64_t o = db->meta.savepoints.count ? db->meta.sp_oldest : 0;
    pthread_mutex_unlock(&db->lock);
    return o;
}

START_TEST(oldest_follows_drops)
{
    const char *names[3] = {"s1", "s2", "s3"};
    uint64_t id[3];
    for (int i = 0; i < 3; i++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "t", BIRCH_CREATE);
        put_n(w, t, i * 100, i * 100 + 100, "x", 10);
        BT_OK(birch_txn_commit(w));
        w = bt_begin(db, BIRCH_TXN_WRITE);
        BT_OK(birch_savepoint_create(w, names[i]));
        id[i] = db->meta.txnid; /* the commit it keeps: the last one */
        ck_assert_uint_eq(oldest_after_commit(w), id[0]);
    }
    ck_assert(id[0] < id[1] && id[1] < id[2]);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_savepoint_drop(w, "s2")); /* a middle one: the oldest stays */
    ck_assert_uint_eq(oldest_after_commit(w), id[0]);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_savepoint_drop(w, "s1")); /* the oldest: the next is s3 */
    ck_assert_uint_eq(oldest_after_commit(w), id[2]);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_savepoint_create(w, "s4")); /* newer than s3 */
    BT_OK(birch_savepoint_drop(w, "s3"));   /* in the same transaction */
    uint64_t last = db->meta.txnid;
    ck_assert_uint_eq(oldest_after_commit(w), last);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_savepoint_drop(w, "s4")); /* none left */
    ck_assert_uint_eq(oldest_after_commit(w), 0);
}
END_TEST

/* Savepoints made after the restored one are dropped; older ones stay. */
START_TEST(later_savepoints_dropped)
{
    birch_txn *w;
    birch_table *t;
    const char *names[] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) {
        w = bt_begin(db, BIRCH_TXN_WRITE);
        t = bt_table(w, "t", BIRCH_CREATE);
        char v[8];
        snprintf(v, sizeof v, "%d", i);
        bt_put_s(w, t, "k", v);
        BT_OK(birch_txn_commit(w));
        w = bt_begin(db, BIRCH_TXN_WRITE);
        BT_OK(birch_savepoint_create(w, names[i]));
        BT_OK(birch_txn_commit(w));
    }
    ck_assert_int_eq(savepoints(), 3);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_savepoint_restore(w, "two"));
    t = bt_table(w, "t", 0);
    bt_expect_s(w, t, "k", "1");
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    ck_assert_int_eq(savepoints(), 2); /* "three" went */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_RC(birch_savepoint_restore(w, "three"), BIRCH_NOTFOUND);
    BT_OK(birch_savepoint_restore(w, "one"));
    t = bt_table(w, "t", 0);
    bt_expect_s(w, t, "k", "0");
    birch_txn_abort(w); /* an aborted restore changes nothing */
    bt_check(db);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    bt_expect_s(r, t, "k", "1");
    birch_txn_abort(r);
    ck_assert_int_eq(savepoints(), 2);
}
END_TEST

/* A restore inside a child transaction that aborts leaves the parent's
 * state, in which a savepoint can still be made (fuzz_ops found the
 * refusal a restore sets outliving the child's abort); one that commits
 * folds in, refusal included. */
START_TEST(restore_in_nested)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    put_n(w, t, 0, 2000, "old", 30);
    BT_OK(birch_txn_commit(w));
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_savepoint_create(w, "s"));
    BT_OK(birch_txn_commit(w));
    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "t", 0);
    put_n(w, t, 0, 2000, "new", 30);
    BT_OK(birch_txn_commit(w));
    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "t", 0);
    put_n(w, t, 0, 100, "mine", 30);
    birch_txn *c;
    BT_OK(birch_txn_begin_nested(w, &c));
    BT_OK(birch_savepoint_restore(c, "s"));
    expect_n(c, t, 2000, 2000, "old");
    birch_txn_abort(c);
    expect_n(w, t, 2000, 100, "mine");
    BT_OK(birch_savepoint_create(w, "kept")); /* the abort undid the restore */
    ck_assert_int_eq(savepoints_in(w), 2);
    BT_OK(birch_txn_begin_nested(w, &c));
    BT_OK(birch_savepoint_restore(c, "s")); /* drops "kept", which keeps a later commit */
    BT_OK(birch_txn_commit(c));
    expect_n(w, t, 2000, 2000, "old");
    BT_RC(birch_savepoint_create(w, "late"), BIRCH_EINVAL); /* the child's restore is the parent's now */
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    ck_assert_int_eq(savepoints(), 1);
    db = bt_reopen(db, path, &opts);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    expect_n(r, t, 2000, 2000, "old");
    birch_txn_abort(r);
}
END_TEST

/* birch_copy and birch_copy compact keep savepoints, which restore in the
 * copy. */
START_TEST(copies_keep_savepoints)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    put_n(w, t, 0, 3000, "old", 50);
    put_n(w, t, 3000, 3005, "bigold", 7000);
    BT_OK(birch_txn_commit(w));
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_savepoint_create(w, "s"));
    BT_OK(birch_txn_commit(w));
    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "t", 0);
    put_n(w, t, 0, 1500, "new", 50);
    put_n(w, t, 3000, 3002, "bignew", 7000);
    BT_OK(birch_txn_commit(w));
    for (int compact = 0; compact < 2; compact++) {
        char *cp = bt_path(compact ? "sp-compact" : "sp-copy");
        bt_remove(cp);
        BT_OK(birch_copy(db, cp, compact ? BIRCH_COPY_COMPACT : 0, NULL, NULL));
        birch_options o = bt_opts_fast();
        birch_db *c = bt_open(cp, &o);
        bt_check(c);
        birch_txn *cw = bt_begin(c, BIRCH_TXN_WRITE);
        birch_table *ct = bt_table(cw, "t", 0);
        expect_n(cw, ct, 3005, 1500, "new");
        BT_OK(birch_savepoint_restore(cw, "s"));
        ct = bt_table(cw, "t", 0);
        expect_n(cw, ct, 3005, 3000, "old");
        birch_val v;
        BT_OK(birch_get(cw, ct, bt_str("k003001"), &v));
        ck_assert_uint_eq(v.size, 7000);
        ck_assert_mem_eq(v.data, "bigold3001", 10);
        BT_OK(birch_txn_commit(cw));
        bt_check(c);
        /* Dropped in the copy, the pages only it kept go back to use. */
        cw = bt_begin(c, BIRCH_TXN_WRITE);
        BT_OK(birch_savepoint_drop(cw, "s"));
        BT_OK(birch_txn_commit(cw));
        for (int i = 0; i < 3; i++) {
            cw = bt_begin(c, BIRCH_TXN_WRITE);
            ct = bt_table(cw, "t", 0);
            put_n(cw, ct, 0, 3000, "again", 50);
            BT_OK(birch_txn_commit(cw));
            BT_OK(birch_sync(c));
        }
        bt_check(c);
        BT_OK(birch_close(c));
        bt_remove(cp);
        free(cp);
    }
}
END_TEST

START_TEST(bad_input)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_RC(birch_savepoint_create(NULL, "s"), BIRCH_EINVAL);
    BT_RC(birch_savepoint_create(w, NULL), BIRCH_EINVAL);
    BT_RC(birch_savepoint_create(w, ""), BIRCH_EINVAL);
    char longname[BIRCH_MAX_SAVEPOINT_NAME + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    BT_RC(birch_savepoint_create(w, longname), BIRCH_EINVAL);
    BT_ERRMSG_HAS("longer than");
    longname[BIRCH_MAX_SAVEPOINT_NAME] = 0; /* exactly the limit */
    BT_OK(birch_savepoint_create(w, longname));
    BT_RC(birch_savepoint_create(w, longname), BIRCH_EXISTS);
    BT_RC(birch_savepoint_restore(w, "unknown"), BIRCH_NOTFOUND);
    BT_ERRMSG_HAS("no savepoint named");
    BT_RC(birch_savepoint_drop(w, "unknown"), BIRCH_NOTFOUND);
    BT_RC(birch_savepoint_list(w, NULL, NULL), BIRCH_EINVAL);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE); /* still usable after the refusals */
    bt_put_s(w, t, "a", "b");
    BT_OK(birch_txn_commit(w));
    /* A savepoint made after a restore in the same transaction would keep
     * a state that is no ancestor of the restored one (the review of issue
     * 14: restoring it later leaked pages): refused. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_savepoint_restore(w, longname));
    BT_RC(birch_savepoint_create(w, "after"), BIRCH_EINVAL);
    BT_ERRMSG_HAS("restored a savepoint");
    birch_txn_abort(w);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_RC(birch_savepoint_create(r, "s"), BIRCH_EREADONLY);
    BT_RC(birch_savepoint_restore(r, longname), BIRCH_EREADONLY);
    BT_RC(birch_savepoint_drop(r, longname), BIRCH_EREADONLY);
    int n = 0;
    BT_OK(birch_savepoint_list(r, count_cb, &n));
    ck_assert_int_eq(n, 1);
    birch_txn_abort(r);
    BT_RC(birch_savepoint_create(r, "s"), BIRCH_ETXN);
}
END_TEST

/* ---- Randomized: models of every savepoint ------------------------------- */

enum { NSP = 4 };

START_TEST(random_vs_models)
{
    uint64_t seed = bt_seed(0x5a7e);
    bt_rng r = {seed};
    bt_model cur, sp[NSP];
    int have[NSP] = {0};
    uint64_t made[NSP] = {0};
    bt_model_init(&cur);
    for (int i = 0; i < NSP; i++) bt_model_init(&sp[i]);
    uint8_t *val = malloc(8000);
    long restores = 0;
    for (int round = 0; round < 80; round++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "t", BIRCH_CREATE);
        bt_model work;
        bt_model_init(&work);
        bt_model_copy(&work, &cur);
        int n = (int)bt_range(&r, 1, 300);
        for (int i = 0; i < n; i++) {
            char k[32];
            size_t kn = (size_t)snprintf(k, sizeof k, "key%05" PRIu64, bt_below(&r, 4000));
            if (bt_chance(&r, 70)) {
                size_t vn = bt_chance(&r, 4) ? bt_range(&r, 2000, 8000) : bt_below(&r, 200);
                bt_fill(&r, val, vn);
                bt_put(w, t, k, kn, val, vn);
                bt_model_put(&work, k, kn, val, vn);
            } else {
                int had = bt_model_del(&work, k, kn);
                BT_RC(birch_del(w, t, bt_val(k, kn)), had ? BIRCH_OK : BIRCH_NOTFOUND);
            }
        }
        int have0[NSP];
        uint64_t made0[NSP];
        memcpy(have0, have, sizeof have);
        memcpy(made0, made, sizeof made);
        uint64_t x = bt_below(&r, 10);
        int s = (int)bt_below(&r, NSP);
        char name[8];
        snprintf(name, sizeof name, "sp%d", s);
        if (x < 2 && !have[s]) { /* keeps the state this transaction began from */
            BT_OK(birch_savepoint_create(w, name));
            bt_model_free(&sp[s]);
            bt_model_init(&sp[s]);
            bt_model_copy(&sp[s], &cur);
            have[s] = 1;
            made[s] = birch_txn_id(w) - 1;
        } else if (x < 4 && have[s]) {
            BT_OK(birch_savepoint_restore(w, name));
            restores++;
            bt_model_free(&work);
            bt_model_init(&work);
            bt_model_copy(&work, &sp[s]);
            for (int j = 0; j < NSP; j++) /* later ones go */
                if (have[j] && made[j] > made[s]) have[j] = 0;
            t = bt_table(w, "t", BIRCH_CREATE);
        } else if (x < 5 && have[s]) {
            BT_OK(birch_savepoint_drop(w, name));
            have[s] = 0;
        }
        if (bt_chance(&r, 85)) {
            BT_OK(birch_txn_commit(w));
            bt_model tmp = cur;
            cur = work;
            work = tmp;
        } else {
            birch_txn_abort(w); /* undoes the savepoint calls too */
            memcpy(have, have0, sizeof have);
            memcpy(made, made0, sizeof made);
        }
        bt_model_free(&work);
        if (round % 10 == 9) db = bt_reopen(db, path, &opts);
        bt_check(db);
        birch_txn *rd = bt_begin(db, BIRCH_TXN_READ);
        if (birch_table_open(rd, "t", 0, &t) == BIRCH_NOTFOUND) { /* never made, or restored to before it */
            ck_assert_msg(cur.n == 0, "seed %" PRIu64 " round %d: no table, model %zu", seed, round, cur.n);
            birch_txn_abort(rd);
            continue;
        }
        ck_assert_msg(bt_count(rd, t) == cur.n, "seed %" PRIu64 " round %d: count %" PRIu64 ", model %zu", seed, round,
                      bt_count(rd, t), cur.n);
        for (size_t i = 0; i < cur.n; i += 7) {
            birch_val v;
            BT_OK(birch_get(rd, t, bt_val(cur.v[i]->key, cur.v[i]->klen), &v));
            ck_assert_msg(v.size == cur.v[i]->vlen && !memcmp(v.data, cur.v[i]->val, v.size), "seed %" PRIu64
                          " round %d: item %zu differs", seed, round, i);
        }
        birch_txn_abort(rd);
    }
    fprintf(stderr, "savepoint seed=%" PRIu64 ": 80 rounds, %ld restores, %zu records\n", seed, restores, cur.n);
    bt_model_free(&cur);
    for (int i = 0; i < NSP; i++) bt_model_free(&sp[i]);
    free(val);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("savepoint");
    TCase *tc = bt_tcase("savepoint");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, restore_brings_back_everything);
    tcase_add_test(tc, pages_kept_then_reused);
    tcase_add_test(tc, oldest_follows_drops);
    tcase_add_test(tc, later_savepoints_dropped);
    tcase_add_test(tc, restore_in_nested);
    tcase_add_test(tc, copies_keep_savepoints);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, random_vs_models);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
