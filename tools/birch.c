/*
 * birch.c - the birch command: inspect, check, copy, compact, dump and
 * load birch database files.  `birch --help` lists the commands and the
 * exit codes; `birch COMMAND --help` describes one.
 *
 * dump and load use the portable text format of db_dump / mdb_dump
 * (VERSION=3, format=bytevalue), so that `mdb_dump -a DIR | birch load F`
 * migrates an LMDB environment and `birch dump F | mdb_load DIR` goes back.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "birch.h"
#include "internal.h" /* bi_table_tree_stat */

/* Exit codes (documented in usage()). */
enum {
    EX_OK = 0,
    EX_FAIL = 1,   /* check found damage; get/del: no such key */
    EX_USAGE = 2,  /* bad command, option or argument */
    EX_OPEN = 3,   /* the file cannot be opened */
    EX_ERROR = 4   /* the operation failed */
};

#define LOAD_BATCH_RECORDS 10000u
#define LOAD_BATCH_BYTES ((size_t)64 << 20)

/* ---- Messages ------------------------------------------------------------------ */

static int fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("birch: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

static int bad_usage(const char *cmd, const char *what)
{
    fail(EX_USAGE, "%s: %s", cmd, what);
    fprintf(stderr, "Try 'birch %s --help'.\n", cmd);
    return EX_USAGE;
}

/* ---- Progress bar (only on a terminal) -------------------------------------------- */

typedef struct progress {
    const char *label;
    int tty;
    int shown;
    int last_pct;
} progress;

static void progress_init(progress *p, const char *label)
{
    p->label = label;
    p->tty = isatty(STDERR_FILENO);
    p->shown = 0;
    p->last_pct = -1;
}

static void progress_show(progress *p, uint64_t done, uint64_t total)
{
    if (!p->tty || !total) return;
    int pct = done >= total ? 100 : (int)(done * 100 / total);
    if (pct == p->last_pct) return;
    p->last_pct = pct;
    char bar[41];
    int fill = pct * 40 / 100;
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(40 - fill));
    bar[40] = 0;
    fprintf(stderr, "\r%s [%s] %3d%%", p->label, bar, pct);
    fflush(stderr);
    p->shown = 1;
}

static void progress_end(progress *p)
{
    if (p->shown) fputs("\r\033[K", stderr);
    p->shown = 0;
}

static int on_progress(uint64_t done, uint64_t total, void *ctx)
{
    progress_show(ctx, done, total);
    return 0;
}

/* ---- Opening -------------------------------------------------------------------- */

static int open_db(const char *path, int read_only, birch_db **db)
{
    birch_options o;
    birch_options_init(&o);
    o.read_only = read_only;
    if (!read_only) o.durability = BIRCH_DURABLE_NONE; /* made durable by birch_close */
    int rc = birch_open(path, &o, db);
    if (rc == BIRCH_NOTFOUND) return fail(EX_OPEN, "%s: no such file", path);
    if (rc) return fail(EX_OPEN, "%s: %s", path, birch_strerror(rc));
    return EX_OK;
}

static int close_db(birch_db *db, const char *path, int code)
{
    int rc = birch_close(db);
    if (rc && code == EX_OK) return fail(EX_ERROR, "%s: closing: %s", path, birch_strerror(rc));
    return code;
}

/* ---- Hex ------------------------------------------------------------------------ */

static void put_hex(FILE *f, const void *data, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        putc(digits[p[i] >> 4], f);
        putc(digits[p[i] & 15], f);
    }
}

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes n hex digits of s in place into *out (n/2 bytes); 0 if bad. */
static int from_hex(char *s, size_t n, uint8_t **out, size_t *len)
{
    if (n % 2) return 0;
    uint8_t *o = (uint8_t *)s;
    for (size_t i = 0; i < n; i += 2) {
        int a = hex_digit(s[i]), b = hex_digit(s[i + 1]);
        if (a < 0 || b < 0) return 0;
        o[i / 2] = (uint8_t)(a << 4 | b);
    }
    *out = o;
    *len = n / 2;
    return 1;
}

/* mdb_dump -p: printable bytes as they are, "\\" and "\xx" escapes; a
 * backslash before anything else is taken as itself. */
static int from_print(char *s, size_t n, uint8_t **out, size_t *len)
{
    uint8_t *o = (uint8_t *)s;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            o[j++] = (uint8_t)s[i];
        } else if (i + 1 < n && s[i + 1] == '\\') {
            o[j++] = '\\';
            i++;
        } else {
            int a = i + 2 < n ? hex_digit(s[i + 1]) : -1, b = i + 2 < n ? hex_digit(s[i + 2]) : -1;
            if (a < 0 || b < 0) {
                o[j++] = '\\'; /* some mdb_dump versions leave a backslash undoubled */
                continue;
            }
            o[j++] = (uint8_t)(a << 4 | b);
            i += 2;
        }
    }
    *out = o;
    *len = j;
    return 1;
}

/* ---- Schemas and formats ------------------------------------------------------------ */

/* What the table's schema says, as far as the command understands it. */
typedef struct formats {
    const birch_key_format *key; /* NULL: keys shown as hex */
    const char *value;           /* "string", "bytes", "pod", or "" (hex) */
    size_t pod_size;             /* pod: bytes per value, 0 if unknown */
} formats;

static const birch_key_format *const KEY_FORMATS[] = {
    &birch_key_u8, &birch_key_u16, &birch_key_u32, &birch_key_u64, &birch_key_i8,
    &birch_key_i16, &birch_key_i32, &birch_key_i64, &birch_key_f32, &birch_key_f64,
    &birch_key_bool, &birch_key_string, &birch_key_bytes,
};

/* The text after "\n<field> " up to the line's end, into buf. */
static int schema_field(birch_val s, const char *field, char *buf, size_t cap)
{
    size_t fl = strlen(field);
    const char *p = s.data, *end = p + s.size;
    for (const char *line = p; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *le = nl ? nl : end;
        if ((size_t)(le - line) > fl && memcmp(line, field, fl) == 0 && line[fl] == ' ') {
            snprintf(buf, cap, "%.*s", (int)(le - line - (ptrdiff_t)fl - 1), line + fl + 1);
            return 1;
        }
        line = le + 1;
    }
    return 0;
}

static formats formats_of(birch_val schema)
{
    formats f = {NULL, "", 0};
    char k[BIRCH_KEY_NAME_MAX], v[256];
    if (schema.size < 13 || memcmp(schema.data, "birch-typed ", 12) != 0) return f;
    if (schema_field(schema, "key", k, sizeof k))
        for (size_t i = 0; i < sizeof KEY_FORMATS / sizeof KEY_FORMATS[0]; i++)
            if (strcmp(KEY_FORMATS[i]->name, k) == 0) f.key = KEY_FORMATS[i];
    if (schema_field(schema, "value", v, sizeof v)) {
        if (strcmp(v, "string") == 0) f.value = "string";
        else if (strcmp(v, "bytes") == 0) f.value = "bytes";
        else if (strncmp(v, "pod(", 4) == 0) {
            f.value = "pod";
            const char *c = strchr(v, ',');
            if (c) f.pod_size = strtoull(c + 1, NULL, 10);
        }
    }
    return f;
}

/* A decoded key of a built-in format. */
typedef union keyval {
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    int8_t i8;
    int16_t i16;
    int32_t i32;
    int64_t i64;
    float f32;
    double f64;
    bool b;
    birch_val bytes;
} keyval;

static void print_text(FILE *out, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\') fputs("\\\\", out);
        else if (p[i] < 0x20 || p[i] == 0x7f) fprintf(out, "\\x%02x", p[i]);
        else putc(p[i], out);
    }
}

static void print_key(FILE *out, const formats *f, birch_val k)
{
    keyval kv;
    if (!f->key || birch_key_decode(f->key, k.data, k.size, &kv, NULL, 0) != BIRCH_OK) {
        put_hex(out, k.data, k.size);
        return;
    }
    switch (f->key->kind) {
    case BIRCH_KEY_U8: fprintf(out, "%u", (unsigned)kv.u8); break;
    case BIRCH_KEY_U16: fprintf(out, "%u", (unsigned)kv.u16); break;
    case BIRCH_KEY_U32: fprintf(out, "%" PRIu32, kv.u32); break;
    case BIRCH_KEY_U64: fprintf(out, "%" PRIu64, kv.u64); break;
    case BIRCH_KEY_I8: fprintf(out, "%d", (int)kv.i8); break;
    case BIRCH_KEY_I16: fprintf(out, "%d", (int)kv.i16); break;
    case BIRCH_KEY_I32: fprintf(out, "%" PRId32, kv.i32); break;
    case BIRCH_KEY_I64: fprintf(out, "%" PRId64, kv.i64); break;
    case BIRCH_KEY_F32: fprintf(out, "%.9g", (double)kv.f32); break;
    case BIRCH_KEY_F64: fprintf(out, "%.17g", kv.f64); break;
    case BIRCH_KEY_BOOL: fputs(kv.b ? "true" : "false", out); break;
    case BIRCH_KEY_STRING: print_text(out, kv.bytes.data, kv.bytes.size); break;
    default: put_hex(out, k.data, k.size); break;
    }
}

static void print_value(FILE *out, const formats *f, birch_val v)
{
    if (strcmp(f->value, "string") == 0) print_text(out, v.data, v.size);
    else put_hex(out, v.data, v.size);
}

/* Parses a command-line key for format f (NULL: the argument's bytes, or
 * hex with hex set) into buf. */
static int parse_number_key(const birch_key_format *f, const char *s, keyval *kv)
{
    char *end;
    errno = 0;
    int k = f->kind;
    if (k == BIRCH_KEY_BOOL) {
        if (strcmp(s, "true") && strcmp(s, "false")) return 0;
        kv->b = strcmp(s, "true") == 0;
        return 1;
    }
    if (k == BIRCH_KEY_F32 || k == BIRCH_KEY_F64) {
        double d = strtod(s, &end);
        if (k == BIRCH_KEY_F32) kv->f32 = (float)d;
        else kv->f64 = d;
        return *s && !*end;
    }
    if (k <= BIRCH_KEY_U64) {
        if (*s == '-') return 0;
        uint64_t u = strtoull(s, &end, 0);
        uint64_t max = k == BIRCH_KEY_U8 ? UINT8_MAX : k == BIRCH_KEY_U16 ? UINT16_MAX : k == BIRCH_KEY_U32 ? UINT32_MAX : UINT64_MAX;
        if (!*s || *end || errno || u > max) return 0;
        if (k == BIRCH_KEY_U8) kv->u8 = (uint8_t)u;
        else if (k == BIRCH_KEY_U16) kv->u16 = (uint16_t)u;
        else if (k == BIRCH_KEY_U32) kv->u32 = (uint32_t)u;
        else kv->u64 = u;
        return 1;
    }
    int64_t i = strtoll(s, &end, 0);
    int64_t lim = k == BIRCH_KEY_I8 ? INT8_MAX : k == BIRCH_KEY_I16 ? INT16_MAX : k == BIRCH_KEY_I32 ? INT32_MAX : INT64_MAX;
    if (!*s || *end || errno || i > lim || i < -lim - 1) return 0;
    if (k == BIRCH_KEY_I8) kv->i8 = (int8_t)i;
    else if (k == BIRCH_KEY_I16) kv->i16 = (int16_t)i;
    else if (k == BIRCH_KEY_I32) kv->i32 = (int32_t)i;
    else kv->i64 = i;
    return 1;
}

/* The bytes of a command-line argument: hex (decoded in place) or text. */
static int raw_arg(char *s, int hex, birch_val *out)
{
    if (!hex) {
        *out = (birch_val){s, strlen(s)};
        return 1;
    }
    uint8_t *p;
    size_t n;
    if (!from_hex(s, strlen(s), &p, &n)) return 0;
    *out = (birch_val){p, n};
    return 1;
}

static int parse_key(const formats *f, char *s, int hex, uint8_t *buf, size_t cap, birch_val *out)
{
    const birch_key_format *kf = f->key;
    if (!kf || hex || kf->kind == BIRCH_KEY_BYTES || kf->kind == BIRCH_KEY_STRING) return raw_arg(s, hex, out);
    keyval kv;
    size_t len;
    if (!parse_number_key(kf, s, &kv) || birch_key_encode(kf, &kv, buf, cap, &len) != BIRCH_OK) return 0;
    *out = (birch_val){buf, len};
    return 1;
}

/* ---- stat, tables, check ---------------------------------------------------------- */

typedef struct listing {
    char **names;
    size_t n, cap;
} listing;

static int add_name(const char *name, void *ctx)
{
    listing *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->names, cap * sizeof *v);
        if (!v) return 1;
        l->names = v;
        l->cap = cap;
    }
    if (!(l->names[l->n] = strdup(name))) return 1;
    l->n++;
    return 0;
}

static void listing_free(listing *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
}

static int list_tables(birch_txn *txn, listing *l)
{
    int rc = birch_table_list(txn, add_name, l);
    if (rc > 0) return fail(EX_ERROR, "out of memory");
    if (rc) return fail(EX_ERROR, "listing tables: %s", birch_strerror(rc));
    return EX_OK;
}

static void print_schema(birch_val s)
{
    if (!s.size) {
        printf("  schema      (none)\n");
        return;
    }
    const char *p = s.data, *end = p + s.size;
    const char *lead = "  schema      ";
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        fputs(lead, stdout);
        print_text(stdout, p, (size_t)(le - p));
        putchar('\n');
        lead = "              ";
        p = le + 1;
    }
}

static int stat_table(birch_txn *txn, const char *name)
{
    birch_table *t;
    birch_val schema;
    uint64_t count;
    bi_tree_stat ts;
    int rc = birch_table_open(txn, name, 0, &t);
    if (rc == BIRCH_OK) rc = birch_count(txn, t, &count);
    if (rc == BIRCH_OK) rc = birch_table_schema(txn, t, &schema);
    if (rc == BIRCH_OK) rc = bi_table_tree_stat(txn, t, &ts);
    if (rc) return fail(EX_ERROR, "table %s: %s", name, birch_strerror(rc));
    printf("table %s\n", name);
    printf("  entries     %" PRIu64 "\n", count);
    printf("  depth       %" PRIu64 "\n", ts.depth);
    printf("  pages       %" PRIu64 " (%" PRIu64 " branch, %" PRIu64 " leaf, %" PRIu64 " overflow)\n",
           ts.branch + ts.leaf + ts.overflow, ts.branch, ts.leaf, ts.overflow);
    print_schema(schema);
    return EX_OK;
}

static int stat_db(birch_db *db, const char *path)
{
    birch_stat st;
    struct stat fs;
    int rc = birch_stat_get(db, &st);
    if (rc) return fail(EX_ERROR, "%s: %s", path, birch_strerror(rc));
    printf("file          %s\n", path);
    if (stat(path, &fs) == 0) printf("file size     %lld bytes\n", (long long)fs.st_size);
    printf("page size     %" PRIu32 "\n", st.page_size);
    printf("pages         %" PRIu64 " in use, %" PRIu64 " free, %" PRIu64 " in all (2 meta)\n",
           st.page_count - st.free_pages, st.free_pages, st.page_count);
    printf("last txn      %" PRIu64 "\n", st.txnid);
    printf("tables        %" PRIu64 "\n", st.table_count);
    birch_txn *txn;
    if ((rc = birch_txn_begin(db, BIRCH_TXN_READ, &txn))) return fail(EX_ERROR, "%s: %s", path, birch_strerror(rc));
    listing l = {0};
    int code = list_tables(txn, &l);
    for (size_t i = 0; code == EX_OK && i < l.n; i++) code = stat_table(txn, l.names[i]);
    listing_free(&l);
    birch_txn_abort(txn);
    return code;
}

static int cmd_stat(int argc, char **argv)
{
    if (argc != 2) return bad_usage("stat", "expected one FILE");
    birch_db *db;
    int code = open_db(argv[1], 1, &db);
    if (code) return code;
    return close_db(db, argv[1], stat_db(db, argv[1]));
}

static int cmd_tables(int argc, char **argv)
{
    if (argc != 2) return bad_usage("tables", "expected one FILE");
    birch_db *db;
    birch_txn *txn;
    int code = open_db(argv[1], 1, &db);
    if (code) return code;
    int rc = birch_txn_begin(db, BIRCH_TXN_READ, &txn);
    if (rc) return close_db(db, argv[1], fail(EX_ERROR, "%s: %s", argv[1], birch_strerror(rc)));
    listing l = {0};
    code = list_tables(txn, &l);
    for (size_t i = 0; code == EX_OK && i < l.n; i++) puts(l.names[i]);
    listing_free(&l);
    birch_txn_abort(txn);
    return close_db(db, argv[1], code);
}

static int cmd_check(int argc, char **argv)
{
    if (argc != 2) return bad_usage("check", "expected one FILE");
    birch_db *db;
    int code = open_db(argv[1], 1, &db);
    if (code == EX_OPEN) return EX_FAIL; /* a file that does not open is not sound either */
    char msg[1024];
    int rc = birch_check(db, msg, sizeof msg);
    if (rc == BIRCH_OK) printf("%s: %s\n", argv[1], msg);
    else if (rc == BIRCH_ECORRUPT) code = fail(EX_FAIL, "%s: damaged: %s", argv[1], msg);
    else code = fail(EX_ERROR, "%s: %s", argv[1], birch_strerror(rc));
    return close_db(db, argv[1], code);
}

/* ---- copy, compact ------------------------------------------------------------------ */

static int cmd_copy(int argc, char **argv)
{
    unsigned flags = 0;
    int i = 1;
    if (i < argc && strcmp(argv[i], "--compact") == 0) {
        flags = BIRCH_COPY_COMPACT;
        i++;
    }
    if (argc - i != 2) return bad_usage("copy", "expected SRC and DST");
    const char *src = argv[i], *dst = argv[i + 1];
    birch_db *db;
    int code = open_db(src, 1, &db);
    if (code) return code;
    progress p;
    progress_init(&p, "copy");
    int rc = birch_copy(db, dst, flags, on_progress, &p);
    progress_end(&p);
    if (rc == BIRCH_EXISTS) code = fail(EX_ERROR, "%s: file exists (the copy must be a new file)", dst);
    else if (rc) code = fail(EX_ERROR, "copying %s to %s: %s", src, dst, birch_strerror(rc));
    return close_db(db, src, code);
}

static int cmd_compact(int argc, char **argv)
{
    if (argc != 2) return bad_usage("compact", "expected one FILE");
    struct stat before, after;
    if (stat(argv[1], &before) != 0) return fail(EX_OPEN, "%s: no such file", argv[1]);
    progress p;
    progress_init(&p, "compact");
    int rc = birch_compact(argv[1], NULL, on_progress, &p);
    progress_end(&p);
    if (rc == BIRCH_NOTFOUND) return fail(EX_OPEN, "%s: no such file", argv[1]);
    if (rc == BIRCH_EBUSY || rc == BIRCH_ENOTDB || rc == BIRCH_EVERSION)
        return fail(EX_OPEN, "%s: %s", argv[1], birch_strerror(rc));
    if (rc) return fail(EX_ERROR, "%s: %s", argv[1], birch_strerror(rc));
    if (p.tty && stat(argv[1], &after) == 0)
        fprintf(stderr, "%s: %lld -> %lld bytes\n", argv[1], (long long)before.st_size, (long long)after.st_size);
    return EX_OK;
}

/* ---- Options shared by dump, load, get, put, del, scan --------------------------------- */

typedef struct opts {
    const char *table; /* -t */
    int hex;           /* --hex */
    uint64_t limit;    /* -n (scan) */
    const char *prefix, *from; /* scan */
    char *pos[4];      /* positional arguments */
    int npos;
} opts;

static int parse_opts(const char *cmd, int argc, char **argv, opts *o, int max_pos)
{
    memset(o, 0, sizeof *o);
    o->limit = UINT64_MAX;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_arg = i + 1 < argc;
        if ((strcmp(a, "-t") == 0 || strcmp(a, "--table") == 0) && has_arg) o->table = argv[++i];
        else if (strcmp(a, "--hex") == 0) o->hex = 1;
        else if (strcmp(a, "--prefix") == 0 && has_arg) o->prefix = argv[++i];
        else if (strcmp(a, "--from") == 0 && has_arg) o->from = argv[++i];
        else if (strcmp(a, "-n") == 0 && has_arg) {
            char *end;
            o->limit = strtoull(argv[++i], &end, 10);
            if (*end || !*argv[i]) return bad_usage(cmd, "-n needs a number");
        } else if (a[0] == '-' && a[1]) {
            char msg[300];
            snprintf(msg, sizeof msg, "unknown option or missing argument: %s", a);
            return bad_usage(cmd, msg);
        } else if (o->npos < max_pos) o->pos[o->npos++] = argv[i];
        else return bad_usage(cmd, "too many arguments");
    }
    return EX_OK;
}

/* ---- dump ---------------------------------------------------------------------------- */

static int dump_table(birch_txn *txn, const char *name, uint64_t mapsize)
{
    birch_table *t;
    birch_val schema, k, v;
    birch_cursor *cur;
    int rc = birch_table_open(txn, name, 0, &t);
    if (rc == BIRCH_NOTFOUND) return fail(EX_ERROR, "no table %s", name);
    if (rc == BIRCH_OK) rc = birch_table_schema(txn, t, &schema);
    if (rc == BIRCH_OK) rc = birch_cursor_open(txn, t, &cur);
    if (rc) return fail(EX_ERROR, "table %s: %s", name, birch_strerror(rc));
    if (strchr(name, '\n')) return fail(EX_ERROR, "table %s: a name with a newline cannot be dumped", name);
    printf("VERSION=3\nformat=bytevalue\ndatabase=%s\ntype=btree\nmapsize=%" PRIu64 "\n", name, mapsize);
    if (schema.size) {
        fputs("birch_schema=", stdout);
        put_hex(stdout, schema.data, schema.size);
        putchar('\n');
    }
    puts("HEADER=END");
    for (rc = birch_cursor_first(cur); rc == BIRCH_OK; rc = birch_cursor_next(cur)) {
        if ((rc = birch_cursor_get(cur, &k, &v))) break;
        putchar(' ');
        put_hex(stdout, k.data, k.size);
        fputs("\n ", stdout);
        put_hex(stdout, v.data, v.size);
        putchar('\n');
    }
    birch_cursor_close(cur);
    if (rc != BIRCH_NOTFOUND) return fail(EX_ERROR, "table %s: %s", name, birch_strerror(rc));
    puts("DATA=END");
    return EX_OK;
}

static int cmd_dump(int argc, char **argv)
{
    opts o;
    int code = parse_opts("dump", argc, argv, &o, 1);
    if (code) return code;
    if (o.npos != 1) return bad_usage("dump", "expected one FILE");
    birch_db *db;
    birch_txn *txn;
    if ((code = open_db(o.pos[0], 1, &db))) return code;
    int rc = birch_txn_begin(db, BIRCH_TXN_READ, &txn);
    if (rc) return close_db(db, o.pos[0], fail(EX_ERROR, "%s: %s", o.pos[0], birch_strerror(rc)));
    birch_stat st;
    birch_stat_get(db, &st);
    /* LMDB's map must hold the data: twice the file, at least 10 MiB. */
    uint64_t mapsize = ((st.page_count * st.page_size * 2 + (10u << 20)) + 4095) / 4096 * 4096;
    listing l = {0};
    if (o.table) code = add_name(o.table, &l) ? fail(EX_ERROR, "out of memory") : EX_OK;
    else code = list_tables(txn, &l);
    for (size_t i = 0; code == EX_OK && i < l.n; i++) code = dump_table(txn, l.names[i], mapsize);
    listing_free(&l);
    birch_txn_abort(txn);
    if (fflush(stdout) != 0 && code == EX_OK) code = fail(EX_ERROR, "writing the dump: %s", strerror(errno));
    return close_db(db, o.pos[0], code);
}

/* ---- load ---------------------------------------------------------------------------- */

typedef struct loader {
    birch_db *db;
    FILE *in;
    const char *file;
    const char *force_table; /* -t */
    char *line;
    size_t cap;
    long lineno;
    /* the current section */
    char table[BIRCH_MAX_NAME_SIZE + 1];
    int print_format;
    uint8_t *schema;
    size_t schema_len;
    /* the current batch */
    birch_txn *txn;
    birch_table *t;
    size_t batch_records, batch_bytes;
    uint8_t *last;
    size_t last_len, last_cap;
    uint64_t records;
    progress bar;
    uint64_t in_size;
} loader;

/* The next line without its newline; NULL at the end of the input. */
static char *next_line(loader *l, size_t *len)
{
    ssize_t n = getline(&l->line, &l->cap, l->in);
    if (n < 0) return NULL;
    l->lineno++;
    if (n && l->line[n - 1] == '\n') l->line[--n] = 0;
    *len = (size_t)n;
    return l->line;
}

static int input_error(loader *l, const char *what)
{
    return fail(EX_ERROR, "input line %ld: %s", l->lineno, what);
}

static int header_line(loader *l, char *s, size_t n)
{
    if (strcmp(s, "VERSION=3") == 0 || strcmp(s, "type=btree") == 0) return EX_OK;
    if (strncmp(s, "VERSION=", 8) == 0) return input_error(l, "only VERSION=3 dumps are understood");
    if (strcmp(s, "format=bytevalue") == 0 || strcmp(s, "format=print") == 0) {
        l->print_format = strcmp(s, "format=print") == 0;
        return EX_OK;
    }
    if (strncmp(s, "format=", 7) == 0 || strncmp(s, "type=", 5) == 0) return input_error(l, "unknown format or type");
    if (strcmp(s, "duplicates=1") == 0)
        return input_error(l, "the dump holds duplicate keys (LMDB MDB_DUPSORT), which birch tables cannot");
    if (strncmp(s, "database=", 9) == 0) {
        if (n - 9 == 0 || n - 9 > BIRCH_MAX_NAME_SIZE) return input_error(l, "bad database name");
        memcpy(l->table, s + 9, n - 9 + 1);
        return EX_OK;
    }
    if (strncmp(s, "birch_schema=", 13) == 0) {
        uint8_t *p;
        size_t len;
        if (!from_hex(s + 13, n - 13, &p, &len) || len > BIRCH_MAX_SCHEMA_SIZE) return input_error(l, "bad birch_schema");
        free(l->schema);
        if (!(l->schema = malloc(len + 1))) return fail(EX_ERROR, "out of memory");
        memcpy(l->schema, p, len);
        l->schema_len = len;
        return EX_OK;
    }
    if (!strchr(s, '=')) return input_error(l, "expected KEY=VALUE in the header");
    return EX_OK; /* mapsize=, maxreaders=, db_pagesize=, ...: nothing to do */
}

/* Reads a header; 1 at the end of the input (no more sections). */
static int read_header(loader *l, int *eof)
{
    size_t n;
    char *s;
    snprintf(l->table, sizeof l->table, "main");
    l->print_format = 0;
    free(l->schema);
    l->schema = NULL;
    l->schema_len = 0;
    *eof = 0;
    int first = 1;
    while ((s = next_line(l, &n))) {
        if (first && n == 0) continue;
        if (first && strncmp(s, "VERSION=", 8) != 0) return input_error(l, "expected VERSION=3 (not a dump?)");
        first = 0;
        if (strcmp(s, "HEADER=END") == 0) return EX_OK;
        int code = header_line(l, s, n);
        if (code) return code;
    }
    if (first) {
        *eof = 1;
        return EX_OK;
    }
    return input_error(l, "the input ends inside a header");
}

static int commit_batch(loader *l)
{
    if (!l->txn) return EX_OK;
    int rc = birch_txn_commit(l->txn);
    l->txn = NULL;
    l->batch_records = l->batch_bytes = 0;
    if (rc) return fail(EX_ERROR, "%s: commit: %s", l->file, birch_strerror(rc));
    return EX_OK;
}

/* Begins a write transaction (if none) and opens the section's table. */
static int begin_batch(loader *l)
{
    if (l->txn) return EX_OK;
    int rc = birch_txn_begin(l->db, BIRCH_TXN_WRITE, &l->txn);
    const char *name = l->force_table ? l->force_table : l->table;
    if (rc == BIRCH_OK) rc = birch_table_open(l->txn, name, BIRCH_CREATE, &l->t);
    if (rc) return fail(EX_ERROR, "%s: table %s: %s", l->file, name, birch_strerror(rc));
    return EX_OK;
}

static int set_schema(loader *l)
{
    if (!l->schema) return EX_OK;
    int code = begin_batch(l);
    if (code) return code;
    int rc = birch_table_set_schema(l->txn, l->t, (birch_val){l->schema, l->schema_len});
    return rc ? fail(EX_ERROR, "%s: schema: %s", l->file, birch_strerror(rc)) : EX_OK;
}

/* Stores one record: APPEND while the keys ascend (full pages), else a
 * plain put. */
static int store(loader *l, birch_val k, birch_val v)
{
    int code = begin_batch(l);
    if (code) return code;
    int rc = BIRCH_EXISTS;
    if (!l->last || bi_key_cmp(k.data, k.size, l->last, l->last_len) > 0) rc = birch_put(l->txn, l->t, k, v, BIRCH_APPEND);
    if (rc == BIRCH_EXISTS) rc = birch_put(l->txn, l->t, k, v, 0);
    if (rc) return input_error(l, birch_strerror(rc));
    if (k.size > l->last_cap) {
        uint8_t *p = realloc(l->last, k.size);
        if (!p) return fail(EX_ERROR, "out of memory");
        l->last = p;
        l->last_cap = k.size;
    }
    memcpy(l->last, k.data, k.size);
    l->last_len = k.size;
    l->records++;
    l->batch_bytes += k.size + v.size;
    if (++l->batch_records >= LOAD_BATCH_RECORDS || l->batch_bytes >= LOAD_BATCH_BYTES) {
        if (l->in_size) progress_show(&l->bar, (uint64_t)ftello(l->in), l->in_size);
        return commit_batch(l);
    }
    return EX_OK;
}

/* One data line: " " and the encoded bytes, decoded in place. */
static int data_bytes(loader *l, char *s, size_t n, birch_val *out)
{
    if (n == 0 || s[0] != ' ') return input_error(l, "expected a data line (starting with a space) or DATA=END");
    uint8_t *p;
    size_t len;
    int ok = l->print_format ? from_print(s + 1, n - 1, &p, &len) : from_hex(s + 1, n - 1, &p, &len);
    if (!ok) return input_error(l, l->print_format ? "bad escape" : "bad hex");
    *out = (birch_val){p, len};
    return EX_OK;
}

static int read_section(loader *l)
{
    int code = set_schema(l);
    size_t n;
    char *s;
    free(l->last);
    l->last = NULL;
    l->last_len = l->last_cap = 0;
    while (code == EX_OK && (s = next_line(l, &n))) {
        if (strcmp(s, "DATA=END") == 0) return commit_batch(l);
        birch_val k;
        if ((code = data_bytes(l, s, n, &k))) break;
        uint8_t *key = malloc(k.size ? k.size : 1); /* the line buffer is reused */
        if (!key) return fail(EX_ERROR, "out of memory");
        memcpy(key, k.data, k.size);
        k.data = key;
        birch_val v;
        if (!(s = next_line(l, &n))) code = input_error(l, "the input ends after a key");
        else if ((code = data_bytes(l, s, n, &v)) == EX_OK) code = store(l, k, v);
        free(key);
    }
    return code ? code : input_error(l, "the input ends before DATA=END");
}

static int load_all(loader *l)
{
    int code, eof, sections = 0;
    while ((code = read_header(l, &eof)) == EX_OK && !eof) {
        if ((code = read_section(l))) break;
        sections++;
    }
    if (code == EX_OK && sections == 0) code = fail(EX_ERROR, "the input holds no dump");
    return code;
}

static int cmd_load(int argc, char **argv)
{
    opts o;
    int code = parse_opts("load", argc, argv, &o, 1);
    if (code) return code;
    if (o.npos != 1) return bad_usage("load", "expected one FILE");
    loader l = {.in = stdin, .file = o.pos[0], .force_table = o.table};
    if (o.table && (!*o.table || strlen(o.table) > BIRCH_MAX_NAME_SIZE)) return bad_usage("load", "bad table name");
    if (isatty(STDIN_FILENO)) return bad_usage("load", "reads a dump from standard input, which is a terminal");
    if ((code = open_db(o.pos[0], 0, &l.db))) return code;
    progress_init(&l.bar, "load");
    struct stat st;
    if (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode)) l.in_size = (uint64_t)st.st_size;
    code = load_all(&l);
    progress_end(&l.bar);
    if (l.txn) birch_txn_abort(l.txn);
    free(l.line);
    free(l.schema);
    free(l.last);
    if (code == EX_OK && l.bar.tty) fprintf(stderr, "%s: loaded %" PRIu64 " records\n", o.pos[0], l.records);
    return close_db(l.db, o.pos[0], code);
}

/* ---- get, put, del, scan ---------------------------------------------------------------- */

/* Opens FILE and begins a transaction on TABLE, and reads its formats. */
typedef struct session {
    birch_db *db;
    birch_txn *txn;
    birch_table *t;
    formats f;
    const char *path;
} session;

static int session_open(session *s, const char *path, const char *table, int write)
{
    s->path = path;
    int code = open_db(path, !write, &s->db);
    if (code) return code;
    int rc = birch_txn_begin(s->db, write ? BIRCH_TXN_WRITE : BIRCH_TXN_READ, &s->txn);
    if (rc == BIRCH_OK) rc = birch_table_open(s->txn, table, write ? BIRCH_CREATE : 0, &s->t);
    birch_val schema = {NULL, 0};
    if (rc == BIRCH_OK) rc = birch_table_schema(s->txn, s->t, &schema);
    if (rc) {
        birch_txn_abort(s->txn);
        code = rc == BIRCH_NOTFOUND ? fail(EX_FAIL, "%s: no table %s", path, table)
                                    : fail(EX_ERROR, "%s: %s", path, birch_strerror(rc));
        return close_db(s->db, path, code);
    }
    s->f = formats_of(schema);
    return EX_OK;
}

static int session_end(session *s, int code, int commit)
{
    int rc = commit && code == EX_OK ? birch_txn_commit(s->txn) : (birch_txn_abort(s->txn), BIRCH_OK);
    if (rc) code = fail(EX_ERROR, "%s: commit: %s", s->path, birch_strerror(rc));
    return close_db(s->db, s->path, code);
}

static int key_arg(const char *cmd, session *s, char *arg, int hex, uint8_t *buf, size_t cap, birch_val *k)
{
    if (parse_key(&s->f, arg, hex, buf, cap, k) && k->size) return EX_OK;
    char msg[300];
    snprintf(msg, sizeof msg, "bad key '%.200s'%s", arg, s->f.key ? " for the table's key format" : "");
    return bad_usage(cmd, msg);
}

static int cmd_get(int argc, char **argv)
{
    opts o;
    int code = parse_opts("get", argc, argv, &o, 3);
    if (code) return code;
    if (o.npos != 3) return bad_usage("get", "expected FILE TABLE KEY");
    session s;
    if ((code = session_open(&s, o.pos[0], o.pos[1], 0))) return code;
    uint8_t buf[64];
    birch_val k, v;
    if ((code = key_arg("get", &s, o.pos[2], o.hex, buf, sizeof buf, &k))) return session_end(&s, code, 0);
    int rc = birch_get(s.txn, s.t, k, &v);
    if (rc == BIRCH_NOTFOUND) code = fail(EX_FAIL, "no such key");
    else if (rc) code = fail(EX_ERROR, "%s", birch_strerror(rc));
    else {
        print_value(stdout, &s.f, v);
        putchar('\n');
    }
    return session_end(&s, code, 0);
}

static int value_arg(session *s, char *arg, int hex, birch_val *v)
{
    int as_hex = hex || strcmp(s->f.value, "pod") == 0;
    if (!raw_arg(arg, as_hex, v)) return bad_usage("put", "bad hex value");
    if (strcmp(s->f.value, "pod") == 0 && s->f.pod_size && v->size != s->f.pod_size)
        return bad_usage("put", "the value's size does not match the table's pod format");
    return EX_OK;
}

static int cmd_put(int argc, char **argv)
{
    opts o;
    int code = parse_opts("put", argc, argv, &o, 4);
    if (code) return code;
    if (o.npos != 4) return bad_usage("put", "expected FILE TABLE KEY VALUE");
    session s;
    if ((code = session_open(&s, o.pos[0], o.pos[1], 1))) return code;
    uint8_t buf[64];
    birch_val k, v;
    if ((code = key_arg("put", &s, o.pos[2], o.hex, buf, sizeof buf, &k)) ||
        (code = value_arg(&s, o.pos[3], o.hex, &v)))
        return session_end(&s, code, 0);
    int rc = birch_put(s.txn, s.t, k, v, 0);
    if (rc) code = fail(EX_ERROR, "%s", birch_strerror(rc));
    return session_end(&s, code, 1);
}

static int cmd_del(int argc, char **argv)
{
    opts o;
    int code = parse_opts("del", argc, argv, &o, 3);
    if (code) return code;
    if (o.npos != 3) return bad_usage("del", "expected FILE TABLE KEY");
    session s;
    if ((code = session_open(&s, o.pos[0], o.pos[1], 1))) return code;
    uint8_t buf[64];
    birch_val k;
    if ((code = key_arg("del", &s, o.pos[2], o.hex, buf, sizeof buf, &k))) return session_end(&s, code, 0);
    int rc = birch_del(s.txn, s.t, k);
    if (rc == BIRCH_NOTFOUND) code = fail(EX_FAIL, "no such key");
    else if (rc) code = fail(EX_ERROR, "%s", birch_strerror(rc));
    return session_end(&s, code, 1);
}

static int has_prefix(birch_val k, birch_val p)
{
    return k.size >= p.size && memcmp(k.data, p.data, p.size) == 0;
}

static int scan_rows(session *s, birch_cursor *cur, birch_val from, birch_val prefix, uint64_t limit)
{
    birch_val k, v;
    uint64_t n = 0;
    int rc = from.size ? birch_cursor_seek(cur, from) : birch_cursor_first(cur);
    for (; rc == BIRCH_OK && n < limit; rc = birch_cursor_next(cur), n++) {
        if ((rc = birch_cursor_get(cur, &k, &v))) break;
        if (prefix.size && !has_prefix(k, prefix)) break;
        print_key(stdout, &s->f, k);
        putchar('\t');
        print_value(stdout, &s->f, v);
        putchar('\n');
    }
    return rc == BIRCH_OK || rc == BIRCH_NOTFOUND ? EX_OK : fail(EX_ERROR, "%s", birch_strerror(rc));
}

static int cmd_scan(int argc, char **argv)
{
    opts o;
    int code = parse_opts("scan", argc, argv, &o, 2);
    if (code) return code;
    if (o.npos != 2) return bad_usage("scan", "expected FILE TABLE");
    if (o.prefix && o.from) return bad_usage("scan", "give --prefix or --from, not both");
    session s;
    if ((code = session_open(&s, o.pos[0], o.pos[1], 0))) return code;
    uint8_t buf[64];
    birch_val start = {NULL, 0}, prefix = {NULL, 0};
    char *arg = o.prefix ? (char *)o.prefix : (char *)o.from;
    if (arg) {
        if (!parse_key(&s.f, arg, o.hex, buf, sizeof buf, &start)) return session_end(&s, bad_usage("scan", "bad key"), 0);
        if (o.prefix) prefix = start;
    }
    birch_cursor *cur;
    int rc = birch_cursor_open(s.txn, s.t, &cur);
    if (rc) return session_end(&s, fail(EX_ERROR, "%s", birch_strerror(rc)), 0);
    code = scan_rows(&s, cur, start, prefix, o.limit);
    birch_cursor_close(cur);
    return session_end(&s, code, 0);
}

/* ---- Commands and help --------------------------------------------------------------- */

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *synopsis;
    const char *help;
} command;

static const command COMMANDS[] = {
    {"stat", cmd_stat, "stat FILE",
     "Shows the file size, page size, pages in use and free, the last transaction,\n"
     "and for each table its entries, tree depth, pages and schema text.\n"},
    {"tables", cmd_tables, "tables FILE", "Lists the tables, one name a line, in name order.\n"},
    {"check", cmd_check, "check FILE",
     "Verifies the whole file (birch_check): every page's checksum and structure.\n"
     "Exit 0 and 'ok: N pages checked' if sound, 1 and the problem if not.\n"},
    {"copy", cmd_copy, "copy [--compact] SRC DST",
     "Writes a consistent copy of SRC to the new file DST (which must not exist).\n"
     "--compact leaves out the free pages.  SRC must not be open for writing.\n"},
    {"compact", cmd_compact, "compact FILE",
     "Rewrites FILE without its free pages (copy, then rename over FILE; a crash\n"
     "leaves the old file or the new one).  FILE must not be open elsewhere.\n"},
    {"dump", cmd_dump, "dump FILE [-t TABLE]",
     "Writes every table (or only TABLE) to standard output in the portable text\n"
     "format of db_dump / mdb_dump: VERSION=3, format=bytevalue, database=NAME,\n"
     "type=btree, HEADER=END, then one line per key and one per value, each a\n"
     "space and the bytes in hex, then DATA=END.  A table's schema is kept in a\n"
     "birch_schema=HEX header line (mdb_load warns that it ignores it).\n"
     "  birch dump my.birch | mdb_load -f /dev/stdin lmdb_dir   (to LMDB)\n"},
    {"load", cmd_load, "load FILE [-t TABLE]",
     "Reads a dump (db_dump / mdb_dump format, bytevalue or print) from standard\n"
     "input into FILE, creating it if needed.  Each section goes to the table its\n"
     "database= line names, or to TABLE with -t, or to table \"main\" if it names\n"
     "none (LMDB's main database).  Existing keys are overwritten.  Commits every\n"
     "10000 records; a failure leaves the records committed before it.\n"
     "  mdb_dump -a lmdb_dir | birch load my.birch             (from LMDB)\n"
     "Sections with duplicates=1 (MDB_DUPSORT) are refused.\n"},
    {"get", cmd_get, "get FILE TABLE KEY [--hex]",
     "Prints the value of KEY.  Exit 1 if there is none.\n"},
    {"put", cmd_put, "put FILE TABLE KEY VALUE [--hex]",
     "Stores KEY -> VALUE (creating the table if needed).\n"},
    {"del", cmd_del, "del FILE TABLE KEY [--hex]", "Deletes KEY.  Exit 1 if there is none.\n"},
    {"scan", cmd_scan, "scan FILE TABLE [--prefix KEY | --from KEY] [-n N] [--hex]",
     "Prints KEY<TAB>VALUE lines in key order: all, those starting with the\n"
     "prefix, or from the first key >= KEY; at most N.\n"},
};

static const char KEY_HELP[] =
    "Keys and values: a table whose schema (typed tables, birch_typed.h) names a\n"
    "built-in key format takes and shows keys in it (u8..u64, i8..i64, f32, f64,\n"
    "bool as true/false, string as text); other keys are text on the command line\n"
    "and hex in output.  Values of string tables are text; others are shown as\n"
    "hex, and a pod value is given as hex of its exact size.  --hex gives keys\n"
    "and values as hex.  Non-printable bytes of text are shown as \\xNN.\n";

static const char EXIT_HELP[] =
    "Exit codes:\n"
    "  0  success\n"
    "  1  check found damage (or the file does not open); get/del: no such key;\n"
    "     no such table\n"
    "  2  bad command, option or argument\n"
    "  3  the file cannot be opened: missing, not a birch database, unknown\n"
    "     version, damaged meta pages, or locked by another process\n"
    "  4  the operation failed: I/O error, full disk, damaged page, bad input\n";

static void usage(FILE *f)
{
    fprintf(f, "usage: birch COMMAND ARGS...   (birch %s)\n\nCommands:\n", birch_version());
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) fprintf(f, "  birch %s\n", COMMANDS[i].synopsis);
    fprintf(f, "\n'birch COMMAND --help' describes one.  Long operations (load, copy,\n"
               "compact) show a progress bar when standard error is a terminal.\n\n%s\n%s",
            KEY_HELP, EXIT_HELP);
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EX_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EX_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("birch %s\n", birch_version());
        return EX_OK;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        const command *c = &COMMANDS[i];
        if (strcmp(argv[1], c->name) != 0) continue;
        if (wants_help(argc - 1, argv + 1)) {
            printf("usage: birch %s\n\n%s", c->synopsis, c->help);
            if (c->run == cmd_get || c->run == cmd_put || c->run == cmd_del || c->run == cmd_scan)
                printf("\n%s", KEY_HELP);
            printf("\n%s", EXIT_HELP);
            return EX_OK;
        }
        return c->run(argc - 1, argv + 1);
    }
    fail(EX_USAGE, "unknown command '%s'", argv[1]);
    fputs("Try 'birch --help'.\n", stderr);
    return EX_USAGE;
}
