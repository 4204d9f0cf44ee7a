r"""Data: readers, preparation, :class:`RecDataset`, graphs, negative
sampling, feature encoders and the synthetic dataset."""
from mmgraph.errors import DataFormatError, MissingExtraError
from .formats import Interactions
from .dataset import RecDataset
from .graphs import fuse_graphs, fusion_weights, knn_graph, normalized_adjacency
from .sampling import NegativeSampler
from .synthetic import generate_synthetic, make_synthetic
from .load import load_dataset

__all__ = [
    "RecDataset", "load_dataset", "make_synthetic", "generate_synthetic", "NegativeSampler",
    "DataFormatError", "MissingExtraError", "Interactions", "normalized_adjacency",
    "knn_graph", "fuse_graphs", "fusion_weights",
]
