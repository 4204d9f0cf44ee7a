r"""FREEDOM, and the two graph helpers it shares with LIRDRec: the fused
item--item kNN graph and degree-sensitive edge pruning."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.utils import to_torch_csr_tensor

from mmgraph.data.graphs import (DEGREE_EPS, fuse_graphs, fusion_weights,
                                 normalized_adjacency)
from mmgraph.models.base import Batch, Recommender
from mmgraph.models.registry import register_model
from mmgraph.nn.encoders import ModalityEncoders
from mmgraph.nn.losses import bpr_loss
from mmgraph.nn.propagation import ItemGraphConvolution, LightGCNPropagation
from mmgraph.nn.sparse import csr_rows, spmm

__all__ = ["FREEDOM", "item_knn_adjacency", "pruning_weights",
           "degree_sensitive_pruning"]

# torch.multinomial accepts at most 2**24 categories.
_MULTINOMIAL_MAX = 2 ** 24


def item_knn_adjacency(dataset, knn_k: int = 10,
                       mm_image_weight: float = 0.1) -> Tensor:
    r"""The frozen item--item graph of FREEDOM, CM3 and LIRDRec as a sparse
    CSR matrix :math:`\mathbf{S} \in \mathbb{R}^{I \times I}` whose row
    :math:`i` aggregates into item :math:`i` (PyG's ``adj_t`` of the
    ``source_to_target`` kNN ``edge_index``):

    .. math::
        \mathbf{S} = \sum_m w_m \mathbf{K}_m, \qquad
        (\mathbf{K}_m)_{ij} = 1/k \text{ for } j \in \mathcal{N}^m_k(i),

    with :math:`\mathcal{N}^m_k(i)` the :math:`k` most cosine-similar items
    of :math:`i` on modality :math:`m`'s raw features (self included,
    ``dataset.knn_graph(m, k)``) and the weights of
    :func:`~mmgraph.data.graphs.fusion_weights`: ``image`` gets
    :obj:`mm_image_weight`, the other modalities share the rest equally, a
    single modality gets 1.
    """
    mods = dataset.modalities
    graphs = {m: dataset.knn_graph(m, knn_k) for m in mods}
    ei, ew = fuse_graphs(graphs, fusion_weights(mods, mm_image_weight),
                         dataset.num_items)
    return to_torch_csr_tensor(ei.flip(0), ew, dataset.num_items, is_coalesced=True)


def pruning_weights(edge_index: Tensor, num_users: int,
                    num_items: int) -> Tensor:
    r"""FREEDOM's sampling weight of every user--item edge,
    :math:`p_{ui} = 1/\sqrt{(d_u + \epsilon)(d_i + \epsilon)}` on the full
    training graph (:math:`\epsilon = 10^{-7}`): edges between high-degree
    nodes are pruned more often."""
    u, i = edge_index[0], edge_index[1]
    du = torch.bincount(u, minlength=num_users).float() + DEGREE_EPS
    di = torch.bincount(i, minlength=num_items).float() + DEGREE_EPS
    return du.rsqrt()[u] * di.rsqrt()[i]


def degree_sensitive_pruning(edge_index: Tensor, weights: Tensor,
                             ratio: float, num_users: int,
                             num_items: int) -> Tuple[Tensor, Tensor]:
    r"""Degree-sensitive edge pruning of FREEDOM (`"A Tale of Two Graphs"
    <https://arxiv.org/abs/2211.06924>`_): draws
    :math:`\lfloor |\mathcal{E}|(1 - \rho)\rfloor` distinct edges without
    replacement with probability proportional to :obj:`weights` and
    renormalises the kept graph,
    :math:`\hat{A}'_{ui} = 1/\sqrt{(d'_u + \epsilon)(d'_i + \epsilon)}`.

    Uses the global torch RNG (so it follows the trainer's seed):
    :func:`torch.multinomial`, or for more than :math:`2^{24}` edges the
    equivalent Gumbel-top-:math:`k` draw.

    Args:
        edge_index (Tensor): ``[2, E]`` distinct (user, item) edges.
        weights (Tensor): ``[E]`` sampling weights (:func:`pruning_weights`).
        ratio (float): :math:`\rho \in [0, 1)`, the fraction pruned.
        num_users (int): :math:`U`.
        num_items (int): :math:`I`.

    Returns:
        ``(kept_edge_index [2, E'], adjacency)`` with the symmetric
        normalised ``[U + I, U + I]`` CSR adjacency of the kept edges.
    """
    num_edges = edge_index.size(1)
    keep = int(num_edges * (1.0 - ratio))
    if keep < 1:
        raise ValueError(f"degree_sensitive_pruning: ratio {ratio} keeps no "
                         f"edge of {num_edges}")
    if num_edges <= _MULTINOMIAL_MAX:
        idx = torch.multinomial(weights, keep, replacement=False)
    else:  # Gumbel-top-k: the same distribution over ordered draws
        u = torch.rand(num_edges, device=weights.device).clamp_min(1e-20)
        idx = torch.topk(weights.log() - (-u.log()).log(), keep).indices
    kept = edge_index[:, idx]
    return kept, normalized_adjacency(kept, num_users, num_items)


class EpochPrunedGraph:
    r"""FREEDOM's per-epoch degree-sensitive edge pruning, for a
    :class:`~mmgraph.models.Recommender` with the buffers ``adj`` (the full
    normalised graph), ``train_edges``, ``edge_weights``
    (:func:`pruning_weights`), ``masked_adj`` and the attribute
    ``kept_edges``, and a ``dropout`` ratio :math:`\rho` (FREEDOM, and
    LIRDRec's optional pruning)."""

    def prune(self) -> Tensor:
        r"""Draws this epoch's pruned, renormalised adjacency (also kept as
        :obj:`masked_adj`; the kept edges as :obj:`kept_edges`)."""
        kept, adj = degree_sensitive_pruning(
            self.train_edges, self.edge_weights, self.dropout,
            self.num_users, self.num_items)
        self.kept_edges = kept
        self.masked_adj = adj
        return adj

    def current_adj(self) -> Tensor:
        r"""The adjacency the training forward propagates over: the pruned
        graph in training mode (if :math:`\rho > 0`), else the full one."""
        if not self.training or self.dropout <= 0:
            return self.adj
        if self.masked_adj is None:
            self.prune()
        return self.masked_adj

    def sampling_edges(self) -> Optional[Tensor]:
        r"""Sampled training draws from the epoch's pruned graph."""
        if not self.training or self.dropout <= 0:
            return None
        if self.kept_edges is None:
            self.prune()
        return self.kept_edges


@register_model("freedom")
class FREEDOM(EpochPrunedGraph, Recommender):
    r"""FREEDOM from `"A Tale of Two Graphs: Freezing and Denoising Graph
    Structures for Multimodal Recommendation"
    <https://arxiv.org/abs/2211.06924>`_ (Zhou and Shen, ACM MM 2023).

    ID embeddings carry the recommendation; the item--item kNN graph
    :math:`\mathbf{S}` built from the raw features is **frozen** (see
    :func:`item_knn_adjacency`) and the user--item graph is **denoised** by
    degree-sensitive edge pruning, redrawn every epoch
    (:func:`degree_sensitive_pruning`):

    .. math::
        \mathbf{h} = \mathbf{S}^{L_{mm}} \mathbf{E}_i, \qquad
        \mathbf{H} = \frac{1}{L+1}\sum_{l=0}^{L}
        \hat{\mathbf{A}}_{\rho}^{l}\,[\mathbf{E}_u; \mathbf{E}_i], \qquad
        s_{ui} = \mathbf{H}_u^{\top}(\mathbf{H}_i + \mathbf{h}_i),

    with :math:`\hat{\mathbf{A}}_\rho` the pruned graph in training and the
    full :math:`\hat{\mathbf{A}}` in eval mode. Each modality :math:`m` has a
    **trainable** copy of its raw features :math:`\mathbf{F}_m` and a linear
    projection :math:`\mathbf{W}_m`; they only enter the loss, as auxiliary
    BPR terms (returned by :meth:`extra_loss`, added to the objective):

    .. math::
        \mathcal{L} = \mathcal{L}_{obj}(\mathbf{H}_u, \mathbf{H}_i +
        \mathbf{h}) + \lambda \sum_m \mathrm{BPR}\big(\mathbf{H}_u[u_b],
        \mathbf{W}_m\mathbf{F}_m[i^+_b], \mathbf{W}_m\mathbf{F}_m[j_b]\big).

    :math:`\lambda` weights these modality terms; FREEDOM has no norm
    regulariser. Any number of modalities :math:`\geq 1` works.

    Differences from the reference code (MMRec ``freedom.py``):

    * evaluation uses :meth:`embeddings` in eval mode (full graph), computed
      once per evaluation instead of once per user batch -- same numbers;
    * the main term comes from the chosen objective (``bpr`` by default,
      i.e. MMRec's :math:`-\log(10^{-10} + \sigma)` instead of FREEDOM's
      :math:`-\log\sigma`; equal unless a margin is below about -23), so
      NBPO and reverse BPR also apply; the modality terms keep the
      :math:`-\log\sigma` form;
    * the modality projections are computed for the batch rows only (the
      reference projects every item each step): same loss and gradients;
    * with several negatives per positive all of them enter the modality
      terms (the reference has one);
    * kNN ties are broken by item index (deterministic), zero feature rows
      do not produce NaN, and the graph is not cached on disk;
    * image weight :obj:`mm_image_weight`, the other modalities share
      :math:`1 - w` (the reference hard-wires image + text);
    * :meth:`reset_parameters` also restores the trainable feature tables
      to the raw features.

    Args:
        dataset: the :class:`~mmgraph.data.RecDataset` (with features).
        embedding_dim (int): ID embedding and projection size
            (``embedding_size`` = ``feat_embed_dim``) (default: ``64``).
        n_ui_layers (int): user--item propagation layers :math:`L`
            (default: ``2``).
        n_mm_layers (int): item--item hops :math:`L_{mm}` (default: ``1``).
        knn_k (int): neighbours per item in :math:`\mathbf{S}`
            (default: ``10``).
        mm_image_weight (float): weight of the image kNN graph
            (default: ``0.1``).
        dropout (float): edge pruning ratio :math:`\rho`; ``0`` trains on
            the full graph (default: ``0.8``).
        reg_weight (float): :math:`\lambda` of the modality BPR terms
            (default: ``1e-4``).
    """
    multimodal = True
    #: Items aggregate their neighbours in the feature kNN graph.
    scores_from_content = True

    #: Sampled training (``--sampled``): subgraphs are drawn from the
    #: epoch's degree-pruned user-item graph (:meth:`sampling_edges`) with
    #: its normalisation, and the item-item term is taken exactly for the
    #: subgraph's items (their rows of :math:`\mathbf{S}`), so with
    #: unlimited fan-out a sampled step equals the full-graph one.
    supports_sampled = True
    reads_features_by_row = True  # the modality terms index the batch's items

    def __init__(self, dataset, embedding_dim: int = 64, n_ui_layers: int = 2,
                 n_mm_layers: int = 1, knn_k: int = 10,
                 mm_image_weight: float = 0.1, dropout: float = 0.8,
                 reg_weight: float = 1e-4) -> None:
        super().__init__(dataset)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"FREEDOM: 'dropout' (the edge pruning ratio) "
                             f"must be in [0, 1) (got {dropout})")
        if n_mm_layers < 0 or n_ui_layers < 0:
            raise ValueError(f"FREEDOM: layer counts must be >= 0 (got "
                             f"n_ui_layers={n_ui_layers}, "
                             f"n_mm_layers={n_mm_layers})")
        self.embedding_dim = embedding_dim
        self.n_ui_layers = n_ui_layers
        self.n_mm_layers = n_mm_layers
        self.knn_k = knn_k
        self.mm_image_weight = mm_image_weight
        self.dropout = dropout
        self.reg_weight = reg_weight
        self.modalities = list(dataset.modalities)

        self.user_emb = torch.nn.Embedding(self.num_users, embedding_dim)
        self.item_emb = torch.nn.Embedding(self.num_items, embedding_dim)
        feats = {m: dataset.features[m] for m in self.modalities}
        self.encoders = ModalityEncoders(
            {m: int(x.size(1)) for m, x in feats.items()}, embedding_dim,
            features=feats, train_features=True)
        self.propagation = LightGCNPropagation(n_ui_layers, combine="mean")
        self.item_conv = ItemGraphConvolution(max(n_mm_layers, 1))
        self.build_graphs(dataset)
        self.reset_parameters()

    # ---------------------------------------------------------------- graphs
    def build_graphs(self, dataset) -> None:
        device = self.user_emb.weight.device
        edges = dataset.train_edge_index.to(device)
        self.register_buffer("adj", dataset.norm_adj().to(device),
                             persistent=False)
        self.register_buffer("train_edges", edges, persistent=False)
        self.register_buffer(
            "edge_weights",
            pruning_weights(edges, self.num_users, self.num_items),
            persistent=False)
        self.register_buffer(
            "mm_adj",
            item_knn_adjacency(dataset, self.knn_k,
                               self.mm_image_weight).to(device),
            persistent=False)
        # The pruned graph of the current epoch (drawn in on_epoch_start).
        self.register_buffer("masked_adj", None, persistent=False)
        self.kept_edges: Optional[Tensor] = None

    def on_epoch_start(self, epoch: int) -> None:
        if self.dropout > 0:
            self.prune()

    # ------------------------------------------------------------ parameters
    def reset_parameters(self) -> None:
        torch.nn.init.xavier_uniform_(self.user_emb.weight)
        torch.nn.init.xavier_uniform_(self.item_emb.weight)
        self.encoders.reset_parameters()

    def embeddings(self) -> Tuple[Tensor, Tensor]:
        x = torch.cat([self.user_emb.weight, self.item_emb.weight], 0)
        h = self.propagation(x, self.current_adj())
        items = self.item_emb.weight
        if self.n_mm_layers > 0:
            items = self.item_conv(items, self.mm_adj)
        return h[:self.num_users], h[self.num_users:] + items

    def subgraph_embeddings(self, batch) -> Tuple[Tensor, Tensor]:
        # The losses read the batch's rows only: each layer is trimmed to
        # them, and the output holds the batch's users and items (a prefix
        # of the subgraph's, so its positions stay valid).
        adj = batch.layer_adjacencies(self.propagation.num_layers)
        nu, ni = adj.output_block
        ids = self.item_emb(batch.item_ids)
        h = self.propagation(torch.cat([self.user_emb(batch.user_ids), ids],
                                       0), adj, symmetric=False)
        # the batch's rows of the same lookup: a second one would build a
        # second dense table-sized gradient in the backward
        seed_items = batch.item_ids[:ni]
        items = ids[:ni]
        if self.n_mm_layers > 0:
            # S^L E at the batch's items: L - 1 full hops (cheap: k
            # neighbours per item), then only their rows of S.
            inner = self.item_emb.weight
            for _ in range(self.n_mm_layers - 1):
                inner = spmm(self.mm_adj, inner)
            items = spmm(csr_rows(self.mm_adj, seed_items), inner)
        return h[:nu], h[nu:] + items

    def extra_loss(self, batch: Batch, user_emb: Tensor,
                   item_emb: Tensor) -> Tensor:
        if self.reg_weight == 0:
            return user_emb.new_zeros(())
        if batch.neg_items is None:
            raise ValueError("FREEDOM: the modality BPR terms need sampled "
                             "negatives (batch.neg_items is None)")
        # Sampled batches hold subgraph rows: users by local position; the
        # features are indexed by global item id either way.
        users = batch.local().users
        # index_select, not x[index]: the backward of advanced indexing is
        # not deterministic on multi-threaded CPUs (index_add_ is).
        u = user_emb.index_select(0, users)
        num_pos = batch.pos_items.numel()
        neg = batch.neg_items.reshape(num_pos, -1)
        index = torch.cat([batch.pos_items, neg.reshape(-1)])
        total = user_emb.new_zeros(())
        for proj in self.encoders(index=index).values():
            pos_s = (u * proj[:num_pos]).sum(-1)
            neg_s = (u.unsqueeze(1) *
                     proj[num_pos:].view(num_pos, neg.size(1), -1)).sum(-1)
            total = total + bpr_loss(pos_s, neg_s, form="logsigmoid")
        return self.reg_weight * total

    def extra_repr(self) -> str:
        return (f"{self.num_users}, {self.num_items}, "
                f"embedding_dim={self.embedding_dim}, "
                f"modalities={self.modalities}, "
                f"n_ui_layers={self.n_ui_layers}, "
                f"n_mm_layers={self.n_mm_layers}, knn_k={self.knn_k}, "
                f"dropout={self.dropout}")
