r"""BPR matrix factorisation."""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from mmgraph.models.base import Batch, Recommender
from mmgraph.models.registry import register_model

__all__ = ["MF"]


@register_model("mf")
class MF(Recommender):
    r"""Matrix factorisation trained with BPR, from `"BPR: Bayesian
    Personalized Ranking from Implicit Feedback"
    <https://arxiv.org/abs/1205.2618>`_ (Rendle et al., UAI 2009), in
    MMRec's form:

    .. math::
        s_{ui} = \mathbf{e}_u^\top \mathbf{e}_i, \qquad
        \mathcal{L}_{reg} = \lambda \frac{\|E_u[u_b]\|_F + \|E_i[i^+_b]\|_F
        + \|E_i[j_b]\|_F}{B}

    (un-squared Frobenius norms of the batch rows, MMRec's ``EmbLoss``).

    Args:
        dataset: the :class:`~mmgraph.data.RecDataset`.
        embedding_dim (int): latent size (default: ``64``).
        reg_weight (float): :math:`\lambda` (default: ``1e-4``).
    """

    #: Sampled training (``--sampled``) is not supported: why.
    supports_sampled = (
        "it has no graph to sample: a batch already costs only its own rows")

    def __init__(self, dataset, embedding_dim: int = 64,
                 reg_weight: float = 1e-4) -> None:
        super().__init__(dataset)
        self.embedding_dim = embedding_dim
        self.reg_weight = reg_weight
        self.user_emb = torch.nn.Embedding(self.num_users, embedding_dim)
        self.item_emb = torch.nn.Embedding(self.num_items, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_normal_(self.user_emb.weight)
        torch.nn.init.xavier_normal_(self.item_emb.weight)

    def embeddings(self) -> Tuple[Tensor, Tensor]:
        return self.user_emb.weight, self.item_emb.weight

    def extra_loss(self, batch: Batch, user_emb: Tensor,
                   item_emb: Tensor) -> Tensor:
        if self.reg_weight == 0:
            return user_emb.new_zeros(())
        return self.reg_weight * self.batch_emb_loss(
            batch, self.user_emb.weight, self.item_emb.weight)

    def extra_repr(self) -> str:
        return (f"{self.num_users}, {self.num_items}, "
                f"embedding_dim={self.embedding_dim}")
