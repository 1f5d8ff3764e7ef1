/*
 * batch.c - write batches (birch.h, "Write batches"): a byte string of
 * puts, deletes and range deletes on named tables, built here, checked
 * whole before use, and applied in one nested transaction so that it
 * lands whole or not at all.  The encoding is docs/FORMAT.md's "Write
 * batches".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "birch.h"
#include "err.h"
#include "internal.h"
#include "varint.h"

/* ---- The encoding ------------------------------------------------------------ */

#define BATCH_MAGIC "BRBA"
#define BATCH_VERSION 1
#define BATCH_HDR 24 /* magic, version, flags, count, reserved, checksum */

enum { REC_TABLE = 0, REC_PUT = BIRCH_BATCH_PUT, REC_DEL = BIRCH_BATCH_DEL, REC_DEL_RANGE = BIRCH_BATCH_DEL_RANGE };

#define MAX_NAME 255                      /* no database names a table longer */
#define MAX_KEY (BIRCH_MAX_PAGE_SIZE / 4) /* no database holds a longer key */

static void put_u32(uint8_t *p, uint32_t x)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(x >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void put_u64(uint8_t *p, uint64_t x)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(x >> (8 * i));
}
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) x = x << 8 | p[i];
    return x;
}

/* The checksum of an encoding of n bytes: XXH3-64 of the records, seeded
 * with XXH3-64 of the header's first 16 bytes (all but the checksum). */
static uint64_t checksum(const uint8_t *p, size_t n)
{
    return XXH3_64bits_withSeed(p + BATCH_HDR, n - BATCH_HDR, XXH3_64bits(p, 16));
}

static uint8_t *put_bytes(uint8_t *p, birch_val v)
{
    p = bi_varint_write(p, v.size);
    if (v.size) memcpy(p, v.data, v.size);
    return p + v.size;
}

/* ---- Building ------------------------------------------------------------------ */

void birch_batch_init(birch_batch *b)
{
    if (b) memset(b, 0, sizeof *b);
}

void birch_batch_clear(birch_batch *b)
{
    if (!b) return;
    b->size_ = 0;
    b->count_ = 0;
    b->table_at_ = 0;
    b->table_len_ = 0;
}

void birch_batch_free(birch_batch *b)
{
    if (!b) return;
    free(b->data_);
    memset(b, 0, sizeof *b);
}

uint32_t birch_batch_count(const birch_batch *b) { return b ? b->count_ : 0; }

/* Room for n more bytes (and the header, for a first record); nothing
 * changes on failure. */
static int reserve(birch_batch *b, size_t n, const char *who)
{
    size_t used = b->size_ ? b->size_ : BATCH_HDR;
    if (n > SIZE_MAX / 2 - used) return bi_err(BIRCH_ENOMEM, "%s: a batch of more than SIZE_MAX / 2 bytes", who);
    if (used + n > b->cap_) {
        size_t cap = b->cap_ ? b->cap_ : 256;
        while (cap < used + n) cap *= 2;
        uint8_t *p = realloc(b->data_, cap);
        if (!p) return bi_err(BIRCH_ENOMEM, "%s: out of memory for a batch of %zu bytes", who, used + n);
        b->data_ = p;
        b->cap_ = cap;
    }
    b->size_ = used; /* the header's room, for a first record */
    return BIRCH_OK;
}

static int val_ok(birch_val v, const char *what, const char *who)
{
    if (!v.data && v.size) return bi_err(BIRCH_EINVAL, "%s: %s is NULL with a size of %zu", who, what, v.size);
    return BIRCH_OK;
}

/* The checks every change makes of its table and key. */
static int change_ok(const birch_batch *b, const char *table, birch_val key, int key_may_be_empty, const char *who)
{
    if (!b || !table) return bi_err(BIRCH_EINVAL, "%s: %s is NULL", who, !b ? "b" : "table");
    size_t n = strlen(table);
    if (n == 0 || n > MAX_NAME)
        return bi_err(BIRCH_EINVAL, "%s: a table name of %zu bytes (1..%d)", who, n, MAX_NAME);
    int rc = val_ok(key, "key", who);
    if (rc) return rc;
    if ((!key.size && !key_may_be_empty) || key.size > MAX_KEY)
        return bi_err(BIRCH_EKEYSIZE, "%s: a key of %zu bytes (1..%u)", who, key.size, (unsigned)MAX_KEY);
    return BIRCH_OK;
}

/* Where p lies in b's buffer (+1), or 0 when outside: the caller's bytes
 * may be the batch's own (a key birch_batch_each gave), which growing the
 * buffer moves. */
static size_t inside(const birch_batch *b, const void *p)
{
    const uint8_t *q = p;
    return b->data_ && q >= b->data_ && q < b->data_ + b->cap_ ? (size_t)(q - b->data_) + 1 : 0;
}

/* Appends a change: a table record first when table is not the current
 * one, then kind and its one or two byte strings. */
static int record(birch_batch *b, const char *table, int kind, birch_val x, birch_val y, int two, const char *who)
{
    size_t tn = strlen(table);
    size_t at_t = inside(b, table), at_x = inside(b, x.data), at_y = inside(b, y.data);
    int same = b->table_at_ && b->table_len_ == tn && memcmp(b->data_ + b->table_at_, table, tn) == 0;
    size_t need = (same ? 0 : 1 + bi_varint_len(tn) + tn) + 1 + bi_varint_len(x.size) + x.size;
    if (two) need += bi_varint_len(y.size) + y.size;
    if (b->count_ == UINT32_MAX) return bi_err(BIRCH_EINVAL, "%s: a batch holds at most %u changes", who, UINT32_MAX);
    int rc = reserve(b, need, who);
    if (rc) return rc;
    if (at_t) table = (const char *)b->data_ + at_t - 1;
    if (at_x) x.data = b->data_ + at_x - 1;
    if (at_y) y.data = b->data_ + at_y - 1;
    uint8_t *p = b->data_ + b->size_;
    if (!same) {
        *p++ = REC_TABLE;
        p = bi_varint_write(p, tn);
        b->table_at_ = (size_t)(p - b->data_);
        b->table_len_ = (uint32_t)tn;
        memcpy(p, table, tn);
        p += tn;
    }
    *p++ = (uint8_t)kind;
    p = put_bytes(p, x);
    if (two) p = put_bytes(p, y);
    b->size_ = (size_t)(p - b->data_);
    b->count_++;
    return BIRCH_OK;
}

int birch_batch_put(birch_batch *b, const char *table, birch_val key, birch_val val)
{
    int rc = change_ok(b, table, key, 0, "birch_batch_put");
    if (rc == BIRCH_OK) rc = val_ok(val, "val", "birch_batch_put");
    if (rc) return rc;
    if ((uint64_t)val.size > BIRCH_MAX_VALUE_SIZE)
        return bi_err(BIRCH_EVALSIZE, "birch_batch_put: a value of %zu bytes (at most %u)", val.size,
                      BIRCH_MAX_VALUE_SIZE);
    return record(b, table, REC_PUT, key, val, 1, "birch_batch_put");
}

int birch_batch_del(birch_batch *b, const char *table, birch_val key)
{
    int rc = change_ok(b, table, key, 0, "birch_batch_del");
    return rc ? rc : record(b, table, REC_DEL, key, key, 0, "birch_batch_del");
}

/* Whether [lo, hi) is a range (open bounds empty): lo does not sort after hi. */
static int range_ok(birch_val lo, birch_val hi)
{
    if (!lo.size || !hi.size) return 1;
    size_t n = lo.size < hi.size ? lo.size : hi.size;
    int c = memcmp(lo.data, hi.data, n);
    return c < 0 || (c == 0 && lo.size <= hi.size);
}

int birch_batch_del_range(birch_batch *b, const char *table, birch_val lo, birch_val hi)
{
    const char *who = "birch_batch_del_range";
    int rc = change_ok(b, table, lo, 1, who);
    if (rc == BIRCH_OK) rc = val_ok(hi, "hi", who);
    if (rc) return rc;
    if (hi.size > MAX_KEY) return bi_err(BIRCH_EKEYSIZE, "%s: a bound of %zu bytes (at most %u)", who, hi.size, (unsigned)MAX_KEY);
    if (!range_ok(lo, hi)) return bi_err_s(BIRCH_EINVAL, "birch_batch_del_range: lo sorts after hi");
    return record(b, table, REC_DEL_RANGE, lo, hi, 1, who);
}

int birch_batch_bytes(birch_batch *b, birch_val *out)
{
    if (!b || !out) return bi_err(BIRCH_EINVAL, "birch_batch_bytes: %s is NULL", !b ? "b" : "out");
    int rc = reserve(b, 0, "birch_batch_bytes"); /* an empty batch: the header alone */
    if (rc) return rc;
    uint8_t *p = b->data_;
    memcpy(p, BATCH_MAGIC, 4);
    p[4] = BATCH_VERSION, p[5] = 0, p[6] = p[7] = 0; /* version (u16), flags (u16) */
    put_u32(p + 8, b->count_);
    put_u32(p + 12, 0);
    put_u64(p + 16, checksum(p, b->size_));
    *out = (birch_val){p, b->size_};
    return BIRCH_OK;
}

/* ---- Reading ------------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p;
    size_t n, at;
    birch_val table; /* the current table (size 0: none yet) */
    int used;        /* a change followed the last table record */
    uint32_t index;  /* of the next change */
    const char *who;
} reader;

static int bad(const reader *r, const char *what)
{
    return bi_err(BIRCH_ECORRUPT, "%s: not a well-formed batch: %s (at byte %zu, change %u)", r->who, what, r->at,
                  r->index);
}

/* A length, in its shortest form (varint.h). */
static int get_varint(reader *r, uint64_t *x)
{
    const uint8_t *q = r->p + r->at;
    int rc = bi_varint_read(&q, r->p + r->n, x, 1);
    if (rc == BI_VARINT_SHORT) return bad(r, "a length runs past the end");
    if (rc == BI_VARINT_LONG) return bad(r, "a length of more than 10 bytes or above 2^64");
    if (rc == BI_VARINT_NOT_SHORTEST) return bad(r, "a length not in its shortest form");
    r->at = (size_t)(q - r->p);
    return BIRCH_OK;
}

/* A byte string of at most max bytes (at least min). */
static int get_bytes(reader *r, size_t min, size_t max, birch_val *v, const char *what)
{
    uint64_t n = 0; /* set on success; 0 keeps gcc from warning after inlining */
    int rc = get_varint(r, &n);
    if (rc) return rc;
    if (n < min || n > max) return bad(r, what);
    if (n > r->n - r->at) return bad(r, "a byte string runs past the end");
    *v = (birch_val){r->p + r->at, (size_t)n};
    r->at += (size_t)n;
    return BIRCH_OK;
}

/* The next change into *op: 1, or 0 at the end, or an error. */
static int next(reader *r, birch_batch_op *op)
{
    for (;;) {
        /* The encoding is canonical (one batch of changes, one byte
         * string): a table record names another table than the current
         * one, and a change follows it. */
        if (r->at == r->n) return r->table.size && !r->used ? bad(r, "a table record with no change after it") : 0;
        uint8_t kind = r->p[r->at++];
        int rc;
        if (kind == REC_TABLE) {
            birch_val prev = r->table;
            if (prev.size && !r->used) return bad(r, "a table record with no change after it");
            if ((rc = get_bytes(r, 1, MAX_NAME, &r->table, "a table name of 0 or more than 255 bytes"))) return rc;
            if (memchr(r->table.data, 0, r->table.size)) return bad(r, "a table name holding a NUL");
            if (prev.size == r->table.size && memcmp(prev.data, r->table.data, prev.size) == 0)
                return bad(r, "a table record naming the current table");
            r->used = 0;
            continue;
        }
        if (kind != REC_PUT && kind != REC_DEL && kind != REC_DEL_RANGE) return bad(r, "an unknown kind of record");
        if (!r->table.size) return bad(r, "a change before any table");
        op->kind = kind;
        op->table = r->table;
        op->val = (birch_val){NULL, 0};
        if ((rc = get_bytes(r, kind != REC_DEL_RANGE, MAX_KEY, &op->key, "a key of 0 or more than 16,384 bytes")))
            return rc;
        if (kind == REC_PUT && (rc = get_bytes(r, 0, BIRCH_MAX_VALUE_SIZE, &op->val, "a value of more than 2^32 - 1 bytes")))
            return rc;
        if (kind == REC_DEL_RANGE) {
            if ((rc = get_bytes(r, 0, MAX_KEY, &op->val, "a bound of more than 16,384 bytes"))) return rc;
            if (!range_ok(op->key, op->val)) return bad(r, "a range whose lo sorts after its hi");
        }
        r->used = 1;
        r->index++;
        return 1;
    }
}

/* Opens batch for reading after checking all of it: header, checksum,
 * every record, and the count. */
static int open_batch(birch_val batch, reader *r, const char *who)
{
    memset(r, 0, sizeof *r);
    r->who = who;
    if (!batch.data && batch.size) return bi_err(BIRCH_EINVAL, "%s: batch is NULL with a size of %zu", who, batch.size);
    const uint8_t *p = batch.data;
    if (batch.size < BATCH_HDR || memcmp(p, BATCH_MAGIC, 4) != 0)
        return bi_err(BIRCH_ECORRUPT, "%s: not a batch (%zu bytes, no \"" BATCH_MAGIC "\" header)", who, batch.size);
    /* The checksum first (every version keeps this header and checksum):
     * a damaged version byte is damage, not a newer batch. */
    if (get_u64(p + 16) != checksum(p, batch.size))
        return bi_err(BIRCH_ECORRUPT, "%s: the batch's checksum does not match its bytes", who);
    unsigned version = (unsigned)p[4] | (unsigned)p[5] << 8;
    if (version != BATCH_VERSION)
        return bi_err(BIRCH_EVERSION, "%s: a batch of version %u (this birch reads version %d)", who, version,
                      BATCH_VERSION);
    if (p[6] || p[7] || get_u32(p + 12))
        return bi_err(BIRCH_ECORRUPT, "%s: a batch with flags or reserved bits set", who);
    *r = (reader){p, batch.size, BATCH_HDR, {NULL, 0}, 0, 0, who};
    birch_batch_op op;
    int rc;
    while ((rc = next(r, &op)) == 1) {
    }
    if (rc < 0) return rc;
    if (r->index != get_u32(p + 8))
        return bi_err(BIRCH_ECORRUPT, "%s: the batch says %u changes and holds %u", who, get_u32(p + 8), r->index);
    *r = (reader){p, batch.size, BATCH_HDR, {NULL, 0}, 0, 0, who};
    return BIRCH_OK;
}

int birch_batch_each(birch_val batch, int (*fn)(const birch_batch_op *op, void *ctx), void *ctx)
{
    if (!fn) return bi_err_s(BIRCH_EINVAL, "birch_batch_each: fn is NULL");
    reader r;
    int rc = open_batch(batch, &r, "birch_batch_each");
    birch_batch_op op;
    while (rc == BIRCH_OK && next(&r, &op) == 1) rc = fn(&op, ctx);
    return rc;
}

/* ---- Applying ------------------------------------------------------------------ */

/* The table the changes go to: its name in the batch, its handle (NULL:
 * missing, for deletes) and whether it is a multimap table. */
typedef struct target {
    birch_val name;
    birch_table *t;
    int multi;
} target;

/* Opens the table op names into *g (creating it for a put). */
static int open_target(birch_txn *txn, const birch_batch_op *op, target *g)
{
    char name[MAX_NAME + 1];
    memcpy(name, op->table.data, op->table.size);
    name[op->table.size] = 0;
    g->name = op->table;
    g->t = NULL;
    g->multi = 0;
    int rc = birch_table_open(txn, name, op->kind == BIRCH_BATCH_PUT ? BIRCH_CREATE : 0, &g->t);
    if (rc == BIRCH_NOTFOUND) {
        g->t = NULL; /* deletes from a missing table change nothing */
        return BIRCH_OK;
    }
    unsigned flags = 0;
    if (rc == BIRCH_OK) rc = birch_table_flags(txn, g->t, &flags);
    g->multi = (flags & BIRCH_MULTIMAP) != 0;
    return rc;
}

/* One change, in txn (the nested transaction of the apply).  A delete of
 * what this database cannot hold (a name or a key longer than its limits)
 * finds nothing, as for a missing one: a batch recorded with larger pages
 * replays here as far as its deletes go. */
static int apply_one(birch_txn *txn, birch_db *db, const birch_batch_op *op, target *g)
{
    int rc, del = op->kind != BIRCH_BATCH_PUT;
    if (del && op->table.size > birch_max_name_size(db)) return BIRCH_OK;
    if (op->kind == BIRCH_BATCH_DEL && op->key.size > birch_max_key_size(db)) return BIRCH_OK;
    int other = g->name.size != op->table.size || memcmp(g->name.data, op->table.data, op->table.size) != 0;
    if ((other || (!g->t && !del)) && (rc = open_target(txn, op, g))) return rc; /* a put creates what a delete found missing */
    if (!g->t) return BIRCH_OK; /* a delete from a missing table */
    if (g->multi) /* put and del refuse one; del_range would take every value of its keys */
        return bi_err_s(BIRCH_ESCHEMA, "a multimap table (change it with birch_multi_*)");
    switch (op->kind) {
    case BIRCH_BATCH_PUT: return birch_put(txn, g->t, op->key, op->val, 0);
    case BIRCH_BATCH_DEL:
        rc = birch_del(txn, g->t, op->key);
        return rc == BIRCH_NOTFOUND ? BIRCH_OK : rc;
    default: return birch_del_range(txn, g->t, op->key, op->val, NULL);
    }
}

static int apply_copy(birch_txn *txn, birch_txn *use, birch_val batch);

/* The batch's bytes may be a value read in txn, on a page the changes
 * are about to rewrite: they are checked and applied from a copy. */
int birch_batch_apply(birch_txn *txn, birch_val batch)
{
    if (!txn) return bi_err_s(BIRCH_EINVAL, "birch_batch_apply: txn is NULL");
    birch_txn *use = txn;
    int rc = bi_txn_use(&use);
    if (rc == BIRCH_OK) rc = bi_txn_writable(use); /* a read transaction: BIRCH_EREADONLY */
    if (rc) return rc;
    if (!batch.data && batch.size)
        return bi_err(BIRCH_EINVAL, "birch_batch_apply: batch is NULL with a size of %zu", batch.size);
    uint8_t *copy = malloc(batch.size ? batch.size : 1);
    if (!copy) return bi_err(BIRCH_ENOMEM, "birch_batch_apply: out of memory for a copy of %zu bytes", batch.size);
    if (batch.size) memcpy(copy, batch.data, batch.size);
    rc = apply_copy(txn, use, (birch_val){copy, batch.size});
    free(copy);
    return rc;
}

static int apply_copy(birch_txn *txn, birch_txn *use, birch_val batch)
{
    reader r;
    int rc = open_batch(batch, &r, "birch_batch_apply");
    if (rc) return rc;
    birch_txn *child;
    if ((rc = birch_txn_begin_nested(txn, &child))) return rc;
    birch_db *db = use->db;
    target g = {{NULL, 0}, NULL, 0};
    birch_batch_op op;
    while (next(&r, &op) == 1) {
        if ((rc = apply_one(child, db, &op, &g)) == BIRCH_OK) continue;
        /* Said before the abort, whose work could say something else. */
        static const char *const kinds[] = {"", "put", "delete", "range delete"};
        char why[256], name[MAX_NAME + 1];
        snprintf(why, sizeof why, "%s", birch_errmsg());
        for (size_t i = 0; i <= op.table.size; i++) { /* a name may hold any byte but NUL: '?' for the unprintable */
            uint8_t c = i < op.table.size ? ((const uint8_t *)op.table.data)[i] : 0;
            name[i] = (char)(i == op.table.size ? 0 : c >= 0x20 && c < 0x7f ? c : '?');
        }
        birch_txn_abort(child);
        return bi_err(rc, "birch_batch_apply: change %u (a %s in table '%s') failed, nothing was applied: %s",
                      r.index - 1, kinds[op.kind], name, why);
    }
    return birch_txn_commit(child);
}
