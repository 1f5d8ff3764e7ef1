/*
 * test_txn_reset_threads.c - read transactions reset and renewed beside a
 * writer (birch_txn_reset, birch_txn_renew; issue 14); also run under
 * ThreadSanitizer, which checks that a reset (a compare-and-swap on the
 * reader slot) and a renew (a pin) race with no writer's computation of
 * the oldest reader, nor with the writer's publication.
 *
 *   - Reader threads each keep one read transaction and one cursor for
 *     the whole test and, over and over, scan the table, reset, and renew,
 *     while a writer commits new versions of every record (each commit
 *     rewrites every page of the table, so the pages a reset reader saw
 *     are reused).  Every snapshot a renew takes is whole (every record and
 *     the version key agree, the count is right), a renew never goes back
 *     to an older commit, and the cursor, unpositioned by each renew, reads
 *     the new snapshot.  A read transaction that is never reset keeps
 *     reading its snapshot, byte for byte.
 *   - At the end no reader slot is held, and the file checks.
 *
 * Threads never call Check's assertions: they record the first failure and
 * the main thread asserts after joining them.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;
static int err_bad;
static char err_msg[1024];

static void tfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tfail(const char *fmt, ...)
{
    pthread_mutex_lock(&err_mu);
    if (!err_bad) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err_msg, sizeof err_msg, fmt, ap);
        va_end(ap);
        err_bad = 1;
    }
    pthread_mutex_unlock(&err_mu);
}

static void assert_no_thread_failure(void)
{
    pthread_mutex_lock(&err_mu);
    int bad = err_bad;
    char msg[1024];
    memcpy(msg, err_msg, sizeof msg);
    pthread_mutex_unlock(&err_mu);
    ck_assert_msg(!bad, "a thread failed: %s", msg);
}

enum { NREADERS = 3, NKEYS = 100 };

/* A record: the version that wrote it, its key's number, and padding so
 * that the table spans several pages. */
typedef struct rec {
    uint64_t version;
    uint64_t i;
    char pad[48];
} rec;

static void key_of(int i, char k[16])
{
    snprintf(k, 16, "k%04d", i);
}

typedef struct shared {
    birch_db *db;
    atomic_int readers_done;
    atomic_uint_fast64_t commits;
    int rounds; /* resets and renews per reader */
} shared;

/* Commits versions 2, 3, ... of every record until the readers are done. */
static void *writer_main(void *arg)
{
    shared *sh = arg;
    for (uint64_t v = 2; atomic_load(&sh->readers_done) < NREADERS; v++) {
        birch_txn *w = NULL;
        birch_table *t = NULL;
        int rc = birch_txn_begin(sh->db, BIRCH_TXN_WRITE, &w);
        if (rc == BIRCH_OK) rc = birch_table_open(w, "t", 0, &t);
        for (int i = 0; i < NKEYS && rc == BIRCH_OK; i++) {
            char k[16];
            rec r;
            memset(&r, 0, sizeof r);
            r.version = v;
            r.i = (uint64_t)i;
            key_of(i, k);
            rc = birch_put(w, t, bt_str(k), bt_val(&r, sizeof r), 0);
        }
        if (rc == BIRCH_OK) rc = birch_put(w, t, bt_str("version"), bt_val(&v, sizeof v), 0);
        if (rc == BIRCH_OK) rc = birch_txn_commit(w);
        else if (w) birch_txn_abort(w);
        if (rc) {
            tfail("writer: version %" PRIu64 ": %d (%s)", v, rc, birch_errmsg());
            return NULL;
        }
        atomic_fetch_add(&sh->commits, 1);
        if (v % 8 == 0) sched_yield();
    }
    return NULL;
}

/* Scans the snapshot with the cursor (unpositioned: next starts at the
 * first key); 0 and its version, or -1 after recording what was wrong. */
static int scan(int id, birch_txn *r, birch_table *t, birch_cursor *c, uint64_t *version)
{
    birch_val v, k;
    int rc = birch_get(r, t, bt_str("version"), &v);
    if (rc || v.size != 8) {
        tfail("reader %d: version key: %d (%s)", id, rc, birch_errmsg());
        return -1;
    }
    memcpy(version, v.data, 8);
    uint64_t count = 0;
    if ((rc = birch_count(r, t, &count)) || count != NKEYS + 1) {
        tfail("reader %d: count %" PRIu64 ": %d", id, count, rc);
        return -1;
    }
    int i = 0;
    while ((rc = birch_cursor_next(c)) == BIRCH_OK) {
        if ((rc = birch_cursor_get(c, &k, &v))) break;
        if (k.size == 7 && memcmp(k.data, "version", 7) == 0) continue;
        const rec *r0 = v.data;
        char want[16];
        key_of(i, want);
        if (v.size != sizeof(rec) || k.size != strlen(want) || memcmp(k.data, want, k.size) ||
            r0->i != (uint64_t)i || r0->version != *version) {
            tfail("reader %d: record %d of version %" PRIu64 " reads %.*s = version %" PRIu64, id, i, *version,
                  (int)k.size, (const char *)k.data, v.size == sizeof(rec) ? r0->version : 0);
            return -1;
        }
        i++;
    }
    if (rc != BIRCH_NOTFOUND || i != NKEYS) {
        tfail("reader %d: the scan of version %" PRIu64 " stopped after %d records: %d (%s)", id, *version, i, rc,
              birch_errmsg());
        return -1;
    }
    return 0;
}

typedef struct reader {
    shared *sh;
    int id;
    uint64_t renewed_to_newer; /* renews that found a newer commit */
} reader;

static void *reader_main(void *arg)
{
    reader *rd = arg;
    shared *sh = rd->sh;
    birch_txn *r = NULL;
    birch_table *t = NULL;
    birch_cursor *c = NULL;
    int rc = birch_txn_begin(sh->db, BIRCH_TXN_READ, &r);
    if (rc == BIRCH_OK) rc = birch_table_open(r, "t", 0, &t);
    if (rc == BIRCH_OK) rc = birch_cursor_open(r, t, &c);
    if (rc) {
        tfail("reader %d: setup: %d (%s)", rd->id, rc, birch_errmsg());
        if (r) birch_txn_abort(r);
        atomic_fetch_add(&sh->readers_done, 1);
        return NULL;
    }
    uint64_t last = 0;
    for (int round = 0; round < sh->rounds; round++) {
        uint64_t version;
        if (scan(rd->id, r, t, c, &version)) break;
        if (version < last) {
            tfail("reader %d: a renew went back from version %" PRIu64 " to %" PRIu64, rd->id, last, version);
            break;
        }
        if (birch_txn_id(r) == 0) {
            tfail("reader %d: a live transaction has id 0", rd->id);
            break;
        }
        rd->renewed_to_newer += version > last;
        last = version;
        if ((rc = birch_txn_reset(r)) != BIRCH_OK) {
            tfail("reader %d: reset: %d (%s)", rd->id, rc, birch_errmsg());
            break;
        }
        if ((rc = birch_cursor_first(c)) != BIRCH_ETXN) {
            tfail("reader %d: a cursor of a reset transaction answered %d", rd->id, rc);
            break;
        }
        if (round % 4 == 0) sched_yield(); /* parked a while: the writer reuses its pages */
        if ((rc = birch_txn_renew(r)) != BIRCH_OK) {
            tfail("reader %d: renew: %d (%s)", rd->id, rc, birch_errmsg());
            break;
        }
    }
    birch_cursor_close(c);
    birch_txn_abort(r);
    atomic_fetch_add(&sh->readers_done, 1);
    return NULL;
}

START_TEST(reset_and_renew_beside_a_writer)
{
    char *path = bt_path("reset-threads");
    birch_options o = bt_opts_fast(); /* many commits, few syncs */
    shared sh;
    memset(&sh, 0, sizeof sh);
    sh.db = bt_open(path, &o);
    sh.rounds = bt_asan() ? 400 : 1500;
    birch_txn *w = bt_begin(sh.db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    for (int i = 0; i < NKEYS; i++) {
        char k[16];
        rec r;
        memset(&r, 0, sizeof r);
        r.version = 1;
        r.i = (uint64_t)i;
        key_of(i, k);
        bt_put(w, t, k, strlen(k), &r, sizeof r);
    }
    uint64_t one = 1;
    bt_put(w, t, "version", 7, &one, sizeof one);
    BT_OK(birch_txn_commit(w));

    /* A read transaction held throughout, never reset. */
    birch_txn *r0 = bt_begin(sh.db, BIRCH_TXN_READ);
    birch_val held;
    BT_OK(birch_get(r0, bt_table(r0, "t", 0), bt_str("k0042"), &held));

    pthread_t wt, rt[NREADERS];
    reader rd[NREADERS];
    ck_assert_int_eq(pthread_create(&wt, NULL, writer_main, &sh), 0);
    for (int i = 0; i < NREADERS; i++) {
        rd[i] = (reader){&sh, i, 0};
        ck_assert_int_eq(pthread_create(&rt[i], NULL, reader_main, &rd[i]), 0);
    }
    for (int i = 0; i < NREADERS; i++) pthread_join(rt[i], NULL);
    pthread_join(wt, NULL);
    assert_no_thread_failure();

    /* The reader that never reset kept its snapshot byte for byte. */
    const rec *hr = held.data;
    ck_assert_uint_eq(hr->version, 1);
    ck_assert_uint_eq(hr->i, 42);
    birch_txn_abort(r0);
    uint64_t newer = 0;
    for (int i = 0; i < NREADERS; i++) newer += rd[i].renewed_to_newer;
    printf("%" PRIu64 " commits; %d resets and renews per reader, %" PRIu64 " of them to a newer commit\n",
           (uint64_t)atomic_load(&sh.commits), sh.rounds, newer);
    ck_assert_uint_ge(atomic_load(&sh.commits), 1);
    ck_assert_uint_eq(bt_stat(sh.db).readers, 0);
    bt_check(sh.db);
    BT_OK(birch_close(sh.db));
    bt_remove(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("txn_reset_threads");
    bt_add_case(s, "reset_and_renew_beside_a_writer", reset_and_renew_beside_a_writer);
    return bt_run(s);
}
