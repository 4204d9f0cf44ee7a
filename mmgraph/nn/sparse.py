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
here. Use stock :class:`~torch_geometric.nn.conv.MessagePassing` over an
``edge_index`` if edge weights must be learned.

torch-sparse is used for the products when it is installed (it is never
required); otherwise :func:`torch.sparse.mm` on CSR is used.
"""
import contextlib
import warnings
from typing import Iterator, Optional

import torch
from torch import Tensor

import torch_geometric.typing

__all__ = [
    'transpose_csr',
    'is_csr',
    'sparse_mm',
    'symmetric_spmm',
    'spmm',
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
        backend (str): :obj:`"torch"` (:func:`torch.sparse.mm` on CSR) or
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


def transpose_csr(src: Tensor) -> Tensor:
    r"""Returns :math:`\mathbf{A}^{\top}` as a new CSR matrix (a real copy
    in CSR layout, not a lazy view), suitable for caching.
    """
    if not is_csr(src):
        raise ValueError(f"transpose_csr: expected a torch.sparse_csr "
                         f"tensor (got layout {getattr(src, 'layout', None)})")
    with quiet_sparse_warnings():
        # CSR of A^T equals the CSC structure of A.
        csc = src.to_sparse_csc()
        return torch.sparse_csr_tensor(
            csc.ccol_indices(), csc.row_indices(), csc.values(),
            size=(src.size(1), src.size(0)), check_invariants=False)


def sparse_mm(src: Tensor, other: Tensor) -> Tensor:
    r"""Plain product :math:`\mathbf{A}\mathbf{X}` of a CSR matrix with a
    dense matrix through the active backend (no autograd bookkeeping for
    :obj:`src`).
    """
    if _BACKEND == 'torch_sparse':
        import torch_sparse  # optional dependency
        mat = torch_sparse.SparseTensor(
            rowptr=src.crow_indices(), col=src.col_indices(),
            value=src.values(), sparse_sizes=(src.size(0), src.size(1)),
            is_sorted=True, trust_data=True)
        return torch_sparse.matmul(mat, other, reduce='sum')
    return torch.sparse.mm(src, other)


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
