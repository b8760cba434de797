"""The `bepaper` command.

    bepaper synth    --out DIR [--size default] [--seed 0]
    bepaper prepare  DATASET --root DIR [--split-dir DIR]
    bepaper pretrain [--config FILE ...] [section.key=value ...]
    bepaper finetune [--config FILE ...] [section.key=value ...]
    bepaper evaluate [--config FILE ...] [section.key=value ...]
    bepaper study    [--config FILE ...] [section.key=value ...]
    bepaper config   {pretrain,finetune,evaluate,study}   (print every default, documented)

Analyses of finished runs (each writes to a folder of its own; see `bepaper <command> -h`):

    bepaper retrieve    --run PRETRAIN_RUN --out DIR [--root DATA] [--split 1] [--level video]
    bepaper static-bias --static RUN --base RUN --new RUN [--split 1] --out DIR
    bepaper actor-crop  --root DATA [--dataset synthbias] --out DIR --boxes ground_truth
    bepaper bias-sets   --root ANALOGUE --out DIR [--split 2]
    bepaper bias-test   --run FINETUNE_RUN --sets DIR [--split 2]
    bepaper cam         --run RUN --out DIR [--videos 4] [--split 2]

User errors (a missing file, a bad config key, an unreadable dataset) print one line and
exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path

from bepaper.errors import BepaperError

EPILOG = """examples:
  bepaper synth --out data/synthbias/default --size default
  bepaper pretrain method.name=rotnet method.be=true model.backbone=c3d run.out=runs/p
  bepaper finetune init=runs/p run.out=runs/f
  bepaper prepare ucf101 --root /data/UCF-101 --split-dir /data/ucfTrainTestlist
  bepaper config pretrain      # every setting with its default
"""


def _config_command(sub, name: str, help_text: str) -> None:
    p = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"Settings: see `bepaper config {name}`.",
    )
    p.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="YAML file of settings (repeatable; later files win)",
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="section.key=value",
        help="override one setting, e.g. optim.lr=0.1 run.out=runs/x",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bepaper",
        description="Background Erasing (CVPR 2021), reproduced.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="generate SynthBias videos (UCF101 layout)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--size", default="default", help="tiny | default | study (default: default)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    p.add_argument(
        "--analogue",
        action="append",
        dest="analogues",
        metavar="NAME",
        help="ucf101like | hmdb51like | diving48like (repeatable; default: all)",
    )
    p.add_argument("--workers", type=int, default=2, help="processes (default: 2)")
    p.add_argument("--writer", default="pyav", help="pyav | opencv (default: pyav)")

    p = sub.add_parser(
        "prepare",
        help="check a dataset folder against its split files, or re-encode it smaller",
        description=textwrap.fill(
            "Check every video a split lists: report each missing, unreadable or truncated "
            "file on its own line (with what the decoder said), and exit 1 if any. With "
            "--resize, re-encode every listed video to a smaller short side under --out (and "
            "copy the split files), so that training decodes faster. Split files are found "
            "where the official archives put them unless --split-dir is given.",
            88,
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  bepaper prepare ucf101 --root /data/UCF-101\n"
        "  bepaper prepare hmdb51 --root /data/hmdb51 --workers 8\n"
        "  bepaper prepare ucf101 --root /data/UCF-101 --resize 128 --out /data/UCF-101-128",
    )
    p.add_argument("dataset", help="ucf101 | hmdb51 | diving48 | kinetics400 | synthbias")
    p.add_argument("--root", required=True, help="video root (SynthBias: an analogue folder)")
    p.add_argument("--split-dir", default="", help="split files (default: searched)")
    p.add_argument("--split", type=int, default=1, help="split number (default: 1)")
    p.add_argument("--backend", default="decord", help="decord | pyav | opencv | frames")
    p.add_argument("--workers", type=int, default=0, help="processes (default: 0, this one)")
    p.add_argument("--resize", type=int, default=0, metavar="SHORT_SIDE",
                   help="re-encode to this short side under --out")  # fmt: skip
    p.add_argument("--out", default="", help="where --resize writes the dataset")

    _config_command(
        sub,
        "pretrain",
        "self-supervised pretraining with any method (method.name: moco, rotnet, puzzle, vcop), "
        "BE on or off (method.be)",
    )
    _config_command(sub, "finetune", "fine-tune a classifier and test it (10 clips per video)")
    _config_command(sub, "evaluate", "test a fine-tuned classifier")
    _config_command(
        sub, "study", "the BE question on SynthBias: sanity checks, then every arm over seeds"
    )

    _add_analysis_commands(sub)

    p = sub.add_parser(
        "readme",
        help="rewrite the generated blocks of README.md / docs/results.md from figures/",
        description="The numbers in the README come from result files: this rewrites every "
        "<!-- bepaper:NAME --> block from figures/ (--check: exit 1 if any is stale).",
    )
    p.add_argument("files", nargs="*", default=["README.md", "docs/results.md"])
    p.add_argument("--check", action="store_true", help="report stale blocks, change nothing")

    p = sub.add_parser("config", help="print a command's settings with their defaults")
    p.add_argument("which", choices=["pretrain", "finetune", "evaluate", "study"])
    return parser


def _schema(name: str):
    from bepaper import config

    return {
        "pretrain": config.PretrainConfig,
        "finetune": config.FinetuneConfig,
        "evaluate": config.EvaluateConfig,
        "study": config.StudyConfig,
    }[name]


def _prepare(args: argparse.Namespace) -> int:
    from bepaper.config import DataConfig
    from bepaper.data.datasets import load_split
    from bepaper.data.locate import find_split_dir, split_files
    from bepaper.data.prepare import (
        check_dataset,
        format_report,
        format_resize_report,
        format_warnings,
        resize_dataset,
    )
    from bepaper.errors import ConfigError

    data = DataConfig(
        dataset=args.dataset,
        root=args.root,
        split_dir=args.split_dir,
        split=args.split,
        backend=args.backend,
    )
    video_root, split = load_split(data)
    split_dir = Path(args.split_dir) if args.split_dir else None
    if split_dir is None and args.dataset != "synthbias":
        split_dir, where = find_split_dir(args.dataset, video_root, args.split)
        print(where, file=sys.stderr)
    if args.resize:
        if not args.out:
            raise ConfigError("--resize needs --out DIR (the resized copy)")
        if args.dataset == "synthbias":
            raise ConfigError("--resize is for real datasets; SynthBias sets are generated")
        report = resize_dataset(
            video_root,
            split,
            args.out,
            args.resize,
            args.backend,
            args.workers,
            split_files=split_files(args.dataset, split_dir),
        )
        print(format_resize_report(report))
    else:
        report = check_dataset(video_root, split, backend=args.backend, workers=args.workers)
        print(format_report(report))
    warnings = format_warnings(report)
    if warnings:
        print(warnings, file=sys.stderr)
    return 1 if report.problems else 0


def _run(args: argparse.Namespace) -> int:
    if args.command in ANALYSIS_COMMANDS:
        return _run_analysis(args)
    if args.command == "synth":
        from bepaper.data.synthbias import ANALOGUES, generate

        folders = generate(
            args.out,
            size=args.size,
            seed=args.seed,
            analogues=tuple(args.analogues or ANALOGUES),
            workers=args.workers,
            writer=args.writer,
        )
        for name, folder in folders.items():
            print(f"{name}: {folder}")
        return 0
    if args.command == "prepare":
        return _prepare(args)
    if args.command == "readme":
        from bepaper import readme

        code = 0
        for f in args.files:
            if args.check:
                old = readme.stale(f)
                if old:
                    print(f"{f}: stale blocks {old}")
                    code = 1
            elif readme.update(f):
                print(f"updated {f}")
        return code
    if args.command == "config":
        from bepaper.config import describe, describe_methods

        cfg = _schema(args.which)()
        print("\n".join(describe(cfg)))
        if hasattr(cfg, "method"):
            print("\n".join(describe_methods()))
        return 0

    from bepaper.config import build_config

    cfg = build_config(_schema(args.command), args.config, args.overrides)
    if args.command == "pretrain":
        from bepaper.train import pretrain as fn
    elif args.command == "finetune":
        from bepaper.train import finetune as fn
    elif args.command == "evaluate":
        from bepaper.evaluate import evaluate_run as fn
    else:
        from bepaper.study import run_study

        result = run_study(cfg)
        for path in result["written"]:
            print(f"wrote {path}")
        print(Path(result["written"][0]).read_text())
        return 0
    from bepaper import distributed

    results = fn(cfg)
    distributed.cleanup()  # on an error, torchrun stops the other processes
    if int(os.environ.get("RANK", "0")) == 0:  # one report under torchrun
        print(json.dumps(results, indent=2))
    return 0


# ------------------------------------------------------------------ analysis commands

ANALYSIS_COMMANDS = ("retrieve", "static-bias", "actor-crop", "bias-sets", "bias-test", "cam")


def _analysis_parser(sub, name: str, summary: str, description: str, examples: str):
    return sub.add_parser(
        name,
        help=summary,
        description=f"{summary}.\n\n{description}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"example:\n{examples}",
    )


def _add_execution(p, workers: bool = True) -> None:
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument("--batch-size", type=int, default=16, help="videos per batch (default: 16)")
    if workers:
        p.add_argument(
            "--workers", type=int, default=None, help="DataLoader workers (default: the run's)"
        )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_analysis_commands(sub) -> None:
    """The analyses of trained runs (issue 7): each reads finished run folders, never
    changes them, and writes its results to a folder of its own."""
    p = _analysis_parser(
        sub,
        "retrieve",
        "video retrieval recall@K with a frozen backbone (Table 3)",
        "Encodes every video of a split with the run's frozen backbone: num-clips clips of\n"
        "the run's T frames spread uniformly, the run's centre-crop test view, the feature\n"
        "map max-pooled (default: adaptive max pooling to 2 x 7 x 7, the paper's, clamped to\n"
        "the map's size). Queries: the test list; gallery: the training list; cosine\n"
        "similarity; a hit at K when the query's class is among its K nearest.\n"
        "--level video (default, VCOP's code): a video is the mean of its clips.\n"
        "--level clip (the paper's text): every clip is a query / gallery item.\n"
        "--centre --clip-norm: FAME's protocol (L2 per clip, mean-centring, L2).\n\n"
        "Writes to --out: retrieval.json (recall@K and every setting), topk.npz (each\n"
        "query's K nearest gallery items: paths, clips, labels, similarities),\n"
        "features_query.npz / features_gallery.npz, and neighbours.png (a few queries\n"
        "with their nearest videos).",
        "  bepaper retrieve --run runs/pretrain-moco-be-r3d18-0123456789 \\\n"
        "      --root data/synthbias/default/hmdb51like --split 1 --out results/retrieval",
    )
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
    _add_execution(p)

    p = _analysis_parser(
        sub,
        "static-bias",
        "per-class static accuracy against BE's per-class gain, Pearson (Figure 4)",
        "Reads the per-video test outputs of three finished fine-tuning runs on the same\n"
        "test videos: --static (trained and tested on static videos, static=true) gives\n"
        "each class's static top-1; --base and --new (e.g. MoCo and MoCo+BE) give the\n"
        "per-class relative gain 100 (new - base) / base and the absolute gain.\n"
        "The relative gain divides by the base accuracy, which biases its correlation with\n"
        "static accuracy toward negative values: read the absolute-gain rho beside it.\n\n"
        "Writes to --out: static_bias.csv (one row per class), static_bias.json (Pearson\n"
        "rho, p, 95% CI and n of both gains, Spearman; for SynthBias the known per-class\n"
        "scene bias and its rho with static top-1) and static_bias.png / .pdf.",
        "  bepaper static-bias --static runs/finetune-static-r3d18-aaaaaaaaaa \\\n"
        "      --base runs/finetune-init-r3d18-bbbbbbbbbb \\\n"
        "      --new runs/finetune-init-r3d18-cccccccccc \\\n"
        "      --split 1 --out results/static_bias",
    )
    p.add_argument("--static", required=True, help="fine-tuning run on static videos")
    p.add_argument("--base", required=True, help="fine-tuning run of the baseline (e.g. MoCo)")
    p.add_argument("--new", required=True, help="fine-tuning run of the method (e.g. MoCo+BE)")
    p.add_argument("--split", type=int, default=1, help="test split (default: 1)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--analogue", help="SynthBias analogue folder for the known class bias")
    p.add_argument("--title", help="plot title")

    p = _analysis_parser(
        sub,
        "actor-crop",
        "an actor-cropped copy of a dataset (Actor-HMDB51, Figure 5)",
        "For every video of the split files: the actor box of every frame (SynthBias's\n"
        "stored ground truth, or people found by Faster R-CNN or OpenCV's HOG), the\n"
        "smallest region holding all of them (grown by --margin, made square), every frame\n"
        "cropped to it and resized. Writes a dataset in the same layout to --out: videos/,\n"
        "boxes/ (in the crop's coordinates), splits/ (copied) and meta.json. A SynthBias\n"
        "source gives a SynthBias folder: fine-tune on it with data.root=<out>.\n"
        "Faster R-CNN weights are never downloaded: --weights, or torchvision's cache.",
        "  bepaper actor-crop --root data/synthbias/default/hmdb51like \\\n"
        "      --out data/synthbias/default/hmdb51like_actor --boxes ground_truth\n"
        "  bepaper actor-crop --dataset hmdb51 --root /data/hmdb51 --split-dir /data/splits \\\n"
        "      --out /data/actor_hmdb51 --boxes fasterrcnn --device cuda --workers 1",
    )
    p.add_argument("--root", required=True, help="video root (SynthBias: an analogue folder)")
    p.add_argument(
        "--dataset",
        default="synthbias",
        help="synthbias | ucf101 | hmdb51 | diving48 | kinetics400",
    )
    p.add_argument("--split-dir", default="", help="split files (default: <root>/splits)")
    p.add_argument("--out", required=True, type=Path, help="output folder (replaced)")
    p.add_argument(
        "--boxes",
        default="ground_truth",
        help="ground_truth | fasterrcnn | hog (default: ground_truth)",
    )
    p.add_argument("--weights", help="Faster R-CNN state dict (fasterrcnn_resnet50_fpn COCO)")
    p.add_argument("--margin", type=float, default=0.0, help="grow the box by this fraction")
    p.add_argument("--size", type=int, help="output side (default: the source's short side)")
    p.add_argument("--no-square", action="store_true", help="keep the region's aspect")
    p.add_argument("--score-threshold", type=float, help="detector score threshold")
    p.add_argument("--detect-every", type=int, default=1, help="detect on every k-th frame")
    p.add_argument("--device", default="cpu", help="detector device (default: cpu)")
    p.add_argument("--backend", default="decord", help="video decoder (default: decord)")
    p.add_argument("--workers", type=int, default=1, help="processes (default: 1)")

    p = _analysis_parser(
        sub,
        "bias-sets",
        "SynthBias bias test sets: new background, background only, static actor, actor only",
        "Re-renders the test videos of one split of a generated SynthBias analogue four\n"
        "ways (beyond the paper): new_background (SCUBA-like: a scene family the analogue\n"
        "never uses), background_only (HAT: the actor removed), static_actor (SCUFO-like:\n"
        "the actor frozen at frame 0 on the moving scene), actor_only (HAT: the rest filled\n"
        "with the frame's mean colour). Each becomes a SynthBias folder\n"
        "<out>/<analogue>_<variant>/ with the split's files; score a classifier on them with\n"
        "`bepaper bias-test`.",
        "  bepaper bias-sets --root data/synthbias/default/ucf101like \\\n"
        "      --out data/synthbias/default/bias_sets --split 2",
    )
    p.add_argument("--root", required=True, help="a generated SynthBias analogue folder")
    p.add_argument("--out", required=True, type=Path, help="folder of the sets")
    p.add_argument("--split", type=int, default=2, help="1 or 2 (default: 2, unbiased test)")
    p.add_argument(
        "--variant", action="append", dest="variants", metavar="NAME",
        help="new_background | background_only | static_actor | actor_only "
        "(repeatable; default: all)",
    )  # fmt: skip
    p.add_argument("--workers", type=int, default=2, help="processes (default: 2)")

    p = _analysis_parser(
        sub,
        "bias-test",
        "score a fine-tuned classifier on the SynthBias bias test sets",
        "Scores a finished fine-tuning run (its classifier, its test view, --num-clips\n"
        "clips per video) on the original test list of --split and on every bias test set\n"
        "of that split in --sets (from `bepaper bias-sets`). The contrasted accuracy\n"
        "(SCUBA/SCUFO) is the share of videos correct on new_background and wrong on\n"
        "static_actor.\n\n"
        "Writes to --out (default: <run>/bias_test_split<N>): bias_test.json (top-1 per\n"
        "set, contrasted accuracy), per_video.csv (correct or not, per video and set) and\n"
        "outputs/<set>.npz (per-video scores).",
        "  bepaper bias-test --run runs/finetune-init-r3d18-0123456789 \\\n"
        "      --sets data/synthbias/default/bias_sets --split 2",
    )
    p.add_argument("--run", required=True, help="a finished fine-tuning run")
    p.add_argument("--sets", required=True, help="folder of the bias sets (bepaper bias-sets)")
    p.add_argument(
        "--split", type=int, default=2, help="split the sets were built for (default: 2)"
    )
    p.add_argument("--root", help="the analogue the sets came from (default: the run's data.root)")
    p.add_argument(
        "--variant", action="append", dest="variants", metavar="NAME", help="only these sets"
    )
    p.add_argument("--num-clips", type=int, default=10, help="clips per video (default: 10)")
    p.add_argument("--out", type=Path, help="output folder (default: <run>/bias_test_split<N>)")
    _add_execution(p)

    p = _analysis_parser(
        sub,
        "cam",
        "class activation maps and the adversarial inputs of Figures 6-7",
        "For --videos test videos (of different classes) the centre clip in the run's test\n"
        "view goes through the run's backbone (pretraining or fine-tuning run) as four\n"
        "cases: original; static (its middle frame repeated); pasted (another class's\n"
        "actor box pasted, static, into every frame); noise (another class's frame added,\n"
        "Eq. 1 with --lam). The CAM is the channel mean of the feature map, upsampled.\n"
        "Numbers: the share of CAM mass in the actor's stored box (and in the pasted box)\n"
        "against its chance level (the box's share of the frame), and the mean raw\n"
        "activation relative to the original clip's (a static video's should be low).\n\n"
        "Writes to --out: cam_grid.png, cam_<k>_<Class>.png per video, gifs/*.gif per case,\n"
        "cam.json and cam.csv.",
        "  bepaper cam --run runs/pretrain-moco-be-r3d18-0123456789 --videos 4 --split 2 \\\n"
        "      --out results/cam",
    )
    p.add_argument("--run", required=True, help="a finished pretraining or fine-tuning run")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--videos", type=int, default=4, help="test videos (default: 4)")
    p.add_argument("--split", type=int, default=2, help="test split (default: 2)")
    p.add_argument("--root", help="data (default: the run's data.root)")
    p.add_argument("--dataset", help="its format: synthbias | hmdb51 | ... (default: the run's)")
    p.add_argument("--split-dir", help="its split files (default: found beside the root)")
    p.add_argument("--boxes", help="actor box folder (default: boxes/ beside the videos)")
    p.add_argument(
        "--lam", type=float, default=0.3, help="λ of the added static frame (default: 0.3)"
    )
    p.add_argument("--seed", type=int, default=0, help="which videos (default: 0)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _run_analysis(args: argparse.Namespace) -> int:
    progress = not getattr(args, "no_progress", False)
    if args.command == "retrieve":
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
            progress=progress,
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
    if args.command == "static-bias":
        from bepaper.analysis.static_bias import static_bias_from_runs

        res = static_bias_from_runs(
            args.static,
            args.base,
            args.new,
            split=args.split,
            out_dir=args.out,
            analogue=args.analogue,
            title=args.title,
        )
        for name in ("relative", "absolute", "known_bias"):
            s = res.get(name)
            if s:
                print(f"{name}: rho = {s['r']:.3g}, p = {s['p']:.3g}, n = {s['n']}")
        print(f"wrote {args.out}")
        return 0
    if args.command == "actor-crop":
        from bepaper.config import DataConfig
        from bepaper.data.actor_crop import build_actor_crops
        from bepaper.data.datasets import split_location

        data = DataConfig(dataset=args.dataset, root=args.root, split_dir=args.split_dir)
        video_root, split_dir = split_location(data)
        out = build_actor_crops(
            video_root,
            split_dir,
            args.out,
            boxes=args.boxes,
            size=args.size,
            margin=args.margin,
            square=not args.no_square,
            weights=args.weights,
            score_threshold=args.score_threshold,
            detect_every=args.detect_every,
            device=args.device,
            dataset="ucf101" if args.dataset == "synthbias" else args.dataset,
            backend=args.backend,
            workers=args.workers,
        )
        print(f"wrote {out}")
        return 0
    if args.command == "bias-sets":
        from bepaper.data.bias_sets import build_bias_sets
        from bepaper.data.synthbias import VARIANTS

        folders = build_bias_sets(
            args.root, args.out, tuple(args.variants or VARIANTS), args.split, args.workers
        )
        for variant, folder in folders.items():
            print(f"{variant}: {folder}")
        return 0
    if args.command == "bias-test":
        from bepaper.analysis.bias_tests import bias_test

        res = bias_test(
            args.run,
            args.sets,
            split=args.split,
            root=args.root,
            variants=tuple(args.variants) if args.variants else None,
            num_clips=args.num_clips,
            out_dir=args.out,
            device=args.device,
            batch_size=args.batch_size,
            workers=args.workers,
            progress=progress,
        )
        for name, acc in res["top1"].items():
            print(f"{name}: top-1 {acc:.3f} ({res['videos'][name]} videos)")
        print(f"contrasted accuracy: {res['contrasted_accuracy']}")
        print(f"wrote {res['out']}")
        return 0
    from bepaper.analysis.cam_report import cam_report

    res = cam_report(
        args.run,
        args.out,
        videos=args.videos,
        split=args.split,
        root=args.root,
        dataset=args.dataset,
        split_dir=args.split_dir,
        boxes=args.boxes,
        lam=args.lam,
        seed=args.seed,
        device=args.device,
        progress=progress,
    )
    for case, s in res["summary"].items():
        print(f"{case}: " + ", ".join(f"{k} {v:.3g}" for k, v in s.items() if v is not None))
    print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except BepaperError as err:
        print(f"bepaper: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bepaper: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
