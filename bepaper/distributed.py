"""Multi-GPU through torchrun (env://). In a single process every helper is an identity,
so the same training code runs in CPU tests."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch import nn

from bepaper.errors import ConfigError

if TYPE_CHECKING:
    from bepaper.config import RunConfig


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def setup(device: torch.device) -> None:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        store, rank, world = next(dist.rendezvous("env://"))
        # torchrun's agent may serve one store to every restart of the group; without a
        # per-attempt prefix the restarted processes read the dead ones' addresses (seen
        # with torch 2.14: gloo "connection refused" after --max-restarts restarts).
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        store = dist.PrefixStore(f"bepaper/attempt_{attempt}", store)
        dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world)


def cleanup() -> None:
    """Wait for every process, then leave the group (exiting without this can abort gloo)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


@torch.no_grad()
def all_gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate a tensor from every process along dim 0 (identity in one process)."""
    if world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    if world_size() > 1:
        dist.all_reduce(x)
    return x


@torch.no_grad()
def broadcast(x: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Every process gets process `src`'s tensor (identity in one process)."""
    if world_size() > 1:
        dist.broadcast(x, src)
    return x


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


def prepare_model(model: nn.Module, run: RunConfig, device: torch.device) -> nn.Module:
    if run.sync_bn and world_size() > 1:
        if device.type != "cuda":
            raise ConfigError("run.sync_bn needs CUDA (torch's SyncBatchNorm is GPU-only)")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(device)
    if device.type == "cuda" and run.channels_last:
        model.to(memory_format=torch.channels_last_3d)
    return model
