#!/usr/bin/env bash
# Install the Debian 12 packages fedalign needs to build, test and analyse
# (clang + libclang-rt for the fuzz test, arm-none-eabi + qemu for the Cortex-M4 test,
# libsimgrid-dev (smpicc, smpirun) for the SMPI test;
# the Slurm test installs slurm-wlm and munge itself).
# As root it runs apt-get; otherwise it prints the command to run.
set -euo pipefail
# python3-pyarmnn (+ its CpuRef backend) and python3-flatbuffers: the .tflite checks
# (tests/tinyml/test_tflite.sh); help2man: the man page, bash-completion: its completions directory,
# pkg-config: fedalign.pc (cmake/FedalignInstall.cmake; the install test checks all three);
# python3-torch: the PyTorch peers of analysis/peer_torch.py and jobs/bench_compare.sh
# (test_peer_torch skips without it)
PKGS="build-essential cmake pkg-config help2man bash-completion
      openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools libsimgrid-dev
      librandom123-dev libcmocka-dev libcsv-dev python3 python3-h5py python3-numpy python3-matplotlib
      python3-pandas python3-xarray python3-h5netcdf python3-torch
      clang libclang-rt-14-dev gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
      python3-pyarmnn libarmnn-cpuref-backend22 python3-flatbuffers"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then echo "setup: all packages present"; exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "setup: missing packages:$missing" >&2
  echo "run as root: apt-get update && apt-get install -y$missing" >&2
  exit 1
fi
echo "setup: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
