r"""MGCN: multi-view graph convolution with purified modality features."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Linear, ModuleDict, Sequential, Sigmoid, Tanh

from torch_geometric.utils import to_torch_csr_tensor

from mmgraph.models.base import Batch, Recommender
from mmgraph.models.freedom import pruning_weights
from mmgraph.models.registry import register_model
from mmgraph.nn.encoders import ModalityEncoders
from mmgraph.nn.item_graphs import cosine_knn, symmetric_normalize
from mmgraph.nn.propagation import LightGCNPropagation
from mmgraph.nn.sparse import spmm, transpose_csr

__all__ = ["MGCN"]


def _gate(dim: int) -> Sequential:
    return Sequential(Linear(dim, dim), Sigmoid())


@register_model("mgcn")
class MGCN(Recommender):
    r"""MGCN from `"Multi-View Graph Convolutional Network for Multimedia
    Recommendation" <https://arxiv.org/abs/2308.03588>`_ (Yu, Li, Zhou, Zhang
    and Chen, ACM MM 2023).

    **Behaviour-guided purifier.** Trainable raw features :math:`\mathbf{F}_m`
    are projected, :math:`\mathbf{t}^m_i = \mathbf{W}_m\mathbf{f}^m_i +
    \mathbf{b}_m`, and gate the item ID embedding,
    :math:`\tilde{\mathbf{e}}^m_i = \mathbf{e}_i \odot
    \sigma(\mathbf{W}^g_m\mathbf{t}^m_i + \mathbf{b}^g_m)`.

    **User--item view.** LightGCN layer mean over the normalised adjacency
    :math:`\hat{\mathbf{A}}`:
    :math:`\mathbf{H} = \frac{1}{L+1}\sum_{l=0}^{L}\hat{\mathbf{A}}^{l}
    [\mathbf{E}_u; \mathbf{E}_i]`.

    **Item--item views.** With :math:`\mathbf{S}_m` the symmetric-normalised
    cosine kNN graph of the raw features (similarities as weights, built
    once) and :math:`\hat{\mathbf{R}}` the user--item block of
    :math:`\hat{\mathbf{A}}`,

    .. math::
        \mathbf{X}^m_i = \mathbf{S}_m^{L_{mm}}\tilde{\mathbf{E}}^m, \qquad
        \mathbf{X}^m = [\hat{\mathbf{R}}\mathbf{X}^m_i; \mathbf{X}^m_i].

    **Behaviour-aware fuser.** Attention
    :math:`\alpha_m = \mathrm{softmax}_m(\mathbf{q}^{\top}\tanh(
    \mathbf{W}_q\mathbf{X}^m + \mathbf{b}_q))` per node gives the common part
    :math:`\mathbf{C} = \sum_m \alpha_m\mathbf{X}^m`; the specific parts are
    gated by the node's behaviour, :math:`\mathbf{P}^m = \sigma(
    \mathbf{W}^p_m\mathbf{H} + \mathbf{b}^p_m) \odot (\mathbf{X}^m -
    \mathbf{C})`, and

    .. math::
        \mathbf{Z} = \frac{1}{M + 1}\Big(\mathbf{C} +
        \sum_m \mathbf{P}^m\Big), \qquad
        [\mathbf{h}_u; \mathbf{h}_i] = \mathbf{H} + \mathbf{Z}.

    **Loss terms** (:meth:`extra_loss`, added to the objective): the
    squared-norm regulariser :math:`\frac{\mu}{2B}(\lVert\mathbf{h}_{u_b}
    \rVert^2 + \lVert\mathbf{h}_{i^+_b}\rVert^2 + \lVert\mathbf{h}_{j_b}
    \rVert^2)` and the contrastive term
    :math:`\lambda_c\,[\mathrm{InfoNCE}(\mathbf{Z}_{i^+_b},
    \mathbf{H}_{i^+_b}) + \mathrm{InfoNCE}(\mathbf{Z}_{u_b},
    \mathbf{H}_{u_b})]` with temperature 0.2
    (:func:`~mmgraph.nn.losses.info_nce_loss`).

    Memory: the kNN graphs are built chunked and sparse (:math:`M k I`
    entries); nothing is :math:`I \times I`.

    Differences from the reference code (MMRec ``mgcn.py``):

    * any number of modalities: one gate pair per modality and the mean over
      :math:`M + 1` parts (the reference hard-wires image + text, i.e. 3);
    * the main term comes from the chosen objective (BPR by default, MMRec's
      :math:`-\log(10^{-10} + \sigma)`; the reference uses
      :math:`-\log\sigma`); the regulariser divides by the batch's size (the
      reference by ``train_batch_size``, different on the last batch);
    * :math:`\hat{\mathbf{A}}` adds :math:`10^{-7}` to the degrees (no
      difference for nodes with edges); kNN ties are broken by item index
      and nothing is cached on disk.

    Args:
        dataset: the :class:`~mmgraph.data.RecDataset` (with features).
        embedding_dim (int): embedding and projection size (default: ``64``).
        n_ui_layers (int): user--item layers :math:`L` (default: ``2``).
        n_layers (int): item--item hops :math:`L_{mm}` (default: ``1``).
        knn_k (int): neighbours per item (default: ``10``).
        reg_weight (float): :math:`\mu` (default: ``1e-4``).
        cl_loss (float): :math:`\lambda_c` (default: ``0.01``).
        cl_temperature (float): InfoNCE temperature (default: ``0.2``).
    """

    #: Sampled training (``--sampled``) is not supported: why.
    supports_sampled = (
        "its modality views propagate over the kNN graphs of all items and the "
        "whole user-item graph")
    #: Item representations use the item's own features (a cold item is
    #: scored from content; tests/models/test_content_scoring.py checks it).
    scores_from_content = True
    multimodal = True

    def __init__(self, dataset, embedding_dim: int = 64, n_ui_layers: int = 2,
                 n_layers: int = 1, knn_k: int = 10, reg_weight: float = 1e-4,
                 cl_loss: float = 0.01, cl_temperature: float = 0.2) -> None:
        super().__init__(dataset)
        if n_layers < 0 or n_ui_layers < 0:
            raise ValueError(f"MGCN: layer counts must be >= 0 (got "
                             f"n_ui_layers={n_ui_layers}, "
                             f"n_layers={n_layers})")
        self.embedding_dim = embedding_dim
        self.n_ui_layers = n_ui_layers
        self.n_layers = n_layers
        self.knn_k = knn_k
        self.reg_weight = reg_weight
        self.cl_loss = cl_loss
        self.cl_temperature = cl_temperature
        self.modalities = list(dataset.modalities)
        d = embedding_dim

        self.user_emb = torch.nn.Embedding(self.num_users, d)
        self.item_emb = torch.nn.Embedding(self.num_items, d)
        feats = {m: dataset.features[m] for m in self.modalities}
        self.encoders = ModalityEncoders(
            {m: int(x.size(1)) for m, x in feats.items()}, d,
            features=feats, train_features=True)
        self.purifier = ModuleDict({m: _gate(d) for m in self.modalities})
        self.preference = ModuleDict({m: _gate(d) for m in self.modalities})
        self.query = Sequential(Linear(d, d), Tanh(), Linear(d, 1, bias=False))
        self.propagation = LightGCNPropagation(n_ui_layers, combine="mean")
        self._views: Optional[Tuple[Tensor, Tensor]] = None
        self.build_feature_graphs(dataset)
        self.build_graphs(dataset)
        self.reset_parameters()

    def build_feature_graphs(self, dataset) -> None:
        device = self.user_emb.weight.device
        for m in self.modalities:
            s = to_torch_csr_tensor(*symmetric_normalize(
                cosine_knn(dataset.features[m], self.knn_k), self.num_items),
                (self.num_items, self.num_items)).to(device)
            self.register_buffer(f"knn_{m}", s, persistent=False)
            self.register_buffer(f"knn_t_{m}", transpose_csr(s),
                                 persistent=False)

    def build_graphs(self, dataset) -> None:
        device = self.user_emb.weight.device
        self.register_buffer("adj", dataset.norm_adj().to(device),
                             persistent=False)
        edges = dataset.train_edge_index.to(device)
        r = to_torch_csr_tensor(edges, pruning_weights(edges, self.num_users,
                                          self.num_items),
                   (self.num_users, self.num_items))
        self.register_buffer("r_hat", r, persistent=False)
        self.register_buffer("r_hat_t", transpose_csr(r), persistent=False)

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_uniform_(self.user_emb.weight)
        torch.nn.init.xavier_uniform_(self.item_emb.weight)
        self.encoders.reset_parameters()
        for module in [*self.purifier.values(), *self.preference.values(),
                       self.query]:
            for layer in module:
                if isinstance(layer, Linear):
                    layer.reset_parameters()

    def views(self) -> Tuple[Tensor, Tensor]:
        r"""``(H, Z)``: the user--item view and the fused modality view,
        both ``[U + I, d]``."""
        ids = torch.cat([self.user_emb.weight, self.item_emb.weight], 0)
        content = self.propagation(ids, self.adj)
        proj = self.encoders()
        mods = []
        for m in self.modalities:
            x = self.item_emb.weight * self.purifier[m](proj[m])
            s, s_t = getattr(self, f"knn_{m}"), getattr(self, f"knn_t_{m}")
            for _ in range(self.n_layers):
                x = spmm(s, x, s_t)
            mods.append(torch.cat([spmm(self.r_hat, x, self.r_hat_t), x], 0))
        att = torch.softmax(torch.cat([self.query(x) for x in mods], -1), -1)
        common = sum(att[:, k:k + 1] * x for k, x in enumerate(mods))
        side = common
        for m, x in zip(self.modalities, mods):
            side = side + self.preference[m](content) * (x - common)
        return content, side / (len(mods) + 1)

    def embeddings(self) -> Tuple[Tensor, Tensor]:
        content, side = self.views()
        self._views = (content, side) if self.training else None
        h = content + side
        return h[:self.num_users], h[self.num_users:]

    def extra_loss(self, batch: Batch, user_emb: Tensor,
                   item_emb: Tensor) -> Tensor:
        total = user_emb.new_zeros(())
        if self.reg_weight != 0:
            total = total + self.reg_weight * self.batch_l2_loss(
                batch, user_emb, item_emb)
        if self.cl_loss != 0:
            content, side = self._views if self._views is not None \
                else self.views()
            total = total + self.cl_loss * self.batch_view_contrast_loss(
                batch, side, content, self.cl_temperature)
        return total

    def extra_repr(self) -> str:
        return (f"{self.num_users}, {self.num_items}, "
                f"embedding_dim={self.embedding_dim}, "
                f"modalities={self.modalities}, "
                f"n_ui_layers={self.n_ui_layers}, n_layers={self.n_layers}, "
                f"knn_k={self.knn_k}, cl_loss={self.cl_loss}")
