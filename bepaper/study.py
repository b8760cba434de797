"""The main job: SynthBias sanity checks, then MoCo vs MoCo+HN vs MoCo+BE over seeds.

    synth ─► sanity: static-frame net, supervised from scratch, motion probe (untrained and
             trained without bias)
          ─► for seed, method: pretrain ─► motion probe ─► fine-tune ─► 10-clip tests
          ─► figures/: table (Markdown + CSV) and plot

Every run is a run folder under `out`; a finished one with the same config is reused, so
rerunning the study only does what is missing.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import torch
import yaml

from bepaper import report
from bepaper.config import FinetuneConfig, PretrainConfig, StudyConfig, to_dict
from bepaper.data.datasets import load_split
from bepaper.data.synthbias import generate
from bepaper.errors import BepaperError
from bepaper.methods.moco import METHODS
from bepaper.models import build_backbone
from bepaper.runs import atomic_write_json, config_changes
from bepaper.train import finetune, load_backbone_weights, pretrain, probe, resolve_device


def _run_cfg(study: StudyConfig, out: Path, seed: int):
    return dataclasses.replace(study.run, out=str(out), seed=seed)


def pretrain_config(study: StudyConfig, method: str, seed: int) -> PretrainConfig:
    return PretrainConfig(
        data=study.data,
        augment=study.augment,
        model=study.model,
        method=dataclasses.replace(study.method, name=method),
        optim=study.pretrain,
        run=_run_cfg(study, Path(study.out) / f"pretrain_{method}_s{seed}", seed),
    )


def finetune_config(
    study: StudyConfig,
    name: str,
    seed: int,
    *,
    init: str = "",
    split: int = 1,
    static: bool = False,
    optim=None,
) -> FinetuneConfig:
    data = dataclasses.replace(study.data, split=split)
    return FinetuneConfig(
        data=data,
        augment=study.finetune_augment,
        model=study.model,
        optim=optim or study.finetune,
        eval=study.eval,
        run=_run_cfg(study, Path(study.out) / name, seed),
        init=init,
        static=static,
    )


def _cached(fn, cfg) -> dict:
    """Run `fn(cfg)` unless its run folder already holds a finished run of this config; a
    finished run of another config is an error (its results must not be mixed in)."""
    path = Path(cfg.run.out)
    if not (path / "finished.json").exists():
        return fn(cfg)
    old = yaml.safe_load((path / "config.yaml").read_text())
    changes = config_changes(old, to_dict(cfg))
    if changes:
        raise BepaperError(
            f"{path} holds a finished run of another config ({'; '.join(changes[:3])}); "
            "delete it or set a new study `out`"
        )
    return json.loads((path / "metrics.json").read_text())


def sanity_checks(study: StudyConfig) -> dict:
    """The SynthBias construction checks, decided before any BE result is seen."""
    seed = study.seeds[0]
    sup = study.supervised
    out: dict = {}
    r = _cached(finetune, finetune_config(study, "sanity_static", seed, static=True, optim=sup))
    out["static"] = r["test_top1"]
    r = _cached(finetune, finetune_config(study, "sanity_supervised_biased", seed, optim=sup))
    out["supervised_biased"] = {**r["test_top1"], "probe": r.get("probe_top1")}
    # Trained without bias on the smaller probe-train list, for as many steps as the net above.
    n_biased = len(load_split(study.data, 1)[1].train)
    n_unbiased = len(load_split(study.data, 2)[1].train)
    matched = dataclasses.replace(sup, epochs=math.ceil(sup.epochs * n_biased / n_unbiased))
    cfg = finetune_config(study, "sanity_supervised_unbiased", seed, split=2, optim=matched)
    r = _cached(finetune, cfg)
    out["supervised_unbiased"] = {**r["test_top1"], "probe": r.get("probe_top1")}
    device = resolve_device(study.run.device)
    torch.manual_seed(seed)
    untrained = build_backbone(study.model.backbone, study.model.width).to(device)
    cfg = finetune_config(study, "sanity_untrained", seed)
    out["untrained_probe"] = probe(untrained, cfg, device)
    return out


def compare(study: StudyConfig, on_row=None) -> list[dict]:
    """Pretrain, probe, fine-tune and test every (seed, method). One row per pair;
    `on_row(rows)` is called after each, so partial results are written as they come."""
    rows = []
    for seed in study.seeds:
        for method in study.methods:
            if method not in METHODS:
                raise BepaperError(f"unknown method '{method}'; choose from {sorted(METHODS)}")
            pcfg = pretrain_config(study, method, seed)
            p = _cached(pretrain, pcfg)
            f = _cached(
                finetune,
                finetune_config(study, f"finetune_{method}_s{seed}", seed, init=pcfg.run.out),
            )
            rows.append(
                {
                    "method": method,
                    "seed": seed,
                    "biased_top1": f["test_top1"].get("1"),
                    "unbiased_top1": f["test_top1"].get("2"),
                    "probe_top1": f.get("probe_top1"),  # probe of the fine-tuned backbone
                    "pretrain_probe_top1": _pretrain_probe(study, Path(pcfg.run.out), seed),
                    "pretrain_loss": p["final"].get("loss"),
                    "pretrain_seconds": p["seconds"],
                    "finetune_seconds": f["seconds"],
                }
            )
            if on_row is not None:
                on_row(rows)
    return rows


def _pretrain_probe(study: StudyConfig, run_dir: Path, seed: int) -> float:
    """The motion probe on the frozen pretrained backbone (no fine-tuning), cached in the
    pretraining run folder as probe.json together with the settings it was measured with."""
    cfg = finetune_config(study, "probe", seed)
    settings = {k: to_dict(cfg)[k] for k in ("data", "augment", "eval")}
    cache = run_dir / "probe.json"
    if cache.exists():
        saved = json.loads(cache.read_text())
        if saved.get("settings") == settings:
            return saved["probe_top1"]
    device = resolve_device(study.run.device)
    backbone = build_backbone(study.model.backbone, study.model.width)
    load_backbone_weights(backbone, run_dir)
    acc = probe(backbone.to(device), cfg, device)
    atomic_write_json(cache, {"probe_top1": acc, "settings": settings})
    return acc


def run_study(study: StudyConfig) -> dict:
    """The whole main job. Returns what it wrote and measured."""
    t0 = time.time()
    folders = generate(
        Path(study.synth_root) / study.synth_preset,
        preset=study.synth_preset,
        seed=0,
        analogues=("ucf101like",),
        writer=study.synth_writer,
        workers=study.synth_workers,
    )
    study = dataclasses.replace(
        study,
        data=dataclasses.replace(study.data, dataset="synthbias", root=str(folders["ucf101like"])),
    )
    info = {
        "synth_seconds": round(time.time() - t0, 1),
        "classes": len(load_split(study.data)[1].classes),
    }
    sanity = sanity_checks(study) if study.sanity else {}

    def write(rows: list[dict], complete: bool = False) -> list[Path]:
        info["total_seconds"] = round(time.time() - t0, 1)
        return report.write_study(study, sanity, rows, {**info, "complete": complete})

    rows = compare(study, on_row=write)
    written = write(rows, complete=True)
    return {"sanity": sanity, "rows": rows, "info": info, "written": written}
