/*
 * fuzz_ops.c - libFuzzer harness: the input is a program of transactions
 * and operations, applied to birch and to a model; every result is
 * compared.
 *
 * Input: byte 0 picks the page size (512, 1024, 2048, 4096), the
 * durability (FULL or NONE) and (bit 3) the smallest dirty budget (1 MiB:
 * transactions spill; faults then fail syncs only); then each operation
 * is an opcode byte and its argument bytes (missing bytes read as 0):
 *
 *   put / put NOOVERWRITE / put APPEND / overwrite / delete (any key or a
 *   present one) / get / seek + up to 7 moves / scan forward / scan
 *   backward / count (and birch_table_stat's records) / commit / abort /
 *   reopen / drop table / arm an I/O fault (fail the Nth write or sync
 *   with EIO) / begin, read from and end a long-lived snapshot reader /
 *   next and prev of a cursor that lives
 *   across the write transaction's changes / birch_check / handle orders
 *   (opcode bytes 224..229): end the reader while a cursor of it is open,
 *   use ended transactions and their cursors (BIRCH_ETXN), close those
 *   cursors in any order, before or after the database is reopened (see
 *   "Handle orders") / the calls of issue 14 (opcode bytes 230..239, one
 *   family each, the next byte picking the call; see "Issue 14") / alias
 *   writes (opcode bytes 240..255): a value got in
 *   the write transaction (by get, or with its key by a cursor), or part of
 *   it, stored under its own key, another key or a neighbour's, or the
 *   cursor's key given to put_reserve, del or a put (see do_alias).
 *
 * Issue 14's families: 230 nested transactions (begin a child of the
 * deepest level, commit or abort the deepest, abort a level in the middle,
 * use a parent whose child is open: BIRCH_EBUSY), 231 savepoints (create,
 * restore, drop, list, bad names, in read transactions), 232 multimap
 * writes (BIRCH_MULTIMAP tables, birch_multi_put / del / del_all / count
 * and their refusals), 233 multimap reads (seek, seek_value, next_value,
 * prev_value, count_values), 234 range counts and range deletions (and
 * fills of a range of keys, for trees of a few levels), 235
 * ranks (seek_rank, cursor_rank), 236 writes through a cursor (put, put
 * CURRENT, del, while scanning), 237 sequences (next, get, set), 238 the reader's reset and
 * renew (and a cursor of it across them), 239 write transactions begun
 * BIRCH_TXN_DURABLE / NONDURABLE / TRY, bad begin flags, birch_sync.
 *
 * Three tables ("a", "b", "c") of up to 256 keys each; keys share prefixes
 * and their heads, some are long; values run from empty to three pages.
 * A table is plain or (created by a multimap call) a multimap table whose
 * keys hold sets of 16 short values.  Mutations begin a write transaction
 * when none is open and act on its deepest level (children nest up to 6
 * levels; the model keeps each level's state as it began, which an abort
 * puts back); reads use it, or a short read transaction.  The model keeps
 * the committed state of each of 4 savepoints.  A reopen (and the end of
 * the input) closes the database, opens it again, requires birch_check to
 * pass and compares every table (records, kind, sequence) and the
 * savepoints with the model.  A commit that fails (only possible after an
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
#define NV 16   /* values a multimap key may hold */
#define NSP 4   /* savepoint names */
#define NEST 6  /* the deepest child level opened */
#define NPOOL ((NEST + 6) * NSP) /* savepoint states the model keeps (see sp_slot) */
#define MAX_OPS 3000

static const char *const tnames[NT] = {"a", "b", "c"};

/* Key id's value is vlen bytes from offset voff of gen(vsrc, vfull,
 * vseed): its own generated value (vsrc = id, voff = 0, vfull = vlen), or
 * a part of another key's, stored by an alias operation.  A multimap table
 * (multi) keeps mv[id], the set of value ids key id holds, instead. */
typedef struct mtable {
    uint8_t exists;
    uint8_t multi;
    uint64_t seq; /* birch_sequence_get */
    uint8_t present[NK];
    uint32_t vlen[NK];
    uint8_t vseed[NK];
    uint8_t vsrc[NK];
    uint32_t vfull[NK];
    uint32_t voff[NK];
    uint16_t mv[NK];
} mtable;

/* A savepoint: the commit it keeps and the model of that state (a slot of
 * st.pool). */
typedef struct msp {
    uint8_t have;
    uint8_t slot;
    uint64_t txnid;
} msp;

typedef struct mstate {
    mtable t[NT];
    msp sp[NSP];
    uint8_t restored; /* the transaction restored a savepoint: no savepoint can be made in it */
} mstate;

/* ---- Keys, values, savepoint names --------------------------------------- */

static uint8_t keys[NK][128];
static size_t klens[NK];
static size_t kesc[NK]; /* a multimap pair's stored key: the key with 0 bytes doubled, plus 2 */
static int by_rank[NK]; /* key ids in key order */
static int rank_of[NK];
static uint8_t mvals[NV][256];
static size_t mvlens[NV];
static int vid_by_rank[NV]; /* value ids in value order */
static int vrank_of[NV];
static char spnames[NSP][BIRCH_MAX_SAVEPOINT_NAME + 1];
static int sp_by_rank[NSP]; /* savepoint names in name order */
static int short_id;        /* the key whose multimap pairs are shortest: valid beside a bad argument */
static char sp_toolong[BIRCH_MAX_SAVEPOINT_NAME + 2];
static int keys_ready;

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* memcmp order, shorter first on a tie: birch's key order. */
static int bytes_cmp(const void *a, size_t an, const void *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

static int kcmp(int a, int b)
{
    return bytes_cmp(keys[a], klens[a], keys[b], klens[b]);
}

static int kcmp_q(const void *a, const void *b)
{
    return kcmp(*(const int *)a, *(const int *)b);
}

static int vcmp_q(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return bytes_cmp(mvals[x], mvlens[x], mvals[y], mvlens[y]);
}

static int spcmp_q(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return bytes_cmp(spnames[x], strlen(spnames[x]), spnames[y], strlen(spnames[y]));
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
    for (int i = 0; i < NK; i++) {
        kesc[i] = klens[i] + 2;
        for (size_t j = 0; j < klens[i]; j++) kesc[i] += keys[i][j] == 0;
        if (kesc[i] < kesc[short_id]) short_id = i;
    }
    /* Multimap values: empty, 0 bytes, prefixes of each other, 0xff, and
     * long ones that fit beside a short key at small pages only. */
    static const size_t vl[NV] = {0, 1, 2, 1, 1, 2, 3, 1, 1, 2, 8, 8, 20, 40, 100, 250};
    static const char *const fixed[10] = {"", "\0", "\0\0", "\1", "a", "ab", "abc", "b", "\xff", "\xff\0"};
    for (int i = 0; i < NV; i++) {
        mvlens[i] = vl[i];
        if (i < 10) memcpy(mvals[i], fixed[i], vl[i]);
        for (size_t j = 0; i >= 10 && j < vl[i]; j++) {
            uint64_t x = mix((uint64_t)i * 1000 + j);
            mvals[i][j] = (x & 0x30) == 0 ? 0 : (uint8_t)(x >> 8);
        }
        vid_by_rank[i] = i;
    }
    qsort(vid_by_rank, NV, sizeof *vid_by_rank, vcmp_q);
    for (int r = 0; r < NV; r++) vrank_of[vid_by_rank[r]] = r;
    for (int r = 1; r < NV; r++)
        if (vcmp_q(&vid_by_rank[r - 1], &vid_by_rank[r]) == 0) FZ_FAIL("two multimap values are equal");
    /* Savepoint names: a prefix of another, a byte above ASCII, and one of
     * the longest length. */
    strcpy(spnames[0], "a");
    strcpy(spnames[1], "a\xff");
    strcpy(spnames[2], "b");
    memset(spnames[3], 'z', BIRCH_MAX_SAVEPOINT_NAME);
    spnames[3][BIRCH_MAX_SAVEPOINT_NAME] = 0;
    memset(sp_toolong, 'y', BIRCH_MAX_SAVEPOINT_NAME + 1);
    for (int i = 0; i < NSP; i++) sp_by_rank[i] = i;
    qsort(sp_by_rank, NSP, sizeof *sp_by_rank, spcmp_q);
    keys_ready = 1;
}

static birch_val kval(int id)
{
    return (birch_val){keys[id], klens[id]};
}

static birch_val mval(int vid)
{
    return (birch_val){mvals[vid], mvlens[vid]};
}

/* ---- Model queries ----------------------------------------------------------- */

/* A table's records are positions: a plain table's the ranks of its keys
 * (0..NK-1), a multimap table's key rank * NV + value rank, the order of
 * its pairs.  pos_key and pos_vid name the record at a position. */
static int npos(const mtable *m)
{
    return m->multi ? NK * NV : NK;
}

static int pos_key(const mtable *m, int p)
{
    return by_rank[m->multi ? p / NV : p];
}

static int pos_vid(int p)
{
    return vid_by_rank[p % NV];
}

/* The first position of key id's records. */
static int key_pos(const mtable *m, int id)
{
    return m->multi ? rank_of[id] * NV : rank_of[id];
}

static int pos_present(const mtable *m, int p)
{
    if (!m->multi) return m->present[by_rank[p]];
    return (m->mv[by_rank[p / NV]] >> vid_by_rank[p % NV]) & 1;
}

static void pos_clear(mtable *m, int p)
{
    if (m->multi) m->mv[by_rank[p / NV]] &= (uint16_t)~(1u << vid_by_rank[p % NV]);
    else m->present[by_rank[p]] = 0;
}

/* First present position >= p (dir 1) or <= p (dir -1), or -1. */
static int model_from(const mtable *m, int p, int dir)
{
    for (int n = npos(m); p >= 0 && p < n; p += dir)
        if (pos_present(m, p)) return p;
    return -1;
}

static int popcount16(unsigned x)
{
    int n = 0;
    for (; x; x &= x - 1) n++;
    return n;
}

static uint64_t model_count(const mtable *m)
{
    uint64_t n = 0;
    for (int i = 0; i < NK; i++) n += m->multi ? (uint64_t)popcount16(m->mv[i]) : m->present[i];
    return n;
}

/* Present positions in [a, b). */
static uint64_t count_between(const mtable *m, int a, int b)
{
    uint64_t n = 0;
    for (int p = a < 0 ? 0 : a; p < b; p++) n += pos_present(m, p) != 0;
    return n;
}

/* The position of the nth record, or -1. */
static int nth_pos(const mtable *m, uint64_t n)
{
    for (int p = model_from(m, 0, 1); p >= 0; p = model_from(m, p + 1, 1))
        if (n-- == 0) return p;
    return -1;
}

/* ---- State -------------------------------------------------------------------- */

/* A cursor the harness keeps: its table, the table's kind when it was
 * opened, and the position of the record it stands on (-1: unpositioned). */
typedef struct mcur {
    birch_cursor *c;
    int ti;
    int multi;
    int pos;
} mcur;

typedef struct st {
    const uint8_t *d;
    size_t n, pos;
    const char *path;
    fz_faults faults;
    birch_options o;
    birch_db *db;
    size_t maxk;       /* birch_max_key_size */
    mstate com;        /* last successful commit: what the handle shows */
    mstate alt;        /* the failed commit's state, when uncertain */
    int uncertain;
    birch_txn *w;      /* write transaction (the root) and its model (its deepest level's) */
    mstate wm;
    birch_txn *lv[NEST + 1];     /* lv[0] is w, lv[d] the child at level d */
    birch_cursor *lc[NEST + 1];  /* a cursor opened at level d, ended with it */
    mstate saved[NEST + 1];      /* wm as child d began: its abort puts it back */
    int depth;
    mcur wc;           /* cursor on table 0 of the root living across its changes */
    birch_txn *r;      /* long-lived reader and its snapshot */
    mstate rm;
    int rreset;        /* r is reset (birch_txn_reset) */
    mcur rc;           /* a cursor of r, across resets and renews */
    birch_table *th[NT]; /* table handles got so far (valid until the close) */
    mtable pool[NPOOL][NT]; /* the states savepoints keep */
    /* Handle orders: cursors of ended transactions (caller-owned, closed
     * whenever) and ended transactions' handles (dropped at reopen: a
     * handle of a closed database must not be used). */
    birch_cursor *stale_c[4];
    unsigned stale_epoch[4]; /* the database epoch the cursor was opened in */
    birch_txn *stale_t[4];
    unsigned epoch;          /* bumped by every reopen */
    uint8_t *vbuf;
    size_t vmax;
    uint8_t *big;      /* maxk + 1 bytes: a key or value too long */
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

/* Does the pair (key id, value vid) fit in a multimap table's key? */
static int pair_fits(const st *s, int id, int vid)
{
    return mvlens[vid] <= s->maxk && kesc[id] + mvlens[vid] <= s->maxk;
}

/* Does (k, v) match the record at position p of model m? */
static int rec_matches(st *s, const mtable *m, int p, birch_val k, birch_val v)
{
    int id = pos_key(m, p);
    if (k.size != klens[id] || memcmp(k.data, keys[id], k.size)) return 0;
    if (m->multi) { /* a multimap value is a part of the record's key: no alignment */
        int vid = pos_vid(p);
        return v.size == mvlens[vid] && (!v.size || memcmp(v.data, mvals[vid], v.size) == 0);
    }
    if (v.size != m->vlen[id]) return 0;
    if (((uintptr_t)v.data & 7) && v.size) FAILF(s, "value of key %d not 8-byte aligned", id);
    return memcmp(v.data, gen(s, m->vsrc[id], m->vfull[id], m->vseed[id]) + m->voff[id], v.size) == 0;
}

/* The cursor must be at position p of m (or, p < 0, have returned NOTFOUND). */
static void expect_at(st *s, birch_cursor *c, int rc, const mtable *m, int p, const char *what)
{
    EXPECT(s, rc, p < 0 ? BIRCH_NOTFOUND : BIRCH_OK, what);
    if (p < 0) return;
    birch_val k, v;
    rc = birch_cursor_get(c, &k, &v);
    EXPECT(s, rc, BIRCH_OK, "cursor_get");
    if (!rec_matches(s, m, p, k, v))
        FAILF(s, "%s: cursor at the wrong record (key %d%s expected, %zu-byte key, %zu-byte value)", what,
              pos_key(m, p), m->multi ? " of a multimap table" : "", k.size, v.size);
}

/* Compares table ti as txn sees it with m.  Returns NULL if equal, else
 * what differs (fatal callers print it). */
static const char *compare_table(st *s, birch_txn *txn, int ti, const mtable *m)
{
    birch_table *t = NULL;
    int rc = birch_table_open(txn, tnames[ti], 0, &t);
    if (rc != (m->exists ? BIRCH_OK : BIRCH_NOTFOUND)) return "table_open";
    if (!m->exists) return NULL;
    unsigned flags = 0xff;
    if (birch_table_flags(txn, t, &flags) || flags != (m->multi ? BIRCH_MULTIMAP : 0u)) return "table_flags (the table's kind)";
    uint64_t cnt, seq;
    if (birch_sequence_get(txn, t, &seq) || seq != m->seq) return "sequence_get";
    if (birch_count(txn, t, &cnt) || cnt != model_count(m)) return "count";
    birch_cursor *c = NULL;
    if (birch_cursor_open(txn, t, &c)) return "cursor_open";
    const char *bad = NULL;
    int p = 0;
    for (rc = birch_cursor_first(c);; rc = birch_cursor_next(c)) {
        int at = model_from(m, p, 1);
        if (at < 0) {
            if (rc != BIRCH_NOTFOUND) bad = "scan goes past the model's last key";
            break;
        }
        if (rc != BIRCH_OK) {
            bad = "scan ends early";
            break;
        }
        birch_val k, v;
        if (birch_cursor_get(c, &k, &v) || !rec_matches(s, m, at, k, v)) {
            bad = "scan finds another record";
            break;
        }
        p = at + 1;
    }
    birch_cursor_close(c);
    return bad;
}

/* The savepoints txn sees against m's (names in name order, the commit
 * each keeps). */
typedef struct splist {
    int n;
    char names[NSP + 1][BIRCH_MAX_SAVEPOINT_NAME + 1];
    uint64_t txnid[NSP + 1];
} splist;

static int sp_list_one(const birch_savepoint_info *sp, void *ctx)
{
    splist *l = ctx;
    if (l->n > NSP) return 1; /* more than the model can have */
    snprintf(l->names[l->n], sizeof l->names[0], "%s", sp->name);
    l->txnid[l->n++] = sp->txnid;
    return 0;
}

static const char *compare_sps(birch_txn *txn, const mstate *m)
{
    splist l;
    memset(&l, 0, sizeof l);
    int rc = birch_savepoint_list(txn, sp_list_one, &l);
    if (rc) return rc == 1 ? "savepoint_list lists more savepoints than the model has" : "savepoint_list";
    int k = 0;
    for (int r = 0; r < NSP; r++) {
        int i = sp_by_rank[r];
        if (!m->sp[i].have) continue;
        if (k >= l.n || strcmp(l.names[k], spnames[i])) return "savepoint_list: another savepoint, or one missing";
        if (l.txnid[k] != m->sp[i].txnid) return "savepoint_list: a savepoint keeps another commit";
        k++;
    }
    return k == l.n ? NULL : "savepoint_list lists a savepoint the model does not have";
}

static const char *compare_txn(st *s, birch_txn *txn, const mstate *m)
{
    const char *bad = NULL;
    for (int ti = 0; ti < NT && !bad; ti++) bad = compare_table(s, txn, ti, &m->t[ti]);
    return bad ? bad : compare_sps(txn, m);
}

static const char *compare_all(st *s, const mstate *m)
{
    birch_txn *txn = NULL;
    int rc = birch_txn_begin(s->db, BIRCH_TXN_READ, &txn);
    if (rc) FAILF(s, "read txn_begin returned %d", rc);
    const char *bad = compare_txn(s, txn, m);
    birch_txn_abort(txn);
    return bad;
}

static void open_db(st *s)
{
    bi_io io = fz_faults_io(&s->faults);
    int rc = bi_open_io(s->path, &s->o, &io, &s->db);
    if (rc) FAILF(s, "open returned %d (%s)", rc, birch_strerror(rc));
    s->maxk = birch_max_key_size(s->db);
}

static void park_cursor(st *s, birch_cursor *c);
static void park_txn(st *s, birch_txn *t);

static void end_reader(st *s)
{
    if (s->r) birch_txn_abort(s->r);
    park_txn(s, s->r);
    park_cursor(s, s->rc.c);
    s->r = NULL;
    s->rc.c = NULL;
    s->rreset = 0;
}

/* Ends the write transaction and its children (aborting the root ends
 * them); the handles and cursors are kept as stale ones. */
static void abort_writer(st *s)
{
    if (s->w) birch_txn_abort(s->w);
    for (int d = s->depth; d >= 1; d--) {
        park_cursor(s, s->lc[d]);
        park_txn(s, s->lv[d]);
        s->lc[d] = NULL;
        s->lv[d] = NULL;
    }
    s->depth = 0;
    park_txn(s, s->w);
    park_cursor(s, s->wc.c); /* the caller's to close, later */
    s->w = NULL;
    s->lv[0] = NULL;
    s->wc.c = NULL;
}

/* Close, open, check, compare with the model. */
static void reopen(st *s)
{
    end_reader(s);
    abort_writer(s);
    memset(s->stale_t, 0, sizeof s->stale_t);
    memset(s->th, 0, sizeof s->th);
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

static void writer_begun(st *s)
{
    s->lv[0] = s->w;
    s->depth = 0;
    s->wm = s->com;
    s->wm.restored = 0;
    s->wc.c = NULL;
    s->wc.pos = -1;
}

static void ensure_writer_flags(st *s, unsigned flags)
{
    if (s->w) return;
    int rc = birch_txn_begin(s->db, BIRCH_TXN_WRITE | flags, &s->w);
    if (rc == BIRCH_EIO && s->faults.injected) {
        reopen(s); /* an earlier fault: the handle refuses writes until reopened */
        rc = birch_txn_begin(s->db, BIRCH_TXN_WRITE | flags, &s->w);
    }
    if (rc) FAILF(s, "write txn_begin(%#x) returned %d", BIRCH_TXN_WRITE | flags, rc);
    writer_begun(s);
}

static void ensure_writer(st *s)
{
    ensure_writer_flags(s, 0);
}

/* The deepest level of the write transaction: where changes go. */
static birch_txn *wtx(st *s)
{
    return s->lv[s->depth];
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
        s->th[ti] = *t;
        return 0;
    }
    EXPECT(s, rc, m->exists ? BIRCH_OK : BIRCH_NOTFOUND, "table_open");
    if (rc == BIRCH_OK) s->th[ti] = *t;
    return rc;
}

/* A transaction to read from: the writer's deepest level, or a new reader
 * (*temp set). */
static birch_txn *read_txn(st *s, mstate **m, int *temp)
{
    if (s->w) {
        *m = &s->wm;
        *temp = 0;
        return wtx(s);
    }
    birch_txn *txn = NULL;
    int rc = birch_txn_begin(s->db, BIRCH_TXN_READ, &txn);
    if (rc) FAILF(s, "read txn_begin returned %d", rc);
    *m = &s->com;
    *temp = 1;
    return txn;
}

/* A read transaction: the long-lived reader when it is live, else a new
 * one (*temp set). */
static birch_txn *reader_txn(st *s, mstate **m, int *temp)
{
    if (s->r && !s->rreset) {
        *m = &s->rm;
        *temp = 0;
        return s->r;
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
    if (m->multi) return -1;
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
/* Handle orders (opcode bytes 224..229). */
enum { HO_READER_CURSOR_END, HO_STALE_USE, HO_STALE_CLOSE, HO_KINDS };
/* Issue 14's families (opcode bytes 230..239). */
enum { NW_NEST, NW_SAVEPOINT, NW_MULTI_WRITE, NW_MULTI_READ, NW_RANGE, NW_RANK, NW_CURSOR_WRITE, NW_SEQUENCE,
       NW_READER, NW_TXN, NW_KINDS };

/* Key id holds its own generated value of vlen bytes. */
static void set_own(mtable *m, int id, size_t vlen, unsigned vseed)
{
    m->present[id] = 1;
    m->vlen[id] = m->vfull[id] = (uint32_t)vlen;
    m->vseed[id] = (uint8_t)vseed;
    m->vsrc[id] = (uint8_t)id;
    m->voff[id] = 0;
}

/* Key id now holds what key a holds (both of a plain table). */
static void set_copy(mtable *m, int id, int a)
{
    m->present[id] = 1;
    m->vsrc[id] = m->vsrc[a];
    m->vseed[id] = m->vseed[a];
    m->vfull[id] = m->vfull[a];
    m->voff[id] = m->voff[a];
    m->vlen[id] = m->vlen[a];
}

static void do_put(st *s, int kind)
{
    int ti = (int)(byte(s) % NT);
    unsigned kb = byte(s), cls = byte(s), vb = byte(s), vseed = byte(s);
    ensure_writer(s);
    birch_txn *w = wtx(s);
    mtable *m = &s->wm.t[ti];
    birch_table *t;
    table_in(s, w, m, ti, 1, &t);
    int id = (int)kb;
    unsigned flags = kind == OP_PUT_NOOVER ? BIRCH_NOOVERWRITE : kind == OP_PUT_APPEND ? BIRCH_APPEND : 0;
    if (m->multi) { /* the plain writes refuse a multimap table */
        void *out = NULL;
        EXPECT(s, birch_put(w, t, kval(id), (birch_val){"v", 1}, flags), BIRCH_ESCHEMA, "put on a multimap table");
        EXPECT(s, birch_put_reserve(w, t, kval(id), 8, 0, &out), BIRCH_ESCHEMA, "put_reserve on a multimap table");
        return;
    }
    if (kind == OP_OVERWRITE) {
        id = pick_present(m, kb);
        if (id < 0) return;
    }
    size_t vlen = vsize(s, cls, vb);
    int want = BIRCH_OK;
    if (kind == OP_PUT_NOOVER && m->present[id]) want = BIRCH_EXISTS;
    if (kind == OP_PUT_APPEND && model_from(m, NK - 1, -1) >= rank_of[id]) want = BIRCH_EXISTS;
    int rc = birch_put(w, t, kval(id), (birch_val){gen(s, id, vlen, vseed), vlen}, flags);
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
    birch_txn *w = wtx(s);
    mtable *m = &s->wm.t[ti];
    birch_table *t;
    if (table_in(s, w, m, ti, 0, &t)) return;
    int a = pick_present(m, ab);
    if (a < 0) return;
    int kind = (int)((variant >> 1) % AL_KINDS);
    birch_cursor *c = NULL;
    birch_val k = kval(a), v;
    if (variant & 1) {
        EXPECT(s, birch_cursor_open(w, t, &c), BIRCH_OK, "cursor_open");
        expect_at(s, c, birch_cursor_seek(c, kval(a)), m, rank_of[a], "alias seek");
        EXPECT(s, birch_cursor_get(c, &k, &v), BIRCH_OK, "alias cursor_get"); /* into the leaf */
    } else {
        EXPECT(s, birch_get(w, t, kval(a), &v), BIRCH_OK, "alias get");
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
    case AL_SAME: rc = birch_put(w, t, k, part, 0); break;
    case AL_OTHER:
        id = (int)bb;
        rc = birch_put(w, t, kval(id), part, 0);
        break;
    case AL_NEIGHBOUR: { /* the next key, else the one before, else a */
        int p = model_from(m, rank_of[a] + 1, 1);
        if (p < 0 && rank_of[a] > 0) p = model_from(m, rank_of[a] - 1, -1);
        id = p < 0 ? a : by_rank[p];
        rc = birch_put(w, t, kval(id), part, 0);
        break;
    }
    case AL_RESERVE: {
        void *out = NULL;
        rc = birch_put_reserve(w, t, k, flen, 0, &out);
        if (rc == BIRCH_OK) memcpy(out, gen(s, a, flen, bb), flen);
        break;
    }
    case AL_DEL: rc = birch_del(w, t, k); break;
    default: rc = birch_put(w, t, k, (birch_val){gen(s, a, flen, bb), flen}, 0); break;
    }
    EXPECT(s, rc, BIRCH_OK, kind == AL_DEL ? "alias del" : kind == AL_RESERVE ? "alias put_reserve" : "alias put");
    if (c) birch_cursor_close(c);
    if (kind == AL_DEL) {
        m->present[a] = 0;
    } else if (kind == AL_RESERVE || kind == AL_FRESH) {
        set_own(m, a, flen, bb);
    } else { /* id now holds part of a's value */
        set_copy(m, id, a);
        m->voff[id] = m->voff[a] + (uint32_t)off;
        m->vlen[id] = (uint32_t)len;
    }
    birch_val got;
    rc = birch_get(w, t, kval(id), &got);
    EXPECT(s, rc, m->present[id] ? BIRCH_OK : BIRCH_NOTFOUND, "get after an alias write");
    if (rc == BIRCH_OK && !rec_matches(s, m, rank_of[id], kval(id), got))
        FAILF(s, "alias kind %d (%s): key %d holds the wrong value (%zu bytes, model %u)", kind,
              variant & 1 ? "cursor" : "get", id, got.size, m->vlen[id]);
}

static void do_del(st *s, int present)
{
    int ti = (int)(byte(s) % NT);
    unsigned kb = byte(s);
    ensure_writer(s);
    birch_txn *w = wtx(s);
    mtable *m = &s->wm.t[ti];
    birch_table *t;
    if (table_in(s, w, m, ti, 0, &t)) return;
    if (m->multi) {
        EXPECT(s, birch_del(w, t, kval((int)kb)), BIRCH_ESCHEMA, "del on a multimap table");
        return;
    }
    int id = present ? pick_present(m, kb) : (int)kb;
    if (id < 0) return;
    int rc = birch_del(w, t, kval(id));
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
    if (m->multi) { /* the key's first value */
        int at = model_from(m, key_pos(m, id), 1);
        if (at >= 0 && pos_key(m, at) != id) at = -1;
        EXPECT(s, rc, at < 0 ? BIRCH_NOTFOUND : BIRCH_OK, "get (a multimap key's first value)");
        if (rc == BIRCH_OK && !rec_matches(s, m, at, kval(id), v)) FAILF(s, "get of multimap key %d: wrong value", id);
        return;
    }
    EXPECT(s, rc, m->present[id] ? BIRCH_OK : BIRCH_NOTFOUND, "get");
    if (rc == BIRCH_OK && !rec_matches(s, m, rank_of[id], kval(id), v)) FAILF(s, "get of key %d: wrong value", id);
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
    int at = model_from(m, key_pos(m, id), 1);
    expect_at(s, c, birch_cursor_seek(c, kval(id)), m, at, "seek");
    for (unsigned i = 0; i < (moves & 7); i++) {
        int fwd = (moves >> (3 + i % 5)) & 1;
        if (at < 0) at = fwd ? model_from(m, 0, 1) : model_from(m, npos(m) - 1, -1); /* unpositioned */
        else at = fwd ? model_from(m, at + 1, 1) : model_from(m, at - 1, -1);
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
    int at = fwd ? model_from(m, 0, 1) : model_from(m, npos(m) - 1, -1);
    int rc = fwd ? birch_cursor_first(c) : birch_cursor_last(c);
    for (;;) {
        expect_at(s, c, rc, m, at, fwd ? "scan forward" : "scan backward");
        if (at < 0) break;
        at = fwd ? model_from(m, at + 1, 1) : model_from(m, at - 1, -1);
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

static void nest_end(st *s, int d, int commit);

static void do_commit(st *s)
{
    if (!s->w) return;
    if (s->depth) { /* refused while a child is open; then the children fold in, deepest first */
        EXPECT(s, birch_txn_commit(s->w), BIRCH_EBUSY, "commit of a transaction with an open child");
        while (s->depth) nest_end(s, s->depth, 1);
    }
    long before = s->faults.injected;
    int rc = birch_txn_commit(s->w);
    park_txn(s, s->w);
    park_cursor(s, s->wc.c);
    s->w = NULL;
    s->lv[0] = NULL;
    s->wc.c = NULL;
    if (rc == BIRCH_OK) {
        s->com = s->wm;
        s->com.restored = 0;
        return;
    }
    if (s->faults.injected == before) FAILF(s, "commit returned %d without an injected fault", rc);
    EXPECT(s, rc, BIRCH_EIO, "commit after an injected fault");
    s->alt = s->wm;
    s->alt.restored = 0;
    s->uncertain = 1;
}

static void do_drop(st *s)
{
    int ti = (int)(byte(s) % NT);
    ensure_writer(s);
    mtable *m = &s->wm.t[ti];
    if (ti == 0 && s->wc.c) {
        birch_cursor_close(s->wc.c);
        s->wc.c = NULL;
    }
    int rc = birch_table_drop(wtx(s), tnames[ti]);
    EXPECT(s, rc, m->exists ? BIRCH_OK : BIRCH_NOTFOUND, "table_drop");
    memset(m, 0, sizeof *m);
}

/* What every call of kept cursor c that reads its table answers when the
 * table is gone (BIRCH_NOTFOUND) or is of another kind than when c was
 * opened (dropped and made again, restored: BIRCH_ESCHEMA); else 0. */
static int mc_table_rc(const mcur *c, const mtable *m)
{
    if (!m->exists) return BIRCH_NOTFOUND;
    return m->multi != c->multi ? BIRCH_ESCHEMA : BIRCH_OK;
}

/* next (fwd) or prev of kept cursor c over model m. */
static void mc_move(st *s, mcur *c, const mtable *m, int fwd, const char *what)
{
    int rc = fwd ? birch_cursor_next(c->c) : birch_cursor_prev(c->c);
    int trc = mc_table_rc(c, m);
    if (trc) {
        EXPECT(s, rc, trc, what);
        c->pos = -1; /* a failed move leaves the cursor unpositioned */
        return;
    }
    int at;
    if (c->pos < 0) at = fwd ? model_from(m, 0, 1) : model_from(m, npos(m) - 1, -1);
    else at = fwd ? model_from(m, c->pos + 1, 1) : model_from(m, c->pos - 1, -1);
    expect_at(s, c->c, rc, m, at, what);
    c->pos = at;
}

/* birch_cursor_get of kept cursor c: its record, or BIRCH_NOTFOUND when
 * unpositioned or its record was deleted. */
static void mc_get(st *s, mcur *c, const mtable *m, const char *what)
{
    birch_val k, v;
    int rc = birch_cursor_get(c->c, &k, &v);
    int want = c->pos < 0 ? BIRCH_NOTFOUND : mc_table_rc(c, m);
    if (!want && !pos_present(m, c->pos)) want = BIRCH_NOTFOUND;
    EXPECT(s, rc, want, what);
    if (rc == BIRCH_OK && !rec_matches(s, m, c->pos, k, v)) FAILF(s, "%s: the cursor's record differs", what);
}

/* birch_cursor_rank of kept cursor c. */
static void mc_rank(st *s, mcur *c, const mtable *m, const char *what)
{
    uint64_t r = UINT64_MAX;
    int rc = birch_cursor_rank(c->c, &r);
    int want = c->pos < 0 ? BIRCH_NOTFOUND : mc_table_rc(c, m);
    if (!want && !pos_present(m, c->pos)) want = BIRCH_NOTFOUND;
    EXPECT(s, rc, want, what);
    if (rc == BIRCH_OK && r != count_between(m, 0, c->pos))
        FAILF(s, "%s: rank %llu, model %llu", what, (unsigned long long)r,
              (unsigned long long)count_between(m, 0, c->pos));
}

static void do_live(st *s, int fwd)
{
    if (!s->w) return;
    mtable *m = &s->wm.t[0];
    if (s->depth) { /* the root's cursor waits for its children */
        if (s->wc.c) EXPECT(s, fwd ? birch_cursor_next(s->wc.c) : birch_cursor_prev(s->wc.c), BIRCH_EBUSY,
                            "the cursor of a transaction with an open child");
        return;
    }
    if (!s->wc.c) {
        birch_table *t;
        if (table_in(s, s->w, m, 0, 0, &t)) return;
        EXPECT(s, birch_cursor_open(s->w, t, &s->wc.c), BIRCH_OK, "cursor_open");
        s->wc.ti = 0;
        s->wc.multi = m->multi;
        s->wc.pos = -1;
    }
    mc_move(s, &s->wc, m, fwd, fwd ? "live cursor next" : "live cursor prev");
}

static void do_fault(st *s)
{
    unsigned kind = byte(s), n = 1 + byte(s) % 12;
    if (s->faults.tripped) return;
    /* A spill's write that fails would fail the put that spilled (the
     * transaction then refuses everything): with the small budget, only
     * syncs fail. */
    if ((kind & 1) || s->o.dirty_budget) s->faults.fail_sync = n;
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
    if (s->rreset) { /* a reset reader opens nothing */
        EXPECT(s, birch_table_open(s->r, tnames[0], 0, &t), BIRCH_ETXN, "table_open in a reset transaction");
        end_reader(s);
        return;
    }
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

/* ---- Issue 14: nested transactions (opcode byte 230) ------------------------- */

/* Begins a child of the deepest level; the model remembers the level's
 * state for the child's abort. */
static void nest_begin(st *s)
{
    birch_txn *c = NULL;
    EXPECT(s, birch_txn_begin_nested(wtx(s), &c), BIRCH_OK, "txn_begin_nested");
    if (birch_txn_id(c) != birch_txn_id(s->w) || !birch_txn_id(c))
        FAILF(s, "birch_txn_id of a child is %llu, its root's %llu", (unsigned long long)birch_txn_id(c),
              (unsigned long long)birch_txn_id(s->w));
    s->depth++;
    s->lv[s->depth] = c;
    s->lc[s->depth] = NULL;
    s->saved[s->depth] = s->wm;
}

/* Commits the deepest level d (folded into its parent), or aborts level d
 * and every level below it (the state of d's parent as d began comes
 * back).  Their handles and cursors are kept as stale ones. */
static void nest_end(st *s, int d, int commit)
{
    if (commit) {
        EXPECT(s, birch_txn_commit(s->lv[d]), BIRCH_OK, "commit of a child");
    } else {
        birch_txn_abort(s->lv[d]);
        s->wm = s->saved[d];
    }
    for (int i = s->depth; i >= d; i--) {
        park_cursor(s, s->lc[i]);
        park_txn(s, s->lv[i]);
        s->lc[i] = NULL;
        s->lv[i] = NULL;
    }
    s->depth = d - 1;
}

/* Calls on a level whose child is open: BIRCH_EBUSY (but birch_txn_id,
 * and reset, which no write transaction takes). */
static void nest_misuse(st *s, unsigned x)
{
    birch_txn *c = NULL;
    if (!s->depth) {
        EXPECT(s, birch_txn_begin_nested(NULL, &c), BIRCH_EINVAL, "txn_begin_nested(NULL)");
        EXPECT(s, birch_txn_begin_nested(s->w, NULL), BIRCH_EINVAL, "txn_begin_nested(.., NULL)");
        mstate *m;
        int temp;
        birch_txn *r = reader_txn(s, &m, &temp);
        EXPECT(s, birch_txn_begin_nested(r, &c), BIRCH_EINVAL, "txn_begin_nested of a read transaction");
        done_read(r, temp);
        return;
    }
    int lvl = (int)(x % (unsigned)s->depth);
    birch_txn *p = s->lv[lvl];
    birch_table *t = NULL;
    EXPECT(s, birch_table_open(p, tnames[x % NT], BIRCH_CREATE, &t), BIRCH_EBUSY, "table_open in a parent");
    EXPECT(s, birch_txn_begin_nested(p, &c), BIRCH_EBUSY, "a second child of a parent");
    EXPECT(s, birch_txn_commit(p), BIRCH_EBUSY, "commit of a parent with an open child");
    EXPECT(s, birch_savepoint_create(p, spnames[0]), BIRCH_EBUSY, "savepoint_create in a parent");
    EXPECT(s, birch_txn_reset(p), BIRCH_EINVAL, "txn_reset of a write transaction");
    EXPECT(s, birch_txn_renew(p), BIRCH_EINVAL, "txn_renew of a write transaction");
    if (birch_txn_id(p) != birch_txn_id(wtx(s)) || !birch_txn_id(p)) FAILF(s, "birch_txn_id of level %d", lvl);
    birch_table *th = s->th[x % NT];
    if (th) {
        birch_val v;
        uint64_t n;
        birch_cursor *cc = NULL;
        EXPECT(s, birch_get(p, th, kval(0), &v), BIRCH_EBUSY, "get in a parent");
        EXPECT(s, birch_put(p, th, kval(0), (birch_val){"v", 1}, 0), BIRCH_EBUSY, "put in a parent");
        EXPECT(s, birch_count(p, th, &n), BIRCH_EBUSY, "count in a parent");
        EXPECT(s, birch_multi_put(p, th, kval(0), mval(0), 0), BIRCH_EBUSY, "multi_put in a parent");
        EXPECT(s, birch_sequence_next(p, th, &n), BIRCH_EBUSY, "sequence_next in a parent");
        EXPECT(s, birch_del_range(p, th, (birch_val){NULL, 0}, (birch_val){NULL, 0}, &n), BIRCH_EBUSY,
               "del_range in a parent");
        EXPECT(s, birch_cursor_open(p, th, &cc), BIRCH_EBUSY, "cursor_open in a parent");
    }
    if (lvl && s->lc[lvl]) EXPECT(s, birch_cursor_next(s->lc[lvl]), BIRCH_EBUSY, "a parent's cursor");
    if (!lvl && s->wc.c) {
        uint64_t r;
        EXPECT(s, birch_cursor_rank(s->wc.c, &r), BIRCH_EBUSY, "rank of the root's cursor");
        EXPECT(s, birch_cursor_del(s->wc.c), BIRCH_EBUSY, "cursor_del of the root's cursor");
    }
}

/* Opens a cursor at the deepest child level (ended with it). */
static void nest_cursor(st *s, unsigned x)
{
    if (!s->depth || s->lc[s->depth]) return;
    int ti = (int)(x % NT);
    mtable *m = &s->wm.t[ti];
    birch_table *t;
    if (table_in(s, wtx(s), m, ti, 0, &t)) return;
    EXPECT(s, birch_cursor_open(wtx(s), t, &s->lc[s->depth]), BIRCH_OK, "cursor_open in a child");
    expect_at(s, s->lc[s->depth], birch_cursor_last(s->lc[s->depth]), m, model_from(m, npos(m) - 1, -1),
              "last in a child");
}

static void do_nest(st *s)
{
    unsigned b = byte(s);
    ensure_writer(s);
    switch (b % 8) {
    case 0:
    case 1:
        if (s->depth < NEST) nest_begin(s);
        else nest_end(s, s->depth, 1);
        break;
    case 2:
    case 3:
        if (s->depth) nest_end(s, s->depth, 1);
        else nest_begin(s);
        break;
    case 4:
        if (s->depth) nest_end(s, s->depth, 0);
        break;
    case 5: /* a level in the middle: its children end with it */
        if (s->depth) nest_end(s, 1 + (int)((b >> 3) % (unsigned)s->depth), 0);
        break;
    case 6: nest_misuse(s, b >> 3); break;
    default: nest_cursor(s, b >> 3); break;
    }
}

/* ---- Issue 14: savepoints (opcode byte 231) ----------------------------------- */

/* A free slot of the pool of savepoint states: one no model refers to
 * (com, alt, wm, rm and saved[1..NEST] refer to NSP each at most, and the
 * one a create replaces is not among wm's). */
static int sp_slot(st *s)
{
    uint8_t used[NPOOL];
    memset(used, 0, sizeof used);
    const mstate *ms[4] = {&s->com, &s->alt, &s->wm, &s->rm};
    for (int i = 0; i < 4 + s->depth; i++) {
        const mstate *m = i < 4 ? ms[i] : &s->saved[i - 3];
        for (int j = 0; j < NSP; j++)
            if (m->sp[j].have) used[m->sp[j].slot] = 1;
    }
    for (int i = 0; i < NPOOL; i++)
        if (!used[i]) return i;
    FZ_FAIL("the model's pool of savepoint states is full");
}

static void do_savepoint(st *s)
{
    unsigned b = byte(s);
    int si = (int)((b >> 3) % NSP), temp;
    mstate *m;
    birch_txn *txn;
    const char *bad;
    switch (b % 8) {
    case 4: /* the list, in any transaction */
        txn = read_txn(s, &m, &temp);
        if ((bad = compare_sps(txn, m))) FAILF(s, "%s", bad);
        done_read(txn, temp);
        return;
    case 6: /* a read transaction changes none */
        txn = reader_txn(s, &m, &temp);
        if (!m->sp[si].have) /* (one refusal due at a time) */
            EXPECT(s, birch_savepoint_create(txn, spnames[si]), BIRCH_EREADONLY, "savepoint_create in a read transaction");
        else {
            EXPECT(s, birch_savepoint_restore(txn, spnames[si]), BIRCH_EREADONLY, "savepoint_restore in a read transaction");
            EXPECT(s, birch_savepoint_drop(txn, spnames[si]), BIRCH_EREADONLY, "savepoint_drop in a read transaction");
        }
        if ((bad = compare_sps(txn, m))) FAILF(s, "%s (a read transaction)", bad);
        done_read(txn, temp);
        return;
    }
    ensure_writer(s);
    birch_txn *w = wtx(s);
    m = &s->wm;
    msp *sp = &m->sp[si];
    switch (b % 8) {
    case 0:
    case 1: { /* keeps the last commit */
        int want = sp->have ? BIRCH_EXISTS : m->restored ? BIRCH_EINVAL : BIRCH_OK;
        EXPECT(s, birch_savepoint_create(w, spnames[si]), want,
               m->restored ? "savepoint_create after a restore" : "savepoint_create");
        if (want) break;
        int slot = sp_slot(s);
        memcpy(s->pool[slot], s->com.t, sizeof s->com.t);
        sp->have = 1;
        sp->slot = (uint8_t)slot;
        sp->txnid = birch_txn_id(w) - 1;
        break;
    }
    case 2: /* its state becomes the transaction's; later savepoints go */
        EXPECT(s, birch_savepoint_restore(w, spnames[si]), sp->have ? BIRCH_OK : BIRCH_NOTFOUND, "savepoint_restore");
        if (!sp->have) break;
        memcpy(m->t, s->pool[sp->slot], sizeof m->t);
        for (int j = 0; j < NSP; j++)
            if (m->sp[j].have && m->sp[j].txnid > sp->txnid) m->sp[j].have = 0;
        m->restored = 1;
        break;
    case 3:
        EXPECT(s, birch_savepoint_drop(w, spnames[si]), sp->have ? BIRCH_OK : BIRCH_NOTFOUND, "savepoint_drop");
        sp->have = 0;
        break;
    case 5: { /* bad names: NULL, empty, too long */
        const char *name = (b >> 5) % 3 == 0 ? NULL : (b >> 5) % 3 == 1 ? "" : sp_toolong;
        EXPECT(s, birch_savepoint_create(w, name), BIRCH_EINVAL, "savepoint_create with a bad name");
        EXPECT(s, birch_savepoint_restore(w, name), BIRCH_EINVAL, "savepoint_restore with a bad name");
        EXPECT(s, birch_savepoint_drop(w, name), BIRCH_EINVAL, "savepoint_drop with a bad name");
        EXPECT(s, birch_savepoint_create(NULL, spnames[si]), BIRCH_EINVAL, "savepoint_create(NULL)");
        EXPECT(s, birch_savepoint_list(w, NULL, NULL), BIRCH_EINVAL, "savepoint_list without a function");
        break;
    }
    default: /* the whole state of the deepest level */
        if ((bad = compare_txn(s, w, m))) FAILF(s, "level %d differs from the model: %s", s->depth, bad);
        break;
    }
}

/* ---- Issue 14: multimap tables (opcode bytes 232, 233) ------------------------ */

/* Multimap writes in a read transaction: refused (a plain table's refusal
 * comes first). */
static void multi_in_read(st *s, int ti, int id, int vid)
{
    mstate *ms;
    int temp;
    birch_txn *txn = reader_txn(s, &ms, &temp);
    mtable *m = &ms->t[ti];
    birch_table *t;
    if (table_in(s, txn, m, ti, 0, &t) == BIRCH_OK) {
        uint64_t n = 0;
        if (m->multi) { /* (on a plain table, or of a pair too long, two refusals would be due at once) */
            int k = pair_fits(s, id, vid) ? id : short_id, v = k == id ? vid : 0;
            EXPECT(s, birch_multi_put(txn, t, kval(k), mval(v), 0), BIRCH_EREADONLY, "multi_put in a read transaction");
            EXPECT(s, birch_multi_del(txn, t, kval(k), mval(v)), BIRCH_EREADONLY, "multi_del in a read transaction");
            EXPECT(s, birch_multi_del_all(txn, t, kval(id), &n), BIRCH_EREADONLY, "multi_del_all in a read transaction");
        }
        EXPECT(s, birch_multi_count(txn, t, kval(id), &n), m->multi ? BIRCH_OK : BIRCH_ESCHEMA, "multi_count");
        if (m->multi && n != (uint64_t)popcount16(m->mv[id])) FAILF(s, "multi_count %llu, model %d", (unsigned long long)n,
                                                                   popcount16(m->mv[id]));
    }
    done_read(txn, temp);
}

static void do_multi_write(st *s)
{
    unsigned b = byte(s);
    int ti = (int)(byte(s) % NT), id = (int)byte(s), vid = (int)(byte(s) % NV);
    int k = (int)(b % 8);
    if (k == 7) {
        multi_in_read(s, ti, id, vid);
        return;
    }
    ensure_writer(s);
    birch_txn *w = wtx(s);
    mtable *m = &s->wm.t[ti];
    birch_table *t = NULL;
    uint64_t n = UINT64_MAX;
    int rc;
    if (k == 0 || ((k == 1 || k == 2) && !m->exists)) { /* made a multimap table when missing */
        rc = birch_table_open(w, tnames[ti], BIRCH_CREATE | BIRCH_MULTIMAP, &t);
        EXPECT(s, rc, m->exists && !m->multi ? BIRCH_ESCHEMA : BIRCH_OK, "table_open(CREATE | MULTIMAP)");
        if (!m->exists) {
            memset(m, 0, sizeof *m);
            m->exists = 1;
            m->multi = 1;
        }
        if (rc == BIRCH_OK) s->th[ti] = t;
        if (k == 0) return;
    }
    if (table_in(s, w, m, ti, 0, &t)) return;
    int has = m->multi && ((m->mv[id] >> vid) & 1);
    switch (k) {
    case 1:
    case 2: { /* a set: adding a value it has is no change (or EXISTS) */
        unsigned flags = (b >> 3) & 1 ? BIRCH_NOOVERWRITE : 0;
        int want = !m->multi ? BIRCH_ESCHEMA : !pair_fits(s, id, vid) ? BIRCH_EVALSIZE
                   : has && flags ? BIRCH_EXISTS : BIRCH_OK;
        EXPECT(s, birch_multi_put(w, t, kval(id), mval(vid), flags), want, "multi_put");
        if (want == BIRCH_OK) m->mv[id] |= (uint16_t)(1u << vid);
        break;
    }
    case 3: {
        int want = !m->multi ? BIRCH_ESCHEMA : !pair_fits(s, id, vid) ? BIRCH_EVALSIZE : has ? BIRCH_OK : BIRCH_NOTFOUND;
        EXPECT(s, birch_multi_del(w, t, kval(id), mval(vid)), want, "multi_del");
        if (want == BIRCH_OK) m->mv[id] &= (uint16_t)~(1u << vid);
        break;
    }
    case 4: {
        int all = m->multi ? popcount16(m->mv[id]) : 0;
        rc = birch_multi_del_all(w, t, kval(id), (b >> 3) & 1 ? NULL : &n);
        EXPECT(s, rc, !m->multi ? BIRCH_ESCHEMA : all ? BIRCH_OK : BIRCH_NOTFOUND, "multi_del_all");
        if (m->multi && !((b >> 3) & 1) && n != (uint64_t)all)
            FAILF(s, "multi_del_all: %llu deleted, model %d", (unsigned long long)n, all);
        if (m->multi) m->mv[id] = 0;
        break;
    }
    case 5:
        EXPECT(s, birch_multi_count(w, t, kval(id), &n), m->multi ? BIRCH_OK : BIRCH_ESCHEMA, "multi_count");
        if (m->multi && n != (uint64_t)popcount16(m->mv[id]))
            FAILF(s, "multi_count %llu, model %d", (unsigned long long)n, popcount16(m->mv[id]));
        break;
    default: { /* refusals, one bad argument at a time (their order is not the contract's) */
        int plain = m->multi ? 0 : BIRCH_ESCHEMA;
        unsigned fl = 0;
        unsigned x = (b >> 3) % 7;
        if (plain && x < 5) { /* a plain table: only that */
            EXPECT(s, birch_multi_del(w, t, kval(short_id), mval(0)), BIRCH_ESCHEMA, "multi_del on a plain table");
            EXPECT(s, birch_multi_count(w, t, kval(id), &n), BIRCH_ESCHEMA, "multi_count on a plain table");
            break;
        }
        switch (x) {
        case 0:
            EXPECT(s, birch_multi_put(w, t, kval(short_id), mval(0), BIRCH_APPEND), BIRCH_EINVAL, "multi_put(APPEND)");
            break;
        case 1:
            EXPECT(s, birch_multi_put(w, t, (birch_val){keys[id], 0}, mval(0), 0), BIRCH_EKEYSIZE,
                   "multi_put of an empty key");
            EXPECT(s, birch_multi_del(w, t, (birch_val){keys[id], 0}, mval(0)), BIRCH_EKEYSIZE,
                   "multi_del of an empty key");
            break;
        case 2:
            EXPECT(s, birch_multi_put(w, t, (birch_val){s->big, s->maxk + 1}, mval(0), 0), BIRCH_EKEYSIZE,
                   "multi_put of a key too long");
            EXPECT(s, birch_multi_count(w, t, (birch_val){s->big, s->maxk + 1}, &n), BIRCH_EKEYSIZE,
                   "multi_count of a key too long");
            break;
        case 3:
            EXPECT(s, birch_multi_put(w, t, (birch_val){NULL, 3}, mval(0), 0), BIRCH_EINVAL, "multi_put of a NULL key");
            EXPECT(s, birch_multi_put(w, t, kval(short_id), (birch_val){NULL, 3}, 0), BIRCH_EINVAL,
                   "multi_put of a NULL value");
            break;
        case 4:
            EXPECT(s, birch_multi_count(w, t, kval(id), NULL), BIRCH_EINVAL, "multi_count(NULL)");
            EXPECT(s, birch_multi_del_all(w, t, (birch_val){keys[id], 0}, &n), BIRCH_EKEYSIZE,
                   "multi_del_all of an empty key");
            EXPECT(s, birch_multi_put(w, t, kval(id), (birch_val){s->big, s->maxk + 1}, 0), BIRCH_EVALSIZE,
                   "multi_put of a value too long");
            break;
        case 5:
            EXPECT(s, birch_table_open(w, tnames[ti], 0x4, &t), BIRCH_EINVAL, "table_open with unknown flags");
            EXPECT(s, birch_table_open(w, tnames[ti], BIRCH_MULTIMAP, &t), plain ? plain : BIRCH_OK,
                   "table_open(MULTIMAP)");
            EXPECT(s, birch_table_flags(w, t, &fl), BIRCH_OK, "table_flags");
            if (fl != (m->multi ? BIRCH_MULTIMAP : 0u)) FAILF(s, "table_flags %#x, model multimap %d", fl, m->multi);
            EXPECT(s, birch_table_flags(w, t, NULL), BIRCH_EINVAL, "table_flags(NULL)");
            break;
        default: { /* the multimap calls' refusals of a missing table */
            mtable *m2 = &s->wm.t[(ti + 1) % NT];
            birch_table *t2 = s->th[(ti + 1) % NT];
            if (!m2->exists && t2) {
                EXPECT(s, birch_multi_put(w, t2, kval(short_id), mval(0), 0), BIRCH_NOTFOUND, "multi_put (no table)");
                EXPECT(s, birch_multi_count(w, t2, kval(id), &n), BIRCH_NOTFOUND, "multi_count (no table)");
            }
            if (!m2->exists) /* MULTIMAP without CREATE makes nothing */
                EXPECT(s, birch_table_open(w, tnames[(ti + 1) % NT], BIRCH_MULTIMAP, &t2), BIRCH_NOTFOUND,
                       "table_open(MULTIMAP) of a missing table");
            break;
        }
        }
        break;
    }
    }
}

/* seek_value / seek, then moves by value and by pair, then count_values. */
static void do_multi_read(st *s)
{
    unsigned b = byte(s);
    int ti = (int)(byte(s) % NT), id = (int)byte(s), vid = (int)(byte(s) % NV);
    unsigned mb = byte(s);
    mstate *ms;
    int temp;
    birch_txn *txn = read_txn(s, &ms, &temp);
    mtable *m = &ms->t[ti];
    birch_table *t;
    if (table_in(s, txn, m, ti, 0, &t)) {
        done_read(txn, temp);
        return;
    }
    birch_cursor *c = NULL;
    uint64_t n = UINT64_MAX;
    EXPECT(s, birch_cursor_open(txn, t, &c), BIRCH_OK, "cursor_open");
    if (!m->multi) { /* the multimap calls refuse a plain table */
        EXPECT(s, birch_cursor_seek_value(c, kval(id), mval(0)), BIRCH_ESCHEMA, "seek_value on a plain table");
        EXPECT(s, birch_cursor_first(c), model_count(m) ? BIRCH_OK : BIRCH_NOTFOUND, "first");
        EXPECT(s, birch_cursor_next_value(c), BIRCH_ESCHEMA, "next_value on a plain table");
        EXPECT(s, birch_cursor_prev_value(c), BIRCH_ESCHEMA, "prev_value on a plain table");
        EXPECT(s, birch_cursor_count_values(c, &n), BIRCH_ESCHEMA, "count_values on a plain table");
        EXPECT(s, birch_multi_count(txn, t, kval(id), &n), BIRCH_ESCHEMA, "multi_count on a plain table");
        birch_cursor_close(c);
        done_read(txn, temp);
        return;
    }
    EXPECT(s, birch_multi_count(txn, t, kval(id), &n), BIRCH_OK, "multi_count");
    if (n != (uint64_t)popcount16(m->mv[id]))
        FAILF(s, "multi_count of key %d: %llu, model %d", id, (unsigned long long)n, popcount16(m->mv[id]));
    int at;
    if ((b & 7) == 7) { /* refusals (a value longer than any pair's, an empty key, a NULL value) leave the cursor */
        at = model_from(m, key_pos(m, id), 1);
        expect_at(s, c, birch_cursor_seek(c, kval(id)), m, at, "seek on a multimap table");
        EXPECT(s, birch_cursor_seek_value(c, kval(id), (birch_val){s->big, s->maxk + 1}), BIRCH_EVALSIZE,
               "seek_value of a value too long");
        EXPECT(s, birch_cursor_seek_value(c, (birch_val){keys[id], 0}, mval(0)), BIRCH_EKEYSIZE,
               "seek_value of an empty key"); /* one bad argument at a time: their order is not the contract's */
        EXPECT(s, birch_cursor_seek_value(c, kval(short_id), (birch_val){NULL, 2}), BIRCH_EINVAL,
               "seek_value of a NULL value");
        mcur mc = {c, ti, 1, at};
        mc_get(s, &mc, m, "cursor_get after refused seek_values");
    } else if ((b & 1) && mvlens[vid] > s->maxk) { /* longer than any pair's value: refused */
        EXPECT(s, birch_cursor_seek_value(c, kval(id), mval(vid)), BIRCH_EVALSIZE, "seek_value of a value too long");
        at = -1; /* (the cursor was just opened) */
    } else if (b & 1) { /* the key's first value >= vid */
        int base = key_pos(m, id);
        at = model_from(m, base + vrank_of[vid], 1);
        if (at >= base + NV) at = -1;
        expect_at(s, c, birch_cursor_seek_value(c, kval(id), mval(vid)), m, at, "seek_value");
    } else {
        at = model_from(m, key_pos(m, id), 1);
        expect_at(s, c, birch_cursor_seek(c, kval(id)), m, at, "seek on a multimap table");
    }
    for (unsigned i = 0; i <= (mb & 3) && i < 3; i++) {
        unsigned kind = (mb >> (2 + 2 * i)) & 3;
        int rc;
        if (kind >= 2) { /* next or prev: every pair */
            int fwd = kind == 2;
            if (at < 0) at = fwd ? model_from(m, 0, 1) : model_from(m, npos(m) - 1, -1);
            else at = fwd ? model_from(m, at + 1, 1) : model_from(m, at - 1, -1);
            expect_at(s, c, fwd ? birch_cursor_next(c) : birch_cursor_prev(c), m, at, fwd ? "next" : "prev");
            continue;
        }
        rc = kind == 0 ? birch_cursor_next_value(c) : birch_cursor_prev_value(c);
        int to = at < 0 ? -1 : kind == 0 ? model_from(m, at + 1, 1) : model_from(m, at - 1, -1);
        if (to >= 0 && pos_key(m, to) != pos_key(m, at)) to = -1;
        if (to >= 0) {
            expect_at(s, c, rc, m, to, kind == 0 ? "next_value" : "prev_value");
            at = to;
        } else { /* NOTFOUND, and the cursor stays where it was */
            EXPECT(s, rc, BIRCH_NOTFOUND, kind == 0 ? "next_value at the key's last value" : "prev_value at its first");
            birch_val k, v;
            rc = birch_cursor_get(c, &k, &v);
            EXPECT(s, rc, at < 0 ? BIRCH_NOTFOUND : BIRCH_OK, "cursor_get after next_value or prev_value");
            if (rc == BIRCH_OK && !rec_matches(s, m, at, k, v)) FAILF(s, "%s", "next_value moved the cursor");
        }
    }
    if (at >= 0 && (b & 7) == 5) EXPECT(s, birch_cursor_count_values(c, NULL), BIRCH_EINVAL, "count_values(NULL)");
    n = UINT64_MAX;
    EXPECT(s, birch_cursor_count_values(c, &n), at < 0 ? BIRCH_NOTFOUND : BIRCH_OK, "count_values");
    if (at >= 0 && n != (uint64_t)popcount16(m->mv[pos_key(m, at)]))
        FAILF(s, "count_values %llu, model %d", (unsigned long long)n, popcount16(m->mv[pos_key(m, at)]));
    birch_cursor_close(c);
    done_read(txn, temp);
}

/* ---- Issue 14: range counts and deletions (opcode byte 234) ------------------ */

/* Fills keys [lo, hi) of table ti (made plain when missing) with records:
 * a plain table's keys get small values, a multimap table's keys every
 * value of a set that fits: trees of a few levels, whose subtrees a range
 * deletion frees whole. */
static void range_fill(st *s, unsigned b, int ti, int lo, int hi)
{
    ensure_writer(s);
    birch_txn *w = wtx(s);
    mtable *m = &s->wm.t[ti];
    birch_table *t;
    table_in(s, w, m, ti, 1, &t);
    int a = lo < 0 ? 0 : rank_of[lo], z = hi < 0 ? NK : rank_of[hi];
    unsigned mask = (b >> 5) == 7 ? 0xffffu : 0x1111u << (b >> 5) % 4;
    for (int r = a; r < z; r++) {
        int id = by_rank[r];
        if (!m->multi) {
            size_t vlen = 1 + (size_t)(b >> 5) * 5;
            EXPECT(s, birch_put(w, t, kval(id), (birch_val){gen(s, id, vlen, b), vlen}, 0), BIRCH_OK, "put (fill)");
            set_own(m, id, vlen, b);
            continue;
        }
        for (int v = 0; v < NV; v++) {
            if (!((mask >> v) & 1) || !pair_fits(s, id, v)) continue;
            EXPECT(s, birch_multi_put(w, t, kval(id), mval(v), 0), BIRCH_OK, "multi_put (fill)");
            m->mv[id] |= (uint16_t)(1u << v);
        }
    }
}

static void do_range(st *s)
{
    unsigned b = byte(s);
    int ti = (int)(byte(s) % NT), lo = (int)byte(s), hi = (int)byte(s);
    if ((b >> 3) & 1) lo = -1; /* open */
    if ((b >> 4) & 1) hi = -1;
    int k = (int)(b % 8);
    if (k == 6 && lo >= 0 && hi >= 0 && rank_of[lo] < rank_of[hi]) { /* lo > hi */
        int x = lo;
        lo = hi;
        hi = x;
    }
    birch_val lov = lo < 0 ? (birch_val){NULL, 0} : kval(lo), hiv = hi < 0 ? (birch_val){NULL, 0} : kval(hi);
    int backwards = lo >= 0 && hi >= 0 && rank_of[lo] > rank_of[hi];
    mstate *ms;
    int temp = 0;
    birch_txn *txn;
    int del = k == 3 || k == 4 || k == 7;
    if (k == 2) {
        range_fill(s, b, ti, lo, hi);
        return;
    }
    if (del) {
        ensure_writer(s);
        txn = wtx(s);
        ms = &s->wm;
    } else {
        txn = k == 5 && ((b >> 5) & 3) == 3 ? reader_txn(s, &ms, &temp) : read_txn(s, &ms, &temp);
    }
    mtable *m = &ms->t[ti];
    birch_table *t;
    if (table_in(s, txn, m, ti, 0, &t)) {
        done_read(txn, temp);
        return;
    }
    int a = lo < 0 ? 0 : key_pos(m, lo), z = hi < 0 ? npos(m) : key_pos(m, hi);
    uint64_t want = backwards ? 0 : count_between(m, a, z), n = UINT64_MAX;
    int rc;
    if (k == 5) { /* refusals */
        birch_val open = {NULL, 0}; /* one bad argument at a time */
        switch ((b >> 5) & 3) {
        case 0: EXPECT(s, birch_count_range(txn, t, open, open, NULL), BIRCH_EINVAL, "count_range(NULL)"); break;
        case 1:
            EXPECT(s, birch_count_range(txn, t, (birch_val){s->big, s->maxk + 1}, open, &n), BIRCH_EKEYSIZE,
                   "count_range with a bound too long");
            break;
        case 2:
            EXPECT(s, birch_count_range(txn, t, open, (birch_val){NULL, 4}, &n), BIRCH_EINVAL,
                   "count_range with a NULL bound");
            break;
        default:
            EXPECT(s, birch_del_range(txn, t, backwards ? hiv : lov, backwards ? lov : hiv, &n), BIRCH_EREADONLY,
                   "del_range in a read transaction");
            break;
        }
    } else if (!del) {
        rc = birch_count_range(txn, t, lov, hiv, &n);
        EXPECT(s, rc, backwards ? BIRCH_EINVAL : BIRCH_OK, backwards ? "count_range with lo > hi" : "count_range");
        if (rc == BIRCH_OK && n != want)
            FAILF(s, "count_range of table %s: %llu, model %llu", tnames[ti], (unsigned long long)n,
                  (unsigned long long)want);
        if (k == 6 && lo >= 0) { /* lo == hi: empty */
            EXPECT(s, birch_count_range(txn, t, lov, lov, &n), BIRCH_OK, "count_range of an empty range");
            if (n) FAILF(s, "count_range(lo, lo) is %llu", (unsigned long long)n);
        }
    } else {
        rc = birch_del_range(txn, t, lov, hiv, (b >> 5) & 1 ? NULL : &n);
        EXPECT(s, rc, backwards ? BIRCH_EINVAL : BIRCH_OK, backwards ? "del_range with lo > hi" : "del_range");
        if (rc == BIRCH_OK && !((b >> 5) & 1) && n != want)
            FAILF(s, "del_range of table %s deleted %llu, model %llu", tnames[ti], (unsigned long long)n,
                  (unsigned long long)want);
        if (rc == BIRCH_OK)
            for (int p = a; p < z; p++) pos_clear(m, p);
    }
    done_read(txn, temp);
}

/* ---- Issue 14: ranks (opcode byte 235) ---------------------------------------- */

static void do_rank(st *s)
{
    unsigned b = byte(s);
    int ti = (int)(byte(s) % NT);
    unsigned nb = byte(s), mb = byte(s);
    if (b & 1) { /* the live cursor's rank */
        if (!s->w || !s->wc.c) return;
        if (s->depth) {
            uint64_t r;
            EXPECT(s, birch_cursor_rank(s->wc.c, &r), BIRCH_EBUSY, "rank of the cursor of a transaction with an open child");
            return;
        }
        mc_get(s, &s->wc, &s->wm.t[0], "live cursor get");
        mc_rank(s, &s->wc, &s->wm.t[0], "live cursor rank");
        return;
    }
    mstate *ms;
    int temp;
    birch_txn *txn = read_txn(s, &ms, &temp);
    mtable *m = &ms->t[ti];
    birch_table *t;
    if (table_in(s, txn, m, ti, 0, &t)) {
        done_read(txn, temp);
        return;
    }
    birch_cursor *c = NULL;
    EXPECT(s, birch_cursor_open(txn, t, &c), BIRCH_OK, "cursor_open");
    mcur mc = {c, ti, m->multi, -1};
    uint64_t cnt = model_count(m), n = (b >> 1) & 1 ? (b & 4 ? UINT64_MAX : cnt) : nb % (cnt + 2);
    mc_rank(s, &mc, m, "rank of an unpositioned cursor");
    int at = n < cnt ? nth_pos(m, n) : -1;
    expect_at(s, c, birch_cursor_seek_rank(c, n), m, at, "seek_rank");
    mc.pos = at;
    mc_rank(s, &mc, m, "rank after seek_rank");
    for (unsigned i = 0; i < (mb & 3); i++) {
        mc_move(s, &mc, m, (mb >> (2 + i)) & 1, "move after seek_rank");
        mc_rank(s, &mc, m, "rank after a move");
    }
    if ((b >> 3) & 1) EXPECT(s, birch_cursor_rank(c, NULL), BIRCH_EINVAL, "cursor_rank(NULL)");
    birch_cursor_close(c);
    done_read(txn, temp);
}

/* ---- Issue 14: writes through a cursor (opcode byte 236) --------------------- */

/* birch_cursor_del of kept cursor c: the record goes, the cursor moves to
 * the next one (unpositioned after the last). */
static void mc_del(st *s, mcur *c, mtable *m)
{
    int rc = birch_cursor_del(c->c);
    int want = c->pos < 0 ? BIRCH_NOTFOUND : mc_table_rc(c, m);
    if (!want && !pos_present(m, c->pos)) want = BIRCH_NOTFOUND;
    EXPECT(s, rc, want, "cursor_del");
    if (rc) return;
    pos_clear(m, c->pos);
    c->pos = model_from(m, c->pos + 1, 1);
    mc_get(s, c, m, "cursor_get after cursor_del");
}

static void do_cursor_write(st *s)
{
    unsigned b = byte(s);
    int ti = (int)(byte(s) % NT), id = (int)byte(s);
    unsigned cls = byte(s), vb = byte(s);
    int k = (int)(b % 8);
    mstate *ms;
    int temp = 0;
    birch_txn *txn;
    if (k == 5) {
        txn = reader_txn(s, &ms, &temp);
    } else {
        ensure_writer(s);
        txn = wtx(s);
        ms = &s->wm;
    }
    mtable *m = &ms->t[ti];
    mcur tmp = {NULL, ti, 0, -1}, *c = &tmp;
    if (k != 5 && ti == 0 && ((b >> 3) & 1) && !s->depth && s->wc.c && !mc_table_rc(&s->wc, m)) {
        c = &s->wc; /* the live cursor, where it stands */
    } else {
        birch_table *t;
        if (table_in(s, txn, m, ti, 0, &t)) {
            done_read(txn, temp);
            return;
        }
        EXPECT(s, birch_cursor_open(txn, t, &tmp.c), BIRCH_OK, "cursor_open");
        tmp.multi = m->multi;
        if (!((b >> 6) & 1)) { /* else unpositioned */
            tmp.pos = model_from(m, key_pos(m, id), 1);
            expect_at(s, tmp.c, birch_cursor_seek(tmp.c, kval(id)), m, tmp.pos, "seek");
        }
    }
    int id2 = (int)vb, rc;
    size_t vlen = vsize(s, cls, vb);
    int plain = c->multi ? BIRCH_ESCHEMA : BIRCH_OK;
    /* the cursor's record: 0, or why CURRENT refuses it */
    int here = c->pos < 0 ? BIRCH_NOTFOUND : !pos_present(m, c->pos) ? BIRCH_NOTFOUND : BIRCH_OK;
    switch (k) {
    case 0:
    case 1: /* deletes as it scans */
        for (unsigned i = 0; i <= ((b >> 4) & 3); i++) mc_del(s, c, m);
        break;
    case 2: { /* a put that positions the cursor on its key */
        unsigned flags = plain ? 0 : (b >> 4) & 3;
        flags = flags == 1 ? BIRCH_NOOVERWRITE : flags == 2 ? BIRCH_APPEND : 0;
        int want = plain;
        if (!want && flags == BIRCH_NOOVERWRITE && m->present[id2]) want = BIRCH_EXISTS;
        if (!want && flags == BIRCH_APPEND && model_from(m, NK - 1, -1) >= rank_of[id2]) want = BIRCH_EXISTS;
        rc = birch_cursor_put(c->c, kval(id2), (birch_val){gen(s, id2, vlen, vb), vlen}, flags);
        EXPECT(s, rc, want, "cursor_put");
        if (rc) break;
        set_own(m, id2, vlen, vb);
        c->pos = rank_of[id2];
        mc_get(s, c, m, "cursor_get after cursor_put");
        break;
    }
    case 3: /* CURRENT: the record under the cursor gets a new value */
        if (plain && here) break; /* (one refusal due at a time) */
        rc = birch_cursor_put(c->c, (b >> 4) & 1 && !here ? kval(pos_key(m, c->pos)) : (birch_val){NULL, 0},
                              (birch_val){gen(s, here ? id2 : pos_key(m, c->pos), vlen, vb), vlen}, BIRCH_CURRENT);
        EXPECT(s, rc, plain ? plain : here, "cursor_put(CURRENT)");
        if (rc) break;
        set_own(m, pos_key(m, c->pos), vlen, vb);
        mc_get(s, c, m, "cursor_get after cursor_put(CURRENT)");
        break;
    case 4: /* refusals, one bad argument at a time, on a plain table's positioned cursor */
        if (plain || here) break;
        switch ((b >> 4) % 4) {
        case 0:
            if (pos_key(m, c->pos) == id2) break;
            EXPECT(s, birch_cursor_put(c->c, kval(id2), (birch_val){"v", 1}, BIRCH_CURRENT), BIRCH_EINVAL,
                   "cursor_put(CURRENT) with another key");
            break;
        case 1:
            EXPECT(s, birch_cursor_put(c->c, (birch_val){NULL, 0}, (birch_val){"v", 1}, BIRCH_CURRENT | BIRCH_NOOVERWRITE),
                   BIRCH_EINVAL, "cursor_put(CURRENT | NOOVERWRITE)");
            break;
        case 2:
            EXPECT(s, birch_cursor_put(c->c, kval(id2), (birch_val){"v", 1}, 0x8), BIRCH_EINVAL,
                   "cursor_put with unknown flags");
            break;
        default:
            EXPECT(s, birch_cursor_put(c->c, (birch_val){keys[0], 0}, (birch_val){"v", 1}, 0), BIRCH_EKEYSIZE,
                   "cursor_put of an empty key");
            EXPECT(s, birch_cursor_del(NULL), BIRCH_EINVAL, "cursor_del(NULL)");
            break;
        }
        mc_get(s, c, m, "cursor_get after a refused cursor write");
        break;
    case 5: /* a read transaction's cursor writes nothing */
        if (!plain)
            EXPECT(s, birch_cursor_put(c->c, kval(id2), (birch_val){"v", 1}, 0), BIRCH_EREADONLY,
                   "cursor_put in a read transaction");
        if (!here) EXPECT(s, birch_cursor_del(c->c), BIRCH_EREADONLY, "cursor_del in a read transaction");
        break;
    case 6: { /* the cursor's own key and value, or its value under another key */
        birch_val ck, cv;
        rc = birch_cursor_get(c->c, &ck, &cv);
        EXPECT(s, rc, here, "cursor_get");
        if (rc || plain) break;
        int a = pos_key(m, c->pos), to = (b >> 4) & 1 ? id2 : a;
        rc = birch_cursor_put(c->c, to == a ? ck : kval(to), cv, 0);
        EXPECT(s, rc, BIRCH_OK, "cursor_put of what the cursor read");
        if (to != a) set_copy(m, to, a);
        c->pos = rank_of[to];
        mc_get(s, c, m, "cursor_get after an alias cursor_put");
        break;
    }
    default: /* deletes the rest of the table from the cursor on */
        for (int i = 0; i < NK * NV && c->pos >= 0 && !here; i++) {
            mc_del(s, c, m);
            here = c->pos < 0 ? BIRCH_NOTFOUND : BIRCH_OK;
        }
        break;
    }
    if (tmp.c) birch_cursor_close(tmp.c);
    done_read(txn, temp);
}

/* ---- Issue 14: sequences (opcode byte 237) ------------------------------------ */

static void do_sequence(st *s)
{
    unsigned b = byte(s);
    int ti = (int)(byte(s) % NT), k = (int)(b % 8), temp = 0;
    mstate *ms;
    birch_txn *txn;
    uint64_t v = 0;
    if (k >= 4 && k <= 6) {
        txn = k == 6 ? reader_txn(s, &ms, &temp) : read_txn(s, &ms, &temp);
    } else {
        ensure_writer(s);
        txn = wtx(s);
        ms = &s->wm;
    }
    mtable *m = &ms->t[ti];
    birch_table *t = s->th[ti];
    if (!m->exists) { /* a handle of a table gone from this snapshot */
        if (t) EXPECT(s, k == 4 || k == 5 ? birch_sequence_get(txn, t, &v) : k == 3 ? birch_sequence_set(txn, t, 1)
                                                                                    : birch_sequence_next(txn, t, &v),
                      k == 6 ? BIRCH_EREADONLY : BIRCH_NOTFOUND, "sequence of a missing table");
        done_read(txn, temp);
        return;
    }
    if (table_in(s, txn, m, ti, 0, &t)) FAILF(s, "%s", "table_open");
    if (k == 3) { /* the next is value + 1; after UINT64_MAX there is none */
        v = (b >> 3) & 1 ? UINT64_MAX - ((b >> 4) & 3) : b >> 4;
        EXPECT(s, birch_sequence_set(txn, t, v), BIRCH_OK, "sequence_set");
        m->seq = v;
        EXPECT(s, birch_sequence_set(txn, NULL, v), BIRCH_EINVAL, "sequence_set(NULL)");
        EXPECT(s, birch_sequence_next(txn, t, NULL), BIRCH_EINVAL, "sequence_next(NULL)");
    } else if (k == 6) {
        EXPECT(s, birch_sequence_next(txn, t, &v), BIRCH_EREADONLY, "sequence_next in a read transaction");
        EXPECT(s, birch_sequence_set(txn, t, 7), BIRCH_EREADONLY, "sequence_set in a read transaction");
        EXPECT(s, birch_sequence_get(txn, t, NULL), BIRCH_EINVAL, "sequence_get(NULL)");
    } else if (k >= 4) {
        EXPECT(s, birch_sequence_get(txn, t, &v), BIRCH_OK, "sequence_get");
        if (v != m->seq) FAILF(s, "sequence_get %llu, model %llu", (unsigned long long)v, (unsigned long long)m->seq);
    } else {
        for (unsigned i = 0; i < (k == 7 ? 1 + ((b >> 3) & 7) : 1u); i++) {
            if (m->seq == UINT64_MAX) { /* every number given */
                EXPECT(s, birch_sequence_next(txn, t, &v), BIRCH_EFULL, "sequence_next after UINT64_MAX");
                break;
            }
            EXPECT(s, birch_sequence_next(txn, t, &v), BIRCH_OK, "sequence_next");
            if (v != ++m->seq)
                FAILF(s, "sequence_next %llu, model %llu", (unsigned long long)v, (unsigned long long)m->seq);
        }
    }
    done_read(txn, temp);
}

/* ---- Issue 14: the reader's reset and renew (opcode byte 238) ---------------- */

static void reader_begin(st *s)
{
    end_reader(s);
    int rc = birch_txn_begin(s->db, BIRCH_TXN_READ, &s->r);
    if (rc) FAILF(s, "read txn_begin returned %d", rc);
    s->rm = s->com;
}

/* Every use of a reset reader and its cursor: BIRCH_ETXN. */
static void reset_reads(st *s, unsigned x)
{
    birch_table *t = s->th[x % NT], *t2;
    birch_val v;
    uint64_t n;
    birch_cursor *c = NULL;
    EXPECT(s, birch_table_open(s->r, tnames[x % NT], 0, &t2), BIRCH_ETXN, "table_open in a reset transaction");
    if (t) {
        EXPECT(s, birch_get(s->r, t, kval(0), &v), BIRCH_ETXN, "get in a reset transaction");
        EXPECT(s, birch_count(s->r, t, &n), BIRCH_ETXN, "count in a reset transaction");
        EXPECT(s, birch_count_range(s->r, t, (birch_val){NULL, 0}, (birch_val){NULL, 0}, &n), BIRCH_ETXN,
               "count_range in a reset transaction");
        EXPECT(s, birch_sequence_get(s->r, t, &n), BIRCH_ETXN, "sequence_get in a reset transaction");
        EXPECT(s, birch_cursor_open(s->r, t, &c), BIRCH_ETXN, "cursor_open in a reset transaction");
    }
    EXPECT(s, birch_savepoint_list(s->r, sp_list_one, NULL), BIRCH_ETXN, "savepoint_list in a reset transaction");
    if (s->rc.c) {
        EXPECT(s, birch_cursor_next(s->rc.c), BIRCH_ETXN, "the cursor of a reset transaction");
        EXPECT(s, birch_cursor_get(s->rc.c, NULL, NULL), BIRCH_ETXN, "the cursor of a reset transaction");
    }
    if (birch_txn_id(s->r) != 0) FAILF(s, "birch_txn_id of a reset transaction is %llu", (unsigned long long)birch_txn_id(s->r));
}

static void reader_renewed(st *s)
{
    s->rreset = 0;
    s->rm = s->com;
    s->rc.pos = -1; /* its cursor is unpositioned */
}

static void do_reader(st *s)
{
    unsigned b = byte(s);
    const char *bad;
    if (!s->r && b % 8 != 5 && b % 8 != 4) return;
    switch (b % 8) {
    case 0:
        EXPECT(s, birch_txn_reset(s->r), BIRCH_OK, s->rreset ? "txn_reset of a reset transaction" : "txn_reset");
        s->rreset = 1;
        reset_reads(s, b >> 3);
        break;
    case 1:
        EXPECT(s, birch_txn_renew(s->r), s->rreset ? BIRCH_OK : BIRCH_EINVAL,
               s->rreset ? "txn_renew" : "txn_renew of a transaction not reset");
        if (s->rreset) reader_renewed(s);
        break;
    case 2: /* the reader's view (a reset one refuses) */
        if (s->rreset) reset_reads(s, b >> 3);
        else if ((bad = compare_txn(s, s->r, &s->rm))) FAILF(s, "the reader differs from its snapshot: %s", bad);
        break;
    case 3: { /* its cursor */
        if (s->rreset) {
            reset_reads(s, b >> 3);
            break;
        }
        if (!s->rc.c) {
            int ti = (int)((b >> 3) % NT);
            birch_table *t;
            if (table_in(s, s->r, &s->rm.t[ti], ti, 0, &t)) break;
            EXPECT(s, birch_cursor_open(s->r, t, &s->rc.c), BIRCH_OK, "reader cursor_open");
            s->rc = (mcur){s->rc.c, ti, s->rm.t[ti].multi, -1};
        }
        if ((b >> 6) & 1) mc_get(s, &s->rc, &s->rm.t[s->rc.ti], "reader cursor get");
        else mc_move(s, &s->rc, &s->rm.t[s->rc.ti], (b >> 5) & 1, "reader cursor move");
        break;
    }
    case 4: /* only read transactions are reset */
        EXPECT(s, birch_txn_reset(NULL), BIRCH_EINVAL, "txn_reset(NULL)");
        EXPECT(s, birch_txn_renew(NULL), BIRCH_EINVAL, "txn_renew(NULL)");
        if (s->w) {
            EXPECT(s, birch_txn_reset(wtx(s)), BIRCH_EINVAL, "txn_reset of a write transaction");
            EXPECT(s, birch_txn_renew(wtx(s)), BIRCH_EINVAL, "txn_renew of a write transaction");
        }
        break;
    case 5: reader_begin(s); break;
    case 6: /* parked and renewed at once: the newest commit */
        EXPECT(s, birch_txn_reset(s->r), BIRCH_OK, "txn_reset");
        EXPECT(s, birch_txn_renew(s->r), BIRCH_OK, "txn_renew");
        reader_renewed(s);
        if ((bad = compare_txn(s, s->r, &s->rm))) FAILF(s, "the renewed reader differs from the last commit: %s", bad);
        break;
    default: /* ended by a commit, reset or not */
        EXPECT(s, birch_txn_commit(s->r), BIRCH_OK, "commit of a read transaction");
        park_txn(s, s->r);
        park_cursor(s, s->rc.c);
        s->r = NULL;
        s->rc.c = NULL;
        s->rreset = 0;
        break;
    }
}

/* ---- Issue 14: how write transactions begin (opcode byte 239) ---------------- */

static void do_txn(st *s)
{
    unsigned b = byte(s);
    birch_txn *x = NULL;
    const char *bad;
    switch (b % 8) {
    case 0:
    case 1:
    case 7:
        if (s->w) { /* this thread holds the writer */
            EXPECT(s, birch_txn_begin(s->db, BIRCH_TXN_WRITE | ((b >> 3) & 1 ? BIRCH_TXN_TRY : 0), &x), BIRCH_EBUSY,
                   "a second write transaction in the thread that holds one");
            break;
        }
        ensure_writer_flags(s, b & 1 ? BIRCH_TXN_NONDURABLE : BIRCH_TXN_DURABLE);
        break;
    case 2:
        if (!s->w) { /* (with a writer open, a second writer is refused too) */
            EXPECT(s, birch_txn_begin(s->db, BIRCH_TXN_WRITE | BIRCH_TXN_DURABLE | BIRCH_TXN_NONDURABLE, &x),
                   BIRCH_EINVAL, "txn_begin(DURABLE | NONDURABLE)");
            EXPECT(s, birch_txn_begin(s->db, BIRCH_TXN_WRITE | 0x40, &x), BIRCH_EINVAL, "txn_begin with unknown flags");
        }
        EXPECT(s, birch_txn_begin(s->db, BIRCH_TXN_READ | BIRCH_TXN_DURABLE, &x), BIRCH_EINVAL,
               "txn_begin(READ | DURABLE)");
        EXPECT(s, birch_txn_begin(s->db, BIRCH_TXN_READ | BIRCH_TXN_NONDURABLE, &x), BIRCH_EINVAL,
               "txn_begin(READ | NONDURABLE)");
        EXPECT(s, birch_txn_begin(s->db, BIRCH_TXN_READ | 0x40, &x), BIRCH_EINVAL, "txn_begin with unknown flags");
        EXPECT(s, birch_txn_begin(s->db, BIRCH_TXN_READ, NULL), BIRCH_EINVAL, "txn_begin(NULL)");
        break;
    case 3:
        if (s->w) {
            EXPECT(s, birch_sync(s->db), BIRCH_EBUSY, "sync in the thread that holds the writer");
        } else {
            long before = s->faults.injected;
            int rc = birch_sync(s->db);
            if (!(rc == BIRCH_OK || (rc == BIRCH_EIO && s->faults.injected)))
                EXPECT(s, rc, BIRCH_OK, before == s->faults.injected ? "sync" : "sync after an injected fault");
        }
        break;
    case 4: ensure_writer_flags(s, BIRCH_TXN_TRY); break;
    case 5:
        if (!s->w) break;
        if ((bad = compare_txn(s, wtx(s), &s->wm))) FAILF(s, "level %d differs from the model: %s", s->depth, bad);
        break;
    default: /* every level has the root's id */
        for (int d = 0; s->w && d <= s->depth; d++)
            if (birch_txn_id(s->lv[d]) != birch_txn_id(s->w) || !birch_txn_id(s->w))
                FAILF(s, "birch_txn_id of level %d is %llu, the root's %llu", d, (unsigned long long)birch_txn_id(s->lv[d]),
                      (unsigned long long)birch_txn_id(s->w));
        break;
    }
}

/* Opcode bytes 0..223 pick opc % OP_COUNT_OPS, as before the handle-order
 * and alias operations existed, so most programs of the corpus keep their
 * meaning; 224..229 pick a handle-order operation, 230..239 a family of
 * issue 14's calls (before it, handle orders too), 240..255 an alias
 * operation. */
#define OP_HANDLE_BYTE 224u
#define OP_NEW_BYTE 230u
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
    if (opc >= OP_NEW_BYTE) {
        switch (opc - OP_NEW_BYTE) {
        case NW_NEST: do_nest(s); break;
        case NW_SAVEPOINT: do_savepoint(s); break;
        case NW_MULTI_WRITE: do_multi_write(s); break;
        case NW_MULTI_READ: do_multi_read(s); break;
        case NW_RANGE: do_range(s); break;
        case NW_RANK: do_rank(s); break;
        case NW_CURSOR_WRITE: do_cursor_write(s); break;
        case NW_SEQUENCE: do_sequence(s); break;
        case NW_READER: do_reader(s); break;
        default: do_txn(s); break;
        }
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
    case OP_RBEGIN: reader_begin(s); break;
    case OP_RREAD: {
        if (!s->r) break;
        unsigned x = byte(s);
        if (s->rreset) reset_reads(s, x);
        else if (x & 1) do_get(s, s->r, &s->rm);
        else do_seek(s, s->r, &s->rm);
        break;
    }
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
    st *s = calloc(1, sizeof *s);
    if (!s) FZ_FAIL("out of memory");
    s->d = data;
    s->n = size;
    unsigned h = byte(s);
    birch_options_init(&s->o);
    s->o.page_size = sizes[h % 4];
    s->o.durability = (h >> 2) & 1 ? BIRCH_DURABLE_NONE : BIRCH_DURABLE_FULL;
    s->o.map_reserve = 1u << 20;
    if ((h >> 3) & 1) s->o.dirty_budget = BIRCH_MIN_DIRTY_BUDGET; /* transactions spill */
    s->vmax = 3 * (size_t)s->o.page_size + 256;
    s->vbuf = malloc(s->vmax);
    s->big = malloc(s->o.page_size / 4 + 1);
    if (!s->vbuf || !s->big) FZ_FAIL("out of memory");
    memset(s->big, 'k', s->o.page_size / 4 + 1);
    s->wc.pos = s->rc.pos = -1;
    s->path = fz_path("ops");
    fz_remove(s->path);
    open_db(s);
    const char *verbose = getenv("FZ_VERBOSE");
    for (; s->pos < s->n && s->op < MAX_OPS; s->op++) {
        unsigned opc = byte(s);
        if (verbose && verbose[0] == '2')
            fprintf(stderr, "op %u: byte %u (writer %d, depth %d, faults %ld)\n", s->op, opc, s->w != NULL, s->depth,
                    s->faults.injected);
        run_op(s, opc);
    }
    reopen(s);
    if (verbose)
        fprintf(stderr, "fz_ops: %u ops, page size %u, records %llu %llu %llu, faults %ld\n", s->op,
                s->o.page_size, (unsigned long long)model_count(&s->com.t[0]),
                (unsigned long long)model_count(&s->com.t[1]), (unsigned long long)model_count(&s->com.t[2]),
                s->faults.injected);
    int rc = birch_close(s->db);
    if (rc) FAILF(s, "final close returned %d", rc);
    for (int i = 0; i < 4; i++) birch_cursor_close(s->stale_c[i]); /* after the database: safe */
    fz_remove(s->path);
    free(s->vbuf);
    free(s->big);
    free(s);
    return 0;
}

#ifndef FZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_ops_run(data, size);
}
#endif
