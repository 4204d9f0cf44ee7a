r"""Full-ranking evaluation with training-item masking (the MMRec protocol)."""
from __future__ import annotations

from typing import Dict, Iterable, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from mmgraph.evaluation.metrics import compute_metrics, parse_metric_name
from mmgraph.distributed import all_reduce_sum, shard

__all__ = ["Evaluator", "DEFAULT_METRICS", "DEFAULT_TOPK"]

DEFAULT_METRICS: Tuple[str, ...] = ("recall", "ndcg", "precision", "map")
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
    """

    def __init__(self, dataset, metrics: Iterable[str] = DEFAULT_METRICS,
                 topk: Sequence[int] = DEFAULT_TOPK,
                 batch_size: int = 4096) -> None:
        self.dataset = dataset
        self.metrics = [m.lower() for m in metrics]
        for m in self.metrics:
            parse_metric_name(f"{m}@1")
        self.topk = sorted(int(k) for k in topk)
        if not self.topk or self.topk[0] < 1:
            raise ValueError(f"Evaluator: topk must be positive, got {topk}")
        self.batch_size = int(batch_size)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(metrics={self.metrics}, "
                f"topk={self.topk}, batch_size={self.batch_size})")

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
    def evaluate(self, model, split: Union[str, Tensor] = "valid",
                 mask_edge_index: Optional[Tensor] = None,
                 embeddings: Optional[Tuple[Tensor, Tensor]] = None,
                 per_user: bool = False) -> Dict[str, float]:
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
            ``{'recall@20': float, ...}`` averaged over the evaluated users,
            plus ``'num_users'``.
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
        # Under torch.distributed each rank ranks its share of the users and
        # the per-user sums are added up (a no-op on one process).
        users, num_targets = shard(users), shard(num_targets)
        ranked = self.rank(model, users, max_k, mask_edge_index, embeddings)
        keys = users.unsqueeze(1) * ds.num_items + ranked
        pos = torch.searchsorted(target_keys, keys).clamp(
            max=target_keys.numel() - 1)
        hits = target_keys[pos] == keys
        values = compute_metrics(hits, num_targets, self.metrics, topk)
        names = list(values)
        sums = all_reduce_sum(torch.stack(
            [values[k].double().sum() for k in names]
            + [torch.tensor(float(users.numel()), dtype=torch.double,
                            device=device)]))
        count = sums[-1].clamp(min=1)
        result: Dict[str, float] = {
            key: float(sums[i] / count) for i, key in enumerate(names)}
        result["num_users"] = int(sums[-1])
        if per_user:
            result["per_user"] = {k: v.cpu() for k, v in values.items()}
            result["users"] = users.cpu()
        return result
