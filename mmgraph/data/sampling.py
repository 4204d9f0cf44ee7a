r"""Vectorised negative sampling that excludes each user's training items."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

__all__ = ["NegativeSampler"]


class NegativeSampler:
    r"""Uniform negative sampler over a candidate set, excluding positives.

    Semantics are MMRec's rejection sampler (``TrainDataLoader``): a negative
    of user :math:`u` is uniform over the candidate items that are not in
    :math:`u`'s training set. Candidates are the items occurring in the
    training edges (``"train"``, MMRec's default) or all items (``"all"``).

    Implementation: the training pairs are kept as sorted keys
    :math:`u \cdot I + i`; membership is one :func:`torch.searchsorted`.
    Candidates are drawn for the whole batch at once and only the collisions
    are redrawn, for at most :obj:`max_rounds` rounds; rows still colliding
    after that (users owning almost every candidate) are drawn exactly from
    their complement by rank: with :math:`p_0 < p_1 < \dots` the candidate
    positions of the user's positives, the :math:`r`-th free position is
    :math:`r + |\{j : p_j - j \le r\}|`. Randomness comes only from torch's
    global RNG or the given :class:`torch.Generator`.

    Args:
        train_edge_index (LongTensor): ``[2, E]`` (user, item) training pairs.
        num_users (int): Number of users.
        num_items (int): Number of items.
        candidates (str): ``"train"`` or ``"all"``.
        max_rounds (int): Rejection rounds before the exact fallback.
    """

    def __init__(self, train_edge_index: Tensor, num_users: int, num_items: int,
                 candidates: str = "train", max_rounds: int = 8) -> None:
        if candidates not in ("train", "all"):
            raise ValueError(f"candidates must be 'train' or 'all', got {candidates!r}")
        ei = train_edge_index.long().cpu()
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.max_rounds = int(max_rounds)
        self.keys = torch.unique(ei[0] * self.num_items + ei[1])  # sorted, deduplicated
        if candidates == "train":
            self.candidates = torch.unique(ei[1])
        else:
            self.candidates = torch.arange(self.num_items)
        c = self.candidates.numel()
        if c == 0:
            raise ValueError("no candidate items to sample negatives from")
        # Positives that are candidates, as positions in the candidate array.
        users, items = self.keys // self.num_items, self.keys % self.num_items
        pos = torch.searchsorted(self.candidates, items)
        is_cand = (pos < c) & (self.candidates[pos.clamp_max(c - 1)] == items)
        users, pos = users[is_cand], pos[is_cand]  # still sorted by (user, pos)
        self.num_pos_cand = torch.bincount(users, minlength=self.num_users)
        self.ptr = torch.zeros(self.num_users + 1, dtype=torch.long)
        self.ptr[1:] = torch.cumsum(self.num_pos_cand, 0)
        rank = torch.arange(users.numel()) - self.ptr[users]
        # Non-decreasing within a user, offset per user: one global searchsorted.
        self._gap_keys = users * (c + 1) + (pos - rank)
        self.num_free = c - self.num_pos_cand

    def is_positive(self, users: Tensor, items: Tensor) -> Tensor:
        r"""Whether each (user, item) is a training pair (any broadcastable
        shapes)."""
        users, items = torch.broadcast_tensors(users.long().cpu(), items.long().cpu())
        key = users * self.num_items + items
        if self.keys.numel() == 0:
            return torch.zeros_like(key, dtype=torch.bool)
        idx = torch.searchsorted(self.keys, key).clamp_max(self.keys.numel() - 1)
        return self.keys[idx] == key

    def _exact(self, users: Tensor, generator: Optional[torch.Generator]) -> Tensor:
        c = self.candidates.numel()
        free = self.num_free[users]
        r = (torch.rand(users.shape, generator=generator, dtype=torch.float64)
             * free).long().clamp_max(free - 1)
        base = users * (c + 1)
        below = torch.searchsorted(self._gap_keys, base + r, right=True) - self.ptr[users]
        return self.candidates[r + below]

    def sample(self, users: Tensor, num_negatives: int = 1,
               generator: Optional[torch.Generator] = None) -> Tensor:
        r"""Draw ``[len(users), num_negatives]`` negative items (on the
        device of :obj:`users`).

        Raises:
            ValueError: If a requested user has every candidate as positive.
        """
        device = users.device
        users = users.long().cpu()
        if users.numel() and bool((self.num_free[users] <= 0).any()):
            bad = users[self.num_free[users] <= 0][0].item()
            raise ValueError(f"user {bad} has every candidate item as a training positive; "
                             "no negative can be drawn")
        u = users.view(-1, 1).expand(-1, num_negatives)
        c = self.candidates.numel()
        neg = self.candidates[torch.randint(c, u.shape, generator=generator)]
        bad = self.is_positive(u, neg)
        rounds = 0
        while bool(bad.any()):
            if rounds >= self.max_rounds:
                neg[bad] = self._exact(u[bad], generator)
                break
            neg[bad] = self.candidates[torch.randint(c, (int(bad.sum()),), generator=generator)]
            bad = self.is_positive(u, neg)
            rounds += 1
        return neg.to(device)
