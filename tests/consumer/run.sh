#!/bin/sh
# run.sh - install birch from a build tree into a scratch prefix, then build
# examples/quickstart.c against that copy as another project would, and run
# each program:
#   1. find_package(birch): tests/consumer/CMakeLists.txt, with birch::birch
#      (shared) and birch::birch_static, and a FlatBuffers header generated
#      from tests/consumer/note.fbs by the installed `birch fbs`;
#   2. pkg-config: a plain compile line with `pkg-config --cflags --libs
#      birch`, and one with `--static` against libbirch.a.
#
#   run.sh SOURCE_DIR BUILD_DIR WORK_DIR
#
# Environment: CC (default cc); CFLAGS and LDFLAGS go to both builds (the
# sanitizer builds pass their flags, which the installed objects need).
set -eu

src=$1 build=$2 work=$3
cc=${CC:-cc}
example=$src/examples/quickstart.c

say() { printf 'consumer: %s\n' "$*"; }
fail() { printf 'consumer: FAILED: %s\n' "$*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work/run"
prefix=$work/prefix

say "cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 || {
    cat "$work/install.log" >&2
    fail "cmake --install"
}
for f in include/birch.h bin/birch lib*/cmake/birch/BirchFlatbuffers.cmake lib*/libbirch.a lib*/libbirch.so lib*/pkgconfig/birch.pc \
    lib*/cmake/birch/birchConfig.cmake lib*/cmake/birch/birchConfigVersion.cmake; do
    # shellcheck disable=SC2086 # the lib* glob is meant
    set -- "$prefix"/$f
    [ -e "$1" ] || fail "not installed: $f"
done
# The installed libbirch.a defines no global symbol but the birch_* API.
# shellcheck disable=SC2086 # the lib* glob is meant
sh "$src/tests/check_exports.sh" static "$prefix"/lib*/libbirch.a >"$work/nm.log" 2>&1 || {
    cat "$work/nm.log" >&2
    fail "the installed libbirch.a defines internal global symbols"
}
# Every header that an installed header includes ("...") is installed too.
for hdr in "$prefix"/include/*.h; do
    sed -n 's/^#include "\(.*\)".*/\1/p' "$hdr" | while read -r h; do
        [ -e "$prefix/include/$h" ] || fail "$(basename "$hdr") includes $h, which is not installed"
    done
done

run() { # run NAME PROGRAM: run it in a scratch directory, with its output
    say "running $1"
    (cd "$work/run" && "$2" "$work/run/$1.birch") >"$work/$1.out" 2>&1 || {
        cat "$work/$1.out" >&2
        fail "$1 exited with $?"
    }
    grep -q '^done$' "$work/$1.out" || { cat "$work/$1.out" >&2; fail "$1 did not finish"; }
}

# ---- 1. find_package(birch) ---------------------------------------------------
say "find_package(birch): configure and build tests/consumer"
if ! cmake -S "$src/tests/consumer" -B "$work/cmake" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_PREFIX_PATH="$prefix" -DBIRCH_EXAMPLE="$example" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$work/cmake.log" 2>&1 ||
    ! cmake --build "$work/cmake" >>"$work/cmake.log" 2>&1; then
    cat "$work/cmake.log" >&2
    fail "the find_package consumer did not build"
fi
grep -q "birch .* in $prefix/" "$work/cmake.log" || {
    cat "$work/cmake.log" >&2
    fail "find_package(birch) found another copy than $prefix"
}
links() { # links PROGRAM yes|no: whether PROGRAM must need libbirch.so
    if readelf -d "$1" | grep -q 'NEEDED.*\[libbirch\.so'; then
        [ "$2" = yes ] || fail "$1 depends on libbirch.so"
    else
        [ "$2" = no ] || fail "$1 does not depend on libbirch.so"
    fi
}
links "$work/cmake/quickstart_shared" yes
links "$work/cmake/quickstart_static" no
run quickstart_shared "$work/cmake/quickstart_shared"
run quickstart_static "$work/cmake/quickstart_static"
# The header of note.fbs was generated at build time by the installed birch.
[ -f "$work/cmake/birch_fbs/note_birch.h" ] || fail "birch_flatbuffers_generate made no note_birch.h"
run fbs_consumer "$work/cmake/fbs_consumer"
run notes_user "$work/cmake/notes_user"

# ---- 2. pkg-config --------------------------------------------------------------
pcdir=$(dirname "$(ls "$prefix"/lib*/pkgconfig/birch.pc)")
export PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pkg-config --exists --print-errors birch || fail "pkg-config does not know birch"
cflags=$(pkg-config --cflags birch)
libs=$(pkg-config --libs birch)
libdir=$(pkg-config --variable=libdir birch)
say "pkg-config: $cc $cflags quickstart.c $libs"
# shellcheck disable=SC2086 # flags are word lists
$cc ${CFLAGS:-} $cflags "$example" -o "$work/pc_shared" ${LDFLAGS:-} $libs \
    -Wl,-rpath,"$libdir" || fail "the pkg-config shared build"
links "$work/pc_shared" yes
run pc_shared "$work/pc_shared"

# Static: the same line with --static (Libs.private, Requires.private), and
# libbirch.a named instead of -lbirch so that the shared one cannot be taken.
slibs=$(pkg-config --static --libs birch | sed 's/-lbirch\b/-l:libbirch.a/')
say "pkg-config --static: $cc $cflags quickstart.c $slibs"
# shellcheck disable=SC2086
$cc ${CFLAGS:-} $cflags "$example" -o "$work/pc_static" ${LDFLAGS:-} $slibs ||
    fail "the pkg-config static build"
links "$work/pc_static" no
run pc_static "$work/pc_static"
say "ok"
