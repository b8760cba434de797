"""What every notebook does first: go to the work folder, load the preset with the notebook's
parameters, and say where the results go and what machine made them."""

from __future__ import annotations

import os
from pathlib import Path

from bepaper.experiments import Preset


def setup(
    preset: str = "synthetic",
    *,
    workdir: str = ".",
    runs: str = "runs",
    figures: str = "figures",
    device: str = "",
    seeds: list[int] | None = None,
    overrides: list[str] | None = None,
    roots: dict[str, str] | None = None,
    split_dirs: dict[str, str] | None = None,
    run_missing: bool = False,
) -> tuple[Preset, Path]:
    """Change to `workdir` (paths below are relative to it), load the preset and return it
    with the folder its tables and figures go to (<figures>/<preset>). `run_missing`: train
    the missing runs in this process (preset paper) instead of printing their commands."""
    os.chdir(workdir)
    p = Preset.load(
        preset,
        runs=runs,
        seeds=seeds or None,
        device=device or None,
        roots=roots,
        split_dirs=split_dirs,
        overrides=overrides,
        train=True if run_missing else None,
    )
    out = Path(figures) / preset
    out.mkdir(parents=True, exist_ok=True)
    return p, out


def caption(p: Preset, what: str) -> str:
    """A title line naming the data, the machine and the seeds."""
    from bepaper.report import machine

    data = f"SynthBias {p.study.synth_size}" if p.is_synthetic() else "real data"
    return f"{what} — {data}, preset {p.name}, seeds {p.seeds}, {machine()}"
