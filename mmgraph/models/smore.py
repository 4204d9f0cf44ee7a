r"""SMORE: spectrum-based fusion of modality representations."""
from __future__ import annotations

from typing import Dict, List, Mapping, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from torch_geometric.utils import to_torch_csr_tensor

from mmgraph.models.base import Batch, Recommender
from mmgraph.models.registry import register_model
from mmgraph.nn.encoders import ModalityEncoders
from mmgraph.nn.propagation import LightGCNPropagation
from mmgraph.nn.sparse import spmm, transpose_csr

__all__ = ["SMORE", "SpectralFusion", "similarity_knn_graph",
           "max_fuse_graphs"]

# Gathered feature rows per block when scoring kNN edges (64 MB at 4 bytes).
_EDGE_BLOCK_FLOATS = 2 ** 24


@torch.no_grad()
def similarity_knn_graph(x: Tensor, edge_index: Tensor,
                         num_nodes: int) -> Tuple[Tensor, Tensor]:
    r"""Symmetrically normalised cosine kNN graph (SMORE, LATTICE-style):
    for the kNN edges :math:`j \in \mathcal{N}_k(i)` of ``edge_index``
    (``edge_index[0] = i``, e.g. from
    :meth:`~mmgraph.data.RecDataset.knn_graph`),

    .. math::
        s_{ij} = \cos(\mathbf{x}_i, \mathbf{x}_j), \qquad
        d_i = \sum_{j\in\mathcal{N}_k(i)} s_{ij}, \qquad
        S_{ij} = d_i^{-1/2}\, s_{ij}\, d_j^{-1/2}

    (:math:`d^{-1/2} = 0` where :math:`d = 0`). The similarities are scored
    edge by edge in blocks, so memory is :math:`O(|\mathcal{E}|)`.
    Returns ``(edge_index, edge_weight)``."""
    xn = F.normalize(x.float(), dim=1)
    row, col = edge_index[0], edge_index[1]
    sim = torch.empty(row.numel(), dtype=xn.dtype, device=xn.device)
    step = max(1, _EDGE_BLOCK_FLOATS // max(1, xn.size(1)))
    for s in range(0, row.numel(), step):
        sim[s:s + step] = (xn.index_select(0, row[s:s + step]) *
                           xn.index_select(0, col[s:s + step])).sum(-1)
    deg = torch.zeros(num_nodes, dtype=sim.dtype,
                      device=sim.device).index_add_(0, row, sim)
    dinv = deg.pow(-0.5)
    dinv[torch.isinf(dinv)] = 0.0
    return edge_index, dinv[row] * sim * dinv[col]


def max_fuse_graphs(graphs: Mapping[str, Tuple[Tensor, Tensor]],
                    num_nodes: int) -> Tuple[Tensor, Tensor]:
    r"""SMORE's max-pooled fusion of the modality graphs: the union of
    their entries, each with the largest value among the graphs that hold
    it, :math:`S^f_{ij} = \max_{m : (i,j)\in\mathcal{E}_m} S^m_{ij}`."""
    ei = torch.cat([g[0] for g in graphs.values()], 1)
    ew = torch.cat([g[1] for g in graphs.values()])
    key, inv = torch.unique(ei[0] * num_nodes + ei[1], return_inverse=True)
    out = torch.full((key.numel(),), float("-inf"), dtype=ew.dtype,
                     device=ew.device)
    out = out.scatter_reduce(0, inv, ew, reduce="amax")
    return torch.stack([key // num_nodes, key % num_nodes]), out


class SpectralFusion(torch.nn.Module):
    r"""SMORE's spectral modality denoising and fusion (paper Sec. 3.2):
    with the real FFT along the embedding dimension
    :math:`\mathcal{F}` (orthonormal) and learnable complex filters
    :math:`\mathbf{w}_m, \mathbf{w}_f \in \mathbb{C}^{d/2+1}`,

    .. math::
        \tilde{\mathbf{X}}_m = \mathcal{F}^{-1}\big(\mathcal{F}(\mathbf{X}_m)
        \odot \mathbf{w}_m\big), \qquad
        \tilde{\mathbf{X}}_f = \mathcal{F}^{-1}\Big(\mathbf{w}_f \odot
        \prod_m \mathcal{F}(\mathbf{X}_m)\Big):

    a per-modality filter (denoising) and the product of the spectra, i.e.
    the circular convolution of the modalities in the embedding domain
    (fusion). Vectorised over rows; cost :math:`O(N d \log d)`.

    Args:
        modalities (List[str]): the modality names (order of the inputs).
        channels (int): embedding size :math:`d`.
    """
    def __init__(self, modalities: List[str], channels: int) -> None:
        super().__init__()
        self.modalities = list(modalities)
        self.channels = channels
        freq = channels // 2 + 1
        # Real and imaginary parts, as torch.view_as_complex expects.
        self.filters = torch.nn.ParameterDict({
            m: torch.nn.Parameter(torch.empty(freq, 2))
            for m in self.modalities})
        self.fusion_filter = torch.nn.Parameter(torch.empty(freq, 2))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p in list(self.filters.values()) + [self.fusion_filter]:
            torch.nn.init.normal_(p)

    def forward(self, embs: Mapping[str, Tensor]
                ) -> Tuple[Dict[str, Tensor], Tensor]:
        r"""Returns ``({m: X~_m}, X~_f)`` for ``embs = {m: X_m [N, d]}``."""
        d = self.channels
        spectra = {m: torch.fft.rfft(embs[m], dim=1, norm="ortho")
                   for m in self.modalities}
        uni = {m: torch.fft.irfft(
            spectra[m] * torch.view_as_complex(self.filters[m]), n=d, dim=1,
            norm="ortho") for m in self.modalities}
        prod = None
        for m in self.modalities:
            prod = spectra[m] if prod is None else prod * spectra[m]
        fused = torch.fft.irfft(
            prod * torch.view_as_complex(self.fusion_filter), n=d, dim=1,
            norm="ortho")
        return uni, fused

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(modalities={self.modalities}, "
                f"channels={self.channels})")


def _gate(d: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(d, d), torch.nn.Sigmoid())


def _query(d: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(d, d), torch.nn.Tanh(),
                               torch.nn.Linear(d, d, bias=False))


@register_model("smore")
class SMORE(Recommender):
    r"""SMORE from `"Spectrum-based Modality Representation Fusion Graph
    Convolutional Network for Multimodal Recommendation"
    <https://arxiv.org/abs/2412.14978>`_ (Ong and Khong, WSDM 2025).

    **Spectral fusion.** Trainable item features are projected,
    :math:`\mathbf{X}_m = \mathbf{F}_m\mathbf{W}_m + \mathbf{b}_m`, filtered
    and fused in the frequency domain (:class:`SpectralFusion`), and gate
    the item ID embeddings, :math:`\mathbf{I}_v = \mathbf{E}_i \odot
    \sigma(\tilde{\mathbf{X}}_v\mathbf{W}^g_v + \mathbf{b}^g_v)` for every
    view :math:`v \in \{1..M, f\}`.

    **Views.** Behaviour: LightGCN layer mean over the normalised user--item
    graph, :math:`\mathbf{C} = \frac{1}{L+1}\sum_l \hat{\mathbf{A}}^l
    [\mathbf{E}_u; \mathbf{E}_i]`. Item--item: :math:`L_i` hops over the
    modality graph :math:`\mathbf{S}_m` (:func:`similarity_knn_graph`,
    ``image_knn_k`` / ``text_knn_k`` neighbours) or, for the fusion view,
    the max-pooled graph :math:`\mathbf{S}_f` (:func:`max_fuse_graphs`);
    users aggregate their items with the normalised interaction block
    :math:`\hat{\mathbf{R}}` of :math:`\hat{\mathbf{A}}`:
    :math:`\mathbf{H}_v = [\hat{\mathbf{R}}\mathbf{S}_v^{L_i}\mathbf{I}_v;
    \mathbf{S}_v^{L_i}\mathbf{I}_v]`.

    **Modality-aware preference.**

    .. math::
        \mathbf{A}_m = \mathrm{softmax}(q_m(\mathbf{H}_f)) \odot \mathbf{H}_m,
        \quad \mathbf{Z} = \frac{1}{M+1}\Big(\sum_m \delta(\sigma(g_m(
        \mathbf{C}))) \odot \mathbf{A}_m + \delta(\sigma(g_f(\mathbf{C})))
        \odot \mathbf{H}_f\Big),

    with :math:`q_m` a tanh MLP, :math:`g` linear maps, :math:`\delta`
    dropout; the representation is :math:`\mathbf{C} + \mathbf{Z}`,
    :math:`s_{ui} = \mathbf{e}_u^{\top}\mathbf{e}_i`.

    **Loss** (:meth:`extra_loss` beside the objective): the squared-norm
    regulariser :math:`\frac{\lambda}{2B}(\lVert\mathbf{e}_{u_b}\rVert^2 +
    \lVert\mathbf{e}_{i^+_b}\rVert^2 + \lVert\mathbf{e}_{j_b}\rVert^2)` on
    the final embeddings and the contrast of the side and behaviour views,
    :math:`\lambda_{cl}(\mathrm{NCE}(\mathbf{Z}_{i^+_b}, \mathbf{C}_{i^+_b})
    + \mathrm{NCE}(\mathbf{Z}_{u_b}, \mathbf{C}_{u_b}))`
    (:func:`~mmgraph.nn.losses.info_nce_loss`, :math:`\tau = 0.2`). The side and behaviour
    views of the same forward pass are kept by :meth:`embeddings`.

    Differences from the reference code (MMRec ``smore.py``, which needs
    image + text and a GPU): any number of modalities (one gives
    :math:`\tilde{\mathbf{X}}_f = \mathcal{F}^{-1}(\mathbf{w}_f \odot
    \mathcal{F}(\mathbf{X}_1))`); the regulariser divides by the actual
    batch size (the reference by the configured one, so its last, smaller
    batch is regularised less); kNN ties are broken by item index; the
    graphs are not cached on disk; MMRec's learning-rate decay
    ``[0.96, 50]`` (a factor 0.96 per 50 epochs) is not applied (the trainer
    has no scheduler option). :meth:`reset_parameters` restores the
    trainable features.

    Memory at Elec scale (192K users, 63K items, 4096-d image): the kNN
    graphs hold :math:`I k` entries each (the fused one up to
    :math:`M I k`), built edge by edge with no :math:`I\times I` matrix;
    the FFTs act on :math:`I\times d` tensors; a forward pass keeps about
    :math:`3(M+1) + 4` tensors of :math:`(U+I)\times d` floats for autograd
    (about 1 GB at :math:`d=64`, :math:`M=2`) plus the trainable feature
    tables (1 GB for 4096-d image features) and their Adam states.

    Args:
        dataset: the :class:`~mmgraph.data.RecDataset` (with features).
        embedding_dim (int): :math:`d` (default: ``64``).
        n_ui_layers (int): behaviour layers :math:`L` (default: ``3``).
        n_layers (int): item--item hops :math:`L_i` (default: ``1``).
        image_knn_k (int): neighbours in the ``image`` graph
            (default: ``10``).
        text_knn_k (int): neighbours in every other modality's graph
            (default: ``10``).
        dropout_rate (float): dropout on the preference gates
            (default: ``0.0``).
        reg_weight (float): :math:`\lambda` (default: ``1e-5``).
        cl_loss (float): :math:`\lambda_{cl}` (default: ``0.01``).
        temperature (float): :math:`\tau` (default: ``0.2``).
    """

    #: Sampled training (``--sampled``) is not supported: why.
    supports_sampled = (
        "its spectral fusion transforms all items' projected features together "
        "and its views propagate over kNN graphs of all items")
    #: Item representations use the item's own features (a cold item is
    #: scored from content; tests/models/test_content_scoring.py checks it).
    scores_from_content = True
    multimodal = True

    def __init__(self, dataset, embedding_dim: int = 64, n_ui_layers: int = 3,
                 n_layers: int = 1, image_knn_k: int = 10,
                 text_knn_k: int = 10, dropout_rate: float = 0.0,
                 reg_weight: float = 1e-5, cl_loss: float = 0.01,
                 temperature: float = 0.2) -> None:
        super().__init__(dataset)
        if not 0.0 <= dropout_rate < 1.0:
            raise ValueError(f"SMORE: 'dropout_rate' must be in [0, 1) "
                             f"(got {dropout_rate})")
        if n_layers < 0 or n_ui_layers < 0:
            raise ValueError(f"SMORE: layer counts must be >= 0 (got "
                             f"n_ui_layers={n_ui_layers}, "
                             f"n_layers={n_layers})")
        self.embedding_dim = embedding_dim
        self.n_ui_layers = n_ui_layers
        self.n_layers = n_layers
        self.image_knn_k = image_knn_k
        self.text_knn_k = text_knn_k
        self.dropout_rate = dropout_rate
        self.reg_weight = reg_weight
        self.cl_loss = cl_loss
        self.temperature = temperature
        self.modalities: List[str] = list(dataset.modalities)
        d = embedding_dim

        self.user_emb = torch.nn.Embedding(self.num_users, d)
        self.item_emb = torch.nn.Embedding(self.num_items, d)
        feats = {m: dataset.features[m] for m in self.modalities}
        self.encoders = ModalityEncoders(
            {m: int(x.size(1)) for m, x in feats.items()}, d,
            features=feats, train_features=True)
        self.spectral = SpectralFusion(self.modalities, d)
        views = self.modalities + ["fusion"]
        self.item_gates = torch.nn.ModuleDict({v: _gate(d) for v in views})
        self.prefer_gates = torch.nn.ModuleDict({v: _gate(d) for v in views})
        self.queries = torch.nn.ModuleDict({m: _query(d)
                                            for m in self.modalities})
        self.propagation = LightGCNPropagation(n_ui_layers, combine="mean")
        self._views: Tuple[Tensor, Tensor] = None
        self.build_feature_graphs(dataset)
        self.build_graphs(dataset)
        self.reset_parameters()

    # ---------------------------------------------------------------- graphs
    def build_feature_graphs(self, dataset) -> None:
        r"""The modality kNN graphs and their max fusion (from the raw
        features; they do not depend on the interactions)."""
        device = self.user_emb.weight.device
        n = self.num_items
        graphs = {}
        for m in self.modalities:
            k = self.image_knn_k if m == "image" else self.text_knn_k
            # PyG's flow (row 0 = neighbour) -> matrix rows = items
            ei = dataset.knn_graph(m, k)[0].flip(0)
            graphs[m] = similarity_knn_graph(dataset.features[m], ei, n)
        graphs["fusion"] = max_fuse_graphs(graphs, n)
        for v, (ei, ew) in graphs.items():
            s = to_torch_csr_tensor(ei, ew, (n, n)).to(device)
            self.register_buffer(f"item_adj_{v}", s, persistent=False)
            self.register_buffer(f"item_adj_t_{v}", transpose_csr(s),
                                 persistent=False)

    def build_graphs(self, dataset) -> None:
        device = self.user_emb.weight.device
        adj = dataset.norm_adj().to(device)
        self.register_buffer("adj", adj, persistent=False)
        # The user -> item block R^ of the normalised adjacency.
        u = self.num_users
        crow = adj.crow_indices()[:u + 1]
        nnz = int(crow[-1])
        r = torch.sparse_csr_tensor(crow, adj.col_indices()[:nnz] - u,
                                    adj.values()[:nnz],
                                    size=(u, self.num_items))
        self.register_buffer("norm_inter", r, persistent=False)
        self.register_buffer("norm_inter_t", transpose_csr(r),
                             persistent=False)

    # ------------------------------------------------------------ parameters
    def reset_parameters(self) -> None:
        torch.nn.init.xavier_uniform_(self.user_emb.weight)
        torch.nn.init.xavier_uniform_(self.item_emb.weight)
        self.encoders.reset_parameters()
        self.spectral.reset_parameters()
        for mod in list(self.item_gates.values()) + \
                list(self.prefer_gates.values()) + \
                list(self.queries.values()):
            for layer in mod:
                if isinstance(layer, torch.nn.Linear):
                    layer.reset_parameters()

    def _item_view(self, view: str, items: Tensor) -> Tensor:
        s, s_t = getattr(self, f"item_adj_{view}"), \
            getattr(self, f"item_adj_t_{view}")
        for _ in range(self.n_layers):
            items = spmm(s, items, s_t)
        users = spmm(self.norm_inter, items, self.norm_inter_t)
        return torch.cat([users, items], 0)

    def embeddings(self) -> Tuple[Tensor, Tensor]:
        projected = self.encoders(self.encoders.features())
        uni, fused = self.spectral(projected)
        spectra = dict(uni, fusion=fused)
        ids = self.item_emb.weight
        views = {v: self._item_view(v, ids * self.item_gates[v](x))
                 for v, x in spectra.items()}

        x = torch.cat([self.user_emb.weight, ids], 0)
        content = self.propagation(x, self.adj)
        fusion = views["fusion"]
        parts = []
        for m in self.modalities:
            att = torch.softmax(self.queries[m](fusion), dim=-1)
            prefer = F.dropout(self.prefer_gates[m](content),
                               self.dropout_rate, self.training)
            parts.append(prefer * att * views[m])
        prefer = F.dropout(self.prefer_gates["fusion"](content),
                           self.dropout_rate, self.training)
        parts.append(prefer * fusion)
        side = torch.stack(parts).mean(0)
        self._views = (side, content)
        out = content + side
        return out[:self.num_users], out[self.num_users:]

    def extra_loss(self, batch: Batch, user_emb: Tensor,
                   item_emb: Tensor) -> Tensor:
        total = user_emb.new_zeros(())
        if self.reg_weight != 0:
            total = total + self.reg_weight * self.batch_l2_loss(
                batch, user_emb, item_emb)
        if self.cl_loss != 0:
            if self._views is None:
                self.embeddings()
            side, content = self._views
            total = total + self.cl_loss * self.batch_view_contrast_loss(
                batch, side, content, self.temperature)
        return total

    def extra_repr(self) -> str:
        return (f"{self.num_users}, {self.num_items}, "
                f"embedding_dim={self.embedding_dim}, "
                f"modalities={self.modalities}, "
                f"n_ui_layers={self.n_ui_layers}, n_layers={self.n_layers}, "
                f"image_knn_k={self.image_knn_k}, "
                f"text_knn_k={self.text_knn_k}, "
                f"dropout_rate={self.dropout_rate}")
