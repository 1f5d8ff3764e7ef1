/*
 * test_table_stat.c - birch_table_stat: a table's figures from one walk of
 * its pages.
 *
 * Known contents at three page sizes: records, key and value bytes exact;
 * overflow pages exact for values of known sizes; depth as a search path
 * finds it; the pages by kind add up to the table's pages as a compact
 * copy (which holds only the pages in use) and birch_check count them;
 * the bytes in use in the leaves exact (header, slots and nodes of known
 * sizes), the rest in the branches; the same figures in the write
 * transaction before its commit and in a read transaction after.  An
 * empty table, bad arguments, and damaged pages (a leaf, an overflow run,
 * a record count that disagrees with the pages: BIRCH_ECORRUPT).  A
 * randomized run (seed printed on failure; BIRCH_SEED replays it) compares
 * records, key bytes and value bytes with a model after random puts and
 * deletes, before and after each commit, with birch_check after each.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "support.h"

static char *path;
static birch_db *db;
static birch_options opts;

static void setup(void)
{
    path = bt_path("tstat");
    opts = bt_opts_fast();
    db = bt_open(path, &opts);
}

static void teardown(void)
{
    if (db) {
        bt_check(db);
        BT_OK(birch_close(db));
    }
    db = NULL;
    bt_remove(path);
    free(path);
}

typedef struct birch_table_stat tstat;

static tstat stat_of(birch_txn *txn, birch_table *t)
{
    tstat st;
    memset(&st, 0xa5, sizeof st); /* every field must be written */
    BT_OK(birch_table_stat(txn, t, &st));
    return st;
}

static void same_stat(const tstat *a, const tstat *b, const char *what)
{
    ck_assert_msg(a->page_size == b->page_size && a->depth == b->depth && a->records == b->records &&
                      a->branch_pages == b->branch_pages && a->leaf_pages == b->leaf_pages &&
                      a->overflow_pages == b->overflow_pages && a->key_bytes == b->key_bytes &&
                      a->value_bytes == b->value_bytes && a->used_bytes == b->used_bytes && a->fill == b->fill,
                  "%s: the figures differ", what);
}

/* The levels of t's tree as a search path finds them (btree.c's descent,
 * not the stat's walk). */
static uint32_t path_depth(birch_txn *tok, birch_table *t)
{
    birch_txn *txn = tok;
    bi_tstate *ts;
    BT_OK(bi_txn_use(&txn));
    BT_OK(bi_table_state(txn, t, &ts));
    if (!ts->tree.root) return 0;
    bi_path p;
    int rc = bi_path_first(txn, &ts->tree, &p);
    ck_assert_msg(rc == BIRCH_OK || rc == BIRCH_NOTFOUND, "bi_path_first: %d", rc); /* NOTFOUND: an empty root */
    return (uint32_t)p.depth;
}

/* Overflow pages of a value of n bytes: a page header, then the value. */
static uint64_t run_pages(uint32_t ps, uint64_t n)
{
    return (BI_HDR + n + ps - 1) / ps;
}

/* Bytes a record takes in a leaf: its slot, node header, key padded to 8,
 * then its value padded to 8, or a big value's reference (pgno, checksum). */
static uint64_t leaf_bytes(size_t klen, size_t vlen, int big)
{
    return BI_SLOT + BI_NODE_HDR + BI_A8(klen) + (big ? 16u : BI_A8(vlen));
}

enum { NSMALL = 3000, NBIG = 12, KLEN = 16, VSMALL = 100 };

static size_t key_of(int i, char *k)
{
    snprintf(k, KLEN + 1, "key-%012d", i);
    return KLEN;
}

/* Known contents: NSMALL records of KLEN-byte keys and VSMALL-byte values
 * and NBIG of 3 pages and a bit (overflow runs). */
static void known_contents(uint32_t ps)
{
    birch_options o = bt_opts_fast();
    o.page_size = ps;
    char *p = bt_path("known"), *cp = bt_path("known-copy");
    birch_db *d = bt_open(p, &o);
    size_t vbig = 3 * (size_t)ps + 100;
    unsigned char *v = malloc(vbig);
    bt_pattern(v, vbig, ps);
    char k[KLEN + 1];
    birch_txn *w = bt_begin(d, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    tstat empty = stat_of(w, t);
    ck_assert_uint_eq(empty.records + empty.depth + empty.branch_pages + empty.leaf_pages + empty.overflow_pages, 0);
    for (int i = 0; i < NSMALL + NBIG; i++) {
        size_t kn = key_of(i, k);
        bt_put(w, t, k, kn, v, i < NSMALL ? VSMALL : vbig);
    }
    tstat before = stat_of(w, t); /* the writer's dirty pages */
    BT_OK(birch_txn_commit(w));
    bt_check(d);

    birch_txn *r = bt_begin(d, BIRCH_TXN_READ);
    tstat st = stat_of(r, t);
    same_stat(&before, &st, "before and after the commit");
    ck_assert_uint_eq(st.page_size, ps);
    ck_assert_uint_eq(st.records, NSMALL + NBIG);
    ck_assert_uint_eq(st.key_bytes, (uint64_t)(NSMALL + NBIG) * KLEN);
    ck_assert_uint_eq(st.value_bytes, (uint64_t)NSMALL * VSMALL + (uint64_t)NBIG * vbig);
    ck_assert_uint_eq(st.overflow_pages, NBIG * run_pages(ps, vbig));
    ck_assert_uint_eq(st.depth, path_depth(r, t));
    ck_assert_uint_ge(st.depth, 2); /* the test means more than one leaf */
    ck_assert_uint_gt(st.branch_pages, 0);
    /* Leaves: headers, slots and nodes of known sizes, exactly; the rest
     * of the bytes in use are the branches'. */
    uint64_t in_leaves = st.leaf_pages * BI_HDR + (uint64_t)NSMALL * leaf_bytes(KLEN, VSMALL, 0) +
                         (uint64_t)NBIG * leaf_bytes(KLEN, vbig, 1);
    ck_assert_uint_gt(st.used_bytes, in_leaves);
    uint64_t in_branches = st.used_bytes - in_leaves;
    ck_assert_uint_le(in_branches, st.branch_pages * ps);
    ck_assert_uint_ge(in_branches, st.branch_pages * BI_HDR + (st.branch_pages + st.leaf_pages - 1) * BI_SLOT);
    ck_assert_uint_le(in_leaves, st.leaf_pages * ps);
    double fill = (double)st.used_bytes / ((double)(st.branch_pages + st.leaf_pages) * ps);
    double off = st.fill > fill ? st.fill - fill : fill - st.fill;
    ck_assert_msg(off < 1e-12 && st.fill > 0.4 && st.fill <= 1.0, "fill %f, want %f", st.fill, fill);
    birch_txn_abort(r);

    /* The pages: a compact copy holds the pages in use and no other, and
     * birch_check counts them all: the meta pages, the catalog (one leaf
     * for one table) and the table's. */
    BT_OK(birch_copy(d, cp, BIRCH_COPY_COMPACT, NULL, NULL));
    birch_db *c = bt_open(cp, &o);
    char msg[256];
    BT_OK(birch_check(c, msg, sizeof msg));
    birch_stat cs = bt_stat(c);
    ck_assert_uint_eq(cs.free_pages, 0);
    ck_assert_uint_eq(cs.page_count, 2 + 1 + st.branch_pages + st.leaf_pages + st.overflow_pages);
    char want[64];
    snprintf(want, sizeof want, "ok: %" PRIu64 " pages checked", cs.page_count);
    ck_assert_str_eq(msg, want);
    r = bt_begin(c, BIRCH_TXN_READ);
    tstat copied = stat_of(r, bt_table(r, "t", 0));
    same_stat(&st, &copied, "the original and its compact copy");
    birch_txn_abort(r);
    BT_OK(birch_close(c));

    BT_OK(birch_close(d));
    bt_remove(p);
    bt_remove(cp);
    free(v);
    free(p);
    free(cp);
}

START_TEST(known_contents_4096)
{
    known_contents(4096);
}
END_TEST

START_TEST(known_contents_512)
{
    known_contents(512);
}
END_TEST

START_TEST(known_contents_16384)
{
    known_contents(16384);
}
END_TEST

/* One leaf: every byte accounted for. */
START_TEST(one_leaf_exact)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    char k[8];
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof k, "k%04d", i); /* 5 bytes */
        bt_put(w, t, k, 5, "thirteen byte", 13);
    }
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    tstat st = stat_of(r, t);
    ck_assert_uint_eq(st.depth, 1);
    ck_assert_uint_eq(st.leaf_pages, 1);
    ck_assert_uint_eq(st.branch_pages + st.overflow_pages, 0);
    ck_assert_uint_eq(st.records, 10);
    ck_assert_uint_eq(st.key_bytes, 50);
    ck_assert_uint_eq(st.value_bytes, 130);
    ck_assert_uint_eq(st.used_bytes, BI_HDR + 10 * (8 + 8 + 8 + 16)); /* slot, node header, key, value */
    ck_assert(st.fill == (double)st.used_bytes / 4096.0);
    birch_txn_abort(r);
}
END_TEST

/* An empty table has no pages; one emptied by deletes has no records and
 * at most an empty root leaf. */
START_TEST(empty_table)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    tstat st = stat_of(r, t);
    ck_assert_uint_eq(st.page_size, 4096);
    ck_assert_uint_eq(st.depth, 0);
    ck_assert_uint_eq(st.records + st.branch_pages + st.leaf_pages + st.overflow_pages, 0);
    ck_assert_uint_eq(st.key_bytes + st.value_bytes + st.used_bytes, 0);
    ck_assert(st.fill == 0.0);
    birch_txn_abort(r);

    unsigned char big[10000];
    memset(big, 'b', sizeof big);
    char k[16];
    w = bt_begin(db, BIRCH_TXN_WRITE);
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "%06d", i);
        bt_put(w, t, k, 6, big, i % 100 ? 50 : sizeof big);
    }
    BT_OK(birch_txn_commit(w));
    w = bt_begin(db, BIRCH_TXN_WRITE);
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "%06d", i);
        BT_OK(birch_del(w, t, bt_str(k)));
    }
    st = stat_of(w, t);
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    r = bt_begin(db, BIRCH_TXN_READ);
    tstat after = stat_of(r, t);
    same_stat(&st, &after, "before and after the commit");
    ck_assert_uint_eq(after.records + after.key_bytes + after.value_bytes, 0);
    ck_assert_uint_eq(after.branch_pages + after.overflow_pages, 0);
    ck_assert_uint_le(after.leaf_pages, 1);
    ck_assert_uint_eq(after.depth, after.leaf_pages);
    ck_assert_uint_eq(after.depth, path_depth(r, t));
    ck_assert_uint_eq(after.used_bytes, after.leaf_pages * BI_HDR);
    birch_txn_abort(r);
}
END_TEST

START_TEST(bad_arguments)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE), *gone = bt_table(w, "gone", BIRCH_CREATE);
    bt_put_s(w, t, "k", "v");
    BT_OK(birch_table_drop(w, "gone"));
    BT_OK(birch_txn_commit(w));
    tstat st;
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_RC(birch_table_stat(NULL, t, &st), BIRCH_EINVAL);
    BT_RC(birch_table_stat(r, NULL, &st), BIRCH_EINVAL);
    BT_RC(birch_table_stat(r, t, NULL), BIRCH_EINVAL);
    BT_ERRMSG_HAS("st is NULL");
    BT_RC(birch_table_stat(r, gone, &st), BIRCH_NOTFOUND);
    BT_ERRMSG_HAS("'gone' does not exist");
    /* A table handle of another database. */
    char *p2 = bt_path("other");
    birch_db *db2 = bt_open(p2, &opts);
    birch_txn *w2 = bt_begin(db2, BIRCH_TXN_WRITE);
    birch_table *t2 = bt_table(w2, "t", BIRCH_CREATE);
    BT_OK(birch_txn_commit(w2));
    BT_RC(birch_table_stat(r, t2, &st), BIRCH_EINVAL);
    BT_OK(birch_close(db2));
    bt_remove(p2);
    free(p2);
    st = stat_of(r, t);
    ck_assert_uint_eq(st.records, 1);
    birch_txn_abort(r);
    BT_RC(birch_table_stat(r, t, &st), BIRCH_ETXN);
}
END_TEST

/* Damaged pages give BIRCH_ECORRUPT naming the page: a leaf's header, an
 * overflow run's header, and a record count that disagrees with the pages
 * (a catalog record changed on disk; reads verify no checksum, the walk
 * counts). */
static birch_db *damaged_copy(const char *src, const char *dst)
{
    bt_file_copy(src, dst);
    return bt_open(dst, &opts);
}

START_TEST(damaged_pages)
{
    unsigned char big[9000];
    memset(big, 'x', sizeof big);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    for (int i = 0; i < 20; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%02d", i);
        bt_put(w, t, k, 3, big, i == 7 ? sizeof big : 30);
    }
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db));
    db = bt_open(path, &opts); /* checkpointed: durable, so open verifies nothing */

    /* Where things are: the table's root (its one leaf), the big value's
     * run, the catalog record's count. */
    birch_txn *tok = bt_begin(db, BIRCH_TXN_READ), *r = tok;
    t = bt_table(tok, "t", 0); /* the handle of the reopened database */
    ck_assert_uint_eq(stat_of(tok, t).depth, 1);
    BT_OK(bi_txn_use(&r));
    uint32_t ps = birch_page_size(db);
    bi_tstate *ts;
    BT_OK(bi_table_state(r, t, &ts));
    uint64_t leaf = ts->tree.root;
    birch_val v;
    BT_OK(birch_get(tok, t, bt_val("k07", 3), &v));
    uint64_t run = (uint64_t)((const uint8_t *)v.data - BI_HDR - r->map) / ps;
    BT_OK(bi_tree_get(r, &r->meta.catalog, (const uint8_t *)"t", 1, &v));
    uint64_t count_at = (uint64_t)((const uint8_t *)v.data - r->map) + offsetof(bi_table_rec, tree.count);
    birch_txn_abort(tok);
    BT_OK(birch_close(db));
    db = NULL;

    char *dp = bt_path("damaged");
    struct {
        const char *what;
        uint64_t off;
        uint8_t byte;
        const char *says;
    } cases[] = {
        {"a leaf's level", leaf * ps + offsetof(bi_phdr, level), 3, "page"},
        {"an overflow run's type", run * ps + offsetof(bi_phdr, type), BI_P_LEAF, "overflow run"},
        {"the record count", count_at, 21, "20 records found in its pages, 21 counted"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        birch_db *d = damaged_copy(path, dp);
        bt_file_write(dp, &cases[i].byte, 1, cases[i].off);
        birch_txn *rd = bt_begin(d, BIRCH_TXN_READ);
        birch_table *dt = bt_table(rd, "t", 0);
        tstat st;
        int rc = birch_table_stat(rd, dt, &st);
        ck_assert_msg(rc == BIRCH_ECORRUPT, "%s: %d (%s)", cases[i].what, rc, birch_errmsg());
        ck_assert_msg(strstr(birch_errmsg(), cases[i].says), "%s: %s", cases[i].what, birch_errmsg());
        birch_txn_abort(rd);
        BT_OK(birch_close(d));
        bt_remove(dp);
    }
    free(dp);
    db = bt_open(path, &opts); /* the original is sound (teardown checks it) */
}
END_TEST

/* Random puts and deletes (values up to three pages) against a model:
 * records, key bytes and value bytes agree in the write transaction and
 * after its commit; birch_check after every commit. */
START_TEST(random_against_model)
{
    uint64_t seed = bt_seed(0x7ab1e57a7);
    bt_rng rng = {seed};
    bt_model m;
    bt_model_init(&m);
    unsigned char k[64], *v = malloc(13000);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    BT_OK(birch_txn_commit(w));
    for (int round = 0; round < 40; round++) {
        w = bt_begin(db, BIRCH_TXN_WRITE);
        int ops = (int)bt_range(&rng, 1, 400);
        for (int o = 0; o < ops; o++) {
            uint64_t id = bt_below(&rng, 3000);
            size_t kn = 1 + (size_t)(id % 40);
            bt_pattern(k, kn, id);
            if (bt_chance(&rng, round < 20 ? 30 : 60)) {
                int rc = birch_del(w, t, bt_val(k, kn));
                int had = bt_model_del(&m, k, kn);
                ck_assert_msg(rc == (had ? BIRCH_OK : BIRCH_NOTFOUND), "seed %" PRIu64 ": del %d, model %d", seed,
                              rc, had);
                continue;
            }
            unsigned pick = (unsigned)bt_below(&rng, 100);
            size_t vn = pick < 80 ? bt_below(&rng, 200) : pick < 95 ? bt_range(&rng, 200, 2000)
                                                                 : bt_range(&rng, 4000, 13000);
            bt_fill(&rng, v, vn);
            bt_put(w, t, k, kn, v, vn);
            bt_model_put(&m, k, kn, v, vn);
        }
        uint64_t keys = 0, vals = 0;
        for (size_t i = 0; i < m.n; i++) {
            keys += m.v[i]->klen;
            vals += m.v[i]->vlen;
        }
        for (int pass = 0; pass < 2; pass++) {
            birch_txn *txn = pass ? bt_begin(db, BIRCH_TXN_READ) : w;
            tstat st = stat_of(txn, t);
            ck_assert_msg(st.records == m.n && st.key_bytes == keys && st.value_bytes == vals,
                          "seed %" PRIu64 ", round %d, %s: %" PRIu64 " records, %" PRIu64 " key bytes, %" PRIu64
                          " value bytes; the model has %zu, %" PRIu64 ", %" PRIu64,
                          seed, round, pass ? "after the commit" : "in the write transaction", st.records,
                          st.key_bytes, st.value_bytes, m.n, keys, vals);
            ck_assert_msg(st.depth == path_depth(txn, t) && (st.records == 0 || st.leaf_pages > 0) &&
                              st.used_bytes <= (st.branch_pages + st.leaf_pages) * st.page_size,
                          "seed %" PRIu64 ", round %d: depth %u, %" PRIu64 " leaves, %" PRIu64 " bytes used", seed,
                          round, st.depth, st.leaf_pages, st.used_bytes);
            if (pass) birch_txn_abort(txn);
            else BT_OK(birch_txn_commit(w));
        }
        char msg[512];
        int rc = birch_check(db, msg, sizeof msg);
        ck_assert_msg(rc == BIRCH_OK, "seed %" PRIu64 ", round %d: birch_check: %s", seed, round, msg);
    }
    bt_model_free(&m);
    free(v);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("table_stat");
    TCase *tc = bt_tcase("table_stat");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, known_contents_4096);
    tcase_add_test(tc, known_contents_512);
    tcase_add_test(tc, known_contents_16384);
    tcase_add_test(tc, one_leaf_exact);
    tcase_add_test(tc, empty_table);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, damaged_pages);
    tcase_add_test(tc, random_against_model);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
