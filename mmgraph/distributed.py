r"""Data-parallel training with :mod:`torch.distributed`.

Full-graph recommenders keep the whole graph and every embedding table on
each rank; the ranks split each mini-batch of training triples and average
their gradients (the semantics of ``DistributedDataParallel``), and split the
evaluated users, summing the per-user metric values. ``world_size == 1`` is
the same code path with every collective a no-op. Launch with ``torchrun``::

    torchrun --nproc_per_node 2 -m mmgraph.cli train --model lightgcn ...

On CPU the ``gloo`` backend is used (that is how it is tested).
"""
from __future__ import annotations

import os
from typing import Iterable

import torch
import torch.distributed as dist

__all__ = ["is_distributed", "rank", "world_size", "is_main_process",
           "init_from_env", "all_reduce_gradients", "all_reduce_sum",
           "shard"]


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
    (``WORLD_SIZE > 1``); returns whether it did."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    backend = "nccl" if device.startswith("cuda") else "gloo"
    dist.init_process_group(backend=backend)
    return True


def shard(x: torch.Tensor) -> torch.Tensor:
    r"""This rank's strided share of ``x`` along dimension 0."""
    return x[rank()::world_size()] if is_distributed() else x


def all_reduce_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    r"""Averages gradients over ranks (a parameter without a gradient on
    some rank contributes zeros there, so every rank reduces the same
    tensors in the same order)."""
    if not is_distributed():
        return
    n = world_size()
    for p in params:
        if not p.requires_grad:
            continue
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        p.grad.div_(n)


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    r"""Sum of ``x`` over ranks (``x`` itself when not distributed)."""
    if is_distributed():
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x
