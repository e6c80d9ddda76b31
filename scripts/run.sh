#!/usr/bin/env bash
# Installs what is missing, builds, and runs the default experiment (or the arguments given).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/autoscale sim "$@"
