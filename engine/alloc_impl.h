/*
 * alloc_impl.h - what the allocator's three files share, and nothing
 * outside them includes (the rest of the engine sees alloc.h):
 *   freespace.c  the state in memory: free runs, pending groups, the
 *                vectors they are made of;
 *   freemap.c    the free-space map: its records, loaded by replaying
 *                them, written at commit;
 *   alloc.c      a write transaction: pages taken and freed, its run.
 * docs/DESIGN.md section 5 describes the design, docs/FORMAT.md section
 * 10 the records.
 */
#ifndef BIRCH_ENGINE_ALLOC_IMPL_H
#define BIRCH_ENGINE_ALLOC_IMPL_H

#include "internal.h"
#include "varint.h"

/* ---- Vectors ------------------------------------------------------------- */

typedef struct run {
    uint64_t start, len;
} run;

typedef struct runvec {
    run *v;
    size_t n, cap;
} runvec;

typedef struct bytes {
    uint8_t *v;
    size_t n, cap;
} bytes;

/* ---- The state ------------------------------------------------------------ */

typedef struct group {
    uint64_t txnid; /* the commit that freed the pages */
    uint64_t pages;
    runvec runs;
} group;

typedef struct gqueue { /* groups v[head..n), ascending txnid */
    group *v;
    size_t head, n, cap;
} gqueue;

/* Map operations, the body of a record (page.h, FORMAT.md). */
enum { OP_END = BI_FMOP_END, OP_FREE = BI_FMOP_FREE, OP_TAKE = BI_FMOP_TAKE, OP_PEND = BI_FMOP_PEND,
       OP_RECLAIM = BI_FMOP_RECLAIM, OP_UNPEND = BI_FMOP_UNPEND };
#define OP_MAX 31u            /* bytes of the longest operation */
#define BI_FM_CHAIN_MAX 1024u /* records in a chain, base included */
#define BI_FM_DELTA_MIN 32u   /* delta pages allowed before a base, whatever its size */
#define FM_BODY (BI_HDR + sizeof(bi_fmrec))

struct bi_alloc {
    int loaded;
    uint64_t state;      /* the commit whose map this is */
    runvec free;         /* descending start, disjoint, never adjacent */
    uint64_t free_pages;
    gqueue q[2];         /* pending: [0] durable-state pages, [1] young */
    uint64_t pending_pages;
    size_t pending_runs; /* runs in every group: a base's size without a walk */
    runvec chain;        /* the records' pages */
    bi_tree head;        /* the newest record, as the meta names it */
    uint32_t chain_len;
    uint64_t chain_pages, base_pages; /* deltas' pages since the base, the base's */
    /* The write transaction */
    uint64_t lim[2];     /* reuse limits of the queues */
    uint64_t durable;    /* pages written after this commit are young */
    runvec freed[2];     /* pages it freed that snapshots may see */
    bytes ops;           /* what it changed, as a delta's body */
    int dry;             /* reclaimed once: no group can become free before the commit */
    int persisted;       /* the commit wrote a record: the state is its */
    /* The transaction's run: pages taken from free (or the file's end) in
     * one piece and handed out one by one in order, so that a commit's
     * pages are contiguous and go out in one write (DESIGN.md 5.2); what
     * is left returns to free at commit. */
    uint64_t res_start, res_len, res_want;
    int res_end;         /* the run came from the file's end (not from free) */
};

/* Where a map is read: a snapshot's pages and size. */
typedef struct bi_fm_src {
    birch_db *db;
    const uint8_t *map;
    uint64_t npages;
} bi_fm_src;

/* ---- freespace.c ------------------------------------------------------------ */
int bi_rv_reserve(runvec *r, size_t more);
int bi_rv_push(runvec *r, uint64_t start, uint64_t len);
void bi_rv_free(runvec *r);
/* Sorts r ascending and joins adjacent runs; 0, or -1 if two overlap. */
int bi_rv_normalize(runvec *r);
/* Appends x as a LEB128 varint. */
int bi_varint_put(bytes *b, uint64_t x);
/* Appends x to b as a varint, b having room for it (10 bytes at most).
 * Inline: a base of a fragmented file encodes tens of thousands. */
static inline void bi_varint_room(bytes *b, uint64_t x)
{
    b->n = (size_t)(bi_varint_write(b->v + b->n, x) - b->v);
}
/* Drops the whole state (the next use loads it again). */
void bi_fs_clear(bi_alloc *a);
/* dst becomes a deep copy of src (its state and its transaction's),
 * which owns nothing yet: for a nested transaction's undo.  BIRCH_ENOMEM
 * leaves dst cleared. */
int bi_fs_copy(bi_alloc *dst, const bi_alloc *src);
/* Whether any of pages [p, p + len) is free. */
int bi_fs_has(const bi_alloc *a, uint64_t p, uint64_t len);
/* Adds / removes free pages [s, s + len); BIRCH_ECORRUPT if some are
 * free already / not free. */
int bi_fs_add(bi_alloc *a, uint64_t s, uint64_t len);
int bi_fs_del(bi_alloc *a, uint64_t s, uint64_t len);
/* Adds many runs at once (normalizes add). */
int bi_fs_merge(bi_alloc *a, runvec *add);
/* The free run to take n pages from (free.n if none holds them), and the
 * taking. */
size_t bi_fs_fit(const bi_alloc *a, uint64_t n);
int bi_fs_take(bi_alloc *a, uint64_t n, uint64_t *pgno, int *found);
/* Queue q's oldest group, or NULL. */
group *bi_fs_front(gqueue *q);
/* Pages [s, s + len) freed by commit txnid join queue young. */
int bi_fs_pend(bi_alloc *a, int young, uint64_t txnid, uint64_t s, uint64_t len);
/* Removes pages [s, s + len), inside one run of r, from r (*found: they
 * were); runs that ascend are found by binary search. */
int bi_rv_cut(runvec *r, uint64_t s, uint64_t len, int *found);
/* Pages [s, s + len) leave the pending group of key (txnid << 1 | young):
 * BIRCH_ECORRUPT if it does not hold them.  A group left empty goes. */
int bi_fs_unpend(bi_alloc *a, uint64_t key, uint64_t s, uint64_t len);
/* Queue k's oldest group's runs move into add. */
int bi_fs_pop(bi_alloc *a, int k, runvec *add);
/* Rule 2: every oldest group within its queue's limit becomes free (and
 * each reclaim is logged); *got tells whether there was one. */
int bi_fs_reclaim(bi_alloc *a, int *got);

/* ---- freemap.c -------------------------------------------------------------- */
/* Rebuilds the state of meta m from its chain, read through s. */
int bi_fm_load(bi_alloc *a, const bi_fm_src *s, const bi_meta *m, int check_sums);

/* ---- alloc.c (for freemap.c's persisting) ------------------------------------- */
/* Loads the committed map on the transaction's first use of it. */
int bi_alloc_loaded(birch_txn *txn, bi_alloc *a);
/* Takes n pages: free ones, then (once, if may_reclaim) the pending groups
 * that have become free, then the file's end; *from_free tells which. */
int bi_alloc_take(birch_txn *txn, bi_alloc *a, uint64_t n, int may_reclaim, uint64_t *pgno, int *from_free);
/* Logs an operation of two arguments (FREE, TAKE) or a PEND. */
int bi_alloc_log(bi_alloc *a, int op, uint64_t x, uint64_t y);
int bi_alloc_log_pend(bi_alloc *a, uint64_t key, uint64_t start, uint64_t len);
/* The pages max_size allows this transaction: a transaction that put a
 * record stops BI_DEL_RESERVE pages (at most an eighth) short, so that a
 * full database can still delete (copy-on-write needs free pages). */
#define BI_DEL_RESERVE 32u
uint64_t bi_alloc_max_pages(const birch_txn *txn);
/* Those BI_DEL_RESERVE pages (an eighth of max_size, if less). */
uint64_t bi_alloc_del_reserve(const birch_db *db);
/* Gives the rest of the transaction's run back (to free, or by
 * shrinking npages when it ends the file). */
int bi_alloc_release_run(birch_txn *txn, bi_alloc *a);

#endif /* BIRCH_ENGINE_ALLOC_IMPL_H */
