"""Clip samplers: training, hard-negative and 10-clip test indices; the short-video rule."""

from __future__ import annotations

import numpy as np

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


def test_the_number_of_workers_does_not_change_the_batches():
    """A run's batches depend on (seed, epoch) only: data.workers is an execution setting."""
    import torch

    from tqdm.auto import tqdm

    from bepaper.train import make_loader

    cpu = torch.device("cpu")

    class Items(torch.utils.data.Dataset):
        def __len__(self):
            return 40

        def __getitem__(self, i):
            return {"clip": np.full((2, 2), i, np.uint8), "index": i}

    for epoch in (0, 3):
        seqs = [
            [
                b["index"].tolist()
                for b in tqdm(make_loader(Items(), 8, w, 5, epoch, cpu), disable=True)
            ]
            for w in (0, 1, 2)
        ]
        assert seqs[0] == seqs[1] == seqs[2] and sorted(sum(seqs[0], [])) == list(range(40))
