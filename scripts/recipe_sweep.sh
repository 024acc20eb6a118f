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
echo "start $(date +%T)"; nvidia-smi -L 2>/dev/null
$PY -c "import deeptag, torch; print('torch', torch.__version__, torch.cuda.is_available())" || exit 1
simulate() {  # DIR FIRST COUNT JOBS: seeds FIRST..FIRST+COUNT-1 in parallel chunks, linked into DIR/all
  local dir=$1 first=$2 count=$3 jobs=$4 chunk pids=()
  chunk=$(( (count + jobs - 1) / jobs ))
  for ((s = first; s < first + count; s += chunk)); do
    n=$(( chunk < first + count - s ? chunk : first + count - s ))
    $PY -m deeptag simulate --n $n --seed $s --out $dir/part_$s >/dev/null & pids+=($!)
  done; wait "${pids[@]}"
  mkdir -p $dir/all; for p in $dir/part_*; do for f in $p/*.npz; do ln -s $f $dir/all/$(basename $p)_$(basename $f); done; done
}
common="--lr 5e-4 --validate-every ${VALIDATE:-1000000} --checkpoint-every 500 --seed 0 --threads 2 --quiet --steps 1000000"
arm() {  # NAME TRAIN_ARGS...: trains until the deadline (killed 40 s after it; last.pt is at most 500 steps old)
  local name=$1; shift
  local left=$(( deadline - $(date +%s) ))
  local minutes=$($PY -c "print(max(0.2, ($left - 20) / 60))")
  timeout $(( left + 40 )) $PY -m deeptag train "$@" --out $work/$name $common --max-minutes $minutes > $work/$name.out 2>&1
  echo "$name rc=$? $(date +%T) $(tail -c 300 $work/$name/log.jsonl | tail -1 | cut -c1-60)"
}
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
for d in init96 init192 initfull96 initdata96; do
  cp $work/$d.out $work/$d/ 2>/dev/null
  tar -C $work -czf $out/$d.tgz $d/best.pt $d/last.pt $d/log.jsonl $d/$d.out
done
ls -la $out; echo "end $(date +%T)"
