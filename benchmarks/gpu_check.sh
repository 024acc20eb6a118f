#!/usr/bin/env bash
# Checks deeptag's GPU paths through the command line and prints their times: track and evaluate with
# --device cuda (test-time adaptation on the GPU), a clear error for a GPU that is not there, train on
# the GPU (it uses CUDA when PyTorch sees it) on the 96 and 192 grids with --init, --average and
# --resume, and benchmarks/bundled_model.py on the GPU. Needs a CUDA GPU and deeptag importable by
# python3; the real sequence ../shared/real/sax_45_23.npz is used when present. Work files go to /tmp.
# Usage: benchmarks/gpu_check.sh   (from the repository root)
export PYTHONUNBUFFERED=1
real=../shared/real/sax_45_23.npz
nvidia-smi -L
python3 -c "import torch, numpy, skimage; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'numpy', numpy.__version__, 'skimage', skimage.__version__)"
dt() { python3 -m deeptag "$@"; }
last_log() { python3 -c "import json; l=[json.loads(x) for x in open('$1/log.jsonl')]; print('$1 last step', l[-1])"; }
timed() { local s=$EPOCHREALTIME; "$@"; local rc=$?; echo "[rc=$rc $(python3 -c "print(round($EPOCHREALTIME - $s, 1))") s: $*]"; }
timed dt track --example --device cuda --adapt --out /tmp/track_cuda --report 2>&1 | tail -8
ls /tmp/track_cuda
if [ -f "$real" ]; then
  timed dt track "$real" --device cuda --adapt --out /tmp/track_real 2>&1 | tail -4
  timed dt evaluate "$real" --device cuda 2>&1 | tail -6
fi
timed dt track --example --device cuda:7 --out /tmp/bad 2>&1 | tail -2
timed dt simulate --n 8 --seed 0 --out /tmp/sims --jobs 8 2>&1 | tail -1
timed dt train /tmp/sims --out /tmp/run96 --steps 300 --image-size 96 --window 12 --validate-every 300 --checkpoint-every 100 --seed 0 --quiet 2>&1 | tail -3
last_log /tmp/run96
timed dt train /tmp/sims --out /tmp/run192 --init /tmp/run96/best.pt --steps 300 --image-size 192 --window 12 --average 0.999 --validate-every 300 --checkpoint-every 100 --seed 0 --quiet 2>&1 | tail -3
last_log /tmp/run192
timed dt train /tmp/sims --out /tmp/run192 --resume --steps 400 --quiet 2>&1 | tail -2
cd benchmarks && timed python3 bundled_model.py --sequences 2 --device cuda --threads 8 --no-baselines 2>&1 | tail -12
