"""Typed configs: one dataclass schema holds every default, its documentation and its valid
range; YAML files and `section.key=value` overrides change it.

- An unknown key, a key set twice, a wrong type, a value outside its range or a Python
  object tag is a `ConfigError` that names the key (the CLI prints it on one line, exit 2).
- Each field is declared with `param(default, doc, ...)`: the doc and the range live beside
  the default, and `bepaper config <command>` prints them.
- Fields marked `execution=True` only change *how* a run executes (workers, device,
  precision, paths to the same data, progress bars). Everything else changes the result:
  run folders are keyed on that part only (`bepaper.runs.identity`), so a run made on a GPU
  machine is reused on a laptop.
- The `method` section holds the settings every method shares (BE on/off, γ, β, the
  distraction) and, flat beside them, the options of the chosen method (`method.name`):
  `method.queue_size=4096` is MoCo's queue. Each method declares its options as a dataclass
  of its own (`Options` in its file under `bepaper/methods/`).

YAML is always read with a safe loader.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bepaper.choices import BACKBONES, DISTRACTIONS, METHOD_OPTIONS
from bepaper.data.splits import FORMATS
from bepaper.errors import ConfigError
from bepaper.schema import check_range, param, range_text, section
from bepaper.video import BACKENDS

# ---------------------------------------------------------------- the sections


@dataclass
class DataConfig:
    dataset: str = param("synthbias", "dataset format", choices=FORMATS)
    root: str = param(
        "data/synthbias/default/ucf101like",
        "video root (SynthBias: an analogue folder)",
        execution=True,
    )
    split_dir: str = param(
        "", "split files; '' = found beside the root (see bepaper prepare)", execution=True
    )
    split: int = param(1, "official split number (SynthBias: 1 biased, 2 unbiased)", ge=1)
    per_class: int = param(
        0,
        "train on this many labelled videos per class, drawn with the run seed (0 = all)",
        ge=0,
    )
    backend: str = param("decord", "video decoder", choices=BACKENDS, execution=True)
    num_frames: int = param(16, "T, frames per clip", ge=1)
    stride: int = param(4, "temporal stride between sampled frames", ge=1)
    load_size: int = param(128, "frames resized (short side) and centre-cropped to this", ge=8)
    workers: int = param(2, "DataLoader worker processes (0 = main process)", ge=0, execution=True)
    cache: bool = param(
        False,
        "decode every video once into memory (small datasets; bepaper.data.memory)",
        execution=True,
    )


@dataclass
class AugmentConfig:
    crop_size: int = param(112, "side of the crop fed to the network", ge=8)
    crop_min: float = param(0.7, "random crop side as a fraction of the frame", gt=0, le=1)
    eval_crop: float = param(0.875, "centre crop side fraction at test time", gt=0, le=1)
    rotation: float = param(10.0, "max rotation in degrees (paper: under 10)", ge=0, le=180)
    jitter_prob: float = param(0.8, "probability of colour jitter per clip", ge=0, le=1)
    brightness: float = param(0.5, "colour jitter (released code: 0.5, 0.5, 0.25, 0.5)", ge=0, le=1)
    contrast: float = param(0.5, "colour jitter strength", ge=0, le=1)
    saturation: float = param(0.25, "colour jitter strength", ge=0, le=1)
    hue: float = param(0.5, "colour jitter strength (turns)", ge=0, le=0.5)


@dataclass
class ModelConfig:
    backbone: str = param("r3d18", "backbone (bepaper.models.MODELS)", choices=BACKBONES)
    width: int = param(0, "base channel width; 0 = the published width", ge=0)
    dropout: float = param(0.5, "dropout before the fine-tuning FC", ge=0, lt=1)
    head_pool: str = param(
        "avg",
        "the classifier head's global pooling: avg (paper) | max (keeps a small actor's "
        "response from being averaged away)",
        choices=("avg", "max"),
    )


def method_options(name: str) -> type:
    """The options dataclass of a registered method (bepaper.choices.METHOD_OPTIONS)."""
    if name not in METHOD_OPTIONS:
        hint = ""
        if name in ("moco_hn", "moco_be"):
            hint = (
                " (MoCo+HN is method.name=moco method.hard_negatives=true; "
                "MoCo+BE adds method.be=true)"
            )
        raise ConfigError(f"unknown method '{name}'; choose from {sorted(METHOD_OPTIONS)}{hint}")
    return METHOD_OPTIONS[name]


@dataclass
class MethodConfig:
    """Settings every method shares, plus `options`: the chosen method's own dataclass,
    read and written flat (method.queue_size, not method.options.queue_size)."""

    name: str = param(
        "moco", "self-supervised method (bepaper.methods)", choices=lambda: sorted(METHOD_OPTIONS)
    )
    be: bool = param(True, "Background Erasing on: Eq. 5 (pretext tasks) or Eq. 7 (MoCo)")
    beta: float = param(1.0, "β, weight of L_be for pretext tasks (Eq. 5)", ge=0)
    gamma: float = param(0.3, "λ ~ U[0, γ] in Eq. 1", ge=0, le=1)
    distraction: str = param(
        "be", "how the distracting clip is made (Table 4; fame = FAME's merging)",
        choices=DISTRACTIONS,
    )  # fmt: skip
    lambda_per_batch: bool = param(False, "one λ per batch (released code); paper: per sample")
    options: Any = None  # the method's Options instance; filled from `name`

    def __post_init__(self) -> None:
        if self.options is None:
            self.options = method_options(self.name)()


@dataclass
class OptimConfig:
    epochs: int = param(50, "epochs", ge=1)
    batch_size: int = param(64, "global batch (split over processes under torchrun)", ge=1)
    optimizer: str = param(
        "sgd", "sgd (paper: momentum, L2 weight decay) | adamw (decoupled weight decay)",
        choices=("sgd", "adamw"),
    )  # fmt: skip
    lr: float = param(0.01, "initial learning rate", gt=0)
    momentum: float = param(0.9, "SGD momentum (sgd only)", ge=0, lt=1)
    weight_decay: float = param(5e-4, "weight decay", ge=0)
    schedule: str = param(
        "step",
        "step: lr x lr_gamma every lr_step epochs (paper) | cosine: from lr down to 0 over "
        "the epochs, set each epoch",
        choices=("step", "cosine"),
    )
    lr_step: int = param(10, "step schedule: multiply the lr by lr_gamma every lr_step epochs "
                         "(0 = never)", ge=0)  # fmt: skip
    lr_gamma: float = param(0.1, "step schedule: lr factor at each step", gt=0, le=1)


@dataclass
class RunConfig:
    out: str = param("", "run folder; '' = <root>/<command>-<name>-<key>", execution=True)
    root: str = param("runs", "where automatically named run folders go", execution=True)
    seed: int = param(0, "seed of everything random", ge=0)
    device: str = param("auto", "auto | cpu | cuda | cuda:N", execution=True)
    amp: bool = param(True, "bf16 autocast on CUDA (ignored on CPU)", execution=True)
    compile: bool = param(False, "torch.compile the backbone", execution=True)
    channels_last: bool = param(True, "channels_last_3d memory format on CUDA", execution=True)
    deterministic: bool = param(
        False, "deterministic algorithms (bitwise-reproducible resume on CPU)", execution=True
    )
    keep_checkpoints: int = param(3, "last N epoch checkpoints kept", ge=1, execution=True)
    progress: bool = param(True, "progress bars", execution=True)
    tensorboard: bool = param(
        True, "TensorBoard scalars in <run>/tensorboard when installed", execution=True
    )
    max_steps: int = param(0, "stop each epoch after this many steps (0 = whole epoch)", ge=0)
    sync_bn: bool = param(False, "SyncBatchNorm across processes under torchrun")
    save_every_rank: bool = param(
        False,
        "also write each process's final weights (ranks/rank<r>.pt; a DDP check)",
        execution=True,
    )


@dataclass
class EvalConfig:
    num_clips: int = param(10, "clips per test video, averaged (paper: 10)", ge=1)
    splits: list[int] = param([1], "test splits scored after training", ge=1)
    probe_split: int = param(
        0, "if > 0: linear probe trained on this split's train list, scored on its test", ge=0
    )
    probe_pool: str = param(
        "avg", "probe features: global average or max pooling", choices=("avg", "max")
    )
    probe_epochs: int = param(100, "L-BFGS iterations of the linear probe", ge=1)


@dataclass
class PretrainConfig:
    data: DataConfig = section(DataConfig, "the videos")
    augment: AugmentConfig = section(AugmentConfig, "views")
    model: ModelConfig = section(ModelConfig, "the backbone")
    method: MethodConfig = section(MethodConfig, "the self-supervised method")
    optim: OptimConfig = section(OptimConfig, "optimisation")
    run: RunConfig = section(RunConfig, "execution")


def finetune_augment() -> AugmentConfig:
    """Fine-tuning keeps crop and rotation but drops colour jitter (which, at the released
    code's strength, also hides the cues a classifier must learn)."""
    return AugmentConfig(jitter_prob=0.0)


@dataclass
class FinetuneConfig:
    data: DataConfig = section(DataConfig, "the videos")
    augment: AugmentConfig = section(finetune_augment, "training views")
    model: ModelConfig = section(ModelConfig, "the backbone")
    optim: OptimConfig = section(lambda: OptimConfig(epochs=45, lr=0.05), "optimisation")
    eval: EvalConfig = section(EvalConfig, "tests after training")
    run: RunConfig = section(RunConfig, "execution")
    init: str = param("", "a pretraining run folder or backbone checkpoint; '' = random init")
    static: bool = param(False, "train and test on static videos (one frame repeated; Fig. 4)")


@dataclass
class EvaluateConfig:
    data: DataConfig = section(DataConfig, "the videos")
    augment: AugmentConfig = section(AugmentConfig, "test views (eval_crop, crop_size)")
    model: ModelConfig = section(ModelConfig, "the backbone")
    eval: EvalConfig = section(EvalConfig, "what is scored")
    run: RunConfig = section(lambda: RunConfig(out="runs/evaluate"), "execution")
    checkpoint: str = param("", "a fine-tuning run folder or classifier.pt")
    static: bool = param(False, "score static videos (one frame repeated)")


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
    if hint is Any:
        return value
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


def _fields(obj: Any) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(obj) if f.name != "options"}


def _set(obj: Any, key: str, value: Any, full: str) -> None:
    hints = typing.get_type_hints(type(obj))
    f = _fields(obj)[key]
    value = _check_type(value, hints[key], full)
    check_range(value, f.metadata, full)
    setattr(obj, key, value)


def _merge_method(obj: MethodConfig, updates: dict, prefix: str) -> None:
    """The method section: `name` first (a new name resets the options to that method's
    defaults), then shared keys, then the method's own options, all flat."""
    if "name" in updates:
        name = updates["name"]
        if not isinstance(name, str):
            raise ConfigError(f"config key '{prefix}name' must be str, got {name!r}")
        options_cls = method_options(name)
        if name != obj.name or not isinstance(obj.options, options_cls):
            obj.options = options_cls()
        obj.name = name
    shared = _fields(obj)
    for key, value in updates.items():
        if key == "name":
            continue
        if key in shared:
            _set(obj, key, value, f"{prefix}{key}")
            continue
        opts = obj.options
        names = [f.name for f in dataclasses.fields(opts)]
        if key not in names:
            raise ConfigError(
                f"method '{obj.name}' has no option '{prefix}{key}'; its options: {names}; "
                f"shared: {sorted(shared)}"
            )
        _set(opts, key, value, f"{prefix}{key}")


def _merge(obj: Any, updates: dict, prefix: str = "") -> None:
    """Apply a nested dict onto a dataclass instance, in place, checking keys, types and
    ranges."""
    if isinstance(obj, MethodConfig):
        _merge_method(obj, updates, prefix)
        return
    names = _fields(obj)
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
            _set(obj, key, value, full)


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


def validate(cfg: Any, prefix: str = "") -> None:
    """Check every value against its range (defaults and programmatic changes included)."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        full = f"{prefix}{f.name}"
        if f.name == "options":
            validate(value, prefix)
        elif dataclasses.is_dataclass(value):
            validate(value, f"{full}.")
        else:
            check_range(value, f.metadata, full)


def build_config(cls: type, files: Iterable[str | Path] = (), overrides: Iterable[str] = ()) -> Any:
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
    validate(cfg)
    return cfg


def apply(cfg: Any, *overrides: str) -> Any:
    """A copy of `cfg` with `key=value` overrides applied and validated."""
    new = from_dict(type(cfg), to_dict(cfg))
    for text in overrides:
        _merge(new, parse_override(text))
    validate(new)
    return new


def from_dict(cls: type, data: dict) -> Any:
    """Rebuild a config from its saved plain-dict form (as stored in run folders)."""
    cfg = cls()
    _merge(cfg, data)
    return cfg


def to_dict(cfg: Any) -> dict:
    """The plain nested dict of a config; method options are flattened into `method`."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "options":
            out.update(dataclasses.asdict(value))
        elif dataclasses.is_dataclass(value):
            out[f.name] = to_dict(value)
        else:
            out[f.name] = list(value) if isinstance(value, list) else value
    return out


def result_dict(cfg: Any) -> dict:
    """`to_dict` without the execution settings: the part of a config that changes results."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.metadata.get("execution"):
            continue
        if f.name == "options":
            out.update(result_dict(value))
        elif dataclasses.is_dataclass(value):
            out[f.name] = result_dict(value)
        else:
            out[f.name] = list(value) if isinstance(value, list) else value
    return out


def execution_keys(cfg: Any, prefix: str = "") -> list[str]:
    """Dotted names of every execution-only setting of a config."""
    keys = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.metadata.get("execution"):
            keys.append(f"{prefix}{f.name}")
        elif dataclasses.is_dataclass(value) and f.name != "options":
            keys.extend(execution_keys(value, f"{prefix}{f.name}."))
    return keys


def describe(cfg: Any, indent: int = 0) -> list[str]:
    """YAML lines of a config with each key's doc and range as a comment."""
    pad = "  " * indent
    lines = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        meta = f.metadata
        if f.name == "options":
            opts = dataclasses.fields(value)
            if opts:
                lines.append(f"{pad}# options of method '{cfg.name}':")
            lines.extend(describe(value, indent))
            continue
        comment = meta.get("doc", "")
        rng = range_text(meta) if meta else ""
        if rng:
            comment += f" [{rng}]"
        if meta.get("execution"):
            comment += " (execution only)"
        if dataclasses.is_dataclass(value):
            lines.append(f"{pad}{f.name}:{'  # ' + comment if comment else ''}")
            lines.extend(describe(value, indent + 1))
        else:
            text = yaml.safe_dump({f.name: value}, default_flow_style=True).strip()[1:-1]
            lines.append(f"{pad}{text}{'  # ' + comment if comment else ''}")
    return lines


def describe_methods() -> list[str]:
    """Every registered method's options, as `bepaper config pretrain` lists them."""
    lines = ["", "# Each method's own options (set them flat, e.g. method.queue_size=4096):"]
    for name, options in sorted(METHOD_OPTIONS.items()):
        doc = (options.__doc__ or "").strip().splitlines()[0] if options.__doc__ else ""
        lines.append(f"# method.name={name}: {doc}")
        for line in describe(options()):
            lines.append(f"#   {line}")
    return lines


@dataclass
class StudyConfig:
    """The BE question on SynthBias (`bepaper study`, `make reproduce`): sanity checks of the
    benchmark, then every arm over several seeds: self-supervised pretraining on the
    (unlabelled) biased training list, fine-tuning on a few labelled videos per class, tests
    on the biased and unbiased test lists, and a linear motion probe of the frozen encoder."""

    synth_size: str = param("default", "SynthBias size (tiny | default | study)")
    synth_root: str = param("data/synthbias", "where SynthBias sets are generated", execution=True)
    synth_writer: str = param(
        "pyav", "how SynthBias videos are encoded", choices=("pyav", "opencv")
    )
    synth_workers: int = param(2, "processes generating SynthBias", ge=1, execution=True)
    seeds: list[int] = param([0, 1, 2], "seeds; every arm runs each", ge=0)
    arms: list[str] = param(
        ["random", "moco", "moco+hn", "moco+be", "moco+hn+be"],
        "rows: 'random' (fine-tuned from random init) or a method with +hn / +be switches",
    )
    ladder: bool = param(True, "climb the ladder's rungs 0-2 first (bepaper.ladder)")
    ladder_seeds: list[int] = param([0, 1, 2, 3, 4], "seeds of the ladder's rungs 0-2", ge=0)
    name: str = param("synthbias", "stem of the files written to `figures`")
    figures: str = param("figures", "where tables, plots and result files go", execution=True)
    finished_only: bool = param(
        False,
        "train nothing: report the seeds whose every run has finished (a study run in parts, "
        "e.g. seeds in parallel jobs); the report says which planned seeds are missing",
        execution=True,
    )
    data: DataConfig = section(DataConfig, "the videos (dataset, root are set by the study)")
    augment: AugmentConfig = section(AugmentConfig, "pretraining views")
    finetune_augment: AugmentConfig = section(finetune_augment, "fine-tuning and test views")
    model: ModelConfig = section(ModelConfig, "the backbone")
    method: MethodConfig = section(MethodConfig, "shared method settings; arms set name/be/hn")
    pretrain: OptimConfig = section(OptimConfig, "pretraining optimisation")
    finetune: OptimConfig = section(
        lambda: OptimConfig(epochs=45, lr=0.05), "fine-tuning optimisation"
    )
    labels_per_class: int = param(0, "labelled videos per class for fine-tuning (0 = all)", ge=0)
    supervised: OptimConfig = section(
        lambda: OptimConfig(epochs=45, lr=0.05),
        "the ladder's nets trained from scratch on every label",
    )
    eval: EvalConfig = section(lambda: EvalConfig(splits=[1, 2], probe_split=2), "tests and probe")
    run: RunConfig = section(RunConfig, "execution settings of every run (seed set per run)")
