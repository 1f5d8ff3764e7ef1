/*
 * alloc.h - the page allocator (alloc.c, freespace.c, freemap.c): which
 * pages a writer may fill.
 *
 * One object per database, used only by the thread that holds the writer
 * gate.  It knows three kinds of page besides those of the trees:
 *   free     no snapshot can see it: any writer may fill it;
 *   pending  freed by commit T, still visible to snapshots older than T (or
 *            to the durable state): becomes free once none is left;
 *   map      the free-space map's own records (the chain, FORMAT.md).
 * It never calls the B+tree: it gets and gives page numbers, and the pager
 * holds the dirty copies.  Its state is persisted at commit as a chain of
 * records (a base that lists the whole state, then deltas that list what
 * each commit changed) written in pages it takes from itself; a record
 * never needs more space than it reserved, so saving cannot recurse.
 *
 * The calls, in a write transaction's order:
 *   bi_alloc_begin     adopts the committed state (loading it if the last
 *                      transaction was aborted) and this writer's limits;
 *   bi_page_alloc      pages to write (free first, then the file's end);
 *   bi_page_free       pages a tree no longer uses;
 *   bi_alloc_persist   at commit: records the changes in the map;
 *   bi_alloc_end       after the commit (kept) or an abort (dropped).
 */
#ifndef BIRCH_ENGINE_ALLOC_H
#define BIRCH_ENGINE_ALLOC_H

#include <stdint.h>

#include "page.h"

struct birch_txn;
struct birch_db;
typedef struct bi_alloc bi_alloc;

/* A new, empty allocator (its state is loaded by the first begin). */
int bi_alloc_new(bi_alloc **out);
void bi_alloc_destroy(bi_alloc *a);

/* Starts write transaction txn (txn->meta is the last commit's, with
 * txnid already advanced).  Pages freed by commit T become free once
 * T <= oldest (the oldest snapshot a reader holds) and, unless they were
 * written after the durable state, T <= durable (its txnid).  Loads the
 * committed state when the allocator does not hold it: BIRCH_ECORRUPT if
 * the map is damaged, BIRCH_ENOMEM. */
int bi_alloc_begin(struct birch_txn *txn, uint64_t oldest, uint64_t durable);
/* Takes n contiguous pages and a zeroed dirty buffer for them (its header
 * names pgno): free pages first, pending ones that have become free next,
 * the file's end last.  BIRCH_EFULL past max_size, BIRCH_ENOMEM,
 * BIRCH_ECORRUPT if the map offered a page this transaction holds. */
int bi_page_alloc(struct birch_txn *txn, uint32_t n, uint64_t *pgno, uint8_t **buf);
/* Frees n pages from pgno: at once if this transaction wrote them, else
 * pending at this transaction.  BIRCH_ECORRUPT if the map lists them free. */
int bi_page_free(struct birch_txn *txn, uint64_t pgno, uint32_t n);
/* bi_page_free without reading the page (range deletion): a page of a
 * commit is then counted with the durable state's, whose reuse waits for a
 * checkpoint as well as for readers. */
int bi_page_free_unread(struct birch_txn *txn, uint64_t pgno, uint32_t n);
/* Makes page pgno writable: copies it to a new page unless it is already
 * dirty in this transaction.  The caller updates the parent's pointer. */
int bi_page_touch(struct birch_txn *txn, uint64_t pgno, uint64_t *newpgno, uint8_t **buf);
/* Whether the transaction took, gave or freed any page. */
int bi_alloc_changed(const struct birch_txn *txn);
/* Pages this transaction freed that the durable state still uses (they
 * wait for the next durable commit: txn.c counts them for checkpoints). */
uint64_t bi_alloc_freed_durable(const struct birch_txn *txn);
/* At commit, after every tree is final: writes this commit's record of the
 * map into pages it takes, and sets txn->meta.freemap and free_pages. */
int bi_alloc_persist(struct birch_txn *txn);
/* Ends the transaction: committed keeps the state as persisted, otherwise
 * it is dropped and the next begin loads the committed one. */
void bi_alloc_end(struct birch_txn *txn, int committed);

/* Nested transactions (nest.c): a copy of the allocator as a child
 * begins (BIRCH_ENOMEM), put back by its abort (which frees the copy), or
 * forgotten by its commit. */
int bi_alloc_save(struct birch_txn *txn, bi_alloc **saved);
void bi_alloc_restore(struct birch_txn *txn, bi_alloc *saved);
void bi_alloc_forget(bi_alloc *saved);

/* Savepoints (savepoint.c): restoring one puts back in use the pages of
 * its state that later commits freed.  begin lists what is pending from
 * commits after txnid `after` (and what this transaction freed); revive
 * takes pages [pgno, pgno + n) out of those lists (*revived = 1, logged
 * as UNPEND), or leaves *revived 0 when they are not there (still in use). */
typedef struct bi_revive bi_revive;
int bi_alloc_revive_begin(struct birch_txn *txn, uint64_t after, bi_revive **ix);
int bi_alloc_revive(struct birch_txn *txn, bi_revive *ix, uint64_t pgno, uint32_t n, int *revived);
void bi_alloc_revive_end(bi_revive *ix);

/* A map of its own for a compact copy (copy.c): a base record, to be
 * written at page pgno, that lists runs (start, len pairs) as pending
 * from commit txnid and nothing else.  *out (calloc'd, *npages pages, its
 * header naming pgno) is the caller's; the meta names it with its
 * XXH3-64.  BIRCH_ENOMEM. */
int bi_fm_pending_base(const struct birch_db *db, uint64_t pgno, uint64_t txnid, const uint64_t *runs, size_t nruns,
                       uint8_t **out, uint64_t *npages);

/* What a snapshot's map lists, for birch_check and birch_copy: calls fn
 * for every run of pages, kind BI_FM_FREE (free), BI_FM_PENDING (with the
 * commit that freed it; young: written after the durable state) or
 * BI_FM_RECORD (the map's own pages), and stops at its first non-zero
 * return.  Verifies every record as the writer's load does. */
enum { BI_FM_FREE = 0, BI_FM_PENDING = 1, BI_FM_RECORD = 2 };
typedef int (*bi_fm_fn)(void *ctx, int kind, uint64_t start, uint64_t len, uint64_t txnid, int young);
int bi_freemap_walk(struct birch_txn *txn, bi_fm_fn fn, void *ctx);
/* At open: verifies the checksums of the map's records that commits after
 * base wrote (seal.c's bi_verify_meta, for the map). */
int bi_freemap_verify(struct birch_db *db, const bi_meta *m, uint8_t *map);

#endif /* BIRCH_ENGINE_ALLOC_H */
