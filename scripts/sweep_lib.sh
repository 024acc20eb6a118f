# Shared by the sweep scripts: source it, call begin, set common (train options of every arm), start arms.
# begin OUT SECONDS N_SMALL: the deadline, /tmp/sweep as work folder, a check that deeptag and torch load,
# and N_SMALL simulated sequences (seeds 0..N_SMALL-1) in $work/small/all.
begin() {
  out=$1; deadline=$(( $(date +%s) + $2 ))
  work=/tmp/sweep; mkdir -p $work
  export PYTHONPATH=$PWD/src:${PYTHONPATH:-}
  PY=${PY:-python3}
  echo "start $(date +%T)"; nvidia-smi -L 2>/dev/null
  $PY -c "import deeptag, torch; print('torch', torch.__version__, torch.cuda.is_available())" || exit 1
  simulate $work/small 0 $3 16
  echo "small data $(ls $work/small/all | wc -l) $(date +%T)"
}
# add_large N_LARGE N_SMALL [JOBS]: $work/large/all with seeds N_SMALL..N_LARGE-1 and the small set linked in
add_large() {
  simulate $work/large $2 $(( $1 - $2 )) ${3:-12}
  for f in $work/small/all/*.npz; do ln -s $(readlink $f) $work/large/all/small_$(basename $f); done
  echo "large data $(ls $work/large/all | wc -l) $(date +%T)"
}
# simulate DIR FIRST COUNT JOBS: seeds FIRST..FIRST+COUNT-1 in parallel chunks (deeptag simulate runs one
# process), linked into DIR/all with names by chunk.
simulate() {
  local dir=$1 first=$2 count=$3 jobs=$4 chunk pids=()
  chunk=$(( (count + jobs - 1) / jobs ))
  for ((s = first; s < first + count; s += chunk)); do
    n=$(( chunk < first + count - s ? chunk : first + count - s ))
    $PY -m deeptag simulate --n $n --seed $s --out $dir/part_$s >/dev/null & pids+=($!)
  done; wait "${pids[@]}"
  mkdir -p $dir/all; for p in $dir/part_*; do for f in $p/*.npz; do ln -s $f $dir/all/$(basename $p)_$(basename $f); done; done
}
# arm NAME TRAIN_ARGS...: trains until the deadline (killed 40 s after it; last.pt is at most 500 steps old)
arm() {
  local name=$1; shift
  local left=$(( deadline - $(date +%s) ))
  local minutes=$($PY -c "print(max(0.2, ($left - 20) / 60))")
  timeout $(( left + 40 )) $PY -m deeptag train "$@" --out $work/$name $common --max-minutes $minutes > $work/$name.out 2>&1
  echo "$name rc=$? $(date +%T) $(tail -c 300 $work/$name/log.jsonl | tail -1 | cut -c1-60)"
}
# pack OUT ARM...: each arm's checkpoints, log and output as OUT/ARM.tgz
pack() {
  local out=$1; shift
  for d in "$@"; do
    cp $work/$d.out $work/$d/ 2>/dev/null
    tar -C $work -czf $out/$d.tgz $d/best.pt $d/last.pt $d/log.jsonl $d/$d.out
  done
}
