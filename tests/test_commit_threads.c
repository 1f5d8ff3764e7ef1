/*
 * test_commit_threads.c - the writer's own thread and the background flush
 * of BIRCH_DURABLE_NONE commits (issue 11, items 3 and 10); also run under
 * ThreadSanitizer.
 *
 * The writer's thread:
 *   - birch_sync, birch_txn_begin(WRITE) (with and without TRY) in the
 *     thread that holds the write transaction return BIRCH_EBUSY at once,
 *     saying so, instead of waiting for themselves; birch_close there gives
 *     BIRCH_ETXN.  The calls run in a worker thread watched by the main
 *     thread, so that a deadlock fails the test instead of hanging it;
 *   - another thread's birch_txn_begin(WRITE) still waits for the writer;
 *   - a transaction handed to another thread: until that thread calls into
 *     it, its first thread still holds it (BIRCH_EBUSY), and may begin
 *     again once it ended; from its first call on, the new thread holds it
 *     (BIRCH_EBUSY for its begin and sync) and the first thread waits.
 * The flusher:
 *   - on the power-loss layer (faultio.c), a BIRCH_DURABLE_NONE commit
 *     followed by nothing is durable after a while: the image of a power
 *     loss taken 2.5 s later holds it.  The image is taken while the test
 *     holds the writer gate (a write transaction), so the flusher is not in
 *     the middle of a flush, and after the layer saw the flush (or 30 s:
 *     the bound itself is not asserted, only that the flush comes).  The
 *     control: an image taken right after the commit was preceded by no
 *     sync, so the test can fail;
 *   - a sync failing in the flusher fails the database: the next write
 *     transaction gets BIRCH_EIO saying that the background flush failed;
 *   - writer threads committing in bursts with idle gaps (the flusher
 *     flushes in the gaps), readers beside them, then close: every record
 *     is there, the file checks, and after an idle second the newest meta
 *     on disk is durable.  A single writer using BIRCH_TXN_TRY never gets
 *     BIRCH_EBUSY from the flusher (it waits for a flush instead).
 *
 * Threads never call Check's assertions: they record the first failure and
 * the main thread asserts after joining them.
 */
#include "faultio.c"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

/* engine/internal.h: bi_open_io with the flusher, which test layers do not
 * get otherwise. */
int bi_open_io_ex(const char *path, const birch_options *opts, const bi_io *io, int flusher, birch_db **db);

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
 * commits it without another call first: until then the first thread is
 * still its holder (BIRCH_EBUSY, as birch.h says, where it used to wait),
 * and once it ended the first thread may begin again.  The first thread is a worker
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

/* The thread a write transaction was handed to holds it from its first
 * call on: its birch_txn_begin(WRITE) and birch_sync get BIRCH_EBUSY
 * saying so, instead of waiting for itself, while the thread that began
 * it is no longer taken for its holder (TRY tells it another transaction
 * is active, and without TRY it waits, then begins once the transaction
 * ended).  The new thread is a worker under the watchdog, since the gate
 * once knew only the thread that began the transaction. */
typedef struct taken {
    watched w;        /* the worker's calls are done */
    birch_db *db;
    birch_txn *txn;
    birch_table *t;
    pthread_barrier_t b;
    int rc_put, rc_begin, rc_sync, rc_commit;
    char msg_begin[512], msg_sync[512];
} taken;

static void *use_then_begin(void *arg)
{
    taken *k = arg;
    pthread_barrier_wait(&k->b); /* handed over */
    k->rc_put = birch_put(k->txn, k->t, bt_str("b"), bt_str("2"), 0);
    birch_txn *w2 = NULL;
    k->rc_begin = birch_txn_begin(k->db, BIRCH_TXN_WRITE, &w2);
    snprintf(k->msg_begin, sizeof k->msg_begin, "%s", birch_errmsg());
    if (k->rc_begin == BIRCH_OK) birch_txn_abort(w2);
    k->rc_sync = birch_sync(k->db);
    snprintf(k->msg_sync, sizeof k->msg_sync, "%s", birch_errmsg());
    watched_done(&k->w);
    pthread_barrier_wait(&k->b); /* the first thread has tried to begin */
    sleep_ms(50);                /* let its waiting begin wait (either order passes) */
    k->rc_commit = birch_txn_commit(k->txn);
    return NULL;
}

START_TEST(handed_over_transaction_new_thread_holds_it)
{
    char *path = bt_path("taken");
    birch_options opts = bt_opts_fast();
    taken k;
    memset(&k, 0, sizeof k);
    watched_init(&k.w);
    pthread_barrier_init(&k.b, NULL, 2);
    k.db = bt_open(path, &opts);
    k.txn = bt_begin(k.db, BIRCH_TXN_WRITE);
    BT_OK(birch_table_open(k.txn, "t", BIRCH_CREATE, &k.t));
    BT_OK(birch_put(k.txn, k.t, bt_str("a"), bt_str("1"), 0));
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, use_then_begin, &k), 0);
    pthread_barrier_wait(&k.b);
    if (!watched_wait(&k.w, WATCHDOG_SECS))
        ck_abort_msg("the thread the write transaction was handed to did not come back within %d s: its "
                     "birch_txn_begin(WRITE) or birch_sync waits for the transaction it holds", WATCHDOG_SECS);
    BT_OK(k.rc_put);
    ck_assert_msg(k.rc_begin == BIRCH_EBUSY && strstr(k.msg_begin, "this thread holds the write transaction"),
                  "birch_txn_begin(WRITE) in the thread holding a handed-over transaction: %d (%s)", k.rc_begin,
                  k.msg_begin);
    ck_assert_msg(k.rc_sync == BIRCH_EBUSY && strstr(k.msg_sync, "this thread holds the write transaction"),
                  "birch_sync in the thread holding a handed-over transaction: %d (%s)", k.rc_sync, k.msg_sync);
    birch_txn *w = NULL;
    int rc = birch_txn_begin(k.db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY, &w);
    ck_assert_msg(rc == BIRCH_EBUSY && strstr(birch_errmsg(), "another write transaction is active"),
                  "TRY in the thread that handed its transaction over: %d (%s)", rc, birch_errmsg());
    pthread_barrier_wait(&k.b);
    BT_OK(birch_txn_begin(k.db, BIRCH_TXN_WRITE, &w)); /* waits for the commit, not for itself */
    birch_txn_abort(w);
    pthread_join(th, NULL);
    pthread_barrier_destroy(&k.b);
    BT_OK(k.rc_commit);
    birch_txn *r = bt_begin(k.db, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "t", 0), "a", "1");
    bt_expect_s(r, bt_table(r, "t", 0), "b", "2");
    birch_txn_abort(r);
    BT_OK(birch_close(k.db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- The flusher on the power-loss layer ------------------------------------- */

static birch_options flush_opts(void)
{
    birch_options o;
    birch_options_init(&o);
    o.page_size = 512;
    o.durability = BIRCH_DURABLE_NONE;
    o.map_reserve = 1u << 20;
    return o;
}

/* Opens path on f (tracking what is durable) with the flusher. */
static birch_db *flush_open(fio *f, const char *path)
{
    fio_init(f, 1);
    f->track = 1;
    f->meta_end = 2u * 512;
    birch_options o = flush_opts();
    birch_db *db = NULL;
    BT_OK(bi_open_io_ex(path, &o, &f->io, 1, &db));
    return db;
}

static void put_one(birch_db *db, const char *k, const char *v)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", BIRCH_CREATE), k, v);
    BT_OK(birch_txn_commit(w));
}

/* Reboots into img and reports whether key k is there (the image must
 * open and check whole either way). */
static int image_holds(const char *img, const char *k)
{
    fio g;
    fio_init(&g, 2);
    birch_options o = flush_opts();
    birch_db *db = NULL;
    BT_OK(bi_open_io(img, &o, &g.io, &db));
    bt_check(db);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = NULL;
    birch_val v;
    int has = birch_table_open(r, "t", 0, &t) == BIRCH_OK && birch_get(r, t, bt_str(k), &v) == BIRCH_OK;
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    fio_free(&g);
    return has;
}

/* A thread created after the writer's thread exited may get the same
 * pthread_t (glibc reuses them with their stacks).  It holds nothing, so
 * it must be told that another transaction is active, not that it holds
 * one (the gate once compared pthread_self()). */
typedef struct reused {
    birch_db *db;
    birch_txn *txn;
    int rc;
    char msg[512];
} reused;

static void *begin_and_exit(void *arg)
{
    reused *r = arg;
    r->rc = birch_txn_begin(r->db, BIRCH_TXN_WRITE, &r->txn);
    return NULL;
}

static void *try_begin(void *arg)
{
    reused *r = arg;
    birch_txn *w = NULL;
    r->rc = birch_txn_begin(r->db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY, &w);
    snprintf(r->msg, sizeof r->msg, "%s", birch_errmsg());
    if (r->rc == BIRCH_OK) birch_txn_abort(w);
    return NULL;
}

START_TEST(new_thread_is_not_the_gone_writer)
{
    char *path = bt_path("reused");
    birch_options opts = bt_opts_fast();
    reused r;
    memset(&r, 0, sizeof r);
    r.db = bt_open(path, &opts);
    for (int round = 0; round < 8; round++) {
        pthread_t a, c;
        ck_assert_int_eq(pthread_create(&a, NULL, begin_and_exit, &r), 0);
        ck_assert_int_eq(pthread_join(a, NULL), 0);
        BT_OK(r.rc); /* the write transaction is main's now; its thread is gone */
        ck_assert_int_eq(pthread_create(&c, NULL, try_begin, &r), 0);
        ck_assert_int_eq(pthread_join(c, NULL), 0);
        ck_assert_msg(r.rc == BIRCH_EBUSY && strstr(r.msg, "another write transaction"),
                      "round %d: a new thread got %d (%s), not the TRY refusal", round, r.rc, r.msg);
        BT_OK(birch_txn_commit(r.txn));
    }
    BT_OK(birch_close(r.db));
    free(path);
}
END_TEST

START_TEST(flusher_makes_an_idle_commit_durable)
{
    char *path = bt_path("flush"), *img = bt_path("flush-img");
    fio f;
    birch_db *db = flush_open(&f, path);
    put_one(db, "setup", "0");
    BT_OK(birch_sync(db));
    f.tag = 1; /* the commit below; a durable meta synced with it sets durable_tag */
    put_one(db, "k", "v");
    sleep_ms(2500);
    /* Wait, holding the writer gate whenever the layer is read, for the
     * flush the idle database is owed. */
    int flushed = 0;
    for (int waited = 2500; !flushed; waited += 100) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        flushed = f.durable_tag == 1;
        if (flushed) ck_assert_int_eq(fio_powerloss(&f, img, 0xF1u), 0);
        birch_txn_abort(w);
        ck_assert_msg(flushed || waited < 30000, "no flush within 30 s of an idle BIRCH_DURABLE_NONE commit");
        if (!flushed) sleep_ms(100);
    }
    birch_close(db); /* the layer is dead: the result does not matter */
    ck_assert_msg(image_holds(img, "k"), "the image of a power loss after the flush lacks the commit");
    fio_free(&f);
    bt_remove(path);
    bt_remove(img);
    free(path);
    free(img);
}
END_TEST

/* The control: right after the commit, before any flush, nothing synced
 * it (so the test above can fail); the image may or may not hold it. */
START_TEST(without_a_flush_nothing_syncs_the_commit)
{
    char *path = bt_path("noflush"), *img = bt_path("noflush-img");
    int attempts = 0, clean = 0, held = 0;
    while (!clean && attempts < 3) {
        attempts++;
        fio f;
        birch_db *db = flush_open(&f, path);
        put_one(db, "k", "v");
        long syncs = f.calls[FIO_SYNC];
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        /* A flush between the commit and here can only come after a stall
         * of over a second since the open: try again then. */
        clean = f.calls[FIO_SYNC] == syncs;
        if (clean) ck_assert_int_eq(fio_powerloss(&f, img, 0xF2u), 0);
        birch_txn_abort(w);
        birch_close(db);
        fio_free(&f);
        if (clean) held = image_holds(img, "k");
        bt_remove(path);
        bt_remove(img);
    }
    ck_assert_msg(clean, "the layer saw a sync between the commit and the image in %d attempts", attempts);
    printf("without a flush, the power-loss image %s the commit\n", held ? "holds" : "lacks");
    free(path);
    free(img);
}
END_TEST

/* A sync failing in the flusher fails the database like a commit's. */
START_TEST(flusher_failure_fails_the_database)
{
    char *path = bt_path("flushfail");
    fio f;
    birch_db *db = flush_open(&f, path);
    put_one(db, "setup", "0");
    BT_OK(birch_sync(db));
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    f.fail_at[FIO_SYNC] = f.calls[FIO_SYNC] + 1; /* the next sync: the flusher's */
    bt_put_s(w, bt_table(w, "t", 0), "k", "v");
    BT_OK(birch_txn_commit(w)); /* weak: no sync */
    int rc = BIRCH_OK;
    for (int waited = 0; rc == BIRCH_OK; waited += 100) {
        ck_assert_msg(waited < 30000, "the flusher never tried within 30 s");
        sleep_ms(100);
        w = NULL;
        rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &w);
        if (rc == BIRCH_OK) birch_txn_abort(w);
    }
    ck_assert_msg(rc == BIRCH_EIO, "a write transaction after the flusher's failed sync: %d (%s)", rc,
                  birch_errmsg());
    BT_ERRMSG_HAS("background flush");
    BT_ERRMSG_HAS("reopen");
    ck_assert_int_eq(f.injected, 1);
    birch_close(db);
    fio_free(&f);
    /* The file holds the state before the weak commit or after it, whole. */
    birch_db *again = bt_open(path, NULL);
    bt_check(again);
    BT_OK(birch_close(again));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- Writers beside the flusher (TSan) ------------------------------------- */

enum { NWRITERS = 3, BURSTS = 3, PER_BURST = 20 };

typedef struct burst {
    birch_db *db;
    int id;
    pthread_barrier_t *b;
} burst;

static void *burst_writer(void *arg)
{
    burst *w = arg;
    for (int round = 0; round < BURSTS; round++) {
        pthread_barrier_wait(w->b); /* the main thread lets the database idle between rounds */
        for (int i = 0; i < PER_BURST; i++) {
            char k[32], v[32];
            snprintf(k, sizeof k, "w%d-%d-%d", w->id, round, i);
            snprintf(v, sizeof v, "v%d", i);
            birch_txn *t = NULL;
            birch_table *tab = NULL;
            int rc = birch_txn_begin(w->db, BIRCH_TXN_WRITE, &t);
            if (rc == BIRCH_OK && (rc = birch_table_open(t, "t", BIRCH_CREATE, &tab)) == BIRCH_OK)
                rc = birch_put(t, tab, bt_str(k), bt_str(v), 0);
            if (rc == BIRCH_OK) rc = birch_txn_commit(t);
            else if (t) birch_txn_abort(t);
            if (rc) tfail("writer %d: %s: %d (%s)", w->id, k, rc, birch_errmsg());
        }
        birch_txn *r = NULL;
        if (birch_txn_begin(w->db, BIRCH_TXN_READ, &r) == BIRCH_OK) birch_txn_abort(r);
        pthread_barrier_wait(w->b);
    }
    return NULL;
}

/* 1 if a meta slot of the file holds commit txnid as a durable meta. */
static int durable_on_disk(const char *path, uint64_t txnid)
{
    for (int slot = 0; slot < 2; slot++) {
        bi_meta m;
        bt_meta_read(path, slot, &m);
        if (bt_meta_sealed(&m) && m.txnid == txnid && !(m.flags & BI_META_WEAK)) return 1;
    }
    return 0;
}

START_TEST(writers_beside_the_flusher)
{
    char *path = bt_path("writers");
    birch_options opts = bt_opts_fast();
    birch_db *db = bt_open(path, &opts); /* a file: birch_open starts the flusher */
    pthread_barrier_t b;
    pthread_barrier_init(&b, NULL, NWRITERS + 1);
    burst ws[NWRITERS];
    pthread_t th[NWRITERS];
    for (int i = 0; i < NWRITERS; i++) {
        ws[i] = (burst){db, i, &b};
        ck_assert_int_eq(pthread_create(&th[i], NULL, burst_writer, &ws[i]), 0);
    }
    int durable_after_idle = 0;
    for (int round = 0; round < BURSTS; round++) {
        pthread_barrier_wait(&b); /* go */
        pthread_barrier_wait(&b); /* the burst is done */
        sleep_ms(1500);           /* idle: the flusher's turn */
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE); /* hold the gate while reading the file */
        durable_after_idle += durable_on_disk(path, bt_stat(db).txnid);
        birch_txn_abort(w);
    }
    for (int i = 0; i < NWRITERS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&b);
    assert_no_thread_failure();
    /* Not a timing assertion in disguise: at least one of three idle
     * periods of 1.5 s saw the flush (each would, on an unloaded machine). */
    ck_assert_msg(durable_after_idle >= 1, "no idle period ended with a durable meta on disk");

    /* A single writer with BIRCH_TXN_TRY for 2.5 s: flushes fall due while
     * it runs, and none makes it fail. */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int ntry = 0;
    do {
        birch_txn *w = NULL;
        BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY, &w), BIRCH_OK);
        char k[32];
        snprintf(k, sizeof k, "try-%d", ntry++);
        bt_put_s(w, bt_table(w, "t", 0), k, "x");
        BT_OK(birch_txn_commit(w));
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 < 2500);

    db = bt_reopen(db, path, &opts);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "t", 0);
    ck_assert_uint_eq(bt_count(r, t), (uint64_t)NWRITERS * BURSTS * PER_BURST + (uint64_t)ntry);
    for (int w = 0; w < NWRITERS; w++)
        for (int round = 0; round < BURSTS; round++)
            for (int i = 0; i < PER_BURST; i++) {
                char k[32], v[32];
                snprintf(k, sizeof k, "w%d-%d-%d", w, round, i);
                snprintf(v, sizeof v, "v%d", i);
                bt_expect_s(r, t, k, v);
            }
    birch_txn_abort(r);
    BT_OK(birch_close(db));
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
    tcase_add_test(tc, new_thread_is_not_the_gone_writer);
    tcase_add_test(tc, handed_over_transaction_new_thread_holds_it);
    tcase_add_test(tc, flusher_makes_an_idle_commit_durable);
    tcase_add_test(tc, without_a_flush_nothing_syncs_the_commit);
    tcase_add_test(tc, flusher_failure_fails_the_database);
    tcase_add_test(tc, writers_beside_the_flusher);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
