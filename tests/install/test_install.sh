#!/usr/bin/env bash
# Install test (label install): `cmake --install` into a temporary prefix, then check
# what a user of that prefix gets: the binary, the public headers only (each one compiles
# on its own), the CMake package, fedalign.pc, the man page and the bash completion; and
# build and run tests/install/consumer.c against the installed fedalign_core twice,
# through find_package(fedalign) and through pkg-config, under mpiexec -n 2.
# CTest sets FEDALIGN, FA_BUILD_DIR (the build tree to install), MPIEXEC.
. "$(dirname "$0")/../e2e/common.sh"
: "${FA_BUILD_DIR:?FA_BUILD_DIR (the build tree) must be set}"
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
prefix=$WORK/prefix

cmake --install "$FA_BUILD_DIR" --prefix "$prefix" > "$WORK/install.log" 2>&1 \
  && pass "cmake --install --prefix" || { fail "cmake --install: $(tail -5 "$WORK/install.log")"; finish; }

# ---- files
libdir=$(cd "$prefix" && ls -d lib*/cmake/fedalign | head -1 | sed 's|/cmake/fedalign||')
for f in bin/fedalign "$libdir/libfedalign_core.a" "$libdir/cmake/fedalign/fedalignConfig.cmake" \
         "$libdir/cmake/fedalign/fedalignConfigVersion.cmake" "$libdir/pkgconfig/fedalign.pc" \
         share/bash-completion/completions/fedalign share/doc/fedalign/LICENSE \
         share/doc/fedalign/CITATION.cff; do
  [ -f "$prefix/$f" ] && pass "installed $f" || fail "not installed: $f"
done
if command -v help2man > /dev/null; then
  [ -s "$prefix/share/man/man1/fedalign.1" ] && pass "man page installed" || fail "no man page"
  page=$(man -l "$prefix/share/man/man1/fedalign.1" 2>/dev/null || cat "$prefix/share/man/man1/fedalign.1")
  for cmd in $("$FEDALIGN" --help | sed -n '/^Commands:/,/^[^ ]/s/^  \([a-z]*\) .*/\1/p'); do
    echo "$page" | grep -q "$cmd" || fail "man page lacks the command $cmd"
  done
  echo "$page" | grep -q -- '--rounds' && pass "man page lists the run options" || fail "man page lacks --rounds"
else
  echo "note: help2man not installed, man page not checked (apt-get install help2man)"
fi
"$prefix/bin/fedalign" --version | grep -q '^fedalign [0-9]' && pass "installed fedalign --version" \
  || fail "installed fedalign --version"
cmp -s "$prefix/share/bash-completion/completions/fedalign" <("$FEDALIGN" completion bash) \
  && pass "installed completion = fedalign completion bash" || fail "installed completion differs"

# ---- public headers only: every include/fedalign header but *_internal.h, and no more
want=$(cd "$src/include/fedalign" && ls *.h | grep -v '_internal\.h$' | sort)
got=$(cd "$prefix/include/fedalign" && ls *.h | sort)
[ "$want" = "$got" ] && pass "public headers: $(echo $got | wc -w) installed, *_internal.h not" \
  || fail "installed headers differ: $(diff <(echo "$want") <(echo "$got") | tr '\n' ' ')"

export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
cflags=$(pkg-config --cflags fedalign) && libs=$(pkg-config --libs fedalign) \
  && pass "pkg-config --cflags --libs fedalign" || fail "pkg-config fedalign"
[ "$(pkg-config --modversion fedalign)" = "$("$FEDALIGN" --version | awk '{print $2}')" ] \
  && pass "pkg-config version = fedalign --version" || fail "pkg-config version differs"
# each installed header alone: it includes only installed headers and what it uses
bad=0
for h in $got; do
  echo "#include \"fedalign/$h\"" > "$WORK/h.c"
  cc -std=c17 -fsyntax-only $cflags "$WORK/h.c" 2> "$WORK/h.err" \
    || { fail "fedalign/$h alone: $(head -3 "$WORK/h.err")"; bad=1; }
done
[ $bad = 0 ] && pass "every installed header compiles on its own"

run_consumer() { # how exe
  out=$(OMP_NUM_THREADS=1 mpirun_n 2 "$2" 2>&1); rc=$?
  [ $rc = 0 ] && echo "$out" | grep -q '^consumer: fedalign_core linked, 2 ranks' \
    && pass "$1 consumer: $(echo "$out" | grep '^consumer')" || fail "$1 consumer: rc $rc: $out"
}

# ---- find_package(fedalign)
if cmake -S "$here" -B "$WORK/cmake-consumer" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
     > "$WORK/cc.log" 2>&1 && cmake --build "$WORK/cmake-consumer" >> "$WORK/cc.log" 2>&1; then
  pass "find_package(fedalign) consumer builds"
  run_consumer "find_package" "$WORK/cmake-consumer/consumer"
else
  fail "find_package consumer: $(tail -15 "$WORK/cc.log")"
fi

# ---- pkg-config
if cc -std=c17 $cflags "$here/consumer.c" -o "$WORK/pc-consumer" $libs 2> "$WORK/pc.log"; then
  pass "pkg-config consumer builds"
  run_consumer "pkg-config" "$WORK/pc-consumer"
else
  fail "pkg-config consumer: $(tail -15 "$WORK/pc.log")"
fi
finish
