/*
 * pagebuf.c - the memory of a write transaction's dirty pages.
 *
 * A large transaction copies tens of thousands of pages into buffers of
 * its own.  From malloc each buffer costs a page fault or two the first
 * time it is touched, and under a hypervisor a fault costs microseconds:
 * in a transaction that deletes half of a million records, the faults took
 * as long as the B+tree work.  So one-page buffers come from a region of
 * address space the handle reserves once (the dirty budget, db->dirty_budget,
 * and a half again, at least 64 MiB, no memory committed), handed out by a bump
 * pointer and a free list, where Linux is asked for huge pages (one fault
 * per 2 MiB) and, as the pointer advances, to fault in the next 2 MiB in
 * one call.  At the end of every write transaction, with every buffer
 * back, the pointer returns to the start and what lies past the first
 * BI_POOL_BYTES is given back to the system: a small transaction finds its
 * buffers resident, a large one leaves no memory behind.
 *
 * Buffers of several pages (overflow runs), buffers past the region's end
 * and every buffer when the region could not be made come from
 * posix_memalign; bi_pagebuf_put tells them apart by address.  Under
 * AddressSanitizer nothing is recycled, so that a use after free of a
 * page's memory stays visible to it and to the fuzzers.  The writer's
 * only: one write transaction at a time uses it.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/mman.h>

#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define BI_PAGEBUF_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BI_PAGEBUF_ON 0
#endif
#endif
#ifndef BI_PAGEBUF_ON
#define BI_PAGEBUF_ON 1
#endif

#define HUGE_BYTES ((size_t)2 << 20) /* a huge page; also the step faulted in at once */
#define MIN_RESERVE ((size_t)64 << 20)

/* Reserves the region (once per handle); on failure the handle goes on
 * with posix_memalign alone. */
static void reserve(birch_db *db)
{
    bi_pagebuf *b = &db->pagebuf;
    b->tried = 1;
    uint64_t budget = db->dirty_budget;
    if (budget > SIZE_MAX / 4) return; /* no region: so much address space is not there to reserve */
    uint64_t want = budget + budget / 2;
    if (want < MIN_RESERVE) want = MIN_RESERVE;
    size_t size = ((size_t)want + HUGE_BYTES - 1) & ~(HUGE_BYTES - 1);
    /* One huge page more, so that the region can start on a huge page's
     * boundary (the kernel maps huge pages only on those). */
    uint8_t *raw = mmap(NULL, size + HUGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                        -1, 0);
    if (raw == MAP_FAILED) return;
    uint8_t *base = (uint8_t *)(((uintptr_t)raw + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1));
    if (base > raw) munmap(raw, (size_t)(base - raw));
    if (base + size < raw + size + HUGE_BYTES) munmap(base + size, (size_t)(raw + size + HUGE_BYTES - (base + size)));
#ifdef MADV_HUGEPAGE
    (void)madvise(base, size, MADV_HUGEPAGE); /* a request: refused or ignored, the region still works */
#endif
    b->base = base;
    b->size = size;
}

/* Faults in the region up to at least end, a step at a time, in one call
 * per step instead of a fault per page (kernels without the call fault
 * page by page, as any memory). */
static void populate(bi_pagebuf *b, size_t end)
{
    while (b->ready < end && b->ready < b->size) {
        size_t step = b->size - b->ready < HUGE_BYTES ? b->size - b->ready : HUGE_BYTES;
#ifdef MADV_POPULATE_WRITE
        (void)madvise(b->base + b->ready, step, MADV_POPULATE_WRITE);
#endif
        b->ready += step;
    }
}

void *bi_pagebuf_get(birch_db *db, uint32_t n)
{
    bi_pagebuf *b = &db->pagebuf;
    if (BI_PAGEBUF_ON && n == 1) {
        if (b->free) {
            void *p = b->free;
            b->free = *(void **)p;
            b->live++;
            return p;
        }
        if (!b->tried) reserve(db);
        if (b->base && b->used + db->psize <= b->size) {
            void *p = b->base + b->used;
            b->used += db->psize;
            populate(b, b->used);
            b->live++;
            return p;
        }
    }
    void *mem = NULL;
    return posix_memalign(&mem, 64, (size_t)n * db->psize) ? NULL : mem;
}

static int in_region(const bi_pagebuf *b, const void *p)
{
    return b->base && (const uint8_t *)p >= b->base && (const uint8_t *)p < b->base + b->size;
}

void bi_pagebuf_put(birch_db *db, void *buf)
{
    bi_pagebuf *b = &db->pagebuf;
    if (!buf) return;
    if (!in_region(b, buf)) {
        free(buf);
        return;
    }
    *(void **)buf = b->free;
    b->free = buf;
    b->live--;
}

void bi_pagebuf_trim(birch_db *db)
{
    bi_pagebuf *b = &db->pagebuf;
    if (!b->base || b->live) return; /* a buffer still out: keep the list as it is */
    size_t keep = BI_POOL_BYTES < b->size ? BI_POOL_BYTES : b->size;
    if (b->ready > keep) {
        /* Given back: the next touch faults in zeroed memory again. */
        (void)madvise(b->base + keep, b->ready - keep, MADV_DONTNEED);
        b->ready = keep;
    }
    b->used = 0;
    b->free = NULL;
}

void bi_pagebuf_close(birch_db *db)
{
    bi_pagebuf *b = &db->pagebuf;
    if (b->base) munmap(b->base, b->size);
    *b = (bi_pagebuf){0};
}
