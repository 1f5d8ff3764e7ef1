/*
 * test_feed_threads.c - the change feed under threads: four writers commit
 * on one handle while a fifth sets, changes and removes the hook; every
 * call comes in commit order (ids rising), and each transaction is
 * recorded whole or not at all (a batch holds its one put, or the call
 * has none in ids-only mode), so setting the hook waits for the
 * transaction in progress.  Run under ThreadSanitizer too.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"
#include "support.h"

enum { WRITERS = 4, COMMITS = 150 };

typedef struct shared {
    birch_db *db;
    birch_table *t;
    _Atomic int done;
    _Atomic int commits;
    /* Written by the hook only, which runs under the writer gate. */
    uint64_t last_id;
    int calls, whole, empty, bad;
} shared;

static int count_op(const birch_batch_op *op, void *ctx)
{
    (void)op;
    (*(int *)ctx)++;
    return 0;
}

static void hook(uint64_t txnid, birch_val changes, void *ctx)
{
    shared *s = ctx;
    if (txnid <= s->last_id) s->bad++;
    s->last_id = txnid;
    s->calls++;
    if (!changes.size) {
        s->empty++;
        return;
    }
    int n = 0;
    if (birch_batch_each(changes, count_op, &n) != BIRCH_OK || n != 2) s->bad++; /* the put and a sequence */
    else s->whole++;
}

static void *writer(void *arg)
{
    shared *s = arg;
    for (int i = 0; i < COMMITS; i++) {
        birch_txn *txn;
        uint64_t seq;
        BT_OK(birch_txn_begin(s->db, BIRCH_TXN_WRITE, &txn));
        BT_OK(birch_sequence_next(txn, s->t, &seq));
        BT_OK(birch_put(txn, s->t, bt_val(&seq, sizeof seq), bt_str("v"), 0));
        BT_OK(birch_txn_commit(txn));
        atomic_fetch_add(&s->commits, 1);
    }
    return NULL;
}

static void *setter(void *arg)
{
    shared *s = arg;
    unsigned i = 1;
    int seen = 0;
    while (!atomic_load(&s->done)) {
        int c = atomic_load(&s->commits);
        if (c == seen) { /* a change after each commit at most: they interleave */
            sched_yield();
            continue;
        }
        seen = c;
        switch (i++ % 3) {
        case 0: BT_OK(birch_on_commit(s->db, hook, s)); break;
        case 1: BT_OK(birch_on_commit_flags(s->db, BIRCH_ON_COMMIT_IDS, hook, s)); break;
        default: BT_OK(birch_on_commit(s->db, NULL, NULL)); break;
        }
    }
    return NULL;
}

START_TEST(hook_changes_between_transactions)
{
    char *path = bt_path("feed-threads");
    birch_options o = bt_opts_fast();
    shared s = {0};
    s.db = bt_open(path, &o);
    birch_txn *txn;
    BT_OK(birch_txn_begin(s.db, BIRCH_TXN_WRITE, &txn));
    BT_OK(birch_table_open(txn, "t", BIRCH_CREATE, &s.t));
    BT_OK(birch_txn_commit(txn));
    BT_OK(birch_on_commit(s.db, hook, &s)); /* the first commit calls it */
    pthread_t w[WRITERS], st;
    ck_assert_int_eq(pthread_create(&st, NULL, setter, &s), 0);
    for (int i = 0; i < WRITERS; i++) ck_assert_int_eq(pthread_create(&w[i], NULL, writer, &s), 0);
    for (int i = 0; i < WRITERS; i++) pthread_join(w[i], NULL);
    atomic_store(&s.done, 1);
    pthread_join(st, NULL);
    ck_assert_msg(s.bad == 0, "%d calls out of order or with a partial batch", s.bad);
    ck_assert_int_eq(s.calls, s.whole + s.empty);
    ck_assert_int_gt(s.calls, 0);
    ck_assert_int_le(s.calls, WRITERS * COMMITS);
    fprintf(stderr, "hook_changes_between_transactions: %d calls (%d batches, %d ids only) of %d commits\n", s.calls,
            s.whole, s.empty, WRITERS * COMMITS);
    BT_OK(birch_close(s.db));
    bt_remove(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("feed_threads");
    TCase *tc = bt_tcase("feed_threads");
    tcase_add_test(tc, hook_changes_between_transactions);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
