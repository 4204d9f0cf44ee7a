r"""The unlearning protocol (MMRecUn, AAAI 2025;
docs/unlearning.md): what a model still knows
about the forget set, and its quality on the retained data."""
from __future__ import annotations

import copy
from typing import Dict, Optional, Sequence

from torch import Tensor

from mmgraph.evaluation import Evaluator

__all__ = ["unlearning_metrics", "all_items_view"]


def all_items_view(dataset):
    r"""A view of ``dataset`` without a catalogue mask: forget metrics
    measure what the model still knows about removed items."""
    if getattr(dataset, "excluded_items", None) is None:
        return dataset
    view = copy.copy(dataset)
    view.excluded_items = None
    return view


def unlearning_metrics(model, retain_dataset, forget_edge_index: Tensor,
                       train_edge_index: Optional[Tensor] = None,
                       metrics: Sequence[str] = ("recall", "ndcg"),
                       topk: Sequence[int] = (10, 20),
                       batch_size: int = 4096,
                       splits: Sequence[str] = ("valid", "test")
                       ) -> Dict[str, Dict[str, float]]:
    r"""The unlearning protocol (MMRecUn, AAAI 2025; docs/unlearning.md),
    one embeddings pass:

    * ``'forget'``: the forget edges as targets, the **retained** training
      items masked (lower is better; compare with the gold model). Items
      taken out of the catalogue are *not* masked here, so the numbers show
      what the model still knows about them;
    * ``'valid'`` / ``'test'``: the retain dataset's held-out splits (users
      that lost all their training data are dropped), masking the model's
      **own** training interactions (``train_edge_index``, default the
      retain set; the original model's is the full set) and the removed
      items.

    The model keeps its own graph: the original is scored on the full
    training graph, the unlearned and gold models on :math:`D_r`.
    """
    emb = Evaluator(retain_dataset).embeddings(model)
    out = {"forget": Evaluator(all_items_view(retain_dataset), metrics, topk,
                               batch_size)
           .evaluate(model, forget_edge_index,
                     mask_edge_index=retain_dataset.train_edge_index,
                     embeddings=emb)}
    ev = Evaluator(retain_dataset, metrics, topk, batch_size)
    for split in splits:
        out[split] = ev.evaluate(model, split,
                                 mask_edge_index=train_edge_index,
                                 embeddings=emb)
    return out
