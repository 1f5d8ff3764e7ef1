/*
 * stream.c - range scans over typed tables: bounds, prefixes, direction,
 * filter, skip and limit, resumable by key; iterator, callback and collect
 * forms.
 *
 * Every constraint (lower and upper bound, prefix, resume key) becomes one
 * encoded lower and one encoded upper bound, each inclusive or exclusive.
 * A prefix P covers [P, successor(P)), where the successor drops trailing
 * 0xFF bytes and increments the last byte (none: unbounded above).  The
 * stream positions a cursor at one end and stops at the other, so no key
 * outside the range is ever decoded or verified.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "typed_internal.h"

/* An encoded bound; absent when len is SIZE_MAX. */
typedef struct bound {
    uint8_t *k;
    size_t len;
    int excl;
} bound;

struct birch_stream {
    const birch_typed *t;
    birch_db *db;         /* counts the stream as open (birch_close) */
    birch_txn *txn;       /* the caller's, or own (tokens) */
    int own;
    uint64_t gen;         /* the caller's transaction's snapshot generation at open */
    birch_cursor *cur;
    bound lo, hi;
    int reverse, started, done;
    birch_filter_fn filter;
    void *filter_ctx;
    uint64_t skip, limit, returned;
    size_t lastlen;       /* SIZE_MAX: nothing returned yet */
    uint8_t *last;        /* the last key returned (resume point) */
    void *ckey;           /* the decoded C key */
    uint8_t *scratch;     /* decode's room for strings inside tuples */
    size_t scratch_cap;
    uint8_t *buf;         /* one allocation behind the buffers above */
};

static int cmp_key(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    return bi_key_cmp(a, an, b, bn);
}

/* Tightens lower bound b to (k, excl) if that is higher. */
static void raise_lo(bound *b, const uint8_t *k, size_t len, int excl)
{
    int c = b->len == SIZE_MAX ? -1 : cmp_key(b->k, b->len, k, len);
    if (c < 0 || (c == 0 && excl)) {
        memcpy(b->k, k, len);
        b->len = len;
        b->excl = excl;
    }
}

static void lower_hi(bound *b, const uint8_t *k, size_t len, int excl)
{
    int c = b->len == SIZE_MAX ? 1 : cmp_key(b->k, b->len, k, len);
    if (c > 0 || (c == 0 && excl)) {
        memcpy(b->k, k, len);
        b->len = len;
        b->excl = excl;
    }
}

static int add_bound(birch_stream *s, const void *ckey, int mode, int upper)
{
    if (mode == BIRCH_UNBOUNDED) return BIRCH_OK;
    if (mode != BIRCH_INCLUSIVE && mode != BIRCH_EXCLUSIVE)
        return bi_err(BIRCH_EINVAL, "birch_stream_open: bound mode %d is not UNBOUNDED, INCLUSIVE or EXCLUSIVE", mode);
    if (!ckey) return bi_err(BIRCH_EINVAL, "birch_stream_open: a bound is set but its key is NULL");
    uint8_t kb[BI_KEY_BUF];
    birch_val k;
    int rc = bi_typed_key(s->t, ckey, kb, sizeof kb, &k);
    if (rc) return rc;
    if (upper) lower_hi(&s->hi, k.data, k.size, mode == BIRCH_EXCLUSIVE);
    else raise_lo(&s->lo, k.data, k.size, mode == BIRCH_EXCLUSIVE);
    return BIRCH_OK;
}

static int add_prefix(birch_stream *s, const birch_stream_opts *o)
{
    const birch_key_format *f = s->t->key;
    uint8_t p[BI_KEY_BUF];
    size_t len = 0;
    if (f->kind == BIRCH_KEY_TUPLE && o->prefix_len > f->n)
        return bi_err(BIRCH_EINVAL, "birch_stream_open: prefix_len %u is beyond the key tuple's %u elements",
                      o->prefix_len, f->n);
    unsigned k = f->kind == BIRCH_KEY_TUPLE ? o->prefix_len : 1;
    int rc = f->kind == BIRCH_KEY_TUPLE ? birch_key_encode_prefix(f, o->prefix, k, p, sizeof p, &len)
                                        : birch_key_encode(f, o->prefix, p, sizeof p, &len);
    if (rc) return bi_key_refused(f, rc, len, sizeof p, "the stream's prefix");
    if (len == 0) return BIRCH_OK; /* the empty prefix: every key (and no key is empty) */
    raise_lo(&s->lo, p, len, 0);
    while (len && p[len - 1] == 0xFF) len--; /* the successor of the prefix */
    if (len) {
        p[len - 1]++;
        lower_hi(&s->hi, p, len, 1);
    }
    return BIRCH_OK;
}

static int set_range(birch_stream *s, const birch_stream_opts *o)
{
    int rc = add_bound(s, o->lo, o->lo_bound, 0);
    if (rc == BIRCH_OK) rc = add_bound(s, o->hi, o->hi_bound, 1);
    if (rc == BIRCH_OK && o->prefix) rc = add_prefix(s, o);
    if (rc || !o->resume) return rc;
    if (o->resume_len == 0 || o->resume_len > BI_KEY_BUF)
        return bi_err(BIRCH_EINVAL, "birch_stream_open: a resume key of %zu bytes (1..%u)", o->resume_len,
                      (unsigned)BI_KEY_BUF);
    if (o->reverse) lower_hi(&s->hi, o->resume, o->resume_len, 1);
    else raise_lo(&s->lo, o->resume, o->resume_len, 1);
    return BIRCH_OK;
}

static int alloc_stream(const birch_typed *t, birch_stream **out)
{
    size_t keymax = t->table->db->max_key;
    birch_stream *s = calloc(1, sizeof *s);
    size_t csize = (t->key->c_size + 7) & ~(size_t)7;
    uint8_t *buf = malloc(3 * BI_KEY_BUF + csize + keymax + 8);
    if (!s || !buf) {
        free(s);
        free(buf);
        return bi_err(BIRCH_ENOMEM, "out of memory for a stream");
    }
    s->buf = buf;
    s->lo = (bound){buf, SIZE_MAX, 0};
    s->hi = (bound){buf + BI_KEY_BUF, SIZE_MAX, 0};
    s->last = buf + 2 * BI_KEY_BUF;
    s->ckey = buf + 3 * BI_KEY_BUF;
    s->scratch = buf + 3 * BI_KEY_BUF + csize;
    s->scratch_cap = keymax + 8;
    s->lastlen = SIZE_MAX;
    s->t = t;
    *out = s;
    return BIRCH_OK;
}

/* A stream belongs to its caller: closing it frees it, ends the snapshot
 * it took for itself (a no-op once that ended), and never touches the
 * caller's transaction, which may have ended. */
void birch_stream_close(birch_stream *s)
{
    if (!s) return;
    birch_cursor_close(s->cur);
    if (s->own) birch_txn_abort(s->txn);
    if (s->db) atomic_fetch_sub(&s->db->open_streams, 1);
    free(s->buf);
    free(s);
}

/* The stream's own transaction is counted as a stream, not a transaction. */
static void own_txn(birch_stream *s)
{
    birch_txn *real = s->txn;
    if (bi_txn_use(&real)) return;
    real->internal = 1;
    atomic_fetch_sub(&s->db->open_txns, 1);
}

int birch_stream_open(birch_txn *txn, const birch_typed *t, const birch_stream_opts *o, birch_stream **out)
{
    if (!out) return bi_err(BIRCH_EINVAL, "birch_stream_open: s is NULL");
    *out = NULL;
    if (!t || !t->table || !o)
        return bi_err(BIRCH_EINVAL, "birch_stream_open: %s", !t ? "t is NULL" : !t->table ? "t is not open" : "o is NULL");
    int rc = bi_txn_db(txn, t->table->db, "birch_stream_open");
    if (rc) return rc;
    birch_stream *s = NULL;
    rc = alloc_stream(t, &s);
    if (rc) return rc;
    s->reverse = o->reverse != 0;
    s->filter = o->filter;
    s->filter_ctx = o->filter_ctx;
    s->skip = o->skip;
    s->limit = o->limit;
    rc = set_range(s, o);
    if (rc == BIRCH_OK) rc = bi_auto_begin(t->table->db, txn, BIRCH_TXN_READ, &s->txn);
    if (rc == BIRCH_OK) {
        s->own = s->txn != txn;
        s->db = t->table->db;
        atomic_fetch_add(&s->db->open_streams, 1);
        if (s->own) own_txn(s);
        rc = birch_cursor_open(s->txn, t->table, &s->cur);
    }
    birch_txn *real = s->txn;
    if (rc == BIRCH_OK && bi_txn_use(&real) == BIRCH_OK) s->gen = real->snap_gen; /* decodes: just used */
    if (rc) {
        birch_stream_close(s);
        return rc;
    }
    *out = s;
    return BIRCH_OK;
}

/* Whether key lies beyond the end the stream moves towards. */
static int past_end(const birch_stream *s, birch_val k)
{
    const bound *b = s->reverse ? &s->lo : &s->hi;
    if (b->len == SIZE_MAX) return 0;
    int c = cmp_key(k.data, k.size, b->k, b->len);
    if (s->reverse) return c < 0 || (c == 0 && b->excl);
    return c > 0 || (c == 0 && b->excl);
}

/* Places the cursor on the first record of the range in the stream's
 * direction, or reports the range empty (NOTFOUND). */
static int position(birch_stream *s)
{
    const bound *b = s->reverse ? &s->hi : &s->lo;
    if (b->len == SIZE_MAX) return s->reverse ? birch_cursor_last(s->cur) : birch_cursor_first(s->cur);
    /* An empty bound key (an empty string or bytes key): every key is
     * above it, and the cursor cannot seek to it. */
    if (b->len == 0) return s->reverse ? bi_err_s(BIRCH_NOTFOUND, "the range is empty") : birch_cursor_first(s->cur);
    /* A bound longer than any key (a long string bound or prefix at small
     * pages) is sought by its first max_key bytes T: no key of at most
     * max_key bytes lies strictly between T and the bound, so the step
     * below that skips T when it sorts before the bound is enough. */
    size_t max = s->t->table->db->max_key, len = b->len < max ? b->len : max;
    bi_errmark mark = bi_err_mark();
    int rc = birch_cursor_seek(s->cur, (birch_val){b->k, len});
    /* Reverse, no key at or after the bound: the range starts at the last
     * key, a miss the stream recovers from (err.h). */
    bi_err_end(mark, s->reverse && rc == BIRCH_NOTFOUND);
    if (s->reverse) {
        if (rc == BIRCH_NOTFOUND) return birch_cursor_last(s->cur);
        if (rc) return rc;
        birch_val k;
        rc = birch_cursor_get(s->cur, &k, NULL);
        if (rc) return rc;
        int c = cmp_key(k.data, k.size, b->k, b->len);
        return c > 0 || (c == 0 && b->excl) ? birch_cursor_prev(s->cur) : BIRCH_OK;
    }
    if (rc || (!b->excl && len == b->len)) return rc;
    birch_val k;
    rc = birch_cursor_get(s->cur, &k, NULL);
    int c = rc == BIRCH_OK ? cmp_key(k.data, k.size, b->k, b->len) : 1;
    if (c < 0 || (c == 0 && b->excl)) rc = birch_cursor_next(s->cur);
    return rc;
}

/* Decodes and verifies the record under the cursor into item. */
static int load_item(birch_stream *s, birch_val k, birch_val v, birch_item *item)
{
    const birch_typed *t = s->t;
    int rc = birch_key_decode(t->key, k.data, k.size, s->ckey, s->scratch, s->scratch_cap);
    if (rc) return bi_err(BIRCH_EFORMAT, "table '%s': a stored key its key format cannot decode", t->table->name);
    char why[200];
    why[0] = 0;
    rc = t->value->verify(t->value, v.data, v.size, why, sizeof why);
    if (rc) return bi_err(BIRCH_EFORMAT, "table '%s': a stored value fails its format's check: %s", t->table->name, why);
    item->key = s->ckey;
    item->key_bytes = k;
    item->bytes = v;
    item->view = t->value->view ? t->value->view(t->value, v.data, v.size) : v.data;
    return BIRCH_OK;
}

/* One cursor step in the stream's direction (the first step positions). */
static int step(birch_stream *s)
{
    if (!s->started) {
        s->started = 1;
        return position(s);
    }
    return s->reverse ? birch_cursor_prev(s->cur) : birch_cursor_next(s->cur);
}

/* BIRCH_ETXN once the caller's transaction was reset since the stream
 * opened (txn.c, birch_txn_reset), renewed or not: the stream's position,
 * skip and limit belong to the snapshot that went, and its cursor,
 * unpositioned by the renew, would start over.  An ended transaction is
 * left to the calls that follow, which say so. */
static int same_snapshot(const birch_stream *s)
{
    birch_txn *txn = s->txn;
    if (s->own || bi_txn_decode(&txn) != BIRCH_OK || txn->snap_gen == s->gen) return BIRCH_OK;
    return bi_err_s(BIRCH_ETXN, "the stream's transaction was reset since the stream opened (birch_txn_reset): "
                                "open a new stream (birch_stream_resume_key says where this one stopped)");
}

/* A stream that stopped (its end, an error) answers BIRCH_ETXN once its
 * transaction has ended, like a cursor, rather than BIRCH_NOTFOUND, which
 * would read as the end of the range. */
static int stopped(birch_stream *s)
{
    birch_txn *txn = s->txn;
    int rc = bi_txn_use(&txn);
    return rc ? rc : bi_err_s(BIRCH_NOTFOUND, "the end of the stream");
}

int birch_stream_next(birch_stream *s, birch_item *item)
{
    if (!s || !item) return bi_err(BIRCH_EINVAL, "birch_stream_next: %s is NULL", s ? "item" : "s");
    int rc0 = same_snapshot(s);
    if (rc0) return rc0;
    if (s->done) return stopped(s);
    while (!s->done) {
        if (s->limit && s->returned >= s->limit) break;
        int rc = step(s);
        birch_val k, v;
        if (rc == BIRCH_OK) rc = birch_cursor_get(s->cur, &k, &v);
        if (rc == BIRCH_OK && past_end(s, k)) rc = bi_err_s(BIRCH_NOTFOUND, "the end of the range");
        if (rc == BIRCH_OK) rc = load_item(s, k, v, item);
        if (rc) {
            s->done = 1;
            return rc;
        }
        if (s->filter && !s->filter(item, s->filter_ctx)) continue;
        if (s->skip) {
            s->skip--;
            continue;
        }
        s->returned++;
        memcpy(s->last, k.data, k.size);
        s->lastlen = k.size;
        return BIRCH_OK;
    }
    s->done = 1;
    return stopped(s);
}

int birch_stream_resume_key(const birch_stream *s, void *buf, size_t cap, size_t *len)
{
    if (!s || !len || (!buf && cap))
        return bi_err(BIRCH_EINVAL, "birch_stream_resume_key: %s", !s ? "s is NULL" : !len ? "len is NULL" : "buf is NULL");
    if (s->lastlen == SIZE_MAX) return bi_err_s(BIRCH_NOTFOUND, "the stream has returned no record yet");
    *len = s->lastlen;
    size_t n = s->lastlen < cap ? s->lastlen : cap;
    if (n) memcpy(buf, s->last, n); /* buf may be NULL when cap is 0: no memcpy(NULL, ...) */
    if (s->lastlen <= cap) return BIRCH_OK;
    return bi_err(BIRCH_EKEYSIZE, "birch_stream_resume_key: the key has %zu bytes, buf %zu", s->lastlen, cap);
}

/* birch_stream_next for the loops below, whose end (BIRCH_NOTFOUND) is
 * their success: it leaves birch_errmsg() alone (err.h).  Only the step
 * is marked, not the caller's callback between steps. */
static int next_or_end(birch_stream *s, birch_item *item)
{
    bi_errmark mark = bi_err_mark();
    int rc = birch_stream_next(s, item);
    bi_err_end(mark, rc == BIRCH_NOTFOUND);
    return rc;
}

int birch_stream_each(birch_txn *txn, const birch_typed *t, const birch_stream_opts *o,
                      int (*fn)(const birch_item *item, void *ctx), void *ctx)
{
    if (!fn) return bi_err(BIRCH_EINVAL, "birch_stream_each: fn is NULL");
    birch_stream *s;
    int rc = birch_stream_open(txn, t, o, &s);
    if (rc) return rc;
    birch_item item;
    while ((rc = next_or_end(s, &item)) == BIRCH_OK) {
        rc = fn(&item, ctx);
        if (rc) break;
    }
    birch_stream_close(s);
    return rc == BIRCH_NOTFOUND ? BIRCH_OK : rc;
}

/* Whether a C key of format f is plain data (no pointer into the map or
 * the stream), so that a copy outlives the stream. */
static int fixed_width(const birch_key_format *f)
{
    if (f->kind == BIRCH_KEY_STRING || f->kind == BIRCH_KEY_CSTR || f->kind == BIRCH_KEY_BYTES) return 0;
    for (unsigned i = 0; f->kind == BIRCH_KEY_TUPLE && i < f->n; i++)
        if (!fixed_width(f->elem[i])) return 0;
    return 1;
}

int birch_stream_collect(birch_txn *txn, const birch_typed *t, const birch_stream_opts *o, void *keys,
                         void *values, size_t cap, size_t *n)
{
    if (!n || !t || !t->key || !t->value)
        return bi_err(BIRCH_EINVAL, "birch_stream_collect: %s", !n ? "n is NULL" : !t ? "t is NULL" : "t is not open");
    *n = 0;
    int pod = t->value->size == birch_pod_size;
    /* Copies that would point into memory gone when collect returns. */
    if (keys && !fixed_width(t->key))
        return bi_err(BIRCH_EINVAL, "birch_stream_collect: keys of this format hold pointers; pass keys NULL");
    if (values && !pod && !txn)
        return bi_err(BIRCH_EINVAL, "birch_stream_collect: values of this format are views into the map: pass a txn");
    birch_stream_opts lim = o ? *o : (birch_stream_opts){0};
    if (!lim.limit || lim.limit > cap) lim.limit = cap;
    if (!cap) return BIRCH_OK;
    birch_stream *s;
    int rc = birch_stream_open(txn, t, &lim, &s);
    if (rc) return rc;
    birch_item item;
    while ((rc = next_or_end(s, &item)) == BIRCH_OK) {
        if (keys) memcpy((uint8_t *)keys + *n * t->key->c_size, item.key, t->key->c_size);
        if (values && pod) memcpy((uint8_t *)values + *n * t->value->c_size, item.view, t->value->c_size);
        else if (values) ((birch_val *)values)[*n] = item.bytes;
        (*n)++;
    }
    birch_stream_close(s);
    return rc == BIRCH_NOTFOUND ? BIRCH_OK : rc;
}
