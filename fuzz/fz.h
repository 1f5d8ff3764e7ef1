/*
 * fz.h - shared parts of the birch fuzz harnesses (fuzz/README.md).
 *
 *   fuzz_ops.c   input = a program of transactions and operations, applied
 *                to birch and to a model and compared result by result
 *   fuzz_file.c  input = a database file image, opened and used through
 *                the whole API
 *
 * Both are ordinary C functions (fz_ops_run, fz_file_run) so that the
 * replay program (replay_main.c) and the test suite
 * (tests/test_fuzz_replay.c, tests/test_corrupt.c) can call them without
 * libFuzzer.  A broken invariant prints a message and aborts, which is what
 * libFuzzer (and Check's fork mode) reports as a crash.
 */
#ifndef BIRCH_FUZZ_FZ_H
#define BIRCH_FUZZ_FZ_H

#include <stddef.h>
#include <stdint.h>

#include "birch.h"
#include "io.h"

/* The engine's internal entry point (engine/internal.h). */
int bi_open_io(const char *path, const birch_options *opts, const bi_io *io, birch_db **db);

/* Prints where and why, then aborts. */
#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 3, 4)))
#endif
void fz_fail(const char *file, int line, const char *fmt, ...);
#define FZ_FAIL(...) fz_fail(__FILE__, __LINE__, __VA_ARGS__)
#define FZ_REQUIRE(cond, ...)              \
    do {                                   \
        if (!(cond)) FZ_FAIL(__VA_ARGS__); \
    } while (0)

/* A result code birch.h documents; a BIRCH_ECORRUPT must come with a detail
 * in birch_errmsg() saying which check failed and where. */
int fz_known_rc(int rc);

/* A path for this process's scratch database (in $FZ_TMPDIR, else
 * /dev/shm when it exists, else $TMPDIR or /tmp); the directory is removed
 * at exit.  name must be short. */
const char *fz_path(const char *name);
/* Writes data to path, replacing it. */
void fz_write_file(const char *path, const void *data, size_t n);
void fz_remove(const char *path);

/* ---- I/O faults --------------------------------------------------------- */

/* An io layer over bi_io_posix that fails the Nth writev or sync after it
 * is armed with BIRCH_EIO, without doing it, and every later one too
 * (sticky: a disk that failed stays failed until the database is
 * reopened).  One at a time: it is the process's only fault layer. */
typedef struct fz_faults {
    long fail_write; /* countdown; 0: never */
    long fail_sync;
    long injected;   /* faults injected so far */
    int tripped;     /* a fault fired: every later write and sync fails */
} fz_faults;

/* The io layer (its ctx is f). */
bi_io fz_faults_io(fz_faults *f);
void fz_faults_reset(fz_faults *f);

/* ---- Running the whole API over a file --------------------------------- */

/* Exercises db: check, table list, every table (count, schema, scans both
 * ways, gets and seeks of what the scans found), a write transaction (puts,
 * overwrites, deletes, a drop, a cursor across the changes, commit), check
 * again and the reads again.  Every result is accepted on a damaged file;
 * where birch_check passed, the reads must agree with each other and the
 * write transaction must succeed and leave a file that still passes.
 * seed varies the write transaction.  Returns the result of the last
 * birch_check. */
int fz_exercise(birch_db *db, uint64_t seed);

/* Opens path (already written), runs fz_exercise, closes, reopens and
 * checks again. */
void fz_exercise_path(const char *path, uint64_t seed);

/* ---- The harnesses -------------------------------------------------------- */
int fz_ops_run(const uint8_t *data, size_t size);
int fz_file_run(const uint8_t *data, size_t size);

#endif /* BIRCH_FUZZ_FZ_H */
