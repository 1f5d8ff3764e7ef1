/*
 * io_mem.c - the in-memory io layer (engine/io.h): the same engine over
 * anonymous memory, for BIRCH_BACKEND_MEMORY.  Nothing touches the disk.
 *
 * Each open gets a "file" of its own: one region of address space reserved
 * at open with PROT_NONE (which costs no memory and no commit charge),
 * whose pages become readable and writable as the logical size grows.  The
 * region never moves, so map returns its base for any length and every
 * pointer the engine hands out stays valid until close, as the file
 * backend's kept-old-maps promise.  The engine reads pages through the map
 * and writes them with writev: both touch the same memory, which is what a
 * shared map of a file gives the file backend.
 *
 * Invariant: every byte between the logical size and the end of the
 * accessible part is zero, so growing (resize, or a write past the end)
 * reads as zeros, like a file extended by ftruncate.
 *
 * The file cannot outgrow the reservation: growth past it is BIRCH_EFULL,
 * and so is a failure to make more of it accessible (no memory left under
 * strict overcommit).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE, MADV_DONTNEED */
#endif

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "birch.h"
#include "err.h"
#include "io.h"

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

/* The smallest reservation open settles for when the address space is too
 * tight for the one asked. */
#define MEM_MIN_RESERVE ((uint64_t)64 << 20)

struct bi_file {
    uint8_t *base;
    uint64_t reserve;   /* bytes of address space at base */
    size_t pagesz;      /* the system's page size */
    /* Guards the fields below and the copies in read and writev, so that a
     * read never meets a write half done. */
    pthread_mutex_t lock;
    uint64_t size;      /* the logical file size */
    uint64_t open_len;  /* [base, base + open_len) is readable and writable */
};

static uint64_t round_up(uint64_t n, uint64_t to)
{
    return (n + to - 1) / to * to;
}

static int bad_args(void)
{
    return bi_err(BIRCH_EINVAL, "memory backend: invalid arguments");
}

static int too_big(uint64_t end, uint64_t reserve)
{
    return bi_err(BIRCH_EFULL, "memory backend: %llu bytes do not fit the %llu bytes of address space reserved",
                  (unsigned long long)end, (unsigned long long)reserve);
}

/* Makes [0, end) accessible; end <= f->reserve.  Caller holds f->lock. */
static int make_accessible(bi_file *f, uint64_t end)
{
    if (end <= f->open_len)
        return BIRCH_OK;
    uint64_t want = round_up(end, f->pagesz);
    if (want > f->reserve)
        want = f->reserve;
    if (mprotect(f->base + f->open_len, (size_t)(want - f->open_len), PROT_READ | PROT_WRITE) != 0)
        return bi_err_os(BIRCH_EFULL, errno, "memory backend: no memory for %llu bytes", /* strict overcommit */
                         (unsigned long long)want);
    f->open_len = want;
    return BIRCH_OK;
}

/* Zeroes [from, to) and gives whole pages back to the system.  Caller
 * holds f->lock; to <= f->open_len. */
static void discard(bi_file *f, uint64_t from, uint64_t to)
{
    if (from >= to)
        return;
    uint64_t page_from = round_up(from, f->pagesz);
    if (page_from > to)
        page_from = to;
    memset(f->base + from, 0, (size_t)(page_from - from)); /* partial page */
    uint64_t page_to = to / f->pagesz * f->pagesz;
    if (page_to > page_from) {
        /* Private anonymous memory reads as zeros after MADV_DONTNEED;
         * zero by hand should the advice be refused. */
        if (madvise(f->base + page_from, (size_t)(page_to - page_from), MADV_DONTNEED) != 0)
            memset(f->base + page_from, 0, (size_t)(page_to - page_from));
    }
    if (to > page_to && page_to >= page_from)
        memset(f->base + page_to, 0, (size_t)(to - page_to));
}

static int mem_open(void *ctx, const char *path, unsigned flags, bi_file **out)
{
    (void)path; /* only a name: every open starts from an empty file */
    if (out == NULL)
        return bad_args();
    *out = NULL;
    if (flags & BI_IO_RDONLY) /* read-only never creates, and nothing exists */
        return bi_err(BIRCH_NOTFOUND, "memory backend: a read-only open finds no database");

    uint64_t reserve = BI_IO_MEM_DEFAULT_RESERVE;
    if (ctx != NULL && *(const uint64_t *)ctx > reserve)
        reserve = *(const uint64_t *)ctx;
    long ps = sysconf(_SC_PAGESIZE);
    size_t pagesz = ps > 0 ? (size_t)ps : 4096;
    if (reserve > (uint64_t)SIZE_MAX / 2)
        reserve = (uint64_t)SIZE_MAX / 2; /* 32-bit address spaces */
    reserve = reserve / pagesz * pagesz;

    bi_file *f = calloc(1, sizeof *f);
    if (f == NULL)
        return bi_err(BIRCH_ENOMEM, "memory backend: out of memory");
    /* PROT_NONE reserves address space only; halve the request while the
     * address space (or RLIMIT_AS) is too tight for it. */
    void *p = MAP_FAILED;
    for (;;) {
        p = mmap(NULL, (size_t)reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED || reserve / 2 < MEM_MIN_RESERVE)
            break;
        reserve = reserve / 2 / pagesz * pagesz;
    }
    if (p == MAP_FAILED) {
        free(f);
        return bi_err_os(BIRCH_ENOMEM, errno, "memory backend: cannot reserve address space");
    }
    if (pthread_mutex_init(&f->lock, NULL) != 0) {
        munmap(p, (size_t)reserve);
        free(f);
        return bi_err(BIRCH_ENOMEM, "memory backend: cannot create a mutex");
    }
    f->base = p;
    f->reserve = reserve;
    f->pagesz = pagesz;
    *out = f;
    return BIRCH_OK;
}

static void mem_close(bi_file *f)
{
    if (f == NULL)
        return;
    (void)munmap(f->base, (size_t)f->reserve);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static int mem_lock(bi_file *f, int exclusive)
{
    (void)exclusive; /* each open has a private region: nobody to conflict with */
    return f == NULL ? bad_args() : BIRCH_OK;
}

static int mem_read(bi_file *f, void *buf, size_t len, uint64_t off)
{
    if (f == NULL || (buf == NULL && len > 0))
        return bad_args();
    pthread_mutex_lock(&f->lock);
    int rc = BIRCH_OK;
    if (off > f->size || len > f->size - off)
        rc = bi_err(BIRCH_EIO, "memory backend: a read past the end of the file"); /* as io.h specifies */
    else if (len > 0)
        memcpy(buf, f->base + off, len);
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int mem_writev(bi_file *f, const struct iovec *iov, int cnt, uint64_t off)
{
    if (f == NULL || cnt < 0 || (iov == NULL && cnt > 0))
        return bad_args();
    uint64_t total = 0;
    for (int i = 0; i < cnt; i++) {
        if (iov[i].iov_base == NULL && iov[i].iov_len > 0)
            return bad_args();
        total += iov[i].iov_len;
        if (total < iov[i].iov_len)
            return bad_args(); /* wrapped around */
    }
    pthread_mutex_lock(&f->lock);
    int rc = BIRCH_OK;
    if (off > f->reserve || total > f->reserve - off)
        rc = too_big(off + total, f->reserve);
    else
        rc = make_accessible(f, off + total);
    if (rc == BIRCH_OK) {
        uint8_t *p = f->base + off;
        for (int i = 0; i < cnt; i++) {
            if (iov[i].iov_len > 0)
                memcpy(p, iov[i].iov_base, iov[i].iov_len);
            p += iov[i].iov_len;
        }
        if (off + total > f->size)
            f->size = off + total; /* a write past the end extends the file */
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int mem_sync(bi_file *f)
{
    /* Nothing outlives the process, so there is nothing to make durable:
     * a completed write is as durable as it will ever be. */
    return f == NULL ? bad_args() : BIRCH_OK;
}

static int mem_size(bi_file *f, uint64_t *size)
{
    if (f == NULL || size == NULL)
        return bad_args();
    pthread_mutex_lock(&f->lock);
    *size = f->size;
    pthread_mutex_unlock(&f->lock);
    return BIRCH_OK;
}

static int mem_resize(bi_file *f, uint64_t size)
{
    if (f == NULL)
        return bad_args();
    pthread_mutex_lock(&f->lock);
    int rc = BIRCH_OK;
    if (size > f->reserve)
        rc = too_big(size, f->reserve);
    else if (size > f->size)
        rc = make_accessible(f, size); /* bytes past the old size are zero already */
    else
        discard(f, size, f->size);
    if (rc == BIRCH_OK)
        f->size = size;
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int mem_map(bi_file *f, uint64_t len, void **addr)
{
    if (f == NULL || addr == NULL || len == 0)
        return bad_args();
    /* The region never moves: the same base for any length.  Bytes past
     * the file size are not to be touched (io.h), and those past the
     * reservation never will be, since the file cannot grow there. */
    *addr = f->base;
    return BIRCH_OK;
}

static void mem_unmap(bi_file *f, void *addr, uint64_t len)
{
    /* The region is released by close, once for all the maps. */
    (void)f;
    (void)addr;
    (void)len;
}

/* Nothing to drop: the region is the file itself, not a view of it, so it
 * is resident for as long as the file holds the bytes (MADV_DONTNEED on
 * this private anonymous memory would zero the file, not shrink a cache of
 * it). */
static void mem_drop_resident(bi_file *f, void *addr, uint64_t len)
{
    (void)f;
    (void)addr;
    (void)len;
}

/* Creating: the engine initialises a memory file in place (no other open
 * can see it), so these only keep the table whole: a temporary file is one
 * more private region, and naming and syncing directories do nothing. */
static int mem_create_temp(void *ctx, const char *path, bi_file **out)
{
    return mem_open(ctx, path, BI_IO_CREATE, out);
}

static int mem_publish(bi_file *f, const char *path, int replace)
{
    (void)path;
    (void)replace;
    return f == NULL ? bad_args() : BIRCH_OK;
}

static int mem_sync_dir(bi_file *f)
{
    return f == NULL ? bad_args() : BIRCH_OK;
}

static int mem_at_path(bi_file *f, const char *path)
{
    (void)path; /* only a name: the file is this open's own */
    return f == NULL ? bad_args() : BIRCH_OK;
}

const bi_io_ops bi_io_mem = {
    .open = mem_open,
    .close = mem_close,
    .lock = mem_lock,
    .read = mem_read,
    .writev = mem_writev,
    .sync = mem_sync,
    .size = mem_size,
    .resize = mem_resize,
    .map = mem_map,
    .unmap = mem_unmap,
    .drop_resident = mem_drop_resident,
    .create_temp = mem_create_temp,
    .publish = mem_publish,
    .sync_dir = mem_sync_dir,
    .at_path = mem_at_path,
};
