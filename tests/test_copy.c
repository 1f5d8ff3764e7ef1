/*
 * test_copy.c - birch_copy and birch_compact (engine/copy.c).
 *
 * Copies must equal the source (every table, record and schema) and pass
 * birch_check; a plain copy keeps the page count and the free list; a
 * compact copy holds no free page and exactly the pages in use minus the
 * free tree's, so after deletes it is smaller than the source.  Compaction
 * shrinks a file with many free pages, keeps its data, and is safe against
 * a crash at each step (simulated with fork and _exit at a hook, or inside
 * the copy from the progress callback).  A source with a damaged page (a
 * table's leaf, branch or overflow run, the catalog, the free tree) is
 * refused with BIRCH_ECORRUPT naming the page, leaving no file and the
 * original untouched.  The copy beside a committing
 * writer is in test_copy_threads.c.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "support.h"

/* ---- Data --------------------------------------------------------------------- */

static size_t key_of(uint64_t i, unsigned char *k)
{
    return (size_t)snprintf((char *)k, 32, "key-%08" PRIu64, i);
}

/* Values from 0 bytes to 2.5 pages (some in overflow runs). */
static size_t vlen_of(uint64_t i, uint32_t ps)
{
    switch (i % 7) {
    case 0: return 0;
    case 3: return ps * 5 / 2;
    default: return (size_t)(i * 37 % 200);
    }
}

/* Tables t0..t(ntab-1) with n records each and a schema; table "big" has a
 * schema long enough to put its catalog record in an overflow run on
 * small pages. */
static void fill(birch_db *db, int ntab, uint64_t n)
{
    uint32_t ps = birch_page_size(db);
    unsigned char k[32], *v = malloc(3 * (size_t)ps);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    for (int t = 0; t < ntab; t++) {
        char name[16], schema[64];
        snprintf(name, sizeof name, "t%d", t);
        snprintf(schema, sizeof schema, "schema of %s", name);
        birch_table *tb = bt_table(w, name, BIRCH_CREATE);
        BT_OK(birch_table_set_schema(w, tb, bt_str(schema)));
        for (uint64_t i = 0; i < n; i++) {
            size_t vn = vlen_of(i, ps);
            bt_pattern(v, vn, i * 131 + (uint64_t)t);
            bt_put(w, tb, k, key_of(i, k), v, vn);
        }
    }
    birch_table *big = bt_table(w, "big", BIRCH_CREATE);
    char schema[BIRCH_MAX_SCHEMA_SIZE];
    memset(schema, 's', sizeof schema);
    BT_OK(birch_table_set_schema(w, big, bt_val(schema, sizeof schema)));
    bt_put_s(w, big, "only", "record");
    BT_OK(birch_txn_commit(w));
    free(v);
}

/* Deletes every record whose index is not a multiple of keep_every, in
 * several commits, so pages are freed. */
static void thin(birch_db *db, int ntab, uint64_t n, uint64_t keep_every)
{
    unsigned char k[32];
    for (int t = 0; t < ntab; t++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", t);
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        birch_table *tb = bt_table(w, name, 0);
        for (uint64_t i = 0; i < n; i++)
            if (i % keep_every) BT_OK(birch_del(w, tb, bt_val(k, key_of(i, k))));
        BT_OK(birch_txn_commit(w));
    }
}

/* ---- Comparing two databases ------------------------------------------------------- */

typedef struct names {
    char v[64][BIRCH_MAX_NAME_SIZE + 1];
    int n;
} names;

static int add_name(const char *name, void *ctx)
{
    names *ns = ctx;
    ck_assert_int_lt(ns->n, 64);
    snprintf(ns->v[ns->n++], sizeof ns->v[0], "%s", name);
    return 0;
}

static void same_table(birch_txn *a, birch_txn *b, const char *name)
{
    birch_table *ta = bt_table(a, name, 0), *tb = bt_table(b, name, 0);
    birch_val sa, sb;
    BT_OK(birch_table_schema(a, ta, &sa));
    BT_OK(birch_table_schema(b, tb, &sb));
    ck_assert_msg(sa.size == sb.size && memcmp(sa.data, sb.data, sa.size) == 0, "table %s: schemas differ", name);
    ck_assert_uint_eq(bt_count(a, ta), bt_count(b, tb));
    birch_cursor *ca, *cb;
    BT_OK(birch_cursor_open(a, ta, &ca));
    BT_OK(birch_cursor_open(b, tb, &cb));
    uint64_t n = 0;
    for (int ra = birch_cursor_first(ca), rb = birch_cursor_first(cb);; ra = birch_cursor_next(ca),
             rb = birch_cursor_next(cb), n++) {
        ck_assert_int_eq(ra, rb);
        if (ra == BIRCH_NOTFOUND) break;
        BT_OK(ra);
        birch_val ka, va, kb, vb;
        BT_OK(birch_cursor_get(ca, &ka, &va));
        BT_OK(birch_cursor_get(cb, &kb, &vb));
        ck_assert_msg(ka.size == kb.size && memcmp(ka.data, kb.data, ka.size) == 0, "table %s: key %" PRIu64 " differs",
                      name, n);
        ck_assert_msg(va.size == vb.size && memcmp(va.data, vb.data, va.size) == 0,
                      "table %s: value %" PRIu64 " differs", name, n);
        ck_assert(BT_ALIGNED(vb.data));
    }
    ck_assert_uint_eq(n, bt_count(a, ta));
    birch_cursor_close(ca);
    birch_cursor_close(cb);
}

/* Every table, schema and record of a is in b and vice versa. */
static void same_db(birch_db *a, birch_db *b)
{
    birch_txn *ta = bt_begin(a, BIRCH_TXN_READ), *tb = bt_begin(b, BIRCH_TXN_READ);
    names *na = calloc(1, sizeof *na), *nb = calloc(1, sizeof *nb);
    BT_OK(birch_table_list(ta, add_name, na));
    BT_OK(birch_table_list(tb, add_name, nb));
    ck_assert_int_eq(na->n, nb->n);
    for (int i = 0; i < na->n; i++) {
        ck_assert_str_eq(na->v[i], nb->v[i]);
        same_table(ta, tb, na->v[i]);
    }
    free(na);
    free(nb);
    birch_txn_abort(ta);
    birch_txn_abort(tb);
}

static char *suffixed(const char *path, const char *suffix)
{
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%s%s", path, suffix);
    return s;
}

/* Creates (or replaces) a file holding text. */
static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- Copies ------------------------------------------------------------------------- */

static void copy_case(uint32_t ps)
{
    char *src = bt_path("src"), *plain = bt_path("plain"), *compact = bt_path("compact");
    birch_options o = bt_opts();
    o.page_size = ps;
    birch_db *db = bt_open(src, &o);
    fill(db, 4, 600);
    thin(db, 4, 600, 5);
    birch_stat s = bt_stat(db);
    ck_assert_uint_gt(s.free_pages, 0);

    BT_OK(birch_copy(db, plain, 0, NULL, NULL));
    BT_OK(birch_copy(db, compact, BIRCH_COPY_COMPACT, NULL, NULL));
    birch_db *p = bt_open(plain, &o), *c = bt_open(compact, &o);
    bt_check(p);
    bt_check(c);
    same_db(db, p);
    same_db(db, c);

    /* The plain copy is the snapshot page for page, free list included. */
    birch_stat sp = bt_stat(p), sc = bt_stat(c);
    ck_assert_uint_eq(sp.page_count, s.page_count);
    ck_assert_uint_eq(sp.free_pages, s.free_pages);
    ck_assert_uint_eq(sp.txnid, s.txnid);
    ck_assert_uint_eq(bt_file_size(plain), s.page_count * ps);
    /* The compact copy: no free page, and no page but those in use (the
     * free tree's pages are gone too), so at most npages - free_pages. */
    ck_assert_uint_eq(sc.free_pages, 0);
    ck_assert_uint_le(sc.page_count, s.page_count - s.free_pages);
    ck_assert_uint_gt(sc.page_count, (s.page_count - s.free_pages) * 3 / 4); /* less the free tree */
    ck_assert_uint_eq(bt_file_size(compact), sc.page_count * ps);
    ck_assert_uint_lt(bt_file_size(compact), bt_file_size(plain));
    ck_assert_uint_eq(sc.table_count, s.table_count);

    /* Both copies are ordinary databases: they take writes. */
    birch_txn *w = bt_begin(c, BIRCH_TXN_WRITE);
    bt_put_s(w, bt_table(w, "t0", 0), "new", "record");
    BT_OK(birch_txn_commit(w));
    bt_check(c);
    BT_OK(birch_close(p));
    BT_OK(birch_close(c));
    BT_OK(birch_close(db));
    free(src);
    free(plain);
    free(compact);
}

START_TEST(test_copy_4096) { copy_case(4096); }
END_TEST

/* 512-byte pages: the "big" table's catalog record lives in an overflow run. */
START_TEST(test_copy_512) { copy_case(512); }
END_TEST

START_TEST(test_copy_empty)
{
    char *src = bt_path("src"), *p = bt_path("p"), *c = bt_path("c");
    birch_db *db = bt_open(src, NULL);
    BT_OK(birch_copy(db, p, 0, NULL, NULL));
    BT_OK(birch_copy(db, c, BIRCH_COPY_COMPACT, NULL, NULL));
    birch_db *a = bt_open(p, NULL), *b = bt_open(c, NULL);
    same_db(db, a);
    same_db(db, b);
    ck_assert_uint_eq(bt_stat(b).page_count, 2);
    BT_OK(birch_close(a));
    BT_OK(birch_close(b));
    BT_OK(birch_close(db));
    free(src);
    free(p);
    free(c);
}
END_TEST

/* A memory database can be saved to a file. */
START_TEST(test_copy_memory)
{
    birch_options o = bt_opts();
    o.backend = BIRCH_BACKEND_MEMORY;
    birch_db *db = bt_open(NULL, &o);
    fill(db, 2, 300);
    char *p = bt_path("saved");
    BT_OK(birch_copy(db, p, BIRCH_COPY_COMPACT, NULL, NULL));
    birch_db *f = bt_open(p, NULL);
    bt_check(f);
    same_db(db, f);
    BT_OK(birch_close(f));
    BT_OK(birch_close(db));
    free(p);
}
END_TEST

typedef struct prog {
    uint64_t calls, last_done, last_total, cancel_at;
    int bad;
} prog;

static int on_progress(uint64_t done, uint64_t total, void *ctx)
{
    prog *p = ctx;
    if (done < p->last_done || done > total) p->bad = 1;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
    return p->cancel_at && p->calls >= p->cancel_at ? 42 : 0;
}

START_TEST(test_copy_errors_and_progress)
{
    char *src = bt_path("src"), *dst = bt_path("dst");
    birch_db *db = bt_open(src, NULL);
    fill(db, 3, 2000);
    BT_RC(birch_copy(NULL, dst, 0, NULL, NULL), BIRCH_EINVAL);
    BT_RC(birch_copy(db, NULL, 0, NULL, NULL), BIRCH_EINVAL);
    BT_RC(birch_copy(db, "", 0, NULL, NULL), BIRCH_EINVAL);
    BT_RC(birch_copy(db, dst, 0x80, NULL, NULL), BIRCH_EINVAL);
    BT_RC(birch_copy(db, src, 0, NULL, NULL), BIRCH_EXISTS);
    /* A missing directory: NOTFOUND, and the detail names the path and the
     * operating system's reason. */
    BT_RC(birch_copy(db, "/nonexistent-dir/x.birch", 0, NULL, NULL), BIRCH_NOTFOUND);
    BT_ERRMSG_HAS("/nonexistent-dir/x.birch.tmp");
    BT_ERRMSG_HAS("No such file or directory");
    BT_RC(birch_copy(db, src, 0, NULL, NULL), BIRCH_EXISTS);
    BT_ERRMSG_HAS("exists already");

    /* Cancelled: the progress value comes back, and no file is left. */
    char *tmp = suffixed(dst, ".tmp");
    for (unsigned flags = 0; flags <= BIRCH_COPY_COMPACT; flags++) {
        prog pr = {.cancel_at = 2};
        BT_RC(birch_copy(db, dst, flags, on_progress, &pr), 42);
        ck_assert(!exists(dst));
        ck_assert(!exists(tmp));
    }
    /* A stale .tmp (a crashed copy) is replaced. */
    write_text(tmp, "junk");
    prog pr = {0};
    BT_OK(birch_copy(db, dst, 0, on_progress, &pr));
    ck_assert(!exists(tmp));
    ck_assert(!pr.bad);
    ck_assert_uint_gt(pr.calls, 2);
    ck_assert_uint_eq(pr.last_done, pr.last_total);
    ck_assert_uint_eq(pr.last_total, bt_stat(db).page_count - 2);
    BT_RC(birch_copy(db, dst, 0, NULL, NULL), BIRCH_EXISTS);
    BT_OK(birch_close(db));
    free(src);
    free(dst);
    free(tmp);
}
END_TEST

/* ---- Compaction ---------------------------------------------------------------------- */

/* A file with many free pages: filled, then 90% deleted. */
static void sparse_file(const char *path, uint32_t ps)
{
    birch_options o = bt_opts_fast();
    o.page_size = ps;
    birch_db *db = bt_open(path, &o);
    fill(db, 3, 3000);
    thin(db, 3, 3000, 10);
    BT_OK(birch_close(db));
}

START_TEST(test_compact_shrinks)
{
    char *path = bt_path("c"), *ref = bt_path("ref");
    sparse_file(path, 1024);
    birch_db *db = bt_open(path, NULL);
    birch_stat before = bt_stat(db);
    ck_assert_uint_gt(before.free_pages, before.page_count / 2);
    BT_OK(birch_copy(db, ref, 0, NULL, NULL)); /* the data to compare with */
    BT_OK(birch_close(db));
    uint64_t size_before = bt_file_size(path);

    prog pr = {0};
    BT_OK(birch_compact(path, NULL, on_progress, &pr));
    ck_assert(!pr.bad);
    ck_assert_uint_eq(pr.last_done, pr.last_total);
    uint64_t size_after = bt_file_size(path);
    ck_assert_msg(size_after < size_before / 2, "compaction left %" PRIu64 " of %" PRIu64 " bytes", size_after,
                  size_before);
    db = bt_open(path, NULL);
    birch_db *r = bt_open(ref, NULL);
    bt_check(db);
    same_db(r, db);
    birch_stat after = bt_stat(db);
    ck_assert_uint_eq(after.free_pages, 0);
    ck_assert_uint_le(after.page_count, before.page_count - before.free_pages);
    ck_assert_uint_eq(after.txnid, before.txnid);
    BT_OK(birch_close(r));
    BT_OK(birch_close(db));
    char *tmp = suffixed(path, ".compact.tmp");
    ck_assert(!exists(tmp));
    free(tmp);
    free(path);
    free(ref);
}
END_TEST

START_TEST(test_compact_errors)
{
    char *path = bt_path("c");
    BT_RC(birch_compact(path, NULL, NULL, NULL), BIRCH_NOTFOUND);
    ck_assert(!exists(path)); /* not created */
    BT_RC(birch_compact(NULL, NULL, NULL, NULL), BIRCH_EINVAL);
    birch_db *db = bt_open(path, NULL);
    fill(db, 1, 10);
    BT_RC(birch_compact(path, NULL, NULL, NULL), BIRCH_EBUSY); /* open elsewhere */
    BT_OK(birch_close(db));
    birch_options o = bt_opts();
    o.read_only = 1;
    BT_RC(birch_compact(path, &o, NULL, NULL), BIRCH_EINVAL);
    o = bt_opts();
    o.recreate = BIRCH_RECREATE_ALWAYS;
    BT_RC(birch_compact(path, &o, NULL, NULL), BIRCH_EINVAL);
    o = bt_opts();
    o.backend = BIRCH_BACKEND_MEMORY;
    BT_RC(birch_compact(path, &o, NULL, NULL), BIRCH_EINVAL);
    char *notdb = bt_path("notdb");
    write_text(notdb, "this is not a database, just some text of a few bytes");
    BT_RC(birch_compact(notdb, NULL, NULL, NULL), BIRCH_ENOTDB);
    /* Cancelled: the file is untouched, no tmp left. */
    prog pr = {.cancel_at = 1};
    BT_RC(birch_compact(path, NULL, on_progress, &pr), 42);
    db = bt_open(path, NULL);
    bt_check(db);
    BT_OK(birch_close(db));
    free(path);
    free(notdb);
}
END_TEST

/* ---- Crash safety of compaction ------------------------------------------------------ */

static void die_at_step(int step, void *ctx)
{
    if (step == *(int *)ctx) _exit(0);
}

static int die_in_copy(uint64_t done, uint64_t total, void *ctx)
{
    (void)total;
    if (done >= *(uint64_t *)ctx) _exit(0);
    return 0;
}

/* Runs bi_compact in a child that "crashes" (_exit, no cleanup) at step,
 * or, with step 0, once the copy has written crash_pages pages. */
static void crash_child(const char *path, int step, uint64_t crash_pages)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int rc = bi_compact(path, NULL, step ? NULL : die_in_copy, &crash_pages, die_at_step, &step);
        _exit(rc == BIRCH_OK ? 3 : 4); /* should not get here */
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child did not stop at step %d", step);
}

static void slurp(const char *path, uint8_t **buf, uint64_t *n)
{
    *n = bt_file_size(path);
    *buf = malloc(*n);
    bt_file_read(path, *buf, *n, 0);
}

static void crash_case(int step, uint64_t crash_pages)
{
    char *path = bt_path("crash"), *ref = bt_path("ref"), *tmp = suffixed(path, ".compact.tmp");
    sparse_file(path, 1024);
    birch_db *db = bt_open(path, NULL);
    BT_OK(birch_copy(db, ref, 0, NULL, NULL));
    BT_OK(birch_close(db));
    uint8_t *orig;
    uint64_t orig_n;
    slurp(path, &orig, &orig_n);

    crash_child(path, step, crash_pages);
    ck_assert(exists(tmp) == (step != BI_COMPACT_RENAMED)); /* a leftover until the rename */
    uint8_t *now;
    uint64_t now_n;
    slurp(path, &now, &now_n);
    if (step == BI_COMPACT_RENAMED) {
        ck_assert_uint_lt(now_n, orig_n); /* the compacted file took its place */
    } else {
        /* Before the rename the original is untouched, byte for byte. */
        ck_assert_uint_eq(now_n, orig_n);
        ck_assert(memcmp(now, orig, orig_n) == 0);
    }
    free(now);
    db = bt_open(path, NULL);
    birch_db *r = bt_open(ref, NULL);
    bt_check(db);
    same_db(r, db);
    BT_OK(birch_close(db));

    /* The next compaction ignores (replaces) the leftover and succeeds. */
    BT_OK(birch_compact(path, NULL, NULL, NULL));
    ck_assert(!exists(tmp));
    db = bt_open(path, NULL);
    bt_check(db);
    same_db(r, db);
    ck_assert_uint_eq(bt_stat(db).free_pages, 0);
    BT_OK(birch_close(db));
    BT_OK(birch_close(r));
    free(orig);
    free(path);
    free(ref);
    free(tmp);
}

START_TEST(test_compact_crash_in_copy) { crash_case(0, 1); }
END_TEST
START_TEST(test_compact_crash_late_in_copy) { crash_case(0, 300); }
END_TEST
START_TEST(test_compact_crash_before_rename) { crash_case(BI_COMPACT_COPIED, 0); }
END_TEST
START_TEST(test_compact_crash_after_rename) { crash_case(BI_COMPACT_RENAMED, 0); }
END_TEST

/* ---- Damaged sources ------------------------------------------------------------------ */

/* Pages of the file at path, found by walking its current meta's trees. */
typedef struct found {
    uint64_t leaf, branch, run; /* of table "t0": a leaf, a branch, an overflow run's first page */
    uint64_t catalog;           /* the catalog's root */
    uint64_t catrun;            /* the run of table "big"'s catalog record */
    uint64_t freepage;          /* the free-space map's newest record */
} found;

static void find_in_table(const uint8_t *b, uint32_t ps, uint64_t pgno, found *f)
{
    uint8_t *p = (uint8_t *)b + pgno * ps;
    if (!bi_is_leaf(p)) {
        if (!f->branch) f->branch = pgno;
        for (unsigned i = 0; i < bi_nkeys(p); i++) find_in_table(b, ps, bi_branch_child(p, i), f);
        return;
    }
    if (!f->leaf) f->leaf = pgno;
    for (unsigned i = 0; i < bi_nkeys(p) && !f->run; i++) {
        if (!(bi_leaf_node(p, i)->flags & BI_N_BIG)) continue;
        bi_bigval bv;
        memcpy(&bv, bi_leaf_val(p, i), sizeof bv);
        f->run = bv.pgno;
    }
}

static found find_pages(const char *path, uint32_t ps)
{
    found f = {0};
    uint8_t *b;
    uint64_t n;
    slurp(path, &b, &n);
    bi_meta m;
    bt_meta_read(path, bt_meta_current(path), &m);
    f.catalog = m.catalog.root;
    f.freepage = m.freemap.root;
    uint8_t *cat = b + m.catalog.root * ps;
    ck_assert_msg(bi_is_leaf(cat), "the catalog is one leaf");
    for (unsigned i = 0; i < bi_nkeys(cat); i++) {
        if (bi_leaf_node(cat, i)->flags & BI_N_BIG) {
            bi_bigval bv;
            memcpy(&bv, bi_leaf_val(cat, i), sizeof bv);
            f.catrun = bv.pgno;
        }
        if (bi_node_klen(cat, i) != 2 || memcmp(bi_node_key(cat, i), "t0", 2) != 0) continue;
        bi_table_rec rec;
        memcpy(&rec, bi_leaf_val(cat, i), sizeof rec);
        find_in_table(b, ps, rec.tree.root, &f);
    }
    free(b);
    ck_assert_msg(f.leaf && f.branch && f.run && f.catalog && f.catrun && f.freepage,
                  "pages %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64, f.leaf, f.branch,
                  f.run, f.catalog, f.catrun, f.freepage);
    return f;
}

/* The copy or compaction of a damaged file: BIRCH_ECORRUPT naming the
 * page, no output file (nor a temporary one), the original untouched. */
static void refused(const char *src, uint64_t page, const char *what)
{
    char *dst = bt_path("dst"), *dtmp = suffixed(dst, ".tmp"), *ctmp = suffixed(src, ".compact.tmp");
    char name[32];
    snprintf(name, sizeof name, "page %" PRIu64, page);
    uint8_t *before, *after;
    uint64_t nb, na;
    slurp(src, &before, &nb);
    birch_db *db = bt_open(src, NULL); /* opens: only pages after the durable base are verified */
    for (unsigned flags = 0; flags <= BIRCH_COPY_COMPACT; flags++) {
        int rc = birch_copy(db, dst, flags, NULL, NULL);
        ck_assert_msg(rc == BIRCH_ECORRUPT, "%s: birch_copy(flags %u) returned %d (%s): %s", what, flags, rc,
                      birch_strerror(rc), birch_errmsg());
        ck_assert_msg(strstr(birch_errmsg(), name), "%s: the detail \"%s\" does not name %s", what, birch_errmsg(),
                      name);
        ck_assert_msg(!exists(dst) && !exists(dtmp), "%s: birch_copy(flags %u) left a file", what, flags);
    }
    BT_OK(birch_close(db));
    int rc = birch_compact(src, NULL, NULL, NULL);
    ck_assert_msg(rc == BIRCH_ECORRUPT, "%s: birch_compact returned %d (%s): %s", what, rc, birch_strerror(rc),
                  birch_errmsg());
    ck_assert_msg(strstr(birch_errmsg(), name), "%s: the detail \"%s\" does not name %s", what, birch_errmsg(), name);
    ck_assert_msg(!exists(ctmp), "%s: birch_compact left %s", what, ctmp);
    slurp(src, &after, &na);
    ck_assert_msg(na == nb && memcmp(before, after, nb) == 0, "%s: birch_compact changed the original", what);
    free(before);
    free(after);
    free(dst);
    free(dtmp);
    free(ctmp);
}

/* One byte of page pgno (at offset off in it) flipped in a copy of the
 * clean file at orig; the refusal names page named (the first page of a
 * run). */
static void damage_case(const char *orig, uint32_t ps, uint64_t pgno, uint32_t off, uint64_t named, const char *what)
{
    char *path = bt_path("damaged");
    bt_file_copy(orig, path);
    uint8_t byte;
    bt_file_read(path, &byte, 1, pgno * ps + off);
    byte ^= 0x20;
    bt_file_write(path, &byte, 1, pgno * ps + off);
    refused(path, named, what);
    bt_remove(path);
    free(path);
}

START_TEST(test_copy_refuses_damage)
{
    uint32_t ps = 1024;
    char *orig = bt_path("orig");
    birch_options o = bt_opts();
    o.page_size = ps;
    birch_db *db = bt_open(orig, &o);
    fill(db, 2, 1500);
    thin(db, 2, 1500, 3); /* free pages, so a free tree */
    bt_check(db);
    BT_OK(birch_close(db));
    found f = find_pages(orig, ps);
    /* The last byte of a page: a node's value or key; a header byte would
     * be refused for its own reason. */
    damage_case(orig, ps, f.leaf, ps - 1, f.leaf, "a table leaf");
    damage_case(orig, ps, f.branch, ps - 1, f.branch, "a table branch");
    damage_case(orig, ps, f.run, BI_HDR + 5, f.run, "an overflow run");
    damage_case(orig, ps, f.run + 1, 7, f.run, "an overflow run's second page");
    damage_case(orig, ps, f.catalog, ps - 1, f.catalog, "the catalog");
    damage_case(orig, ps, f.catrun, BI_HDR + 3, f.catrun, "a catalog record's run (the table's root)");
    damage_case(orig, ps, f.catrun, ps - 1, f.catrun, "a catalog record's run (its schema)");
    damage_case(orig, ps, f.freepage, ps - 1, f.freepage, "the free tree");
    /* The clean file copies and compacts. */
    db = bt_open(orig, NULL);
    char *dst = bt_path("dst");
    BT_OK(birch_copy(db, dst, 0, NULL, NULL));
    BT_OK(birch_close(db));
    BT_OK(birch_compact(orig, NULL, NULL, NULL));
    free(dst);
    free(orig);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("copy");
    TCase *tc = bt_tcase("copy");
    tcase_add_test(tc, test_copy_4096);
    tcase_add_test(tc, test_copy_512);
    tcase_add_test(tc, test_copy_empty);
    tcase_add_test(tc, test_copy_memory);
    tcase_add_test(tc, test_copy_errors_and_progress);
    tcase_add_test(tc, test_compact_shrinks);
    tcase_add_test(tc, test_compact_errors);
    tcase_add_test(tc, test_compact_crash_in_copy);
    tcase_add_test(tc, test_compact_crash_late_in_copy);
    tcase_add_test(tc, test_compact_crash_before_rename);
    tcase_add_test(tc, test_compact_crash_after_rename);
    tcase_add_test(tc, test_copy_refuses_damage);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
