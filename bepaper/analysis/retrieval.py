"""Table 3: video retrieval with a frozen backbone, from a pretraining run folder.

The protocol (paper §4.3, and the code most papers copy):

- **Features.** The run's backbone, frozen; its feature map pooled per clip (`pool`):
  by default adaptive max pooling to (2, 7, 7) as the paper does (1024 x 2 x 7 x 7 for
  I3D), each side clamped to the feature map's own size (pooling a 1 x 4 x 4 map "to"
  2 x 7 x 7 would only repeat values, unevenly). `pool="max"` / `"avg"` pool globally.
  Clips are `num_clips` (10) clips of the run's T frames and stride, spread uniformly over
  the video, in the run's test view (resize to `load_size`, centre crop `eval_crop`,
  resampled to `crop_size`).
- **Level.** `level="video"` (default, VCOP's code): a video's feature is the mean of its
  clips' features; queries are the test videos, the gallery the training videos.
  `level="clip"` (the paper's text: every 16-frame clip of a test video is a query, the
  training clips form the gallery): each of the `num_clips` clips is its own item. The
  paper cuts videos "in units of 16 frames"; here every video gives the same `num_clips`
  uniformly spaced clips, so long videos are not weighted more (a documented difference).
- **Similarity.** Cosine (VCOP). FAME's protocol adds `clip_norm` (L2 per clip before the
  mean) and `centre` (subtract the query set's and the gallery set's means, then L2).
- **Hit.** A query is a hit at K when its class is among the classes of its K nearest
  gallery items; recall@K for K in (1, 5, 10, 20, 50). Ties in similarity go to the lower
  gallery index (`bepaper.metrics.recall_at_k`).

Written to `out_dir`: `retrieval.json` (the recalls and every setting), `topk.npz` (per
query: its path, clip and label, the K nearest gallery rows, their paths, clips, labels and
similarities), `features_query.npz` / `features_gallery.npz` (the rows retrieved on) and,
if a video could not be read, `skipped.jsonl` (it is left out; retrieval.json lists it).

Memory: at the video level, videos are encoded in chunks of `chunk_videos` and their clips
averaged at once; at the clip level, every clip's feature is kept (N x num_clips x D
float32: about 14 GB for HMDB51's 3570 training videos with I3D's 100,352 dimensions).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bepaper.analysis.loading import SkipLog, json_safe, load_backbone, open_run
from bepaper.config import AugmentConfig, DataConfig
from bepaper.errors import ConfigError, DataError
from bepaper.metrics import POOLS, RETRIEVAL_KS
from bepaper.runs import atomic_path, atomic_write_json

LEVELS = ("video", "clip")
PAPER_POOL_SIZE = (2, 7, 7)  # §4.3: adaptive max pooling to 1024 x 2 x 7 x 7 (I3D)


def effective_pool_size(
    feature_map: Sequence[int], size: Sequence[int] = PAPER_POOL_SIZE
) -> tuple[int, int, int]:
    """The adaptive pooling size actually used: `size` (t, h, w) clamped, side by side, to the
    feature map's (T', H', W') (`feature_map` may be (C, T', H', W'))."""
    t, h, w = (int(v) for v in feature_map[-3:])
    size = tuple(int(v) for v in size)
    if len(size) != 3 or min(size) < 1:
        raise ConfigError(f"pool size must be 3 positive ints (t, h, w), got {size}")
    return min(size[0], t), min(size[1], h), min(size[2], w)


def _check(level: str, pool: str, ks: Sequence[int], num_clips: int) -> None:
    if level not in LEVELS:
        raise ConfigError(f"unknown retrieval level '{level}'; choose from {list(LEVELS)}")
    if pool not in POOLS:
        raise ConfigError(f"unknown pooling '{pool}'; choose from {list(POOLS)}")
    if not ks or min(int(k) for k in ks) < 1:
        raise ConfigError(f"recall@K needs K >= 1, got {list(ks)}")
    if num_clips < 1:
        raise ConfigError(f"num_clips must be at least 1, got {num_clips}")


def encode_videos(
    backbone,
    video_root: Path,
    items: list,
    data: DataConfig,
    aug: AugmentConfig,
    device,
    *,
    level: str = "video",
    pool: str = "adaptive_max",
    pool_size: Sequence[int] = (1, 1, 1),
    clip_norm: bool = False,
    num_clips: int = 10,
    seed: int = 0,
    batch_size: int = 16,
    amp: bool = False,
    progress: bool = True,
    desc: str = "features",
    chunk_videos: int = 512,
    on_skip: Callable[[str, str], None] | None = None,
) -> dict[str, np.ndarray]:
    """Retrieval rows of a list of videos: {"features" R x D float32, "labels" R, "paths" R,
    "clips" R (clip number; -1 at the video level)}. R = videos read (video level) or
    videos read x num_clips (clip level). Unreadable videos are left out and reported to
    `on_skip(path, reason)` (called in DataLoader workers: use a `SkipLog`)."""
    import torch

    from bepaper.data.datasets import LabeledClips
    from bepaper.metrics import clip_features

    step = max(1, len(items) if level == "clip" else chunk_videos)
    parts = max(1, -(-len(items) // step))
    feats, labels, paths, clips = [], [], [], []
    for p, s in enumerate(range(0, len(items), step)):
        part = items[s : s + step]
        ds = LabeledClips(
            video_root, part, data, on_skip=on_skip, seed=seed, train=False, num_clips=num_clips
        )
        out = clip_features(
            backbone,
            ds,
            aug,
            device,
            pool=pool,
            pool_size=pool_size,
            clip_norm=clip_norm,
            batch_size=batch_size,
            workers=data.workers,
            amp=amp,
            progress=progress,
            desc=desc if parts == 1 else f"{desc} {p + 1}/{parts}",
        )
        if len(out.labels) == 0:
            continue
        names = np.array([part[int(i)].path for i in out.indices], dtype=str)
        n = out.values.shape[1]
        if level == "video":
            feats.append(out.values.mean(dim=1))
            labels.append(out.labels.numpy())
            paths.append(names)
            clips.append(np.full(len(names), -1))
        else:
            feats.append(out.values.flatten(0, 1))
            labels.append(np.repeat(out.labels.numpy(), n))
            paths.append(np.repeat(names, n))
            clips.append(np.tile(np.arange(n), len(names)))
    if not feats:
        return {
            "features": np.zeros((0, 0), np.float32),
            "labels": np.zeros(0, np.int64),
            "paths": np.zeros(0, dtype=str),
            "clips": np.zeros(0, np.int64),
        }
    return {
        "features": torch.cat(feats).float().numpy(),
        "labels": np.concatenate(labels).astype(np.int64),
        "paths": np.concatenate(paths),
        "clips": np.concatenate(clips).astype(np.int64),
    }


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def _reusable(out_dir: Path, request: dict) -> dict | None:
    """The retrieval.json in `out_dir` when it was made for `request` and its files exist."""
    path = out_dir / "retrieval.json"
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if saved.get("request") != request:
        return None
    if not all((out_dir / f).is_file() for f in saved.get("files", [])):
        return None
    return saved


def retrieval_from_run(
    run_dir: str | os.PathLike,
    data: DataConfig | None = None,
    *,
    split: int = 1,
    level: str = "video",
    pool: str = "adaptive_max",
    pool_size: Sequence[int] = PAPER_POOL_SIZE,
    centre: bool = False,
    clip_norm: bool = False,
    num_clips: int = 10,
    ks: Sequence[int] = RETRIEVAL_KS,
    topk: int | None = None,
    out_dir: str | os.PathLike,
    device: str = "auto",
    batch_size: int = 16,
    save_features: bool = True,
    chunk_videos: int = 512,
    progress: bool = True,
) -> dict:
    """Retrieval recall@K of a run's frozen backbone (module docstring), written to `out_dir`.

    `run_dir`: a finished pretraining run (or a fine-tuning run: its backbone, e.g. a
    supervised baseline). `data`: the videos to retrieve on (default: the run's own data
    config); its frame count, stride and load size should be the run's (they are what the
    backbone saw), `run.data_config(root=...)` gives that with another location. Queries
    are the test list of `split`, the gallery its training list. `topk`: neighbours kept per
    query (default max(ks), clamped to the gallery). Returns what retrieval.json holds.
    A retrieval.json in `out_dir` made from the same run, data and settings is returned as it
    is (nothing is encoded again); delete the folder to recompute.
    """
    import torch

    from bepaper.data.datasets import data_fingerprint, load_split
    from bepaper.distributed import resolve_device
    from bepaper.metrics import recall_at_k, retrieve
    from bepaper.models import feature_shape

    _check(level, pool, ks, num_clips)
    start = time.perf_counter()
    run = open_run(run_dir, what="retrieval")
    data = data if data is not None else run.data_config()
    if data.split != split:
        data = dataclasses.replace(data, split=split)
    video_root, parsed = load_split(data, split)
    if not parsed.train or not parsed.test:
        raise DataError(f"split {split} of {data.root} needs training and test videos")
    aug = run.augment()
    dev = resolve_device(device)
    amp = bool(run.config.get("run", {}).get("amp", False)) and dev.type == "cuda"
    model_cfg = run.config.get("model", {})
    fmap = feature_shape(
        model_cfg.get("backbone", "r3d18"),
        data.num_frames,
        aug.crop_size,
        int(model_cfg.get("width", 0)),
    )
    size = effective_pool_size(fmap, pool_size) if pool == "adaptive_max" else (1, 1, 1)
    out_dir = Path(out_dir)
    request = {
        "run_key": run.key,
        "fingerprint": data_fingerprint(data),
        "split": split,
        "settings": [level, pool, list(size), clip_norm, centre, num_clips, list(ks), topk],
        "clip": [data.num_frames, data.stride, data.load_size, aug.crop_size, aug.eval_crop],
        "save_features": save_features,
    }
    saved = _reusable(out_dir, json_safe(request))
    if saved is not None:
        if progress:
            print(f"reusing the retrieval in {out_dir}")
        return saved
    out_dir.mkdir(parents=True, exist_ok=True)

    backbone = load_backbone(run, dev)
    skips = SkipLog(out_dir / "skipped.jsonl")
    kw = dict(
        level=level,
        pool=pool,
        pool_size=size,
        clip_norm=clip_norm,
        num_clips=num_clips,
        seed=run.seed,
        batch_size=batch_size,
        amp=amp,
        progress=progress,
        chunk_videos=chunk_videos,
        on_skip=skips,
    )
    with torch.no_grad():
        gallery = encode_videos(
            backbone, video_root, parsed.train, data, aug, dev, desc="gallery (train)", **kw
        )
        query = encode_videos(
            backbone, video_root, parsed.test, data, aug, dev, desc="queries (test)", **kw
        )
    for name, rows in (("gallery (training list)", gallery), ("query (test list)", query)):
        if len(rows["labels"]) == 0:
            raise DataError(f"no readable video in the {name} of split {split} of {data.root}")
    q, g = torch.from_numpy(query["features"]), torch.from_numpy(gallery["features"])
    ql, gl = torch.from_numpy(query["labels"]), torch.from_numpy(gallery["labels"])
    recall = recall_at_k(q, ql, g, gl, ks, centre=centre)
    k = min(int(topk or max(int(v) for v in ks)), len(g))
    idx, sim = retrieve(q, g, k, centre=centre)
    idx_np = idx.numpy()
    classes = np.array(parsed.classes, dtype=str)
    _save_npz(
        out_dir / "topk.npz",
        query_paths=query["paths"],
        query_clips=query["clips"],
        query_labels=query["labels"],
        neighbours=idx_np,
        neighbour_paths=gallery["paths"][idx_np],
        neighbour_clips=gallery["clips"][idx_np],
        neighbour_labels=gallery["labels"][idx_np],
        similarities=sim.numpy().astype(np.float32),
        classes=classes,
    )
    if save_features:
        for name, rows in (("query", query), ("gallery", gallery)):
            _save_npz(out_dir / f"features_{name}.npz", **rows, classes=classes)
    result = {
        "run": run.describe(),
        "data": {
            "dataset": data.dataset,
            "root": str(data.root),
            "split": split,
            "fingerprint": data_fingerprint(data),
            "classes": list(parsed.classes),
        },
        "protocol": {
            "level": level,
            "pool": pool,
            "pool_size": list(pool_size) if pool == "adaptive_max" else None,
            "pool_size_used": list(size) if pool == "adaptive_max" else None,
            "feature_map": list(fmap),
            "feature_dim": int(q.shape[1]),
            "clip_norm": clip_norm,
            "centre": centre,
            "num_clips": num_clips,
            "num_frames": data.num_frames,
            "stride": data.stride,
            "load_size": data.load_size,
            "crop_size": aug.crop_size,
            "eval_crop": aug.eval_crop,
        },
        "recall": {str(key): value for key, value in recall.items()},
        "queries": int(len(q)),
        "gallery": int(len(g)),
        "query_videos": int(len(set(query["paths"].tolist()))),
        "gallery_videos": int(len(set(gallery["paths"].tolist()))),
        "topk": k,
        "skipped": skips.read(),
        "device": str(dev),
        "seconds": round(time.perf_counter() - start, 2),
        "files": ["retrieval.json", "topk.npz"]
        + (["features_query.npz", "features_gallery.npz"] if save_features else []),
        "request": request,
    }
    result = json_safe(result)
    atomic_write_json(out_dir / "retrieval.json", result)
    return result


def load_topk(out_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of `<out_dir>/topk.npz` (see `retrieval_from_run`)."""
    path = Path(out_dir) / "topk.npz"
    if not path.is_file():
        raise DataError(f"no retrieval result in {out_dir} (topk.npz missing)")
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def neighbours(out_dir: str | os.PathLike, query: int | str, k: int | None = None):
    """A query's nearest gallery items as a DataFrame (rank, path, clip, class, similarity,
    hit). `query`: a row number of topk.npz or a query video's path (its first row)."""
    import pandas as pd

    t = load_topk(out_dir)
    if isinstance(query, str):
        rows = np.flatnonzero(t["query_paths"] == query)
        if not len(rows):
            raise DataError(f"'{query}' is not a query of {out_dir}")
        query = int(rows[0])
    if not 0 <= query < len(t["query_paths"]):
        raise DataError(f"query row {query} out of range 0..{len(t['query_paths']) - 1}")
    k = t["neighbours"].shape[1] if k is None else min(k, t["neighbours"].shape[1])
    label = int(t["query_labels"][query])
    labels = t["neighbour_labels"][query, :k]
    return pd.DataFrame(
        {
            "rank": np.arange(1, k + 1),
            "path": t["neighbour_paths"][query, :k],
            "clip": t["neighbour_clips"][query, :k],
            "class": t["classes"][labels],
            "similarity": t["similarities"][query, :k],
            "hit": labels == label,
        }
    )


def neighbours_figure(
    t: dict[str, np.ndarray],
    frame_of: Callable[[str], np.ndarray],
    queries: Sequence[int] = (0,),
    k: int = 5,
):
    """The figure of `plot_neighbours` from the arrays of topk.npz (`load_topk`) and a
    function giving a video's picture (e.g. its middle frame) from its path: one row per
    query, the query then its k nearest gallery videos, each titled with its class (wrapped
    to the picture's width) and cosine similarity; green: the query's class, red: another."""
    from bepaper import figures

    k = min(k, t["neighbours"].shape[1])
    cell = 1.7
    fig = figures.new_figure(cell * (k + 1), (cell + 0.35) * len(queries) + 0.2)
    axes = fig.subplots(len(queries), k + 1, squeeze=False)
    for r, q in enumerate(queries):
        label = int(t["query_labels"][q])
        cells = [(t["query_paths"][q], f"query: {t['classes'][label]}", "black")]
        for j in range(k):
            lab = int(t["neighbour_labels"][q, j])
            colour = "tab:green" if lab == label else "tab:red"
            text = f"{j + 1}: {t['classes'][lab]}\ncosine {t['similarities'][q, j]:.2f}"
            cells.append((t["neighbour_paths"][q, j], text, colour))
        for ax, (rel, text, colour) in zip(axes[r], cells, strict=True):
            ax.imshow(frame_of(str(rel)))
            ax.set_title(figures.wrap(text, cell - 0.1, 7.5), fontsize=7.5, color=colour)
            ax.set_xticks([])
            ax.set_yticks([])
    return fig


def plot_neighbours(
    out_dir: str | os.PathLike,
    video_root: str | os.PathLike,
    queries: Sequence[int] = (0,),
    k: int = 5,
    path: str | os.PathLike | None = None,
    backend: str = "decord",
) -> Path:
    """A PNG (default `<out_dir>/neighbours.png`) of `neighbours_figure`: one row per query
    row of topk.npz, its middle frame then those of its k nearest gallery videos."""
    from bepaper.video import open_video

    root = Path(video_root)

    def middle_frame(rel: str) -> np.ndarray:
        reader = open_video(root / str(rel), backend)
        try:
            return reader.get([reader.num_frames // 2])[0]
        finally:
            reader.close()

    fig = neighbours_figure(load_topk(out_dir), middle_frame, queries, k)
    path = Path(path) if path is not None else Path(out_dir) / "neighbours.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path
