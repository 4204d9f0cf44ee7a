r"""Functional training objectives and regularisers.

Sign convention: every function returns a quantity to **minimise**.
"""
import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    'bpr_loss',
    'reverse_bpr_loss',
    'bpo_loss',
    'nbpo_loss',
    'emb_loss',
    'half_squared_norm_loss',
    'info_nce_loss',
    'mean_square_loss',
    'alignment_loss',
    'uniformity_loss',
    'calibrated_uniformity_loss',
    'bootstrap_cosine_loss',
]


def _pair(name: str, pos: Tensor, neg: Tensor) -> Tensor:
    # Margins s_pos - s_neg for neg of shape [B] or [B, k].
    if pos.dim() != 1:
        raise ValueError(f"{name}: 'pos' must have shape [B] (got "
                         f"{list(pos.shape)})")
    if neg.dim() == 1:
        if neg.shape != pos.shape:
            raise ValueError(f"{name}: 'neg' must have shape [B] or [B, k] "
                             f"with B={pos.numel()} (got {list(neg.shape)})")
        return pos - neg
    if neg.dim() == 2 and neg.size(0) == pos.size(0):
        return pos.unsqueeze(-1) - neg
    raise ValueError(f"{name}: 'neg' must have shape [B] or [B, k] with "
                     f"B={pos.numel()} (got {list(neg.shape)})")


def _reduce(name: str, x: Tensor, reduction: str) -> Tensor:
    if reduction == 'mean':
        return x.mean()
    if reduction == 'sum':
        return x.sum()
    if reduction == 'none':
        return x
    raise ValueError(f"{name}: unknown reduction '{reduction}' (expected "
                     f"'mean', 'sum' or 'none')")


def bpr_loss(pos: Tensor, neg: Tensor, form: str = 'mmrec',
             reduction: str = 'mean') -> Tensor:
    r"""Bayesian personalised ranking loss, `"BPR: Bayesian Personalized
    Ranking from Implicit Feedback" <https://arxiv.org/abs/1205.2618>`_:

    .. math::
        \mathcal{L} = -\frac{1}{B k}\sum_{b, j}
        \log\big(\epsilon + \sigma(s_{b}^{+} - s_{bj}^{-})\big).

    Args:
        pos (torch.Tensor): Positive scores :obj:`[B]`.
        neg (torch.Tensor): Negative scores :obj:`[B]` or :obj:`[B, k]`.
        form (str, optional): :obj:`"mmrec"` (:math:`\epsilon = 10^{-10}`,
            MMRec's ``BPRLoss``; saturates for margins below about -23) or
            :obj:`"logsigmoid"` (:math:`\epsilon = 0` via the stable
            :func:`~torch.nn.functional.logsigmoid`, as FREEDOM and PyG).
            (default: :obj:`"mmrec"`)
        reduction (str, optional): :obj:`"mean"`, :obj:`"sum"` or
            :obj:`"none"`. (default: :obj:`"mean"`)
    """
    diff = _pair('bpr_loss', pos, neg)
    if form == 'mmrec':
        loss = -torch.log(1e-10 + torch.sigmoid(diff))
    elif form == 'logsigmoid':
        loss = -F.logsigmoid(diff)
    else:
        raise ValueError(f"bpr_loss: unknown form '{form}' (expected "
                         f"'mmrec' or 'logsigmoid')")
    return _reduce('bpr_loss', loss, reduction)


def reverse_bpr_loss(pos: Tensor, neg: Tensor,
                     reduction: str = 'mean') -> Tensor:
    r"""Reverse BPR of MMRecUn (`"Multi-Modal Recommendation Unlearning"
    <https://arxiv.org/abs/2405.15328>`_) for the forget set: minimising it
    pushes a forgotten positive **below** the negative,

    .. math::
        \mathcal{L} = -\frac{1}{B k}\sum_{b, j}
        \log \sigma(s_{bj}^{-} - s_{b}^{+}),

    i.e. :func:`bpr_loss` (logsigmoid form) with the roles swapped. There is
    exactly one minus sign in front of the log.

    Args:
        pos (torch.Tensor): Scores of the interactions to forget :obj:`[B]`.
        neg (torch.Tensor): Negative scores :obj:`[B]` or :obj:`[B, k]`.
        reduction (str, optional): :obj:`"mean"`, :obj:`"sum"` or
            :obj:`"none"`. (default: :obj:`"mean"`)
    """
    diff = _pair('reverse_bpr_loss', pos, neg)
    return _reduce('reverse_bpr_loss', -F.logsigmoid(-diff), reduction)


def _pointwise(name: str, pos: Tensor, neg: Tensor) -> Tensor:
    # Positive logits repeated once per negative: [B, k].
    diff = _pair(name, pos, neg)
    return pos.unsqueeze(-1).expand_as(diff) if neg.dim() == 2 else pos


def bpo_loss(pos: Tensor, neg: Tensor, reduction: str = 'sum') -> Tensor:
    r"""Bayesian point-wise optimisation (BPO), `"Sampler Design for Implicit
    Feedback Data by Noisy-label Robust Learning"
    <https://arxiv.org/abs/2007.07204>`_: the negative log-likelihood of
    observed positives and sampled unvoted items,

    .. math::
        \mathcal{L} = -\sum_{b, j}\big[\log\sigma(R_{b}^{+})
        + \log\sigma(-R_{bj}^{-})\big],

    where each positive term is counted once per sampled negative (4 in the
    reference). Gradients (descent): :math:`-\sigma(-R^{+})` per pair for a
    positive, :math:`\sigma(R^{-})` for a negative.

    Args:
        pos (torch.Tensor): Positive logits :math:`R^{+}` :obj:`[B]`.
        neg (torch.Tensor): Negative logits :math:`R^{-}` :obj:`[B]` or
            :obj:`[B, k]`.
        reduction (str, optional): :obj:`"sum"` (reference) or
            :obj:`"mean"` over pairs, or :obj:`"none"`.
            (default: :obj:`"sum"`)
    """
    pos_k = _pointwise('bpo_loss', pos, neg)
    loss = -(F.logsigmoid(pos_k) + F.logsigmoid(-neg))
    return _reduce('bpo_loss', loss, reduction)


def nbpo_loss(pos: Tensor, neg: Tensor, gamma_pos: Tensor, gamma_neg: Tensor,
              reduction: str = 'sum') -> Tensor:
    r"""Noisy-label robust BPO (NBPO, the final ``_NBPO.py`` update) of
    `"Sampler Design for Implicit Feedback Data by Noisy-label Robust
    Learning" <https://arxiv.org/abs/2007.07204>`_, in stop-gradient form.

    With preference logits :math:`R`, flip logits :math:`\gamma` and the
    flip probability :math:`\rho = \sigma(\gamma)` (the chance that a true
    positive is observed as unvoted), the maximised objective is

    .. math::
        \mathcal{J} = \sum_{\mathrm{obs}}\big[\,\mathrm{sg}(1-\rho)
        \log\sigma(R) + \mathrm{sg}(\sigma(R))\log(1-\rho)\big]
        + \sum_{\mathrm{unv}}\big[\,\mathrm{sg}(\rho)\log\sigma(R)
        + \log\sigma(-R) + \mathrm{sg}(\sigma(R))\log\rho\big]

    and this function returns :math:`-\mathcal{J}`. Its gradients are the
    reference updates (ascent: observed :math:`\partial_R = (1-\rho)
    \sigma(-R)`, :math:`\partial_\gamma = -\sigma(R)\rho`; unvoted
    :math:`\partial_R = \rho\sigma(-R) - \sigma(R)`, :math:`\partial_\gamma =
    \sigma(R)(1-\rho)`). :math:`\log\rho` and :math:`\log(1-\rho)` are
    computed as :math:`\log\sigma(\pm\gamma)`, finite for any :math:`\gamma`.
    With :math:`\rho \to 0` the gradients in :math:`R` are those of
    :func:`bpo_loss`. Each observed term is counted once per sampled
    negative, as in the reference.

    Args:
        pos (torch.Tensor): Logits :math:`R` of observed pairs :obj:`[B]`.
        neg (torch.Tensor): Logits of sampled unvoted pairs :obj:`[B]` or
            :obj:`[B, k]`.
        gamma_pos (torch.Tensor): Flip logits of observed pairs :obj:`[B]`.
        gamma_neg (torch.Tensor): Flip logits of unvoted pairs, shaped like
            :obj:`neg`.
        reduction (str, optional): :obj:`"sum"` (reference), :obj:`"mean"`
            or :obj:`"none"`. (default: :obj:`"sum"`)
    """
    pos_k = _pointwise('nbpo_loss', pos, neg)
    if gamma_pos.shape != pos.shape or gamma_neg.shape != neg.shape:
        raise ValueError(f"nbpo_loss: 'gamma_pos' / 'gamma_neg' must match "
                         f"'pos' {list(pos.shape)} / 'neg' "
                         f"{list(neg.shape)} (got {list(gamma_pos.shape)} / "
                         f"{list(gamma_neg.shape)})")
    gpos_k = gamma_pos.unsqueeze(-1).expand_as(pos_k) if neg.dim() == 2 \
        else gamma_pos

    obs = (torch.sigmoid(-gpos_k).detach() * F.logsigmoid(pos_k) +
           torch.sigmoid(pos_k).detach() * F.logsigmoid(-gpos_k))
    unv = (torch.sigmoid(gamma_neg).detach() * F.logsigmoid(neg) +
           F.logsigmoid(-neg) +
           torch.sigmoid(neg).detach() * F.logsigmoid(gamma_neg))
    return _reduce('nbpo_loss', -(obs + unv), reduction)


def emb_loss(*embeddings: Tensor, p: int = 2,
             total_rows: Optional[Sequence[int]] = None) -> Tensor:
    r"""MMRec's ``EmbLoss`` regulariser: **un-squared** norms summed and
    divided by the number of rows of the *last* argument,

    .. math::
        \mathcal{R} = \frac{1}{n_{\mathrm{last}}}\sum_{\mathbf{X}}
        \lVert \mathbf{X} \rVert_F .

    (PyG's ``BPRLoss`` regulariser is the squared norm; not the same.)

    With :obj:`total_rows` each matrix is a sample of :math:`n` of the
    :math:`N` rows of a full one (a sampled subgraph's nodes), whose norm is
    estimated from the sample's sum of :math:`p`-th powers,
    :math:`\lVert\mathbf{X}\rVert \approx (N/n)^{1/p}
    \lVert\mathbf{X}_{\mathrm{sample}}\rVert`, and the divisor is the last
    matrix's :math:`N`; with the whole matrices it is the exact value.

    Args:
        *embeddings (torch.Tensor): Embedding matrices.
        p (int, optional): Norm order (entry-wise). (default: :obj:`2`)
        total_rows (list of int, optional): Rows :math:`N` of the full
            matrix of each argument. (default: :obj:`None`, the arguments
            are the full matrices)
    """
    if len(embeddings) == 0:
        raise ValueError("emb_loss: expected at least one tensor")
    if total_rows is None:
        total_rows = [e.size(0) for e in embeddings]
    if len(total_rows) != len(embeddings):
        raise ValueError(f"emb_loss: {len(total_rows)} total_rows for "
                         f"{len(embeddings)} tensors")
    total = sum(torch.linalg.vector_norm(e, ord=p) *
                (n / max(e.size(0), 1)) ** (1.0 / p)
                for e, n in zip(embeddings, total_rows))
    return total / total_rows[-1]


def half_squared_norm_loss(*embeddings: Tensor,
                           batch_size: Optional[int] = None) -> Tensor:
    r"""The squared-norm regulariser of LATTICE and MGCN (their ``bpr_loss``):
    half the squared Frobenius norms summed, divided by the batch size,

    .. math::
        \mathcal{R} = \frac{1}{2B}\sum_{\mathbf{X}}
        \lVert \mathbf{X} \rVert_F^2 .

    Args:
        *embeddings (torch.Tensor): Embedding matrices of the batch rows.
        batch_size (int, optional): :math:`B`. (default: :obj:`None`, the
            number of rows of the first matrix)
    """
    if len(embeddings) == 0:
        raise ValueError("half_squared_norm_loss: expected at least one "
                         "tensor")
    b = embeddings[0].size(0) if batch_size is None else batch_size
    return sum(e.pow(2).sum() for e in embeddings) / (2.0 * max(b, 1))


def info_nce_loss(view1: Tensor, view2: Tensor,
                  temperature: float = 0.2) -> Tensor:
    r"""InfoNCE between two views of the same rows (MGCN's ``InfoNCE``),
    with in-batch negatives:

    .. math::
        \mathcal{L} = -\frac{1}{B}\sum_{b}\log
        \frac{\exp(\hat{\mathbf{a}}_b^{\top}\hat{\mathbf{b}}_b/\tau)}
        {\sum_{c}\exp(\hat{\mathbf{a}}_b^{\top}\hat{\mathbf{b}}_c/\tau)},

    :math:`\hat{\cdot}` the L2-normalised rows (computed with
    :func:`torch.logsumexp`, so no overflow for small :math:`\tau`).

    Args:
        view1 (torch.Tensor): :obj:`[B, d]`.
        view2 (torch.Tensor): :obj:`[B, d]`, row :math:`b` the positive of
            row :math:`b` of :obj:`view1`.
        temperature (float, optional): :math:`\tau`. (default: :obj:`0.2`)
    """
    if view1.shape != view2.shape or view1.dim() != 2:
        raise ValueError(f"info_nce_loss: expected two [B, d] views of the "
                         f"same shape (got {list(view1.shape)} and "
                         f"{list(view2.shape)})")
    # The row-wise cross-entropy against the diagonal: one fused, stable
    # log-softmax (about 20 % faster than logsumexp minus the diagonal).
    logits = (F.normalize(view1, dim=1) / temperature) @ \
        F.normalize(view2, dim=1).t()
    target = torch.arange(logits.size(0), device=logits.device)
    return F.cross_entropy(logits, target)


def mean_square_loss(*embeddings: Tensor) -> Tensor:
    r"""LIRDRec's regulariser, the mean of squared entries of each matrix,
    summed: :math:`\sum_{\mathbf{X}} \mathrm{mean}(\mathbf{X}^{\circ 2})`.
    """
    if len(embeddings) == 0:
        raise ValueError("mean_square_loss: expected at least one tensor")
    return sum(e.pow(2).mean() for e in embeddings)


def alignment_loss(x: Tensor, y: Tensor, alpha: float = 2.0) -> Tensor:
    r"""Alignment of positive pairs, `"Understanding Contrastive
    Representation Learning through Alignment and Uniformity on the
    Hypersphere" <https://arxiv.org/abs/2005.10242>`_:

    .. math::
        \mathcal{L}_{\mathrm{align}} = \frac{1}{B}\sum_b
        \lVert \mathbf{x}_b - \mathbf{y}_b \rVert_2^{\alpha}.

    Inputs are used as given (CM3 passes unit vectors).

    Args:
        x (torch.Tensor): :obj:`[B, d]`.
        y (torch.Tensor): :obj:`[B, d]`.
        alpha (float, optional): Exponent. (default: :obj:`2.0`)
    """
    if x.shape != y.shape:
        raise ValueError(f"alignment_loss: shapes differ ({list(x.shape)} vs "
                         f"{list(y.shape)})")
    if alpha == 2.0:  # no sqrt: smooth at x == y
        return (x - y).pow(2).sum(dim=-1).mean()
    return (x - y).norm(dim=-1).pow(alpha).mean()


class _PairLogMeanExp(torch.autograd.Function):
    r"""``log mean_{a != b} exp(-t (||x_a - x_b||^2 + offset_ab))`` of the rows
    of ``x`` with a hand-written backward.

    The squared distances come from the Gram matrix (no ``pdist`` sqrt, whose
    gradient is undefined at the duplicate rows sampled batches contain) and
    are clamped at 0 as rounding can leave them slightly negative. Autograd of
    the same expression keeps about ten ``[B, B]`` intermediates and runs two
    ``[B, B] x [B, d]`` products per Gram matrix in the backward; here the
    forward works in place on one ``[B, B]`` buffer that becomes the softmax
    weights :math:`P`, and the backward is
    :math:`\partial/\partial\mathbf{x} = 2(\mathrm{diag}(W\mathbf{1})
    \mathbf{x} - W\mathbf{x})` with :math:`W = w + w^\top`,
    :math:`w = -tP` on the unclamped pairs (two products, :math:`w\mathbf{x}`
    and :math:`w^\top\mathbf{x}`, with no :math:`W` formed);
    :math:`\partial/\partial\,\mathrm{offset} = -tP`.
    Computed in at least float32 whatever the autocast state (``exp`` of the
    logits is not safe in half precision).
    """

    @staticmethod
    def forward(ctx, x: Tensor, offset: Optional[Tensor], t: float) -> Tensor:
        n = x.size(0)
        with torch.autocast(x.device.type, enabled=False):
            xf = x.to(torch.promote_types(x.dtype, torch.float32))
            dist = xf @ xf.t()
            sq = dist.diagonal().clone()
            dist.mul_(-2.0).add_(sq.view(-1, 1)).add_(sq.view(1, -1))
            unclamped = dist >= 0  # clamp_min's gradient mask
            dist.clamp_min_(0.0)
            if offset is not None:
                dist.add_(offset.to(dist.dtype))
            logits = dist.mul_(-t)
            logits.diagonal().fill_(float("-inf"))
            lse = torch.logsumexp(logits.view(-1), dim=0)
            weights = logits.sub_(lse).exp_()  # softmax over pairs, diag 0
        ctx.t = t
        ctx.x_dtype = x.dtype
        ctx.offset_dtype = None if offset is None else offset.dtype
        ctx.save_for_backward(xf, weights, unclamped)
        return (lse - math.log(n * (n - 1))).to(x.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        xf, weights, unclamped = ctx.saved_tensors
        scale = -ctx.t * grad.to(xf.dtype)
        grad_offset = grad_x = None
        if ctx.needs_input_grad[1]:
            grad_offset = (weights * scale).to(ctx.offset_dtype)
        if ctx.needs_input_grad[0]:
            w = (weights * scale).mul_(unclamped)
            # W = w + w^T without forming it: an add with a transposed
            # operand strides through memory, a product with w^T does not.
            degree = w.sum(dim=1, keepdim=True) + w.sum(dim=0).view(-1, 1)
            grad_x = (2.0 * (degree * xf - (w @ xf).addmm_(w.t(), xf))
                      ).to(ctx.x_dtype)
        return grad_x, grad_offset, None


def uniformity_loss(x: Tensor, t: float = 2.0) -> Tensor:
    r"""Uniformity on the hypersphere (Wang & Isola, 2020):

    .. math::
        \mathcal{L}_{\mathrm{uniform}} = \log \frac{2}{B(B-1)}
        \sum_{a<b} e^{-t \lVert \mathbf{x}_a - \mathbf{x}_b \rVert_2^2}

    over all pairs of rows (duplicates included, as in CM3), computed with
    :func:`torch.logsumexp` and a fused backward (one ``[B, B]`` buffer).

    Args:
        x (torch.Tensor): :obj:`[B, d]`, :math:`B \geq 2`.
        t (float, optional): Temperature. (default: :obj:`2.0`)
    """
    if x.dim() != 2 or x.size(0) < 2:
        raise ValueError(f"uniformity_loss: expected [B, d] with B >= 2 (got "
                         f"{list(x.shape)})")
    return _PairLogMeanExp.apply(x, None, float(t))


def calibrated_uniformity_loss(x: Tensor, sim_x: Tensor, t: float = 2.0,
                               min_sim: float = 0.0,
                               max_sim: float = 1.0) -> Tensor:
    r"""CM3's calibrated item uniformity (`"Calibrating Multimodal
    Recommendation" <https://arxiv.org/abs/2508.01226>`_): multimodally
    similar items are repelled less,

    .. math::
        \mathcal{L}_{ii} = \log \frac{2}{B(B-1)} \sum_{a<b}
        \exp\!\big(-t\,(\lVert \mathbf{x}_a - \mathbf{x}_b \rVert_2^2
        - 2 + 2 s_{ab})\big),
        \qquad s_{ab} = \mathrm{clamp}(\cos(\mathbf{m}_a, \mathbf{m}_b),
        s_{\min}, s_{\max}).

    For unit :math:`\mathbf{x}` the exponent is
    :math:`2t(\cos(\mathbf{x}_a, \mathbf{x}_b) - s_{ab})`; :math:`s = 0`
    recovers :func:`uniformity_loss` up to the constant :math:`2t`. In CM3
    :math:`\mathbf{x}` are the normalised representations of the batch's
    sampled **negative** items (a random item sample) and
    :math:`\mathbf{m}` their fused multimodal features; :math:`\mathbf{m}` is
    **not** detached, so gradients reach the fusion projections wherever the
    clamp is inactive.

    Args:
        x (torch.Tensor): Item representations :obj:`[B, d]` (unit rows).
        sim_x (torch.Tensor): Features :math:`\mathbf{m}` defining the
            calibration :obj:`[B, d']`.
        t (float, optional): Temperature. (default: :obj:`2.0`)
        min_sim (float, optional): Lower clamp :math:`s_{\min}`.
            (default: :obj:`0.0`)
        max_sim (float, optional): Upper clamp :math:`s_{\max}`.
            (default: :obj:`1.0`)
    """
    if x.dim() != 2 or x.size(0) < 2 or sim_x.dim() != 2 or \
            sim_x.size(0) != x.size(0):
        raise ValueError(f"calibrated_uniformity_loss: expected x [B, d] and "
                         f"sim_x [B, d'] with B >= 2 (got {list(x.shape)} "
                         f"and {list(sim_x.shape)})")
    if min_sim > max_sim:
        raise ValueError(f"calibrated_uniformity_loss: min_sim {min_sim} > "
                         f"max_sim {max_sim}")
    m = F.normalize(sim_x, dim=-1)
    offset = (m @ m.t()).clamp(min_sim, max_sim).mul(2.0).sub(2.0)
    return _PairLogMeanExp.apply(x, offset, float(t))


def bootstrap_cosine_loss(online: Tensor, target: Tensor,
                          dropout: float = 0.0) -> Tensor:
    r"""One BM3 term (`"Bootstrap Latent Representations for Multi-modal
    Recommendation" <https://arxiv.org/abs/2207.05969>`_): the negative
    cosine between online predictions and a stop-gradient, dropout-perturbed
    target view, shifted to be non-negative,

    .. math::
        \mathcal{L} = 1 - \frac{1}{B}\sum_b
        \cos\big(\mathbf{z}_b,\; \mathrm{sg}(\mathrm{Drop}_p(\mathbf{h}_b))
        \big).

    BM3 sums six such terms: user prediction vs item target and back, text
    and image predictions vs the item target, and each modality prediction vs
    its own dropout view. The target dropout is always active (training
    mode), as in the reference; its :math:`1/(1-p)` rescaling does not
    change a cosine.

    Args:
        online (torch.Tensor): Predictions :math:`\mathbf{z}` :obj:`[B, d]`.
        target (torch.Tensor): Target embeddings :math:`\mathbf{h}`
            :obj:`[B, d]` (detached here).
        dropout (float, optional): Dropout probability :math:`p` of the
            target view. (default: :obj:`0.0`)
    """
    if online.shape != target.shape:
        raise ValueError(f"bootstrap_cosine_loss: shapes differ "
                         f"({list(online.shape)} vs {list(target.shape)})")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"bootstrap_cosine_loss: 'dropout' must be in "
                         f"[0, 1) (got {dropout})")
    with torch.no_grad():
        tgt = F.dropout(target, p=dropout, training=True) if dropout > 0 \
            else target.detach()
    return 1.0 - F.cosine_similarity(online, tgt, dim=-1).mean()
