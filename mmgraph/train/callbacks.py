r"""Callbacks of the :class:`~mmgraph.train.Trainer`, in the style of
Lightning's ``Callback`` and Hugging Face's ``TrainerCallback``.

A callback watches the loop and may act on the trainer: mark the selected
(best) epoch (:meth:`~mmgraph.train.Trainer.mark_best`), ask it to stop
(``trainer.should_stop = True``, with ``trainer.stop_reason``), write files,
show progress. The trainer calls them in order::

    on_fit_start(trainer)
    for each epoch:
        on_epoch_start(trainer, epoch)
        ... one pass over trainer.batches(epoch), then validation ...
        on_epoch_end(trainer, epoch, record)   # record == trainer.history[-1]
    on_fit_end(trainer, results)               # after the one test evaluation

``record`` holds ``"epoch"``, the mean loss terms (``"loss"``, ...),
``"valid"`` (the validation metrics), ``"train_seconds"``,
``"eval_seconds"`` and ``"improved"`` (set by the selection callback, which
runs first).

Two roles have a default the trainer adds unless a given callback claims
the role (:attr:`Callback.role`): ``"selection"`` (:class:`BestValidScore`:
a strict improvement of ``valid_metric``) and ``"stopping"``
(:class:`EarlyStopping`: MMRec's patience rule). A callback with state
(counters) returns it from :meth:`~Callback.state_dict`; it is part of the
trainer's checkpoint, so a resumed run continues with it.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Dict, List, Optional

__all__ = ["Callback", "BestValidScore", "EarlyStopping", "ProgressBar",
           "plot_training_curve"]

log = logging.getLogger("mmgraph")


class Callback:
    r"""Base class of trainer callbacks; every hook is a no-op.

    Attributes:
        role (str, optional): ``"selection"`` or ``"stopping"`` when the
            callback replaces the trainer's default for that role.
    """
    role: Optional[str] = None

    def on_fit_start(self, trainer) -> None:
        r"""Before the first epoch (after the model is initialised)."""

    def on_epoch_start(self, trainer, epoch: int) -> None:
        r"""Before the pass over ``trainer.batches(epoch)``."""

    def on_epoch_end(self, trainer, epoch: int,
                     record: Dict[str, Any]) -> None:
        r"""After the epoch's validation; ``record`` is
        ``trainer.history[-1]``."""

    def on_fit_end(self, trainer, results: Dict[str, Any]) -> None:
        r"""After the test evaluation of the selected model; ``results`` may
        be extended in place."""

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


class BestValidScore(Callback):
    r"""Model selection on the validation split: an epoch is the new best
    when its ``valid_metric`` is **strictly** higher than the best so far
    (a tie keeps the earlier epoch, as MMRec)."""
    role = "selection"

    def on_epoch_end(self, trainer, epoch: int,
                     record: Dict[str, Any]) -> None:
        if record["valid"][trainer.config.valid_metric] > trainer.best_score:
            trainer.mark_best(record)


class EarlyStopping(Callback):
    r"""Stops once ``patience + 1`` consecutive epochs brought no improvement
    (MMRec's rule; an improvement is what the selection callback marks).

    Args:
        patience (int): epochs without improvement that are tolerated.
    """
    role = "stopping"

    def __init__(self, patience: int) -> None:
        self.patience = int(patience)
        self.bad_epochs = 0

    def on_epoch_start(self, trainer, epoch: int) -> None:
        # A run resumed from the state saved at its stopping epoch stops
        # here, as the uninterrupted run did.
        self._check(trainer)

    def on_epoch_end(self, trainer, epoch: int,
                     record: Dict[str, Any]) -> None:
        self.bad_epochs = 0 if record.get("improved") else self.bad_epochs + 1
        self._check(trainer)

    def _check(self, trainer) -> None:
        if self.bad_epochs > self.patience:
            trainer.should_stop = True
            trainer.stop_reason = "early_stopping"

    def state_dict(self) -> Dict[str, Any]:
        return {"bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.bad_epochs = int(state.get("bad_epochs", 0))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(patience={self.patience})"


class ProgressBar(Callback):
    r"""One progress bar over the epochs (tqdm); its postfix shows the loss,
    the current and the best validation score (with the best epoch), and
    in unlearning the forget set's score. Where no
    bar is shown (``enabled=False``, or no terminal), each epoch is one log
    line instead, so logs of unattended runs still show progress.

    Args:
        desc (str): the bar's label (default: ``"train"``).
        enabled (bool): show the bar (default: :obj:`True`).
    """

    def __init__(self, desc: str = "train", enabled: bool = True) -> None:
        self.desc = desc
        self.enabled = enabled
        self.bar = None

    def on_fit_start(self, trainer) -> None:
        if not self.enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm ships with PyG
            return
        start = max(trainer.start_epoch, 0)
        self.bar = tqdm(total=trainer.config.epochs, initial=start,
                        desc=self.desc, unit="epoch", leave=False,
                        disable=None, dynamic_ncols=True)

    def on_epoch_end(self, trainer, epoch: int,
                     record: Dict[str, Any]) -> None:
        m = trainer.config.valid_metric
        score = record["valid"][m]
        # unlearning's selection adds the forget set's score to the record
        forget = (record.get("forget") or {}).get(m)
        shown = self.bar is not None and not self.bar.disable
        log.log(logging.DEBUG if shown else logging.INFO,
                "epoch %3d  loss %.4f  valid %s %.4f%s%s", epoch,
                record.get("loss", math.nan), m, score,
                "" if forget is None else f"  forget {m} {forget:.4f}",
                "  *" if record.get("improved") else "")
        if not shown:
            return
        extra = {} if forget is None else {"forget": f"{forget:.4f}"}
        self.bar.set_postfix(loss=f"{record.get('loss', math.nan):.4f}",
                             valid=f"{score:.4f}", **extra,
                             best=f"{trainer.best_score:.4f}@"
                                  f"{trainer.best_epoch}", refresh=False)
        self.bar.update(1)

    def on_fit_end(self, trainer, results: Dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def plot_training_curve(history: List[Dict[str, Any]], valid_metric: str,
                        path) -> None:
    r"""Saves the training-loss and validation-metric curves of ``history``
    as a PNG at ``path`` (atomically; needs matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mmgraph.io import atomic_write_bytes
    from mmgraph.report import figure_png

    history = [h for h in history if "valid" in h]
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.plot(epochs, [h.get("loss", float("nan")) for h in history])
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax2.plot(epochs, [h["valid"][valid_metric] for h in history],
             label="valid")
    if history and "test" in history[0]:
        ax2.plot(epochs, [h["test"][valid_metric] for h in history],
                 label="test (not used for selection)", alpha=0.6)
    if history:
        best = max(range(len(history)),
                   key=lambda i: history[i]["valid"][valid_metric])
        ax2.axvline(epochs[best], color="grey", ls="--", lw=0.8)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel(valid_metric)
    ax2.legend()
    atomic_write_bytes(path, figure_png(fig))
