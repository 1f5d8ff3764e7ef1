/*
 * support.c - helpers shared by the birch tests (see support.h).
 */
#define _GNU_SOURCE
#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

/* ---- Running ------------------------------------------------------------ */

TCase *bt_tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 900);
    return tc;
}

void bt_add_case(Suite *s, const char *name, const TTest *test)
{
    TCase *tc = bt_tcase(name);
    tcase_add_test(tc, test);
    suite_add_tcase(s, tc);
}

int bt_asan(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return 1;
#else
    return 0;
#endif
#else
    return 0;
#endif
}

int bt_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- Paths ------------------------------------------------------------ */

static pthread_mutex_t dir_lock = PTHREAD_MUTEX_INITIALIZER;
static char dir_path[4096];
static pid_t dir_pid; /* process that made dir_path (Check forks per test) */
static unsigned path_seq;

static void remove_dir(void)
{
    if (dir_pid != getpid() || !dir_path[0]) return;
    DIR *d = opendir(dir_path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[8192];
            snprintf(p, sizeof p, "%s/%s", dir_path, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir_path);
    dir_path[0] = 0;
}

static const char *test_dir(void)
{
    if (dir_pid == getpid() && dir_path[0]) return dir_path;
    const char *base = getenv("BIRCH_TEST_DIR");
    if (!base || !*base) base = "/tmp";
    int n = snprintf(dir_path, sizeof dir_path, "%s/birch-%ld-XXXXXX", base, (long)getpid());
    ck_assert_msg(n > 0 && (size_t)n < sizeof dir_path, "test dir path too long");
    ck_assert_msg(mkdtemp(dir_path) != NULL, "mkdtemp(%s): %s", dir_path, strerror(errno));
    dir_pid = getpid();
    path_seq = 0;
    atexit(remove_dir);
    return dir_path;
}

char *bt_path(const char *tag)
{
    pthread_mutex_lock(&dir_lock);
    const char *dir = test_dir();
    size_t len = strlen(dir) + strlen(tag) + 64;
    char *p = malloc(len);
    ck_assert_ptr_nonnull(p);
    snprintf(p, len, "%s/%s-%ld-%u.db", dir, tag, (long)getpid(), path_seq++);
    pthread_mutex_unlock(&dir_lock);
    unlink(p);
    return p;
}

void bt_remove(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT)
        ck_abort_msg("unlink(%s): %s", path, strerror(errno));
}

uint64_t bt_file_size(const char *path)
{
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "stat(%s): %s", path, strerror(errno));
    return (uint64_t)st.st_size;
}

void bt_file_read(const char *path, void *buf, size_t len, uint64_t off)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_msg(fd >= 0, "open(%s): %s", path, strerror(errno));
    ssize_t n = pread(fd, buf, len, (off_t)off);
    ck_assert_msg(n == (ssize_t)len, "pread(%s, %zu at %" PRIu64 ") = %zd", path, len, off, n);
    close(fd);
}

void bt_file_write(const char *path, const void *buf, size_t len, uint64_t off)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ck_assert_msg(fd >= 0, "open(%s): %s", path, strerror(errno));
    ssize_t n = pwrite(fd, buf, len, (off_t)off);
    ck_assert_msg(n == (ssize_t)len, "pwrite(%s, %zu at %" PRIu64 ") = %zd", path, len, off, n);
    close(fd);
}

void bt_file_truncate(const char *path, uint64_t size)
{
    ck_assert_msg(truncate(path, (off_t)size) == 0, "truncate(%s): %s", path, strerror(errno));
}

void bt_file_copy(const char *from, const char *to)
{
    uint64_t size = bt_file_size(from);
    unsigned char *buf = malloc(size ? size : 1);
    ck_assert_ptr_nonnull(buf);
    if (size) bt_file_read(from, buf, size, 0);
    int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_msg(fd >= 0, "open(%s): %s", to, strerror(errno));
    close(fd);
    if (size) bt_file_write(to, buf, size, 0);
    free(buf);
}

/* ---- Meta pages --------------------------------------------------------- */

void bt_meta_read(const char *path, int slot, bi_meta *m)
{
    bt_file_read(path, m, sizeof *m, 0);
    uint32_t ps = m->page_size;
    ck_assert_msg(ps >= BIRCH_MIN_PAGE_SIZE && ps <= BIRCH_MAX_PAGE_SIZE && !(ps & (ps - 1)),
                  "meta 0 of %s records page size %u", path, ps);
    if (slot) bt_file_read(path, m, sizeof *m, (uint64_t)ps);
}

void bt_meta_write(const char *path, int slot, bi_meta *m, int reseal)
{
    if (reseal) m->checksum = XXH3_64bits(m, offsetof(bi_meta, checksum));
    bi_meta m0;
    bt_file_read(path, &m0, sizeof m0, 0);
    uint32_t ps = slot ? m0.page_size : 0;
    bt_file_write(path, m, sizeof *m, (uint64_t)slot * ps);
}

int bt_meta_sealed(const bi_meta *m)
{
    return m->checksum == XXH3_64bits(m, offsetof(bi_meta, checksum));
}

int bt_meta_current(const char *path)
{
    bi_meta m0, m1;
    bt_meta_read(path, 0, &m0);
    bt_meta_read(path, 1, &m1);
    int ok0 = bt_meta_sealed(&m0), ok1 = bt_meta_sealed(&m1);
    ck_assert_msg(ok0 || ok1, "%s has no valid meta", path);
    if (ok0 && (!ok1 || m0.txnid >= m1.txnid)) return 0;
    return 1;
}

/* ---- Patching a closed file's trees ------------------------------------- */

void bt_image_load(bt_image *im, const char *path)
{
    int cur = bt_meta_current(path);
    im->size = bt_file_size(path);
    im->b = malloc(im->size);
    ck_assert_ptr_nonnull(im->b);
    bt_file_read(path, im->b, im->size, 0);
    im->ps = ((bi_meta *)(void *)im->b)->page_size;
    im->meta = (bi_meta *)(void *)(im->b + (uint64_t)cur * im->ps);
    ck_assert_msg(im->meta->npages * im->ps <= im->size, "%s: the meta's %" PRIu64 " pages are not all in the file",
                  path, im->meta->npages);
}

void bt_image_save(const bt_image *im, const char *path)
{
    bt_file_write(path, im->b, im->size, 0);
}

void bt_image_free(bt_image *im)
{
    free(im->b);
    im->b = NULL;
}

uint8_t *bt_image_page(bt_image *im, uint64_t pgno)
{
    ck_assert_msg(pgno >= BI_META_PAGES && pgno < im->meta->npages, "page %" PRIu64 " is not in the state's %" PRIu64
                  " pages", pgno, im->meta->npages);
    return im->b + pgno * im->ps;
}

/* A table's catalog record, inline in leaf p slot i (a value in an
 * overflow run is not what these tests patch). */
static bi_table_rec *image_rec(uint8_t *p, unsigned i)
{
    bi_lnode *n = bi_leaf_node(p, i);
    ck_assert_msg(!(n->flags & BI_N_BIG) && n->vlen >= sizeof(bi_table_rec), "catalog record of %u bytes%s", n->vlen,
                  n->flags & BI_N_BIG ? " in an overflow run" : "");
    return (bi_table_rec *)(void *)bi_leaf_val(p, i);
}

bi_table_rec *bt_image_table(bt_image *im, const char *name, uint64_t *leaf)
{
    size_t len = strlen(name);
    uint64_t pgno = im->meta->catalog.root;
    ck_assert_msg(pgno != 0, "the catalog is empty");
    for (int depth = 0; depth < BI_MAX_DEPTH; depth++) {
        uint8_t *p = bt_image_page(im, pgno);
        unsigned n = bi_nkeys(p), i;
        if (bi_is_leaf(p)) {
            for (i = 0; i < n; i++)
                if (bi_node_klen(p, i) == len && memcmp(bi_node_key(p, i), name, len) == 0) break;
            ck_assert_msg(i < n, "no table '%s' in the catalog", name);
            *leaf = pgno;
            return image_rec(p, i);
        }
        for (i = 1; i < n && bt_keycmp(bi_node_key(p, i), bi_node_klen(p, i), name, len) <= 0; i++) {}
        pgno = bi_branch_child(p, i - 1);
    }
    ck_abort_msg("the catalog is deeper than %d levels", BI_MAX_DEPTH);
    return NULL;
}

/* Looks for target under page pgno (of the catalog when cat is set,
 * whose leaves' records lead to the tables' roots).  On the way down,
 * up[d] and slot[d] record the page at depth d and the slot taken there.
 * Returns the depth at which target was found, -1 if it was not. */
static int image_find(bt_image *im, uint64_t pgno, uint64_t target, int cat, int d, uint64_t *up, unsigned *slot)
{
    if (pgno == target) return d;
    ck_assert_msg(d < 2 * BI_MAX_DEPTH, "trees deeper than %d levels", BI_MAX_DEPTH);
    uint8_t *p = bt_image_page(im, pgno);
    for (unsigned i = 0; i < bi_nkeys(p); i++) {
        uint64_t child;
        int child_cat = cat;
        if (!bi_is_leaf(p)) {
            child = bi_branch_child(p, i);
        } else if (cat) {
            child = image_rec(p, i)->tree.root;
            child_cat = 0;
        } else {
            return -1; /* a table's leaf: nothing below */
        }
        if (!child) continue; /* an empty table */
        up[d] = pgno;
        slot[d] = i;
        int r = image_find(im, child, target, child_cat, d + 1, up, slot);
        if (r >= 0) return r;
    }
    return -1;
}

void bt_image_reseal(bt_image *im, uint64_t pgno)
{
    uint64_t up[2 * BI_MAX_DEPTH];
    unsigned slot[2 * BI_MAX_DEPTH];
    ck_assert_msg(im->meta->catalog.root != 0, "the catalog is empty");
    int depth = image_find(im, im->meta->catalog.root, pgno, 1, 0, up, slot);
    ck_assert_msg(depth >= 0, "page %" PRIu64 " is in no tree of the current state", pgno);
    uint64_t below = pgno;
    for (int d = depth - 1; d >= 0; d--) {
        uint8_t *p = bt_image_page(im, up[d]);
        uint64_t sum = XXH3_64bits(bt_image_page(im, below), im->ps);
        if (bi_is_leaf(p)) image_rec(p, slot[d])->tree.csum = sum; /* a catalog record names a table's root */
        else bi_set_branch_csum(p, slot[d], sum);
        below = up[d];
    }
    im->meta->catalog.csum = XXH3_64bits(bt_image_page(im, im->meta->catalog.root), im->ps);
    im->meta->checksum = XXH3_64bits(im->meta, offsetof(bi_meta, checksum));
}

/* ---- PRNG --------------------------------------------------------------- */

void bt_fill(bt_rng *r, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n >= 8) {
        uint64_t x = bt_rand(r);
        memcpy(p, &x, 8);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t x = bt_rand(r);
        memcpy(p, &x, n);
    }
}

int bt_strict_check(birch_db *db, uint64_t commit, const char *ctx)
{
    uint64_t every = bt_env_u64("BIRCH_STRICT", 0);
    if (!every || commit % every) return 0;
    char msg[512];
    int rc = birch_check(db, msg, sizeof msg);
    ck_assert_msg(rc == BIRCH_OK, "%s: strict mode: birch_check after commit %llu returned %d: %s (%s)", ctx,
                  (unsigned long long)commit, rc, msg, birch_errmsg());
    return 1;
}

uint64_t bt_env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    if (!s || !*s) return dflt;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    ck_assert_msg(errno == 0 && end && *end == 0, "bad value for %s: '%s'", name, s);
    return (uint64_t)v;
}

uint64_t bt_seed(uint64_t dflt) { return bt_env_u64("BIRCH_SEED", dflt); }

void bt_pattern(void *buf, size_t n, uint64_t seed)
{
    bt_rng r = {bt_mix(seed ^ 0x5eed5eed5eed5eedull)};
    bt_fill(&r, buf, n);
}

long bt_pattern_diff(const void *buf, size_t n, uint64_t seed)
{
    bt_rng r = {bt_mix(seed ^ 0x5eed5eed5eed5eedull)};
    const unsigned char *p = buf;
    size_t i = 0;
    while (i < n) {
        uint64_t x = bt_rand(&r);
        unsigned char b[8];
        memcpy(b, &x, 8);
        for (unsigned j = 0; j < 8 && i < n; j++, i++)
            if (p[i] != b[j]) return (long)i;
    }
    return -1;
}

/* ---- Database helpers ------------------------------------------------- */

birch_options bt_opts(void)
{
    birch_options o;
    birch_options_init(&o);
    return o;
}

birch_options bt_opts_fast(void)
{
    birch_options o = bt_opts();
    o.durability = BIRCH_DURABLE_NONE;
    return o;
}

birch_db *bt_open(const char *path, const birch_options *opts)
{
    birch_db *db = NULL;
    int rc = birch_open(path, opts, &db);
    ck_assert_msg(rc == BIRCH_OK, "birch_open(%s) returned %d (%s)", path, rc, birch_strerror(rc));
    ck_assert_ptr_nonnull(db);
    return db;
}

void bt_check(birch_db *db)
{
    char msg[1024];
    msg[0] = 0;
    int rc = birch_check(db, msg, sizeof msg);
    ck_assert_msg(rc == BIRCH_OK, "birch_check returned %d (%s): %s", rc, birch_strerror(rc), msg);
}

birch_db *bt_reopen(birch_db *db, const char *path, const birch_options *opts)
{
    BT_OK(birch_close(db));
    db = bt_open(path, opts);
    bt_check(db);
    return db;
}

birch_txn *bt_begin(birch_db *db, unsigned flags)
{
    birch_txn *txn = NULL;
    int rc = birch_txn_begin(db, flags, &txn);
    ck_assert_msg(rc == BIRCH_OK, "birch_txn_begin(%#x) returned %d (%s)", flags, rc,
                  birch_strerror(rc));
    ck_assert_ptr_nonnull(txn);
    return txn;
}

birch_table *bt_table(birch_txn *txn, const char *name, unsigned flags)
{
    birch_table *t = NULL;
    int rc = birch_table_open(txn, name, flags, &t);
    ck_assert_msg(rc == BIRCH_OK, "birch_table_open(%s, %#x) returned %d (%s)", name, flags, rc,
                  birch_strerror(rc));
    ck_assert_ptr_nonnull(t);
    return t;
}

void bt_put(birch_txn *txn, birch_table *t, const void *k, size_t kn, const void *v, size_t vn)
{
    int rc = birch_put(txn, t, bt_val(k, kn), bt_val(v, vn), 0);
    ck_assert_msg(rc == BIRCH_OK, "birch_put(klen %zu, vlen %zu) returned %d (%s)", kn, vn, rc,
                  birch_strerror(rc));
}

void bt_put_s(birch_txn *txn, birch_table *t, const char *k, const char *v)
{
    bt_put(txn, t, k, strlen(k), v, strlen(v));
}

void bt_expect(birch_txn *txn, birch_table *t, const void *k, size_t kn, const void *v, size_t vn)
{
    birch_val out = {NULL, 0};
    int rc = birch_get(txn, t, bt_val(k, kn), &out);
    ck_assert_msg(rc == BIRCH_OK, "birch_get(klen %zu) returned %d (%s)", kn, rc,
                  birch_strerror(rc));
    ck_assert_msg(out.size == vn, "birch_get(klen %zu): size %zu, expected %zu", kn, out.size, vn);
    ck_assert_msg(BT_ALIGNED(out.data), "birch_get(klen %zu): value %p not 8-byte aligned", kn,
                  out.data);
    if (vn) {
        ck_assert_ptr_nonnull(out.data);
        ck_assert_msg(memcmp(out.data, v, vn) == 0, "birch_get(klen %zu): value bytes differ", kn);
    }
}

void bt_expect_s(birch_txn *txn, birch_table *t, const char *k, const char *v)
{
    bt_expect(txn, t, k, strlen(k), v, strlen(v));
}

void bt_expect_absent(birch_txn *txn, birch_table *t, const void *k, size_t kn)
{
    birch_val out = {NULL, 0};
    int rc = birch_get(txn, t, bt_val(k, kn), &out);
    ck_assert_msg(rc == BIRCH_NOTFOUND, "birch_get(klen %zu) of an absent key returned %d (%s)",
                  kn, rc, birch_strerror(rc));
}

uint64_t bt_count(birch_txn *txn, birch_table *t)
{
    uint64_t n = UINT64_MAX;
    BT_OK(birch_count(txn, t, &n));
    return n;
}

birch_stat bt_stat(birch_db *db)
{
    birch_stat st;
    memset(&st, 0, sizeof st);
    BT_OK(birch_stat_get(db, &st));
    return st;
}

/* ---- Model ---------------------------------------------------------------- */

int bt_keycmp(const void *a, size_t an, const void *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c < 0 ? -1 : 1;
    return an < bn ? -1 : an > bn;
}

void bt_model_init(bt_model *m) { memset(m, 0, sizeof *m); }

static void item_release(bt_item *it)
{
    if (atomic_fetch_sub_explicit(&it->refs, 1, memory_order_acq_rel) == 1) free(it);
}

void bt_model_free(bt_model *m)
{
    for (size_t i = 0; i < m->n; i++) item_release(m->v[i]);
    free(m->v);
    memset(m, 0, sizeof *m);
}

static void model_reserve(bt_model *m, size_t n)
{
    if (n <= m->cap) return;
    size_t cap = m->cap ? m->cap : 64;
    while (cap < n) cap *= 2;
    bt_item **v = realloc(m->v, cap * sizeof *v);
    ck_assert_ptr_nonnull(v);
    m->v = v;
    m->cap = cap;
}

void bt_model_copy(bt_model *dst, const bt_model *src)
{
    bt_model_free(dst);
    model_reserve(dst, src->n);
    for (size_t i = 0; i < src->n; i++) {
        atomic_fetch_add_explicit(&src->v[i]->refs, 1, memory_order_relaxed);
        dst->v[i] = src->v[i];
    }
    dst->n = src->n;
}

size_t bt_model_lower(const bt_model *m, const void *k, size_t kn, int *found)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (bt_keycmp(m->v[mid]->key, m->v[mid]->klen, k, kn) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (found) *found = lo < m->n && bt_keycmp(m->v[lo]->key, m->v[lo]->klen, k, kn) == 0;
    return lo;
}

const bt_item *bt_model_get(const bt_model *m, const void *k, size_t kn)
{
    int found;
    size_t i = bt_model_lower(m, k, kn, &found);
    return found ? m->v[i] : NULL;
}

void bt_model_put(bt_model *m, const void *k, size_t kn, const void *v, size_t vn)
{
    bt_item *it = malloc(sizeof *it + kn + vn + 1);
    ck_assert_ptr_nonnull(it);
    atomic_init(&it->refs, 1);
    it->klen = kn;
    it->vlen = vn;
    it->key = it->data;
    it->val = it->data + kn;
    if (kn) memcpy(it->key, k, kn);
    if (vn) memcpy(it->val, v, vn);
    int found;
    size_t i = bt_model_lower(m, k, kn, &found);
    if (found) {
        item_release(m->v[i]);
        m->v[i] = it;
        return;
    }
    model_reserve(m, m->n + 1);
    memmove(m->v + i + 1, m->v + i, (m->n - i) * sizeof *m->v);
    m->v[i] = it;
    m->n++;
}

int bt_model_del(bt_model *m, const void *k, size_t kn)
{
    int found;
    size_t i = bt_model_lower(m, k, kn, &found);
    if (!found) return 0;
    item_release(m->v[i]);
    memmove(m->v + i, m->v + i + 1, (m->n - i - 1) * sizeof *m->v);
    m->n--;
    return 1;
}

/* ---- Versioned data ------------------------------------------------------- */

size_t bt_vkey(int i, unsigned char *k)
{
    k[0] = (unsigned char)(i >> 24);
    k[1] = (unsigned char)(i >> 16);
    k[2] = (unsigned char)(i >> 8);
    k[3] = (unsigned char)i;
    size_t extra = (size_t)(i % 37);
    bt_pattern(k + 4, extra, (uint64_t)i);
    return 4 + extra;
}

int bt_vpresent(int i, uint64_t v) { return (i + v) % 5 != 0; }

size_t bt_vlen(int i, uint64_t v, uint32_t ps)
{
    uint64_t h = bt_mix((uint64_t)i * 1000003u + v * 7919u);
    switch (h % 10) {
    case 0: return 0;
    case 1: case 2: case 3: case 4: return (size_t)(h >> 8) % 64;
    case 5: case 6: case 7: return 64 + (size_t)(h >> 8) % (ps / 2);
    case 8: return ps + (size_t)(h >> 8) % ps;
    default: return 2 * (size_t)ps + (size_t)(h >> 8) % (ps + 1);
    }
}

uint64_t bt_vseed(int i, uint64_t v) { return bt_mix(((uint64_t)i << 32) ^ v ^ 0xabcdefull); }

void bt_vwrite(birch_db *db, int nk, uint64_t v)
{
    uint32_t ps = birch_page_size(db);
    unsigned char k[64];
    unsigned char *val = malloc(3 * (size_t)ps + 1);
    ck_assert_ptr_nonnull(val);
    birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
    birch_table *t = bt_table(w, "data", BIRCH_CREATE);
    for (int i = 0; i < nk; i++) {
        size_t kn = bt_vkey(i, k);
        if (bt_vpresent(i, v)) {
            size_t vn = bt_vlen(i, v, ps);
            bt_pattern(val, vn, bt_vseed(i, v));
            bt_put(w, t, k, kn, val, vn);
        } else {
            int rc = birch_del(w, t, bt_val(k, kn));
            ck_assert_msg(rc == BIRCH_OK || rc == BIRCH_NOTFOUND, "del returned %d", rc);
        }
    }
    birch_table *vt = bt_table(w, "ver", BIRCH_CREATE);
    bt_put(w, vt, "v", 1, &v, sizeof v);
    BT_OK(birch_txn_commit(w));
    free(val);
}

int bt_vversion(birch_txn *txn, uint64_t *v, char *err, size_t errsz)
{
    birch_table *vt = NULL;
    int rc = birch_table_open(txn, "ver", 0, &vt);
    birch_val out = {NULL, 0};
    if (rc == BIRCH_OK) rc = birch_get(txn, vt, bt_val("v", 1), &out);
    if (rc != BIRCH_OK || out.size != sizeof *v) {
        snprintf(err, errsz, "version key: rc %d, size %zu", rc, out.size);
        return 0;
    }
    memcpy(v, out.data, sizeof *v);
    return 1;
}

static int vcheck_val(const birch_val *got, int i, uint64_t v, uint32_t ps, const char *how,
                      char *err, size_t errsz)
{
    size_t vn = bt_vlen(i, v, ps);
    if (got->size != vn) {
        snprintf(err, errsz, "version %" PRIu64 ", key %d (%s): %zu bytes, expected %zu", v, i,
                 how, got->size, vn);
        return 1;
    }
    long d = bt_pattern_diff(got->data, vn, bt_vseed(i, v));
    if (d >= 0) {
        snprintf(err, errsz, "version %" PRIu64 ", key %d (%s): byte %ld of %zu differs", v, i,
                 how, d, vn);
        return 1;
    }
    if (!BT_ALIGNED(got->data)) {
        snprintf(err, errsz, "version %" PRIu64 ", key %d (%s): pointer %p not aligned", v, i,
                 how, got->data);
        return 1;
    }
    return 0;
}

int bt_vverify(birch_txn *txn, uint32_t ps, int nk, uint64_t v, char *err, size_t errsz)
{
    birch_table *t = NULL;
    int rc = birch_table_open(txn, "data", 0, &t);
    if (rc) {
        snprintf(err, errsz, "version %" PRIu64 ": table_open returned %d", v, rc);
        return 1;
    }
    unsigned char k[64];
    uint64_t present = 0;
    for (int i = 0; i < nk; i++) {
        size_t kn = bt_vkey(i, k);
        birch_val got = {NULL, 0};
        rc = birch_get(txn, t, bt_val(k, kn), &got);
        if (!bt_vpresent(i, v)) {
            if (rc != BIRCH_NOTFOUND) {
                snprintf(err, errsz, "version %" PRIu64 ", key %d: get of a deleted key gave %d",
                         v, i, rc);
                return 1;
            }
            continue;
        }
        present++;
        if (rc != BIRCH_OK) {
            snprintf(err, errsz, "version %" PRIu64 ", key %d: get returned %d", v, i, rc);
            return 1;
        }
        if (vcheck_val(&got, i, v, ps, "get", err, errsz)) return 1;
    }
    uint64_t cnt = 0;
    rc = birch_count(txn, t, &cnt);
    if (rc || cnt != present) {
        snprintf(err, errsz, "version %" PRIu64 ": count %" PRIu64 " (rc %d), expected %" PRIu64,
                 v, cnt, rc, present);
        return 1;
    }
    birch_cursor *c = NULL;
    rc = birch_cursor_open(txn, t, &c);
    if (rc) {
        snprintf(err, errsz, "cursor_open returned %d", rc);
        return 1;
    }
    for (int dir = 0; dir < 2; dir++) {
        int i = dir ? nk - 1 : 0;
        rc = dir ? birch_cursor_last(c) : birch_cursor_first(c);
        for (;;) {
            while (i >= 0 && i < nk && !bt_vpresent(i, v)) i += dir ? -1 : 1;
            if (i < 0 || i >= nk) {
                if (rc != BIRCH_NOTFOUND) {
                    snprintf(err, errsz, "version %" PRIu64 ": scan went past the end (%d)", v,
                             rc);
                    birch_cursor_close(c);
                    return 1;
                }
                break;
            }
            birch_val key = {NULL, 0}, val = {NULL, 0};
            if (rc == BIRCH_OK) rc = birch_cursor_get(c, &key, &val);
            size_t kn = bt_vkey(i, k);
            if (rc != BIRCH_OK || key.size != kn || memcmp(key.data, k, kn) != 0) {
                snprintf(err, errsz, "version %" PRIu64 ": %s scan at key %d: rc %d, key size %zu",
                         v, dir ? "reverse" : "forward", i, rc, key.size);
                birch_cursor_close(c);
                return 1;
            }
            if (vcheck_val(&val, i, v, ps, dir ? "reverse scan" : "scan", err, errsz)) {
                birch_cursor_close(c);
                return 1;
            }
            rc = dir ? birch_cursor_prev(c) : birch_cursor_next(c);
            i += dir ? -1 : 1;
        }
    }
    birch_cursor_close(c);
    return 0;
}

/* ---- Fault injection ---------------------------------------------------- */

/* The wrapper's file: the posix file and the fault settings. */
typedef struct fault_file {
    bi_file *inner;
    bt_fault *f;
} fault_file;

static fault_file *ff(bi_file *f) { return (fault_file *)(void *)f; }

/* 1 if this call must fail. */
static int trip(bt_fault *f, long *countdown)
{
    if (*countdown <= 0) return 0;
    if (*countdown == 1) {
        f->injected++;
        if (!f->sticky) *countdown = 0;
        return 1;
    }
    (*countdown)--;
    return 0;
}

static int fault_open(void *ctx, const char *path, unsigned flags, bi_file **out)
{
    bt_fault *f = ctx;
    if (trip(f, &f->fail_open)) return f->open_rc;
    fault_file *w = calloc(1, sizeof *w);
    if (!w) return BIRCH_ENOMEM;
    int rc = bi_io_posix.open(NULL, path, flags, &w->inner);
    if (rc) {
        free(w);
        return rc;
    }
    w->f = f;
    *out = (bi_file *)(void *)w;
    return BIRCH_OK;
}

static void fault_close(bi_file *file)
{
    fault_file *w = ff(file);
    bi_io_posix.close(w->inner);
    free(w);
}

static int fault_lock(bi_file *file, int exclusive)
{
    return bi_io_posix.lock(ff(file)->inner, exclusive);
}

static int fault_read(bi_file *file, void *buf, size_t len, uint64_t off)
{
    fault_file *w = ff(file);
    w->f->reads++;
    if (trip(w->f, &w->f->fail_read)) return w->f->read_rc;
    return bi_io_posix.read(w->inner, buf, len, off);
}

static int fault_writev(bi_file *file, const struct iovec *iov, int cnt, uint64_t off)
{
    fault_file *w = ff(file);
    w->f->writes++;
    if (trip(w->f, &w->f->fail_write)) return w->f->write_rc;
    return bi_io_posix.writev(w->inner, iov, cnt, off);
}

/* Counted and failed as writev, written by the real lazy path. */
static int fault_write_lazy(bi_file *file, const struct iovec *iov, int cnt, uint64_t off)
{
    fault_file *w = ff(file);
    w->f->writes++;
    w->f->lazy_writes++;
    if (trip(w->f, &w->f->fail_write)) return w->f->write_rc;
    return bi_io_posix.write_lazy(w->inner, iov, cnt, off);
}

static int fault_sync(bi_file *file)
{
    fault_file *w = ff(file);
    w->f->syncs++;
    if (trip(w->f, &w->f->fail_sync)) return w->f->sync_rc;
    return bi_io_posix.sync(w->inner);
}

static int fault_size(bi_file *file, uint64_t *size)
{
    return bi_io_posix.size(ff(file)->inner, size);
}

static int fault_resize(bi_file *file, uint64_t size)
{
    fault_file *w = ff(file);
    w->f->resizes++;
    if (trip(w->f, &w->f->fail_resize)) return w->f->resize_rc;
    if (size > w->f->max_resize) w->f->max_resize = size;
    return bi_io_posix.resize(w->inner, size);
}

static int fault_map(bi_file *file, uint64_t len, void **addr)
{
    fault_file *w = ff(file);
    w->f->maps++;
    if (trip(w->f, &w->f->fail_map)) return w->f->map_rc;
    return bi_io_posix.map(w->inner, len, addr);
}

static void fault_unmap(bi_file *file, void *addr, uint64_t len)
{
    bi_io_posix.unmap(ff(file)->inner, addr, len);
}

static void fault_drop_resident(bi_file *file, void *addr, uint64_t len)
{
    ff(file)->f->drops++;
    bi_io_posix.drop_resident(ff(file)->inner, addr, len);
}

/* Creation: forwarded (the crash tests' layer, faultio.c, injects faults
 * into it). */
static int fault_create_temp(void *ctx, const char *path, bi_file **out)
{
    bt_fault *f = ctx;
    fault_file *w = calloc(1, sizeof *w);
    if (!w) return BIRCH_ENOMEM;
    int rc = bi_io_posix.create_temp(NULL, path, &w->inner);
    if (rc) {
        free(w);
        return rc;
    }
    w->f = f;
    *out = (bi_file *)(void *)w;
    return BIRCH_OK;
}

static int fault_publish(bi_file *file, const char *path, int replace)
{
    return bi_io_posix.publish(ff(file)->inner, path, replace);
}

static int fault_sync_dir(bi_file *file)
{
    return bi_io_posix.sync_dir(ff(file)->inner);
}

static int fault_at_path(bi_file *file, const char *path)
{
    return bi_io_posix.at_path(ff(file)->inner, path);
}

static const bi_io_ops fault_ops = {
    .open = fault_open,
    .close = fault_close,
    .lock = fault_lock,
    .read = fault_read,
    .writev = fault_writev,
    .write_lazy = fault_write_lazy,
    .sync = fault_sync,
    .size = fault_size,
    .resize = fault_resize,
    .map = fault_map,
    .unmap = fault_unmap,
    .drop_resident = fault_drop_resident,
    .create_temp = fault_create_temp,
    .publish = fault_publish,
    .sync_dir = fault_sync_dir,
    .at_path = fault_at_path,
};

void bt_fault_init(bt_fault *f)
{
    memset(f, 0, sizeof *f);
    f->io.ops = &fault_ops;
    f->io.ctx = f;
    f->write_rc = BIRCH_EIO;
    f->sync_rc = BIRCH_EIO;
    f->read_rc = BIRCH_EIO;
    f->open_rc = BIRCH_EIO;
    f->resize_rc = BIRCH_EFULL;
    f->map_rc = BIRCH_ENOMEM;
}

/* ---- The birch command ------------------------------------------------- */

const char *bt_tool_path(void)
{
    static char tool[PATH_MAX + 16]; /* the same for every caller: set once per process */
    char exe[PATH_MAX - 16];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ck_assert_int_gt(n, 0);
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    *slash = 0; /* <build>/tests */
    slash = strrchr(exe, '/');
    *slash = 0; /* <build> */
    snprintf(tool, sizeof tool, "%s/tools/birch", exe);
    ck_assert_msg(access(tool, X_OK) == 0, "the birch program is not at %s (build the birch_tool target)", tool);
    return tool;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t cap = 1 << 16, n = 0, r;
    char *b = malloc(cap);
    ck_assert_ptr_nonnull(b);
    while ((r = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap) {
            b = realloc(b, cap *= 2);
            ck_assert_ptr_nonnull(b);
        }
    }
    b[n] = 0;
    fclose(f);
    return b;
}

int bt_sh(char **out, char **err, const char *fmt, ...)
{
    char cmd[8192], *o = bt_path("out"), *e = bt_path("err"), full[9000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "(%s) >%s 2>%s </dev/null", cmd, o, e);
    int st = system(full);
    ck_assert_msg(st != -1 && WIFEXITED(st), "could not run: %s", cmd);
    if (out) *out = slurp(o);
    if (err) *err = slurp(e);
    remove(o);
    remove(e);
    free(o);
    free(e);
    return WEXITSTATUS(st);
}
