/*
 * test_txn_reset.c - read transactions parked and taken up again
 * (birch_txn_reset, birch_txn_renew; issue 14), one thread.  The threaded
 * cases are in test_txn_reset_threads.c (also run under TSan).
 *
 *   - A reset reader holds nothing back: birch_stat's readers and
 *     oldest_txnid stop counting it, and the commits that follow reuse
 *     the pages it saw (the file stays flat, where a held reader makes it
 *     grow).  A renew sees the newest commit, values and ids included.
 *   - Every error: reset and renew of NULL, of a write transaction (which
 *     stays usable), of an ended transaction; renew of a transaction that
 *     is not reset; reset twice (a no-op); renew failing for want of a
 *     reader slot leaves the transaction reset.  While reset, every use of
 *     the transaction (records, tables, schemas, cursors, typed calls,
 *     guards, streams) is BIRCH_ETXN saying it is reset, and birch_txn_id
 *     is 0; commit and abort end it.
 *   - Cursors: BIRCH_ETXN while reset; after the renew unpositioned (get is
 *     BIRCH_NOTFOUND, next starts at the first key) and reading the new
 *     snapshot, whose pages the writer rewrote meanwhile.
 *   - Guards: one taken in the transaction makes the reset BIRCH_EBUSY
 *     (its view stays right); one taken without a transaction keeps its
 *     own pin and survives the reset of another, its view unchanged while
 *     writers reuse free pages (ASan build too).
 *   - Streams on the transaction answer BIRCH_ETXN from the reset on, also
 *     after the renew (their resume key still works); streams with their
 *     own transaction are not affected.
 *   - birch_close refuses while a reset transaction is open.
 *   - 100,000 resets and renews, with gets, counts and cursor moves on six
 *     tables in between, call no allocation function: the program links
 *     with ld --wrap on malloc and its kin (tests/CMakeLists.txt), and a
 *     control shows that the counter sees the engine's allocations.
 *   - In a child of fork(), reset and renew of an inherited transaction
 *     are BIRCH_EFORK and leave the parent's pin alone, also where the
 *     kernel does not wipe the handles' header page (simulated: the pid
 *     is compared then).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h" /* tok_first, tok_wiped: a kernel without MADV_WIPEONFORK, simulated */
#include "support.h"

/* ---- Counting allocations (ld --wrap) ------------------------------------ */

/* With -Wl,--wrap=malloc (and the others below) every call of these in the
 * objects linked into this program, the engine's included, comes here. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t align, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

/* Per thread, so that only the calls of the thread that counts are seen. */
static _Thread_local int counting;
static _Thread_local long allocs;

void *__wrap_malloc(size_t n)
{
    allocs += counting;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size)
{
    allocs += counting;
    return __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n)
{
    allocs += counting;
    return __real_realloc(p, n);
}
int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
    allocs += counting;
    return __real_posix_memalign(p, align, n);
}
void *__wrap_aligned_alloc(size_t align, size_t n)
{
    allocs += counting;
    return __real_aligned_alloc(align, n);
}
char *__wrap_strdup(const char *s)
{
    allocs += counting;
    return __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n)
{
    allocs += counting;
    return __real_strndup(s, n);
}

/* ---- Helpers ---------------------------------------------------------------- */

static char *path;
static birch_db *db;

static void setup(void)
{
    path = bt_path("reset");
    birch_options o = bt_opts(); /* FULL: pages freed by a commit are reusable once no reader holds them */
    db = bt_open(path, &o);
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

/* Writes key "k<i>" -> "v<version>-<i>" for i in [0, n) in one commit. */
static void write_version(birch_db *d, const char *table, int n, int version)
{
    birch_txn *w = bt_begin(d, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, table, BIRCH_CREATE);
    for (int i = 0; i < n; i++) {
        char k[32], v[64];
        snprintf(k, sizeof k, "k%04d", i);
        snprintf(v, sizeof v, "v%d-%d-%s", version, i, "padding-padding-padding-padding");
        bt_put_s(w, t, k, v);
    }
    BT_OK(birch_txn_commit(w));
}

static void expect_version(birch_txn *r, birch_table *t, int n, int version)
{
    for (int i = 0; i < n; i++) {
        char k[32], v[64];
        snprintf(k, sizeof k, "k%04d", i);
        snprintf(v, sizeof v, "v%d-%d-%s", version, i, "padding-padding-padding-padding");
        bt_expect_s(r, t, k, v);
    }
    ck_assert_uint_eq(bt_count(r, t), (uint64_t)n);
}

/* BIRCH_ETXN with the reset message. */
#define BT_RESET(expr)                                                                                \
    do {                                                                                              \
        BT_RC((expr), BIRCH_ETXN);                                                                    \
        BT_ERRMSG_HAS("reset");                                                                       \
    } while (0)

static int list_one(const char *name, void *ctx)
{
    (void)name;
    ++*(int *)ctx;
    return 0;
}

/* ---- Snapshots released and taken -------------------------------------------- */

START_TEST(reset_releases_the_snapshot)
{
    write_version(db, "t", 50, 1);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "t", 0);
    uint64_t seen = birch_txn_id(r);
    ck_assert_uint_ne(seen, 0);
    write_version(db, "t", 50, 2);
    write_version(db, "t", 50, 3);
    birch_stat st = bt_stat(db);
    ck_assert_uint_eq(st.readers, 1);
    ck_assert_uint_eq(st.oldest_txnid, seen); /* held back by r */
    ck_assert_uint_eq(st.txnid, seen + 2);
    expect_version(r, t, 50, 1);

    BT_OK(birch_txn_reset(r));
    st = bt_stat(db);
    ck_assert_uint_eq(st.readers, 0);
    ck_assert_uint_eq(st.oldest_txnid, st.txnid); /* nothing older is held */
    ck_assert_uint_eq(birch_txn_id(r), 0);

    BT_OK(birch_txn_renew(r));
    ck_assert_uint_eq(birch_txn_id(r), seen + 2); /* the newest commit */
    st = bt_stat(db);
    ck_assert_uint_eq(st.readers, 1);
    ck_assert_uint_eq(st.oldest_txnid, seen + 2);
    expect_version(r, t, 50, 3); /* the table handle reads the new snapshot */

    /* Again, with a commit between: each renew takes the newest one. */
    BT_OK(birch_txn_reset(r));
    write_version(db, "t", 50, 4);
    BT_OK(birch_txn_renew(r));
    ck_assert_uint_eq(birch_txn_id(r), seen + 3);
    expect_version(r, t, 50, 4);
    BT_OK(birch_txn_commit(r)); /* a renewed read transaction ends as usual */
    ck_assert_uint_eq(bt_stat(db).readers, 0);
}
END_TEST

/* Overwrites every record n times; returns how many pages the file's
 * committed state grew by. */
static uint64_t churn_growth(int commits)
{
    uint64_t before = bt_stat(db).page_count;
    for (int c = 0; c < commits; c++) write_version(db, "t", 200, 100 + c);
    return bt_stat(db).page_count - before;
}

START_TEST(reset_reader_lets_writers_reuse_pages)
{
    write_version(db, "t", 200, 0);
    churn_growth(4); /* the free-space map settles */
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "t", 0);
    uint64_t held = churn_growth(30); /* every page r's snapshot needs stays */
    BT_OK(birch_txn_reset(r));
    uint64_t parked = churn_growth(30); /* the pages of r's snapshot are free now */
    printf("30 commits grew the state by %" PRIu64 " pages beside a held reader, %" PRIu64
           " beside a reset one\n", held, parked);
    ck_assert_msg(held >= 30, "a held reader kept only %" PRIu64 " pages over 30 commits", held);
    ck_assert_msg(parked * 4 < held, "a reset reader still held pages back: %" PRIu64 " new pages (held: %" PRIu64 ")",
                  parked, held);
    BT_OK(birch_txn_renew(r));
    expect_version(r, t, 200, 129);
    birch_txn_abort(r);
}
END_TEST

/* ---- Errors ----------------------------------------------------------------- */

START_TEST(reset_and_renew_errors)
{
    write_version(db, "t", 3, 1);
    BT_RC(birch_txn_reset(NULL), BIRCH_EINVAL);
    BT_RC(birch_txn_renew(NULL), BIRCH_EINVAL);

    /* A write transaction: refused, and left as it was. */
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", 0);
    bt_put_s(w, t, "w", "1");
    BT_RC(birch_txn_reset(w), BIRCH_EINVAL);
    BT_ERRMSG_HAS("write transaction");
    BT_RC(birch_txn_renew(w), BIRCH_EINVAL);
    bt_put_s(w, t, "w2", "2");
    uint64_t wid = birch_txn_id(w);
    ck_assert_uint_ne(wid, 0);
    BT_OK(birch_txn_commit(w));
    BT_RC(birch_txn_reset(w), BIRCH_ETXN); /* ended */
    BT_RC(birch_txn_renew(w), BIRCH_ETXN);

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, t, "w2", "2");
    BT_RC(birch_txn_renew(r), BIRCH_EINVAL); /* not reset */
    BT_ERRMSG_HAS("not reset");
    bt_expect_s(r, t, "w2", "2"); /* still live */
    BT_OK(birch_txn_reset(r));
    BT_OK(birch_txn_reset(r)); /* twice: nothing more to let go */
    ck_assert_uint_eq(bt_stat(db).readers, 0);
    BT_OK(birch_txn_renew(r));
    BT_RC(birch_txn_renew(r), BIRCH_EINVAL); /* renewed already */
    ck_assert_uint_eq(bt_stat(db).readers, 1); /* one pin, not two */
    birch_txn_abort(r);
    BT_RC(birch_txn_reset(r), BIRCH_ETXN);
    BT_ERRMSG_HAS("ended");
    BT_RC(birch_txn_renew(r), BIRCH_ETXN);

    /* Ending a reset transaction: commit and abort. */
    r = bt_begin(db, BIRCH_TXN_READ);
    BT_OK(birch_txn_reset(r));
    BT_OK(birch_txn_commit(r));
    BT_RC(birch_txn_renew(r), BIRCH_ETXN);
    r = bt_begin(db, BIRCH_TXN_READ);
    BT_OK(birch_txn_reset(r));
    birch_txn_abort(r);
    BT_RC(birch_txn_commit(r), BIRCH_ETXN);
    ck_assert_uint_eq(bt_stat(db).readers, 0);
}
END_TEST

typedef struct Rec {
    uint64_t id;
    uint64_t value;
} Rec;
BIRCH_POD_FORMAT(rec_fmt, Rec, 1);

static void put_recs(birch_typed *tt, uint64_t n, uint64_t value)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    for (uint64_t i = 0; i < n; i++) {
        Rec rec = {i, value};
        BT_OK(birch_typed_put(w, tt, &i, &rec, 0));
    }
    BT_OK(birch_txn_commit(w));
}

/* While reset, every call that reads through the transaction refuses. */
START_TEST(every_use_of_a_reset_transaction_refuses)
{
    birch_typed tt;
    BT_OK(birch_typed_open(db, NULL, "typed", &birch_key_u64, &rec_fmt, BIRCH_CREATE, &tt));
    put_recs(&tt, 10, 7);
    write_version(db, "t", 3, 1);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "t", 0);
    BT_OK(birch_txn_reset(r));

    birch_val v;
    uint64_t n;
    birch_table *t2;
    birch_cursor *c = NULL;
    int listed = 0;
    BT_RESET(birch_get(r, t, bt_str("k0000"), &v));
    BT_RESET(birch_count(r, t, &n));
    BT_RESET(birch_table_open(r, "t", 0, &t2));
    BT_RESET(birch_table_list(r, list_one, &listed));
    ck_assert_int_eq(listed, 0);
    BT_RESET(birch_table_schema(r, t, &v));
    BT_RESET(birch_cursor_open(r, t, &c));
    ck_assert_ptr_null(c);
    BT_RESET(birch_put(r, t, bt_str("x"), bt_str("y"), 0));
    BT_RESET(birch_del(r, t, bt_str("k0000")));
    BT_RESET(birch_table_drop(r, "t"));
    BT_RESET(birch_table_set_schema(r, t, bt_str("s")));

    birch_guard g;
    memset(&g, 0, sizeof g);
    uint64_t key = 3;
    Rec rec = {1, 1};
    birch_typed t3;
    birch_stream *s = NULL;
    birch_stream_opts so;
    memset(&so, 0, sizeof so);
    Rec out[4];
    size_t got = 99;
    BT_RESET(birch_typed_get(r, &tt, &key, &g));
    BT_OK(birch_guard_release(&g)); /* nothing was taken */
    BT_RESET(birch_typed_contains(r, &tt, &key));
    BT_RESET(birch_typed_put(r, &tt, &key, &rec, 0));
    BT_RESET(birch_typed_delete(r, &tt, &key));
    BT_RESET(birch_typed_open(db, r, "typed", &birch_key_u64, &rec_fmt, 0, &t3));
    BT_RESET(birch_stream_open(r, &tt, &so, &s));
    ck_assert_ptr_null(s);
    BT_RESET(birch_stream_collect(r, &tt, &so, NULL, out, 4, &got));
    ck_assert_uint_eq(got, 0);
    ck_assert_uint_eq(birch_txn_id(r), 0);

    /* Renewed, everything works again. */
    BT_OK(birch_txn_renew(r));
    bt_expect_s(r, t, "k0002", "v1-2-padding-padding-padding-padding");
    BT_OK(birch_typed_get(r, &tt, &key, &g));
    ck_assert_uint_eq(((const Rec *)g.view)->value, 7);
    BT_OK(birch_guard_release(&g));
    BT_OK(birch_table_list(r, list_one, &listed));
    ck_assert_int_eq(listed, 2);
    birch_txn_abort(r);
}
END_TEST

/* A renew that finds no reader slot free fails as a begin would, and the
 * transaction stays reset: it reads nothing until a renew succeeds. */
START_TEST(failed_renew_stays_reset)
{
    BT_OK(birch_close(db));
    birch_options o = bt_opts();
    o.max_readers = 1;
    db = bt_open(path, &o);
    write_version(db, "t", 3, 1);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "t", 0);
    BT_OK(birch_txn_reset(r));
    birch_txn *other = bt_begin(db, BIRCH_TXN_READ); /* takes the only slot r let go */
    write_version(db, "t", 3, 2);
    BT_RC(birch_txn_renew(r), BIRCH_EBUSY);
    BT_ERRMSG_HAS("reader slots");
    BT_RESET(birch_get(r, t, bt_str("k0000"), &(birch_val){0}));
    ck_assert_uint_eq(birch_txn_id(r), 0);
    BT_RC(birch_txn_renew(r), BIRCH_EBUSY); /* again: still reset */
    birch_txn_abort(other);
    BT_OK(birch_txn_renew(r));
    expect_version(r, t, 3, 2);
    birch_txn_abort(r);
}
END_TEST

/* ---- Cursors ---------------------------------------------------------------- */

START_TEST(cursors_across_reset_and_renew)
{
    write_version(db, "t", 300, 1);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "t", 0);
    birch_cursor *c, *unused;
    BT_OK(birch_cursor_open(r, t, &c));
    BT_OK(birch_cursor_open(r, t, &unused)); /* never positioned */
    BT_OK(birch_cursor_seek(c, bt_str("k0150")));
    birch_val k, v;
    BT_OK(birch_cursor_get(c, &k, &v));
    ck_assert_int_eq(bt_keycmp(k.data, k.size, "k0150", 5), 0);

    BT_OK(birch_txn_reset(r));
    BT_RESET(birch_cursor_get(c, &k, &v));
    BT_RESET(birch_cursor_next(c));
    BT_RESET(birch_cursor_prev(c));
    BT_RESET(birch_cursor_first(c));
    BT_RESET(birch_cursor_last(c));
    BT_RESET(birch_cursor_seek(c, bt_str("k0000")));
    BT_RESET(birch_cursor_next(unused));

    /* Writers rewrite every page of the old snapshot meanwhile; the first
     * 10 keys go. */
    for (int ver = 2; ver <= 4; ver++) write_version(db, "t", 300, ver);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *tw = bt_table(w, "t", 0);
    for (int i = 0; i < 10; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%04d", i);
        BT_OK(birch_del(w, tw, bt_str(key)));
    }
    BT_OK(birch_txn_commit(w));

    BT_OK(birch_txn_renew(r));
    BT_RC(birch_cursor_get(c, &k, &v), BIRCH_NOTFOUND); /* unpositioned */
    BT_ERRMSG_HAS("not positioned");
    BT_OK(birch_cursor_next(c)); /* as first: the new snapshot's first key */
    BT_OK(birch_cursor_get(c, &k, &v));
    ck_assert_int_eq(bt_keycmp(k.data, k.size, "k0010", 5), 0);
    const char *want = "v4-10-padding-padding-padding-padding";
    ck_assert_int_eq(bt_keycmp(v.data, v.size, want, strlen(want)), 0);
    int n = 1;
    while (birch_cursor_next(c) == BIRCH_OK) {
        char kk[16], vv[64];
        BT_OK(birch_cursor_get(c, &k, &v));
        snprintf(kk, sizeof kk, "k%04d", 10 + n);
        snprintf(vv, sizeof vv, "v4-%d-padding-padding-padding-padding", 10 + n);
        ck_assert_int_eq(bt_keycmp(k.data, k.size, kk, strlen(kk)), 0);
        ck_assert_int_eq(bt_keycmp(v.data, v.size, vv, strlen(vv)), 0);
        n++;
    }
    ck_assert_int_eq(n, 290);
    BT_OK(birch_cursor_prev(unused)); /* unpositioned too: prev starts at the last key */
    BT_OK(birch_cursor_get(unused, &k, NULL));
    ck_assert_int_eq(bt_keycmp(k.data, k.size, "k0299", 5), 0);
    BT_OK(birch_cursor_seek(c, bt_str("k0150"))); /* seek works at once */
    BT_OK(birch_cursor_get(c, NULL, &v));
    want = "v4-150-padding-padding-padding-padding";
    ck_assert_int_eq(bt_keycmp(v.data, v.size, want, strlen(want)), 0);

    /* Reset with a positioned cursor, renew with nothing new committed: the
     * cursor is unpositioned all the same. */
    BT_OK(birch_txn_reset(r));
    BT_OK(birch_txn_renew(r));
    BT_RC(birch_cursor_get(c, &k, &v), BIRCH_NOTFOUND);
    BT_OK(birch_cursor_last(c));
    BT_OK(birch_cursor_get(c, &k, NULL));
    ck_assert_int_eq(bt_keycmp(k.data, k.size, "k0299", 5), 0);
    birch_txn_abort(r);
    BT_RC(birch_cursor_next(c), BIRCH_ETXN); /* ended, as before */
    BT_ERRMSG_HAS("ended");
    birch_cursor_close(c);
    birch_cursor_close(unused);
}
END_TEST

/* ---- Guards ------------------------------------------------------------------ */

START_TEST(guards_across_reset)
{
    birch_typed tt;
    BT_OK(birch_typed_open(db, NULL, "typed", &birch_key_u64, &rec_fmt, BIRCH_CREATE, &tt));
    put_recs(&tt, 200, 1);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    uint64_t key = 42;
    birch_guard in_txn, own;
    memset(&in_txn, 0, sizeof in_txn);
    memset(&own, 0, sizeof own);
    BT_OK(birch_typed_get(r, &tt, &key, &in_txn));
    BT_OK(birch_typed_get(NULL, &tt, &key, &own)); /* pins a snapshot of its own */
    const Rec *iv = in_txn.view, *ov = own.view;
    ck_assert_uint_eq(iv->value, 1);

    /* A guard of the transaction views its snapshot: no reset while it is live. */
    BT_RC(birch_txn_reset(r), BIRCH_EBUSY);
    BT_ERRMSG_HAS("guard");
    ck_assert_uint_eq(bt_stat(db).readers, 2); /* nothing was let go */
    ck_assert_uint_ne(birch_txn_id(r), 0);
    ck_assert_uint_eq(iv->id, 42);
    ck_assert_uint_eq(iv->value, 1);
    birch_guard g2;
    memset(&g2, 0, sizeof g2);
    BT_OK(birch_typed_get(r, &tt, &(uint64_t){7}, &g2)); /* still usable */
    BT_OK(birch_guard_release(&in_txn));
    BT_RC(birch_txn_reset(r), BIRCH_EBUSY); /* g2 still live */
    BT_ERRMSG_HAS("1 guard");
    birch_guard copy = g2;
    BT_OK(birch_guard_release(&g2));
    BT_OK(birch_txn_reset(r));
    BT_RC(birch_guard_release(&copy), BIRCH_ETXN); /* released already (the transaction is reset) */

    /* The guard with its own pin survives the reset of r: while writers
     * rewrite every record (the pages r saw are free now), its view keeps
     * the value it had. */
    for (uint64_t v = 2; v <= 6; v++) put_recs(&tt, 200, v);
    ck_assert_uint_eq(ov->id, 42);
    ck_assert_uint_eq(ov->value, 1);
    ck_assert_uint_eq(bt_stat(db).readers, 1); /* the guard's pin only */
    BT_OK(birch_txn_renew(r));
    BT_OK(birch_typed_get(r, &tt, &key, &in_txn));
    ck_assert_uint_eq(((const Rec *)in_txn.view)->value, 6);
    BT_OK(birch_guard_release(&in_txn));
    BT_OK(birch_guard_release(&own));
    birch_txn_abort(r);
    ck_assert_uint_eq(bt_stat(db).readers, 0);
}
END_TEST

/* ---- Streams ----------------------------------------------------------------- */

START_TEST(streams_across_reset)
{
    birch_typed tt;
    BT_OK(birch_typed_open(db, NULL, "typed", &birch_key_u64, &rec_fmt, BIRCH_CREATE, &tt));
    put_recs(&tt, 20, 1);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_stream_opts so;
    memset(&so, 0, sizeof so);
    birch_stream *s, *own, *ended;
    birch_item it;
    BT_OK(birch_stream_open(r, &tt, &so, &s));
    BT_OK(birch_stream_open(NULL, &tt, &so, &own)); /* its own snapshot */
    BT_OK(birch_stream_open(r, &tt, &so, &ended));
    for (uint64_t i = 0; i < 5; i++) {
        BT_OK(birch_stream_next(s, &it));
        ck_assert_uint_eq(*(const uint64_t *)it.key, i);
        BT_OK(birch_stream_next(own, &it));
    }
    while (birch_stream_next(ended, &it) == BIRCH_OK) {
    }
    BT_OK(birch_txn_reset(r));
    BT_RESET(birch_stream_next(s, &it));
    BT_RESET(birch_stream_next(ended, &it)); /* not "the end": the snapshot went */
    BT_OK(birch_stream_next(own, &it)); /* another transaction's reset is nothing to it */
    ck_assert_uint_eq(*(const uint64_t *)it.key, 5);

    put_recs(&tt, 30, 2);
    BT_OK(birch_txn_renew(r));
    /* The stream read the snapshot that went: it does not start over on
     * the new one, nor say it ended. */
    BT_RESET(birch_stream_next(s, &it));
    BT_RESET(birch_stream_next(s, &it));
    BT_RESET(birch_stream_next(ended, &it));
    uint8_t rk[16];
    size_t rlen = 0;
    BT_OK(birch_stream_resume_key(s, rk, sizeof rk, &rlen)); /* where it stopped */
    /* Resumed in the renewed transaction, a new stream goes on after key 4. */
    birch_stream *again;
    so.resume = rk;
    so.resume_len = rlen;
    BT_OK(birch_stream_open(r, &tt, &so, &again));
    uint64_t next = 5;
    while (birch_stream_next(again, &it) == BIRCH_OK) {
        ck_assert_uint_eq(*(const uint64_t *)it.key, next);
        ck_assert_uint_eq(((const Rec *)it.view)->value, 2);
        next++;
    }
    ck_assert_uint_eq(next, 30);
    birch_stream_close(again);
    BT_OK(birch_stream_next(own, &it));
    ck_assert_uint_eq(*(const uint64_t *)it.key, 6);
    ck_assert_uint_eq(((const Rec *)it.view)->value, 1); /* its own snapshot, still */
    birch_stream_close(own);
    birch_stream_close(s);
    birch_stream_close(ended);
    birch_txn_abort(r);
}
END_TEST

/* ---- birch_close ------------------------------------------------------------- */

START_TEST(close_counts_a_reset_transaction)
{
    write_version(db, "t", 3, 1);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_OK(birch_txn_reset(r));
    BT_RC(birch_close(db), BIRCH_ETXN);
    BT_ERRMSG_HAS("1 transaction still open");
    BT_OK(birch_txn_renew(r)); /* the handle is still there */
    BT_OK(birch_txn_reset(r));
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    db = NULL;
}
END_TEST

/* ---- No allocation ------------------------------------------------------------- */

enum { LOOPS = 100000, NTABLES = 6 };

START_TEST(reset_renew_allocates_nothing)
{
    birch_table *t[NTABLES];
    char name[16];
    for (int i = 0; i < NTABLES; i++) { /* more tables than a transaction keeps inline */
        snprintf(name, sizeof name, "t%d", i);
        write_version(db, name, 20, 1);
    }
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    for (int i = 0; i < NTABLES; i++) {
        snprintf(name, sizeof name, "t%d", i);
        t[i] = bt_table(r, name, 0);
    }
    /* The control: the counter sees the engine's allocations. */
    birch_cursor *c;
    counting = 1;
    allocs = 0;
    BT_OK(birch_cursor_open(r, t[NTABLES - 1], &c));
    counting = 0;
    ck_assert_msg(allocs >= 1, "the allocation counter missed birch_cursor_open's calloc");

    long total = 0, gets = 0;
    int rc = BIRCH_OK;
    for (int round = 0; round < 100 && rc == BIRCH_OK; round++) {
        write_version(db, "t0", 20, round + 2); /* a new snapshot for the renews (not counted) */
        counting = 1;
        allocs = 0;
        for (int i = 0; i < LOOPS / 100 && rc == BIRCH_OK; i++) {
            birch_val v;
            uint64_t n;
            rc = birch_txn_reset(r);
            if (rc == BIRCH_OK) rc = birch_txn_renew(r);
            if (rc == BIRCH_OK) rc = birch_get(r, t[i % NTABLES], bt_str("k0007"), &v);
            if (rc == BIRCH_OK) rc = birch_count(r, t[(i + 1) % NTABLES], &n);
            if (rc == BIRCH_OK) rc = birch_cursor_next(c); /* unpositioned by the renew: the first */
            if (rc == BIRCH_OK) rc = birch_cursor_next(c);
            gets++;
        }
        counting = 0;
        total += allocs;
        ck_assert_msg(rc == BIRCH_OK, "round %d: %d (%s)", round, rc, birch_errmsg());
        ck_assert_msg(allocs == 0, "round %d: %ld allocations in %d resets and renews", round, allocs, LOOPS / 100);
    }
    ck_assert_int_eq(gets, LOOPS);
    ck_assert_int_eq(total, 0);
    birch_val k;
    BT_OK(birch_cursor_get(c, &k, NULL));
    ck_assert_int_eq(bt_keycmp(k.data, k.size, "k0001", 5), 0);
    birch_cursor_close(c);
    birch_txn_abort(r);
}
END_TEST

/* ---- fork() ------------------------------------------------------------------ */

/* keep: undo the header page's wipe first, as on kernels without
 * MADV_WIPEONFORK, where reset and renew compare the pid instead. */
static void fork_child_case(int keep)
{
    if (keep) {
#ifdef MADV_KEEPONFORK
        ck_assert_int_eq(madvise(db->tok_first, (size_t)sysconf(_SC_PAGESIZE), MADV_KEEPONFORK), 0);
        atomic_store(&db->tok_wiped, 0);
#else
        return;
#endif
    }
    write_version(db, "t", 3, 1);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_txn *parked = bt_begin(db, BIRCH_TXN_READ);
    BT_OK(birch_txn_reset(parked));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int bad = birch_txn_reset(r) != BIRCH_EFORK;
        bad |= (birch_txn_renew(parked) != BIRCH_EFORK) << 1;
        _exit(bad);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child's reset or renew was not BIRCH_EFORK: %#x",
                  (unsigned)st);
    ck_assert_uint_eq(bt_stat(db).readers, 1); /* the parent's pin is still r's */
    bt_expect_s(r, bt_table(r, "t", 0), "k0001", "v1-1-padding-padding-padding-padding");
    BT_OK(birch_txn_renew(parked));
    birch_txn_abort(parked);
    birch_txn_abort(r);
}

START_TEST(reset_in_a_fork_child)
{
    fork_child_case(0);
}
END_TEST

START_TEST(reset_in_a_fork_child_without_wipeonfork)
{
    fork_child_case(1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("txn_reset");
    TCase *tc = bt_tcase("txn_reset");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, reset_releases_the_snapshot);
    tcase_add_test(tc, reset_reader_lets_writers_reuse_pages);
    tcase_add_test(tc, reset_and_renew_errors);
    tcase_add_test(tc, every_use_of_a_reset_transaction_refuses);
    tcase_add_test(tc, failed_renew_stays_reset);
    tcase_add_test(tc, cursors_across_reset_and_renew);
    tcase_add_test(tc, guards_across_reset);
    tcase_add_test(tc, streams_across_reset);
    tcase_add_test(tc, close_counts_a_reset_transaction);
    tcase_add_test(tc, reset_renew_allocates_nothing);
    tcase_add_test(tc, reset_in_a_fork_child);
    tcase_add_test(tc, reset_in_a_fork_child_without_wipeonfork);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
