/*
 * test_kill.c - the process dies (SIGKILL) while it writes; nothing
 * acknowledged may be lost (RocksDB's crash test, in miniature).
 *
 * A child process (fork) runs the crash workload (faultio.h) and, after
 * each birch_txn_commit that returns BIRCH_OK, writes the transaction's
 * number to a pipe.  It is killed with SIGKILL:
 *   - kill_at_each_io_operation: by itself, just before its Nth write,
 *     sync or resize (through the fault layer), for N = 1, 2, ... until
 *     the workload finishes first: every instant between two io
 *     operations, in both durability modes;
 *   - kill_at_random_instants: by the parent, after a random delay, on the
 *     plain POSIX layer (real fdatasync with BIRCH_DURABLE_FULL).  Each
 *     chain restarts the child from the recovered state until the workload
 *     is done, so the file goes through many kills in a row.
 * After each kill the parent reopens the file (birch_open; same boot, so
 * non-durable commits count too) and requires: birch_check passes, and the
 * file holds exactly the last acknowledged commit or the next one (whose
 * commit was in flight or not yet reported), every table compared with the
 * model.  kill_at_each_io_operation_spill does the first with a dirty
 * budget of a few pages (FW_SPILL_BUDGET), so that transactions write
 * leaves and overflow runs before their commit (engine/spill.c): kills
 * between those writes and the commit must leave the last commit.  The
 * process's page cache survives it, so this holds in both
 * durability modes (docs/DESIGN.md, section 4).  At the end the workload is
 * completed, verified, everything is deleted and birch_check accounts for
 * every page.  The counts of kills are printed.
 */
#include "faultio.c"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>


#define ERRSZ 1024

static birch_options kill_opts(int durability)
{
    birch_options o;
    birch_options_init(&o);
    o.page_size = 512;
    o.durability = durability;
    o.map_reserve = 1u << 20;
    return o;
}

/* Child: transactions from..w->ntxn, each acknowledged on fd.  With
 * kill_at > 0 it runs on the fault layer and kills itself before its
 * kill_at-th write/sync/resize.  budget (bytes, 0: the default) is its
 * dirty budget.  Exit status: 0 done, 2 open failed, 3 a transaction
 * failed, 4 close failed, 5 pipe. */
static void child(const char *path, const fw *w, int from, int durability, long kill_at, uint64_t budget, int fd)
{
    birch_options o = kill_opts(durability);
    birch_db *db = NULL;
    fio f;
    int rc;
    if (kill_at > 0) {
        fio_init(&f, 0);
        f.kill_at = kill_at;
        rc = bi_open_io(path, &o, &f.io, &db);
    } else {
        rc = birch_open(path, &o, &db);
    }
    if (rc) _exit(2);
    if (budget) fw_set_budget(db, budget);
    for (int k = from; k <= w->ntxn; k++) {
        if (fw_txn(db, w, k, NULL) != BIRCH_OK) _exit(3);
        uint32_t v = (uint32_t)k;
        if (write(fd, &v, sizeof v) != (ssize_t)sizeof v) _exit(5);
    }
    if (birch_close(db) != BIRCH_OK) _exit(4);
    _exit(0);
}

typedef struct kill_result {
    int killed;   /* 1 if SIGKILL ended the child, 0 if it finished */
    int acked;    /* last acknowledged transaction (from - 1 if none) */
} kill_result;

/* Forks the child, kills it after delay_ns (when >= 0), reaps it. */
static kill_result run_child(const char *path, const fw *w, int from, int durability,
                             long kill_at, uint64_t budget, long delay_ns, const char *ctx)
{
    int p[2];
    ck_assert_msg(pipe(p) == 0, "%s: pipe", ctx);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "%s: fork", ctx);
    if (pid == 0) {
        close(p[0]);
        child(path, w, from, durability, kill_at, budget, p[1]);
    }
    close(p[1]);
    if (delay_ns >= 0) {
        struct timespec ts = {delay_ns / 1000000000L, delay_ns % 1000000000L};
        while (nanosleep(&ts, &ts) != 0) {}
        kill(pid, SIGKILL); /* may find it finished: then it exited */
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {}
    kill_result res = {0, from - 1};
    uint32_t v;
    ssize_t n;
    while ((n = read(p[0], &v, sizeof v)) == (ssize_t)sizeof v) {
        ck_assert_msg((int)v == res.acked + 1, "%s: child acknowledged %u after %d", ctx, v, res.acked);
        res.acked = (int)v;
    }
    close(p[0]);
    if (WIFSIGNALED(st)) {
        ck_assert_msg(WTERMSIG(st) == SIGKILL, "%s: child died of signal %d", ctx, WTERMSIG(st));
        res.killed = 1;
    } else {
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "%s: child failed with status %d (2 open, 3 txn, 4 close, 5 pipe) after txn %d",
                      ctx, WIFEXITED(st) ? WEXITSTATUS(st) : -1, res.acked);
        ck_assert_msg(res.acked == w->ntxn, "%s: child finished after txn %d", ctx, res.acked);
    }
    return res;
}

/* Reopens after a kill: check, and the state is acked or acked + 1. */
static int recover(const char *path, const fw *w, int durability, int acked, const char *ctx)
{
    char err[ERRSZ], msg[ERRSZ] = "";
    birch_options o = kill_opts(durability);
    birch_db *db = NULL;
    int rc = birch_open(path, &o, &db);
    ck_assert_msg(rc == BIRCH_OK, "%s: reopen after the kill: %d (%s)", ctx, rc, birch_strerror(rc));
    rc = birch_check(db, msg, sizeof msg);
    ck_assert_msg(rc == BIRCH_OK, "%s: check after the kill: %d: %s", ctx, rc, msg);
    int hi = acked < w->ntxn ? acked + 1 : acked;
    int got = fw_identify(db, w, acked, hi, err, sizeof err);
    ck_assert_msg(got >= 0, "%s: after the kill (last acknowledged %d): %s", ctx, acked, err);
    ck_assert_int_eq(birch_close(db), BIRCH_OK);
    return got;
}

/* The workload's end on the recovered file, the wipe, the page count.
 * Runs on the fault layer without real fdatasync (this boot's id), only
 * to save time: durability is not in question here. */
static void complete(const char *path, const fw *w, int durability, int from, const char *ctx)
{
    char err[ERRSZ];
    birch_options o = kill_opts(durability);
    birch_db *db = NULL;
    fio g;
    fio_init(&g, 0);
    int rc = bi_open_io(path, &o, &g.io, &db);
    ck_assert_msg(rc == BIRCH_OK, "%s: final open: %d", ctx, rc);
    for (int k = from; k <= w->ntxn; k++) {
        const char *where = "";
        rc = fw_txn(db, w, k, &where);
        ck_assert_msg(rc == BIRCH_OK, "%s: txn %d after recovery: %s returned %d (%s)", ctx, k, where,
                      rc, birch_strerror(rc));
    }
    int got = fw_identify(db, w, w->ntxn, w->ntxn, err, sizeof err);
    ck_assert_msg(got == w->ntxn, "%s: end state: %s", ctx, err);
    ck_assert_msg(fw_wipe_check(db, err, sizeof err) == 0, "%s: %s", ctx, err);
    ck_assert_int_eq(birch_close(db), BIRCH_OK);
    fio_free(&g);
}

static void kill_sweep(int durability, uint64_t dflt_seed, uint64_t budget)
{
    uint64_t seed = bt_seed(dflt_seed);
    fw w;
    fw_init(&w, seed, (int)bt_env_u64("BIRCH_FAULT_TXNS", 24), 1);
    char *tmpl = bt_path("kill-tmpl"), *path = bt_path("kill");
    fw_create(tmpl);
    uint64_t spilled = budget ? fw_spills_of(tmpl, path, &w, kill_opts(durability), budget) : 0;
    if (budget) ck_assert_msg(spilled >= 100, "seed=%" PRIu64 ": the workload spilled %" PRIu64 " pages", seed, spilled);
    long kills = 0, newer = 0;
    long n = 1;
    int stride = fw_asan() ? 4 : 1;
    for (;; n++) {
        if (n > 3 && n % stride) continue;
        char ctx[160];
        snprintf(ctx, sizeof ctx, "seed=%" PRIu64 " mode=%s%s kill before io op N=%ld", seed,
                 durability == BIRCH_DURABLE_FULL ? "full" : "none", budget ? " spilling" : "", n);
        fw_copy(tmpl, path);
        kill_result r = run_child(path, &w, 1, durability, n, budget, -1, ctx);
        if (!r.killed) {
            complete(path, &w, durability, w.ntxn + 1, ctx);
            break;
        }
        kills++;
        int got = recover(path, &w, durability, r.acked, ctx);
        newer += got > r.acked;
        complete(path, &w, durability, got + 1, ctx);
    }
    printf("kill at each io operation mode=%s%s seed=%" PRIu64 ": N=1..%ld (stride %d), %ld kills, "
           "%ld recovered the commit in flight; %" PRIu64 " pages spilled by the workload\n",
           durability == BIRCH_DURABLE_FULL ? "full" : "none", budget ? " spilling" : "", seed, n - 1, stride,
           kills, newer, spilled);
    fflush(stdout);
    ck_assert_int_ge(kills, 10);
    bt_remove(tmpl);
    bt_remove(path);
    free(tmpl);
    free(path);
    fw_free(&w);
}

START_TEST(kill_at_each_io_operation_full) { kill_sweep(BIRCH_DURABLE_FULL, 0xC111, 0); }
END_TEST
START_TEST(kill_at_each_io_operation_nosync) { kill_sweep(BIRCH_DURABLE_NONE, 0xC112, 0); }
END_TEST
START_TEST(kill_at_each_io_operation_spill) { kill_sweep(BIRCH_DURABLE_FULL, 0xC114, FW_SPILL_BUDGET); }
END_TEST

static long elapsed_ns(const struct timespec *a, const struct timespec *b)
{
    return (b->tv_sec - a->tv_sec) * 1000000000L + (b->tv_nsec - a->tv_nsec);
}

/* Chains of kills at random instants, on the plain POSIX layer. */
START_TEST(kill_at_random_instants)
{
    uint64_t base = bt_seed(0xC113);
    long chains = (long)bt_env_u64("BIRCH_KILL_CHAINS", fw_asan() ? 4 : 8);
    long kills = 0, finished = 0, newer = 0;
    char *path = bt_path("killr");
    for (long c = 0; c < chains; c++) {
        uint64_t seed = bt_mix(base + (uint64_t)c);
        bt_rng r = {seed};
        int durability = c % 2 ? BIRCH_DURABLE_NONE : BIRCH_DURABLE_FULL;
        fw w;
        fw_init(&w, seed, 24, bt_chance(&r, 50));
        char ctx[160];
        snprintf(ctx, sizeof ctx, "seed=%" PRIu64 " mode=%s calibration", seed,
                 durability == BIRCH_DURABLE_FULL ? "full" : "none");
        /* How long an uninterrupted run takes (for the range of delays
         * only; nothing is asserted about time). */
        bt_remove(path);
        fw_create(path);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        run_child(path, &w, 1, durability, 0, 0, -1, ctx);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long span = elapsed_ns(&t0, &t1);
        if (span < 1000000) span = 1000000;
        bt_remove(path);
        fw_create(path);
        int from = 1;
        for (int step = 0;; step++) {
            snprintf(ctx, sizeof ctx, "seed=%" PRIu64 " mode=%s chain step %d from txn %d", seed,
                     durability == BIRCH_DURABLE_FULL ? "full" : "none", step, from);
            /* Late in a chain, let the child finish. */
            long delay = step < 40 ? (long)bt_below(&r, (uint64_t)span / 4 + 1) : -1;
            kill_result k = run_child(path, &w, from, durability, 0, 0, delay, ctx);
            if (!k.killed) {
                finished++;
                complete(path, &w, durability, w.ntxn + 1, ctx);
                break;
            }
            kills++;
            int got = recover(path, &w, durability, k.acked, ctx);
            newer += got > k.acked;
            if (got == w.ntxn) {
                complete(path, &w, durability, got + 1, ctx);
                break;
            }
            from = got + 1;
        }
        fw_free(&w);
    }
    printf("kill at random instants seed=%" PRIu64 ": %ld chains (%ld ran to the end), %ld kills, "
           "%ld recovered a commit that was in flight or unreported\n",
           base, chains, finished, kills, newer);
    fflush(stdout);
    /* How many kills land depends on timing, so nothing is asserted on it. */
    bt_remove(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kill");
    TCase *tc = bt_tcase("kill");
    tcase_add_test(tc, kill_at_each_io_operation_full);
    tcase_add_test(tc, kill_at_each_io_operation_nosync);
    tcase_add_test(tc, kill_at_random_instants);
    suite_add_tcase(s, tc);
    TCase *spill = bt_tcase("kill_spill"); /* alone: CK_RUN_CASE=kill_spill */
    tcase_add_test(spill, kill_at_each_io_operation_spill);
    suite_add_tcase(s, spill);
    return bt_run(s);
}
