"""bepaper.fit: a run that cannot fit says so before it starts.

The activation estimate (a meta-device forward) is checked against what autograd really
saves for backward in a CPU forward, measured here with saved-tensor hooks.
"""

from __future__ import annotations

import pytest
import torch

from bepaper.errors import ConfigError
from bepaper.fit import GiB, check_fits, estimate_step_memory, free_memory
from bepaper.models import build_backbone


def _saved_for_backward(backbone: str, shape: tuple[int, ...]) -> int:
    """Bytes of the distinct non-parameter storages autograd saves in a real forward."""
    net = build_backbone(backbone).train()
    params = {p.untyped_storage().data_ptr() for p in net.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(torch.randn(shape))
    return sum(seen.values())


@pytest.mark.parametrize(
    ("backbone", "frames", "size"), [("r3d_small", 8, 32), ("r3d18", 8, 48), ("i3d", 8, 64)]
)
def test_estimate_matches_what_backward_keeps(backbone, frames, size):
    batch = 2
    measured = _saved_for_backward(backbone, (batch, 3, frames, size, size))
    params = sum(p.numel() * 4 for p in build_backbone(backbone).parameters())
    total = estimate_step_memory(backbone, 0, frames, size, batch, 1, True)
    loaded = batch * frames * size * size * 3
    activations = total - 3 * params - loaded  # what the estimate gives the activations
    # kept for backward + twice the largest output; the largest is at most a third of them
    assert measured < activations < 2 * measured


def test_linear_in_batch_and_clips():
    def est(batch, clips=1):
        return estimate_step_memory("r3d18", 0, 16, 112, batch, clips)

    one, two, three = est(1), est(2), est(3)
    assert two - one == three - two > 0
    assert est(2, 2) == est(4) and est(1, 3) == est(3)
    assert est(1) > 3 * sum(p.numel() * 4 for p in build_backbone("r3d18").parameters())
    evaluation = estimate_step_memory("r3d18", 0, 16, 112, 4, 1, train=False)
    assert evaluation < est(4) / 3  # nothing kept for backward
    # bf16 autocast halves the activations, not the uint8 frames (16 x 112 x 112 x 3 a clip)
    amp = estimate_step_memory("r3d18", 0, 16, 112, 8, 1, amp=True)
    amp_per_clip = amp - estimate_step_memory("r3d18", 0, 16, 112, 7, 1, amp=True)
    frames = 16 * 112 * 112 * 3
    assert amp_per_clip == pytest.approx((est(8) - est(7) - frames) / 2 + frames, abs=2)


def test_frames_scale_the_activations():
    """Doubling T doubles what each clip holds: the estimate follows num_frames."""
    a = estimate_step_memory("r3d18", 0, 16, 112, 2, 1)
    b = estimate_step_memory("r3d18", 0, 32, 112, 2, 1)
    c = estimate_step_memory("r3d18", 0, 64, 112, 2, 1)
    assert c - b == pytest.approx(2 * (b - a), rel=0.02)


def test_a_small_config_passes():
    check_fits("r3d_small", 0, 16, 32, 8, 2, "cpu")  # the real free memory of this machine
    check_fits("r3d18", 0, 16, 112, 8, 2, "cpu", free_bytes=16 * GiB)


def test_huge_num_frames_is_refused_naming_it():
    with pytest.raises(ConfigError) as info:
        check_fits("r3d18", 0, 4000, 112, 64, 2, "cpu", free_bytes=64 * GiB)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("a training step will not fit in cpu memory: about ")
    assert "data.num_frames (4000)" in message and "batch 64 x 2 clips" in message
    assert "even batch 1 does not fit" in message
    assert "augment.crop_size (112)" in message and "64.0 GiB free" in message
    needed = float(message.split("about ")[1].split(" GiB")[0])
    assert needed * GiB == pytest.approx(
        estimate_step_memory("r3d18", 0, 4000, 112, 64, 2), rel=1e-3
    )


def test_the_error_names_the_largest_batch_that_fits():
    free = 6 * GiB
    with pytest.raises(ConfigError) as info:
        check_fits("r3d18", 0, 16, 112, 64, 2, "cpu", free_bytes=free, processes=4)
    message = str(info.value)
    most = int(message.split("use optim.batch_size=")[1].split(" ")[0]) // 4
    assert f"({most} per process x 4)" in message and most >= 1
    check_fits("r3d18", 0, 16, 112, most, 2, "cpu", free_bytes=free)  # it fits
    with pytest.raises(ConfigError):
        check_fits("r3d18", 0, 16, 112, most + 1, 2, "cpu", free_bytes=free)


def test_cuda_counts_its_context(monkeypatch):
    """On CUDA the free memory comes from mem_get_info, and the context is added."""
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2 * GiB, 80 * GiB))
    assert free_memory("cuda:0") == 2 * GiB
    need = estimate_step_memory("r3d_small", 0, 16, 32, 1, 1, amp=True)
    assert need < 0.9 * 2 * GiB - (512 << 20)
    check_fits("r3d_small", 0, 16, 32, 1, 1, "cuda:0", amp=True)
    with pytest.raises(ConfigError, match="in cuda:0 memory"):
        check_fits("r3d18", 0, 16, 112, 64, 1, "cuda:0", amp=True)


def test_free_memory_on_cpu_is_plausible():
    free = free_memory("cpu")
    with open("/proc/meminfo") as f:
        total = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:"))
    assert 0 < free <= total


def test_bad_settings():
    with pytest.raises(ConfigError, match="num_frames must be >= 1"):
        estimate_step_memory("r3d18", 0, 0, 112, 1)
    with pytest.raises(ConfigError, match="unknown model 'r4d'"):
        estimate_step_memory("r4d", 0, 16, 112, 1)


def test_a_crop_that_pools_to_one_value_is_estimated():
    """r3d18 at a 16-pixel crop and 8 frames ends at 1 x 1 x 1 per channel: a one-clip
    training-mode forward would make batch norm refuse it (it did, in CI's slow tests)."""
    assert estimate_step_memory("r3d18", 4, 8, 16, 4) > 0
    check_fits("r3d18", 4, 8, 16, 4, 1, "cpu")
