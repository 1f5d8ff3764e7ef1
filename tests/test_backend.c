/*
 * test_backend.c - birch_options.backend and birch_options.recreate.
 *
 * The memory backend (engine/io_mem.c): CRUD, cursors, many commits that
 * reuse pages, growth past 64 MiB with pointers pinned across it, snapshot
 * isolation, a randomized run against the model, max_size, nothing written
 * to disk, opens of one name independent of each other, and the io layer
 * itself (read past the end, shrink and grow, the reservation's end).
 * Recreate: an existing database, a foreign file or a missing one becomes an
 * empty database; refused with read_only; a file another handle holds is
 * refused with BIRCH_EBUSY and left as it was.  Bad option values.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

static birch_options mem_opts(void)
{
    birch_options o = bt_opts();
    o.backend = BIRCH_BACKEND_MEMORY;
    return o;
}

static int path_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Number of entries (but . and ..) in directory dir. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "opendir(%s): %s", dir, strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void put_kv(birch_txn *w, birch_table *t, int i, int gen)
{
    char k[32], v[64];
    snprintf(k, sizeof k, "key%06d", i);
    snprintf(v, sizeof v, "value %d of generation %d", i, gen);
    bt_put_s(w, t, k, v);
}

static void expect_kv(birch_txn *r, birch_table *t, int i, int gen)
{
    char k[32], v[64];
    snprintf(k, sizeof k, "key%06d", i);
    snprintf(v, sizeof v, "value %d of generation %d", i, gen);
    bt_expect_s(r, t, k, v);
}

static int count_table(const char *name, void *ctx)
{
    (void)name;
    ++*(int *)ctx;
    return 0;
}

static int table_count(birch_db *db)
{
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    int n = 0;
    BT_OK(birch_table_list(r, count_table, &n));
    birch_txn_abort(r);
    return n;
}

/* ---- Memory backend ------------------------------------------------------ */

START_TEST(mem_crud_and_cursors)
{
    char *path = bt_path("mem-crud");
    birch_options o = mem_opts();
    birch_db *db = bt_open(path, &o);
    ck_assert_uint_eq(birch_page_size(db), BIRCH_DEFAULT_PAGE_SIZE);

    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    birch_table *u = bt_table(w, "u", BIRCH_CREATE);
    for (int i = 0; i < 2000; i++) put_kv(w, t, i, 0);
    static unsigned char big[100000];
    bt_pattern(big, sizeof big, 42);
    bt_put(w, u, "big", 3, big, sizeof big); /* an overflow run */
    BT_OK(birch_txn_commit(w));

    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "t", 0);
    for (int i = 0; i < 2000; i += 2) put_kv(w, t, i, 1);      /* overwrite */
    for (int i = 1; i < 2000; i += 4) {                         /* delete */
        char k[32];
        snprintf(k, sizeof k, "key%06d", i);
        BT_OK(birch_del(w, t, bt_str(k)));
    }
    BT_RC(birch_del(w, t, bt_str("nope")), BIRCH_NOTFOUND);
    BT_RC(birch_put(w, t, bt_str("key000000"), bt_str("x"), BIRCH_NOOVERWRITE), BIRCH_EXISTS);
    BT_OK(birch_txn_commit(w));

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    t = bt_table(r, "t", 0);
    u = bt_table(r, "u", 0);
    ck_assert_uint_eq(bt_count(r, t), 1500);
    for (int i = 0; i < 2000; i++) {
        if (i % 4 == 1) {
            char k[32];
            snprintf(k, sizeof k, "key%06d", i);
            bt_expect_absent(r, t, k, strlen(k));
        } else {
            expect_kv(r, t, i, i % 2 == 0 ? 1 : 0);
        }
    }
    bt_expect(r, u, "big", 3, big, sizeof big);

    /* Cursors: forward, backward, seek. */
    birch_cursor *c;
    BT_OK(birch_cursor_open(r, t, &c));
    birch_val k, v;
    int n = 0, rc;
    char prev[32] = "";
    for (rc = birch_cursor_first(c); rc == BIRCH_OK; rc = birch_cursor_next(c)) {
        BT_OK(birch_cursor_get(c, &k, &v));
        char cur[32];
        ck_assert_uint_lt(k.size, sizeof cur);
        memcpy(cur, k.data, k.size);
        cur[k.size] = 0;
        ck_assert_int_lt(strcmp(prev, cur), 0);
        strcpy(prev, cur);
        n++;
    }
    BT_RC(rc, BIRCH_NOTFOUND);
    ck_assert_int_eq(n, 1500);
    n = 0;
    for (rc = birch_cursor_last(c); rc == BIRCH_OK; rc = birch_cursor_prev(c)) n++;
    BT_RC(rc, BIRCH_NOTFOUND);
    ck_assert_int_eq(n, 1500);
    BT_OK(birch_cursor_seek(c, bt_str("key000001"))); /* deleted: lands on 2 */
    BT_OK(birch_cursor_get(c, &k, &v));
    ck_assert_mem_eq(k.data, "key000002", 9);
    birch_cursor_close(c);
    birch_txn_abort(r);

    /* Drop a table. */
    w = bt_begin(db, BIRCH_TXN_WRITE);
    BT_OK(birch_table_drop(w, "u"));
    BT_OK(birch_txn_commit(w));
    ck_assert_int_eq(table_count(db), 1);

    bt_check(db);
    BT_OK(birch_close(db));
    ck_assert_msg(!path_exists(path), "%s was created", path);
    free(path);
}
END_TEST

/* A NULL path is fine with the memory backend, not with the file one. */
START_TEST(mem_null_path)
{
    birch_options o = mem_opts();
    birch_db *db = NULL;
    BT_OK(birch_open(NULL, &o, &db));
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    bt_put_s(w, t, "a", "b");
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    BT_OK(birch_close(db));

    birch_options f = bt_opts();
    db = NULL;
    BT_RC(birch_open(NULL, &f, &db), BIRCH_EINVAL);
    ck_assert_ptr_null(db);
    BT_RC(birch_open(NULL, NULL, &db), BIRCH_EINVAL);
    BT_RC(birch_open(NULL, &o, NULL), BIRCH_EINVAL);
}
END_TEST

/* Thousands of commits overwriting the same keys: freed pages come back,
 * so the "file" stays small. */
START_TEST(mem_many_commits_reuse_pages)
{
    for (int durability = 0; durability < 2; durability++) {
        birch_options o = mem_opts();
        o.durability = durability ? BIRCH_DURABLE_NONE : BIRCH_DURABLE_FULL;
        birch_db *db = bt_open("reuse.db", &o);
        unsigned char val[600];
        uint64_t max_free = 0;
        for (int c = 0; c < 3000; c++) {
            birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
            birch_table *t = bt_table(w, "t", BIRCH_CREATE);
            for (int i = 0; i < 20; i++) {
                char k[16];
                snprintf(k, sizeof k, "k%03d", (c * 7 + i) % 300);
                bt_pattern(val, sizeof val, (uint64_t)c * 1000 + (uint64_t)i);
                bt_put(w, t, k, strlen(k), val, sizeof val);
            }
            BT_OK(birch_txn_commit(w));
            birch_stat st = bt_stat(db);
            if (st.free_pages > max_free) max_free = st.free_pages;
        }
        birch_stat st = bt_stat(db);
        ck_assert_uint_gt(max_free, 0);
        /* 300 values of 600 bytes take about 60 pages; 3000 commits without
         * reuse would take tens of thousands. */
        ck_assert_msg(st.page_count < 2000, "durability %d: %llu pages after 3000 commits",
                      durability, (unsigned long long)st.page_count);
        ck_assert_uint_eq(st.txnid, 3000);
        bt_check(db);
        BT_OK(birch_close(db));
        ck_assert(!path_exists("reuse.db"));
    }
}
END_TEST

enum { NPIN = 64 };

/* Grows the memory database past 64 MiB, far beyond a 1 MiB map_reserve
 * (the engine remaps; the memory backend hands out the same region), with
 * value pointers from a read transaction pinned across it. */
START_TEST(mem_growth_past_64mib)
{
    birch_options o = mem_opts();
    o.map_reserve = 1u << 20;
    o.durability = BIRCH_DURABLE_NONE;
    birch_db *db = bt_open("grow.db", &o);

    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    unsigned char v[5000];
    for (int i = 0; i < NPIN; i++) {
        char k[16];
        snprintf(k, sizeof k, "pin%03d", i);
        bt_pattern(v, (size_t)100 + (size_t)i * 70, (uint64_t)i);
        bt_put(w, t, k, strlen(k), v, (size_t)100 + (size_t)i * 70);
    }
    BT_OK(birch_txn_commit(w));

    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *rt = bt_table(r, "t", 0);
    const void *pins[NPIN];
    for (int i = 0; i < NPIN; i++) {
        char k[16];
        snprintf(k, sizeof k, "pin%03d", i);
        birch_val got;
        BT_OK(birch_get(r, rt, bt_str(k), &got));
        pins[i] = got.data;
    }

    static unsigned char big[64 * 1024];
    int next = 0;
    for (int c = 0; c < 40; c++) { /* 40 commits of 2 MiB: 80 MiB */
        w = bt_begin(db, BIRCH_TXN_WRITE);
        t = bt_table(w, "t", 0);
        for (int i = 0; i < 32; i++, next++) {
            char k[16];
            snprintf(k, sizeof k, "big%05d", next);
            bt_pattern(big, sizeof big, 1000000u + (uint64_t)next);
            bt_put(w, t, k, strlen(k), big, sizeof big);
        }
        /* Rewrite the pinned keys too: their old pages must survive for r. */
        for (int i = 0; i < NPIN; i++) {
            char k[16];
            snprintf(k, sizeof k, "pin%03d", i);
            bt_pattern(v, 50, (uint64_t)c * 100 + (uint64_t)i + 7777);
            bt_put(w, t, k, strlen(k), v, 50);
        }
        BT_OK(birch_txn_commit(w));
    }
    birch_stat st = bt_stat(db);
    ck_assert_msg(st.file_size > (64ull << 20), "file size %llu", (unsigned long long)st.file_size);

    for (int i = 0; i < NPIN; i++) {
        size_t n = (size_t)100 + (size_t)i * 70;
        ck_assert_msg(bt_pattern_diff(pins[i], n, (uint64_t)i) < 0, "pinned value %d changed", i);
    }
    birch_txn_abort(r);

    r = bt_begin(db, BIRCH_TXN_READ);
    rt = bt_table(r, "t", 0);
    for (int i = 0; i < next; i += 97) {
        char k[16];
        snprintf(k, sizeof k, "big%05d", i);
        birch_val got;
        BT_OK(birch_get(r, rt, bt_str(k), &got));
        ck_assert_uint_eq(got.size, sizeof big);
        ck_assert(bt_pattern_diff(got.data, got.size, 1000000u + (uint64_t)i) < 0);
    }
    ck_assert_uint_eq(bt_count(r, rt), (uint64_t)next + NPIN);
    birch_txn_abort(r);
    bt_check(db);
    BT_OK(birch_close(db));
    ck_assert(!path_exists("grow.db"));
}
END_TEST

/* A reader keeps its snapshot while the writer commits new versions. */
START_TEST(mem_snapshot_isolation)
{
    enum { NK = 300 };
    birch_options o = mem_opts();
    birch_db *db = bt_open(NULL, &o);
    uint32_t ps = birch_page_size(db);
    char err[512];
    bt_vwrite(db, NK, 1);
    birch_txn *r1 = bt_begin(db, BIRCH_TXN_READ);
    for (uint64_t v = 2; v <= 6; v++) bt_vwrite(db, NK, v);
    birch_txn *r6 = bt_begin(db, BIRCH_TXN_READ);
    for (uint64_t v = 7; v <= 30; v++) bt_vwrite(db, NK, v); /* reuses pages r1, r6 do not see */
    ck_assert_msg(bt_vverify(r1, ps, NK, 1, err, sizeof err) == 0, "r1: %s", err);
    ck_assert_msg(bt_vverify(r6, ps, NK, 6, err, sizeof err) == 0, "r6: %s", err);
    birch_txn_abort(r1);
    birch_txn_abort(r6);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    ck_assert_msg(bt_vverify(r, ps, NK, 30, err, sizeof err) == 0, "latest: %s", err);
    birch_txn_abort(r);
    bt_check(db);
    BT_OK(birch_close(db));
}
END_TEST

/* Nothing reaches the disk: not the path, not anything else in its
 * directory or in the working directory. */
START_TEST(mem_nothing_on_disk)
{
    char *path = bt_path("mem-disk");
    char *copy = strdup(path);
    const char *dir = dirname(copy);
    int before_dir = dir_entries(dir), before_cwd = dir_entries(".");
    birch_options o = mem_opts();
    birch_db *a = bt_open(path, &o);
    birch_db *b = bt_open("relative-name.db", &o);
    for (int c = 0; c < 50; c++) {
        birch_db *db = c % 2 ? a : b;
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "t", BIRCH_CREATE);
        for (int i = 0; i < 200; i++) put_kv(w, t, c * 200 + i, c);
        BT_OK(birch_txn_commit(w));
    }
    BT_OK(birch_sync(a));
    ck_assert(!path_exists(path));
    ck_assert(!path_exists("relative-name.db"));
    ck_assert_int_eq(dir_entries(dir), before_dir);
    ck_assert_int_eq(dir_entries("."), before_cwd);
    bt_check(a);
    bt_check(b);
    BT_OK(birch_close(a));
    BT_OK(birch_close(b));
    ck_assert(!path_exists(path));
    ck_assert(!path_exists("relative-name.db"));
    ck_assert_int_eq(dir_entries(dir), before_dir);
    ck_assert_int_eq(dir_entries("."), before_cwd);
    free(copy);
    free(path);
}
END_TEST

/* Two memory databases of one name, open together, are independent (and
 * neither locks the other out); a new open of the name starts empty. */
START_TEST(mem_same_name_independent)
{
    birch_options o = mem_opts();
    birch_db *a = bt_open("same.db", &o);
    birch_db *b = bt_open("same.db", &o); /* no BIRCH_EBUSY */
    birch_txn *w = bt_begin(a, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "only-in-a", BIRCH_CREATE);
    bt_put_s(w, t, "k", "a");
    BT_OK(birch_txn_commit(w));
    w = bt_begin(b, BIRCH_TXN_WRITE);
    t = bt_table(w, "only-in-b", BIRCH_CREATE);
    bt_put_s(w, t, "k", "b");
    BT_OK(birch_txn_commit(w));

    birch_txn *r = bt_begin(a, BIRCH_TXN_READ);
    birch_table *x;
    BT_RC(birch_table_open(r, "only-in-b", 0, &x), BIRCH_NOTFOUND);
    bt_expect_s(r, bt_table(r, "only-in-a", 0), "k", "a");
    birch_txn_abort(r);
    r = bt_begin(b, BIRCH_TXN_READ);
    BT_RC(birch_table_open(r, "only-in-a", 0, &x), BIRCH_NOTFOUND);
    bt_expect_s(r, bt_table(r, "only-in-b", 0), "k", "b");
    birch_txn_abort(r);
    ck_assert_int_eq(table_count(a), 1);
    ck_assert_int_eq(table_count(b), 1);
    BT_OK(birch_close(a));

    birch_db *c = bt_open("same.db", &o); /* a's data is gone */
    ck_assert_int_eq(table_count(c), 0);
    ck_assert_uint_eq(bt_stat(c).txnid, 0);
    ck_assert_int_eq(table_count(b), 1);
    BT_OK(birch_close(b));
    BT_OK(birch_close(c));
}
END_TEST

START_TEST(mem_read_only_refused)
{
    birch_options o = mem_opts();
    o.read_only = 1;
    birch_db *db = NULL;
    BT_RC(birch_open("ro.db", &o, &db), BIRCH_EINVAL);
    ck_assert_ptr_null(db);
}
END_TEST

/* max_size holds for the memory backend too; the database stays usable. */
START_TEST(mem_max_size)
{
    birch_options o = mem_opts();
    o.max_size = 4u << 20;
    birch_db *db = bt_open(NULL, &o);
    static unsigned char big[256 * 1024];
    int rc = BIRCH_OK, i;
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    for (i = 0; i < 100 && rc == BIRCH_OK; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%03d", i);
        rc = birch_put(w, t, bt_str(k), bt_val(big, sizeof big), 0);
        if (rc == BIRCH_OK && i % 4 == 3) {
            rc = birch_txn_commit(w);
            if (rc == BIRCH_OK) {
                w = bt_begin(db, BIRCH_TXN_WRITE);
                t = bt_table(w, "t", 0);
            } else {
                w = NULL;
            }
        }
    }
    BT_RC(rc, BIRCH_EFULL);
    birch_txn_abort(w);
    ck_assert_uint_le(bt_stat(db).file_size, o.max_size);
    bt_check(db);
    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "t", 0);
    BT_OK(birch_del(w, t, bt_str("k000")));
    bt_put_s(w, t, "small", "fits");
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    BT_OK(birch_close(db));
}
END_TEST

static void random_key(bt_rng *r, unsigned char *k, size_t *n, size_t max)
{
    *n = (size_t)bt_range(r, 1, bt_chance(r, 90) ? 24 : max);
    bt_fill(r, k, *n);
}

/* The randomized model test of test_record.c, smaller, over memory. */
START_TEST(mem_random_vs_model)
{
    uint64_t seed = bt_seed(0xbacc);
    bt_rng rng = {seed};
    birch_options o = mem_opts();
    o.page_size = 1024; /* deeper trees, more overflow runs */
    birch_db *db = bt_open(NULL, &o);
    size_t mk = birch_max_key_size(db);
    unsigned char key[1024], val[6000];
    bt_model m;
    bt_model_init(&m);
    for (int c = 0; c < 8; c++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "t", BIRCH_CREATE);
        for (int i = 0; i < 800; i++) {
            size_t kn, vn = bt_chance(&rng, 90) ? bt_below(&rng, 200) : bt_below(&rng, sizeof val);
            random_key(&rng, key, &kn, mk);
            bt_fill(&rng, val, vn);
            bt_put(w, t, key, kn, val, vn);
            bt_model_put(&m, key, kn, val, vn);
        }
        for (size_t i = 0; i < m.n; i++) {
            uint64_t x = bt_below(&rng, 3);
            if (x == 0) {
                BT_OK(birch_del(w, t, bt_val(m.v[i]->key, m.v[i]->klen)));
                bt_model_del(&m, m.v[i]->key, m.v[i]->klen);
                i--;
            } else if (x == 1) {
                size_t vn = bt_below(&rng, 300);
                bt_fill(&rng, val, vn);
                unsigned char kk[1024];
                size_t kn = m.v[i]->klen;
                memcpy(kk, m.v[i]->key, kn);
                bt_put(w, t, kk, kn, val, vn);
                bt_model_put(&m, kk, kn, val, vn);
            }
        }
        ck_assert_msg(bt_count(w, t) == m.n, "seed %llu: count differs", (unsigned long long)seed);
        BT_OK(birch_txn_commit(w));
        bt_check(db);
    }
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "t", 0);
    ck_assert_uint_eq(bt_count(r, t), m.n);
    birch_cursor *cur;
    BT_OK(birch_cursor_open(r, t, &cur));
    size_t i = 0;
    int rc;
    for (rc = birch_cursor_first(cur); rc == BIRCH_OK; rc = birch_cursor_next(cur), i++) {
        birch_val k, v;
        BT_OK(birch_cursor_get(cur, &k, &v));
        ck_assert_msg(i < m.n && k.size == m.v[i]->klen && memcmp(k.data, m.v[i]->key, k.size) == 0,
                      "seed %llu: key %zu differs", (unsigned long long)seed, i);
        ck_assert_msg(v.size == m.v[i]->vlen && memcmp(v.data, m.v[i]->val, v.size) == 0,
                      "seed %llu: value %zu differs", (unsigned long long)seed, i);
    }
    BT_RC(rc, BIRCH_NOTFOUND);
    ck_assert_uint_eq(i, m.n);
    birch_cursor_close(cur);
    birch_txn_abort(r);
    bt_model_free(&m);
    BT_OK(birch_close(db));
}
END_TEST

/* The io layer itself. */
START_TEST(mem_io_layer)
{
    const bi_io_ops *ops = &bi_io_mem;
    bi_file *f = NULL;
    BT_RC(ops->open(NULL, "x", BI_IO_RDONLY, &f), BIRCH_NOTFOUND);
    BT_OK(ops->open(NULL, NULL, BI_IO_CREATE, &f));
    BT_OK(ops->lock(f, 1));
    uint64_t size = 1;
    BT_OK(ops->size(f, &size));
    ck_assert_uint_eq(size, 0);
    char buf[10000];
    BT_RC(ops->read(f, buf, 1, 0), BIRCH_EIO);

    /* A write past the end extends the file; the gap reads as zeros. */
    struct iovec iov[2] = {{(void *)"hello", 5}, {(void *)"world", 5}};
    BT_OK(ops->writev(f, iov, 2, 8190));
    BT_OK(ops->size(f, &size));
    ck_assert_uint_eq(size, 8200);
    BT_OK(ops->read(f, buf, 8200, 0));
    for (int i = 0; i < 8190; i++) ck_assert_int_eq(buf[i], 0);
    ck_assert_mem_eq(buf + 8190, "helloworld", 10);
    BT_RC(ops->read(f, buf, 2, 8199), BIRCH_EIO);

    /* The map is the same memory, at the same address for any length. */
    void *m1 = NULL, *m2 = NULL;
    BT_OK(ops->map(f, 1u << 20, &m1));
    BT_OK(ops->map(f, (uint64_t)1 << 40, &m2));
    ck_assert_ptr_eq(m1, m2);
    ck_assert_mem_eq((char *)m1 + 8190, "helloworld", 10);

    /* Shrinking discards; growing again reads zeros. */
    BT_OK(ops->resize(f, 8193));
    BT_OK(ops->resize(f, 3u << 20));
    BT_OK(ops->read(f, buf, 10, 8190));
    ck_assert_mem_eq(buf, "hel\0\0\0\0\0\0\0", 10);
    BT_OK(ops->read(f, buf, sizeof buf, (3u << 20) - sizeof buf));
    for (size_t i = 0; i < sizeof buf; i++) ck_assert_int_eq(buf[i], 0);
    BT_OK(ops->resize(f, 0));
    BT_OK(ops->resize(f, 8200));
    BT_OK(ops->read(f, buf, 8200, 0));
    for (int i = 0; i < 8200; i++) ck_assert_int_eq(buf[i], 0);
    BT_OK(ops->sync(f));

    /* Past the reservation: BIRCH_EFULL, the file as it was. */
    BT_RC(ops->resize(f, BI_IO_MEM_DEFAULT_RESERVE + 4096), BIRCH_EFULL);
    BT_RC(ops->writev(f, iov, 1, BI_IO_MEM_DEFAULT_RESERVE - 2), BIRCH_EFULL);
    BT_OK(ops->size(f, &size));
    ck_assert_uint_eq(size, 8200);
    ops->unmap(f, m1, 1u << 20);
    ops->unmap(f, m2, (uint64_t)1 << 40);
    ops->close(f);

    /* ctx raises the reservation (never lowers it below the default).  A
     * sparse write that far needs overcommit: skip it under the strict
     * policy, where the backend answers BIRCH_EFULL instead. */
    FILE *oc = fopen("/proc/sys/vm/overcommit_memory", "r");
    int policy = 0;
    if (oc) {
        if (fscanf(oc, "%d", &policy) != 1) policy = 0;
        fclose(oc);
    }
    if (policy == 2) return;
    uint64_t want = BI_IO_MEM_DEFAULT_RESERVE * 2;
    BT_OK(ops->open(&want, "y", BI_IO_CREATE, &f));
    BT_OK(ops->writev(f, iov, 1, BI_IO_MEM_DEFAULT_RESERVE + 100));
    BT_OK(ops->read(f, buf, 5, BI_IO_MEM_DEFAULT_RESERVE + 100));
    ck_assert_mem_eq(buf, "hello", 5);
    BT_OK(ops->resize(f, 0)); /* gives the touched page back */
    ops->close(f);
}
END_TEST

/* ---- Recreate ------------------------------------------------------------ */

static birch_db *fill_file(const char *path)
{
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    for (int i = 0; i < 5000; i++) put_kv(w, t, i, 3);
    bt_table(w, "other", BIRCH_CREATE);
    BT_OK(birch_txn_commit(w));
    return db;
}

static void expect_filled(birch_db *db)
{
    ck_assert_int_eq(table_count(db), 2);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "t", 0);
    ck_assert_uint_eq(bt_count(r, t), 5000);
    for (int i = 0; i < 5000; i += 13) expect_kv(r, t, i, 3);
    birch_txn_abort(r);
}

static void expect_empty(birch_db *db)
{
    ck_assert_int_eq(table_count(db), 0);
    birch_stat st = bt_stat(db);
    ck_assert_uint_eq(st.txnid, 0);
    ck_assert_uint_eq(st.free_pages, 0);
    bt_check(db);
}

START_TEST(recreate_existing_file)
{
    char *path = bt_path("recreate");
    birch_db *db = fill_file(path);
    BT_OK(birch_close(db));
    uint64_t filled = bt_file_size(path);
    ck_assert_uint_gt(filled, 64u * 4096);

    birch_options o = bt_opts();
    o.recreate = BIRCH_RECREATE_ALWAYS;
    o.page_size = 8192; /* a new file: the option applies */
    db = bt_open(path, &o);
    expect_empty(db);
    ck_assert_uint_eq(birch_page_size(db), 8192);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "fresh", BIRCH_CREATE);
    bt_put_s(w, t, "a", "1");
    BT_OK(birch_txn_commit(w));
    BT_OK(birch_close(db));

    /* An ordinary open sees what was written after the recreate only. */
    birch_options plain = bt_opts();
    db = bt_open(path, &plain);
    ck_assert_int_eq(table_count(db), 1);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "fresh", 0), "a", "1");
    birch_txn_abort(r);
    bt_check(db);
    BT_OK(birch_close(db));

    /* Recreating twice in a row, with the memory-light default too. */
    o.page_size = BIRCH_DEFAULT_PAGE_SIZE;
    db = bt_open(path, &o);
    expect_empty(db);
    BT_OK(birch_close(db));
    db = bt_open(path, &o);
    expect_empty(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* A file that is no database, and a missing file, become empty databases. */
START_TEST(recreate_foreign_and_missing)
{
    char *path = bt_path("foreign");
    char junk[10000];
    memset(junk, 'x', sizeof junk);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(junk, 1, sizeof junk, fp), sizeof junk);
    ck_assert_int_eq(fclose(fp), 0);
    birch_options plain = bt_opts();
    birch_db *db = NULL;
    BT_RC(birch_open(path, &plain, &db), BIRCH_ENOTDB);
    birch_options o = bt_opts();
    o.recreate = BIRCH_RECREATE_ALWAYS;
    db = bt_open(path, &o);
    expect_empty(db);
    BT_OK(birch_close(db));
    db = bt_open(path, &plain);
    expect_empty(db);
    BT_OK(birch_close(db));
    bt_remove(path);

    ck_assert(!path_exists(path));
    db = bt_open(path, &o);
    expect_empty(db);
    BT_OK(birch_close(db));
    ck_assert(path_exists(path));
    bt_remove(path);
    free(path);
}
END_TEST

START_TEST(recreate_read_only_refused)
{
    char *path = bt_path("recreate-ro");
    birch_db *db = fill_file(path);
    BT_OK(birch_close(db));
    birch_options o = bt_opts();
    o.recreate = BIRCH_RECREATE_ALWAYS;
    o.read_only = 1;
    db = NULL;
    BT_RC(birch_open(path, &o, &db), BIRCH_EINVAL);
    ck_assert_ptr_null(db);
    birch_options plain = bt_opts();
    db = bt_open(path, &plain);
    expect_filled(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* A file another handle holds (writable or read-only) is refused and left
 * whole, byte for byte. */
START_TEST(recreate_locked_file_untouched)
{
    char *path = bt_path("recreate-busy");
    birch_db *holder = fill_file(path);
    BT_OK(birch_sync(holder));
    uint64_t size = bt_file_size(path);
    unsigned char *before = malloc(size), *after = malloc(size);
    bt_file_read(path, before, size, 0);

    birch_options o = bt_opts();
    o.recreate = BIRCH_RECREATE_ALWAYS;
    birch_db *db = NULL;
    BT_RC(birch_open(path, &o, &db), BIRCH_EBUSY);
    ck_assert_ptr_null(db);
    ck_assert_uint_eq(bt_file_size(path), size);
    bt_file_read(path, after, size, 0);
    ck_assert(memcmp(before, after, size) == 0);
    expect_filled(holder); /* the holder still reads everything */
    BT_OK(birch_close(holder));

    /* Held by a read-only handle: refused just the same. */
    birch_options ro = bt_opts();
    ro.read_only = 1;
    holder = bt_open(path, &ro);
    BT_RC(birch_open(path, &o, &db), BIRCH_EBUSY);
    expect_filled(holder);
    BT_OK(birch_close(holder));

    birch_options plain = bt_opts();
    db = bt_open(path, &plain);
    expect_filled(db);
    bt_check(db);
    BT_OK(birch_close(db));
    free(before);
    free(after);
    bt_remove(path);
    free(path);
}
END_TEST

/* Recreate means nothing more for a memory database, which always starts
 * empty; and it touches no file of that name. */
START_TEST(recreate_memory)
{
    char *path = bt_path("recreate-mem");
    birch_db *file = fill_file(path);
    BT_OK(birch_close(file));
    uint64_t size = bt_file_size(path);
    birch_options o = mem_opts();
    o.recreate = BIRCH_RECREATE_ALWAYS;
    birch_db *db = bt_open(path, &o);
    expect_empty(db);
    BT_OK(birch_close(db));
    ck_assert_uint_eq(bt_file_size(path), size);
    birch_options plain = bt_opts();
    db = bt_open(path, &plain);
    expect_filled(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- Options ------------------------------------------------------------- */

START_TEST(option_defaults_and_bad_values)
{
    birch_options o;
    memset(&o, 0xff, sizeof o);
    birch_options_init(&o);
    ck_assert_int_eq(o.recreate, BIRCH_RECREATE_NEVER);
    ck_assert_int_eq(o.backend, BIRCH_BACKEND_FILE);

    char *path = bt_path("badopt");
    int bad_backend[] = {-1, 2, 1000};
    for (size_t i = 0; i < sizeof bad_backend / sizeof *bad_backend; i++) {
        birch_options b = bt_opts();
        b.backend = bad_backend[i];
        birch_db *db = NULL;
        BT_RC(birch_open(path, &b, &db), BIRCH_EINVAL);
        ck_assert_ptr_null(db);
        b.recreate = BIRCH_RECREATE_ALWAYS;
        BT_RC(birch_open(path, &b, &db), BIRCH_EINVAL);
    }
    int bad_recreate[] = {-1, 2, 77};
    for (size_t i = 0; i < sizeof bad_recreate / sizeof *bad_recreate; i++) {
        birch_options b = bt_opts();
        b.recreate = bad_recreate[i];
        birch_db *db = NULL;
        BT_RC(birch_open(path, &b, &db), BIRCH_EINVAL);
        b.backend = BIRCH_BACKEND_MEMORY;
        BT_RC(birch_open(path, &b, &db), BIRCH_EINVAL);
    }
    ck_assert(!path_exists(path)); /* refused before anything was created */
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("backend");
    TCase *mem = bt_tcase("memory");
    tcase_add_test(mem, mem_crud_and_cursors);
    tcase_add_test(mem, mem_null_path);
    tcase_add_test(mem, mem_many_commits_reuse_pages);
    tcase_add_test(mem, mem_growth_past_64mib);
    tcase_add_test(mem, mem_snapshot_isolation);
    tcase_add_test(mem, mem_nothing_on_disk);
    tcase_add_test(mem, mem_same_name_independent);
    tcase_add_test(mem, mem_read_only_refused);
    tcase_add_test(mem, mem_max_size);
    tcase_add_test(mem, mem_random_vs_model);
    tcase_add_test(mem, mem_io_layer);
    suite_add_tcase(s, mem);
    TCase *rec = bt_tcase("recreate");
    tcase_add_test(rec, recreate_existing_file);
    tcase_add_test(rec, recreate_foreign_and_missing);
    tcase_add_test(rec, recreate_read_only_refused);
    tcase_add_test(rec, recreate_locked_file_untouched);
    tcase_add_test(rec, recreate_memory);
    suite_add_tcase(s, rec);
    TCase *opt = bt_tcase("options");
    tcase_add_test(opt, option_defaults_and_bad_values);
    suite_add_tcase(s, opt);
    return bt_run(s);
}
