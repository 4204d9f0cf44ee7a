r""":func:`load_dataset`: one entry point for the built-in synthetic dataset
and MMRec folders."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from mmgraph.errors import DataFormatError
from .dataset import PathLike, RecDataset
from .synthetic import make_synthetic

__all__ = ["load_dataset"]


def load_dataset(source: Union[str, PathLike] = "synthetic", name: Optional[str] = None,
                 knn_k: int = 10, mm_image_weight: float = 0.1, **kwargs) -> RecDataset:
    r"""Load a dataset.

    Args:
        source: ``"synthetic"`` for the built-in latent-factor dataset
            (generated in memory; extra keyword arguments go to
            :func:`~mmgraph.data.make_synthetic`), the path of an MMRec
            folder, or of its ``NAME.inter`` file (which picks one of
            several; the folder is the file's parent).
        name (str, optional): Interaction file stem (``<name>.inter``) when
            the folder holds several.
        knn_k (int): Default :math:`k` of the kNN graphs.
        mm_image_weight (float): Image weight in the fused kNN graph.
    """
    if str(source) == "synthetic" and not Path(str(source)).exists():
        return make_synthetic(knn_k=knn_k, mm_image_weight=mm_image_weight, **kwargs)
    if kwargs:
        raise TypeError(f"unexpected arguments for a folder dataset: {sorted(kwargs)}")
    path = Path(source)
    if not path.exists():
        raise DataFormatError("dataset folder not found (expected 'synthetic', the path of "
                              "an MMRec folder or of its NAME.inter file)", path)
    return RecDataset.from_folder(path, name, knn_k=knn_k, mm_image_weight=mm_image_weight)
