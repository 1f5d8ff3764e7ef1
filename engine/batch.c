/*
 * batch.c - write batches (birch.h, "Write batches"): the encoding of
 * docs/FORMAT.md 21, written by the birch_batch_* builders and by the
 * change feed's capture (feed.c), read by birch_batch_each and by
 * birch_batch_apply (api/apply.c).  A batch records every kind of change a
 * write transaction can make, each on the current table (set by a table
 * record) or, for savepoints, on the database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "batch.h"
#include "err.h"
#include "varint.h"

#define BATCH_MAGIC "BRBA"
#define BATCH_VERSION 1

/* ---- The shape of each kind of record ------------------------------------------ */

/* The byte strings a record may hold, by their bounds. */
enum field {
    F_NONE,   /* absent */
    F_KEY,    /* a key: 1..16,384 bytes */
    F_BOUND,  /* a range's bound: 0..16,384 (empty: open) */
    F_VALUE,  /* a value: 0..2^32 - 1 */
    F_MVAL,   /* a multimap value: 0..16,384 (a pair is a key) */
    F_NAME,   /* a table's name: 1..255, no NUL */
    F_SCHEMA, /* a schema blob: 0..BIRCH_MAX_SCHEMA_SIZE */
    F_SPNAME  /* a savepoint's name: 1..BIRCH_MAX_SAVEPOINT_NAME, no NUL */
};
enum number { N_NONE, N_FLAGS /* 0, or 1 for a multimap table */, N_U64 };

typedef struct shape {
    uint8_t scoped; /* on the current table */
    uint8_t key, val, num;
    uint8_t range;  /* key and val are a range's bounds: lo <= hi */
} shape;

static const shape shapes[BI_BATCH_KINDS] = {
    [BIRCH_BATCH_PUT] = {1, F_KEY, F_VALUE, N_NONE, 0},
    [BIRCH_BATCH_DEL] = {1, F_KEY, F_NONE, N_NONE, 0},
    [BIRCH_BATCH_DEL_RANGE] = {1, F_BOUND, F_BOUND, N_NONE, 1},
    [BIRCH_BATCH_CREATE] = {1, F_NONE, F_NONE, N_FLAGS, 0},
    [BIRCH_BATCH_DROP] = {1, F_NONE, F_NONE, N_NONE, 0},
    [BIRCH_BATCH_RENAME] = {1, F_NONE, F_NAME, N_NONE, 0},
    [BIRCH_BATCH_SET_SCHEMA] = {1, F_NONE, F_SCHEMA, N_NONE, 0},
    [BIRCH_BATCH_SEQUENCE_SET] = {1, F_NONE, F_NONE, N_U64, 0},
    [BIRCH_BATCH_MULTI_PUT] = {1, F_KEY, F_MVAL, N_NONE, 0},
    [BIRCH_BATCH_MULTI_DEL] = {1, F_KEY, F_MVAL, N_NONE, 0},
    [BIRCH_BATCH_MULTI_DEL_ALL] = {1, F_KEY, F_NONE, N_NONE, 0},
    [BIRCH_BATCH_MULTI_DEL_RANGE] = {1, F_BOUND, F_BOUND, N_NONE, 1},
    [BIRCH_BATCH_SAVEPOINT_CREATE] = {0, F_SPNAME, F_NONE, N_NONE, 0},
    [BIRCH_BATCH_SAVEPOINT_RESTORE] = {0, F_SPNAME, F_NONE, N_NONE, 0},
    [BIRCH_BATCH_SAVEPOINT_DROP] = {0, F_SPNAME, F_NONE, N_NONE, 0},
};

static int known(int kind)
{
    return kind > 0 && kind < BI_BATCH_KINDS;
}

int bi_batch_scoped(int kind)
{
    return known(kind) && shapes[kind].scoped;
}

/* ---- Writing ------------------------------------------------------------------- */

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
    return XXH3_64bits_withSeed(p + BI_BATCH_HDR, n - BI_BATCH_HDR, XXH3_64bits(p, 16));
}

/* Room for n more bytes (and the header, for a first record); nothing
 * changes on failure. */
static int reserve(birch_batch *b, size_t n, const char *who)
{
    size_t used = b->size_ ? b->size_ : BI_BATCH_HDR;
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

/* Where p lies in b's buffer (+1), or 0 when outside: the caller's bytes
 * may be the batch's own (a key birch_batch_each gave), which growing the
 * buffer moves. */
static size_t inside(const birch_batch *b, const void *p)
{
    const uint8_t *q = p;
    return b->data_ && q >= b->data_ && q < b->data_ + b->cap_ ? (size_t)(q - b->data_) + 1 : 0;
}

static const void *moved(const birch_batch *b, size_t at, const void *p)
{
    return at ? b->data_ + at - 1 : p;
}

static size_t field_len(int f, birch_val v)
{
    return f == F_NONE ? 0 : bi_varint_len(v.size) + v.size;
}

/* Writes v as a field: its length, then its bytes (left as they are when
 * v.data is NULL: the caller fills them). */
static uint8_t *put_field(uint8_t *p, birch_val v)
{
    p = bi_varint_write(p, v.size);
    if (v.size && v.data) memcpy(p, v.data, v.size);
    return p + v.size;
}

int bi_batch_append(birch_batch *b, const bi_change *c, size_t *val_at, const char *who)
{
    const shape *s = &shapes[c->kind];
    size_t tn = s->scoped ? c->table_len : 0;
    int same = !s->scoped || (b->table_at_ && b->table_len_ == tn && memcmp(b->data_ + b->table_at_, c->table, tn) == 0);
    uint64_t num = s->num == N_FLAGS ? (c->num & BIRCH_MULTIMAP) != 0 : c->num;
    size_t need = (same ? 0 : 1 + bi_varint_len(tn) + tn) + 1 + field_len(s->key, c->key) + field_len(s->val, c->val) +
                  (s->num ? bi_varint_len(num) : 0);
    if (b->count_ == UINT32_MAX) return bi_err(BIRCH_EINVAL, "%s: a batch holds at most %u changes", who, UINT32_MAX);
    size_t at_t = inside(b, c->table), at_k = inside(b, c->key.data), at_v = inside(b, c->val.data);
    int rc = reserve(b, need, who);
    if (rc) return rc;
    birch_val key = {moved(b, at_k, c->key.data), c->key.size}, val = {moved(b, at_v, c->val.data), c->val.size};
    uint8_t *p = b->data_ + b->size_;
    if (!same) {
        const void *table = moved(b, at_t, c->table);
        *p++ = BI_BATCH_TABLE;
        p = bi_varint_write(p, tn);
        b->table_at_ = (size_t)(p - b->data_);
        b->table_len_ = (uint32_t)tn;
        memmove(p, table, tn);
        p += tn;
    }
    *p++ = (uint8_t)c->kind;
    if (s->key) p = put_field(p, key);
    if (s->val) {
        p = bi_varint_write(p, val.size);
        if (val_at) *val_at = (size_t)(p - b->data_);
        if (val.size && val.data) memmove(p, val.data, val.size);
        p += val.size;
    }
    if (s->num) p = bi_varint_write(p, num);
    b->size_ = (size_t)(p - b->data_);
    b->count_++;
    return BIRCH_OK;
}

bi_batch_mark bi_batch_mark_of(const birch_batch *b)
{
    return (bi_batch_mark){b->size_, b->table_at_, b->count_, b->table_len_};
}

void bi_batch_cut(birch_batch *b, bi_batch_mark m)
{
    b->size_ = m.size;
    b->table_at_ = m.table_at;
    b->count_ = m.count;
    b->table_len_ = m.table_len;
}

int bi_batch_finish(birch_batch *b, birch_val *out, const char *who)
{
    int rc = reserve(b, 0, who); /* an empty batch: the header alone */
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

/* ---- Building: the public calls ------------------------------------------------ */

void birch_batch_init(birch_batch *b)
{
    if (b) memset(b, 0, sizeof *b);
}

void birch_batch_clear(birch_batch *b)
{
    if (b) bi_batch_cut(b, (bi_batch_mark){0, 0, 0, 0});
}

void birch_batch_free(birch_batch *b)
{
    if (!b) return;
    free(b->data_);
    memset(b, 0, sizeof *b);
}

uint32_t birch_batch_count(const birch_batch *b) { return b ? b->count_ : 0; }

int birch_batch_bytes(birch_batch *b, birch_val *out)
{
    if (!b || !out) return bi_err(BIRCH_EINVAL, "birch_batch_bytes: %s is NULL", !b ? "b" : "out");
    return bi_batch_finish(b, out, "birch_batch_bytes");
}

static int val_ok(birch_val v, const char *what, const char *who)
{
    if (!v.data && v.size) return bi_err(BIRCH_EINVAL, "%s: %s is NULL with a size of %zu", who, what, v.size);
    return BIRCH_OK;
}

/* A name argument: a C string of 1..max bytes. */
static int name_ok(const char *name, size_t max, const char *what, const char *who, size_t *len)
{
    if (!name) return bi_err(BIRCH_EINVAL, "%s: %s is NULL", who, what);
    *len = strlen(name);
    if (*len == 0 || *len > max) return bi_err(BIRCH_EINVAL, "%s: %s of %zu bytes (1..%zu)", who, what, *len, max);
    return BIRCH_OK;
}

/* A byte-string argument of field class f. */
static int field_ok(int f, birch_val v, const char *what, const char *who)
{
    if (f == F_NONE) return BIRCH_OK; /* a field the kind does not have: ignored */
    int rc = val_ok(v, what, who);
    if (rc) return rc;
    if (f == F_VALUE && (uint64_t)v.size > BIRCH_MAX_VALUE_SIZE)
        return bi_err(BIRCH_EVALSIZE, "%s: a value of %zu bytes (at most %u)", who, v.size, BIRCH_MAX_VALUE_SIZE);
    if (f == F_SCHEMA && v.size > BIRCH_MAX_SCHEMA_SIZE)
        return bi_err(BIRCH_EVALSIZE, "%s: a schema of %zu bytes (at most %u)", who, v.size, BIRCH_MAX_SCHEMA_SIZE);
    if ((f == F_KEY && !v.size) || ((f == F_KEY || f == F_BOUND || f == F_MVAL) && v.size > BI_BATCH_MAX_KEY))
        return bi_err(BIRCH_EKEYSIZE, "%s: %s of %zu bytes (%s..%u)", who, what, v.size, f == F_KEY ? "1" : "0",
                      (unsigned)BI_BATCH_MAX_KEY);
    return BIRCH_OK;
}

/* Checks a change's arguments against its kind's shape, then appends it. */
static int add(birch_batch *b, const char *table, bi_change c, const char *who)
{
    const shape *s = &shapes[c.kind];
    if (!b) return bi_err(BIRCH_EINVAL, "%s: b is NULL", who);
    int rc = BIRCH_OK;
    if (s->scoped) rc = name_ok(table, BI_BATCH_MAX_NAME, "a table name", who, &c.table_len);
    c.table = table;
    if (rc == BIRCH_OK && s->key == F_SPNAME)
        rc = name_ok((const char *)c.key.data, BIRCH_MAX_SAVEPOINT_NAME, "a savepoint name", who, &c.key.size);
    else if (rc == BIRCH_OK) rc = field_ok(s->key, c.key, s->range ? "lo" : "key", who);
    if (rc == BIRCH_OK && s->val == F_NAME) rc = name_ok((const char *)c.val.data, BI_BATCH_MAX_NAME, "the new name", who, &c.val.size);
    else if (rc == BIRCH_OK) rc = field_ok(s->val, c.val, s->range ? "hi" : "val", who);
    if (rc == BIRCH_OK && s->range && !bi_batch_range_ok(c.key, c.val))
        rc = bi_err(BIRCH_EINVAL, "%s: lo sorts after hi", who);
    if (rc == BIRCH_OK && s->num == N_FLAGS && (c.num & ~(uint64_t)BIRCH_MULTIMAP))
        rc = bi_err(BIRCH_EINVAL, "%s: unknown flags %#llx (0 or BIRCH_MULTIMAP)", who, (unsigned long long)c.num);
    return rc ? rc : bi_batch_append(b, &c, NULL, who);
}

static birch_val str(const char *s)
{
    return (birch_val){s, 0}; /* its size is measured by add() */
}

int birch_batch_put(birch_batch *b, const char *table, birch_val key, birch_val val)
{
    return add(b, table, (bi_change){.kind = BIRCH_BATCH_PUT, .key = key, .val = val}, "birch_batch_put");
}

int birch_batch_del(birch_batch *b, const char *table, birch_val key)
{
    return add(b, table, (bi_change){.kind = BIRCH_BATCH_DEL, .key = key}, "birch_batch_del");
}

int birch_batch_del_range(birch_batch *b, const char *table, birch_val lo, birch_val hi)
{
    return add(b, table, (bi_change){.kind = BIRCH_BATCH_DEL_RANGE, .key = lo, .val = hi}, "birch_batch_del_range");
}

int birch_batch_create(birch_batch *b, const char *table, unsigned flags)
{
    return add(b, table, (bi_change){.kind = BIRCH_BATCH_CREATE, .num = flags}, "birch_batch_create");
}

int birch_batch_drop(birch_batch *b, const char *table)
{
    return add(b, table, (bi_change){.kind = BIRCH_BATCH_DROP}, "birch_batch_drop");
}

int birch_batch_rename(birch_batch *b, const char *from, const char *to)
{
    return add(b, from, (bi_change){.kind = BIRCH_BATCH_RENAME, .val = str(to)}, "birch_batch_rename");
}

int birch_batch_set_schema(birch_batch *b, const char *table, birch_val schema)
{
    return add(b, table, (bi_change){.kind = BIRCH_BATCH_SET_SCHEMA, .val = schema}, "birch_batch_set_schema");
}

int birch_batch_sequence_set(birch_batch *b, const char *table, uint64_t value)
{
    return add(b, table, (bi_change){.kind = BIRCH_BATCH_SEQUENCE_SET, .num = value}, "birch_batch_sequence_set");
}

int birch_batch_multi_put(birch_batch *b, const char *table, birch_val key, birch_val val)
{
    return add(b, table, (bi_change){.kind = BIRCH_BATCH_MULTI_PUT, .key = key, .val = val}, "birch_batch_multi_put");
}

int birch_batch_multi_del(birch_batch *b, const char *table, birch_val key, birch_val val)
{
    return add(b, table, (bi_change){.kind = BIRCH_BATCH_MULTI_DEL, .key = key, .val = val}, "birch_batch_multi_del");
}

int birch_batch_multi_del_all(birch_batch *b, const char *table, birch_val key)
{
    return add(b, table, (bi_change){.kind = BIRCH_BATCH_MULTI_DEL_ALL, .key = key}, "birch_batch_multi_del_all");
}

int birch_batch_multi_del_range(birch_batch *b, const char *table, birch_val lo, birch_val hi)
{
    return add(b, table, (bi_change){.kind = BIRCH_BATCH_MULTI_DEL_RANGE, .key = lo, .val = hi},
               "birch_batch_multi_del_range");
}

int birch_batch_savepoint_create(birch_batch *b, const char *name)
{
    return add(b, NULL, (bi_change){.kind = BIRCH_BATCH_SAVEPOINT_CREATE, .key = str(name)},
               "birch_batch_savepoint_create");
}

int birch_batch_savepoint_restore(birch_batch *b, const char *name)
{
    return add(b, NULL, (bi_change){.kind = BIRCH_BATCH_SAVEPOINT_RESTORE, .key = str(name)},
               "birch_batch_savepoint_restore");
}

int birch_batch_savepoint_drop(birch_batch *b, const char *name)
{
    return add(b, NULL, (bi_change){.kind = BIRCH_BATCH_SAVEPOINT_DROP, .key = str(name)},
               "birch_batch_savepoint_drop");
}

/* A name of op's (table, savepoint, new name) as a C string in out: 1..max
 * bytes, no NUL. */
static int op_name(birch_val v, size_t max, char *out, const char *what)
{
    if (!v.data || v.size == 0 || v.size > max || memchr(v.data, 0, v.size))
        return bi_err(BIRCH_EINVAL, "birch_batch_add: %s of %zu bytes, or holding a NUL (1..%zu bytes)", what, v.size,
                      max);
    memcpy(out, v.data, v.size);
    out[v.size] = 0;
    return BIRCH_OK;
}

int birch_batch_add(birch_batch *b, const birch_batch_op *op)
{
    if (!b || !op) return bi_err(BIRCH_EINVAL, "birch_batch_add: %s is NULL", !b ? "b" : "op");
    if (!known(op->kind)) return bi_err(BIRCH_EINVAL, "birch_batch_add: an unknown kind of change (%d)", op->kind);
    const shape *s = &shapes[op->kind];
    char table[BI_BATCH_MAX_NAME + 1], key[BIRCH_MAX_SAVEPOINT_NAME + 1], val[BI_BATCH_MAX_NAME + 1];
    bi_change c = {.kind = op->kind, .key = op->key, .val = op->val, .num = op->num};
    int rc = s->scoped ? op_name(op->table, BI_BATCH_MAX_NAME, table, "a table name") : BIRCH_OK;
    if (rc == BIRCH_OK && s->key == F_SPNAME && (rc = op_name(op->key, BIRCH_MAX_SAVEPOINT_NAME, key, "a savepoint name")) == BIRCH_OK)
        c.key = str(key);
    if (rc == BIRCH_OK && s->val == F_NAME && (rc = op_name(op->val, BI_BATCH_MAX_NAME, val, "the new name")) == BIRCH_OK)
        c.val = str(val);
    return rc ? rc : add(b, s->scoped ? table : NULL, c, "birch_batch_add");
}

/* ---- Reading ------------------------------------------------------------------- */

int bi_batch_range_ok(birch_val lo, birch_val hi)
{
    if (!lo.size || !hi.size) return 1;
    size_t n = lo.size < hi.size ? lo.size : hi.size;
    int c = memcmp(lo.data, hi.data, n);
    return c < 0 || (c == 0 && lo.size <= hi.size);
}

static int bad(const bi_batch_reader *r, const char *what)
{
    return bi_err(BIRCH_ECORRUPT, "%s: not a well-formed batch: %s (at byte %zu, change %u)", r->who, what, r->at,
                  r->index);
}

/* A number, in its shortest form (varint.h). */
static int get_varint(bi_batch_reader *r, uint64_t *x)
{
    const uint8_t *q = r->p + r->at;
    int rc = bi_varint_read(&q, r->p + r->n, x, 1);
    if (rc == BI_VARINT_SHORT) return bad(r, "a number runs past the end");
    if (rc == BI_VARINT_LONG) return bad(r, "a number of more than 10 bytes or above 2^64");
    if (rc == BI_VARINT_NOT_SHORTEST) return bad(r, "a number not in its shortest form");
    r->at = (size_t)(q - r->p);
    return BIRCH_OK;
}

/* A byte string of field class f into *v. */
static int get_field(bi_batch_reader *r, int f, birch_val *v)
{
    static const struct {
        uint64_t min, max;
        const char *what;
    } bounds[] = {
        [F_KEY] = {1, BI_BATCH_MAX_KEY, "a key of 0 or more than 16,384 bytes"},
        [F_BOUND] = {0, BI_BATCH_MAX_KEY, "a bound of more than 16,384 bytes"},
        [F_VALUE] = {0, BIRCH_MAX_VALUE_SIZE, "a value of more than 2^32 - 1 bytes"},
        [F_MVAL] = {0, BI_BATCH_MAX_KEY, "a multimap value of more than 16,384 bytes"},
        [F_NAME] = {1, BI_BATCH_MAX_NAME, "a table name of 0 or more than 255 bytes"},
        [F_SCHEMA] = {0, BIRCH_MAX_SCHEMA_SIZE, "a schema of more than 1,024 bytes"},
        [F_SPNAME] = {1, BIRCH_MAX_SAVEPOINT_NAME, "a savepoint name of 0 or more than 64 bytes"},
    };
    *v = (birch_val){NULL, 0};
    if (f == F_NONE) return BIRCH_OK;
    uint64_t n = 0; /* set on success; 0 keeps gcc from warning after inlining */
    int rc = get_varint(r, &n);
    if (rc) return rc;
    if (n < bounds[f].min || n > bounds[f].max) return bad(r, bounds[f].what);
    if (n > r->n - r->at) return bad(r, "a byte string runs past the end");
    *v = (birch_val){r->p + r->at, (size_t)n};
    r->at += (size_t)n;
    if ((f == F_NAME || f == F_SPNAME) && memchr(v->data, 0, v->size)) return bad(r, "a name holding a NUL");
    return BIRCH_OK;
}

/* A table record: the current table changes, and a change to it follows.
 * The encoding is canonical (one list of changes, one byte string): a
 * table record names another table than the current one, and comes right
 * before a change to the table it names. */
static int table_record(bi_batch_reader *r)
{
    birch_val prev = r->table;
    int rc = get_field(r, F_NAME, &r->table);
    if (rc) return rc;
    if (prev.size == r->table.size && memcmp(prev.data, r->table.data, prev.size) == 0)
        return bad(r, "a table record naming the current table");
    return BIRCH_OK;
}

int bi_batch_next(bi_batch_reader *r, birch_batch_op *op)
{
    int rc, after_table = 0;
    if (r->at == r->n) return 0;
    uint8_t kind = r->p[r->at++];
    if (kind == BI_BATCH_TABLE) {
        if ((rc = table_record(r))) return rc;
        if (r->at == r->n || (kind = r->p[r->at++]) == BI_BATCH_TABLE)
            return bad(r, "a table record with no change after it");
        after_table = 1;
    }
    if (!known(kind)) return bad(r, "an unknown kind of record");
    const shape *s = &shapes[kind];
    if (!s->scoped && after_table) return bad(r, "a table record followed by a savepoint change");
    if (s->scoped && !r->table.size) return bad(r, "a change before any table");
    memset(op, 0, sizeof *op);
    op->kind = kind;
    if (s->scoped) op->table = r->table;
    if ((rc = get_field(r, s->key, &op->key)) || (rc = get_field(r, s->val, &op->val))) return rc;
    if (s->range && !bi_batch_range_ok(op->key, op->val)) return bad(r, "a range whose lo sorts after its hi");
    if (s->num && (rc = get_varint(r, &op->num))) return rc;
    if (s->num == N_FLAGS) {
        if (op->num > 1) return bad(r, "a table of unknown flags");
        op->num = op->num ? BIRCH_MULTIMAP : 0;
    }
    r->index++;
    return 1;
}

int bi_batch_open(birch_val batch, bi_batch_reader *r, const char *who)
{
    memset(r, 0, sizeof *r);
    r->who = who;
    if (!batch.data && batch.size) return bi_err(BIRCH_EINVAL, "%s: batch is NULL with a size of %zu", who, batch.size);
    const uint8_t *p = batch.data;
    if (batch.size < BI_BATCH_HDR || memcmp(p, BATCH_MAGIC, 4) != 0)
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
    bi_batch_reader start = {p, batch.size, BI_BATCH_HDR, {NULL, 0}, 0, who};
    *r = start;
    birch_batch_op op;
    int rc;
    while ((rc = bi_batch_next(r, &op)) == 1) {
    }
    if (rc < 0) return rc;
    if (r->index != get_u32(p + 8))
        return bi_err(BIRCH_ECORRUPT, "%s: the batch says %u changes and holds %u", who, get_u32(p + 8), r->index);
    *r = start;
    return BIRCH_OK;
}

int birch_batch_each(birch_val batch, int (*fn)(const birch_batch_op *op, void *ctx), void *ctx)
{
    if (!fn) return bi_err_s(BIRCH_EINVAL, "birch_batch_each: fn is NULL");
    bi_batch_reader r;
    int rc = bi_batch_open(batch, &r, "birch_batch_each");
    birch_batch_op op;
    while (rc == BIRCH_OK && bi_batch_next(&r, &op) == 1) rc = fn(&op, ctx);
    return rc;
}
