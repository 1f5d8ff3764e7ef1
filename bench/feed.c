/*
 * feed.c - the change feed's cost (issue 16, part 2), birch alone:
 *
 *   birch-bench-feed [--commits N] [--puts K] [--repeat R] [--quick] [--dir DIR]
 *
 * N commits (default 2,000; --quick 100) of K puts each (default 100) of new
 * 16-byte keys in rising order (a log, a queue, an event table: each
 * commit rewrites a few pages; random keys would make every commit write
 * about K pages, and the page writes would hide the cost measured here)
 * with 100-byte values, on a handle opened with BIRCH_DURABLE_NONE so that
 * the time is the CPU's, not the disk's.  Ways, each on a fresh database DIR/db-feed-<way>,
 * taking turns R times (default 5) in rotated order, each figure the median
 * of its R runs, in microseconds per commit:
 *
 *   no hook     birch_txn_begin, K birch_put, birch_txn_commit
 *   ids only    the same with birch_on_commit_flags(BIRCH_ON_COMMIT_IDS)
 *   batches     the same with birch_on_commit: every change recorded, the
 *               hook sums the batch's size
 *   and, without a database, for the same keys and values:
 *   build       birch_batch_clear, K birch_batch_put, birch_batch_bytes:
 *               the batch a program would build by hand to send the same
 *               changes
 *   copy        memcpy of the K keys and values into one buffer: the bytes
 *               the transaction was given, copied once
 *
 * Capture = batches - no hook; the goal ("capturing the batch costs no more
 * than a copy of what the transaction wrote") is judged against build, the
 * same changes copied into a batch by hand; copy, the bare memcpy, is
 * shown beside it.  A capture this small is within the noise of the
 * commits' timing on a shared machine: the instruction counts of
 * bench/README.md ("Issue 16") measure it exactly.  Each way's records are
 * counted afterwards.
 */
#define _GNU_SOURCE
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

#include "birch.h"

#define KEY_SIZE 16
#define VALUE_SIZE 100
#define MAX_REPEAT 50

enum { NO_HOOK, IDS, BATCHES, BUILD, COPY, N_WAYS };
static const char *const way_names[N_WAYS] = {"no hook", "ids only", "batches", "build", "copy"};

static struct {
    uint64_t commits, puts;
    int repeat;
    const char *dir;
} opt = {2000, 100, 5, "build/bench/results"};

static _Noreturn void fail(const char *call, int rc)
{
    fprintf(stderr, "birch-bench-feed: %s: %s (%s)\n", call, birch_strerror(rc), birch_errmsg());
    exit(1);
}

#define OK(call)                           \
    do {                                   \
        int rc_ = (call);                  \
        if (rc_ != BIRCH_OK) fail(#call, rc_); \
    } while (0)

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Every key of the run (commits * puts of them), and one value pattern. */
static uint8_t *keys;
static uint8_t value[VALUE_SIZE];

static void make_keys(void)
{
    uint64_t n = opt.commits * opt.puts, s = 0x5eed;
    keys = malloc(n * KEY_SIZE);
    if (!keys) fail("malloc", BIRCH_ENOMEM);
    for (uint64_t i = 0; i < n; i++) { /* big-endian i, then 8 random bytes: rising */
        uint64_t b = splitmix64(&s);
        for (int j = 0; j < 8; j++) keys[i * KEY_SIZE + j] = (uint8_t)(i >> (56 - 8 * j));
        memcpy(keys + i * KEY_SIZE + 8, &b, 8);
    }
    for (int i = 0; i < VALUE_SIZE; i++) value[i] = (uint8_t)(i * 7);
}

static birch_val key(uint64_t i) { return (birch_val){keys + i * KEY_SIZE, KEY_SIZE}; }

static volatile uint64_t sink;

static void hook(uint64_t txnid, birch_val changes, void *ctx)
{
    (void)ctx;
    sink += txnid + changes.size;
}

/* One run of a database way: us per commit. */
static double run_db(int way)
{
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/db-feed-%d", opt.dir, way);
    rmtree(dir);
    if (mkdir(dir, 0755) && errno != EEXIST) fail("mkdir", BIRCH_EIO);
    snprintf(path, sizeof path, "%s/db.birch", dir);
    birch_options o;
    birch_options_init(&o);
    o.durability = BIRCH_DURABLE_NONE;
    birch_db *db;
    OK(birch_open(path, &o, &db));
    if (way == IDS) OK(birch_on_commit_flags(db, BIRCH_ON_COMMIT_IDS, hook, NULL));
    if (way == BATCHES) OK(birch_on_commit(db, hook, NULL));
    birch_txn *txn;
    birch_table *t;
    OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    OK(birch_table_open(txn, "feed", BIRCH_CREATE, &t));
    OK(birch_txn_commit(txn));
    double t0 = now_ns();
    for (uint64_t c = 0; c < opt.commits; c++) {
        OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
        for (uint64_t p = 0; p < opt.puts; p++)
            OK(birch_put(txn, t, key(c * opt.puts + p), (birch_val){value, VALUE_SIZE}, 0));
        OK(birch_txn_commit(txn));
    }
    double us = (now_ns() - t0) / 1e3 / (double)opt.commits;
    uint64_t n;
    OK(birch_txn_begin(db, BIRCH_TXN_READ, &txn));
    OK(birch_count(txn, t, &n));
    birch_txn_abort(txn);
    if (n != opt.commits * opt.puts) {
        fprintf(stderr, "birch-bench-feed: %s: %llu records, expected %llu\n", way_names[way], (unsigned long long)n,
                (unsigned long long)(opt.commits * opt.puts));
        exit(1);
    }
    OK(birch_close(db));
    rmtree(dir);
    return us;
}

/* One run of a way without a database: us per commit's worth. */
static double run_mem(int way)
{
    birch_batch b;
    birch_batch_init(&b);
    size_t cap = opt.puts * (KEY_SIZE + VALUE_SIZE);
    uint8_t *buf = malloc(cap);
    if (!buf) fail("malloc", BIRCH_ENOMEM);
    double t0 = now_ns();
    for (uint64_t c = 0; c < opt.commits; c++) {
        if (way == BUILD) {
            birch_val out;
            birch_batch_clear(&b);
            for (uint64_t p = 0; p < opt.puts; p++)
                OK(birch_batch_put(&b, "feed", key(c * opt.puts + p), (birch_val){value, VALUE_SIZE}));
            OK(birch_batch_bytes(&b, &out));
            sink += out.size;
        } else {
            uint8_t *q = buf;
            for (uint64_t p = 0; p < opt.puts; p++) {
                memcpy(q, keys + (c * opt.puts + p) * KEY_SIZE, KEY_SIZE);
                memcpy(q + KEY_SIZE, value, VALUE_SIZE);
                q += KEY_SIZE + VALUE_SIZE;
            }
            sink += buf[c % cap];
        }
    }
    double us = (now_ns() - t0) / 1e3 / (double)opt.commits;
    free(buf);
    birch_batch_free(&b);
    return us;
}

static uint64_t parse_u64(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || !v) {
        fprintf(stderr, "birch-bench-feed: bad %s '%s'\n", what, s);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) opt.commits = 100;
        else if (!strcmp(a, "--commits") && v) opt.commits = parse_u64(argv[++i], a);
        else if (!strcmp(a, "--puts") && v) opt.puts = parse_u64(argv[++i], a);
        else if (!strcmp(a, "--repeat") && v) opt.repeat = (int)parse_u64(argv[++i], a);
        else if (!strcmp(a, "--dir") && v) opt.dir = argv[++i];
        else {
            fprintf(stderr, "usage: birch-bench-feed [--commits N] [--puts K] [--repeat R] [--quick] [--dir DIR]\n");
            exit(2);
        }
    }
    if (opt.repeat > MAX_REPEAT) opt.repeat = MAX_REPEAT;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    mkdir(opt.dir, 0755);
    make_keys();
    double us[N_WAYS][MAX_REPEAT];
    for (int r = 0; r < opt.repeat; r++) {
        if (r == 0) run_db(NO_HOOK); /* untimed: the file system warms up */
        for (int k = 0; k < N_WAYS; k++) {
            int way = (k + r) % N_WAYS; /* rotated, so no way always runs first */
            us[way][r] = way <= BATCHES ? run_db(way) : run_mem(way);
            fprintf(stderr, "  run %d %-9s %8.2f us per commit\n", r + 1, way_names[way], us[way][r]);
        }
    }
    double m[N_WAYS];
    for (int w = 0; w < N_WAYS; w++) m[w] = median(us[w], opt.repeat);
    double capture = m[BATCHES] - m[NO_HOOK];
    printf("## The change feed's cost (birch-bench-feed --commits %llu --puts %llu --repeat %d)\n\n",
           (unsigned long long)opt.commits, (unsigned long long)opt.puts, opt.repeat);
    printf("%llu commits of %llu puts (16-byte rising keys, 100-byte values), BIRCH_DURABLE_NONE; medians of %d "
           "runs.\n\n",
           (unsigned long long)opt.commits, (unsigned long long)opt.puts, opt.repeat);
    printf("| way | us per commit |\n|---|---:|\n");
    for (int w = 0; w < N_WAYS; w++) printf("| %s | %.2f |\n", way_names[w], m[w]);
    printf("\n| figure | value |\n|---|---:|\n");
    printf("| ids only / no hook | %.3f |\n", m[IDS] / m[NO_HOOK]);
    printf("| batches / no hook | %.3f |\n", m[BATCHES] / m[NO_HOOK]);
    printf("| capture (batches - no hook), us per commit | %.2f |\n", capture);
    printf("| capture / build (goal: at most 1) | %.2f |\n", capture / m[BUILD]);
    printf("| capture / copy | %.2f |\n", capture / m[COPY]);
    free(keys);
    return sink == 42; /* keeps sink alive */
}
