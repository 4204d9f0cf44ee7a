r"""Data: readers, preparation, :class:`RecDataset`, graphs, negative
sampling, feature encoders and the synthetic dataset.

The names below are imported on first use (:pep:`562`): the readers in
:mod:`mmgraph.data.formats` need numpy only, so the command line can list the
registered formats without loading torch.
"""
import importlib as _importlib
from typing import TYPE_CHECKING

from mmgraph.errors import DataFormatError, MissingExtraError

if TYPE_CHECKING:  # the same names, statically, for type checkers and the API docs
    from .dataset import RecDataset  # noqa: F401
    from .load import load_dataset  # noqa: F401
    from .formats import Interactions  # noqa: F401
    from .graphs import fuse_graphs, fusion_weights, knn_graph, normalized_adjacency  # noqa: F401
    from .sampling import NegativeSampler  # noqa: F401
    from .synthetic import generate_synthetic, make_synthetic  # noqa: F401

#: Public name -> the submodule that defines it.
_PUBLIC = {
    "Interactions": ".formats",
    "RecDataset": ".dataset",
    "load_dataset": ".load",
    "fuse_graphs": ".graphs",
    "fusion_weights": ".graphs",
    "knn_graph": ".graphs",
    "normalized_adjacency": ".graphs",
    "NegativeSampler": ".sampling",
    "generate_synthetic": ".synthetic",
    "make_synthetic": ".synthetic",
}

__all__ = [
    "RecDataset", "load_dataset", "make_synthetic", "generate_synthetic", "NegativeSampler",
    "DataFormatError", "MissingExtraError", "Interactions", "normalized_adjacency",
    "knn_graph", "fuse_graphs", "fusion_weights",
]


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'mmgraph.data' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
