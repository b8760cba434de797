"""Memory soak: read many clips through the real loader and watch memory.

    python bench/soak.py [--out DIR] [--clips 5000] [--workers 2] [--backend decord]

Generates a tiny SynthBias set (plus two unreadable files, so the skip path runs too),
then reads `--clips` clips with `PretrainClips` (a clip and its hard negative per sample)
through one DataLoader with worker processes, as pretraining does. Every few batches it
reads the memory of the main process and of its workers from /proc: VmRSS, and Pss (which
splits the pages that fork shares between the processes, so the sum is not inflated).
Growth is measured from the end of the warm-up (the first 10% of the clips); the target is
under 100 MB. A benchmark: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from bepaper.config import DataConfig
from bepaper.data.datasets import PretrainClips, collate, load_split
from bepaper.data.splits import VideoItem
from bepaper.data.synthbias import generate
from bepaper.runs import RunDir


def _kib(pid: int, file: str, key: str) -> int:
    """A 'Key:   123 kB' field of /proc/<pid>/<file>, in KiB (0 if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def children(pid: int) -> list[int]:
    """All descendants of `pid` (DataLoader workers), from /proc/<pid>/task/*/children."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(x) for x in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
        for kid in kids:
            found += [kid, *children(kid)]
    return found


def memory() -> dict[str, float]:
    """MiB: RSS and PSS of the main process and the sum over main + workers."""
    main = os.getpid()
    tree = [main, *children(main)]
    rss = [_kib(p, "status", "VmRSS") for p in tree]
    pss = [_kib(p, "smaps_rollup", "Pss") for p in tree]
    return {
        "procs": len(tree),
        "main_rss": rss[0] / 1024,
        "tree_rss": sum(rss) / 1024,
        "tree_pss": sum(pss) / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="data folder (default: a new temp folder)")
    parser.add_argument("--clips", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--backend", default="decord")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bepaper-soak-"))
    folder = generate(
        out / "synthbias", size="tiny", analogues=("ucf101like",), workers=1, progress=False
    )["ucf101like"]
    (folder / "videos" / "soak_zero.avi").write_bytes(b"")
    (folder / "videos" / "soak_garbage.avi").write_bytes(os.urandom(4000))
    cfg = DataConfig(
        root=str(folder),
        backend=args.backend,
        num_frames=8,
        stride=2,
        load_size=32,
        workers=args.workers,
    )
    video_root, split = load_split(cfg, 1)
    _, split2 = load_split(cfg, 2)
    videos = list(dict.fromkeys(split.train + split.test + split2.train + split2.test))
    videos += [VideoItem("soak_zero.avi", 0), VideoItem("soak_garbage.avi", 0)]
    # PretrainClips gives a clip and its hard negative; the 2 unreadable files give nothing.
    samples = -(-args.clips * len(videos) // (2 * (len(videos) - 2)))
    items = (videos * (samples // len(videos) + 1))[:samples]
    run = RunDir(out / "run", {}, "soak")
    run.open()
    ds = PretrainClips(video_root, items, cfg, on_skip=run.record_skip, seed=0)
    loader = DataLoader(
        ds,
        batch_size=args.batch,
        shuffle=True,
        num_workers=args.workers,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(0),
    )
    print(
        f"{len(videos)} distinct videos (2 unreadable), {samples} samples (up to "
        f"{2 * samples} clips) of {cfg.num_frames} x {cfg.load_size}^2, {args.workers} "
        f"workers, backend {args.backend}; torch {torch.__version__}, {os.cpu_count()} CPUs"
    )
    print(f"{'clips':>6} {'procs':>5} {'main RSS':>9} {'tree RSS':>9} {'tree PSS':>9}  (MiB)")

    clips, warm, rows, t0 = 0, None, [], time.time()
    next_report = 0
    for i, batch in enumerate(loader):
        if batch is not None:
            clips += 2 * len(batch["clip"])
        if clips >= next_report or i == len(loader) - 1:  # workers still alive at the last
            m = memory()
            rows.append((clips, m))
            print(
                f"{clips:6d} {m['procs']:5d} {m['main_rss']:9.1f} {m['tree_rss']:9.1f} "
                f"{m['tree_pss']:9.1f}"
            )
            if warm is None and clips >= args.clips // 10:
                warm = m
            next_report += max(args.clips // 20, 1)
    seconds = time.time() - t0
    end = rows[-1][1]
    after = [m for c, m in rows if warm is not None and c >= args.clips // 10]
    peak = {k: max(m[k] for m in after) for k in ("main_rss", "tree_rss", "tree_pss")}
    print(
        f"\nread {clips} clips in {seconds:.1f} s ({clips / seconds:.0f} clips/s); "
        f"skipped {len(run.skipped())} distinct unreadable files "
        f"({sum(1 for it in items if it.path.startswith('soak_'))} reads)"
    )
    for key, name in (
        ("main_rss", "main RSS"),
        ("tree_rss", "main + workers RSS"),
        ("tree_pss", "main + workers PSS"),
    ):
        print(
            f"{name:20s} after warm-up {warm[key]:7.1f} MiB, at the end {end[key]:7.1f} MiB, "
            f"peak {peak[key]:7.1f} MiB: growth {end[key] - warm[key]:+6.1f} MiB "
            f"(peak {peak[key] - warm[key]:+6.1f})"
        )
    growth = max(peak[k] - warm[k] for k in ("tree_rss", "tree_pss"))
    print(f"target: growth under 100 MB -> {'met' if growth * 1.048576 < 100 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
