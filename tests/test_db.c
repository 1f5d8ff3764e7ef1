/*
 * test_db.c - opening and closing databases, options, page sizes, limits,
 * statistics, read-only handles, file locking, version and error strings.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

START_TEST(options_defaults)
{
    birch_options o;
    memset(&o, 0xa5, sizeof o);
    birch_options_init(&o);
    ck_assert_uint_eq(o.page_size, BIRCH_DEFAULT_PAGE_SIZE);
    ck_assert_uint_eq(o.page_size, 4096);
    ck_assert_int_eq(o.durability, BIRCH_DURABLE_FULL);
    ck_assert_uint_eq(o.max_size, 0);
    ck_assert_uint_eq(o.max_readers, 126);
    ck_assert_int_eq(o.read_only, 0);
    ck_assert_uint_eq(o.map_reserve, (uint64_t)1 << 30);
}
END_TEST

START_TEST(open_creates_file_and_data_survives_reopen)
{
    char *path = bt_path("create");
    ck_assert_int_eq(access(path, F_OK), -1);
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    ck_assert_int_eq(access(path, F_OK), 0);
    ck_assert_uint_eq(birch_page_size(db), 4096);
    ck_assert_uint_eq(birch_max_key_size(db), 1024);
    bt_check(db);

    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put_s(w, t, "hello", "world");
    bt_put_s(w, t, "empty", "");
    BT_OK(birch_txn_commit(w));

    db = bt_reopen(db, path, &o);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    bt_expect_s(r, t, "hello", "world");
    bt_expect_s(r, t, "empty", "");
    ck_assert_uint_eq(bt_count(r, t), 2);
    BT_OK(birch_txn_commit(r));
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

START_TEST(open_with_null_options_uses_defaults)
{
    char *path = bt_path("nullopts");
    birch_db *db = bt_open(path, NULL);
    ck_assert_uint_eq(birch_page_size(db), BIRCH_DEFAULT_PAGE_SIZE);
    ck_assert_uint_eq(birch_max_key_size(db), BIRCH_DEFAULT_PAGE_SIZE / 4);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "x", BIRCH_CREATE);
    bt_put_s(w, t, "k", "v");
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db));
    db = bt_open(path, NULL);
    bt_check(db);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "x", 0), "k", "v");
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* Every legal page size: the file keeps it, the key limit is a quarter of
 * it, the largest key and a three-page value round-trip, and reopening with
 * another page_size option keeps the file's own. */
START_TEST(every_page_size)
{
    for (uint32_t ps = BIRCH_MIN_PAGE_SIZE; ps <= BIRCH_MAX_PAGE_SIZE; ps *= 2) {
        char *path = bt_path("psize");
        birch_options o = bt_opts_fast();
        o.page_size = ps;
        birch_db *db = bt_open(path, &o);
        ck_assert_uint_eq(birch_page_size(db), ps);
        size_t mk = birch_max_key_size(db);
        ck_assert_uint_eq(mk, ps / 4);
        ck_assert_uint_eq(bt_stat(db).page_size, ps);

        unsigned char *key = malloc(mk);
        unsigned char *val = malloc((size_t)3 * ps);
        bt_pattern(key, mk, ps);
        bt_pattern(val, (size_t)3 * ps, ps + 1);
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "t", BIRCH_CREATE);
        bt_put(w, t, key, mk, val, (size_t)3 * ps);
        bt_put(w, t, key, 1, val, 1);
        bt_put(w, t, key, mk - 1, val, ps);
        BT_RC(birch_put(w, t, bt_val(key, mk + 1), bt_val(val, 1), 0), BIRCH_EKEYSIZE);
        BT_OK(birch_txn_commit(w));

        /* Reopen asking for another page size: the file's own wins. */
        BT_OK(birch_close(db));
        o.page_size = ps == 4096 ? 8192 : 4096;
        db = bt_open(path, &o);
        ck_assert_uint_eq(birch_page_size(db), ps);
        ck_assert_uint_eq(birch_max_key_size(db), ps / 4);
        bt_check(db);
        birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
        t = bt_table(r, "t", 0);
        bt_expect(r, t, key, mk, val, (size_t)3 * ps);
        bt_expect(r, t, key, 1, val, 1);
        bt_expect(r, t, key, mk - 1, val, ps);
        ck_assert_uint_eq(bt_count(r, t), 3);
        birch_txn_abort(r);
        BT_OK(birch_close(db));
        bt_remove(path);
        free(path);
        free(key);
        free(val);
    }
}
END_TEST

START_TEST(close_null_is_noop)
{
    BT_OK(birch_close(NULL));
}
END_TEST

START_TEST(version_string)
{
    ck_assert_ptr_nonnull(birch_version());
    ck_assert_str_eq(birch_version(), BIRCH_VERSION_STRING);
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%d.%d", BIRCH_VERSION_MAJOR, BIRCH_VERSION_MINOR,
             BIRCH_VERSION_PATCH);
    ck_assert_str_eq(buf, BIRCH_VERSION_STRING);
}
END_TEST

START_TEST(strerror_describes_every_code)
{
    const char *seen[15];
    for (int rc = 0; rc >= BIRCH_ETXN; rc--) {
        const char *s = birch_strerror(rc);
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(strlen(s) > 0, "empty description for %d", rc);
        for (int j = 0; j > rc; j--)
            ck_assert_msg(strcmp(seen[-j], s) != 0, "codes %d and %d share '%s'", j, rc, s);
        seen[-rc] = s;
    }
    ck_assert_ptr_nonnull(birch_strerror(1));
    ck_assert_ptr_nonnull(birch_strerror(-15));
    ck_assert_ptr_nonnull(birch_strerror(-123456));
    ck_assert_ptr_nonnull(birch_strerror(123456));
}
END_TEST

/* BIRCH_NOTFOUND and BIRCH_EXISTS are also about files and paths (open,
 * copy, compact), not only keys: their texts say so. */
START_TEST(strerror_notfound_exists_are_generic)
{
    const char *nf = birch_strerror(BIRCH_NOTFOUND), *ex = birch_strerror(BIRCH_EXISTS);
    ck_assert_msg(strstr(nf, "key") && strstr(nf, "table") && strstr(nf, "file"), "NOTFOUND: '%s'", nf);
    ck_assert_msg(strstr(ex, "key") && strstr(ex, "file"), "EXISTS: '%s'", ex);
    ck_assert_msg(strncmp(ex, "key", 3) != 0, "EXISTS speaks of keys only: '%s'", ex);
}
END_TEST

START_TEST(stat_tracks_commits_tables_and_file_size)
{
    char *path = bt_path("stat");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    birch_stat st = bt_stat(db);
    ck_assert_uint_eq(st.page_size, 4096);
    ck_assert_uint_eq(st.table_count, 0);
    ck_assert_uint_ge(st.page_count, 2); /* two meta pages */
    ck_assert_uint_eq(st.file_size, bt_file_size(path));
    ck_assert_uint_ge(st.file_size, st.page_count * st.page_size);

    uint64_t last = st.txnid;
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    ck_assert_uint_eq(birch_txn_id(r), last);
    birch_txn_abort(r);

    char name[16], key[32];
    for (int i = 0; i < 5; i++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        ck_assert_uint_gt(birch_txn_id(w), last);
        uint64_t id = birch_txn_id(w);
        snprintf(name, sizeof name, "table%d", i);
        birch_table *t = bt_table(w, name, BIRCH_CREATE);
        for (int k = 0; k < 300; k++) {
            snprintf(key, sizeof key, "key-%05d", k);
            bt_put(w, t, key, strlen(key), key, strlen(key));
        }
        BT_OK(birch_txn_commit(w));
        st = bt_stat(db);
        ck_assert_uint_eq(st.txnid, id);
        ck_assert_uint_eq(st.table_count, (uint64_t)i + 1);
        ck_assert_uint_eq(st.file_size, bt_file_size(path));
        ck_assert_uint_ge(st.file_size, st.page_count * st.page_size);
        ck_assert_uint_lt(st.free_pages, st.page_count);
        last = id;
        r = bt_begin(db, BIRCH_TXN_READ);
        ck_assert_uint_eq(birch_txn_id(r), id);
        birch_txn_abort(r);
    }
    /* An aborted write changes nothing. */
    birch_stat before = bt_stat(db);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_table(w, "never", BIRCH_CREATE);
    birch_txn_abort(w);
    st = bt_stat(db);
    ck_assert_uint_eq(st.txnid, before.txnid);
    ck_assert_uint_eq(st.table_count, before.table_count);
    ck_assert_uint_eq(st.page_count, before.page_count);

    /* Reopen: same statistics. */
    db = bt_reopen(db, path, &o);
    st = bt_stat(db);
    ck_assert_uint_eq(st.txnid, before.txnid);
    ck_assert_uint_eq(st.table_count, 5);
    ck_assert_uint_eq(st.page_count, before.page_count);
    ck_assert_uint_eq(st.free_pages, before.free_pages);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

static unsigned char *slurp(const char *path, uint64_t *size)
{
    *size = bt_file_size(path);
    unsigned char *b = malloc(*size + 1);
    ck_assert_ptr_nonnull(b);
    bt_file_read(path, b, *size, 0);
    return b;
}

/* A read-only handle reads everything, refuses writes, and leaves the file
 * byte for byte unchanged. */
START_TEST(read_only_handle)
{
    char *path = bt_path("ro");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put_s(w, t, "a", "1");
    bt_put_s(w, t, "b", "2");
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db));

    uint64_t size0;
    unsigned char *before = slurp(path, &size0);

    o.read_only = 1;
    db = bt_open(path, &o);
    bt_check(db);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    bt_expect_s(r, t, "a", "1");
    bt_expect_s(r, t, "b", "2");
    BT_RC(birch_put(r, t, bt_str("c"), bt_str("3"), 0), BIRCH_EREADONLY);
    BT_OK(birch_txn_commit(r));
    birch_txn *bad = NULL;
    BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE, &bad), BIRCH_EREADONLY);
    BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY, &bad), BIRCH_EREADONLY);
    birch_stat st = bt_stat(db);
    ck_assert_uint_eq(st.table_count, 1);
    BT_OK(birch_close(db));

    uint64_t size1;
    unsigned char *after = slurp(path, &size1);
    ck_assert_uint_eq(size0, size1);
    ck_assert_msg(memcmp(before, after, size0) == 0, "read-only session changed the file");
    free(before);
    free(after);
    bt_remove(path);
    free(path);
}
END_TEST

START_TEST(read_only_open_of_missing_file_fails_without_creating)
{
    char *path = bt_path("romissing");
    birch_options o = bt_opts();
    o.read_only = 1;
    birch_db *db = NULL;
    int rc = birch_open(path, &o, &db);
    ck_assert_msg(rc != BIRCH_OK, "read-only open of a missing file succeeded");
    ck_assert_msg(rc < 0 && rc >= BIRCH_ETXN, "unknown code %d", rc);
    ck_assert_int_eq(access(path, F_OK), -1);
    free(path);
}
END_TEST

/* Any number of handles share a file, read-write and read-only alike (in
 * one process as in many): one write transaction at a time across them
 * (the second waits, or gets BIRCH_EBUSY with TRY), and each commit is
 * seen by every handle's next read transaction.  Compaction needs the
 * file alone. */
START_TEST(file_sharing)
{
    char *path = bt_path("lock");
    birch_options rw = bt_opts(), ro = bt_opts();
    ro.read_only = 1;
    birch_db *db = bt_open(path, &rw), *db2 = bt_open(path, &rw), *r1 = bt_open(path, &ro);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE), *w2 = NULL;
    BT_RC(birch_txn_begin(db2, BIRCH_TXN_WRITE | BIRCH_TXN_TRY, &w2), BIRCH_EBUSY);
    bt_put_s(w, bt_table(w, "t", BIRCH_CREATE), "a", "1");
    BT_RC(birch_compact(path, NULL, NULL, NULL), BIRCH_EBUSY);
    BT_OK(birch_txn_commit(w));
    /* db2 writes on top of db's commit; r1 and db see it. */
    w2 = bt_begin(db2, BIRCH_TXN_WRITE);
    bt_expect_s(w2, bt_table(w2, "t", 0), "a", "1");
    bt_put_s(w2, bt_table(w2, "t", 0), "b", "2");
    BT_OK(birch_txn_commit(w2));
    birch_db *all[3] = {db, db2, r1};
    for (int i = 0; i < 3; i++) {
        birch_txn *r = bt_begin(all[i], BIRCH_TXN_READ);
        birch_table *t = bt_table(r, "t", 0);
        bt_expect_s(r, t, "a", "1");
        bt_expect_s(r, t, "b", "2");
        BT_OK(birch_txn_commit(r));
        ck_assert_uint_eq(bt_stat(all[i]).txnid, 2);
    }
    birch_txn *bad = NULL;
    BT_RC(birch_txn_begin(r1, BIRCH_TXN_WRITE, &bad), BIRCH_EREADONLY);
    BT_OK(birch_close(db));
    BT_OK(birch_close(r1));
    bt_check(db2);
    BT_OK(birch_close(db2));
    BT_OK(birch_compact(path, NULL, NULL, NULL));
    db = bt_open(path, &rw);
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* Non-durable commits are still there after a clean close and reopen. */
START_TEST(durable_none_commits_survive_close)
{
    char *path = bt_path("nosync");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    char k[16];
    for (int i = 0; i < 50; i++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "t", BIRCH_CREATE);
        snprintf(k, sizeof k, "%04d", i);
        bt_put_s(w, t, k, k);
        BT_OK(birch_txn_commit(w));
    }
    db = bt_reopen(db, path, &o);
    birch_options full = bt_opts();
    db = bt_reopen(db, path, &full);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "t", 0);
    ck_assert_uint_eq(bt_count(r, t), 50);
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "%04d", i);
        bt_expect_s(r, t, k, k);
    }
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* Many open/close cycles (leaks show up under ASan). */
START_TEST(open_close_cycles)
{
    char *path = bt_path("cycles");
    birch_options o = bt_opts_fast();
    for (int i = 0; i < 60; i++) {
        birch_db *db = bt_open(path, &o);
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, i % 2 ? "odd" : "even", BIRCH_CREATE);
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        bt_put_s(w, t, k, "v");
        BT_OK(birch_txn_commit(w));
        birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
        birch_txn_abort(r);
        BT_OK(birch_close(db));
    }
    birch_db *db = bt_open(path, &o);
    bt_check(db);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    ck_assert_uint_eq(bt_count(r, bt_table(r, "odd", 0)), 30);
    ck_assert_uint_eq(bt_count(r, bt_table(r, "even", 0)), 30);
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* max_readers bounds concurrent read transactions. */
START_TEST(max_readers_option)
{
    char *path = bt_path("readers");
    birch_options o = bt_opts();
    o.max_readers = 3;
    birch_db *db = bt_open(path, &o);
    birch_txn *r[3];
    for (int i = 0; i < 3; i++) r[i] = bt_begin(db, BIRCH_TXN_READ);
    birch_txn *extra = NULL;
    BT_RC(birch_txn_begin(db, BIRCH_TXN_READ, &extra), BIRCH_EBUSY);
    /* The writer is not a reader. */
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t", BIRCH_CREATE), "k", "v");
    BT_OK(birch_txn_commit(w));
    birch_txn_abort(r[1]);
    r[1] = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r[1], bt_table(r[1], "t", 0), "k", "v");
    BT_RC(birch_txn_begin(db, BIRCH_TXN_READ, &extra), BIRCH_EBUSY);
    for (int i = 0; i < 3; i++) BT_OK(birch_txn_commit(r[i]));
    /* All slots free again. */
    for (int i = 0; i < 3; i++) r[i] = bt_begin(db, BIRCH_TXN_READ);
    for (int i = 0; i < 3; i++) birch_txn_abort(r[i]);
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("db");
    TCase *tc = bt_tcase("db");
    tcase_add_test(tc, options_defaults);
    tcase_add_test(tc, open_creates_file_and_data_survives_reopen);
    tcase_add_test(tc, open_with_null_options_uses_defaults);
    tcase_add_test(tc, every_page_size);
    tcase_add_test(tc, close_null_is_noop);
    tcase_add_test(tc, version_string);
    tcase_add_test(tc, strerror_describes_every_code);
    tcase_add_test(tc, strerror_notfound_exists_are_generic);
    tcase_add_test(tc, stat_tracks_commits_tables_and_file_size);
    tcase_add_test(tc, read_only_handle);
    tcase_add_test(tc, read_only_open_of_missing_file_fails_without_creating);
    tcase_add_test(tc, file_sharing);
    tcase_add_test(tc, durable_none_commits_survive_close);
    tcase_add_test(tc, open_close_cycles);
    tcase_add_test(tc, max_readers_option);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
