"""Clip samplers: training, hard-negative and 10-clip test indices; the short-video rule."""

from __future__ import annotations

import numpy as np
import pytest

from bepaper.data.sampling import (
    clip_indices,
    hard_negative_start,
    random_start,
    span,
    uniform_starts,
)


def test_clip_indices_and_span():
    assert span(16, 4) == 61
    assert clip_indices(3, 4, 2, 100).tolist() == [3, 5, 7, 9]


def test_short_video_loops():
    # A 5-frame video, 4 frames at stride 2: starts at 0 and wraps around.
    assert random_start(5, 4, 2, np.random.default_rng(0)) == 0
    assert clip_indices(0, 4, 2, 5).tolist() == [0, 2, 4, 1]


def test_random_start_stays_inside():
    rng = np.random.default_rng(0)
    starts = [random_start(100, 16, 4, rng) for _ in range(500)]
    assert min(starts) == 0 and max(starts) == 100 - 61


def test_hard_negative_is_at_least_gap_away():
    rng = np.random.default_rng(1)
    for _ in range(200):
        a = random_start(60, 8, 2, rng)
        h = hard_negative_start(60, 8, 2, a, 2, rng)
        assert abs(h - a) >= 2 and 0 <= h <= 60 - span(8, 2)


def test_hard_negative_on_a_short_video_still_differs():
    rng = np.random.default_rng(2)
    h = hard_negative_start(10, 8, 2, 0, 2, rng)
    assert h == 2 and clip_indices(h, 8, 2, 10).tolist() != clip_indices(0, 8, 2, 10).tolist()


def test_uniform_test_clips_cover_the_video():
    s = uniform_starts(100, 16, 4, 10)
    assert len(s) == 10 and s[0] == 0 and s[-1] == 39 and (np.diff(s) > 0).all()
    assert uniform_starts(30, 16, 4, 10).tolist() == [0] * 10  # short: all loop from 0


class _Items:
    """A dataset that reports which epoch and index it was asked for, and from which process."""

    def __len__(self):
        return 40

    def __getitem__(self, at):
        import os

        epoch, i = at
        return {
            "clip": np.full((2, 2), i, np.uint8),
            "index": i,
            "epoch": epoch,
            "pid": os.getpid(),
        }


def _epochs(workers, epochs, persistent=True):
    """Each epoch's batches (index lists), the epochs the dataset saw, and the worker pids."""
    import torch
    from tqdm.auto import tqdm

    from bepaper.train import epoch_loader

    cpu, loader, out, items = torch.device("cpu"), None, [], _Items()
    for epoch in epochs:
        loader = epoch_loader(loader if persistent else None, items, 8, workers, 5, epoch, cpu)
        batches = list(tqdm(loader, disable=True))
        out.append(
            (
                [b["index"].tolist() for b in batches],
                {int(e) for b in batches for e in b["epoch"]},
                {int(p) for b in batches for p in b["pid"]},
            )
        )
    return out


def test_the_number_of_workers_does_not_change_the_batches():
    """A run's batches depend on (seed, epoch) only: data.workers is an execution setting."""
    runs = [_epochs(w, (0, 3)) for w in (0, 1, 2)]
    for epoch in range(2):
        seqs = [run[epoch][0] for run in runs]
        assert seqs[0] == seqs[1] == seqs[2] and sorted(sum(seqs[0], [])) == list(range(40))
    assert runs[0][0][0] != runs[0][1][0]  # another epoch, another order


def test_worker_processes_persist_and_see_each_epoch():
    import os

    persistent = _epochs(2, (0, 1, 2))
    assert [seen for _, seen, _ in persistent] == [{0}, {1}, {2}]  # the epoch reaches the workers
    pids = [p for _, _, p in persistent]
    assert len(pids[0]) == 2 and pids[0] == pids[1] == pids[2] and os.getpid() not in pids[0]
    fresh = _epochs(2, (0, 1, 2), persistent=False)
    assert [b for b, _, _ in fresh] == [b for b, _, _ in persistent]
    assert fresh[0][2] != fresh[1][2]  # without persistence every epoch starts new workers


@pytest.mark.parametrize("world", [2, 3])
def test_the_distributed_order_is_distributed_samplers(monkeypatch, world):
    import torch

    from bepaper import distributed as dist
    from bepaper.train import EpochOrder

    for n in (10, 11, 2):
        data = list(range(n))
        for rank in range(world):
            monkeypatch.setattr(dist, "world_size", lambda w=world: w)
            monkeypatch.setattr(dist, "rank", lambda r=rank: r)
            ours = EpochOrder(n, seed=7).set_epoch(4)
            ref = torch.utils.data.DistributedSampler(data, num_replicas=world, rank=rank, seed=7)
            ref.set_epoch(4)
            assert [i for _, i in ours] == list(ref) and len(ours) == len(ref)
