r"""Sparse matrix helpers for the propagation fast path.

The graph models of mmgraph multiply a *fixed* sparse matrix (the normalised
user–item adjacency :math:`\hat{\mathbf{A}}` or an item–item kNN graph
:math:`\mathbf{S}`) with a dense embedding matrix many times per step. For
:math:`\mathbf{Y} = \mathbf{A}\mathbf{X}` with a constant :math:`\mathbf{A}`
the only gradient needed is

.. math::
    \frac{\partial \mathcal{L}}{\partial \mathbf{X}} =
    \mathbf{A}^{\top} \frac{\partial \mathcal{L}}{\partial \mathbf{Y}},

which is one more sparse–dense product. torch's generic sparse-CSR backward
also prepares a gradient for the sparse operand and transposes the matrix on
every call, which was measured at roughly 10x the cost of the forward product.
The matrices are built with :func:`torch_geometric.utils.to_torch_csr_tensor`
(for a directed graph in PyG's ``source_to_target`` flow, of
``edge_index.flip(0)``: PyG's ``adj_t``, whose row :math:`i` aggregates into
node :math:`i`). The autograd functions here skip that work:

* :func:`symmetric_spmm` reuses the *same* CSR matrix in the backward pass
  (valid because :math:`\hat{\mathbf{A}} = \hat{\mathbf{A}}^{\top}`),
* :func:`spmm` takes a cached transposed CSR matrix for non-symmetric graphs.

Neither computes a gradient for the sparse matrix: edge weights are constants
there. For a fixed graph whose edge *values* are learned (GRCN's refined
edge weights, attention scores), :class:`EdgeGraph` holds the structure once
and two dual functions differentiate through the values:

* :func:`edge_dot` (an SDDMM, :func:`torch.sparse.sampled_addmm`):
  :math:`a_e = \mathbf{x}_{t(e)}^{\top}\mathbf{y}_{s(e)}` for every edge
  :math:`s \to t`,
* :func:`edge_spmm`: :math:`\mathbf{h}_t = \sum_{s\to t} w_e
  \mathbf{x}_s`, whose gradient for :math:`w` is an :func:`edge_dot` and for
  :math:`\mathbf{X}` a product with the transpose.

Neither materialises an :math:`|\mathcal{E}| \times d` message tensor, which
the gather/``index_add`` formulation keeps for its backward pass; on a
Beauty-sized graph (300K directed edges, :math:`d = 64`, one thread) GRCN's
step -- logits, softmax, two weighted aggregations, backward -- was measured
7.7x faster than the gathered form
(``benchmarks/bench_propagation.py --learned-weights``).

torch-sparse is used for the products when it is installed (it is never
required); otherwise, on CPUs, the CSR product of :func:`torch.addmm` writes
into a fresh buffer (``beta=0``), which skips the zero-fill and copy
:func:`torch.sparse.mm` adds (its forward of three LightGCN layers measured
39 against 47 ms, one thread, ``benchmarks/bench_propagation.py``).
"""
import contextlib
import warnings
from typing import Iterator, Optional, Tuple

import torch
from torch import Tensor

import torch_geometric.typing

__all__ = [
    'transpose_csr',
    'csr_from_coo',
    'is_csr',
    'sparse_mm',
    'symmetric_spmm',
    'spmm',
    'csr_rows',
    'EdgeGraph',
    'edge_dot',
    'edge_spmm',
    'set_backend',
    'get_backend',
    'quiet_sparse_warnings',
]

# 'torch_sparse' when the optional extension is importable, else 'torch'.
_BACKEND = 'torch_sparse' if torch_geometric.typing.WITH_TORCH_SPARSE \
    else 'torch'


def set_backend(backend: str) -> None:
    r"""Selects the kernel used for sparse–dense products.

    Args:
        backend (str): :obj:`"torch"` (torch's own CSR product) or
            :obj:`"torch_sparse"` (requires the optional torch-sparse
            package).
    """
    global _BACKEND
    if backend not in ('torch', 'torch_sparse'):
        raise ValueError(f"set_backend: unknown backend '{backend}' "
                         f"(expected 'torch' or 'torch_sparse')")
    if backend == 'torch_sparse' and \
            not torch_geometric.typing.WITH_TORCH_SPARSE:
        raise ValueError("set_backend: 'torch_sparse' requested but the "
                         "torch-sparse package is not installed")
    _BACKEND = backend


def get_backend() -> str:
    r"""Returns the active sparse-product backend name."""
    return _BACKEND


@contextlib.contextmanager
def quiet_sparse_warnings() -> Iterator[None]:
    r"""Context manager silencing torch's sparse "beta" and "invariant
    checks" warnings, which are expected on this code path.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*Sparse CSR tensor')
        warnings.filterwarnings('ignore', message='.*[Ss]parse invariant')
        yield


def is_csr(src: object) -> bool:
    r"""Returns :obj:`True` if :obj:`src` is a :obj:`torch.sparse_csr`
    tensor.
    """
    return isinstance(src, Tensor) and src.layout == torch.sparse_csr


def csr_from_coo(row: Tensor, col: Tensor, value: Tensor,
                 shape: Tuple[int, int]) -> Tensor:
    r"""The CSR matrix of shape :obj:`shape` with ``A[row[e], col[e]] =
    value[e]``, duplicate entries summed. One sort of the ``(row, col)``
    keys and a count of the rows: 3-4x faster than
    ``sparse_coo_tensor(...).coalesce().to_sparse_csr()``, which sampled
    training pays for every batch's subgraph (and its transpose)."""
    n, m = shape
    row, col = row.long(), col.long()
    key, order = torch.sort(row * m + col)
    if key.numel() > 1 and bool((key[1:] == key[:-1]).any()):
        return torch.sparse_coo_tensor(torch.stack([row, col]), value,
                                       shape).coalesce().to_sparse_csr()
    crow = row.new_zeros(n + 1)
    crow[1:] = torch.bincount(row, minlength=n).cumsum(0)
    with quiet_sparse_warnings():
        return torch.sparse_csr_tensor(crow, col[order], value[order],
                                       size=shape, check_invariants=False)


def transpose_csr(src: Tensor) -> Tensor:
    r"""Returns :math:`\mathbf{A}^{\top}` as a new CSR matrix (a real copy
    in CSR layout, not a lazy view), suitable for caching.
    """
    if not is_csr(src):
        raise ValueError(f"transpose_csr: expected a torch.sparse_csr "
                         f"tensor (got layout {getattr(src, 'layout', None)})")
    crow, col = src.crow_indices(), src.col_indices()
    row = torch.repeat_interleave(
        torch.arange(src.size(0), device=crow.device), crow.diff())
    return csr_from_coo(col, row, src.values(), (src.size(1), src.size(0)))


def sparse_mm(src: Tensor, other: Tensor) -> Tensor:
    r"""Plain product :math:`\mathbf{A}\mathbf{X}` of a CSR matrix with a
    dense matrix through the active backend (no autograd bookkeeping for
    :obj:`src`). Under :func:`torch.autocast` (mixed precision) the product
    is taken in the matrix's dtype: sparse kernels have no bfloat16 path on
    every device, and sums over many neighbours want the precision.
    """
    if other.dtype != src.dtype:
        other = other.to(src.dtype)
    with torch.autocast(other.device.type, enabled=False):
        return _sparse_mm(src, other)


def _sparse_mm(src: Tensor, other: Tensor) -> Tensor:
    if _BACKEND == 'torch_sparse':
        import torch_sparse  # optional dependency
        mat = torch_sparse.SparseTensor(
            rowptr=src.crow_indices(), col=src.col_indices(),
            value=src.values(), sparse_sizes=(src.size(0), src.size(1)),
            is_sorted=True, trust_data=True)
        return torch_sparse.matmul(mat, other, reduce='sum')
    if other.device.type != 'cpu' or (torch.is_grad_enabled()
                                      and other.requires_grad):
        # out= is not differentiable; on GPUs the gain is unmeasured
        return torch.sparse.mm(src, other)
    # torch.sparse.mm is addmm on a zero-filled copy: a fill and a copy of
    # the [N, d] result per call, measured at ~20 % of the product on one
    # CPU thread. beta=0 ignores the (uninitialised) input, empty rows too.
    out = other.new_empty(src.size(0), other.size(1))
    return torch.addmm(out, src, other, beta=0.0, out=out)


def _check(name: str, src: Tensor, other: Tensor) -> None:
    if not is_csr(src):
        raise ValueError(f"{name}: expected a torch.sparse_csr matrix "
                         f"(got layout {getattr(src, 'layout', None)}); "
                         f"build one with torch_geometric.utils."
                         f"to_torch_csr_tensor")
    if src.requires_grad:
        raise ValueError(f"{name}: the sparse matrix must not require "
                         f"gradients (its values are treated as constants)")
    if other.dim() != 2:
        raise ValueError(f"{name}: expected a dense [N, d] matrix "
                         f"(got shape {list(other.shape)})")
    if src.size(1) != other.size(0):
        raise ValueError(f"{name}: shape mismatch {list(src.shape)} @ "
                         f"{list(other.shape)}")


class _SymmetricSpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, src: Tensor, other: Tensor) -> Tensor:
        ctx.src = src
        return sparse_mm(src, other)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        # dL/dX = A^T G = A G for symmetric A. Going through apply() again
        # keeps double backward working.
        return None, _SymmetricSpMM.apply(ctx.src, grad_out)


class _SpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, src: Tensor, other: Tensor,
                src_t: Optional[Tensor]) -> Tensor:
        ctx.src = src
        ctx.src_t = src_t
        return sparse_mm(src, other)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        if ctx.src_t is None:  # transpose lazily, only if X needs a grad
            ctx.src_t = transpose_csr(ctx.src)
        return None, _SpMM.apply(ctx.src_t, grad_out, ctx.src), None


def symmetric_spmm(src: Tensor, other: Tensor) -> Tensor:
    r"""Computes :math:`\mathbf{A}\mathbf{X}` for a **symmetric** CSR matrix
    :math:`\mathbf{A}`, with the backward :math:`\mathbf{A}\mathbf{G}` reusing
    the same CSR matrix.

    .. warning::
        Symmetry is not checked (that would cost a transpose per call); a
        non-symmetric :obj:`src` gives wrong gradients. Use :func:`spmm`.

    Args:
        src (torch.Tensor): Symmetric :obj:`torch.sparse_csr` matrix
            :obj:`[N, N]`, constant (no gradient).
        other (torch.Tensor): Dense matrix :obj:`[N, d]`.
    """
    _check('symmetric_spmm', src, other)
    if src.size(0) != src.size(1):
        raise ValueError(f"symmetric_spmm: a symmetric matrix must be square "
                         f"(got {list(src.shape)})")
    return _SymmetricSpMM.apply(src, other)


def spmm(src: Tensor, other: Tensor, src_t: Optional[Tensor] = None) -> Tensor:
    r"""Computes :math:`\mathbf{A}\mathbf{X}` for a general CSR matrix
    :math:`\mathbf{A}`; the backward is :math:`\mathbf{A}^{\top}\mathbf{G}`
    using :obj:`src_t`.

    Args:
        src (torch.Tensor): :obj:`torch.sparse_csr` matrix :obj:`[N, M]`,
            constant (no gradient).
        other (torch.Tensor): Dense matrix :obj:`[M, d]`.
        src_t (torch.Tensor, optional): The cached transpose
            :math:`\mathbf{A}^{\top}` as CSR (see :func:`transpose_csr`).
            (default: :obj:`None`, computed in the backward pass when
            needed)
    """
    _check('spmm', src, other)
    if src_t is not None:
        if not is_csr(src_t) or tuple(src_t.shape) != (src.size(1),
                                                       src.size(0)):
            raise ValueError(f"spmm: 'src_t' must be a CSR matrix of shape "
                             f"{[src.size(1), src.size(0)]}")
    return _SpMM.apply(src, other, src_t)


def csr_rows(src: Tensor, rows: Tensor) -> Tensor:
    r"""The rows :obj:`rows` of a CSR matrix as a new ``[len(rows), M]`` CSR
    matrix (repeats allowed), so that ``spmm(csr_rows(A, r), X)`` is
    :math:`(\mathbf{A}\mathbf{X})_r` at the cost of those rows only."""
    if not is_csr(src):
        raise ValueError(f"csr_rows: expected a torch.sparse_csr matrix "
                         f"(got layout {getattr(src, 'layout', None)})")
    crow, col, val = src.crow_indices(), src.col_indices(), src.values()
    rows = rows.to(crow.device).long()
    start, count = crow[rows], crow[rows + 1] - crow[rows]
    new_crow = torch.zeros(rows.numel() + 1, dtype=crow.dtype,
                           device=crow.device)
    new_crow[1:] = torch.cumsum(count, 0)
    owner = torch.repeat_interleave(torch.arange(rows.numel(),
                                                 device=crow.device), count)
    pos = start[owner] + torch.arange(owner.numel(), device=crow.device) - \
        new_crow[:-1][owner]
    with quiet_sparse_warnings():
        return torch.sparse_csr_tensor(new_crow, col[pos], val[pos],
                                       size=(rows.numel(), src.size(1)),
                                       check_invariants=False)


class EdgeGraph(torch.nn.Module):
    r"""A fixed directed graph with :math:`E` edges :math:`s \to t` over
    :obj:`num_nodes` nodes, kept as CSR (row :math:`t` gathers from its
    sources) plus the permutation to the transpose, for products whose edge
    values change every step (:func:`edge_dot`, :func:`edge_spmm`).

    The edges are stored **sorted by target** (then source):
    :attr:`src` and :attr:`dst` are in that order, and every per-edge tensor
    passed to or returned by :func:`edge_dot` / :func:`edge_spmm` follows it.
    The tensors are non-persistent buffers, so the graph moves with
    ``.to(device)`` and is not written to checkpoints.

    Args:
        src (torch.Tensor): Source node of each edge, :obj:`[E]`.
        dst (torch.Tensor): Target node of each edge, :obj:`[E]`.
        num_nodes (int): Number of nodes :math:`N`.
    """

    def __init__(self, src: Tensor, dst: Tensor, num_nodes: int) -> None:
        super().__init__()
        src, dst = src.long().view(-1), dst.long().view(-1)
        if src.numel() != dst.numel():
            raise ValueError(f"EdgeGraph: 'src' and 'dst' differ in length "
                             f"({src.numel()} vs {dst.numel()})")
        if src.numel() and int(torch.maximum(src.max(), dst.max())) >= \
                num_nodes:
            raise ValueError(f"EdgeGraph: a node index is >= num_nodes "
                             f"({num_nodes})")
        self.num_nodes = int(num_nodes)
        order = torch.argsort(dst * num_nodes + src)
        src, dst = src[order], dst[order]
        order_t = torch.argsort(src * num_nodes + dst)
        for name, value in (
                ('src', src), ('dst', dst),
                ('crow', self._crow(dst)), ('crow_t', self._crow(src)),
                ('col_t', dst[order_t]), ('perm_t', order_t)):
            self.register_buffer(name, value, persistent=False)

    def _crow(self, rows: Tensor) -> Tensor:
        crow = rows.new_zeros(self.num_nodes + 1)
        crow[1:] = torch.bincount(rows, minlength=self.num_nodes).cumsum(0)
        return crow

    @property
    def num_edges(self) -> int:
        return self.src.numel()

    def matrix(self, values: Tensor) -> Tensor:
        r"""The CSR matrix :math:`\mathbf{A}` with
        :math:`A_{t s} = \mathrm{values}_e`."""
        with quiet_sparse_warnings():
            return torch.sparse_csr_tensor(
                self.crow, self.src, values, size=(self.num_nodes,) * 2,
                check_invariants=False)

    def matrix_t(self, values: Tensor) -> Tensor:
        r"""The CSR matrix :math:`\mathbf{A}^{\top}`."""
        with quiet_sparse_warnings():
            return torch.sparse_csr_tensor(
                self.crow_t, self.col_t, values.index_select(0, self.perm_t),
                size=(self.num_nodes,) * 2, check_invariants=False)

    def extra_repr(self) -> str:
        return f"num_nodes={self.num_nodes}, num_edges={self.num_edges}"


def _sddmm(graph: EdgeGraph, x: Tensor, y: Tensor) -> Tensor:
    # values of (X Y^T) at the graph's (t, s) entries, in edge order
    # at least float32 (under autocast the inputs may be bfloat16)
    dtype = torch.promote_types(torch.promote_types(x.dtype, y.dtype),
                                torch.float32)
    x, y = x.to(dtype), y.to(dtype)
    pattern = graph.matrix(x.new_zeros(graph.num_edges))
    with quiet_sparse_warnings(), torch.autocast(x.device.type,
                                                  enabled=False):
        return torch.sparse.sampled_addmm(
            pattern, x.contiguous(), y.t(), beta=0.0).values()


class _EdgeDot(torch.autograd.Function):
    @staticmethod
    def forward(ctx, graph: EdgeGraph, x: Tensor, y: Tensor) -> Tensor:
        ctx.graph = graph
        ctx.save_for_backward(x, y)
        return _sddmm(graph, x, y)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, y = ctx.saved_tensors
        graph, grad = ctx.graph, grad.contiguous()
        grad_x = sparse_mm(graph.matrix(grad), y) \
            if ctx.needs_input_grad[1] else None
        grad_y = sparse_mm(graph.matrix_t(grad), x) \
            if ctx.needs_input_grad[2] else None
        return None, grad_x, grad_y


class _EdgeSpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, graph: EdgeGraph, weight: Tensor, x: Tensor) -> Tensor:
        ctx.graph = graph
        weight = weight.to(torch.promote_types(weight.dtype, x.dtype))
        ctx.save_for_backward(weight, x)
        return sparse_mm(graph.matrix(weight), x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        weight, x = ctx.saved_tensors
        graph, grad = ctx.graph, grad.contiguous()
        grad_w = _sddmm(graph, grad, x) if ctx.needs_input_grad[1] else None
        grad_x = sparse_mm(graph.matrix_t(weight), grad) \
            if ctx.needs_input_grad[2] else None
        return None, grad_w, grad_x


def _check_edges(name: str, graph: EdgeGraph, *dense: Tensor) -> None:
    if not isinstance(graph, EdgeGraph):
        raise ValueError(f"{name}: expected an EdgeGraph "
                         f"(got {type(graph).__name__})")
    for x in dense:
        if x.dim() != 2 or x.size(0) != graph.num_nodes:
            raise ValueError(f"{name}: expected a dense [{graph.num_nodes}, "
                             f"d] matrix (got shape {list(x.shape)})")


def edge_dot(graph: EdgeGraph, x: Tensor, y: Tensor) -> Tensor:
    r"""Per-edge dot products :math:`a_e = \mathbf{x}_t^{\top}\mathbf{y}_s`
    for every edge :math:`e = (s \to t)` of :obj:`graph`, in its edge order
    (an SDDMM). Differentiable in :obj:`x` and :obj:`y`:
    :math:`\partial\mathcal{L}/\partial\mathbf{X} = \mathbf{G}\mathbf{Y}`,
    :math:`\partial\mathcal{L}/\partial\mathbf{Y} = \mathbf{G}^{\top}
    \mathbf{X}` with :math:`G_{ts} = \partial\mathcal{L}/\partial a_e`.

    Args:
        graph (EdgeGraph): The graph.
        x (torch.Tensor): Target-side rows :obj:`[N, d]`.
        y (torch.Tensor): Source-side rows :obj:`[N, d]`.
    """
    _check_edges('edge_dot', graph, x, y)
    if x.size(1) != y.size(1):
        raise ValueError(f"edge_dot: feature sizes differ ({x.size(1)} vs "
                         f"{y.size(1)})")
    return _EdgeDot.apply(graph, x, y)


def edge_spmm(graph: EdgeGraph, weight: Tensor, x: Tensor) -> Tensor:
    r"""Weighted aggregation :math:`\mathbf{h}_t = \sum_{e = (s\to t)} w_e
    \mathbf{x}_s`, i.e. :math:`\mathbf{A}_w\mathbf{X}`, differentiable in
    both the edge weights (:math:`\partial\mathcal{L}/\partial w_e =
    \mathbf{g}_t^{\top}\mathbf{x}_s`, an :func:`edge_dot`) and
    :math:`\mathbf{X}` (:math:`\mathbf{A}_w^{\top}\mathbf{G}`).

    Args:
        graph (EdgeGraph): The graph.
        weight (torch.Tensor): Edge weights :obj:`[E]` in the graph's edge
            order.
        x (torch.Tensor): Source rows :obj:`[N, d]`.
    """
    _check_edges('edge_spmm', graph, x)
    if weight.shape != (graph.num_edges,):
        raise ValueError(f"edge_spmm: expected {graph.num_edges} edge "
                         f"weights (got shape {list(weight.shape)})")
    return _EdgeSpMM.apply(graph, weight, x)
