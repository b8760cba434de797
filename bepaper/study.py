"""The BE question on SynthBias (`bepaper study`, `make reproduce`).

    synth ─► the ladder, rungs 0-2 over `ladder_seeds` (bepaper.ladder): the benchmark is
             learnable, its shortcut exists, and the instrument registers a good and a bad
             init; decided before any BE result is looked at
          ─► rung 3, for seed, arm: pretrain on the biased training list (labels unused)
                                    ─► frozen motion probe (unbiased split)
                                    ─► fine-tune on `labels_per_class` labelled videos per class
                                    ─► tests on the biased and the unbiased test lists
             ('random' fine-tunes the same labelled videos from random initialisation)
          ─► figures/<name>_runs.csv (one row per run), <name>_ladder.csv, <name>_summary.json,
             tables, plots

Every run config is built by `bepaper.protocol` and lives in an automatically named run
folder under `run.root` (`bepaper.identity.run_folder`): rerunning the study, or a notebook
asking for the same run, reuses what is finished and only runs what is missing.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch

from bepaper.checkpoint import load_backbone_weights
from bepaper.config import FinetuneConfig, PretrainConfig, StudyConfig, to_dict, validate
from bepaper.data.datasets import load_split
from bepaper.data.synthbias import generate
from bepaper.distributed import resolve_device
from bepaper.errors import ConfigError
from bepaper.evaluate import probe
from bepaper.identity import identity_key, run_folder, run_identity
from bepaper.ladder import climb
from bepaper.models import build_backbone
from bepaper.protocol import arm_method, finetune_config, pretrain_config
from bepaper.runs import atomic_write_json
from bepaper.train import finetune, pretrain


def untrained_probe(study: StudyConfig, seed: int) -> float:
    """The motion probe of a randomly initialised encoder (seed `seed`): the floor of the
    frozen probe. Cached under <run.root>/probes/, keyed like a run."""
    cfg = finetune_config(study, seed, probe=True)
    ident = run_identity(cfg, "untrained-probe")
    ident["config"] = {k: ident["config"][k] for k in ("data", "augment", "model", "eval", "run")}
    cache = Path(study.run.root) / "probes" / f"untrained-{identity_key(ident)}.json"
    if cache.exists():
        return json.loads(cache.read_text())["probe"]["test_top1"]
    device = resolve_device(study.run.device)
    torch.manual_seed(seed)
    untrained = build_backbone(study.model.backbone, study.model.width).to(device)
    res = probe(untrained, cfg, device)
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(cache, {"probe": res, "identity": ident})
    return res["test_top1"]


def frozen_probe(study: StudyConfig, run_dir: Path, seed: int) -> dict:
    """The motion probe of a pretrained encoder, frozen. Cached in the pretraining run
    folder as probe.json, with the settings it was measured with; features under
    features/."""
    cfg = finetune_config(study, seed, probe=True)
    settings = {k: to_dict(cfg)[k] for k in ("data", "augment", "eval")}
    for k in ("root", "split_dir", "backend", "workers", "cache"):
        settings["data"].pop(k)
    cache = run_dir / "probe.json"
    if cache.exists():
        saved = json.loads(cache.read_text())
        if saved.get("settings") == settings:
            return saved["probe"]
    device = resolve_device(study.run.device)
    backbone = build_backbone(study.model.backbone, study.model.width)
    load_backbone_weights(backbone, run_dir)
    res = probe(backbone.to(device), cfg, device, out_dir=run_dir)
    atomic_write_json(cache, {"probe": res, "settings": settings})
    return res


def arm_configs(
    study: StudyConfig, arm: str, seed: int
) -> tuple[PretrainConfig | None, FinetuneConfig]:
    """The runs of one (arm, seed): its pretraining (None for 'random') and the fine-tuning
    that starts from it."""
    method = arm_method(arm, study.method)
    if method is None:
        return None, finetune_config(study, seed)
    pcfg = pretrain_config(study, method, seed)
    return pcfg, finetune_config(study, seed, init=str(run_folder(pcfg, "pretrain")))


def run_arm(study: StudyConfig, arm: str, seed: int) -> dict:
    """One (arm, seed): pretrain (unless 'random'), probe, fine-tune, test. One result row."""
    pcfg, fcfg = arm_configs(study, arm, seed)
    row: dict = {"arm": arm, "seed": seed}
    if pcfg is not None:
        p = pretrain(pcfg)
        init = fcfg.init
        pr = frozen_probe(study, Path(init), seed)
        row.update(
            pretrain_run=init,
            pretrain_loss=p["final"].get("loss"),
            pretrain_seconds=p["seconds"],
            probe_top1=pr["test_top1"],
            probe_train_top1=pr.get("train_top1"),
        )
    f = finetune(fcfg)
    row.update(
        finetune_run=str(run_folder(fcfg, "finetune")),
        biased_top1=f["test_top1"].get("1"),
        unbiased_top1=f["test_top1"].get("2"),
        finetune_seconds=f["seconds"],
        train_videos=f.get("train_videos"),
    )
    return row


def finished(cfg) -> bool:
    """Whether the run of `cfg` (pretraining or fine-tuning) has finished."""
    command = "pretrain" if isinstance(cfg, PretrainConfig) else "finetune"
    return (run_folder(cfg, command) / "finished.json").is_file()


def finished_seeds(study: StudyConfig) -> list[int]:
    """The seeds of `study.seeds` whose every arm's runs have finished."""
    return [
        seed
        for seed in study.seeds
        if all(
            cfg is None or finished(cfg)
            for arm in study.arms
            for cfg in arm_configs(study, arm, seed)
        )
    ]


def compare(study: StudyConfig, on_row=None) -> list[dict]:
    """Every (seed, arm), seeds in the outer loop so that partial results cover all arms.
    `on_row(rows)` is called after each, so tables are written as results come. With
    `study.finished_only`, only the seeds whose runs have all finished (nothing trains)."""
    for arm in study.arms:
        arm_method(arm, study.method)  # every arm is valid before anything runs
    rows = []
    pretrained = any(arm_method(a, study.method) is not None for a in study.arms)
    seeds = finished_seeds(study) if study.finished_only else study.seeds
    for seed in seeds:
        if pretrained:  # the floor of the frozen probe, per seed (sanity property 1)
            rows.append(
                {"arm": "untrained", "seed": seed, "probe_top1": untrained_probe(study, seed)}
            )
        for arm in study.arms:
            rows.append(run_arm(study, arm, seed))
            if on_row is not None:
                on_row(rows)
    return rows


def prepare_data(study: StudyConfig) -> StudyConfig:
    """Generate the SynthBias analogue the study uses; the study with data.root set."""
    folders = generate(
        Path(study.synth_root) / study.synth_size,
        size=study.synth_size,
        seed=0,
        analogues=("ucf101like",),
        writer=study.synth_writer,
        workers=study.synth_workers,
        progress=study.run.progress,
    )
    data = dataclasses.replace(study.data, dataset="synthbias", root=str(folders["ucf101like"]))
    return dataclasses.replace(study, data=data)


def run_study(study: StudyConfig) -> dict:
    """The whole BE question. Writes the result files as runs finish; returns what it wrote."""
    from bepaper import report

    validate(study)
    t0 = time.time()
    study = prepare_data(study)
    info = {
        "synth_seconds": round(time.time() - t0, 1),
        "classes": len(load_split(study.data)[1].classes),
    }
    ladder_rows = []
    if study.ladder:
        from bepaper.ladder import ladder_configs

        if study.finished_only and not all(
            finished(cfg) for s in study.ladder_seeds for cfg in ladder_configs(study, s).values()
        ):
            raise ConfigError(
                "finished_only: the ladder's runs have not all finished; run the study without "
                "it (or set ladder=false)"
            )
        ladder_rows = climb(study, probe=frozen_probe)
    info["planned_seeds"] = list(study.seeds)

    def write(rows: list[dict], complete: bool = False) -> list[Path]:
        info["total_seconds"] = round(time.time() - t0, 1)
        return report.write_study(study, ladder_rows, rows, {**info, "complete": complete})

    rows = compare(study, on_row=write)
    done = {r["seed"] for r in rows}
    written = write(rows, complete=done == set(study.seeds))
    return {"ladder": ladder_rows, "rows": rows, "info": info, "written": written}
