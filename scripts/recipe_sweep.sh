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
set -uo pipefail
out=$1; budget=$2; small=$3; large=$4
deadline=$(( $(date +%s) + budget ))
work=/tmp/sweep; mkdir -p $work
export PYTHONPATH=$PWD/src:${PYTHONPATH:-}
PY=${PY:-python3}
source "$(dirname "$0")/sweep_lib.sh"
common="--lr 5e-4 --validate-every ${VALIDATE:-1000000} --checkpoint-every 500 --seed 0 --threads 2 --quiet --steps 1000000"
echo "start $(date +%T)"; nvidia-smi -L 2>/dev/null
$PY -c "import deeptag, torch; print('torch', torch.__version__, torch.cuda.is_available())" || exit 1
simulate $work/small 0 $small 16
echo "small data $(ls $work/small/all | wc -l) $(date +%T)"
init=src/deeptag/models/default.pt
arm init96 $work/small/all --image-size 96 --window 12 --init $init &
arm init192 $work/small/all --image-size 192 --window 12 --init $init &
arm initfull96 $work/small/all --image-size 96 --init $init &
simulate $work/large $small $((large - small)) 12
for f in $work/small/all/*.npz; do ln -s $(readlink $f) $work/large/all/small_$(basename $f); done
echo "large data $(ls $work/large/all | wc -l) $(date +%T)"
arm initdata96 $work/large/all --image-size 96 --window 12 --init $init &
wait
pack $out init96 init192 initfull96 initdata96
ls -la $out; echo "end $(date +%T)"
