/*
 * test_model_threads.c - the randomized model test.
 *
 * At least 200,000 operations (put, overwrite, NOOVERWRITE, APPEND, delete,
 * get, seeks, forward and reverse scans, counts, cursor moves across
 * changes, reads in a read transaction beside the writer, and writes whose
 * key or value points into the database: values got in the same write
 * transaction, cursor keys and values, sub-ranges of a neighbour's value,
 * given to put, put_reserve and del) with keys of 1 to
 * birch_max_key_size() bytes and values of 0 to 3 pages, over two tables,
 * in transactions that commit or abort, with the database closed and
 * reopened (and checked with birch_check) every few dozen transactions;
 * in strict mode (BIRCH_STRICT=N, build.sh's debug configuration) also
 * checked after every Nth commit.
 * Everything is compared with a sorted-array model of each table.
 *
 * A reader thread runs all the time: it begins read transactions, finds the
 * model snapshot committed under that transaction's id (the writer
 * publishes each snapshot before committing it), and checks gets, scans and
 * counts against it while the writer keeps committing; it also re-checks at
 * the end of each round that a value pointer it took at the start still
 * holds the same bytes.
 *
 * Handle orders (issue 11): read transactions kept across many later
 * commits, with cursors checked against their snapshot's model, are ended
 * while their cursors are open; cursors of the writer are left open at
 * its commit or abort; every cursor and transaction of an ended
 * transaction must then answer BIRCH_ETXN, and the cursors are closed in
 * random order, many transactions later, some after the database was
 * closed and reopened (see "Handle orders").
 *
 * The seed is printed in every failure; BIRCH_SEED=<n> reruns one (the
 * writer's operations are fully determined by it; the reader's timing is
 * not).  BIRCH_MODEL_OPS=<n> changes the number of operations (default
 * 200000 for the 4 KiB run; the 512-byte-page run does a quarter).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

enum { NT = 2, RING = 1024, ERRSZ = 768, REOPEN_EVERY = 50, NEST = 4, NSP = 3 };
static const char *const tnames[NT] = {"alpha", "beta"};

/* ---- Snapshots shared with the reader ------------------------------------ */

typedef struct snap {
    atomic_int refs;
    uint64_t id;
    bt_model m[NT];
} snap;

static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static snap *ring[RING];

static void snap_release(snap *s)
{
    if (!s) return;
    if (atomic_fetch_sub(&s->refs, 1) == 1) {
        for (int i = 0; i < NT; i++) bt_model_free(&s->m[i]);
        free(s);
    }
}

static void publish(uint64_t id, const bt_model m[NT])
{
    snap *s = calloc(1, sizeof *s);
    ck_assert_ptr_nonnull(s);
    atomic_init(&s->refs, 1);
    s->id = id;
    for (int i = 0; i < NT; i++) {
        bt_model_init(&s->m[i]);
        bt_model_copy(&s->m[i], &m[i]);
    }
    pthread_mutex_lock(&ring_lock);
    snap *old = ring[id % RING];
    ring[id % RING] = s;
    pthread_mutex_unlock(&ring_lock);
    snap_release(old);
}

static snap *lookup(uint64_t id)
{
    pthread_mutex_lock(&ring_lock);
    snap *s = ring[id % RING];
    if (s && s->id == id)
        atomic_fetch_add(&s->refs, 1);
    else
        s = NULL;
    pthread_mutex_unlock(&ring_lock);
    return s;
}

static void ring_clear(void)
{
    for (int i = 0; i < RING; i++) {
        pthread_mutex_lock(&ring_lock);
        snap *s = ring[i];
        ring[i] = NULL;
        pthread_mutex_unlock(&ring_lock);
        snap_release(s);
    }
}

/* ---- Comparisons (shared by writer and reader; 1 + message on mismatch) --- */

static void key_desc(char *out, size_t n, const void *k, size_t kn)
{
    const unsigned char *p = k;
    size_t o = (size_t)snprintf(out, n, "len %zu [", kn);
    for (size_t i = 0; i < kn && i < 12 && o + 3 < n; i++)
        o += (size_t)snprintf(out + o, n - o, "%02x", p[i]);
    snprintf(out + o, n > o ? n - o : 0, "%s]", kn > 12 ? "..." : "");
}

#define ERR(...) (snprintf(err, ERRSZ, __VA_ARGS__), 1)

/* get(k) against the model; the value pointer is returned in *ptr. */
static int check_get(char *err, birch_txn *txn, birch_table *t, const bt_model *m, const void *k,
                     size_t kn, birch_val *out)
{
    char kd[80];
    const bt_item *it = bt_model_get(m, k, kn);
    birch_val v = {NULL, 0};
    int rc = birch_get(txn, t, bt_val(k, kn), &v);
    if (out) *out = v;
    if (!it) {
        if (rc == BIRCH_NOTFOUND) return 0;
        key_desc(kd, sizeof kd, k, kn);
        return ERR("get(%s) of an absent key returned %d (%s), size %zu", kd, rc,
                   birch_strerror(rc), v.size);
    }
    if (rc != BIRCH_OK) {
        key_desc(kd, sizeof kd, k, kn);
        return ERR("get(%s) returned %d (%s), model has %zu bytes", kd, rc, birch_strerror(rc),
                   it->vlen);
    }
    if (v.size != it->vlen || (v.size && memcmp(v.data, it->val, v.size) != 0)) {
        key_desc(kd, sizeof kd, k, kn);
        return ERR("get(%s): %zu bytes, model has %zu bytes%s", kd, v.size, it->vlen,
                   v.size == it->vlen ? " (contents differ)" : "");
    }
    if (!BT_ALIGNED(v.data)) {
        key_desc(kd, sizeof kd, k, kn);
        return ERR("get(%s): value pointer %p not 8-byte aligned", kd, v.data);
    }
    return 0;
}

/* The cursor's record equals model item i. */
static int check_at(char *err, birch_cursor *c, const bt_model *m, size_t i, const char *what)
{
    birch_val k = {NULL, 0}, v = {NULL, 0};
    int rc = birch_cursor_get(c, &k, &v);
    char kd[80], md[80];
    const bt_item *it = m->v[i];
    key_desc(md, sizeof md, it->key, it->klen);
    if (rc != BIRCH_OK)
        return ERR("%s: cursor_get returned %d (%s), model item %zu/%zu is %s", what, rc,
                   birch_strerror(rc), i, m->n, md);
    if (bt_keycmp(k.data, k.size, it->key, it->klen) != 0) {
        key_desc(kd, sizeof kd, k.data, k.size);
        return ERR("%s: cursor on key %s, model item %zu/%zu is %s", what, kd, i, m->n, md);
    }
    if (v.size != it->vlen || (v.size && memcmp(v.data, it->val, v.size) != 0))
        return ERR("%s: cursor value of %s is %zu bytes, model %zu%s", what, md, v.size, it->vlen,
                   v.size == it->vlen ? " (contents differ)" : "");
    if (!BT_ALIGNED(v.data))
        return ERR("%s: cursor value pointer %p of %s not 8-byte aligned", what, v.data, md);
    return 0;
}

enum { W_FIRST, W_LAST, W_SEEK_NEXT, W_SEEK_PREV };

/* A walk of up to steps records (all if steps < 0) from first, last or a
 * seek, forward or backward, compared with the model. */
static int check_walk(char *err, birch_txn *txn, birch_table *t, const bt_model *m, int mode,
                      const void *k, size_t kn, long steps)
{
    static const char *const names[] = {"first/next", "last/prev", "seek/next", "seek/prev"};
    birch_cursor *c = NULL;
    int rc = birch_cursor_open(txn, t, &c);
    if (rc) return ERR("cursor_open returned %d (%s)", rc, birch_strerror(rc));
    long i;
    int dir = (mode == W_FIRST || mode == W_SEEK_NEXT) ? 1 : -1;
    if (mode == W_FIRST) {
        rc = birch_cursor_first(c);
        i = 0;
    } else if (mode == W_LAST) {
        rc = birch_cursor_last(c);
        i = (long)m->n - 1;
    } else {
        rc = birch_cursor_seek(c, bt_val(k, kn));
        i = (long)bt_model_lower(m, k, kn, NULL);
        if ((size_t)i == m->n) i = -1;
    }
    int bad = 0;
    if (i < 0 || (size_t)i >= m->n) {
        if (rc != BIRCH_NOTFOUND)
            bad = ERR("%s: start on an empty range returned %d (%s)", names[mode], rc,
                      birch_strerror(rc));
        birch_cursor_close(c);
        return bad;
    }
    if (rc != BIRCH_OK) {
        bad = ERR("%s: start returned %d (%s), model has item %ld/%zu", names[mode], rc,
                  birch_strerror(rc), i, m->n);
        birch_cursor_close(c);
        return bad;
    }
    for (long s = 0; steps < 0 || s < steps; s++) {
        char what[64];
        snprintf(what, sizeof what, "%s step %ld", names[mode], s);
        if ((bad = check_at(err, c, m, (size_t)i, what))) break;
        rc = dir > 0 ? birch_cursor_next(c) : birch_cursor_prev(c);
        i += dir;
        if (i < 0 || (size_t)i >= m->n) {
            if (rc != BIRCH_NOTFOUND)
                bad = ERR("%s step %ld: moved past the end: %d (%s)", names[mode], s, rc,
                          birch_strerror(rc));
            break;
        }
        if (rc != BIRCH_OK) {
            bad = ERR("%s step %ld: move returned %d (%s), model has item %ld/%zu", names[mode], s,
                      rc, birch_strerror(rc), i, m->n);
            break;
        }
    }
    birch_cursor_close(c);
    return bad;
}

static int check_count(char *err, birch_txn *txn, birch_table *t, const bt_model *m)
{
    uint64_t n = 0;
    int rc = birch_count(txn, t, &n);
    if (rc) return ERR("count returned %d (%s)", rc, birch_strerror(rc));
    if (n != m->n) return ERR("count %" PRIu64 ", model %zu", n, m->n);
    return 0;
}

/* ---- Keys and values -------------------------------------------------------- */

static const unsigned char alpha[] = {0x00, 0x01, 'a', 'b', 'c', 0x7f, 0x80, 0xff};

/* A key: often an existing one or a near neighbour of one (prefix,
 * extension, last byte changed), else fresh with a skewed length. */
static size_t gen_key(bt_rng *r, const bt_model *m, size_t maxk, unsigned char *k)
{
    uint64_t x = bt_below(r, 100);
    if (x < 40 && m->n) {
        const bt_item *it = m->v[bt_below(r, m->n)];
        memcpy(k, it->key, it->klen);
        return it->klen;
    }
    if (x < 55 && m->n) {
        const bt_item *it = m->v[bt_below(r, m->n)];
        size_t n = it->klen;
        memcpy(k, it->key, n);
        switch (bt_below(r, 3)) {
        case 0:
            if (n > 1) return bt_range(r, 1, n - 1);
            break;
        case 1:
            if (n < maxk) {
                k[n] = alpha[bt_below(r, sizeof alpha)];
                return n + 1;
            }
            break;
        default:
            k[n - 1] = (unsigned char)(k[n - 1] + (bt_chance(r, 50) ? 1 : -1));
            return n;
        }
    }
    size_t n;
    uint64_t y = bt_below(r, 100);
    if (y < 60) n = bt_range(r, 1, 16 < maxk ? 16 : maxk);
    else if (y < 85) n = bt_range(r, 1, 128 < maxk ? 128 : maxk);
    else if (y < 95) n = bt_range(r, 1, maxk);
    else n = bt_chance(r, 50) ? maxk : 1;
    if (bt_chance(r, 50)) {
        bt_fill(r, k, n);
    } else {
        for (size_t i = 0; i < n; i++) k[i] = alpha[bt_below(r, sizeof alpha)];
    }
    return n;
}

static size_t gen_vlen(bt_rng *r, uint32_t ps)
{
    uint64_t x = bt_below(r, 100);
    size_t p = ps;
    if (x < 3) return 0;
    if (x < 40) return bt_range(r, 0, 32);
    if (x < 65) return bt_range(r, 33, p / 2);
    if (x < 80) return bt_range(r, p / 4, p / 2 + 64);
    if (x < 90) return bt_range(r, p / 2, p + 16);
    if (x < 99) return bt_range(r, p + 16, 3 * p);
    return 3 * p;
}

/* ---- The reader thread -------------------------------------------------------- */

typedef struct reader {
    pthread_t th;
    birch_db *db;
    birch_table *t[NT];
    uint64_t seed;
    size_t maxk;
    atomic_int stop;
    atomic_int failed;
    char fail[ERRSZ + 128];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long verified; /* rounds checked against a snapshot in this epoch (mu) */
    long commits;  /* writer's commits so far (mu) */
    int draining;  /* the writer waits for this epoch to end (mu) */
    long rounds, misses, holds;
} reader;

static void *reader_main(void *arg)
{
    reader *rd = arg;
    bt_rng r = {rd->seed ^ 0x7265616465720000ull};
    char err[ERRSZ];
    unsigned char key[BIRCH_MAX_PAGE_SIZE / 4 + 1];
    while (!atomic_load(&rd->stop)) {
        birch_txn *txn = NULL;
        int rc = birch_txn_begin(rd->db, BIRCH_TXN_READ, &txn);
        if (rc) {
            snprintf(rd->fail, sizeof rd->fail, "reader: txn_begin returned %d (%s)", rc,
                     birch_strerror(rc));
            atomic_store(&rd->failed, 1);
            break;
        }
        uint64_t id = birch_txn_id(txn);
        snap *s = lookup(id);
        rd->rounds++;
        if (!s) {
            rd->misses++;
            birch_txn_abort(txn);
            continue;
        }
        int bad = 0;
        /* A pointer taken first must still hold its bytes at the end. */
        const void *pin = NULL;
        unsigned char *pin_copy = NULL;
        size_t pin_size = 0;
        int n = (int)bt_range(&r, 1, 12);
        /* Some rounds hold their snapshot while the writer commits 2 to 12
         * more times (freeing, and with durable commits reusing, pages),
         * then walk all of it. */
        int hold_at = bt_chance(&r, 10) ? n / 2 : -1;
        for (int i = 0; i < n && !bad; i++) {
            if (i == hold_at) {
                pthread_mutex_lock(&rd->mu);
                long until = rd->commits + (long)bt_range(&r, 2, 12);
                while (rd->commits < until && !rd->draining && !atomic_load(&rd->stop))
                    pthread_cond_wait(&rd->cv, &rd->mu);
                pthread_mutex_unlock(&rd->mu);
                rd->holds++;
                /* After holding, the whole snapshot once more. */
                for (int ti = 0; ti < NT && !bad; ti++) {
                    bad = check_walk(err, txn, rd->t[ti], &s->m[ti], W_FIRST, NULL, 0, -1);
                    if (bad)
                        snprintf(rd->fail, sizeof rd->fail,
                                 "reader, snapshot %" PRIu64 " held across commits, table %s: %s",
                                 id, tnames[ti], err);
                }
                if (bad) break;
            }
            int ti = (int)bt_below(&r, NT);
            const bt_model *m = &s->m[ti];
            size_t kn;
            switch (bt_below(&r, 6)) {
            case 0:
            case 1: {
                kn = gen_key(&r, m, rd->maxk, key);
                birch_val v;
                bad = check_get(err, txn, rd->t[ti], m, key, kn, &v);
                if (!bad && !pin && v.size) {
                    pin = v.data;
                    pin_size = v.size;
                    pin_copy = malloc(v.size);
                    memcpy(pin_copy, v.data, v.size);
                }
                break;
            }
            case 2:
                kn = gen_key(&r, m, rd->maxk, key);
                bad = check_walk(err, txn, rd->t[ti], m, W_SEEK_NEXT, key, kn,
                                 (long)bt_range(&r, 1, 30));
                break;
            case 3:
                kn = gen_key(&r, m, rd->maxk, key);
                bad = check_walk(err, txn, rd->t[ti], m, W_SEEK_PREV, key, kn,
                                 (long)bt_range(&r, 1, 30));
                break;
            case 4:
                bad = check_walk(err, txn, rd->t[ti], m, bt_chance(&r, 50) ? W_FIRST : W_LAST,
                                 NULL, 0, (long)bt_range(&r, 1, 30));
                break;
            default:
                bad = check_count(err, txn, rd->t[ti], m);
                break;
            }
            if (bad) {
                snprintf(rd->fail, sizeof rd->fail, "reader, snapshot %" PRIu64 ", table %s: %s",
                         id, tnames[ti], err);
            }
        }
        if (!bad && pin && memcmp(pin, pin_copy, pin_size) != 0) {
            bad = 1;
            snprintf(rd->fail, sizeof rd->fail,
                     "reader, snapshot %" PRIu64 ": a value pointer's %zu bytes changed during "
                     "the read transaction",
                     id, pin_size);
        }
        free(pin_copy);
        birch_txn_abort(txn);
        snap_release(s);
        if (bad) {
            atomic_store(&rd->failed, 1);
            break;
        }
        pthread_mutex_lock(&rd->mu);
        rd->verified++;
        pthread_cond_broadcast(&rd->cv);
        pthread_mutex_unlock(&rd->mu);
    }
    pthread_mutex_lock(&rd->mu);
    pthread_cond_broadcast(&rd->cv);
    pthread_mutex_unlock(&rd->mu);
    return NULL;
}

/* ---- The writer ------------------------------------------------------------------ */

typedef struct state {
    const char *path;
    birch_options opts;
    uint64_t seed;
    bt_rng r;
    birch_db *db;
    birch_table *t[NT];
    size_t maxk;
    uint32_t ps;
    bt_model committed[NT], work[NT];
    /* Nested transactions: lv[d] is level d's handle (lv[0] the root),
     * saved[d] the models of level d's parent as level d began. */
    birch_txn *lv[NEST + 1];
    bt_model saved[NEST + 1][NT];
    int depth;
    /* Savepoints: the committed models each keeps, the commit it keeps. */
    bt_model sp[NSP][NT];
    int sp_have[NSP];
    uint64_t sp_txn[NSP];
    long ops, txns, commits, aborts, reopens, strict_checks, children, child_aborts, sp_restores;
    size_t target;
    reader rd;
    unsigned char *key, *key2, *val;
} state;

#define FAIL(st, ...)                                                                    \
    do {                                                                                 \
        char msg_[ERRSZ + 128];                                                          \
        snprintf(msg_, sizeof msg_, __VA_ARGS__);                                        \
        ck_abort_msg("model test seed=%" PRIu64 " (rerun: BIRCH_SEED=%" PRIu64           \
                     "), txn %ld, op %ld: %s",                                           \
                     (st)->seed, (st)->seed, (st)->txns, (st)->ops, msg_);               \
    } while (0)

#define EXPECT_RC(st, expr, want)                                                        \
    do {                                                                                 \
        int rc_ = (expr), want_ = (want);                                                \
        if (rc_ != want_)                                                                \
            FAIL(st, "%s returned %d (%s), expected %d (%s)", #expr, rc_,                \
                 birch_strerror(rc_), want_, birch_strerror(want_));                     \
    } while (0)

#define CHECK(st, call, ...)                                                             \
    do {                                                                                 \
        char err[ERRSZ];                                                                 \
        if (call) FAIL(st, __VA_ARGS__);                                                 \
    } while (0)

static void reader_start(state *st)
{
    reader *rd = &st->rd;
    rd->db = st->db;
    for (int i = 0; i < NT; i++) rd->t[i] = st->t[i];
    rd->seed = st->seed + (uint64_t)st->reopens;
    rd->maxk = st->maxk;
    atomic_store(&rd->stop, 0);
    rd->verified = 0;
    rd->draining = 0;
    ck_assert_int_eq(pthread_create(&rd->th, NULL, reader_main, rd), 0);
}

static void reader_fail_check(state *st)
{
    if (atomic_load(&st->rd.failed)) FAIL(st, "%s", st->rd.fail);
}

/* Waits until the reader has checked at least one snapshot in this epoch
 * (no timing involved), then stops it. */
static void reader_stop(state *st)
{
    reader *rd = &st->rd;
    pthread_mutex_lock(&rd->mu);
    rd->draining = 1;
    pthread_cond_broadcast(&rd->cv);
    while (rd->verified == 0 && !atomic_load(&rd->failed)) pthread_cond_wait(&rd->cv, &rd->mu);
    pthread_mutex_unlock(&rd->mu);
    atomic_store(&rd->stop, 1);
    pthread_join(rd->th, NULL);
    reader_fail_check(st);
}

static void open_tables(state *st, int create)
{
    birch_txn *txn = bt_begin(st->db, create ? BIRCH_TXN_WRITE : BIRCH_TXN_READ);
    for (int i = 0; i < NT; i++) st->t[i] = bt_table(txn, tnames[i], create ? BIRCH_CREATE : 0);
    BT_OK(birch_txn_commit(txn));
}

/* Every record of both tables, both directions, and the counts. */
static void full_verify(state *st, const char *when)
{
    birch_txn *txn = bt_begin(st->db, BIRCH_TXN_READ);
    for (int i = 0; i < NT; i++) {
        CHECK(st, check_count(err, txn, st->t[i], &st->committed[i]), "%s, table %s: %s", when,
              tnames[i], err);
        CHECK(st, check_walk(err, txn, st->t[i], &st->committed[i], W_FIRST, NULL, 0, -1),
              "%s, table %s: %s", when, tnames[i], err);
        CHECK(st, check_walk(err, txn, st->t[i], &st->committed[i], W_LAST, NULL, 0, -1),
              "%s, table %s: %s", when, tnames[i], err);
    }
    birch_txn_abort(txn);
}

static void do_reopen(state *st)
{
    reader_stop(st);
    int rc = birch_close(st->db);
    if (rc) FAIL(st, "close returned %d (%s)", rc, birch_strerror(rc));
    st->reopens++;
    /* Non-durable commits (fast) and durable ones (freed pages are reused
     * at once, which is what snapshots must survive) in alternate epochs. */
    st->opts.durability = st->reopens % 2 ? BIRCH_DURABLE_FULL : BIRCH_DURABLE_NONE;
    rc = birch_open(st->path, &st->opts, &st->db);
    if (rc) FAIL(st, "reopen returned %d (%s)", rc, birch_strerror(rc));
    char msg[ERRSZ] = ""; /* fits in FAIL's buffer with the text around it */
    rc = birch_check(st->db, msg, sizeof msg);
    if (rc) FAIL(st, "birch_check after reopen %ld returned %d: %s", st->reopens, rc, msg);
    open_tables(st, 0);
    full_verify(st, "after reopen");
    ring_clear();
    publish(bt_stat(st->db).txnid, st->committed);
    reader_start(st);
}

/* Where an alias operation writes the bytes it got from the database. */
enum { A_SAME, A_NEIGHBOUR, A_NEW, A_RESERVE, A_DEL, A_CURSOR_KEY, A_KINDS };

/* A write whose key or value points into the database (birch.h, Memory
 * rules): record a's value, got in this transaction by birch_get or by a
 * cursor (with its key), or a sub-range of it, stored back under a's key,
 * under a neighbour's (often on the same leaf, which the put changes), or
 * under a new key; or a's cursor key given to put, put_reserve or del.
 * Every pointer is taken after the last change.  The model takes its
 * bytes from its own copies, taken before the write. */
static void alias_op(state *st, birch_txn *w, int ti)
{
    bt_rng *r = &st->r;
    birch_table *t = st->t[ti];
    bt_model *m = &st->work[ti];
    if (!m->n) return;
    size_t ia = bt_below(r, m->n);
    size_t ib = bt_chance(r, 60) ? (ia + 1 < m->n ? ia + 1 : ia ? ia - 1 : 0) : bt_below(r, m->n);
    unsigned char *ak = st->key2, *val = st->val;
    size_t akn = m->v[ia]->klen;
    memcpy(ak, m->v[ia]->key, akn);
    int via_cursor = bt_chance(r, 50);
    int kind = (int)bt_below(r, via_cursor ? A_KINDS : A_RESERVE);
    birch_cursor *c = NULL;
    birch_val k = bt_val(ak, akn), v = {NULL, 0};
    if (via_cursor) {
        EXPECT_RC(st, birch_cursor_open(w, t, &c), BIRCH_OK);
        EXPECT_RC(st, birch_cursor_seek(c, bt_val(ak, akn)), BIRCH_OK);
        CHECK(st, check_at(err, c, m, ia, "alias seek"), "table %s: %s", tnames[ti], err);
        EXPECT_RC(st, birch_cursor_get(c, &k, &v), BIRCH_OK); /* k and v point into the leaf */
    } else {
        EXPECT_RC(st, birch_get(w, t, bt_val(ak, akn), &v), BIRCH_OK);
    }
    /* The value to store: all of v, or a sub-range of it. */
    size_t off = 0, len = v.size;
    if (v.size && bt_chance(r, 50)) {
        off = bt_below(r, v.size);
        len = bt_below(r, v.size - off + 1);
    }
    memcpy(val, m->v[ia]->val + off, len);
    birch_val sub = bt_val((const unsigned char *)v.data + off, len);
    unsigned char *tk = st->key; /* the key the model changes */
    size_t tkn = akn;
    memcpy(tk, ak, akn);
    switch (kind) {
    case A_SAME:
        EXPECT_RC(st, birch_put(w, t, k, sub, 0), BIRCH_OK);
        break;
    case A_NEIGHBOUR:
        tkn = m->v[ib]->klen;
        memcpy(tk, m->v[ib]->key, tkn);
        EXPECT_RC(st, birch_put(w, t, bt_val(tk, tkn), sub, 0), BIRCH_OK);
        break;
    case A_NEW:
        tkn = gen_key(r, m, st->maxk, tk);
        EXPECT_RC(st, birch_put(w, t, bt_val(tk, tkn), sub, 0), BIRCH_OK);
        break;
    case A_RESERVE: {
        void *out = NULL;
        len = gen_vlen(r, st->ps);
        bt_fill(r, val, len);
        EXPECT_RC(st, birch_put_reserve(w, t, k, len, 0, &out), BIRCH_OK);
        memcpy(out, val, len);
        break;
    }
    case A_DEL:
        EXPECT_RC(st, birch_del(w, t, k), BIRCH_OK);
        break;
    default: /* A_CURSOR_KEY: the cursor's key with a fresh value */
        len = gen_vlen(r, st->ps);
        bt_fill(r, val, len);
        EXPECT_RC(st, birch_put(w, t, k, bt_val(val, len), 0), BIRCH_OK);
        break;
    }
    if (c) birch_cursor_close(c);
    if (kind == A_DEL) bt_model_del(m, tk, tkn);
    else bt_model_put(m, tk, tkn, val, len);
    if (bt_chance(r, 50))
        CHECK(st, check_get(err, w, t, m, tk, tkn, NULL), "after alias op %d (%s): %s", kind,
              via_cursor ? "cursor" : "get", err);
}

/* One random operation inside the write transaction w. */
/* ---- Ranks, ranges and writes through cursors (issue 14) ------------------- */

/* A range bound: open (size 0) one time in five, else a generated key. */
static birch_val gen_bound(state *st, const bt_model *m, unsigned char *buf)
{
    if (bt_chance(&st->r, 20)) return (birch_val){NULL, 0};
    return bt_val(buf, gen_key(&st->r, m, st->maxk, buf));
}

static size_t model_rank(const bt_model *m, birch_val b, int hi)
{
    if (!b.size) return hi ? m->n : 0;
    return bt_model_lower(m, b.data, b.size, NULL);
}

/* Two bounds with lo <= hi (swapped if needed), as model ranks too. */
static void gen_range(state *st, const bt_model *m, birch_val *lo, birch_val *hi, size_t *a, size_t *b)
{
    *lo = gen_bound(st, m, st->key);
    *hi = gen_bound(st, m, st->key2);
    if (lo->size && hi->size && bt_keycmp(lo->data, lo->size, hi->data, hi->size) > 0) {
        birch_val x = *lo;
        *lo = *hi;
        *hi = x;
    }
    *a = model_rank(m, *lo, 0);
    *b = model_rank(m, *hi, 1);
}

/* count_range over a random range, and seek_rank / cursor_rank at a
 * random rank, against the model. */
static int check_ranks(char *err, state *st, birch_txn *txn, birch_table *t, const bt_model *m)
{
    birch_val lo, hi;
    size_t a, b;
    gen_range(st, m, &lo, &hi, &a, &b);
    uint64_t n = 0;
    int rc = birch_count_range(txn, t, lo, hi, &n);
    if (rc) return ERR("count_range returned %d (%s)", rc, birch_strerror(rc));
    if (n != (b > a ? b - a : 0)) return ERR("count_range: %" PRIu64 ", model %zu", n, b > a ? b - a : 0);
    birch_cursor *c = NULL;
    if ((rc = birch_cursor_open(txn, t, &c))) return ERR("cursor_open returned %d", rc);
    uint64_t want = bt_below(&st->r, m->n + 2), got = 0;
    rc = birch_cursor_seek_rank(c, want);
    int bad = 0;
    if (want >= m->n) {
        if (rc != BIRCH_NOTFOUND) bad = ERR("seek_rank(%" PRIu64 ") of %zu records returned %d", want, m->n, rc);
    } else if (rc) {
        bad = ERR("seek_rank(%" PRIu64 ") of %zu records returned %d (%s)", want, m->n, rc, birch_strerror(rc));
    } else if (!(bad = check_at(err, c, m, (size_t)want, "seek_rank"))) {
        rc = birch_cursor_rank(c, &got);
        if (rc || got != want) bad = ERR("cursor_rank after seek_rank(%" PRIu64 "): %d, %" PRIu64, want, rc, got);
    }
    birch_cursor_close(c);
    return bad;
}

/* A forward scan from a random key that deletes (birch_cursor_del),
 * rewrites (BIRCH_CURRENT) or steps over each record, checking the
 * cursor's place and rank against the model at every step. */
static int scan_and_write(char *err, state *st, birch_txn *w, birch_table *t, bt_model *m)
{
    birch_cursor *c = NULL;
    int rc = birch_cursor_open(w, t, &c);
    if (rc) return ERR("cursor_open returned %d", rc);
    size_t kn = gen_key(&st->r, m, st->maxk, st->key);
    size_t i = bt_model_lower(m, st->key, kn, NULL);
    rc = birch_cursor_seek(c, bt_val(st->key, kn));
    int bad = 0;
    long steps = (long)bt_range(&st->r, 1, 80);
    for (long s = 0; s < steps && !bad; s++) {
        if (i >= m->n) {
            if (rc != BIRCH_NOTFOUND && birch_cursor_get(c, NULL, NULL) != BIRCH_NOTFOUND)
                bad = ERR("scan_and_write step %ld: past the end, the cursor is still on a record", s);
            break;
        }
        if (rc) {
            bad = ERR("scan_and_write step %ld: %d (%s), model item %zu/%zu", s, rc, birch_strerror(rc), i, m->n);
            break;
        }
        char what[64];
        snprintf(what, sizeof what, "scan_and_write step %ld", s);
        if ((bad = check_at(err, c, m, i, what))) break;
        uint64_t rank = 0;
        if (bt_chance(&st->r, 20) && ((rc = birch_cursor_rank(c, &rank)) || rank != i)) {
            bad = ERR("%s: cursor_rank %d, %" PRIu64 ", model %zu", what, rc, rank, i);
            break;
        }
        uint64_t x = bt_below(&st->r, 10);
        if (x < 4) {
            memcpy(st->key2, m->v[i]->key, m->v[i]->klen);
            bt_model_del(m, st->key2, m->v[i]->klen);
            rc = birch_cursor_del(c);
            if (rc) {
                bad = ERR("%s: cursor_del returned %d (%s)", what, rc, birch_strerror(rc));
                break;
            }
            if (i >= m->n) rc = BIRCH_NOTFOUND; /* deleted the last record: unpositioned */
        } else if (x < 6) {
            size_t vn = gen_vlen(&st->r, st->ps);
            bt_fill(&st->r, st->val, vn);
            rc = birch_cursor_put(c, (birch_val){NULL, 0}, bt_val(st->val, vn), BIRCH_CURRENT);
            if (rc) {
                bad = ERR("%s: cursor_put CURRENT returned %d (%s)", what, rc, birch_strerror(rc));
                break;
            }
            memcpy(st->key2, m->v[i]->key, m->v[i]->klen);
            bt_model_put(m, st->key2, m->v[i]->klen, st->val, vn);
            if ((bad = check_at(err, c, m, i, "after cursor_put CURRENT"))) break;
            rc = birch_cursor_next(c);
            i++;
        } else {
            rc = birch_cursor_next(c);
            i++;
        }
    }
    birch_cursor_close(c);
    return bad;
}

/* del_range over a random range (mostly short ones), against the model. */
static int range_delete(char *err, state *st, birch_txn *w, birch_table *t, bt_model *m)
{
    birch_val lo, hi;
    size_t a, b;
    gen_range(st, m, &lo, &hi, &a, &b);
    if (b > a + 40 && bt_chance(&st->r, 85)) return 0; /* big ranges now and then: the table would empty */
    uint64_t n = UINT64_MAX;
    int rc = birch_del_range(w, t, lo, hi, &n);
    if (rc) return ERR("del_range returned %d (%s)", rc, birch_strerror(rc));
    if (n != (b > a ? b - a : 0)) return ERR("del_range deleted %" PRIu64 ", model %zu", n, b > a ? b - a : 0);
    for (size_t i = b; i-- > a;) {
        memcpy(st->key2, m->v[i]->key, m->v[i]->klen);
        bt_model_del(m, st->key2, m->v[i]->klen);
    }
    return 0;
}

/* birch_cursor_put of a new or existing key positions the cursor on it. */
static int cursor_insert(char *err, state *st, birch_txn *w, birch_table *t, bt_model *m)
{
    birch_cursor *c = NULL;
    int rc = birch_cursor_open(w, t, &c);
    if (rc) return ERR("cursor_open returned %d", rc);
    size_t kn = gen_key(&st->r, m, st->maxk, st->key), vn = gen_vlen(&st->r, st->ps);
    bt_fill(&st->r, st->val, vn);
    rc = birch_cursor_put(c, bt_val(st->key, kn), bt_val(st->val, vn), 0);
    int bad = 0;
    if (rc) {
        bad = ERR("cursor_put returned %d (%s)", rc, birch_strerror(rc));
    } else {
        bt_model_put(m, st->key, kn, st->val, vn);
        size_t i = bt_model_lower(m, st->key, kn, NULL);
        if (!(bad = check_at(err, c, m, i, "after cursor_put")) && i + 1 < m->n && birch_cursor_next(c) == BIRCH_OK)
            bad = check_at(err, c, m, i + 1, "next after cursor_put");
    }
    birch_cursor_close(c);
    return bad;
}

static void one_op(state *st, birch_txn *w)
{
    bt_rng *r = &st->r;
    int ti = (int)bt_below(r, NT);
    birch_table *t = st->t[ti];
    bt_model *m = &st->work[ti];
    unsigned char *key = st->key, *val = st->val;
    uint64_t op = bt_below(r, 116);
    if (op >= 100) { /* issue 14's calls */
        if (op < 104) CHECK(st, check_ranks(err, st, w, t, m), "table %s: %s", tnames[ti], err);
        else if (op < 108) CHECK(st, scan_and_write(err, st, w, t, m), "table %s: %s", tnames[ti], err);
        else if (op < 112) CHECK(st, range_delete(err, st, w, t, m), "table %s: %s", tnames[ti], err);
        else CHECK(st, cursor_insert(err, st, w, t, m), "table %s: %s", tnames[ti], err);
        return;
    }
    /* Steer the table size toward the target. */
    if (op < 28 && m->n > st->target && bt_chance(r, 60)) op = 40;
    else if (op >= 36 && op < 52 && m->n < st->target / 4 && bt_chance(r, 60)) op = 0;

    if (op < 28) { /* put: insert or overwrite */
        size_t kn = gen_key(r, m, st->maxk, key), vn = gen_vlen(r, st->ps);
        bt_fill(r, val, vn);
        EXPECT_RC(st, birch_put(w, t, bt_val(key, kn), bt_val(val, vn), 0), BIRCH_OK);
        bt_model_put(m, key, kn, val, vn);
        if (bt_chance(r, 30))
            CHECK(st, check_get(err, w, t, m, key, kn, NULL), "after put: %s", err);
    } else if (op < 33) { /* NOOVERWRITE */
        size_t kn = gen_key(r, m, st->maxk, key), vn = gen_vlen(r, st->ps);
        bt_fill(r, val, vn);
        int exists = bt_model_get(m, key, kn) != NULL;
        EXPECT_RC(st, birch_put(w, t, bt_val(key, kn), bt_val(val, vn), BIRCH_NOOVERWRITE),
                  exists ? BIRCH_EXISTS : BIRCH_OK);
        if (!exists) bt_model_put(m, key, kn, val, vn);
    } else if (op < 36) { /* APPEND */
        size_t kn, vn = gen_vlen(r, st->ps);
        bt_fill(r, val, vn);
        int ok = 1;
        if (m->n && bt_chance(r, 30)) { /* an existing key: not after the last */
            const bt_item *it = m->v[bt_below(r, m->n)];
            memcpy(key, it->key, it->klen);
            kn = it->klen;
            ok = 0;
        } else if (m->n) {
            const bt_item *last = m->v[m->n - 1];
            memcpy(key, last->key, last->klen);
            kn = last->klen;
            if (kn < st->maxk) {
                key[kn++] = alpha[bt_below(r, sizeof alpha)];
            } else {
                ok = 0; /* the last key has the maximum length and ends in 0xff... */
                for (size_t i = kn; i-- > 0;)
                    if (key[i] != 0xff) {
                        key[i]++;
                        kn = i + 1;
                        ok = 1;
                        break;
                    }
            }
        } else {
            kn = gen_key(r, m, st->maxk, key);
        }
        EXPECT_RC(st, birch_put(w, t, bt_val(key, kn), bt_val(val, vn), BIRCH_APPEND),
                  ok ? BIRCH_OK : BIRCH_EXISTS);
        if (ok) bt_model_put(m, key, kn, val, vn);
    } else if (op < 48) { /* delete an existing key */
        if (!m->n) return;
        const bt_item *it = m->v[bt_below(r, m->n)];
        size_t kn = it->klen;
        memcpy(key, it->key, kn);
        EXPECT_RC(st, birch_del(w, t, bt_val(key, kn)), BIRCH_OK);
        bt_model_del(m, key, kn);
        if (bt_chance(r, 30))
            CHECK(st, check_get(err, w, t, m, key, kn, NULL), "after del: %s", err);
    } else if (op < 52) { /* delete any key */
        size_t kn = gen_key(r, m, st->maxk, key);
        int exists = bt_model_del(m, key, kn);
        EXPECT_RC(st, birch_del(w, t, bt_val(key, kn)), exists ? BIRCH_OK : BIRCH_NOTFOUND);
    } else if (op < 58) { /* a write through pointers into the database */
        alias_op(st, w, ti);
    } else if (op < 70) { /* get */
        size_t kn = gen_key(r, m, st->maxk, key);
        CHECK(st, check_get(err, w, t, m, key, kn, NULL), "table %s: %s", tnames[ti], err);
    } else if (op < 80) { /* forward scan */
        size_t kn = gen_key(r, m, st->maxk, key);
        int mode = bt_chance(r, 80) ? W_SEEK_NEXT : W_FIRST;
        CHECK(st, check_walk(err, w, t, m, mode, key, kn, (long)bt_range(r, 1, 60)),
              "table %s: %s", tnames[ti], err);
    } else if (op < 88) { /* reverse scan */
        size_t kn = gen_key(r, m, st->maxk, key);
        int mode = bt_chance(r, 80) ? W_SEEK_PREV : W_LAST;
        CHECK(st, check_walk(err, w, t, m, mode, key, kn, (long)bt_range(r, 1, 60)),
              "table %s: %s", tnames[ti], err);
    } else if (op < 91) { /* count */
        CHECK(st, check_count(err, w, t, m), "table %s: %s", tnames[ti], err);
    } else if (op < 94) { /* a read transaction beside the writer sees the last commit */
        birch_txn *rt = bt_begin(st->db, BIRCH_TXN_READ);
        const bt_model *cm = &st->committed[ti];
        for (int i = 0; i < 4; i++) {
            size_t kn = gen_key(r, cm, st->maxk, key);
            CHECK(st, check_get(err, rt, t, cm, key, kn, NULL), "read txn beside writer: %s",
                  err);
        }
        size_t kn = gen_key(r, cm, st->maxk, key);
        CHECK(st, check_walk(err, rt, t, cm, W_SEEK_NEXT, key, kn, 20),
              "read txn beside writer: %s", err);
        CHECK(st, check_count(err, rt, t, cm), "read txn beside writer: %s", err);
        birch_txn_abort(rt);
    } else { /* a cursor kept across a change continues from its key */
        birch_cursor *c = NULL;
        EXPECT_RC(st, birch_cursor_open(w, t, &c), BIRCH_OK);
        size_t kn = gen_key(r, m, st->maxk, key);
        size_t idx = bt_model_lower(m, key, kn, NULL);
        int rc = birch_cursor_seek(c, bt_val(key, kn));
        if (idx == m->n) {
            if (rc != BIRCH_NOTFOUND) FAIL(st, "seek past the last key returned %d", rc);
            birch_cursor_close(c);
            return;
        }
        CHECK(st, check_at(err, c, m, idx, "seek before change"), "table %s: %s", tnames[ti],
              err);
        unsigned char *ck = st->key2; /* the cursor's key */
        size_t ckn = m->v[idx]->klen;
        memcpy(ck, m->v[idx]->key, ckn);
        if (bt_chance(r, 50)) {
            size_t k2 = gen_key(r, m, st->maxk, key), vn = gen_vlen(r, st->ps);
            bt_fill(r, val, vn);
            EXPECT_RC(st, birch_put(w, t, bt_val(key, k2), bt_val(val, vn), 0), BIRCH_OK);
            bt_model_put(m, key, k2, val, vn);
        } else {
            const bt_item *it = bt_chance(r, 30) ? m->v[idx] : m->v[bt_below(r, m->n)];
            size_t k2 = it->klen;
            memcpy(key, it->key, k2);
            EXPECT_RC(st, birch_del(w, t, bt_val(key, k2)), BIRCH_OK);
            bt_model_del(m, key, k2);
        }
        int found;
        size_t at = bt_model_lower(m, ck, ckn, &found);
        if (found) {
            CHECK(st, check_at(err, c, m, at, "cursor after change"), "table %s: %s",
                  tnames[ti], err);
        } else {
            rc = birch_cursor_get(c, NULL, NULL);
            if (rc != BIRCH_NOTFOUND)
                FAIL(st, "cursor_get on a deleted record returned %d (%s)", rc,
                     birch_strerror(rc));
        }
        int fwd = bt_chance(r, 50);
        size_t want = fwd ? (found ? at + 1 : at) : at; /* at-1 for prev, checked below */
        rc = fwd ? birch_cursor_next(c) : birch_cursor_prev(c);
        if (fwd ? want >= m->n : at == 0) {
            if (rc != BIRCH_NOTFOUND)
                FAIL(st, "%s past the end after a change returned %d", fwd ? "next" : "prev", rc);
        } else {
            if (!fwd) want = at - 1;
            if (rc != BIRCH_OK)
                FAIL(st, "%s after a change returned %d (%s)", fwd ? "next" : "prev", rc,
                     birch_strerror(rc));
            CHECK(st, check_at(err, c, m, want, fwd ? "next after change" : "prev after change"),
                  "table %s: %s", tnames[ti], err);
        }
        birch_cursor_close(c);
    }
}

/* ---- Handle orders ------------------------------------------------------------ */

enum { HO_KEEP = 4, HO_STALE = 8 };

/* A read transaction kept across commits, with its snapshot's model. */
typedef struct ho_reader {
    birch_txn *txn;
    birch_cursor *c;
    bt_model m[NT];
    int ti;
} ho_reader;

/* Cursors of ended transactions (epoch: st->reopens when opened; one of a
 * database closed since may only be closed) and ended transactions'
 * handles (dropped at reopen). */
static struct {
    bt_rng r; /* separate from the writer's, so its operations stay those of the seed */
    ho_reader rd[HO_KEEP];
    birch_cursor *stale[HO_STALE];
    long stale_epoch[HO_STALE];
    birch_txn *dead[HO_STALE];
    long used, closed;
} ho;

static void ho_park(state *st, birch_cursor *c)
{
    if (!c) return;
    unsigned i = (unsigned)bt_below(&ho.r, HO_STALE);
    if (ho.stale[i]) ho.closed++;
    birch_cursor_close(ho.stale[i]); /* maybe of a closed database: safe */
    ho.stale[i] = c;
    ho.stale_epoch[i] = st->reopens;
}

static void ho_end_reader(state *st, ho_reader *h)
{
    if (bt_chance(&ho.r, 50)) EXPECT_RC(st, birch_txn_commit(h->txn), BIRCH_OK);
    else birch_txn_abort(h->txn);
    ho.dead[bt_below(&ho.r, HO_STALE)] = h->txn;
    ho_park(st, h->c); /* ended while its cursor is open */
    for (int i = 0; i < NT; i++) bt_model_free(&h->m[i]);
    memset(h, 0, sizeof *h);
}

/* Positions h's cursor on a random record of its snapshot and walks a few
 * steps, against the snapshot's model. */
static void ho_walk(state *st, ho_reader *h)
{
    const bt_model *m = &h->m[h->ti];
    if (!m->n) {
        EXPECT_RC(st, birch_cursor_first(h->c), BIRCH_NOTFOUND);
        return;
    }
    size_t i = bt_below(&ho.r, m->n);
    EXPECT_RC(st, birch_cursor_seek(h->c, bt_val(m->v[i]->key, m->v[i]->klen)), BIRCH_OK);
    for (int step = 0; step < 4 && i < m->n; step++, i++) {
        CHECK(st, check_at(err, h->c, m, i, "kept reader's cursor"), "handle orders: %s", err);
        int rc = birch_cursor_next(h->c);
        if (i + 1 == m->n) EXPECT_RC(st, rc, BIRCH_NOTFOUND);
        else EXPECT_RC(st, rc, BIRCH_OK);
    }
}

/* Stale handles: every call but close gives BIRCH_ETXN. */
static void ho_use_stale(state *st)
{
    unsigned i = (unsigned)bt_below(&ho.r, HO_STALE);
    if (ho.stale[i] && ho.stale_epoch[i] == st->reopens) {
        birch_val k, v;
        EXPECT_RC(st, birch_cursor_next(ho.stale[i]), BIRCH_ETXN);
        EXPECT_RC(st, birch_cursor_get(ho.stale[i], &k, &v), BIRCH_ETXN);
        ho.used++;
    }
    birch_txn *t = ho.dead[bt_below(&ho.r, HO_STALE)];
    if (t) {
        birch_val v;
        EXPECT_RC(st, birch_get(t, st->t[0], bt_str("k"), &v), BIRCH_ETXN);
        EXPECT_RC(st, birch_txn_commit(t), BIRCH_ETXN);
        birch_txn_abort(t); /* must not end whoever holds its slot now */
        if (birch_txn_id(t) != 0) FAIL(st, "birch_txn_id of an ended transaction is not 0");
        ho.used++;
    }
}

/* Called once per write transaction w, before its operations: begins,
 * walks and ends kept readers, leaves a cursor of w open for its end, uses
 * and closes stale handles. */
static void handle_orders(state *st, birch_txn *w)
{
    ho_reader *h = &ho.rd[bt_below(&ho.r, HO_KEEP)];
    uint64_t x = bt_below(&ho.r, 100);
    if (!h->txn && x < 15) {
        EXPECT_RC(st, birch_txn_begin(st->db, BIRCH_TXN_READ, &h->txn), BIRCH_OK);
        for (int i = 0; i < NT; i++) {
            bt_model_init(&h->m[i]);
            bt_model_copy(&h->m[i], &st->committed[i]);
        }
        h->ti = (int)bt_below(&ho.r, NT);
        EXPECT_RC(st, birch_cursor_open(h->txn, st->t[h->ti], &h->c), BIRCH_OK);
        ho_walk(st, h);
    } else if (h->txn && x < 50) {
        ho_walk(st, h); /* many commits later: still its snapshot */
    } else if (h->txn && x < 60) {
        ho_end_reader(st, h);
    }
    if (bt_chance(&ho.r, 30)) ho_use_stale(st);
    if (bt_chance(&ho.r, 10)) {
        unsigned i = (unsigned)bt_below(&ho.r, HO_STALE);
        if (ho.stale[i]) ho.closed++;
        birch_cursor_close(ho.stale[i]);
        ho.stale[i] = NULL;
    }
    if (bt_chance(&ho.r, 10)) { /* a cursor of w left open at its commit or abort: stale from the next call */
        birch_cursor *c = NULL;
        EXPECT_RC(st, birch_cursor_open(w, st->t[bt_below(&ho.r, NT)], &c), BIRCH_OK);
        int rc = birch_cursor_first(c);
        if (rc != BIRCH_OK && rc != BIRCH_NOTFOUND) FAIL(st, "cursor_first returned %d", rc);
        ho_park(st, c);
    }
}

/* Before birch_close: kept readers end (their cursors stay open, to be
 * closed after the close), handles of ended transactions are dropped. */
static void ho_before_close(state *st)
{
    for (int i = 0; i < HO_KEEP; i++)
        if (ho.rd[i].txn) ho_end_reader(st, &ho.rd[i]);
    memset(ho.dead, 0, sizeof ho.dead);
}

static void ho_finish(void)
{
    for (int i = 0; i < HO_STALE; i++) {
        if (ho.stale[i]) ho.closed++;
        birch_cursor_close(ho.stale[i]);
        ho.stale[i] = NULL;
    }
}

/* ---- Nested transactions and savepoints (issue 14) ----------------------------- */

static void swap_models(bt_model *a, bt_model *b)
{
    for (int i = 0; i < NT; i++) {
        bt_model tmp = a[i];
        a[i] = b[i];
        b[i] = tmp;
    }
}

/* Begins a child of the deepest level: its models start as its parent's. */
static void nest_begin(state *st)
{
    int d = st->depth;
    EXPECT_RC(st, birch_txn_begin_nested(st->lv[d], &st->lv[d + 1]), BIRCH_OK);
    for (int i = 0; i < NT; i++) {
        bt_model_free(&st->saved[d + 1][i]);
        bt_model_init(&st->saved[d + 1][i]);
        bt_model_copy(&st->saved[d + 1][i], &st->work[i]);
    }
    st->depth = d + 1;
    st->children++;
}

/* Ends the deepest child: its models become its parent's (commit), or its
 * parent's come back (abort). */
static void nest_end(state *st, int commit)
{
    int d = st->depth;
    if (commit) {
        EXPECT_RC(st, birch_txn_commit(st->lv[d]), BIRCH_OK);
    } else {
        birch_txn_abort(st->lv[d]);
        swap_models(st->work, st->saved[d]);
        st->child_aborts++;
    }
    st->depth = d - 1;
}

/* The current level's view against its models after a batch of changes:
 * counts, range counts and ranks of both tables. */
static void check_batch(state *st)
{
    for (int ti = 0; ti < NT; ti++)
        for (int q = 0; q < 3; q++)
            CHECK(st, check_ranks(err, st, st->lv[st->depth], st->t[ti], &st->work[ti]), "level %d, table %s: %s",
                  st->depth, tnames[ti], err);
}

/* A savepoint made, restored or dropped by the root (their interplay with
 * children is test_savepoint's). */
static void savepoint_op(state *st)
{
    int s = (int)bt_below(&st->r, NSP);
    char name[8];
    snprintf(name, sizeof name, "sp%d", s);
    birch_txn *w = st->lv[0];
    uint64_t x = bt_below(&st->r, 3);
    if (!st->sp_have[s] && x == 0) { /* keeps the last commit: the committed models */
        EXPECT_RC(st, birch_savepoint_create(w, name), BIRCH_OK);
        for (int i = 0; i < NT; i++) {
            bt_model_free(&st->sp[s][i]);
            bt_model_init(&st->sp[s][i]);
            bt_model_copy(&st->sp[s][i], &st->committed[i]);
        }
        st->sp_have[s] = 1;
        st->sp_txn[s] = birch_txn_id(w) - 1;
    } else if (st->sp_have[s] && x == 1) {
        EXPECT_RC(st, birch_savepoint_restore(w, name), BIRCH_OK);
        for (int i = 0; i < NT; i++) {
            bt_model_free(&st->work[i]);
            bt_model_init(&st->work[i]);
            bt_model_copy(&st->work[i], &st->sp[s][i]);
        }
        for (int j = 0; j < NSP; j++) /* savepoints after it are dropped */
            if (st->sp_have[j] && st->sp_txn[j] > st->sp_txn[s]) st->sp_have[j] = 0;
        st->sp_restores++;
    } else if (st->sp_have[s]) {
        EXPECT_RC(st, birch_savepoint_drop(w, name), BIRCH_OK);
        st->sp_have[s] = 0;
    } else {
        EXPECT_RC(st, birch_savepoint_restore(w, name), BIRCH_NOTFOUND);
    }
}

static void run_model(uint32_t ps, uint64_t map_reserve, long total, uint64_t seed,
                      const char *tag)
{
    state *st = calloc(1, sizeof *st);
    ck_assert_ptr_nonnull(st);
    char *path = bt_path(tag);
    st->path = path;
    st->seed = seed;
    st->r.s = seed;
    st->opts = bt_opts_fast();
    st->opts.page_size = ps;
    if (map_reserve) st->opts.map_reserve = map_reserve;
    pthread_mutex_init(&st->rd.mu, NULL);
    pthread_cond_init(&st->rd.cv, NULL);
    for (int i = 0; i < NT; i++) {
        bt_model_init(&st->committed[i]);
        bt_model_init(&st->work[i]);
    }
    st->db = bt_open(path, &st->opts);
    st->ps = birch_page_size(st->db);
    st->maxk = birch_max_key_size(st->db);
    st->key = malloc(st->maxk + 1);
    st->key2 = malloc(st->maxk + 1);
    st->val = malloc(3 * (size_t)st->ps + 1);
    open_tables(st, 1);
    publish(bt_stat(st->db).txnid, st->committed);
    reader_start(st);
    memset(&ho, 0, sizeof ho);
    ho.r.s = seed ^ 0x68616e646c6573ull;

    while (st->ops < total) {
        st->txns++;
        if (st->txns % REOPEN_EVERY == 0) ho_before_close(st);
        if (st->txns % REOPEN_EVERY == 0) do_reopen(st);
        /* Phases: grow to ~1500 records per table, shrink to ~150, and so on. */
        st->target = (st->txns / 400) % 2 ? 150 : 1500;
        reader_fail_check(st);
        birch_txn *w = bt_begin(st->db, BIRCH_TXN_WRITE);
        uint64_t id = birch_txn_id(w);
        for (int i = 0; i < NT; i++) bt_model_copy(&st->work[i], &st->committed[i]);
        handle_orders(st, w);
        st->lv[0] = w;
        st->depth = 0;
        int sp_have0[NSP];
        uint64_t sp_txn0[NSP];
        memcpy(sp_have0, st->sp_have, sizeof sp_have0);
        memcpy(sp_txn0, st->sp_txn, sizeof sp_txn0);
        if (bt_chance(&st->r, 25)) savepoint_op(st);
        long n = bt_chance(&st->r, 4) ? (long)bt_range(&st->r, 300, 1500)
                                      : (long)bt_range(&st->r, 1, 120);
        for (long i = 0; i < n; i++, st->ops++) {
            /* Now and then a child begins, or the deepest one ends. */
            if (bt_chance(&st->r, 2) && st->depth < NEST) nest_begin(st);
            else if (bt_chance(&st->r, 2) && st->depth > 0) nest_end(st, bt_chance(&st->r, 60));
            one_op(st, st->lv[st->depth]);
        }
        check_batch(st);
        while (st->depth > 0) nest_end(st, bt_chance(&st->r, 60));
        check_batch(st);
        if (bt_chance(&st->r, 80)) {
            publish(id, st->work); /* before the commit: the reader may see it at once */
            int rc = birch_txn_commit(w);
            if (rc) FAIL(st, "commit returned %d (%s)", rc, birch_strerror(rc));
            for (int i = 0; i < NT; i++) {
                bt_model tmp = st->committed[i];
                st->committed[i] = st->work[i];
                st->work[i] = tmp;
            }
            st->commits++;
            if (bt_strict_check(st->db, (uint64_t)st->commits, "model")) st->strict_checks++;
            pthread_mutex_lock(&st->rd.mu);
            st->rd.commits++;
            pthread_cond_broadcast(&st->rd.cv);
            pthread_mutex_unlock(&st->rd.mu);
        } else {
            birch_txn_abort(w);
            st->aborts++;
            memcpy(st->sp_have, sp_have0, sizeof sp_have0); /* the abort undid the savepoint calls */
            memcpy(st->sp_txn, sp_txn0, sizeof sp_txn0);
        }
        for (int i = 0; i < NT; i++) bt_model_free(&st->work[i]);
    }
    reader_stop(st);
    full_verify(st, "at the end");
    ho_before_close(st);
    BT_OK(birch_close(st->db));
    ho_finish(); /* after the close: cursors are still the caller's to free */
    st->db = bt_open(path, &st->opts);
    bt_check(st->db);
    open_tables(st, 0);
    full_verify(st, "after the last reopen");
    BT_OK(birch_close(st->db));
    fprintf(stderr,
            "model %s: seed %" PRIu64 ", %ld ops, %ld txns (%ld commits, %ld aborts), %ld reopens, "
            "%ld strict checks, reader %ld rounds (%ld without snapshot, %ld held across commits), "
            "%ld stale handle uses, %ld stale cursors closed, %ld children (%ld aborted), %ld savepoint restores\n",
            tag, seed, st->ops, st->txns, st->commits, st->aborts, st->reopens, st->strict_checks, st->rd.rounds,
            st->rd.misses, st->rd.holds, ho.used, ho.closed, st->children, st->child_aborts, st->sp_restores);
    ring_clear();
    for (int i = 0; i < NT; i++) {
        bt_model_free(&st->committed[i]);
        bt_model_free(&st->work[i]);
        for (int d = 0; d <= NEST; d++) bt_model_free(&st->saved[d][i]);
        for (int j = 0; j < NSP; j++) bt_model_free(&st->sp[j][i]);
    }
    pthread_mutex_destroy(&st->rd.mu);
    pthread_cond_destroy(&st->rd.cv);
    free(st->key);
    free(st->key2);
    free(st->val);
    free(st);
    bt_remove(path);
    free(path);
}

START_TEST(model_4k_pages)
{
    long ops = (long)bt_env_u64("BIRCH_MODEL_OPS", 200000);
    run_model(4096, 0, ops, bt_seed(20240601), "model4k");
}
END_TEST

/* Small pages make deep trees and many overflow runs; a 1 MiB map
 * reservation makes the file outgrow the map while the reader runs. */
START_TEST(model_512_pages_small_map)
{
    long ops = (long)bt_env_u64("BIRCH_MODEL_OPS", 200000) / 4;
    run_model(512, 1 << 20, ops, bt_seed(20240602), "model512");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = bt_tcase("model");
    tcase_add_test(tc, model_4k_pages);
    tcase_add_test(tc, model_512_pages_small_map);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
