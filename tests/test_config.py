"""The config schema: defaults, YAML overrides, and errors that name the key."""

from __future__ import annotations

import pytest

from bepaper.config import (
    FinetuneConfig,
    PretrainConfig,
    StudyConfig,
    build_config,
    from_dict,
    parse_override,
    read_yaml,
    to_dict,
)
from bepaper.errors import ConfigError


def test_paper_defaults():
    p, f = PretrainConfig(), FinetuneConfig()
    assert (p.optim.lr, p.optim.epochs, p.optim.weight_decay, p.optim.momentum) == (
        0.01,
        50,
        5e-4,
        0.9,
    )
    assert (p.method.gamma, p.method.options.embed_dim, p.data.num_frames, p.data.stride) == (
        0.3,
        128,
        16,
        4,
    )
    assert (f.optim.lr, f.optim.epochs, f.eval.num_clips) == (0.05, 45, 10)


def test_yaml_then_overrides_in_order(tmp_path):
    a = tmp_path / "a.yaml"
    a.write_text("optim:\n  lr: 0.5\n  epochs: 3\nmodel: {backbone: r3d_small}\n")
    cfg = build_config(PretrainConfig, [a], ["optim.lr=0.25", "eval.splits=[1, 2]"][:1])
    assert cfg.optim.lr == 0.25 and cfg.optim.epochs == 3 and cfg.model.backbone == "r3d_small"
    assert isinstance(build_config(PretrainConfig, overrides=["optim.lr=1"]).optim.lr, float)


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lrr=1", "unknown config key 'optim.lrr'"),
        ("nosection.x=1", "unknown config key 'nosection'"),
        ("optim.lr=fast", "config key 'optim.lr' must be float"),
        ("run.seed=true", "config key 'run.seed' must be an int"),
        ("optim=3", "config key 'optim' is a section"),
        ("optim.lr", "must look like section.key=value"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        build_config(PretrainConfig, overrides=[override])


def test_list_types_are_checked():
    assert build_config(StudyConfig, overrides=["seeds=[3, 4]"]).seeds == [3, 4]
    with pytest.raises(ConfigError, match="'seeds'"):
        build_config(StudyConfig, overrides=["seeds=[a]"])


def test_key_set_twice_is_an_error(tmp_path):
    f = tmp_path / "twice.yaml"
    f.write_text("optim:\n  lr: 0.1\n  lr: 0.2\n")
    with pytest.raises(ConfigError, match="'lr' is set twice"):
        build_config(PretrainConfig, [f])


def test_python_tags_are_refused_and_not_run(tmp_path):
    marker = tmp_path / "ran"
    f = tmp_path / "evil.yaml"
    f.write_text(f'optim: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(ConfigError, match="not a valid safe YAML"):
        read_yaml(f)
    assert not marker.exists()


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        read_yaml(tmp_path / "nope.yaml")
    f = tmp_path / "list.yaml"
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        read_yaml(f)


def test_round_trip_through_plain_dict():
    cfg = build_config(FinetuneConfig, overrides=["init=runs/x", "eval.splits=[1,2]"])
    assert from_dict(FinetuneConfig, to_dict(cfg)) == cfg
    assert parse_override("a.b.c=[1, 2]") == {"a": {"b": {"c": [1, 2]}}}


def test_shipped_study_configs_are_valid():
    from pathlib import Path

    files = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
    assert files
    for f in files:
        cfg = build_config(StudyConfig, [f])
        assert {"random", "moco", "moco+hn+be"} <= set(cfg.arms), f.name
        assert len(cfg.seeds) >= (2 if "smoke" in f.name else 3), f.name


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("optim.lr=-1", "'optim.lr' must be > 0, got -1"),
        ("optim.lr=0", "'optim.lr' must be > 0, got 0"),
        ("method.gamma=5", "'method.gamma' must be in [0, 1], got 5"),
        ("method.gamma=-0.1", "'method.gamma' must be in [0, 1], got -0.1"),
        ("method.temperature=0", "'method.temperature' must be > 0, got 0"),
        ("method.momentum=1.5", "'method.momentum' must be in [0, 1], got 1.5"),
        ("method.queue_size=0", "'method.queue_size' must be >= 1, got 0"),
        ("optim.weight_decay=-1", "'optim.weight_decay' must be >= 0, got -1"),
        ("augment.crop_min=1.5", "'augment.crop_min' must be in (0, 1], got 1.5"),
        ("augment.crop_min=0", "'augment.crop_min' must be in (0, 1], got 0"),
        ("optim.momentum=1", "'optim.momentum' must be in [0, 1), got 1"),
        ("optim.lr=.nan", "'optim.lr' must be > 0, got nan"),
        ("data.num_frames=0", "'data.num_frames' must be >= 1, got 0"),
        ("model.width=-2", "'model.width' must be >= 0, got -2"),
        ("model.backbone=r50", "'model.backbone' is 'r50'; choose from"),
        ("method.distraction=blur", "'method.distraction' is 'blur'; choose from"),
        ("method.head_pool=mean", "'method.head_pool' is 'mean'; choose from ['max', 'avg']"),
        ("method.hard_gap=0", "'method.hard_gap' must be >= 1, got 0"),
        ("data.backend=ffmpeg", "'data.backend' is 'ffmpeg'; choose from"),
        ("run.keep_checkpoints=0", "'run.keep_checkpoints' must be >= 1, got 0"),
        ("method.beta=-1", "'method.beta' must be >= 0, got -1"),
        ("optim.lr_gamma=2", "'optim.lr_gamma' must be in (0, 1], got 2"),
    ],
)
def test_values_outside_their_range_are_refused(override, fragment):
    with pytest.raises(ConfigError) as err:
        build_config(PretrainConfig, overrides=[override])
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_method_options_are_their_own_schema():
    cfg = build_config(PretrainConfig, overrides=["method.queue_size=3569"])
    assert cfg.method.options.queue_size == 3569 and to_dict(cfg)["method"]["queue_size"] == 3569
    with pytest.raises(ConfigError, match="method 'moco' has no option 'method.tuple_len'"):
        build_config(PretrainConfig, overrides=["method.tuple_len=3"])
    # a new method name resets the options to that method's defaults
    from bepaper.methods import METHODS

    for name, cls in METHODS.items():
        c = build_config(PretrainConfig, overrides=[f"method.name={name}", "method.be=false"])
        assert isinstance(c.method.options, cls.Options) and c.method.be is False
        assert from_dict(PretrainConfig, to_dict(c)) == c


def test_result_part_leaves_out_execution_settings():
    from bepaper.config import execution_keys, result_dict

    a = build_config(PretrainConfig, overrides=["data.workers=7", "run.device=cpu"])
    b = build_config(PretrainConfig, overrides=["run.amp=false", "data.root=/elsewhere"])
    assert result_dict(a) == result_dict(b) and to_dict(a) != to_dict(b)
    assert "run.device" in execution_keys(a) and "optim.lr" not in execution_keys(a)
    c = build_config(PretrainConfig, overrides=["run.seed=1"])
    assert result_dict(c) != result_dict(a)


def test_every_paper_cell_and_preset_is_valid():
    """One config per cell of Tables 1, 2 and 4 (and the fine-tuning settings); each preset
    derives a SynthBias counterpart of every cell."""
    from pathlib import Path

    from bepaper.experiments import Preset
    from bepaper.tables import TABLE1, TABLE2, TABLE3, TABLE4

    paper = Path(__file__).resolve().parents[1] / "configs" / "paper"
    cells = sorted(paper.glob("table*/*.yaml"))
    assert {c.config for c in (*TABLE1, *TABLE2, *TABLE3, *TABLE4)} == {
        str(c.relative_to(paper)) for c in cells
    }
    for f in cells:
        cfg = build_config(PretrainConfig, [f])
        assert cfg.data.dataset in {"ucf101", "kinetics400", "diving48"}, f.name
        assert (cfg.optim.epochs, cfg.optim.lr, cfg.optim.batch_size) == (50, 0.01, 64), f.name
    for f in sorted((paper / "finetune").glob("*.yaml")):
        cfg = build_config(FinetuneConfig, [f])
        assert (cfg.optim.epochs, cfg.optim.lr, cfg.eval.num_clips) == (45, 0.05, 10), f.name
    for name in ("smoke", "synthetic"):
        p = Preset.load(name)
        for f in cells:
            c = p.pretrain_config(f)
            assert c.data.dataset == "synthbias" and c.model == p.study.model
