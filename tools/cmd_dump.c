/*
 * cmd_dump.c - birch dump: tables to standard output in the portable text
 * format of db_dump / mdb_dump (VERSION=3, format=bytevalue), which
 * mdb_load reads and birch load reads back (cmd_load.c).
 *
 * Symmetry with LMDB.  LMDB's unnamed database is a dump section without
 * a database= line, and birch load puts such a section in table "main";
 * so table "main" is dumped without one, and goes back to LMDB's unnamed
 * database.  It is dumped first: mdb_load keeps the last database= name
 * for the sections that follow, so a section without the line must come
 * before any with it.
 *
 * Names.  mdb_load takes the database= line as it is, up to the newline.
 * A name with a control byte (one below 0x20, or 0x7f; a newline would
 * end the line) is written there with those bytes as \XX (the escapes of
 * mdb_dump -p), and exactly, in hex, on a birch_database= line that
 * birch load prefers (mdb_load ignores it with a warning).  Other names,
 * backslashes included, are written as they are, as mdb_dump does.
 */
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

typedef struct dumper {
    tool_out out;
    birch_txn *txn;
    uint64_t mapsize; /* for LMDB's map: mdb_load sizes the environment with it */
    tool_progress bar;
    uint64_t done, total; /* records */
} dumper;

static int control_byte(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static int has_control(const char *name)
{
    for (const char *p = name; *p; p++)
        if (control_byte((unsigned char)*p)) return 1;
    return 0;
}

static int out_name(tool_out *o, const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (control_byte(*p) ? tool_printf(o, "\\%02x", *p) : tool_putc(o, *p)) return -1;
    return 0;
}

static int out_header(dumper *d, const char *name, birch_val schema, unsigned flags, uint64_t seq)
{
    tool_out *o = &d->out;
    tool_puts(o, "VERSION=3\nformat=bytevalue\n");
    if (flags & BIRCH_MULTIMAP) tool_puts(o, "duplicates=1\n"); /* as mdb_dump writes an MDB_DUPSORT db */
    if (strcmp(name, "main") != 0) {
        tool_puts(o, "database=");
        out_name(o, name);
        tool_putc(o, '\n');
    }
    tool_printf(o, "type=btree\nmapsize=%" PRIu64 "\n", d->mapsize);
    if (has_control(name)) {
        tool_puts(o, "birch_database=");
        tool_out_hex(o, name, strlen(name));
        tool_putc(o, '\n');
    }
    if (schema.size) {
        tool_puts(o, "birch_schema=");
        tool_out_hex(o, schema.data, schema.size);
        tool_putc(o, '\n');
    }
    if (seq) tool_printf(o, "birch_sequence=%" PRIu64 "\n", seq); /* the table's birch_sequence_next counter */
    return tool_puts(o, "HEADER=END\n");
}

static int dump_records(dumper *d, birch_cursor *cur)
{
    birch_val k, v;
    int rc;
    for (rc = birch_cursor_first(cur); rc == BIRCH_OK; rc = birch_cursor_next(cur)) {
        if ((rc = birch_cursor_get(cur, &k, &v))) break;
        tool_putc(&d->out, ' ');
        tool_out_hex(&d->out, k.data, k.size);
        tool_puts(&d->out, "\n ");
        tool_out_hex(&d->out, v.data, v.size);
        if (tool_putc(&d->out, '\n')) return BIRCH_OK; /* tool_out_end reports it */
        tool_progress_show(&d->bar, ++d->done, d->total);
    }
    return rc == BIRCH_NOTFOUND ? BIRCH_OK : rc;
}

static int dump_table(dumper *d, const char *name)
{
    birch_table *t;
    birch_val schema;
    birch_cursor *cur;
    int rc = birch_table_open(d->txn, name, 0, &t);
    if (rc == BIRCH_NOTFOUND) return tool_fail("no table %s", name);
    unsigned flags = 0;
    uint64_t seq = 0;
    if (rc == BIRCH_OK) rc = birch_table_schema(d->txn, t, &schema);
    if (rc == BIRCH_OK) rc = birch_table_flags(d->txn, t, &flags);
    if (rc == BIRCH_OK) rc = birch_sequence_get(d->txn, t, &seq);
    if (rc == BIRCH_OK) rc = birch_cursor_open(d->txn, t, &cur);
    if (rc) return tool_fail_rc(rc, "table %s", name);
    if (out_header(d, name, schema, flags, seq) == 0) rc = dump_records(d, cur);
    birch_cursor_close(cur);
    if (rc) return tool_fail_rc(rc, "table %s", name);
    tool_puts(&d->out, "DATA=END\n");
    return TOOL_OK;
}

/* The records to dump, for the progress bar. */
static uint64_t count_records(birch_txn *txn, const tool_names *l)
{
    uint64_t total = 0, n;
    birch_table *t;
    for (size_t i = 0; i < l->n; i++)
        if (birch_table_open(txn, l->names[i], 0, &t) == BIRCH_OK && birch_count(txn, t, &n) == BIRCH_OK) total += n;
    return total;
}

/* The tables to dump, "main" first (see the top of the file). */
static int dump_order(birch_txn *txn, const char *only, tool_names *l)
{
    if (only) return tool_names_add(l, only) ? tool_fail("out of memory") : TOOL_OK;
    int code = tool_names_list(txn, l);
    for (size_t i = 0; code == TOOL_OK && i < l->n; i++) {
        if (strcmp(l->names[i], "main") != 0) continue;
        char *main_name = l->names[i];
        memmove(l->names + 1, l->names, i * sizeof *l->names);
        l->names[0] = main_name;
        break;
    }
    return code;
}

static int dump_db(dumper *d, birch_db *db, const char *only)
{
    birch_stat st;
    tool_names l = {0};
    int rc = birch_stat_get(db, &st);
    if (rc) return tool_fail_rc(rc, "stat");
    /* LMDB's map must hold the data: twice the file, at least 10 MiB. */
    d->mapsize = ((st.page_count * st.page_size * 2 + (10u << 20)) + 4095) / 4096 * 4096;
    int code = dump_order(d->txn, only, &l);
    tool_progress_init(&d->bar, "dump");
    d->bar.tty = d->bar.tty && !isatty(STDOUT_FILENO); /* not into the dump on the screen */
    if (code == TOOL_OK && d->bar.tty) d->total = count_records(d->txn, &l);
    for (size_t i = 0; code == TOOL_OK && i < l.n && !d->out.err; i++) code = dump_table(d, l.names[i]);
    tool_progress_end(&d->bar);
    tool_names_free(&l);
    return code;
}

static int run_dump(int argc, char **argv)
{
    tool_opts o;
    birch_db *db;
    dumper d = {0};
    int code = tool_parse_opts("dump", argc, argv, TOOL_OPT_TABLE, 1, "FILE", &o);
    if (code || (code = tool_open(o.pos[0], TOOL_READ, 0, &db, NULL))) return code;
    int rc = birch_txn_begin(db, BIRCH_TXN_READ, &d.txn);
    if (rc) return tool_close(db, o.pos[0], tool_fail_rc(rc, "%s", o.pos[0]), NULL);
    tool_out_init(&d.out);
    code = dump_db(&d, db, o.table);
    birch_txn_abort(d.txn);
    return tool_out_end(&d.out, tool_close(db, o.pos[0], code, NULL));
}

const tool_command tool_cmd_dump = {
    "dump", run_dump, "dump FILE [-t TABLE]",
    "Writes every table (or only TABLE) to standard output in the portable text\n"
    "format of db_dump / mdb_dump: VERSION=3, format=bytevalue, database=NAME,\n"
    "type=btree, mapsize=BYTES, HEADER=END, then one line per key and one per\n"
    "value, each a space and the bytes in hex, then DATA=END.\n"
    "Table \"main\" is written first and without a database= line, so that mdb_load\n"
    "puts it in LMDB's unnamed database (and birch load back in \"main\").\n"
    "A name with control bytes is written with them as \\XX on the database=\n"
    "line, and exactly as birch_database=HEX; a table's schema as\n"
    "birch_schema=HEX, its sequence (birch_sequence_next) as birch_sequence=N\n"
    "when not 0.  mdb_load warns that it ignores these.\n"
    "On a terminal (standard error, when standard output is not one): a\n"
    "progress bar.\n"
    "  birch dump my.birch | mdb_load lmdb_dir               (to LMDB)\n",
    0,
};
