/*
 * tree_stat.c - the shape of a table's tree (depth, pages by kind), for
 * the birch command's `stat` (tools/birch.c).
 */
#include <string.h>

#include "internal.h"

static int count_page(birch_txn *txn, uint64_t pgno, int level, uint64_t *budget, bi_tree_stat *st)
{
    uint8_t *p;
    if (!(*budget)--)
        return BI_CORRUPT("page %llu: the table's tree names pages from several parents", (unsigned long long)pgno);
    int rc = bi_page_read(txn, pgno, level, &p);
    if (rc) return rc;
    if (!bi_is_leaf(p)) st->branch++;
    else st->leaf++;
    for (unsigned i = 0; rc == BIRCH_OK && i < bi_nkeys(p); i++) {
        rc = bi_slot_ok(txn, p, i);
        if (rc) break;
        if (!bi_is_leaf(p)) rc = count_page(txn, bi_branch_child(p, i), (int)bi_level(p) - 1, budget, st);
        else if (bi_leaf_node(p, i)->flags & BI_N_BIG)
            st->overflow += bi_overflow_pages(txn->db, bi_leaf_node(p, i)->vlen);
    }
    return rc;
}

int bi_table_tree_stat(birch_txn *txn, birch_table *t, bi_tree_stat *st)
{
    if (!txn || !t || !st) return bi_err(BIRCH_EINVAL, "bi_table_tree_stat: a NULL argument");
    memset(st, 0, sizeof *st);
    bi_tstate *ts;
    int rc = bi_txn_use(&txn);
    if (rc == BIRCH_OK) rc = bi_table_state(txn, t, &ts);
    if (rc || !ts->tree.root) return rc;
    uint8_t *root;
    rc = bi_page_read(txn, ts->tree.root, -1, &root);
    if (rc) return rc;
    st->depth = bi_level(root) + 1u;
    uint64_t budget = txn->meta.npages;
    return count_page(txn, ts->tree.root, -1, &budget, st);
}
