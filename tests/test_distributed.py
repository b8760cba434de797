"""Multi-process training through torchrun, on CPU with the gloo backend: the same code
path as multi-GPU DistributedDataParallel (process group, DistributedSampler, gathered MoCo
keys, shuffle-BN, SyncBatchNorm), and an elastic restart that resumes from the last
checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from bepaper.checkpoint import load_checkpoint
from bepaper.data.synthbias import generate


def torchrun(*args: str, restarts: int = 0, nproc: int = 2) -> list[str]:
    return [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
        "--max-restarts", str(restarts), "--standalone",
        "-m", "bepaper.cli", *args,
    ]  # fmt: skip


def tiny(data, out, *extra: str) -> list[str]:
    return [
        "pretrain", f"data.root={data}", "data.num_frames=4", "data.stride=2",
        "data.load_size=32", "data.workers=0", "augment.crop_size=16", "model.backbone=r3d18",
        "model.width=4", "method.queue_size=32", "optim.batch_size=8", "run.device=cpu",
        "run.progress=false", "run.tensorboard=false", f"run.out={out}", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("d")
    return generate(root, size="tiny", analogues=("ucf101like",), workers=1, progress=False)[
        "ucf101like"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["method.shuffle_bn=true"]], ids=["plain", "shuffle-bn"])
def test_two_processes_train_one_model(data, tmp_path, extra):
    out = tmp_path / "run"
    cmd = torchrun(*tiny(data, out, "optim.epochs=2", "run.save_every_rank=true", *extra))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('"final"') == 1  # one report, from rank 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]  # one log line per epoch, not per process
    r0 = load_checkpoint(out / "ranks" / "rank0.pt")["model"]
    r1 = load_checkpoint(out / "ranks" / "rank1.pt")["model"]
    # Every parameter is identical on both ranks (DDP averaged the gradients).
    for key, value in r0.items():
        if value.is_floating_point() and "running" not in key:
            assert torch.equal(value, r1[key]), key
    # 12 training videos, 6 per process, batches of 4 with drop_last: 1 step per process per
    # epoch. Each rank's queue holds the keys of BOTH processes (gathered): 2 x 2 x 4.
    for state in (r0, r1):
        assert int(state["queue_ptr"]) == (2 * 2 * 4) % 32
    assert torch.equal(r0["queue"], r1["queue"])


@pytest.mark.slow
def test_sync_bn_on_cpu_is_a_clear_error(data, tmp_path):
    proc = subprocess.run(torchrun(*tiny(data, tmp_path / "r", "run.sync_bn=true")),
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode != 0
    assert "bepaper: error: run.sync_bn needs CUDA" in proc.stderr


@pytest.mark.slow
def test_a_killed_worker_restarts_and_resumes(data, tmp_path):
    """torchrun --max-restarts 1: a worker SIGKILLed after the first checkpoint; the group
    restarts, resumes from that checkpoint and ends where an uninterrupted run does."""
    ref, run = tmp_path / "ref", tmp_path / "run"
    args = ("optim.epochs=4", "run.deterministic=true")
    command = torchrun(*tiny(data, run, *args), restarts=1)
    victim = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (run / "checkpoints" / "ckpt_epoch0001.pt").exists():
        assert time.time() < deadline and victim.poll() is None, victim.communicate()
        time.sleep(0.05)
    workers = subprocess.run(["pgrep", "-P", str(victim.pid)], capture_output=True, text=True)
    pids = [int(p) for p in workers.stdout.split()]
    assert pids, "no worker processes found"
    os.kill(pids[-1], signal.SIGKILL)
    out, err = victim.communicate(timeout=600)
    assert victim.returncode == 0, err[-3000:]
    assert "resuming" in out
    # the reference runs after, not beside: two process groups at once can collide on ports
    reference = subprocess.run(torchrun(*tiny(data, ref, *args)), capture_output=True,
                               text=True, timeout=600)  # fmt: skip
    assert reference.returncode == 0, reference.stderr[-3000:]

    def timeless(path):
        lines = (path / "metrics.jsonl").read_text().splitlines()
        drop = ("seconds", "samples_per_s", "data_wait")
        return [{k: v for k, v in json.loads(x).items() if k not in drop} for x in lines]

    assert timeless(run) == timeless(ref)
    a = load_checkpoint(run / "backbone.pt")["backbone"]
    b = load_checkpoint(ref / "backbone.pt")["backbone"]
    assert all(torch.equal(a[k], b[k]) for k in a)
