r"""The user--user co-occurrence graph of DualGNN and DRAGON, built from the
training interactions (MMRec reads it from a ``user_graph_dict.npy`` made by
a separate preprocessing script; here it is derived, in memory, from the
dataset and cached on it).

With :math:`\mathbf{R} \in \{0, 1\}^{U \times I}` the training
interactions, the co-occurrence count of users :math:`u \neq v` is
:math:`c_{uv} = (\mathbf{R}\mathbf{R}^{\top})_{uv}`, the number of items both
interacted with. Each user keeps its :math:`n` (at most ``max_neighbours``,
MMRec: 200) co-occurring users with the largest counts, sorted by count
(descending), ties by user index (ascending).

The product is computed in blocks of ``chunk_size`` users as sparse CSR
matrices, so memory is :math:`O(\text{nnz of one block of }
\mathbf{R}\mathbf{R}^{\top})` and never :math:`U \times U` dense (MMRec's
script fills a dense :math:`U \times U` matrix with a Python double loop).
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from torch_geometric.utils import to_torch_csr_tensor

__all__ = ["cooccurrence_neighbours", "user_cooccurrence_graph"]


@torch.no_grad()
def cooccurrence_neighbours(edge_index: Tensor, num_users: int,
                            num_items: int, max_neighbours: int = 200,
                            chunk_size: int = 2048
                            ) -> Tuple[Tensor, Tensor, Tensor]:
    r"""The top co-occurring users of every user.

    Args:
        edge_index (Tensor): ``[2, E]`` distinct (user, item) training pairs.
        num_users (int): :math:`U`.
        num_items (int): :math:`I`.
        max_neighbours (int): neighbours kept per user (default: ``200``).
        chunk_size (int): users per block of :math:`\mathbf{R}\mathbf{R}^
            {\top}` (default: ``2048``).

    Returns:
        ``(indptr [U + 1], neighbours, counts)``: the neighbours of user
        :math:`u` are ``neighbours[indptr[u]:indptr[u + 1]]`` with the
        co-occurrence counts ``counts[...]`` (float), sorted by count
        descending, then by user id.
    """
    if max_neighbours < 1:
        raise ValueError(f"max_neighbours must be >= 1 (got {max_neighbours})")
    edge_index = edge_index.long()
    order = torch.argsort(edge_index[0] * num_items + edge_index[1])
    edge_index = edge_index[:, order]
    r_t = to_torch_csr_tensor(edge_index.flip(0), None, (num_items, num_users))
    bounds = torch.searchsorted(
        edge_index[0], torch.arange(0, num_users + chunk_size, chunk_size))
    nbrs, cnts, sizes = [], [], torch.zeros(num_users, dtype=torch.long)
    for c, start in enumerate(range(0, num_users, chunk_size)):
        stop = min(start + chunk_size, num_users)
        lo, hi = int(bounds[c]), int(bounds[c + 1])
        block = edge_index[:, lo:hi].clone()
        block[0] -= start
        r_c = to_torch_csr_tensor(block, None, (stop - start, num_items))
        prod = (r_c @ r_t).to_sparse_coo().coalesce()
        row, col = prod.indices()
        val = prod.values()
        keep = (row + start) != col
        row, col, val = row[keep], col[keep], val[keep]
        if row.numel() == 0:
            continue
        # sort by row, then count descending, then column
        top = int(val.max()) + 1
        key = (row * top + (top - 1 - val.long())) * num_users + col
        perm = torch.argsort(key)
        row, col, val = row[perm], col[perm], val[perm]
        counts = torch.bincount(row, minlength=stop - start)
        first = torch.cumsum(counts, 0) - counts
        rank = torch.arange(row.numel()) - first[row]
        keep = rank < max_neighbours
        nbrs.append(col[keep])
        cnts.append(val[keep].float())
        sizes[start:stop] = counts.clamp_max(max_neighbours)
    indptr = torch.zeros(num_users + 1, dtype=torch.long)
    indptr[1:] = torch.cumsum(sizes, 0)
    neighbours = torch.cat(nbrs) if nbrs else torch.zeros(0, dtype=torch.long)
    counts = torch.cat(cnts) if cnts else torch.zeros(0)
    return indptr, neighbours, counts


def user_cooccurrence_graph(dataset, max_neighbours: int = 200
                            ) -> Tuple[Tensor, Tensor, Tensor]:
    r""":func:`cooccurrence_neighbours` of ``dataset``'s training set,
    cached in memory on the dataset (a dataset with another training set,
    :meth:`~mmgraph.data.RecDataset.with_train_edges`, computes its own)."""
    key = ("user_graph", int(max_neighbours))
    cache = dataset._cache
    if key not in cache:
        cache[key] = cooccurrence_neighbours(
            dataset.train_edge_index, dataset.num_users, dataset.num_items,
            max_neighbours)
    return cache[key]
