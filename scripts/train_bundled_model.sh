#!/usr/bin/env bash
# Reproduces the bundled default model (src/deeptag/models/default.pt) on a CPU.
#   1. simulate 200 training sequences (seeds 0-199; benchmarks use seeds from 100000 on, never trained on)
#   2. train: a supervised warm start on the simulator's true fields, then the unsupervised loss of Eq. 12
#   3. copy the checkpoint with the lowest validation loss into the package
# A killed run continues where it stopped when the script is started again (train --resume).
# Usage: scripts/train_bundled_model.sh [WORK_DIR]   (default: ./bundled-model-work)
set -euo pipefail
work=${1:-bundled-model-work}
data="$work/sim_train"
run="$work/run"
threads=${THREADS:-2}
[ -d "$data" ] || deeptag simulate --n 200 --seed 0 --out "$data"
resume=()
[ -f "$run/last.pt" ] && resume=(--resume)
deeptag train "$data" --out "$run" "${resume[@]}" \
  --steps 100000 --supervised-steps 1000 --image-size 96 --lr 1e-3 --window 12 --velocity-scale 10 \
  --validate-every 500 --checkpoint-every 50 --max-minutes "${MAX_MINUTES:-45}" --seed 0 \
  --threads "$threads" --quiet
python - "$run/best.pt" <<'PY'
import sys
from pathlib import Path

import torch

from deeptag.checkpoint import BUNDLED_MODEL, read_checkpoint, save_checkpoint
from deeptag.model import DeepTagNet, ModelConfig

saved = read_checkpoint(sys.argv[1])
model = DeepTagNet(ModelConfig(**saved["model_config"]))
model.load_state_dict(saved["state_dict"])
BUNDLED_MODEL.parent.mkdir(exist_ok=True)
# weights, configurations and how it was trained; no optimiser state, so the file stays small
save_checkpoint(BUNDLED_MODEL, model, train_config=saved["train_config"], loss_config=saved["loss_config"],
                train_state=saved["train_state"])
print(f"bundled model: {BUNDLED_MODEL} ({BUNDLED_MODEL.stat().st_size / 1e6:.2f} MB), "
      f"step {saved['train_state']['step']}, validation loss {saved['train_state']['best_validation']:.4f}")
PY
