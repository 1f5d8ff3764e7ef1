/*
 * freespace.c - the allocator's state in memory (alloc_impl.h): free runs
 * and pending groups, and the vectors they are made of.
 *
 *   free     runs of pages no snapshot can see, sorted by first page,
 *            highest first, so that the lowest page is taken in O(1);
 *   pending  per commit T, the pages it freed, in two queues ordered by T:
 *            [0] pages the durable state may still use (free once
 *            T <= min(oldest reader, durable txnid)) and [1] "young" pages
 *            written after the durable state (free once T <= oldest
 *            reader): a non-durable workload reuses those at once.
 * Rules it keeps (DESIGN.md 5.1):
 *   1. every page below npages is in exactly one tree, run, pending group
 *      or map record (birch_check verifies it): adding a free page that
 *      is free already, or taking one that is not, is BIRCH_ECORRUPT;
 *   2. a pending group moves to free as a whole, oldest first, once its
 *      queue's limit passes it (reclaim); limits only grow, so a page
 *      that is free stays free for every later snapshot.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc_impl.h"

int bi_rv_reserve(runvec *r, size_t more)
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

int bi_rv_push(runvec *r, uint64_t start, uint64_t len)
{
    int rc = bi_rv_reserve(r, 1);
    if (rc) return rc;
    r->v[r->n++] = (run){start, len};
    return BIRCH_OK;
}

void bi_rv_free(runvec *r)
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
int bi_rv_normalize(runvec *r)
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

int bi_varint_put(bytes *b, uint64_t x)
{
    if (b->n + 10 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        uint8_t *v = realloc(b->v, cap);
        if (!v) return bi_err(BIRCH_ENOMEM, "out of memory for the free-space map's record (%zu bytes)", cap);
        b->v = v;
        b->cap = cap;
    }
    bi_varint_room(b, x);
    return BIRCH_OK;
}

int bi_alloc_new(bi_alloc **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? BIRCH_OK : bi_err(BIRCH_ENOMEM, "out of memory for the page allocator");
}

void bi_fs_clear(bi_alloc *a)
{
    bi_rv_free(&a->free);
    for (int k = 0; k < 2; k++) {
        for (size_t i = a->q[k].head; i < a->q[k].n; i++) bi_rv_free(&a->q[k].v[i].runs);
        free(a->q[k].v);
        a->q[k] = (gqueue){NULL, 0, 0, 0};
        bi_rv_free(&a->freed[k]);
    }
    bi_rv_free(&a->chain);
    free(a->ops.v);
    a->ops = (bytes){NULL, 0, 0};
    a->loaded = 0;
    a->free_pages = a->pending_pages = 0;
    a->pending_runs = 0;
    a->head = (bi_tree){0, 0, 0};
    a->chain_len = 0;
    a->chain_pages = a->base_pages = 0;
}

static int rv_copy(runvec *dst, const runvec *src)
{
    *dst = (runvec){NULL, 0, 0};
    int rc = bi_rv_reserve(dst, src->n);
    if (rc == BIRCH_OK && src->n) memcpy(dst->v, src->v, src->n * sizeof *dst->v);
    dst->n = src->n;
    return rc;
}

int bi_fs_copy(bi_alloc *dst, const bi_alloc *src)
{
    *dst = *src;
    dst->free = dst->chain = dst->freed[0] = dst->freed[1] = (runvec){NULL, 0, 0};
    dst->q[0] = dst->q[1] = (gqueue){NULL, 0, 0, 0};
    dst->ops = (bytes){NULL, 0, 0};
    int rc = rv_copy(&dst->free, &src->free);
    if (rc == BIRCH_OK) rc = rv_copy(&dst->chain, &src->chain);
    for (int k = 0; k < 2 && rc == BIRCH_OK; k++) {
        rc = rv_copy(&dst->freed[k], &src->freed[k]);
        size_t n = src->q[k].n - src->q[k].head; /* the groups not popped yet */
        if (rc == BIRCH_OK && n && !(dst->q[k].v = calloc(n, sizeof *dst->q[k].v)))
            rc = bi_err(BIRCH_ENOMEM, "out of memory copying %zu pending groups", n);
        for (size_t i = 0; i < n && rc == BIRCH_OK; i++) {
            const group *g = &src->q[k].v[src->q[k].head + i];
            dst->q[k].v[i] = (group){g->txnid, g->pages, {NULL, 0, 0}};
            dst->q[k].n = dst->q[k].cap = i + 1;
            rc = rv_copy(&dst->q[k].v[i].runs, &g->runs);
        }
    }
    if (rc == BIRCH_OK && src->ops.n && !(dst->ops.v = malloc(src->ops.n)))
        rc = bi_err(BIRCH_ENOMEM, "out of memory copying %zu bytes of map operations", src->ops.n);
    if (rc == BIRCH_OK && src->ops.n) memcpy(dst->ops.v, src->ops.v, src->ops.n);
    dst->ops.n = dst->ops.cap = src->ops.n;
    if (rc) bi_fs_clear(dst);
    return rc;
}

void bi_alloc_destroy(bi_alloc *a)
{
    if (!a) return;
    bi_fs_clear(a);
    free(a);
}

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
int bi_fs_has(const bi_alloc *a, uint64_t p, uint64_t len)
{
    size_t i = free_at(a, p + len - 1);
    return i < a->free.n && a->free.v[i].start + a->free.v[i].len > p;
}

static int free_insert_at(bi_alloc *a, size_t i, run r)
{
    int rc = bi_rv_reserve(&a->free, 1);
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
int bi_fs_add(bi_alloc *a, uint64_t s, uint64_t len)
{
    if (bi_fs_has(a, s, len))
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
int bi_fs_del(bi_alloc *a, uint64_t s, uint64_t len)
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
int bi_fs_merge(bi_alloc *a, runvec *add)
{
    if (bi_rv_normalize(add))
        return BI_CORRUPT("free-space map: pending groups list a page twice");
    if (add->n == 0) return BIRCH_OK;
    if (add->n <= 16) { /* a commit's few pages: inserted, not a copy of every run */
        for (size_t i = add->n; i-- > 0;) {
            int rc = bi_fs_add(a, add->v[i].start, add->v[i].len); /* fails if pending and free at once */
            if (rc) return rc;
        }
        return BIRCH_OK;
    }
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
size_t bi_fs_fit(const bi_alloc *a, uint64_t n)
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
int bi_fs_take(bi_alloc *a, uint64_t n, uint64_t *pgno, int *found)
{
    size_t i = bi_fs_fit(a, n);
    *found = i < a->free.n;
    if (!*found) return BIRCH_OK;
    *pgno = a->free.v[i].start;
    return bi_fs_del(a, *pgno, n);
}

group *bi_fs_front(gqueue *q) { return q->head < q->n ? &q->v[q->head] : NULL; }

/* Adds pages [s, s + len) freed by commit txnid to queue young. */
int bi_fs_pend(bi_alloc *a, int young, uint64_t txnid, uint64_t s, uint64_t len)
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
    int rc = bi_rv_push(&g->runs, s, len);
    if (rc) return rc;
    g->pages += len;
    a->pending_pages += len;
    a->pending_runs++;
    return BIRCH_OK;
}

/* The group of commit txnid in queue k, or NULL (binary search: groups
 * are in ascending txnid). */
static group *find_group(gqueue *q, uint64_t txnid)
{
    size_t lo = q->head, hi = q->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (q->v[mid].txnid < txnid) lo = mid + 1;
        else hi = mid;
    }
    return lo < q->n && q->v[lo].txnid == txnid ? &q->v[lo] : NULL;
}

int bi_rv_cut(runvec *r, uint64_t s, uint64_t len, int *found)
{
    *found = 0;
    size_t lo = 0, hi = r->n; /* the last run starting at or below s, if runs ascend */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->v[mid].start <= s) lo = mid + 1;
        else hi = mid;
    }
    size_t i = lo ? lo - 1 : 0;
    if (!r->n || r->v[i].start > s || s + len > r->v[i].start + r->v[i].len) { /* not ascending there: look at all */
        for (i = 0; i < r->n; i++)
            if (r->v[i].start <= s && s + len <= r->v[i].start + r->v[i].len) break;
        if (i == r->n) return BIRCH_OK;
    }
    *found = 1;
    run x = r->v[i];
    uint64_t end = x.start + x.len;
    if (x.start == s && end == s + len) { /* the whole run */
        memmove(r->v + i, r->v + i + 1, (r->n - i - 1) * sizeof *r->v);
        r->n--;
        return BIRCH_OK;
    }
    if (x.start == s || end == s + len) { /* one end */
        r->v[i] = x.start == s ? (run){s + len, end - s - len} : (run){x.start, s - x.start};
        return BIRCH_OK;
    }
    int rc = bi_rv_reserve(r, 1); /* the middle: two runs */
    if (rc) return rc;
    memmove(r->v + i + 2, r->v + i + 1, (r->n - i - 1) * sizeof *r->v);
    r->v[i] = (run){x.start, s - x.start};
    r->v[i + 1] = (run){s + len, end - s - len};
    r->n++;
    return BIRCH_OK;
}

int bi_fs_unpend(bi_alloc *a, uint64_t key, uint64_t s, uint64_t len)
{
    gqueue *q = &a->q[key & 1];
    group *g = find_group(q, key >> 1);
    size_t before = g ? g->runs.n : 0;
    int found = 0, rc = g ? bi_rv_cut(&g->runs, s, len, &found) : BIRCH_OK;
    if (rc) return rc;
    if (!found)
        return BI_CORRUPT("free-space map: pages %llu+%llu are not pending from commit %llu", (unsigned long long)s,
                          (unsigned long long)len, (unsigned long long)(key >> 1));
    g->pages -= len;
    a->pending_pages -= len;
    a->pending_runs = a->pending_runs + g->runs.n - before;
    if (!g->runs.n) { /* an empty group is dropped: a base would not list it, and a reclaim would not find it */
        bi_rv_free(&g->runs);
        size_t i = (size_t)(g - q->v);
        memmove(q->v + i, q->v + i + 1, (q->n - i - 1) * sizeof *q->v);
        q->n--;
    }
    return BIRCH_OK;
}

/* Moves queue k's front group into add (its pages are free once add is
 * merged). */
int bi_fs_pop(bi_alloc *a, int k, runvec *add)
{
    group *g = bi_fs_front(&a->q[k]);
    int rc = bi_rv_reserve(add, g->runs.n);
    if (rc) return rc;
    memcpy(add->v + add->n, g->runs.v, g->runs.n * sizeof *add->v);
    add->n += g->runs.n;
    a->pending_pages -= g->pages;
    a->pending_runs -= g->runs.n;
    bi_rv_free(&g->runs);
    a->q[k].head++;
    return BIRCH_OK;
}

/* Rule 2: moves every front group with txnid <= lim[k] to free, in one
 * merge, and logs each; *got tells whether there was one. */
int bi_fs_reclaim(bi_alloc *a, int *got)
{
    runvec add = {NULL, 0, 0};
    int rc = BIRCH_OK;
    *got = 0;
    for (int k = 0; k < 2 && rc == BIRCH_OK; k++) {
        group *g;
        while (rc == BIRCH_OK && (g = bi_fs_front(&a->q[k])) && g->txnid <= a->lim[k]) {
            rc = bi_varint_put(&a->ops, OP_RECLAIM);
            if (rc == BIRCH_OK) rc = bi_varint_put(&a->ops, g->txnid << 1 | (unsigned)k);
            if (rc == BIRCH_OK) rc = bi_fs_pop(a, k, &add);
            *got = 1;
        }
    }
    if (rc == BIRCH_OK) rc = bi_fs_merge(a, &add);
    bi_rv_free(&add);
    return rc;
}
