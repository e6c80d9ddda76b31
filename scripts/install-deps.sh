#!/usr/bin/env bash
# Installs the Debian 12 packages autoscale needs, skipping those already present: the simulator's
# (yaml-cpp, GoogleTest, Google Benchmark, gnuplot), libtorch with OpenBLAS for the CPU and DSP
# targets, OpenCL with PoCL (a CPU OpenCL device) for the mobile-GPU target, and nlohmann-json
# for the KServe v2 messages; curl and python3 for scripts/hostile.sh; python3-torchvision
# (with python3-torch) to script real torchvision networks for tests; CLI11 for the programs'
# command lines and spdlog for the servers' logs.
set -euo pipefail
pkgs=(cmake make g++ pkg-config libyaml-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev
      gnuplot-nox libtorch-dev libopenblas0-pthread opencl-headers ocl-icd-opencl-dev
      pocl-opencl-icd clinfo nlohmann-json3-dev libboost-dev
      libboost-system-dev curl python3
      python3-torchvision libcli11-dev libspdlog-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
