"""Reliability (issue #3): bad videos, killed and resumed runs, never clobbering a finished
run, non-finite losses, disk faults and concurrent runs. See docs/reliability.md.

Everything runs on one tiny SynthBias set generated once per session, with a network and
clips small enough that a whole pretraining takes a few seconds on a CPU.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from bepaper.checkpoint import load_checkpoint
from bepaper.config import FinetuneConfig, PretrainConfig, build_config
from bepaper.data.datasets import PretrainClips
from bepaper.data.sampling import RandomClips, clip_indices
from bepaper.data.splits import VideoItem
from bepaper.data.synthbias import generate, write_video
from bepaper.errors import BepaperError, DataError
from bepaper.runs import RunDir
from bepaper.video import open_video

# 4 frames of 16 x 16, a 4-channel-wide R3D: a pretraining epoch is two steps.
TINY = [
    "data.num_frames=4",
    "data.stride=2",
    "data.load_size=16",
    "data.workers=0",
    "augment.crop_size=16",
    "model.backbone=r3d_small",
    "model.width=4",
    "method.queue_size=32",
    "optim.batch_size=16",
    "optim.epochs=3",
    "run.device=cpu",
    "run.deterministic=true",
    "run.progress=false",
    "run.tensorboard=false",
]
# Broken files added to the training list of split 1: (name, what it is).
UNUSABLE = {
    "b_zero.avi": "zero bytes",
    "b_header.avi": "the first 600 bytes of a video (header only)",
    "b_trunc30.avi": "cut at 30%",
    "b_garbage.avi": "random bytes",
    "b_audio.avi": "a WAV file named .avi",
    "b_missing.avi": "listed but not on disk",
    "b_folder.avi": "a directory where the file should be",
}
USABLE = {
    "b_1frame.avi": "one frame (looped)",
    "b_3frames.avi": "three frames (looped)",
    "b_33x17.avi": "33 x 17 pixels, MJPEG",
    "b_7fps.avi": "7 frames per second",
}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bepaper.cli", *args]


def overrides(root: Path, out: Path, *extra: str) -> list[str]:
    return [*TINY, f"data.root={root}", f"run.out={out}", *extra]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a run folder but its .lock (which names the process that last held it)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".lock"
    }


WALL_CLOCK = ("seconds", "samples_per_s", "data_wait")


def timeless(record: dict) -> dict:
    """A result or metrics record without its wall-clock measurements."""
    return {
        k: timeless(v) if isinstance(v, dict) else v
        for k, v in record.items()
        if k not in WALL_CLOCK
    }


def records(run: Path) -> list[dict]:
    """metrics.jsonl without the wall-clock times."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [timeless(json.loads(line)) for line in lines]


def assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _frames(t: int, h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def add_broken_videos(folder: Path) -> tuple[set[str], set[str]]:
    """Add UNUSABLE and USABLE files to `folder` (a SynthBias analogue) and list them in
    trainlist01.txt. Returns their relative paths (unusable, usable)."""
    import cv2

    cls = (folder / "splits" / "classInd.txt").read_text().split()[1]  # class 1
    videos = folder / "videos" / cls
    good = sorted(videos.glob("*.avi"))[0].read_bytes()
    (videos / "b_zero.avi").write_bytes(b"")
    (videos / "b_header.avi").write_bytes(good[:600])
    (videos / "b_trunc30.avi").write_bytes(good[: len(good) * 3 // 10])
    (videos / "b_garbage.avi").write_bytes(np.random.default_rng(0).bytes(5000))
    with wave.open(str(videos / "b_audio.avi"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(16000))
    (videos / "b_folder.avi").mkdir()
    write_video(videos / "b_1frame.avi", _frames(1, 32, 32, 1), fps=25)
    write_video(videos / "b_3frames.avi", _frames(3, 32, 32, 2), fps=25)
    write_video(videos / "b_7fps.avi", _frames(24, 32, 32, 3), fps=7)
    out = cv2.VideoWriter(
        str(videos / "b_33x17.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (33, 17)
    )
    for frame in _frames(24, 17, 33, 4):
        out.write(frame)
    out.release()
    with open(folder / "splits" / "trainlist01.txt", "a", newline="") as f:
        for name in [*UNUSABLE, *USABLE]:
            f.write(f"{cls}/{name} 1\r\n")
    return {f"{cls}/{n}" for n in UNUSABLE}, {f"{cls}/{n}" for n in USABLE}


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Path:
    """The tiny SynthBias ucf101like analogue: 12 training videos in split 1."""
    out = tmp_path_factory.mktemp("synthbias")
    return generate(out, size="tiny", analogues=("ucf101like",), workers=1, progress=False)[
        "ucf101like"
    ]


@pytest.fixture(scope="session")
def broken(synth, tmp_path_factory) -> tuple[Path, set[str], set[str]]:
    """A copy of `synth` whose split-1 training list also holds 7 unusable and 4 odd but
    usable files (23 listed, one batch of 16 and one of 7 per epoch)."""
    folder = tmp_path_factory.mktemp("broken") / "ucf101like"
    shutil.copytree(synth, folder)
    unusable, usable = add_broken_videos(folder)
    return folder, unusable, usable


@pytest.fixture(scope="session")
def reference(broken, tmp_path_factory) -> tuple[Path, dict]:
    """An uninterrupted in-process pretraining on `broken` (3 epochs): (run folder, result)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    result = _pretrain(broken[0], out)
    return out, result


def _pretrain(root: Path, out: Path, *extra: str) -> dict:
    from bepaper.train import pretrain

    return pretrain(build_config(PretrainConfig, [], overrides(root, out, *extra)))


def _same_as_reference(run: Path, result: dict, reference: tuple[Path, dict]) -> None:
    ref_run, ref_result = reference
    assert timeless(result["final"]) == timeless(ref_result["final"])
    assert result["skipped_videos"] == ref_result["skipped_videos"]
    assert records(run) == records(ref_run)
    assert_same_tensors(
        load_checkpoint(run / "backbone.pt")["backbone"],
        load_checkpoint(ref_run / "backbone.pt")["backbone"],
    )


# ---------------------------------------------------------------- bad videos


def test_bad_videos_are_skipped_logged_and_counted(broken, tmp_path):
    """Worker processes skip each unusable file; odd but readable files are used."""
    root, unusable, usable = broken
    result = _pretrain(root, tmp_path / "run", "data.workers=1", "optim.epochs=1")
    skipped = RunDir(tmp_path / "run", {}, "pretrain").skipped()
    assert set(skipped) == unusable
    assert all(reason.strip() for reason in skipped.values())
    assert skipped[next(p for p in unusable if p.endswith("b_missing.avi"))] == "file not found"
    assert result["skipped_videos"] == len(unusable) == 7
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["skipped_videos"] == 7
    assert result["final"]["steps"] == 2  # 16 listed videos were read: 12 good + 4 odd


def test_persistent_worker_processes_give_the_in_process_result(broken, reference, tmp_path):
    """Two worker processes kept across the 3 epochs (they never see `set_epoch`; the epoch
    travels with each index) draw the same clips, skip the same files and end with the same
    weights and per-epoch records as loading in the training process."""
    run = tmp_path / "run"
    _same_as_reference(run, _pretrain(broken[0], run, "data.workers=2"), reference)


def test_workers_do_not_change_a_run_that_draws_from_the_global_rng(synth, tmp_path):
    """Clip Order's head uses dropout, which draws from torch's global RNG; making a new
    DataLoader iterator draws from it too, and reusing a persistent one does not."""
    weights = []
    for workers in (0, 2):
        run = tmp_path / f"w{workers}"
        _pretrain(synth, run, "method.name=vcop", f"data.workers={workers}")
        weights.append(load_checkpoint(run / "backbone.pt")["backbone"])
    assert_same_tensors(*weights)


def test_each_epoch_seeds_the_global_rng_before_its_first_dropout(synth, tmp_path, monkeypatch):
    """The RNG contract of the stored results: each epoch seeds the global RNG with
    epoch_seed(seed, epoch, 2) after its loader iterator exists, and nothing draws from it
    before the first dropout mask. Another draw in between gives other masks and other
    numbers for the same run name (a RESULTS_VERSION bump)."""
    from torch import nn

    from bepaper.train import epoch_seed

    states, forward = [], nn.Dropout.forward

    def recording(self, x):
        states.append(torch.get_rng_state())
        return forward(self, x)

    monkeypatch.setattr(nn.Dropout, "forward", recording)
    run = tmp_path / "run"
    _pretrain(synth, run, "method.name=vcop", "data.workers=2", "run.seed=5")
    steps = [json.loads(x)["steps"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) == 3 and len(states) == sum(steps)
    for epoch in range(3):
        torch.manual_seed(epoch_seed(5, epoch, 2))
        assert torch.equal(states[sum(steps[:epoch])], torch.get_rng_state()), epoch


def test_a_results_version_bump_retrains_instead_of_reusing(synth, tmp_path, monkeypatch):
    """Run identities are configs; a code change that alters what a config trains to bumps
    bepaper.identity.RESULTS_VERSION, and then an old finished run is not taken for a new one."""
    import bepaper.identity as identity
    from bepaper.identity import run_folder

    auto = build_config(PretrainConfig, [], [*TINY, f"data.root={synth}", f"run.root={tmp_path}"])
    v1 = run_folder(auto, "pretrain")
    now = identity.RESULTS_VERSION
    assert identity.run_identity(auto, "pretrain")["results_version"] == now
    _pretrain(synth, tmp_path / "run")
    monkeypatch.setattr(identity, "RESULTS_VERSION", now + 1)
    assert run_folder(auto, "pretrain").parent == v1.parent
    assert run_folder(auto, "pretrain") != v1  # an automatic folder: a new run
    with pytest.raises(BepaperError, match=f"results_version: {now} -> {now + 1}"):
        _pretrain(synth, tmp_path / "run")  # the old run in an explicit folder: refused


class _Stuck(torch.utils.data.Dataset):
    """A dataset whose worker never returns a sample in time (as a forked worker stuck on an
    inherited lock does)."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int):
        time.sleep(20)
        return {"clip": np.zeros((2, 8, 8, 3), np.uint8), "label": 0, "index": i}


def test_a_stuck_dataloader_worker_is_a_clear_error_not_a_hang(monkeypatch):
    """Training's and evaluation's loaders wait WORKER_TIMEOUT_S for a worker's batch, then
    stop with one DataError that names the cause and the way out (bepaper.data.datasets)."""
    from bepaper.data import datasets
    from bepaper.train import epoch_loader

    monkeypatch.setattr(datasets, "WORKER_TIMEOUT_S", 1)
    loader = epoch_loader(None, _Stuck(), 2, 1, 0, 0, torch.device("cpu"))
    assert (
        loader.timeout == 1
        and epoch_loader(None, _Stuck(), 2, 0, 0, 0, torch.device("cpu")).timeout == 0
    )
    with pytest.raises(DataError, match=r"workers \(data.workers=1\) in 1 s: a worker is stuck"):
        next(datasets.unstuck(iter(loader), 1))
    other = RuntimeError("CUDA error: out of memory")  # any other error passes through

    def failing():
        raise other
        yield

    with pytest.raises(RuntimeError) as err:
        next(datasets.unstuck(failing(), 1))
    assert err.value is other


def test_short_videos_are_looped(broken):
    """The short-video rule (bepaper.data.sampling) on real 1- and 3-frame files."""
    root, _, usable = broken
    cfg = build_config(PretrainConfig, [], [*TINY, "data.load_size=32"]).data  # no resizing
    for name, n in (("b_1frame.avi", 1), ("b_3frames.avi", 3)):
        path = next(p for p in usable if p.endswith(name))
        sample = PretrainClips(root / "videos", [VideoItem(path, 0)], cfg, sampler=RandomClips())[0]
        assert sample is not None and sample["clips"].shape == (1, 4, 32, 32, 3)
        reader = open_video(root / "videos" / path)
        assert reader.num_frames == n
        frames = reader.get(list(range(n)))
        expected = frames[clip_indices(0, 4, 2, n)]  # starts at 0 and wraps around
        np.testing.assert_array_equal(sample["clips"][0], expected)


def test_frames_of_the_wrong_shape_are_skipped(monkeypatch, synth):
    """A decoder returning 4 channels (decord bug #336) skips the video, not the batch."""

    class FourChannels:
        path, num_frames, fps = "x.avi", 10, 25.0

        def get(self, indices):
            return np.zeros((len(indices), 16, 16, 4), np.uint8)

        def close(self):
            pass

    monkeypatch.setattr("bepaper.data.datasets.open_video", lambda path, backend: FourChannels())
    cfg = build_config(PretrainConfig, [], TINY).data
    skips = []
    ds = PretrainClips(
        synth / "videos",
        [VideoItem("x.avi", 0)],
        cfg,
        on_skip=lambda p, r: skips.append(r),
        sampler=RandomClips(),
    )
    assert ds[0] is None
    assert skips and "(16, 16, 4)" in skips[0]


def test_no_readable_video_is_one_clear_error(broken, tmp_path):
    root, unusable, _ = broken
    splits = tmp_path / "splits"
    shutil.copytree(root / "splits", splits)
    (splits / "trainlist01.txt").write_text("".join(f"{p} 1\n" for p in sorted(unusable)))
    with pytest.raises(DataError, match="no readable video: all 7 listed videos"):
        _pretrain(root, tmp_path / "run", f"data.split_dir={splits}")

    (splits / "trainlist01.txt").write_text("")
    with pytest.raises(DataError, match="lists no training videos"):
        _pretrain(root, tmp_path / "empty", f"data.split_dir={splits}")
    assert not (tmp_path / "empty").exists()


def test_prepare_lists_every_unusable_video(broken, synth):
    root, unusable, usable = broken
    procs = [
        subprocess.Popen(
            cli("prepare", "synthbias", "--root", str(r)),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for r in (root, synth)
    ]
    (bad_out, bad_err), (ok_out, _) = (p.communicate(timeout=120) for p in procs)
    assert procs[0].returncode == 1, bad_err
    lines = bad_out.strip().splitlines()
    reported = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in lines[:-1]}
    assert set(reported) == unusable
    assert reported[next(p for p in unusable if p.endswith("b_missing.avi"))] == "missing"
    assert lines[-1] == "listed 27, ok 20, missing 1, unreadable 6"
    assert procs[1].returncode == 0
    assert ok_out.strip().splitlines()[-1] == "listed 16, ok 16, missing 0, unreadable 0"


# ---------------------------------------------------------------- killed runs


def test_kill_9_then_rerun_equals_an_uninterrupted_run(broken, tmp_path):
    """SIGKILL a real `bepaper pretrain` once its first checkpoint exists; a changed config
    is refused; the same command resumes and ends exactly where an uninterrupted run does;
    a finished run is never overwritten. (Independent runs overlap to save time.)"""
    root = broken[0]
    ref, run = tmp_path / "ref", tmp_path / "run"

    def start(out: Path, *extra: str, **kw) -> subprocess.Popen:
        args = cli("pretrain", *overrides(root, out, "optim.epochs=4", *extra))
        return subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
        )

    reference = start(ref)
    victim = start(run, start_new_session=True)
    deadline = time.time() + 120
    while not (run / "checkpoints" / "ckpt_epoch0001.pt").exists():
        assert time.time() < deadline
        assert victim.poll() is None, victim.communicate()
        time.sleep(0.02)
    os.killpg(victim.pid, signal.SIGKILL)  # the run and its DataLoader workers, if any
    victim.communicate()
    assert not (run / "finished.json").exists()
    assert records(run)[0]["epoch"] == 1  # metrics of finished epochs survive

    before = snapshot(run)
    refused = start(run, "optim.lr=0.02")
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == 2
    assert err.strip().splitlines() == [
        f"bepaper: error: cannot resume {run}: config differs: optim.lr: 0.01 -> 0.02"
    ]
    assert snapshot(run) == before
    _, err = reference.communicate(timeout=120)
    assert reference.returncode == 0, err

    finished = snapshot(ref)
    resumed, again = start(run), start(ref)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert f"resuming {run} after epoch" in out
    result = json.loads((run / "metrics.json").read_text())
    expected = json.loads((ref / "metrics.json").read_text())
    assert timeless(result["final"]) == timeless(expected["final"])
    assert result["final"]["epoch"] == 4
    assert result["skipped_videos"] == expected["skipped_videos"] == 7
    assert records(run) == records(ref)
    assert RunDir(run, {}, "").skipped() == RunDir(ref, {}, "").skipped()
    assert_same_tensors(
        load_checkpoint(run / "backbone.pt")["backbone"],
        load_checkpoint(ref / "backbone.pt")["backbone"],
    )
    assert not list(run.rglob(".tmp-*"))

    # The same command on a finished run reuses it (a run is a result) and writes nothing;
    # another config on it is refused, naming the change.
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert f"reusing finished run {ref}" in out
    assert snapshot(ref) == finished
    other = start(ref, "optim.lr=0.02")
    _, err = other.communicate(timeout=120)
    assert other.returncode == 2
    assert err.strip().splitlines() == [
        f"bepaper: error: {ref} holds a finished pretrain run of another config "
        "(optim.lr: 0.01 -> 0.02); choose another output folder or delete it"
    ]
    assert snapshot(ref) == finished


def test_crash_after_the_last_epoch_still_reports_final_metrics(
    broken, reference, tmp_path, monkeypatch
):
    def crash(self, results):
        raise KeyboardInterrupt("killed before finish")

    monkeypatch.setattr(RunDir, "finish", crash)
    with pytest.raises(KeyboardInterrupt):
        _pretrain(broken[0], tmp_path / "run")
    monkeypatch.undo()
    result = _pretrain(broken[0], tmp_path / "run")
    _same_as_reference(tmp_path / "run", result, reference)


def test_crash_while_logging_an_epoch_loses_no_record(broken, reference, tmp_path, monkeypatch):
    """The epoch record is written before the checkpoint, so a crash between the two redoes
    the epoch instead of resuming past a record that was never written."""
    log = RunDir.log

    def crash_on_epoch_2(self, record):
        if record.get("epoch") == 2:
            raise KeyboardInterrupt("killed")
        log(self, record)

    monkeypatch.setattr(RunDir, "log", crash_on_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        _pretrain(broken[0], tmp_path / "run")
    monkeypatch.undo()
    result = _pretrain(broken[0], tmp_path / "run")
    assert [r["epoch"] for r in records(tmp_path / "run")] == [1, 2, 3]
    _same_as_reference(tmp_path / "run", result, reference)


def test_disk_full_while_saving_keeps_the_previous_checkpoint(
    broken, reference, tmp_path, monkeypatch
):
    save = torch.save
    calls = []

    def disk_full_on_2nd_save(obj, f, *args, **kwargs):
        calls.append(f)
        if len(calls) == 2:
            Path(f).write_bytes(b"half a checkpoint")
            raise OSError(28, "No space left on device")
        save(obj, f, *args, **kwargs)

    run = tmp_path / "run"
    monkeypatch.setattr(torch, "save", disk_full_on_2nd_save)
    with pytest.raises(OSError, match="No space left"):
        _pretrain(broken[0], run)
    monkeypatch.undo()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["ckpt_epoch0001.pt"]
    assert load_checkpoint(run / "checkpoints" / "ckpt_epoch0001.pt")["epoch"] == 1
    _same_as_reference(run, _pretrain(broken[0], run), reference)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(broken, tmp_path, monkeypatch):
    from bepaper.methods.moco import MoCo
    from bepaper.train import TrainingError

    forward, calls = MoCo.forward, []

    def nan_from_step_3(self, *args):
        loss, stats = forward(self, *args)
        calls.append(1)
        return (loss * float("nan") if len(calls) >= 3 else loss), stats

    monkeypatch.setattr(MoCo, "forward", nan_from_step_3)
    run = tmp_path / "run"
    with pytest.raises(TrainingError, match=r"loss is nan at epoch 2, step 1; stopped"):
        _pretrain(broken[0], run)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["ckpt_epoch0001.pt"]
    assert load_checkpoint(run / "checkpoints" / "ckpt_epoch0001.pt")["epoch"] == 1
    assert [r["epoch"] for r in records(run)] == [1]
    assert not (run / "finished.json").exists()
    assert "loss is nan at epoch 2, step 1" in (run / "log.txt").read_text()


def test_finetune_resumes_after_crashes_in_training_and_evaluation(synth, tmp_path, monkeypatch):
    from bepaper import train

    def run_finetune(out: Path) -> dict:
        args = [a for a in overrides(synth, out) if not a.startswith("method.")]
        args += ["optim.batch_size=8", "eval.num_clips=2", "eval.splits=[1, 2]"]
        return train.finetune(build_config(FinetuneConfig, [], args))

    expected = run_finetune(tmp_path / "ref")
    log = RunDir.log

    def crash_on_epoch_2(self, record):
        if record.get("epoch") == 2:
            raise KeyboardInterrupt("killed")
        log(self, record)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    run = tmp_path / "run"
    for name, target, patch in (
        ("log", RunDir, crash_on_epoch_2),
        ("evaluate_splits", train, crash),
    ):
        monkeypatch.setattr(target, name, patch)
        with pytest.raises(KeyboardInterrupt):
            run_finetune(run)
        monkeypatch.undo()
    result = run_finetune(run)
    assert timeless(result) == timeless(expected)
    assert records(run) == records(tmp_path / "ref")


def test_evaluate_logs_skipped_test_videos(synth, tmp_path):
    """`bepaper evaluate` has no run folder of its own, but still lists what it skipped."""
    from bepaper import evaluate, train
    from bepaper.config import EvaluateConfig

    common = [a for a in TINY if not a.startswith(("method.", "optim."))]
    common += [f"data.root={synth}", "eval.num_clips=2"]
    ft = tmp_path / "ft"
    train.finetune(build_config(FinetuneConfig, [], [*common, "optim.epochs=1", f"run.out={ft}"]))
    splits = tmp_path / "splits"
    shutil.copytree(synth / "splits", splits)
    cls = (splits / "classInd.txt").read_text().split()[1]
    with open(splits / "testlist01.txt", "a") as f:
        f.write(f"{cls}/gone.avi\r\n")
    out = tmp_path / "eval"
    args = [*common, f"data.split_dir={splits}", f"checkpoint={ft}", f"run.out={out}"]
    result = evaluate.evaluate_run(build_config(EvaluateConfig, [], args))
    assert result["skipped_videos"] == 1
    assert RunDir(out, {}, "").skipped() == {f"{cls}/gone.avi": "file not found"}
    assert json.loads((out / "evaluation.json").read_text())["skipped_videos"] == 1


# ---------------------------------------------------------------- concurrent runs


def _hold(path: Path, ready, release) -> None:
    RunDir(path, {"a": 1}, "pretrain").open()
    ready.set()
    release.wait(30)


def test_a_run_folder_in_use_is_refused_until_its_process_dies(tmp_path):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(tmp_path / "run", ready, release))
    holder.start()
    assert ready.wait(30)
    with pytest.raises(BepaperError, match="in use by another running bepaper process"):
        RunDir(tmp_path / "run", {"a": 1}, "pretrain").open()
    os.kill(holder.pid, signal.SIGKILL)  # kill -9 releases the lock
    holder.join()
    assert RunDir(tmp_path / "run", {"a": 1}, "pretrain").open() is True


def test_leftovers_of_killed_writes_are_removed_on_rerun(tmp_path):
    """Killed after creating the folder but before config.yaml: the rerun starts afresh.
    Killed while writing a checkpoint: the rerun removes the temp file."""
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_bytes(b"")
    (run / ".tmp-config.yaml.1234abcd").write_text("half")
    assert RunDir(run, {"a": 1}, "pretrain").open() is False
    assert (run / "config.yaml").exists()
    (run / "checkpoints" / ".tmp-ckpt_epoch0001.pt.5678abcd").write_bytes(b"half")
    assert RunDir(run, {"a": 1}, "pretrain").open() is True
    assert not list(run.rglob(".tmp-*"))


def test_a_backbone_version_changes_only_that_backbones_runs(synth, monkeypatch):
    """bepaper.identity.BACKBONE_VERSIONS: I3D's padding change (TensorFlow SAME) gives I3D
    runs new folders and leaves every other backbone's folder (and reuse) as it was."""
    import bepaper.identity as identity
    from bepaper.identity import run_folder

    def cfg(backbone: str):
        return build_config(
            PretrainConfig, [], [f"data.root={synth}", f"model.backbone={backbone}"]
        )

    assert identity.run_identity(cfg("i3d"), "pretrain")["backbone_version"] == 2
    assert "backbone_version" not in identity.run_identity(cfg("r3d18"), "pretrain")
    before = {b: run_folder(cfg(b), "pretrain") for b in ("i3d", "r3d18", "r3d_small")}
    monkeypatch.setitem(identity.BACKBONE_VERSIONS, "i3d", 3)
    assert run_folder(cfg("i3d"), "pretrain") != before["i3d"]
    for b in ("r3d18", "r3d_small"):
        assert run_folder(cfg(b), "pretrain") == before[b]
