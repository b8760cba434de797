"""CAM and the adversarial inputs of Figure 7, on backbones whose activation is known:
one that sees the red channel's brightness, one that sees only frame differences."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from bepaper.analysis import cam as cm
from bepaper.errors import ConfigError


def brightness_backbone() -> nn.Module:
    """Activation = the red channel, average-pooled 2 x 4 x 4: B x 1 x T/2 x H/4 x W/4."""
    conv = nn.Conv3d(3, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0] = 1.0
    return nn.Sequential(conv, nn.AvgPool3d((2, 4, 4)))


def motion_backbone() -> nn.Module:
    """Two channels relu(x_{t+1} - x_t) and relu(x_t - x_{t+1}) (summed over colour), so the
    channel mean is |frame difference| / 2, pooled 1 x 4 x 4. Blind to anything static."""
    conv = nn.Conv3d(3, 2, (2, 1, 1), bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, :, 0], conv.weight[0, :, 1] = -1.0, 1.0
        conv.weight[1] = -conv.weight[0]
    return nn.Sequential(conv, nn.ReLU(), nn.AvgPool3d((1, 4, 4)))


def blob_clips(b: int = 2, t: int = 8, s: int = 32, side: int = 6, seed: int = 0):
    """Dim textured clips with a bright red square moving 2 px per frame; its boxes."""
    g = torch.Generator().manual_seed(seed)
    x = 0.2 * torch.rand(b, 3, t, s, s, generator=g)
    boxes = torch.zeros(b, t, 4, dtype=torch.long)
    for i in range(b):
        y0 = 4 + 12 * i
        for j in range(t):
            x0 = 2 + 2 * j
            x[i, 0, j, y0 : y0 + side, x0 : x0 + side] = 1.0
            boxes[i, j] = torch.tensor([x0, y0, x0 + side, y0 + side])
    return x, boxes


def test_cam_peaks_on_the_bright_moving_blob():
    x, boxes = blob_clips()
    m = cm.cam(brightness_backbone(), x)
    assert m.shape == (2, 8, 32, 32)
    assert m.amin(dim=(1, 2, 3)).tolist() == pytest.approx([0, 0])
    assert m.amax(dim=(1, 2, 3)).tolist() == pytest.approx([1, 1])
    for i in range(2):
        for j in range(8):
            y, xx = divmod(int(m[i, j].argmax()), 32)
            x0, y0, x1, y1 = boxes[i, j].tolist()
            assert x0 - 4 <= xx < x1 + 4 and y0 - 4 <= y < y1 + 4  # within one pooling cell
    share = cm.mass_in_boxes(m, boxes)
    assert (share.mass > 3 * share.chance).all()
    assert share.chance == pytest.approx([36 / 1024] * 2)


def test_cam_raw_is_the_channel_mean_at_feature_resolution():
    x, _ = blob_clips()
    net = motion_backbone()
    raw = cm.cam_raw(net, x)
    with torch.no_grad():
        ref = net(x).mean(dim=1)
    assert raw.shape == (2, 7, 8, 8)
    torch.testing.assert_close(raw, ref)
    up = cm.cam(net, x, norm="none")
    assert up.shape == (2, 8, 32, 32)
    torch.testing.assert_close(cm.upsample(raw, raw.shape[1:]), raw)  # same size: unchanged
    with pytest.raises(ConfigError, match="unknown CAM norm 'max'"):
        cm.cam(net, x, norm="max")


def test_cam_runs_in_eval_mode_and_restores_the_flag():
    net = nn.Sequential(nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4), nn.ReLU())
    net.train()
    before = net[1].running_mean.clone()
    cm.cam(net, torch.rand(2, 3, 4, 8, 8))
    assert net.training
    torch.testing.assert_close(net[1].running_mean, before)  # no batch statistics updated


def test_only_a_shared_scale_shows_a_static_video_is_weak():
    """Figure 7 i: per-clip min-max stretches any map to [0, 1]; raw or batch-normalised
    maps keep the static video's low response."""
    x, _ = blob_clips(b=1)
    still = cm.static_video(x)
    pair = torch.cat([x, still])
    motion = motion_backbone()
    raw = cm.cam_raw(motion, pair)
    assert raw[0].mean() > 0.05 and raw[1].abs().max() < 1e-6  # zero up to rounding
    shared = cm.cam(motion, pair, norm="batch")
    assert shared[0].max() == pytest.approx(1) and shared[1].max() < 1e-5
    # a model that sees appearance: the static video's per-clip map still reaches 1
    assert cm.cam(brightness_backbone(), still).max() == pytest.approx(1)


def test_mass_in_boxes_against_brute_force():
    rng = np.random.default_rng(0)
    b, t, h, w = 3, 4, 9, 11
    m = rng.random((b, t, h, w))
    boxes = rng.integers(0, 8, (b, t, 4))
    boxes[..., 2:] = boxes[..., :2] + rng.integers(1, 6, (b, t, 2))
    boxes[0, 1] = (3, 3, 3, 7)  # empty: left out
    boxes[1, 2] = (-4, 5, 30, 40)  # beyond the frame: clipped
    boxes[2] = 0  # no actor at all: NaN
    out = cm.mass_in_boxes(torch.from_numpy(m), torch.from_numpy(boxes))
    for i in range(b):
        shares, areas = [], []
        for j in range(t):
            x0, y0, x1, y1 = boxes[i, j]
            cells = [(y, x) for y in range(h) for x in range(w) if x0 <= x < x1 and y0 <= y < y1]
            if not cells:
                continue
            shares.append(sum(m[i, j, y, x] for y, x in cells) / m[i, j].sum())
            areas.append(len(cells) / (h * w))
        if shares:
            assert out.mass[i] == pytest.approx(np.mean(shares))
            assert out.chance[i] == pytest.approx(np.mean(areas))
        else:
            assert np.isnan(out.mass[i]) and np.isnan(out.chance[i])
    uniform = cm.mass_in_boxes(np.ones((b, t, h, w)), boxes)
    np.testing.assert_allclose(uniform.mass, uniform.chance)  # chance is a uniform map's share
    with pytest.raises(ValueError, match="non-negative"):
        cm.mass_in_boxes(m - 0.5, boxes)


def test_static_video_has_zero_temporal_difference():
    x = torch.rand(2, 3, 6, 5, 5)
    s = cm.static_video(x, frame=4)
    assert s.shape == x.shape
    assert s.diff(dim=2).abs().max() == 0
    torch.testing.assert_close(s[:, :, 0], x[:, :, 4])
    torch.testing.assert_close(cm.static_video(x)[:, :, 5], x[:, :, 3])  # default: middle


def test_paste_static_actor_copies_the_donor_box_into_every_frame():
    x, _ = blob_clips(b=2, seed=1)
    donor, donor_boxes = blob_clips(b=2, seed=2)
    out, box = cm.paste_static_actor(x, donor, donor_boxes.numpy(), frame=3)
    for i in range(2):
        x0, y0, x1, y1 = donor_boxes[i, 3].tolist()
        assert box[i].tolist() == [x0, y0, x1, y1]
        for j in range(x.shape[2]):
            torch.testing.assert_close(out[i, :, j, y0:y1, x0:x1], donor[i, :, 3, y0:y1, x0:x1])
        rest = torch.ones(32, 32, dtype=torch.bool)
        rest[y0:y1, x0:x1] = False
        torch.testing.assert_close(out[i][..., rest], x[i][..., rest])  # nothing else changed
    # a new place, partly outside the frame: the patch is cut
    out, box = cm.paste_static_actor(x, donor, donor_boxes, frame=0, at=(29, 10))
    assert box[0].tolist() == [29, 10, 32, 16]
    torch.testing.assert_close(out[0, :, 5, 10:16, 29:32], donor[0, :, 0, 4:10, 2:5])
    empty = torch.zeros_like(donor_boxes)
    with pytest.raises(ValueError, match="no actor box in frame 0"):
        cm.paste_static_actor(x, donor, empty, frame=0)


def test_add_static_noise_follows_eq1_and_eq2():
    x, other = torch.rand(2, 3, 6, 8, 8), torch.rand(2, 3, 10, 8, 8)
    lam = 0.3
    out = cm.add_static_noise(x, other, lam=lam, frame=7)
    for j in range(6):
        torch.testing.assert_close(out[:, :, j], (1 - lam) * x[:, :, j] + lam * other[:, :, 7])
    torch.testing.assert_close(out.diff(dim=2), (1 - lam) * x.diff(dim=2))  # Eq. 2
    with pytest.raises(ValueError, match="does not match"):
        cm.add_static_noise(x, torch.rand(2, 3, 6, 4, 4))


def _synthbias(tmp_path):
    from bepaper.data.synthbias import generate
    from bepaper.video import open_video

    folder = generate(tmp_path, size="tiny", analogues=("ucf101like",), workers=1, progress=False)
    folder = folder["ucf101like"]
    clips, boxes = [], []
    for v in json.loads((folder / "meta.json").read_text())["videos"][:8]:
        reader = open_video(folder / "videos" / v["file"])
        clips.append(torch.from_numpy(reader.get(range(reader.num_frames))))
        reader.close()
        boxes.append(np.load(folder / "boxes" / (v["file"][: -len(".avi")] + ".npy")))
    x = torch.stack(clips).permute(0, 4, 1, 2, 3).float() / 255  # B x 3 x T x H x W
    return x, torch.from_numpy(np.stack(boxes))


def test_on_real_videos_a_motion_model_looks_at_the_actor(tmp_path):
    """Decoded SynthBias videos and their stored boxes (despite camera motion): the
    motion-only model's CAM mass is on the actor, not on a static pasted one, and a static
    frame of another video added as noise leaves its normalised CAM unchanged."""
    x, boxes = _synthbias(tmp_path)
    motion = motion_backbone()
    m = cm.cam(motion, x)
    share = cm.mass_in_boxes(m, boxes)
    assert (share.mass > 2 * share.chance).all()
    donors = x.roll(1, dims=0)
    pasted, box = cm.paste_static_actor(x, donors, boxes.roll(1, dims=0), frame=0)
    m2 = cm.cam(motion, pasted)
    on_pasted = cm.mass_in_boxes(m2, box[:, None].expand(-1, x.shape[2], -1))
    on_actor = cm.mass_in_boxes(m2, boxes)
    assert np.nanmean(on_actor.mass) > 2 * np.nanmean(on_pasted.mass)
    noisy = cm.add_static_noise(x, donors, lam=0.3)
    torch.testing.assert_close(cm.cam(motion, noisy), m, atol=1e-4, rtol=0)


def test_overlay_grid_and_gif_files(tmp_path):
    x, _ = blob_clips(b=1)
    frames = cm.to_uint8(x[0])
    assert frames.shape == (8, 32, 32, 3) and frames.dtype == np.uint8
    m = cm.cam(brightness_backbone(), x)[0]
    np.testing.assert_array_equal(cm.overlay(frames, m, alpha=0.0), frames)
    full = cm.overlay(frames, torch.zeros_like(m), alpha=1.0)
    assert full[0, 0, 0].tolist() == [0, 0, 128]  # jet(0): dark blue
    over = cm.overlay(frames, m)
    grid = cm.save_grid(
        [("original", frames, m), ("static", cm.to_uint8(cm.static_video(x)[0]), None)],
        tmp_path / "grid.png",
        max_frames=4,
        title="test",
    )
    with Image.open(grid) as im:
        assert im.format == "PNG" and im.size[0] > im.size[1] > 200
    gif = cm.save_gif(over, tmp_path / "cam.gif", fps=10)
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 8 and im.info["duration"] == 100
        im.seek(5)
        back = np.asarray(im.convert("RGB"))
    assert np.abs(back.astype(int) - over[5]).mean() < 12  # GIF palette quantisation
