r"""Weight-free graph propagation layers (LightGCN style).

Both layers are PyG :class:`~torch_geometric.nn.conv.MessagePassing` modules:
given an ``edge_index`` they run stock message passing (so they compose with
the rest of PyG), given a precomputed :obj:`torch.sparse_csr` matrix they take
the fused :meth:`message_and_aggregate` fast path of
:mod:`mmgraph.nn.sparse`.
"""
import weakref
from typing import Any, Optional

import torch
from torch import Tensor

from torch_geometric.nn.conv import MessagePassing
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import is_sparse
from torch_geometric.utils import spmm as pyg_spmm

from mmgraph.nn.sparse import is_csr, spmm, symmetric_spmm, transpose_csr
from mmgraph.nn.trimmed import TrimmedAdjacency, narrow_blocks

__all__ = ['LightGCNPropagation', 'ItemGraphConvolution']

_COMBINE = ('mean', 'sum', 'stack')


class _TransposeCache:
    r"""Remembers :math:`\mathbf{A}^{\top}` for the last CSR matrix seen, keyed
    by object identity (a weak reference, so a dropped matrix is not kept
    alive by the key).
    """
    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._key: Optional[weakref.ref] = None
        self._value: Optional[Tensor] = None

    def get(self, src: Tensor) -> Tensor:
        if self._key is None or self._key() is not src:
            self._key = weakref.ref(src)
            self._value = transpose_csr(src)
        assert self._value is not None
        return self._value


class _WeightFreePropagation(MessagePassing):
    # Shared edge_index / CSR handling of both layers.
    def __init__(self, symmetric: bool, **kwargs: Any) -> None:
        kwargs.setdefault('aggr', 'add')
        super().__init__(**kwargs)
        self.symmetric = symmetric
        self._transpose = _TransposeCache()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self._transpose.clear()

    def _check(self, x: Tensor, edge_index: Adj,
               edge_weight: OptTensor) -> None:
        name = self.__class__.__name__
        if not isinstance(x, Tensor) or x.dim() != 2:
            raise ValueError(f"{name}: 'x' must be a [num_nodes, channels] "
                             f"tensor (got {getattr(x, 'shape', type(x))})")
        if is_sparse(edge_index):
            if edge_weight is not None:
                raise ValueError(f"{name}: 'edge_weight' must be None when "
                                 f"a sparse matrix is given (its values are "
                                 f"the weights)")
            if edge_index.size(0) != x.size(0) or \
                    edge_index.size(1) != x.size(0):
                raise ValueError(f"{name}: sparse matrix of shape "
                                 f"{list(edge_index.size())} does not match "
                                 f"{x.size(0)} nodes")
        elif isinstance(edge_index, Tensor):
            if edge_index.dim() != 2 or edge_index.size(0) != 2:
                raise ValueError(f"{name}: 'edge_index' must have shape "
                                 f"[2, E] (got {list(edge_index.shape)})")
            if edge_weight is not None and \
                    edge_weight.numel() != edge_index.size(1):
                raise ValueError(f"{name}: 'edge_weight' has "
                                 f"{edge_weight.numel()} entries for "
                                 f"{edge_index.size(1)} edges")

    def _step(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor,
              symmetric: Optional[bool] = None) -> Tensor:
        if is_csr(edge_index):
            return self._csr_step(edge_index, x, symmetric)
        if is_sparse(edge_index) and self.flow == 'target_to_source':
            # PyG refuses sparse input with this flow; a sparse matrix is
            # always adj_t (row i aggregates into node i), so use it directly.
            return self.message_and_aggregate(edge_index, x)
        # propagate_type: (x: Tensor, edge_weight: Optional[Tensor])
        return self.propagate(edge_index, x=x, edge_weight=edge_weight)

    def _csr_step(self, adj_t: Tensor, x: Tensor,
                  symmetric: Optional[bool] = None) -> Tensor:
        # The fused path. The backward needs A^T, which is A itself only for
        # a symmetric matrix (a sampled subgraph's is not).
        if self.symmetric if symmetric is None else symmetric:
            return symmetric_spmm(adj_t, x)
        return spmm(adj_t, x, self._transpose.get(adj_t))

    def message(self, x_j: Tensor,
                edge_weight: Optional[Tensor]) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j

    def message_and_aggregate(self, adj_t: Adj, x: Tensor) -> Tensor:
        # PyG hands over the matrix whose row i aggregates into node i.
        if is_csr(adj_t):
            return self._csr_step(adj_t, x)
        return pyg_spmm(adj_t, x, reduce='sum')  # COO / SparseTensor


class LightGCNPropagation(_WeightFreePropagation):
    r"""The weight-free propagation of LightGCN, `"LightGCN: Simplifying and
    Powering Graph Convolution Network for Recommendation"
    <https://arxiv.org/abs/2002.02126>`_, as used by BM3, FREEDOM, CM3 and
    LIRDRec over the normalised user–item adjacency
    :math:`\hat{\mathbf{A}} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}`:

    .. math::
        \mathbf{X}^{(l)} = \hat{\mathbf{A}}\,\mathbf{X}^{(l-1)},
        \qquad l = 1, \dots, L,

    combined over layers :math:`0..L` by

    .. math::
        \mathbf{H} = \frac{1}{L+1}\sum_{l=0}^{L}\mathbf{X}^{(l)}
        \;(\texttt{mean}) \quad\textrm{or}\quad
        \mathbf{H} = \sum_{l=0}^{L}\mathbf{X}^{(l)} \;(\texttt{sum}).

    LightGCN, BM3 and FREEDOM use :obj:`"mean"`; CM3 and LIRDRec use
    :obj:`"sum"`.

    Two equivalent inputs are accepted:

    * a :obj:`torch.sparse_csr` matrix (normally precomputed once by the
      model): fused sparse–dense products. With :obj:`symmetric=True`
      (the normalised bipartite adjacency is symmetric) the backward pass
      reuses the same matrix, see :func:`mmgraph.nn.sparse.symmetric_spmm`;
    * an ``edge_index`` with optional ``edge_weight`` (e.g. from
      :func:`~torch_geometric.nn.conv.gcn_conv.gcn_norm`): stock message
      passing from ``edge_index[0]`` to ``edge_index[1]``.

    The layer never normalises: pass normalised weights.

    Args:
        num_layers (int, optional): Number of propagation steps :math:`L`.
            (default: :obj:`3`)
        combine (str, optional): :obj:`"mean"`, :obj:`"sum"`, or
            :obj:`"stack"` (return all layers as :obj:`[L + 1, N, F]`).
            (default: :obj:`"mean"`)
        symmetric (bool, optional): Whether a CSR input is symmetric, which
            enables the backward pass without a transpose. For a
            non-symmetric matrix set :obj:`False`; the transpose is then
            computed once and cached. (default: :obj:`True`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F)`, edge indices
          :math:`(2, |\mathcal{E}|)` or sparse matrix
          :math:`(|\mathcal{V}|, |\mathcal{V}|)`, edge weights
          :math:`(|\mathcal{E}|)` *(optional)*
        - **output:** :math:`(|\mathcal{V}|, F)`, or
          :math:`(L + 1, |\mathcal{V}|, F)` for :obj:`combine="stack"`
    """
    def __init__(self, num_layers: int = 3, combine: str = 'mean',
                 symmetric: bool = True, **kwargs: Any) -> None:
        if num_layers < 0:
            raise ValueError(f"LightGCNPropagation: 'num_layers' must be "
                             f">= 0 (got {num_layers})")
        if combine not in _COMBINE:
            raise ValueError(f"LightGCNPropagation: unknown combine "
                             f"'{combine}' (expected one of {_COMBINE})")
        super().__init__(symmetric=symmetric, **kwargs)
        self.num_layers = num_layers
        self.combine = combine
        self.reset_parameters()

    def forward(self, x: Tensor, edge_index: Adj,
                edge_weight: OptTensor = None,
                symmetric: Optional[bool] = None) -> Tensor:
        r"""Propagates :obj:`x` for :obj:`num_layers` steps and combines
        layers :math:`0..L`.

        Args:
            x (torch.Tensor): Node features (layer 0).
            edge_index (torch.Tensor or TrimmedAdjacency): ``edge_index``
                :obj:`[2, E]` or a sparse adjacency :obj:`[N, N]` (CSR for
                the fast path), or a :class:`~mmgraph.nn.trimmed.TrimmedAdjacency` (a
                sampled batch's layers trimmed to what its seeds need,
                :meth:`~mmgraph.train.sampled.SubgraphBatch.layer_adjacencies`),
                when the output holds the seeds' rows only.
            edge_weight (torch.Tensor, optional): Weights for
                ``edge_index``. (default: :obj:`None`, all ones)
            symmetric (bool, optional): Overrides the module's
                :obj:`symmetric` for this call, e.g. :obj:`False` for a
                sampled subgraph's adjacency
                (:class:`~mmgraph.train.sampled.SubgraphBatch`), whose rows
                hold only the edges each node sampled. (default:
                :obj:`None`, the module's setting)
        """
        if isinstance(edge_index, TrimmedAdjacency):
            return self._trimmed(x, edge_index, edge_weight, symmetric)
        self._check(x, edge_index, edge_weight)
        layers = [x]
        for _ in range(self.num_layers):
            layers.append(self._step(layers[-1], edge_index, edge_weight,
                                     symmetric))
        return self._combine(layers)

    def _combine(self, layers) -> Tensor:
        if self.combine == 'stack':
            return torch.stack(layers, dim=0)
        out = layers[0]
        for h in layers[1:]:
            out = out + h
        if self.combine == 'mean':
            out = out / (self.num_layers + 1)
        return out

    def _trimmed(self, x: Tensor, adj: TrimmedAdjacency,
                 edge_weight: OptTensor, symmetric: Optional[bool]) -> Tensor:
        # Each layer from its source block to its (smaller) target block;
        # every layer's output, narrowed to the seeds, is combined.
        name = self.__class__.__name__
        if adj.num_layers != self.num_layers or edge_weight is not None:
            raise ValueError(f"{name}: a TrimmedAdjacency of "
                             f"{adj.num_layers} layers for {self.num_layers} "
                             f"and no 'edge_weight' expected")
        if x.dim() != 2 or x.size(0) != sum(adj.input_block):
            raise ValueError(f"{name}: 'x' has {x.size(0)} rows for a "
                             f"subgraph of {sum(adj.input_block)} nodes")
        seeds = adj.output_block
        layers = [narrow_blocks(x, adj.input_block, seeds)]
        h, block = x, adj.input_block
        for a, source, target in adj.layers:
            h = self._csr_step(a, narrow_blocks(h, block, source), symmetric)
            block = target
            layers.append(narrow_blocks(h, block, seeds))
        return self._combine(layers)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_layers={self.num_layers}, '
                f"combine='{self.combine}', symmetric={self.symmetric})")


class ItemGraphConvolution(_WeightFreePropagation):
    r"""Item–item propagation over a fixed modality kNN graph
    :math:`\mathbf{S}`, as in FREEDOM (`"A Tale of Two Graphs: Freezing and
    Denoising Graph Structures for Multimodal Recommendation"
    <https://arxiv.org/abs/2211.06924>`_), CM3 and LIRDRec:

    .. math::
        \mathbf{h}^{(l)}_i = \sum_{j} S_{ij}\, \mathbf{h}^{(l-1)}_j,
        \qquad l = 1, \dots, L,

    returning :math:`\mathbf{S}^{L}\mathbf{h}` (plus :math:`\mathbf{h}` if
    :obj:`residual=True`, as CM3/LIRDRec's
    :math:`\mathbf{R}_i + \mathbf{S}\mathbf{R}_i`). The kNN graph is **not**
    symmetric: row :math:`i` holds item :math:`i`'s own neighbour list.

    Two equivalent inputs are accepted:

    * an ``edge_index`` in PyG's ``source_to_target`` flow, as returned by
      :func:`mmgraph.data.graphs.knn_graph` and
      :func:`torch_geometric.nn.knn_graph`: ``edge_index[0] = j`` (the
      neighbour), ``edge_index[1] = i`` (the item that aggregates),
      ``edge_weight = S_ij``;
    * the CSR matrix :math:`\mathbf{S}` (PyG's ``adj_t``: row :math:`i`
      aggregates into item :math:`i`, e.g.
      :func:`~mmgraph.models.freedom.item_knn_adjacency`); its transpose,
      needed only by the backward pass, is computed once and cached.

    Args:
        num_layers (int, optional): Number of hops :math:`L` (FREEDOM, CM3
            and LIRDRec use 1). (default: :obj:`1`)
        residual (bool, optional): Whether to add the input to the output.
            (default: :obj:`False`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** item features :math:`(I, F)`, edge indices
          :math:`(2, |\mathcal{E}|)` or sparse matrix :math:`(I, I)`, edge
          weights :math:`(|\mathcal{E}|)` *(optional)*
        - **output:** item features :math:`(I, F)`
    """
    def __init__(self, num_layers: int = 1, residual: bool = False,
                 **kwargs: Any) -> None:
        if num_layers < 1:
            raise ValueError(f"ItemGraphConvolution: 'num_layers' must be "
                             f">= 1 (got {num_layers})")
        super().__init__(symmetric=False, **kwargs)
        self.num_layers = num_layers
        self.residual = residual
        self.reset_parameters()

    def forward(self, x: Tensor, edge_index: Adj,
                edge_weight: OptTensor = None) -> Tensor:
        r"""Applies :math:`\mathbf{S}^{L}` to :obj:`x`.

        Args:
            x (torch.Tensor): Item features.
            edge_index (torch.Tensor): ``edge_index`` :obj:`[2, E]` or the
                sparse matrix :math:`\mathbf{S}` :obj:`[I, I]`.
            edge_weight (torch.Tensor, optional): Weights for
                ``edge_index``. (default: :obj:`None`, all ones)
        """
        self._check(x, edge_index, edge_weight)
        h = x
        for _ in range(self.num_layers):
            h = self._step(h, edge_index, edge_weight)
        return x + h if self.residual else h

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_layers={self.num_layers}, '
                f"residual={self.residual}, flow='{self.flow}')")
