/*
 * err.c - error details (birch_errmsg) and invariant failures.  See err.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "birch.h"
#include "err.h"

#define BI_ERR_MAX 512

/* This thread's last error detail: msg points at buf or at a static
 * string.  The only object of static storage duration that birch writes,
 * and it is per thread (see err.h). */
typedef struct bi_errstate {
    const char *msg;
    char buf[BI_ERR_MAX];
} bi_errstate;

static _Thread_local bi_errstate err_tls;

static void vrecord(const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
    bi_errstate *e = &err_tls;
    size_t n = (size_t)snprintf(e->buf, sizeof e->buf, "%s", prefix);
    if (n < sizeof e->buf) {
        int k = vsnprintf(e->buf + n, sizeof e->buf - n, fmt, ap);
        if (k > 0) n += (size_t)k;
    }
    if (n < sizeof e->buf && suffix) snprintf(e->buf + n, sizeof e->buf - n, "%s", suffix);
    e->msg = e->buf;
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
