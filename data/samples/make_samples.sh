#!/usr/bin/env bash
# data/samples/make_samples.sh FEDALIGN [DIR]: writes the small synthetic CSV samples that
# docs/byod.md uses into DIR (default: this folder), from `fedalign data --export` of the
# built-in electrical generator (4 devices, seed 1234), so they can be made again at will:
#   electrical_sites.csv   devices 0-2 in one file, a first column `site` naming each row's
#                          device (for --partition column:site), the `split` column dropped;
#                          the label stays the last column, fedalign's default label
#   electrical_public.csv  device 3's rows without `site`: a separate public (phase-0) file
# tests/e2e/test_data_samples.sh checks that the committed files are what this writes.
set -euo pipefail
fedalign=${1:?usage: make_samples.sh FEDALIGN [DIR]}
out=${2:-$(cd "$(dirname "$0")" && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$fedalign" data --dataset electrical --clients 4 --samples 150 --seed 1234 --export "$tmp/e" > /dev/null
# the exported header ends in ",split"; the sample keeps the columns before it
header=$(head -n 1 "$tmp/e/client_0.csv" | sed 's/,split\r\{0,1\}$//')
{
  echo "site,$header"
  for t in 0 1 2; do
    tail -n +2 "$tmp/e/client_$t.csv" | sed -e 's/,[a-z]*$//' -e "s/^/site$t,/"
  done
} > "$out/electrical_sites.csv"
{
  echo "$header"
  tail -n +2 "$tmp/e/client_3.csv" | sed 's/,[a-z]*$//'
} > "$out/electrical_public.csv"
