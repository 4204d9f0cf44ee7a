r"""Configuration dataclasses: plain typed settings, no behaviour.

A leaf module: it imports nothing from mmgraph. Resolving a configuration
against the model and objective registries (defaults, YAML files, ``--set``
overrides, grids) lives in :mod:`mmgraph.experiment`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

__all__ = ["TrainConfig", "ObjectiveConfig", "DataConfig", "ConfigError"]


class ConfigError(ValueError):
    r"""An invalid configuration key or value."""


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
            map).
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

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


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
