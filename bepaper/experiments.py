"""The notebooks' platform: a preset turns the paper's configs into runs that exist, or into
the exact commands that make them.

    preset = Preset.load("synthetic", runs="runs")
    cfg = preset.pretrain_config("configs/paper/table1/moco_be_c3d_ucf101.yaml", seed=0)
    folder = preset.pretrain(cfg)                    # trained here, or reused when finished
    res = preset.finetune(preset.finetune_config("hmdb51", init=folder, like=cfg, seed=0))

A paper config (`configs/paper/...`) holds the paper's settings for real data. A preset
(`configs/presets/<name>.yaml`) says what changes where it runs:

- `smoke`: SynthBias `tiny` and a tiny net, seconds per notebook (the tests);
- `synthetic` (the default): the SynthBias analogues and the BE question's settings
  (`configs/synthbias_cpu.yaml`), so the notebooks and `bepaper study` share their runs;
- `paper`: the paper's settings on real data. Runs too big for a notebook are not trained
  in it: the preset prints the `bepaper` / `torchrun` commands of the missing runs, and the
  tables are built from the runs that exist.

Runs are keyed on their result-relevant config (`bepaper.identity.run_folder`), so a run is
trained once and then found by every notebook that asks for it, on any machine.
"""

from __future__ import annotations

import copy
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from bepaper.config import (
    FinetuneConfig,
    PretrainConfig,
    StudyConfig,
    build_config,
    from_dict,
    read_yaml,
    to_dict,
    validate,
)
from bepaper.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]
PRESETS = ("smoke", "synthetic", "paper")
PAPER_DATASETS = ("ucf101", "hmdb51", "diving48", "kinetics400")


def _deep_update(base: dict, updates: dict) -> dict:
    for k, v in updates.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_update(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base


@dataclass
class Preset:
    """Where and how the paper's configs run. Built by `Preset.load`."""

    name: str
    train: bool  # train missing runs here (False: print their commands)
    seeds: list[int]
    runs: str  # where run folders go (run.root)
    datasets: dict[str, str]  # the paper's dataset → "synthbias:<analogue>" or a video root
    split_dirs: dict[str, str] = field(default_factory=dict)
    synth: dict = field(default_factory=dict)  # SynthBias preset, root, writer, workers
    backbone: dict | None = None  # {"backbone": name, "width": w} replaces every backbone
    pretrain_overrides: dict = field(default_factory=dict)
    finetune_overrides: dict = field(default_factory=dict)
    method_options: dict = field(default_factory=dict)  # per method name
    labels_per_class: dict = field(default_factory=dict)  # per paper dataset
    study: StudyConfig | None = None
    missing: list[str] = field(default_factory=list)  # commands of runs not made here

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        name: str = "synthetic",
        *,
        runs: str | None = None,
        seeds: list[int] | None = None,
        device: str | None = None,
        roots: dict[str, str] | None = None,
        split_dirs: dict[str, str] | None = None,
        overrides: list[str] | None = None,
        presets_dir: str | Path | None = None,
    ) -> Preset:
        """A preset by name (smoke | synthetic | paper) from configs/presets/, with the
        notebook's parameters: the runs folder, seeds, device, dataset roots (paper), and
        `section.key=value` overrides applied to every run."""
        folder = Path(presets_dir) if presets_dir else REPO / "configs" / "presets"
        path = folder / f"{name}.yaml"
        if not path.is_file():
            raise ConfigError(f"unknown preset '{name}'; choose from {list(PRESETS)}")
        y = read_yaml(path)
        known = {"train", "seeds", "datasets", "synth", "backbone", "pretrain", "finetune"}
        known |= {"method_options", "labels_per_class", "study", "runs", "run"}
        unknown = sorted(set(y) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown preset key(s) {unknown}")
        p = cls(
            name=name,
            train=bool(y.get("train", True)),
            seeds=list(seeds if seeds is not None else y.get("seeds", [0])),
            runs=str(runs or y.get("runs", "runs")),
            datasets=dict(y.get("datasets", {})),
            synth=dict(y.get("synth", {})),
            backbone=y.get("backbone"),
            pretrain_overrides=dict(y.get("pretrain", {})),
            finetune_overrides=dict(y.get("finetune", {})),
            method_options=dict(y.get("method_options", {})),
            labels_per_class=dict(y.get("labels_per_class", {})),
        )
        if "study" in y:
            p._from_study(build_config(StudyConfig, [(path.parent / y["study"]).resolve()]))
        run = dict(y.get("run", {}))
        run["root"] = p.runs
        if device:
            run["device"] = device
        for section in (p.pretrain_overrides, p.finetune_overrides):
            _deep_update(section, {"run": run})
        for text in overrides or []:
            from bepaper.config import parse_override

            o = parse_override(text)
            _deep_update(p.pretrain_overrides, {k: v for k, v in o.items() if k != "eval"})
            _deep_update(p.finetune_overrides, {k: v for k, v in o.items() if k != "method"})
        for ds, root in (roots or {}).items():
            if root:
                p.datasets[ds] = root
        p.split_dirs.update({k: v for k, v in (split_dirs or {}).items() if v})
        return p

    def _from_study(self, study: StudyConfig) -> None:
        """Take the BE question's settings, so that the notebooks' runs are the study's."""
        self.study = study
        self.synth.setdefault("preset", study.synth_preset)
        self.synth.setdefault("root", study.synth_root)
        self.synth.setdefault("writer", study.synth_writer)
        self.synth.setdefault("workers", study.synth_workers)
        data = {k: v for k, v in to_dict(study.data).items() if k not in ("dataset", "root")}
        model = to_dict(study.model)
        self.backbone = self.backbone or {"backbone": model["backbone"], "width": model["width"]}
        common = {"data": data, "model": {"dropout": model["dropout"]}, "run": to_dict(study.run)}
        self.pretrain_overrides = _deep_update(
            {**copy.deepcopy(common), "augment": to_dict(study.augment),
             "optim": to_dict(study.pretrain)},
            self.pretrain_overrides,
        )  # fmt: skip
        self.finetune_overrides = _deep_update(
            {**copy.deepcopy(common), "augment": to_dict(study.finetune_augment),
             "optim": to_dict(study.finetune),
             "eval": {**to_dict(study.eval), "probe_split": 0}},
            self.finetune_overrides,
        )  # fmt: skip
        m = to_dict(study.method)
        # the study's arms decide BE and hard negatives; its other settings are taken
        shared = {"name", "be", "beta", "gamma", "distraction", "lambda_per_batch"}
        shared.add("hard_negatives")
        self.method_options.setdefault(
            study.method.name, {k: v for k, v in m.items() if k not in shared}
        )
        self.labels_per_class.setdefault("ucf101", study.labels_per_class)
        self.labels_per_class.setdefault("kinetics400", study.labels_per_class)

    # ------------------------------------------------------------------ data

    def is_synthetic(self) -> bool:
        return bool(self.synth)

    def prepare_data(self, datasets: tuple[str, ...] = PAPER_DATASETS) -> dict[str, Path]:
        """Generate the SynthBias analogues these datasets map to (synthetic presets), or
        check the real roots (paper). Returns {dataset: folder}."""
        out = {}
        if self.is_synthetic():
            from bepaper.data.synthbias import generate

            analogues = sorted({self._analogue(d) for d in datasets})
            folders = generate(
                Path(self.synth.get("root", "data/synthbias")) / self.synth["preset"],
                preset=self.synth["preset"],
                analogues=analogues,
                writer=self.synth.get("writer", "pyav"),
                workers=self.synth.get("workers", 2),
                progress=False,
            )
            return {d: folders[self._analogue(d)] for d in datasets}
        for d in datasets:
            root = self.datasets.get(d)
            if root and Path(root).is_dir():
                out[d] = Path(root)
        return out

    def _analogue(self, dataset: str) -> str:
        target = self.datasets.get(dataset)
        if not target or not target.startswith("synthbias:"):
            raise ConfigError(f"preset '{self.name}' maps no SynthBias analogue to '{dataset}'")
        return target.split(":", 1)[1]

    def data_settings(self, dataset: str) -> dict:
        """The data section for one of the paper's datasets under this preset."""
        if self.is_synthetic():
            root = Path(self.synth.get("root", "data/synthbias")) / self.synth["preset"]
            return {"dataset": "synthbias", "root": str(root / self._analogue(dataset))}
        root = self.datasets.get(dataset, "")
        if not root:
            raise DataError(
                f"preset 'paper' needs the {dataset} videos: give the notebook parameter "
                f"{dataset}_root (a folder of videos or extracted frames)"
            )
        out = {"dataset": dataset, "root": root}
        if dataset in self.split_dirs:
            out["split_dir"] = self.split_dirs[dataset]
        return out

    # ------------------------------------------------------------------ configs

    def pretrain_config(self, cell: str | Path, seed: int = 0, **changes: str) -> PretrainConfig:
        """A paper cell (a pretraining YAML) under this preset, for one seed. `changes` are
        extra `section.key=value` overrides (e.g. method__be="true" → method.be=true)."""
        cell = Path(cell)
        if not cell.is_absolute() and not cell.exists():
            cell = REPO / cell
        d = to_dict(build_config(PretrainConfig, [cell]))
        dataset = d["data"]["dataset"]
        _deep_update(d, {"data": self.data_settings(dataset)})
        self._apply_backbone(d)
        _deep_update(d, self.pretrain_overrides)
        opts = self.method_options.get(d["method"]["name"], {})
        _deep_update(d, {"method": opts})
        _deep_update(d, {"run": {"seed": seed, "out": ""}})
        cfg = from_dict(PretrainConfig, d)
        for k, v in changes.items():
            from bepaper.config import apply

            cfg = apply(cfg, f"{k.replace('__', '.')}={v}")
        validate(cfg)
        return cfg

    def _apply_backbone(self, d: dict) -> None:
        if self.backbone:
            _deep_update(d, {"model": dict(self.backbone)})

    def finetune_config(
        self,
        dataset: str,
        *,
        init: str | Path | None = "",
        like: PretrainConfig | None = None,
        seed: int = 0,
        static: bool = False,
        split: int = 1,
        per_class: int | None = None,
        cell: str | Path | None = None,
        data_root: str | Path | None = None,
    ) -> FinetuneConfig:
        """Fine-tuning on one of the paper's datasets (the preset's analogue). `like`: the
        pretraining config whose clip, crop and backbone settings fine-tuning keeps (the
        paper fine-tunes at the pretraining resolution). `cell`: a fine-tuning YAML of the
        paper (configs/paper/finetune/<dataset>.yaml by default). `data_root`: another copy
        or variant of the dataset (e.g. its actor crops). `init=None` (a pretraining run that
        is missing) gives None, which `finetune` passes on."""
        if init is None:
            return None
        cell = Path(cell) if cell else REPO / "configs" / "paper" / "finetune" / f"{dataset}.yaml"
        d = to_dict(build_config(FinetuneConfig, [cell] if cell.is_file() else []))
        if like is not None:
            for key in ("num_frames", "stride", "load_size"):
                d["data"][key] = getattr(like.data, key)
            d["augment"]["crop_size"] = like.augment.crop_size
            d["model"].update(backbone=like.model.backbone, width=like.model.width)
        _deep_update(d, {"data": self.data_settings(dataset)})
        self._apply_backbone(d)
        _deep_update(d, self.finetune_overrides)
        n = self.labels_per_class.get(dataset, 0) if per_class is None else per_class
        _deep_update(d, {"data": {"split": split, "per_class": n}})
        if data_root is not None:
            d["data"]["root"] = str(data_root)
        _deep_update(d, {"run": {"seed": seed, "out": ""}, "init": str(init), "static": static})
        if not self.is_synthetic():
            d["eval"]["splits"] = [split]
            d["eval"]["probe_split"] = 0
        cfg = from_dict(FinetuneConfig, d)
        validate(cfg)
        return cfg

    def data_config(self, dataset: str, like: PretrainConfig, split: int = 1):
        """The data section of `like` (clip length, stride, load size: what its backbone saw)
        pointed at another of the paper's datasets under this preset."""
        from bepaper.config import DataConfig

        d = {**to_dict(like.data), **self.data_settings(dataset), "split": split}
        return from_dict(DataConfig, d)

    # ------------------------------------------------------------------ runs

    def pretrain(self, cfg: PretrainConfig) -> Path:
        """The run folder of `cfg`: reused when finished, trained here when the preset trains;
        otherwise its command is recorded in `missing` and the folder it will have is
        returned, so that the fine-tuning commands that start from it can name it."""
        from bepaper.identity import run_folder
        from bepaper.train import pretrain

        folder = run_folder(cfg, "pretrain")
        if (folder / "finished.json").exists() or self.train:
            pretrain(cfg)
        else:
            self._missing("pretrain", cfg)
        return folder

    def finetune(self, cfg: FinetuneConfig | None) -> dict | None:
        """The results of fine-tuning run `cfg` (reused or trained), or None when it is
        missing under a preset that does not train (its command is then recorded), when its
        pretraining run is not finished yet, or when `cfg` is None."""
        from bepaper.identity import run_folder
        from bepaper.train import finetune

        if cfg is None:
            return None
        if cfg.init and not (Path(cfg.init) / "finished.json").exists() and not self.train:
            self._missing("finetune", cfg)  # after the pretraining command it needs
            return None
        folder = run_folder(cfg, "finetune")
        if (folder / "finished.json").exists() or self.train:
            res = finetune(cfg)
            res["run"] = str(folder)
            return res
        self._missing("finetune", cfg)
        return None

    def _missing(self, command: str, cfg) -> None:
        self.missing.append(command_line(command, cfg))

    def report_missing(self) -> str:
        """The commands of the runs this notebook needed but did not find (paper preset)."""
        if not self.missing:
            return "Every run this notebook needs exists."
        lines = [f"{len(self.missing)} runs are missing. Run these (one GPU; for 8 GPUs put "
                 "`torchrun --nproc_per_node 8 -m bepaper.cli` in place of `bepaper`), then "
                 "rerun this notebook:"]  # fmt: skip
        return "\n".join([*lines, *dict.fromkeys(self.missing)])


def command_line(command: str, cfg) -> str:
    """The `bepaper` command that makes exactly this run (same identity, same folder)."""
    defaults = to_dict(type(cfg)())
    want = to_dict(cfg)
    args = []

    def walk(a: dict, b: dict, prefix: str) -> None:
        for k, v in b.items():
            if isinstance(v, dict):
                walk(a.get(k, {}), v, f"{prefix}{k}.")
            elif a.get(k) != v and f"{prefix}{k}" not in ("run.out",):
                args.append(f"{prefix}{k}={_yaml_value(v)}")

    # the method's name first, so that its options apply to the right method
    if "method" in want:
        from bepaper.config import MethodConfig

        name = want["method"]["name"]
        args.append(f"method.name={name}")
        defaults["method"] = to_dict(MethodConfig(name=name))
    walk(defaults, want, "")
    return " ".join(["bepaper", command, *(shlex.quote(a) for a in args)])


def _yaml_value(v) -> str:
    import yaml

    return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("\n...").strip()


# ---------------------------------------------------------------------- tables of runs


def describe_data(cfg) -> str:
    """What data a run used, in words (for the 'our data' column)."""
    if cfg.data.dataset == "synthbias":
        return f"SynthBias {Path(cfg.data.root).parent.name}/{Path(cfg.data.root).name}"
    return cfg.data.dataset


def describe_model(cfg) -> str:
    width = cfg.model.width or "published"
    return f"{cfg.model.backbone} (width {width})"


def run_cells(
    preset: Preset, cells, targets: dict[str, str], *, test_splits: tuple[int, ...] = (1, 2)
) -> list[dict]:
    """Pretrain every cell (each seed), fine-tune on each target dataset, test. One row per
    (cell, column, seed, test split) with the value in %. `targets` maps the paper's dataset
    to its column label (e.g. {"ucf101": "UCF101"}). Missing runs are left out (and their
    commands recorded in `preset.missing`)."""
    rows = []
    for cell in cells:
        for seed in preset.seeds:
            cfg = preset.pretrain_config(REPO / "configs" / "paper" / cell.config, seed)
            folder = preset.pretrain(cfg)
            rows += _finetune_rows(preset, cell.config, folder, cfg, seed, targets, test_splits)
    return rows


def reference_rows(
    preset: Preset, like_cell: str, targets: dict[str, str], *, test_splits=(1, 2)
) -> list[dict]:
    """The paper's reference rows that can run here, at the clip and backbone settings of
    `like_cell` (a pretraining config): random initialisation ('reference:random'), and
    supervised pretraining on that cell's pretraining set with all its labels, then
    fine-tuning ('reference:supervised')."""
    rows = []
    for seed in preset.seeds:
        like = preset.pretrain_config(REPO / "configs" / "paper" / like_cell, seed)
        source = yaml_dataset(REPO / "configs" / "paper" / like_cell)
        sup = preset.finetune(preset.finetune_config(source, like=like, seed=seed, per_class=0))
        sup_folder = sup["run"] if sup is not None else None
        for name, init in (("reference:random", ""), ("reference:supervised", sup_folder)):
            rows += _finetune_rows(preset, name, init, like, seed, targets, test_splits)
    return rows


def _finetune_rows(preset, config, init, like, seed, targets, test_splits) -> list[dict]:
    """Fine-tune `init` (a folder, '' for random init, None when missing) on each target and
    return one row per (column, test split)."""
    rows = []
    for dataset, column in targets.items():
        fcfg = preset.finetune_config(dataset, init=init, like=like, seed=seed)
        res = preset.finetune(fcfg)
        if res is None:
            continue
        for split in test_splits:
            value = res["test_top1"].get(str(split))
            if value is None:
                continue
            rows.append(
                {
                    "config": config,
                    "column": column if split == 1 else f"{column} (split {split})",
                    "seed": seed,
                    "value": 100 * value,
                    "data": describe_data(fcfg),
                    "backbone": describe_model(fcfg),
                    "init": str(init),
                    "finetune_run": res["run"],
                }
            )
    return rows


def yaml_dataset(path: str | Path) -> str:
    """The paper's dataset a config file names (data.dataset)."""
    return read_yaml(path).get("data", {}).get("dataset", "ucf101")
