/*
 * share.h - the lock file's layout: what the processes that have one
 * database file open share (docs/FORMAT.md 11, docs/DESIGN.md 12).
 *
 * The lock file (the database's path + "-lock") holds no data: only a
 * header, a table of owners (one per open handle, in any process) and a
 * table of reader slots.  Every field that changes while it is shared is
 * a C11 atomic: lock-free 64-bit atomics work across processes through a
 * shared map.  The file is rebuilt by the first open when no other handle
 * has the database open, so nothing in it outlives the processes using it.
 *
 * A private handle (the memory backend, an io layer without open_lock, a
 * read-only open that cannot write the lock file) keeps the same layout in
 * its own memory, so that the reader path is one code path.
 */
#ifndef BIRCH_ENGINE_SHARE_H
#define BIRCH_ENGINE_SHARE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "page.h"

#define BI_LK_MAGIC "birchLK\0"
#define BI_LK_VERSION 2u /* 2: the published meta grew with format 3 */
#define BI_LK_HDR 4096u

/* Byte locks (io.h byte_lock).  Their offsets are the one thing every
 * version of the lock file keeps (FORMAT.md): a later birch must find an
 * earlier one's opens through them.  All lie far past any real data. */
#define BI_LK_INIT_BYTE ((uint64_t)1 << 40)               /* lock file: write = initialising it */
#define BI_LK_OWNER_BYTE(i) (BI_LK_INIT_BYTE + 1 + (i))    /* lock file: held by owner i's handle */
#define BI_DATA_OPEN_BYTE ((uint64_t)1 << 62)             /* data file: read = open, write = alone */
#define BI_DATA_ATTACHED_BYTE (BI_DATA_OPEN_BYTE + 1)     /* data file: read = attached to a lock file */
#define BI_DATA_LOCKLESS_BYTE (BI_DATA_OPEN_BYTE + 2)     /* data file: read = reading without a lock file */

/* The published snapshot: a meta, copied by readers (readers.c). */
#define BI_META_WORDS (sizeof(bi_meta) / 8)
typedef struct bi_lkpub {
    _Atomic uint64_t seq;               /* odd while a writer rewrites w */
    _Atomic uint64_t w[BI_META_WORDS];
} bi_lkpub;

typedef struct bi_lkhdr {
    char magic[8];
    uint32_t version;
    uint32_t nslots;       /* owners and reader slots */
    uint32_t page_size;    /* the database's */
    uint32_t hdr_bytes;    /* BI_LK_HDR */
    uint64_t dev, ino;     /* the database file this lock file serves */
    /* 1 once the handle that built it has recovered the database and
     * published its state (bi_share_ready): a lock file whose builder died
     * or failed before that is rebuilt, never joined. */
    _Atomic uint64_t ready;
    /* Who holds the writer lock: its thread and process (bi_holder_id), so
     * that the holder's thread is told, not left waiting for itself, when it
     * asks through another handle.  0 when free. */
    _Atomic uint64_t writer_holder;
    uint64_t reserved1;
    /* The writer lock (share.c): owner token of the holder, 0 when free;
     * seq is the futex word waiters sleep on, bumped at every release. */
    _Alignas(64) _Atomic uint64_t writer;
    _Atomic uint32_t writer_seq;
    _Atomic uint32_t writer_waiters;
    /* Checkpoint accounting of BIRCH_DURABLE_NONE commits (txn.c), written
     * by the writer: when the last durable meta was written (monotonic
     * clock, which all processes share), pages freed since. */
    _Atomic uint64_t durable_ms;
    _Atomic uint64_t weak_freed;
    /* Checksums of metas the opening recovery found unsound (their pages
     * fail verification): a writer never adopts them. */
    _Atomic uint64_t rejected[2];
    /* A read-only first open recovered a state that needs a checkpoint
     * before any commit builds on it (db.c): the next writer makes it. */
    _Atomic uint32_t need_checkpoint;
    _Atomic uint32_t used;  /* 1 + the highest reader slot ever claimed */
    /* The published snapshot, double-buffered: pub[idx & 1] is whole (a
     * writer killed while rewriting the other leaves it whole). */
    _Alignas(64) _Atomic uint64_t pub_idx;
    _Alignas(64) bi_lkpub pub[2];
} bi_lkhdr;

/* An owner: one open handle.  gen moves on at every claim, so that an
 * owner token names one handle's lifetime only. */
typedef struct bi_lkowner {
    _Atomic uint64_t gen;
    _Atomic int64_t pid;
    _Atomic uint64_t since_ms;  /* when it was claimed (monotonic) */
    _Atomic uint64_t pidns;     /* its pid namespace (the inode of /proc/self/ns/pid), 0 if unknown */
    uint64_t reserved[4];
} bi_lkowner;

/* A reader slot, one cache line: readers of different threads and
 * processes never write the same line. */
typedef struct bi_lkslot {
    _Atomic uint64_t txnid;     /* the snapshot pinned, BI_FREE_SLOT when none */
    _Atomic uint64_t gen;       /* odd while pinned, bumped at pin and unpin */
    _Atomic uint64_t owner;     /* owner token of the handle that holds it, 0: none */
    _Atomic uint64_t pin_ms;    /* when the pin was taken (coarse monotonic clock) */
    uint64_t reserved[4];
} bi_lkslot;

#define BI_FREE_SLOT UINT64_MAX
#define BI_SLOT_CLEARING UINT64_MAX /* owner value while --clear-stale empties a slot */

/* An owner token: generation and index (index + 1, so that 0 is none). */
#define BI_TOKEN(gen, i) (((uint64_t)(gen) << 24) | ((uint64_t)(i) + 1))
#define BI_TOKEN_INDEX(t) ((uint32_t)(((t) & 0xffffffu) - 1))
#define BI_TOKEN_GEN(t) ((t) >> 24)

_Static_assert(sizeof(bi_lkhdr) <= BI_LK_HDR, "the lock file header fits its page");
/* The layout FORMAT.md section 20 gives. */
_Static_assert(offsetof(bi_lkhdr, version) == 8 && offsetof(bi_lkhdr, nslots) == 12 &&
                   offsetof(bi_lkhdr, dev) == 24 && offsetof(bi_lkhdr, ino) == 32 &&
                   offsetof(bi_lkhdr, ready) == 40 && offsetof(bi_lkhdr, writer_holder) == 48 &&
                   offsetof(bi_lkhdr, writer) == 64 && offsetof(bi_lkhdr, writer_seq) == 72 &&
                   offsetof(bi_lkhdr, durable_ms) == 80 && offsetof(bi_lkhdr, rejected) == 96 &&
                   offsetof(bi_lkhdr, need_checkpoint) == 112 && offsetof(bi_lkhdr, used) == 116 &&
                   offsetof(bi_lkhdr, pub_idx) == 128 && offsetof(bi_lkhdr, pub) == 192 &&
                   sizeof(bi_lkpub) == 152,
               "the lock file header's layout");
_Static_assert(sizeof(bi_lkowner) == 64 && sizeof(bi_lkslot) == 64, "owners and slots are cache lines");
_Static_assert(sizeof(bi_meta) % 8 == 0, "a meta is whole words");

/* Bytes of a lock file with n slots: header, owners, slots, whole pages. */
static inline uint64_t bi_lk_size(uint32_t n)
{
    uint64_t b = BI_LK_HDR + 2 * (uint64_t)n * 64;
    return (b + 4095) & ~(uint64_t)4095;
}

#endif /* BIRCH_ENGINE_SHARE_H */
