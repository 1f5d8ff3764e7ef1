/*
 * freemap.c - the free-space map (alloc_impl.h; DESIGN.md 5.3, FORMAT.md
 * 10): the allocator's state persisted as a chain of records, loaded by
 * replaying them, written at each commit that changed the state.
 *
 * A record is a base (the whole state) or a delta (the operations of one
 * commit, which replay in order), linked newest first (rule 3).  A
 * record's own pages come from free or the file's end and are taken
 * before it is encoded, with room for that one operation reserved, so
 * saving the map never needs more of it.  A base is written when the
 * chain is empty, when the whole state fits one page, or when the deltas
 * since the base outgrow it (which keeps both the work per commit and the
 * replay at open proportionate); the records it replaces become pending
 * pages of its commit.  The map is trusted only after its checksums and
 * its consistency (no page listed twice, every page below npages) verify.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc_impl.h"

/* A record's body being read. */
typedef struct rd {
    const uint8_t *p, *end;
    uint64_t pgno; /* the record, for messages */
} rd;

static int get_varint(rd *r, uint64_t *x)
{
    if (bi_varint_read(&r->p, r->end, x, 0) == 0) return BIRCH_OK;
    return BI_CORRUPT("free-space map record at page %llu: a number runs past the record's end", (unsigned long long)r->pgno);
}

/* A run of pages the map names: inside 2..npages-1, not empty. */
static int run_ok(const bi_fm_src *s, const rd *r, uint64_t start, uint64_t len)
{
    if (len && start >= BI_META_PAGES && start < s->npages && len <= s->npages - start) return BIRCH_OK;
    return BI_CORRUPT("free-space map record at page %llu: pages %llu+%llu outside 2..%llu", (unsigned long long)r->pgno,
                      (unsigned long long)start, (unsigned long long)len, (unsigned long long)s->npages - 1);
}

/* A replayed reclaim: queue key & 1's front must be commit key >> 1's. */
static int pop_group(bi_alloc *a, const rd *r, uint64_t key, runvec *add)
{
    group *g = bi_fs_front(&a->q[key & 1]);
    if (!g || g->txnid != key >> 1)
        return BI_CORRUPT("free-space map record at page %llu: commit %llu's pages reclaimed out of order",
                          (unsigned long long)r->pgno, (unsigned long long)(key >> 1));
    return bi_fs_pop(a, (int)(key & 1), add);
}

/* Applies one operation other than a reclaim. */
static int replay_op(bi_alloc *a, const bi_fm_src *s, rd *r, uint64_t op, uint64_t max_txnid)
{
    uint64_t x = 0, y = 0, z = 0;
    int rc = get_varint(r, &x);
    if (rc == BIRCH_OK) rc = get_varint(r, &y);
    if (rc == BIRCH_OK && (op == OP_PEND || op == OP_UNPEND)) rc = get_varint(r, &z);
    if (rc) return rc;
    if (op == OP_FREE || op == OP_TAKE) {
        rc = run_ok(s, r, x, y);
        return rc ? rc : op == OP_FREE ? bi_fs_add(a, x, y) : bi_fs_del(a, x, y);
    }
    if (op == OP_UNPEND) {
        rc = run_ok(s, r, y, z);
        return rc ? rc : bi_fs_unpend(a, x, y, z);
    }
    if (op != OP_PEND)
        return BI_CORRUPT("free-space map record at page %llu: unknown operation %llu", (unsigned long long)r->pgno,
                          (unsigned long long)op);
    rc = run_ok(s, r, y, z);
    if (rc == BIRCH_OK && (x >> 1) > max_txnid)
        rc = BI_CORRUPT("free-space map record at page %llu: pages freed by commit %llu, after the last (%llu)",
                        (unsigned long long)r->pgno, (unsigned long long)(x >> 1), (unsigned long long)max_txnid);
    return rc ? rc : bi_fs_pend(a, (int)(x & 1), x >> 1, y, z);
}

/* Applies one record's operations; consecutive reclaims are merged into
 * free at once, as the writer did. */
static int replay(bi_alloc *a, const bi_fm_src *s, rd *r, uint64_t max_txnid)
{
    runvec add = {NULL, 0, 0};
    int rc;
    for (;;) {
        uint64_t op = 0, key = 0;
        rc = get_varint(r, &op);
        if (rc) break;
        if (op == OP_RECLAIM) {
            rc = get_varint(r, &key);
            if (rc == BIRCH_OK) rc = pop_group(a, r, key, &add);
            if (rc) break;
            continue;
        }
        if (add.n && (rc = bi_fs_merge(a, &add)) != BIRCH_OK) break;
        add.n = 0;
        if (op == OP_END) break;
        rc = replay_op(a, s, r, op, max_txnid);
        if (rc) break;
    }
    bi_rv_free(&add);
    return rc;
}

/* The record named by ref: bounds, checksum, header.  Sets *body. */
static int record_at(const bi_fm_src *s, const bi_tree *ref, int check_sum, const bi_fmrec **rec, rd *body)
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
    int rc = bi_rv_reserve(&all, a->free.n + a->chain.n);
    for (size_t i = 0; rc == BIRCH_OK && i < a->free.n; i++) all.v[all.n++] = a->free.v[i];
    for (size_t i = 0; rc == BIRCH_OK && i < a->chain.n; i++) all.v[all.n++] = a->chain.v[i];
    for (int k = 0; rc == BIRCH_OK && k < 2; k++)
        for (size_t g = a->q[k].head; rc == BIRCH_OK && g < a->q[k].n; g++) {
            const runvec *r = &a->q[k].v[g].runs;
            rc = bi_rv_reserve(&all, r->n);
            if (rc == BIRCH_OK) memcpy(all.v + all.n, r->v, r->n * sizeof *r->v), all.n += r->n;
        }
    if (rc == BIRCH_OK && bi_rv_normalize(&all)) rc = BI_CORRUPT("free-space map: a page is listed twice");
    bi_rv_free(&all);
    return rc;
}

/* Rebuilds the state of meta m from its chain (read through s). */
int bi_fm_load(bi_alloc *a, const bi_fm_src *s, const bi_meta *m, int check_sums)
{
    bi_fs_clear(a);
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
        if (rc == BIRCH_OK) rc = bi_rv_push(&a->chain, ref.root, ref.count);
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

/* Bytes of x as a varint: 7 bits a byte. */
static size_t varint_len(uint64_t x)
{
    return x < (1u << 7) ? 1 : x < (1u << 14) ? 2 : x < (1u << 21) ? 3 : x < (1u << 28) ? 4 : 5 + (x >= (1ull << 35)) +
           (x >= (1ull << 42)) + (x >= (1ull << 49)) + (x >= (1ull << 56)) + (x >= (1ull << 63));
}

/* Makes room in b for one more operation. */
static int op_room(bytes *b)
{
    if (b->n + OP_MAX <= b->cap) return BIRCH_OK;
    size_t cap = b->cap > 4096 ? b->cap * 2 : 8192;
    uint8_t *v = realloc(b->v, cap);
    if (!v) return bi_err(BIRCH_ENOMEM, "out of memory for the free-space map's base (%zu bytes)", cap);
    b->v = v;
    b->cap = cap;
    return BIRCH_OK;
}

/* Bytes of the whole state as a base's body (encode_base_ops' length). */
static size_t base_size(const bi_alloc *a)
{
    size_t n = 1; /* the end mark */
    for (size_t i = 0; i < a->free.n; i++) n += 1 + varint_len(a->free.v[i].start) + varint_len(a->free.v[i].len);
    for (int k = 0; k < 2; k++)
        for (size_t g = a->q[k].head; g < a->q[k].n; g++) {
            size_t key = varint_len(a->q[k].v[g].txnid << 1 | (unsigned)k);
            for (size_t i = 0; i < a->q[k].v[g].runs.n; i++)
                n += 1 + key + varint_len(a->q[k].v[g].runs.v[i].start) + varint_len(a->q[k].v[g].runs.v[i].len);
        }
    return n;
}

/* Encodes the whole state as a base's body, plus the end mark when end;
 * with ends, also where each operation ends (ends->v[i].start), for a
 * base split over pages.  The varints are written inline, with one room
 * check per operation: a fragmented file's base is tens of thousands. */
static int encode_base_ops(bi_alloc *a, bytes *b, int end, runvec *ends)
{
    b->n = 0;
    if (ends) ends->n = 0;
    int rc = BIRCH_OK;
    for (size_t i = 0; rc == BIRCH_OK && i < a->free.n; i++) { /* descending: each replayed insert appends */
        if ((rc = op_room(b))) break;
        bi_varint_room(b, OP_FREE);
        bi_varint_room(b, a->free.v[i].start);
        bi_varint_room(b, a->free.v[i].len);
        if (ends) rc = bi_rv_push(ends, b->n, 0);
    }
    for (int k = 0; k < 2; k++)
        for (size_t g = a->q[k].head; rc == BIRCH_OK && g < a->q[k].n; g++) {
            uint64_t key = a->q[k].v[g].txnid << 1 | (unsigned)k;
            for (size_t i = 0; rc == BIRCH_OK && i < a->q[k].v[g].runs.n; i++) {
                if ((rc = op_room(b))) break;
                bi_varint_room(b, OP_PEND);
                bi_varint_room(b, key);
                bi_varint_room(b, a->q[k].v[g].runs.v[i].start);
                bi_varint_room(b, a->q[k].v[g].runs.v[i].len);
                if (ends) rc = bi_rv_push(ends, b->n, 0);
            }
        }
    if (rc == BIRCH_OK && end && (rc = op_room(b)) == BIRCH_OK) bi_varint_room(b, OP_END);
    return rc;
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
    int rc = bi_dirty_new(txn, pgno, (uint32_t)n, 1, &buf);
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

int bi_fm_pending_base(const birch_db *db, uint64_t pgno, uint64_t txnid, const uint64_t *runs, size_t nruns,
                       uint8_t **out, uint64_t *npages)
{
    bytes b = {NULL, 0, 0};
    int rc = BIRCH_OK;
    for (size_t i = 0; i < nruns && rc == BIRCH_OK; i++) {
        if ((rc = op_room(&b))) break;
        bi_varint_room(&b, OP_PEND);
        bi_varint_room(&b, txnid << 1);
        bi_varint_room(&b, runs[2 * i]);
        bi_varint_room(&b, runs[2 * i + 1]);
    }
    if (rc == BIRCH_OK && (rc = op_room(&b)) == BIRCH_OK) bi_varint_room(&b, OP_END);
    uint64_t n = record_pages(db, b.n);
    uint8_t *buf = rc ? NULL : calloc(n, db->psize);
    if (!rc && !buf) rc = bi_err(BIRCH_ENOMEM, "out of memory for a map record of %llu pages", (unsigned long long)n);
    if (rc == BIRCH_OK) {
        bi_phdr *h = bi_hdr(buf);
        h->type = BI_P_FREEMAP;
        h->upper = (uint32_t)n;
        h->pgno = pgno;
        h->txnid = txnid;
        bi_fmrec f = {0};
        f.kind = BI_FM_BASE;
        f.body_len = b.n;
        f.chain_len = 1;
        memcpy(buf + BI_HDR, &f, sizeof f);
        memcpy(buf + FM_BODY, b.v, b.n);
        *out = buf;
        *npages = n;
    }
    free(b.v);
    return rc;
}

/* Adds the transaction's freed pages to the pending queues (and, for a
 * delta, its operations). */
static int pend_freed(birch_txn *txn, bi_alloc *a, int log)
{
    for (int k = 0; k < 2; k++) {
        if (bi_rv_normalize(&a->freed[k]))
            return BI_CORRUPT("free-space map: a tree freed a page twice in one transaction");
        for (size_t i = 0; i < a->freed[k].n; i++) {
            run r = a->freed[k].v[i];
            int rc = bi_fs_pend(a, k, txn->meta.txnid, r.start, r.len);
            if (rc == BIRCH_OK && log) rc = bi_alloc_log_pend(a, txn->meta.txnid << 1 | (unsigned)k, r.start, r.len);
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
        int rc = bi_rv_push(&a->freed[young], a->chain.v[i].start, a->chain.v[i].len);
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
    if (a->dry || bi_fs_fit(a, n) < a->free.n) return BIRCH_OK;
    a->dry = 1;
    int got;
    return bi_fs_reclaim(a, &got);
}

/* Whether n contiguous pages can be had for a base: the transaction's
 * run, a free run, or the file's end under max_size. */
static int base_placeable(const birch_txn *txn, const bi_alloc *a, uint64_t n)
{
    if (a->res_len >= n || bi_fs_fit(a, n) < a->free.n) return 1;
    uint64_t room = bi_alloc_max_pages(txn);
    return room > txn->meta.npages && room - txn->meta.npages >= n;
}

/* How many one-page records ops (ending at ends) need at least, filling
 * each (greedy). */
static size_t chunks_needed(const runvec *ends, size_t cap)
{
    size_t c = 0, from = 0;
    for (size_t i = 0; i < ends->n; i++)
        if (ends->v[i].start - from > cap) {
            c++;
            from = ends->v[i - 1].start;
        }
    return c + 1;
}

/* Writes the operations as exactly pages.n one-page records, each at most
 * cap bytes and not empty: a base, then deltas that continue it (a base's
 * operations replay on a state being built like any delta's). */
static int write_split(birch_txn *txn, bi_alloc *a, const bytes *b, const runvec *ends, const runvec *pages,
                       size_t cap)
{
    bytes part = {NULL, 0, 0};
    size_t op = 0, from = 0;
    int rc = BIRCH_OK;
    for (size_t r = 0; rc == BIRCH_OK && r < pages->n; r++) {
        size_t left = pages->n - r - 1; /* records after this one, each needs one operation */
        while (op < ends->n && ends->v[op].start - from <= cap && ends->n - op - 1 >= left) op++;
        size_t to = r + 1 == pages->n ? ends->v[ends->n - 1].start : ends->v[op - 1].start;
        part.n = 0;
        for (size_t i = from; rc == BIRCH_OK && i < to; i++) {
            rc = bi_varint_put(&part, 0);
            part.v[part.n - 1] = b->v[i];
        }
        if (rc == BIRCH_OK) rc = bi_varint_put(&part, OP_END);
        if (rc == BIRCH_OK) rc = bi_rv_push(&a->chain, pages->v[r].start, 1);
        if (rc == BIRCH_OK) rc = write_record(txn, a, pages->v[r].start, 1, r == 0, &part);
        from = to;
    }
    free(part.v);
    return rc;
}

/* A base that no run of free pages (nor room under max_size) can hold in
 * one piece, as happens to a full database whose free pages are scattered:
 * written over single pages instead, so that the chain does not keep
 * growing (each delta takes a page) until nothing is left.  Pages are
 * taken before the state is encoded (it lists what is free after them),
 * more while they are too few; then the operations are spread over all of
 * them. */
static int persist_base_split(birch_txn *txn, bi_alloc *a)
{
    size_t cap = txn->db->psize - FM_BODY - 1; /* a page's body, less its end mark */
    runvec pages = {NULL, 0, 0}, ends = {NULL, 0, 0};
    bytes b = {NULL, 0, 0};
    int rc = bi_alloc_release_run(txn, a);
    size_t want = base_size(a) / (cap - OP_MAX) + 1;
    for (;;) {
        while (rc == BIRCH_OK && pages.n < want) {
            uint64_t p;
            int from_free;
            rc = bi_alloc_take(txn, a, 1, 0, &p, &from_free);
            if (rc == BIRCH_OK) rc = bi_rv_push(&pages, p, 1);
        }
        if (rc == BIRCH_OK) rc = encode_base_ops(a, &b, 0, &ends);
        if (rc || !ends.n) break;
        size_t need = chunks_needed(&ends, cap);
        if (need <= pages.n && ends.n >= pages.n) break;
        want = need > pages.n ? need : pages.n;
        if (want > BI_FM_CHAIN_MAX / 2) { /* the chain could not be loaded again (at most BI_FM_CHAIN_MAX records) */
            rc = bi_err(BIRCH_EFULL, "the free-space map needs %zu pages and no run of them is free under "
                                     "max_size: birch compact rewrites the file without free space", want);
            break;
        }
        if (ends.n < pages.n) { /* more pages than operations: cannot happen with a state this size */
            rc = BI_CORRUPT("free-space map: %zu operations for %zu pages of a split base", ends.n, pages.n);
            break;
        }
    }
    if (rc == BIRCH_OK && !ends.n) rc = BI_CORRUPT("free-space map: a split base with no operation");
    if (rc == BIRCH_OK) rc = write_split(txn, a, &b, &ends, &pages, cap);
    free(b.v);
    bi_rv_free(&ends);
    bi_rv_free(&pages);
    return rc;
}

static int persist_base(birch_txn *txn, bi_alloc *a)
{
    int rc = retire_chain(txn, a);
    if (rc == BIRCH_OK) rc = pend_freed(txn, a, 0);
    if (rc) return rc;
    /* Sized before its pages are taken: taking them splits at most one
     * free run, giving the rest of the transaction's run back adds at
     * most one: record_pages leaves room for one operation, and one more
     * is added here. */
    uint64_t pgno, n = record_pages(txn->db, base_size(a) + OP_MAX);
    int from_free;
    if (n > 1 && !base_placeable(txn, a, n)) return persist_base_split(txn, a);
    if (a->res_len >= n) { /* right after the commit's other pages */
        pgno = a->res_start;
        a->res_start += n;
        a->res_len -= n;
        rc = bi_alloc_release_run(txn, a);
    } else {
        rc = bi_alloc_release_run(txn, a);
        if (rc == BIRCH_OK) rc = make_room(a, n);
        if (rc == BIRCH_OK) {
            n = record_pages(txn->db, base_size(a) + OP_MAX); /* after a reclaim: fewer, longer runs */
            rc = bi_alloc_take(txn, a, n, 0, &pgno, &from_free);
        }
    }
    bytes b = {NULL, 0, 0};
    if (rc == BIRCH_OK) rc = encode_base_ops(a, &b, 1, NULL);
    BI_ASSERT(rc || FM_BODY + b.n <= n * txn->db->psize);
    if (rc == BIRCH_OK && FM_BODY + b.n > n * txn->db->psize)
        rc = BI_CORRUPT("free-space map: a base of %zu bytes outgrew the %llu pages taken for it", b.n,
                        (unsigned long long)n);
    if (rc == BIRCH_OK) rc = bi_rv_push(&a->chain, pgno, n);
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
        rc = bi_alloc_release_run(txn, a);
    } else {
        if (rc == BIRCH_OK) rc = bi_alloc_release_run(txn, a);
        if (rc == BIRCH_OK) rc = make_room(a, record_pages(txn->db, a->ops.n + 1));
        if (rc == BIRCH_OK) {
            n = record_pages(txn->db, a->ops.n + 1);
            rc = bi_alloc_take(txn, a, n, 0, &pgno, &from_free);
        }
        if (rc == BIRCH_OK && from_free) rc = bi_alloc_log(a, OP_TAKE, pgno, n);
    }
    if (rc == BIRCH_OK) rc = bi_varint_put(&a->ops, OP_END);
    if (rc == BIRCH_OK) rc = bi_rv_push(&a->chain, pgno, n);
    if (rc == BIRCH_OK) rc = write_record(txn, a, pgno, n, 0, &a->ops);
    return rc;
}

/* A transaction that put records must leave max_size's reserve for
 * deletes: free pages, the pages it freed (free for the next writer) and
 * room under max_size together at least BI_DEL_RESERVE (or an eighth of
 * max_size).  Otherwise puts would eat the pages deletes free, and a full
 * database could no longer delete (copy-on-write needs pages). */
static int reserve_kept(const birch_txn *txn, const bi_alloc *a)
{
    const birch_db *db = txn->db;
    if (!txn->grows || !db->opts.max_size) return BIRCH_OK;
    uint64_t pages = db->opts.max_size / db->psize, keep = bi_alloc_del_reserve(db);
    uint64_t have = a->free_pages + a->res_len + (pages > txn->meta.npages ? pages - txn->meta.npages : 0);
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < a->freed[k].n; i++) have += a->freed[k].v[i].len;
    if (have >= keep) return BIRCH_OK;
    return bi_err(BIRCH_EFULL, "max_size reached: this commit would leave %llu free pages, and %llu are kept so that "
                               "deletes can still commit", (unsigned long long)have, (unsigned long long)keep);
}

int bi_alloc_persist(birch_txn *txn)
{
    bi_alloc *a = txn->db->alloc;
    if (bi_alloc_changed(txn) && a->loaded) {
        int rc = reserve_kept(txn, a);
        if (rc) return rc;
    }
    if (!a->ops.n && !a->freed[0].n && !a->freed[1].n) {
        int rc = bi_alloc_release_run(txn, a); /* at the file's end it shrinks npages: nothing to record */
        if (rc) return rc;
    }
    if (!bi_alloc_changed(txn)) return BIRCH_OK;
    int rc = bi_alloc_loaded(txn, a);
    if (rc == BIRCH_OK) rc = freed_not_reused(txn, &a->freed[0]);
    if (rc == BIRCH_OK) rc = freed_not_reused(txn, &a->freed[1]);
    if (rc) return rc;
    /* A delta costs a page or so; a base the whole state (a run or a
     * group's run takes at most OP_MAX bytes).  A base is due once the
     * deltas since the last one hold as many pages as it did (and at least
     * BI_FM_DELTA_MIN, so that a state of a few pages is not re-encoded
     * every few commits): the work is then at most twice the changes, and
     * a replay at most twice the base. */
    size_t runs = a->free.n + a->freed[0].n + a->freed[1].n + a->chain.n + a->pending_runs;
    size_t delta = a->ops.n + (a->freed[0].n + a->freed[1].n) * OP_MAX;
    int fits_page = FM_BODY + (runs + 2) * OP_MAX <= txn->db->psize;
    uint64_t budget = a->base_pages > BI_FM_DELTA_MIN ? a->base_pages : BI_FM_DELTA_MIN;
    int forced = !a->chain_len || a->chain_len + 1 >= BI_FM_CHAIN_MAX;
    int base = forced || fits_page || a->chain_pages + record_pages(txn->db, delta) > budget;
    rc = base ? persist_base(txn, a) : persist_delta(txn, a);
    if (rc) return rc;
    txn->meta.freemap = a->head;
    txn->meta.free_pages = a->free_pages + a->pending_pages;
    a->persisted = 1;
    return BIRCH_OK;
}

int bi_freemap_walk(birch_txn *txn, bi_fm_fn fn, void *ctx)
{
    bi_alloc a;
    memset(&a, 0, sizeof a);
    bi_fm_src s = {txn->db, txn->map, txn->meta.npages};
    int rc = bi_fm_load(&a, &s, &txn->meta, 1);
    for (size_t i = 0; rc == BIRCH_OK && i < a.free.n; i++)
        rc = fn(ctx, BI_FM_FREE, a.free.v[i].start, a.free.v[i].len, 0, 0);
    for (int k = 0; k < 2; k++)
        for (size_t g = a.q[k].head; rc == BIRCH_OK && g < a.q[k].n; g++)
            for (size_t i = 0; rc == BIRCH_OK && i < a.q[k].v[g].runs.n; i++)
                rc = fn(ctx, BI_FM_PENDING, a.q[k].v[g].runs.v[i].start, a.q[k].v[g].runs.v[i].len,
                        a.q[k].v[g].txnid, k);
    for (size_t i = 0; rc == BIRCH_OK && i < a.chain.n; i++)
        rc = fn(ctx, BI_FM_RECORD, a.chain.v[i].start, a.chain.v[i].len, 0, 0);
    bi_fs_clear(&a);
    return rc;
}

int bi_freemap_verify(birch_db *db, const bi_meta *m, uint8_t *map)
{
    bi_fm_src s = {db, map, m->npages};
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
