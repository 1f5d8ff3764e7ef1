#!/bin/sh
# lint_errors.sh SOURCE_DIR: every error the library returns must start at a
# place that records its detail for birch_errmsg() (engine/err.h): a result
# code may appear in engine/ and api/ only as the first argument of bi_err,
# bi_err_s or bi_err_os, in a comparison (== or !=), or as a switch case.
# A bare "return BIRCH_EINVAL;" would leave birch_errmsg() describing some
# earlier error.  Comments are ignored.
set -eu
dir=$1
bad=""
for f in "$dir"/engine/*.c "$dir"/api/*.c; do
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
echo "every result code in engine/ and api/ starts with a recorded detail"
