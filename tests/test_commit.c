/*
 * test_commit.c - empty commits (issue 11, item 9): a write transaction
 * that changed nothing writes nothing at commit, in both durability modes.
 *
 * The database runs on the fault layer (faultio.c), whose counters see
 * every write, sync and resize the engine issues.  After a first commit
 * that fills two tables (small records, a value of several pages, a
 * schema, a typed table), write transactions that change nothing commit:
 * one doing nothing, one that only reads (gets, counts, cursor scans both
 * ways, the table list, schemas, and BIRCH_CREATE opens of tables that
 * exist, typed included), and one whose every change is refused before it
 * starts (key exists, APPEND out of order, missing key or table, bad key
 * or value size).  After each:
 *   - the layer saw no write, no sync and no resize;
 *   - the file is byte for byte what it was;
 *   - the transaction id was not consumed: birch_stat's id did not move
 *     and the next write transaction gets the same birch_txn_id, which
 *     the next real commit then takes.
 * Also: a put undone by a del is not empty (it copied pages) and commits
 * as usual; with BIRCH_DURABLE_NONE, an empty commit that comes when a
 * checkpoint is due writes nothing either, and the next real commit is
 * the durable one.
 */
#include "faultio.c"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

/* The layer's calls that change the file. */
typedef struct io_count {
    long writes, syncs, resizes;
} io_count;

static io_count counted(const fio *f)
{
    return (io_count){f->calls[FIO_WRITE], f->calls[FIO_SYNC], f->calls[FIO_RESIZE]};
}

static uint8_t *file_bytes(const char *path, uint64_t *len)
{
    *len = bt_file_size(path);
    uint8_t *buf = malloc(*len ? *len : 1);
    ck_assert_ptr_nonnull(buf);
    if (*len) bt_file_read(path, buf, *len, 0);
    return buf;
}

/* A database on the fault layer, and what it held after the first commit. */
typedef struct ec {
    char *path;
    fio f;
    birch_db *db;
    int durability;
    birch_typed typed;
    uint8_t *bytes;
    uint64_t len;
    io_count io;
    uint64_t txnid;
} ec;

static const char big_seed_key[] = "big";
enum { NREC = 300, BIG = 5 * 4096 + 123 };

static void ec_open(ec *e, int durability)
{
    memset(e, 0, sizeof *e);
    e->path = bt_path("empty");
    e->durability = durability;
    fio_init(&e->f, 1);
    birch_options o = bt_opts();
    o.durability = durability;
    BT_OK(bi_open_io(e->path, &o, &e->f.io, &e->db));
    birch_txn *w = bt_begin(e->db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    for (int i = 0; i < NREC; i++) {
        char k[16], v[40];
        snprintf(k, sizeof k, "k%05d", i);
        snprintf(v, sizeof v, "value of record %d", i);
        bt_put_s(w, t, k, v);
    }
    static uint8_t big[BIG];
    bt_pattern(big, sizeof big, 7);
    bt_put(w, t, big_seed_key, sizeof big_seed_key - 1, big, sizeof big);
    birch_table *u = bt_table(w, "u", BIRCH_CREATE);
    BT_OK(birch_table_set_schema(w, u, bt_str("schema of u")));
    BT_OK(birch_typed_open(e->db, w, "typed", &birch_key_u64, &birch_value_bytes, BIRCH_CREATE, &e->typed));
    uint64_t key = 42;
    BT_OK(birch_typed_put(w, &e->typed, &key, &(birch_val){"forty-two", 9}, 0));
    BT_OK(birch_txn_commit(w));
}

/* Remembers the file, the layer's counts and the last id. */
static void ec_mark(ec *e)
{
    free(e->bytes);
    e->bytes = file_bytes(e->path, &e->len);
    e->io = counted(&e->f);
    e->txnid = bt_stat(e->db).txnid;
}

/* Nothing was written since ec_mark. */
static void ec_unchanged(ec *e, const char *what)
{
    const char *mode = e->durability == BIRCH_DURABLE_FULL ? "FULL" : "NONE";
    io_count now = counted(&e->f);
    ck_assert_msg(now.writes == e->io.writes && now.syncs == e->io.syncs && now.resizes == e->io.resizes,
                  "%s (%s): an empty commit issued %ld writes, %ld syncs, %ld resizes", what, mode,
                  now.writes - e->io.writes, now.syncs - e->io.syncs, now.resizes - e->io.resizes);
    uint64_t len;
    uint8_t *bytes = file_bytes(e->path, &len);
    ck_assert_msg(len == e->len, "%s (%s): the file changed size", what, mode);
    ck_assert_msg(memcmp(bytes, e->bytes, len) == 0, "%s (%s): the file changed", what, mode);
    free(bytes);
    ck_assert_msg(bt_stat(e->db).txnid == e->txnid, "%s (%s): the empty commit took id %" PRIu64, what,
                  mode, bt_stat(e->db).txnid);
}

static void ec_close(ec *e)
{
    bt_check(e->db);
    BT_OK(birch_close(e->db));
    fio_free(&e->f);
    bt_remove(e->path);
    free(e->path);
    free(e->bytes);
}

static int list_count(const char *name, void *ctx)
{
    (void)name;
    ++*(int *)ctx;
    return 0;
}

/* Reads everything there is to read. */
static void read_all(ec *e, birch_txn *w)
{
    birch_table *t = bt_table(w, "t", BIRCH_CREATE); /* exists: no change */
    bt_expect_s(w, t, "k00007", "value of record 7");
    ck_assert_uint_eq(bt_count(w, t), NREC + 1);
    birch_cursor *c;
    BT_OK(birch_cursor_open(w, t, &c));
    int n = 0;
    while (birch_cursor_next(c) == BIRCH_OK) n++;
    ck_assert_int_eq(n, NREC + 1);
    while (birch_cursor_prev(c) == BIRCH_OK) n--;
    ck_assert_int_eq(n, 0);
    BT_OK(birch_cursor_seek(c, bt_str(big_seed_key)));
    birch_val v;
    BT_OK(birch_cursor_get(c, NULL, &v));
    ck_assert_uint_eq(v.size, BIG);
    birch_cursor_close(c);
    int tables = 0;
    BT_OK(birch_table_list(w, list_count, &tables));
    ck_assert_int_eq(tables, 3);
    birch_table *u = bt_table(w, "u", BIRCH_CREATE);
    BT_OK(birch_table_schema(w, u, &v));
    ck_assert_uint_eq(v.size, strlen("schema of u"));
    birch_typed again;
    BT_OK(birch_typed_open(e->db, w, "typed", &birch_key_u64, &birch_value_bytes, BIRCH_CREATE, &again));
    uint64_t absent = 43;
    ck_assert_int_eq(birch_typed_delete(w, &again, &absent), 0); /* nothing to delete: no change */
}

/* Tries changes that are all refused before anything changes. */
static void refused_all(birch_txn *w)
{
    birch_table *t = bt_table(w, "t", 0);
    BT_RC(birch_put(w, t, bt_str("k00001"), bt_str("x"), BIRCH_NOOVERWRITE), BIRCH_EXISTS);
    BT_RC(birch_put(w, t, bt_str("a"), bt_str("x"), BIRCH_APPEND), BIRCH_EXISTS);
    BT_RC(birch_del(w, t, bt_str("no such key")), BIRCH_NOTFOUND);
    BT_RC(birch_put(w, t, bt_val("", 0), bt_str("x"), 0), BIRCH_EKEYSIZE);
    static char huge_key[70000];
    BT_RC(birch_put(w, t, bt_val(huge_key, sizeof huge_key), bt_str("x"), 0), BIRCH_EKEYSIZE);
    if (sizeof(size_t) > 4)
        BT_RC(birch_put(w, t, bt_str("k"), bt_val("x", (size_t)BIRCH_MAX_VALUE_SIZE + 1), 0), BIRCH_EVALSIZE);
    BT_RC(birch_table_drop(w, "missing"), BIRCH_NOTFOUND);
    birch_table *m = NULL;
    BT_RC(birch_table_open(w, "missing", 0, &m), BIRCH_NOTFOUND);
    BT_RC(birch_table_open(w, "", BIRCH_CREATE, &m), BIRCH_EINVAL);
}

enum { EMPTY_NOTHING, EMPTY_READS, EMPTY_REFUSALS, EMPTY_KINDS };
static const char *const empty_name[EMPTY_KINDS] = {"a transaction that does nothing",
                                                    "a transaction that only reads",
                                                    "a transaction whose changes were all refused"};

static void empty_commits(int durability)
{
    ec e;
    ec_open(&e, durability);
    ec_mark(&e);
    for (int round = 0; round < 2; round++) {
        for (int kind = 0; kind < EMPTY_KINDS; kind++) {
            birch_txn *w = bt_begin(e.db, BIRCH_TXN_WRITE);
            ck_assert_msg(birch_txn_id(w) == e.txnid + 1, "%s: birch_txn_id %" PRIu64 ", expected %" PRIu64
                          " (earlier empty commits must not consume ids)", empty_name[kind], birch_txn_id(w),
                          e.txnid + 1);
            if (kind == EMPTY_READS) read_all(&e, w);
            if (kind == EMPTY_REFUSALS) refused_all(w);
            BT_OK(birch_txn_commit(w));
            ec_unchanged(&e, empty_name[kind]);
        }
    }
    /* The typed layer's own transaction (txn NULL): an open with CREATE of
     * a table that exists. */
    birch_typed t2;
    BT_OK(birch_typed_open(e.db, NULL, "typed", &birch_key_u64, &birch_value_bytes, BIRCH_CREATE, &t2));
    ec_unchanged(&e, "birch_typed_open(txn NULL, BIRCH_CREATE) of an existing table");

    /* The next real commit takes the id the empty ones left. */
    birch_txn *w = bt_begin(e.db, BIRCH_TXN_WRITE);
    ck_assert_uint_eq(birch_txn_id(w), e.txnid + 1);
    bt_put_s(w, bt_table(w, "t", 0), "new", "record");
    BT_OK(birch_txn_commit(w));
    ck_assert_uint_eq(bt_stat(e.db).txnid, e.txnid + 1);
    io_count now = counted(&e.f);
    ck_assert_msg(now.writes > e.io.writes, "a commit that changed something wrote nothing");
    if (durability == BIRCH_DURABLE_FULL) ck_assert_msg(now.syncs > e.io.syncs, "a durable commit did not sync");

    /* A put undone by a del copied pages: it commits as any change. */
    ec_mark(&e);
    w = bt_begin(e.db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", 0);
    bt_put_s(w, t, "fleeting", "x");
    BT_OK(birch_del(w, t, bt_str("fleeting")));
    BT_OK(birch_txn_commit(w));
    ck_assert_uint_eq(bt_stat(e.db).txnid, e.txnid + 1);
    birch_txn *r = bt_begin(e.db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    bt_expect_absent(r, t, "fleeting", 8);
    bt_expect_s(r, t, "new", "record");
    ck_assert_uint_eq(bt_count(r, t), NREC + 2);
    birch_txn_abort(r);
    ec_close(&e);
}

START_TEST(empty_commits_write_nothing_full) { empty_commits(BIRCH_DURABLE_FULL); }
END_TEST
START_TEST(empty_commits_write_nothing_none) { empty_commits(BIRCH_DURABLE_NONE); }
END_TEST

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int current_meta_weak(const char *path)
{
    bi_meta m;
    bt_meta_read(path, bt_meta_current(path), &m);
    return (m.flags & BI_META_WEAK) != 0;
}

/* BIRCH_DURABLE_NONE: a checkpoint is due (the last durable commit is more
 * than a second old) when an empty commit comes.  It still writes nothing
 * (the flusher of a file opened with birch_open covers the checkpoint; this
 * layer has none), and the next commit that changes something is durable. */
START_TEST(empty_commit_skips_a_due_checkpoint)
{
    ec e;
    ec_open(&e, BIRCH_DURABLE_NONE);
    BT_OK(birch_sync(e.db)); /* the last durable commit is now */
    birch_txn *w = bt_begin(e.db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", 0), "weak", "1");
    BT_OK(birch_txn_commit(w));
    ck_assert_msg(current_meta_weak(e.path), "a commit right after birch_sync is not durable");
    ec_mark(&e);
    sleep_ms(1100); /* more than BI_CHECKPOINT_MS: a checkpoint is due */
    w = bt_begin(e.db, BIRCH_TXN_WRITE);
    BT_OK(birch_txn_commit(w));
    ec_unchanged(&e, "an empty commit with a checkpoint due");
    ck_assert_msg(current_meta_weak(e.path), "the empty commit made the last commit durable");
    w = bt_begin(e.db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", 0), "durable", "2");
    BT_OK(birch_txn_commit(w));
    ck_assert_msg(!current_meta_weak(e.path), "the commit after a due checkpoint is durable");
    ck_assert_msg(counted(&e.f).syncs > e.io.syncs, "the durable commit synced");
    ec_close(&e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("commit");
    TCase *tc = bt_tcase("commit");
    tcase_add_test(tc, empty_commits_write_nothing_full);
    tcase_add_test(tc, empty_commits_write_nothing_none);
    tcase_add_test(tc, empty_commit_skips_a_due_checkpoint);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
