/*
 * cmd_readers.c - birch readers: the reader slots of the processes that
 * have a database file open (birch_readers), and --clear-stale, which
 * frees those of processes that died without closing it
 * (birch_readers_clear; LMDB's mdb_stat -r and -rr).  The file is opened
 * read-only; the slots live in the lock file beside it (FILE-lock).
 */
#include <inttypes.h>
#include <stdio.h>

#include "tool.h"

/* Columns: the header and every slot's line share these widths; a wider
 * value pushes the rest of its line right, and a space always parts two
 * fields, so the lines split on white space. */
#define READERS_HEADER "slot  pid        snapshot   age_ms     state\n"
#define READERS_LINE "%-5" PRIu32 " %-10" PRId64 " %-10s %-10s %s\n"

static int print_slot(const birch_reader_info *r, void *ctx)
{
    tool_out *out = ctx;
    char snap[24] = "idle", age[24] = "-";
    if (r->txnid) {
        snprintf(snap, sizeof snap, "%" PRIu64, r->txnid);
        snprintf(age, sizeof age, "%" PRIu64, r->age_ms);
    }
    /* A failed write stops the walk; tool_out_end reports it. */
    return tool_printf(out, READERS_LINE, r->slot, r->pid, snap, age, r->alive ? "alive" : "stale") ? 1 : 0;
}

static int list_readers(tool_out *out, birch_db *db, const char *path)
{
    if (tool_puts(out, READERS_HEADER)) return TOOL_OK; /* reported by tool_out_end */
    int rc = birch_readers(db, print_slot, out);
    if (rc < 0) return tool_fail_rc(rc, "%s", path);
    return TOOL_OK; /* rc 1: a write failed, which out holds */
}

static int clear_stale(tool_out *out, birch_db *db, const char *path)
{
    unsigned n = 0;
    int rc = birch_readers_clear(db, &n);
    if (rc) return tool_fail_rc(rc, "%s", path);
    tool_printf(out, "freed %u stale reader slot%s\n", n, n == 1 ? "" : "s");
    return TOOL_OK;
}

static int run_readers(int argc, char **argv)
{
    tool_opts o;
    birch_db *db;
    tool_out out;
    int code = tool_parse_opts("readers", argc, argv, TOOL_OPT_CLEAR, 1, "FILE", &o);
    if (code || (code = tool_open(o.pos[0], TOOL_READ, 0, &db, NULL))) return code;
    tool_out_init(&out);
    code = o.clear_stale ? clear_stale(&out, db, o.pos[0]) : list_readers(&out, db, o.pos[0]);
    return tool_out_end(&out, tool_close(db, o.pos[0], code, NULL));
}

const tool_command tool_cmd_readers = {
    "readers", run_readers, "readers [--clear-stale] FILE",
    "Lists the reader slots of every handle that has FILE open, in this or any\n"
    "other process: a header line, then one line a slot, lowest slot first:\n"
    "\n"
    "  slot  pid        snapshot   age_ms     state\n"
    "  0     4242       17         1520       alive\n"
    "  1     4242       idle       -          alive\n"
    "  2     4311       9          60210      stale\n"
    "\n"
    "  slot      the slot's number in the lock file (FILE-lock)\n"
    "  pid       the process whose handle holds the slot\n"
    "  snapshot  the transaction id whose snapshot a read transaction, guard or\n"
    "            stream pins there, or 'idle' (the handle keeps the slot for\n"
    "            its next read)\n"
    "  age_ms    how long that snapshot has been pinned, in milliseconds ('-'\n"
    "            when idle); pages freed after it wait for it to end\n"
    "  state     'alive', or 'stale': the process died without closing the\n"
    "            database.  A stale slot pins nothing, and birch takes it over\n"
    "            when it needs a slot.\n"
    "\n"
    "The command's own handle reads nothing, so it holds no slot.  Where the\n"
    "lock file cannot be written (a read-only file system, no permission), the\n"
    "open reads alone and sees no other handle's slots.\n"
    "\n"
    "--clear-stale  frees the stale slots instead (birch_readers_clear) and\n"
    "               prints 'freed N stale reader slots'.  Never needed for space\n"
    "               or slots; it tidies the listing.\n",
    0,
};
