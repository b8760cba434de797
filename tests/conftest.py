"""Shared fixtures: tiny real encoded videos, and the files of ../shared beside the
repository (the official split files, the paper's text)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SPLITS_DIR = SHARED / "splits"
PAPER_DIR = SHARED / "paper"


def in_ci() -> bool:
    """Whether the tests run in CI (`CI=true`, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_shared(path: Path, what: str) -> Path:
    """`path` (under ../shared) when it exists. Otherwise the test skips, or, in CI, fails:
    there a skip would let a run pass without the tests that need the shared files. Every
    test that needs ../shared gets it through this."""
    if path.exists():
        return path
    message = f"{what} not found at {path}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: put ../shared beside the checkout)", pytrace=False)
    pytest.skip(message)


def _write_video(
    path: Path,
    frames: np.ndarray,
    codec: str = "libx264",
    fps: int = 10,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode T x H x W x 3 uint8 RGB frames at high quality (so decoders agree closely).

    `container_options` go to FFmpeg's muxer, e.g. {"movflags": "faststart"} for an .mp4.
    """
    import av

    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "12"}
        else:
            stream.bit_rate = 4_000_000
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="session")
def write_video() -> Callable[..., Path]:
    """`write_video(path, frames, codec="libx264", fps=10, container_options=None) -> path`."""
    return _write_video


@pytest.fixture(scope="session")
def tiny_frames() -> np.ndarray:
    """20 x 48 x 64 x 3 uint8 RGB: smooth gradients moving by a few pixels per frame."""
    t, y, x = np.meshgrid(np.arange(20), np.arange(48), np.arange(64), indexing="ij")
    channels = [
        np.sin(2 * np.pi * (x + 3 * t) / 64),
        np.sin(2 * np.pi * (y + 2 * t) / 48),
        np.cos(2 * np.pi * (x + y - 4 * t) / 80),
    ]
    return np.stack([127.5 + 100 * c for c in channels], axis=-1).round().astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory: pytest.TempPathFactory, tiny_frames: np.ndarray) -> Path:
    """`tiny_frames` encoded as H.264 in an .mp4 (10 fps)."""
    return _write_video(tmp_path_factory.mktemp("video") / "tiny.mp4", tiny_frames)


@pytest.fixture(scope="session")
def splits_dir() -> Path:
    """The official split files in ../shared/splits beside the repository."""
    return require_shared(SPLITS_DIR, "official split files")


@pytest.fixture(scope="session")
def paper_dir() -> Path:
    """The paper's text (OCR) in ../shared/paper beside the repository."""
    return require_shared(PAPER_DIR, "the paper's text")
