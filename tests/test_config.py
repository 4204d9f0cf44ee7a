import pytest

from mmgraph.config import TRAIN_RULES, ConfigError, TrainConfig, check_train_value


def test_defaults_are_valid():
    assert TrainConfig().validate() == TrainConfig()


@pytest.mark.parametrize("key, value", [
    ("learning_rate", 0), ("learning_rate", -1e-3), ("learning_rate", float("nan")),
    ("learning_rate", "1e-3"), ("batch_size", 0), ("batch_size", 2.5), ("epochs", 0),
    ("patience", 0), ("seed", -1), ("seed", True), ("topk", []), ("topk", [0, 10]),
    ("metrics", "recall"), ("valid_metric", "recall"), ("valid_metric", "recall@x"),
    ("device", "tpu"), ("neg_candidates", "some"), ("weight_decay", -0.1),
])
def test_impossible_values_are_refused_naming_the_field(key, value):
    with pytest.raises(ConfigError) as e:
        TrainConfig(**{key: value})
    message = str(e.value)
    assert message.startswith(f"TrainConfig {key}: expected ") and "\n" not in message
    assert check_train_value(key, value) == TRAIN_RULES[key][1]


def test_valid_metric_must_be_computed():
    with pytest.raises(ConfigError, match="valid_metric: 'recall@20' is not computed"):
        TrainConfig(topk=[10])
    with pytest.raises(ConfigError, match="is not computed"):
        TrainConfig(metrics=["ndcg"])
    assert TrainConfig(metrics=["NDCG"], valid_metric="ndcg@20").valid_metric == "ndcg@20"


def test_a_changed_config_is_checked_again_by_the_trainer(tiny_dataset):
    from mmgraph.models import create_model
    from mmgraph.train import Trainer
    config = TrainConfig(epochs=1)
    config.batch_size = 0  # dataclasses do not check assignments
    with pytest.raises(ConfigError, match="batch_size: expected an integer >= 1"):
        Trainer(create_model("mf", tiny_dataset), tiny_dataset, config)


def test_keys_without_a_rule_pass():
    assert check_train_value("optimizer", "sgd") is None
    assert check_train_value("unknown", object()) is None
