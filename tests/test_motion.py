"""Motion metrics for Figure 3: temporal gradients and Farnebäck flow of a clip and of its
distracting version, on real encoded video (SynthBias `tiny`, and a translating texture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from bepaper.analysis.motion import motion_ratio, optical_flow, temporal_gradient
from bepaper.be import distract
from bepaper.video import open_video


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[torch.Tensor]:
    """The first video of each class of tiny SynthBias: 16 frames, 3 x 16 x 32 x 32 in [0, 1]."""
    from bepaper.data.synthbias import generate

    out = tmp_path_factory.mktemp("synthbias")
    root = generate(out, size="tiny", analogues=("ucf101like",), workers=1, progress=False)[
        "ucf101like"
    ]
    result = []
    for folder in sorted((root / "videos").iterdir()):
        reader = open_video(sorted(folder.glob("*.avi"))[0])
        result.append(torch.from_numpy(reader.get(range(16))).permute(3, 0, 1, 2).float() / 255)
        reader.close()
    return result


def test_temporal_gradient_is_the_frame_difference():
    x = torch.rand(2, 3, 5, 4, 6)
    d = temporal_gradient(x)
    assert d.shape == (2, 3, 4, 4, 6)
    for t in range(4):
        assert torch.equal(d[:, :, t], x[:, :, t + 1] - x[:, :, t])


def test_optical_flow_recovers_a_known_translation(tmp_path: Path, write_video):
    """A smooth random texture moved by (dx, dy) = (2, 1) px per frame, encoded as H.264."""
    rng = np.random.default_rng(0)
    texture = ndimage.gaussian_filter(rng.random((96, 96, 3)), (2, 2, 0))
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    frames = np.stack([np.roll(texture, (t, 2 * t), axis=(0, 1))[16:64, 16:80] for t in range(6)])
    frames = (frames * 255).round().astype(np.uint8)  # 6 x 48 x 64 x 3
    reader = open_video(write_video(tmp_path / "shift.mp4", frames))
    decoded = reader.get(range(6))
    reader.close()
    flow = optical_flow(decoded)
    assert flow.shape == (5, 48, 64, 2) and flow.dtype == np.float32
    inner = flow[:, 8:-8, 8:-8].reshape(-1, 2)
    np.testing.assert_allclose(np.median(inner, axis=0), [2.0, 1.0], atol=0.1)
    # float input in [0, 1] is the same frames
    np.testing.assert_allclose(optical_flow(decoded / 255.0), flow, atol=1e-6)


@pytest.mark.parametrize("lam", [0.1, 0.3])
def test_distracting_clip_keeps_the_motion_of_real_video(clips, lam):
    """Eq. 2 exactly for the temporal gradient; the flow is kept within a stated tolerance.

    Measured on these 4 clips (BE with the clip's first frame, float32, before uint8 rounding):
      grad_median and grad_slope: 1 - λ to < 1e-7;
      λ = 0.1: flow_slope 0.92–0.96, flow_median 0.92–0.97, end-point error 0.03–0.06 px
               (mean flow 0.37–1.00 px);
      λ = 0.3: flow_slope 0.71–0.83, flow_median 0.72–0.81, end-point error 0.11–0.26 px.
    Farnebäck's estimate shrinks toward (1 - λ)·flow where the added frame has texture of its
    own (the moving camera makes the whole scene move under it), and stays at the flow where
    the added frame is flat: we assert 1 - λ - 0.05 ≤ ratio ≤ 1.05.
    """
    for x in clips:
        y = distract(x[None], lam=lam, frame=0)[0]
        m = motion_ratio(x, y, lam)
        assert m["expected"] == pytest.approx(1 - lam)
        assert abs(m["grad_median"] - (1 - lam)) < 1e-5
        assert abs(m["grad_slope"] - (1 - lam)) < 1e-5
        for key in ("flow_slope", "flow_median"):
            assert 1 - lam - 0.05 <= m[key] <= 1.05, (key, m)
        if lam == 0.1:
            assert m["flow_epe"] < 0.15 and m["flow_mean"] > 0.2


def test_motion_ratio_tells_another_videos_motion_apart(clips):
    """Control: against a clip of another video the slopes are near 0 (measured: gradient
    0.0006, flow -0.15). The magnitude ratio alone is not enough (flow_median 0.93 here)."""
    m = motion_ratio(clips[0], clips[2], 0.0)
    assert abs(m["grad_slope"]) < 0.5 and abs(m["flow_slope"]) < 0.5, m


def test_motion_ratio_rejects_mismatched_clips():
    with pytest.raises(ValueError, match="C, T, H, W"):
        motion_ratio(torch.rand(3, 4, 8, 8), torch.rand(3, 5, 8, 8), 0.1)
