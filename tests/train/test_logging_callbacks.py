import csv
from types import SimpleNamespace

import pytest

from mmgraph.errors import MMGraphError
from mmgraph.train.logging_callbacks import (CSVLogger, TensorBoardLogger,
                                             flatten_record, make_loggers)


def _record(epoch, loss, recall, improved=True):
    return {"epoch": epoch, "loss": loss, "reg": loss / 10,
            "valid": {"recall@20": recall, "ndcg@20": recall / 2,
                      "num_users": 7},
            "train_seconds": 0.5, "eval_seconds": 0.25, "improved": improved}


def _fit(callbacks, records, trainer=None, results=None):
    trainer = trainer or SimpleNamespace(history=[])
    for cb in callbacks:
        cb.on_fit_start(trainer)
    for r in records:
        trainer.history.append(r)
        for cb in callbacks:
            cb.on_epoch_end(trainer, r["epoch"], r)
    for cb in callbacks:
        cb.on_fit_end(trainer, results or {"best_epoch": 1, "test": {
            "recall@20": 0.3, "num_users": 7}})
    return trainer


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_flatten_record():
    row = flatten_record(_record(3, 0.8, 0.2, improved=False))
    assert row == {"epoch": 3, "loss": 0.8, "reg": pytest.approx(0.08),
                   "valid/recall@20": 0.2, "valid/ndcg@20": 0.1,
                   "train_seconds": 0.5, "eval_seconds": 0.25,
                   "improved": 0}


def test_csv_one_row_per_epoch(tmp_path):
    cb = CSVLogger(tmp_path / "metrics.csv")
    _fit([cb], [_record(0, 0.9, 0.1), _record(1, 0.7, 0.2),
                _record(2, 0.6, 0.15, improved=False)])
    rows = _read(tmp_path / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert list(rows[0]) == ["epoch", "loss", "reg", "valid/recall@20",
                             "valid/ndcg@20", "train_seconds", "eval_seconds",
                             "improved"]
    assert float(rows[1]["loss"]) == 0.7
    assert float(rows[2]["valid/recall@20"]) == 0.15
    assert rows[2]["improved"] == "0"
    test = _read(tmp_path / "metrics_test.csv")
    assert test == [{"best_epoch": "1", "test/recall@20": "0.3"}]


def test_csv_widens_header_for_a_late_column(tmp_path):
    cb = CSVLogger(tmp_path / "m.csv")
    late = _record(1, 0.7, 0.2)
    late["test"] = {"recall@20": 0.25}
    _fit([cb], [_record(0, 0.9, 0.1), late])
    rows = _read(tmp_path / "m.csv")
    assert rows[0]["test/recall@20"] == "" and \
        rows[1]["test/recall@20"] == "0.25"


def test_csv_resume_drops_epochs_after_the_checkpoint(tmp_path):
    cb = CSVLogger(tmp_path / "m.csv")
    trainer = SimpleNamespace(history=[])
    cb.on_fit_start(trainer)
    for r in (_record(0, 0.9, 0.1), _record(1, 0.8, 0.2)):
        trainer.history.append(r)
        cb.on_epoch_end(trainer, r["epoch"], r)
    state = cb.state_dict()              # checkpoint after epoch 1
    r = _record(2, 0.75, 0.1, improved=False)   # trained, then interrupted
    trainer.history.append(r)
    cb.on_epoch_end(trainer, 2, r)
    assert len(_read(tmp_path / "m.csv")) == 3
    # resume from the checkpoint: history and callback state of epoch 1
    resumed = CSVLogger(tmp_path / "m.csv")
    resumed.load_state_dict(state)
    trainer = SimpleNamespace(history=trainer.history[:2])
    _fit([resumed], [_record(2, 0.7, 0.3), _record(3, 0.6, 0.25, False)],
         trainer=trainer)
    rows = _read(tmp_path / "m.csv")
    assert [r["epoch"] for r in rows] == ["0", "1", "2", "3"]
    assert float(rows[2]["loss"]) == 0.7


def test_tensorboard_event_files(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    cb = TensorBoardLogger(tmp_path / "tb")
    _fit([cb], [_record(0, 0.9, 0.1), _record(1, 0.7, 0.2)])
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"loss/loss", "loss/reg", "valid/recall@20", "valid/ndcg@20",
            "time/train_seconds", "best/test/recall@20"} <= tags
    loss = [(e.step, round(e.value, 6)) for e in acc.Scalars("loss/loss")]
    assert loss == [(0, 0.9), (1, 0.7)]
    best = acc.Scalars("best/test/recall@20")
    assert [(e.step, round(e.value, 6)) for e in best] == [(1, 0.3)]


def test_results_with_cold_notes_and_counts_are_logged_without_them(tmp_path):
    # Evaluator results hold counts (num_users, cold_items) and, for an
    # ID-only model, a cold_note string: neither is a column.
    record = {"epoch": 0, "loss": 0.5, "improved": True,
              "valid": {"recall@20": 0.25, "num_users": 7, "cold_items": 3,
                        "cold_note": "ID-only model: no cold-item scores"}}
    row = flatten_record(record)
    assert row == {"epoch": 0, "loss": 0.5, "valid/recall@20": 0.25, "improved": 1}
    log = CSVLogger(tmp_path / "m.csv")
    log.on_fit_end(None, {"best_epoch": 0, "test": record["valid"]})
    assert log.test_path.read_text().splitlines() == ["best_epoch,test/recall@20",
                                                      "0,0.25"]


def test_log_option_of_train_writes_metrics_csv(tmp_path):
    from mmgraph.cli import main
    out = tmp_path / "run"
    assert main(["train", "--model", "mf", "--epochs", "2", "--out", str(out),
                 "--log", "csv,tensorboard", "--no-progress"]) == 0
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,loss") and len(rows) == 3
    results = __import__("json").loads((out / "results.json").read_text())
    test = (out / "metrics_test.csv").read_text().splitlines()
    header, values = test[0].split(","), test[1].split(",")
    assert float(values[header.index("test/recall@20")]) == \
        pytest.approx(results["test"]["recall@20"])
    assert any((out / "tensorboard").iterdir())


def test_log_option_needs_out_and_known_names(tmp_path, capsys):
    from mmgraph.cli import main
    assert main(["train", "--model", "mf", "--epochs", "1", "--log", "csv"]) == 2
    assert "--log needs --out" in capsys.readouterr().err
    assert main(["train", "--model", "mf", "--epochs", "1", "--log", "cvs",
                 "--out", str(tmp_path / "r")]) == 2
    assert "Did you mean 'csv'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_make_loggers(tmp_path):
    cbs = make_loggers("csv,tensorboard", tmp_path)
    assert isinstance(cbs[0], CSVLogger) and \
        cbs[0].path == tmp_path / "metrics.csv"
    assert isinstance(cbs[1], TensorBoardLogger)
    assert make_loggers(None, tmp_path) == []
    with pytest.raises(MMGraphError, match="Did you mean 'csv'"):
        make_loggers("cvs", tmp_path)


def test_tensorboard_resume_purges_epochs_after_the_checkpoint(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    trainer = SimpleNamespace(history=[])
    cb = TensorBoardLogger(tmp_path / "tb")
    cb.on_fit_start(trainer)
    for r in (_record(0, 0.9, 0.1), _record(1, 0.8, 0.2),
              _record(2, 0.75, 0.1)):        # epoch 2: after the checkpoint
        trainer.history.append(r)
        cb.on_epoch_end(trainer, r["epoch"], r)
    cb.writer.close()                        # the process dies here
    resumed = TensorBoardLogger(tmp_path / "tb")
    _fit([resumed], [_record(2, 0.7, 0.3)],
         trainer=SimpleNamespace(history=trainer.history[:2]))
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    loss = [(e.step, round(e.value, 6)) for e in acc.Scalars("loss/loss")]
    assert loss == [(0, 0.9), (1, 0.8), (2, 0.7)]
