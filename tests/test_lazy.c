/*
 * test_lazy.c - the lazy write path of BIRCH_DURABLE_NONE commits (io.h
 * write_lazy, io_posix.c, docs/DESIGN.md 4.1).
 *
 * A non-durable commit hands its pages and its weak meta to write_lazy,
 * which on a file system that overwrites in place stores them through a
 * writable shared map of the file's reserved blocks; a durable commit
 * never does.  These tests see the path from outside: the fault layer
 * (support.c) counts the calls, /proc/self/maps shows whether a writable
 * shared map of the file exists, and st_blocks whether the file's blocks
 * were reserved before the first store (a store into a hole could meet a
 * full disk as SIGBUS instead of an error).  The rest of the suite runs
 * mostly with BIRCH_DURABLE_NONE (bt_opts_fast), so every read, check,
 * kill and power-loss test goes through this path too.
 * sync_unmaps_the_writable_map: the pages stored through the map stay
 * mapped (in the process's RSS) only until the next sync.
 * writable_map_yields_address_space: under RLIMIT_AS, the read map's
 * growth gets the writable map's address space.
 */
#define _GNU_SOURCE
#include "support.h"
#include "internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

enum { COMMITS = 200 };

/* For a line of /proc/self/maps or smaps: -1 if it does not start a
 * mapping, else whether that mapping is of the file st (device and inode)
 * with permissions perms ("rw-s": writable and shared). */
static int maps_line_of(const char *line, const struct stat *st, const char *perms)
{
    char p[8];
    unsigned maj, min;
    unsigned long long ino;
    if (sscanf(line, "%*[0-9a-f]-%*[0-9a-f] %4s %*[0-9a-f] %x:%x %llu", p, &maj, &min, &ino) != 4) return -1;
    return ino == (unsigned long long)st->st_ino && maj == major(st->st_dev) && min == minor(st->st_dev) &&
           !strcmp(p, perms);
}

/* This process's mappings of path with permissions perms, from
 * /proc/self/smaps: how many, and the KiB of their resident set ("Rss:"). */
static uint64_t mapped_scan(const char *path, const char *perms, int *count)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    FILE *m = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(m);
    char line[4096];
    int in = 0;
    uint64_t kib = 0;
    *count = 0;
    while (fgets(line, sizeof line, m)) {
        unsigned long long v;
        int of = maps_line_of(line, &st, perms);
        if (of >= 0) *count += in = of;
        else if (in && sscanf(line, "Rss: %llu kB", &v) == 1) kib += v;
    }
    fclose(m);
    return kib;
}

/* Whether this process has a mapping of path with permissions perms. */
static int mapped_as(const char *path, const char *perms)
{
    int n;
    (void)mapped_scan(path, perms, &n);
    return n > 0;
}

/* Whether the test directory's file system is one the lazy path uses. */
static int lazy_fs_here(const char *path)
{
    struct statfs sf;
    ck_assert_int_eq(statfs(path, &sf), 0);
    unsigned long t = (unsigned long)sf.f_type;
    return t == EXT4_SUPER_MAGIC || t == TMPFS_MAGIC;
}

static void commits(birch_db *db, uint64_t from, uint64_t n)
{
    for (uint64_t i = from; i < from + n; i++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *t = bt_table(w, "t", BIRCH_CREATE);
        uint64_t v = i * 7;
        bt_put(w, t, &i, sizeof i, &v, sizeof v);
        BT_OK(birch_txn_commit(w));
    }
}

static void expect_count(birch_db *db, uint64_t n)
{
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    ck_assert_uint_eq(bt_count(r, bt_table(r, "t", 0)), n);
    birch_txn_abort(r);
}

static void expect_all(birch_db *db, uint64_t n)
{
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "t", 0);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v = i * 7;
        bt_expect(r, t, &i, sizeof i, &v, sizeof v);
    }
    ck_assert_uint_eq(bt_count(r, t), n);
    birch_txn_abort(r);
}

/* Opens path on the counting fault layer f with durability d. */
static birch_db *open_counted(const char *path, bt_fault *f, int d)
{
    bt_fault_init(f);
    birch_options o = bt_opts();
    o.durability = d;
    birch_db *db;
    BT_OK(bi_open_io(path, &o, &f->io, &db));
    return db;
}

/* Each NONE commit writes its pages and meta by write_lazy, and on this
 * file system they go through a writable shared map; a reader sees each
 * commit at once, and a reopen (after the close's checkpoint) all. */
START_TEST(none_commits_write_lazily)
{
    char *path = bt_path("lazy");
    bt_fault f;
    birch_db *db = open_counted(path, &f, BIRCH_DURABLE_NONE);
    commits(db, 0, 1);
    long writes = f.writes, lazy = f.lazy_writes;
    commits(db, 1, COMMITS - 1);
    printf("lazy: %ld of %ld writes of %d NONE commits went to write_lazy\n", f.lazy_writes - lazy,
           f.writes - writes, COMMITS - 1);
    fflush(stdout);
    /* Every commit: its pages and its meta (a checkpoint's durable meta
     * goes by writev, so not every write is lazy). */
    ck_assert_int_ge(f.lazy_writes - lazy, 2 * (COMMITS - 1));
    if (lazy_fs_here(path))
        ck_assert_msg(mapped_as(path, "rw-s"), "no writable shared map of the file after NONE commits");
    expect_all(db, COMMITS);
    bt_check(db);
    BT_OK(birch_close(db));
    birch_options full = bt_opts();
    db = bt_open(path, &full);
    expect_all(db, COMMITS);
    bt_check(db);
    BT_OK(birch_close(db));
    ck_assert_msg(!mapped_as(path, "rw-s"), "a writable map of the file outlived its close");
    bt_remove(path);
    free(path);
}
END_TEST

/* A FULL commit syncs at once: it writes by writev only, and no writable
 * map of the file is ever made; nor by a read-only open. */
START_TEST(full_commits_never_write_lazily)
{
    char *path = bt_path("full");
    bt_fault f;
    birch_db *db = open_counted(path, &f, BIRCH_DURABLE_FULL);
    commits(db, 0, 20);
    ck_assert_int_gt(f.writes, 20);
    ck_assert_int_eq(f.lazy_writes, 0);
    ck_assert_msg(!mapped_as(path, "rw-s"), "a writable map of the file without a NONE commit");
    BT_OK(birch_close(db));
    birch_options ro = bt_opts();
    ro.read_only = 1;
    db = bt_open(path, &ro);
    expect_all(db, 20);
    ck_assert(!mapped_as(path, "rw-s"));
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* A file with a hole (a sparse copy, say) has its blocks reserved before
 * the first store through the map, so that no store can need a block;
 * then the commits go on and reopen to the same state. */
START_TEST(first_lazy_write_reserves_the_file)
{
    char *path = bt_path("sparse");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    commits(db, 0, 10);
    BT_OK(birch_close(db));
    /* 8 MiB of hole past the file's end: growth room the engine accepts. */
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    off_t grown = st.st_size + (8 << 20);
    ck_assert_int_eq(truncate(path, grown), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_msg((uint64_t)st.st_blocks * 512 < (uint64_t)grown, "the test's hole was not made (%lld blocks)",
                  (long long)st.st_blocks);
    db = bt_open(path, &o);
    commits(db, 10, 10);
    ck_assert_int_eq(stat(path, &st), 0);
    if (lazy_fs_here(path))
        ck_assert_msg((uint64_t)st.st_blocks * 512 >= (uint64_t)st.st_size,
                      "the file still has holes after lazy writes: %lld blocks of 512 for %lld bytes",
                      (long long)st.st_blocks, (long long)st.st_size);
    expect_all(db, 20);
    db = bt_reopen(db, path, &o);
    expect_all(db, 20);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* A lazy write that fails fails its commit as a writev would: the commit
 * returns the error and the database keeps its last commit. */
START_TEST(failed_lazy_write_fails_the_commit)
{
    char *path = bt_path("fail");
    bt_fault f;
    birch_db *db = open_counted(path, &f, BIRCH_DURABLE_NONE);
    commits(db, 0, 5);
    f.fail_write = 1;
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", 0);
    uint64_t k = 99, v = 1;
    bt_put(w, t, &k, sizeof k, &v, sizeof v);
    ck_assert_int_eq(birch_txn_commit(w), BIRCH_EIO);
    ck_assert_int_eq(f.injected, 1);
    BT_OK(birch_close(db));
    birch_options o = bt_opts_fast();
    db = bt_open(path, &o);
    expect_all(db, 5);
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* KiB of the resident set in this process's mappings of path with
 * permissions perms. */
static uint64_t mapped_rss_kib(const char *path, const char *perms)
{
    int n;
    return mapped_scan(path, perms, &n);
}

/* Every page stored through the writable map stays mapped in this process,
 * in its resident set beside the read map's mapping of the same page,
 * until the map goes: a long run of NONE commits made the resident set
 * grow towards twice the file.  A sync (the flusher's checkpoint,
 * birch_sync) unmaps the writable map's pages, so what it holds is what
 * the commits since the last checkpoint stored. */
START_TEST(sync_unmaps_the_writable_map)
{
    char *path = bt_path("resident");
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    enum { RECS = 20000, ONE_PUTS = 2000 };
    static uint8_t val[400];
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "t", BIRCH_CREATE);
    for (uint64_t i = 0; i < RECS; i++) {
        uint64_t k = bt_mix(i);
        bt_put(w, t, &k, sizeof k, val, sizeof val);
    }
    BT_OK(birch_txn_commit(w));
    uint64_t seed = bt_seed(0x1A2E);
    bt_rng r = {seed};
    for (int c = 0; c < ONE_PUTS; c++) { /* one-put commits all over the tree */
        w = bt_begin(db, BIRCH_TXN_WRITE);
        t = bt_table(w, "t", 0);
        uint64_t k = bt_mix(bt_below(&r, RECS));
        bt_put(w, t, &k, sizeof k, val, sizeof val);
        BT_OK(birch_txn_commit(w));
    }
    uint64_t before = mapped_rss_kib(path, "rw-s");
    BT_OK(birch_sync(db));
    uint64_t after = mapped_rss_kib(path, "rw-s");
    printf("lazy resident seed=%" PRIu64 ": after %d one-put NONE commits the writable map holds %" PRIu64
           " KiB, after birch_sync %" PRIu64 " KiB\n", seed, ONE_PUTS, before, after);
    fflush(stdout);
    if (lazy_fs_here(path)) {
        ck_assert_msg(before >= 1024, "seed=%" PRIu64 ": only %" PRIu64 " KiB stored through the map", seed, before);
        ck_assert_msg(after == 0, "seed=%" PRIu64 ": %" PRIu64 " KiB still mapped after birch_sync", seed, after);
    }
    expect_count(db, RECS);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

/* VmSize of this process in KiB. */
static uint64_t vm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    uint64_t v = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmSize:", 7) == 0) v = strtoull(line + 7, NULL, 10);
    fclose(f);
    return v;
}

/* The child of as_limited: grows a NONE database (64 MiB map reserve) past
 * 160 MiB (so that the read map grows to 256 MiB) and stops there, under
 * an address-space limit that holds the read maps of 64, 128 and 256 MiB
 * at once and 40 MiB more, but not a writable map of 128 MiB beside them.
 * It stops by the file's size, not a count of records: how far NONE
 * commits grow the file depends on when checkpoints run (a loaded machine
 * grew it past 256 MiB, whose map does not fit the limit).  Exits 0 if
 * every commit succeeded. */
static void as_limited_child(const char *path)
{
    birch_options o = bt_opts_fast();
    o.map_reserve = 64 << 20;
    birch_db *db = bt_open(path, &o);
    commits(db, 0, 1); /* a lazy write: the writable map exists */
    uint64_t lim = (vm_kib() + (424 << 10)) * 1024;
    struct rlimit rl = {(rlim_t)lim, (rlim_t)lim};
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(0); /* nothing to test */
    static uint8_t val[2000];
    int rc = BIRCH_OK;
    birch_stat st = {0};
    for (uint64_t k = 1; st.file_size < (160u << 20) && rc == BIRCH_OK; k += 500) {
        birch_txn *w = NULL;
        rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &w);
        birch_table *t = NULL;
        if (rc == BIRCH_OK) rc = birch_table_open(w, "t", 0, &t);
        for (uint64_t i = k; i < k + 500 && rc == BIRCH_OK; i++)
            rc = birch_put(w, t, bt_val(&i, sizeof i), bt_val(val, sizeof val), 0);
        if (rc == BIRCH_OK) rc = birch_txn_commit(w);
        else if (w) birch_txn_abort(w);
        if (rc == BIRCH_OK) rc = birch_stat_get(db, &st);
        if (rc) printf("lazy as_limited: record %" PRIu64 ": %s (%s)\n", k, birch_strerror(rc), birch_errmsg());
    }
    fflush(stdout);
    _exit(rc == BIRCH_OK && birch_close(db) == BIRCH_OK ? 0 : 1);
}

/* The writable map is a shortcut that takes as much address space as the
 * read map: under RLIMIT_AS, a growth of the read map that fits without
 * it must not fail because of it (the read map's mmap then takes the
 * writable map's room, and writes go by pwritev while no writable map
 * fits).  Before, the growth to 256 MiB failed with BIRCH_ENOMEM. */
START_TEST(writable_map_yields_address_space)
{
    char *path = bt_path("aslimit");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) as_limited_child(path);
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a commit failed under the address-space limit (status %#x)",
                  (unsigned)st);
    birch_options o = bt_opts_fast();
    birch_db *db = bt_open(path, &o);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    uint64_t n = bt_count(r, bt_table(r, "t", 0));
    ck_assert_msg(n > 1 && (n - 1) % 500 == 0, "%" PRIu64 " records: not whole commits of 500", n);
    ck_assert_uint_ge(bt_stat(db).file_size, 160u << 20);
    birch_txn_abort(r);
    bt_check(db);
    BT_OK(birch_close(db));
    bt_remove(path);
    free(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lazy");
    TCase *tc = bt_tcase("lazy");
    tcase_add_test(tc, none_commits_write_lazily);
    tcase_add_test(tc, full_commits_never_write_lazily);
    tcase_add_test(tc, first_lazy_write_reserves_the_file);
    tcase_add_test(tc, failed_lazy_write_fails_the_commit);
    tcase_add_test(tc, sync_unmaps_the_writable_map);
    if (!bt_asan()) /* ASan's shadow memory does not live under RLIMIT_AS: not run there, rather than pass empty */
        tcase_add_test(tc, writable_map_yields_address_space);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
