import json
from pathlib import Path

import pytest

from mmgraph.config import ConfigError, TrainConfig
from mmgraph.experiment import (apply_overrides, expand_grid,
                                load_model_yaml, parse_override,
                                resolve_config, train_defaults)
from mmgraph.models import list_models


def test_parse_override_types():
    assert parse_override("n_layers=3") == ("n_layers", 3)
    assert parse_override("reg_weight=1e-4") == ("reg_weight", 1e-4)
    assert parse_override("n_layers=[2, 3]") == ("n_layers", [2, 3])
    assert parse_override("eval_test_each_epoch=true") == \
        ("eval_test_each_epoch", True)
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_override("n_layers")


def test_unknown_key_suggests_nearest():
    with pytest.raises(ConfigError, match="Did you mean 'n_layers'"):
        resolve_config("lightgcn", overrides={"n_layer": 3})
    with pytest.raises(ConfigError, match="Did you mean 'learning_rate'"):
        resolve_config("lightgcn", overrides={"learning_rat": 0.1})


def test_wrong_type_is_an_error():
    with pytest.raises(ConfigError, match="expected a value of type int"):
        resolve_config("lightgcn", overrides={"n_layers": "three"})


def test_qualified_and_bare_keys_and_precedence(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  n_layers: 4\ntrain:\n  batch_size: 128\n")
    cfg = resolve_config("lightgcn", str(f), {"model.n_layers": 3})
    assert cfg["model"]["n_layers"] == 3          # --set beats the file
    assert cfg["train"]["batch_size"] == 128      # the file beats defaults
    assert cfg["train"]["objective"] == "bpr"     # auto -> bpr for LightGCN


def test_bad_config_file_names_the_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("model:\n  n_layerz: 4\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        resolve_config("lightgcn", str(f))


def test_grid_expansion_and_list_defaults_are_not_axes():
    cfg = resolve_config("lightgcn", overrides={"n_layers": [2, 3],
                                                "reg_weight": [1e-4, 1e-3]})
    points = list(expand_grid(cfg, "lightgcn"))
    assert len(points) == 4
    assert {tuple(p.values()) for p, _ in points} == \
        {(2, 1e-4), (2, 1e-3), (3, 1e-4), (3, 1e-3)}
    # metrics/topk are lists by default: never grid axes.
    single = resolve_config("lightgcn")
    assert len(list(expand_grid(single, "lightgcn"))) == 1


def test_published_grid_is_used_with_use_grid():
    cfg = resolve_config("lightgcn", use_grid=True)
    assert len(list(expand_grid(cfg, "lightgcn"))) == 20


RECORDED = json.loads((Path(__file__).parent / "golden" /
                       "resolved_configs.json").read_text())


@pytest.mark.parametrize("key", sorted(RECORDED))
def test_resolved_config_equals_the_one_recorded_before_the_defaults_moved(
        key):
    # Recorded (tests/golden/resolved_configs.json) while the defaults still
    # lived in both the constructors and the packaged YAML files.
    model, variant = key.split("/")
    if variant == "grid":
        cfg = resolve_config(model, use_grid=True)
    elif variant == "auto":
        cfg = resolve_config(model)
    else:
        cfg = resolve_config(model, overrides={"objective": variant})
    assert json.loads(json.dumps(cfg)) == RECORDED[key]


def test_every_model_and_objective_is_recorded():
    from mmgraph.train.objectives import list_objectives
    want = {f"{m}/{v}" for m in list_models()
            for v in ["auto", "grid"] + list_objectives()}
    assert set(RECORDED) == want


@pytest.mark.parametrize("name", list_models())
def test_packaged_yaml_holds_only_the_grid(name):
    data = load_model_yaml(name)
    assert set(data) <= {"grid"}
    config = resolve_config(name)
    for key in (data.get("grid") or {}):
        assert any(key in config[s] for s in ("model", "train")), (name, key)


def test_train_defaults_come_from_the_model_class(monkeypatch):
    from mmgraph.models import get_model_class
    assert train_defaults("lirdrec")["learning_rate"] == 1e-4
    assert train_defaults("cm3")["patience"] == 10
    assert train_defaults("mf") == TrainConfig().to_dict()
    cls = get_model_class("mf")
    monkeypatch.setattr(cls, "train_defaults", {"batch_size": 7})
    assert resolve_config("mf")["train"]["batch_size"] == 7
    assert resolve_config("mf", overrides={"batch_size": 9})["train"][
        "batch_size"] == 9
    monkeypatch.setattr(cls, "train_defaults", {"batch_sise": 7})
    with pytest.raises(ConfigError, match="Did you mean 'batch_size'"):
        resolve_config("mf")


def test_a_packaged_yaml_with_defaults_is_refused(tmp_path, monkeypatch):
    import mmgraph.experiment as experiment
    (tmp_path / "mf.yaml").write_text("model:\n  reg_weight: 0.5\n")
    monkeypatch.setattr(experiment, "CONFIG_DIR", tmp_path)
    with pytest.raises(ConfigError, match="mf.yaml: unexpected section "
                       "'model'"):
        resolve_config("mf")


def test_objective_name_resolution_is_one_rule():
    from mmgraph.models import get_model_class
    from mmgraph.train.objectives import resolve_objective_name
    for name in list_models():
        cls = get_model_class(name)
        want = "native" if cls.native_loss else "bpr"
        assert resolve_objective_name(cls) == want
        assert resolve_config(name)["train"]["objective"] == want
        assert resolve_objective_name(cls, "nbpo") == "nbpo"
