#!/usr/bin/env bash
# One GPU session, as run on a lent H100/H200 (see docs/performance.md): GPU tests, the
# step benchmark, then the SynthBias study preset with a time limit. Results go to $OUT
# (default ./gpu_out). Needs decord; a wheel in .whl/ is installed to /tmp/site if present.
#   STUDY_SECONDS=400 bash bench/gpu_session.sh
set -u
OUT=${OUT:-gpu_out}; mkdir -p "$OUT"
STUDY_SECONDS=${STUDY_SECONDS:-400}
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc;
  python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"; } \
  > "$OUT/machine.txt" 2>&1
python3 -m pytest -q -p no:cacheprovider tests/test_be.py tests/test_losses.py tests/test_checkpoint.py \
  tests/test_moco.py tests/test_augment.py > "$OUT/tests.txt" 2>&1
{ python3 bench/step.py --backbone r3d18 --size 112 --batch 64 --precision fp32
  python3 bench/step.py --backbone r3d18 --size 112 --batch 64 --precision bf16 --channels-last
  python3 bench/step.py --backbone r3d18 --size 64 --batch 128 --precision bf16 --channels-last
} > "$OUT/bench.txt" 2>&1
timeout "$STUDY_SECONDS" python3 -m bepaper.cli study --config configs/synthbias_gpu.yaml \
  figures="$OUT" > "$OUT/study.txt" 2>&1
echo "study exit code $?" >> "$OUT/study.txt"
cat "$OUT/machine.txt" "$OUT/bench.txt"; tail -n 5 "$OUT/tests.txt"; tail -n 40 "$OUT/study.txt"
