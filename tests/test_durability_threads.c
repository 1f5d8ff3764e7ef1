/*
 * test_durability_threads.c - the durability of one transaction's commit
 * (BIRCH_TXN_DURABLE, BIRCH_TXN_NONDURABLE; issue 14), on the power-loss
 * layer (faultio.c), and the background flush thread a database opened
 * BIRCH_DURABLE_FULL starts for its first non-durable commit; also run
 * under ThreadSanitizer.
 *
 *   - Bad flags: both at once, either on a read transaction, unknown bits:
 *     BIRCH_EINVAL, and nothing is held (a BIRCH_TXN_TRY writer gets the
 *     gate, no flush thread started); on a read-only database a write
 *     with either flag is BIRCH_EREADONLY.
 *   - A BIRCH_TXN_NONDURABLE commit A on a FULL database syncs nothing, and
 *     a power loss right after it may take it back (the control: some of
 *     several images lack it).  A durable commit B after it syncs once, and
 *     a power loss after B keeps A and B, whatever happens to the writes
 *     pending (several fates).  A power loss during B's sync leaves some
 *     whole earlier state or both, never B without A.
 *   - On a BIRCH_DURABLE_NONE database a BIRCH_TXN_DURABLE commit syncs
 *     (the layer counts one sync and a durable meta), a power loss keeps
 *     it and the weak commit before it, and the next commit without the
 *     flag is weak again.
 *   - On a FULL database a NONDURABLE commit followed by nothing becomes
 *     durable by itself: the flush thread (started by that transaction's
 *     begin) syncs it, and the image of a power loss taken then holds it.
 *     Only that the flush comes is asserted (within 30 s), not when.
 *   - The flush thread of a FULL database: none after open nor after
 *     durable commits, exactly one after concurrent first NONDURABLE
 *     writers, none left after birch_close (threads named birch-flush in
 *     /proc/self/task); none for the memory backend.
 *
 * The layer is not thread safe: while the flush thread may run, the test
 * reads it only holding the writer gate (a write transaction), as the
 * flush does.  Threads never call Check's assertions: they record the
 * first failure and the main thread asserts after joining them.
 */
#include "faultio.c"

#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static birch_options dur_opts(int durability)
{
    birch_options o;
    birch_options_init(&o);
    o.page_size = 512;
    o.durability = durability;
    o.map_reserve = 1u << 20;
    return o;
}

/* Opens path on f (tracking what is durable); flusher: the handle may have
 * the flush thread, as birch_open's have. */
static birch_db *dur_open(fio *f, const char *path, int durability, int flusher)
{
    fio_init(f, 1);
    f->track = 1;
    f->meta_end = 2u * 512;
    birch_options o = dur_opts(durability);
    birch_db *db = NULL;
    BT_OK(bi_open_io_ex(path, &o, &f->io, flusher, &db));
    return db;
}

/* A write transaction with flags that puts k -> v in table "t". */
static int put_kv(birch_db *db, unsigned flags, const char *k, const char *v)
{
    birch_txn *w = NULL;
    birch_table *t = NULL;
    int rc = birch_txn_begin(db, BIRCH_TXN_WRITE | flags, &w);
    if (rc) return rc;
    rc = birch_table_open(w, "t", BIRCH_CREATE, &t);
    if (rc == BIRCH_OK) rc = birch_put(w, t, bt_str(k), bt_str(v), 0);
    if (rc) {
        birch_txn_abort(w);
        return rc;
    }
    return birch_txn_commit(w);
}

/* Reboots into img (which must open and check whole) and tells which of
 * the keys it holds: bit i for keys[i]. */
static unsigned image_keys(const char *img, const char *const *keys, int n)
{
    fio g;
    fio_init(&g, 2);
    birch_options o = dur_opts(BIRCH_DURABLE_FULL);
    birch_db *db = NULL;
    BT_OK(bi_open_io(img, &o, &g.io, &db));
    bt_check(db);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = NULL;
    unsigned has = 0;
    birch_val v;
    if (birch_table_open(r, "t", 0, &t) == BIRCH_OK)
        for (int i = 0; i < n; i++) has |= (unsigned)(birch_get(r, t, bt_str(keys[i]), &v) == BIRCH_OK) << i;
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    fio_free(&g);
    return has;
}

/* Threads named birch-flush in this process. */
static int flush_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[300], comm[64] = "";
        snprintf(p, sizeof p, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f) continue; /* the thread just ended */
        if (fgets(comm, sizeof comm, f) && strcmp(comm, "birch-flush\n") == 0) n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* ---- Bad flags ---------------------------------------------------------------- */

START_TEST(bad_durability_flags)
{
    char *path = bt_path("flags");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o); /* a file: a flush thread could start */
    birch_txn *t = NULL;
    BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_DURABLE | BIRCH_TXN_NONDURABLE, &t), BIRCH_EINVAL);
    BT_ERRMSG_HAS("together");
    BT_RC(birch_txn_begin(db, BIRCH_TXN_READ | BIRCH_TXN_DURABLE, &t), BIRCH_EINVAL);
    BT_ERRMSG_HAS("without BIRCH_TXN_WRITE");
    BT_RC(birch_txn_begin(db, BIRCH_TXN_READ | BIRCH_TXN_NONDURABLE, &t), BIRCH_EINVAL);
    BT_ERRMSG_HAS("BIRCH_TXN_NONDURABLE");
    BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY | BIRCH_TXN_DURABLE | BIRCH_TXN_NONDURABLE, &t),
          BIRCH_EINVAL);
    BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE | 0x10u, &t), BIRCH_EINVAL);
    BT_ERRMSG_HAS("unknown flags");
    ck_assert_ptr_null(t);
    ck_assert_int_eq(flush_threads(), 0); /* no refused NONDURABLE begin started one */
    /* Nothing is held: a writer gets the gate at once, and no reader slot is taken. */
    t = bt_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY | BIRCH_TXN_DURABLE);
    birch_txn_abort(t);
    ck_assert_uint_eq(bt_stat(db).readers, 0);
    BT_OK(put_kv(db, BIRCH_TXN_DURABLE, "k", "v"));
    BT_OK(birch_close(db));

    birch_options ro = bt_opts();
    ro.read_only = 1;
    db = bt_open(path, &ro);
    BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_NONDURABLE, &t), BIRCH_EREADONLY);
    BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_DURABLE, &t), BIRCH_EREADONLY);
    BT_RC(birch_txn_begin(db, BIRCH_TXN_READ | BIRCH_TXN_DURABLE, &t), BIRCH_EINVAL);
    ck_assert_int_eq(flush_threads(), 0);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- A weak commit, then a durable one ---------------------------------------- */

static const char *const AB[] = {"setup", "a", "b"};
enum { HAS_SETUP = 1, HAS_A = 2, HAS_B = 4 };

/* A FULL database on f at path with "setup" durable and then "a" committed
 * BIRCH_TXN_NONDURABLE and left weak (no sync since).  A stall of a second
 * would make that commit a checkpoint: then again. */
static birch_db *weak_a(fio *f, const char *path)
{
    bt_remove(path);
    birch_db *db = dur_open(f, path, BIRCH_DURABLE_FULL, 0); /* no flush thread: every sync is the test's */
    BT_OK(put_kv(db, 0, "setup", "0"));
    for (int attempt = 0;; attempt++) {
        ck_assert_msg(attempt < 5, "a BIRCH_TXN_NONDURABLE commit synced in 5 attempts (stalls of a second?)");
        long syncs = f->calls[FIO_SYNC];
        BT_OK(put_kv(db, BIRCH_TXN_NONDURABLE, "a", "1"));
        if (f->calls[FIO_SYNC] == syncs) return db;
        BT_OK(put_kv(db, 0, "setup", "0")); /* a durable commit: the next weak one is not due */
    }
}

START_TEST(nondurable_then_durable_survive_power_loss)
{
    char *path = bt_path("ab"), *img = bt_path("ab-img");
    int lost_a = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        /* The control: A alone is not durable. */
        fio f;
        birch_db *db = weak_a(&f, path);
        ck_assert_int_eq(fio_powerloss(&f, img, seed), 0);
        birch_close(db); /* the layer is dead: the result does not matter */
        fio_free(&f);
        unsigned has = image_keys(img, AB, 3);
        ck_assert_msg(has & HAS_SETUP, "seed %" PRIu64 ": the durable commit before A is gone", seed);
        lost_a += !(has & HAS_A);

        /* B after A: one sync makes both durable, whatever was pending. */
        db = weak_a(&f, path);
        long syncs = f.calls[FIO_SYNC];
        f.tag = 2;
        BT_OK(put_kv(db, 0, "b", "2")); /* the database's FULL */
        ck_assert_int_eq(f.calls[FIO_SYNC], syncs + 1);
        ck_assert_int_eq(f.durable_tag, 2); /* its sync covered a durable meta */
        ck_assert_int_eq(fio_powerloss(&f, img, seed), 0);
        birch_close(db);
        fio_free(&f);
        has = image_keys(img, AB, 3);
        ck_assert_msg(has == (HAS_SETUP | HAS_A | HAS_B), "seed %" PRIu64 ": after B the image holds %#x", seed, has);

        /* The power goes out during B's sync: an earlier state or both. */
        db = weak_a(&f, path);
        f.loss_at_sync = f.calls[FIO_SYNC] + 1;
        f.loss_path = img;
        f.loss_seed = seed;
        BT_RC(put_kv(db, 0, "b", "2"), BIRCH_EIO);
        ck_assert(f.dead);
        birch_close(db);
        fio_free(&f);
        has = image_keys(img, AB, 3);
        ck_assert_msg((has & HAS_SETUP) && (!(has & HAS_B) || (has & HAS_A)),
                      "seed %" PRIu64 ": a loss during B's sync left %#x", seed, has);
    }
    printf("a power loss right after the weak commit lost it in %d of 8 images\n", lost_a);
    ck_assert_msg(lost_a > 0, "no image lost the BIRCH_TXN_NONDURABLE commit: the control proves nothing");
    bt_remove(path);
    bt_remove(img);
    free(path);
    free(img);
}
END_TEST

/* ---- A durable commit on a NONE database ----------------------------------------- */

START_TEST(durable_commit_on_a_none_database_syncs)
{
    char *path = bt_path("none"), *img = bt_path("none-img");
    static const char *const keys[] = {"w1", "d"};
    fio f;
    birch_db *db = dur_open(&f, path, BIRCH_DURABLE_NONE, 0);
    BT_OK(put_kv(db, 0, "w1", "1")); /* weak, or a checkpoint: either way before d */
    long syncs = f.calls[FIO_SYNC];
    f.tag = 2;
    BT_OK(put_kv(db, BIRCH_TXN_DURABLE, "d", "2"));
    ck_assert_int_eq(f.calls[FIO_SYNC], syncs + 1);
    ck_assert_int_eq(f.durable_tag, 2);
    /* The flag was this transaction's: the database's commits are weak again. */
    int weak = 0;
    for (int i = 0; i < 5 && !weak; i++) {
        f.tag = 3 + i;
        syncs = f.calls[FIO_SYNC];
        BT_OK(put_kv(db, 0, "later", "3"));
        weak = f.calls[FIO_SYNC] == syncs && f.durable_tag == 2;
    }
    ck_assert_msg(weak, "no commit after the BIRCH_TXN_DURABLE one was weak in 5 attempts");
    ck_assert_int_eq(fio_powerloss(&f, img, 7), 0);
    birch_close(db);
    fio_free(&f);
    ck_assert_uint_eq(image_keys(img, keys, 2), 3u);
    bt_remove(path);
    bt_remove(img);
    free(path);
    free(img);
}
END_TEST

/* ---- A weak commit on a FULL database, then nothing ---------------------------- */

START_TEST(nondurable_commit_on_a_full_database_becomes_durable)
{
    char *path = bt_path("idle"), *img = bt_path("idle-img");
    static const char *const keys[] = {"x"};
    fio f;
    birch_db *db = dur_open(&f, path, BIRCH_DURABLE_FULL, 1); /* may have the flush thread */
    BT_OK(put_kv(db, 0, "setup", "0"));
    ck_assert_int_eq(flush_threads(), 0); /* FULL commits need none */
    long tag = 0;
    for (int attempt = 0;; attempt++) {
        ck_assert_msg(attempt < 5, "a BIRCH_TXN_NONDURABLE commit was durable at once in 5 attempts");
        f.tag = tag = 10 + attempt; /* the layer is the test's alone until the first such begin */
        BT_OK(put_kv(db, BIRCH_TXN_NONDURABLE, "x", "1"));
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE); /* the gate: the flush is not running */
        int weak = f.durable_tag != tag;
        birch_txn_abort(w);
        if (weak) break;
        BT_OK(put_kv(db, 0, "setup", "0")); /* a stall made it a checkpoint: again */
    }
    ck_assert_int_eq(flush_threads(), 1); /* started by the NONDURABLE begin */
    /* Wait, holding the gate whenever the layer is read, for the flush. */
    int flushed = 0;
    for (int waited = 0; !flushed; waited += 100) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        flushed = f.durable_tag == tag;
        if (flushed) ck_assert_int_eq(fio_powerloss(&f, img, 0xD1u), 0);
        birch_txn_abort(w);
        ck_assert_msg(flushed || waited < 30000, "no flush within 30 s of an idle BIRCH_TXN_NONDURABLE commit");
        if (!flushed) sleep_ms(100);
    }
    birch_close(db); /* the layer is dead: the result does not matter */
    ck_assert_int_eq(flush_threads(), 0);
    fio_free(&f);
    ck_assert_uint_eq(image_keys(img, keys, 1), 1u);
    bt_remove(path);
    bt_remove(img);
    free(path);
    free(img);
}
END_TEST

/* ---- The flush thread starts once ---------------------------------------------- */

enum { NWRITERS = 4, PER_WRITER = 25 };

typedef struct wctx {
    birch_db *db;
    int id;
    pthread_barrier_t *go;
    int rc;
    char msg[256];
} wctx;

static void *nondurable_writer(void *arg)
{
    wctx *w = arg;
    pthread_barrier_wait(w->go);
    for (int i = 0; i < PER_WRITER && w->rc == BIRCH_OK; i++) {
        char k[32];
        snprintf(k, sizeof k, "w%d-%d", w->id, i);
        w->rc = put_kv(w->db, i % 5 == 4 ? BIRCH_TXN_DURABLE : BIRCH_TXN_NONDURABLE, k, "v");
        if (w->rc) snprintf(w->msg, sizeof w->msg, "%s", birch_errmsg());
    }
    return NULL;
}

START_TEST(full_database_starts_one_flush_thread)
{
    char *path = bt_path("once");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    ck_assert_int_eq(flush_threads(), 0);
    BT_OK(put_kv(db, 0, "k", "v"));
    BT_OK(put_kv(db, BIRCH_TXN_DURABLE, "k", "v"));
    ck_assert_int_eq(flush_threads(), 0);

    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, NWRITERS);
    pthread_t th[NWRITERS];
    wctx ws[NWRITERS];
    for (int i = 0; i < NWRITERS; i++) {
        ws[i] = (wctx){db, i, &go, BIRCH_OK, ""};
        ck_assert_int_eq(pthread_create(&th[i], NULL, nondurable_writer, &ws[i]), 0);
    }
    for (int i = 0; i < NWRITERS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < NWRITERS; i++) ck_assert_msg(ws[i].rc == BIRCH_OK, "writer %d: %d (%s)", i, ws[i].rc, ws[i].msg);
    ck_assert_int_eq(flush_threads(), 1);
    BT_OK(put_kv(db, BIRCH_TXN_NONDURABLE, "k", "v2"));
    ck_assert_int_eq(flush_threads(), 1);

    db = bt_reopen(db, path, &o); /* the close joins the thread and makes everything durable */
    ck_assert_int_eq(flush_threads(), 0);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "t", 0);
    ck_assert_uint_eq(bt_count(r, t), (uint64_t)NWRITERS * PER_WRITER + 1);
    bt_expect_s(r, t, "k", "v2");
    birch_txn_abort(r);
    BT_OK(birch_close(db));

    /* A NONE database has its thread from the open; the memory backend none. */
    birch_options none = bt_opts_fast();
    db = bt_open(path, &none);
    ck_assert_int_eq(flush_threads(), 1);
    BT_OK(put_kv(db, BIRCH_TXN_DURABLE, "k", "v3"));
    BT_OK(birch_close(db));
    ck_assert_int_eq(flush_threads(), 0);
    birch_options mem = bt_opts();
    mem.backend = BIRCH_BACKEND_MEMORY;
    db = bt_open(NULL, &mem);
    BT_OK(put_kv(db, BIRCH_TXN_NONDURABLE, "k", "v"));
    BT_OK(put_kv(db, BIRCH_TXN_DURABLE, "k", "v"));
    ck_assert_int_eq(flush_threads(), 0);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("durability_threads");
    TCase *tc = bt_tcase("durability_threads");
    tcase_add_test(tc, bad_durability_flags);
    tcase_add_test(tc, nondurable_then_durable_survive_power_loss);
    tcase_add_test(tc, durable_commit_on_a_none_database_syncs);
    tcase_add_test(tc, nondurable_commit_on_a_full_database_becomes_durable);
    tcase_add_test(tc, full_database_starts_one_flush_thread);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
