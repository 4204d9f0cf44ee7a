r"""LightGCN."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from mmgraph.models.base import Batch, Recommender
from mmgraph.models.registry import register_model
from mmgraph.nn.propagation import LightGCNPropagation

__all__ = ["LightGCN"]


@register_model("lightgcn")
class LightGCN(Recommender):
    r"""LightGCN from `"LightGCN: Simplifying and Powering Graph Convolution
    Network for Recommendation" <https://arxiv.org/abs/2002.02126>`_
    (He et al., SIGIR 2020):

    .. math::
        X^{(l)} = \hat{A} X^{(l-1)}, \qquad
        H = \frac{1}{L+1}\sum_{l=0}^{L} X^{(l)}, \qquad
        s_{ui} = \mathbf{h}_u^\top \mathbf{h}_i

    with :math:`X^{(0)} = [E_u; E_i]` and
    :math:`\hat{A} = D^{-1/2} A D^{-1/2}` the normalised user--item
    adjacency of the training graph, precomputed once as a sparse CSR
    matrix. The regulariser is MMRec's ``EmbLoss`` on the layer-0 rows of the
    batch.

    Args:
        dataset: the :class:`~mmgraph.data.RecDataset`.
        embedding_dim (int): latent size (default: ``64``).
        n_layers (int): propagation layers :math:`L` (default: ``2``).
        reg_weight (float): :math:`\lambda` (default: ``1e-4``).
    """

    def __init__(self, dataset, embedding_dim: int = 64, n_layers: int = 2,
                 reg_weight: float = 1e-4) -> None:
        super().__init__(dataset)
        self.embedding_dim = embedding_dim
        self.n_layers = n_layers
        self.reg_weight = reg_weight
        self.user_emb = torch.nn.Embedding(self.num_users, embedding_dim)
        self.item_emb = torch.nn.Embedding(self.num_items, embedding_dim)
        self.propagation = LightGCNPropagation(n_layers, combine="mean")
        self._subgraph_ego: Optional[Tuple[Batch, Tensor]] = None
        self.build_graphs(dataset)
        self.reset_parameters()

    def build_graphs(self, dataset) -> None:
        # Non-persistent: the graph is data, not state, so a checkpoint loads
        # into a model built on another training graph (unlearning).
        self.register_buffer("adj", dataset.norm_adj(), persistent=False)

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_uniform_(self.user_emb.weight)
        torch.nn.init.xavier_uniform_(self.item_emb.weight)

    def embeddings(self) -> Tuple[Tensor, Tensor]:
        x = torch.cat([self.user_emb.weight, self.item_emb.weight], 0)
        h = self.propagation(x, self.adj)
        return h[:self.num_users], h[self.num_users:]

    #: Sampled training: the propagation runs on the batch's subgraph with
    #: the full graph's normalisation (equal to :meth:`embeddings` at the
    #: batch's nodes when the fan-out is unlimited).
    supports_sampled = True

    def subgraph_embeddings(self, batch) -> Tuple[Tensor, Tensor]:
        x = torch.cat([self.user_emb(batch.user_ids),
                       self.item_emb(batch.item_ids)], 0)
        # The regulariser takes the batch's rows from these gathered ones:
        # a second gather from the tables would build a second dense
        # table-sized gradient per step (a fifth of a step at Elec's shape).
        self._subgraph_ego = (batch, x)
        # The loss reads the batch's rows only: each layer is trimmed to
        # them, and the output holds the batch's users and items (a prefix
        # of the subgraph's, so its positions stay valid).
        adj = batch.layer_adjacencies(self.n_layers)
        h = self.propagation(x, adj, symmetric=False)
        nu = adj.output_block[0]
        return h[:nu], h[nu:]

    def extra_loss(self, batch: Batch, user_emb: Tensor,
                   item_emb: Tensor) -> Tensor:
        ego, self._subgraph_ego = self._subgraph_ego, None
        if self.reg_weight == 0:
            return user_emb.new_zeros(())
        if ego is not None and ego[0] is batch:
            nu = batch.user_ids.numel()
            return self.reg_weight * self.batch_emb_loss(
                batch.local(), ego[1][:nu], ego[1][nu:])
        return self.reg_weight * self.batch_emb_loss(
            batch, self.user_emb.weight, self.item_emb.weight)

    def extra_repr(self) -> str:
        return (f"{self.num_users}, {self.num_items}, "
                f"embedding_dim={self.embedding_dim}, "
                f"n_layers={self.n_layers}")
