#!/usr/bin/env bash
# Installs what is missing, builds, and runs the default experiment, or the experiment and
# options given (`scripts/run.sh my.yaml --out results/mine`): arguments are taken relative to
# the folder it was started from, and an experiment anywhere names the shipped scenarios,
# devices, networks and models by name.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
(cd "$root" && scripts/install-deps.sh && scripts/build.sh)
exec "$root/build/autoscale" sim "$@"
