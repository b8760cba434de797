"""Parameter count and the time of one forward + backward of every registered backbone, fp32,
1 warm-up and N timed steps (time.perf_counter). Prints a Markdown table.

    python bench/backbones.py                       # default widths, 2 x 3 x 16 x 112 x 112
    python bench/backbones.py --models i3d s3d --size 224 --threads 16
    python bench/backbones.py --width 8 --frames 8 --size 32   # CPU-preset sizes
    python bench/backbones.py --csv bench/results/backbones_cpu.csv  # also a result file

Timings on a shared machine are only as quiet as it is: the load average is printed too.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from bepaper.models import MODELS, build_backbone, feature_shape
from bepaper.report import machine
from bepaper.runs import atomic_path


def step_seconds(net: torch.nn.Module, x: torch.Tensor, repeats: int) -> list[float]:
    """Seconds of `repeats` forward + backward passes, after one warm-up pass."""
    times = []
    for i in range(repeats + 1):
        net.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        net(x).mean().backward()
        if i:
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--width", type=int, default=0, help="0 = each backbone's published width")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--csv", type=Path, help="also write the rows here (docs quote this file)")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    shape = (a.batch, 3, a.frames, a.size, a.size)
    print(
        f"torch {torch.__version__}, {a.threads} threads, {platform.processor() or 'cpu'}, "
        f"load average {os.getloadavg()[0]:.1f}; input {' x '.join(map(str, shape))}, fp32, "
        f"forward + backward, 1 warm-up + {a.repeats} timed\n"
    )
    load = os.getloadavg()[0]
    rows = []
    print("| model | width | parameters | feature map | mean s | min s |")
    print("| --- | --- | ---: | --- | ---: | ---: |")
    for name in a.models:
        torch.manual_seed(0)
        net = build_backbone(name, a.width)
        x = torch.randn(shape)
        out = feature_shape(name, a.frames, a.size, a.width)
        times = step_seconds(net, x, a.repeats)
        params = sum(q.numel() for q in net.parameters())
        print(
            f"| {name} | {a.width or 'default'} | {params:,} | {'x'.join(map(str, out))} "
            f"| {statistics.mean(times):.2f} | {min(times):.2f} |",
            flush=True,
        )
        rows.append({
            "model": name, "width": a.width or "default", "parameters": params,
            "input": "x".join(map(str, shape)), "threads": a.threads, "repeats": a.repeats,
            "mean_s": round(statistics.mean(times), 2), "min_s": round(min(times), 2),
            "torch": torch.__version__, "machine": machine(), "load_average": round(load, 1),
            "date": time.strftime("%Y-%m-%d"),
        })  # fmt: skip
    if a.csv:
        a.csv.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(a.csv) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"\nwrote {a.csv}")


if __name__ == "__main__":
    main()
