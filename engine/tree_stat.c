/*
 * tree_stat.c - birch_table_stat: a table's shape and contents, measured
 * by one walk of its tree (depth, pages by kind, records, key and value
 * bytes, how full its pages are), as LMDB's mdb_stat and redb's
 * TableStats report them.  The birch command's `stat` prints it
 * (tools/cmd_info.c).
 *
 * The walk reads every branch and leaf page of the table once, through
 * the transaction's snapshot (a writer's own pages included), and each
 * overflow run's first page; it validates them as every read does (page
 * headers and levels, slot bounds, overflow run headers: bi_page_read,
 * bi_slot_ok, bi_leaf_value), and also that the records it finds are as
 * many as the table's count and that no page is reached twice (a damaged
 * file could name one page from many parents and make the walk
 * exponential).  It does not verify checksums: birch_check does.
 */
#include <string.h>

#include "internal.h"

typedef struct walk {
    birch_txn *txn;
    struct birch_table_stat *st;
    uint64_t budget; /* pages the walk may still read: the snapshot's page count */
} walk;

/* Walks the page pgno, which must be at level (-1: the root, any level),
 * and everything below it. */
static int walk_page(walk *w, uint64_t pgno, int level)
{
    struct birch_table_stat *st = w->st;
    uint8_t *p;
    if (!w->budget--)
        return BI_CORRUPT("page %llu: the table's tree names more pages than the file has (pages reached from "
                          "several parents)", (unsigned long long)pgno);
    int rc = bi_page_read(w->txn, pgno, level, &p);
    if (rc) return rc;
    unsigned n = bi_nkeys(p);
    st->used_bytes += st->page_size - bi_free_space(p);
    if (!bi_is_leaf(p)) {
        if (n == 0) return BI_CORRUPT("page %llu: branch page with no children", (unsigned long long)pgno);
        st->branch_pages++;
        for (unsigned i = 0; i < n; i++) {
            if ((rc = bi_slot_ok(w->txn, p, i))) return rc;
            if ((rc = walk_page(w, bi_branch_child(p, i), (int)bi_level(p) - 1))) return rc;
        }
        return BIRCH_OK;
    }
    if (n == 0 && level >= 0) return BI_CORRUPT("page %llu: empty leaf below the root", (unsigned long long)pgno);
    st->leaf_pages++;
    for (unsigned i = 0; i < n; i++) {
        birch_val v;
        if ((rc = bi_leaf_value(w->txn, p, i, &v))) return rc; /* the slot, and a big value's run header */
        st->records++;
        st->key_bytes += bi_node_klen(p, i);
        st->value_bytes += v.size;
        if (bi_leaf_node(p, i)->flags & BI_N_BIG) st->overflow_pages += bi_overflow_pages(w->txn->db, v.size);
    }
    return BIRCH_OK;
}

int birch_table_stat(birch_txn *txn, birch_table *t, struct birch_table_stat *st)
{
    if (!txn || !t || !st)
        return bi_err(BIRCH_EINVAL, "birch_table_stat: %s is NULL", !txn ? "txn" : !t ? "the table" : "st");
    bi_tstate *ts;
    int rc = bi_txn_use(&txn);
    if (rc == BIRCH_OK) rc = bi_table_state(txn, t, &ts);
    if (rc) return rc;
    struct birch_table_stat s;
    memset(&s, 0, sizeof s);
    s.page_size = txn->db->psize;
    if (ts->tree.root) {
        uint8_t *root;
        walk w = {.txn = txn, .st = &s, .budget = txn->meta.npages};
        rc = bi_page_read(txn, ts->tree.root, -1, &root);
        if (rc == BIRCH_OK) {
            s.depth = bi_level(root) + 1u;
            rc = walk_page(&w, ts->tree.root, -1);
        }
        if (rc) return rc;
    }
    if (s.records != ts->tree.count)
        return BI_CORRUPT("table '%s': %llu records found in its pages, %llu counted", t->name,
                          (unsigned long long)s.records, (unsigned long long)ts->tree.count);
    uint64_t pages = s.branch_pages + s.leaf_pages;
    s.fill = pages ? (double)s.used_bytes / ((double)pages * s.page_size) : 0.0;
    *st = s;
    return BIRCH_OK;
}
