/*
 * io_posix.c - the default io layer (engine/io.h) over POSIX file calls.
 *
 * Every function maps errno to a BIRCH_E* code at the point where the
 * system call fails, so the engine above never sees errno.  Interrupted
 * calls (EINTR) are retried, and short reads and writes are continued,
 * because the engine treats every io operation as all-or-nothing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pwritev, flock, fdatasync, posix_fallocate, EDQUOT */
#endif
#ifndef _FILE_OFFSET_BITS
#define _FILE_OFFSET_BITS 64 /* 64-bit off_t on 32-bit systems too */
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "birch.h"
#include "err.h"
#include "io.h"

/* The largest byte count passed to one pread/pwrite: stays far below
 * SSIZE_MAX (where the result would be implementation-defined) and below
 * Linux's own 2 GiB - 4 KiB cap, so each call makes progress. */
#define IO_CHUNK ((size_t)1 << 30)

/* How many iovecs one pwritev may take; POSIX guarantees IOV_MAX exists,
 * but fall back to its minimum (_XOPEN_IOV_MAX = 16) if a libc hides it. */
#ifdef IOV_MAX
#define IO_IOV_MAX IOV_MAX
#else
#define IO_IOV_MAX 16
#endif

/* The largest file offset off_t can hold.  Offsets are uint64_t in io.h,
 * so a narrower off_t would silently wrap them. */
_Static_assert(sizeof(off_t) == 8, "birch needs a 64-bit off_t");
#define IO_OFF_MAX ((uint64_t)INT64_MAX)

struct bi_file {
    int fd;
};

/* errno after a failed write or space reservation: a full disk, file size
 * limit or quota is BIRCH_EFULL so the caller can tell "no room" from a
 * failing device; everything else is BIRCH_EIO.  what names the call. */
static int full_or_eio(int e, const char *what)
{
    switch (e) {
    case ENOSPC:
    case EFBIG:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return bi_err_os(BIRCH_EFULL, e, "%s: no room for the file", what);
    default:
        return bi_err_os(BIRCH_EIO, e, "%s", what);
    }
}

static int bad_args(const char *what)
{
    return bi_err(BIRCH_EINVAL, "io: %s: invalid arguments", what);
}

/* What a file that is not a regular file is, for messages. */
static const char *kind_of(mode_t m)
{
    return S_ISDIR(m)                    ? "a directory"
           : S_ISFIFO(m)                 ? "a FIFO"
           : S_ISSOCK(m)                 ? "a socket"
           : S_ISCHR(m) || S_ISBLK(m)    ? "a device"
                                         : "not a regular file";
}

int bi_io_posix_open_error(int e, const char *path, int create)
{
    struct stat st;
    switch (e) {
    case ENOMEM: return bi_err_os(BIRCH_ENOMEM, e, "cannot open '%s'", path);
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return bi_err_os(BIRCH_EFULL, e, "cannot create '%s'", path);
    case ENOENT:
        return bi_err_os(BIRCH_NOTFOUND, e, create ? "cannot create '%s' (does its directory exist?)" : "cannot open '%s'",
                         path);
    case ENOTDIR: return bi_err_os(BIRCH_NOTFOUND, e, "cannot open '%s' (a part of the path is not a directory)", path);
    case EACCES:
    case EPERM:
        return bi_err_os(BIRCH_EACCES, e, create ? "cannot open or create '%s' (the permissions of the file or its "
                                                   "directory)" : "cannot open '%s' (the file's permissions)", path);
    case EROFS: return bi_err_os(BIRCH_EREADONLY, e, "cannot open '%s' for writing (open it read-only)", path);
    case EISDIR: return bi_err_os(BIRCH_ENOTDB, e, "cannot open '%s'", path);
    case ENXIO: /* a socket, or a device with nothing behind it */
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
            return bi_err_os(BIRCH_ENOTDB, e, "'%s' is %s, not a birch database file", path, kind_of(st.st_mode));
        return bi_err_os(BIRCH_EIO, e, "cannot open '%s'", path);
    case ENAMETOOLONG:
    case ELOOP: return bi_err_os(BIRCH_EINVAL, e, "cannot open '%s'", path);
    default: return bi_err_os(BIRCH_EIO, e, "cannot open '%s'", path);
    }
}

/* A database is a regular file: a directory, FIFO, socket or device is
 * refused with BIRCH_ENOTDB (the FIFO was opened without blocking). */
static int check_regular(int fd, const char *path)
{
    struct stat st;
    if (fstat(fd, &st) < 0) return bi_err_os(BIRCH_EIO, errno, "cannot stat '%s'", path);
    if (S_ISREG(st.st_mode)) return BIRCH_OK;
    return bi_err(BIRCH_ENOTDB, "'%s' is %s, not a birch database file", path, kind_of(st.st_mode));
}

/* True when [off, off + len) is addressable with off_t. */
static int range_ok(uint64_t off, uint64_t len)
{
    return off <= IO_OFF_MAX && len <= IO_OFF_MAX - off;
}

static int posix_open(void *ctx, const char *path, unsigned flags, bi_file **out)
{
    (void)ctx; /* bi_io_posix needs no context */
    if (path == NULL || out == NULL)
        return bad_args("open");
    *out = NULL;

    /* O_CLOEXEC: a child started by the application must not inherit the
     * descriptor, which would also keep the flock() lock alive in it.
     * O_NONBLOCK: opening a FIFO must not wait for a writer; it is cleared
     * once the file is known to be a regular file. */
    int oflags = O_CLOEXEC | O_NONBLOCK;
    if (flags & BI_IO_RDONLY)
        oflags |= O_RDONLY; /* read-only never creates */
    else
        oflags |= O_RDWR | ((flags & BI_IO_CREATE) ? O_CREAT : 0);

    bi_file *f = malloc(sizeof *f);
    if (f == NULL)
        return bi_err(BIRCH_ENOMEM, "out of memory opening '%s'", path);

    int fd;
    do {
        fd = open(path, oflags, 0644);
    } while (fd < 0 && errno == EINTR); /* possible on slow devices/FIFOs */
    if (fd < 0) {
        int e = errno;
        free(f);
        return bi_io_posix_open_error(e, path, (flags & BI_IO_CREATE) != 0);
    }
    int rc = check_regular(fd, path);
    if (rc == BIRCH_OK && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
        rc = bi_err_os(BIRCH_EIO, errno, "cannot open '%s'", path);
    if (rc) {
        (void)close(fd);
        free(f);
        return rc;
    }
    f->fd = fd;
    *out = f;
    return BIRCH_OK;
}

static void posix_close(bi_file *f)
{
    if (f == NULL)
        return;
    /* No retry on EINTR: Linux releases the descriptor even then, and a
     * retry could close a descriptor another thread just opened.  Errors of
     * earlier writes have already been reported by sync. */
    (void)close(f->fd);
    free(f);
}

static int posix_lock(bi_file *f, int exclusive)
{
    if (f == NULL)
        return bad_args("lock");
    /* flock() locks belong to the open file description, so a second open
     * of the same file in this process conflicts too, as birch.h promises
     * (fcntl locks would not: they are per process).  LOCK_NB: birch_open
     * reports BIRCH_EBUSY instead of waiting. */
    int op = (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
    int r;
    do {
        r = flock(f->fd, op);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return BIRCH_OK;
    if (errno == EWOULDBLOCK || errno == EAGAIN)
        return bi_err(BIRCH_EBUSY, "the database file is locked by another handle (in this or another process)");
    if (errno == ENOLCK) return bi_err_os(BIRCH_ENOMEM, errno, "cannot lock the database file");
    return bi_err_os(BIRCH_EIO, errno, "cannot lock the database file");
}

static int posix_read(bi_file *f, void *buf, size_t len, uint64_t off)
{
    if (f == NULL || (buf == NULL && len > 0) || !range_ok(off, len))
        return bad_args("read");
    char *p = buf;
    while (len > 0) {
        size_t want = len < IO_CHUNK ? len : IO_CHUNK;
        ssize_t n = pread(f->fd, p, want, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return bi_err_os(BIRCH_EIO, errno, "reading %zu bytes at offset %llu", want, (unsigned long long)off);
        }
        if (n == 0) /* end of file: the engine asked for a page that is not there (io.h: read past EOF) */
            return bi_err(BIRCH_EIO, "reading at offset %llu: past the end of the file", (unsigned long long)off);
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return BIRCH_OK;
}

/* Writes one buffer completely with pwrite; used for the unwritten tail of
 * an iovec that a pwritev wrote only partly. */
static int write_all(int fd, const char *p, size_t len, uint64_t off)
{
    while (len > 0) {
        size_t want = len < IO_CHUNK ? len : IO_CHUNK;
        ssize_t n = pwrite(fd, p, want, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return full_or_eio(errno, "writing the database file");
        }
        if (n == 0) /* no progress and no error: don't spin */
            return bi_err(BIRCH_EIO, "writing the database file: no progress");
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return BIRCH_OK;
}

static int posix_writev(bi_file *f, const struct iovec *iov, int cnt, uint64_t off)
{
    if (f == NULL || cnt < 0 || (iov == NULL && cnt > 0))
        return bad_args("writev");
    uint64_t total = 0;
    for (int i = 0; i < cnt; i++) {
        if (iov[i].iov_base == NULL && iov[i].iov_len > 0)
            return bad_args("writev");
        total += iov[i].iov_len;
        if (total < iov[i].iov_len) /* wrapped around */
            return bad_args("writev");
    }
    if (!range_ok(off, total))
        return bad_args("writev");

    /* The caller's array is const, so a partly written iovec is never
     * adjusted in place: its tail is finished with write_all, and whole
     * iovecs go to pwritev straight from the caller's array, at most
     * IO_IOV_MAX at a time (more is EINVAL). */
    int i = 0;
    while (i < cnt) {
        int n = cnt - i < IO_IOV_MAX ? cnt - i : IO_IOV_MAX;
        ssize_t w = pwritev(f->fd, iov + i, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return full_or_eio(errno, "writing the database file");
        }
        uint64_t want = 0;
        for (int k = 0; k < n; k++)
            want += iov[i + k].iov_len;
        if (w == 0 && want > 0) /* no progress and no error: don't spin */
            return bi_err(BIRCH_EIO, "writing the database file: no progress");
        off += (uint64_t)w;

        /* Skip the iovecs written whole; finish the one written in part. */
        size_t done = (size_t)w;
        while (i < cnt && done >= iov[i].iov_len && (done > 0 || iov[i].iov_len == 0)) {
            done -= iov[i].iov_len;
            i++;
        }
        if (done > 0) {
            const char *base = iov[i].iov_base;
            size_t rest = iov[i].iov_len - done;
            int rc = write_all(f->fd, base + done, rest, off);
            if (rc != BIRCH_OK)
                return rc;
            off += rest;
            i++;
        }
    }
    return BIRCH_OK;
}

static int posix_sync(bi_file *f)
{
    if (f == NULL)
        return bad_args("sync");
    /* fdatasync, not fsync: the file's data and its size reach the disk,
     * but not timestamps, which birch never reads.  No retry on failure: after
     * a failed fsync Linux may have dropped the dirty pages, so the only safe
     * answer is an error (the engine then refuses writes until reopened). */
    int r;
    do {
        r = fdatasync(f->fd);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return BIRCH_OK;
    return bi_err_os(BIRCH_EIO, errno, "syncing the database file (fdatasync)");
}

static int posix_size(bi_file *f, uint64_t *size)
{
    if (f == NULL || size == NULL)
        return bad_args("size");
    struct stat st;
    if (fstat(f->fd, &st) < 0)
        return bi_err_os(BIRCH_EIO, errno, "reading the database file's size");
    *size = (uint64_t)st.st_size;
    return BIRCH_OK;
}

/* Sets the size with ftruncate; used to shrink, and to grow where the file
 * system cannot reserve space. */
static int truncate_to(int fd, uint64_t size)
{
    int r;
    do {
        r = ftruncate(fd, (off_t)size);
    } while (r < 0 && errno == EINTR);
    return r == 0 ? BIRCH_OK : full_or_eio(errno, "setting the database file's size");
}

static int posix_resize(bi_file *f, uint64_t size)
{
    if (f == NULL || size > IO_OFF_MAX)
        return bad_args("resize");
    uint64_t cur;
    int rc = posix_size(f, &cur);
    if (rc != BIRCH_OK)
        return rc;
    if (size == cur)
        return BIRCH_OK;
    if (size < cur)
        return truncate_to(f->fd, size);

    /* Growing: reserve the blocks now, so that a full disk shows up here as
     * BIRCH_EFULL and not as a failed write in the middle of a commit.
     * posix_fallocate returns the error number instead of setting errno. */
    int e;
    do {
        e = posix_fallocate(f->fd, (off_t)cur, (off_t)(size - cur));
    } while (e == EINTR);
    if (e == 0)
        return BIRCH_OK;
    if (e == EOPNOTSUPP || e == EINVAL)
        return truncate_to(f->fd, size); /* e.g. tmpfs quirks, some NFS */
    return full_or_eio(e, "growing the database file");
}

static int posix_map(bi_file *f, uint64_t len, void **addr)
{
    if (f == NULL || addr == NULL || len == 0)
        return bad_args("map");
    *addr = NULL;
    if (len > SIZE_MAX) /* cannot reserve that much address space */
        return bi_err(BIRCH_ENOMEM, "cannot map %llu bytes: more than the address space", (unsigned long long)len);
    /* Read-only and shared: readers see completed pwrite()s through the map
     * (one page cache), and a stray store through a value pointer faults
     * instead of corrupting the file. */
    void *p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, f->fd, 0);
    if (p == MAP_FAILED)
        return bi_err_os(BIRCH_ENOMEM, errno, "cannot map %llu bytes of the database file", (unsigned long long)len);
    *addr = p;
    return BIRCH_OK;
}

static void posix_unmap(bi_file *f, void *addr, uint64_t len)
{
    (void)f;
    if (addr == NULL || len == 0 || len > SIZE_MAX)
        return;
    (void)munmap(addr, (size_t)len); /* fails only on bad arguments */
}

const bi_io_ops bi_io_posix = {
    .open = posix_open,
    .close = posix_close,
    .lock = posix_lock,
    .read = posix_read,
    .writev = posix_writev,
    .sync = posix_sync,
    .size = posix_size,
    .resize = posix_resize,
    .map = posix_map,
    .unmap = posix_unmap,
};
