r"""The selection and stopping rule of unlearning (MMRecUn, AAAI 2025;
docs/unlearning.md), as callbacks of the :class:`~mmgraph.train.Trainer`.

After every epoch two scores of ``valid_metric`` are watched: the *forget*
score (forget edges as targets, retained items masked) and the *validation*
score (the retain dataset's validation pairs; for item requests without the
pairs of the forgotten items, which would reward remembering them). Epoch
``-1`` is the trained model on the retain graph; its validation score
:math:`v_0` is the reference. An epoch is *admissible* when its validation
score is at least :math:`(1 - \text{tol})\,v_0`.

**Target.** The forget score a model retrained on :math:`D_r` (gold) would
have, estimated without training it:

* ``'estimate'`` (the default of the ``'mmrecun'`` method). For user and
  item requests: the starting model's forget score with the forgotten
  users' (items') **own rows re-initialised**, averaged over three draws
  (:func:`~mmgraph.unlearn.metrics.fresh_rows_forget`): in a retrained
  model those rows never receive a gradient and stay at their
  initialisation, while the rest of the model is trained on nearly the
  same data. For interaction requests (the user stays, so its rows are
  trained) and whenever users and items are equally many (a table's side
  is then ambiguous): the starting model's score on **held-out validation
  interactions** of the users of the forgotten pairs (the forgotten users',
  the forgotten items'), ranked against every item with the *original*
  training interactions masked -- a forgotten pair is, to a retrained
  model, as unseen as these pairs are to the trained one. Without such
  pairs, :math:`v_0`. (The held-out estimate for user requests was 5x
  gold on amazon-beauty, the fresh-rows one within gold's draw spread.)
* ``'chance'`` (the ``'targeted'`` method's, this module's rule before the
  ``'mmrecun'`` method existed): :math:`v_0` for interaction requests, the
  chance level of recall@:math:`k`, :math:`k / I`, for user and item
  requests (known to over-forget: below what a retrained model scores;
  with another validation metric give a number).
* a number.

**Selection** (:class:`ForgetSelection`):

* ``'closest'`` (``'mmrecun'``): the admissible epoch (epoch ``-1``
  included) whose forget score is **closest to the target** (ties: higher
  validation); forgetting more than a retrained model would is itself a
  sign that the data was there. The selected score's distance below the
  target is reported as ``over_forgetting``.
* ``'lowest'`` (``'targeted'``): the admissible trained epoch with the
  lowest forget score (ties: higher validation); epoch ``-1`` is kept only
  when no trained epoch is admissible and forgets at least as well.
* ``'balanced'``: watches the membership-inference attack too
  (:mod:`mmgraph.unlearn.membership`: the forget pairs against the same
  users' *validation* pairs, so the test split stays unseen). To a model
  that never saw the forget set those are alike, so a retrained model's
  AUC is near 0.5. An epoch whose AUC is within ``mia_tolerance`` of 0.5
  is preferred, among those the one closest to the forget target; with
  none, the epoch whose AUC is nearest 0.5. Reverse BPR can push the
  forgotten pairs *below* unseen ones (an AUC well under 0.5, which gives
  them away as surely as remembering); this rule keeps the epoch before
  that.

**Stopping** (:class:`UnlearnStopping`): stop when the forget score reaches
the target in an admissible epoch (or already at epoch ``-1``: the rebuilt
graphs alone forgot, no step is taken); when the validation score falls
below the tolerance -- unless the forget term has a learning rate of its
own above the retain one (``'targeted'``): then return to the selected
state, divide the forget learning rate by 10 (not below the retain one)
and go on (a *back-off*); when the forget score has not improved by 1 %
for ``config.patience`` epochs (a plateau); or after ``config.epochs``.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Dict, Optional, Union

from torch import Tensor

from mmgraph.evaluation import Evaluator
from mmgraph.train.callbacks import Callback
from mmgraph.train.utils import adam
from mmgraph.unlearn.membership import membership_auc
from mmgraph.unlearn.metrics import all_items_view, fresh_rows_forget

__all__ = ["ForgetSelection", "UnlearnStopping", "FORGET_TERM",
           "SELECTIONS", "TARGETS"]

log = logging.getLogger("mmgraph")

#: The output of the unlearning objective stepped by the forget optimiser.
FORGET_TERM = "weighted_forget"
#: Selection rules: the epoch closest to the target, the lowest forget, or
#: the closest to the target among those the attack cannot tell apart.
SELECTIONS = ("closest", "lowest", "balanced")
#: Named forget targets (besides a number).
TARGETS = ("estimate", "chance")


class ForgetSelection(Callback):
    r"""Evaluates the forget set with each validation (one embeddings pass)
    and selects an admissible epoch by ``rule`` (see the module docstring).

    At the start of the fit it evaluates the unlearning's starting point as
    epoch ``-1`` (appended to the history, selected as the fallback) and,
    when given, the reference pairs of the ``'estimate'`` target
    (:attr:`reference`).

    Args:
        forget_edge_index (Tensor): :math:`D_f`, ``[2, E_f]``.
        valid_tolerance (float): admissible relative validation drop
            (default: ``0.05``).
        rule (str): ``'closest'`` (to :attr:`target`, set by
            :class:`UnlearnStopping`), ``'lowest'`` (default) or
            ``'balanced'`` (closest to the target among the epochs whose
            membership-inference AUC is within 0.05 of 0.5; needs
            ``mia_nonmembers``).
        reference_edge_index (Tensor, optional): held-out pairs whose score
            at epoch ``-1`` estimates the gold forget score.
        reference_mask_edge_index (Tensor, optional): pairs masked when
            ranking them (the original training interactions).
        fresh_rows (tuple, optional): ``(kind, ids, num_users, num_items)``
            of a user or item request: the estimate is then the forget
            score with those rows re-initialised
            (:func:`~mmgraph.unlearn.metrics.fresh_rows_forget`), not the
            reference pairs' score.
        mia_nonmembers (Tensor, optional): the ``'balanced'`` rule's
            non-member pairs (the forget users' validation pairs).
        mia_mask_edge_index (Tensor, optional): pairs left out of the
            attack's candidates (the retained training set).
        mia_tolerance (float): the ``'balanced'`` rule's admissible
            :math:`|\mathrm{AUC} - 0.5|` (default: ``0.05``).
    """
    role = "selection"

    def __init__(self, forget_edge_index: Tensor,
                 valid_tolerance: float = 0.05, rule: str = "lowest",
                 reference_edge_index: Optional[Tensor] = None,
                 reference_mask_edge_index: Optional[Tensor] = None,
                 fresh_rows: Optional[tuple] = None,
                 mia_nonmembers: Optional[Tensor] = None,
                 mia_mask_edge_index: Optional[Tensor] = None,
                 mia_tolerance: float = 0.05) -> None:
        if rule not in SELECTIONS:
            raise ValueError(f"{self.__class__.__name__}: rule must be one of "
                             f"{SELECTIONS}, got {rule!r}")
        if rule == "balanced" and (mia_nonmembers is None or
                                   mia_nonmembers.size(1) == 0):
            raise ValueError(f"{self.__class__.__name__}: the 'balanced' rule "
                             f"needs non-member pairs (the forget users' "
                             f"validation interactions); this request has "
                             f"none")
        self.mia_nonmembers = mia_nonmembers
        self.mia_mask_edge_index = mia_mask_edge_index
        self.mia_tolerance = float(mia_tolerance)
        self._best_key: tuple = (2, float("inf"))
        self.forget_edge_index = forget_edge_index.long().cpu()
        self.valid_tolerance = float(valid_tolerance)
        self.rule = rule
        self.reference_edge_index = reference_edge_index
        self.reference_mask_edge_index = reference_mask_edge_index
        self.fresh_rows = fresh_rows
        self.evaluator: Optional[Evaluator] = None
        self.start_valid = float("nan")
        self.best_forget: Dict[str, float] = {}
        #: The starting model's scores on the reference pairs (``{}``: none).
        self.reference: Dict[str, float] = {}
        #: The forget target the ``'closest'`` rule aims at.
        self.target = float("nan")
        self.admissible = True

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(forget="
                f"{self.forget_edge_index.size(1)}, valid_tolerance="
                f"{self.valid_tolerance}, rule={self.rule!r})")

    def _forget(self, trainer) -> Dict[str, float]:
        # The forget evaluator sees removed items, to measure what is still
        # remembered about them.
        out = self.evaluator.evaluate(trainer.model, self.forget_edge_index,
                                      embeddings=trainer.valid_embeddings)
        if self.rule == "balanced":
            out["mia_auc"] = membership_auc(
                trainer.model, self.forget_edge_index, self.mia_nonmembers,
                self.mia_mask_edge_index,
                embeddings=trainer.valid_embeddings,
                batch_size=trainer.config.eval_batch_size)
        return out

    def _balanced_key(self, forget: Dict[str, float], metric: str) -> tuple:
        # (outside the attack tolerance?, then the distance that decides)
        gap = abs(forget["mia_auc"] - 0.5)
        if gap <= self.mia_tolerance:
            return (0, abs(forget[metric] - self.target))
        return (1, gap)

    def on_fit_start(self, trainer) -> None:
        c = trainer.config
        self.evaluator = Evaluator(all_items_view(trainer.dataset), c.metrics,
                                   c.topk, c.eval_batch_size)
        t0 = time.perf_counter()
        valid = trainer.validate()
        forget = self._forget(trainer)
        if self.fresh_rows is not None:
            self.reference = fresh_rows_forget(
                trainer.model, self.evaluator, self.forget_edge_index,
                *self.fresh_rows, seed=trainer.config.seed)
        elif self.reference_edge_index is not None and \
                self.reference_edge_index.size(1):
            self.reference = self.evaluator.evaluate(
                trainer.model, self.reference_edge_index,
                mask_edge_index=self.reference_mask_edge_index,
                embeddings=trainer.valid_embeddings)
        trainer.valid_embeddings = None
        record = {"epoch": -1, "valid": valid, "forget": forget,
                  "train_seconds": 0.0,
                  "eval_seconds": time.perf_counter() - t0}
        trainer.history.append(record)
        self.start_valid = valid[c.valid_metric]
        self.best_forget = forget
        self._best_key = (2, float("inf"))  # the target is not set yet
        trainer.mark_best(record)

    def on_epoch_end(self, trainer, epoch: int,
                     record: Dict[str, Any]) -> None:
        m = trainer.config.valid_metric
        t0 = time.perf_counter()
        forget = self._forget(trainer)
        record["forget"] = forget
        record["eval_seconds"] += time.perf_counter() - t0
        f, v = forget[m], record["valid"][m]
        self.admissible = v >= (1.0 - self.valid_tolerance) * self.start_valid
        if self.rule == "balanced":
            if self._best_key[0] == 2:  # epoch -1, now that the target is set
                self._best_key = self._balanced_key(self.best_forget, m)
            key = self._balanced_key(forget, m)
            better = key < self._best_key or (key == self._best_key and
                                              v > trainer.best_score)
        elif self.rule == "closest":
            gap, best_gap = abs(f - self.target), \
                abs(self.best_forget[m] - self.target)
            better = gap < best_gap or (gap == best_gap and
                                        v > trainer.best_score)
        else:
            # Epoch -1 (no reverse step) is only the fallback: any
            # admissible trained epoch that forgets at least as well
            # replaces it.
            better = f < self.best_forget[m] or (
                f == self.best_forget[m] and
                (trainer.best_epoch < 0 or v > trainer.best_score))
        if self.admissible and better:
            trainer.mark_best(record)
            self.best_forget = forget
            if self.rule == "balanced":
                self._best_key = key
        log.debug("unlearn epoch %2d  loss %.4f  forget %s %.4f  valid %s "
                  "%.4f%s", epoch, record.get("loss", float("nan")), m, f, m,
                  v, "  *" if record.get("improved") else "")


class UnlearnStopping(Callback):
    r"""The stopping rule of unlearning, with the forget learning rate and
    its back-off (see the module docstring).

    Args:
        selection (ForgetSelection): the selection callback it reads.
        target_forget (float or str): forget score at which to stop, or
            ``'estimate'`` / ``'chance'`` (see the module docstring;
            ``'auto'``, the default, is ``'chance'``).
        request_kind (str): ``'users'``, ``'items'`` or ``'interactions'``
            (for the ``'chance'`` target).
        forget_learning_rate (float, optional): the forget term's own Adam
            learning rate (:obj:`None` or the run's rate: one optimiser for
            the summed loss).
    """
    role = "stopping"

    def __init__(self, selection: ForgetSelection,
                 target_forget: Union[float, str] = "auto",
                 request_kind: str = "interactions",
                 forget_learning_rate: Optional[float] = None) -> None:
        if target_forget == "auto":
            target_forget = "chance"
        if isinstance(target_forget, str) and target_forget not in TARGETS:
            raise ValueError(f"{self.__class__.__name__}: target_forget must "
                             f"be a number or one of {TARGETS}, got "
                             f"{target_forget!r}")
        self.selection = selection
        self.target_forget = target_forget if isinstance(target_forget, str) \
            else float(target_forget)
        self.request_kind = request_kind
        self.initial_forget_learning_rate = forget_learning_rate
        self.forget_learning_rate: Optional[float] = None
        self.target = float("nan")
        self.backoffs = 0
        self._bad = 0
        self._best_f = float("inf")

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(target_forget="
                f"{self.target_forget!r}, forget_learning_rate="
                f"{self.initial_forget_learning_rate})")

    def _set_forget_optimizer(self, trainer, lr: Optional[float]) -> None:
        base = trainer.config.learning_rate
        if lr is None or float(lr) <= base * (1 + 1e-9) and \
                float(lr) >= base * (1 - 1e-9):
            lr = None
        self.forget_learning_rate = None if lr is None else float(lr)
        if lr is None:
            trainer.term_optimizers.pop(FORGET_TERM, None)
        else:
            params = [p for p in trainer.model.parameters()
                      if p.requires_grad]
            trainer.term_optimizers[FORGET_TERM] = adam(params, lr=float(lr))

    def _stop(self, trainer, reason: str) -> None:
        trainer.should_stop = True
        trainer.stop_reason = reason

    def on_fit_start(self, trainer) -> None:
        c, m = trainer.config, trainer.config.valid_metric
        self._set_forget_optimizer(trainer, self.initial_forget_learning_rate)
        v0 = self.selection.start_valid
        if isinstance(self.target_forget, float):
            self.target = self.target_forget
        elif self.target_forget == "estimate":
            self.target = float(self.selection.reference.get(m, v0))
        elif self.request_kind == "interactions":
            self.target = float(v0)
        else:
            self.target = int(m.split("@")[1]) / trainer.dataset.num_items
        self.selection.target = self.target
        f0 = self.selection.best_forget[m]
        # epoch -1: the trained model on the graphs rebuilt without D_f
        log.info("unlearn: start (rebuilt graphs)  forget %s %.4f  valid %s "
                 "%.4f  (target forget %.4f)", m, f0, m, v0, self.target)
        self._bad, self._best_f = 0, f0
        trainer.stop_reason = f"max epochs ({c.epochs})"
        if f0 <= self.target:
            # The starting point (rebuilt graphs, re-initialised rows if
            # asked) already forgot: a reverse step could only cost
            # retained quality.
            self._stop(trainer, f"forget {m} reached the target before any "
                                f"step")

    def on_epoch_end(self, trainer, epoch: int,
                     record: Dict[str, Any]) -> None:
        c, m = trainer.config, trainer.config.valid_metric
        f = record["forget"][m]
        if not self.selection.admissible:
            if self._back_off(trainer):
                self._bad, self._best_f = 0, self.selection.best_forget[m]
                record["backoff"] = self.forget_learning_rate or \
                    c.learning_rate
                return
            self._stop(trainer, f"validation {m} fell below "
                                f"{1 - self.selection.valid_tolerance:.2f} x "
                                f"start")
            return
        if f <= self.target:
            self._stop(trainer, f"forget {m} reached the target")
            return
        if f < self._best_f - max(1e-4, 0.01 * self._best_f):
            self._bad, self._best_f = 0, f
        else:
            self._bad += 1
            if self._bad >= c.patience:
                self._stop(trainer, f"forget {m} plateaued for "
                                    f"{c.patience} epoch(s)")

    def _back_off(self, trainer) -> bool:
        r"""Returns to the selected state with a 10x lower forget learning
        rate (not below the retain one) and fresh optimisers; :obj:`False`
        when there is nothing left to lower."""
        lr = trainer.config.learning_rate
        if self.forget_learning_rate is None or not trainer.has_best():
            return False
        new = max(self.forget_learning_rate / 10.0, lr)
        trainer.restore_best()
        trainer.configure_optimizers()
        self._set_forget_optimizer(trainer, new)
        log.info("unlearn: validation fell; back to epoch %d with forget "
                 "learning rate %g", trainer.best_epoch, new)
        self.backoffs += 1
        return True

    def state_dict(self) -> Dict[str, Any]:
        return {"bad": self._bad, "best_f": self._best_f,
                "backoffs": self.backoffs, "target": self.target,
                "forget_learning_rate": self.forget_learning_rate}
