/*
 * seal.c - page checksums: sealing the pages a commit wrote, and verifying
 * them before a meta is trusted.
 *
 * The checksums form a Merkle tree.  A branch node keeps the XXH3-64 of its
 * child page, a big value's leaf node keeps the checksum of its overflow
 * run, a table's catalog record keeps its root page's, and the meta keeps
 * the catalog's root page's and the free-space map's newest record's (the
 * records form a chain of checksums of their own, freemap.c).  Every page also records the commit
 * that wrote it.
 *
 * That is what lets a commit sync once (txn.c): pages and meta are written
 * in any order, then synced together.  After a crash the newest meta may
 * point to pages that never reached the disk, so before open trusts a meta
 * it verifies every page written after the meta's base (a commit that was
 * durable when the meta was written): starting from the roots, a page must
 * hash to what its parent says, and only pages newer than the base are
 * descended.  The cost is the size of the last commit, not of the file.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- Sealing at commit ------------------------------------------------------ */

static int seal_runs(birch_txn *txn, uint8_t *leaf)
{
    for (unsigned i = 0; i < bi_nkeys(leaf); i++) {
        /* A leaf copied from a damaged page may hold bad nodes. */
        int rc = bi_slot_ok(txn, leaf, i);
        if (rc) return rc;
        bi_lnode *n = bi_leaf_node(leaf, i);
        if (!(n->flags & BI_N_BIG)) continue;
        bi_bigval bv;
        memcpy(&bv, bi_leaf_val(leaf, i), sizeof bv);
        if (!bi_page_is_dirty(txn, bv.pgno)) continue; /* an older run, already sealed */
        if (bi_page_spilled(txn, bv.pgno, &bv.csum)) { /* sealed when it was spilled */
            memcpy(bi_leaf_val(leaf, i), &bv, sizeof bv);
            continue;
        }
        birch_val v;
        if ((rc = bi_leaf_value(txn, leaf, i, &v))) return rc; /* run length, type */
        uint8_t *run = bi_page_get(txn, bv.pgno);
        bi_hdr(run)->txnid = txn->meta.txnid;
        bv.csum = bi_sum(run, (size_t)bi_overflow_pages(txn->db, n->vlen) * txn->db->psize);
        memcpy(bi_leaf_val(leaf, i), &bv, sizeof bv);
    }
    return BIRCH_OK;
}

/* Seals a dirty page after its dirty children, so each parent hashes its
 * children's final checksums.  Clean children keep the checksums their
 * entries already hold. */
static int seal_page(birch_txn *txn, uint64_t pgno, int depth, uint64_t *budget, uint64_t *csum)
{
    /* A spilled page (spill.c) is final: a leaf sealed with its runs, or a
     * run.  Its checksum was kept; it has no dirty children. */
    if (bi_page_spilled(txn, pgno, csum)) return BIRCH_OK;
    uint8_t *p = bi_page_get(txn, pgno);
    /* Each dirty page is sealed once; more visits mean a damaged tree
     * names pages from several parents. */
    unsigned long long n = (unsigned long long)pgno;
    if (!p) return BI_CORRUPT("page %llu: named by a changed tree but outside the file", n);
    if (depth >= BI_MAX_DEPTH) return BI_CORRUPT("page %llu: tree deeper than %d levels", n, BI_MAX_DEPTH);
    if (!(*budget)--) return BI_CORRUPT("page %llu: a changed tree names pages from several parents", n);
    if ((size_t)BI_HDR + (size_t)BI_SLOT * bi_nkeys(p) > txn->db->psize)
        return BI_CORRUPT("page %llu: %u slots do not fit the page", n, bi_nkeys(p));
    bi_hdr(p)->txnid = txn->meta.txnid;
    if (bi_is_leaf(p)) {
        int rc = seal_runs(txn, p);
        if (rc) return rc;
    } else {
        for (unsigned i = 0; i < bi_nkeys(p); i++) {
            int rc = bi_slot_ok(txn, p, i);
            if (rc) return rc;
            uint64_t child = bi_branch_child(p, i), c;
            if (!bi_page_is_dirty(txn, child)) continue;
            rc = seal_page(txn, child, depth + 1, budget, &c);
            if (rc) return rc;
            bi_set_branch_csum(p, i, c);
        }
    }
    *csum = bi_sum(p, txn->db->psize);
    return BIRCH_OK;
}

int bi_seal_one(birch_txn *txn, uint8_t *p, uint32_t npages, uint64_t *csum)
{
    if (bi_is_leaf(p)) {
        if ((size_t)BI_HDR + (size_t)BI_SLOT * bi_nkeys(p) > txn->db->psize)
            return BI_CORRUPT("page %llu: %u slots do not fit the page", (unsigned long long)bi_hdr(p)->pgno,
                              bi_nkeys(p));
        int rc = seal_runs(txn, p);
        if (rc) return rc;
    }
    bi_hdr(p)->txnid = txn->meta.txnid;
    *csum = bi_sum(p, (size_t)npages * txn->db->psize);
    return BIRCH_OK;
}

int bi_seal_tree(birch_txn *txn, bi_tree *tree)
{
    if (!tree->root) {
        tree->csum = 0;
        return BIRCH_OK;
    }
    if (!bi_page_is_dirty(txn, tree->root)) return BIRCH_OK; /* unchanged */
    uint64_t budget = txn->ndirty;
    return seal_page(txn, tree->root, 0, &budget, &tree->csum);
}

/* ---- Verifying at open ---------------------------------------------------------- */

typedef struct verify {
    birch_txn *txn;
    uint64_t base;   /* pages of this commit or older are durable */
    uint64_t budget; /* page visits left: a hostile file may share pages */
} verify;

static int verify_tree(verify *v, const bi_tree *tree, int catalog);

static int verify_run(verify *v, uint8_t *leaf, unsigned i)
{
    birch_txn *txn = v->txn;
    bi_lnode *n = bi_leaf_node(leaf, i);
    bi_bigval bv;
    memcpy(&bv, bi_leaf_val(leaf, i), sizeof bv);
    uint64_t np = bi_overflow_pages(txn->db, n->vlen);
    if (bv.pgno < BI_META_PAGES || bv.pgno > txn->snap_npages || np > txn->snap_npages - bv.pgno)
        return BI_CORRUPT("page %llu slot %u: overflow run %llu+%llu outside the file's %llu pages",
                          (unsigned long long)bi_hdr(leaf)->pgno, i, (unsigned long long)bv.pgno,
                          (unsigned long long)np, (unsigned long long)txn->snap_npages);
    uint8_t *run = txn->map + bv.pgno * txn->db->psize;
    if (bi_sum(run, np * txn->db->psize) == bv.csum) return BIRCH_OK;
    return BI_CORRUPT("overflow run %llu (named by page %llu slot %u): checksum mismatch",
                      (unsigned long long)bv.pgno, (unsigned long long)bi_hdr(leaf)->pgno, i);
}

/* What a tree's records name (verify_page): nothing, a table tree, or a
 * savepoint's catalog. */
enum { V_TABLE = 0, V_CATALOG = 1, V_SAVEPOINTS = 2 };

/* A savepoint names the catalog of the commit it keeps: its pages are
 * verified like the current ones (a commit after the base may have
 * written them, and this meta may be the only one left that names them). */
static int verify_savepoint(verify *v, uint8_t *leaf, unsigned i)
{
    birch_val val;
    bi_savepoint sp;
    int rc = bi_leaf_value(v->txn, leaf, i, &val);
    if (rc) return rc;
    if (val.size != sizeof sp)
        return BI_CORRUPT("page %llu slot %u: a savepoint record of %zu bytes (%zu)",
                          (unsigned long long)bi_hdr(leaf)->pgno, i, val.size, sizeof sp);
    memcpy(&sp, val.data, sizeof sp);
    return verify_tree(v, &sp.catalog, V_CATALOG);
}

/* A catalog record names a table tree, which is verified in turn. */
static int verify_record(verify *v, uint8_t *leaf, unsigned i)
{
    birch_val val;
    bi_table_rec rec;
    int rc = bi_leaf_value(v->txn, leaf, i, &val);
    if (rc) return rc;
    if (val.size < sizeof rec)
        return BI_CORRUPT("page %llu slot %u: catalog record of %zu bytes (at least %zu)",
                          (unsigned long long)bi_hdr(leaf)->pgno, i, val.size, sizeof rec);
    memcpy(&rec, val.data, sizeof rec);
    return verify_tree(v, &rec.tree, V_TABLE);
}

static int verify_page(verify *v, uint64_t pgno, int level, uint64_t csum, int catalog)
{
    birch_txn *txn = v->txn;
    unsigned long long n = (unsigned long long)pgno;
    if (!v->budget--) return BI_CORRUPT("page %llu: the trees name pages from several parents", n);
    uint8_t *p = bi_page_get(txn, pgno);
    if (!p) return BI_CORRUPT("page %llu: outside the file's %llu pages", n, (unsigned long long)txn->snap_npages);
    if (bi_sum(p, txn->db->psize) != csum) return BI_CORRUPT("page %llu: checksum mismatch", n);
    if (bi_hdr(p)->txnid <= v->base) return BIRCH_OK; /* durable before the base */
    int rc = bi_page_read(txn, pgno, level, &p);
    for (unsigned i = 0; rc == BIRCH_OK && i < bi_nkeys(p); i++) {
        rc = bi_slot_ok(txn, p, i);
        if (rc) break;
        if (!bi_is_leaf(p)) {
            rc = verify_page(v, bi_branch_child(p, i), (int)bi_level(p) - 1, bi_branch_csum(p, i), catalog);
        } else if (bi_leaf_node(p, i)->flags & BI_N_BIG) {
            rc = verify_run(v, p, i);
        }
        if (rc == BIRCH_OK && catalog == V_CATALOG && bi_is_leaf(p)) rc = verify_record(v, p, i);
        if (rc == BIRCH_OK && catalog == V_SAVEPOINTS && bi_is_leaf(p)) rc = verify_savepoint(v, p, i);
    }
    return rc;
}

static int verify_tree(verify *v, const bi_tree *tree, int catalog)
{
    if (!tree->root && tree->csum) return BI_CORRUPT("empty tree with a non-zero checksum");
    if (!tree->root) return BIRCH_OK;
    return verify_page(v, tree->root, -1, tree->csum, catalog);
}

int bi_verify_meta(birch_db *db, const bi_meta *m)
{
    if (m->base_txnid >= m->txnid) return BIRCH_OK; /* written after a sync: durable */
    birch_txn txn;
    memset(&txn, 0, sizeof txn);
    txn.db = db;
    txn.meta = *m;
    txn.map = db->map.addr;
    txn.snap_npages = m->npages;
    verify v = {&txn, m->base_txnid, (2 + m->savepoints.count) * m->npages + 16}; /* savepoints share pages */
    int rc = verify_tree(&v, &m->catalog, V_CATALOG);
    if (rc == BIRCH_OK) rc = verify_tree(&v, &m->savepoints, V_SAVEPOINTS);
    if (rc == BIRCH_OK) rc = bi_freemap_verify(db, m, db->map.addr);
    return rc;
}
