/*
 * test_fault.c - I/O errors injected at every operation, SQLite style.
 *
 * For each kind of operation (write, sync, resize, map, read) and each
 * error (BIRCH_EIO, BIRCH_EFULL), the fixed crash workload (faultio.h: 24
 * transactions with splits, merges, overflow values, two huge values, table
 * creation and drop, page reuse) runs with the Nth call of that kind
 * failing, for N = 1, 2, 3, ... until the workload finishes without
 * reaching N.  After every fault:
 *   - the commit (or open) reports the fault: BIRCH_EFULL when the disk was
 *     full while writing pages or growing the file, BIRCH_EIO otherwise;
 *   - a reader that began before the failed commit still reads its whole
 *     snapshot;
 *   - after BIRCH_EFULL the same handle keeps working: it still holds the
 *     last commit, and the failed transaction, run again once space is
 *     back, commits (the engine keeps the handle usable after EFULL);
 *   - after BIRCH_EIO the handle refuses write transactions with BIRCH_EIO
 *     (readers still work); reopened, the file passes birch_check and holds
 *     exactly the last acknowledged commit or the one in flight, whole;
 *   - the workload then runs to its end (on the same handle, or on the
 *     reopened file), the end state is verified, and deleting everything
 *     leaves a file whose every page birch_check accounts for.
 * Both durability modes are swept.  The fault_spill cases sweep writes and
 * growth with a dirty budget of a few pages (FW_SPILL_BUDGET), so that
 * faults also hit the writes transactions make before their commit
 * (engine/spill.c): a put or del then reports them as a commit would.
 * Every write sweep must fail some writes that carry free-space map
 * records (faults while free space is persisted; counted by faultio.c).
 * The number of crash points is printed.
 */
#include "faultio.c"

#include <inttypes.h>
#include <stdio.h>

#define ERRSZ 1024

static const char *rc_name(int rc)
{
    switch (rc) {
    case BIRCH_OK: return "OK";
    case BIRCH_EIO: return "EIO";
    case BIRCH_EFULL: return "EFULL";
    case BIRCH_ENOMEM: return "ENOMEM";
    default: return birch_strerror(rc);
    }
}

static birch_options fault_opts(int durability)
{
    birch_options o;
    birch_options_init(&o);
    o.page_size = 512;
    o.durability = durability;
    o.map_reserve = 1u << 20; /* the huge values make the map grow */
    return o;
}

/* Opens path with a fault-free layer of the same "machine" (boot id), so
 * that non-durable commits of the run are trusted as after a process
 * restart. */
static birch_db *open_same_boot(const char *path, int durability, fio *g, const char *ctx)
{
    fio_init(g, 1);
    birch_options o = fault_opts(durability);
    birch_db *db = NULL;
    int rc = bi_open_io(path, &o, &g->io, &db);
    ck_assert_msg(rc == BIRCH_OK, "%s: reopen returned %d (%s)", ctx, rc, birch_strerror(rc));
    char msg[ERRSZ] = "";
    rc = birch_check(db, msg, sizeof msg);
    ck_assert_msg(rc == BIRCH_OK, "%s: check after reopen: %d: %s", ctx, rc, msg);
    return db;
}

/* Runs transactions from..w->ntxn on db, which must all succeed; then
 * verifies the final state, wipes and checks; closes db. */
static void finish_run(birch_db *db, const fw *w, int from, const char *ctx)
{
    char err[ERRSZ];
    for (int k = from; k <= w->ntxn; k++) {
        const char *where = "";
        int rc = fw_txn(db, w, k, &where);
        ck_assert_msg(rc == BIRCH_OK, "%s: after the fault, txn %d: %s returned %d (%s)", ctx, k,
                      where, rc, birch_strerror(rc));
    }
    int got = fw_identify(db, w, w->ntxn, w->ntxn, err, sizeof err);
    ck_assert_msg(got == w->ntxn, "%s: end state: %s", ctx, err);
    ck_assert_msg(fw_wipe_check(db, err, sizeof err) == 0, "%s: %s", ctx, err);
    ck_assert_int_eq(birch_close(db), BIRCH_OK);
}

/* What a commit must return after an injected fault of kind with code inj
 * (off: offset of the failed write). */
static int expected_rc(int kind, int inj, uint64_t off, int *or_ok)
{
    *or_ok = 0;
    if (inj == BIRCH_EIO) return BIRCH_EIO;
    switch (kind) {
    case FIO_WRITE: return off < 2u * 512u ? BIRCH_EIO : BIRCH_EFULL; /* meta: state unknown */
    case FIO_SYNC: return BIRCH_EIO; /* a failed sync may have lost pages */
    case FIO_RESIZE: *or_ok = 1; return BIRCH_EFULL; /* growth retries with less */
    case FIO_MAP: return BIRCH_EFULL;
    default: return BIRCH_EIO;
    }
}

typedef struct sweep_stats {
    long points, efull_handled, eio_reopened, open_failed, close_failed;
    long freemap; /* of the points, writes that carried free-space map records */
} sweep_stats;

/* One run with the Nth call of kind failing with inj.  Returns 1 if the
 * fault was reached. */
static int fault_run(const char *tmpl, const char *path, const fw *w, int durability, uint64_t budget, int kind,
                     int inj, int sticky, long n, sweep_stats *ss)
{
    char ctx[256], err[ERRSZ];
    snprintf(ctx, sizeof ctx, "seed=%" PRIu64 " mode=%s%s kind=%s rc=%s%s N=%ld", w->seed,
             durability == BIRCH_DURABLE_FULL ? "full" : "none", budget ? " spilling" : "", fio_kind_name[kind],
             rc_name(inj), sticky ? " sticky" : "", n);
    fw_copy(tmpl, path);
    fio f;
    fio_init(&f, 1);
    f.fail_at[kind] = n;
    f.fail_rc[kind] = inj;
    f.sticky = sticky;
    birch_options o = fault_opts(durability);
    birch_db *db = NULL;
    int rc = bi_open_io(path, &o, &f.io, &db);
    if (rc != BIRCH_OK) {
        /* Only a fault may fail the open (the map, or reading a meta), and
         * then nothing was written. */
        ck_assert_msg(f.injected == 1, "%s: open returned %d (%s) without a fault", ctx, rc,
                      birch_strerror(rc));
        ck_assert_msg(rc == inj, "%s: open returned %d (%s), injected %s", ctx, rc,
                      birch_strerror(rc), rc_name(inj));
        fio g;
        db = open_same_boot(path, durability, &g, ctx);
        int got = fw_identify(db, w, 0, 0, err, sizeof err);
        ck_assert_msg(got == 0, "%s: after a failed open: %s", ctx, err);
        ss->open_failed++;
        ss->points++;
        finish_run(db, w, 1, ctx);
        fio_free(&g);
        fio_free(&f);
        return 1;
    }
    if (budget) fw_set_budget(db, budget);
    int acked = 0;
    for (int k = 1; k <= w->ntxn; k++) {
        birch_txn *reader = NULL;
        rc = birch_txn_begin(db, BIRCH_TXN_READ, &reader);
        ck_assert_msg(rc == BIRCH_OK, "%s: reader before txn %d: %d", ctx, k, rc);
        long before = f.injected;
        const char *where = "";
        rc = fw_txn(db, w, k, &where);
        if (f.injected == before) {
            ck_assert_msg(rc == BIRCH_OK, "%s: txn %d: %s returned %d (%s) with no fault", ctx, k,
                          where, rc, birch_strerror(rc));
            acked = k;
            birch_txn_abort(reader);
            continue;
        }
        /* The fault hit transaction k. */
        ss->points++;
        ss->freemap += f.failed_freemap;
        int or_ok = 0;
        int want = expected_rc(kind, inj, f.last_fail_off, &or_ok);
        ck_assert_msg(rc == want || (or_ok && rc == BIRCH_OK),
                      "%s: txn %d: %s returned %d (%s), expected %s%s", ctx, k, where, rc,
                      birch_strerror(rc), rc_name(want), or_ok ? " or OK" : "");
        /* The reader that began before the failed commit keeps its data. */
        ck_assert_msg(fw_verify(reader, w, acked, err, sizeof err) == 0,
                      "%s: txn %d failed; the reader begun before it: %s", ctx, k, err);
        birch_txn_abort(reader);
        if (rc == BIRCH_OK) { /* growth retried with the bare minimum */
            acked = k;
            continue;
        }
        if (rc == BIRCH_EFULL) {
            /* The transaction failed, nothing else: the same handle holds
             * the last commit and commits the transaction once there is
             * space again (the fault was one-shot). */
            int got = fw_identify(db, w, acked, acked, err, sizeof err);
            ck_assert_msg(got == acked, "%s: after EFULL in txn %d, same handle: %s", ctx, k, err);
            fio_disarm(&f); /* space frees up */
            rc = fw_txn(db, w, k, &where);
            ck_assert_msg(rc == BIRCH_OK, "%s: txn %d again after EFULL: %s returned %d (%s)", ctx,
                          k, where, rc, birch_strerror(rc));
            acked = k;
            ss->efull_handled++;
            continue;
        }
        /* EIO: the handle refuses writes until reopened; readers work. */
        birch_txn *tx = NULL;
        rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &tx);
        ck_assert_msg(rc == BIRCH_EIO, "%s: write txn after EIO returned %d (%s)", ctx, rc,
                      birch_strerror(rc));
        int got = fw_identify(db, w, acked, acked, err, sizeof err);
        ck_assert_msg(got == acked, "%s: new reader after EIO in txn %d: %s", ctx, k, err);
        ck_assert_int_eq(birch_close(db), BIRCH_OK);
        fio g;
        db = open_same_boot(path, durability, &g, ctx);
        got = fw_identify(db, w, acked, k, err, sizeof err);
        ck_assert_msg(got >= 0, "%s: reopened after EIO in txn %d: %s", ctx, k, err);
        ss->eio_reopened++;
        finish_run(db, w, got + 1, ctx);
        fio_free(&g);
        fio_free(&f);
        return 1;
    }
    /* The workload got through; with BIRCH_DURABLE_NONE the close still
     * syncs (a checkpoint), which may meet the fault. */
    long before = f.injected;
    rc = birch_close(db);
    int hit = f.injected > 0;
    if (f.injected > before) {
        ss->points++;
        ss->close_failed++;
        /* The checkpoint's error comes back as is: EIO, or EFULL when its
         * meta write was refused for lack of space.  Either way the last
         * commit stays (a weak meta, trusted on this boot). */
        ck_assert_msg(rc == BIRCH_EIO || rc == inj, "%s: close returned %d (%s) on a fault", ctx,
                      rc, birch_strerror(rc));
    } else {
        ck_assert_msg(rc == BIRCH_OK, "%s: close returned %d (%s)", ctx, rc, birch_strerror(rc));
    }
    fio g;
    db = open_same_boot(path, durability, &g, ctx);
    int got = fw_identify(db, w, w->ntxn, w->ntxn, err, sizeof err);
    ck_assert_msg(got == w->ntxn, "%s: end state: %s", ctx, err);
    ck_assert_msg(fw_wipe_check(db, err, sizeof err) == 0, "%s: %s", ctx, err);
    ck_assert_int_eq(birch_close(db), BIRCH_OK);
    fio_free(&g);
    fio_free(&f);
    return hit;
}

/* N = 1, 2, ... until the workload completes without reaching N. */
static void sweep_budget(int durability, int kind, int inj, int sticky, uint64_t budget)
{
    uint64_t seed = bt_seed(0xFA017);
    int ntxn = (int)bt_env_u64("BIRCH_FAULT_TXNS", 24);
    fw w;
    fw_init(&w, seed, ntxn, 1);
    char *tmpl = bt_path("fault-tmpl");
    char *path = bt_path("fault");
    fw_create(tmpl);
    uint64_t spilled = budget ? fw_spills_of(tmpl, path, &w, fault_opts(durability), budget) : 0;
    if (budget) ck_assert_msg(spilled >= 100, "seed=%" PRIu64 ": the workload spilled %" PRIu64 " pages", seed, spilled);
    sweep_stats ss = {0};
    long n = 1;
    /* Under ASan every 2nd N (and N = 1, 2, 3 always) keeps the time in
     * bounds; the last N is always run. */
    int stride = fw_asan() ? 2 : 1;
    long runs = 0;
    for (;; n++) {
        if (n > 3 && (n % stride) != 0) continue;
        runs++;
        if (!fault_run(tmpl, path, &w, durability, budget, kind, inj, sticky, n, &ss)) break;
        ck_assert_msg(n < 100000, "seed=%" PRIu64 ": the workload never ends", seed);
    }
    printf("fault sweep %-6s %-5s%s mode=%s seed=%" PRIu64 ": N=1..%ld (%ld runs), %ld crash points: "
           "%ld EFULL kept the handle, %ld EIO reopened, %ld failed opens, %ld failed closes; "
           "%ld failed writes carried free-space map records; %" PRIu64 " pages spilled by the workload\n",
           fio_kind_name[kind], rc_name(inj), sticky ? " sticky" : "",
           durability == BIRCH_DURABLE_FULL ? "full" : "none",
           seed, n - 1, runs, ss.points, ss.efull_handled, ss.eio_reopened, ss.open_failed,
           ss.close_failed, ss.freemap, spilled);
    fflush(stdout);
    ck_assert_int_ge(ss.points, 1);
    /* Faults while free space is persisted (issue 12): the map's records
     * go out in the commit's own write, so a write sweep must have failed
     * some of those writes. */
    if (kind == FIO_WRITE)
        ck_assert_msg(ss.freemap > 0, "seed=%" PRIu64 ": no failed write carried free-space map records", seed);
    bt_remove(tmpl);
    bt_remove(path);
    free(tmpl);
    free(path);
    fw_free(&w);
}

static void sweep(int durability, int kind, int inj, int sticky)
{
    sweep_budget(durability, kind, inj, sticky, 0);
}

START_TEST(sweep_spill_write_eio) { sweep_budget(BIRCH_DURABLE_FULL, FIO_WRITE, BIRCH_EIO, 0, FW_SPILL_BUDGET); }
END_TEST
START_TEST(sweep_spill_write_efull) { sweep_budget(BIRCH_DURABLE_FULL, FIO_WRITE, BIRCH_EFULL, 0, FW_SPILL_BUDGET); }
END_TEST
START_TEST(sweep_spill_resize_efull) { sweep_budget(BIRCH_DURABLE_FULL, FIO_RESIZE, BIRCH_EFULL, 0, FW_SPILL_BUDGET); }
END_TEST
START_TEST(sweep_spill_map_efull) { sweep_budget(BIRCH_DURABLE_FULL, FIO_MAP, BIRCH_EFULL, 0, FW_SPILL_BUDGET); }
END_TEST
START_TEST(sweep_spill_nosync_write_eio) { sweep_budget(BIRCH_DURABLE_NONE, FIO_WRITE, BIRCH_EIO, 0, FW_SPILL_BUDGET); }
END_TEST

START_TEST(sweep_write_eio) { sweep(BIRCH_DURABLE_FULL, FIO_WRITE, BIRCH_EIO, 0); }
END_TEST
START_TEST(sweep_write_efull) { sweep(BIRCH_DURABLE_FULL, FIO_WRITE, BIRCH_EFULL, 0); }
END_TEST
START_TEST(sweep_sync_eio) { sweep(BIRCH_DURABLE_FULL, FIO_SYNC, BIRCH_EIO, 0); }
END_TEST
START_TEST(sweep_sync_efull) { sweep(BIRCH_DURABLE_FULL, FIO_SYNC, BIRCH_EFULL, 0); }
END_TEST
START_TEST(sweep_resize_eio) { sweep(BIRCH_DURABLE_FULL, FIO_RESIZE, BIRCH_EIO, 0); }
END_TEST
START_TEST(sweep_resize_efull) { sweep(BIRCH_DURABLE_FULL, FIO_RESIZE, BIRCH_EFULL, 0); }
END_TEST
START_TEST(sweep_map_eio) { sweep(BIRCH_DURABLE_FULL, FIO_MAP, BIRCH_EIO, 0); }
END_TEST
START_TEST(sweep_map_efull) { sweep(BIRCH_DURABLE_FULL, FIO_MAP, BIRCH_EFULL, 0); }
END_TEST
/* The disk stays full for the retry with the bare minimum too. */
START_TEST(sweep_resize_efull_sticky) { sweep(BIRCH_DURABLE_FULL, FIO_RESIZE, BIRCH_EFULL, 1); }
END_TEST
START_TEST(sweep_read_eio) { sweep(BIRCH_DURABLE_FULL, FIO_READ, BIRCH_EIO, 0); }
END_TEST
START_TEST(sweep_nosync_write_eio) { sweep(BIRCH_DURABLE_NONE, FIO_WRITE, BIRCH_EIO, 0); }
END_TEST
START_TEST(sweep_nosync_write_efull) { sweep(BIRCH_DURABLE_NONE, FIO_WRITE, BIRCH_EFULL, 0); }
END_TEST
START_TEST(sweep_nosync_sync_eio) { sweep(BIRCH_DURABLE_NONE, FIO_SYNC, BIRCH_EIO, 0); }
END_TEST
START_TEST(sweep_nosync_resize_efull) { sweep(BIRCH_DURABLE_NONE, FIO_RESIZE, BIRCH_EFULL, 0); }
END_TEST

/* The disk stays full for a while: from the Nth write on, every write and
 * every resize fails with EFULL.  Each attempt of the transaction fails
 * (EFULL; EIO only if the meta write itself is refused), the handle keeps
 * holding the last commit; once space frees up the same handle commits
 * the transaction and the rest of the workload. */
START_TEST(efull_sticky_then_space_frees)
{
    uint64_t seed = bt_seed(0xF0115);
    fw w;
    fw_init(&w, seed, 24, 1);
    char *tmpl = bt_path("full-tmpl");
    char *path = bt_path("full");
    fw_create(tmpl);
    long points = 0, reopened = 0;
    int stride = 7; /* commits write their pages in one call: 7 keeps 10 or more points */
    for (long n = 1;; n += stride) {
        char ctx[160], err[ERRSZ];
        snprintf(ctx, sizeof ctx, "seed=%" PRIu64 " sticky EFULL from write N=%ld", seed, n);
        fw_copy(tmpl, path);
        fio f;
        fio_init(&f, 1);
        f.fail_at[FIO_WRITE] = n;
        f.fail_rc[FIO_WRITE] = BIRCH_EFULL;
        f.sticky = 1;
        birch_options o = fault_opts(BIRCH_DURABLE_FULL);
        birch_db *db = NULL;
        BT_OK(bi_open_io(path, &o, &f.io, &db));
        int acked = 0, k = 1;
        int rc = BIRCH_OK;
        for (; k <= w.ntxn; k++) {
            const char *where = "";
            rc = fw_txn(db, &w, k, &where);
            if (rc == BIRCH_OK) {
                acked = k;
                continue;
            }
            ck_assert_msg(f.injected > 0, "%s: txn %d: %s returned %d without a fault", ctx, k, where, rc);
            break;
        }
        if (k > w.ntxn) { /* the workload never reached N: the sweep is over */
            fio_disarm(&f); /* (close's own meta write would meet it) */
            BT_OK(birch_close(db));
            fio_free(&f);
            break;
        }
        points++;
        if (rc == BIRCH_EFULL) {
            /* Disk still full: more attempts fail the same way. */
            f.fail_at[FIO_RESIZE] = f.calls[FIO_RESIZE] + 1;
            f.fail_rc[FIO_RESIZE] = BIRCH_EFULL;
            for (int a = 0; a < 2; a++) {
                rc = fw_txn(db, &w, k, NULL);
                ck_assert_msg(rc == BIRCH_EFULL, "%s: txn %d attempt %d: %d (%s)", ctx, k, a + 2,
                              rc, birch_strerror(rc));
            }
            int got = fw_identify(db, &w, acked, acked, err, sizeof err);
            ck_assert_msg(got == acked, "%s: while full: %s", ctx, err);
            fio_disarm(&f); /* space frees up */
            finish_run(db, &w, k, ctx);
        } else {
            ck_assert_msg(rc == BIRCH_EIO && f.last_fail_off < 1024,
                          "%s: txn %d returned %d (%s) (failed write at %" PRIu64 ")", ctx, k, rc,
                          birch_strerror(rc), f.last_fail_off);
            BT_OK(birch_close(db));
            fio g;
            db = open_same_boot(path, BIRCH_DURABLE_FULL, &g, ctx);
            int got = fw_identify(db, &w, acked, k, err, sizeof err);
            ck_assert_msg(got >= 0, "%s: %s", ctx, err);
            finish_run(db, &w, got + 1, ctx);
            fio_free(&g);
            reopened++;
        }
        fio_free(&f);
    }
    printf("sticky EFULL seed=%" PRIu64 ": %ld crash points (every %d writes), %ld needed a reopen "
           "(meta write refused)\n", seed, points, stride, reopened);
    ck_assert_int_ge(points, 10);
    bt_remove(tmpl);
    bt_remove(path);
    free(tmpl);
    free(path);
    fw_free(&w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fault");
    TCase *tc = bt_tcase("fault");
    tcase_add_test(tc, sweep_write_eio);
    tcase_add_test(tc, sweep_write_efull);
    tcase_add_test(tc, sweep_sync_eio);
    tcase_add_test(tc, sweep_sync_efull);
    tcase_add_test(tc, sweep_resize_eio);
    tcase_add_test(tc, sweep_resize_efull);
    tcase_add_test(tc, sweep_map_eio);
    tcase_add_test(tc, sweep_map_efull);
    tcase_add_test(tc, sweep_resize_efull_sticky);
    tcase_add_test(tc, sweep_read_eio);
    tcase_add_test(tc, sweep_nosync_write_eio);
    tcase_add_test(tc, sweep_nosync_write_efull);
    tcase_add_test(tc, sweep_nosync_sync_eio);
    tcase_add_test(tc, sweep_nosync_resize_efull);
    tcase_add_test(tc, efull_sticky_then_space_frees);
    suite_add_tcase(s, tc);
    TCase *spill = bt_tcase("fault_spill"); /* alone: CK_RUN_CASE=fault_spill */
    tcase_add_test(spill, sweep_spill_write_eio);
    tcase_add_test(spill, sweep_spill_write_efull);
    tcase_add_test(spill, sweep_spill_resize_efull);
    tcase_add_test(spill, sweep_spill_map_efull);
    tcase_add_test(spill, sweep_spill_nosync_write_eio);
    suite_add_tcase(s, spill);
    return bt_run(s);
}
