r"""The shared training loop."""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch

from mmgraph.config import TrainConfig
from mmgraph.evaluation import Evaluator, parse_metric_name
from mmgraph.models.base import Batch
from mmgraph.distributed import (all_reduce_gradients,
                                       is_main_process, shard)
from mmgraph.train.objectives import Objective, create_objective
from mmgraph.train.utils import (adam, atomic_torch_save, atomic_write_json,
                                 atomic_write_text, package_versions,
                                 seed_everything)

__all__ = ["Trainer", "CHECKPOINT", "RESULTS"]

log = logging.getLogger("mmgraph")

CHECKPOINT = "checkpoint.pt"
RESULTS = "results.json"
TOPK_FILE = "test_topk.tsv"
CURVE_FILE = "training_curve.png"


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm ships with torch-geometric
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False, disable=None,
                dynamic_ncols=True)


class Trainer:
    r"""Trains a :class:`~mmgraph.models.Recommender` with early stopping on
    the validation split, then evaluates the test split **once**, on the
    selected model.

    Each epoch: ``model.on_epoch_start(epoch)``; the training interactions are
    shuffled and cut into batches of ``batch_size`` positives; each positive
    gets ``num_negatives`` negatives drawn uniformly from the candidate items
    minus the user's training items; the objective's loss is minimised with
    Adam. Then the validation split is evaluated (full ranking, train items
    masked). On a **strict** improvement of ``valid_metric`` the state is
    checkpointed atomically (model, optimiser, objective, RNG state, history);
    training stops once ``patience + 1`` consecutive epochs brought no
    improvement (MMRec's rule), or at ``epochs``.

    An interrupted run resumed with ``resume=True`` restarts from the last
    checkpoint with the same RNG state and so ends with the same result as
    an uninterrupted run.

    Args:
        model: the model to train.
        dataset: its :class:`~mmgraph.data.RecDataset`.
        config (TrainConfig or dict, optional): loop settings.
        objective (Objective or str, optional): overrides
            ``config.objective``.
        objective_params (dict, optional): keywords of the objective.
        out_dir (str or Path, optional): run folder for ``results.json``,
            ``checkpoint.pt``, ``test_topk.tsv`` and the training curve.
        extra_results (dict, optional): stored in ``results.json`` (e.g. the
            resolved config and model name).
        show_progress (bool): a progress bar per epoch (default: :obj:`True`).
    """

    def __init__(self, model, dataset,
                 config: Union[TrainConfig, Dict[str, Any], None] = None,
                 objective: Union[Objective, str, None] = None,
                 objective_params: Optional[Dict[str, Any]] = None,
                 out_dir: Union[str, Path, None] = None,
                 extra_results: Optional[Dict[str, Any]] = None,
                 show_progress: bool = True) -> None:
        if config is None:
            config = TrainConfig()
        elif isinstance(config, dict):
            config = TrainConfig(**config)
        self.config = config
        self.device = torch.device(config.device)
        self.model = model.to(self.device)
        self.dataset = dataset
        if objective is None:
            objective = config.objective
        if isinstance(objective, str):
            if objective == "auto":
                objective = "native" if model.native_loss else "bpr"
            objective = create_objective(objective, model, dataset,
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
        metric, k = parse_metric_name(config.valid_metric)
        if metric not in [m.lower() for m in config.metrics] or \
                k not in config.topk:
            raise ValueError(f"valid_metric {config.valid_metric!r} is not "
                             f"computed: metrics={config.metrics}, "
                             f"topk={config.topk}")
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.extra_results = dict(extra_results or {})
        self.show_progress = show_progress
        self.optimizer = self._make_optimizer()
        self._params = list(self.model.parameters()) + \
            list(self.objective.parameters())
        self.history: List[Dict[str, Any]] = []
        self.best_epoch = -1
        self.best_score = -math.inf
        self.best_valid: Dict[str, float] = {}
        self.bad_epochs = 0
        self.start_epoch = 0
        self._best_state: Optional[Dict[str, torch.Tensor]] = None

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.model.__class__.__name__}, "
                f"objective={self.objective.__class__.__name__}, "
                f"lr={self.config.learning_rate}, "
                f"batch_size={self.config.batch_size})")

    def _make_optimizer(self) -> torch.optim.Optimizer:
        c = self.config
        groups = [{"params": [p for p in self.model.parameters()
                              if p.requires_grad],
                   "lr": c.learning_rate, "weight_decay": c.weight_decay}]
        own = [p for p in self.objective.parameters() if p.requires_grad]
        if own:
            groups.append({"params": own, "lr": self.objective.learning_rate
                           or c.learning_rate, "weight_decay": 0.0})
        return adam(groups)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> Dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "objective": self.objective.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": len(self.history) - 1,
            "history": self.history,
            "best_epoch": self.best_epoch,
            "best_score": self.best_score,
            "best_valid": self.best_valid,
            "bad_epochs": self.bad_epochs,
            "rng_state": torch.get_rng_state(),
            "config": self.config.to_dict(),
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.objective.load_state_dict(state["objective"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.history = list(state["history"])
        self.best_epoch = int(state["best_epoch"])
        self.best_score = float(state["best_score"])
        self.best_valid = dict(state["best_valid"])
        self.bad_epochs = int(state["bad_epochs"])
        self.start_epoch = int(state["epoch"]) + 1
        torch.set_rng_state(state["rng_state"])

    def _checkpoint(self) -> None:
        state = self.state_dict()
        self._best_state = {k: v.detach().clone()
                            for k, v in state["model"].items()}
        if self.out_dir is not None and is_main_process():
            atomic_torch_save(self.out_dir / CHECKPOINT, state)

    def _resume(self) -> bool:
        path = self.out_dir / CHECKPOINT if self.out_dir else None
        if path is None or not path.exists():
            return False
        state = torch.load(path, map_location=self.device, weights_only=True)
        # Only the epoch budget may change: extending a finished run is a
        # resume too; anything else would mix two experiments.
        saved = {k: v for k, v in state.get("config", {}).items()
                 if k != "epochs"}
        current = {k: v for k, v in self.config.to_dict().items()
                   if k != "epochs"}
        if saved != current:
            changed = sorted(k for k in set(saved) | set(current)
                             if saved.get(k) != current.get(k))
            raise ValueError(f"{path}: the checkpoint was written with another "
                             f"training config (differs in {changed}); start "
                             f"a new run folder or drop --resume")
        self.load_state_dict(state)
        self._best_state = {k: v.detach().clone()
                            for k, v in state["model"].items()}
        log.info("resumed from %s at epoch %d (best epoch %d, %s=%.4f)",
                 path, self.start_epoch, self.best_epoch,
                 self.config.valid_metric, self.best_score)
        return True

    # ------------------------------------------------------------------ loop
    def train_epoch(self, epoch: int) -> Dict[str, float]:
        r"""One pass over the training interactions; returns mean losses."""
        c = self.config
        self.model.train()
        self.objective.train()
        self.model.on_epoch_start(epoch)
        self.objective.on_epoch_start(epoch)
        edges = self.dataset.train_edge_index
        # A generator of its own: every rank draws the same permutation, and a
        # resumed run the same as an uninterrupted one.
        order = torch.Generator().manual_seed(c.seed * 1_000_003 + epoch)
        perm = torch.randperm(edges.size(1), generator=order)
        sums: Dict[str, float] = {}
        num_batches = math.ceil(edges.size(1) / c.batch_size)
        starts = range(0, edges.size(1), c.batch_size)
        for start in _progress(starts, num_batches, f"epoch {epoch}",
                               self.show_progress):
            idx = shard(perm[start:start + c.batch_size])
            users, pos = edges[0, idx], edges[1, idx]
            neg = self.sampler.sample(users, self.num_negatives) \
                if self.num_negatives > 0 else None
            batch = Batch(users, pos, neg).to(self.device)
            out = self.objective(self.model, batch)
            loss = out["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"epoch {epoch}: the training loss is {loss.item()} "
                    f"(lower the learning rate or check the features)")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            all_reduce_gradients(self._params)
            if c.clip_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                               c.clip_grad_norm)
            self.optimizer.step()
            for key, value in out.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach())
        return {k: v / num_batches for k, v in sums.items()}

    def fit(self, resume: bool = False) -> Dict[str, Any]:
        r"""Trains to early stopping and returns the results dict (also
        written to ``out_dir/results.json``)."""
        c = self.config
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        if not (resume and self._resume()):
            seed_everything(c.seed)
            self.model.reset_parameters()
            self.optimizer = self._make_optimizer()
        start_time = time.perf_counter()
        self.stopped_by = "max_epochs"
        for epoch in range(self.start_epoch, c.epochs):
            if self.bad_epochs > c.patience:
                self.stopped_by = "early_stopping"
                break
            t0 = time.perf_counter()
            losses = self.train_epoch(epoch)
            t1 = time.perf_counter()
            valid = self.evaluator.evaluate(self.model, "valid")
            record: Dict[str, Any] = {
                "epoch": epoch, **losses, "valid": valid,
                "train_seconds": t1 - t0,
                "eval_seconds": time.perf_counter() - t1}
            if c.eval_test_each_epoch:
                record["test"] = self.evaluator.evaluate(self.model, "test")
            self.history.append(record)
            score = valid[c.valid_metric]
            improved = score > self.best_score
            if improved:
                self.best_score, self.best_epoch = score, epoch
                self.best_valid, self.bad_epochs = valid, 0
                self._checkpoint()
            else:
                self.bad_epochs += 1
            log.info("epoch %3d  loss %.4f  valid %s %.4f%s  (%.1fs + %.1fs)",
                     epoch, losses.get("loss", float("nan")), c.valid_metric,
                     score, "  *" if improved else "", record["train_seconds"],
                     record["eval_seconds"])
            self._write_results(final=False)
        else:
            if self.bad_epochs > c.patience:
                self.stopped_by = "early_stopping"
        return self.finish(time.perf_counter() - start_time)

    def finish(self, seconds: float = 0.0) -> Dict[str, Any]:
        r"""Loads the best model and evaluates the test split once."""
        if self._best_state is None:
            raise RuntimeError("Trainer: no epoch was trained")
        self.model.load_state_dict(self._best_state)
        self.model.eval()
        test = self.evaluator.evaluate(self.model, "test")
        results = self._write_results(final=True, test=test, seconds=seconds)
        if self.out_dir is not None and is_main_process():
            self.write_topk(self.out_dir / TOPK_FILE)
            try:
                plot_training_curve(self.history, self.config.valid_metric,
                                    self.out_dir / CURVE_FILE)
            except ImportError:  # matplotlib is optional
                log.warning("matplotlib is not installed: no training curve")
        log.info("best epoch %d  valid %s %.4f  test %s %.4f", self.best_epoch,
                 self.config.valid_metric, self.best_score,
                 self.config.valid_metric, test[self.config.valid_metric])
        return results

    def _write_results(self, final: bool, test: Optional[Dict] = None,
                       seconds: float = 0.0) -> Dict[str, Any]:
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
            results["stopped_by"] = getattr(self, "stopped_by", "max_epochs")
            results["wall_seconds"] = seconds
        if self.out_dir is not None and is_main_process():
            atomic_write_json(self.out_dir / RESULTS, results)
        return results

    def write_topk(self, path: Path, k: Optional[int] = None) -> None:
        r"""Writes one line per test user: the user id, then the top-``k``
        item ids in rank order (training items excluded)."""
        k = k or self.config.top_k_file
        users = torch.unique(self.dataset.test_edge_index[0])
        ranked = self.evaluator.rank(self.model, users, k).cpu()
        lines = ["\t".join(map(str, [u, *row]))
                 for u, row in zip(users.tolist(), ranked.tolist())]
        atomic_write_text(path, "\n".join(lines) + "\n")


def plot_training_curve(history: List[Dict[str, Any]], valid_metric: str,
                        path: Path) -> None:
    r"""Saves the loss and validation-metric curves as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mmgraph.train.utils import atomic_write_bytes
    import io

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
    best = max(range(len(history)),
               key=lambda i: history[i]["valid"][valid_metric])
    ax2.axvline(epochs[best], color="grey", ls="--", lw=0.8)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel(valid_metric)
    ax2.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
