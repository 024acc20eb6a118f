#!/usr/bin/env bash
# Going on from the bundled 192-grid model with weight averaging (train --average 0.999), four recipes
# side by side until one deadline on a machine with a GPU, without validation; compare each arm's
# averaged and raw weights afterwards with benchmarks/compare_models.py. Meanwhile the adaptation settings
# are compared on the GPU (benchmarks/adapt_settings.py --device cuda), which also tries tracking on CUDA.
#   arms: avg5e4   runs of 12 frames, 200 simulated sequences (seeds 0-199, the bundled model's), lr 5e-4
#         avg2e4   the same at lr 2e-4
#         avgfull  whole sequences instead of runs of 12 frames, lr 5e-4
#         avgdata  runs of 12 frames, N_LARGE simulated sequences (seeds 0-999), lr 5e-4
# Usage: [ADAPT_DEVICE=cuda] scripts/average_sweep.sh OUT_DIR SECONDS N_SMALL N_LARGE   (run: ... OUT 490 200 1000)
# Writes OUT_DIR/ARM.tgz and OUT_DIR/adapt_settings.txt; works in /tmp/sweep.
# INIT=CHECKPOINT replaces the bundled model as the start; the recorded run started from the bundled
# model of commit 3a7bd87 (git show 3a7bd87:src/deeptag/models/default.pt > start.pt).
set -uo pipefail
source "$(dirname "$0")/sweep_lib.sh"
begin $1 $2 $3; large=$4
common="--image-size 192 --average 0.999 --validate-every 1000000 --checkpoint-every 500 --seed 0 --threads 2 --quiet --steps 1000000"
init=${INIT:-src/deeptag/models/default.pt}
arm avg5e4 $work/small/all --window 12 --lr 5e-4 --init $init &
arm avg2e4 $work/small/all --window 12 --lr 2e-4 --init $init &
arm avgfull $work/small/all --lr 5e-4 --init $init &
(cd benchmarks && timeout $(( deadline - $(date +%s) )) $PY -u adapt_settings.py --sequences 8 --device ${ADAPT_DEVICE:-cuda} \
   --settings 150,0.05,0.3,1.5,4 150,0.05,0.3,3,8 > $out/adapt_settings.txt 2>&1; echo "adapt rc=$? $(date +%T)") &
add_large $large $3 10
arm avgdata $work/large/all --window 12 --lr 5e-4 --init $init &
wait
pack $out avg5e4 avg2e4 avgfull avgdata
ls -la $out; echo "end $(date +%T)"
