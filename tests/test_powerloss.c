/*
 * test_powerloss.c - simulated power loss at every sync and every write,
 * then at random points with many seeds (SQLite's crash test).
 *
 * The crash workload (faultio.h) runs on the fault layer with tracking on.
 * At the chosen sync or write the power goes out: the layer builds the
 * post-crash image from what was synced plus each later write kept,
 * dropped or garbled per 512-byte sector, possibly out of order, with the
 * file size of the last sync or the newest one.  The image is opened as
 * after a reboot (a layer with another boot id, so weak metas written
 * before the loss are not trusted).  Then:
 *   - it opens and birch_check passes;
 *   - it holds exactly the state after one committed transaction, every
 *     table compared record by record with the model of that transaction:
 *       BIRCH_DURABLE_FULL: the last transaction whose commit returned, or
 *       the one whose commit was in flight;
 *       BIRCH_DURABLE_NONE: some earlier commit, whole, and never older
 *       than the last durable one (a checkpoint, or the close in the middle
 *       of the workload);
 *   - the rest of the workload then runs on the recovered file (reusing
 *     pages that held garbage), the end state is verified, and deleting
 *     everything leaves a file whose every page birch_check accounts for.
 * With BIRCH_DURABLE_FULL the layer also confirms that every commit that
 * returned had a durable meta synced first.  The powerloss_spill cases run
 * the sweeps with a dirty budget of a few pages (FW_SPILL_BUDGET), so that
 * transactions write leaves and overflow runs before their commit
 * (engine/spill.c), also after the recovery: a loss at any of those writes
 * must leave a committed state, and the garbage in free pages is reused.
 * The counts of crash points and seeds are printed.
 */
#include "faultio.c"

#include <inttypes.h>
#include <stdio.h>

#define ERRSZ 1024

static birch_options pl_opts(int durability)
{
    birch_options o;
    birch_options_init(&o);
    o.page_size = 512;
    o.durability = durability;
    o.map_reserve = 1u << 20;
    return o;
}

typedef struct pl_stats {
    long runs, losses, newest, older, back_sum, ends;
    long kept, dropped, garbled, reordered, size_kept;
} pl_stats;

/* AT_EIO: the Nth sync fails with EIO (as on Linux, the writes it was to
 * make durable may be lost), and the power goes out right after. */
enum { AT_SYNC, AT_WRITE, AT_END, AT_EIO };
static const char *const at_name[] = {"sync", "write", "end", "sync failing with EIO, then"};

/* One run: the power goes out at the nth sync or write (AT_END: after the
 * last commit, before the close).  Returns 1 if the loss happened, and
 * fills counts (if not NULL) with the calls the run made. */
static int pl_run(const char *tmpl, const char *path, const char *img, const fw *w, int durability,
                  uint64_t budget, int at, long n, uint64_t fate, pl_stats *ps, long counts[FIO_KINDS])
{
    char ctx[256], err[ERRSZ];
    snprintf(ctx, sizeof ctx, "seed=%" PRIu64 " mode=%s%s loss at %s N=%ld fate=%" PRIu64, w->seed,
             durability == BIRCH_DURABLE_FULL ? "full" : "none", budget ? " spilling" : "", at_name[at], n, fate);
    fw_copy(tmpl, path);
    fio f;
    fio_init(&f, 1);
    f.track = 1;
    f.loss_path = img;
    f.loss_seed = fate;
    if (at == AT_SYNC) f.loss_at_sync = n;
    if (at == AT_WRITE) f.loss_at_write = n;
    if (at == AT_EIO) f.fail_at[FIO_SYNC] = n;
    birch_options o = pl_opts(durability);
    birch_db *db = NULL;
    int rc = bi_open_io(path, &o, &f.io, &db);
    ck_assert_msg(rc == BIRCH_OK, "%s: open: %d (%s)", ctx, rc, birch_strerror(rc));
    if (budget) fw_set_budget(db, budget);
    int acked = 0, inflight = 0, mid = w->ntxn / 2;
    for (int k = 1; k <= w->ntxn && !f.dead; k++) {
        if (k == mid) { /* a close (a checkpoint for weak commits) and a reopen */
            f.tag = acked;
            rc = birch_close(db);
            db = NULL;
            if (at == AT_EIO && f.injected && !f.dead) {
                ck_assert_msg(rc == BIRCH_EIO, "%s: close on a failed sync: %d", ctx, rc);
                fio_powerloss(&f, img, fate);
            }
            if (f.dead) break;
            ck_assert_msg(rc == BIRCH_OK, "%s: close before txn %d: %d", ctx, k, rc);
            rc = bi_open_io(path, &o, &f.io, &db);
            ck_assert_msg(rc == BIRCH_OK, "%s: reopen before txn %d: %d", ctx, k, rc);
            if (budget) fw_set_budget(db, budget);
        }
        f.tag = k;
        const char *where = "";
        rc = fw_txn(db, w, k, &where);
        if (rc == BIRCH_OK) {
            acked = k;
            if (durability == BIRCH_DURABLE_FULL)
                ck_assert_msg(f.durable_tag == k, "%s: commit %d returned before its meta was synced",
                              ctx, k);
            continue;
        }
        if (at == AT_EIO && f.injected && !f.dead) {
            ck_assert_msg(rc == BIRCH_EIO, "%s: txn %d: %s returned %d (%s) on a failed sync", ctx,
                          k, where, rc, birch_strerror(rc));
            birch_txn *tx = NULL;
            rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &tx);
            ck_assert_msg(rc == BIRCH_EIO, "%s: write txn after a failed sync: %d", ctx, rc);
            fio_powerloss(&f, img, fate);
            inflight = k;
            break;
        }
        ck_assert_msg(f.dead, "%s: txn %d: %s returned %d (%s) before the power loss", ctx, k, where,
                      rc, birch_strerror(rc));
        ck_assert_msg(rc == BIRCH_EIO, "%s: txn %d: %s returned %d (%s) at the power loss", ctx, k,
                      where, rc, birch_strerror(rc));
        inflight = k;
    }
    if (counts) memcpy(counts, f.calls, sizeof f.calls);
    if (!f.dead && at == AT_END) {
        fio_powerloss(&f, img, fate);
        ps->ends++;
    }
    if (db) {
        f.tag = acked;
        rc = birch_close(db);
        if (!f.dead && at == AT_EIO && f.injected) { /* the close's checkpoint met the fault */
            ck_assert_msg(rc == BIRCH_EIO, "%s: close on a failed sync: %d", ctx, rc);
            fio_powerloss(&f, img, fate);
        }
        if (!f.dead) ck_assert_msg(rc == BIRCH_OK, "%s: close: %d", ctx, rc);
    }
    if (!f.dead) {
        fio_free(&f);
        return 0;
    }
    ck_assert_msg(!f.loss_error, "%s: %s", ctx, f.loss_msg);
    ps->losses++;
    ps->kept += f.sectors_kept;
    ps->dropped += f.sectors_dropped;
    ps->garbled += f.sectors_garbled;
    ps->reordered += f.sectors_reordered;
    ps->size_kept += f.size_kept;

    /* Reboot: another boot id. */
    int lo = durability == BIRCH_DURABLE_FULL ? acked : (int)f.durable_tag;
    int hi = inflight ? inflight : acked;
    fio g;
    fio_init(&g, 2);
    rc = bi_open_io(img, &o, &g.io, &db);
    ck_assert_msg(rc == BIRCH_OK, "%s: the image after the loss does not open: %d (%s) "
                  "(%ld writes pending, acked %d, in flight %d)", ctx, rc, birch_strerror(rc),
                  f.pending_at_loss, acked, inflight);
    char msg[ERRSZ] = "";
    rc = birch_check(db, msg, sizeof msg);
    ck_assert_msg(rc == BIRCH_OK, "%s: check after the loss: %d (%s): %s", ctx, rc,
                  birch_strerror(rc), msg);
    int got = fw_identify(db, w, lo, hi, err, sizeof err);
    ck_assert_msg(got >= 0, "%s: after the loss (acked %d, in flight %d, durable %ld): %s", ctx,
                  acked, inflight, f.durable_tag, err);
    if (budget) fw_set_budget(db, budget);
    if (got == hi) ps->newest++;
    else ps->older++;
    ps->back_sum += hi - got;
    /* The recovered file takes the rest of the workload. */
    for (int k = got + 1; k <= w->ntxn; k++) {
        const char *where = "";
        rc = fw_txn(db, w, k, &where);
        ck_assert_msg(rc == BIRCH_OK, "%s: after recovery to %d, txn %d: %s returned %d (%s)", ctx,
                      got, k, where, rc, birch_strerror(rc));
    }
    got = fw_identify(db, w, w->ntxn, w->ntxn, err, sizeof err);
    ck_assert_msg(got == w->ntxn, "%s: after recovery, end state: %s", ctx, err);
    ck_assert_msg(fw_wipe_check(db, err, sizeof err) == 0, "%s: after recovery: %s", ctx, err);
    ck_assert_int_eq(birch_close(db), BIRCH_OK);
    fio_free(&g);
    fio_free(&f);
    return 1;
}

static void pl_print(const char *what, uint64_t seed, long points, long fates, const pl_stats *ps)
{
    printf("power loss %s seed=%" PRIu64 ": %ld crash points x %ld fate seeds = %ld losses "
           "(%ld at the end); recovered the newest allowed state %ld times, an older one %ld "
           "(%.2f txns back on average); sectors kept %ld, dropped %ld, garbled %ld, %ld reordered; "
           "newest size survived %ld times\n",
           what, seed, points, fates, ps->losses, ps->ends, ps->newest, ps->older,
           ps->older ? (double)ps->back_sum / (double)ps->older : 0.0, ps->kept, ps->dropped,
           ps->garbled, ps->reordered, ps->size_kept);
    fflush(stdout);
}

/* N = 1, 2, ... until the workload finishes without reaching N. */
static void pl_sweep(int durability, int at, uint64_t dflt_seed, long fates, uint64_t budget)
{
    uint64_t seed = bt_seed(dflt_seed);
    fw w;
    fw_init(&w, seed, (int)bt_env_u64("BIRCH_FAULT_TXNS", 24), 1);
    char *tmpl = bt_path("pl-tmpl"), *path = bt_path("pl"), *img = bt_path("pl-img");
    fw_create(tmpl);
    uint64_t spilled = budget ? fw_spills_of(tmpl, path, &w, pl_opts(durability), budget) : 0;
    if (budget) ck_assert_msg(spilled >= 100, "seed=%" PRIu64 ": the workload spilled %" PRIu64 " pages", seed, spilled);
    pl_stats ps = {0};
    long n = 1, points = 0;
    int stride = fw_asan() && at == AT_WRITE ? 3 : 1;
    for (;; n++) {
        if (n > 3 && n % stride) continue;
        int hit = 0;
        for (long f = 0; f < fates; f++) {
            uint64_t fate = bt_mix(seed ^ (uint64_t)n * 1000 ^ (uint64_t)f);
            hit = pl_run(tmpl, path, img, &w, durability, budget, at, n, fate, &ps, NULL);
            if (!hit) break;
        }
        if (!hit) break;
        points++;
        ck_assert_msg(n < 100000, "seed=%" PRIu64 ": the workload never ends", seed);
    }
    char what[160];
    snprintf(what, sizeof what, "at each %s (mode=%s, N=1..%ld, stride %d, %" PRIu64 " pages spilled)", at_name[at],
             durability == BIRCH_DURABLE_FULL ? "full" : "none", n - 1, stride, spilled);
    pl_print(what, seed, points, fates, &ps);
    ck_assert_int_ge(points, 3);
    bt_remove(tmpl);
    bt_remove(path);
    bt_remove(img);
    free(tmpl);
    free(path);
    free(img);
    fw_free(&w);
}

START_TEST(powerloss_each_sync_full) { pl_sweep(BIRCH_DURABLE_FULL, AT_SYNC, 0x5A1E, fw_asan() ? 3 : 6, 0); }
END_TEST
START_TEST(powerloss_each_write_full) { pl_sweep(BIRCH_DURABLE_FULL, AT_WRITE, 0x5A1F, 1, 0); }
END_TEST
START_TEST(powerloss_each_sync_nosync) { pl_sweep(BIRCH_DURABLE_NONE, AT_SYNC, 0x5A20, fw_asan() ? 4 : 8, 0); }
END_TEST
START_TEST(powerloss_each_write_nosync) { pl_sweep(BIRCH_DURABLE_NONE, AT_WRITE, 0x5A21, fw_asan() ? 1 : 2, 0); }
END_TEST
START_TEST(powerloss_after_failed_sync_full) { pl_sweep(BIRCH_DURABLE_FULL, AT_EIO, 0x5A22, 3, 0); }
END_TEST
/* The sweeps with transactions that spill (FW_SPILL_BUDGET). */
START_TEST(powerloss_each_write_spill) { pl_sweep(BIRCH_DURABLE_FULL, AT_WRITE, 0x5A24, 1, FW_SPILL_BUDGET); }
END_TEST
START_TEST(powerloss_each_sync_spill) { pl_sweep(BIRCH_DURABLE_FULL, AT_SYNC, 0x5A25, 3, FW_SPILL_BUDGET); }
END_TEST
START_TEST(powerloss_each_write_spill_nosync) { pl_sweep(BIRCH_DURABLE_NONE, AT_WRITE, 0x5A26, 1, FW_SPILL_BUDGET); }
END_TEST

START_TEST(powerloss_after_failed_sync_nosync) { pl_sweep(BIRCH_DURABLE_NONE, AT_EIO, 0x5A23, 4, 0); }
END_TEST

/* Many workloads (seeds), each with the power lost at random syncs and
 * writes and after the last commit, in both durability modes. */
START_TEST(powerloss_random_seeds)
{
    uint64_t base = bt_seed(0x7A11);
    long nseeds = (long)bt_env_u64("BIRCH_POWERLOSS_SEEDS", fw_asan() ? 12 : 40);
    long per = 8;
    char *tmpl = bt_path("plr-tmpl"), *path = bt_path("plr"), *img = bt_path("plr-img");
    fw_create(tmpl);
    pl_stats ps = {0};
    long runs = 0;
    for (long s = 0; s < nseeds; s++) {
        uint64_t seed = bt_mix(base + (uint64_t)s);
        bt_rng r = {seed};
        int huge = bt_chance(&r, 50);
        int ntxn = (int)bt_range(&r, 6, 30);
        fw w;
        fw_init(&w, seed, ntxn, huge);
        for (int mode = 0; mode < 2; mode++) {
            int durability = mode ? BIRCH_DURABLE_NONE : BIRCH_DURABLE_FULL;
            long counts[FIO_KINDS];
            pl_stats dry = {0};
            /* A dry run counts the syncs and writes. */
            ck_assert_int_eq(pl_run(tmpl, path, img, &w, durability, 0, AT_SYNC, 0, 0, &dry, counts), 0);
            for (long i = 0; i < per; i++) {
                int at = (int)bt_below(&r, 10);
                at = at < 4 ? AT_SYNC : at < 9 ? AT_WRITE : AT_END;
                long max = at == AT_SYNC ? counts[FIO_SYNC] : counts[FIO_WRITE];
                if (at != AT_END && max < 1) at = AT_END;
                long n = at == AT_END ? 0 : (long)bt_range(&r, 1, (uint64_t)max);
                uint64_t fate = bt_rand(&r);
                int hit = pl_run(tmpl, path, img, &w, durability, 0, at, n, fate, &ps, NULL);
                ck_assert_msg(hit, "seed=%" PRIu64 " mode=%d at %s N=%ld: the loss was not reached",
                              seed, durability, at_name[at], n);
                runs++;
            }
        }
        fw_free(&w);
    }
    char what[96];
    snprintf(what, sizeof what, "random (%ld workload seeds x 2 modes x %ld points)", nseeds, per);
    pl_print(what, base, runs, 1, &ps);
    bt_remove(tmpl);
    bt_remove(path);
    bt_remove(img);
    free(tmpl);
    free(path);
    free(img);
}
END_TEST

/* The power goes out while a new database is created (its two metas are
 * written, then synced).  Nothing was acknowledged: birch_open had not
 * returned.  The file must then open as an empty database, or be refused
 * as not a database / corrupt (a torn creation cannot be told from a
 * foreign file), never open with anything in it. */
START_TEST(powerloss_during_create)
{
    uint64_t base = bt_seed(0xC4EA);
    long fates = fw_asan() ? 40 : 100;
    char *path = bt_path("plc"), *img = bt_path("plc-img");
    long opened = 0, refused = 0;
    fw w0; /* no transactions: the empty state only */
    fw_init(&w0, base, 0, 0);
    for (long i = 0; i < fates; i++) {
        uint64_t fate = bt_mix(base + (uint64_t)i);
        char ctx[128], err[ERRSZ], msg[ERRSZ] = "";
        snprintf(ctx, sizeof ctx, "seed=%" PRIu64 " fate=%" PRIu64 " loss during create", base, fate);
        bt_remove(path);
        fio f;
        fio_init(&f, 1);
        f.track = 1;
        f.loss_path = img;
        f.loss_seed = fate;
        f.loss_at_sync = 1;
        birch_options o = pl_opts(i % 2 ? BIRCH_DURABLE_NONE : BIRCH_DURABLE_FULL);
        birch_db *db = NULL;
        int rc = bi_open_io(path, &o, &f.io, &db);
        ck_assert_msg(rc == BIRCH_EIO && f.dead && !f.loss_error, "%s: open returned %d (%s)", ctx,
                      rc, birch_strerror(rc));
        fio g;
        fio_init(&g, 2);
        rc = bi_open_io(img, &o, &g.io, &db);
        if (rc == BIRCH_ENOTDB || rc == BIRCH_ECORRUPT) {
            refused++;
        } else {
            ck_assert_msg(rc == BIRCH_OK, "%s: reopen returned %d (%s)", ctx, rc, birch_strerror(rc));
            rc = birch_check(db, msg, sizeof msg);
            ck_assert_msg(rc == BIRCH_OK, "%s: check: %s", ctx, msg);
            ck_assert_msg(fw_identify(db, &w0, 0, 0, err, sizeof err) == 0, "%s: %s", ctx, err);
            ck_assert_int_eq(birch_close(db), BIRCH_OK);
            opened++;
        }
        fio_free(&g);
        fio_free(&f);
    }
    printf("power loss during create seed=%" PRIu64 ": %ld fate seeds: %ld opened empty, %ld refused "
           "(ENOTDB/ECORRUPT)\n", base, fates, opened, refused);
    fflush(stdout);
    bt_remove(path);
    bt_remove(img);
    free(path);
    free(img);
    fw_free(&w0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("powerloss");
    TCase *tc = bt_tcase("powerloss");
    tcase_add_test(tc, powerloss_each_sync_full);
    tcase_add_test(tc, powerloss_each_write_full);
    tcase_add_test(tc, powerloss_each_sync_nosync);
    tcase_add_test(tc, powerloss_each_write_nosync);
    tcase_add_test(tc, powerloss_after_failed_sync_full);
    tcase_add_test(tc, powerloss_after_failed_sync_nosync);
    tcase_add_test(tc, powerloss_random_seeds);
    tcase_add_test(tc, powerloss_during_create);
    suite_add_tcase(s, tc);
    TCase *spill = bt_tcase("powerloss_spill"); /* alone: CK_RUN_CASE=powerloss_spill */
    tcase_add_test(spill, powerloss_each_write_spill);
    tcase_add_test(spill, powerloss_each_sync_spill);
    tcase_add_test(spill, powerloss_each_write_spill_nosync);
    suite_add_tcase(s, spill);
    return bt_run(s);
}
