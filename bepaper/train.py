"""Pretraining and fine-tuning loops: plain, resumable, single- or multi-process.

Each run lives in a run folder (`bepaper.runs.RunDir`): the resolved config, per-epoch
metrics as JSON lines, checkpoints written atomically every epoch, and final results.
Rerunning the same command resumes from the last complete checkpoint.

Randomness is keyed on (seed, epoch): the clip sampling, the shuffling and the
augmentation of epoch e do not depend on what ran before, so a resumed run draws exactly
what an uninterrupted one would.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from tqdm.auto import tqdm

from bepaper import distributed as dist
from bepaper.augment import train_view
from bepaper.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    save_epoch_checkpoint,
)
from bepaper.config import (
    FinetuneConfig,
    OptimConfig,
    PretrainConfig,
    RunConfig,
    result_dict,
    to_dict,
    validate,
)
from bepaper.data.datasets import (
    LabeledClips,
    PretrainClips,
    collate,
    data_fingerprint,
    load_split,
    subset_per_class,
)
from bepaper.errors import BepaperError, CheckpointError, ConfigError, DataError
from bepaper.evaluate import (
    clip_features,
    combine_clip_scores,
    fit_linear_probe,
    top1,
    video_scores,
)
from bepaper.methods import build_method
from bepaper.models import Classifier, build_backbone
from bepaper.runs import RunDir, atomic_path, identity_key, read_identity


class TrainingError(BepaperError):
    """Training cannot go on (a non-finite loss, no readable data)."""


# ---------------------------------------------------------------- shared pieces


def resolve_device(name: str) -> torch.device:
    """'auto' → the local CUDA device when there is one (one per torchrun process), else CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            import os

            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"run.device is '{name}' but CUDA is not available here")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"run.device '{name}' is not a device; use auto, cpu, cuda or cuda:N"
        ) from None


def check_settings(cfg) -> None:
    """Refuse values outside their documented range before anything is written (ConfigError
    naming the key, the value and the range). `build_config` does this too; configs built
    in code pass here."""
    validate(cfg)


def epoch_seed(seed: int, epoch: int, salt: int = 0) -> int:
    return (seed * 1_000_003 + epoch * 7_919 + salt * 104_729 + dist.rank()) % (2**63 - 1)


def lr_at(cfg: OptimConfig, epoch: int) -> float:
    """The learning rate of `epoch` (0-based). Step: lr x lr_gamma every lr_step epochs.
    Cosine: lr/2 (1 + cos(pi e / epochs)), from lr at the first epoch towards 0."""
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * epoch / cfg.epochs))
    return cfg.lr * cfg.lr_gamma ** (epoch // cfg.lr_step) if cfg.lr_step > 0 else cfg.lr


def make_optimizer(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


class EpochOrder(Sampler):
    """One epoch's samples as (epoch, index) pairs.

    The order depends only on (seed, epoch), and under torchrun on the rank (then torch's
    DistributedSampler gives it). It never depends on `data.workers`.
    Carrying the epoch in each index lets persistent worker processes, whose copy of the
    dataset never sees `set_epoch`, draw that epoch's clips."""

    def __init__(self, n: int, seed: int, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0
        self.world, self.rank = dist.world_size(), dist.rank()

    def set_epoch(self, epoch: int) -> EpochOrder:
        self.epoch = epoch
        return self

    def indices(self) -> list[int]:
        n = self.n
        if self.world > 1:
            order = DistributedSampler(
                range(n), self.world, self.rank, shuffle=self.shuffle, seed=self.seed
            )
            order.set_epoch(self.epoch)
            return list(order)
        if not self.shuffle:
            return list(range(n))
        g = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch, 1))
        return torch.randperm(n, generator=g).tolist()

    def __iter__(self):
        return iter([(self.epoch, i) for i in self.indices()])

    def __len__(self) -> int:
        return -(-self.n // self.world)


def epoch_loader(
    previous: DataLoader | None,
    ds: Dataset,
    batch_size: int,
    workers: int,
    seed: int,
    epoch: int,
    device: torch.device,
) -> DataLoader:
    """The loader for `epoch`, over `ds` in `EpochOrder` (per-process under torchrun): the
    `previous` one, with its worker processes, where they persist, else a new one whose
    workers persist. Iterating either draws the same batches; seed the global RNG after
    making the iterator (a new one draws its base seed from it, a reused one does not)."""
    if previous is not None and previous.persistent_workers and previous.dataset is ds:
        previous.sampler.set_epoch(epoch)
        return previous
    per_proc = max(1, batch_size // dist.world_size())
    return DataLoader(
        ds,
        batch_size=per_proc,
        sampler=EpochOrder(len(ds), seed).set_epoch(epoch),
        num_workers=workers,
        persistent_workers=workers > 0,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        drop_last=len(ds) >= 2 * per_proc,
    )


def _skip_legacy_draws() -> None:
    """Advance the global RNG by the two draws the loop made before loaders persisted.

    Until aa1ad0a the seed was set before the loader was wrapped in tqdm, which built two
    iterators, each drawing its base seed from the global RNG. Every stored result (the
    10-seed verdict, the tables under figures/) was trained that way; skipping the same two
    draws keeps those runs reproducible bit for bit (dropout masks included)."""
    for _ in range(2):
        torch.empty((), dtype=torch.int64).random_()


def prepare_model(model: nn.Module, run: RunConfig, device: torch.device) -> nn.Module:
    if run.sync_bn and dist.world_size() > 1:
        if device.type != "cuda":
            raise ConfigError("run.sync_bn needs CUDA (torch's SyncBatchNorm is GPU-only)")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(device)
    if device.type == "cuda" and run.channels_last:
        model.to(memory_format=torch.channels_last_3d)
    return model


def _autocast(run: RunConfig, device: torch.device):
    return torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=run.amp and device.type == "cuda"
    )


def _set_determinism(run: RunConfig) -> None:
    if run.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


# Bump it in the commit that makes some config train to another result (an order, a seed,
# a default inside the code): runs made before are then no longer reused under their old
# names, and a finished one in an explicit run.out is refused, naming `results_version`.
# Version 1 adds nothing to the identity, so the runs made before it existed keep their names.
RESULTS_VERSION = 1


def run_identity(cfg, command: str) -> dict:
    """What a run's result depends on: the command, the config without its execution
    settings, the data's fingerprint, the code's RESULTS_VERSION and, for fine-tuning, the
    identity of its init."""
    ident = {"command": command, "config": result_dict(cfg), "data": data_fingerprint(cfg.data)}
    if RESULTS_VERSION != 1:
        ident["results_version"] = RESULTS_VERSION
    init = getattr(cfg, "init", "")
    if init:
        ident["config"]["init"] = _init_identity(init)
    return ident


def _init_identity(init: str) -> str:
    """A pretraining run folder stands for its identity key; a checkpoint file for a hash of
    its bytes. So the path to the same weights does not matter."""
    import hashlib

    path = Path(init)
    if path.is_dir():
        ident = read_identity(path)
        if ident is not None:
            return f"run:{identity_key(ident)}"
        path = path / ("backbone.pt" if (path / "backbone.pt").exists() else "classifier.pt")
    if not path.is_file():
        raise CheckpointError(f"init not found: {init} (a pretraining run folder or backbone.pt)")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"file:{h.hexdigest()[:16]}"


def run_label(cfg, command: str) -> str:
    """The readable part of an automatic run folder's name."""
    if command == "pretrain":
        m = cfg.method
        extra = "-hn" if getattr(m.options, "hard_negatives", False) else ""
        return f"{m.name}{extra}{'-be' if m.be else ''}-{cfg.model.backbone}"
    tag = "static" if getattr(cfg, "static", False) else ("init" if cfg.init else "scratch")
    return f"{tag}-{cfg.model.backbone}"


def run_folder(cfg, command: str) -> Path:
    """`run.out` when given, else `<run.root>/<command>-<label>-<identity key>`: the same
    result-relevant config on the same data always gets the same folder."""
    if cfg.run.out:
        return Path(cfg.run.out)
    key = identity_key(run_identity(cfg, command))
    return Path(cfg.run.root) / f"{command}-{run_label(cfg, command)}-{key}"


def open_run(cfg, command: str) -> tuple[RunDir, dict | None]:
    """Open (or resume) the run folder. Returns (run, results): results are not None when
    the folder already holds a finished run of the same identity, which is then reused."""
    path = run_folder(cfg, command)
    run = RunDir(path, to_dict(cfg), command, run_identity(cfg, command))
    if run.reusable():
        if dist.is_main():
            print(f"reusing finished run {path}")
        return run, run.results()
    resumed = run.open() if dist.is_main() else False
    dist.barrier()  # the folder exists before any process's loader logs a skipped video
    if dist.is_main() and not resumed:
        print(f"run folder: {path}")
    return run, None


def _resume(run: RunDir, model: nn.Module, opt: torch.optim.Optimizer) -> tuple[int, dict]:
    """Load the newest complete checkpoint, if any. Returns (finished epochs, that epoch's
    metrics record), so a run killed after its last epoch still reports its final metrics."""
    ckpt = latest_checkpoint(run.ckpt_dir)
    if ckpt is None:
        return 0, {}
    state = load_checkpoint(ckpt)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    if dist.is_main():
        run.truncate_log(state["epoch"])
    return int(state["epoch"]), dict(state.get("metrics", {}))


def _channels_last(views: dict[str, Tensor], mem) -> dict[str, Tensor]:
    """channels_last_3d for every 5-D float view (CUDA only; `mem` None = unchanged)."""
    if mem is None:
        return views
    return {
        k: v.contiguous(memory_format=mem) if v.dim() == 5 and v.is_floating_point() else v
        for k, v in views.items()
    }


def _fit(
    run: RunDir,
    cfg,
    model: nn.Module,
    step: Callable[[nn.Module, dict, torch.Generator], tuple[Tensor, dict]],
    dataset: PretrainClips | LabeledClips,
    device: torch.device,
    desc: str,
) -> dict:
    """The epoch loop shared by pretraining and fine-tuning: lr schedule, NaN check,
    per-epoch metrics (loss, lr, clips/s, data-wait fraction, peak GPU memory), TensorBoard
    scalars, an ETA, and atomic checkpoints. `step(model, batch, generator)` returns the
    loss and detached statistics."""
    optim, runc = cfg.optim, cfg.run
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(params, optim)
    start, last = _resume(run, model, opt)
    if start and dist.is_main():
        run.note(f"resuming after epoch {start}")
        print(f"resuming {run.path} after epoch {start}")
    train_model = model
    if dist.world_size() > 1:
        train_model = nn.parallel.DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False,
        )
    board = _tensorboard(run, runc) if dist.is_main() else None
    epoch_times: list[float] = []
    loader = None
    for epoch in range(start, optim.epochs):
        gen = torch.Generator(device).manual_seed(epoch_seed(runc.seed, epoch, 3))
        dataset.set_epoch(epoch)
        for group in opt.param_groups:
            group["lr"] = lr_at(optim, epoch)
        loader = epoch_loader(
            loader, dataset, optim.batch_size, cfg.data.workers, runc.seed, epoch, device
        )
        batches = iter(loader)
        # Seeded after the iterator exists: making one draws from the global RNG (its base
        # seed) or not (a persistent loader's), so the steps' global draws (dropout,
        # shuffle-BN) depend on (seed, epoch) only, never on data.workers.
        torch.manual_seed(epoch_seed(runc.seed, epoch, 2))
        _skip_legacy_draws()
        train_model.train()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t0, steps, samples = time.time(), 0, 0
        total, sums, wait = torch.zeros((), device=device), {}, 0.0
        bar = tqdm(
            batches,
            total=len(loader),
            desc=f"{desc} {epoch + 1}/{optim.epochs}",
            leave=False,
            disable=not (runc.progress and dist.is_main()),
        )
        t_data = time.time()
        for batch in bar:
            wait += time.time() - t_data
            if batch is None:
                t_data = time.time()
                continue
            loss, stats = step(train_model, batch, gen)
            if not torch.isfinite(loss):
                last_ckpt = latest_checkpoint(run.ckpt_dir)
                message = (
                    f"loss is {float(loss.detach())} at epoch {epoch + 1}, step {steps + 1}; "
                    f"stopped. Last good checkpoint: {last_ckpt or 'none (no epoch finished)'}"
                )
                if dist.is_main():
                    run.note(message)
                raise TrainingError(message)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            samples += len(batch["index"])
            total += loss.detach()
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v
            if steps % 10 == 0:
                bar.set_postfix(
                    loss=f"{float(total) / steps:.3f}",
                    eta=_eta(epoch_times, epoch, optim.epochs, bar),
                )
            if runc.max_steps and steps >= runc.max_steps:
                break
            t_data = time.time()
        if steps == 0:
            raise DataError(
                f"no readable video: all {len(dataset)} listed videos under "
                f"{dataset.video_root} were skipped; reasons in {run.path / 'skipped.jsonl'}"
            )
        seconds = time.time() - t0
        epoch_times.append(seconds)
        last = {
            "epoch": epoch + 1,
            # mean over processes (EpochOrder gives each the same number of samples)
            "loss": float(dist.all_reduce_sum(total.clone())) / (steps * dist.world_size()),
            "lr": lr_at(optim, epoch),
            "steps": steps,
            "seconds": round(seconds, 2),
            "samples_per_s": round(samples * dist.world_size() / max(seconds, 1e-9), 1),
            "data_wait": round(wait / max(seconds, 1e-9), 3),
            **{k: float(v) / steps for k, v in sums.items()},
        }
        if device.type == "cuda":
            last["gpu_mem_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        if dist.is_main():
            # The record first: a kill between the two leaves it for an epoch that the resume
            # drops (truncate_log) and redoes; the other order would lose the record.
            run.log(last)
            save_epoch_checkpoint(
                run.ckpt_dir,
                epoch + 1,
                {
                    "epoch": epoch + 1,
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "config": to_dict(cfg),
                    "metrics": last,
                },
                keep=runc.keep_checkpoints,
            )
            line = (
                f"{desc} epoch {epoch + 1}/{optim.epochs}: "
                f"loss {last['loss']:.4f} ({last['seconds']} s, {last['samples_per_s']} videos/s, "
                f"data wait {100 * last['data_wait']:.0f}%)"
            )
            run.note(line)
            if board is not None:
                for k, v in last.items():
                    if k != "epoch" and isinstance(v, int | float):
                        board.add_scalar(f"{desc}/{k}", v, epoch + 1)
                board.flush()
            if runc.progress:
                tqdm.write(line)
    if board is not None:
        board.close()
    return last


def _eta(epoch_times: list[float], epoch: int, epochs: int, bar) -> str:
    """Time left for the whole run: this epoch's remainder plus the mean epoch time for the
    epochs after it (the bar's own ETA covers this epoch only)."""
    rate = bar.format_dict.get("rate") or 0
    total, n = bar.format_dict.get("total") or 0, bar.format_dict.get("n", 0)
    here = (total - n) / rate if rate else 0.0
    per_epoch = (
        sum(epoch_times) / len(epoch_times) if epoch_times else (total / rate if rate else 0)
    )
    left = here + per_epoch * (epochs - epoch - 1)
    return f"{int(left // 60)}m{int(left % 60):02d}s"


def _tensorboard(run: RunDir, runc: RunConfig):
    """A SummaryWriter in <run>/tensorboard, or None when disabled or not installed."""
    if not runc.tensorboard:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(run.path / "tensorboard"))


def _require_videos(items: list, data) -> None:
    """An empty training list is a DataError before any run folder is written."""
    if not items:
        raise DataError(f"split {data.split} of {data.root} lists no training videos")


def _check_eval_splits(cfg) -> None:
    """A missing test or probe split fails before anything is written, not after training."""
    for s in [*cfg.eval.splits, *([cfg.eval.probe_split] if cfg.eval.probe_split else [])]:
        load_split(cfg.data, s)


def _finish(run: RunDir, results: dict) -> dict:
    results["skipped_videos"] = len(run.skipped())
    if dist.is_main():
        run.finish(results)
    return results


def _save_rank(run: RunDir, cfg, model: nn.Module) -> None:
    """run.save_every_rank: each process writes its final weights (a DDP check)."""
    if cfg.run.save_every_rank:
        (run.path / "ranks").mkdir(exist_ok=True)
        save_checkpoint(run.path / "ranks" / f"rank{dist.rank()}.pt", {"model": model.state_dict()})


def _opener(cfg, video_root: Path, items: list, run: RunDir | None):
    """Where the datasets read videos: the files, or (data.cache) a bank decoded once."""
    if not cfg.data.cache:
        return None
    from bepaper.data.memory import shared_bank

    on_skip = run.record_skip if run else None
    return shared_bank(video_root, cfg.data, on_skip, progress=cfg.run.progress).opener(items)


# ---------------------------------------------------------------- pretraining


def pretrain(cfg: PretrainConfig) -> dict:
    """Self-supervised pretraining with any registered method (`method.name`), BE on or off
    (`method.be`). Writes `backbone.pt`; returns the final metrics."""
    check_settings(cfg)
    device = resolve_device(cfg.run.device)
    dist.setup(device)
    _set_determinism(cfg.run)
    video_root, split = load_split(cfg.data)
    _require_videos(split.train, cfg.data)
    run, done = open_run(cfg, "pretrain")
    if done is not None:
        return done
    torch.manual_seed(cfg.run.seed)
    method = prepare_model(build_method(cfg.model, cfg.method), cfg.run, device)
    if cfg.run.compile:
        method.backbone.compile()  # in place: state-dict keys unchanged
    if dist.is_main():
        for warning in method.warnings(len(split.train), cfg.optim.batch_size):
            run.note(f"warning: {warning}")
            print(f"bepaper: warning: {warning}", file=sys.stderr)
    ds = PretrainClips(
        video_root,
        split.train,
        cfg.data,
        on_skip=run.record_skip,
        seed=cfg.run.seed,
        sampler=method.sampler(),
        opener=_opener(cfg, video_root, split.train, run),
    )
    mem = torch.channels_last_3d if device.type == "cuda" and cfg.run.channels_last else None

    def step(m: nn.Module, batch: dict, gen: torch.Generator) -> tuple[Tensor, dict]:
        clips = batch["clips"].to(device, non_blocking=True)  # B x N x T x S x S x 3
        views = _channels_last(method.views(clips, cfg.augment, gen), mem)
        with _autocast(cfg.run, device):
            return m(views)

    t0 = time.time()
    last = _fit(run, cfg, method, step, ds, device, "pretrain")
    _save_rank(run, cfg, method)
    if dist.is_main():
        save_checkpoint(
            run.path / "backbone.pt",
            {"backbone": method.backbone.state_dict(), "config": to_dict(cfg)},
        )
    return _finish(run, {"final": last, "seconds": round(time.time() - t0, 1)})


# ---------------------------------------------------------------- fine-tuning


def load_backbone_weights(backbone: nn.Module, source: str | Path) -> None:
    """Load pretrained backbone weights from a pretraining run folder (its backbone.pt), a
    fine-tuning run folder (its classifier.pt: supervised pretraining), or a checkpoint file.
    Every key must match: nothing is dropped silently."""
    path = Path(source)
    if path.is_dir():
        path = path / ("backbone.pt" if (path / "backbone.pt").exists() else "classifier.pt")
    state = load_checkpoint(path)
    weights = state.get("backbone")
    if weights is None and "model" in state and "classes" in state:  # a classifier
        weights = {
            k.removeprefix("backbone."): v
            for k, v in state["model"].items()
            if k.startswith("backbone.")
        }
    if weights is None:
        raise CheckpointError(f"{path}: no 'backbone' weights in this checkpoint")
    weights = {k.replace("_orig_mod.", ""): v for k, v in weights.items()}
    try:
        missing, unexpected = backbone.load_state_dict(weights, strict=False)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        detail = next((line.strip() for line in first if "size mismatch" in line), first[0])
        raise CheckpointError(
            f"{path}: weights do not fit the backbone: {detail} (is model.backbone/width the same?)"
        ) from None
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit the backbone: missing {list(missing)[:5]}, "
            f"unexpected {list(unexpected)[:5]} (is model.backbone/width the same?)"
        )


def _labeled(
    cfg,
    split_no: int | None,
    subset: str,
    run: RunDir | None,
    *,
    train: bool,
    static: bool = False,
    num_clips: int = 10,
) -> tuple[LabeledClips, list[str]]:
    """A labelled dataset over the `subset` ("train" or "test") list of a split; `train`
    picks random training clips, else `num_clips` uniform test clips. The training list of
    the fine-tuning split keeps `data.per_class` videos per class (0 = all). Returns the
    dataset and the class names."""
    video_root, split = load_split(cfg.data, split_no)
    items = split.train if subset == "train" else split.test
    if subset == "train" and split_no is None:
        items = subset_per_class(items, cfg.data.per_class, cfg.run.seed)
    ds = LabeledClips(
        video_root,
        items,
        cfg.data,
        on_skip=run.record_skip if run else None,
        seed=cfg.run.seed,
        train=train,
        num_clips=num_clips,
        static=static,
        opener=_opener(cfg, video_root, items, run),
    )
    return ds, list(split.classes)


def save_outputs(
    path: Path,
    ds: LabeledClips,
    values: Tensor,
    labels: Tensor,
    indices: Tensor,
    classes: list[str],
    name: str,
) -> None:
    """Per-video outputs as an .npz (no pickle): `name` (N x X float32), labels (N, 0-based),
    paths (N), classes (C). Written atomically."""
    paths = np.array([ds.items[int(i)].path for i in indices], dtype=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            **{name: values.float().numpy()},
            labels=labels.numpy().astype(np.int64),
            paths=paths,
            classes=np.array(classes, dtype=str),
        )


def evaluate_splits(
    model: Classifier, cfg, device: torch.device, run: RunDir | None, static: bool = False
) -> dict:
    """10-clip top-1 on each split listed in cfg.eval.splits, plus the linear probe. With a
    run folder, each test split's per-video scores go to outputs/test_split<s>.npz."""
    out: dict = {"test_top1": {}}
    for s in cfg.eval.splits:
        ds, classes = _labeled(
            cfg, s, "test", run, train=False, static=static, num_clips=cfg.eval.num_clips
        )
        res = classify_videos(
            model,
            ds,
            cfg.augment,
            device,
            workers=cfg.data.workers,
            amp=cfg.run.amp,
            progress=cfg.run.progress,
            desc=f"test split {s}",
        )
        out["test_top1"][str(s)] = res["top1"]
        if run is not None and dist.is_main():
            save_outputs(
                run.path / "outputs" / f"test_split{s}.npz",
                ds,
                res["scores"],
                res["labels"],
                res["indices"],
                classes,
                "scores",
            )
    if cfg.eval.probe_split:
        out["probe"] = probe(model.backbone, cfg, device, run)
        out["probe_top1"] = out["probe"]["test_top1"]
    return out


def classify_videos(model: nn.Module, ds: LabeledClips, aug, device, **kw) -> dict:
    """Clip-averaged softmax scores of every readable test video, with labels and indices."""
    model.eval()
    out = video_scores(model, ds, aug, device, **kw)
    if len(out.labels) == 0:
        scores = torch.empty(0, 0)
        return {
            "top1": float("nan"),
            "scores": scores,
            "labels": out.labels,
            "indices": out.indices,
        }
    scores = combine_clip_scores(out.values)
    acc = top1(scores, out.labels)
    return {"top1": acc, "scores": scores, "labels": out.labels, "indices": out.indices}


def probe(
    backbone: nn.Module,
    cfg,
    device: torch.device,
    run: RunDir | None = None,
    out_dir: Path | None = None,
) -> dict:
    """Linear probe on frozen features: train on split `eval.probe_split`'s train list,
    score on its test list (SynthBias: both unbiased, so only motion helps). The L2 strength
    is chosen by cross-validation on the training features. The features go to
    <out_dir or run folder>/features/probe_{train,test}.npz; skipped videos to the run's log."""
    out_dir = out_dir if out_dir is not None else (run.path if run is not None else None)
    s = cfg.eval.probe_split
    kw = dict(workers=cfg.data.workers, amp=cfg.run.amp, progress=cfg.run.progress)
    tr, classes = _labeled(cfg, s, "train", run, train=False, num_clips=cfg.eval.num_clips)
    te, _ = _labeled(cfg, s, "test", run, train=False, num_clips=cfg.eval.num_clips)
    pool = cfg.eval.probe_pool
    parts = {}
    for name, ds in (("train", tr), ("test", te)):
        out = clip_features(
            backbone, ds, cfg.augment, device, pool=pool, desc=f"probe features ({name})", **kw
        )
        parts[name] = (out.values.mean(dim=1), out.labels, out.indices)
        if out_dir is not None and dist.is_main():
            x, y, idx = parts[name]
            save_outputs(
                out_dir / "features" / f"probe_{name}.npz", ds, x, y, idx, classes, "features"
            )
    (xtr, ytr, _), (xte, yte, _) = parts["train"], parts["test"]
    res = fit_linear_probe(
        xtr, ytr, xte, yte, len(classes), steps=cfg.eval.probe_epochs, seed=cfg.run.seed
    )
    res["pool"] = pool
    return res


def finetune(cfg: FinetuneConfig) -> dict:
    """Supervised training of a classifier (from a pretrained backbone or from scratch),
    then 10-clip testing. Writes `classifier.pt` and per-video outputs."""
    check_settings(cfg)
    device = resolve_device(cfg.run.device)
    dist.setup(device)
    _set_determinism(cfg.run)
    torch.manual_seed(cfg.run.seed)
    backbone = build_backbone(cfg.model.backbone, cfg.model.width)
    if cfg.init:
        load_backbone_weights(backbone, cfg.init)
    _, split = load_split(cfg.data)
    _require_videos(split.train, cfg.data)
    _check_eval_splits(cfg)
    run, done = open_run(cfg, "finetune")
    if done is not None:
        return done
    model = prepare_model(
        Classifier(backbone, len(split.classes), cfg.model.dropout, cfg.model.head_pool),
        cfg.run,
        device,
    )
    ds, classes = _labeled(cfg, None, "train", run, train=True, static=cfg.static)
    mem = torch.channels_last_3d if device.type == "cuda" and cfg.run.channels_last else None
    ce = nn.CrossEntropyLoss()

    def step(m: nn.Module, batch: dict, gen: torch.Generator) -> tuple[Tensor, dict]:
        x = train_view(batch["clip"].to(device, non_blocking=True), cfg.augment, gen)
        if mem is not None:
            x = x.contiguous(memory_format=mem)
        y = batch["label"].to(device, non_blocking=True)
        with _autocast(cfg.run, device):
            logits = m(x)
        return ce(logits.float(), y), {"acc": (logits.argmax(1) == y).float().mean().detach()}

    t0 = time.time()
    last = _fit(run, cfg, model, step, ds, device, "finetune")
    _save_rank(run, cfg, model)
    if dist.is_main():
        save_checkpoint(
            run.path / "classifier.pt",
            {"model": model.state_dict(), "config": to_dict(cfg), "classes": classes},
        )
    results = {"final": last, "seconds": round(time.time() - t0, 1), "train_videos": len(ds)}
    results.update(evaluate_splits(model, cfg, device, run, cfg.static))
    return _finish(run, results)


def evaluate_run(cfg) -> dict:
    """Score a fine-tuned classifier (a fine-tuning run folder or its classifier.pt) on
    cfg.eval.splits, plus the probe when cfg.eval.probe_split is set. Writes
    evaluation.json and per-video outputs under run.out."""
    check_settings(cfg)
    device = resolve_device(cfg.run.device)
    path = Path(cfg.checkpoint)
    if not cfg.checkpoint:
        raise ConfigError("evaluate needs checkpoint=<fine-tuning run folder or classifier.pt>")
    if path.is_dir():
        path = path / "classifier.pt"
    state = load_checkpoint(path)
    if "model" not in state or "classes" not in state:
        raise CheckpointError(f"{path}: not a classifier checkpoint (written by finetune)")
    model = Classifier(
        build_backbone(cfg.model.backbone, cfg.model.width),
        len(state["classes"]),
        cfg.model.dropout,
        cfg.model.head_pool,
    )
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit model {cfg.model}: {first}") from None
    load_split(cfg.data)  # fail early on a bad data config
    _check_eval_splits(cfg)
    model = prepare_model(model, cfg.run, device)
    out = Path(cfg.run.out)
    out.mkdir(parents=True, exist_ok=True)
    skips = RunDir(out, {}, "evaluate")  # only its skip log and outputs under out/
    (out / "skipped.jsonl").unlink(missing_ok=True)  # this evaluation's skips, not an older one's
    results = evaluate_splits(model, cfg, device, skips, cfg.static)
    results["skipped_videos"] = len(skips.skipped())
    from bepaper.runs import atomic_write_json

    atomic_write_json(out / "evaluation.json", {"checkpoint": str(path), **results})
    return results
