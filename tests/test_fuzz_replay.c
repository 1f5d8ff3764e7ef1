/*
 * test_fuzz_replay.c - the fuzz harnesses (fuzz/) in the test suite.
 *
 * Replays every input of fuzz/corpus/ops, file, archive and flatbuffers (the seeds
 * and the regression inputs the fuzzers found) through the harness
 * functions, so that the plain and ASan builds re-run them; then runs
 * fuzz_ops over a few hundred random programs.  The harnesses abort on a
 * broken invariant (fuzz/fz_common.c), which fails the test.
 *
 * BIRCH_FUZZ_CORPUS overrides the corpus directory (default: the one
 * next to this file's directory); BIRCH_SEED varies the random programs.
 */
#define FZ_NO_ENTRY
#include "../fuzz/fz_common.c"
#include "../fuzz/fuzz_ops.c"
#include "../fuzz/fuzz_file.c"
#include "../fuzz/fuzz_archive.c"
#include "../fuzz/fuzz_flatbuffers.c"
#include "../fuzz/fuzz_keys.c"
#include "../fuzz/fuzz_batch.c"

#include "support.h"

#include <dirent.h>
#include <inttypes.h>
#include <libgen.h>

/* Scratch files go to $FZ_TMPDIR, /dev/shm (fast syncs), $TMPDIR or /tmp
 * (fz_path); the directory is removed at exit. */
static void scratch_dir(void) {}

static const char *corpus_root(void)
{
    static char buf[4096];
    const char *env = getenv("BIRCH_FUZZ_CORPUS");
    if (env && *env) return env;
    char src[4096];
    snprintf(src, sizeof src, "%s", __FILE__);
    snprintf(buf, sizeof buf, "%s/../fuzz/corpus", dirname(src));
    return buf;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs fn over every file of corpus/<sub>; returns how many. */
static int replay_dir(const char *sub, int (*fn)(const uint8_t *, size_t))
{
    char dir[4352];
    snprintf(dir, sizeof dir, "%s/%s", corpus_root(), sub);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "no corpus directory %s", dir);
    char *names[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 4096) {
        if (e->d_name[0] == '.') continue;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    for (int i = 0; i < n; i++) {
        char path[8704];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        ck_assert_msg(f != NULL, "cannot open %s", path);
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
        ck_assert_msg(size == 0 || fread(buf, 1, (size_t)size, f) == (size_t)size, "cannot read %s", path);
        fclose(f);
        fprintf(stderr, "replay %s/%s (%ld bytes)\n", sub, names[i], size);
        fn(buf, (size_t)size);
        free(buf);
        free(names[i]);
    }
    return n;
}

START_TEST(replay_ops_corpus)
{
    scratch_dir();
    ck_assert_int_gt(replay_dir("ops", fz_ops_run), 0);
}
END_TEST

START_TEST(replay_file_corpus)
{
    scratch_dir();
    ck_assert_int_gt(replay_dir("file", fz_file_run), 0);
}
END_TEST

START_TEST(replay_flatbuffers_corpus)
{
    ck_assert_int_gt(replay_dir("flatbuffers", fz_flatbuffers_run), 0);
}
END_TEST

START_TEST(replay_batch_corpus)
{
    ck_assert_int_gt(replay_dir("batch", fz_batch_run), 0);
}
END_TEST

START_TEST(replay_keys_corpus)
{
    ck_assert_int_gt(replay_dir("keys", fz_keys_run), 0);
}
END_TEST

START_TEST(replay_archive_corpus)
{
    ck_assert_int_gt(replay_dir("archive", fz_archive_run), 0);
}
END_TEST

/* The archive seeds are what the builder writes today, and verify. */
static void archive_seed_current(const char *name, const uint8_t *p, size_t n, void *ctx)
{
    (void)ctx;
    char path[4352];
    snprintf(path, sizeof path, "%s/archive/%s", corpus_root(), name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "no seed %s (fuzz/fuzz_archive.c says how to write it)", path);
    uint8_t buf[4096];
    size_t got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert_msg(got == n && memcmp(buf, p, n) == 0, "seed %s differs from the builder's output", name);
    uint8_t *copy = malloc(n);
    memcpy(copy, p + 1, n - 1);
    uint64_t h;
    ck_assert_int_eq(fa_check(&fa_types[p[0] & 3], copy, n - 1, &h), BIRCH_OK);
    free(copy);
}

START_TEST(archive_seeds_current)
{
    fa_seeds(archive_seed_current, NULL);
}
END_TEST

START_TEST(random_programs)
{
    scratch_dir();
    uint64_t seed = bt_seed(0xf0221);
    bt_rng r = {seed};
    long n = (long)bt_env_u64("BIRCH_FUZZ_PROGRAMS", 200);
    uint8_t buf[1200];
    for (long i = 0; i < n; i++) {
        size_t len = (size_t)bt_range(&r, 1, sizeof buf);
        bt_fill(&r, buf, len);
        fz_ops_run(buf, len);
    }
    fprintf(stderr, "random programs: seed %" PRIu64 ", %ld programs\n", seed, n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fuzz_replay");
    TCase *tc = bt_tcase("fuzz_replay");
    tcase_add_test(tc, replay_ops_corpus);
    tcase_add_test(tc, replay_file_corpus);
    tcase_add_test(tc, replay_keys_corpus);
    tcase_add_test(tc, replay_archive_corpus);
    tcase_add_test(tc, replay_flatbuffers_corpus);
    tcase_add_test(tc, replay_batch_corpus);
    tcase_add_test(tc, archive_seeds_current);
    tcase_add_test(tc, random_programs);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
