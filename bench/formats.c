/*
 * formats.c - the cost of verification: what a typed get (key format,
 * birch_get, the value format's verify, a guard) costs over a raw
 * birch_get, for a value of about 200 bytes in each value format.
 *
 *   birch-bench-formats [--keys N] [--gets N] [--repeat K] [--quick]
 *                       [--dir DIR] [--keep]
 *
 * One file, three tables of --keys records (default 100,000), keyed by
 * birch_key_u64 (record i has key i):
 *   pod          Rec, a 200-byte C struct (BIRCH_POD_FORMAT)
 *   archive      Profile: u64, f64, u32, a string, a vector of 16 u32 and
 *                an optional string (BIRCH_ARCHIVE)
 *   flatbuffers  Event: the same members as a FlatBuffers table
 *                (BIRCH_FB_TABLE), built with the builder macros
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
 * Verification cost = (typed - raw) / raw; the goal is below 0.20.
 *
 * Before timing, every record of every table is read once (the first touch
 * of a mapped page costs a page fault; it must not land on one column).
 * With --repeat K every cell is the best of K passes, the columns in
 * alternating order.  Output: a markdown table on stdout and in
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

enum { F_POD, F_ARCHIVE, F_FB, N_FORMATS };
static const char *const format_names[N_FORMATS] = {"pod", "archive", "flatbuffers"};
enum { C_RAW, C_VERIFY, C_TYPED, N_COLS };

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
    birch_txn *txn;
    CHECK(birch_txn_begin(db, BIRCH_TXN_WRITE, &txn));
    CHECK(birch_typed_open(db, txn, "pod", &birch_key_u64, &rec_format, BIRCH_CREATE, &t[F_POD]));
    CHECK(birch_typed_open(db, txn, "archive", &birch_key_u64, &Profile_format, BIRCH_CREATE,
                           &t[F_ARCHIVE]));
    CHECK(birch_typed_open(db, txn, "flatbuffers", &birch_key_u64, &event_format, BIRCH_CREATE,
                           &t[F_FB]));
    birch_fb_builder *b = birch_fb_builder_new();
    if (!b)
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
    }
    birch_fb_builder_free(b);
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
    default: return Event_id(Event_root(v.data, v.size, 0));
    }
}

/* The id through a guard's view. */
static inline uint64_t view_id(int f, const birch_guard *g)
{
    switch (f) {
    case F_POD: return ((const Rec *)g->view)->id;
    case F_ARCHIVE: return Profile_id((const Profile_arch *)g->view);
    default: return Event_id(Event_view(g));
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
                /* As birch_typed_get does before it verifies (api/typed.c). */
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
static double (*const runs[N_FORMATS])(int, birch_txn *, const birch_typed *, const uint32_t *,
                                       size_t) = {run_pod, run_archive, run_fb};

/* One pass of format f: every column gets all --gets keys, in blocks of
 * BLOCK, the columns taking turns block by block (in rotating order) so
 * that a slow spell of a shared machine hits them alike.  Column c reads
 * block (j + c * N_BLOCKS / N_COLS) at turn j: never the block another
 * column has just read, whose pages would still be in the CPU caches.
 * Fills ns[c] with ns per get. */
#define BLOCK 1000
static void pass(int f, birch_txn *txn, const birch_typed *t, const uint32_t *keys,
                 double ns[N_COLS])
{
    size_t nblocks = (size_t)((opt.gets + BLOCK - 1) / BLOCK);
    double total[N_COLS] = {0};
    for (size_t j = 0; j < nblocks; j++) {
        for (int k = 0; k < N_COLS; k++) {
            int c = (int)((j + (size_t)k) % N_COLS);
            size_t b = (j + (size_t)c * nblocks / N_COLS) % nblocks;
            size_t n = b + 1 < nblocks ? BLOCK : (size_t)(opt.gets - b * BLOCK);
            total[c] += runs[f](c, txn, t, keys + b * BLOCK, n);
        }
    }
    for (int c = 0; c < N_COLS; c++)
        ns[c] = total[c] / (double)opt.gets;
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

static void write_table(FILE *out, double best[N_FORMATS][N_COLS], const size_t vsize[N_FORMATS])
{
    fprintf(out, "| value format | value bytes | raw get (ns) | raw get + verify() (ns) | typed get "
                 "(ns) | verification cost (ns) | cost / raw get | goal < 0.20 |\n"
                 "|---|---:|---:|---:|---:|---:|---:|---|\n");
    for (int f = 0; f < N_FORMATS; f++) {
        double raw = best[f][C_RAW], cost = best[f][C_TYPED] - raw, q = cost / raw;
        fprintf(out, "| %s | %zu | %.0f | %.0f | %.0f | %.0f | %.3f | %s |\n", format_names[f],
                vsize[f], raw, best[f][C_VERIFY], best[f][C_TYPED], cost, q,
                opt.quick ? "not judged (--quick)" : q < 0.20 ? "met" : "**missed**");
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    if (mkdir(opt.dir, 0755) != 0 && errno != EEXIST)
        die("cannot create %s: %s", opt.dir, strerror(errno));
    char path[4096], machine[512], date[64];
    describe_machine(machine, sizeof machine);
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
    double best[N_FORMATS][N_COLS];
    for (int f = 0; f < N_FORMATS; f++)
        for (int c = 0; c < N_COLS; c++)
            best[f][c] = 1e300;
    for (int rep = 0; rep < opt.repeat; rep++) {
        for (int f = 0; f < N_FORMATS; f++) {
            double ns[N_COLS];
            pass(f, txn, &t[f], keys, ns);
            for (int c = 0; c < N_COLS; c++)
                if (ns[c] < best[f][c])
                    best[f][c] = ns[c];
        }
        fprintf(stderr, "bench-formats: pass %d of %d done\n", rep + 1, opt.repeat);
    }
    CHECK(birch_txn_commit(txn));
    free(keys);
    CHECK(birch_close(db));
    if (!opt.keep && remove(path) != 0)
        die("cannot remove %s: %s", path, strerror(errno));

    printf("Value formats: %llu random gets over %llu keys in one read transaction, "
           "ns per get (best of %d)\n\n",
           (unsigned long long)opt.gets, (unsigned long long)opt.keys, opt.repeat);
    write_table(stdout, best, vsize);
    snprintf(path, sizeof path, "%s/formats.md", opt.dir);
    FILE *md = fopen(path, "w");
    if (!md)
        die("cannot write %s: %s", path, strerror(errno));
    fprintf(md,
            "# birch value formats: the cost of verification\n\n- date: %s\n- command: `%s`\n"
            "- machine: %s\n- workload: %llu records per table (u64 keys), %llu random gets "
            "per cell in one read transaction, each reading the u64 id; ns per get, best of "
            "%d\n\n",
            date, opt.command, machine, (unsigned long long)opt.keys,
            (unsigned long long)opt.gets, opt.repeat);
    write_table(md, best, vsize);
    if (fclose(md) != 0)
        die("cannot write %s", path);
    fprintf(stderr, "bench-formats: done in %.1f s; table in %s\n", (now_ns() - t0) / 1e9, path);
    return 0;
}
