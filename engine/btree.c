/*
 * btree.c - the copy-on-write B+tree: search, insert, delete, split and
 * merge, for user tables and the catalog alike.
 *
 * Searches read pages through the pager, which validates each page header
 * (type, level, own page number, bounds) and each node that is touched, so
 * a damaged file gives BIRCH_ECORRUPT instead of a wild read.
 *
 * Changes first copy the whole root-to-leaf path (bi_page_touch), then
 * change the copies in place.  Splits move the upper half of a page to a
 * new right sibling and push the shortest separating key up; a page that
 * becomes less than a quarter full is merged with a sibling when the two fit
 * in one page, and an empty page is removed.  A branch may be left with one
 * child; the root collapses when it has one.
 */
#include <stdlib.h>
#include <string.h>

#include "btree_impl.h"

static size_t usable(const birch_db *db) { return db->psize - BI_HDR; }

/* The page number a validated page carries (for error details). */
static unsigned long long pgno_of(uint8_t *p) { return (unsigned long long)bi_hdr(p)->pgno; }

static size_t page_used(uint8_t *p, uint32_t psize)
{
    return (psize - bi_hdr(p)->upper) + (size_t)BI_SLOT * bi_nkeys(p);
}

static size_t node_size(uint8_t *p, unsigned i)
{
    if (!bi_is_leaf(p)) return bi_bnode_size(bi_node_klen(p, i));
    const bi_lnode *n = bi_leaf_node(p, i);
    return bi_lnode_size(bi_node_klen(p, i), n->vlen, n->flags & BI_N_BIG);
}

/* Asks for the cache lines of leaf slot i's node after its first (which
 * bi_slot_ok has just read), up to ahead bytes from the node's start: its
 * value, for a caller that reads all of it (a typed get verifies it).
 * The slot is valid, so the node lies in the page.  Inlined: gcc counts a
 * function that only prefetches as free of side effects, and drops its
 * call. */
static BI_HOT_INLINE void prefetch_node(uint8_t *p, unsigned i, size_t ahead)
{
    const bi_lnode *n = bi_leaf_node(p, i);
    /* bi_slot_ok checked the node's end; bi_lnode_size pads the value to 8,
     * so this may name up to 7 bytes past it, which a prefetch may: it
     * never faults. */
    size_t size = bi_lnode_size(bi_node_klen(p, i), n->vlen, n->flags & BI_N_BIG);
    if (size > ahead) size = ahead;
    const uint8_t *node = (const uint8_t *)n;
    for (size_t o = 64 - ((uintptr_t)node & 63); o < size; o += 64) __builtin_prefetch(node + o);
}

/* Compares the key of slot i with key; validates the node first.  With
 * ahead (leaf pages only), a node whose key head ties, one that may hold
 * the key, is asked for (prefetch_node) once it is validated, before the
 * compare: the get's value is then on its way as soon as its node is
 * reached, and the other tied nodes of the search cost a few lines of
 * bandwidth (bench/formats.c: 80-90 ns of a typed get's verification cost
 * were the wait for the value's lines when only the matching compare asked
 * for them, 40-65 ns now; bench/README.md). */
static int cmp_slot(const birch_txn *txn, uint8_t *p, unsigned i, uint32_t head,
                    const uint8_t *key, size_t klen, size_t ahead, int *c)
{
    uint32_t h = bi_slots(p)[i].head;
    if (h != head) {
        *c = h < head ? -1 : 1;
        return BIRCH_OK;
    }
    int rc = bi_slot_ok(txn, p, i);
    if (rc) return rc;
    if (ahead) prefetch_node(p, i, ahead);
    *c = bi_key_cmp(bi_node_key(p, i), bi_node_klen(p, i), key, klen);
    return BIRCH_OK;
}

/* Leaf: first slot whose key is >= key.  With ahead, the nodes that may
 * hold it are asked for (cmp_slot): an equal key's slot is always one of
 * the probes (hi only reaches it by probing it). */
static int leaf_search(const birch_txn *txn, uint8_t *p, const uint8_t *key, size_t klen,
                       unsigned *idx, int *exact, size_t ahead)
{
    uint32_t head = bi_key_head(key, klen);
    unsigned lo = 0, hi = bi_nkeys(p);
    int c = 1;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        int rc = cmp_slot(txn, p, mid, head, key, klen, ahead, &c);
        if (rc) return rc;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *idx = lo;
    *exact = 0;
    if (lo < bi_nkeys(p)) {
        int rc = cmp_slot(txn, p, lo, head, key, klen, 0, &c);
        if (rc) return rc;
        *exact = c == 0;
    }
    return BIRCH_OK;
}

/* Branch: last slot whose key is <= key (slot 0 stands for minus infinity). */
static int branch_search(const birch_txn *txn, uint8_t *p, const uint8_t *key, size_t klen,
                         unsigned *idx)
{
    uint32_t head = bi_key_head(key, klen);
    unsigned lo = 1, hi = bi_nkeys(p);
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        int c, rc = cmp_slot(txn, p, mid, head, key, klen, 0, &c);
        if (rc) return rc;
        if (c <= 0) lo = mid + 1;
        else hi = mid;
    }
    *idx = lo - 1;
    return bi_slot_ok(txn, p, *idx);
}

/* Whether p is a committed page read from the map, not one this
 * transaction wrote (those live in their own buffers). */
static int in_map(const birch_txn *txn, const uint8_t *p)
{
    return p >= txn->map && p < txn->map + txn->snap_npages * txn->db->psize;
}

/* Copy-on-write writes a page's parent whenever it writes the page, so a
 * writer never reaches a page it wrote through a parent it did not: if it
 * does, the free list handed the page out while a tree still used it
 * (DESIGN.md section 5.4).  Two pointer compares per level. */
static int child_fresh(const birch_txn *txn, uint8_t *parent, uint8_t *child)
{
    if (!in_map(txn, parent) || in_map(txn, child)) return BIRCH_OK;
    return BI_CORRUPT("page %llu: written in this transaction, yet named by page %llu, which was not (the free "
                      "list handed out a page in use)", pgno_of(child), pgno_of(parent));
}


/* Reads the child of branch slot i, which must be one level below.
 * Inlined into its callers: it runs at every level of every search. */
static BI_HOT_INLINE int read_child(birch_txn *txn, bi_path *path, int d)
{
    uint8_t *p = path->pg[d];
    unsigned i = path->idx[d];
    if (d + 1 >= BI_MAX_DEPTH) return BI_CORRUPT("page %llu: tree deeper than %d levels", pgno_of(p), BI_MAX_DEPTH);
    int rc = bi_slot_ok(txn, p, i);
    if (rc) return rc;
    uint64_t child = bi_branch_child(p, i);
    rc = bi_page_read(txn, child, (int)bi_level(p) - 1, &path->pg[d + 1]);
    if (rc == BIRCH_OK && txn->write) rc = child_fresh(txn, p, path->pg[d + 1]); /* out of line: readers skip it */
    if (rc) return rc;
    path->pgno[d + 1] = child;
    return BIRCH_OK;
}

static int read_root(birch_txn *txn, const bi_tree *tree, bi_path *path)
{
    path->depth = 0;
    if (!tree->root) return bi_err_s(BIRCH_NOTFOUND, "the tree is empty");
    int rc = bi_page_read(txn, tree->root, -1, &path->pg[0]);
    if (rc) return rc;
    path->pgno[0] = tree->root;
    return BIRCH_OK;
}

/* bi_tree_search; ahead: leaf_search's. */
static int tree_search(birch_txn *txn, const bi_tree *tree, const uint8_t *key, size_t klen, bi_path *path,
                       int *exact, size_t ahead)
{
    *exact = 0;
    /* An empty tree is an answer (depth 0), not a failure: asked before
     * read_root, which records a message that a successful put into an
     * empty table must not leave behind (err.h). */
    if (!tree->root) {
        path->depth = 0;
        return BIRCH_OK;
    }
    int rc = read_root(txn, tree, path);
    if (rc) return rc;
    for (int d = 0;; d++) {
        uint8_t *p = path->pg[d];
        if (bi_is_leaf(p)) {
            path->depth = d + 1;
            return leaf_search(txn, p, key, klen, &path->idx[d], exact, ahead);
        }
        if (bi_nkeys(p) == 0) return BI_CORRUPT("page %llu: branch page with no children", pgno_of(p));
        rc = branch_search(txn, p, key, klen, &path->idx[d]);
        if (rc == BIRCH_OK) rc = read_child(txn, path, d);
        if (rc) return rc;
    }
}

int bi_tree_search(birch_txn *txn, const bi_tree *tree, const uint8_t *key, size_t klen,
                   bi_path *path, int *exact)
{
    return tree_search(txn, tree, key, klen, path, exact, 0);
}

/* Asks for the cache lines of page p's slot array (its header is read):
 * a binary search then finds them there instead of missing on each. */
static void prefetch_slots(uint8_t *p)
{
    size_t end = BI_HDR + (size_t)BI_SLOT * bi_nkeys(p);
    for (size_t off = BI_HDR & ~(size_t)63; off < end; off += 64) __builtin_prefetch(p + off);
}

/* The child of branch slot i (validated by branch_search) asked for
 * before it is read, so that two descents wait for their misses at once. */
static void prefetch_child(birch_txn *txn, uint8_t *p, unsigned i)
{
    uint8_t *c = bi_page_get(txn, bi_branch_child(p, i));
    if (c) __builtin_prefetch(c);
}

int bi_tree_search_pair(birch_txn *txn, const bi_tree *tree, const uint8_t *const key[2], const size_t klen[2],
                        bi_path *path[2], int *split)
{
    path[0]->depth = path[1]->depth = 0;
    *split = -1;
    if (!tree->root) return BIRCH_OK;
    int rc = read_root(txn, tree, path[0]);
    if (rc) return rc;
    path[1]->pg[0] = path[0]->pg[0], path[1]->pgno[0] = path[0]->pgno[0];
    for (int d = 0;; d++) {
        /* Both pages are at the same level: read_child checks each level. */
        uint8_t *p[2] = {path[0]->pg[d], path[1]->pg[d]};
        prefetch_slots(p[0]);
        if (p[1] != p[0]) prefetch_slots(p[1]); /* above the split both paths are on one page */
        if (bi_is_leaf(p[0])) {
            int exact;
            path[0]->depth = path[1]->depth = d + 1;
            if (*split < 0) *split = d;
            rc = leaf_search(txn, p[0], key[0], klen[0], &path[0]->idx[d], &exact, 0);
            return rc ? rc : leaf_search(txn, p[1], key[1], klen[1], &path[1]->idx[d], &exact, 0);
        }
        for (int k = 0; k < 2; k++) {
            if (bi_nkeys(p[k]) == 0) return BI_CORRUPT("page %llu: branch page with no children", pgno_of(p[k]));
            if ((rc = branch_search(txn, p[k], key[k], klen[k], &path[k]->idx[d]))) return rc;
        }
        if (*split < 0 && path[0]->idx[d] != path[1]->idx[d]) *split = d;
        if (*split < 0) { /* still one path: one child to read */
            if ((rc = read_child(txn, path[0], d))) return rc;
            path[1]->pg[d + 1] = path[0]->pg[d + 1], path[1]->pgno[d + 1] = path[0]->pgno[d + 1];
            continue;
        }
        for (int k = 0; k < 2; k++) prefetch_child(txn, p[k], path[k]->idx[d]);
        for (int k = 0; k < 2; k++)
            if ((rc = read_child(txn, path[k], d))) return rc;
    }
}

int bi_leaf_value(birch_txn *txn, uint8_t *leaf, unsigned i, birch_val *val)
{
    int rc = bi_slot_ok(txn, leaf, i);
    if (rc) return rc;
    const bi_lnode *n = bi_leaf_node(leaf, i);
    uint8_t *v = bi_leaf_val(leaf, i);
    if (!(n->flags & BI_N_BIG)) {
        *val = (birch_val){v, n->vlen};
        return BIRCH_OK;
    }
    uint64_t ov;
    memcpy(&ov, v, 8);
    uint32_t np = bi_overflow_pages(txn->db, n->vlen);
    uint8_t *p = bi_page_get(txn, ov);
    if (!p || (!bi_page_is_dirty(txn, ov) && ov + np > txn->snap_npages))
        return BI_CORRUPT("page %llu slot %u: overflow run %llu+%u outside the file's %llu pages", pgno_of(leaf), i,
                          (unsigned long long)ov, np, (unsigned long long)txn->snap_npages);
    const bi_phdr *h = (const bi_phdr *)(const void *)p;
    if (h->type != BI_P_OVERFLOW || h->pgno != ov || h->upper != np)
        return BI_CORRUPT("page %llu slot %u: overflow run %llu has type %u, number %llu, %u pages (want %u, %llu, %u)",
                          pgno_of(leaf), i, (unsigned long long)ov, h->type, (unsigned long long)h->pgno, h->upper,
                          BI_P_OVERFLOW, (unsigned long long)ov, np);
    *val = (birch_val){p + BI_HDR, n->vlen};
    return BIRCH_OK;
}

int bi_tree_get(birch_txn *txn, const bi_tree *tree, const uint8_t *key, size_t klen, birch_val *val)
{
    return bi_tree_get_ahead(txn, tree, key, klen, val, 0);
}

int bi_tree_get_ahead(birch_txn *txn, const bi_tree *tree, const uint8_t *key, size_t klen, birch_val *val,
                      size_t ahead)
{
    bi_path path;
    int exact;
    int rc = tree_search(txn, tree, key, klen, &path, &exact, ahead);
    if (rc) return rc;
    if (!exact) return bi_err_s(BIRCH_NOTFOUND, "no such key");
    uint8_t *leaf = path.pg[path.depth - 1];
    unsigned i = path.idx[path.depth - 1];
    rc = bi_leaf_value(txn, leaf, i, val);
    /* A value in an overflow run is not in the node the search asked for:
     * its first bytes are asked for here, where the run is known. */
    if (rc == BIRCH_OK && ahead && (bi_leaf_node(leaf, i)->flags & BI_N_BIG)) {
        size_t n = val->size < ahead ? val->size : ahead;
        for (size_t o = 0; o < n; o += 64) __builtin_prefetch((const uint8_t *)val->data + o);
    }
    return rc;
}

/* ---- Path moves ---------------------------------------------------------- */

/* Descends from level d to a leaf, always taking the first (or last) slot. */
static int descend(birch_txn *txn, bi_path *path, int d, int last)
{
    for (;; d++) {
        uint8_t *p = path->pg[d];
        unsigned n = bi_nkeys(p);
        if (bi_is_leaf(p)) {
            path->depth = d + 1;
            if (n == 0 && d == 0) return bi_err_s(BIRCH_NOTFOUND, "the tree is empty");
            if (n == 0) return BI_CORRUPT("page %llu: empty leaf below the root", pgno_of(p));
            path->idx[d] = last ? n - 1 : 0;
            return BIRCH_OK;
        }
        if (n == 0) return BI_CORRUPT("page %llu: branch page with no children", pgno_of(p));
        path->idx[d] = last ? n - 1 : 0;
        int rc = read_child(txn, path, d);
        if (rc) return rc;
    }
}

int bi_path_first(birch_txn *txn, const bi_tree *tree, bi_path *path)
{
    int rc = read_root(txn, tree, path);
    return rc ? rc : descend(txn, path, 0, 0);
}

int bi_path_last(birch_txn *txn, const bi_tree *tree, bi_path *path)
{
    int rc = read_root(txn, tree, path);
    return rc ? rc : descend(txn, path, 0, 1);
}

int bi_path_next(birch_txn *txn, bi_path *path)
{
    for (int d = path->depth - 1; d >= 0; d--) {
        if (path->idx[d] + 1 < bi_nkeys(path->pg[d])) {
            path->idx[d]++;
            if (d == path->depth - 1) return BIRCH_OK;
            int rc = read_child(txn, path, d);
            return rc ? rc : descend(txn, path, d + 1, 0);
        }
    }
    return bi_err_s(BIRCH_NOTFOUND, "past the last key");
}

int bi_path_prev(birch_txn *txn, bi_path *path)
{
    for (int d = path->depth - 1; d >= 0; d--) {
        if (path->idx[d] > 0 && path->idx[d] <= bi_nkeys(path->pg[d])) {
            path->idx[d]--;
            if (d == path->depth - 1) return BIRCH_OK;
            int rc = read_child(txn, path, d);
            return rc ? rc : descend(txn, path, d + 1, 1);
        }
    }
    return bi_err_s(BIRCH_NOTFOUND, "before the first key");
}

/* ---- Page edits ---------------------------------------------------------- */

static void page_init(uint8_t *p, int type, unsigned level, uint32_t psize)
{
    bi_phdr *h = bi_hdr(p);
    h->type = (uint8_t)type;
    h->level = (uint8_t)level;
    h->nkeys = 0;
    h->upper = psize;
}

/* Places a ready node (nsz bytes, a multiple of 8) at slot idx; it must fit. */
static uint8_t *page_insert(uint8_t *p, unsigned idx, const uint8_t *node, size_t nsz,
                            size_t klen, uint32_t head)
{
    bi_phdr *h = bi_hdr(p);
    bi_slot *s = bi_slots(p);
    /* Every caller made room first (insert_node asks bi_free_space,
     * split_point sizes both halves, try_merge counts the real sizes of a
     * possibly damaged page): a node that does not fit is a bug here. */
    BI_ASSERT(nsz % 8 == 0 && idx <= h->nkeys);
    BI_ASSERT(h->upper >= BI_HDR + (size_t)BI_SLOT * (h->nkeys + 1u) + nsz);
    h->upper -= (uint32_t)nsz;
    memmove(s + idx + 1, s + idx, (h->nkeys - idx) * sizeof *s);
    s[idx] = (bi_slot){head, (uint16_t)h->upper, (uint16_t)klen};
    h->nkeys++;
    memcpy(p + h->upper, node, nsz);
    return p + h->upper;
}

/* Removes slot idx and closes the gap its node leaves in the node area. */
void bi_bt_page_remove(uint8_t *p, unsigned idx)
{
    bi_phdr *h = bi_hdr(p);
    bi_slot *s = bi_slots(p);
    uint32_t off = s[idx].off;
    size_t sz = node_size(p, idx);
    memmove(p + h->upper + sz, p + h->upper, off - h->upper);
    for (unsigned i = 0; i < h->nkeys; i++)
        if (s[i].off < off) s[i].off = (uint16_t)(s[i].off + sz);
    memmove(s + idx, s + idx + 1, (h->nkeys - idx - 1) * sizeof *s);
    h->nkeys--;
    h->upper += (uint32_t)sz;
}

/* Builds a branch node (child, key, child checksum, count word) into buf.
 * A child written in this transaction gets its checksum when the commit
 * seals the tree; one that is only moved keeps the checksum it had. */
static size_t make_bnode(uint8_t *buf, uint64_t child, const uint8_t *key, size_t klen, uint64_t csum,
                         uint64_t count)
{
    size_t sz = bi_bnode_size(klen);
    memset(buf, 0, sz);
    memcpy(buf, &child, 8);
    if (klen) memcpy(buf + BI_NODE_HDR, key, klen);
    memcpy(buf + sz - 16, &csum, 8);
    memcpy(buf + sz - 8, &count, 8);
    return sz;
}

/* ---- Counts ---------------------------------------------------------------
 * Each branch node keeps its child's count word (page.h): the records
 * under it and BI_COUNT_BIG when overflow values may be among them.  A
 * change adds its delta to every node of its path before it changes the
 * leaf (path_count); a split or a merge then recounts the pages it
 * rebuilt from their own nodes (bi_bt_page_count), so every word stays exact. */

/* The count word of page p: a leaf's records and whether one is big, a
 * branch's sum of its nodes' words. */
uint64_t bi_bt_page_count(uint8_t *p)
{
    uint64_t n = 0, big = 0;
    unsigned k = bi_nkeys(p);
    if (bi_is_leaf(p)) {
        for (unsigned i = 0; i < k; i++) big |= bi_leaf_node(p, i)->flags & BI_N_BIG;
        return k | (big ? BI_COUNT_BIG : 0);
    }
    for (unsigned i = 0; i < k; i++) {
        uint64_t w = bi_branch_count(p, i);
        n += w & BI_COUNT_MASK;
        big |= w & BI_COUNT_BIG;
    }
    return n | big;
}

/* Adds delta records (and the big mark) to every branch node of a touched
 * path, root to the leaf's parent. */
static void path_count(bi_path *path, int64_t delta, int big)
{
    for (int d = 0; d + 1 < path->depth; d++) {
        uint8_t *p = path->pg[d];
        unsigned i = path->idx[d];
        uint64_t w = bi_branch_count(p, i);
        w = ((w & BI_COUNT_MASK) + (uint64_t)delta) | (w & BI_COUNT_BIG) | (big ? BI_COUNT_BIG : 0);
        bi_set_branch_count(p, i, w);
    }
}

/* Recounts the node that names page d of the path in its parent. */
static void recount_in_parent(bi_path *path, int d)
{
    if (d > 0) bi_set_branch_count(path->pg[d - 1], path->idx[d - 1], bi_bt_page_count(path->pg[d]));
}

/* An entry being placed during a split. */
typedef struct ent {
    const uint8_t *node;
    size_t size;
    size_t klen;
    uint32_t head;
} ent;

static size_t ent_cost(const ent *e, int as_first_branch)
{
    return (as_first_branch ? bi_bnode_size(0) : e->size) + BI_SLOT;
}

/* Chooses how many entries stay left.  Appending at the right edge of the
 * tree keeps the old page whole (sequential loads fill pages); otherwise the
 * split balances bytes. */
static unsigned split_point(const ent *e, unsigned m, int branch, int at_right_edge, size_t cap)
{
    size_t total = 0;
    for (unsigned i = 0; i < m; i++) total += ent_cost(&e[i], 0);
    if (at_right_edge && total - ent_cost(&e[m - 1], 0) <= cap && ent_cost(&e[m - 1], branch) <= cap)
        return m - 1;
    unsigned best = 0; /* none fits: only possible when a damaged page's nodes overlap */
    size_t best_gap = SIZE_MAX, left = 0;
    for (unsigned k = 1; k < m; k++) {
        left += ent_cost(&e[k - 1], 0);
        size_t right = total - left - ent_cost(&e[k], 0) + ent_cost(&e[k], branch);
        if (left > cap || right > cap) continue;
        size_t gap = left > right ? left - right : right - left;
        if (gap < best_gap) best_gap = gap, best = k;
    }
    return best;
}

static int at_right_edge(const bi_path *path, int d, unsigned idx)
{
    if (idx != bi_nkeys(path->pg[d])) return 0;
    for (int i = 0; i < d; i++)
        if (path->idx[i] + 1 != bi_nkeys(path->pg[i])) return 0;
    return 1;
}

static int insert_node(birch_txn *txn, bi_tree *tree, bi_path *path, int d, unsigned idx,
                       const uint8_t *node, size_t nsz, size_t klen, uint32_t head,
                       uint8_t **out_pg, unsigned *out_idx);

/* Pushes separator (key, right child) into the parent of level d, or grows
 * a new root when d is the root. */
static int push_up(birch_txn *txn, bi_tree *tree, bi_path *path, int d,
                   const uint8_t *sep, size_t seplen, uint64_t right, uint64_t right_count)
{
    size_t sz = bi_bnode_size(seplen);
    uint8_t *buf = malloc(sz);
    if (!buf) return bi_err(BIRCH_ENOMEM, "out of memory for a %zu-byte branch node", sz);
    make_bnode(buf, right, sep, seplen, 0, right_count);
    int rc;
    if (d == 0 && bi_level(path->pg[0]) + 1u >= BI_MAX_DEPTH) {
        rc = bi_err(BIRCH_EFULL, "the tree would grow past %d levels (keys too long for the page size?)",
                    BI_MAX_DEPTH); /* deeper trees would be read as corrupt */
    } else if (d == 0) {
        uint64_t rootno;
        uint8_t *root;
        rc = bi_page_alloc(txn, 1, &rootno, &root);
        if (rc == BIRCH_OK) {
            uint8_t first[24];
            size_t fsz = make_bnode(first, path->pgno[0], NULL, 0, 0, bi_bt_page_count(path->pg[0]));
            page_init(root, BI_P_BRANCH, bi_level(path->pg[0]) + 1u, txn->db->psize);
            page_insert(root, 0, first, fsz, 0, 0);
            page_insert(root, 1, buf, sz, seplen, bi_key_head(sep, seplen));
            tree->root = rootno;
        }
    } else {
        uint8_t *pg;
        unsigned i;
        rc = insert_node(txn, tree, path, d - 1, path->idx[d - 1] + 1, buf, sz, seplen,
                         bi_key_head(sep, seplen), &pg, &i);
    }
    free(buf);
    return rc;
}

/* Fills page p with entries e[from, to); for a branch the first entry of a
 * right page loses its key (it becomes minus infinity). */
static void refill(uint8_t *p, const ent *e, unsigned from, unsigned to, int drop_first_key)
{
    for (unsigned i = from; i < to; i++) {
        if (drop_first_key && i == from) {
            uint64_t child, csum, count;
            uint8_t node[24];
            memcpy(&child, e[i].node, 8);
            memcpy(&csum, e[i].node + e[i].size - 16, 8);
            memcpy(&count, e[i].node + e[i].size - 8, 8);
            page_insert(p, 0, node, make_bnode(node, child, NULL, 0, csum, count), 0, 0);
        } else {
            page_insert(p, i - from, e[i].node, e[i].size, e[i].klen, e[i].head);
        }
    }
}

static int split_insert(birch_txn *txn, bi_tree *tree, bi_path *path, int d, unsigned idx,
                        const uint8_t *node, size_t nsz, size_t klen, uint32_t head,
                        uint8_t **out_pg, unsigned *out_idx)
{
    birch_db *db = txn->db;
    uint8_t *p = path->pg[d];
    uint8_t *old = txn->scratch;
    unsigned n = bi_nkeys(p), m = n + 1;
    int branch = !bi_is_leaf(p);
    /* Every node is copied: validate them all (a damaged page may hold
     * nodes out of bounds, or overlapping ones whose sizes add up to more
     * than a page). */
    for (unsigned j = 0; j < n; j++) {
        int rc = bi_slot_ok(txn, p, j);
        if (rc) return rc;
    }
    memcpy(old, p, db->psize);
    ent *e = malloc(m * sizeof *e);
    if (!e) return bi_err(BIRCH_ENOMEM, "out of memory splitting a page");
    for (unsigned i = 0, j = 0; i < m; i++) {
        if (i == idx) {
            e[i] = (ent){node, nsz, klen, head};
            continue;
        }
        e[i] = (ent){bi_node(old, j), node_size(old, j), bi_node_klen(old, j), bi_slots(old)[j].head};
        j++;
    }
    unsigned k = split_point(e, m, branch, at_right_edge(path, d, idx), usable(db));
    if (k == 0) {
        free(e);
        return BI_CORRUPT("page %llu: its nodes overlap (no split fits them in two pages)", pgno_of(p));
    }
    uint64_t rno;
    uint8_t *rp;
    int rc = bi_page_alloc(txn, 1, &rno, &rp);
    if (rc) {
        free(e);
        return rc;
    }
    BI_ASSERT(k < m); /* split_point leaves both halves a node */
    page_init(rp, bi_hdr(old)->type, bi_level(old), db->psize);
    page_init(p, bi_hdr(old)->type, bi_level(old), db->psize);
    refill(p, e, 0, k, 0);
    refill(rp, e, k, m, branch);
    *out_pg = idx < k ? p : rp;
    *out_idx = idx < k ? idx : idx - k;

    /* Separator: a branch passes up its first right key; a leaf the
     * shortest prefix of it that still sorts after the last left key. */
    const uint8_t *rk = e[k].node + BI_NODE_HDR;
    size_t seplen = e[k].klen;
    if (!branch) {
        const uint8_t *lk = e[k - 1].node + BI_NODE_HDR;
        size_t i = 0;
        while (i < e[k - 1].klen && i < seplen && lk[i] == rk[i]) i++;
        if (i < seplen) seplen = i + 1;
    }
    uint8_t *sep = malloc(seplen ? seplen : 1);
    if (!sep) rc = bi_err(BIRCH_ENOMEM, "out of memory for a separator key");
    else memcpy(sep, rk, seplen);
    free(e);
    recount_in_parent(path, d); /* the left half's; push_up counts the right's */
    if (rc == BIRCH_OK) rc = push_up(txn, tree, path, d, sep, seplen, rno, bi_bt_page_count(rp));
    free(sep);
    return rc;
}

/* Inserts a node into page d of a touched path, splitting as needed; tells
 * where the node ended up. */
static int insert_node(birch_txn *txn, bi_tree *tree, bi_path *path, int d, unsigned idx,
                       const uint8_t *node, size_t nsz, size_t klen, uint32_t head,
                       uint8_t **out_pg, unsigned *out_idx)
{
    uint8_t *p = path->pg[d];
    if (bi_free_space(p) >= nsz + BI_SLOT) {
        page_insert(p, idx, node, nsz, klen, head);
        *out_pg = p;
        *out_idx = idx;
        return BIRCH_OK;
    }
    return split_insert(txn, tree, path, d, idx, node, nsz, klen, head, out_pg, out_idx);
}

/* Copies every page of the path so it can be changed. */
int bi_bt_touch_path(birch_txn *txn, bi_tree *tree, bi_path *path)
{
    for (int d = 0; d < path->depth; d++) {
        uint64_t np, csum;
        uint8_t *buf;
        /* A spilled page is read back at its own number (bi_page_touch). */
        int spilled = txn->spilled && bi_page_spilled(txn, path->pgno[d], &csum);
        int rc = bi_page_touch(txn, path->pgno[d], &np, &buf);
        if (rc) return rc;
        /* Already dirty, it must be the page the search read: otherwise a
         * damaged free list handed it out while still in use. */
        if (np == path->pgno[d] && buf != path->pg[d] && !spilled)
            return BI_CORRUPT("page %llu: in use by the tree, yet already written in this transaction "
                              "(the free list named a live page)", (unsigned long long)np);
        if (np != path->pgno[d]) {
            if (d == 0) tree->root = np;
            else bi_set_branch_child(path->pg[d - 1], path->idx[d - 1], np);
        }
        path->pg[d] = buf;
        path->pgno[d] = np;
    }
    return BIRCH_OK;
}

int bi_bt_free_overflow(birch_txn *txn, uint8_t *leaf, unsigned i)
{
    const bi_lnode *n = bi_leaf_node(leaf, i);
    if (!(n->flags & BI_N_BIG)) return BIRCH_OK;
    uint64_t ov;
    memcpy(&ov, bi_leaf_val(leaf, i), 8);
    birch_val v;
    int rc = bi_leaf_value(txn, leaf, i, &v); /* validates the run */
    if (rc) return rc;
    return bi_page_free(txn, ov, bi_overflow_pages(txn->db, n->vlen));
}

static int new_root_leaf(birch_txn *txn, bi_tree *tree, bi_path *path)
{
    uint64_t pgno;
    uint8_t *p;
    int rc = bi_page_alloc(txn, 1, &pgno, &p);
    if (rc) return rc;
    page_init(p, BI_P_LEAF, 0, txn->db->psize);
    tree->root = pgno;
    path->depth = 1;
    path->pg[0] = p;
    path->pgno[0] = pgno;
    path->idx[0] = 0;
    return BIRCH_OK;
}

static int is_rightmost(const bi_path *path)
{
    int leaf = path->depth - 1;
    return at_right_edge(path, leaf, path->idx[leaf]);
}

/* Overwrites an inline value of the same padded size in place.  val may
 * be the old value itself or overlap it (a value read in this
 * transaction): memmove. */
static int overwrite_in_place(uint8_t *leaf, unsigned i, const void *val, size_t vlen, uint8_t **valp)
{
    bi_lnode *n = bi_leaf_node(leaf, i);
    if ((n->flags & BI_N_BIG) || BI_A8(n->vlen) != BI_A8(vlen)) return 0;
    uint8_t *v = bi_leaf_val(leaf, i);
    n->vlen = (uint32_t)vlen;
    if (val) memmove(v, val, vlen);
    else memset(v, 0, vlen);
    memset(v + vlen, 0, BI_A8(vlen) - vlen);
    if (valp) *valp = v;
    return 1;
}

/* Builds the leaf node in scratch page 2; allocates the overflow run of a
 * big value.  *valp gets the run's value area (or NULL when inline). */
static int build_leaf_node(birch_txn *txn, const uint8_t *key, size_t klen, const void *val,
                           size_t vlen, size_t *nsz, uint8_t **valp)
{
    birch_db *db = txn->db;
    int big = bi_lnode_size(klen, vlen, 0) > db->node_max;
    uint8_t *node = txn->scratch + db->psize;
    size_t sz = bi_lnode_size(klen, vlen, big);
    memset(node, 0, sz);
    bi_lnode hdr = {(uint32_t)vlen, big ? BI_N_BIG : 0};
    memcpy(node, &hdr, sizeof hdr);
    memcpy(node + BI_NODE_HDR, key, klen);
    uint8_t *v = node + BI_NODE_HDR + BI_A8(klen);
    *valp = NULL;
    if (big) {
        uint32_t np = bi_overflow_pages(db, vlen);
        uint64_t ov;
        uint8_t *run;
        int rc = bi_page_alloc(txn, np, &ov, &run);
        if (rc) return rc;
        bi_phdr *h = bi_hdr(run);
        h->type = BI_P_OVERFLOW;
        h->upper = np;
        if (val) memcpy(run + BI_HDR, val, vlen);
        memcpy(v, &ov, 8);
        *valp = run + BI_HDR;
    } else if (val) {
        memcpy(v, val, vlen);
    }
    *nsz = sz;
    return BIRCH_OK;
}

/* The search of a put or del, which changes the leaf it finds: a spilled
 * leaf comes back into memory by a read, not through the map (pager.c,
 * read_back), so that a transaction far past its dirty budget does not
 * fault the file's pages into its resident set one change at a time.  Not
 * on the memory backend, whose file is the process's memory: a copy would
 * hold the page twice and save no fault. */
static int change_search(birch_txn *txn, bi_tree *tree, const uint8_t *key, size_t klen, bi_path *path,
                         int *exact)
{
    txn->read_back = txn->spilled != 0 && txn->db->io.ops != &bi_io_mem;
    int rc = bi_tree_search(txn, tree, key, klen, path, exact);
    txn->read_back = 0;
    return rc;
}

int bi_tree_put(birch_txn *txn, bi_tree *tree, const uint8_t *key, size_t klen,
                const void *val, size_t vlen, unsigned flags, uint8_t **valp)
{
    bi_path path;
    int exact;
    int rc = change_search(txn, tree, key, klen, &path, &exact);
    if (rc) return rc;
    if (exact && (flags & (BI_PUT_NOOVERWRITE | BI_PUT_APPEND)))
        return bi_err_s(BIRCH_EXISTS, "the key exists (BIRCH_NOOVERWRITE or BIRCH_APPEND)");
    if ((flags & BI_PUT_APPEND) && path.depth && !is_rightmost(&path))
        return bi_err_s(BIRCH_EXISTS, "BIRCH_APPEND: the key does not sort after the table's last key");
    txn->mod_seq++;
    rc = path.depth ? bi_bt_touch_path(txn, tree, &path) : new_root_leaf(txn, tree, &path);
    if (rc) return rc;
    int d = path.depth - 1;
    uint8_t *leaf = path.pg[d];
    unsigned idx = path.idx[d];
    if (exact && overwrite_in_place(leaf, idx, val, vlen, valp)) return BIRCH_OK;
    /* Every path node gains the record (or keeps its count for a
     * replacement) and the big mark of a value that will not fit inline;
     * a split below recounts the halves. */
    path_count(&path, !exact, bi_lnode_size(klen, vlen, 0) > txn->db->node_max);
    /* key and val may point into this leaf or into the old value's
     * overflow run (birch_get, a cursor, a guard in this transaction):
     * copy both into the new node and run before the old record is
     * removed and its run freed (birch.h: arguments may point anywhere).
     * bi_bt_touch_path above only copied pages; it moved nothing. */
    uint32_t head = bi_key_head(key, klen);
    size_t nsz;
    uint8_t *bigval;
    rc = build_leaf_node(txn, key, klen, val, vlen, &nsz, &bigval);
    if (rc) return rc;
    if (exact) {
        rc = bi_bt_free_overflow(txn, leaf, idx);
        if (rc) return rc;
        bi_bt_page_remove(leaf, idx);
    }
    uint8_t *pg;
    unsigned at;
    rc = insert_node(txn, tree, &path, d, idx, txn->scratch + txn->db->psize, nsz, klen, head, &pg, &at);
    if (rc) return rc;
    if (!exact) tree->count++;
    if (valp) *valp = bigval ? bigval : bi_leaf_val(pg, at);
    return BIRCH_OK;
}

/* ---- Delete and rebalance ------------------------------------------------ */

/* Removes branch slot 0 (validated by the caller); the new slot 0 loses
 * its key (minus infinity). */
int bi_bt_branch_remove_first(const birch_txn *txn, uint8_t *p)
{
    if (bi_nkeys(p) > 1) {
        int rc = bi_slot_ok(txn, p, 1);
        if (rc) return rc;
    }
    bi_bt_page_remove(p, 0);
    if (!bi_nkeys(p)) return BIRCH_OK;
    uint8_t node[24];
    size_t sz = make_bnode(node, bi_branch_child(p, 0), NULL, 0, bi_branch_csum(p, 0), bi_branch_count(p, 0));
    bi_bt_page_remove(p, 0);
    page_insert(p, 0, node, sz, 0, 0);
    return BIRCH_OK;
}

/* Appends the entries of right to left (a merge); for branches the first
 * right entry takes the separator key from the parent. */
static void merge_into(uint8_t *left, uint8_t *right, const uint8_t *sep, size_t seplen)
{
    int branch = !bi_is_leaf(left);
    for (unsigned i = 0; i < bi_nkeys(right); i++) {
        unsigned at = bi_nkeys(left);
        if (branch && i == 0) {
            uint8_t node[BI_NODE_HDR + BIRCH_MAX_PAGE_SIZE / 4 + 16];
            size_t sz = make_bnode(node, bi_branch_child(right, 0), sep, seplen, bi_branch_csum(right, 0),
                                   bi_branch_count(right, 0));
            page_insert(left, at, node, sz, seplen, bi_key_head(sep, seplen));
        } else {
            page_insert(left, at, bi_node(right, i), node_size(right, i), bi_node_klen(right, i),
                        bi_slots(right)[i].head);
        }
    }
}

static int rebalance(birch_txn *txn, bi_tree *tree, bi_path *path, int d);

/* Merges the children at slots li and li+1 of branch page parent (dirty)
 * into the left one when their entries fit in one page: *merged tells
 * whether it did.  The right page is freed and its slot removed. */
int bi_bt_merge_pair(birch_txn *txn, uint8_t *parent, unsigned li, int *merged)
{
    birch_db *db = txn->db;
    int level = (int)bi_level(parent) - 1;
    *merged = 0;
    int rc = bi_slot_ok(txn, parent, li);
    if (rc == BIRCH_OK) rc = bi_slot_ok(txn, parent, li + 1);
    if (rc) return rc;
    uint64_t lno = bi_branch_child(parent, li), rno = bi_branch_child(parent, li + 1);
    uint8_t *left, *right;
    rc = bi_page_read(txn, lno, level, &left);
    if (rc == BIRCH_OK) rc = bi_page_read(txn, rno, level, &right);
    if (rc) return rc;
    if (left == right)
        return BI_CORRUPT("page %llu: two slots name child page %llu", pgno_of(parent), (unsigned long long)rno);
    /* The right page's nodes are copied: validate them, and count their
     * real sizes (overlapping nodes of a damaged page add up to more than
     * its used space). */
    size_t right_used = 0;
    for (unsigned i = 0; i < bi_nkeys(right); i++) {
        if ((rc = bi_slot_ok(txn, right, i))) return rc;
        right_used += node_size(right, i) + BI_SLOT;
    }
    for (unsigned i = 0; i < bi_nkeys(left); i++) /* the merged page's count words are read */
        if ((rc = bi_slot_ok(txn, left, i))) return rc;
    size_t seplen = bi_node_klen(parent, li + 1);
    size_t need = page_used(left, db->psize) + right_used;
    if (!bi_is_leaf(left)) need += BI_A8(seplen);
    if (need > usable(db)) return BIRCH_OK;
    uint64_t np; /* the left page is changed: copied unless already dirty */
    rc = bi_page_touch(txn, lno, &np, &left);
    if (rc) return rc;
    bi_set_branch_child(parent, li, np);
    merge_into(left, right, bi_node_key(parent, li + 1), seplen);
    bi_set_branch_count(parent, li, bi_bt_page_count(left));
    rc = bi_page_free(txn, rno, 1);
    if (rc) return rc;
    bi_bt_page_remove(parent, li + 1);
    *merged = 1;
    return BIRCH_OK;
}

/* Merges the child pages at slots li and li+1 of parent level d-1 when
 * their entries fit in one page, then rebalances the parent. */
static int try_merge(birch_txn *txn, bi_tree *tree, bi_path *path, int d, unsigned li)
{
    int merged, rc = bi_bt_merge_pair(txn, path->pg[d - 1], li, &merged);
    return rc || !merged ? rc : rebalance(txn, tree, path, d - 1);
}

int bi_bt_collapse_root(birch_txn *txn, bi_tree *tree, uint8_t *p, uint64_t pgno)
{
    if (bi_nkeys(p) == 0) { /* the last record is gone */
        tree->root = 0;
        return bi_page_free(txn, pgno, 1);
    }
    while (!bi_is_leaf(p) && bi_nkeys(p) == 1) {
        int rc = bi_slot_ok(txn, p, 0);
        if (rc) return rc;
        uint64_t child = bi_branch_child(p, 0);
        uint64_t csum = bi_branch_csum(p, 0); /* the child may be clean: no reseal */
        int level = (int)bi_level(p) - 1;
        rc = bi_page_free(txn, pgno, 1); /* may release p's memory */
        if (rc == BIRCH_OK) rc = bi_page_read(txn, child, level, &p);
        if (rc) return rc;
        tree->root = pgno = child;
        tree->csum = csum;
    }
    return BIRCH_OK;
}

/* Restores the tree's shape after page d of a touched path lost an entry. */
static int rebalance(birch_txn *txn, bi_tree *tree, bi_path *path, int d)
{
    uint8_t *p = path->pg[d];
    if (d == 0) return bi_bt_collapse_root(txn, tree, p, path->pgno[0]);
    unsigned n = bi_nkeys(p);
    if (n && page_used(p, txn->db->psize) >= usable(txn->db) / 4) return BIRCH_OK;
    uint8_t *parent = path->pg[d - 1];
    unsigned pi = path->idx[d - 1], pn = bi_nkeys(parent);
    if (n == 0) {
        int rc = bi_page_free(txn, path->pgno[d], 1);
        if (rc) return rc;
        if (pi == 0) {
            rc = bi_bt_branch_remove_first(txn, parent);
            if (rc) return rc;
        } else {
            bi_bt_page_remove(parent, pi);
        }
        return rebalance(txn, tree, path, d - 1);
    }
    if (pn < 2) return BIRCH_OK;
    return try_merge(txn, tree, path, d, pi > 0 ? pi - 1 : pi);
}

int bi_tree_del_at(birch_txn *txn, bi_tree *tree, bi_path *path, int *kept)
{
    txn->mod_seq++;
    int rc = bi_bt_touch_path(txn, tree, path);
    if (rc) return rc;
    int d = path->depth - 1;
    uint8_t *leaf = path->pg[d];
    rc = bi_bt_free_overflow(txn, leaf, path->idx[d]);
    if (rc) return rc;
    bi_bt_page_remove(leaf, path->idx[d]);
    tree->count--;
    path_count(path, -1, 0);
    /* A leaf that keeps a quarter of its page stays as it is (rebalance
     * returns at once), so the path still names its pages. */
    if (kept) *kept = bi_nkeys(leaf) && (d == 0 || page_used(leaf, txn->db->psize) >= usable(txn->db) / 4);
    return rebalance(txn, tree, path, d);
}

int bi_tree_del(birch_txn *txn, bi_tree *tree, const uint8_t *key, size_t klen)
{
    bi_path path;
    int exact;
    int rc = change_search(txn, tree, key, klen, &path, &exact);
    if (rc) return rc;
    if (!exact) return bi_err_s(BIRCH_NOTFOUND, "no such key");
    return bi_tree_del_at(txn, tree, &path, NULL);
}

/* ---- Dropping a whole tree ------------------------------------------------ */

static int free_leaf_runs(birch_txn *txn, uint8_t *leaf)
{
    for (unsigned i = 0; i < bi_nkeys(leaf); i++) {
        int rc = bi_slot_ok(txn, leaf, i);
        if (rc == BIRCH_OK) rc = bi_bt_free_overflow(txn, leaf, i);
        if (rc) return rc;
    }
    return BIRCH_OK;
}

int bi_tree_free_all(birch_txn *txn, bi_tree *tree)
{
    if (!tree->root) return BIRCH_OK; /* nothing to free; read_root would record a message */
    bi_path path;
    int rc = read_root(txn, tree, &path);
    if (rc) return rc;
    /* Depth-first, post-order: a page is freed after its children.  A
     * damaged tree may name a page from several parents; visiting more
     * pages than the file holds means that, and would take exponential
     * time. */
    int d = 0;
    path.idx[0] = 0;
    uint64_t visits = 0;
    for (;;) {
        uint8_t *p = path.pg[d];
        if (!bi_is_leaf(p) && path.idx[d] < bi_nkeys(p)) {
            if (++visits > txn->meta.npages)
                return BI_CORRUPT("tree with root %llu visits more pages than the file's %llu: pages named "
                                  "by several parents", (unsigned long long)tree->root,
                                  (unsigned long long)txn->meta.npages);
            rc = read_child(txn, &path, d);
            if (rc) return rc;
            path.idx[++d] = 0;
            continue;
        }
        if (bi_is_leaf(p)) rc = free_leaf_runs(txn, p);
        if (rc == BIRCH_OK) rc = bi_page_free(txn, path.pgno[d], 1);
        if (rc) return rc;
        if (d == 0) break;
        path.idx[--d]++;
    }
    tree->root = 0;
    tree->count = 0;
    return BIRCH_OK;
}
