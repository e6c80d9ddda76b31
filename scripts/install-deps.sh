#!/usr/bin/env bash
# Installs the Debian 12 packages the simulator needs, skipping those already present.
set -euo pipefail
pkgs=(cmake make g++ pkg-config libyaml-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev
      gnuplot-nox)
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
