/*
 * test_nested.c - nested transactions (birch_txn_begin_nested): a child's
 * commit folds into its parent, its abort undoes only its own changes, at
 * any depth; a randomized run against a stack of models (depth up to 4,
 * each level committed or aborted at random, with spills under a small
 * dirty budget); a child that fails leaves its parent usable; bad input.
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
    path = bt_path("nested");
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

START_TEST(commit_folds_abort_discards)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put_s(w, t, "a", "1");
    birch_txn *c;
    BT_OK(birch_txn_begin_nested(w, &c));
    ck_assert_uint_eq(birch_txn_id(c), birch_txn_id(w));
    bt_expect_s(c, t, "a", "1"); /* the child sees its parent's changes */
    bt_put_s(c, t, "b", "2");
    BT_OK(birch_del(c, t, bt_str("a")));
    BT_OK(birch_txn_commit(c));
    bt_expect_absent(w, t, "a", 1);
    bt_expect_s(w, t, "b", "2");
    BT_OK(birch_txn_begin_nested(w, &c));
    bt_put_s(c, t, "b", "changed");
    bt_put_s(c, t, "c", "3");
    birch_table *u = bt_table(c, "u", BIRCH_CREATE);
    bt_put_s(c, u, "x", "y");
    uint64_t seq;
    BT_OK(birch_sequence_next(c, t, &seq));
    birch_txn_abort(c);
    bt_expect_s(w, t, "b", "2");
    bt_expect_absent(w, t, "c", 1);
    BT_RC(birch_table_open(w, "u", 0, &u), BIRCH_NOTFOUND);
    BT_OK(birch_sequence_get(w, t, &seq));
    ck_assert_uint_eq(seq, 0);
    ck_assert_uint_eq(bt_count(w, t), 1);
    BT_OK(birch_txn_commit(w));
    db = bt_reopen(db, path, &opts);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    bt_expect_s(r, t, "b", "2");
    ck_assert_uint_eq(bt_count(r, t), 1);
    birch_txn_abort(r);
}
END_TEST

/* While a child is open its parent refuses calls; the parent's commit is
 * refused and commits nothing; the parent's abort ends the child. */
START_TEST(parent_waits_for_child)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put_s(w, t, "a", "1");
    birch_cursor *pc, *cc;
    BT_OK(birch_cursor_open(w, t, &pc));
    BT_OK(birch_cursor_first(pc));
    birch_txn *c, *g;
    BT_OK(birch_txn_begin_nested(w, &c));
    birch_val v;
    BT_RC(birch_get(w, t, bt_str("a"), &v), BIRCH_EBUSY);
    BT_RC(birch_put(w, t, bt_str("z"), bt_str("z"), 0), BIRCH_EBUSY);
    BT_RC(birch_cursor_next(pc), BIRCH_EBUSY);
    BT_RC(birch_txn_begin_nested(w, &g), BIRCH_EBUSY); /* a second child of the same parent */
    BT_RC(birch_txn_commit(w), BIRCH_EBUSY);
    BT_OK(birch_cursor_open(c, t, &cc));
    BT_OK(birch_cursor_first(cc));
    BT_OK(birch_txn_begin_nested(c, &g)); /* a grandchild */
    BT_RC(birch_cursor_next(cc), BIRCH_EBUSY);
    BT_RC(birch_txn_commit(c), BIRCH_EBUSY);
    bt_put_s(g, t, "g", "grand");
    BT_OK(birch_txn_commit(g));
    BT_RC(birch_txn_commit(g), BIRCH_ETXN); /* ended */
    bt_expect_s(c, t, "g", "grand");
    BT_OK(birch_txn_commit(c));
    BT_RC(birch_cursor_get(cc, NULL, NULL), BIRCH_ETXN); /* the child's cursor ended with it */
    birch_cursor_close(cc);
    BT_OK(birch_cursor_next(pc)); /* the parent's works again: "a" then "g" */
    birch_val k;
    BT_OK(birch_cursor_get(pc, &k, NULL));
    ck_assert_uint_eq(k.size, 1);
    ck_assert_mem_eq(k.data, "g", 1);
    birch_cursor_close(pc);
    BT_OK(birch_txn_begin_nested(w, &c));
    BT_OK(birch_txn_begin_nested(c, &g));
    birch_txn_abort(w); /* ends c and g */
    BT_RC(birch_put(c, t, bt_str("x"), bt_str("x"), 0), BIRCH_ETXN);
    BT_RC(birch_txn_commit(g), BIRCH_ETXN);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_RC(birch_table_open(r, "t", 0, &t), BIRCH_NOTFOUND); /* nothing was committed */
    birch_txn_abort(r);
}
END_TEST

START_TEST(bad_input)
{
    birch_txn *c;
    BT_RC(birch_txn_begin_nested(NULL, &c), BIRCH_EINVAL);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_RC(birch_txn_begin_nested(r, &c), BIRCH_EINVAL);
    BT_ERRMSG_HAS("read transaction");
    birch_txn_abort(r);
    BT_RC(birch_txn_begin_nested(r, &c), BIRCH_ETXN); /* ended */
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_RC(birch_txn_begin_nested(w, NULL), BIRCH_EINVAL);
    BT_OK(birch_txn_commit(w));
}
END_TEST

/* A child whose put fails (max_size reached) can be aborted, and its
 * parent goes on and commits; committing the failed child aborts it. */
START_TEST(failed_child_leaves_parent_usable)
{
    BT_OK(birch_close(db));
    bt_remove(path);
    opts.max_size = 512 * 1024;
    db = bt_open(path, &opts);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put_s(w, t, "parent", "value");
    for (int round = 0; round < 2; round++) {
        birch_txn *c;
        BT_OK(birch_txn_begin_nested(w, &c));
        static uint8_t big[60000];
        int rc = BIRCH_OK;
        for (int i = 0; i < 100 && rc == BIRCH_OK; i++) {
            char k[16];
            snprintf(k, sizeof k, "big%03d", i);
            rc = birch_put(c, t, bt_str(k), bt_val(big, sizeof big), 0);
        }
        ck_assert_int_eq(rc, BIRCH_EFULL);
        BT_RC(birch_put(c, t, bt_str("x"), bt_str("x"), 0), BIRCH_ETXN); /* the child failed */
        if (round == 0) birch_txn_abort(c);
        else BT_RC(birch_txn_commit(c), BIRCH_ETXN);
        bt_expect_s(w, t, "parent", "value");
        ck_assert_uint_eq(bt_count(w, t), 1);
    }
    bt_put_s(w, t, "after", "ok");
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    ck_assert_uint_eq(bt_count(r, t), 2);
    bt_expect_s(r, t, "after", "ok");
    birch_txn_abort(r);
}
END_TEST

/* Deeper than the handle's transaction slots (max_readers 1: 4 slots):
 * every child takes a handle, and a full set of slots makes a new region
 * of them instead of running through its numbers (the review of issue 14
 * found a child then took minutes); then 5,000 levels. */
START_TEST(deeper_than_the_slots)
{
    BT_OK(birch_close(db));
    bt_remove(path);
    opts.max_readers = 1;
    db = bt_open(path, &opts);
    enum { D = 5000 };
    birch_txn **lv = malloc((D + 1) * sizeof *lv);
    lv[0] = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(lv[0], "t", BIRCH_CREATE);
    for (int i = 1; i <= D; i++) {
        BT_OK(birch_txn_begin_nested(lv[i - 1], &lv[i]));
        if (i % 500 == 0) {
            char v[16];
            snprintf(v, sizeof v, "%d", i);
            bt_put_s(lv[i], t, "depth", v);
        }
    }
    for (int i = D; i >= 1; i--) {
        if (i == D - 1) birch_txn_abort(lv[i]); /* ends levels D - 1 and D, undoing the put at D */
        else if (i < D - 1) BT_OK(birch_txn_commit(lv[i]));
    }
    bt_expect_s(lv[0], t, "depth", "4500");
    BT_OK(birch_txn_commit(lv[0]));
    free(lv);
}
END_TEST

/* ---- Randomized: a stack of models ------------------------------------------ */

enum { DEPTH = 4 };

static uint64_t keyspace = 3000; /* keys key00000 .. */

static size_t gen_key(bt_rng *r, unsigned char *k)
{
    return (size_t)snprintf((char *)k, 32, "key%05" PRIu64, bt_below(r, keyspace));
}

static void verify(birch_txn *txn, birch_table *t, const bt_model *m, bt_rng *r, uint64_t seed, const char *when)
{
    ck_assert_msg(bt_count(txn, t) == m->n, "seed %" PRIu64 " %s: count %" PRIu64 ", model %zu", seed, when,
                  bt_count(txn, t), m->n);
    for (int i = 0; i < 40; i++) {
        unsigned char k[32];
        size_t kn = gen_key(r, k);
        const bt_item *it = bt_model_get(m, k, kn);
        birch_val v;
        int rc = birch_get(txn, t, bt_val(k, kn), &v);
        ck_assert_msg(it ? rc == BIRCH_OK && v.size == it->vlen && memcmp(v.data, it->val, v.size) == 0
                         : rc == BIRCH_NOTFOUND,
                      "seed %" PRIu64 " %s: get %.*s: %d, model %s", seed, when, (int)kn, k, rc, it ? "has it" : "not");
        unsigned char k2[32];
        size_t k2n = gen_key(r, k2);
        if (bt_keycmp(k, kn, k2, k2n) > 0) continue;
        uint64_t n;
        BT_OK(birch_count_range(txn, t, bt_val(k, kn), bt_val(k2, k2n), &n));
        size_t want = bt_model_lower(m, k2, k2n, NULL) - bt_model_lower(m, k, kn, NULL);
        ck_assert_msg(n == want, "seed %" PRIu64 " %s: count_range %" PRIu64 ", model %zu", seed, when, n, want);
    }
}

/* A batch of changes through txn, mirrored in m. */
static void changes(birch_txn *txn, birch_table *t, bt_model *m, bt_rng *r, uint8_t *val, int most)
{
    int n = (int)bt_range(r, 1, (uint64_t)most);
    for (int i = 0; i < n; i++) {
        unsigned char k[32];
        size_t kn = gen_key(r, k);
        uint64_t op = bt_below(r, 100);
        if (op < 65) {
            size_t vn = bt_chance(r, 5) ? bt_range(r, 3000, 9000) : bt_below(r, 600);
            bt_fill(r, val, vn);
            bt_put(txn, t, k, kn, val, vn);
            bt_model_put(m, k, kn, val, vn);
        } else if (op < 98) {
            int had = bt_model_del(m, k, kn);
            BT_RC(birch_del(txn, t, bt_val(k, kn)), had ? BIRCH_OK : BIRCH_NOTFOUND);
        } else { /* a short range from k */
            unsigned char k2[32];
            unsigned long long at = strtoull((const char *)k + 3, NULL, 10);
            size_t k2n = (size_t)snprintf((char *)k2, 32, "key%05llu", at + bt_below(r, 60));
            size_t a = bt_model_lower(m, k, kn, NULL), b = bt_model_lower(m, k2, k2n, NULL);
            uint64_t got;
            BT_OK(birch_del_range(txn, t, bt_val(k, kn), bt_val(k2, k2n), &got));
            ck_assert_uint_eq(got, b - a);
            for (size_t j = b; j-- > a;) {
                unsigned char kk[32];
                size_t kl = m->v[j]->klen;
                memcpy(kk, m->v[j]->key, kl);
                bt_model_del(m, kk, kl);
            }
        }
    }
}

static void random_stack(uint64_t budget, uint64_t seed, int rounds)
{
    BT_OK(birch_close(db));
    bt_remove(path);
    opts = bt_opts_fast();
    if (budget) opts.dirty_budget = budget;
    keyspace = budget ? 30000 : 3000;
    db = bt_open(path, &opts);
    bt_rng r = {seed};
    uint8_t *val = malloc(9000);
    bt_model committed, stack[DEPTH + 1];
    bt_model_init(&committed);
    for (int i = 0; i <= DEPTH; i++) bt_model_init(&stack[i]);
    long children = 0, aborted = 0;
    uint64_t spilled = 0;
    for (int round = 0; round < rounds; round++) {
        birch_txn *txns[DEPTH + 1];
        txns[0] = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(txns[0], "t", BIRCH_CREATE);
        bt_model_free(&stack[0]);
        bt_model_init(&stack[0]);
        bt_model_copy(&stack[0], &committed);
        int d = 0;
        for (int step = 0; step < 30; step++) {
            uint64_t x = bt_below(&r, 10);
            if (x < 4 && d < DEPTH) { /* a child */
                BT_OK(birch_txn_begin_nested(txns[d], &txns[d + 1]));
                d++;
                bt_model_free(&stack[d]);
                bt_model_init(&stack[d]);
                bt_model_copy(&stack[d], &stack[d - 1]);
                children++;
            } else if (x < 7 && d > 0) { /* end the deepest */
                if (bt_chance(&r, 50)) {
                    BT_OK(birch_txn_commit(txns[d]));
                    bt_model tmp = stack[d - 1];
                    stack[d - 1] = stack[d];
                    stack[d] = tmp;
                } else {
                    birch_txn_abort(txns[d]);
                    aborted++;
                }
                d--;
                verify(txns[d], t, &stack[d], &r, seed, d ? "after a child ended" : "root after a child ended");
            } else {
                changes(txns[d], t, &stack[d], &r, val, budget ? 1500 : 200);
            }
        }
        /* End what is open: the root commits or aborts with all of them. */
        while (d > 0 && bt_chance(&r, 50)) {
            BT_OK(birch_txn_commit(txns[d]));
            bt_model tmp = stack[d - 1];
            stack[d - 1] = stack[d];
            stack[d] = tmp;
            d--;
        }
        if (d == 0 && bt_chance(&r, 80)) {
            verify(txns[0], t, &stack[0], &r, seed, "root before commit");
            BT_OK(birch_txn_commit(txns[0]));
            bt_model tmp = committed;
            committed = stack[0];
            stack[0] = tmp;
        } else {
            birch_txn_abort(txns[0]); /* ends any open child */
        }
        if (round % 5 == 4) {
            spilled += db->spilled_pages;
            db = bt_reopen(db, path, &opts);
            bt_strict_check(db, (uint64_t)round, "nested");
        }
        birch_txn *rd = bt_begin(db, BIRCH_TXN_READ);
        birch_table *rt;
        if (birch_table_open(rd, "t", 0, &rt) == BIRCH_OK) verify(rd, rt, &committed, &r, seed, "committed");
        else ck_assert_uint_eq(committed.n, 0);
        birch_txn_abort(rd);
    }
    bt_check(db);
    fprintf(stderr, "nested seed=%" PRIu64 " budget %" PRIu64 ": %d rounds, %ld children (%ld aborted), %" PRIu64
            " pages spilled, %zu records\n", seed, budget, rounds, children, aborted, spilled + db->spilled_pages,
            committed.n);
    if (budget) ck_assert_msg(spilled + db->spilled_pages > 1000, "seed %" PRIu64 ": nothing spilled", seed);
    bt_model_free(&committed);
    for (int i = 0; i <= DEPTH; i++) bt_model_free(&stack[i]);
    free(val);
}

START_TEST(random_depth_vs_models) { random_stack(0, bt_seed(0x4e57), 60); }
END_TEST

/* A 1 MiB dirty budget: pages of every level spill to the file, and
 * aborted children must still give their parents' contents back. */
START_TEST(random_depth_spilling) { random_stack(BIRCH_MIN_DIRTY_BUDGET, bt_seed(0x4e58), 40); }
END_TEST

int main(void)
{
    Suite *s = suite_create("nested");
    TCase *tc = bt_tcase("nested");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, commit_folds_abort_discards);
    tcase_add_test(tc, parent_waits_for_child);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, failed_child_leaves_parent_usable);
    tcase_add_test(tc, deeper_than_the_slots);
    tcase_add_test(tc, random_depth_vs_models);
    tcase_add_test(tc, random_depth_spilling);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
