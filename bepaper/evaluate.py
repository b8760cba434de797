"""Scoring a trained network: the 10-clip test of a classifier on each test split (per-video
outputs written), the linear probe of a frozen backbone, and the `evaluate` command.

The metric helpers these use (clip-score averaging, pooled features, the cross-validated
probe fit, recall@K) are in `bepaper.metrics`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from bepaper import distributed as dist
from bepaper.checkpoint import load_checkpoint
from bepaper.config import validate
from bepaper.data.clips import labeled_clips
from bepaper.data.datasets import LabeledClips, load_split
from bepaper.errors import CheckpointError, ConfigError
from bepaper.metrics import clip_features, combine_clip_scores, fit_linear_probe, top1, video_scores
from bepaper.models import Classifier, build_backbone
from bepaper.runs import RunDir, atomic_path, atomic_write_json


def check_eval_splits(cfg) -> None:
    """A missing test or probe split fails before anything is written, not after training."""
    for s in [*cfg.eval.splits, *([cfg.eval.probe_split] if cfg.eval.probe_split else [])]:
        load_split(cfg.data, s)


def save_outputs(
    path: Path,
    ds: LabeledClips,
    values: Tensor,
    labels: Tensor,
    indices: Tensor,
    classes: list[str],
    name: str,
) -> None:
    """Per-video outputs as an .npz (no pickle): `name` (N x X float32), labels (N, 0-based),
    paths (N), classes (C). Written atomically."""
    paths = np.array([ds.items[int(i)].path for i in indices], dtype=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            **{name: values.float().numpy()},
            labels=labels.numpy().astype(np.int64),
            paths=paths,
            classes=np.array(classes, dtype=str),
        )


def save_scores(path: Path, ds: LabeledClips, res: dict, classes: list[str]) -> None:
    """`classify_videos`'s per-video scores as an .npz (`save_outputs`, name 'scores')."""
    save_outputs(path, ds, res["scores"], res["labels"], res["indices"], classes, "scores")


def evaluate_splits(
    model: Classifier, cfg, device: torch.device, run: RunDir | None, static: bool = False
) -> dict:
    """10-clip top-1 on each split listed in cfg.eval.splits, plus the linear probe. With a
    run folder, each test split's per-video scores go to outputs/test_split<s>.npz."""
    out: dict = {"test_top1": {}}
    for s in cfg.eval.splits:
        ds, classes = labeled_clips(
            cfg, s, "test", _skips(run), train=False, static=static, num_clips=cfg.eval.num_clips
        )
        res = classify_videos(
            model,
            ds,
            cfg.augment,
            device,
            workers=cfg.data.workers,
            amp=cfg.run.amp,
            progress=cfg.run.progress,
            desc=f"test split {s}",
        )
        out["test_top1"][str(s)] = res["top1"]
        if run is not None and dist.is_main():
            save_scores(run.path / "outputs" / f"test_split{s}.npz", ds, res, classes)
    if cfg.eval.probe_split:
        out["probe"] = probe(model.backbone, cfg, device, run)
        out["probe_top1"] = out["probe"]["test_top1"]
    return out


def classify_videos(model: nn.Module, ds: LabeledClips, aug, device, **kw) -> dict:
    """Clip-averaged softmax scores of every readable test video, with labels and indices."""
    model.eval()
    out = video_scores(model, ds, aug, device, **kw)
    if len(out.labels) == 0:
        scores = torch.empty(0, 0)
        return {
            "top1": float("nan"),
            "scores": scores,
            "labels": out.labels,
            "indices": out.indices,
        }
    scores = combine_clip_scores(out.values)
    acc = top1(scores, out.labels)
    return {"top1": acc, "scores": scores, "labels": out.labels, "indices": out.indices}


def probe(
    backbone: nn.Module,
    cfg,
    device: torch.device,
    run: RunDir | None = None,
    out_dir: Path | None = None,
) -> dict:
    """Linear probe on frozen features: train on split `eval.probe_split`'s train list,
    score on its test list (SynthBias: both unbiased, so only motion helps). The L2 strength
    is chosen by cross-validation on the training features. The features go to
    <out_dir or run folder>/features/probe_{train,test}.npz; skipped videos to the run's log."""
    out_dir = out_dir if out_dir is not None else (run.path if run is not None else None)
    s = cfg.eval.probe_split
    kw = dict(workers=cfg.data.workers, amp=cfg.run.amp, progress=cfg.run.progress)
    n = cfg.eval.num_clips
    tr, classes = labeled_clips(cfg, s, "train", _skips(run), train=False, num_clips=n)
    te, _ = labeled_clips(cfg, s, "test", _skips(run), train=False, num_clips=n)
    pool = cfg.eval.probe_pool
    parts = {}
    for name, ds in (("train", tr), ("test", te)):
        out = clip_features(
            backbone, ds, cfg.augment, device, pool=pool, desc=f"probe features ({name})", **kw
        )
        parts[name] = (out.values.mean(dim=1), out.labels, out.indices)
        if out_dir is not None and dist.is_main():
            x, y, idx = parts[name]
            save_outputs(
                out_dir / "features" / f"probe_{name}.npz", ds, x, y, idx, classes, "features"
            )
    (xtr, ytr, _), (xte, yte, _) = parts["train"], parts["test"]
    res = fit_linear_probe(
        xtr, ytr, xte, yte, len(classes), steps=cfg.eval.probe_epochs, seed=cfg.run.seed
    )
    res["pool"] = pool
    return res


def evaluate_run(cfg) -> dict:
    """Score a fine-tuned classifier (a fine-tuning run folder or its classifier.pt) on
    cfg.eval.splits, plus the probe when cfg.eval.probe_split is set. Writes
    evaluation.json and per-video outputs under run.out."""
    validate(cfg)
    device = dist.resolve_device(cfg.run.device)
    path = Path(cfg.checkpoint)
    if not cfg.checkpoint:
        raise ConfigError("evaluate needs checkpoint=<fine-tuning run folder or classifier.pt>")
    if path.is_dir():
        path = path / "classifier.pt"
    state = load_checkpoint(path)
    if "model" not in state or "classes" not in state:
        raise CheckpointError(f"{path}: not a classifier checkpoint (written by finetune)")
    model = Classifier(
        build_backbone(cfg.model.backbone, cfg.model.width),
        len(state["classes"]),
        cfg.model.dropout,
        cfg.model.head_pool,
    )
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit model {cfg.model}: {first}") from None
    load_split(cfg.data)  # fail early on a bad data config
    check_eval_splits(cfg)
    model = dist.prepare_model(model, cfg.run, device)
    out = Path(cfg.run.out)
    out.mkdir(parents=True, exist_ok=True)
    skips = RunDir(out, {}, "evaluate")  # only its skip log and outputs under out/
    (out / "skipped.jsonl").unlink(missing_ok=True)  # this evaluation's skips, not an older one's
    results = evaluate_splits(model, cfg, device, skips, cfg.static)
    results["skipped_videos"] = len(skips.skipped())
    atomic_write_json(out / "evaluation.json", {"checkpoint": str(path), **results})
    return results


def _skips(run: RunDir | None):
    """Where a dataset reports a video it cannot read: the run's skip log, or nowhere."""
    return run.record_skip if run is not None else None
