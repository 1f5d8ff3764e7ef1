/*
 * test_corrupt.c - damaged and hostile files through the whole API.
 *
 * Real database files (several page sizes, several tables, overflow
 * values, a free list) are damaged in many ways: random bytes, zeroed
 * pages, swapped pages, truncation, metas pointing past the end or at
 * the wrong pages, and targeted damage to what the engine must validate
 * (child pointers making cycles and shared pages, levels, key counts,
 * node offsets, overflow lengths and pointers, free-list entries naming
 * live or duplicate pages, catalog records).  Each damaged file goes
 * through fz_exercise_path (fuzz/fz_common.c): a read-only open and every
 * read; an open for writing, birch_check, table list, counts, schemas,
 * scans both ways, gets and seeks; a write transaction (puts, overwrites,
 * deletes, a drop, a cursor across the changes, commit); check and the
 * reads again; close, reopen, check.
 *
 * Any result code is accepted; a crash, a sanitizer report, a leak or a
 * hang fails the test (run it under ASan: build.sh test asan).  Where
 * birch_check passes, the reads must agree with each other and the write
 * transaction must succeed and leave a file that still passes; after any
 * commit that returned OK, check must pass or report BIRCH_ECORRUPT.
 *
 * BIRCH_SEED varies the random damage; BIRCH_CORRUPT_SCALE multiplies the
 * number of random cases (BIRCH_CORRUPT_VERBOSE=1 names each case).
 */
#define FZ_NO_ENTRY
#include "../fuzz/fz_common.c"

#include "internal.h"
#include "support.h"

#include <inttypes.h>

/* ---- Base files ------------------------------------------------------------ */

/* A file of nkeys records in tables t, u (and a, b), some overflow values,
 * over three commits with deletes, so the free tree has records. */
static void make_base(const char *path, uint32_t ps, int nkeys)
{
    bt_remove(path);
    birch_options o = bt_opts_fast();
    o.page_size = ps;
    birch_db *db = bt_open(path, &o);
    static const char *names[] = {"t", "u", "a", "b"};
    unsigned char v[3 * 4096];
    for (int c = 0; c < 3; c++) {
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        for (int ti = 0; ti < 4; ti++) {
            birch_table *t = bt_table(w, names[ti], BIRCH_CREATE);
            if (c == 0) BT_OK(birch_table_set_schema(w, t, bt_str("schema")));
            int n = ti < 2 ? nkeys : nkeys / 8;
            for (int i = 0; i < n; i++) {
                char k[32];
                snprintf(k, sizeof k, "key%06d", i);
                if (c == 2 && i % 3 == 0) {
                    BT_OK(birch_del(w, t, bt_str(k)));
                    continue;
                }
                size_t vn = i % 13 == 0 ? 2 * (size_t)ps + 40 : i % 5 == 0 ? ps / 3 : (size_t)(i % 40);
                memset(v, 'a' + c + i, vn);
                bt_put(w, t, k, strlen(k), v, vn);
            }
        }
        BT_OK(birch_txn_commit(w));
    }
    BT_OK(birch_close(db));
    /* The file grows in 1 MiB steps: keep the pages in use (and a spare
     * page, so damage past npages is exercised too). */
    bi_meta m;
    bt_meta_read(path, bt_meta_current(path), &m);
    bt_file_truncate(path, (m.npages + 1) * ps);
}

typedef struct img {
    unsigned char *b;
    uint64_t size;
    uint32_t ps;
    uint64_t npages;
} img;

static void img_load(img *im, const char *path, uint32_t ps)
{
    im->size = bt_file_size(path);
    im->b = malloc(im->size);
    ck_assert_ptr_nonnull(im->b);
    bt_file_read(path, im->b, im->size, 0);
    im->ps = ps;
    im->npages = im->size / ps;
}

static unsigned char *pg(img *im, uint64_t n) { return im->b + n * im->ps; }

static int ptype(img *im, uint64_t n) { return n >= BI_META_PAGES && n < im->npages ? pg(im, n)[0] : 0; }

/* The current meta of an image (the valid one with the higher txnid). */
static bi_meta *cur_meta(img *im)
{
    bi_meta *a = (bi_meta *)(void *)im->b, *b = (bi_meta *)(void *)(im->b + im->ps);
    int va = bt_meta_sealed(a), vb = bt_meta_sealed(b);
    if (va && (!vb || a->txnid >= b->txnid)) return a;
    return b;
}

static uint64_t counter;

/* Writes the image to a scratch file and runs the whole API over it. */
static void run_image(const unsigned char *b, uint64_t size, const char *what)
{
    const char *path = fz_path("corrupt");
    fz_write_file(path, b, size);
    if (getenv("BIRCH_CORRUPT_VERBOSE")) fprintf(stderr, "case %" PRIu64 ": %s\n", counter, what);
    fz_exercise_path(path, counter++);
    fz_remove(path);
}

static void run_img(img *im, const char *what) { run_image(im->b, im->size, what); }

/* A fresh copy of the base image. */
static void img_copy(img *dst, const img *src)
{
    *dst = *src;
    dst->b = malloc(src->size);
    ck_assert_ptr_nonnull(dst->b);
    memcpy(dst->b, src->b, src->size);
}

/* Scratch files go to $FZ_TMPDIR, /dev/shm (fast syncs), $TMPDIR or /tmp
 * (fz_path); the directory is removed at exit. */
static void set_scratch_dir(void) {}

static const uint32_t page_sizes[] = {512, 1024, 4096};

static void base_image(img *im, uint32_t ps)
{
    char *path = bt_path("base");
    make_base(path, ps, ps == 512 ? 300 : 200);
    img_load(im, path, ps);
    bt_remove(path);
    free(path);
}

/* Random cases per kind: dflt times $BIRCH_CORRUPT_SCALE (default 1; soak runs raise it). */
static long iters(long dflt) { return dflt * (long)bt_env_u64("BIRCH_CORRUPT_SCALE", 1); }

/* ---- Whole pages and the file ------------------------------------------------ */

START_TEST(undamaged_files_pass)
{
    set_scratch_dir();
    for (size_t i = 0; i < 3; i++) {
        img im;
        base_image(&im, page_sizes[i]);
        const char *path = fz_path("corrupt");
        fz_write_file(path, im.b, im.size);
        birch_db *db = bt_open(path, NULL);
        bt_check(db); /* the exercise's strict mode is what is tested */
        BT_OK(birch_close(db));
        run_img(&im, "undamaged");
        free(im.b);
    }
}
END_TEST

START_TEST(random_bytes)
{
    set_scratch_dir();
    bt_rng r = {bt_seed(0xc0ffee)};
    for (size_t s = 0; s < 3; s++) {
        img base;
        base_image(&base, page_sizes[s]);
        long n = iters(s == 0 ? 160 : 60);
        for (long it = 0; it < n; it++) {
            img im;
            img_copy(&im, &base);
            int flips = (int)bt_range(&r, 1, 16);
            for (int f = 0; f < flips; f++) {
                uint64_t p = bt_range(&r, BI_META_PAGES, im.npages - 1);
                /* Headers and slots more often than node bytes. */
                uint64_t off = bt_chance(&r, 60) ? bt_below(&r, 96) : bt_below(&r, im.ps);
                unsigned char *b = pg(&im, p) + off;
                *b = bt_chance(&r, 50) ? (unsigned char)(*b ^ (1u << bt_below(&r, 8))) : (unsigned char)bt_rand(&r);
            }
            run_img(&im, "random bytes");
            free(im.b);
        }
        free(base.b);
    }
}
END_TEST

START_TEST(zeroed_and_swapped_pages)
{
    set_scratch_dir();
    bt_rng r = {bt_seed(0x5eed)};
    for (size_t s = 0; s < 3; s++) {
        img base;
        base_image(&base, page_sizes[s]);
        uint64_t step = base.npages > 80 ? base.npages / 80 : 1;
        for (uint64_t p = BI_META_PAGES; p < base.npages; p += step) {
            img im;
            img_copy(&im, &base);
            memset(pg(&im, p), 0, im.ps);
            run_img(&im, "zeroed page");
            free(im.b);
        }
        long n = iters(30);
        for (long it = 0; it < n; it++) {
            img im;
            img_copy(&im, &base);
            uint64_t a = bt_range(&r, BI_META_PAGES, im.npages - 1), b = bt_range(&r, BI_META_PAGES, im.npages - 1);
            unsigned char *tmp = malloc(im.ps);
            memcpy(tmp, pg(&im, a), im.ps);
            memcpy(pg(&im, a), pg(&im, b), im.ps);
            memcpy(pg(&im, b), tmp, im.ps);
            free(tmp);
            if (bt_chance(&r, 50)) { /* make them look in place: fix the pgno fields */
                bi_hdr(pg(&im, a))->pgno = a;
                bi_hdr(pg(&im, b))->pgno = b;
            }
            run_img(&im, "swapped pages");
            free(im.b);
        }
        /* One page copied over another, own number fixed: a shared or
         * duplicated subtree. */
        for (long it = 0; it < n; it++) {
            img im;
            img_copy(&im, &base);
            uint64_t a = bt_range(&r, BI_META_PAGES, im.npages - 1), b = bt_range(&r, BI_META_PAGES, im.npages - 1);
            memcpy(pg(&im, b), pg(&im, a), im.ps);
            bi_hdr(pg(&im, b))->pgno = b;
            run_img(&im, "copied page");
            free(im.b);
        }
        free(base.b);
    }
}
END_TEST

START_TEST(truncated_and_extended)
{
    set_scratch_dir();
    bt_rng r = {bt_seed(0x7a11)};
    img base;
    base_image(&base, 512);
    uint64_t sizes[] = {0, 1, 100, 511, 512, 513, 1023, 1024, 1025, 1536, 2048};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) run_image(base.b, sizes[i], "truncated");
    long n = iters(60);
    for (long it = 0; it < n; it++) {
        uint64_t sz = bt_chance(&r, 50) ? bt_range(&r, 0, base.size) : bt_range(&r, 0, base.npages) * base.ps;
        run_image(base.b, sz, "truncated");
    }
    /* Longer than the meta says, with garbage after the end. */
    unsigned char *big = malloc(base.size + 8 * base.ps);
    memcpy(big, base.b, base.size);
    bt_fill(&r, big + base.size, 8 * base.ps);
    run_image(big, base.size + 8 * base.ps, "garbage tail");
    free(big);
    free(base.b);
}
END_TEST

/* ---- Metas ------------------------------------------------------------------- */

START_TEST(hostile_metas)
{
    set_scratch_dir();
    bt_rng r = {bt_seed(0x3e7a)};
    for (size_t s = 0; s < 3; s++) {
        img base;
        base_image(&base, page_sizes[s]);
        for (int kind = 0; kind < 14; kind++) {
            for (int rep = 0; rep < 6; rep++) {
                img im;
                img_copy(&im, &base);
                bi_meta *m = cur_meta(&im);
                uint64_t any = bt_chance(&r, 30) ? bt_rand(&r) : bt_below(&r, im.npages + 4);
                switch (kind) {
                case 0: m->npages = im.npages + 1 + bt_below(&r, 100); break; /* past the end */
                case 1: m->npages = bt_below(&r, m->npages); break;           /* pages cut off */
                case 2: m->catalog.root = any; break;
                case 3: m->freemap.root = any; break;
                case 4: m->catalog.count = bt_rand(&r) % 5; break;
                case 5: m->freemap.count = bt_rand(&r); break;
                case 6: m->free_pages = bt_rand(&r); break;
                case 7: m->txnid = rep & 1 ? UINT64_MAX : 0; break;
                case 8: m->page_size = im.ps * 2; break;
                case 9: m->catalog.root = m->freemap.root; break; /* a tree on the map's record */
                case 10: m->freemap.root = m->catalog.root; break; /* the map on a tree's root */
                case 11: m->flags = BI_META_WEAK; break;          /* weak, another boot */
                case 12: m->catalog.root = 0; m->catalog.count = 0; break; /* everything leaked */
                default: m->npages = UINT64_MAX / im.ps; break;
                }
                bi_meta_seal(m);
                run_img(&im, "hostile meta");
                free(im.b);
            }
        }
        free(base.b);
    }
}
END_TEST

/* ---- Targeted damage to tree pages ---------------------------------------------- */

/* Page numbers of the image's pages of a type (and a level for branches). */
static size_t pages_of(img *im, int type, uint64_t *out, size_t max)
{
    size_t n = 0;
    for (uint64_t p = BI_META_PAGES; p < im->npages && n < max; p++)
        if (ptype(im, p) == type && bi_hdr(pg(im, p))->pgno == p) out[n++] = p;
    return n;
}

static uint64_t pick(bt_rng *r, const uint64_t *v, size_t n) { return n ? v[bt_below(r, n)] : BI_META_PAGES; }

START_TEST(hostile_tree_pages)
{
    set_scratch_dir();
    bt_rng r = {bt_seed(0x7ee)};
    for (size_t s = 0; s < 3; s++) {
        img base;
        base_image(&base, page_sizes[s]);
        uint64_t br[4096], lf[4096], ov[4096];
        size_t nbr = pages_of(&base, BI_P_BRANCH, br, 4096);
        size_t nlf = pages_of(&base, BI_P_LEAF, lf, 4096);
        size_t nov = pages_of(&base, BI_P_OVERFLOW, ov, 4096);
        ck_assert_uint_gt(nbr, 0);
        ck_assert_uint_gt(nlf, 0);
        ck_assert_uint_gt(nov, 0);
        long n = iters(12);
        for (int kind = 0; kind < 16; kind++) {
            for (long rep = 0; rep < n; rep++) {
                img im;
                img_copy(&im, &base);
                uint64_t b = pick(&r, br, nbr), l = pick(&r, lf, nlf);
                uint8_t *bp = pg(&im, b), *lp = pg(&im, l);
                unsigned bn = bi_nkeys(bp), ln = bi_nkeys(lp);
                unsigned bi = bn ? (unsigned)bt_below(&r, bn) : 0, li = ln ? (unsigned)bt_below(&r, ln) : 0;
                switch (kind) {
                case 0: /* child pointer to itself (a cycle) */
                    bi_set_branch_child(bp, bi, b);
                    break;
                case 1: /* child pointer to another branch or leaf (shared page, wrong level) */
                    bi_set_branch_child(bp, bi, bt_chance(&r, 50) ? pick(&r, br, nbr) : pick(&r, lf, nlf));
                    break;
                case 2: /* every child the same page */
                    for (unsigned i = 0; i < bn; i++) bi_set_branch_child(bp, i, bi_branch_child(bp, 0));
                    break;
                case 3: /* child past the end, in the metas, or an overflow page */
                    bi_set_branch_child(bp, bi, bt_chance(&r, 30) ? bt_below(&r, 2) : bt_chance(&r, 50)
                                                     ? im.npages + bt_below(&r, 1000) : pick(&r, ov, nov));
                    break;
                case 4: /* wrong levels */
                    bi_hdr(bt_chance(&r, 50) ? bp : lp)->level = (uint8_t)bt_rand(&r);
                    break;
                case 5: /* huge or off-by-one key counts */
                    bi_hdr(bt_chance(&r, 50) ? bp : lp)->nkeys = bt_chance(&r, 50) ? 0xffff : (uint16_t)(ln + 1);
                    break;
                case 6: /* upper inside the slots or past the page */
                    bi_hdr(lp)->upper = bt_chance(&r, 50) ? (uint32_t)bt_below(&r, BI_HDR + BI_SLOT * ln + 1)
                                                          : im.ps + (uint32_t)bt_below(&r, 1u << 20);
                    break;
                case 7: /* node offsets anywhere; overlapping nodes */
                    if (ln) bi_slots(lp)[li].off = bt_chance(&r, 50) ? (uint16_t)bt_rand(&r) : bi_slots(lp)[0].off;
                    if (bn) bi_slots(bp)[bi].off = bt_chance(&r, 50) ? (uint16_t)bt_rand(&r) : bi_slots(bp)[0].off;
                    break;
                case 8: /* all nodes of a page the same node: sizes add up past the page */
                    for (unsigned i = 0; i < ln; i++) bi_slots(lp)[i] = bi_slots(lp)[ln / 2];
                    break;
                case 9: /* key lengths */
                    if (ln) bi_slots(lp)[li].klen = (uint16_t)bt_rand(&r);
                    if (bn) bi_slots(bp)[bi].klen = (uint16_t)bt_rand(&r);
                    break;
                case 10: /* inline value length past the page, bad flags */
                    if (ln) {
                        bi_lnode *nd = bi_leaf_node(lp, li);
                        if (bt_chance(&r, 50)) nd->vlen = (uint32_t)bt_rand(&r);
                        else nd->flags = (uint32_t)bt_rand(&r);
                    }
                    break;
                case 11: /* an overflow value: huge length, pointer elsewhere */
                    for (unsigned i = 0; i < ln; i++) {
                        bi_lnode *nd = bi_leaf_node(lp, i);
                        if (!(nd->flags & BI_N_BIG)) continue;
                        uint64_t to = bt_chance(&r, 50) ? pick(&r, ov, nov) : pick(&r, lf, nlf);
                        if (bt_chance(&r, 50)) nd->vlen = (uint32_t)bt_rand(&r);
                        else memcpy(bi_leaf_val(lp, i), &to, 8);
                        break;
                    }
                    break;
                case 12: /* overflow run header: length, type */
                    if (nov) {
                        uint8_t *op = pg(&im, pick(&r, ov, nov));
                        if (bt_chance(&r, 50)) bi_hdr(op)->upper = (uint32_t)bt_rand(&r) % 1000;
                        else bi_hdr(op)->type = (uint8_t)bt_below(&r, 6);
                    }
                    break;
                case 13: /* a leaf turned into a branch (and back) */
                    if (bt_chance(&r, 50)) {
                        bi_hdr(lp)->type = BI_P_BRANCH;
                        bi_hdr(lp)->level = 1;
                    } else {
                        bi_hdr(bp)->type = BI_P_LEAF;
                        bi_hdr(bp)->level = 0;
                    }
                    break;
                case 14: /* keys out of order: swap two slots */
                    if (ln > 1) {
                        bi_slot t = bi_slots(lp)[0];
                        bi_slots(lp)[0] = bi_slots(lp)[ln - 1];
                        bi_slots(lp)[ln - 1] = t;
                    }
                    break;
                default: /* heads that do not match their keys */
                    if (ln) bi_slots(lp)[li].head ^= 0x01000000u;
                    break;
                }
                run_img(&im, "hostile tree page");
                free(im.b);
            }
        }
        free(base.b);
    }
}
END_TEST

/* ---- The free list ---------------------------------------------------------------- */

/* Appends the varint x at *at. */
static void put_v(uint8_t **at, uint64_t x)
{
    do {
        uint8_t c = x & 0x7f;
        x >>= 7;
        *(*at)++ = (uint8_t)(c | (x ? 0x80 : 0));
    } while (x);
}

/* Damages the free-space map's newest record in one of several ways and,
 * except for kind 0, reseals its checksum into the meta (as a birch bug
 * that wrote it would), so that the map's own checks must catch it:
 *   0 a random byte (checksum left wrong)     4 an unknown operation
 *   1 a live page freed                        5 a body longer than the run
 *   2 a free run listed twice                  6 a delta naming itself
 *   3 pages past the end or in the metas       7 pages pending from the future */
static void damage_map(img *im, bt_rng *r, int kind, const uint64_t *live, size_t nlive)
{
    bi_meta *m = cur_meta(im);
    uint8_t *p = pg(im, m->freemap.root);
    bi_fmrec f;
    memcpy(&f, p + BI_HDR, sizeof f);
    uint8_t *body = p + BI_HDR + sizeof f, *at = body + f.body_len - 1; /* the end mark */
    uint64_t room = m->freemap.count * im->ps - (BI_HDR + sizeof f);
    if (kind == 0) {
        body[bt_below(r, f.body_len)] ^= (uint8_t)(1u << bt_below(r, 8));
        return;
    }
    if (f.body_len + 40 > room) return; /* no room for the operation: left undamaged */
    switch (kind) {
    case 1: put_v(&at, BI_FMOP_FREE); put_v(&at, pick(r, live, nlive)); put_v(&at, 1); break;
    case 2: memmove(at, body, 20); at += 20; break; /* the first operation again (and some of the next) */
    case 3: put_v(&at, BI_FMOP_FREE); put_v(&at, bt_chance(r, 50) ? bt_below(r, 2) : im->npages + bt_below(r, 9));
        put_v(&at, 1 + bt_below(r, 3)); break;
    case 4: put_v(&at, 5 + bt_below(r, 200)); break;
    case 5: f.body_len = room + 1 + bt_below(r, 1000); break;
    case 6: f.kind = BI_FM_DELTA; f.prev = m->freemap.root; f.prev_pages = m->freemap.count; f.prev_csum = 0; break;
    default: put_v(&at, BI_FMOP_PEND); put_v(&at, (m->txnid + 1 + bt_below(r, 5)) << 1);
        put_v(&at, pick(r, live, nlive)); put_v(&at, 1); break;
    }
    if (kind <= 4 || kind == 7) {
        *at++ = BI_FMOP_END;
        f.body_len = (uint64_t)(at - body);
    }
    memcpy(p + BI_HDR, &f, sizeof f);
    m->freemap.csum = bi_sum(p, m->freemap.count * im->ps);
    bi_meta_seal(m);
}

START_TEST(hostile_free_list)
{
    set_scratch_dir();
    bt_rng r = {bt_seed(0xf4ee)};
    for (size_t s = 0; s < 3; s++) {
        img base;
        base_image(&base, page_sizes[s]);
        ck_assert_uint_ne(cur_meta(&base)->freemap.root, 0);
        uint64_t live[4096];
        size_t nlive = pages_of(&base, BI_P_LEAF, live, 4096);
        nlive += pages_of(&base, BI_P_BRANCH, live + nlive, 4096 - nlive);
        long n = iters(20);
        for (int kind = 0; kind < 8; kind++) {
            for (long rep = 0; rep < n; rep++) {
                img im;
                img_copy(&im, &base);
                damage_map(&im, &r, kind, live, nlive);
                run_img(&im, "hostile free-space map");
                free(im.b);
            }
        }
        free(base.b);
    }
}
END_TEST

/* ---- The catalog --------------------------------------------------------------------- */

START_TEST(hostile_catalog)
{
    set_scratch_dir();
    bt_rng r = {bt_seed(0xca7)};
    for (size_t s = 0; s < 3; s++) {
        img base;
        base_image(&base, page_sizes[s]);
        uint64_t croot = cur_meta(&base)->catalog.root;
        ck_assert_int_eq(ptype(&base, croot), BI_P_LEAF);
        uint64_t any[4096];
        size_t nany = pages_of(&base, BI_P_LEAF, any, 4096);
        nany += pages_of(&base, BI_P_BRANCH, any + nany, 4096 - nany);
        long n = iters(15);
        for (int kind = 0; kind < 6; kind++) {
            for (long rep = 0; rep < n; rep++) {
                img im;
                img_copy(&im, &base);
                uint8_t *cp = pg(&im, croot);
                unsigned cn = bi_nkeys(cp);
                unsigned i = (unsigned)bt_below(&r, cn);
                bi_lnode *nd = bi_leaf_node(cp, i);
                bi_table_rec *rec = (bi_table_rec *)(void *)bi_leaf_val(cp, i);
                switch (kind) {
                case 0: rec->tree.root = bt_chance(&r, 50) ? pick(&r, any, nany) : bt_rand(&r) % (im.npages + 3); break;
                case 1: rec->tree.count = bt_rand(&r); break;
                case 2: rec->schema_len = (uint32_t)bt_rand(&r) % 3000; break;
                case 3: nd->vlen = (uint32_t)bt_below(&r, sizeof *rec + 40); break;
                case 4: /* a table name with a NUL byte or empty */
                    if (bi_slots(cp)[i].klen) bi_node_key(cp, i)[bt_below(&r, bi_slots(cp)[i].klen)] = 0;
                    else bi_slots(cp)[i].klen = 0;
                    break;
                default: /* two tables, one tree */
                    rec->tree = ((bi_table_rec *)(void *)bi_leaf_val(cp, (i + 1) % cn))->tree;
                    break;
                }
                run_img(&im, "hostile catalog");
                free(im.b);
            }
        }
        free(base.b);
    }
}
END_TEST

/* ---- Garbage ------------------------------------------------------------------------- */

/* Valid metas over random pages, and random files with a sound meta. */
START_TEST(garbage_with_valid_meta)
{
    set_scratch_dir();
    bt_rng r = {bt_seed(0x9a4b)};
    long n = iters(100);
    for (long it = 0; it < n; it++) {
        uint32_t ps = page_sizes[bt_below(&r, 3)];
        uint64_t npages = bt_range(&r, 2, 24);
        uint64_t size = npages * ps;
        unsigned char *b = malloc(size);
        bt_fill(&r, b, size);
        /* Plausible headers on some pages. */
        for (uint64_t p = 2; p < npages; p++) {
            if (bt_chance(&r, 30)) continue;
            bi_phdr *h = bi_hdr(b + p * ps);
            h->type = (uint8_t)bt_range(&r, 2, 4);
            h->level = h->type == BI_P_LEAF ? 0 : (uint8_t)bt_below(&r, 3);
            h->nkeys = (uint16_t)bt_below(&r, 12);
            h->upper = (uint32_t)(ps - bt_below(&r, ps / 2)) & ~7u;
            h->pgno = p;
        }
        bi_meta m;
        memset(&m, 0, sizeof m);
        memcpy(m.magic, BI_MAGIC, 8);
        m.version = BI_FORMAT_VERSION;
        m.page_size = ps;
        m.txnid = bt_range(&r, 1, 100);
        m.npages = npages;
        m.catalog.root = bt_below(&r, npages + 1);
        m.catalog.count = bt_below(&r, 4);
        m.freemap.root = bt_below(&r, npages + 1);
        m.freemap.count = bt_below(&r, 4);
        m.free_pages = bt_below(&r, npages);
        bi_meta_seal(&m);
        memcpy(b, &m, sizeof m);
        memcpy(b + ps, &m, sizeof m);
        run_image(b, size, "garbage pages");
        free(b);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("corrupt");
    TCase *tc = bt_tcase("corrupt");
    tcase_add_test(tc, undamaged_files_pass);
    tcase_add_test(tc, random_bytes);
    tcase_add_test(tc, zeroed_and_swapped_pages);
    tcase_add_test(tc, truncated_and_extended);
    tcase_add_test(tc, hostile_metas);
    tcase_add_test(tc, hostile_tree_pages);
    tcase_add_test(tc, hostile_free_list);
    tcase_add_test(tc, hostile_catalog);
    tcase_add_test(tc, garbage_with_valid_meta);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
