r"""Data-parallel training with :mod:`torch.distributed`.

Full-graph recommenders keep the whole graph and every embedding table on
each rank. Under ``torchrun`` each rank trains on batches of its **own**:
the epoch's one shuffled order of the training pairs is cut into global
batches of ``world_size * batch_size`` pairs and each rank takes its
rank-strided share (:func:`rank_share`), with negatives (and dropout) drawn
from a generator seeded by ``seed + rank`` after the identical model
initialisation. The gradients are averaged over the ranks (one flattened
all-reduce per step, the semantics of ``DistributedDataParallel``), so the
global batch is ``world_size * batch_size`` and an epoch has
``1 / world_size`` of the steps. The learning rate is unchanged by default;
:class:`~mmgraph.config.TrainConfig` ``lr_scaling`` (``'none'``,
``'linear'``, ``'sqrt'``) scales it by :func:`lr_scale`. The evaluated users
are split over the ranks too, summing the per-user metric values.
``world_size == 1`` is the same code path with every collective a no-op.
Launch with ``torchrun``::

    torchrun --nproc_per_node 2 -m mmgraph.cli train --model lightgcn ...

On CPU the ``gloo`` backend is used (that is how it is tested), on CUDA
``nccl``. See ``docs/distributed.md``.
"""
from __future__ import annotations

import os
from typing import Iterable, List

import torch
import torch.distributed as dist

__all__ = ["is_distributed", "rank", "world_size", "is_main_process",
           "init_from_env", "all_reduce_gradients", "all_reduce_sum",
           "shard", "rank_share", "lr_scale", "broadcast_parameters"]


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and \
        dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


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


def densify_sparse_grads(params: Iterable[torch.Tensor]
                         ) -> List[torch.Tensor]:
    r"""Turns every row-sparse gradient of :obj:`params` dense, in place,
    for collectives that take dense tensors; returns the parameters that
    were sparse (see :func:`resparsify_grads`)."""
    was_sparse = []
    for p in params:
        if p.grad is not None and p.grad.is_sparse:
            p.grad = p.grad.to_dense()
            was_sparse.append(p)
    return was_sparse


def resparsify_grads(params: Iterable[torch.Tensor]) -> None:
    r"""The inverse of :func:`densify_sparse_grads` after a reduction: each
    gradient keeps the rows that are non-zero on some rank, so a row no rank
    touched stays untouched by
    :class:`~mmgraph.train.row_sparse_adam.RowSparseAdam`."""
    for p in params:
        dense = p.grad
        rows = dense.reshape(dense.size(0), -1).ne(0).any(1).nonzero()[:, 0]
        p.grad = torch.sparse_coo_tensor(
            rows.unsqueeze(0), dense.index_select(0, rows), dense.shape,
            is_coalesced=True)


def all_reduce_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    r"""Averages gradients over ranks, in one all-reduce of the flattened
    gradients per dtype and device (a parameter without a gradient on some
    rank contributes zeros there, so every rank reduces the same tensors in
    the same order)."""
    if not is_distributed():
        return
    params = list(params)
    # Row-sparse gradients (sparse_features) are reduced dense, then keep
    # the rows some rank touched, so RowSparseAdam's update stays lazy.
    was_sparse = densify_sparse_grads(params)
    n = world_size()
    groups: dict = {}
    for p in params:
        if not p.requires_grad:
            continue
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        groups.setdefault((p.grad.dtype, p.grad.device), []).append(p.grad)
    for grads in groups.values():
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat.div_(n)
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()
    resparsify_grads(was_sparse)


def broadcast_parameters(tensors: Iterable[torch.Tensor]) -> None:
    r"""Copies rank 0's values of the dense ``tensors`` (parameters) to
    every rank, as ``DistributedDataParallel`` does at construction."""
    if not is_distributed():
        return
    with torch.no_grad():
        for t in tensors:
            if t.layout == torch.strided:
                dist.broadcast(t.data, src=0)


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    r"""Sum of ``x`` over ranks (``x`` itself when not distributed)."""
    if is_distributed():
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x
