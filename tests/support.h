/*
 * support.h - helpers shared by the birch tests: temporary paths, a small
 * deterministic PRNG, assertion macros that print birch error names, open
 * helpers, a sorted-array model of a table, and a fault-injecting io layer.
 */
#ifndef BIRCH_TEST_SUPPORT_H
#define BIRCH_TEST_SUPPORT_H

#include <check.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "birch.h"
#include "io.h"
#include "page.h"

/* The engine's internal entry point (engine/internal.h). */
int bi_open_io(const char *path, const birch_options *opts, const bi_io *io, birch_db **db);

/* ---- Running ------------------------------------------------------------ */

/* A test case with a generous timeout (the default of 4 s is too short for
 * sanitizer builds); CK_DEFAULT_TIMEOUT does not override it, but
 * CK_TIMEOUT_MULTIPLIER still applies. */
TCase *bt_tcase(const char *name);
/* A Check test case of one test, so that it runs alone with
 * CK_RUN_CASE=name. */
void bt_add_case(Suite *s, const char *name, const TTest *test);
/* 1 when built with AddressSanitizer (tests scale down or skip timing-free
 * memory bounds it distorts). */
int bt_asan(void);
/* Runs the suite (CK_ENV mode) and returns the process exit status. */
int bt_run(Suite *s);

/* ---- Assertions ------------------------------------------------------- */

#define BT_OK(expr)                                                                  \
    do {                                                                             \
        int bt_rc_ = (expr);                                                         \
        ck_assert_msg(bt_rc_ == BIRCH_OK, "%s returned %d (%s)", #expr, bt_rc_,     \
                      birch_strerror(bt_rc_));                                       \
    } while (0)

#define BT_RC(expr, want)                                                            \
    do {                                                                             \
        int bt_rc_ = (expr), bt_want_ = (want);                                      \
        ck_assert_msg(bt_rc_ == bt_want_, "%s returned %d (%s: %s), expected %d (%s)", \
                      #expr, bt_rc_, birch_strerror(bt_rc_), birch_errmsg(), bt_want_, \
                      birch_strerror(bt_want_));                                     \
    } while (0)

/* birch_errmsg() (the detail of the last error on this thread) holds text. */
#define BT_ERRMSG_HAS(text)                                                          \
    ck_assert_msg(strstr(birch_errmsg(), (text)) != NULL, "birch_errmsg() is \"%s\", expected it to mention \"%s\"", \
                  birch_errmsg(), (text))

#define BT_ALIGNED(ptr) ((((uintptr_t)(const void *)(ptr)) & 7u) == 0)

static inline birch_val bt_val(const void *p, size_t n)
{
    birch_val v;
    v.data = p;
    v.size = n;
    return v;
}
static inline birch_val bt_str(const char *s) { return bt_val(s, strlen(s)); }

/* ---- Paths ------------------------------------------------------------ */

/* A new unique path (malloc'd; free it) for a database file, inside a
 * directory private to this process under $BIRCH_TEST_DIR (or /tmp).  The
 * directory and everything in it are removed when the process exits. */
char *bt_path(const char *tag);
/* Removes a database file now. */
void bt_remove(const char *path);
/* Size of the file at path in bytes (asserts it exists). */
uint64_t bt_file_size(const char *path);
/* Reads / writes bytes of a file (asserting success). */
void bt_file_read(const char *path, void *buf, size_t len, uint64_t off);
void bt_file_write(const char *path, const void *buf, size_t len, uint64_t off);
void bt_file_truncate(const char *path, uint64_t size);
void bt_file_copy(const char *from, const char *to);

/* ---- The birch command ------------------------------------------------- */

/* The path of the birch program of this build (<build>/tools/birch, found
 * from the test program's own path); asserts that it is there. */
const char *bt_tool_path(void);
/* Runs a shell command (formatted) with standard input from /dev/null;
 * returns its exit status.  Its standard output goes to *out (malloc'd,
 * NUL-terminated) unless out is NULL, its standard error to *err
 * likewise. */
int bt_sh(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- Meta pages (engine/page.h layout) --------------------------------- */

/* Reads meta slot 0 or 1 of the file (slot 1 sits at offset page_size, as
 * meta 0 records it). */
void bt_meta_read(const char *path, int slot, bi_meta *m);
/* Writes m to its slot, first resealing its checksum when reseal is set. */
void bt_meta_write(const char *path, int slot, bi_meta *m, int reseal);
/* 1 if m's checksum is right. */
int bt_meta_sealed(const bi_meta *m);
/* The slot of the current meta: the valid one with the higher txnid. */
int bt_meta_current(const char *path);

/* ---- Patching a closed file's trees (engine/page.h layout) --------------- */

/* A database file in memory, whose current state's pages a test changes
 * and then writes back with every checksum above a changed page made
 * right again, as a birch bug would leave the file (not bit rot): only
 * the checks of the structure and the records can tell. */
typedef struct bt_image {
    unsigned char *b;
    uint64_t size;
    uint32_t ps;
    bi_meta *meta; /* the current meta, in b */
} bt_image;

void bt_image_load(bt_image *im, const char *path);
void bt_image_save(const bt_image *im, const char *path);
void bt_image_free(bt_image *im);
/* Page pgno (asserted inside the current state). */
uint8_t *bt_image_page(bt_image *im, uint64_t pgno);
/* The catalog record of table name, inline in its catalog leaf, whose
 * page number goes to *leaf (asserts the table is there). */
bi_table_rec *bt_image_table(bt_image *im, const char *name, uint64_t *leaf);
/* After page pgno of a tree of the current state changed: the checksum
 * its parent keeps for it (a branch node, a table's catalog record, or the
 * meta's catalog root), then each ancestor's in turn, then the meta's own.
 * Never reads pgno itself (its contents may be anything; the other pages
 * of the state must be sound); asserts pgno is in the catalog or a
 * table's tree. */
void bt_image_reseal(bt_image *im, uint64_t pgno);

/* ---- PRNG (splitmix64) -------------------------------------------------- */

typedef struct bt_rng {
    uint64_t s;
} bt_rng;

static inline uint64_t bt_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline uint64_t bt_rand(bt_rng *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    return bt_mix(r->s);
}
/* Uniform in [0, n); n > 0. */
static inline uint64_t bt_below(bt_rng *r, uint64_t n) { return bt_rand(r) % n; }
/* Uniform in [lo, hi]. */
static inline uint64_t bt_range(bt_rng *r, uint64_t lo, uint64_t hi)
{
    return lo + bt_below(r, hi - lo + 1);
}
/* 1 with probability pct/100. */
static inline int bt_chance(bt_rng *r, unsigned pct) { return bt_below(r, 100) < pct; }
void bt_fill(bt_rng *r, void *buf, size_t n);

/* The seed of a randomized test: $BIRCH_SEED if set (decimal or 0x hex),
 * else dflt. */
uint64_t bt_seed(uint64_t dflt);
/* An unsigned number from the environment, or dflt. */
uint64_t bt_env_u64(const char *name, uint64_t dflt);
/* Strict mode (BIRCH_STRICT=N, set by build.sh's debug configuration):
 * randomized model tests call this after every commit, and it runs
 * birch_check on every Nth call (N = 0, the default: never), failing with
 * ctx in the message.  Returns 1 if it checked. */
int bt_strict_check(birch_db *db, uint64_t commit, const char *ctx);

/* Deterministic content: n bytes generated from seed. */
void bt_pattern(void *buf, size_t n, uint64_t seed);
/* Index of the first byte of buf that differs from bt_pattern(seed), or -1. */
long bt_pattern_diff(const void *buf, size_t n, uint64_t seed);

/* ---- Database helpers (assert success) -------------------------------- */

birch_options bt_opts(void);          /* defaults */
birch_options bt_opts_fast(void);     /* defaults with BIRCH_DURABLE_NONE */
birch_db *bt_open(const char *path, const birch_options *opts);
/* birch_check must pass; the message is printed in the failure. */
void bt_check(birch_db *db);
/* Closes, reopens with opts and checks. */
birch_db *bt_reopen(birch_db *db, const char *path, const birch_options *opts);
birch_txn *bt_begin(birch_db *db, unsigned flags);
birch_table *bt_table(birch_txn *txn, const char *name, unsigned flags);
void bt_put(birch_txn *txn, birch_table *t, const void *k, size_t kn, const void *v, size_t vn);
void bt_put_s(birch_txn *txn, birch_table *t, const char *k, const char *v);
/* get must find exactly v (and an 8-byte aligned pointer). */
void bt_expect(birch_txn *txn, birch_table *t, const void *k, size_t kn, const void *v, size_t vn);
void bt_expect_s(birch_txn *txn, birch_table *t, const char *k, const char *v);
void bt_expect_absent(birch_txn *txn, birch_table *t, const void *k, size_t kn);
uint64_t bt_count(birch_txn *txn, birch_table *t);
birch_stat bt_stat(birch_db *db);

/* ---- Model: a sorted array of (key, value) ------------------------------ */

/* An immutable record, shared between model copies by reference count. */
typedef struct bt_item {
    atomic_uint refs;
    size_t klen, vlen;
    unsigned char *key;
    unsigned char *val;
    unsigned char data[]; /* key, then value */
} bt_item;

typedef struct bt_model {
    bt_item **v;
    size_t n, cap;
} bt_model;

/* Keys compare with memcmp, a prefix first (birch.h). */
int bt_keycmp(const void *a, size_t an, const void *b, size_t bn);
void bt_model_init(bt_model *m);
void bt_model_free(bt_model *m);
/* dst becomes a copy of src sharing its items (dst must be initialised). */
void bt_model_copy(bt_model *dst, const bt_model *src);
/* Index of the first item >= key; *found says whether it equals key. */
size_t bt_model_lower(const bt_model *m, const void *k, size_t kn, int *found);
const bt_item *bt_model_get(const bt_model *m, const void *k, size_t kn);
void bt_model_put(bt_model *m, const void *k, size_t kn, const void *v, size_t vn);
/* 1 if the key was there. */
int bt_model_del(bt_model *m, const void *k, size_t kn);

/* ---- Versioned data for snapshot tests --------------------------------- */

/* Table "data" holds nk keys at version v: key i is present iff
 * (i + v) % 5 != 0, with bt_vlen(i, v) bytes of bt_pattern(bt_vseed(i, v))
 * (0 bytes to 3 pages).  Table "ver" holds key "v" -> v (8 bytes).  Every
 * version changes every value, so each commit frees the previous pages. */
size_t bt_vkey(int i, unsigned char *k); /* keys of 4..40 bytes, in order of i */
int bt_vpresent(int i, uint64_t v);
size_t bt_vlen(int i, uint64_t v, uint32_t ps);
uint64_t bt_vseed(int i, uint64_t v);
/* Writes version v in one transaction (asserting success). */
void bt_vwrite(birch_db *db, int nk, uint64_t v);
/* The version a transaction sees; 0 and an error message on failure. */
int bt_vversion(birch_txn *txn, uint64_t *v, char *err, size_t errsz);
/* Checks that txn sees version v exactly (gets, count, both scans); 0 if
 * so, else 1 and a message in err.  Usable from any thread. */
int bt_vverify(birch_txn *txn, uint32_t ps, int nk, uint64_t v, char *err, size_t errsz);

/* ---- Fault injection ---------------------------------------------------- */

/* Wraps bi_io_posix.  Each fail_* countdown, when set to N > 0, makes the Nth
 * following call of that operation fail with the matching *_rc (without
 * doing anything); 0 never fails.  With sticky set, every later call of that
 * operation fails too.  Counters count every call.  Not thread safe: use it
 * from one thread. */
typedef struct bt_fault {
    bi_io io; /* pass &io to bi_open_io */
    long fail_write, fail_sync, fail_resize, fail_map, fail_read, fail_open;
    int write_rc, sync_rc, resize_rc, map_rc, read_rc, open_rc;
    int sticky;
    long writes, syncs, resizes, maps, reads;
    long lazy_writes; /* of writes, those through write_lazy */
    long drops;       /* drop_resident calls */
    long injected;
    /* Largest size passed to resize. */
    uint64_t max_resize;
} bt_fault;

/* Initialises f: no faults, EIO for write/sync/read, EFULL for resize,
 * ENOMEM for map. */
void bt_fault_init(bt_fault *f);

#endif /* BIRCH_TEST_SUPPORT_H */
