/*
 * test_fork.c - a child of fork() that inherits open handles (issue 11,
 * item 5): every call there with the parent's database, transaction,
 * cursor, stream or guard returns BIRCH_EFORK without touching the file,
 * and birch_close in the child frees the child's copy and writes nothing.
 * Before, a child's commit returned 0 and reached the file (the parent's
 * next commit then reused its id), and its close wrote a meta page.
 *
 * The child reports through its exit status: 0 if every call gave what it
 * should, else the line of the first that did not (printed on stderr).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/mman.h>

#include "internal.h"
#include "support.h"

static char *path;
static birch_db *db;
static birch_typed ty;

/* In the child: the call must return want, else exit with the line. */
#define CHILD_RC(expr, want)                                                                        \
    do {                                                                                            \
        int c_rc_ = (expr);                                                                         \
        if (c_rc_ != (want)) {                                                                      \
            fprintf(stderr, "child: %s returned %d (%s), expected %d\n", #expr, c_rc_, birch_errmsg(), \
                    (want));                                                                        \
            _exit(__LINE__ % 250 + 1);                                                              \
        }                                                                                           \
    } while (0)

/* Runs fn in a child and asserts that it exited with 0. */
static void in_child(void (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %#x): see stderr",
                  status);
}

static void setup(void)
{
    path = bt_path("fork");
    birch_options o = bt_opts(); /* BIRCH_DURABLE_FULL: no flusher thread writes while we compare */
    db = bt_open(path, &o);
    BT_OK(birch_typed_open(db, NULL, "typed", &birch_key_u64, &birch_value_bytes, BIRCH_CREATE, &ty));
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put_s(w, t, "k", "v0");
    for (uint64_t k = 1; k <= 3; k++) {
        birch_val v = bt_str("value");
        BT_OK(birch_typed_put(w, &ty, &k, &v, 0));
    }
    BT_OK(birch_txn_commit(w));
}

static void teardown(void)
{
    if (db) BT_OK(birch_close(db));
    db = NULL;
    bt_remove(path);
    free(path);
}

/* Reopens the database and returns the value of key k in table t. */
static void reopen_expect(const char *k, const char *v)
{
    BT_OK(birch_close(db));
    birch_options o = bt_opts();
    db = bt_open(path, &o);
    bt_check(db);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "t", 0), k, v);
    BT_OK(birch_txn_commit(r));
}

static void child_commit(void *arg)
{
    birch_txn *w = arg;
    birch_table *t = NULL;
    CHILD_RC(birch_table_open(w, "t", 0, &t), BIRCH_EFORK);
    CHILD_RC(birch_table_rename(w, "t", "u"), BIRCH_EFORK);
    CHILD_RC(birch_txn_commit(w), BIRCH_EFORK);
    birch_txn_abort(w); /* a no-op */
}

START_TEST(child_commit_through_inherited_txn)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", 0);
    bt_put_s(w, t, "k", "parent1");
    uint64_t id = birch_txn_id(w);
    in_child(child_commit, w);
    BT_OK(birch_txn_commit(w)); /* the parent's transaction is intact */
    ck_assert_uint_eq(bt_stat(db).txnid, id);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    ck_assert_uint_eq(birch_txn_id(w), id + 1);
    bt_put_s(w, bt_table(w, "t", 0), "k2", "parent2");
    BT_OK(birch_txn_commit(w));
    reopen_expect("k", "parent1");
    reopen_expect("k2", "parent2");
    ck_assert_uint_eq(bt_stat(db).txnid, id + 1);
}
END_TEST

static void child_begin(void *arg)
{
    (void)arg;
    birch_txn *t = NULL;
    CHILD_RC(birch_txn_begin(db, BIRCH_TXN_READ, &t), BIRCH_EFORK);
    CHILD_RC(birch_txn_begin(db, BIRCH_TXN_WRITE, &t), BIRCH_EFORK);
    if (t) _exit(200);
    if (!strstr(birch_errmsg(), "fork")) _exit(201);
    CHILD_RC(birch_sync(db), BIRCH_EFORK);
    birch_stat st;
    CHILD_RC(birch_stat_get(db, &st), BIRCH_EFORK);
    CHILD_RC(birch_check(db, NULL, 0), BIRCH_EFORK);
    if (!strstr(birch_errmsg(), "birch_check:")) _exit(202); /* the call's own name */
    char *copy = bt_path("fork-copy");
    CHILD_RC(birch_copy(db, copy, 0, NULL, NULL), BIRCH_EFORK);
    if (!strstr(birch_errmsg(), "birch_copy:")) _exit(203);
    if (access(copy, F_OK) == 0) _exit(204); /* nothing made */
    free(copy);
    uint64_t k = 1;
    birch_guard g;
    memset(&g, 0, sizeof g);
    CHILD_RC(birch_typed_get(NULL, &ty, &k, &g), BIRCH_EFORK);
    birch_val v = bt_str("x");
    CHILD_RC(birch_typed_put(NULL, &ty, &k, &v, 0), BIRCH_EFORK);
    birch_typed ty2;
    CHILD_RC(birch_typed_open(db, NULL, "typed", &birch_key_u64, &birch_value_bytes, 0, &ty2), BIRCH_EFORK);
    if (!strstr(birch_errmsg(), "birch_typed_open:")) _exit(205);
}

START_TEST(child_begin_gets_efork)
{
    in_child(child_begin, NULL);
    reopen_expect("k", "v0");
}
END_TEST

static void child_close(void *arg)
{
    (void)arg;
    CHILD_RC(birch_close(db), BIRCH_EFORK);
}

START_TEST(child_close_writes_nothing)
{
    /* The last commit is durable but not yet checkpointed: a close in the
     * parent would write the other meta page. */
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", 0), "k", "before");
    BT_OK(birch_txn_commit(w));
    uint64_t size = bt_file_size(path);
    unsigned char *before = malloc(size), *after = malloc(size);
    ck_assert_ptr_nonnull(before);
    ck_assert_ptr_nonnull(after);
    bt_file_read(path, before, size, 0);
    in_child(child_close, NULL);
    ck_assert_uint_eq(bt_file_size(path), size);
    bt_file_read(path, after, size, 0);
    ck_assert_msg(memcmp(before, after, size) == 0, "the child's birch_close changed the file");
    free(before);
    free(after);
    /* The parent goes on: its handle, lock and later commits work. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", 0), "k", "after");
    BT_OK(birch_txn_commit(w));
    /* Another handle shares the file with the parent's and sees its commit. */
    birch_options o = bt_opts();
    birch_db *other = bt_open(path, &o);
    birch_txn *r = bt_begin(other, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "t", 0), "k", "after");
    BT_OK(birch_txn_commit(r));
    BT_OK(birch_close(other));
    reopen_expect("k", "after");
}
END_TEST

/* The child's close frees its copy only: the parent's reader slot (in
 * the lock file the two share) keeps its pin, so writers still keep the
 * parent's snapshot, which reads as it was. */
START_TEST(child_close_keeps_parent_pins)
{
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    uint64_t pinned = birch_txn_id(r);
    in_child(child_close, NULL);
    for (int i = 0; i < 20; i++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        bt_put_s(w, bt_table(w, "t", 0), "k", "overwritten");
        BT_OK(birch_txn_commit(w));
    }
    birch_stat st = bt_stat(db);
    ck_assert_uint_eq(st.readers, 1);
    ck_assert_uint_eq(st.oldest_txnid, pinned);
    bt_expect_s(r, bt_table(r, "t", 0), "k", "v0");
    BT_OK(birch_txn_commit(r));
    reopen_expect("k", "overwritten");
}
END_TEST

typedef struct inherited {
    birch_txn *r;
    birch_table *t;
    birch_cursor *c;
    birch_stream *s_own, *s_txn;
    birch_guard g_own, g_txn;
} inherited;

static void child_reads(void *arg)
{
    inherited *h = arg;
    birch_val v;
    uint64_t n;
    CHILD_RC(birch_get(h->r, h->t, bt_str("k"), &v), BIRCH_EFORK);
    CHILD_RC(birch_count(h->r, h->t, &n), BIRCH_EFORK);
    struct birch_table_stat st;
    CHILD_RC(birch_table_stat(h->r, h->t, &st), BIRCH_EFORK);
    CHILD_RC(birch_cursor_next(h->c), BIRCH_EFORK);
    CHILD_RC(birch_cursor_first(h->c), BIRCH_EFORK);
    birch_item it;
    CHILD_RC(birch_stream_next(h->s_own, &it), BIRCH_EFORK);
    CHILD_RC(birch_stream_next(h->s_txn, &it), BIRCH_EFORK);
    CHILD_RC(birch_guard_release(&h->g_own), BIRCH_EFORK);
    CHILD_RC(birch_guard_release(&h->g_txn), BIRCH_EFORK);
    uint64_t k = 2;
    birch_guard g;
    memset(&g, 0, sizeof g);
    CHILD_RC(birch_typed_get(h->r, &ty, &k, &g), BIRCH_EFORK);
    /* Closing the child's copies frees the child's memory only. */
    birch_cursor_close(h->c);
    birch_stream_close(h->s_own);
    birch_stream_close(h->s_txn);
    birch_txn_abort(h->r);
    CHILD_RC(birch_close(db), BIRCH_EFORK);
}

START_TEST(child_reads_get_efork)
{
    inherited h;
    memset(&h, 0, sizeof h);
    birch_stream_opts so;
    memset(&so, 0, sizeof so);
    uint64_t k = 1;
    h.r = bt_begin(db, BIRCH_TXN_READ);
    h.t = bt_table(h.r, "t", 0);
    BT_OK(birch_cursor_open(h.r, h.t, &h.c));
    BT_OK(birch_cursor_first(h.c));
    BT_OK(birch_stream_open(NULL, &ty, &so, &h.s_own));
    BT_OK(birch_stream_open(h.r, &ty, &so, &h.s_txn));
    BT_OK(birch_typed_get(NULL, &ty, &k, &h.g_own));
    BT_OK(birch_typed_get(h.r, &ty, &k, &h.g_txn));
    in_child(child_reads, &h);
    /* Everything still works in the parent. */
    birch_item it;
    BT_OK(birch_stream_next(h.s_own, &it));
    BT_OK(birch_stream_next(h.s_txn, &it));
    BT_RC(birch_cursor_next(h.c), BIRCH_NOTFOUND); /* one record in t */
    BT_OK(birch_guard_release(&h.g_own));
    BT_OK(birch_guard_release(&h.g_txn));
    birch_stream_close(h.s_own);
    birch_stream_close(h.s_txn);
    birch_cursor_close(h.c);
    bt_expect_s(h.r, h.t, "k", "v0");
    BT_OK(birch_txn_commit(h.r));
}
END_TEST

static void child_own_db(void *arg)
{
    const char *p = arg;
    birch_options o;
    birch_options_init(&o);
    birch_db *mine = NULL;
    CHILD_RC(birch_open(p, &o, &mine), BIRCH_OK);
    birch_txn *w = NULL;
    birch_table *t = NULL;
    CHILD_RC(birch_txn_begin(mine, BIRCH_TXN_WRITE, &w), BIRCH_OK);
    CHILD_RC(birch_table_open(w, "c", BIRCH_CREATE, &t), BIRCH_OK);
    CHILD_RC(birch_put(w, t, bt_str("child"), bt_str("yes"), 0), BIRCH_OK);
    CHILD_RC(birch_txn_commit(w), BIRCH_OK);
    CHILD_RC(birch_close(mine), BIRCH_OK);
    CHILD_RC(birch_close(db), BIRCH_EFORK); /* the inherited one, freed */
}

START_TEST(db_opened_in_child_works)
{
    char *p2 = bt_path("fork-child");
    in_child(child_own_db, p2);
    birch_options o = bt_opts();
    birch_db *d2 = bt_open(p2, &o);
    birch_txn *r = bt_begin(d2, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "c", 0), "child", "yes");
    BT_OK(birch_txn_commit(r));
    BT_OK(birch_close(d2));
    bt_remove(p2);
    free(p2);
}
END_TEST

static void child_pid_check(void *arg)
{
    birch_txn *w = arg, *t = NULL;
    CHILD_RC(birch_txn_begin(db, BIRCH_TXN_READ, &t), BIRCH_EFORK);
    CHILD_RC(birch_txn_commit(w), BIRCH_EFORK);
    CHILD_RC(birch_sync(db), BIRCH_EFORK);
    CHILD_RC(birch_close(db), BIRCH_EFORK);
}

/* Kernels without MADV_WIPEONFORK (before Linux 4.14): the header page is
 * inherited as it is, and begin, commit, sync and close compare the pid
 * recorded at open instead.  Simulated by undoing the wipe on the page. */
START_TEST(pid_check_without_wipeonfork)
{
#ifdef MADV_KEEPONFORK
    ck_assert_int_eq(madvise(db->tok_first, (size_t)sysconf(_SC_PAGESIZE), MADV_KEEPONFORK), 0);
    atomic_store(&db->tok_wiped, 0);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", 0), "k", "parent");
    in_child(child_pid_check, w);
    BT_OK(birch_txn_commit(w));
    reopen_expect("k", "parent");
#endif
}
END_TEST

/* A child that stays alive after fork(): it runs fn (if any), tells the
 * parent through the ready pipe, then waits until the parent closes its
 * end of the release pipe.  With exec set it runs cat on that pipe
 * instead, as a program started by the application would; the ready pipe
 * is then close-on-exec, so the parent's read ends (0 bytes) only once the
 * exec has happened. */
typedef struct sleeper {
    pid_t pid;
    int release; /* the parent's write end: closing it ends the child */
} sleeper;

static sleeper sleeper_start(void (*fn)(void *), int exec)
{
    int ready[2], release[2];
    ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe(release), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(ready[0]);
        close(release[1]);
        if (fn) fn(NULL);
        if (exec) { /* cat exits at the end of its input: the parent's close */
            if (dup2(release[0], STDIN_FILENO) < 0) _exit(2);
            execlp("cat", "cat", (char *)NULL);
            _exit(4);
        }
        if (write(ready[1], "x", 1) != 1) _exit(3);
        char c;
        while (read(release[0], &c, 1) > 0) {
        }
        _exit(0);
    }
    close(ready[1]);
    close(release[0]);
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), exec ? 0 : 1);
    close(ready[0]);
    return (sleeper){pid, release[1]};
}

static void sleeper_end(sleeper s)
{
    close(s.release);
    int status = 0;
    ck_assert_int_eq(waitpid(s.pid, &status, 0), s.pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %#x): see stderr",
                  status);
}

/* The parent closes its handle and opens the file again while the child
 * lives; returns what the open gave (db is the new handle if BIRCH_OK). */
static int parent_reopen_closed(void)
{
    birch_options o = bt_opts();
    return birch_open(path, &o, &db);
}

static void child_close_only(void *arg)
{
    (void)arg;
    CHILD_RC(birch_close(db), BIRCH_EFORK);
}

/* A child that goes on without exec closes its inherited handle: that
 * drops its reference to the open file descriptions (descriptors and
 * maps), so once the parent closes too no handle has the file open: the
 * parent's new handle builds the lock file afresh, and compaction, which
 * needs the file alone, runs while the child still does. */
START_TEST(child_close_lets_parent_reopen)
{
    sleeper s = sleeper_start(child_close_only, 0);
    BT_OK(birch_close(db));
    db = NULL;
    BT_OK(birch_compact(path, NULL, NULL, NULL));
    BT_OK(parent_reopen_closed());
    reopen_expect("k", "v0");
    sleeper_end(s);
}
END_TEST

/* A child that neither closes nor execs keeps the parent's open alive
 * through the shared open file descriptions: the parent still reopens
 * (handles share the file), but compaction, which needs the file alone,
 * is BIRCH_EBUSY until the child exits.  (The rule birch.h states.) */
START_TEST(child_without_close_holds_the_lock)
{
    sleeper s = sleeper_start(NULL, 0);
    BT_OK(birch_close(db));
    db = NULL;
    BT_RC(birch_compact(path, NULL, NULL, NULL), BIRCH_EBUSY);
    BT_OK(parent_reopen_closed());
    reopen_expect("k", "v0");
    sleeper_end(s);
    BT_OK(birch_close(db));
    db = NULL;
    BT_OK(birch_compact(path, NULL, NULL, NULL));
    BT_OK(parent_reopen_closed());
    reopen_expect("k", "v0");
}
END_TEST

/* The descriptor is O_CLOEXEC: a child that execs another program does not
 * take the database file, or its lock, with it.  Both descriptors: the one
 * birch_open created the file with (setup) and the one of an open of an
 * existing file. */
START_TEST(exec_drops_the_descriptor)
{
    for (int round = 0; round < 2; round++) {
        sleeper s = sleeper_start(NULL, 1);
        BT_OK(birch_close(db));
        db = NULL;
        BT_OK(birch_compact(path, NULL, NULL, NULL)); /* nobody else has the file open */
        BT_OK(parent_reopen_closed());
        sleeper_end(s);
    }
    reopen_expect("k", "v0");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fork");
    TCase *tc = bt_tcase("fork");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, child_commit_through_inherited_txn);
    tcase_add_test(tc, child_begin_gets_efork);
    tcase_add_test(tc, child_close_writes_nothing);
    tcase_add_test(tc, child_close_keeps_parent_pins);
    tcase_add_test(tc, child_reads_get_efork);
    tcase_add_test(tc, db_opened_in_child_works);
    tcase_add_test(tc, pid_check_without_wipeonfork);
    tcase_add_test(tc, child_close_lets_parent_reopen);
    tcase_add_test(tc, child_without_close_holds_the_lock);
    tcase_add_test(tc, exec_drops_the_descriptor);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return bt_run(suite());
}
