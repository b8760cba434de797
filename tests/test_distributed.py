"""Multi-process training through torchrun, on CPU with the gloo backend: the same code
path as multi-GPU DistributedDataParallel (process group, DistributedSampler, gathered
MoCo keys)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from bepaper.checkpoint import load_checkpoint
from bepaper.data.synthbias import generate


@pytest.mark.slow
def test_torchrun_two_processes_pretrain(tmp_path):
    data = generate(tmp_path / "data", preset="tiny", analogues=("ucf101like",), progress=False)
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "bepaper.cli",
        "pretrain",
        f"data.root={data['ucf101like']}",
        "data.num_frames=4",
        "data.stride=2",
        "data.load_size=32",
        "data.workers=0",
        "augment.crop_size=16",
        "model.backbone=r3d_small",
        "model.width=4",
        "method.queue_size=32",
        "optim.batch_size=8",
        "optim.epochs=2",
        "run.device=cpu",
        "run.progress=false",
        f"run.out={out}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('"final"') == 1  # one report, from rank 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]  # one log line per epoch, not per process
    state = load_checkpoint(out / "checkpoints" / "ckpt_epoch0002.pt")
    # 12 training videos, 6 per process, batches of 4 with drop_last: 1 step per process
    # per epoch. The queue pointer moved by the keys of BOTH processes (gathered): 2 x 2 x 4.
    assert int(state["model"]["queue_ptr"]) == (2 * 2 * 4) % 32
    assert torch.isfinite(state["model"]["queue"]).all()
