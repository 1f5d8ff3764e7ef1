/*
 * birch.c - the birch command: inspect, check, copy, compact, dump, load
 * and edit birch database files, list the processes reading them, and
 * generate C headers from FlatBuffers schemas.
 * `birch --help` lists the commands and the exit codes; `birch COMMAND
 * --help` describes one.  Each command lives in a cmd_*.c file (tool.h
 * lists them); this file finds it, runs it, and makes sure that what
 * reached standard output really got there.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

static const tool_command *const COMMANDS[] = {
    &tool_cmd_stat, &tool_cmd_tables, &tool_cmd_check, &tool_cmd_readers, &tool_cmd_copy, &tool_cmd_compact,
    &tool_cmd_dump, &tool_cmd_load,   &tool_cmd_get,   &tool_cmd_put,     &tool_cmd_del,  &tool_cmd_scan,
    &tool_cmd_fbs,
};
enum { NCOMMANDS = sizeof COMMANDS / sizeof COMMANDS[0] };

static const char KEY_HELP[] =
    "Keys and values:\n"
    "  A table whose schema (typed tables, birch_typed.h) names a built-in key\n"
    "  format takes and shows keys in it: u8..u64 and i8..i64 in decimal,\n"
    "  f32 and f64, bool as true/false, string as text.  Other keys are text on\n"
    "  the command line.  Values of string tables are text; values of pod\n"
    "  tables are hex, and a pod value is given as hex of its exact size;\n"
    "  other values are text on the command line.\n"
    "  Output of keys and values of no known format: \"TEXT\" in double quotes\n"
    "  when every byte is printable ASCII (\\\" and \\\\ inside), else hex digits:\n"
    "  6b01 is the two bytes 0x6b 0x01, \"6b01\" the four characters.  Text of\n"
    "  string keys and values shows a backslash as \\\\ and any byte that is not\n"
    "  printable ASCII as \\xNN.  --hex: keys and values are hex digits, on the\n"
    "  command line and in the output.  Put -- before a key that starts with '-'.\n";

static const char EXIT_HELP[] =
    "Exit codes (every command):\n"
    "  0  success\n"
    "  1  failure: the file does not open (missing, not a birch database, locked,\n"
    "     damaged), check found damage, no such table or key (get, del), bad\n"
    "     dump input (load), an I/O error, or a failed write to standard output\n"
    "     (a closed pipe, a full disk)\n"
    "  2  usage: unknown command or option, missing or extra argument, a bad\n"
    "     number (decimal digits only), key or value\n";

static void usage(tool_out *o)
{
    tool_printf(o, "usage: birch COMMAND ARGS...   (birch %s)\n\nCommands:\n", birch_version());
    for (size_t i = 0; i < NCOMMANDS; i++) tool_printf(o, "  birch %s\n", COMMANDS[i]->synopsis);
    tool_printf(o, "\n'birch COMMAND --help' describes one.  When standard error is a\n"
                   "terminal, long operations (stat, check, copy, compact, dump, load)\n"
                   "show their progress there.  Commands that write (put, load) create a\n"
                   "missing database file only with --create; the others never create one.\n\n%s\n%s",
                KEY_HELP, EXIT_HELP);
}

static int command_help(const tool_command *c)
{
    tool_out o;
    tool_out_init(&o);
    tool_printf(&o, "usage: birch %s\n\n%s", c->synopsis, c->help);
    if (c->keys) tool_printf(&o, "\n%s", KEY_HELP);
    tool_printf(&o, "\n%s", EXIT_HELP);
    return tool_out_end(&o, TOOL_OK);
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

/* Standard input, output and error, if closed, are opened on /dev/null
 * the wrong way round, so that the database file never becomes fd 1 (and
 * receives the output), and writes to a closed stdout fail rather than
 * vanish.  Returns 0, or -1 if that cannot be done. */
static int guard_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        int got = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
        if (got != fd) return -1;
    }
    return 0;
}

static int run(int argc, char **argv)
{
    tool_out o;
    tool_out_init(&o);
    if (argc < 2) {
        o.f = stderr;
        usage(&o);
        return TOOL_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(&o);
        return tool_out_end(&o, TOOL_OK);
    }
    if (strcmp(name, "--version") == 0) {
        tool_printf(&o, "birch %s\n", birch_version());
        return tool_out_end(&o, TOOL_OK);
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const tool_command *c = COMMANDS[i];
        if (strcmp(name, c->name) != 0) continue;
        return wants_help(argc - 1, argv + 1) ? command_help(c) : c->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "birch: unknown command '%s'\nTry 'birch --help'.\n", name);
    return TOOL_USAGE;
}

int main(int argc, char **argv)
{
    if (guard_std_fds() != 0) return TOOL_FAIL;
    /* A closed pipe is a failed write (EPIPE), reported and exit 1, rather
     * than a silent death by SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    int code = run(argc, argv);
    /* Commands flush and check their output; this catches what is left. */
    if (ferror(stdout) || fclose(stdout) != 0) {
        if (code == TOOL_OK) code = tool_fail("writing to standard output: %s", strerror(errno ? errno : EIO));
    }
    return code;
}
