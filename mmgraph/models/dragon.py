r"""DRAGON: dual user--user and item--item graphs over modality GCNs."""
from __future__ import annotations

from typing import Dict, Tuple

from torch import Tensor
import torch

from mmgraph.models.dualgnn import DualGraphRecommender
from mmgraph.models.freedom import item_knn_adjacency
from mmgraph.models.registry import register_model
from mmgraph.nn.propagation import ItemGraphConvolution

__all__ = ["DRAGON"]


@register_model("dragon")
class DRAGON(DualGraphRecommender):
    r"""DRAGON from `"Enhancing Dyadic Relations with Homogeneous Graphs for
    Multimodal Recommendation" <https://arxiv.org/abs/2301.12097>`_ (Zhou,
    Zhou, Zhang, Li, Miao and Shen, ECAI 2023), as in MMRec.

    Each modality :math:`m` has a
    :class:`~mmgraph.models.dualgnn.ModalityGCN` on the user--item graph
    (heterogeneous graph), giving :math:`\hat{\mathbf{x}}^m_u,
    \hat{\mathbf{x}}^m_i \in \mathbb{R}^d`. The modalities are
    **concatenated** (users weighted by learned per-user weights
    :math:`w_{um}`), then items propagate over the frozen item--item kNN
    graph :math:`\mathbf{S}` of FREEDOM
    (:func:`~mmgraph.models.freedom.item_knn_adjacency`: image weight
    ``mm_image_weight``) and users over the sampled user co-occurrence graph
    :math:`\mathbf{G}` of DualGNN
    (:func:`~mmgraph.models.dualgnn.sample_user_graph`):

    .. math::
        \mathbf{z}_i = \Vert_m \hat{\mathbf{x}}^m_i, \quad
        \mathbf{z}_u = \Vert_m w_{um}\hat{\mathbf{x}}^m_u, \quad
        \mathbf{h}_i = \mathbf{z}_i + (\mathbf{S}^{L_{mm}}\mathbf{Z})_i,
        \quad
        \mathbf{h}_u = \mathbf{z}_u + \sum_v G_{uv}\mathbf{z}_v,

    so the score :math:`\mathbf{h}_u^{\top}\mathbf{h}_i` is over
    :math:`M d` dimensions. Loss: BPR plus the regulariser of
    :class:`~mmgraph.models.dualgnn.DualGraphRecommender` (preferences of
    the batch users and the user weights).

    Differences from the reference code (MMRec ``dragon.py``): those of
    :class:`~mmgraph.models.DualGNN` (user graph from the training set, tie
    order, padding draws, fresh embeddings at evaluation, log2 form,
    unused dropped-edge graphs and projections ``image_trs``/``text_trs``
    left out), the item graph is not cached on disk, and any number of
    modalities works (the reference hard-wires image + text; one modality:
    no user weights).

    Args:
        dataset: the :class:`~mmgraph.data.RecDataset` (with features).
        embedding_dim (int): latent size :math:`d` per modality (default:
            ``64``).
        n_layers (int): user--item hops of each modality GCN (default:
            ``2``, fixed in the reference).
        n_mm_layers (int): item--item hops :math:`L_{mm}` (default: ``1``).
        knn_k (int): neighbours per item in :math:`\mathbf{S}` (default:
            ``10``).
        mm_image_weight (float): image weight in :math:`\mathbf{S}`
            (default: ``0.1``).
        user_knn_k (int): user neighbours per epoch (default: ``40``).
        user_graph_size (int): co-occurring users kept per user (default:
            ``200``).
        reg_weight (float): :math:`\mu` (default: ``1e-4``).
    """

    #: Sampled training (``--sampled``) is not supported: why.
    supports_sampled = (
        "its per-modality GCNs run over the whole user-item graph, its users "
        "aggregate over the user co-occurrence graph and its items over the kNN "
        "graph of all items; no subgraph form is written")

    def __init__(self, dataset, embedding_dim: int = 64, n_layers: int = 2,
                 n_mm_layers: int = 1, knn_k: int = 10,
                 mm_image_weight: float = 0.1, user_knn_k: int = 40,
                 user_graph_size: int = 200,
                 reg_weight: float = 1e-4) -> None:
        super().__init__(dataset, embedding_dim, n_layers, user_knn_k,
                         user_graph_size, reg_weight)
        self.n_mm_layers = n_mm_layers
        self.knn_k = knn_k
        self.mm_image_weight = mm_image_weight
        self.item_conv = ItemGraphConvolution(max(n_mm_layers, 1))
        self.build_feature_graphs(dataset)
        self.build_graphs(dataset)
        self.reset_parameters()

    def build_feature_graphs(self, dataset) -> None:
        # The item-item kNN graph depends on the features only.
        device = getattr(self, f"feat_{self.modalities[0]}").device
        self.register_buffer(
            "mm_adj", item_knn_adjacency(dataset, self.knn_k,
                                         self.mm_image_weight).to(device),
            persistent=False)

    def combine(self, reps: Dict[str, Tensor]) -> Tuple[Tensor, Tensor]:
        u = self.num_users
        items = torch.cat([reps[m][u:] for m in self.modalities], 1)
        if self.weight_u is None:
            users = reps[self.modalities[0]][:u]
        else:
            users = torch.cat([self.weight_u[:, k] * reps[m][:u]
                               for k, m in enumerate(self.modalities)], 1)
        if self.n_mm_layers > 0:
            items = items + self.item_conv(items, self.mm_adj)
        return users, items

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", n_mm_layers={self.n_mm_layers}, "
                f"knn_k={self.knn_k}")
