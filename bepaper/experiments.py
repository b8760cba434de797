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

import dataclasses
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from bepaper.config import (
    DataConfig,
    EvalConfig,
    FinetuneConfig,
    PretrainConfig,
    RunConfig,
    StudyConfig,
    build_config,
    from_dict,
    read_yaml,
    to_dict,
)
from bepaper.errors import ConfigError, DataError
from bepaper.protocol import arm_method, finetune_config, method_arm, pretrain_config

REPO = Path(__file__).resolve().parents[1]
PRESETS = ("smoke", "synthetic", "paper")
PAPER_DATASETS = ("ucf101", "hmdb51", "diving48", "kinetics400")


@dataclass
class Preset:
    """Where and how the paper's configs run. Built by `Preset.load`."""

    name: str
    train: bool  # train missing runs here (False: print their commands)
    seeds: list[int]
    runs: str  # where run folders go (run.root)
    datasets: dict[str, str]  # the paper's dataset → "synthbias:<analogue>" or a video root
    split_dirs: dict[str, str] = field(default_factory=dict)
    backends: dict[str, str] = field(default_factory=dict)  # "frames" for frame folders
    study: StudyConfig | None = None  # the protocol of a SynthBias preset (its run settings set)
    run: dict = field(default_factory=dict)  # run.* settings of every run (paper)
    changes: list[str] = field(default_factory=list)  # the notebook's overrides, every run
    labels_per_class: dict = field(default_factory=dict)  # per paper dataset (0 = all)
    missing: list[str] = field(default_factory=list)  # commands of runs not made here
    # rows this preset does not run (configs relative to configs/paper/): `make reproduce`'s
    # hour at preset synthetic cannot hold every row at 3 seeds (README)
    cut: list[str] = field(default_factory=list)
    cut_asked: list[str] = field(default_factory=list)  # cut rows a notebook asked for

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
        train: bool | None = None,
        log=print,
    ) -> Preset:
        """A preset by name (smoke | synthetic | paper) from configs/presets/, with the
        notebook's parameters: the runs folder, seeds, device, dataset roots (paper), and
        `section.key=value` overrides applied to every run. `train`: train missing runs here
        (the notebooks' `run_missing`), instead of the preset's choice.

        Real-data presets take each dataset whose root `roots` does not give from
        datasets.yaml or the environment (bepaper.data.roots), found as `bepaper prepare`
        finds it; `log` gets one line per dataset found, and its note (a class subset)."""
        folder = Path(presets_dir) if presets_dir else REPO / "configs" / "presets"
        path = folder / f"{name}.yaml"
        if not path.is_file():
            raise ConfigError(f"unknown preset '{name}'; choose from {list(PRESETS)}")
        y = read_yaml(path)
        known = {"train", "seeds", "datasets", "study", "runs", "run", "labels_per_class", "cut"}
        unknown = sorted(set(y) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown preset key(s) {unknown}")
        run = {**y.get("run", {}), "root": str(runs or y.get("runs", "runs"))}
        if device:
            run["device"] = device
        p = cls(
            name=name,
            train=bool(y.get("train", True)) if train is None else bool(train),
            seeds=list(seeds if seeds is not None else y.get("seeds", [0])),
            runs=run["root"],
            datasets=dict(y.get("datasets", {})),
            run=run,
            changes=list(overrides or []),
            labels_per_class=dict(y.get("labels_per_class", {})),
            cut=list(y.get("cut", [])),
        )
        for config in p.cut:
            if not (REPO / "configs" / "paper" / config).is_file():
                raise ConfigError(f"{path}: cut: no config configs/paper/{config}")
        if "study" in y:
            study = build_config(StudyConfig, [(path.parent / y["study"]).resolve()])
            p.study = dataclasses.replace(
                study, run=from_dict(RunConfig, {**to_dict(study.run), **run})
            )
            # the study fine-tunes its pretraining set in the low-label regime
            for dataset in ("ucf101", "kinetics400"):
                p.labels_per_class.setdefault(dataset, study.labels_per_class)
        for ds, root in (roots or {}).items():
            if root:
                p.datasets[ds] = root
        p.split_dirs.update({k: v for k, v in (split_dirs or {}).items() if v})
        if p.study is None:
            p._configured_roots(log)
        return p

    def _configured_roots(self, log) -> None:
        """Fill the datasets the notebook gave no root for from datasets.yaml / the
        environment (bepaper.data.roots: every unusable root in one DataError)."""
        from bepaper.data.roots import check_roots, read_roots

        entries, _ = read_roots()
        wanted = [d for d in PAPER_DATASETS if d in entries and not self.datasets.get(d)]
        if not wanted:
            return
        for ds, found in check_roots(wanted, probe=False).items():
            settings = found.data_overrides()
            self.datasets[ds] = settings["data.root"]
            if "data.split_dir" in settings:
                self.split_dirs.setdefault(ds, settings["data.split_dir"])
            if settings.get("data.backend") == "frames":
                self.backends[ds] = "frames"
            log(found.summary())
            if found.note:
                log(f"note: {found.note}")

    # ------------------------------------------------------------------ data

    def is_synthetic(self) -> bool:
        return self.study is not None

    def synth_folder(self) -> Path:
        """Where this preset's SynthBias sets are generated."""
        return Path(self.study.synth_root) / self.study.synth_size

    def prepare_data(self, datasets: tuple[str, ...] = PAPER_DATASETS) -> dict[str, Path]:
        """Generate the SynthBias analogues these datasets map to (synthetic presets), or
        check the real roots (paper). Returns {dataset: folder}."""
        out = {}
        if self.is_synthetic():
            from bepaper.data.synthbias import generate

            analogues = sorted({self._analogue(d) for d in datasets})
            folders = generate(
                self.synth_folder(),
                size=self.study.synth_size,
                analogues=analogues,
                writer=self.study.synth_writer,
                workers=self.study.synth_workers,
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
        """The data section's dataset and root for one of the paper's datasets here."""
        if self.is_synthetic():
            return {
                "dataset": "synthbias",
                "root": str(self.synth_folder() / self._analogue(dataset)),
            }
        root = self.datasets.get(dataset, "")
        if not root:
            raise DataError(
                f"preset 'paper' needs the {dataset} videos: name their folder in "
                f"datasets.yaml (see datasets.example.yaml) or $BEPAPER_{dataset.upper()}, "
                f"or give the notebook parameter {dataset}_root"
            )
        out = {"dataset": dataset, "root": root}
        if dataset in self.split_dirs:
            out["split_dir"] = self.split_dirs[dataset]
        if dataset in self.backends:
            out["backend"] = self.backends[dataset]
        return out

    def data_config(self, dataset: str, like: PretrainConfig, split: int = 1) -> DataConfig:
        """The data section of `like` (clip length, stride, load size: what its backbone saw)
        pointed at another of the paper's datasets under this preset."""
        return dataclasses.replace(like.data, **self.data_settings(dataset), split=split)

    def data_folders(self, dataset: str) -> tuple[Path, Path]:
        """(video root, split folder) of one of the paper's datasets here, found as the
        loaders find them (`bepaper.data.datasets.split_location`): a root that holds the
        archive's folder (`hmdb51_org/`) gives that folder, and split files found beside
        it (not named in datasets.yaml) are found."""
        from bepaper.data.datasets import split_location

        return split_location(DataConfig(**self.data_settings(dataset)))

    # ------------------------------------------------------------------ configs

    def protocol(
        self, like: PretrainConfig | None = None, dataset: str | None = None
    ) -> StudyConfig:
        """The protocol (bepaper.protocol) this preset runs with: the study's for SynthBias
        presets; for the paper, the pretraining cell `like`'s settings and the paper's
        fine-tuning settings for `dataset` (configs/paper/finetune/<dataset>.yaml) at the
        cell's clip, crop and backbone (the paper fine-tunes at the pretraining resolution)."""
        if self.is_synthetic():
            return self.study
        run = from_dict(RunConfig, self.run)
        base = StudyConfig(run=run, labels_per_class=0, eval=EvalConfig(splits=[1], probe_split=0))
        if like is not None:
            base = dataclasses.replace(
                base, data=like.data, augment=like.augment, model=like.model,
                method=like.method, pretrain=like.optim,
            )  # fmt: skip
        if dataset is None:
            return base
        cell = REPO / "configs" / "paper" / "finetune" / f"{dataset}.yaml"
        ft = build_config(FinetuneConfig, [cell] if cell.is_file() else [])
        data = ft.data
        if like is not None:
            data = dataclasses.replace(
                data, num_frames=like.data.num_frames, stride=like.data.stride,
                load_size=like.data.load_size,
            )  # fmt: skip
        augment = dataclasses.replace(ft.augment, crop_size=base.augment.crop_size)
        model = dataclasses.replace(base.model, dropout=ft.model.dropout) if like else ft.model
        return dataclasses.replace(
            base, data=data, finetune_augment=augment if like else ft.augment, model=model,
            finetune=ft.optim, eval=dataclasses.replace(ft.eval, probe_split=0),
        )  # fmt: skip

    def pretrain_config(self, cell: str | Path, seed: int = 0, **changes: str) -> PretrainConfig:
        """A paper cell (a pretraining YAML) under this preset, for one seed: its arm (method,
        BE, hard negatives, distraction) and its dataset, under the preset's protocol.
        `changes` are extra `section.key=value` overrides (method__be="false" → method.be=false)."""
        cell = Path(cell)
        if not cell.is_absolute() and not cell.exists():
            cell = REPO / cell
        cell_cfg = build_config(PretrainConfig, [cell])
        dataset = cell_cfg.data.dataset
        if not self.is_synthetic():
            cell_cfg = dataclasses.replace(
                cell_cfg, data=dataclasses.replace(cell_cfg.data, **self.data_settings(dataset))
            )
        protocol = self.protocol(cell_cfg)
        method = arm_method(method_arm(cell_cfg.method), protocol.method)
        data = dataclasses.replace(protocol.data, **self.data_settings(dataset))
        extra = [f"{k.replace('__', '.')}={v}" for k, v in changes.items()]
        pre = [c for c in self.changes if not c.startswith("eval.")]
        return pretrain_config(protocol, method, seed, data=data, changes=[*pre, *extra])

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
        data_root: str | Path | None = None,
    ) -> FinetuneConfig | None:
        """Fine-tuning on one of the paper's datasets (the preset's analogue) from `init`.
        `like`: the pretraining config whose clip, crop and backbone fine-tuning keeps.
        `per_class`: labelled videos per class (default: the preset's, 0 = all).
        `data_root`: another copy or variant of the dataset (e.g. its actor crops).
        `init=None` (a pretraining run that is missing) gives None, which `finetune` passes on."""
        if init is None:
            return None
        protocol = self.protocol(like, dataset)
        data = dataclasses.replace(protocol.data, **self.data_settings(dataset))
        if data_root is not None:
            data = dataclasses.replace(data, root=str(data_root))
        if not self.is_synthetic():
            protocol = dataclasses.replace(
                protocol, eval=dataclasses.replace(protocol.eval, splits=[split])
            )
        n = self.labels_per_class.get(dataset, 0) if per_class is None else per_class
        post = [c for c in self.changes if not c.startswith("method.")]
        return finetune_config(
            protocol, seed, init=str(init), data=data, split=split, static=static,
            per_class=n, changes=post,
        )  # fmt: skip

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
        """The commands of the runs this notebook needed but did not find (paper preset),
        and the rows this preset cuts."""
        cut = ""
        if self.cut_asked:
            rows = ", ".join(Path(c).stem for c in dict.fromkeys(self.cut_asked))
            cut = (f"\nNot run at preset {self.name} (its `cut` list, configs/presets/"
                   f"{self.name}.yaml, to fit `make reproduce` in an hour): {rows}.")  # fmt: skip
        if not self.missing:
            return "Every run this notebook needs exists." + cut
        lines = [f"{len(self.missing)} runs are missing. Run these (one GPU; for 8 GPUs put "
                 "`torchrun --nproc_per_node 8 -m bepaper.cli` in place of `bepaper`), then "
                 "rerun this notebook:"]  # fmt: skip
        return "\n".join([*lines, *dict.fromkeys(self.missing)]) + cut


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
    commands recorded in `preset.missing`). Cells the preset cuts are left out (and named in
    `preset.cut_asked`)."""
    rows = []
    for cell in cells:
        if cell.config in preset.cut:
            preset.cut_asked.append(cell.config)
            continue
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


# ---------------------------------------------------------------------- the figures' runs
# The runs of Figures 4 and 5, asked of a preset: the notebooks train or reuse them through
# it, `bepaper plan --figures` records them (bepaper.plan), so both ask for the same runs.


def figure_seeds(preset: Preset) -> list[int]:
    """The seeds Figures 4 and 5 run: at a SynthBias preset the first only (Figure 4's static
    nets see every label of their set, Figure 5 fine-tunes three inits on two more sets;
    `make reproduce` holds its hour without two more of each, README), else every seed of
    the preset."""
    return preset.seeds[:1] if preset.is_synthetic() else list(preset.seeds)


def figure4_runs(preset: Preset, dataset: str, seed: int) -> tuple:
    """Figure 4's runs on `dataset` for one seed, as fine-tuning results (None when
    missing): MoCo and MoCo + BE (Table 1's C3D rows) fine-tuned on it, and a static-frame
    net trained on every label of it."""
    from bepaper.tables import TABLE1

    paper = REPO / "configs" / "paper"
    base_cfg = preset.pretrain_config(paper / TABLE1["moco_c3d_ucf101"].config, seed)
    new_cfg = preset.pretrain_config(paper / TABLE1["moco_be_c3d_ucf101"].config, seed)
    base = preset.finetune(
        preset.finetune_config(dataset, init=preset.pretrain(base_cfg), like=base_cfg, seed=seed)
    )
    new = preset.finetune(
        preset.finetune_config(dataset, init=preset.pretrain(new_cfg), like=new_cfg, seed=seed)
    )
    static = preset.finetune(
        preset.finetune_config(dataset, like=base_cfg, seed=seed, static=True, per_class=0)
    )
    return base, new, static


def synthetic_actor_root(preset: Preset) -> Path:
    """The actor-cropped HMDB51-like set of a SynthBias preset, built (once) from its
    ground-truth boxes: Figure 5's Actor-HMDB51."""
    from bepaper.data.actor_crop import build_actor_crops

    hm = Path(preset.data_settings("hmdb51")["root"])
    root = hm.parent / f"{hm.name}_actor"
    build_actor_crops(
        hm / "videos", hm / "splits", root, boxes="ground_truth", box_root=hm / "boxes",
        progress=False,
    )  # fmt: skip
    return root


FIGURE5_INITS = ("MoCo", "MoCo + BE", "K400 Supervised")


def figure5_runs(preset: Preset, seed: int, actor_root: str | Path) -> tuple:
    """Figure 5's runs for one seed: MoCo and MoCo + BE (Table 1's I3D/K400 rows) and the
    K400-supervised reference, each fine-tuned on HMDB51 and on its actor crops
    (`actor_root`). Returns (the config the fine-tunes are like, {init name: {column:
    fine-tuning result or None}})."""
    from bepaper.tables import TABLE1

    paper = REPO / "configs" / "paper"
    cfgs = {
        "MoCo": preset.pretrain_config(paper / TABLE1["moco_i3d_k400"].config, seed),
        "MoCo + BE": preset.pretrain_config(paper / TABLE1["moco_be_i3d_k400"].config, seed),
    }
    inits = {name: preset.pretrain(c) for name, c in cfgs.items()}
    like = cfgs["MoCo"]
    sup = preset.finetune(preset.finetune_config("kinetics400", like=like, seed=seed, per_class=0))
    inits["K400 Supervised"] = sup["run"] if sup else None
    out: dict[str, dict] = {}
    for name, init in inits.items():
        out[name] = {
            column: preset.finetune(
                preset.finetune_config("hmdb51", init=init, like=like, seed=seed, data_root=root)
            )
            for column, root in (("HMDB51", None), ("Actor-HMDB51", actor_root))
        }
    return like, out
