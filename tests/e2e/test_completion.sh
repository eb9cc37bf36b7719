#!/usr/bin/env bash
# The bash completion (`fedalign completion bash`, installed by cmake --install) offers
# exactly what the parsers accept: every command of --help, every flag each command's
# --help lists, an enum's names after its flag, files after a FILE flag, nothing after a
# number flag. Driven through bash's own completion variables, as bash calls it.
. "$(dirname "$0")/common.sh"
"$FEDALIGN" completion bash > "$WORK/c.bash" && bash -n "$WORK/c.bash" \
  && pass "completion bash: a valid script" || fail "completion bash"
"$FEDALIGN" completion zsh > /dev/null 2>&1; rc=$?
[ $rc = 2 ] && pass "completion zsh refused (exit 2)" || fail "completion zsh: exit $rc"

# complete WORDS...: the candidates bash would show for the last word
complete_words() {
  bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _fedalign; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$WORK/c.bash" fedalign "$@" | sort
}
# the flags a --help text lists (lines "  --name ...")
help_flags() { sed -n 's/^ *\(--[a-z][a-z0-9-]*\).*/\1/p' | sort -u; }

cmds=$("$FEDALIGN" --help | sed -n '/^Commands:/,/^[^ ]/s/^  \([a-z]*\) .*/\1/p' | sort)
[ "$(complete_words '')" = "$(printf '%s\n' $cmds --help --version | sort)" ] \
  && pass "commands: $(echo $cmds)" || fail "command words: $(complete_words '' | tr '\n' ' ')"
for cmd in run suite data export bench; do
  want=$("$FEDALIGN" $( [ $cmd = suite ] || [ $cmd = data ] && echo run || echo $cmd) --help | help_flags)
  [ $cmd = export ] && want=$( (echo "$want"; "$FEDALIGN" --help | help_flags) | sort -u)
  got=$(complete_words $cmd -- | grep -- '^--' | grep -vx -- '--help')
  missing=$(comm -23 <(echo "$want") <(echo "$got")); extra=$(comm -13 <(echo "$want") <(echo "$got"))
  [ -z "$missing$extra" ] && pass "$cmd: $(echo "$got" | wc -l) flags, as --help lists" \
    || fail "$cmd: missing [$(echo $missing)] extra [$(echo $extra)]"
done
# the method names as `run --help` lists them (the method table's names), not a copy here
methods=$("$FEDALIGN" run --help | sed -n 's/^ *--method NAME .*: \([a-z|]*\) \[.*/\1/p' | tr '|' '\n' | sort)
[ "$(echo "$methods" | wc -l)" -ge 4 ] || fail "run --help lists no methods"
[ "$(complete_words run --method '')" = "$methods" ] \
  && pass "run --method: the method names" || fail "run --method: $(complete_words run --method '')"
[ "$(complete_words run --partition '')" = "$(printf '%s\n' column: dirichlet: iid)" ] \
  && pass "run --partition: its forms" || fail "run --partition: $(complete_words run --partition '')"
[ -z "$(complete_words run --rounds '')" ] && pass "run --rounds: nothing (a number)" \
  || fail "run --rounds offers words"
touch "$WORK/results_x.h5"
[ "$(cd "$WORK" && complete_words run --output results_)" = results_x.h5 ] \
  && pass "run --output: files" || fail "run --output: $(cd "$WORK" && complete_words run --output results_)"
complete_words bench '' | grep -qx round && pass "bench: sub-benchmark names" || fail "bench: no sub-benchmarks"
finish
