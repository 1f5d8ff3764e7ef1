/*
 * test_feed.c - the change feed (birch.h, "The change feed"): a randomized
 * workload (puts, reserved values, deletes, range deletes, cursor changes,
 * multimap changes, tables created, dropped and renamed, schemas,
 * sequences, savepoints, nested transactions that commit or abort, refused
 * changes, transactions that abort) whose feed, replayed batch by batch
 * into a second database, reproduces the first after every commit and in
 * `birch dump` at the end (seeded; the seed is in every failure); the hook's
 * ids, order and what it may do (read; not write, sync, close or change
 * the hook); the ids-only mode; no call for what
 * commits nothing; bad arguments.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"
#include "support.h"

static char *path, *path2;

static void setup(void)
{
    path = bt_path("feed");
    path2 = bt_path("feed2");
}

static void teardown(void)
{
    bt_remove(path);
    bt_remove(path2);
    free(path);
    free(path2);
}

/* ---- What the hook was given ------------------------------------------------ */

typedef struct feed {
    uint64_t *ids;
    birch_val *batches; /* copies */
    size_t n, cap;
} feed;

static void record(uint64_t txnid, birch_val changes, void *ctx)
{
    feed *f = ctx;
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        f->ids = realloc(f->ids, f->cap * sizeof *f->ids);
        f->batches = realloc(f->batches, f->cap * sizeof *f->batches);
        ck_assert(f->ids && f->batches);
    }
    void *copy = malloc(changes.size ? changes.size : 1);
    ck_assert_ptr_nonnull(copy);
    if (changes.size) memcpy(copy, changes.data, changes.size);
    f->ids[f->n] = txnid;
    f->batches[f->n++] = bt_val(copy, changes.size);
}

static void feed_free(feed *f)
{
    for (size_t i = 0; i < f->n; i++) free((void *)f->batches[i].data);
    free(f->ids);
    free(f->batches);
    memset(f, 0, sizeof *f);
}

/* ---- A database's whole state as text ------------------------------------- */

typedef struct text {
    char *s;
    size_t n, cap;
    birch_txn *txn;
} text;

static void add(text *t, const void *p, size_t n)
{
    if (t->n + n + 1 > t->cap) {
        while (t->n + n + 1 > t->cap) t->cap = t->cap ? 2 * t->cap : 4096;
        t->s = realloc(t->s, t->cap);
        ck_assert_ptr_nonnull(t->s);
    }
    memcpy(t->s + t->n, p, n);
    t->n += n;
    t->s[t->n] = 0;
}

static void add_hex(text *t, birch_val v)
{
    char h[3];
    for (size_t i = 0; i < v.size; i++) {
        snprintf(h, sizeof h, "%02x", ((const uint8_t *)v.data)[i]);
        add(t, h, 2);
    }
    add(t, "\n", 1);
}

static int state_table(const char *name, void *c)
{
    text *t = c;
    birch_table *tb;
    birch_cursor *cur;
    unsigned flags;
    uint64_t seq;
    birch_val schema;
    char line[128];
    BT_OK(birch_table_open(t->txn, name, 0, &tb));
    BT_OK(birch_table_flags(t->txn, tb, &flags));
    BT_OK(birch_sequence_get(t->txn, tb, &seq));
    BT_OK(birch_table_schema(t->txn, tb, &schema));
    add(t, "table ", 6);
    add(t, name, strlen(name));
    snprintf(line, sizeof line, " flags %u sequence %llu schema ", flags, (unsigned long long)seq);
    add(t, line, strlen(line));
    add_hex(t, schema);
    BT_OK(birch_cursor_open(t->txn, tb, &cur));
    for (int rc = birch_cursor_first(cur); rc == BIRCH_OK; rc = birch_cursor_next(cur)) {
        birch_val k, v;
        BT_OK(birch_cursor_get(cur, &k, &v));
        add_hex(t, k);
        add_hex(t, v);
    }
    birch_cursor_close(cur);
    return 0;
}

static int state_savepoint(const birch_savepoint_info *sp, void *c)
{
    add(c, "savepoint ", 10);
    add(c, sp->name, strlen(sp->name));
    add(c, "\n", 1);
    return 0;
}

/* Every table (kind, sequence, schema, records) and savepoint name. */
static char *state_of(birch_db *d)
{
    text t = {NULL, 0, 0, NULL};
    add(&t, "", 0);
    BT_OK(birch_txn_begin(d, BIRCH_TXN_READ, &t.txn));
    ck_assert_int_eq(birch_table_list(t.txn, state_table, &t), 0);
    ck_assert_int_eq(birch_savepoint_list(t.txn, state_savepoint, &t), 0);
    birch_txn_abort(t.txn);
    return t.s;
}

/* ---- The workload ------------------------------------------------------------- */

static const char *const NAMES[] = {"a", "b", "c", "m", "n"};
static const char *const SAVEPOINTS[] = {"s1", "s2", "s3"};
#define NNAMES 5
#define NKEYS 40

typedef struct run {
    bt_rng r;
    uint64_t seed;
    int iter;
} run;

static birch_val rkey(run *w, char buf[8])
{
    snprintf(buf, 8, "k%02u", (unsigned)bt_below(&w->r, NKEYS));
    return bt_str(buf);
}

static birch_val rval(run *w, uint8_t *buf, size_t max)
{
    size_t n = bt_chance(&w->r, 3) ? max : (size_t)bt_below(&w->r, 40);
    bt_fill(&w->r, buf, n);
    return bt_val(buf, n);
}

static void ok_or(run *w, int rc, const char *what)
{
    ck_assert_msg(rc == BIRCH_OK || rc == BIRCH_NOTFOUND || rc == BIRCH_EXISTS || rc == BIRCH_ESCHEMA ||
                      rc == BIRCH_EINVAL,
                  "seed %llu iteration %d: %s: %d (%s)", (unsigned long long)w->seed, w->iter, what, rc,
                  birch_errmsg());
}

static void random_ops(run *w, birch_txn *txn, int depth, int n);

/* Opens table name, creating it (plain or multimap) when create is set. */
static int table(birch_txn *txn, const char *name, unsigned flags, birch_table **t)
{
    return birch_table_open(txn, name, flags, t);
}

static void cursor_change(run *w, birch_txn *txn, const char *name)
{
    birch_table *t;
    birch_cursor *cur;
    char kb[8];
    if (table(txn, name, 0, &t)) return;
    BT_OK(birch_cursor_open(txn, t, &cur));
    int rc = birch_cursor_seek(cur, rkey(w, kb));
    unsigned flags = 0;
    if (rc == BIRCH_OK) BT_OK(birch_table_flags(txn, t, &flags));
    if (rc == BIRCH_OK && (bt_chance(&w->r, 60) || (flags & BIRCH_MULTIMAP))) ok_or(w, birch_cursor_del(cur), "cursor_del");
    else if (rc == BIRCH_OK) ok_or(w, birch_cursor_put(cur, bt_val(NULL, 0), bt_str("via cursor"), BIRCH_CURRENT), "cursor_put");
    birch_cursor_close(cur);
}

static void savepoint_change(run *w, birch_txn *txn)
{
    const char *sp = SAVEPOINTS[bt_below(&w->r, 3)];
    switch (bt_below(&w->r, 4)) {
    case 0:
    case 1: ok_or(w, birch_savepoint_create(txn, sp), "savepoint_create"); break;
    case 2: ok_or(w, birch_savepoint_restore(txn, sp), "savepoint_restore"); break;
    default: ok_or(w, birch_savepoint_drop(txn, sp), "savepoint_drop"); break;
    }
}

static void random_op(run *w, birch_txn *txn, int depth)
{
    static uint8_t vb[3000]; /* some values take overflow pages */
    char kb[8], kb2[8], mv[2] = {(char)('1' + bt_below(&w->r, 3)), 0};
    const char *name = NAMES[bt_below(&w->r, NNAMES)];
    birch_table *t;
    birch_val k = rkey(w, kb);
    uint64_t n;
    int rc;
    switch (bt_below(&w->r, 23)) {
    case 0: case 1: case 2: case 3: case 4:
        if ((rc = table(txn, name, BIRCH_CREATE, &t)) == BIRCH_OK)
            rc = birch_put(txn, t, k, rval(w, vb, sizeof vb), bt_chance(&w->r, 10) ? BIRCH_NOOVERWRITE : 0);
        ok_or(w, rc, "put");
        break;
    case 5: {
        void *p;
        birch_val v = rval(w, vb, sizeof vb);
        if ((rc = table(txn, name, BIRCH_CREATE, &t)) == BIRCH_OK && (rc = birch_put_reserve(txn, t, k, v.size, 0, &p)) == BIRCH_OK)
            memcpy(p, v.data, v.size); /* recorded at the next change */
        ok_or(w, rc, "put_reserve");
        break;
    }
    case 6: case 7:
        if ((rc = table(txn, name, 0, &t)) == BIRCH_OK) rc = birch_del(txn, t, k);
        ok_or(w, rc, "del");
        break;
    case 8: {
        birch_val k2 = rkey(w, kb2), lo = k, hi = k2;
        if (memcmp(kb, kb2, 3) > 0) lo = k2, hi = k;
        if (bt_chance(&w->r, 20)) lo = bt_val(NULL, 0);
        if ((rc = table(txn, name, 0, &t)) == BIRCH_OK) rc = birch_del_range(txn, t, lo, hi, &n);
        ok_or(w, rc, "del_range");
        break;
    }
    case 9: cursor_change(w, txn, name); break;
    case 10: case 11:
        if ((rc = table(txn, name, BIRCH_CREATE | BIRCH_MULTIMAP, &t)) == BIRCH_OK)
            rc = birch_multi_put(txn, t, k, bt_str(mv), 0);
        ok_or(w, rc, "multi_put");
        break;
    case 12:
        if ((rc = table(txn, name, 0, &t)) == BIRCH_OK) rc = birch_multi_del(txn, t, k, bt_str(mv));
        ok_or(w, rc, "multi_del");
        break;
    case 13:
        if ((rc = table(txn, name, 0, &t)) == BIRCH_OK) rc = birch_multi_del_all(txn, t, k, &n);
        ok_or(w, rc, "multi_del_all");
        break;
    case 14: ok_or(w, table(txn, name, BIRCH_CREATE | (bt_chance(&w->r, 50) ? BIRCH_MULTIMAP : 0), &t), "create"); break;
    case 15: ok_or(w, birch_table_drop(txn, name), "drop"); break;
    case 16: ok_or(w, birch_table_rename(txn, name, NAMES[bt_below(&w->r, NNAMES)]), "rename"); break;
    case 17:
        if ((rc = table(txn, name, 0, &t)) == BIRCH_OK) rc = birch_table_set_schema(txn, t, rval(w, vb, 64));
        ok_or(w, rc, "set_schema");
        break;
    case 18:
        if ((rc = table(txn, name, 0, &t)) == BIRCH_OK)
            rc = bt_chance(&w->r, 50) ? birch_sequence_next(txn, t, &n) : birch_sequence_set(txn, t, bt_rand(&w->r));
        ok_or(w, rc, "sequence");
        break;
    case 19: savepoint_change(w, txn); break;
    case 20:
        if ((rc = table(txn, name, 0, &t)) == BIRCH_OK) rc = birch_put(txn, t, bt_val(NULL, 0), bt_str("v"), 0);
        ck_assert(rc != BIRCH_OK); /* refused: nothing recorded */
        break;
    default:
        if (depth < 3) {
            birch_txn *child;
            BT_OK(birch_txn_begin_nested(txn, &child));
            random_ops(w, child, depth + 1, (int)bt_range(&w->r, 1, 6));
            if (bt_chance(&w->r, 35)) birch_txn_abort(child);
            else BT_OK(birch_txn_commit(child));
        }
        break;
    }
}

static void random_ops(run *w, birch_txn *txn, int depth, int n)
{
    for (int i = 0; i < n; i++) random_op(w, txn, depth);
}

static void apply_all(birch_db *d, const feed *f, size_t from)
{
    for (size_t i = from; i < f->n; i++) {
        birch_txn *txn;
        BT_OK(birch_txn_begin(d, BIRCH_TXN_WRITE, &txn));
        BT_OK(birch_batch_apply(txn, f->batches[i]));
        BT_OK(birch_txn_commit(txn));
    }
}

static char *dump_of(const char *file)
{
    char *out;
    int code = bt_sh(&out, NULL, "%s dump %s | grep -v '^mapsize='", bt_tool_path(), file);
    ck_assert_msg(code == 0, "birch dump %s failed", file);
    return out;
}

START_TEST(replay_reproduces_the_database)
{
    run w = {{0}, bt_seed(0xfeed), 0};
    w.r.s = w.seed;
    fprintf(stderr, "replay_reproduces_the_database: seed %llu (BIRCH_SEED)\n", (unsigned long long)w.seed);
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o), *db2 = bt_open(path2, &o);
    feed f = {0};
    BT_OK(birch_on_commit(db, record, &f));
    int commits = 0;
    for (w.iter = 0; w.iter < 400; w.iter++) {
        birch_txn *txn;
        BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
        random_ops(&w, txn, 0, (int)bt_range(&w.r, 1, 10));
        uint64_t id = birch_txn_id(txn);
        size_t had = f.n;
        if (bt_chance(&w.r, 15)) {
            birch_txn_abort(txn);
            ck_assert_msg(f.n == had, "seed %llu iteration %d: an abort called the hook", (unsigned long long)w.seed, w.iter);
            continue;
        }
        BT_OK(birch_txn_commit(txn));
        ck_assert_msg(f.n <= had + 1, "seed %llu iteration %d: %zu calls for one commit", (unsigned long long)w.seed,
                      w.iter, f.n - had);
        if (f.n == had) continue; /* it changed nothing */
        commits++;
        ck_assert_msg(f.ids[had] == id, "seed %llu iteration %d: the hook's id %llu, the transaction's %llu",
                      (unsigned long long)w.seed, w.iter, (unsigned long long)f.ids[had], (unsigned long long)id);
        ck_assert(had == 0 || f.ids[had] > f.ids[had - 1]);
        apply_all(db2, &f, had);
        char *a = state_of(db), *b = state_of(db2);
        ck_assert_msg(strcmp(a, b) == 0, "seed %llu iteration %d: the replica differs\nsource:\n%s\nreplica:\n%s",
                      (unsigned long long)w.seed, w.iter, a, b);
        free(a);
        free(b);
    }
    ck_assert_msg(commits > 200, "seed %llu: only %d commits", (unsigned long long)w.seed, commits);
    feed_free(&f);
    BT_OK(birch_close(db));
    BT_OK(birch_close(db2));
    char *a = dump_of(path), *b = dump_of(path2);
    ck_assert_msg(strcmp(a, b) == 0, "seed %llu: birch dump differs", (unsigned long long)w.seed);
    ck_assert(strlen(a) > 100);
    free(a);
    free(b);
}
END_TEST

/* ---- The hook's contract ------------------------------------------------------ */

typedef struct inside {
    birch_db *db;
    birch_txn *committing; /* the transaction whose commit calls the hook */
    int put_rc, commit_rc;
    birch_table *t;
    int calls, saw, begin_rc, set_rc, sync_rc, close_rc;
    uint64_t id;
} inside;

static void look_inside(uint64_t txnid, birch_val changes, void *ctx)
{
    inside *in = ctx;
    (void)changes;
    in->calls++;
    in->id = txnid;
    birch_txn *r, *w = NULL;
    BT_OK(birch_txn_begin(in->db, BIRCH_TXN_READ, &r));
    birch_val v;
    in->saw = birch_get(r, in->t, bt_str("k"), &v) == BIRCH_OK && v.size == 3 && memcmp(v.data, "new", 3) == 0;
    ck_assert_uint_eq(birch_txn_id(r), txnid);
    birch_txn_abort(r);
    in->begin_rc = birch_txn_begin(in->db, BIRCH_TXN_WRITE, &w);
    in->set_rc = birch_on_commit(in->db, NULL, NULL);
    in->sync_rc = birch_sync(in->db);
    in->close_rc = birch_close(in->db);
    if (in->committing) { /* it has ended: every use is BIRCH_ETXN, an abort nothing */
        in->put_rc = birch_put(in->committing, in->t, bt_str("late"), bt_str("v"), 0);
        in->commit_rc = birch_txn_commit(in->committing);
        birch_txn_abort(in->committing);
    }
}

/* The hook runs after the commit is visible, before commit returns, with
 * the commit's id; from it, a write transaction or a change of hook gets
 * BIRCH_EBUSY. */
START_TEST(hook_sees_the_commit)
{
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    birch_txn *txn;
    inside in = {db, NULL, 0, 0, NULL, 0, 0, 0, 0, 0, 0, 0};
    BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    BT_OK(birch_table_open(txn, "t", BIRCH_CREATE, &in.t));
    BT_OK(birch_txn_commit(txn));
    BT_OK(birch_on_commit(db, look_inside, &in));
    BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    BT_OK(birch_put(txn, in.t, bt_str("k"), bt_str("new"), 0));
    uint64_t id = birch_txn_id(txn);
    in.committing = txn;
    BT_OK(birch_txn_commit(txn));
    ck_assert_int_eq(in.put_rc, BIRCH_ETXN);
    ck_assert_int_eq(in.commit_rc, BIRCH_ETXN);
    in.committing = NULL;
    ck_assert_int_eq(in.calls, 1);
    ck_assert_uint_eq(in.id, id);
    ck_assert_msg(in.saw, "a read transaction in the hook did not see the commit");
    ck_assert_int_eq(in.begin_rc, BIRCH_EBUSY);
    ck_assert_int_eq(in.set_rc, BIRCH_EBUSY);
    ck_assert_int_eq(in.sync_rc, BIRCH_EBUSY);
    ck_assert_int_eq(in.close_rc, BIRCH_ETXN); /* the committing transaction is still open */
    /* Nothing changed, an abort, a failed change alone: no call. */
    BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    BT_OK(birch_txn_commit(txn));
    BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    BT_OK(birch_put(txn, in.t, bt_str("k2"), bt_str("v"), 0));
    birch_txn_abort(txn);
    BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    BT_RC(birch_put(txn, in.t, bt_str("k"), bt_str("v"), BIRCH_NOOVERWRITE), BIRCH_EXISTS);
    BT_RC(birch_del(txn, in.t, bt_str("absent")), BIRCH_NOTFOUND);
    BT_OK(birch_txn_commit(txn));
    ck_assert_int_eq(in.calls, 1);
    /* Removed: no call; a thread holding a write transaction cannot set it. */
    BT_OK(birch_on_commit(db, NULL, NULL));
    BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    BT_RC(birch_on_commit(db, look_inside, &in), BIRCH_EBUSY);
    BT_OK(birch_put(txn, in.t, bt_str("k3"), bt_str("v"), 0));
    BT_OK(birch_txn_commit(txn));
    ck_assert_int_eq(in.calls, 1);
    BT_OK(birch_close(db));
}
END_TEST

/* BIRCH_ON_COMMIT_IDS: every commit's id, no batch. */
START_TEST(ids_only)
{
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    feed f = {0};
    BT_OK(birch_on_commit_flags(db, BIRCH_ON_COMMIT_IDS, record, &f));
    uint64_t ids[5];
    for (int i = 0; i < 5; i++) {
        birch_txn *txn;
        birch_table *t;
        BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
        BT_OK(birch_table_open(txn, "t", BIRCH_CREATE, &t));
        BT_OK(birch_put(txn, t, bt_str("k"), bt_val(&i, sizeof i), 0));
        ids[i] = birch_txn_id(txn);
        BT_OK(birch_txn_commit(txn));
    }
    ck_assert_uint_eq(f.n, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_uint_eq(f.ids[i], ids[i]);
        ck_assert_uint_eq(f.batches[i].size, 0);
    }
    feed_free(&f);
    BT_OK(birch_close(db));
}
END_TEST

/* A reserved value is recorded as the caller filled it, even when the
 * next call is the commit, or when it is filled after calls that leave its
 * pointer valid; a put after it in a child that aborts is not. */
START_TEST(reserved_values_are_recorded_filled)
{
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o), *db2 = bt_open(path2, &o);
    feed f = {0};
    BT_OK(birch_on_commit(db, record, &f));
    birch_txn *txn, *child;
    birch_table *t;
    void *p;
    BT_OK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    BT_OK(birch_table_open(txn, "t", BIRCH_CREATE, &t));
    BT_OK(birch_put_reserve(txn, t, bt_str("one"), 5, 0, &p));
    memcpy(p, "first", 5);
    BT_OK(birch_txn_begin_nested(txn, &child));
    BT_OK(birch_put_reserve(child, t, bt_str("two"), 6, 0, &p));
    memcpy(p, "second", 6);
    birch_txn_abort(child);
    BT_OK(birch_put_reserve(txn, t, bt_str("three"), 5, 0, &p));
    memcpy(p, "third", 5);
    /* Calls that do not end the pointer's life (birch.h): a sequence, a
     * nested begin, a savepoint; the value is filled after them. */
    uint64_t id;
    BT_OK(birch_put_reserve(txn, t, bt_str("four"), 8, 0, &p));
    BT_OK(birch_sequence_next(txn, t, &id));
    memcpy(p, "fourfour", 8);
    BT_OK(birch_put_reserve(txn, t, bt_str("five"), 4, 0, &p));
    BT_OK(birch_txn_begin_nested(txn, &child));
    memcpy(p, "five", 4);
    birch_txn_abort(child);
    BT_OK(birch_put_reserve(txn, t, bt_str("six"), 3, 0, &p));
    BT_OK(birch_savepoint_create(txn, "sp"));
    memcpy(p, "six", 3);
    BT_OK(birch_txn_commit(txn));
    ck_assert_uint_eq(f.n, 1);
    apply_all(db2, &f, 0);
    char *a = state_of(db), *b = state_of(db2);
    ck_assert_str_eq(a, b);
    ck_assert_ptr_nonnull(strstr(a, "6669727374")); /* "first" */
    ck_assert_ptr_null(strstr(a, "7365636f6e64")); /* "second" */
    ck_assert_ptr_nonnull(strstr(a, "666f7572666f7572")); /* "fourfour" */
    ck_assert_ptr_nonnull(strstr(a, "66697665")); /* "five" */
    ck_assert_ptr_nonnull(strstr(a, "\n736978\n")); /* "six" */
    free(a);
    free(b);
    feed_free(&f);
    BT_OK(birch_close(db));
    BT_OK(birch_close(db2));
}
END_TEST

START_TEST(bad_arguments)
{
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    feed f = {0};
    BT_RC(birch_on_commit(NULL, record, &f), BIRCH_EINVAL);
    BT_RC(birch_on_commit_flags(db, 0x2, record, &f), BIRCH_EINVAL);
    BT_OK(birch_close(db));
    o.read_only = 1;
    db = bt_open(path, &o);
    BT_RC(birch_on_commit(db, record, &f), BIRCH_EREADONLY);
    BT_OK(birch_close(db));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("feed");
    TCase *tc = bt_tcase("feed");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, replay_reproduces_the_database);
    tcase_add_test(tc, hook_sees_the_commit);
    tcase_add_test(tc, ids_only);
    tcase_add_test(tc, reserved_values_are_recorded_filled);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
