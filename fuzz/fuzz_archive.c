/*
 * fuzz_archive.c - libFuzzer harness for the archive verifier
 * (formats/archive.c, api/birch_archive.h).
 *
 * Input: byte 0 picks one of three archive types (low two bits: FaCust,
 * with nearly every member kind; FaNode, recursive through opt_nested and
 * vec_nested; FaAddr, small) and, with bit 0x80, a buffer 4 bytes off its
 * 8-byte alignment; the rest is the buffer, copied to a heap block of its
 * exact size so that ASan sees any read past it.  The verifier must return
 * BIRCH_OK or BIRCH_EFORMAT (with a message naming the type).  When it
 * accepts, every accessor of every object is walked: each pointer and
 * length must lie inside the buffer, strings end with a NUL, bools are 0
 * or 1, nesting stays within BIRCH_ARCHIVE_MAX_DEPTH.  Then the accepted
 * archive is turned back into its source and rebuilt: the builder must
 * accept it, its output must verify, be no larger, read the same through
 * every accessor, and rebuild to the very same bytes (the layout is
 * deterministic).
 *
 * Seeds (corpus/archive) are real archives the builder wrote; to write
 * them again:
 *
 *   cc -std=gnu11 -DFA_GEN_MAIN -DFZ_NO_ENTRY -Iapi -Iengine -Ifuzz fuzz/fuzz_archive.c \
 *      fuzz/fz_common.c build/libbirch.a -lxxhash -o /tmp/fa_gen && /tmp/fa_gen fuzz/corpus/archive
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birch.h"
#include "fz.h"

#define FA_ADDR_FIELDS(X) X(string, city) X(u16, zip) X(opt_bytes, extra) X(bool, flag)
BIRCH_ARCHIVE(FaAddr, 1, FA_ADDR_FIELDS);

#define FA_CUST_FIELDS(X)                                                                          \
    X(u64, id) X(string, name) X(f64, score) X(vec_u32, tags) X(bytes, blob) X(opt_string, nick)    \
    X(nested, FaAddr, home) X(opt_nested, FaAddr, work) X(vec_nested, FaAddr, addrs)               \
    X(vec_i16, small) X(vec_u64, big) X(i8, tiny) X(bool, vip) X(vec_u8, raw)
BIRCH_ARCHIVE(FaCust, 1, FA_CUST_FIELDS);

#define FA_NODE_FIELDS(X)                                                                          \
    X(u32, v) X(opt_string, label) X(opt_nested, FaNode, next) X(vec_nested, FaNode, kids) X(vec_f64, w)
BIRCH_ARCHIVE(FaNode, 1, FA_NODE_FIELDS);

/* ---- Walking every accessor ----------------------------------------------------- */

typedef struct fa_walk {
    const uint8_t *lo, *hi; /* the buffer */
    uint64_t h;             /* digest of every value read */
} fa_walk;

static void fa_in(const fa_walk *w, const void *p, size_t n)
{
    const uint8_t *q = p;
    FZ_REQUIRE(q >= w->lo && q <= w->hi && n <= (size_t)(w->hi - q), "accessor leaves the buffer: %zu bytes at %td",
               n, q - w->lo);
}

static void fa_mix(fa_walk *w, const void *p, size_t n)
{
    const uint8_t *b = p;
    w->h = (w->h ^ n) * 0x100000001b3ull;
    for (size_t i = 0; i < n; i++) w->h = (w->h ^ b[i]) * 0x100000001b3ull;
}

static void fa_string(fa_walk *w, birch_val s)
{
    FZ_REQUIRE(s.data != NULL, "string without data");
    fa_in(w, s.data, s.size + 1);
    FZ_REQUIRE(((const char *)s.data)[s.size] == 0, "string without NUL");
    fa_mix(w, s.data, s.size);
}

static void fa_bytes(fa_walk *w, birch_val b, int optional)
{
    uint8_t present = b.data != NULL;
    FZ_REQUIRE(present || (optional && b.size == 0), "bytes without data");
    fa_mix(w, &present, 1);
    if (!present) return;
    fa_in(w, b.data, b.size);
    fa_mix(w, b.data, b.size);
}

#define FA_VEC(w, v)                                                                               \
    do {                                                                                           \
        fa_in(w, (v).data, (v).len * sizeof *(v).data);                                            \
        FZ_REQUIRE(((uintptr_t)(v).data & (sizeof *(v).data - 1)) == 0, "vector misaligned");      \
        fa_mix(w, (v).data, (v).len * sizeof *(v).data);                                           \
    } while (0)

#define FA_STRUCT(w, a)                                                                            \
    do {                                                                                           \
        fa_in(w, a, sizeof *(a));                                                                  \
        FZ_REQUIRE(((uintptr_t)(a) & (_Alignof(__typeof__(*(a))) - 1)) == 0, "struct misaligned"); \
    } while (0)

static void fa_walk_addr(fa_walk *w, const FaAddr_arch *a)
{
    FA_STRUCT(w, a);
    fa_string(w, FaAddr_city(a));
    uint16_t zip = FaAddr_zip(a);
    fa_mix(w, &zip, sizeof zip);
    FZ_REQUIRE(FaAddr_has_extra(a) == (FaAddr_extra(a).data != NULL), "has_extra disagrees");
    fa_bytes(w, FaAddr_extra(a), 1);
    FZ_REQUIRE(a->flag <= 1, "bool holds %u", a->flag);
    uint8_t f = FaAddr_flag(a);
    fa_mix(w, &f, 1);
}

static void fa_walk_cust(fa_walk *w, const FaCust_arch *a)
{
    FA_STRUCT(w, a);
    uint64_t id = FaCust_id(a);
    double score = FaCust_score(a);
    int8_t tiny = FaCust_tiny(a);
    fa_mix(w, &id, sizeof id);
    fa_mix(w, &score, sizeof score);
    fa_mix(w, &tiny, sizeof tiny);
    fa_string(w, FaCust_name(a));
    birch_vec_u32 tags = FaCust_tags(a);
    FA_VEC(w, tags);
    fa_bytes(w, FaCust_blob(a), 0);
    uint8_t has = FaCust_has_nick(a);
    fa_mix(w, &has, 1);
    if (has) fa_string(w, FaCust_nick(a));
    else FZ_REQUIRE(FaCust_nick(a).data == NULL, "absent nick with data");
    fa_walk_addr(w, FaCust_home(a));
    has = FaCust_has_work(a);
    fa_mix(w, &has, 1);
    if (has) fa_walk_addr(w, FaCust_work(a));
    else FZ_REQUIRE(FaCust_work(a) == NULL, "absent work with data");
    FaAddr_vec addrs = FaCust_addrs(a);
    fa_in(w, addrs.data, addrs.len * sizeof *addrs.data);
    fa_mix(w, &addrs.len, sizeof addrs.len);
    for (size_t i = 0; i < addrs.len; i++) fa_walk_addr(w, &addrs.data[i]);
    birch_vec_i16 small = FaCust_small(a);
    FA_VEC(w, small);
    birch_vec_u64 big = FaCust_big(a);
    FA_VEC(w, big);
    FZ_REQUIRE(a->vip <= 1, "bool holds %u", a->vip);
    uint8_t vip = FaCust_vip(a);
    fa_mix(w, &vip, 1);
    birch_vec_u8 raw = FaCust_raw(a);
    FA_VEC(w, raw);
}

static void fa_walk_node(fa_walk *w, const FaNode_arch *a, int depth)
{
    FZ_REQUIRE(depth <= BIRCH_ARCHIVE_MAX_DEPTH, "nested %d deep", depth);
    FA_STRUCT(w, a);
    uint32_t v = FaNode_v(a);
    fa_mix(w, &v, sizeof v);
    uint8_t has = FaNode_has_label(a);
    fa_mix(w, &has, 1);
    if (has) fa_string(w, FaNode_label(a));
    has = FaNode_has_next(a);
    fa_mix(w, &has, 1);
    if (has) fa_walk_node(w, FaNode_next(a), depth + 1);
    else FZ_REQUIRE(FaNode_next(a) == NULL, "absent next with data");
    FaNode_vec kids = FaNode_kids(a);
    fa_in(w, kids.data, kids.len * sizeof *kids.data);
    fa_mix(w, &kids.len, sizeof kids.len);
    for (size_t i = 0; i < kids.len; i++) fa_walk_node(w, &kids.data[i], depth + 1);
    birch_vec_f64 wv = FaNode_w(a);
    FA_VEC(w, wv);
}

/* ---- Back to the source ------------------------------------------------------------ */

/* Allocations of one run, freed together. */
typedef struct fa_arena {
    void **p;
    size_t n, cap;
} fa_arena;

static void *fa_alloc(fa_arena *ar, size_t n)
{
    if (ar->n == ar->cap) {
        ar->cap = ar->cap ? ar->cap * 2 : 64;
        ar->p = realloc(ar->p, ar->cap * sizeof *ar->p);
        FZ_REQUIRE(ar->p, "out of memory");
    }
    void *q = calloc(1, n ? n : 1);
    FZ_REQUIRE(q, "out of memory");
    ar->p[ar->n++] = q;
    return q;
}

static void fa_arena_free(fa_arena *ar)
{
    for (size_t i = 0; i < ar->n; i++) free(ar->p[i]);
    free(ar->p);
    memset(ar, 0, sizeof *ar);
}

static FaAddr_src fa_addr_src(const FaAddr_arch *a)
{
    FaAddr_src s;
    memset(&s, 0, sizeof s);
    s.city = FaAddr_city(a);
    s.zip = FaAddr_zip(a);
    s.extra = FaAddr_extra(a);
    s.flag = FaAddr_flag(a);
    return s;
}

static void fa_cust_src(fa_arena *ar, const FaCust_arch *a, FaCust_src *s)
{
    memset(s, 0, sizeof *s);
    s->id = FaCust_id(a);
    s->name = FaCust_name(a);
    s->score = FaCust_score(a);
    s->tags = FaCust_tags(a);
    s->blob = FaCust_blob(a);
    s->nick = FaCust_nick(a);
    s->home = fa_addr_src(FaCust_home(a));
    if (FaCust_has_work(a)) {
        FaAddr_src *w = fa_alloc(ar, sizeof *w);
        *w = fa_addr_src(FaCust_work(a));
        s->work = w;
    }
    FaAddr_vec v = FaCust_addrs(a);
    FaAddr_src *addrs = fa_alloc(ar, v.len * sizeof *addrs);
    for (size_t i = 0; i < v.len; i++) addrs[i] = fa_addr_src(&v.data[i]);
    s->addrs = (FaAddr_src_vec){addrs, v.len};
    s->small = FaCust_small(a);
    s->big = FaCust_big(a);
    s->tiny = FaCust_tiny(a);
    s->vip = FaCust_vip(a);
    s->raw = FaCust_raw(a);
}

static void fa_node_src(fa_arena *ar, const FaNode_arch *a, FaNode_src *s)
{
    memset(s, 0, sizeof *s);
    s->v = FaNode_v(a);
    s->label = FaNode_label(a);
    if (FaNode_has_next(a)) {
        FaNode_src *n = fa_alloc(ar, sizeof *n);
        fa_node_src(ar, FaNode_next(a), n);
        s->next = n;
    }
    FaNode_vec k = FaNode_kids(a);
    FaNode_src *kids = fa_alloc(ar, k.len * sizeof *kids);
    for (size_t i = 0; i < k.len; i++) fa_node_src(ar, &k.data[i], &kids[i]);
    s->kids = (FaNode_src_vec){kids, k.len};
    s->w = FaNode_w(a);
}

/* ---- The three types ------------------------------------------------------------------ */

typedef struct fa_type {
    const birch_archive_type *t;
    void (*walk)(fa_walk *w, const void *root);
    void (*to_src)(fa_arena *ar, const void *root, void *src); /* src: t->src_size bytes */
} fa_type;

static void fa_walk_cust_v(fa_walk *w, const void *r) { fa_walk_cust(w, r); }
static void fa_walk_node_v(fa_walk *w, const void *r) { fa_walk_node(w, r, 1); }
static void fa_walk_addr_v(fa_walk *w, const void *r) { fa_walk_addr(w, r); }
static void fa_cust_src_v(fa_arena *ar, const void *r, void *s) { fa_cust_src(ar, r, s); }
static void fa_node_src_v(fa_arena *ar, const void *r, void *s) { fa_node_src(ar, r, s); }
static void fa_addr_src_v(fa_arena *ar, const void *r, void *s)
{
    (void)ar;
    *(FaAddr_src *)s = fa_addr_src(r);
}

/* The order is part of the corpus format (byte 0 of the seeds): append only. */
static const fa_type fa_types[] = {
    {&FaCust_archive.type, fa_walk_cust_v, fa_cust_src_v},
    {&FaNode_archive.type, fa_walk_node_v, fa_node_src_v},
    {&FaAddr_archive.type, fa_walk_addr_v, fa_addr_src_v},
    {&FaCust_archive.type, fa_walk_cust_v, fa_cust_src_v},
};

/* Verifies buf; when accepted, walks it and returns its digest in *h. */
static int fa_check(const fa_type *ft, const uint8_t *buf, size_t n, uint64_t *h)
{
    char msg[256];
    memset(msg, 0x55, sizeof msg);
    int rc = birch_archive_check(ft->t, buf, n, msg, sizeof msg);
    FZ_REQUIRE(rc == BIRCH_OK || rc == BIRCH_EFORMAT, "verifier returned %d", rc);
    FZ_REQUIRE(memchr(msg, 0, sizeof msg) != NULL, "message not terminated");
    if (rc == BIRCH_EFORMAT) {
        FZ_REQUIRE(strncmp(msg, "archive ", 8) == 0 && strncmp(msg + 8, ft->t->name, strlen(ft->t->name)) == 0,
                   "message '%s'", msg);
        FZ_REQUIRE(birch_archive_check(ft->t, buf, n, NULL, 0) == BIRCH_EFORMAT, "verdict depends on msg");
        return rc;
    }
    FZ_REQUIRE(msg[0] == 0, "accepted with a message");
    fa_walk w = {buf, buf + n, 1469598103934665603ull};
    ft->walk(&w, buf);
    *h = w.h;
    return BIRCH_OK;
}

/* Rebuilds an accepted archive from its source: *out (malloc'd) gets the
 * bytes. */
static size_t fa_rebuild(const fa_type *ft, const uint8_t *buf, uint8_t **out)
{
    fa_arena ar = {0};
    void *src = fa_alloc(&ar, ft->t->src_size);
    ft->to_src(&ar, buf, src);
    size_t n2 = 0;
    int rc = birch_archive_measure(ft->t, src, &n2);
    FZ_REQUIRE(rc == BIRCH_OK, "the builder refuses an accepted archive: %d", rc);
    *out = malloc(n2);
    FZ_REQUIRE(*out, "out of memory");
    rc = birch_archive_write(ft->t, src, *out, n2);
    FZ_REQUIRE(rc == BIRCH_OK, "write returned %d", rc);
    fa_arena_free(&ar);
    return n2;
}

int fz_archive_run(const uint8_t *data, size_t size);
int fz_archive_run(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const fa_type *ft = &fa_types[data[0] & 3];
    size_t skew = data[0] & 0x80 ? 4 : 0, n = size - 1;
    uint8_t *block = malloc(n + skew ? n + skew : 1);
    FZ_REQUIRE(block, "out of memory");
    uint8_t *buf = block + skew; /* malloc is 16-aligned: buf is 8-aligned, or 4 off */
    if (n) memcpy(buf, data + 1, n);
    uint64_t h1;
    if (fa_check(ft, buf, n, &h1) == BIRCH_OK) {
        FZ_REQUIRE(!skew || ft->t->align <= 4, "accepted a misaligned buffer");
        uint8_t *b2, *b3;
        size_t n2 = fa_rebuild(ft, buf, &b2);
        FZ_REQUIRE(n2 <= n, "rebuilt to %zu bytes from %zu", n2, n);
        uint64_t h2;
        FZ_REQUIRE(fa_check(ft, b2, n2, &h2) == BIRCH_OK, "the builder's output fails to verify");
        FZ_REQUIRE(h1 == h2, "the rebuilt archive reads differently");
        size_t n3 = fa_rebuild(ft, b2, &b3);
        FZ_REQUIRE(n3 == n2 && memcmp(b2, b3, n2) == 0, "rebuilding is not deterministic");
        free(b2);
        free(b3);
    }
    free(block);
    return 0;
}

#ifndef FZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fz_archive_run(data, size); }
#endif

/* ---- Seeds ------------------------------------------------------------------------------ */

/* Calls emit with each seed: byte 0 (the type) and a real archive. */
BIRCH_MAYBE_UNUSED_ static void fa_seeds(void (*emit)(const char *name, const uint8_t *p, size_t n, void *ctx), void *ctx)
{
    static const uint32_t tags[] = {1, 2, 3, 0xffffffffu};
    static const int16_t small[] = {-1, 2, -3};
    static const uint64_t big[] = {1ull << 63, 5};
    static const double w[] = {0.5, -2.0};
    FaAddr_src addrs[3];
    memset(addrs, 0, sizeof addrs);
    addrs[0].city = (birch_val){"Oslo", 4};
    addrs[0].zip = 150;
    addrs[1].city = (birch_val){"", 0};
    addrs[1].extra = (birch_val){"\0\1", 2};
    addrs[1].flag = true;
    addrs[2].city = (birch_val){"Z\xc3\xbcrich", 7};
    addrs[2].extra = (birch_val){"", 0};
    FaCust_src c;
    memset(&c, 0, sizeof c);
    c.id = 7;
    c.name = (birch_val){"Ada", 3};
    c.score = 1.25;
    c.tags = (birch_vec_u32){tags, 4};
    c.blob = (birch_val){"\xff\x00\x7f", 3};
    c.nick = (birch_val){"countess", 8};
    c.home = addrs[0];
    c.work = &addrs[2];
    c.addrs = (FaAddr_src_vec){addrs, 3};
    c.small = (birch_vec_i16){small, 3};
    c.big = (birch_vec_u64){big, 2};
    c.tiny = -5;
    c.vip = true;
    c.raw = (birch_vec_u8){(const uint8_t *)"raw", 3};
    FaCust_src empty;
    memset(&empty, 0, sizeof empty);
    empty.name = (birch_val){"", 0};
    empty.home.city = (birch_val){"", 0};
    FaNode_src nodes[6];
    memset(nodes, 0, sizeof nodes);
    for (int i = 0; i < 6; i++) nodes[i].v = (uint32_t)i;
    nodes[0].label = (birch_val){"root", 4};
    nodes[0].next = &nodes[1];
    nodes[1].kids = (FaNode_src_vec){&nodes[2], 2};
    nodes[2].w = (birch_vec_f64){w, 2};
    nodes[3].next = &nodes[4];
    nodes[4].label = (birch_val){"", 0};
    nodes[5].kids = (FaNode_src_vec){NULL, 0};

    struct {
        const char *name;
        uint8_t sel;
        const birch_archive_type *t;
        const void *src;
    } seeds[] = {
        {"cust-full", 0, &FaCust_archive.type, &c},
        {"cust-empty", 0, &FaCust_archive.type, &empty},
        {"node-tree", 1, &FaNode_archive.type, &nodes[0]},
        {"node-leaf", 1, &FaNode_archive.type, &nodes[5]},
        {"addr", 2, &FaAddr_archive.type, &addrs[1]},
        {"addr-skewed", 0x82, &FaAddr_archive.type, &addrs[2]},
    };
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        size_t n = 0;
        FZ_REQUIRE(birch_archive_measure(seeds[i].t, seeds[i].src, &n) == BIRCH_OK, "seed %s", seeds[i].name);
        uint8_t *b = aligned_alloc(8, (n + 1 + 7) & ~(size_t)7);
        FZ_REQUIRE(b, "out of memory");
        FZ_REQUIRE(birch_archive_write(seeds[i].t, seeds[i].src, b, n) == BIRCH_OK, "seed %s", seeds[i].name);
        memmove(b + 1, b, n);
        b[0] = seeds[i].sel;
        emit(seeds[i].name, b, n + 1, ctx);
        free(b);
    }
}

#ifdef FA_GEN_MAIN
static void fa_write_seed(const char *name, const uint8_t *p, size_t n, void *ctx)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", (const char *)ctx, name);
    fz_write_file(path, p, n);
    fz_archive_run(p, n);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    fa_seeds(fa_write_seed, argv[1]);
    return 0;
}
#endif
