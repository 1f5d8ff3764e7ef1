/*
 * test_space.c - the file stays flat (issue 12, "Tests"): workloads that
 * keep the amount of live data constant must keep the file constant too,
 * once the free space has reached its working level.  Each scenario prints
 * its sizes in MiB and pages (ctest -V shows them) and asserts a bound
 * whose comment says why it holds for an allocator that reuses every page
 * no snapshot can see, and how far a leaking one misses it.
 *
 * Written against the public API only: the file's size as stat(2) sees it
 * (what a user pays for), and birch_stat's page_count and free_pages (the
 * state inside it, printed to show where the space went).  The bounds are
 * on the file; only the long-reader case bounds the state as well.
 *
 * Randomized cases take their seed from $BIRCH_SEED (default fixed per
 * case) and print it in every line and failure message.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support.h"

/* The working set of the churn measurements: 1,000 keys of 16
 * bytes with 100-byte values. */
enum { NKEYS = 1000, KLEN = 16, VLEN = 100 };

/* ---- Measuring ---------------------------------------------------------- */

/* One measurement of a database's space. */
typedef struct sp_size {
    uint64_t bytes; /* the file's size, stat(2) */
    uint64_t state; /* birch_stat page_count: pages of the committed state */
    uint64_t free;  /* birch_stat free_pages */
    uint32_t ps;    /* page size */
} sp_size;

/* A scenario in progress: its name and seed go into every line printed
 * and every failure message. */
typedef struct sp_run {
    const char *name;
    uint64_t seed;
    bt_rng r;
    char *path;
    birch_db *db;
    birch_table *t;
    uint64_t commits; /* one-put commits since the load */
    struct timespec t0;
} sp_run;

static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

static double elapsed(const sp_run *run)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - run->t0.tv_sec) + (double)(now.tv_nsec - run->t0.tv_nsec) / 1e9;
}

static sp_size measure(const sp_run *run)
{
    birch_stat st = bt_stat(run->db);
    sp_size s;
    s.bytes = bt_file_size(run->path);
    s.state = st.page_count;
    s.free = st.free_pages;
    s.ps = st.page_size;
    return s;
}

/* "4.00 MiB = 1024 pages (state 1000 pages, 900 free)" into buf. */
static const char *describe(sp_size s, char *buf, size_t n)
{
    snprintf(buf, n, "%.2f MiB = %" PRIu64 " pages (state %" PRIu64 " pages = %.2f MiB, %" PRIu64 " free)",
             mib(s.bytes), s.bytes / s.ps, s.state, mib(s.state * s.ps), s.free);
    return buf;
}

/* Prints a measurement (stdout is flushed: Check runs each case in a child
 * process that may end in an assertion). */
static sp_size report(const sp_run *run, const char *when)
{
    sp_size s = measure(run);
    char d[160];
    printf("space %s (seed %" PRIu64 "): %s: file %s [%.1f s]\n", run->name, run->seed, when, describe(s, d, sizeof d),
           elapsed(run));
    fflush(stdout);
    return s;
}

/* The file at `now` is at most num/den times its size at `base`. */
static void assert_within(const sp_run *run, sp_size base, const char *base_when, sp_size now, const char *now_when,
                          unsigned num, unsigned den)
{
    char b[160], n[160];
    ck_assert_msg(now.bytes * den <= base.bytes * num,
                  "%s (seed %" PRIu64 "): the file grew %.3fx, bound %.2fx: %s %s, %s %s", run->name, run->seed,
                  (double)now.bytes / (double)base.bytes, (double)num / den, base_when, describe(base, b, sizeof b),
                  now_when, describe(now, n, sizeof n));
}

/* ---- Setting up and churning ------------------------------------------- */

static void start(sp_run *run, const char *name, uint64_t dflt_seed, int durability)
{
    memset(run, 0, sizeof *run);
    run->name = name;
    run->seed = bt_seed(dflt_seed);
    run->r.s = run->seed;
    run->path = bt_path(name);
    birch_options o = bt_opts();
    o.durability = durability;
    run->db = bt_open(run->path, &o);
    clock_gettime(CLOCK_MONOTONIC, &run->t0);
}

/* birch_check passes (issue 12: after each scenario), then close. */
static void finish(sp_run *run)
{
    bt_check(run->db);
    BT_OK(birch_close(run->db));
    bt_remove(run->path);
    free(run->path);
    printf("space %s (seed %" PRIu64 "): done in %.1f s\n", run->name, run->seed, elapsed(run));
    fflush(stdout);
}

/* Key i: exactly KLEN bytes. */
static void key_of(int i, char k[KLEN + 1]) { snprintf(k, KLEN + 1, "key-%012d", i); }

/* Puts keys 0..n-1 with random VLEN-byte values into table "t" (creating
 * it) in one commit. */
static void load(sp_run *run, int n)
{
    birch_txn *w = bt_begin(run->db, BIRCH_TXN_WRITE);
    run->t = bt_table(w, "t", BIRCH_CREATE);
    char k[KLEN + 1];
    unsigned char v[VLEN];
    for (int i = 0; i < n; i++) {
        key_of(i, k);
        bt_fill(&run->r, v, VLEN);
        bt_put(w, run->t, k, KLEN, v, VLEN);
    }
    BT_OK(birch_txn_commit(w));
}

/* n commits, each overwriting one random key of the NKEYS with a new
 * random value (the live data never changes size). */
static void churn(sp_run *run, int n)
{
    char k[KLEN + 1];
    unsigned char v[VLEN];
    for (int c = 0; c < n; c++) {
        birch_txn *w = bt_begin(run->db, BIRCH_TXN_WRITE);
        key_of((int)bt_below(&run->r, NKEYS), k);
        bt_fill(&run->r, v, VLEN);
        bt_put(w, run->t, k, KLEN, v, VLEN);
        BT_OK(birch_txn_commit(w));
    }
    run->commits += (uint64_t)n;
}

/* Churns up to `total` commits, reporting every `every`. */
static sp_size churn_to(sp_run *run, uint64_t total, uint64_t every)
{
    sp_size s = measure(run);
    while (run->commits < total) {
        uint64_t n = total - run->commits < every ? total - run->commits : every;
        churn(run, (int)n);
        char when[64];
        snprintf(when, sizeof when, "after %" PRIu64 " commits", run->commits);
        s = report(run, when);
    }
    return s;
}

/* ---- The scenarios ------------------------------------------------------ */

/*
 * 100,000 one-put commits with BIRCH_DURABLE_NONE on the 1,000-key set.
 *
 * The bound, 1.25x the file after 20,000 commits: by then every key has
 * been rewritten 20 times and every page of the tree many more, so the
 * free space has reached its working level (the live tree plus the pages
 * that wait for a checkpoint or for the next commit); the next 80,000
 * commits change nothing about that, so a flat allocator does not grow the
 * file at all.  The quarter leaves room for one growth step in proportion
 * to the file (an eighth of it, at least 16 pages) and for checkpoint
 * timing, which moves the number of pages waiting for one.  The working
 * level includes the pages that wait for a checkpoint: after the first
 * one, the pages of the tree it made durable are freed by the next
 * commits but kept until the next checkpoint (about a second later), so a
 * small tree doubles once.  A fast machine runs 20,000 commits before the
 * first timed checkpoint, so the test syncs at 10,000: the size after
 * 20,000 is then the working level on any machine.  A leak of a
 * page per commit adds 80,000 pages (312 MiB).  Measured before issue 12
 * (main at 393e935): 4.0 MiB at 20,000 commits, 59.4 MiB at 100,000 (the
 * issue measured 66.9), still growing.
 */
START_TEST(none_churn_stays_flat)
{
    sp_run run;
    start(&run, "none_churn", 1201, BIRCH_DURABLE_NONE);
    load(&run, NKEYS);
    churn_to(&run, 10000, 10000);
    BT_OK(birch_sync(run.db)); /* the first checkpoint, whatever the machine's speed (see above) */
    sp_size at20k = churn_to(&run, 20000, 10000);
    sp_size end = churn_to(&run, 100000, 20000);
    finish(&run);
    assert_within(&run, at20k, "after 20,000 commits", end, "after 100,000", 5, 4);
}
END_TEST

/*
 * 100,000 one-put commits with BIRCH_DURABLE_FULL on the 1,000-key set,
 * compared with the file after 20,000: the none_churn, durable.
 *
 * The bound, 1.25x, for the same reasons as none_churn: 20,000 commits
 * rewrite every key 20 times and every leaf of the ~40 many more times, so
 * the working level is reached; with FULL the pages a commit frees are
 * reusable from the next commit on (no reader, no checkpoint to wait for),
 * so that level is a few pages over the live tree.  Measured before issue
 * 12 (main at 393e935): a state of 217 pages in a 1 MiB file after 4,000
 * commits, then about 50 more pages per 1,000 commits, 1,023 pages in a
 * 4 MiB file after 20,000 (this case compared 20,000 with 4,000 until
 * issue 12's third session).  The time is printed: one fdatasync per
 * commit (23 s on an idle disk here).
 */
START_TEST(full_churn_stays_flat)
{
    sp_run run;
    start(&run, "full_churn", 1202, BIRCH_DURABLE_FULL);
    load(&run, NKEYS);
    sp_size at20k = churn_to(&run, 20000, 20000);
    sp_size end = churn_to(&run, 100000, 20000);
    finish(&run);
    assert_within(&run, at20k, "after 20,000 commits", end, "after 100,000", 5, 4);
}
END_TEST

enum { FILL = 2000, CYCLES = 100 };

/* Empties table "t" in one commit: every key deleted (even cycles) or the
 * table dropped (odd cycles). */
static void empty(sp_run *run, int cycle)
{
    birch_txn *w = bt_begin(run->db, BIRCH_TXN_WRITE);
    if (cycle % 2 == 0) {
        char k[KLEN + 1];
        for (int i = 0; i < FILL; i++) {
            key_of(i, k);
            BT_OK(birch_del(w, run->t, bt_val(k, KLEN)));
        }
        ck_assert_uint_eq(bt_count(w, run->t), 0);
    } else {
        BT_OK(birch_table_drop(w, "t"));
    }
    BT_OK(birch_txn_commit(w));
}

/*
 * 100 cycles of filling a table with 2,000 records in one commit and
 * emptying it in the next, alternately by deleting every key and by
 * dropping the table (BIRCH_DURABLE_FULL).
 *
 * The bound, 1.10x the file after cycle 5: each cycle leaves the database
 * as it found it (an empty catalog, everything else free), and the pages
 * one commit frees are reusable by the next, so after the first cycles
 * have brought the free space to one table's worth plus a commit's pages,
 * every fill finds all it needs there.  The tenth is slack for the order
 * in which free pages are handed out; a file growing in proportionate
 * steps grows by at least an eighth when it grows at all, so it must not
 * grow.  The committed state's pages must not grow either (3 pages of
 * slack).  Measured before issue 12 (main at 393e935): flat, 76 pages in a
 * 1 MiB file from cycle 5 to 100, so this case passes there and guards
 * the new allocator (the 4 pages per cycle is not reproduced with
 * 2,000 records per commit and FULL).
 */
static void fill_empty(const char *name, int durability)
{
    sp_run run;
    start(&run, name, 1203, durability);
    sp_size at5 = measure(&run), end = at5;
    for (int c = 1; c <= CYCLES; c++) {
        load(&run, FILL);
        empty(&run, c);
        if (c == 5 || c % 25 == 0) {
            char when[64];
            snprintf(when, sizeof when, "after cycle %d (%s)", c, c % 2 ? "drop" : "delete all");
            end = report(&run, when);
            if (c == 5) at5 = end;
        }
    }
    finish(&run);
    assert_within(&run, at5, "after cycle 5", end, "after cycle 100", 11, 10);
    /* The committed state too: after each cycle the database is empty, so
     * its pages are a few in use (catalog, free-space map) and the rest
     * free, and the same number each time (3 pages of slack). */
    char b[160], n[160];
    ck_assert_msg(end.state <= at5.state + 3 && end.state - end.free <= at5.state - at5.free + 3,
                  "%s (seed %" PRIu64 "): the state grew: after cycle 5 %s, after cycle 100 %s", run.name, run.seed,
                  describe(at5, b, sizeof b), describe(end, n, sizeof n));
}

/* Not with BIRCH_DURABLE_NONE: there the pages a cycle frees from the
 * durable state wait for a checkpoint, which comes after a second or after
 * max(npages / 4, 1,024) freed pages, so the size depends on the machine's
 * speed: 91 pages throughout on a quiet machine, 157-171 under the full
 * test run's load (a fast run never checkpoints and reuses everything).
 * The code before issue 12 crept there (77 -> 86 pages, the same workload
 * in a small program) but not with a birch_sync after each cycle, which
 * would make the case deterministic: nothing here told them apart. */
START_TEST(fill_empty_cycles_stay_flat) { fill_empty("fill_empty", BIRCH_DURABLE_FULL); }
END_TEST

/*
 * A reader open across 30,000 commits, then 30,000 more once it has ended
 * (BIRCH_DURABLE_NONE, 1,000-key set, 5,000 commits of warm-up).
 *
 * While the reader is open, the pages its snapshot holds cannot be reused,
 * and neither (with a free list kept per freeing commit, as LMDB's) can
 * any page freed after it began: the file may grow by about a commit's
 * pages per commit.  The reader then checks that it still sees its value.
 *
 * The bound once it has ended: no growth at all, neither of the file nor
 * of the state's page count.  At that point the file holds some 30,000
 * commits' worth of freed pages, all of them reusable (no snapshot can see
 * them; under NONE, the pages freed before the last checkpoint at once,
 * the others a checkpoint later, at most about a second), while a commit
 * needs a handful.  So not even one growth step can be needed: an
 * allocator that grows here is not reusing what the reader released.
 * Measured before issue 12 (main at 393e935): 1.0 GiB when the reader
 * ended (243,137 pages, 238,963 free), 1.24 GiB 30,000 commits later.
 */
START_TEST(space_after_long_reader_is_reused)
{
    sp_run run;
    start(&run, "long_reader", 1204, BIRCH_DURABLE_NONE);
    load(&run, NKEYS);
    churn_to(&run, 5000, 5000);

    birch_txn *reader = bt_begin(run.db, BIRCH_TXN_READ);
    char k[KLEN + 1];
    key_of(7, k);
    birch_val seen;
    BT_OK(birch_get(reader, run.t, bt_val(k, KLEN), &seen));
    ck_assert_uint_eq(seen.size, VLEN);
    unsigned char copy[VLEN];
    memcpy(copy, seen.data, VLEN);

    churn_to(&run, 35000, 10000);
    ck_assert_msg(memcmp(seen.data, copy, VLEN) == 0, "long_reader (seed %" PRIu64 "): the reader's value changed",
                  run.seed);
    bt_expect(reader, run.t, k, KLEN, copy, VLEN);
    birch_txn_abort(reader);
    sp_size ended = report(&run, "the reader ended");

    sp_size end = churn_to(&run, 65000, 10000);
    finish(&run);
    char b[160], n[160];
    ck_assert_msg(end.bytes <= ended.bytes && end.state <= ended.state,
                  "long_reader (seed %" PRIu64 "): 30,000 commits after the reader ended grew the %s: "
                  "when it ended %s, 30,000 commits later %s",
                  run.seed, end.bytes > ended.bytes ? "file" : "state", describe(ended, b, sizeof b),
                  describe(end, n, sizeof n));
}
END_TEST

enum { BIG_KEYS = 50, BIG_MIN = 5000, BIG_MAX = 200000, BIG_COMMITS = 5000, BIG_EVERY = 500 };

/* Puts BIG_KEYS values of random sizes into table "t" in one commit;
 * their sizes go to live[], their sum is returned. */
static uint64_t big_load(sp_run *run, const unsigned char *v, size_t live[BIG_KEYS])
{
    uint64_t total = 0;
    char k[32];
    birch_txn *w = bt_begin(run->db, BIRCH_TXN_WRITE);
    run->t = bt_table(w, "t", BIRCH_CREATE);
    for (int i = 0; i < BIG_KEYS; i++) {
        snprintf(k, sizeof k, "big%02d", i);
        live[i] = (size_t)bt_range(&run->r, BIG_MIN, BIG_MAX);
        total += live[i];
        bt_put(w, run->t, k, strlen(k), v, live[i]);
    }
    BT_OK(birch_txn_commit(w));
    return total;
}

/*
 * Overflow churn: 50 keys whose values are 5 KB to 200 KB (random sizes,
 * so runs of 2 to 49 pages), 5,000 commits each overwriting one of them
 * with a value of a new random size.  With BIRCH_DURABLE_NONE, birch_sync
 * every `sync_every` commits makes the checkpoints happen at the same
 * commits on every machine (the timed one, once a second, may add more,
 * which only makes more pages reusable sooner).
 *
 * The bound, 1.25x the file after the first 20% (1,000 commits, each key
 * rewritten 20 times on average): the live data is a sum of 50 random
 * sizes, about 5 MB with a standard deviation of about 0.4 MB (8%), and
 * 1,000 commits have seen it near its highs; with FULL a run is reusable
 * from the next commit on, with NONE once a checkpoint has followed, so
 * at worst every page of the durable state waits for one (about the live
 * data again), which the first two checkpoint intervals have seen too.
 * The quarter covers what the rest can add: the live data's higher peaks
 * over the longer run (a few percent), fragmentation among runs of mixed
 * lengths settling, and one growth step (an eighth of the file).  A leak
 * of one run per commit adds some 400 MB.  On main before issue 12, FULL
 * creeps by about 0.15 pages per commit (8.5 MiB after 1,000 commits,
 * 10.8 after 5,000, 13.7 after 10,000: 1.27x here, so it fails, but only
 * just; more commits would show it better, but every one costs a sync).
 */
static void overflow_churn(const char *name, uint64_t seed, int durability, int sync_every, int commits)
{
    sp_run run;
    start(&run, name, seed, durability);
    unsigned char *v = malloc(BIG_MAX);
    ck_assert_ptr_nonnull(v);
    bt_fill(&run.r, v, BIG_MAX);
    size_t live[BIG_KEYS];
    uint64_t live_total = big_load(&run, v, live), live_most = live_total;
    sp_size at20 = measure(&run), end = at20;
    char k[32];
    for (int c = 1; c <= commits; c++) {
        int i = (int)bt_below(&run.r, BIG_KEYS);
        size_t n = (size_t)bt_range(&run.r, BIG_MIN, BIG_MAX);
        v[0] = (unsigned char)c; /* a new value, not only a new size */
        birch_txn *w = bt_begin(run.db, BIRCH_TXN_WRITE);
        snprintf(k, sizeof k, "big%02d", i);
        bt_put(w, run.t, k, strlen(k), v, n);
        BT_OK(birch_txn_commit(w));
        live_total = live_total - live[i] + n;
        live[i] = n;
        if (live_total > live_most) live_most = live_total;
        if (sync_every && c % sync_every == 0) BT_OK(birch_sync(run.db));
        if (c % BIG_EVERY == 0) {
            char when[128];
            snprintf(when, sizeof when, "after %d commits (live values %.2f MiB, at most %.2f so far)", c,
                     mib(live_total), mib(live_most));
            end = report(&run, when);
            if (c == commits / 5) at20 = end;
        }
    }
    free(v);
    finish(&run);
    char first[64], last[64];
    snprintf(first, sizeof first, "after %d commits", commits / 5);
    snprintf(last, sizeof last, "after %d", commits);
    assert_within(&run, at20, first, end, last, 5, 4);
}

START_TEST(overflow_churn_full_stays_flat) { overflow_churn("overflow_full", 1205, BIRCH_DURABLE_FULL, 0, BIG_COMMITS); }
END_TEST

/* A checkpoint every 500 commits.  On main before issue 12 the file grows
 * by some 3 MiB per 1,000 commits from the first checkpoints on (without
 * the birch_sync calls the same happens from the first timed checkpoint
 * on, about a second into the run).  Twice the commits of the FULL case
 * (they cost no sync), measured from the first 20%: with NONE the pages
 * of the durable state wait for each checkpoint, and the free runs they
 * leave among runs of mixed lengths take a few thousand commits to settle
 * (measured with the allocator of issue 12, same workload: a state of
 * 2,806 pages after 1,000 commits, 3,163 after 5,000, 3,210 from 12,000
 * to 20,000). */
START_TEST(overflow_churn_none_stays_flat)
{
    overflow_churn("overflow_none", 1207, BIRCH_DURABLE_NONE, BIG_EVERY, 2 * BIG_COMMITS);
}
END_TEST

/*
 * A small database stays small: one table of 10 records (16-byte keys,
 * 100-byte values) is some 5 pages of state, and its file must be under
 * 256 KiB, both while open and after birch_close.  The issue asks for
 * growth steps in proportion to the file ("a small database stays small"):
 * an eighth of the file, at least 16 pages (pager.c, bi_pager_grow); before
 * issue 12 the step was at least 1 MiB, and this failed.
 */
/*
 * A transaction larger than its dirty budget (1 MiB, the minimum) loads
 * 60,000 records with random keys (about 12 MiB of leaves): most leaves
 * are spilled to the file, then changed again by later puts.  A spilled
 * page belongs to the transaction, so a change reads it back at its own
 * number (as LMDB unspills) and the commit writes it there again: the
 * load leaves no more free pages than a commit's run and the pages the
 * map's record and the growth step leave.  Bound: 1/64 of the pages in
 * use.  Copying each spilled page to a new one instead (birch at fbba2ad)
 * freed a page per touch: 275 of 4,378 pages free here (6%), and a
 * 1,000,000-record load in one transaction (default budget) left 4,589.
 */
START_TEST(spilled_load_leaves_no_holes)
{
    sp_run run;
    memset(&run, 0, sizeof run);
    run.name = "spilled_load";
    run.seed = bt_seed(1207);
    run.r.s = run.seed;
    run.path = bt_path("spilled_load");
    birch_options o = bt_opts();
    o.dirty_budget = 1u << 20;
    run.db = bt_open(run.path, &o);
    clock_gettime(CLOCK_MONOTONIC, &run.t0);
    birch_txn *w = bt_begin(run.db, BIRCH_TXN_WRITE);
    run.t = bt_table(w, "t", BIRCH_CREATE);
    unsigned char k[24], v[150];
    for (int i = 0; i < 60000; i++) {
        bt_fill(&run.r, k, sizeof k);
        bt_fill(&run.r, v, sizeof v);
        bt_put(w, run.t, k, sizeof k, v, sizeof v);
    }
    BT_OK(birch_txn_commit(w));
    sp_size end = report(&run, "after the load");
    uint64_t used = end.state - end.free;
    finish(&run);
    char d[160];
    ck_assert_msg(end.free * 64 <= used, "spilled_load (seed %" PRIu64 "): %" PRIu64 " free pages for %" PRIu64
                  " in use (bound 1/64): %s", run.seed, end.free, used, describe(end, d, sizeof d));
}
END_TEST

START_TEST(small_database_stays_small)
{
    sp_run run;
    start(&run, "small", 1206, BIRCH_DURABLE_FULL);
    load(&run, 10);
    sp_size opened = report(&run, "10 records, open");
    char d[160];
    ck_assert_msg(opened.bytes < 256 * 1024, "small: the file of a 10-record table is %s, bound 256 KiB",
                  describe(opened, d, sizeof d));
    bt_check(run.db);
    BT_OK(birch_close(run.db));
    uint64_t closed = bt_file_size(run.path);
    printf("space small: 10 records, closed: file %.2f MiB = %" PRIu64 " pages\n", mib(closed), closed / opened.ps);
    fflush(stdout);
    ck_assert_msg(closed < 256 * 1024, "small: after birch_close the file of a 10-record table is %.2f MiB, %s",
                  mib(closed), "bound 256 KiB");
    bt_remove(run.path);
    free(run.path);
}
END_TEST

/* One Check test case per scenario, so that one can be run alone:
 * CK_RUN_CASE=long_reader ./test_space. */
int main(void)
{
    Suite *s = suite_create("space");
    bt_add_case(s, "none_churn", none_churn_stays_flat);
    bt_add_case(s, "full_churn", full_churn_stays_flat);
    bt_add_case(s, "fill_empty", fill_empty_cycles_stay_flat);
    bt_add_case(s, "long_reader", space_after_long_reader_is_reused);
    bt_add_case(s, "overflow_full", overflow_churn_full_stays_flat);
    bt_add_case(s, "overflow_none", overflow_churn_none_stays_flat);
    bt_add_case(s, "small", small_database_stays_small);
    bt_add_case(s, "spilled_load", spilled_load_leaves_no_holes);
    return bt_run(s);
}
