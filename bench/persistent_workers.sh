#!/bin/sh
# Before/after of persistent loader workers: a whole `bepaper finetune` that reads files with
# 2 DataLoader workers (60 videos, 20 epochs, the small R3D), on the commit before the change
# (04c35e8: a new loader and new workers every epoch) and on this checkout, alternated, RUNS
# times each, timed by /usr/bin/time. Writes bench/results/persistent_workers.csv (one row per
# run) and prints the medians. A benchmark: it asserts nothing.
#
#     sh bench/persistent_workers.sh [RUNS]      # default 5; needs data/synthbias/default
set -eu
RUNS=${1:-5}
HERE=$(pwd)
PY="$HERE/.venv/bin/python"
DATA="$HERE/data/synthbias/default/ucf101like"
[ -d "$DATA" ] || "$PY" -m bepaper.cli synth --out data/synthbias/default --size default >/dev/null
TMP=$(mktemp -d)
trap 'git worktree remove --force "$TMP/before" >/dev/null 2>&1; rm -rf "$TMP"' EXIT
git worktree add --detach "$TMP/before" 04c35e8 >/dev/null 2>&1
OUT=bench/results/persistent_workers.csv
mkdir -p bench/results
echo "code,run,wall_s,user_s,sys_s,loss,machine,date" > "$OUT.tmp"
MACHINE=$("$PY" -c 'from bepaper.report import machine; print(machine())')
one() {  # $1 = label, $2 = source tree, $3 = run number
  dir="$TMP/run-$1-$3"
  ( cd "$2" && /usr/bin/time -f "%e %U %S" -o "$TMP/t" "$PY" -m bepaper.cli finetune \
      "data.root=$DATA" data.per_class=10 data.workers=2 data.cache=false data.num_frames=8 \
      data.load_size=40 augment.crop_size=32 model.backbone=r3d_small model.width=8 \
      optim.batch_size=16 optim.epochs=20 eval.num_clips=1 'eval.splits=[1]' run.device=cpu \
      run.progress=false run.tensorboard=false "run.out=$dir" >/dev/null 2>&1 )
  loss=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['final']['loss'])" "$dir/metrics.json")
  set -- "$1" "$3" $(cat "$TMP/t")
  echo "$1,$2,$3,$4,$5,$loss,\"$MACHINE\",$(date +%F)" >> "$OUT.tmp"
}
one before "$TMP/before" 0 && one after "$HERE" 0   # warm-up, not kept
echo "code,run,wall_s,user_s,sys_s,loss,machine,date" > "$OUT.tmp"
i=1
while [ "$i" -le "$RUNS" ]; do one before "$TMP/before" "$i"; one after "$HERE" "$i"; i=$((i + 1)); done
mv "$OUT.tmp" "$OUT"
"$PY" -c "
import pandas as pd
d = pd.read_csv('$OUT')
print(d.groupby('code')[['wall_s', 'user_s', 'sys_s']].median())
print('losses:', sorted(set(d.loss)))"
