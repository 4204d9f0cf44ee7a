r"""Graph construction: the normalised user–item adjacency and item–item
kNN modality graphs. Pure functions on tensors (used by datasets and models).
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.utils import coalesce, to_torch_csr_tensor

__all__ = ["normalized_adjacency", "knn_graph", "knn_graph_from_neighbours",
           "fuse_graphs", "fusion_weights", "DEGREE_EPS"]

DEGREE_EPS = 1e-7


def normalized_adjacency(edge_index: Tensor, num_users: int, num_items: int,
                         edge_weight: Optional[Tensor] = None) -> Tensor:
    r"""Symmetric-normalised bipartite adjacency (LightGCN / MMRec
    ``get_norm_adj_mat``).

    Users are nodes :math:`0..U-1` and items :math:`U..U+I-1`. With
    :math:`\mathbf{R} \in \{0,1\}^{U \times I}` the interactions,

    .. math::
        \mathbf{A} = \begin{bmatrix} \mathbf{0} & \mathbf{R} \\
        \mathbf{R}^{\top} & \mathbf{0} \end{bmatrix}, \quad
        d_v = \sum_w A_{vw} + 10^{-7}, \quad
        \hat{\mathbf{A}} = \mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2},

    so :math:`\hat{A}_{u, U+i} = \hat{A}_{U+i, u} = 1/\sqrt{d_u d_i}`; no
    self loops; nodes without edges have empty rows. Without
    :obj:`edge_weight` duplicate pairs collapse to one edge; with weights
    duplicates are summed.

    Args:
        edge_index (LongTensor): ``[2, E]`` (user, item) pairs, item ids
            *not* offset.
        num_users (int): :math:`U`.
        num_items (int): :math:`I`.
        edge_weight (Tensor, optional): ``[E]`` weights of :math:`\mathbf{R}`.

    Returns:
        A ``torch.sparse_csr`` tensor of shape ``[U + I, U + I]``.
    """
    n = num_users + num_items
    ui = torch.stack([edge_index[0].long(), edge_index[1].long() + num_users])
    if edge_weight is None:  # collapse duplicates to weight 1
        ui = coalesce(ui, num_nodes=n)
        w = torch.ones(ui.size(1), dtype=torch.float32, device=ui.device)
    else:
        ui, w = coalesce(ui, edge_weight.float(), num_nodes=n, reduce="sum")
    u, i = ui[0], ui[1]
    row = torch.cat([u, i])
    col = torch.cat([i, u])
    val = torch.cat([w, w])
    deg = torch.zeros(n, dtype=torch.float32, device=row.device).index_add_(0, row, val)
    dinv = (deg + DEGREE_EPS).pow(-0.5)
    val = dinv[row] * val * dinv[col]
    return to_torch_csr_tensor(torch.stack([row, col]), val, (n, n))


@torch.no_grad()
def knn_graph(x: Tensor, k: int, chunk_size: int = 4096) -> Tuple[Tensor, Tensor]:
    r"""Item–item cosine :math:`k`-nearest-neighbour graph (FREEDOM / CM3 /
    LIRDRec ``get_knn_adj_mat``), built by chunks of rows so that no
    :math:`N \times N` matrix is ever materialised.

    With :math:`\hat{\mathbf{x}}_i = \mathbf{x}_i / \max(\lVert
    \mathbf{x}_i\rVert, \epsilon)` (a zero row stays zero instead of NaN),
    :math:`s_{ij} = \hat{\mathbf{x}}_i^{\top} \hat{\mathbf{x}}_j` and
    :math:`\mathcal{N}_k(i)` the :math:`k` largest :math:`s_{ij}` over all
    :math:`j` (self included),

    .. math::
        K_{ij} = \frac{1}{\sqrt{r_i r_j}} = \frac{1}{k}
        \quad \text{for } j \in \mathcal{N}_k(i), \qquad r_i = k,

    so :math:`(\mathbf{K}\mathbf{h})_i` is the mean of :math:`\mathbf{h}`
    over :math:`\mathcal{N}_k(i)`. Not symmetrised. Ties at the :math:`k`-th
    place are broken by the smaller item index (deterministic across chunk
    sizes and devices).

    Args:
        x (Tensor): ``[N, d]`` raw features.
        k (int): Neighbours per row (clamped to :math:`N`).
        chunk_size (int): Rows per similarity block (memory
            ``chunk_size * N`` floats).

    Returns:
        ``(edge_index, edge_weight)`` in PyG's ``source_to_target`` flow:
        ``edge_index[0] = j`` (the neighbour, source of the message),
        ``edge_index[1] = i`` (the item that aggregates), sorted by
        (i, j), ``N * k`` entries, weights :math:`1/k`.
    """
    n = x.size(0)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    k = min(k, n)
    x = x.float()
    xn = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    xt = xn.t().contiguous()
    cols = torch.empty(n, k, dtype=torch.long, device=x.device)
    for s in range(0, n, chunk_size):
        sim = xn[s:s + chunk_size] @ xt
        if k < n:
            vals, idx = torch.topk(sim, k + 1, dim=1)
            idx = idx[:, :k]
            # topk does not order ties; re-rank rows whose k-th and (k+1)-th
            # values tie with a stable sort (equal values keep index order).
            tie = vals[:, k - 1] == vals[:, k]
            if bool(tie.any()):
                rows = tie.nonzero().view(-1)
                srt = torch.sort(sim[rows], dim=1, descending=True, stable=True).indices
                idx[rows] = srt[:, :k]
        else:
            idx = torch.arange(n, device=x.device).expand(sim.size(0), n)
        cols[s:s + chunk_size] = torch.sort(idx, dim=1).values
    return knn_graph_from_neighbours(cols)


def knn_graph_from_neighbours(neighbours: Tensor) -> Tuple[Tensor, Tensor]:
    r"""The :func:`knn_graph` of an ``[N, k]`` table whose row :math:`i`
    lists :math:`\mathcal{N}_k(i)` in increasing order (what
    :class:`~mmgraph.data.RecDataset` caches on disk). Raises
    :class:`ValueError` on a table that cannot be one."""
    neighbours = torch.as_tensor(neighbours)
    if neighbours.dim() != 2 or neighbours.size(1) < 1 or \
            neighbours.dtype.is_floating_point or neighbours.dtype == torch.bool:
        raise ValueError(f"expected an integer [N, k] neighbour table, got "
                         f"{neighbours.dtype} of shape {tuple(neighbours.shape)}")
    n, k = neighbours.shape
    neighbours = neighbours.long()
    if neighbours.numel() and (neighbours.min() < 0 or neighbours.max() >= n
                               or (k > 1 and bool((neighbours.diff(dim=1) <= 0).any()))):
        raise ValueError("neighbour ids must lie in [0, N) and increase along each row")
    target = torch.arange(n, device=neighbours.device).repeat_interleave(k)
    edge_index = torch.stack([neighbours.reshape(-1), target])
    edge_weight = torch.full((n * k,), 1.0 / k, dtype=torch.float32,
                             device=neighbours.device)
    return edge_index, edge_weight


def fusion_weights(modalities: Sequence[str], image_weight: float = 0.1,
                   image_key: str = "image") -> Dict[str, float]:
    r"""Weights of the modality graphs in the fused graph (they sum to 1).

    One modality gets 1. With an ``image`` modality it gets
    :obj:`image_weight` (MMRec's ``mm_image_weight``) and the others share
    :math:`1 - w` equally; otherwise all share equally. For
    ``{image, text}`` this is FREEDOM's :math:`S = w K_v + (1-w) K_t`.
    """
    mods = list(modalities)
    if not mods:
        raise ValueError("no modality to fuse")
    if len(mods) == 1:
        return {mods[0]: 1.0}
    if image_key in mods:
        if not 0.0 <= image_weight <= 1.0:
            raise ValueError(f"mm_image_weight must be in [0, 1], got {image_weight}")
        rest = (1.0 - image_weight) / (len(mods) - 1)
        return {m: (image_weight if m == image_key else rest) for m in mods}
    return {m: 1.0 / len(mods) for m in mods}


def fuse_graphs(graphs: Mapping[str, Tuple[Tensor, Tensor]], weights: Mapping[str, float],
                num_nodes: int) -> Tuple[Tensor, Tensor]:
    r"""Weighted sum :math:`\mathbf{S} = \sum_m w_m \mathbf{K}_m` of sparse
    graphs given as ``(edge_index, edge_weight)`` (``source_to_target``, as
    :func:`knn_graph` returns them); entries present in several graphs are
    summed (:func:`torch_geometric.utils.coalesce`), sorted by target then
    source."""
    eis, ews = [], []
    for m, (ei, ew) in graphs.items():
        eis.append(ei)
        ews.append(ew.float() * float(weights[m]))
    return coalesce(torch.cat(eis, 1), torch.cat(ews), num_nodes, reduce="sum",
                    sort_by_row=False)
