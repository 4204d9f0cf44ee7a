r"""The shared training loop."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Optional,
                    Sequence, Union)

import torch
from torch_geometric import seed_everything
from torch import Tensor

from mmgraph.config import ConfigError, TrainConfig
from mmgraph.distributed import (all_reduce_gradients, broadcast_parameters,
                                  cpu_seconds_all_ranks, is_main_process,
                                  lr_scale, rank, rank_share, shard,
                                  world_size)
from mmgraph.evaluation import Evaluator
from mmgraph.io import package_versions
from mmgraph.models.base import Batch
from mmgraph.runtime import reusing_freed_memory
from mmgraph.train.callbacks import (BestValidScore, Callback, EarlyStopping,
                                     ProgressBar)
from mmgraph.train.objectives import Objective, create_objective
from mmgraph.train.objectives.base import resolve_objective_name
from mmgraph.train.sampled import refresh_item_history, set_item_history
from mmgraph.train.row_sparse_adam import (RowSparseAdam, clip_grad_norm_,
                                           set_sparse_features)
from mmgraph.train.utils import adam, make_lr_scheduler, make_optimizer

__all__ = ["Trainer", "shard_batch"]

log = logging.getLogger("mmgraph")

#: ``batches(epoch)`` replacement: ``(trainer, epoch) -> Iterable[Batch]``.
BatchSource = Callable[[Any, int], Iterable[Batch]]


def shard_batch(batch: Batch) -> Batch:
    r"""This rank's strided share of every row of ``batch`` (the batch
    itself when not distributed): the ranks split each batch and average
    their gradients, as ``DistributedDataParallel`` does."""
    values = {f.name: getattr(batch, f.name)
              for f in dataclasses.fields(batch)}
    if not any(isinstance(v, Tensor) for v in values.values()):
        return batch
    sharded = {k: shard(v) if isinstance(v, Tensor) else v
               for k, v in values.items()}
    if all(sharded[k] is values[k] for k in values):
        return batch
    return type(batch)(**sharded)


def _merge_config(model, config: Union[TrainConfig, Dict[str, Any], None]
                  ) -> TrainConfig:
    if isinstance(config, TrainConfig):
        return config
    defaults = dict(getattr(model, "train_defaults", None) or {})
    return TrainConfig(**{**defaults, **dict(config or {})})


def epoch_seconds(record: Dict[str, Any]) -> float:
    r"""The training plus validation seconds a ``history`` record of
    :meth:`Trainer.fit` logged for its epoch (0 for what it lacks)."""
    return float(record.get("train_seconds", 0.0)) + \
        float(record.get("eval_seconds", 0.0))


class Trainer:
    r"""Trains a :class:`~mmgraph.models.Recommender` with model selection
    on the validation split, then evaluates the test split **once**, on the
    selected model.

    :meth:`fit` seeds everything, re-initialises the model (unless
    ``reset_parameters=False``), builds the optimiser and the learning-rate
    schedule (:class:`~mmgraph.config.TrainConfig` ``optimizer`` /
    ``lr_scheduler``), then runs epochs. Each epoch:
    ``model.on_epoch_start(epoch)``; one pass over :meth:`batches` (by
    default the shuffled training interactions in batches of
    ``batch_size`` positives, each with ``num_negatives`` negatives drawn
    uniformly from the candidate items minus the user's training items),
    one :meth:`training_step` per batch; the schedule steps; the validation
    split is evaluated (full ranking, train items masked); the callbacks see
    the epoch's record. By default the selection is a **strict**
    improvement of ``valid_metric`` (:class:`~mmgraph.train.callbacks.
    BestValidScore`) and training stops once ``patience + 1`` consecutive
    epochs brought no improvement (:class:`~mmgraph.train.callbacks.
    EarlyStopping`, MMRec's rule), or at ``epochs``.

    The trainer writes no file: run folders (checkpoint on improvement,
    ``results.json`` per epoch, resume) are callbacks of
    :class:`~mmgraph.runs.RunFolder`. Under ``torchrun`` (see
    :mod:`mmgraph.distributed`) each rank trains on batches of its own: the
    default :meth:`batches` gives every rank its strided share of global
    batches of ``world_size * batch_size`` pairs, negatives drawn from a
    per-rank seed, and the gradients are averaged; the learning rate follows
    ``config.lr_scaling``. A batch source given to the constructor is split
    over the ranks batch by batch (:func:`shard_batch`) unless it has an
    attribute ``per_rank = True`` (it then draws each rank's batches
    itself).

    Args:
        model: the model to train.
        dataset: its :class:`~mmgraph.data.RecDataset`.
        config (TrainConfig or dict, optional): loop settings; a dict (or
            :obj:`None`) is merged over the model's ``train_defaults``.
        objective (Objective or str, optional): overrides
            ``config.objective``.
        callbacks (sequence of Callback): extra callbacks, called in order
            after the default selection / stopping ones they do not replace.
        objective_params (dict, optional): keywords of the objective.
        batches (callable, optional): a batch source
            ``(trainer, epoch) -> Iterable[Batch]`` replacing the default
            :meth:`batches`.
            With ``config.sampled`` (and no source given) it is
            :class:`~mmgraph.train.sampled.SubgraphBatches` over
            ``config.num_neighbors``.
        valid_edge_index (Tensor, optional): the validation pairs to select
            on (default: the dataset's validation split).
        reset_parameters (bool): re-initialise the model at the start of
            :meth:`fit` (default: :obj:`True`; :obj:`False` continues from
            the current weights, e.g. fine-tuning or unlearning).
        epoch_offset (int): added to the epoch passed to
            ``model.on_epoch_start`` (a continued model's epoch count).
        extra_results (dict, optional): stored in the results dict.
        show_progress (bool): a progress bar over the epochs (default:
            :obj:`True`).
    """

    def __init__(self, model, dataset,
                 config: Union[TrainConfig, Dict[str, Any], None] = None,
                 objective: Union[Objective, str, None] = None,
                 callbacks: Sequence[Callback] = (),
                 objective_params: Optional[Dict[str, Any]] = None,
                 batches: Optional[BatchSource] = None,
                 valid_edge_index: Optional[Tensor] = None,
                 reset_parameters: bool = True, epoch_offset: int = 0,
                 extra_results: Optional[Dict[str, Any]] = None,
                 show_progress: bool = True) -> None:
        # Checked again here: a TrainConfig may be changed after construction.
        config = _merge_config(model, config).validate()
        self.config = config
        self.device = torch.device(config.device)
        self.model = model.to(self.device)
        self.dataset = dataset
        if objective is None:
            objective = config.objective
        if isinstance(objective, str):
            objective = create_objective(
                resolve_objective_name(model, objective), model, dataset,
                **(objective_params or {}))
        self.objective = objective.to(self.device)
        self.num_negatives = config.num_negatives or \
            self.objective.default_negatives
        from mmgraph.data import NegativeSampler
        self.sampler = NegativeSampler(dataset.train_edge_index,
                                       dataset.num_users, dataset.num_items,
                                       candidates=config.neg_candidates)
        self.evaluator = Evaluator(dataset, config.metrics, config.topk,
                                   config.eval_batch_size)
        if config.sampled and batches is None:
            from mmgraph.train.sampled import (SubgraphBatches, check_sampled,
                                               surplus_hops_advice)
            check_sampled(model, getattr(self.objective, "registry_name",
                                         "custom"))
            advice = surplus_hops_advice(model, config.num_neighbors)
            if advice and is_main_process():
                log.warning(advice)
            batches = SubgraphBatches(dataset, config.num_neighbors,
                                      config.item_neighbors)
        elif not config.sampled and is_main_process():
            default = TrainConfig()
            unused = [k for k in ("num_neighbors", "item_neighbors")
                      if getattr(config, k) != getattr(default, k)]
            if unused:
                log.warning("%s: only sampled training reads %s (--sampled, "
                            "train.sampled: true); this run trains on the "
                            "whole graph", ", ".join(unused),
                            "them" if len(unused) > 1 else "it")
        self.batch_source = batches
        set_sparse_features(model, config.sparse_features, config.optimizer)
        set_item_history(model, config.item_history, config.sampled)
        #: Whether :meth:`batches` already yields this rank's own batches
        #: (else each batch is split over the ranks).
        self.batches_per_rank = batches is None or \
            bool(getattr(batches, "per_rank", False))
        self.valid_edge_index = valid_edge_index
        self.reset_parameters = bool(reset_parameters)
        self.epoch_offset = int(epoch_offset)
        self.extra_results = dict(extra_results or {})
        self.show_progress = show_progress
        self.callbacks = self._with_defaults(list(callbacks))
        self._params = list(self.model.parameters()) + \
            list(self.objective.parameters())
        #: Loss terms stepped by an optimiser of their own:
        #: ``{output key: optimiser}`` (see :meth:`training_step`).
        self.term_optimizers: Dict[str, torch.optim.Optimizer] = {}
        self.optimizer, self.scheduler = self.configure_optimizers()
        self.history: List[Dict[str, Any]] = []
        self.best_epoch = -1
        self.best_score = -math.inf
        self.best_valid: Dict[str, float] = {}
        self.start_epoch = 0
        self.should_stop = False
        self.stop_reason = "max_epochs"
        self.resuming = False
        self._epoch = 0
        #: ``(user, item)`` embeddings of the last validation (for callbacks
        #: that evaluate more pairs in the same pass); cleared after the
        #: epoch's callbacks.
        self.valid_embeddings = None
        self._best_state: Optional[Dict[str, Tensor]] = None
        # Wall and CPU seconds of the fit calls before a resume, and the
        # start of this one: a resumed run's wall_seconds / cpu_seconds cover
        # all of its calls (CPU None: a state saved before it was recorded).
        self._prior_seconds = 0.0
        self._prior_cpu_seconds: Optional[float] = 0.0
        self._fit_start: Optional[float] = None
        self._fit_cpu_start: Optional[float] = None

    def _with_defaults(self, callbacks: List[Callback]) -> List[Callback]:
        roles = {cb.role for cb in callbacks}
        defaults: List[Callback] = []
        if "selection" not in roles:
            defaults.append(BestValidScore())
        if "stopping" not in roles:
            defaults.append(EarlyStopping(self.config.patience))
        tail: List[Callback] = [] if any(
            isinstance(cb, ProgressBar) for cb in callbacks) else \
            [ProgressBar(enabled=self.show_progress)]
        return defaults + callbacks + tail

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.model.__class__.__name__}, "
                f"objective={self.objective.__class__.__name__}, "
                f"optimizer={self.config.optimizer!r}, "
                f"lr={self.config.learning_rate}, "
                f"batch_size={self.config.batch_size})")

    def configure_optimizers(self):
        r"""A fresh optimiser (and schedule) from the config: the model's
        trainable parameters at ``learning_rate`` / ``weight_decay``, the
        objective's own parameters (e.g. NBPO's flip model) at its own rate
        without weight decay. Sets and returns ``(optimizer, scheduler)``."""
        c = self.config
        scale = lr_scale(c.lr_scaling, world_size())
        lr = c.learning_rate * scale if scale != 1.0 else c.learning_rate
        groups = [{"params": [p for p in self.model.parameters()
                              if p.requires_grad],
                   "lr": lr, "weight_decay": c.weight_decay}]
        own = [p for p in self.objective.parameters() if p.requires_grad]
        if own:
            own_lr = self.objective.learning_rate or c.learning_rate
            groups.append({"params": own, "lr": own_lr * scale
                           if scale != 1.0 else own_lr, "weight_decay": 0.0})
        params = dict(c.optimizer_params or {})
        # The constructors' TypeError / ValueError is a setting the user chose
        # (an argument the class does not take, or lacks, or a bad value).
        try:
            if c.sparse_features:  # Adam, row-sparse for the feature tables
                self.optimizer = adam(groups, RowSparseAdam, **params)
            else:
                self.optimizer = make_optimizer(c.optimizer, groups, **params)
        except ConfigError:
            raise
        except (TypeError, ValueError) as e:
            name = "adam" if c.sparse_features else c.optimizer
            raise ConfigError(f"train.optimizer_params {params}: optimizer {name!r} "
                              f"refuses them: {e}") from e
        params = dict(c.lr_scheduler_params or {})
        try:
            self.scheduler = make_lr_scheduler(c.lr_scheduler, self.optimizer, **params)
        except ConfigError:
            raise
        except (TypeError, ValueError) as e:
            raise ConfigError(f"train.lr_scheduler_params {params}: lr_scheduler "
                              f"{c.lr_scheduler!r} refuses them: {e}") from e
        return self.optimizer, self.scheduler

    # ------------------------------------------------------------------ state
    def state_dict(self) -> Dict[str, Any]:
        r"""Everything a resumed run needs: model, objective, optimiser,
        schedule, RNG, history, selection and the callbacks' state."""
        return {
            "model": self.model.state_dict(),
            "objective": self.objective.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None
            else self.scheduler.state_dict(),
            "epoch": len(self.history) - 1,
            "history": self.history,
            "best_epoch": self.best_epoch,
            "best_score": self.best_score,
            "best_valid": self.best_valid,
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "rng_state": torch.get_rng_state(),
            "config": self.config.to_dict(),
            "wall_seconds": self._prior_seconds + (
                0.0 if self._fit_start is None
                else time.perf_counter() - self._fit_start),
            "cpu_seconds": self._cpu_seconds(),
        }

    def load_state_dict(self, state: Dict[str, Any],
                        best_model: Optional[Dict[str, Tensor]] = None
                        ) -> None:
        r"""Restores :meth:`state_dict`; the next epoch is ``state['epoch']
        + 1``. A state saved at its best epoch is also the selected model;
        a later one takes the selected epoch's weights from
        :obj:`best_model` (the model state saved at ``state['best_epoch']``)."""
        self.model.load_state_dict(state["model"])
        self.objective.load_state_dict(state["objective"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.history = list(state["history"])
        self.best_epoch = int(state["best_epoch"])
        self.best_score = float(state["best_score"])
        self.best_valid = dict(state["best_valid"])
        self.start_epoch = int(state["epoch"]) + 1
        for cb, cb_state in zip(self.callbacks, state.get("callbacks") or []):
            cb.load_state_dict(cb_state)
        if int(state["epoch"]) == self.best_epoch:
            best_model = state["model"]
        if best_model is not None:
            self._best_state = {k: v.detach().clone()
                                for k, v in best_model.items()}
        torch.set_rng_state(state["rng_state"])
        # (a state from before wall_seconds was saved: its epochs' seconds)
        self._prior_seconds = float(state.get("wall_seconds", sum(
            epoch_seconds(h) for h in self.history)))
        cpu = state.get("cpu_seconds")
        self._prior_cpu_seconds = None if cpu is None else float(cpu)

    def _cpu_seconds(self) -> Optional[float]:
        # CPU time of this process in every fit call of the run so far
        if self._prior_cpu_seconds is None:
            return None
        return self._prior_cpu_seconds + (
            0.0 if self._fit_cpu_start is None
            else time.process_time() - self._fit_cpu_start)

    def mark_best(self, record: Dict[str, Any]) -> None:
        r"""Selects the current model (the epoch of ``record``): keeps a copy
        of its weights for the test evaluation and sets
        ``record['improved']``."""
        self.best_epoch = int(record["epoch"])
        self.best_valid = record["valid"]
        self.best_score = float(record["valid"][self.config.valid_metric])
        self._best_state = {k: v.detach().clone()
                            for k, v in self.model.state_dict().items()}
        record["improved"] = True

    def has_best(self) -> bool:
        r"""Whether an epoch has been selected."""
        return self._best_state is not None

    def restore_best(self) -> None:
        r"""Loads the selected epoch's weights into the model."""
        if self._best_state is None:
            raise RuntimeError("Trainer: no epoch was selected")
        self.model.load_state_dict(self._best_state)

    # ------------------------------------------------------------------ loop
    def batches(self, epoch: int) -> Iterator[Batch]:
        r"""The batches of one epoch (a hook; a ``batches`` source given to
        the constructor replaces it): the training interactions shuffled by
        a generator of their own (every rank draws the same permutation, a
        resumed run the same as an uninterrupted one), ``batch_size``
        positives per batch, each with ``num_negatives`` uniform
        negatives. Under ``torchrun`` the permutation is cut into global
        batches of ``world_size * batch_size`` and this rank takes its
        strided share of each (:func:`~mmgraph.distributed.rank_share`)."""
        if self.batch_source is not None:
            yield from self.batch_source(self, epoch)
            return
        yield from self.default_batches(epoch)

    def default_batches(self, epoch: int) -> Iterator[Batch]:
        r"""The default batches of :meth:`batches` (also the pairs and
        negatives a batch source may build on, e.g.
        :class:`~mmgraph.train.sampled.SubgraphBatches`)."""
        c = self.config
        edges = self.dataset.train_edge_index
        order = torch.Generator().manual_seed(c.seed * 1_000_003 + epoch)
        perm = torch.randperm(edges.size(1), generator=order)
        step = c.batch_size * world_size()
        for start in range(0, edges.size(1), step):
            idx = rank_share(perm[start:start + step])
            users, pos = edges[0, idx], edges[1, idx]
            neg = self.sampler.sample(users, self.num_negatives) \
                if self.num_negatives > 0 else None
            yield Batch(users, pos, neg)

    def training_step(self, batch: Batch) -> Dict[str, float]:
        r"""One optimisation step on ``batch``; returns its loss terms.

        The objective's ``'loss'`` is minimised by the optimiser. A loss term
        listed in :attr:`term_optimizers` (an output key the objective keeps
        with its graph, see :attr:`~mmgraph.train.objectives.Objective.
        step_terms`) is instead stepped by its own optimiser: its gradient is
        taken at the same parameters, the main optimiser steps on the rest
        of the loss, then the term's optimiser applies the term's gradient.
        Gradients are averaged over ranks and clipped (``clip_grad_norm``)
        before every step."""
        with self.autocast():
            out = self.objective(self.model, batch.to(self.device))
        loss = out["loss"].float()
        out["loss"] = loss
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"epoch {self._epoch}: the training loss is {loss.item()} "
                f"(lower the learning rate or check the features)")
        split = []
        for key in getattr(self.objective, "step_terms", ()):
            term = out.pop(key, None)
            opt = self.term_optimizers.get(key)
            if opt is not None and term is not None and term.requires_grad:
                split.append((opt, term))
        params = [p for p in self._params if p.requires_grad]
        term_grads = []
        for _, term in split:
            term_grads.append(torch.autograd.grad(
                term, params, retain_graph=True, allow_unused=True))
            loss = loss - term
        self.optimizer.zero_grad(set_to_none=True)
        if loss.requires_grad:
            loss.backward()
            self._reduce_and_clip()
            self.optimizer.step()
        for (opt, _), grads in zip(split, term_grads):
            opt.zero_grad(set_to_none=True)
            for p, g in zip(params, grads):
                p.grad = g
            self._reduce_and_clip()
            opt.step()
        return {k: float(v.detach()) for k, v in out.items()}

    def autocast(self):
        r"""The mixed-precision context of the training forward pass
        (``config.precision``; a no-op for ``'float32'``)."""
        if self.config.precision == "float32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _reduce_and_clip(self) -> None:
        all_reduce_gradients(self._params)
        if self.config.clip_grad_norm > 0:
            if self.config.sparse_features:  # torch's cannot take sparse
                clip_grad_norm_(self.model.parameters(),
                                self.config.clip_grad_norm)
            else:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                               self.config.clip_grad_norm)

    def train_epoch(self, epoch: int) -> Dict[str, float]:
        r"""One pass over :meth:`batches`; returns the mean loss terms."""
        self._epoch = epoch
        self.model.train()
        self.objective.train()
        self.model.on_epoch_start(self.epoch_offset + epoch)
        self.objective.on_epoch_start(epoch)
        if self.config.item_history:  # rows at most one epoch old
            refresh_item_history(self.model)
        sums: Dict[str, float] = {}
        num_batches = 0
        for batch in self.batches(epoch):
            if not self.batches_per_rank:
                batch = shard_batch(batch)
            for key, value in self.training_step(batch).items():
                sums[key] = sums.get(key, 0.0) + value
            num_batches += 1
        return {k: v / max(1, num_batches) for k, v in sums.items()}

    def validate(self) -> Dict[str, float]:
        r"""The validation metrics of the current model (on
        ``valid_edge_index`` if given); keeps the embeddings of the pass in
        :attr:`valid_embeddings` for the epoch's callbacks."""
        emb = self.evaluator.embeddings(self.model)
        self.valid_embeddings = emb
        target = "valid" if self.valid_edge_index is None \
            else self.valid_edge_index
        return self.evaluator.evaluate(self.model, target, embeddings=emb)

    @reusing_freed_memory()  # no page-fault storm at every large step
    def fit(self, resume: bool = False) -> Dict[str, Any]:
        r"""Trains until a callback stops the loop (early stopping) or
        ``epochs`` is reached, evaluates the selected model on the test
        split once and returns the results dict. ``resume=True`` lets a
        run-folder callback restore the last checkpoint
        (:meth:`~mmgraph.runs.RunFolder.callbacks`). Runs with
        :func:`~mmgraph.runtime.reusing_freed_memory`."""
        c = self.config
        self.resuming = bool(resume)
        seed_everything(c.seed)
        if self.reset_parameters:
            self.model.reset_parameters()
        if world_size() > 1:
            broadcast_parameters(list(self.model.parameters()) +
                                 list(self.objective.parameters()))
            if self.batches_per_rank:
                # From here on each rank draws its own negatives and dropout
                # masks.
                torch.manual_seed(c.seed + rank())
        self.configure_optimizers()
        start_time = self._fit_start = time.perf_counter()
        self._fit_cpu_start = time.process_time()
        for cb in self.callbacks:
            cb.on_fit_start(self)
        for epoch in range(self.start_epoch, c.epochs):
            if self.should_stop:
                break
            for cb in self.callbacks:
                cb.on_epoch_start(self, epoch)
            if self.should_stop:
                break
            t0 = time.perf_counter()
            losses = self.train_epoch(epoch)
            t1 = time.perf_counter()
            valid = self.validate()
            record: Dict[str, Any] = {
                "epoch": epoch, **losses, "valid": valid,
                "train_seconds": t1 - t0,
                "eval_seconds": time.perf_counter() - t1}
            if c.eval_test_each_epoch:
                record["test"] = self.evaluator.evaluate(self.model, "test")
            record["improved"] = False
            self.history.append(record)
            self._step_scheduler(valid)
            for cb in self.callbacks:
                cb.on_epoch_end(self, epoch, record)
            self.valid_embeddings = None
        return self.finish(time.perf_counter() - start_time,
                           cpu_seconds=self._cpu_seconds())

    def _step_scheduler(self, valid: Dict[str, float]) -> None:
        if self.scheduler is None:
            return
        if isinstance(self.scheduler,
                      torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(valid[self.config.valid_metric])
        else:
            self.scheduler.step()

    def finish(self, seconds: float = 0.0,
               cpu_seconds: Optional[float] = None) -> Dict[str, Any]:
        r"""Loads the selected model, evaluates the test split once, calls
        the callbacks' ``on_fit_end`` and returns the results dict
        (``seconds``: the wall seconds of this fit call; ``cpu_seconds``:
        the CPU seconds of the whole run as given, summed over the ranks
        under ``torchrun``; the part before a resume is counted as rank
        0's times the number of ranks)."""
        if self._best_state is None:
            raise RuntimeError("Trainer: no epoch was trained")
        self.restore_best()
        self.model.eval()
        test = self.evaluator.evaluate(self.model, "test")
        results = self.results(final=True, test=test, seconds=seconds)
        # the whole job's: summed over torchrun's ranks
        results["cpu_seconds"] = cpu_seconds_all_ranks(cpu_seconds)
        for cb in self.callbacks:
            cb.on_fit_end(self, results)
        m = self.config.valid_metric
        log.info("best epoch %d  valid %s %.4f  test %s %.4f (%s)",
                 self.best_epoch, m, self.best_score, m, test[m],
                 self.stop_reason)
        return results

    def results(self, final: bool = False, test: Optional[Dict] = None,
                seconds: float = 0.0) -> Dict[str, Any]:
        r"""The results dict: what was trained, the history, the selected
        epoch and its validation metrics (and, when ``final``, the test
        metrics, the number of epochs and why training stopped)."""
        results = {
            **self.extra_results,
            "model": getattr(self.model, "registry_name",
                             self.model.__class__.__name__),
            "dataset": self.dataset.name,
            "objective": getattr(self.objective, "registry_name", "custom"),
            "seed": self.config.seed,
            "train_config": self.config.to_dict(),
            "versions": package_versions(),
            "finished": final,
            "history": self.history,
            "best_epoch": self.best_epoch,
            "valid": self.best_valid,
        }
        if test is not None:
            results["test"] = test
        if self.history:
            n = len(self.history)
            results["seconds_per_epoch"] = sum(
                h["train_seconds"] for h in self.history) / n
            results["seconds_per_eval"] = sum(
                h["eval_seconds"] for h in self.history) / n
        if final:
            results["epochs"] = len(self.history)
            results["stopped_by"] = self.stop_reason
            # every fit call of this run, the ones before a resume included
            # (cpu_seconds: set by finish)
            results["wall_seconds"] = self._prior_seconds + seconds
        return results
