r"""The batch source of unlearning: forget and retain pairs side by side."""
from __future__ import annotations

import math
from typing import Iterator

import torch
from torch import Tensor

from mmgraph.data import NegativeSampler
from mmgraph.train.objectives.reverse_bpr import UnlearnBatch

__all__ = ["UnlearnBatches"]


class _Cycle:
    r"""Draws batches of positions ``0..n-1`` from a reshuffled cycle (the
    smaller of the forget and retain sets is cycled, never truncated)."""

    def __init__(self, n: int) -> None:
        self.n = int(n)
        self.perm = torch.empty(0, dtype=torch.long)
        self.pos = 0

    def take(self, k: int) -> Tensor:
        parts = []
        while k > 0 and self.n > 0:
            if self.pos >= self.perm.numel():
                self.perm, self.pos = torch.randperm(self.n), 0
            step = min(k, self.n - self.pos)
            parts.append(self.perm[self.pos:self.pos + step])
            self.pos += step
            k -= step
        return torch.cat(parts) if parts else torch.empty(0, dtype=torch.long)


class UnlearnBatches:
    r"""The batches of MMRecUn's unlearning loop, a batch source of the
    :class:`~mmgraph.train.Trainer` (``Trainer(..., batches=source)``).

    One **epoch** is one shuffled pass over the forget set :math:`D_f` in
    batches of ``config.batch_size`` pairs, but at least ``min_steps``
    steps (a small request -- one user -- is cycled several times); each
    step adds ``retain_batch_size`` retain pairs (cycling through a
    shuffled :math:`D_r`, the trainer's training edges). The rows of both go
    into one :class:`~mmgraph.train.objectives.reverse_bpr.UnlearnBatch`
    (one embeddings pass serves both terms). Negatives of forget rows are
    items the user never had in the **original** training set; negatives of
    retain rows exclude her retained items (the trainer's sampler).

    Args:
        forget_edge_index (Tensor): :math:`D_f`, ``[2, E_f]``.
        original_train_edge_index (Tensor): :math:`D` (forget negatives).
        num_users (int), num_items (int): the id space.
        retain_batch_size (int): retain pairs per step.
        min_steps (int): the fewest steps of an epoch (default: ``10``).
        with_forget (bool): add the forget rows (default: :obj:`True`;
            :obj:`False` for fine-tuning, ``alpha = 0``).
        with_retain (bool): add retain rows (default: :obj:`True`;
            :obj:`False` for ``alpha = 1``).
        neg_candidates (str): ``'train'`` or ``'all'`` (default:
            ``'train'``).
    """

    def __init__(self, forget_edge_index: Tensor,
                 original_train_edge_index: Tensor, num_users: int,
                 num_items: int, retain_batch_size: int,
                 min_steps: int = 10, with_forget: bool = True,
                 with_retain: bool = True,
                 neg_candidates: str = "train") -> None:
        self.forget_edge_index = forget_edge_index.long().cpu()
        self.forget_sampler = NegativeSampler(
            original_train_edge_index, num_users, num_items,
            candidates=neg_candidates)
        self.retain_batch_size = int(retain_batch_size)
        self.min_steps = max(1, int(min_steps))
        self.with_forget = bool(with_forget)
        self.with_retain = bool(with_retain)
        self._forget_cycle = _Cycle(self.forget_edge_index.size(1))
        self._retain_cycle = None

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(forget="
                f"{self.forget_edge_index.size(1)}, retain_batch_size="
                f"{self.retain_batch_size}, min_steps={self.min_steps})")

    def num_batches(self, batch_size: int) -> int:
        return max(math.ceil(self.forget_edge_index.size(1) / batch_size),
                   self.min_steps)

    def __call__(self, trainer, epoch: int) -> Iterator[UnlearnBatch]:
        forget = self.forget_edge_index
        retain = trainer.dataset.train_edge_index
        if self._retain_cycle is None:
            self._retain_cycle = _Cycle(retain.size(1))
        batch_size = trainer.config.batch_size
        k = trainer.num_negatives
        for _ in range(self.num_batches(batch_size)):
            fidx = self._forget_cycle.take(min(batch_size, forget.size(1)))
            ridx = self._retain_cycle.take(self.retain_batch_size) \
                if self.with_retain else fidx[:0]
            ru, rp = retain[0, ridx], retain[1, ridx]
            users, pos = [ru], [rp]
            neg = [trainer.sampler.sample(ru, k)]
            flags = [torch.zeros(ru.numel(), dtype=torch.bool)]
            if self.with_forget:
                fu, fp = forget[0, fidx], forget[1, fidx]
                users.append(fu)
                pos.append(fp)
                neg.append(self.forget_sampler.sample(fu, k))
                flags.append(torch.ones(fu.numel(), dtype=torch.bool))
            yield UnlearnBatch(torch.cat(users), torch.cat(pos),
                               torch.cat(neg), torch.cat(flags))
