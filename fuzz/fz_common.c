/*
 * fz_common.c - scratch files, the fault-injecting io layer and the
 * whole-API exercise shared by the fuzz harnesses and the tests (fz.h).
 */
#define _GNU_SOURCE
#include "fz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- Failing ------------------------------------------------------------ */

void fz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "\nfuzz invariant broken at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fflush(stderr);
    abort();
}

int fz_known_rc(int rc)
{
    if (rc > BIRCH_OK || rc < BIRCH_EFORK) return 0;
    /* Every damaged-file report says which check failed and where (a
     * BI_CORRUPT site, or birch_check's own report). */
    if (rc == BIRCH_ECORRUPT) {
        const char *m = birch_errmsg();
        if (strncmp(m, "damaged file: ", 14) != 0 && strncmp(m, "birch_check: ", 13) != 0) {
            fprintf(stderr, "BIRCH_ECORRUPT without a detail: birch_errmsg() is \"%s\"\n", m);
            return 0;
        }
    }
    return 1;
}

/* ---- Scratch files -------------------------------------------------------- */

static char fz_dir[512];
static pid_t fz_dir_pid;
static char fz_pathbuf[4][640];
static unsigned fz_pathnext;

static void fz_dir_remove(void)
{
    if (fz_dir_pid != getpid() || !fz_dir[0]) return;
    static const char *names[] = {"ops", "file", "test", "copy", "corrupt", "orig"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char p[640];
        snprintf(p, sizeof p, "%s/%s", fz_dir, names[i]);
        unlink(p);
    }
    rmdir(fz_dir);
    fz_dir[0] = 0;
}

const char *fz_path(const char *name)
{
    if (fz_dir_pid != getpid() || !fz_dir[0]) {
        const char *base = getenv("FZ_TMPDIR");
        struct stat st;
        if (!base || !*base) base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : NULL;
        if (!base) base = getenv("TMPDIR");
        if (!base || !*base) base = "/tmp";
        snprintf(fz_dir, sizeof fz_dir, "%s/birch-fuzz-%ld-XXXXXX", base, (long)getpid());
        if (!mkdtemp(fz_dir)) FZ_FAIL("mkdtemp(%s): %s", fz_dir, strerror(errno));
        if (fz_dir_pid == 0) atexit(fz_dir_remove);
        fz_dir_pid = getpid();
    }
    char *p = fz_pathbuf[fz_pathnext++ % 4];
    snprintf(p, sizeof fz_pathbuf[0], "%s/%s", fz_dir, name);
    return p;
}

void fz_write_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) FZ_FAIL("open(%s): %s", path, strerror(errno));
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) FZ_FAIL("write(%s): %s", path, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    close(fd);
}

void fz_remove(const char *path)
{
    unlink(path);
}

/* ---- I/O faults ------------------------------------------------------------ */

static fz_faults *fz_cur; /* the layer's state: one fault layer per process */

static int fz_trip(long *countdown)
{
    fz_faults *f = fz_cur;
    if (!f) return 0;
    if (!f->tripped && *countdown > 0 && --*countdown == 0) f->tripped = 1;
    if (f->tripped) f->injected++;
    return f->tripped;
}

static int fz_open(void *ctx, const char *path, unsigned flags, bi_file **out)
{
    fz_cur = ctx;
    return bi_io_posix.open(NULL, path, flags, out);
}
static int fz_writev(bi_file *f, const struct iovec *iov, int cnt, uint64_t off)
{
    if (fz_cur && fz_trip(&fz_cur->fail_write)) return BIRCH_EIO;
    return bi_io_posix.writev(f, iov, cnt, off);
}
static int fz_sync(bi_file *f)
{
    if (fz_cur && fz_trip(&fz_cur->fail_sync)) return BIRCH_EIO;
    return bi_io_posix.sync(f);
}
static void fz_close(bi_file *f) { bi_io_posix.close(f); }
static int fz_lock(bi_file *f, int ex) { return bi_io_posix.lock(f, ex); }
static int fz_read(bi_file *f, void *b, size_t n, uint64_t off) { return bi_io_posix.read(f, b, n, off); }
static int fz_size(bi_file *f, uint64_t *s) { return bi_io_posix.size(f, s); }
static int fz_resize(bi_file *f, uint64_t s) { return bi_io_posix.resize(f, s); }
static int fz_map(bi_file *f, uint64_t len, void **a) { return bi_io_posix.map(f, len, a); }
static void fz_unmap(bi_file *f, void *a, uint64_t len) { bi_io_posix.unmap(f, a, len); }
static void fz_drop_resident(bi_file *f, void *a, uint64_t len) { bi_io_posix.drop_resident(f, a, len); }

/* Creation: the temporary file's writes and syncs trip like any other;
 * publishing and the directory sync count as syncs. */
static int fz_create_temp(void *ctx, const char *path, bi_file **out)
{
    fz_cur = ctx;
    return bi_io_posix.create_temp(NULL, path, out);
}
static int fz_publish(bi_file *f, const char *path, int replace)
{
    if (fz_cur && fz_trip(&fz_cur->fail_sync)) return BIRCH_EIO;
    return bi_io_posix.publish(f, path, replace);
}
static int fz_sync_dir(bi_file *f)
{
    if (fz_cur && fz_trip(&fz_cur->fail_sync)) return BIRCH_EIO;
    return bi_io_posix.sync_dir(f);
}
static int fz_at_path(bi_file *f, const char *path) { return bi_io_posix.at_path(f, path); }

static const bi_io_ops fz_ops = {
    .open = fz_open, .close = fz_close, .lock = fz_lock, .read = fz_read,
    .writev = fz_writev, .sync = fz_sync, .size = fz_size, .resize = fz_resize,
    .map = fz_map, .unmap = fz_unmap, .drop_resident = fz_drop_resident,
    .create_temp = fz_create_temp, .publish = fz_publish, .sync_dir = fz_sync_dir, .at_path = fz_at_path,
};

bi_io fz_faults_io(fz_faults *f)
{
    bi_io io = {&fz_ops, f};
    return io;
}

void fz_faults_reset(fz_faults *f)
{
    memset(f, 0, sizeof *f);
}

/* ---- Records seen by a scan ----------------------------------------------- */

typedef struct rec {
    uint8_t *key;
    size_t klen;
    uint64_t vh; /* hash of the value: reads every byte of it */
    size_t vlen;
} rec;

typedef struct recs {
    rec *v;
    size_t n, cap;
} recs;

static uint64_t fz_hash(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h ^ n;
}

static void recs_push(recs *r, birch_val k, birch_val v)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        if (!r->v) FZ_FAIL("out of memory");
    }
    rec *e = &r->v[r->n++];
    e->key = malloc(k.size ? k.size : 1);
    if (!e->key) FZ_FAIL("out of memory");
    memcpy(e->key, k.data, k.size);
    e->klen = k.size;
    e->vh = fz_hash(v.data, v.size);
    e->vlen = v.size;
}

static void recs_free(recs *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->v[i].key);
    free(r->v);
    r->v = NULL;
    r->n = r->cap = 0;
}

static int keycmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

static int rec_eq(const rec *a, const rec *b)
{
    return a->klen == b->klen && !memcmp(a->key, b->key, a->klen) && a->vh == b->vh && a->vlen == b->vlen;
}

#define FZ_SCAN_LIMIT 4096u

/* A value read through the API: 8-byte aligned (birch.h), every byte
 * readable (the hash touches them all, so ASan sees a bad pointer). */
static void touch_val(birch_val v)
{
    FZ_REQUIRE(((uintptr_t)v.data & 7u) == 0 || v.size == 0, "value pointer %p not 8-byte aligned", v.data);
    volatile uint64_t h = fz_hash(v.data, v.size);
    (void)h;
}

/* Scans t one way, at most FZ_SCAN_LIMIT records.  Returns the code that
 * ended the scan: BIRCH_NOTFOUND at the end, BIRCH_OK at the limit. */
static int scan(birch_txn *txn, birch_table *t, int reverse, size_t limit, recs *out)
{
    birch_cursor *c = NULL;
    int rc = birch_cursor_open(txn, t, &c);
    FZ_REQUIRE(fz_known_rc(rc), "cursor_open returned %d", rc);
    if (rc) return rc;
    rc = reverse ? birch_cursor_last(c) : birch_cursor_first(c);
    while (rc == BIRCH_OK) {
        birch_val k, v;
        rc = birch_cursor_get(c, &k, &v);
        FZ_REQUIRE(fz_known_rc(rc), "cursor_get returned %d", rc);
        if (rc) break;
        touch_val(v);
        recs_push(out, k, v);
        if (out->n >= limit) break;
        rc = reverse ? birch_cursor_prev(c) : birch_cursor_next(c);
        FZ_REQUIRE(fz_known_rc(rc), "cursor move returned %d", rc);
    }
    birch_cursor_close(c);
    return rc;
}

/* ---- The exercise ----------------------------------------------------------- */

#define FZ_MAX_NAMES 16

typedef struct names {
    char v[FZ_MAX_NAMES][BIRCH_MAX_NAME_SIZE + 1];
    int n;
    int more;
} names;

static int add_name(const char *name, void *ctx)
{
    names *ns = ctx;
    FZ_REQUIRE(strlen(name) >= 1 && strlen(name) <= BIRCH_MAX_NAME_SIZE, "table_list gave a bad name");
    if (ns->n == FZ_MAX_NAMES) {
        ns->more = 1;
        return 1;
    }
    strcpy(ns->v[ns->n++], name);
    return 0;
}

static int list_names(birch_txn *txn, names *ns)
{
    memset(ns, 0, sizeof *ns);
    int rc = birch_table_list(txn, add_name, ns);
    FZ_REQUIRE(fz_known_rc(rc) || rc == 1, "table_list returned %d", rc);
    return rc == 1 ? BIRCH_OK : rc;
}

/* Reads table t every way.  strict: the file passed birch_check, so every
 * read must succeed and agree with the others. */
static void read_table(birch_txn *txn, birch_table *t, const char *name, int strict)
{
    uint64_t count = 0;
    int rc = birch_count(txn, t, &count);
    FZ_REQUIRE(fz_known_rc(rc), "count returned %d", rc);
    FZ_REQUIRE(!strict || rc == BIRCH_OK, "%s: count returned %d on a checked file", name, rc);
    struct birch_table_stat ts;
    rc = birch_table_stat(txn, t, &ts);
    FZ_REQUIRE(fz_known_rc(rc), "table_stat returned %d", rc);
    FZ_REQUIRE(!strict || rc == BIRCH_OK, "%s: table_stat returned %d on a checked file", name, rc);
    if (strict)
        FZ_REQUIRE(ts.records == count && ts.fill >= 0.0 && ts.fill <= 1.0 &&
                       ts.used_bytes <= (ts.branch_pages + ts.leaf_pages) * ts.page_size &&
                       (ts.depth == 0) == (ts.leaf_pages == 0),
                   "%s: table_stat says %llu records (count %llu), fill %f, depth %u, %llu leaves", name,
                   (unsigned long long)ts.records, (unsigned long long)count, ts.fill, ts.depth,
                   (unsigned long long)ts.leaf_pages);
    birch_val schema;
    rc = birch_table_schema(txn, t, &schema);
    FZ_REQUIRE(fz_known_rc(rc), "table_schema returned %d", rc);
    FZ_REQUIRE(!strict || rc == BIRCH_OK, "%s: schema returned %d on a checked file", name, rc);
    if (rc == BIRCH_OK) {
        FZ_REQUIRE(schema.size <= BIRCH_MAX_SCHEMA_SIZE, "schema of %zu bytes", schema.size);
        volatile uint64_t h = fz_hash(schema.data, schema.size);
        (void)h;
    }

    recs f = {0}, b = {0};
    int rcf = scan(txn, t, 0, FZ_SCAN_LIMIT, &f);
    int rcb = scan(txn, t, 1, FZ_SCAN_LIMIT, &b);
    if (strict) {
        FZ_REQUIRE(rcf == BIRCH_NOTFOUND || (rcf == BIRCH_OK && f.n == FZ_SCAN_LIMIT),
                   "%s: forward scan ended with %d on a checked file", name, rcf);
        FZ_REQUIRE(rcb == BIRCH_NOTFOUND || (rcb == BIRCH_OK && b.n == FZ_SCAN_LIMIT),
                   "%s: backward scan ended with %d on a checked file", name, rcb);
        for (size_t i = 1; i < f.n; i++)
            FZ_REQUIRE(keycmp(f.v[i - 1].key, f.v[i - 1].klen, f.v[i].key, f.v[i].klen) < 0,
                       "%s: forward scan keys %zu and %zu out of order", name, i - 1, i);
        if (rcf == BIRCH_NOTFOUND) {
            FZ_REQUIRE(f.n == count, "%s: count %llu but the scan found %zu", name,
                       (unsigned long long)count, f.n);
        }
        if (rcf == BIRCH_NOTFOUND && rcb == BIRCH_NOTFOUND) {
            FZ_REQUIRE(b.n == f.n, "%s: scans found %zu and %zu records", name, f.n, b.n);
            for (size_t i = 0; i < f.n; i++)
                FZ_REQUIRE(rec_eq(&f.v[i], &b.v[f.n - 1 - i]), "%s: scans differ at record %zu", name, i);
        }
    }

    /* Gets and seeks of (up to 64 of) the records found. */
    size_t step = f.n > 64 ? f.n / 64 : 1;
    birch_cursor *c = NULL;
    rc = birch_cursor_open(txn, t, &c);
    FZ_REQUIRE(fz_known_rc(rc), "cursor_open returned %d", rc);
    FZ_REQUIRE(!strict || rc == BIRCH_OK, "%s: cursor_open returned %d on a checked file", name, rc);
    int complete = rcf == BIRCH_NOTFOUND;
    for (size_t i = 0; i < f.n; i += step) {
        const rec *e = &f.v[i];
        birch_val k = {e->key, e->klen}, v, ck;
        rc = birch_get(txn, t, k, &v);
        FZ_REQUIRE(fz_known_rc(rc), "get returned %d", rc);
        if (rc == BIRCH_OK) touch_val(v);
        if (strict) {
            FZ_REQUIRE(rc == BIRCH_OK, "%s: get of scanned record %zu returned %d", name, i, rc);
            FZ_REQUIRE(v.size == e->vlen && fz_hash(v.data, v.size) == e->vh,
                       "%s: get of record %zu gives another value than the scan", name, i);
        }
        if (!c) continue;
        rc = birch_cursor_seek(c, k);
        FZ_REQUIRE(fz_known_rc(rc), "seek returned %d", rc);
        if (rc == BIRCH_OK) {
            rc = birch_cursor_get(c, &ck, &v);
            FZ_REQUIRE(fz_known_rc(rc), "cursor_get returned %d", rc);
            if (rc == BIRCH_OK) touch_val(v);
            FZ_REQUIRE(!strict || (rc == BIRCH_OK && ck.size == e->klen && !memcmp(ck.data, e->key, e->klen)),
                       "%s: seek to record %zu lands elsewhere", name, i);
            rc = birch_cursor_next(c);
            FZ_REQUIRE(fz_known_rc(rc), "next returned %d", rc);
            if (strict && i + 1 < f.n) {
                FZ_REQUIRE(rc == BIRCH_OK, "%s: next after seek %zu returned %d", name, i, rc);
                rc = birch_cursor_get(c, &ck, NULL);
                FZ_REQUIRE(rc == BIRCH_OK && ck.size == f.v[i + 1].klen &&
                               !memcmp(ck.data, f.v[i + 1].key, ck.size),
                           "%s: next after seek %zu is not the next record", name, i);
            } else if (strict && complete) {
                FZ_REQUIRE(rc == BIRCH_NOTFOUND, "%s: next after the last record returned %d", name, rc);
            }
        } else {
            FZ_REQUIRE(!strict, "%s: seek to scanned record %zu returned %d", name, i, rc);
        }
        rc = birch_cursor_seek(c, k);
        if (rc == BIRCH_OK) {
            rc = birch_cursor_prev(c);
            FZ_REQUIRE(fz_known_rc(rc), "prev returned %d", rc);
            if (strict && i > 0) {
                FZ_REQUIRE(rc == BIRCH_OK, "%s: prev after seek %zu returned %d", name, i, rc);
                rc = birch_cursor_get(c, &ck, NULL);
                FZ_REQUIRE(rc == BIRCH_OK && ck.size == f.v[i - 1].klen &&
                               !memcmp(ck.data, f.v[i - 1].key, ck.size),
                           "%s: prev after seek %zu is not the previous record", name, i);
            } else if (strict && i == 0) {
                FZ_REQUIRE(rc == BIRCH_NOTFOUND, "%s: prev before the first record returned %d", name, rc);
            }
        }
        /* A key just after this one (not in the table): seek lands on the next record. */
        if (e->klen < BIRCH_MAX_PAGE_SIZE / 4) {
            uint8_t kb[BIRCH_MAX_PAGE_SIZE / 4 + 1];
            memcpy(kb, e->key, e->klen);
            kb[e->klen] = 0;
            birch_val k2 = {kb, e->klen + 1};
            rc = birch_cursor_seek(c, k2);
            FZ_REQUIRE(fz_known_rc(rc), "seek returned %d", rc);
            if (strict && complete && rc != BIRCH_EKEYSIZE) {
                if (i + 1 < f.n) {
                    FZ_REQUIRE(rc == BIRCH_OK, "%s: seek past record %zu returned %d", name, i, rc);
                    rc = birch_cursor_get(c, &ck, NULL);
                    FZ_REQUIRE(rc == BIRCH_OK && ck.size == f.v[i + 1].klen &&
                                   !memcmp(ck.data, f.v[i + 1].key, ck.size),
                               "%s: seek past record %zu is not the next record", name, i);
                } else {
                    FZ_REQUIRE(rc == BIRCH_NOTFOUND, "%s: seek past the last record returned %d", name, rc);
                }
            }
        }
    }
    /* A few keys that are likely absent. */
    static const char *probes[] = {"a", "key", "key000100", "\xff\xff\xff\xff\xff", "fz"};
    for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) {
        birch_val k = {probes[i], strlen(probes[i])}, v;
        rc = birch_get(txn, t, k, &v);
        FZ_REQUIRE(fz_known_rc(rc), "get returned %d", rc);
        FZ_REQUIRE(!strict || rc == BIRCH_OK || rc == BIRCH_NOTFOUND, "%s: get of a probe returned %d", name, rc);
        if (rc == BIRCH_OK) touch_val(v);
        if (c) {
            rc = birch_cursor_seek(c, k);
            FZ_REQUIRE(fz_known_rc(rc), "seek returned %d", rc);
            FZ_REQUIRE(!strict || rc == BIRCH_OK || rc == BIRCH_NOTFOUND, "%s: seek of a probe returned %d", name, rc);
        }
    }
    birch_cursor_close(c);
    recs_free(&f);
    recs_free(&b);
}

static void read_pass(birch_db *db, int strict)
{
    birch_txn *txn = NULL;
    int rc = birch_txn_begin(db, BIRCH_TXN_READ, &txn);
    FZ_REQUIRE(rc == BIRCH_OK, "read txn_begin returned %d", rc);
    names ns;
    rc = list_names(txn, &ns);
    FZ_REQUIRE(!strict || rc == BIRCH_OK, "table_list returned %d on a checked file", rc);
    const char *extra[] = {"fz", "t", "a"};
    for (int i = 0; i < ns.n + 3; i++) {
        const char *name = i < ns.n ? ns.v[i] : extra[i - ns.n];
        birch_table *t = NULL;
        rc = birch_table_open(txn, name, 0, &t);
        FZ_REQUIRE(fz_known_rc(rc), "table_open returned %d", rc);
        if (strict && i < ns.n) FZ_REQUIRE(rc == BIRCH_OK, "listed table %s: open returned %d", name, rc);
        if (rc == BIRCH_OK) read_table(txn, t, name, strict);
    }
    rc = birch_txn_commit(txn);
    FZ_REQUIRE(rc == BIRCH_OK, "read txn commit returned %d", rc);
}

static void fill(uint8_t *b, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        b[i] = (uint8_t)(seed >> 56);
    }
}

/* One write transaction over whatever tables there are.  Returns the
 * commit's result (or the first failure's). */
static int write_pass(birch_db *db, int strict, uint64_t seed, recs *written)
{
    uint32_t ps = birch_page_size(db);
    size_t sizes[] = {0, 7, 40, ps / 3, ps / 3 + 24, ps + 3, 2 * (size_t)ps + 100};
    size_t vmax = 2 * (size_t)ps + 100;
    uint8_t *vb = malloc(vmax);
    if (!vb) FZ_FAIL("out of memory");
    birch_txn *w = NULL;
    int rc = birch_txn_begin(db, BIRCH_TXN_WRITE, &w);
    FZ_REQUIRE(rc == BIRCH_OK, "write txn_begin returned %d", rc);
    names ns;
    rc = list_names(w, &ns);
    FZ_REQUIRE(!strict || rc == BIRCH_OK, "table_list returned %d on a checked file", rc);
    int failed = 0;
#define STEP(expr, ...)                                                             \
    do {                                                                            \
        int r_ = (expr);                                                            \
        FZ_REQUIRE(fz_known_rc(r_), "%s returned %d", #expr, r_);                   \
        if (strict && r_ != BIRCH_OK) FZ_FAIL("%s returned %d on a checked file", #expr, r_); \
        if (r_ != BIRCH_OK) failed = r_;                                            \
    } while (0)

    int ntab = ns.n < 3 ? ns.n : 3;
    for (int ti = 0; ti <= ntab && !failed; ti++) {
        const char *name = ti < ntab ? ns.v[ti] : "fz";
        birch_table *t = NULL;
        rc = birch_table_open(w, name, BIRCH_CREATE, &t);
        FZ_REQUIRE(fz_known_rc(rc), "table_open returned %d", rc);
        FZ_REQUIRE(!strict || rc == BIRCH_OK, "table_open(%s, CREATE) returned %d on a checked file", name, rc);
        if (rc) {
            failed = rc;
            break;
        }
        recs seen = {0};
        rc = scan(w, t, (int)(seed & 1), 64, &seen);
        FZ_REQUIRE(!strict || rc == BIRCH_OK || rc == BIRCH_NOTFOUND, "write txn scan returned %d", rc);
        for (size_t j = 0; j < seen.n && !failed; j++) {
            birch_val k = {seen.v[j].key, seen.v[j].klen};
            if (j % 2) {
                STEP(birch_del(w, t, k));
            } else if (j % 3 == 0) {
                size_t vn = sizes[(seed + j) % 7];
                fill(vb, vn, seed + j);
                STEP(birch_put(w, t, k, (birch_val){vb, vn}, 0));
            }
        }
        recs_free(&seen);
        for (unsigned j = 0; j < 8 && !failed; j++) {
            char kb[32];
            int kn = snprintf(kb, sizeof kb, "fz%02u-%llu", j, (unsigned long long)(seed % 1000));
            size_t vn = sizes[(seed + j) % 7];
            fill(vb, vn, seed * 31 + j);
            birch_val k = {kb, (size_t)kn}, v = {vb, vn};
            STEP(birch_put(w, t, k, v, 0));
            if (!failed && ti == ntab) recs_push(written, k, v);
        }
        if (failed) break;
        /* A cursor that lives across changes. */
        birch_cursor *c = NULL;
        STEP(birch_cursor_open(w, t, &c));
        if (c) {
            int r1 = birch_cursor_first(c);
            FZ_REQUIRE(fz_known_rc(r1), "first returned %d", r1);
            if (!failed) STEP(birch_put(w, t, (birch_val){"fz~", 3}, (birch_val){"x", 1}, 0));
            if (!failed && ti == ntab) recs_push(written, (birch_val){"fz~", 3}, (birch_val){"x", 1});
            r1 = birch_cursor_next(c);
            FZ_REQUIRE(fz_known_rc(r1), "next returned %d", r1);
            FZ_REQUIRE(!strict || r1 == BIRCH_OK || r1 == BIRCH_NOTFOUND, "next across a put returned %d", r1);
            r1 = birch_cursor_prev(c);
            FZ_REQUIRE(fz_known_rc(r1), "prev returned %d", r1);
            birch_cursor_close(c);
        }
        if (!failed && ti == ntab) {
            uint8_t sch[16];
            fill(sch, sizeof sch, seed);
            STEP(birch_table_set_schema(w, t, (birch_val){sch, sizeof sch}));
        }
    }
    /* Drop one table when there are several. */
    if (!failed && ns.n >= 2) STEP(birch_table_drop(w, ns.v[(seed >> 8) % (uint64_t)ns.n]));
#undef STEP
    rc = birch_txn_commit(w);
    FZ_REQUIRE(fz_known_rc(rc), "commit returned %d", rc);
    FZ_REQUIRE(!strict || rc == BIRCH_OK, "commit returned %d on a checked file", rc);
    free(vb);
    return rc;
}

int fz_exercise(birch_db *db, uint64_t seed)
{
    char msg[256];
    int check0 = birch_check(db, msg, sizeof msg);
    FZ_REQUIRE(check0 == BIRCH_OK || check0 == BIRCH_ECORRUPT, "check returned %d", check0);
    int strict = check0 == BIRCH_OK;
    read_pass(db, strict);

    recs written = {0};
    int commit = write_pass(db, strict, seed, &written);
    int check1 = birch_check(db, msg, sizeof msg);
    FZ_REQUIRE(check1 == BIRCH_OK || check1 == BIRCH_ECORRUPT, "check after the write returned %d", check1);
    if (commit == BIRCH_OK && strict)
        FZ_REQUIRE(check1 == BIRCH_OK, "a checked file fails check after a commit: %s", msg);
    read_pass(db, check1 == BIRCH_OK);

    /* What the commit wrote to table fz is there. */
    if (commit == BIRCH_OK && check1 == BIRCH_OK && written.n) {
        birch_txn *r = NULL;
        int rc = birch_txn_begin(db, BIRCH_TXN_READ, &r);
        FZ_REQUIRE(rc == BIRCH_OK, "txn_begin returned %d", rc);
        birch_table *t = NULL;
        rc = birch_table_open(r, "fz", 0, &t);
        /* fz may have been the table dropped */
        for (size_t i = 0; rc == BIRCH_OK && i < written.n; i++) {
            birch_val v;
            int g = birch_get(r, t, (birch_val){written.v[i].key, written.v[i].klen}, &v);
            FZ_REQUIRE(g == BIRCH_OK && v.size == written.v[i].vlen && fz_hash(v.data, v.size) == written.v[i].vh,
                       "committed record %zu of fz reads back wrong (%d)", i, g);
        }
        birch_txn_abort(r);
    }
    recs_free(&written);
    return check1;
}

void fz_exercise_path(const char *path, uint64_t seed)
{
    birch_options o;
    birch_options_init(&o);
    o.map_reserve = 1u << 20;

    /* Read-only first: nothing may be written. */
    birch_db *db = NULL;
    o.read_only = 1;
    int rc = birch_open(path, &o, &db);
    FZ_REQUIRE(fz_known_rc(rc), "read-only open returned %d", rc);
    if (rc == BIRCH_OK) {
        char msg[256];
        int ck = birch_check(db, msg, sizeof msg);
        FZ_REQUIRE(ck == BIRCH_OK || ck == BIRCH_ECORRUPT, "check returned %d", ck);
        read_pass(db, ck == BIRCH_OK);
        rc = birch_close(db);
        FZ_REQUIRE(rc == BIRCH_OK, "close returned %d", rc);
    }

    o.read_only = 0;
    rc = birch_open(path, &o, &db);
    FZ_REQUIRE(fz_known_rc(rc), "open returned %d", rc);
    if (rc) return;
    int last = fz_exercise(db, seed);
    if (getenv("FZ_VERBOSE")) fprintf(stderr, "fz_exercise: final check %d (%s)\n", last, birch_strerror(last));
    rc = birch_close(db);
    FZ_REQUIRE(rc == BIRCH_OK, "close returned %d", rc);

    rc = birch_open(path, &o, &db);
    FZ_REQUIRE(fz_known_rc(rc), "reopen returned %d", rc);
    FZ_REQUIRE(last != BIRCH_OK || rc == BIRCH_OK, "a checked file does not reopen: %d", rc);
    if (rc) return;
    char msg[256];
    int ck = birch_check(db, msg, sizeof msg);
    FZ_REQUIRE(ck == BIRCH_OK || ck == BIRCH_ECORRUPT, "check returned %d", ck);
    FZ_REQUIRE(last != BIRCH_OK || ck == BIRCH_OK, "a checked file fails check after reopen: %s", msg);
    read_pass(db, ck == BIRCH_OK);
    rc = birch_close(db);
    FZ_REQUIRE(rc == BIRCH_OK, "close returned %d", rc);
}
