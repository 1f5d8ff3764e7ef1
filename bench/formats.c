/*
 * formats.c - the cost of verification: what a typed get (key format,
 * birch_get, the value format's verify, a guard) costs over a raw
 * birch_get, for a value of about 200 bytes in each value format.
 *
 *   birch-bench-formats [--keys N] [--gets N] [--repeat K] [--quick]
 *                       [--dir DIR] [--keep]
 *
 * One file, four tables of --keys records (default 100,000), keyed by
 * birch_key_u64 (record i has key i):
 *   pod          Rec, a 200-byte C struct (BIRCH_POD_FORMAT)
 *   archive      Profile: u64, f64, u32, a string, a vector of 16 u32 and
 *                an optional string (BIRCH_ARCHIVE)
 *   flatbuffers  Event: the same members as a FlatBuffers table
 *                (BIRCH_FB_TABLE), built with the builder macros
 *   flatbuffers (generated)
 *                Bench.Event of event.fbs through what `birch fbs`
 *                generates from it (event_birch.h, at build time): the
 *                same members and values as Event, byte for byte; its
 *                times against Event's are the cost of the generated
 *                declarations (goal: within 3%)
 *
 * For each table, --gets random gets (default 1,000,000, keys drawn
 * uniformly from a fixed splitmix64 stream, the same sequence for every
 * table), all inside one read transaction, each reading one field (the
 * u64 id) and checking it equals the key:
 *   raw          birch_get with the key encoded by hand (8 bytes,
 *                big-endian), then the field read in place without any
 *                check: pod and archive at offset 0, FlatBuffers through
 *                its accessor (root offset, vtable, field)
 *   verify()     the same plus the format's verify function on the bytes
 *                (what the check alone costs)
 *   typed        birch_typed_get into a guard (key format, birch_get,
 *                verify, view), the field through the view, release
 * Verification cost = (typed - raw) / raw; the goal is below 0.15
 * (issue 15; it was 0.20 before).
 *
 * Before timing, every record of every table is read once (the first touch
 * of a mapped page costs a page fault; it must not land on one column).
 * The three columns of a table take turns in blocks of gets, so that a
 * slow spell of a shared machine hits them alike; the two FlatBuffers
 * tables also take turns with each other in a pass of their own, whose
 * times give the generated / hand-written quotient.  With --repeat K every
 * cell is the best of K passes.  Output: markdown tables on stdout and in
 * DIR/formats.md; progress on stderr.  Any failure exits with status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "birch.h"
#include "event_birch.h" /* generated from event.fbs (bench/CMakeLists.txt) */

/* ---- The values ----------------------------------------------------------------- */

/* pod: a C struct stored as it is; id at offset 0. */
typedef struct Rec {
    uint64_t id;
    uint64_t created;
    double score;
    uint32_t flags;
    uint32_t quantity;
    char name[48];
    char note[120];
} Rec;
_Static_assert(sizeof(Rec) == 200, "Rec is 200 bytes");
BIRCH_POD_FORMAT(rec_format, Rec, 1);

/* archive: the root struct first, id at offset 0. */
#define PROFILE_FIELDS(X)                                                                          \
    X(u64, id) X(f64, score) X(u32, flags) X(string, name) X(vec_u32, tags) X(opt_string, note)
BIRCH_ARCHIVE(Profile, 1, PROFILE_FIELDS);

/* FlatBuffers: the same members as a table. */
#define Event_FIELDS(_)                                                                            \
    _(SCALAR, Event, id, 0, u64, 0)                                                                \
    _(SCALAR, Event, score, 1, f64, 0)                                                             \
    _(SCALAR, Event, flags, 2, u32, 0)                                                             \
    _(STRING, Event, name, 3)                                                                      \
    _(VECTOR, Event, tags, 4, u32)                                                                 \
    _(STRING, Event, note, 5)
BIRCH_FB_TABLE(Event, "EVNT", Event_FIELDS);
BIRCH_FB_FORMAT(event_format, Event, 0);

#define N_TAGS 16

enum { F_POD, F_ARCHIVE, F_FB, F_FB_GEN, N_FORMATS };
static const char *const format_names[N_FORMATS] = {"pod", "archive", "flatbuffers",
                                                    "flatbuffers (generated)"};
static const char *const table_names[N_FORMATS] = {"pod", "archive", "flatbuffers",
                                                   "flatbuffers_generated"};
enum { C_RAW, C_VERIFY, C_TYPED, N_COLS };
#define N_CELLS (N_FORMATS * N_COLS)

/* The goals: verification cost over a raw get (issue 15), and the
 * generated FlatBuffers declarations against the hand-written ones. */
#define GOAL_COST 0.15
#define GOAL_GEN 0.03

/* ---- Helpers ---------------------------------------------------------------------- */

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "bench-formats: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ < 0)                                                                               \
            die("%s: %s (%d)", #call, birch_strerror(rc_), rc_);                                   \
    } while (0)

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* birch_key_u64's encoding: 8 bytes, big-endian. */
static inline birch_val encode_u64(uint64_t k, uint8_t kb[8])
{
    for (int b = 7; b >= 0; b--) {
        kb[b] = (uint8_t)k;
        k >>= 8;
    }
    return (birch_val){kb, 8};
}

/* ---- Options ---------------------------------------------------------------------- */

static struct {
    uint64_t keys, gets;
    int repeat;
    const char *dir;
    bool keep, quick;
    char command[1024];
} opt;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: birch-bench-formats [options]\n"
            "  --keys N     records per table (default 100000)\n"
            "  --gets N     random gets per measurement (default 1000000)\n"
            "  --repeat K   best of K passes per cell (default 3)\n"
            "  --quick      10000 keys, 100000 gets, 1 pass: checks the harness, not the speed\n"
            "  --dir DIR    the database goes in DIR/db-formats (removed unless --keep), the\n"
            "               table in DIR/formats.md (default: ./bench-results)\n"
            "  --keep       keep the database\n");
}

static uint64_t parse_u64(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0)
        die("bad %s: %s", what, s);
    return v;
}

static void parse_args(int argc, char **argv)
{
    opt.keys = 100000;
    opt.gets = 1000000;
    opt.repeat = 3;
    opt.dir = "bench-results";
    size_t len = 0;
    for (int i = 0; i < argc && len < sizeof opt.command - 1; i++)
        len += (size_t)snprintf(opt.command + len, sizeof opt.command - len, "%s%s", i ? " " : "",
                                argv[i]);
    bool keys_given = false, gets_given = false, repeat_given = false, quick = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = strcmp(a, "--keys") == 0 || strcmp(a, "--gets") == 0 ||
                     strcmp(a, "--repeat") == 0 || strcmp(a, "--dir") == 0;
        if (takes && !next)
            die("%s needs an argument", a);
        if (strcmp(a, "--keys") == 0) {
            opt.keys = parse_u64(next, a), keys_given = true, i++;
            if (opt.keys > UINT32_MAX)
                die("--keys: at most %u", UINT32_MAX);
        } else if (strcmp(a, "--gets") == 0) {
            opt.gets = parse_u64(next, a), gets_given = true, i++;
        } else if (strcmp(a, "--repeat") == 0) {
            uint64_t r = parse_u64(next, a);
            if (r > 100)
                die("--repeat: at most 100");
            opt.repeat = (int)r, repeat_given = true, i++;
        } else if (strcmp(a, "--dir") == 0) {
            opt.dir = next, i++;
        } else if (strcmp(a, "--quick") == 0) {
            quick = true;
        } else if (strcmp(a, "--keep") == 0) {
            opt.keep = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else {
            usage(stderr);
            die("unknown option %s", a);
        }
    }
    opt.quick = quick;
    if (quick) {
        if (!keys_given)
            opt.keys = 10000;
        if (!gets_given)
            opt.gets = 100000;
        if (!repeat_given)
            opt.repeat = 1;
    }
}

/* ---- Loading ------------------------------------------------------------------------ */

static const char *const words[] = {"birch", "alder", "rowan", "aspen", "hazel", "larch",
                                    "maple", "cedar", "linden", "willow", "poplar", "spruce"};

/* Text of exactly n characters (n < cap) for record i. */
static void text_for(uint64_t i, unsigned salt, char *out, size_t n)
{
    size_t len = 0;
    uint64_t s = i * 131 + salt;
    while (len < n) {
        const char *w = words[splitmix64(&s) % (sizeof words / sizeof words[0])];
        for (; *w && len < n; w++)
            out[len++] = *w;
        if (len < n)
            out[len++] = ' ';
    }
    out[n] = 0;
}

static void make_rec(uint64_t i, Rec *r)
{
    memset(r, 0, sizeof *r);
    r->id = i;
    r->created = 1700000000u + i;
    r->score = (double)(i % 1000) / 8.0;
    r->flags = (uint32_t)i & 7;
    r->quantity = (uint32_t)(i % 17);
    text_for(i, 1, r->name, sizeof r->name - 1);
    text_for(i, 2, r->note, sizeof r->note - 1);
}

/* The archive and FlatBuffers values: the same content, sized so that the
 * stored values are about 200 bytes. */
#define NAME_LEN 32
#define NOTE_LEN 52
#define FB_NAME_LEN 28
#define FB_NOTE_LEN 36

static void load(birch_db *db, birch_typed t[N_FORMATS], size_t vsize[N_FORMATS])
{
    static const birch_value_format *const formats[N_FORMATS] = {
        &rec_format, &Profile_format, &event_format, &Bench_Event_format};
    birch_txn *txn;
    CHECK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    for (int f = 0; f < N_FORMATS; f++)
        CHECK(birch_typed_open(db, txn, table_names[f], &birch_key_u64, formats[f], BIRCH_CREATE,
                               &t[f]));
    /* One builder per declaration set, so that both buffers are alive to
     * be compared. */
    birch_fb_builder *b = birch_fb_builder_new(), *bg = birch_fb_builder_new();
    if (!b || !bg)
        die("out of memory");
    for (uint64_t i = 0; i < opt.keys; i++) {
        Rec r;
        make_rec(i, &r);
        CHECK(birch_typed_put(txn, &t[F_POD], &i, &r, BIRCH_APPEND));

        char name[NAME_LEN + 1], note[NOTE_LEN + 1];
        uint32_t tags[N_TAGS];
        text_for(i, 3, name, NAME_LEN);
        text_for(i, 4, note, NOTE_LEN);
        for (int k = 0; k < N_TAGS; k++)
            tags[k] = (uint32_t)(i * 31 + (uint64_t)k);
        Profile_src p = {
            .id = i,
            .score = r.score,
            .flags = r.flags,
            .name = {name, NAME_LEN},
            .tags = {tags, N_TAGS},
            .note = {note, NOTE_LEN},
        };
        CHECK(birch_typed_put(txn, &t[F_ARCHIVE], &i, &p, BIRCH_APPEND));
        if (i == 0)
            CHECK(Profile_archive_size(&p, &vsize[F_ARCHIVE]));

        birch_fb_builder_reset(b);
        birch_fb_ref fname = birch_fb_string(b, name, FB_NAME_LEN);
        birch_fb_ref fnote = birch_fb_string(b, note, FB_NOTE_LEN);
        birch_fb_ref ftags = Event_vec_tags(b, tags, N_TAGS);
        Event_start(b);
        Event_add_id(b, i);
        Event_add_score(b, r.score);
        Event_add_flags(b, r.flags);
        Event_add_name(b, fname);
        Event_add_tags(b, ftags);
        Event_add_note(b, fnote);
        birch_val buf;
        CHECK(Event_finish(b, Event_end(b), 0, &buf));
        CHECK(birch_typed_put(txn, &t[F_FB], &i, &buf, BIRCH_APPEND));
        if (i == opt.keys - 1)
            vsize[F_FB] = buf.size; /* id 0 is the default and is left out */

        /* The same through the generated declarations, in the same order:
         * the same bytes, or the two rows would not time the same thing. */
        birch_fb_builder_reset(bg);
        birch_fb_ref gname = birch_fb_string(bg, name, FB_NAME_LEN);
        birch_fb_ref gnote = birch_fb_string(bg, note, FB_NOTE_LEN);
        birch_fb_ref gtags = Bench_Event_vec_tags(bg, tags, N_TAGS);
        Bench_Event_start(bg);
        Bench_Event_add_id(bg, i);
        Bench_Event_add_score(bg, r.score);
        Bench_Event_add_flags(bg, r.flags);
        Bench_Event_add_name(bg, gname);
        Bench_Event_add_tags(bg, gtags);
        Bench_Event_add_note(bg, gnote);
        birch_val gbuf;
        CHECK(Bench_Event_finish(bg, Bench_Event_end(bg), 0, &gbuf));
        if (gbuf.size != buf.size || memcmp(gbuf.data, buf.data, buf.size) != 0)
            die("record %llu: the generated builders wrote other bytes than the hand-written "
                "ones (%zu bytes, not %zu)",
                (unsigned long long)i, gbuf.size, buf.size);
        CHECK(birch_typed_put(txn, &t[F_FB_GEN], &i, &gbuf, BIRCH_APPEND));
        if (i == opt.keys - 1)
            vsize[F_FB_GEN] = gbuf.size;
    }
    birch_fb_builder_free(b);
    birch_fb_builder_free(bg);
    vsize[F_POD] = sizeof(Rec);
    CHECK(birch_txn_commit(txn));

    /* The hand-made key encoding of the raw loops must be birch_key_u64's. */
    uint64_t probe = 0x0102030405060708ull;
    uint8_t mine[8], theirs[16];
    size_t len;
    CHECK(birch_key_encode(&birch_key_u64, &probe, theirs, sizeof theirs, &len));
    encode_u64(probe, mine);
    if (len != 8 || memcmp(mine, theirs, 8) != 0)
        die("birch_key_u64 is not 8 big-endian bytes");
}

/* ---- The measured loops ------------------------------------------------------------------ */

/* The id of a value read in place, without any check. */
static inline uint64_t raw_id(int f, birch_val v)
{
    switch (f) {
    case F_POD: return ((const Rec *)v.data)->id;
    case F_ARCHIVE: return Profile_id(Profile_archive_root(v.data));
    case F_FB: return Event_id(Event_root(v.data, v.size, 0));
    default: return Bench_Event_id(Bench_Event_root(v.data, v.size, 0));
    }
}

/* The id through a guard's view. */
static inline uint64_t view_id(int f, const birch_guard *g)
{
    switch (f) {
    case F_POD: return ((const Rec *)g->view)->id;
    case F_ARCHIVE: return Profile_id((const Profile_arch *)g->view);
    case F_FB: return Event_id(Event_view(g));
    default: return Bench_Event_id(Bench_Event_view(g));
    }
}

static _Noreturn void wrong(int f, int col, uint64_t key, uint64_t got)
{
    die("%s, column %d: key %llu read id %llu", format_names[f], col, (unsigned long long)key,
        (unsigned long long)got);
}

/* Gets keys[0..n) in column col; returns the time taken in ns.  The
 * format index is a constant in each instance after inlining. */
static inline __attribute__((always_inline)) double run_keys(int f, int col, birch_txn *txn,
                                                             const birch_typed *t,
                                                             const uint32_t *keys, size_t n)
{
    double t0 = now_ns();
    if (col == C_TYPED) {
        birch_guard g;
        memset(&g, 0, sizeof g);
        for (size_t i = 0; i < n; i++) {
            uint64_t k = keys[i];
            int rc = birch_typed_get(txn, t, &k, &g);
            if (rc != BIRCH_OK)
                die("%s: typed get of %llu: %s %s", format_names[f], (unsigned long long)k,
                    birch_strerror(rc), g.msg);
            uint64_t id = view_id(f, &g);
            birch_guard_release(&g);
            if (id != k)
                wrong(f, col, k, id);
        }
    } else {
        const birch_value_format *vf = t->value;
        for (size_t i = 0; i < n; i++) {
            uint64_t k = keys[i];
            uint8_t kb[8];
            birch_val v;
            int rc = birch_get(txn, t->table, encode_u64(k, kb), &v);
            if (rc != BIRCH_OK)
                die("%s: birch_get of %llu: %s", format_names[f], (unsigned long long)k,
                    birch_strerror(rc));
            if (col == C_VERIFY) {
                char msg[200];
                /* As birch_typed_get did before it verified until issue
                 * 15: it now asks for these lines during the leaf search
                 * (api/typed.c), which a caller of birch_get cannot. */
                for (size_t o = 64; o < v.size && o < 512; o += 64)
                    __builtin_prefetch((const char *)v.data + o);
                rc = vf->verify(vf, v.data, v.size, msg, sizeof msg);
                if (rc != BIRCH_OK)
                    die("%s: verify of %llu: %s", format_names[f], (unsigned long long)k, msg);
            }
            uint64_t id = raw_id(f, v);
            if (id != k)
                wrong(f, col, k, id);
        }
    }
    return now_ns() - t0;
}

static double run_pod(int col, birch_txn *txn, const birch_typed *t, const uint32_t *keys, size_t n)
{
    return run_keys(F_POD, col, txn, t, keys, n);
}
static double run_archive(int col, birch_txn *txn, const birch_typed *t, const uint32_t *keys,
                          size_t n)
{
    return run_keys(F_ARCHIVE, col, txn, t, keys, n);
}
static double run_fb(int col, birch_txn *txn, const birch_typed *t, const uint32_t *keys, size_t n)
{
    return run_keys(F_FB, col, txn, t, keys, n);
}
static double run_fb_gen(int col, birch_txn *txn, const birch_typed *t, const uint32_t *keys,
                         size_t n)
{
    return run_keys(F_FB_GEN, col, txn, t, keys, n);
}
static double (*const runs[N_FORMATS])(int, birch_txn *, const birch_typed *, const uint32_t *,
                                       size_t) = {run_pod, run_archive, run_fb, run_fb_gen};

/* One pass of the nf tables from f0 on: every cell (table f, column c)
 * gets all --gets keys, in blocks of BLOCK, the cells taking turns block
 * by block (in rotating order), so that a slow spell of a shared machine
 * hits them alike.  Cell k reads block (j + k * N_BLOCKS / cells) at turn
 * j: never the block another cell has just read, whose pages would still
 * be in the CPU caches.  Fills ns[f][c] with ns per get.
 *
 * A table's pass takes its three columns alone, as it always did: the
 * tables of other cells would compete for the caches and slow its gets
 * (with all twelve cells taking turns, a raw get took 1,000-1,300 ns, not
 * 500-700, and the columns' differences drowned in the misses).  The two
 * FlatBuffers tables also take turns in a pass of their own, for their
 * quotient: run one after the other, their times differed by 10-30% on
 * this shared machine, either way, from one run to the next. */
#define BLOCK 1000
static void pass(int f0, int nf, birch_txn *txn, const birch_typed t[N_FORMATS],
                 const uint32_t *keys, double ns[N_FORMATS][N_COLS])
{
    size_t nblocks = (size_t)((opt.gets + BLOCK - 1) / BLOCK), cells = (size_t)nf * N_COLS;
    double total[N_CELLS] = {0};
    for (size_t j = 0; j < nblocks; j++) {
        for (size_t i = 0; i < cells; i++) {
            size_t k = (j + i) % cells, b = (j + k * nblocks / cells) % nblocks;
            int f = f0 + (int)(k / N_COLS), c = (int)(k % N_COLS);
            size_t n = b + 1 < nblocks ? BLOCK : (size_t)(opt.gets - b * BLOCK);
            total[k] += runs[f](c, txn, &t[f], keys + b * BLOCK, n);
        }
    }
    for (size_t k = 0; k < cells; k++)
        ns[f0 + (int)(k / N_COLS)][k % N_COLS] = total[k] / (double)opt.gets;
}

/* Reads every record of every table once, checking it. */
static void warm(birch_txn *txn, const birch_typed t[N_FORMATS])
{
    for (int f = 0; f < N_FORMATS; f++) {
        for (uint64_t k = 0; k < opt.keys; k++) {
            uint8_t kb[8];
            birch_val v;
            CHECK(birch_get(txn, t[f].table, encode_u64(k, kb), &v));
            char msg[200];
            if (t[f].value->verify(t[f].value, v.data, v.size, msg, sizeof msg) != BIRCH_OK)
                die("%s: record %llu fails its format: %s", format_names[f], (unsigned long long)k,
                    msg);
            if (raw_id(f, v) != k)
                wrong(f, -1, k, raw_id(f, v));
        }
    }
}

/* ---- Output ------------------------------------------------------------------------------- */

static void describe_machine(char *out, size_t cap)
{
    char cpu[256] = "?";
    unsigned long long mem_kib = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            char *c = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && c) {
                snprintf(cpu, sizeof cpu, "%s", c + 2);
                cpu[strcspn(cpu, "\n")] = 0;
                break;
            }
        }
        fclose(f);
    }
    f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemTotal: %llu kB", &mem_kib) == 1)
                break;
        fclose(f);
    }
    snprintf(out, cap, "%s, %ld CPUs, %.1f GiB RAM", cpu, sysconf(_SC_NPROCESSORS_ONLN),
             (double)mem_kib / (1024.0 * 1024.0));
}

static const char *judged(bool met)
{
    return opt.quick ? "not judged (--quick)" : met ? "met" : "**missed**";
}

/* The load average (1, 5 and 15 minutes) as /proc/loadavg gives it: the
 * machine is shared, and the figures mean little without it. */
static void load_average(char *out, size_t cap)
{
    snprintf(out, cap, "?");
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f)
        return;
    double a[3];
    if (fscanf(f, "%lf %lf %lf", &a[0], &a[1], &a[2]) == 3)
        snprintf(out, cap, "%.2f %.2f %.2f", a[0], a[1], a[2]);
    fclose(f);
}

static void write_table(FILE *out, double best[N_FORMATS][N_COLS], double pair[N_FORMATS][N_COLS],
                        const size_t vsize[N_FORMATS])
{
    fprintf(out,
            "| value format | value bytes | raw get (ns) | raw get + verify() (ns) | typed get "
            "(ns) | verification cost (ns) | cost / raw get | goal < %.2f |\n"
            "|---|---:|---:|---:|---:|---:|---:|---|\n",
            GOAL_COST);
    for (int f = 0; f < N_FORMATS; f++) {
        double raw = best[f][C_RAW], cost = best[f][C_TYPED] - raw, q = cost / raw;
        fprintf(out, "| %s | %zu | %.0f | %.0f | %.0f | %.0f | %.3f | %s |\n", format_names[f],
                vsize[f], raw, best[f][C_VERIFY], best[f][C_TYPED], cost, q,
                judged(q < GOAL_COST));
    }
    /* The generated declarations expand to the same code as the
     * hand-written ones; this shows that nothing was lost on the way.
     * From the pass where the two take turns (pass()). */
    fprintf(out,
            "\nThe two FlatBuffers tables taking turns in one pass (ns per get, best of %d):\n\n"
            "| FlatBuffers declarations | raw get | raw get + verify() | typed get | "
            "verification cost | goal: each time within %.0f%% |\n|---|---:|---:|---:|---:|---|\n",
            opt.repeat, GOAL_GEN * 100);
    for (int f = F_FB; f <= F_FB_GEN; f++)
        fprintf(out, "| %s | %.0f | %.0f | %.0f | %.0f | |\n",
                f == F_FB ? "hand-written (BIRCH_FB_TABLE)" : "generated (`birch fbs`)",
                pair[f][C_RAW], pair[f][C_VERIFY], pair[f][C_TYPED],
                pair[f][C_TYPED] - pair[f][C_RAW]);
    double q[N_COLS];
    bool met = true;
    for (int c = 0; c < N_COLS; c++) {
        q[c] = pair[F_FB_GEN][c] / pair[F_FB][c];
        met = met && q[c] <= 1 + GOAL_GEN && q[c] >= 1 - GOAL_GEN;
    }
    fprintf(out, "| generated / hand-written | %.3f | %.3f | %.3f | | %s |\n", q[C_RAW], q[C_VERIFY],
            q[C_TYPED], judged(met));
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    if (mkdir(opt.dir, 0755) != 0 && errno != EEXIST)
        die("cannot create %s: %s", opt.dir, strerror(errno));
    char path[4096], machine[512], date[64], load_start[64], load_end[64];
    describe_machine(machine, sizeof machine);
    load_average(load_start, sizeof load_start);
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", localtime(&now));

    snprintf(path, sizeof path, "%s/db-formats", opt.dir);
    birch_options o;
    birch_options_init(&o);
    o.recreate = BIRCH_RECREATE_ALWAYS;
    birch_db *db;
    CHECK(birch_open(path, &o, &db));

    fprintf(stderr, "bench-formats: %llu records per table, %llu gets per cell, best of %d; %s\n",
            (unsigned long long)opt.keys, (unsigned long long)opt.gets, opt.repeat, machine);
    birch_typed t[N_FORMATS];
    size_t vsize[N_FORMATS];
    double t0 = now_ns();
    load(db, t, vsize);
    fprintf(stderr, "bench-formats: loaded in %.1f s\n", (now_ns() - t0) / 1e9);

    /* The same random keys for every cell. */
    uint32_t *keys = malloc(opt.gets * sizeof *keys);
    if (!keys)
        die("out of memory");
    uint64_t s = 7;
    for (uint64_t i = 0; i < opt.gets; i++)
        keys[i] = (uint32_t)(splitmix64(&s) % opt.keys);

    birch_txn *txn;
    CHECK(birch_txn_begin(db, BIRCH_TXN_READ, &txn));
    warm(txn, t);
    /* best: each table alone; pair: the two FlatBuffers tables together
     * (rows F_FB and F_FB_GEN only). */
    double best[N_FORMATS][N_COLS], pair[N_FORMATS][N_COLS];
    for (int f = 0; f < N_FORMATS; f++)
        for (int c = 0; c < N_COLS; c++)
            best[f][c] = pair[f][c] = 1e300;
    enum { N_PASSES = N_FORMATS + 1 }; /* each table, then the pair */
    for (int rep = 0; rep < opt.repeat; rep++) {
        /* The passes in rotating order: none is always first or last. */
        for (int i = 0; i < N_PASSES; i++) {
            int p = (rep + i) % N_PASSES;
            double ns[N_FORMATS][N_COLS];
            bool paired = p == N_FORMATS;
            int f0 = paired ? F_FB : p, nf = paired ? 2 : 1;
            pass(f0, nf, txn, t, keys, ns);
            double(*into)[N_COLS] = paired ? pair : best;
            for (int f = f0; f < f0 + nf; f++)
                for (int c = 0; c < N_COLS; c++)
                    if (ns[f][c] < into[f][c])
                        into[f][c] = ns[f][c];
        }
        fprintf(stderr, "bench-formats: pass %d of %d done\n", rep + 1, opt.repeat);
    }
    CHECK(birch_txn_commit(txn));
    load_average(load_end, sizeof load_end);
    free(keys);
    CHECK(birch_close(db));
    if (!opt.keep && remove(path) != 0)
        die("cannot remove %s: %s", path, strerror(errno));
    /* And the lock file beside it (PATH-lock), which birch_close leaves. */
    char lock[4200];
    snprintf(lock, sizeof lock, "%s-lock", path);
    if (!opt.keep && remove(lock) != 0 && errno != ENOENT)
        die("cannot remove %s: %s", lock, strerror(errno));

    printf("Value formats: %llu random gets over %llu keys in one read transaction, "
           "ns per get (best of %d)\n\n",
           (unsigned long long)opt.gets, (unsigned long long)opt.keys, opt.repeat);
    write_table(stdout, best, pair, vsize);
    snprintf(path, sizeof path, "%s/formats.md", opt.dir);
    FILE *md = fopen(path, "w");
    if (!md)
        die("cannot write %s: %s", path, strerror(errno));
    fprintf(md,
            "# birch value formats: the cost of verification\n\n- date: %s\n- command: `%s`\n"
            "- machine: %s\n- load average (1, 5, 15 min): %s at the start, %s at the end\n"
            "- workload: %llu records per table (u64 keys), %llu random gets "
            "per cell in one read transaction, each reading the u64 id; ns per get, best of "
            "%d\n\n",
            date, opt.command, machine, load_start, load_end, (unsigned long long)opt.keys,
            (unsigned long long)opt.gets, opt.repeat);
    write_table(md, best, pair, vsize);
    if (fclose(md) != 0)
        die("cannot write %s", path);
    fprintf(stderr, "bench-formats: done in %.1f s; table in %s\n", (now_ns() - t0) / 1e9, path);
    return 0;
}
