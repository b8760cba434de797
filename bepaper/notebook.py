"""What every notebook does first: go to the work folder, load the preset with the notebook's
parameters, and say where the results go and what machine made them.

The work folder is the repository root unless a notebook's `workdir` names one. It is found
upward from where the notebook runs, so `notebooks/x.ipynb` and its executed copy
`figures/<preset>/x.ipynb` use the same runs folder and write to the same figures folder."""

from __future__ import annotations

import os
from pathlib import Path

from bepaper.errors import ConfigError
from bepaper.experiments import Preset

ROOT_MARKERS = ("pyproject.toml", "notebooks", "bepaper")


def find_root(start: str | Path = ".") -> Path:
    """The repository root: the nearest folder at or above `start` that holds
    pyproject.toml, notebooks/ and bepaper/; else the folder above the imported package if
    it has them; else an error naming where it looked."""
    start = Path(start).resolve()
    here = Path(__file__).resolve().parents[1]
    for folder in (start, *start.parents, here):
        if all((folder / m).exists() for m in ROOT_MARKERS):
            return folder
    raise ConfigError(
        f"no repository root (a folder with {', '.join(ROOT_MARKERS)}) at or above {start} "
        f"or at {here}: set the notebook's workdir parameter"
    )


def setup(
    preset: str = "synthetic",
    *,
    workdir: str = "",
    runs: str = "runs",
    figures: str = "figures",
    device: str = "",
    seeds: list[int] | None = None,
    overrides: list[str] | None = None,
    roots: dict[str, str] | None = None,
    split_dirs: dict[str, str] | None = None,
    run_missing: bool = False,
) -> tuple[Preset, Path]:
    """Change to `workdir` (empty: the repository root, `find_root`; paths below are
    relative to it), load the preset and return it with the folder its tables and figures go
    to (<figures>/<preset>). `run_missing`: train the missing runs in this process (preset
    paper) instead of printing their commands."""
    os.chdir(workdir or find_root())
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


def caption(p: Preset, what: str, seeds: list[int] | None = None) -> str:
    """A title line naming the data, the machine and the seeds (`seeds`: those that ran,
    when not the preset's, e.g. a study's)."""
    from bepaper.labels import seeds_text
    from bepaper.report import machine

    data = f"SynthBias {p.study.synth_size}" if p.is_synthetic() else "real data"
    shown = seeds_text(p.seeds if seeds is None else seeds)
    return f"{what} — {data}, preset {p.name}, {shown}, {machine()}"
