/*
 * alloc.c - the page allocator: free pages, pending pages and the map that
 * persists them (alloc.h lists the calls, docs/DESIGN.md section 5 the
 * design, docs/FORMAT.md the records).
 *
 * The state lives in memory between write transactions:
 *   free     runs of pages no snapshot can see, sorted by first page,
 *            highest first, so that the lowest page is taken in O(1);
 *   pending  per commit T, the pages it freed, in two queues ordered by T:
 *            [0] pages the durable state may still use (free once
 *            T <= min(oldest reader, durable txnid)) and [1] "young" pages
 *            written after the durable state (free once T <= oldest
 *            reader): a non-durable workload reuses those at once;
 *   chain    the pages of the map's records.
 * Rules it keeps:
 *   1. every page below npages is in exactly one tree, run, pending group
 *      or record (birch_check verifies it);
 *   2. a pending group moves to free as a whole, oldest first, once its
 *      queue's limit passes it (reclaim); limits only grow, so a page
 *      that is free stays free for every later snapshot;
 *   3. the map is persisted as a record per commit that changed it: a
 *      base (the whole state) or a delta (the operations of one commit,
 *      which replay in order), linked newest first.  A record's own pages
 *      come from free or the file's end and are taken before it is
 *      encoded, with room for that one operation reserved, so saving the
 *      map never needs more of it.  A base is written when the chain is
 *      empty, when the whole state fits one page, or when the deltas
 *      since the base outgrow it (which keeps both the work per commit and
 *      the replay at open proportionate); the records it replaces become
 *      pending pages of its commit.
 * A transaction that aborts drops the state; the next begin replays the
 * committed chain.  The map is trusted only after its checksums and its
 * consistency (no page listed twice, every page below npages) verify.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- Vectors ------------------------------------------------------------------ */

typedef struct run {
    uint64_t start, len;
} run;

typedef struct runvec {
    run *v;
    size_t n, cap;
} runvec;

static int rv_reserve(runvec *r, size_t more)
{
    if (r->n + more <= r->cap) return BIRCH_OK;
    size_t cap = r->cap ? r->cap : 16;
    while (cap < r->n + more) cap *= 2;
    run *v = realloc(r->v, cap * sizeof *v);
    if (!v) return bi_err(BIRCH_ENOMEM, "out of memory for a list of %zu page runs", cap);
    r->v = v;
    r->cap = cap;
    return BIRCH_OK;
}

static int rv_push(runvec *r, uint64_t start, uint64_t len)
{
    int rc = rv_reserve(r, 1);
    if (rc) return rc;
    r->v[r->n++] = (run){start, len};
    return BIRCH_OK;
}

static void rv_free(runvec *r)
{
    free(r->v);
    *r = (runvec){NULL, 0, 0};
}

static int cmp_run_asc(const void *x, const void *y)
{
    uint64_t a = ((const run *)x)->start, b = ((const run *)y)->start;
    return a < b ? -1 : a > b;
}

/* Sorts r ascending and joins adjacent runs; 0, or -1 if two overlap. */
static int rv_normalize(runvec *r)
{
    if (r->n < 2) return 0;
    qsort(r->v, r->n, sizeof *r->v, cmp_run_asc);
    size_t o = 0;
    for (size_t i = 1; i < r->n; i++) {
        run *last = &r->v[o];
        if (r->v[i].start < last->start + last->len) return -1;
        if (r->v[i].start == last->start + last->len) last->len += r->v[i].len;
        else r->v[++o] = r->v[i];
    }
    r->n = o + 1;
    return 0;
}

typedef struct bytes {
    uint8_t *v;
    size_t n, cap;
} bytes;

static int put_varint(bytes *b, uint64_t x)
{
    if (b->n + 10 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        uint8_t *v = realloc(b->v, cap);
        if (!v) return bi_err(BIRCH_ENOMEM, "out of memory for the free-space map's record (%zu bytes)", cap);
        b->v = v;
        b->cap = cap;
    }
    do {
        uint8_t c = x & 0x7f;
        x >>= 7;
        b->v[b->n++] = (uint8_t)(c | (x ? 0x80 : 0));
    } while (x);
    return BIRCH_OK;
}

/* ---- The state ---------------------------------------------------------------- */

typedef struct group {
    uint64_t txnid; /* the commit that freed the pages */
    uint64_t pages;
    runvec runs;
} group;

typedef struct gqueue { /* groups v[head..n), ascending txnid */
    group *v;
    size_t head, n, cap;
} gqueue;

/* Map operations, the body of a record (page.h, FORMAT.md). */
enum { OP_END = BI_FMOP_END, OP_FREE = BI_FMOP_FREE, OP_TAKE = BI_FMOP_TAKE, OP_PEND = BI_FMOP_PEND,
       OP_RECLAIM = BI_FMOP_RECLAIM };
#define OP_MAX 31u           /* bytes of the longest operation */
#define BI_FM_CHAIN_MAX 1024u /* records in a chain, base included */
#define FM_BODY (BI_HDR + sizeof(bi_fmrec))

struct bi_alloc {
    int loaded;
    uint64_t state;      /* the commit whose map this is */
    runvec free;         /* descending start, disjoint, never adjacent */
    uint64_t free_pages;
    gqueue q[2];
    uint64_t pending_pages;
    runvec chain;        /* the records' pages */
    bi_tree head;        /* the newest record, as the meta names it */
    uint32_t chain_len;
    uint64_t chain_pages, base_pages; /* deltas' pages since the base, the base's */
    /* The write transaction */
    uint64_t lim[2];     /* reuse limits of the queues */
    uint64_t durable;    /* pages written after this commit are young */
    runvec freed[2];     /* pages it freed that snapshots may see */
    bytes ops;           /* what it changed, as a delta's body */
    int dry;             /* reclaimed once: no group can become free before the commit */
    int persisted;       /* the commit wrote a record: the state is its */
    /* The transaction's run: pages taken from free (or the file's end) in
     * one piece and handed out one by one in order, so that a commit's
     * pages are contiguous and go out in one write (DESIGN.md 5.2); what
     * is left returns to free at commit. */
    uint64_t res_start, res_len, res_want;
};

#define RES_MIN 8u      /* a one-put commit: its path, the catalog leaf, the map's record */
#define RES_MAX 1024u   /* large transactions take runs this long */
#define RES_SCAN 64u    /* free runs looked at, lowest first, for one */
#define RES_FLOOR 4u    /* a shorter free run is scattered pages */
#define RES_PLENTY 256u /* free pages (or an eighth of the file) that are used even scattered */

int bi_alloc_new(bi_alloc **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? BIRCH_OK : bi_err(BIRCH_ENOMEM, "out of memory for the page allocator");
}

static void state_free(bi_alloc *a)
{
    rv_free(&a->free);
    for (int k = 0; k < 2; k++) {
        for (size_t i = a->q[k].head; i < a->q[k].n; i++) rv_free(&a->q[k].v[i].runs);
        free(a->q[k].v);
        a->q[k] = (gqueue){NULL, 0, 0, 0};
        rv_free(&a->freed[k]);
    }
    rv_free(&a->chain);
    free(a->ops.v);
    a->ops = (bytes){NULL, 0, 0};
    a->loaded = 0;
    a->free_pages = a->pending_pages = 0;
    a->head = (bi_tree){0, 0, 0};
    a->chain_len = 0;
    a->chain_pages = a->base_pages = 0;
}

void bi_alloc_destroy(bi_alloc *a)
{
    if (!a) return;
    state_free(a);
    free(a);
}

/* ---- Free runs ------------------------------------------------------------------ */

/* The first index whose run starts at or below p (free.n if none). */
static size_t free_at(const bi_alloc *a, uint64_t p)
{
    size_t lo = 0, hi = a->free.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->free.v[mid].start > p) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Whether any of pages [p, p + len) is free. */
static int free_has(const bi_alloc *a, uint64_t p, uint64_t len)
{
    size_t i = free_at(a, p + len - 1);
    return i < a->free.n && a->free.v[i].start + a->free.v[i].len > p;
}

static int free_insert_at(bi_alloc *a, size_t i, run r)
{
    int rc = rv_reserve(&a->free, 1);
    if (rc) return rc;
    memmove(a->free.v + i + 1, a->free.v + i, (a->free.n - i) * sizeof *a->free.v);
    a->free.v[i] = r;
    a->free.n++;
    return BIRCH_OK;
}

static void free_remove_at(bi_alloc *a, size_t i)
{
    memmove(a->free.v + i, a->free.v + i + 1, (a->free.n - i - 1) * sizeof *a->free.v);
    a->free.n--;
}

/* Adds pages [s, s + len), joining neighbours.  BIRCH_ECORRUPT if one is
 * free already (the map or a tree names it twice). */
static int free_add(bi_alloc *a, uint64_t s, uint64_t len)
{
    if (free_has(a, s, len))
        return BI_CORRUPT("free-space map: pages %llu+%llu freed again while free", (unsigned long long)s,
                          (unsigned long long)len);
    size_t i = free_at(a, s);
    run *lo = i < a->free.n ? &a->free.v[i] : NULL, *hi = i > 0 ? &a->free.v[i - 1] : NULL;
    int join_lo = lo && lo->start + lo->len == s, join_hi = hi && s + len == hi->start;
    a->free_pages += len;
    if (join_lo && join_hi) {
        lo->len += len + hi->len;
        free_remove_at(a, i - 1);
    } else if (join_lo) {
        lo->len += len;
    } else if (join_hi) {
        hi->start = s;
        hi->len += len;
    } else {
        return free_insert_at(a, i, (run){s, len});
    }
    return BIRCH_OK;
}

/* Removes pages [s, s + len), which must all be free. */
static int free_del(bi_alloc *a, uint64_t s, uint64_t len)
{
    size_t i = free_at(a, s);
    if (i == a->free.n || a->free.v[i].start + a->free.v[i].len < s + len)
        return BI_CORRUPT("free-space map: pages %llu+%llu taken but not free", (unsigned long long)s,
                          (unsigned long long)len);
    run r = a->free.v[i];
    a->free_pages -= len;
    if (r.start == s && r.len == len) free_remove_at(a, i);
    else if (r.start == s) a->free.v[i] = (run){s + len, r.len - len};
    else if (r.start + r.len == s + len) a->free.v[i].len -= len;
    else { /* split: the upper part goes before the lower */
        a->free.v[i].len = s - r.start;
        return free_insert_at(a, i, (run){s + len, r.start + r.len - s - len});
    }
    return BIRCH_OK;
}

/* Adds many runs at once (a reclaim): one merge instead of an insertion
 * each, which would be quadratic after a long reader ends. */
static int free_merge(bi_alloc *a, runvec *add)
{
    if (rv_normalize(add))
        return BI_CORRUPT("free-space map: pending groups list a page twice");
    if (add->n == 0) return BIRCH_OK;
    size_t total = a->free.n + add->n;
    run *out = malloc(total * sizeof *out);
    if (!out) return bi_err(BIRCH_ENOMEM, "out of memory merging %zu runs of free pages", add->n);
    size_t i = 0, j = add->n, o = 0; /* free descending from 0, add ascending: walk add from its end */
    uint64_t pages = 0;
    while (i < a->free.n || j > 0) {
        run r = (j == 0 || (i < a->free.n && a->free.v[i].start > add->v[j - 1].start)) ? a->free.v[i++]
                                                                                        : add->v[--j];
        if (o && r.start + r.len > out[o - 1].start) {
            free(out);
            return BI_CORRUPT("free-space map: page %llu is pending and free at once", (unsigned long long)r.start);
        }
        if (o && r.start + r.len == out[o - 1].start) {
            out[o - 1].start = r.start;
            out[o - 1].len += r.len;
        } else {
            out[o++] = r;
        }
        pages += r.len;
    }
    free(a->free.v);
    a->free.v = out;
    a->free.n = o;
    a->free.cap = total;
    a->free_pages = pages;
    return BIRCH_OK;
}

/* The run to take n pages from: the lowest page for one page (O(1): the
 * file fills from its start); for more, the shortest run that holds them
 * (the lowest of equals), so that long runs stay whole for long values.
 * free.n if none holds them. */
static size_t free_fit(const bi_alloc *a, uint64_t n)
{
    if (n == 1 || !a->free.n) return a->free.n ? a->free.n - 1 : 0;
    size_t best = a->free.n;
    for (size_t i = a->free.n; i-- > 0;) {
        uint64_t len = a->free.v[i].len;
        if (len >= n && (best == a->free.n || len < a->free.v[best].len)) best = i;
        if (len == n) break;
    }
    return best;
}

/* Takes n contiguous free pages (free_fit); *found is 0 if no run holds
 * them. */
static int free_take(bi_alloc *a, uint64_t n, uint64_t *pgno, int *found)
{
    size_t i = free_fit(a, n);
    *found = i < a->free.n;
    if (!*found) return BIRCH_OK;
    *pgno = a->free.v[i].start;
    return free_del(a, *pgno, n);
}

/* ---- Pending groups ------------------------------------------------------------ */

static group *q_front(gqueue *q) { return q->head < q->n ? &q->v[q->head] : NULL; }

/* Adds pages [s, s + len) freed by commit txnid to queue young. */
static int q_pend(bi_alloc *a, int young, uint64_t txnid, uint64_t s, uint64_t len)
{
    gqueue *q = &a->q[young];
    group *g = q->n > q->head ? &q->v[q->n - 1] : NULL;
    if (g && g->txnid > txnid)
        return BI_CORRUPT("free-space map: pages freed by commit %llu after ones of commit %llu",
                          (unsigned long long)txnid, (unsigned long long)g->txnid);
    if (!g || g->txnid < txnid) {
        if (q->head && q->head * 2 >= q->n) { /* reuse the consumed front */
            memmove(q->v, q->v + q->head, (q->n - q->head) * sizeof *q->v);
            q->n -= q->head;
            q->head = 0;
        }
        if (q->n == q->cap) {
            size_t cap = q->cap ? q->cap * 2 : 16;
            group *v = realloc(q->v, cap * sizeof *v);
            if (!v) return bi_err(BIRCH_ENOMEM, "out of memory for %zu groups of pending pages", cap);
            q->v = v;
            q->cap = cap;
        }
        g = &q->v[q->n++];
        *g = (group){txnid, 0, {NULL, 0, 0}};
    }
    int rc = rv_push(&g->runs, s, len);
    if (rc) return rc;
    g->pages += len;
    a->pending_pages += len;
    return BIRCH_OK;
}

/* Moves queue k's front group into add (its pages are free once add is
 * merged). */
static int pop_front(bi_alloc *a, int k, runvec *add)
{
    group *g = q_front(&a->q[k]);
    int rc = rv_reserve(add, g->runs.n);
    if (rc) return rc;
    memcpy(add->v + add->n, g->runs.v, g->runs.n * sizeof *add->v);
    add->n += g->runs.n;
    a->pending_pages -= g->pages;
    rv_free(&g->runs);
    a->q[k].head++;
    return BIRCH_OK;
}

/* Rule 2: moves every front group with txnid <= lim[k] to free, in one
 * merge, and logs each; *got tells whether there was one. */
static int reclaim(bi_alloc *a, int *got)
{
    runvec add = {NULL, 0, 0};
    int rc = BIRCH_OK;
    *got = 0;
    for (int k = 0; k < 2 && rc == BIRCH_OK; k++) {
        group *g;
        while (rc == BIRCH_OK && (g = q_front(&a->q[k])) && g->txnid <= a->lim[k]) {
            rc = put_varint(&a->ops, OP_RECLAIM);
            if (rc == BIRCH_OK) rc = put_varint(&a->ops, g->txnid << 1 | (unsigned)k);
            if (rc == BIRCH_OK) rc = pop_front(a, k, &add);
            *got = 1;
        }
    }
    if (rc == BIRCH_OK) rc = free_merge(a, &add);
    rv_free(&add);
    return rc;
}

/* ---- Loading the map ------------------------------------------------------------ */

/* Where a map is read: a snapshot's pages and size. */
typedef struct src {
    birch_db *db;
    const uint8_t *map;
    uint64_t npages;
} src;

typedef struct rd {
    const uint8_t *p, *end;
    uint64_t pgno; /* the record, for messages */
} rd;

static int get_varint(rd *r, uint64_t *x)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p == r->end) break;
        uint8_t c = *r->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *x = v;
            return BIRCH_OK;
        }
    }
    return BI_CORRUPT("free-space map record at page %llu: a number runs past the record's end", (unsigned long long)r->pgno);
}

/* A run of pages the map names: inside 2..npages-1, not empty. */
static int run_ok(const src *s, const rd *r, uint64_t start, uint64_t len)
{
    if (len && start >= BI_META_PAGES && start < s->npages && len <= s->npages - start) return BIRCH_OK;
    return BI_CORRUPT("free-space map record at page %llu: pages %llu+%llu outside 2..%llu", (unsigned long long)r->pgno,
                      (unsigned long long)start, (unsigned long long)len, (unsigned long long)s->npages - 1);
}

/* A replayed reclaim: queue key & 1's front must be commit key >> 1's. */
static int pop_group(bi_alloc *a, const rd *r, uint64_t key, runvec *add)
{
    group *g = q_front(&a->q[key & 1]);
    if (!g || g->txnid != key >> 1)
        return BI_CORRUPT("free-space map record at page %llu: commit %llu's pages reclaimed out of order",
                          (unsigned long long)r->pgno, (unsigned long long)(key >> 1));
    return pop_front(a, (int)(key & 1), add);
}

/* Applies one operation other than a reclaim. */
static int replay_op(bi_alloc *a, const src *s, rd *r, uint64_t op, uint64_t max_txnid)
{
    uint64_t x = 0, y = 0, z = 0;
    int rc = get_varint(r, &x);
    if (rc == BIRCH_OK) rc = get_varint(r, &y);
    if (rc == BIRCH_OK && op == OP_PEND) rc = get_varint(r, &z);
    if (rc) return rc;
    if (op == OP_FREE || op == OP_TAKE) {
        rc = run_ok(s, r, x, y);
        return rc ? rc : op == OP_FREE ? free_add(a, x, y) : free_del(a, x, y);
    }
    if (op != OP_PEND)
        return BI_CORRUPT("free-space map record at page %llu: unknown operation %llu", (unsigned long long)r->pgno,
                          (unsigned long long)op);
    rc = run_ok(s, r, y, z);
    if (rc == BIRCH_OK && (x >> 1) > max_txnid)
        rc = BI_CORRUPT("free-space map record at page %llu: pages freed by commit %llu, after the last (%llu)",
                        (unsigned long long)r->pgno, (unsigned long long)(x >> 1), (unsigned long long)max_txnid);
    return rc ? rc : q_pend(a, (int)(x & 1), x >> 1, y, z);
}

/* Applies one record's operations; consecutive reclaims are merged into
 * free at once, as the writer did. */
static int replay(bi_alloc *a, const src *s, rd *r, uint64_t max_txnid)
{
    runvec add = {NULL, 0, 0};
    int rc;
    for (;;) {
        uint64_t op, key;
        rc = get_varint(r, &op);
        if (rc) break;
        if (op == OP_RECLAIM) {
            rc = get_varint(r, &key);
            if (rc == BIRCH_OK) rc = pop_group(a, r, key, &add);
            if (rc) break;
            continue;
        }
        if (add.n && (rc = free_merge(a, &add)) != BIRCH_OK) break;
        add.n = 0;
        if (op == OP_END) break;
        rc = replay_op(a, s, r, op, max_txnid);
        if (rc) break;
    }
    rv_free(&add);
    return rc;
}

/* The record named by ref: bounds, checksum, header.  Sets *body. */
static int record_at(const src *s, const bi_tree *ref, int check_sum, const bi_fmrec **rec, rd *body)
{
    unsigned long long pg = (unsigned long long)ref->root;
    uint32_t ps = s->db->psize;
    if (ref->root < BI_META_PAGES || ref->count == 0 || ref->root >= s->npages ||
        ref->count > s->npages - ref->root || ref->count > UINT32_MAX)
        return BI_CORRUPT("free-space map record at page %llu (+%llu) outside the file's pages 2..%llu", pg,
                          (unsigned long long)ref->count, (unsigned long long)s->npages - 1);
    const uint8_t *p = s->map + ref->root * ps;
    size_t bytes = (size_t)ref->count * ps;
    if (check_sum && bi_sum(p, bytes) != ref->csum)
        return BI_CORRUPT("free-space map record at page %llu: checksum mismatch (the map is damaged: writes are refused; "
                          "birch compact rebuilds the file)", pg);
    const bi_phdr *h = (const bi_phdr *)(const void *)p;
    const bi_fmrec *f = (const bi_fmrec *)(const void *)(p + BI_HDR);
    if (h->type != BI_P_FREEMAP || h->pgno != ref->root || h->upper != ref->count ||
        (f->kind != BI_FM_BASE && f->kind != BI_FM_DELTA) || f->body_len > bytes - FM_BODY)
        return BI_CORRUPT("free-space map record at page %llu: not a record of the map (type %u, %u pages)", pg, h->type,
                          h->upper);
    *rec = f;
    *body = (rd){p + FM_BODY, p + FM_BODY + f->body_len, ref->root};
    return BIRCH_OK;
}

/* Every page listed once: free, pending and record runs do not overlap. */
static int disjoint(const bi_alloc *a)
{
    runvec all = {NULL, 0, 0};
    int rc = rv_reserve(&all, a->free.n + a->chain.n);
    for (size_t i = 0; rc == BIRCH_OK && i < a->free.n; i++) all.v[all.n++] = a->free.v[i];
    for (size_t i = 0; rc == BIRCH_OK && i < a->chain.n; i++) all.v[all.n++] = a->chain.v[i];
    for (int k = 0; rc == BIRCH_OK && k < 2; k++)
        for (size_t g = a->q[k].head; rc == BIRCH_OK && g < a->q[k].n; g++) {
            const runvec *r = &a->q[k].v[g].runs;
            rc = rv_reserve(&all, r->n);
            if (rc == BIRCH_OK) memcpy(all.v + all.n, r->v, r->n * sizeof *r->v), all.n += r->n;
        }
    if (rc == BIRCH_OK && rv_normalize(&all)) rc = BI_CORRUPT("free-space map: a page is listed twice");
    rv_free(&all);
    return rc;
}

/* Rebuilds the state of meta m from its chain (read through s). */
static int load(bi_alloc *a, const src *s, const bi_meta *m, int check_sums)
{
    state_free(a);
    bi_tree ref = m->freemap;
    if (!ref.root && (ref.count || ref.csum)) return BI_CORRUPT("free-space map: no record, but a size or checksum");
    rd *bodies = malloc(BI_FM_CHAIN_MAX * sizeof *bodies);
    if (!bodies) return bi_err(BIRCH_ENOMEM, "out of memory reading the free-space map");
    const bi_fmrec *f = NULL;
    uint64_t base_pages = 0;
    size_t n = 0;
    int rc = BIRCH_OK;
    while (ref.root && rc == BIRCH_OK) {
        if (n == BI_FM_CHAIN_MAX) {
            rc = BI_CORRUPT("free-space map: more than %u records without a base", BI_FM_CHAIN_MAX);
            break;
        }
        const bi_fmrec *g;
        rc = record_at(s, &ref, check_sums, &g, &bodies[n]);
        if (rc == BIRCH_OK) rc = rv_push(&a->chain, ref.root, ref.count);
        if (rc) break;
        if (!f) f = g;
        n++;
        if (g->kind == BI_FM_BASE) {
            base_pages = ref.count;
            break;
        }
        ref = (bi_tree){g->prev, g->prev_pages, g->prev_csum};
        if (!ref.root)
            rc = BI_CORRUPT("free-space map record at page %llu: a delta without a base", (unsigned long long)bodies[n - 1].pgno);
    }
    for (size_t i = n; i-- > 0 && rc == BIRCH_OK;) rc = replay(a, s, &bodies[i], m->txnid);
    free(bodies);
    if (rc == BIRCH_OK) rc = disjoint(a);
    if (rc == BIRCH_OK && a->free_pages + a->pending_pages != m->free_pages)
        rc = BI_CORRUPT("free-space map lists %llu free and pending pages, the meta says %llu",
                        (unsigned long long)(a->free_pages + a->pending_pages), (unsigned long long)m->free_pages);
    if (rc) return rc;
    a->head = m->freemap;
    a->chain_len = (uint32_t)n;
    a->base_pages = base_pages;
    a->chain_pages = 0;
    for (size_t i = 0; i + 1 < a->chain.n; i++) a->chain_pages += a->chain.v[i].len;
    a->state = m->txnid;
    a->loaded = 1;
    return BIRCH_OK;
}

/* ---- A write transaction ------------------------------------------------------- */

int bi_alloc_begin(birch_txn *txn, uint64_t oldest, uint64_t durable)
{
    birch_db *db = txn->db;
    bi_alloc *a = db->alloc;
    a->lim[0] = oldest < durable ? oldest : durable;
    a->lim[1] = oldest;
    a->durable = durable;
    a->dry = a->persisted = 0;
    a->res_len = 0;
    a->res_want = RES_MIN;
    a->ops.n = 0;
    a->freed[0].n = a->freed[1].n = 0;
    uint64_t committed = txn->meta.txnid - 1;
    if (a->loaded && (a->state != committed || memcmp(&a->head, &txn->meta.freemap, sizeof a->head)))
        state_free(a); /* another commit's state: load this one when first needed */
    return BIRCH_OK;
}

/* Loads the committed map on the transaction's first use of it, so that a
 * damaged map fails the writes that need it, not every write transaction
 * (reads and a transaction that only reads go on). */
static int loaded(birch_txn *txn, bi_alloc *a)
{
    if (a->loaded) return BIRCH_OK;
    src s = {txn->db, txn->map, txn->snap_npages};
    bi_meta m = txn->meta;
    m.txnid--; /* the committed state's */
    m.npages = txn->snap_npages;
    int rc = load(a, &s, &m, 1);
    if (rc) state_free(a);
    return rc;
}

/* Pages past the end of the file's state (which the pager grows at commit). */
static int extend(birch_txn *txn, uint64_t n, uint64_t *pgno)
{
    birch_db *db = txn->db;
    uint64_t have = txn->meta.npages, limit = UINT64_MAX / db->psize; /* pages with a byte offset */
    if (n > limit || have > limit - n)
        return bi_err(BIRCH_EFULL, "%llu + %llu pages of %u bytes would exceed 2^64 bytes", (unsigned long long)have,
                      (unsigned long long)n, db->psize);
    uint64_t next = have + n;
    if (db->opts.max_size && next * db->psize > db->opts.max_size)
        return bi_err(BIRCH_EFULL, "max_size reached: %llu pages of %u bytes would exceed %llu bytes",
                      (unsigned long long)next, db->psize, (unsigned long long)db->opts.max_size);
    *pgno = have;
    txn->meta.npages = next;
    return BIRCH_OK;
}

/* Takes n pages: free ones, then (once per transaction, if may_reclaim)
 * every pending group that has become free, then the file's end.
 * *from_free tells whether they came from free (a delta records that). */
static int take(birch_txn *txn, bi_alloc *a, uint64_t n, int may_reclaim, uint64_t *pgno, int *from_free)
{
    int rc = free_take(a, n, pgno, from_free);
    if (rc == BIRCH_OK && !*from_free && may_reclaim && !a->dry) {
        int got;
        a->dry = 1; /* the limits are fixed and groups only come at commit */
        rc = reclaim(a, &got);
        if (rc == BIRCH_OK && got) rc = free_take(a, n, pgno, from_free);
    }
    if (rc) return rc;
    return *from_free ? BIRCH_OK : extend(txn, n, pgno);
}

static int log_op(bi_alloc *a, int op, uint64_t x, uint64_t y)
{
    int rc = put_varint(&a->ops, (uint64_t)op);
    if (rc == BIRCH_OK) rc = put_varint(&a->ops, x);
    if (rc == BIRCH_OK) rc = put_varint(&a->ops, y);
    return rc;
}

static int log_pend(bi_alloc *a, uint64_t key, uint64_t start, uint64_t len)
{
    int rc = put_varint(&a->ops, OP_PEND);
    if (rc == BIRCH_OK) rc = put_varint(&a->ops, key);
    if (rc == BIRCH_OK) rc = put_varint(&a->ops, start);
    if (rc == BIRCH_OK) rc = put_varint(&a->ops, len);
    return rc;
}

/* The run to refill the transaction's run from: among the lowest
 * RES_SCAN free runs, the shortest that holds want pages, else the
 * longest (the scan is bounded: a fragmented file has many runs, and
 * every commit refills once). */
static size_t res_fit(const bi_alloc *a, uint64_t want)
{
    size_t best = a->free.n, longest = a->free.n;
    for (size_t k = 0, i = a->free.n; k < RES_SCAN && i-- > 0; k++) {
        uint64_t len = a->free.v[i].len;
        if (len >= want && (best == a->free.n || len < a->free.v[best].len)) best = i;
        if (longest == a->free.n || len > a->free.v[longest].len) longest = i;
        if (len == want) break;
    }
    return best < a->free.n ? best : longest;
}

/* Whether free space is plentiful: then a transaction takes free pages
 * even where they are scattered, rather than grow the file for a run. */
static int free_plenty(const birch_txn *txn, const bi_alloc *a)
{
    uint64_t floor = txn->meta.npages / 8 > RES_PLENTY ? txn->meta.npages / 8 : RES_PLENTY;
    return a->free_pages >= floor;
}

/* Takes a new run for the transaction (the old one is used up), want
 * pages (twice the last, up to RES_MAX): the shortest free run that holds
 * them among the lowest RES_SCAN, else the longest of those, once pending
 * groups that have become free are reclaimed.  A run shorter than
 * RES_FLOOR (scattered pages) is taken only when free space is plentiful;
 * otherwise RES_MIN pages at the file's end make the run, and what the
 * commit leaves of them is free for the next ones, which keeps small
 * commits contiguous in steady state (DESIGN.md 5.2). */
static int refill(birch_txn *txn, bi_alloc *a)
{
    uint64_t want = a->res_want;
    if (a->res_want < RES_MAX) a->res_want *= 2;
    int rc = BIRCH_OK, got;
    size_t i = res_fit(a, want);
    if ((i == a->free.n || a->free.v[i].len < want) && !a->dry) { /* pending pages may make a longer run */
        a->dry = 1;
        rc = reclaim(a, &got);
        if (rc == BIRCH_OK && got) i = res_fit(a, want);
    }
    if (rc) return rc;
    uint64_t have = i < a->free.n ? a->free.v[i].len : 0;
    if (have < RES_FLOOR && (!have || !free_plenty(txn, a))) {
        const birch_db *db = txn->db;
        uint64_t n = RES_MIN, room = db->opts.max_size ? db->opts.max_size / db->psize : UINT64_MAX;
        if (room > txn->meta.npages && room - txn->meta.npages < n) n = room - txn->meta.npages;
        bi_errmark mark = bi_err_mark(); /* past max_size: free pages, if any, will do */
        rc = extend(txn, n, &a->res_start);
        bi_err_end(mark, rc == BIRCH_OK || have);
        if (rc == BIRCH_OK) {
            a->res_len = n;
            return BIRCH_OK;
        }
        if (!have) return rc;
    }
    uint64_t start = a->free.v[i].start, len = have < want ? have : want;
    rc = free_del(a, start, len);
    if (rc == BIRCH_OK) rc = log_op(a, OP_TAKE, start, len);
    if (rc) return rc;
    a->res_start = start;
    a->res_len = len;
    return BIRCH_OK;
}

/* Gives the rest of the transaction's run back to free. */
static int release_run(bi_alloc *a)
{
    if (!a->res_len) return BIRCH_OK;
    int rc = free_add(a, a->res_start, a->res_len);
    if (rc == BIRCH_OK) rc = log_op(a, OP_FREE, a->res_start, a->res_len);
    a->res_len = 0;
    return rc;
}

int bi_page_alloc(birch_txn *txn, uint32_t n, uint64_t *pgno, uint8_t **buf)
{
    bi_alloc *a = txn->db->alloc;
    int from_free = 0;
    int rc = loaded(txn, a);
    if (rc == BIRCH_OK && n == 1) { /* the common case: the next page of the transaction's run */
        if (!a->res_len) rc = refill(txn, a);
        if (rc) return rc;
        *pgno = a->res_start++;
        a->res_len--;
        if (bi_page_is_dirty(txn, *pgno))
            return BI_CORRUPT("free-space map: page %llu listed as free while this transaction uses it",
                              (unsigned long long)*pgno);
        return bi_dirty_new(txn, *pgno, 1, buf);
    }
    if (rc == BIRCH_OK) rc = take(txn, a, n, 1, pgno, &from_free);
    if (rc) return rc;
    if (from_free) {
        /* A damaged map may list a page this transaction already holds. */
        for (uint32_t i = 0; i < n; i++)
            if (bi_page_is_dirty(txn, *pgno + i))
                return BI_CORRUPT("free-space map: page %llu listed as free while this transaction uses it",
                                  (unsigned long long)(*pgno + i));
        rc = log_op(a, OP_TAKE, *pgno, n);
        if (rc) return rc;
    }
    return bi_dirty_new(txn, *pgno, n, buf);
}

int bi_page_free(birch_txn *txn, uint64_t pgno, uint32_t n)
{
    bi_alloc *a = txn->db->alloc;
    int rc = loaded(txn, a);
    if (rc) return rc;
    if (bi_dirty_drop(txn, pgno)) { /* born in this transaction: no snapshot has seen it */
        rc = free_add(a, pgno, n);
        return rc ? rc : log_op(a, OP_FREE, pgno, n);
    }
    if (free_has(a, pgno, n) || (pgno < a->res_start + a->res_len && pgno + n > a->res_start))
        return BI_CORRUPT("free-space map: page %llu listed as free while a tree still used it (the tree just freed it)",
                          (unsigned long long)pgno);
    /* A page written after the durable state is not part of it: only
     * snapshots constrain its reuse. */
    const uint8_t *p = bi_page_get(txn, pgno);
    int young = p && ((const bi_phdr *)(const void *)p)->txnid > a->durable;
    return rv_push(&a->freed[young], pgno, n);
}

int bi_page_touch(birch_txn *txn, uint64_t pgno, uint64_t *newpgno, uint8_t **buf)
{
    uint8_t *src = bi_page_get(txn, pgno);
    if (!src) return BI_CORRUPT("page %llu: outside the file", (unsigned long long)pgno);
    /* A spilled page (spill.c) is copied like a clean one; freeing it
     * then gives its number back at once (this transaction wrote it). */
    if (bi_page_in_memory(txn, pgno)) {
        *newpgno = pgno;
        *buf = src;
        return BIRCH_OK;
    }
    int rc = bi_page_alloc(txn, 1, newpgno, buf);
    if (rc) return rc;
    if (*newpgno == pgno)
        return BI_CORRUPT("free-space map: page %llu listed as free while a tree uses it", (unsigned long long)pgno);
    memcpy(*buf, src, txn->db->psize);
    bi_hdr(*buf)->pgno = *newpgno;
    return bi_page_free(txn, pgno, 1);
}

int bi_alloc_changed(const birch_txn *txn)
{
    const bi_alloc *a = txn->db->alloc;
    return a->ops.n || a->freed[0].n || a->freed[1].n || a->res_len;
}

uint64_t bi_alloc_freed_durable(const birch_txn *txn)
{
    const bi_alloc *a = txn->db->alloc;
    uint64_t n = 0;
    for (size_t i = 0; i < a->freed[0].n; i++) n += a->freed[0].v[i].len;
    return n;
}

/* ---- Persisting ----------------------------------------------------------------- */

/* A page a tree freed in this transaction was in use until then: the map
 * must not have handed it out again (one hash lookup per page). */
static int freed_not_reused(birch_txn *txn, const runvec *r)
{
    for (size_t i = 0; i < r->n; i++)
        for (uint64_t p = r->v[i].start; p < r->v[i].start + r->v[i].len; p++)
            if (bi_page_is_dirty(txn, p))
                return BI_CORRUPT("free-space map: page %llu was handed out again while a tree still used it",
                                  (unsigned long long)p);
    return BIRCH_OK;
}

/* Encodes the whole state as a base's body. */
static int encode_base(bi_alloc *a, bytes *b)
{
    b->n = 0;
    int rc = BIRCH_OK;
    for (size_t i = 0; rc == BIRCH_OK && i < a->free.n; i++) { /* descending: each replayed insert appends */
        rc = put_varint(b, OP_FREE);
        if (rc == BIRCH_OK) rc = put_varint(b, a->free.v[i].start);
        if (rc == BIRCH_OK) rc = put_varint(b, a->free.v[i].len);
    }
    for (int k = 0; k < 2; k++)
        for (size_t g = a->q[k].head; rc == BIRCH_OK && g < a->q[k].n; g++)
            for (size_t i = 0; rc == BIRCH_OK && i < a->q[k].v[g].runs.n; i++) {
                rc = put_varint(b, OP_PEND);
                if (rc == BIRCH_OK) rc = put_varint(b, a->q[k].v[g].txnid << 1 | (unsigned)k);
                if (rc == BIRCH_OK) rc = put_varint(b, a->q[k].v[g].runs.v[i].start);
                if (rc == BIRCH_OK) rc = put_varint(b, a->q[k].v[g].runs.v[i].len);
            }
    return rc == BIRCH_OK ? put_varint(b, OP_END) : rc;
}

/* Pages for a record of body bytes (plus one operation: its own take). */
static uint64_t record_pages(const birch_db *db, size_t body)
{
    return (FM_BODY + body + OP_MAX + db->psize - 1) / db->psize;
}

/* Writes the record: a dirty run at pgno of n pages. */
static int write_record(birch_txn *txn, bi_alloc *a, uint64_t pgno, uint64_t n, int base, const bytes *body)
{
    uint8_t *buf;
    int rc = bi_dirty_new(txn, pgno, (uint32_t)n, &buf);
    if (rc) return rc;
    bi_phdr *h = bi_hdr(buf);
    h->type = BI_P_FREEMAP;
    h->upper = (uint32_t)n;
    h->txnid = txn->meta.txnid;
    bi_fmrec f = {0};
    f.kind = base ? BI_FM_BASE : BI_FM_DELTA;
    f.body_len = body->n;
    if (!base) {
        f.prev = a->head.root;
        f.prev_pages = a->head.count;
        f.prev_csum = a->head.csum;
    }
    a->chain_len = base ? 1 : a->chain_len + 1;
    a->chain_pages = base ? 0 : a->chain_pages + n;
    if (base) a->base_pages = n;
    f.chain_len = a->chain_len;
    memcpy(buf + BI_HDR, &f, sizeof f);
    memcpy(buf + FM_BODY, body->v, body->n);
    a->head = (bi_tree){pgno, n, bi_sum(buf, (size_t)n * txn->db->psize)};
    return BIRCH_OK;
}

/* Adds the transaction's freed pages to the pending queues (and, for a
 * delta, its operations). */
static int pend_freed(birch_txn *txn, bi_alloc *a, int log)
{
    for (int k = 0; k < 2; k++) {
        if (rv_normalize(&a->freed[k]))
            return BI_CORRUPT("free-space map: a tree freed page %llu twice in one transaction",
                              (unsigned long long)a->freed[k].v[0].start);
        for (size_t i = 0; i < a->freed[k].n; i++) {
            run r = a->freed[k].v[i];
            int rc = q_pend(a, k, txn->meta.txnid, r.start, r.len);
            if (rc == BIRCH_OK && log) rc = log_pend(a, txn->meta.txnid << 1 | (unsigned)k, r.start, r.len);
            if (rc) return rc;
        }
    }
    return BIRCH_OK;
}

/* The records of the chain become pending pages of this commit (older
 * snapshots still read them), young if written after the durable state. */
static int retire_chain(birch_txn *txn, bi_alloc *a)
{
    for (size_t i = 0; i < a->chain.n; i++) {
        const uint8_t *p = bi_page_get(txn, a->chain.v[i].start);
        int young = p && ((const bi_phdr *)(const void *)p)->txnid > a->durable;
        int rc = rv_push(&a->freed[young], a->chain.v[i].start, a->chain.v[i].len);
        if (rc) return rc;
    }
    a->chain.n = 0;
    return BIRCH_OK;
}

/* Before a record of n pages is sized: if no free run holds n pages, the
 * pending groups that have become free are reclaimed first (their
 * operations then count in a delta's size), so that the record grows the
 * file only when nothing else can hold it. */
static int make_room(bi_alloc *a, uint64_t n)
{
    if (a->dry || free_fit(a, n) < a->free.n) return BIRCH_OK;
    a->dry = 1;
    int got;
    return reclaim(a, &got);
}

static int persist_base(birch_txn *txn, bi_alloc *a)
{
    int rc = retire_chain(txn, a);
    if (rc == BIRCH_OK) rc = pend_freed(txn, a, 0);
    bytes b = {NULL, 0, 0};
    if (rc == BIRCH_OK) rc = encode_base(a, &b);
    uint64_t pgno, n = rc == BIRCH_OK ? record_pages(txn->db, b.n) : 0;
    int from_free;
    if (rc == BIRCH_OK && a->res_len >= n) { /* right after the commit's other pages */
        pgno = a->res_start;
        a->res_start += n;
        a->res_len -= n;
        rc = release_run(a);
    } else {
        if (rc == BIRCH_OK) rc = release_run(a);
        if (rc == BIRCH_OK) rc = make_room(a, n);
        if (rc == BIRCH_OK) rc = encode_base(a, &b); /* after a reclaim: fewer, longer runs */
        if (rc == BIRCH_OK) {
            n = record_pages(txn->db, b.n);
            rc = take(txn, a, n, 0, &pgno, &from_free);
        }
    }
    if (rc == BIRCH_OK) rc = encode_base(a, &b); /* its pages are no longer free, the run's rest is */
    if (rc == BIRCH_OK) rc = rv_push(&a->chain, pgno, n);
    if (rc == BIRCH_OK) rc = write_record(txn, a, pgno, n, 1, &b);
    free(b.v);
    return rc;
}

static int persist_delta(birch_txn *txn, bi_alloc *a)
{
    int rc = pend_freed(txn, a, 1);
    uint64_t pgno, n = record_pages(txn->db, a->ops.n + 1); /* room for one more operation: the run's FREE or the record's TAKE */
    int from_free = 0;
    if (rc == BIRCH_OK && a->res_len >= n) { /* right after the commit's other pages */
        pgno = a->res_start;
        a->res_start += n;
        a->res_len -= n;
        rc = release_run(a);
    } else {
        if (rc == BIRCH_OK) rc = release_run(a);
        if (rc == BIRCH_OK) rc = make_room(a, record_pages(txn->db, a->ops.n + 1));
        if (rc == BIRCH_OK) {
            n = record_pages(txn->db, a->ops.n + 1);
            rc = take(txn, a, n, 0, &pgno, &from_free);
        }
        if (rc == BIRCH_OK && from_free) rc = log_op(a, OP_TAKE, pgno, n);
    }
    if (rc == BIRCH_OK) rc = put_varint(&a->ops, OP_END);
    if (rc == BIRCH_OK) rc = rv_push(&a->chain, pgno, n);
    if (rc == BIRCH_OK) rc = write_record(txn, a, pgno, n, 0, &a->ops);
    return rc;
}

int bi_alloc_persist(birch_txn *txn)
{
    bi_alloc *a = txn->db->alloc;
    if (!bi_alloc_changed(txn)) return BIRCH_OK;
    int rc = loaded(txn, a);
    if (rc == BIRCH_OK) rc = freed_not_reused(txn, &a->freed[0]);
    if (rc == BIRCH_OK) rc = freed_not_reused(txn, &a->freed[1]);
    if (rc) return rc;
    /* A delta costs a page or so; a base the whole state (a run or a
     * group's run takes at most OP_MAX bytes).  A base is due once the
     * deltas since the last one hold as many pages as it did: the work is
     * then at most twice the changes, and a replay at most twice the base. */
    size_t runs = a->free.n + a->freed[0].n + a->freed[1].n + a->chain.n;
    for (int k = 0; k < 2; k++)
        for (size_t g = a->q[k].head; g < a->q[k].n; g++) runs += a->q[k].v[g].runs.n;
    size_t delta = a->ops.n + (a->freed[0].n + a->freed[1].n) * OP_MAX;
    int fits_page = FM_BODY + (runs + 2) * OP_MAX <= txn->db->psize;
    int base = !a->chain_len || fits_page || a->chain_len + 1 >= BI_FM_CHAIN_MAX ||
               a->chain_pages + record_pages(txn->db, delta) > a->base_pages;
    rc = base ? persist_base(txn, a) : persist_delta(txn, a);
    if (rc) return rc;
    txn->meta.freemap = a->head;
    txn->meta.free_pages = a->free_pages + a->pending_pages;
    a->persisted = 1;
    return BIRCH_OK;
}

void bi_alloc_end(birch_txn *txn, int committed)
{
    bi_alloc *a = txn->db->alloc;
    if (!a) return;
    if (committed && a->loaded && (a->persisted || !bi_alloc_changed(txn))) {
        if (a->persisted) a->state = txn->meta.txnid; /* else the state is still the last commit's */
        a->ops.n = 0;
        a->freed[0].n = a->freed[1].n = 0;
    } else {
        state_free(a);
    }
}

/* ---- Readers of the map: birch_check, birch_copy, open -------------------------- */

int bi_freemap_walk(birch_txn *txn, bi_fm_fn fn, void *ctx)
{
    bi_alloc a;
    memset(&a, 0, sizeof a);
    src s = {txn->db, txn->map, txn->meta.npages};
    int rc = load(&a, &s, &txn->meta, 1);
    for (size_t i = 0; rc == BIRCH_OK && i < a.free.n; i++)
        rc = fn(ctx, BI_FM_FREE, a.free.v[i].start, a.free.v[i].len, 0, 0);
    for (int k = 0; k < 2; k++)
        for (size_t g = a.q[k].head; rc == BIRCH_OK && g < a.q[k].n; g++)
            for (size_t i = 0; rc == BIRCH_OK && i < a.q[k].v[g].runs.n; i++)
                rc = fn(ctx, BI_FM_PENDING, a.q[k].v[g].runs.v[i].start, a.q[k].v[g].runs.v[i].len,
                        a.q[k].v[g].txnid, k);
    for (size_t i = 0; rc == BIRCH_OK && i < a.chain.n; i++)
        rc = fn(ctx, BI_FM_RECORD, a.chain.v[i].start, a.chain.v[i].len, 0, 0);
    state_free(&a);
    return rc;
}

int bi_freemap_verify(birch_db *db, const bi_meta *m, uint8_t *map)
{
    src s = {db, map, m->npages};
    bi_tree ref = m->freemap;
    for (unsigned n = 0; ref.root && n < BI_FM_CHAIN_MAX; n++) {
        const bi_fmrec *f;
        rd body;
        int rc = record_at(&s, &ref, 1, &f, &body);
        if (rc) return rc;
        const bi_phdr *h = (const bi_phdr *)(const void *)(map + ref.root * db->psize);
        if (h->txnid <= m->base_txnid || f->kind == BI_FM_BASE) break; /* durable before the base */
        ref = (bi_tree){f->prev, f->prev_pages, f->prev_csum};
    }
    if (!m->freemap.root && (m->freemap.count || m->freemap.csum))
        return BI_CORRUPT("free-space map: no record, but a size or checksum");
    return BIRCH_OK;
}
