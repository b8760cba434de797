"""A quick version of the ladder's rungs 0-1 (bepaper.ladder), in `make test`: a change that
breaks learnability (the data, the reader, the augmentation, the model, the recipe) or
removes the background shortcut fails here, not an hour into `make reproduce`.

The data is a small SynthBias (3 motions of the default's vocabulary, 40 px frames, 24 per
video, real MPEG-4 files): 24 biased training videos per class, 30 unbiased ones, 8 test
videos per class in each split. Its bias is 0.95 for every class (the default's is
0.85 ± 0.1) so that one seed's static net shows the shortcut on 24 test videos. The nets and
the recipe are the calibrated protocol's (configs/synthbias_cpu.yaml: small R3D at width 8, max
pooling, AdamW with a cosine schedule), shortened: 15 epochs from scratch, 30 in the
fine-tuning regime of 8 labels per class. The checks are the ladder's own
(`bepaper.ladder.rungs`, its thresholds), on seed 0.

Measured on the developers' 2-core CPU (seeds 0-2, 1 thread, other jobs running): the
rung-0 net 100 / 95.8 / 95.8% on the unbiased test; the static net 95.8 / 91.7 / 87.5% biased,
33.3 / 33.3 / 25.0% unbiased (chance 33.3%); from scratch on 8 labels per class the biased −
unbiased gap 25.0 / 12.5 / 25.0 points (seed 0 is the test's). About a minute in all.
"""

from __future__ import annotations

from pathlib import Path

from bepaper.config import StudyConfig, build_config
from bepaper.data.synthbias import SIZES, generate_analogue, with_overrides
from bepaper.ladder import climb, rung_status, rungs

ROOT = Path(__file__).resolve().parents[1]
QUICK = with_overrides(
    SIZES["default"]["ucf101like"],
    num_classes=3,
    videos_per_class=(24, 8, 30, 8),
    num_frames=24,
    bias=0.95,
    bias_spread=0.0,
)


def test_rungs_0_and_1_hold_on_a_small_synthbias(tmp_path):
    folder = generate_analogue(tmp_path / "data", "ucf101like", QUICK, 0, "quick", 1, "pyav", False)
    study = build_config(
        StudyConfig,
        files=[ROOT / "configs" / "synthbias_cpu.yaml"],
        overrides=[
            f"data.root={folder}",
            f"run.root={tmp_path / 'runs'}",
            "ladder_seeds=[0]",
            "supervised.epochs=15",
            "labels_per_class=8",
            "finetune.epochs=30",
            "eval.num_clips=2",
        ],
    )
    rows = climb(study, roles=("learnable", "static", "scratch"))
    assert {r["role"] for r in rows} == {"learnable", "static", "scratch"}
    checks = rungs(rows, 1 / QUICK.num_classes)
    assert {c["check"] for c in checks} == {
        "learnable",
        "static net, biased test",
        "static net, unbiased test",
        "from scratch in the regime cheats",
    }
    failed = [f"{c['check']}: {c['mean']:.1f} ({c['asks']})" for c in checks if not c["holds"]]
    assert not failed, failed
    assert rung_status(checks) == {0: True, 1: True}
