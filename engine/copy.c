/*
 * copy.c - birch_copy (a consistent copy of a live database) and
 * birch_compact (copy-then-swap compaction of a file).
 *
 * Both read one pinned snapshot (a read transaction), so writers keep
 * committing meanwhile, and write a new file front to back.  Every page
 * they read is verified against the checksum its parent keeps (the Merkle
 * tree of seal.c), every page of the snapshot may belong to one tree, run,
 * or free-space map run or record only, and the map must list as many
 * pages as the meta says: a damaged source gives BIRCH_ECORRUPT naming the page, and
 * no output file, instead of a clean-looking copy of damaged bytes.
 *   - a plain copy first walks every tree (catalog, tables, their runs,
 *     the free-space map's records), verifying; then it writes the
 *     snapshot's pages 2..npages-1, the verified ones (and the map's
 *     records) as they are and every other page (free, or a leak) as
 *     zeros, and two fresh metas naming the same roots, so the copy keeps
 *     the map and every checksum;
 *   - a compact copy walks the catalog and every table tree depth first
 *     and writes each page after its children, numbered from 2 upwards in
 *     that order; each parent gets its children's new numbers and
 *     checksums (recomputed, since a page's own number is part of it).  The
 *     free-space map is left out, so the copy holds exactly the pages in
 *     use, with no free page.  Pages are not refilled: a half-full page
 *     stays half full (as with LMDB's MDB_CP_COMPACT).  The map is still
 *     read and verified, after the walk: a compaction refuses a damaged
 *     file rather than replace it with a copy that hides the damage.
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
    int compact;         /* BIRCH_COPY_COMPACT: the walk writes; else it only verifies */
    cp_out out;
    uint64_t next;       /* next page number of the copy */
    uint64_t total;      /* for progress */
    uint64_t reported;   /* page count at the last progress call */
    birch_progress_fn progress;
    void *ctx;
    uint8_t *used;       /* one bit per source page: verified, in a tree or run */
    uint8_t *free_map;   /* one bit per source page: free or pending in the map */
    uint64_t free_found; /* pages the map lists free or pending */
    uint8_t *pages[2 * BI_MAX_DEPTH + 2 + BI_MAX_DEPTH]; /* one page buffer per walk depth */
    XXH3_state_t *xxh, *xxh_src;
    /* A compact copy of a file with savepoints: the source page (or run)
     * -> its copy, so that a page the current state and a savepoint's
     * state share is written once and named by both. */
    struct cp_remap *remap;
    size_t remap_cap, remap_n;
    uint64_t *kept;      /* compact: runs (start, len) of the copy only savepoints use */
    size_t nkept, kept_cap;
} cp;

typedef struct cp_remap {
    uint64_t from, to, csum; /* from 0: an empty slot */
} cp_remap;

static size_t remap_slot(const cp *c, uint64_t from)
{
    size_t i = (size_t)((from * 0x9E3779B97F4A7C15ull) >> 17) & (c->remap_cap - 1);
    while (c->remap[i].from && c->remap[i].from != from) i = (i + 1) & (c->remap_cap - 1);
    return i;
}

/* The copy of source page from, if it was written already. */
static int remapped(const cp *c, uint64_t from, uint64_t *to, uint64_t *csum)
{
    if (!c->remap) return 0;
    const cp_remap *e = &c->remap[remap_slot(c, from)];
    if (!e->from) return 0;
    *to = e->to;
    *csum = e->csum;
    return 1;
}

static int remap_add(cp *c, uint64_t from, uint64_t to, uint64_t csum)
{
    if (!c->remap) return BIRCH_OK;
    if (2 * (c->remap_n + 1) > c->remap_cap) {
        cp old = *c;
        size_t cap = c->remap_cap * 2;
        c->remap = calloc(cap, sizeof *c->remap);
        if (!c->remap) {
            c->remap = old.remap;
            return bi_err(BIRCH_ENOMEM, "out of memory for a map of %zu copied pages", cap);
        }
        c->remap_cap = cap;
        for (size_t i = 0; i < old.remap_cap; i++)
            if (old.remap[i].from) c->remap[remap_slot(c, old.remap[i].from)] = old.remap[i];
        free(old.remap);
    }
    c->remap[remap_slot(c, from)] = (cp_remap){from, to, csum};
    c->remap_n++;
    return BIRCH_OK;
}

static int report(cp *c, int force)
{
    uint64_t done = c->next - BI_META_PAGES;
    if (!c->progress || (!force && done - c->reported < CP_PROGRESS_EVERY)) return BIRCH_OK;
    c->reported = done;
    if (done > c->total) c->total = done;
    return c->progress(done, c->total, c->ctx);
}

#define CP_MAX_DEPTH ((int)(sizeof((cp *)0)->pages / sizeof((cp *)0)->pages[0]))

/* The page buffer of walk depth depth (< CP_MAX_DEPTH). */
static int page_buf(cp *c, int depth, uint8_t **out)
{
    if (!c->pages[depth] && !(c->pages[depth] = malloc(c->psize)))
        return bi_err(BIRCH_ENOMEM, "out of memory copying a page");
    *out = c->pages[depth];
    return BIRCH_OK;
}

static int bit(const uint8_t *map, uint64_t p) { return (map[p / 8] >> (p % 8)) & 1; }
static void set_bit(uint8_t *map, uint64_t p) { map[p / 8] |= (uint8_t)(1u << (p % 8)); }

/* Claims pages [pgno, pgno + n) for the tree or run being read: each page
 * of the snapshot belongs to one owner, so a page reached twice (a damaged
 * tree naming it from two parents) is refused rather than copied twice. */
static int claim(cp *c, uint64_t pgno, uint64_t n, const char *what)
{
    for (uint64_t p = pgno; p < pgno + n; p++) {
        if (bit(c->used, p))
            return BI_CORRUPT("%s at page %llu: page %llu is referenced twice", what, (unsigned long long)pgno,
                              (unsigned long long)p);
        set_bit(c->used, p);
    }
    return BIRCH_OK;
}

/* ---- The walk: every page read is verified ---------------------------------------- */

/* Both walks (the compact copy's and the plain copy's verification) read
 * each page of the snapshot's trees once and compare its XXH3-64 with the
 * one its parent keeps: a branch node for its child, a big value's leaf
 * node for its run, a catalog record for its table's root, the meta for
 * the catalog's root and the free-space map's newest record.  A mismatch is BIRCH_ECORRUPT
 * naming the page, so a damaged page never reaches a copy. */

/* Verifies, and with compact writes, an overflow run of np pages read from
 * src under the next page numbers, with its header's page number changed
 * and, when patch is not NULL, the value bytes replaced by patch (same
 * length).  want is the checksum its leaf keeps; *pgno and *csum get the
 * copy's run. */
static int emit_run(cp *c, const uint8_t *src, uint32_t np, uint64_t want, const void *patch, size_t plen,
                    uint64_t *pgno, uint64_t *csum)
{
    uint64_t len = (uint64_t)np * c->psize, newpg = c->next;
    uint64_t srcpg = bi_hdr((uint8_t *)src)->pgno;
    if (!patch && remapped(c, srcpg, pgno, csum)) return BIRCH_OK; /* shared with a savepoint, copied already */
    int rc = claim(c, srcpg, np, "overflow run");
    if (rc) return rc;
    if (!c->compact) {
        if (bi_sum(src, (size_t)len) == want) return BIRCH_OK;
        return BI_CORRUPT("overflow run at page %llu (%u pages): checksum mismatch", (unsigned long long)srcpg, np);
    }
    bi_phdr h;
    memcpy(&h, src, sizeof h);
    h.pgno = newpg;
    XXH3_64bits_reset(c->xxh);
    XXH3_64bits_reset(c->xxh_src);
    uint8_t chunk[4096];
    for (uint64_t at = 0; at < len;) {
        size_t k = len - at < sizeof chunk ? (size_t)(len - at) : sizeof chunk;
        memcpy(chunk, src + at, k);
        XXH3_64bits_update(c->xxh_src, chunk, k); /* the run as read */
        if (at < sizeof h) memcpy(chunk, &h, sizeof h); /* chunks start at 0, 4096, ... */
        if (patch && at + k > BI_HDR && at < BI_HDR + plen) {
            uint64_t from = at > BI_HDR ? at : BI_HDR, to = at + k < BI_HDR + plen ? at + k : BI_HDR + plen;
            memcpy(chunk + (from - at), (const uint8_t *)patch + (from - BI_HDR), (size_t)(to - from));
        }
        XXH3_64bits_update(c->xxh, chunk, k);
        rc = out_put(&c->out, chunk, k);
        if (rc) return rc;
        at += k;
    }
    if (XXH3_64bits_digest(c->xxh_src) != want)
        return BI_CORRUPT("overflow run at page %llu (%u pages): checksum mismatch", (unsigned long long)srcpg, np);
    c->next += np;
    *pgno = newpg;
    *csum = XXH3_64bits_digest(c->xxh);
    rc = patch ? BIRCH_OK : remap_add(c, srcpg, newpg, *csum);
    return rc ? rc : report(c, 0);
}

static int copy_tree(cp *c, bi_tree *tree, int depth, int catalog);
static int copy_savepoint(cp *c, uint8_t *src, uint8_t *dst, unsigned i, int depth);

/* A leaf node's big value: its run is verified (and written, the node
 * repointed). */
static int copy_big(cp *c, uint8_t *src, uint8_t *dst, unsigned i, const void *patch, size_t plen)
{
    birch_val v;
    int rc = bi_leaf_value(c->txn, src, i, &v);
    if (rc) return rc;
    bi_bigval bv;
    memcpy(&bv, bi_leaf_val(src, i), sizeof bv);
    const uint8_t *run = (const uint8_t *)v.data - BI_HDR;
    rc = emit_run(c, run, bi_overflow_pages(c->txn->db, v.size), bv.csum, patch, plen, &bv.pgno, &bv.csum);
    if (rc == BIRCH_OK && dst) memcpy(bi_leaf_val(dst, i), &bv, sizeof bv);
    return rc;
}

/* A catalog record: the table's tree is walked first, then the record
 * (inline in dst, or as a new run) names the copy's root.  A record in an
 * overflow run is verified before a byte of it is used. */
static int copy_record(cp *c, uint8_t *src, uint8_t *dst, unsigned i, int depth)
{
    birch_val v;
    bi_table_rec rec;
    int big = (bi_leaf_node(src, i)->flags & BI_N_BIG) != 0;
    int rc = bi_leaf_value(c->txn, src, i, &v);
    if (rc == BIRCH_OK && big) {
        bi_bigval bv;
        memcpy(&bv, bi_leaf_val(src, i), sizeof bv);
        uint32_t np = bi_overflow_pages(c->txn->db, v.size);
        if (bi_sum((const uint8_t *)v.data - BI_HDR, (size_t)np * c->psize) != bv.csum)
            rc = BI_CORRUPT("overflow run at page %llu (%u pages, a catalog record): checksum mismatch",
                            (unsigned long long)bv.pgno, np);
    }
    if (rc == BIRCH_OK && v.size < sizeof rec)
        rc = BI_CORRUPT("page %llu slot %u: a catalog record of %zu bytes", (unsigned long long)bi_hdr(src)->pgno, i,
                        v.size);
    if (rc) return rc;
    memcpy(&rec, v.data, sizeof rec);
    rc = copy_tree(c, &rec.tree, depth + 1, 0);
    if (rc) return rc;
    if (!big) {
        if (dst) memcpy(bi_leaf_val(dst, i), &rec, sizeof rec);
        return BIRCH_OK;
    }
    if (!c->compact) return copy_big(c, src, NULL, i, NULL, 0);
    uint8_t *patched = malloc(v.size);
    if (!patched) return bi_err(BIRCH_ENOMEM, "out of memory copying a %zu-byte record", v.size);
    memcpy(patched, v.data, v.size);
    memcpy(patched, &rec, sizeof rec);
    rc = copy_big(c, src, dst, i, patched, v.size);
    free(patched);
    return rc;
}

enum { CP_TABLE = 0, CP_CATALOG = 1, CP_SAVEPOINTS = 2 }; /* what a tree's records name */

/* A savepoint's record (compact copies only walk the savepoint tree): the
 * state it keeps is copied (sharing the pages already copied), and the
 * record names the copy's catalog. */
static int copy_savepoint(cp *c, uint8_t *src, uint8_t *dst, unsigned i, int depth)
{
    birch_val v;
    bi_savepoint sp;
    int rc = bi_leaf_value(c->txn, src, i, &v);
    if (rc == BIRCH_OK && (v.size != sizeof sp || (bi_leaf_node(src, i)->flags & BI_N_BIG)))
        rc = BI_CORRUPT("page %llu slot %u: a savepoint record of %zu bytes", (unsigned long long)bi_hdr(src)->pgno, i,
                        v.size);
    if (rc) return rc;
    memcpy(&sp, v.data, sizeof sp);
    uint64_t from = c->next;
    rc = copy_tree(c, &sp.catalog, depth + 1, CP_CATALOG);
    sp.npages = c->next; /* its pages are all below, in the copy */
    /* The pages written now belong to this savepoint's state only (those it
     * shares were copied already): pending in the copy's map, as in the
     * source, so that dropping the savepoint frees them. */
    if (rc == BIRCH_OK && c->next > from) {
        if (c->nkept && c->kept[2 * c->nkept - 2] + c->kept[2 * c->nkept - 1] == from) {
            c->kept[2 * c->nkept - 1] += c->next - from;
        } else {
            if (c->nkept == c->kept_cap) {
                size_t cap = c->kept_cap ? 2 * c->kept_cap : 16;
                uint64_t *k = realloc(c->kept, 2 * cap * sizeof *k);
                if (!k) return bi_err(BIRCH_ENOMEM, "out of memory copying savepoints");
                c->kept = k;
                c->kept_cap = cap;
            }
            c->kept[2 * c->nkept] = from;
            c->kept[2 * c->nkept + 1] = c->next - from;
            c->nkept++;
        }
    }
    if (rc == BIRCH_OK && dst) memcpy(bi_leaf_val(dst, i), &sp, sizeof sp);
    return rc;
}

/* Reads page pgno, which its parent says hashes to want, and claims it. */
static int read_page(cp *c, uint64_t pgno, int level, uint64_t want, uint8_t **src)
{
    int rc = bi_page_read(c->txn, pgno, level, src);
    if (rc == BIRCH_OK) rc = claim(c, pgno, 1, "tree page");
    if (rc == BIRCH_OK && bi_sum(*src, c->psize) != want)
        rc = BI_CORRUPT("page %llu: checksum mismatch (its parent keeps %016llx)", (unsigned long long)pgno,
                        (unsigned long long)want);
    return rc;
}

/* Walks the page and everything under it.  With compact, the copy is
 * written after its children and gets the next page number. */
static int copy_page(cp *c, uint64_t pgno, int level, uint64_t want, int depth, int catalog, uint64_t *newpg,
                     uint64_t *csum)
{
    uint8_t *src, *dst = NULL;
    /* Levels are checked per tree (24 at most), so only a damaged catalog
     * could nest deeper: a table inside a table. */
    if (depth >= CP_MAX_DEPTH)
        return BI_CORRUPT("page %llu: trees nested deeper than the copy can follow (%d levels)",
                          (unsigned long long)pgno, depth);
    if (remapped(c, pgno, newpg, csum)) return BIRCH_OK; /* shared with a savepoint, copied already */
    int rc = read_page(c, pgno, level, want, &src);
    if (rc == BIRCH_OK && c->compact) rc = page_buf(c, depth, &dst);
    if (rc) return rc;
    if (dst) memcpy(dst, src, c->psize);
    for (unsigned i = 0; rc == BIRCH_OK && i < bi_nkeys(src); i++) {
        rc = bi_slot_ok(c->txn, src, i);
        if (rc) break;
        if (!bi_is_leaf(src)) {
            uint64_t child = 0, sum = 0; /* set on success; zero quiets -Wmaybe-uninitialized at -O3 */
            rc = copy_page(c, bi_branch_child(src, i), (int)bi_level(src) - 1, bi_branch_csum(src, i), depth + 1,
                           catalog, &child, &sum);
            if (rc == BIRCH_OK && dst) {
                bi_set_branch_child(dst, i, child);
                bi_set_branch_csum(dst, i, sum);
            }
        } else if (catalog == CP_SAVEPOINTS) {
            rc = copy_savepoint(c, src, dst, i, depth);
        } else if (catalog) {
            rc = copy_record(c, src, dst, i, depth);
        } else if (bi_leaf_node(src, i)->flags & BI_N_BIG) {
            rc = copy_big(c, src, dst, i, NULL, 0);
        }
    }
    if (rc || !dst) return rc;
    *newpg = c->next++;
    bi_hdr(dst)->pgno = *newpg;
    *csum = bi_sum(dst, c->psize);
    rc = out_put(&c->out, dst, c->psize);
    if (rc == BIRCH_OK) rc = remap_add(c, pgno, *newpg, *csum);
    return rc ? rc : report(c, 0);
}

static int copy_tree(cp *c, bi_tree *tree, int depth, int catalog)
{
    if (!tree->root) return tree->csum ? BI_CORRUPT("an empty tree with a non-zero checksum") : BIRCH_OK;
    uint64_t root = tree->root, csum = tree->csum;
    return copy_page(c, root, -1, csum, depth, catalog, &tree->root, &tree->csum);
}

/* ---- The free-space map: verified, its pages listed --------------------------------- */

/* A run the map lists: free or pending pages must lie in the snapshot and
 * belong to nothing else; the map's own records are copied as they are by
 * a plain copy (a compact copy has no map). */
static int map_run(void *ctx, int kind, uint64_t start, uint64_t len, uint64_t txnid, int young)
{
    cp *c = ctx;
    (void)young;
    if (kind == BI_FM_RECORD) return c->compact ? BIRCH_OK : claim(c, start, len, "free-space map record");
    /* Pages freed after the oldest savepoint may hold a savepoint's state:
     * a plain copy keeps them as they are; a compact one has copied those
     * of them the savepoints' trees name (and claimed them). */
    const bi_meta *m = &c->txn->meta;
    int kept = kind == BI_FM_PENDING && m->savepoints.count && txnid > m->sp_oldest;
    for (uint64_t p = start; p < start + len; p++) {
        if (bit(c->free_map, p) || (bit(c->used, p) && !(kept && c->compact)))
            return BI_CORRUPT("free-space map: page %llu is listed %s", (unsigned long long)p,
                              bit(c->used, p) ? "as free but is in use" : "twice");
        set_bit(c->free_map, p);
        if (kept && !c->compact) set_bit(c->used, p);
    }
    c->free_found += len;
    return BIRCH_OK;
}

/* Verifies the map after the trees (so that a page listed as free but in
 * use is caught), and its count against the meta's. */
static int verify_free(cp *c)
{
    const bi_meta *m = &c->txn->meta;
    int rc = bi_freemap_walk(c->txn, map_run, c);
    if (rc == BIRCH_OK && c->free_found != m->free_pages)
        rc = BI_CORRUPT("the free-space map lists %llu pages, the meta says %llu", (unsigned long long)c->free_found,
                        (unsigned long long)m->free_pages);
    return rc;
}

/* ---- Plain copy: the pages as they are ------------------------------------------- */

/* Writes pages 2..npages-1 in order: the verified pages of the trees as
 * they are, every other page (free, or a leak) as zeros. */
static int copy_pages(cp *c)
{
    const bi_meta *m = &c->txn->meta;
    uint8_t *zero = calloc(1, c->psize);
    int rc = zero ? BIRCH_OK : bi_err(BIRCH_ENOMEM, "out of memory copying a page");
    for (uint64_t p = BI_META_PAGES; rc == BIRCH_OK && p < m->npages; p++) {
        rc = out_put(&c->out, bit(c->used, p) ? c->txn->map + p * c->psize : zero, c->psize);
        c->next = p + 1;
        if (rc == BIRCH_OK) rc = report(c, 0);
    }
    free(zero);
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

/* A compact copy's map when savepoints keep pages of their own: one base
 * record listing them as pending from the copy's commit. */
static int write_kept(cp *c, bi_meta *m)
{
    uint8_t *rec;
    uint64_t n, pending = 0;
    int rc = bi_fm_pending_base(c->txn->db, c->next, m->txnid, c->kept, c->nkept, &rec, &n);
    if (rc) return rc;
    for (size_t i = 0; i < c->nkept; i++) pending += c->kept[2 * i + 1];
    m->freemap = (bi_tree){c->next, n, bi_sum(rec, (size_t)n * c->psize)};
    m->free_pages = pending;
    rc = out_put(&c->out, rec, (size_t)n * c->psize);
    free(rec);
    c->next += n;
    return rc;
}

static int run_copy(cp *c)
{
    bi_meta m = c->txn->meta;
    c->next = BI_META_PAGES;
    c->out.off = (uint64_t)BI_META_PAGES * c->psize;
    c->used = calloc(m.npages / 8 + 1, 1);
    c->free_map = calloc(m.npages / 8 + 1, 1);
    if (!c->used || !c->free_map)
        return bi_err(BIRCH_ENOMEM, "out of memory for two maps of %llu pages", (unsigned long long)m.npages);
    /* The trees first (written as they are walked when compact), then the
     * free-space map. */
    c->total = c->compact ? m.npages - BI_META_PAGES - m.free_pages : m.npages - BI_META_PAGES;
    if (c->compact && m.savepoints.count) { /* states shared between savepoints are copied once */
        c->remap_cap = 1024;
        while (c->remap_cap < 2 * m.npages) c->remap_cap *= 2;
        if (!(c->remap = calloc(c->remap_cap, sizeof *c->remap)))
            return bi_err(BIRCH_ENOMEM, "out of memory for a map of %zu copied pages", c->remap_cap);
    }
    int rc = copy_tree(c, &m.catalog, 0, CP_CATALOG);
    if (rc == BIRCH_OK) rc = copy_tree(c, &m.savepoints, 0, c->compact ? CP_SAVEPOINTS : CP_TABLE);
    if (rc == BIRCH_OK) rc = verify_free(c);
    if (rc) return rc;
    if (c->compact) {
        m.freemap = (bi_tree){0, 0, 0};
        m.free_pages = 0;
        if (c->nkept) rc = write_kept(c, &m);
        m.npages = c->next;
    } else {
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
    free(c->used);
    free(c->free_map);
    free(c->remap);
    free(c->kept);
    if (c->xxh) XXH3_freeState(c->xxh);
    if (c->xxh_src) XXH3_freeState(c->xxh_src);
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
    c.compact = (flags & BIRCH_COPY_COMPACT) != 0;
    c.out.buf = malloc(CP_BUF_BYTES);
    c.xxh = XXH3_createState();
    c.xxh_src = XXH3_createState();
    int rc = c.out.buf && c.xxh && c.xxh_src ? BIRCH_OK : bi_err(BIRCH_ENOMEM, "out of memory for the copy's buffers");
    birch_txn *tok = NULL;
    if (rc == BIRCH_OK) rc = birch_txn_begin(db, BIRCH_TXN_READ, &tok);
    if (rc == BIRCH_OK) {
        c.txn = tok;
        (void)bi_txn_use(&c.txn); /* just begun: live; internal code uses the struct */
        (void)unlink(tmp); /* a leftover of a crashed copy */
        c.out.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (c.out.fd < 0) rc = errno == EEXIST ? exists(tmp) : errno_rc(errno, "cannot create", tmp);
    }
    if (rc == BIRCH_OK) rc = run_copy(&c);
    if (rc == BIRCH_OK && fdatasync(c.out.fd) != 0) rc = errno_rc(errno, "syncing", tmp);
    if (c.out.fd >= 0 && close(c.out.fd) != 0 && rc == BIRCH_OK) rc = errno_rc(errno, "closing", tmp);
    if (c.out.fd >= 0 && rc != BIRCH_OK) (void)unlink(tmp);
    birch_txn_abort(tok);
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
    int rc = bi_db_check(db, "birch_copy"); /* before any file is made, and under its own name */
    if (rc) return rc;
    char tmp[CP_PATH_MAX];
    rc = suffixed(tmp, path, ".tmp");
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
    rc = birch_open(path, &o, &db);
    if (rc) return rc;
    /* Alone until the swap is done: no commit can slip in, and no other
     * handle keeps reading (or writing) the file the rename retires. */
    rc = bi_db_alone(db, "birch_compact");
    if (rc == BIRCH_OK) rc = copy_to(db, tmp, BIRCH_COPY_COMPACT, progress, ctx);
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
