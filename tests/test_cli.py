"""The `bepaper` command on user errors: one line naming the problem, exit code 2, no
traceback, and nothing written (no run folder).

Errors found while reading the config cost a fraction of a second per process; the ones
found after torch is imported (data root, split files, model and method names) run as
parallel processes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bepaper.cli import main
from bepaper.data.synthbias import generate

# Small enough that a run which wrongly starts ends in seconds (and then fails the test).
TINY = [
    "data.num_frames=4",
    "data.stride=2",
    "data.load_size=16",
    "data.workers=0",
    "augment.crop_size=16",
    "model.backbone=r3d_small",
    "model.width=4",
    "optim.epochs=1",
    "optim.batch_size=8",
    "run.device=cpu",
    "run.progress=false",
    "run.out=out",
]
EXTRA = {"pretrain": ["method.queue_size=32"], "finetune": ["eval.num_clips=1"]}


def bepaper(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bepaper.cli", *args],
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def assert_one_line_error(proc: subprocess.Popen, *fragments: str) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "Traceback" not in err and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bepaper: error: "), err
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthbias")
    return generate(out, size="tiny", analogues=("ucf101like",), workers=1, progress=False)[
        "ucf101like"
    ]


def test_config_errors(tmp_path):
    tag = tmp_path / "tag.yaml"
    tag.write_text(f'run:\n  seed: !!python/object/apply:os.system ["touch {tmp_path}/X"]\n')
    twice = tmp_path / "twice.yaml"
    twice.write_text("optim:\n  lr: 0.1\n  lr: 0.2\n")
    cases = [
        (["data.foo=1"], ["unknown config key 'data.foo'"]),
        (["optim.lr=abc"], ["config key 'optim.lr' must be float, got str 'abc'"]),
        (["optim.epochs=1.5"], ["config key 'optim.epochs'"]),
        (["--config", str(tag)], [str(tag), "not a valid safe YAML config"]),
        ([f"run.seed=!!python/object/apply:os.system [touch {tmp_path}/X]"], ["run.seed"]),
        (["--config", str(twice)], ["'lr' is set twice"]),
        (["--config", str(tmp_path / "none.yaml")], ["config file not found"]),
        (["optim.lr"], ["override 'optim.lr' must look like section.key=value"]),
    ]
    procs = [bepaper("pretrain", *args, "run.out=out", cwd=tmp_path) for args, _ in cases]
    for proc, (_, fragments) in zip(procs, cases, strict=True):
        assert_one_line_error(proc, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tag.yaml", "twice.yaml"]  # no X


def test_errors_found_before_the_run_starts(root, tmp_path):
    base = [f"data.root={root}", *TINY, *EXTRA["pretrain"]]
    cases = [
        ([f"data.root={tmp_path / 'nowhere'}"], ["data root not found", "nowhere"]),
        (["model.backbone=r4d"], ["'model.backbone' is 'r4d'; choose from", "r3d18"]),
        (["method.name=simclr"], ["unknown method 'simclr'; choose from", "rotnet"]),
        (["method.gamma=5"], ["'method.gamma' must be in [0, 1], got 5"]),
        (["method.temperature=0"], ["'method.temperature' must be > 0, got 0"]),
        (["method.num_rotations=4"], ["method 'moco' has no option 'method.num_rotations'"]),
        (["data.split=3"], ["split file not found", "trainlist03.txt"]),
    ]
    procs = [bepaper("pretrain", *base, *args, cwd=tmp_path) for args, _ in cases]
    for proc, (_, fragments) in zip(procs, cases, strict=True):
        assert_one_line_error(proc, *fragments)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command, args, fragment",
    [
        ("pretrain", ["data.backend=ffmpeg"], "'data.backend' is 'ffmpeg'; choose from"),
        ("pretrain", ["run.device=gpu0"], "run.device 'gpu0' is not a device"),
        ("pretrain", ["data.num_frames=0"], "'data.num_frames' must be >= 1, got 0"),
        ("pretrain", ["run.keep_checkpoints=0"], "'run.keep_checkpoints' must be >= 1, got 0"),
        ("pretrain", ["optim.lr=-1"], "'optim.lr' must be > 0, got -1.0"),
        ("pretrain", ["augment.crop_min=1.5"], "'augment.crop_min' must be in (0, 1], got 1.5"),
        ("pretrain", ["method.name=rotnet", "method.num_rotations=3"], "'method.num_rotations'"),
        ("finetune", ["eval.splits=[1, 3]"], "split file not found"),
        ("finetune", ["eval.probe_split=3"], "list03.txt"),
        ("finetune", ["init=nowhere"], "init not found: nowhere"),
    ],
)
def test_more_errors_through_main(root, tmp_path, monkeypatch, capsys, command, args, fragment):
    """The same entry point in this process (torch is already imported here)."""
    monkeypatch.chdir(tmp_path)
    assert main([command, f"data.root={root}", *TINY, *EXTRA[command], *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bepaper: error: ") and fragment in err[0]
    assert list(tmp_path.iterdir()) == []


def test_prepare_reads_kinetics_csvs_from_the_split_folder(tmp_path, capsys):
    (tmp_path / "train.csv").write_text(
        "label,youtube_id,time_start,time_end,split\na,x,1,11,train\n"
    )
    (tmp_path / "validate.csv").write_text(
        "label,youtube_id,time_start,time_end,split\na,y,2,12,val\n"
    )
    code = main(["prepare", "kinetics400", "--root", str(tmp_path), "--split-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "a/x_000001_000011.mp4: missing" in out and "listed 2, ok 0, missing 2" in out
