#!/usr/bin/env bash
# Reproduces the bundled default model (src/deeptag/models/default.pt) from simulated sequences alone: no
# real scan's images are read (the team's real sequence is kept for validation, a scan the model never saw).
#   1. simulate 200 training sequences (seeds 0-199; benchmarks use seeds from 50000 on, never trained on)
#   2. train with the unsupervised loss of Eq. 12 (no labels used) in each sequence's heart box, Adam at
#      the paper's 5e-4, runs of 12 frames, on a 96x96 grid (the model with the lowest validation loss
#      goes on)
#   3. go on from it on the paper's 192x192 grid (the network is fully convolutional, so the weights carry
#      over) at 5e-4, keeping an average of the weights (train --average 0.999)
#   4. go on at Adam 2e-4 with the average
#   5. copy stage 4's model into the package
# Two recipes differ only in the number of steps of stages 2-4 (and how often stage 3 validates):
#   RECIPE=cpu (default)  7000 / 8000 / 1000 steps, the recipe of the shipped model: about 3.5 hours on
#                         a 2-core CPU with 1 thread (0.33 s per step at 96, 1.15 s at 192), about 2 hours
#                         with 2 threads on an idle machine (0.20 s and 0.65 s per step)
#   RECIPE=long           16000 / 8000 / 2000 steps: minutes on a GPU (train uses CUDA when PyTorch sees it)
# A killed stage continues where it stopped when the script is started again (train --resume), with the
# recipe's number of steps.
# The shipped model's stage logs and figures: docs/model-card.md.
# Usage: [RECIPE=cpu|long] [THREADS=2] scripts/train_bundled_model.sh [WORK_DIR]   (default: ./bundled-model-work)
set -euo pipefail
work=${1:-bundled-model-work}
data="$work/sim_train"
threads=${THREADS:-2}
case "${RECIPE:-cpu}" in
  cpu) steps96=7000 steps192=8000 validate192=1500 steps_low_lr=1000 ;;
  long) steps96=16000 steps192=8000 validate192=4000 steps_low_lr=2000 ;;
  *) echo "train_bundled_model.sh: RECIPE must be cpu or long, not '${RECIPE}'" >&2; exit 2 ;;
esac
[ -d "$data" ] || deeptag simulate --n 200 --seed 0 --out "$data" --jobs "$threads"

train_stage() {  # RUN_DIR STEPS ARGS...: a stage on the sims, resumed if a killed run left its last checkpoint
  local run=$1 steps=$2; shift 2
  if [ -f "$run/last.pt" ]; then
    deeptag train "$data" --out "$run" --resume --steps "$steps" --threads "$threads" --quiet
  else
    deeptag train "$data" --out "$run" --steps "$steps" "$@" --window 12 --checkpoint-every 100 --seed 0 \
      --threads "$threads" --quiet
  fi
}
train_stage "$work/run96" "$steps96" --image-size 96 --lr 5e-4 --validate-every 1000
train_stage "$work/run192" "$steps192" --init "$work/run96/best.pt" --image-size 192 --lr 5e-4 \
  --average 0.999 --validate-every "$validate192"
train_stage "$work/run192lr2e4" "$steps_low_lr" --init "$work/run192/best.pt" --image-size 192 \
  --lr 2e-4 --average 0.999 --validate-every "$steps_low_lr"
python "$(dirname "$0")/bundle_checkpoint.py" "$work/run192lr2e4/best.pt"
