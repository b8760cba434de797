"""bepaper.data.memory: the in-memory video bank equals the datasets' decoding exactly."""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from bepaper.config import DataConfig
from bepaper.data.datasets import LabeledClips, PretrainClips, _square, collate
from bepaper.data.memory import VideoBank
from bepaper.data.sampling import ClipAndHardNegative, clip_indices, max_start, uniform_starts
from bepaper.data.splits import VideoItem, read_ucf101
from bepaper.data.synthbias import dataset_paths, generate
from bepaper.errors import ConfigError, VideoError
from bepaper.video import open_video


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """SynthBias tiny ucf101like (32 x 32 px, 24 frames), plus a garbage .avi and an empty
    one listed beside the real videos. Returns (video_root, good items, bad items)."""
    out = tmp_path_factory.mktemp("synth")
    folder = generate(out, size="tiny", analogues=("ucf101like",), workers=1, progress=False)
    video_root, split_dir = dataset_paths(folder["ucf101like"])
    split = read_ucf101(split_dir, 1)
    cls = split.classes[0]
    (video_root / cls / "garbage.avi").write_bytes(b"RIFF" + bytes(range(256)) * 8)
    (video_root / cls / "empty.avi").write_bytes(b"")
    bad = [VideoItem(f"{cls}/garbage.avi", 0), VideoItem(f"{cls}/empty.avi", 0)]
    return video_root, split.train + split.test, bad


@pytest.fixture(scope="module")
def bank(synth):
    video_root, good, _ = synth
    return VideoBank.build(video_root, good, load_size=40, progress=False)


def _cfg(root, size: int, frames: int = 8, stride: int = 4) -> DataConfig:
    return DataConfig(root=str(root), num_frames=frames, stride=stride, load_size=size)


def test_frames_equal_decoding_and_resizing_by_the_datasets(synth, bank):
    """Bank frames = decord frames of the same indices through `datasets._square`, bit for bit
    (frame side 32 enlarged to 40), at random indices with repeats and out of order."""
    video_root, good, _ = synth
    rng = np.random.default_rng(0)
    assert len(bank) == len({item.path for item in good})
    for item in good:
        disk = open_video(video_root / item.path, "decord")
        mem = bank.open(video_root / item.path)
        assert mem.num_frames == disk.num_frames == 24
        idx = rng.integers(0, 24, 12).tolist()
        expected = _square(disk.get(idx), 40)
        got = mem.get(idx)
        assert got.shape == (12, 40, 40, 3) and got.dtype == np.uint8
        np.testing.assert_array_equal(got, expected)


def test_downscaled_bank_equals_test_clips_of_the_dataset(synth):
    """10-clip test samples of `LabeledClips` at 24 px = `bank.clips` at uniform starts."""
    video_root, good, _ = synth
    bank = VideoBank.build(video_root, good, load_size=24, progress=False)
    cfg = _cfg(video_root, 24, frames=4, stride=2)
    data = LabeledClips(video_root, good, cfg, train=False, num_clips=3)
    for i in range(0, len(good), 3):
        sample = data[i]
        row = bank.ids([good[i].path])
        n = int(bank.lengths[row])
        starts = torch.as_tensor(uniform_starts(n, 4, 2, 3))[None]
        got = bank.clips(row, starts, num_frames=4, stride=2)[0]
        np.testing.assert_array_equal(got.numpy(), sample["clip"])


def test_the_datasets_read_the_bank_unchanged(synth, bank):
    """`PretrainClips(opener=bank.open)` gives the same samples as from disk, through a
    DataLoader with a worker process."""
    video_root, good, _ = synth
    cfg = _cfg(video_root, 40)
    sampler = ClipAndHardNegative(gap=2)
    disk = PretrainClips(video_root, good, cfg, seed=3, sampler=sampler)
    mem = PretrainClips(video_root, good, cfg, seed=3, sampler=sampler, opener=bank.open)
    expected = collate([disk[i] for i in range(len(good))])
    loader = DataLoader(mem, batch_size=len(good), num_workers=1, collate_fn=collate)
    (got,) = list(loader)
    assert got["clips"].shape == (len(good), 2, 8, 40, 40, 3)
    for key in ("clips", "index"):
        assert torch.equal(expected[key], got[key]), key


def test_clips_gather_equals_a_loop_over_clip_indices(bank):
    """Random videos and starts (some past the video's end), clips spanning more frames than
    the 24-frame videos hold: the vectorised gather equals the per-sample rule."""
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, len(bank), (7,), generator=gen)
    starts = torch.randint(0, 40, (7, 3), generator=gen)
    T, stride = 8, 4  # spans 29 frames > 24: wraps
    got = bank.clips(ids, starts, T, stride)
    assert got.shape == (7, 3, T, 40, 40, 3) and got.dtype == torch.uint8
    for b in range(7):
        reader = bank.open(bank.paths[ids[b]])
        for n in range(3):
            idx = clip_indices(int(starts[b, n]), T, stride, reader.num_frames)
            np.testing.assert_array_equal(got[b, n].numpy(), reader.get(idx.tolist()))


def test_short_videos_wrap_like_the_sampler():
    """A hand-made bank of 1-, 3- and 5-frame videos whose frame k of video v holds 10v + k."""
    lengths = torch.tensor([1, 3, 5])
    offsets = torch.tensor([0, 1, 4])
    value = torch.tensor([0, 10, 11, 12, 20, 21, 22, 23, 24], dtype=torch.uint8)
    frames = value[:, None, None, None].expand(9, 2, 2, 3).contiguous()
    bank = VideoBank(frames, offsets, lengths, ["a", "b", "c"], [25.0] * 3, 2, "decord", "/")
    ids, starts = torch.tensor([0, 1, 2, 2]), torch.tensor([[0], [2], [4], [7]])
    got = bank.clips(ids, starts, num_frames=4, stride=2)[:, 0, :, 0, 0, 0]
    expected = [
        [10 * int(v) + k for k in clip_indices(int(s), 4, 2, int(lengths[v]))]
        for v, s in zip(ids, starts[:, 0], strict=True)
    ]
    assert got.tolist() == expected
    assert expected[2] == [24, 21, 23, 20]  # (4 + 2t) mod 5


def test_bad_ids_and_shapes_are_refused(bank):
    with pytest.raises(ValueError, match="video ids must be in"):
        bank.clips(torch.tensor([-1]), torch.zeros(1, 1), 2, 1)
    with pytest.raises(ValueError, match=r"expected video_ids \(B,\) and starts \(B, N\)"):
        bank.clips(torch.tensor([0]), torch.zeros(1), 2, 1)


@pytest.mark.parametrize("workers", [0, 2])
def test_unreadable_videos_are_skipped_and_reported(synth, workers):
    video_root, good, bad = synth
    seen: list[tuple[str, str]] = []
    bank = VideoBank.build(
        video_root,
        bad[:1] + good[:3] + bad[1:],
        load_size=16,
        workers=workers,
        parallel="process",
        on_skip=lambda path, reason: seen.append((path, reason)),
        progress=False,
    )
    assert len(bank) == 3 and bank.paths == [item.path for item in good[:3]]
    assert [path for path, _ in seen] == [item.path for item in bad] == [p for p, _ in bank.skipped]
    reasons = dict(seen)
    assert reasons[bad[1].path] == "empty file (0 bytes)"
    assert reasons[bad[0].path].startswith("decord cannot open it")
    assert "decoder said: ERROR opening: garbage.avi" in reasons[bad[0].path]  # C-level log
    with pytest.raises(VideoError, match="garbage.avi: decord cannot open it"):
        bank.open(video_root / bad[0].path)
    with pytest.raises(VideoError, match="not in the in-memory video bank"):
        bank.open("elsewhere/x.avi")
    assert bank.ids([bad[0].path, good[1].path]).tolist() == [-1, 1]


def test_size_limit_refuses_before_decoding(synth, monkeypatch):
    video_root, good, _ = synth
    videos = len({item.path for item in good})
    need = videos * 24 * 40 * 40 * 3  # every video has 24 frames
    monkeypatch.setattr("bepaper.data.memory._decode", None)  # decoding would fail
    message = (
        f"the video bank would take {need / 2**20:.1f} MiB ({videos} videos, {videos * 24} "
        f"frames of 40x40), over the limit of 1.0 MiB"
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        VideoBank.build(video_root, good, load_size=40, max_bytes=2**20, progress=False)


@pytest.mark.parametrize("parallel", ["thread", "process"])
def test_parallel_builds_equal_the_serial_one(synth, bank, parallel):
    video_root, good, _ = synth
    other = VideoBank.build(
        video_root, good, load_size=40, workers=2, parallel=parallel, progress=False
    )
    assert other.paths == bank.paths
    assert torch.equal(other.frames, bank.frames) and torch.equal(other.lengths, bank.lengths)


def test_disk_cache_is_used_only_when_fresh(synth, tmp_path, monkeypatch):
    video_root, good, _ = synth
    items = good[:4]
    cache = tmp_path / "bank.pt"
    built = VideoBank.build(video_root, items, load_size=16, cache=cache, progress=False)
    assert cache.is_file()
    monkeypatch.setattr("bepaper.data.memory._decode", None)  # a rebuild would fail
    loaded = VideoBank.build(video_root, items, load_size=16, cache=cache, progress=False)
    assert loaded.paths == built.paths and torch.equal(loaded.frames, built.frames)
    assert loaded.open(items[0].path).num_frames == 24
    monkeypatch.undo()

    assert VideoBank.load(cache, VideoBank.cache_key(video_root, items, 20, "decord")) is None
    assert VideoBank.load(cache, VideoBank.cache_key(video_root, items, 16, "pyav")) is None
    assert VideoBank.load(cache, VideoBank.cache_key(video_root, good[:3], 16, "decord")) is None
    copy = tmp_path / "videos"
    shutil.copytree(video_root, copy)
    changed = copy / items[0].path
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    key = VideoBank.cache_key(copy, items, 16, "decord")
    assert key != built.key and VideoBank.load(cache, key) is None  # a video changed: stale
    cache.write_bytes(b"not a torch file")
    assert VideoBank.load(cache, built.key) is None


def test_random_starts_cover_every_start_the_sampler_allows(bank):
    gen = torch.Generator().manual_seed(0)
    ids = torch.zeros(2000, dtype=torch.int64)
    starts = bank.random_starts(ids, num_frames=4, stride=2, generator=gen)
    assert set(starts.tolist()) == set(range(max_start(24, 4, 2) + 1))  # 0..17
    assert set(bank.random_starts(ids[:50], 8, 4, generator=gen).tolist()) == {0}  # short


def test_placement_on_cpu(bank, monkeypatch):
    """On a CPU device the bank stays as it is, in host memory, without asking CUDA
    anything; and where CUDA is missing there is nothing to pin for. Both hold on a machine
    with a GPU too: CUDA is switched off here, not skipped."""

    def no_cuda(*args, **kwargs):
        raise AssertionError("asked CUDA for a CPU placement")

    monkeypatch.setattr(torch.cuda, "mem_get_info", no_cuda)
    assert bank.place("cpu") is bank and bank.to("cpu") is bank
    assert bank.place(torch.device("cpu"), fraction=0.0) is bank
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bank.pin_memory() is bank


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bank_on_the_gpu_gathers_the_same_clips(bank):
    gpu = bank.place("cuda")  # a few MiB: fits
    assert gpu.device.type == "cuda"
    ids, starts = torch.tensor([0, 3, 5]), torch.tensor([[0, 7], [20, 3], [1, 2]])
    assert torch.equal(gpu.clips(ids, starts, 8, 4).cpu(), bank.clips(ids, starts, 8, 4))
    pinned = bank.pin_memory()
    assert pinned.frames.is_pinned() and torch.equal(pinned.frames, bank.frames)
    out = pinned.clips(ids, starts, 8, 4)
    assert out.is_pinned() and torch.equal(out, bank.clips(ids, starts, 8, 4))
    assert gpu.place("cuda", fraction=0.0).frames.is_pinned()  # no room: pinned host memory


def test_shared_bank_grows_and_decodes_each_video_once(synth, monkeypatch):
    import bepaper.data.memory as memory

    video_root, good, bad = synth
    memory.clear_shared_banks()
    decoded: list[str] = []
    real = memory._decode

    def counting(job, capture=True):
        decoded.append(job[1])
        return real(job, capture)

    monkeypatch.setattr(memory, "_decode", counting)
    data = _cfg(video_root, 16)
    skips: list[str] = []
    shared = memory.shared_bank(video_root, data, lambda p, r: skips.append(p), progress=False)
    first = shared.opener(good[:4] + bad)
    assert first(good[0].path).num_frames == 24
    assert skips == [item.path for item in bad]
    again = memory.shared_bank(video_root, data, progress=False)  # another run, same process
    opener = again.opener(good + bad)
    assert sorted(decoded) == sorted({item.path for item in good})  # each good video once
    whole = VideoBank.build(video_root, good, load_size=16, progress=False)
    for item in good:
        np.testing.assert_array_equal(
            opener(item.path).get(range(24)), whole.open(item.path).get(range(24))
        )
    with pytest.raises(VideoError, match="empty file"):
        opener(bad[1].path)
    assert len(memory.shared_bank(video_root, _cfg(video_root, 24), progress=False).bank([])) == 0
    memory.clear_shared_banks()


def test_spawned_loader_workers_read_the_bank(synth, bank):
    """Under the spawn start method the bank is pickled into each worker (no numpy copy)."""
    import pickle

    video_root, good, _ = synth
    bank = VideoBank.build(video_root, good[:4], load_size=40, progress=False)  # its own
    copy = pickle.loads(pickle.dumps(bank))
    assert copy.paths == bank.paths and torch.equal(copy.frames, bank.frames)
    cfg = _cfg(video_root, 40)
    ds = LabeledClips(video_root, good[:4], cfg, train=False, num_clips=2, opener=bank.open)
    reader = bank.open(good[0].path)  # opened before torch moves the frames to shared memory
    before = reader.get([0, 5])
    expected = collate([ds[i] for i in range(4)])
    loader = DataLoader(
        ds, batch_size=4, num_workers=1, collate_fn=collate, multiprocessing_context="spawn"
    )
    (got,) = list(loader)
    assert torch.equal(got["clip"], expected["clip"])
    # the parent still reads valid frames (a numpy view kept across the move would crash)
    np.testing.assert_array_equal(reader.get([0, 5]), before)
    assert torch.equal(collate([ds[i] for i in range(4)])["clip"], expected["clip"])
