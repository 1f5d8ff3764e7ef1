/*
 * util.c - what every command of the birch command uses: messages and
 * exit codes, output whose every write is checked, decimal numbers,
 * options, opening database files, the progress bar, and table listings.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool.h"

/* ---- Messages ---------------------------------------------------------------------- */

/* rc is what a birch call just returned: its detail (birch_errmsg) says
 * more than the code's description (which option, path, OS reason, which
 * check failed); a positive rc (a cancelled progress callback) has none. */
const char *tool_errmsg(int rc)
{
    return rc < 0 ? birch_errmsg() : birch_strerror(rc);
}

static void vmessage(const char *who, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: ", who);
    vfprintf(stderr, fmt, ap);
}

int tool_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("birch", fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return TOOL_FAIL;
}

int tool_fail_rc(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("birch", fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", tool_errmsg(rc));
    return TOOL_FAIL;
}

int tool_bad_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "birch %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'birch %s --help'.\n", cmd);
    return TOOL_USAGE;
}

/* ---- Checked output ------------------------------------------------------------------ */

void tool_out_init(tool_out *o)
{
    o->f = stdout;
    o->err = 0;
}

/* Records the first failure; errno says why (EIO if the C library left it 0). */
static int out_failed(tool_out *o)
{
    if (!o->err) o->err = errno ? errno : EIO;
    return -1;
}

int tool_write(tool_out *o, const void *data, size_t n)
{
    if (o->err) return -1;
    if (n && fwrite(data, 1, n, o->f) != n) return out_failed(o);
    return 0;
}

int tool_puts(tool_out *o, const char *s)
{
    return tool_write(o, s, strlen(s));
}

int tool_putc(tool_out *o, int c)
{
    if (o->err) return -1;
    return putc(c, o->f) == EOF ? out_failed(o) : 0;
}

int tool_printf(tool_out *o, const char *fmt, ...)
{
    if (o->err) return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(o->f, fmt, ap);
    va_end(ap);
    return n < 0 ? out_failed(o) : 0;
}

int tool_out_end(tool_out *o, int code)
{
    if (!o->err && fflush(o->f) != 0) out_failed(o);
    if (!o->err && ferror(o->f)) o->err = EIO; /* a failure stdio kept to itself */
    if (!o->err || code != TOOL_OK) return code;
    return tool_fail("writing to standard output: %s", strerror(o->err));
}

/* ---- Decimal numbers ----------------------------------------------------------------- */

/* Digits only, without overflow; *out the value. */
static int digits_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s) return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

int tool_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v;
    if (!digits_u64(s, &v) || v < min || v > max) return 0;
    *out = v;
    return 1;
}

int tool_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    int neg = *s == '-';
    uint64_t mag;
    if (!digits_u64(s + neg, &mag)) return 0;
    int64_t v;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1) return 0;
        v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX) return 0;
        v = (int64_t)mag;
    }
    if (v < min || v > max) return 0;
    *out = v;
    return 1;
}

/* ---- Options ---------------------------------------------------------------------------- */

/* An option that takes an argument: the argument, or NULL (message shown). */
static const char *option_arg(const char *cmd, int argc, char **argv, int *i, int *code)
{
    if (*i + 1 < argc) return argv[++*i];
    *code = tool_bad_usage(cmd, "option %s needs an argument", argv[*i]);
    return NULL;
}

/* "-5", "-0.5": a negative number, which is a key rather than an option. */
static int negative_number(const char *a)
{
    return a[0] == '-' && ((a[1] >= '0' && a[1] <= '9') || (a[1] == '.' && a[2] >= '0' && a[2] <= '9'));
}

static int one_option(const char *cmd, int argc, char **argv, int *i, unsigned allowed, tool_opts *o)
{
    const char *a = argv[*i], *v;
    int code = TOOL_OK;
    if ((allowed & TOOL_OPT_TABLE) && (strcmp(a, "-t") == 0 || strcmp(a, "--table") == 0)) {
        if ((v = option_arg(cmd, argc, argv, i, &code))) o->table = v;
    } else if ((allowed & TOOL_OPT_HEX) && strcmp(a, "--hex") == 0) {
        o->hex = 1;
    } else if ((allowed & TOOL_OPT_SCAN) && strcmp(a, "--prefix") == 0) {
        if ((v = option_arg(cmd, argc, argv, i, &code))) o->prefix = v;
    } else if ((allowed & TOOL_OPT_SCAN) && strcmp(a, "--from") == 0) {
        if ((v = option_arg(cmd, argc, argv, i, &code))) o->from = v;
    } else if ((allowed & TOOL_OPT_SCAN) && strcmp(a, "-n") == 0) {
        if ((v = option_arg(cmd, argc, argv, i, &code)) && !tool_parse_u64(v, 0, UINT64_MAX, &o->limit))
            code = tool_bad_usage(cmd, "-n takes a count: decimal digits, 0 to %llu; not '%s'",
                                  (unsigned long long)UINT64_MAX, v);
    } else if ((allowed & TOOL_OPT_CREATE) && strcmp(a, "--create") == 0) {
        o->create = 1;
    } else if ((allowed & TOOL_OPT_CREATE) && strcmp(a, "--page-size") == 0) {
        uint64_t n = 0;
        if ((v = option_arg(cmd, argc, argv, i, &code)) &&
            (!tool_parse_u64(v, BIRCH_MIN_PAGE_SIZE, BIRCH_MAX_PAGE_SIZE, &n) || (n & (n - 1))))
            code = tool_bad_usage(cmd, "--page-size takes a power of two from %u to %u; not '%s'",
                                  BIRCH_MIN_PAGE_SIZE, BIRCH_MAX_PAGE_SIZE, v);
        o->page_size = (uint32_t)n;
    } else if ((allowed & TOOL_OPT_COMPACT) && strcmp(a, "--compact") == 0) {
        o->compact = 1;
    } else if ((allowed & TOOL_OPT_CLEAR) && strcmp(a, "--clear-stale") == 0) {
        o->clear_stale = 1;
    } else {
        code = tool_bad_usage(cmd, "unknown option %s", a);
    }
    return code;
}

int tool_parse_opts(const char *cmd, int argc, char **argv, unsigned allowed, int npos, const char *expect,
                    tool_opts *o)
{
    memset(o, 0, sizeof *o);
    o->limit = UINT64_MAX;
    int only_pos = 0, code;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
        } else if (!only_pos && a[0] == '-' && a[1] && !negative_number(a)) {
            if ((code = one_option(cmd, argc, argv, &i, allowed, o))) return code;
        } else if (o->npos < npos) {
            o->pos[o->npos++] = argv[i];
        } else {
            return tool_bad_usage(cmd, "too many arguments (expected %s)", expect);
        }
    }
    if (o->npos < npos) return tool_bad_usage(cmd, "missing arguments (expected %s)", expect);
    if (o->page_size && !o->create) return tool_bad_usage(cmd, "--page-size is for --create");
    if (o->prefix && o->from) return tool_bad_usage(cmd, "give --prefix or --from, not both");
    if (o->table && (!*o->table || strlen(o->table) > BIRCH_MAX_NAME_SIZE))
        return tool_bad_usage(cmd, "a table name has 1 to %u bytes", BIRCH_MAX_NAME_SIZE);
    return TOOL_OK;
}

/* ---- Opening ----------------------------------------------------------------------------- */

/* After a successful open that created path: where the file is and which
 * one it is.  realpath follows a symbolic link to the file birch_open
 * created behind it.  Without them (out of memory) nothing is removed
 * later: keeping a file beats removing one that may not be ours. */
static void note_created(const char *path, tool_created *c)
{
    struct stat st;
    c->real = realpath(path, NULL);
    if (c->real && stat(c->real, &st) != 0) {
        free(c->real);
        c->real = NULL;
    }
    if (c->real) {
        c->dev = st.st_dev;
        c->ino = st.st_ino;
    }
}

int tool_open(const char *path, unsigned mode, uint32_t page_size, birch_db **db, tool_created *created)
{
    struct stat st;
    int absent = stat(path, &st) != 0 && errno == ENOENT;
    if (created) created->real = NULL;
    /* birch_open creates a missing file; a command that writes does so only
     * when asked, so that a mistyped path is an error, not a new database. */
    if ((mode & TOOL_WRITE) && !(mode & TOOL_CREATE) && absent)
        return tool_fail("%s: no such database%s", path, mode & TOOL_HINT ? "; use --create to create it" : "");
    birch_options o;
    birch_options_init(&o);
    o.read_only = !(mode & TOOL_WRITE);
    if (page_size) o.page_size = page_size;
    if (mode & TOOL_WRITE) o.durability = BIRCH_DURABLE_NONE; /* made durable by birch_close */
    int rc = birch_open(path, &o, db);
    if (rc == BIRCH_NOTFOUND) return tool_fail("%s: no such database", path);
    if (rc) return tool_fail_rc(rc, "%s", path); /* a failed open created nothing (birch.h) */
    /* Nothing was at path just before: the file is this command's.  (A
     * file another process created in between and closed again would be
     * taken for ours; the window is the length of birch_open.) */
    if (created && absent && (mode & TOOL_WRITE)) note_created(path, created);
    return TOOL_OK;
}

/* Removes the file c names if it is still the one created (not one put in
 * its place since). */
static void remove_created(tool_created *c)
{
    struct stat st;
    if (!c || !c->real) return;
    if (lstat(c->real, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino && unlink(c->real) != 0)
        tool_fail("%s: removing the new file after the failure: %s", c->real, strerror(errno));
    free(c->real);
    c->real = NULL;
}

int tool_close(birch_db *db, const char *path, int code, tool_created *created)
{
    /* Removed while db still holds the file's lock, so no other open of
     * path is using it. */
    if (code != TOOL_OK) remove_created(created);
    int rc = birch_close(db);
    if (rc && code == TOOL_OK) code = tool_fail_rc(rc, "%s: closing", path);
    if (code != TOOL_OK) remove_created(created); /* the final sync failed */
    if (created) {
        free(created->real);
        created->real = NULL;
    }
    return code;
}

/* ---- Progress on a terminal ------------------------------------------------------------- */

void tool_progress_init(tool_progress *p, const char *label)
{
    p->label = label;
    p->tty = isatty(STDERR_FILENO);
    p->shown = 0;
    p->last_pct = -1;
}

void tool_progress_show(tool_progress *p, uint64_t done, uint64_t total)
{
    if (!p->tty || !total) return;
    int pct = done >= total ? 100 : (int)((double)done * 100 / (double)total);
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

void tool_progress_note(tool_progress *p, const char *fmt, ...)
{
    if (!p->tty) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\r\033[K%s: ", p->label);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
    p->shown = 1;
}

void tool_progress_end(tool_progress *p)
{
    if (p->shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->shown = 0;
    p->last_pct = -1;
}

int tool_on_progress(uint64_t done, uint64_t total, void *ctx)
{
    tool_progress_show(ctx, done, total);
    return 0;
}

/* ---- Table names -------------------------------------------------------------------------- */

int tool_names_add(tool_names *l, const char *name)
{
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

static int add_listed(const char *name, void *ctx)
{
    return tool_names_add(ctx, name);
}

int tool_names_list(birch_txn *txn, tool_names *l)
{
    int rc = birch_table_list(txn, add_listed, l);
    if (rc > 0) return tool_fail("out of memory");
    if (rc) return tool_fail_rc(rc, "listing tables");
    return TOOL_OK;
}

void tool_names_free(tool_names *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    l->names = NULL;
    l->n = l->cap = 0;
}
