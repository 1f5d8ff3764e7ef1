/*
 * tool.h - what the files of the birch command share.
 *
 * The command is one small file per group of subcommands, like LMDB's
 * mdb_stat.c, mdb_dump.c and mdb_load.c:
 *
 *   birch.c        main: the command table, --help, exit status
 *   cmd_info.c     stat, tables, check
 *   cmd_readers.c  readers
 *   cmd_copy.c     copy, compact
 *   cmd_dump.c     dump
 *   cmd_load.c     load
 *   cmd_records.c  get, put, del, scan
 *   cmd_fbs.c      fbs (the FlatBuffers schema compiler, with
 *                  fbs_schema.c and fbs_emit.c: see fbs_schema.h)
 *   util.c         messages and exit codes, checked output, decimal
 *                  numbers, options, opening files, the progress bar
 *   text.c         keys, values and names as text; hex; table schemas
 *
 * Every file but cmd_info.c uses the public API only (api/birch.h).
 *
 * Rules every command keeps:
 *   - It returns TOOL_OK, TOOL_FAIL or TOOL_USAGE, and main exits with it.
 *   - Whatever it prints on standard output goes through a tool_out, whose
 *     first failed write (a closed pipe, a full disk) makes the command
 *     fail with a message (tool_out_end).
 *   - Messages go to standard error, each from tool_fail, tool_fail_rc or
 *     tool_bad_usage; the text of a birch error from tool_errmsg only.
 */
#ifndef BIRCH_TOOL_H
#define BIRCH_TOOL_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "birch.h"

/* ---- Exit codes: one table for every command (birch --help) ---- */
enum {
    TOOL_OK = 0,   /* success */
    TOOL_FAIL = 1, /* failure: any birch error, an I/O error, a file that
                      does not open, damage found by check, no such key or
                      table, bad dump input, a failed write to stdout */
    TOOL_USAGE = 2 /* unknown command or option, missing or extra argument,
                      bad number, key or value on the command line */
};

/* A subcommand: its name, its entry point (argv[0] is the subcommand's
 * name), one synopsis line and its --help text.  keys: the command takes
 * keys and values, so its --help also explains their text forms. */
typedef struct tool_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *synopsis;
    const char *help;
    int keys;
} tool_command;

extern const tool_command tool_cmd_stat, tool_cmd_tables, tool_cmd_check; /* cmd_info.c */
extern const tool_command tool_cmd_readers;                               /* cmd_readers.c */
extern const tool_command tool_cmd_copy, tool_cmd_compact;                /* cmd_copy.c */
extern const tool_command tool_cmd_dump;                                  /* cmd_dump.c */
extern const tool_command tool_cmd_load;                                  /* cmd_load.c */
extern const tool_command tool_cmd_get, tool_cmd_put, tool_cmd_del, tool_cmd_scan; /* cmd_records.c */
extern const tool_command tool_cmd_fbs;                                   /* cmd_fbs.c */

/* ---- Messages (util.c) ---- */

/* The text of birch error rc, just returned by a birch call: its detail
 * (birch_errmsg: the option, path, OS reason or failed check).  Every
 * message about a birch error takes its text from here. */
const char *tool_errmsg(int rc);

/* "birch: MESSAGE" on stderr; returns TOOL_FAIL. */
int tool_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "birch: MESSAGE: <tool_errmsg(rc)>" on stderr; returns TOOL_FAIL. */
int tool_fail_rc(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "birch CMD: MESSAGE" and a hint to --help on stderr; returns TOOL_USAGE. */
int tool_bad_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- Checked output (util.c) ---- */

/* Standard output, written through calls that check every write.  After
 * the first failure, err holds its errno and every later call does
 * nothing and returns -1, so a loop may check once per record. */
typedef struct tool_out {
    FILE *f;
    int err; /* errno of the first failed write; 0 while none failed */
} tool_out;

void tool_out_init(tool_out *o);
/* Each returns 0, or -1 once a write has failed. */
int tool_write(tool_out *o, const void *data, size_t n);
int tool_puts(tool_out *o, const char *s); /* no newline added */
int tool_putc(tool_out *o, int c);
int tool_printf(tool_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Flushes the output; a write that failed (now or earlier) is reported and
 * turns code into TOOL_FAIL (a code that already says failure is kept, and
 * then the write error is not reported again: the first message is the one
 * that matters).  Returns the code to exit with. */
int tool_out_end(tool_out *o, int code);

/* ---- Decimal numbers (util.c) ---- */

/* Parses s as a decimal number: digits only (no sign, no spaces, no 0x),
 * from min to max.  Returns 1, or 0 if s is not such a number. */
int tool_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* The same with an optional leading '-'. */
int tool_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* ---- Options (util.c) ---- */

/* Options a command accepts (tool_parse_opts' allowed). */
enum {
    TOOL_OPT_TABLE = 1u << 0,   /* -t TABLE, --table TABLE */
    TOOL_OPT_HEX = 1u << 1,     /* --hex */
    TOOL_OPT_SCAN = 1u << 2,    /* --prefix KEY, --from KEY, -n N */
    TOOL_OPT_CREATE = 1u << 3,  /* --create, --page-size N */
    TOOL_OPT_COMPACT = 1u << 4, /* --compact */
    TOOL_OPT_CLEAR = 1u << 5,   /* --clear-stale */
};

enum { TOOL_MAX_POS = 4 };

typedef struct tool_opts {
    const char *table;       /* -t */
    int hex;                 /* --hex */
    const char *prefix;      /* --prefix */
    const char *from;        /* --from */
    uint64_t limit;          /* -n; UINT64_MAX when not given */
    int create;              /* --create */
    uint32_t page_size;      /* --page-size; 0 when not given */
    int compact;             /* --compact */
    int clear_stale;         /* --clear-stale */
    char *pos[TOOL_MAX_POS]; /* the positional arguments */
    int npos;
} tool_opts;

/* Parses argv[1..argc-1] of command cmd: the options in allowed, anywhere,
 * and exactly npos positional arguments (expect names them in the
 * message).  "--" ends the options; an argument that looks like a
 * negative number ("-5") is positional (a signed key).  Returns TOOL_OK or
 * TOOL_USAGE (after the message). */
int tool_parse_opts(const char *cmd, int argc, char **argv, unsigned allowed, int npos, const char *expect,
                    tool_opts *o);

/* ---- Opening (util.c) ---- */

enum {
    TOOL_READ = 0,   /* read-only: never creates the file */
    TOOL_WRITE = 1,  /* the file must exist */
    TOOL_CREATE = 2, /* with TOOL_WRITE: create the file when missing */
    TOOL_HINT = 4    /* with TOOL_WRITE: the command has --create; say so */
};

/* The file a command created: tool_open fills it (when created is not
 * NULL) and tool_close removes that file if the command failed, so that a
 * failed command leaves nothing it created.  real is NULL when the open
 * created nothing (the file was there before) or its real path is
 * unknown; dev and ino tell the file from one put in its place since. */
typedef struct tool_created {
    char *real; /* malloc'd (realpath): a symbolic link's target, not the link */
    dev_t dev;
    ino_t ino;
} tool_created;

/* Opens the database at path as mode says (TOOL_READ or TOOL_WRITE with
 * TOOL_CREATE or TOOL_HINT); page_size (0: the default) is used when the
 * file is created.  Writes are made durable by tool_close.  created (may
 * be NULL): see tool_created; pass the same to tool_close.  Returns
 * TOOL_OK, or TOOL_FAIL after the message. */
int tool_open(const char *path, unsigned mode, uint32_t page_size, birch_db **db, tool_created *created);
/* Closes db; a failure (the final sync) turns code TOOL_OK into TOOL_FAIL.
 * When code (after that) is not TOOL_OK and created names a file this
 * command created, the file is removed first, while db still holds its
 * lock.  created may be NULL; its real is freed. */
int tool_close(birch_db *db, const char *path, int code, tool_created *created);

/* ---- Progress on a terminal (util.c) ---- */

/* A progress bar on standard error, drawn only when standard error is a
 * terminal (tty); tests and pipes see nothing. */
typedef struct tool_progress {
    const char *label;
    int tty;
    int shown;
    int last_pct;
} tool_progress;

void tool_progress_init(tool_progress *p, const char *label);
void tool_progress_show(tool_progress *p, uint64_t done, uint64_t total);
/* A line of text in the bar's place, for work without steps to count. */
void tool_progress_note(tool_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Erases the bar (or note), if one is shown. */
void tool_progress_end(tool_progress *p);
/* A birch_progress_fn that draws into the tool_progress at ctx. */
int tool_on_progress(uint64_t done, uint64_t total, void *ctx);

/* ---- Table names (util.c) ---- */

/* The table names of txn's snapshot, in name order (malloc'd copies). */
typedef struct tool_names {
    char **names;
    size_t n, cap;
} tool_names;

/* Adds a copy of name; 0, or 1 when out of memory. */
int tool_names_add(tool_names *l, const char *name);
/* Lists every table of txn.  Returns TOOL_OK or TOOL_FAIL (message shown). */
int tool_names_list(birch_txn *txn, tool_names *l);
void tool_names_free(tool_names *l);

/* ---- Text forms of keys, values and names (text.c) ---- */

/* What a table's schema says about its keys and values, as far as the
 * command understands it (typed tables, birch_typed.h). */
typedef struct tool_formats {
    const birch_key_format *key; /* a built-in key format, or NULL */
    int value;                   /* TOOL_VALUE_* */
    size_t pod_size;             /* TOOL_VALUE_POD: bytes per value, 0 if unknown */
} tool_formats;

enum { TOOL_VALUE_OTHER, TOOL_VALUE_STRING, TOOL_VALUE_POD };

tool_formats tool_formats_of(birch_val schema);

/* Writes bytes as lower-case hex digits. */
int tool_out_hex(tool_out *o, const void *data, size_t n);
/* Writes text: printable ASCII as it is, '\\' as "\\\\", any other byte as
 * "\\xNN" (so no tab or newline reaches the output). */
int tool_out_text(tool_out *o, const void *data, size_t n);
/* Writes bytes of no known format: "\"TEXT\"" when every byte is printable
 * ASCII (with '"' and '\\' escaped by a backslash), else hex digits.  A
 * quote tells one from the other. */
int tool_out_bytes(tool_out *o, const void *data, size_t n);

/* Writes a key or a value of a table with formats f (hex: as hex). */
int tool_out_key(tool_out *o, const tool_formats *f, int hex, birch_val k);
int tool_out_value(tool_out *o, const tool_formats *f, int hex, birch_val v);

/* Decodes n hex digits at s, in place, into *out (n/2 bytes at s).
 * Returns 1, or 0 on an odd count or a non-hex character. */
int tool_from_hex(char *s, size_t n, birch_val *out);
/* Decodes the print format of mdb_dump -p in place: printable bytes as
 * they are, "\\\\" and "\\XX" escapes.  Always succeeds. */
void tool_from_print(char *s, size_t n, birch_val *out);

/* The bytes of a command-line key for formats f: a number, bool or text
 * of the table's key format, or (hex) hex digits; decoded into buf (cap
 * bytes) or in place in s.  Returns 1, or 0 if s is not such a key. */
int tool_parse_key(const tool_formats *f, char *s, int hex, uint8_t *buf, size_t cap, birch_val *out);
/* The bytes of a command-line value: text, or hex (hex, or a pod table).
 * Returns 1, or 0 on bad hex. */
int tool_parse_value(const tool_formats *f, char *s, int hex, birch_val *out);

#endif /* BIRCH_TOOL_H */
