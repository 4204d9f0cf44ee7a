r"""Membership inference: can an attacker with the model's scores tell the
forgotten interactions from interactions the model never saw?

The attack (a *rank* attack, or a *score* threshold attack) scores every
candidate pair, and its success is the ROC AUC of telling the **members**
(the forget set :math:`D_f`, which the original model was trained on) from
**non-members** of the same users (their held-out test interactions, which
no compared model saw):

.. math::
    \text{AUC} = \Pr[a(u, i) > a(u', j)] + \tfrac{1}{2}\Pr[a(u, i) =
    a(u', j)], \qquad (u, i) \in D_f,\; (u', j) \in D_{\text{non}},

computed exactly from the ranks of all attack scores (Mann--Whitney
:math:`U`). ``attack='rank'`` (default) scores a pair by the fraction of
the user's candidate items (all items minus ``mask_edge_index``, by
default the retained training interactions) that it outscores, so users
with large and small scores are comparable; ``attack='score'`` uses the raw
score :math:`s_{ui}` (a loss-threshold attack: BPR's loss is monotone in the
score).

An AUC near 1 means the model still separates what it was trained on; a
model retrained without :math:`D_f` (gold) sits near 0.5 when the forgotten
and held-out interactions come from the same distribution. Unlearning is
successful when its AUC is as close to gold's as gold is to 0.5: neither
remembering nor conspicuously forgetting (an AUC well below gold's says the
forgotten pairs were pushed *down*, which also gives them away).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from mmgraph.evaluation import Evaluator

__all__ = ["ATTACKS", "attack_auc", "membership_scores", "membership_auc",
           "nonmember_edges"]

#: Attack scores: per-user rank percentile, or the raw score.
ATTACKS = ("rank", "score")

_PAIR_CHUNK = 1 << 22  # pairs x items compared at once


def attack_auc(members: Tensor, nonmembers: Tensor) -> float:
    r"""The ROC AUC of the rule "higher score = member": the probability
    that a random member outscores a random non-member, ties counted half
    (Mann--Whitney :math:`U / (n_1 n_0)` with average ranks)."""
    members, nonmembers = members.double().view(-1), \
        nonmembers.double().view(-1)
    n1, n0 = members.numel(), nonmembers.numel()
    if n1 == 0 or n0 == 0:
        raise ValueError(f"attack_auc: needs members and non-members (got "
                         f"{n1} and {n0})")
    values = torch.cat([members, nonmembers])
    uniq, inverse, counts = torch.unique(values, return_inverse=True,
                                         return_counts=True)
    # Average rank of each distinct value (1-based).
    ends = torch.cumsum(counts, 0).double()
    avg = ends - (counts.double() - 1) / 2
    ranks = avg[inverse]
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    return float(u / (n1 * n0))


def _chunk_mask(users: Tensor, mask_edge_index: Optional[Tensor],
                num_users: int, num_items: int) -> Tensor:
    mask = torch.zeros(users.numel(), num_items, dtype=torch.bool,
                       device=users.device)
    if mask_edge_index is None or mask_edge_index.numel() == 0:
        return mask
    pos = torch.full((num_users,), -1, dtype=torch.long, device=users.device)
    pos[users] = torch.arange(users.numel(), device=users.device)
    rows = pos[mask_edge_index[0].to(users.device)]
    keep = rows >= 0
    mask[rows[keep], mask_edge_index[1].to(users.device)[keep]] = True
    return mask


@torch.no_grad()
def membership_scores(model, edge_index: Tensor,
                      mask_edge_index: Optional[Tensor] = None,
                      attack: str = "rank",
                      embeddings: Optional[Tuple[Tensor, Tensor]] = None,
                      batch_size: int = 1024) -> Tensor:
    r"""The attack score of every pair of ``edge_index`` ``[2, P]``.

    Args:
        model: a :class:`~mmgraph.models.Recommender`.
        edge_index (Tensor): ``(user, item)`` pairs.
        mask_edge_index (Tensor, optional): pairs left out of every user's
            candidates (``'rank'`` only).
        attack (str): ``'rank'`` (default) or ``'score'``.
        embeddings (tuple, optional): precomputed ``model.embeddings()``.
        batch_size (int): users scored at once.
    """
    if attack not in ATTACKS:
        raise ValueError(f"membership_scores: attack must be one of "
                         f"{ATTACKS}, got {attack!r}")
    if embeddings is None:
        # Evaluator.embeddings needs no dataset: eval mode, no grad.
        embeddings = Evaluator.embeddings(None, model)
    device = embeddings[0].device
    edge_index = edge_index.long().to(device)
    out = torch.empty(edge_index.size(1), dtype=torch.double, device=device)
    users_all = torch.unique(edge_index[0])
    num_users, num_items = model.num_users, model.num_items
    for start in range(0, users_all.numel(), batch_size):
        users = users_all[start:start + batch_size]
        scores = model.score(users, embeddings).double()
        pos = torch.full((num_users,), -1, dtype=torch.long, device=device)
        pos[users] = torch.arange(users.numel(), device=device)
        sel = (pos[edge_index[0]] >= 0).nonzero().view(-1)
        rows, items = pos[edge_index[0, sel]], edge_index[1, sel]
        s = scores[rows, items]
        if attack == "score":
            out[sel] = s
            continue
        mask = _chunk_mask(users, mask_edge_index, num_users, num_items)
        scores = scores.masked_fill(mask, float("nan"))
        denom = (~mask).sum(1).clamp(min=1).double()
        step = max(1, _PAIR_CHUNK // max(num_items, 1))
        for p in range(0, sel.numel(), step):
            r, v = rows[p:p + step], s[p:p + step]
            below = (scores.index_select(0, r) < v.unsqueeze(1)).sum(1)
            out[sel[p:p + step]] = below.double() / denom[r]
    return out.cpu()


def nonmember_edges(dataset, users: Tensor, split: str = "test") -> Tensor:
    r"""The held-out interactions (``split``) of ``users``: non-members no
    compared model was trained on."""
    ei = dataset.split_edge_index(split)
    return ei[:, torch.isin(ei[0], torch.unique(users.cpu()))]


def membership_auc(model, member_edge_index: Tensor,
                   nonmember_edge_index: Tensor,
                   mask_edge_index: Optional[Tensor] = None,
                   attack: str = "rank",
                   embeddings: Optional[Tuple[Tensor, Tensor]] = None,
                   batch_size: int = 1024) -> float:
    r"""The membership-inference attack's AUC (see the module docstring)
    of ``member_edge_index`` (e.g. the forget set) against
    ``nonmember_edge_index`` (e.g. :func:`nonmember_edges`)."""
    if embeddings is None:
        # Evaluator.embeddings needs no dataset: eval mode, no grad.
        embeddings = Evaluator.embeddings(None, model)
    kw = dict(mask_edge_index=mask_edge_index, attack=attack,
              embeddings=embeddings, batch_size=batch_size)
    return attack_auc(membership_scores(model, member_edge_index, **kw),
                      membership_scores(model, nonmember_edge_index, **kw))
