/*
 * page.h - the on-disk layout of birch pages (see docs/FORMAT.md).
 *
 * Every page but the two meta pages starts with a 24-byte header.  Branch
 * and leaf pages are slotted: an array of 8-byte slots grows up from the
 * header, the nodes they point to grow down from the end of the page, and
 * the free space is the gap between.  Each slot keeps the first four key
 * bytes ("head") as a big-endian integer, so a binary search compares
 * integers inside one contiguous array and reads a node only on a tie.
 *
 * Nodes start at multiples of 8 and hold their key padded to a multiple of
 * 8, so an inline value always starts 8-byte aligned in the map.  A value
 * too large for a leaf lives in an overflow run: contiguous pages whose
 * first page has a header and the value right after it (offset 24).
 *
 * Checksums form a Merkle tree: a branch node keeps its child's XXH3-64
 * checksum, a leaf node of a big value keeps its run's, and the meta keeps
 * each tree root's.  A commit therefore needs a single sync: on open, the
 * pages the last commit wrote are verified against the meta before it is
 * trusted (docs/DESIGN.md).
 *
 * All integers are stored in the machine's byte order; birch files move
 * between machines of the same endianness only (docs/FORMAT.md).
 */
#ifndef BIRCH_ENGINE_PAGE_H
#define BIRCH_ENGINE_PAGE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The structures below are the file format (docs/FORMAT.md): existing files
 * hold them as laid out here.  The asserts after each one pin its size and
 * field offsets to the tables of FORMAT.md, so that no compiler, ABI or
 * edit can change the layout without failing the build. */
#define BI_LAYOUT(cond, what) _Static_assert(cond, "on-disk layout (docs/FORMAT.md): " what)

enum {
    BI_P_BRANCH = 2,
    BI_P_LEAF = 3,
    BI_P_OVERFLOW = 4,
    BI_P_FREEMAP = 5  /* a record of the free-space map (alloc.c) */
};

#define BI_HDR 24u        /* page header size */
#define BI_SLOT 8u        /* slot size */
#define BI_NODE_HDR 8u    /* node header size (leaf and branch) */
#define BI_MAX_DEPTH 24   /* deeper trees are treated as corrupt */
#define BI_META_PAGES 2u  /* pages 0 and 1 */

/* Page header.  For overflow pages `upper` is the number of pages in the
 * run and nkeys is 0. */
typedef struct bi_phdr {
    uint8_t type;
    uint8_t level;   /* 0 for leaves, children are one level lower */
    uint16_t nkeys;
    uint32_t upper;  /* offset of the lowest node = end of free space */
    uint64_t pgno;   /* the page's own number: detects misplaced pages */
    uint64_t txnid;  /* the commit that wrote the page */
} bi_phdr;
BI_LAYOUT(sizeof(bi_phdr) == BI_HDR, "bi_phdr is 24 bytes");
BI_LAYOUT(offsetof(bi_phdr, type) == 0 && offsetof(bi_phdr, level) == 1 && offsetof(bi_phdr, nkeys) == 2 &&
              offsetof(bi_phdr, upper) == 4 && offsetof(bi_phdr, pgno) == 8 && offsetof(bi_phdr, txnid) == 16,
          "bi_phdr fields at 0, 1, 2, 4, 8, 16");

/* Slot: first four key bytes big-endian (zero padded), node offset, key length. */
typedef struct bi_slot {
    uint32_t head;
    uint16_t off;
    uint16_t klen;
} bi_slot;
BI_LAYOUT(sizeof(bi_slot) == BI_SLOT, "bi_slot is 8 bytes");
BI_LAYOUT(offsetof(bi_slot, head) == 0 && offsetof(bi_slot, off) == 4 && offsetof(bi_slot, klen) == 6,
          "bi_slot fields at 0, 4, 6");

/* Leaf node flags */
#define BI_N_BIG 0x1u /* value is in an overflow run; the node holds its pgno */

/* Leaf node header; followed by the key, padding to 8, then the value (or,
 * when BI_N_BIG, a bi_bigval naming the overflow run). */
typedef struct bi_lnode {
    uint32_t vlen;
    uint32_t flags;
} bi_lnode;
BI_LAYOUT(sizeof(bi_lnode) == BI_NODE_HDR, "bi_lnode is 8 bytes");
BI_LAYOUT(offsetof(bi_lnode, vlen) == 0 && offsetof(bi_lnode, flags) == 4, "bi_lnode fields at 0, 4");

typedef struct bi_bigval {
    uint64_t pgno;   /* first page of the run */
    uint64_t csum;   /* XXH3-64 of the whole run */
} bi_bigval;
BI_LAYOUT(sizeof(bi_bigval) == 16, "bi_bigval is 16 bytes");
BI_LAYOUT(offsetof(bi_bigval, pgno) == 0 && offsetof(bi_bigval, csum) == 8, "bi_bigval fields at 0, 8");

/* Branch node: the child page number, the key padded to 8, then the
 * child's checksum (in the place a leaf node keeps its value) and the
 * child's count word: the records of its subtree in the low 63 bits, and
 * BI_COUNT_BIG when the subtree may hold values in overflow runs (clear:
 * it holds none, so freeing it needs no visit of its leaves).  The counts
 * make rank and range-count queries logarithmic.  The key of slot 0 is
 * empty and stands for minus infinity. */
typedef struct bi_bnode {
    uint64_t child;
} bi_bnode;
BI_LAYOUT(sizeof(bi_bnode) == BI_NODE_HDR, "bi_bnode is 8 bytes");
#define BI_COUNT_BIG ((uint64_t)1 << 63)
#define BI_COUNT_MASK (BI_COUNT_BIG - 1)

#define BI_A8(x) (((x) + 7u) & ~(size_t)7u)

static inline bi_phdr *bi_hdr(uint8_t *p) { return (bi_phdr *)(void *)p; }
static inline bi_slot *bi_slots(uint8_t *p) { return (bi_slot *)(void *)(p + BI_HDR); }
static inline unsigned bi_nkeys(const uint8_t *p) { return ((const bi_phdr *)(const void *)p)->nkeys; }
static inline unsigned bi_level(const uint8_t *p) { return ((const bi_phdr *)(const void *)p)->level; }
static inline int bi_is_leaf(const uint8_t *p) { return p[0] == BI_P_LEAF; }

/* Bytes between the slot array and the nodes. */
static inline size_t bi_free_space(uint8_t *p)
{
    return bi_hdr(p)->upper - (BI_HDR + (size_t)BI_SLOT * bi_nkeys(p));
}

static inline uint8_t *bi_node(uint8_t *p, unsigned i) { return p + bi_slots(p)[i].off; }
static inline uint8_t *bi_node_key(uint8_t *p, unsigned i) { return bi_node(p, i) + BI_NODE_HDR; }
static inline size_t bi_node_klen(uint8_t *p, unsigned i) { return bi_slots(p)[i].klen; }
static inline bi_lnode *bi_leaf_node(uint8_t *p, unsigned i) { return (bi_lnode *)(void *)bi_node(p, i); }

static inline uint64_t bi_branch_child(uint8_t *p, unsigned i)
{
    return ((bi_bnode *)(void *)bi_node(p, i))->child;
}
static inline void bi_set_branch_child(uint8_t *p, unsigned i, uint64_t c)
{
    ((bi_bnode *)(void *)bi_node(p, i))->child = c;
}

/* What follows a node's padded key: a leaf's value (or its bi_bigval), a
 * branch node's child checksum. */
static inline uint8_t *bi_node_tail(uint8_t *p, unsigned i)
{
    return bi_node(p, i) + BI_NODE_HDR + BI_A8(bi_slots(p)[i].klen);
}
static inline uint8_t *bi_leaf_val(uint8_t *p, unsigned i) { return bi_node_tail(p, i); }

static inline uint64_t bi_branch_csum(uint8_t *p, unsigned i)
{
    uint64_t c;
    memcpy(&c, bi_node_tail(p, i), 8);
    return c;
}
static inline void bi_set_branch_csum(uint8_t *p, unsigned i, uint64_t c)
{
    memcpy(bi_node_tail(p, i), &c, 8);
}
/* A branch node's count word (BI_COUNT_BIG | records). */
static inline uint64_t bi_branch_count(uint8_t *p, unsigned i)
{
    uint64_t c;
    memcpy(&c, bi_node_tail(p, i) + 8, 8);
    return c;
}
static inline void bi_set_branch_count(uint8_t *p, unsigned i, uint64_t c)
{
    memcpy(bi_node_tail(p, i) + 8, &c, 8);
}

/* Sizes of nodes, without the slot. */
static inline size_t bi_lnode_size(size_t klen, size_t vlen, int big)
{
    return BI_NODE_HDR + BI_A8(klen) + (big ? sizeof(bi_bigval) : BI_A8(vlen));
}
static inline size_t bi_bnode_size(size_t klen) { return BI_NODE_HDR + BI_A8(klen) + 16u; }

/* The head of a key: its first four bytes as a big-endian integer. */
static inline uint32_t bi_key_head(const uint8_t *k, size_t n)
{
    uint8_t b[4] = {0, 0, 0, 0};
    memcpy(b, k, n < 4 ? n : 4);
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* memcmp order, a prefix sorts first. */
static inline int bi_key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

/* ---- Meta page ---------------------------------------------------------- */

#define BI_MAGIC "\x89" "BIRCH\r\n"   /* 8 bytes, like PNG's: catches text-mode damage */
#define BI_FORMAT_VERSION 3u /* 2: the free-space map replaced the free tree; 3: counts in branch
                                 nodes, savepoints, sequences, multimap tables */
#define BI_META_WEAK 0x1u /* written without a sync (BIRCH_DURABLE_NONE) */
#define BI_TXNID_LIMIT (1ull << 62) /* a meta's txnid is below: the free-space map keys txnid << 1 */

/* A tree's root, its number of records and the root page's checksum. */
typedef struct bi_tree {
    uint64_t root;  /* 0: empty tree */
    uint64_t count;
    uint64_t csum;  /* XXH3-64 of the root page; 0 for an empty tree */
} bi_tree;
BI_LAYOUT(sizeof(bi_tree) == 24, "bi_tree is 24 bytes");
BI_LAYOUT(offsetof(bi_tree, root) == 0 && offsetof(bi_tree, count) == 8 && offsetof(bi_tree, csum) == 16,
          "bi_tree fields at 0, 8, 16");

typedef struct bi_meta {
    uint8_t magic[8];
    uint32_t version;
    uint32_t page_size;
    uint64_t txnid;
    uint64_t base_txnid;  /* a commit known durable when this meta was
                             written: pages of later commits are verified
                             before this meta is trusted */
    uint64_t npages;      /* pages in use; the file may be longer */
    bi_tree catalog;      /* table name -> bi_table_rec */
    bi_tree freemap;      /* the free-space map's newest record: first page,
                             pages, checksum of the run; zeros if none */
    uint64_t free_pages;  /* free and pending pages the map lists */
    uint32_t flags;       /* BI_META_WEAK */
    uint32_t reserved;
    bi_tree savepoints;   /* savepoint name -> bi_savepoint (version 3) */
    uint64_t sp_oldest;   /* the oldest savepoint's txnid, 0 if none: its
                             pages are kept as a reader's would be */
    uint64_t checksum;    /* XXH3-64 of every byte above */
} bi_meta;
BI_LAYOUT(sizeof(bi_meta) == 144, "bi_meta is 144 bytes");
BI_LAYOUT(sizeof BI_MAGIC - 1 == sizeof(((bi_meta *)0)->magic), "the magic is 8 bytes");
BI_LAYOUT(offsetof(bi_meta, magic) == 0 && offsetof(bi_meta, version) == 8 && offsetof(bi_meta, page_size) == 12 &&
              offsetof(bi_meta, txnid) == 16 && offsetof(bi_meta, base_txnid) == 24 &&
              offsetof(bi_meta, npages) == 32 && offsetof(bi_meta, catalog) == 40 &&
              offsetof(bi_meta, freemap) == 64 && offsetof(bi_meta, free_pages) == 88 &&
              offsetof(bi_meta, flags) == 96 && offsetof(bi_meta, reserved) == 100 &&
              offsetof(bi_meta, savepoints) == 104 && offsetof(bi_meta, sp_oldest) == 128,
          "bi_meta fields at 0, 8, 12, 16, 24, 32, 40, 64, 88, 96, 100, 104, 128");
BI_LAYOUT(offsetof(bi_meta, checksum) == 136 && offsetof(bi_meta, checksum) + 8 == sizeof(bi_meta),
          "the meta checksum is the last 8 bytes, at 136, and covers bytes 0..135");

/* A savepoint's record (the value under its name in meta.savepoints): the
 * committed state it keeps, as a reader of that commit would see it. */
typedef struct bi_savepoint {
    uint64_t txnid;       /* the commit it keeps */
    uint64_t npages;      /* that commit's page count */
    bi_tree catalog;      /* that commit's catalog */
    uint64_t created_ms;  /* wall clock (ms since 1970) when it was made */
} bi_savepoint;
BI_LAYOUT(sizeof(bi_savepoint) == 48, "bi_savepoint is 48 bytes");
BI_LAYOUT(offsetof(bi_savepoint, txnid) == 0 && offsetof(bi_savepoint, npages) == 8 &&
              offsetof(bi_savepoint, catalog) == 16 && offsetof(bi_savepoint, created_ms) == 40,
          "bi_savepoint fields at 0, 8, 16, 40");

/* A record of the free-space map: a run of pages whose header has type
 * BI_P_FREEMAP and upper = the run's pages, then this, then body_len
 * bytes of operations (docs/FORMAT.md).  A base lists the whole state; a
 * delta what one commit changed, and names the record before it. */
enum { BI_FM_BASE = 1, BI_FM_DELTA = 2 };
typedef struct bi_fmrec {
    uint64_t prev;        /* the previous record's first page (deltas) */
    uint64_t prev_pages;  /* its pages */
    uint64_t prev_csum;   /* XXH3-64 of its whole run */
    uint64_t body_len;    /* bytes of operations after this header */
    uint32_t kind;        /* BI_FM_BASE or BI_FM_DELTA */
    uint32_t chain_len;   /* records from the base to this one, both counted */
} bi_fmrec;
BI_LAYOUT(sizeof(bi_fmrec) == 40, "bi_fmrec is 40 bytes");
/* The operations of a record's body: an opcode, then its arguments, all
 * LEB128 varints; key = txnid << 1 | young.  A body ends with BI_FMOP_END. */
enum {
    BI_FMOP_END = 0,
    BI_FMOP_FREE = 1,    /* start len: pages become free */
    BI_FMOP_TAKE = 2,    /* start len: free pages are taken */
    BI_FMOP_PEND = 3,    /* key start len: pages freed by commit key >> 1 */
    BI_FMOP_RECLAIM = 4, /* key: that commit's pending pages (the oldest of their kind) become free */
    BI_FMOP_UNPEND = 5   /* key start len: pages leave commit key >> 1's pending group, in use again
                            (a restored savepoint's tree holds them) */
};
BI_LAYOUT(offsetof(bi_fmrec, prev) == 0 && offsetof(bi_fmrec, prev_pages) == 8 &&
              offsetof(bi_fmrec, prev_csum) == 16 && offsetof(bi_fmrec, body_len) == 24 &&
              offsetof(bi_fmrec, kind) == 32 && offsetof(bi_fmrec, chain_len) == 36,
          "bi_fmrec fields at 0, 8, 16, 24, 32, 36");

/* Catalog value: followed by schema_len bytes of schema. */
typedef struct bi_table_rec {
    bi_tree tree;
    uint32_t flags;       /* BI_TABLE_MULTIMAP */
    uint32_t schema_len;
    uint64_t sequence;    /* the last number birch_sequence_next gave (version 3) */
} bi_table_rec;
BI_LAYOUT(sizeof(bi_table_rec) == 40, "bi_table_rec is 40 bytes");
BI_LAYOUT(offsetof(bi_table_rec, tree) == 0 && offsetof(bi_table_rec, flags) == 24 &&
              offsetof(bi_table_rec, schema_len) == 28 && offsetof(bi_table_rec, sequence) == 32,
          "bi_table_rec fields at 0, 24, 28, 32");
/* A multimap table: each record's key is its key escaped and ended (0x00
 * becomes 0x00 0xff, then 0x00 0x00), followed by one of its values; the
 * record's value is empty (FORMAT.md). */
#define BI_TABLE_MULTIMAP 0x1u

#undef BI_LAYOUT

#endif /* BIRCH_ENGINE_PAGE_H */
