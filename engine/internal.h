/*
 * internal.h - the engine's shared structures and the functions its modules
 * offer each other.  Nothing here is public: applications include birch.h.
 *
 * Modules, lowest first:
 *   err.c        error details (birch_errmsg) and invariant checks (err.h)
 *   io_posix.c   the default io layer (io.h)
 *   io_mem.c     the memory backend: the same operations over anonymous memory
 *   meta.c       meta pages: checksum, choice on open, writing
 *   seal.c       page checksums: sealed at commit, verified at open
 *   pager.c      the map, page access and validation, dirty pages,
 *                writing a commit's pages
 *   spill.c      writing dirty pages early when they pass the transaction's budget
 *   alloc.c      the page allocator (alloc.h): a transaction's pages
 *   freespace.c  its state in memory: free runs, pending groups
 *   freemap.c    its state on disk: the free-space map's records
 *   btree.c      search, insert, delete, split, merge over any tree
 *   catalog.c    named tables and their per-transaction state
 *   records.c    birch_put / get / del / count
 *   batch.c      write batches: their encoding (batch.h), builders, reading
 *   cursor.c     cursors
 *   share.c      the lock file processes share (share.h): attaching, owners,
 *                their liveness, the writer lock
 *   readers.c    the published snapshot and the reader table (lock-free)
 *   handles.c    transaction handles as checked tokens; the fork() check
 *   txn.c        transactions, the commit, checkpoints
 *   flush.c      the background flush of BIRCH_DURABLE_NONE commits
 *   check.c      birch_check
 *   copy.c       birch_copy, birch_compact
 *   tree_stat.c  birch_table_stat: one walk of a table's pages (birch stat)
 *   feed.c       the change feed: a write transaction's changes recorded as a
 *                batch (batch.c's encoding), given to the commit hook
 *   db.c         open, close, options, errors, statistics
 */
#ifndef BIRCH_ENGINE_INTERNAL_H
#define BIRCH_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#include "birch.h"
#include "io.h"
#include "err.h"
#include "page.h"
#include "alloc.h"
#include "share.h"
#include "batch.h"

/* ---- Database ------------------------------------------------------------ */

typedef struct bi_map {
    uint8_t *addr;
    uint64_t len;
    struct bi_map *next; /* records (rmap): the one before, kept until close */
} bi_map;

/* A liveness verdict on an owner (share.c). */
struct bi_live {
    uint64_t token;
    uint64_t until; /* an "alive" verdict holds until then (bi_now_ms) */
    int dead;       /* final: a dead owner's token never lives again */
};

/* A pinned snapshot: the meta it reads, the map that covers it, and the
 * reader slot that keeps writers from reusing its pages. */
typedef struct bi_snap {
    bi_meta meta;
    uint8_t *map;
    uint32_t slot;
    uint64_t gen;   /* the slot's pin generation (readers.c) */
} bi_snap;


struct birch_table {
    birch_db *db;
    uint32_t id;          /* index into each transaction's table states */
    char name[BIRCH_MAX_NAME_SIZE + 1];
};

/* birch_options.max_readers's default, and the fewest slots a lock file's
 * table has (so that a handle opened with the defaults always fits). */
#define BI_DEFAULT_READERS 126u

#define BI_POOL_BYTES (4u << 20)      /* page buffer memory kept between write transactions */
#define BI_DIRTY_KEEP_MAX 8192u       /* dirty table entries kept between them */

/* The writer's page buffers (pagebuf.c). */
typedef struct bi_pagebuf {
    uint8_t *base;  /* the reserved region; NULL before its first use or if it could not be made */
    size_t size;    /* its bytes */
    size_t used;    /* bytes handed out from its start (by the bump pointer) */
    size_t ready;   /* bytes from its start faulted in (asked for) */
    void *free;     /* buffers given back: each holds the next's address */
    size_t live;    /* region buffers out now */
    int tried;      /* the region was asked for once */
} bi_pagebuf;

struct birch_db {
    bi_io io;
    bi_file *file;
    birch_options opts;
    uint32_t psize;
    size_t max_key;       /* psize / 4 */
    size_t max_name;      /* min(BIRCH_MAX_NAME_SIZE, max_key): names are catalog keys */
    size_t node_max;      /* largest node a page must accept (without slot) */
    uint64_t open_txnid;  /* the last commit when the file was opened */

    /* The lock file (share.c, share.h), or its twin in private memory: the
     * published snapshot, the writer lock, owners and reader slots.
     * Readers take no lock: they copy the published snapshot and claim a
     * reader slot with atomics (readers.c). */
    bi_lkhdr *lk;
    bi_lkowner *owners;
    bi_lkslot *slots;
    uint32_t nslots;
    uint64_t lk_len;
    bi_file *lkfile;      /* the lock file; NULL when private */
    int shared;           /* the lock file is shared with other handles */
    int init_locked;      /* holds the lock file's init lock for writing (open) */
    int owner_locked;     /* holds an owner entry's byte (token names it) */
    int attached;         /* holds the data file's attached byte (share.c) */
    int lockless;         /* reads without a lock file: holds the lockless byte */
    uint64_t pidns;       /* this process's pid namespace (share.c), 0 if unknown */
    int committed;        /* this handle made a commit (its close checkpoints) */
    int join_busy;        /* why joining the lock file failed last (share.c) */
    char join_why[256];
    uint64_t token;       /* this handle's owner token (share.h) */
    uint32_t max_readers;
    uint32_t *own;        /* the slots this handle holds: own[0..nown) */
    _Atomic uint32_t nown;
    struct bi_live *live; /* per owner entry: the last liveness verdict (db->lock) */
    _Atomic(bi_map *) rmap; /* the newest map, for readers (kept until close) */
    _Atomic unsigned pinned;    /* read transactions and guards holding a slot */
    /* What is open, for birch_close's refusal (atomics: readers take no lock). */
    _Atomic unsigned open_txns;    /* transactions begun by the user (read or write) */
    _Atomic unsigned open_guards;  /* guards taken outside a transaction */
    _Atomic unsigned open_streams; /* streams (their own transactions are not counted above) */

    /* Transaction handles (handles.c): the region tokens are taken from,
     * every region mapped so far (kept until close), and the fork check. */
    _Atomic(struct bi_tokhdr *) tok;
    struct bi_region *regions;
    unsigned nregions;
    uint64_t tok_nslots;        /* slots per region, a power of two */
    uint64_t tok_limit;         /* tests: numbers per region (0: the region's size) */
    struct bi_tokhdr *tok_first; /* the first region's header (set at open) */
    _Atomic int tok_wiped;      /* every header page is MADV_WIPEONFORK */
    pid_t pid;                  /* the process that opened the database */

    /* Guards everything below up to the writer fields: the writer's view
     * of the committed meta, the map list, the write count. */
    pthread_mutex_t lock;
    bi_meta meta;         /* last commit */
    bi_meta slot_meta[2]; /* what each meta page held when this handle last
                             read or wrote it (bi_meta_refresh's fast path) */
    int meta_slot;        /* slot that holds it */
    int steady_slot;      /* slot that holds the newest durable meta */
    uint64_t steady_txnid;
    bi_map map;           /* current map; older ones stay until close */
    bi_map *old_maps;
    unsigned n_old_maps;
    uint64_t file_size;
    unsigned live_txns;   /* write transactions */
    int failed;           /* an I/O error left the file state unknown: reopen */
    char failed_why[256]; /* what failed, for the BIRCH_EIO of later writers */

    /* The writer gate.  A flag under a mutex, not a held mutex, because a
     * write transaction may end on another thread than the one that began
     * it, and a mutex must be unlocked by its owner.  Taken and released by
     * lock_writer / unlock_writer (txn.c) and by the flusher (flush.c). */
    pthread_mutex_t write_lock;
    pthread_cond_t write_cv;
    int writer_active;          /* BI_GATE_FREE, _TXN or _FLUSH */
    /* With BI_GATE_TXN: the id (bi_thread_id) of the thread that holds the
     * gate: the one that took it, then whichever thread last called into the
     * write transaction (bi_txn_seen), so that a handed-over transaction's
     * new thread is told, not left waiting for itself. */
    _Atomic uint64_t writer_thread;
    /* The background flush of non-durable commits (flush.c), under
     * write_lock.  The thread exists only in process flusher_pid (0: none
     * was started): a fork child has a copy of these fields but no thread,
     * so it must never signal or join it.  flusher_ok: this handle may have
     * one (a writable file opened by birch_open, or a test io layer that
     * asked): started at open with BIRCH_DURABLE_NONE, else by the first
     * BIRCH_TXN_NONDURABLE write transaction (set at open, then read-only). */
    pthread_t flusher;
    pid_t flusher_pid;
    int flusher_ok;
    pthread_cond_t flush_cv;    /* wakes the flusher (monotonic clock) */
    int flush_waiting;          /* the flusher waits for the gate to open: signal flush_cv */
    int flush_stop;             /* birch_close asks the flusher to end */
    bi_alloc *alloc;            /* the writer's page allocator (NULL when read-only) */
    /* A write transaction holding more dirty bytes than this spills some
     * at its next change (pager.c): opts.dirty_budget, or the default.
     * Tests of crashes set it lower than the option may (internal). */
    uint64_t dirty_budget;
    uint64_t spilled_pages;     /* pages spilled since open (the writer's; for tests) */
    /* What a write transaction leaves for the next: the memory of its
     * one-page buffers (pagebuf.c, BI_POOL_BYTES of it resident) and its
     * dirty table, zeroed, when small (pager.c).  A small commit's malloc,
     * zeroing and first-touch page faults otherwise cost as much as its
     * B+tree work.  The writer's only. */
    bi_pagebuf pagebuf;
    struct bi_dirty *dirty_keep;
    size_t dirty_keep_cap;

    /* The commit hook (feed.c): changed only while the writer gate is free,
     * under write_lock, so a write transaction sees one hook from its begin
     * to its commit.  feed_log: the batch the writer records into, kept
     * between write transactions (when small). */
    birch_commit_fn hook;
    void *hook_ctx;
    unsigned hook_flags;
    birch_batch feed_log;

    pthread_mutex_t table_lock; /* guards the handle registry */
    birch_table **tables;
    uint32_t ntables, tables_cap;
};

/* ---- Transactions ------------------------------------------------------------ */

/* Table states a transaction keeps in its own struct (catalog.c), so that
 * a reader of a few tables allocates nothing. */
#define BI_TS_INLINE 4

/* A table's state as one transaction sees it. */
typedef struct bi_tstate {
    bi_tree tree;
    uint64_t seq;    /* the table's sequence (bi_table_rec.sequence) */
    uint32_t flags;  /* BI_TABLE_MULTIMAP */
    uint8_t loaded;  /* tree/exists read from the catalog */
    uint8_t exists;
    uint8_t dirty;   /* tree or sequence changed: write back at commit */
} bi_tstate;

/* One dirty page or overflow run, in the transaction's hash table.  A
 * spilled one (buf NULL) was sealed and written to its place in the file
 * before the commit (spill.c): the map holds it, csum is its final
 * checksum.  A clean one was spilled, then read back into buf by a
 * change's search (bi_page_get) and not changed since: buf holds what the
 * file holds, csum is still final, and neither a spill nor the commit
 * writes it again. */
typedef struct bi_dirty {
    uint64_t pgno;   /* 0: empty bucket */
    uint8_t *buf;    /* NULL: spilled */
    uint32_t npages;
    uint16_t clean;  /* 1: buf is the spilled page's bytes, unchanged */
    uint16_t level;  /* the nesting level that made it or last kept its
                        contents (nest.c); 0 outside nested transactions */
    uint64_t csum;   /* spilled or clean: the XXH3-64 of its npages pages */
} bi_dirty;

/* A live transaction's state; an ended one has no state, its token no
 * longer decodes (handles.c).  FAILED: a write transaction after a failed
 * change (only abort is left).  RESET: a read transaction that let its
 * snapshot go (birch_txn_reset) and holds no reader slot until
 * birch_txn_renew; bi_txn_use refuses it, so nothing reads through it. */
enum { BI_TXN_LIVE = 0, BI_TXN_FAILED = 1, BI_TXN_RESET = 2 };

struct birch_txn {
    birch_db *db;
    int write;
    int state;            /* BI_TXN_LIVE or BI_TXN_FAILED */
    bi_meta meta;         /* snapshot; a writer updates its copy */
    uint8_t *map;         /* map valid for this snapshot */
    uint64_t snap_npages; /* pages readable from the map */
    bi_snap snap;         /* read transactions: the pinned snapshot */
    bi_tstate *ts;        /* table states: ts_inline, or malloc'd past BI_TS_INLINE tables */
    uint32_t nts;
    bi_tstate ts_inline[BI_TS_INLINE];
    birch_txn *token;     /* the handle the user holds (handles.c) */
    struct bi_tslot *tslot; /* the slot this struct lives in */
    int internal;         /* begun by a stream for itself: not counted as open */
    /* Read transactions: bumped by every reset and renew, so that a cursor
     * (and a stream) tells a path of an earlier snapshot from one of this
     * snapshot (cursor.c) without touching the earlier one's pages. */
    uint64_t snap_gen;
    /* Write transactions: BIRCH_DURABLE_FULL or _NONE, from begin's
     * BIRCH_TXN_DURABLE / _NONDURABLE or else birch_options.durability. */
    int durability;
    /* Guards taken in this transaction and not yet released (typed.c):
     * ids from guard_next, so that a copy released twice is told. */
    uint64_t guard_next;
    uint64_t *guards;
    size_t nguards, guards_cap;

    /* write transactions only */
    bi_dirty *dirty;
    size_t ndirty, dirty_cap;
    uint64_t dirty_bytes; /* bytes of dirty pages held in memory (not spilled) */
    uint64_t spilled;     /* pages written early by spills (for tests and stats) */
    uint64_t spilled_now; /* of those, pages still spilled: not read back nor freed since */
    uint64_t spill_lo, spill_hi; /* every page spilled is in [spill_lo, spill_hi) (spill.c) */
    uint64_t map_read;    /* bytes of map reading spilled pages may have made resident since
                             they were last dropped (an estimate: BI_FAULT_AROUND) */
    uint64_t map_last;    /* 1 + the BI_FAULT_AROUND window map_read last counted */
    int read_back;        /* a change's search runs: spilled pages it reads come back into
                             memory (bi_page_get), not through the map */
    uint64_t spill_next;  /* dirty_bytes past which the next spill may run: half a budget
                             above what the last one left (spill.c) */
    uint8_t **defer;      /* buffers spilled while a pointer was lent: freed */
    size_t ndefer, defer_cap; /* when the change ends (pager.c, bi_dirty_defer) */
    int grows;            /* a put ran: max_size's reserve for deletes is off limits (alloc.c) */
    uint64_t mod_seq;     /* bumped by every change; cursors re-seek */
    uint8_t *scratch;     /* two pages of work space for splits */
    /* Nested transactions (nest.c).  The write transaction a user began
     * (the root) holds every change; each child is a handle of its own
     * whose struct only names the root and its level, and the calls made
     * through it work on the root.  nest_level: in the root, the levels
     * open (0: no child); in a child, its level (1, 2, ...). */
    int sp_restored;          /* a savepoint was restored (savepoint.c: no savepoint is made after) */
    birch_txn *nest_root;     /* a child: its root; NULL in a root */
    uint32_t nest_level;
    struct bi_nest *nest;     /* the root: what each open level can undo */
    /* mod_seq + 1 when a read last handed the caller a pointer into a page
     * this transaction wrote (bi_lend): until the next change, an argument
     * may point there, and the typed layer encodes values aside first. */
    uint64_t lent_seq;
    uint8_t *argbuf;      /* that aside copy (typed.c), grown as needed */
    size_t argcap;
    /* The change feed (feed.c): the batch this transaction records its
     * changes into (db->feed_log), NULL when nothing is recorded; and a
     * value birch_put_reserve handed out, whose bytes the batch takes at
     * the next change (feed_pending NULL: none). */
    birch_batch *feed;
    const uint8_t *feed_pending;
    size_t feed_pending_at, feed_pending_size;
};

/* Records that p, about to be handed to the caller by a read in txn, may
 * point into a page this transaction wrote (not the map, whose bytes no
 * change in the transaction touches).  A few instructions: every get and
 * cursor_get of a write transaction pays them. */
static inline void bi_lend(birch_txn *txn, const void *p)
{
    uintptr_t a = (uintptr_t)p, m = (uintptr_t)txn->map;
    if (txn->write && (a < m || a - m >= txn->snap_npages * txn->db->psize)) txn->lent_seq = txn->mod_seq + 1;
}

/* Whether a pointer handed out by bi_lend may still point into a page this
 * transaction wrote: one was lent since the last change (a change ends the
 * life of every such pointer, birch.h "Memory rules"). */
static inline int bi_lent(const birch_txn *txn)
{
    return txn->lent_seq == txn->mod_seq + 1;
}

/* txn->argbuf with room for size bytes (8-byte aligned). */
int bi_txn_argbuf(birch_txn *txn, size_t size, uint8_t **buf);

/* A root-to-leaf position. */
typedef struct bi_path {
    int depth;                    /* number of levels; 0 = empty tree */
    uint8_t *pg[BI_MAX_DEPTH];
    uint64_t pgno[BI_MAX_DEPTH];
    unsigned idx[BI_MAX_DEPTH];
} bi_path;

/* A cursor belongs to its caller (birch_cursor_close frees it, whenever):
 * it holds its transaction's token and decodes it on every move, so it
 * never touches an ended transaction.  txn is the decoded struct, valid
 * only right after a successful decode. */
struct birch_cursor {
    birch_txn *tok;
    birch_txn *txn;
    uint32_t level;     /* the nesting level of the handle it was opened with */
    /* The decode's result, checked in two loads on every move: the region
     * header's magic (zeros in a fork child) and the slot's number. */
    const struct bi_tokhdr *hdr;
    _Atomic uint64_t *word;
    uint64_t n;
    birch_table *table;
    bi_path path;
    int positioned;
    uint64_t gen;       /* txn->snap_gen when path was valid (read txns) */
    uint64_t seq;       /* txn->mod_seq when path was valid (write txns) */
    uint8_t *keybuf;    /* copy of the current key (write txns) */
    size_t keylen;
    int multi;          /* a multimap table's: moves over pairs (multimap.c) */
    uint8_t *mkey;      /* multi: the current pair's key, unescaped */
};

/* splitmix64's finaliser: every bit of x moves every bit of the result.
 * For identities drawn from a clock and an address (handles.c, txn.c). */
static inline uint64_t bi_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Who holds the writer lock of a shared file (share.h): thread (a
 * bi_thread_id) and process together, since a fork child inherits its
 * thread's id.  The process is the one that opened db (a child's calls
 * get BIRCH_EFORK before any of this). */
static inline uint64_t bi_holder_id(const birch_db *db, uint64_t thread)
{
    return thread ^ bi_mix64((uint64_t)db->pid + 1);
}

/* ---- handles.c ------------------------------------------------------------- */
/* A region of tokens (see handles.c): its size, alignment and header. */
#define BI_TOK_REGION ((uintptr_t)1 << (sizeof(void *) >= 8 ? 32 : 24))
#define BI_TOK_MAGIC 0x6e656b6f74686372ull
#define BI_TOK_FREE UINT64_MAX

/* Cache-line aligned: every call of a transaction loads its slot's cur,
 * and a neighbouring writer's struct tail (mod_seq, lent_seq) changes on
 * every put and get; sharing a line would make each reader's call miss. */
typedef struct bi_tslot {
    _Alignas(64) _Atomic uint64_t cur; /* the number of the live transaction here, or BI_TOK_FREE */
    struct birch_txn txn;
} bi_tslot;

/* The header page of a region: only what decoding needs.  Zeros in a fork
 * child (MADV_WIPEONFORK). */
typedef struct bi_tokhdr {
    uint64_t magic;
    birch_db *db;
    bi_tslot *slots;
    uint64_t mask;         /* nslots - 1 */
    uint64_t limit;        /* numbers below this are tokens of this region */
    uintptr_t first;       /* the token of number 0 (the page after the header) */
    _Atomic uint64_t next; /* the next number to try */
} bi_tokhdr;

typedef struct bi_region {
    bi_tokhdr *hdr;
    bi_tslot *slots;
} bi_region;

int bi_handles_init(birch_db *db);
/* Unmaps every region and frees its slots (and, in a fork child, the
 * copies of transactions live in the parent). */
void bi_handles_free(birch_db *db);
/* Takes a free slot and its token (txn->token); the struct is zeroed. */
int bi_txn_claim(birch_db *db, birch_txn **txn);
/* Frees the slot: from now on its token decodes to BIRCH_ETXN. */
void bi_txn_unclaim(birch_txn *txn);
/* Whether db is used in another process than the one that opened it. */
int bi_db_forked(birch_db *db);
/* BIRCH_EINVAL for a NULL db, BIRCH_EFORK in a fork child, else BIRCH_OK. */
int bi_db_check(birch_db *db, const char *who);
/* The errors of a token that does not decode (cold). */
int bi_txn_bad(const void *hdr);
int bi_txn_ended(void);
/* BIRCH_ETXN for a use of a reset read transaction (cold). */
int bi_txn_parked(void);

/* This thread's identity for the writer gate (txn.c): random, never 0. */
uint64_t bi_thread_id(void);
/* Records that the calling thread now holds write transaction txn (it
 * called into it): out of line, and a load when nothing changed. */
void bi_txn_seen(birch_txn *txn);

/* The nested cases of bi_txn_use (nest.c): a child's calls go to its
 * root; a handle with an open child gets BIRCH_EBUSY. */
int bi_txn_nested(birch_txn **txn);

/* Decodes the user's token *txn into the live transaction's struct, in
 * place: BIRCH_ETXN if it has ended, BIRCH_EFORK in a fork child.  A reset
 * read transaction decodes: only the calls that end, reset, renew or name
 * it use this; every other caller uses bi_txn_use. */
static inline int bi_txn_decode(birch_txn **txn)
{
    uintptr_t t = (uintptr_t)*txn;
    const bi_tokhdr *h = (const bi_tokhdr *)(t & ~(BI_TOK_REGION - 1));
    if (h->magic != BI_TOK_MAGIC) return bi_txn_bad(h);
    uint64_t n = (uint64_t)(t - h->first);
    if (n < h->limit) {
        bi_tslot *s = &h->slots[n & h->mask];
        if (atomic_load_explicit(&s->cur, memory_order_acquire) == n) {
            *txn = &s->txn;
            if (s->txn.write) bi_txn_seen(&s->txn);
            return BIRCH_OK;
        }
    }
    return bi_txn_ended();
}

/* bi_txn_decode, then: a child's token gives its root's struct, where
 * its changes live, and the token of a transaction with an open child
 * gives BIRCH_EBUSY (nest.c); a reset read transaction (whose snapshot is
 * gone) gives BIRCH_ETXN.  Every public function that takes a birch_txn *
 * calls it first (and passes the token, never the struct, to other public
 * functions); birch_txn_commit and abort decode without it. */
static inline int bi_txn_use(birch_txn **txn)
{
    int rc = bi_txn_decode(txn);
    if (rc == BIRCH_OK && (*txn)->nest_level) return bi_txn_nested(txn);
    if (rc == BIRCH_OK && (*txn)->state == BI_TXN_RESET) return bi_txn_parked();
    return rc;
}

/* ---- db.c / txn.c ----------------------------------------------------------- */
int bi_open_io(const char *path, const birch_options *opts, const bi_io *io, birch_db **db);
/* bi_open_io, and with flusher set, a writable database may have the
 * background flush thread (flush.c), as birch_open gives files: at open
 * with BIRCH_DURABLE_NONE, else from its first BIRCH_TXN_NONDURABLE write
 * transaction.  bi_open_io leaves it out, so that the calls a test or fuzz
 * io layer counts all happen inside calls the test made; tests of the
 * flusher ask for it here. */
int bi_open_io_ex(const char *path, const birch_options *opts, const bi_io *io, int flusher, birch_db **db);
/* Has the file to this handle alone from now on (birch_compact):
 * BIRCH_EBUSY while another handle, in any process, has it open. */
int bi_db_alone(birch_db *db, const char *who);
/* Marks a transaction failed with rc and returns rc. */
int bi_txn_fail(birch_txn *txn, int rc);
/* BIRCH_OK if txn may write, else the code to return. */
int bi_txn_writable(birch_txn *txn);
/* Prepares a stack transaction that reads the pinned snapshot s (no
 * allocation; never pass it to birch_txn_commit or abort). */
void bi_txn_on_snapshot(birch_txn *txn, birch_db *db, const bi_snap *s);
/* Milliseconds on the monotonic clock. */
uint64_t bi_now_ms(void);
/* The writer lock across handles (bi_writer_lock), then the state the last
 * commit in any process left (the newest sound meta in the file, the
 * file's size): a writer's begin, birch_sync, the flusher, close.  Nothing
 * when private.  Release with bi_writer_unlock. */
int bi_writer_begin(birch_db *db, int try, const char *who);
/* Makes the last (weak) commit durable; no other writer may run. */
int bi_checkpoint(birch_db *db);
/* Who holds the writer gate (db->writer_active). */
enum { BI_GATE_FREE = 0, BI_GATE_TXN = 1 /* a write transaction or birch_sync */, BI_GATE_FLUSH = 2 };
/* The writer gate's release (db->write_lock held): opens the gate and wakes
 * one waiting writer, and the flusher if it waits for the gate. */
void bi_gate_open_locked(birch_db *db);
/* BIRCH_DURABLE_NONE promises durability within about a second: a weak
 * commit older than this is made durable by the next commit or the flusher. */
#define BI_CHECKPOINT_MS 1000u

/* ---- flush.c --------------------------------------------------------------- */
/* Starts the flusher thread, unless it runs already or the handle may not
 * have one (db->flusher_ok unset).  Called last in open for a
 * BIRCH_DURABLE_NONE database, and by the begin of a
 * BIRCH_TXN_NONDURABLE write transaction while it holds the writer gate
 * (so two begins never both start it; never in a fork child, whose begin
 * fails first).  BIRCH_ENOMEM if the thread cannot be created. */
int bi_flusher_start(birch_db *db);
/* Stops and joins the flusher (birch_close, before its final checkpoint).
 * Does nothing if none was started, or in another process than the one
 * that started it (a fork child has no thread to join). */
void bi_flusher_stop(birch_db *db);
/* ---- share.c --------------------------------------------------------------- */
/* A private table (no lock file): the memory backend, an io layer that
 * does not share, a read-only open that cannot write the lock file. */
int bi_share_private(birch_db *db);
/* Opens the lock file of the data file db->file (opened at path, its
 * open byte read-locked), builds it if no handle has it open (*first: the
 * caller recovers the database, then calls bi_share_ready) or joins it,
 * and claims an owner entry.  BIRCH_EREADONLY / BIRCH_EACCES: the lock
 * file cannot be written; BIRCH_EVERSION, BIRCH_ECORRUPT (a lock file in
 * use that is not one), BIRCH_EBUSY (one replaced under open handles, or
 * every owner entry taken), BIRCH_EINVAL (max_readers above its table). */
int bi_share_attach(birch_db *db, const char *path, int *first);
/* The first handle has recovered the database: others may join. */
int bi_share_ready(birch_db *db);
/* Lets go of every slot, the owner entry and the lock file (close); in a
 * fork child (child), only of this process's memory, maps and descriptors. */
void bi_share_detach(birch_db *db, int child);
/* Whether the handle of owner token is alive (1) or gone (0).  fresh: ask
 * the kernel now, else a verdict of the last BI_LIVE_TTL_MS may do.
 * Caller holds db->lock. */
int bi_owner_alive(birch_db *db, uint64_t token, int fresh);
/* The writer lock across handles (after the process's own gate), for the
 * thread self (bi_thread_id): waits, or BIRCH_EBUSY with try, or when self
 * holds it through another handle.  Takes over from a holder that died.
 * Nothing when private. */
int bi_writer_lock(birch_db *db, int try, uint64_t self, const char *who);
void bi_writer_unlock(birch_db *db);

/* ---- readers.c ------------------------------------------------------------- */
/* Makes m the snapshot new readers pin, in every process.  Callers hold
 * the writer lock (or are alone: open). */
void bi_publish(birch_db *db, const bi_meta *m);
/* The published snapshot's meta: BIRCH_OK, or BIRCH_ECORRUPT when the lock
 * file's publication stays unreadable (damaged while in use). */
int bi_published(birch_db *db, bi_meta *m);
/* Pins the published snapshot and finds the map that covers it (mapping
 * the file again if another process grew it past this one's map):
 * BIRCH_EBUSY when every reader slot is taken, BIRCH_ENOMEM. */
int bi_pin(birch_db *db, bi_snap *s);
/* Lets the slot go if gen is still its pin (compare-and-swap): 0, or -1
 * when it was let go already (a copied guard released twice), even if
 * another pin has taken the slot since. */
int bi_unpin(birch_db *db, uint32_t slot, uint64_t gen);
/* Oldest snapshot a live reader holds (any process), or the published one
 * if none; live (may be NULL) gets how many pins live readers hold.  Slots
 * of dead handles do not count.  Caller holds db->lock. */
uint64_t bi_oldest_reader(birch_db *db, uint32_t *live);
/* Slot i as birch_readers reports it: 1, or 0 if no handle holds it. */
int bi_slot_info(birch_db *db, uint32_t i, birch_reader_info *r);
/* Empties slot i if its handle is dead: 1 if it did. */
int bi_slot_clear(birch_db *db, uint32_t i);

/* ---- meta.c ---------------------------------------------------------------- */
void bi_meta_seal(bi_meta *m);
int bi_meta_valid(const bi_meta *m);
/* Reads both metas; ok[i] tells which are sound.  Sets db->psize.
 * BIRCH_ENOTDB / EVERSION / ECORRUPT as documented in birch_open. */
int bi_meta_read(birch_db *db, uint64_t file_size, bi_meta m[2], int ok[2]);
/* Adopts the newest sound meta whose pages verify (needs the map). */
int bi_meta_choose(birch_db *db, uint64_t file_size, const bi_meta m[2], const int ok[2]);
/* Writes a fresh database's two metas (page size db->psize) to f, which
 * is empty, and syncs it. */
int bi_meta_init(birch_db *db, bi_file *f);
/* Adopts the newest sound meta of the file, read through the map (one a
 * recovery rejected excepted): 1 if it differs from db->meta, 0 if not,
 * BIRCH_ECORRUPT if neither is sound.  For a handle that is not alone:
 * the caller holds the writer lock, or is opening. */
int bi_meta_refresh(birch_db *db);
/* Writes m to slot; syncs when durable. */
int bi_meta_write(birch_db *db, bi_meta *m, int slot, int sync);

/* ---- seal.c ---------------------------------------------------------------- */
/* Computes the checksums of a tree's dirty pages, bottom up, at commit. */
int bi_seal_tree(birch_txn *txn, bi_tree *tree);
/* Seals one dirty leaf or overflow run of npages pages as the commit would
 * (its overflow runs first, for a leaf) and gives its checksum: for a
 * spill (pager.c).  A spilled page's checksum is final. */
int bi_seal_one(birch_txn *txn, uint8_t *p, uint32_t npages, uint64_t *csum);
/* Verifies the pages m's commit (and any since its base) wrote. */
int bi_verify_meta(birch_db *db, const bi_meta *m);

/* ---- pager.c --------------------------------------------------------------- */
/* The XXH3-64 of len bytes: every page's and run's checksum. */
uint64_t bi_sum(const void *data, size_t len);
/* Records that the database failed (db->failed) and why: every later write
 * transaction gets BIRCH_EIO with "what: detail".  Takes db->lock. */
void bi_mark_failed(birch_db *db, const char *what, const char *detail);
/* Keeps a spilled page's buffer until the change that spilled it ends (a
 * pointer lent by a read may be its argument).  BIRCH_ENOMEM. */
int bi_dirty_defer(birch_txn *txn, uint8_t *buf);
/* Frees the buffers bi_dirty_defer kept.  Call when the change ends. */
void bi_dirty_release_deferred(birch_txn *txn);
/* The page pgno as this transaction sees it, or NULL if it is past the end
 * of the snapshot (callers turn that into BIRCH_ECORRUPT).  A spilled page
 * is read through the map, or, while txn->read_back is set (the search of
 * a put or del, which will change the leaf it finds), read back into a
 * clean dirty buffer (bi_dirty). */
uint8_t *bi_page_get(birch_txn *txn, uint64_t pgno);
/* Gets a branch or leaf page and validates its header against the level
 * the caller expects (-1: any).  BIRCH_ECORRUPT if anything is off. */
int bi_page_read(birch_txn *txn, uint64_t pgno, int level, uint8_t **out);
/* Validates the node of slot i (offset, key length inside the page). */
int bi_slot_ok(const birch_txn *txn, uint8_t *p, unsigned i);
/* Why it fails (cold: the message). */
int bi_slot_bad(const birch_txn *txn, uint8_t *p, unsigned i);
/* bi_slot_ok of a branch page's slot, inline: a rank reads dozens of
 * count words.  The node (key, the child's checksum, the count word) lies
 * inside the page's node area. */
static inline int bi_branch_slot_ok(const birch_txn *txn, uint8_t *p, unsigned i)
{
    bi_slot s = bi_slots(p)[i];
    if (s.off >= bi_hdr(p)->upper && !(s.off & 7) && s.klen <= txn->db->max_key &&
        (size_t)s.off + bi_bnode_size(s.klen) <= txn->db->psize)
        return BIRCH_OK;
    return bi_slot_bad(txn, p, i);
}
int bi_page_is_dirty(birch_txn *txn, uint64_t pgno);
/* A dirty buffer of n pages at pgno, zeroed if zero (else the caller
 * overwrites all of it), its header naming pgno (for the allocator,
 * alloc.c).  BIRCH_ENOMEM. */
int bi_dirty_new(birch_txn *txn, uint64_t pgno, uint32_t n, int zero, uint8_t **buf);
/* Drops page pgno's dirty buffer: 1 if it had one, 0 if not. */
int bi_dirty_drop(birch_txn *txn, uint64_t pgno);
/* The dirty buffer of page pgno, which the caller is about to change (a
 * clean one stops being clean), or NULL if it is not dirty or spilled. */
uint8_t *bi_page_changing(birch_txn *txn, uint64_t pgno);
/* 1 and its checksum if page pgno is dirty and its final bytes are in the
 * file already (spilled, or clean), else 0. */
int bi_page_spilled(birch_txn *txn, uint64_t pgno, uint64_t *csum);
/* Frees what write transactions left for the next (birch_close). */
void bi_pager_close(birch_db *db);
/* Reads spilled page pgno back into a dirty buffer (*buf) to be changed,
 * which the commit writes again at the same place.  BIRCH_ENOMEM. */
int bi_dirty_unspill(birch_txn *txn, uint64_t pgno, uint8_t **buf);
/* At the start of a change (records.c), when the transaction's dirty
 * memory passed db->dirty_budget: seals leaves and overflow runs and writes them to their places
 * in the file until the dirty memory is below half the budget (spill.c).
 * Bumps mod_seq (cursors re-seek: their paths may name freed buffers);
 * if a pointer was lent (bi_lent), it may be the change's argument, so the
 * buffers are freed by bi_dirty_release_deferred when the change ends.  The
 * pages are ones no snapshot and no durable state uses, so a crash before
 * the commit's meta leaves garbage in free pages only.  BIRCH_EIO,
 * BIRCH_EFULL (growing the file), BIRCH_ENOMEM, BIRCH_ECORRUPT (a damaged
 * leaf); the caller fails the transaction.  BIRCH_EIO also fails the
 * handle, as a commit's failed page write does.  A spill, and a change
 * after spilled pages read back may have made a budget of map pages
 * resident (txn->map_read), drops the map's resident copies of the pages
 * spilled (io.h, drop_resident), which bounds the peak RSS too. */
int bi_spill_maybe(birch_txn *txn);
/* What one read fault on a file map may make resident: Linux maps the
 * neighbouring pages already in the page cache too ("fault-around",
 * fault_around_bytes, 64 KiB unless the administrator changed it), and the
 * pages a transaction spilled are all in the page cache.  Used to estimate
 * the resident map pages of spilled pages read back (txn->map_read). */
#define BI_FAULT_AROUND ((uint64_t)64 << 10)
/* Grows the file to hold the transaction's pages (txn->meta.npages). */
int bi_pager_grow(birch_txn *txn);
/* Writes every dirty page not yet spilled to the file. */
int bi_pager_flush(birch_txn *txn);
void bi_pager_release(birch_txn *txn);
/* Makes the map cover bytes; keeps older maps alive.  Caller holds db->lock. */
int bi_map_cover(birch_db *db, uint64_t bytes);
/* The length of the map at addr (the current one or an older one kept
 * until close), 0 if none is there.  Caller holds db->lock. */
uint64_t bi_map_len(const birch_db *db, const uint8_t *addr);
uint32_t bi_overflow_pages(const birch_db *db, uint64_t vlen);

/* ---- pagebuf.c: memory for dirty pages ------------------------------------- */
/* A buffer of n pages, not zeroed; NULL when out of memory. */
void *bi_pagebuf_get(birch_db *db, uint32_t n);
/* Gives back a buffer bi_pagebuf_get made (NULL: nothing). */
void bi_pagebuf_put(birch_db *db, void *buf);
/* At a write transaction's end, every buffer back: the region starts over,
 * and its memory past BI_POOL_BYTES goes back to the system. */
void bi_pagebuf_trim(birch_db *db);
void bi_pagebuf_close(birch_db *db);

/* ---- btree.c --------------------------------------------------------------- */
#define BI_PUT_NOOVERWRITE BIRCH_NOOVERWRITE
#define BI_PUT_APPEND BIRCH_APPEND
int bi_tree_search(birch_txn *txn, const bi_tree *tree, const uint8_t *key, size_t klen,
                   bi_path *path, int *exact);
/* Searches two keys at once (key[0] <= key[1]), level by level, so that
 * the misses of the two descents overlap: path[k] as bi_tree_search gives
 * for key[k]; *split the first level where they part (the leaf's level
 * when they share the leaf; -1 for an empty tree). */
int bi_tree_search_pair(birch_txn *txn, const bi_tree *tree, const uint8_t *const key[2], const size_t klen[2],
                        bi_path *path[2], int *split);
int bi_tree_get(birch_txn *txn, const bi_tree *tree, const uint8_t *key, size_t klen, birch_val *val);
/* bi_tree_get that also asks for the first ahead bytes of the value: of
 * its node as soon as the leaf search finds it, or of its overflow run.
 * For a caller about to read the whole value (a typed get verifies it),
 * whose misses then overlap the rest of the search instead of following
 * it.  bi_tree_get is ahead 0. */
int bi_tree_get_ahead(birch_txn *txn, const bi_tree *tree, const uint8_t *key, size_t klen, birch_val *val,
                      size_t ahead);
/* Stores key -> vlen bytes and returns where the value lives in *valp so the
 * caller can fill it (val may be NULL to only reserve). */
int bi_tree_put(birch_txn *txn, bi_tree *tree, const uint8_t *key, size_t klen,
                const void *val, size_t vlen, unsigned flags, uint8_t **valp);
int bi_tree_del(birch_txn *txn, bi_tree *tree, const uint8_t *key, size_t klen);
/* Deletes the record a valid path names (a cursor's).  *kept (may be
 * NULL): the tree's shape did not change, so the path, whose pages are
 * now this transaction's, names the record after the deleted one (its
 * leaf index may be one past the leaf's last slot). */
int bi_tree_del_at(birch_txn *txn, bi_tree *tree, bi_path *path, int *kept);
/* ---- nest.c: nested transactions -------------------------------------------- */
/* Page pgno is about to change or be freed in a nested transaction: if
 * it is dirty from an earlier level, its contents are kept for this
 * level's abort (pager.c).  Call only when txn->nest_level. */
int bi_nest_keep(birch_txn *txn, uint64_t pgno);
/* A page made dirty at the current level (pager.c, bi_dirty_new). */
int bi_nest_born(birch_txn *txn, uint64_t pgno);
/* Ends every open level of root as its abort would (birch_txn_abort of
 * the root, or its commit failing): nothing is restored. */
void bi_nest_end_all(birch_txn *root);
/* birch_txn_commit and abort of a child. */
int bi_nest_commit(birch_txn *child);
void bi_nest_abort(birch_txn *child);
/* pager.c, for nest.c: the dirty entry of pgno (NULL if none); puts buf
 * (npages, owned by the table from now on) back as pgno's contents at
 * level lvl, replacing what it has now (BIRCH_ENOMEM); drops pgno's entry
 * if it has one of level lvl. */
bi_dirty *bi_dirty_find(birch_txn *txn, uint64_t pgno);
int bi_dirty_restore(birch_txn *txn, uint64_t pgno, uint8_t *buf, uint32_t npages, unsigned lvl);
void bi_dirty_drop_level(birch_txn *txn, uint64_t pgno, unsigned lvl);

/* ---- records.c --------------------------------------------------------------- */
/* birch_get on a transaction bi_txn_use decoded (t and val not NULL),
 * with bi_tree_get_ahead's ahead (0: birch_get): a caller that has
 * decoded its token already does not pay for a second decoding. */
int bi_get(birch_txn *txn, birch_table *t, birch_val key, birch_val *val, size_t ahead);
/* Deletes the records of ranks [a, b) of table state ts as a change of
 * txn (spilling first; a failure fails the transaction). */
int bi_del_ranks(birch_txn *txn, bi_tstate *ts, uint64_t a, uint64_t b);

/* ---- multimap.c ------------------------------------------------------------- */
/* A multimap pair's record key: key escaped and ended (next: ended with
 * 00 01, the end of key's range), then v; out holds bi_multi_escaped(k) +
 * vn bytes.  Returns its length. */
size_t bi_multi_encode(const uint8_t *k, size_t kn, const uint8_t *v, size_t vn, int next, uint8_t *out);
size_t bi_multi_escaped(const uint8_t *k, size_t kn);
/* Splits a record key into the pair's key (unescaped into key, which
 * holds n bytes; NULL: only its length) and value (in rec).
 * BIRCH_ECORRUPT for a key not escaped and ended, or empty. */
int bi_multi_decode(const uint8_t *rec, size_t n, uint8_t *key, size_t *kn, const uint8_t **val, size_t *vn);
/* A pair's record key (val given) or a bound of key's range (val NULL) in
 * *buf, malloc'd; BIRCH_EINVAL, EKEYSIZE, EVALSIZE (a pair too long). */
int bi_multi_key(birch_db *db, birch_val key, const birch_val *val, int next, const char *fn, uint8_t **buf,
                 size_t *n);
/* The ranks of key's pairs in a multimap tree: [*a, *b). */
int bi_multi_ranks(birch_txn *txn, const bi_tree *tree, birch_val key, const char *fn, uint64_t *a, uint64_t *b);

/* ---- range.c: counts, ranks and range deletion ---------------------------- */
/* The rank of the record a path names: how many records sort before it
 * (the leaf index may be one past its last slot); total is the tree's
 * record count. */
int bi_path_rank(birch_txn *txn, const bi_path *path, uint64_t total, uint64_t *rank);
/* How many records of the tree sort before key (klen 0: none, i.e. 0). */
int bi_tree_rank(birch_txn *txn, const bi_tree *tree, const uint8_t *key, size_t klen, uint64_t *rank);
/* The ranks of lo and hi (lo <= hi; ln 0: *a = 0; hn 0: *b = the count)
 * from one descent shared down to where the two keys part. */
int bi_tree_ranks(birch_txn *txn, const bi_tree *tree, const uint8_t *lo, size_t ln, const uint8_t *hi, size_t hn,
                  uint64_t *a, uint64_t *b);
/* Positions path at the record of rank n: BIRCH_NOTFOUND if n >= count. */
int bi_path_seek_rank(birch_txn *txn, const bi_tree *tree, uint64_t n, bi_path *path);
/* Deletes the records of ranks [lo, hi) (hi <= the tree's count), freeing
 * whole subtrees without reading their leaves when no value in them is
 * big (the count word says), then merges the pages left underfull along
 * the two edges. */
int bi_tree_del_ranks(birch_txn *txn, bi_tree *tree, uint64_t lo, uint64_t hi);
/* birch_put_reserve for the typed layer: the pointer it returns is filled
 * by the caller at once, so it is not lent (bi_lend). */
int bi_put_reserve(birch_txn *txn, birch_table *t, birch_val key, size_t size, unsigned flags, void **out);
/* Frees every page of the tree. */
int bi_tree_free_all(birch_txn *txn, bi_tree *tree);
/* The value of leaf slot i (resolving overflow runs, with bounds checks). */
int bi_leaf_value(birch_txn *txn, uint8_t *leaf, unsigned i, birch_val *val);
/* Path moves: descend to the first/last leaf entry, step forward/back.
 * BIRCH_NOTFOUND at either end. */
int bi_path_first(birch_txn *txn, const bi_tree *tree, bi_path *path);
int bi_path_last(birch_txn *txn, const bi_tree *tree, bi_path *path);
int bi_path_next(birch_txn *txn, bi_path *path);
int bi_path_prev(birch_txn *txn, bi_path *path);

/* ---- catalog.c ------------------------------------------------------------- */
/* Reads the catalog record of table name (len bytes): NOTFOUND if none. */
int bi_catalog_lookup(birch_txn *txn, const char *name, size_t len, bi_table_rec *rec);
/* The transaction's view of table t: NOTFOUND if it does not exist. */
int bi_table_state(birch_txn *txn, birch_table *t, bi_tstate **out);
/* Writes changed table roots back to the catalog. */
int bi_catalog_flush(birch_txn *txn);


/* ---- feed.c: the change feed ------------------------------------------------- */
/* A write transaction's begin, holding the gate: records its changes if
 * the hook wants them (BIRCH_ENOMEM: no room for the batch's header). */
int bi_feed_begin(birch_txn *txn);
/* Records a change of kind to table (NULL for the savepoint kinds) before
 * it is made; *m marks the batch before it, for bi_feed_cut when the
 * change fails or finds nothing to do.  BIRCH_ENOMEM: nothing changes. */
int bi_feed_add_slow(birch_txn *txn, int kind, const char *table, birch_val key, birch_val val, uint64_t num,
                     bi_batch_mark *m);
static inline int bi_feed_add(birch_txn *txn, int kind, const char *table, birch_val key, birch_val val,
                              uint64_t num, bi_batch_mark *m)
{
    return txn->feed ? bi_feed_add_slow(txn, kind, table, key, val, num, m) : BIRCH_OK;
}
/* A put whose value's bytes (size of them) the caller writes later: their
 * room is recorded now, *at names it for bi_feed_pending. */
int bi_feed_reserve(birch_txn *txn, const char *table, birch_val key, size_t size, size_t *at, bi_batch_mark *m);
/* The reserved value now lives at p: copied into the batch (bi_feed_settle)
 * when its pointer's life ends (birch.h: the next put, del, table create,
 * drop, rename or set_schema, so also their multimap, range and cursor
 * kin and a savepoint restore), before a spill (which may free its
 * buffer), or at the commit; not at a sequence change, a savepoint create
 * or drop, or a nested begin, after which the caller may still fill it. */
void bi_feed_pending(birch_txn *txn, size_t at, const uint8_t *p, size_t size);
void bi_feed_settle_slow(birch_txn *txn);
static inline void bi_feed_settle(birch_txn *txn)
{
    if (txn->feed_pending) bi_feed_settle_slow(txn);
}
/* Takes back what was recorded since m. */
void bi_feed_cut(birch_txn *txn, bi_batch_mark m);
/* The batch's point now (a nested level begins). */
bi_batch_mark bi_feed_mark(const birch_txn *txn);
/* After commit txnid became visible, its transaction ended (feed: the
 * batch it recorded, or NULL): calls the hook, if any. */
void bi_feed_commit(birch_db *db, uint64_t txnid, const birch_batch *feed);
/* The end of a write transaction: the batch's memory kept for the next,
 * when small. */
void bi_feed_end(birch_db *db);

/* ---- check.c --------------------------------------------------------------- */
/* birch_check with a progress callback (may be NULL): done counts the
 * snapshot's pages verified so far out of its npages - 2; a non-zero
 * return cancels the check and is returned as is (for tools/cmd_info.c). */
int bi_check(birch_db *db, char *msg, size_t msg_size, birch_progress_fn progress, void *ctx);

/* ---- copy.c ---------------------------------------------------------------- */
/* Steps of a compaction, for tests that simulate a crash at each. */
enum { BI_COMPACT_COPIED = 1, /* path.compact.tmp written and synced, not renamed */
       BI_COMPACT_RENAMED = 2 /* renamed over path, directory not yet synced */ };
typedef void (*bi_compact_hook)(int step, void *ctx);
/* birch_compact with a hook called after each step (hook may be NULL). */
int bi_compact(const char *path, const birch_options *opts, birch_progress_fn progress, void *ctx,
               bi_compact_hook hook, void *hook_ctx);

#endif /* BIRCH_ENGINE_INTERNAL_H */
