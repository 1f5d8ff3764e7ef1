/*
 * test_snapshot.c - snapshot isolation in one thread: read transactions
 * begun at many different versions stay open while the writer commits new
 * versions (every value rewritten, keys deleted and re-inserted, pages
 * freed and reused), aborts, and runs beside them; each reader keeps
 * seeing its version byte for byte, and value pointers it took keep their
 * bytes.  (The threaded version is in test_threads.c.)
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

enum { NK = 300, NPINS = 16, MAXR = 6 };

typedef struct reader {
    birch_txn *txn;
    uint64_t v;
    int npins;
    const void *ptr[NPINS];
    size_t size[NPINS];
    unsigned char *copy[NPINS];
} reader;

static void reader_open(birch_db *db, reader *r, uint64_t expect_v, bt_rng *rng)
{
    char err[512];
    r->txn = bt_begin(db, BIRCH_TXN_READ);
    ck_assert_msg(bt_vversion(r->txn, &r->v, err, sizeof err), "%s", err);
    ck_assert_uint_eq(r->v, expect_v);
    birch_table *t = bt_table(r->txn, "data", 0);
    r->npins = 0;
    unsigned char k[64];
    for (int j = 0; j < NPINS; j++) {
        int i = (int)bt_below(rng, NK);
        if (!bt_vpresent(i, r->v)) continue;
        size_t kn = bt_vkey(i, k);
        birch_val v;
        BT_OK(birch_get(r->txn, t, bt_val(k, kn), &v));
        r->ptr[r->npins] = v.data;
        r->size[r->npins] = v.size;
        r->copy[r->npins] = malloc(v.size + 1);
        memcpy(r->copy[r->npins], v.data, v.size);
        r->npins++;
    }
}

static void reader_verify(reader *r, uint32_t ps, const char *when, uint64_t seed)
{
    char err[512];
    ck_assert_msg(bt_vverify(r->txn, ps, NK, r->v, err, sizeof err) == 0,
                  "seed %" PRIu64 ", %s: reader of version %" PRIu64 ": %s", seed, when, r->v,
                  err);
    for (int j = 0; j < r->npins; j++)
        ck_assert_msg(memcmp(r->ptr[j], r->copy[j], r->size[j]) == 0,
                      "seed %" PRIu64 ", %s: reader of version %" PRIu64
                      ": pinned value %d changed",
                      seed, when, r->v, j);
}

static void reader_close(reader *r)
{
    birch_txn_abort(r->txn);
    for (int j = 0; j < r->npins; j++) free(r->copy[j]);
    r->txn = NULL;
}

static void run(uint32_t ps, int durability, int versions, uint64_t seed)
{
    bt_rng rng = {seed};
    char *path = bt_path("snapshot");
    birch_options o = bt_opts();
    o.page_size = ps;
    o.durability = durability;
    birch_db *db = bt_open(path, &o);
    bt_vwrite(db, NK, 1);
    reader rs[MAXR];
    int nr = 0;
    unsigned char junk[64];
    memset(junk, 0xee, sizeof junk);
    for (uint64_t v = 2; v <= (uint64_t)versions; v++) {
        if (nr < MAXR && bt_chance(&rng, 60)) reader_open(db, &rs[nr++], v - 1, &rng);
        if (nr > 0 && bt_chance(&rng, 30)) {
            int j = (int)bt_below(&rng, (uint64_t)nr);
            reader_verify(&rs[j], ps, "before closing", seed);
            reader_close(&rs[j]);
            rs[j] = rs[--nr];
        }
        if (bt_chance(&rng, 25)) {
            /* An aborted writer, with a reader begun while it ran. */
            birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
            birch_table *t = bt_table(w, "data", 0);
            unsigned char k[64];
            for (int i = 0; i < NK; i += 3) {
                size_t kn = bt_vkey(i, k);
                bt_put(w, t, k, kn, junk, sizeof junk);
            }
            reader mid;
            reader_open(db, &mid, v - 1, &rng);
            reader_verify(&mid, ps, "reader begun during a write", seed);
            birch_txn_abort(w);
            reader_verify(&mid, ps, "after the writer aborted", seed);
            reader_close(&mid);
        }
        bt_vwrite(db, NK, v);
        for (int j = 0; j < nr; j++) reader_verify(&rs[j], ps, "after a commit", seed);
    }
    for (int j = 0; j < nr; j++) {
        reader_verify(&rs[j], ps, "at the end", seed);
        reader_close(&rs[j]);
    }
    reader last;
    reader_open(db, &last, (uint64_t)versions, &rng);
    reader_verify(&last, ps, "latest", seed);
    reader_close(&last);
    db = bt_reopen(db, path, &o);
    reader_open(db, &last, (uint64_t)versions, &rng);
    reader_verify(&last, ps, "after reopen", seed);
    reader_close(&last);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}

START_TEST(interleaved_4096_durable) { run(4096, BIRCH_DURABLE_FULL, 40, bt_seed(101)); }
END_TEST
START_TEST(interleaved_4096_nosync) { run(4096, BIRCH_DURABLE_NONE, 60, bt_seed(102)); }
END_TEST
START_TEST(interleaved_512_nosync) { run(512, BIRCH_DURABLE_NONE, 60, bt_seed(103)); }
END_TEST

/* A reader that began before a table was dropped and its pages reused
 * still reads the dropped table. */
START_TEST(reader_survives_drop_and_reuse)
{
    char *path = bt_path("snap-drop");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    uint32_t ps = birch_page_size(db);
    bt_vwrite(db, NK, 7);
    reader r;
    bt_rng rng = {5};
    reader_open(db, &r, 7, &rng);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_table_drop(w, "data"));
    BT_OK(birch_table_drop(w, "ver"));
    BT_OK(birch_txn_commit(w));
    for (uint64_t v = 8; v < 20; v++) bt_vwrite(db, NK, v); /* new pages, reusable ones too */
    reader_verify(&r, ps, "after drop and rewrites", 5);
    reader_close(&r);
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("snapshot");
    TCase *tc = bt_tcase("snapshot");
    tcase_add_test(tc, interleaved_4096_durable);
    tcase_add_test(tc, interleaved_4096_nosync);
    tcase_add_test(tc, interleaved_512_nosync);
    tcase_add_test(tc, reader_survives_drop_and_reuse);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
