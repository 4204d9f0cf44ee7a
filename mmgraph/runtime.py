r"""Process-wide settings for large graphs on CPU.

:meth:`~mmgraph.train.Trainer.fit` runs inside :func:`reusing_freed_memory`;
loading data and building models do not (their one-off large temporaries
would fragment a heap that keeps them), and
:meth:`~mmgraph.evaluation.Evaluator.evaluate` runs with glibc's defaults
(:func:`with_system_allocator`), also inside ``fit``.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from typing import Iterator, Optional

__all__ = ["reuse_freed_memory", "reusing_freed_memory",
           "with_system_allocator"]

#: glibc's ``mallopt`` parameters (``malloc.h``).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4
#: glibc's defaults, restored by ``reuse_freed_memory(False)``.
_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_TOP_PAD: 128 * 1024,
             _M_MMAP_MAX: 65536}
#: Setting the environment variable to this leaves the allocator alone.
OPT_OUT = "system"
#: Whether the reuse settings are in effect (set by reuse_freed_memory).
_active = False


def _glibc() -> Optional[ctypes.CDLL]:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    # only glibc has it (not musl, macOS), and only glibc's mallopt is meant
    return libc if hasattr(libc, "gnu_get_libc_version") else None


def reuse_freed_memory(enabled: bool = True,
                       trim_threshold: int = -1) -> bool:
    r"""Keeps the memory of freed large tensors in the process for the next
    allocation, instead of handing it back to the kernel.

    glibc's ``malloc`` serves every block above 32 MiB with a fresh
    ``mmap`` and unmaps it on ``free``, so each large tensor of a training
    step (a ``[U + I, d]`` propagation layer at Elec's shape is 50–150 MB)
    is faulted in and zeroed by the kernel page by page, at every step.
    At Elec's shape on this project's machine that kernel time was 30–50 %
    of a step (``benchmarks/scale.py``; see ``docs/distributed.md``).
    This sets ``M_MMAP_MAX = 0`` (large blocks come from the heap too) and
    ``M_TRIM_THRESHOLD`` to :obj:`trim_threshold` (free memory at the top
    of the heap is kept up to that size; ``-1``, the default, never trims:
    a 1 GiB threshold still handed back, and faulted in again, the dense
    gradient of FREEDOM's and BM3's 1 GB feature table at every step), so a
    freed block is reused as is.
    The cost is a higher resident peak where freed blocks fragment the heap
    (measured at Elec's shape: about +0.5 GiB for LightGCN, +1 GiB for
    sampled CM3 and LIRDRec, +1 to +2 GiB for the full-graph FREEDOM).

    A no-op (returns :obj:`False`) without glibc, or when the environment
    variable ``MMGRAPH_MALLOC`` is ``system``; ``enabled=False`` restores
    glibc's defaults. Returns whether the settings took effect.
    """
    global _active
    if os.environ.get("MMGRAPH_MALLOC", "").lower() == OPT_OUT:
        return False
    libc = _glibc()
    if libc is None:
        return False
    settings = {_M_MMAP_MAX: 0, _M_TRIM_THRESHOLD: int(trim_threshold),
                _M_TOP_PAD: 64 << 20} if enabled else _DEFAULTS
    took = all(libc.mallopt(key, value) == 1
               for key, value in settings.items())
    _active = enabled and took
    if took and not enabled:
        libc.malloc_trim(0)  # hand back what the heap kept
    return took


@contextlib.contextmanager
def reusing_freed_memory() -> Iterator[bool]:
    r"""A context (or decorator) with :func:`reuse_freed_memory` in effect;
    on leaving, glibc's defaults are restored and the kept free memory is
    handed back (``malloc_trim``), unless the settings were already in
    effect on entering (nested use, or set by the program). Yields whether
    they are in effect."""
    turned_on = not _active and reuse_freed_memory(True)
    try:
        yield _active
    finally:
        if turned_on:
            reuse_freed_memory(False)


@contextlib.contextmanager
def with_system_allocator() -> Iterator[None]:
    r"""A context (or decorator) with glibc's defaults in effect: where the
    reuse settings were on, they are turned off on entering (handing the
    kept free memory back, ``malloc_trim``) and on again on leaving.

    :meth:`~mmgraph.evaluation.Evaluator.evaluate` runs in it, also inside
    :meth:`~mmgraph.train.Trainer.fit`. An evaluation allocates score
    chunks of varying sizes (each chunk's masked training items differ)
    that fragment a heap which keeps them, on top of what training freed:
    at MicroLens-1M's shape a 1M-user validation pass after sampled BM3
    training grew past 22 GB with the reuse settings (killed on a 24 GB
    machine), where glibc's defaults had measured 13.5 GiB."""
    suspended = _active and reuse_freed_memory(False)
    try:
        yield
    finally:
        if suspended:
            reuse_freed_memory(True)
