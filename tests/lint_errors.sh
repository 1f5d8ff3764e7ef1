#!/bin/sh
# lint_errors.sh SOURCE_DIR: every error the library returns must start at a
# place that records its detail for birch_errmsg() (engine/err.h): a result
# code may appear in engine/, api/ and formats/ only as the first argument of
# a recorder, in a comparison (== or !=), or as a switch case.  A bare
# "return BIRCH_EINVAL;" would leave birch_errmsg() describing some earlier
# error.  Comments are ignored.
#
# The recorders: bi_err, bi_err_s and bi_err_os (engine/err.h), and the few
# file-local helpers below, each of which records the message it is given
# itself, as bi_err_s does (so a code passed to one is recorded, not bare):
#   fb_fail   formats/flatbuffers.c: a builder call that returns nothing
#             records its failure and keeps it for birch_fb_finish
# Add a helper here only if it records the detail on every path.
set -eu
dir=$1
bad=""
for f in "$dir"/engine/*.c "$dir"/api/*.c "$dir"/formats/*.c "$dir"/formats/*.h; do
    case $f in */engine/err.c) continue ;; esac # the recorder itself
    out=$(perl -ne '
        BEGIN { $in = 0 }
        if ($in) { if (s{^.*?\*/}{}) { $in = 0 } else { next } }
        s{/\*.*?\*/}{}g;
        if (s{/\*.*$}{}) { $in = 1 }
        s{//.*$}{};
        next if /^\s*#\s*define\s+BIRCH_/;
        while (/BIRCH_(E[A-Z]+|NOTFOUND|EXISTS)\b/g) {
            my $before = substr($_, 0, $-[0]);
            next if $before =~ /(==|!=)\s*$/;
            next if $before =~ /\bcase\s+$/;
            next if $before =~ /\b(bi_err|bi_err_s|bi_err_os)\(\s*$/;
            next if $before =~ /\bfb_fail\(\s*\w+\s*,\s*$/; # fb_fail(b, CODE, msg)
            print "$.: $_";
            last;
        }' "$f")
    [ -z "$out" ] || bad="$bad$(printf '%s\n' "$out" | sed "s|^|$f:|")
"
done
if [ -n "$bad" ]; then
    echo "result codes returned without a detail for birch_errmsg() (use bi_err, bi_err_s or BI_CORRUPT):" >&2
    printf '%s' "$bad" >&2
    exit 1
fi
echo "every result code in engine/, api/ and formats/ starts with a recorded detail"
