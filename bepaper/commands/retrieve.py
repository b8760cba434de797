"""`bepaper retrieve`: video retrieval with a frozen backbone (Table 3)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bepaper.commands import _common

NAME = "retrieve"
HELP = "video retrieval recall@K with a frozen backbone (Table 3)"
DESCRIPTION = f"""{HELP}.

Encodes every video of a split with the run's frozen backbone: num-clips clips of
the run's T frames spread uniformly, the run's centre-crop test view, the feature
map max-pooled (default: adaptive max pooling to 2 x 7 x 7, the paper's, clamped to
the map's size). Queries: the test list; gallery: the training list; cosine
similarity; a hit at K when the query's class is among its K nearest.
--level video (default, VCOP's code): a video is the mean of its clips.
--level clip (the paper's text): every clip is a query / gallery item.
--centre --clip-norm: FAME's protocol (L2 per clip, mean-centring, L2).

Writes to --out: retrieval.json (recall@K and every setting), topk.npz (each
query's K nearest gallery items: paths, clips, labels, similarities),
features_query.npz / features_gallery.npz, and neighbours.png (a few queries
with their nearest videos)."""
EXAMPLES = """\
  bepaper retrieve --run runs/pretrain-moco-be-r3d18-0123456789 \\
      --root data/synthbias/default/hmdb51like --split 1 --out results/retrieval"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = parser
    p.add_argument("--run", required=True, help="a finished pretraining (or fine-tuning) run")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--root", help="data to retrieve on (default: the run's data.root)")
    p.add_argument(
        "--dataset", help="its format: synthbias | ucf101 | hmdb51 | ... (default: the run's)"
    )
    p.add_argument("--split-dir", help="its split files (default: found beside the root)")
    p.add_argument("--split", type=int, default=1, help="split number (default: 1)")
    p.add_argument("--backend", help="video decoder (default: the run's)")
    p.add_argument("--level", default="video", help="video | clip (default: video)")
    p.add_argument(
        "--pool", default="adaptive_max", help="adaptive_max | max | avg (default: adaptive_max)"
    )
    p.add_argument(
        "--pool-size", type=int, nargs=3, default=[2, 7, 7], metavar=("T", "H", "W"),
        help="adaptive_max output size, clamped to the map (default: 2 7 7)",
    )  # fmt: skip
    p.add_argument("--centre", action="store_true", help="FAME: mean-centre query and gallery")
    p.add_argument("--clip-norm", action="store_true", help="FAME: L2-normalise each clip")
    p.add_argument("--num-clips", type=int, default=10, help="clips per video (default: 10)")
    p.add_argument(
        "--ks",
        type=int,
        nargs="+",
        default=[1, 5, 10, 20, 50],
        help="K values (default: 1 5 10 20 50)",
    )
    p.add_argument("--topk", type=int, help="neighbours kept per query (default: max K)")
    p.add_argument("--no-features", action="store_true", help="do not save the features")
    p.add_argument("--show", type=int, default=4, help="queries drawn in neighbours.png (0: none)")
    _common.add_execution(p)


def run(args: argparse.Namespace) -> int:
    from bepaper.analysis.loading import open_run
    from bepaper.analysis.retrieval import plot_neighbours, retrieval_from_run

    run = open_run(args.run, what="retrieval")
    data = run.data_config(
        root=args.root,
        dataset=args.dataset,
        split_dir=args.split_dir,
        backend=args.backend,
        workers=args.workers,
    )
    res = retrieval_from_run(
        args.run,
        data,
        split=args.split,
        level=args.level,
        pool=args.pool,
        pool_size=args.pool_size,
        centre=args.centre,
        clip_norm=args.clip_norm,
        num_clips=args.num_clips,
        ks=args.ks,
        topk=args.topk,
        out_dir=args.out,
        device=args.device,
        batch_size=args.batch_size,
        save_features=not args.no_features,
        progress=not args.no_progress,
    )
    if args.show > 0:
        from bepaper.data.datasets import split_location

        video_root, _ = split_location(data)
        queries = range(min(args.show, res["queries"]))
        plot_neighbours(args.out, video_root, list(queries), k=5, backend=data.backend)
    recall = ", ".join(f"R@{k} {100 * v:.1f}" for k, v in res["recall"].items())
    print(f"{res['queries']} queries, gallery {res['gallery']}: {recall}")
    print(f"wrote {args.out}")
    return 0
