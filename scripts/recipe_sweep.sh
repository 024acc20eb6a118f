#!/usr/bin/env bash
# Training recipes side by side until one common deadline, for a machine with a GPU (or many cores):
# each arm goes on from the bundled model (--init) for the same wall time, without validation; compare
# the arms' last checkpoints afterwards with benchmarks/compare_models.py. This produced the 192-grid
# stage of the bundled model (arm init192; see scripts/train_bundled_model.sh).
#   arms: init96      96 grid, runs of 12 frames, 200 simulated sequences (seeds 0-199)
#         init192     the same on the paper's 192 grid
#         initfull96  96 grid, whole sequences instead of runs of 12 frames
#         initdata96  96 grid, runs of 12 frames, 1000 simulated sequences (seeds 0-999)
# Usage: scripts/recipe_sweep.sh OUT_DIR SECONDS N_SMALL N_LARGE   (run: ... OUT 470 200 1000)
# Writes OUT_DIR/ARM.tgz with each arm's checkpoints, log and output; works in /tmp/sweep.
# INIT=CHECKPOINT replaces the bundled model as the start; the recorded run started from the bundled
# model of commit 268e5eb (git show 268e5eb:src/deeptag/models/default.pt > start.pt).
set -uo pipefail
source "$(dirname "$0")/sweep_lib.sh"
begin $1 $2 $3; large=$4
common="--lr 5e-4 --validate-every ${VALIDATE:-1000000} --checkpoint-every 500 --seed 0 --threads 2 --quiet --steps 1000000"
init=${INIT:-src/deeptag/models/default.pt}
arm init96 $work/small/all --image-size 96 --window 12 --init $init &
arm init192 $work/small/all --image-size 192 --window 12 --init $init &
arm initfull96 $work/small/all --image-size 96 --init $init &
add_large $large $3 12
arm initdata96 $work/large/all --image-size 96 --window 12 --init $init &
wait
pack $out init96 init192 initfull96 initdata96
ls -la $out; echo "end $(date +%T)"
