/*
 * test_create.c - creating a database is all-or-nothing (docs/DESIGN.md,
 * 3.4): whatever stops a creation part-way, the path afterwards holds
 * what it held before (no file, an empty file, or the old database for
 * BIRCH_RECREATE_ALWAYS) or a whole new empty database, which opens
 * read-only, never BIRCH_ENOTDB or BIRCH_ECORRUPT.
 *
 * Three starting points: no file (a new database), an empty file (made
 * by the application; initialised by the open), and an old database
 * opened with BIRCH_RECREATE_ALWAYS.  Each in both ways of making the
 * temporary file: unnamed (O_TMPFILE) and named (path.new-..., the
 * fallback where O_TMPFILE is not supported).  What stops the creation:
 *   - a full disk or an I/O error at every write, sync and creation step
 *     (faultio.c; a failing write first writes half its bytes, as a disk
 *     filling up does), with no temporary file left behind;
 *   - a power loss at every step and during every write (faultio.c's
 *     simulation: pending writes kept, dropped or torn per sector, a name
 *     published but its directory not synced either kept or lost);
 *   - RLIMIT_FSIZE smaller than the file, in a child (SIGXFSZ ignored);
 *   - SIGKILL at every step (the child kills itself through faultio.c),
 *     and SIGKILL from the parent at random instants until it has landed
 *     in the middle of creations many times.
 * Opens racing to create, or to initialise the same empty file, all end
 * on one database: each commits a record and every record is there.  A
 * path that is a symbolic link stays one: the file it leads to is made.
 */
#include "faultio.c"

#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

enum { FRESH, EMPTY, RECREATE, STARTS };
static const char *const start_name[STARTS] = {"no file", "an empty file", "an old database (recreate)"};
enum { UNNAMED, NAMED, MODES };
static const char *const mode_name[MODES] = {"O_TMPFILE", "named temporary file"};

/* What verify found at the path. */
enum { GOT_ABSENT, GOT_BEFORE, GOT_NEW };

#define PS 512u

static birch_options create_opts(int start)
{
    birch_options o;
    birch_options_init(&o);
    o.page_size = PS;
    o.map_reserve = 1u << 20;
    if (start == RECREATE) o.recreate = BIRCH_RECREATE_ALWAYS;
    return o;
}

/* A directory of its own for one case, so that leftovers can be listed. */
static char *case_dir(void)
{
    char *d = bt_path("dir");
    ck_assert_msg(mkdir(d, 0755) == 0, "mkdir(%s): %s", d, strerror(errno));
    return d;
}

static char *in_dir(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Names in dir other than keep (and . and ..); removes them when wipe. */
static int others_in(const char *dir, const char *keep, int wipe, char *first, size_t firstsz)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        /* keep and its lock file (share.c: the database's path + "-lock"),
         * which stays beside it, as LMDB's does. */
        size_t kl = keep ? strlen(keep) : 0;
        int lockfile = keep && !strncmp(e->d_name, keep, kl) && !strcmp(e->d_name + kl, "-lock");
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || (keep && !strcmp(e->d_name, keep)) || lockfile)
            continue;
        if (n++ == 0 && first) snprintf(first, firstsz, "%s", e->d_name);
        if (wipe) {
            char *p = in_dir(dir, e->d_name);
            unlink(p);
            free(p);
        }
    }
    closedir(d);
    return n;
}

static void remove_dir_all(char *dir)
{
    others_in(dir, NULL, 1, NULL, 0);
    rmdir(dir);
    free(dir);
}

/* The starting point at path: nothing, an empty file, or a database with
 * table "old" holding "marker". */
static void prepare(const char *path, int start)
{
    unlink(path);
    if (start == EMPTY) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        ck_assert_msg(fd >= 0, "creating %s: %s", path, strerror(errno));
        close(fd);
    } else if (start == RECREATE) {
        birch_options o = create_opts(FRESH);
        birch_db *db = bt_open(path, &o);
        birch_txn *w = bt_begin(db, BIRCH_TXN_WRITE);
        bt_put_s(w, bt_table(w, "old", BIRCH_CREATE), "marker", "the old database");
        BT_OK(birch_txn_commit(w));
        BT_OK(birch_close(db));
    }
}

static int count_table(const char *name, void *ctx)
{
    (void)name;
    (*(int *)ctx)++;
    return 0;
}

/* What is at path after a creation that may have been stopped: what was
 * there before, or a whole new empty database that opens read-only. */
static int verify(const char *path, int start, const char *ctx)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        ck_assert_msg(errno == ENOENT, "%s: stat(%s): %s", ctx, path, strerror(errno));
        ck_assert_msg(start == FRESH, "%s: the file that was there (%s) is gone", ctx, start_name[start]);
        return GOT_ABSENT;
    }
    if (st.st_size == 0) {
        ck_assert_msg(start == EMPTY, "%s: an empty file is left where there was %s", ctx, start_name[start]);
        return GOT_BEFORE;
    }
    birch_options o;
    birch_options_init(&o);
    o.read_only = 1; /* opens the file as it is: nothing initialises or repairs it */
    birch_db *db = NULL;
    int rc = birch_open(path, &o, &db);
    ck_assert_msg(rc == BIRCH_OK, "%s: the file left (%lld bytes) does not open: %d (%s): %s", ctx,
                  (long long)st.st_size, rc, birch_strerror(rc), birch_errmsg());
    char msg[512];
    rc = birch_check(db, msg, sizeof msg);
    ck_assert_msg(rc == BIRCH_OK, "%s: check of the file left: %d: %s", ctx, rc, msg);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    int tables = 0;
    BT_OK(birch_table_list(r, count_table, &tables));
    int got = GOT_NEW;
    if (tables) {
        ck_assert_msg(start == RECREATE && tables == 1, "%s: %d tables in what should be a new database", ctx,
                      tables);
        bt_expect_s(r, bt_table(r, "old", 0), "marker", "the old database");
        got = GOT_BEFORE;
    }
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    return got;
}

/* ---- Faults ----------------------------------------------------------------------- */

/* Every call of kind failing in turn with inj (N = 1, 2, ... until the
 * open gets through): the path holds the old state or a new database, and
 * no temporary file is left. */
static void fault_sweep(int start, int mode, int kind, int inj)
{
    char *dir = case_dir(), *path = in_dir(dir, "db");
    bi_posix_ctx pctx = {mode == NAMED};
    long points = 0;
    for (long n = 1;; n++) {
        char ctx[256];
        snprintf(ctx, sizeof ctx, "%s, %s, %s %ld failing with %s", start_name[start], mode_name[mode],
                 fio_kind_name[kind], n, birch_strerror(inj));
        prepare(path, start);
        fio f;
        fio_init(&f, 1);
        f.io_ctx = &pctx;
        f.fail_at[kind] = n;
        f.fail_rc[kind] = inj;
        f.partial = 1;
        birch_options o = create_opts(start);
        birch_db *db = NULL;
        int rc = bi_open_io(path, &o, &f.io, &db);
        if (rc == BIRCH_OK) ck_assert_int_eq(birch_close(db), BIRCH_OK);
        long injected = f.injected;
        fio_free(&f);
        char left[256] = "";
        ck_assert_msg(others_in(dir, "db", 0, left, sizeof left) == 0, "%s: left %s behind", ctx, left);
        if (!injected) {
            ck_assert_msg(rc == BIRCH_OK, "%s: open returned %d (%s) without a fault", ctx, rc, birch_strerror(rc));
            ck_assert_int_eq(verify(path, start, ctx), GOT_NEW);
            break;
        }
        ck_assert_msg(rc != BIRCH_OK, "%s: the open succeeded despite the fault", ctx);
        verify(path, start, ctx);
        points++;
    }
    ck_assert_int_gt(points, 0); /* the sweep reached the creation */
    remove_dir_all(dir);
    free(path);
}

static void fault_sweeps(int start)
{
    static const int kinds[] = {FIO_WRITE, FIO_SYNC, FIO_CREATE, FIO_PUBLISH, FIO_SYNCDIR};
    for (int mode = 0; mode < MODES; mode++)
        for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
            fault_sweep(start, mode, kinds[k], BIRCH_EFULL);
            fault_sweep(start, mode, kinds[k], BIRCH_EIO);
        }
}

START_TEST(faults_creating_new) { fault_sweeps(FRESH); }
END_TEST
START_TEST(faults_initialising_empty) { fault_sweeps(EMPTY); }
END_TEST
START_TEST(faults_recreating) { fault_sweeps(RECREATE); }
END_TEST

/* ---- Power loss ------------------------------------------------------------------- */

enum { LOSS_AT_OP, LOSS_AT_WRITE };

static void loss_sweep(int start, int mode, int at)
{
    char *dir = case_dir(), *path = in_dir(dir, "db"), *img = bt_path("img");
    bi_posix_ctx pctx = {mode == NAMED};
    long losses = 0, got[3] = {0, 0, 0};
    for (long n = 1;; n++) {
        int reached = 0;
        for (uint64_t fate = 1; fate <= 8; fate++) {
            char ctx[256];
            snprintf(ctx, sizeof ctx, "%s, %s, power lost %s %ld, fate %" PRIu64, start_name[start], mode_name[mode],
                     at == LOSS_AT_OP ? "instead of operation" : "after write", n, fate);
            prepare(path, start);
            fio f;
            fio_init(&f, 1);
            f.io_ctx = &pctx;
            f.track = 1;
            f.loss_path = img;
            f.loss_seed = bt_mix(fate ^ (uint64_t)n << 32);
            if (at == LOSS_AT_OP) f.loss_at_op = n;
            else f.loss_at_write = n;
            birch_options o = create_opts(start);
            birch_db *db = NULL;
            int rc = bi_open_io(path, &o, &f.io, &db);
            if (rc == BIRCH_OK) birch_close(db); /* a loss at the close's own steps is fine too */
            ck_assert_msg(!f.loss_error, "%s: %s", ctx, f.loss_msg);
            int dead = f.dead;
            fio_free(&f);
            others_in(dir, "db", 1, NULL, 0); /* the machine is off: leftovers of the live run do not count */
            if (!dead) continue;
            reached = 1;
            got[verify(img, start, ctx)]++;
            losses++;
        }
        if (!reached) break;
    }
    printf("power loss creating from %s with a %s, %s: %ld losses: %ld absent, %ld as before, %ld new\n",
           start_name[start], mode_name[mode], at == LOSS_AT_OP ? "at each operation" : "after each write", losses,
           got[GOT_ABSENT], got[GOT_BEFORE], got[GOT_NEW]);
    ck_assert_int_gt(losses, 0);
    unlink(img);
    free(img);
    remove_dir_all(dir);
    free(path);
}

static void loss_sweeps(int start)
{
    for (int mode = 0; mode < MODES; mode++) {
        loss_sweep(start, mode, LOSS_AT_OP);
        loss_sweep(start, mode, LOSS_AT_WRITE);
    }
}

START_TEST(powerloss_creating_new) { loss_sweeps(FRESH); }
END_TEST
START_TEST(powerloss_initialising_empty) { loss_sweeps(EMPTY); }
END_TEST
START_TEST(powerloss_recreating) { loss_sweeps(RECREATE); }
END_TEST

/* ---- Processes: RLIMIT_FSIZE, SIGKILL ------------------------------------------------ */

static int wait_child(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
    }
    return st;
}

/* A child whose file size limit is below two pages of 4096 bytes: the
 * creation fails with BIRCH_EFULL. */
START_TEST(file_size_limit)
{
    for (int start = 0; start < STARTS; start++)
        for (int mode = 0; mode < MODES; mode++) {
            char ctx[256];
            snprintf(ctx, sizeof ctx, "RLIMIT_FSIZE, %s, %s", start_name[start], mode_name[mode]);
            char *dir = case_dir(), *path = in_dir(dir, "db");
            prepare(path, start);
            fflush(stdout);
            fflush(stderr);
            pid_t pid = fork();
            ck_assert_int_ge(pid, 0);
            if (pid == 0) {
                signal(SIGXFSZ, SIG_IGN); /* the write fails with EFBIG instead */
                struct rlimit rl = {1000, 1000};
                if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(3);
                bi_posix_ctx pctx = {mode == NAMED};
                bi_io io = {&bi_io_posix, &pctx};
                birch_options o = create_opts(start);
                o.page_size = 4096;
                birch_db *db = NULL;
                int rc = bi_open_io(path, &o, &io, &db);
                _exit(rc == BIRCH_EFULL ? 0 : rc == BIRCH_OK ? 1 : 2);
            }
            int st = wait_child(pid);
            ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: the child's open did not fail with "
                          "BIRCH_EFULL (status %d)", ctx, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            char left[256] = "";
            ck_assert_msg(others_in(dir, "db", 0, left, sizeof left) == 0, "%s: left %s behind", ctx, left);
            ck_assert_int_eq(verify(path, start, ctx), start == FRESH ? GOT_ABSENT : GOT_BEFORE);
            remove_dir_all(dir);
            free(path);
        }
}
END_TEST

/* The child kills itself (faultio.c) before its Nth step, for every N
 * until the open and close get through. */
static void kill_sweep(int start, int mode)
{
    char *dir = case_dir(), *path = in_dir(dir, "db");
    long kills = 0, got[3] = {0, 0, 0};
    for (long n = 1;; n++) {
        char ctx[256];
        snprintf(ctx, sizeof ctx, "%s, %s, SIGKILL before step %ld", start_name[start], mode_name[mode], n);
        prepare(path, start);
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            fio f;
            fio_init(&f, 1);
            bi_posix_ctx pctx = {mode == NAMED};
            f.io_ctx = &pctx;
            f.kill_at = n;
            birch_options o = create_opts(start);
            birch_db *db = NULL;
            int rc = bi_open_io(path, &o, &f.io, &db);
            if (rc == BIRCH_OK) rc = birch_close(db);
            _exit(rc == BIRCH_OK ? 0 : 2);
        }
        int st = wait_child(pid);
        if (WIFEXITED(st)) {
            ck_assert_msg(WEXITSTATUS(st) == 0, "%s: the child failed (%d)", ctx, WEXITSTATUS(st));
            break;
        }
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "%s: the child died otherwise", ctx);
        kills++;
        got[verify(path, start, ctx)]++;
        /* An unnamed temporary file vanishes with the process; a named one
         * stays (only that kind of name). */
        char left[256] = "";
        int others = others_in(dir, "db", 0, left, sizeof left);
        if (mode == UNNAMED) ck_assert_msg(others == 0, "%s: left %s behind", ctx, left);
        else ck_assert_msg(others == 0 || strncmp(left, "db.new-", 7) == 0, "%s: left %s behind", ctx, left);
        others_in(dir, "db", 1, NULL, 0);
    }
    printf("SIGKILL creating from %s with a %s: %ld kills: %ld absent, %ld as before, %ld new\n", start_name[start],
           mode_name[mode], kills, got[GOT_ABSENT], got[GOT_BEFORE], got[GOT_NEW]);
    ck_assert_int_gt(kills, 0);
    remove_dir_all(dir);
    free(path);
}

START_TEST(kill_at_each_step)
{
    for (int start = 0; start < STARTS; start++)
        for (int mode = 0; mode < MODES; mode++) kill_sweep(start, mode);
}
END_TEST

/* A child creates the database again and again (removing it, or with
 * BIRCH_RECREATE_ALWAYS) on the plain POSIX layer with real syncs; the
 * parent kills it after a random delay.  A word in shared memory says
 * whether it was inside birch_open then. */
START_TEST(kill_at_random_instants)
{
    uint64_t seed = bt_seed(4242);
    bt_rng r = {seed};
    volatile int *state = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne((void *)state, MAP_FAILED);
    static const int starts[] = {FRESH, RECREATE};
    for (size_t si = 0; si < sizeof starts / sizeof *starts; si++) {
        int start = starts[si];
        char *dir = case_dir(), *path = in_dir(dir, "db");
        prepare(path, start);
        long landed = 0, tries = 0, got[3] = {0, 0, 0};
        for (; landed < 25 && tries < 3000; tries++) {
            *state = 0;
            fflush(stdout);
            fflush(stderr);
            pid_t pid = fork();
            ck_assert_int_ge(pid, 0);
            if (pid == 0) {
                birch_options o = create_opts(start);
                for (;;) {
                    if (start == FRESH) unlink(path);
                    *state = 1;
                    birch_db *db = NULL;
                    if (birch_open(path, &o, &db) != BIRCH_OK) _exit(2);
                    *state = 2;
                    if (start == RECREATE) { /* the marker again, for the next round */
                        birch_txn *w = NULL;
                        birch_table *t = NULL;
                        if (birch_txn_begin(db, BIRCH_TXN_WRITE, &w) || birch_table_open(w, "old", BIRCH_CREATE, &t) ||
                            birch_put(w, t, bt_str("marker"), bt_str("the old database"), 0) ||
                            birch_txn_commit(w))
                            _exit(3);
                    }
                    if (birch_close(db) != BIRCH_OK) _exit(4);
                    *state = 0;
                }
            }
            long delay_us = (long)bt_below(&r, 4000) + 50;
            struct timespec ts = {0, delay_us * 1000L};
            while (nanosleep(&ts, &ts) != 0) {
            }
            kill(pid, SIGKILL);
            int st = wait_child(pid);
            char ctx[256];
            snprintf(ctx, sizeof ctx, "seed %" PRIu64 ", %s, kill %ld after %ld us (state %d)", seed,
                     start_name[start], tries, delay_us, *state);
            ck_assert_msg(WIFSIGNALED(st), "%s: the child failed (%d)", ctx, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            int g = verify(path, start, ctx);
            if (*state == 1) {
                landed++;
                got[g]++;
            }
            others_in(dir, "db", 1, NULL, 0); /* a kill between naming and renaming leaves a whole temporary file */
            if (start == RECREATE && g == GOT_NEW) prepare(path, start); /* the marker for the next kill */
        }
        printf("random SIGKILL, %s: %ld of %ld kills inside birch_open: %ld absent, %ld as before, %ld new\n",
               start_name[start], landed, tries, got[GOT_ABSENT], got[GOT_BEFORE], got[GOT_NEW]);
        ck_assert_msg(landed > 0, "seed %" PRIu64 ": no kill landed inside birch_open", seed);
        remove_dir_all(dir);
        free(path);
    }
    munmap((void *)state, sizeof(int));
}
END_TEST

/* ---- Races ------------------------------------------------------------------------- */

enum { RACERS = 6 };

/* RACERS processes open the same path at once (to create it, or to
 * initialise the same empty file), each retrying while another holds it,
 * and commit a record of their own.  Every record must be in the one
 * database at the end: an open that locked a file replaced meanwhile
 * would have committed into a file nobody sees. */
static void race(int start)
{
    char *dir = case_dir(), *path = in_dir(dir, "db");
    prepare(path, start);
    pid_t pids[RACERS];
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            birch_options o = create_opts(FRESH);
            birch_db *db = NULL;
            int rc;
            for (int tries = 0; (rc = birch_open(path, &o, &db)) == BIRCH_EBUSY && tries < 100000; tries++) {
                struct timespec ts = {0, 100000};
                nanosleep(&ts, NULL);
            }
            if (rc) {
                fprintf(stderr, "racer %d: birch_open: %s: %s\n", i, birch_strerror(rc), birch_errmsg());
                _exit(2);
            }
            birch_txn *w = NULL;
            birch_table *t = NULL;
            char key[16];
            snprintf(key, sizeof key, "racer%d", i);
            if (birch_txn_begin(db, BIRCH_TXN_WRITE, &w) || birch_table_open(w, "racers", BIRCH_CREATE, &t) ||
                birch_put(w, t, bt_str(key), bt_str("here"), 0) || birch_txn_commit(w))
                _exit(3);
            _exit(birch_close(db) == BIRCH_OK ? 0 : 4);
        }
    }
    for (int i = 0; i < RACERS; i++) {
        int st = wait_child(pids[i]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: racer %d failed (%d)", start_name[start], i,
                      WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    char left[256] = "";
    ck_assert_msg(others_in(dir, "db", 0, left, sizeof left) == 0, "left %s behind", left);
    birch_db *db = bt_open(path, NULL);
    bt_check(db);
    birch_txn *r = bt_begin(db, BIRCH_TXN_READ);
    birch_table *t = bt_table(r, "racers", 0);
    ck_assert_uint_eq(bt_count(r, t), RACERS);
    birch_txn_abort(r);
    BT_OK(birch_close(db));
    remove_dir_all(dir);
    free(path);
}

START_TEST(racing_creations)
{
    for (int round = 0; round < 5; round++) {
        race(FRESH);
        race(EMPTY);
    }
}
END_TEST

/* ---- Plain creations ----------------------------------------------------------------- */

/* A creation leaves the database and nothing else, a replaced file's
 * permissions are kept, and errors name the path and the reason. */
START_TEST(creation_leaves_nothing_else)
{
    for (int mode = 0; mode < MODES; mode++)
        for (int start = 0; start < STARTS; start++) {
            char *dir = case_dir(), *path = in_dir(dir, "db");
            prepare(path, start);
            if (start != FRESH) ck_assert_int_eq(chmod(path, 0600), 0);
            bi_posix_ctx pctx = {mode == NAMED};
            bi_io io = {&bi_io_posix, &pctx};
            birch_options o = create_opts(start);
            birch_db *db = NULL;
            BT_OK(bi_open_io(path, &o, &io, &db));
            /* The open shares the file at the path: another handle opens
             * the very file it created (and its lock file). */
            birch_db *other = NULL;
            birch_options ro = create_opts(FRESH);
            ro.read_only = 1;
            BT_OK(birch_open(path, &ro, &other));
            BT_OK(birch_close(other));
            BT_OK(birch_close(db));
            char left[256] = "";
            ck_assert_msg(others_in(dir, "db", 0, left, sizeof left) == 0, "%s, %s: left %s behind", mode_name[mode],
                          start_name[start], left);
            ck_assert_int_eq(verify(path, start, "a plain creation"), GOT_NEW);
            struct stat st;
            ck_assert_int_eq(stat(path, &st), 0);
            if (start != FRESH) /* a replaced file keeps its permissions */
                ck_assert_msg((st.st_mode & 0777) == 0600, "%s, %s: mode %o", mode_name[mode], start_name[start],
                              (unsigned)(st.st_mode & 0777));
            remove_dir_all(dir);
            free(path);
        }
    birch_db *db = NULL;
    BT_RC(birch_open("/nonexistent-birch-dir/x.db", NULL, &db), BIRCH_NOTFOUND);
    BT_ERRMSG_HAS("/nonexistent-birch-dir/x.db");
    BT_ERRMSG_HAS("directory");
}
END_TEST

/* A path that is a symbolic link: the file it leads to is created or
 * replaced, and the link stays a link. */
START_TEST(through_a_symbolic_link)
{
    for (int mode = 0; mode < MODES; mode++)
        for (int start = 0; start < STARTS; start++) {
            char *dir = case_dir(), *path = in_dir(dir, "db"), *link = in_dir(dir, "link");
            prepare(path, start);
            ck_assert_int_eq(symlink("db", link), 0); /* relative, dangling for FRESH */
            bi_posix_ctx pctx = {mode == NAMED};
            bi_io io = {&bi_io_posix, &pctx};
            birch_options o = create_opts(start);
            birch_db *db = NULL;
            BT_OK(bi_open_io(link, &o, &io, &db));
            BT_OK(birch_close(db));
            struct stat st;
            ck_assert_int_eq(lstat(link, &st), 0);
            ck_assert_msg(S_ISLNK(st.st_mode), "%s, %s: the link was replaced", mode_name[mode], start_name[start]);
            ck_assert_int_eq(verify(path, start, "through a symbolic link"), GOT_NEW);
            unlink(link);
            char left[256] = "";
            ck_assert_msg(others_in(dir, "db", 0, left, sizeof left) == 0, "left %s behind", left);
            free(link);
            remove_dir_all(dir);
            free(path);
        }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("create");
    TCase *tc = bt_tcase("create");
    tcase_add_test(tc, creation_leaves_nothing_else);
    tcase_add_test(tc, faults_creating_new);
    tcase_add_test(tc, faults_initialising_empty);
    tcase_add_test(tc, faults_recreating);
    tcase_add_test(tc, powerloss_creating_new);
    tcase_add_test(tc, powerloss_initialising_empty);
    tcase_add_test(tc, powerloss_recreating);
    tcase_add_test(tc, file_size_limit);
    tcase_add_test(tc, kill_at_each_step);
    tcase_add_test(tc, kill_at_random_instants);
    tcase_add_test(tc, racing_creations);
    tcase_add_test(tc, through_a_symbolic_link);
    suite_add_tcase(s, tc);
    return bt_run(s);
}
