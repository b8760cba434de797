#!/usr/bin/env bash
# One GPU session, as run on a lent H100/H200 (docs/performance.md): the GPU-relevant tests,
# the step benchmark of every backbone (this package's recipe against the released code's, on
# the same card in the same run), the loader from disk and from memory, then the BE question's
# GPU preset with a time limit. Everything goes to $OUT (default ./gpu_out), small files only.
#   STUDY_SECONDS=400 bash bench/gpu_session.sh
#   SMALL=1 bash bench/gpu_session.sh      # a minute on a CPU: the same steps, tiny sizes
# Needs decord: a wheel in .whl/ is installed to /tmp/site when present.
set -u
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
STUDY_SECONDS=${STUDY_SECONDS:-400}
SMALL=${SMALL:-0}
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU"
  nproc
  $PY -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
} > "$OUT/machine.txt" 2>&1

if [ "$SMALL" = 1 ]; then
  TESTS="tests/test_be.py"
  STEP="--size 32 --frames 4 --batch 2 --steps 1 --warmup 1 --width 4 --queue 64 --device cpu"
  BACKBONES="r3d18"
  STUDY="configs/synthbias_smoke.yaml"
  LOADER="--synth-size tiny --epochs 1 --workers 0"
else
  TESTS="tests/test_be.py tests/test_losses.py tests/test_checkpoint.py tests/test_moco.py tests/test_augment.py tests/test_pretext.py tests/test_memory.py"
  STEP="--size 112 --batch 64"
  BACKBONES="r3d18 r2plus1d18 c3d r3d34 i3d s3d"
  STUDY="configs/synthbias_gpu.yaml"
  LOADER="--synth-size study --epochs 2 --workers 0 4 8 14"
fi
$PY -m pytest -q -p no:cacheprovider $TESTS > "$OUT/tests.txt" 2>&1
{
  for b in $BACKBONES; do
    $PY bench/train_step.py --backbone "$b" $STEP --recipe default released
  done
  [ "$SMALL" = 1 ] || $PY bench/train_step.py --backbone r3d18 $STEP --recipe compile
  [ "$SMALL" = 1 ] || $PY bench/train_step.py --backbone i3d --size 224 --batch 64 --recipe default compile released
} > "$OUT/train_step.txt" 2>&1
$PY bench/loader.py $LOADER > "$OUT/loader.txt" 2>&1
timeout "$STUDY_SECONDS" $PY -m bepaper.cli study --config "$STUDY" figures="$OUT" \
  run.root="$OUT/runs" > "$OUT/study.txt" 2>&1
echo "study exit code $?" >> "$OUT/study.txt"
rm -rf "$OUT/runs"  # run folders are large; the result files in $OUT hold the numbers
cat "$OUT/machine.txt" "$OUT/train_step.txt"; tail -n 3 "$OUT/tests.txt"; tail -n 12 "$OUT/loader.txt"
tail -n 40 "$OUT/study.txt"
