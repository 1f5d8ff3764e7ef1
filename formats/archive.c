/*
 * archive.c - the archive value format (api/birch_archive.h): the builder
 * (measure and write, one walk of the source in layout order) and the
 * verifier (one walk of the buffer in the same order, with a cursor that
 * only moves forward).  The layout and the checks are documented at the
 * top of birch_archive.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "birch.h"
#include "err.h"
#include "formats.h"

#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define AR_BIG_ENDIAN 1 /* archives are little-endian and read in place */
#else
#define AR_BIG_ENDIAN 0
#endif

/* The generic view of every birch_vec_E and T_src_vec. */
typedef struct ar_span {
    const void *data;
    size_t len;
} ar_span;
_Static_assert(sizeof(birch_vec_u32) == sizeof(ar_span) && offsetof(birch_vec_u32, len) == offsetof(ar_span, len),
               "vector sources share one layout");

/* A source bool is read as its one byte: loading a bool object that holds
 * anything but 0 or 1 (put there by memset or memcpy) is undefined
 * behaviour.  Such a byte is refused, as bool keys refuse it (key.c). */
_Static_assert(sizeof(bool) == 1, "bool members assume a one-byte _Bool");

static const birch_archive_type *type_of(const birch_value_format *f)
{
    return f ? f->param : NULL;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) & ~(a - 1);
}

/* ---- Describe -------------------------------------------------------------------- */

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 16777619u;
    return h;
}

/* A hash of the member list: kinds, names, element types, and (to a
 * bounded depth, which also ends recursive types) those of nested types. */
static uint32_t layout_hash(const birch_archive_type *t, uint32_t h, unsigned depth)
{
    h = fnv(h, t->name, strlen(t->name) + 1);
    h = fnv(h, &t->version, sizeof t->version);
    h = fnv(h, &t->size, sizeof t->size);
    h = fnv(h, &t->align, sizeof t->align);
    if (depth >= 8) return h;
    for (size_t i = 0; i < t->n; i++) {
        const birch_archive_member *m = &t->members[i];
        uint8_t k[3] = {m->kind, m->optional, m->esize};
        uint32_t off[2] = {m->aoff, 0};
        h = fnv(h, k, sizeof k);
        h = fnv(h, off, sizeof off);
        h = fnv(h, m->name, strlen(m->name) + 1);
        if (m->ename) h = fnv(h, m->ename, strlen(m->ename) + 1);
        if (m->type) h = layout_hash(m->type, h, depth + 1);
    }
    return h;
}

int birch_archive_describe(const birch_value_format *f, char *buf, size_t cap)
{
    const birch_archive_type *t = type_of(f);
    if (!t) return bi_err_s(BIRCH_EINVAL, "birch_archive_describe: not an archive format (NULL format or type)");
    if (!buf) return bi_err_s(BIRCH_EINVAL, "birch_archive_describe: buf is NULL");
    if (AR_BIG_ENDIAN)
        return bi_err_s(BIRCH_EINVAL, "birch_archive_describe: archives are not read on big-endian hosts");
    int n = snprintf(buf, cap, "archive(%s v%u, %u bytes, align %u, layout %08x)", t->name, (unsigned)t->version,
                     (unsigned)t->size, (unsigned)t->align, (unsigned)layout_hash(t, 2166136261u, 0));
    if (n < 0 || (size_t)n >= cap)
        return bi_err(BIRCH_EINVAL, "birch_archive_describe: the description needs %d bytes, buf has %zu", n + 1, cap);
    return n;
}

/* ---- Builder ------------------------------------------------------------------------ */

typedef struct build {
    uint8_t *out; /* NULL: measure only */
    uint64_t cap; /* bytes of out */
} build;

#define AR_MAX_SIZE 0xffffffffull

/* Whether [start, start + n) may be written (always, when measuring). */
static int room(const build *b, uint64_t start, uint64_t n)
{
    return !b->out || (start <= b->cap && n <= b->cap - start);
}

static void put_ref(build *b, uint64_t pos, const birch_archive_member *m, uint64_t off, uint64_t len)
{
    if (!b->out) return;
    birch_archive_ref r = {(uint32_t)off, (uint32_t)len};
    memcpy(b->out + pos + m->aoff, &r, sizeof r);
}

/* Writes the scalars of the object src whose struct is at pos, and lays
 * out its children from *end on (moving *end past them). */
static int place(build *b, const birch_archive_type *t, const uint8_t *src, uint64_t pos, uint64_t *end,
                 unsigned depth)
{
    if (depth > BIRCH_ARCHIVE_MAX_DEPTH)
        return bi_err(BIRCH_EINVAL, "archive %s: source nested deeper than %d", t->name, BIRCH_ARCHIVE_MAX_DEPTH);
    for (size_t i = 0; i < t->n; i++) {
        const birch_archive_member *m = &t->members[i];
        const uint8_t *s = src + m->soff;
        uint64_t start, len;
        switch (m->kind) {
        case BIRCH_AK_SCALAR:
            if (b->out) memcpy(b->out + pos + m->aoff, s, m->esize);
            continue;
        case BIRCH_AK_BOOL: {
            uint8_t v;
            memcpy(&v, s, 1);
            if (v > 1)
                return bi_err(BIRCH_EINVAL, "archive %s.%s: bool holds a byte other than 0 or 1", t->name, m->name);
            if (b->out) b->out[pos + m->aoff] = v;
            continue;
        }
        case BIRCH_AK_STRING:
        case BIRCH_AK_BYTES: {
            birch_val v;
            memcpy(&v, s, sizeof v);
            if (m->optional && !v.data) {
                if (v.size)
                    return bi_err(BIRCH_EINVAL, "archive %s.%s: absent (data NULL) but size is not 0", t->name, m->name);
                put_ref(b, pos, m, 0, 0);
                continue;
            }
            if (!v.data && v.size)
                return bi_err(BIRCH_EINVAL, "archive %s.%s: data is NULL and size is not 0", t->name, m->name);
            if (v.size >= AR_MAX_SIZE) return bi_err(BIRCH_EVALSIZE, "archive %s.%s: 4 GiB or more", t->name, m->name);
            if (m->kind == BIRCH_AK_STRING && !bi_utf8_valid(v.data, v.size))
                return bi_err(BIRCH_EINVAL, "archive %s.%s: string is not valid UTF-8", t->name, m->name);
            start = *end;
            len = v.size;
            uint64_t bytes = len + (m->kind == BIRCH_AK_STRING);
            if (!room(b, start, bytes))
                return bi_err(BIRCH_EINVAL, "archive %s.%s: does not fit in the buffer", t->name, m->name);
            if (b->out && len) memcpy(b->out + start, v.data, len); /* the NUL is already there */
            *end = start + bytes;
            break;
        }
        case BIRCH_AK_VEC: {
            ar_span v;
            memcpy(&v, s, sizeof v);
            if (!v.data && v.len)
                return bi_err(BIRCH_EINVAL, "archive %s.%s: vector data is NULL and len is not 0", t->name, m->name);
            if (v.len > AR_MAX_SIZE / m->esize)
                return bi_err(BIRCH_EVALSIZE, "archive %s.%s: vector of 4 GiB or more", t->name, m->name);
            start = align_up(*end, m->esize);
            len = v.len;
            uint64_t bytes = len * m->esize;
            if (!room(b, start, bytes))
                return bi_err(BIRCH_EINVAL, "archive %s.%s: does not fit in the buffer", t->name, m->name);
            if (b->out && bytes) memcpy(b->out + start, v.data, bytes);
            *end = start + bytes;
            break;
        }
        case BIRCH_AK_NESTED: {
            const birch_archive_type *nt = m->type;
            const uint8_t *cs = s;
            if (m->optional) {
                memcpy(&cs, s, sizeof cs);
                if (!cs) {
                    put_ref(b, pos, m, 0, 0);
                    continue;
                }
            }
            start = align_up(*end, nt->align);
            if (!room(b, start, nt->size))
                return bi_err(BIRCH_EINVAL, "archive %s.%s: does not fit in the buffer", t->name, m->name);
            uint64_t sub = start + nt->size;
            int rc = place(b, nt, cs, start, &sub, depth + 1);
            if (rc) return rc;
            len = sub - start;
            *end = sub;
            break;
        }
        case BIRCH_AK_VEC_NESTED: {
            const birch_archive_type *nt = m->type;
            ar_span v;
            memcpy(&v, s, sizeof v);
            if (!v.data && v.len)
                return bi_err(BIRCH_EINVAL, "archive %s.%s: vector data is NULL and len is not 0", t->name, m->name);
            if (v.len > AR_MAX_SIZE / nt->size)
                return bi_err(BIRCH_EVALSIZE, "archive %s.%s: vector of 4 GiB or more", t->name, m->name);
            start = align_up(*end, nt->align);
            len = v.len;
            if (!room(b, start, len * nt->size))
                return bi_err(BIRCH_EINVAL, "archive %s.%s: does not fit in the buffer", t->name, m->name);
            uint64_t sub = start + len * nt->size;
            for (uint64_t j = 0; j < len; j++) {
                if (sub > AR_MAX_SIZE)
                    return bi_err(BIRCH_EVALSIZE, "archive %s.%s: the archive grows to 4 GiB or more", t->name, m->name);
                int rc = place(b, nt, (const uint8_t *)v.data + j * nt->src_size, start + j * nt->size, &sub,
                               depth + 1);
                if (rc) return rc;
            }
            *end = sub;
            break;
        }
        default:
            return bi_err(BIRCH_EINVAL, "archive %s.%s: unknown member kind %u", t->name, m->name, m->kind);
        }
        if (*end > AR_MAX_SIZE) /* so every offset fits in 32 bits */
            return bi_err(BIRCH_EVALSIZE, "archive %s.%s: the archive grows to 4 GiB or more", t->name, m->name);
        put_ref(b, pos, m, start - pos, len);
    }
    return BIRCH_OK;
}

int birch_archive_measure(const birch_archive_type *t, const void *src, size_t *size)
{
    if (!t) return bi_err_s(BIRCH_EINVAL, "birch_archive_measure: schema is NULL");
    if (!src || !size) return bi_err_s(BIRCH_EINVAL, "birch_archive_measure: src or size is NULL");
    if (AR_BIG_ENDIAN)
        return bi_err_s(BIRCH_EINVAL, "birch_archive_measure: archives are not read on big-endian hosts");
    build b = {NULL, 0};
    uint64_t end = t->size;
    int rc = place(&b, t, src, 0, &end, 1);
    if (rc) return rc;
    if (end > AR_MAX_SIZE || end > SIZE_MAX)
        return bi_err(BIRCH_EVALSIZE, "birch_archive_measure: archive %s of 4 GiB or more", t->name);
    *size = (size_t)end;
    return BIRCH_OK;
}

int birch_archive_write(const birch_archive_type *t, const void *src, void *buf, size_t size)
{
    /* Objects inside are aligned relative to the buffer's start, so the
     * buffer itself must be 8-aligned (as every value in a table is) for
     * an 8-byte member deep inside to be aligned in memory. */
    if (!t) return bi_err_s(BIRCH_EINVAL, "birch_archive_write: schema is NULL");
    if (!src || !buf) return bi_err_s(BIRCH_EINVAL, "birch_archive_write: src or buf is NULL");
    if ((uintptr_t)buf & 7) return bi_err_s(BIRCH_EINVAL, "birch_archive_write: buf is not 8-byte aligned");
    if (size < t->size)
        return bi_err(BIRCH_EINVAL, "birch_archive_write: %zu bytes, less than the %s struct (%u)", size, t->name,
                      (unsigned)t->size);
    if (AR_BIG_ENDIAN) return bi_err_s(BIRCH_EINVAL, "birch_archive_write: archives are not read on big-endian hosts");
    memset(buf, 0, size);
    build b = {buf, size};
    uint64_t end = t->size;
    int rc = place(&b, t, src, 0, &end, 1);
    if (rc) return rc;
    if (end != size) /* the size measure gave, exactly */
        return bi_err(BIRCH_EINVAL, "birch_archive_write: archive %s takes %llu bytes, not %zu (use birch_archive_measure)",
                      t->name, (unsigned long long)end, size);
    return BIRCH_OK;
}

int birch_archive_size(const birch_value_format *f, const void *value, size_t *size)
{
    return birch_archive_measure(type_of(f), value, size);
}

int birch_archive_encode(const birch_value_format *f, const void *value, void *out, size_t size)
{
    /* write never writes past size, and refuses a layout of another size. */
    return birch_archive_write(type_of(f), value, out, size);
}

/* ---- Verifier ------------------------------------------------------------------------ */

#define AR_NO_INDEX UINT64_MAX

typedef struct verifier {
    const uint8_t *buf;
    uint64_t size;
    uint64_t claim; /* every byte before it belongs to an object already verified */
    const birch_archive_type *root;
    /* path[d]: the member being verified at depth d, for fail()'s message.
     * Not initialised: verify_obj sets path[depth] before any check at
     * depth, so fail(v, depth, ...) reads only entries 1..depth, all set
     * (clearing all 66 entries per check was half of a small archive's
     * verification time with the value in cache; bench/README.md). */
    struct {
        const birch_archive_member *m;
        uint64_t idx;
    } path[BIRCH_ARCHIVE_MAX_DEPTH + 2];
    char *msg;
    size_t cap;
} verifier;

static int fail(const verifier *v, unsigned depth, const char *fmt, ...) BI_PRINTF(3, 4) BI_COLD;
static int fail(const verifier *v, unsigned depth, const char *fmt, ...)
{
    /* The caller's msg if it gave one, else a local one: either way the
     * text is also birch_errmsg()'s (formatting only on failure). */
    char local[256];
    char *out = v->msg && v->cap ? v->msg : local;
    size_t cap = v->msg && v->cap ? v->cap : sizeof local;
    size_t o = 0;
#define AR_ADD(...)                                                                                  \
    do {                                                                                             \
        if (o < cap) {                                                                               \
            int n_ = snprintf(out + o, cap - o, __VA_ARGS__);                                        \
            if (n_ > 0) o += (size_t)n_;                                                             \
        }                                                                                            \
    } while (0)
    AR_ADD("archive %s", v->root->name);
    for (unsigned d = 1; d <= depth && d < sizeof v->path / sizeof v->path[0]; d++) {
        if (depth > 8 && d == 4) { /* a long path: its first and last three steps */
            AR_ADD("...(%u more)", depth - 6);
            d = depth - 3;
            continue;
        }
        AR_ADD(".%s", v->path[d].m->name);
        if (v->path[d].idx != AR_NO_INDEX) AR_ADD("[%llu]", (unsigned long long)v->path[d].idx);
    }
    AR_ADD(": ");
#undef AR_ADD
    if (o < cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(out + o, cap - o, fmt, ap);
        va_end(ap);
    }
    return bi_err(BIRCH_EFORMAT, "%s", out);
}

/* What a pointer member points at, for messages. */
static const char *what(const birch_archive_member *m, char *buf, size_t cap)
{
    switch (m->kind) {
    case BIRCH_AK_STRING: return "string";
    case BIRCH_AK_BYTES: return "bytes";
    case BIRCH_AK_VEC: snprintf(buf, cap, "vector of %s", m->ename); return buf;
    case BIRCH_AK_NESTED: snprintf(buf, cap, "%s", m->type->name); return buf;
    default: snprintf(buf, cap, "vector of %s", m->type->name); return buf;
    }
}

/* Verifies the members of the object of type t whose struct is at pos
 * (inside [.., range_end) and claimed), at depth. */
static int verify_obj(verifier *v, const birch_archive_type *t, uint64_t pos, uint64_t range_end, unsigned depth)
{
    for (size_t i = 0; i < t->n; i++) {
        const birch_archive_member *m = &t->members[i];
        v->path[depth].m = m;
        v->path[depth].idx = AR_NO_INDEX;
        if (m->kind == BIRCH_AK_SCALAR) continue;
        if (m->kind == BIRCH_AK_BOOL) {
            uint8_t b = v->buf[pos + m->aoff];
            if (b > 1) return fail(v, depth, "bool holds %u, not 0 or 1", b);
            continue;
        }
        birch_archive_ref r;
        memcpy(&r, v->buf + pos + m->aoff, sizeof r);
        if (m->optional && r.off == 0 && r.len == 0) continue; /* absent */
        const birch_archive_type *nt = m->type;
        uint64_t esize, align;
        switch (m->kind) {
        case BIRCH_AK_STRING: esize = 1, align = 1; break;
        case BIRCH_AK_BYTES: esize = 1, align = 1; break;
        case BIRCH_AK_VEC: esize = m->esize, align = m->esize; break;
        case BIRCH_AK_NESTED: esize = 1, align = nt->align; break;
        case BIRCH_AK_VEC_NESTED: esize = nt->size, align = nt->align; break;
        default: return fail(v, depth, "unknown member kind %u", m->kind);
        }
        char wbuf[80];
#define AR_W what(m, wbuf, sizeof wbuf) /* only on failure */
        /* The object's size in bytes must fit in 32 bits.  Tested on the
         * product (both factors are below 2^32, so it cannot wrap), which
         * is len > AR_MAX_SIZE / esize without a division: a divide by a
         * variable cost more than the rest of a member's checks. */
        uint64_t bytes = (uint64_t)r.len * esize;
        if (bytes > AR_MAX_SIZE || (m->kind == BIRCH_AK_STRING && r.len == UINT32_MAX))
            return fail(v, depth, "%s length %u overflows", AR_W, (unsigned)r.len);
        bytes += m->kind == BIRCH_AK_STRING;
        uint64_t start = pos + r.off;
        if (m->kind == BIRCH_AK_NESTED && r.len < nt->size)
            return fail(v, depth, "%s of %u bytes is shorter than its struct (%u bytes)", AR_W, (unsigned)r.len,
                        (unsigned)nt->size);
        /* Inside the parent's range, and so inside the buffer: every range
         * ends inside it (the root's is the buffer; a nested child's passed
         * this test; a vector's elements share their parent's).  One test
         * on the way that passes; on failure, the buffer's first, as the
         * message says which. */
        if (start > range_end || bytes > range_end - start) {
            if (start > v->size || bytes > v->size - start)
                return fail(v, depth, "%s of %llu bytes at %llu is out of bounds (buffer of %llu bytes)", AR_W,
                            (unsigned long long)bytes, (unsigned long long)start, (unsigned long long)v->size);
            return fail(v, depth, "%s of %llu bytes at %llu escapes its parent's range (ends at %llu)", AR_W,
                        (unsigned long long)bytes, (unsigned long long)start, (unsigned long long)range_end);
        }
        if (start < v->claim)
            return fail(v, depth, "%s at %llu overlaps an earlier object (free from %llu)", AR_W,
                        (unsigned long long)start, (unsigned long long)v->claim);
        if (((uintptr_t)(v->buf + start)) & (align - 1))
            return fail(v, depth, "%s at %llu is misaligned (needs %llu)", AR_W, (unsigned long long)start,
                        (unsigned long long)align);
#undef AR_W
        v->claim = start + bytes;
        switch (m->kind) {
        case BIRCH_AK_STRING:
            if (v->buf[start + r.len] != 0) return fail(v, depth, "string at %llu lacks its NUL", (unsigned long long)start);
            if (!bi_utf8_valid(v->buf + start, r.len))
                return fail(v, depth, "string at %llu is not valid UTF-8", (unsigned long long)start);
            break;
        case BIRCH_AK_NESTED: {
            if (depth + 1 > BIRCH_ARCHIVE_MAX_DEPTH)
                return fail(v, depth, "nested deeper than %d", BIRCH_ARCHIVE_MAX_DEPTH);
            v->claim = start + nt->size;
            int rc = verify_obj(v, nt, start, start + bytes, depth + 1);
            if (rc) return rc;
            v->claim = start + bytes;
            break;
        }
        case BIRCH_AK_VEC_NESTED:
            if (r.len && depth + 1 > BIRCH_ARCHIVE_MAX_DEPTH)
                return fail(v, depth, "nested deeper than %d", BIRCH_ARCHIVE_MAX_DEPTH);
            for (uint64_t j = 0; j < r.len; j++) {
                v->path[depth].idx = j;
                int rc = verify_obj(v, nt, start + j * nt->size, range_end, depth + 1);
                if (rc) return rc;
            }
            break;
        default:
            break;
        }
    }
    return BIRCH_OK;
}

int birch_archive_check(const birch_archive_type *t, const void *buf, size_t size, char *msg, size_t cap)
{
    if (!t) return bi_err_s(BIRCH_EINVAL, "birch_archive_check: schema is NULL");
    if (msg && cap) msg[0] = 0;
    verifier v;
    v.buf = buf;
    v.size = size;
    v.claim = t->size;
    v.root = t;
    v.msg = msg;
    v.cap = cap;
    if (AR_BIG_ENDIAN) return fail(&v, 0, "archives are not read on big-endian hosts");
    if (!buf && size) return bi_err_s(BIRCH_EINVAL, "birch_archive_check: buf is NULL and size is not 0");
    if (size < t->size)
        return fail(&v, 0, "buffer of %zu bytes is shorter than the %s struct (%u bytes)", size, t->name,
                    (unsigned)t->size);
    if ((uintptr_t)buf & 7) return fail(&v, 0, "buffer is misaligned (needs 8)");
    return verify_obj(&v, t, 0, size, 1);
}

int birch_archive_verify(const birch_value_format *f, const void *data, size_t size, char *msg, size_t cap)
{
    return birch_archive_check(type_of(f), data, size, msg, cap);
}
