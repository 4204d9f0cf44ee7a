import pytest

from mmgraph.config import ConfigError
from mmgraph.experiment import (apply_overrides, expand_grid,
                                load_model_yaml, parse_override,
                                resolve_config)
from mmgraph.models import list_models, model_hparams


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


@pytest.mark.parametrize("name", list_models())
def test_yaml_model_defaults_equal_constructor_defaults(name):
    data = load_model_yaml(name)
    defaults = model_hparams(name)
    for key, value in (data.get("model") or {}).items():
        assert key in defaults, f"{name}.yaml: unknown model key {key}"
        assert value == defaults[key], (name, key)
    for key in (data.get("grid") or {}):
        section = key.split(".")[0] if "." in key else None
        assert section or key in defaults or key in resolve_config(name)[
            "train"], (name, key)


def test_objective_name_resolution_is_one_rule():
    from mmgraph.models import get_model_class
    from mmgraph.train.objectives import resolve_objective_name
    for name in list_models():
        cls = get_model_class(name)
        want = "native" if cls.native_loss else "bpr"
        assert resolve_objective_name(cls) == want
        assert resolve_config(name)["train"]["objective"] == want
        assert resolve_objective_name(cls, "nbpo") == "nbpo"
