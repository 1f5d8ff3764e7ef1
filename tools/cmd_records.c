/*
 * cmd_records.c - birch get, put, del and scan: single records and key
 * ranges of one table, with keys and values in the text forms of text.c
 * (as the table's schema says, or --hex).
 */
#include <string.h>

#include "tool.h"

/* A database and a transaction on one of its tables, with the table's
 * formats. */
typedef struct session {
    birch_db *db;
    birch_txn *txn;
    birch_table *t;
    tool_formats f;
    const char *path;
    tool_created created; /* put --create: removed if the command fails */
} session;

/* Opens path (mode: tool_open's) and begins a transaction on table; a
 * write transaction creates the table when missing. */
static int session_open(session *s, const char *path, const char *table, unsigned mode, uint32_t page_size)
{
    int write = (mode & TOOL_WRITE) != 0;
    s->path = path;
    int code = tool_open(path, mode, page_size, &s->db, &s->created);
    if (code) return code;
    int rc = birch_txn_begin(s->db, write ? BIRCH_TXN_WRITE : BIRCH_TXN_READ, &s->txn);
    if (rc == BIRCH_OK) rc = birch_table_open(s->txn, table, write ? BIRCH_CREATE : 0, &s->t);
    birch_val schema = {NULL, 0};
    if (rc == BIRCH_OK) rc = birch_table_schema(s->txn, s->t, &schema);
    if (rc) {
        birch_txn_abort(s->txn);
        code = rc == BIRCH_NOTFOUND ? tool_fail("%s: no table %s", path, table) : tool_fail_rc(rc, "%s", path);
        return tool_close(s->db, path, code, &s->created);
    }
    s->f = tool_formats_of(schema);
    return TOOL_OK;
}

static int session_end(session *s, int code, int commit)
{
    int rc = commit && code == TOOL_OK ? birch_txn_commit(s->txn) : (birch_txn_abort(s->txn), BIRCH_OK);
    if (rc) code = tool_fail_rc(rc, "%s: commit", s->path);
    return tool_close(s->db, s->path, code, &s->created);
}

static int key_arg(const char *cmd, session *s, char *arg, int hex, uint8_t *buf, size_t cap, birch_val *k)
{
    if (tool_parse_key(&s->f, arg, hex, buf, cap, k) && k->size) return TOOL_OK;
    return tool_bad_usage(cmd, "bad key '%.200s'%s", arg,
                          hex ? " (hex digits expected)" : s->f.key ? " for the table's key format" : "");
}

/* ---- get --------------------------------------------------------------------------------- */

static int run_get(int argc, char **argv)
{
    tool_opts o;
    session s;
    tool_out out;
    uint8_t buf[64];
    birch_val k, v;
    int code = tool_parse_opts("get", argc, argv, TOOL_OPT_HEX, 3, "FILE TABLE KEY", &o);
    if (code || (code = session_open(&s, o.pos[0], o.pos[1], TOOL_READ, 0))) return code;
    if ((code = key_arg("get", &s, o.pos[2], o.hex, buf, sizeof buf, &k))) return session_end(&s, code, 0);
    tool_out_init(&out);
    int rc = birch_get(s.txn, s.t, k, &v);
    if (rc == BIRCH_NOTFOUND) code = tool_fail("no such key");
    else if (rc) code = tool_fail_rc(rc, "%s", s.path);
    else if (tool_out_value(&out, &s.f, o.hex, v) == 0) tool_putc(&out, '\n');
    return tool_out_end(&out, session_end(&s, code, 0));
}

const tool_command tool_cmd_get = {
    "get", run_get, "get FILE TABLE KEY [--hex]",
    "Prints the value of KEY.  Exit 1 if there is none.\n", 1,
};

/* ---- put --------------------------------------------------------------------------------- */

static int run_put(int argc, char **argv)
{
    tool_opts o;
    session s;
    uint8_t buf[64];
    birch_val k, v;
    int code = tool_parse_opts("put", argc, argv, TOOL_OPT_HEX | TOOL_OPT_CREATE, 4, "FILE TABLE KEY VALUE", &o);
    if (code) return code;
    unsigned mode = TOOL_WRITE | (o.create ? TOOL_CREATE : TOOL_HINT);
    if ((code = session_open(&s, o.pos[0], o.pos[1], mode, o.page_size))) return code;
    if ((code = key_arg("put", &s, o.pos[2], o.hex, buf, sizeof buf, &k))) return session_end(&s, code, 0);
    if (!tool_parse_value(&s.f, o.pos[3], o.hex, &v))
        return session_end(&s, tool_bad_usage("put", "bad hex value '%.200s'", o.pos[3]), 0);
    if (s.f.value == TOOL_VALUE_POD && s.f.pod_size && v.size != s.f.pod_size)
        return session_end(&s, tool_bad_usage("put", "the table's pod values have %zu bytes, not %zu", s.f.pod_size, v.size),
                           0);
    int rc = birch_put(s.txn, s.t, k, v, 0);
    if (rc) code = tool_fail_rc(rc, "%s", s.path);
    return session_end(&s, code, 1);
}

const tool_command tool_cmd_put = {
    "put", run_put, "put FILE TABLE KEY VALUE [--hex] [--create [--page-size N]]",
    "Stores KEY -> VALUE, creating the table if needed.  FILE must exist unless\n"
    "--create is given (--page-size: the page size of a new file); a put that\n"
    "fails removes the file it created.\n", 1,
};

/* ---- del --------------------------------------------------------------------------------- */

static int run_del(int argc, char **argv)
{
    tool_opts o;
    session s;
    uint8_t buf[64];
    birch_val k;
    int code = tool_parse_opts("del", argc, argv, TOOL_OPT_HEX, 3, "FILE TABLE KEY", &o);
    if (code || (code = session_open(&s, o.pos[0], o.pos[1], TOOL_WRITE, 0))) return code;
    if ((code = key_arg("del", &s, o.pos[2], o.hex, buf, sizeof buf, &k))) return session_end(&s, code, 0);
    int rc = birch_del(s.txn, s.t, k);
    if (rc == BIRCH_NOTFOUND) code = tool_fail("no such key");
    else if (rc) code = tool_fail_rc(rc, "%s", s.path);
    return session_end(&s, code, 1);
}

const tool_command tool_cmd_del = {
    "del", run_del, "del FILE TABLE KEY [--hex]", "Deletes KEY.  Exit 1 if there is none.\n", 1,
};

/* ---- scan -------------------------------------------------------------------------------- */

static int has_prefix(birch_val k, birch_val p)
{
    return k.size >= p.size && memcmp(k.data, p.data, p.size) == 0;
}

static int scan_rows(tool_out *out, session *s, birch_cursor *cur, const tool_opts *o, birch_val from,
                     birch_val prefix)
{
    birch_val k, v;
    uint64_t n = 0;
    int rc = from.size ? birch_cursor_seek(cur, from) : birch_cursor_first(cur);
    for (; rc == BIRCH_OK && n < o->limit; rc = birch_cursor_next(cur), n++) {
        if ((rc = birch_cursor_get(cur, &k, &v))) break;
        if (prefix.size && !has_prefix(k, prefix)) break;
        tool_out_key(out, &s->f, o->hex, k);
        tool_putc(out, '\t');
        tool_out_value(out, &s->f, o->hex, v);
        if (tool_putc(out, '\n')) return TOOL_OK; /* tool_out_end reports it */
    }
    return rc == BIRCH_OK || rc == BIRCH_NOTFOUND ? TOOL_OK : tool_fail_rc(rc, "%s", s->path);
}

static int run_scan(int argc, char **argv)
{
    tool_opts o;
    session s;
    tool_out out;
    birch_cursor *cur;
    uint8_t buf[64];
    birch_val start = {NULL, 0}, prefix = {NULL, 0};
    int code = tool_parse_opts("scan", argc, argv, TOOL_OPT_HEX | TOOL_OPT_SCAN, 2, "FILE TABLE", &o);
    if (code || (code = session_open(&s, o.pos[0], o.pos[1], TOOL_READ, 0))) return code;
    char *arg = (char *)(o.prefix ? o.prefix : o.from);
    if (arg && !tool_parse_key(&s.f, arg, o.hex, buf, sizeof buf, &start))
        return session_end(&s, tool_bad_usage("scan", "bad key '%.200s'", arg), 0);
    if (o.prefix) prefix = start;
    int rc = birch_cursor_open(s.txn, s.t, &cur);
    if (rc) return session_end(&s, tool_fail_rc(rc, "%s", s.path), 0);
    tool_out_init(&out);
    code = scan_rows(&out, &s, cur, &o, start, prefix);
    birch_cursor_close(cur);
    return tool_out_end(&out, session_end(&s, code, 0));
}

const tool_command tool_cmd_scan = {
    "scan", run_scan, "scan FILE TABLE [--prefix KEY | --from KEY] [-n N] [--hex]",
    "Prints KEY<TAB>VALUE lines in key order: all, those starting with the\n"
    "prefix, or from the first key >= KEY; at most N (decimal, 0 or more).\n", 1,
};
