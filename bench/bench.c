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
 * Rows of issue 12: the durable commit limit (the disk's own cost of a
 * commit: one contiguous write of depth + 1 pages plus one fdatasync, as
 * many times as the individual writes, and their ratio); the bulk load in
 * commits (2 x N records in 20 durable commits, fresh database); the NONE
 * churn (birch and LMDB without sync, 100,000 one-overwrite commits on a
 * 1,000-key set, the files' size and the time sampled every 5,000 commits).
 *
 * Rows of issue 13 (birch and LMDB, the engines whose file many processes
 * open at once): random reads in 1, 2, 4 and 8 processes, each timed beside
 * the threads row of the same count (each process opens the database with
 * a handle of its own, untimed, then reads a thread's share), and their
 * quotient; beside them the machine's own cost of processes, with no
 * database: random 8-byte loads of a read-only shared map of the engine's
 * data file in as many threads, then processes, and their quotient (the
 * map reads); the individual writes made beside 4 reader processes that
 * read all the while, with the gets those processes completed meanwhile.
 *
 * Every value read is checked: gets compare the whole value; each range
 * checks its first record byte for byte, then that keys ascend and have the
 * right sizes, and the hashes of all records seen must sum to the total
 * computed beforehand from the sorted keys.  A mismatch ends the run with
 * exit status 1.
 *
 * Output: progress on stderr; the markdown table on stdout and in
 * DIR/results.md, DIR/results.csv, and DIR/ratios.svg (birch/LMDB per row);
 * the churn series in DIR/churn.csv and DIR/churn.svg.
 */
#define _GNU_SOURCE /* nftw, statfs */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
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
#define MAX_ROWS 64
#define MAX_READERS 1024    /* reader threads or processes of one row */

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

/* nftw passes no context, so the walk sums into these (the harness walks
 * from one thread only). */
static uint64_t size_acc, alloc_acc;

static int size_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F) {
        size_acc += (uint64_t)st->st_size;
        alloc_acc += (uint64_t)st->st_blocks * 512u;
    }
    return 0;
}

/* The bytes of all files under dir (apparent sizes, as redb sums them);
 * *alloc, when not NULL, gets the bytes the file system allocated to them. */
static uint64_t dir_sizes(const char *dir, uint64_t *alloc)
{
    size_acc = alloc_acc = 0;
    if (nftw(dir, size_one, 16, FTW_PHYS) != 0)
        bench_die(NULL, "cannot walk %s", dir);
    if (alloc)
        *alloc = alloc_acc;
    return size_acc;
}

static uint64_t dir_size(const char *dir) { return dir_sizes(dir, NULL); }

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

enum unit { U_MS, U_MIB, U_X /* a multiple (ratio rows) */, U_N /* a count */ };

typedef struct {
    char label[64]; /* as shown in the table */
    char group[24]; /* what --rows selects it by */
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

static const char *const row_groups[] = {"bulk",     "individual", "batch",      "nosync",
                                         "len",      "reads",      "ranges",     "threads",
                                         "removals", "size",       "compaction", "limit",
                                         "bulkcommits", "churn", "procs", "procreads-writer"};
#define N_ROW_GROUPS (sizeof row_groups / sizeof row_groups[0])

typedef struct {
    uint64_t elements;
    uint64_t individual; /* individual durable writes */
    uint64_t batches, batch_size;
    uint64_t nosync;
    uint64_t bulk_commits, bulk_commit_records; /* the bulk load in commits */
    uint64_t churn_commits, churn_every;        /* the NONE churn series */
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

static size_t group_index(const char *group)
{
    for (size_t i = 0; i < N_ROW_GROUPS; i++)
        if (strcmp(row_groups[i], group) == 0)
            return i;
    bench_die(NULL, "unknown row group %s", group);
}

static bool on(const char *group) { return opt.group_on[group_index(group)]; }

static void usage(FILE *f)
{
    fprintf(f,
            "usage: birch-bench [options]\n"
            "  --elements N     records bulk-loaded (default 1000000; redb used 5000000);\n"
            "                   random reads = N, range scans = N/2\n"
            "  --engines LIST   comma-separated, from: birch,lmdb,rocksdb,leveldb,sqlite,sqlite-wal\n"
            "                   (default: all)\n"
            "  --rows LIST      comma-separated, from: bulk,individual,batch,nosync,len,reads,\n"
            "                   ranges,threads,removals,size,compaction,limit,bulkcommits,churn,\n"
            "                   procs,procreads-writer\n"
            "                   (default: all; the bulk load runs whenever a row other than\n"
            "                   bulkcommits and churn does, since they need its records;\n"
            "                   limit also runs individual, procs runs threads and reads:\n"
            "                   the rows they are compared with; procs also has the map\n"
            "                   reads, the machine's own cost of processes)\n"
            "  --threads LIST   reader thread and process counts (default 1,2,4,8)\n"
            "  --repeat K       run every engine K times, in forward then reverse order,\n"
            "                   and report the best time of each row (default 1)\n"
            "  --quick          a small run for CI: 5000 records, 20 individual writes and\n"
            "                   limit writes, 10 batches of 100, 1000 nosync writes, 2000 churn\n"
            "                   commits; checks the harness, not the speed\n"
            "  --cache-mib N    block cache for RocksDB and LevelDB (default 4096)\n"
            "  --dir DIR        working directory: databases go in DIR/db-<engine> (removed\n"
            "                   afterwards unless --keep), results in DIR/results.{md,csv},\n"
            "                   DIR/ratios.svg, DIR/churn.{csv,svg} (default: ./bench-results)\n"
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
    opt.churn_commits = 100000;
    opt.churn_every = 5000;
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
                if (n > MAX_READERS)
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
        opt.churn_commits = 2000;
        opt.churn_every = 200;
    }
    /* The issue's 2,000,000 records in 20 commits of 100,000, scaled with
     * --elements (1,000,000 by default). */
    opt.bulk_commits = 20;
    opt.bulk_commit_records = 2 * opt.elements;
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
        /* The limit is there to be compared with the individual writes,
         * the reads in processes with the reads in threads, which must
         * find the map touched by the random reads as in a full run. */
        if (on("limit"))
            opt.group_on[group_index("individual")] = true;
        if (on("procs")) {
            opt.group_on[group_index("threads")] = true;
            opt.group_on[group_index("reads")] = true;
        }
    }
}

/* ---- Row ids, built once from the options --------------------------------------- */

static int r_bulk, r_bulkcommits, r_individual, r_limit, r_ilimit, r_churn, r_churn_size, r_batch,
    r_nosync, r_len, r_reads[READ_ITERATIONS],
    r_ranges[SCAN_ITERATIONS], r_threads[MAX_THREAD_COUNTS], r_procs[MAX_THREAD_COUNTS],
    r_procs_x[MAX_THREAD_COUNTS], r_map_threads[MAX_THREAD_COUNTS],
    r_map_procs[MAX_THREAD_COUNTS], r_map_x[MAX_THREAD_COUNTS], r_removals, r_uncompacted,
    r_compaction, r_compacted, r_pwriter, r_pwriter_gets;

/* The reader processes beside the durable commits (procreads-writer). */
#define WRITER_READERS 4

static void build_rows(void)
{
    char label[64];
    r_bulk = add_row("bulk load", "bulk", U_MS);
    snprintf(label, sizeof label, "bulk load in commits (%llu x %llu)",
             (unsigned long long)opt.bulk_commits,
             (unsigned long long)(opt.bulk_commit_records / opt.bulk_commits));
    r_bulkcommits = add_row(label, "bulkcommits", U_MS);
    snprintf(label, sizeof label, "individual writes (%llu)", (unsigned long long)opt.individual);
    r_individual = add_row(label, "individual", U_MS);
    snprintf(label, sizeof label, "durable commit limit (%llu)",
             (unsigned long long)opt.individual);
    r_limit = add_row(label, "limit", U_MS);
    r_ilimit = add_row("individual writes / limit", "limit", U_X);
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
    /* Each count's processes under its threads (rows that did not run are
     * not shown, so without procs the table is as it was). */
    for (int t = 0; t < opt.n_thread_counts; t++) {
        int n = opt.thread_counts[t];
        snprintf(label, sizeof label, "random reads (%d thread%s)", n, n == 1 ? "" : "s");
        r_threads[t] = add_row(label, "threads", U_MS);
        snprintf(label, sizeof label, "random reads (%d process%s)", n, n == 1 ? "" : "es");
        r_procs[t] = add_row(label, "procs", U_MS);
        snprintf(label, sizeof label, "random reads, %d process%s / thread%s", n,
                 n == 1 ? "" : "es", n == 1 ? "" : "s");
        r_procs_x[t] = add_row(label, "procs", U_X);
        /* The machine's own cost of processes, under the rows it explains. */
        snprintf(label, sizeof label, "map reads (%d thread%s)", n, n == 1 ? "" : "s");
        r_map_threads[t] = add_row(label, "procs", U_MS);
        snprintf(label, sizeof label, "map reads (%d process%s)", n, n == 1 ? "" : "es");
        r_map_procs[t] = add_row(label, "procs", U_MS);
        snprintf(label, sizeof label, "map reads, %d process%s / thread%s", n,
                 n == 1 ? "" : "es", n == 1 ? "" : "s");
        r_map_x[t] = add_row(label, "procs", U_X);
    }
    r_removals = add_row("removals", "removals", U_MS);
    r_uncompacted = add_row("uncompacted size", "size", U_MIB);
    r_compaction = add_row("compaction", "compaction", U_MS);
    r_compacted = add_row("compacted size", "compaction", U_MIB);
    snprintf(label, sizeof label, "NONE churn (%llu commits)",
             (unsigned long long)opt.churn_commits);
    r_churn = add_row(label, "churn", U_MS);
    r_churn_size = add_row("NONE churn, final size", "churn", U_MIB);
    snprintf(label, sizeof label, "durable commits beside %d reader processes (%llu)",
             WRITER_READERS, (unsigned long long)opt.individual);
    r_pwriter = add_row(label, "procreads-writer", U_MS);
    snprintf(label, sizeof label, "gets of the %d reader processes meanwhile", WRITER_READERS);
    r_pwriter_gets = add_row(label, "procreads-writer", U_N);
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
    else if (r->unit == U_MIB)
        fprintf(stderr, "  %-10s %-32s %10.2f MiB\n", rc->e->name, r->label, v);
    else if (r->unit == U_N)
        fprintf(stderr, "  %-10s %-32s %10.0f\n", rc->e->name, r->label, v);
    else
        fprintf(stderr, "  %-10s %-32s %10.2f x\n", rc->e->name, r->label, v);
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

/* One thread's share of the threaded reads (and of each reader process). */
static void read_share(const bench_engine *e, void *db, uint64_t from, uint64_t n)
{
    void *reader = e->reader_open(db);
    for (uint64_t i = from; i < from + n; i++)
        check_get(e, reader, i);
    e->reader_close(reader);
}

static void *reader_thread(void *p)
{
    thread_arg *a = p;
    pthread_barrier_wait(a->ready);
    pthread_barrier_wait(a->go);
    read_share(a->e, a->db, a->from, a->n);
    return NULL;
}

/* Threads started together: each waits at ready, then at go; the clock
 * starts between the two, so it times their work, not their creation. */
typedef struct start_line {
    pthread_barrier_t ready, go;
} start_line;

static void start_line_init(start_line *sl, int threads)
{
    pthread_barrier_init(&sl->ready, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&sl->go, NULL, (unsigned)threads + 1);
}

/* Runs fn on threads arguments (args, stride bytes apart, whose barriers
 * are sl's), releases them together and returns the ms until the last one
 * ended.  Destroys sl's barriers. */
static double timed_threads(start_line *sl, int threads, void *(*fn)(void *), void *args, size_t stride)
{
    pthread_t tid[MAX_READERS];
    for (int t = 0; t < threads; t++)
        if (pthread_create(&tid[t], NULL, fn, (char *)args + (size_t)t * stride) != 0)
            bench_die(NULL, "pthread_create failed");
    pthread_barrier_wait(&sl->ready);
    double t0 = now_ms();
    pthread_barrier_wait(&sl->go);
    for (int t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    double ms = now_ms() - t0;
    pthread_barrier_destroy(&sl->ready);
    pthread_barrier_destroy(&sl->go);
    return ms;
}

/* Every thread is started and waiting; the clock starts before any of them
 * can read (each opens its reader inside the timed part). */
static double threaded_reads(run_ctx *rc, int threads, uint64_t total)
{
    thread_arg args[MAX_READERS];
    start_line sl;
    start_line_init(&sl, threads);
    uint64_t share = total / (uint64_t)threads;
    for (int t = 0; t < threads; t++)
        args[t] = (thread_arg){rc->e, rc->db, (uint64_t)t * share, share, &sl.ready, &sl.go};
    return timed_threads(&sl, threads, reader_thread, args, sizeof args[0]);
}

/* ---- Reads in processes --------------------------------------------------------------- */

/* Reader processes, each with a pipe of its own to the harness: it writes
 * one byte once it is ready (database open, records read once), then, when
 * it stops, the number of gets it made.  A pipe per process, so that a process that dies shows as
 * the end of its own pipe instead of leaving the harness waiting. */
typedef struct {
    const bench_engine *e;
    int n;
    pid_t pid[MAX_READERS];
    int fd[MAX_READERS]; /* read end of each process's pipe */
    int go;              /* write end of the release pipe, -1 once released */
} proc_set;

/* What the readers beside the writer share with it: a counter of gets per
 * process, on a cache line of its own so that a process's stores do not
 * slow the others, and the flag that stops them. */
typedef struct {
    _Alignas(64) _Atomic uint64_t gets;
} proc_counter;

typedef struct {
    _Atomic int stop;
    proc_counter count[WRITER_READERS];
} proc_shared;

/* The gets of a reader beside the writer per read transaction: short ones,
 * as a server's requests would be, so that each sees recent commits and
 * none holds back the reuse of the pages the writer frees. */
#define PROC_TXN_GETS 1000

static void write_full(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            bench_die(NULL, "write to a pipe: %s", w ? strerror(errno) : "no progress");
        p += w;
        n -= (size_t)w;
    }
}

/* Reads n bytes; false at the end of the pipe (its writer has gone). */
static bool read_full(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            bench_die(NULL, "read from a pipe: %s", strerror(errno));
        if (r == 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

/* Reads records from .. from + n - 1 in turn, over and over, until the
 * writer's harness says stop; returns how many gets were made. */
static uint64_t read_until_stopped(const bench_engine *e, void *db, uint64_t from, uint64_t n,
                                   proc_shared *sh, int slot)
{
    uint64_t k = 0;
    while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
        void *reader = e->reader_open(db);
        for (int g = 0; g < PROC_TXN_GETS; g++, k++) {
            check_get(e, reader, from + k % n);
            /* Every get: the harness reads the sum at the first commit and
             * after the last, so the count must be exact at any instant. */
            atomic_store_explicit(&sh->count[slot].gets, k + 1, memory_order_relaxed);
        }
        e->reader_close(reader);
    }
    return k;
}

/* The body of reader process k: its own handle (the parent's is never
 * touched here), one untimed pass over its records, ready, wait for the
 * release, read, report, close.  The untimed pass because the threads read
 * through the harness's map, which the rows before them have touched
 * already, while a new process maps the file afresh; without it the
 * processes would also time their first touch of every page (in one
 * 100,000-record run on a machine busy with builds, 4 processes took 43 ms
 * without that pass and 22 ms with it, 4 threads 21 to 28 ms).  The report
 * goes before the close, so the time stops when the reads do. */
static _Noreturn void proc_main(const run_ctx *rc, int out, int go, uint64_t from, uint64_t n,
                                proc_shared *sh, int slot)
{
    const bench_engine *e = rc->e;
    void *db = e->open_existing(rc->dir, rc->cfg);
    read_share(e, db, from, n);
    write_full(out, "R", 1);
    char c;
    if (read(go, &c, 1) != 0) /* the harness releases all at once by closing the pipe */
        bench_die(e->name, "reader process: unexpected release");
    uint64_t gets = n;
    if (sh)
        gets = read_until_stopped(e, db, from, n, sh, slot);
    else
        read_share(e, db, from, n);
    write_full(out, &gets, sizeof gets);
    e->close(db);
    _exit(0); /* not exit: atexit handlers and stdio buffers are the parent's */
}

/* Ends the run after reader process k failed (its own message is on stderr
 * already): the others are killed, so that none outlives the harness.
 * status: its wait status, or -1 when it is still to be reaped. */
static _Noreturn void procs_fail(proc_set *s, int k, const char *what, int status)
{
    if (status == -1 && waitpid(s->pid[k], &status, 0) < 0)
        status = -1;
    s->pid[k] = 0;
    for (int j = 0; j < s->n; j++)
        if (s->pid[j] > 0) {
            kill(s->pid[j], SIGKILL);
            waitpid(s->pid[j], NULL, 0);
        }
    if (status != -1 && WIFSIGNALED(status))
        bench_die(s->e->name, "reader process %d of %d %s (killed by signal %d)", k + 1, s->n,
                  what, WTERMSIG(status));
    bench_die(s->e->name, "reader process %d of %d %s (exit status %d)", k + 1, s->n, what,
              status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* The body of reader process k of a set: writes one byte to out once it
 * is ready, waits until reading go ends (the harness's release), does its
 * part, writes its 8-byte report to out and exits; it never returns. */
typedef void (*proc_body)(const void *arg, int k, int out, int go);

/* Forks n reader processes, process k running body(arg, k, ...), and
 * returns once each is ready; e names them in messages. */
static void procs_fork(proc_set *s, const bench_engine *e, int n, proc_body body,
                       const void *arg)
{
    int go[2];
    if (pipe(go) != 0)
        bench_die(NULL, "pipe: %s", strerror(errno));
    s->e = e;
    s->n = 0;
    s->go = go[1];
    fflush(stdout); /* else a child's exit on an error would print it again */
    fflush(stderr);
    for (int k = 0; k < n; k++) {
        int p[2];
        if (pipe(p) != 0)
            bench_die(NULL, "pipe: %s", strerror(errno));
        pid_t pid = fork();
        if (pid < 0)
            bench_die(NULL, "fork: %s", strerror(errno));
        if (pid == 0) {
            /* Only the harness may hold the release pipe's write end, or
             * its close would not release anyone. */
            close(go[1]);
            close(p[0]);
            for (int j = 0; j < k; j++)
                close(s->fd[j]);
            body(arg, k, p[1], go[0]);
            _exit(1); /* not reached */
        }
        close(p[1]);
        s->pid[k] = pid;
        s->fd[k] = p[0];
        s->n = k + 1;
    }
    close(go[0]);
    for (int k = 0; k < n; k++) {
        char c;
        if (!read_full(s->fd[k], &c, 1))
            procs_fail(s, k, "exited before it was ready", -1);
    }
}

typedef struct {
    const run_ctx *rc;
    uint64_t lo, stride, count;
    proc_shared *sh;
} engine_procs;

static void engine_proc(const void *arg, int k, int out, int go)
{
    const engine_procs *a = arg;
    proc_main(a->rc, out, go, a->lo + (uint64_t)k * a->stride, a->count, a->sh, k);
}

/* Forks n reader processes, process k reading the count records from
 * lo + k * stride on, and returns once each is ready (has opened the
 * database and read its records once).  sh: NULL for one pass over them
 * once released, else read them until sh->stop. */
static void procs_start(proc_set *s, const run_ctx *rc, int n, uint64_t lo, uint64_t stride,
                        uint64_t count, proc_shared *sh)
{
    engine_procs a = {rc, lo, stride, count, sh};
    procs_fork(s, rc->e, n, engine_proc, &a);
}

static void procs_release(proc_set *s)
{
    close(s->go);
    s->go = -1;
}

/* Waits for every process's report (the end of the reads) and returns
 * the sum of their gets. */
static uint64_t procs_collect(proc_set *s)
{
    uint64_t sum = 0;
    for (int k = 0; k < s->n; k++) {
        uint64_t gets;
        if (!read_full(s->fd[k], &gets, sizeof gets))
            procs_fail(s, k, "exited before reporting", -1);
        sum += gets;
    }
    return sum;
}

/* Waits for every process to close its database and exit. */
static void procs_reap(proc_set *s)
{
    for (int k = 0; k < s->n; k++) {
        int status;
        while (waitpid(s->pid[k], &status, 0) < 0)
            if (errno != EINTR)
                bench_die(NULL, "waitpid: %s", strerror(errno));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            procs_fail(s, k, "failed after its reads", status);
        s->pid[k] = 0;
        close(s->fd[k]);
    }
}

/* The threaded reads with processes instead of threads: every process
 * opens the database with a handle of its own and reads its records once
 * (untimed, proc_main), then a thread's share of the records; the time runs from the release of all
 * of them to the last one's report, as the threads' from their barrier to
 * the last join (each opens its read transaction inside the timed part). */
static double process_reads(run_ctx *rc, int procs, uint64_t total)
{
    proc_set s;
    uint64_t share = total / (uint64_t)procs; /* as the threads split the records */
    procs_start(&s, rc, procs, 0, share, share, NULL);
    double t0 = now_ms();
    procs_release(&s);
    uint64_t gets = procs_collect(&s);
    double ms = now_ms() - t0;
    procs_reap(&s);
    if (gets != share * (uint64_t)procs)
        bench_die(rc->e->name, "reader processes made %llu gets, expected %llu",
                  (unsigned long long)gets, (unsigned long long)(share * (uint64_t)procs));
    return ms;
}

/* ---- Map reads: the machine's own cost of processes ------------------------------------ */

/* The processes rows pay what the engine does in a process and what the
 * machine charges for processes themselves: an address space each (page
 * tables of their own, TLB misses, and the switches between address spaces
 * once there are more processes than CPUs, where threads share one).  The
 * map reads measure the second alone, as the limit row measures the disk's
 * own cost of a commit: random 8-byte loads of a read-only shared map of
 * the engine's data file, in T threads on one map of the harness, then in T
 * processes that map the file each, timed as the engine's rows.  Their
 * quotient is the machine's; the engine's quotient over it, the engine's. */

/* Loads per get of the reads rows: a get goes down the 4 levels of the
 * table's tree (both engines' depth at 1,000,000 records), a random page
 * each; so the map reads run about as long as the engine's reads, with
 * about as many switches between the processes. */
#define MAP_LOADS_PER_GET 4
#define MAP_STREAM 0x3000000000000000ull /* splitmix64 words far from the records' */

typedef struct {
    const char *engine;
    char path[4200];
    uint64_t len;   /* the file's size when the map reads began */
    uint64_t loads; /* per thread or process */
} map_job;

/* Each engine's data file as its map reads found it (for the notes). */
static char map_name_of[MAX_ENGINES][64];
static uint64_t map_bytes_of[MAX_ENGINES];

/* nftw passes no context: the largest file of the walk. */
static uint64_t largest_bytes;
static char largest_path[4200];

static int largest_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_F && S_ISREG(st->st_mode) && (uint64_t)st->st_size > largest_bytes &&
        strlen(path) < sizeof largest_path) {
        largest_bytes = (uint64_t)st->st_size;
        snprintf(largest_path, sizeof largest_path, "%s", path);
    }
    return 0;
}

/* The engine's data file: the largest file in its directory (db.birch,
 * data.mdb; the lock files are a few pages), found by the walk that sums
 * the size rows. */
static void map_job_init(map_job *j, const run_ctx *rc)
{
    largest_bytes = 0;
    if (nftw(rc->dir, largest_one, 16, FTW_PHYS) != 0)
        bench_die(NULL, "cannot walk %s", rc->dir);
    if (largest_bytes < 8)
        bench_die(rc->e->name, "map reads: no data file in %s", rc->dir);
    j->engine = rc->e->name;
    snprintf(j->path, sizeof j->path, "%s", largest_path);
    j->len = largest_bytes;
    j->loads = 0;
    const char *slash = strrchr(j->path, '/');
    snprintf(map_name_of[rc->col], sizeof map_name_of[rc->col], "%.*s",
             (int)sizeof map_name_of[rc->col] - 1, slash ? slash + 1 : j->path);
    map_bytes_of[rc->col] = j->len;
}

/* Maps the job's file read-only and shared, as the engines map theirs, and
 * loads one byte of every page (untimed, as the processes' pass over their
 * records), so that no timed load pays a page's first touch in this
 * address space. */
static const uint8_t *map_file(const map_job *j)
{
    int fd = open(j->path, O_RDONLY);
    if (fd < 0)
        bench_die(j->engine, "cannot open %s: %s", j->path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0)
        bench_die(j->engine, "cannot stat %s: %s", j->path, strerror(errno));
    if ((uint64_t)st.st_size != j->len)
        bench_die(j->engine, "map reads: %s changed size (%llu bytes, was %llu)", j->path,
                  (unsigned long long)st.st_size, (unsigned long long)j->len);
    void *p = mmap(NULL, (size_t)j->len, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        bench_die(j->engine, "cannot map %s: %s", j->path, strerror(errno));
    close(fd);
    const uint8_t *base = p;
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uint8_t sink = 0;
    for (size_t off = 0; off < j->len; off += page)
        sink ^= *(const volatile uint8_t *)(base + off);
    (void)sink;
    return base;
}

/* Reader k's loads: n 8-byte words at random aligned offsets of the map,
 * each through a volatile pointer, summed.  Offset i comes from word
 * MAP_STREAM + k * n + 1 + i of the records' splitmix64 xor the word load
 * i - 1 read: random still, but each load waits for the one before, as a
 * get's descent waits for each page of its path (independent loads overlap
 * their misses: in one 200,000-record run on a busy machine they took
 * 15 ms in 1 thread where these took 270, the engines' gets 160 to 510).
 * Thread k and process k load the same words of the same file. */
static uint64_t map_loads(const uint8_t *base, uint64_t len, int k, uint64_t n)
{
    const uint64_t words = len / 8, first = MAP_STREAM + (uint64_t)k * n + 1;
    uint64_t sum = 0, v = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t x = splitmix64_at(first + i) ^ v;
        uint64_t w = (uint64_t)(((unsigned __int128)x * words) >> 64);
        v = *(const volatile uint64_t *)(base + w * 8);
        sum += v;
    }
    return sum;
}

typedef struct {
    const uint8_t *base;
    uint64_t len, loads, sum;
    int k;
    pthread_barrier_t *ready, *go;
} map_thread_arg;

static void *map_thread(void *p)
{
    map_thread_arg *a = p;
    pthread_barrier_wait(a->ready);
    pthread_barrier_wait(a->go);
    a->sum = map_loads(a->base, a->len, a->k, a->loads);
    return NULL;
}

/* The map reads in threads of the harness, on one map touched beforehand
 * (as the engine's threads read through the harness's map), started and
 * timed as threaded_reads; *sum: the sum of all their loads. */
static double map_thread_reads(const map_job *j, int threads, uint64_t *sum)
{
    const uint8_t *base = map_file(j);
    map_thread_arg args[MAX_READERS];
    start_line sl;
    start_line_init(&sl, threads);
    for (int t = 0; t < threads; t++)
        args[t] = (map_thread_arg){base, j->len, j->loads, 0, t, &sl.ready, &sl.go};
    double ms = timed_threads(&sl, threads, map_thread, args, sizeof args[0]);
    munmap((void *)base, (size_t)j->len);
    *sum = 0;
    for (int t = 0; t < threads; t++)
        *sum += args[t].sum;
    return ms;
}

/* Map reader process k: its own map of the file, every page touched once,
 * ready, wait for the release, load, report the sum (before the unmap, as
 * proc_main reports before it closes its handle). */
static _Noreturn void map_proc(const void *arg, int k, int out, int go)
{
    const map_job *j = arg;
    const uint8_t *base = map_file(j);
    write_full(out, "R", 1);
    char c;
    if (read(go, &c, 1) != 0)
        bench_die(j->engine, "map reader process: unexpected release");
    uint64_t sum = map_loads(base, j->len, k, j->loads);
    write_full(out, &sum, sizeof sum);
    munmap((void *)base, (size_t)j->len);
    _exit(0);
}

/* The map reads in processes, released and timed as process_reads. */
static double map_process_reads(const map_job *j, const bench_engine *e, int procs,
                                uint64_t *sum)
{
    proc_set s;
    procs_fork(&s, e, procs, map_proc, j);
    double t0 = now_ms();
    procs_release(&s);
    *sum = procs_collect(&s);
    double ms = now_ms() - t0;
    procs_reap(&s);
    return ms;
}

/* The map reads of thread count t, right after the engine's processes of
 * that count: as many loads per reader as the engine's gets per reader
 * times MAP_LOADS_PER_GET.  The threads' and the processes' loads must sum
 * alike (same words of an unchanged file). */
static void map_reads(run_ctx *rc, map_job *j, int t, uint64_t total)
{
    int n = opt.thread_counts[t];
    j->loads = total / (uint64_t)n * MAP_LOADS_PER_GET;
    uint64_t in_threads, in_procs;
    record_result(rc, r_map_threads[t], map_thread_reads(j, n, &in_threads));
    record_result(rc, r_map_procs[t], map_process_reads(j, rc->e, n, &in_procs));
    if (in_threads != in_procs)
        bench_die(rc->e->name,
                  "map reads of %s: the threads' loads sum to %016llx, the processes' to "
                  "%016llx",
                  j->path, (unsigned long long)in_threads, (unsigned long long)in_procs);
}

static uint64_t proc_gets(proc_shared *sh)
{
    uint64_t sum = 0;
    for (int k = 0; k < WRITER_READERS; k++)
        sum += atomic_load_explicit(&sh->count[k].gets, memory_order_relaxed);
    return sum;
}

/* Until every reader process has made a get, so that the commits start
 * with all of them reading; a process that dies meanwhile ends the run. */
static void wait_all_reading(proc_set *s, proc_shared *sh)
{
    for (;;) {
        int reading = 0;
        for (int k = 0; k < WRITER_READERS; k++) {
            reading += atomic_load_explicit(&sh->count[k].gets, memory_order_relaxed) > 0;
            siginfo_t si = {0}; /* WNOWAIT: procs_fail reaps it and gives its status */
            if (waitid(P_PID, (id_t)s->pid[k], &si, WEXITED | WNOHANG | WNOWAIT) != 0 ||
                si.si_pid != 0)
                procs_fail(s, k, "exited while starting to read", -1);
        }
        if (reading == WRITER_READERS)
            return;
        nanosleep(&(struct timespec){0, 100000}, NULL);
    }
}

/* The individual writes (records next .. next + opt.individual - 1, one
 * durable commit each) made by this process while WRITER_READERS reader
 * processes read records lo .. hi - 1 all the while: started and reading
 * before the first commit, stopped after the last.  Records the commits'
 * time and the gets the readers completed during it. */
static void writer_beside_readers(run_ctx *rc, uint64_t next, uint64_t lo, uint64_t hi)
{
    if (!rc->e->open_existing) {
        record_result(rc, r_pwriter, NAN);
        record_result(rc, r_pwriter_gets, NAN);
        return;
    }
    proc_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                           -1, 0);
    if (sh == MAP_FAILED)
        bench_die(NULL, "mmap: %s", strerror(errno));
    memset(sh, 0, sizeof *sh);
    /* Each its share, as in the threaded reads; with fewer records than
     * readers (a tiny --elements), each all of them. */
    uint64_t share = (hi - lo) / WRITER_READERS;
    proc_set s;
    if (share)
        procs_start(&s, rc, WRITER_READERS, lo, share, share, sh);
    else
        procs_start(&s, rc, WRITER_READERS, lo, 0, hi - lo, sh);
    procs_release(&s);
    wait_all_reading(&s, sh);
    uint64_t before = proc_gets(sh);
    double ms = single_commits(rc, next, opt.individual);
    uint64_t during = proc_gets(sh) - before;
    atomic_store(&sh->stop, 1);
    procs_collect(&s);
    procs_reap(&s);
    munmap(sh, sizeof *sh);
    /* With --repeat, the gets of the run whose time is kept (not the
     * least of them, which record_result would keep). */
    double kept = results[r_pwriter_gets][rc->col];
    record_result(rc, r_pwriter, ms);
    record_result(rc, r_pwriter_gets, (double)during);
    results[r_pwriter_gets][rc->col] = results[r_pwriter][rc->col] == ms ? (double)during : kept;
}

static double mib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

/* A directory beside rc->dir for the rows that need a fresh database. */
static void fresh_dir(char *out, size_t size, const run_ctx *rc, const char *suffix)
{
    int n = snprintf(out, size, "%s-%s", rc->dir, suffix);
    if (n < 0 || (size_t)n >= size)
        bench_die(NULL, "path too long: %s-%s", rc->dir, suffix);
    bench_rmtree(out);
    mkdir_p(out);
}

/* ---- The durable commit limit -------------------------------------------------------- */

#define LIMIT_PAGE 4096
/* The depth assumed until birch has given its own (its adapter reads it
 * with birch_table_stat after birch's bulk load; an engine whose pass runs
 * before birch's, or a run without birch, uses this): birch's tree holds
 * 1,000,000 records of this workload in 4 levels, as LMDB's does (its
 * depth is printed beside the row). */
#define LIMIT_DEPTH_DEFAULT 4
#define LIMIT_STREAM 0x2000000000000000ull /* splitmix64 words far from the records' */

static char limit_path[4200];
static uint64_t limit_file_bytes;
static int limit_depth;            /* birch's depth once it gave one, else 0 */
static int depth_of[MAX_ENGINES];  /* each engine's depth after the bulk load; 0: not given */

static int limit_pages(void) { return (limit_depth ? limit_depth : LIMIT_DEPTH_DEFAULT) + 1; }

static void pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            bench_die(NULL, "cannot write %s: %s", limit_path, w ? strerror(errno) : "no progress");
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
}

static void fill_random(uint8_t *buf, size_t n, uint64_t stream)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t x = splitmix64_at(stream + i / 8);
        memcpy(buf + i, &x, n - i < 8 ? n - i : 8);
    }
}

/* The file the limit row writes into, in the bench directory: of the size
 * order of a bulk-loaded database (LMDB's file holds about 550 bytes per
 * record of this workload), at least 4 MiB, written in full with random
 * bytes and synced, so that the timed writes overwrite allocated blocks as
 * an engine's commits into its own file do. */
static void create_limit_file(void)
{
    const uint64_t chunk = 1u << 20;
    uint64_t bytes = (opt.elements * 512u + chunk - 1) / chunk * chunk;
    if (bytes < 4 * chunk)
        bytes = 4 * chunk;
    int n = snprintf(limit_path, sizeof limit_path, "%s/limit.dat", opt.dir);
    if (n < 0 || (size_t)n >= sizeof limit_path)
        bench_die(NULL, "path too long: %s/limit.dat", opt.dir);
    fprintf(stderr, "bench: writing %s (%.0f MiB) for the durable commit limit\n", limit_path,
            mib(bytes));
    int fd = open(limit_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        bench_die(NULL, "cannot create %s: %s", limit_path, strerror(errno));
    uint8_t *buf = xmalloc(chunk);
    for (uint64_t off = 0; off < bytes; off += chunk) {
        fill_random(buf, chunk, LIMIT_STREAM + off / 8);
        pwrite_all(fd, buf, chunk, off);
    }
    if (fdatasync(fd) != 0 || close(fd) != 0)
        bench_die(NULL, "cannot sync %s: %s", limit_path, strerror(errno));
    free(buf);
    limit_file_bytes = bytes;
}

/* The physical limit of a durable commit on this disk, timed as the
 * individual writes are (the same count): each time one contiguous pwrite
 * of depth + 1 pages (what a commit of one put must write at least: the
 * root-to-leaf path and a meta page) at a random page-aligned offset of
 * the limit file, then one fdatasync. */
static double commit_limit(void)
{
    const size_t len = (size_t)limit_pages() * LIMIT_PAGE;
    const uint64_t slots = limit_file_bytes / LIMIT_PAGE - (uint64_t)limit_pages() + 1;
    uint8_t *buf = xmalloc(len);
    fill_random(buf, len, LIMIT_STREAM / 2);
    int fd = open(limit_path, O_RDWR);
    if (fd < 0)
        bench_die(NULL, "cannot open %s: %s", limit_path, strerror(errno));
    double t0 = now_ms();
    for (uint64_t i = 0; i < opt.individual; i++) {
        memcpy(buf, &i, sizeof i); /* new bytes each time, as a commit writes */
        pwrite_all(fd, buf, len, splitmix64_at(LIMIT_STREAM / 4 + i) % slots * LIMIT_PAGE);
        if (fdatasync(fd) != 0)
            bench_die(NULL, "fdatasync %s: %s", limit_path, strerror(errno));
    }
    double ms = now_ms() - t0;
    close(fd);
    free(buf);
    return ms;
}

/* ---- The bulk load in commits -------------------------------------------------------- */

/* The issue's "2,000,000 random records in 20 commits of 100,000", each
 * commit durable, into a fresh database of the engine; the count is
 * checked afterwards (untimed). */
static double bulk_load_in_commits(const run_ctx *rc)
{
    const bench_engine *e = rc->e;
    const uint64_t n = opt.bulk_commit_records, commits = opt.bulk_commits;
    bench_config cfg = *rc->cfg;
    cfg.elements = n + 1;
    run_ctx sub = *rc;
    sub.cfg = &cfg;
    fresh_dir(sub.dir, sizeof sub.dir, rc, "bulkcommits");
    sub.db = e->open(sub.dir, &cfg);
    double t0 = now_ms();
    for (uint64_t c = 0; c < commits; c++) {
        uint64_t from = n * c / commits, to = n * (c + 1) / commits;
        e->write_begin(sub.db);
        put_records(&sub, from, to - from);
        e->write_commit(sub.db);
    }
    double ms = now_ms() - t0;
    uint64_t got = e->count(sub.db);
    if (got != n)
        bench_die(e->name, "after the bulk load in commits len() = %llu, expected %llu",
                  (unsigned long long)got, (unsigned long long)n);
    e->close(sub.db);
    if (!opt.keep)
        bench_rmtree(sub.dir);
    return ms;
}

/* ---- The NONE churn series ---------------------------------------------------------- */

#define CHURN_KEYS 1000
#define CHURN_KEY_SIZE 16
#define CHURN_VALUE_SIZE 100
#define CHURN_VALUE_WORDS 13 /* 104 bytes, 100 used */
#define CHURN_STREAM 0x4000000000000000ull

/* One engine's series: after commits[j] commits, the bytes of its files
 * (apparent and allocated) and the time of the commits since the point
 * before (ms[0] = 0, the working set just loaded). */
typedef struct {
    size_t n;
    uint64_t *commits, *bytes, *alloc;
    double *ms;
    double total;
} churn_series;

/* The series kept for the chart (with --repeat, the fastest run's). */
static churn_series churn[MAX_ENGINES];

static bool churn_engine(const bench_engine *e)
{
    return strcmp(e->name, "birch") == 0 || strcmp(e->name, "lmdb") == 0;
}

/* Key k of the working set and, when val is not NULL, its value at
 * version v (the commit that wrote it; 0 = the initial load). */
static void churn_record(uint64_t k, uint64_t v, uint8_t *key, uint8_t *val)
{
    for (int w = 0; w < 2; w++) {
        uint64_t x = splitmix64_at(CHURN_STREAM + 2 * k + (uint64_t)w);
        memcpy(key + 8 * w, &x, 8);
    }
    if (val) {
        uint8_t tmp[8 * CHURN_VALUE_WORDS];
        fill_random(tmp, sizeof tmp,
                    CHURN_STREAM + 4 * CHURN_KEYS + (v * CHURN_KEYS + k) * CHURN_VALUE_WORDS);
        memcpy(val, tmp, CHURN_VALUE_SIZE);
    }
}

/* The version of key k after commits 1..c, commit i overwriting key
 * (i - 1) % CHURN_KEYS. */
static uint64_t churn_version(uint64_t k, uint64_t c)
{
    return c < k + 1 ? 0 : k + 1 + (c - k - 1) / CHURN_KEYS * CHURN_KEYS;
}

static void churn_free(churn_series *s)
{
    free(s->commits);
    free(s->bytes);
    free(s->alloc);
    free(s->ms);
    memset(s, 0, sizeof *s);
}

/* Every value of the working set is the last one written (untimed). */
static void churn_check(const bench_engine *e, void *db, uint64_t commits)
{
    uint64_t n = e->count(db);
    if (n != CHURN_KEYS)
        bench_die(e->name, "after the churn len() = %llu, expected %d", (unsigned long long)n,
                  CHURN_KEYS);
    void *reader = e->reader_open(db);
    for (uint64_t k = 0; k < CHURN_KEYS; k++) {
        uint8_t key[CHURN_KEY_SIZE], val[CHURN_VALUE_SIZE];
        const void *got;
        size_t glen;
        churn_record(k, churn_version(k, commits), key, val);
        if (!e->get(reader, key, sizeof key, &got, &glen) || glen != sizeof val ||
            memcmp(got, val, sizeof val) != 0)
            bench_die(e->name, "after the churn key %llu is missing or wrong",
                      (unsigned long long)k);
    }
    e->reader_close(reader);
}

/* A fresh database with durability off (the nosync row's settings), the
 * working set loaded in one commit, then opt.churn_commits commits of one
 * overwrite each; every opt.churn_every commits the size of the engine's
 * files is taken (outside the timed part). */
static void run_churn(run_ctx *rc)
{
    const bench_engine *e = rc->e;
    bench_config cfg = *rc->cfg;
    cfg.elements = CHURN_KEYS + 1;
    run_ctx sub = *rc;
    sub.cfg = &cfg;
    fresh_dir(sub.dir, sizeof sub.dir, rc, "churn");
    sub.db = e->open(sub.dir, &cfg);
    e->set_sync(sub.db, 0);

    uint8_t key[CHURN_KEY_SIZE], val[CHURN_VALUE_SIZE];
    e->write_begin(sub.db);
    for (uint64_t k = 0; k < CHURN_KEYS; k++) {
        churn_record(k, 0, key, val);
        e->put(sub.db, key, sizeof key, val, sizeof val);
    }
    e->write_commit(sub.db);

    size_t cap = (size_t)(opt.churn_commits / opt.churn_every) + 2;
    churn_series s = {0};
    s.commits = xmalloc(cap * sizeof *s.commits);
    s.bytes = xmalloc(cap * sizeof *s.bytes);
    s.alloc = xmalloc(cap * sizeof *s.alloc);
    s.ms = xmalloc(cap * sizeof *s.ms);
    s.commits[0] = 0;
    s.bytes[0] = dir_sizes(sub.dir, &s.alloc[0]);
    s.ms[0] = 0;
    s.n = 1;
    double t0 = now_ms();
    for (uint64_t i = 1; i <= opt.churn_commits; i++) {
        churn_record((i - 1) % CHURN_KEYS, i, key, val);
        e->write_begin(sub.db);
        e->put(sub.db, key, sizeof key, val, sizeof val);
        e->write_commit(sub.db);
        if (i % opt.churn_every == 0 || i == opt.churn_commits) {
            double ms = now_ms() - t0;
            s.commits[s.n] = i;
            s.ms[s.n] = ms;
            s.total += ms;
            s.bytes[s.n] = dir_sizes(sub.dir, &s.alloc[s.n]);
            s.n++;
            t0 = now_ms();
        }
    }
    churn_check(e, sub.db, opt.churn_commits);
    e->close(sub.db);
    if (!opt.keep)
        bench_rmtree(sub.dir);

    record_result(rc, r_churn, s.total);
    record_result(rc, r_churn_size, mib(s.bytes[s.n - 1]));
    churn_series *kept = &churn[rc->col];
    if (kept->n == 0 || s.total < kept->total) {
        churn_free(kept);
        *kept = s;
    } else {
        churn_free(&s);
    }
    /* The final size of the kept series, not the smallest of the repeats:
     * how far the file grows varies from run to run, and the table must
     * agree with the chart. */
    results[r_churn_size][rc->col] = mib(kept->bytes[kept->n - 1]);
}

/* The rows on the main database: the bulk load and what follows it. */
static void run_main(run_ctx *rc)
{
    const bench_engine *e = rc->e;
    double t0;
    uint64_t next = 0; /* the next record index to write */

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
    if (e->depth) {
        depth_of[rc->col] = e->depth(rc->db);
        fprintf(stderr, "  %-10s tree depth after the bulk load: %d\n", e->name,
                depth_of[rc->col]);
        if (strcmp(e->name, "birch") == 0 && depth_of[rc->col] > 0)
            limit_depth = depth_of[rc->col];
    }

    if (on("individual")) {
        record_result(rc, r_individual, single_commits(rc, next, opt.individual));
        next += opt.individual;
    }
    /* Right after the individual writes, so that both see the disk alike. */
    if (on("limit"))
        record_result(rc, r_limit, commit_limit());
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

    /* Each count's processes right after its threads, so that the two
     * see the machine alike (procs turns threads on), then the map reads
     * of that count on the engine's file as the rows before left it. */
    map_job mj;
    if (on("procs") && e->open_existing)
        map_job_init(&mj, rc);
    for (int t = 0; on("threads") && t < opt.n_thread_counts; t++) {
        record_result(rc, r_threads[t], threaded_reads(rc, opt.thread_counts[t], total));
        if (!on("procs"))
            continue;
        if (e->open_existing) {
            record_result(rc, r_procs[t], process_reads(rc, opt.thread_counts[t], total));
            map_reads(rc, &mj, t, total);
        } else {
            record_result(rc, r_procs[t], NAN);
            record_result(rc, r_map_threads[t], NAN);
            record_result(rc, r_map_procs[t], NAN);
        }
    }

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

    /* Last, so that no row before sees its records or its commits; the
     * readers read the records the removals left. */
    if (on("procreads-writer")) {
        writer_beside_readers(rc, next, on("removals") ? total / 2 : 0, total);
        next += opt.individual;
    }

    e->close(rc->db);
    if (!opt.keep)
        bench_rmtree(rc->dir);
}

/* Whether a row that needs the main database is selected (bulkcommits and
 * churn make their own). */
static bool main_rows_on(void)
{
    for (size_t i = 0; i < N_ROW_GROUPS; i++)
        if (opt.group_on[i] && strcmp(row_groups[i], "bulkcommits") != 0 &&
            strcmp(row_groups[i], "churn") != 0)
            return true;
    return false;
}

static void run_engine(run_ctx *rc)
{
    fprintf(stderr, "%s: %s\n", rc->e->name, "starting");
    if (main_rows_on())
        run_main(rc);
    if (on("bulkcommits"))
        record_result(rc, r_bulkcommits, bulk_load_in_commits(rc));
    if (on("churn") && churn_engine(rc->e))
        run_churn(rc);
}

/* Rows computed from others once every run is done (with --repeat, from
 * the best times). */
static void derive_rows(void)
{
    for (int e = 0; e < opt.n_engines; e++) {
        double w = results[r_individual][e], l = results[r_limit][e];
        if (w != -1 && l != -1 && !isnan(w) && !isnan(l) && l > 0)
            results[r_ilimit][e] = w / l;
        for (int t = 0; t < opt.n_thread_counts; t++) {
            double p = results[r_procs[t]][e], th = results[r_threads[t]][e];
            if (p == -1 || th == -1)
                continue;
            results[r_procs_x[t]][e] = isnan(p) || isnan(th) || th <= 0 ? NAN : p / th;
        }
        for (int t = 0; t < opt.n_thread_counts; t++) {
            double p = results[r_map_procs[t]][e], th = results[r_map_threads[t]][e];
            if (p == -1 || th == -1)
                continue;
            results[r_map_x[t]][e] = isnan(p) || isnan(th) || th <= 0 ? NAN : p / th;
        }
    }
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
    else if (u == U_X)
        snprintf(buf, n, "%.2f", v);
    else if (u == U_N)
        snprintf(buf, n, "%.0f", v);
    else
        snprintf(buf, n, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : v >= 0.1 ? "%.2f" : "%.4f", v);
}

static const char *unit_name(enum unit u)
{
    return u == U_MS ? "ms" : u == U_MIB ? "MiB" : u == U_X ? "x" : "count";
}

/* The map reads' times: the machine's, like the limit's. */
static bool map_row(int r)
{
    for (int t = 0; t < opt.n_thread_counts; t++)
        if (r == r_map_threads[t] || r == r_map_procs[t])
            return true;
    return false;
}

/* Rows that measure the disk or the machine, a multiple or a count (where
 * more is better): no best of the row, no bar in the ratio chart. */
static bool row_plain(int r)
{
    return r == r_limit || map_row(r) || rows[r].unit == U_X || rows[r].unit == U_N;
}

/* birch/LMDB for row r, or NAN (also for a row that is already a ratio, and
 * for a count, whose quotient would read the other way round). */
static double ratio(int r)
{
    int b = col_of("birch"), l = col_of("lmdb");
    if (b < 0 || l < 0 || rows[r].unit == U_X || rows[r].unit == U_N)
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
        for (int e = 0; e < opt.n_engines && !row_plain(r); e++) {
            double v = results[r][e];
            if (v != -1 && !isnan(v) && (best < 0 || v < results[r][best]))
                best = e;
        }
        fprintf(f, "| %s (%s) |", rows[r].label, unit_name(rows[r].unit));
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

/* The performance goals of issues 4 and 12, judged on this run (issue 12's
 * benchmark goals, bench/README.md). */
static void write_goals(FILE *f)
{
    if (!have_ratio())
        return;
    fprintf(f, "\n| goal (birch/lmdb) | target | ratio | |\n|---|---:|---:|---|\n");
    for (int r = 0; r < n_rows; r++) {
        /* Issue 12's targets where it set one, else issue 4's (1.0). */
        double target;
        if (r == r_nosync)
            target = 0.5;
        else if (r == r_removals)
            target = 0.7;
        else if (r == r_bulkcommits || r == r_batch)
            target = 0.8;
        else if (r == r_ranges[0] || r == r_ranges[1])
            target = 0.9;
        else if (r == r_bulk || r == r_reads[0] || r == r_reads[1] || r == r_compacted ||
                 r == r_uncompacted)
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
    /* Issue 13: birch's reads in processes within 5% of its reads in
     * threads, count by count. */
    for (int t = 0; t < opt.n_thread_counts; t++) {
        double x = results[r_procs_x[t]][col_of("birch")];
        if (x == -1 || isnan(x))
            continue;
        fprintf(f, "| %s (birch alone) | <= 1.05 | %.2f | ", rows[r_procs_x[t]].label, x);
        if (x <= 1.05)
            fprintf(f, "met |\n");
        else
            fprintf(f, "**missed** by %.2fx |\n", x / 1.05);
    }
    /* What birch adds to the machine's own cost of processes: its
     * quotient over the map reads' quotient of its pass, held to the
     * same 5% (the issue's goal, above, includes the machine's cost). */
    for (int t = 0; t < opt.n_thread_counts; t++) {
        double x = results[r_procs_x[t]][col_of("birch")], m = results[r_map_x[t]][col_of("birch")];
        if (x == -1 || isnan(x) || m == -1 || isnan(m) || m <= 0)
            continue;
        fprintf(f, "| %s, over the map reads' quotient (birch alone) | <= 1.05 | %.2f | ",
                rows[r_procs_x[t]].label, x / m);
        if (x / m <= 1.05)
            fprintf(f, "met |\n");
        else
            fprintf(f, "**missed** by %.2fx |\n", x / m / 1.05);
    }
    /* Issue 12: birch's own individual writes against the disk's limit. */
    double q = results[r_ilimit][col_of("birch")];
    if (q == -1 || isnan(q))
        return;
    fprintf(f, "| individual writes / limit (birch alone) | <= 1.2 | %.2f | ", q);
    if (q <= 1.2)
        fprintf(f, "met |\n");
    else
        fprintf(f, "**missed** by %.2fx |\n", q / 1.2);
}

/* What the rows of issues 12 and 13 measured exactly, under the table. */
static void write_notes(FILE *f)
{
    bool procs_ran = false, map_ran = false;
    for (int t = 0; t < opt.n_thread_counts; t++) {
        procs_ran |= row_ran(r_procs[t]);
        map_ran |= row_ran(r_map_procs[t]);
    }
    if (row_ran(r_limit) || row_ran(r_bulkcommits) || row_ran(r_churn) || procs_ran ||
        row_ran(r_pwriter))
        fprintf(f, "\n");
    if (row_ran(r_limit)) {
        fprintf(f,
                "- durable commit limit: %llu times one pwrite of %d contiguous pages of %d "
                "bytes (depth %d + 1, %s) at a random page-aligned offset of a %.0f MiB file in "
                "the bench directory, then one fdatasync; measured in each engine's pass right "
                "after its individual writes",
                (unsigned long long)opt.individual, limit_pages(), LIMIT_PAGE, limit_pages() - 1,
                limit_depth ? "birch's table depth after the bulk load"
                            : "assumed: birch's depth was not measured",
                mib(limit_file_bytes));
        for (int e = 0; e < opt.n_engines; e++)
            if (depth_of[e] > 0)
                fprintf(f, "; %s's depth after the bulk load: %d", opt.engines[e]->name,
                        depth_of[e]);
        fprintf(f, "\n");
    }
    if (row_ran(r_bulkcommits))
        fprintf(f,
                "- bulk load in commits: %llu random records into a fresh database, %llu "
                "durable commits\n",
                (unsigned long long)opt.bulk_commit_records, (unsigned long long)opt.bulk_commits);
    if (row_ran(r_churn))
        fprintf(f,
                "- NONE churn (birch and LMDB only): a fresh database without sync (the nosync "
                "row's settings), %d keys of %d bytes with values of %d loaded in one commit, "
                "then %llu commits of one overwrite each; size = apparent bytes of the engine's "
                "files at the end; the series every %llu commits is in churn.csv and churn.svg\n",
                CHURN_KEYS, CHURN_KEY_SIZE, CHURN_VALUE_SIZE,
                (unsigned long long)opt.churn_commits, (unsigned long long)opt.churn_every);
    if (procs_ran)
        fprintf(f,
                "- random reads in processes (birch and LMDB only): right after the threads row "
                "of the same count, that many processes forked, each opening the database with "
                "a handle of its own and reading its records once (untimed; the harness keeps "
                "its own handle open), then released together: each reads a thread's share in "
                "one read transaction, every value compared; time from the release to the last "
                "one's report.  processes / threads = the quotient of the two rows\n");
    if (map_ran) {
        fprintf(f,
                "- map reads (birch and LMDB only; the machine's own cost of processes, no "
                "database): right after the processes row of the same count, in each engine's "
                "pass, on that engine's data file as the rows before left it (the largest file "
                "in its directory");
        for (int e = 0; e < opt.n_engines; e++)
            if (map_bytes_of[e])
                fprintf(f, "; %s: %s, %.0f MiB", opt.engines[e]->name, map_name_of[e],
                        mib(map_bytes_of[e]));
        fprintf(f,
                "): %d random 8-byte loads per get of the threads row (N/T x %d per reader), "
                "each at a random aligned offset (a splitmix64 word xor the word the load "
                "before read: a chain, as a get's descent), through a volatile pointer, summed; "
                "first T "
                "threads of the harness on one read-only MAP_SHARED map of the file, every page "
                "loaded once beforehand (untimed), started and timed as the threads row; then T "
                "processes, each mapping the file itself and loading every page once (untimed), "
                "released and timed as the processes row.  Thread k and process k load the same "
                "words, and the two sums must agree.  processes / threads = the machine's "
                "quotient\n",
                MAP_LOADS_PER_GET, MAP_LOADS_PER_GET);
        fprintf(f, "- random reads, T processes / threads, over the map reads' quotient (what "
                   "the engine adds to the machine's cost of processes):");
        const char *sep = " ";
        for (int e = 0; e < opt.n_engines; e++) {
            bool any = false;
            for (int t = 0; t < opt.n_thread_counts; t++) {
                double x = results[r_procs_x[t]][e], m = results[r_map_x[t]][e];
                if (x == -1 || isnan(x) || m == -1 || isnan(m) || m <= 0)
                    continue;
                if (!any)
                    fprintf(f, "%s%s", sep, opt.engines[e]->name);
                fprintf(f, "%s %d: %.2f", any ? "," : "", opt.thread_counts[t], x / m);
                any = true;
            }
            if (any)
                sep = "; ";
        }
        fprintf(f, "\n");
    }
    if (row_ran(r_pwriter))
        fprintf(f,
                "- durable commits beside %d reader processes (birch and LMDB only): last in "
                "the engine's pass (on the records the removals left, when they ran), %llu "
                "commits of one insert each, durable, by the harness while %d processes with "
                "handles of their own read a quarter of the records each, in turn, over and "
                "over (a read transaction per %d gets, every value compared), all reading "
                "before the first commit and stopped after the last; gets = the gets they "
                "completed in between\n",
                WRITER_READERS, (unsigned long long)opt.individual, WRITER_READERS,
                PROC_TXN_GETS);
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
    write_notes(f);
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
        fprintf(f, "%s,%s", rows[r].label, unit_name(rows[r].unit));
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
        if (row_ran(r) && r != r_len && !row_plain(r))
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
        if (!row_ran(r) || r == r_len || row_plain(r))
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

/* ---- The churn series: csv and chart ------------------------------------------------- */

static bool churn_ran(void)
{
    for (int e = 0; e < opt.n_engines; e++)
        if (churn[e].n)
            return true;
    return false;
}

/* One line per sample point; for each engine that ran the churn, the bytes
 * of its files (apparent and allocated) and the ms of the commits since the
 * previous point.  Every engine's series has the same points. */
static void write_churn_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        bench_die(NULL, "cannot write %s: %s", path, strerror(errno));
    fprintf(f, "commits");
    size_t n = 0;
    for (int e = 0; e < opt.n_engines; e++)
        if (churn[e].n) {
            const char *name = opt.engines[e]->name;
            fprintf(f, ",%s_bytes,%s_alloc_bytes,%s_ms", name, name, name);
            n = churn[e].n;
        }
    fprintf(f, "\n");
    for (size_t j = 0; j < n; j++) {
        int first = 1;
        for (int e = 0; e < opt.n_engines; e++) {
            const churn_series *s = &churn[e];
            if (!s->n)
                continue;
            if (first)
                fprintf(f, "%llu", (unsigned long long)s->commits[j]);
            first = 0;
            fprintf(f, ",%llu,%llu,%.3f", (unsigned long long)s->bytes[j],
                    (unsigned long long)s->alloc[j], s->ms[j]);
        }
        fprintf(f, "\n");
    }
    fclose(f);
}

/* The smallest of 1, 2 and 5 times a power of ten that is >= x (> 0). */
static double nice_step(double x)
{
    double p = pow(10, floor(log10(x)));
    return x <= p ? p : x <= 2 * p ? 2 * p : x <= 5 * p ? 5 * p : 10 * p;
}

static const char *churn_color(const char *engine)
{
    return strcmp(engine, "birch") == 0 ? "#1f6fb4" : "#e08a00";
}

enum { CH_LEFT = 70, CH_W = 340, CH_H = 220, CH_TOP = 90, CH_GAP = 110 };

/* One panel: panel 0 the file size in MiB (from the load on), panel 1 the
 * time of each opt.churn_every commits (from the first such step). */
static void churn_panel(FILE *f, int panel, const char *title)
{
    const int x0 = CH_LEFT + panel * (CH_W + CH_GAP), y0 = CH_TOP + CH_H;
    double ymax = 0;
    for (int e = 0; e < opt.n_engines; e++)
        for (size_t j = 0; j < churn[e].n; j++) {
            double v = panel ? churn[e].ms[j] : mib(churn[e].bytes[j]);
            if (v > ymax)
                ymax = v;
        }
    double ystep = nice_step(ymax > 0 ? ymax / 5 : 1);
    ymax = ceil(ymax / ystep) * ystep;
    if (ymax <= 0)
        ymax = ystep;
    double xmax = (double)opt.churn_commits, xstep = nice_step(xmax / 5);
#define PX(c) (x0 + (int)((double)(c) / xmax * CH_W))
#define PY(v) (y0 - (int)((v) / ymax * CH_H))
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">", x0, CH_TOP - 12);
    svg_escape(f, title);
    fprintf(f, "</text>\n");
    for (double v = 0; v <= ymax + ystep / 2; v += ystep) {
        fprintf(f,
                "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\"/>\n"
                "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" fill=\"#555\">%g</text>\n",
                x0, PY(v), x0 + CH_W, PY(v), v == 0 ? "#000" : "#ddd", x0 - 6, PY(v) + 4, v);
    }
    for (double c = 0; c <= xmax + xstep / 2; c += xstep)
        fprintf(f,
                "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\"/>\n"
                "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%g</text>\n",
                PX(c), CH_TOP, PX(c), y0, c == 0 ? "#000" : "#ddd", PX(c), y0 + 16, c);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">commits</text>\n",
            x0 + CH_W / 2, y0 + 34);
    for (int e = 0; e < opt.n_engines; e++) {
        const churn_series *s = &churn[e];
        if (!s->n)
            continue;
        fprintf(f, "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"%s\" points=\"",
                churn_color(opt.engines[e]->name));
        for (size_t j = panel ? 1 : 0; j < s->n; j++)
            fprintf(f, "%d,%d ", PX(s->commits[j]),
                    PY(panel ? s->ms[j] : mib(s->bytes[j])));
        fprintf(f, "\"/>\n");
    }
#undef PX
#undef PY
}

/* Two small line charts, drawn here as ratios.svg is (no gnuplot): the
 * engines' file size and commit time against the number of commits. */
static void write_churn_svg(const char *path, const char *date)
{
    FILE *f = fopen(path, "w");
    if (!f)
        bench_die(NULL, "cannot write %s: %s", path, strerror(errno));
    const int width = CH_LEFT + 2 * CH_W + CH_GAP + 40, height = CH_TOP + CH_H + 50;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">NONE churn: one "
            "overwrite per commit, no sync, %d keys of %d bytes, values of %d bytes</text>\n"
            "<text x=\"10\" y=\"38\" fill=\"#555\">%s</text>\n",
            width, height, CHURN_KEYS, CHURN_KEY_SIZE, CHURN_VALUE_SIZE, date);
    int lx = 10;
    for (int e = 0; e < opt.n_engines; e++) {
        if (!churn[e].n)
            continue;
        const char *name = opt.engines[e]->name;
        fprintf(f,
                "<line x1=\"%d\" y1=\"54\" x2=\"%d\" y2=\"54\" stroke=\"%s\" stroke-width=\"3\"/>"
                "<text x=\"%d\" y=\"58\">%s</text>\n",
                lx, lx + 24, churn_color(name), lx + 30, name);
        lx += 100;
    }
    char title[96];
    churn_panel(f, 0, "file size (MiB, apparent bytes of all files)");
    snprintf(title, sizeof title, "time of each %llu commits (ms)",
             (unsigned long long)opt.churn_every);
    churn_panel(f, 1, title);
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
    if (on("ranges") && main_rows_on()) {
        fprintf(stderr, "bench: computing what the range reads must see\n");
        prepare_scan_expectations(total);
    }
    if (on("limit"))
        create_limit_file();

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

    derive_rows();
    if (on("limit") && !opt.keep && remove(limit_path) != 0)
        bench_die(NULL, "cannot remove %s: %s", limit_path, strerror(errno));

    char path[4200];
    snprintf(path, sizeof path, "%s/results.md", opt.dir);
    write_md(path, &cfg, date);
    snprintf(path, sizeof path, "%s/results.csv", opt.dir);
    write_csv(path);
    if (have_ratio()) {
        snprintf(path, sizeof path, "%s/ratios.svg", opt.dir);
        write_svg(path, date);
    }
    /* Without a churn in this run, an older run's chart would pass for it. */
    snprintf(path, sizeof path, "%s/churn.csv", opt.dir);
    if (churn_ran())
        write_churn_csv(path);
    else
        remove(path);
    snprintf(path, sizeof path, "%s/churn.svg", opt.dir);
    if (churn_ran())
        write_churn_svg(path, date);
    else
        remove(path);

    printf("%llu records; times in ms, sizes in MiB\n\n", (unsigned long long)opt.elements);
    write_table(stdout);
    write_notes(stdout);
    printf("\nSettings:\n\n");
    write_settings(stdout, &cfg);
    write_goals(stdout);
    fprintf(stderr, "bench: all engines in %.1f s; results in %s/results.{md,csv}%s%s\n",
            (now_ms() - t_all) / 1e3, opt.dir, have_ratio() ? ", ratios.svg" : "",
            churn_ran() ? ", churn.{csv,svg}" : "");
    return 0;
}
