"""bepaper.video: every backend decodes the same frames; every failure is a VideoError."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from bepaper.errors import BepaperError, ConfigError, VideoError
from bepaper.video import (
    BACKENDS,
    FrameFolderReader,
    NativeLog,
    capture_native_stderr,
    open_video,
)

FILE_BACKENDS = ["decord", "pyav", "opencv"]
INDICES = [0, 7, 19, 7, 3]  # unsorted, with a repeat


@pytest.fixture(scope="module")
def videos(tmp_path_factory, write_video, tiny_frames) -> dict[str, Path]:
    """The tiny frames as MPEG-4 Part 2 in .avi, H.264 in .mp4, and a folder of PNGs."""
    root = tmp_path_factory.mktemp("videos")
    frames_dir = root / "frames"
    frames_dir.mkdir()
    for i, frame in enumerate(tiny_frames):
        cv2.imwrite(str(frames_dir / f"img_{i + 1:05d}.png"), frame[..., ::-1])
    return {
        "avi": write_video(root / "clip.avi", tiny_frames, codec="mpeg4"),
        "mp4": write_video(root / "clip.mp4", tiny_frames, codec="libx264"),
        "frames": frames_dir,
    }


@pytest.fixture(scope="module", params=["avi", "faststart-mp4"])
def truncated(request, tmp_path_factory, write_video, tiny_frames) -> Path:
    """A file cut short that still opens: an .avi cut to 80%, or an .mp4 with its index
    first (faststart) cut to 90%. Their headers promise more frames than they hold."""
    root = tmp_path_factory.mktemp("trunc")
    if request.param == "avi":
        full, keep = write_video(root / "full.avi", tiny_frames, codec="mpeg4"), 0.8
    else:
        options = {"movflags": "faststart"}
        full, keep = write_video(root / "full.mp4", tiny_frames, container_options=options), 0.9
    data = full.read_bytes()
    path = full.with_stem("cut")
    path.write_bytes(data[: int(len(data) * keep)])
    return path


@pytest.mark.parametrize("container", ["avi", "mp4"])
@pytest.mark.parametrize("backend", FILE_BACKENDS)
def test_backends_decode_the_right_frames(videos, tiny_frames, backend, container):
    reader = open_video(videos[container], backend)
    out = reader.get(INDICES)
    reader.close()
    assert out.shape == (len(INDICES), 48, 64, 3)
    assert out.dtype == np.uint8
    assert reader.num_frames == 20
    assert reader.fps == pytest.approx(10.0)
    assert np.abs(out.astype(int) - tiny_frames[INDICES]).mean() < 6  # codec + chroma loss
    # Each frame is closest to the source frame it claims to be (adjacent frames differ by ~18).
    for frame, index in zip(out, INDICES, strict=True):
        errors = np.abs(frame.astype(int) - tiny_frames.astype(int)).mean(axis=(1, 2, 3))
        assert errors.argmin() == index


@pytest.mark.parametrize("container", ["avi", "mp4"])
def test_backends_agree(videos, container):
    reference = open_video(videos[container], "decord").get(INDICES).astype(int)
    for backend in ["pyav", "opencv"]:
        out = open_video(videos[container], backend).get(INDICES)
        assert np.abs(out - reference).mean() < 3, backend


def test_frames_backend_reads_pngs_exactly(videos, tiny_frames):
    reader = open_video(videos["frames"], "frames")
    assert isinstance(reader, FrameFolderReader)
    assert reader.num_frames == 20
    np.testing.assert_array_equal(reader.get(INDICES), tiny_frames[INDICES])


def test_folder_is_read_as_frames_whatever_the_backend(videos, tiny_frames):
    reader = open_video(videos["frames"], "decord")
    assert isinstance(reader, FrameFolderReader)
    np.testing.assert_array_equal(reader.get([2]), tiny_frames[[2]])


def test_frames_backend_ignores_flow_frames_beside_rgb(tmp_path, tiny_frames):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"img_{i + 1:05d}.jpg"), tiny_frames[i, ..., ::-1])
        cv2.imwrite(str(tmp_path / f"flow_x_{i + 1:05d}.jpg"), tiny_frames[i, ..., 0])
    assert open_video(tmp_path).num_frames == 3


def test_opencv_reader_rewinds_for_earlier_frames(videos):
    reader = open_video(videos["mp4"], "opencv")
    late, early = reader.get([15]), reader.get([2])
    np.testing.assert_array_equal(early, open_video(videos["mp4"], "pyav").get([2]))
    assert np.abs(late.astype(int) - early).mean() > 10


def test_unknown_backend_is_a_config_error(tiny_video):
    with pytest.raises(ConfigError, match=r"unknown video backend 'ffmpeg'; choose from \["):
        open_video(tiny_video, "ffmpeg")


def test_registry_lists_every_backend():
    assert set(BACKENDS) == {"decord", "pyav", "opencv", "frames"}


@pytest.mark.parametrize(
    ("backend", "module", "package"),
    [("decord", "decord", "decord"), ("pyav", "av", "av"), ("opencv", "cv2", "opencv")],
)
def test_missing_library_says_how_to_install(monkeypatch, tiny_video, backend, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(BepaperError, match=f"pip install {package}"):
        open_video(tiny_video, backend)


def _bad_files(root: Path, valid: Path) -> dict[str, Path]:
    (root / "empty.avi").write_bytes(b"")
    (root / "garbage.avi").write_bytes(np.random.default_rng(0).bytes(4096))
    data = valid.read_bytes()
    (root / "half.mp4").write_bytes(data[: len(data) // 2])
    return {
        "missing": root / "missing.avi",
        "empty": root / "empty.avi",
        "garbage": root / "garbage.avi",
        "half": root / "half.mp4",
    }


@pytest.mark.parametrize("case", ["missing", "empty", "garbage", "half"])
@pytest.mark.parametrize("backend", FILE_BACKENDS)
def test_bad_files_raise_video_error_naming_the_path(tmp_path, tiny_video, backend, case):
    path = _bad_files(tmp_path, tiny_video)[case]
    with pytest.raises(VideoError, match="missing.avi|empty.avi|garbage.avi|half.mp4") as info:
        open_video(path, backend)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)


def test_bad_file_reasons_are_human(tmp_path, tiny_video):
    bad = _bad_files(tmp_path, tiny_video)
    with pytest.raises(VideoError, match="file not found"):
        open_video(bad["missing"])
    with pytest.raises(VideoError, match=r"empty file \(0 bytes\)"):
        open_video(bad["empty"])


# What each backend does with each truncated file: "honest" (it counts only the frames it
# holds, and every one decodes to the right frame), "fails on open", or "fails at the cut"
# (the count includes the cut packet; the frames decode to the right frames up to the first
# one the decoder cannot rebuild without the lost data, which raises: where that is depends
# on the encoder's frame order, and x264's output varies run to run).
TRUNCATED = {
    (".avi", "decord"): "honest",
    (".avi", "pyav"): "honest",
    (".avi", "opencv"): "honest",
    (".mp4", "decord"): "fails on open",
    (".mp4", "pyav"): "fails at the cut",
    (".mp4", "opencv"): "honest",
}


@pytest.mark.parametrize("backend", FILE_BACKENDS)
def test_truncated_file_is_honest_or_fails_on_decode(truncated, tiny_frames, backend):
    """A file cut short (20 frames promised) either reports the frames it holds, every one
    decoding to the right source frame, or raises a VideoError naming the path; which one is
    fixed per backend and container (TRUNCATED)."""
    expected = TRUNCATED[truncated.suffix, backend]
    if expected == "fails on open":
        with pytest.raises(VideoError) as info:
            open_video(truncated, backend)
        assert info.value.path == str(truncated)
        return
    reader = open_video(truncated, backend)
    n = reader.num_frames
    assert 0 < n < 20
    if expected == "fails at the cut":
        n = _first_undecodable(reader)
        assert n >= 3 * reader.num_frames // 4  # most of what the file holds still decodes
        if n < reader.num_frames:  # a frame that cannot be rebuilt raises, naming the file
            with pytest.raises(VideoError) as info:
                reader.get([n])
            assert info.value.path == str(truncated)
    frames = reader.get(range(n))
    assert frames.shape == (n, 48, 64, 3)
    for index, frame in enumerate(frames):
        errors = np.abs(frame.astype(int) - tiny_frames.astype(int)).mean(axis=(1, 2, 3))
        assert errors.argmin() == index


def _first_undecodable(reader) -> int:
    """The first frame index whose `get` raises VideoError (num_frames if none does)."""
    for k in range(reader.num_frames):
        try:
            reader.get([k])
        except VideoError:
            return k
    return reader.num_frames


def test_pyav_decodes_every_frame_before_the_cut(truncated):
    """Frames before the first that cannot be rebuilt all come back, the ones the decoder
    held back to reorder included (flushed); a request reaching past it raises."""
    reader = open_video(truncated, "pyav")
    k = _first_undecodable(reader)
    assert k >= 3 * reader.num_frames // 4
    assert reader.get(range(k)).shape == (k, 48, 64, 3)
    if k < reader.num_frames:
        with pytest.raises(VideoError):
            reader.get(range(k + 1))


def test_decord_decode_error_is_a_video_error(videos, monkeypatch):
    """decord can count frames that then fail to decode; that must not escape as DECORDError."""
    import decord

    reader = open_video(videos["mp4"], "decord")

    def fail(indices):
        raise decord.DECORDError("[10:00:00] src/video/video_reader.cc:42: Error sending packet")

    monkeypatch.setattr(reader._vr, "get_batch", fail)
    with pytest.raises(VideoError, match=r"cannot decode frames \[19\]") as info:
        reader.get([19])
    assert info.value.reason.endswith(": Error sending packet")  # decord's log prefix dropped


@pytest.mark.parametrize("index", [20, -1, 1000])
@pytest.mark.parametrize("backend", [*FILE_BACKENDS, "frames"])
def test_out_of_range_index_is_a_video_error(videos, backend, index):
    path = videos["frames"] if backend == "frames" else videos["mp4"]
    reader = open_video(path, backend)
    with pytest.raises(VideoError, match=f"frame index {index} out of range") as info:
        reader.get([0, index])
    assert str(path) in str(info.value)


def test_frames_backend_failures(tmp_path, tiny_video):
    with pytest.raises(VideoError, match="no .jpg or .png frames"):
        open_video(tmp_path)
    (tmp_path / "img_00001.jpg").write_bytes(b"not a jpeg")
    reader = open_video(tmp_path)
    with pytest.raises(VideoError, match="cannot decode frame file img_00001.jpg"):
        reader.get([0])
    with pytest.raises(VideoError, match="not a folder of frames"):
        open_video(tiny_video, "frames")


def test_file_without_video_stream(tmp_path):
    import av

    path = tmp_path / "audio.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 16000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(VideoError, match="no video stream"):
        open_video(path, "pyav")
    for backend in ["decord", "opencv"]:
        with pytest.raises(VideoError):
            open_video(path, backend)


class _FirstFrames:
    """A map-style dataset opening a reader per item, as bepaper.data.datasets does."""

    def __init__(self, path: Path, backends: list[str]):
        self.path, self.backends = path, backends

    def __len__(self) -> int:
        return len(self.backends)

    def __getitem__(self, i: int) -> np.ndarray:
        reader = open_video(self.path, self.backends[i])
        try:
            return reader.get([0, 19])
        finally:
            reader.close()


def test_readers_open_inside_dataloader_workers(videos):
    open_video(videos["mp4"], "decord").get([0])  # libraries already loaded in the parent
    dataset = _FirstFrames(videos["mp4"], FILE_BACKENDS * 2)
    # spawn: a forked worker hung on a lock inherited from the parent in two full-suite runs
    # (futex_do_wait); timeout: a stuck worker fails the test, not the run
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, num_workers=2, timeout=120, multiprocessing_context="spawn"
    )
    batches = [batch.numpy() for batch in loader]
    assert len(batches) == 6
    for batch in batches:
        assert batch.shape == (2, 48, 64, 3)
        assert np.abs(batch.astype(int) - batches[0]).mean() < 3


# ---------------------------------------------------------------- decoders' C-level messages


def _damaged_avi(path: Path, write_video) -> Path:
    """An MPEG-4 AVI whose frames 5-8 have garbled payloads: it opens and every frame
    decodes (FFmpeg conceals the errors), but the decoder prints `ac-tex damaged`."""
    rng = np.random.default_rng(0)
    t, y, x = np.meshgrid(np.arange(20), np.arange(96), np.arange(128), indexing="ij")
    wave = np.sin(2 * np.pi * (x + 3 * t) / 32) * np.cos(2 * np.pi * (y - 2 * t) / 24)
    frames = (127.5 + 100 * wave[..., None] + rng.normal(0, 10, (20, 96, 128, 3))).clip(0, 255)
    full = write_video(path.with_stem("undamaged"), frames.astype(np.uint8), codec="mpeg4")
    data = bytearray(full.read_bytes())
    chunks = [i for i in range(len(data) - 4) if data[i : i + 4] == b"00dc"]  # one per frame
    for k in (5, 6, 7, 8):
        size = int.from_bytes(data[chunks[k] + 4 : chunks[k] + 8], "little")
        for i in range(chunks[k] + 28, chunks[k] + 4 + size, 5):
            data[i] = rng.integers(256)
    path.write_bytes(bytes(data))
    return path


def _stderr_id() -> tuple[int, int]:
    st = os.fstat(2)
    return st.st_dev, st.st_ino


def test_capture_native_stderr_catches_fd_2_and_restores_it(capfd):
    before = _stderr_id()
    with capture_native_stderr() as log:
        os.write(2, b"[mpeg4 @ 0x55d0c2a1] ac-tex damaged at 3 2\n")
        assert _stderr_id() != before
    assert _stderr_id() == before
    assert log.text == "[mpeg4 @ 0x55d0c2a1] ac-tex damaged at 3 2\n"
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"  # nothing from inside the block leaked


def test_capture_native_stderr_lets_exceptions_through_and_restores(capfd):
    before = _stderr_id()
    with pytest.raises(KeyError, match="boom"):
        with capture_native_stderr() as log:
            os.write(2, b"said before failing\n")
            raise KeyError("boom")
    assert _stderr_id() == before
    assert log.text == "said before failing\n"
    with capture_native_stderr() as outer:  # nested: each block gets its own text
        os.write(2, b"outer\n")
        with capture_native_stderr() as inner:
            os.write(2, b"inner\n")
        os.write(2, b"outer again\n")
    assert (outer.text, inner.text) == ("outer\nouter again\n", "inner\n")
    assert capfd.readouterr().err == ""


def test_native_log_summary():
    text = (
        "[mpeg4 @ 0x55d0c2a1] ac-tex damaged at 3 2\n"
        "[mpeg4 @ 0x55d0c2a1] Error at MB: 21\n"
        "[mpeg4 @ 0x55d0c2a2] ac-tex damaged at 3 2\n"
        "[14:31:55] /github/workspace/src/video/video_reader.cc:83: ERROR opening: "
        "/data/UCF-101/A/v.avi, Invalid data found when processing input\n"
    )
    log = NativeLog(text)
    assert log.summary() == "[mpeg4] ac-tex damaged at 3 2 | [mpeg4] Error at MB: 21 (+1 more)"
    assert log.summary("/data/UCF-101/A/v.avi", lines=5).endswith(
        " | ERROR opening: v.avi, Invalid data found when processing input"
    )
    assert len(log.summary(lines=5, limit=60)) == 60
    assert log.summary(lines=5, limit=60).endswith("...")
    assert NativeLog("\n  \n").summary() == ""


def test_ffmpeg_complaints_about_a_damaged_file_are_captured(tmp_path, write_video, capfd):
    path = _damaged_avi(tmp_path / "damaged.avi", write_video)
    with capture_native_stderr() as log:
        reader = open_video(path, "decord")
        frames = reader.get(range(reader.num_frames))  # concealed: decodes all the same
    assert frames.shape == (20, 96, 128, 3)
    assert re.search(r"\[mpeg4 @ 0x[0-9a-f]+\] ac-tex damaged", log.text)
    assert log.summary(path).startswith("[mpeg4] ")
    with capture_native_stderr() as log:
        with pytest.raises(VideoError, match="decord cannot open it"):
            open_video(_bad_files(tmp_path, path)["garbage"], "decord")
    assert "ERROR opening" in log.text
    assert capfd.readouterr().err == ""
