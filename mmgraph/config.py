r"""Configuration dataclasses: plain typed settings, no behaviour.

A leaf module: it imports nothing from mmgraph. Resolving a configuration
against the model and objective registries (defaults, YAML files, ``--set``
overrides, grids) lives in :mod:`mmgraph.experiment`.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = ["TrainConfig", "ObjectiveConfig", "DataConfig", "ConfigError",
           "TRAIN_RULES", "check_train_value"]


class ConfigError(ValueError):
    r"""An invalid configuration key or value."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def _is_name_at_k(v: Any) -> bool:
    name, _, k = str(v).partition("@") if isinstance(v, str) else ("", "", "")
    return bool(name) and k.isdigit() and int(k) >= 1


#: ``TrainConfig`` field -> (check, what is expected): the one rule set of
#: training values, used by :meth:`TrainConfig.validate` and by the command
#: line's ``--set`` / ``--config`` checks.
TRAIN_RULES: Dict[str, Tuple[Callable[[Any], bool], str]] = {
    "learning_rate": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "weight_decay": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "batch_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "eval_batch_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "epochs": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "patience": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "seed": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "num_negatives": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "clip_grad_norm": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "top_k_file": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "topk": (lambda v: isinstance(v, list) and len(v) > 0
             and all(_is_int(k) and k >= 1 for k in v),
             "a non-empty list of integers >= 1, e.g. [10,20]"),
    "metrics": (lambda v: isinstance(v, list) and len(v) > 0
                and all(isinstance(m, str) for m in v),
                "a non-empty list of metric names, e.g. [recall,ndcg]"),
    "valid_metric": (_is_name_at_k, "NAME@K, e.g. recall@20"),
    "device": (lambda v: v in ("cpu", "cuda"), "'cpu' or 'cuda'"),
    "neg_candidates": (lambda v: v in ("train", "all"), "'train' or 'all'"),
    "precision": (lambda v: v in ("float32", "bfloat16"), "'float32' or 'bfloat16'"),
    "num_neighbors": (lambda v: isinstance(v, list) and len(v) > 0
                      and all(_is_int(k) and (k >= 1 or k == -1) for k in v),
                      "a non-empty list of fan-outs >= 1 or -1, e.g. [10,10]"),
    "item_neighbors": (lambda v: _is_int(v) and (v >= 1 or v == -1),
                       "an integer >= 1 or -1 (every kNN neighbour)"),
    "sparse_features": (lambda v: isinstance(v, bool), "true or false"),
    "item_history": (lambda v: isinstance(v, bool), "true or false"),
}


def check_train_value(key: str, value: Any) -> Optional[str]:
    r"""What :obj:`key` of :class:`TrainConfig` expects when :obj:`value`
    breaks its rule (:data:`TRAIN_RULES`), else :obj:`None` (also for a key
    without a rule)."""
    rule = TRAIN_RULES.get(key)
    if rule is None or rule[0](value):
        return None
    return rule[1]


@dataclass
class TrainConfig:
    r"""Settings of the shared training loop (MMRec defaults).

    Args:
        learning_rate (float): Adam learning rate (default: ``1e-3``).
        weight_decay (float): Adam weight decay (default: ``0.0``).
        batch_size (int): positive pairs per step (default: ``2048``).
        epochs (int): maximum epochs (default: ``1000``).
        patience (int): epochs without a strict improvement of
            ``valid_metric`` before stopping (default: ``20``).
        valid_metric (str): model-selection metric (default: ``recall@20``).
        metrics (list): reported metrics (default: recall, ndcg, precision,
            map, mrr and the list-level coverage, novelty, avg_popularity,
            gini, diversity).
        topk (list): cut-offs (default: ``[5, 10, 20, 50]``).
        eval_batch_size (int): users per scoring batch (default: ``4096``).
        eval_test_each_epoch (bool): also evaluate the test split each epoch
            for curves -- never used for selection (default: ``False``).
        objective (str): ``'auto'`` (the model's native loss if it has one,
            else BPR), ``'bpr'``, ``'bpo'``, ``'nbpo'``, ``'native'``.
        num_negatives (int): negatives per positive; ``0`` means the
            objective's default (BPR 1, NBPO 4) (default: ``0``).
        neg_candidates (str): ``'train'`` (items seen in training, MMRec) or
            ``'all'`` (default: ``'train'``).
        clip_grad_norm (float): gradient clipping, ``0`` = off.
        seed (int): random seed (default: ``999``).
        device (str): ``'cpu'`` or ``'cuda'`` (default: ``'cpu'``).
        top_k_file (int): list length written to ``test_topk.tsv``.
        optimizer (str): the optimiser, a :mod:`torch.optim` class name in
            any case (``'adam'``, ``'sgd'``, ``'adamw'``; resolved by PyG's
            :func:`~torch_geometric.nn.resolver.optimizer_resolver`); Adam
            uses torch's fused kernel where it can (default: ``'adam'``).
        optimizer_params (dict): further keywords of the optimiser
            (e.g. ``{"momentum": 0.9}``; default: ``{}``).
        lr_scheduler (str, optional): a learning-rate schedule stepped once
            at the end of every epoch, a :mod:`torch.optim.lr_scheduler`
            class name (``'exponential'``, ``'step'``, ``'cosine_annealing'``,
            ``'reduce_lr_on_plateau'`` -- stepped with the validation score;
            resolved by PyG's
            :func:`~torch_geometric.nn.resolver.lr_scheduler_resolver`)
            (default: :obj:`None`, a constant rate).
        lr_scheduler_params (dict): keywords of the schedule (e.g.
            ``{"gamma": 0.99}``; default: ``{}``).
        lr_scaling (str): under ``torchrun`` the global batch is
            ``world_size * batch_size``; the learning rate is multiplied by
            ``1`` (``'none'``), ``world_size`` (``'linear'``) or
            ``sqrt(world_size)`` (``'sqrt'``) (default: ``'none'``; no effect
            in one process).
        sampled (bool): train on sampled mini-batch subgraphs
            (:class:`~mmgraph.train.sampled.SubgraphBatches`; models that
            cannot be sampled refuse) instead of the full graph; evaluation
            stays full-graph (default: :obj:`False`).
        num_neighbors (list): fan-out per hop of sampled training, ``-1`` =
            every neighbour (default: ``[10, 10]``).
        item_neighbors (int): fan-out per hop over the item--item kNN
            relation, for models whose item representations aggregate
            propagated kNN neighbours (CM3, LIRDRec); ``-1`` (default) =
            all ``knn_k``, the exact term.
        sparse_features (bool): update only the rows a step read of the
            trainable feature tables of models that read them by row (BM3,
            FREEDOM): their gradients are row-sparse and
            :class:`~mmgraph.train.row_sparse_adam.RowSparseAdam` ("lazy"
            Adam) steps those rows and moments only, instead of Adam's
            table-wide step; the other parameters train with Adam as before.
            Not the references' update (their Adam also decays untouched
            rows' moments); needs ``optimizer='adam'`` (default:
            :obj:`False`).
        item_history (bool): in sampled training, encode only the batch's
            positives and negatives with the item MLPs of models that
            compute item inputs from content (CM3, LIRDRec) and read the
            subgraph's other items from a table of their last computed
            inputs, refreshed at each epoch's start
            (:class:`~mmgraph.nn.history.ItemInputHistory`, GNNAutoScale's
            historical embeddings). An approximation, not the references'
            step; needs ``sampled`` (default: :obj:`False`).
        precision (str): ``'bfloat16'`` runs the training forward pass under
            :func:`torch.autocast` (mixed precision: matrix products and
            other dense operations in bfloat16, sparse products, losses and
            the parameters in float32; evaluation always in float32);
            ``'float32'`` (default) does not.
    """
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 2048
    epochs: int = 1000
    patience: int = 20
    valid_metric: str = "recall@20"
    metrics: List[str] = field(
        default_factory=lambda: ["recall", "ndcg", "precision", "map", "mrr", "coverage", "novelty", "avg_popularity", "gini", "diversity"])  # noqa: E501
    topk: List[int] = field(default_factory=lambda: [5, 10, 20, 50])
    eval_batch_size: int = 4096
    eval_test_each_epoch: bool = False
    objective: str = "auto"
    num_negatives: int = 0
    neg_candidates: str = "train"
    clip_grad_norm: float = 0.0
    seed: int = 999
    device: str = "cpu"
    top_k_file: int = 50
    optimizer: str = "adam"
    optimizer_params: Dict[str, Any] = field(default_factory=dict)
    lr_scheduler: Optional[str] = None
    lr_scheduler_params: Dict[str, Any] = field(default_factory=dict)
    lr_scaling: str = "none"
    sampled: bool = False
    num_neighbors: List[int] = field(default_factory=lambda: [10, 10])
    item_neighbors: int = -1
    sparse_features: bool = False
    item_history: bool = False
    precision: str = "float32"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, where: str = "TrainConfig") -> "TrainConfig":
        r"""Raises :class:`ConfigError` (one line: ``<where> <field>:
        expected ..., got ...``) for an impossible value (:data:`TRAIN_RULES`)
        or a ``valid_metric`` that is not among the computed ``metrics`` at
        a ``topk`` cut-off; returns ``self``. Runs on construction."""
        for key, value in self.to_dict().items():
            expected = check_train_value(key, value)
            if expected is not None:
                raise ConfigError(f"{where} {key}: expected {expected}, "
                                  f"got {value!r}")
        name, _, k = self.valid_metric.partition("@")
        if name.lower() not in [str(m).lower() for m in self.metrics] or \
                int(k) not in self.topk:
            raise ConfigError(
                f"{where} valid_metric: {self.valid_metric!r} is not "
                f"computed (metrics={self.metrics}, topk={self.topk})")
        return self

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def grid_values(value: Any, list_valued: bool) -> Optional[List[Any]]:
    r"""The values a grid takes for a setting given :obj:`value`, or
    :obj:`None` when :obj:`value` is one value.

    A list is a grid axis, except for a setting whose own value is a list
    (:obj:`list_valued`: ``topk``, ``metrics``, ``num_neighbors``, a model's
    list-valued argument): there only a list of lists is an axis (a grid
    over fan-outs ``[[10, 10], [5, 5]]``). The grid expansion
    (:func:`mmgraph.experiment.resolve.expand_grid`) and the CLI's value
    checks both use this rule."""
    if not isinstance(value, list):
        return None
    if not list_valued:
        return value
    if value and all(isinstance(v, list) for v in value):
        return value
    return None


def list_valued_train_keys() -> frozenset:
    r"""The :class:`TrainConfig` settings whose value is itself a list."""
    return frozenset(k for k, v in TrainConfig().to_dict().items()
                     if isinstance(v, (list, tuple)))


@dataclass
class ObjectiveConfig:
    r"""Which training objective, with its keywords.

    Args:
        name (str): a registered objective (``'bpr'``, ``'nbpo'``,
            ``'native'``, ...) or ``'auto'`` (the model's native loss if it
            has one, else BPR) (default: ``'auto'``).
        params (dict): keywords of the objective's constructor (default:
            ``{}``).
    """
    name: str = "auto"
    params: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class DataConfig:
    r"""Where a dataset comes from and how its item graphs are built.

    Args:
        source (str): ``'synthetic'`` or the path of a prepared MMRec folder
            (default: ``'synthetic'``).
        name (str, optional): the interaction-file stem when the folder
            holds several (default: :obj:`None`).
        knn_k (int): :math:`k` of the kNN item graphs (default: ``10``).
        mm_image_weight (float): image weight of the fused kNN graph
            (default: ``0.1``).
        params (dict): further keywords of the synthetic generator
            (default: ``{}``).
    """
    source: str = "synthetic"
    name: Optional[str] = None
    knn_k: int = 10
    mm_image_weight: float = 0.1
    params: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)
