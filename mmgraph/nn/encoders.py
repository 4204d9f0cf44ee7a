r"""Modality encoders: learned projections of item features and the fixed
orthonormal DCT transform of LIRDRec.
"""
import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor
from torch.nn import Module, ModuleDict, Parameter

from torch_geometric.nn.models import MLP

__all__ = [
    'ModalityProjection',
    'ModalityEncoders',
    'replace_feature_rows',
    'DCT',
    'dct',
    'dct_matrix',
]

Hidden = Optional[Union[int, Sequence[int]]]
_INITS = (None, 'xavier_normal', 'xavier_uniform')


def _hidden_list(hidden: Hidden) -> List[int]:
    if hidden is None:
        return []
    if isinstance(hidden, int):
        return [hidden]
    return [int(h) for h in hidden]


class ModalityProjection(MLP):
    r"""Projects one modality's item features into the shared embedding
    space: a single linear map or an MLP (a
    :class:`torch_geometric.nn.models.MLP` without normalisation, plain
    last layer)

    .. math::
        \mathbf{x} \mapsto \mathbf{W}_L\,\sigma(\cdots\sigma(
        \mathbf{W}_1 \mathbf{x} + \mathbf{b}_1)\cdots) + \mathbf{b}_L.

    Reference configurations (:obj:`in_channels` = 4096 image, 384 text):

    * BM3 (`"Bootstrap Latent Representations for Multi-modal
      Recommendation" <https://arxiv.org/abs/2207.05969>`_):
      ``ModalityProjection(4096, 64, weight_init='xavier_normal')``
      (one :class:`Linear` with bias, Xavier-normal weight, default bias).
    * CM3 (`"Calibrating Multimodal Recommendation"
      <https://arxiv.org/abs/2508.01226>`_) and LIRDRec (`"Learning Item
      Representations Directly from Multimodal Features"
      <https://arxiv.org/abs/2505.04960>`_):
      ``ModalityProjection(4096, 64, hidden_channels=256,
      act='leaky_relu', out_bias=False)``, i.e.
      in :math:`\to` 256 (bias) :math:`\to` LeakyReLU :math:`\to` 64 (no
      bias), PyTorch default initialisation. LIRDRec's third encoder takes
      the 4480-d DCT concatenation (:class:`DCT`).

    Args:
        in_channels (int): Input feature size.
        out_channels (int): Output embedding size.
        hidden_channels (int or List[int], optional): Hidden layer sizes;
            :obj:`None` gives a single linear map. (default: :obj:`None`)
        act (str, optional): Activation between layers, resolved by
            :func:`torch_geometric.nn.resolver.activation_resolver`.
            (default: :obj:`"leaky_relu"`)
        act_kwargs (Dict[str, Any], optional): Activation arguments.
            (default: :obj:`None`)
        dropout (float, optional): Dropout after each hidden activation.
            (default: :obj:`0.0`)
        bias (bool, optional): Bias in hidden layers. (default: :obj:`True`)
        out_bias (bool, optional): Bias in the output layer.
            (default: :obj:`True`)
        weight_init (str, optional): :obj:`None` (PyTorch default),
            :obj:`"xavier_normal"` or :obj:`"xavier_uniform"` for the
            weights; biases keep the PyTorch default. (default: :obj:`None`)
    """
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden_channels: Hidden = None,
        act: str = 'leaky_relu',
        act_kwargs: Optional[Dict[str, Any]] = None,
        dropout: float = 0.0,
        bias: bool = True,
        out_bias: bool = True,
        weight_init: Optional[str] = None,
    ) -> None:
        if in_channels <= 0 or out_channels <= 0:
            raise ValueError(f"ModalityProjection: channel sizes must be "
                             f"positive (got {in_channels} -> "
                             f"{out_channels})")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"ModalityProjection: 'dropout' must be in "
                             f"[0, 1) (got {dropout})")
        if weight_init not in _INITS:
            raise ValueError(f"ModalityProjection: unknown weight_init "
                             f"'{weight_init}' (expected one of {_INITS})")
        hidden = _hidden_list(hidden_channels)
        self.weight_init = weight_init
        super().__init__([in_channels] + hidden + [out_channels], act=act,
                         act_kwargs=act_kwargs, dropout=float(dropout),
                         norm=None, plain_last=True,
                         bias=[bias] * len(hidden) + [out_bias])
        self.hidden_channels = hidden
        self.act_name = act

    def reset_parameters(self) -> None:
        # Per layer: PyTorch's default initialisation, then the optional
        # Xavier weight (the norms are identities, nothing to reset).
        for lin in self.lins:
            lin.reset_parameters()
            if self.weight_init == 'xavier_normal':
                torch.nn.init.xavier_normal_(lin.weight)
            elif self.weight_init == 'xavier_uniform':
                torch.nn.init.xavier_uniform_(lin.weight)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        r"""Args:
            x (torch.Tensor): Features :obj:`[N, in_channels]`.
        """
        if x.size(-1) != self.in_channels:
            raise ValueError(f"ModalityProjection: expected features with "
                             f"{self.in_channels} channels (got "
                             f"{x.size(-1)})")
        return super().forward(x)

    def __repr__(self) -> str:
        extra = f', act={self.act_name}' if self.hidden_channels else ''
        if self.dropout[0] > 0 and self.hidden_channels:
            extra += f', dropout={self.dropout[0]}'
        if self.lins[-1].bias is None:
            extra += ', out_bias=False'
        return (f'{self.__class__.__name__}('
                f"{' -> '.join(str(s) for s in self.channel_list)}{extra})")


@torch.no_grad()
def replace_feature_rows(table: Tensor, new: Tensor,
                         pristine: Optional[Tensor] = None) -> None:
    r"""Writes ``new`` features into a model-held ``table`` in place. A
    fixed table (``pristine`` :obj:`None`) is overwritten; a trainable one
    only in the rows where ``new`` differs from its ``pristine`` copy (the
    features it was built from, updated too), so the trained rows of
    unchanged items are kept."""
    new = new.to(device=table.device, dtype=table.dtype)
    if pristine is None:
        table.copy_(new)
        return
    write_changed_rows(table, pristine, new)
    pristine.copy_(new.to(pristine.dtype))


@torch.no_grad()
def write_changed_rows(table: Tensor, pristine: Tensor, new: Tensor) -> None:
    r"""Writes into a trainable ``table`` the rows of ``new`` that differ
    from its ``pristine`` copy, keeping the trained rows of the others (the
    rule of :func:`replace_feature_rows` and
    :meth:`ModalityEncoders.replace_features`)."""
    changed = (pristine != new.to(pristine.dtype)).any(-1)
    table[changed] = new[changed].to(table.dtype)


class ModalityEncoders(Module):
    r"""One :class:`ModalityProjection` per modality (any number of
    modalities, each with its own input size), optionally holding the item
    feature matrices themselves.

    Feature storage follows the reference models:

    * :obj:`train_features=False` (CM3, LIRDRec): the raw features are fixed
      inputs, kept as non-persistent buffers (they are rebuilt from the
      dataset, so checkpoints stay small);
    * :obj:`train_features=True` (BM3, FREEDOM, LATTICE, MGCN, SMORE): the
      features are :class:`~torch.nn.Parameter` s updated by the optimiser
      (the reference wraps them in
      ``nn.Embedding.from_pretrained(freeze=False)``), with a pristine
      non-persistent copy (``raw_<m>``) that :meth:`reset_parameters`
      restores them from.

    :meth:`replace_features` writes new feature rows into the stored tables
    (unlearning's ``zero_features``).

    Args:
        in_channels (Dict[str, int]): Input size per modality; the insertion
            order is the modality order.
        out_channels (int): Shared output size.
        hidden_channels (int, List[int] or Dict[str, ...], optional): Hidden
            sizes, shared or per modality. (default: :obj:`None`)
        features (Dict[str, torch.Tensor], optional): Item features per
            modality, :obj:`[num_items, in_channels[m]]`.
            (default: :obj:`None`, pass features to :meth:`forward`)
        train_features (bool, optional): Whether stored features are
            trainable. (default: :obj:`False`)
        **kwargs (optional): Further :class:`ModalityProjection` arguments
            (:obj:`act`, :obj:`dropout`, :obj:`out_bias`, ...).
    """
    def __init__(
        self,
        in_channels: Mapping[str, int],
        out_channels: int,
        hidden_channels: Union[Hidden, Mapping[str, Hidden]] = None,
        features: Optional[Mapping[str, Tensor]] = None,
        train_features: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if len(in_channels) == 0:
            raise ValueError("ModalityEncoders: at least one modality is "
                             "required")
        self.modalities = list(in_channels.keys())
        self.in_channels = dict(in_channels)
        self.out_channels = out_channels
        self.train_features = train_features
        #: Gather rows of trainable stored features as an embedding lookup
        #: with a row-sparse gradient (``sparse_features`` training).
        self.sparse_grad = False
        self.encoders = ModuleDict()
        for m in self.modalities:
            hidden = hidden_channels[m] if isinstance(hidden_channels,
                                                      Mapping) else \
                hidden_channels
            self.encoders[m] = ModalityProjection(in_channels[m],
                                                  out_channels, hidden,
                                                  **kwargs)
        self.has_features = features is not None
        if features is not None:
            self._store_features(features)
        self.reset_parameters()

    def _store_features(self, features: Mapping[str, Tensor]) -> None:
        if set(features.keys()) != set(self.modalities):
            raise ValueError(f"ModalityEncoders: features given for "
                             f"{sorted(features)} but modalities are "
                             f"{sorted(self.modalities)}")
        num_items = {m: int(features[m].size(0)) for m in self.modalities}
        if len(set(num_items.values())) != 1:
            raise ValueError(f"ModalityEncoders: feature matrices have "
                             f"different item counts {num_items}")
        for m in self.modalities:
            feat = features[m]
            if feat.dim() != 2 or feat.size(1) != self.in_channels[m]:
                raise ValueError(f"ModalityEncoders: '{m}' features must "
                                 f"have shape [num_items, "
                                 f"{self.in_channels[m]}] (got "
                                 f"{list(feat.shape)})")
            # The given matrix is kept as it is (no copy: at Elec scale an
            # image table is 1 GB); it is never written to, only re-bound
            # (replace_features). A trainable table is the one copy.
            feat = feat.detach().float()
            if self.train_features:
                self.register_parameter(f'feat_{m}', Parameter(feat.clone()))
                self.register_buffer(f'raw_{m}', feat, persistent=False)
            else:
                self.register_buffer(f'feat_{m}', feat, persistent=False)

    def reset_parameters(self) -> None:
        r"""Re-initialises the projections and restores trainable stored
        features from their pristine copies."""
        for enc in self.encoders.values():
            enc.reset_parameters()
        if self.has_features and self.train_features:
            with torch.no_grad():
                for m in self.modalities:
                    getattr(self, f'feat_{m}').copy_(getattr(self, f'raw_{m}'))

    @torch.no_grad()
    def replace_features(self, features: Mapping[str, Tensor]) -> None:
        r"""Takes ``features`` as the stored tables: a fixed table is
        re-bound to the new matrix, a trainable one takes the new rows only
        where they differ from its pristine copy (so the trained rows of
        unchanged items are kept), and the pristine copy is re-bound. The
        matrices the tables were built from are never written to."""
        for m in self.modalities:
            table = getattr(self, f'feat_{m}')
            new = features[m].detach().to(table.device, table.dtype)
            if tuple(new.shape) != tuple(table.shape):
                raise ValueError(f"ModalityEncoders: new '{m}' features "
                                 f"have shape {list(new.shape)}, expected "
                                 f"{list(table.shape)}")
            if not self.train_features:
                setattr(self, f'feat_{m}', new)
                continue
            write_changed_rows(table, getattr(self, f'raw_{m}'), new)
            setattr(self, f'raw_{m}', new)

    def features(self) -> Dict[str, Tensor]:
        r"""Returns the stored feature matrices per modality."""
        if not self.has_features:
            raise ValueError("ModalityEncoders: no features stored; pass "
                             "them to forward()")
        return {m: getattr(self, f'feat_{m}') for m in self.modalities}

    def forward(
        self,
        features: Optional[Mapping[str, Tensor]] = None,
        index: Optional[Tensor] = None,
    ) -> Dict[str, Tensor]:
        r"""Encodes every modality.

        Args:
            features (Dict[str, torch.Tensor], optional): Features per
                modality. (default: :obj:`None`, the stored ones)
            index (torch.Tensor, optional): Item rows to encode, repeats
                allowed. (default: :obj:`None`, all)

        With an :obj:`index` at least as long as the feature table (a batch
        of 2 x 2,048 rows over a catalogue of 1,481 items), every row is
        projected once and the result gathered, which costs less than
        projecting the gathered rows; with dropout inside the projection
        the gathered rows are projected, so each repeat draws its own mask.
        Either way the values are the same and the gather is an
        :func:`~torch.index_select` (its backward is bitwise reproducible
        with repeated ids on multi-threaded CPUs, unlike ``x[index]``'s).
        """
        feats = self.features() if features is None else features
        missing = [m for m in self.modalities if m not in feats]
        if missing:
            raise ValueError(f"ModalityEncoders: missing features for "
                             f"modalities {missing}")
        out = {}
        for m in self.modalities:
            x, enc = feats[m], self.encoders[m]
            if index is None:
                out[m] = enc(x)
            elif self.sparse_grad and features is None and \
                    self.train_features:
                # a row-sparse gradient for RowSparseAdam: only these rows,
                # each projected once (a batch's positives and negatives
                # repeat items), so the gradient has distinct rows already
                # and the projection's products shrink by the repeats
                out[m] = self._sparse_rows(x, enc, index)
            elif index.numel() >= x.size(0) and \
                    not self._masks_each_repeat(enc):
                out[m] = enc(x).index_select(0, index)
            else:
                out[m] = enc(x.index_select(0, index))
        return out

    def _masks_each_repeat(self, enc: Module) -> bool:
        # dropout inside the projection (training): each repeated row draws
        # its own mask, so rows are projected as gathered, not once each
        return bool(self.training and enc.dropout[0] > 0 and
                    enc.hidden_channels)

    def _sparse_rows(self, x: Tensor, enc: Module, index: Tensor) -> Tensor:
        if self._masks_each_repeat(enc):
            return enc(torch.nn.functional.embedding(index, x, sparse=True))
        # sorted, distinct rows: their gradient needs no coalescing
        # (distributed.coalesced_rows)
        rows, inverse = torch.unique(index, return_inverse=True)
        proj = enc(torch.nn.functional.embedding(rows, x, sparse=True))
        return proj.index_select(0, inverse)

    def __repr__(self) -> str:
        mods = ', '.join(f'{m}={c}' for m, c in self.in_channels.items())
        return (f'{self.__class__.__name__}({mods} -> {self.out_channels}, '
                f'train_features={self.train_features})')


def dct_matrix(n: int, dtype: torch.dtype = torch.float32,
               device: Optional[torch.device] = None) -> Tensor:
    r"""The orthonormal DCT-II matrix :math:`\mathbf{C} \in
    \mathbb{R}^{n \times n}`,

    .. math::
        C_{kj} = s_k \cos\!\Big(\frac{\pi (2j + 1) k}{2n}\Big),\qquad
        s_0 = \sqrt{1/n},\; s_{k \geq 1} = \sqrt{2/n},

    so that :math:`\mathbf{C}\mathbf{C}^{\top} = \mathbf{I}` and the
    transform of a row vector :math:`\mathbf{x}` is
    :math:`\mathbf{x}\mathbf{C}^{\top}`.
    """
    if n <= 0:
        raise ValueError(f"dct_matrix: 'n' must be positive (got {n})")
    k = torch.arange(n, dtype=torch.float64).view(-1, 1)
    j = torch.arange(n, dtype=torch.float64).view(1, -1)
    mat = torch.cos(math.pi * (2 * j + 1) * k / (2 * n))
    mat[0] *= math.sqrt(1.0 / n)
    mat[1:] *= math.sqrt(2.0 / n)
    return mat.to(dtype=dtype, device=device)


def dct(x: Tensor, norm: Optional[str] = 'ortho') -> Tensor:
    r"""DCT-II along the last axis, computed in :math:`O(n \log n)` with one
    FFT (Makhoul's even/odd reordering):

    .. math::
        X_k = s_k \sum_{j=0}^{n-1} x_j \cos\!\Big(\frac{\pi (2j+1) k}{2n}
        \Big).

    Args:
        x (torch.Tensor): Input :obj:`[..., n]`.
        norm (str, optional): :obj:`"ortho"` (:math:`s_0 = \sqrt{1/n}`,
            :math:`s_k = \sqrt{2/n}`, equal to
            ``scipy.fft.dct(x, norm='ortho')``) or :obj:`None`
            (:math:`s_k = 1`, half of scipy's unnormalised DCT-II).
            (default: :obj:`"ortho"`)
    """
    if norm not in ('ortho', None):
        raise ValueError(f"dct: unknown norm '{norm}' (expected 'ortho' or "
                         f"None)")
    n = x.size(-1)
    v = torch.cat([x[..., 0::2], x[..., 1::2].flip(-1)], dim=-1)
    spec = torch.fft.fft(v, dim=-1)
    k = torch.arange(n, device=x.device, dtype=x.dtype)
    angle = -math.pi * k / (2 * n)
    out = spec.real * torch.cos(angle) - spec.imag * torch.sin(angle)
    if norm == 'ortho':
        scale = torch.full((n, ), math.sqrt(2.0 / n), dtype=x.dtype,
                           device=x.device)
        scale[0] = math.sqrt(1.0 / n)
        out = out * scale
    return out


class DCT(Module):
    r"""The fixed "multimodal transformation" of LIRDRec (`"Learning Item
    Representations Directly from Multimodal Features"
    <https://arxiv.org/abs/2505.04960>`_): the orthonormal DCT-II along the
    **feature** axis of each modality, concatenated in the given order,

    .. math::
        \mathbf{F}_s = [\,\mathrm{DCT}(\mathbf{F}_v) \,\|\,
        \mathrm{DCT}(\mathbf{F}_t)\,] \in \mathbb{R}^{I \times (4096 + 384)}

    (image first in the reference). The reference calls the result
    "interleaved" but it is a concatenation; it is computed once at model
    construction. Equivalent to ``torch_dct.dct(x, norm='ortho')`` and
    ``scipy.fft.dct(x, norm='ortho')``, with no extra dependency.

    .. note::
        Being orthogonal, the DCT only re-parametrises the first layer of
        the MLP applied to :math:`\mathbf{F}_s`.

    Args:
        method (str, optional): :obj:`"fft"` (:math:`O(n \log n)`, no
            matrix) or :obj:`"matrix"` (multiply by :func:`dct_matrix`,
            cached per size). (default: :obj:`"fft"`)
        chunk_elements (int, optional): rows are transformed in chunks of
            about this many input elements, written into one output: the
            FFT's temporaries (a complex spectrum and four real
            intermediates, each as large as the input) then stay a few
            hundred MB instead of several GB for an Elec-sized 63K × 4,096
            table. (default: :obj:`1 << 24`)
    """
    def __init__(self, method: str = 'fft',
                 chunk_elements: int = 1 << 24) -> None:
        super().__init__()
        if method not in ('fft', 'matrix'):
            raise ValueError(f"DCT: unknown method '{method}' (expected "
                             f"'fft' or 'matrix')")
        if chunk_elements < 1:
            raise ValueError(f"DCT: chunk_elements must be >= 1 (got "
                             f"{chunk_elements})")
        self.method = method
        self.chunk_elements = chunk_elements
        self._mats: Dict[tuple, Tensor] = {}

    def reset_parameters(self) -> None:
        self._mats.clear()

    def _transform(self, x: Tensor) -> Tensor:
        if self.method == 'fft':
            return dct(x, norm='ortho')
        key = (x.size(-1), x.dtype, x.device)
        if key not in self._mats:
            self._mats[key] = dct_matrix(x.size(-1), x.dtype, x.device)
        return x @ self._mats[key].t()

    def forward(self, x: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        r"""Args:
            x (torch.Tensor or List[torch.Tensor]): One feature matrix
                :obj:`[N, n]`, or several :obj:`[N, n_m]` whose transforms
                are concatenated along the feature axis.
        """
        xs = [x] if isinstance(x, Tensor) else list(x)
        if len(xs) == 0:
            raise ValueError("DCT: expected at least one feature matrix")
        if len({t.shape[:-1] for t in xs}) != 1:
            raise ValueError(f"DCT: feature matrices must agree in all but "
                             f"the last axis (got "
                             f"{[list(t.shape) for t in xs]})")
        if xs[0].dim() < 2 or torch.is_grad_enabled() and any(
                t.requires_grad for t in xs):  # autograd: one piece
            return torch.cat([self._transform(t) for t in xs], dim=-1)
        widths = [t.size(-1) for t in xs]
        dtype = xs[0].dtype
        for t in xs[1:]:
            dtype = torch.promote_types(dtype, t.dtype)
        out = xs[0].new_empty(*xs[0].shape[:-1], sum(widths), dtype=dtype)
        rows = max(1, self.chunk_elements // max(widths))
        for start in range(0, xs[0].size(-2), rows):
            end = min(start + rows, xs[0].size(-2))
            offset = 0
            for t, width in zip(xs, widths):
                out[..., start:end, offset:offset + width] = \
                    self._transform(t[..., start:end, :])
                offset += width
        return out

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(norm='ortho', "
                f"method='{self.method}')")
