r"""LGMRec: local (graph) and global (hypergraph) multimodal embeddings."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from torch_geometric.utils import to_torch_csr_tensor

from mmgraph.data.graphs import DEGREE_EPS
from mmgraph.models.base import Batch, Recommender
from mmgraph.models.registry import register_model
from mmgraph.nn.losses import emb_loss
from mmgraph.nn.propagation import LightGCNPropagation
from mmgraph.nn.sparse import spmm, symmetric_spmm, transpose_csr

__all__ = ["LGMRec", "hypergraph_propagation", "full_infonce"]


def hypergraph_propagation(item_hyper: Tensor, user_hyper: Tensor,
                           item_emb: Tensor,
                           num_layers: int) -> Tuple[Tensor, Tensor]:
    r"""LGMRec's global hypergraph message passing (paper Eq. 9--10): with
    item--hyperedge and user--hyperedge dependencies
    :math:`\mathbf{H}_i \in \mathbb{R}^{I\times A}`,
    :math:`\mathbf{H}_u \in \mathbb{R}^{U\times A}` and
    :math:`\mathbf{E}^{(0)}_i` the item embeddings,

    .. math::
        \mathbf{\Lambda}^{(l)} = \mathbf{H}_i^{\top}\mathbf{E}^{(l-1)}_i,
        \qquad \mathbf{E}^{(l)}_i = \mathbf{H}_i\mathbf{\Lambda}^{(l)},
        \qquad \mathbf{E}^{(l)}_u = \mathbf{H}_u\mathbf{\Lambda}^{(l)},

    returning :math:`(\mathbf{E}^{(L)}_u, \mathbf{E}^{(L)}_i)`. Only
    :math:`A \times d` hyperedge states are formed: cost
    :math:`O((U + I) A d)` per layer, no :math:`I\times I` matrix."""
    if num_layers < 1:
        raise ValueError(f"hypergraph_propagation: 'num_layers' must be >= 1 "
                         f"(got {num_layers})")
    items = item_emb
    users = None
    for _ in range(num_layers):
        lat = item_hyper.t() @ items
        items = item_hyper @ lat
        users = user_hyper @ lat
    return users, items


def full_infonce(anchor: Tensor, positive: Tensor, candidates: Tensor,
                 temperature: float) -> Tensor:
    r"""InfoNCE against *all* rows of :obj:`candidates`, summed over the
    batch (LGMRec's hypergraph contrast, Eq. 13), on cosine similarities:

    .. math::
        \mathcal{L} = -\sum_b \log\frac{\exp(\cos(\mathbf{a}_b,
        \mathbf{p}_b)/\tau)}{\sum_{c}\exp(\cos(\mathbf{a}_b,
        \mathbf{c})/\tau)},

    computed with ``logsumexp`` (stable)."""
    a = F.normalize(anchor, dim=1) / temperature
    pos = (a * F.normalize(positive, dim=1)).sum(-1)
    logits = a @ F.normalize(candidates, dim=1).t()
    return (torch.logsumexp(logits, dim=1) - pos).sum()


@register_model("lgmrec")
class LGMRec(Recommender):
    r"""LGMRec from `"LGMRec: Local and Global Graph Learning for Multimodal
    Recommendation" <https://arxiv.org/abs/2312.16400>`_ (Guo, Li, Li, Wang,
    Zhang, Zeng and Liu, AAAI 2024).

    **Local embeddings.** Collaborative (CGE): LightGCN layer mean over the
    normalised user--item graph :math:`\hat{\mathbf{A}}`,
    :math:`\mathbf{E}^{c} = \frac{1}{L+1}\sum_{l}\hat{\mathbf{A}}^{l}
    [\mathbf{E}_u;\mathbf{E}_i]`. Modality (MGE): items
    :math:`\mathbf{X}^m_i = \mathbf{F}_m\mathbf{W}_m` (frozen features,
    no bias), users the mean of their items'
    :math:`\mathbf{X}^m_u = \mathbf{D}_u^{-1}\mathbf{R}\mathbf{X}^m_i`, then
    :math:`L_m` propagation steps
    :math:`\mathbf{E}^m = \hat{\mathbf{A}}^{L_m}[\mathbf{X}^m_u;
    \mathbf{X}^m_i]` (last layer, no mean).

    **Global embeddings** (GHE). :math:`A` hyperedges per modality with
    learnable :math:`\mathbf{V}_m \in \mathbb{R}^{d_m\times A}`:
    :math:`\mathbf{H}^m_i = \mathrm{GS}(\mathbf{F}_m\mathbf{V}_m)`,
    :math:`\mathbf{H}^m_u = \mathrm{GS}(\mathbf{R}\mathbf{F}_m\mathbf{V}_m)`
    with :math:`\mathrm{GS}` the row-wise Gumbel-softmax at temperature
    :math:`\tau = 0.2` followed by dropout with keep rate :math:`\rho`
    (training mode), and :func:`hypergraph_propagation` from the CGE item
    embeddings gives :math:`\mathbf{G}^m = [\mathbf{G}^m_u; \mathbf{G}^m_i]`.

    **Fusion and loss.**

    .. math::
        \mathbf{E} = \mathbf{E}^{c} + \sum_m \mathrm{normalize}(\mathbf{E}^m)
        + \alpha\,\mathrm{normalize}\Big(\sum_m \mathbf{G}^m\Big), \qquad
        s_{ui} = \mathbf{e}_u^{\top}\mathbf{e}_i,

    .. math::
        \mathcal{L} = \mathcal{L}_{obj} + \lambda_c \sum_{m<m'}\big(
        \mathrm{NCE}(\mathbf{G}^m_{u_b}, \mathbf{G}^{m'}_{u_b},
        \mathbf{G}^{m'}_u) + \mathrm{NCE}(\mathbf{G}^m_{i^+_b},
        \mathbf{G}^{m'}_{i^+_b}, \mathbf{G}^{m'}_i)\big) + \lambda_r
        \frac{\lVert\mathbf{e}_{u_b}\rVert + \lVert\mathbf{e}_{i^+_b}\rVert
        + \lVert\mathbf{e}_{j_b}\rVert}{B}

    (:func:`full_infonce`, :math:`\tau = 0.2`, against all users / items;
    the norms are MMRec's un-squared ``EmbLoss`` on the final embeddings).
    The contrast and the regulariser are :meth:`extra_loss`; they use the
    hypergraph embeddings of the same forward pass (kept by the last
    :meth:`embeddings` call).

    Differences from the reference code (MMRec ``lgmrec.py``, which needs
    exactly image + text, else its forward fails):

    * any number of modalities: the GHE/MGE sums run over all of them and the
      contrast over every ordered pair :math:`m < m'` (for image + text:
      the reference's single pair, image as anchor);
    * eval mode is deterministic: the hyperedge assignments are the plain
      softmax at :math:`\tau` (the reference draws Gumbel noise in every
      evaluation too);
    * the main term comes from the chosen objective (BPR by default, with
      MMRec's :math:`10^{-10}` floor instead of LGMRec's ``logsigmoid``).

    Memory at Elec scale (192K users, 63K items, 4096-d image): the graphs
    are the normalised adjacency and :math:`\mathbf{R}` as CSR
    (:math:`3|\mathcal{E}|` entries each with transposes); the hypergraph
    holds :math:`(U+I)\times A` assignments per modality (:math:`A=4`:
    4 MB); the dominant cost is the contrast against all users, a
    :math:`B\times U` logit matrix per modality pair (2048 x 192K floats =
    1.6 GB, about twice that with its gradient), and :math:`B\times I` for
    items (0.5 GB).

    Args:
        dataset: the :class:`~mmgraph.data.RecDataset` (with features).
        embedding_dim (int): ID and feature embedding size
            (``embedding_size`` = ``feat_embed_dim``) (default: ``64``).
        n_ui_layers (int): CGE layers :math:`L` (default: ``2``).
        n_mm_layers (int): MGE steps :math:`L_m` (default: ``2``).
        n_hyper_layer (int): hypergraph layers (default: ``1``).
        hyper_num (int): hyperedges :math:`A` (default: ``4``).
        keep_rate (float): :math:`\rho` (default: ``0.5``).
        alpha (float): :math:`\alpha` (default: ``0.3``).
        cl_weight (float): :math:`\lambda_c` (default: ``1e-4``).
        reg_weight (float): :math:`\lambda_r` (default: ``1e-6``).
        tau (float): :math:`\tau` (default: ``0.2``).
    """

    #: Sampled training (``--sampled``) is not supported: why.
    supports_sampled = (
        "its global hypergraph embeddings aggregate over all users and items at "
        "each step")
    #: Item representations use the item's own features (a cold item is
    #: scored from content; tests/models/test_content_scoring.py checks it).
    scores_from_content = True
    multimodal = True

    def __init__(self, dataset, embedding_dim: int = 64, n_ui_layers: int = 2,
                 n_mm_layers: int = 2, n_hyper_layer: int = 1,
                 hyper_num: int = 4, keep_rate: float = 0.5,
                 alpha: float = 0.3, cl_weight: float = 1e-4,
                 reg_weight: float = 1e-6, tau: float = 0.2) -> None:
        super().__init__(dataset)
        if not 0.0 < keep_rate <= 1.0:
            raise ValueError(f"LGMRec: 'keep_rate' must be in (0, 1] "
                             f"(got {keep_rate})")
        if n_hyper_layer < 1 or hyper_num < 1:
            raise ValueError(f"LGMRec: 'n_hyper_layer' and 'hyper_num' must "
                             f"be >= 1 (got {n_hyper_layer}, {hyper_num})")
        self.embedding_dim = embedding_dim
        self.n_ui_layers = n_ui_layers
        self.n_mm_layers = n_mm_layers
        self.n_hyper_layer = n_hyper_layer
        self.hyper_num = hyper_num
        self.keep_rate = keep_rate
        self.alpha = alpha
        self.cl_weight = cl_weight
        self.reg_weight = reg_weight
        self.tau = tau
        self.modalities: List[str] = list(dataset.modalities)
        self.user_emb = torch.nn.Embedding(self.num_users, embedding_dim)
        self.item_emb = torch.nn.Embedding(self.num_items, embedding_dim)
        self.proj = torch.nn.ParameterDict()
        self.hyper = torch.nn.ParameterDict()
        for m in self.modalities:
            x = dataset.features[m].float()
            self.register_buffer(f"feat_{m}", x, persistent=False)
            self.proj[m] = torch.nn.Parameter(torch.empty(x.size(1),
                                                          embedding_dim))
            self.hyper[m] = torch.nn.Parameter(torch.empty(x.size(1),
                                                           hyper_num))
        self.propagation = LightGCNPropagation(n_ui_layers, combine="mean")
        self._hyper_embs: Optional[Dict[str, Tuple[Tensor, Tensor]]] = None
        self.build_graphs(dataset)
        self.reset_parameters()

    def build_graphs(self, dataset) -> None:
        device = self.user_emb.weight.device
        ei = dataset.train_edge_index.to(device)
        self.register_buffer("adj", dataset.norm_adj().to(device),
                             persistent=False)
        r = to_torch_csr_tensor(ei, None, (self.num_users, self.num_items))
        self.register_buffer("inter", r, persistent=False)
        self.register_buffer("inter_t", transpose_csr(r), persistent=False)
        deg = torch.bincount(ei[0], minlength=self.num_users).float()
        self.register_buffer("user_deg_inv",
                             (deg + DEGREE_EPS).reciprocal().unsqueeze(-1),
                             persistent=False)

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_uniform_(self.user_emb.weight)
        torch.nn.init.xavier_uniform_(self.item_emb.weight)
        for p in list(self.proj.values()) + list(self.hyper.values()):
            torch.nn.init.xavier_uniform_(p)

    def _assign(self, logits: Tensor) -> Tensor:
        # Hyperedge assignment: Gumbel-softmax + dropout in training,
        # the noiseless softmax at the same temperature in eval mode.
        if self.training:
            h = F.gumbel_softmax(logits, tau=self.tau, dim=1, hard=False)
            return F.dropout(h, p=1.0 - self.keep_rate)
        return torch.softmax(logits / self.tau, dim=1)

    def _projections(self, modality: str) -> Tuple[Tensor, Tensor]:
        # F_m W_m and F_m V_m in one product (one pass over the features,
        # forward and backward).
        w = torch.cat([self.proj[modality], self.hyper[modality]], 1)
        both = getattr(self, f"feat_{modality}") @ w
        return both[:, :self.embedding_dim], both[:, self.embedding_dim:]

    def modality_embedding(self, modality: str,
                           items: Optional[Tensor] = None) -> Tensor:
        r"""MGE of one modality, ``[U + I, d]`` (``items``: the projected
        item features :math:`\mathbf{F}_m\mathbf{W}_m` if at hand)."""
        if items is None:
            items = self._projections(modality)[0]
        users = spmm(self.inter, items, self.inter_t) * self.user_deg_inv
        x = torch.cat([users, items], 0)
        for _ in range(self.n_mm_layers):
            x = symmetric_spmm(self.adj, x)
        return x

    def hypergraph_embedding(self, modality: str, item_emb: Tensor,
                             logits: Optional[Tensor] = None
                             ) -> Tuple[Tensor, Tensor]:
        r"""GHE of one modality, ``(G_u [U, d], G_i [I, d])`` (``logits``:
        :math:`\mathbf{F}_m\mathbf{V}_m` if at hand)."""
        if logits is None:
            logits = self._projections(modality)[1]
        user_logits = spmm(self.inter, logits, self.inter_t)
        return hypergraph_propagation(self._assign(logits),
                                      self._assign(user_logits), item_emb,
                                      self.n_hyper_layer)

    def embeddings(self) -> Tuple[Tensor, Tensor]:
        x = torch.cat([self.user_emb.weight, self.item_emb.weight], 0)
        cge = self.propagation(x, self.adj)
        out = cge
        ghe = None
        hyper = {}
        for m in self.modalities:
            items, logits = self._projections(m)
            out = out + F.normalize(self.modality_embedding(m, items), dim=1)
            gu, gi = self.hypergraph_embedding(m, cge[self.num_users:],
                                               logits)
            hyper[m] = (gu, gi)
            g = torch.cat([gu, gi], 0)
            ghe = g if ghe is None else ghe + g
        out = out + self.alpha * F.normalize(ghe, dim=1)
        self._hyper_embs = hyper
        return out[:self.num_users], out[self.num_users:]

    def extra_loss(self, batch: Batch, user_emb: Tensor,
                   item_emb: Tensor) -> Tensor:
        total = user_emb.new_zeros(())
        if self.cl_weight != 0 and len(self.modalities) > 1:
            hyper = self._hyper_embs
            if hyper is None:  # extra_loss before any forward pass
                self.embeddings()
                hyper = self._hyper_embs
            cl = user_emb.new_zeros(())
            mods = self.modalities
            for a in range(len(mods)):
                for b in range(a + 1, len(mods)):
                    (ua, ia), (ub, ib) = hyper[mods[a]], hyper[mods[b]]
                    cl = cl + full_infonce(
                        ua.index_select(0, batch.users),
                        ub.index_select(0, batch.users), ub, self.tau)
                    cl = cl + full_infonce(
                        ia.index_select(0, batch.pos_items),
                        ib.index_select(0, batch.pos_items), ib, self.tau)
            total = total + self.cl_weight * cl
        if self.reg_weight != 0:
            total = total + self.reg_weight * emb_loss(
                *batch.rows(user_emb, item_emb))
        return total

    def extra_repr(self) -> str:
        return (f"{self.num_users}, {self.num_items}, "
                f"embedding_dim={self.embedding_dim}, "
                f"modalities={self.modalities}, "
                f"n_ui_layers={self.n_ui_layers}, "
                f"n_mm_layers={self.n_mm_layers}, "
                f"n_hyper_layer={self.n_hyper_layer}, "
                f"hyper_num={self.hyper_num}, keep_rate={self.keep_rate}, "
                f"alpha={self.alpha}")
