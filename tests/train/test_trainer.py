import json

import pytest
import torch

from mmgraph.config import TrainConfig
from mmgraph.models import create_model
from mmgraph.train import Trainer
from mmgraph.errors import RunFolderError
from mmgraph.runs import CHECKPOINT, RESULTS, TOPK_FILE, RunFolder


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
    scores = iter([0.1, 0.3, 0.2, 0.3, 0.25, 0.29] + [0.0] * 50)
    original = trainer.evaluator.evaluate

    def fake(m, split="valid", **kw):
        out = original(m, split, **kw)
        if split == "valid":
            out["recall@20"] = next(scores)
        return out

    monkeypatch.setattr(trainer.evaluator, "evaluate", fake)
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
                       match="another training config.*learning_rate"):
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
