/*
 * test_typed_threads.c - guards and paged streams taken with txn NULL on
 * many threads while a writer commits (also run under TSan).
 *
 * The writer commits versions 1, 2, ...: version v gives every key k a pod
 * value derived from (k, v), or deletes it when (k + v) % 7 == 0.  Before
 * each commit it publishes "committing = v", after it "committed = v".  A
 * reader's guard must hold a whole version between the committed version
 * it saw before the get and the committing one it sees after, byte for
 * byte, and keep it unchanged while the writer goes on.  Paged readers
 * resume each page on a fresh snapshot and must see every key that exists
 * throughout (the stable ones) exactly once, in order.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

typedef struct Val {
    uint64_t key;
    uint64_t version;
    uint64_t words[6];
} Val;
BIRCH_POD_FORMAT(val_fmt, Val, 1);

enum { NK = 256, READERS = 6, VERSIONS = 300, HOLD = 8 };

static Val mk_val(uint64_t k, uint64_t v)
{
    Val x;
    memset(&x, 0, sizeof x);
    x.key = k;
    x.version = v;
    for (int i = 0; i < 6; i++) x.words[i] = bt_mix(k * 1000003u + v * 31 + (uint64_t)i);
    return x;
}
/* Keys that come and go; the others (stable) exist in every version. */
static int volatile_key(uint64_t k) { return k % 3 == 1; }
static int present(uint64_t k, uint64_t v) { return !volatile_key(k) || (k + v) % 7 != 0; }

typedef struct shared {
    birch_db *db;
    birch_typed t;
    atomic_uint_fast64_t committed, committing;
    atomic_int stop;
    atomic_long guards, pages;
    char err[512];
    atomic_int failed;
} shared;

static void tfail(shared *sh, const char *fmt, ...)
{
    if (atomic_exchange(&sh->failed, 1)) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sh->err, sizeof sh->err, fmt, ap);
    va_end(ap);
}

static void *writer(void *arg)
{
    shared *sh = arg;
    for (uint64_t v = 2; v <= VERSIONS && !atomic_load(&sh->failed); v++) {
        birch_txn *w;
        int rc = birch_txn_begin(sh->db, BIRCH_TXN_WRITE, &w);
        for (uint64_t k = 0; k < NK && rc == BIRCH_OK; k++) {
            if ((k + v) % 3 && v % 5) continue; /* most versions change a third of the keys */
            if (present(k, v)) {
                Val x = mk_val(k, v);
                rc = birch_typed_put(w, &sh->t, &k, &x, 0);
            } else {
                rc = birch_typed_delete(w, &sh->t, &k);
                rc = rc < 0 ? rc : 0;
            }
        }
        if (rc) {
            birch_txn_abort(w);
            tfail(sh, "writer: version %" PRIu64 ": %d", v, rc);
            break;
        }
        atomic_store(&sh->committing, v);
        rc = birch_txn_commit(w);
        if (rc) {
            tfail(sh, "writer: commit %" PRIu64 ": %d", v, rc);
            break;
        }
        atomic_store(&sh->committed, v);
    }
    atomic_store(&sh->stop, 1);
    return NULL;
}

/* The version key k holds at version v: the last version <= v that wrote k. */
static uint64_t last_write(uint64_t k, uint64_t v)
{
    for (; v > 1; v--)
        if ((k + v) % 3 == 0 || v % 5 == 0) return v;
    return 1;
}

/* Whether the guard's value is right for some version in [lo, hi]. */
static int guard_ok(uint64_t k, const birch_guard *g, uint64_t lo, uint64_t hi)
{
    if (g->bytes.size != sizeof(Val) || ((uintptr_t)g->view & 7)) return 0;
    const Val *x = g->view;
    for (uint64_t v = lo; v <= hi; v++) {
        uint64_t w = last_write(k, v);
        Val want = mk_val(k, w);
        if (present(k, w) && memcmp(x, &want, sizeof want) == 0) return 1;
    }
    return 0;
}

static void *reader(void *arg)
{
    shared *sh = arg;
    bt_rng rng = {bt_mix((uint64_t)(uintptr_t)&rng)};
    birch_guard held[HOLD];
    Val copy[HOLD];
    memset(held, 0, sizeof held);
    int nheld = 0;
    while (!atomic_load(&sh->stop) && !atomic_load(&sh->failed)) {
        uint64_t k = bt_below(&rng, NK);
        uint64_t lo = atomic_load(&sh->committed);
        birch_guard g = {0};
        int rc = birch_typed_get(NULL, &sh->t, &k, &g);
        uint64_t hi = atomic_load(&sh->committing);
        if (hi < lo) hi = lo;
        if (rc == BIRCH_NOTFOUND) {
            int could_be_absent = 0;
            for (uint64_t v = lo; v <= hi; v++) could_be_absent |= !present(k, last_write(k, v));
            if (!could_be_absent) tfail(sh, "key %" PRIu64 " missing between versions %" PRIu64 "..%" PRIu64, k, lo, hi);
            continue;
        }
        if (rc) {
            tfail(sh, "get %" PRIu64 ": %d", k, rc);
            break;
        }
        if (!guard_ok(k, &g, lo, hi)) {
            tfail(sh, "key %" PRIu64 ": guard holds version %" PRIu64 ", not one of %" PRIu64 "..%" PRIu64, k,
                 ((const Val *)g.view)->version, lo, hi);
            birch_guard_release(&g);
            break;
        }
        atomic_fetch_add(&sh->guards, 1);
        /* Keep a few guards for a while; they must not change. */
        if (nheld == HOLD) {
            int j = (int)bt_below(&rng, HOLD);
            if (memcmp(held[j].view, &copy[j], sizeof(Val)) != 0) tfail(sh, "a held guard changed");
            birch_guard_release(&held[j]);
            held[j] = held[--nheld];
            copy[j] = copy[nheld];
        }
        memcpy(&copy[nheld], g.view, sizeof(Val));
        held[nheld++] = g;
    }
    for (int j = 0; j < nheld; j++) {
        if (memcmp(held[j].view, &copy[j], sizeof(Val)) != 0) tfail(sh, "a held guard changed");
        birch_guard_release(&held[j]);
    }
    return NULL;
}

/* Paged scans, each page on a fresh snapshot. */
static void *pager(void *arg)
{
    shared *sh = arg;
    int reverse = 0;
    while (!atomic_load(&sh->stop) && !atomic_load(&sh->failed)) {
        uint8_t seen[NK];
        memset(seen, 0, sizeof seen);
        uint8_t rk[16];
        size_t rl = 0;
        int have = 0, first = 1;
        uint64_t prev = 0;
        for (;;) {
            birch_stream_opts o;
            memset(&o, 0, sizeof o);
            o.reverse = reverse;
            o.limit = 9;
            if (have) o.resume = rk, o.resume_len = rl;
            birch_stream *s;
            int rc = birch_stream_open(NULL, &sh->t, &o, &s);
            if (rc) {
                tfail(sh, "stream_open: %d", rc);
                return NULL;
            }
            birch_item it;
            uint64_t got = 0;
            while ((rc = birch_stream_next(s, &it)) == BIRCH_OK) {
                uint64_t k = *(const uint64_t *)it.key;
                const Val *x = it.view;
                if (k >= NK || seen[k] || (!first && (reverse ? k >= prev : k <= prev)) || x->key != k)
                    tfail(sh, "paged scan: key %" PRIu64 " after %" PRIu64 " (seen %d)", k, prev, k < NK ? seen[k] : -1);
                if (k < NK) seen[k] = 1;
                prev = k;
                first = 0;
                got++;
            }
            if (rc != BIRCH_NOTFOUND) tfail(sh, "stream_next: %d", rc);
            if (got) {
                birch_stream_resume_key(s, rk, sizeof rk, &rl);
                have = 1;
            }
            birch_stream_close(s);
            atomic_fetch_add(&sh->pages, 1);
            if (got < 9 || atomic_load(&sh->failed)) break;
        }
        for (uint64_t k = 0; k < NK; k++)
            if (!volatile_key(k) && !seen[k]) tfail(sh, "paged scan missed stable key %" PRIu64, k);
        reverse = !reverse;
    }
    return NULL;
}

START_TEST(typed_guards_under_writer)
{
    shared *sh = calloc(1, sizeof *sh);
    char *path = bt_path("threads");
    birch_options o = bt_opts_fast();
    o.max_readers = 126;
    sh->db = bt_open(path, &o);
    BT_OK(birch_typed_open(sh->db, NULL, "vals", &birch_key_u64, &val_fmt, BIRCH_CREATE, &sh->t));
    birch_txn *w = bt_begin(sh->db, BIRCH_TXN_WRITE);
    for (uint64_t k = 0; k < NK; k++) {
        if (!present(k, 1)) continue;
        Val x = mk_val(k, 1);
        BT_OK(birch_typed_put(w, &sh->t, &k, &x, 0));
    }
    atomic_store(&sh->committing, 1);
    BT_OK(birch_txn_commit(w));
    atomic_store(&sh->committed, 1);

    pthread_t rt[READERS], pt[2], wt;
    for (int i = 0; i < READERS; i++) ck_assert_int_eq(pthread_create(&rt[i], NULL, reader, sh), 0);
    for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_create(&pt[i], NULL, pager, sh), 0);
    ck_assert_int_eq(pthread_create(&wt, NULL, writer, sh), 0);
    pthread_join(wt, NULL);
    for (int i = 0; i < READERS; i++) pthread_join(rt[i], NULL);
    for (int i = 0; i < 2; i++) pthread_join(pt[i], NULL);
    ck_assert_msg(!atomic_load(&sh->failed), "%s", sh->err);
    fprintf(stderr, "test_typed_threads: %ld guards, %ld pages, %" PRIu64 " versions\n", atomic_load(&sh->guards),
            atomic_load(&sh->pages), (uint64_t)atomic_load(&sh->committed));
    ck_assert_int_gt(atomic_load(&sh->guards), 0);
    bt_check(sh->db);
    BT_OK(birch_close(sh->db)); /* every guard released */
    free(path);
    free(sh);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("typed_threads");
    TCase *tc = bt_tcase("guards");
    tcase_add_test(tc, typed_guards_under_writer);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
