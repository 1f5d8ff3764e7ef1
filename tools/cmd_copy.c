/*
 * cmd_copy.c - birch copy and compact: a consistent copy of a database
 * to a new file (birch_copy), and a file rewritten without its free pages
 * (birch_compact).  On a terminal both draw a progress bar and end with a
 * line that says what they wrote; elsewhere they are silent.
 */
#include <sys/stat.h>

#include "tool.h"

/* ---- copy -------------------------------------------------------------------------------- */

static int run_copy(int argc, char **argv)
{
    tool_opts o;
    birch_db *db;
    struct stat st;
    int code = tool_parse_opts("copy", argc, argv, TOOL_OPT_COMPACT, 2, "SRC DST", &o);
    if (code) return code;
    const char *src = o.pos[0], *dst = o.pos[1];
    if ((code = tool_open(src, TOOL_READ, 0, &db, NULL))) return code;
    tool_progress p;
    tool_progress_init(&p, "copy");
    int rc = birch_copy(db, dst, o.compact ? BIRCH_COPY_COMPACT : 0, tool_on_progress, &p);
    tool_progress_end(&p);
    if (rc == BIRCH_EXISTS) code = tool_fail("%s: file exists (the copy must be a new file)", dst);
    else if (rc) code = tool_fail_rc(rc, "copying %s to %s", src, dst);
    else if (p.tty && stat(dst, &st) == 0)
        fprintf(stderr, "%s -> %s: %lld pages, %lld bytes\n", src, dst,
                (long long)st.st_size / birch_page_size(db), (long long)st.st_size);
    return tool_close(db, src, code, NULL);
}

const tool_command tool_cmd_copy = {
    "copy", run_copy, "copy [--compact] SRC DST",
    "Writes a consistent copy of SRC to the new file DST (which must not exist).\n"
    "--compact leaves out the free pages.  SRC must not be open for writing.\n"
    "On a terminal: a progress bar, then the pages and bytes written.\n",
    0,
};

/* ---- compact ----------------------------------------------------------------------------- */

static int run_compact(int argc, char **argv)
{
    tool_opts o;
    struct stat before, after;
    int code = tool_parse_opts("compact", argc, argv, 0, 1, "FILE", &o);
    if (code) return code;
    const char *path = o.pos[0];
    if (stat(path, &before) != 0) return tool_fail("%s: no such database", path);
    tool_progress p;
    tool_progress_init(&p, "compact");
    int rc = birch_compact(path, NULL, tool_on_progress, &p);
    tool_progress_end(&p);
    if (rc == BIRCH_NOTFOUND) return tool_fail("%s: no such database", path);
    if (rc) return tool_fail_rc(rc, "%s", path);
    if (p.tty && stat(path, &after) == 0)
        fprintf(stderr, "%s: %lld -> %lld bytes\n", path, (long long)before.st_size, (long long)after.st_size);
    return TOOL_OK;
}

const tool_command tool_cmd_compact = {
    "compact", run_compact, "compact FILE",
    "Rewrites FILE without its free pages (copy, then rename over FILE; a crash\n"
    "leaves the old file or the new one).  FILE must not be open elsewhere.\n"
    "On a terminal: a progress bar, then the sizes before and after.\n",
    0,
};
