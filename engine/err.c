/*
 * err.c - error details (birch_errmsg) and invariant failures.  See err.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "birch.h"
#include "err.h"

#define BI_ERR_MAX 512
#define BI_ERR_BUFS 4

/* This thread's last error detail: msg points at one of the buffers or at
 * a static string.  The only object of static storage duration that birch
 * writes, and it is per thread (see err.h).
 *
 * Several buffers, so that a message is written into a buffer that holds
 * neither the current message (which may be an argument of the new one:
 * bi_mark_failed(..., birch_errmsg())) nor one that a bi_err_mark keeps
 * for its bi_err_end to restore (held counts those marks per buffer).
 * Four: the current message, two nested marks, and the one to write. */
typedef struct bi_errstate {
    const char *msg;
    unsigned char held[BI_ERR_BUFS];
    char buf[BI_ERR_BUFS][BI_ERR_MAX];
} bi_errstate;

static _Thread_local bi_errstate err_tls;

/* The buffer msg points into, or -1 (a static string, or none). */
static int buf_of(const bi_errstate *e, const char *msg)
{
    uintptr_t p = (uintptr_t)msg, b = (uintptr_t)e->buf;
    return p - b < sizeof e->buf ? (int)((p - b) / BI_ERR_MAX) : -1;
}

/* A buffer to write the next message into: not the current message's and
 * not a held one.  Marks nested deeper than the buffers allow give up the
 * oldest held text rather than fail (a bug, not a user's error). */
static char *free_buf(bi_errstate *e)
{
    int cur = buf_of(e, e->msg), spare = cur == 0 ? 1 : 0;
    for (int i = 0; i < BI_ERR_BUFS; i++)
        if (i != cur && !e->held[i]) return e->buf[i];
    BI_ASSERT(!"bi_err_mark nested too deep");
    return e->buf[spare];
}

static void vrecord(const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
    bi_errstate *e = &err_tls;
    char *buf = free_buf(e);
    size_t n = (size_t)snprintf(buf, BI_ERR_MAX, "%s", prefix);
    if (n < BI_ERR_MAX) {
        int k = vsnprintf(buf + n, BI_ERR_MAX - n, fmt, ap);
        if (k > 0) n += (size_t)k;
    }
    if (n < BI_ERR_MAX && suffix) snprintf(buf + n, BI_ERR_MAX - n, "%s", suffix);
    e->msg = buf;
}

bi_errmark bi_err_mark(void)
{
    bi_errstate *e = &err_tls;
    int i = buf_of(e, e->msg);
    if (i >= 0) e->held[i]++;
    return (bi_errmark){e->msg};
}

void bi_err_end(bi_errmark m, int restore)
{
    bi_errstate *e = &err_tls;
    int i = buf_of(e, m.msg);
    if (i >= 0) {
        BI_ASSERT(e->held[i] > 0);
        e->held[i]--;
    }
    if (restore) e->msg = m.msg;
}

void bi_err_record(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vrecord("", fmt, ap, NULL);
    va_end(ap);
}

void bi_err_static(const char *msg)
{
    err_tls.msg = msg;
}

void bi_err_record_os(int errnum, const char *fmt, ...)
{
    char text[128], reason[140];
    /* strerror is not thread-safe; the XSI strerror_r is (glibc declares
     * it when _GNU_SOURCE is not defined, as in this file). */
    if (strerror_r(errnum, text, sizeof text)) snprintf(text, sizeof text, "error %d", errnum);
    snprintf(reason, sizeof reason, ": %s", text);
    va_list ap;
    va_start(ap, fmt);
    vrecord("", fmt, ap, reason);
    va_end(ap);
}

/* "engine/btree.c" out of whatever path the compiler was given. */
static const char *short_path(const char *file)
{
    const char *last = strrchr(file, '/');
    if (!last) return file;
    const char *p = last;
    while (p > file && p[-1] != '/') p--;
    return p > file ? p : file;
}

void bi_corrupt_record(const char *file, int line, const char *fmt, ...)
{
    char where[96];
    snprintf(where, sizeof where, " [%s:%d]", short_path(file), line);
    va_list ap;
    va_start(ap, fmt);
    vrecord("damaged file: ", fmt, ap, where);
    va_end(ap);
}

void bi_assert_fail(const char *cond, const char *file, int line)
{
    fprintf(stderr, "birch: internal invariant failed: %s [%s:%d]\n", cond, short_path(file), line);
    abort();
}

const char *birch_errmsg(void)
{
    return err_tls.msg ? err_tls.msg : "no error recorded on this thread";
}
