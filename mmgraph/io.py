r"""File IO every layer shares: the one family of atomic writers, the safe
checkpoint reader and the version stamps of a run.

Every writer goes through :func:`atomic_write`: the data go to a temporary
file in the destination's folder (flushed and fsynced), which is then
renamed over the destination with :func:`os.replace`. A reader, or a run
killed mid-write, therefore sees either the old file or the complete new
one, never a half-written file; on an error the temporary file is removed.

A leaf module: it imports nothing from mmgraph (the version stamps read
``mmgraph.__version__`` from the package object already being imported).
"""
from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Dict, Union

import numpy as np

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text",
           "atomic_write_json", "atomic_torch_save", "atomic_save_npy",
           "safe_torch_load", "package_versions", "code_version"]

PathLike = Union[str, os.PathLike]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    r"""Calls :obj:`write` on a binary temporary file beside :obj:`path`,
    then renames it over :obj:`path` (the folder is created if needed).

    Returns the destination path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                               dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; give the usual umask-based mode.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    r"""Atomically writes :obj:`data` to :obj:`path`."""
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: PathLike, text: str) -> Path:
    r"""Atomically writes UTF-8 :obj:`text` to :obj:`path`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    # torch is imported lazily in this module (the command line lists the
    # data formats without loading it): an unloaded torch made no tensor.
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_write_json(path: PathLike, obj: Any) -> Path:
    r"""Atomically writes :obj:`obj` as indented JSON (tensors, numpy
    scalars and paths are converted)."""
    return atomic_write_text(path, json.dumps(obj, indent=2,
                                              default=_json_default) + "\n")


def atomic_torch_save(path: PathLike, obj: Any) -> Path:
    r"""Atomically writes :obj:`obj` with :func:`torch.save`."""
    import torch
    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def atomic_save_npy(path: PathLike, array: np.ndarray) -> Path:
    r"""Atomically saves a (non-object) array with :func:`numpy.save`."""
    array = np.asarray(array)
    if array.dtype == object:
        raise TypeError("refusing to save an object array (it would need "
                        "pickle)")
    return atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))


def safe_torch_load(path: PathLike, map_location: Any = None) -> Any:
    r""":func:`torch.load` with ``weights_only=True``: tensors, numbers,
    strings and containers only, never arbitrary pickled objects."""
    import torch
    return torch.load(path, map_location=map_location, weights_only=True)


def _mmgraph_version() -> str:
    # The package object exists whenever this submodule does.
    return str(getattr(sys.modules[__name__.rpartition(".")[0]],
                       "__version__", "unknown"))


def package_versions() -> Dict[str, str]:
    r"""The versions of mmgraph, torch, PyG, numpy and Python."""
    import torch
    import torch_geometric
    return {"mmgraph": _mmgraph_version(), "torch": torch.__version__,
            "torch_geometric": torch_geometric.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def code_version() -> str:
    r"""The code that ran: ``git describe --always --dirty`` of the source
    tree when mmgraph runs from a git checkout, else the package version."""
    root = Path(__file__).resolve().parent.parent
    if (root / ".git").exists():
        try:
            out = subprocess.run(
                ["git", "describe", "--always", "--dirty", "--tags"],
                cwd=root, capture_output=True, text=True, timeout=5)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return _mmgraph_version()
