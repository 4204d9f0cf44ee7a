r"""Weighted item--item graphs as sparse edge lists: the cosine kNN graph
whose edge weights are the similarities (LATTICE, MGCN), its symmetric
normalisation, weighted sums of such graphs and a propagation that is
differentiable in the edge weights (LATTICE learns its graph).

Every graph is an ``(edge_index, edge_weight)`` pair with
``edge_index[0] = i`` the item that aggregates and ``edge_index[1] = j`` its
neighbour, as :func:`mmgraph.data.graphs.knn_graph` returns; nothing here
builds an :math:`I \times I` dense matrix (memory :math:`O(I k)` plus one
similarity block of ``chunk_size`` rows).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from mmgraph.data.graphs import knn_graph

__all__ = ["cosine_knn", "coalesce_edges", "symmetric_normalize",
           "edge_propagate"]

Graph = Tuple[Tensor, Tensor]


def cosine_knn(x: Tensor, k: int, chunk_size: int = 1024) -> Graph:
    r"""The :math:`k`-nearest-neighbour graph of the rows of :obj:`x` with
    the cosine similarities as weights,

    .. math::
        W_{ij} = \hat{\mathbf{x}}_i^{\top}\hat{\mathbf{x}}_j
        \quad \text{for } j \in \mathcal{N}_k(i)
        \text{ (self included)}, \qquad
        \hat{\mathbf{x}}_i = \mathbf{x}_i / \lVert \mathbf{x}_i \rVert,

    (the sparse form of MMRec's ``build_knn_neighbourhood(build_sim(x))``).
    The neighbour lists come from the chunked, tie-deterministic
    :func:`~mmgraph.data.graphs.knn_graph` (no gradient); the weights are
    recomputed on the :math:`I k` chosen pairs, so they are differentiable
    in :obj:`x` exactly like the dense top-:math:`k` values.

    Args:
        x (Tensor): ``[N, d]`` features (may require a gradient).
        k (int): Neighbours per row.
        chunk_size (int): Rows per similarity block (``chunk_size * N``
            floats).
    """
    # knn_graph gives PyG's flow (row 0 = the neighbour); these graphs are
    # matrix entries (row = the aggregating item, as in the CSR row).
    edge_index = knn_graph(x.detach(), k, chunk_size)[0].flip(0)
    xn = F.normalize(x, dim=1)
    w = (xn.index_select(0, edge_index[0]) *
         xn.index_select(0, edge_index[1])).sum(-1)
    return edge_index, w


def coalesce_edges(graphs: Sequence[Graph], weights: Sequence,
                   num_nodes: int) -> Graph:
    r"""The weighted sum :math:`\sum_g c_g \mathbf{W}_g` of sparse graphs
    (entries present in several graphs are added; sorted by row, then
    column). The coefficients :math:`c_g` may be tensors that require a
    gradient (LATTICE's softmax modality weights); so may the edge weights.
    """
    eis = torch.cat([g[0] for g in graphs], 1)
    ews = torch.cat([g[1] * c for g, c in zip(graphs, weights)])
    key, inv = torch.unique(eis[0] * num_nodes + eis[1],
                            return_inverse=True)
    val = ews.new_zeros(key.numel()).index_add(0, inv, ews)
    return torch.stack([key // num_nodes, key % num_nodes]), val


def symmetric_normalize(graph: Graph, num_nodes: int) -> Graph:
    r""":math:`\mathbf{D}^{-1/2}\mathbf{W}\mathbf{D}^{-1/2}` with the row
    sums :math:`d_i = \sum_j W_{ij}` (MMRec's
    ``compute_normalized_laplacian`` on a kNN matrix, which is not
    symmetric: the row sums are used on both sides). Rows with a
    non-positive sum get weight 0 (the reference turns :math:`0^{-1/2}`
    into 0 and would produce NaN for a negative sum)."""
    edge_index, w = graph
    deg = w.new_zeros(num_nodes).index_add(0, edge_index[0], w)
    dinv = torch.where(deg > 0, deg.clamp_min(1e-30).rsqrt(),
                       torch.zeros_like(deg))
    return edge_index, dinv[edge_index[0]] * w * dinv[edge_index[1]]


def edge_propagate(graph: Graph, x: Tensor, num_layers: int = 1) -> Tensor:
    r""":math:`\mathbf{W}^{L}\mathbf{x}` by gather/scatter over the edges,
    differentiable in both the edge weights and :obj:`x` (memory
    :math:`O(|\mathcal{E}| d)` per layer for the backward pass). For a graph
    with constant weights a CSR matrix and
    :class:`~mmgraph.nn.ItemGraphConvolution` is cheaper."""
    edge_index, w = graph
    row, col = edge_index[0], edge_index[1]
    for _ in range(num_layers):
        msg = x.index_select(0, col) * w.unsqueeze(-1)
        x = x.new_zeros(x.shape).index_add(0, row, msg)
    return x
