/*
 * test_check.c - birch_check: passes on every valid file (page sizes,
 * overflow values, many tables, after deletes), reports damage made per the
 * layout in engine/page.h with BIRCH_ECORRUPT and a message (on a
 * read-only handle, damage to the meta page on disk too), and a damaged
 * file never crashes the engine: every call returns a result code.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static int check_rc(birch_db *db, char *msg, size_t n)
{
    msg[0] = 0;
    return birch_check(db, msg, n);
}

/* A file with one commit: table "t" with n records "key%06d" -> value of
 * vlen bytes.  Returns the page size. */
static uint32_t make_db(const char *path, uint32_t ps, int n, size_t vlen)
{
    birch_options o = bt_opts();
    o.page_size = ps;
    birch_db *db = bt_open(path, &o);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    char k[32];
    unsigned char *v = calloc(1, vlen + 1);
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "key%06d", i);
        memset(v, 'a' + i % 26, vlen);
        bt_put(w, t, k, strlen(k), v, vlen);
    }
    free(v);
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    BT_OK(birch_close(db));
    return ps;
}

static unsigned char *load(const char *path, uint64_t *size)
{
    *size = bt_file_size(path);
    unsigned char *b = malloc(*size);
    ck_assert_ptr_nonnull(b);
    bt_file_read(path, b, *size, 0);
    return b;
}

/* The first live page (of the current meta's npages) of type `type`,
 * whose header names itself, holding at least min_keys keys; 0 if none. */
static uint64_t find_page(const char *path, uint32_t ps, int type, unsigned min_keys)
{
    bi_meta m;
    bt_meta_read(path, bt_meta_current(path), &m);
    uint64_t size;
    unsigned char *b = load(path, &size);
    uint64_t found = 0;
    for (uint64_t p = BI_META_PAGES; p < m.npages && (p + 1) * ps <= size; p++) {
        bi_phdr h;
        memcpy(&h, b + p * ps, sizeof h);
        if (h.type == type && h.pgno == p && h.nkeys >= min_keys) {
            found = p;
            break;
        }
    }
    free(b);
    return found;
}

/* Opens the damaged file (it must open: its metas are fine), runs check,
 * expects ECORRUPT with a message, and reads everything without crashing. */
static void expect_corrupt(const char *path, const char *what)
{
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    char msg[512];
    int rc = check_rc(db, msg, sizeof msg);
    ck_assert_msg(rc == BIRCH_ECORRUPT, "%s: birch_check returned %d (%s), message '%s'", what, rc,
                  birch_strerror(rc), msg);
    ck_assert_msg(strlen(msg) > 0, "%s: no message", what);
    /* Reads give results, never a crash. */
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = NULL;
    rc = birch_table_open(r, "t", 0, &t);
    if (rc == BIRCH_OK) {
        birch_cursor *c = NULL;
        rc = birch_cursor_open(r, t, &c);
        if (rc == BIRCH_OK) {
            for (rc = birch_cursor_first(c); rc == BIRCH_OK; rc = birch_cursor_next(c)) {
                birch_val k, v;
                rc = birch_cursor_get(c, &k, &v);
                if (rc) break;
            }
            ck_assert_msg(rc == BIRCH_NOTFOUND || rc == BIRCH_ECORRUPT, "%s: scan ended with %d",
                          what, rc);
            birch_cursor_close(c);
        }
        char k[32];
        for (int i = 0; i < 400; i++) {
            snprintf(k, sizeof k, "key%06d", i);
            birch_val v;
            rc = birch_get(r, t, bt_str(k), &v);
            ck_assert_msg(rc == BIRCH_OK || rc == BIRCH_NOTFOUND || rc == BIRCH_ECORRUPT,
                          "%s: get returned %d", what, rc);
        }
    }
    birch_txn_abort(r);
    BT_OK(birch_close(db));
}

START_TEST(passes_on_valid_files)
{
    for (uint32_t ps = 512; ps <= 65536; ps *= 4) {
        char *path = bt_path("valid");
        birch_options o = bt_opts_fast();
        o.page_size = ps;
        birch_db *db = bt_open(path, &o);
        bt_check(db); /* empty */
        char msg[256];
        BT_OK(birch_check(db, NULL, 0));
        BT_OK(birch_check(db, msg, 1)); /* a tiny buffer is fine */
        ck_assert_int_eq(msg[0], 0);
        bt_rng r = {ps};
        size_t vcap = 4 * (size_t)ps + 1000;
        unsigned char *v = malloc(vcap);
        bt_fill(&r, v, vcap);
        char k[64];
        for (int round = 0; round < 6; round++) {
            birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
            for (int tno = 0; tno < 5; tno++) {
                snprintf(k, sizeof k, "table%d", tno);
                birch_table *t = bt_table(w, k, BIRCH_CREATE);
                for (int i = 0; i < 300; i++) {
                    snprintf(k, sizeof k, "%d/%d", (int)bt_below(&r, 2000), i);
                    size_t vn = bt_chance(&r, 10) ? bt_below(&r, 4 * (size_t)ps) : bt_below(&r, 50);
                    bt_put(w, t, k, strlen(k), v + bt_below(&r, 1000), vn);
                }
                for (int i = 0; i < 100; i++) {
                    snprintf(k, sizeof k, "%d/%d", (int)bt_below(&r, 2000), i);
                    int rc = birch_del(w, t, bt_str(k));
                    ck_assert(rc == BIRCH_OK || rc == BIRCH_NOTFOUND);
                }
            }
            if (round == 4) BT_OK(birch_table_drop(w, "table3"));
            BT_OK(birch_txn_commit(w));
            bt_check(db);
        }
        BT_OK(birch_close(db));
        free(v);
        bt_remove(path);
        free(path);
    }
}
END_TEST

START_TEST(zeroed_leaf)
{
    char *path = bt_path("zeroleaf");
    uint32_t ps = make_db(path, 4096, 400, 20);
    uint64_t pg = find_page(path, ps, BI_P_LEAF, 2);
    ck_assert_uint_gt(pg, 0);
    unsigned char *zero = calloc(1, ps);
    bt_file_write(path, zero, ps, pg * ps);
    free(zero);
    expect_corrupt(path, "zeroed leaf");
    bt_remove(path);
    free(path);
}
END_TEST

START_TEST(keys_out_of_order)
{
    char *path = bt_path("order");
    uint32_t ps = make_db(path, 4096, 400, 20);
    uint64_t pg = find_page(path, ps, BI_P_LEAF, 3);
    ck_assert_uint_gt(pg, 0);
    unsigned char *p = malloc(ps);
    bt_file_read(path, p, ps, pg * ps);
    bi_slot s[2];
    memcpy(s, p + BI_HDR, sizeof s); /* swap the first two slots */
    memcpy(p + BI_HDR, &s[1], sizeof s[1]);
    memcpy(p + BI_HDR + BI_SLOT, &s[0], sizeof s[0]);
    bt_file_write(path, p, ps, pg * ps);
    free(p);
    expect_corrupt(path, "swapped slots");
    bt_remove(path);
    free(path);
}
END_TEST

START_TEST(branch_child_past_end)
{
    char *path = bt_path("child");
    uint32_t ps = make_db(path, 4096, 3000, 20);
    uint64_t pg = find_page(path, ps, BI_P_BRANCH, 2);
    ck_assert_msg(pg > 0, "no branch page");
    unsigned char *p = malloc(ps);
    bt_file_read(path, p, ps, pg * ps);
    bi_slot s;
    memcpy(&s, p + BI_HDR + BI_SLOT, sizeof s); /* slot 1's child */
    uint64_t child = 1ull << 40;
    memcpy(p + s.off, &child, sizeof child);
    bt_file_write(path, p, ps, pg * ps);
    free(p);
    expect_corrupt(path, "child past the end");
    bt_remove(path);
    free(path);
}
END_TEST

START_TEST(wrong_page_header)
{
    char *path = bt_path("header");
    uint32_t ps = make_db(path, 4096, 400, 20);
    uint64_t pg = find_page(path, ps, BI_P_LEAF, 2);
    ck_assert_uint_gt(pg, 0);
    bi_phdr h;
    bt_file_read(path, &h, sizeof h, pg * ps);
    h.pgno += 1; /* a misplaced page */
    bt_file_write(path, &h, sizeof h, pg * ps);
    expect_corrupt(path, "page number in header");

    bt_file_read(path, &h, sizeof h, pg * ps);
    h.pgno -= 1;
    h.upper = ps + 8; /* nodes past the end of the page */
    bt_file_write(path, &h, sizeof h, pg * ps);
    expect_corrupt(path, "upper past the page");

    h.upper = BI_HDR;
    h.nkeys = 60000; /* more slots than the page holds */
    bt_file_write(path, &h, sizeof h, pg * ps);
    expect_corrupt(path, "slot count");
    bt_remove(path);
    free(path);
}
END_TEST

START_TEST(overflow_run_damaged)
{
    char *path = bt_path("overflow");
    uint32_t ps = make_db(path, 4096, 40, 3 * 4096);
    uint64_t pg = find_page(path, ps, BI_P_OVERFLOW, 0);
    ck_assert_msg(pg > 0, "no overflow page");
    bi_phdr h;
    bt_file_read(path, &h, sizeof h, pg * ps);
    h.type = BI_P_LEAF; /* not an overflow page any more */
    bt_file_write(path, &h, sizeof h, pg * ps);
    expect_corrupt(path, "overflow type");
    bt_file_read(path, &h, sizeof h, pg * ps);
    h.type = BI_P_OVERFLOW;
    h.upper = 1u << 30; /* a run far longer than the file */
    bt_file_write(path, &h, sizeof h, pg * ps);
    expect_corrupt(path, "overflow run length");
    bt_remove(path);
    free(path);
}
END_TEST

/* A page in the state that nothing refers to and that is not free. */
START_TEST(leaked_page)
{
    char *path = bt_path("leak");
    uint32_t ps = make_db(path, 4096, 400, 20);
    int cur = bt_meta_current(path);
    bi_meta m;
    bt_meta_read(path, cur, &m);
    uint64_t size = bt_file_size(path);
    if (size < (m.npages + 1) * ps) bt_file_truncate(path, (m.npages + 1) * ps);
    m.npages += 1;
    bt_meta_write(path, cur, &m, 1);
    expect_corrupt(path, "leaked page");
    bt_remove(path);
    free(path);
}
END_TEST

/* The record count a meta keeps for the catalog disagrees with the tree. */
START_TEST(wrong_count_in_meta)
{
    char *path = bt_path("count");
    make_db(path, 4096, 400, 20);
    int cur = bt_meta_current(path);
    bi_meta m;
    bt_meta_read(path, cur, &m);
    m.catalog.count += 1;
    bt_meta_write(path, cur, &m, 1);
    expect_corrupt(path, "catalog count");
    bt_remove(path);
    free(path);
}
END_TEST

/* A damaged older meta is exactly what a commit torn during its meta write
 * leaves behind, so it is not corruption: the file opens on the current
 * meta, check passes, and the next commit rewrites that slot. */
START_TEST(other_meta_checksum)
{
    char *path = bt_path("meta2");
    make_db(path, 4096, 400, 20);
    int cur = bt_meta_current(path);
    bi_meta m;
    bt_meta_read(path, cur ^ 1, &m);
    m.txnid += 7; /* checksum no longer matches */
    bt_meta_write(path, cur ^ 1, &m, 0);
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    char msg[512];
    int rc = check_rc(db, msg, sizeof msg);
    ck_assert_msg(rc == BIRCH_OK, "torn older meta: check returned %d (%s): %s", rc, birch_strerror(rc), msg);
    birch_txn *txn;
    birch_table *t;
    BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    BT_OK(birch_table_open(txn, "t", BIRCH_CREATE, &t));
    BT_OK(birch_put(txn, t, (birch_val){"k", 1}, (birch_val){"v", 1}, 0));
    BT_OK(birch_txn_commit(txn));
    BT_OK(birch_close(db));
    bi_meta a, b;
    bt_meta_read(path, 0, &a);
    bt_meta_read(path, 1, &b);
    ck_assert_msg(bt_meta_sealed(&a) && bt_meta_sealed(&b), "the next commit rewrote the torn slot");
    db = bt_open(path, &o);
    rc = check_rc(db, msg, sizeof msg);
    ck_assert_msg(rc == BIRCH_OK, "after the next commit: %d: %s", rc, msg);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* A read-only handle (no writer can touch the file) also compares the
 * meta page that holds its snapshot with the snapshot's meta: damage to it
 * after the open is reported, naming the meta page. */
START_TEST(meta_on_disk_read_only)
{
    char *path = bt_path("metadisk");
    make_db(path, 4096, 400, 20);
    int cur = bt_meta_current(path);
    birch_options o = bt_opts();
    o.read_only = 1;
    birch_db *db = bt_open(path, &o);
    char msg[512];
    BT_OK(check_rc(db, msg, sizeof msg));
    bi_meta m;
    bt_meta_read(path, cur, &m);
    m.free_pages ^= 1; /* a flipped bit: the checksum no longer matches */
    bt_meta_write(path, cur, &m, 0);
    int rc = check_rc(db, msg, sizeof msg);
    ck_assert_msg(rc == BIRCH_ECORRUPT && strstr(msg, "meta page"), "check returned %d (%s): %s", rc,
                  birch_strerror(rc), msg);
    BT_ERRMSG_HAS("meta page");
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* Random damage to random pages: the engine returns codes, never crashes
 * (ASan/UBSan builds catch out-of-bounds reads). */
START_TEST(random_damage_never_crashes)
{
    uint64_t seed = bt_seed(777);
    bt_rng r = {seed};
    char *orig = bt_path("fuzz-orig");
    char *path = bt_path("fuzz");
    uint32_t ps = 512;
    {
        birch_options o = bt_opts();
        o.page_size = ps;
        birch_db *db = bt_open(orig, &o);
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "t", BIRCH_CREATE);
        birch_table *t2 = bt_table(w, "u", BIRCH_CREATE);
        char k[32];
        unsigned char v[2000];
        for (int i = 0; i < 400; i++) {
            snprintf(k, sizeof k, "key%06d", i);
            size_t vn = i % 10 == 0 ? 1500 : (size_t)(i % 40);
            memset(v, i, vn);
            bt_put(w, t, k, strlen(k), v, vn);
            bt_put(w, t2, k, strlen(k), v, i % 7);
        }
        BT_OK(birch_txn_commit(w));
        w = bt_begin(db, BIRCH_TXN_WRITE); /* a second commit: free pages exist */
        t = bt_table(w, "t", 0);
        for (int i = 0; i < 400; i += 3) {
            snprintf(k, sizeof k, "key%06d", i);
            BT_OK(birch_del(w, t, bt_str(k)));
        }
        BT_OK(birch_txn_commit(w));
        BT_OK(birch_close(db));
    }
    uint64_t size = bt_file_size(orig);
    uint64_t npages = size / ps;
    long corrupt = 0;
    for (int iter = 0; iter < 500; iter++) {
        bt_file_copy(orig, path);
        int flips = (int)bt_range(&r, 1, 8);
        for (int f = 0; f < flips; f++) {
            uint64_t pg = bt_range(&r, BI_META_PAGES, npages - 1);
            uint64_t off = pg * ps + (bt_chance(&r, 50) ? bt_below(&r, 64) : bt_below(&r, ps));
            unsigned char b;
            bt_file_read(path, &b, 1, off);
            b = bt_chance(&r, 50) ? (unsigned char)(b ^ (1u << bt_below(&r, 8)))
                                  : (unsigned char)bt_rand(&r);
            bt_file_write(path, &b, 1, off);
        }
        birch_options o = bt_opts();
        birch_db *db = NULL;
        int rc = birch_open(path, &o, &db);
        ck_assert_msg(rc == BIRCH_OK, "seed %" PRIu64 " iter %d: open returned %d", seed, iter, rc);
        char msg[256];
        rc = check_rc(db, msg, sizeof msg);
        ck_assert_msg(rc == BIRCH_OK || rc == BIRCH_ECORRUPT, "seed %" PRIu64 " iter %d: check %d",
                      seed, iter, rc);
        corrupt += rc == BIRCH_ECORRUPT;
        birch_txn *txn = bt_begin(db, BIRCH_TXN_READ);
        const char *names[] = {"t", "u"};
        for (int tn = 0; tn < 2; tn++) {
            birch_table *t = NULL;
            rc = birch_table_open(txn, names[tn], 0, &t);
            ck_assert_msg(rc == BIRCH_OK || rc == BIRCH_NOTFOUND || rc == BIRCH_ECORRUPT,
                          "seed %" PRIu64 " iter %d: table_open %d", seed, iter, rc);
            if (rc) continue;
            uint64_t cnt;
            rc = birch_count(txn, t, &cnt);
            birch_cursor *c = NULL;
            if (birch_cursor_open(txn, t, &c) == BIRCH_OK) {
                long steps = 0;
                for (rc = birch_cursor_first(c); rc == BIRCH_OK && steps < 5000;
                     rc = birch_cursor_next(c), steps++) {
                    birch_val k, v;
                    if (birch_cursor_get(c, &k, &v) == BIRCH_OK && v.size) {
                        volatile unsigned char x = ((const unsigned char *)v.data)[v.size - 1];
                        (void)x;
                    }
                }
                ck_assert_msg(rc == BIRCH_NOTFOUND || rc == BIRCH_ECORRUPT || steps == 5000,
                              "seed %" PRIu64 " iter %d: scan %d", seed, iter, rc);
                for (rc = birch_cursor_last(c), steps = 0; rc == BIRCH_OK && steps < 5000;
                     rc = birch_cursor_prev(c), steps++) {
                }
                birch_cursor_close(c);
            }
            char k[32];
            for (int i = 0; i < 400; i += 7) {
                snprintf(k, sizeof k, "key%06d", i);
                birch_val v;
                rc = birch_get(txn, t, bt_str(k), &v);
                ck_assert_msg(rc == BIRCH_OK || rc == BIRCH_NOTFOUND || rc == BIRCH_ECORRUPT,
                              "seed %" PRIu64 " iter %d: get %d", seed, iter, rc);
                if (rc == BIRCH_OK && v.size) {
                    volatile unsigned char x = ((const unsigned char *)v.data)[v.size - 1];
                    (void)x;
                }
            }
        }
        birch_txn_abort(txn);
        /* Writing into a damaged file: results, not crashes. */
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = NULL;
        if (birch_table_open(w, "t", 0, &t) == BIRCH_OK) {
            char k[32];
            for (int i = 0; i < 50; i++) {
                snprintf(k, sizeof k, "key%06d", (int)bt_below(&r, 400));
                if (bt_chance(&r, 50))
                    rc = birch_put(w, t, bt_str(k), bt_str("new value"), 0);
                else
                    rc = birch_del(w, t, bt_str(k));
                if (rc != BIRCH_OK && rc != BIRCH_NOTFOUND) break;
            }
        }
        birch_txn_abort(w);
        BT_OK(birch_close(db));
    }
    fprintf(stderr, "random damage: seed %" PRIu64 ", %ld of 500 damaged files reported\n", seed,
            corrupt);
    ck_assert_int_gt(corrupt, 0);
    bt_remove(orig);
    bt_remove(path);
    free(orig);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("check");
    TCase *tc = bt_tcase("check");
    tcase_add_test(tc, passes_on_valid_files);
    tcase_add_test(tc, zeroed_leaf);
    tcase_add_test(tc, keys_out_of_order);
    tcase_add_test(tc, branch_child_past_end);
    tcase_add_test(tc, wrong_page_header);
    tcase_add_test(tc, overflow_run_damaged);
    tcase_add_test(tc, leaked_page);
    tcase_add_test(tc, wrong_count_in_meta);
    tcase_add_test(tc, other_meta_checksum);
    tcase_add_test(tc, meta_on_disk_read_only);
    tcase_add_test(tc, random_damage_never_crashes);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
