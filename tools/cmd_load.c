/*
 * cmd_load.c - birch load: a dump in the text format of db_dump / mdb_dump
 * (VERSION=3, bytevalue or print) from standard input into a database.
 *
 * Each section goes to the table its header names: birch_database=HEX
 * (written by birch dump for names with control bytes) if present, else
 * database=NAME taken as it is (as mdb_load takes it), else "main", LMDB's
 * unnamed database (see cmd_dump.c); -t TABLE overrides all.  Records are
 * committed in batches, so a failure leaves those committed before it in
 * a file that existed; a file this load created is removed (tool_close).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "tool.h"

#define LOAD_BATCH_RECORDS 10000u
#define LOAD_BATCH_BYTES ((size_t)64 << 20)

typedef struct loader {
    birch_db *db;
    FILE *in;
    const char *file;
    const char *force_table; /* -t */
    char *line;
    size_t cap;
    long lineno;
    /* the current section's header */
    char database[BIRCH_MAX_NAME_SIZE + 1]; /* database=, "" if none */
    char exact[BIRCH_MAX_NAME_SIZE + 1];    /* birch_database=, "" if none */
    const char *table;                      /* the table it goes to */
    int print_format;
    int dups;          /* duplicates=1: a multimap table, one pair per record */
    uint8_t *schema;
    size_t schema_len;
    uint64_t seq;      /* birch_sequence=N, 0 if none */
    /* the current batch */
    birch_txn *txn;
    birch_table *t;
    size_t batch_records, batch_bytes;
    uint8_t *last; /* the last key stored, to tell ascending keys */
    size_t last_len, last_cap;
    uint64_t records;
    tool_progress bar;
    uint64_t in_size;
} loader;

/* The next line without its newline; NULL at the end of the input or on
 * a read error (*err set). */
static char *next_line(loader *l, size_t *len, int *err)
{
    errno = 0;
    ssize_t n = getline(&l->line, &l->cap, l->in);
    if (n < 0) {
        *err = ferror(l->in) ? (errno ? errno : EIO) : 0;
        return NULL;
    }
    l->lineno++;
    if (n && l->line[n - 1] == '\n') l->line[--n] = 0;
    *len = (size_t)n;
    return l->line;
}

static int input_error(loader *l, const char *what)
{
    return tool_fail("input line %ld: %s", l->lineno, what);
}

static int read_error(int err)
{
    return tool_fail("reading standard input: %s", strerror(err));
}

/* A table name of the header: 1..255 bytes, no NUL. */
static int set_name(loader *l, char *dst, const char *name, size_t n)
{
    if (memchr(name, 0, n)) return input_error(l, "a table name cannot hold a NUL byte");
    if (n == 0 || n > BIRCH_MAX_NAME_SIZE) return input_error(l, "a table name has 1 to 255 bytes");
    memcpy(dst, name, n);
    dst[n] = 0;
    return TOOL_OK;
}

static int set_schema_line(loader *l, char *s, size_t n)
{
    birch_val v;
    if (!tool_from_hex(s, n, &v) || v.size > BIRCH_MAX_SCHEMA_SIZE) return input_error(l, "bad birch_schema");
    free(l->schema);
    if (!(l->schema = malloc(v.size + 1))) return tool_fail("out of memory");
    memcpy(l->schema, v.data, v.size);
    l->schema_len = v.size;
    return TOOL_OK;
}

static int header_line(loader *l, char *s, size_t n)
{
    birch_val v;
    if (strcmp(s, "VERSION=3") == 0 || strcmp(s, "type=btree") == 0) return TOOL_OK;
    if (strncmp(s, "VERSION=", 8) == 0) return input_error(l, "only VERSION=3 dumps are understood");
    if (strcmp(s, "format=bytevalue") == 0 || strcmp(s, "format=print") == 0) {
        l->print_format = strcmp(s, "format=print") == 0;
        return TOOL_OK;
    }
    if (strncmp(s, "format=", 7) == 0 || strncmp(s, "type=", 5) == 0) return input_error(l, "unknown format or type");
    if (strcmp(s, "duplicates=1") == 0) { /* LMDB's MDB_DUPSORT, birch's multimap tables */
        l->dups = 1;
        return TOOL_OK;
    }
    if (strncmp(s, "database=", 9) == 0) return set_name(l, l->database, s + 9, n - 9);
    if (strncmp(s, "birch_database=", 15) == 0) {
        if (!tool_from_hex(s + 15, n - 15, &v)) return input_error(l, "bad birch_database");
        return set_name(l, l->exact, v.data, v.size);
    }
    if (strncmp(s, "birch_schema=", 13) == 0) return set_schema_line(l, s + 13, n - 13);
    if (strncmp(s, "birch_sequence=", 15) == 0) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s + 15, &end, 10);
        if (errno || s[15] < '0' || s[15] > '9' || *end) return input_error(l, "bad birch_sequence"); /* digits only */
        l->seq = v;
        return TOOL_OK;
    }
    if (!memchr(s, '=', n)) return input_error(l, "expected KEY=VALUE in the header");
    return TOOL_OK; /* mapsize=, maxreaders=, db_pagesize=, ...: nothing to do */
}

/* Reads a header; *eof at the end of the input (no more sections). */
static int read_header(loader *l, int *eof)
{
    size_t n;
    char *s;
    int err = 0, first = 1;
    l->database[0] = l->exact[0] = 0;
    l->print_format = 0;
    l->dups = 0;
    free(l->schema);
    l->schema = NULL;
    l->schema_len = 0;
    l->seq = 0;
    *eof = 0;
    while ((s = next_line(l, &n, &err))) {
        if (first && n == 0) continue;
        if (first && strncmp(s, "VERSION=", 8) != 0) return input_error(l, "expected VERSION=3 (not a dump?)");
        first = 0;
        if (strcmp(s, "HEADER=END") == 0) {
            l->table = l->force_table ? l->force_table : l->exact[0] ? l->exact : l->database[0] ? l->database : "main";
            return TOOL_OK;
        }
        int code = header_line(l, s, n);
        if (code) return code;
    }
    if (err) return read_error(err);
    if (first) {
        *eof = 1;
        return TOOL_OK;
    }
    return input_error(l, "the input ends inside a header");
}

static int commit_batch(loader *l)
{
    if (!l->txn) return TOOL_OK;
    int rc = birch_txn_commit(l->txn);
    l->txn = NULL;
    l->batch_records = l->batch_bytes = 0;
    if (rc) return tool_fail_rc(rc, "%s: commit", l->file);
    return TOOL_OK;
}

/* Begins a write transaction (if none) and opens the section's table. */
static int begin_batch(loader *l)
{
    if (l->txn) return TOOL_OK;
    int rc = birch_txn_begin(l->db, BIRCH_TXN_WRITE, &l->txn);
    if (rc == BIRCH_OK) rc = birch_table_open(l->txn, l->table, BIRCH_CREATE | (l->dups ? BIRCH_MULTIMAP : 0), &l->t);
    if (rc) return tool_fail_rc(rc, "%s: table %s", l->file, l->table);
    return TOOL_OK;
}

/* The header's schema and sequence, set on the section's table.  A
 * sequence never goes down: ids the table gave since it was dumped are not
 * given again. */
static int set_table(loader *l)
{
    if (!l->schema && !l->seq) return TOOL_OK;
    int code = begin_batch(l);
    if (code) return code;
    int rc = l->schema ? birch_table_set_schema(l->txn, l->t, (birch_val){l->schema, l->schema_len}) : BIRCH_OK;
    if (rc) return tool_fail_rc(rc, "%s: schema", l->file);
    uint64_t now;
    rc = birch_sequence_get(l->txn, l->t, &now);
    if (rc == BIRCH_OK && l->seq > now) rc = birch_sequence_set(l->txn, l->t, l->seq);
    return rc ? tool_fail_rc(rc, "%s: sequence", l->file) : TOOL_OK;
}

/* birch's key order: memcmp, the shorter first on a tie (birch.h). */
static int key_cmp(birch_val a, const uint8_t *b, size_t bn)
{
    int c = memcmp(a.data, b, a.size < bn ? a.size : bn);
    return c ? c : (a.size > bn) - (a.size < bn);
}

/* Stores one record: APPEND while the keys ascend (full pages), else a
 * plain put. */
static int store(loader *l, birch_val k, birch_val v)
{
    int code = begin_batch(l);
    if (code) return code;
    int rc = BIRCH_EXISTS;
    if (l->dups) rc = birch_multi_put(l->txn, l->t, k, v, 0);
    else if (!l->last || key_cmp(k, l->last, l->last_len) > 0) rc = birch_put(l->txn, l->t, k, v, BIRCH_APPEND);
    if (rc == BIRCH_EXISTS && !l->dups) rc = birch_put(l->txn, l->t, k, v, 0);
    if (rc) return input_error(l, tool_errmsg(rc));
    if (k.size > l->last_cap) {
        uint8_t *p = realloc(l->last, k.size);
        if (!p) return tool_fail("out of memory");
        l->last = p;
        l->last_cap = k.size;
    }
    memcpy(l->last, k.data, k.size);
    l->last_len = k.size;
    l->records++;
    l->batch_bytes += k.size + v.size;
    if (++l->batch_records >= LOAD_BATCH_RECORDS || l->batch_bytes >= LOAD_BATCH_BYTES) {
        if (l->in_size) tool_progress_show(&l->bar, (uint64_t)ftello(l->in), l->in_size);
        return commit_batch(l);
    }
    return TOOL_OK;
}

/* One data line: " " and the encoded bytes, decoded in place. */
static int data_bytes(loader *l, char *s, size_t n, birch_val *out)
{
    if (n == 0 || s[0] != ' ') return input_error(l, "expected a data line (starting with a space) or DATA=END");
    if (l->print_format) tool_from_print(s + 1, n - 1, out);
    else if (!tool_from_hex(s + 1, n - 1, out)) return input_error(l, "bad hex");
    return TOOL_OK;
}

/* A key line and its value line. */
static int read_record(loader *l, char *s, size_t n)
{
    birch_val k, v;
    int err = 0, code = data_bytes(l, s, n, &k);
    if (code) return code;
    uint8_t *key = malloc(k.size ? k.size : 1); /* the line buffer is reused */
    if (!key) return tool_fail("out of memory");
    memcpy(key, k.data, k.size);
    k.data = key;
    if (!(s = next_line(l, &n, &err))) code = err ? read_error(err) : input_error(l, "the input ends after a key");
    else if ((code = data_bytes(l, s, n, &v)) == TOOL_OK) code = store(l, k, v);
    free(key);
    return code;
}

static int read_section(loader *l)
{
    int code = set_table(l), err = 0;
    size_t n;
    char *s;
    free(l->last);
    l->last = NULL;
    l->last_len = l->last_cap = 0;
    while (code == TOOL_OK && (s = next_line(l, &n, &err))) {
        if (strcmp(s, "DATA=END") == 0) return commit_batch(l);
        code = read_record(l, s, n);
    }
    if (code) return code;
    return err ? read_error(err) : input_error(l, "the input ends before DATA=END");
}

static int load_all(loader *l)
{
    int code, eof, sections = 0;
    while ((code = read_header(l, &eof)) == TOOL_OK && !eof) {
        if ((code = read_section(l))) break;
        sections++;
    }
    if (code == TOOL_OK && sections == 0) code = tool_fail("the input holds no dump");
    return code;
}

static int run_load(int argc, char **argv)
{
    tool_opts o;
    struct stat st;
    int code = tool_parse_opts("load", argc, argv, TOOL_OPT_TABLE | TOOL_OPT_CREATE, 1, "FILE", &o);
    if (code) return code;
    loader l = {.in = stdin, .file = o.pos[0], .force_table = o.table};
    if (isatty(STDIN_FILENO)) return tool_bad_usage("load", "reads a dump from standard input, which is a terminal");
    tool_created created; /* removed if the load fails */
    if ((code = tool_open(o.pos[0], TOOL_WRITE | (o.create ? TOOL_CREATE : TOOL_HINT), o.page_size, &l.db, &created)))
        return code;
    tool_progress_init(&l.bar, "load");
    if (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode)) l.in_size = (uint64_t)st.st_size;
    code = load_all(&l);
    tool_progress_end(&l.bar);
    if (l.txn) birch_txn_abort(l.txn);
    free(l.line);
    free(l.schema);
    free(l.last);
    if (code == TOOL_OK && l.bar.tty) fprintf(stderr, "%s: loaded %" PRIu64 " records\n", o.pos[0], l.records);
    return tool_close(l.db, o.pos[0], code, &created);
}

const tool_command tool_cmd_load = {
    "load", run_load, "load FILE [-t TABLE] [--create [--page-size N]]",
    "Reads a dump (db_dump / mdb_dump format, bytevalue or print) from standard\n"
    "input into FILE, which must exist unless --create is given (--page-size:\n"
    "the page size of a new file, a power of two from 512 to 65536).\n"
    "Each section goes to the table its header names: birch_database=HEX (as\n"
    "birch dump writes it), else database=NAME taken as it is (as mdb_load\n"
    "does), else table \"main\" (LMDB's unnamed database); -t TABLE overrides\n"
    "them.  A name with a NUL byte is refused.  Existing keys are overwritten.\n"
    "Commits every 10000 records; a failure leaves the records committed\n"
    "before it, but removes FILE if this load created it (--create).\n"
    "A section with duplicates=1 (LMDB's MDB_DUPSORT) goes to a multimap table;\n"
    "birch_sequence=N sets the table's sequence to N unless it is higher.\n"
    "  mdb_dump lmdb_dir | birch load --create my.birch      (LMDB's unnamed db)\n"
    "  mdb_dump -a lmdb_dir | birch load --create my.birch   (its named dbs)\n",
    0,
};
