r"""DualGNN, and the pieces it shares with DRAGON: the per-modality
user--item GCN and the sampled user--user co-occurrence graph."""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Parameter

from torch_geometric.utils import to_torch_csr_tensor

from mmgraph.data.user_graph import user_cooccurrence_graph
from mmgraph.models.base import Batch, Recommender
from mmgraph.models.registry import register_model
from mmgraph.nn.encoders import ModalityProjection
from mmgraph.nn.propagation import LightGCNPropagation
from mmgraph.nn.sparse import spmm, transpose_csr

__all__ = ["DualGNN", "ModalityGCN", "sample_user_graph",
           "DualGraphRecommender"]


def sample_user_graph(indptr: Tensor, neighbours: Tensor, counts: Tensor,
                      k: int, num_users: int) -> Tensor:
    r"""This epoch's user--user aggregation matrix :math:`\mathbf{G}` of
    DualGNN / DRAGON (MMRec ``topk_sample``), as a ``[U, U]`` CSR matrix.

    User :math:`u` with :math:`n_u` co-occurring users (sorted by count,
    :func:`~mmgraph.data.user_graph.cooccurrence_neighbours`) takes its
    first :math:`\min(n_u, k)`; if :math:`n_u < k` the list is padded to
    :math:`k` with users drawn uniformly (global torch RNG) from those
    :math:`n_u`. The weights are the softmax of the counts over the
    :math:`k` slots, :math:`w_{us} = \exp(c_{us}) / \sum_{s'}
    \exp(c_{us'})`; a user drawn several times gets the sum of its slots. A
    user without co-occurring users has an empty row.
    """
    device = indptr.device
    n = (indptr[1:] - indptr[:-1]).clamp_max(k)
    users = torch.nonzero(n > 0).view(-1)
    if users.numel() == 0:
        return to_torch_csr_tensor(torch.zeros(2, 0, dtype=torch.long, device=device),
                      torch.zeros(0, device=device), (num_users, num_users))
    nu = n[users].unsqueeze(1)
    slot = torch.arange(k, device=device).unsqueeze(0).expand(
        users.numel(), k)
    pad = (torch.rand(users.numel(), k, device=device) * nu).long()
    pad = torch.minimum(pad, nu - 1)
    pos = torch.where(slot < nu, slot, pad) + indptr[users].unsqueeze(1)
    w = torch.softmax(counts[pos], dim=1)
    rows = users.unsqueeze(1).expand(-1, k)
    return to_torch_csr_tensor(torch.stack([rows.reshape(-1), neighbours[pos].reshape(-1)]),
                  w.reshape(-1), (num_users, num_users))


class ModalityGCN(torch.nn.Module):
    r"""The per-modality encoder of DualGNN and DRAGON (MMRec ``GCN``): a
    user preference table :math:`\mathbf{P}_m \in \mathbb{R}^{U \times d}`
    and a two-layer MLP of the item features,
    :math:`\mathbf{t}_i = \mathbf{W}_2\,\mathrm{LeakyReLU}(\mathbf{W}_1
    \mathbf{f}_i + \mathbf{b}_1) + \mathbf{b}_2` (hidden size :math:`4d`),
    row-normalised and propagated over the normalised user--item graph:

    .. math::
        \mathbf{X} = \mathrm{norm}([\mathbf{P}_m; \mathbf{T}]), \qquad
        \hat{\mathbf{X}} = \sum_{l=0}^{L}\hat{\mathbf{A}}^{l}\mathbf{X}
        \quad (L = 2).
    """
    def __init__(self, num_users: int, in_channels: int, dim: int,
                 num_layers: int = 2) -> None:
        super().__init__()
        self.preference = Parameter(torch.empty(num_users, dim))
        self.mlp = ModalityProjection(in_channels, dim, [4 * dim],
                                      act="leaky_relu")
        self.propagation = LightGCNPropagation(num_layers, combine="sum")
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_normal_(self.preference)
        self.mlp.reset_parameters()

    def forward(self, features: Tensor, adj: Tensor) -> Tensor:
        x = torch.cat([self.preference, self.mlp(features)], 0)
        return self.propagation(F.normalize(x, dim=1), adj)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.mlp}, "
                f"layers={self.propagation.num_layers})")


class DualGraphRecommender(Recommender):
    r"""What DualGNN and DRAGON share: one :class:`ModalityGCN` per modality
    over the normalised user--item graph, per-user modality weights
    :math:`\mathbf{w}_u` (softmax-initialised, then free) for
    :math:`M > 1`, the user--user graph :math:`\mathbf{G}` re-sampled every
    epoch (:func:`sample_user_graph`), and the regulariser

    .. math::
        \ln 2 \cdot \mu \Big(\sum_m \mathrm{mean}(\mathbf{P}_m[u_b]^{2})
        + \mathrm{mean}(\mathbf{W}^{2})\Big).

    The reference's main term is :math:`-\mathrm{mean}\log_2\sigma(
    s^+ - s^-)`, i.e. the BPR loss divided by :math:`\ln 2`; the objective
    here keeps the natural logarithm and the regulariser is scaled by
    :math:`\ln 2` instead, which leaves Adam's updates unchanged (Adam is
    invariant to a constant factor on the loss, up to its :math:`\epsilon`).
    Subclasses implement :meth:`combine`.
    """
    #: Item representations use the item's own features (a cold item is
    #: scored from content; tests/models/test_content_scoring.py checks it).
    scores_from_content = True
    multimodal = True

    def __init__(self, dataset, embedding_dim: int = 64, n_layers: int = 2,
                 user_knn_k: int = 40, user_graph_size: int = 200,
                 reg_weight: float = 1e-4) -> None:
        super().__init__(dataset)
        if user_knn_k < 1 or user_graph_size < user_knn_k:
            raise ValueError(f"{self.__class__.__name__}: need 1 <= "
                             f"user_knn_k <= user_graph_size (got "
                             f"{user_knn_k}, {user_graph_size})")
        self.embedding_dim = embedding_dim
        self.n_layers = n_layers
        self.user_knn_k = user_knn_k
        self.user_graph_size = user_graph_size
        self.reg_weight = reg_weight
        self.modalities = list(dataset.modalities)
        for m in self.modalities:
            self.register_buffer(f"feat_{m}",
                                 dataset.features[m].detach().clone().float(),
                                 persistent=False)
        self.gcn = torch.nn.ModuleDict({
            m: ModalityGCN(self.num_users, int(dataset.features[m].size(1)),
                           embedding_dim, n_layers)
            for m in self.modalities})
        self.weight_u: Optional[Parameter] = None
        if len(self.modalities) > 1:
            self.weight_u = Parameter(
                torch.empty(self.num_users, len(self.modalities), 1))
        self.user_graph: Optional[Tensor] = None
        self.user_graph_t: Optional[Tensor] = None

    def build_graphs(self, dataset) -> None:
        device = next(iter(self.gcn.values())).preference.device
        self.register_buffer("adj", dataset.norm_adj().to(device),
                             persistent=False)
        graph = user_cooccurrence_graph(dataset, self.user_graph_size)
        for name, t in zip(("ug_indptr", "ug_neighbours", "ug_counts"),
                           graph):
            self.register_buffer(name, t.to(device), persistent=False)
        self.user_graph = None

    def reset_parameters(self) -> None:
        for gcn in self.gcn.values():
            gcn.reset_parameters()
        if self.weight_u is not None:
            with torch.no_grad():
                torch.nn.init.xavier_normal_(self.weight_u)
                self.weight_u.copy_(torch.softmax(self.weight_u, dim=1))

    def sample_user_graph(self) -> Tensor:
        r"""Draws this epoch's :math:`\mathbf{G}` (kept as
        :obj:`user_graph`)."""
        self.user_graph = sample_user_graph(
            self.ug_indptr, self.ug_neighbours, self.ug_counts,
            self.user_knn_k, self.num_users)
        self.user_graph_t = transpose_csr(self.user_graph)
        return self.user_graph

    def on_epoch_start(self, epoch: int) -> None:
        self.sample_user_graph()

    def modality_reps(self) -> Dict[str, Tensor]:
        return {m: self.gcn[m](getattr(self, f"feat_{m}"), self.adj)
                for m in self.modalities}

    def combine(self, reps: Dict[str, Tensor]) -> Tuple[Tensor, Tensor]:
        r"""``(user_rep, item_rep)`` before the user--user graph."""
        raise NotImplementedError

    def embeddings(self) -> Tuple[Tensor, Tensor]:
        if self.user_graph is None:
            self.sample_user_graph()
        users, items = self.combine(self.modality_reps())
        users = users + spmm(self.user_graph, users, self.user_graph_t)
        return users, items

    def extra_loss(self, batch: Batch, user_emb: Tensor,
                   item_emb: Tensor) -> Tensor:
        if self.reg_weight == 0:
            return user_emb.new_zeros(())
        reg = sum(g.preference.index_select(0, batch.users).pow(2).mean()
                  for g in self.gcn.values())
        if self.weight_u is not None:
            reg = reg + self.weight_u.pow(2).mean()
        return math.log(2.0) * self.reg_weight * reg

    def extra_repr(self) -> str:
        return (f"{self.num_users}, {self.num_items}, "
                f"embedding_dim={self.embedding_dim}, "
                f"modalities={self.modalities}, "
                f"user_knn_k={self.user_knn_k}, "
                f"reg_weight={self.reg_weight}")


@register_model("dualgnn")
class DualGNN(DualGraphRecommender):
    r"""DualGNN from `"DualGNN: Dual Graph Neural Network for Multimedia
    Recommendation" <https://doi.org/10.1109/TMM.2021.3138298>`_ (Wang, Wei,
    Yin, Li, Liu and Nie, IEEE Transactions on Multimedia 2021), as in MMRec
    (weighted-sum construction).

    Each modality :math:`m` has a :class:`ModalityGCN` giving
    :math:`\hat{\mathbf{X}}^m = [\hat{\mathbf{X}}^m_u; \hat{\mathbf{X}}^m_i]`
    on the user--item graph. Items sum the modalities; users weight them
    with learned per-user weights and then aggregate their co-occurring
    users over the sampled user--user graph :math:`\mathbf{G}`
    (:func:`sample_user_graph`; the co-occurrence graph is built from the
    training interactions by :mod:`mmgraph.data.user_graph`):

    .. math::
        \mathbf{h}_i = \sum_m \hat{\mathbf{x}}^m_i, \qquad
        \mathbf{z}_u = \sum_m w_{um}\hat{\mathbf{x}}^m_u, \qquad
        \mathbf{h}_u = \mathbf{z}_u + \sum_v G_{uv}\mathbf{z}_v,

    scores :math:`\mathbf{h}_u^{\top}\mathbf{h}_i`, BPR plus the
    regulariser of :class:`DualGraphRecommender`.

    Differences from the reference code (MMRec ``dualgnn.py``):

    * the user graph is computed in memory from the training set (no
      ``user_graph_dict.npy``); ties in the co-occurrence counts are broken
      by user id (the reference's ``torch.topk`` order is unspecified), and
      users with fewer than :math:`k` co-occurring users are padded by
      uniform draws from their list (the reference draws from the growing,
      already padded list);
    * evaluation computes fresh embeddings (the reference scores with those
      of the last training batch, before its optimiser step);
    * the reference's item weights ``weight_i`` and its dropped-edge graphs
      do not affect the scores (only the regulariser, resp. nothing) and are
      left out; the log2 form of the loss is handled as described in
      :class:`DualGraphRecommender`;
    * any number of modalities (one: no user weights);
    * the reference sums the item representations in place
      (``representation = v_rep; representation += t_rep``), which also
      turns its image user part into :math:`\hat{\mathbf{x}}^v_u +
      \hat{\mathbf{x}}^t_u`, so its users are :math:`w_{uv}(\hat{
      \mathbf{x}}^v_u + \hat{\mathbf{x}}^t_u) + w_{ut}\hat{\mathbf{x}}^t_u`
      -- text counted twice, not the paper's weighted sum. Here the sum is
      the paper's; ``reference_user_sum=True`` reproduces the aliasing (the
      image user part, else the first modality's, becomes the sum of all of
      them) for comparisons with MMRec's numbers.

    Args:
        dataset: the :class:`~mmgraph.data.RecDataset` (with features).
        embedding_dim (int): latent size :math:`d` (default: ``64``).
        n_layers (int): user--item hops of each modality GCN (default:
            ``2``, fixed in the reference).
        user_knn_k (int): user neighbours per epoch :math:`k` (default:
            ``40``, fixed in the reference).
        user_graph_size (int): co-occurring users kept per user (default:
            ``200``, the reference's preprocessing).
        reg_weight (float): :math:`\mu` (default: ``1e-4``).
        reference_user_sum (bool): reproduce MMRec's aliased user sum (see
            above; default: :obj:`False`).
    """

    #: Sampled training (``--sampled``) is not supported: why.
    supports_sampled = (
        "its per-modality GCNs run over the whole user-item graph and its users "
        "aggregate over the user co-occurrence graph; no subgraph form is "
        "written")

    def __init__(self, dataset, embedding_dim: int = 64, n_layers: int = 2,
                 user_knn_k: int = 40, user_graph_size: int = 200,
                 reg_weight: float = 1e-4,
                 reference_user_sum: bool = False) -> None:
        super().__init__(dataset, embedding_dim, n_layers, user_knn_k,
                         user_graph_size, reg_weight)
        self.reference_user_sum = reference_user_sum
        self.build_graphs(dataset)
        self.reset_parameters()

    def combine(self, reps: Dict[str, Tensor]) -> Tuple[Tensor, Tensor]:
        u = self.num_users
        items = sum(r[u:] for r in reps.values())
        if self.weight_u is None:
            return next(iter(reps.values()))[:u], items
        parts = [reps[m][:u] for m in self.modalities]
        if self.reference_user_sum:
            # MMRec's in-place sum lands on its image part (v_rep).
            first = self.modalities.index("image") \
                if "image" in self.modalities else 0
            parts[first] = sum(parts)
        users = sum(self.weight_u[:, k] * x for k, x in enumerate(parts))
        return users, items
