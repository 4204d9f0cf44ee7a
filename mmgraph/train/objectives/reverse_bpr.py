r"""The unlearning objective of MMRecUn: reverse BPR on the forget set plus
forward BPR (or the model's own training loss) on the retain set."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Union

import torch
from torch import Tensor

from mmgraph.models.base import Batch
from mmgraph.nn.losses import bpr_loss, reverse_bpr_loss
from mmgraph.train.objectives.base import Objective, register_objective
from mmgraph.train.objectives.native import native_loss_terms

__all__ = ["UnlearnBatch", "UnlearnObjective", "FORGET_LOSSES",
           "FORGET_SIDES", "RETAIN_LOSSES"]

#: Forget-set terms: MMRecUn's reverse BPR and the gradient-ascent ablation.
FORGET_LOSSES = ("reverse_bpr", "ascent")
#: Which representations the forget term may move.
FORGET_SIDES = ("both", "user", "item")
#: Retain-set terms: forward BPR (+ the model's terms) or the model's own
#: training loss (models with ``native_loss``, e.g. BM3, CM3).
RETAIN_LOSSES = ("bpr", "native")


@dataclass
class UnlearnBatch(Batch):
    r"""A :class:`~mmgraph.models.Batch` whose rows mix forget and retain
    pairs (one embeddings pass serves both terms).

    Attributes:
        forget (Tensor, optional): ``[B]`` bool, :obj:`True` for rows of the
            forget set (``None``: every row is retained).
    """
    forget: Optional[Tensor] = None

    def to(self, device: Union[str, torch.device]) -> "UnlearnBatch":
        b = super().to(device)
        return UnlearnBatch(b.users, b.pos_items, b.neg_items,
                            None if self.forget is None else
                            self.forget.to(device))

    def select(self, rows: Tensor) -> Batch:
        r"""The plain :class:`Batch` of the rows where ``rows`` is true."""
        return Batch(self.users[rows], self.pos_items[rows],
                     None if self.neg_items is None else self.neg_items[rows])


@register_objective("unlearn")
class UnlearnObjective(Objective):
    r"""The MMRecUn objective from `"Multi-Modal Recommendation Unlearning"
    <https://arxiv.org/abs/2405.15328>`_ (Sinha et al., AAAI 2025): starting
    from a trained model, forget the marked interactions :math:`D_f` with a
    **reverse** BPR term while keeping the ranking of the retained ones
    :math:`D_r` with the ordinary **forward** BPR term:

    .. math::
        \mathcal{L}_f &= -\frac{1}{|B_f|k}\sum_{(u,i)\in B_f}\sum_{j}
            \log\sigma(s_{uj} - s_{ui}) \\
        \mathcal{L}_r &= -\frac{1}{|B_r|k}\sum_{(u,i)\in B_r}\sum_{j}
            \log\sigma(s_{ui} - s_{uj}) \\
        \mathcal{L} &= \alpha\,\mathcal{L}_f + (1 - \alpha)\,\big(
            \mathcal{L}_r + \text{extra\_loss}(B_r)\big)

    with :math:`j` sampled negatives (for forget rows: items the user never
    interacted with in the *original* training set; for retain rows: items
    not in the user's retained set, as when training from scratch).
    :math:`\mathcal{L}_f` swaps the roles of positive and negative: its
    gradient **lowers** :math:`s_{ui} - s_{uj}`; it is bounded below by 0
    and saturates once a forgotten item ranks below the negatives.

    The paper gives the method in prose and equations only; the weighting
    :math:`\alpha` of the forget term against the retain side, the
    sampling and the placement of the model's own terms on the retain side
    are mmgraph's reading (see the unlearning guide,
    ``docs/unlearning.md``). With ``scale_model_terms=False`` (the
    ``'targeted'`` unlearning method) the model's terms are added unscaled,
    :math:`\alpha\,\mathcal{L}_f + (1 - \alpha)\,\mathcal{L}_r +
    \text{extra\_loss}(B_r)`, as before this option existed.

    Differences from the reference code (a public port of RRL): that port
    writes the reverse term as ``sign * -logsigmoid(sign * diff)`` with
    ``sign = -1``, which simplifies to ``logsigmoid(-diff)``; minimising it
    *raises* :math:`s_{ui} - s_{uj}`, i.e. it is BPR again. Here the sign
    is checked by a unit test (one step lowers the forget margin).

    The model's own terms (:meth:`~mmgraph.models.Recommender.extra_loss`)
    are computed on the **retain** rows only: auxiliary terms that pull a
    user towards her positives (alignment, contrastive views) would
    otherwise reinforce the very pairs being forgotten.

    Args:
        model: the model being unlearned.
        dataset: its (retain) dataset.
        alpha (float): :math:`\alpha \in [0, 1]`, the weight of the forget
            term (default: ``0.5``; ``0`` = fine-tuning on the retain set).
        forget_loss (str): ``'reverse_bpr'`` (default) or ``'ascent'``, the
            ablation :math:`\mathcal{L}_f' = +\text{mean}\log\sigma(s_{ui} -
            s_{uj})` (gradient ascent on BPR; unbounded, needs the stopping
            rule).
        forget_side (str): which representations the forget term's gradient
            reaches: ``'both'`` (default, the paper's plain reverse BPR),
            ``'user'`` (only the users'; items detached) or ``'item'`` (only
            the forgotten positives'; users and negatives detached). After a
            user (item) request the forgotten users (items) are isolated in
            the rebuilt graph, so ``'user'`` (``'item'``) moves only their
            own representations and leaves the retained data's rankings to
            the retain term.
        scale_model_terms (bool): multiply the model's own terms by
            :math:`1 - \alpha` with the retain BPR term (default:
            :obj:`True`, the ``'mmrecun'`` method; :obj:`False` adds them
            unscaled, the ``'targeted'`` method).
        retain_loss (str): the retain term :math:`\mathcal{L}_r`:
            ``'bpr'`` (default) forward BPR on the model's scores plus its
            :meth:`~mmgraph.models.Recommender.extra_loss`, or
            ``'native'`` the model's own training loss
            :meth:`~mmgraph.models.Recommender.loss` on the retain rows
            (which holds its own terms): the loss a model with
            ``native_loss`` (BM3, CM3) was trained with. The paper's
            backbones train with BPR, so "forward BPR on the retain set"
            is their training loss; BPR steps on a model trained otherwise
            move it away from its training optimum (one fine-tuning epoch
            of BM3 on Amazon Beauty with BPR cost 20 % of its validation
            recall). The forget term stays reverse BPR on the scores; with
            ``'native'`` it needs a second forward
            (:meth:`~mmgraph.models.Recommender.embeddings`).
    """
    default_negatives = 1
    step_terms = ("weighted_forget",)

    def __init__(self, model, dataset, alpha: float = 0.5,
                 forget_loss: str = "reverse_bpr",
                 forget_side: str = "both",
                 scale_model_terms: bool = True,
                 retain_loss: str = "bpr") -> None:
        super().__init__(model, dataset)
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"{self.__class__.__name__}: alpha must be in "
                             f"[0, 1], got {alpha}")
        if forget_loss not in FORGET_LOSSES:
            raise ValueError(f"{self.__class__.__name__}: forget_loss must be "
                             f"one of {FORGET_LOSSES}, got {forget_loss!r}")
        if forget_side not in FORGET_SIDES:
            raise ValueError(f"{self.__class__.__name__}: forget_side must be "
                             f"one of {FORGET_SIDES}, got {forget_side!r}")
        if retain_loss not in RETAIN_LOSSES:
            raise ValueError(f"{self.__class__.__name__}: retain_loss must be "
                             f"one of {RETAIN_LOSSES}, got {retain_loss!r}")
        if retain_loss == "native" and not getattr(model, "native_loss",
                                                   False):
            raise ValueError(f"{self.__class__.__name__}: retain_loss "
                             f"'native' needs a model with its own loss; "
                             f"{model.__class__.__name__} has none (use "
                             f"'bpr')")
        self.retain_loss = retain_loss
        self.alpha = float(alpha)
        self.forget_loss = forget_loss
        self.forget_side = forget_side
        self.scale_model_terms = bool(scale_model_terms)

    def extra_repr(self) -> str:
        side = "" if self.forget_side == "both" else \
            f", forget_side={self.forget_side!r}"
        scale = "" if self.scale_model_terms else ", scale_model_terms=False"
        retain = "" if self.retain_loss == "bpr" else \
            f", retain_loss={self.retain_loss!r}"
        return (f"alpha={self.alpha}, forget_loss={self.forget_loss!r}"
                f"{side}{scale}{retain}")

    def forget_term(self, pos: Tensor, neg: Tensor) -> Tensor:
        r""":math:`\mathcal{L}_f` from forget-row scores ``pos [B]`` and
        ``neg [B, k]``."""
        if self.forget_loss == "ascent":
            return -bpr_loss(pos, neg)
        return reverse_bpr_loss(pos, neg)

    def forward(self, model, batch: Batch) -> Dict[str, Tensor]:
        if batch.neg_items is None:
            raise ValueError(f"{self.__class__.__name__} needs sampled "
                             f"negatives (num_negatives >= 1)")
        forget = getattr(batch, "forget", None)
        if forget is None:
            forget = torch.zeros_like(batch.users, dtype=torch.bool)
        keep = ~forget
        has_forget, has_retain = bool(forget.any()), bool(keep.any())
        neg_items = batch.neg_items if batch.neg_items.dim() == 2 \
            else batch.neg_items.unsqueeze(1)
        native = self.retain_loss == "native"
        # One embeddings pass serves both BPR terms; the native retain loss
        # runs the model's own forward.
        if has_forget or not native:
            user_emb, item_emb = model.embeddings()
            zero = user_emb.new_zeros(())
        else:
            zero = batch.users.new_zeros((), dtype=torch.float)
        l_f = l_r = extra = zero
        if has_forget:
            side = self.forget_side
            u_f = user_emb.detach() if side == "item" else user_emb
            pos_i = item_emb.detach() if side == "user" else item_emb
            neg_i = item_emb if side == "both" else item_emb.detach()
            users = batch.users[forget]
            l_f = self.forget_term(
                model.pair_scores(u_f, pos_i, users, batch.pos_items[forget]),
                model.pair_scores(u_f, neg_i, users, neg_items[forget]))
        if has_retain:
            retain_batch = batch.select(keep) if isinstance(
                batch, UnlearnBatch) and has_forget else batch
            if native:  # the model's terms are part of its loss
                l_r = native_loss_terms(model, retain_batch)["loss"]
            else:
                users = batch.users[keep]
                l_r = bpr_loss(
                    model.pair_scores(user_emb, item_emb, users,
                                      batch.pos_items[keep]),
                    model.pair_scores(user_emb, item_emb, users,
                                      neg_items[keep]))
                extra = model.extra_loss(retain_batch, user_emb, item_emb)
        weighted_forget = self.alpha * l_f
        if self.scale_model_terms:
            loss = weighted_forget + (1.0 - self.alpha) * (l_r + extra)
        else:
            loss = weighted_forget + (1.0 - self.alpha) * l_r + extra
        # 'weighted_forget' keeps its graph: a trainer may step the forget
        # term with its own optimiser (Trainer.term_optimizers).
        return {"loss": loss, "forget": l_f.detach(), "retain": l_r.detach(),
                "extra": extra.detach(), "weighted_forget": weighted_forget}
