/*
 * err.h - what a failing call says beyond its code, and the engine's
 * internal invariant checks.
 *
 * Every error birch returns starts at one place that knows why: that place
 * returns through bi_err (or BI_CORRUPT for a damaged file), which records
 * a message for birch_errmsg() on the calling thread and hands the code
 * back.  The rule "no bare error return" is checked by tests/lint_errors.sh,
 * so that a detail is never stale: the message a user reads after a failed
 * call is the one that call recorded.
 *
 * Messages live in thread-local storage, like errno: a database handle is
 * shared by threads, so a per-handle message would be overwritten by
 * another thread's failure before its own thread could read it.
 */
#ifndef BIRCH_ENGINE_ERR_H
#define BIRCH_ENGINE_ERR_H

#include <stdlib.h>

#if defined(__GNUC__) || defined(__clang__)
#define BI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define BI_NORETURN __attribute__((noreturn))
#define BI_COLD __attribute__((cold))
#define BI_HOT_INLINE __attribute__((always_inline)) inline
#else
#define BI_PRINTF(f, a)
#define BI_NORETURN
#define BI_COLD
#define BI_HOT_INLINE inline
#endif

/* Each of these records this thread's error detail and evaluates to rc
 * (a macro, so that the compiler sees which code comes back):
 *   bi_err(rc, fmt, ...)          the formatted message
 *   bi_err_s(rc, msg)             a static message, no formatting: cheap
 *                                 enough for outcomes such as BIRCH_NOTFOUND
 *                                 on a read path
 *   bi_err_os(rc, errnum, fmt, ...)  the message, ": ", strerror(errnum)
 *   BI_CORRUPT(fmt, ...)          "damaged file: <message> [file:line]",
 *                                 evaluates to BIRCH_ECORRUPT */
#define bi_err(rc, ...) (bi_err_record(__VA_ARGS__), (rc))
#define bi_err_s(rc, msg) (bi_err_static(msg), (rc))
#define bi_err_os(rc, errnum, ...) (bi_err_record_os((errnum), __VA_ARGS__), (rc))
#define BI_CORRUPT(...) (bi_corrupt_record(__FILE__, __LINE__, __VA_ARGS__), BIRCH_ECORRUPT)

void bi_err_record(const char *fmt, ...) BI_PRINTF(1, 2) BI_COLD;
void bi_err_static(const char *msg);
void bi_err_record_os(int errnum, const char *fmt, ...) BI_PRINTF(2, 3) BI_COLD;
void bi_corrupt_record(const char *file, int line, const char *fmt, ...) BI_PRINTF(3, 4) BI_COLD;

/* A call that succeeds leaves birch_errmsg() as it was (birch.h), also
 * when it got there through an internal call that failed and that it
 * recovered from: a probe (is the file there? is the table in the
 * catalog?) or a loop that ends at BIRCH_NOTFOUND.  Such a call takes a
 * mark before the probe and ends it after, restoring the message it had
 * when the probe's failure is recovered (restore nonzero), keeping what
 * was recorded since when it is not (the call fails with that error):
 *
 *     bi_errmark m = bi_err_mark();
 *     int rc = bi_catalog_lookup(...);
 *     bi_err_end(m, rc == BIRCH_NOTFOUND);
 *
 * The marked text is kept safe from overwriting until the end (err.c).
 * Every mark is ended exactly once; marks nest (at most two live marks
 * may hold different texts: more is a bug).  Both are a few loads and stores: cheap enough
 * for hot paths such as birch_typed_contains.  A probe on a hot path that
 * can be answered without failing (an empty tree) is better asked that
 * way. */
typedef struct bi_errmark {
    const char *msg;
} bi_errmark;
bi_errmark bi_err_mark(void);
void bi_err_end(bi_errmark m, int restore);

/* Internal invariants: checked in every build without NDEBUG (the test and
 * debug builds), compiled out of Release builds.  A failure prints the
 * condition and where, then aborts: it is a bug in birch, not a bad file
 * (bad files are BIRCH_ECORRUPT). */
void bi_assert_fail(const char *cond, const char *file, int line) BI_NORETURN BI_COLD;
#ifdef NDEBUG
#define BI_ASSERT(c) ((void)0)
#else
#define BI_ASSERT(c) ((c) ? (void)0 : bi_assert_fail(#c, __FILE__, __LINE__))
#endif

#endif /* BIRCH_ENGINE_ERR_H */
