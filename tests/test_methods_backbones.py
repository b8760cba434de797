"""Every method x {BE off, on} x backbone: a few SGD steps on a fixed batch keep the loss
finite and lower it; and every method x {BE off, on} pretrains 2 steps and fine-tunes 2
steps through the real training code on tiny SynthBias videos, its test top-1 being the
accuracy of the per-video scores it saved."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bepaper.config import AugmentConfig, FinetuneConfig, PretrainConfig, build_config
from bepaper.data.datasets import load_split
from bepaper.data.synthbias import generate
from bepaper.identity import run_folder
from bepaper.methods import METHODS, build_method
from bepaper.models import MODELS
from bepaper.results import load_outputs
from bepaper.train import finetune, pretrain

AUG = AugmentConfig(crop_size=16, jitter_prob=0.0)


def method_cfg(method: str, be: bool, backbone: str = "r3d18"):
    # MoCo with momentum 1: the key encoder stays at its init, so with the queue fixed too
    # the problem is a fixed one (the query encoder learns to match fixed keys)
    extra = {"moco": ["method.queue_size=8", "method.temperature=0.2", "method.momentum=1.0"],
             "vcop": ["method.dropout=0"]}.get(method, [])  # fmt: skip
    return build_config(
        PretrainConfig,
        overrides=[f"method.name={method}", f"method.be={be}", f"model.backbone={backbone}",
                   "model.width=4", *extra],
    )  # fmt: skip


@pytest.mark.slow  # 56 cases: 800 s on a loaded 2-core machine
@pytest.mark.parametrize("be", [False, True], ids=["no-be", "be"])
@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("backbone", sorted(MODELS))
def test_a_few_steps_lower_the_loss(backbone, method, be):
    cfg = method_cfg(method, be, backbone)
    torch.manual_seed(0)
    m = build_method(cfg.model, cfg.method)
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.02, momentum=0.9)
    n = m.sampler().num_clips
    clips = torch.randint(0, 256, (8, n, 8, 20, 20, 3), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(1))  # fmt: skip
    queue = m.queue.clone() if hasattr(m, "queue") else None
    losses = []
    for _ in range(12):
        if queue is not None:
            m.queue.copy_(queue)  # fixed negatives: a fixed problem
        views = m.views(clips, AUG, torch.Generator().manual_seed(0))
        loss, stats = m(views)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert all(torch.isfinite(torch.tensor(losses))), losses
    assert ("be" in stats) == (be and method != "moco")
    assert sum(losses[-3:]) / 3 < losses[0], losses


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    data = generate(tmp_path_factory.mktemp("d"), "tiny", analogues=("ucf101like",), workers=1,
                    progress=False)  # fmt: skip
    return data["ucf101like"]


TINY = [
    "data.num_frames=8", "data.stride=1", "data.load_size=32", "data.workers=0",
    "augment.crop_size=16", "model.backbone=r3d18", "model.width=4", "optim.epochs=1",
    "optim.batch_size=4", "run.max_steps=2", "run.device=cpu", "run.progress=false",
    "run.tensorboard=false",
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("be", [False, True], ids=["no-be", "be"])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_pretrain_then_finetune_through_the_training_code(root, tmp_path, method, be):
    extra = ["method.queue_size=8"] if method == "moco" else []
    common = [f"data.root={root}", f"run.root={tmp_path}", *TINY]
    options = [f"method.name={method}", f"method.be={be}", *extra]
    p = build_config(PretrainConfig, overrides=[*common, *options])
    res = pretrain(p)
    assert res["final"]["steps"] == 2 and torch.isfinite(torch.tensor(res["final"]["loss"]))
    f = build_config(FinetuneConfig, overrides=[*common, f"init={run_folder(p, 'pretrain')}",
                                                "eval.num_clips=1"])  # fmt: skip
    out = finetune(f)
    assert out["final"]["steps"] == 2
    # the reported top-1 is the accuracy of the saved per-video scores (N x C), and those
    # are every test video of split 1 with its label from the split file
    saved = load_outputs(run_folder(f, "finetune"), split=1)
    _, split = load_split(f.data, 1)
    assert sorted(zip(saved["paths"].tolist(), saved["labels"].tolist(), strict=True)) == sorted(
        (v.path, v.label) for v in split.test
    )
    assert saved["scores"].shape == (len(split.test), len(split.classes))
    np.testing.assert_allclose(saved["scores"].sum(1), 1, atol=1e-4)  # clip-averaged softmax
    top1 = float(np.mean(saved["scores"].argmax(1) == saved["labels"]))
    assert out["test_top1"]["1"] == pytest.approx(top1)
