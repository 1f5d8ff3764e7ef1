/*
 * test_threads.c - birch with several threads (also run under
 * ThreadSanitizer): snapshot isolation with a reader thread (lock-step with
 * barriers, and free-running readers), map growth while a reader thread
 * holds pointers, BIRCH_TXN_TRY and a blocking second writer, writers
 * serialised on one counter, transactions handed between threads, the
 * reader table filled from many threads.
 *
 * Threads never call Check's assertions: they record the first failure and
 * the main thread asserts after joining them.  Synchronisation is by
 * barriers and condition variables only, never sleeps.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* ---- Failure recording ----------------------------------------------------- */

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

static int tbad(void)
{
    pthread_mutex_lock(&errs.mu);
    int b = errs.bad;
    pthread_mutex_unlock(&errs.mu);
    return b;
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

static void start(pthread_t *th, void *(*fn)(void *), void *arg)
{
    ck_assert_int_eq(pthread_create(th, NULL, fn, arg), 0);
}

/* ---- Snapshot isolation, lock-step ------------------------------------------- */

enum { NK = 250, NPINS = 24 };

typedef struct lockstep {
    birch_db *db;
    uint32_t ps;
    int rounds;
    pthread_barrier_t b;
    long verified;
} lockstep;

typedef struct pins {
    int n;
    const void *ptr[NPINS];
    size_t size[NPINS];
    unsigned char *copy[NPINS];
} pins;

static void take_pins(birch_txn *txn, uint64_t v, pins *p)
{
    birch_table *t = NULL;
    p->n = 0;
    if (birch_table_open(txn, "data", 0, &t) != BIRCH_OK) return;
    unsigned char k[64];
    for (int i = 0; i < NK && p->n < NPINS; i += 7) {
        if (!bt_vpresent(i, v)) continue;
        size_t kn = bt_vkey(i, k);
        birch_val val;
        if (birch_get(txn, t, bt_val(k, kn), &val) != BIRCH_OK) continue;
        p->ptr[p->n] = val.data;
        p->size[p->n] = val.size;
        p->copy[p->n] = malloc(val.size + 1);
        memcpy(p->copy[p->n], val.data, val.size);
        p->n++;
    }
}

/* 1 if every pinned pointer still holds its bytes; frees the copies. */
static int drop_pins(pins *p, int check)
{
    int ok = 1;
    for (int j = 0; j < p->n; j++) {
        if (check && memcmp(p->ptr[j], p->copy[j], p->size[j]) != 0) ok = 0;
        free(p->copy[j]);
    }
    p->n = 0;
    return ok;
}

static void *lockstep_reader(void *arg)
{
    lockstep *ls = arg;
    char err[512];
    for (int round = 0; round < ls->rounds; round++) {
        birch_txn *txn = NULL;
        uint64_t v = 0;
        pins p = {0};
        int rc = birch_txn_begin(ls->db, BIRCH_TXN_READ, &txn);
        if (rc) tfail("reader: begin returned %d", rc);
        if (txn) {
            if (!bt_vversion(txn, &v, err, sizeof err)) tfail("reader: %s", err);
            else if (bt_vverify(txn, ls->ps, NK, v, err, sizeof err))
                tfail("reader round %d, before the commits: %s", round, err);
            take_pins(txn, v, &p);
        }
        pthread_barrier_wait(&ls->b); /* A: the writer commits now */
        pthread_barrier_wait(&ls->b); /* B: it has committed 3 versions */
        if (txn) {
            if (!tbad() && bt_vverify(txn, ls->ps, NK, v, err, sizeof err))
                tfail("reader round %d, version %" PRIu64 " after 3 commits: %s", round, v, err);
            if (!drop_pins(&p, 1))
                tfail("reader round %d: a pinned value changed under its snapshot", round);
            birch_txn_abort(txn);
            ls->verified++;
        }
        pthread_barrier_wait(&ls->b); /* C: reader done */
    }
    return NULL;
}

/* Durable commits make freed pages reusable at once (unless a snapshot
 * still needs them); non-durable ones defer reuse to checkpoints.  Both. */
static void lockstep_run(int durability)
{
    char *path = bt_path("lockstep");
    birch_options o = bt_opts();
    o.durability = durability;
    birch_db *db = bt_open(path, &o);
    lockstep ls = {.db = db, .ps = birch_page_size(db), .rounds = 25};
    pthread_barrier_init(&ls.b, NULL, 2);
    uint64_t v = 1;
    bt_vwrite(db, NK, v);
    pthread_t th;
    start(&th, lockstep_reader, &ls);
    for (int round = 0; round < ls.rounds; round++) {
        pthread_barrier_wait(&ls.b); /* A */
        for (int j = 0; j < 3; j++) bt_vwrite(db, NK, ++v);
        pthread_barrier_wait(&ls.b); /* B */
        pthread_barrier_wait(&ls.b); /* C */
    }
    pthread_join(th, NULL);
    pthread_barrier_destroy(&ls.b);
    assert_no_thread_failure();
    ck_assert_int_eq(ls.verified, ls.rounds);
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}

START_TEST(snapshot_reader_thread_lockstep) { lockstep_run(BIRCH_DURABLE_FULL); }
END_TEST

START_TEST(snapshot_reader_thread_lockstep_nosync) { lockstep_run(BIRCH_DURABLE_NONE); }
END_TEST

/* ---- Snapshot isolation, free-running readers ------------------------------ */

enum { NREADERS = 3 };

typedef struct freerun {
    birch_db *db;
    uint32_t ps;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    long verified[NREADERS];
} freerun;

typedef struct freerun_arg {
    freerun *fr;
    int id;
} freerun_arg;

static void *freerun_reader(void *arg)
{
    freerun_arg *a = arg;
    freerun *fr = a->fr;
    char err[512];
    for (;;) {
        pthread_mutex_lock(&fr->mu);
        int stop = fr->stop;
        pthread_mutex_unlock(&fr->mu);
        if (stop || tbad()) break;
        birch_txn *txn = NULL;
        int rc = birch_txn_begin(fr->db, BIRCH_TXN_READ, &txn);
        if (rc) {
            tfail("reader %d: begin returned %d", a->id, rc);
            break;
        }
        uint64_t v;
        pins p = {0};
        if (!bt_vversion(txn, &v, err, sizeof err)) {
            tfail("reader %d: %s", a->id, err);
        } else {
            take_pins(txn, v, &p);
            if (bt_vverify(txn, fr->ps, NK, v, err, sizeof err))
                tfail("reader %d: %s", a->id, err);
            else if (!drop_pins(&p, 1))
                tfail("reader %d: a pinned value of version %" PRIu64 " changed", a->id, v);
        }
        drop_pins(&p, 0);
        birch_txn_abort(txn);
        pthread_mutex_lock(&fr->mu);
        fr->verified[a->id]++;
        pthread_cond_broadcast(&fr->cv);
        pthread_mutex_unlock(&fr->mu);
    }
    pthread_mutex_lock(&fr->mu);
    pthread_cond_broadcast(&fr->cv);
    pthread_mutex_unlock(&fr->mu);
    return NULL;
}

START_TEST(snapshot_free_running_readers)
{
    char *path = bt_path("freerun");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    freerun fr = {.db = db, .ps = birch_page_size(db)};
    pthread_mutex_init(&fr.mu, NULL);
    pthread_cond_init(&fr.cv, NULL);
    bt_vwrite(db, NK, 1);
    pthread_t th[NREADERS];
    freerun_arg args[NREADERS];
    for (int i = 0; i < NREADERS; i++) {
        args[i] = (freerun_arg){&fr, i};
        start(&th[i], freerun_reader, &args[i]);
    }
    for (uint64_t v = 2; v <= 80 && !tbad(); v++) bt_vwrite(db, NK, v);
    /* Each reader has checked at least one snapshot before it is stopped. */
    pthread_mutex_lock(&fr.mu);
    for (int i = 0; i < NREADERS; i++)
        while (fr.verified[i] == 0 && !tbad()) pthread_cond_wait(&fr.cv, &fr.mu);
    fr.stop = 1;
    pthread_mutex_unlock(&fr.mu);
    for (int i = 0; i < NREADERS; i++) pthread_join(th[i], NULL);
    assert_no_thread_failure();
    pthread_mutex_destroy(&fr.mu);
    pthread_cond_destroy(&fr.cv);
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- Growth with a reader thread ---------------------------------------------- */

typedef struct growth {
    birch_db *db;
    uint32_t ps;
    pthread_barrier_t b;
} growth;

static void *growth_reader(void *arg)
{
    growth *g = arg;
    char err[512];
    birch_txn *txn = NULL;
    uint64_t v = 0;
    pins p = {0};
    int rc = birch_txn_begin(g->db, BIRCH_TXN_READ, &txn);
    if (rc) tfail("growth reader: begin returned %d", rc);
    if (txn) {
        if (!bt_vversion(txn, &v, err, sizeof err)) tfail("growth reader: %s", err);
        take_pins(txn, v, &p);
    }
    pthread_barrier_wait(&g->b); /* the writer grows the file now */
    pthread_barrier_wait(&g->b); /* done: far beyond the reservation */
    if (txn) {
        if (!drop_pins(&p, 1)) tfail("growth reader: a pinned value changed after growth");
        if (bt_vverify(txn, g->ps, NK, v, err, sizeof err)) tfail("growth reader: %s", err);
        birch_txn_abort(txn);
    }
    return NULL;
}

START_TEST(growth_with_reader_thread)
{
    char *path = bt_path("growth-thread");
    birch_options o = bt_opts(); /* durable: freed pages are reusable at once */
    o.map_reserve = 1 << 20;
    birch_db *db = bt_open(path, &o);
    growth g = {.db = db, .ps = birch_page_size(db)};
    pthread_barrier_init(&g.b, NULL, 2);
    bt_vwrite(db, NK, 1);
    pthread_t th;
    start(&th, growth_reader, &g);
    pthread_barrier_wait(&g.b);
    static unsigned char big[60000];
    bt_pattern(big, sizeof big, 3);
    char k[32];
    int n = 0;
    for (uint64_t v = 2; v < 12; v++) {
        bt_vwrite(db, NK, v); /* frees and reuses the reader's old pages' neighbours */
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "bulk", BIRCH_CREATE);
        for (int i = 0; i < 40; i++, n++) {
            snprintf(k, sizeof k, "bulk%06d", n);
            bt_put(w, t, k, strlen(k), big, sizeof big);
        }
        BT_OK(birch_txn_commit(w));
    }
    ck_assert_uint_gt(bt_stat(db).file_size, 20 * o.map_reserve);
    pthread_barrier_wait(&g.b);
    pthread_join(th, NULL);
    pthread_barrier_destroy(&g.b);
    assert_no_thread_failure();
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- Writers ----------------------------------------------------------------------- */

typedef struct wctx {
    birch_db *db;
    int rc;
    int saw_a;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started;
} wctx;

static void *try_writer(void *arg)
{
    wctx *c = arg;
    birch_txn *txn = NULL;
    c->rc = birch_txn_begin(c->db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY, &txn);
    if (c->rc == BIRCH_OK) birch_txn_abort(txn);
    /* Readers are not blocked by the other thread's writer. */
    birch_txn *r = NULL;
    int rc = birch_txn_begin(c->db, BIRCH_TXN_READ, &r);
    if (rc) tfail("read txn beside a writer in another thread: %d", rc);
    else birch_txn_abort(r);
    return NULL;
}

static void *blocking_writer(void *arg)
{
    wctx *c = arg;
    pthread_mutex_lock(&c->mu);
    c->started = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    birch_txn *w = NULL;
    c->rc = birch_txn_begin(c->db, BIRCH_TXN_WRITE, &w); /* waits for the main thread's */
    if (c->rc) return NULL;
    birch_table *t = NULL;
    int rc = birch_table_open(w, "t", 0, &t);
    birch_val v = {NULL, 0};
    if (rc == BIRCH_OK) rc = birch_get(w, t, bt_str("a"), &v);
    c->saw_a = rc == BIRCH_OK && v.size == 1 && memcmp(v.data, "1", 1) == 0;
    if (rc == BIRCH_OK) rc = birch_put(w, t, bt_str("b"), bt_str("2"), 0);
    if (rc == BIRCH_OK) rc = birch_txn_commit(w);
    else birch_txn_abort(w);
    c->rc = rc;
    return NULL;
}

START_TEST(try_and_blocking_writers)
{
    char *path = bt_path("writers");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    wctx c = {.db = db};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put_s(w, t, "a", "1");
    pthread_t th;
    start(&th, try_writer, &c);
    pthread_join(th, NULL);
    BT_RC(c.rc, BIRCH_EBUSY);

    /* A second writer waits until this one commits, then sees its data. */
    start(&th, blocking_writer, &c);
    pthread_mutex_lock(&c.mu);
    while (!c.started) pthread_cond_wait(&c.cv, &c.mu);
    pthread_mutex_unlock(&c.mu);
    BT_OK(birch_txn_commit(w));
    pthread_join(th, NULL);
    BT_OK(c.rc);
    ck_assert_msg(c.saw_a, "the second writer did not see the first one's commit");
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, t, "a", "1");
    bt_expect_s(r, t, "b", "2");
    birch_txn_abort(r);
    assert_no_thread_failure();
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.cv);
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

enum { NWRITERS = 4, NINCR = 60 };

static void *counter_writer(void *arg)
{
    birch_db *db = arg;
    for (int i = 0; i < NINCR && !tbad(); i++) {
        birch_txn *w = NULL;
        int rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &w);
        if (rc) {
            tfail("counter: begin returned %d", rc);
            return NULL;
        }
        birch_table *t = NULL;
        rc = birch_table_open(w, "c", BIRCH_CREATE, &t);
        uint64_t n = 0;
        birch_val v;
        if (rc == BIRCH_OK) {
            int g = birch_get(w, t, bt_str("n"), &v);
            if (g == BIRCH_OK && v.size == 8) memcpy(&n, v.data, 8);
            else if (g != BIRCH_NOTFOUND) rc = g;
        }
        n++;
        if (rc == BIRCH_OK) rc = birch_put(w, t, bt_str("n"), bt_val(&n, 8), 0);
        if (rc == BIRCH_OK) rc = birch_txn_commit(w);
        else birch_txn_abort(w);
        if (rc) {
            tfail("counter: %d", rc);
            return NULL;
        }
        /* And a read between writes. */
        birch_txn *r = NULL;
        if (birch_txn_begin(db, BIRCH_TXN_READ, &r) == BIRCH_OK) birch_txn_abort(r);
    }
    return NULL;
}

/* Read-modify-write from several threads: the single writer makes every
 * increment count. */
START_TEST(writers_serialised)
{
    char *path = bt_path("counter");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    pthread_t th[NWRITERS];
    for (int i = 0; i < NWRITERS; i++) start(&th[i], counter_writer, db);
    for (int i = 0; i < NWRITERS; i++) pthread_join(th[i], NULL);
    assert_no_thread_failure();
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    uint64_t n = NWRITERS * NINCR;
    bt_expect(r, bt_table(r, "c", 0), "n", 1, &n, 8);
    birch_txn_abort(r);
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- Transactions handed between threads -------------------------------------- */

typedef struct handoff {
    birch_txn *txn;
    birch_table *t;
    int rc;
} handoff;

static void *commit_elsewhere(void *arg)
{
    handoff *h = arg;
    h->rc = birch_put(h->txn, h->t, bt_str("from-thread"), bt_str("yes"), 0);
    if (h->rc == BIRCH_OK) h->rc = birch_txn_commit(h->txn);
    else birch_txn_abort(h->txn);
    return NULL;
}

static void *read_elsewhere(void *arg)
{
    handoff *h = arg;
    birch_val v = {NULL, 0};
    h->rc = birch_get(h->txn, h->t, bt_str("main"), &v);
    if (h->rc == BIRCH_OK && (v.size != 1 || memcmp(v.data, "1", 1) != 0)) h->rc = -100;
    return NULL;
}

/* A transaction belongs to one thread at a time, not to the thread that
 * began it: a write transaction begun here is committed by another
 * thread; a read transaction used there is ended here. */
START_TEST(transactions_move_between_threads)
{
    char *path = bt_path("handoff");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    for (int round = 0; round < 20; round++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "t", BIRCH_CREATE);
        bt_put_s(w, t, "main", "1");
        handoff h = {w, t, 0};
        pthread_t th;
        start(&th, commit_elsewhere, &h);
        pthread_join(th, NULL);
        BT_OK(h.rc);
        birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
        h = (handoff){r, t, 0};
        start(&th, read_elsewhere, &h);
        pthread_join(th, NULL);
        BT_OK(h.rc);
        bt_expect_s(r, t, "from-thread", "yes");
        birch_txn_abort(r);
        /* The writer lock was released by the other thread's commit. */
        birch_txn *w2 = bt_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY);
        birch_txn_abort(w2);
    }
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- The reader table from many threads -------------------------------------- */

enum { NSLOTS = 8 };

typedef struct slots {
    birch_db *db;
    pthread_barrier_t b;
    int rc[NSLOTS];
} slots;

typedef struct slot_arg {
    slots *s;
    int id;
} slot_arg;

static void *slot_reader(void *arg)
{
    slot_arg *a = arg;
    birch_txn *r = NULL;
    a->s->rc[a->id] = birch_txn_begin(a->s->db, BIRCH_TXN_READ, &r);
    if (a->s->rc[a->id] == BIRCH_OK) {
        birch_table *t = NULL;
        birch_val v;
        int rc = birch_table_open(r, "t", 0, &t);
        if (rc == BIRCH_OK) rc = birch_get(r, t, bt_str("k"), &v);
        if (rc) a->s->rc[a->id] = rc;
    }
    pthread_barrier_wait(&a->s->b); /* all slots taken */
    pthread_barrier_wait(&a->s->b); /* main has tried one more */
    if (r) birch_txn_abort(r);
    return NULL;
}

START_TEST(reader_slots_from_threads)
{
    char *path = bt_path("slots");
    birch_options o = bt_opts();
    o.max_readers = NSLOTS;
    birch_db *db = bt_open(path, &o);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", BIRCH_CREATE), "k", "v");
    BT_OK(birch_txn_commit(w));
    for (int round = 0; round < 5; round++) {
        slots s = {.db = db};
        pthread_barrier_init(&s.b, NULL, NSLOTS + 1);
        pthread_t th[NSLOTS];
        slot_arg args[NSLOTS];
        for (int i = 0; i < NSLOTS; i++) {
            args[i] = (slot_arg){&s, i};
            start(&th[i], slot_reader, &args[i]);
        }
        pthread_barrier_wait(&s.b);
        birch_txn *extra = NULL;
        int rc = birch_txn_begin(db, BIRCH_TXN_READ, &extra);
        if (rc == BIRCH_OK) birch_txn_abort(extra);
        pthread_barrier_wait(&s.b);
        for (int i = 0; i < NSLOTS; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&s.b);
        BT_RC(rc, BIRCH_EBUSY);
        for (int i = 0; i < NSLOTS; i++) BT_OK(s.rc[i]);
    }
    /* All slots are free again: close works. */
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = bt_tcase("threads");
    tcase_add_test(tc, snapshot_reader_thread_lockstep);
    tcase_add_test(tc, snapshot_reader_thread_lockstep_nosync);
    tcase_add_test(tc, snapshot_free_running_readers);
    tcase_add_test(tc, growth_with_reader_thread);
    tcase_add_test(tc, try_and_blocking_writers);
    tcase_add_test(tc, writers_serialised);
    tcase_add_test(tc, transactions_move_between_threads);
    tcase_add_test(tc, reader_slots_from_threads);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
