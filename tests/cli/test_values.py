import argparse

import pytest

from mmgraph.cli import values
from mmgraph.config import ConfigError


@pytest.mark.parametrize("fn,text,expected", [
    (values.positive_int, "1", 1), (values.positive_int, "42", 42),
    (values.non_negative_int, "0", 0), (values.positive_float, "1e-4", 1e-4),
    (values.non_negative_float, "0", 0.0), (values.fraction, "1", 1.0),
    (values.fraction, "0.25", 0.25), (values.seed_list, "3, 1,2", [3, 1, 2]),
    (values.separator, "\\t", "\t"), (values.separator, "tab", "\t"),
    (values.separator, ";", ";"), (values.name, "amazon-beauty", "amazon-beauty"),
])
def test_accepts(fn, text, expected):
    assert fn(text) == expected


@pytest.mark.parametrize("fn,text,says", [
    (values.positive_int, "0", ">= 1"), (values.positive_int, "1.5", "integer"),
    (values.non_negative_int, "-1", ">= 0"), (values.positive_float, "0", "> 0"),
    (values.positive_float, "inf", "finite"), (values.positive_float, "nan", "finite"),
    (values.fraction, "1.01", "[0, 1]"), (values.seed_list, "1,,2", "comma-separated"),
    (values.seed_list, "", "comma-separated"), (values.seed_list, "2,2", "repeated"),
    (values.seed_list, "1,-2", ">= 0"), (values.separator, "::", "one character"),
    (values.separator, '"', "one character"), (values.name, "a/b", "not a path"),
    (values.name, "..", "not a path"), (values.name, ".hidden", "not a path"),
])
def test_rejects_with_the_reason(fn, text, says):
    with pytest.raises(argparse.ArgumentTypeError, match=None) as e:
        fn(text)
    assert says in str(e.value)


@pytest.mark.parametrize("overrides", [
    {"learning_rate": 0}, {"train.learning_rate": -1.0}, {"batch_size": 0},
    {"batch_size": [256, 0]}, {"epochs": 1.5}, {"topk": [0]}, {"topk": []},
    {"metrics": "recall"}, {"valid_metric": "recall"}, {"device": "tpu"},
    {"seed": True}, {"learning_rate": "nan"},
])
def test_train_values_rejected(overrides):
    key = next(iter(overrides))
    with pytest.raises(ConfigError, match=f"--set {key}: expected"):
        values.check_train_values(overrides)


@pytest.mark.parametrize("overrides", [
    {"learning_rate": 1e-3}, {"batch_size": [256, 512]}, {"topk": [10, 20]},
    {"topk": [[10], [20, 50]]}, {"model.n_layers": 0},  # a model key is not checked here
    {"objective.learning_rate": -1},                   # nor another section's
])
def test_train_values_accepted(overrides):
    values.check_train_values(overrides)


def test_metric_names():
    known = ["recall", "ndcg"]
    values.check_metric_names(["recall", "NDCG"], [10, 20], "ndcg@20", known)
    with pytest.raises(ConfigError, match="Did you mean 'recall'"):
        values.check_metric_names(["recal"], [20], "recall@20", known)
    with pytest.raises(ConfigError, match="cut-off among topk"):
        values.check_metric_names(["recall"], [10], "recall@20", known)
    with pytest.raises(ConfigError, match="unknown metric 'hr'"):
        values.check_metric_names(["recall"], [20], "hr@20", known)
