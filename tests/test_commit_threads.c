/*
 * test_commit_threads.c - the writer's own thread (issue 11, item 3); also
 * run under ThreadSanitizer.
 *
 * The writer's thread:
 *   - birch_sync, birch_txn_begin(WRITE) (with and without TRY) in the
 *     thread that holds the write transaction return BIRCH_EBUSY at once,
 *     saying so, instead of waiting for themselves; birch_close there gives
 *     BIRCH_ETXN.  The calls run in a worker thread watched by the main
 *     thread, so that a deadlock fails the test instead of hanging it;
 *   - another thread's birch_txn_begin(WRITE) still waits for the writer;
 *   - a transaction handed to another thread: its first thread gets
 *     BIRCH_EBUSY while it is live (the documented consequence), and may
 *     begin again once it ended.
 *
 * Threads never call Check's assertions: they record the first failure and
 * the main thread asserts after joining them.
 */
#include "support.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* ---- Helpers ----------------------------------------------------------------- */

typedef struct terr {
    pthread_mutex_t mu;
    int bad;
    char msg[1024];
} terr;

static terr errs = {PTHREAD_MUTEX_INITIALIZER, 0, ""};

static void tfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tfail(const char *fmt, ...)
{
    pthread_mutex_lock(&errs.mu);
    if (!errs.bad) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errs.msg, sizeof errs.msg, fmt, ap);
        va_end(ap);
        errs.bad = 1;
    }
    pthread_mutex_unlock(&errs.mu);
}

static void assert_no_thread_failure(void)
{
    pthread_mutex_lock(&errs.mu);
    int b = errs.bad;
    char msg[1024];
    memcpy(msg, errs.msg, sizeof msg);
    pthread_mutex_unlock(&errs.mu);
    ck_assert_msg(!b, "a thread failed: %s", msg);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* A worker whose end the main thread awaits with a deadline. */
typedef struct watched {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} watched;

static void watched_init(watched *w)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->done = 0;
}

static void watched_done(watched *w)
{
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* 1 if the worker finished within secs seconds. */
static int watched_wait(watched *w, int secs)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += secs;
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    while (!w->done && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&w->cv, &w->mu, &until);
    int done = w->done;
    pthread_mutex_unlock(&w->mu);
    return done;
}

#define WATCHDOG_SECS 30

/* ---- The writer's own thread ------------------------------------------------ */

typedef struct own {
    watched w;
    birch_db *db;
    int rc_sync, rc_begin, rc_try, rc_close, rc_after;
    char msg_sync[512], msg_begin[512], msg_try[512], msg_close[512];
} own;

static void keep_msg(char *dst, size_t n)
{
    snprintf(dst, n, "%s", birch_errmsg());
}

static void *own_thread(void *arg)
{
    own *o = arg;
    birch_txn *w = NULL, *w2 = NULL;
    int rc = birch_txn_begin(o->db, BIRCH_TXN_WRITE, &w);
    if (rc) {
        tfail("begin: %d", rc);
        watched_done(&o->w);
        return NULL;
    }
    birch_table *t = NULL;
    if (birch_table_open(w, "t", BIRCH_CREATE, &t) || birch_put(w, t, bt_str("k"), bt_str("v"), 0))
        tfail("put in the write transaction");
    o->rc_sync = birch_sync(o->db);
    keep_msg(o->msg_sync, sizeof o->msg_sync);
    o->rc_begin = birch_txn_begin(o->db, BIRCH_TXN_WRITE, &w2);
    keep_msg(o->msg_begin, sizeof o->msg_begin);
    if (o->rc_begin == BIRCH_OK) birch_txn_abort(w2);
    o->rc_try = birch_txn_begin(o->db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY, &w2);
    keep_msg(o->msg_try, sizeof o->msg_try);
    if (o->rc_try == BIRCH_OK) birch_txn_abort(w2);
    o->rc_close = birch_close(o->db);
    keep_msg(o->msg_close, sizeof o->msg_close);
    if (o->rc_close == BIRCH_OK) {
        tfail("birch_close closed the database under a live write transaction");
        watched_done(&o->w);
        return NULL;
    }
    if ((rc = birch_txn_commit(w))) tfail("commit: %d", rc);
    /* Once it ended, the same thread writes and syncs as usual. */
    o->rc_after = birch_txn_begin(o->db, BIRCH_TXN_WRITE, &w);
    if (o->rc_after == BIRCH_OK) {
        if (birch_table_open(w, "t", 0, &t) || birch_put(w, t, bt_str("k2"), bt_str("v2"), 0))
            tfail("put after the first transaction ended");
        if ((rc = birch_txn_commit(w))) tfail("second commit: %d", rc);
        if ((rc = birch_sync(o->db))) tfail("birch_sync after the commit: %d", rc);
    }
    watched_done(&o->w);
    return NULL;
}

static void own_thread_run(int durability)
{
    char *path = bt_path("own");
    birch_options opts = bt_opts();
    opts.durability = durability;
    own o;
    memset(&o, 0, sizeof o);
    watched_init(&o.w);
    o.db = bt_open(path, &opts);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, own_thread, &o), 0);
    if (!watched_wait(&o.w, WATCHDOG_SECS))
        ck_abort_msg("the writer's own thread did not come back within %d s: birch_sync or "
                     "birch_txn_begin(WRITE) waits for the transaction it holds", WATCHDOG_SECS);
    pthread_join(th, NULL);
    assert_no_thread_failure();
    const char *holds = "this thread holds the write transaction";
    ck_assert_msg(o.rc_sync == BIRCH_EBUSY && strstr(o.msg_sync, holds) && strstr(o.msg_sync, "birch_sync"),
                  "birch_sync in the writer's thread: %d (%s)", o.rc_sync, o.msg_sync);
    ck_assert_msg(o.rc_begin == BIRCH_EBUSY && strstr(o.msg_begin, holds),
                  "birch_txn_begin(WRITE) in the writer's thread: %d (%s)", o.rc_begin, o.msg_begin);
    ck_assert_msg(o.rc_try == BIRCH_EBUSY && strstr(o.msg_try, holds),
                  "birch_txn_begin(WRITE | TRY) in the writer's thread: %d (%s)", o.rc_try, o.msg_try);
    ck_assert_msg(o.rc_close == BIRCH_ETXN, "birch_close in the writer's thread: %d (%s)", o.rc_close,
                  o.msg_close);
    ck_assert_int_eq(o.rc_after, BIRCH_OK);
    birch_txn *r = bt_begin(o.db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "t", 0);
    bt_expect_s(r, t, "k", "v");
    bt_expect_s(r, t, "k2", "v2");
    birch_txn_abort(r);
    o.db = bt_reopen(o.db, path, &opts);
    BT_OK(birch_close(o.db));
    bt_remove(path);
    free(path);
}

START_TEST(writer_thread_gets_ebusy_full) { own_thread_run(BIRCH_DURABLE_FULL); }
END_TEST
START_TEST(writer_thread_gets_ebusy_none) { own_thread_run(BIRCH_DURABLE_NONE); }
END_TEST

/* Another thread's write transaction waits for the writer, as before. */
typedef struct second {
    watched w;
    birch_db *db;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started;
    int rc;
    uint64_t id;
    int saw;
} second;

static void *second_writer(void *arg)
{
    second *s = arg;
    pthread_mutex_lock(&s->mu);
    s->started = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    birch_txn *w = NULL;
    s->rc = birch_txn_begin(s->db, BIRCH_TXN_WRITE, &w);
    if (s->rc == BIRCH_OK) {
        s->id = birch_txn_id(w);
        birch_table *t = NULL;
        birch_val v;
        s->saw = birch_table_open(w, "t", 0, &t) == BIRCH_OK && birch_get(w, t, bt_str("first"), &v) == BIRCH_OK;
        birch_txn_abort(w);
    }
    watched_done(&s->w);
    return NULL;
}

START_TEST(other_threads_still_wait)
{
    char *path = bt_path("wait");
    birch_options opts = bt_opts_fast();
    second s;
    memset(&s, 0, sizeof s);
    watched_init(&s.w);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    s.db = bt_open(path, &opts);
    birch_txn *w = bt_begin(s.db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", BIRCH_CREATE), "first", "1");
    uint64_t id = birch_txn_id(w);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, second_writer, &s), 0);
    pthread_mutex_lock(&s.mu);
    while (!s.started) pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    sleep_ms(50); /* likely inside birch_txn_begin by now (not asserted) */
    BT_OK(birch_txn_commit(w));
    ck_assert_msg(watched_wait(&s.w, WATCHDOG_SECS), "the second writer never began");
    pthread_join(th, NULL);
    ck_assert_msg(s.rc == BIRCH_OK, "the second writer got %d instead of waiting", s.rc);
    ck_assert_msg(s.id == id + 1 && s.saw, "the second writer began before the first committed");
    BT_OK(birch_close(s.db));
    bt_remove(path);
    free(path);
}
END_TEST

/* A write transaction begun by one thread and handed to another, which
 * commits it: while it is live, the first thread is still its writer
 * thread (BIRCH_EBUSY, as birch.h says, where it used to wait), and once it
 * ended the first thread may begin again.  The first thread is a worker
 * under the watchdog. */
typedef struct handed {
    watched w;
    birch_db *db;
    birch_txn *txn;
    pthread_barrier_t b;
    int rc_busy, rc_commit, rc_again;
    char msg_busy[512];
} handed;

static void *commit_it(void *arg)
{
    handed *h = arg;
    pthread_barrier_wait(&h->b); /* the transaction is ours now */
    pthread_barrier_wait(&h->b); /* the first thread has tried to begin */
    h->rc_commit = birch_txn_commit(h->txn);
    return NULL;
}

static void *begin_and_hand_over(void *arg)
{
    handed *h = arg;
    birch_table *t = NULL;
    if (birch_txn_begin(h->db, BIRCH_TXN_WRITE, &h->txn) || birch_table_open(h->txn, "t", BIRCH_CREATE, &t) ||
        birch_put(h->txn, t, bt_str("a"), bt_str("1"), 0)) {
        tfail("the first write transaction: %s", birch_errmsg());
        watched_done(&h->w);
        return NULL;
    }
    pthread_t th;
    if (pthread_create(&th, NULL, commit_it, h)) {
        tfail("pthread_create");
        watched_done(&h->w);
        return NULL;
    }
    pthread_barrier_wait(&h->b);
    birch_txn *w2 = NULL;
    h->rc_busy = birch_txn_begin(h->db, BIRCH_TXN_WRITE, &w2);
    snprintf(h->msg_busy, sizeof h->msg_busy, "%s", birch_errmsg());
    if (h->rc_busy == BIRCH_OK) birch_txn_abort(w2);
    pthread_barrier_wait(&h->b);
    pthread_join(th, NULL);
    h->rc_again = birch_txn_begin(h->db, BIRCH_TXN_WRITE, &w2); /* it ended: this thread writes again */
    if (h->rc_again == BIRCH_OK) birch_txn_abort(w2);
    watched_done(&h->w);
    return NULL;
}

START_TEST(handed_over_transaction)
{
    char *path = bt_path("handed");
    birch_options opts = bt_opts_fast();
    handed h;
    memset(&h, 0, sizeof h);
    watched_init(&h.w);
    pthread_barrier_init(&h.b, NULL, 2);
    h.db = bt_open(path, &opts);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, begin_and_hand_over, &h), 0);
    if (!watched_wait(&h.w, WATCHDOG_SECS))
        ck_abort_msg("the thread that began the handed-over transaction did not come back within %d s: "
                     "its birch_txn_begin(WRITE) waits for a transaction that cannot end before it returns",
                     WATCHDOG_SECS);
    pthread_join(th, NULL);
    pthread_barrier_destroy(&h.b);
    assert_no_thread_failure();
    ck_assert_msg(h.rc_busy == BIRCH_EBUSY && strstr(h.msg_busy, "this thread holds the write transaction"),
                  "birch_txn_begin(WRITE) in the thread that began the handed-over transaction: %d (%s)",
                  h.rc_busy, h.msg_busy);
    BT_OK(h.rc_commit);
    BT_OK(h.rc_again);
    birch_txn *r = bt_begin(h.db, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "t", 0), "a", "1");
    birch_txn_abort(r);
    BT_OK(birch_close(h.db));
    bt_remove(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("commit_threads");
    TCase *tc = bt_tcase("commit_threads");
    tcase_add_test(tc, writer_thread_gets_ebusy_full);
    tcase_add_test(tc, writer_thread_gets_ebusy_none);
    tcase_add_test(tc, other_threads_still_wait);
    tcase_add_test(tc, handed_over_transaction);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
