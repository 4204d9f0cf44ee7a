r"""Machine unlearning: MMRecUn's reverse-BPR loop, from `"Multi-Modal
Recommendation Unlearning" <https://arxiv.org/abs/2405.15328>`_ (Sinha,
Mandal and Kankanhalli, AAAI 2025).

A trained model is asked to forget marked training data :math:`D_f` -- all
interactions of some **users**, all interactions with some **items**
(licence revoked, legal take-down) or given **interactions** -- while
keeping its quality on the retained data :math:`D_r = D \setminus D_f`:

1. :class:`ForgetRequest` turns a request (a file of ids / pairs, or a
   seeded random fraction) into :math:`D_f` and :math:`D_r`, and builds the
   *retain dataset* (``dataset.with_train_edges(D_r)``). An item request can
   also take the items out of the catalogue (their scores are masked from
   every ranking) and, for the paper's "modality constraints", zero their
   feature rows: every copy the model holds is replaced
   (:meth:`~mmgraph.models.Recommender.on_features_change`: input buffers,
   trainable feature tables, LIRDRec's DCT) and the kNN item graphs are
   rebuilt without their content.
2. Everything the model derives from the interactions is rebuilt from
   :math:`D_r` (:meth:`~mmgraph.models.Recommender.on_train_graph_change`):
   a forgotten edge never propagates again.
3. The unchanged :class:`~mmgraph.train.Trainer` minimises the
   method's weighting of the reverse-BPR forget term :math:`\mathcal{L}_f`,
   the retain term :math:`\mathcal{L}_r` and the model's own terms (below;
   :class:`~mmgraph.train.objectives.reverse_bpr.UnlearnObjective`)
   from the trained weights, fed by the batch source
   :class:`~mmgraph.unlearn.batches.UnlearnBatches` (one epoch is one pass
   over :math:`D_f` with retain batches drawn in parallel), and stops by
   the rule of :mod:`mmgraph.unlearn.callbacks`, which watches the forget
   set and the validation set. Being the shared loop, it is data-parallel
   under ``torchrun`` like training.

Two methods (``method=``):

* ``'mmrecun'`` (default) -- the published method as mmgraph reads it:
  reverse BPR on :math:`D_f` and BPR on :math:`D_r` (for a model trained
  with its own loss, BM3 and CM3 by default, that loss on :math:`D_r`:
  ``retain_loss``), both sides of every score moving, **one** Adam
  optimiser at the run's learning rate, the objective exactly
  :math:`\alpha\,\mathcal{L}_f + (1 - \alpha)\,(\mathcal{L}_r +
  \text{model terms})` (the model's regulariser and auxiliary losses,
  computed on the retain rows, belong to the retain side; the paper gives
  no other weighting of them). Stopping aims at the ``'estimate'`` target
  and selects the admissible epoch whose forget score is closest to it
  (:mod:`mmgraph.unlearn.callbacks`).
* ``'targeted'`` -- mmgraph's earlier variant, kept named and unchanged:
  ``forget_side`` ``'user'`` / ``'item'`` for user / item requests (the
  forget term moves only the forgotten users' / items' *own* embedding
  rows, other sides detached -- parts shared by all items or users, e.g.
  BM3's predictor or the item MLPs of CM3 / LIRDRec, still move), the
  forget term stepped by its own Adam optimiser at 10x the learning rate
  for user / item requests, backed off by 10x when an epoch breaks the
  validation tolerance, the model terms added unscaled, the ``'chance'``
  target and the lowest-forget selection. Because Adam is invariant to a
  constant scale of its loss, :math:`\alpha` does not change the steps of
  the separate forget optimiser: under ``'targeted'``, :math:`\alpha`
  only matters where forget and retain gradients share an optimiser
  (interaction requests).

What the paper states is followed in both: reverse BPR on :math:`D_f` plus
forward BPR on :math:`D_r`, from the trained model, no data partitioning,
user and item requests, gold = retraining on :math:`D_r`. Interaction-level
requests, the stopping rule and its target are mmgraph's additions
(docs/unlearning.md).

:class:`Unlearner` (:mod:`mmgraph.unlearn.api`) is the one-call API;
:func:`unlearning_metrics` is the protocol that compares the original,
unlearned, gold (retrained on :math:`D_r`) and fine-tuned models;
:func:`~mmgraph.unlearn.membership.membership_auc` the membership-inference
check; :meth:`~mmgraph.runs.RunFolder.apply_requests` rebuilds the retain
dataset of an unlearned run folder (used by :func:`~mmgraph.runs.load_run`).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Dict, Optional, Sequence, Union

import torch
from torch import Tensor

from mmgraph.config import TrainConfig
from mmgraph.distributed import cpu_seconds_all_ranks
from mmgraph.train.callbacks import Callback
from mmgraph.train.objectives.base import resolve_objective_name
from mmgraph.train.objectives.reverse_bpr import (RETAIN_LOSSES,
                                                  UnlearnObjective)
from mmgraph.train.trainer import Trainer
from mmgraph.unlearn.batches import UnlearnBatches
from mmgraph.unlearn.callbacks import (SELECTIONS, TARGETS, ForgetSelection,
                                      UnlearnStopping)
from mmgraph.unlearn.membership import nonmember_edges
from mmgraph.unlearn.request import ForgetRequest
from mmgraph.unlearn.metrics import reinitialize_rows

__all__ = ["Unlearner", "METHODS"]

#: Unlearning methods (see the module docstring).
METHODS = ("mmrecun", "targeted")

log = logging.getLogger("mmgraph")


class _Summary(Callback):
    r"""Adds the unlearning summary and the end-to-end time to the results
    (before the run folder writes them)."""

    def __init__(self, unlearner: "Unlearner", selection: ForgetSelection,
                 stopping: UnlearnStopping, source: UnlearnBatches,
                 start: float, cpu: float) -> None:
        self.unlearner, self.selection, self.stopping = unlearner, \
            selection, stopping
        self.source, self.start, self.cpu = source, start, cpu

    def on_fit_end(self, trainer, results: Dict[str, Any]) -> None:
        u, c = self.unlearner, trainer.config
        m = c.valid_metric
        over = max(0.0, self.stopping.target -
                   self.selection.best_forget.get(m, float("inf")))
        results["unlearn"] = {
            **results.get("unlearn", {}),
            "method": u.method, "alpha": u.alpha,
            "stop_reason": trainer.stop_reason,
            "target_forget": self.stopping.target,
            "target_rule": self.stopping.target_forget,
            "selection": self.selection.rule,
            "reference": self.selection.reference,
            "target_estimate": None if self.stopping.target_forget !=
            "estimate" else "fresh_rows" if self.selection.fresh_rows
            else "held_out_pairs",
            "over_forgetting": over,
            "start_valid": self.selection.start_valid,
            "forget": self.selection.best_forget,
            "forget_edges": int(u.forget_edge_index.size(1)),
            "retain_edges": int(trainer.dataset.train_edge_index.size(1)),
            "retain_batch_size": self.source.retain_batch_size,
            "min_steps": self.source.min_steps,
            "backoffs": self.stopping.backoffs,
            "final_forget_learning_rate":
                self.stopping.forget_learning_rate or c.learning_rate,
            "valid_tolerance": self.selection.valid_tolerance}
        log.info("unlearn: %s; selected epoch %d", trainer.stop_reason,
                 trainer.best_epoch)
        results["wall_seconds"] = time.perf_counter() - self.start
        results["cpu_seconds"] = cpu_seconds_all_ranks(
            time.process_time() - self.cpu)


class Unlearner:
    r"""MMRecUn on any registered model: forget a :class:`ForgetRequest`
    from a trained model, in place.

    :meth:`fit` builds the retain dataset, rebuilds the model's graphs on it
    (:meth:`~mmgraph.models.Recommender.on_train_graph_change`) and runs the
    :class:`~mmgraph.train.Trainer` with the unlearning batch source and
    callbacks. The whole call is timed (``results
    ['wall_seconds']``): compare it with the gold model's training.

    Example::

        request = ForgetRequest.random("users", 0.05, dataset, seed=0)
        unlearner = Unlearner(model, dataset, request, config=train_cfg)
        results = unlearner.fit()
        retain_dataset = unlearner.retain_dataset

    Args:
        model: the trained model (graphs built on ``dataset``).
        dataset: the dataset it was trained on.
        request (ForgetRequest): what to forget.
        config (TrainConfig or dict, optional): the model's training config
            (learning rate, batch size, negatives, metrics); the fields
            below override it for the loop.
        method (str): ``'mmrecun'`` (default) or ``'targeted'`` (see the
            module docstring); it sets the defaults of the ``'auto'``
            options below.
        alpha (float): weight of the reverse-BPR term (default: ``0.5``).
        epochs (int): max epochs over the forget set (default: ``10``).
        learning_rate (float, optional): Adam's learning rate (default:
            :obj:`None`, the run's: the loop continues its training). The
            run's learning-rate schedule and ``lr_scaling`` do not apply:
            the rate is constant, and under ``torchrun`` each batch is
            split over the ranks, so the steps are those of one process.
        forget_learning_rate (float or str, optional): the forget term's
            own learning rate (a second Adam optimiser); ``'auto'``
            (default): ``'mmrecun'``: :obj:`None`; ``'targeted'``: 10x
            ``learning_rate`` for user and item requests, whose forget term
            moves only the forgotten users' / items' own representations,
            and ``learning_rate`` for interaction requests (tuned on
            amazon-beauty with LightGCN); :obj:`None` = ``learning_rate``
            (one optimiser for the whole objective).
        batch_size (int, optional): forget pairs per step (default: ``128``;
            :obj:`None` = the config's).
        retain_batch_size (int, optional): retain pairs per step (default:
            ``1024``; :obj:`None` = ``batch_size``).
        patience (int): plateau epochs (default: ``3``).
        valid_tolerance (float): admissible relative validation drop
            (default: ``0.05``).
        target_forget (float or str): ``'estimate'``, ``'chance'`` or a
            number, see :mod:`mmgraph.unlearn.callbacks` (default:
            ``'auto'``: ``'estimate'`` for ``'mmrecun'``, ``'chance'`` for
            ``'targeted'``).
        selection (str): ``'closest'`` (to the target), ``'lowest'`` or
            ``'balanced'`` (closest to the target among the epochs whose
            membership-inference AUC is within 0.05 of 0.5; see
            :mod:`mmgraph.unlearn.callbacks`) (default: ``'auto'``:
            ``'closest'`` for ``'mmrecun'``, ``'lowest'`` for
            ``'targeted'``).
        forget_loss (str): ``'reverse_bpr'`` (default) or ``'ascent'``.
        retain_loss (str): the retain term, ``'bpr'`` or ``'native'`` (see
            :class:`~mmgraph.train.objectives.reverse_bpr.UnlearnObjective`);
            ``'auto'`` (default): the loss the model was trained with
            (``config.objective``): ``'native'`` for a run on the model's
            own loss (BM3, CM3 by default), ``'bpr'`` otherwise (BPR runs,
            and point-wise objectives, whose own parameters the loop does
            not restore). Fine-tuning (``alpha=0``) is then the training
            loss on :math:`D_r`.
        forget_side (str): which representations the forget term moves:
            ``'auto'`` (default: ``'both'`` for ``'mmrecun'``; for
            ``'targeted'`` ``'user'`` for user requests -- the forgotten
            users are isolated in the rebuilt graph, so only their own
            embedding rows move --, ``'item'`` for item requests,
            ``'both'`` for interactions), or ``'both'`` / ``'user'`` /
            ``'item'``.
        seed (int): seed of the loop (default: ``0``).
        reinit_rows (bool): for user and item requests, first give the
            forgotten users' (items') own rows a fresh initialisation
            (:func:`~mmgraph.unlearn.metrics.reinitialize_rows`, seeded by
            ``seed``) -- what a retrained model holds in them -- then run
            the method from there (default: :obj:`False`, the published
            method). An mmgraph addition, not in the MMRecUn paper.
        min_steps (int): the fewest steps of an epoch over the forget set
            (default: ``10``).
        retain_dataset (RecDataset, optional): ``request.apply(dataset)``
            when the caller has built it already (default: built by
            :meth:`fit`).
        epoch_offset (int): added to the epoch passed to
            ``model.on_epoch_start`` (the trained model's epoch count).
        extra_results (dict, optional): stored in the results.
        callbacks (sequence of Callback): more trainer callbacks, e.g. a run
            folder's (:meth:`~mmgraph.runs.RunFolder.callbacks`; the request
            record is written by :func:`~mmgraph.runs.unlearn_run`).
        previous_requests (list, optional): requests already applied to
            ``dataset`` (recorded before this one, so a chain of unlearning
            runs reloads).
        show_progress (bool): a progress bar (default: :obj:`True`).
    """

    def __init__(self, model, dataset, request: ForgetRequest,
                 config: Union[TrainConfig, Dict[str, Any], None] = None,
                 method: str = "mmrecun",
                 alpha: float = 0.5, epochs: int = 10,
                 learning_rate: Optional[float] = None,
                 forget_learning_rate: Union[float, str, None] = "auto",
                 batch_size: Optional[int] = 128,
                 retain_batch_size: Optional[int] = 1024, patience: int = 3,
                 valid_tolerance: float = 0.05,
                 target_forget: Union[float, str] = "auto",
                 selection: str = "auto",
                 forget_loss: str = "reverse_bpr",
                 retain_loss: str = "auto", forget_side: str = "auto",
                 seed: int = 0, min_steps: int = 10, epoch_offset: int = 0,
                 reinit_rows: bool = False,
                 retain_dataset=None,
                 extra_results: Optional[Dict[str, Any]] = None,
                 previous_requests: Optional[Sequence[ForgetRequest]] = None,
                 callbacks: Sequence[Callback] = (),
                 show_progress: bool = True) -> None:
        if method not in METHODS:
            raise ValueError(f"{self.__class__.__name__}: method must be one "
                             f"of {METHODS}, got {method!r}")
        self.method = method
        targeted = method == "targeted"
        if config is None:
            config = TrainConfig()
        elif isinstance(config, dict):
            config = TrainConfig(**config)
        # The run's base learning rate, unscheduled; each batch is split
        # over the ranks under torchrun, so the steps are one process's and
        # a world-size scaling of the rate would change them.
        overrides = {"epochs": int(epochs), "patience": int(patience),
                     "seed": int(seed), "objective": "unlearn",
                     "lr_scheduler": None, "lr_scheduler_params": {},
                     "lr_scaling": "none"}
        if learning_rate is not None:
            overrides["learning_rate"] = float(learning_rate)
        if batch_size is not None:
            overrides["batch_size"] = int(batch_size)
        if retain_loss == "auto":
            retain_loss = "native" if resolve_objective_name(
                model, config.objective) == "native" else "bpr"
        if retain_loss not in RETAIN_LOSSES:
            raise ValueError(f"{self.__class__.__name__}: retain_loss must "
                             f"be 'auto' or one of {RETAIN_LOSSES}, got "
                             f"{retain_loss!r}")
        self.retain_loss = retain_loss
        self.config = TrainConfig(**{**config.to_dict(), **overrides})
        if forget_learning_rate == "auto":
            forget_learning_rate = None if not targeted else \
                self.config.learning_rate * (
                    1.0 if request.kind == "interactions" else 10.0)
        self.forget_learning_rate = self.config.learning_rate \
            if forget_learning_rate is None else float(forget_learning_rate)
        self.model, self.dataset, self.request = model, dataset, request
        self.alpha, self.forget_loss = float(alpha), forget_loss
        if forget_side == "auto":
            forget_side = "both" if not targeted else \
                {"users": "user", "items": "item"}.get(request.kind, "both")
        self.forget_side = forget_side
        self.retain_batch_size = int(retain_batch_size or
                                     self.config.batch_size)
        if target_forget == "auto":
            target_forget = "chance" if targeted else "estimate"
        if isinstance(target_forget, str) and target_forget not in TARGETS:
            raise ValueError(f"{self.__class__.__name__}: target_forget must "
                             f"be a number, 'auto' or one of {TARGETS}, got "
                             f"{target_forget!r}")
        if selection == "auto":
            selection = "lowest" if targeted else "closest"
        if selection not in SELECTIONS:
            raise ValueError(f"{self.__class__.__name__}: selection must be "
                             f"'auto' or one of {SELECTIONS}, got "
                             f"{selection!r}")
        self.selection = selection
        self.valid_tolerance, self.target_forget = valid_tolerance, \
            target_forget
        self.epoch_offset = int(epoch_offset)
        if reinit_rows and request.kind == "interactions":
            raise ValueError(f"{self.__class__.__name__}: reinit_rows applies "
                             f"to user and item requests (an interaction's "
                             f"user and item keep their other data)")
        if reinit_rows and dataset.num_users == dataset.num_items:
            raise ValueError(f"{self.__class__.__name__}: reinit_rows needs "
                             f"different numbers of users and items (a "
                             f"table's rows tell its side by its length)")
        self.reinit_rows = bool(reinit_rows)
        self.min_steps = int(min_steps)
        self.extra_results = dict(extra_results or {})
        self.requests = list(previous_requests or []) + [request]
        self.callbacks = list(callbacks)
        self.show_progress = show_progress
        self.given_retain_dataset = retain_dataset
        self.retain_dataset = None
        self.forget_edge_index: Optional[Tensor] = None
        self.trainer: Optional[Trainer] = None
        self.stopping: Optional[UnlearnStopping] = None

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.model.__class__.__name__}, "
                f"{self.request!r}, method={self.method!r}, "
                f"alpha={self.alpha}, retain_loss={self.retain_loss!r}, "
                f"epochs={self.config.epochs})")

    def reference_edge_index(self) -> Tensor:
        r"""The held-out pairs of the ``'estimate'`` target: the original
        dataset's validation pairs of the forgotten users (user requests),
        of the forgotten items (item requests) or of the users of the
        forgotten pairs (interaction requests)."""
        valid = self.dataset.valid_edge_index
        if self.request.kind == "users":
            keep = torch.isin(valid[0], self.request.ids)
        elif self.request.kind == "items":
            keep = torch.isin(valid[1], self.request.ids)
        else:
            keep = torch.isin(valid[0], torch.unique(self.request.ids[0]))
        return valid[:, keep]

    def fresh_rows(self) -> Optional[tuple]:
        r"""``(kind, ids, num_users, num_items)`` when the ``'estimate'``
        target re-initialises the request's own rows (user and item
        requests; see :mod:`mmgraph.unlearn.callbacks`), else
        :obj:`None` (the held-out pairs' estimate)."""
        ds = self.dataset
        if self.target_forget != "estimate" or \
                self.request.kind == "interactions" or \
                ds.num_users == ds.num_items:
            return None
        return (self.request.kind, self.request.ids, ds.num_users,
                ds.num_items)

    def fit(self) -> Dict[str, Any]:
        r"""Unlearns; returns the results dict (the trainer's, with an
        ``'unlearn'`` summary and the end-to-end ``wall_seconds`` /
        ``cpu_seconds``)."""
        start, cpu = time.perf_counter(), time.process_time()
        forget, retain = self.request.split(self.dataset)
        retain_ds = self.given_retain_dataset
        if retain_ds is None:
            retain_ds = self.request.apply(self.dataset)
        elif retain_ds.train_edge_index.size(1) != retain.size(1):
            raise ValueError(f"{self.__class__.__name__}: retain_dataset has "
                             f"{retain_ds.train_edge_index.size(1)} training "
                             f"interactions, the request leaves "
                             f"{retain.size(1)}")
        self.forget_edge_index, self.retain_dataset = forget, retain_ds
        if self.request.zero_features:
            # Every copy of the features the model holds, then the graphs.
            self.model.on_features_change(retain_ds)
        else:
            self.model.on_train_graph_change(retain_ds)
        reinitialized: list = []
        if self.reinit_rows:
            reinitialized = reinitialize_rows(
                self.model, self.request.kind, self.request.ids,
                self.dataset.num_users, self.dataset.num_items,
                seed=self.config.seed)
        extra = dict(self.extra_results)
        extra["unlearn"] = {"method": self.method,
                            "request": {k: v for k, v in
                                        self.request.to_dict().items()
                                        if k != "ids"},
                            "num_ids": len(self.request),
                            "forget_loss": self.forget_loss,
                            "retain_loss": self.retain_loss,
                            "forget_side": self.forget_side,
                            "reinit_rows": reinitialized,
                            "learning_rate": self.config.learning_rate,
                            "forget_learning_rate":
                                self.forget_learning_rate,
                            "batch_size": self.config.batch_size,
                            "epochs": self.config.epochs,
                            "patience": self.config.patience}
        c = self.config
        objective = UnlearnObjective(self.model, retain_ds, alpha=self.alpha,
                                     forget_loss=self.forget_loss,
                                     forget_side=self.forget_side,
                                     scale_model_terms=self.method ==
                                     "mmrecun",
                                     retain_loss=self.retain_loss)
        source = UnlearnBatches(
            forget, self.dataset.train_edge_index, retain_ds.num_users,
            retain_ds.num_items, self.retain_batch_size, self.min_steps,
            with_forget=self.alpha > 0, with_retain=self.alpha < 1,
            neg_candidates=c.neg_candidates)
        valid = retain_ds.valid_edge_index
        if self.request.kind == "items" and self.request.ids.numel():
            # The stopping rule ignores the validation pairs of forgotten
            # items: they would reward remembering them.
            valid = valid[:, ~torch.isin(valid[1], self.request.ids)]
        fresh_rows = self.fresh_rows()
        selection = ForgetSelection(
            forget, self.valid_tolerance, self.selection,
            reference_edge_index=self.reference_edge_index()
            if self.target_forget == "estimate" and fresh_rows is None
            else None,
            reference_mask_edge_index=self.dataset.train_edge_index,
            fresh_rows=fresh_rows,
            mia_nonmembers=nonmember_edges(self.dataset, forget[0], "valid")
            if self.selection == "balanced" else None,
            mia_mask_edge_index=retain_ds.train_edge_index)
        self.stopping = UnlearnStopping(
            selection, self.target_forget, self.request.kind,
            self.forget_learning_rate)
        summary = _Summary(self, selection, self.stopping, source, start,
                           cpu)
        self.trainer = Trainer(
            self.model, retain_ds, c, objective=objective,
            callbacks=[selection, self.stopping, summary, *self.callbacks],
            batches=source, valid_edge_index=valid, reset_parameters=False,
            epoch_offset=self.epoch_offset, extra_results=extra,
            show_progress=self.show_progress)
        if self.trainer.num_negatives < 1:
            raise ValueError(f"{self.__class__.__name__}: reverse BPR needs "
                             f"num_negatives >= 1")
        return self.trainer.fit()
