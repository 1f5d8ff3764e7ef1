/*
 * test_table.c - the catalog: creating, opening, listing, dropping and
 * renaming named tables, table handles across transactions, drops and
 * renames, schema blobs, name limits, independence of tables, many tables.
 *
 * Renames (birch_table_rename): the records, schema and count move to the
 * new name through commit and reopen, typed tables included; an abort
 * undoes it; changes made in the same transaction through the old handle
 * (dirty, not yet in the catalog) move too; every refusal changes nothing
 * and leaves the transaction usable; the old handle and its cursors see no
 * table until the name is created again.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static char *path;
static birch_db *db;
static birch_options opts;

static void setup(void)
{
    path = bt_path("table");
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

typedef struct names {
    char *v[1024];
    int n;
    int stop_at; /* return 7 when reaching this index, -1 never */
} names;

static int collect(const char *name, void *ctx)
{
    names *ns = ctx;
    ck_assert_ptr_nonnull(name);
    ck_assert_int_lt(ns->n, 1024);
    ns->v[ns->n] = strdup(name);
    if (ns->n++ == ns->stop_at) return 7;
    return 0;
}

static void names_free(names *ns)
{
    for (int i = 0; i < ns->n; i++) free(ns->v[i]);
    ns->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    return bt_keycmp(x, strlen(x), y, strlen(y));
}

START_TEST(create_open_and_name)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = NULL;
    BT_RC(birch_table_open(w, "users", 0, &t), BIRCH_NOTFOUND);
    t = bt_table(w, "users", BIRCH_CREATE);
    ck_assert_str_eq(birch_table_name(t), "users");
    ck_assert_uint_eq(bt_count(w, t), 0);
    /* Opening again, with or without CREATE, gives a working handle. */
    birch_table *t2 = bt_table(w, "users", BIRCH_CREATE);
    birch_table *t3 = bt_table(w, "users", 0);
    ck_assert_str_eq(birch_table_name(t2), "users");
    bt_put_s(w, t, "k", "v");
    bt_expect_s(w, t2, "k", "v");
    bt_expect_s(w, t3, "k", "v");
    BT_OK(birch_txn_commit(w));

    db = bt_reopen(db, path, &opts);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "users", 0);
    ck_assert_str_eq(birch_table_name(t), "users");
    bt_expect_s(r, t, "k", "v");
    birch_txn_abort(r);
}
END_TEST

START_TEST(tables_are_independent)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *a = bt_table(w, "a", BIRCH_CREATE);
    birch_table *b = bt_table(w, "b", BIRCH_CREATE);
    bt_put_s(w, a, "same", "in a");
    bt_put_s(w, b, "same", "in b");
    bt_put_s(w, a, "only-a", "1");
    BT_OK(birch_txn_commit(w));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    a = bt_table(r, "a", 0);
    b = bt_table(r, "b", 0);
    bt_expect_s(r, a, "same", "in a");
    bt_expect_s(r, b, "same", "in b");
    bt_expect_absent(r, b, "only-a", 6);
    ck_assert_uint_eq(bt_count(r, a), 2);
    ck_assert_uint_eq(bt_count(r, b), 1);
    birch_txn_abort(r);
}
END_TEST

START_TEST(list_in_name_order_and_stop)
{
    const char *in[] = {"zeta", "alpha", "Beta", "alpha2", "a", "\xc3\xa9t\xc3\xa9", "m", "alph"};
    const int n = (int)(sizeof in / sizeof in[0]);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    names ns = {.n = 0, .stop_at = -1};
    BT_OK(birch_table_list(w, collect, &ns));
    ck_assert_int_eq(ns.n, 0);
    for (int i = 0; i < n; i++) bt_table(w, in[i], BIRCH_CREATE);
    BT_OK(birch_table_list(w, collect, &ns)); /* the writer sees its own tables */
    ck_assert_int_eq(ns.n, n);
    names_free(&ns);
    BT_OK(birch_txn_commit(w));

    const char *sorted[sizeof in / sizeof in[0]];
    memcpy(sorted, in, sizeof in);
    qsort(sorted, (size_t)n, sizeof sorted[0], cmp_str);

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_OK(birch_table_list(r, collect, &ns));
    ck_assert_int_eq(ns.n, n);
    for (int i = 0; i < n; i++) ck_assert_str_eq(ns.v[i], sorted[i]);
    names_free(&ns);
    /* A non-zero return stops the walk and is returned. */
    ns.stop_at = 2;
    ck_assert_int_eq(birch_table_list(r, collect, &ns), 7);
    ck_assert_int_eq(ns.n, 3);
    names_free(&ns);
    birch_txn_abort(r);
    ck_assert_uint_eq(bt_stat(db).table_count, (uint64_t)n);
}
END_TEST

START_TEST(drop_deletes_table_and_handles_survive)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    birch_table *keep = bt_table(w, "keep", BIRCH_CREATE);
    char k[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "key%06d", i);
        bt_put_s(w, t, k, "some value that takes a little room........");
    }
    bt_put_s(w, keep, "x", "y");
    BT_OK(birch_txn_commit(w));

    birch_txn *old = bt_begin(db, BIRCH_TXN_READ); /* sees t */

    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_table_drop(w, "t"));
    birch_table *tmp = NULL;
    BT_RC(birch_table_open(w, "t", 0, &tmp), BIRCH_NOTFOUND);
    birch_val v;
    BT_RC(birch_get(w, t, bt_str("key000001"), &v), BIRCH_NOTFOUND);
    BT_RC(birch_table_drop(w, "t"), BIRCH_NOTFOUND);
    BT_RC(birch_table_drop(w, "never-existed"), BIRCH_NOTFOUND);
    BT_OK(birch_txn_commit(w));

    /* The old reader still sees the dropped table's records. */
    bt_expect_s(old, bt_table(old, "t", 0), "key000001",
                "some value that takes a little room........");
    ck_assert_uint_eq(bt_count(old, t), 3000);
    birch_txn_abort(old);

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_RC(birch_table_open(r, "t", 0, &tmp), BIRCH_NOTFOUND);
    BT_RC(birch_get(r, t, bt_str("key000001"), &v), BIRCH_NOTFOUND);
    uint64_t cnt;
    BT_RC(birch_count(r, t, &cnt), BIRCH_NOTFOUND);
    birch_cursor *c = NULL;
    int rc = birch_cursor_open(r, t, &c);
    if (rc == BIRCH_OK) {
        BT_RC(birch_cursor_first(c), BIRCH_NOTFOUND);
        birch_cursor_close(c);
    } else {
        BT_RC(rc, BIRCH_NOTFOUND);
    }
    bt_expect_s(r, keep, "x", "y");
    birch_txn_abort(r);
    ck_assert_uint_eq(bt_stat(db).table_count, 1);

    /* The old handle works again once the table is created again, empty. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_table(w, "t", BIRCH_CREATE);
    ck_assert_uint_eq(bt_count(w, t), 0);
    bt_expect_absent(w, t, "key000001", 9);
    bt_put_s(w, t, "new", "1");
    BT_OK(birch_txn_commit(w));
    r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, t, "new", "1");
    ck_assert_uint_eq(bt_count(r, t), 1);
    birch_txn_abort(r);
}
END_TEST

/* Drop and create again in one transaction; drop in an aborted transaction
 * changes nothing. */
START_TEST(drop_and_recreate_in_one_txn)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put_s(w, t, "a", "1");
    BT_OK(birch_txn_commit(w));

    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_table_drop(w, "t"));
    birch_txn_abort(w);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, t, "a", "1");
    birch_txn_abort(r);

    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_table_drop(w, "t"));
    bt_table(w, "t", BIRCH_CREATE);
    bt_expect_absent(w, t, "a", 1);
    bt_put_s(w, t, "b", "2");
    BT_OK(birch_txn_commit(w));
    r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_absent(r, t, "a", 1);
    bt_expect_s(r, t, "b", "2");
    birch_txn_abort(r);
}
END_TEST

/* Dropping big tables returns their pages: creating and dropping the same
 * amount of data again and again does not grow the file without bound. */
START_TEST(drop_frees_pages)
{
    char k[32];
    unsigned char val[9000];
    memset(val, 'v', sizeof val);
    uint64_t first = 0;
    for (int round = 0; round < 12; round++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "big", BIRCH_CREATE);
        for (int i = 0; i < 2000; i++) {
            snprintf(k, sizeof k, "%08d", i);
            bt_put(w, t, k, strlen(k), val, i % 3 ? 600 : sizeof val); /* some overflow */
        }
        BT_OK(birch_txn_commit(w));
        w = bt_begin(db, BIRCH_TXN_WRITE);
        BT_OK(birch_table_drop(w, "big"));
        BT_OK(birch_txn_commit(w));
        birch_stat st = bt_stat(db);
        if (round == 1) first = st.page_count;
        /* After the second round the file may hold up to two generations;
         * it must not keep growing with every round. */
        if (round > 1)
            ck_assert_msg(st.page_count <= first * 2 + 16,
                          "round %d: %llu pages, round 1 had %llu", round,
                          (unsigned long long)st.page_count, (unsigned long long)first);
    }
}
END_TEST

START_TEST(schema_blob)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    birch_val s = {(const void *)"junk", 4};
    BT_OK(birch_table_schema(w, t, &s));
    ck_assert_uint_eq(s.size, 0);
    unsigned char blob[BIRCH_MAX_SCHEMA_SIZE];
    bt_pattern(blob, sizeof blob, 99);
    BT_OK(birch_table_set_schema(w, t, bt_val(blob, 10)));
    BT_OK(birch_table_schema(w, t, &s));
    ck_assert_uint_eq(s.size, 10);
    ck_assert_mem_eq(s.data, blob, 10);
    bt_put_s(w, t, "k", "v"); /* records and schema coexist */
    BT_OK(birch_txn_commit(w));

    db = bt_reopen(db, path, &opts);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    BT_OK(birch_table_schema(r, t, &s));
    ck_assert_uint_eq(s.size, 10);
    ck_assert_mem_eq(s.data, blob, 10);
    BT_RC(birch_table_set_schema(r, t, bt_val(blob, 5)), BIRCH_EREADONLY);
    bt_expect_s(r, t, "k", "v");
    birch_txn_abort(r);

    /* The largest schema; then one byte too many is refused. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "t", 0);
    BT_OK(birch_table_set_schema(w, t, bt_val(blob, sizeof blob)));
    int rc = birch_table_set_schema(w, t, bt_val(blob, sizeof blob + 1));
    ck_assert_msg(rc != BIRCH_OK, "a schema of %u bytes was accepted", BIRCH_MAX_SCHEMA_SIZE + 1);
    BT_OK(birch_txn_commit(w));
    r = bt_begin(db, BIRCH_TXN_READ);
    BT_OK(birch_table_schema(r, t, &s));
    ck_assert_uint_eq(s.size, sizeof blob);
    ck_assert_mem_eq(s.data, blob, sizeof blob);
    birch_txn_abort(r);

    /* Clearing it; an aborted change is not kept. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_table_set_schema(w, t, bt_val(NULL, 0)));
    birch_txn_abort(w);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_table_schema(w, t, &s));
    ck_assert_uint_eq(s.size, sizeof blob);
    BT_OK(birch_table_set_schema(w, t, bt_val(blob, 0)));
    BT_OK(birch_txn_commit(w));
    r = bt_begin(db, BIRCH_TXN_READ);
    BT_OK(birch_table_schema(r, t, &s));
    ck_assert_uint_eq(s.size, 0);
    birch_txn_abort(r);
}
END_TEST

START_TEST(name_limits)
{
    char name[BIRCH_MAX_NAME_SIZE + 2];
    memset(name, 'n', sizeof name);
    name[BIRCH_MAX_NAME_SIZE] = 0; /* 255 bytes: fine */
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, name, BIRCH_CREATE);
    ck_assert_str_eq(birch_table_name(t), name);
    bt_put_s(w, t, "k", "v");
    bt_table(w, "x", BIRCH_CREATE); /* 1 byte: fine */
    name[BIRCH_MAX_NAME_SIZE] = 'n';
    name[BIRCH_MAX_NAME_SIZE + 1] = 0; /* 256 bytes */
    birch_table *bad = NULL;
    BT_RC(birch_table_open(w, name, BIRCH_CREATE, &bad), BIRCH_EINVAL);
    BT_RC(birch_table_open(w, "", BIRCH_CREATE, &bad), BIRCH_EINVAL);
    BT_OK(birch_txn_commit(w));
    name[BIRCH_MAX_NAME_SIZE] = 0;
    db = bt_reopen(db, path, &opts);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, name, 0), "k", "v");
    ck_assert_uint_eq(bt_stat(db).table_count, 2);
    birch_txn_abort(r);
}
END_TEST

/* Hundreds of tables (the catalog spans several pages), each with its own
 * records, listed in order and all reachable after reopen. */
START_TEST(many_tables)
{
    enum { NT = 600 };
    char name[64], k[32];
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    for (int i = 0; i < NT; i++) {
        snprintf(name, sizeof name, "table-%05d-%.*s", (i * 7919) % NT, i % 40,
                 "padpadpadpadpadpadpadpadpadpadpadpadpadpad");
        birch_table *t = bt_table(w, name, BIRCH_CREATE);
        for (int j = 0; j <= i % 5; j++) {
            snprintf(k, sizeof k, "%d", j);
            bt_put_s(w, t, k, name);
        }
    }
    BT_OK(birch_txn_commit(w));
    db = bt_reopen(db, path, &opts);
    ck_assert_uint_eq(bt_stat(db).table_count, NT);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    names ns = {.n = 0, .stop_at = -1};
    BT_OK(birch_table_list(r, collect, &ns));
    ck_assert_int_eq(ns.n, NT);
    for (int i = 1; i < ns.n; i++)
        ck_assert_msg(cmp_str(&ns.v[i - 1], &ns.v[i]) < 0, "list out of order at %d", i);
    names_free(&ns);
    for (int i = 0; i < NT; i++) {
        snprintf(name, sizeof name, "table-%05d-%.*s", (i * 7919) % NT, i % 40,
                 "padpadpadpadpadpadpadpadpadpadpadpadpadpad");
        birch_table *t = bt_table(r, name, 0);
        ck_assert_uint_eq(bt_count(r, t), (uint64_t)(i % 5) + 1);
        bt_expect_s(r, t, "0", name);
    }
    birch_txn_abort(r);
    /* Drop every other table. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    for (int i = 0; i < NT; i += 2) {
        snprintf(name, sizeof name, "table-%05d-%.*s", (i * 7919) % NT, i % 40,
                 "padpadpadpadpadpadpadpadpadpadpadpadpadpad");
        BT_OK(birch_table_drop(w, name));
    }
    BT_OK(birch_txn_commit(w));
    db = bt_reopen(db, path, &opts);
    ck_assert_uint_eq(bt_stat(db).table_count, NT / 2);
}
END_TEST

/* A table created by the writer is invisible to a reader that began first,
 * and a table handle used in a transaction where the table does not exist
 * gives NOTFOUND. */
START_TEST(table_visibility_follows_snapshots)
{
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "fresh", BIRCH_CREATE);
    bt_put_s(w, t, "k", "v");
    BT_OK(birch_txn_commit(w));
    birch_table *tmp = NULL;
    BT_RC(birch_table_open(r, "fresh", 0, &tmp), BIRCH_NOTFOUND);
    birch_val v;
    BT_RC(birch_get(r, t, bt_str("k"), &v), BIRCH_NOTFOUND);
    names ns = {.n = 0, .stop_at = -1};
    BT_OK(birch_table_list(r, collect, &ns));
    ck_assert_int_eq(ns.n, 0);
    birch_txn_abort(r);
    r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, t, "k", "v");
    BT_OK(birch_table_list(r, collect, &ns));
    ck_assert_int_eq(ns.n, 1);
    ck_assert_str_eq(ns.v[0], "fresh");
    names_free(&ns);
    birch_txn_abort(r);
}
END_TEST

/* ---- Renames ---------------------------------------------------------------- */

/* Puts key%05d -> val%05d for i from first below n, by step. */
static void fill_rows(birch_txn *w, birch_table *t, int first, int n, int step)
{
    char k[32], v[32];
    for (int i = first; i < n; i += step) {
        snprintf(k, sizeof k, "key%05d", i);
        snprintf(v, sizeof v, "val%05d", i);
        bt_put_s(w, t, k, v);
    }
}

/* key%05d -> val%05d for every i below n. */
static void expect_rows(birch_txn *txn, birch_table *t, int n)
{
    char k[32], v[32];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "key%05d", i);
        snprintf(v, sizeof v, "val%05d", i);
        bt_expect_s(txn, t, k, v);
    }
}

/* The names the snapshot lists, joined by spaces ("a b c"). */
static void listed(birch_txn *txn, char *out, size_t cap)
{
    names ns = {.n = 0, .stop_at = -1};
    BT_OK(birch_table_list(txn, collect, &ns));
    out[0] = 0;
    for (int i = 0; i < ns.n; i++) {
        size_t at = strlen(out);
        snprintf(out + at, cap - at, "%s%s", i ? " " : "", ns.v[i]);
    }
    names_free(&ns);
}

static void expect_listed(birch_txn *txn, const char *want)
{
    char got[1024];
    listed(txn, got, sizeof got);
    ck_assert_str_eq(got, want);
}

/* Records, count, big value and schema move to the new name, through a
 * commit and a reopen; the old name is gone and free. */
START_TEST(rename_commit_and_reopen)
{
    unsigned char big[3 * 4096 + 100];
    bt_pattern(big, sizeof big, 7);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *old = bt_table(w, "old", BIRCH_CREATE);
    bt_table(w, "other", BIRCH_CREATE);
    fill_rows(w, old, 0, 3000, 1);
    bt_put(w, old, "big", 3, big, sizeof big);
    BT_OK(birch_table_set_schema(w, old, bt_str("schema of old")));
    BT_OK(birch_txn_commit(w));
    bt_check(db);

    birch_txn *before = bt_begin(db, BIRCH_TXN_READ); /* began before the rename */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_table_rename(w, "old", "new"));
    expect_listed(w, "new other");
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    /* The reader keeps its snapshot: the old name, whole. */
    expect_listed(before, "old other");
    expect_rows(before, old, 3000);
    birch_txn_abort(before);

    db = bt_reopen(db, path, &opts);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    expect_listed(r, "new other");
    birch_table *nt = bt_table(r, "new", 0), *tmp = NULL;
    ck_assert_str_eq(birch_table_name(nt), "new");
    ck_assert_uint_eq(bt_count(r, nt), 3001);
    expect_rows(r, nt, 3000);
    bt_expect(r, nt, "big", 3, big, sizeof big);
    birch_val s;
    BT_OK(birch_table_schema(r, nt, &s));
    ck_assert_uint_eq(s.size, strlen("schema of old"));
    ck_assert_mem_eq(s.data, "schema of old", s.size);
    BT_RC(birch_table_open(r, "old", 0, &tmp), BIRCH_NOTFOUND);
    ck_assert_uint_eq(bt_stat(db).table_count, 2);
    birch_txn_abort(r);
}
END_TEST

/* An aborted rename leaves the table where it was; so does a rename that
 * the transaction undoes by renaming back. */
START_TEST(rename_abort)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *a = bt_table(w, "a", BIRCH_CREATE);
    fill_rows(w, a, 0, 500, 1);
    BT_OK(birch_table_set_schema(w, a, bt_str("s")));
    BT_OK(birch_txn_commit(w));

    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_table_rename(w, "a", "b"));
    birch_table *b = bt_table(w, "b", 0);
    bt_put_s(w, b, "added", "after the rename");
    birch_txn_abort(w);

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    expect_listed(r, "a");
    expect_rows(r, a, 500);
    ck_assert_uint_eq(bt_count(r, a), 500);
    uint64_t n;
    BT_RC(birch_count(r, b, &n), BIRCH_NOTFOUND);
    birch_txn_abort(r);

    /* There and back in one transaction. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_table_rename(w, "a", "b"));
    bt_put_s(w, b, "x", "1");
    BT_OK(birch_table_rename(w, "b", "a"));
    BT_RC(birch_count(w, b, &n), BIRCH_NOTFOUND);
    bt_expect_s(w, a, "x", "1");
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    r = bt_begin(db, BIRCH_TXN_READ);
    expect_listed(r, "a");
    expect_rows(r, a, 500);
    bt_expect_s(r, a, "x", "1");
    ck_assert_uint_eq(bt_count(r, a), 501);
    birch_val s;
    BT_OK(birch_table_schema(r, a, &s));
    ck_assert_uint_eq(s.size, 1);
    birch_txn_abort(r);
}
END_TEST

/* Changes made through the old handle in the same transaction (a tree
 * the catalog does not hold yet) move with the table, also for a table
 * created in that transaction, and along a chain of renames; the commit
 * writes them under the last name only. */
START_TEST(rename_with_uncommitted_changes)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *a = bt_table(w, "a", BIRCH_CREATE);
    fill_rows(w, a, 0, 4000, 2); /* the even keys, committed */
    BT_OK(birch_txn_commit(w));

    w = bt_begin(db, BIRCH_TXN_WRITE);
    fill_rows(w, a, 1, 4000, 2); /* the odd keys: a dirty tree, several levels */
    BT_OK(birch_del(w, a, bt_str("key00000")));
    BT_OK(birch_table_rename(w, "a", "b"));
    birch_table *b = bt_table(w, "b", 0);
    ck_assert_uint_eq(bt_count(w, b), 3999);
    bt_expect_absent(w, b, "key00000", 8);
    bt_put_s(w, b, "key00000", "val00000"); /* and more through the new handle */
    expect_rows(w, b, 4000);
    /* A table created and filled in this transaction, renamed twice. */
    birch_table *n1 = bt_table(w, "n1", BIRCH_CREATE);
    fill_rows(w, n1, 0, 1000, 1);
    BT_OK(birch_table_set_schema(w, n1, bt_str("n-schema")));
    BT_OK(birch_table_rename(w, "n1", "n2"));
    BT_OK(birch_table_rename(w, "n2", "n3"));
    birch_table *n3 = bt_table(w, "n3", 0);
    bt_put_s(w, n3, "zzz", "last");
    /* Into a name dropped earlier in the transaction. */
    birch_table *d = bt_table(w, "d", BIRCH_CREATE);
    bt_put_s(w, d, "gone", "1");
    BT_OK(birch_table_drop(w, "d"));
    BT_OK(birch_table_rename(w, "n3", "d"));
    bt_expect_s(w, d, "zzz", "last");
    bt_expect_absent(w, d, "gone", 4);
    expect_listed(w, "b d");
    BT_OK(birch_txn_commit(w));
    bt_check(db);

    db = bt_reopen(db, path, &opts);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    expect_listed(r, "b d");
    b = bt_table(r, "b", 0);
    d = bt_table(r, "d", 0);
    ck_assert_uint_eq(bt_count(r, b), 4000);
    expect_rows(r, b, 4000);
    ck_assert_uint_eq(bt_count(r, d), 1001);
    expect_rows(r, d, 1000);
    bt_expect_s(r, d, "zzz", "last");
    birch_val s;
    BT_OK(birch_table_schema(r, d, &s));
    ck_assert_uint_eq(s.size, strlen("n-schema"));
    ck_assert_mem_eq(s.data, "n-schema", s.size);
    birch_txn_abort(r);
}
END_TEST

/* Each refusal returns its code, changes nothing, and leaves the
 * transaction usable (it commits its other changes). */
START_TEST(rename_refusals)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *a = bt_table(w, "a", BIRCH_CREATE), *b = bt_table(w, "b", BIRCH_CREATE);
    bt_put_s(w, a, "ka", "va");
    bt_put_s(w, b, "kb", "vb");
    BT_OK(birch_txn_commit(w));

    char longname[BIRCH_MAX_NAME_SIZE + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0; /* 256 bytes */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, a, "k2", "before the refusals");
    BT_RC(birch_table_rename(w, "a", "b"), BIRCH_EXISTS);
    BT_ERRMSG_HAS("'b' exists");
    BT_RC(birch_table_rename(w, "missing", "c"), BIRCH_NOTFOUND);
    BT_ERRMSG_HAS("no table named 'missing'");
    BT_RC(birch_table_rename(w, "missing", "missing"), BIRCH_NOTFOUND);
    BT_RC(birch_table_rename(w, "missing", "a"), BIRCH_NOTFOUND);
    BT_RC(birch_table_rename(NULL, "a", "c"), BIRCH_EINVAL);
    BT_RC(birch_table_rename(w, NULL, "c"), BIRCH_EINVAL);
    BT_RC(birch_table_rename(w, "a", NULL), BIRCH_EINVAL);
    BT_RC(birch_table_rename(w, "", "c"), BIRCH_EINVAL);
    BT_RC(birch_table_rename(w, "a", ""), BIRCH_EINVAL);
    BT_RC(birch_table_rename(w, "a", longname), BIRCH_EINVAL);
    BT_ERRMSG_HAS("birch_table_rename: to");
    BT_RC(birch_table_rename(w, longname, "c"), BIRCH_EINVAL);
    BT_ERRMSG_HAS("birch_table_rename: from");
    /* To its own name: nothing to do. */
    BT_OK(birch_table_rename(w, "a", "a"));
    expect_listed(w, "a b");
    bt_expect_s(w, a, "k2", "before the refusals");
    bt_expect_s(w, b, "kb", "vb");
    bt_put_s(w, a, "k3", "after the refusals");
    BT_OK(birch_txn_commit(w));
    bt_check(db);

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_RC(birch_table_rename(r, "a", "c"), BIRCH_EREADONLY);
    BT_RC(birch_table_rename(r, "a", "a"), BIRCH_EREADONLY);
    expect_listed(r, "a b");
    ck_assert_uint_eq(bt_count(r, a), 3);
    bt_expect_s(r, a, "k3", "after the refusals");
    birch_txn_abort(r);
    BT_RC(birch_table_rename(r, "a", "c"), BIRCH_ETXN); /* ended */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_txn_abort(w);
    BT_RC(birch_table_rename(w, "a", "c"), BIRCH_ETXN);

    /* A name long at this page size only: 200 bytes at 512-byte pages. */
    birch_options small = bt_opts_fast();
    small.page_size = 512;
    char *p2 = bt_path("small");
    birch_db *db2 = bt_open(p2, &small);
    w = bt_begin(db2, BIRCH_TXN_WRITE);
    bt_table(w, "a", BIRCH_CREATE);
    longname[200] = 0;
    BT_RC(birch_table_rename(w, "a", longname), BIRCH_EINVAL);
    BT_ERRMSG_HAS("limit is 128");
    longname[128] = 0;
    BT_OK(birch_table_rename(w, "a", longname));
    BT_OK(birch_txn_commit(w));
    bt_check(db2);
    BT_OK(birch_close(db2));
    bt_remove(p2);
    free(p2);
}
END_TEST

/* The old name's handle sees no table after the rename, in this
 * transaction and later ones, until a table of that name is created
 * again; then it names the new, empty table, and the renamed one keeps
 * its records. */
START_TEST(rename_old_handle)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *a = bt_table(w, "a", BIRCH_CREATE);
    fill_rows(w, a, 0, 100, 1);
    BT_OK(birch_txn_commit(w));

    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_table_rename(w, "a", "b"));
    birch_val v;
    uint64_t n;
    birch_table *tmp = NULL;
    BT_RC(birch_get(w, a, bt_str("key00001"), &v), BIRCH_NOTFOUND);
    BT_RC(birch_put(w, a, bt_str("k"), bt_str("v"), 0), BIRCH_NOTFOUND);
    BT_RC(birch_del(w, a, bt_str("key00001")), BIRCH_NOTFOUND);
    BT_RC(birch_count(w, a, &n), BIRCH_NOTFOUND);
    BT_RC(birch_table_schema(w, a, &v), BIRCH_NOTFOUND);
    BT_RC(birch_table_open(w, "a", 0, &tmp), BIRCH_NOTFOUND);
    BT_RC(birch_table_drop(w, "a"), BIRCH_NOTFOUND);
    BT_OK(birch_txn_commit(w));
    bt_check(db);

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    BT_RC(birch_get(r, a, bt_str("key00001"), &v), BIRCH_NOTFOUND);
    birch_table *b = bt_table(r, "b", 0);
    expect_rows(r, b, 100);
    birch_txn_abort(r);

    /* The name is free: created again, the old handle names the new table. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    ck_assert_ptr_eq(bt_table(w, "a", BIRCH_CREATE), a);
    ck_assert_uint_eq(bt_count(w, a), 0);
    bt_put_s(w, a, "fresh", "1");
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    r = bt_begin(db, BIRCH_TXN_READ);
    ck_assert_uint_eq(bt_count(r, a), 1);
    bt_expect_s(r, a, "fresh", "1");
    ck_assert_uint_eq(bt_count(r, b), 100);
    bt_expect_absent(r, b, "fresh", 5);
    expect_listed(r, "a b");
    birch_txn_abort(r);

    /* Created again in the very transaction of the rename. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_table_rename(w, "b", "c"));
    BT_RC(birch_count(w, b, &n), BIRCH_NOTFOUND);
    ck_assert_ptr_eq(bt_table(w, "b", BIRCH_CREATE), b);
    bt_put_s(w, b, "again", "2");
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    r = bt_begin(db, BIRCH_TXN_READ);
    expect_listed(r, "a b c");
    ck_assert_uint_eq(bt_count(r, b), 1);
    birch_table *c = bt_table(r, "c", 0);
    ck_assert_uint_eq(bt_count(r, c), 100);
    expect_rows(r, c, 100);
    birch_txn_abort(r);
}
END_TEST

/* Cursors open on the old handle get BIRCH_NOTFOUND at their next move,
 * whatever the move; a cursor on the new name reads the table. */
START_TEST(rename_cursors)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *a = bt_table(w, "a", BIRCH_CREATE);
    fill_rows(w, a, 0, 2000, 1);
    BT_OK(birch_txn_commit(w));

    w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_cursor *cs[6];
    for (int i = 0; i < 6; i++) {
        BT_OK(birch_cursor_open(w, a, &cs[i]));
        if (i < 5) BT_OK(birch_cursor_seek(cs[i], bt_str("key01000"))); /* the last stays unpositioned */
    }
    BT_OK(birch_table_rename(w, "a", "b"));
    birch_val k, v;
    BT_RC(birch_cursor_next(cs[0]), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_prev(cs[1]), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_get(cs[2], &k, &v), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_first(cs[3]), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_seek(cs[4], bt_str("key00001")), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_next(cs[5]), BIRCH_NOTFOUND);
    /* And they stay so. */
    BT_RC(birch_cursor_next(cs[0]), BIRCH_NOTFOUND);
    BT_RC(birch_cursor_last(cs[1]), BIRCH_NOTFOUND);
    for (int i = 0; i < 6; i++) birch_cursor_close(cs[i]);
    birch_cursor *c;
    BT_RC(birch_cursor_open(w, a, &c), BIRCH_NOTFOUND);
    BT_OK(birch_cursor_open(w, bt_table(w, "b", 0), &c));
    BT_OK(birch_cursor_seek(c, bt_str("key01000")));
    BT_OK(birch_cursor_get(c, &k, &v));
    ck_assert_mem_eq(v.data, "val01000", 8);
    int n = 1;
    while (birch_cursor_next(c) == BIRCH_OK) n++;
    ck_assert_int_eq(n, 1000);
    birch_cursor_close(c);
    BT_OK(birch_txn_commit(w));
    bt_check(db);
}
END_TEST

/* A typed table renamed is reopened under its new name with its formats,
 * which the schema blob carried: the records read back typed, other
 * formats are refused (BIRCH_ESCHEMA), and the old name is gone. */
typedef struct Point {
    uint64_t id;
    double x, y;
} Point;
BIRCH_POD_FORMAT(point_fmt, Point, 1);
BIRCH_POD_FORMAT(point_fmt_v2, Point, 2);

START_TEST(rename_typed)
{
    birch_typed t;
    BT_OK(birch_typed_open(db, NULL, "points", &birch_key_u64, &point_fmt, BIRCH_CREATE, &t));
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    for (uint64_t i = 0; i < 300; i++) {
        Point p = {i, (double)i / 2, (double)i * 3};
        BT_OK(birch_typed_put(w, &t, &i, &p, 0));
    }
    BT_OK(birch_txn_commit(w));

    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_table_rename(w, "points", "places"));
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    /* The handle opened before the rename names "points": no table. */
    birch_guard g;
    uint64_t k = 1;
    BT_RC(birch_typed_get(NULL, &t, &k, &g), BIRCH_NOTFOUND);
    db = bt_reopen(db, path, &opts);

    birch_typed old, nt, wrong;
    BT_RC(birch_typed_open(db, NULL, "points", &birch_key_u64, &point_fmt, 0, &old), BIRCH_NOTFOUND);
    BT_RC(birch_typed_open(db, NULL, "places", &birch_key_u64, &point_fmt_v2, 0, &wrong), BIRCH_ESCHEMA);
    BT_RC(birch_typed_open(db, NULL, "places", &birch_key_string, &point_fmt, 0, &wrong), BIRCH_ESCHEMA);
    BT_OK(birch_typed_open(db, NULL, "places", &birch_key_u64, &point_fmt, 0, &nt));
    for (uint64_t i = 0; i < 300; i++) {
        BT_OK(birch_typed_get(NULL, &nt, &i, &g));
        const Point *p = g.view;
        ck_assert_uint_eq(p->id, i);
        ck_assert(p->x == (double)i / 2 && p->y == (double)i * 3);
        BT_OK(birch_guard_release(&g));
    }
    k = 1000;
    Point p = {k, 1, 2};
    BT_OK(birch_typed_put(NULL, &nt, &k, &p, 0));
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    ck_assert_uint_eq(bt_count(r, nt.table), 301);
    birch_txn_abort(r);
    bt_check(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("table");
    TCase *tc = bt_tcase("table");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, create_open_and_name);
    tcase_add_test(tc, tables_are_independent);
    tcase_add_test(tc, list_in_name_order_and_stop);
    tcase_add_test(tc, drop_deletes_table_and_handles_survive);
    tcase_add_test(tc, drop_and_recreate_in_one_txn);
    tcase_add_test(tc, drop_frees_pages);
    tcase_add_test(tc, schema_blob);
    tcase_add_test(tc, name_limits);
    tcase_add_test(tc, many_tables);
    tcase_add_test(tc, table_visibility_follows_snapshots);
    tcase_add_test(tc, rename_commit_and_reopen);
    tcase_add_test(tc, rename_abort);
    tcase_add_test(tc, rename_with_uncommitted_changes);
    tcase_add_test(tc, rename_refusals);
    tcase_add_test(tc, rename_old_handle);
    tcase_add_test(tc, rename_cursors);
    tcase_add_test(tc, rename_typed);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
