/*
 * features.c - issue 14's goals, each the ratio of two birch operations
 * measured in the same run on the same machine (no other engine):
 *
 *   birch-bench-features [--elements N] [--repeat K] [--quick] [--dir DIR]
 *
 * Every table holds --elements records (default 1,000,000; --quick 20,000):
 * 16-byte keys made of two splitmix64 words (a fixed seed), sorted, and
 * 100-byte values whose first 8 bytes are the record's rank.  A table is
 * loaded in key order with BIRCH_APPEND in one transaction of a handle
 * opened with BIRCH_DURABLE_NONE, which is then closed (its checkpoint) and
 * the file reopened with the default BIRCH_DURABLE_FULL; every record is
 * then read once through a cursor and checked, untimed, so that the map's
 * first touch of each page is in no timing.  Each table has a database
 * directory of its own, DIR/db-features-<name>, removed once measured.
 *
 *   ranks         one table, one read transaction: OPS random gets of
 *                 existing keys (the baseline); OPS
 *                 birch_cursor_seek_rank(random rank) + birch_cursor_get;
 *                 OPS birch_count_range(lo, hi), lo and hi two random
 *                 existing keys.  The three take turns in blocks of BLOCK
 *                 operations, as formats.c's columns do, each on other
 *                 ranks at each turn.  Every answer is checked (the rank
 *                 stored in the value; the count hi - lo).  Goal: seek_rank
 *                 and count_range within 1.5x of a get.
 *   scan-delete   a write transaction that walks the whole table in key
 *                 order, reads each record and deletes those of even rank
 *                 (every other one), then a durable commit; three fresh
 *                 tables, one per way of doing it:
 *                   cursor_del   a cursor; birch_cursor_del (which moves
 *                                to the next record itself), or
 *                                birch_cursor_next after a kept record
 *                   cursor+del   a cursor; the key copied and birch_del
 *                                (the cursor finds its place again at its
 *                                birch_cursor_next), birch_cursor_next
 *                   get+del      no cursor: birch_get of every key of the
 *                                sorted key list, birch_del when its rank
 *                                is even
 *                 Goal (the words: "against the same done with
 *                 get+del"): cursor_del / get+del at most 0.6.
 *                 cursor_del / cursor+del (the same walk; only the
 *                 deletion differs) is shown beside it, not judged.
 *   range-delete  the middle half, ranks [N/4, 3N/4), removed in one write
 *                 transaction and a durable commit; two fresh tables:
 *                 birch_del_range(key N/4, key 3N/4) against birch_del of
 *                 each of those keys in key order.  Goal: at most 0.2.
 *   nested        1,000 durable commits (--quick: 100) of 10 puts each, new
 *                 random keys (a splitmix64 stream of their own) with
 *                 100-byte values, the same for every way; three fresh
 *                 tables, one per way:
 *                   flat         begin the root, the 10 puts, commit it
 *                   nested       begin the root, birch_txn_begin_nested,
 *                                the 10 puts in the child, commit the
 *                                child, commit the root
 *                   abort        as nested, but at every other commit a
 *                                first child makes the 10 puts and is
 *                                aborted before the child that commits
 *                 After NEST_BLOCK untimed commits on each table, the ways
 *                 take turns, NEST_BLOCK commits each, in each of the six
 *                 orders in turn; us per commit, birch_txn_begin to the
 *                 end of the root's commit.  Goal: nested / flat at most
 *                 1.05 (a child costs under 5% of a durable commit).
 *                 abort / flat is shown, not judged.  Each table is checked
 *                 afterwards (its count, and a get of every put).
 * The write transactions' times run from birch_txn_begin to the end of the
 * commit, which the goals include; the commit's own time and the thread's
 * CPU time are shown beside each, and under the goals, not judged, the
 * quotients of the times before the commit (the deletions' own work: the
 * commit writes and syncs the same pages either way) and of the CPU times
 * (without the waits for the disk and for the CPUs of a busy machine).
 * Each table is checked afterwards (birch_count, and a scan against the
 * records that must remain); a difference exits with status 1.
 *
 * Every measurement is made --repeat times (default 3, --quick 1), the
 * ways in rotating order; the tables give the median and every run, and
 * each ratio is the median of the runs' ratios (a run's two ways measured
 * one right after the other).  Output: markdown tables on stdout and in
 * DIR/features.md; progress on stderr.  Any failure prints birch_errmsg()
 * and exits with status 1.  Nothing here asserts a time: a missed goal is
 * reported, not failed.
 */
#define _GNU_SOURCE /* nftw */
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "birch.h"

#define KEY_SIZE   16
#define VALUE_SIZE 100
#define OPS        100000 /* operations of each kind in a run of the ranks */
#define BLOCK      1000   /* the ranks' operations take turns every BLOCK */
#define MAX_REPEAT 100

/* The runs of one way of writing: ms of the whole transaction (begin to
 * the commit's end), ms of its commit, and the thread's CPU ms of the
 * whole. */
typedef struct wtimes {
    double ms[MAX_REPEAT], commit[MAX_REPEAT], cpu[MAX_REPEAT];
} wtimes;

/* ---- Helpers ---------------------------------------------------------------------- */

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "bench-features: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* A birch call failed: its birch_errmsg() (taken before any other birch
 * call can replace it) and its code. */
static _Noreturn void fail(const char *call, int rc)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", birch_errmsg());
    die("%s: %s (%s, %d)", call, msg, birch_strerror(rc), rc);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != BIRCH_OK)                                                                       \
            fail(#call, rc_);                                                                      \
    } while (0)

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The CPU time of the calling thread, user and system (page faults
 * included), in ns: what a write transaction cost this thread, without the
 * waits for the disk and for the CPUs other processes took. */
static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0755);
            *p = '/';
        }
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        die("cannot create %s: %s", path, strerror(errno));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        die("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

static void rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double s[MAX_REPEAT];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ---- Options ---------------------------------------------------------------------- */

static struct {
    uint64_t elements;
    uint64_t nest_commits; /* durable commits of each way of the nested row */
    int repeat;
    const char *dir;
    bool quick;
    const char *only; /* NULL, or the one row to run: ranks, scans, deletes, nested */
    char command[1024];
} opt;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: birch-bench-features [options]\n"
            "  --elements N  records per table (default 1000000)\n"
            "  --repeat K    runs of every measurement, median kept (default 3)\n"
            "  --quick       20000 records, 100 nested commits, 1 run: checks the\n"
            "                harness, not the speed\n"
            "  --dir DIR     databases in DIR/db-features-<name> (each removed once\n"
            "                measured), the tables in DIR/features.md\n"
            "                (default: build/bench/results)\n"
            "  --only ROW    run one row: ranks, scans, deletes or nested (the\n"
            "                others' cells show 0)\n");
}

static uint64_t parse_u64(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0)
        die("bad %s: %s", what, s);
    return v;
}

static void parse_args(int argc, char **argv)
{
    opt.elements = 1000000;
    opt.nest_commits = 1000;
    opt.repeat = 3;
    opt.dir = "build/bench/results";
    size_t len = 0;
    for (int i = 0; i < argc && len < sizeof opt.command - 1; i++)
        len += (size_t)snprintf(opt.command + len, sizeof opt.command - len, "%s%s", i ? " " : "",
                                argv[i]);
    bool elements_given = false, repeat_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = strcmp(a, "--elements") == 0 || strcmp(a, "--repeat") == 0 ||
                     strcmp(a, "--dir") == 0 || strcmp(a, "--only") == 0;
        if (takes && !next)
            die("%s needs an argument", a);
        if (strcmp(a, "--elements") == 0) {
            opt.elements = parse_u64(next, a), elements_given = true, i++;
            if (opt.elements < 4 || opt.elements > UINT32_MAX)
                die("--elements: from 4 to %u", UINT32_MAX);
        } else if (strcmp(a, "--repeat") == 0) {
            uint64_t r = parse_u64(next, a);
            if (r > MAX_REPEAT)
                die("--repeat: at most %d", MAX_REPEAT);
            opt.repeat = (int)r, repeat_given = true, i++;
        } else if (strcmp(a, "--dir") == 0) {
            opt.dir = next, i++;
        } else if (strcmp(a, "--only") == 0) {
            if (strcmp(next, "ranks") && strcmp(next, "scans") && strcmp(next, "deletes") &&
                strcmp(next, "nested"))
                die("--only: ranks, scans, deletes or nested, not %s", next);
            opt.only = next, i++;
        } else if (strcmp(a, "--quick") == 0) {
            opt.quick = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else {
            usage(stderr);
            die("unknown option %s", a);
        }
    }
    if (opt.quick) {
        if (!elements_given)
            opt.elements = 20000;
        if (!repeat_given)
            opt.repeat = 1;
        opt.nest_commits = 100;
    }
}

/* Whether the row named runs (every row unless --only names another). */
static bool runs(const char *row) { return !opt.only || strcmp(opt.only, row) == 0; }

/* ---- The records ------------------------------------------------------------------ */

/* keys[r * KEY_SIZE ...]: the key of rank r, in key order. */
static uint8_t *keys;

static inline birch_val key_of(uint64_t r) { return (birch_val){keys + r * KEY_SIZE, KEY_SIZE}; }

static int cmp_key(const void *a, const void *b) { return memcmp(a, b, KEY_SIZE); }

static void make_keys(void)
{
    keys = malloc(opt.elements * KEY_SIZE);
    if (!keys)
        die("out of memory");
    uint64_t s = 14;
    for (uint64_t r = 0; r < opt.elements; r++) {
        uint64_t w[2] = {splitmix64(&s), splitmix64(&s)};
        memcpy(keys + r * KEY_SIZE, w, KEY_SIZE);
    }
    qsort(keys, opt.elements, KEY_SIZE, cmp_key);
    for (uint64_t r = 1; r < opt.elements; r++)
        if (memcmp(keys + (r - 1) * KEY_SIZE, keys + r * KEY_SIZE, KEY_SIZE) == 0)
            die("two keys alike at rank %llu", (unsigned long long)r);
}

/* The value of rank r: r in its first 8 bytes, then words of r's own
 * splitmix64 stream. */
static void make_value(uint64_t r, uint8_t v[VALUE_SIZE])
{
    uint64_t s = r;
    for (size_t o = 8; o < VALUE_SIZE; o += 8) {
        uint64_t w = splitmix64(&s);
        memcpy(v + o, &w, VALUE_SIZE - o < 8 ? VALUE_SIZE - o : 8);
    }
    memcpy(v, &r, 8);
}

/* The rank a value holds; dies on a value of the wrong size. */
static inline uint64_t value_rank(birch_val v)
{
    uint64_t r;
    if (v.size != VALUE_SIZE)
        die("a value of %zu bytes", v.size);
    memcpy(&r, v.data, 8);
    return r;
}

/* ---- Tables ------------------------------------------------------------------------- */

typedef struct table {
    char dir[4096];
    char path[4200];
    birch_db *db;
    birch_table *tb; /* "t", valid until birch_close */
} table;

/* Keeps rank r?  The three shapes a table can have. */
enum { KEEP_ALL, KEEP_ODD, KEEP_OUTER_HALVES };

static bool kept(int shape, uint64_t r)
{
    switch (shape) {
    case KEEP_ODD: return r % 2 == 1;
    case KEEP_OUTER_HALVES: return r < opt.elements / 4 || r >= opt.elements / 4 * 3;
    default: return true;
    }
}

/* Checks, in a read transaction, that t holds exactly the records of the
 * ranks shape keeps, each with its value.  Reading every record is also
 * what makes the map's pages resident before a measurement. */
static void table_expect(table *t, int shape, const char *what)
{
    uint64_t want = 0;
    for (uint64_t r = 0; r < opt.elements; r++)
        want += kept(shape, r);
    birch_txn *txn;
    CHECK(birch_txn_begin(t->db, BIRCH_TXN_READ, &txn));
    if (!t->tb)
        CHECK(birch_table_open(txn, "t", 0, &t->tb));
    uint64_t count;
    CHECK(birch_count(txn, t->tb, &count));
    if (count != want)
        die("%s: birch_count says %llu records, %llu expected", what, (unsigned long long)count,
            (unsigned long long)want);
    birch_cursor *cur;
    CHECK(birch_cursor_open(txn, t->tb, &cur));
    uint64_t r = 0, seen = 0;
    for (int rc = birch_cursor_first(cur); rc != BIRCH_NOTFOUND; rc = birch_cursor_next(cur)) {
        if (rc != BIRCH_OK)
            fail("birch_cursor_next", rc);
        birch_val k, v;
        CHECK(birch_cursor_get(cur, &k, &v));
        while (r < opt.elements && !kept(shape, r))
            r++;
        if (r == opt.elements || k.size != KEY_SIZE || memcmp(k.data, key_of(r).data, KEY_SIZE) ||
            value_rank(v) != r)
            die("%s: record %llu of the scan is not rank %llu", what, (unsigned long long)seen,
                (unsigned long long)r);
        r++, seen++;
    }
    if (seen != want)
        die("%s: the scan found %llu records, %llu expected", what, (unsigned long long)seen,
            (unsigned long long)want);
    birch_cursor_close(cur);
    CHECK(birch_txn_commit(txn));
}

/* A fresh database DIR/db-features-<name> holding the table "t" of all the
 * records, loaded without sync and reopened with the default (durable)
 * options, every record read once. */
static void table_make(table *t, const char *name)
{
    snprintf(t->dir, sizeof t->dir, "%s/db-features-%s", opt.dir, name);
    snprintf(t->path, sizeof t->path, "%s/db.birch", t->dir);
    rmtree(t->dir);
    mkdir_p(t->dir);
    double t0 = now_ns();

    birch_options o;
    birch_options_init(&o);
    o.durability = BIRCH_DURABLE_NONE;
    CHECK(birch_open(t->path, &o, &t->db));
    birch_txn *txn;
    birch_table *tb;
    CHECK(birch_txn_begin(t->db, BIRCH_TXN_WRITE, &txn));
    CHECK(birch_table_open(txn, "t", BIRCH_CREATE, &tb));
    for (uint64_t r = 0; r < opt.elements; r++) {
        uint8_t v[VALUE_SIZE];
        make_value(r, v);
        CHECK(birch_put(txn, tb, key_of(r), (birch_val){v, VALUE_SIZE}, BIRCH_APPEND));
    }
    CHECK(birch_txn_commit(txn));
    CHECK(birch_close(t->db));

    CHECK(birch_open(t->path, NULL, &t->db));
    t->tb = NULL;
    table_expect(t, KEEP_ALL, name);
    fprintf(stderr, "bench-features: %s: %llu records loaded and read in %.1f s\n", name,
            (unsigned long long)opt.elements, (now_ns() - t0) / 1e9);
}

static void table_free(table *t)
{
    CHECK(birch_close(t->db));
    rmtree(t->dir);
}

/* ---- Ranks ---------------------------------------------------------------------------- */

enum { R_GET, R_RANK, R_COUNT, N_RANKS };
static const char *const rank_labels[N_RANKS] = {
    "random get (birch_get)",
    "birch_cursor_seek_rank + birch_cursor_get",
    "birch_count_range (random existing bounds)",
};

/* n operations of kind col on ranks a[] (and b[] for count_range's other
 * bound); returns the ns taken. */
static double ranks_block(int col, birch_txn *txn, birch_table *tb, birch_cursor *cur,
                          const uint64_t *a, const uint64_t *b, size_t n)
{
    double t0 = now_ns();
    switch (col) {
    case R_GET:
        for (size_t i = 0; i < n; i++) {
            birch_val v;
            CHECK(birch_get(txn, tb, key_of(a[i]), &v));
            if (value_rank(v) != a[i])
                die("get of rank %llu found rank %llu", (unsigned long long)a[i],
                    (unsigned long long)value_rank(v));
        }
        break;
    case R_RANK:
        for (size_t i = 0; i < n; i++) {
            birch_val k, v;
            CHECK(birch_cursor_seek_rank(cur, a[i]));
            CHECK(birch_cursor_get(cur, &k, &v));
            if (k.size != KEY_SIZE || value_rank(v) != a[i])
                die("seek_rank %llu found rank %llu", (unsigned long long)a[i],
                    (unsigned long long)value_rank(v));
        }
        break;
    default:
        for (size_t i = 0; i < n; i++) {
            uint64_t lo = a[i] < b[i] ? a[i] : b[i], hi = a[i] < b[i] ? b[i] : a[i], count;
            CHECK(birch_count_range(txn, tb, key_of(lo), key_of(hi), &count));
            if (count != hi - lo)
                die("count_range of ranks [%llu, %llu) says %llu", (unsigned long long)lo,
                    (unsigned long long)hi, (unsigned long long)count);
        }
        break;
    }
    return now_ns() - t0;
}

/* us[c][rep]: us per operation of kind c in run rep. */
static void measure_ranks(double us[N_RANKS][MAX_REPEAT])
{
    table t;
    table_make(&t, "ranks");
    uint64_t *a = malloc(OPS * sizeof *a), *b = malloc(OPS * sizeof *b);
    if (!a || !b)
        die("out of memory");
    birch_txn *txn;
    birch_cursor *cur;
    CHECK(birch_txn_begin(t.db, BIRCH_TXN_READ, &txn));
    CHECK(birch_cursor_open(txn, t.tb, &cur));
    size_t nblocks = OPS / BLOCK;
    for (int rep = 0; rep < opt.repeat; rep++) {
        uint64_t s = 1000 + (uint64_t)rep;
        for (size_t i = 0; i < OPS; i++) {
            a[i] = splitmix64(&s) % opt.elements;
            b[i] = splitmix64(&s) % opt.elements;
        }
        /* Kind c reads block (j + c * nblocks / N_RANKS) at turn j: never
         * the block another kind has just read, whose pages would still be
         * in the CPU caches; the order within a turn rotates. */
        double total[N_RANKS] = {0};
        for (size_t j = 0; j < nblocks; j++) {
            for (int k = 0; k < N_RANKS; k++) {
                int c = (int)((j + (size_t)k + (size_t)rep) % N_RANKS);
                size_t blk = (j + (size_t)c * nblocks / N_RANKS) % nblocks;
                total[c] += ranks_block(c, txn, t.tb, cur, a + blk * BLOCK, b + blk * BLOCK, BLOCK);
            }
        }
        for (int c = 0; c < N_RANKS; c++)
            us[c][rep] = total[c] / OPS / 1e3;
        fprintf(stderr, "bench-features: ranks, run %d of %d: get %.2f us, seek_rank %.2f us, "
                        "count_range %.2f us\n",
                rep + 1, opt.repeat, us[R_GET][rep], us[R_RANK][rep], us[R_COUNT][rep]);
    }
    birch_cursor_close(cur);
    CHECK(birch_txn_commit(txn));
    free(a);
    free(b);
    table_free(&t);
}

/* ---- Scan-delete ------------------------------------------------------------------------- */

enum { S_CURSOR_DEL, S_CURSOR_PLUS_DEL, S_GET_DEL, N_SCANS };
static const char *const scan_names[N_SCANS] = {"scan-cursor-del", "scan-cursor-plus-del",
                                                "scan-get-del"};
static const char *const scan_labels[N_SCANS] = {
    "scan-delete: cursor walk, birch_cursor_del",
    "scan-delete: cursor walk, key copied, birch_del",
    "scan-delete: birch_get of each key of the list, birch_del",
};

/* One write transaction that reads every record in key order and deletes
 * those of even rank, the way kind says, then its durable commit; its
 * times go to run rep of w. */
static void scan_delete(int kind, table *t, wtimes *w, int rep)
{
    double t0 = now_ns(), c0 = cpu_ns();
    birch_txn *txn;
    CHECK(birch_txn_begin(t->db, BIRCH_TXN_WRITE, &txn));
    if (kind == S_GET_DEL) {
        for (uint64_t r = 0; r < opt.elements; r++) {
            birch_val v;
            CHECK(birch_get(txn, t->tb, key_of(r), &v));
            if (value_rank(v) % 2 == 0)
                CHECK(birch_del(txn, t->tb, key_of(r)));
        }
    } else {
        birch_cursor *cur;
        CHECK(birch_cursor_open(txn, t->tb, &cur));
        CHECK(birch_cursor_first(cur));
        for (;;) {
            birch_val k, v;
            int rc = birch_cursor_get(cur, &k, &v);
            if (rc == BIRCH_NOTFOUND && kind == S_CURSOR_DEL)
                break; /* the last record was deleted: the cursor is past it */
            if (rc != BIRCH_OK)
                fail("birch_cursor_get", rc);
            if (k.size != KEY_SIZE)
                die("a key of %zu bytes", k.size);
            if (value_rank(v) % 2 == 0) {
                if (kind == S_CURSOR_DEL) {
                    CHECK(birch_cursor_del(cur));
                    continue;
                }
                uint8_t kb[KEY_SIZE];
                memcpy(kb, k.data, KEY_SIZE);
                CHECK(birch_del(txn, t->tb, (birch_val){kb, KEY_SIZE}));
            }
            rc = birch_cursor_next(cur);
            if (rc == BIRCH_NOTFOUND)
                break;
            if (rc != BIRCH_OK)
                fail("birch_cursor_next", rc);
        }
        birch_cursor_close(cur);
    }
    double t1 = now_ns();
    CHECK(birch_txn_commit(txn));
    double t2 = now_ns();
    w->ms[rep] = (t2 - t0) / 1e6;
    w->commit[rep] = (t2 - t1) / 1e6;
    w->cpu[rep] = (cpu_ns() - c0) / 1e6;
}

static void measure_scans(wtimes w[N_SCANS])
{
    for (int rep = 0; rep < opt.repeat; rep++) {
        for (int k = 0; k < N_SCANS; k++) {
            int kind = (k + rep) % N_SCANS;
            table t;
            table_make(&t, scan_names[kind]);
            scan_delete(kind, &t, &w[kind], rep);
            table_expect(&t, KEEP_ODD, scan_names[kind]);
            table_free(&t);
            fprintf(stderr, "bench-features: %s, run %d of %d: %.1f ms (commit %.1f, CPU %.1f)\n",
                    scan_names[kind], rep + 1, opt.repeat, w[kind].ms[rep], w[kind].commit[rep],
                    w[kind].cpu[rep]);
        }
    }
}

/* ---- Range-delete ------------------------------------------------------------------------- */

enum { D_RANGE, D_EACH, N_DELS };
static const char *const del_names[N_DELS] = {"range-del-range", "range-del-each"};
static const char *const del_labels[N_DELS] = {
    "range-delete: birch_del_range of the middle half",
    "range-delete: birch_del of each key of the middle half",
};

/* Ranks [N/4, 3N/4) removed in one write transaction and its durable
 * commit, the way kind says; its times go to run rep of w. */
static void range_delete(int kind, table *t, wtimes *w, int rep)
{
    uint64_t lo = opt.elements / 4, hi = opt.elements / 4 * 3, deleted = 0;
    double t0 = now_ns(), c0 = cpu_ns();
    birch_txn *txn;
    CHECK(birch_txn_begin(t->db, BIRCH_TXN_WRITE, &txn));
    if (kind == D_RANGE) {
        CHECK(birch_del_range(txn, t->tb, key_of(lo), key_of(hi), &deleted));
    } else {
        for (uint64_t r = lo; r < hi; r++, deleted++)
            CHECK(birch_del(txn, t->tb, key_of(r)));
    }
    double t1 = now_ns();
    CHECK(birch_txn_commit(txn));
    double t2 = now_ns();
    w->ms[rep] = (t2 - t0) / 1e6;
    w->commit[rep] = (t2 - t1) / 1e6;
    w->cpu[rep] = (cpu_ns() - c0) / 1e6;
    if (deleted != hi - lo)
        die("%s: %llu records deleted, %llu expected", del_names[kind],
            (unsigned long long)deleted, (unsigned long long)(hi - lo));
}

static void measure_range_deletes(wtimes w[N_DELS])
{
    for (int rep = 0; rep < opt.repeat; rep++) {
        for (int k = 0; k < N_DELS; k++) {
            int kind = (k + rep) % N_DELS;
            table t;
            table_make(&t, del_names[kind]);
            range_delete(kind, &t, &w[kind], rep);
            table_expect(&t, KEEP_OUTER_HALVES, del_names[kind]);
            table_free(&t);
            fprintf(stderr, "bench-features: %s, run %d of %d: %.1f ms (commit %.1f, CPU %.1f)\n",
                    del_names[kind], rep + 1, opt.repeat, w[kind].ms[rep], w[kind].commit[rep],
                    w[kind].cpu[rep]);
        }
    }
}

/* ---- Nested transactions ---------------------------------------------------------------- */

#define NEST_PUTS  10 /* puts per commit */
#define NEST_BLOCK 10 /* commits of one way per turn */

enum { N_FLAT, N_NESTED, N_ABORT, N_NESTS };
static const char *const nest_names[N_NESTS] = {"nest-flat", "nest-nested", "nest-abort"};
static const char *const nest_labels[N_NESTS] = {
    "nested: 10 puts in the root, its durable commit (flat)",
    "nested: 10 puts in a child that commits, the root's durable commit",
    "nested: as above, every other commit's child first aborted after its 10 puts",
};

/* nest_keys[i * KEY_SIZE ...]: the key of the i-th put of the nested
 * commits (a splitmix64 stream of its own, not in the table). */
static uint8_t *nest_keys;

static inline birch_val nest_key(uint64_t i)
{
    return (birch_val){nest_keys + i * KEY_SIZE, KEY_SIZE};
}

static void nest_puts(birch_txn *txn, birch_table *tb, uint64_t first)
{
    for (uint64_t i = first; i < first + NEST_PUTS; i++) {
        uint8_t v[VALUE_SIZE];
        make_value(opt.elements + i, v);
        CHECK(birch_put(txn, tb, nest_key(i), (birch_val){v, VALUE_SIZE}, 0));
    }
}

/* Commit number c of way kind (its puts are c * NEST_PUTS onwards): begin
 * the root, the puts (in a child or not), the root's durable commit.  Adds
 * the ns of the whole, of the root's commit and of the thread's CPU to
 * tm[0..2]. */
static void nest_commit(int kind, table *t, uint64_t c, double tm[3])
{
    double t0 = now_ns(), c0 = cpu_ns();
    birch_txn *root, *child;
    CHECK(birch_txn_begin(t->db, BIRCH_TXN_WRITE, &root));
    if (kind == N_FLAT) {
        nest_puts(root, t->tb, c * NEST_PUTS);
    } else {
        if (kind == N_ABORT && c % 2 == 0) {
            CHECK(birch_txn_begin_nested(root, &child));
            nest_puts(child, t->tb, c * NEST_PUTS);
            birch_txn_abort(child);
        }
        CHECK(birch_txn_begin_nested(root, &child));
        nest_puts(child, t->tb, c * NEST_PUTS);
        CHECK(birch_txn_commit(child));
    }
    double t1 = now_ns();
    CHECK(birch_txn_commit(root));
    double t2 = now_ns();
    tm[0] += t2 - t0;
    tm[1] += t2 - t1;
    tm[2] += cpu_ns() - c0;
}

/* The table after the nested commits: every record of the load and every
 * put of the commits, with its value. */
static void nest_expect(table *t, uint64_t puts, const char *what)
{
    birch_txn *txn;
    CHECK(birch_txn_begin(t->db, BIRCH_TXN_READ, &txn));
    uint64_t count;
    CHECK(birch_count(txn, t->tb, &count));
    if (count != opt.elements + puts)
        die("%s: birch_count says %llu records, %llu expected", what, (unsigned long long)count,
            (unsigned long long)(opt.elements + puts));
    for (uint64_t i = 0; i < puts; i++) {
        birch_val v;
        CHECK(birch_get(txn, t->tb, nest_key(i), &v));
        if (value_rank(v) != opt.elements + i)
            die("%s: put %llu reads back as %llu", what, (unsigned long long)i,
                (unsigned long long)value_rank(v));
    }
    CHECK(birch_txn_commit(txn));
}

/* The orders of the ways within a turn: all six, so that each way runs
 * right before and right after each other way as often (with one fixed
 * cyclic order, each way always followed the same one, and a way could
 * gain or lose by what the one before left to the disk). */
static const int nest_orders[6][N_NESTS] = {{0, 1, 2}, {1, 2, 0}, {2, 0, 1},
                                            {0, 2, 1}, {2, 1, 0}, {1, 0, 2}};

/* w[k]: us per commit of way k in each run (whole, root's commit, CPU).
 * Each run makes a fresh table per way and makes NEST_BLOCK untimed
 * commits on each (the first commits on a fresh file may cost more); then the
 * ways take turns, a block of NEST_BLOCK commits each, in each of the six
 * orders in turn, so that the machine's slow spells (the disk's above
 * all) fall on all of them. */
static void measure_nested(wtimes w[N_NESTS])
{
    uint64_t turns = opt.nest_commits / NEST_BLOCK, n = turns * NEST_BLOCK;
    uint64_t puts = (n + NEST_BLOCK) * NEST_PUTS; /* the timed commits', then the warm-up's */
    nest_keys = malloc(puts * KEY_SIZE);
    if (!nest_keys)
        die("out of memory");
    uint64_t s = 15;
    for (uint64_t i = 0; i < puts; i++) {
        uint64_t x[2] = {splitmix64(&s), splitmix64(&s)};
        memcpy(nest_keys + i * KEY_SIZE, x, KEY_SIZE);
    }
    for (int rep = 0; rep < opt.repeat; rep++) {
        table t[N_NESTS];
        for (int k = 0; k < N_NESTS; k++)
            table_make(&t[k], nest_names[k]);
        double tm[N_NESTS][3] = {{0}}, warm[3] = {0};
        for (int k = 0; k < N_NESTS; k++)
            for (uint64_t c = n; c < n + NEST_BLOCK; c++)
                nest_commit(k, &t[k], c, warm);
        for (uint64_t j = 0; j < turns; j++) {
            const int *order = nest_orders[(j + (uint64_t)rep) % 6];
            for (int i = 0; i < N_NESTS; i++) {
                int k = order[i];
                for (uint64_t c = j * NEST_BLOCK; c < (j + 1) * NEST_BLOCK; c++)
                    nest_commit(k, &t[k], c, tm[k]);
            }
        }
        for (int k = 0; k < N_NESTS; k++) {
            w[k].ms[rep] = tm[k][0] / (double)n / 1e3;
            w[k].commit[rep] = tm[k][1] / (double)n / 1e3;
            w[k].cpu[rep] = tm[k][2] / (double)n / 1e3;
            nest_expect(&t[k], puts, nest_names[k]);
            table_free(&t[k]);
        }
        fprintf(stderr,
                "bench-features: nested, run %d of %d, us per commit: flat %.1f (CPU %.1f), "
                "nested %.1f (CPU %.1f), every other child aborted %.1f (CPU %.1f)\n",
                rep + 1, opt.repeat, w[N_FLAT].ms[rep], w[N_FLAT].cpu[rep], w[N_NESTED].ms[rep],
                w[N_NESTED].cpu[rep], w[N_ABORT].ms[rep], w[N_ABORT].cpu[rep]);
    }
    free(nest_keys);
}

/* ---- Output ------------------------------------------------------------------------------- */

static void describe_machine(char *out, size_t cap)
{
    char cpu[256] = "?";
    unsigned long long mem_kib = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            char *c = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && c) {
                snprintf(cpu, sizeof cpu, "%s", c + 2);
                cpu[strcspn(cpu, "\n")] = 0;
                break;
            }
        }
        fclose(f);
    }
    f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemTotal: %llu kB", &mem_kib) == 1)
                break;
        fclose(f);
    }
    snprintf(out, cap, "%s, %ld CPUs, %.1f GiB RAM", cpu, sysconf(_SC_NPROCESSORS_ONLN),
             (double)mem_kib / (1024.0 * 1024.0));
}

/* Every run's value, comma-separated. */
static void write_runs(FILE *out, const double *v, const char *fmt)
{
    for (int rep = 0; rep < opt.repeat; rep++) {
        if (rep)
            fputs(", ", out);
        fprintf(out, fmt, v[rep]);
    }
}

/* The ratio num/den of each run, its median, and the verdict against
 * target (target < 0: shown, not judged). */
static void write_goal(FILE *out, const char *label, const double *num, const double *den,
                       double target)
{
    if (den[0] == 0) {
        fprintf(out, "| %s | - | - | - | not run (--only) |\n", label);
        return;
    }
    double q[MAX_REPEAT];
    for (int rep = 0; rep < opt.repeat; rep++)
        q[rep] = num[rep] / den[rep];
    double m = median(q, opt.repeat);
    fprintf(out, "| %s | %.3f | ", label, m);
    write_runs(out, q, "%.3f");
    if (target < 0)
        fprintf(out, " | - | shown, not a goal |\n");
    else if (opt.quick)
        fprintf(out, " | <= %g | not judged (--quick) |\n", target);
    else if (m <= target)
        fprintf(out, " | <= %g | met |\n", target);
    else
        fprintf(out, " | <= %g | **missed** by %.2fx |\n", target, m / target);
}

/* A row of the measurements: the median, the medians of the commit and of
 * the CPU time (w NULL: none), every run. */
static void write_row(FILE *out, const char *label, const char *unit, const double *v,
                      const wtimes *w, const char *fmt)
{
    fprintf(out, "| %s (%s) | ", label, unit);
    fprintf(out, fmt, median(v, opt.repeat));
    if (w) {
        fputs(" | ", out);
        fprintf(out, fmt, median(w->commit, opt.repeat));
        fputs(" | ", out);
        fprintf(out, fmt, median(w->cpu, opt.repeat));
    } else {
        fputs(" | - | -", out);
    }
    fputs(" | ", out);
    write_runs(out, v, fmt);
    fputs(" |\n", out);
}

static void write_tables(FILE *out, double us[N_RANKS][MAX_REPEAT], const wtimes scan[N_SCANS],
                         const wtimes del[N_DELS], const wtimes nest[N_NESTS])
{
    /* The write quotients also without the commits (which write and sync
     * the same pages whichever way the records went), and in CPU time
     * (without the waits for the disk and for the CPUs of a busy machine):
     * shown, not judged. */
    double scan_ops[N_SCANS][MAX_REPEAT], del_ops[N_DELS][MAX_REPEAT],
        nest_ops[N_NESTS][MAX_REPEAT];
    for (int rep = 0; rep < opt.repeat; rep++) {
        for (int k = 0; k < N_NESTS; k++)
            nest_ops[k][rep] = nest[k].ms[rep] - nest[k].commit[rep];
        for (int k = 0; k < N_SCANS; k++)
            scan_ops[k][rep] = scan[k].ms[rep] - scan[k].commit[rep];
        for (int k = 0; k < N_DELS; k++)
            del_ops[k][rep] = del[k].ms[rep] - del[k].commit[rep];
    }
    fprintf(out, "| goal (issue 14) | ratio (median) | runs | target | |\n"
                 "|---|---:|---|---:|---|\n");
    write_goal(out, "ranks: seek_rank + cursor_get / random get", us[R_RANK], us[R_GET], 1.5);
    write_goal(out, "ranks: count_range / random get", us[R_COUNT], us[R_GET], 1.5);
    write_goal(out, "scan-delete: cursor_del / (birch_get + birch_del by key)", scan[S_CURSOR_DEL].ms,
               scan[S_GET_DEL].ms, 0.6);
    write_goal(out, "scan-delete before the commit: cursor_del / (birch_get + birch_del by key)",
               scan_ops[S_CURSOR_DEL], scan_ops[S_GET_DEL], -1);
    write_goal(out, "scan-delete: cursor_del / (cursor walk + birch_del)", scan[S_CURSOR_DEL].ms,
               scan[S_CURSOR_PLUS_DEL].ms, -1);
    write_goal(out, "scan-delete before the commit: cursor_del / (cursor walk + birch_del)",
               scan_ops[S_CURSOR_DEL], scan_ops[S_CURSOR_PLUS_DEL], -1);
    write_goal(out, "scan-delete in CPU time: cursor_del / (cursor walk + birch_del)",
               scan[S_CURSOR_DEL].cpu, scan[S_CURSOR_PLUS_DEL].cpu, -1);
    write_goal(out, "range-delete: birch_del_range / birch_del of each key", del[D_RANGE].ms,
               del[D_EACH].ms, 0.2);
    write_goal(out, "range-delete before the commit: birch_del_range / birch_del of each key",
               del_ops[D_RANGE], del_ops[D_EACH], -1);
    write_goal(out, "range-delete in CPU time: birch_del_range / birch_del of each key",
               del[D_RANGE].cpu, del[D_EACH].cpu, -1);
    write_goal(out, "nested: durable commit of 10 puts in a committed child / flat",
               nest[N_NESTED].ms, nest[N_FLAT].ms, 1.05);
    write_goal(out, "nested before the root's commit: committed child / flat",
               nest_ops[N_NESTED], nest_ops[N_FLAT], -1);
    write_goal(out, "nested in CPU time: committed child / flat", nest[N_NESTED].cpu,
               nest[N_FLAT].cpu, -1);
    write_goal(out, "nested, every other child aborted first / flat", nest[N_ABORT].ms,
               nest[N_FLAT].ms, -1);
    write_goal(out, "nested, every other child aborted first / flat, in CPU time",
               nest[N_ABORT].cpu, nest[N_FLAT].cpu, -1);

    fprintf(out, "\n| measurement | median | of which the commit (median) | CPU time (median) "
                 "| runs |\n|---|---:|---:|---:|---|\n");
    for (int c = 0; c < N_RANKS; c++)
        write_row(out, rank_labels[c], "us per op", us[c], NULL, "%.3f");
    for (int k = 0; k < N_SCANS; k++)
        write_row(out, scan_labels[k], "ms", scan[k].ms, &scan[k], "%.1f");
    for (int k = 0; k < N_DELS; k++)
        write_row(out, del_labels[k], "ms", del[k].ms, &del[k], "%.1f");
    for (int k = 0; k < N_NESTS; k++)
        write_row(out, nest_labels[k], "us per commit", nest[k].ms, &nest[k], "%.1f");
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    mkdir_p(opt.dir);
    char path[4200], machine[512], date[64];
    describe_machine(machine, sizeof machine);
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
    fprintf(stderr, "bench-features: %llu records per table, %d run(s); %s\n",
            (unsigned long long)opt.elements, opt.repeat, machine);

    double t0 = now_ns();
    make_keys();
    static double us[N_RANKS][MAX_REPEAT];
    static wtimes scan[N_SCANS], del[N_DELS], nest[N_NESTS];
    if (runs("ranks"))
        measure_ranks(us);
    if (runs("scans"))
        measure_scans(scan);
    if (runs("deletes"))
        measure_range_deletes(del);
    if (runs("nested"))
        measure_nested(nest);
    free(keys);

    printf("Issue 14: ranks, scan-delete, range-delete, nested; %llu records of 16-byte keys and "
           "100-byte values per table; median of %d run(s)\n\n",
           (unsigned long long)opt.elements, opt.repeat);
    write_tables(stdout, us, scan, del, nest);
    snprintf(path, sizeof path, "%s/features.md", opt.dir);
    FILE *md = fopen(path, "w");
    if (!md)
        die("cannot write %s: %s", path, strerror(errno));
    fprintf(md,
            "# birch issue 14: ranks, scan-delete, range-delete, nested transactions\n\n- date: %s\n- command: `%s`\n"
            "- machine: %s\n- workload: %llu records per table (16-byte keys of two "
            "splitmix64 words, 100-byte values), loaded in key order with BIRCH_APPEND in one "
            "transaction without sync; ranks: %d operations of each kind per run in one read "
            "transaction, in blocks of %d taking turns; scan-delete and range-delete: one "
            "write transaction on a fresh table and its durable commit (birch_txn_begin to "
            "the commit's end); nested: %llu durable commits of %d puts (new random keys) per "
            "way on a fresh table per way, after %d untimed ones, the ways taking turns every %d "
            "commits in each of their six orders (us per "
            "commit: birch_txn_begin to the end of the root's commit); median of %d run(s)\n\n",
            date, opt.command, machine, (unsigned long long)opt.elements, OPS, BLOCK,
            (unsigned long long)opt.nest_commits, NEST_PUTS, NEST_BLOCK, NEST_BLOCK, opt.repeat);
    write_tables(md, us, scan, del, nest);
    if (fclose(md) != 0)
        die("cannot write %s", path);
    fprintf(stderr, "bench-features: done in %.1f s; tables in %s\n", (now_ns() - t0) / 1e9,
            path);
    return 0;
}
