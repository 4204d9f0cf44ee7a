r"""Fusion of several modality (or channel) embeddings into one.

Every module takes ``embs`` as a list of :obj:`M` tensors :obj:`[N, d]` or
one tensor :obj:`[M, N, d]` and returns a tensor, and exposes
:meth:`modality_weights` so an experiment can report which modality it
favours.
"""
import math
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Module, Parameter

from torch_geometric.nn.resolver import activation_resolver

__all__ = [
    'slerp',
    'SphericalBezierFusion',
    'ProgressiveWeightCopyingFusion',
    'pwc_schedule',
    'MeanFusion',
    'ConcatFusion',
    'AttentionFusion',
]

Embs = Union[Tensor, Sequence[Tensor]]


def _stack(name: str, embs: Embs) -> Tensor:
    # Normalises the two accepted input forms to one [M, N, d] tensor.
    if isinstance(embs, Tensor):
        if embs.dim() != 3:
            raise ValueError(f"{name}: expected a [M, N, d] tensor or a list "
                             f"of [N, d] tensors (got shape "
                             f"{list(embs.shape)})")
        return embs
    embs = list(embs)
    if len(embs) == 0:
        raise ValueError(f"{name}: expected at least one modality")
    shapes = {tuple(e.shape) for e in embs}
    if len(shapes) != 1 or embs[0].dim() != 2:
        raise ValueError(f"{name}: all modality embeddings must have the same "
                         f"[N, d] shape (got {[list(e.shape) for e in embs]})")
    return torch.stack(embs, dim=0)


def _as_column(t: Union[float, Tensor], ref: Tensor) -> Union[float, Tensor]:
    # A per-row weight of shape ref.shape[:-1] becomes [..., 1] to broadcast
    # over the feature axis; other shapes must already broadcast.
    if isinstance(t, Tensor):
        t = t.to(dtype=ref.dtype, device=ref.device)
        if t.dim() > 0 and t.shape == ref.shape[:-1]:
            t = t.unsqueeze(-1)
    return t


def slerp(a: Tensor, b: Tensor, t: Union[float, Tensor],
          eps: float = 1e-6) -> Tensor:
    r"""Spherical linear interpolation between unit vectors (Shoemake,
    "Animating rotation with quaternion curves", SIGGRAPH 1985):

    .. math::
        \mathrm{slerp}(\mathbf{a}, \mathbf{b}; t) =
        \frac{\sin((1-t)\theta)}{\sin\theta}\mathbf{a} +
        \frac{\sin(t\theta)}{\sin\theta}\mathbf{b},
        \qquad \cos\theta = \langle \mathbf{a}, \mathbf{b} \rangle,

    so :math:`t = 0` gives :math:`\mathbf{a}` and :math:`t = 1` gives
    :math:`\mathbf{b}`. It is evaluated in the equivalent, better conditioned
    form :math:`\cos(t\theta)\,\mathbf{a} + \sin(t\theta)\,\mathbf{u}` with the
    unit tangent :math:`\mathbf{u} = (\mathbf{b} - \cos\theta\,\mathbf{a}) /
    \sin\theta` and :math:`\theta = \mathrm{atan2}(\sin\theta, \cos\theta)`,
    which has finite gradients everywhere.

    Degenerate pairs (:math:`\sin\theta < \epsilon`):

    * **near-parallel**: normalised linear interpolation
      :math:`\mathrm{n}((1-t)\mathbf{a} + t\mathbf{b})` (the two agree to
      :math:`O(\theta^2)`);
    * **antipodal** (:math:`\mathbf{b} \approx -\mathbf{a}`): every great
      half-circle is a geodesic; a deterministic one is chosen through the
      unit vector orthogonal to :math:`\mathbf{a}` built from the coordinate
      axis where :math:`|\mathbf{a}|` is smallest, giving
      :math:`\cos(\pi t)\mathbf{a} + \sin(\pi t)\mathbf{w}` (unit norm, never
      the zero vector).

    Inputs are not renormalised: pass unit vectors.

    Args:
        a (torch.Tensor): Unit vectors :obj:`[..., d]` (returned at
            :math:`t = 0`).
        b (torch.Tensor): Unit vectors :obj:`[..., d]` (returned at
            :math:`t = 1`).
        t (float or torch.Tensor): Interpolation weight; a tensor of shape
            :obj:`a.shape[:-1]` (one weight per row) or broadcastable to
            :obj:`[..., 1]`.
        eps (float, optional): Threshold on :math:`\sin\theta` for the
            degenerate cases. (default: :obj:`1e-6`)
    """
    if a.shape != b.shape:
        raise ValueError(f"slerp: 'a' and 'b' must have the same shape (got "
                         f"{list(a.shape)} and {list(b.shape)})")
    t = _as_column(t, a)
    dot = (a * b).sum(dim=-1, keepdim=True).clamp(-1.0, 1.0)
    perp = b - dot * a
    # clamp_min keeps sqrt differentiable when perp == 0 (identical inputs).
    sin = perp.pow(2).sum(dim=-1, keepdim=True).clamp_min(1e-30).sqrt()
    theta = torch.atan2(sin, dot)
    near = sin < eps
    u = perp / torch.where(near, torch.ones_like(sin), sin)

    # Both fallbacks are cheap O(N d) and always evaluated: no host sync on
    # a data-dependent branch, and torch.where keeps their gradients out of
    # the rows that do not use them.
    antipodal = near & (dot < 0)
    axis = F.one_hot(a.detach().abs().argmin(dim=-1), a.size(-1)).to(a.dtype)
    w = F.normalize(axis - (axis * a).sum(dim=-1, keepdim=True) * a, dim=-1)
    u = torch.where(antipodal, w, u)
    theta = torch.where(antipodal, torch.full_like(theta, math.pi), theta)

    out = torch.cos(t * theta) * a + torch.sin(t * theta) * u
    lerp = F.normalize((1 - t) * a + t * b, dim=-1)
    return torch.where(near & (dot >= 0), lerp, out)


class _Fusion(Module):
    def reset_parameters(self) -> None:
        pass

    def _stack(self, embs: Embs) -> Tensor:
        return _stack(self.__class__.__name__, embs)


class SphericalBezierFusion(_Fusion):
    r"""Fuses :math:`M \geq 1` modality embeddings on the unit hypersphere
    along a spherical Bézier curve, from `"Calibrating Multimodal
    Recommendation" <https://arxiv.org/abs/2508.01226>`_ (CM3).

    The inputs are normalised to control points
    :math:`\mathbf{p}_0, \dots, \mathbf{p}_{M-1}` on the sphere and the curve
    is evaluated at :math:`t` with de Casteljau's algorithm, every linear
    interpolation replaced by :func:`slerp`:

    .. math::
        \mathbf{p}^{(r)}_k = \mathrm{slerp}\big(\mathbf{p}^{(r-1)}_k,
        \mathbf{p}^{(r-1)}_{k+1}; t\big), \qquad r = 1, \dots, M - 1,

    returning :math:`\mathbf{p}^{(M-1)}_0` (unit norm). Hence :math:`t = 0`
    gives :math:`\mathbf{p}_0`, :math:`t = 1` gives :math:`\mathbf{p}_{M-1}`,
    two modalities give one SLERP and a single modality is just normalised.

    The weight is drawn **per row (item), afresh at every training forward**,
    :math:`t \sim \mathrm{Beta}(\alpha, \alpha)`, as in the CM3 reference;
    small :math:`\alpha` pushes :math:`t` to the ends (one modality dominates
    an item), :math:`\alpha = 1` is uniform. In evaluation mode :math:`t` is
    the Beta mean :math:`1/2`, which makes scoring deterministic (the
    reference instead reuses the random draw of its last training batch).

    .. note::
        CM3 writes the fused vector as
        :math:`\frac{\sin(p\theta)}{\sin\theta}\mathbf{a} +
        \frac{\sin((1-p)\theta)}{\sin\theta}\mathbf{b}` with
        :math:`\mathbf{a}` = text, :math:`\mathbf{b}` = image, i.e.
        :math:`p` is the weight toward text. That is this module on
        ``[image, text]`` with :math:`t = p` (and, Beta(α, α) being
        symmetric, equal in distribution to ``[text, image]``).

    For :math:`M \geq 3` the curve at :math:`t = 1/2` does not weight the
    modalities equally: their influence follows the Bernstein polynomials
    :math:`\binom{M-1}{k} t^k (1-t)^{M-1-k}`, which favour the middle
    control points (see :meth:`modality_weights`).

    Args:
        alpha (float, optional): Beta concentration :math:`\alpha > 0` (the
            CM3 grid uses 0.1, 0.5, 0.9). (default: :obj:`0.5`)
        eval_t (float, optional): Weight used in evaluation mode.
            (default: :obj:`0.5`)
        eps (float, optional): Degeneracy threshold of :func:`slerp`.
            (default: :obj:`1e-6`)
    """
    def __init__(self, alpha: float = 0.5, eval_t: float = 0.5,
                 eps: float = 1e-6) -> None:
        super().__init__()
        if not alpha > 0:
            raise ValueError(f"SphericalBezierFusion: 'alpha' must be "
                             f"positive (got {alpha})")
        if not 0.0 <= eval_t <= 1.0:
            raise ValueError(f"SphericalBezierFusion: 'eval_t' must be in "
                             f"[0, 1] (got {eval_t})")
        self.alpha = float(alpha)
        self.eval_t = float(eval_t)
        self.eps = eps
        self.num_modalities: Optional[int] = None
        self.last_t: Optional[Tensor] = None

    def sample_t(self, num_rows: int, device: Optional[torch.device] = None,
                 dtype: torch.dtype = torch.float32) -> Tensor:
        r"""Draws :obj:`num_rows` weights from :math:`\mathrm{Beta}(\alpha,
        \alpha)` (uses the global torch RNG, so it follows the seed).
        """
        conc = torch.tensor(self.alpha, dtype=dtype, device=device)
        dist = torch.distributions.Beta(conc, conc)
        return dist.sample((num_rows, ))

    def forward(self, embs: Embs,
                t: Optional[Union[float, Tensor]] = None) -> Tensor:
        r"""Args:
            embs (List[torch.Tensor] or torch.Tensor): Control points, in
                curve order.
            t (float or torch.Tensor, optional): Curve parameter, a scalar
                or one value per row :obj:`[N]`. (default: :obj:`None`,
                Beta draw in training, :obj:`eval_t` in evaluation)
        """
        # float32 under autocast too: arc-cosines of near-parallel points
        # need more than bfloat16's 8 bits.
        points = self._stack(embs)
        points = F.normalize(points.to(torch.promote_types(points.dtype,
                                                           torch.float32)),
                             dim=-1)
        self.num_modalities = points.size(0)
        if t is None:
            if self.training:
                t = self.sample_t(points.size(1), points.device, points.dtype)
            else:
                t = self.eval_t
        if isinstance(t, Tensor):
            if t.dim() > 1 or (t.dim() == 1 and t.numel() != points.size(1)):
                raise ValueError(f"SphericalBezierFusion: 't' must be a "
                                 f"scalar or have shape [{points.size(1)}] "
                                 f"(got {list(t.shape)})")
            self.last_t = t.detach()
            t = _as_column(t, points[0])  # [N, 1], broadcasts over M
        else:
            self.last_t = torch.tensor(float(t))
        while points.size(0) > 1:  # de Casteljau, loop over modalities only
            points = slerp(points[:-1], points[1:], t, self.eps)
        return points[0]

    def modality_weights(self, t: Optional[float] = None) -> Tensor:
        r"""Bernstein weights :math:`\binom{M-1}{k} t^k (1-t)^{M-1-k}` of the
        control points at :obj:`t` (default: :obj:`eval_t`): the influence
        each modality has on the fused point (exact for the Euclidean
        Bézier curve, to first order on the sphere).
        """
        if self.num_modalities is None:
            raise ValueError("SphericalBezierFusion: the number of "
                             "modalities is known after the first forward")
        t = self.eval_t if t is None else float(t)
        n = self.num_modalities - 1
        return torch.tensor([
            math.comb(n, k) * t**k * (1 - t)**(n - k) for k in range(n + 1)
        ])

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(alpha={self.alpha}, '
                f'eval_t={self.eval_t})')


def pwc_schedule(decay_weight: float = 0.9, decay_base: float = 0.9,
                 num_epochs: int = 15) -> List[float]:
    r"""The mixing weight :math:`w_1` of :class:`ProgressiveWeightCopyingFusion`
    after the update at the start of epochs :math:`e = 1, \dots,`
    :obj:`num_epochs`.
    """
    w1, w2 = float(decay_weight), 1.0 - float(decay_weight)
    out = []
    for e in range(1, num_epochs + 1):
        denom = w1 * decay_base**e + w2
        w1, w2 = w1 * decay_base**e / denom, w2 / denom
        out.append(w1)
    return out


class ProgressiveWeightCopyingFusion(_Fusion):
    r"""Per-user channel weights with progressive weight copying (PWC), from
    `"Learning Item Representations Directly from Multimodal Features"
    <https://arxiv.org/abs/2505.04960>`_ (LIRDRec).

    For user :math:`u` with channel embeddings
    :math:`\mathbf{r}_{u,1}, \dots, \mathbf{r}_{u,C}` (image, text, fused in
    LIRDRec), a small scorer per channel
    (:math:`d \to 16 \to` LeakyReLU :math:`\to 1`) and free logits
    :math:`\boldsymbol{\theta}_u \in \mathbb{R}^{C}` give

    .. math::
        \mathbf{a}_u = \mathrm{softmax}\big(w_1\,[f_1(\mathbf{r}_{u,1}),
        \dots, f_C(\mathbf{r}_{u,C})] + w_2\,\boldsymbol{\theta}_u\big),
        \qquad
        \mathbf{h}_u = [\,a_{u,1}\mathbf{r}_{u,1} \,\|\, \cdots \,\|\,
        a_{u,C}\mathbf{r}_{u,C}\,].

    At the start of every epoch :math:`e = 1, 2, \dots` (:meth:`on_epoch_start`)

    .. math::
        w_1 \leftarrow \frac{w_1 \beta^{e}}{w_1 \beta^{e} + w_2},\quad
        w_2 \leftarrow \frac{w_2}{w_1 \beta^{e} + w_2},\quad
        \boldsymbol{\theta} \leftarrow \mathbf{a}^{\mathrm{last}},

    both weights updated from the old values, so
    :math:`w_1/w_2 = (w_1^{0}/w_2^{0})\,\beta^{e(e+1)/2}`: the scorers fade
    out super-exponentially and, after 10–15 epochs, the copied and further
    trained :math:`\boldsymbol{\theta}` alone drives the fusion. As in the
    reference, the softmax *output* of the last training forward is copied
    into the *logits* :math:`\boldsymbol{\theta}`; at epoch 1 nothing has
    been recorded and :math:`\boldsymbol{\theta}` keeps its initial value.
    :math:`\boldsymbol{\theta}` stays trainable between copies (its optimiser
    state is untouched).

    The epoch counter, :math:`w_1, w_2` and the last attention are buffers,
    so a resumed run continues the schedule.

    Args:
        num_users (int): Number of users (rows of :math:`\boldsymbol{\theta}`).
        channels (int): Size :math:`d` of each channel embedding.
        num_channels (int, optional): Number of channels :math:`C`.
            (default: :obj:`3`)
        hidden_channels (int, optional): Scorer hidden size.
            (default: :obj:`16`)
        decay_weight (float, optional): Initial :math:`w_1` in
            :math:`(0, 1)`; :math:`w_2 = 1 - w_1`. (default: :obj:`0.9`)
        decay_base (float, optional): :math:`\beta`. (default: :obj:`0.9`)
        act (str, optional): Scorer activation. (default:
            :obj:`"leaky_relu"`)
    """
    def __init__(self, num_users: int, channels: int, num_channels: int = 3,
                 hidden_channels: int = 16, decay_weight: float = 0.9,
                 decay_base: float = 0.9, act: str = 'leaky_relu') -> None:
        super().__init__()
        if num_users <= 0 or channels <= 0 or num_channels <= 0:
            raise ValueError(f"ProgressiveWeightCopyingFusion: sizes must be "
                             f"positive (got num_users={num_users}, "
                             f"channels={channels}, "
                             f"num_channels={num_channels})")
        if not 0.0 < decay_weight < 1.0:
            raise ValueError(f"ProgressiveWeightCopyingFusion: "
                             f"'decay_weight' must be in (0, 1) (got "
                             f"{decay_weight})")
        if not 0.0 < decay_base <= 1.0:
            raise ValueError(f"ProgressiveWeightCopyingFusion: 'decay_base' "
                             f"must be in (0, 1] (got {decay_base})")
        self.num_users = num_users
        self.channels = channels
        self.num_channels = num_channels
        self.decay_weight = float(decay_weight)
        self.decay_base = float(decay_base)
        self.scorers = torch.nn.ModuleList([
            torch.nn.Sequential(
                torch.nn.Linear(channels, hidden_channels),
                activation_resolver(act),
                torch.nn.Linear(hidden_channels, 1),
            ) for _ in range(num_channels)
        ])
        self.theta = Parameter(torch.empty(num_users, num_channels))
        # float64 so the schedule matches the closed form over many epochs.
        self.register_buffer('w1', torch.tensor(0.0, dtype=torch.float64))
        self.register_buffer('w2', torch.tensor(0.0, dtype=torch.float64))
        self.register_buffer('epoch', torch.tensor(0, dtype=torch.long))
        self.register_buffer('last_att', torch.zeros(num_users, num_channels))
        self.register_buffer('has_last_att',
                             torch.zeros(num_users, dtype=torch.bool))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for seq in self.scorers:
            for layer in seq:
                if hasattr(layer, 'reset_parameters'):
                    layer.reset_parameters()
        torch.nn.init.xavier_normal_(self.theta)
        self.w1.fill_(self.decay_weight)
        self.w2.fill_(1.0 - self.decay_weight)
        self.epoch.zero_()
        self.last_att.zero_()
        self.has_last_att.zero_()

    def on_epoch_start(self, epoch: Optional[int] = None) -> None:
        r"""Advances the schedule by one epoch and copies the last recorded
        attention into :math:`\boldsymbol{\theta}`.

        The schedule uses the module's own counter (1 at the first call,
        incremented before use as in the reference), so it does not depend
        on whether the trainer counts epochs from 0 or 1; :obj:`epoch` is
        accepted for the hook interface only.
        """
        self.epoch += 1
        e = int(self.epoch)
        scale = self.w1 * self.decay_base**e
        denom = scale + self.w2
        self.w1.copy_(scale / denom)
        self.w2.copy_(self.w2 / denom)
        with torch.no_grad():
            rows = self.has_last_att
            self.theta.data[rows] = self.last_att[rows].to(self.theta.dtype)

    def attention(self, embs: Embs, index: Optional[Tensor] = None) -> Tensor:
        r"""The channel weights :math:`\mathbf{a}` :obj:`[N, C]`."""
        x = self._stack(embs)
        if x.size(0) != self.num_channels or x.size(-1) != self.channels:
            raise ValueError(f"ProgressiveWeightCopyingFusion: expected "
                             f"{self.num_channels} channels of size "
                             f"{self.channels} (got {list(x.shape)})")
        theta = self.theta if index is None else self.theta[index]
        if theta.size(0) != x.size(1):
            raise ValueError(f"ProgressiveWeightCopyingFusion: {x.size(1)} "
                             f"rows but {theta.size(0)} users; pass 'index' "
                             f"for a subset of users")
        scores = torch.cat([f(h) for f, h in zip(self.scorers, x)], dim=-1)
        w1, w2 = float(self.w1), float(self.w2)
        return torch.softmax(w1 * scores + w2 * theta, dim=-1)

    def forward(self, embs: Embs, index: Optional[Tensor] = None) -> Tensor:
        r"""Args:
            embs (List[torch.Tensor] or torch.Tensor): :obj:`C` channel
                embeddings :obj:`[N, d]` of the users.
            index (torch.Tensor, optional): User ids of the :obj:`N` rows.
                (default: :obj:`None`, all users in order)

        Returns:
            :obj:`[N, C * d]`, the weighted channels concatenated.
        """
        x = self._stack(embs)
        att = self.attention(x, index)
        if self.training:  # remembered for the next epoch's copy
            with torch.no_grad():
                rows = slice(None) if index is None else index
                self.last_att[rows] = att.detach().to(self.last_att.dtype)
                self.has_last_att[rows] = True
        out = att.t().unsqueeze(-1) * x  # [C, N, d]
        return torch.cat(list(out), dim=-1)

    def modality_weights(self, index: Optional[Tensor] = None) -> Tensor:
        r"""The attention recorded at the last training forward: per user
        :obj:`[len(index), C]` if :obj:`index` is given, else the mean over
        users :obj:`[C]` (uniform before any training forward).
        """
        if index is not None:
            return self.last_att[index]
        if not bool(self.has_last_att.any()):
            return torch.full((self.num_channels, ), 1.0 / self.num_channels)
        return self.last_att[self.has_last_att].mean(dim=0)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_users}, '
                f'{self.channels}, num_channels={self.num_channels}, '
                f'decay_weight={self.decay_weight}, '
                f'decay_base={self.decay_base})')


class MeanFusion(_Fusion):
    r"""Averages the modality embeddings,
    :math:`\mathbf{h} = \frac{1}{M}\sum_m \mathbf{x}_m`.
    """
    def __init__(self) -> None:
        super().__init__()
        self.num_modalities: Optional[int] = None

    def forward(self, embs: Embs) -> Tensor:
        x = self._stack(embs)
        self.num_modalities = x.size(0)
        return x.mean(dim=0)

    def modality_weights(self) -> Tensor:
        r"""Uniform weights :obj:`[M]` (known after the first forward)."""
        if self.num_modalities is None:
            raise ValueError("MeanFusion: the number of modalities is known "
                             "after the first forward")
        return torch.full((self.num_modalities, ), 1.0 / self.num_modalities)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}()'


class ConcatFusion(MeanFusion):
    r"""Concatenates the modality embeddings along the feature axis,
    :math:`\mathbf{h} = [\mathbf{x}_1 \,\|\, \cdots \,\|\, \mathbf{x}_M]`
    (output :obj:`[N, M * d]`).
    """
    def forward(self, embs: Embs) -> Tensor:
        x = self._stack(embs)
        self.num_modalities = x.size(0)
        return torch.cat(list(x), dim=-1)


class AttentionFusion(_Fusion):
    r"""Learned softmax weights over modalities, global or one set per user:

    .. math::
        \boldsymbol{\alpha}_u = \mathrm{softmax}(\boldsymbol{\theta}_u),
        \qquad
        \mathbf{h}_u = \sum_m \alpha_{u,m}\mathbf{x}_{u,m} \;(\texttt{sum})
        \quad\textrm{or}\quad
        [\,\alpha_{u,1}\mathbf{x}_{u,1} \,\|\, \cdots \,\|\,
        \alpha_{u,M}\mathbf{x}_{u,M}\,] \;(\texttt{concat}).

    With :obj:`num_users` and :obj:`mode="concat"` this is CM3's user channel
    fusion (:math:`\boldsymbol{\theta} \in \mathbb{R}^{U \times 3}`,
    Xavier-normal). A global :math:`\boldsymbol{\theta}` starts at zero
    (uniform weights).

    Args:
        num_modalities (int): Number of modalities :math:`M`.
        num_users (int, optional): Per-user weights if given, else one global
            set. (default: :obj:`None`)
        mode (str, optional): :obj:`"sum"` or :obj:`"concat"`.
            (default: :obj:`"sum"`)
    """
    def __init__(self, num_modalities: int, num_users: Optional[int] = None,
                 mode: str = 'sum') -> None:
        super().__init__()
        if num_modalities <= 0:
            raise ValueError(f"AttentionFusion: 'num_modalities' must be "
                             f"positive (got {num_modalities})")
        if mode not in ('sum', 'concat'):
            raise ValueError(f"AttentionFusion: unknown mode '{mode}' "
                             f"(expected 'sum' or 'concat')")
        self.num_modalities = num_modalities
        self.num_users = num_users
        self.mode = mode
        shape = (num_modalities, ) if num_users is None else (num_users,
                                                                num_modalities)
        self.theta = Parameter(torch.empty(shape))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.num_users is None:
            torch.nn.init.zeros_(self.theta)
        else:
            torch.nn.init.xavier_normal_(self.theta)

    def forward(self, embs: Embs, index: Optional[Tensor] = None) -> Tensor:
        r"""Args:
            embs (List[torch.Tensor] or torch.Tensor): :obj:`M` embeddings
                :obj:`[N, d]`.
            index (torch.Tensor, optional): User ids of the rows (per-user
                mode). (default: :obj:`None`, all users in order)
        """
        x = self._stack(embs)
        if x.size(0) != self.num_modalities:
            raise ValueError(f"AttentionFusion: expected "
                             f"{self.num_modalities} modalities (got "
                             f"{x.size(0)})")
        if self.num_users is None:
            att = torch.softmax(self.theta, dim=-1).view(-1, 1, 1)
        else:
            theta = self.theta if index is None else self.theta[index]
            if theta.size(0) != x.size(1):
                raise ValueError(f"AttentionFusion: {x.size(1)} rows but "
                                 f"{theta.size(0)} users; pass 'index'")
            att = torch.softmax(theta, dim=-1).t().unsqueeze(-1)
        out = att * x
        if self.mode == 'sum':
            return out.sum(dim=0)
        return torch.cat(list(out), dim=-1)

    def modality_weights(self, index: Optional[Tensor] = None) -> Tensor:
        r"""Current weights: :obj:`[M]` (global, or averaged over users), or
        :obj:`[len(index), M]` per user.
        """
        with torch.no_grad():
            if self.num_users is None:
                return torch.softmax(self.theta, dim=-1)
            theta = self.theta if index is None else self.theta[index]
            att = torch.softmax(theta, dim=-1)
            return att if index is not None else att.mean(dim=0)

    def __repr__(self) -> str:
        users = '' if self.num_users is None else \
            f', num_users={self.num_users}'
        return (f'{self.__class__.__name__}({self.num_modalities}{users}, '
                f"mode='{self.mode}')")
