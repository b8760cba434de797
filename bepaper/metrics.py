"""Evaluation: 10-clip video accuracy, frozen features, retrieval, kNN and the linear probe.

A test video's score is the mean of the softmax scores of its clips (paper: 10 clips
sampled uniformly). Frozen-feature evaluations (Table 3 retrieval, kNN, the linear motion
probe) work on pooled backbone features; each protocol choice (pooling, clip
normalisation, centring, the probe's L2 strength) is a keyword with a stated default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from bepaper.augment import eval_view
from bepaper.config import AugmentConfig
from bepaper.data.datasets import LabeledClips, collate, loader_timeout, unstuck
from bepaper.errors import ConfigError, DataError
from bepaper.progress import bar

CHUNK_ELEMENTS = 1 << 22  # similarity entries per chunk (~16 MB of float32) in retrieval/kNN
RETRIEVAL_KS = (1, 5, 10, 20, 50)  # Table 3
PROBE_L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)  # log-spaced; see fit_linear_probe


def combine_clip_scores(logits: Tensor) -> Tensor:
    """Per-clip logits (B, n_clips, C) → per-video scores (B, C): the mean softmax."""
    return logits.float().softmax(dim=-1).mean(dim=1)


def top1(scores: np.ndarray | Tensor, labels: np.ndarray | Tensor) -> float:
    """Fraction of rows whose argmax equals the label."""
    scores, labels = torch.as_tensor(scores), torch.as_tensor(labels)
    if len(labels) == 0:
        return float("nan")
    return float((scores.argmax(dim=1) == labels).float().mean())


# ---------------------------------------------------------------------------------------------
# Per-video outputs


@dataclass
class VideoOutputs:
    """Outputs of every clip of the videos that could be read, in dataset order."""

    values: Tensor  # N x n_clips x X
    labels: Tensor  # N, int64
    indices: Tensor  # N, int64: positions in the dataset (dataset.items[i].path)


@torch.no_grad()
def video_scores(
    fn: Callable[[Tensor], Tensor],
    dataset: LabeledClips,
    aug: AugmentConfig,
    device: torch.device,
    batch_size: int = 16,
    workers: int = 0,
    amp: bool = False,
    progress: bool = True,
    desc: str = "evaluate",
) -> VideoOutputs:
    """Run `fn` (B*n x 3 x T x S x S → B*n x ...) on every clip of every test video.
    Skipped (unreadable) videos are left out; `indices` says which videos were kept."""
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        timeout=loader_timeout(workers),
        collate_fn=collate,
        pin_memory=device.type == "cuda",
    )
    outs, labels, indices = [], [], []
    batches = unstuck(iter(loader), workers)
    for batch in bar(batches, total=len(loader), desc=desc, disable=not progress, leave=False):
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
        labels.append(torch.as_tensor(batch["label"], dtype=torch.long))
        indices.append(torch.as_tensor(batch["index"], dtype=torch.long))
    if not outs:
        empty = torch.empty(0, dtype=torch.long)
        return VideoOutputs(torch.empty(0, 0, 0), empty, empty.clone())
    return VideoOutputs(torch.cat(outs), torch.cat(labels), torch.cat(indices))


def accuracy(
    model: nn.Module, dataset: LabeledClips, aug: AugmentConfig, device: torch.device, **kwargs
) -> tuple[float, Tensor, Tensor]:
    """Video top-1 of a classifier. Returns (top1, per-video scores N x C, labels N)."""
    model.eval()
    out = video_scores(model, dataset, aug, device, **kwargs)
    logits, labels = out.values, out.labels
    if len(labels) == 0:
        return float("nan"), logits, labels
    scores = combine_clip_scores(logits)
    return top1(scores, labels), scores, labels


# ---------------------------------------------------------------------------------------------
# Frozen features


def _avg(fmap: Tensor, size: tuple[int, int, int]) -> Tensor:
    return fmap.mean(dim=(2, 3, 4))


def _max(fmap: Tensor, size: tuple[int, int, int]) -> Tensor:
    return fmap.amax(dim=(2, 3, 4))


def _adaptive_max(fmap: Tensor, size: tuple[int, int, int]) -> Tensor:
    return F.adaptive_max_pool3d(fmap, size).flatten(1)


# name → fn(fmap B x C x T x H x W, size) → B x D
POOLS: dict[str, Callable[[Tensor, tuple[int, int, int]], Tensor]] = {
    "avg": _avg,  # global average (the fine-tuning head's pooling); D = C
    "max": _max,  # global max; D = C
    "adaptive_max": _adaptive_max,  # paper §4.3: adaptive max to a fixed size; D = C*t*h*w
}


def _check_pool(mode: str, size: Sequence[int]) -> tuple[int, int, int]:
    if mode not in POOLS:
        raise ConfigError(f"unknown pooling '{mode}'; choose from {list(POOLS)}")
    size = tuple(int(s) for s in size)
    if len(size) != 3 or min(size) < 1:
        raise ConfigError(f"pooling size must be 3 positive ints (t, h, w), got {size}")
    return size  # type: ignore[return-value]


def pool_features(fmap: Tensor, mode: str, size: Sequence[int] = (1, 1, 1)) -> Tensor:
    """Pool a backbone map B x C x T x H x W into B x D features.

    `avg` / `max`: global average / max, D = C. `adaptive_max`: adaptive max pooling to
    `size` = (t, h, w), flattened, D = C*t*h*w. The paper (§4.3) pools to 2 x 7 x 7 (1024 x 2
    x 7 x 7 for I3D: 100,352 dims per clip). VCOP's code applies MaxPool3d((1, 2, 2)) to
    conv5 and flattens: a fixed kernel, not a fixed output size, so it is none of these
    modes exactly (adaptive_max to (T, H // 2, W // 2) matches it when H and W are even)."""
    size = _check_pool(mode, size)
    if fmap.dim() != 5:
        raise DataError(f"pool_features expects B x C x T x H x W, got shape {tuple(fmap.shape)}")
    return POOLS[mode](fmap, size)


def clip_features(
    backbone: nn.Module,
    dataset: LabeledClips,
    aug: AugmentConfig,
    device: torch.device,
    *,
    pool: str = "avg",
    pool_size: Sequence[int] = (1, 1, 1),
    clip_norm: bool = False,
    **kwargs,
) -> VideoOutputs:
    """Frozen per-clip features with the videos' labels and dataset indices: values are
    N x n_clips x D (`pool_features`), L2-normalised per clip if `clip_norm`. Clip-level
    retrieval (paper §4.3: every clip is a query) flattens them; `features` averages them.
    Other keywords go to `video_scores`."""
    size = _check_pool(pool, pool_size)
    backbone.eval()

    def fn(x: Tensor) -> Tensor:
        f = POOLS[pool](backbone(x).float(), size)  # B*n x D
        return F.normalize(f, dim=1) if clip_norm else f

    return video_scores(fn, dataset, aug, device, **kwargs)


def features(
    backbone: nn.Module,
    dataset: LabeledClips,
    aug: AugmentConfig,
    device: torch.device,
    *,
    pool: str = "avg",
    pool_size: Sequence[int] = (1, 1, 1),
    clip_norm: bool = False,
    **kwargs,
) -> tuple[Tensor, Tensor]:
    """Frozen video features (N x D, labels N): the backbone's map pooled (`pool`, default
    global average), averaged over a video's clips. `clip_norm=True` L2-normalises each
    clip's feature before the average (FAME's retrieval protocol; VCOP's does not)."""
    out = clip_features(
        backbone,
        dataset,
        aug,
        device,
        pool=pool,
        pool_size=pool_size,
        clip_norm=clip_norm,
        **kwargs,
    )
    return out.values.mean(dim=1), out.labels


# ---------------------------------------------------------------------------------------------
# Retrieval and kNN (cosine similarity, computed in chunks of query rows)


def _embed(x: Tensor, centre: bool) -> Tensor:
    """N x D → float32 N x D rows of unit length (after subtracting the set's mean if
    `centre`). A zero row stays zero (similarity 0 to everything)."""
    x = x.float()
    if centre and len(x):
        x = x - x.mean(dim=0, keepdim=True)
    return F.normalize(x, dim=1)


def _check_pair(query: Tensor, gallery: Tensor) -> None:
    if query.dim() != 2 or gallery.dim() != 2 or query.shape[1] != gallery.shape[1]:
        raise DataError(
            f"query and gallery must be N x D and M x D, got {tuple(query.shape)} "
            f"and {tuple(gallery.shape)}"
        )
    if len(gallery) == 0:
        raise DataError("the gallery is empty")


def _rows_per_chunk(m: int, chunk: int | None) -> int:
    return chunk if chunk else max(1, CHUNK_ELEMENTS // max(m, 1))


def _top(sim: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k largest of each row of sim (c x M), ties broken by lower column index."""
    order = torch.sort(sim, dim=1, descending=True, stable=True).indices[:, :k]
    return order, sim.gather(1, order)


def retrieve(
    query: Tensor,
    gallery: Tensor,
    k: int,
    *,
    centre: bool = False,
    chunk: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The k nearest gallery items of each query by cosine similarity.

    query N x D, gallery M x D → (indices N x k int64, similarities N x k float32), most
    similar first; k is clamped to M. Equal similarities are ordered by gallery index
    (lower first). `centre`: FAME's protocol, see `recall_at_k`. `chunk`: query rows per
    similarity block (default: about 4M entries per block)."""
    _check_pair(query, gallery)
    if k < 1:
        raise ConfigError(f"retrieve needs k >= 1, got {k}")
    k = min(int(k), len(gallery))
    q, g = _embed(query, centre), _embed(gallery, centre)
    idx, sims = [], []
    step = _rows_per_chunk(len(g), chunk)
    for s in range(0, len(q), step):
        i, v = _top(q[s : s + step] @ g.T, k)
        idx.append(i)
        sims.append(v)
    if not idx:
        return torch.empty(0, k, dtype=torch.long), torch.empty(0, k)
    return torch.cat(idx), torch.cat(sims)


def hit_ranks(
    query: Tensor,
    query_labels: Tensor,
    gallery: Tensor,
    gallery_labels: Tensor,
    *,
    centre: bool = False,
    chunk: int | None = None,
) -> Tensor:
    """For each query, the 0-based rank of the first gallery item of its class in the
    cosine ranking (ties ordered by gallery index, as in `retrieve`); M (the gallery size)
    when the class is absent from the gallery. Query q is a hit at K iff rank < K. N int64.

    No sort: rank = #items more similar than the best same-class item + #items equally
    similar with a lower index."""
    _check_pair(query, gallery)
    if len(query_labels) != len(query) or len(gallery_labels) != len(gallery):
        raise DataError("labels must have one entry per query / gallery row")
    q, g = _embed(query, centre), _embed(gallery, centre)
    ql = torch.as_tensor(query_labels, device=q.device).long()
    gl = torch.as_tensor(gallery_labels, device=g.device).long()
    m = len(g)
    col = torch.arange(m, device=g.device)
    ranks = []
    step = _rows_per_chunk(m, chunk)
    for s in range(0, len(q), step):
        sim = q[s : s + step] @ g.T  # c x M
        same = ql[s : s + step, None] == gl[None, :]  # c x M
        best = sim.masked_fill(~same, float("-inf")).amax(dim=1, keepdim=True)  # c x 1
        first = torch.where(same & (sim == best), col, m).amin(dim=1, keepdim=True)  # c x 1
        before = (sim > best) | ((sim == best) & (col < first))
        rank = before.sum(dim=1)
        ranks.append(torch.where(same.any(dim=1), rank, torch.full_like(rank, m)))
    return torch.cat(ranks) if ranks else torch.empty(0, dtype=torch.long)


def recall_at_k(
    query: Tensor,
    query_labels: Tensor,
    gallery: Tensor,
    gallery_labels: Tensor,
    ks: Sequence[int] = RETRIEVAL_KS,
    *,
    centre: bool = False,
    chunk: int | None = None,
) -> dict[int, float]:
    """Retrieval recall@K (Table 3): the fraction of queries whose class is among the
    classes of their K nearest gallery items by cosine similarity.

    query N x D with labels N, gallery M x D with labels M. `centre=False` is VCOP's
    protocol (cosine of the raw features). `centre=True` is FAME's: subtract the query set's
    mean from the queries and the gallery set's mean from the gallery, L2-normalise, then
    dot product. A K larger than M is clamped to M (the key stays K). Ties in similarity
    are ordered by gallery index. Returns {K: recall}; NaN for an empty query set."""
    if not ks or any(int(k) < 1 for k in ks):
        raise ConfigError(f"recall@K needs K >= 1, got {list(ks)}")
    ranks = hit_ranks(query, query_labels, gallery, gallery_labels, centre=centre, chunk=chunk)
    m = len(gallery)
    if len(ranks) == 0:
        return {int(k): float("nan") for k in ks}
    return {int(k): float((ranks < min(int(k), m)).double().mean()) for k in ks}


def knn_classify(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
    *,
    chunk: int | None = None,
) -> Tensor:
    """Weighted kNN on frozen features (Wu et al., CVPR 2018, "Unsupervised feature learning
    via non-parametric instance discrimination"): cosine similarity to the training set, the
    k nearest (clamped to the training size; ties by lower index), each voting
    exp(sim / temperature) for its class. Defaults k = 20, temperature = 0.07 are those of
    solo-learn's WeightedKNNClassifier (DINO's eval_knn also uses 0.07, with k in 10, 20,
    100, 200; Wu et al. used k = 200).
    train_x N x D, train_y N, test_x M x D → scores M x C (argmax = the prediction)."""
    if k < 1 or temperature <= 0:
        raise ConfigError(f"kNN needs k >= 1 and temperature > 0, got {k}, {temperature}")
    train_y = torch.as_tensor(train_y).long()
    if len(train_y) != len(train_x):
        raise DataError("kNN training features and labels differ in length")
    _check_labels(train_y, num_classes, "training")
    idx, sim = retrieve(test_x, train_x, k, chunk=chunk)  # M x k
    votes = (sim.double() / temperature).exp()
    scores = torch.zeros(len(test_x), num_classes, dtype=torch.float64)
    scores.scatter_add_(1, train_y.to(idx.device)[idx].cpu(), votes.cpu())
    return scores


# ---------------------------------------------------------------------------------------------
# Linear probe


def _check_labels(y: Tensor, num_classes: int, which: str) -> None:
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise DataError(f"{which} labels must lie in [0, {num_classes}), got {y.unique().tolist()}")


def stratified_folds(labels: Tensor, folds: int, seed: int = 0) -> list[Tensor]:
    """Split indices 0..N-1 into `folds` disjoint sets, each class spread evenly (sizes
    differ by at most one per class). Deterministic for a seed. Returns sorted int64 index
    tensors; a fold may be empty when N < folds."""
    labels = torch.as_tensor(labels).long().cpu().numpy()
    rng = np.random.default_rng(seed)
    out: list[list[int]] = [[] for _ in range(folds)]
    offset = 0
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        for j, i in enumerate(members):
            out[(offset + j) % folds].append(int(i))
        offset += len(members)  # the next class starts where this one stopped
    return [torch.as_tensor(sorted(f), dtype=torch.long) for f in out]


def _accuracy(logits: Tensor, labels: Tensor) -> float:
    """top1 in float64 (1/3, not 0.3333333432674408); NaN when there are no rows."""
    return float((logits.argmax(1) == labels).double().mean()) if len(labels) else float("nan")


def _fit_logistic(x: Tensor, y: Tensor, num_classes: int, l2: float, steps: int) -> nn.Linear:
    """Multinomial logistic regression on float64 features x (N x D): minimise
    mean cross-entropy + l2 * ||W||² (bias not penalised) by full-batch L-BFGS from zero."""
    clf = nn.Linear(x.shape[1], num_classes).double()
    nn.init.zeros_(clf.weight)
    nn.init.zeros_(clf.bias)
    opt = torch.optim.LBFGS(clf.parameters(), lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(clf(x), y) + l2 * clf.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return clf


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run tiny full-batch fits on one intra-op thread: for 240 x 64 problems, BLAS threads
    only add synchronisation (5-10x slower on a loaded 2-core machine). Restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _standardise(train_x: Tensor, *others: Tensor) -> list[Tensor]:
    """Scale by the training set's per-dimension mean and std (float64)."""
    train_x = train_x.double()
    mean = train_x.mean(0, keepdim=True)
    std = train_x.std(0, keepdim=True) + 1e-6 if len(train_x) > 1 else torch.ones_like(mean)
    return [(t.double() - mean) / std for t in (train_x, *others)]


def fit_linear_probe(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    num_classes: int,
    *,
    l2_grid: Sequence[float] = PROBE_L2_GRID,
    folds: int = 5,
    steps: int = 100,
    seed: int = 0,
) -> dict:
    """Linear probe on frozen features with the L2 strength chosen by cross-validation.

    A multinomial logistic regression (mean cross-entropy + l2·||W||², full-batch L-BFGS
    for `steps` iterations from zero weights, float64) on features standardised with the
    training set's mean and std. The L2 strength is chosen from `l2_grid` (default 1e-4 …
    10, one value per decade) by stratified `folds`-fold cross-validation on the training
    set only (each fold standardised with its own training part): the highest mean held-out
    top-1; ties go to the lower mean held-out cross-entropy, then to the larger L2. The
    model is then refit on all training data. A one-value grid skips cross-validation;
    fewer training videos than `folds` use one fold per video.
    train_x N x D, train_y N, test_x M x D, test_y M. Deterministic for a seed (the folds).

    Returns {"test_top1", "train_top1", "l2", "folds" (used; 0 = no CV), "cv_top1":
    {l2: mean acc}, "cv_loss":
    {l2: mean cross-entropy}, "predicted_histogram": [test predictions per class]}."""
    grid = sorted({float(v) for v in l2_grid})
    if not grid or grid[0] < 0:
        raise ConfigError(f"the probe's l2 grid must be non-empty and >= 0, got {list(l2_grid)}")
    if steps < 1:
        raise ConfigError(f"the probe needs steps >= 1, got {steps}")
    train_y = torch.as_tensor(train_y).long().cpu()
    test_y = torch.as_tensor(test_y).long().cpu()
    train_x, test_x = train_x.detach().cpu(), test_x.detach().cpu()
    if len(train_x) == 0:
        raise DataError("the linear probe has no training features")
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise DataError("the probe's features and labels differ in length")
    _check_labels(train_y, num_classes, "training")
    _check_labels(test_y, num_classes, "test")

    if len(grid) > 1:
        if folds < 2:
            raise ConfigError(f"cross-validation needs folds >= 2, got {folds}")
        if len(train_x) < 2:
            raise DataError("cross-validating the probe needs 2 training videos; fix l2_grid")
        folds = min(folds, len(train_x))
    with _one_thread():
        return _probe(train_x, train_y, test_x, test_y, num_classes, grid, folds, steps, seed)


def _probe(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    num_classes: int,
    grid: list[float],
    folds: int,
    steps: int,
    seed: int,
) -> dict:
    """fit_linear_probe after its checks."""
    cv_top1: dict[float, float] = {}
    cv_loss: dict[float, float] = {}
    if len(grid) > 1:
        parts = stratified_folds(train_y, folds, seed)
        for l2 in grid:
            accs, losses = [], []
            for held in parts:
                keep = torch.ones(len(train_x), dtype=torch.bool)
                keep[held] = False
                xa, xb = _standardise(train_x[keep], train_x[held])
                clf = _fit_logistic(xa, train_y[keep], num_classes, l2, steps)
                with torch.no_grad():
                    logits = clf(xb)
                accs.append(_accuracy(logits, train_y[held]))
                losses.append(float(F.cross_entropy(logits, train_y[held])))
            cv_top1[l2], cv_loss[l2] = float(np.mean(accs)), float(np.mean(losses))
        chosen = max(grid, key=lambda v: (cv_top1[v], -cv_loss[v], v))
    else:
        chosen = grid[0]

    xtr, xte = _standardise(train_x, test_x)
    clf = _fit_logistic(xtr, train_y, num_classes, chosen, steps)
    with torch.no_grad():
        train_logits, test_logits = clf(xtr), clf(xte)
    hist = torch.bincount(test_logits.argmax(1), minlength=num_classes) if len(xte) else None
    return {
        "test_top1": _accuracy(test_logits, test_y),
        "train_top1": _accuracy(train_logits, train_y),
        "l2": chosen,
        "folds": folds if cv_top1 else 0,
        "cv_top1": cv_top1,
        "cv_loss": cv_loss,
        "predicted_histogram": hist.tolist() if hist is not None else [0] * num_classes,
    }


def linear_probe(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    num_classes: int,
    steps: int = 100,
    weight_decay: float | None = None,
    seed: int = 0,
) -> float:
    """Test top-1 of `fit_linear_probe`. `weight_decay=None` (the default) chooses the L2
    strength by 5-fold cross-validation over PROBE_L2_GRID (fewer folds when there are
    fewer than 5 training videos; with one video, the old fixed 1e-3); a number fixes it
    (no CV)."""
    if weight_decay is None and len(train_x) < 2:
        weight_decay = 1e-3
    grid = PROBE_L2_GRID if weight_decay is None else (weight_decay,)
    return fit_linear_probe(
        train_x, train_y, test_x, test_y, num_classes, l2_grid=grid, steps=steps, seed=seed
    )["test_top1"]
