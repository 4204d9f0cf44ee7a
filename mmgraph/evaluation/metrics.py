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
    \mathrm{F1@k} &= \frac{2 P R}{P + R} \quad (0 \text{ if } P + R = 0) \\
    \mathrm{MRR@k} &= \max_{r \le k} \frac{h_u(r)}{r}

Recall divides by :math:`|T_u|`, not :math:`\min(|T_u|, k)` (MMRec's rule).
F1 is NBPO's per-user F1 of the top-k set (Yu & Qin, SIGIR 2020).

**Beyond-accuracy metrics** look at the recommended items themselves, not
at the hits. With :math:`L_u^k` the top-k list of user :math:`u`,
:math:`n_i` the number of training interactions of item :math:`i`,
:math:`N = \sum_i n_i`, :math:`I` the number of items and
:math:`c_i^k = |\{u : i \in L_u^k\}|` the number of evaluated users whose
top-k list holds :math:`i`:

.. math::
    \mathrm{Novelty@k} &= \frac{1}{k} \sum_{i \in L_u^k} -\log_2 p(i),
        \qquad p(i) = \frac{n_i + 1}{N + I} \\
    \mathrm{AvgPopularity@k} &= \frac{1}{k} \sum_{i \in L_u^k} n_i \\
    \mathrm{Diversity}_m\mathrm{@k} &= \frac{2}{k(k-1)}
        \sum_{\{i, j\} \subseteq L_u^k} \bigl(1 - \cos(\mathbf{x}^m_i,
        \mathbf{x}^m_j)\bigr) \\
    \mathrm{Coverage@k} &= \frac{|\{i : c_i^k > 0\}|}{I} \\
    \mathrm{Gini@k} &= \frac{\sum_{j=1}^{I} (2j - I - 1)\, c_{(j)}^k}
        {I \sum_j c_{(j)}^k}

Novelty, average popularity and diversity are per-user values averaged over
the evaluated users like the accuracy metrics; :math:`\mathbf{x}^m_i` is
item :math:`i`'s raw feature vector in modality :math:`m` (``text``,
``image``, ...), and a one-item list has diversity 0. Coverage and Gini are
**catalogue-level**: computed once from the counts :math:`c^k` summed over
all evaluated users (:math:`c_{(j)}` sorted ascending).
"""
from __future__ import annotations

from typing import (Callable, Dict, Iterable, List, Mapping, Optional,
                    Sequence)

import torch
from torch import Tensor

__all__ = [
    "METRICS", "LIST_METRICS", "CATALOGUE_METRICS", "recall", "precision",
    "ndcg", "map_at_k", "hit", "f1", "mrr", "item_popularity",
    "self_information", "novelty", "avg_popularity", "intra_list_distance",
    "recommendation_counts", "coverage", "gini", "compute_metrics",
    "compute_list_metrics", "compute_catalogue_metrics", "expand_metric_names",
    "parse_metric_name",
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


def mrr(hits: Tensor, num_targets: Tensor, k: int) -> Tensor:
    r"""Per-user MRR@k: :math:`1/r` for the rank :math:`r` of the first hit
    in the top-k, 0 without a hit."""
    ranks = torch.arange(1, k + 1, device=hits.device).float()
    return (hits[:, :k].float() / ranks).max(1).values


MetricFn = Callable[[Tensor, Tensor, int], Tensor]

#: Metric name (lower case, as in result keys) -> per-user function.
METRICS: Dict[str, MetricFn] = {
    "recall": recall,
    "ndcg": ndcg,
    "precision": precision,
    "map": map_at_k,
    "hit": hit,
    "f1": f1,
    "mrr": mrr,
}


# ---------------------------------------------------------------------------
# beyond accuracy
# ---------------------------------------------------------------------------
def item_popularity(train_edge_index: Tensor, num_items: int) -> Tensor:
    r""":math:`n_i`: training interactions of every item, ``[I]`` (long)."""
    return torch.bincount(train_edge_index[1], minlength=num_items)


def self_information(popularity: Tensor) -> Tensor:
    r""":math:`-\log_2 p(i)` with the add-one popularity share
    :math:`p(i) = (n_i + 1) / (N + I)`, finite also for items without
    training interactions (they get the largest value,
    :math:`\log_2(N + I)`)."""
    pop = popularity.double()
    share = (pop + 1) / (pop.sum() + pop.numel())
    return -torch.log2(share)


def novelty(ranked: Tensor, k: int, info: Tensor) -> Tensor:
    r"""Per-user Novelty@k: mean self-information ``info`` (see
    :func:`self_information`) of the top-k items."""
    return info[ranked[:, :k]].mean(1)


def avg_popularity(ranked: Tensor, k: int, popularity: Tensor) -> Tensor:
    r"""Per-user AvgPopularity@k: mean training interaction count of the
    top-k items."""
    return popularity[ranked[:, :k]].double().mean(1)


def intra_list_distance(ranked: Tensor, features: Tensor,
                        topk: Sequence[int],
                        chunk_elements: int = 1 << 24) -> Dict[int, Tensor]:
    r"""Per-user intra-list distance (mean pairwise :math:`1 - \cos`) of
    the top-k items in a feature space, for every ``k`` in ``topk``.

    With unit rows :math:`\hat{x}`, :math:`\sum_{r<s} \hat{x}_r^\top
    \hat{x}_s = (\lVert S_k \rVert^2 - \sum_{r \le k} \lVert \hat{x}_r
    \rVert^2) / 2` where :math:`S_k = \sum_{r \le k} \hat{x}_r`, so no
    :math:`k \times k` matrix is formed. :math:`S_k` is accumulated
    with one :func:`~torch.nn.functional.embedding_bag` sum per band of
    ranks between consecutive cut-offs, users in chunks of about
    ``chunk_elements`` output values. An all-zero feature row has cosine 0
    with every item (distance 1).

    Args:
        ranked (Tensor): ``[num_users, K]`` item ids, ``K >= max(topk)``.
        features (Tensor): ``[I, d]`` item features of one modality.
        topk (Sequence[int]): cut-offs.
    """
    if not topk:
        return {}
    topk = sorted(topk)
    unit = torch.nn.functional.normalize(features.to(ranked.device).float(),
                                         dim=1)
    sq_norm = unit.pow(2).sum(1)                                # 1 or 0
    step = max(1, chunk_elements // max(1, unit.size(1)))
    out: Dict[int, List[Tensor]] = {k: [] for k in topk}
    for start in range(0, ranked.size(0), step):
        rows = ranked[start:start + step]
        b = rows.size(0)
        total = unit.new_zeros(b, unit.size(1))
        lo = 0
        for k in topk:
            if k > lo:
                total = total + torch.nn.functional.embedding_bag(
                    rows[:, lo:k], unit, mode="sum")
                lo = k
            if k < 2:
                out[k].append(torch.zeros(b, dtype=torch.double,
                                          device=rows.device))
                continue
            own = sq_norm[rows[:, :k]].sum(1)
            mean_cos = (total.pow(2).sum(1) - own).double() / (k * (k - 1))
            out[k].append(1.0 - mean_cos)
    empty = torch.zeros(0, dtype=torch.double, device=ranked.device)
    return {k: torch.cat(v) if v else empty for k, v in out.items()}


def recommendation_counts(ranked: Tensor, topk: Sequence[int],
                          num_items: int) -> Tensor:
    r""":math:`c^k_i`: how many of the users' top-k lists hold item
    :math:`i`, ``[len(topk), I]`` (long), one row per cut-off."""
    return torch.stack([torch.bincount(ranked[:, :k].reshape(-1),
                                       minlength=num_items)
                        for k in topk])


def coverage(counts: Tensor) -> Tensor:
    r"""Catalogue coverage: share of the items recommended to at least one
    user (``counts`` over the whole catalogue, ``[..., I]``)."""
    return (counts > 0).double().mean(-1)


def gini(counts: Tensor) -> Tensor:
    r"""Gini index of the recommendation counts over the catalogue
    (0: every item recommended equally often, :math:`\to 1`: all
    recommendations on one item)."""
    c = counts.double().sort(-1).values
    n = c.size(-1)
    j = torch.arange(1, n + 1, dtype=torch.double, device=c.device)
    total = c.sum(-1)
    g = ((2 * j - n - 1) * c).sum(-1) / (n * total.clamp(min=1e-300))
    return torch.where(total > 0, g, torch.zeros_like(g))


#: Per-user metrics of the recommended items (not of the hits). ``diversity``
#: stands for one ``diversity_<modality>`` per modality of the dataset.
LIST_METRICS = ("novelty", "avg_popularity", "diversity")
#: Metrics of the whole catalogue, from the summed recommendation counts.
CATALOGUE_METRICS: Dict[str, Callable[[Tensor], Tensor]] = {
    "coverage": coverage,
    "gini": gini,
}


#: Every metric name (``diversity_<modality>`` is also accepted).
ALL_METRICS = tuple(METRICS) + tuple(CATALOGUE_METRICS) + LIST_METRICS


def _known(metric: str) -> bool:
    return metric in ALL_METRICS or (metric.startswith("diversity_")
                                     and len(metric) > len("diversity_"))


def expand_metric_names(metrics: Iterable[str],
                        modalities: Sequence[str]) -> List[str]:
    r"""Lower-cased metric names with ``diversity`` replaced by
    ``diversity_<m>`` for every modality (none when there are none),
    duplicates dropped, order kept. A ``diversity_<m>`` for a modality
    the dataset lacks is an error."""
    out: List[str] = []
    for name in (m.lower() for m in metrics):
        parse_metric_name(f"{name}@1")
        names = [f"diversity_{m}" for m in modalities] \
            if name == "diversity" else [name]
        for n in names:
            if n.startswith("diversity_") and \
                    n[len("diversity_"):] not in modalities:
                raise ValueError(f"metric {n!r}: the dataset has no "
                                 f"{n[len('diversity_'):]!r} features "
                                 f"(modalities: {list(modalities)})")
            if n not in out:
                out.append(n)
    return out


def parse_metric_name(name: str) -> tuple[str, int]:
    r"""Split ``'recall@20'`` into ``('recall', 20)``, with a clear error."""
    try:
        metric, k = name.lower().split("@")
        k_int = int(k)
    except ValueError:
        raise ValueError(f"metric name {name!r}: expected '<metric>@<k>', "
                         f"e.g. 'recall@20'") from None
    if not _known(metric):
        raise ValueError(f"metric name {name!r}: unknown metric {metric!r}; "
                         f"expected one of {sorted(ALL_METRICS)} or "
                         f"'diversity_<modality>'")
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
        if name.lower() not in METRICS:
            raise ValueError(f"compute_metrics: {name!r} is not a hit metric "
                             f"(one of {sorted(METRICS)})")
        fn = METRICS[name.lower()]
        for k in topk:
            if k > hits.size(1):
                raise ValueError(f"k={k} exceeds the ranked list length "
                                 f"{hits.size(1)}")
            out[f"{name.lower()}@{k}"] = fn(hits, num_targets, k)
    return out


def compute_list_metrics(ranked: Tensor, metrics: Iterable[str],
                         topk: Sequence[int], popularity: Tensor,
                         features: Optional[Mapping[str, Tensor]] = None
                         ) -> Dict[str, Tensor]:
    r"""Per-user values of the list metrics (``novelty``,
    ``avg_popularity``, ``diversity_<m>``) among ``metrics``; other names
    are skipped.

    Args:
        ranked (Tensor): ``[num_users, K]`` top-K item ids.
        metrics (Iterable[str]): expanded names (see
            :func:`expand_metric_names`).
        topk (Sequence[int]): cut-offs ``<= K``.
        popularity (Tensor): :math:`n_i`, ``[I]``.
        features (dict, optional): modality -> ``[I, d]`` features.
    """
    out: Dict[str, Tensor] = {}
    popularity = popularity.to(ranked.device)
    info = None
    for name in metrics:
        if name == "novelty":
            info = self_information(popularity) if info is None else info
            for k in topk:
                out[f"novelty@{k}"] = novelty(ranked, k, info)
        elif name == "avg_popularity":
            for k in topk:
                out[f"avg_popularity@{k}"] = avg_popularity(ranked, k,
                                                            popularity)
        elif name.startswith("diversity_"):
            m = name[len("diversity_"):]
            ild = intra_list_distance(ranked, (features or {})[m], topk)
            for k in topk:
                out[f"{name}@{k}"] = ild[k]
    return out


def compute_catalogue_metrics(counts: Tensor, metrics: Iterable[str],
                              topk: Sequence[int]) -> Dict[str, float]:
    r"""``coverage@k`` and ``gini@k`` (those among ``metrics``) from the
    recommendation counts ``[len(topk), I]`` of :func:`recommendation_counts`
    summed over **all** evaluated users (all ranks)."""
    out: Dict[str, float] = {}
    for name in metrics:
        fn = CATALOGUE_METRICS.get(name)
        if fn is None:
            continue
        values = fn(counts)
        for j, k in enumerate(topk):
            out[f"{name}@{k}"] = float(values[j])
    return out


def metric_keys(metrics: Iterable[str], topk: Iterable[int]) -> List[str]:
    r"""The result keys ``metric@k`` in a stable order."""
    return [f"{m.lower()}@{k}" for m in metrics for k in topk]
