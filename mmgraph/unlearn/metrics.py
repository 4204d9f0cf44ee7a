r"""The unlearning protocol (MMRecUn, AAAI 2025;
docs/unlearning.md): what a model still knows
about the forget set, and its quality on the retained data."""
from __future__ import annotations

import copy
from typing import Dict, List, Optional, Sequence

from torch import Tensor

from mmgraph.evaluation import Evaluator

__all__ = ["unlearning_metrics", "all_items_view", "fresh_rows_forget",
           "reinitialize_rows"]


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


def fresh_rows_forget(model, evaluator: Evaluator, forget_edge_index: Tensor,
                      kind: str, ids: Tensor, num_users: int, num_items: int,
                      draws: int = 3, seed: int = 0) -> Dict[str, float]:
    r"""The forget score of ``model`` with the requested users' (items')
    **own rows re-initialised**: an estimate of what a model retrained
    without them (gold) scores on the forget set.

    In a retrained model a forgotten user (item) has no training pair, so
    no loss term reaches its ID rows and they stay at their initialisation;
    everything else was trained on (nearly) the same data. So every
    parameter with one row per user (``kind='users'``) or per item
    (``'items'``), and every joint ``[U + I, d]`` table (users first, the
    library's convention), gets the ``ids`` rows of a fresh initialisation
    (:meth:`reset_parameters` under a forked, seeded RNG); the model scores
    the forget edges; the scores are averaged over ``draws``
    initialisations. Trainable feature tables go back to the raw features,
    and a model that scores items from content (FREEDOM's kNN graph, the
    CM3/LIRDRec MLPs) keeps scoring a removed item through them, as gold
    does. The model's state is restored afterwards, bit for bit.

    Measured on amazon-beauty (LightGCN, 3-epoch original, 5 % of users):
    0.015-0.020 over three draws against the gold model's 0.0155; the
    held-out-pairs estimate gave 0.078.
    """
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    totals: Dict[str, float] = {}
    try:
        # Each draw overwrites the same rows and keeps every other value,
        # so the original state is restored once, at the end.
        for draw in range(draws):
            reinitialize_rows(model, kind, ids, num_users, num_items,
                              seed=seed + draw)
            scores = evaluator.evaluate(model, forget_edge_index)
            for k, v in scores.items():
                if isinstance(v, (int, float)):
                    totals[k] = totals.get(k, 0.0) + float(v) / draws
    finally:
        model.load_state_dict(state)
    return totals


def reinitialize_rows(model, kind: str, ids: Tensor, num_users: int,
                      num_items: int, seed: int = 0) -> List[str]:
    r"""Gives the requested users' (``kind='users'``) or items' (``'items'``)
    **own rows** a fresh initialisation, in place: the rows of every
    parameter with one row per user (item), and of every joint
    ``[U + I, d]`` table (users first, the library's convention), along the
    first dimension or, for a stack of tables ``[K, N, d]``, the second. The
    fresh
    values come from :meth:`reset_parameters` under a forked RNG seeded
    with ``seed`` (the global RNG is left as it was); every other value
    of the model, buffers included, is kept. Returns the names of the
    parameters touched.

    This is what a model retrained without the request holds in those rows
    (no loss term reaches them), so it is both the estimate of the gold
    forget score (:func:`fresh_rows_forget`) and, as ``reinit_rows``, a
    first step of unlearning (:class:`~mmgraph.unlearn.Unlearner`).
    """
    import torch
    if kind not in ("users", "items"):
        raise ValueError(f"reinitialize_rows: kind must be 'users' or "
                         f"'items', got {kind!r}")
    if num_users == num_items:
        raise ValueError("reinitialize_rows: as many users as items, so a "
                         "table's rows do not tell which side they belong to")
    num_rows = num_users if kind == "users" else num_items
    ids = ids.long().cpu()
    joint_ids = ids if kind == "users" else ids + num_users
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    # manual_seed reseeds every CUDA generator too: fork them all
    cuda = list(range(torch.cuda.device_count())) \
        if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        model.reset_parameters()
    fresh = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.load_state_dict(state)
    touched = []
    with torch.no_grad():
        for name, p in model.named_parameters():
            # one row per user (item) along dim 0, or along dim 1 of a
            # stack of such tables ([K, N, d]: CM3's per-channel users)
            for dim in (0, 1) if p.dim() >= 3 else (0, ) if p.dim() else ():
                rows = ids if p.size(dim) == num_rows else joint_ids \
                    if p.size(dim) == num_users + num_items else None
                if rows is not None:
                    rows = rows.to(p.device)
                    p.index_copy_(dim, rows,
                                  fresh[name].index_select(dim, rows))
                    touched.append(name)
                    break
    return touched
