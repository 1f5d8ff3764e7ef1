/*
 * fuzz_file.c - libFuzzer harness: the input is a database file image.
 *
 * The image is written to a scratch file, opened read-only and read every
 * way, then opened for writing and put through fz_exercise (check, table
 * list, counts, scans both ways, gets, seeks, a write transaction with
 * puts, overwrites, deletes, a drop and a live cursor, commit, check),
 * closed, reopened and checked.  A damaged image may give any result code;
 * a crash, sanitizer report, leak or hang is a bug, and so is an image that
 * passes birch_check but reads inconsistently or stops passing after a
 * commit (fz_common.c).
 */
#include "fz.h"

int fz_file_run(const uint8_t *data, size_t size)
{
    const char *path = fz_path("file");
    fz_write_file(path, data, size);
    /* Vary the write transaction with the input (cheap hash). */
    uint64_t seed = 1469598103934665603ull;
    for (size_t i = 0; i < size; i += 61) seed = (seed ^ data[i]) * 1099511628211ull;
    fz_exercise_path(path, seed ^ size);
    fz_remove(path);
    return 0;
}

#ifndef FZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_file_run(data, size);
}
#endif
