"""Evaluation: per-video outputs with indices, pooling, retrieval recall@K, kNN and the
linear probe, each checked against a reference written here (brute force, loops, Newton)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bepaper.config import AugmentConfig, DataConfig
from bepaper.data.datasets import LabeledClips
from bepaper.data.splits import VideoItem
from bepaper.errors import ConfigError, DataError
from bepaper.metrics import (
    PROBE_L2_GRID,
    clip_features,
    features,
    fit_linear_probe,
    hit_ranks,
    knn_classify,
    linear_probe,
    pool_features,
    recall_at_k,
    retrieve,
    stratified_folds,
    video_scores,
)

CPU = torch.device("cpu")

# ---------------------------------------------------------------------------------------------
# Per-video outputs on real encoded video


@pytest.fixture(scope="module")
def clips_dataset(tmp_path_factory, write_video, tiny_frames) -> tuple[LabeledClips, list[str]]:
    """4 videos, the second one unreadable (garbage bytes)."""
    root = tmp_path_factory.mktemp("videos")
    items = []
    for i, label in enumerate([2, 0, 1, 2]):
        path = root / f"v{i}.mp4"
        if i == 1:
            path.write_bytes(b"not a video" * 50)
        else:
            frames = np.roll(tiny_frames, 7 * i, axis=2)  # distinct contents per video
            write_video(path, frames, container_options={"movflags": "faststart"})
        items.append(VideoItem(path.name, label))
    skipped: list[str] = []
    cfg = DataConfig(backend="pyav", num_frames=4, stride=2, load_size=24, workers=0)
    ds = LabeledClips(
        Path(root), items, cfg, on_skip=lambda p, r: skipped.append(p), train=False, num_clips=3
    )
    return ds, skipped


AUG = AugmentConfig(crop_size=16)


def test_video_scores_keep_indices_of_readable_videos(clips_dataset) -> None:
    ds, skipped = clips_dataset
    fn = lambda x: x.mean(dim=(2, 3, 4))  # noqa: E731  (B*n x 3)
    out = video_scores(fn, ds, AUG, CPU, batch_size=2, progress=False)
    assert out.indices.tolist() == [0, 2, 3]
    assert out.labels.tolist() == [ds.items[i].label for i in (0, 2, 3)]
    assert out.values.shape == (3, 3, 3)
    assert "v1.mp4" in skipped
    # each row is the output of the video named by its index, whatever the batching
    for row, i in enumerate(out.indices.tolist()):
        alone = video_scores(fn, torch.utils.data.Subset(ds, [i]), AUG, CPU, progress=False)
        torch.testing.assert_close(out.values[row], alone.values[0])
    other = video_scores(fn, ds, AUG, CPU, batch_size=3, progress=False)  # batching aside
    torch.testing.assert_close(other.values, out.values)
    assert torch.equal(other.labels, out.labels)


def test_features_pooling_and_clip_norm(clips_dataset) -> None:
    ds, _ = clips_dataset
    torch.manual_seed(0)
    net = nn.Conv3d(3, 5, 3, padding=1)  # map B x 5 x T x S x S
    per_clip = clip_features(net, ds, AUG, CPU, pool="max", progress=False)
    x, y = features(net, ds, AUG, CPU, pool="max", progress=False)
    torch.testing.assert_close(x, per_clip.values.mean(dim=1))
    assert torch.equal(y, per_clip.labels)
    # the default is unchanged: global average of the map, averaged over clips
    xa, _ = features(net, ds, AUG, CPU, progress=False)
    raw = video_scores(lambda v: net(v).mean(dim=(2, 3, 4)), ds, AUG, CPU, progress=False)
    torch.testing.assert_close(xa, raw.values.mean(dim=1))
    normed = clip_features(net, ds, AUG, CPU, pool="adaptive_max", pool_size=(1, 2, 2),
                           clip_norm=True, progress=False)  # fmt: skip
    assert normed.values.shape == (3, 3, 5 * 4)
    torch.testing.assert_close(normed.values.norm(dim=-1), torch.ones(3, 3))
    with pytest.raises(ConfigError, match="unknown pooling 'mean'; choose from"):
        features(net, ds, AUG, CPU, pool="mean", progress=False)


# ---------------------------------------------------------------------------------------------
# Pooling


def test_pool_features_against_loops() -> None:
    g = torch.Generator().manual_seed(0)
    fmap = torch.randn(2, 3, 3, 5, 7, generator=g)  # B x C x T x H x W
    torch.testing.assert_close(pool_features(fmap, "avg"), fmap.flatten(2).mean(-1))
    torch.testing.assert_close(pool_features(fmap, "max"), fmap.flatten(2).max(-1).values)
    torch.testing.assert_close(pool_features(fmap, "adaptive_max"), pool_features(fmap, "max"))
    # adaptive windows: [floor(i*L/n), ceil((i+1)*L/n)) along each axis, flattened C, t, h, w
    size = (2, 3, 4)
    got = pool_features(fmap, "adaptive_max", size)
    dims = fmap.shape[2:]
    want = torch.empty(2, 3, *size)
    for t in range(size[0]):
        for h in range(size[1]):
            for w in range(size[2]):
                lo = [math.floor(i * L / n) for i, L, n in zip((t, h, w), dims, size, strict=True)]
                hi = [
                    math.ceil((i + 1) * L / n)
                    for i, L, n in zip((t, h, w), dims, size, strict=True)
                ]
                win = fmap[:, :, lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
                want[:, :, t, h, w] = win.flatten(2).max(-1).values
    torch.testing.assert_close(got, want.flatten(1))
    # VCOP's MaxPool3d((1, 2, 2)) on an even map is adaptive max to (T, H/2, W/2)
    even = torch.randn(2, 3, 2, 4, 6, generator=g)
    vcop = F.max_pool3d(even, (1, 2, 2)).flatten(1)
    torch.testing.assert_close(pool_features(even, "adaptive_max", (2, 2, 3)), vcop)
    with pytest.raises(ConfigError, match=r"choose from \['avg', 'max', 'adaptive_max'\]"):
        pool_features(fmap, "gem")
    with pytest.raises(ConfigError, match="3 positive ints"):
        pool_features(fmap, "adaptive_max", (2, 2))


# ---------------------------------------------------------------------------------------------
# Retrieval


def test_recall_hand_built_case_with_a_tie() -> None:
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [1.0, 1.0]])
    g_labels = torch.tensor([0, 1, 3, 2])
    # q0 ~ (1, 0): order g0 (class 0), g3 (2), g1 (1), g2 (3) → first class-1 item at rank 2
    # q1 = (0, 1): order g1 (1), g3 (2), then g0 and g2 tie at 0 → g0 first (lower index),
    # so its class 3 (g2) is at rank 3
    query = torch.tensor([[1.0, 0.05], [0.0, 1.0]])
    q_labels = torch.tensor([1, 3])
    assert hit_ranks(query, q_labels, gallery, g_labels).tolist() == [2, 3]
    r = recall_at_k(query, q_labels, gallery, g_labels, ks=(1, 2, 3, 4, 50))
    assert r == {1: 0.0, 2: 0.0, 3: 0.5, 4: 1.0, 50: 1.0}  # K = 50 clamped to the 4 items
    idx, sim = retrieve(query, gallery, 10)
    assert idx.tolist() == [[0, 3, 1, 2], [1, 3, 0, 2]]
    torch.testing.assert_close(sim[1], torch.tensor([1.0, 2**-0.5, 0.0, 0.0]))
    # a class absent from the gallery is never a hit
    assert recall_at_k(query, torch.tensor([5, 5]), gallery, g_labels, ks=(4,)) == {4: 0.0}


def _brute_recall(q, ql, g, gl, ks, centre):
    """Sort every gallery item by cosine for each query (float64, stable) and look."""
    q, g = np.asarray(q, np.float64), np.asarray(g, np.float64)
    if centre:
        q, g = q - q.mean(0), g - g.mean(0)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    g = g / np.linalg.norm(g, axis=1, keepdims=True)
    out = {}
    for k in ks:
        hits = 0
        for i in range(len(q)):
            order = sorted(range(len(g)), key=lambda j: -float(q[i] @ g[j]))
            hits += int(ql[i]) in {int(gl[j]) for j in order[:k]}
        out[k] = hits / len(q)
    return out


@pytest.mark.parametrize("centre", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_recall_matches_brute_force(centre: bool, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    # continuous features: no ties. A shared offset makes centring change the answer.
    query = torch.randn(41, 6, generator=g) + 1.5
    gallery = torch.randn(67, 6, generator=g) + 1.5
    ql, gl = torch.randint(0, 7, (41,), generator=g), torch.randint(0, 7, (67,), generator=g)
    ks = (1, 2, 5, 10, 20, 50, 67, 100)
    want = _brute_recall(query, ql, gallery, gl, ks, centre)
    for chunk in (None, 5):
        got = recall_at_k(query, ql, gallery, gl, ks, centre=centre, chunk=chunk)
        assert got == pytest.approx(want, abs=1e-12)
    assert want[100] == want[67] == 1.0 - np.mean([int(c) not in gl.tolist() for c in ql])
    # retrieve agrees with the brute-force ordering too
    idx, sim = retrieve(query, gallery, 10, centre=centre, chunk=7)
    qq, gg = query.double(), gallery.double()
    if centre:
        qq, gg = qq - qq.mean(0), gg - gg.mean(0)
    full = F.normalize(qq, dim=1) @ F.normalize(gg, dim=1).T
    assert torch.equal(idx, full.argsort(dim=1, descending=True)[:, :10])
    torch.testing.assert_close(sim.double(), full.gather(1, idx), atol=1e-6, rtol=0)


def test_centring_differs_from_plain_cosine() -> None:
    """The two protocols must not silently coincide on offset features."""
    g = torch.Generator().manual_seed(3)
    query, gallery = torch.randn(200, 8, generator=g) + 3, torch.randn(300, 8, generator=g) + 3
    ql, gl = torch.randint(0, 10, (200,), generator=g), torch.randint(0, 10, (300,), generator=g)
    a = hit_ranks(query, ql, gallery, gl)
    b = hit_ranks(query, ql, gallery, gl, centre=True)
    assert not torch.equal(a, b)


def test_retrieval_input_errors() -> None:
    x, y = torch.randn(3, 4), torch.tensor([0, 1, 2])
    with pytest.raises(ConfigError, match="K >= 1"):
        recall_at_k(x, y, x, y, ks=(0, 5))
    with pytest.raises(DataError, match="N x D and M x D"):
        recall_at_k(x, y, torch.randn(3, 5), y)
    with pytest.raises(DataError, match="gallery is empty"):
        retrieve(x, torch.empty(0, 4), 5)
    assert math.isnan(recall_at_k(torch.empty(0, 4), torch.empty(0), x, y)[1])


# ---------------------------------------------------------------------------------------------
# kNN


def test_knn_matches_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    train_x, test_x = torch.randn(90, 5, generator=g), torch.randn(30, 5, generator=g)
    train_y = torch.randint(0, 4, (90,), generator=g)
    for k, temp in ((1, 0.07), (20, 0.07), (7, 0.5), (500, 0.1)):  # k = 500 → all 90
        got = knn_classify(train_x, train_y, test_x, 4, k=k, temperature=temp, chunk=8)
        a = train_x.numpy().astype(np.float64)
        b = test_x.numpy().astype(np.float64)
        a, b = a / np.linalg.norm(a, axis=1)[:, None], b / np.linalg.norm(b, axis=1)[:, None]
        want = np.zeros((30, 4))
        for i in range(30):
            sims = a @ b[i]
            for j in np.argsort(-sims)[: min(k, 90)]:
                want[i, train_y[j]] += math.exp(sims[j] / temp)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4)
    with pytest.raises(DataError, match=r"labels must lie in \[0, 3\)"):
        knn_classify(train_x, train_y, test_x, 3)


# ---------------------------------------------------------------------------------------------
# Linear probe


def _clusters(n_per_class: int, classes: int, informative: int, noise: int, sep: float, g):
    """Gaussian clusters: class means sep apart on `informative` dims, plus noise dims."""
    means = torch.randn(classes, informative, generator=g)
    means = sep * means / means.norm(dim=1, keepdim=True)
    y = torch.arange(classes).repeat_interleave(n_per_class)
    x = torch.cat([means[y] + torch.randn(len(y), informative, generator=g),
                   torch.randn(len(y), noise, generator=g)], dim=1)  # fmt: skip
    perm = torch.randperm(len(y), generator=g)
    return x[perm], y[perm]


def test_stratified_folds_partition_and_balance() -> None:
    y = torch.tensor([0] * 13 + [1] * 7 + [2] * 2 + [3] * 30)
    parts = stratified_folds(y, 5, seed=3)
    allidx = torch.cat(parts).sort().values
    assert torch.equal(allidx, torch.arange(len(y)))
    for c in range(4):
        counts = [int((y[p] == c).sum()) for p in parts]
        assert max(counts) - min(counts) <= 1
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    assert [p.tolist() for p in stratified_folds(y, 5, seed=3)] == [p.tolist() for p in parts]
    assert [p.tolist() for p in stratified_folds(y, 5, seed=4)] != [p.tolist() for p in parts]


def test_probe_scores_high_on_separable_features() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = _clusters(110, 4, informative=8, noise=56, sep=5.0, g=g)  # 64 dims
    out = fit_linear_probe(x[:240], y[:240], x[240:], y[240:], 4)
    assert out["test_top1"] > 0.9
    assert sum(out["predicted_histogram"]) == 200
    assert min(out["predicted_histogram"]) > 30  # every class predicted, roughly 50 each
    assert set(out["cv_top1"]) == set(PROBE_L2_GRID) and out["l2"] in PROBE_L2_GRID
    assert out["cv_top1"][out["l2"]] == max(out["cv_top1"].values())


def test_probe_near_chance_on_random_labels() -> None:
    """Labels independent of the features, 2000 test videos, 4 classes: a probe that does
    not see the test labels scores 0.25 ± 0.0097 (binomial sd); the bound is ±0.05 (5 sd)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2240, 64, generator=g)
    y = torch.randint(0, 4, (2240,), generator=g)
    out = fit_linear_probe(x[:240], y[:240], x[240:], y[240:], 4)
    assert abs(out["test_top1"] - 0.25) < 0.05
    # and cross-validation sees no signal either: held-out folds are really held out
    assert all(abs(a - 0.25) < 0.15 for a in out["cv_top1"].values())
    # the strongest L2 gives near-uniform predictions, the best held-out cross-entropy;
    # weak L2 overfits 192 samples in 64 dims and is worse than log(4)
    assert min(out["cv_loss"], key=out["cv_loss"].get) == max(PROBE_L2_GRID)
    assert out["cv_loss"][min(PROBE_L2_GRID)] > math.log(4)


def test_cv_prefers_weak_l2_on_clean_features() -> None:
    """Noise-free, well separated: every L2 up to 1 reaches CV top-1 of 1 (10 shrinks the
    weights so far that the bias, the class prior, decides), and the tie goes to the lowest
    held-out cross-entropy, i.e. the weakest L2."""
    g = torch.Generator().manual_seed(2)
    x, y = _clusters(40, 3, informative=4, noise=0, sep=12.0, g=g)
    out = fit_linear_probe(x[:90], y[:90], x[90:], y[90:], 3)
    assert all(a == 1.0 for v, a in out["cv_top1"].items() if v <= 1.0)
    assert out["cv_top1"][10.0] < 0.5
    losses = [out["cv_loss"][v] for v in PROBE_L2_GRID]
    assert losses == sorted(losses)  # held-out cross-entropy grows with the L2 strength
    assert out["l2"] == min(PROBE_L2_GRID)
    assert out["test_top1"] == 1.0


def _newton_logistic(xtr, ytr, xte, classes, l2, iters=50):
    """Reference in numpy: standardise, then minimise mean CE + l2 * ||W||^2 (bias free) by
    damped Newton steps on [W; b] with the exact multinomial Hessian."""
    xtr, xte = xtr.numpy().astype(np.float64), xte.numpy().astype(np.float64)
    mu, sd = xtr.mean(0), xtr.std(0, ddof=1) + 1e-6
    a = np.hstack([(xtr - mu) / sd, np.ones((len(xtr), 1))])  # n x (D+1), bias column last
    b = np.hstack([(xte - mu) / sd, np.ones((len(xte), 1))])
    n, d = a.shape
    onehot = np.eye(classes)[ytr.numpy()]
    pen = np.ones((d, classes))
    pen[-1] = 0.0  # the bias is not penalised

    def objective(theta):
        z = a @ theta
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -(onehot * logp).sum() / n + l2 * (pen * theta**2).sum(), np.exp(logp)

    theta = np.zeros((d, classes))
    for _ in range(iters):
        f, p = objective(theta)
        grad = a.T @ (p - onehot) / n + 2 * l2 * pen * theta  # d x C
        hess = np.zeros((d * classes, d * classes))  # index (j, c) -> j * classes + c
        for i in range(n):
            s_i = np.diag(p[i]) - np.outer(p[i], p[i])
            hess += np.kron(np.outer(a[i], a[i]), s_i) / n
        hess += np.diag(2 * l2 * pen.ravel())
        step = np.linalg.lstsq(hess, grad.ravel(), rcond=None)[0].reshape(d, classes)
        t = 1.0
        while objective(theta - t * step)[0] > f and t > 1e-8:
            t /= 2
        theta = theta - t * step
    return torch.from_numpy((a @ theta).argmax(1)), torch.from_numpy((b @ theta).argmax(1))


def test_probe_agrees_with_a_newton_reference() -> None:
    """Overlapping clusters (the optimum is finite), fixed L2 and the cross-validated one."""
    g = torch.Generator().manual_seed(4)
    x, y = _clusters(100, 3, informative=3, noise=3, sep=2.0, g=g)
    xtr, ytr, xte, yte = x[:90], y[:90], x[90:], y[90:]
    out = fit_linear_probe(xtr, ytr, xte, yte, 3, l2_grid=(1e-2,))
    assert out["cv_top1"] == {}
    ptr, pte = _newton_logistic(xtr, ytr, xte, 3, 1e-2)
    assert out["train_top1"] == pytest.approx(float((ptr == ytr).double().mean()))
    assert out["test_top1"] == pytest.approx(float((pte == yte).double().mean()))
    assert out["predicted_histogram"] == torch.bincount(pte, minlength=3).tolist()
    assert 0.6 < out["test_top1"] < 0.99  # not a trivial problem
    # the cross-validation accuracies, one L2 at a time, against per-fold references
    grid = (1e-3, 1.0)
    cv = fit_linear_probe(xtr, ytr, xte, yte, 3, l2_grid=grid, folds=3, seed=5)["cv_top1"]
    parts = stratified_folds(ytr, 3, seed=5)
    for l2 in grid:
        accs = []
        for held in parts:
            keep = torch.ones(90, dtype=torch.bool)
            keep[held] = False
            _, pred = _newton_logistic(xtr[keep], ytr[keep], xtr[held], 3, l2)
            accs.append(float((pred == ytr[held]).double().mean()))
        assert cv[l2] == pytest.approx(np.mean(accs), abs=1e-12)


def test_probe_deterministic_and_wrapper() -> None:
    g = torch.Generator().manual_seed(5)
    x, y = _clusters(30, 4, informative=4, noise=12, sep=2.5, g=g)
    args = (x[:80], y[:80], x[80:], y[80:], 4)
    a, b = fit_linear_probe(*args, seed=7), fit_linear_probe(*args, seed=7)
    assert a == b
    assert linear_probe(*args, seed=7) == a["test_top1"]
    fixed = linear_probe(*args, weight_decay=1e-3)
    assert fixed == fit_linear_probe(*args, l2_grid=(1e-3,))["test_top1"]
    # tiny training sets (the CLI's tiny presets): fewer folds, never an error
    few = fit_linear_probe(x[:3], y[:3], x[80:], y[80:], 4)
    assert few["folds"] == 3 and len(few["cv_top1"]) == len(PROBE_L2_GRID)
    assert few == fit_linear_probe(x[:3], y[:3], x[80:], y[80:], 4, folds=3)
    assert linear_probe(x[:3], y[:3], x[80:], y[80:], 4) == few["test_top1"]
    one = fit_linear_probe(x[:1], y[:1], x[80:], y[80:], 4, l2_grid=(1e-3,))
    assert linear_probe(x[:1], y[:1], x[80:], y[80:], 4) == one["test_top1"]
    with pytest.raises(DataError, match=r"labels must lie in \[0, 3\)"):
        fit_linear_probe(*args[:4], 3)
    with pytest.raises(ConfigError, match="folds >= 2"):
        fit_linear_probe(*args, folds=1)
    with pytest.raises(DataError, match="needs 2 training videos"):
        fit_linear_probe(x[:1], y[:1], x[80:], y[80:], 4)
    with pytest.raises(DataError, match="no training features"):
        fit_linear_probe(x[:0], y[:0], x, y, 4)
