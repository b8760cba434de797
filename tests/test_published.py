"""bepaper.models.published: published checkpoints give the source model's features.

Each source model is built here with random weights and random batch-norm statistics:
torchvision's own video models, and written in this file, a model with piergiaj's
InceptionI3d key layout and TensorFlow-SAME padding, the BE authors' I3D blocks (hassony2's
layout) and a MoCo wrapper. Its checkpoint goes through a file; bepaper's backbone loaded
from it must give the same features as the source (eval mode, float tolerance).
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.video import mc3_18, r2plus1d_18, r3d_18, s3d

from bepaper.errors import CheckpointError
from bepaper.models import build_backbone
from bepaper.models.published import (
    OPEN_GATE_BIAS,
    detect_published,
    from_published,
    published_weights,
)


def _calibrate(model: nn.Module, run: Callable[[], object], seed: int) -> nn.Module:
    """Random batch-norm affine parameters, and running statistics measured on `run()`'s
    forward in training mode, so that activations stay in range through the depth and the
    features depend on the input (with arbitrary statistics they can all but vanish).
    Returns the model in eval mode."""
    g = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average: one forward sets the statistics
            m.weight.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.bias.copy_(0.1 * torch.randn(m.num_features, generator=g))
        model.train()
        run()
    return model.eval()


def _close(ours: torch.Tensor, reference: torch.Tensor, other: torch.Tensor) -> None:
    """`ours` equals `reference` to float tolerance, while `other` (the source's features of
    another input) does not: the comparison can tell a wrong mapping."""
    assert ours.shape == reference.shape
    scale = reference.abs().max().item()
    assert (other - reference).abs().max().item() > 0.05 * scale > 0
    torch.testing.assert_close(ours, reference, rtol=1e-3, atol=1e-4 * scale)


def _clip(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _pooled(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net.eval()(x).mean(dim=(2, 3, 4))


@pytest.mark.parametrize(
    ("make", "backbone", "fmt"),
    [
        (r3d_18, "r3d18", "torchvision_r3d_18"),
        (r2plus1d_18, "r2plus1d18", "torchvision_r2plus1d_18"),
    ],
)
def test_torchvision_resnets(tmp_path, make, backbone, fmt):
    torch.manual_seed(0)
    source = make(weights=None)
    _calibrate(source, lambda: source(_clip((4, 3, 8, 32, 32), 9)), 1)
    path = tmp_path / "w.pth"
    torch.save(source.state_dict(), path)
    assert detect_published(torch.load(path)) == fmt
    net = from_published(path, backbone)
    x = _clip((2, 3, 8, 32, 32))
    source.fc = nn.Identity()  # its features before the classifier: avgpool + flatten
    with torch.no_grad():
        reference, other = source(x), source(_clip(x.shape, 1))
    _close(_pooled(net, x), reference, other)
    dropped = published_weights(torch.load(path), backbone).dropped
    assert dropped == ["fc.bias", "fc.weight"]


def test_torchvision_s3d_with_open_gates_and_its_batch_norm_epsilon(tmp_path):
    torch.manual_seed(0)
    source = s3d(weights=None)
    x = _clip((2, 3, 8, 32, 32))  # even sides all the way down (torchvision floors at 5a)
    _calibrate(source, lambda: source.features(_clip(x.shape, 9)), 2)
    assert source.features[0][0][1].eps == 1e-3  # torchvision's S3D; bepaper's is 1e-5
    path = tmp_path / "s3d.pth"
    torch.save(source.state_dict(), path)
    assert detect_published(torch.load(path)) == "torchvision_s3d"
    net = from_published(path, "s3d")
    with torch.no_grad():
        reference = source.features(x).mean(dim=(2, 3, 4))
        other = source.features(_clip(x.shape, 1)).mean(dim=(2, 3, 4))
    _close(_pooled(net, x), reference, other)
    assert torch.sigmoid(torch.tensor(OPEN_GATE_BIAS)) == 1.0  # an open gate is exact
    assert net.body[4].fc.weight.abs().sum() == 0


def test_mc3_matches_only_stem_and_layer1(tmp_path):
    torch.manual_seed(0)
    source = mc3_18(weights=None)
    _calibrate(source, lambda: source(_clip((4, 3, 8, 32, 32), 9)), 3)
    state = source.state_dict()
    assert detect_published(state) == "torchvision_mc3_18"
    with pytest.raises(CheckpointError) as info:
        published_weights(state, "r3d18", source="mc3.pth")
    message = str(info.value)
    assert "\n" not in message and message.startswith("mc3.pth: torchvision mc3_18 weights")
    assert "layer2.0.conv1.0.weight" in message and "partial=True" in message
    weights = published_weights(state, "r3d18", partial=True)
    assert {k.split(".")[1] for k in weights.state} == {"0", "1"}  # body.0 stem, body.1
    assert weights.kept_random and all(k.split(".")[1] in "234" for k in weights.kept_random)
    path = tmp_path / "mc3.pth"
    torch.save(state, path)
    net = from_published(path, "r3d18", partial=True).eval()
    x = _clip((2, 3, 8, 32, 32))
    with torch.no_grad():
        reference, other = (source.layer1(source.stem(v)) for v in (x, _clip(x.shape, 1)))
        _close(net.body[1](net.body[0](x)), reference, other)


# --- piergiaj/pytorch-i3d's key layout, with TensorFlow SAME padding, written here -------


def _same(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    """TensorFlow SAME padding of a (B, C, T, H, W) tensor: pad k - s (or k - L mod s), the
    larger half at the end."""
    pads = []
    for size, k, s in zip(x.shape[2:], kernel, stride, strict=True):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pads.append((total // 2, total - total // 2))
    (t0, t1), (h0, h1), (w0, w1) = pads
    return F.pad(x, (w0, w1, h0, h1, t0, t1))


class Unit3D(nn.Module):
    def __init__(self, c_in, c_out, kernel=(1, 1, 1), stride=(1, 1, 1), last=False):
        super().__init__()
        self.kernel, self.stride, self.last = kernel, stride, last
        self.conv3d = nn.Conv3d(c_in, c_out, kernel, stride, bias=last)
        if not last:
            self.bn = nn.BatchNorm3d(c_out, eps=0.001, momentum=0.01)

    def forward(self, x):
        x = self.conv3d(_same(x, self.kernel, self.stride))
        return x if self.last else F.relu(self.bn(x))


class PoolSame(nn.MaxPool3d):
    def forward(self, x):
        return super().forward(_same(x, self.kernel_size, self.stride))


class Mixed(nn.Module):
    def __init__(self, c_in, c):
        super().__init__()
        k3 = (3, 3, 3)
        self.b0 = Unit3D(c_in, c[0])
        self.b1a, self.b1b = Unit3D(c_in, c[1]), Unit3D(c[1], c[2], k3)
        self.b2a, self.b2b = Unit3D(c_in, c[3]), Unit3D(c[3], c[4], k3)
        self.b3a, self.b3b = PoolSame(k3, (1, 1, 1)), Unit3D(c_in, c[5])

    def forward(self, x):
        return torch.cat(
            [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1
        )


class InceptionI3dLayout(nn.Module):
    """InceptionI3d's modules under their names (Inception-v1 widths), up to `logits`."""

    ORDER = (
        "Conv3d_1a_7x7 MaxPool3d_2a_3x3 Conv3d_2b_1x1 Conv3d_2c_3x3 MaxPool3d_3a_3x3 Mixed_3b "
        "Mixed_3c MaxPool3d_4a_3x3 Mixed_4b Mixed_4c Mixed_4d Mixed_4e Mixed_4f "
        "MaxPool3d_5a_2x2 Mixed_5b Mixed_5c"
    ).split()

    def __init__(self, num_classes=400):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = PoolSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = PoolSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = Mixed(192, [64, 96, 128, 16, 32, 32])
        self.Mixed_3c = Mixed(256, [128, 128, 192, 32, 96, 64])
        self.MaxPool3d_4a_3x3 = PoolSame((3, 3, 3), (2, 2, 2))
        self.Mixed_4b = Mixed(480, [192, 96, 208, 16, 48, 64])
        self.Mixed_4c = Mixed(512, [160, 112, 224, 24, 64, 64])
        self.Mixed_4d = Mixed(512, [128, 128, 256, 24, 64, 64])
        self.Mixed_4e = Mixed(512, [112, 144, 288, 32, 64, 64])
        self.Mixed_4f = Mixed(528, [256, 160, 320, 32, 128, 128])
        self.MaxPool3d_5a_2x2 = PoolSame((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = Mixed(832, [256, 160, 320, 32, 128, 128])
        self.Mixed_5c = Mixed(832, [384, 192, 384, 48, 128, 128])
        self.logits = Unit3D(1024, num_classes, last=True)

    def features(self, x):
        for name in self.ORDER:
            x = getattr(self, name)(x)
        return x


@pytest.fixture(scope="module")
def piergiaj():
    torch.manual_seed(0)
    net = InceptionI3dLayout()
    return _calibrate(net, lambda: net.features(_clip((4, 3, 5, 33, 33), 9)), 4)


def test_piergiaj_i3d_layout(tmp_path, piergiaj):
    state = piergiaj.state_dict()
    assert "Mixed_4f.b2b.bn.running_var" in state and "logits.conv3d.bias" in state
    for key in [k for k in state if k.endswith("num_batches_tracked")]:
        del state[key]  # rgb_imagenet.pt was saved by a PyTorch without them
    path = tmp_path / "rgb_imagenet.pt"
    torch.save(state, path)
    assert detect_published(torch.load(path)) == "piergiaj_i3d"
    net = from_published(path, "i3d")
    # Sides odd at every stride-2 layer: 5 -> 3 frames, 33 -> 17 -> 9 -> 5 pixels (-> 3 -> 2),
    # where SAME padding is symmetric (see the module docstring for even sides).
    x = _clip((2, 3, 5, 33, 33))
    with torch.no_grad():
        reference, other = piergiaj.features(x), piergiaj.features(_clip(x.shape, 1))
    assert reference.shape == (2, 1024, 1, 2, 2)
    _close(_pooled(net, x), reference.mean(dim=(2, 3, 4)), other.mean(dim=(2, 3, 4)))
    assert published_weights(torch.load(path), "i3d").dropped == [
        "logits.conv3d.bias",
        "logits.conv3d.weight",
    ]


@pytest.mark.parametrize("shape", [(1, 3, 8, 32, 32), (1, 3, 6, 40, 34)], ids=["even", "mixed"])
def test_i3d_pads_as_tensorflow_on_even_sides_too(piergiaj, shape):
    """Even sides, where TensorFlow's SAME pads one less at the start than PyTorch's
    symmetric padding (224-pixel crops, 16 or 64 frames: how the weights are used)."""
    net = build_backbone("i3d")
    net.load_state_dict(published_weights(piergiaj.state_dict(), "i3d").state)
    x = _clip(shape)
    with torch.no_grad():
        ours, theirs = net.eval()(x), piergiaj.features(x)
        other = piergiaj.features(x.flip(-1))
    _close(ours, theirs, other)


def test_tf_same_pad_against_tensorflows_rule():
    """The pad total of TensorFlow's SAME (out = ceil(L/s); pad = max((out - 1) s + k - L,
    0), the smaller half first), checked on each side alone against the formula."""
    from bepaper.models.i3d import tf_same_pad

    for size in range(1, 12):
        for k, s in ((7, 2), (3, 2), (2, 2), (3, 1), (1, 1)):
            x = torch.zeros(1, 1, size, 1, 1)
            padded = tf_same_pad(x, (k, 1, 1), (s, 1, 1)).shape[2] - size
            out = -(-size // s)
            assert padded == max((out - 1) * s + k - size, 0)
            assert (padded + size - k) // s + 1 == out  # a conv then gives ceil(L/s)


# --- the BE authors' I3D (hassony2's layout), blocks written here ----------------------------


class UnitPy(nn.Module):
    """Unit3Dpy: static SAME padding (k - s, the larger half at the end), conv3d, batch3d."""

    def __init__(self, c_in, c_out, kernel=(1, 1, 1), stride=(1, 1, 1)):
        super().__init__()
        pad = []
        for k, s in zip(reversed(kernel), reversed(stride), strict=True):
            total = max(k - s, 0)
            pad += [total // 2, total - total // 2]
        self.pad = nn.ConstantPad3d(tuple(pad), 0)
        self.conv3d = nn.Conv3d(c_in, c_out, kernel, stride, bias=False)
        self.batch3d = nn.BatchNorm3d(c_out)

    def forward(self, x):
        return F.relu(self.batch3d(self.conv3d(self.pad(x))))


class PoolPy(nn.Module):
    def __init__(self):
        super().__init__()
        self.pad = nn.ConstantPad3d((1, 1, 1, 1, 1, 1), 0)
        self.pool = nn.MaxPool3d(3, 1, ceil_mode=True)

    def forward(self, x):
        return self.pool(self.pad(x))


class MixedPy(nn.Module):
    def __init__(self, c_in, c):
        super().__init__()
        k3 = (3, 3, 3)
        self.branch_0 = UnitPy(c_in, c[0])
        self.branch_1 = nn.Sequential(UnitPy(c_in, c[1]), UnitPy(c[1], c[2], k3))
        self.branch_2 = nn.Sequential(UnitPy(c_in, c[3]), UnitPy(c[3], c[4], k3))
        self.branch_3 = nn.Sequential(PoolPy(), UnitPy(c_in, c[5]))

    def forward(self, x):
        return torch.cat(
            [self.branch_0(x), self.branch_1(x), self.branch_2(x), self.branch_3(x)], 1
        )


MIXED = {
    "mixed_3b": (192, [64, 96, 128, 16, 32, 32]),
    "mixed_3c": (256, [128, 128, 192, 32, 96, 64]),
    "mixed_4b": (480, [192, 96, 208, 16, 48, 64]),
    "mixed_4c": (512, [160, 112, 224, 24, 64, 64]),
    "mixed_4d": (512, [128, 128, 256, 24, 64, 64]),
    "mixed_4e": (512, [112, 144, 288, 32, 64, 64]),
    "mixed_4f": (528, [256, 160, 320, 32, 128, 128]),
    "mixed_5b": (832, [256, 160, 320, 32, 128, 128]),
    "mixed_5c": (832, [384, 192, 384, 48, 128, 128]),
}
BE_BODY = {"conv3d_2b_1x1": 2, "conv3d_2c_3x3": 3, "mixed_3b": 6, "mixed_3c": 7, "mixed_4b": 9}
BE_BODY |= {"mixed_4c": 10, "mixed_4d": 11, "mixed_4e": 12, "mixed_4f": 13}
BE_BODY |= {"mixed_5b": 15, "mixed_5c": 16}


class BEI3DLayout(nn.Module):
    """The released I3D's parameterised modules under their names, with its contrastive head
    and a stand-in for its (unused) inpainting modules."""

    def __init__(self):
        super().__init__()
        self.conv3d_1a_7x7 = UnitPy(3, 64, (7, 7, 7), (2, 2, 2))
        self.conv3d_2b_1x1 = UnitPy(64, 64)
        self.conv3d_2c_3x3 = UnitPy(64, 192, (3, 3, 3))
        for name, (c_in, c) in MIXED.items():
            setattr(self, name, MixedPy(c_in, c))
        self.painting_Gen = nn.Conv2d(3, 3, 3)
        self.id_head = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(1024, 128))


def test_be_authors_i3d_release_checkpoint(tmp_path):
    torch.manual_seed(0)
    source = BEI3DLayout()
    inputs = {
        name: torch.rand(
            (2, MIXED.get(name, (64,))[0], 3, 5, 6), generator=torch.Generator().manual_seed(i)
        )
        for i, name in enumerate(BE_BODY)
    }  # nonnegative, as after a ReLU: zero and -inf pads agree in the pools
    _calibrate(source, lambda: [getattr(source, n)(x) for n, x in inputs.items()], 5)
    model = {f"module.{k}": v for k, v in source.state_dict().items()}  # DataParallel
    options = argparse.Namespace(arch="i3d", pt_method="be")
    path = tmp_path / "ckpt_epoch_50.pth"
    torch.save({"opt": options, "model": model, "epoch": 50}, path)  # as their pt.py saves
    net = from_published(path, "i3d").eval()
    assert torch.equal(net.body[0][0].weight, source.conv3d_1a_7x7.conv3d.weight)
    for name, index in BE_BODY.items():
        x, block = inputs[name], getattr(source, name)
        with torch.no_grad():
            _close(net.body[index](x), block(x), block(x.flip(-1)))
    dropped = published_weights(torch.load(path, weights_only=False), "i3d").dropped
    assert dropped == [
        "id_head.2.bias",
        "id_head.2.weight",
        "painting_Gen.bias",
        "painting_Gen.weight",
    ]


# --- MoCo ---------------------------------------------------------------------------------


class MoCo(nn.Module):
    """facebookresearch/moco's module layout: encoder_q, encoder_k, queue, queue_ptr; the
    encoder's fc replaced by the MoCo v2 MLP head."""

    def __init__(self, dim=128, k=64):
        super().__init__()
        self.encoder_q = r3d_18(weights=None, num_classes=dim)
        hidden = self.encoder_q.fc.weight.shape[1]
        self.encoder_q.fc = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), self.encoder_q.fc)
        self.encoder_k = copy.deepcopy(self.encoder_q)
        self.register_buffer("queue", F.normalize(torch.randn(dim, k), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))


class DataParallelLike(nn.Module):
    def __init__(self, module):
        super().__init__()
        self.module = module


def test_moco_checkpoint_of_a_torchvision_encoder(tmp_path):
    torch.manual_seed(0)
    moco = MoCo()
    for seed, encoder in ((6, moco.encoder_q), (7, moco.encoder_k)):  # the key encoder differs
        _calibrate(encoder, lambda e=encoder, s=seed: e(_clip((4, 3, 8, 32, 32), s)), seed)
    wrapped = DataParallelLike(moco)
    optimizer = torch.optim.SGD(wrapped.parameters(), lr=0.03, momentum=0.9)
    path = tmp_path / "checkpoint_0199.pth.tar"
    state = {"epoch": 200, "arch": "r3d_18", "state_dict": wrapped.state_dict()}
    torch.save({**state, "optimizer": optimizer.state_dict()}, path)
    loaded = torch.load(path)
    assert detect_published(loaded) == "moco/torchvision_r3d_18"
    net = from_published(path, "r3d18")
    encoder = moco.encoder_q.eval()
    encoder.fc = nn.Identity()
    x = _clip((2, 3, 8, 32, 32))
    with torch.no_grad():
        _close(_pooled(net, x), encoder(x), encoder(_clip(x.shape, 1)))
    dropped = published_weights(loaded, "r3d18").dropped
    assert "queue" in dropped and "queue_ptr" in dropped
    assert "encoder_q.fc.0.weight" in dropped and "encoder_q.fc.2.bias" in dropped
    assert sum(k.startswith("encoder_k.") for k in dropped) == len(moco.encoder_k.state_dict())


# --- strictness ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def r3d_state():
    torch.manual_seed(0)
    return r3d_18(weights=None).state_dict()


def _one_line_error(state, backbone="r3d18", **kwargs) -> str:
    with pytest.raises(CheckpointError) as info:
        published_weights(state, backbone, source="w.pth", **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith("w.pth: ")
    return message


def test_every_key_is_used_or_named(r3d_state):
    extra = {**r3d_state, "stem.9.weight": torch.zeros(3), "mystery": torch.zeros(1)}
    message = _one_line_error(extra)
    assert "no place in r3d18: mystery, body.0.9.weight" in message
    short = {k: v for k, v in r3d_state.items() if k != "layer4.1.conv2.1.running_var"}
    assert len(short) == len(r3d_state) - 1
    assert "r3d18 keys not filled: body.4.1.conv2.1.running_var" in _one_line_error(short)
    assert (
        "shapes differ (checkpoint vs r3d18 width 32): body.0.0.weight (64, 3, 3, 7, 7) vs "
        "(32, 3, 3, 7, 7)" in _one_line_error(r3d_state, width=32)
    )
    wrong = _one_line_error(r3d_state, backbone="i3d")
    assert (
        wrong
        == "w.pth: these are torchvision r3d_18 weights; they fit model.backbone=r3d18, not i3d"
    )
    mine = build_backbone("r3d_small").state_dict()
    assert detect_published(mine) is None
    assert "not a published format" in _one_line_error(mine)
    assert "layers.0.bn1.bias, " in _one_line_error(mine)  # its keys, sorted
