/*
 * test_handles_threads.c - transaction handles under concurrency (issue
 * 11, item 2): threads begin and end read and write transactions while
 * using handles other threads ended (shared through a ring of stale
 * tokens) and cursors of their own ended transactions; every stale use
 * must give BIRCH_ETXN and never disturb the live transaction that took
 * its slot.  Token regions are made small so that new regions are mapped
 * while other threads decode.  Meant for TSan (the "threads" label).
 * Before, ended handles were freed after 256 later transactions: the
 * stale uses here read freed memory.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "support.h"

#define THREADS 4
#define ROUNDS 1500
#define RING 64

typedef struct shared {
    birch_db *db;
    _Atomic(birch_txn *) ring[RING]; /* ended transactions' tokens */
    atomic_uint next;
    atomic_int failures;
    char why[256];
    pthread_mutex_t why_lock;
    uint64_t seed;
} shared;

typedef struct worker {
    shared *sh;
    int id;
} worker;

static void note_failure(shared *sh, const char *what, int rc)
{
    if (atomic_fetch_add(&sh->failures, 1) == 0) {
        pthread_mutex_lock(&sh->why_lock);
        snprintf(sh->why, sizeof sh->why, "%s returned %d (%s)", what, rc, birch_errmsg());
        pthread_mutex_unlock(&sh->why_lock);
    }
}

#define EXPECT(sh, expr, want)                         \
    do {                                               \
        int e_rc_ = (expr);                            \
        if (e_rc_ != (want)) note_failure((sh), #expr, e_rc_); \
    } while (0)

static void *run(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    bt_rng rng = {sh->seed + (uint64_t)w->id};
    birch_cursor *mine[8] = {0}; /* cursors of this thread's ended transactions */
    char key[32];
    snprintf(key, sizeof key, "w%d", w->id);
    for (int i = 0; i < ROUNDS; i++) {
        int write = bt_chance(&rng, 20);
        birch_txn *t = NULL;
        EXPECT(sh, birch_txn_begin(sh->db, write ? BIRCH_TXN_WRITE : BIRCH_TXN_READ, &t), BIRCH_OK);
        if (!t) continue;
        birch_table *tb = NULL;
        EXPECT(sh, birch_table_open(t, "t", 0, &tb), BIRCH_OK);
        birch_val v;
        int rc = birch_get(t, tb, bt_str("k"), &v);
        if (rc != BIRCH_OK) note_failure(sh, "birch_get in a live transaction", rc);
        if (write) EXPECT(sh, birch_put(t, tb, bt_str(key), bt_str("x"), 0), BIRCH_OK);
        unsigned c = (unsigned)bt_below(&rng, 8);
        birch_cursor_close(mine[c]);
        mine[c] = NULL;
        EXPECT(sh, birch_cursor_open(t, tb, &mine[c]), BIRCH_OK);
        /* Stale handles of other threads, while their slots are reused. */
        for (int j = 0; j < 3; j++) {
            birch_txn *stale = atomic_load(&sh->ring[bt_below(&rng, RING)]);
            if (!stale) continue;
            EXPECT(sh, birch_get(stale, tb, bt_str("k"), &v), BIRCH_ETXN);
            EXPECT(sh, birch_txn_commit(stale), BIRCH_ETXN);
            birch_txn_abort(stale);
            if (birch_txn_id(stale) != 0) note_failure(sh, "birch_txn_id of an ended transaction", 0);
        }
        /* The live transaction is untouched by all that. */
        EXPECT(sh, birch_get(t, tb, bt_str("k"), &v), BIRCH_OK);
        EXPECT(sh, bt_chance(&rng, 50) ? birch_txn_commit(t) : (birch_txn_abort(t), BIRCH_OK), BIRCH_OK);
        atomic_store(&sh->ring[atomic_fetch_add(&sh->next, 1) % RING], t);
        /* A cursor of an ended transaction of this thread: BIRCH_ETXN. */
        unsigned d = (unsigned)bt_below(&rng, 8);
        if (mine[d]) EXPECT(sh, birch_cursor_next(mine[d]), BIRCH_ETXN);
    }
    for (int c = 0; c < 8; c++) birch_cursor_close(mine[c]);
    return NULL;
}

START_TEST(stale_handles_while_threads_begin_and_end)
{
    shared *sh = calloc(1, sizeof *sh);
    ck_assert_ptr_nonnull(sh);
    sh->seed = bt_seed(0x7a11ed);
    printf("stale_handles_while_threads_begin_and_end: seed %#llx (BIRCH_SEED)\n", (unsigned long long)sh->seed);
    fflush(stdout);
    pthread_mutex_init(&sh->why_lock, NULL);
    char *path = bt_path("handles-threads");
    birch_options o = bt_opts_fast();
    o.max_readers = 8;
    sh->db = bt_open(path, &o);
    /* Small regions: new ones are mapped while the threads run. */
    sh->db->tok_limit = 4 * sh->db->tok_nslots * THREADS * 8;
    atomic_load(&sh->db->tok)->limit = sh->db->tok_limit;
    birch_txn *w = bt_begin(sh->db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", BIRCH_CREATE), "k", "v");
    BT_OK(birch_txn_commit(w));

    pthread_t th[THREADS];
    worker wk[THREADS];
    for (int i = 0; i < THREADS; i++) {
        wk[i] = (worker){sh, i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, run, &wk[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    ck_assert_msg(atomic_load(&sh->failures) == 0, "%d failures; first: %s", atomic_load(&sh->failures), sh->why);
    ck_assert_uint_ge(sh->db->nregions, 2);
    bt_check(sh->db);
    BT_OK(birch_close(sh->db));
    bt_remove(path);
    free(path);
    pthread_mutex_destroy(&sh->why_lock);
    free(sh);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("handles_threads");
    TCase *tc = bt_tcase("handles_threads");
    tcase_add_test(tc, stale_handles_while_threads_begin_and_end);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return bt_run(suite());
}
