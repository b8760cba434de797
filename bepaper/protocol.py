"""The one route from a setting to a run config.

A *protocol* (a `StudyConfig`) says how runs are made: the data and its clips, the views,
the backbone, the shared method settings, the pretraining and fine-tuning schedules, the
tests. An *arm* says which pretraining a row of a table gets, in a few letters:

    random            no pretraining (fine-tuned from random initialisation)
    moco              MoCo                      moco+hn      with hard negatives
    moco+be           MoCo with BE              moco+hn+be   both
    vcop+be           Clip Order with BE        moco+be+fame BE's distracting clip made by FAME

`pretrain_config(protocol, arm_method(arm, protocol.method), seed)` and
`finetune_config(protocol, seed, init=...)` are the only places a run config is put together:
`bepaper study` (bepaper.study) and the notebooks' presets (bepaper.experiments) both call
them, so the same arm and seed name the same run folder (bepaper.identity), by construction.
Each config is validated here, once.
"""

from __future__ import annotations

import dataclasses

from bepaper.choices import DISTRACTIONS
from bepaper.config import (
    DataConfig,
    FinetuneConfig,
    MethodConfig,
    OptimConfig,
    PretrainConfig,
    StudyConfig,
    apply,
    method_options,
    validate,
)
from bepaper.errors import ConfigError

DEFAULT_DISTRACTION = MethodConfig.__dataclass_fields__["distraction"].default
SWITCHES = ("hn", "be", *(d for d in DISTRACTIONS if d != DEFAULT_DISTRACTION))


def arm_method(arm: str, shared: MethodConfig) -> MethodConfig | None:
    """The method of an arm: 'random' → None (no pretraining); 'moco+hn+be' → MoCo with hard
    negatives and BE; 'moco+be+fame' → MoCo with BE whose distracting clip is FAME's. The
    other settings come from `shared` when it is the arm's method, else the method's
    defaults (with `shared`'s BE settings: β, γ, λ per batch)."""
    parts = arm.split("+")
    name, switches = parts[0], parts[1:]
    if name == "random":
        if switches:
            raise ConfigError(f"arm '{arm}': 'random' takes no switches")
        return None
    unknown = [s for s in switches if s not in SWITCHES]
    if unknown:
        raise ConfigError(f"arm '{arm}': unknown switch(es) {unknown}; use {list(SWITCHES)}")
    distractions = [s for s in switches if s in SWITCHES[2:]]
    if len(distractions) > 1:
        raise ConfigError(f"arm '{arm}': one distraction at most, got {distractions}")
    method_options(name)  # an unknown method: a clear error
    if shared.name == name:
        m = dataclasses.replace(shared, options=dataclasses.replace(shared.options))
    else:
        m = MethodConfig(
            name=name,
            beta=shared.beta,
            gamma=shared.gamma,
            lambda_per_batch=shared.lambda_per_batch,
        )
    m.be = "be" in switches
    m.distraction = distractions[0] if distractions else DEFAULT_DISTRACTION
    if m.distraction != DEFAULT_DISTRACTION and not m.be:
        raise ConfigError(f"arm '{arm}': a distraction needs +be")
    has_hn = hasattr(m.options, "hard_negatives")
    if "hn" in switches and not has_hn:
        raise ConfigError(f"arm '{arm}': method '{name}' has no hard negatives")
    if has_hn:
        m.options.hard_negatives = "hn" in switches
    return m


def method_arm(method: MethodConfig | None) -> str:
    """The arm of a method: the inverse of `arm_method` (None → 'random')."""
    if method is None:
        return "random"
    parts = [method.name]
    if getattr(method.options, "hard_negatives", False):
        parts.append("hn")
    if method.be:
        parts.append("be")
    if method.distraction != DEFAULT_DISTRACTION:
        parts.append(method.distraction)
    return "+".join(parts)


def pretrain_config(
    protocol: StudyConfig,
    method: MethodConfig,
    seed: int,
    *,
    data: DataConfig | None = None,
    changes: list[str] = (),
) -> PretrainConfig:
    """Pretraining with `method` under `protocol` on its whole training list (split 1, labels
    unused), or on `data`. `changes`: `section.key=value` overrides, applied last."""
    data = data or protocol.data
    cfg = PretrainConfig(
        data=dataclasses.replace(data, split=1, per_class=0),
        augment=protocol.augment,
        model=protocol.model,
        method=method,
        optim=protocol.pretrain,
        run=dataclasses.replace(protocol.run, out="", seed=seed),
    )
    return apply(cfg, *changes) if changes else _validated(cfg)


def finetune_config(
    protocol: StudyConfig,
    seed: int,
    *,
    init: str = "",
    data: DataConfig | None = None,
    split: int = 1,
    static: bool = False,
    per_class: int | None = None,
    optim: OptimConfig | None = None,
    probe: bool = False,
    changes: list[str] = (),
) -> FinetuneConfig:
    """Fine-tuning under `protocol` from `init` (a pretraining run folder; '' = random init)
    on split `split` of its data (or of `data`), with `per_class` labelled videos per class
    (default: the protocol's `labels_per_class`; 0 = all). `static`: a frame repeated (the
    static-bias nets). `probe`: also probe the fine-tuned backbone on the protocol's probe
    split (the sanity nets); otherwise no probe."""
    per_class = protocol.labels_per_class if per_class is None else per_class
    data = data or protocol.data
    cfg = FinetuneConfig(
        data=dataclasses.replace(data, split=split, per_class=per_class),
        augment=protocol.finetune_augment,
        model=protocol.model,
        optim=optim or protocol.finetune,
        eval=protocol.eval if probe else dataclasses.replace(protocol.eval, probe_split=0),
        run=dataclasses.replace(protocol.run, out="", seed=seed),
        init=str(init),
        static=static,
    )
    return apply(cfg, *changes) if changes else _validated(cfg)


def _validated(cfg):
    validate(cfg)
    return cfg
