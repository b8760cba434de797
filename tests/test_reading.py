"""bepaper.reading: the sentences under each notebook's result, computed from its numbers."""

from __future__ import annotations

import math

from bepaper.reading import at_chance, quickstart_reading


def test_at_chance_within_the_margin_or_the_interval():
    assert at_chance(25.0, 25.0) and at_chance(26.9, 25.0) and not at_chance(27.5, 25.0)
    assert at_chance(30.0, 25.0, half=6.0) and not at_chance(30.0, 25.0, half=4.0)
    assert at_chance(0.0, 25.0)  # below chance learned nothing either
    assert not at_chance(math.nan, 25.0)


def test_quickstart_says_chance_below_chance_and_above():
    at = quickstart_reading({"1": 25.0, "2": 26.0}, 25.0, 0)
    assert "This is at chance (25.0%: 4 classes)" in at and "learned nothing" in at
    below = quickstart_reading({"1": 0.0, "2": 12.5}, 25.0, 0)
    assert "at or below chance (25.0%: 4 classes)" in below and "learned nothing" in below
    above = quickstart_reading({"1": 90.0, "2": 25.0}, 25.0, 3)
    assert "Above chance" in above and "seed 3" in above and "learned nothing" not in above
    assert "did not finish" in quickstart_reading({}, 25.0, 0)


def test_a_run_is_named_for_a_reader(tmp_path):
    """CAM grids and other per-run figures say 'MoCo + BE', not the run folder's hash."""
    from bepaper.analysis.loading import FinishedRun
    from bepaper.config import PretrainConfig, build_config, to_dict

    pre = build_config(
        PretrainConfig,
        overrides=["method.name=moco", "method.be=true", "method.hard_negatives=false"],
    )
    folder = tmp_path / "pre"
    folder.mkdir()
    (folder / "identity.json").write_text('{"command": "pretrain"}')
    (folder / "config.yaml").write_text(__import__("yaml").safe_dump(to_dict(pre)))
    (folder / "finished.json").write_text("{}")
    assert FinishedRun(folder, "pretrain", to_dict(pre), {}).reader_name == "MoCo + BE"
    tuned = FinishedRun(tmp_path / "ft", "finetune", {"init": str(folder)}, {})
    assert tuned.reader_name == "MoCo + BE, fine-tuned"
    scratch = FinishedRun(tmp_path / "s", "finetune", {"init": "", "static": True}, {})
    assert scratch.reader_name == "trained from random init, static frames"
    published = FinishedRun(tmp_path / "p", "finetune", {"init": "/w/rgb_imagenet.pt"}, {})
    assert published.reader_name == "fine-tuned from rgb_imagenet.pt"


def test_a_table_is_shown_with_reader_words_and_rounded():
    import pandas as pd

    from bepaper import labels

    df = pd.DataFrame({"arm": ["moco+be", "random"], "unbiased_top1": [41.66666, float("nan")]})
    html = labels.shown(df).to_html()
    assert "MoCo + BE" in html and "41.7" in html and "41.67" not in html and "—" in html
