/*
 * cmd_info.c - birch stat, tables and check: what a database file holds
 * and whether it is sound.  Read-only: they never create or change a file.
 *
 * This file includes the engine's internal.h for one call the public API
 * lacks: bi_check (check: birch_check with a progress callback).  It is
 * the only engine internal the command uses; stat's per-table figures come
 * from birch_table_stat.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <time.h>

#include "internal.h" /* bi_check: see above */
#include "tool.h"

/* ---- stat -------------------------------------------------------------------------------- */

typedef struct table_info {
    struct birch_table_stat ts;
    birch_val schema; /* valid while the read transaction lasts */
    unsigned flags;   /* BIRCH_MULTIMAP */
    uint64_t sequence;
} table_info;

static int print_schema(tool_out *out, birch_val s)
{
    if (!s.size) return tool_puts(out, "  schema      (none)\n");
    const char *p = s.data, *end = p + s.size, *lead = "  schema      ";
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (tool_puts(out, lead) || tool_out_text(out, p, (size_t)(le - p)) || tool_putc(out, '\n')) return -1;
        lead = "              ";
        p = le + 1;
    }
    return 0;
}

static int print_table(tool_out *out, const char *name, const table_info *t)
{
    const struct birch_table_stat *ts = &t->ts;
    if (tool_puts(out, "table ") || tool_out_text(out, name, strlen(name)) || tool_putc(out, '\n')) return -1;
    if (t->flags & BIRCH_MULTIMAP) tool_puts(out, "  kind        multimap (entries are key, value pairs)\n");
    tool_printf(out, "  entries     %" PRIu64 "\n", ts->records);
    if (t->sequence) tool_printf(out, "  sequence    %" PRIu64 "\n", t->sequence);
    tool_printf(out, "  depth       %" PRIu32 "\n", ts->depth);
    tool_printf(out, "  pages       %" PRIu64 " (%" PRIu64 " branch, %" PRIu64 " leaf, %" PRIu64 " overflow)\n",
                ts->branch_pages + ts->leaf_pages + ts->overflow_pages, ts->branch_pages, ts->leaf_pages,
                ts->overflow_pages);
    tool_printf(out, "  key bytes   %" PRIu64 "\n", ts->key_bytes);
    tool_printf(out, "  value bytes %" PRIu64 "\n", ts->value_bytes);
    tool_printf(out, "  fill        %.1f%% (%" PRIu64 " of %" PRIu64 " bytes of branch and leaf pages in use)\n",
                ts->fill * 100.0, ts->used_bytes, (ts->branch_pages + ts->leaf_pages) * ts->page_size);
    return print_schema(out, t->schema);
}

/* Gathers every table's figures first (walking each tree may take a
 * while: the progress bar counts tables), then prints them, so that the
 * bar never interleaves with the output on one terminal. */
static int gather(birch_txn *txn, const tool_names *l, table_info *info)
{
    tool_progress p;
    tool_progress_init(&p, "stat");
    int code = TOOL_OK;
    for (size_t i = 0; code == TOOL_OK && i < l->n; i++) {
        birch_table *t;
        int rc = birch_table_open(txn, l->names[i], 0, &t);
        if (rc == BIRCH_OK) rc = birch_table_schema(txn, t, &info[i].schema);
        if (rc == BIRCH_OK) rc = birch_table_stat(txn, t, &info[i].ts);
        if (rc == BIRCH_OK) rc = birch_table_flags(txn, t, &info[i].flags);
        if (rc == BIRCH_OK) rc = birch_sequence_get(txn, t, &info[i].sequence);
        if (rc) code = tool_fail_rc(rc, "table %s", l->names[i]);
        tool_progress_show(&p, i + 1, l->n);
    }
    tool_progress_end(&p);
    return code;
}

static int stat_tables(tool_out *out, birch_txn *txn)
{
    tool_names l = {0};
    int code = tool_names_list(txn, &l);
    table_info *info = code ? NULL : calloc(l.n ? l.n : 1, sizeof *info);
    if (!code && !info) code = tool_fail("out of memory");
    if (!code) code = gather(txn, &l, info);
    for (size_t i = 0; !code && i < l.n && !out->err; i++) print_table(out, l.names[i], &info[i]);
    free(info);
    tool_names_free(&l);
    return code;
}

static int print_savepoint(const birch_savepoint_info *sp, void *ctx)
{
    tool_out *out = ctx;
    time_t secs = (time_t)(sp->created_ms / 1000);
    struct tm tm;
    char when[32] = "?";
    if (gmtime_r(&secs, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    if (tool_puts(out, "savepoint     ") || tool_out_text(out, sp->name, strlen(sp->name))) return -1;
    tool_printf(out, " (keeps txn %" PRIu64 ", made %s)\n", sp->txnid, when);
    return 0;
}

static int stat_db(tool_out *out, birch_db *db, const char *path)
{
    birch_stat st;
    struct stat fs;
    birch_txn *txn;
    int rc = birch_stat_get(db, &st);
    if (rc) return tool_fail_rc(rc, "%s", path);
    tool_printf(out, "file          %s\n", path);
    if (stat(path, &fs) == 0) tool_printf(out, "file size     %lld bytes\n", (long long)fs.st_size);
    tool_printf(out, "page size     %" PRIu32 "\n", st.page_size);
    tool_printf(out, "pages         %" PRIu64 " in use, %" PRIu64 " free, %" PRIu64 " in all (2 meta)\n",
                st.page_count - st.free_pages, st.free_pages, st.page_count);
    tool_printf(out, "last txn      %" PRIu64 "\n", st.txnid);
    tool_printf(out, "oldest txn    %" PRIu64 "\n", st.oldest_txnid);
    tool_printf(out, "readers       %" PRIu32 "\n", st.readers);
    tool_printf(out, "tables        %" PRIu64 "\n", st.table_count);
    if ((rc = birch_txn_begin(db, BIRCH_TXN_READ, &txn))) return tool_fail_rc(rc, "%s", path);
    rc = birch_savepoint_list(txn, print_savepoint, out);
    int code = rc ? tool_fail_rc(rc, "%s: savepoints", path) : stat_tables(out, txn);
    birch_txn_abort(txn);
    return code;
}

static int run_stat(int argc, char **argv)
{
    tool_opts o;
    birch_db *db;
    tool_out out;
    int code = tool_parse_opts("stat", argc, argv, 0, 1, "FILE", &o);
    if (code || (code = tool_open(o.pos[0], TOOL_READ, 0, &db, NULL))) return code;
    tool_out_init(&out);
    code = tool_close(db, o.pos[0], stat_db(&out, db, o.pos[0]), NULL);
    return tool_out_end(&out, code);
}

const tool_command tool_cmd_stat = {
    "stat", run_stat, "stat FILE",
    "Shows the file size, page size, pages in use and free, the last transaction,\n"
    "the oldest snapshot still read, the readers, and for each table its entries,\n"
    "tree depth, pages by kind, key and value bytes, fill and schema text (and\n"
    "its kind and sequence when it has them); the savepoints first.\n"
    "\n"
    "  oldest txn  the oldest transaction whose snapshot a live read transaction,\n"
    "              guard or stream pins, in any process (the last transaction\n"
    "              when none pins an older one): pages freed after it cannot be\n"
    "              reused yet\n"
    "  readers     read transactions, guards and streams open now, in every\n"
    "              process ('birch readers FILE' lists their slots)\n"
    "  key bytes   the sum of a table's key lengths\n"
    "  value bytes the sum of its value lengths (big values in overflow pages\n"
    "              included)\n"
    "  fill        the bytes of its branch and leaf pages in use (headers, slots,\n"
    "              records) over those pages' size (birch_table_stat)\n",
    0,
};

/* ---- tables ------------------------------------------------------------------------------ */

static int run_tables(int argc, char **argv)
{
    tool_opts o;
    birch_db *db;
    birch_txn *txn;
    tool_out out;
    int code = tool_parse_opts("tables", argc, argv, 0, 1, "FILE", &o);
    if (code || (code = tool_open(o.pos[0], TOOL_READ, 0, &db, NULL))) return code;
    int rc = birch_txn_begin(db, BIRCH_TXN_READ, &txn);
    if (rc) return tool_close(db, o.pos[0], tool_fail_rc(rc, "%s", o.pos[0]), NULL);
    tool_names l = {0};
    tool_out_init(&out);
    code = tool_names_list(txn, &l);
    for (size_t i = 0; code == TOOL_OK && i < l.n; i++)
        if (tool_out_text(&out, l.names[i], strlen(l.names[i])) || tool_putc(&out, '\n')) break;
    tool_names_free(&l);
    birch_txn_abort(txn);
    return tool_out_end(&out, tool_close(db, o.pos[0], code, NULL));
}

const tool_command tool_cmd_tables = {
    "tables", run_tables, "tables FILE",
    "Lists the tables, one name a line, in name order (bytes that are not\n"
    "printable ASCII as \\xNN, a backslash as \\\\).\n",
    0,
};

/* ---- check ------------------------------------------------------------------------------- */

static int run_check(int argc, char **argv)
{
    tool_opts o;
    birch_db *db;
    birch_stat st;
    tool_out out;
    tool_progress p;
    char msg[1024];
    int code = tool_parse_opts("check", argc, argv, 0, 1, "FILE", &o);
    if (code || (code = tool_open(o.pos[0], TOOL_READ, 0, &db, NULL))) return code;
    /* bi_check is birch_check with a progress callback (the public call
     * has none): on a terminal, a bar of the pages verified. */
    tool_progress_init(&p, "check");
    if (birch_stat_get(db, &st) == BIRCH_OK)
        tool_progress_note(&p, "checking %" PRIu64 " pages (%" PRIu64 " bytes)...", st.page_count,
                           st.page_count * st.page_size);
    int rc = bi_check(db, msg, sizeof msg, tool_on_progress, &p);
    tool_progress_end(&p);
    tool_out_init(&out);
    if (rc == BIRCH_OK) tool_printf(&out, "%s: %s\n", o.pos[0], msg);
    else if (rc == BIRCH_ECORRUPT) code = tool_fail("%s: damaged: %s", o.pos[0], msg);
    else code = tool_fail_rc(rc, "%s", o.pos[0]);
    return tool_out_end(&out, tool_close(db, o.pos[0], code, NULL));
}

const tool_command tool_cmd_check = {
    "check", run_check, "check FILE",
    "Verifies the whole file (birch_check): every page's checksum and structure.\n"
    "Exit 0 and 'ok: N pages checked' if sound; 1 and the problem if not, or if\n"
    "the file does not open.\n",
    0,
};
