"""Backbones: one contract for every registered name, published sizes, torchvision identity."""

from __future__ import annotations

import math
import runpy
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models.video import r2plus1d_18, r3d_18, s3d

from bepaper.errors import ConfigError
from bepaper.models import MODELS, build_backbone, feature_shape
from bepaper.models.s3d import SelfGate

# (temporal, spatial) downsampling of each architecture, from its published strides:
# ResNets and C3D stride 2 three times in time and four times in space; Inception (I3D,
# S3D-G) five times in space; our small R3D keeps full resolution in its stem.
STRIDES = {
    "c3d": (8, 16),
    "r3d18": (8, 16),
    "r3d34": (8, 16),
    "r2plus1d18": (8, 16),
    "i3d": (8, 32),
    "s3d": (8, 32),
    "r3d_small": (8, 8),
}

# Published backbone sizes (no classifier), with the relative tolerance each is held to.
FC400 = 512 * 400 + 400  # torchvision's Kinetics-400 FC on 512 features
C3D_CONVS = ((3, 64), (64, 128), (128, 256), (256, 256), (256, 512)) + ((512, 512),) * 3
PUBLISHED = {
    # torchvision docs, R3D_18_Weights / R2Plus1D_18_Weights: num_params, minus the FC.
    "r3d18": (33_371_472 - FC400, 0.0),
    "r2plus1d18": (31_505_325 - FC400, 0.0),
    # 3D ResNet-34 (Hara et al. 2018): 63.46M without classifier (TengdaHan/
    # ActionClassification README, "3d-ResNet34 63.46 M"); their stem is 7x7x7, ours 3x7x7.
    "r3d34": (63.46e6, 0.01),
    # I3D up to Mixed_5c: 12.29M (same README, "I3D 12.29 M", classifier excluded).
    "i3d": (12.29e6, 0.01),
    # S3D-G: 9.098M (same README; it gates the Inception branches but not Conv_2c,
    # which adds 192 * 193 = 37k here). Without gates it is torchvision's S3D, checked below.
    "s3d": (9.098e6, 0.01),
    # C3D conv1a..conv5b from Tran et al. 2015's layer table (3x3x3 kernels: 27.7M; fc6 and
    # fc7 would add 50.3M), each conv here without bias and with a batch norm (2 per channel).
    "c3d": (sum(27 * a * b + 2 * b for a, b in C3D_CONVS), 0.0),
}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def on_meta(name: str, width: int = 0) -> nn.Module:
    """Build without allocating or initialising real weights."""
    with torch.device("meta"):
        return build_backbone(name, width)


def expected(name: str, frames: int, size: int) -> tuple[int, int, int]:
    dt, ds = STRIDES[name]
    return math.ceil(frames / dt), math.ceil(size / ds), math.ceil(size / ds)


@pytest.mark.parametrize("size", [112, 224])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_contract_at_paper_sizes(name: str, size: int) -> None:
    torch.manual_seed(0)
    net = build_backbone(name, width=4)
    with torch.no_grad():
        out = net(torch.randn(1, 3, 8, size, size))
    assert out.dim() == 5 and out.shape[:2] == (1, net.out_channels)
    assert tuple(out.shape[2:]) == expected(name, 8, size)
    assert torch.isfinite(out).all()
    assert feature_shape(name, 8, size, width=4) == tuple(out.shape[1:])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_tiny_clips_keep_every_side_at_least_one(name: str) -> None:
    """8x32x32 CPU clips, and odd sides that fixed pools would floor to 0."""
    net = build_backbone(name, width=4)
    with torch.no_grad():
        for frames, size in ((8, 32), (3, 20), (1, 5)):
            out = net(torch.randn(2, 3, frames, size, size))
            assert tuple(out.shape[2:]) == expected(name, frames, size)
            assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_width_scales_channels(name: str) -> None:
    full, small = on_meta(name), on_meta(name, 8)
    base = 16 if name == "r3d_small" else 64
    assert small.out_channels * base == full.out_channels * 8
    assert n_params(small) < n_params(full)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_default_parameter_count_matches_published(name: str) -> None:
    reference, tol = PUBLISHED[name]
    count = n_params(on_meta(name))
    assert abs(count - reference) <= tol * reference, (name, count, reference)


def test_s3dg_without_gates_is_torchvision_s3d() -> None:
    with torch.device("meta"):
        tv = s3d()
    tv_features = n_params(tv) - n_params(tv.classifier)  # torchvision docs: 8,320,048 in all
    ours = on_meta("s3d")
    gates = sum(n_params(m) for m in ours.modules() if isinstance(m, SelfGate))
    assert n_params(ours) - gates == tv_features == 7_910_048
    # Conv_2c's gate, then one per Inception branch: sum of c * (c + 1) over 36 outputs
    assert gates == 192 * 193 + 1_187_952


@pytest.mark.parametrize("name, tv_builder", [("r3d18", r3d_18), ("r2plus1d18", r2plus1d_18)])
def test_resnets_are_torchvision_models(name: str, tv_builder) -> None:
    """Same weights, same outputs: ours is torchvision's net without avgpool and fc."""
    torch.manual_seed(0)
    tv = tv_builder(weights=None).eval()
    ours = build_backbone(name).eval()
    state = {k: v for k, v in tv.state_dict().items() if not k.startswith("fc.")}
    parts = ("stem", "layer1", "layer2", "layer3", "layer4")
    state = {
        f"body.{parts.index(k.split('.')[0])}.{k.split('.', 1)[1]}": v for k, v in state.items()
    }
    ours.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 4, 16, 16)
    with torch.no_grad():
        ref = tv.layer4(tv.layer3(tv.layer2(tv.layer1(tv.stem(x)))))
        torch.testing.assert_close(ours(x), ref)


def test_small_r3d_keeps_its_checkpoint_layout() -> None:
    """Old r3d_small checkpoints load: same keys and shapes as before the registry grew."""
    state = on_meta("r3d_small").state_dict()
    assert len(state) == 72 and n_params(on_meta("r3d_small")) == 900_528
    assert state["stem.0.weight"].shape == (16, 3, 3, 5, 5)
    assert state["layers.3.down.0.weight"].shape == (128, 64, 1, 1, 1)
    assert (
        build_backbone("r3d_small", 0).out_channels == build_backbone("r3d_small", 16).out_channels
    )


@pytest.mark.parametrize("name", sorted(MODELS))
def test_strict_load_across_widths_fails(name: str) -> None:
    narrow, wide = build_backbone(name, 4), build_backbone(name, 8)
    wide.load_state_dict(build_backbone(name, 8).state_dict())  # same width: fine
    with pytest.raises(RuntimeError, match="size mismatch"):
        wide.load_state_dict(narrow.state_dict())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradients_reach_the_first_conv(name: str) -> None:
    torch.manual_seed(0)
    net = build_backbone(name, width=4)
    net(torch.randn(2, 3, 4, 16, 16)).square().mean().backward()
    first = next(m for m in net.modules() if isinstance(m, nn.Conv3d))
    assert torch.isfinite(first.weight.grad).all() and first.weight.grad.abs().sum() > 0


def test_build_backbone_rejects_bad_names_and_widths() -> None:
    with pytest.raises(ConfigError, match=r"unknown model 'vgg'; choose from \['c3d'"):
        build_backbone("vgg")
    with pytest.raises(ConfigError, match="width"):
        build_backbone("r3d18", width=-1)


def test_bench_script_prints_a_row_per_model(monkeypatch, capsys) -> None:
    args = "--models c3d r3d_small --width 2 --frames 2 --size 8 --repeats 1".split()
    args += ["--threads", str(torch.get_num_threads())]  # leave this process's setting alone
    monkeypatch.setattr("sys.argv", ["backbones.py", *args])
    runpy.run_path(str(Path(__file__).parents[1] / "bench" / "backbones.py"), run_name="__main__")
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[0] for r in rows[2:]] == ["| c3d", "| r3d_small"]
    assert rows[3].split(" | ")[3] == "16x1x1x1"  # r3d_small, width 2: 8w channels
