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

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

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
    to_dict,
    validate,
)
from bepaper.data.clips import labeled_clips, video_opener
from bepaper.data.datasets import (
    LabeledClips,
    PretrainClips,
    collate,
    load_split,
    loader_timeout,
    unstuck,
)
from bepaper.errors import BepaperError, DataError
from bepaper.evaluate import check_eval_splits, evaluate_splits
from bepaper.identity import run_folder, run_identity
from bepaper.methods import build_method
from bepaper.models import Classifier, build_backbone
from bepaper.progress import bar as progress_bar
from bepaper.progress import reused as progress_reused
from bepaper.progress import write as progress_write
from bepaper.runs import RunDir
from bepaper.weights import load_init, resolve_init


class TrainingError(BepaperError):
    """Training cannot go on (a non-finite loss, no readable data)."""


# ---------------------------------------------------------------- shared pieces


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
        timeout=loader_timeout(workers),
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        drop_last=len(ds) >= 2 * per_proc,
    )


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


def open_run(cfg, command: str) -> tuple[RunDir, dict | None]:
    """Open (or resume) the run folder. Returns (run, results): results are not None when
    the folder already holds a finished run of the same identity, which is then reused."""
    path = run_folder(cfg, command)
    run = RunDir(path, to_dict(cfg), command, run_identity(cfg, command))
    if run.reusable():
        if dist.is_main():
            progress_reused(path)
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
        batches = unstuck(iter(loader), cfg.data.workers)
        # Seeded after the iterator exists: making one draws from the global RNG (its base
        # seed) or not (a persistent loader's), so the steps' global draws (dropout,
        # shuffle-BN) depend on (seed, epoch) only, never on data.workers.
        torch.manual_seed(epoch_seed(runc.seed, epoch, 2))
        train_model.train()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t0, steps, samples = time.time(), 0, 0
        total, sums, wait = torch.zeros((), device=device), {}, 0.0
        bar = progress_bar(
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
                progress_write(line)
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


def _check_fits(cfg, command: str, device: torch.device, clips_per_sample: int) -> None:
    """Refuse, in one line naming the batch size to use, a step that will not fit in the
    device's memory (bepaper.fit), before the run folder is written. A finished run is
    reused without a check (it may have been made on a bigger machine)."""
    from bepaper.fit import check_fits

    if (run_folder(cfg, command) / "finished.json").exists():
        return
    world = dist.world_size()
    check_fits(
        cfg.model.backbone,
        cfg.model.width,
        cfg.data.num_frames,
        cfg.augment.crop_size,
        max(1, cfg.optim.batch_size // world),
        clips_per_sample,
        device,
        load_size=cfg.data.load_size,
        amp=cfg.run.amp,
        processes=world,
    )


def _require_videos(items: list, data) -> None:
    """An empty training list is a DataError before any run folder is written."""
    if not items:
        raise DataError(f"split {data.split} of {data.root} lists no training videos")


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


# ---------------------------------------------------------------- pretraining


def pretrain(cfg: PretrainConfig) -> dict:
    """Self-supervised pretraining with any registered method (`method.name`), BE on or off
    (`method.be`). Writes `backbone.pt`; returns the final metrics."""
    check_settings(cfg)
    device = dist.resolve_device(cfg.run.device)
    dist.setup(device)
    _set_determinism(cfg.run)
    video_root, split = load_split(cfg.data)
    _require_videos(split.train, cfg.data)
    torch.manual_seed(cfg.run.seed)
    built = build_method(cfg.model, cfg.method)
    _check_fits(cfg, "pretrain", device, built.sampler().num_clips)
    run, done = open_run(cfg, "pretrain")
    if done is not None:
        return done
    method = dist.prepare_model(built, cfg.run, device)
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
        opener=video_opener(cfg, video_root, split.train, run.record_skip),
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


def finetune(cfg: FinetuneConfig) -> dict:
    """Supervised training of a classifier (from a pretrained backbone or from scratch),
    then 10-clip testing. Writes `classifier.pt` and per-video outputs. `init`: a run folder
    or a published checkpoint (bepaper.weights); the backbone and width come from it unless
    given."""
    cfg = resolve_init(cfg)
    check_settings(cfg)
    device = dist.resolve_device(cfg.run.device)
    dist.setup(device)
    _set_determinism(cfg.run)
    torch.manual_seed(cfg.run.seed)
    backbone = build_backbone(cfg.model.backbone, cfg.model.width)
    if cfg.init:
        load_init(backbone, cfg.model.backbone, cfg.model.width, cfg.init)
    _, split = load_split(cfg.data)
    _require_videos(split.train, cfg.data)
    check_eval_splits(cfg)
    _check_fits(cfg, "finetune", device, 1)
    run, done = open_run(cfg, "finetune")
    if done is not None:
        return done
    model = dist.prepare_model(
        Classifier(backbone, len(split.classes), cfg.model.dropout, cfg.model.head_pool),
        cfg.run,
        device,
    )
    ds, classes = labeled_clips(cfg, None, "train", run.record_skip, train=True, static=cfg.static)
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
