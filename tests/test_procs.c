/*
 * test_procs.c - many processes on one database file (issue 13).
 *
 *   model_full, model_none: 2 writer processes move money between accounts
 *     (the total is constant) and append to a log in the same transaction;
 *     4 reader processes check the total and that what they see only moves
 *     forward.  The parent kills random ones with SIGKILL (mid-transaction
 *     too) and starts them again, for a fixed number of rounds; afterwards
 *     every acknowledged commit is in the log, the total is intact and
 *     birch_check passes.  With BIRCH_DURABLE_FULL and _NONE.
 *   stale_readers: more reader processes than the lock file has slots are
 *     killed holding read transactions; new readers still begin, and a
 *     churn afterwards reuses the pages they pinned (the file stays flat).
 *   growth_and_compaction: a reader process with a small map reserve holds
 *     a snapshot while the parent grows the file by hundreds of MiB; its old
 *     snapshot and pointers stay valid, a new one sees the new data.
 *     birch_compact refuses (BIRCH_EBUSY) while it has the file open.
 *   dead_writer: a writer process killed mid-transaction blocks nobody.
 *   none_visible: a BIRCH_DURABLE_NONE commit in one process is seen by the
 *     next read transaction of another at once.
 *   lock_file_damage: a lock file deleted, truncated, of garbage or of
 *     another version while no handle has the database open is rebuilt;
 *     while one has: the answers docs/DESIGN.md 12 gives.
 *   bad_input: max_readers above the lock file's table, another page size.
 *   no_lock_file: where the lock file cannot be written, a read-only open
 *     reads without it and a read-write one has the file alone.
 *
 * Children never call Check: they report through a shared page and _exit.
 * Seeds are fixed (BIRCH_SEED overrides) and printed by every failure.
 */
#define _GNU_SOURCE /* F_OFD_SETLK */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "support.h"

#define NACC 16
#define START_BALANCE 1000u
#define TOTAL ((uint64_t)NACC * START_BALANCE)
#define WRITERS 2
#define READERS 4

/* What children report: a shared page. */
typedef struct shared {
    _Atomic uint64_t ack[WRITERS]; /* 1 + the last sequence number acknowledged */
    _Atomic int stop;
    _Atomic int failed;
    _Atomic uint64_t reads, commits;
    char err[1024];
} shared;

static shared *sh;

static void child_fail(const char *fmt, ...)
{
    if (atomic_exchange(&sh->failed, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sh->err, sizeof sh->err, fmt, ap);
        va_end(ap);
    }
    _exit(1);
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static shared *shared_new(void)
{
    void *p = mmap(NULL, sizeof(shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    memset(p, 0, sizeof(shared));
    return p;
}

static void expect_ok_exit(pid_t pid, const char *who)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: exit %d signal %d: %s", who,
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0, sh->err);
}

/* ---- The model: accounts and a log -------------------------------------------- */

static uint64_t get_u64(birch_txn *t, birch_table *tb, const char *k, int *found)
{
    birch_val v;
    int rc = birch_get(t, tb, bt_str(k), &v);
    *found = rc == BIRCH_OK;
    if (rc == BIRCH_NOTFOUND) return 0;
    if (rc || v.size != 8) child_fail("get %s: %d (%s) size %zu", k, rc, birch_errmsg(), rc ? 0 : v.size);
    uint64_t x;
    memcpy(&x, v.data, 8);
    return x;
}

static int put_u64(birch_txn *t, birch_table *tb, const char *k, uint64_t x)
{
    return birch_put(t, tb, bt_str(k), bt_val(&x, 8), 0);
}

static void acct_key(char *k, int i)
{
    snprintf(k, 16, "acct%02d", i);
}

static void make_model(const char *path, const birch_options *o)
{
    birch_db *db = bt_open(path, o);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *a = bt_table(w, "accounts", BIRCH_CREATE);
    bt_table(w, "log", BIRCH_CREATE);
    for (int i = 0; i < NACC; i++) {
        char k[16];
        acct_key(k, i);
        BT_OK(put_u64(w, a, k, START_BALANCE));
    }
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db));
}

/* One transfer and one log record, in one transaction.  0 committed. */
static int transfer(birch_db *db, int id, bt_rng *r, uint64_t *seq)
{
    birch_txn *w = NULL;
    birch_table *a = NULL, *log = NULL;
    int rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &w);
    if (rc) child_fail("writer %d: begin: %s", id, birch_errmsg());
    if ((rc = birch_table_open(w, "accounts", 0, &a)) || (rc = birch_table_open(w, "log", 0, &log)))
        child_fail("writer %d: tables: %s", id, birch_errmsg());
    char nk[16], k1[16], k2[16], lk[32];
    snprintf(nk, sizeof nk, "next%d", id);
    int found;
    *seq = get_u64(w, log, nk, &found);
    int i = (int)bt_below(r, NACC), j = (int)bt_below(r, NACC);
    acct_key(k1, i);
    acct_key(k2, j);
    uint64_t bi = get_u64(w, a, k1, &found), amt = bi ? bt_below(r, bi + 1) : 0;
    rc = put_u64(w, a, k1, bi - amt);
    uint64_t bj = get_u64(w, a, k2, &found);
    if (rc == BIRCH_OK) rc = put_u64(w, a, k2, bj + amt);
    snprintf(lk, sizeof lk, "w%d:%010" PRIu64, id, *seq);
    if (rc == BIRCH_OK) rc = put_u64(w, log, lk, amt);
    if (rc == BIRCH_OK) rc = put_u64(w, log, nk, *seq + 1);
    if (rc) child_fail("writer %d: put: %s", id, birch_errmsg());
    if (bt_chance(r, 10)) sleep_us((long)bt_below(r, 2000)); /* a kill may land inside */
    rc = birch_txn_commit(w);
    if (rc) child_fail("writer %d: commit: %s", id, birch_errmsg());
    return 0;
}

static void writer_main(const char *path, const birch_options *o, int id, uint64_t seed)
{
    birch_db *db = NULL;
    if (birch_open(path, o, &db)) child_fail("writer %d: open: %s", id, birch_errmsg());
    bt_rng r = {seed};
    while (!atomic_load(&sh->stop)) {
        uint64_t seq;
        transfer(db, id, &r, &seq);
        atomic_store(&sh->ack[id], seq + 1);
        atomic_fetch_add(&sh->commits, 1);
    }
    if (birch_close(db)) child_fail("writer %d: close: %s", id, birch_errmsg());
    _exit(0);
}

/* Reads the total and the log's size; both only move forward, the total
 * never moves. */
static void reader_main(const char *path, const birch_options *o, int id)
{
    birch_options ro = *o;
    ro.read_only = id & 1; /* half of them read-only handles */
    birch_db *db = NULL;
    if (birch_open(path, &ro, &db)) child_fail("reader %d: open: %s", id, birch_errmsg());
    uint64_t last_txn = 0, last_log = 0;
    while (!atomic_load(&sh->stop)) {
        birch_txn *r = NULL;
        birch_table *a = NULL, *log = NULL;
        if (birch_txn_begin(db, BIRCH_TXN_READ, &r)) child_fail("reader %d: begin: %s", id, birch_errmsg());
        uint64_t txn = birch_txn_id(r), sum = 0, n = 0;
        if (birch_table_open(r, "accounts", 0, &a) || birch_table_open(r, "log", 0, &log))
            child_fail("reader %d: tables: %s", id, birch_errmsg());
        for (int i = 0; i < NACC; i++) {
            char k[16];
            int found;
            acct_key(k, i);
            sum += get_u64(r, a, k, &found);
            if (!found) child_fail("reader %d: txn %" PRIu64 ": %s missing", id, txn, k);
        }
        if (birch_count(r, log, &n)) child_fail("reader %d: count: %s", id, birch_errmsg());
        if (sum != TOTAL) child_fail("reader %d: txn %" PRIu64 ": total %" PRIu64 " != %" PRIu64, id, txn, sum, TOTAL);
        if (txn < last_txn || n < last_log)
            child_fail("reader %d: went back: txn %" PRIu64 " after %" PRIu64 ", log %" PRIu64 " after %" PRIu64, id,
                       txn, last_txn, n, last_log);
        last_txn = txn;
        last_log = n;
        birch_txn_abort(r);
        atomic_fetch_add(&sh->reads, 1);
    }
    if (birch_close(db)) child_fail("reader %d: close: %s", id, birch_errmsg());
    _exit(0);
}

static pid_t spawn(const char *path, const birch_options *o, int who, uint64_t seed)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (who < WRITERS) writer_main(path, o, who, seed);
        reader_main(path, o, who - WRITERS);
    }
    return pid;
}

static void model_run(int durability)
{
    uint64_t seed = bt_seed(0x13a5);
    unsigned rounds = (unsigned)bt_env_u64("BIRCH_PROCS_ROUNDS", 30);
    char *path = bt_path("model");
    birch_options o = bt_opts();
    o.durability = durability;
    make_model(path, &o);
    sh = shared_new();
    pid_t pids[WRITERS + READERS];
    for (int i = 0; i < WRITERS + READERS; i++) pids[i] = spawn(path, &o, i, seed + (uint64_t)i);
    bt_rng r = {seed};
    unsigned kills[2] = {0, 0};
    for (unsigned round = 0; round < rounds; round++) {
        sleep_us((long)bt_range(&r, 5000, 40000));
        int v = (int)bt_below(&r, WRITERS + READERS);
        kill(pids[v], SIGKILL);
        int st;
        ck_assert_int_eq(waitpid(pids[v], &st, 0), pids[v]);
        ck_assert_msg(!sh->failed, "seed %" PRIu64 ", round %u: %s", seed, round, sh->err);
        ck_assert_msg(WIFSIGNALED(st), "seed %" PRIu64 ", round %u: child %d exited %d", seed, round, v,
                      WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        kills[v < WRITERS]++;
        pids[v] = spawn(path, &o, v, seed + round * 64u + (uint64_t)v);
    }
    sleep_us(20000);
    atomic_store(&sh->stop, 1);
    for (int i = 0; i < WRITERS + READERS; i++) {
        char who[64];
        snprintf(who, sizeof who, "seed %" PRIu64 ": child %d at the end", seed, i);
        expect_ok_exit(pids[i], who);
    }
    printf("%s: %u rounds, %u writers and %u readers killed, %" PRIu64 " commits, %" PRIu64 " reads\n",
           durability == BIRCH_DURABLE_FULL ? "FULL" : "NONE", rounds, kills[1], kills[0],
           (uint64_t)atomic_load(&sh->commits), (uint64_t)atomic_load(&sh->reads));
    ck_assert_msg(atomic_load(&sh->commits) > 0 && atomic_load(&sh->reads) > 0, "seed %" PRIu64 ": no work done",
                  seed);

    /* Every acknowledged commit is there; the total is intact. */
    birch_db *db = bt_open(path, &o);
    bt_check(db);
    birch_txn *t = bt_begin(db, BIRCH_TXN_READ);
    birch_table *a = bt_table(t, "accounts", 0), *log = bt_table(t, "log", 0);
    uint64_t sum = 0;
    for (int i = 0; i < NACC; i++) {
        char k[16];
        acct_key(k, i);
        birch_val v;
        BT_OK(birch_get(t, a, bt_str(k), &v));
        uint64_t x;
        memcpy(&x, v.data, 8);
        sum += x;
    }
    ck_assert_msg(sum == TOTAL, "seed %" PRIu64 ": total %" PRIu64, seed, sum);
    for (int w = 0; w < WRITERS; w++) {
        uint64_t acked = atomic_load(&sh->ack[w]);
        for (uint64_t s = 0; s < acked; s++) {
            char lk[32];
            snprintf(lk, sizeof lk, "w%d:%010" PRIu64, w, s);
            birch_val v;
            int rc = birch_get(t, log, bt_str(lk), &v);
            ck_assert_msg(rc == BIRCH_OK, "seed %" PRIu64 ": acknowledged %s lost (%d)", seed, lk, rc);
        }
    }
    BT_OK(birch_txn_commit(t));
    BT_OK(birch_close(db));
    munmap(sh, sizeof *sh);
    bt_remove(path);
    free(path);
}

START_TEST(model_full)
{
    model_run(BIRCH_DURABLE_FULL);
}
END_TEST

START_TEST(model_none)
{
    model_run(BIRCH_DURABLE_NONE);
}
END_TEST

/* ---- Children that hold something and wait --------------------------------------- */

/* A child that opens path, begins a read transaction (or, write: a write
 * transaction with a put), tells the parent through the pipe and waits to
 * be killed.  Returns its pid once it is holding. */
static pid_t holder(const char *path, const birch_options *o, int writer)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        birch_db *db = NULL;
        birch_txn *t = NULL;
        birch_table *tb = NULL;
        char c = 'x';
        if (birch_open(path, o, &db) || birch_txn_begin(db, writer ? BIRCH_TXN_WRITE : BIRCH_TXN_READ, &t)) c = 'e';
        if (c == 'x' && writer && (birch_table_open(t, "t", BIRCH_CREATE, &tb) ||
                                  birch_put(t, tb, bt_str("dead"), bt_str("writer"), 0)))
            c = 'e';
        if (write(fds[1], &c, 1) != 1) _exit(3);
        for (;;) pause();
    }
    close(fds[1]);
    char c = 0;
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    close(fds[0]);
    ck_assert_msg(c == 'x', "the holder could not open or begin");
    return pid;
}

static void kill_wait(pid_t pid)
{
    kill(pid, SIGKILL);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
}

/* Rewrites every record of table t (values of vsize bytes) in one commit. */
static void churn(birch_db *db, int nkeys, size_t vsize, int round)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    char *v = malloc(vsize);
    ck_assert_ptr_nonnull(v);
    memset(v, 'a' + round % 26, vsize);
    for (int i = 0; i < nkeys; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%06d", i);
        bt_put(w, t, k, strlen(k), v, vsize);
    }
    free(v);
    BT_OK(birch_txn_commit(w));
}

/* A database at path with one table of nkeys records (churn). */
static void make_table(const char *path, const birch_options *o, int nkeys, size_t vsize, int round)
{
    birch_db *db = bt_open(path, o);
    churn(db, nkeys, vsize, round);
    BT_OK(birch_close(db));
}

START_TEST(stale_readers)
{
    char *path = bt_path("stale");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    churn(db, 500, 100, 0);
    uint32_t nslots = db->nslots;
    /* More readers killed holding snapshots than the table has slots, each
     * pinning a snapshot the parent then moves past. */
    unsigned killed = 0;
    for (uint32_t i = 0; i < nslots + 8; i++) {
        pid_t p = holder(path, &o, 0);
        kill_wait(p);
        killed++;
        if (i % 16 == 0) churn(db, 500, 100, (int)i);
    }
    /* And a batch alive at once, then all killed. */
    pid_t batch[8];
    for (int i = 0; i < 8; i++) batch[i] = holder(path, &o, 0);
    for (int i = 0; i < 8; i++) kill_wait(batch[i]);
    killed += 8;
    /* New readers still begin: here and in another process. */
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_OK(birch_txn_commit(r));
    kill_wait(holder(path, &o, 0));
    birch_stat st = bt_stat(db);
    ck_assert_msg(st.oldest_txnid == st.txnid, "a dead reader still pins snapshot %" PRIu64 " (last %" PRIu64 ")",
                  st.oldest_txnid, st.txnid);
    ck_assert_uint_eq(st.readers, 0);
    /* The churn reuses the pages they pinned: after a few rounds to settle,
     * the file stays flat. */
    for (int i = 0; i < 4; i++) churn(db, 500, 100, i);
    uint64_t size = bt_file_size(path);
    for (int i = 0; i < 40; i++) churn(db, 500, 100, i);
    ck_assert_msg(bt_file_size(path) == size, "file grew from %" PRIu64 " to %" PRIu64 " with %u dead readers", size,
                  bt_file_size(path), killed);
    unsigned cleared = 99;
    BT_OK(birch_readers_clear(db, &cleared)); /* every slot was taken over or is idle */
    printf("stale readers: %u killed, table of %u slots, %u left to clear, file %" PRIu64 " bytes\n", killed, nslots,
           cleared, size);
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- Growth across processes, and compaction -------------------------------------- */

static void grow_reader(const char *path, int to_parent, int from_parent)
{
    birch_options o = bt_opts();
    o.map_reserve = BIRCH_MIN_MAP_RESERVE; /* remapped by the growth */
    o.read_only = 1;
    birch_db *db = NULL;
    birch_txn *old = NULL;
    birch_table *t = NULL;
    birch_val v;
    if (birch_open(path, &o, &db) || birch_txn_begin(db, BIRCH_TXN_READ, &old) ||
        birch_table_open(old, "t", 0, &t) || birch_get(old, t, bt_str("k000000"), &v))
        child_fail("grow reader: %s", birch_errmsg());
    const char *before = v.data; /* a pointer into the first map */
    char c = 'r', want = before[0];
    if (write(to_parent, &c, 1) != 1 || read(from_parent, &c, 1) != 1) child_fail("grow reader: pipe");
    /* The parent grew the file by hundreds of MiB. */
    birch_txn *r = NULL;
    birch_table *t2 = NULL;
    birch_val big;
    if (birch_txn_begin(db, BIRCH_TXN_READ, &r) || birch_table_open(r, "big", 0, &t2))
        child_fail("grow reader: new snapshot: %s", birch_errmsg());
    uint64_t n = 0;
    if (birch_count(r, t2, &n) || n != 300) child_fail("grow reader: %" PRIu64 " big values, not 300", n);
    for (int i = 0; i < 300; i += 37) {
        char k[16];
        snprintf(k, sizeof k, "b%03d", i);
        if (birch_get(r, t2, bt_str(k), &big) || big.size != (1u << 20) || ((const char *)big.data)[big.size - 1] != (char)i)
            child_fail("grow reader: %s wrong", k);
    }
    /* The old snapshot still reads as it was, through the old pointer too. */
    if (before[0] != want || birch_get(old, t, bt_str("k000000"), &v) || ((const char *)v.data)[0] != want)
        child_fail("grow reader: the old snapshot changed");
    if (birch_table_open(old, "big", 0, &t2) != BIRCH_NOTFOUND) child_fail("grow reader: old snapshot sees 'big'");
    birch_txn_abort(r);
    birch_txn_abort(old);
    c = 'd';
    if (write(to_parent, &c, 1) != 1 || read(from_parent, &c, 1) != 1) child_fail("grow reader: pipe");
    if (birch_close(db)) child_fail("grow reader: close: %s", birch_errmsg());
    _exit(0);
}

START_TEST(growth_and_compaction)
{
    char *path = bt_path("grow");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    churn(db, 100, 50, 0);
    sh = shared_new();
    int up[2], down[2];
    ck_assert_int_eq(pipe(up), 0);
    ck_assert_int_eq(pipe(down), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) grow_reader(path, up[1], down[0]);
    char c;
    ck_assert_int_eq(read(up[0], &c, 1), 1);
    uint64_t size0 = bt_file_size(path);
    /* 300 MiB in values of 1 MiB, 30 commits. */
    char *v = malloc(1u << 20);
    ck_assert_ptr_nonnull(v);
    for (int c0 = 0; c0 < 30; c0++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "big", BIRCH_CREATE);
        for (int i = c0 * 10; i < c0 * 10 + 10; i++) {
            char k[16];
            snprintf(k, sizeof k, "b%03d", i);
            memset(v, i, 1u << 20);
            bt_put(w, t, k, strlen(k), v, 1u << 20);
        }
        BT_OK(birch_txn_commit(w));
    }
    free(v);
    churn(db, 100, 50, 1);
    ck_assert_uint_ge(bt_file_size(path), size0 + (300ull << 20));
    c = 'g';
    ck_assert_int_eq(write(down[1], &c, 1), 1);
    ck_assert_int_eq(read(up[0], &c, 1), 1);
    ck_assert_msg(c == 'd', "the reader failed: %s", sh->err);
    /* Compaction needs the file alone: the reader still has it open. */
    BT_OK(birch_close(db));
    BT_RC(birch_compact(path, NULL, NULL, NULL), BIRCH_EBUSY);
    ck_assert_msg(strstr(birch_errmsg(), "alone"), "%s", birch_errmsg());
    ck_assert_int_eq(write(down[1], &c, 1), 1);
    expect_ok_exit(pid, "grow reader");
    BT_OK(birch_compact(path, NULL, NULL, NULL));
    db = bt_open(path, &o);
    bt_check(db);
    BT_OK(birch_close(db));
    close(up[0]);
    close(up[1]);
    close(down[0]);
    close(down[1]);
    munmap(sh, sizeof *sh);
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- A dead writer; NONE across processes ----------------------------------------- */

START_TEST(dead_writer)
{
    char *path = bt_path("deadw");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    churn(db, 50, 20, 0);
    for (int round = 0; round < 5; round++) {
        pid_t p = holder(path, &o, 1); /* holds the write transaction */
        birch_txn *w = NULL;
        BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY, &w), BIRCH_EBUSY);
        kill_wait(p);
        w = bt_begin(db, BIRCH_TXN_WRITE); /* waits for the dead holder no longer than a moment */
        birch_table *t = bt_table(w, "t", 0);
        bt_expect_absent(w, t, "dead", 4);
        bt_put_s(w, t, "alive", "parent");
        BT_OK(birch_txn_commit(w));
    }
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

START_TEST(none_visible)
{
    char *path = bt_path("none");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    churn(db, 10, 10, 0);
    sh = shared_new();
    for (int i = 0; i < 20; i++) {
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            birch_db *c = NULL;
            birch_txn *w = NULL;
            birch_table *t = NULL;
            char k[16];
            snprintf(k, sizeof k, "none%d", i);
            if (birch_open(path, &o, &c) || birch_txn_begin(c, BIRCH_TXN_WRITE, &w) ||
                birch_table_open(w, "t", 0, &t) || birch_put(w, t, bt_str(k), bt_str("seen"), 0) ||
                birch_txn_commit(w))
                child_fail("none writer: %s", birch_errmsg());
            atomic_store(&sh->commits, (uint64_t)i + 1); /* acknowledged; the handle stays open */
            for (;;) pause();
        }
        while (atomic_load(&sh->commits) != (uint64_t)i + 1) {
            ck_assert_msg(!sh->failed, "%s", sh->err);
            sleep_us(100);
        }
        birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
        char k[16];
        snprintf(k, sizeof k, "none%d", i);
        bt_expect_s(r, bt_table(r, "t", 0), k, "seen");
        BT_OK(birch_txn_commit(r));
        kill_wait(pid); /* killed before any checkpoint of its own: the commit stays */
    }
    bt_check(db);
    BT_OK(birch_close(db));
    db = bt_open(path, &o);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    ck_assert_uint_eq(bt_count(r, bt_table(r, "t", 0)), 30);
    BT_OK(birch_txn_commit(r));
    BT_OK(birch_close(db));
    munmap(sh, sizeof *sh);
    bt_remove(path);
    free(path);
}
END_TEST

/* A checkpoint by another handle rewrites the meta page this handle's
 * weak commits do not use, and moves the durable state: this handle's next
 * writer must build on it (the allocator keeps the pages of the durable
 * state, and a weak commit goes beside it), not on what it last saw. */
START_TEST(checkpoint_by_another_handle)
{
    char *path = bt_path("ckpt");
    birch_options o = bt_opts_fast();
    birch_db *a = bt_open(path, &o), *b = bt_open(path, &o);
    for (int i = 0; i < 3; i++) churn(a, 20, 10, i);
    birch_txn *w = bt_begin(a, BIRCH_TXN_WRITE); /* a's view: refreshed at its begin */
    birch_txn_abort(w);
    uint64_t last = a->meta.txnid;
    ck_assert_msg(a->meta.flags & BI_META_WEAK, "the last commit is not weak: nothing to test");
    ck_assert_uint_lt(a->steady_txnid, last);
    BT_OK(birch_sync(b)); /* b checkpoints a's weak commit */
    w = bt_begin(a, BIRCH_TXN_WRITE);
    ck_assert_uint_eq(a->steady_txnid, last);
    ck_assert_int_eq(a->steady_slot, b->steady_slot);
    birch_txn_abort(w);
    churn(a, 20, 10, 9);
    BT_OK(birch_close(b));
    bt_check(a);
    BT_OK(birch_close(a));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- The lock file ---------------------------------------------------------------- */

static char *lock_path(const char *path)
{
    size_t n = strlen(path);
    char *l = malloc(n + sizeof "-lock");
    ck_assert_ptr_nonnull(l);
    memcpy(l, path, n);
    memcpy(l + n, "-lock", sizeof "-lock");
    return l;
}

static void expect_intact(const char *path, const birch_options *o, const char *ctx)
{
    birch_db *db = NULL;
    int rc = birch_open(path, o, &db);
    ck_assert_msg(rc == BIRCH_OK, "%s: open: %s", ctx, birch_errmsg());
    bt_check(db);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_expect_s(w, bt_table(w, "t", 0), "k000001", "xxxxxxxxxx");
    bt_put_s(w, bt_table(w, "t", 0), "after", ctx);
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db));
}

START_TEST(lock_file_damage)
{
    char *path = bt_path("lk"), *lk = lock_path(path);
    birch_options o = bt_opts();
    make_table(path, &o, 10, 10, 23); /* values "xxxxxxxxxx" */
    birch_db *db = NULL;
    ck_assert_int_eq(access(lk, F_OK), 0);

    /* No handle open: whatever the lock file holds, the next open rebuilds it. */
    ck_assert_int_eq(unlink(lk), 0);
    expect_intact(path, &o, "deleted");
    bt_file_truncate(lk, 0);
    expect_intact(path, &o, "empty");
    bt_file_truncate(lk, 100);
    expect_intact(path, &o, "truncated");
    char junk[4096];
    memset(junk, 0x5a, sizeof junk);
    bt_file_write(lk, junk, sizeof junk, 0);
    expect_intact(path, &o, "garbage");
    uint32_t v99 = 99;
    bt_file_write(lk, &v99, 4, offsetof(bi_lkhdr, version));
    expect_intact(path, &o, "another version, unused");

    /* While a handle (another process's) has it open. */
    pid_t p = holder(path, &o, 0);
    uint32_t v1;
    bt_file_read(lk, &v1, 4, offsetof(bi_lkhdr, version));
    bt_file_write(lk, &v99, 4, offsetof(bi_lkhdr, version));
    BT_RC(birch_open(path, &o, &db), BIRCH_EVERSION);
    ck_assert_msg(strstr(birch_errmsg(), "version 99"), "%s", birch_errmsg());
    bt_file_write(lk, &v1, 4, offsetof(bi_lkhdr, version));
    db = bt_open(path, &o); /* restored: joins */
    BT_OK(birch_close(db));
    char magic[8];
    bt_file_read(lk, magic, 8, 0);
    bt_file_write(lk, junk, 8, 0);
    BT_RC(birch_open(path, &o, &db), BIRCH_ECORRUPT);
    ck_assert_msg(strstr(birch_errmsg(), "magic"), "%s", birch_errmsg());
    bt_file_write(lk, magic, 8, 0);
    /* Truncated under an open handle (which, touching its map past the new
     * end, would get SIGBUS: the holder only waits): a new open reports it
     * after its wait, and rebuilds nothing while the holder lives. */
    uint64_t lk_size = bt_file_size(lk);
    unsigned char *keep = malloc(lk_size);
    ck_assert_ptr_nonnull(keep);
    bt_file_read(lk, keep, lk_size, 0);
    bt_file_truncate(lk, 100);
    BT_RC(birch_open(path, &o, &db), BIRCH_ECORRUPT);
    ck_assert_msg(strstr(birch_errmsg(), "truncated"), "%s", birch_errmsg());
    bt_file_write(lk, keep, lk_size, 0);
    free(keep);
    db = bt_open(path, &o); /* restored: joins */
    BT_OK(birch_close(db));
    /* Deleted under an open handle: a new open refuses (two tables would
     * hide readers from writers); the handle that has it goes on. */
    ck_assert_int_eq(unlink(lk), 0);
    BT_RC(birch_open(path, &o, &db), BIRCH_EBUSY);
    ck_assert_msg(strstr(birch_errmsg(), "removed or replaced"), "%s", birch_errmsg());
    kill_wait(p);
    expect_intact(path, &o, "after the holder died");
    free(lk);
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- Bad input ----------------------------------------------------------------------- */

START_TEST(bad_input)
{
    char *path = bt_path("bad");
    birch_options o = bt_opts();
    o.max_readers = 200;
    birch_db *db = bt_open(path, &o);
    churn(db, 10, 10, 23);
    birch_options more = bt_opts(), other_ps = bt_opts();
    more.max_readers = 300;
    birch_db *db2 = NULL;
    BT_RC(birch_open(path, &more, &db2), BIRCH_EINVAL);
    ck_assert_msg(strstr(birch_errmsg(), "table of 200"), "%s", birch_errmsg());
    /* Another page size: the file's own is used, nothing is damaged. */
    other_ps.page_size = 8192;
    db2 = bt_open(path, &other_ps);
    ck_assert_uint_eq(birch_page_size(db2), BIRCH_DEFAULT_PAGE_SIZE);
    birch_txn *w = bt_begin(db2, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", 0), "from", "db2");
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db2));
    bt_check(db);
    BT_OK(birch_close(db));
    /* A handle that takes fewer slots than the table has is fine. */
    o.max_readers = 2;
    db = bt_open(path, &o);
    birch_txn *r1 = bt_begin(db, BIRCH_TXN_READ), *r2 = bt_begin(db, BIRCH_TXN_READ), *r3 = NULL;
    BT_RC(birch_txn_begin(db, BIRCH_TXN_READ, &r3), BIRCH_EBUSY);
    BT_OK(birch_txn_commit(r1));
    BT_OK(birch_txn_commit(r2));
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- Without a lock file ------------------------------------------------------------ */

static int lock_refusal;
static int no_open_lock(bi_file *data, const char *path, bi_file **out, uint64_t id[2])
{
    (void)data;
    (void)out;
    (void)id;
    return bi_err(lock_refusal, "cannot open the lock file of '%s' (test)", path);
}

START_TEST(no_lock_file)
{
    char *path = bt_path("nolock");
    birch_options o = bt_opts(), ro = bt_opts();
    ro.read_only = 1;
    make_table(path, &o, 10, 10, 23);
    bi_io_ops ops = bi_io_posix;
    ops.open_lock = no_open_lock;
    bi_io io = {&ops, NULL};
    int codes[2] = {BIRCH_EREADONLY, BIRCH_EACCES};
    for (int k = 0; k < 2; k++) {
        lock_refusal = codes[k];
        /* Read-only: reads alone, beside other read-only handles. */
        birch_db *a = NULL, *b = NULL;
        BT_OK(bi_open_io(path, &ro, &io, &a));
        BT_OK(bi_open_io(path, &ro, &io, &b));
        birch_txn *r = bt_begin(a, BIRCH_TXN_READ);
        bt_expect_s(r, bt_table(r, "t", 0), "k000001", "xxxxxxxxxx");
        BT_OK(birch_txn_commit(r));
        /* A writer with the lock file cannot join them... */
        birch_db *w = NULL;
        BT_RC(birch_open(path, &o, &w), BIRCH_EBUSY);
        BT_OK(birch_close(a));
        BT_OK(birch_close(b));
        /* A reader without a lock file refuses beside handles that share
         * one (a writer among them would reuse pages under it). */
        birch_db *shared_h = bt_open(path, &ro);
        BT_RC(bi_open_io(path, &ro, &io, &a), codes[k]);
        ck_assert_msg(strstr(birch_errmsg(), "share the database"), "%s", birch_errmsg());
        BT_OK(birch_close(shared_h));
        /* ...and a writer without one has the file alone. */
        BT_OK(bi_open_io(path, &o, &io, &a));
        BT_RC(birch_open(path, &ro, &b), BIRCH_EBUSY);
        ck_assert_msg(strstr(birch_errmsg(), "alone"), "%s", birch_errmsg());
        birch_txn *t = bt_begin(a, BIRCH_TXN_WRITE);
        bt_put_s(t, bt_table(t, "t", 0), "alone", "yes");
        BT_OK(birch_txn_commit(t));
        BT_OK(birch_close(a));
    }
    expect_intact(path, &o, "after private handles");
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- The tools' calls beside a writer in another process --------------------------- */

static void busy_writer(const char *path)
{
    birch_options o = bt_opts_fast();
    birch_db *db = NULL;
    if (birch_open(path, &o, &db)) child_fail("busy writer: open: %s", birch_errmsg());
    for (uint64_t round = 0; !atomic_load(&sh->stop); round++) {
        birch_txn *w = NULL;
        birch_table *t = NULL;
        char k[16], v[64];
        if (birch_txn_begin(db, BIRCH_TXN_WRITE, &w) || birch_table_open(w, "t", BIRCH_CREATE, &t))
            child_fail("busy writer: begin: %s", birch_errmsg());
        for (int i = 0; i < 50; i++) {
            snprintf(k, sizeof k, "k%06d", (int)((round * 50 + (uint64_t)i) % 2000));
            memset(v, 'a' + (int)(round % 26), sizeof v);
            if (birch_put(w, t, bt_str(k), bt_val(v, sizeof v), 0)) child_fail("busy writer: put: %s", birch_errmsg());
        }
        if (round % 7 == 3 && birch_del(w, t, bt_str("k000001")) && birch_errmsg()[0] == 0)
            child_fail("busy writer: del");
        if (birch_txn_commit(w)) child_fail("busy writer: commit: %s", birch_errmsg());
        atomic_fetch_add(&sh->commits, 1);
    }
    if (birch_close(db)) child_fail("busy writer: close: %s", birch_errmsg());
    _exit(0);
}

/* birch stat, check, dump and copy (an online backup) run on a consistent
 * snapshot beside a writer in another process: their calls, here on a
 * read-only handle of this process. */
START_TEST(tools_beside_writer)
{
    char *path = bt_path("live");
    birch_options o = bt_opts(), ro = bt_opts();
    ro.read_only = 1;
    make_table(path, &o, 100, 10, 0);
    birch_db *db = NULL;
    sh = shared_new();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) busy_writer(path);
    db = bt_open(path, &ro);
    uint64_t last = 0;
    for (int i = 0; i < 12; i++) {
        while (atomic_load(&sh->commits) < (uint64_t)(i + 1) * 5) {
            ck_assert_msg(!sh->failed, "%s", sh->err);
            sleep_us(200);
        }
        char msg[256];
        int rc = birch_check(db, msg, sizeof msg);
        ck_assert_msg(rc == BIRCH_OK, "round %d: check beside a writer: %s", i, msg);
        birch_stat st = bt_stat(db);
        ck_assert_uint_ge(st.txnid, last);
        last = st.txnid;
        char copy[64];
        snprintf(copy, sizeof copy, "-copy%d", i);
        char *cp = bt_path(copy);
        BT_OK(birch_copy(db, cp, i & 1 ? BIRCH_COPY_COMPACT : 0, NULL, NULL));
        birch_db *c = bt_open(cp, &ro);
        bt_check(c);
        birch_txn *r = bt_begin(c, BIRCH_TXN_READ);
        uint64_t n = bt_count(r, bt_table(r, "t", 0));
        ck_assert_msg(n >= 100 && n <= 2000, "round %d: the copy holds %" PRIu64 " records", i, n);
        BT_OK(birch_txn_commit(r));
        BT_OK(birch_close(c));
        bt_remove(cp);
        free(cp);
    }
    atomic_store(&sh->stop, 1);
    expect_ok_exit(pid, "busy writer");
    BT_OK(birch_close(db));
    munmap(sh, sizeof *sh);
    bt_remove(path);
    free(path);
}
END_TEST

/* The read-only open of read_only_media, in the process that runs it. */
static void read_only_open(const char *path)
{
    birch_options ro = bt_opts();
    ro.read_only = 1;
    birch_db *db = NULL;
    birch_txn *r = NULL;
    birch_table *t = NULL;
    birch_val v;
    char msg[256];
    if (birch_open(path, &ro, &db)) child_fail("read-only open: %s", birch_errmsg());
    if (birch_txn_begin(db, BIRCH_TXN_READ, &r) || birch_table_open(r, "t", 0, &t) ||
        birch_get(r, t, bt_str("k000001"), &v) || v.size != 10 || memcmp(v.data, "xxxxxxxxxx", 10))
        child_fail("read-only read: %s", birch_errmsg());
    birch_txn_abort(r);
    if (birch_check(db, msg, sizeof msg)) child_fail("read-only check: %s", msg);
    if (birch_close(db)) child_fail("read-only close: %s", birch_errmsg());
    _exit(0);
}

/* A database on media this user cannot write (a directory and a file
 * without write permission, so no lock file can be made): a read-only
 * open works without a lock file.  Root ignores permissions, so as root
 * the open runs in a child that became "nobody" first. */
START_TEST(read_only_media)
{
    char dir[] = "/tmp/birch-romedia-XXXXXX"; /* /tmp: a path every user can walk */
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0755), 0);
    char path[64];
    snprintf(path, sizeof path, "%s/db", dir);
    birch_options o = bt_opts();
    make_table(path, &o, 10, 10, 23);
    char *lk = lock_path(path);
    ck_assert_int_eq(unlink(lk), 0);
    ck_assert_int_eq(chmod(path, 0444), 0);
    ck_assert_int_eq(chmod(dir, 0555), 0);
    sh = shared_new();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) child_fail("cannot become nobody");
        if (access(dir, W_OK) == 0) child_fail("the directory is writable after all");
        read_only_open(path);
    }
    expect_ok_exit(pid, "read-only open on read-only media");
    ck_assert_int_eq(access(lk, F_OK), -1); /* no lock file was made */
    ck_assert_int_eq(chmod(dir, 0755), 0);
    unlink(path);
    rmdir(dir);
    munmap(sh, sizeof *sh);
    free(lk);
}
END_TEST

/* ---- What the review of issue 13 found ------------------------------------------ */

/* A lock file whose builder died (or failed) after writing its header but
 * before recovering the database is never joined: a handle that finds it
 * so while another holds it waits, then reports it, and once nobody holds
 * it the next open rebuilds it.  (Joining it gave readers the empty
 * snapshot of a zeroed header.) */
START_TEST(unfinished_lock_file)
{
    char *path = bt_path("unfinished"), *lk = lock_path(path);
    birch_options o = bt_opts();
    make_table(path, &o, 10, 10, 23);
    birch_db *db = NULL;
    uint64_t zero = 0;
    bt_file_write(lk, &zero, 8, offsetof(bi_lkhdr, ready));
    /* A process that holds the init lock for reading, as a joiner does. */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(lk, O_RDWR);
        struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = (off_t)BI_LK_INIT_BYTE, .l_len = 1};
        char c = fd >= 0 && fcntl(fd, F_OFD_SETLK, &fl) == 0 ? 'x' : 'e';
        if (write(fds[1], &c, 1) != 1) _exit(3);
        for (;;) pause();
    }
    char c = 0;
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    ck_assert_int_eq(c, 'x');
    BT_RC(birch_open(path, &o, &db), BIRCH_ECORRUPT);
    ck_assert_msg(strstr(birch_errmsg(), "unfinished"), "%s", birch_errmsg());
    kill_wait(pid);
    expect_intact(path, &o, "after the unfinished lock file");
    close(fds[0]);
    close(fds[1]);
    free(lk);
    bt_remove(path);
    free(path);
}
END_TEST

/* A transaction of one handle that spilled (growing the file) and then
 * aborted leaves no commit to tell another handle the file grew: that
 * one's next growth asks the file's size, and the file never shrinks under
 * the first handle's map (whose next commit then faulted on the lost
 * pages: SIGBUS). */
START_TEST(growth_by_an_aborted_transaction)
{
    char *path = bt_path("abortgrow");
    birch_options o = bt_opts(), small = bt_opts_fast();
    small.dirty_budget = BIRCH_MIN_DIRTY_BUDGET;
    birch_db *b = bt_open(path, &small);
    churn(b, 10, 10, 1); /* a NONE commit: b's lazy path maps the file for writing */
    birch_db *a = bt_open(path, &o); /* sees the small file */
    uint64_t before = bt_file_size(path);
    birch_txn *w = bt_begin(b, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", 0);
    static char big[65536];
    memset(big, 'z', sizeof big);
    for (int i = 0; i < 300; i++) {
        char k[16];
        snprintf(k, sizeof k, "big%05d", i);
        bt_put(w, t, k, strlen(k), big, sizeof big);
    }
    birch_txn_abort(w); /* the spills grew the file; no commit tells a */
    uint64_t grown = bt_file_size(path);
    ck_assert_msg(grown > before + (8u << 20), "the spill did not grow the file (%" PRIu64 " bytes)", grown);
    /* a grows its own state past the size it saw, by less than b's spill. */
    static char v[200000];
    memset(v, 'a', sizeof v);
    w = bt_begin(a, BIRCH_TXN_WRITE);
    bt_put(w, bt_table(w, "t", 0), "A", 1, v, sizeof v);
    BT_OK(birch_txn_commit(w));
    ck_assert_msg(bt_file_size(path) >= grown, "the file shrank from %" PRIu64 " to %" PRIu64 " bytes", grown,
                  bt_file_size(path));
    for (int i = 0; i < 40; i++) churn(b, 200, 100, i); /* lazy writes all over the grown file */
    bt_check(a);
    BT_OK(birch_close(a));
    BT_OK(birch_close(b));
    bt_remove(path);
    free(path);
}
END_TEST

/* A process killed holding the write transaction, whose fork child (that
 * neither closed its inherited handle nor exec'd) lives on and so keeps
 * the dead process's locks: another process still writes at once (the
 * owner's pid has left, whatever its lock says). */
START_TEST(dead_writer_with_a_live_child)
{
    char *path = bt_path("deadchild");
    birch_options o = bt_opts();
    make_table(path, &o, 10, 10, 0);
    birch_db *db = NULL;
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        birch_db *d = NULL;
        birch_txn *w = NULL;
        if (birch_open(path, &o, &d)) _exit(2);
        pid_t helper = fork(); /* keeps the descriptors, and so their locks */
        if (helper == 0) {
            for (;;) pause();
        }
        char c = 'x';
        if (helper < 0 || birch_txn_begin(d, BIRCH_TXN_WRITE, &w)) c = 'e';
        c = c == 'x' ? 'x' : 'e';
        int hp = (int)helper;
        if (write(fds[1], &c, 1) != 1 || write(fds[1], &hp, sizeof hp) != (ssize_t)sizeof hp) _exit(3);
        for (;;) pause();
    }
    char c = 0;
    int helper = 0;
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    ck_assert_int_eq(read(fds[0], &helper, sizeof helper), (ssize_t)sizeof helper);
    ck_assert_int_eq(c, 'x');
    kill_wait(pid);
    db = bt_open(path, &o);
    birch_txn *w = NULL;
    int rc = BIRCH_EBUSY;
    for (int i = 0; i < 300 && rc == BIRCH_EBUSY; i++) { /* 3 s at most; a moment is enough */
        rc = birch_txn_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY, &w);
        if (rc == BIRCH_EBUSY) sleep_us(10000);
    }
    ck_assert_msg(rc == BIRCH_OK, "the dead writer's child still blocks writers: %s", birch_errmsg());
    bt_put_s(w, bt_table(w, "t", 0), "after", "the dead writer");
    BT_OK(birch_txn_commit(w));
    kill(helper, SIGKILL); /* the grandchild: reaped by init */
    bt_check(db);
    BT_OK(birch_close(db));
    close(fds[0]);
    close(fds[1]);
    bt_remove(path);
    free(path);
}
END_TEST

/* One thread, two handles of one file: a write begin (or a sync) through
 * the second while the thread holds the first's write transaction would
 * wait for itself forever: BIRCH_EBUSY at once, as with one handle. */
START_TEST(two_handles_one_thread)
{
    char *path = bt_path("twoh");
    birch_options o = bt_opts_fast();
    birch_db *a = bt_open(path, &o), *b = bt_open(path, &o);
    churn(a, 10, 10, 0);
    birch_txn *w = bt_begin(a, BIRCH_TXN_WRITE), *w2 = NULL;
    BT_RC(birch_txn_begin(b, BIRCH_TXN_WRITE, &w2), BIRCH_EBUSY);
    ck_assert_msg(strstr(birch_errmsg(), "another handle"), "%s", birch_errmsg());
    BT_RC(birch_txn_begin(b, BIRCH_TXN_WRITE | BIRCH_TXN_TRY, &w2), BIRCH_EBUSY);
    BT_RC(birch_sync(b), BIRCH_EBUSY);
    BT_OK(birch_txn_commit(w));
    w2 = bt_begin(b, BIRCH_TXN_WRITE);
    BT_OK(birch_txn_commit(w2));
    BT_OK(birch_sync(b));
    BT_OK(birch_close(a));
    BT_OK(birch_close(b));
    bt_remove(path);
    free(path);
}
END_TEST

/* Garbage in the lock file's published snapshot while handles have it
 * open: a read begin reports it (after about a second) instead of spinning
 * without end, and the next writer republishes, which repairs it. */
START_TEST(damaged_publication)
{
    char *path = bt_path("pubdmg"), *lk = lock_path(path);
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    churn(db, 10, 10, 23);
    uint64_t odd = 0x5555555555555555ull; /* both copies "mid-rewrite" */
    bt_file_write(lk, &odd, 8, offsetof(bi_lkhdr, pub[0].seq));
    bt_file_write(lk, &odd, 8, offsetof(bi_lkhdr, pub[1].seq));
    birch_txn *r = NULL;
    BT_RC(birch_txn_begin(db, BIRCH_TXN_READ, &r), BIRCH_ECORRUPT);
    ck_assert_msg(strstr(birch_errmsg(), "published snapshot is damaged"), "%s", birch_errmsg());
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_txn_abort(w);
    r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "t", 0), "k000001", "xxxxxxxxxx");
    BT_OK(birch_txn_commit(r));
    BT_OK(birch_close(db));
    free(lk);
    bt_remove(path);
    free(path);
}
END_TEST

/* An open that runs out of address space reports BIRCH_ENOMEM (its
 * cleanup once read a structure the failed step never made). */
START_TEST(open_without_address_space)
{
    char *path = bt_path("noas");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    BT_OK(birch_close(db));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* A GiB more than this process has: less than the 4 GiB of address
         * space the handles' region takes, room enough for the sanitizers'
         * own allocations (their reserved shadow counts in the size). */
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        unsigned long long vm = 0;
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, "VmSize:", 7) == 0) vm = strtoull(line + 7, NULL, 10);
        if (f) fclose(f);
        if (!vm) _exit(5);
        struct rlimit rl = {(rlim_t)((vm << 10) + (1ull << 30)), (rlim_t)((vm << 10) + (1ull << 30))};
        if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(4);
        int rc = birch_open(path, &o, &db);
        _exit(rc == BIRCH_ENOMEM ? 0 : rc == BIRCH_OK ? 2 : 3);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "open under a tight address-space limit: status %#x",
                  (unsigned)st);
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- No system call on the read path ---------------------------------------------- */

enum { SYSCALL_READS = 2000 };

/* The traced child: a handle that has read once (its slot claimed), then
 * read transactions with gets, and cursor moves in a transaction opened
 * before, between two getppid() calls, the markers the tracer counts
 * between.  (Cursors are opened outside: their malloc, like any malloc,
 * may ask the system for memory, under ASan's allocator at least.) */
static void traced_reader(const char *path)
{
    birch_options ro = bt_opts();
    ro.read_only = 1;
    birch_db *db = NULL;
    birch_txn *r = NULL, *rc = NULL;
    birch_table *t = NULL;
    birch_val v, k;
    birch_cursor *c = NULL;
    if (birch_open(path, &ro, &db)) _exit(2);
    if (birch_txn_begin(db, BIRCH_TXN_READ, &r) || birch_table_open(r, "t", 0, &t)) _exit(3);
    birch_txn_abort(r); /* the slot is claimed, the table handle made */
    if (birch_txn_begin(db, BIRCH_TXN_READ, &rc) || birch_cursor_open(rc, t, &c)) _exit(3);
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) _exit(4);
    raise(SIGSTOP);
    (void)syscall(SYS_getppid);
    int bad = 0;
    for (int i = 0; i < SYSCALL_READS; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%06d", i % 97 + 2); /* each has a next; the writer deletes k000001 */
        bad |= birch_txn_begin(db, BIRCH_TXN_READ, &r);
        bad |= birch_get(r, t, bt_str(key), &v);
        birch_txn_abort(r);
        bad |= birch_cursor_seek(c, bt_str(key)) || birch_cursor_next(c) || birch_cursor_get(c, &k, &v) ||
               birch_cursor_prev(c);
    }
    (void)syscall(SYS_getppid);
    birch_cursor_close(c);
    birch_txn_abort(rc);
    _exit(bad ? 5 : 0);
}

/* Counts the system calls the child makes between its two getppid(). */
static long count_syscalls(pid_t pid, char *seen, size_t seen_size)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid); /* its SIGSTOP */
    ck_assert(WIFSTOPPED(st));
    ck_assert_int_eq(ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)PTRACE_O_TRACESYSGOOD), 0);
    long calls = 0, markers = 0;
    int entering = 1;
    seen[0] = 0;
    for (;;) {
        ck_assert_int_eq(ptrace(PTRACE_SYSCALL, pid, NULL, NULL), 0);
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        if (WIFEXITED(st)) {
            ck_assert_msg(WEXITSTATUS(st) == 0, "the traced reader failed (%d)", WEXITSTATUS(st));
            break;
        }
        if (!WIFSTOPPED(st) || WSTOPSIG(st) != (SIGTRAP | 0x80)) continue;
        if (entering) {
            struct user_regs_struct regs;
            ck_assert_int_eq(ptrace(PTRACE_GETREGS, pid, NULL, &regs), 0);
            if ((long)regs.orig_rax == SYS_getppid) markers++;
            else if (markers == 1 && ++calls <= 8) {
                size_t n = strlen(seen);
                snprintf(seen + n, seen_size - n, " %ld", (long)regs.orig_rax);
            }
        }
        entering = !entering;
    }
    ck_assert_int_eq(markers, 2);
    return calls;
}

/* The read path (begin, get, cursor moves, end) makes no system call once
 * the handle holds its slot, beside a writer in another process. */
START_TEST(read_path_makes_no_system_call)
{
#if defined(__x86_64__)
    char *path = bt_path("nosys");
    birch_options o = bt_opts();
    make_table(path, &o, 100, 10, 0);
    sh = shared_new();
    fflush(stdout);
    fflush(stderr);
    pid_t w = fork();
    ck_assert_int_ge(w, 0);
    if (w == 0) busy_writer(path);
    while (atomic_load(&sh->commits) < 3) sleep_us(200);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) traced_reader(path);
    char seen[128];
    long calls = count_syscalls(pid, seen, sizeof seen);
    atomic_store(&sh->stop, 1);
    expect_ok_exit(w, "busy writer");
    printf("read path: %ld system calls in %d read transactions beside %" PRIu64 " commits\n", calls, SYSCALL_READS,
           (uint64_t)atomic_load(&sh->commits));
    ck_assert_msg(calls == 0, "%ld system calls in %d read transactions (numbers, the first 8:%s)", calls,
                  SYSCALL_READS, seen);
    munmap(sh, sizeof *sh);
    bt_remove(path);
    free(path);
#else
    ck_abort_msg("the system call count needs x86-64's register names");
#endif
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("procs");
    bt_add_case(s, "model_full", model_full);
    bt_add_case(s, "model_none", model_none);
    bt_add_case(s, "stale_readers", stale_readers);
    bt_add_case(s, "growth_and_compaction", growth_and_compaction);
    bt_add_case(s, "dead_writer", dead_writer);
    bt_add_case(s, "none_visible", none_visible);
    bt_add_case(s, "checkpoint_by_another_handle", checkpoint_by_another_handle);
    bt_add_case(s, "lock_file_damage", lock_file_damage);
    bt_add_case(s, "bad_input", bad_input);
    bt_add_case(s, "no_lock_file", no_lock_file);
    bt_add_case(s, "tools_beside_writer", tools_beside_writer);
    bt_add_case(s, "read_only_media", read_only_media);
    bt_add_case(s, "unfinished_lock_file", unfinished_lock_file);
    bt_add_case(s, "growth_by_an_aborted_transaction", growth_by_an_aborted_transaction);
    bt_add_case(s, "dead_writer_with_a_live_child", dead_writer_with_a_live_child);
    bt_add_case(s, "two_handles_one_thread", two_handles_one_thread);
    bt_add_case(s, "damaged_publication", damaged_publication);
    bt_add_case(s, "open_without_address_space", open_without_address_space);
    bt_add_case(s, "read_path_makes_no_system_call", read_path_makes_no_system_call);
    return s;
}

int main(void)
{
    return bt_run(suite());
}
