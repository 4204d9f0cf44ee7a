r"""The objective interface and registry.

An objective turns a :class:`~mmgraph.models.Batch` and a model into a loss.
Pairwise and point-wise objectives (BPR, BPO, NBPO, reverse BPR) only need
the model's :meth:`~mmgraph.models.Recommender.embeddings` (whose inner
products are the scores) and its :meth:`~mmgraph.models.Recommender.extra_loss`
(the model's own regulariser), so every registered model trains with every
objective. Objectives may own parameters (NBPO's flip model); the trainer
optimises them too, with the objective's own learning rate if it sets one.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from mmgraph.errors import did_you_mean

__all__ = ["Objective", "register_objective", "create_objective",
           "list_objectives", "objective_hparams", "resolve_objective_name"]

_OBJECTIVES: Dict[str, type] = {}


def register_objective(name: str) -> Callable[[type], type]:
    r"""Class decorator registering an :class:`Objective` under ``name``."""
    def wrap(cls: type) -> type:
        _OBJECTIVES[name] = cls
        cls.registry_name = name
        return cls
    return wrap


def _get(name: str) -> type:
    import mmgraph.train.objectives  # noqa: F401  (registers built-ins)
    if name not in _OBJECTIVES:
        raise KeyError(f"unknown objective {name!r}; available: "
                       f"{', '.join(sorted(_OBJECTIVES))}."
                       f"{did_you_mean(name, _OBJECTIVES)}")
    return _OBJECTIVES[name]


def list_objectives() -> List[str]:
    import mmgraph.train.objectives  # noqa: F401
    return sorted(_OBJECTIVES)


def objective_hparams(name: str) -> Dict[str, Any]:
    r"""Keyword defaults of objective ``name`` (its config section)."""
    sig = inspect.signature(_get(name).__init__)
    return {p.name: p.default for p in sig.parameters.values()
            if p.name not in ("self", "dataset", "model")
            and p.default is not inspect.Parameter.empty}


def resolve_objective_name(name: str, model) -> str:
    r"""The objective a run of ``model`` (an instance or a model class)
    uses for ``name``: ``'auto'`` is the model's native loss if it has one
    (:attr:`~mmgraph.models.Recommender.native_loss`), else BPR; any other
    name is itself. The one home of the ``'auto'`` rule."""
    if name != "auto":
        return name
    return "native" if getattr(model, "native_loss", False) else "bpr"


def create_objective(name: str, model, dataset, **kwargs: Any) -> "Objective":
    r"""Builds objective ``name`` for ``model`` on ``dataset``."""
    cls = _get(name)
    valid = objective_hparams(name)
    for key in kwargs:
        if key not in valid:
            raise KeyError(f"objective {name!r} has no parameter {key!r}."
                           f"{did_you_mean(key, valid)}")
    return cls(model, dataset, **kwargs)


class Objective(torch.nn.Module):
    r"""Base class of training objectives.

    Attributes:
        default_negatives (int): negatives per positive the objective expects
            when the config leaves ``num_negatives`` at 0.
        learning_rate (float, optional): a learning rate for the objective's
            own parameters (``None`` = the model's).
        step_terms (tuple of str): output keys kept with their graph.
    """
    default_negatives: int = 1
    learning_rate: Optional[float] = None
    #: Output keys that keep their autograd graph: parts of ``'loss'`` a
    #: trainer may step with an optimiser of their own
    #: (:attr:`~mmgraph.train.Trainer.term_optimizers`); never logged.
    step_terms: Tuple[str, ...] = ()

    def __init__(self, model, dataset) -> None:
        super().__init__()

    def forward(self, model, batch) -> Dict[str, Tensor]:
        r"""Returns a dict with at least ``'loss'`` (a scalar to minimise)."""
        raise NotImplementedError

    def on_epoch_start(self, epoch: int) -> None:
        r"""Per-epoch hook (e.g. a learning-rate decay of own parameters)."""
