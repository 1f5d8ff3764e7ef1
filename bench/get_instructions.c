/*
 * get_instructions.c - one thread's random gets of a 1,000,000-record
 * table, for counting instructions with valgrind where the machine has no
 * performance counters (bench/README.md, "Issue 13").  bench/run.sh builds
 * it as build/bench/birch-bench-get-instructions; built in two trees, the
 * instruction counts of the same gets compare the builds without the
 * machine's noise (gi below is either binary):
 *
 *   ./gi /tmp/gi.db load                 # the table (24-byte keys, 150-byte values)
 *   valgrind --tool=cachegrind --cache-sim=no ./gi /tmp/gi.db read 50000
 *   valgrind --tool=cachegrind --cache-sim=no ./gi /tmp/gi.db read 1   # the open alone
 *
 * "read N" makes 4 N gets in one read transaction (N to warm up, then 3
 * timed passes of N) and prints the best pass's ns per get.
 *
 * The writes (issue 14), each on a copy of the loaded file, since they
 * change it (the keys are new: records 1,000,000 onwards):
 *
 *   cp /tmp/gi.db /tmp/w.db && valgrind --tool=callgrind ./gi /tmp/w.db put 10000
 *   cp /tmp/gi.db /tmp/w.db && valgrind --tool=callgrind ./gi /tmp/w.db commits 1000
 *
 * "put N" makes N puts in one write transaction and its durable commit;
 * "commits N" reopens with BIRCH_DURABLE_NONE and makes N commits of one
 * put each.  callgrind_annotate --inclusive=yes then gives birch_put's,
 * birch_txn_begin's and birch_txn_commit's instructions, calls included
 * (the harness's own key formatting and the open are outside them; so is
 * the background checkpoint of a BIRCH_DURABLE_NONE handle, a thread of
 * its own).  The same for the gets: birch_get's inclusive count.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "birch.h"

#define RECORDS 1000000

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void key(uint64_t i, char k[32])
{
    snprintf(k, 32, "%016llx%08llu", (unsigned long long)(i * 0x9e3779b97f4a7c15ull),
             (unsigned long long)(i % 100000000));
}

static void die(const char *what)
{
    fprintf(stderr, "get_instructions: %s: %s\n", what, birch_errmsg());
    exit(1);
}

static void load(birch_db *db)
{
    birch_txn *t;
    birch_table *tb;
    char k[32], v[150];
    memset(v, 'v', sizeof v);
    if (birch_txn_begin(db, BIRCH_TXN_WRITE, &t) || birch_table_open(t, "x", BIRCH_CREATE, &tb)) die("begin");
    for (uint64_t i = 0; i < RECORDS; i++) {
        key(i, k);
        if (birch_put(t, tb, (birch_val){k, 24}, (birch_val){v, sizeof v}, 0)) die("put");
    }
    if (birch_txn_commit(t)) die("commit");
}

/* n gets at random records; returns a byte of each summed (kept live). */
static uint64_t gets(birch_txn *t, birch_table *tb, long n, uint64_t *x)
{
    uint64_t sum = 0;
    char k[32];
    for (long i = 0; i < n; i++) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        key(*x % RECORDS, k);
        birch_val v;
        if (birch_get(t, tb, (birch_val){k, 24}, &v)) die("get");
        sum += ((const unsigned char *)v.data)[3];
    }
    return sum;
}

/* n puts of new records (RECORDS onwards) in one write transaction, then
 * its commit (durable unless the handle says otherwise), or (commits) n
 * write transactions of one put each. */
static void writes(birch_db *db, long n, int commits)
{
    birch_txn *t = NULL;
    birch_table *tb;
    char k[32], v[150];
    memset(v, 'w', sizeof v);
    double t0 = now();
    for (long i = 0; i < n; i++) {
        key(RECORDS + (uint64_t)i, k);
        if (!t && (birch_txn_begin(db, BIRCH_TXN_WRITE, &t) || birch_table_open(t, "x", 0, &tb)))
            die("begin");
        if (birch_put(t, tb, (birch_val){k, 24}, (birch_val){v, sizeof v}, 0)) die("put");
        if (commits) {
            if (birch_txn_commit(t)) die("commit");
            t = NULL;
        }
    }
    if (t && birch_txn_commit(t)) die("commit");
    printf("%.2f us per %s\n", (now() - t0) * 1e6 / (double)(n ? n : 1), commits ? "commit" : "put");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: get_instructions PATH load | PATH read N | PATH put N | PATH commits N\n");
        return 2;
    }
    int reading = strcmp(argv[2], "read") == 0;
    int putting = strcmp(argv[2], "put") == 0, committing = strcmp(argv[2], "commits") == 0;
    long n = argc > 3 ? atol(argv[3]) : RECORDS;
    birch_options o;
    birch_options_init(&o);
    if (committing)
        o.durability = BIRCH_DURABLE_NONE;
    birch_db *db;
    if (birch_open(argv[1], &o, &db)) die("open");
    if (putting || committing) {
        writes(db, n, committing);
        return birch_close(db) ? 1 : 0;
    }
    if (!reading) {
        load(db);
        return birch_close(db) ? 1 : 0;
    }
    birch_txn *t;
    birch_table *tb = NULL;
    if (birch_txn_begin(db, BIRCH_TXN_READ, &t) || birch_table_open(t, "x", 0, &tb)) die("begin");
    uint64_t x = 7, sum = gets(t, tb, n, &x);
    double best = 1e30;
    for (int pass = 0; pass < 3; pass++) {
        double t0 = now();
        sum += gets(t, tb, n, &x);
        if (now() - t0 < best) best = now() - t0;
    }
    printf("%.1f ns per get (%llu)\n", best * 1e9 / (double)n, (unsigned long long)(sum % 7));
    birch_txn_abort(t);
    return birch_close(db) ? 1 : 0;
}
