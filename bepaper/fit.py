"""Does a run fit in memory? Said before it starts, instead of the process being killed.

`estimate_step_memory` estimates the bytes one training (or evaluation) step holds: the clip
batch, the activations backward keeps (measured by a forward on the meta device: no memory,
no arithmetic), and the parameters with their gradients and SGD momentum. `check_fits`
compares that with the free memory of the device and raises a one-line ConfigError naming
the settings to lower. Pure functions of simple arguments, for the training entry points.

How close: per clip, the sum of the outputs of the backbone's leaf modules (in-place ReLUs
share their input's storage; max pools keep int64 indices) is within about 15% of the
tensors autograd saves for backward (tests/test_fit.py measures them), and twice the largest
output is added for the gradients in flight during backward. The projection or classifier
head, a MoCo key encoder's forward (no saved activations) and allocator fragmentation are
not counted, hence the headroom `check_fits` keeps.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from bepaper.errors import ConfigError

GiB = 1 << 30
CUDA_CONTEXT = 512 << 20  # the CUDA context and cuDNN workspaces, roughly
HEADROOM = 0.9  # use at most this fraction of the free memory


def _activation_bytes(backbone: str, width: int, num_frames: int, crop_size: int) -> tuple:
    """(bytes backward keeps, largest output, parameter bytes) for ONE clip, measured by a
    forward on the meta device with hooks on every leaf module."""
    from bepaper.models import build_backbone

    total, largest = 0, 0

    def hook(module: nn.Module, _inputs, output) -> None:
        nonlocal total, largest
        if not torch.is_tensor(output) or (isinstance(module, nn.ReLU) and module.inplace):
            return
        size = output.numel() * output.element_size()
        total += size
        largest = max(largest, size)
        if isinstance(module, nn.MaxPool3d):
            total += output.numel() * 8  # the int64 indices max_pool3d saves

    with torch.device("meta"):
        net = build_backbone(backbone, width).train()
        handles = [m.register_forward_hook(hook) for m in net.modules() if not any(m.children())]
        # two clips, not one: batch norm in training mode refuses a single value per
        # channel, which a small crop reaches after the last pooling
        clip = torch.empty(2, 3, num_frames, crop_size, crop_size)
        net(clip)
    for h in handles:
        h.remove()
    params = sum(p.numel() * p.element_size() for p in net.parameters())
    return (total + clip.numel() * clip.element_size()) // 2, largest // 2, params


def estimate_step_memory(
    backbone: str,
    width: int,
    num_frames: int,
    crop_size: int,
    batch: int,
    clips_per_sample: int = 1,
    train: bool = True,
    *,
    load_size: int = 0,
    amp: bool = False,
) -> int:
    """Bytes one step of `batch` samples of `clips_per_sample` clips (T = num_frames,
    crop_size x crop_size) holds on its device. Training: activations kept for backward,
    gradients in flight, parameters + gradients + momentum. Evaluation (`train=False`): the
    two largest activations alive at once and the parameters. `load_size` (0 = crop_size) is
    the side of the uint8 frames the loader delivers; `amp` counts activations at 2 bytes
    (bf16 autocast). Grows linearly with `batch` and `clips_per_sample`."""
    for name, value in (("num_frames", num_frames), ("crop_size", crop_size), ("batch", batch)):
        if value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")
    if clips_per_sample < 1:
        raise ConfigError(f"clips_per_sample must be >= 1, got {clips_per_sample}")
    kept, largest, params = _activation_bytes(backbone, width, num_frames, crop_size)
    clips = batch * clips_per_sample
    side = load_size or crop_size
    loaded = clips * num_frames * side * side * 3  # uint8 frames from the loader
    scale = 0.5 if amp else 1.0
    if train:
        per_clip = scale * (kept + 2 * largest)
        fixed = 3 * params  # weights, gradients, SGD momentum
    else:
        per_clip = scale * 2 * largest + 3 * num_frames * crop_size * crop_size * 4
        fixed = params
    return int(fixed + clips * per_clip + loaded)


def _cgroup_available() -> int | None:
    """Memory left under this process's cgroup limit (containers, Slurm), if any."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:  # "max" or a huge number: no limit
            return max(0, int(limit) - usage)
    return None


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def free_memory(device: str | torch.device) -> int:
    """Bytes free on `device`: CUDA's `mem_get_info`; on CPU the available RAM (psutil if
    installed, else /proc/meminfo), capped by a cgroup memory limit when one applies."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    found = []
    try:
        import psutil

        found.append(int(psutil.virtual_memory().available))
    except ImportError:
        meminfo = _meminfo_available()
        if meminfo is not None:
            found.append(meminfo)
    cgroup = _cgroup_available()
    if cgroup is not None:
        found.append(cgroup)
    if found:
        return min(found)
    try:  # no psutil, no /proc: the physical memory
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 1 << 62  # no way to tell: assume it fits


def check_fits(
    backbone: str,
    width: int,
    num_frames: int,
    crop_size: int,
    batch: int,
    clips_per_sample: int = 1,
    device: str | torch.device = "cpu",
    train: bool = True,
    *,
    load_size: int = 0,
    amp: bool = False,
    free_bytes: int | None = None,
    processes: int = 1,
) -> None:
    """Raise a one-line ConfigError when a step of these settings (see
    `estimate_step_memory`; `batch` is per process) needs more than HEADROOM of the free
    memory of `device` (`free_bytes` if given), naming the largest `optim.batch_size` that
    fits (the global batch: `processes` x per process) and the other settings to lower."""
    device = torch.device(device)

    def need(b: int) -> int:
        n = estimate_step_memory(
            backbone, width, num_frames, crop_size, b, clips_per_sample, train,
            load_size=load_size, amp=amp and device.type == "cuda",
        )  # fmt: skip
        return n + (CUDA_CONTEXT if device.type == "cuda" else 0)

    needed = need(batch)
    free = free_memory(device) if free_bytes is None else free_bytes
    if needed <= HEADROOM * free:
        return
    one = need(1)
    per_sample = max(1, need(2) - one)
    most = 0 if one > HEADROOM * free else 1 + int((HEADROOM * free - one) // per_sample)
    if most >= 1:
        use = f"use optim.batch_size={most * processes}" + (
            f" ({most} per process x {processes})" if processes > 1 else ""
        )
        use += f" or lower data.num_frames ({num_frames}) or augment.crop_size ({crop_size})"
    else:
        use = (
            f"even batch 1 does not fit: lower data.num_frames ({num_frames}) or "
            f"augment.crop_size ({crop_size})"
        )
    step = "training" if train else "evaluation"
    clips = f" x {clips_per_sample} clips" if clips_per_sample > 1 else ""
    raise ConfigError(
        f"a {step} step will not fit in {device} memory: about {needed / GiB:.1f} GiB needed "
        f"({backbone}, batch {batch}{clips} of {num_frames} frames at {crop_size}x{crop_size}"
        f" per process), {free / GiB:.1f} GiB free; {use}"
    )
