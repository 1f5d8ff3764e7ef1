/*
 * test_check_threads.c - birch_check beside writers never reports a live,
 * healthy database as damaged.
 *
 * Two writer threads take turns committing (puts of values from empty to
 * several pages, so overflow runs come and go; deletes; tables created and
 * dropped), on a database opened BIRCH_DURABLE_FULL and on one opened
 * BIRCH_DURABLE_NONE (whose commits overwrite the same meta slot again and
 * again, and whose freed pages are reused as soon as no reader sees them),
 * while two other threads run birch_check in a loop.  Every check must
 * pass: check reads one pinned snapshot, whatever the writers do to the
 * meta pages and the free pages meanwhile.  It used to re-read the meta
 * slots from the file and reported tens of thousands of false
 * BIRCH_ECORRUPT in a 10-second run with BIRCH_DURABLE_NONE.
 *
 * Each run lasts BIRCH_CHECK_THREADS_MS milliseconds (default 1500) per
 * configuration; the writers' operations come from a fixed seed
 * ($BIRCH_SEED), printed with any failure.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support.h"

enum { WRITERS = 2, CHECKERS = 2, TABLES = 4, KEYS = 300 };

typedef struct shared {
    birch_db *db;
    uint32_t ps;
    uint64_t seed;
    atomic_int stop;
    atomic_long commits, checks, reports;
    pthread_mutex_t lock; /* guards first_report and writer_error */
    char first_report[600];
    char writer_error[300];
} shared;

typedef struct worker {
    shared *sh;
    int id;
} worker;

static void note(shared *sh, char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void note(shared *sh, char *dst, size_t n, const char *fmt, ...)
{
    pthread_mutex_lock(&sh->lock);
    if (!dst[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(dst, n, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&sh->lock);
}

/* One write transaction of a few random operations.  BIRCH_OK, or the
 * code of the call that failed (the transaction is then aborted). */
static int one_txn(shared *sh, bt_rng *r, unsigned char *vbuf, size_t vcap, const char **what)
{
    birch_txn *w;
    *what = "begin";
    int rc = birch_txn_begin(sh->db, BIRCH_TXN_WRITE, &w);
    if (rc) return rc;
    int ops = (int)bt_range(r, 1, 12);
    for (int i = 0; i < ops && rc == BIRCH_OK; i++) {
        char name[16], key[32];
        snprintf(name, sizeof name, "t%d", (int)bt_below(r, TABLES));
        unsigned kind = (unsigned)bt_below(r, 100);
        if (kind < 3) { /* drop a table (and all its pages) */
            *what = "drop";
            rc = birch_table_drop(w, name);
            if (rc == BIRCH_NOTFOUND) rc = BIRCH_OK;
            continue;
        }
        birch_table *t;
        *what = "table_open";
        rc = birch_table_open(w, name, BIRCH_CREATE, &t);
        if (rc) break;
        snprintf(key, sizeof key, "key%05d", (int)bt_below(r, KEYS));
        if (kind < 30) {
            *what = "del";
            rc = birch_del(w, t, bt_str(key));
            if (rc == BIRCH_NOTFOUND) rc = BIRCH_OK;
        } else {
            /* Mostly small values; one in eight spans several pages. */
            size_t vn = bt_chance(r, 12) ? (size_t)bt_below(r, 4 * (size_t)sh->ps) : (size_t)bt_below(r, 60);
            if (vn > vcap) vn = vcap;
            size_t off = (size_t)bt_below(r, vcap - vn + 1);
            *what = "put";
            rc = birch_put(w, t, bt_str(key), bt_val(vbuf + off, vn), 0);
        }
    }
    if (rc) {
        birch_txn_abort(w);
        return rc;
    }
    *what = "commit";
    return birch_txn_commit(w);
}

static void *write_loop(void *arg)
{
    worker *wk = arg;
    shared *sh = wk->sh;
    bt_rng r = {sh->seed * 31 + (uint64_t)wk->id};
    size_t vcap = 4 * (size_t)sh->ps + 64;
    unsigned char *vbuf = malloc(vcap);
    ck_assert_ptr_nonnull(vbuf);
    bt_fill(&r, vbuf, vcap);
    while (!atomic_load(&sh->stop)) {
        const char *what;
        int rc = one_txn(sh, &r, vbuf, vcap, &what);
        if (rc) {
            note(sh, sh->writer_error, sizeof sh->writer_error, "writer %d: %s returned %d (%s): %s", wk->id, what, rc,
                 birch_strerror(rc), birch_errmsg());
            break;
        }
        atomic_fetch_add(&sh->commits, 1);
    }
    free(vbuf);
    return NULL;
}

static void *check_loop(void *arg)
{
    worker *wk = arg;
    shared *sh = wk->sh;
    char msg[512];
    while (!atomic_load(&sh->stop)) {
        int rc = birch_check(sh->db, msg, sizeof msg);
        atomic_fetch_add(&sh->checks, 1);
        if (rc == BIRCH_OK) continue;
        atomic_fetch_add(&sh->reports, 1);
        note(sh, sh->first_report, sizeof sh->first_report, "checker %d: birch_check returned %d (%s): %s", wk->id,
             rc, birch_strerror(rc), msg);
    }
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void run(uint32_t ps, int durability)
{
    shared sh;
    memset(&sh, 0, sizeof sh);
    pthread_mutex_init(&sh.lock, NULL);
    sh.ps = ps;
    sh.seed = bt_seed(20240611);
    char *path = bt_path("live");
    birch_options o = bt_opts();
    o.page_size = ps;
    o.durability = durability;
    sh.db = bt_open(path, &o);

    worker wk[WRITERS + CHECKERS];
    pthread_t th[WRITERS + CHECKERS];
    for (int i = 0; i < WRITERS + CHECKERS; i++) {
        wk[i] = (worker){&sh, i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, i < WRITERS ? write_loop : check_loop, &wk[i]), 0);
    }
    sleep_ms((long)bt_env_u64("BIRCH_CHECK_THREADS_MS", 1500));
    atomic_store(&sh.stop, 1);
    for (int i = 0; i < WRITERS + CHECKERS; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);

    const char *dur = durability == BIRCH_DURABLE_FULL ? "FULL" : "NONE";
    fprintf(stderr, "check beside writers (%u-byte pages, DURABLE_%s, seed %" PRIu64 "): %ld commits, %ld checks, "
                    "%ld reports\n",
            ps, dur, sh.seed, atomic_load(&sh.commits), atomic_load(&sh.checks), atomic_load(&sh.reports));
    ck_assert_msg(!sh.writer_error[0], "seed %" PRIu64 ": %s", sh.seed, sh.writer_error);
    ck_assert_msg(atomic_load(&sh.reports) == 0, "seed %" PRIu64 ", DURABLE_%s: %ld of %ld checks reported damage; "
                                                 "the first: %s",
                  sh.seed, dur, atomic_load(&sh.reports), atomic_load(&sh.checks), sh.first_report);
    /* The checks ran beside commits, not before or after them. */
    ck_assert_int_gt(atomic_load(&sh.commits), 0);
    ck_assert_int_gt(atomic_load(&sh.checks), 0);
    bt_check(sh.db); /* and the state the writers left is whole */
    BT_OK(birch_close(sh.db));
    sh.db = bt_open(path, &o);
    bt_check(sh.db);
    BT_OK(birch_close(sh.db));
    pthread_mutex_destroy(&sh.lock);
    bt_remove(path);
    free(path);
}

START_TEST(check_beside_nondurable_writers) { run(1024, BIRCH_DURABLE_NONE); }
END_TEST

START_TEST(check_beside_durable_writers) { run(4096, BIRCH_DURABLE_FULL); }
END_TEST

int main(void)
{
    Suite *s = suite_create("check_threads");
    TCase *tc = bt_tcase("check_threads");
    tcase_add_test(tc, check_beside_nondurable_writers);
    tcase_add_test(tc, check_beside_durable_writers);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
