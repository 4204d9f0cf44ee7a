r"""Data-parallel training with :mod:`torch.distributed`.

Full-graph recommenders keep the whole graph and every embedding table on
each rank. Under ``torchrun`` each rank trains on batches of its **own**:
the epoch's one shuffled order of the training pairs is cut into global
batches of ``world_size * batch_size`` pairs and each rank takes its
rank-strided share (:func:`rank_share`), with negatives (and dropout) drawn
from a generator seeded by ``seed + rank`` after the identical model
initialisation. The gradients are averaged over the ranks (large ones in
place, the small ones flattened into one all-reduce per step: the semantics
and bucketing of ``DistributedDataParallel``), so the
global batch is ``world_size * batch_size`` and an epoch has
``1 / world_size`` of the steps. The learning rate is unchanged by default;
:class:`~mmgraph.config.TrainConfig` ``lr_scaling`` (``'none'``,
``'linear'``, ``'sqrt'``) scales it by :func:`lr_scale`. The evaluated users
are split over the ranks too, summing the per-user metric values.
``world_size == 1`` is the same code path with every collective a no-op.
Launch with ``torchrun``::

    torchrun --nproc_per_node 2 -m mmgraph.cli -- train --model lightgcn ...

On CPU the ``gloo`` backend is used (that is how it is tested), on CUDA
``nccl``. See ``docs/distributed.md``.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Optional

import torch
import torch.distributed as dist

__all__ = ["is_distributed", "rank", "world_size", "is_main_process",
           "barrier", "broadcast_object", "init_from_env",
           "all_reduce_gradients", "all_reduce_sum", "shard", "rank_share",
           "lr_scale", "broadcast_parameters", "all_reduce_row_sparse",
           "coalesced_rows", "cpu_seconds_all_ranks", "IN_PLACE_NUMEL"]


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and \
        dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


def barrier() -> None:
    r"""Waits until every process gets here (nothing outside a process
    group): e.g. every rank has read a folder before the main one clears
    it."""
    if is_distributed():
        dist.barrier()


def init_from_env(device: str = "cpu") -> bool:
    r"""Initialises the process group when launched by ``torchrun``
    (``WORLD_SIZE > 1``); returns whether it did. With a CUDA device the
    backend is NCCL and the rank's current device is its ``LOCAL_RANK``."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        # one GPU per rank: ``'cuda'`` then means this rank's device
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return True


def shard(x: torch.Tensor) -> torch.Tensor:
    r"""This rank's strided share of ``x`` along dimension 0."""
    return x[rank()::world_size()] if is_distributed() else x


def rank_share(chunk: torch.Tensor) -> torch.Tensor:
    r"""This rank's strided share of one global batch ``chunk`` (indices).

    Every rank must run the same number of steps (the gradient all-reduce is
    a collective), so a rank whose share of a short last chunk would be empty
    takes the chunk's first element instead."""
    if not is_distributed():
        return chunk
    part = chunk[rank()::world_size()]
    return part if part.numel() > 0 else chunk[:1]


def lr_scale(rule: str, world: int) -> float:
    r"""The factor applied to the learning rate for a global batch
    ``world`` times the per-rank one: ``'none'`` 1, ``'linear'`` ``world``
    (Goyal et al., 2017), ``'sqrt'`` :math:`\sqrt{\text{world}}`."""
    if rule == "none":
        return 1.0
    if rule == "linear":
        return float(world)
    if rule == "sqrt":
        return float(world) ** 0.5
    raise ValueError(f"lr_scaling must be 'none', 'linear' or 'sqrt', "
                     f"got {rule!r}")


#: Dense gradients of at least this many elements are all-reduced in place,
#: one collective each; smaller ones are flattened into one (the bucketing of
#: ``DistributedDataParallel``). Copying a large table's gradient into a flat
#: buffer and back cost as much as the exchange itself: LightGCN's two ID
#: tables at Elec's shape (65 MB) reduced in 0.105 s that way against 0.047 s
#: in place, two ranks over gloo (``benchmarks/allreduce.py``).
IN_PLACE_NUMEL = 1 << 20


def coalesced_rows(grad: torch.Tensor) -> torch.Tensor:
    r"""A row-sparse COO tensor (one sparse dimension, e.g. the gradient of
    an embedding lookup with ``sparse=True``) as a coalesced one: each row
    once, in increasing order.

    Autograd stores a sparse gradient as not coalesced even when its rows
    are already distinct and sorted (a lookup of :func:`torch.unique`'s
    rows), and :meth:`~torch.Tensor.coalesce` then sorts and copies every
    value row anyway -- at Elec's shape about as long as the Adam step on
    those rows. Rows found strictly increasing are only marked coalesced,
    sharing the indices and values."""
    if grad.sparse_dim() != 1:
        raise ValueError(f"coalesced_rows: expected a row-sparse tensor "
                         f"(one sparse dimension), got "
                         f"{grad.sparse_dim()}")
    if grad.is_coalesced():
        return grad
    rows = grad._indices()[0]
    if rows.numel() > 1 and not bool((rows[1:] > rows[:-1]).all()):
        return grad.coalesce()
    return torch.sparse_coo_tensor(grad._indices(), grad._values(),
                                   grad.shape, is_coalesced=True)


def all_reduce_row_sparse(grad: torch.Tensor) -> torch.Tensor:
    r"""The mean over ranks of a row-sparse gradient (a sparse COO tensor
    with one sparse dimension, ``sparse_features``), still row-sparse.

    The ranks first agree on the union of the rows any of them touched (a
    max-reduce of a one-byte-per-row mask), then all-reduce the gradient's
    values on those rows only, as one dense ``[rows, ...]`` block. It moves
    the rows the step touched, not the table: at Elec's shape about 64 MB
    for two ranks' BM3 batches of 4,096 features, against 1 GB for the dense
    table. (An all-gather of each rank's rows moves about the same bytes but
    ran 5x slower over gloo.) Every rank builds the same tensor."""
    n = world_size()
    grad = coalesced_rows(grad)
    rows, values = grad.indices()[0], grad.values()
    touched = torch.zeros(grad.size(0), dtype=torch.uint8, device=rows.device)
    touched[rows] = 1
    dist.all_reduce(touched, op=dist.ReduceOp.MAX)
    union = touched.nonzero().squeeze(1)
    block = values.new_zeros((union.numel(),) + values.shape[1:])
    # union is sorted and holds every one of this rank's (sorted) rows
    block[torch.searchsorted(union, rows)] = values
    dist.all_reduce(block, op=dist.ReduceOp.SUM)
    return torch.sparse_coo_tensor(union.unsqueeze(0), block.div_(n),
                                   grad.shape, is_coalesced=True)


def all_reduce_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    r"""Averages gradients over ranks: each gradient of at least
    :data:`IN_PLACE_NUMEL` elements in place, the smaller ones in one
    all-reduce of their flattened concatenation per dtype and device, and
    row-sparse ones by :func:`all_reduce_row_sparse`. A parameter without a
    gradient on some rank contributes zeros there, so every rank reduces
    the same tensors in the same order."""
    if not is_distributed():
        return
    n = world_size()
    small: dict = {}
    for p in params:
        if not p.requires_grad:
            continue
        if p.grad is not None and p.grad.is_sparse:
            # sparse_features: the layout is the model's, the same on every
            # rank; the mean stays row-sparse (RowSparseAdam stays lazy)
            p.grad = all_reduce_row_sparse(p.grad)
            continue
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        if p.numel() >= IN_PLACE_NUMEL:  # by shape: the same on every rank
            if not p.grad.is_contiguous():
                p.grad = p.grad.contiguous()
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(n)
            continue
        small.setdefault((p.grad.dtype, p.grad.device), []).append(p.grad)
    for grads in small.values():
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat.div_(n)
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()


def broadcast_parameters(tensors: Iterable[torch.Tensor]) -> None:
    r"""Copies rank 0's values of the dense ``tensors`` (parameters) to
    every rank, as ``DistributedDataParallel`` does at construction."""
    if not is_distributed():
        return
    with torch.no_grad():
        for t in tensors:
            if t.layout == torch.strided:
                dist.broadcast(t.data, src=0)


def broadcast_object(obj: Any) -> Any:
    r"""Rank 0's ``obj`` (picklable) on every rank; ``obj`` itself outside a
    process group. E.g. the point of a search trial, which only rank 0's
    study draws."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    r"""Sum of ``x`` over ranks (``x`` itself when not distributed)."""
    if is_distributed():
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def cpu_seconds_all_ranks(seconds: Optional[float]) -> Optional[float]:
    r"""The CPU seconds of every process of the job: :obj:`seconds` (this
    process's) summed over the ranks (every rank must call it; ``None``
    stays ``None``). A cost compared with another run's is then the whole
    job's, not one rank's share."""
    if seconds is None or not is_distributed():
        return seconds
    # an object collective: a CPU tensor cannot go through NCCL
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, float(seconds))
    return float(sum(gathered))
