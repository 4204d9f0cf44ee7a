r"""Label noise for implicit feedback: hide observed positives so that they
become *unvoted* items (the false negatives that NBPO models).

Used by the noise experiment of `"Sampler Design for Implicit Feedback Data
by Noisy-label Robust Learning" <https://arxiv.org/abs/2007.07204>`_
(Yu & Qin, SIGIR 2020): a model is trained on a copy of the data where a
fraction of the training positives is unobserved, and evaluated on the
untouched validation / test targets.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["hide_positives"]


def _keys(edge_index: Tensor, num_items: int) -> Tensor:
    return edge_index[0].long() * num_items + edge_index[1].long()


def hide_positives(dataset, fraction: float, seed: int = 0,
                   min_train_per_user: int = 1):
    r"""A copy of ``dataset`` in which ``round(fraction * E)`` of the
    :math:`E` training positives, drawn uniformly at random, are hidden.

    A hidden pair :math:`(u, i)` becomes an *unvoted* item everywhere:

    * it leaves the training set (so it is no longer masked at evaluation
      and may be drawn as a negative) -- via
      :meth:`~mmgraph.data.RecDataset.with_train_edges`;
    * it is removed from the validation and test targets as well, should
      it occur there (only possible when the input splits overlap;
      :meth:`~mmgraph.data.RecDataset.with_train_edges` keeps those rows,
      so this function filters them itself).

    Every user keeps at least ``min_train_per_user`` training positives
    (when she had that many), so no user turns cold and the evaluated users
    are the same at every noise level (a like-for-like comparison across
    fractions). The hidden pairs are returned on the copy as
    ``hidden_edge_index`` ``[2, H]``.

    Args:
        dataset (RecDataset): the clean dataset (not modified).
        fraction (float): share of training positives to hide, in
            :math:`[0, 1)`.
        seed (int): seed of the draw (a private :class:`torch.Generator`;
            the global RNG is untouched) (default: ``0``).
        min_train_per_user (int): training positives each user keeps
            (default: ``1``).

    Raises:
        ValueError: if ``fraction`` is outside :math:`[0, 1)` or more
            positives are requested than the per-user minimum allows.
    """
    if not 0.0 <= float(fraction) < 1.0:
        raise ValueError(f"hide_positives: fraction must be in [0, 1), got "
                         f"{fraction!r}")
    if min_train_per_user < 0:
        raise ValueError(f"hide_positives: min_train_per_user must be >= 0, "
                         f"got {min_train_per_user}")
    train = dataset.train_edge_index
    num_edges = train.size(1)
    num_hide = int(round(float(fraction) * num_edges))
    gen = torch.Generator().manual_seed(int(seed))

    # A random order of the edges; within each user, the first
    # ``min_train_per_user`` edges of that order are protected.
    perm = torch.randperm(num_edges, generator=gen)
    users = train[0, perm]
    order = torch.argsort(users, stable=True)   # grouped by user, random within
    grouped = users[order]
    counts = torch.bincount(grouped, minlength=dataset.num_users)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(num_edges) - starts[grouped]
    protected = torch.zeros(num_edges, dtype=torch.bool)
    protected[perm[order[rank < min_train_per_user]]] = True

    candidates = (~protected).nonzero().view(-1)
    if num_hide > candidates.numel():
        raise ValueError(
            f"hide_positives: cannot hide {num_hide} of {num_edges} training "
            f"positives while every user keeps {min_train_per_user} "
            f"(at most {candidates.numel()} can be hidden)")
    pick = candidates[torch.randperm(candidates.numel(), generator=gen)
                      [:num_hide]]
    hide_mask = torch.zeros(num_edges, dtype=torch.bool)
    hide_mask[pick] = True

    new = dataset.with_train_edges(train[:, ~hide_mask])
    hidden = train[:, hide_mask]
    hidden_keys = torch.sort(_keys(hidden, dataset.num_items)).values
    for split in ("valid_edge_index", "test_edge_index"):
        ei = getattr(new, split)
        keep = ~torch.isin(_keys(ei, dataset.num_items), hidden_keys)
        setattr(new, split, ei[:, keep])
    new.hidden_edge_index = hidden
    return new
