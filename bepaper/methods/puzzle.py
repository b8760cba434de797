"""Space-Time Cubic Puzzles (Kim, Cho & Kweon, AAAI 2019, arXiv:1811.09795), with Background
Erasing as a switch (Eq. 3–5).

    clip x^o (B x 3 x T x S x S) cut on a 2 x 2 (space) x 4 (time) grid of cells
      spatial puzzle:  the 4 cells of one time slot        (2 x 2 x 1)
      temporal puzzle: the 4 time cells of one spatial cell (1 x 1 x 4)
    ─► 4 pieces (L x P x P), shuffled by a permutation π ─► shared backbone (4 towers)
    ─► avg pool ─► concatenated in the shuffled order (4C) ─► FC ─► ReLU ─► FC ─► (kind, π)?

No public implementation was found, so this follows the paper. What the paper states (as
far as we could check it here, from its abstract and public summaries of its method): the
network arranges permuted 3D spatio-temporal crops; it is a 4-tower siamese network with
shared weights, fused to predict the arrangement; the crops are jittered in space and time
so that the network cannot match piece borders; one colour channel is replicated into the
others ("channel replication") so that chromatic aberration gives no hint of a position; a
rotation classification can be added on top.

Our choices and readings (each an option or stated here; none checked against code):
- **The grid.** The clip (T frames, S x S crop) is a 2 x 2 x 4 grid of cells of T/4 frames x
  S/2 x S/2 (our reading of "crops along the spatial or the temporal axis"). A spatial
  puzzle takes the 4 spatial cells of one random time slot; a temporal puzzle the 4 time
  cells of one random spatial cell. Every piece has the same shape, so both kinds share one
  batched backbone call. With the default 16 frames a cell has 4 frames; set
  data.num_frames=48 or 64 for 12- or 16-frame cells (BE's Table 1 lists 48 frames for ST
  Puzzles). Leftover frames (T mod 4) and pixels (S mod 2) are not used.
- **One task, 2 x n classes** (`mode=both`): the label is kind · n + index of π, with n =
  `permutations`, so one classifier tells both the kind and the order (our reading: 2 x 4!
  = 48 classes). `mode=spatial|temporal` keeps one kind (n classes).
- **Permutations.** All 4! = 24 by default; `permutations=n < 24` keeps n of them chosen
  greedily for the largest minimum Hamming distance (Noroozi & Favaro's jigsaw rule), from
  the identity, deterministically, in lexicographic order.
- **Jitter.** A piece is a random window inside its cell, smaller by round(jitter · side) in
  time (L = T/4 - round(jitter · T/4)) and in space (P = S/2 - round(jitter · S/2)); the
  same size for every piece. The amount is ours (the paper's is not known to us).
- **Channel replication** (`channel_replication`): one random channel per clip copied into
  all three, before normalisation.
- **Head.** Global average pooling of each piece's feature map, concatenation in the
  shuffled order, FC to `hidden_dim` + ReLU, FC to the classes (`hidden_dim=0`: one linear
  layer). Not saved with the backbone.
- The optional rotation classification is not included (see `rotnet`).

BE (method.be): x^o and x^d are two crops of the same clip with their own augmentation, x^d
= BE(x^v) (Eq. 1, on the whole clip before it is cut). The SAME puzzle (kind, cells, jitter
windows, channel, permutation) is applied to both, so piece i of x^o and piece i of x^d hold
the same region of their crops. L_p is computed on x^o only (turning BE on adds β·L_be and
nothing else; Eq. 3 is silent on whether x^d is classified). L_be (Eq. 4) compares the
backbone feature maps of matching pieces and is averaged over the B·4 pieces. x^o and x^d go
through the backbone in separate calls, so x^o's batch-norm statistics do not depend on BE.
"""

from __future__ import annotations

import itertools
from functools import cache
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from bepaper.augment import normalize
from bepaper.choices import PUZZLE_MODES, PuzzleOptions
from bepaper.errors import ConfigError
from bepaper.methods.base import Method

if TYPE_CHECKING:
    from bepaper.config import AugmentConfig, MethodConfig, ModelConfig

PIECES = 4
# the puzzle kinds each mode draws: 0 spatial (2 x 2 cells of one time slot), 1 temporal
MODES = dict(zip(PUZZLE_MODES, ((0, 1), (0,), (1,)), strict=True))


@cache
def permutation_set(n: int) -> tuple[tuple[int, ...], ...]:
    """n of the 24 orders of 4 pieces: all of them for n = 24, else a greedy max–min Hamming
    subset grown from the identity (ties: the lexicographically first). Sorted."""
    perms = list(itertools.permutations(range(PIECES)))
    if not 1 <= n <= len(perms):
        raise ConfigError(f"puzzle permutations must be in [1, {len(perms)}], got {n}")
    chosen = [perms[0]]
    while len(chosen) < n:
        rest = [p for p in perms if p not in chosen]
        spread = [min(_hamming(p, q) for q in chosen) for p in rest]
        chosen.append(rest[spread.index(max(spread))])  # the first of equal spreads
    return tuple(sorted(chosen))


def _hamming(p: tuple[int, ...], q: tuple[int, ...]) -> int:
    return sum(a != b for a, b in zip(p, q, strict=True))


def piece_shape(num_frames: int, size: int, jitter: float) -> tuple[int, int, int, int]:
    """(cell_t, L, cell, P): frames per time cell and per piece, side of a cell and of a
    piece. A piece is the cell shrunk by round(jitter · cell) in time and in space."""
    cell_t, cell = num_frames // PIECES, size // 2
    length, side = cell_t - round(jitter * cell_t), cell - round(jitter * cell)
    if length < 1 or side < 1:
        raise ConfigError(
            f"a cubic puzzle needs at least {PIECES} frames and pieces of at least 1 px after "
            f"jitter; got {num_frames} frames, crop {size}, jitter {jitter}"
        )
    return cell_t, length, cell, side


def draw_puzzle(
    batch: int,
    num_frames: int,
    size: int,
    opts: PuzzleOptions,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
    perms: Tensor | None = None,
) -> dict[str, Tensor]:
    """The random part of a puzzle, per clip:

    - kind: (B,) long, 0 spatial / 1 temporal;
    - perm: B x 4 long, the order π (slot i holds original piece π[i]);
    - slot: (B,) long in [0, 4), the time slot (spatial) or the spatial cell (temporal);
    - offset: B x 4 x 3 long, each piece's jitter (t, y, x) inside its cell, by original
      index;
    - channel: (B,) long, the channel replicated into all three;
    - label: (B,) long, the class: kind position in the mode · n + index of π.

    `perms`: `permutation_set(opts.permutations)` as an n x 4 long tensor on `device`, when
    the caller keeps one there (else it is built here and copied to the device each call).
    """
    cell_t, length, cell, side = piece_shape(num_frames, size, opts.jitter)
    if perms is None:
        perms = torch.tensor(permutation_set(opts.permutations), device=device)  # n x 4
    n = perms.shape[0]
    kinds = MODES[opts.mode]  # (0, 1), (0,) or (1,)

    def randint(high: int, shape: tuple[int, ...]) -> Tensor:
        return torch.randint(high, shape, device=device, generator=generator)

    which = randint(len(kinds), (batch,))
    index = randint(n, (batch,))
    return {
        "kind": which + kinds[0],
        "perm": perms[index],
        "slot": randint(PIECES, (batch,)),
        "offset": torch.stack(
            [
                randint(cell_t - length + 1, (batch, PIECES)),
                randint(cell - side + 1, (batch, PIECES)),
                randint(cell - side + 1, (batch, PIECES)),
            ],
            dim=2,
        ),
        "channel": randint(3, (batch,)),
        "label": which * n + index,
    }


def cut_puzzle(x: Tensor, puzzle: dict[str, Tensor], jitter: float) -> Tensor:
    """The shuffled pieces of each clip: B x C x T x S x S → B x 4 x C x L x P x P, where
    slot i holds the original piece π[i] (original pieces are numbered row-major over the
    2 x 2 cells, or by time). One gather, no loop over samples."""
    b, _, t, size, _ = x.shape
    cell_t, length, cell, side = piece_shape(t, size, jitter)
    orig = puzzle["perm"]  # B x 4: the original index of the piece at each slot
    spatial = (puzzle["kind"] == 0).unsqueeze(1)  # B x 1
    slot = puzzle["slot"].unsqueeze(1).expand(-1, PIECES)  # B x 4
    t_cell = torch.where(spatial, slot, orig)
    s_cell = torch.where(spatial, orig, slot)  # 0..3, row-major over the 2 x 2 cells
    offset = puzzle["offset"].gather(1, orig.unsqueeze(2).expand(-1, -1, 3))  # B x 4 x 3
    t0 = t_cell * cell_t + offset[..., 0]
    y0 = (s_cell // 2) * cell + offset[..., 1]
    x0 = (s_cell % 2) * cell + offset[..., 2]
    ar_t = torch.arange(length, device=x.device)
    ar_s = torch.arange(side, device=x.device)
    ti = t0.unsqueeze(2) + ar_t  # B x 4 x L
    yi = y0.unsqueeze(2) + ar_s  # B x 4 x P
    xi = x0.unsqueeze(2) + ar_s
    bi = torch.arange(b, device=x.device).view(b, 1, 1, 1, 1)
    xt = x.permute(0, 2, 3, 4, 1)  # B x T x S x S x C
    pieces = xt[bi, ti[:, :, :, None, None], yi[:, :, None, :, None], xi[:, :, None, None, :]]
    return pieces.permute(0, 1, 5, 2, 3, 4).contiguous()  # B x 4 x C x L x P x P


def replicate_channel(x: Tensor, channel: Tensor) -> Tensor:
    """Channel replication: clip b keeps channel[b] in all its channels. x: B x C x T x H x W."""
    b = x.shape[0]
    one = x[torch.arange(b, device=x.device), channel]  # B x T x H x W
    return one.unsqueeze(1).expand_as(x)


class PuzzleHead(nn.Module):
    """Late fusion of the pieces: B·4 feature maps → pooled, concatenated (B x 4C) → logits."""

    def __init__(self, channels: int, classes: int, hidden: int) -> None:
        super().__init__()
        fused = PIECES * channels
        if hidden > 0:
            self.fc = nn.Sequential(
                nn.Linear(fused, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, classes)
            )
        else:
            self.fc = nn.Linear(fused, classes)

    def forward(self, f: Tensor) -> Tensor:
        pooled = f.mean(dim=(2, 3, 4))  # B·4 x C
        return self.fc(pooled.reshape(-1, PIECES * pooled.shape[1]))  # B x classes


class SpaceTimePuzzle(Method):
    """Space-Time Cubic Puzzles: order 4 shuffled 3D pieces; BE adds β·L_be (Eq. 5)."""

    Options = PuzzleOptions

    def __init__(self, model: ModelConfig, cfg: MethodConfig) -> None:
        super().__init__(model, cfg)
        o = self.opts
        self.num_classes = len(MODES[o.mode]) * len(permutation_set(o.permutations))
        self.head = PuzzleHead(self.backbone.out_channels, self.num_classes, o.hidden_dim)
        perms = torch.tensor(permutation_set(o.permutations))  # n x 4
        self.register_buffer("perms", perms, persistent=False)

    def _pieces(self, x: Tensor, puzzle: dict[str, Tensor]) -> Tensor:
        """[0, 1] clip → its shuffled, normalised pieces (B x 4 x 3 x L x P x P)."""
        if self.opts.channel_replication:
            x = replicate_channel(x, puzzle["channel"])
        return cut_puzzle(normalize(x), puzzle, self.opts.jitter)

    def views(
        self, clips: Tensor, augment: AugmentConfig, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """clips: uint8 B x 1 x T x H x W x 3. Returns x_o (and x_d with BE on), the shuffled
        pieces, B x 4 x 3 x L x P x P normalised, and label: (B,) long."""
        clip = clips[:, 0]
        x_o = self.augment(clip, augment, generator)  # B x 3 x T x S x S in [0, 1]
        b, _, t, s, _ = x_o.shape
        perms = self.perms.to(x_o.device)  # a no-op once the method is on the device
        puzzle = draw_puzzle(b, t, s, self.opts, x_o.device, generator, perms)
        out = {"x_o": self._pieces(x_o, puzzle), "label": puzzle["label"]}
        if self.cfg.be:
            x_d = self.distract(self.augment(clip, augment, generator), generator)
            out["x_d"] = self._pieces(x_d, puzzle)
        return out

    def forward(self, views: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        f_o = self.backbone(views["x_o"].flatten(0, 1))  # B·4 x C x T' x H' x W'
        x_d = views.get("x_d")  # β · L_be over the B·4 pieces, matched one to one
        x_d = None if x_d is None else x_d.flatten(0, 1)
        return self.pretext_loss(self.head(f_o), views["label"], f_o, x_d)
