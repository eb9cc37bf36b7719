# m4_pipeline.sh: sourced by test_cortex_m4.sh for the configuration mechanical:pipeline
# (issue 17, item 4: a device goes from raw signal to class with exported code only).
# An MLP on the mechanical generator's features is exported (model.c/.h plus the feature
# extractor feature_extractor.c/.h); a firmware of ONLY those files, raw windows (the
# client's test windows, edge cases and a few windows of every other device, each with its
# device's envelope frequencies: tests/tinyml/pipeline_ref.c writes them as C arrays) and the driver
# m4_pipeline.c runs raw window -> features -> int8 model -> class under qemu-system-arm.
# Every window's features (as float bits), int8 model input and class must equal
# fedalign's on the host (gen_mech_features, quant_input, quant_predict_q), byte for byte.
# Also: the extractor's and the whole pipeline's flash/RAM (arm-none-eabi-size of minimal
# firmwares, m4_footprint.c, minus the bare start-up), stack (painted, measured under QEMU)
# and instructions per window (QEMU -icount), as one line each:
#   TINYML_M4_PIPELINE dataset=mechanical part=extractor|pipeline flash_bytes=..
#     ram_static_bytes=.. stack_bytes=.. instr_per_window=.. windows=N
# The doubles of the extractor are software floating point on the M4F (libgcc), its sqrt,
# cos, sin, fmax newlib's libm; the C library is newlib-nano (-lc_nano, the usual choice for
# a Cortex-M: the full newlib's reentrancy struct behind sqrt's errno is 1 KB of RAM).
# Uses from test_cortex_m4.sh: FEDALIGN QUANT_REF PIPELINE_REF SRC CFLAGS fail pass.

m4_pipeline() {
  local ds=$1 d=$2 opts=(--preset tiny --dataset "$1" --seed 7)
  local libs=(-lm -lc_nano -lgcc) ld=(-nostdlib -T "$SRC/tinyml/m4.ld" -Wl,--gc-sections)
  local cflags="$CFLAGS -ffp-contract=off"   # the training features' bits (no fused multiply-add)
  [ -x "$PIPELINE_REF" ] || { fail "$PIPELINE_REF not built"; return; }
  if [ "$(arm-none-eabi-gcc $CFLAGS -print-file-name=libc_nano.a)" = libc_nano.a ]; then
    echo "SKIP: $ds pipeline: newlib (libm, libc_nano) for arm-none-eabi not found; install with: apt-get install -y libnewlib-arm-none-eabi"
    return
  fi
  "$QUANT_REF" train "$d/model.bin" 1 "${opts[@]}" 2>/dev/null || { fail "$ds pipeline: quant_ref train"; return; }
  "$FEDALIGN" export --model-bin "$d/model.bin" --client 1 --out "$d" --overwrite --bench-reps 0 "${opts[@]}" >"$d/export.txt" 2>&1 \
    || { fail "$ds pipeline: export: $(cat "$d/export.txt")"; return; }
  [ -f "$d/feature_extractor.c" ] || { fail "$ds pipeline: the export wrote no feature_extractor.c"; return; }
  "$PIPELINE_REF" "$d/model.bin" 1 "$d/windows.c" "${opts[@]}" >"$d/ref.txt" 2>"$d/ref.err" \
    || { fail "$ds pipeline: pipeline_ref: $(cat "$d/ref.err")"; return; }
  echo "# $ds pipeline: $(cat "$d/ref.err")"

  # the extractor alone: what it needs from the toolchain, its stack frames
  arm-none-eabi-gcc $cflags -fstack-usage -c "$d/feature_extractor.c" -o "$d/fe.o" 2>"$d/cc.err" \
    || { fail "$ds pipeline: feature_extractor.c does not build for Cortex-M4: $(cat "$d/cc.err")"; return; }
  pass "$ds pipeline: feature_extractor.c builds with arm-none-eabi-gcc $cflags"
  echo "# $ds pipeline: feature_extractor.o needs $(arm-none-eabi-nm -u "$d/fe.o" | awk '{printf "%s ", $2}')"
  echo "# $ds pipeline: feature_extractor.o stack frames $(awk -F'\t' '{split($1, a, ":"); printf "%s=%s ", a[4], $2}' "$d/fe.su")"

  # flash/RAM: minimal firmwares (m4_footprint.c) with nothing, the extractor, the pipeline
  local v sz=()
  for v in 0 1 2; do
    arm-none-eabi-gcc $cflags -DFA_FP=$v -I"$d" "${ld[@]}" -o "$d/fp$v.elf" "$d/model.c" "$d/feature_extractor.c" \
      "$SRC/tinyml/m4_footprint.c" "$SRC/tinyml/startup_m4.c" "${libs[@]}" 2>"$d/cc.err" \
      || { fail "$ds pipeline: footprint firmware $v does not link: $(cat "$d/cc.err")"; return; }
    sz+=("$(arm-none-eabi-size "$d/fp$v.elf" | awk 'NR == 2 {print $1, $2, $3}')")
  done
  echo "# $ds pipeline: arm-none-eabi-size (text data bss) bare ${sz[0]}, +extractor ${sz[1]}, +extractor+model ${sz[2]}"

  # the run: every window on the emulated board against the host
  arm-none-eabi-gcc $cflags -I"$d" "${ld[@]}" -o "$d/pipeline.elf" "$d/model.c" "$d/feature_extractor.c" \
    "$d/windows.c" "$SRC/tinyml/m4_pipeline.c" "$SRC/tinyml/startup_m4.c" "${libs[@]}" 2>"$d/cc.err" \
    || { fail "$ds pipeline: pipeline.elf does not link: $(cat "$d/cc.err")"; return; }
  m4_pipeline_run "$d" pipeline.elf m4.txt
  local rc=$? n
  n=$(grep -c '^pred ' "$d/ref.txt")
  if [ $rc = 0 ] && [ "$n" -gt 50 ] && cmp -s <(grep -E '^(feat|xq|pred) ' "$d/ref.txt") <(grep -E '^(feat|xq|pred) ' "$d/m4.txt"); then
    pass "$ds pipeline: Cortex-M4 raw window -> features -> int8 -> class == host on all $n windows (features bit for bit, int8 inputs, classes)"
  else
    fail "$ds pipeline: Cortex-M4 differs from the host or failed (qemu rc $rc, $n windows): $(diff <(grep -E '^(feat|xq|pred) ' "$d/ref.txt") <(grep -E '^(feat|xq|pred) ' "$d/m4.txt") | head -4) $(grep -vE '^(feat|xq|pred) ' "$d/m4.txt" | head -c 300)"
  fi

  # the compare can fail: an extractor changed in its last bits (a Hamming instead of a
  # Hann window) is caught
  sed 's/hw = 0\.5 - 0\.5 /hw = 0.54 - 0.46 /' "$d/feature_extractor.c" >"$d/bad_fe.c"
  if arm-none-eabi-gcc $cflags -I"$d" "${ld[@]}" -o "$d/bad.elf" "$d/model.c" "$d/bad_fe.c" "$d/windows.c" \
       "$SRC/tinyml/m4_pipeline.c" "$SRC/tinyml/startup_m4.c" "${libs[@]}" 2>/dev/null \
     && m4_pipeline_run "$d" bad.elf bad.txt \
     && ! cmp -s <(grep -E '^feat ' "$d/ref.txt") <(grep -E '^feat ' "$d/bad.txt"); then
    pass "$ds pipeline: a changed extractor is detected on the M4"
  else
    fail "$ds pipeline: a changed extractor went unnoticed (or its firmware did not run)"
  fi

  local ticks
  if ! ticks=$(grep '^m4_pipeline ' "$d/m4.txt"); then fail "$ds pipeline: no m4_pipeline line from the emulated run"; return; fi
  awk -v t="$ticks" -v s0="${sz[0]}" -v s1="${sz[1]}" -v s2="${sz[2]}" -v ds="$ds" 'BEGIN {
    split(t, a, " "); split(s0, b, " "); split(s1, e, " "); split(s2, p, " ")
    nw = a[7]; base_f = b[1] + b[2]; base_r = b[2] + b[3]
    fe = a[3] * 40 / nw; al = a[5] * 40 / nw
    printf "# %s pipeline: Cortex-M4 (QEMU -icount, 40 instructions per SysTick tick) per window: extractor ~%.0f, extractor + int8 model ~%.0f instructions (model ~%.0f)\n", ds, fe, al, al - fe
    printf "TINYML_M4_PIPELINE dataset=%s part=extractor flash_bytes=%d ram_static_bytes=%d stack_bytes=%d instr_per_window=%.0f windows=%d\n",
      ds, e[1] + e[2] - base_f, e[2] + e[3] - base_r, a[9], fe, nw
    printf "TINYML_M4_PIPELINE dataset=%s part=pipeline flash_bytes=%d ram_static_bytes=%d stack_bytes=%d instr_per_window=%.0f windows=%d\n",
      ds, p[1] + p[2] - base_f, p[2] + p[3] - base_r, a[11], al, nw }'
}

# run firmware $2 of directory $1 on the emulated board, semihosting output to $1/$3
m4_pipeline_run() {
  timeout 300 qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -icount shift=0 \
    -kernel "$1/$2" >"$1/$3" 2>&1   # semihosting output comes on stderr
}
