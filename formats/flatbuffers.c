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

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
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

static int inside(const vctx *v, uint64_t pos, uint64_t n) { return pos <= v->len && n <= v->len - pos; }
static int aligned(const vctx *v, uint64_t pos, uint64_t a)
{
    return a <= 1 || (((uint64_t)(v->lo - v->base) + pos) & (a - 1)) == 0;
}
static uint32_t rd32(const vctx *v, uint64_t pos)
{
    uint32_t x;
    memcpy(&x, v->lo + pos, 4);
    return x;
}
static uint16_t rd16(const vctx *v, uint64_t pos)
{
    uint16_t x;
    memcpy(&x, v->lo + pos, 2);
    return x;
}

/* The uoffset stored at pos: its target, checked to lie inside. */
static int deref(vctx *v, const birch_fb_table *t, const birch_fb_field *f, uint64_t pos, uint64_t *target)
{
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
static int vector(vctx *v, const birch_fb_table *t, const birch_fb_field *f, uint64_t pos, uint64_t elem,
                  uint64_t align, uint64_t *data, uint64_t *count)
{
    uint64_t vp = 0; /* set by deref on success; 0 keeps gcc -O3 from warning */
    int rc = deref(v, t, f, pos, &vp);
    if (rc) return rc;
    if (!aligned(v, vp, 4)) return fail(v, t, f, vp, "vector length not 4-byte aligned");
    if (!inside(v, vp, 4)) return fail(v, t, f, vp, "vector length outside the buffer");
    uint64_t n = rd32(v, vp);
    if (n >= FB_MAX_SIZE / elem) return fail(v, t, f, vp, "vector of %llu elements overflows", (unsigned long long)n);
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

static int string(vctx *v, const birch_fb_table *t, const birch_fb_field *f, uint64_t pos)
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

static uint64_t scalar_size(unsigned k)
{
    static const uint8_t sz[] = {0, 1, 1, 1, 2, 2, 4, 4, 8, 8, 4, 8};
    return k < sizeof sz ? sz[k] : 0;
}

/* The field's inline size and alignment. */
static void inline_shape(const birch_fb_field *f, uint64_t *size, uint64_t *align)
{
    switch (f->kind) {
    case BIRCH_FB_STRUCT: *size = f->size, *align = f->align; break;
    case BIRCH_FB_STRING: case BIRCH_FB_TABLE: case BIRCH_FB_UNION: case BIRCH_FB_VECTOR: case BIRCH_FB_NESTED:
        *size = 4, *align = 4;
        break;
    default: *size = *align = scalar_size(f->kind); break;
    }
}

/* The position of field id in the table at pos, or 0 when absent. */
static uint64_t field_at(const vctx *v, uint64_t pos, uint64_t vt, unsigned id)
{
    uint64_t slot = 4 + 2 * (uint64_t)id;
    if (slot + 2 > rd16(v, vt)) return 0;
    uint16_t off = rd16(v, vt + slot);
    return off ? pos + off : 0;
}

static int field(vctx *v, const birch_fb_table *t, const birch_fb_field *f, uint64_t pos, uint64_t vt,
                 uint64_t tsize)
{
    uint64_t fsize, falign;
    inline_shape(f, &fsize, &falign);
    if (!fsize) return fail(v, t, f, pos, "field of unknown kind %u in the schema", f->kind);
    uint64_t at = field_at(v, pos, vt, f->id);
    uint64_t type_at = 0;
    if (f->kind == BIRCH_FB_UNION) {
        if (f->id == 0) return fail(v, t, f, pos, "union with id 0 in the schema");
        type_at = field_at(v, pos, vt, f->id - 1u);
        if (type_at && (type_at - pos < 4 || type_at - pos + 1 > tsize))
            return fail(v, t, f, type_at, "union type outside its table");
    }
    if (!at) return f->required ? fail(v, t, f, pos, "required field missing") : BIRCH_OK;
    if (at - pos < 4 || at - pos + fsize > tsize) return fail(v, t, f, at, "field outside its table");
    if (!aligned(v, at, falign)) return fail(v, t, f, at, "field not %u-byte aligned", (unsigned)falign);

    uint64_t target, data, n;
    int rc;
    switch (f->kind) {
    case BIRCH_FB_STRING: return string(v, t, f, at);
    case BIRCH_FB_TABLE:
        if ((rc = deref(v, t, f, at, &target))) return rc;
        return table(v, f->table, target);
    case BIRCH_FB_UNION: {
        uint8_t type = type_at ? v->lo[type_at] : 0;
        if (!type) return BIRCH_OK; /* NONE: the value is ignored */
        const birch_fb_table *m = type <= f->u->n ? f->u->members[type - 1] : NULL;
        if ((rc = deref(v, t, f, at, &target))) return rc;
        return m ? table(v, m, target) : BIRCH_OK; /* unknown type: accepted, as flatc's code does */
    }
    case BIRCH_FB_NESTED: {
        if ((rc = vector(v, t, f, at, 1, 1, &data, &n))) return rc;
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
    case BIRCH_FB_VECTOR:
        switch (f->elem) {
        case BIRCH_FB_STRUCT: return vector(v, t, f, at, f->size, f->align, &data, &n);
        case BIRCH_FB_STRING:
        case BIRCH_FB_TABLE:
            if ((rc = vector(v, t, f, at, 4, 4, &data, &n))) return rc;
            for (uint64_t i = 0; i < n; i++) {
                if (f->elem == BIRCH_FB_STRING) rc = string(v, t, f, data + 4 * i);
                else if (!(rc = deref(v, t, f, data + 4 * i, &target))) rc = table(v, f->table, target);
                if (rc) return rc;
            }
            return BIRCH_OK;
        default:
            if (!scalar_size(f->elem)) return fail(v, t, f, pos, "vector of unknown kind %u in the schema", f->elem);
            return vector(v, t, f, at, scalar_size(f->elem), scalar_size(f->elem), &data, &n);
        }
    default: return BIRCH_OK; /* scalars and structs: bounds and alignment above */
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
        int rc = field(v, t, &t->fields[i], pos, (uint64_t)vt, tsize);
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
    if (root->ident && strlen(root->ident) != 4)
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

/* Data lives at the end of buf: [cap - size, cap).  A ref is the size
 * right after its object was pushed: its distance from the end. */
typedef struct fb_slot {
    uint32_t id;
    uint32_t at;
} fb_slot;

struct birch_fb_builder {
    uint8_t *buf;
    size_t cap, size, minalign;
    int err, force_defaults, in_table, finished;
    const char *why; /* the first failure's message (static), for birch_fb_finish */
    size_t table_end;
    fb_slot *slots;
    size_t nslots, slots_cap;
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

static int reserve(birch_fb_builder *b, size_t n)
{
    if (b->err) return 0;
    if (n > FB_MAX_SIZE || b->size + n >= FB_MAX_SIZE) {
        fb_fail(b, BIRCH_EVALSIZE, "flatbuffers builder: the buffer would reach 2 GiB");
        return 0;
    }
    if (b->cap - b->size >= n) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->size < n) cap *= 2;
    uint8_t *nb = malloc(cap); /* malloc aligns to 16; cap stays a multiple of 16 */
    if (!nb) {
        fb_fail(b, BIRCH_ENOMEM, "flatbuffers builder: out of memory growing the buffer");
        return 0;
    }
    if (b->size) memcpy(nb + cap - b->size, b->buf + b->cap - b->size, b->size);
    free(b->buf);
    b->buf = nb;
    b->cap = cap;
    return 1;
}

static void pad(birch_fb_builder *b, size_t n)
{
    if (!n || !reserve(b, n)) return;
    b->size += n;
    memset(b->buf + b->cap - b->size, 0, n);
}

/* Pads so that after len more bytes the size is a multiple of align. */
static void prealign(birch_fb_builder *b, size_t len, size_t align)
{
    if (align > b->minalign) b->minalign = align;
    pad(b, (size_t)(-(b->size + len)) & (align - 1));
}

static void push(birch_fb_builder *b, const void *p, size_t n)
{
    if (!reserve(b, n)) return;
    b->size += n;
    if (n) memcpy(b->buf + b->cap - b->size, p, n);
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
    free(b->slots);
    free(b);
}

void birch_fb_builder_reset(birch_fb_builder *b)
{
    if (!b) return;
    b->size = 0;
    b->minalign = 1;
    b->err = b->in_table = b->finished = 0;
    b->why = NULL;
    b->nslots = 0;
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
    prealign(b, bytes, align);
    push(b, elems, bytes);
    push_u32(b, (uint32_t)n);
    return b->err ? 0 : (birch_fb_ref)b->size;
}

birch_fb_ref birch_fb_vector_refs(birch_fb_builder *b, const birch_fb_ref *refs, size_t n)
{
    if (!outside(b)) return 0;
    if ((!refs && n) || n >= FB_MAX_SIZE / 4) {
        if (!refs && n) fb_fail(b, BIRCH_EINVAL, "birch_fb_vector_refs: refs is NULL and n is not 0");
        else fb_fail(b, BIRCH_EVALSIZE, "birch_fb_vector_refs: a vector of 2 GiB or more");
        return 0;
    }
    prealign(b, n * 4, 4);
    for (size_t i = n; i-- > 0;) push_ref(b, refs[i]);
    push_u32(b, (uint32_t)n);
    return b->err ? 0 : (birch_fb_ref)b->size;
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
    b->nslots = 0;
}

static void add_slot(birch_fb_builder *b, unsigned id)
{
    if (b->err) return;
    for (size_t i = 0; i < b->nslots; i++)
        if (b->slots[i].id == id) {
            fb_fail(b, BIRCH_EINVAL, "flatbuffers builder: a field added twice to one table");
            return;
        }
    if (b->nslots == b->slots_cap) {
        size_t cap = b->slots_cap ? b->slots_cap * 2 : 16;
        fb_slot *ns = realloc(b->slots, cap * sizeof *ns);
        if (!ns) {
            fb_fail(b, BIRCH_ENOMEM, "flatbuffers builder: out of memory for the table's fields");
            return;
        }
        b->slots = ns;
        b->slots_cap = cap;
    }
    b->slots[b->nslots].id = id;
    b->slots[b->nslots].at = (uint32_t)b->size;
    b->nslots++;
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
    prealign(b, 0, size);
    push(b, v, size);
    add_slot(b, id);
}

void birch_fb_add_struct(birch_fb_builder *b, unsigned id, const void *v, size_t size, size_t align)
{
    if (!in_table(b, id)) return;
    if (!v || !size || !align || (align & (align - 1)) || align > 16) {
        fb_fail(b, BIRCH_EINVAL, "birch_fb_add_struct: v is NULL, size 0, or align not a power of two 1..16");
        return;
    }
    prealign(b, size, align);
    push(b, v, size);
    add_slot(b, id);
}

void birch_fb_add_ref(birch_fb_builder *b, unsigned id, birch_fb_ref ref)
{
    if (!in_table(b, id) || !ref) return;
    if (ref > b->table_end) { /* must be an object finished before the table started */
        fb_fail(b, BIRCH_EINVAL, "birch_fb_add_ref: the object was not finished before birch_fb_start");
        return;
    }
    push_ref(b, ref);
    add_slot(b, id);
}

birch_fb_ref birch_fb_end(birch_fb_builder *b)
{
    if (!b) return 0;
    if (!b->in_table) fb_fail(b, BIRCH_EINVAL, "birch_fb_end: no table started");
    if (b->err) return 0;
    push_u32(b, 0); /* the soffset to the vtable, set below */
    size_t start = b->size, tsize = start - b->table_end;
    unsigned nids = 0;
    for (size_t i = 0; i < b->nslots; i++)
        if (b->slots[i].id + 1 > nids) nids = b->slots[i].id + 1;
    size_t vsize = 4 + 2 * (size_t)nids;
    if (tsize > 0xffff || vsize > 0xffff) {
        fb_fail(b, BIRCH_EVALSIZE, "birch_fb_end: a table or vtable of 64 KiB or more");
        return 0;
    }
    uint16_t *vt = calloc(nids + 2, sizeof *vt);
    if (!vt) {
        fb_fail(b, BIRCH_ENOMEM, "birch_fb_end: out of memory for the vtable");
        return 0;
    }
    vt[0] = (uint16_t)vsize;
    vt[1] = (uint16_t)tsize;
    for (size_t i = 0; i < b->nslots; i++) vt[2 + b->slots[i].id] = (uint16_t)(start - b->slots[i].at);
    push(b, vt, vsize);
    free(vt);
    b->in_table = 0;
    if (b->err) return 0;
    int32_t so = (int32_t)vsize; /* the vtable sits right before the table */
    memcpy(b->buf + b->cap - start, &so, 4);
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
    prealign(b, extra, b->minalign > 8 ? b->minalign : 8); /* 8-aligned, whatever it holds */
    if (ident) push(b, ident, 4);
    push_ref(b, root);
    if (flags & BIRCH_FB_SIZE_PREFIXED) push_u32(b, (uint32_t)b->size);
    if (b->err) return b->err;
    b->finished = 1;
    out->data = b->buf + b->cap - b->size;
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
