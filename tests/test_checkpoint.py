import os
import pickle
import random
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from bepaper.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    save_epoch_checkpoint,
    to_plain,
)
from bepaper.errors import CheckpointError


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".tmp-")]


def test_round_trip_under_weights_only(tmp_path):
    np.random.seed(3)
    random.seed(3)
    config = {"root": Path("/data/ucf101"), "size": np.int64(112), "scale": (np.float32(0.5), 1)}
    state = {
        "model": {"conv.weight": torch.randn(4, 3, 3, 3), "bn.num_batches": torch.tensor(7)},
        "epoch": 12,
        "lr": 0.01,
        "method": "moco_be",
        "nested": {"a": [1, 2.5, "x", None, True]},
        "rng": to_plain({"numpy": np.random.get_state(), "python": random.getstate()}),
        "config": to_plain(config),
    }
    save_checkpoint(tmp_path / "c.pt", state)
    loaded = load_checkpoint(tmp_path / "c.pt")

    assert torch.equal(loaded["model"]["conv.weight"], state["model"]["conv.weight"])
    assert loaded["model"]["bn.num_batches"].item() == 7
    assert (loaded["epoch"], loaded["lr"], loaded["method"]) == (12, 0.01, "moco_be")
    assert loaded["nested"] == {"a": [1, 2.5, "x", None, True]}
    assert loaded["config"] == {"root": "/data/ucf101", "size": 112, "scale": (0.5, 1)}
    expected_np, expected_py = np.random.rand(5), [random.random() for _ in range(5)]
    np.random.seed(0)
    random.seed(0)
    np.random.set_state(loaded["rng"]["numpy"])
    random.setstate(loaded["rng"]["python"])
    assert np.array_equal(np.random.rand(5), expected_np)
    assert [random.random() for _ in range(5)] == expected_py


def test_to_plain_converts_numpy_and_paths():
    out = to_plain({Path("k"): [np.arange(3), np.bool_(True), (np.float64(1.5), Path("p"))]})
    assert out == {"k": [[0, 1, 2], True, (1.5, "p")]}
    assert type(out["k"][0][0]) is int and type(out["k"][1]) is bool
    assert type(out["k"][2]) is tuple and type(out["k"][2][0]) is float


def test_save_refuses_state_that_load_would_refuse(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"epoch": 1})
    with pytest.raises(CheckpointError, match="to_plain"):
        save_checkpoint(path, {"epoch": 2, "rng": np.random.get_state()})
    assert load_checkpoint(path) == {"epoch": 1}
    assert temp_files(tmp_path) == []


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"epoch": 1, "w": torch.ones(1000)})

    def save_half_then_die(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"PK\x03\x04 half a zip archive")
        raise RuntimeError("pre-empted")

    monkeypatch.setattr(torch, "save", save_half_then_die)
    with pytest.raises(RuntimeError, match="pre-empted"):
        save_checkpoint(path, {"epoch": 2, "w": torch.zeros(1000)})
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 1 and torch.equal(loaded["w"], torch.ones(1000))
    assert temp_files(tmp_path) == []


def test_failed_replace_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"epoch": 1})

    def replace_fails(src, dst):
        raise OSError("disk quota exceeded")

    monkeypatch.setattr(os, "replace", replace_fails)
    with pytest.raises(OSError, match="quota"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path) == {"epoch": 1}
    assert temp_files(tmp_path) == []


class Payload:
    """Unpickling this runs a shell command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["torch.save", "pickle-2", "pickle-5"])
def test_load_refuses_pickle_that_runs_code(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    state = {"epoch": 1, "model": Payload(marker)}
    if writer == "torch.save":
        torch.save(state, path)
    else:
        path.write_bytes(pickle.dumps(state, protocol=int(writer[-1])))

    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    assert "Python objects that weights_only loading does not allow" in str(info.value)
    assert not marker.exists()
    # The file really is dangerous: an ordinary unpickle runs the command.
    if writer == "torch.save":
        torch.load(path, weights_only=False)
    else:
        pickle.loads(path.read_bytes())
    assert marker.exists()


def test_truncated_and_missing_checkpoints(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"w": torch.randn(256, 256)})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
        load_checkpoint(truncated)
    assert str(truncated) in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(CheckpointError, match="no such file") as info:
        load_checkpoint(tmp_path / "missing.pt")
    assert "missing.pt" in str(info.value)


def test_load_refuses_non_dict(tmp_path):
    torch.save(torch.zeros(2), tmp_path / "t.pt")
    with pytest.raises(CheckpointError, match="not a dict"):
        load_checkpoint(tmp_path / "t.pt")


def test_keep_last_n_and_latest(tmp_path):
    folder = tmp_path / "checkpoints"
    assert latest_checkpoint(folder) is None
    for epoch in range(1, 6):
        written = save_epoch_checkpoint(folder, epoch, {"epoch": epoch}, keep=2)
        assert written == folder / f"ckpt_epoch{epoch:04d}.pt"
    assert sorted(p.name for p in folder.iterdir()) == ["ckpt_epoch0004.pt", "ckpt_epoch0005.pt"]

    (folder / ".tmp-ckpt_epoch0009.pt.1234abcd").write_bytes(b"PK half written")
    (folder / "ckpt_epoch10000.pt.bak").write_bytes(b"not ours")
    assert latest_checkpoint(folder) == folder / "ckpt_epoch0005.pt"
    assert load_checkpoint(latest_checkpoint(folder)) == {"epoch": 5}
