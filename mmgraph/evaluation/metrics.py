r"""Top-k ranking metrics with MMRec's definitions, vectorised in torch.

Every metric is computed from a boolean hit matrix ``hits[u, r]`` (1 if the
item at rank ``r + 1`` of user ``u``'s top-K list is one of the user's
held-out items :math:`T_u`) and the number of held-out items per user
:math:`|T_u|`. Values are per-user and averaged over the evaluated users:

.. math::
    \mathrm{Recall@k} &= \frac{\sum_{r \le k} h_u(r)}{|T_u|} \\
    \mathrm{Precision@k} &= \frac{\sum_{r \le k} h_u(r)}{k} \\
    \mathrm{NDCG@k} &= \frac{\sum_{r \le k} h_u(r) / \log_2(r+1)}
        {\sum_{r=1}^{\min(|T_u|, k)} 1 / \log_2(r+1)} \\
    \mathrm{MAP@k} &= \frac{1}{\min(|T_u|, k)} \sum_{r \le k} h_u(r)\,
        \frac{\sum_{s \le r} h_u(s)}{r} \\
    \mathrm{Hit@k} &= \mathbb{1}\left[\sum_{r \le k} h_u(r) > 0\right] \\
    \mathrm{F1@k} &= \frac{2 P R}{P + R} \quad (0 \text{ if } P + R = 0)

Recall divides by :math:`|T_u|`, not :math:`\min(|T_u|, k)` (MMRec's rule).
F1 is NBPO's per-user F1 of the top-k set (Yu & Qin, SIGIR 2020).
"""
from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Sequence

import torch
from torch import Tensor

__all__ = [
    "METRICS", "recall", "precision", "ndcg", "map_at_k", "hit", "f1",
    "compute_metrics", "parse_metric_name",
]


def recall(hits: Tensor, num_targets: Tensor, k: int) -> Tensor:
    r"""Per-user Recall@k: hits in the top-k divided by :math:`|T_u|`."""
    return hits[:, :k].sum(1).float() / num_targets.float()


def precision(hits: Tensor, num_targets: Tensor, k: int) -> Tensor:
    r"""Per-user Precision@k: hits in the top-k divided by :math:`k`."""
    return hits[:, :k].sum(1).float() / k


def _discounts(k: int, device: torch.device) -> Tensor:
    return 1.0 / torch.log2(torch.arange(2, k + 2, device=device).float())


def ndcg(hits: Tensor, num_targets: Tensor, k: int) -> Tensor:
    r"""Per-user binary NDCG@k with the ideal DCG over
    :math:`\min(|T_u|, k)` positions."""
    disc = _discounts(k, hits.device)
    dcg = (hits[:, :k].float() * disc).sum(1)
    ideal_cum = disc.cumsum(0)
    ideal = ideal_cum[(num_targets.clamp(max=k) - 1).clamp(min=0)]
    return dcg / ideal


def map_at_k(hits: Tensor, num_targets: Tensor, k: int) -> Tensor:
    r"""Per-user MAP@k normalised by :math:`\min(|T_u|, k)`."""
    h = hits[:, :k].float()
    ranks = torch.arange(1, k + 1, device=hits.device).float()
    precision_at_r = h.cumsum(1) / ranks
    return (h * precision_at_r).sum(1) / num_targets.clamp(max=k).float()


def hit(hits: Tensor, num_targets: Tensor, k: int) -> Tensor:
    r"""Per-user Hit@k: 1 if any held-out item is in the top-k."""
    return (hits[:, :k].sum(1) > 0).float()


def f1(hits: Tensor, num_targets: Tensor, k: int) -> Tensor:
    r"""Per-user F1@k of the top-k set (NBPO's metric)."""
    p = precision(hits, num_targets, k)
    r = recall(hits, num_targets, k)
    denom = p + r
    return torch.where(denom > 0, 2 * p * r / denom.clamp(min=1e-12),
                       torch.zeros_like(denom))


MetricFn = Callable[[Tensor, Tensor, int], Tensor]

#: Metric name (lower case, as in result keys) -> per-user function.
METRICS: Dict[str, MetricFn] = {
    "recall": recall,
    "ndcg": ndcg,
    "precision": precision,
    "map": map_at_k,
    "hit": hit,
    "f1": f1,
}


def parse_metric_name(name: str) -> tuple[str, int]:
    r"""Split ``'recall@20'`` into ``('recall', 20)``, with a clear error."""
    try:
        metric, k = name.lower().split("@")
        k_int = int(k)
    except ValueError:
        raise ValueError(f"metric name {name!r}: expected '<metric>@<k>', "
                         f"e.g. 'recall@20'") from None
    if metric not in METRICS:
        raise ValueError(f"metric name {name!r}: unknown metric {metric!r}; "
                         f"expected one of {sorted(METRICS)}")
    if k_int < 1:
        raise ValueError(f"metric name {name!r}: k must be >= 1")
    return metric, k_int


def compute_metrics(hits: Tensor, num_targets: Tensor, metrics: Iterable[str],
                    topk: Sequence[int]) -> Dict[str, Tensor]:
    r"""Per-user values of every ``metric@k``.

    Args:
        hits (Tensor): boolean ``[num_users, K]`` hit matrix, ``K >= max(topk)``.
        num_targets (Tensor): ``[num_users]`` held-out items per user (> 0).
        metrics (Iterable[str]): metric names, e.g. ``['recall', 'ndcg']``.
        topk (Sequence[int]): cut-offs.

    Returns:
        A dict ``{'recall@20': Tensor[num_users], ...}``.
    """
    out: Dict[str, Tensor] = {}
    for name in metrics:
        fn = METRICS[name.lower()]
        for k in topk:
            if k > hits.size(1):
                raise ValueError(f"k={k} exceeds the ranked list length "
                                 f"{hits.size(1)}")
            out[f"{name.lower()}@{k}"] = fn(hits, num_targets, k)
    return out


def metric_keys(metrics: Iterable[str], topk: Iterable[int]) -> List[str]:
    r"""The result keys ``metric@k`` in a stable order."""
    return [f"{m.lower()}@{k}" for m in metrics for k in topk]
