#!/bin/bash
# Submits a sweep to Slurm: N shards as a job array, then their merge once all succeeded.
#   deploy/sweep/slurm-submit.sh EXPERIMENT.yaml OUT_DIR [N]
set -euo pipefail
experiment=${1:?usage: slurm-submit.sh EXPERIMENT.yaml OUT_DIR [N]}
out=${2:?usage: slurm-submit.sh EXPERIMENT.yaml OUT_DIR [N]}
n=${3:-16}
here=$(cd "$(dirname "$0")" && pwd)
jid=$(sbatch --parsable --array="0-$((n - 1))" "$here/slurm-shards.sbatch" "$experiment" "$out")
sbatch --dependency="afterok:${jid%%;*}" "$here/slurm-merge.sbatch" "$out"
echo "shards: job $jid (array 0-$((n - 1))); merged reports will be in $out/merged"
