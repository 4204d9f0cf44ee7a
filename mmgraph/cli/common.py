r"""What several verbs share: the device check and loading a finished run
(:func:`mmgraph.runs.load_run`, which names every missing, corrupt or
mismatched file)."""
from __future__ import annotations

from typing import Optional

from mmgraph.config import ConfigError

__all__ = ["check_device", "load_run"]


def check_device(device: Optional[str], option: str = "--device") -> None:
    r"""``cuda`` needs a CUDA device."""
    if device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise ConfigError(f"{option} cuda: no CUDA device is available (torch "
                              f"{torch.__version__}, built "
                              f"{'with' if torch.version.cuda else 'without'} CUDA); "
                              f"use {option} cpu")


def load_run(run_dir, device: Optional[str] = None, force: bool = False):
    r"""``(model, dataset, results)`` of a finished run (or a grid's
    selected run) after checking :obj:`device`; with :obj:`force` data that
    changed since training are used with a warning."""
    from mmgraph.runs import load_run as _load_run
    check_device(device)
    return _load_run(run_dir, device=device, force=force)
