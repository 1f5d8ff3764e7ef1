/*
 * range.c - what the count words of branch pages (page.h) make
 * logarithmic: the rank of a key, the record of a rank, and the deletion
 * of a range of records.
 *
 * A branch node keeps the number of records under its child, so the
 * records before a position are the counts of the nodes left of the path
 * at every level plus the leaf index: one root-to-leaf walk, no leaf but
 * the last read.  Range deletion works on ranks too: a subtree whose ranks
 * lie inside the range is freed whole, from its count word alone when no
 * value in it is big (no leaf read at all); only the two subtrees that
 * hold the range's edges are entered.
 */
#include <string.h>

#include "btree_impl.h"

static unsigned long long pgno_of(uint8_t *p) { return (unsigned long long)bi_hdr(p)->pgno; }

/* The slots [*lo, *hi) of branch slot i's left siblings whose count
 * words a rank sums: from whichever end of the page is nearer (each word
 * is in a node of its own, a cache line apart; the other end's sum comes
 * off the page's total). */
static void sum_span(uint8_t *p, unsigned i, unsigned *lo, unsigned *hi)
{
    unsigned n = bi_nkeys(p);
    *lo = i <= n / 2 ? 0 : i, *hi = i <= n / 2 ? i : n;
}

/* Asks for the cache lines of the count words rank_levels will sum, all at
 * once, so that their misses overlap instead of following one another.
 * A prefetch never faults: an offset not yet validated does no harm.
 * Inlined: gcc counts a function that only prefetches as free of side
 * effects and dropped its call (until issue 15: gcc builds never asked). */
static BI_HOT_INLINE void prefetch_counts(const bi_path *path, int from)
{
    for (int d = from; d + 1 < path->depth; d++) {
        unsigned lo, hi;
        sum_span(path->pg[d], path->idx[d], &lo, &hi);
        for (unsigned j = lo; j < hi; j++) __builtin_prefetch(bi_node_tail(path->pg[d], j) + 8);
    }
}

/* Branch slot j's count word, its node validated first. */
static inline int count_of(birch_txn *txn, uint8_t *p, unsigned j, uint64_t *c)
{
    int rc = bi_branch_slot_ok(txn, p, j);
    if (rc == BIRCH_OK) *c = bi_branch_count(p, j) & BI_COUNT_MASK;
    return rc;
}

/* The records left of the path in the subtree of path->pg[from], which
 * holds total records, counted at levels [from, to): the counts left of
 * the path at those of them that are branches, plus the leaf index when
 * to is the path's depth.  *below: the records under the path's slot at
 * level to - 1 (the total of the level after). */
static int rank_levels(birch_txn *txn, const bi_path *path, int from, int to, uint64_t total, uint64_t *rank,
                       uint64_t *below)
{
    uint64_t r = 0;
    for (int d = from; d < to && d + 1 < path->depth; d++) {
        uint8_t *p = path->pg[d];
        unsigned i = path->idx[d], lo, hi;
        sum_span(p, i, &lo, &hi);
        /* Every node read is validated first: a search validates only the
         * nodes it compares. */
        uint64_t sum = 0, c;
        for (unsigned j = lo; j < hi && sum <= total; j++) { /* stops before the sum could wrap */
            int rc = count_of(txn, p, j, &c);
            if (rc) return rc;
            sum += c;
        }
        if (sum > total) return BI_CORRUPT("page %llu: its count words add up to more than its parent says", pgno_of(p));
        r += lo == 0 ? sum : total - sum;
        int rc = count_of(txn, p, i, &total);
        if (rc) return rc;
    }
    if (to >= path->depth && path->depth) {
        /* The leaf's records must be what its parent's word (or the
         * table's count) says: a cheap check of the last word used. */
        uint8_t *leaf = path->pg[path->depth - 1];
        if (bi_nkeys(leaf) != total)
            return BI_CORRUPT("page %llu: %u records where its parent's count word says %llu", pgno_of(leaf),
                              bi_nkeys(leaf), (unsigned long long)total);
        r += path->idx[path->depth - 1];
    }
    *rank = r;
    if (below) *below = total;
    return BIRCH_OK;
}

int bi_path_rank(birch_txn *txn, const bi_path *path, uint64_t total, uint64_t *rank)
{
    prefetch_counts(path, 0);
    return rank_levels(txn, path, 0, path->depth, total, rank, NULL);
}

int bi_tree_rank(birch_txn *txn, const bi_tree *tree, const uint8_t *key, size_t klen, uint64_t *rank)
{
    *rank = 0;
    if (!klen || !tree->root) return BIRCH_OK;
    bi_path path;
    int exact;
    int rc = bi_tree_search(txn, tree, key, klen, &path, &exact);
    if (rc == BIRCH_OK) rc = bi_path_rank(txn, &path, tree->count, rank);
    if (rc == BIRCH_OK && *rank > tree->count)
        rc = BI_CORRUPT("tree with root %llu: a rank of %llu in %llu records", (unsigned long long)tree->root,
                        (unsigned long long)*rank, (unsigned long long)tree->count);
    return rc;
}

int bi_tree_ranks(birch_txn *txn, const bi_tree *tree, const uint8_t *lo, size_t ln, const uint8_t *hi, size_t hn,
                  uint64_t *a, uint64_t *b)
{
    *a = 0, *b = tree->count;
    if (!hn || !ln || !tree->root) {
        int rc = ln ? bi_tree_rank(txn, tree, lo, ln, a) : BIRCH_OK;
        return rc == BIRCH_OK && hn ? bi_tree_rank(txn, tree, hi, hn, b) : rc;
    }
    bi_path pa, pb, *path[2] = {&pa, &pb};
    const uint8_t *key[2] = {lo, hi};
    size_t klen[2] = {ln, hn};
    int split;
    int rc = bi_tree_search_pair(txn, tree, key, klen, path, &split);
    if (rc) return rc;
    /* Above split the paths are one: their ranks share the counts summed
     * there and differ by their ranks inside the page where they part. */
    prefetch_counts(&pa, 0);
    prefetch_counts(&pb, split);
    uint64_t above, below, ra, rb;
    rc = rank_levels(txn, &pa, 0, split, tree->count, &above, &below);
    if (rc == BIRCH_OK) rc = rank_levels(txn, &pa, split, pa.depth, below, &ra, NULL);
    if (rc == BIRCH_OK) rc = rank_levels(txn, &pb, split, pb.depth, below, &rb, NULL);
    if (rc == BIRCH_OK && (rb < ra || above + rb > tree->count))
        return BI_CORRUPT("page %llu: count words disagree with the order of its keys or the table's %llu records",
                          pgno_of(pa.pg[split]), (unsigned long long)tree->count);
    if (rc == BIRCH_OK) *a = above + ra, *b = above + rb;
    return rc;
}

int bi_path_seek_rank(birch_txn *txn, const bi_tree *tree, uint64_t n, bi_path *path)
{
    if (n >= tree->count || !tree->root)
        return bi_err(BIRCH_NOTFOUND, "rank %llu: the table holds %llu records", (unsigned long long)n,
                      (unsigned long long)tree->count);
    int level = -1;
    uint64_t pgno = tree->root, total = tree->count;
    for (int d = 0; d < BI_MAX_DEPTH; d++) {
        uint8_t *p;
        int rc = bi_page_read(txn, pgno, level, &p);
        if (rc) return rc;
        path->pg[d] = p;
        path->pgno[d] = pgno;
        unsigned k = bi_nkeys(p);
        if (bi_is_leaf(p)) {
            if (n >= k || k != total) break;
            path->idx[d] = (unsigned)n;
            path->depth = d + 1;
            return bi_slot_ok(txn, p, (unsigned)n);
        }
        /* The child holding rank n: child i holds [start, start + its
         * count).  Every word of the page is summed and held against its
         * parent's (a seek is not a search a key could check: a damaged
         * word would land it on another record without a sign). */
        unsigned i = k; /* k: none holds it (damage, told below) */
        uint64_t sum = 0, c;
        for (unsigned j = 0; j < k && sum <= total; j++) { /* stops before the sum could wrap */
            if ((rc = count_of(txn, p, j, &c))) return rc;
            if (i == k && n >= sum && n - sum < c) i = j, n -= sum;
            sum += c;
        }
        if (sum != total) break;
        if (i == k) break;
        total = bi_branch_count(p, i) & BI_COUNT_MASK;
        path->idx[d] = i;
        pgno = bi_branch_child(p, i);
        level = (int)bi_level(p) - 1;
    }
    return BI_CORRUPT("tree with root %llu: its count words do not add up to its %llu records",
                      (unsigned long long)tree->root, (unsigned long long)tree->count);
}

/* ---- Range deletion ------------------------------------------------------ */

typedef struct prune {
    birch_txn *txn;
    uint64_t lo, hi;  /* the ranks to delete: [lo, hi) */
    uint64_t visits;  /* pages entered: a damaged tree naming pages twice ends */
} prune;

static int visit(prune *pr, uint64_t pgno)
{
    if (++pr->visits <= pr->txn->meta.npages) return BIRCH_OK;
    return BI_CORRUPT("page %llu: a range deletion visits more pages than the file's %llu (pages named by several "
                      "parents)", (unsigned long long)pgno, (unsigned long long)pr->txn->meta.npages);
}

/* Frees the subtree at pgno (its level, and the count word its parent
 * keeps) whole: a leaf without big values by its number alone. */
static int free_subtree(prune *pr, uint64_t pgno, int level, uint64_t w)
{
    birch_txn *txn = pr->txn;
    int rc = visit(pr, pgno);
    if (rc) return rc;
    if (level == 0 && !(w & BI_COUNT_BIG)) return bi_page_free_unread(txn, pgno, 1);
    uint8_t *p;
    if ((rc = bi_page_read(txn, pgno, level, &p))) return rc;
    for (unsigned i = 0; i < bi_nkeys(p) && rc == BIRCH_OK; i++) {
        rc = bi_slot_ok(txn, p, i);
        if (rc) break;
        if (bi_is_leaf(p)) rc = bi_bt_free_overflow(txn, p, i);
        else rc = free_subtree(pr, bi_branch_child(p, i), level - 1, bi_branch_count(p, i));
    }
    return rc ? rc : bi_page_free(txn, pgno, 1); /* last: freeing may release p's buffer */
}

static int remove_slot(birch_txn *txn, uint8_t *p, unsigned i)
{
    if (i == 0) return bi_bt_branch_remove_first(txn, p);
    bi_bt_page_remove(p, i);
    return BIRCH_OK;
}

/* Whether child i of branch p is worth merging with a neighbour: less
 * than a quarter full, or a branch with a single child. */
static int underfull(birch_txn *txn, uint8_t *p, unsigned i, int *yes)
{
    uint8_t *c;
    int rc = bi_page_read(txn, bi_branch_child(p, i), (int)bi_level(p) - 1, &c);
    if (rc) return rc;
    size_t used = (txn->db->psize - bi_hdr(c)->upper) + (size_t)BI_SLOT * bi_nkeys(c);
    *yes = used < (txn->db->psize - BI_HDR) / 4 || (!bi_is_leaf(c) && bi_nkeys(c) == 1);
    return BIRCH_OK;
}

/* Merges the children of p around slot a, where the range's edges left
 * their pages: pairs (a+1, a+2), (a, a+1), (a-1, a), each when one of the
 * two is underfull and they fit in one page. */
static int merge_edges(birch_txn *txn, uint8_t *p, unsigned a)
{
    for (int j = (int)a + 1; j >= (int)a - 1; j--) {
        if (j < 0 || (unsigned)j + 1 >= bi_nkeys(p)) continue;
        int l, r, merged;
        int rc = underfull(txn, p, (unsigned)j, &l);
        if (rc == BIRCH_OK) rc = underfull(txn, p, (unsigned)j + 1, &r);
        if (rc == BIRCH_OK && (l || r)) rc = bi_bt_merge_pair(txn, p, (unsigned)j, &merged);
        if (rc) return rc;
    }
    return BIRCH_OK;
}

static int prune_page(prune *pr, uint8_t *p, uint64_t base, uint64_t count);

/* Child i of branch p, whose first record has rank start, holds some of
 * the range and some records outside it: copied, pruned, and removed when
 * nothing is left of it. */
static int prune_child(prune *pr, uint8_t *p, unsigned i, uint64_t start)
{
    birch_txn *txn = pr->txn;
    uint64_t np;
    uint8_t *c;
    int rc = visit(pr, bi_branch_child(p, i));
    if (rc == BIRCH_OK) rc = bi_page_read(txn, bi_branch_child(p, i), (int)bi_level(p) - 1, &c);
    if (rc == BIRCH_OK) rc = bi_page_touch(txn, bi_branch_child(p, i), &np, &c);
    if (rc) return rc;
    bi_set_branch_child(p, i, np);
    if ((rc = prune_page(pr, c, start, bi_branch_count(p, i) & BI_COUNT_MASK))) return rc;
    if (bi_nkeys(c)) {
        bi_set_branch_count(p, i, bi_bt_page_count(c));
        return BIRCH_OK;
    }
    rc = bi_page_free(txn, np, 1);
    return rc ? rc : remove_slot(txn, p, i);
}

/* Removes the records of ranks [pr->lo, pr->hi) from page p, dirty, whose
 * first record has rank base and whose parent says it holds count: every
 * page entered is checked against that word before it changes (a damaged
 * word would move the range; the subtrees freed whole are not read, and
 * need not be, their own words decide nothing). */
static int prune_page(prune *pr, uint8_t *p, uint64_t base, uint64_t count)
{
    birch_txn *txn = pr->txn;
    unsigned n = bi_nkeys(p);
    int rc = BIRCH_OK;
    if (bi_is_leaf(p) && n != count)
        return BI_CORRUPT("page %llu: %u records where its parent's count word says %llu", pgno_of(p), n,
                          (unsigned long long)count);
    if (bi_is_leaf(p)) {
        uint64_t from = pr->lo > base ? pr->lo - base : 0, to = pr->hi - base < n ? pr->hi - base : n;
        for (uint64_t i = to; i-- > from && rc == BIRCH_OK;) {
            rc = bi_slot_ok(txn, p, (unsigned)i);
            if (rc == BIRCH_OK) rc = bi_bt_free_overflow(txn, p, (unsigned)i);
            if (rc == BIRCH_OK) bi_bt_page_remove(p, (unsigned)i);
        }
        return rc;
    }
    uint64_t end = base;
    for (unsigned i = 0; i < n; i++) {
        if ((rc = bi_slot_ok(txn, p, i))) return rc;
        end += bi_branch_count(p, i) & BI_COUNT_MASK;
        if (end - base > count) break;
    }
    if (end - base != count)
        return BI_CORRUPT("page %llu: its count words add up to %llu where its parent says %llu", pgno_of(p),
                          (unsigned long long)(end - base), (unsigned long long)count);
    unsigned a = n; /* the lowest slot the range reaches */
    for (unsigned i = n; i-- > 0 && rc == BIRCH_OK;) { /* right to left: removals shift only done slots */
        uint64_t w = bi_branch_count(p, i), start = end - (w & BI_COUNT_MASK);
        if (start < pr->hi && end > pr->lo && end > start) {
            a = i;
            if (pr->lo <= start && end <= pr->hi) {
                rc = free_subtree(pr, bi_branch_child(p, i), (int)bi_level(p) - 1, w);
                if (rc == BIRCH_OK) rc = remove_slot(txn, p, i);
            } else {
                rc = prune_child(pr, p, i, start);
            }
        }
        end = start;
    }
    if (rc == BIRCH_OK && end != base)
        rc = BI_CORRUPT("page %llu: its count words changed during a range deletion", pgno_of(p));
    return rc == BIRCH_OK && a < n ? merge_edges(txn, p, a) : rc;
}

int bi_tree_del_ranks(birch_txn *txn, bi_tree *tree, uint64_t lo, uint64_t hi)
{
    if (lo >= hi || !tree->root) return BIRCH_OK;
    if (hi > tree->count)
        return BI_CORRUPT("tree with root %llu: ranks up to %llu asked of its %llu records", (unsigned long long)tree->root,
                          (unsigned long long)hi, (unsigned long long)tree->count);
    txn->mod_seq++;
    prune pr = {txn, lo, hi, 0};
    uint64_t np;
    uint8_t *root;
    int rc = bi_page_read(txn, tree->root, -1, &root);
    if (rc == BIRCH_OK) rc = bi_page_touch(txn, tree->root, &np, &root);
    if (rc) return rc;
    tree->root = np;
    if ((rc = prune_page(&pr, root, 0, tree->count))) return rc;
    uint64_t left = bi_bt_page_count(root) & BI_COUNT_MASK;
    if (left != tree->count - (hi - lo))
        return BI_CORRUPT("tree with root %llu: %llu records left after deleting %llu of %llu", pgno_of(root),
                          (unsigned long long)left, (unsigned long long)(hi - lo), (unsigned long long)tree->count);
    tree->count = left;
    return bi_bt_collapse_root(txn, tree, root, np);
}
