"""Typed configs: one dataclass schema holds every default; YAML files and `key=value`
overrides change it.

An unknown key, a key set twice, a wrong type or a Python object tag is a `ConfigError`
that names the key. YAML is always read with a safe loader.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bepaper.errors import ConfigError


@dataclass
class DataConfig:
    dataset: str = "synthbias"  # synthbias | ucf101 | hmdb51 | diving48 | kinetics400
    root: str = (
        "data/synthbias/default/ucf101like"  # the video root (SynthBias: an analogue folder)
    )
    split_dir: str = ""  # split files; "" = <root>/splits (SynthBias) or <root>/.. conventions
    split: int = 1  # official split number (SynthBias: 1 = biased, 2 = unbiased)
    backend: str = "decord"  # decord | pyav | opencv | frames
    num_frames: int = 16  # T, frames per clip
    stride: int = 4  # temporal stride between sampled frames
    load_size: int = 128  # frames are resized (short side) and centre-cropped to this square
    workers: int = 2  # DataLoader worker processes (0 = load in the main process)


@dataclass
class AugmentConfig:
    crop_size: int = 112  # side of the training/test crop fed to the network
    crop_min: float = 0.7  # random crop side as a fraction of the frame, in [crop_min, 1]
    eval_crop: float = 0.875  # centre crop side fraction at test time
    rotation: float = 10.0  # max rotation in degrees (paper: under 10°)
    jitter_prob: float = 0.8  # probability of colour jitter per clip
    brightness: float = 0.5  # colour jitter strengths (released code: 0.5, 0.5, 0.25, 0.5)
    contrast: float = 0.5
    saturation: float = 0.25
    hue: float = 0.5


@dataclass
class ModelConfig:
    backbone: str = "r3d18"  # r3d18 | r3d_small
    width: int = 16  # base width of scalable backbones (r3d_small)
    embed_dim: int = 128  # D, the contrastive embedding size
    head_pool: str = "max"  # max (paper) | avg (released code)
    dropout: float = 0.5  # before the fine-tuning FC


@dataclass
class MethodConfig:
    name: str = "moco_be"  # moco | moco_hn | moco_be
    queue_size: int = 16384  # K (released UCF101 scripts: 3569)
    momentum: float = 0.999  # key-encoder momentum m
    temperature: float = 0.07
    gamma: float = 0.3  # λ ~ U[0, γ]
    lambda_per_batch: bool = False  # released code: one λ per batch; paper: per sample
    distraction: str = "be"  # be | gaussian_noise | video_mixup | video_cutmix | inter_video_frame
    hard_gap: int = 2  # minimum start offset (frames) of the hard-negative clip


@dataclass
class OptimConfig:
    epochs: int = 50
    batch_size: int = 64  # global batch (split over processes under torchrun)
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_step: int = 10  # divide the lr by 10 every lr_step epochs
    lr_gamma: float = 0.1


@dataclass
class RunConfig:
    out: str = "runs/run"  # run folder (config, metrics, checkpoints, results)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    compile: bool = False  # torch.compile the backbone
    channels_last: bool = True  # channels_last_3d memory format on CUDA
    deterministic: bool = False  # deterministic algorithms (bitwise-reproducible resume on CPU)
    keep_checkpoints: int = 3  # last N epoch checkpoints kept
    progress: bool = True  # progress bars
    max_steps: int = 0  # stop each epoch after this many steps (0 = whole epoch; smoke tests)


@dataclass
class EvalConfig:
    num_clips: int = 10  # clips per test video, averaged (paper: 10)
    splits: list[int] = field(default_factory=lambda: [1])  # test splits scored after training
    probe_split: int = (
        0  # if > 0: linear probe trained on this split's train list, scored on its test list
    )
    probe_epochs: int = 100  # full-batch optimisation steps of the linear probe


@dataclass
class PretrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=lambda: RunConfig(out="runs/pretrain"))


def finetune_augment() -> AugmentConfig:
    """Fine-tuning keeps crop and rotation but drops colour jitter (which, at the released
    code's strength, also hides the cues a classifier must learn)."""
    return AugmentConfig(jitter_prob=0.0)


@dataclass
class FinetuneConfig:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=finetune_augment)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(epochs=45, lr=0.05))
    eval: EvalConfig = field(default_factory=EvalConfig)
    run: RunConfig = field(default_factory=lambda: RunConfig(out="runs/finetune"))
    init: str = ""  # a pretraining run folder or checkpoint; "" = random initialisation
    static: bool = False  # train and test on static videos (one frame repeated; Figure 4)


@dataclass
class EvaluateConfig:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    run: RunConfig = field(default_factory=lambda: RunConfig(out="runs/evaluate"))
    checkpoint: str = ""  # a fine-tuning run folder or checkpoint (a classifier)
    static: bool = False


# ---------------------------------------------------------------- reading and validating


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key set twice in one mapping."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(
                f"config key '{key}' is set twice (line {key_node.start_mark.line + 1})"
            )
        seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping safely; every problem is a ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 (safe subclass)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        first = str(err).strip().splitlines()[0]
        raise ConfigError(f"{path}: not a valid safe YAML config ({first})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a config must be a mapping of sections, got {type(data).__name__}"
        )
    return data


def _check_type(value: Any, hint: Any, key: str) -> Any:
    """Return `value` if it fits the type hint (ints widen to floats), else raise."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _check_type(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"config key '{key}' has the wrong type: {value!r}")
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"config key '{key}' must be a list, got {value!r}")
        return [_check_type(v, item, key) for v in value]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise ConfigError(f"config key '{key}' must be an int, got {value!r}")
    if not isinstance(value, hint):
        raise ConfigError(
            f"config key '{key}' must be {hint.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def _merge(obj: Any, updates: dict, prefix: str = "") -> None:
    """Apply a nested dict onto a dataclass instance, in place, checking keys and types."""
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    for key, value in updates.items():
        full = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"unknown config key '{full}'; valid keys here: {sorted(names)}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(
                    f"config key '{full}' is a section; give a mapping, got {value!r}"
                )
            _merge(current, value, f"{full}.")
        else:
            setattr(obj, key, _check_type(value, hints[key], full))


def parse_override(text: str) -> dict:
    """'optim.lr=0.1' → {'optim': {'lr': 0.1}} (the value is read as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like section.key=value")
    dotted, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise ConfigError(f"override '{text}': value is not valid YAML") from None
    out: dict = {}
    node = out
    parts = dotted.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def build_config(cls: type, files: list[str | Path] = (), overrides: list[str] = ()) -> Any:
    """Defaults of `cls`, then each YAML file, then each `key=value` override, in order."""
    cfg = cls()
    for f in files:
        try:
            _merge(cfg, read_yaml(f))
        except ConfigError as err:
            msg = str(err)
            raise ConfigError(msg if msg.startswith(str(f)) else f"{f}: {msg}") from None
    for text in overrides:
        _merge(cfg, parse_override(text))
    return cfg


def from_dict(cls: type, data: dict) -> Any:
    """Rebuild a config from its saved plain-dict form (as stored in run folders)."""
    cfg = cls()
    _merge(cfg, data)
    return cfg


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


@dataclass
class StudyConfig:
    """The main job (`bepaper study`, `make reproduce`): SynthBias sanity checks and the
    MoCo / MoCo+HN / MoCo+BE comparison, over several seeds."""

    synth_preset: str = "default"  # SynthBias preset generated (tiny | default | study)
    synth_root: str = "data/synthbias"  # where SynthBias sets are generated
    synth_writer: str = "pyav"  # pyav | opencv: how SynthBias videos are encoded
    synth_workers: int = 2  # processes generating SynthBias
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    methods: list[str] = field(default_factory=lambda: ["moco", "moco_hn", "moco_be"])
    sanity: bool = True  # run the SynthBias sanity checks (seed = seeds[0])
    out: str = "runs/study"  # runs go to <out>/<name>
    figures: str = "figures"  # tables (Markdown, CSV) and plots
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # pretraining
    finetune_augment: AugmentConfig = field(default_factory=finetune_augment)  # fine-tuning, tests
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(
        default_factory=MethodConfig
    )  # shared settings; name is set per row
    pretrain: OptimConfig = field(default_factory=OptimConfig)
    finetune: OptimConfig = field(default_factory=lambda: OptimConfig(epochs=45, lr=0.05))
    supervised: OptimConfig = field(
        default_factory=lambda: OptimConfig(epochs=45, lr=0.05)
    )  # sanity nets
    eval: EvalConfig = field(default_factory=lambda: EvalConfig(splits=[1, 2], probe_split=2))
    run: RunConfig = field(
        default_factory=RunConfig
    )  # device, amp, workers...; out/seed set per run
