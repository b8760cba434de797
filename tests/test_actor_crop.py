"""Actor-cropped datasets: ground-truth crops hold the actor, detector paths run end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import map_coordinates

from bepaper.config import DataConfig
from bepaper.data import actor_crop as ac
from bepaper.data import synthbias as sb
from bepaper.data.datasets import data_fingerprint, load_split
from bepaper.data.splits import read_ucf101
from bepaper.errors import CheckpointError, ConfigError, DataError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    return sb.generate(out, "tiny", analogues=("ucf101like",), workers=1, progress=False)[
        "ucf101like"
    ]


@pytest.fixture(scope="module")
def crops(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("crops") / "ucf101like_actor"
    return ac.build_actor_crops(tiny / "videos", tiny / "splits", out, progress=False)


@pytest.fixture()
def mini(tiny: Path, tmp_path: Path) -> Path:
    """A two-video dataset in UCF101 format (not a SynthBias folder: no meta.json)."""
    videos = [v["file"] for v in json.loads((tiny / "meta.json").read_text())["videos"]]
    a, b = videos[0], next(f for f in videos if f.split("/")[0] != videos[0].split("/")[0])
    root = tmp_path / "mini"
    for f in (a, b):
        (root / "videos" / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny / "videos" / f, root / "videos" / f)
    (root / "splits").mkdir()
    (root / "splits" / "classInd.txt").write_text(f"1 {a.split('/')[0]}\n2 {b.split('/')[0]}\n")
    (root / "splits" / "trainlist01.txt").write_text(f"{a} 1\n")
    (root / "splits" / "testlist01.txt").write_text(f"{b}\n")
    return root


def _read(path: Path) -> np.ndarray:
    import decord

    reader = decord.VideoReader(str(path))
    return reader.get_batch(list(range(len(reader)))).asnumpy().astype(np.float64)


def _resample(frames: np.ndarray, region: list[int], size: int) -> np.ndarray:
    """Bilinear resize of a square region (pixel centres aligned), written with scipy."""
    x0, y0, x1, _ = region
    c = (np.arange(size) + 0.5) * (x1 - x0) / size - 0.5
    Y, X = np.meshgrid(y0 + c, x0 + c, indexing="ij")
    return np.stack(
        [
            np.stack(
                [map_coordinates(f[..., k], [Y, X], order=1, mode="nearest") for k in range(3)], -1
            )
            for f in frames
        ]
    )


def _box_mask(boxes: np.ndarray, size: int) -> np.ndarray:
    m = np.zeros((len(boxes), size, size), bool)
    for t, (x0, y0, x1, y1) in enumerate(boxes):
        m[t, y0:y1, x0:x1] = True
    return m


def test_ground_truth_crop_holds_every_box(tiny: Path, crops: Path) -> None:
    S, T = sb.SIZES["tiny"]["ucf101like"].frame_size, sb.SIZES["tiny"]["ucf101like"].num_frames
    record = json.loads((crops / "meta.json").read_text())["actor_crop"]
    meta = json.loads((tiny / "meta.json").read_text())
    assert sorted(record["videos"]) == sorted(v["file"] for v in meta["videos"])
    assert record["skipped"] == {} and record["boxes"] == "ground_truth"
    for rel, rec in record["videos"].items():
        src = np.load(tiny / "boxes" / (rel[:-4] + ".npy")).astype(np.int64)
        x0, y0, x1, y1 = rec["region"]
        # the smallest square around the union of all frames' boxes, inside the frame
        ux0, uy0 = src[:, 0].min(), src[:, 1].min()
        ux1, uy1 = src[:, 2].max(), src[:, 3].max()
        assert 0 <= x0 <= ux0 and 0 <= y0 <= uy0 and ux1 <= x1 <= S and uy1 <= y1 <= S
        assert x1 - x0 == y1 - y0 == max(ux1 - ux0, uy1 - uy0)
        # the stored boxes, in the crop's coordinates, hold the scaled source boxes
        out = np.load(crops / "boxes" / (rel[:-4] + ".npy"))
        assert out.dtype == np.int16 and out.shape == (T, 4)
        scaled = (src - [x0, y0, x0, y0]) * S / (x1 - x0)
        assert (out[:, :2] <= scaled[:, :2]).all() and (out[:, 2:] >= scaled[:, 2:]).all()
        assert (np.abs(out - scaled) < 1).all()
        assert (out >= 0).all() and (out <= S).all() and (out[:, 2:] > out[:, :2]).all()


def test_crop_pixels_are_the_resized_source_region(tiny: Path, crops: Path) -> None:
    record = json.loads((crops / "meta.json").read_text())["actor_crop"]["videos"]
    for rel in sorted(record)[:: len(record) // 4]:
        src, out = _read(tiny / "videos" / rel), _read(crops / "videos" / rel)
        S = src.shape[1]
        assert out.shape == src.shape
        region = record[rel]["region"]
        actor = _box_mask(np.load(crops / "boxes" / (rel[:-4] + ".npy")), S)
        err = np.abs(out - _resample(src, region, S))[actor].mean()
        x0 = region[0] - 2 if region[0] >= 2 else region[0] + 2  # the region 2 px off
        off = [x0, region[1], x0 + region[2] - region[0], region[3]]
        wrong = np.abs(out - _resample(src, off, S))[actor].mean()
        assert err < 10, rel  # measured 5-8: re-encoding of an upsampled, saturated actor
        assert wrong > 3 * err, rel  # measured 25-48


def test_crop_folder_is_a_synthbias_dataset(tiny: Path, crops: Path) -> None:
    for name in ("classInd.txt", "trainlist01.txt", "testlist01.txt", "trainlist02.txt"):
        assert (crops / "splits" / name).read_bytes() == (tiny / "splits" / name).read_bytes()
    src_meta = json.loads((tiny / "meta.json").read_text())
    meta = json.loads((crops / "meta.json").read_text())
    assert {k: v for k, v in meta.items() if k != "actor_crop"} == src_meta
    for k in (1, 2):
        root, split = load_split(DataConfig(dataset="synthbias", root=str(crops)), k)
        assert root == crops / "videos"
        assert split == read_ucf101(tiny / "splits", k)
        assert all((root / item.path).is_file() for item in split.train + split.test)
    assert not list(crops.parent.glob(".*tmp-*"))
    with pytest.raises(ConfigError, match="would replace the source"):
        ac.build_actor_crops(tiny / "videos", tiny / "splits", tiny)


def test_unreadable_video_is_skipped_and_reported(mini: Path, tmp_path: Path, capsys) -> None:
    bad = sorted((mini / "videos").rglob("*.avi"))[0]
    bad.write_bytes(b"not a video")
    rel = str(bad.relative_to(mini / "videos"))
    out = ac.build_actor_crops(
        mini / "videos", mini / "splits", tmp_path / "out", boxes="hog", detect_every=6,
        progress=False,
    )  # fmt: skip
    record = json.loads((out / "meta.json").read_text())["actor_crop"]
    assert list(record["skipped"]) == [rel] and len(record["videos"]) == 1
    assert not (out / "videos" / rel).exists()
    assert f"skipped {rel}" in capsys.readouterr().out
    for video in (mini / "videos").rglob("*.avi"):
        video.write_bytes(b"")
    with pytest.raises(DataError, match="every video was skipped"):
        ac.build_actor_crops(mini / "videos", mini / "splits", tmp_path / "out", boxes="hog")
    assert (out / "meta.json").is_file()  # the earlier build is kept


def test_detector_fallbacks(mini: Path, tmp_path: Path, monkeypatch) -> None:
    """Frames without people take the union of the others; people of one frame merge."""

    class Stub:
        def __init__(self, spec) -> None:
            pass

        def __call__(self, frames: np.ndarray) -> list[np.ndarray]:
            out = []
            for t in range(len(frames)):  # called on every 2nd frame (detect_every=2)
                if t % 3 == 0:
                    out.append(np.array([[3.2 + t % 4, 5.0, 9.0, 12.5], [14.0, 15.0, 20.7, 22.0]]))
                else:
                    out.append(np.zeros((0, 4)))
            return out

    monkeypatch.setitem(ac.DETECTORS, "hog", Stub)
    monkeypatch.setattr(ac, "_LOADED", {})
    out = ac.build_actor_crops(
        mini / "videos", mini / "splits", tmp_path / "out", boxes="hog", detect_every=2,
        progress=False,
    )  # fmt: skip
    record = json.loads((out / "meta.json").read_text())["actor_crop"]
    T, S = 24, 32
    detected = {t: (3 + (t // 2) % 4, 5, 21, 22) for t in range(0, T, 2) if (t // 2) % 3 == 0}
    union = (3, 5, 21, 22)  # over the detected frames: x0 floors 3.2..6.2 to 3..6
    for rel, rec in record["videos"].items():
        assert rec["with_box"] == len(detected)
        x0, y0, x1, y1 = rec["region"]
        assert x1 - x0 == y1 - y0 == 18  # max(21 - 3, 22 - 5), square
        assert x0 <= union[0] and y0 <= union[1] and x1 >= union[2] and y1 >= union[3]
        boxes = np.load(out / "boxes" / (rel[:-4] + ".npy"))
        for t in range(T):
            b = np.array(detected.get(t, union)) - [x0, y0, x0, y0]
            expect = [*np.floor(b[:2] * S / 18), *np.ceil(b[2:] * S / 18)]
            assert boxes[t].tolist() == expect, t
    assert record["no_detection"] == []


def test_hog_runs_end_to_end(mini: Path, tmp_path: Path) -> None:
    out = ac.build_actor_crops(
        mini / "videos", mini / "splits", tmp_path / "out", boxes="hog", detect_every=6,
        progress=False,
    )  # fmt: skip
    record = json.loads((out / "meta.json").read_text())["actor_crop"]
    assert len(record["videos"]) == 2 and record["skipped"] == {}
    for rel, rec in record["videos"].items():
        frames = _read(out / "videos" / rel)
        assert frames.shape == (24, 32, 32, 3)
        boxes = np.load(out / "boxes" / (rel[:-4] + ".npy"))
        assert boxes.shape == (24, 4) and boxes.dtype == np.int16
        if rec["with_box"] == 0:  # no people on synthetic blobs: the whole frame, no boxes
            assert rel in record["no_detection"] and rec["region"] == [0, 0, 32, 32]
            assert (boxes == 0).all()
        else:  # a false positive: every frame has a box (its own or the union)
            assert (boxes[:, 2:] > boxes[:, :2]).all()
    for name in ("classInd.txt", "trainlist01.txt", "testlist01.txt"):
        assert (out / "splits" / name).read_bytes() == (mini / "splits" / name).read_bytes()


def test_the_actor_crops_of_a_real_dataset_are_other_data(mini: Path, tmp_path: Path) -> None:
    """The crops keep the source's split files byte for byte; their meta.json tells their
    runs apart from the source's (else a fine-tune on Actor-HMDB51 reuses HMDB51's run)."""

    def fingerprint(root: Path) -> str:
        return data_fingerprint(DataConfig(dataset="ucf101", root=str(root)))

    kw = dict(boxes="hog", detect_every=6, progress=False)
    out = ac.build_actor_crops(mini / "videos", mini / "splits", tmp_path / "out", **kw)
    wide = ac.build_actor_crops(mini / "videos", mini / "splits", tmp_path / "w", margin=0.5, **kw)
    assert len({fingerprint(mini), fingerprint(out), fingerprint(wide)}) == 3
    shutil.copytree(out, tmp_path / "copy")
    assert fingerprint(tmp_path / "copy") == fingerprint(out)  # not where it lies


def test_fasterrcnn_runs_with_local_weights(mini: Path, tmp_path: Path) -> None:
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    torch.manual_seed(0)
    model = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)
    # the released file holds FrozenBatchNorm2d buffers: no num_batches_tracked
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    state["roi_heads.box_predictor.cls_score.bias"][ac.COCO_PERSON] = 10.0  # people everywhere
    weights = tmp_path / "random.pth"
    torch.save(state, weights)
    out = ac.build_actor_crops(
        mini / "videos", mini / "splits", tmp_path / "out", boxes="fasterrcnn",
        weights=weights, detector_size=64, detect_every=24, progress=False,
    )  # fmt: skip
    record = json.loads((out / "meta.json").read_text())["actor_crop"]
    assert len(record["videos"]) == 2 and record["skipped"] == {}
    assert record["weights"] == "random.pth" and record["score_threshold"] == 0.5
    assert str(tmp_path) not in (out / "meta.json").read_text()  # no local paths
    for rel, rec in record["videos"].items():
        assert rec["with_box"] == 1  # frame 0 examined (CPU time), people found
        assert _read(out / "videos" / rel).shape == (24, 32, 32, 3)
        boxes = np.load(out / "boxes" / (rel[:-4] + ".npy"))
        assert boxes.shape == (24, 4) and ((boxes >= 0) & (boxes <= 32)).all()
        assert (boxes[:, 2:] > boxes[:, :2]).all()
        assert (boxes[1:] == boxes[0]).all()  # the frames not examined take frame 0's box


def test_missing_or_bad_weights(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(ConfigError) as err:
        ac.fasterrcnn_weights_path()
    message = str(err.value)
    url = "https://download.pytorch.org/models/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"
    assert url in message and "\n" not in message
    assert (
        str(tmp_path / "hub" / "checkpoints" / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth")
        in message
    )
    cached = tmp_path / "hub" / "checkpoints" / "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert ac.fasterrcnn_weights_path() == cached  # found in torchvision's cache
    with pytest.raises(ConfigError, match="nowhere.pth"):
        ac.fasterrcnn_weights_path(tmp_path / "nowhere.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="junk.pth"):
        ac.load_fasterrcnn(junk, 0.5)
    torch.save({"layer.weight": torch.zeros(1)}, junk)
    with pytest.raises(CheckpointError, match="not a fasterrcnn_resnet50_fpn state dict"):
        ac.load_fasterrcnn(junk, 0.5)


def test_region_geometry() -> None:
    # square frame: centred square around the union, shifted inside the frame
    assert ac.crop_region((10, 4, 14, 20), 32, 32) == (4, 4, 20, 20)
    assert ac.crop_region((0, 10, 2, 20), 32, 32) == (0, 10, 10, 20)
    assert ac.crop_region(None, 32, 24) == (0, 0, 32, 24)
    # margin: 25% of the width (height) on each side, clipped to the frame
    assert ac.crop_region((8, 8, 16, 12), 32, 32, margin=0.25, square=False) == (6, 7, 18, 13)
    # a 320 x 240 frame whose union is wider than the frame is tall: as square as it can
    assert ac.crop_region((10, 100, 300, 140), 320, 240) == (10, 0, 300, 240)
    assert ac.output_size((10, 0, 300, 240), 112, square=False) == (136, 112)
    # the default side: the short side, even, off the sides decord cannot batch-read
    assert [ac.default_side(s) for s in (240, 241, 48, 49, 24, 10)] == [240, 240, 50, 50, 26, 18]
    boxes = np.array([[0, 0, 0, 0], [2, 3, 5, 9], [1, 1, 4, 4]])
    assert ac.union_box(boxes) == (1, 1, 5, 9)
    filled, found = ac.fill_missing(boxes)
    assert found == 2 and filled[0].tolist() == [1, 1, 5, 9]
    mapped = ac.map_boxes(boxes, (1, 1, 9, 9), 32, 32)
    assert mapped.tolist() == [[0, 0, 0, 0], [4, 8, 16, 32], [0, 0, 12, 12]]
    with pytest.raises(ConfigError, match="unknown box source 'yolo'"):
        ac.build_actor_crops(".", ".", "x", boxes="yolo")
    with pytest.raises(ConfigError, match="decord"):
        ac.build_actor_crops(".", ".", "x", size=48)
