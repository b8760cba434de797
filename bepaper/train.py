"""Pretraining and fine-tuning loops: plain, resumable, single- or multi-process.

Each run lives in a run folder (`bepaper.runs.RunDir`): the resolved config, per-epoch
metrics as JSON lines, checkpoints written atomically every epoch, and final results.
Rerunning the same command resumes from the last complete checkpoint.

Randomness is keyed on (seed, epoch): the clip sampling, the shuffling and the
augmentation of epoch e do not depend on what ran before, so a resumed run draws exactly
what an uninterrupted one would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler
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
    to_dict,
)
from bepaper.data.datasets import LabeledClips, PretrainClips, collate, load_split
from bepaper.errors import BepaperError, CheckpointError, ConfigError, DataError
from bepaper.evaluate import accuracy, features, linear_probe
from bepaper.methods.moco import MoCo
from bepaper.models import Classifier, build_backbone
from bepaper.runs import RunDir


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


# Settings that must be positive (or, for the second list, at least zero).
_POSITIVE = (
    "data.num_frames",
    "data.stride",
    "data.load_size",
    "augment.crop_size",
    "model.width",
    "optim.epochs",
    "optim.batch_size",
    "run.keep_checkpoints",
)
_NON_NEGATIVE = ("data.workers", "run.max_steps")


def check_settings(cfg) -> None:
    """Refuse numbers that cannot work, before anything is written. ConfigError names the key."""
    for keys, low in ((_POSITIVE, 1), (_NON_NEGATIVE, 0)):
        for key in keys:
            section, name = key.split(".")
            value = getattr(getattr(cfg, section), name)
            if value < low:
                raise ConfigError(f"config key '{key}' must be at least {low}, got {value}")


def epoch_seed(seed: int, epoch: int, salt: int = 0) -> int:
    return (seed * 1_000_003 + epoch * 7_919 + salt * 104_729 + dist.rank()) % (2**63 - 1)


def lr_at(cfg: OptimConfig, epoch: int) -> float:
    """Step schedule: lr divided by 1/lr_gamma every lr_step epochs."""
    return cfg.lr * cfg.lr_gamma ** (epoch // cfg.lr_step) if cfg.lr_step > 0 else cfg.lr


def make_optimizer(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def make_loader(
    ds: Dataset,
    batch_size: int,
    workers: int,
    seed: int,
    epoch: int,
    device: torch.device,
    shuffle: bool = True,
) -> DataLoader:
    """A loader whose order depends only on (seed, epoch); per-process under torchrun."""
    per_proc = max(1, batch_size // dist.world_size())
    if dist.world_size() > 1:
        sampler = DistributedSampler(ds, shuffle=shuffle, seed=seed)
        sampler.set_epoch(epoch)
    else:
        g = torch.Generator().manual_seed(epoch_seed(seed, epoch, 1))
        sampler = RandomSampler(ds, generator=g) if shuffle else None
    return DataLoader(
        ds,
        batch_size=per_proc,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        drop_last=len(ds) >= 2 * per_proc,
    )


def prepare_model(model: nn.Module, run: RunConfig, device: torch.device) -> nn.Module:
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


def open_run(cfg, command: str) -> tuple[RunDir, bool]:
    run = RunDir(cfg.run.out, to_dict(cfg), command)
    resumed = run.open() if dist.is_main() else False
    dist.barrier()  # the folder exists before any process's loader logs a skipped video
    return run, resumed


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


def _fit(
    run: RunDir,
    cfg,
    model: nn.Module,
    step: Callable[[nn.Module, dict, torch.Generator], tuple[Tensor, dict]],
    dataset: PretrainClips | LabeledClips,
    device: torch.device,
    desc: str,
) -> dict:
    """The epoch loop shared by pretraining and fine-tuning: lr schedule, AMP, NaN check,
    per-epoch metrics and atomic checkpoints. `step(model, batch, generator)` returns the
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
    for epoch in range(start, optim.epochs):
        torch.manual_seed(epoch_seed(runc.seed, epoch, 2))
        gen = torch.Generator(device).manual_seed(epoch_seed(runc.seed, epoch, 3))
        dataset.set_epoch(epoch)
        for group in opt.param_groups:
            group["lr"] = lr_at(optim, epoch)
        loader = make_loader(dataset, optim.batch_size, cfg.data.workers, runc.seed, epoch, device)
        train_model.train()
        t0, steps, total, sums = time.time(), 0, torch.zeros((), device=device), {}
        bar = tqdm(
            loader,
            desc=f"{desc} {epoch + 1}/{optim.epochs}",
            leave=False,
            disable=not (runc.progress and dist.is_main()),
        )
        for batch in bar:
            if batch is None:
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
            total += loss.detach()
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v
            if steps % 10 == 0:
                bar.set_postfix(loss=f"{float(total) / steps:.3f}")
            if runc.max_steps and steps >= runc.max_steps:
                break
        if steps == 0:
            raise DataError(
                f"no readable video: all {len(dataset)} listed videos under "
                f"{dataset.video_root} were skipped; reasons in {run.path / 'skipped.jsonl'}"
            )
        last = {
            "epoch": epoch + 1,
            # mean over processes (DistributedSampler gives each the same number of steps)
            "loss": float(dist.all_reduce_sum(total.clone())) / (steps * dist.world_size()),
            "lr": lr_at(optim, epoch),
            "steps": steps,
            "seconds": round(time.time() - t0, 2),
            **{k: float(v) / steps for k, v in sums.items()},
        }
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
                f"loss {last['loss']:.4f} ({last['seconds']} s)"
            )
            run.note(line)
            if runc.progress:
                tqdm.write(line)
    return last


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


# ---------------------------------------------------------------- pretraining


def pretrain(cfg: PretrainConfig) -> dict:
    """Self-supervised pretraining (MoCo / MoCo+HN / MoCo+BE). Writes `backbone.pt`."""
    check_settings(cfg)
    device = resolve_device(cfg.run.device)
    dist.setup(device)
    _set_determinism(cfg.run)
    video_root, split = load_split(cfg.data)
    _require_videos(split.train, cfg.data)
    torch.manual_seed(cfg.run.seed)
    model = prepare_model(MoCo(cfg.model, cfg.method), cfg.run, device)
    if cfg.run.compile:
        model.encoder_q.backbone = torch.compile(model.encoder_q.backbone)
    run, _ = open_run(cfg, "pretrain")
    ds = PretrainClips(
        video_root,
        split.train,
        cfg.data,
        on_skip=run.record_skip,
        seed=cfg.run.seed,
        hard_gap=cfg.method.hard_gap,
    )
    mem = torch.channels_last_3d if device.type == "cuda" and cfg.run.channels_last else None

    def step(m: nn.Module, batch: dict, gen: torch.Generator) -> tuple[Tensor, dict]:
        clip = batch["clip"].to(device, non_blocking=True)
        x_o, x_v = train_view(clip, cfg.augment, gen), train_view(clip, cfg.augment, gen)
        x_h = None
        if model.use_hard:
            x_h = train_view(batch["hard"].to(device, non_blocking=True), cfg.augment, gen)
        if mem is not None:
            x_o, x_v = x_o.contiguous(memory_format=mem), x_v.contiguous(memory_format=mem)
            x_h = None if x_h is None else x_h.contiguous(memory_format=mem)
        with _autocast(cfg.run, device):
            return m(x_o, x_v, x_h)

    t0 = time.time()
    last = _fit(run, cfg, model, step, ds, device, "pretrain")
    backbone = getattr(model.encoder_q.backbone, "_orig_mod", model.encoder_q.backbone)
    if dist.is_main():
        save_checkpoint(
            run.path / "backbone.pt", {"backbone": backbone.state_dict(), "config": to_dict(cfg)}
        )
    return _finish(run, {"final": last, "seconds": round(time.time() - t0, 1)})


# ---------------------------------------------------------------- fine-tuning


def load_backbone_weights(backbone: nn.Module, source: str | Path) -> None:
    """Load pretrained backbone weights from a pretraining run folder (its backbone.pt) or a
    checkpoint file. Every key must match: nothing is dropped silently."""
    path = Path(source)
    if path.is_dir():
        path = path / "backbone.pt"
    state = load_checkpoint(path)
    weights = state.get("backbone")
    if weights is None:
        raise CheckpointError(f"{path}: no 'backbone' weights in this checkpoint")
    missing, unexpected = backbone.load_state_dict(weights, strict=False)
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
) -> tuple[LabeledClips, int]:
    """A labelled dataset over the `subset` ("train" or "test") list of a split; `train`
    picks random training clips, else `num_clips` uniform test clips."""
    video_root, split = load_split(cfg.data, split_no)
    items = split.train if subset == "train" else split.test
    ds = LabeledClips(
        video_root,
        items,
        cfg.data,
        on_skip=run.record_skip if run else None,
        seed=cfg.run.seed,
        train=train,
        num_clips=num_clips,
        static=static,
    )
    return ds, len(split.classes)


def evaluate_splits(
    model: Classifier, cfg, device: torch.device, run: RunDir | None, static: bool = False
) -> dict:
    """10-clip top-1 on each split listed in cfg.eval.splits, plus the linear probe."""
    out: dict = {"test_top1": {}}
    for s in cfg.eval.splits:
        ds, _ = _labeled(
            cfg, s, "test", run, train=False, static=static, num_clips=cfg.eval.num_clips
        )
        acc, _, _ = accuracy(
            model,
            ds,
            cfg.augment,
            device,
            workers=cfg.data.workers,
            amp=cfg.run.amp,
            progress=cfg.run.progress,
            desc=f"test split {s}",
        )
        out["test_top1"][str(s)] = acc
    if cfg.eval.probe_split:
        out["probe_top1"] = probe(model.backbone, cfg, device, run)
    return out


def probe(backbone: nn.Module, cfg, device: torch.device, run: RunDir | None = None) -> float:
    """Linear probe on frozen features: train on split `eval.probe_split`'s train list,
    score on its test list (SynthBias: both unbiased, so only motion helps)."""
    s = cfg.eval.probe_split
    kw = dict(workers=cfg.data.workers, amp=cfg.run.amp, progress=cfg.run.progress)
    tr, n_cls = _labeled(cfg, s, "train", run, train=False, num_clips=cfg.eval.num_clips)
    te, _ = _labeled(cfg, s, "test", run, train=False, num_clips=cfg.eval.num_clips)
    xtr, ytr = features(backbone, tr, cfg.augment, device, desc="probe features (train)", **kw)
    xte, yte = features(backbone, te, cfg.augment, device, desc="probe features (test)", **kw)
    return linear_probe(xtr, ytr, xte, yte, n_cls, steps=cfg.eval.probe_epochs, seed=cfg.run.seed)


def finetune(cfg: FinetuneConfig) -> dict:
    """Supervised training of a classifier (from a pretrained backbone or from scratch),
    then 10-clip testing. Writes `classifier.pt`."""
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
    model = prepare_model(
        Classifier(backbone, len(split.classes), cfg.model.dropout), cfg.run, device
    )
    run, _ = open_run(cfg, "finetune")
    ds, _ = _labeled(cfg, None, "train", run, train=True, static=cfg.static)
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
    if dist.is_main():
        save_checkpoint(
            run.path / "classifier.pt",
            {"model": model.state_dict(), "config": to_dict(cfg), "classes": list(split.classes)},
        )
    results = {"final": last, "seconds": round(time.time() - t0, 1)}
    results.update(evaluate_splits(model, cfg, device, run, cfg.static))
    return _finish(run, results)


def evaluate_run(cfg) -> dict:
    """Score a fine-tuned classifier (a fine-tuning run folder or its classifier.pt) on
    cfg.eval.splits, plus the probe when cfg.eval.probe_split is set."""
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
    skips = RunDir(out, {}, "evaluate")  # only its skip log: out/skipped.jsonl
    (out / "skipped.jsonl").unlink(missing_ok=True)  # this evaluation's skips, not an older one's
    results = evaluate_splits(model, cfg, device, skips, cfg.static)
    results["skipped_videos"] = len(skips.skipped())
    from bepaper.runs import atomic_write_json

    atomic_write_json(out / "evaluation.json", {"checkpoint": str(path), **results})
    return results
