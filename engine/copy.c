/*
 * copy.c - birch_copy (a consistent copy of a live database) and
 * birch_compact (copy-then-swap compaction of a file).
 *
 * Both read one pinned snapshot (a read transaction), so writers keep
 * committing meanwhile, and write a new file front to back:
 *   - a plain copy writes the snapshot's pages 2..npages-1 as they are (the
 *     free pages as zeros) and two fresh metas naming the same roots, so
 *     the copy keeps the free tree and every checksum;
 *   - a compact copy walks the catalog and every table tree depth first
 *     and writes each page after its children, numbered from 2 upwards in
 *     that order; each parent gets its children's new numbers and
 *     checksums (recomputed, since a page's own number is part of it).  The
 *     free tree is left out, so the copy holds exactly the pages in use,
 *     with no free page.  Pages are not refilled: a half-full page stays
 *     half full (as with LMDB's MDB_CP_COMPACT).
 * The metas are written last, with base_txnid = txnid (a clean copy: open
 * verifies nothing).  The file is written as path.tmp, synced, and renamed
 * to path, and the directory synced, so a crash never leaves half a copy
 * under path (docs/DESIGN.md, "Backup and compaction").
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* renameat2, fdatasync */
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "internal.h"

#define CP_BUF_BYTES ((size_t)1 << 20) /* output buffer and run chunks */
#define CP_PROGRESS_EVERY 256u         /* pages between progress calls */
#define CP_PATH_MAX 4096u

/* ---- Output: a file written front to back ----------------------------------- */

typedef struct cp_out {
    int fd;
    uint8_t *buf;
    size_t used;
    uint64_t off; /* file offset of buf[0] */
} cp_out;

/* The code and message for a failed system call; what names it. */
static int errno_rc(int e, const char *what, const char *path)
{
    if (e == ENOSPC || e == EFBIG || e == EDQUOT) return bi_err_os(BIRCH_EFULL, e, "%s '%s'", what, path);
    if (e == ENOMEM) return bi_err_os(BIRCH_ENOMEM, e, "%s '%s'", what, path);
    if (e == EACCES || e == EPERM) return bi_err_os(BIRCH_EACCES, e, "%s '%s'", what, path);
    if (e == EROFS) return bi_err_os(BIRCH_EREADONLY, e, "%s '%s'", what, path);
    if (e == ENOENT || e == ENOTDIR) return bi_err_os(BIRCH_NOTFOUND, e, "%s '%s'", what, path);
    return bi_err_os(BIRCH_EIO, e, "%s '%s'", what, path);
}

static int exists(const char *path)
{
    return bi_err(BIRCH_EXISTS, "'%s' exists already: a copy never replaces a file", path);
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return errno_rc(w < 0 ? errno : ENOSPC, "writing the copy", "");
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return BIRCH_OK;
}

static int out_flush(cp_out *o)
{
    int rc = write_all(o->fd, o->buf, o->used, o->off);
    o->off += o->used;
    o->used = 0;
    return rc;
}

static int out_put(cp_out *o, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n) {
        size_t k = CP_BUF_BYTES - o->used < n ? CP_BUF_BYTES - o->used : n;
        memcpy(o->buf + o->used, p, k);
        o->used += k;
        p += k;
        n -= k;
        if (o->used == CP_BUF_BYTES) {
            int rc = out_flush(o);
            if (rc) return rc;
        }
    }
    return BIRCH_OK;
}

/* ---- The copy state ------------------------------------------------------------- */

typedef struct cp {
    birch_txn *txn;      /* the source snapshot */
    uint32_t psize;
    cp_out out;
    uint64_t next;       /* next page number of the copy */
    uint64_t budget;     /* page visits left: a damaged tree may share pages */
    uint64_t total;      /* for progress */
    uint64_t reported;   /* page count at the last progress call */
    birch_progress_fn progress;
    void *ctx;
    uint8_t *pages[2 * BI_MAX_DEPTH + 2]; /* one page buffer per walk depth */
    XXH3_state_t *xxh;
} cp;

static int report(cp *c, int force)
{
    uint64_t done = c->next - BI_META_PAGES;
    if (!c->progress || (!force && done - c->reported < CP_PROGRESS_EVERY)) return BIRCH_OK;
    c->reported = done;
    if (done > c->total) c->total = done;
    return c->progress(done, c->total, c->ctx);
}

static int page_buf(cp *c, int depth, uint8_t **out)
{
    if (depth >= (int)(sizeof c->pages / sizeof c->pages[0]))
        return BI_CORRUPT("tables nested deeper than the copy can follow (%d levels)", depth);
    if (!c->pages[depth] && !(c->pages[depth] = malloc(c->psize)))
        return bi_err(BIRCH_ENOMEM, "out of memory copying a page");
    *out = c->pages[depth];
    return BIRCH_OK;
}

/* ---- Compact copy: renumbering walk ----------------------------------------------- */

/* Writes an overflow run of np pages read from src under the next page
 * numbers, with its header's page number changed and, when patch is not
 * NULL, the value bytes replaced by patch (same length).  *csum gets the
 * checksum of the run as written. */
static int emit_run(cp *c, const uint8_t *src, uint32_t np, const void *patch, size_t plen,
                    uint64_t *pgno, uint64_t *csum)
{
    uint64_t len = (uint64_t)np * c->psize, newpg = c->next;
    bi_phdr h;
    memcpy(&h, src, sizeof h);
    h.pgno = newpg;
    XXH3_64bits_reset(c->xxh);
    uint8_t chunk[4096];
    for (uint64_t at = 0; at < len;) {
        size_t k = len - at < sizeof chunk ? (size_t)(len - at) : sizeof chunk;
        memcpy(chunk, src + at, k);
        if (at < sizeof h) memcpy(chunk, &h, sizeof h); /* chunks start at 0, 4096, ... */
        if (patch && at + k > BI_HDR && at < BI_HDR + plen) {
            uint64_t from = at > BI_HDR ? at : BI_HDR, to = at + k < BI_HDR + plen ? at + k : BI_HDR + plen;
            memcpy(chunk + (from - at), (const uint8_t *)patch + (from - BI_HDR), (size_t)(to - from));
        }
        XXH3_64bits_update(c->xxh, chunk, k);
        int rc = out_put(&c->out, chunk, k);
        if (rc) return rc;
        at += k;
    }
    c->next += np;
    *pgno = newpg;
    *csum = XXH3_64bits_digest(c->xxh);
    return report(c, 0);
}

static int copy_tree(cp *c, bi_tree *tree, int depth, int catalog);

/* A leaf node's big value: its run is written and the node repointed. */
static int copy_big(cp *c, uint8_t *src, uint8_t *dst, unsigned i, const void *patch, size_t plen)
{
    birch_val v;
    int rc = bi_leaf_value(c->txn, src, i, &v);
    if (rc) return rc;
    bi_bigval bv;
    const uint8_t *run = (const uint8_t *)v.data - BI_HDR;
    rc = emit_run(c, run, bi_overflow_pages(c->txn->db, v.size), patch, plen, &bv.pgno, &bv.csum);
    if (rc == BIRCH_OK) memcpy(bi_leaf_val(dst, i), &bv, sizeof bv);
    return rc;
}

/* A catalog record: the table's tree is copied first, then the record
 * (inline in dst, or as a new run) names the copy's root. */
static int copy_record(cp *c, uint8_t *src, uint8_t *dst, unsigned i, int depth)
{
    birch_val v;
    bi_table_rec rec;
    int rc = bi_leaf_value(c->txn, src, i, &v);
    if (rc == BIRCH_OK && v.size < sizeof rec)
        rc = BI_CORRUPT("page %llu slot %u: a catalog record of %zu bytes", (unsigned long long)bi_hdr(src)->pgno, i,
                        v.size);
    if (rc) return rc;
    memcpy(&rec, v.data, sizeof rec);
    rc = copy_tree(c, &rec.tree, depth + 1, 0);
    if (rc) return rc;
    if (!(bi_leaf_node(src, i)->flags & BI_N_BIG)) {
        memcpy(bi_leaf_val(dst, i), &rec, sizeof rec);
        return BIRCH_OK;
    }
    uint8_t *patched = malloc(v.size);
    if (!patched) return bi_err(BIRCH_ENOMEM, "out of memory copying a %zu-byte record", v.size);
    memcpy(patched, v.data, v.size);
    memcpy(patched, &rec, sizeof rec);
    rc = copy_big(c, src, dst, i, patched, v.size);
    free(patched);
    return rc;
}

/* Copies the page and everything under it; the copy is written after its
 * children, and gets the next page number. */
static int copy_page(cp *c, uint64_t pgno, int level, int depth, int catalog, uint64_t *newpg, uint64_t *csum)
{
    uint8_t *src, *dst;
    if (!c->budget--)
        return BI_CORRUPT("page %llu: the trees name pages from several parents", (unsigned long long)pgno);
    int rc = bi_page_read(c->txn, pgno, level, &src);
    if (rc == BIRCH_OK) rc = page_buf(c, depth, &dst);
    if (rc) return rc;
    memcpy(dst, src, c->psize);
    for (unsigned i = 0; rc == BIRCH_OK && i < bi_nkeys(src); i++) {
        rc = bi_slot_ok(c->txn, src, i);
        if (rc) break;
        if (!bi_is_leaf(src)) {
            uint64_t child, sum;
            rc = copy_page(c, bi_branch_child(src, i), (int)bi_level(src) - 1, depth + 1, catalog, &child, &sum);
            if (rc == BIRCH_OK) {
                bi_set_branch_child(dst, i, child);
                bi_set_branch_csum(dst, i, sum);
            }
        } else if (catalog) {
            rc = copy_record(c, src, dst, i, depth);
        } else if (bi_leaf_node(src, i)->flags & BI_N_BIG) {
            rc = copy_big(c, src, dst, i, NULL, 0);
        }
    }
    if (rc) return rc;
    *newpg = c->next++;
    bi_hdr(dst)->pgno = *newpg;
    *csum = bi_sum(dst, c->psize);
    rc = out_put(&c->out, dst, c->psize);
    return rc ? rc : report(c, 0);
}

static int copy_tree(cp *c, bi_tree *tree, int depth, int catalog)
{
    if (!tree->root) return BIRCH_OK;
    return copy_page(c, tree->root, -1, depth, catalog, &tree->root, &tree->csum);
}

/* ---- Plain copy: the pages as they are ------------------------------------------- */

/* Marks the pages the free tree lists (and checks them against npages). */
static int mark_free_page(cp *c, uint8_t *free_map, uint64_t pgno, int level)
{
    uint8_t *p;
    if (!c->budget--)
        return BI_CORRUPT("free list page %llu: named from several parents", (unsigned long long)pgno);
    int rc = bi_page_read(c->txn, pgno, level, &p);
    for (unsigned i = 0; rc == BIRCH_OK && i < bi_nkeys(p); i++) {
        if (!bi_is_leaf(p)) {
            rc = bi_slot_ok(c->txn, p, i);
            if (rc == BIRCH_OK) rc = mark_free_page(c, free_map, bi_branch_child(p, i), (int)bi_level(p) - 1);
            continue;
        }
        birch_val v;
        rc = bi_leaf_value(c->txn, p, i, &v);
        for (size_t j = 0; rc == BIRCH_OK && j < v.size / 8; j++) {
            uint64_t f;
            memcpy(&f, (const uint8_t *)v.data + 8 * j, 8);
            if (f >= c->txn->meta.npages)
                return BI_CORRUPT("free list: page %llu past the file's %llu pages", (unsigned long long)f,
                                  (unsigned long long)c->txn->meta.npages);
            free_map[f / 8] |= (uint8_t)(1u << (f % 8));
        }
    }
    return rc;
}

static int copy_pages(cp *c)
{
    const bi_meta *m = &c->txn->meta;
    uint8_t *free_map = calloc(m->npages / 8 + 1, 1);
    if (!free_map) return bi_err(BIRCH_ENOMEM, "out of memory for a map of %llu pages", (unsigned long long)m->npages);
    int rc = m->freetree.root ? mark_free_page(c, free_map, m->freetree.root, -1) : BIRCH_OK;
    uint8_t *zero = rc == BIRCH_OK ? calloc(1, c->psize) : NULL;
    if (rc == BIRCH_OK && !zero) rc = bi_err(BIRCH_ENOMEM, "out of memory copying a page");
    for (uint64_t p = BI_META_PAGES; rc == BIRCH_OK && p < m->npages; p++) {
        int is_free = (free_map[p / 8] >> (p % 8)) & 1;
        rc = out_put(&c->out, is_free ? zero : c->txn->map + p * c->psize, c->psize);
        c->next = p + 1;
        if (rc == BIRCH_OK) rc = report(c, 0);
    }
    free(zero);
    free(free_map);
    return rc;
}

/* ---- Metas, files, the whole copy ---------------------------------------------- */

/* Both meta pages: the snapshot's meta as a clean copy (base = txnid). */
static int write_metas(cp *c, const bi_meta *m)
{
    uint8_t *page = calloc(1, c->psize);
    if (!page) return bi_err(BIRCH_ENOMEM, "out of memory for a meta page");
    bi_meta meta = *m;
    meta.flags = 0;
    meta.base_txnid = meta.txnid;
    meta.reserved = 0;
    bi_meta_seal(&meta);
    memcpy(page, &meta, sizeof meta);
    int rc = write_all(c->out.fd, page, c->psize, 0);
    if (rc == BIRCH_OK) rc = write_all(c->out.fd, page, c->psize, c->psize);
    free(page);
    return rc;
}

static int run_copy(cp *c, unsigned flags)
{
    bi_meta m = c->txn->meta;
    c->next = BI_META_PAGES;
    c->out.off = (uint64_t)BI_META_PAGES * c->psize;
    c->budget = 2 * m.npages + 16;
    int rc;
    if (flags & BIRCH_COPY_COMPACT) {
        c->total = m.npages - BI_META_PAGES - m.free_pages;
        rc = copy_tree(c, &m.catalog, 0, 1);
        m.freetree = (bi_tree){0, 0, 0};
        m.free_pages = 0;
        m.npages = c->next;
    } else {
        c->total = m.npages - BI_META_PAGES;
        rc = copy_pages(c);
    }
    if (rc == BIRCH_OK) rc = out_flush(&c->out);
    if (rc == BIRCH_OK) rc = write_metas(c, &m);
    c->total = c->next - BI_META_PAGES; /* the last call says done == total */
    if (rc == BIRCH_OK) rc = report(c, 1);
    return rc;
}

static void cp_free(cp *c)
{
    for (size_t i = 0; i < sizeof c->pages / sizeof c->pages[0]; i++) free(c->pages[i]);
    free(c->out.buf);
    if (c->xxh) XXH3_freeState(c->xxh);
}

/* Writes the copy of db's current snapshot into the new file tmp and
 * syncs it; removes tmp again on failure. */
static int copy_to(birch_db *db, const char *tmp, unsigned flags, birch_progress_fn progress, void *ctx)
{
    cp c;
    memset(&c, 0, sizeof c);
    c.psize = db->psize;
    c.progress = progress;
    c.ctx = ctx;
    c.out.fd = -1;
    c.out.buf = malloc(CP_BUF_BYTES);
    c.xxh = XXH3_createState();
    int rc = c.out.buf && c.xxh ? BIRCH_OK : bi_err(BIRCH_ENOMEM, "out of memory for the copy's buffers");
    if (rc == BIRCH_OK) rc = birch_txn_begin(db, BIRCH_TXN_READ, &c.txn);
    if (rc == BIRCH_OK) {
        (void)unlink(tmp); /* a leftover of a crashed copy */
        c.out.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (c.out.fd < 0) rc = errno == EEXIST ? exists(tmp) : errno_rc(errno, "cannot create", tmp);
    }
    if (rc == BIRCH_OK) rc = run_copy(&c, flags);
    if (rc == BIRCH_OK && fdatasync(c.out.fd) != 0) rc = errno_rc(errno, "syncing", tmp);
    if (c.out.fd >= 0 && close(c.out.fd) != 0 && rc == BIRCH_OK) rc = errno_rc(errno, "closing", tmp);
    if (c.out.fd >= 0 && rc != BIRCH_OK) (void)unlink(tmp);
    birch_txn_abort(c.txn);
    cp_free(&c);
    return rc;
}

/* Syncs the directory that holds path, so a rename in it is durable. */
static int sync_dir(const char *path)
{
    char dir[CP_PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_rc(errno, "cannot open the directory", dir);
    int rc = fsync(fd) == 0 ? BIRCH_OK : errno_rc(errno, "syncing the directory", dir);
    close(fd);
    return rc;
}

/* Renames from to to, failing with BIRCH_EXISTS if to exists. */
static int rename_new(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return BIRCH_OK;
    if (errno == EEXIST) return exists(to);
    if (errno != EINVAL && errno != ENOSYS) return errno_rc(errno, "cannot rename the copy to", to);
    /* A file system without RENAME_NOREPLACE: link fails if to exists. */
    if (link(from, to) != 0) return errno == EEXIST ? exists(to) : errno_rc(errno, "cannot link the copy to", to);
    (void)unlink(from);
    return BIRCH_OK;
}

static int suffixed(char *buf, const char *path, const char *suffix)
{
    int n = snprintf(buf, CP_PATH_MAX, "%s%s", path, suffix);
    if (n >= 0 && n < (int)CP_PATH_MAX) return BIRCH_OK;
    return bi_err(BIRCH_EINVAL, "the path '%s' is too long (at most %d bytes with '%s')", path,
                  (int)CP_PATH_MAX - 1, suffix);
}

int birch_copy(birch_db *db, const char *path, unsigned flags, birch_progress_fn progress, void *ctx)
{
    if (!db || !path || !*path)
        return bi_err(BIRCH_EINVAL, "birch_copy: %s", !db ? "db is NULL" : !path ? "path is NULL" : "path is empty");
    if (flags & ~BIRCH_COPY_COMPACT) return bi_err(BIRCH_EINVAL, "birch_copy: unknown flags %#x", flags);
    char tmp[CP_PATH_MAX];
    int rc = suffixed(tmp, path, ".tmp");
    if (rc) return rc;
    struct stat st;
    if (lstat(path, &st) == 0) return exists(path);
    rc = copy_to(db, tmp, flags, progress, ctx);
    if (rc == BIRCH_OK) {
        rc = rename_new(tmp, path);
        if (rc) (void)unlink(tmp);
    }
    if (rc == BIRCH_OK) rc = sync_dir(path);
    return rc;
}

int bi_compact(const char *path, const birch_options *opts, birch_progress_fn progress, void *ctx,
               bi_compact_hook hook, void *hook_ctx)
{
    birch_options o;
    birch_options_init(&o);
    if (opts) o = *opts;
    if (!path || !*path) return bi_err(BIRCH_EINVAL, "birch_compact: path is %s", path ? "empty" : "NULL");
    if (o.read_only || o.recreate != BIRCH_RECREATE_NEVER || o.backend != BIRCH_BACKEND_FILE)
        return bi_err(BIRCH_EINVAL, "birch_compact: read_only, BIRCH_RECREATE_ALWAYS and BIRCH_BACKEND_MEMORY "
                                    "make no sense for compaction");
    char tmp[CP_PATH_MAX];
    int rc = suffixed(tmp, path, ".compact.tmp");
    if (rc) return rc;
    struct stat st;
    if (stat(path, &st) != 0) return errno_rc(errno, "cannot compact", path);
    birch_db *db;
    rc = birch_open(path, &o, &db); /* holds the file's lock until the swap is done */
    if (rc) return rc;
    rc = copy_to(db, tmp, BIRCH_COPY_COMPACT, progress, ctx);
    if (rc == BIRCH_OK && hook) hook(BI_COMPACT_COPIED, hook_ctx);
    /* Renamed while the lock is held, so no commit can slip in between. */
    if (rc == BIRCH_OK && rename(tmp, path) != 0) {
        rc = errno_rc(errno, "cannot rename the compacted copy over", path);
        (void)unlink(tmp);
    }
    if (rc == BIRCH_OK && hook) hook(BI_COMPACT_RENAMED, hook_ctx);
    if (rc == BIRCH_OK) rc = sync_dir(path);
    int crc = birch_close(db);
    return rc ? rc : crc;
}

int birch_compact(const char *path, const birch_options *opts, birch_progress_fn progress, void *ctx)
{
    return bi_compact(path, opts, progress, ctx, NULL, NULL);
}
