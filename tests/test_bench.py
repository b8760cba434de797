"""The benchmark scripts run (tiny sizes, CPU) and print their tables. Their numbers are
not checked here: speed targets live in the benchmarks, not in tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["moco", "rotnet", "puzzle", "vcop"])
def test_train_step_times_any_method(method):
    args = ["--method", method, "--backbone", "r3d18", "--width", "4", "--size", "16",
            "--frames", "4", "--batch", "2", "--steps", "1", "--warmup", "1", "--queue", "16",
            "--device", "cpu", "--recipe", "default", "released"]  # fmt: skip
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "train_step.py"), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| default")]
    assert len(rows) == 1 and "| released" in proc.stdout and method in proc.stdout
