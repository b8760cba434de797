"""Evaluation: 10-clip video accuracy and the linear motion probe.

A test video's score is the mean of the softmax scores of its clips (paper: 10 clips
sampled uniformly). The probe fits a linear classifier on frozen features.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from bepaper.augment import eval_view
from bepaper.config import AugmentConfig
from bepaper.data.datasets import LabeledClips, collate


def combine_clip_scores(logits: Tensor) -> Tensor:
    """Per-clip logits (B, n_clips, C) → per-video scores (B, C): the mean softmax."""
    return logits.float().softmax(dim=-1).mean(dim=1)


def top1(scores: np.ndarray | Tensor, labels: np.ndarray | Tensor) -> float:
    """Fraction of rows whose argmax equals the label."""
    scores, labels = torch.as_tensor(scores), torch.as_tensor(labels)
    if len(labels) == 0:
        return float("nan")
    return float((scores.argmax(dim=1) == labels).float().mean())


@torch.no_grad()
def video_outputs(
    fn: Callable[[Tensor], Tensor],
    dataset: LabeledClips,
    aug: AugmentConfig,
    device: torch.device,
    batch_size: int = 16,
    workers: int = 0,
    amp: bool = False,
    progress: bool = True,
    desc: str = "evaluate",
) -> tuple[Tensor, Tensor]:
    """Run `fn` on every clip of every test video. Returns (outputs B x n x X, labels B);
    skipped (unreadable) videos are left out."""
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
    )
    outs, labels = [], []
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
        if batch is None:
            continue
        clips = batch["clip"].to(device, non_blocking=True)  # B x n x T x S x S x 3
        b, n = clips.shape[:2]
        x = eval_view(clips.flatten(0, 1), aug)  # B*n x 3 x T x S x S
        with torch.autocast(
            device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"
        ):
            y = fn(x)
        outs.append(y.float().view(b, n, -1).cpu())
        labels.append(batch["label"])
    if not outs:
        return torch.empty(0, 0, 0), torch.empty(0, dtype=torch.long)
    return torch.cat(outs), torch.cat(labels)


def accuracy(
    model: nn.Module, dataset: LabeledClips, aug: AugmentConfig, device: torch.device, **kwargs
) -> tuple[float, Tensor, Tensor]:
    """Video top-1 of a classifier. Returns (top1, per-video scores N x C, labels N)."""
    model.eval()
    logits, labels = video_outputs(model, dataset, aug, device, **kwargs)
    if len(labels) == 0:
        return float("nan"), logits, labels
    scores = combine_clip_scores(logits)
    return top1(scores, labels), scores, labels


def features(
    backbone: nn.Module, dataset: LabeledClips, aug: AugmentConfig, device: torch.device, **kwargs
) -> tuple[Tensor, Tensor]:
    """Frozen features: the backbone's map, average-pooled, averaged over a video's clips."""
    backbone.eval()
    feats, labels = video_outputs(
        lambda x: backbone(x).mean(dim=(2, 3, 4)), dataset, aug, device, **kwargs
    )
    return feats.mean(dim=1), labels


def linear_probe(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    num_classes: int,
    steps: int = 100,
    weight_decay: float = 1e-3,
    seed: int = 0,
) -> float:
    """Fit a multinomial logistic regression (full-batch L-BFGS) on standardised training
    features; return its top-1 on the test features."""
    mean, std = train_x.mean(0, keepdim=True), train_x.std(0, keepdim=True) + 1e-6
    xtr, xte = (train_x - mean) / std, (test_x - mean) / std
    torch.manual_seed(seed)
    clf = nn.Linear(xtr.shape[1], num_classes)
    opt = torch.optim.LBFGS(clf.parameters(), lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(clf(xtr), train_y) + weight_decay * clf.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return top1(clf(xte), test_y)
