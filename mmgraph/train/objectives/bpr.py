r"""Bayesian Personalised Ranking (Rendle et al., UAI 2009)."""
from __future__ import annotations

from typing import Dict

from torch import Tensor

from mmgraph.nn.losses import bpr_loss
from mmgraph.train.objectives.base import Objective, register_objective

__all__ = ["BPRObjective"]


@register_objective("bpr")
class BPRObjective(Objective):
    r"""BPR with the model's own regulariser:

    .. math::
        \mathcal{L} = -\frac{1}{Bk}\sum_{b,j} \log\left(10^{-10} +
        \sigma(s_{u_b i_b} - s_{u_b j})\right) + \text{extra\_loss}

    with :math:`k` uniformly sampled negatives per positive (MMRec's
    ``BPRLoss``; the :math:`10^{-10}` floor is MMRec's).
    """
    default_negatives = 1

    def forward(self, model, batch) -> Dict[str, Tensor]:
        user_emb, item_emb, idx = model.batch_embeddings(batch)
        pos = model.pair_scores(user_emb, item_emb, idx.users,
                                idx.pos_items)
        neg = model.pair_scores(user_emb, item_emb, idx.users,
                                idx.neg_items)
        main = bpr_loss(pos, neg)
        extra = model.extra_loss(batch, user_emb, item_emb)
        return {"loss": main + extra, "bpr": main.detach(),
                "extra": extra.detach()}
