/*
 * btree_impl.h - what btree.c offers range.c, and nothing else includes:
 * page edits and the pieces of a delete that range deletion reuses.  The
 * rest of the engine sees the B+tree through internal.h.
 */
#ifndef BIRCH_ENGINE_BTREE_IMPL_H
#define BIRCH_ENGINE_BTREE_IMPL_H

#include "internal.h"

/* The count word of page p (page.h): a leaf's records and whether one is
 * big, a branch's sum of its nodes' words. */
uint64_t bi_bt_page_count(uint8_t *p);
/* Removes slot idx of page p and closes the gap its node leaves. */
void bi_bt_page_remove(uint8_t *p, unsigned idx);
/* Removes branch slot 0; the new slot 0 loses its key (minus infinity). */
int bi_bt_branch_remove_first(const birch_txn *txn, uint8_t *p);
/* Frees the overflow run of leaf slot i, if it has one. */
int bi_bt_free_overflow(birch_txn *txn, uint8_t *leaf, unsigned i);
/* Copies every page of a searched path so that it can be changed. */
int bi_bt_touch_path(birch_txn *txn, bi_tree *tree, bi_path *path);
/* Merges the children at slots li and li+1 of dirty branch page parent
 * when they fit in one page (*merged). */
int bi_bt_merge_pair(birch_txn *txn, uint8_t *parent, unsigned li, int *merged);
/* Empties the tree if root page p (number pgno) has no entry left, and
 * replaces a branch root that has one child by that child, repeatedly. */
int bi_bt_collapse_root(birch_txn *txn, bi_tree *tree, uint8_t *p, uint64_t pgno);

#endif /* BIRCH_ENGINE_BTREE_IMPL_H */
