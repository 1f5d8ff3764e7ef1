#!/bin/sh
# check_exports.sh - the libraries users link define no global symbol
# outside the birch_ namespace, so that none can clash with a program's own
# names (the engine's internals are bi_*).
#
#   check_exports.sh shared LIBRARY EXPECTED_SONAME
#       libbirch.so: every symbol it exports (nm -D --defined-only, global
#       or weak) is a birch_* name; cmake/birch.map hides the rest.  Also
#       checks the SONAME.
#   check_exports.sh static LIBRARY
#       libbirch.a: every global or weak symbol its objects define
#       (nm -g --defined-only) is a birch_* name; CMakeLists.txt makes the
#       rest local (ld -r, objcopy).
#
# Both also check that the API is there at all: a few birch_* names that
# must be defined.
set -eu
mode=$1 lib=$2

case $mode in
shared) nmflags=-D what=exports ;;
static) nmflags=-g what=defines ;;
*) echo "usage: check_exports.sh shared LIB SONAME | static LIB" >&2; exit 2 ;;
esac

syms=$(nm $nmflags --defined-only "$lib") || { echo "nm $nmflags failed on $lib" >&2; exit 1; }
# Symbol lines are "ADDRESS TYPE NAME" (an archive adds "member.o:" lines
# and blank ones); an upper-case type (or u, v, i) is a global or weak
# definition.  Version nodes of the shared library would show up as type A.
bad=$(printf '%s\n' "$syms" | awk 'NF == 3 && $2 ~ /^[A-Zuvi]$/ && $3 !~ /^birch_/ { print }')
if [ -n "$bad" ]; then
    echo "$lib $what global symbols outside the birch_ namespace:" >&2
    printf '%s\n' "$bad" >&2
    exit 1
fi
n=$(printf '%s\n' "$syms" | awk 'NF == 3 && $3 ~ /^birch_/' | wc -l)
for s in birch_open birch_version birch_typed_open birch_key_u64 birch_value_bytes; do
    printf '%s\n' "$syms" | awk -v s="$s" 'NF == 3 && $3 == s { f = 1 } END { exit !f }' ||
        { echo "$lib does not define $s" >&2; exit 1; }
done

if [ "$mode" = shared ]; then
    soname=$3
    got=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
    [ "$got" = "$soname" ] || { echo "$lib: SONAME '$got', expected '$soname'" >&2; exit 1; }
    echo "$lib: $n symbols exported, all birch_*; SONAME $got"
else
    echo "$lib: $n global symbols defined, all birch_*"
fi
