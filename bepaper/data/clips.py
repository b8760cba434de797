"""The clip datasets a run reads, built from its config: where the videos are opened from
(the files, or with `data.cache` a bank decoded once into memory) and the labelled clips of a
split's training or test list."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bepaper.data.datasets import LabeledClips, load_split, subset_per_class


def video_opener(cfg, video_root: Path, items: list, on_skip: Callable | None = None):
    """Where the datasets read videos: the files, or (data.cache) a bank decoded once."""
    if not cfg.data.cache:
        return None
    from bepaper.data.memory import shared_bank

    return shared_bank(video_root, cfg.data, on_skip, progress=cfg.run.progress).opener(items)


def labeled_clips(
    cfg,
    split_no: int | None,
    subset: str,
    on_skip: Callable | None = None,
    *,
    train: bool,
    static: bool = False,
    num_clips: int = 10,
) -> tuple[LabeledClips, list[str]]:
    """A labelled dataset over the `subset` ("train" or "test") list of a split; `train`
    picks random training clips, else `num_clips` uniform test clips. The training list of
    the fine-tuning split keeps `data.per_class` videos per class (0 = all). Returns the
    dataset and the class names. Videos that cannot be read go to `on_skip(path, reason)`."""
    video_root, split = load_split(cfg.data, split_no)
    items = split.train if subset == "train" else split.test
    if subset == "train" and split_no is None:
        items = subset_per_class(items, cfg.data.per_class, cfg.run.seed)
    ds = LabeledClips(
        video_root,
        items,
        cfg.data,
        on_skip=on_skip,
        seed=cfg.run.seed,
        train=train,
        num_clips=num_clips,
        static=static,
        opener=video_opener(cfg, video_root, items, on_skip),
    )
    return ds, list(split.classes)
