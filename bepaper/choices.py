"""What a config can choose from, torch-free: the backbone names, the distraction names and
each method's own options.

A config is built and checked against these without importing a network. The
implementations are keyed by the same names: `bepaper.models.MODELS` (backbones),
`bepaper.be.DISTRACTIONS`, `bepaper.methods.METHODS` (each method's `Options` is its entry
here); tests/test_architecture.py keeps the keys equal. Datasets and video decoders are
chosen from `bepaper.data.splits.DATASETS` and `bepaper.video.BACKENDS`, which are torch-free
themselves.

Adding a method: its options dataclass here with a line in `METHOD_OPTIONS`, its module
under bepaper/methods/ with a line in `METHODS` (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from bepaper.schema import param

BACKBONES = ("c3d", "r3d18", "r3d34", "r2plus1d18", "i3d", "s3d", "r3d_small")

DISTRACTIONS = (
    "be",
    "intra_video_frame",
    "gaussian_noise",
    "video_mixup",
    "video_cutmix",
    "inter_video_frame",
    "fame",
)

PUZZLE_MODES = ("both", "spatial", "temporal")


@dataclass
class MoCoOptions:
    """MoCo (He et al. 2020) with a queue of keys; hard negatives and BE are switches."""

    queue_size: int = param(16384, "K, keys in the queue (released UCF101 scripts: 3569)", ge=1)
    momentum: float = param(0.999, "key-encoder momentum m", ge=0, le=1)
    temperature: float = param(0.07, "InfoNCE temperature", gt=0)
    embed_dim: int = param(128, "D, the embedding size of φ", ge=1)
    head_pool: str = param("max", "φ's pooling: max (paper) | avg (released code)",
                           choices=("max", "avg"))  # fmt: skip
    hard_negatives: bool = param(True, "intra-video hard negatives (Eq. 7); off = Eq. 6")
    hard_gap: int = param(2, "min start offset (frames) of the hard-negative clip", ge=1)
    hard_short_rule: str = param(
        "gap", "hard negative on a short video: shift by hard_gap | third (released code)",
        choices=("gap", "third"),
    )  # fmt: skip
    hard_negative_bn: str = param(
        "joint", "hard negatives share the query's batch-norm pass | separate (released code)",
        choices=("joint", "separate"),
    )  # fmt: skip
    other_video_negative: bool = param(
        False, "without hard negatives, add one negative clip of another video (released code)"
    )
    shuffle_bn: bool = param(
        False, "MoCo's shuffle-BN: keys computed on a batch shuffled across processes"
    )


@dataclass
class RotNetOptions:
    """3D RotNet: classify the rotation of a clip; BE adds β·L_be (Eq. 5)."""

    num_rotations: int = param(
        4, "rotation classes: 4 = {0, 90, 180, 270} degrees (paper) | 2 = {0, 180}",
        choices=(2, 4),
    )  # fmt: skip


@dataclass
class PuzzleOptions:
    """Space-Time Cubic Puzzles: order 4 shuffled 3D pieces; BE adds β·L_be (Eq. 5)."""

    mode: str = param(
        "both", "spatial and temporal puzzles as one 2 x n-way task | spatial | temporal",
        choices=PUZZLE_MODES,
    )  # fmt: skip
    permutations: int = param(24, "n, orders of the 4 pieces used (all 4! = 24)", ge=2, le=24)
    jitter: float = param(
        0.125, "a piece is its cell shrunk by round(jitter x side) in T, H, W", ge=0, lt=1
    )
    channel_replication: bool = param(True, "copy one random colour channel into all three")
    hidden_dim: int = param(512, "hidden FC of the head (0 = a linear classifier)", ge=0)


@dataclass
class ClipOrderOptions:
    """VCOP: predict the order of n shuffled clips of a video; BE adds β·L_be (Eq. 5)."""

    tuple_len: int = param(3, "n, clips per tuple (paper: 3; n! order classes)", ge=2, le=5)
    interval: int = param(8, "frames between the end of one clip and the next (paper: 8)", ge=0)
    pair_dim: int = param(512, "width of the shared pairwise FC (paper: 512)", ge=1)
    dropout: float = param(0.5, "dropout before the order classifier (paper's code: 0.5)",
                           ge=0, lt=1)  # fmt: skip


METHOD_OPTIONS: dict[str, type] = {
    "moco": MoCoOptions,
    "rotnet": RotNetOptions,
    "puzzle": PuzzleOptions,
    "vcop": ClipOrderOptions,
}
