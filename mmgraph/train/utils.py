r"""Small utilities of the training loop: seeding, the optimiser and the
learning-rate schedule."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

import torch

from mmgraph.config import ConfigError

__all__ = ["adam", "make_optimizer", "make_lr_scheduler"]


def adam(params: Iterable[Any], optimizer_class: type = torch.optim.Adam,
         **kwargs: Any) -> torch.optim.Adam:
    r""":class:`torch.optim.Adam` (or a subclass, :obj:`optimizer_class`,
    e.g. :class:`~mmgraph.train.row_sparse_adam.RowSparseAdam`) with the
    fused kernel where torch supports it for these parameters (the same
    update rule; on CPU the step over a model's embedding tables is about 3x
    faster than the default ``foreach`` implementation, see
    ``benchmarks/bench_training.py``), else the default implementation.
    ``params`` and ``kwargs`` as for Adam."""
    params = list(params)
    if "fused" in kwargs or "foreach" in kwargs:
        return optimizer_class(params, **kwargs)
    try:
        return optimizer_class(params, fused=True, **kwargs)
    except (RuntimeError, ValueError, TypeError):
        return optimizer_class(params, **kwargs)


def make_optimizer(name: str, groups: List[Dict[str, Any]],
                   **params: Any) -> torch.optim.Optimizer:
    r"""The optimiser ``name`` over parameter ``groups``: ``'adam'`` is
    :func:`adam` (fused where possible), any other :mod:`torch.optim` class
    is resolved by name with PyG's
    :func:`~torch_geometric.nn.resolver.optimizer_resolver` (``'sgd'``,
    ``'adamw'``, ``'rmsprop'``, any case or spelling PyG accepts)."""
    if str(name).lower() == "adam":
        return adam(groups, **params)
    from torch_geometric.nn.resolver import optimizer_resolver
    try:
        return optimizer_resolver(name, groups, **params)
    except ValueError as e:
        if "could not resolve" not in str(e).lower():
            # the optimiser exists and refuses a value (e.g. momentum < 0)
            raise ConfigError(f"train.optimizer_params {params}: optimizer "
                              f"{name!r} refuses them: {e}") from None
        choices = sorted(c.__name__.lower() for c in vars(torch.optim).values()
                         if isinstance(c, type) and
                         issubclass(c, torch.optim.Optimizer) and
                         c is not torch.optim.Optimizer)
        raise ConfigError(f"train.optimizer: unknown optimiser {name!r}; "
                          f"expected one of {', '.join(choices)}") from None


def make_lr_scheduler(name: Optional[str], optimizer: torch.optim.Optimizer,
                      **params: Any):
    r"""The learning-rate schedule ``name`` of ``optimizer`` (:obj:`None`:
    none), resolved by PyG's
    :func:`~torch_geometric.nn.resolver.lr_scheduler_resolver`
    (``'exponential'``, ``'step'``, ``'reduce_lr_on_plateau'``, ...)."""
    if name is None or str(name).lower() in ("", "none", "constant"):
        return None
    from torch_geometric.nn.resolver import lr_scheduler_resolver
    try:
        return lr_scheduler_resolver(name, optimizer, **params)
    except ValueError as e:
        raise ConfigError(f"train.lr_scheduler: {e}") from None
