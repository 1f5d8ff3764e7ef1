/*
 * test_copy_threads.c - birch_copy beside a writer: a thread commits
 * version after version (every value rewritten, keys deleted and
 * re-inserted, pages freed and reused) while the main thread takes plain
 * and compact copies.  Each copy must pass birch_check and hold exactly
 * one version, whole (support.h: bt_vwrite / bt_vverify).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "support.h"

enum { NK = 400, COPIES = 12 };

typedef struct writer {
    birch_db *db;
    atomic_int stop;
    atomic_uint_fast64_t version;
} writer;

static void *write_versions(void *arg)
{
    writer *w = arg;
    for (uint64_t v = 2; !atomic_load(&w->stop); v++) {
        bt_vwrite(w->db, NK, v);
        atomic_store(&w->version, v);
    }
    return NULL;
}

static void run(uint32_t ps, int durability)
{
    char *src = bt_path("src");
    birch_options o = bt_opts();
    o.page_size = ps;
    o.durability = durability;
    writer w = {.db = bt_open(src, &o)};
    bt_vwrite(w.db, NK, 1);
    atomic_store(&w.version, 1);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, write_versions, &w), 0);

    uint64_t seen_min = UINT64_MAX, seen_max = 0;
    for (int i = 0; i < COPIES; i++) {
        char *dst = bt_path("copy");
        uint64_t floor = atomic_load(&w.version);
        BT_OK(birch_copy(w.db, dst, i % 2 ? BIRCH_COPY_COMPACT : 0, NULL, NULL));
        birch_db *c = bt_open(dst, NULL);
        bt_check(c);
        birch_txn *r = bt_begin(c, BIRCH_TXN_READ);
        char err[512];
        uint64_t v;
        ck_assert_msg(bt_vversion(r, &v, err, sizeof err), "copy %d: %s", i, err);
        ck_assert_msg(v >= floor, "copy %d holds version %" PRIu64 ", older than %" PRIu64, i, v, floor);
        ck_assert_msg(bt_vverify(r, ps, NK, v, err, sizeof err) == 0, "copy %d: %s", i, err);
        if (v < seen_min) seen_min = v;
        if (v > seen_max) seen_max = v;
        birch_txn_abort(r);
        BT_OK(birch_close(c));
        bt_remove(dst);
        free(dst);
    }
    atomic_store(&w.stop, 1);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_uint_gt(seen_max, seen_min); /* the writer did commit meanwhile */
    bt_check(w.db);
    BT_OK(birch_close(w.db));
    free(src);
}

START_TEST(test_copy_beside_writer) { run(4096, BIRCH_DURABLE_NONE); }
END_TEST

START_TEST(test_copy_beside_durable_writer_small_pages) { run(1024, BIRCH_DURABLE_FULL); }
END_TEST

int main(void)
{
    Suite *s = suite_create("copy_threads");
    TCase *tc = bt_tcase("copy_threads");
    tcase_add_test(tc, test_copy_beside_writer);
    tcase_add_test(tc, test_copy_beside_durable_writer_small_pages);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
