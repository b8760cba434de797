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
    assert (p.method.gamma, p.model.embed_dim, p.data.num_frames, p.data.stride) == (
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
        assert cfg.methods == ["moco", "moco_hn", "moco_be"] and len(cfg.seeds) >= 3, f.name
