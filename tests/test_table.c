/*
 * test_table.c - the catalog: creating, opening, listing and dropping named
 * tables, table handles across transactions and drops, schema blobs, name
 * limits, independence of tables, many tables.
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
    suite_add_tcase(s, tc);
    return bt_run(s);
}
