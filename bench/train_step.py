"""Time one pretraining step of any method × backbone, through the same code path as
training (`method.views` then `method(views)`, backward, SGD step), and print a table.

    python bench/train_step.py                                   # MoCo+HN+BE, R3D-18, 16x112², B=64
    python bench/train_step.py --backbone i3d --size 224 --recipe default released
    python bench/train_step.py --method rotnet --be --backbone c3d --batch 32
    python bench/train_step.py --backbone r3d_small --width 8 --size 32 --frames 8 \\
        --batch 2 --device cpu --steps 3 --warmup 1                 # a CPU smoke run

Recipes (each row of the table):
- `default`   this package's GPU recipe: bf16 autocast, channels_last_3d, TF32, vectorised BE
              and augmentation on the device, the `_foreach` momentum update;
- `compile`   `default` + torch.compile of the backbone;
- `released`  the released code's recipe as DESIGN.md §6 describes it: fp32 with TF32 off,
              BE as a Python loop over samples × frames, and a per-parameter momentum loop;
- `fp32`      this package's code in fp32 with TF32 off (isolates the precision).

Columns: ms per step, clips per second (every clip that goes through a network forward),
peak GPU memory, and MFU: model FLOPs per second (counted by torch's FlopCounterMode on one
step) over a bf16 (fp32 on CPU) matmul peak measured in the same run. Compare numbers only
from the same card and the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from bepaper.config import AugmentConfig, PretrainConfig, build_config
from bepaper.methods import build_method

RECIPES = ("default", "compile", "released", "fp32")


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 8192, reps: int = 10) -> float:
    """FLOP/s of a large square matmul on this device (a measured, not a datasheet, peak)."""
    if device.type == "cpu":
        n, reps = 1024, 5
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def released_be(method):
    """BE as a Python loop over samples and frames (one λ per batch, as released)."""

    def loop(x, gamma, *, lambda_per_batch=False, generator=None):
        b, _, t = x.shape[:3]
        lam = float(torch.rand(1)) * gamma
        out = torch.empty_like(x)
        for i in range(b):
            k = int(torch.randint(t, (1,)))
            for j in range(t):
                out[i, :, j] = (1 - lam) * x[i, :, j] + lam * x[i, :, k]
        return out

    method._distract = loop


def released_momentum(method) -> None:
    """The per-parameter momentum loop, for MoCo."""
    if not hasattr(method, "momentum_update"):
        return

    @torch.no_grad()
    def update():
        m = method.opts.momentum
        for pk, pq in zip(method.encoder_k.parameters(), method.encoder_q.parameters(),
                          strict=True):  # fmt: skip
            pk.mul_(m).add_(pq.detach(), alpha=1 - m)

    method.momentum_update = update


def build(args, recipe: str, device: torch.device):
    overrides = [
        f"method.name={args.method}",
        f"method.be={args.be}",
        f"model.backbone={args.backbone}",
        f"model.width={args.width}",
    ]
    if args.method == "moco":
        overrides += [f"method.queue_size={args.queue}", f"method.hard_negatives={args.hn}"]
    cfg = build_config(PretrainConfig, overrides=overrides)
    torch.manual_seed(0)
    method = build_method(cfg.model, cfg.method).to(device)
    if recipe == "released":
        released_be(method)
        released_momentum(method)
    if recipe in ("default", "compile") and device.type == "cuda":
        method.to(memory_format=torch.channels_last_3d)
    if recipe == "compile":
        method.backbone.compile()
    return cfg, method


def run(args, recipe: str, device: torch.device) -> dict:
    cuda = device.type == "cuda"
    fast = recipe in ("default", "compile")
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = fast
        torch.backends.cudnn.allow_tf32 = fast
    cfg, method = build(args, recipe, device)
    opt = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.01,
                          momentum=0.9)  # fmt: skip
    aug = AugmentConfig(crop_size=args.size)
    load = int(args.size * 8 / 7)
    n = method.sampler().num_clips
    clips = torch.randint(0, 256, (args.batch, n, args.frames, load, load, 3), dtype=torch.uint8,
                          device=device)  # fmt: skip
    mem = torch.channels_last_3d if (cuda and fast) else None
    amp = cuda and fast
    gen = torch.Generator(device).manual_seed(0)
    forward_clips = {}

    def step() -> None:
        views = method.views(clips, aug, gen)
        if mem is not None:
            views = {k: v.contiguous(memory_format=mem) if v.dim() == 5 else v
                     for k, v in views.items()}  # fmt: skip
        forward_clips["n"] = sum(v.shape[0] for v in views.values() if v.dim() == 5)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss, _ = method(views)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    flops = float("nan")
    with contextlib.suppress(Exception):  # FLOP counting is best effort (compiled graphs)
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            step()
        flops = counter.get_total_flops()
    _sync(device)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    _sync(device)
    ms = (time.perf_counter() - t0) / args.steps * 1000
    return {
        "recipe": recipe,
        "ms": ms,
        "clips_s": forward_clips["n"] * 1000 / ms,
        "mem": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else float("nan"),
        "flops": flops,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--method", default="moco", help="moco | rotnet | puzzle | vcop")
    p.add_argument("--be", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--hn", action=argparse.BooleanOptionalAction, default=True,
                   help="MoCo's hard negatives")  # fmt: skip
    p.add_argument("--backbone", default="r3d18")
    p.add_argument("--width", type=int, default=0)
    p.add_argument("--size", type=int, default=112, help="crop side fed to the network")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--queue", type=int, default=16384)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--recipe", nargs="+", default=["default", "released"], choices=RECIPES)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    a = p.parse_args()
    dev = torch.device(a.device)
    peak = matmul_peak(dev, torch.bfloat16 if dev.type == "cuda" else torch.float32)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else (
        f"CPU x{torch.get_num_threads()} threads")  # fmt: skip
    print(f"{name} | torch {torch.__version__} | {a.method}{'+be' if a.be else ''} "
          f"{a.backbone} (width {a.width or 'published'}) {a.frames}x{a.size}² B={a.batch} | "
          f"matmul peak {peak / 1e12:.3g} TFLOP/s")  # fmt: skip
    print("| recipe | ms/step | clips/s | peak GiB | GFLOP/step | MFU | speed-up |")
    print("|---|---|---|---|---|---|---|")
    rows = [run(a, r, dev) for r in a.recipe]
    base = next((r for r in rows if r["recipe"] == "released"), rows[-1])
    for r in rows:
        mfu = r["flops"] / (r["ms"] / 1000) / peak
        print(f"| {r['recipe']} | {r['ms']:.1f} | {r['clips_s']:.0f} | {r['mem']:.1f} | "
              f"{r['flops'] / 1e9:.1f} | {mfu:.3f} | {base['ms'] / r['ms']:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
