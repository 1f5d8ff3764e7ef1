/*
 * test_freelist.c - free-space reuse: pages freed by commits are written
 * again once no snapshot needs them, so rewriting the same data keeps the
 * file bounded; readers pin the pages of their snapshot until they end;
 * deleted and dropped data makes room for new data.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

enum { NKEYS = 1000, VLEN = 100 };

static void fkey(int i, char *k, size_t n) { snprintf(k, n, "key-%012d", i); }

/* Loads NKEYS keys (random order) with VLEN-byte values; commits. */
static void load(birch_db *db, birch_table **tout)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    char k[32];
    unsigned char v[VLEN];
    for (int j = 0; j < NKEYS; j++) {
        int i = (int)((uint64_t)j * 7919 % NKEYS);
        fkey(i, k, sizeof k);
        bt_pattern(v, VLEN, (uint64_t)i);
        bt_put(w, t, k, strlen(k), v, VLEN);
    }
    BT_OK(birch_txn_commit(w));
    *tout = t;
}

/* The file may run ahead of the state it holds: birch grows it in steps of
 * an eighth of its size, at least 16 pages (pager.c, bi_pager_grow), so
 * that small commits do not pay for a resize each time.  A file whose
 * state stays within `pages` pages therefore stays within this many
 * pages. */
static uint64_t file_bound(uint64_t pages, uint32_t ps)
{
    (void)ps;
    uint64_t step = pages / 8, min_step = 16;
    return pages + (step > min_step ? step : min_step) + 1;
}

/* `commits` commits of `per` overwrites each of random keys among the
 * NKEYS, same value size (the live data never changes size).  The state
 * must stay within max_pages pages, and the file within file_bound() of
 * that, the whole time.  Returns the largest file size seen, in pages. */
static uint64_t overwrite_rounds(birch_db *db, const char *path, birch_table *t, int commits,
                                 int per, uint64_t max_pages, bt_rng *r, uint64_t seed)
{
    char k[32];
    unsigned char v[VLEN];
    uint64_t most = 0, fmax = file_bound(max_pages, birch_page_size(db));
    for (int c = 0; c < commits; c++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        for (int j = 0; j < per; j++) {
            int i = (int)bt_below(r, NKEYS);
            fkey(i, k, sizeof k);
            bt_fill(r, v, VLEN);
            bt_put(w, t, k, strlen(k), v, VLEN);
        }
        BT_OK(birch_txn_commit(w));
        birch_stat st = bt_stat(db);
        uint64_t pages = st.file_size / st.page_size;
        if (pages > most) most = pages;
        ck_assert_msg(st.page_count <= max_pages && pages <= fmax,
                      "seed %" PRIu64 ": after commit %d the state has %" PRIu64
                      " pages (%" PRIu64 " free), bound %" PRIu64 "; the file %" PRIu64
                      " pages, bound %" PRIu64,
                      seed, c, st.page_count, st.free_pages, max_pages, pages, fmax);
    }
    uint64_t real = bt_file_size(path) / birch_page_size(db);
    ck_assert_msg(real <= fmax, "file on disk has %" PRIu64 " pages, bound %" PRIu64, real, fmax);
    return most;
}

/*
 * 1,000 keys overwritten 100,000 times in 1,000 non-durable commits.
 *
 * The bound: P = pages in the state after the initial load (metas, the
 * tree, the catalog, the free tree).  Overwrites keep every value's size,
 * so the live tree stays about P pages; a commit writes at most a new copy
 * of the whole tree (about P pages, since 100 random keys touch most
 * leaves) and frees the old copies.  With BIRCH_DURABLE_NONE the pages
 * freed by non-durable commits cannot be reused before a durable meta
 * stops referring to them (it must survive power loss whole); birch
 * writes such a checkpoint once they reach 1024 pages (or a quarter of the
 * file).  So up to ~1024 pages wait for a checkpoint while up to ~1024 freed
 * by the last one are still being reused, and a few copies of the tree are
 * in flight:
 *     state pages <= 4 P + 3 * 1024,
 * and the file within file_bound() of that.  Without reuse the state would
 * grow by about P pages per commit, to roughly 1,000 P.
 *
 * Second statement, independent of those constants: the growth slows
 * down.  A leak grows the file by the same amount in every 500 commits
 * (about 500 P without reuse); the second 500 commits must add at most 3/4
 * of what the first 500 added, plus one tree's worth of pages and one
 * growth step (16 pages): a timed checkpoint that falls into the second
 * half (when depends on the machine's speed) keeps the tree it made
 * durable until the next one, once.
 */
START_TEST(overwrite_same_keys_stays_bounded)
{
    uint64_t seed = bt_seed(4242);
    bt_rng r = {seed};
    char *path = bt_path("reuse");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    birch_table *t;
    load(db, &t);
    uint64_t p = bt_stat(db).page_count;
    uint64_t bound = 4 * p + 3 * 1024;
    uint64_t start = bt_stat(db).file_size / birch_page_size(db);
    uint64_t first = overwrite_rounds(db, path, t, 500, 100, bound, &r, seed);
    uint64_t second = overwrite_rounds(db, path, t, 500, 100, bound, &r, seed);
    ck_assert_msg(second - first <= (first - start) * 3 / 4 + p + 16,
                  "seed %" PRIu64 ": the file grew by %" PRIu64 " pages in the first 500 commits "
                  "and by %" PRIu64 " in the next 500",
                  seed, first - start, second - first);
    fprintf(stderr, "reuse (non-durable): P = %" PRIu64 ", largest file %" PRIu64 " then %" PRIu64
                    " pages, state bound %" PRIu64 "\n",
            p, first, second, bound);
    bt_check(db);
    /* All keys still there. */
    birch_txn *rt = bt_begin(db, BIRCH_TXN_READ);
    ck_assert_uint_eq(bt_count(rt, t), NKEYS);
    birch_txn_abort(rt);
    db = bt_reopen(db, path, &o);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* The same with durable commits (fewer of them): pages freed by a commit
 * are reusable by the next one, so the state stays within
 *     state pages <= 3 P + 64
 * (the live tree, the copy being written, the copy just freed, free-tree
 * pages and slack), and the file within file_bound() of that. */
START_TEST(overwrite_durable_stays_tighter)
{
    uint64_t seed = bt_seed(4343);
    bt_rng r = {seed};
    char *path = bt_path("reuse-full");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    birch_table *t;
    load(db, &t);
    uint64_t p = bt_stat(db).page_count;
    uint64_t bound = 3 * p + 64;
    uint64_t most = overwrite_rounds(db, path, t, 150, 100, bound, &r, seed);
    fprintf(stderr, "reuse (durable): P = %" PRIu64 ", largest file %" PRIu64
                    " pages, state bound %" PRIu64 "\n",
            p, most, bound);
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* A reader pins its snapshot's pages: while it is open the file grows with
 * each rewrite; after it ends the space is reused and the file stops
 * growing. */
START_TEST(reader_pins_pages_until_it_ends)
{
    uint64_t seed = bt_seed(4444);
    bt_rng r = {seed};
    char *path = bt_path("pin");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    birch_table *t;
    load(db, &t);
    uint64_t p = bt_stat(db).page_count;

    birch_txn *reader = bt_begin(db, BIRCH_TXN_READ);
    char k[32];
    fkey(5, k, sizeof k);
    birch_val pinned;
    BT_OK(birch_get(reader, t, bt_str(k), &pinned));
    unsigned char expect[VLEN];
    bt_pattern(expect, VLEN, 5);
    ck_assert_mem_eq(pinned.data, expect, VLEN);

    /* 30 rewrites of every key: none of the reader's pages may be reused. */
    unsigned char v[VLEN];
    for (int c = 0; c < 30; c++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        for (int i = 0; i < NKEYS; i++) {
            fkey(i, k, sizeof k);
            bt_fill(&r, v, VLEN);
            bt_put(w, t, k, strlen(k), v, VLEN);
        }
        BT_OK(birch_txn_commit(w));
    }
    ck_assert_mem_eq(pinned.data, expect, VLEN); /* the old bytes, untouched */
    fkey(999, k, sizeof k);
    bt_pattern(expect, VLEN, 999);
    bt_expect(reader, t, k, strlen(k), expect, VLEN);
    uint64_t with_reader = bt_stat(db).page_count;
    birch_txn_abort(reader);

    /* Now 60 more rewrites: the file must not grow past its size so far
     * plus a little (the first commits still see the old free lists). */
    for (int c = 0; c < 60; c++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        for (int i = 0; i < NKEYS; i++) {
            fkey(i, k, sizeof k);
            bt_fill(&r, v, VLEN);
            bt_put(w, t, k, strlen(k), v, VLEN);
        }
        BT_OK(birch_txn_commit(w));
        uint64_t now = bt_stat(db).page_count;
        ck_assert_msg(now <= with_reader + p,
                      "after the reader ended the state grew to %" PRIu64
                      " pages (%" PRIu64 " with the reader, P = %" PRIu64 ")",
                      now, with_reader, p);
    }
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* Deleting everything frees the pages; loading the same data again reuses
 * them instead of growing the file. */
START_TEST(delete_all_then_reload_reuses)
{
    char *path = bt_path("reload");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    birch_table *t;
    load(db, &t);
    birch_stat full = bt_stat(db);
    for (int round = 0; round < 5; round++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        char k[32];
        for (int i = 0; i < NKEYS; i++) {
            fkey(i, k, sizeof k);
            BT_OK(birch_del(w, t, bt_str(k)));
        }
        BT_OK(birch_txn_commit(w));
        birch_stat empty = bt_stat(db);
        ck_assert_msg(empty.free_pages > 0, "nothing free after deleting everything");
        load(db, &t);
        birch_stat again = bt_stat(db);
        ck_assert_msg(again.page_count <= full.page_count * 2 + 8,
                      "round %d: %" PRIu64 " pages after reload, %" PRIu64 " after the first load",
                      round, again.page_count, full.page_count);
    }
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* Overflow runs (multi-page values) are freed and reused as well, also when
 * their sizes change. */
START_TEST(overflow_runs_reused)
{
    uint64_t seed = bt_seed(4545);
    bt_rng r = {seed};
    char *path = bt_path("ovf");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    uint32_t ps = birch_page_size(db);
    unsigned char *v = malloc(8 * (size_t)ps);
    bt_fill(&r, v, 8 * (size_t)ps);
    char k[32];
    uint64_t first = 0, most = 0;
    for (int c = 0; c < 200; c++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "t", BIRCH_CREATE);
        for (int i = 0; i < 20; i++) {
            snprintf(k, sizeof k, "big%02d", i);
            size_t vn = bt_range(&r, ps, 8 * (size_t)ps); /* 1 to 8 pages */
            bt_put(w, t, k, strlen(k), v, vn);
        }
        BT_OK(birch_txn_commit(w));
        uint64_t pages = bt_stat(db).page_count;
        if (c == 0) first = pages;
        if (pages > most) most = pages;
    }
    /* Live data is at most 20 * 9 pages; the first commit holds about half
     * of that.  Reuse keeps the state within a few generations. */
    ck_assert_msg(most <= 4 * first + 4 * 20 * 9 + 64,
                  "seed %" PRIu64 ": state grew to %" PRIu64 " pages (first commit %" PRIu64 ")",
                  seed, most, first);
    bt_check(db);
    free(v);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* Non-durable commits reuse the pages that earlier non-durable commits
 * wrote (they are not part of the durable state) without waiting for a
 * checkpoint.  200 quick commits each rewriting 20 of the keys: no
 * checkpoint is due (less than a second, far from a quarter of the file
 * freed from the durable state), so without that reuse every page they
 * free waits and the state grows by the pages written per commit, about
 * 200 x (path + free tree) pages.  With it the state stays near the live
 * data: at most 3 P + 136 pages, P being the pages after the load: 128
 * of those are the free pages a small file keeps before its commits take
 * scattered ones (RES_PLENTY, DESIGN.md 5.2: runs of fewer than 8 pages
 * are left while free space is scarce), and 8 a commit's run. */
START_TEST(nondurable_reuses_its_own_pages)
{
    char *path = bt_path("young");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    birch_table *t;
    load(db, &t);
    BT_OK(birch_sync(db)); /* the loaded state is the durable one */
    uint64_t p = bt_stat(db).page_count, most = p;
    char k[32];
    unsigned char v[VLEN];
    for (int c = 0; c < 200; c++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        for (int j = 0; j < 20; j++) {
            int i = (c * 20 + j) % NKEYS;
            fkey(i, k, sizeof k);
            bt_pattern(v, VLEN, (uint64_t)(i + c));
            bt_put(w, t, k, strlen(k), v, VLEN);
        }
        BT_OK(birch_txn_commit(w));
        uint64_t n = bt_stat(db).page_count;
        if (n > most) most = n;
    }
    ck_assert_msg(most <= 3 * p + 136, "non-durable churn grew the state to %llu pages (P = %llu)",
                  (unsigned long long)most, (unsigned long long)p);
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("freelist");
    TCase *tc = bt_tcase("freelist");
    tcase_add_test(tc, overwrite_same_keys_stays_bounded);
    tcase_add_test(tc, overwrite_durable_stays_tighter);
    tcase_add_test(tc, reader_pins_pages_until_it_ends);
    tcase_add_test(tc, delete_all_then_reload_reuses);
    tcase_add_test(tc, overflow_runs_reused);
    tcase_add_test(tc, nondurable_reuses_its_own_pages);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
