import logging
import pytest

from mmgraph.config import TrainConfig
from mmgraph.models import create_model
from mmgraph.train import Trainer
from mmgraph.train.callbacks import (BestValidScore, Callback, EarlyStopping,
                                     ProgressBar)
from tests.train.test_trainer import fake_valid_scores


def _config(**kw):
    base = dict(epochs=3, batch_size=256, topk=[10, 20], seed=2,
                patience=100)
    base.update(kw)
    return TrainConfig(**base)


class _Record(Callback):
    def __init__(self):
        self.calls = []

    def on_fit_start(self, trainer):
        self.calls.append("fit_start")

    def on_epoch_start(self, trainer, epoch):
        self.calls.append(f"start{epoch}")

    def on_epoch_end(self, trainer, epoch, record):
        assert record is trainer.history[-1]
        self.calls.append(f"end{epoch}:{record['improved']}")

    def on_fit_end(self, trainer, results):
        assert "test" in results
        results["seen"] = True
        self.calls.append("fit_end")


def test_hooks_are_called_in_order(tiny_dataset, monkeypatch):
    cb = _Record()
    trainer = Trainer(create_model("mf", tiny_dataset), tiny_dataset,
                      _config(), callbacks=[cb], show_progress=False)
    fake_valid_scores(trainer, monkeypatch, [0.2, 0.1, 0.3])
    res = trainer.fit()
    assert cb.calls == ["fit_start", "start0", "end0:True", "start1",
                        "end1:False", "start2", "end2:True", "fit_end"]
    assert res["seen"] and res["best_epoch"] == 2
    # the defaults come first, the given callback after them, the progress
    # report last (without a bar: one log line per epoch)
    assert [type(c) for c in trainer.callbacks] == [
        BestValidScore, EarlyStopping, _Record, ProgressBar]
    assert not trainer.callbacks[-1].enabled


def test_a_callback_can_replace_the_selection(tiny_dataset):
    class Last(Callback):
        role = "selection"

        def on_epoch_end(self, trainer, epoch, record):
            trainer.mark_best(record)

    trainer = Trainer(create_model("mf", tiny_dataset), tiny_dataset,
                      _config(epochs=3), callbacks=[Last()],
                      show_progress=False)
    assert not any(isinstance(c, BestValidScore) for c in trainer.callbacks)
    assert trainer.fit()["best_epoch"] == 2


def test_early_stopping_state_round_trips():
    stop = EarlyStopping(patience=2)

    class T:
        should_stop, stop_reason = False, ""

    t = T()
    for improved in (True, False, False):
        stop.on_epoch_end(t, 0, {"improved": improved})
    assert stop.bad_epochs == 2 and not t.should_stop
    again = EarlyStopping(patience=2)
    again.load_state_dict(stop.state_dict())
    again.on_epoch_end(t, 0, {"improved": False})
    assert t.should_stop and t.stop_reason == "early_stopping"


def test_progress_bar_is_one_bar_with_the_scores(caplog, tiny_dataset, monkeypatch):
    bars = []

    class FakeBar:
        def __init__(self, total, **kw):
            self.total, self.n, self.postfix, self.closed = total, 0, {}, False
            self.disable = False
            bars.append(self)

        def set_postfix(self, refresh=True, **kw):
            self.postfix = kw

        def update(self, n):
            self.n += n

        def close(self):
            self.closed = True

    import tqdm.auto
    monkeypatch.setattr(tqdm.auto, "tqdm", FakeBar)
    trainer = Trainer(create_model("mf", tiny_dataset), tiny_dataset,
                      _config(epochs=3), show_progress=True)
    assert isinstance(trainer.callbacks[-1], ProgressBar)
    res = trainer.fit()
    (bar,) = bars
    assert bar.total == 3 and bar.n == 3 and bar.closed
    last = res["history"][-1]["valid"]["recall@20"]
    assert bar.postfix["valid"] == f"{last:.4f}"
    assert bar.postfix["best"] == \
        f"{res['valid']['recall@20']:.4f}@{res['best_epoch']}"
    # show_progress=False: no bar, one log line per epoch instead
    bars.clear()
    quiet = Trainer(create_model("mf", tiny_dataset), tiny_dataset,
                    _config(epochs=2), show_progress=False)
    assert not quiet.callbacks[-1].enabled
    with caplog.at_level(logging.INFO, logger="mmgraph"):
        quiet.fit()
    assert not bars
    assert sum("valid recall@20" in r.message and r.message.startswith("epoch")
               for r in caplog.records) == 2


def test_plot_training_curve_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from mmgraph.train.callbacks import plot_training_curve
    history = [{"epoch": e, "loss": 1.0 / (e + 1),
                "valid": {"recall@20": 0.1 * e}} for e in range(3)]
    plot_training_curve(history, "recall@20", tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
