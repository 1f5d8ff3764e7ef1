/*
 * test_nested_nomem.c - out of memory while a child's commit folds it into
 * its parent (engine/nest.c, fold), and while the change feed records a
 * change (engine/feed.c; at the end of this file).
 *
 * A grandchild changes pages its grandparent (the root) wrote and makes
 * pages of its own, so its commit hands undo entries and new pages to its
 * parent, whose lists must grow.  Each allocation that commit makes fails
 * in turn, one per run: the commit either succeeds, or returns
 * BIRCH_ENOMEM having aborted the grandchild whole.  Either way its parent
 * then reads exactly its own state (the grandchild's changes folded in, or
 * none of them), goes on writing and commits, the root commits, and the
 * file holds exactly that and passes birch_check.  Before the fix, fold
 * grew the parent's lists while it moved entries into them, so a failure
 * half-way left entries already moved with NULL buffers, which the abort
 * put back as the pages' contents (the root then read unwritten pages
 * through the map: SIGBUS).
 *
 * The program links with ld --wrap on malloc and its kin
 * (tests/CMakeLists.txt, as test_txn_reset does), so every call of them
 * in the engine comes to the __wrap_ functions below, which fail the Nth
 * call made while armed (on the arming thread), and only that one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* ---- Failing the Nth allocation (ld --wrap) ------------------------------- */

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

static _Thread_local long countdown; /* > 0: the call that brings it to 0 fails */
static _Thread_local long calls;     /* calls while armed */
static _Thread_local int failed;     /* a call failed */

/* 1 if this call is the one to fail. */
static int fail_now(void)
{
    if (countdown <= 0) return 0;
    calls++;
    if (--countdown) return 0;
    failed = 1;
    return 1;
}

void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return fail_now() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return fail_now() ? NULL : __real_realloc(p, n); }
int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
    return fail_now() ? ENOMEM : __real_posix_memalign(p, align, n);
}
void *__wrap_aligned_alloc(size_t align, size_t n) { return fail_now() ? NULL : __real_aligned_alloc(align, n); }
char *__wrap_strdup(const char *s) { return fail_now() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return fail_now() ? NULL : __real_strndup(s, n); }

static void arm(long n)
{
    countdown = n;
    calls = 0;
    failed = 0;
}

static void disarm(void) { countdown = 0; }

/* ---- The transactions --------------------------------------------------------- */

enum {
    NKEYS = 600, /* the root's keys k0000.., 200-byte values: dozens of leaves */
    NCHILD = 10, /* the child overwrites k0000..k0009 (one or two leaves) */
    NNEW = 300,  /* the grandchild's new keys n0000..: new leaves (born pages) */
    VLEN = 200
};

/* The value of key i as tag wrote it: "tag-i" padded to VLEN bytes. */
static void value(char *buf, const char *tag, int i)
{
    memset(buf, '.', VLEN);
    int n = snprintf(buf, VLEN, "%s-%d", tag, i);
    buf[n] = '.';
}

static void put(birch_txn *txn, birch_table *t, const char *kfmt, int i, const char *tag)
{
    char k[16], v[VLEN];
    snprintf(k, sizeof k, kfmt, i);
    value(v, tag, i);
    bt_put(txn, t, k, strlen(k), v, VLEN);
}

/* txn sees the root's keys as the child left them, with the grandchild's
 * changes (every tenth key overwritten, NNEW keys added) iff folded, and
 * the child's key "after" iff after. */
static void expect_state(birch_txn *txn, birch_table *t, int folded, int after)
{
    char k[16], v[VLEN];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(k, sizeof k, "k%04d", i);
        value(v, folded && i % 10 == 0 ? "grandchild" : i < NCHILD ? "child" : "root", i);
        bt_expect(txn, t, k, strlen(k), v, VLEN);
    }
    for (int i = 0; i < NNEW; i++) {
        snprintf(k, sizeof k, "n%04d", i);
        if (folded) {
            value(v, "new", i);
            bt_expect(txn, t, k, strlen(k), v, VLEN);
        } else {
            bt_expect_absent(txn, t, k, strlen(k));
        }
    }
    if (after) bt_expect_s(txn, t, "after", "child");
    else bt_expect_absent(txn, t, "after", 5);
    ck_assert_uint_eq(bt_count(txn, t), NKEYS + (folded ? NNEW : 0) + (after ? 1 : 0));
    /* A scan agrees with the gets (the pages the abort put back are whole). */
    birch_cursor *c;
    BT_OK(birch_cursor_open(txn, t, &c));
    uint64_t n = 0;
    int rc;
    for (rc = birch_cursor_first(c); rc == BIRCH_OK; rc = birch_cursor_next(c)) {
        birch_val kv, vv;
        BT_OK(birch_cursor_get(c, &kv, &vv));
        n++;
    }
    BT_RC(rc, BIRCH_NOTFOUND);
    birch_cursor_close(c);
    ck_assert_uint_eq(n, NKEYS + (folded ? NNEW : 0) + (after ? 1 : 0));
}

/* One run: the grandchild's commit with its nth allocation failing (0:
 * none).  Returns 1 if an allocation failed. */
static int run(long nth)
{
    char *path = bt_path("nomem");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    for (int i = 0; i < NKEYS; i++) put(w, t, "k%04d", i, "root");
    birch_txn *child, *grandchild;
    BT_OK(birch_txn_begin_nested(w, &child));
    for (int i = 0; i < NCHILD; i++) put(child, t, "k%04d", i, "child");
    BT_OK(birch_txn_begin_nested(child, &grandchild));
    for (int i = 0; i < NKEYS; i += 10) put(grandchild, t, "k%04d", i, "grandchild");
    for (int i = 0; i < NNEW; i++) put(grandchild, t, "n%04d", i, "new");

    arm(nth);
    int rc = birch_txn_commit(grandchild);
    disarm();
    int hit = failed;
    ck_assert_msg(rc == BIRCH_OK || (rc == BIRCH_ENOMEM && hit), "allocation %ld of %ld failing: the commit "
                  "returned %d (%s: %s)", nth, calls, rc, birch_strerror(rc), birch_errmsg());
    int folded = rc == BIRCH_OK;
    if (!folded) BT_ERRMSG_HAS("out of memory");

    expect_state(child, t, folded, 0);
    bt_put_s(child, t, "after", "child");
    BT_OK(birch_txn_commit(child));
    expect_state(w, t, folded, 1);
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    db = bt_reopen(db, path, &o);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    expect_state(r, bt_table(r, "t", 0), folded, 1);
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
    return hit;
}

/* Every allocation of the grandchild's commit fails once, in turn, until
 * a run whose commit makes fewer: at least one did (the parent's two
 * lists had to grow). */
START_TEST(each_allocation_of_a_fold_fails)
{
    long failures = 0, nth;
    for (nth = 1; run(nth); nth++) failures++;
    ck_assert_msg(failures >= 1, "the grandchild's commit made no allocation: nothing was tested");
    fprintf(stderr, "nested commit: %ld allocation(s), each failed in turn\n", failures);
}
END_TEST

/* ---- The change feed ----------------------------------------------------------- */

typedef struct kept {
    uint8_t *bytes[64];
    size_t size[64];
    int n;
} kept;

static void keep(uint64_t txnid, birch_val changes, void *ctx)
{
    kept *k = ctx;
    (void)txnid;
    ck_assert_int_lt(k->n, 64);
    k->bytes[k->n] = __real_malloc(changes.size);
    memcpy(k->bytes[k->n], changes.data, changes.size);
    k->size[k->n++] = changes.size;
}

/* Table t's records, as one string. */
static void digest_of(birch_db *db, char *out, size_t cap)
{
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t;
    size_t n = 0;
    out[0] = 0;
    if (birch_table_open(r, "t", 0, &t) == BIRCH_OK) {
        birch_cursor *c;
        BT_OK(birch_cursor_open(r, t, &c));
        for (int rc = birch_cursor_first(c); rc == BIRCH_OK; rc = birch_cursor_next(c)) {
            birch_val k, v;
            BT_OK(birch_cursor_get(c, &k, &v));
            n += (size_t)snprintf(out + n, cap - n, "%.*s=%zu;", (int)k.size, (const char *)k.data, v.size);
            ck_assert(n < cap);
        }
        birch_cursor_close(c);
    }
    birch_txn_abort(r);
}

/* One run: changes recorded with the nth allocation failing.  A change
 * refused with BIRCH_ENOMEM before it was made leaves the transaction
 * usable; whatever commits, the feed replayed gives the same records. */
static int feed_run(long nth)
{
    char *path = bt_path("feed-nomem"), *path2 = bt_path("feed-nomem2");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o), *db2 = bt_open(path2, &o);
    kept k = {{0}, {0}, 0};
    BT_OK(birch_on_commit(db, keep, &k));
    static char big[20000];
    memset(big, 'v', sizeof big);
    arm(nth);
    birch_txn *w = NULL;
    int rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &w);
    birch_table *t = NULL;
    if (rc == BIRCH_OK) rc = birch_table_open(w, "t", BIRCH_CREATE, &t);
    for (int i = 0; rc == BIRCH_OK && i < 40; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%03d", i);
        rc = birch_put(w, t, bt_str(key), bt_val(big, (size_t)(i * 500)), 0); /* the batch grows */
        if (rc == BIRCH_ENOMEM && birch_put(w, t, bt_str("after"), bt_str("x"), 0) == BIRCH_OK)
            rc = BIRCH_OK; /* refused before it changed anything: the transaction goes on */
    }
    disarm();
    int hit = failed;
    ck_assert_msg(rc == BIRCH_OK || (hit && (rc == BIRCH_ENOMEM || rc == BIRCH_ETXN)), "allocation %ld: %d (%s)", nth,
                  rc, birch_errmsg());
    if (w && rc == BIRCH_OK) BT_OK(birch_txn_commit(w));
    else if (w) birch_txn_abort(w);
    for (int i = 0; i < k.n; i++) {
        birch_txn *r = bt_begin(db2, BIRCH_TXN_WRITE);
        BT_OK(birch_batch_apply(r, bt_val(k.bytes[i], k.size[i])));
        BT_OK(birch_txn_commit(r));
        free(k.bytes[i]);
    }
    static char a[1 << 16], b[1 << 16];
    digest_of(db, a, sizeof a);
    digest_of(db2, b, sizeof b);
    ck_assert_msg(strcmp(a, b) == 0, "allocation %ld failing: the feed does not replay the commit:\n%s\n%s", nth, a, b);
    BT_OK(birch_close(db));
    BT_OK(birch_close(db2));
    bt_remove(path);
    bt_remove(path2);
    free(path);
    free(path2);
    return hit;
}

START_TEST(each_allocation_of_a_recorded_transaction_fails)
{
    long failures = 0;
    for (long nth = 1; feed_run(nth); nth++) failures++;
    ck_assert_msg(failures >= 3, "only %ld allocations: the batch never grew", failures);
    fprintf(stderr, "recorded transaction: %ld allocation(s), each failed in turn\n", failures);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nested_nomem");
    TCase *tc = bt_tcase("nested_nomem");
    tcase_add_test(tc, each_allocation_of_a_fold_fails);
    tcase_add_test(tc, each_allocation_of_a_recorded_transaction_fails);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
