import json

import pytest
import torch

from mmgraph.config import TrainConfig
from mmgraph.models import create_model
from mmgraph.train import Trainer
from mmgraph.errors import RunFolderError
from mmgraph.runs import CHECKPOINT, RESULTS, TOPK_FILE, RunFolder


def fake_valid_scores(trainer, monkeypatch, scores):
    r"""Makes the trainer's validation recall@20 follow ``scores``."""
    scores = iter(scores)
    original = trainer.evaluator.evaluate

    def fake(m, split="valid", **kw):
        out = original(m, split, **kw)
        if split == "valid":
            out["recall@20"] = next(scores)
        return out

    monkeypatch.setattr(trainer.evaluator, "evaluate", fake)


def _config(**kw):
    base = dict(epochs=6, batch_size=256, topk=[5, 10, 20, 50], seed=5,
                patience=100)
    base.update(kw)
    return TrainConfig(**base)


def test_fit_writes_the_run_folder(tiny_dataset, tmp_path):
    model = create_model("lightgcn", tiny_dataset, n_layers=1)
    res = Trainer(model, tiny_dataset, _config(epochs=3),
                  callbacks=RunFolder(tmp_path).callbacks(),
                  show_progress=False).fit()
    saved = json.loads((tmp_path / RESULTS).read_text())
    assert saved["finished"] and saved["test"] == res["test"]
    assert len(saved["history"]) == 3
    assert saved["best_epoch"] == max(
        range(3), key=lambda e: (saved["history"][e]["valid"]["recall@20"],
                                 -e))
    state = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert state["epoch"] == saved["best_epoch"]
    lines = (tmp_path / TOPK_FILE).read_text().splitlines()
    test_users = torch.unique(tiny_dataset.test_edge_index[0])
    assert len(lines) == test_users.numel()
    first = list(map(int, lines[0].split("\t")))
    assert len(first) == 51
    train_items = set(tiny_dataset.train_edge_index[1][
        tiny_dataset.train_edge_index[0] == first[0]].tolist())
    assert not train_items & set(first[1:])
    assert (tmp_path / "training_curve.png").stat().st_size > 1000


def test_test_split_is_evaluated_once_on_the_selected_model(tiny_dataset,
                                                            monkeypatch):
    model = create_model("mf", tiny_dataset)
    trainer = Trainer(model, tiny_dataset, _config(epochs=4),
                      show_progress=False)
    calls = []
    original = trainer.evaluator.evaluate

    def spy(m, split="valid", **kw):
        calls.append(split if isinstance(split, str) else "edges")
        return original(m, split, **kw)

    monkeypatch.setattr(trainer.evaluator, "evaluate", spy)
    trainer.fit()
    assert calls.count("test") == 1 and calls.count("valid") == 4


def test_early_stopping_follows_mmrec_rule(tiny_dataset, monkeypatch):
    model = create_model("mf", tiny_dataset)
    trainer = Trainer(model, tiny_dataset, _config(epochs=50, patience=3),
                      show_progress=False)
    fake_valid_scores(trainer, monkeypatch,
                      [0.1, 0.3, 0.2, 0.3, 0.25, 0.29] + [0.0] * 50)
    res = trainer.fit()
    # Best at epoch 1 (0.3; the later 0.3 is not a strict improvement); it
    # stops after patience + 1 = 4 epochs without improvement.
    assert res["best_epoch"] == 1
    assert res["epochs"] == 6


def test_resume_after_interruption_gives_the_same_result(tiny_dataset,
                                                         tmp_path,
                                                         monkeypatch,
                                                         single_thread):
    config = _config(epochs=6)
    full = Trainer(create_model("lightgcn", tiny_dataset), tiny_dataset,
                   config, callbacks=RunFolder(tmp_path / "full").callbacks(),
                   show_progress=False).fit()

    interrupted = Trainer(create_model("lightgcn", tiny_dataset),
                          tiny_dataset, config,
                          callbacks=RunFolder(tmp_path / "cut").callbacks(),
                          show_progress=False)
    original = interrupted.train_epoch

    def crash(epoch):
        if epoch == 4:
            raise KeyboardInterrupt
        return original(epoch)

    monkeypatch.setattr(interrupted, "train_epoch", crash)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    resumed = Trainer(create_model("lightgcn", tiny_dataset), tiny_dataset,
                      config, callbacks=RunFolder(tmp_path / "cut").callbacks(),
                      show_progress=False).fit(resume=True)
    assert resumed["best_epoch"] == full["best_epoch"]
    assert resumed["test"] == full["test"]
    assert [h["valid"] for h in resumed["history"]] == \
        [h["valid"] for h in full["history"]]


def test_resume_with_another_config_is_refused(tiny_dataset, tmp_path):
    Trainer(create_model("mf", tiny_dataset), tiny_dataset, _config(epochs=1),
            callbacks=RunFolder(tmp_path).callbacks(),
            show_progress=False).fit()
    with pytest.raises(RunFolderError,
                       match="another setting.*learning_rate"):
        Trainer(create_model("mf", tiny_dataset), tiny_dataset,
                _config(epochs=1, learning_rate=0.5),
                callbacks=RunFolder(tmp_path).callbacks(),
                show_progress=False).fit(resume=True)


def test_nan_loss_aborts_with_a_clear_error(tiny_dataset):
    model = create_model("mf", tiny_dataset)
    with torch.no_grad():
        model.user_emb.weight[0] = float("nan")
    trainer = Trainer(model, tiny_dataset, _config(epochs=1),
                      show_progress=False)
    trainer.model.reset_parameters = lambda: None
    with pytest.raises(FloatingPointError, match="training loss is nan"):
        trainer.fit()


def test_lightgcn_learns_on_synthetic_data(tiny_dataset):
    # LightGCN must clearly beat a random ranking after a few epochs.
    model = create_model("lightgcn", tiny_dataset)
    res = Trainer(model, tiny_dataset, _config(epochs=15, learning_rate=0.01),
                  show_progress=False).fit()
    random_recall = 20 / tiny_dataset.num_items
    assert res["valid"]["recall@20"] > 2 * random_recall


def test_dict_config_is_merged_over_the_model_train_defaults(tiny_dataset,
                                                             monkeypatch):
    model = create_model("mf", tiny_dataset)
    monkeypatch.setattr(type(model), "train_defaults",
                        {"learning_rate": 0.123, "batch_size": 64})
    trainer = Trainer(model, tiny_dataset, {"batch_size": 32},
                      show_progress=False)
    assert trainer.config.learning_rate == 0.123
    assert trainer.config.batch_size == 32  # an explicit value wins
    assert Trainer(model, tiny_dataset, show_progress=False
                   ).config.learning_rate == 0.123
    # An explicit TrainConfig is taken as it is.
    assert Trainer(model, tiny_dataset, TrainConfig(), show_progress=False
                   ).config.learning_rate == 1e-3


@pytest.mark.parametrize("name,cls", [("adam", torch.optim.Adam),
                                      ("SGD", torch.optim.SGD),
                                      ("adamw", torch.optim.AdamW)])
def test_optimizer_is_resolved_by_name(tiny_dataset, name, cls):
    trainer = Trainer(create_model("mf", tiny_dataset), tiny_dataset,
                      _config(optimizer=name, optimizer_params={}),
                      show_progress=False)
    assert type(trainer.optimizer) is cls
    assert trainer.optimizer.param_groups[0]["lr"] == 1e-3


def test_unknown_optimizer_or_schedule_is_a_config_error(tiny_dataset):
    from mmgraph.config import ConfigError
    with pytest.raises(ConfigError, match="train.optimizer.*'adamm'"):
        Trainer(create_model("mf", tiny_dataset), tiny_dataset,
                _config(optimizer="adamm"), show_progress=False)
    with pytest.raises(ConfigError, match="train.lr_scheduler"):
        Trainer(create_model("mf", tiny_dataset), tiny_dataset,
                _config(lr_scheduler="nope"), show_progress=False)


def test_arguments_an_optimizer_or_schedule_refuses_are_a_config_error(tiny_dataset):
    from mmgraph.config import ConfigError

    def trainer(**kw):
        return Trainer(create_model("mf", tiny_dataset), tiny_dataset, _config(**kw),
                       show_progress=False)
    # Adam has no momentum (docs/training.md's example is SGD's)
    with pytest.raises(ConfigError, match="optimizer_params.*'adam'.*momentum"):
        trainer(optimizer_params={"momentum": 0.9})
    assert type(trainer(optimizer="sgd", optimizer_params={"momentum": 0.9}).optimizer) \
        is torch.optim.SGD
    # a value SGD refuses is not an unknown optimiser
    with pytest.raises(ConfigError, match="optimizer_params.*'sgd' refuses.*momentum"):
        trainer(optimizer="sgd", optimizer_params={"momentum": -1.0})
    # ExponentialLR needs its gamma
    with pytest.raises(ConfigError, match="lr_scheduler_params.*'exponential'.*gamma"):
        trainer(lr_scheduler="exponential")


def test_lr_schedule_steps_once_per_epoch_and_resumes(tiny_dataset, tmp_path,
                                                      single_thread):
    from mmgraph.runs import RunFolder
    from mmgraph.train.callbacks import Callback

    class Rates(Callback):
        def __init__(self):
            self.lrs = []

        def on_epoch_start(self, trainer, epoch):
            self.lrs.append(trainer.optimizer.param_groups[0]["lr"])

    rates = Rates()
    config = _config(epochs=4, learning_rate=0.1, lr_scheduler="step",
                     lr_scheduler_params={"step_size": 2, "gamma": 0.5})
    Trainer(create_model("mf", tiny_dataset), tiny_dataset, config,
            callbacks=[rates], show_progress=False).fit()
    assert rates.lrs == pytest.approx([0.1, 0.1, 0.05, 0.05])

    class EveryEpoch(Callback):
        role = "selection"  # checkpoint every epoch

        def __init__(self, crash_at=None):
            self.crash_at = crash_at

        def on_epoch_start(self, trainer, epoch):
            if epoch == self.crash_at:
                raise KeyboardInterrupt

        def on_epoch_end(self, trainer, epoch, record):
            trainer.mark_best(record)

    folder = RunFolder(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        Trainer(create_model("mf", tiny_dataset), tiny_dataset, config,
                callbacks=[EveryEpoch(crash_at=3)] + folder.callbacks(),
                show_progress=False).fit()
    resumed = Rates()
    Trainer(create_model("mf", tiny_dataset), tiny_dataset, config,
            callbacks=[EveryEpoch()] + folder.callbacks() + [resumed],
            show_progress=False).fit(resume=True)
    assert resumed.lrs == pytest.approx([0.05])


def test_batches_hook_and_training_step_are_the_extension_points(
        tiny_dataset):
    from mmgraph.models.base import Batch
    seen = []

    def source(trainer, epoch):
        users, items = trainer.dataset.train_edge_index[:, :50]
        yield Batch(users, items, trainer.sampler.sample(users, 1))

    class Counting(Trainer):
        def training_step(self, batch):
            seen.append(len(batch))
            return super().training_step(batch)

    trainer = Counting(create_model("mf", tiny_dataset), tiny_dataset,
                       _config(epochs=2), batches=source,
                       show_progress=False)
    res = trainer.fit()
    assert seen == [50, 50] and len(res["history"]) == 2
    assert {"loss", "valid", "improved", "train_seconds",
            "eval_seconds"} <= set(res["history"][0])


def test_native_objective_of_a_model_without_one_is_a_config_error(tiny_dataset):
    from mmgraph.config import ConfigError
    from mmgraph.train.objectives import create_objective
    with pytest.raises(ConfigError, match=r"--objective.*FREEDOM has no native loss.*'bpr'"):
        create_objective("native", create_model("freedom", tiny_dataset), tiny_dataset)


def test_sampling_settings_without_sampled_training_are_warned(tiny_dataset,
                                                               caplog):
    import logging
    with caplog.at_level(logging.WARNING, logger="mmgraph"):
        Trainer(create_model("mf", tiny_dataset), tiny_dataset,
                _config(num_neighbors=[5, 5]), show_progress=False)
    assert any("num_neighbors: only sampled training reads it" in r.message
               for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mmgraph"):
        Trainer(create_model("mf", tiny_dataset), tiny_dataset,
                _config(num_neighbors=[10, 10]), show_progress=False)
    assert not caplog.records  # the default
