/*
 * fuzz_ops.c - libFuzzer harness: the input is a program of transactions
 * and operations, applied to birch and to a model; every result is
 * compared.
 *
 * Input: byte 0 picks the page size (512, 1024, 2048, 4096) and the
 * durability (FULL or NONE); then each operation is an opcode byte and
 * its argument bytes (missing bytes read as 0):
 *
 *   put / put NOOVERWRITE / put APPEND / overwrite / delete (any key or a
 *   present one) / get / seek + up to 7 moves / scan forward / scan
 *   backward / count (and birch_table_stat's records) / commit / abort /
 *   reopen / drop table / arm an I/O fault (fail the Nth write or sync
 *   with EIO) / begin, read from and end a long-lived snapshot reader /
 *   next and prev of a cursor that lives
 *   across the write transaction's changes / birch_check / handle orders
 *   (opcode bytes 224..239): end the reader while a cursor of it is open,
 *   use ended transactions and their cursors (BIRCH_ETXN), close those
 *   cursors in any order, before or after the database is reopened (see
 *   "Handle orders") / alias writes (opcode bytes 240..255): a value got in
 *   the write transaction (by get, or with its key by a cursor), or part of
 *   it, stored under its own key, another key or a neighbour's, or the
 *   cursor's key given to put_reserve, del or a put (see do_alias).
 *
 * Three tables ("a", "b", "c") of up to 256 keys each; keys share prefixes
 * and their heads, some are long; values run from empty to three pages.
 * Mutations begin a write transaction when none is open; reads use it, or
 * a short read transaction.  A reopen (and the end of the input) closes
 * the database, opens it again, requires birch_check to pass and compares
 * every table with the model.  A commit that fails (only possible after an
 * injected fault) leaves the file holding either the old or the new state,
 * which the next reopen decides; until then the handle must show the old.
 *
 * Power loss is not simulated here (tests/faultio.c does that); faults are
 * clean EIO failures of a write or sync that did nothing.
 */
#include "fz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NK 256
#define NT 3
#define MAX_OPS 3000

static const char *const tnames[NT] = {"a", "b", "c"};

/* Key id's value is vlen bytes from offset voff of gen(vsrc, vfull,
 * vseed): its own generated value (vsrc = id, voff = 0, vfull = vlen), or
 * a part of another key's, stored by an alias operation. */
typedef struct mtable {
    uint8_t exists;
    uint8_t present[NK];
    uint32_t vlen[NK];
    uint8_t vseed[NK];
    uint8_t vsrc[NK];
    uint32_t vfull[NK];
    uint32_t voff[NK];
} mtable;

typedef struct mstate {
    mtable t[NT];
} mstate;

/* ---- Keys ----------------------------------------------------------------- */

static uint8_t keys[NK][128];
static size_t klens[NK];
static int by_rank[NK]; /* key ids in key order */
static int rank_of[NK];
static int keys_ready;

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int kcmp(int a, int b)
{
    int c = memcmp(keys[a], keys[b], klens[a] < klens[b] ? klens[a] : klens[b]);
    if (c) return c;
    return klens[a] < klens[b] ? -1 : klens[a] > klens[b];
}

static int kcmp_q(const void *a, const void *b)
{
    return kcmp(*(const int *)a, *(const int *)b);
}

static void build_keys(void)
{
    static const char *pre[4] = {"", "ab", "abcd", "abcdefgh"};
    for (int i = 0; i < NK; i++) {
        uint64_t h = mix((uint64_t)i);
        size_t len = i % 29 == 0 ? 100 + (size_t)(h % 29) : 1 + (size_t)(h % 14);
        size_t pl = strlen(pre[i % 4]);
        for (size_t j = 0; j < len; j++) {
            if (j < pl) keys[i][j] = (uint8_t)pre[i % 4][j];
            else if (j == pl) keys[i][j] = (uint8_t)(i * 7);
            else keys[i][j] = (uint8_t)(mix(h + j) & 0x7f);
        }
        klens[i] = len;
        for (int again = 1; again;) { /* keep keys distinct */
            again = 0;
            for (int j = 0; j < i; j++) {
                if (kcmp(i, j) == 0) {
                    if (klens[i] < 128) keys[i][klens[i]++] = (uint8_t)i;
                    else keys[i][127]++;
                    again = 1;
                }
            }
        }
        by_rank[i] = i;
    }
    qsort(by_rank, NK, sizeof *by_rank, kcmp_q);
    for (int r = 0; r < NK; r++) rank_of[by_rank[r]] = r;
    keys_ready = 1;
}

static birch_val kval(int id)
{
    return (birch_val){keys[id], klens[id]};
}

/* ---- Model queries ----------------------------------------------------------- */

/* First present key id at rank >= r (dir 1) or <= r (dir -1), or -1. */
static int model_from(const mtable *m, int r, int dir)
{
    for (; r >= 0 && r < NK; r += dir)
        if (m->present[by_rank[r]]) return by_rank[r];
    return -1;
}

static uint64_t model_count(const mtable *m)
{
    uint64_t n = 0;
    for (int i = 0; i < NK; i++) n += m->present[i];
    return n;
}

/* ---- State -------------------------------------------------------------------- */

typedef struct st {
    const uint8_t *d;
    size_t n, pos;
    const char *path;
    fz_faults faults;
    birch_options o;
    birch_db *db;
    mstate com;        /* last successful commit: what the handle shows */
    mstate alt;        /* the failed commit's state, when uncertain */
    int uncertain;
    birch_txn *w;      /* write transaction and its model */
    mstate wm;
    birch_cursor *wc;  /* cursor on table 0 living across w's changes */
    int wcpos;         /* its key id, -1 unpositioned */
    birch_txn *r;      /* long-lived reader and its snapshot */
    mstate rm;
    /* Handle orders: cursors of ended transactions (caller-owned, closed
     * whenever) and ended transactions' handles (dropped at reopen: a
     * handle of a closed database must not be used). */
    birch_cursor *stale_c[4];
    unsigned stale_epoch[4]; /* the database epoch the cursor was opened in */
    birch_txn *stale_t[4];
    unsigned epoch;          /* bumped by every reopen */
    uint8_t *vbuf;
    size_t vmax;
    unsigned op;       /* operation number, for messages */
} st;

#define FAILF(s, fmt, ...) FZ_FAIL("op %u: " fmt, (s)->op, __VA_ARGS__)
#define EXPECT(s, got, want, what)                                                        \
    do {                                                                                  \
        int g_ = (got), w_ = (want);                                                      \
        if (g_ != w_) FAILF(s, "%s returned %d (%s), model says %d (%s)", what, g_,       \
                            birch_strerror(g_), w_, birch_strerror(w_));                  \
    } while (0)

static unsigned byte(st *s)
{
    return s->pos < s->n ? s->d[s->pos++] : 0;
}

static size_t vsize(const st *s, unsigned cls, unsigned b)
{
    size_t ps = s->o.page_size;
    switch (cls % 8) {
    case 0: return 0;
    case 1: return 1 + b % 8;
    case 2: return 8 + b % 57;
    case 3: return 64 + b * 3;
    case 4: return ps / 3 - 48 + b % 64; /* around the inline / overflow boundary */
    case 5: return ps - 20 + b % 40;
    case 6: return 2 * ps + b;
    default: return 3 * ps - b % 128;
    }
}

/* The value of key id with (vlen, vseed), into s->vbuf. */
static const uint8_t *gen(st *s, int id, size_t vlen, unsigned vseed)
{
    uint64_t x = mix((uint64_t)id << 16 | vseed << 8 | (vlen & 0xff));
    for (size_t i = 0; i < vlen; i++) {
        if (i % 8 == 0) x = mix(x);
        s->vbuf[i] = (uint8_t)(x >> (8 * (i % 8)));
    }
    return s->vbuf;
}

/* Does (k, v) match key id in model m? */
static int rec_matches(st *s, const mtable *m, int id, birch_val k, birch_val v)
{
    if (k.size != klens[id] || memcmp(k.data, keys[id], k.size)) return 0;
    if (v.size != m->vlen[id]) return 0;
    if (((uintptr_t)v.data & 7) && v.size) FAILF(s, "value of key %d not 8-byte aligned", id);
    return memcmp(v.data, gen(s, m->vsrc[id], m->vfull[id], m->vseed[id]) + m->voff[id], v.size) == 0;
}

/* The cursor must be at key id of m (or, id < 0, have returned NOTFOUND). */
static void expect_at(st *s, birch_cursor *c, int rc, const mtable *m, int id, const char *what)
{
    EXPECT(s, rc, id < 0 ? BIRCH_NOTFOUND : BIRCH_OK, what);
    if (id < 0) return;
    birch_val k, v;
    rc = birch_cursor_get(c, &k, &v);
    EXPECT(s, rc, BIRCH_OK, "cursor_get");
    if (!rec_matches(s, m, id, k, v))
        FAILF(s, "%s: cursor at the wrong record (key %d expected, %zu-byte key, %zu-byte value)", what,
              id, k.size, v.size);
}

/* Compares table ti as txn sees it with m.  Returns NULL if equal, else
 * what differs (fatal callers print it). */
static const char *compare_table(st *s, birch_txn *txn, int ti, const mtable *m)
{
    birch_table *t = NULL;
    int rc = birch_table_open(txn, tnames[ti], 0, &t);
    if (rc != (m->exists ? BIRCH_OK : BIRCH_NOTFOUND)) return "table_open";
    if (!m->exists) return NULL;
    uint64_t cnt;
    if (birch_count(txn, t, &cnt) || cnt != model_count(m)) return "count";
    birch_cursor *c = NULL;
    if (birch_cursor_open(txn, t, &c)) return "cursor_open";
    const char *bad = NULL;
    int r = 0;
    for (rc = birch_cursor_first(c);; rc = birch_cursor_next(c), r++) {
        int id = model_from(m, r, 1);
        if (id < 0) {
            if (rc != BIRCH_NOTFOUND) bad = "scan goes past the model's last key";
            break;
        }
        if (rc != BIRCH_OK) {
            bad = "scan ends early";
            break;
        }
        birch_val k, v;
        if (birch_cursor_get(c, &k, &v) || !rec_matches(s, m, id, k, v)) {
            bad = "scan finds another record";
            break;
        }
        r = rank_of[id];
    }
    birch_cursor_close(c);
    return bad;
}

static const char *compare_all(st *s, const mstate *m)
{
    birch_txn *txn = NULL;
    int rc = birch_txn_begin(s->db, BIRCH_TXN_READ, &txn);
    if (rc) FAILF(s, "read txn_begin returned %d", rc);
    const char *bad = NULL;
    for (int ti = 0; ti < NT && !bad; ti++) bad = compare_table(s, txn, ti, &m->t[ti]);
    birch_txn_abort(txn);
    return bad;
}

static void open_db(st *s)
{
    bi_io io = fz_faults_io(&s->faults);
    int rc = bi_open_io(s->path, &s->o, &io, &s->db);
    if (rc) FAILF(s, "open returned %d (%s)", rc, birch_strerror(rc));
}

static void park_cursor(st *s, birch_cursor *c);
static void park_txn(st *s, birch_txn *t);

static void end_reader(st *s)
{
    if (s->r) birch_txn_abort(s->r);
    park_txn(s, s->r);
    s->r = NULL;
}

static void abort_writer(st *s)
{
    if (s->w) birch_txn_abort(s->w);
    park_txn(s, s->w);
    park_cursor(s, s->wc); /* the caller's to close, later */
    s->w = NULL;
    s->wc = NULL;
}

/* Close, open, check, compare with the model. */
static void reopen(st *s)
{
    end_reader(s);
    abort_writer(s);
    memset(s->stale_t, 0, sizeof s->stale_t);
    int rc = birch_close(s->db);
    s->db = NULL;
    s->epoch++;
    if (rc && !(rc == BIRCH_EIO && s->faults.injected)) FAILF(s, "close returned %d", rc);
    fz_faults_reset(&s->faults);
    open_db(s);
    char msg[256];
    rc = birch_check(s->db, msg, sizeof msg);
    if (rc) FAILF(s, "check after reopen returned %d: %s", rc, msg);
    const char *bad = compare_all(s, &s->com);
    if (bad && s->uncertain) {
        const char *bad2 = compare_all(s, &s->alt);
        if (!bad2) {
            s->com = s->alt;
            bad = NULL;
        }
    }
    if (bad) FAILF(s, "after reopen the file differs from the model%s: %s",
                   s->uncertain ? " (old and new state)" : "", bad);
    s->uncertain = 0;
}

static void ensure_writer(st *s)
{
    if (s->w) return;
    int rc = birch_txn_begin(s->db, BIRCH_TXN_WRITE, &s->w);
    if (rc == BIRCH_EIO && s->faults.injected) {
        reopen(s); /* an earlier fault: the handle refuses writes until reopened */
        rc = birch_txn_begin(s->db, BIRCH_TXN_WRITE, &s->w);
    }
    if (rc) FAILF(s, "write txn_begin returned %d", rc);
    s->wm = s->com;
    s->wc = NULL;
    s->wcpos = -1;
}

/* Opens table ti in txn as model m predicts; 0 and t set if it exists. */
static int table_in(st *s, birch_txn *txn, mtable *m, int ti, int create, birch_table **t)
{
    int rc = birch_table_open(txn, tnames[ti], create ? BIRCH_CREATE : 0, t);
    if (create) {
        EXPECT(s, rc, BIRCH_OK, "table_open(CREATE)");
        if (!m->exists) {
            memset(m, 0, sizeof *m);
            m->exists = 1;
        }
        return 0;
    }
    EXPECT(s, rc, m->exists ? BIRCH_OK : BIRCH_NOTFOUND, "table_open");
    return rc;
}

/* A transaction to read from: the writer, or a new reader (*temp set). */
static birch_txn *read_txn(st *s, mstate **m, int *temp)
{
    if (s->w) {
        *m = &s->wm;
        *temp = 0;
        return s->w;
    }
    birch_txn *txn = NULL;
    int rc = birch_txn_begin(s->db, BIRCH_TXN_READ, &txn);
    if (rc) FAILF(s, "read txn_begin returned %d", rc);
    *m = &s->com;
    *temp = 1;
    return txn;
}

static void done_read(birch_txn *txn, int temp)
{
    if (temp) birch_txn_abort(txn);
}

/* Key id for an operation: any key, or (present) the nth present one. */
static int pick_present(const mtable *m, unsigned b)
{
    uint64_t n = model_count(m);
    if (!n) return -1;
    uint64_t want = b % n;
    for (int r = 0; r < NK; r++)
        if (m->present[by_rank[r]] && want-- == 0) return by_rank[r];
    return -1;
}

enum {
    OP_PUT, OP_PUT_NOOVER, OP_PUT_APPEND, OP_OVERWRITE, OP_DEL, OP_DEL_PRESENT, OP_GET, OP_SEEK,
    OP_SCAN_FWD, OP_SCAN_BACK, OP_COUNT, OP_COMMIT, OP_ABORT, OP_REOPEN, OP_DROP, OP_FAULT,
    OP_RBEGIN, OP_RREAD, OP_REND, OP_LIVE_NEXT, OP_LIVE_PREV, OP_CHECK, OP_PUT2, OP_DEL2,
    OP_COUNT_OPS
};
/* Handle orders (opcode bytes 224..239). */
enum { HO_READER_CURSOR_END, HO_STALE_USE, HO_STALE_CLOSE, HO_KINDS };

/* Key id holds its own generated value of vlen bytes. */
static void set_own(mtable *m, int id, size_t vlen, unsigned vseed)
{
    m->present[id] = 1;
    m->vlen[id] = m->vfull[id] = (uint32_t)vlen;
    m->vseed[id] = (uint8_t)vseed;
    m->vsrc[id] = (uint8_t)id;
    m->voff[id] = 0;
}

static void do_put(st *s, int kind)
{
    int ti = (int)(byte(s) % NT);
    unsigned kb = byte(s), cls = byte(s), vb = byte(s), vseed = byte(s);
    ensure_writer(s);
    mtable *m = &s->wm.t[ti];
    birch_table *t;
    table_in(s, s->w, m, ti, 1, &t);
    int id = (int)kb;
    if (kind == OP_OVERWRITE) {
        id = pick_present(m, kb);
        if (id < 0) return;
    }
    size_t vlen = vsize(s, cls, vb);
    unsigned flags = kind == OP_PUT_NOOVER ? BIRCH_NOOVERWRITE : kind == OP_PUT_APPEND ? BIRCH_APPEND : 0;
    int want = BIRCH_OK;
    if (kind == OP_PUT_NOOVER && m->present[id]) want = BIRCH_EXISTS;
    if (kind == OP_PUT_APPEND && model_from(m, NK - 1, -1) >= 0 && rank_of[model_from(m, NK - 1, -1)] >= rank_of[id])
        want = BIRCH_EXISTS;
    int rc = birch_put(s->w, t, kval(id), (birch_val){gen(s, id, vlen, vseed), vlen}, flags);
    EXPECT(s, rc, want, "put");
    if (rc == BIRCH_OK) set_own(m, id, vlen, vseed);
}

/* An alias operation (opcode bytes 240..255, variant = byte - 240): a
 * write whose key or value points into the database.  Record a's value
 * is got in the write transaction, by birch_get or (variant bit 0) by a
 * cursor with its key, and all or part of it stored under a's key, under
 * another key, or under a's neighbour (often on the same leaf); or the
 * cursor's key goes to put_reserve, del, or a put of a fresh value.
 * birch must store what the pointers held before the write (birch.h,
 * Memory rules). */
enum { AL_SAME, AL_OTHER, AL_NEIGHBOUR, AL_RESERVE, AL_DEL, AL_FRESH, AL_KINDS };

static void do_alias(st *s, unsigned variant)
{
    int ti = (int)(byte(s) % NT);
    unsigned ab = byte(s), bb = byte(s), ob = byte(s), lb = byte(s);
    ensure_writer(s);
    mtable *m = &s->wm.t[ti];
    birch_table *t;
    if (table_in(s, s->w, m, ti, 0, &t)) return;
    int a = pick_present(m, ab);
    if (a < 0) return;
    int kind = (int)((variant >> 1) % AL_KINDS);
    birch_cursor *c = NULL;
    birch_val k = kval(a), v;
    if (variant & 1) {
        EXPECT(s, birch_cursor_open(s->w, t, &c), BIRCH_OK, "cursor_open");
        expect_at(s, c, birch_cursor_seek(c, kval(a)), m, a, "alias seek");
        EXPECT(s, birch_cursor_get(c, &k, &v), BIRCH_OK, "alias cursor_get"); /* into the leaf */
    } else {
        EXPECT(s, birch_get(s->w, t, kval(a), &v), BIRCH_OK, "alias get");
    }
    /* All of a's value, or (lb odd) a part of it. */
    size_t off = 0, len = v.size;
    if ((lb & 1) && v.size) {
        off = ob % v.size;
        len = (lb >> 1) * (v.size / 127 + 1) % (v.size - off + 1);
    }
    birch_val part = {(const uint8_t *)v.data + off, len};
    int id = a, rc;
    size_t flen = vsize(s, lb, ob); /* AL_RESERVE, AL_FRESH: a new value */
    switch (kind) {
    case AL_SAME: rc = birch_put(s->w, t, k, part, 0); break;
    case AL_OTHER:
        id = (int)bb;
        rc = birch_put(s->w, t, kval(id), part, 0);
        break;
    case AL_NEIGHBOUR:
        id = model_from(m, rank_of[a] + 1, 1); /* the next key, else the one before, else a */
        if (id < 0 && rank_of[a] > 0) id = model_from(m, rank_of[a] - 1, -1);
        if (id < 0) id = a;
        rc = birch_put(s->w, t, kval(id), part, 0);
        break;
    case AL_RESERVE: {
        void *out = NULL;
        rc = birch_put_reserve(s->w, t, k, flen, 0, &out);
        if (rc == BIRCH_OK) memcpy(out, gen(s, a, flen, bb), flen);
        break;
    }
    case AL_DEL: rc = birch_del(s->w, t, k); break;
    default: rc = birch_put(s->w, t, k, (birch_val){gen(s, a, flen, bb), flen}, 0); break;
    }
    EXPECT(s, rc, BIRCH_OK, kind == AL_DEL ? "alias del" : kind == AL_RESERVE ? "alias put_reserve" : "alias put");
    if (c) birch_cursor_close(c);
    if (kind == AL_DEL) {
        m->present[a] = 0;
    } else if (kind == AL_RESERVE || kind == AL_FRESH) {
        set_own(m, a, flen, bb);
    } else { /* id now holds part of a's value */
        m->present[id] = 1;
        m->vsrc[id] = m->vsrc[a];
        m->vseed[id] = m->vseed[a];
        m->vfull[id] = m->vfull[a];
        m->voff[id] = m->voff[a] + (uint32_t)off;
        m->vlen[id] = (uint32_t)len;
    }
    birch_val got;
    rc = birch_get(s->w, t, kval(id), &got);
    EXPECT(s, rc, m->present[id] ? BIRCH_OK : BIRCH_NOTFOUND, "get after an alias write");
    if (rc == BIRCH_OK && !rec_matches(s, m, id, kval(id), got))
        FAILF(s, "alias kind %d (%s): key %d holds the wrong value (%zu bytes, model %u)", kind,
              variant & 1 ? "cursor" : "get", id, got.size, m->vlen[id]);
}

static void do_del(st *s, int present)
{
    int ti = (int)(byte(s) % NT);
    unsigned kb = byte(s);
    ensure_writer(s);
    mtable *m = &s->wm.t[ti];
    birch_table *t;
    if (table_in(s, s->w, m, ti, 0, &t)) return;
    int id = present ? pick_present(m, kb) : (int)kb;
    if (id < 0) return;
    int rc = birch_del(s->w, t, kval(id));
    EXPECT(s, rc, m->present[id] ? BIRCH_OK : BIRCH_NOTFOUND, "del");
    m->present[id] = 0;
}

static void do_get(st *s, birch_txn *txn, mstate *ms)
{
    int ti = (int)(byte(s) % NT);
    int id = (int)byte(s);
    mtable *m = &ms->t[ti];
    birch_table *t;
    if (table_in(s, txn, m, ti, 0, &t)) return;
    birch_val v;
    int rc = birch_get(txn, t, kval(id), &v);
    EXPECT(s, rc, m->present[id] ? BIRCH_OK : BIRCH_NOTFOUND, "get");
    if (rc == BIRCH_OK && !rec_matches(s, m, id, kval(id), v)) FAILF(s, "get of key %d: wrong value", id);
}

static void do_seek(st *s, birch_txn *txn, mstate *ms)
{
    int ti = (int)(byte(s) % NT);
    int id = (int)byte(s);
    unsigned moves = byte(s);
    mtable *m = &ms->t[ti];
    birch_table *t;
    if (table_in(s, txn, m, ti, 0, &t)) return;
    birch_cursor *c = NULL;
    EXPECT(s, birch_cursor_open(txn, t, &c), BIRCH_OK, "cursor_open");
    int at = model_from(m, rank_of[id], 1);
    expect_at(s, c, birch_cursor_seek(c, kval(id)), m, at, "seek");
    for (unsigned i = 0; i < (moves & 7); i++) {
        int fwd = (moves >> (3 + i % 5)) & 1;
        if (at < 0) at = fwd ? model_from(m, 0, 1) : model_from(m, NK - 1, -1); /* unpositioned */
        else at = fwd ? model_from(m, rank_of[at] + 1, 1) : model_from(m, rank_of[at] - 1, -1);
        expect_at(s, c, fwd ? birch_cursor_next(c) : birch_cursor_prev(c), m, at, fwd ? "next" : "prev");
    }
    birch_cursor_close(c);
}

static void do_scan(st *s, birch_txn *txn, mstate *ms, int fwd)
{
    int ti = (int)(byte(s) % NT);
    mtable *m = &ms->t[ti];
    birch_table *t;
    if (table_in(s, txn, m, ti, 0, &t)) return;
    birch_cursor *c = NULL;
    EXPECT(s, birch_cursor_open(txn, t, &c), BIRCH_OK, "cursor_open");
    int at = fwd ? model_from(m, 0, 1) : model_from(m, NK - 1, -1);
    int rc = fwd ? birch_cursor_first(c) : birch_cursor_last(c);
    for (;;) {
        expect_at(s, c, rc, m, at, fwd ? "scan forward" : "scan backward");
        if (at < 0) break;
        at = fwd ? model_from(m, rank_of[at] + 1, 1) : model_from(m, rank_of[at] - 1, -1);
        rc = fwd ? birch_cursor_next(c) : birch_cursor_prev(c);
    }
    birch_cursor_close(c);
}

static void do_count(st *s, birch_txn *txn, mstate *ms)
{
    int ti = (int)(byte(s) % NT);
    mtable *m = &ms->t[ti];
    birch_table *t;
    if (table_in(s, txn, m, ti, 0, &t)) return;
    uint64_t n = 0;
    EXPECT(s, birch_count(txn, t, &n), BIRCH_OK, "count");
    if (n != model_count(m))
        FAILF(s, "count %llu, model %llu", (unsigned long long)n, (unsigned long long)model_count(m));
    struct birch_table_stat st;
    EXPECT(s, birch_table_stat(txn, t, &st), BIRCH_OK, "table_stat");
    if (st.records != n) FAILF(s, "table_stat: %llu records, count %llu", (unsigned long long)st.records,
                               (unsigned long long)n);
}

static void do_commit(st *s)
{
    if (!s->w) return;
    long before = s->faults.injected;
    int rc = birch_txn_commit(s->w);
    park_txn(s, s->w);
    park_cursor(s, s->wc);
    s->w = NULL;
    s->wc = NULL;
    if (rc == BIRCH_OK) {
        s->com = s->wm;
        return;
    }
    if (s->faults.injected == before) FAILF(s, "commit returned %d without an injected fault", rc);
    EXPECT(s, rc, BIRCH_EIO, "commit after an injected fault");
    s->alt = s->wm;
    s->uncertain = 1;
}

static void do_drop(st *s)
{
    int ti = (int)(byte(s) % NT);
    ensure_writer(s);
    mtable *m = &s->wm.t[ti];
    if (ti == 0 && s->wc) {
        birch_cursor_close(s->wc);
        s->wc = NULL;
    }
    int rc = birch_table_drop(s->w, tnames[ti]);
    EXPECT(s, rc, m->exists ? BIRCH_OK : BIRCH_NOTFOUND, "table_drop");
    memset(m, 0, sizeof *m);
}

static void do_live(st *s, int fwd)
{
    if (!s->w) return;
    mtable *m = &s->wm.t[0];
    if (!s->wc) {
        birch_table *t;
        if (table_in(s, s->w, m, 0, 0, &t)) return;
        EXPECT(s, birch_cursor_open(s->w, t, &s->wc), BIRCH_OK, "cursor_open");
        s->wcpos = -1;
    }
    int at;
    if (s->wcpos < 0) at = fwd ? model_from(m, 0, 1) : model_from(m, NK - 1, -1);
    else at = fwd ? model_from(m, rank_of[s->wcpos] + 1, 1) : model_from(m, rank_of[s->wcpos] - 1, -1);
    int rc = fwd ? birch_cursor_next(s->wc) : birch_cursor_prev(s->wc);
    expect_at(s, s->wc, rc, m, at, fwd ? "live cursor next" : "live cursor prev");
    s->wcpos = at;
}

static void do_fault(st *s)
{
    unsigned kind = byte(s), n = 1 + byte(s) % 12;
    if (s->faults.tripped) return;
    if (kind & 1) s->faults.fail_sync = n;
    else s->faults.fail_write = n;
}

/* ---- Handle orders ------------------------------------------------------------ */

/* Keeps a cursor whose transaction ended, closing the one it replaces. */
static void park_cursor(st *s, birch_cursor *c)
{
    if (!c) return;
    unsigned i = byte(s) % 4;
    birch_cursor_close(s->stale_c[i]); /* maybe from a closed database: still safe */
    s->stale_c[i] = c;
    s->stale_epoch[i] = s->epoch;
}

static void park_txn(st *s, birch_txn *t)
{
    if (t) s->stale_t[byte(s) % 4] = t;
}

/* Opens a cursor on the long-lived reader, moves it, ends the reader
 * while the cursor is open, and keeps the cursor. */
static void do_reader_cursor_end(st *s)
{
    if (!s->r) return;
    birch_table *t;
    birch_cursor *c = NULL;
    if (table_in(s, s->r, &s->rm.t[0], 0, 0, &t)) return;
    EXPECT(s, birch_cursor_open(s->r, t, &c), BIRCH_OK, "reader cursor_open");
    int at = model_from(&s->rm.t[0], 0, 1);
    expect_at(s, c, birch_cursor_first(c), &s->rm.t[0], at, "reader cursor first");
    end_reader(s);
    park_cursor(s, c);
}

/* Uses an ended transaction or a cursor of one: BIRCH_ETXN for every
 * call (nothing else may change), whatever ran since. */
static void do_stale_use(st *s)
{
    unsigned b = byte(s), i = b % 4;
    birch_cursor *c = s->stale_c[i];
    if ((b & 4) && c && s->stale_epoch[i] == s->epoch) {
        birch_val k, v;
        int rc = (b & 8) ? birch_cursor_next(c) : (b & 16) ? birch_cursor_seek(c, kval(0)) : birch_cursor_get(c, &k, &v);
        EXPECT(s, rc, BIRCH_ETXN, "a cursor of an ended transaction");
        return;
    }
    birch_txn *t = s->stale_t[i];
    if (!t) return;
    if (birch_txn_id(t) != 0) FAILF(s, "birch_txn_id of an ended transaction is %llu", (unsigned long long)birch_txn_id(t));
    birch_table *tb = NULL;
    EXPECT(s, birch_table_open(t, tnames[0], 0, &tb), BIRCH_ETXN, "table_open in an ended transaction");
    EXPECT(s, birch_txn_commit(t), BIRCH_ETXN, "commit of an ended transaction");
    birch_txn_abort(t); /* a no-op: must not end the live writer or reader */
}

/* Closes a kept cursor, of this database or of one closed since. */
static void do_stale_close(st *s)
{
    unsigned i = byte(s) % 4;
    birch_cursor_close(s->stale_c[i]);
    s->stale_c[i] = NULL;
}

/* Opcode bytes 0..223 pick opc % OP_COUNT_OPS, as before the handle-order
 * and alias operations existed, so most programs of the corpus keep their
 * meaning; 224..239 pick a handle-order operation, 240..255 an alias
 * operation. */
#define OP_HANDLE_BYTE 224u
#define OP_ALIAS_BYTE 240u

static void run_op(st *s, unsigned opc)
{
    mstate *m;
    int temp;
    birch_txn *txn;
    if (opc >= OP_ALIAS_BYTE) {
        do_alias(s, opc - OP_ALIAS_BYTE);
        return;
    }
    if (opc >= OP_HANDLE_BYTE) {
        switch ((opc - OP_HANDLE_BYTE) % HO_KINDS) {
        case HO_READER_CURSOR_END: do_reader_cursor_end(s); break;
        case HO_STALE_USE: do_stale_use(s); break;
        default: do_stale_close(s); break;
        }
        return;
    }
    switch (opc % OP_COUNT_OPS) {
    case OP_PUT:
    case OP_PUT2: do_put(s, OP_PUT); break;
    case OP_PUT_NOOVER: do_put(s, OP_PUT_NOOVER); break;
    case OP_PUT_APPEND: do_put(s, OP_PUT_APPEND); break;
    case OP_OVERWRITE: do_put(s, OP_OVERWRITE); break;
    case OP_DEL: do_del(s, 0); break;
    case OP_DEL2:
    case OP_DEL_PRESENT: do_del(s, 1); break;
    case OP_GET:
        txn = read_txn(s, &m, &temp);
        do_get(s, txn, m);
        done_read(txn, temp);
        break;
    case OP_SEEK:
        txn = read_txn(s, &m, &temp);
        do_seek(s, txn, m);
        done_read(txn, temp);
        break;
    case OP_SCAN_FWD:
    case OP_SCAN_BACK:
        txn = read_txn(s, &m, &temp);
        do_scan(s, txn, m, opc % OP_COUNT_OPS == OP_SCAN_FWD);
        done_read(txn, temp);
        break;
    case OP_COUNT:
        txn = read_txn(s, &m, &temp);
        do_count(s, txn, m);
        done_read(txn, temp);
        break;
    case OP_COMMIT: do_commit(s); break;
    case OP_ABORT: abort_writer(s); break;
    case OP_REOPEN: reopen(s); break;
    case OP_DROP: do_drop(s); break;
    case OP_FAULT: do_fault(s); break;
    case OP_RBEGIN: {
        end_reader(s);
        int rc = birch_txn_begin(s->db, BIRCH_TXN_READ, &s->r);
        if (rc) FAILF(s, "read txn_begin returned %d", rc);
        s->rm = s->com;
        break;
    }
    case OP_RREAD:
        if (!s->r) break;
        if (byte(s) & 1) do_get(s, s->r, &s->rm);
        else do_seek(s, s->r, &s->rm);
        break;
    case OP_REND: end_reader(s); break;
    case OP_LIVE_NEXT: do_live(s, 1); break;
    case OP_LIVE_PREV: do_live(s, 0); break;
    case OP_CHECK: {
        char msg[256];
        int rc = birch_check(s->db, msg, sizeof msg);
        if (rc) FAILF(s, "check returned %d: %s", rc, msg);
        break;
    }
    }
}

int fz_ops_run(const uint8_t *data, size_t size)
{
    if (!keys_ready) build_keys();
    static const uint32_t sizes[4] = {512, 1024, 2048, 4096};
    st s;
    memset(&s, 0, sizeof s);
    s.d = data;
    s.n = size;
    unsigned h = byte(&s);
    birch_options_init(&s.o);
    s.o.page_size = sizes[h % 4];
    s.o.durability = (h >> 2) & 1 ? BIRCH_DURABLE_NONE : BIRCH_DURABLE_FULL;
    s.o.map_reserve = 1u << 20;
    s.vmax = 3 * (size_t)s.o.page_size + 256;
    s.vbuf = malloc(s.vmax);
    if (!s.vbuf) FZ_FAIL("out of memory");
    s.path = fz_path("ops");
    fz_remove(s.path);
    open_db(&s);
    int verbose = getenv("FZ_VERBOSE") != NULL;
    for (memset(&s.com, 0, sizeof s.com); s.pos < s.n && s.op < MAX_OPS; s.op++) {
        unsigned opc = byte(&s);
        if (verbose > 1 || (verbose && getenv("FZ_VERBOSE")[0] == '2'))
            fprintf(stderr, "op %u: byte %u (writer %d, faults %ld)\n", s.op, opc, s.w != NULL,
                    s.faults.injected);
        run_op(&s, opc);
    }
    reopen(&s);
    if (getenv("FZ_VERBOSE"))
        fprintf(stderr, "fz_ops: %u ops, page size %u, records %llu %llu %llu, faults %ld\n", s.op,
                s.o.page_size, (unsigned long long)model_count(&s.com.t[0]),
                (unsigned long long)model_count(&s.com.t[1]), (unsigned long long)model_count(&s.com.t[2]),
                s.faults.injected);
    int rc = birch_close(s.db);
    if (rc) FAILF(&s, "final close returned %d", rc);
    for (int i = 0; i < 4; i++) birch_cursor_close(s.stale_c[i]); /* after the database: safe */
    fz_remove(s.path);
    free(s.vbuf);
    return 0;
}

#ifndef FZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_ops_run(data, size);
}
#endif
