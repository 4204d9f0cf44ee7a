r"""The model's own loss (BM3, CM3 and other self-supervised models)."""
from __future__ import annotations

from typing import Dict

import torch
from torch import Tensor

from mmgraph.config import ConfigError
from mmgraph.train.objectives.base import Objective, register_objective

__all__ = ["NativeObjective", "native_loss_terms"]


@register_objective("native")
class NativeObjective(Objective):
    r"""Delegates to :meth:`~mmgraph.models.Recommender.loss`. A tuple or
    dict of terms is summed (MMRec's convention); the terms are logged."""
    default_negatives = 1

    def __init__(self, model, dataset) -> None:
        super().__init__(model, dataset)
        if not getattr(model, "native_loss", False):
            # A setting the user chose (--objective, train.objective).
            raise ConfigError(f"train.objective 'native' (--objective): "
                              f"{model.__class__.__name__} has no native loss; use "
                              f"objective 'bpr', 'bpo' or 'nbpo'")
        self.default_negatives = 1 if model.uses_negatives else 0

    def forward(self, model, batch) -> Dict[str, Tensor]:
        return native_loss_terms(model, batch)


def native_loss_terms(model, batch) -> Dict[str, Tensor]:
    r"""``model.loss(batch)`` as a dict: ``'loss'`` (the sum of a tuple or
    dict of terms, MMRec's convention) and each named term, detached."""
    out = model.loss(batch)
    if isinstance(out, torch.Tensor):
        return {"loss": out}
    if isinstance(out, (tuple, list)):
        out = {f"term{i}": t for i, t in enumerate(out)}
    total = sum(out.values())
    logged = {k: v.detach() for k, v in out.items() if k != "loss"}
    return {"loss": out.get("loss", total), **logged}
