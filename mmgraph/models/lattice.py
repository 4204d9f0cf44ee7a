r"""LATTICE: a learned item--item structure on top of a LightGCN backbone."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from torch_geometric.utils import to_torch_csr_tensor

from mmgraph.models.base import Batch, Recommender
from mmgraph.models.registry import register_model
from mmgraph.nn.encoders import ModalityEncoders
from mmgraph.nn.item_graphs import (coalesce_edges, cosine_knn,
                                    edge_propagate, symmetric_normalize)
from mmgraph.nn.propagation import ItemGraphConvolution, LightGCNPropagation

__all__ = ["LATTICE", "random_walk_adjacency"]


def random_walk_adjacency(edge_index: Tensor, num_users: int,
                          num_items: int) -> Tensor:
    r"""The row-normalised user--item adjacency with self loops of LATTICE
    (MMRec ``LATTICE.get_adj_mat``),

    .. math::
        \tilde{\mathbf{A}} = (\mathbf{D} + \mathbf{I})^{-1}
        (\mathbf{A} + \mathbf{I}),

    i.e. :math:`\tilde{A}_{vw} = 1 / (d_v + 1)` for every neighbour
    :math:`w` of :math:`v` and for :math:`w = v`. Not symmetric. Returns a
    ``[U + I, U + I]`` CSR matrix (items offset by :math:`U`)."""
    n = num_users + num_items
    key = torch.unique(edge_index[0].long() * num_items +
                       edge_index[1].long())
    u, i = key // num_items, key % num_items + num_users
    loops = torch.arange(n, device=key.device)
    row = torch.cat([u, i, loops])
    col = torch.cat([i, u, loops])
    deg = torch.bincount(row, minlength=n).float()
    return to_torch_csr_tensor(torch.stack([row, col]), 1.0 / deg[row], (n, n))


@register_model("lattice")
class LATTICE(Recommender):
    r"""LATTICE from `"Mining Latent Structures for Multimedia
    Recommendation" <https://arxiv.org/abs/2104.09036>`_ (Zhang, Zhu, Liu,
    Wu, Wang and Wang, ACM MM 2021), as in MMRec with the LightGCN backbone.

    **Item--item structure.** Each modality :math:`m` has trainable raw
    features :math:`\mathbf{F}_m` and a linear projection
    :math:`\tilde{\mathbf{f}}^m_i = \mathbf{W}_m\mathbf{f}^m_i +
    \mathbf{b}_m`. With :math:`\mathrm{kNN}(\cdot)` the cosine
    :math:`k`-nearest-neighbour graph weighted by the similarities
    (:func:`~mmgraph.nn.item_graphs.cosine_knn`), :math:`\mathcal{N}(\cdot)`
    the symmetric normalisation :math:`\mathbf{D}^{-1/2}\cdot\mathbf{D}^{-1/2}`
    by row sums and :math:`\boldsymbol{\alpha} = \mathrm{softmax}(\mathbf{a})`
    learned modality weights,

    .. math::
        \mathbf{S} = (1 - \lambda)\,\mathcal{N}\Big(\sum_m \alpha_m
        \mathrm{kNN}(\tilde{\mathbf{F}}_m)\Big) + \lambda \sum_m \alpha_m
        \mathcal{N}\big(\mathrm{kNN}(\mathbf{F}^{(0)}_m)\big),
        \qquad \mathbf{h} = \mathbf{S}^{L_{mm}}\mathbf{E}_i,

    the second graph built once from the initial features. As in the
    reference, :math:`\mathbf{S}` is rebuilt from the current projections
    at the first step of every epoch (gradients reach the projections, the
    features and :math:`\mathbf{a}` only through that step) and reused,
    detached, for the other steps of the epoch; evaluation rebuilds it.

    **Collaborative part.** LightGCN layer mean over the row-normalised
    adjacency with self loops (:func:`random_walk_adjacency`):

    .. math::
        \mathbf{H} = \frac{1}{L+1}\sum_{l=0}^{L}\tilde{\mathbf{A}}^{l}
        [\mathbf{E}_u; \mathbf{E}_i], \qquad
        \mathbf{h}_u = \mathbf{H}_u, \quad
        \mathbf{h}_i = \mathbf{H}_i + \mathbf{h}_i /
        \lVert \mathbf{h}_i \rVert .

    The regulariser (:meth:`extra_loss`) is
    :math:`\frac{\mu}{2B}(\lVert\mathbf{h}_{u_b}\rVert^2 +
    \lVert\mathbf{h}_{i^+_b}\rVert^2 + \lVert\mathbf{h}_{j_b}\rVert^2)`
    on the final embeddings of the batch.

    **Memory.** The reference builds dense :math:`I \times I` similarity
    matrices (per modality, learned and original: at Elec scale, 63,001
    items, each is :math:`63001^2 \times 4` B = 15.9 GB, and about five are
    alive at once, so LATTICE has no Elec result). Here every graph is an
    edge list of at most :math:`2 M k I` entries (Elec, :math:`M = 2`,
    :math:`k = 10`: 2.5 M edges, 50 MB with their indices) and the
    similarities are computed
    in blocks of ``knn_chunk_size`` rows (1,024 rows x 63,001 items x 4 B =
    258 MB); the graph step's backward keeps one ``[edges, d]`` message
    tensor (2.5 M x 64 x 4 B = 645 MB). The per-epoch rebuild costs
    :math:`O(I^2 d)` flops.

    Differences from the reference code (MMRec ``lattice.py``), none of
    which changes the model:

    * only the LightGCN backbone (MMRec's default ``cf_model``; NGCF and MF
      are not implemented);
    * any number of modalities: :math:`\boldsymbol{\alpha}` has one entry
      per modality (the reference hard-wires image + text);
    * the projections of all items are computed only when the graph is
      rebuilt (the reference computes and discards them at every step);
    * the regulariser divides by the batch's size (the reference by the
      configured ``train_batch_size``, which differs on the last batch);
    * the main term comes from the chosen objective (BPR by default, MMRec's
      :math:`-\log(10^{-10} + \sigma)`; the reference uses
      :math:`-\log\sigma`);
    * kNN ties are broken by item index, zero feature rows give zero
      similarity instead of NaN, and nothing is cached on disk.

    Args:
        dataset: the :class:`~mmgraph.data.RecDataset` (with features).
        embedding_dim (int): ID embedding size (default: ``64``).
        feat_embed_dim (int): size of the projections the learned graph
            is built from (default: ``64``).
        n_ui_layers (int): user--item layers :math:`L` (``len(weight_size)``
            in MMRec) (default: ``2``).
        n_layers (int): item--item hops :math:`L_{mm}` (default: ``1``).
        knn_k (int): neighbours per item (default: ``10``).
        lambda_coeff (float): :math:`\lambda`, weight of the original graph
            (default: ``0.9``).
        reg_weight (float): :math:`\mu` (default: ``1e-4``).
        knn_chunk_size (int): rows per similarity block (default: ``1024``).
    """

    #: Sampled training (``--sampled``) is not supported: why.
    supports_sampled = (
        "it learns its item-item graph from all items' projected features every "
        "epoch")
    #: Item representations use the item's own features (a cold item is
    #: scored from content; tests/models/test_content_scoring.py checks it).
    scores_from_content = True
    multimodal = True

    def __init__(self, dataset, embedding_dim: int = 64,
                 feat_embed_dim: int = 64, n_ui_layers: int = 2,
                 n_layers: int = 1, knn_k: int = 10,
                 lambda_coeff: float = 0.9, reg_weight: float = 1e-4,
                 knn_chunk_size: int = 1024) -> None:
        super().__init__(dataset)
        if n_layers < 1 or n_ui_layers < 0:
            raise ValueError(f"LATTICE: need n_layers >= 1 and n_ui_layers "
                             f">= 0 (got {n_layers}, {n_ui_layers})")
        if not 0.0 <= lambda_coeff <= 1.0:
            raise ValueError(f"LATTICE: 'lambda_coeff' must be in [0, 1] "
                             f"(got {lambda_coeff})")
        self.embedding_dim = embedding_dim
        self.feat_embed_dim = feat_embed_dim
        self.n_ui_layers = n_ui_layers
        self.n_layers = n_layers
        self.knn_k = knn_k
        self.lambda_coeff = lambda_coeff
        self.reg_weight = reg_weight
        self.knn_chunk_size = knn_chunk_size
        self.modalities = list(dataset.modalities)

        self.user_emb = torch.nn.Embedding(self.num_users, embedding_dim)
        self.item_emb = torch.nn.Embedding(self.num_items, embedding_dim)
        feats = {m: dataset.features[m] for m in self.modalities}
        self.encoders = ModalityEncoders(
            {m: int(x.size(1)) for m, x in feats.items()}, feat_embed_dim,
            features=feats, train_features=True)
        self.modal_weight = torch.nn.Parameter(
            torch.empty(len(self.modalities)))
        self.propagation = LightGCNPropagation(n_ui_layers, combine="mean",
                                               symmetric=False)
        self.item_conv = ItemGraphConvolution(n_layers)
        self._train_graph: Optional[Tensor] = None
        self.build_feature_graphs(dataset)
        self.build_graphs(dataset)
        self.reset_parameters()

    def build_feature_graphs(self, dataset) -> None:
        # The original graphs N(kNN(F_m)) of the raw features (fixed).
        device = self.user_emb.weight.device
        for m in self.modalities:
            ei, ew = symmetric_normalize(
                cosine_knn(dataset.features[m], self.knn_k,
                           self.knn_chunk_size), self.num_items)
            self.register_buffer(
                f"orig_{m}", torch.sparse_coo_tensor(
                    ei, ew, (self.num_items, self.num_items)).coalesce().to(
                        device), persistent=False)
        self._stale = True

    def build_graphs(self, dataset) -> None:
        self.register_buffer(
            "adj", random_walk_adjacency(
                dataset.train_edge_index.to(self.user_emb.weight.device),
                self.num_users, self.num_items),
            persistent=False)
        self._stale = True

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_uniform_(self.user_emb.weight)
        torch.nn.init.xavier_uniform_(self.item_emb.weight)
        self.encoders.reset_parameters()
        torch.nn.init.constant_(self.modal_weight, 1.0 / len(self.modalities))
        self._stale = True

    def on_epoch_start(self, epoch: int) -> None:
        self._stale = True

    def item_graph(self) -> Tuple[Tensor, Tensor]:
        r"""The item--item graph :math:`\mathbf{S}` from the current
        projections, as ``(edge_index, edge_weight)`` (differentiable in the
        projections, the features and the modality weights)."""
        alpha = torch.softmax(self.modal_weight, 0)
        proj = self.encoders()
        learned = [cosine_knn(proj[m], self.knn_k, self.knn_chunk_size)
                   for m in self.modalities]
        learned = symmetric_normalize(
            coalesce_edges(learned, list(alpha), self.num_items),
            self.num_items)
        original = [(getattr(self, f"orig_{m}").indices(),
                     getattr(self, f"orig_{m}").values())
                    for m in self.modalities]
        lam = self.lambda_coeff
        return coalesce_edges(
            [learned] + original,
            [1.0 - lam] + [lam * a for a in alpha], self.num_items)

    def _item_side(self) -> Tensor:
        items = self.item_emb.weight
        if self.training and (self._stale or self._train_graph is None):
            graph = self.item_graph()
            self._train_graph = to_torch_csr_tensor(graph[0], graph[1].detach(),
                                       (self.num_items, self.num_items))
            self._stale = False
            return edge_propagate(graph, items, self.n_layers)
        if self.training:
            return self.item_conv(items, self._train_graph)
        with torch.no_grad():
            ei, ew = self.item_graph()
        return self.item_conv(items, to_torch_csr_tensor(ei, ew, (self.num_items,
                                                     self.num_items)))

    def embeddings(self) -> Tuple[Tensor, Tensor]:
        x = torch.cat([self.user_emb.weight, self.item_emb.weight], 0)
        h = self.propagation(x, self.adj)
        mm = F.normalize(self._item_side(), dim=1)
        return h[:self.num_users], h[self.num_users:] + mm

    def extra_loss(self, batch: Batch, user_emb: Tensor,
                   item_emb: Tensor) -> Tensor:
        if self.reg_weight == 0:
            return user_emb.new_zeros(())
        return self.reg_weight * self.batch_l2_loss(batch, user_emb, item_emb)

    def extra_repr(self) -> str:
        return (f"{self.num_users}, {self.num_items}, "
                f"embedding_dim={self.embedding_dim}, "
                f"modalities={self.modalities}, "
                f"n_ui_layers={self.n_ui_layers}, n_layers={self.n_layers}, "
                f"knn_k={self.knn_k}, lambda_coeff={self.lambda_coeff}")
