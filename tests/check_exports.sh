#!/bin/sh
# check_exports.sh LIBRARY: every symbol that the shared library defines
# and exports (nm -D --defined-only, global or weak) must be a birch_* name
# of the public API; cmake/birch.map hides the rest.  Also checks that some
# are exported at all, and the SONAME.
#
#   check_exports.sh build/plain/libbirch.so EXPECTED_SONAME
set -eu
lib=$1 soname=$2

syms=$(nm -D --defined-only "$lib") || { echo "nm -D failed on $lib" >&2; exit 1; }
# Lines are "ADDRESS TYPE NAME"; an upper-case type (or V, W, u, i) is a
# global or weak definition.  Version nodes would show up as type A.
bad=$(printf '%s\n' "$syms" | awk '$2 ~ /^[A-Zuvi]$/ && $3 !~ /^birch_/ { print }')
if [ -n "$bad" ]; then
    echo "$lib exports symbols outside the birch_ namespace:" >&2
    printf '%s\n' "$bad" >&2
    exit 1
fi
n=$(printf '%s\n' "$syms" | awk '$3 ~ /^birch_/' | wc -l)
for s in birch_open birch_version birch_typed_open birch_key_u64 birch_value_bytes; do
    printf '%s\n' "$syms" | awk -v s="$s" '$3 == s { f = 1 } END { exit !f }' ||
        { echo "$lib does not export $s" >&2; exit 1; }
done
got=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[ "$got" = "$soname" ] || { echo "$lib: SONAME '$got', expected '$soname'" >&2; exit 1; }
echo "$lib: $n symbols exported, all birch_*; SONAME $got"
