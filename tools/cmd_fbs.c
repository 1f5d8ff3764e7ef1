/*
 * cmd_fbs.c - `birch fbs`: a C header from a FlatBuffers schema.
 *
 * The schema is read by Google's flatc (`flatc --schema -b`), which writes
 * it as a binary schema: a FlatBuffer that fbs_schema.c reads through
 * birch's own verifier, so that birch never parses the .fbs grammar and
 * flatc's messages (with file and line) are the user's.  flatc is a
 * dependency of this command only (Debian: flatbuffers-compiler).
 */
#include <dirent.h>
#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fbs_schema.h"
#include "tool.h"

extern char **environ;

enum { MAX_INCLUDES = 64 };

typedef struct fbs_args {
    const char *schema, *out, *flatc, *depfile;
    const char *inc[MAX_INCLUDES];
    int ninc;
} fbs_args;

/* Whether paths x and y name one file: the same text, or one that exists
 * under both names. */
static int same_file(const char *x, const char *y)
{
    struct stat sx, sy;
    if (strcmp(x, y) == 0) return 1;
    return stat(x, &sx) == 0 && stat(y, &sy) == 0 && sx.st_dev == sy.st_dev && sx.st_ino == sy.st_ino;
}

static int parse_args(int argc, char **argv, fbs_args *a)
{
    memset(a, 0, sizeof *a);
    a->flatc = getenv("BIRCH_FLATC");
    if (!a->flatc || !*a->flatc) a->flatc = "flatc";
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = NULL;
        if (strcmp(s, "--depfile") == 0) {
            if (i + 1 >= argc || !*argv[i + 1]) return tool_bad_usage("fbs", "%s needs an argument", s);
            a->depfile = argv[++i];
            continue;
        }
        if (strcmp(s, "-I") == 0 || strcmp(s, "-o") == 0 || strcmp(s, "--flatc") == 0) {
            if (i + 1 >= argc) return tool_bad_usage("fbs", "%s needs an argument", s);
            v = argv[++i];
        } else if (strncmp(s, "-I", 2) == 0 || strncmp(s, "-o", 2) == 0) {
            v = s + 2;
        }
        if (v && s[1] == 'I') {
            if (a->ninc == MAX_INCLUDES) return tool_bad_usage("fbs", "more than %d -I directories", MAX_INCLUDES);
            a->inc[a->ninc++] = v;
        } else if (v && s[1] == 'o') {
            if (a->out) return tool_bad_usage("fbs", "-o given twice");
            a->out = v;
        } else if (v) {
            a->flatc = v;
        } else if (s[0] == '-' && s[1]) {
            return tool_bad_usage("fbs", "unknown option '%s'", s);
        } else if (a->schema) {
            return tool_bad_usage("fbs", "one schema at a time (got '%s' and '%s')", a->schema, s);
        } else {
            a->schema = s;
        }
    }
    if (!a->schema) return tool_bad_usage("fbs", "no schema file given");
    if (!a->out || !*a->out) return tool_bad_usage("fbs", "no output file given (-o OUT.h)");
    if (a->depfile && strcmp(a->out, "-") == 0) return tool_bad_usage("fbs", "--depfile needs -o OUT.h, not -o -");
    if (a->depfile && (same_file(a->depfile, a->out) || same_file(a->depfile, a->schema)))
        return tool_bad_usage("fbs", "--depfile %s names the %s", a->depfile,
                              same_file(a->depfile, a->out) ? "header (-o)" : "schema");
    if (same_file(a->out, a->schema)) return tool_bad_usage("fbs", "-o %s names the schema", a->out);
    return TOOL_OK;
}

/* The directory of path ("." for a bare name), into buf. */
static void dir_of(const char *path, char *buf, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(buf, cap, ".");
    else if (slash == path) snprintf(buf, cap, "/");
    else snprintf(buf, cap, "%.*s", (int)(slash - path), path);
}

/* Runs flatc --schema -b on schema (a->schema or a file it includes),
 * writing into dir. */
static int run_flatc(const fbs_args *a, const char *schema, const char *dir)
{
    const char *argv[10 + 2 * MAX_INCLUDES];
    char sdir[4096];
    int n = 0;
    dir_of(a->schema, sdir, sizeof sdir);
    argv[n++] = a->flatc;
    argv[n++] = "--schema";
    argv[n++] = "-b";
    argv[n++] = "--bfbs-builtins"; /* key, id, nested_flatbuffer, bit_flags, force_align as attributes */
    argv[n++] = "--bfbs-filenames"; /* declaration_file relative to the schema's directory */
    argv[n++] = sdir;
    argv[n++] = "-o";
    argv[n++] = dir;
    for (int i = 0; i < a->ninc; i++) argv[n++] = "-I", argv[n++] = a->inc[i];
    argv[n++] = schema;
    argv[n] = NULL;
    pid_t pid;
    int rc = posix_spawnp(&pid, a->flatc, NULL, NULL, (char *const *)argv, environ);
    if (rc == ENOENT)
        return tool_fail("fbs: %s not found: birch fbs reads schemas through Google's flatc; install it "
                         "(Debian: apt-get install flatbuffers-compiler) or name it with --flatc PATH",
                         a->flatc);
    if (rc != 0) return tool_fail("fbs: cannot run %s: %s", a->flatc, strerror(rc));
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return tool_fail("fbs: waiting for %s: %s", a->flatc, strerror(errno));
    if (WIFSIGNALED(status)) return tool_fail("fbs: %s was killed by signal %d", a->flatc, WTERMSIG(status));
    if (WEXITSTATUS(status) != 0)
        return tool_fail("fbs: %s refused %s (exit %d; what it said, if anything, is above)", a->flatc, schema,
                         WEXITSTATUS(status));
    return TOOL_OK;
}

/* Reads the one .bfbs file flatc wrote into dir (8-aligned, malloc'd), and
 * removes it. */
static int read_bfbs(const char *dir, void **buf, size_t *len)
{
    char path[4096 + sizeof ((struct dirent *)0)->d_name + 2] = "";
    DIR *d = opendir(dir);
    if (!d) return tool_fail("fbs: %s: %s", dir, strerror(errno));
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t n = strlen(de->d_name);
        if (n > 5 && strcmp(de->d_name + n - 5, ".bfbs") == 0 &&
            (size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path)
            path[0] = 0; /* cannot happen: dir is shorter than 4096 */
    }
    closedir(d);
    if (!path[0]) return tool_fail("fbs: flatc wrote no binary schema");
    FILE *f = fopen(path, "rb");
    struct stat st;
    int code = TOOL_OK;
    if (!f || fstat(fileno(f), &st) != 0 || st.st_size <= 0 || st.st_size > (1 << 30)) {
        code = tool_fail("fbs: %s: %s", path, f ? "unreadable or empty" : strerror(errno));
    } else if (posix_memalign(buf, 8, (size_t)st.st_size) != 0) {
        code = tool_fail("fbs: out of memory");
    } else if (fread(*buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        code = tool_fail("fbs: reading %s failed", path);
        free(*buf);
    } else {
        *len = (size_t)st.st_size;
    }
    if (f) fclose(f);
    unlink(path);
    return code;
}

/* The include guard of the header at path: its file name in upper case,
 * every other character '_' ("inv_birch.h" -> INV_BIRCH_H_). */
static void guard_of(const char *path, char *g, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = 0;
    if (!(*base >= 'a' && *base <= 'z') && !(*base >= 'A' && *base <= 'Z')) g[n++] = 'H';
    for (; *base && n + 2 < cap; base++) {
        char c = *base;
        g[n++] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) ? c : '_';
    }
    g[n++] = '_';
    g[n] = 0;
}

/* Writes the header to a file beside out, then renames it over out, so
 * that a failed run leaves no half header for a build to pick up. */
static int write_header(const fbs_schema *s, const fbs_args *a)
{
    char err[512], guard[256], tmp[4200];
    const char *base = strrchr(a->schema, '/');
    int to_stdout = strcmp(a->out, "-") == 0;
    if (to_stdout) { /* guarded as the file `birch fbs NAME.fbs -o NAME_birch.h` writes */
        char name[4096];
        snprintf(name, sizeof name, "%s", base ? base + 1 : a->schema);
        char *dot = strrchr(name, '.');
        if (dot) *dot = 0;
        strncat(name, "_birch.h", sizeof name - strlen(name) - 1);
        guard_of(name, guard, sizeof guard);
    } else {
        guard_of(a->out, guard, sizeof guard);
    }
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", a->out, (long)getpid());
    FILE *f = to_stdout ? stdout : fopen(tmp, "w");
    if (!f) return tool_fail("fbs: cannot write %s: %s", a->out, strerror(errno));
    int rc = fbs_emit(s, f, base ? base + 1 : a->schema, guard, err, sizeof err);
    int werr = ferror(f) || fflush(f) != 0;
    if (!to_stdout) werr |= fclose(f) != 0;
    int code = TOOL_OK;
    if (rc != 0) code = tool_fail("fbs: %s: %s", a->schema, err);
    else if (werr) code = tool_fail("fbs: writing %s: %s", to_stdout ? "standard output" : tmp, strerror(errno));
    else if (!to_stdout && rename(tmp, a->out) != 0) code = tool_fail("fbs: %s: %s", a->out, strerror(errno));
    if (code != TOOL_OK && !to_stdout) unlink(tmp);
    return code;
}

/* A path in a make rule: spaces and '#' escaped with '\\', '$' doubled. */
static void put_make_path(FILE *f, const char *p)
{
    for (; *p; p++) {
        if (*p == ' ' || *p == '#' || *p == '\\') fputc('\\', f);
        if (*p == '$') fputc('$', f);
        fputc(*p, f);
    }
}

/* Writes a make rule, "OUT: the schema files flatc read", to a->depfile
 * (temporary file and rename, as the header), so that a build system
 * (CMake's DEPFILE, make, ninja) regenerates the header when any of them
 * changes, however the schema includes them. */
static int write_depfile(const fbs_schema *s, const fbs_args *a)
{
    char sdir[4096], tmp[4200];
    dir_of(a->schema, sdir, sizeof sdir);
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", a->depfile, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return tool_fail("fbs: cannot write %s: %s", a->depfile, strerror(errno));
    put_make_path(f, a->out);
    fputs(": ", f);
    put_make_path(f, a->schema);
    for (size_t i = 0; i < s->nfiles; i++) {
        const char *name = s->files[i];
        if (strncmp(name, "//", 2) != 0) continue; /* not a path flatc made relative to sdir */
        fputs(" \\\n  ", f);
        put_make_path(f, sdir);
        fputc('/', f);
        put_make_path(f, name + 2);
    }
    fputc('\n', f);
    int werr = ferror(f) != 0;
    werr |= fclose(f) != 0;
    if (werr || rename(tmp, a->depfile) != 0) {
        int e = errno;
        unlink(tmp);
        return tool_fail("fbs: writing %s: %s", a->depfile, strerror(e));
    }
    return TOOL_OK;
}

/* The roots of the schemas that a->schema includes: a binary schema names
 * its own root_type and file_identifier only, so each included file that
 * declares a table is read by flatc too, and its root gets its
 * identifier here.  A header then declares an included schema's root as
 * that schema's own header does, whichever of the two a program includes
 * first. */
static int included_roots(const fbs_args *a, const char *dir, fbs_schema *s)
{
    char sdir[4096], main_decl[4200], path[8400], err[512];
    const char *base = strrchr(a->schema, '/');
    dir_of(a->schema, sdir, sizeof sdir);
    snprintf(main_decl, sizeof main_decl, "//%s", base ? base + 1 : a->schema);
    for (size_t i = 0; i < s->nobjects; i++) {
        const char *decl = s->objects[i].decl;
        if (!decl || strncmp(decl, "//", 2) != 0 || strcmp(decl, main_decl) == 0) continue;
        int seen = 0; /* each file once */
        for (size_t k = 0; k < i && !seen; k++) seen = s->objects[k].decl && strcmp(s->objects[k].decl, decl) == 0;
        if (seen) continue;
        snprintf(path, sizeof path, "%s/%s", sdir, decl + 2);
        void *bfbs = NULL;
        size_t len = 0;
        const char *root;
        char ident[5];
        int code = run_flatc(a, path, dir);
        if (code == TOOL_OK) code = read_bfbs(dir, &bfbs, &len);
        if (code != TOOL_OK) return code;
        if (fbs_schema_root(bfbs, len, &root, ident, err, sizeof err) != 0) {
            free(bfbs);
            return tool_fail("fbs: %s: %s", path, err);
        }
        for (size_t k = 0; root && ident[0] && k < s->nobjects; k++)
            if (strcmp(s->objects[k].name, root) == 0 && !s->objects[k].ident[0]) memcpy(s->objects[k].ident, ident, 5);
        free(bfbs);
    }
    return TOOL_OK;
}

static int run(int argc, char **argv)
{
    fbs_args a;
    int code = parse_args(argc, argv, &a);
    if (code != TOOL_OK) return code;
    const char *tmpdir = getenv("TMPDIR");
    char dir[4096];
    if ((size_t)snprintf(dir, sizeof dir, "%s/birch-fbs-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp") >= sizeof dir)
        return tool_fail("fbs: $TMPDIR is too long");
    if (!mkdtemp(dir)) return tool_fail("fbs: a scratch directory in %s: %s", dir, strerror(errno));
    void *bfbs = NULL;
    size_t len = 0;
    code = run_flatc(&a, a.schema, dir);
    if (code == TOOL_OK) code = read_bfbs(dir, &bfbs, &len);
    if (code != TOOL_OK) {
        rmdir(dir);
        return code;
    }
    fbs_schema s;
    char err[512];
    if (fbs_schema_load(&s, bfbs, len, err, sizeof err) != 0) {
        rmdir(dir);
        free(bfbs);
        return tool_fail("fbs: %s: %s", a.schema, err);
    }
    code = included_roots(&a, dir, &s);
    rmdir(dir);
    /* The rule first: if it cannot be written, the header is not replaced
     * (a new header with an old rule would not be rebuilt when it should). */
    if (code == TOOL_OK && a.depfile) code = write_depfile(&s, &a);
    if (code == TOOL_OK) code = write_header(&s, &a);
    fbs_schema_free(&s);
    free(bfbs);
    return code;
}

const tool_command tool_cmd_fbs = {
    "fbs", run, "fbs SCHEMA.fbs [-I DIR]... -o OUT.h [--flatc PATH] [--depfile OUT.d]",
    "Generates a C header from a FlatBuffers schema: each table, struct, enum\n"
    "and union of the schema and of the schemas it includes, declared for\n"
    "birch_flatbuffers.h (readers, builders, verifier descriptors), and the\n"
    "root_type's value format for typed tables.  Names take the namespace with\n"
    "'_': table Inv.Item gives Inv_Item_table, Inv_Item_name(t), ...\n"
    "docs/guide/flatbuffers.md describes the header.\n\n"
    "The schema is read by Google's flatc (`flatc --schema -b`; Debian package\n"
    "flatbuffers-compiler), whose messages about the schema are shown as they\n"
    "are.  A schema feature that birch cannot express (a union of structs, say)\n"
    "is an error naming it; no header is written then.\n\n"
    "  -I DIR         a directory to look for included schemas in (repeatable)\n"
    "  -o OUT.h       the header to write (replaced whole; - for standard output)\n"
    "  --flatc PATH   the flatc to run (default: $BIRCH_FLATC, else flatc)\n"
    "  --depfile OUT.d  also write a make rule: OUT.h depends on every schema\n"
    "                 file flatc read (for CMake's DEPFILE, make or ninja)\n",
    0,
};
