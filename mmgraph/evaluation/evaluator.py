r"""Full-ranking evaluation with training-item masking (the MMRec protocol)."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from mmgraph.evaluation.metrics import (
    CATALOGUE_METRICS, METRICS, compute_catalogue_metrics, compute_list_metrics,
    compute_metrics, expand_metric_names, item_popularity, parse_metric_name,
    recommendation_counts)
from mmgraph.distributed import all_reduce_sum, shard
from mmgraph.runtime import with_system_allocator

__all__ = ["Evaluator", "DEFAULT_METRICS", "DEFAULT_TOPK"]

#: Reported by default: accuracy (MMRec's four and MRR) and beyond accuracy
#: (catalogue coverage, novelty, average popularity, Gini index of the
#: recommendation counts, intra-list diversity in every modality's space).
DEFAULT_METRICS: Tuple[str, ...] = (
    "recall", "ndcg", "precision", "map", "mrr", "coverage", "novelty",
    "avg_popularity", "gini", "diversity")
DEFAULT_TOPK: Tuple[int, ...] = (5, 10, 20, 50)


def _edge_keys(edge_index: Tensor, num_items: int) -> Tensor:
    r"""Sorted unique ``user * num_items + item`` keys of an edge list."""
    return torch.unique(edge_index[0] * num_items + edge_index[1])


class Evaluator:
    r"""Ranks **all** items for every evaluated user, masks the user's
    training items and computes ``metric@k`` for every cut-off.

    Follows MMRec's protocol (Zhou et al., 2023): the evaluated users are
    those with at least one held-out interaction; scores cover every item,
    including items never seen in training; only *training* items are masked
    (validation items stay candidates when testing). Embeddings are computed
    **once** per evaluation, in eval mode; users are scored in batches with
    one matrix product and a masked top-k, and metrics are computed in torch
    from the hit matrix (see :mod:`mmgraph.evaluation.metrics`).

    Args:
        dataset: a :class:`~mmgraph.data.RecDataset`.
        metrics (Iterable[str]): metric names (default: recall, ndcg,
            precision, map).
        topk (Sequence[int]): cut-offs (default: 5, 10, 20, 50).
        batch_size (int): users scored per batch (default: 4096).
        cold (bool, optional): report cold-item metrics; ``None`` (default)
            does when the dataset records cold items
            (``dataset.cold_items``, see ``prepare --cold-items``),
            :obj:`True` requires it.

    **Beyond accuracy.** ``coverage`` and ``gini`` are computed from the
    recommendation counts of every item summed over all evaluated users
    (all ranks under :mod:`torch.distributed`); ``novelty``,
    ``avg_popularity`` and ``diversity`` are per-user and averaged like the
    accuracy metrics. ``diversity`` becomes one ``diversity_<m>@k`` per
    modality of the dataset (see :mod:`mmgraph.evaluation.metrics`). All
    are computed from the same top-K lists as the accuracy metrics.

    **Cold items.** When the dataset records cold items (items with no
    training interaction, whose held-out interactions are in validation or
    test), the held-out interactions with cold items are evaluated on their
    own, for the users that have one (``cold_num_users``):
    ``cold_<metric>@k`` ranks among **all** items (the same top-K lists),
    ``cold_among_cold_<metric>@k`` ranks among the cold items only
    (``k`` up to the number of cold items). Only the hit metrics are
    reported for them. A model whose class says
    ``scores_from_content = False`` (an ID-only model: its cold items have
    untrained embeddings) gets no cold metrics but a ``cold_note``
    explaining why, so a random ranking is never reported as a result.
    """

    def __init__(self, dataset, metrics: Iterable[str] = DEFAULT_METRICS,
                 topk: Sequence[int] = DEFAULT_TOPK,
                 batch_size: int = 4096, cold: Optional[bool] = None) -> None:
        self.dataset = dataset
        self.metrics = [m.lower() for m in metrics]
        for m in self.metrics:
            parse_metric_name(f"{m}@1")
        self.cold = cold
        self.topk = sorted(int(k) for k in topk)
        if not self.topk or self.topk[0] < 1:
            raise ValueError(f"Evaluator: topk must be positive, got {topk}")
        self.batch_size = int(batch_size)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(metrics={self.metrics}, "
                f"topk={self.topk}, batch_size={self.batch_size}, "
                f"cold={self.cold})")

    @torch.no_grad()
    def embeddings(self, model) -> Tuple[Tensor, Tensor]:
        r"""All user and item representations, computed once in eval mode."""
        was_training = model.training
        model.eval()
        try:
            return model.embeddings()
        finally:
            model.train(was_training)

    @torch.no_grad()
    def rank(self, model, users: Tensor, k: int,
             mask_edge_index: Optional[Tensor] = None,
             embeddings: Optional[Tuple[Tensor, Tensor]] = None) -> Tensor:
        r"""Top-``k`` item ids for ``users`` with masked items excluded.

        Args:
            model: a :class:`~mmgraph.models.Recommender`.
            users (Tensor): user ids ``[B]``.
            k (int): list length.
            mask_edge_index (Tensor, optional): ``(user, item)`` pairs never to
                recommend (default: the training interactions).
            embeddings (tuple, optional): precomputed ``(users, items)``.
        """
        ds = self.dataset
        if embeddings is None:
            embeddings = self.embeddings(model)
        mask = ds.train_edge_index if mask_edge_index is None \
            else mask_edge_index
        device = embeddings[1].device
        users = users.to(device)
        mask_keys = _edge_keys(mask.to(device), ds.num_items)
        out = []
        for start in range(0, users.numel(), self.batch_size):
            batch = users[start:start + self.batch_size]
            scores = model.score(batch, embeddings)
            self._mask_(scores, batch, mask_keys)
            out.append(scores.topk(min(k, ds.num_items), dim=1).indices)
        if not out:
            return torch.empty(0, k, dtype=torch.long)
        return torch.cat(out, 0)

    def _mask_(self, scores: Tensor, users: Tensor, mask_keys: Tensor) -> None:
        r"""Sets the scores of masked (user, item) pairs to ``-inf`` in place.

        The sorted key array is sliced per user batch with two binary
        searches, so masking never loops over users or interactions. Items
        taken out of the catalogue (``dataset.excluded_items``, set when an
        unlearning request removes items) are masked for every user."""
        excluded = getattr(self.dataset, "excluded_items", None)
        if excluded is not None and excluded.numel():
            scores[:, excluded.to(scores.device)] = float("-inf")
        n = self.dataset.num_items
        lo = users.min() * n
        hi = (users.max() + 1) * n
        start = torch.searchsorted(mask_keys, lo)
        end = torch.searchsorted(mask_keys, hi)
        keys = mask_keys[start:end]
        if keys.numel() == 0:
            return
        row_of_user = torch.full((int(users.max() - users.min()) + 1,), -1,
                                 dtype=torch.long, device=scores.device)
        row_of_user[users - users.min()] = torch.arange(
            users.numel(), device=scores.device)
        rows = row_of_user[keys // n - users.min()]
        keep = rows >= 0
        scores[rows[keep], (keys % n)[keep]] = float("-inf")

    @torch.no_grad()
    @with_system_allocator()  # chunks of varying size: no fragmented heap
    def evaluate(self, model, split: Union[str, Tensor] = "valid",
                 mask_edge_index: Optional[Tensor] = None,
                 embeddings: Optional[Tuple[Tensor, Tensor]] = None,
                 per_user: bool = False) -> Dict[str, Any]:
        r"""Evaluates ``model`` on a split.

        Args:
            model: a :class:`~mmgraph.models.Recommender`.
            split (str or Tensor): ``'valid'``, ``'test'``, ``'train'`` or an
                explicit ``(user, item)`` target edge list ``[2, E]`` (e.g.
                the forget set of an unlearning request).
            mask_edge_index (Tensor, optional): pairs excluded from the
                ranking (default: the training interactions).
            embeddings (tuple, optional): precomputed ``(users, items)``.
            per_user (bool): also return per-user values under the key
                ``'per_user'`` (default: :obj:`False`).

        Returns:
            ``{'recall@20': float, ...}`` averaged over the evaluated users
            (catalogue metrics such as ``coverage@20`` over all of them),
            plus ``'num_users'``; with cold items, the ``cold_*`` keys (see
            the class description).
        """
        ds = self.dataset
        targets = ds.split_edge_index(split) if isinstance(split, str) \
            else split
        if targets.numel() == 0:
            name = split if isinstance(split, str) else "given targets"
            raise ValueError(f"Evaluator: the {name} split has no "
                             f"interactions to evaluate on")
        if embeddings is None:
            embeddings = self.embeddings(model)
        device = embeddings[1].device
        targets = targets.to(device)
        target_keys = _edge_keys(targets, ds.num_items)
        users, num_targets = torch.unique(target_keys // ds.num_items,
                                          return_counts=True)
        max_k = min(self.topk[-1], ds.num_items)
        topk = [k for k in self.topk if k <= max_k]
        names = expand_metric_names(self.metrics, _modalities(ds))
        # Under torch.distributed each rank ranks its share of the users;
        # per-user values are summed and so are the catalogue counts (a
        # no-op on one process).
        users, num_targets = shard(users), shard(num_targets)
        ranked = self.rank(model, users, max_k, mask_edge_index, embeddings)
        values = compute_metrics(_hits(ranked, users, target_keys,
                                       ds.num_items), num_targets,
                                 [m for m in names if m in METRICS], topk)
        values.update(compute_list_metrics(
            ranked, names, topk,
            item_popularity(ds.train_edge_index.to(device), ds.num_items),
            getattr(ds, "features", None)))
        groups: List[Tuple[str, Dict[str, Tensor], int]] = [
            ("", values, users.numel())]
        cold = self._cold_items(targets) if isinstance(split, str) else None
        note = None
        if cold is not None:
            if getattr(model, "scores_from_content", False):
                groups += self._cold_groups(
                    model, cold, targets, users, ranked, names, topk,
                    mask_edge_index, embeddings)
            else:
                note = (f"{model.__class__.__name__} scores items from ID "
                        f"embeddings only (scores_from_content=False): a cold "
                        f"item has no trained embedding, so cold-item "
                        f"metrics are not reported")
        catalogue = [m for m in names if m in CATALOGUE_METRICS and topk]
        counts = recommendation_counts(ranked, topk, ds.num_items) \
            if catalogue else None
        # One collective for everything: the per-user sums and user count
        # of every group, then the catalogue counts.
        parts = []
        for _, vals, n in groups:
            parts += [v.double().sum().reshape(1) for v in vals.values()]
            parts.append(torch.tensor([float(n)], dtype=torch.double,
                                      device=device))
        if counts is not None:
            parts.append(counts.double().reshape(-1))
        sums = all_reduce_sum(torch.cat(parts))
        result: Dict[str, Any] = {}
        pos = 0
        for prefix, vals, _ in groups:
            count = sums[pos + len(vals)]
            for i, key in enumerate(vals):
                result[prefix + key] = float(sums[pos + i] / count.clamp(min=1))
            result[prefix + "num_users"] = int(count)
            pos += len(vals) + 1
        if counts is not None:
            result.update(compute_catalogue_metrics(
                sums[pos:].view(len(topk), ds.num_items), catalogue, topk))
        if cold is not None:
            # both counts, so a report can state the chance levels k/I, k/C
            result["cold_items"] = int(cold.numel())
            result["num_items"] = int(ds.num_items)
            if note is not None:
                result["cold_note"] = note
        if per_user:
            result["per_user"] = {k: v.cpu() for k, v in values.items()}
            result["users"] = users.cpu()
        return result

    # ------------------------------------------------------------ cold items
    def _cold_items(self, targets: Tensor) -> Optional[Tensor]:
        r"""The cold items when cold-item metrics apply, else ``None``."""
        if self.cold is False:
            return None
        cold = getattr(self.dataset, "cold_items", None)
        if cold is None or cold.numel() == 0:
            if self.cold:
                raise ValueError(f"Evaluator(cold=True): dataset "
                                 f"{getattr(self.dataset, 'name', '')!r} "
                                 f"records no cold items (prepare it with "
                                 f"--cold-items)")
            return None
        cold = cold.to(targets.device)
        # The same decision on every rank: the targets are not sharded yet.
        if not torch.isin(targets[1], cold).any():
            return None
        return cold

    def _cold_groups(self, model, cold: Tensor, targets: Tensor,
                     users: Tensor, ranked: Tensor, names: Sequence[str],
                     topk: Sequence[int], mask_edge_index: Optional[Tensor],
                     embeddings: Tuple[Tensor, Tensor]
                     ) -> List[Tuple[str, Dict[str, Tensor], int]]:
        r"""The ``cold_`` (ranked among all items) and ``cold_among_cold_``
        (ranked among the cold items) groups of per-user values, for this
        rank's users with a held-out cold item."""
        ds = self.dataset
        hit_names = [m for m in names if m in METRICS]
        cold_targets = targets[:, torch.isin(targets[1], cold)]
        cold_keys = _edge_keys(cold_targets, ds.num_items)
        cold_users, n_cold = torch.unique(cold_keys // ds.num_items,
                                          return_counts=True)
        # Every cold user is an evaluated user of exactly one rank: keep the
        # local ones (their rows of the full ranking are reused).
        local = torch.isin(users, cold_users)
        mine = users[local]
        n_mine = n_cold[torch.searchsorted(cold_users, mine)]
        among_all = compute_metrics(
            _hits(ranked[local], mine, cold_keys, ds.num_items), n_mine,
            hit_names, topk)
        k_cold = [k for k in topk if k <= cold.numel()]
        mask = ds.train_edge_index if mask_edge_index is None \
            else mask_edge_index
        mask_keys = _edge_keys(mask.to(cold.device), ds.num_items)
        out = []
        for start in range(0, mine.numel(), self.batch_size):
            batch = mine[start:start + self.batch_size]
            scores = model.score(batch, embeddings)
            self._mask_(scores, batch, mask_keys)
            top = scores[:, cold].topk(k_cold[-1], dim=1).indices \
                if k_cold else scores.new_zeros(batch.numel(), 0).long()
            out.append(cold[top])
        ranked_cold = torch.cat(out, 0) if out else \
            ranked.new_zeros(0, k_cold[-1] if k_cold else 0)
        among_cold = compute_metrics(
            _hits(ranked_cold, mine, cold_keys, ds.num_items), n_mine,
            hit_names, k_cold)
        return [("cold_", among_all, mine.numel()),
                ("cold_among_cold_", among_cold, mine.numel())]


def _modalities(dataset) -> List[str]:
    return sorted(getattr(dataset, "features", None) or {})


def _hits(ranked: Tensor, users: Tensor, target_keys: Tensor,
          num_items: int) -> Tensor:
    r"""``hits[u, r]``: whether the item at rank ``r`` of user ``u`` is one
    of the user's targets (given as sorted ``user * I + item`` keys)."""
    if target_keys.numel() == 0 or ranked.numel() == 0:
        return torch.zeros(ranked.shape, dtype=torch.bool,
                           device=ranked.device)
    keys = users.unsqueeze(1) * num_items + ranked
    pos = torch.searchsorted(target_keys, keys).clamp(
        max=target_keys.numel() - 1)
    return target_keys[pos] == keys
