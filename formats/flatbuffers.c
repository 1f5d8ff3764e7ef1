/*
 * flatbuffers.c - the FlatBuffers binary format (api/birch_flatbuffers.h):
 * a verifier driven by the schema's field descriptors, a back-to-front
 * builder, and the birch value format over both.
 *
 * Written from the format's specification; positions inside a buffer are
 * handled as 64-bit numbers relative to the start of the (nested) buffer
 * being verified, never as pointers past it, so no check can overflow.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"
#include "birch_flatbuffers.h"
#include "err.h"

#define FB_MAX_SIZE 0x7fffffffu /* FlatBuffers buffers stay below 2^31 - 1 bytes */

/* ---- Verifier ------------------------------------------------------------------ */

typedef struct vctx {
    const uint8_t *base; /* the outermost buffer: alignment is relative to it */
    const uint8_t *lo;   /* the buffer being verified (nested ones: their vector's bytes) */
    uint64_t len;
    unsigned max_depth, max_tables, depth, tables;
    char *msg;
    size_t cap;
} vctx;

static int fail(vctx *v, const birch_fb_table *t, const birch_fb_field *f, uint64_t at, const char *fmt, ...)
    BI_PRINTF(5, 6) BI_COLD;
static int fail(vctx *v, const birch_fb_table *t, const birch_fb_field *f, uint64_t at, const char *fmt, ...)
{
    /* The caller's msg if it gave one, else a local one: either way the
     * text is also birch_errmsg()'s (formatting only on failure). */
    char local[256];
    char *out = v->msg && v->cap ? v->msg : local;
    size_t cap = v->msg && v->cap ? v->cap : sizeof local;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    uint64_t abs = (uint64_t)(v->lo - v->base) + at;
    if (f)
        snprintf(out, cap, "flatbuffers %s.%s: %s at byte %llu", t ? t->name : "?", f->name, what,
                 (unsigned long long)abs);
    else
        snprintf(out, cap, "flatbuffers %s: %s at byte %llu", t ? t->name : "?", what, (unsigned long long)abs);
    return bi_err(BIRCH_EFORMAT, "%s", out);
}

static BI_HOT_INLINE int inside(const vctx *v, uint64_t pos, uint64_t n) { return pos <= v->len && n <= v->len - pos; }
static BI_HOT_INLINE int aligned(const vctx *v, uint64_t pos, uint64_t a)
{
    return a <= 1 || (((uint64_t)(v->lo - v->base) + pos) & (a - 1)) == 0;
}
static BI_HOT_INLINE uint32_t rd32(const vctx *v, uint64_t pos)
{
    uint32_t x;
    memcpy(&x, v->lo + pos, 4);
    return x;
}
static BI_HOT_INLINE uint16_t rd16(const vctx *v, uint64_t pos)
{
    uint16_t x;
    memcpy(&x, v->lo + pos, 2);
    return x;
}

/* The uoffset stored at pos: its target, checked to lie inside.  (The
 * outputs here and in vector() are set on failure too: once these are
 * inlined, gcc cannot see that callers read them only on success.) */
static BI_HOT_INLINE int deref(vctx *v, const birch_fb_table *t, const birch_fb_field *f, uint64_t pos,
                               uint64_t *target)
{
    *target = 0;
    if (!aligned(v, pos, 4)) return fail(v, t, f, pos, "offset not 4-byte aligned");
    if (!inside(v, pos, 4)) return fail(v, t, f, pos, "offset outside the buffer");
    uint32_t o = rd32(v, pos);
    if (o == 0) return fail(v, t, f, pos, "offset 0");
    if (o > 0x7fffffffu) return fail(v, t, f, pos, "offset %u out of range", o);
    if (!inside(v, pos + o, 1)) return fail(v, t, f, pos, "offset %u points outside the buffer", o);
    *target = pos + o;
    return BIRCH_OK;
}

/* A vector (or string: elem 1) whose offset is stored at pos. */
static BI_HOT_INLINE int vector(vctx *v, const birch_fb_table *t, const birch_fb_field *f, uint64_t pos,
                                uint64_t elem, uint64_t align, uint64_t *data, uint64_t *count)
{
    uint64_t vp;
    *data = *count = 0;
    int rc = deref(v, t, f, pos, &vp);
    if (rc) return rc;
    if (!aligned(v, vp, 4)) return fail(v, t, f, vp, "vector length not 4-byte aligned");
    if (!inside(v, vp, 4)) return fail(v, t, f, vp, "vector length outside the buffer");
    uint64_t n = rd32(v, vp); /* n < 2^32 and elem < 2^32: n * elem cannot wrap */
    if (n * elem >= FB_MAX_SIZE) return fail(v, t, f, vp, "vector of %llu elements overflows", (unsigned long long)n);
    if (!inside(v, vp + 4, n * elem))
        return fail(v, t, f, vp, "vector of %llu bytes runs past the buffer", (unsigned long long)(n * elem));
    /* Elements are aligned for the accessors (flatc's verifier checks only
     * the count); an empty vector has none, and flatc writes an empty
     * [long] right after its count, possibly 4 bytes off an 8-byte boundary. */
    if (n && !aligned(v, vp + 4, align))
        return fail(v, t, f, vp, "vector elements not %u-byte aligned", (unsigned)align);
    *data = vp + 4;
    *count = n;
    return BIRCH_OK;
}

static BI_HOT_INLINE int string(vctx *v, const birch_fb_table *t, const birch_fb_field *f, uint64_t pos)
{
    uint64_t data, n;
    int rc = vector(v, t, f, pos, 1, 1, &data, &n);
    if (rc) return rc;
    if (!inside(v, data + n, 1) || v->lo[data + n] != 0)
        return fail(v, t, f, data - 4, "string not NUL-terminated");
    return BIRCH_OK;
}

static int table(vctx *v, const birch_fb_table *t, uint64_t pos);
static int buffer(vctx *v, const birch_fb_table *root, unsigned flags);

static BI_HOT_INLINE uint64_t scalar_size(unsigned k)
{
    static const uint8_t sz[] = {0, 1, 1, 1, 2, 2, 4, 4, 8, 8, 4, 8};
    return k < sizeof sz ? sz[k] : 0;
}

/* The position of field id in the table at pos, or 0 when absent. */
static BI_HOT_INLINE uint64_t field_at(const vctx *v, uint64_t pos, uint64_t vt, unsigned id)
{
    uint64_t slot = 4 + 2 * (uint64_t)id;
    if (slot + 2 > rd16(v, vt)) return 0;
    uint16_t off = rd16(v, vt + slot);
    return off ? pos + off : 0;
}

/* A vector of unions: its values' offset at `at` (0: absent), its types'
 * field (id - 1) present exactly when the values are, of the same length;
 * each element verified as the table its type names (NONE and types the
 * union does not know are skipped without looking at their offset, as
 * flatc's verifier does). */
static int union_vector(vctx *v, const birch_fb_table *t, const birch_fb_field *f, uint64_t pos, uint64_t vt,
                        uint64_t tsize, uint64_t at)
{
    uint64_t types_at = field_at(v, pos, vt, f->id - 1u);
    if (types_at) {
        if (types_at - pos < 4 || types_at - pos + 4 > tsize)
            return fail(v, t, f, types_at, "union type vector outside its table");
        if (!aligned(v, types_at, 4)) return fail(v, t, f, types_at, "union type vector not 4-byte aligned");
    }
    if (!at && !types_at) return BIRCH_OK;
    if (!at) return fail(v, t, f, types_at, "union type vector without its values");
    if (!types_at) return fail(v, t, f, at, "union vector without its type vector");
    uint64_t types, ntypes, data, n, target;
    int rc = vector(v, t, f, types_at, 1, 1, &types, &ntypes);
    if (rc || (rc = vector(v, t, f, at, 4, 4, &data, &n))) return rc;
    if (n != ntypes)
        return fail(v, t, f, at, "union vector of %llu elements, its type vector of %llu", (unsigned long long)n,
                    (unsigned long long)ntypes);
    for (uint64_t i = 0; i < n; i++) {
        uint8_t type = v->lo[types + i];
        const birch_fb_table *m = type && type <= f->u->n ? f->u->members[type - 1] : NULL;
        if (!m) continue; /* NONE, or a type the union does not know */
        if ((rc = deref(v, t, f, data + 4 * i, &target)) || (rc = table(v, m, target))) return rc;
    }
    return BIRCH_OK;
}

/* Field f's inline bytes (size, align) in the table at pos: *at is their
 * position, or 0 when the field is absent (a failure if it is required). */
static BI_HOT_INLINE int locate(vctx *v, const birch_fb_table *t, const birch_fb_field *f, uint64_t pos,
                                uint64_t vt, uint64_t tsize, uint64_t size, uint64_t align, uint64_t *at)
{
    uint64_t a = *at = field_at(v, pos, vt, f->id);
    if (!a) return f->required ? fail(v, t, f, pos, "required field missing") : BIRCH_OK;
    if (a - pos < 4 || a - pos + size > tsize) return fail(v, t, f, a, "field outside its table");
    if (!aligned(v, a, align)) return fail(v, t, f, a, "field not %u-byte aligned", (unsigned)align);
    return BIRCH_OK;
}

static int union_field(vctx *v, const birch_fb_table *t, const birch_fb_field *f, uint64_t pos, uint64_t vt,
                       uint64_t tsize)
{
    if (f->id == 0 || !f->u) return fail(v, t, f, pos, "union with id 0 or no union in the schema");
    uint64_t type_at = field_at(v, pos, vt, f->id - 1u), at, target;
    if (type_at && (type_at - pos < 4 || type_at - pos + 1 > tsize))
        return fail(v, t, f, type_at, "union type outside its table");
    int rc = locate(v, t, f, pos, vt, tsize, 4, 4, &at);
    if (rc || !at) return rc;
    uint8_t type = type_at ? v->lo[type_at] : 0;
    if (!type) return BIRCH_OK; /* NONE: the value is ignored */
    const birch_fb_table *m = type <= f->u->n ? f->u->members[type - 1] : NULL;
    if ((rc = deref(v, t, f, at, &target))) return rc;
    return m ? table(v, m, target) : BIRCH_OK; /* unknown type: accepted, as flatc's code does */
}

static int nested_field(vctx *v, const birch_fb_table *t, const birch_fb_field *f, uint64_t at)
{
    uint64_t data, n;
    int rc = vector(v, t, f, at, 1, 1, &data, &n);
    if (rc) return rc;
    vctx saved = *v;
    if (v->depth >= v->max_depth) return fail(v, t, f, at, "nested deeper than %u", v->max_depth);
    v->depth++;
    v->lo += data;
    v->len = n;
    rc = buffer(v, f->table, BIRCH_FB_ANY_IDENT);
    saved.tables = v->tables;
    *v = saved;
    return rc;
}

/* A vector field other than of unions, its offset at `at`. */
static int vector_field(vctx *v, const birch_fb_table *t, const birch_fb_field *f, uint64_t at)
{
    uint64_t data, n, target;
    int rc;
    switch (f->elem) {
    case BIRCH_FB_STRUCT:
        if (!f->size) return fail(v, t, f, at, "vector of unknown kind %u in the schema", f->elem); /* 0-byte structs */
        return vector(v, t, f, at, f->size, f->align, &data, &n);
    case BIRCH_FB_STRING:
    case BIRCH_FB_TABLE:
        if ((rc = vector(v, t, f, at, 4, 4, &data, &n))) return rc;
        for (uint64_t i = 0; i < n; i++) {
            if (f->elem == BIRCH_FB_STRING) rc = string(v, t, f, data + 4 * i);
            else if (!(rc = deref(v, t, f, data + 4 * i, &target))) rc = table(v, f->table, target);
            if (rc) return rc;
        }
        return BIRCH_OK;
    default: {
        uint64_t size = scalar_size(f->elem);
        if (!size) return fail(v, t, f, at, "vector of unknown kind %u in the schema", f->elem);
        return vector(v, t, f, at, size, size, &data, &n);
    }
    }
}

/* One field of the table at pos, by its kind: in its table, aligned, and
 * what it points to verified. */
static int field(vctx *v, const birch_fb_table *t, const birch_fb_field *f, uint64_t pos, uint64_t vt,
                 uint64_t tsize)
{
    uint64_t at, target;
    int rc;
    switch (f->kind) {
    case BIRCH_FB_STRING:
        if ((rc = locate(v, t, f, pos, vt, tsize, 4, 4, &at)) || !at) return rc;
        return string(v, t, f, at);
    case BIRCH_FB_TABLE:
        if ((rc = locate(v, t, f, pos, vt, tsize, 4, 4, &at)) || !at) return rc;
        if ((rc = deref(v, t, f, at, &target))) return rc;
        return table(v, f->table, target);
    case BIRCH_FB_VECTOR:
        if (f->elem == BIRCH_FB_UNION) {
            if (f->id == 0 || !f->u) return fail(v, t, f, pos, "vector of unions with id 0 or no union in the schema");
            if ((rc = locate(v, t, f, pos, vt, tsize, 4, 4, &at))) return rc;
            return union_vector(v, t, f, pos, vt, tsize, at);
        }
        if ((rc = locate(v, t, f, pos, vt, tsize, 4, 4, &at)) || !at) return rc;
        return vector_field(v, t, f, at);
    case BIRCH_FB_UNION: return union_field(v, t, f, pos, vt, tsize);
    case BIRCH_FB_NESTED:
        if ((rc = locate(v, t, f, pos, vt, tsize, 4, 4, &at)) || !at) return rc;
        return nested_field(v, t, f, at);
    case BIRCH_FB_STRUCT:
        if (!f->size) return fail(v, t, f, pos, "field of unknown kind %u in the schema", f->kind); /* a 0-byte struct */
        return locate(v, t, f, pos, vt, tsize, f->size, f->align, &at);
    default: {
        uint64_t size = scalar_size(f->kind);
        if (!size) return fail(v, t, f, pos, "field of unknown kind %u in the schema", f->kind);
        return locate(v, t, f, pos, vt, tsize, size, size, &at);
    }
    }
}

static int table(vctx *v, const birch_fb_table *t, uint64_t pos)
{
    if (!t) return fail(v, t, NULL, pos, "table without a schema");
    if (v->depth >= v->max_depth) return fail(v, t, NULL, pos, "tables nested deeper than %u", v->max_depth);
    if (v->tables >= v->max_tables) return fail(v, t, NULL, pos, "more than %u tables", v->max_tables);
    v->tables++;
    if (!aligned(v, pos, 4)) return fail(v, t, NULL, pos, "table not 4-byte aligned");
    if (!inside(v, pos, 4)) return fail(v, t, NULL, pos, "table outside the buffer");
    int64_t vt = (int64_t)pos - (int32_t)rd32(v, pos);
    if (vt < 0 || !inside(v, (uint64_t)vt, 4)) return fail(v, t, NULL, pos, "vtable outside the buffer");
    if (!aligned(v, (uint64_t)vt, 2)) return fail(v, t, NULL, (uint64_t)vt, "vtable not 2-byte aligned");
    uint64_t vsize = rd16(v, (uint64_t)vt), tsize = rd16(v, (uint64_t)vt + 2);
    if (vsize < 4 || (vsize & 1)) return fail(v, t, NULL, (uint64_t)vt, "vtable size %u", (unsigned)vsize);
    if (!inside(v, (uint64_t)vt, vsize)) return fail(v, t, NULL, (uint64_t)vt, "vtable runs past the buffer");
    if (tsize < 4) return fail(v, t, NULL, pos, "table size %u", (unsigned)tsize);
    if (!inside(v, pos, tsize)) return fail(v, t, NULL, pos, "table runs past the buffer");
    v->depth++;
    for (size_t i = 0; i < t->nfields; i++) {
        const birch_fb_field *f = &t->fields[i];
        int rc = field(v, t, f, pos, (uint64_t)vt, tsize);
        if (rc) return rc;
    }
    v->depth--;
    return BIRCH_OK;
}

/* The buffer v->lo[0..len): root offset, identifier, root table. */
static int buffer(vctx *v, const birch_fb_table *root, unsigned flags)
{
    if (!inside(v, 0, 4)) return fail(v, root, NULL, 0, "buffer of %llu bytes has no root offset", (unsigned long long)v->len);
    if (root->ident && !(flags & BIRCH_FB_ANY_IDENT)) {
        if (!inside(v, 4, 4)) return fail(v, root, NULL, 4, "no file identifier (expected '%.4s')", root->ident);
        if (memcmp(v->lo + 4, root->ident, 4) != 0) {
            char got[5];
            for (int i = 0; i < 4; i++) got[i] = (char)(v->lo[4 + i] >= 0x20 && v->lo[4 + i] < 0x7f ? v->lo[4 + i] : '?');
            got[4] = 0;
            return fail(v, root, NULL, 4, "file identifier '%s', expected '%.4s'", got, root->ident);
        }
    }
    uint64_t pos = 0; /* set by deref on success (as vp in vector()) */
    int rc = deref(v, root, NULL, 0, &pos);
    return rc ? rc : table(v, root, pos);
}

int birch_fb_verify(const birch_fb_table *root, const void *buf, size_t size, const birch_fb_opts *opts,
                    char *msg, size_t cap)
{
    if (msg && cap) msg[0] = 0;
    if (!root) return bi_err_s(BIRCH_EINVAL, "birch_fb_verify: root is NULL");
    if (!buf && size) return bi_err_s(BIRCH_EINVAL, "birch_fb_verify: buf is NULL and size is not 0");
    const char *id = root->ident; /* 4 characters: no strlen on every value */
    if (id && !(id[0] && id[1] && id[2] && id[3] && !id[4]))
        return bi_err(BIRCH_EINVAL, "birch_fb_verify: table %s's file identifier '%s' is not 4 bytes", root->name,
                      root->ident);
    vctx v = {buf, buf, size, BIRCH_FB_MAX_DEPTH, BIRCH_FB_MAX_TABLES, 0, 0, msg, cap};
    unsigned flags = 0;
    if (opts) {
        flags = opts->flags;
        if (opts->max_depth) v.max_depth = opts->max_depth;
        if (opts->max_tables) v.max_tables = opts->max_tables;
    }
    if (size >= FB_MAX_SIZE) return fail(&v, root, NULL, 0, "buffer of %zu bytes is too large", size);
    if (flags & BIRCH_FB_SIZE_PREFIXED) {
        if (size < 4) return fail(&v, root, NULL, 0, "no size prefix");
        uint32_t n = rd32(&v, 0);
        if (n > size - 4) return fail(&v, root, NULL, 0, "size prefix %u larger than the %zu bytes after it", n, size - 4);
        v.lo += 4;
        v.len = n;
    }
    return buffer(&v, root, flags);
}

const void *birch_fb_root(const void *buf, size_t size, unsigned flags)
{
    const uint8_t *p = buf;
    size_t at = flags & BIRCH_FB_SIZE_PREFIXED ? 4 : 0;
    if (!p || size < at + 4) return NULL;
    uint32_t o;
    memcpy(&o, p + at, 4);
    return o < size - at ? p + at + o : NULL;
}

/* ---- Builder -------------------------------------------------------------------- */

/* Data lives at the end of buf: [cap - tail - size, cap - tail).  A ref is
 * the size right after its object was pushed: its distance from the end.
 * tail is 0 until birch_fb_finish moves a buffer 4 bytes down to start it
 * on an 8-byte boundary. */

/* A field of the open table, held until birch_fb_end lays the table out. */
typedef struct fb_field {
    uint32_t data;  /* bytes: their offset in b->stage; a ref: the ref */
    uint32_t size;  /* bytes (a ref: 4) */
    uint32_t key;   /* align << 16 | id: the layout pushes larger keys first */
    uint16_t id;
    uint8_t align;  /* 1..16 (a ref: 4) */
    uint8_t is_ref;
    uint32_t at;    /* the size right after it was pushed, at birch_fb_end */
} fb_field;

/* A hash set of objects in the buffer (vtables, shared strings): open
 * addressing, each entry the object's hash (high 32 bits) and ref (low 32;
 * 0: empty). */
typedef struct fb_set {
    uint64_t *e;
    size_t cap, n; /* cap: a power of two, or 0 */
} fb_set;

#define FB_MAX_IDS 0x7ffe /* field ids 0..32765: a vtable of at most 65,535 bytes */

struct birch_fb_builder {
    uint8_t *buf;
    size_t cap, size, tail, minalign;
    int err, force_defaults, in_table, finished;
    const char *why; /* the first failure's message (static), for birch_fb_finish */
    size_t table_end;
    fb_field *fields; /* the open table's fields */
    size_t nfields, fields_cap;
    uint8_t *stage; /* their bytes (scalars, structs) */
    size_t stage_len, stage_cap;
    int stage_big;   /* a struct too large for any table was added */
    uint8_t *seen;   /* FB_MAX_IDS bits: ids in the open table */
    uint16_t *vt;    /* the vtable being made */
    size_t vt_cap;
    uint32_t *scratch; /* sort orders (birch_fb_end, birch_fb_vector_sorted) */
    size_t scratch_cap;
    fb_set vtables, strings;
};

/* A builder call failed: records why for birch_errmsg() now (the call
 * returns nothing) and keeps the first failure, which birch_fb_finish
 * returns and reports.  why is a static string: cheap on a build loop. */
static void fb_fail(birch_fb_builder *b, int rc, const char *why)
{
    bi_err_static(why);
    if (b->err) return;
    b->err = rc;
    b->why = why;
}

/* Grows *p (of *cap elements of esize bytes) to hold n; 0 on failure
 * (recorded with why). */
static int grow_slow(birch_fb_builder *b, void **p, size_t *cap, size_t n, size_t esize, const char *why)
{
    size_t c = *cap ? *cap : 16;
    while (c < n) c *= 2;
    void *np = c <= SIZE_MAX / esize ? realloc(*p, c * esize) : NULL;
    if (!np) {
        fb_fail(b, BIRCH_ENOMEM, why);
        return 0;
    }
    *p = np;
    *cap = c;
    return 1;
}

static inline int grow(birch_fb_builder *b, void **p, size_t *cap, size_t n, size_t esize, const char *why)
{
    return n <= *cap || grow_slow(b, p, cap, n, esize, why);
}

static uint8_t *end_of(const birch_fb_builder *b) { return b->buf + b->cap - b->tail; }
/* The object at ref (ref <= size). */
static uint8_t *at_ref(const birch_fb_builder *b, birch_fb_ref ref) { return end_of(b) - ref; }

static int reserve_slow(birch_fb_builder *b, size_t n)
{
    if (b->err) return 0;
    if (n > FB_MAX_SIZE || b->size + n >= FB_MAX_SIZE) {
        fb_fail(b, BIRCH_EVALSIZE, "flatbuffers builder: the buffer would reach 2 GiB");
        return 0;
    }
    if (b->cap - b->tail - b->size >= n) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->tail - b->size < n) cap *= 2;
    uint8_t *nb = malloc(cap); /* malloc aligns to 16; cap stays a multiple of 16 */
    if (!nb) {
        fb_fail(b, BIRCH_ENOMEM, "flatbuffers builder: out of memory growing the buffer");
        return 0;
    }
    if (b->size) memcpy(nb + cap - b->tail - b->size, end_of(b) - b->size, b->size);
    free(b->buf);
    b->buf = nb;
    b->cap = cap;
    return 1;
}

/* Room for n more bytes (0 after an error, which is then recorded). */
static inline int reserve(birch_fb_builder *b, size_t n)
{
    if (!b->err && n <= b->cap - b->tail - b->size && b->size + n < FB_MAX_SIZE) return 1;
    return reserve_slow(b, n);
}

static size_t pad_for(size_t size, size_t len, size_t align) { return (size_t)(-(size + len)) & (align - 1); }

static void pad(birch_fb_builder *b, size_t n)
{
    if (!n || !reserve(b, n)) return;
    b->size += n;
    memset(at_ref(b, (birch_fb_ref)b->size), 0, n);
}

/* Pads so that after len more bytes the size is a multiple of align. */
static void prealign(birch_fb_builder *b, size_t len, size_t align)
{
    if (align > b->minalign) b->minalign = align;
    pad(b, pad_for(b->size, len, align));
}

/* Copies n bytes, a scalar's or an offset's without a call to memcpy. */
static inline void put(uint8_t *to, const void *p, size_t n)
{
    switch (n) {
    case 0: break;
    case 1: *to = *(const uint8_t *)p; break;
    case 2: memcpy(to, p, 2); break;
    case 4: memcpy(to, p, 4); break;
    case 8: memcpy(to, p, 8); break;
    default: memcpy(to, p, n); break;
    }
}

static void push(birch_fb_builder *b, const void *p, size_t n)
{
    if (!reserve(b, n) || !n) return; /* nothing to copy: buf may still be NULL */
    b->size += n;
    put(at_ref(b, (birch_fb_ref)b->size), p, n);
}

static void push_u32(birch_fb_builder *b, uint32_t x)
{
    prealign(b, 0, 4);
    push(b, &x, 4);
}

/* An offset to ref, stored at the next 4 bytes. */
static void push_ref(birch_fb_builder *b, birch_fb_ref ref)
{
    prealign(b, 0, 4);
    if (!ref || ref > b->size) {
        fb_fail(b, BIRCH_EINVAL, "flatbuffers builder: a reference that is 0 or not to an object built before");
        return;
    }
    push_u32(b, (uint32_t)(b->size + 4 - ref));
}

/* Whether an object may be created now (not inside a table, not finished). */
static int outside(birch_fb_builder *b)
{
    if (!b) return 0;
    if (b->in_table) fb_fail(b, BIRCH_EINVAL, "flatbuffers builder: a string, vector or table started inside a table");
    if (b->finished) fb_fail(b, BIRCH_EINVAL, "flatbuffers builder: an object added after birch_fb_finish (reset first)");
    return !b->err;
}

/* ---- Hashing: vtables and shared strings ---- */

static uint32_t hash_bytes(const uint8_t *p, size_t n, uint64_t h)
{
    h ^= n * 0x9e3779b97f4a7c15ull;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++) w |= (uint64_t)p[i] << (8 * i); /* the last 0..7 bytes (p may be NULL if none) */
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdull;
    return (uint32_t)(h >> 32);
}

/* The object a set entry names equals (p, n): a vtable's bytes, or a
 * string's length and bytes. */
typedef int (*fb_eq)(const birch_fb_builder *b, birch_fb_ref ref, const void *p, size_t n);

static int vtable_eq(const birch_fb_builder *b, birch_fb_ref ref, const void *p, size_t n)
{
    const uint8_t *v = at_ref(b, ref);
    return memcmp(v, p, 2) == 0 && memcmp(v, p, n) == 0; /* the first u16 is the size: same size, then bytes */
}

static int string_eq(const birch_fb_builder *b, birch_fb_ref ref, const void *p, size_t n)
{
    const uint8_t *s = at_ref(b, ref);
    uint32_t len;
    memcpy(&len, s, 4);
    return len == n && (n == 0 || memcmp(s + 4, p, n) == 0);
}

static birch_fb_ref set_find(const birch_fb_builder *b, const fb_set *s, uint32_t h, const void *p, size_t n, fb_eq eq)
{
    if (!s->n) return 0;
    for (size_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        uint64_t e = s->e[i];
        if (!e) return 0;
        if ((uint32_t)(e >> 32) == h && eq(b, (birch_fb_ref)e, p, n)) return (birch_fb_ref)e;
    }
}

/* Adds ref with hash h (not there yet); a failure to grow only loses the
 * sharing, never the object, so it is not an error. */
static void set_add(fb_set *s, uint32_t h, birch_fb_ref ref)
{
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        uint64_t *ne = calloc(cap, sizeof *ne);
        if (!ne) return;
        for (size_t i = 0; i < s->cap; i++) {
            uint64_t e = s->e[i];
            if (!e) continue;
            size_t j = (size_t)(e >> 32) & (cap - 1);
            while (ne[j]) j = (j + 1) & (cap - 1);
            ne[j] = e;
        }
        free(s->e);
        s->e = ne;
        s->cap = cap;
    }
    size_t j = h & (s->cap - 1);
    while (s->e[j]) j = (j + 1) & (s->cap - 1);
    s->e[j] = (uint64_t)h << 32 | ref;
    s->n++;
}

static void set_clear(fb_set *s)
{
    if (s->n) memset(s->e, 0, s->cap * sizeof *s->e);
    s->n = 0;
}

/* ---- Builder calls ---- */

birch_fb_builder *birch_fb_builder_new(void)
{
    birch_fb_builder *b = calloc(1, sizeof *b);
    if (b) b->minalign = 1;
    return b;
}

void birch_fb_builder_free(birch_fb_builder *b)
{
    if (!b) return;
    free(b->buf);
    free(b->fields);
    free(b->stage);
    free(b->seen);
    free(b->vt);
    free(b->scratch);
    free(b->vtables.e);
    free(b->strings.e);
    free(b);
}

/* Forgets the open table's fields. */
static void unstage(birch_fb_builder *b)
{
    if (b->seen)
        for (size_t i = 0; i < b->nfields; i++) b->seen[b->fields[i].id >> 3] &= (uint8_t)~(1u << (b->fields[i].id & 7));
    b->nfields = 0;
    b->stage_len = 0;
    b->stage_big = 0;
}

void birch_fb_builder_reset(birch_fb_builder *b)
{
    if (!b) return;
    unstage(b);
    b->size = b->tail = 0;
    b->minalign = 1;
    b->err = b->in_table = b->finished = 0;
    b->why = NULL;
    set_clear(&b->vtables);
    set_clear(&b->strings);
}

void birch_fb_builder_force_defaults(birch_fb_builder *b, int on)
{
    if (b) b->force_defaults = on;
}

int birch_fb_builder_error(const birch_fb_builder *b)
{
    if (!b) return bi_err_s(BIRCH_EINVAL, "birch_fb_builder_error: builder is NULL");
    return b->err ? bi_err_s(b->err, b->why) : BIRCH_OK;
}

const void *birch_fb_builder_peek(const birch_fb_builder *b, birch_fb_ref ref)
{
    if (!b || !ref || ref > b->size) return NULL;
    return at_ref(b, ref);
}

birch_fb_ref birch_fb_string(birch_fb_builder *b, const char *s, size_t n)
{
    if (!outside(b)) return 0;
    if (!s && n) {
        fb_fail(b, BIRCH_EINVAL, "birch_fb_string: s is NULL and n is not 0");
        return 0;
    }
    if (n >= FB_MAX_SIZE) {
        fb_fail(b, BIRCH_EVALSIZE, "birch_fb_string: a string of 2 GiB or more");
        return 0;
    }
    prealign(b, n + 1, 4);
    pad(b, 1);
    push(b, s, n);
    push_u32(b, (uint32_t)n);
    return b->err ? 0 : (birch_fb_ref)b->size;
}

birch_fb_ref birch_fb_cstring(birch_fb_builder *b, const char *s)
{
    return birch_fb_string(b, s, s ? strlen(s) : 0);
}

birch_fb_ref birch_fb_shared_string(birch_fb_builder *b, const char *s, size_t n)
{
    if (!outside(b)) return 0;
    if (!s && n) {
        fb_fail(b, BIRCH_EINVAL, "birch_fb_shared_string: s is NULL and n is not 0");
        return 0;
    }
    uint32_t h = hash_bytes((const uint8_t *)s, n, 0x5157);
    birch_fb_ref r = set_find(b, &b->strings, h, s, n, string_eq);
    if (r) return r;
    r = birch_fb_string(b, s, n);
    if (r) set_add(&b->strings, h, r);
    return r;
}

birch_fb_ref birch_fb_vector(birch_fb_builder *b, const void *elems, size_t n, size_t elem_size, size_t align)
{
    if (!outside(b)) return 0;
    if ((!elems && n) || !elem_size || !align || (align & (align - 1)) || align > 16) {
        fb_fail(b, BIRCH_EINVAL, "birch_fb_vector: elems NULL with n > 0, elem_size 0, or align not a power of two 1..16");
        return 0;
    }
    if (n >= FB_MAX_SIZE / elem_size) {
        fb_fail(b, BIRCH_EVALSIZE, "birch_fb_vector: a vector of 2 GiB or more");
        return 0;
    }
    size_t bytes = n * elem_size;
    prealign(b, bytes, 4);
    /* An empty vector has no element to align (flatc does not pad one
     * either; the accessors give an aligned stand-in up to 8). */
    if (n || align > 8) prealign(b, bytes, align);
    push(b, elems, bytes);
    push_u32(b, (uint32_t)n);
    return b->err ? 0 : (birch_fb_ref)b->size;
}

/* A vector of n offsets (refs[i], or 0 stored as is when zero_ok). */
static birch_fb_ref vector_of_refs(birch_fb_builder *b, const birch_fb_ref *refs, size_t n, int zero_ok,
                                   const char *null_why)
{
    if (!outside(b)) return 0;
    if ((!refs && n) || n >= FB_MAX_SIZE / 4) {
        if (!refs && n) fb_fail(b, BIRCH_EINVAL, null_why);
        else fb_fail(b, BIRCH_EVALSIZE, "birch_fb_vector_refs: a vector of 2 GiB or more");
        return 0;
    }
    prealign(b, n * 4, 4);
    for (size_t i = n; i-- > 0;) {
        if (zero_ok && !refs[i]) push_u32(b, 0);
        else push_ref(b, refs[i]);
    }
    push_u32(b, (uint32_t)n);
    return b->err ? 0 : (birch_fb_ref)b->size;
}

birch_fb_ref birch_fb_vector_refs(birch_fb_builder *b, const birch_fb_ref *refs, size_t n)
{
    return vector_of_refs(b, refs, n, 0, "birch_fb_vector_refs: refs is NULL and n is not 0");
}

birch_fb_ref birch_fb_vector_unions(birch_fb_builder *b, const birch_fb_ref *refs, size_t n)
{
    return vector_of_refs(b, refs, n, 1, "birch_fb_vector_unions: refs is NULL and n is not 0");
}

/* A stable merge sort of a[0..n) (tmp: n more) by less-or-equal le. */
typedef int (*fb_le)(uint32_t x, uint32_t y, void *ctx);

static void merge_sort(uint32_t *a, uint32_t *tmp, size_t n, fb_le le, void *ctx)
{
    uint32_t *src = a, *dst = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) dst[k++] = le(src[i], src[j], ctx) ? src[i++] : src[j++];
            while (i < mid) dst[k++] = src[i++];
            while (j < hi) dst[k++] = src[j++];
        }
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
}

typedef struct sort_ctx {
    const birch_fb_builder *b;
    int (*cmp)(const void *, const void *, void *);
    void *ctx;
} sort_ctx;

static int table_le(uint32_t x, uint32_t y, void *c)
{
    const sort_ctx *s = c;
    return s->cmp(at_ref(s->b, x), at_ref(s->b, y), s->ctx) <= 0;
}

birch_fb_ref birch_fb_vector_sorted(birch_fb_builder *b, const birch_fb_ref *refs, size_t n,
                                    int (*cmp)(const void *a, const void *b, void *ctx), void *ctx)
{
    if (!outside(b)) return 0;
    if ((!refs && n) || !cmp) {
        fb_fail(b, BIRCH_EINVAL, "birch_fb_vector_sorted: refs is NULL with n > 0, or cmp is NULL");
        return 0;
    }
    if (n >= FB_MAX_SIZE / 4) {
        fb_fail(b, BIRCH_EVALSIZE, "birch_fb_vector_refs: a vector of 2 GiB or more");
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (!refs[i] || refs[i] > b->size) {
            fb_fail(b, BIRCH_EINVAL, "flatbuffers builder: a reference that is 0 or not to an object built before");
            return 0;
        }
    if (!grow(b, (void **)&b->scratch, &b->scratch_cap, 2 * n + 1, sizeof *b->scratch,
              "birch_fb_vector_sorted: out of memory for the sort"))
        return 0;
    if (n) memcpy(b->scratch, refs, n * sizeof *refs);
    sort_ctx sc = {b, cmp, ctx};
    merge_sort(b->scratch, b->scratch + n, n, table_le, &sc);
    return birch_fb_vector_refs(b, b->scratch, n);
}

birch_fb_ref birch_fb_nested(birch_fb_builder *b, const void *buf, size_t n)
{
    return birch_fb_vector(b, buf, n, 1, 8);
}

void birch_fb_start(birch_fb_builder *b)
{
    if (!outside(b)) return;
    b->in_table = 1;
    b->table_end = b->size;
    unstage(b);
}

/* Holds field id of the open table: is_ref, or size bytes at v aligned to
 * align. */
static void stage(birch_fb_builder *b, unsigned id, const void *v, size_t size, size_t align, birch_fb_ref ref)
{
    if (b->err) return;
    if (!b->seen && !(b->seen = calloc(FB_MAX_IDS / 8 + 1, 1))) {
        fb_fail(b, BIRCH_ENOMEM, "flatbuffers builder: out of memory for the table's fields");
        return;
    }
    if (b->seen[id >> 3] & (1u << (id & 7))) {
        fb_fail(b, BIRCH_EINVAL, "flatbuffers builder: a field added twice to one table");
        return;
    }
    if (!grow(b, (void **)&b->fields, &b->fields_cap, b->nfields + 1, sizeof *b->fields,
              "flatbuffers builder: out of memory for the table's fields"))
        return;
    fb_field *f = &b->fields[b->nfields];
    f->id = (uint16_t)id;
    f->is_ref = v == NULL;
    f->key = (uint32_t)(v ? (align <= 16 ? align : 1) : 4) << 16 | id;
    if (f->is_ref) {
        f->data = ref;
        f->size = 4;
        f->align = 4;
    } else if (size > 0xffff - b->stage_len || b->stage_big) {
        b->stage_big = 1; /* no table holds it: birch_fb_end says so */
        f->data = 0;
        f->size = 0;
        f->align = 1;
        f->key = 1u << 16 | id;
    } else {
        if (!grow(b, (void **)&b->stage, &b->stage_cap, b->stage_len + size, 1,
                  "flatbuffers builder: out of memory for the table's fields"))
            return;
        put(b->stage + b->stage_len, v, size);
        f->data = (uint32_t)b->stage_len;
        f->size = (uint32_t)size;
        f->align = (uint8_t)align;
        b->stage_len += size;
    }
    b->seen[id >> 3] |= (uint8_t)(1u << (id & 7));
    b->nfields++;
}

static int in_table(birch_fb_builder *b, unsigned id)
{
    if (!b) return 0;
    if (!b->in_table) fb_fail(b, BIRCH_EINVAL, "flatbuffers builder: a field added outside birch_fb_start/birch_fb_end");
    else if (id > 0x7ffd) fb_fail(b, BIRCH_EINVAL, "flatbuffers builder: a field id above 32765");
    return !b->err;
}

void birch_fb_add_scalar(birch_fb_builder *b, unsigned id, const void *v, size_t size, int is_default)
{
    if (!in_table(b, id)) return;
    if (!v || (size != 1 && size != 2 && size != 4 && size != 8)) {
        fb_fail(b, BIRCH_EINVAL, "birch_fb_add_scalar: v is NULL or size is not 1, 2, 4 or 8");
        return;
    }
    if (is_default && !b->force_defaults) return;
    stage(b, id, v, size, size, 0);
}

void birch_fb_add_struct(birch_fb_builder *b, unsigned id, const void *v, size_t size, size_t align)
{
    if (!in_table(b, id)) return;
    if (!v || !size || !align || (align & (align - 1)) || align > 16) {
        fb_fail(b, BIRCH_EINVAL, "birch_fb_add_struct: v is NULL, size 0, or align not a power of two 1..16");
        return;
    }
    stage(b, id, v, size, align, 0);
}

void birch_fb_add_ref(birch_fb_builder *b, unsigned id, birch_fb_ref ref)
{
    if (!in_table(b, id) || !ref) return;
    if (ref > b->table_end) { /* must be an object finished before the table started */
        fb_fail(b, BIRCH_EINVAL, "birch_fb_add_ref: the object was not finished before birch_fb_start");
        return;
    }
    stage(b, id, NULL, 4, 4, ref);
}

void birch_fb_add_union_vector(birch_fb_builder *b, unsigned id, birch_fb_ref types, birch_fb_ref values)
{
    if (!in_table(b, id)) return;
    if (!types && !values) return;
    const uint8_t *t = birch_fb_builder_peek(b, types), *v = birch_fb_builder_peek(b, values);
    if (!id || types < 4 || values < 4 || !t || !v || birch_fb_u32_(t) != birch_fb_u32_(v)) {
        fb_fail(b, BIRCH_EINVAL, "birch_fb_add_union_vector: id 0, the types or the values missing, or of "
                                 "different lengths");
        return;
    }
    birch_fb_add_ref(b, id - 1, types);
    birch_fb_add_ref(b, id, values);
}

/* ---- Table layout ---- */

/* Field order: larger alignment first (pushed first: at the table's end),
 * then higher id first (so that in memory, among fields of one alignment,
 * ids increase, as flatc lays them out): larger keys first. */
static int field_le(uint32_t x, uint32_t y, void *c)
{
    const fb_field *f = c;
    return f[x].key >= f[y].key;
}

/* ord[0..n) sorted by field_le: insertion sort for a few fields, merge
 * sort (tmp: n more) for many. */
static void sort_fields(const fb_field *f, uint32_t *ord, uint32_t *tmp, size_t n)
{
    if (n > 24) {
        merge_sort(ord, tmp, n, field_le, (void *)(uintptr_t)f);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        uint32_t x = ord[i], k = f[x].key;
        size_t j = i;
        for (; j > 0 && f[ord[j - 1]].key < k; j--) ord[j] = ord[j - 1];
        ord[j] = x;
    }
}

/* Lays the fields out in the order ord from size s0, as birch_fb_end
 * pushes them (without pushing): sets each field's at, *start (the
 * table's ref) and *inner (where the table's bytes begin, in memory its
 * end: the padding before the first field belongs to no table, so that
 * tables of one shape have one inline size, and share a vtable, wherever
 * they start).  Returns the bytes it takes, padding included. */
static size_t layout(fb_field *f, const uint32_t *ord, size_t n, size_t s0, size_t *start, size_t *inner)
{
    size_t s = s0;
    for (size_t i = 0; i < n; i++) {
        s += pad_for(s, f[ord[i]].size, f[ord[i]].align) + f[ord[i]].size;
        f[ord[i]].at = (uint32_t)s;
    }
    s += pad_for(s, 0, 4) + 4; /* the soffset */
    *start = s;
    *inner = n ? s0 + pad_for(s0, f[ord[0]].size, f[ord[0]].align) : s - 4;
    return s - s0;
}

/* A second order from the first (sorted by field_le): where the next
 * field would need padding, a smaller field that fits without any is
 * pushed first (a 4-byte field into the 4 bytes before an 8-byte one). */
static void fill_gaps(const fb_field *f, const uint32_t *ord, uint32_t *out, size_t n, size_t s0)
{
    static const uint8_t classes[] = {16, 8, 4, 2, 1};
    size_t first[6], next[5];
    for (size_t c = 0, i = 0; c < 5; c++) { /* ord is grouped by class: class c is [first[c], first[c + 1]) */
        first[c] = next[c] = i;
        while (i < n && f[ord[i]].align == classes[c]) i++;
        first[c + 1] = i;
    }
    size_t s = s0;
    for (size_t k = 0; k < n; k++) {
        size_t big = 0;
        while (next[big] == first[big + 1]) big++;
        size_t pick = big;
        if (s & (classes[big] - 1)) {
            size_t low = s & (0 - s); /* what s is aligned to */
            for (size_t c = big + 1; c < 5; c++)
                if (classes[c] <= low && next[c] < first[c + 1]) {
                    pick = c;
                    break;
                }
        }
        uint32_t x = ord[next[pick]++];
        out[k] = x;
        s += pad_for(s, f[x].size, f[x].align) + f[x].size;
    }
}

/* Writes the vtable of the table laid out by layout() to b->vt (vsize
 * bytes); returns its hash and, in *found, an identical one written
 * before (0: none). */
static uint32_t make_vtable(birch_fb_builder *b, size_t vsize, size_t start, size_t inner, birch_fb_ref *found)
{
    uint16_t *vt = b->vt;
    memset(vt, 0, vsize);
    vt[0] = (uint16_t)vsize;
    vt[1] = (uint16_t)(start - inner);
    for (size_t i = 0; i < b->nfields; i++) vt[2 + b->fields[i].id] = (uint16_t)(start - b->fields[i].at);
    uint32_t h = hash_bytes((const uint8_t *)vt, vsize, 0x7ab1e);
    *found = set_find(b, &b->vtables, h, vt, vsize, vtable_eq);
    return h;
}

birch_fb_ref birch_fb_end(birch_fb_builder *b)
{
    if (!b) return 0;
    if (!b->in_table) fb_fail(b, BIRCH_EINVAL, "birch_fb_end: no table started");
    if (b->err) return 0;
    size_t n = b->nfields;
    unsigned nids = 0;
    for (size_t i = 0; i < n; i++)
        if (b->fields[i].id + 1u > nids) nids = b->fields[i].id + 1u;
    size_t vsize = 4 + 2 * (size_t)nids;
    if (!grow(b, (void **)&b->scratch, &b->scratch_cap, 3 * n + 1, sizeof *b->scratch,
              "birch_fb_end: out of memory for the table's layout") ||
        !grow(b, (void **)&b->vt, &b->vt_cap, nids + 2, sizeof *b->vt, "birch_fb_end: out of memory for the vtable"))
        return 0;
    /* Two layouts: by decreasing alignment, and the same with gaps filled.
     * The second is taken when it costs less, counting the vtable each
     * would have to write (none when an identical one is there). */
    uint32_t *ord = b->scratch, *alt = b->scratch + n;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        ord[i] = (uint32_t)i;
        bytes += b->fields[i].size;
    }
    sort_fields(b->fields, ord, alt, n);
    size_t start, inner, size = layout(b->fields, ord, n, b->size, &start, &inner);
    if (size > bytes + 4) { /* padding somewhere: maybe a gap to fill */
        fill_gaps(b->fields, ord, alt, n, b->size);
        size_t start2, inner2, size2 = layout(b->fields, alt, n, b->size, &start2, &inner2);
        if (size2 < size && start2 - inner2 <= 0xffff && vsize <= 0xffff) {
            birch_fb_ref found, found2;
            make_vtable(b, vsize, start2, inner2, &found2);
            size2 += found2 ? 0 : vsize;
            layout(b->fields, ord, n, b->size, &start, &inner);
            make_vtable(b, vsize, start, inner, &found);
            if (size2 < size + (found ? 0 : vsize)) {
                ord = alt;
                layout(b->fields, ord, n, b->size, &start, &inner);
            }
        } else {
            layout(b->fields, ord, n, b->size, &start, &inner); /* the fields' places in ord's layout again */
        }
    }
    if (b->stage_big || start - inner > 0xffff || vsize > 0xffff) {
        fb_fail(b, BIRCH_EVALSIZE, "birch_fb_end: a table or vtable of 64 KiB or more");
        return 0;
    }
    /* The whole table at once, at the places layout() gave: an offset
     * field holds the distance from itself to its object (f->at - ref). */
    size_t s0 = b->size;
    if (!reserve(b, start - s0)) return 0;
    uint8_t *end = end_of(b);
    memset(end - start, 0, start - s0);
    for (size_t i = 0; i < n; i++) {
        const fb_field *f = &b->fields[i];
        uint8_t *to = end - f->at;
        if (f->is_ref) {
            uint32_t off = f->at - f->data;
            memcpy(to, &off, 4);
        } else {
            put(to, b->stage + f->data, f->size);
        }
        if (f->align > b->minalign) b->minalign = f->align;
    }
    if (b->minalign < 4) b->minalign = 4;
    b->size = start;
    /* An identical vtable written before serves (it lies after the table:
     * a negative soffset), else this one goes right before the table. */
    birch_fb_ref vref;
    uint32_t h = make_vtable(b, vsize, start, inner, &vref);
    unstage(b);
    b->in_table = 0;
    if (!vref) {
        push(b, b->vt, vsize);
        if (b->err) return 0;
        vref = (birch_fb_ref)b->size;
        set_add(&b->vtables, h, vref);
    }
    int32_t so = (int32_t)((int64_t)vref - (int64_t)start);
    memcpy(at_ref(b, (birch_fb_ref)start), &so, 4);
    return (birch_fb_ref)start;
}

int birch_fb_finish(birch_fb_builder *b, birch_fb_ref root, const char *ident, unsigned flags, birch_val *out)
{
    if (!b || !out) return bi_err_s(BIRCH_EINVAL, "birch_fb_finish: builder or out is NULL");
    if (b->err) return bi_err(b->err, "birch_fb_finish: an earlier builder call failed: %s", b->why);
    if (b->in_table || b->finished || !root || root > b->size || (ident && strlen(ident) != 4)) {
        fb_fail(b, BIRCH_EINVAL, "birch_fb_finish: a table still open, finished already, a root that is 0 or "
                                 "not built here, or an identifier not 4 bytes");
        return b->err;
    }
    size_t extra = 4 + (ident ? 4 : 0) + (flags & BIRCH_FB_SIZE_PREFIXED ? 4 : 0);
    /* Padded to the largest alignment inside, as flatc pads (at least 4:
     * the root offset's). */
    prealign(b, extra, b->minalign > 4 ? b->minalign : 4);
    if (ident) push(b, ident, 4);
    push_ref(b, root);
    if (flags & BIRCH_FB_SIZE_PREFIXED) push_u32(b, (uint32_t)b->size);
    /* A buffer of 8k + 4 bytes holds nothing 8-aligned: moved 4 bytes down
     * in memory, it starts on an 8-byte boundary like any other. */
    if ((b->size & 7) && reserve(b, 4)) {
        uint8_t *from = end_of(b) - b->size;
        memmove(from - 4, from, b->size);
        b->tail = 4;
    }
    if (b->err) return b->err;
    b->finished = 1;
    out->data = end_of(b) - b->size;
    out->size = b->size;
    return BIRCH_OK;
}

/* ---- The value format ---------------------------------------------------------- */

static const birch_fb_format *fmt_of(const birch_value_format *f)
{
    return f ? f->param : NULL;
}

int birch_fb_describe(const birch_value_format *f, char *buf, size_t cap)
{
    const birch_fb_format *p = fmt_of(f);
    if (!p || !p->root)
        return bi_err_s(BIRCH_EINVAL, "birch_fb_describe: not a flatbuffers format (NULL format, param or root)");
    if (!buf) return bi_err_s(BIRCH_EINVAL, "birch_fb_describe: buf is NULL");
    int n = snprintf(buf, cap, "flatbuffers(%s%s%.4s%s)", p->root->name, p->root->ident ? ", id " : "",
                     p->root->ident ? p->root->ident : "", p->opts.flags & BIRCH_FB_SIZE_PREFIXED ? ", size-prefixed" : "");
    if (n < 0 || (size_t)n >= cap)
        return bi_err(BIRCH_EINVAL, "birch_fb_describe: the description needs %d bytes, buf has %zu", n + 1, cap);
    return n;
}

int birch_fb_size(const birch_value_format *f, const void *value, size_t *size)
{
    const birch_fb_format *p = fmt_of(f);
    const birch_val *v = value;
    if (!p) return bi_err_s(BIRCH_EINVAL, "birch_fb_size: not a flatbuffers format (NULL format or param)");
    if (!v || !size || (!v->data && v->size))
        return bi_err_s(BIRCH_EINVAL, "birch_fb_size: value or size is NULL, or data NULL with size not 0");
    /* A buffer that fails verification is refused as an argument; the
     * verifier's text says why. */
    if (birch_fb_verify(p->root, v->data, v->size, &p->opts, NULL, 0) != BIRCH_OK)
        return bi_err(BIRCH_EINVAL, "birch_fb_size: the value is no valid buffer: %s", birch_errmsg());
    *size = v->size;
    return BIRCH_OK;
}

int birch_fb_encode(const birch_value_format *f, const void *value, void *out, size_t size)
{
    const birch_val *v = value;
    if (!fmt_of(f)) return bi_err_s(BIRCH_EINVAL, "birch_fb_encode: not a flatbuffers format (NULL format or param)");
    if (!v) return bi_err_s(BIRCH_EINVAL, "birch_fb_encode: value is NULL");
    if (v->size != size) return bi_err(BIRCH_EINVAL, "birch_fb_encode: a value of %zu bytes into %zu", v->size, size);
    if (size) memcpy(out, v->data, size);
    return BIRCH_OK;
}

int birch_fb_verify_value(const birch_value_format *f, const void *data, size_t size, char *msg, size_t cap)
{
    const birch_fb_format *p = fmt_of(f);
    if (!p) return bi_err_s(BIRCH_EINVAL, "birch_fb_verify_value: not a flatbuffers format (NULL format or param)");
    return birch_fb_verify(p->root, data, size, &p->opts, msg, cap);
}

const void *birch_fb_view(const birch_value_format *f, const void *data, size_t size)
{
    const birch_fb_format *p = fmt_of(f);
    return p ? birch_fb_root(data, size, p->opts.flags) : NULL;
}
