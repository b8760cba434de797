"""Actor-cropped datasets: the paper's Actor-HMDB51 (§4.6, Figure 5), for any dataset.

For each video of a dataset's split files, take the actor box of every frame (SynthBias's
stored ground truth, or people found by Faster R-CNN or OpenCV's HOG detector), take the
smallest axis-aligned region holding all of them in all frames (grown by `margin`), crop
every frame to it, resize, and write a new dataset in the same layout:

    <out>/videos/<relpath>                 MPEG-4 Part 2 in AVI (synthbias.write_video),
                                           whatever the extension the split files give
    <out>/boxes/<relpath without .ext>.npy int16 (T, 4): x0, y0 incl., x1, y1 excl., in the
                                           crop's coordinates; (0, 0, 0, 0) = no box
    <out>/splits/...                       the source's split files, byte for byte
    <out>/meta.json                        SynthBias: the source's meta.json plus an
                                           "actor_crop" record; other datasets: that record

The region. The union box is grown by `margin` times its width (height) on the left and
right (top and bottom), then, with `square=True` (default), grown to a square of side
max(width, height) around its centre and shifted to lie inside the frame. Where the frame
is too small for that square, it is grown only as far as the frame allows, and the resize
to a square stretches it a little. It is resized to `size` x `size` (default: the source's
short side, so a SynthBias crop has the source's frame side and the loaders see the same
shapes; made even, and moved by two pixels off the sides decord cannot batch-read). With
`square=False` the region keeps its aspect, resized so that its short side is `size` (both
sides rounded to even numbers, as yuv420p needs).

Detector boxes. Faster R-CNN (COCO label 1, "person", score ≥ `score_threshold`) or HOG
people windows. A frame's box is the union of its people. Frames without one take the
union of the other frames' boxes; a video with none at all keeps the whole frame and is
listed in the record's `no_detection`. Videos that cannot be read are skipped: listed in
the record's `skipped` with the reason, and printed. Their lines stay in the copied split
files, so a loader reports them as missing (`bepaper.data.datasets` skips and reports).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from bepaper.data.splits import DATASETS
from bepaper.data.synthbias import DECORD_BAD_SIZES, _remove_stale_temps, write_video
from bepaper.errors import CheckpointError, ConfigError, DataError, VideoError
from bepaper.video import BACKENDS, open_video

BOX_SOURCES = ("ground_truth", "fasterrcnn", "hog")
DEFAULT_SCORE = {"ground_truth": 0.0, "fasterrcnn": 0.5, "hog": 0.0}
COCO_PERSON = 1  # torchvision's COCO category index of "person"
HOG_MIN_SIDE = 256  # frames are upscaled to this short side for HOG's 64 x 128 window


@dataclass(frozen=True)
class _Spec:
    """How each video is processed (picklable, for worker processes)."""

    boxes: str
    backend: str
    margin: float
    square: bool
    size: int | None
    quality: int
    fps: int | None  # None: the source's rate, rounded
    weights: str | None  # Faster R-CNN state dict
    score_threshold: float
    detector_size: int  # Faster R-CNN: short side its transform resizes to
    detect_every: int
    device: str


# ---------------------------------------------------------------------------------------
# Geometry: pure functions on (T, 4) int boxes x0, y0, x1, y1 (x1, y1 exclusive)
# ---------------------------------------------------------------------------------------


def valid_boxes(boxes: np.ndarray) -> np.ndarray:
    """(T,) bool: rows that hold a non-empty box."""
    boxes = np.asarray(boxes)
    return (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])


def union_box(boxes: np.ndarray) -> tuple[int, int, int, int] | None:
    """The smallest box holding every valid row of (T, 4) `boxes`; None if none is valid."""
    boxes = np.asarray(boxes)
    ok = valid_boxes(boxes)
    if not ok.any():
        return None
    b = boxes[ok]
    return int(b[:, 0].min()), int(b[:, 1].min()), int(b[:, 2].max()), int(b[:, 3].max())


def crop_region(
    union: tuple[int, int, int, int] | None,
    width: int,
    height: int,
    margin: float = 0.0,
    square: bool = True,
) -> tuple[int, int, int, int]:
    """The crop (x0, y0, x1, y1) inside a width x height frame that holds `union` (see the
    module docstring); the whole frame when `union` is None."""
    if union is None:
        return 0, 0, width, height
    x0, y0, x1, y1 = union
    mx, my = math.ceil(margin * (x1 - x0)), math.ceil(margin * (y1 - y0))
    x0, y0, x1, y1 = max(x0 - mx, 0), max(y0 - my, 0), min(x1 + mx, width), min(y1 + my, height)
    w, h = x1 - x0, y1 - y0
    if square:
        w, h = min(max(w, h), width), min(max(w, h), height)

    def place(lo: int, hi: int, side: int, limit: int) -> int:
        start = lo - (side - (hi - lo)) // 2  # centred; holds [lo, hi) since side >= hi - lo
        return min(max(start, 0), limit - side)

    nx0, ny0 = place(x0, x1, w, width), place(y0, y1, h, height)
    return nx0, ny0, nx0 + w, ny0 + h


def default_side(short: int) -> int:
    """The default square side for a source whose short side is `short`: that side made
    even (yuv420p) and moved off the sides decord cannot batch-read (DECORD_BAD_SIZES, by
    two pixels), at least 16."""
    side = max(16, short - short % 2)
    while side in DECORD_BAD_SIZES:
        side += 2
    return side


def output_size(region: tuple[int, int, int, int], size: int, square: bool) -> tuple[int, int]:
    """(width, height) a region is resized to."""
    if square:
        return size, size
    w, h = region[2] - region[0], region[3] - region[1]
    scale = size / min(w, h)
    return max(2, 2 * round(w * scale / 2)), max(2, 2 * round(h * scale / 2))


def crop_frames(frames: np.ndarray, region: tuple, out_w: int, out_h: int) -> np.ndarray:
    """(T, H, W, 3) uint8 → (T, out_h, out_w, 3): the region, resized (area when shrinking,
    bilinear when enlarging)."""
    x0, y0, x1, y1 = region
    crop = frames[:, y0:y1, x0:x1]
    if crop.shape[1:3] == (out_h, out_w):
        return np.ascontiguousarray(crop)
    shrink = out_w <= x1 - x0 and out_h <= y1 - y0
    inter = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (out_w, out_h), interpolation=inter) for f in crop])


def map_boxes(boxes: np.ndarray, region: tuple, out_w: int, out_h: int) -> np.ndarray:
    """(T, 4) boxes in frame coordinates → int16 (T, 4) in the resized crop's coordinates,
    rounded outward and clipped to it; invalid rows become (0, 0, 0, 0)."""
    x0, y0, x1, y1 = region
    b = np.asarray(boxes, dtype=np.int64) - [x0, y0, x0, y0]
    num = b * [out_w, out_h, out_w, out_h]  # exact integer arithmetic: no rounding drift
    den = np.array([x1 - x0, y1 - y0, x1 - x0, y1 - y0])
    out = np.concatenate([num[:, :2] // den[:2], -(-num[:, 2:] // den[2:])], axis=1)
    out = np.clip(out, 0, [out_w, out_h, out_w, out_h]).astype(np.int16)
    out[~valid_boxes(out) | ~valid_boxes(np.asarray(boxes))] = 0
    return out


def fill_missing(boxes: np.ndarray) -> tuple[np.ndarray, int]:
    """Rows without a box take the union of the others. Returns (boxes, rows that had one)."""
    boxes = np.array(boxes, dtype=np.int64)
    ok = valid_boxes(boxes)
    union = union_box(boxes)
    if union is not None:
        boxes[~ok] = union
    return boxes, int(ok.sum())


# ---------------------------------------------------------------------------------------
# Detectors: (T, H, W, 3) uint8 RGB frames → per frame, an (n, 4) float array of people
# ---------------------------------------------------------------------------------------


def fasterrcnn_weights_path(weights: str | os.PathLike | None = None) -> Path:
    """The COCO Faster R-CNN state dict: `weights`, else torchvision's cache. Nothing is
    downloaded: a missing file is a ConfigError that says where to put which file."""
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ConfigError(f"Faster R-CNN weights not found: {path} (weights=)")
        return path
    import torch
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    url = FasterRCNN_ResNet50_FPN_Weights.COCO_V1.url
    name = url.rsplit("/", 1)[-1]
    path = Path(torch.hub.get_dir()) / "checkpoints" / name
    if path.is_file():
        return path
    raise ConfigError(
        f"Faster R-CNN weights not found: download {url} to {path} "
        f"(torchvision's cache; e.g. curl -L --create-dirs -o {path} {url}), "
        f"or pass weights=<path to {name}>"
    )


def load_fasterrcnn(weights: str | os.PathLike, score_threshold: float, min_size: int = 800):
    """torchvision's fasterrcnn_resnet50_fpn in eval mode with a local state dict.

    Built with weights=None, weights_backbone=None (no download); BatchNorm in eval mode
    computes what the released FrozenBatchNorm2d does, and the released file lacks only
    its `num_batches_tracked` counters."""
    import torch
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    try:
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and torch errors alike
        raise CheckpointError(f"{weights}: cannot read Faster R-CNN weights ({err})") from err
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{weights}: not a state dict")
    model = fasterrcnn_resnet50_fpn(
        weights=None,
        weights_backbone=None,
        box_score_thresh=score_threshold,
        min_size=min_size,
        max_size=max(1333, min_size),
    )
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise CheckpointError(
            f"{weights}: not a fasterrcnn_resnet50_fpn state dict "
            f"(missing {missing[:3]}, unexpected {result.unexpected_keys[:3]})"
        )
    return model.eval()


class FasterRCNNPeople:
    """People boxes from torchvision's Faster R-CNN (COCO label 1)."""

    def __init__(self, spec: _Spec) -> None:
        self.model = load_fasterrcnn(spec.weights, spec.score_threshold, spec.detector_size)
        self.model.to(spec.device)
        self.device, self.threshold = spec.device, spec.score_threshold

    def __call__(self, frames: np.ndarray, batch: int = 8) -> list[np.ndarray]:
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(frames), batch):
                x = torch.from_numpy(frames[i : i + batch]).to(self.device)
                x = x.permute(0, 3, 1, 2).float() / 255  # N x 3 x H x W
                for det in self.model(list(x)):
                    keep = (det["labels"] == COCO_PERSON) & (det["scores"] >= self.threshold)
                    out.append(det["boxes"][keep].cpu().numpy().reshape(-1, 4))
        return out


class HOGPeople:
    """People windows from OpenCV's default HOG + linear SVM detector (offline)."""

    def __init__(self, spec: _Spec) -> None:
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.threshold = spec.score_threshold

    def __call__(self, frames: np.ndarray) -> list[np.ndarray]:
        h, w = frames.shape[1:3]
        scale = max(1.0, HOG_MIN_SIDE / min(h, w))
        out = []
        for frame in frames:
            img = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
            if scale > 1:
                img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
            rects, weights = self.hog.detectMultiScale(img, winStride=(8, 8), padding=(8, 8))
            rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
            weights = np.asarray(weights, dtype=np.float64).reshape(-1)
            rects = rects[weights >= self.threshold]
            boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1) / scale
            out.append(boxes)
        return out


DETECTORS = {"fasterrcnn": FasterRCNNPeople, "hog": HOGPeople}
_LOADED: dict[_Spec, object] = {}  # one detector per process and spec


def detect_boxes(frames: np.ndarray, spec: _Spec) -> np.ndarray:
    """(T, 4) int boxes: per frame, the union of the people found, rounded outward and
    clipped to the frame; (0, 0, 0, 0) where none was found or the frame was not examined
    (only every `detect_every`-th frame is)."""
    if spec not in _LOADED:
        _LOADED[spec] = DETECTORS[spec.boxes](spec)
    h, w = frames.shape[1:3]
    picked = np.arange(0, len(frames), spec.detect_every)
    out = np.zeros((len(frames), 4), dtype=np.int64)
    for t, people in zip(picked, _LOADED[spec](frames[picked]), strict=True):
        if len(people):
            x0, y0 = np.floor(people[:, :2].min(axis=0))
            x1, y1 = np.ceil(people[:, 2:].max(axis=0))
            out[t] = (max(x0, 0), max(y0, 0), min(x1, w), min(y1, h))
    out[~valid_boxes(out)] = 0
    return out


# ---------------------------------------------------------------------------------------
# One video, and the whole dataset
# ---------------------------------------------------------------------------------------


def _crop_one(job: tuple) -> dict:
    """Crop one video; returns its record, or {"file", "skipped": reason}."""
    relpath, src, dst, box_src, box_dst, spec = job
    try:
        reader = open_video(src, spec.backend)
        try:
            frames = reader.get(list(range(reader.num_frames)))
            fps = spec.fps or max(1, round(reader.fps or 25))
        finally:
            reader.close()
        if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) < 1:
            raise DataError(f"decoded frames are {frames.dtype} {frames.shape}, not RGB")
        h, w = frames.shape[1:3]
        if spec.boxes == "ground_truth":
            try:
                raw = np.load(box_src)
            except (OSError, ValueError) as err:
                raise DataError(f"no readable box file {box_src}") from err
            if raw.shape != (len(frames), 4):
                raise DataError(f"{box_src} holds {raw.shape} boxes for {len(frames)} frames")
            raw = np.clip(raw.astype(np.int64), 0, [w, h, w, h])
        else:
            raw = detect_boxes(frames, spec)
        boxes, found = fill_missing(raw)
        region = crop_region(union_box(boxes), w, h, spec.margin, spec.square)
        out_w, out_h = output_size(region, spec.size or default_side(min(h, w)), spec.square)
        write_video(dst, crop_frames(frames, region, out_w, out_h), fps, "pyav", spec.quality)
        np.save(box_dst, map_boxes(boxes, region, out_w, out_h))
    except Exception as err:  # any failure skips this video; all failing is an error
        reason = err.reason if isinstance(err, VideoError) else f"{type(err).__name__}: {err}"
        return {"file": relpath, "skipped": reason}
    return {"file": relpath, "region": list(region), "frames": len(frames), "with_box": found}


def _weights_identity(path: str) -> dict:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"weights": Path(path).name, "weights_sha256": h.hexdigest()[:16]}


def _split_numbers(dataset: str, split_dir: Path) -> list[int]:
    if dataset == "ucf101":
        return [k for k in (1, 2, 3) if (split_dir / f"trainlist{k:02d}.txt").is_file()] or [1]
    if dataset == "hmdb51":
        return [k for k in (1, 2, 3) if any(split_dir.glob(f"*_test_split{k}.txt"))] or [1]
    return [1]


def list_videos(dataset: str, split_dir: str | os.PathLike) -> list[str]:
    """Every video path (relative to the video root) in any split of `split_dir`, sorted."""
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset '{dataset}'; choose from {sorted(DATASETS)}")
    split_dir = Path(split_dir)
    paths: set[str] = set()
    for k in _split_numbers(dataset, split_dir):
        split = DATASETS[dataset](split_dir, k)
        paths.update(item.path for item in split.train + split.test)
    return sorted(paths)


def _check(boxes: str, backend: str, size: int | None, margin: float, square: bool) -> None:
    if boxes not in BOX_SOURCES:
        raise ConfigError(f"unknown box source '{boxes}'; choose from {list(BOX_SOURCES)}")
    if backend not in BACKENDS:
        raise ConfigError(f"unknown video backend '{backend}'; choose from {list(BACKENDS)}")
    if size is not None and (size < 16 or size % 2):
        raise ConfigError(f"size must be even and at least 16, got {size}")
    if square and size in DECORD_BAD_SIZES:
        raise ConfigError(
            f"size {size} breaks decord's get_batch (dmlc/decord#336); avoid {DECORD_BAD_SIZES}"
        )
    if not margin >= 0:
        raise ConfigError(f"margin must be non-negative, got {margin}")


def build_actor_crops(
    src_video_root: str | os.PathLike,
    split_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    boxes: str = "ground_truth",
    box_root: str | os.PathLike | None = None,
    size: int | None = None,
    margin: float = 0.0,
    square: bool = True,
    weights: str | os.PathLike | None = None,
    score_threshold: float | None = None,
    detector_size: int = 800,
    detect_every: int = 1,
    device: str = "cpu",
    dataset: str = "ucf101",
    backend: str = "decord",
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """Write the actor-cropped copy of a dataset to `out_dir`; returns it (module docstring).

    `src_video_root`/`split_dir`: a SynthBias analogue's `videos/` and `splits/` (its
    meta.json beside them is detected) or any dataset of `dataset`'s split format.
    `box_root`: ground-truth boxes (default: `boxes/` beside a SynthBias `videos/`).
    `weights`: Faster R-CNN state dict (default: torchvision's cache; never downloaded).
    `score_threshold`: detector score (default 0.5 for Faster R-CNN, SVM margin 0 for HOG).
    `detector_size`: Faster R-CNN's resize (torchvision's 800). `detect_every`: examine
    only every k-th frame (speed; the others take the union). Written to a temp folder
    beside `out_dir`, then renamed over it. Skipped videos are in meta.json's record.
    """
    _check(boxes, backend, size, margin, square)
    if detect_every < 1:
        raise ConfigError(f"detect_every must be at least 1, got {detect_every}")
    src_video_root, split_dir, out_dir = Path(src_video_root), Path(split_dir), Path(out_dir)
    if not src_video_root.is_dir():
        raise DataError(f"video root not found: {src_video_root}")
    if src_video_root.resolve().is_relative_to(out_dir.resolve()):
        raise ConfigError(f"out_dir {out_dir} would replace the source {src_video_root}")
    if device != "cpu" and workers > 1:
        raise ConfigError("a detector on a GPU runs in one process: use workers=1")
    src_meta_path = src_video_root.parent / "meta.json"
    synth = src_video_root.name == "videos" and src_meta_path.is_file()
    src_meta = json.loads(src_meta_path.read_text()) if synth else None
    if boxes == "ground_truth":
        box_root = Path(box_root) if box_root else src_video_root.parent / "boxes"
        if not box_root.is_dir():
            raise DataError(f"ground-truth boxes not found: {box_root} (box_root=)")
    if boxes == "fasterrcnn":
        weights = str(fasterrcnn_weights_path(weights))
    cfg = src_meta["config"] if synth else {}
    spec = _Spec(
        boxes=boxes,
        backend=backend,
        margin=float(margin),
        square=square,
        size=size,
        quality=int(cfg.get("quality", 2)),
        fps=cfg.get("fps"),
        weights=str(weights) if boxes == "fasterrcnn" else None,
        score_threshold=DEFAULT_SCORE[boxes] if score_threshold is None else score_threshold,
        detector_size=detector_size,
        detect_every=detect_every,
        device=device,
    )
    files = list_videos("ucf101" if synth else dataset, split_dir)
    if boxes in DETECTORS and spec not in _LOADED:  # fail here, not in every video;
        _LOADED[spec] = DETECTORS[boxes](spec)  # forked workers inherit it

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(out_dir.parent, out_dir.name)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-{os.getpid()}_"))
    tmp.chmod(0o755)
    start = time.perf_counter()
    try:
        jobs = []
        for rel in files:
            stem = str(Path(rel).with_suffix(""))
            dst = tmp / "videos" / rel
            (tmp / "boxes" / stem).parent.mkdir(parents=True, exist_ok=True)
            dst.parent.mkdir(parents=True, exist_ok=True)
            box_src = box_root / f"{stem}.npy" if boxes == "ground_truth" else None
            jobs.append(
                (rel, src_video_root / rel, dst, box_src, tmp / "boxes" / f"{stem}.npy", spec)
            )
        results = _run(jobs, workers, progress)
        shutil.copytree(split_dir, tmp / "splits")
        skipped = {r["file"]: r["skipped"] for r in results if "skipped" in r}
        done = [r for r in results if "skipped" not in r]
        if files and not done:
            first = next(iter(skipped.items()))
            raise DataError(f"every video was skipped, e.g. {first[0]}: {first[1]}")
        # no local paths: meta.json is part of the dataset's fingerprint
        exclude = ("backend", "device", "weights")
        record = {
            **{k: v for k, v in asdict(spec).items() if k not in exclude},
            **(_weights_identity(spec.weights) if spec.weights else {}),
            "videos": {
                r["file"]: {k: r[k] for k in ("region", "frames", "with_box")} for r in done
            },
            "no_detection": sorted(r["file"] for r in done if r["with_box"] == 0),
            "skipped": skipped,
        }
        meta = {**src_meta, "actor_crop": record} if synth else {"actor_crop": record}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for rel, reason in skipped.items():
        print(f"actor crop: skipped {rel}: {reason}")
    if progress:
        extra = (
            f", {len(record['no_detection'])} without any box" if boxes != "ground_truth" else ""
        )
        print(
            f"actor crop ({boxes}): {len(done)} videos, {len(skipped)} skipped{extra}, "
            f"{time.perf_counter() - start:.1f} s → {out_dir}"
        )
    return out_dir


def _run(jobs: list[tuple], workers: int, progress: bool) -> list[dict]:
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="actor crop", disable=not progress, unit="video")
    results = []
    if workers <= 1:
        for job in jobs:
            results.append(_crop_one(job))
            bar.update()
    else:
        import multiprocessing as mp

        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        with mp.get_context(method).Pool(workers) as pool:
            for r in pool.imap_unordered(_crop_one, jobs, chunksize=2):
                results.append(r)
                bar.update()
    bar.close()
    return sorted(results, key=lambda r: r["file"])
