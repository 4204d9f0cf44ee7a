r"""BPO and NBPO: point-wise and noisy-label-robust objectives for implicit
feedback, from `"Sampler Design for Implicit Feedback Data by Noisy-label
Robust Learning" <https://arxiv.org/abs/2007.07204>`_ (Yu & Qin, SIGIR 2020).

Both only need the backbone's scores :math:`R_{ui}` (inner products of
:meth:`~mmgraph.models.Recommender.embeddings`) plus the model's own
regulariser :meth:`~mmgraph.models.Recommender.extra_loss`, so every
registered model (MF, LightGCN, the multimodal models) trains with them::

    mmgraph train --model lightgcn --objective nbpo --set objective.flip_dim=50
    Trainer(model, ds, objective="nbpo", objective_params={"flip_reg": 0.1})

Two modes (the reference code, ``Wenhui-Yu/NBPO`` ``_NBPO.py``, optimises
with SGD and hand-written gradients; mmgraph offers both):

* **default** -- Adam (the trainer's optimiser), the loss *averaged* over the
  batch's :math:`B k` (user, positive, negative) triples, the flip model
  regularised on the rows the batch touches, the backbone regularised by its
  own :meth:`extra_loss`;
* **parity** -- the reference update: ``reduction="sum"``,
  ``flip_reg_rows="all"``, ``backbone_l2=`` :math:`\lambda_r` on all rows
  and plain SGD at :math:`\eta\cdot 0.99^{e+1}` (see
  :func:`reference_parity_config`). With SGD, the summed loss and the
  all-rows L2 make one optimiser step exactly the reference's dense ascent
  step.

Since a mean is the sum divided by :math:`Bk`, ``reduction`` only rescales
the whole objective (regularisers included): irrelevant for Adam up to its
:math:`\epsilon`, but it sets the step size of SGD.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import Tensor

from mmgraph.config import TrainConfig
from mmgraph.nn.losses import bpo_loss, nbpo_loss
from mmgraph.train.objectives.base import Objective, register_objective

__all__ = ["BPOObjective", "NBPOObjective", "FlipModel",
           "reference_parity_config", "reference_init"]

_REDUCTIONS = ("mean", "sum")


def _check_batch(name: str, batch) -> None:
    if batch.neg_items is None:
        raise ValueError(f"{name}: the batch has no sampled negatives; set "
                         f"train.num_negatives > 0 (or leave it at 0 for "
                         f"the objective's default of 4)")


def _l2_all(module: torch.nn.Module) -> Tensor:
    r""":math:`\frac12\sum_\theta \|\theta\|^2` over ``module``'s trainable
    parameters."""
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        return torch.zeros(())
    return 0.5 * sum(p.pow(2).sum() for p in params)


class _PointwiseObjective(Objective):
    r"""Shared plumbing: scores of the batch, reductions, backbone L2."""
    default_negatives = 4

    def __init__(self, model, dataset, reduction: str = "mean",
                 backbone_l2: float = 0.0) -> None:
        super().__init__(model, dataset)
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{self.__class__.__name__}: reduction must be "
                             f"one of {_REDUCTIONS}, got {reduction!r}")
        if backbone_l2 < 0:
            raise ValueError(f"{self.__class__.__name__}: backbone_l2 must "
                             f"be >= 0, got {backbone_l2}")
        self.reduction = reduction
        self.backbone_l2 = float(backbone_l2)

    def _scores(self, model, batch):
        _check_batch(self.__class__.__name__, batch)
        user_emb, item_emb = model.embeddings()
        pos = model.pair_scores(user_emb, item_emb, batch.users,
                                batch.pos_items)
        neg = model.pair_scores(user_emb, item_emb, batch.users,
                                batch.neg_items)
        return user_emb, item_emb, pos, neg

    def _scale(self, batch) -> float:
        # "mean" = the reference's per-batch sum divided by the B*k triples.
        return 1.0 / batch.neg_items.numel() if self.reduction == "mean" \
            else 1.0

    def _backbone_l2(self, model, batch, ref: Tensor) -> Tensor:
        if self.backbone_l2 == 0:
            return ref.new_zeros(())
        return self.backbone_l2 * self._scale(batch) * _l2_all(model)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, backbone_l2={self.backbone_l2}"


@register_objective("bpo")
class BPOObjective(_PointwiseObjective):
    r"""Bayesian Point-wise Optimisation (BPO): the point-wise likelihood of
    the observed labels -- observed positives are 1, sampled unvoted items
    are 0 (`Yu & Qin, SIGIR 2020 <https://arxiv.org/abs/2007.07204>`_):

    .. math::
        \mathcal{L} = -\frac{1}{Bk}\sum_{b=1}^{B}\sum_{j=1}^{k}\Big[
        \log\sigma(R_{u_b i_b}) + \log\sigma(-R_{u_b j})\Big]
        + \frac{\lambda_r}{2Bk}\|\Theta\|^2 + \text{extra\_loss}

    with :math:`k` negatives per positive drawn uniformly among the user's
    unvoted items (each positive term counted once per negative, as in the
    reference). With ``reduction="sum"`` the :math:`1/(Bk)` factors are
    dropped (the reference's per-batch sum).

    Args:
        model: the backbone (any :class:`~mmgraph.models.Recommender`).
        dataset: the training dataset (unused; the interface's signature).
        reduction (str): ``"mean"`` over triples or ``"sum"`` (reference)
            (default: ``"mean"``).
        backbone_l2 (float): :math:`\lambda_r`, a squared L2 on **all** the
            backbone's parameters every step (the reference's all-rows
            shrink); ``0`` leaves regularisation to the model's
            :meth:`extra_loss` (default: ``0.0``).
    """

    def forward(self, model, batch) -> Dict[str, Tensor]:
        user_emb, item_emb, pos, neg = self._scores(model, batch)
        main = bpo_loss(pos, neg, reduction="sum") * self._scale(batch)
        l2 = self._backbone_l2(model, batch, main)
        extra = model.extra_loss(batch, user_emb, item_emb)
        return {"loss": main + l2 + extra, "bpo": main.detach(),
                "l2": l2.detach(), "extra": extra.detach()}


class FlipModel(torch.nn.Module):
    r"""NBPO's low-rank label-flip model: :math:`\gamma_{ui} = \mathbf{p}_u^
    \top\mathbf{q}_i` and :math:`\rho_{ui} = \sigma(\gamma_{ui})`, the chance
    that a true positive :math:`(u, i)` is observed as unvoted.

    Initialisation (the reference's ``_NBPO.py``): :math:`P = s\,\mathcal{U}[0,1)/\sqrt K`
    (positive), :math:`Q = -s\,\mathcal{U}[0,1)/\sqrt K` (negative), so that
    :math:`\mathbb{E}[\gamma] = -s^2/4` and, for :math:`s = 5`,
    :math:`\rho \approx 0.002`.

    Args:
        num_users (int): rows of :math:`P`.
        num_items (int): rows of :math:`Q`.
        dim (int): rank :math:`K` (default: ``50``).
        init_scale (float): :math:`s` (default: ``5.0``).
    """

    def __init__(self, num_users: int, num_items: int, dim: int = 50,
                 init_scale: float = 5.0) -> None:
        super().__init__()
        if dim <= 0:
            raise ValueError(f"FlipModel: dim must be positive, got {dim}")
        self.dim = int(dim)
        self.init_scale = float(init_scale)
        self.P = torch.nn.Parameter(torch.empty(num_users, dim))
        self.Q = torch.nn.Parameter(torch.empty(num_items, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = self.init_scale / self.dim ** 0.5
        with torch.no_grad():
            self.P.uniform_(0.0, 1.0).mul_(bound)
            self.Q.uniform_(0.0, 1.0).mul_(-bound)

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        r"""Flip logits :math:`\gamma` of ``(users[b], items[b, ...])``;
        ``items`` may be ``[B]`` or ``[B, k]``."""
        p = self.P[users]
        if items.dim() == 2:
            p = p.unsqueeze(1)
        return (p * self.Q[items]).sum(-1)

    def rho(self, users: Tensor, items: Tensor) -> Tensor:
        r"""Flip probabilities :math:`\rho = \sigma(\gamma)`."""
        return torch.sigmoid(self(users, items))

    def extra_repr(self) -> str:
        return (f"{self.P.size(0)}, {self.Q.size(0)}, dim={self.dim}, "
                f"init_scale={self.init_scale}")


@register_objective("nbpo")
class NBPOObjective(_PointwiseObjective):
    r"""Noisy-label-robust BPO (NBPO) with a learned flip model
    (`Yu & Qin, SIGIR 2020 <https://arxiv.org/abs/2007.07204>`_).

    The observed label :math:`\tilde y` is a noisy view of the true
    preference :math:`y`: a true positive is left unvoted with probability
    :math:`\rho_{ui} = \sigma(\mathbf{p}_u^\top\mathbf{q}_i)`
    (:class:`FlipModel`), observed positives are trusted, so
    :math:`P(\tilde y = 1) = \sigma(R)(1-\rho)` and
    :math:`P(\tilde y = 0) = \sigma(-R) + \sigma(R)\rho`. The final NBPO
    (the reference's surrogate gradient, ``_NBPO.py``) is the gradient of
    the stop-gradient (sg) objective

    .. math::
        \mathcal{J} = \sum_{b,j}\Big[\mathrm{sg}(1-\rho_{ui})\log\sigma(R_{ui})
        + \mathrm{sg}(\sigma(R_{ui}))\log(1-\rho_{ui})
        + \mathrm{sg}(\rho_{uj})\log\sigma(R_{uj}) + \log\sigma(-R_{uj})
        + \mathrm{sg}(\sigma(R_{uj}))\log\rho_{uj}\Big]

    (:func:`~mmgraph.nn.losses.nbpo_loss`) and the minimised loss is

    .. math::
        \mathcal{L} = \frac{1}{Bk}\Big(-\mathcal{J}
        + \frac{\lambda_\phi}{2}\Omega(P, Q)
        + \frac{\lambda_r}{2}\|\Theta\|^2\Big) + \text{extra\_loss},

    with :math:`\Omega` the squared norms of the rows of the batch's
    triples (``flip_reg_rows="batch"``: :math:`\sum_{b,j}\|\mathbf{p}_{u_b}
    \|^2 + \|\mathbf{q}_{i_b}\|^2 + \|\mathbf{q}_j\|^2`) or of all rows
    (``"all"``: :math:`\|P\|_F^2 + \|Q\|_F^2`, the reference). Reading: an
    unvoted item is pulled toward "positive" with weight :math:`\rho` and
    always pushed down as a negative; :math:`\gamma` rises with the
    predicted preference of unvoted items and falls for observed ones.

    The flip model is used in training only: ranking and evaluation use the
    backbone's scores. It is re-initialised at the start of epoch 0 of a
    fit (as the trainer re-initialises the model), not on resume.

    Args:
        model: the backbone (any :class:`~mmgraph.models.Recommender`).
        dataset: the training dataset (its numbers of users and items).
        flip_dim (int): rank :math:`K_1` of the flip model (default: ``50``).
        flip_reg (float): :math:`\lambda_\phi` (default: ``0.01``, for the
            default mode; the reference's 5 is for ``flip_reg_rows="all"``
            with summed SGD steps).
        flip_reg_rows (str): ``"batch"`` or ``"all"`` (default:
            ``"batch"``).
        flip_lr (float, optional): learning rate of :math:`P, Q`
            (``None`` = the model's) (default: ``None``).
        flip_init (float): initial scale :math:`s` of :class:`FlipModel`
            (default: ``5.0``, :math:`\rho\approx 0.002`).
        reduction (str): ``"mean"`` over the :math:`Bk` triples or ``"sum"``
            (reference) (default: ``"mean"``).
        backbone_l2 (float): :math:`\lambda_r` on all backbone parameters
            (default: ``0.0``: the model's :meth:`extra_loss` regularises).

    Differences from the reference code: the reference clamps
    :math:`\sigma` to exactly 0/1 beyond :math:`|x| > 10` (zero gradients
    there); here :math:`\log\rho`, :math:`\log(1-\rho)` and
    :math:`\log\sigma(\pm R)` are computed with ``logsigmoid`` and stay
    finite and differentiable everywhere. Negatives come from the trainer's
    sampler (``train.neg_candidates``: ``"all"`` = the reference's uniform
    draw over all items), batches are shuffled each epoch (the reference
    walks the file order).
    """

    def __init__(self, model, dataset, flip_dim: int = 50,
                 flip_reg: float = 0.01, flip_reg_rows: str = "batch",
                 flip_lr: Optional[float] = None, flip_init: float = 5.0,
                 reduction: str = "mean", backbone_l2: float = 0.0) -> None:
        super().__init__(model, dataset, reduction, backbone_l2)
        if flip_reg_rows not in ("batch", "all"):
            raise ValueError(f"NBPOObjective: flip_reg_rows must be 'batch' "
                             f"or 'all', got {flip_reg_rows!r}")
        if flip_reg < 0:
            raise ValueError(f"NBPOObjective: flip_reg must be >= 0, got "
                             f"{flip_reg}")
        self.flip = FlipModel(int(dataset.num_users), int(dataset.num_items),
                              flip_dim, flip_init)
        self.flip_reg = float(flip_reg)
        self.flip_reg_rows = flip_reg_rows
        self.learning_rate = flip_lr

    def reset_parameters(self) -> None:
        self.flip.reset_parameters()

    def on_epoch_start(self, epoch: int) -> None:
        if epoch == 0:
            self.reset_parameters()

    def _flip_penalty(self, batch) -> Tensor:
        if self.flip_reg_rows == "all":
            sq = self.flip.P.pow(2).sum() + self.flip.Q.pow(2).sum()
        else:
            k = batch.neg_items.size(1)
            sq = (k * self.flip.P[batch.users].pow(2).sum()
                  + k * self.flip.Q[batch.pos_items].pow(2).sum()
                  + self.flip.Q[batch.neg_items].pow(2).sum())
        return 0.5 * self.flip_reg * self._scale(batch) * sq

    def forward(self, model, batch) -> Dict[str, Tensor]:
        user_emb, item_emb, pos, neg = self._scores(model, batch)
        gamma_pos = self.flip(batch.users, batch.pos_items)
        gamma_neg = self.flip(batch.users, batch.neg_items)
        main = nbpo_loss(pos, neg, gamma_pos, gamma_neg, reduction="sum") \
            * self._scale(batch)
        flip_reg = self._flip_penalty(batch) if self.flip_reg > 0 \
            else main.new_zeros(())
        l2 = self._backbone_l2(model, batch, main)
        extra = model.extra_loss(batch, user_emb, item_emb)
        return {"loss": main + flip_reg + l2 + extra, "nbpo": main.detach(),
                "flip_reg": flip_reg.detach(), "l2": l2.detach(),
                "extra": extra.detach(),
                "rho_pos": torch.sigmoid(gamma_pos.detach()).mean(),
                "rho_neg": torch.sigmoid(gamma_neg.detach()).mean()}

    def extra_repr(self) -> str:
        return (f"flip_reg={self.flip_reg}, flip_reg_rows="
                f"{self.flip_reg_rows!r}, flip_lr={self.learning_rate}, "
                + super().extra_repr())


def reference_parity_config(config: Union[TrainConfig, Dict[str, Any], None]
                            = None,
                            objective_params: Optional[Dict[str, Any]] = None,
                            decay: float = 0.99
                            ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    r"""The reference optimisation loop (``train_Model`` in the reference's
    ``_NBPO.py``) as a
    configuration: plain SGD on every parameter group (model and flip
    model) at :math:`\eta\cdot\text{decay}^{e+1}` in epoch :math:`e` (the
    reference decays at the *start* of each epoch), where :math:`\eta` is
    ``learning_rate`` (and the flip model's ``flip_lr`` if set).

    Returns ``(train_config, objective_params)``: ``config`` with
    ``optimizer="sgd"``, ``learning_rate`` :math:`\eta\cdot\text{decay}`
    and the ``"exponential"`` schedule (``gamma=decay``, stepped after each
    epoch), and ``objective_params`` with ``flip_lr`` scaled alike::

        train, params = reference_parity_config(
            {"learning_rate": 0.05, "batch_size": 5000,
             "neg_candidates": "all"},
            {"reduction": "sum", "flip_reg_rows": "all", "backbone_l2": 1.0})
        reference_init(model)
        Trainer(model, dataset, train, "nbpo", objective_params=params).fit()

    Pair it with the parity settings of the objective (``reduction="sum"``,
    ``flip_reg_rows="all"``, ``backbone_l2=`` :math:`\lambda_r`), a model
    whose own regulariser is off (MF with ``reg_weight=0``),
    ``batch_size=5000`` and ``neg_candidates="all"``.
    """
    train = config.to_dict() if isinstance(config, TrainConfig) \
        else dict(config or {})
    lr = float(train.get("learning_rate", TrainConfig.learning_rate))
    train.update(optimizer="sgd", optimizer_params={},
                 learning_rate=lr * decay, lr_scheduler="exponential",
                 lr_scheduler_params={"gamma": float(decay)})
    params = dict(objective_params or {})
    if params.get("flip_lr") is not None:
        params["flip_lr"] = float(params["flip_lr"]) * decay
    return train, params


def reference_init(model) -> None:
    r"""Makes ``model.reset_parameters()`` end with the reference's
    :math:`\mathcal{U}[0,1)/\sqrt{K_0}` draw of its ID tables
    (``user_emb`` / ``item_emb``: MF, LightGCN)."""
    tables = [getattr(model, n, None) for n in ("user_emb", "item_emb")]
    if not all(isinstance(t, torch.nn.Embedding) for t in tables):
        raise ValueError(f"reference_init needs user_emb / item_emb "
                         f"embedding tables; {model.__class__.__name__} has "
                         f"none")
    base_reset = model.reset_parameters

    def reset() -> None:
        base_reset()
        with torch.no_grad():
            for t in tables:
                t.weight.uniform_(0.0, 1.0).div_(t.weight.size(1) ** 0.5)

    model.reset_parameters = reset
