"""Loader speed: clips/s from disk vs from the in-memory video bank.

    python bench/loader.py [--root data/synthbias/default] [--workers 0 1 2]
                           [--frames 8 16] [--stride 2] [--size 40] [--epochs 3]

On SynthBias `default` ucf101like (generated under --root if absent), split 1 training
videos, it times:
- `disk`: `PretrainClips` (a clip and its hard negative per sample, `ClipAndHardNegative`)
  through a `DataLoader` with `collate`, decoding the files, for each worker count;
- `bank reader`: the same dataset and loader with `opener=bank.open` (frames from memory);
- `bank gather`: `bank.clips(ids, starts, T, stride)` on batches of ids, no DataLoader;
- the bank's build time (serial, threads, processes).
Throughput is in clips/s (two clips per sample), over the epochs after a first warm-up
epoch, with persistent workers. A benchmark: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from bepaper.config import DataConfig
from bepaper.data.datasets import PretrainClips, collate, load_split
from bepaper.data.memory import VideoBank
from bepaper.data.sampling import ClipAndHardNegative
from bepaper.data.synthbias import generate


def loader_rate(ds: PretrainClips, workers: int, batch: int, epochs: int) -> float:
    """clips/s through a DataLoader over `epochs` epochs after one warm-up epoch."""
    loader = DataLoader(
        ds,
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        collate_fn=collate,
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(0),
    )
    clips = 0
    for epoch in range(epochs + 1):
        ds.set_epoch(epoch)  # workers hold their own copy: only the warm-up epoch's is used
        if epoch == 1:
            start, clips = time.perf_counter(), 0
        for b in loader:
            clips += b["clips"].shape[0] * b["clips"].shape[1]
    return clips / (time.perf_counter() - start)


def gather_rate(bank: VideoBank, frames: int, stride: int, batch: int, epochs: int) -> float:
    """clips/s of `bank.clips` on shuffled batches (two clips per video, random starts)."""
    gen = torch.Generator().manual_seed(0)
    clips = 0
    for epoch in range(epochs + 1):
        if epoch == 1:
            start, clips = time.perf_counter(), 0
        order = torch.randperm(len(bank), generator=gen)
        for ids in order.split(batch):
            starts = torch.stack(
                [bank.random_starts(ids, frames, stride, gen) for _ in range(2)], 1
            )
            out = bank.clips(ids, starts, frames, stride)  # B x 2 x T x S x S x 3
            clips += out.shape[0] * out.shape[1]
    return clips / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--synth-size", default="default", help="SynthBias size (tiny|default|study)"
    )
    parser.add_argument(
        "--root", type=Path, default=None, help="default: data/synthbias/<synth-size>"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--frames", type=int, nargs="+", default=[8])
    parser.add_argument("--stride", type=int, default=2)
    parser.add_argument("--size", type=int, default=0, help="load_size (0 = the frame side)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after a warm-up)")
    parser.add_argument("--backend", default="decord")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads of the main process (0 = default)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from bepaper.data.synthbias import SIZES

    root = args.root or Path("data/synthbias") / args.synth_size
    folder = generate(root, size=args.synth_size, analogues=("ucf101like",), progress=False)
    size = args.size or SIZES[args.synth_size]["ucf101like"].frame_size
    cfg = DataConfig(root=str(folder["ucf101like"]), backend=args.backend, load_size=size)
    video_root, split = load_split(cfg)
    items = split.train
    print(
        f"{len(items)} videos (SynthBias {args.synth_size} ucf101like, split 1 train), "
        f"{args.backend}"
    )
    print(
        f"cpus {os.cpu_count()}, torch threads {torch.get_num_threads()}, "
        f"load average before: {os.getloadavg()}"
    )

    print("\nbank build (decode + resize every video once):")
    bank = None
    for workers, parallel in [(0, "thread"), (2, "thread"), (2, "process")]:
        t0 = time.perf_counter()
        bank = VideoBank.build(
            video_root, items, size, args.backend, workers, parallel=parallel, progress=False
        )
        plural = {"thread": "threads", "process": "processes"}[parallel]
        label = "serial" if workers == 0 else f"{workers} {plural}"
        print(f"  {label:11s} {time.perf_counter() - t0:6.2f} s  ({bank.nbytes / 2**20:.1f} MiB)")

    rows = []
    for frames in args.frames:
        c = DataConfig(
            root=cfg.root,
            backend=args.backend,
            num_frames=frames,
            stride=args.stride,
            load_size=size,
        )
        for workers in args.workers:
            for name, opener in [("disk", None), ("bank reader", bank.open)]:
                ds = PretrainClips(
                    video_root, items, c, sampler=ClipAndHardNegative(), opener=opener
                )
                rows.append(
                    (name, workers, frames, loader_rate(ds, workers, args.batch, args.epochs))
                )
                print(
                    f"  {rows[-1][0]:12s} workers {workers} T {frames}: {rows[-1][3]:8.0f} clips/s",
                    flush=True,
                )
        rate = gather_rate(bank, frames, args.stride, args.batch, args.epochs)
        rows.append(("bank gather", "-", frames, rate))

    print(f"\nload average after: {os.getloadavg()}")
    print("\n| path | workers | clip | clips/s |\n| --- | --- | --- | --- |")
    for name, workers, frames, rate in rows:
        print(f"| {name} | {workers} | {frames} x {size}², stride {args.stride} | {rate:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
