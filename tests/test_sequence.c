/*
 * test_sequence.c - birch_sequence_next / birch_sequence_get: numbers from
 * 1 up, per table, given back by an abort, kept by a commit and across a
 * reopen, reset by a drop; a transaction that only takes a number commits
 * it; bad input; BIRCH_EFULL after UINT64_MAX, which changes nothing;
 * birch_sequence_set (transactional, undone by an abort and by a nested
 * child's abort; set to UINT64_MAX, the next is BIRCH_EFULL).
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
    path = bt_path("sequence");
    opts = bt_opts();
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

static uint64_t next(birch_txn *txn, birch_table *t)
{
    uint64_t v = 0;
    BT_OK(birch_sequence_next(txn, t, &v));
    return v;
}

static uint64_t current(birch_txn *txn, birch_table *t)
{
    uint64_t v = UINT64_MAX;
    BT_OK(birch_sequence_get(txn, t, &v));
    return v;
}

START_TEST(numbers_are_transactional)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *a = bt_table(w, "a", BIRCH_CREATE), *b = bt_table(w, "b", BIRCH_CREATE);
    ck_assert_uint_eq(current(w, a), 0);
    ck_assert_uint_eq(next(w, a), 1);
    ck_assert_uint_eq(next(w, a), 2);
    ck_assert_uint_eq(next(w, b), 1); /* per table */
    BT_OK(birch_txn_commit(w));
    w = bt_begin(db, BIRCH_TXN_WRITE);
    ck_assert_uint_eq(next(w, a), 3);
    ck_assert_uint_eq(next(w, a), 4);
    birch_txn_abort(w); /* gives 3 and 4 back */
    /* A transaction that only takes a number is a change: it commits. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    uint64_t id = birch_txn_id(w);
    ck_assert_uint_eq(next(w, a), 3);
    BT_OK(birch_txn_commit(w));
    ck_assert_uint_eq(bt_stat(db).txnid, id);
    db = bt_reopen(db, path, &opts);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    a = bt_table(r, "a", 0);
    b = bt_table(r, "b", 0);
    ck_assert_uint_eq(current(r, a), 3);
    ck_assert_uint_eq(current(r, b), 1);
    uint64_t v;
    BT_RC(birch_sequence_next(r, a, &v), BIRCH_EREADONLY);
    birch_txn_abort(r);
    /* Records and schema keep the sequence; a drop resets it. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, a, "k", "v");
    BT_OK(birch_table_set_schema(w, a, bt_str("schema")));
    ck_assert_uint_eq(next(w, a), 4);
    BT_OK(birch_txn_commit(w));
    w = bt_begin(db, BIRCH_TXN_WRITE);
    ck_assert_uint_eq(current(w, a), 4);
    BT_OK(birch_table_drop(w, "a"));
    BT_RC(birch_sequence_next(w, a, &v), BIRCH_NOTFOUND);
    a = bt_table(w, "a", BIRCH_CREATE);
    ck_assert_uint_eq(next(w, a), 1);
    BT_OK(birch_txn_commit(w));
}
END_TEST

START_TEST(bad_input)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *a = bt_table(w, "a", BIRCH_CREATE);
    uint64_t v;
    BT_RC(birch_sequence_next(NULL, a, &v), BIRCH_EINVAL);
    BT_RC(birch_sequence_next(w, NULL, &v), BIRCH_EINVAL);
    BT_RC(birch_sequence_next(w, a, NULL), BIRCH_EINVAL);
    BT_RC(birch_sequence_get(w, a, NULL), BIRCH_EINVAL);
    ck_assert_uint_eq(next(w, a), 1); /* nothing taken by the refusals */
    BT_OK(birch_txn_commit(w));
    BT_RC(birch_sequence_next(w, a, &v), BIRCH_ETXN); /* ended */
}
END_TEST

/* The last number: a sequence one short of UINT64_MAX gives UINT64_MAX,
 * then refuses with BIRCH_EFULL and a message naming the table.  The
 * refusal changes nothing: the sequence stays at UINT64_MAX, the
 * transaction stays live (its writes and its commit go on), and the value
 * is kept by the commit.  No call sets a sequence, and birch dump / load
 * do not carry one, so the table's catalog record is set in the file with
 * its checksums made right (bt_image_reseal), as a file whose sequence
 * got there by counting would be. */
START_TEST(efull_at_the_last_number)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "ids", BIRCH_CREATE);
    ck_assert_uint_eq(next(w, t), 1);
    bt_put_s(w, bt_table(w, "other", BIRCH_CREATE), "k", "v");
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db));
    db = NULL;
    bt_image im;
    bt_image_load(&im, path);
    uint64_t leaf;
    bi_table_rec *rec = bt_image_table(&im, "ids", &leaf);
    ck_assert_uint_eq(rec->sequence, 1);
    rec->sequence = UINT64_MAX - 1;
    bt_image_reseal(&im, leaf);
    bt_image_save(&im, path);
    bt_image_free(&im);
    db = bt_open(path, &opts);
    bt_check(db);

    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "ids", 0);
    birch_table *other = bt_table(w, "other", 0);
    ck_assert_uint_eq(current(w, t), UINT64_MAX - 1);
    ck_assert_uint_eq(next(w, t), UINT64_MAX);
    uint64_t v = 7;
    BT_RC(birch_sequence_next(w, t, &v), BIRCH_EFULL);
    BT_ERRMSG_HAS("'ids'");
    BT_ERRMSG_HAS("every 64-bit number");
    ck_assert_uint_eq(v, 7); /* nothing given */
    BT_RC(birch_sequence_next(w, t, &v), BIRCH_EFULL); /* and again */
    ck_assert_uint_eq(current(w, t), UINT64_MAX);
    /* The transaction goes on: records, another table's sequence, commit. */
    bt_put_s(w, t, "last", "id");
    bt_expect_s(w, other, "k", "v");
    ck_assert_uint_eq(next(w, other), 1);
    BT_OK(birch_txn_commit(w));

    db = bt_reopen(db, path, &opts);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "ids", 0);
    ck_assert_uint_eq(current(w, t), UINT64_MAX);
    bt_expect_s(w, t, "last", "id");
    BT_RC(birch_sequence_next(w, t, &v), BIRCH_EFULL);
    birch_txn_abort(w);
}
END_TEST

START_TEST(set_is_transactional)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *a = bt_table(w, "a", BIRCH_CREATE);
    BT_OK(birch_sequence_set(w, a, 1000));
    ck_assert_uint_eq(current(w, a), 1000);
    ck_assert_uint_eq(next(w, a), 1001);
    BT_OK(birch_txn_commit(w));
    /* An abort undoes a set; so does a nested child's abort, not its
     * parent's earlier set. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    a = bt_table(w, "a", 0);
    BT_OK(birch_sequence_set(w, a, 5));
    birch_txn_abort(w);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    a = bt_table(w, "a", 0);
    ck_assert_uint_eq(current(w, a), 1001);
    BT_OK(birch_sequence_set(w, a, 7));
    birch_txn *c;
    BT_OK(birch_txn_begin_nested(w, &c));
    BT_OK(birch_sequence_set(c, a, 70));
    ck_assert_uint_eq(current(c, a), 70);
    birch_txn_abort(c);
    ck_assert_uint_eq(current(w, a), 7);
    BT_OK(birch_txn_commit(w));
    /* At UINT64_MAX the next is EFULL and changes nothing. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    a = bt_table(w, "a", 0);
    ck_assert_uint_eq(current(w, a), 7);
    BT_OK(birch_sequence_set(w, a, UINT64_MAX));
    uint64_t v = 42;
    BT_RC(birch_sequence_next(w, a, &v), BIRCH_EFULL);
    ck_assert_uint_eq(v, 42);
    BT_OK(birch_sequence_set(w, a, 0)); /* lowering is allowed: the caller's choice */
    ck_assert_uint_eq(next(w, a), 1);
    BT_OK(birch_txn_commit(w));
    /* Bad input. */
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    a = bt_table(r, "a", 0);
    BT_RC(birch_sequence_set(r, a, 9), BIRCH_EREADONLY);
    ck_assert_uint_eq(current(r, a), 1);
    BT_RC(birch_sequence_set(NULL, a, 9), BIRCH_EINVAL);
    BT_RC(birch_sequence_set(r, NULL, 9), BIRCH_EINVAL);
    birch_txn_abort(r);
    BT_RC(birch_sequence_set(r, a, 9), BIRCH_ETXN); /* a finished transaction */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sequence");
    TCase *tc = bt_tcase("sequence");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, numbers_are_transactional);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, efull_at_the_last_number);
    tcase_add_test(tc, set_is_transactional);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
