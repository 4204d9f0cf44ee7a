r"""Trainer callbacks that log each epoch: a CSV file (:class:`CSVLogger`)
and TensorBoard event files (:class:`TensorBoardLogger`).

Both write one entry per epoch from the record the trainer passes to
``on_epoch_end`` (``"epoch"``, the mean loss terms such as ``"loss"``,
``"valid"`` with the validation metrics, ``"train_seconds"``,
``"eval_seconds"``, ``"improved"``, and ``"test"`` when the test split is
evaluated every epoch), and the test metrics of the selected epoch at
``on_fit_end``. They survive a resumed run: the CSV logger keeps its rows in
the trainer's checkpoint (:meth:`~CSVLogger.state_dict`) and rewrites the
file from them, so epochs trained after the last checkpoint of an
interrupted run are not left behind as duplicates; the TensorBoard logger
reopens its writer with ``purge_step`` at the first epoch to redo, which
makes TensorBoard drop the stale events.

``--log csv`` and ``--log tensorboard`` (:func:`make_loggers`) put them in
the run folder as ``metrics.csv`` and ``tensorboard/``. Under ``torchrun``
only rank 0 writes them, as it alone writes the run folder.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Union

from mmgraph.distributed import is_main_process
from mmgraph.errors import MissingExtraError, MMGraphError, did_you_mean
from mmgraph.io import atomic_write_text

from mmgraph.train.callbacks import Callback

__all__ = ["CSVLogger", "TensorBoardLogger", "LOGGERS", "make_loggers",
           "flatten_record", "metric_values"]

#: Keys of an epoch record that are not loss terms.
_NOT_LOSSES = ("epoch", "valid", "test", "train_seconds", "eval_seconds",
               "improved")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def metric_values(metrics: Dict[str, Any]) -> Dict[str, float]:
    r"""The metrics of a split (``recall@20``, ``cold_recall@20``, ...) as
    floats; counts without a cut-off (``num_users``, ``cold_items``) and
    non-numeric entries (``cold_note``) are left out."""
    return {k: float(v) for k, v in (metrics or {}).items()
            if "@" in k and _is_number(v)}


def flatten_record(record: Dict[str, Any]) -> Dict[str, Any]:
    r"""One flat row of an epoch record: ``epoch``, the loss terms,
    ``valid/<metric>`` (and ``test/<metric>``), ``train_seconds``,
    ``eval_seconds``, ``improved``. Non-metric entries of the metric dicts
    (``num_users``, per-user tensors) are left out."""
    row: Dict[str, Any] = {"epoch": int(record["epoch"])}
    for key, value in record.items():
        if key not in _NOT_LOSSES and _is_number(value):
            row[key] = float(value)
    for split in ("valid", "test"):
        for key, value in metric_values(record.get(split)).items():
            row[f"{split}/{key}"] = value
    for key in ("train_seconds", "eval_seconds"):
        if key in record:
            row[key] = float(record[key])
    if "improved" in record:
        row["improved"] = int(bool(record["improved"]))
    return row


class CSVLogger(Callback):
    r"""Writes ``path`` as CSV, one row per epoch (see
    :func:`flatten_record` for the columns); after the fit, the selected
    epoch's test metrics go to ``path`` with the suffix ``_test.csv``
    replacing ``.csv`` (one row: ``best_epoch``, ``test/<metric>``).

    Every write replaces the file atomically, so a reader never sees half a
    row; a column that appears only in a later epoch widens the header (the
    earlier rows leave it empty).

    Args:
        path (str or Path): the CSV file.
    """

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = Path(path)
        self.rows: List[Dict[str, Any]] = []

    @property
    def test_path(self) -> Path:
        return self.path.with_name(self.path.stem + "_test.csv")

    def on_fit_start(self, trainer) -> None:
        history = list(getattr(trainer, "history", []) or [])
        if not self.rows and history:   # resumed without callback state
            self.rows = [flatten_record(r) for r in history]
        # a resumed run redoes the epochs after its checkpoint
        self.rows = self.rows[:len(history)] if history else []
        self._write()

    def on_epoch_end(self, trainer, epoch: int,
                     record: Dict[str, Any]) -> None:
        self.rows.append(flatten_record(record))
        self._write()

    def on_fit_end(self, trainer, results: Dict[str, Any]) -> None:
        row = {"best_epoch": results.get("best_epoch")}
        row.update({f"test/{k}": v for k, v in
                    metric_values(results.get("test")).items()})
        if is_main_process():
            atomic_write_text(self.test_path, _to_csv([row]))

    def _write(self) -> None:
        if is_main_process():  # under torchrun the run folder is rank 0's
            atomic_write_text(self.path, _to_csv(self.rows))

    def state_dict(self) -> Dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.rows = [dict(r) for r in state.get("rows", [])]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({str(self.path)!r})"


def _to_csv(rows: Sequence[Dict[str, Any]]) -> str:
    columns: List[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


class TensorBoardLogger(Callback):
    r"""Writes TensorBoard event files to ``log_dir``: per epoch the loss
    terms as ``loss/<term>``, the validation metrics as ``valid/<metric>``
    (and ``test/<metric>`` when evaluated), and ``time/train_seconds``,
    ``time/eval_seconds``, at step = epoch; after the fit, the selected
    epoch's test metrics as ``best/test/<metric>`` at step = best epoch.
    View with ``tensorboard --logdir <log_dir>``.

    Needs the ``tensorboard`` package (``pip install 'mmgraph[tensorboard]'``);
    it is checked when the logger is created, so a run never starts
    training to fail at its first epoch.

    Args:
        log_dir (str or Path): the event-file folder.
    """

    def __init__(self, log_dir: Union[str, Path]) -> None:
        self.log_dir = Path(log_dir)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise MissingExtraError("tensorboard", "tensorboard",
                                    "--log tensorboard") from None
        self._writer_cls = SummaryWriter
        self.writer = None

    def on_fit_start(self, trainer) -> None:
        if not is_main_process():  # under torchrun the run folder is rank 0's
            return
        done = len(getattr(trainer, "history", []) or [])
        # purge_step: TensorBoard drops earlier events at steps >= done,
        # i.e. the epochs an interrupted run trained after its checkpoint.
        self.writer = self._writer_cls(str(self.log_dir),
                                       purge_step=done if done else None)

    def on_epoch_end(self, trainer, epoch: int,
                     record: Dict[str, Any]) -> None:
        if not is_main_process():
            return
        if self.writer is None:
            self.on_fit_start(trainer)
        for key, value in flatten_record(record).items():
            if key in ("epoch", "improved"):
                continue
            tag = key if "/" in key else (
                f"time/{key}" if key.endswith("_seconds") else f"loss/{key}")
            self.writer.add_scalar(tag, value, epoch)
        self.writer.flush()

    def on_fit_end(self, trainer, results: Dict[str, Any]) -> None:
        if not is_main_process():
            return
        if self.writer is None:
            self.on_fit_start(trainer)
        step = int(results.get("best_epoch") or 0)
        for key, value in metric_values(results.get("test")).items():
            self.writer.add_scalar(f"best/test/{key}", value, step)
        self.writer.close()
        self.writer = None

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({str(self.log_dir)!r})"


#: ``--log`` names and the file or folder each writes inside a run folder.
LOGGERS = {"csv": (CSVLogger, "metrics.csv"),
           "tensorboard": (TensorBoardLogger, "tensorboard")}


def make_loggers(names: Union[str, Iterable[str], None],
                 run_dir: Union[str, Path]) -> List[Callback]:
    r"""The callbacks of ``--log NAME[,NAME]`` for a run folder
    (``csv`` -> ``run_dir/metrics.csv``, ``tensorboard`` ->
    ``run_dir/tensorboard/``)."""
    if names is None:
        return []
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    out = []
    for name in names:
        name = name.strip().lower()
        if name not in LOGGERS:
            raise MMGraphError(
                f"--log {name!r}: expected one of {', '.join(LOGGERS)}."
                f"{did_you_mean(name, LOGGERS)}")
        cls, file = LOGGERS[name]
        out.append(cls(Path(run_dir) / file))
    return out
