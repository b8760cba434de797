"""Benchmark one MoCo+BE training step: augmentation + BE + query forward/backward on 2B
clips (distracting clips and hard negatives) + key forward on B clips + InfoNCE + momentum
update + SGD step. Prints ms per step and clips per second.

    python bench/step.py --backbone r3d18 --size 112 --batch 64 --frames 16
    python bench/step.py --backbone r3d_small --width 8 --size 32 --frames 8 --batch 32 --device cpu

Compare with docs/performance.md (same card, same settings) before and after a change.
"""

from __future__ import annotations

import argparse
import time

import torch

from bepaper.augment import train_view
from bepaper.config import AugmentConfig, MethodConfig, ModelConfig
from bepaper.methods.moco import MoCo


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--backbone", default="r3d18")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--size", type=int, default=112, help="crop side fed to the network")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--queue", type=int, default=16384)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="bf16")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    a = p.parse_args()

    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        tf32 = a.precision in ("tf32", "bf16")
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(0)
    model = MoCo(
        ModelConfig(backbone=a.backbone, width=a.width),
        MethodConfig(name="moco_be", queue_size=a.queue),
    ).to(dev)
    if a.channels_last:
        model.to(memory_format=torch.channels_last_3d)
    if a.compile:
        model.encoder_q.backbone = torch.compile(model.encoder_q.backbone)
    opt = torch.optim.SGD([q for q in model.parameters() if q.requires_grad], lr=0.01, momentum=0.9)
    aug = AugmentConfig(crop_size=a.size)
    load = int(a.size * 8 / 7)
    clips = torch.randint(0, 256, (a.batch, a.frames, load, load, 3), dtype=torch.uint8, device=dev)
    hard = torch.randint(0, 256, (a.batch, a.frames, load, load, 3), dtype=torch.uint8, device=dev)
    mem = torch.channels_last_3d if a.channels_last else torch.contiguous_format

    def step() -> None:
        x_o, x_v, x_h = (
            train_view(c, aug).contiguous(memory_format=mem) for c in (clips, clips, hard)
        )
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda and a.precision == "bf16"):
            loss, _ = model(x_o, x_v, x_h)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    ms = (time.perf_counter() - t0) / a.steps * 1000
    name = torch.cuda.get_device_name(dev) if cuda else f"CPU x{torch.get_num_threads()} threads"
    mem_gb = torch.cuda.max_memory_allocated(dev) / 2**30 if cuda else float("nan")
    print(
        f"{name} | torch {torch.__version__} | {a.backbone} {a.size}px T={a.frames} B={a.batch} "
        f"{a.precision}{' channels_last' * a.channels_last}{' compile' * a.compile}: "
        f"{ms:.1f} ms/step, {a.batch * 1000 / ms:.0f} samples/s, "
        f"{3 * a.batch * 1000 / ms:.0f} clips/s, peak {mem_gb:.1f} GiB"
    )


if __name__ == "__main__":
    main()
