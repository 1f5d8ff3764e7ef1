/*
 * bench.c - the reference benchmark suite: the workload of redb's
 * lmdb_benchmark, run on birch, LMDB, RocksDB, LevelDB and SQLite through one
 * harness in one process, so that the ratios between engines are fair.
 *
 *   birch-bench [--elements N] [--engines a,b,..] [--rows a,b,..] [--quick]
 *               [--threads 1,2,4,8] [--cache-mib N] [--dir DIR] [--keep]
 *
 * Records: keys of 24 random bytes and values of 150 random bytes.  Record i
 * is a pure function of i: words 22*i+1 .. 22*i+22 of the splitmix64 stream
 * with seed 3 (3 words of key, 19 of value, the last 2 bytes dropped).  So
 * the read rows replay the writes from the same fixed seed, and every thread
 * replays its own share without skipping through the stream.
 *
 * Rows, in the order of redb's table: bulk load (records 0..N-1 in one
 * transaction); individual writes (1,000 commits of one record each);
 * batch writes (100 commits of 1,000); nosync writes (50,000 single-record
 * commits without fsync); len(); random reads (N gets, twice); random range
 * reads (N/2 scans of 10 records from an existing key, twice); random reads
 * on 1, 2, 4 and 8 threads (all records split between the threads); removals
 * (the first half of all records in one transaction); uncompacted size;
 * compaction; compacted size (after compaction and one more commit, as redb
 * measures it).  Every commit is durable except in the nosync row.
 *
 * Every value read is checked: gets compare the whole value; each range
 * checks its first record byte for byte, then that keys ascend and have the
 * right sizes, and the hashes of all records seen must sum to the total
 * computed beforehand from the sorted keys.  A mismatch ends the run with
 * exit status 1.
 *
 * Output: progress on stderr; the markdown table on stdout and in
 * DIR/results.md, DIR/results.csv, and DIR/ratios.svg (birch/LMDB per row).
 */
#define _GNU_SOURCE /* nftw, statfs */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "engine.h"

#define KEY_SIZE 24
#define VALUE_SIZE 150
#define WORDS_PER_RECORD 22 /* 3 key words + 19 value words (152 bytes, 150 used) */
#define RNG_SEED 3u         /* redb's seed */
#define SCAN_LEN 10
#define READ_ITERATIONS 2
#define SCAN_ITERATIONS 2
#define MAX_ENGINES 8
#define MAX_THREAD_COUNTS 8
#define MAX_ROWS 32

/* ---- Errors and small helpers ---------------------------------------------- */

_Noreturn void bench_die(const char *engine, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "bench: %s: ", engine ? engine : "harness");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        bench_die(NULL, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

void bench_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t size_acc;

static int size_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        size_acc += (uint64_t)st->st_size;
    return 0;
}

/* The bytes of all files under dir (apparent sizes, as redb sums them). */
static uint64_t dir_size(const char *dir)
{
    size_acc = 0;
    if (nftw(dir, size_one, 16, FTW_PHYS) != 0)
        bench_die(NULL, "cannot walk %s", dir);
    return size_acc;
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
        bench_die(NULL, "cannot create %s: %s", path, strerror(errno));
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        bench_die(NULL, "out of memory (%zu bytes)", n);
    return p;
}

/* ---- Records ------------------------------------------------------------------ */

static inline uint64_t splitmix64_at(uint64_t n)
{
    /* The n-th output (n >= 1) of splitmix64 seeded with RNG_SEED. */
    uint64_t z = RNG_SEED + n * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Record i: key[KEY_SIZE] and, when val is not NULL, val[VALUE_SIZE]. */
static inline void make_record(uint64_t i, uint8_t *key, uint8_t *val)
{
    uint64_t base = i * WORDS_PER_RECORD + 1;
    for (int w = 0; w < 3; w++) {
        uint64_t x = splitmix64_at(base + (uint64_t)w);
        memcpy(key + 8 * w, &x, 8);
    }
    if (val) {
        uint8_t tmp[152];
        for (int w = 0; w < 19; w++) {
            uint64_t x = splitmix64_at(base + 3 + (uint64_t)w);
            memcpy(tmp + 8 * w, &x, 8);
        }
        memcpy(val, tmp, VALUE_SIZE);
    }
}

static inline uint64_t load64(const void *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

/* The hash of one record as range scans sum it. */
static inline uint64_t record_hash(const void *key, const void *val, size_t vlen)
{
    uint64_t seed = load64(key) ^ (load64((const uint8_t *)key + 8) << 21 |
                                   load64((const uint8_t *)key + 8) >> 43) ^
                    (load64((const uint8_t *)key + 16) << 42 |
                     load64((const uint8_t *)key + 16) >> 22);
    return XXH3_64bits_withSeed(val, vlen, seed);
}

/* ---- Engines, rows, results ------------------------------------------------- */

static const bench_engine *const all_engines[] = {
    &bench_birch, &bench_lmdb, &bench_rocksdb, &bench_leveldb, &bench_sqlite, &bench_sqlite_wal,
};
#define N_ALL_ENGINES (sizeof all_engines / sizeof all_engines[0])

enum unit { U_MS, U_MIB };

typedef struct {
    char label[64]; /* as shown in the table */
    char group[16]; /* what --rows selects it by */
    enum unit unit;
} row_def;

static row_def rows[MAX_ROWS];
static int n_rows;

/* results[row][engine]: a number, NAN for "n/a" (the engine cannot),
 * or -1 for "not run". */
static double results[MAX_ROWS][MAX_ENGINES];

static int add_row(const char *label, const char *group, enum unit unit)
{
    if (n_rows == MAX_ROWS)
        bench_die(NULL, "too many rows");
    row_def *r = &rows[n_rows];
    snprintf(r->label, sizeof r->label, "%s", label);
    snprintf(r->group, sizeof r->group, "%s", group);
    r->unit = unit;
    return n_rows++;
}

/* ---- Options ---------------------------------------------------------------------- */

static const char *const row_groups[] = {"bulk", "individual", "batch", "nosync", "len", "reads",
                                         "ranges", "threads", "removals", "size", "compaction"};
#define N_ROW_GROUPS (sizeof row_groups / sizeof row_groups[0])

typedef struct {
    uint64_t elements;
    uint64_t individual; /* individual durable writes */
    uint64_t batches, batch_size;
    uint64_t nosync;
    uint64_t reads, scans;
    int thread_counts[MAX_THREAD_COUNTS];
    int n_thread_counts;
    uint64_t cache_mib;
    const char *dir;
    int repeat;
    bool keep, quick;
    const bench_engine *engines[MAX_ENGINES];
    int n_engines;
    bool group_on[N_ROW_GROUPS];
    char command[2048];
} options;

static options opt;

static bool on(const char *group)
{
    for (size_t i = 0; i < N_ROW_GROUPS; i++)
        if (strcmp(row_groups[i], group) == 0)
            return opt.group_on[i];
    bench_die(NULL, "unknown row group %s", group);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: birch-bench [options]\n"
            "  --elements N     records bulk-loaded (default 1000000; redb used 5000000);\n"
            "                   random reads = N, range scans = N/2\n"
            "  --engines LIST   comma-separated, from: birch,lmdb,rocksdb,leveldb,sqlite,sqlite-wal\n"
            "                   (default: all)\n"
            "  --rows LIST      comma-separated, from: bulk,individual,batch,nosync,len,reads,\n"
            "                   ranges,threads,removals,size,compaction (default: all; the bulk\n"
            "                   load always runs, since every other row needs its records)\n"
            "  --threads LIST   reader thread counts (default 1,2,4,8)\n"
            "  --repeat K       run every engine K times, in forward then reverse order,\n"
            "                   and report the best time of each row (default 1)\n"
            "  --quick          a small run for CI: 5000 records, 20 individual writes,\n"
            "                   10 batches of 100, 1000 nosync writes; checks the harness,\n"
            "                   not the speed\n"
            "  --cache-mib N    block cache for RocksDB and LevelDB (default 4096)\n"
            "  --dir DIR        working directory: databases go in DIR/db-<engine> (removed\n"
            "                   afterwards unless --keep), results in DIR/results.{md,csv}\n"
            "                   and DIR/ratios.svg (default: ./bench-results)\n"
            "  --keep           keep the databases\n");
}

static uint64_t parse_u64(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0)
        bench_die(NULL, "bad %s: %s", what, s);
    return v;
}

static void parse_args(int argc, char **argv)
{
    opt.elements = 1000000;
    opt.individual = 1000;
    opt.batches = 100;
    opt.batch_size = 1000;
    opt.nosync = 50000;
    opt.cache_mib = 4096;
    opt.repeat = 1;
    opt.dir = "bench-results";
    int default_threads[] = {1, 2, 4, 8};
    memcpy(opt.thread_counts, default_threads, sizeof default_threads);
    opt.n_thread_counts = 4;
    for (size_t i = 0; i < N_ROW_GROUPS; i++)
        opt.group_on[i] = true;
    const char *engines = NULL, *rowlist = NULL;
    bool elements_given = false;

    size_t len = 0;
    for (int i = 0; i < argc && len < sizeof opt.command - 1; i++)
        len += (size_t)snprintf(opt.command + len, sizeof opt.command - len, "%s%s",
                                i ? " " : "", argv[i]);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_ARG()                                                                             \
    do {                                                                                       \
        if (!next)                                                                             \
            bench_die(NULL, "%s needs an argument", a);                                        \
        i++;                                                                                   \
    } while (0)
        if (strcmp(a, "--elements") == 0) {
            NEED_ARG();
            opt.elements = parse_u64(next, "--elements");
            elements_given = true;
        } else if (strcmp(a, "--engines") == 0) {
            NEED_ARG();
            engines = next;
        } else if (strcmp(a, "--rows") == 0) {
            NEED_ARG();
            rowlist = next;
        } else if (strcmp(a, "--threads") == 0) {
            NEED_ARG();
            opt.n_thread_counts = 0;
            char buf[256];
            snprintf(buf, sizeof buf, "%s", next);
            for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (opt.n_thread_counts == MAX_THREAD_COUNTS)
                    bench_die(NULL, "at most %d thread counts", MAX_THREAD_COUNTS);
                uint64_t n = parse_u64(t, "--threads");
                if (n > 1024)
                    bench_die(NULL, "too many threads: %s", t);
                opt.thread_counts[opt.n_thread_counts++] = (int)n;
            }
        } else if (strcmp(a, "--repeat") == 0) {
            NEED_ARG();
            uint64_t n = parse_u64(next, "--repeat");
            if (n > 100)
                bench_die(NULL, "--repeat: at most 100");
            opt.repeat = (int)n;
        } else if (strcmp(a, "--quick") == 0) {
            opt.quick = true;
        } else if (strcmp(a, "--cache-mib") == 0) {
            NEED_ARG();
            opt.cache_mib = parse_u64(next, "--cache-mib");
        } else if (strcmp(a, "--dir") == 0) {
            NEED_ARG();
            opt.dir = next;
        } else if (strcmp(a, "--keep") == 0) {
            opt.keep = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else {
            usage(stderr);
            bench_die(NULL, "unknown argument %s", a);
        }
#undef NEED_ARG
    }

    if (opt.quick) {
        if (!elements_given)
            opt.elements = 5000;
        opt.individual = 20;
        opt.batches = 10;
        opt.batch_size = 100;
        opt.nosync = 1000;
    }
    opt.reads = opt.elements;
    opt.scans = opt.elements / 2 ? opt.elements / 2 : 1;

    if (engines) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", engines);
        for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            const bench_engine *e = NULL;
            for (size_t k = 0; k < N_ALL_ENGINES; k++)
                if (strcmp(all_engines[k]->name, t) == 0)
                    e = all_engines[k];
            if (!e)
                bench_die(NULL, "unknown engine %s", t);
            if (opt.n_engines == MAX_ENGINES)
                bench_die(NULL, "too many engines");
            opt.engines[opt.n_engines++] = e;
        }
    } else {
        for (size_t k = 0; k < N_ALL_ENGINES; k++)
            opt.engines[opt.n_engines++] = all_engines[k];
    }
    if (opt.n_engines == 0)
        bench_die(NULL, "no engines");

    if (rowlist) {
        for (size_t i = 0; i < N_ROW_GROUPS; i++)
            opt.group_on[i] = false;
        char buf[512];
        snprintf(buf, sizeof buf, "%s", rowlist);
        for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            size_t i;
            for (i = 0; i < N_ROW_GROUPS; i++)
                if (strcmp(row_groups[i], t) == 0)
                    break;
            if (i == N_ROW_GROUPS)
                bench_die(NULL, "unknown row %s", t);
            opt.group_on[i] = true;
        }
    }
}

/* ---- Row ids, built once from the options --------------------------------------- */

static int r_bulk, r_individual, r_batch, r_nosync, r_len, r_reads[READ_ITERATIONS],
    r_ranges[SCAN_ITERATIONS], r_threads[MAX_THREAD_COUNTS], r_removals, r_uncompacted,
    r_compaction, r_compacted;

static void build_rows(void)
{
    char label[64];
    r_bulk = add_row("bulk load", "bulk", U_MS);
    snprintf(label, sizeof label, "individual writes (%llu)", (unsigned long long)opt.individual);
    r_individual = add_row(label, "individual", U_MS);
    snprintf(label, sizeof label, "batch writes (%llu x %llu)", (unsigned long long)opt.batches,
             (unsigned long long)opt.batch_size);
    r_batch = add_row(label, "batch", U_MS);
    snprintf(label, sizeof label, "nosync writes (%llu)", (unsigned long long)opt.nosync);
    r_nosync = add_row(label, "nosync", U_MS);
    r_len = add_row("len()", "len", U_MS);
    r_reads[0] = add_row("random reads", "reads", U_MS);
    r_reads[1] = add_row("random reads (again)", "reads", U_MS);
    r_ranges[0] = add_row("random range reads", "ranges", U_MS);
    r_ranges[1] = add_row("random range reads (again)", "ranges", U_MS);
    for (int t = 0; t < opt.n_thread_counts; t++) {
        snprintf(label, sizeof label, "random reads (%d thread%s)", opt.thread_counts[t],
                 opt.thread_counts[t] == 1 ? "" : "s");
        r_threads[t] = add_row(label, "threads", U_MS);
    }
    r_removals = add_row("removals", "removals", U_MS);
    r_uncompacted = add_row("uncompacted size", "size", U_MIB);
    r_compaction = add_row("compaction", "compaction", U_MS);
    r_compacted = add_row("compacted size", "compaction", U_MIB);
    for (int r = 0; r < n_rows; r++)
        for (int e = 0; e < MAX_ENGINES; e++)
            results[r][e] = -1;
}

/* ---- Expected range-scan totals ------------------------------------------------------ */

typedef struct {
    uint8_t key[KEY_SIZE];
    uint32_t idx;
} sorted_rec;

static int cmp_sorted(const void *a, const void *b)
{
    return memcmp(((const sorted_rec *)a)->key, ((const sorted_rec *)b)->key, KEY_SIZE);
}

static uint64_t expect_scan_sum, expect_scan_count;

/* What the range rows must see: records 0..total-1 are in the database. */
static void prepare_scan_expectations(uint64_t total)
{
    if (total > UINT32_MAX)
        bench_die(NULL, "too many records for the range check");
    sorted_rec *s = xmalloc(total * sizeof *s);
    uint64_t *hash = xmalloc(total * sizeof *hash);
    uint32_t *rank = xmalloc(total * sizeof *rank);
    uint8_t val[VALUE_SIZE];
    for (uint64_t i = 0; i < total; i++) {
        make_record(i, s[i].key, val);
        s[i].idx = (uint32_t)i;
        hash[i] = record_hash(s[i].key, val, VALUE_SIZE);
    }
    qsort(s, total, sizeof *s, cmp_sorted);
    for (uint64_t p = 0; p < total; p++) {
        if (p && memcmp(s[p - 1].key, s[p].key, KEY_SIZE) == 0)
            bench_die(NULL, "two records share a key; choose another --elements");
        rank[s[p].idx] = (uint32_t)p;
    }
    expect_scan_sum = expect_scan_count = 0;
    for (uint64_t i = 0; i < opt.scans; i++) {
        uint64_t p = rank[i];
        for (uint64_t j = 0; j < SCAN_LEN && p + j < total; j++) {
            expect_scan_sum += hash[s[p + j].idx];
            expect_scan_count++;
        }
    }
    free(s);
    free(hash);
    free(rank);
}

/* ---- The workload ------------------------------------------------------------------ */

typedef struct {
    const bench_engine *e;
    void *db;
    int col;
    char dir[4096];
    const bench_config *cfg;
} run_ctx;

/* Keeps the best (lowest) of the repeats: the least disturbed by whatever
 * else the machine was doing. */
static void record_result(run_ctx *rc, int row, double v)
{
    double *slot = &results[row][rc->col];
    if (*slot == -1 || isnan(*slot) || (!isnan(v) && v < *slot))
        *slot = v;
    const row_def *r = &rows[row];
    if (isnan(v))
        fprintf(stderr, "  %-10s %-32s n/a\n", rc->e->name, r->label);
    else if (r->unit == U_MS)
        fprintf(stderr, "  %-10s %-32s %10.1f ms\n", rc->e->name, r->label, v);
    else
        fprintf(stderr, "  %-10s %-32s %10.2f MiB\n", rc->e->name, r->label, v);
}

static void put_records(run_ctx *rc, uint64_t from, uint64_t n)
{
    uint8_t key[KEY_SIZE], val[VALUE_SIZE];
    for (uint64_t i = from; i < from + n; i++) {
        make_record(i, key, val);
        rc->e->put(rc->db, key, KEY_SIZE, val, VALUE_SIZE);
    }
}

/* One commit per record (individual and nosync writes). */
static double single_commits(run_ctx *rc, uint64_t from, uint64_t n)
{
    uint8_t key[KEY_SIZE], val[VALUE_SIZE];
    double t0 = now_ms();
    for (uint64_t i = from; i < from + n; i++) {
        make_record(i, key, val);
        rc->e->write_begin(rc->db);
        rc->e->put(rc->db, key, KEY_SIZE, val, VALUE_SIZE);
        rc->e->write_commit(rc->db);
    }
    return now_ms() - t0;
}

static void check_get(const bench_engine *e, void *reader, uint64_t i)
{
    uint8_t key[KEY_SIZE], val[VALUE_SIZE];
    const void *got;
    size_t glen;
    make_record(i, key, val);
    if (!e->get(reader, key, KEY_SIZE, &got, &glen))
        bench_die(e->name, "record %llu not found", (unsigned long long)i);
    if (glen != VALUE_SIZE || memcmp(got, val, VALUE_SIZE) != 0)
        bench_die(e->name, "record %llu: wrong value (%zu bytes)", (unsigned long long)i, glen);
}

typedef struct {
    const char *engine;
    uint64_t scan_no;
    const uint8_t *want_key, *want_val;
    uint8_t prev[KEY_SIZE];
    size_t n;
    uint64_t sum, count;
} scan_ctx;

static void scan_visit(void *p, const void *k, size_t klen, const void *v, size_t vlen)
{
    scan_ctx *c = p;
    if (klen != KEY_SIZE || vlen != VALUE_SIZE)
        bench_die(c->engine, "scan %llu: record %zu has sizes %zu/%zu",
                  (unsigned long long)c->scan_no, c->n, klen, vlen);
    if (c->n == 0) {
        if (memcmp(k, c->want_key, KEY_SIZE) != 0 || memcmp(v, c->want_val, VALUE_SIZE) != 0)
            bench_die(c->engine, "scan %llu: wrong first record", (unsigned long long)c->scan_no);
    } else if (memcmp(c->prev, k, KEY_SIZE) >= 0) {
        bench_die(c->engine, "scan %llu: keys out of order", (unsigned long long)c->scan_no);
    }
    memcpy(c->prev, k, KEY_SIZE);
    c->sum += record_hash(k, v, vlen);
    c->count++;
    c->n++;
}

typedef struct {
    const bench_engine *e;
    void *db;
    uint64_t from, n;
    pthread_barrier_t *ready, *go;
} thread_arg;

static void *reader_thread(void *p)
{
    thread_arg *a = p;
    pthread_barrier_wait(a->ready);
    pthread_barrier_wait(a->go);
    void *reader = a->e->reader_open(a->db);
    for (uint64_t i = a->from; i < a->from + a->n; i++)
        check_get(a->e, reader, i);
    a->e->reader_close(reader);
    return NULL;
}

static double threaded_reads(run_ctx *rc, int threads, uint64_t total)
{
    pthread_t tid[1024];
    thread_arg args[1024];
    pthread_barrier_t ready, go;
    pthread_barrier_init(&ready, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&go, NULL, (unsigned)threads + 1);
    uint64_t share = total / (uint64_t)threads;
    for (int t = 0; t < threads; t++) {
        args[t] = (thread_arg){rc->e, rc->db, (uint64_t)t * share, share, &ready, &go};
        if (pthread_create(&tid[t], NULL, reader_thread, &args[t]) != 0)
            bench_die(NULL, "pthread_create failed");
    }
    /* Every thread is started and waiting; the clock starts before any of
     * them can read (each opens its reader inside the timed part). */
    pthread_barrier_wait(&ready);
    double t0 = now_ms();
    pthread_barrier_wait(&go);
    for (int t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    double ms = now_ms() - t0;
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&go);
    return ms;
}

static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

static void run_engine(run_ctx *rc)
{
    const bench_engine *e = rc->e;
    double t0;
    uint64_t next = 0; /* the next record index to write */

    fprintf(stderr, "%s: %s\n", e->name, "starting");
    bench_rmtree(rc->dir);
    mkdir_p(rc->dir);
    rc->db = e->open(rc->dir, rc->cfg);

    /* Bulk load: always runs, the other rows need its records. */
    t0 = now_ms();
    e->write_begin(rc->db);
    put_records(rc, 0, opt.elements);
    e->write_commit(rc->db);
    double ms = now_ms() - t0;
    next = opt.elements;
    if (on("bulk"))
        record_result(rc, r_bulk, ms);

    if (on("individual")) {
        record_result(rc, r_individual, single_commits(rc, next, opt.individual));
        next += opt.individual;
    }
    if (on("batch")) {
        t0 = now_ms();
        for (uint64_t b = 0; b < opt.batches; b++) {
            e->write_begin(rc->db);
            put_records(rc, next, opt.batch_size);
            e->write_commit(rc->db);
            next += opt.batch_size;
        }
        record_result(rc, r_batch, now_ms() - t0);
    }
    if (on("nosync")) {
        e->set_sync(rc->db, 0);
        record_result(rc, r_nosync, single_commits(rc, next, opt.nosync));
        next += opt.nosync;
        e->set_sync(rc->db, 1);
    }
    uint64_t total = next;

    if (on("len")) {
        t0 = now_ms();
        uint64_t n = e->count(rc->db);
        ms = now_ms() - t0;
        if (n != total)
            bench_die(e->name, "len() = %llu, expected %llu", (unsigned long long)n,
                      (unsigned long long)total);
        record_result(rc, r_len, ms);
    }

    if (on("reads") || on("ranges")) {
        void *reader = e->reader_open(rc->db);
        for (int it = 0; on("reads") && it < READ_ITERATIONS; it++) {
            t0 = now_ms();
            for (uint64_t i = 0; i < opt.reads; i++)
                check_get(e, reader, i % total);
            record_result(rc, r_reads[it], now_ms() - t0);
        }
        for (int it = 0; on("ranges") && it < SCAN_ITERATIONS; it++) {
            uint8_t key[KEY_SIZE], val[VALUE_SIZE];
            scan_ctx c = {.engine = e->name, .want_key = key, .want_val = val};
            t0 = now_ms();
            for (uint64_t i = 0; i < opt.scans; i++) {
                make_record(i % total, key, val);
                c.scan_no = i;
                c.n = 0;
                e->scan(reader, key, KEY_SIZE, SCAN_LEN, scan_visit, &c);
                if (c.n == 0)
                    bench_die(e->name, "scan %llu found nothing", (unsigned long long)i);
            }
            ms = now_ms() - t0;
            if (c.count != expect_scan_count || c.sum != expect_scan_sum)
                bench_die(e->name,
                          "range reads saw %llu records with hash sum %016llx, expected %llu "
                          "with %016llx",
                          (unsigned long long)c.count, (unsigned long long)c.sum,
                          (unsigned long long)expect_scan_count,
                          (unsigned long long)expect_scan_sum);
            record_result(rc, r_ranges[it], ms);
        }
        e->reader_close(reader);
    }

    for (int t = 0; on("threads") && t < opt.n_thread_counts; t++)
        record_result(rc, r_threads[t], threaded_reads(rc, opt.thread_counts[t], total));

    if (on("removals")) {
        uint64_t half = total / 2;
        uint8_t key[KEY_SIZE];
        t0 = now_ms();
        e->write_begin(rc->db);
        for (uint64_t i = 0; i < half; i++) {
            make_record(i, key, NULL);
            if (!e->del(rc->db, key, KEY_SIZE))
                bench_die(e->name, "removal of record %llu: not found", (unsigned long long)i);
        }
        e->write_commit(rc->db);
        record_result(rc, r_removals, now_ms() - t0);

        /* Untimed: the right records went. */
        uint64_t n = e->count(rc->db);
        if (n != total - half)
            bench_die(e->name, "after removals len() = %llu, expected %llu",
                      (unsigned long long)n, (unsigned long long)(total - half));
        void *reader = e->reader_open(rc->db);
        uint64_t step = total / 1000 ? total / 1000 : 1;
        for (uint64_t i = 0; i < total; i += step) {
            uint8_t val[VALUE_SIZE];
            const void *got;
            size_t glen;
            make_record(i, key, val);
            int found = e->get(reader, key, KEY_SIZE, &got, &glen);
            if (found != (i >= half))
                bench_die(e->name, "after removals record %llu is %s", (unsigned long long)i,
                          found ? "still there" : "missing");
            if (found && (glen != VALUE_SIZE || memcmp(got, val, VALUE_SIZE) != 0))
                bench_die(e->name, "after removals record %llu has a wrong value",
                          (unsigned long long)i);
        }
        e->reader_close(reader);
    }

    if (on("size"))
        record_result(rc, r_uncompacted, mib(dir_size(rc->dir)));

    if (on("compaction")) {
        t0 = now_ms();
        int did = e->compact ? e->compact(rc->db) : 0;
        ms = now_ms() - t0;
        if (did) {
            record_result(rc, r_compaction, ms);
            /* One more durable commit, then the size (as redb measures it). */
            single_commits(rc, next, 1);
            next++;
            record_result(rc, r_compacted, mib(dir_size(rc->dir)));
        } else {
            record_result(rc, r_compaction, NAN);
            record_result(rc, r_compacted, NAN);
        }
    }

    e->close(rc->db);
    if (!opt.keep)
        bench_rmtree(rc->dir);
}

/* ---- Machine description ------------------------------------------------------------- */

static char machine[1024];

static void describe_machine(void)
{
    char cpu[256] = "?";
    unsigned long long mem_kib = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c) {
                    snprintf(cpu, sizeof cpu, "%s", c + 2);
                    cpu[strcspn(cpu, "\n")] = 0;
                }
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
    const char *fs = "?";
    struct statfs sfs;
    if (statfs(opt.dir, &sfs) == 0) {
        switch ((unsigned long)sfs.f_type) {
        case 0xEF53: fs = "ext4"; break;
        case 0x58465342: fs = "xfs"; break;
        case 0x9123683E: fs = "btrfs"; break;
        case 0x01021994: fs = "tmpfs"; break;
        case 0x794c7630: fs = "overlayfs"; break;
        case 0x2FC12FC1: fs = "zfs"; break;
        default: fs = "other"; break;
        }
    }
    snprintf(machine, sizeof machine, "%s, %ld CPUs, %.1f GiB RAM; working directory on %s",
             cpu, sysconf(_SC_NPROCESSORS_ONLN), (double)mem_kib / (1024.0 * 1024.0), fs);
}

/* ---- Output -------------------------------------------------------------------------- */

static int col_of(const char *name)
{
    for (int e = 0; e < opt.n_engines; e++)
        if (strcmp(opt.engines[e]->name, name) == 0)
            return e;
    return -1;
}

static bool row_ran(int r)
{
    for (int e = 0; e < opt.n_engines; e++)
        if (results[r][e] != -1)
            return true;
    return false;
}

static void fmt_value(char *buf, size_t n, double v, enum unit u)
{
    if (v == -1)
        snprintf(buf, n, "-");
    else if (isnan(v))
        snprintf(buf, n, "n/a");
    else if (u == U_MIB)
        snprintf(buf, n, v >= 100 ? "%.0f" : v >= 1 ? "%.1f" : "%.2f", v);
    else
        snprintf(buf, n, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : v >= 0.1 ? "%.2f" : "%.4f", v);
}

/* birch/LMDB for row r, or NAN. */
static double ratio(int r)
{
    int b = col_of("birch"), l = col_of("lmdb");
    if (b < 0 || l < 0)
        return NAN;
    double x = results[r][b], y = results[r][l];
    if (x == -1 || y == -1 || isnan(x) || isnan(y) || y <= 0)
        return NAN;
    return x / y;
}

static bool have_ratio(void) { return col_of("birch") >= 0 && col_of("lmdb") >= 0; }

static void write_table(FILE *f)
{
    fprintf(f, "| |");
    for (int e = 0; e < opt.n_engines; e++)
        fprintf(f, " %s |", opt.engines[e]->name);
    if (have_ratio())
        fprintf(f, " birch/lmdb |");
    fprintf(f, "\n|---|");
    for (int e = 0; e < opt.n_engines; e++)
        fprintf(f, "---:|");
    if (have_ratio())
        fprintf(f, "---:|");
    fprintf(f, "\n");
    for (int r = 0; r < n_rows; r++) {
        if (!row_ran(r))
            continue;
        int best = -1;
        for (int e = 0; e < opt.n_engines; e++) {
            double v = results[r][e];
            if (v != -1 && !isnan(v) && (best < 0 || v < results[r][best]))
                best = e;
        }
        fprintf(f, "| %s (%s) |", rows[r].label, rows[r].unit == U_MS ? "ms" : "MiB");
        for (int e = 0; e < opt.n_engines; e++) {
            char buf[64];
            fmt_value(buf, sizeof buf, results[r][e], rows[r].unit);
            if (e == best && opt.n_engines > 1)
                fprintf(f, " **%s** |", buf);
            else
                fprintf(f, " %s |", buf);
        }
        if (have_ratio()) {
            double q = ratio(r);
            if (isnan(q))
                fprintf(f, " n/a |");
            else
                fprintf(f, " %.2f |", q);
        }
        fprintf(f, "\n");
    }
}

static void write_settings(FILE *f, const bench_config *cfg)
{
    for (int e = 0; e < opt.n_engines; e++)
        fprintf(f, "- **%s**: %s\n", opt.engines[e]->name, opt.engines[e]->settings(cfg));
}

/* The performance goals of issue 4, judged on this run. */
static void write_goals(FILE *f)
{
    if (!have_ratio())
        return;
    fprintf(f, "\n| goal (birch/lmdb) | target | ratio | |\n|---|---:|---:|---|\n");
    for (int r = 0; r < n_rows; r++) {
        double target;
        if (r == r_bulk || r == r_removals || r == r_reads[0] || r == r_reads[1] ||
            r == r_ranges[0] || r == r_ranges[1] || r == r_compacted)
            target = 1.0;
        else if (r == r_individual)
            target = 0.6;
        else {
            target = -1;
            for (int t = 0; t < opt.n_thread_counts; t++)
                if (r == r_threads[t])
                    target = 1.0;
        }
        if (target < 0 || !row_ran(r))
            continue;
        double q = ratio(r);
        if (isnan(q))
            fprintf(f, "| %s | <= %.1f | n/a | not measured |\n", rows[r].label, target);
        else if (q <= target)
            fprintf(f, "| %s | <= %.1f | %.2f | met |\n", rows[r].label, target, q);
        else
            fprintf(f, "| %s | <= %.1f | %.2f | **missed** by %.2fx |\n", rows[r].label, target,
                    q, q / target);
    }
}

static void write_md(const char *path, const bench_config *cfg, const char *date)
{
    FILE *f = fopen(path, "w");
    if (!f)
        bench_die(NULL, "cannot write %s: %s", path, strerror(errno));
    fprintf(f, "# birch reference benchmark\n\n");
    fprintf(f, "- date: %s\n- command: `%s`\n- machine: %s\n", date, opt.command, machine);
    fprintf(f,
            "- workload: %llu records bulk-loaded (keys 24 random bytes, values 150), %llu "
            "random reads, %llu range scans of %d; times in ms, sizes in MiB; bold = best of "
            "the row",
            (unsigned long long)opt.elements, (unsigned long long)opt.reads,
            (unsigned long long)opt.scans, SCAN_LEN);
    if (opt.repeat > 1)
        fprintf(f, "; each cell the best of %d runs (engines in alternating order)", opt.repeat);
    fprintf(f, "\n\n");
    write_table(f);
    fprintf(f, "\nSettings:\n\n");
    write_settings(f, cfg);
    write_goals(f);
    fclose(f);
}

static void write_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        bench_die(NULL, "cannot write %s: %s", path, strerror(errno));
    fprintf(f, "row,unit");
    for (int e = 0; e < opt.n_engines; e++)
        fprintf(f, ",%s", opt.engines[e]->name);
    if (have_ratio())
        fprintf(f, ",birch/lmdb");
    fprintf(f, "\n");
    for (int r = 0; r < n_rows; r++) {
        if (!row_ran(r))
            continue;
        fprintf(f, "%s,%s", rows[r].label, rows[r].unit == U_MS ? "ms" : "MiB");
        for (int e = 0; e < opt.n_engines; e++) {
            double v = results[r][e];
            if (v == -1 || isnan(v))
                fprintf(f, ",");
            else
                fprintf(f, ",%.3f", v);
        }
        if (have_ratio()) {
            double q = ratio(r);
            if (isnan(q))
                fprintf(f, ",");
            else
                fprintf(f, ",%.4f", q);
        }
        fprintf(f, "\n");
    }
    fclose(f);
}

static void svg_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    }
}

/* A horizontal bar chart of birch/LMDB per row on a log2 axis from 1/8 to 8:
 * bars to the left of 1 are rows where birch is faster (or smaller). */
static void write_svg(const char *path, const char *date)
{
    FILE *f = fopen(path, "w");
    if (!f)
        bench_die(NULL, "cannot write %s: %s", path, strerror(errno));
    int shown = 0;
    for (int r = 0; r < n_rows; r++)
        if (row_ran(r) && r != r_len)
            shown++;
    const int label_w = 250, plot_w = 520, bar_h = 18, gap = 6, top = 60;
    const int width = label_w + plot_w + 80, height = top + shown * (bar_h + gap) + 50;
    const double lo = -3, hi = 3; /* log2 range */
#define XPOS(l2) (label_w + (int)(((l2) - lo) / (hi - lo) * plot_w))
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">birch / LMDB, per "
            "row (log scale; left of 1 = birch faster or smaller)</text>\n"
            "<text x=\"10\" y=\"38\" fill=\"#555\">%llu records; %s</text>\n",
            width, height, (unsigned long long)opt.elements, date);
    for (int l2 = (int)lo; l2 <= (int)hi; l2++) {
        int x = XPOS(l2);
        double v = pow(2, l2);
        fprintf(f,
                "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                "stroke-width=\"%d\"/>\n",
                x, top - 5, x, top + shown * (bar_h + gap), l2 == 0 ? "#000" : "#ddd",
                l2 == 0 ? 2 : 1);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%s%g</text>\n",
                x, top + shown * (bar_h + gap) + 16, "", v);
    }
    int y = top;
    for (int r = 0; r < n_rows; r++) {
        if (!row_ran(r) || r == r_len)
            continue;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", label_w - 8,
                y + bar_h - 5);
        svg_escape(f, rows[r].label);
        fprintf(f, "</text>\n");
        double q = ratio(r);
        if (isnan(q)) {
            fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#888\">n/a</text>\n", XPOS(0) + 6,
                    y + bar_h - 5);
        } else {
            double l2 = log2(q);
            if (l2 < lo)
                l2 = lo;
            if (l2 > hi)
                l2 = hi;
            int x0 = XPOS(0), x1 = XPOS(l2);
            int xa = x0 < x1 ? x0 : x1, w = abs(x1 - x0);
            fprintf(f,
                    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n",
                    xa, y, w < 1 ? 1 : w, bar_h, q <= 1.0 ? "#3a8f3a" : "#c0392b");
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"%s\">%.2f</text>\n",
                    q <= 1.0 ? xa - 4 : xa + w + 4, y + bar_h - 5, q <= 1.0 ? "end" : "start",
                    q);
        }
        y += bar_h + gap;
    }
#undef XPOS
    fprintf(f, "</svg>\n");
    fclose(f);
}

/* ---- main ---------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    build_rows();
    mkdir_p(opt.dir);
    describe_machine();

    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", localtime(&now));

    uint64_t total = opt.elements + (on("individual") ? opt.individual : 0) +
                     (on("batch") ? opt.batches * opt.batch_size : 0) +
                     (on("nosync") ? opt.nosync : 0);
    int max_threads = 1;
    for (int t = 0; t < opt.n_thread_counts; t++)
        if (opt.thread_counts[t] > max_threads)
            max_threads = opt.thread_counts[t];
    bench_config cfg = {
        .elements = total + 1,
        .cache_bytes = opt.cache_mib << 20,
        .threads_max = max_threads,
    };

    fprintf(stderr, "bench: %llu records (%llu with the write rows), %d engines; %s\n",
            (unsigned long long)opt.elements, (unsigned long long)total, opt.n_engines, machine);
    if (on("ranges")) {
        fprintf(stderr, "bench: computing what the range reads must see\n");
        prepare_scan_expectations(total);
    }

    double t_all = now_ms();
    for (int rep = 0; rep < opt.repeat; rep++) {
        for (int k = 0; k < opt.n_engines; k++) {
            /* Odd repeats run the engines in reverse, so that a slow spell
             * of the machine does not always hit the same engine. */
            int e = rep % 2 ? opt.n_engines - 1 - k : k;
            run_ctx rc = {.e = opt.engines[e], .col = e, .cfg = &cfg};
            snprintf(rc.dir, sizeof rc.dir, "%s/db-%s", opt.dir, opt.engines[e]->name);
            double t0 = now_ms();
            if (opt.repeat > 1)
                fprintf(stderr, "bench: repeat %d of %d\n", rep + 1, opt.repeat);
            run_engine(&rc);
            fprintf(stderr, "%s: done in %.1f s\n", opt.engines[e]->name, (now_ms() - t0) / 1e3);
        }
    }

    char path[4200];
    snprintf(path, sizeof path, "%s/results.md", opt.dir);
    write_md(path, &cfg, date);
    snprintf(path, sizeof path, "%s/results.csv", opt.dir);
    write_csv(path);
    if (have_ratio()) {
        snprintf(path, sizeof path, "%s/ratios.svg", opt.dir);
        write_svg(path, date);
    }

    printf("%llu records; times in ms, sizes in MiB\n\n", (unsigned long long)opt.elements);
    write_table(stdout);
    printf("\nSettings:\n\n");
    write_settings(stdout, &cfg);
    write_goals(stdout);
    fprintf(stderr, "bench: all engines in %.1f s; results in %s/results.{md,csv}%s\n",
            (now_ms() - t_all) / 1e3, opt.dir, have_ratio() ? " and ratios.svg" : "");
    return 0;
}
