"""Figures 6-7 from a run folder: CAMs of test videos and of the adversarial inputs, with a
number beside each picture.

For each of N test videos (of different classes where possible) the centre clip is taken in
the run's test view, and the run's backbone (pretraining or fine-tuning run) sees four
cases:

- `original`: the clip;
- `static` (Fig. 7 i): its middle frame repeated T times;
- `pasted` (Fig. 7 ii): the actor box of another video's middle frame (a video of another
  class), pasted static into every frame, in the frame corner that overlaps the moving
  actor least;
- `noise` (Fig. 7 iii): that other video's middle frame added as noise, Eq. 1 with λ = `lam`.

The numbers (`cam.json`, `cam.csv`, and in each row label of the PNGs):

- `actor_mass`: the share of CAM mass inside the actor's stored box (`cam.mass_in_boxes`,
  per-clip min-max CAM: a "where" measure), beside `actor_chance`, the box's share of the
  frame (a uniform map's mass). For `static` the box is the middle frame's; for `pasted`,
  `pasted_mass` / `pasted_chance` are the same for the pasted static box.
- `raw_mean`: the mean un-normalised activation (`cam.cam_raw`), and `raw_vs_original`, its
  ratio to the original clip's: Figure 7 i's "a static video shows low activation" is
  `raw_vs_original` of `static` well below 1. Compare ratios between models, never raw
  levels (see `bepaper.analysis.cam`).

Box coordinates. Boxes are stored per video frame in the video's native pixels (x0, y0
inclusive, x1, y1 exclusive). The loader resizes the short side to `load_size` and
centre-crops a square (`datasets._square`); the test view (`augment.eval_view`) takes the
centre square of side `eval_crop` x `load_size` and resamples it to `crop_size`.
`view_box_edges` composes both maps exactly on box edges (continuous coordinates);
`view_boxes` rounds them outward to whole pixels for `mass_in_boxes`.

Pictures: `cam_<k>_<Class>.png` per video (input and overlay rows for each case),
`cam_grid.png` (the overlays of every video), `gifs/<k>_<Class>_<case>.gif` (input beside
overlay, animated). The overlays of one video share one colour scale (`norm="batch"` over its
four cases), so a weak response looks weak; the numbers use per-clip min-max as stated.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from bepaper.analysis.loading import box_root_for, json_safe, load_backbone, open_run
from bepaper.errors import ConfigError, DataError

CASES = ("original", "static", "pasted", "noise")
GIF_MIN_SIDE = 128  # GIF frames are enlarged (nearest neighbour) to at least this side


# ------------------------------------------------------------------ box geometry


def square_geometry(height: int, width: int, load_size: int) -> tuple[float, float, int, int]:
    """How `datasets._square` maps a height x width frame: (x factor, y factor, x offset,
    y offset), i.e. x_square = x * fx - ox. The resize goes to exactly the size `_square`
    computes (Python's round), so fx = new width / width, not load_size / short side."""
    if (height, width) == (load_size, load_size):
        return 1.0, 1.0, 0, 0
    scale = load_size / min(height, width)
    nh, nw = max(load_size, round(height * scale)), max(load_size, round(width * scale))
    return nw / width, nh / height, (nw - load_size) // 2, (nh - load_size) // 2


def view_box_edges(
    boxes: np.ndarray,
    height: int,
    width: int,
    load_size: int,
    eval_crop: float,
    crop_size: int,
) -> np.ndarray:
    """Boxes (..., 4) x0, y0, x1, y1 in a height x width video's pixels → the same edges in
    the network's test view (float, not rounded or clipped).

    A pixel edge e (0 = the frame's left border) maps through the square crop to
    e_s = e * f - o, then through eval_view's centred crop of side s = eval_crop * load_size
    resampled to crop_size (affine_grid / grid_sample with align_corners=False) to
    e_v = (e_s - load_size / 2) * crop_size / s + crop_size / 2."""
    fx, fy, ox, oy = square_geometry(height, width, load_size)
    b = np.asarray(boxes, dtype=np.float64)
    f = np.array([fx, fy, fx, fy])
    o = np.array([ox, oy, ox, oy], dtype=np.float64)
    sq = b * f - o
    return (sq - load_size / 2) * crop_size / (eval_crop * load_size) + crop_size / 2


def view_boxes(
    boxes: np.ndarray,
    height: int,
    width: int,
    load_size: int,
    eval_crop: float,
    crop_size: int,
) -> np.ndarray:
    """`view_box_edges` rounded outward to whole pixels (floor x0, y0; ceil x1, y1) and
    clipped to the crop_size view: int64 (..., 4). Empty source boxes, and boxes that fall
    outside the view, become (0, 0, 0, 0)."""
    b = np.asarray(boxes)
    e = view_box_edges(b, height, width, load_size, eval_crop, crop_size)
    eps = 1e-9  # an edge that lands on a pixel border (up to float error) stays there
    out = np.concatenate([np.floor(e[..., :2] + eps), np.ceil(e[..., 2:] - eps)], axis=-1)
    out = np.clip(out, 0, crop_size).astype(np.int64)
    empty = (b[..., 2] <= b[..., 0]) | (b[..., 3] <= b[..., 1])
    empty |= (out[..., 2] <= out[..., 0]) | (out[..., 3] <= out[..., 1])
    out[empty] = 0
    return out


# ------------------------------------------------------------------ choosing videos


def pick_videos(labels: list[int], n: int, seed: int = 0) -> list[int]:
    """Indices of `n` videos (at most len(labels)), one per class in a seeded class order
    before any class gets a second: classes differ wherever there are enough of them."""
    rng = np.random.default_rng([seed, 11])
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(i)
    order = [sorted(by_class)[j] for j in rng.permutation(len(by_class))]
    queues = {c: [by_class[c][j] for j in rng.permutation(len(by_class[c]))] for c in order}
    picked: list[int] = []
    while len(picked) < min(n, len(labels)):
        for c in order:
            if queues[c] and len(picked) < n:
                picked.append(queues[c].pop(0))
    return picked


def _donor(k: int, picked: list[int], labels: list[int]) -> int:
    """A video of another class than picked[k]: the next picked one, else any."""
    me = labels[picked[k]]
    for j in picked[k + 1 :] + picked[:k]:
        if labels[j] != me:
            return j
    for j, label in enumerate(labels):
        if label != me:
            return j
    raise DataError("the adversarial inputs need test videos of at least two classes")


def _corner(actor: np.ndarray, w: int, h: int, size: int) -> tuple[tuple[int, int], float]:
    """The top-left corner (x, y) for a w x h patch, among the four frame corners, that
    overlaps the union of the actor's boxes (T x 4) least; and that overlap's share of the
    patch."""
    ok = (actor[:, 2] > actor[:, 0]) & (actor[:, 3] > actor[:, 1])
    if ok.any():
        a = actor[ok]
        ux0, uy0, ux1, uy1 = a[:, 0].min(), a[:, 1].min(), a[:, 2].max(), a[:, 3].max()
    else:
        ux0 = uy0 = ux1 = uy1 = 0
    best, best_overlap = (0, 0), math.inf
    for cx, cy in ((0, 0), (size - w, 0), (0, size - h), (size - w, size - h)):
        cx, cy = max(cx, 0), max(cy, 0)
        ix = max(0, min(cx + w, ux1) - max(cx, ux0))
        iy = max(0, min(cy + h, uy1) - max(cy, uy0))
        if ix * iy < best_overlap:
            best, best_overlap = (cx, cy), ix * iy
    return best, float(best_overlap / max(w * h, 1))


# ------------------------------------------------------------------ the report


def _load_clip(video_root: Path, path: str, data, aug, box_root: Path | None):
    """(network input 1 x 3 x T x S x S, view boxes T x 4 or None, frame indices)."""
    import torch

    from bepaper.augment import eval_view
    from bepaper.data.datasets import _square
    from bepaper.data.sampling import clip_indices, max_start
    from bepaper.video import open_video

    reader = open_video(video_root / path, data.backend)
    try:
        n = reader.num_frames
        start = max_start(n, data.num_frames, data.stride) // 2
        idx = clip_indices(start, data.num_frames, data.stride, n)
        frames = reader.get(idx.tolist())  # T x H x W x 3, native size
    finally:
        reader.close()
    h, w = frames.shape[1:3]
    square = _square(frames, data.load_size)
    x = eval_view(torch.from_numpy(square)[None], aug)
    boxes = None
    if box_root is not None:
        file = box_root / f"{Path(path).with_suffix('')}.npy"
        if not file.is_file():
            raise DataError(f"no actor boxes for {path}: {file} is missing")
        raw = np.load(file)
        if raw.ndim != 2 or raw.shape[1] != 4 or len(raw) != n:
            raise DataError(f"{file}: {raw.shape} boxes for a video of {n} frames")
        boxes = view_boxes(raw[idx], h, w, data.load_size, aug.eval_crop, aug.crop_size)
    return x, boxes, idx


def _label(k: int, cls: str, case: str, row: dict) -> str:
    """A grid row's label in reader words: the video, the case, and its numbers."""
    from bepaper.labels import cam_case

    def num(x: float) -> str:  # NaN: a flat CAM or an empty box leaves no share
        return "n/a" if math.isnan(x) else f"{x:.2f}"

    lines = [f"video {k}: {cls}", cam_case(case)]
    if row.get("actor_mass") is not None:
        lines.append(f"CAM in actor box {num(row['actor_mass'])} (area {num(row['actor_chance'])})")
    if row.get("pasted_mass") is not None:
        lines.append(
            f"CAM in pasted box {num(row['pasted_mass'])} (area {num(row['pasted_chance'])})"
        )
    if row.get("raw_vs_original") is not None:
        lines.append(f"activation ×{num(row['raw_vs_original'])} of the original")
    return "\n".join(lines)


GRID_NOTE = (
    "CAM in box: share of the CAM's mass inside the box (per-clip min-max CAM); area: the "
    "box's share of the frame, what a uniform CAM would give. Activation: mean raw CAM "
    "relative to the original clip's. One colour scale per video."
)


def _enlarge(frames: np.ndarray) -> np.ndarray:
    k = max(1, math.ceil(GIF_MIN_SIDE / frames.shape[1]))
    return frames.repeat(k, axis=1).repeat(k, axis=2)


def cam_report(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    videos: int = 4,
    split: int = 2,
    root: str | os.PathLike | None = None,
    dataset: str | None = None,
    split_dir: str | os.PathLike | None = None,
    boxes: str | os.PathLike | None = None,
    lam: float = 0.3,
    seed: int = 0,
    device: str = "auto",
    max_frames: int = 8,
    progress: bool = True,
) -> dict:
    """CAMs of `videos` test videos of `split` and their Figure 7 variants through the run's
    backbone (module docstring). `root`, `dataset`, `split_dir`: the data (default: the
    run's; e.g. root=<HMDB51 videos>, dataset="hmdb51" for a UCF101-trained run). `boxes`:
    the actor boxes' folder (default: `boxes/` beside the video root, as SynthBias has;
    without boxes the `pasted` case and the mass numbers are left out). Writes the PNGs,
    GIFs, `cam.json` and `cam.csv` to `out_dir`; returns what cam.json holds."""
    import dataclasses

    import pandas as pd
    import torch

    from bepaper.analysis import cam as cm
    from bepaper.augment import MEAN, STD
    from bepaper.data.datasets import load_split
    from bepaper.distributed import resolve_device
    from bepaper.progress import bar
    from bepaper.runs import atomic_path, atomic_write_json

    if videos < 1:
        raise ConfigError(f"videos must be at least 1, got {videos}")
    if not 0 <= lam <= 1:
        raise ConfigError(f"lam must be in [0, 1], got {lam}")
    start = time.perf_counter()
    run = open_run(run_dir, what="cam")
    data = run.data_config(root=root, dataset=dataset, split_dir=split_dir)
    data = dataclasses.replace(data, split=split)
    video_root, parsed = load_split(data, split)
    if not parsed.test:
        raise DataError(f"split {split} of {data.root} lists no test videos")
    if boxes is not None and not Path(boxes).is_dir():
        raise DataError(f"box folder not found: {boxes}")
    box_root = Path(boxes) if boxes is not None else box_root_for(video_root)
    aug = run.augment()
    dev = resolve_device(device)
    backbone = load_backbone(run, dev)
    labels = [item.label for item in parsed.test]
    picked = pick_videos(labels, videos, seed)
    out_dir = Path(out_dir)
    (out_dir / "gifs").mkdir(parents=True, exist_ok=True)
    T, S = data.num_frames, aug.crop_size
    fmap = None
    mid = T // 2

    rows, records, grid_all = [], [], []
    for k, i in enumerate(bar(picked, desc="cam", disable=not progress, unit="video")):
        item = parsed.test[i]
        cls = parsed.classes[item.label]
        j = _donor(k, picked, labels)
        donor = parsed.test[j]
        x, actor, idx = _load_clip(video_root, item.path, data, aug, box_root)
        dx, donor_boxes, _ = _load_clip(video_root, donor.path, data, aug, box_root)
        cases = {"original": x, "static": cm.static_video(x)}
        pasted_box, overlap = None, None
        if actor is not None and donor_boxes is not None:
            b = donor_boxes[mid]
            if b[2] > b[0] and b[3] > b[1]:
                at, overlap = _corner(actor, int(b[2] - b[0]), int(b[3] - b[1]), S)
                cases["pasted"], pb = cm.paste_static_actor(
                    x, dx, donor_boxes[None], frame=mid, at=[at]
                )
                pasted_box = pb[0].numpy()
        cases["noise"] = cm.add_static_noise(x, dx, lam=lam)
        names = list(cases)
        batch = torch.cat([cases[n] for n in names]).to(dev)
        raw = cm.cam_raw(backbone, batch).cpu()  # n x T' x H' x W'
        fmap = list(raw.shape[1:])
        up = cm.upsample(raw, batch.shape[2:])  # n x T x S x S
        per_clip, shared = cm.NORMS["clip"](up), cm.NORMS["batch"](up)
        raw_mean = raw.mean(dim=(1, 2, 3)).double().numpy()
        grid = []
        for c, name in enumerate(names):
            row = {
                "video": k,
                "path": item.path,
                "class": cls,
                "case": name,
                "donor": donor.path if name in ("pasted", "noise") else None,
                "raw_mean": float(raw_mean[c]),
                "raw_vs_original": float(raw_mean[c] / raw_mean[0]) if raw_mean[0] else None,
                "actor_mass": None,
                "actor_chance": None,
                "pasted_mass": None,
                "pasted_chance": None,
            }
            if actor is not None:
                box = np.repeat(actor[mid : mid + 1], T, 0) if name == "static" else actor
                m = cm.mass_in_boxes(per_clip[c : c + 1], box[None])
                row["actor_mass"], row["actor_chance"] = float(m.mass[0]), float(m.chance[0])
            if name == "pasted":
                m = cm.mass_in_boxes(per_clip[c : c + 1], np.tile(pasted_box, (1, T, 1)))
                row["pasted_mass"], row["pasted_chance"] = float(m.mass[0]), float(m.chance[0])
                row["pasted_box"] = pasted_box.tolist()
                row["pasted_overlap"] = overlap
            rows.append(row)
            frames = cm.to_uint8(cases[name][0], MEAN, STD)
            over = cm.overlay(frames, shared[c])
            label = _label(k, cls, name, row)
            grid.append((label, frames, shared[c]))
            grid_all.append((label, frames, shared[c]))
            stem = f"{k}_{cls}_{name}"
            cm.save_gif(
                _enlarge(np.concatenate([frames, over], axis=2)), out_dir / "gifs" / f"{stem}.gif"
            )
        cm.save_grid(
            grid,
            out_dir / f"cam_{k}_{cls}.png",
            max_frames=max_frames,
            title=f"{run.path.name}: {item.path}, video frames {idx.tolist()}\n{GRID_NOTE}",
        )
        records.append(
            {
                "video": k,
                "path": item.path,
                "class": cls,
                "frames": idx.tolist(),
                "actor_boxes": None if actor is None else actor.tolist(),
                "donor": donor.path,
                "donor_class": parsed.classes[donor.label],
            }
        )
    cm.save_grid(
        grid_all,
        out_dir / "cam_grid.png",
        max_frames=max_frames,
        show_frames=False,
        title=f"{run.reader_name} (run {run.path.name}): CAM overlays, test split {split}\n"
        f"{GRID_NOTE}",
    )
    table = pd.DataFrame(rows)
    with atomic_path(out_dir / "cam.csv") as tmp:
        table.drop(columns=["pasted_box"], errors="ignore").to_csv(
            tmp, index=False, float_format="%.6g"
        )
    summary = {}
    for name in CASES:
        part = table[table["case"] == name]
        if not len(part):
            continue
        entry = {"videos": int(len(part)), "raw_vs_original": part["raw_vs_original"].mean()}
        for key in ("actor_mass", "actor_chance", "pasted_mass", "pasted_chance"):
            if part[key].notna().any():
                entry[key] = part[key].astype(float).mean()
        summary[name] = entry
    result = {
        "run": run.describe(),
        "data": {"dataset": data.dataset, "root": str(data.root), "split": split},
        "boxes": None if box_root is None else str(box_root),
        "view": {
            "num_frames": T,
            "stride": data.stride,
            "load_size": data.load_size,
            "eval_crop": aug.eval_crop,
            "crop_size": S,
        },
        "lam": lam,
        "cam_resolution": fmap,
        "cam_note": "the feature map is 1 x 1 in space: every CAM is flat and no mass share "
        "is defined (use larger clips)"
        if fmap is not None and fmap[1] * fmap[2] == 1
        else None,
        "numbers": "actor/pasted mass: per-clip min-max CAM; raw: cam_raw mean",
        "summary": summary,
        "videos": records,
        "rows": rows,
        "device": str(dev),
        "seconds": round(time.perf_counter() - start, 2),
        "grid": str(out_dir / "cam_grid.png"),
        "files": ["cam.json", "cam.csv", "cam_grid.png"]
        + [f"cam_{r['video']}_{r['class']}.png" for r in records]
        + sorted(f"gifs/{p.name}" for p in (out_dir / "gifs").glob("*.gif")),
    }
    atomic_write_json(out_dir / "cam.json", json_safe(result))
    return result
