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

from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from mmgraph.registry import Registry

__all__ = ["OBJECTIVES", "Objective", "register_objective", "create_objective",
           "list_objectives", "objective_hparams", "resolve_objective_name"]


#: The registry of objectives. Importing this module imports the package
#: ``mmgraph.train.objectives`` first, which registers every built-in.
OBJECTIVES: Registry = Registry("objective")


def register_objective(name: str) -> Callable[[type], type]:
    r"""Class decorator registering an :class:`Objective` under ``name``."""
    return OBJECTIVES.register(name)


def list_objectives() -> List[str]:
    r"""Registered objective names, sorted."""
    return OBJECTIVES.names()


def objective_hparams(name: str) -> Dict[str, Any]:
    r"""Keyword defaults of objective ``name`` (its config section)."""
    return OBJECTIVES.defaults(name)


def resolve_objective_name(model, name: str = "auto") -> str:
    r"""The objective a run of ``model`` (a :class:`Recommender` or its
    class) uses: ``name`` itself, or for ``'auto'`` the model's native loss
    if it has one (``native_loss``), else BPR. The one home of the
    ``'auto'`` rule."""
    if name != "auto":
        return name
    return "native" if getattr(model, "native_loss", False) else "bpr"


def create_objective(name: str, model, dataset, **kwargs: Any) -> "Objective":
    r"""Builds objective ``name`` for ``model`` on ``dataset``."""
    cls = OBJECTIVES.get(name)
    OBJECTIVES.check_kwargs(name, kwargs)
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
