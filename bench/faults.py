"""Fault injection, end to end: broken videos, `bepaper prepare`, and a pretraining killed
with SIGKILL at random points, rerun each time, then compared with an uninterrupted run.

    python bench/faults.py [--out DIR] [--kills 5] [--seed 0] [--epochs 6]

It generates a tiny SynthBias set, adds a dozen kinds of broken files to the training list
of split 1, runs `bepaper prepare` on it, runs one uninterrupted pretraining (the
reference), then runs the same command into another folder, kills it `--kills` times and
reruns it until it finishes. It prints what it tried, what survived and what was lost; the
target is nothing lost. Everything goes through the real `bepaper` command. About 2 to 4
minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import torch

from bepaper.checkpoint import latest_checkpoint, load_checkpoint
from bepaper.data.synthbias import generate, write_video
from bepaper.runs import RunDir

SETTINGS = [
    "data.num_frames=8",
    "data.stride=2",
    "data.load_size=32",
    "data.workers=1",
    "augment.crop_size=24",
    "model.backbone=r3d_small",
    "model.width=4",
    "method.queue_size=64",
    "optim.batch_size=8",
    "run.device=cpu",
    "run.deterministic=true",
    "run.progress=false",
]


def bepaper(*args: str) -> list[str]:
    return [sys.executable, "-m", "bepaper.cli", *args]


def _frames(t: int, h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def add_faults(folder: Path) -> list[tuple[str, str, bool]]:
    """Add broken files to a SynthBias analogue and list them in trainlist01.txt.

    Returns (relative path, what it is, whether it should be refused) per file."""
    import cv2

    cls = (folder / "splits" / "classInd.txt").read_text().split()[1]
    videos = folder / "videos" / cls
    good = sorted(videos.glob("*.avi"))[0]
    data = good.read_bytes()
    faults: list[tuple[str, str, bool]] = []

    def add(name: str, what: str, refuse: bool) -> Path:
        faults.append((f"{cls}/{name}", what, refuse))
        return videos / name

    add("f_zero.avi", "zero bytes", True).write_bytes(b"")
    for pct in (5, 30, 50, 90):
        add(f"f_trunc{pct}.avi", f"truncated at {pct}% of {len(data)} bytes", True).write_bytes(
            data[: len(data) * pct // 100]
        )
    add("f_header.avi", "header only (first 600 bytes)", True).write_bytes(data[:600])
    add("f_garbage.avi", "5000 random bytes", True).write_bytes(
        np.random.default_rng(0).bytes(5000)
    )
    with wave.open(str(add("f_audio.avi", "a WAV sound file named .avi", True)), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(16000))
    png = cv2.imencode(".png", _frames(1, 32, 32, 9)[0])[1].tobytes()
    add("f_image.avi", "a PNG image named .avi", True).write_bytes(png)
    write_video(add("f_1frame.avi", "a 1-frame video (looped)", False), _frames(1, 32, 32, 1), 25)
    write_video(add("f_3frames.avi", "a 3-frame video (looped)", False), _frames(3, 32, 32, 2), 25)
    mjpg = cv2.VideoWriter_fourcc(*"MJPG")
    out = cv2.VideoWriter(
        str(add("f_33x17.avi", "33 x 17 pixels (MJPEG)", False)), mjpg, 25, (33, 17)
    )
    for frame in _frames(24, 17, 33, 3):
        out.write(frame)
    out.release()
    write_video(add("f_7fps.avi", "7 frames per second", False), _frames(24, 32, 32, 4), 7)
    add("f_missing.avi", "listed in the split, not on disk", True)
    add("f_folder.avi", "a directory where the file should be", True).mkdir()
    locked = add("f_noperm.avi", "a good video with permissions 000", os.geteuid() != 0)
    shutil.copy(good, locked)
    locked.chmod(0)
    with open(folder / "splits" / "trainlist01.txt", "a", newline="") as f:
        f.writelines(f"{path} 1\r\n" for path, _, _ in faults)
    return faults


def check_prepare(root: Path, faults: list[tuple[str, str, bool]]) -> list[str]:
    print(f"\n$ bepaper prepare synthbias --root {root}")
    proc = subprocess.run(
        bepaper("prepare", "synthbias", "--root", str(root)), capture_output=True, text=True
    )
    print(proc.stdout.rstrip())
    print(
        f"(exit code {proc.returncode}; {len(proc.stderr.splitlines())} lines of decoder "
        "messages on stderr not shown)"
    )
    flagged = {line.split(": ", 1)[0] for line in proc.stdout.splitlines()[:-1]}
    misses = []
    print("\nfault                                    expected   prepare")
    for path, what, refuse in faults:
        got = path in flagged
        note = "" if got == refuse else "   <-- differs"
        print(
            f"  {what:38s} {'refuse' if refuse else 'use':9s}  {'flagged' if got else 'ok'}{note}"
        )
        if got != refuse:
            misses.append(f"prepare: {what} ({path}) {'not ' if refuse else ''}flagged")
    if os.geteuid() == 0:
        print("  (running as root: permission bits do not stop reads, so the 000 file is read)")
    if proc.returncode != (1 if flagged else 0):
        misses.append(f"prepare exit code {proc.returncode}")
    return misses


def state(run: Path) -> str:
    ckpt = latest_checkpoint(run / "checkpoints")
    lines = (
        (run / "metrics.jsonl").read_text().count("\n") if (run / "metrics.jsonl").exists() else 0
    )
    temps = len(list(run.rglob(".tmp-*")))
    return (
        f"last checkpoint {ckpt.name if ckpt else 'none'}, {lines} metrics lines, "
        f"{temps} temp files, finished={(run / 'finished.json').exists()}"
    )


def timeless(obj):
    """A record without its wall-clock times."""
    if isinstance(obj, dict):
        return {k: timeless(v) for k, v in obj.items() if k != "seconds"}
    return obj


def same(a, b) -> bool:
    """Deep equality of checkpoint contents, tensors compared exactly."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def compare(ref: Path, run: Path) -> dict[str, bool]:
    """Whether each result of two finished pretraining folders is identical (times aside)."""

    def metrics(r: Path) -> dict:
        return timeless(json.loads((r / "metrics.json").read_text()))

    def epochs(r: Path) -> list[dict]:
        return [timeless(json.loads(x)) for x in (r / "metrics.jsonl").read_text().splitlines()]

    def last(r: Path) -> dict:
        return load_checkpoint(latest_checkpoint(r / "checkpoints"))

    return {
        "metrics.json (final metrics, skipped_videos)": metrics(ref) == metrics(run),
        "metrics.jsonl (every epoch)": epochs(ref) == epochs(run),
        "skipped.jsonl (paths and reasons)": RunDir(ref, {}, "").skipped()
        == RunDir(run, {}, "").skipped(),
        "backbone.pt": same(
            load_checkpoint(ref / "backbone.pt")["backbone"],
            load_checkpoint(run / "backbone.pt")["backbone"],
        ),
        "last checkpoint: model": same(last(ref)["model"], last(run)["model"]),
        "last checkpoint: optimizer": same(last(ref)["optimizer"], last(run)["optimizer"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="work folder (default: a new temp folder)")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bepaper-faults-"))
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    rng = random.Random(args.seed)
    print(f"work folder: {out}  (torch {torch.__version__}, {os.cpu_count()} CPUs)")

    # ------------------------------------------------------------ data and prepare
    clean = generate(
        out / "synthbias", size="tiny", analogues=("ucf101like",), workers=1, progress=False
    )["ucf101like"]
    root = out / "broken" / "ucf101like"
    if root.exists():
        for p in root.rglob("*"):
            p.chmod(0o755)
        shutil.rmtree(root)
    shutil.copytree(clean, root)
    faults = add_faults(root)
    print(f"\ntried {len(faults)} broken files, all listed in trainlist01.txt:")
    for path, what, _ in faults:
        print(f"  {path:32s} {what}")
    missed = check_prepare(root, faults)
    lost: list[str] = []

    # ------------------------------------------------------------ reference run
    runs = out / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    settings = [*SETTINGS, f"data.root={root}", f"optim.epochs={args.epochs}"]

    def command(run: Path) -> list[str]:
        return bepaper("pretrain", *settings, f"run.out={run}")

    ref, run = runs / "reference", runs / "killed"
    t0 = time.time()
    proc = subprocess.run(command(ref), capture_output=True, text=True)
    t_ref = time.time() - t0
    if proc.returncode != 0:
        print(proc.stderr[-3000:])
        return 1
    epoch_s = [
        r["seconds"] for r in map(json.loads, (ref / "metrics.jsonl").read_text().splitlines())
    ]
    overhead = max(t_ref - sum(epoch_s), 1.0)
    print(
        f"\nuninterrupted pretraining: {args.epochs} epochs in {t_ref:.1f} s "
        f"(epochs {', '.join(f'{s:.1f}' for s in epoch_s)} s; the rest is start-up and saving)"
    )

    # ------------------------------------------------------------ killed runs
    def logged() -> int:
        path = run / "metrics.jsonl"
        return path.read_text().count("\n") if path.exists() else 0

    def epochs_done() -> int:
        ckpt = latest_checkpoint(run / "checkpoints")
        return load_checkpoint(ckpt)["epoch"] if ckpt else 0

    print(f"\n$ bepaper pretrain ... run.out={run}   killed {args.kills} times with SIGKILL")
    phases = []
    epoch_time = sorted(epoch_s)[len(epoch_s) // 2]
    for k in range(1, args.kills + 1):
        before = epochs_done()
        # A random moment: during start-up (always the first kill), or a random time after
        # the record of the next epoch (so possibly while its checkpoint is written).
        startup = k == 1 or before >= args.epochs - 1 or rng.random() < 0.3
        target = before if startup else before + 1
        whole_group = k % 2 == 0
        proc = subprocess.Popen(
            command(run),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        t0 = time.time()
        while proc.poll() is None and not startup and logged() < target:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, overhead * 0.8 if startup else epoch_time))
        if proc.poll() is not None:
            print(f"  kill {k}: the run had ended (exit {proc.returncode}) before the kill")
            if proc.returncode != 0:
                lost.append(f"run {k} ended with exit code {proc.returncode}")
            break
        if whole_group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            os.kill(proc.pid, signal.SIGKILL)  # its DataLoader worker notices and exits
        proc.wait()
        after = epochs_done()
        phases.append("start-up" if after == before else "training")
        where = "in start-up" if startup else f"after the record of epoch {target}"
        what = "process group" if whole_group else "main process"
        print(
            f"  kill {k} ({what}) at {time.time() - t0:4.1f} s, {where}: epochs done "
            f"{before} -> {after}; {state(run)}"
        )
    if (run / "finished.json").exists():
        print("  the run finished before the last kill; no rerun needed")
    else:
        t0 = time.time()
        proc = subprocess.run(command(run), capture_output=True, text=True)
        resumed = [line for line in proc.stdout.splitlines() if line.startswith("resuming")]
        print(
            f"  rerun: exit {proc.returncode} in {time.time() - t0:.1f} s; "
            f"{resumed[0] if resumed else 'started from scratch'}; {state(run)}"
        )
        if proc.returncode != 0:
            print(proc.stderr[-3000:])
            return 1

    # ------------------------------------------------------------ never clobber
    # The same command on a finished run reuses it; another config on it is refused.
    before = (run / "metrics.json").read_bytes()
    proc = subprocess.run(command(run), capture_output=True, text=True)
    reused = proc.returncode == 0 and "reusing finished run" in proc.stdout
    print(f"\nsame command on the finished folder: exit {proc.returncode}, reused={reused}")
    other = subprocess.run([*command(run), "optim.lr=0.02"], capture_output=True, text=True)
    print(
        f"another config on the finished folder: exit {other.returncode}, "
        f"{other.stderr.strip().splitlines()[-1] if other.stderr.strip() else ''}"
    )
    unchanged = (run / "metrics.json").read_bytes() == before
    if not (reused and other.returncode == 2 and unchanged):
        lost.append("a finished run was reopened or changed")

    # ------------------------------------------------------------ compare
    print("\nkilled-and-resumed run vs uninterrupted run:")
    for item, identical in compare(ref, run).items():
        print(f"  {item:48s} {'identical' if identical else 'DIFFERS'}")
        if not identical:
            lost.append(f"{item} differs")
    skipped = RunDir(run, {}, "").skipped()
    reported = json.loads((run / "metrics.json").read_text())["skipped_videos"]
    print(f"  skipped videos: {len(skipped)} in skipped.jsonl, {reported} in metrics.json")
    print("\nsummary")
    print(
        f"  broken files: {len(faults)} kinds; prepare disagreed with the expectation on "
        f"{len(missed)}" + "".join(f"\n    - {m}" for m in missed)
    )
    print(
        f"  kills: {len(phases)} ({phases.count('start-up')} before any new checkpoint, "
        f"{phases.count('training')} after at least one more epoch)"
    )
    print(f"  lost: {'nothing' if not lost else len(lost)}" + "".join(f"\n    - {x}" for x in lost))
    print(f"total time {time.time() - t_start:.0f} s")
    return 0 if not lost and not missed else 1


if __name__ == "__main__":
    sys.exit(main())
