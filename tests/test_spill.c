/*
 * test_spill.c - transactions larger than their dirty budget (issue 12,
 * item 3): dirty leaves and overflow runs are written to the file before
 * the commit (engine/spill.c) and read, changed and freed again.
 *
 *   model:     one transaction with the minimum budget (1 MiB) writes
 *              ~50 MiB (BIRCH_SPILL_MB) of random records, small and
 *              overflow values, overwriting, deleting and reading keys it
 *              wrote before (so spilled pages are read and changed), a
 *              cursor scan now and then; compared with a sorted-array
 *              model before the commit, after it, and after a reopen;
 *              birch_check.  On a file and on the memory backend.
 *   abort:     a spilled transaction aborted: the committed state is
 *              unchanged and passes birch_check, also after a reopen, and
 *              the next transaction reuses the pages that held garbage.
 *   memory:    a 256 MiB transaction with a 16 MiB budget (2 GiB with
 *              64 MiB when BIRCH_SPILL_BIG=1): the growth of the process's
 *              anonymous memory (RssAnon, sampled every 2,048 puts) stays
 *              under 96 MiB (256 MiB); sizes, times and both the anonymous
 *              and the total RSS (VmHWM) are printed.  VmHWM is not bounded:
 *              it counts the map's file pages the transaction read back
 *              (spilled leaves found again), which the kernel may reclaim
 *              but which stay resident until it does (docs/DESIGN.md 3.6).
 *              Outside ASan only (its quarantine keeps freed memory).
 *   lent:      a value read from a dirty overflow run is the argument of
 *              the put whose start spills that run: the put still reads
 *              it whole (the buffer is freed when the put ends).
 *   cursor:    a cursor on a dirty leaf, then a del that spills it and
 *              finds nothing (so the B+tree changes nothing): the cursor
 *              finds its place again, never reading the freed leaf.
 *              These two are sharpest under ASan (use after free).
 *   budget:    the option's range (0, below 1 MiB, the minimum) and its
 *              default.
 * The crash cases (kill, power loss) are in test_kill.c and
 * test_powerloss.c.  Randomized tests print their seed (BIRCH_SEED).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support.h"
#include "internal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The transaction behind a token (tests look at its spill counters). */
static birch_txn *real_txn(birch_txn *tok)
{
    birch_txn *t = tok;
    BT_OK(bi_txn_use(&t));
    return t;
}

/* Every record of t equals the model, by a cursor scan. */
static void scan_equals(birch_txn *txn, birch_table *t, const bt_model *m, const char *ctx)
{
    birch_cursor *cur;
    BT_OK(birch_cursor_open(txn, t, &cur));
    size_t i = 0;
    for (int rc = birch_cursor_first(cur); rc != BIRCH_NOTFOUND; rc = birch_cursor_next(cur), i++) {
        ck_assert_msg(rc == BIRCH_OK, "%s: cursor move %zu: %s (%s)", ctx, i, birch_strerror(rc), birch_errmsg());
        birch_val k, v;
        BT_OK(birch_cursor_get(cur, &k, &v));
        ck_assert_msg(i < m->n, "%s: more records than the model's %zu", ctx, m->n);
        const bt_item *it = m->v[i];
        ck_assert_msg(k.size == it->klen && memcmp(k.data, it->key, k.size) == 0, "%s: key %zu differs", ctx, i);
        ck_assert_msg(v.size == it->vlen && memcmp(v.data, it->val, v.size) == 0,
                      "%s: value %zu differs (%zu bytes, model %zu)", ctx, i, v.size, it->vlen);
    }
    ck_assert_msg(i == m->n, "%s: %zu records, model %zu", ctx, i, m->n);
    birch_cursor_close(cur);
}

typedef struct model_run {
    uint64_t seed;
    uint64_t bytes;      /* written so far */
    uint64_t peak_dirty; /* the most dirty bytes held in memory after a change */
    long puts, dels, gets, steps, scans;
} model_run;

/* A step of a cursor that lives across the transaction's changes (and
 * spills, which free the buffers its path names): the record it lands on
 * is the model's. */
static void cursor_step(birch_cursor *cur, const bt_model *m, const char *ctx)
{
    int rc = birch_cursor_next(cur);
    if (rc == BIRCH_NOTFOUND) rc = birch_cursor_first(cur);
    if (rc == BIRCH_NOTFOUND && m->n == 0) return;
    ck_assert_msg(rc == BIRCH_OK, "%s: cursor step: %s (%s)", ctx, birch_strerror(rc), birch_errmsg());
    birch_val k, v;
    BT_OK(birch_cursor_get(cur, &k, &v));
    const bt_item *it = bt_model_get(m, k.data, k.size);
    ck_assert_msg(it != NULL, "%s: the cursor found a key the model does not hold", ctx);
    ck_assert_msg(v.size == it->vlen && memcmp(v.data, it->val, v.size) == 0, "%s: cursor value differs", ctx);
}

/* Random operations until target bytes are written; key space nkeys. */
static void model_ops(birch_txn *txn, birch_table *t, bt_model *m, model_run *r, uint64_t target,
                      unsigned nkeys, uint8_t *vbuf)
{
    bt_rng rng = {r->seed};
    birch_txn *real = real_txn(txn);
    char ctx[128];
    birch_cursor *cur;
    BT_OK(birch_cursor_open(txn, t, &cur));
    while (r->bytes < target) {
        char key[24];
        size_t kn = (size_t)snprintf(key, sizeof key, "k%08u", (unsigned)bt_below(&rng, nkeys));
        unsigned op = (unsigned)bt_below(&rng, 100);
        snprintf(ctx, sizeof ctx, "seed=%" PRIu64 " op %ld", r->seed, r->puts + r->dels + r->gets + r->steps);
        if (op < 60) {
            size_t vn = bt_chance(&rng, 20) ? bt_range(&rng, 3000, 40000) : bt_range(&rng, 0, 300);
            bt_fill(&rng, vbuf, vn);
            BT_OK(birch_put(txn, t, bt_val(key, kn), bt_val(vbuf, vn), 0));
            bt_model_put(m, key, kn, vbuf, vn);
            r->bytes += kn + vn;
            r->puts++;
        } else if (op < 75) {
            int had = bt_model_del(m, key, kn);
            BT_RC(birch_del(txn, t, bt_val(key, kn)), had ? BIRCH_OK : BIRCH_NOTFOUND);
            r->dels++;
        } else if (op < 89) {
            const bt_item *it = bt_model_get(m, key, kn);
            birch_val v;
            if (!it) {
                BT_RC(birch_get(txn, t, bt_val(key, kn), &v), BIRCH_NOTFOUND);
            } else {
                BT_OK(birch_get(txn, t, bt_val(key, kn), &v));
                ck_assert_msg(v.size == it->vlen && memcmp(v.data, it->val, v.size) == 0, "%s: get differs", ctx);
                /* The value read is the next put's argument (lent pointer):
                 * the spill at its start must not free it under the put. */
                if (bt_chance(&rng, 30) && v.size) {
                    char k2[24];
                    size_t k2n = (size_t)snprintf(k2, sizeof k2, "k%08u", (unsigned)bt_below(&rng, nkeys));
                    bt_model_put(m, k2, k2n, v.data, v.size); /* copies v first */
                    BT_OK(birch_put(txn, t, bt_val(k2, k2n), v, 0));
                    r->bytes += k2n + v.size;
                    r->puts++;
                }
            }
            r->gets++;
        } else if (op < 99) {
            cursor_step(cur, m, ctx);
            r->steps++;
        } else {
            scan_equals(txn, t, m, ctx);
            r->scans++;
        }
        if (real->dirty_bytes > r->peak_dirty) r->peak_dirty = real->dirty_bytes;
    }
    birch_cursor_close(cur);
}

static void model_case(int backend, uint64_t dflt_seed)
{
    uint64_t seed = bt_seed(dflt_seed);
    uint64_t mb = bt_env_u64("BIRCH_SPILL_MB", 50);
    const char *name = backend == BIRCH_BACKEND_MEMORY ? "memory" : "file";
    char *path = bt_path("spill-model");
    birch_options o = bt_opts();
    o.dirty_budget = BIRCH_MIN_DIRTY_BUDGET;
    o.backend = backend;
    if (backend == BIRCH_BACKEND_MEMORY) o.max_size = 1ull << 30;
    birch_db *db = bt_open(path, &o);
    uint8_t *vbuf = malloc(40000);
    ck_assert_ptr_nonnull(vbuf);
    bt_model m;
    bt_model_init(&m);
    model_run r = {seed, 0, 0, 0, 0, 0, 0, 0};
    double t0 = now_s();
    birch_txn *txn = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(txn, "t", BIRCH_CREATE);
    model_ops(txn, t, &m, &r, mb << 20, 6000, vbuf);
    birch_txn *real = real_txn(txn);
    uint64_t spilled = real->spilled;
    scan_equals(txn, t, &m, "before the commit");
    BT_OK(birch_txn_commit(txn));
    double t1 = now_s();
    printf("spill model (%s) seed=%" PRIu64 ": %" PRIu64 " MiB written in one transaction (%ld puts, %ld dels, "
           "%ld gets, %ld cursor steps, %ld scans), %zu records, %" PRIu64 " pages spilled, peak dirty %.2f MiB (budget 1 MiB), "
           "%.2f s\n",
           name, seed, r.bytes >> 20, r.puts, r.dels, r.gets, r.steps, r.scans, m.n, spilled, r.peak_dirty / 1048576.0,
           t1 - t0);
    fflush(stdout);
    ck_assert_msg(spilled > 1000, "only %" PRIu64 " pages spilled", spilled);
    /* A change adds at most its value's run and a split path to what the
     * spill at its start left (half the budget). */
    ck_assert_msg(r.peak_dirty <= BIRCH_MIN_DIRTY_BUDGET + 256 * 1024, "peak dirty %" PRIu64 " bytes",
                  r.peak_dirty);
    birch_txn *rd = bt_begin(db, BIRCH_TXN_READ);
    scan_equals(rd, bt_table(rd, "t", 0), &m, "after the commit");
    birch_txn_abort(rd);
    bt_check(db);
    if (backend == BIRCH_BACKEND_FILE) {
        db = bt_reopen(db, path, &o);
        rd = bt_begin(db, BIRCH_TXN_READ);
        scan_equals(rd, bt_table(rd, "t", 0), &m, "after the reopen");
        birch_txn_abort(rd);
    }
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
    free(vbuf);
    bt_model_free(&m);
}

START_TEST(model_file) { model_case(BIRCH_BACKEND_FILE, 0x5B111); }
END_TEST

START_TEST(model_memory) { model_case(BIRCH_BACKEND_MEMORY, 0x5B112); }
END_TEST

START_TEST(abort_after_spill)
{
    uint64_t seed = bt_seed(0x5B113);
    char *path = bt_path("spill-abort");
    birch_options o = bt_opts();
    o.dirty_budget = BIRCH_MIN_DIRTY_BUDGET;
    birch_db *db = bt_open(path, &o);
    uint8_t *vbuf = malloc(40000);
    ck_assert_ptr_nonnull(vbuf);
    bt_model m;
    bt_model_init(&m);
    model_run r = {seed, 0, 0, 0, 0, 0, 0, 0};
    birch_txn *txn = bt_begin(db, BIRCH_TXN_WRITE);
    model_ops(txn, bt_table(txn, "t", BIRCH_CREATE), &m, &r, 2u << 20, 3000, vbuf);
    BT_OK(birch_txn_commit(txn));
    birch_stat before = bt_stat(db);

    /* Overwrites and deletes of committed keys, spilled, then aborted. */
    bt_model scratch;
    bt_model_init(&scratch);
    bt_model_copy(&scratch, &m);
    model_run r2 = {seed + 1, 0, 0, 0, 0, 0, 0, 0};
    txn = bt_begin(db, BIRCH_TXN_WRITE);
    model_ops(txn, bt_table(txn, "t", 0), &scratch, &r2, 12u << 20, 3000, vbuf);
    uint64_t spilled = real_txn(txn)->spilled;
    birch_txn_abort(txn);
    printf("spill abort seed=%" PRIu64 ": %" PRIu64 " pages spilled, then aborted; file %" PRIu64 " pages\n", seed,
           spilled, bt_stat(db).page_count);
    fflush(stdout);
    ck_assert_msg(spilled > 500, "only %" PRIu64 " pages spilled", spilled);
    ck_assert_uint_eq(bt_stat(db).page_count, before.page_count);
    birch_txn *rd = bt_begin(db, BIRCH_TXN_READ);
    scan_equals(rd, bt_table(rd, "t", 0), &m, "after the abort");
    birch_txn_abort(rd);
    bt_check(db);
    db = bt_reopen(db, path, &o);
    rd = bt_begin(db, BIRCH_TXN_READ);
    scan_equals(rd, bt_table(rd, "t", 0), &m, "after the abort and a reopen");
    birch_txn_abort(rd);

    /* The next transaction spills into the same pages and commits. */
    r2.bytes = 0;
    txn = bt_begin(db, BIRCH_TXN_WRITE);
    model_ops(txn, bt_table(txn, "t", 0), &m, &r2, 6u << 20, 3000, vbuf);
    BT_OK(birch_txn_commit(txn));
    db = bt_reopen(db, path, &o);
    rd = bt_begin(db, BIRCH_TXN_READ);
    scan_equals(rd, bt_table(rd, "t", 0), &m, "after the next commit");
    birch_txn_abort(rd);
    BT_OK(birch_close(db));
    bt_model_free(&scratch);
    bt_model_free(&m);
    bt_remove(path);
    free(path);
    free(vbuf);
}
END_TEST

/* A field of /proc/self/status in KiB (VmHWM, RssAnon...). */
static uint64_t status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    uint64_t v = 0;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') v = strtoull(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

/* Record i of the memory test: a random 16-byte key, 1-3 KB of pattern
 * (every 16th a 9 KB overflow value). */
static size_t big_record(uint64_t seed, uint64_t i, uint8_t key[16], uint8_t *val)
{
    bt_rng r = {bt_mix(seed ^ i)};
    for (int j = 0; j < 2; j++) {
        uint64_t x = bt_rand(&r);
        memcpy(key + 8 * j, &x, 8);
    }
    size_t vn = i % 16 == 0 ? 9000 : (size_t)bt_range(&r, 1000, 3000);
    bt_pattern(val, vn, seed + i);
    return vn;
}

START_TEST(memory_bounded)
{
    int big = bt_env_u64("BIRCH_SPILL_BIG", 0) != 0;
    uint64_t total = big ? 2048ull << 20 : 256ull << 20;
    uint64_t budget = big ? 64ull << 20 : 16ull << 20;
    uint64_t bound = big ? 256ull << 20 : 96ull << 20;
    uint64_t seed = bt_seed(0x5B114);
    char *path = bt_path("spill-memory");
    birch_options o = bt_opts();
    o.dirty_budget = budget;
    o.map_reserve = 4ull << 30;
    birch_db *db = bt_open(path, &o);
    uint8_t key[16], val[9000];
    uint64_t hwm0 = status_kib("VmHWM"), anon0 = status_kib("RssAnon"), anon_peak = anon0;
    double t0 = now_s();
    birch_txn *txn = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(txn, "t", BIRCH_CREATE);
    uint64_t n = 0, bytes = 0;
    while (bytes < total) {
        size_t vn = big_record(seed, n++, key, val);
        BT_OK(birch_put(txn, t, bt_val(key, 16), bt_val(val, vn), 0));
        bytes += 16 + vn;
        if (n % 2048 == 0) {
            uint64_t a = status_kib("RssAnon");
            if (a > anon_peak) anon_peak = a;
        }
    }
    uint64_t spilled = real_txn(txn)->spilled;
    double t1 = now_s();
    BT_OK(birch_txn_commit(txn));
    double t2 = now_s();
    uint64_t a = status_kib("RssAnon");
    if (a > anon_peak) anon_peak = a;
    uint64_t hwm1 = status_kib("VmHWM");
    birch_stat st = bt_stat(db);
    printf("spill memory seed=%" PRIu64 ": %" PRIu64 " MiB in %" PRIu64 " records, one transaction, budget %" PRIu64
           " MiB: puts %.1f s, commit %.2f s, %" PRIu64 " pages spilled, file %.0f MiB; anonymous memory peak "
           "+%.1f MiB (bound %" PRIu64 " MiB), VmHWM +%.1f MiB (it counts the map's file pages too)\n",
           seed, bytes >> 20, n, budget >> 20, t1 - t0, t2 - t1, spilled,
           (double)st.page_count * st.page_size / 1048576.0, (anon_peak - anon0) / 1024.0, bound >> 20,
           (hwm1 - hwm0) / 1024.0);
    fflush(stdout);
    if (!bt_asan()) /* ASan's quarantine keeps freed memory: the bound is then printed, not asserted */
        ck_assert_msg((anon_peak - anon0) * 1024 < bound, "anonymous memory grew by %" PRIu64 " KiB",
                      anon_peak - anon0);
    ck_assert_msg(spilled * st.page_size > total / 2, "only %" PRIu64 " pages spilled", spilled);
    /* Every record is there (a sample read back, the count whole). */
    txn = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(txn, "t", 0);
    ck_assert_uint_eq(bt_count(txn, t), n); /* random 128-bit keys: no repeats */
    for (uint64_t i = 0; i < n; i += 97) {
        size_t vn = big_record(seed, i, key, val);
        bt_expect(txn, t, key, 16, val, vn);
    }
    birch_txn_abort(txn);
    if (!big) bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* A fresh transaction with the minimum budget, filled until its dirty
 * pages pass the budget; the next change spills. */
static birch_txn *over_budget(birch_db *db, birch_table **t, int big, long *n)
{
    birch_txn *txn = bt_begin(db, BIRCH_TXN_WRITE);
    *t = bt_table(txn, "t", BIRCH_CREATE);
    birch_txn *real = real_txn(txn);
    static uint8_t val[40000];
    for (*n = 0; real->dirty_bytes <= BIRCH_MIN_DIRTY_BUDGET; (*n)++) {
        char key[24];
        size_t kn = (size_t)snprintf(key, sizeof key, "k%08ld", *n);
        size_t vn = big ? sizeof val : 100;
        bt_pattern(val, vn, (uint64_t)*n);
        BT_OK(birch_put(txn, *t, bt_val(key, kn), bt_val(val, vn), 0));
    }
    ck_assert_uint_eq(real->spilled, 0);
    return txn;
}

START_TEST(lent_argument)
{
    char *path = bt_path("spill-lent");
    birch_options o = bt_opts();
    o.dirty_budget = BIRCH_MIN_DIRTY_BUDGET;
    birch_db *db = bt_open(path, &o);
    birch_table *t;
    long n;
    birch_txn *txn = over_budget(db, &t, 1, &n);
    birch_val v;
    BT_OK(birch_get(txn, t, bt_str("k00000000"), &v)); /* the first run: the lowest page, spilled first */
    BT_OK(birch_put(txn, t, bt_str("copy"), v, 0));
    ck_assert_uint_gt(real_txn(txn)->spilled, 0);
    BT_OK(birch_get(txn, t, bt_str("copy"), &v));
    ck_assert_int_eq(bt_pattern_diff(v.data, v.size, 0), -1);
    BT_OK(birch_get(txn, t, bt_str("k00000000"), &v)); /* now from the file */
    ck_assert_int_eq(bt_pattern_diff(v.data, v.size, 0), -1);
    BT_OK(birch_txn_commit(txn));
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

START_TEST(cursor_across_spill)
{
    char *path = bt_path("spill-cursor");
    birch_options o = bt_opts();
    o.dirty_budget = BIRCH_MIN_DIRTY_BUDGET;
    birch_db *db = bt_open(path, &o);
    birch_table *t;
    long n;
    birch_txn *txn = over_budget(db, &t, 0, &n);
    birch_cursor *cur;
    BT_OK(birch_cursor_open(txn, t, &cur));
    BT_OK(birch_cursor_first(cur)); /* the leftmost leaf: among the lowest pages */
    BT_RC(birch_del(txn, t, bt_str("absent")), BIRCH_NOTFOUND); /* spills, changes nothing */
    ck_assert_uint_gt(real_txn(txn)->spilled, 0);
    uint8_t want[100];
    bt_pattern(want, sizeof want, 0);
    birch_val k, v;
    BT_OK(birch_cursor_get(cur, &k, &v));
    ck_assert(k.size == 9 && memcmp(k.data, "k00000000", 9) == 0);
    ck_assert(v.size == sizeof want && memcmp(v.data, want, sizeof want) == 0);
    BT_OK(birch_cursor_next(cur));
    BT_OK(birch_cursor_get(cur, &k, NULL));
    ck_assert(k.size == 9 && memcmp(k.data, "k00000001", 9) == 0);
    birch_cursor_close(cur);
    BT_OK(birch_txn_commit(txn));
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

START_TEST(budget_option)
{
    birch_options o;
    birch_options_init(&o);
    ck_assert_uint_eq(o.dirty_budget, BIRCH_DEFAULT_DIRTY_BUDGET);
    ck_assert_uint_eq(BIRCH_DEFAULT_DIRTY_BUDGET, 256ull << 20);
    char *path = bt_path("spill-option");
    birch_db *db = NULL;
    o.dirty_budget = BIRCH_MIN_DIRTY_BUDGET - 1;
    BT_RC(birch_open(path, &o, &db), BIRCH_EINVAL);
    BT_ERRMSG_HAS("dirty_budget");
    o.dirty_budget = 0; /* the default */
    db = bt_open(path, &o);
    ck_assert_uint_eq(db->dirty_budget, BIRCH_DEFAULT_DIRTY_BUDGET);
    BT_OK(birch_close(db));
    o.dirty_budget = BIRCH_MIN_DIRTY_BUDGET;
    db = bt_open(path, &o);
    ck_assert_uint_eq(db->dirty_budget, BIRCH_MIN_DIRTY_BUDGET);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("spill");
    bt_add_case(s, "budget", budget_option);
    bt_add_case(s, "model_file", model_file);
    bt_add_case(s, "model_memory", model_memory);
    bt_add_case(s, "abort", abort_after_spill);
    bt_add_case(s, "lent", lent_argument);
    bt_add_case(s, "cursor", cursor_across_spill);
    bt_add_case(s, "memory", memory_bounded);
    return bt_run(s);
}
