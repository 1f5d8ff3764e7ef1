/*
 * test_limits.c - every option and size birch takes from its caller is
 * checked up front: the largest value accepted works, the next one is
 * refused with its code, and birch_errmsg() names the option or limit.
 *
 * Options (each field of birch_options, zero-initialised options), table
 * names against the page size (names are catalog keys: 128 bytes at
 * 512-byte pages), schemas (the largest at the smallest page size is an
 * overflow value of the catalog), keys and values (including sizes above
 * 4 GiB on put and put_reserve), typed keys, tuple keys and batches,
 * stream options (bounds, prefix_len, resume keys, skip and limit, bounds
 * longer than any key), and the flags of every call that takes some.
 * The map reserve arithmetic is checked directly (bi_map_cover), under a
 * watchdog: it used to double a length past 2^63 forever.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "support.h"

/* ---- Helpers ------------------------------------------------------------- */

/* Opens path with o, expecting rc; on success checks the database and
 * closes it.  The detail must mention each non-NULL text. */
static void open_expect(const char *path, const birch_options *o, int want, const char *text, const char *text2)
{
    birch_db *db = NULL;
    BT_RC(birch_open(path, o, &db), want);
    if (text) BT_ERRMSG_HAS(text);
    if (text2) BT_ERRMSG_HAS(text2);
    if (want == BIRCH_OK) {
        ck_assert_ptr_nonnull(db);
        bt_check(db);
        BT_OK(birch_close(db));
    } else {
        ck_assert_ptr_null(db);
    }
}

/* A small commit, to show a database opened with unusual options works. */
static void write_some(birch_db *db)
{
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    char k[32], v[300];
    memset(v, 'v', sizeof v);
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "k%05d", i);
        bt_put(w, t, k, strlen(k), v, (size_t)i % sizeof v);
    }
    BT_OK(birch_txn_commit(w));
    bt_check(db);
}

/* A name of n bytes ('a' + i % 26). */
static char *name_of(size_t n)
{
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i++) s[i] = (char)('a' + i % 26);
    s[n] = 0;
    return s;
}

/* ---- birch_options ------------------------------------------------------ */

START_TEST(options_page_size)
{
    char *path = bt_path("ps");
    birch_options o = bt_opts();
    o.page_size = BIRCH_MIN_PAGE_SIZE;
    open_expect(path, &o, BIRCH_OK, NULL, NULL);
    bt_remove(path);
    o.page_size = BIRCH_MAX_PAGE_SIZE;
    open_expect(path, &o, BIRCH_OK, NULL, NULL);
    bt_remove(path);
    const uint32_t bad[] = {0, BIRCH_MIN_PAGE_SIZE - 1, BIRCH_MIN_PAGE_SIZE / 2, 3000,
                            BIRCH_MAX_PAGE_SIZE + 1, BIRCH_MAX_PAGE_SIZE * 2, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.page_size = bad[i];
        char want[64];
        snprintf(want, sizeof want, "page_size %u", bad[i]);
        open_expect(path, &o, BIRCH_EINVAL, want, "512..65536");
    }
    free(path);
}
END_TEST

START_TEST(options_durability_recreate_backend_read_only)
{
    char *path = bt_path("enum");
    birch_options o = bt_opts();
    o.durability = BIRCH_DURABLE_NONE;
    open_expect(path, &o, BIRCH_OK, NULL, NULL);
    const int bad[] = {-1, 2, 100, (int)0x80000000u};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[64];
        o = bt_opts();
        o.durability = bad[i];
        snprintf(want, sizeof want, "durability %d", bad[i]);
        open_expect(path, &o, BIRCH_EINVAL, want, NULL);
        o = bt_opts();
        o.recreate = bad[i];
        snprintf(want, sizeof want, "recreate %d", bad[i]);
        open_expect(path, &o, BIRCH_EINVAL, want, NULL);
        o = bt_opts();
        o.backend = bad[i];
        snprintf(want, sizeof want, "backend %d", bad[i]);
        open_expect(path, &o, BIRCH_EINVAL, want, NULL);
        o = bt_opts();
        o.read_only = bad[i];
        snprintf(want, sizeof want, "read_only %d", bad[i]);
        open_expect(path, &o, BIRCH_EINVAL, want, NULL);
    }
    /* The largest valid values of each, and the combinations refused. */
    o = bt_opts();
    o.read_only = 1;
    open_expect(path, &o, BIRCH_OK, NULL, NULL);
    o.recreate = BIRCH_RECREATE_ALWAYS;
    open_expect(path, &o, BIRCH_EINVAL, "BIRCH_RECREATE_ALWAYS with read_only", NULL);
    o.recreate = BIRCH_RECREATE_NEVER;
    o.backend = BIRCH_BACKEND_MEMORY;
    open_expect(path, &o, BIRCH_EINVAL, "BIRCH_BACKEND_MEMORY with read_only", NULL);
    o = bt_opts();
    o.recreate = BIRCH_RECREATE_ALWAYS;
    open_expect(path, &o, BIRCH_OK, NULL, NULL);
    o = bt_opts();
    o.backend = BIRCH_BACKEND_MEMORY;
    open_expect(NULL, &o, BIRCH_OK, NULL, NULL);
    bt_remove(path);
    free(path);
}
END_TEST

START_TEST(options_max_readers)
{
    char *path = bt_path("readers");
    birch_options o = bt_opts();
    o.max_readers = 0;
    open_expect(path, &o, BIRCH_EINVAL, "max_readers is 0", "birch_options_init");
    o.max_readers = BIRCH_MAX_READERS + 1;
    open_expect(path, &o, BIRCH_EINVAL, "max_readers 65537", "65536");
    o.max_readers = UINT32_MAX;
    open_expect(path, &o, BIRCH_EINVAL, "max_readers 4294967295", NULL);
    o.max_readers = BIRCH_MAX_READERS;
    open_expect(path, &o, BIRCH_OK, NULL, NULL);

    /* max_readers = 1: one reader, the second is refused and says why. */
    o.max_readers = 1;
    birch_db *db = bt_open(path, &o);
    birch_txn *r1 = bt_begin(db, BIRCH_TXN_READ), *r2 = NULL;
    BT_RC(birch_txn_begin(db, BIRCH_TXN_READ, &r2), BIRCH_EBUSY);
    BT_ERRMSG_HAS("reader slots");
    birch_txn_abort(r1);
    r2 = bt_begin(db, BIRCH_TXN_READ);
    birch_txn_abort(r2);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* Options zero-initialised without birch_options_init: max_readers 0 is
 * named (page_size is 0 as well, but it is not the mistake to point at). */
START_TEST(options_zero_initialised)
{
    char *path = bt_path("zero");
    birch_options o;
    memset(&o, 0, sizeof o);
    open_expect(path, &o, BIRCH_EINVAL, "max_readers is 0", "birch_options_init");
    free(path);
}
END_TEST

START_TEST(options_max_size)
{
    char *path = bt_path("maxsize");
    for (uint32_t ps = BIRCH_MIN_PAGE_SIZE; ps <= BIRCH_MAX_PAGE_SIZE; ps *= 8) {
        birch_options o = bt_opts();
        o.page_size = ps;
        o.max_size = 4ull * ps - 1;
        char want[96];
        snprintf(want, sizeof want, "max_size %llu is below 4 pages", 4ull * ps - 1);
        open_expect(path, &o, BIRCH_EINVAL, want, NULL);
        o.max_size = 1;
        open_expect(path, &o, BIRCH_EINVAL, "max_size 1 ", NULL);
        /* The smallest accepted: the file holds its metas, and the first
         * commit that needs more than what is left gets BIRCH_EFULL. */
        o.max_size = 4ull * ps;
        birch_db *db = bt_open(path, &o);
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "t", BIRCH_CREATE);
        void *out = NULL;
        BT_RC(birch_put_reserve(w, t, bt_str("big"), 8ull * ps, 0, &out), BIRCH_EFULL);
        BT_ERRMSG_HAS("max_size reached");
        birch_txn_abort(w);
        bt_check(db);
        BT_OK(birch_close(db));
        bt_remove(path);
    }
    /* Values whose product with the page size (or any doubling) overflows
     * 64 bits mean "no practical limit" and must work as such. */
    const uint64_t huge[] = {UINT64_MAX, UINT64_MAX - 1, (uint64_t)1 << 63, UINT64_MAX / 4096 + 1,
                             UINT64_MAX / 512 + 1};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        for (int backend = BIRCH_BACKEND_FILE; backend <= BIRCH_BACKEND_MEMORY; backend++) {
            birch_options o = bt_opts();
            o.max_size = huge[i];
            o.backend = backend;
            birch_db *db = bt_open(backend == BIRCH_BACKEND_FILE ? path : NULL, &o);
            write_some(db);
            BT_OK(birch_close(db));
            if (backend == BIRCH_BACKEND_FILE) bt_remove(path);
        }
    }
    free(path);
}
END_TEST

/* A database already larger than max_size (its pages in use, birch_stat's
 * page_count * page_size) opens, and reads work; a write that needs a page
 * past the end fails with BIRCH_EFULL and leaves the database as it was;
 * the file never grows.  birch.h documents it (max_size); this pins it. */
START_TEST(options_max_size_below_the_file)
{
    char *path = bt_path("maxsize_small");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    write_some(db); /* 200 records, some 300 bytes: more than 4 pages */
    birch_stat before = bt_stat(db);
    BT_OK(birch_close(db));
    o.max_size = 4ull * before.page_size;
    ck_assert_uint_gt(before.page_count * before.page_size, o.max_size);
    uint64_t file = bt_file_size(path);
    db = bt_open(path, &o);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    char v[300];
    memset(v, 'v', sizeof v);
    bt_expect(r, bt_table(r, "t", 0), "k00199", 6, v, 199);
    birch_txn_abort(r);
    /* Free pages (what commits left of the runs they took at the file's
     * end) serve a few writes; then a write needs a page past the end and
     * fails with BIRCH_EFULL, its transaction aborted, nothing committed. */
    birch_stat mid = before;
    int rc = BIRCH_OK;
    for (int i = 0; i < 1000 && rc == BIRCH_OK; i++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        char k[32];
        snprintf(k, sizeof k, "new%04d", i);
        rc = birch_put(w, bt_table(w, "t", 0), bt_str(k), bt_val(v, sizeof v), 0);
        if (rc == BIRCH_OK) rc = birch_txn_commit(w);
        else birch_txn_abort(w);
        if (rc == BIRCH_OK) mid = bt_stat(db);
        ck_assert_uint_eq(bt_stat(db).page_count, before.page_count); /* never past the end */
    }
    ck_assert_int_eq(rc, BIRCH_EFULL);
    BT_ERRMSG_HAS("max_size reached");
    before = mid;
    birch_stat after = bt_stat(db);
    ck_assert_uint_eq(after.txnid, before.txnid);
    ck_assert_uint_eq(after.page_count, before.page_count);
    bt_check(db);
    BT_OK(birch_close(db));
    ck_assert_uint_eq(bt_file_size(path), file);
    free(path);
}
END_TEST

/* A database at max_size can always delete (issue 12, review): random puts
 * and deletes of keys among 3,000 (values of 10 to 70 bytes, one in four
 * up to 1,400, so overflow runs too) on 512-byte pages under max_size of
 * 200, 400 and 1,000 pages, with both durabilities.  Puts run into
 * BIRCH_EFULL; a delete of a key that is there must never fail: puts stop
 * short of max_size by the pages deletes need (birch.h, max_size), and the
 * free-space map, whose whole state may need several pages, is written
 * over scattered single pages when no run can hold it (DESIGN.md 5.3).
 * Checked against a model, with birch_check, and after a reopen every
 * present key deletes.  Fixed seeds, printed on failure. */
START_TEST(max_size_full_database_deletes)
{
    static const uint64_t maxp[] = {200, 400, 1000};
    enum { NK = 3000, ITERS = 6000 };
    static uint16_t vlen[NK]; /* 0: absent, else the value's length + 1 */
    static unsigned char v[1400];
    memset(v, 'v', sizeof v);
    for (int c = 0; c < 6; c++) {
        uint64_t seed = bt_seed(5 + (uint64_t)c);
        bt_rng r = {seed};
        char *path = bt_path("fulldel");
        birch_options o = bt_opts();
        o.page_size = 512;
        o.max_size = maxp[c % 3] * 512;
        o.durability = c < 3 ? BIRCH_DURABLE_FULL : BIRCH_DURABLE_NONE;
        birch_db *db = bt_open(path, &o);
        memset(vlen, 0, sizeof vlen);
        int puts_full = 0, dels = 0;
        for (int it = 0; it < ITERS; it++) {
            int k = (int)bt_below(&r, NK), del = vlen[k] && bt_chance(&r, 50);
            size_t n = 10 + (size_t)bt_below(&r, bt_chance(&r, 75) ? 60 : 1390);
            char key[16];
            snprintf(key, sizeof key, "k%05d", k);
            birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
            birch_table *t = bt_table(w, "t", BIRCH_CREATE);
            int rc = del ? birch_del(w, t, bt_str(key)) : birch_put(w, t, bt_str(key), bt_val(v, n), 0);
            if (rc == BIRCH_OK) rc = birch_txn_commit(w);
            else birch_txn_abort(w);
            ck_assert_msg(rc == BIRCH_OK || (!del && rc == BIRCH_EFULL),
                          "seed %" PRIu64 " max %" PRIu64 " pages, %s, iteration %d: %s of a present key returned "
                          "%d (%s)", seed, maxp[c % 3], c < 3 ? "FULL" : "NONE", it, del ? "a delete" : "a put", rc,
                          birch_errmsg());
            if (rc == BIRCH_OK) vlen[k] = del ? 0 : (uint16_t)(n + 1);
            puts_full += rc == BIRCH_EFULL;
            dels += del;
            ck_assert_uint_le(bt_stat(db).page_count, maxp[c % 3]);
        }
        ck_assert_msg(puts_full > 0, "seed %" PRIu64 ": the database never filled", seed);
        bt_check(db);
        birch_txn *rd = bt_begin(db, BIRCH_TXN_READ);
        for (int k = 0; k < NK; k++) {
            char key[16];
            snprintf(key, sizeof key, "k%05d", k);
            if (vlen[k]) bt_expect(rd, bt_table(rd, "t", 0), key, strlen(key), v, vlen[k] - 1u);
            else bt_expect_absent(rd, bt_table(rd, "t", 0), key, strlen(key));
        }
        birch_txn_abort(rd);
        BT_OK(birch_close(db));
        db = bt_open(path, &o);
        for (int k = 0; k < NK; k++) {
            if (!vlen[k]) continue;
            char key[16];
            snprintf(key, sizeof key, "k%05d", k);
            birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
            BT_OK(birch_del(w, bt_table(w, "t", 0), bt_str(key)));
            int rc = birch_txn_commit(w);
            ck_assert_msg(rc == BIRCH_OK, "seed %" PRIu64 " max %" PRIu64 " pages, %s, after reopen: deleting %s "
                          "returned %d (%s)", seed, maxp[c % 3], c < 3 ? "FULL" : "NONE", key, rc, birch_errmsg());
        }
        bt_check(db);
        BT_OK(birch_close(db));
        bt_remove(path);
        free(path);
        (void)dels;
    }
}
END_TEST

START_TEST(options_map_reserve)
{
    char *path = bt_path("reserve");
    birch_options o = bt_opts();
    /* 0 is the default; the minimum works and the file outgrows it. */
    o.map_reserve = 0;
    birch_db *db = bt_open(path, &o);
    write_some(db);
    BT_OK(birch_close(db));
    o.map_reserve = BIRCH_MIN_MAP_RESERVE;
    db = bt_open(path, &o);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "big", BIRCH_CREATE);
    void *out;
    BT_OK(birch_put_reserve(w, t, bt_str("3MiB"), 3u << 20, 0, &out));
    memset(out, 7, 3u << 20);
    BT_OK(birch_txn_commit(w));
    bt_check(db);
    BT_OK(birch_close(db));
    /* Out of range: tiny, one below the minimum, one above the maximum,
     * and the values that used to make the map length loop forever. */
    const uint64_t bad[] = {1, 4096, BIRCH_MIN_MAP_RESERVE - 1, BIRCH_MAX_MAP_RESERVE + 1, (uint64_t)1 << 62,
                            ((uint64_t)1 << 63) + 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.map_reserve = bad[i];
        char want[64];
        snprintf(want, sizeof want, "map_reserve %llu", (unsigned long long)bad[i]);
        open_expect(path, &o, BIRCH_EINVAL, want, "0 for the default");
    }
    /* The maximum is accepted: the open works, or the address space (a
     * sanitizer's shadow takes much of it) cannot hold the map, which is
     * BIRCH_ENOMEM naming it, never EINVAL. */
    o.map_reserve = BIRCH_MAX_MAP_RESERVE;
    db = NULL;
    int rc = birch_open(path, &o, &db);
    ck_assert_msg(rc == BIRCH_OK || rc == BIRCH_ENOMEM, "map_reserve at the maximum: %d (%s)", rc, birch_errmsg());
    if (rc == BIRCH_OK) {
        write_some(db);
        BT_OK(birch_close(db));
    } else {
        BT_ERRMSG_HAS("cannot map");
    }
    bt_remove(path);
    free(path);
}
END_TEST

static void watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "test_limits: bi_map_cover did not return (the map length loops)\n";
    ssize_t n = write(2, msg, sizeof msg - 1);
    (void)n;
    _exit(3);
}

/* The map length doubles from the current map until it covers the bytes
 * asked: past 2^63 the doubling would wrap to 0 and loop forever (a
 * map_reserve above 2^63 did that before options were checked).  Now the
 * length is the request itself, which the system refuses. */
START_TEST(map_cover_never_loops)
{
    char *path = bt_path("cover");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    signal(SIGALRM, watchdog);
    alarm(60);
    const uint64_t asks[] = {((uint64_t)1 << 63) + 1, UINT64_MAX, ((uint64_t)1 << 63) + ((uint64_t)1 << 62)};
    for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++) {
        pthread_mutex_lock(&db->lock);
        int rc = bi_map_cover(db, asks[i]);
        pthread_mutex_unlock(&db->lock);
        ck_assert_msg(rc == BIRCH_ENOMEM, "bi_map_cover(%" PRIu64 ") returned %d (%s)", asks[i], rc, birch_errmsg());
        BT_ERRMSG_HAS("cannot map");
    }
    alarm(0);
    write_some(db); /* the old map is still in place */
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- Table names --------------------------------------------------------- */

static int count_names(const char *name, void *ctx)
{
    (void)name;
    ++*(int *)ctx;
    return 0;
}

/* At every page size the longest name the database reports works through
 * create, commit, reopen, list, open and drop; one byte more is refused
 * by open, create and drop, naming the limit.  At 512-byte pages that
 * limit is 128 (the key limit): names of 129..255 bytes used to be
 * accepted and then fail the commit as a damaged catalog page. */
START_TEST(table_names)
{
    const uint32_t sizes[] = {512, 1024, 4096};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint32_t ps = sizes[s];
        char *path = bt_path("names");
        birch_options o = bt_opts();
        o.page_size = ps;
        birch_db *db = bt_open(path, &o);
        size_t max = birch_max_name_size(db);
        ck_assert_uint_eq(max, ps / 4 < BIRCH_MAX_NAME_SIZE ? ps / 4 : BIRCH_MAX_NAME_SIZE);
        char *longest = name_of(max), *over = name_of(max + 1), *abs_over = name_of(BIRCH_MAX_NAME_SIZE + 1);
        char want[64];
        snprintf(want, sizeof want, "limit is %zu", max);

        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = NULL;
        BT_RC(birch_table_open(w, over, BIRCH_CREATE, &t), BIRCH_EINVAL);
        BT_ERRMSG_HAS(want);
        BT_ERRMSG_HAS("birch_table_open");
        BT_RC(birch_table_open(w, over, 0, &t), BIRCH_EINVAL);
        BT_RC(birch_table_drop(w, over), BIRCH_EINVAL);
        BT_ERRMSG_HAS("birch_table_drop");
        BT_RC(birch_table_open(w, abs_over, BIRCH_CREATE, &t), BIRCH_EINVAL);
        BT_ERRMSG_HAS("more than 255 bytes");
        t = bt_table(w, longest, BIRCH_CREATE);
        bt_put_s(w, t, "k", "v");
        BT_OK(birch_txn_commit(w)); /* the commit that used to fail */
        db = bt_reopen(db, path, &o);

        birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
        t = bt_table(r, longest, 0);
        ck_assert_str_eq(birch_table_name(t), longest);
        bt_expect_s(r, t, "k", "v");
        int n = 0;
        BT_OK(birch_table_list(r, count_names, &n));
        ck_assert_int_eq(n, 1);
        birch_txn_abort(r);
        w = bt_begin(db, BIRCH_TXN_WRITE);
        BT_OK(birch_table_drop(w, longest));
        BT_OK(birch_txn_commit(w));
        bt_check(db);
        BT_OK(birch_close(db));
        free(longest);
        free(over);
        free(abs_over);
        bt_remove(path);
        free(path);
    }
    ck_assert_uint_eq(birch_max_name_size(NULL), 0);
}
END_TEST

/* ---- Schemas ------------------------------------------------------------- */

/* The largest schema at the smallest page is an overflow value of the
 * catalog: it is stored, survives a reopen, is rewritten when the table
 * changes, and checks.  One byte more is refused. */
START_TEST(schema_sizes)
{
    const uint32_t sizes[] = {512, 4096};
    for (size_t s = 0; s < 2; s++) {
        char *path = bt_path("schema");
        birch_options o = bt_opts();
        o.page_size = sizes[s];
        birch_db *db = bt_open(path, &o);
        unsigned char blob[BIRCH_MAX_SCHEMA_SIZE + 32]; /* schemas start at blob + 0..19 */
        bt_pattern(blob, sizeof blob, sizes[s]);
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        char name[16];
        for (int i = 0; i < 20; i++) { /* a catalog of several pages of big records */
            snprintf(name, sizeof name, "t%02d", i);
            birch_table *t = bt_table(w, name, BIRCH_CREATE);
            BT_RC(birch_table_set_schema(w, t, bt_val(blob, BIRCH_MAX_SCHEMA_SIZE + 1)), BIRCH_EVALSIZE);
            BT_ERRMSG_HAS("a schema of 1025 bytes (at most 1024)");
            BT_OK(birch_table_set_schema(w, t, bt_val(blob + i, BIRCH_MAX_SCHEMA_SIZE)));
            bt_put_s(w, t, "k", name);
        }
        BT_OK(birch_txn_commit(w));
        db = bt_reopen(db, path, &o);
        w = bt_begin(db, BIRCH_TXN_WRITE);
        for (int i = 0; i < 20; i++) {
            snprintf(name, sizeof name, "t%02d", i);
            birch_table *t = bt_table(w, name, 0);
            bt_put_s(w, t, "k2", name); /* the catalog record is rewritten, schema kept */
        }
        BT_OK(birch_txn_commit(w));
        db = bt_reopen(db, path, &o);
        birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
        for (int i = 0; i < 20; i++) {
            snprintf(name, sizeof name, "t%02d", i);
            birch_table *t = bt_table(r, name, 0);
            birch_val v;
            BT_OK(birch_table_schema(r, t, &v));
            ck_assert_uint_eq(v.size, BIRCH_MAX_SCHEMA_SIZE);
            ck_assert(memcmp(v.data, blob + i, BIRCH_MAX_SCHEMA_SIZE) == 0);
            bt_expect_s(r, t, "k2", name);
        }
        birch_txn_abort(r);
        BT_OK(birch_close(db));
        bt_remove(path);
        free(path);
    }
}
END_TEST

/* ---- Keys and values ------------------------------------------------------- */

START_TEST(key_sizes)
{
    const uint32_t sizes[] = {512, 65536};
    for (size_t s = 0; s < 2; s++) {
        char *path = bt_path("keys");
        birch_options o = bt_opts_fast();
        o.page_size = sizes[s];
        birch_db *db = bt_open(path, &o);
        size_t mk = birch_max_key_size(db);
        ck_assert_uint_eq(mk, sizes[s] / 4);
        unsigned char *key = malloc(mk + 1);
        memset(key, 'k', mk + 1);
        char want[64];
        snprintf(want, sizeof want, "limit is %zu", mk);
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "t", BIRCH_CREATE);
        birch_val v;
        BT_RC(birch_put(w, t, bt_val(key, mk + 1), bt_str("v"), 0), BIRCH_EKEYSIZE);
        BT_ERRMSG_HAS(want);
        BT_RC(birch_get(w, t, bt_val(key, mk + 1), &v), BIRCH_EKEYSIZE);
        BT_ERRMSG_HAS(want);
        BT_RC(birch_del(w, t, bt_val(key, mk + 1)), BIRCH_EKEYSIZE);
        BT_RC(birch_put(w, t, bt_val(key, 0), bt_str("v"), 0), BIRCH_EKEYSIZE);
        BT_ERRMSG_HAS("empty");
        void *out;
        BT_RC(birch_put_reserve(w, t, bt_val(key, mk + 1), 4, 0, &out), BIRCH_EKEYSIZE);
        bt_put(w, t, key, mk, "max", 3);
        birch_cursor *c;
        BT_OK(birch_cursor_open(w, t, &c));
        BT_RC(birch_cursor_seek(c, bt_val(key, mk + 1)), BIRCH_EKEYSIZE);
        BT_ERRMSG_HAS("birch_cursor_seek");
        BT_OK(birch_cursor_seek(c, bt_val(key, mk)));
        birch_cursor_close(c);
        BT_OK(birch_txn_commit(w));
        db = bt_reopen(db, path, &o);
        birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
        bt_expect(r, bt_table(r, "t", 0), key, mk, "max", 3);
        birch_txn_abort(r);
        BT_OK(birch_close(db));
        free(key);
        bt_remove(path);
        free(path);
    }
}
END_TEST

/* Values: BIRCH_MAX_VALUE_SIZE passes the size check (here it then meets
 * max_size, without allocating 4 GiB), one byte more and any size_t
 * above 4 GiB is refused before anything is read or reserved. */
START_TEST(value_sizes)
{
    char *path = bt_path("values");
    birch_options o = bt_opts();
    o.max_size = 64u << 20;
    birch_db *db = bt_open(path, &o);
    unsigned char small[16] = {0};
    void *out = NULL;
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    const size_t bad[] = {(size_t)BIRCH_MAX_VALUE_SIZE + 1, (size_t)1 << 33, (size_t)1 << 40, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "a value of %zu bytes (at most 4294967295)", bad[i]);
        BT_RC(birch_put(w, t, bt_str("k"), bt_val(small, bad[i]), 0), BIRCH_EVALSIZE);
        BT_ERRMSG_HAS(want);
        BT_RC(birch_put_reserve(w, t, bt_str("k"), bad[i], 0, &out), BIRCH_EVALSIZE);
        BT_ERRMSG_HAS(want);
        BT_RC(birch_put_reserve(w, t, bt_str("k"), bad[i], BIRCH_NOOVERWRITE, &out), BIRCH_EVALSIZE);
    }
    /* The refusals left the transaction usable. */
    bt_put_s(w, t, "k", "v");
    BT_OK(birch_txn_commit(w));
    w = bt_begin(db, BIRCH_TXN_WRITE);
    t = bt_table(w, "t", 0);
    BT_RC(birch_put_reserve(w, t, bt_str("max"), BIRCH_MAX_VALUE_SIZE, 0, &out), BIRCH_EFULL);
    BT_ERRMSG_HAS("max_size reached");
    birch_txn_abort(w);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    bt_expect_s(r, bt_table(r, "t", 0), "k", "v");
    birch_txn_abort(r);
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- Flags ------------------------------------------------------------------ */

START_TEST(flags)
{
    char *path = bt_path("flags");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    birch_txn *txn = NULL;
    BT_RC(birch_txn_begin(db, 0x10, &txn), BIRCH_EINVAL);
    BT_ERRMSG_HAS("birch_txn_begin: unknown flags 0x10");
    BT_RC(birch_txn_begin(db, BIRCH_TXN_DURABLE, &txn), BIRCH_EINVAL); /* 0x4: a write's durability */
    BT_ERRMSG_HAS("without BIRCH_TXN_WRITE");
    BT_RC(birch_txn_begin(db, BIRCH_TXN_WRITE | 0x80000000u, &txn), BIRCH_EINVAL);
    BT_ERRMSG_HAS("unknown flags");
    /* TRY alone (without WRITE) is a valid read. */
    txn = bt_begin(db, BIRCH_TXN_READ | BIRCH_TXN_TRY);
    birch_txn_abort(txn);
    txn = bt_begin(db, BIRCH_TXN_WRITE | BIRCH_TXN_TRY);
    birch_table *t = NULL;
    BT_RC(birch_table_open(txn, "t", 0x4, &t), BIRCH_EINVAL); /* 0x2 is BIRCH_MULTIMAP */
    BT_ERRMSG_HAS("birch_table_open: unknown flags 0x4");
    t = bt_table(txn, "t", BIRCH_CREATE);
    BT_RC(birch_put(txn, t, bt_str("k"), bt_str("v"), 0x4), BIRCH_EINVAL);
    BT_ERRMSG_HAS("birch_put: unknown flags 0x4");
    void *out;
    BT_RC(birch_put_reserve(txn, t, bt_str("k"), 1, 0x100, &out), BIRCH_EINVAL);
    BT_ERRMSG_HAS("unknown flags 0x100");
    BT_OK(birch_put(txn, t, bt_str("k"), bt_str("v"), BIRCH_NOOVERWRITE | BIRCH_APPEND));
    BT_OK(birch_txn_commit(txn));
    char *copy = bt_path("flags-copy");
    BT_RC(birch_copy(db, copy, 0x2, NULL, NULL), BIRCH_EINVAL);
    BT_ERRMSG_HAS("birch_copy: unknown flags 0x2");
    BT_OK(birch_copy(db, copy, BIRCH_COPY_COMPACT, NULL, NULL));
    bt_remove(copy);
    free(copy);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* ---- Typed keys, batches and streams ------------------------------------------ */

typedef struct Item {
    uint64_t n;
} Item;
BIRCH_POD_FORMAT(item_fmt, Item, 1);

typedef struct pair_key {
    birch_val name;
    uint64_t n;
} pair_key;
BIRCH_KEY_TUPLE(pair_fmt, pair_key, &birch_key_string, name, &birch_key_u64, n);

/* At 512-byte pages (keys up to 128 bytes): typed and tuple keys that
 * encode longer are refused with the limit named; batches too. */
START_TEST(typed_key_sizes)
{
    char *path = bt_path("typed");
    birch_options o = bt_opts();
    o.page_size = 512;
    birch_db *db = bt_open(path, &o);
    birch_typed s, p;
    BT_OK(birch_typed_open(db, NULL, "strings", &birch_key_string, &item_fmt, BIRCH_CREATE, &s));
    BT_OK(birch_typed_open(db, NULL, "pairs", &pair_fmt, &item_fmt, BIRCH_CREATE, &p));
    char big[300];
    memset(big, 'x', sizeof big);
    Item it = {1};
    birch_val k = bt_val(big, 128);
    BT_OK(birch_typed_put(NULL, &s, &k, &it, 0));
    k.size = 129;
    BT_RC(birch_typed_put(NULL, &s, &k, &it, 0), BIRCH_EKEYSIZE);
    BT_ERRMSG_HAS("limit is 128");
    /* A tuple (string, u64): the string's escaping and terminator and the
     * 8-byte number count towards the limit. */
    pair_key pk = {bt_val(big, 125), 7};
    BT_RC(birch_typed_put(NULL, &p, &pk, &it, 0), BIRCH_EKEYSIZE);
    BT_ERRMSG_HAS("limit is 128");
    pk.name.size = 10;
    BT_OK(birch_typed_put(NULL, &p, &pk, &it, 0));
    /* A key its format refuses says which format and why. */
    k = bt_val("\xff\xfe", 2);
    BT_RC(birch_typed_put(NULL, &s, &k, &it, 0), BIRCH_EINVAL);
    BT_ERRMSG_HAS("key format string refused the key: birch_key_encode: a string element is not valid UTF-8");
    birch_stream_opts so;
    memset(&so, 0, sizeof so);
    so.prefix = &k;
    birch_stream *st = NULL;
    BT_RC(birch_stream_open(NULL, &s, &so, &st), BIRCH_EINVAL);
    BT_ERRMSG_HAS("refused the stream's prefix");
    /* A batch whose third record's key is too long: nothing is stored. */
    birch_val keys[3] = {bt_str("a"), bt_str("b"), bt_val(big, 200)};
    Item vals[3] = {{1}, {2}, {3}};
    BT_RC(birch_typed_put_batch(NULL, &s, 3, keys, vals), BIRCH_EKEYSIZE);
    BT_ERRMSG_HAS("batch record 2");
    ck_assert_int_eq(birch_typed_contains(NULL, &s, &keys[0]), 0);
    /* A value its format refuses: the format and its own reason. */
    birch_typed sv;
    BT_OK(birch_typed_open(db, NULL, "texts", &birch_key_string, &birch_value_string, BIRCH_CREATE, &sv));
    birch_val bad = bt_val("\xff\xfe", 2), key = bt_str("k");
    BT_RC(birch_typed_put(NULL, &sv, &key, &bad, 0), BIRCH_EINVAL);
    BT_ERRMSG_HAS("value format 'string' refused the value: ");
    BT_ERRMSG_HAS("UTF-8");
    birch_val vkeys[2] = {bt_str("a"), bt_str("b")}, vvals[2] = {bt_str("ok"), bad};
    BT_RC(birch_typed_put_batch(NULL, &sv, 2, vkeys, vvals), BIRCH_EINVAL);
    BT_ERRMSG_HAS("batch record 1: value format 'string' refused the value: ");
    BT_ERRMSG_HAS("UTF-8");
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* A record count whose key space (n * (max_key + 1)) or sort entries
 * overflow size_t is refused up front, as such: before, the products
 * wrapped around silently and the (wrong-sized) allocations failed as
 * BIRCH_ENOMEM. */
START_TEST(typed_batch_overflow)
{
    char *path = bt_path("batch");
    birch_options o = bt_opts();
    birch_db *db = bt_open(path, &o);
    birch_typed t;
    BT_OK(birch_typed_open(db, NULL, "items", &birch_key_u64, &item_fmt, BIRCH_CREATE, &t));
    uint64_t keys[2] = {1, 2};
    Item vals[2] = {{1}, {2}};
    size_t per_key = birch_max_key_size(db) + 1;
    const size_t bad[] = {SIZE_MAX, SIZE_MAX / per_key + 1, SIZE_MAX / 2, (SIZE_MAX / per_key + 1) * 2};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        BT_RC(birch_typed_put_batch(NULL, &t, bad[i], keys, vals), BIRCH_EINVAL);
        BT_ERRMSG_HAS("more than memory can hold");
    }
    BT_OK(birch_typed_put_batch(NULL, &t, 2, keys, vals));
    ck_assert_int_eq(birch_typed_contains(NULL, &t, &keys[1]), 1);
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

static int collect_n(const birch_item *item, void *ctx)
{
    (void)item;
    ++*(uint64_t *)ctx;
    return 0;
}

/* Stream options: prefix_len up to the tuple's arity, bound modes, resume
 * lengths, skip and limit at their extremes; and bounds (or prefixes)
 * longer than any key, which are compared in full and sought by their
 * first max_key bytes (they used to fail the seek with BIRCH_EKEYSIZE). */
START_TEST(stream_options)
{
    char *path = bt_path("stream");
    birch_options o = bt_opts();
    o.page_size = 512;
    birch_db *db = bt_open(path, &o);
    birch_typed p, s;
    BT_OK(birch_typed_open(db, NULL, "pairs", &pair_fmt, &item_fmt, BIRCH_CREATE, &p));
    BT_OK(birch_typed_open(db, NULL, "strings", &birch_key_string, &item_fmt, BIRCH_CREATE, &s));
    char base[128];
    memset(base, 'm', sizeof base);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    for (uint64_t i = 0; i < 10; i++) {
        pair_key pk = {bt_str(i < 5 ? "a" : "b"), i};
        Item it = {i};
        BT_OK(birch_typed_put(w, &p, &pk, &it, 0));
    }
    /* Strings of 128 bytes (the limit) "mmm...m" with the last byte
     * 'a'..'e', plus "l" and "n". */
    for (int i = 0; i < 5; i++) {
        base[127] = (char)('a' + i);
        birch_val k = bt_val(base, 128);
        Item it = {(uint64_t)i};
        BT_OK(birch_typed_put(w, &s, &k, &it, 0));
    }
    birch_val l = bt_str("l"), n = bt_str("n");
    Item it = {9};
    BT_OK(birch_typed_put(w, &s, &l, &it, 0));
    BT_OK(birch_typed_put(w, &s, &n, &it, 0));
    BT_OK(birch_txn_commit(w));

    birch_stream_opts so;
    memset(&so, 0, sizeof so);
    pair_key pre = {bt_str("a"), 0};
    so.prefix = &pre;
    uint64_t cnt = 0;
    for (unsigned k = 0; k <= 2; k++) { /* up to the arity: 0 = every key */
        so.prefix_len = k;
        cnt = 0;
        BT_OK(birch_stream_each(NULL, &p, &so, collect_n, &cnt));
        ck_assert_uint_eq(cnt, k == 0 ? 10 : 5 - (k == 2 ? 4 : 0));
    }
    so.prefix_len = 3;
    BT_RC(birch_stream_each(NULL, &p, &so, collect_n, &cnt), BIRCH_EINVAL);
    BT_ERRMSG_HAS("prefix_len 3 is beyond the key tuple's 2 elements");
    so.prefix_len = UINT32_MAX;
    BT_RC(birch_stream_each(NULL, &p, &so, collect_n, &cnt), BIRCH_EINVAL);
    BT_ERRMSG_HAS("prefix_len 4294967295");

    memset(&so, 0, sizeof so);
    so.lo = &pre;
    so.lo_bound = 3;
    BT_RC(birch_stream_each(NULL, &p, &so, collect_n, &cnt), BIRCH_EINVAL);
    BT_ERRMSG_HAS("bound mode 3");
    so.lo_bound = BIRCH_INCLUSIVE;
    so.lo = NULL;
    BT_RC(birch_stream_each(NULL, &p, &so, collect_n, &cnt), BIRCH_EINVAL);
    BT_ERRMSG_HAS("its key is NULL");

    memset(&so, 0, sizeof so);
    unsigned char rk[1] = {0};
    so.resume = rk;
    so.resume_len = 0;
    BT_RC(birch_stream_each(NULL, &p, &so, collect_n, &cnt), BIRCH_EINVAL);
    BT_ERRMSG_HAS("a resume key of 0 bytes");
    so.resume_len = 65536 / 4 + 1;
    BT_RC(birch_stream_each(NULL, &p, &so, collect_n, &cnt), BIRCH_EINVAL);
    BT_ERRMSG_HAS("a resume key of 16385 bytes");

    memset(&so, 0, sizeof so);
    so.skip = UINT64_MAX;
    cnt = 0;
    BT_OK(birch_stream_each(NULL, &p, &so, collect_n, &cnt));
    ck_assert_uint_eq(cnt, 0);
    so.skip = 9;
    so.limit = UINT64_MAX;
    BT_OK(birch_stream_each(NULL, &p, &so, collect_n, &cnt));
    ck_assert_uint_eq(cnt, 1);

    /* Bounds of 200 bytes: "mmm...m" + "c...": every 128-byte key up to
     * "...c" sorts below, from "...d" above. */
    char longb[200];
    memset(longb, 'm', sizeof longb);
    longb[127] = 'c';
    birch_val lb = bt_val(longb, sizeof longb);
    for (int mode = BIRCH_INCLUSIVE; mode <= BIRCH_EXCLUSIVE; mode++) {
        for (int rev = 0; rev < 2; rev++) {
            memset(&so, 0, sizeof so);
            so.reverse = rev;
            so.lo = &lb;
            so.lo_bound = mode;
            cnt = 0;
            BT_OK(birch_stream_each(NULL, &s, &so, collect_n, &cnt));
            ck_assert_msg(cnt == 3, "lo bound of 200 bytes (mode %d, reverse %d): %" PRIu64 " records", mode, rev, cnt);
            memset(&so, 0, sizeof so);
            so.reverse = rev;
            so.hi = &lb;
            so.hi_bound = mode;
            cnt = 0;
            BT_OK(birch_stream_each(NULL, &s, &so, collect_n, &cnt));
            ck_assert_msg(cnt == 4, "hi bound of 200 bytes (mode %d, reverse %d): %" PRIu64 " records", mode, rev, cnt);
        }
    }
    /* A prefix of 200 bytes: no key is that long, so none matches. */
    memset(&so, 0, sizeof so);
    so.prefix = &lb;
    cnt = 0;
    BT_OK(birch_stream_each(NULL, &s, &so, collect_n, &cnt));
    ck_assert_uint_eq(cnt, 0);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("limits");
    TCase *tc = bt_tcase("limits");
    tcase_add_test(tc, options_page_size);
    tcase_add_test(tc, options_durability_recreate_backend_read_only);
    tcase_add_test(tc, options_max_readers);
    tcase_add_test(tc, options_zero_initialised);
    tcase_add_test(tc, options_max_size);
    tcase_add_test(tc, options_max_size_below_the_file);
    tcase_add_test(tc, max_size_full_database_deletes);
    tcase_add_test(tc, options_map_reserve);
    tcase_add_test(tc, map_cover_never_loops);
    tcase_add_test(tc, table_names);
    tcase_add_test(tc, schema_sizes);
    tcase_add_test(tc, key_sizes);
    tcase_add_test(tc, value_sizes);
    tcase_add_test(tc, flags);
    tcase_add_test(tc, typed_key_sizes);
    tcase_add_test(tc, typed_batch_overflow);
    tcase_add_test(tc, stream_options);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
