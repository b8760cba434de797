"""Multi-GPU through torchrun (env://). In a single process every helper is an identity,
so the same training code runs in CPU tests."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


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
