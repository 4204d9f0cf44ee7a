r"""The record every format reader returns (:class:`Interactions`), the
format registry (:func:`register_format`) and the parsing helpers the
readers share. The readers themselves are in :mod:`mmgraph.data.formats`
and :mod:`mmgraph.data.released_formats`; :func:`~mmgraph.data.formats.read_interactions`
and :func:`~mmgraph.data.formats.list_formats` see all of them."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from mmgraph.errors import DataFormatError

PathLike = Union[str, os.PathLike]

__all__ = ["Interactions", "FORMATS", "register_format", "PathLike"]


@dataclass
class Interactions:
    r"""A flat list of interactions as read from disk (one entry per row).

    Attributes:
        user (np.ndarray): Raw user ids (``int64`` or ``str`` objects).
        item (np.ndarray): Raw item ids (``int64`` or ``str`` objects).
        label (np.ndarray, optional): ``int8`` split labels 0/1/2, if the
            source defines a split.
        timestamp (np.ndarray, optional): ``float64`` time / order signal.
        rating (np.ndarray, optional): ``float64`` ratings.
        source (str): The file or folder the rows came from.
        item_text (dict, optional): Raw item id -> text, if the source has it.
        item_features (dict, optional): Modality -> ``[num_raw_items, dim]``
            matrix whose row ``r`` belongs to raw (integer) item id ``r``, if
            the source has features.
        fixed_split (bool): The source defines its split and its ids, which
            preparation keeps (no ``--split``).
        time_is_order (bool): :attr:`timestamp` is only the position in each
            user's sequence, not a time (no temporal split).
        time_origin (str, optional): With :attr:`time_is_order`, the file
            that says so when it is not :attr:`source` itself (the manifest
            ``prepare.json`` of a folder prepared from a sequence file).
    """
    user: np.ndarray
    item: np.ndarray
    label: Optional[np.ndarray] = None
    timestamp: Optional[np.ndarray] = None
    rating: Optional[np.ndarray] = None
    source: str = ""
    item_text: Optional[Dict[str, str]] = None
    item_features: Optional[Dict[str, np.ndarray]] = None
    fixed_split: bool = False
    time_is_order: bool = False
    time_origin: Optional[str] = None

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def subset(self, mask: np.ndarray) -> "Interactions":
        r"""Rows selected by a boolean mask or an index array."""
        def take(a: Optional[np.ndarray]) -> Optional[np.ndarray]:
            return None if a is None else a[mask]
        return Interactions(self.user[mask], self.item[mask], take(self.label),
                            take(self.timestamp), take(self.rating),
                            self.source, self.item_text, self.item_features,
                            self.fixed_split, self.time_is_order, self.time_origin)


# --------------------------------------------------------------------------
# the format registry
# --------------------------------------------------------------------------
#: Format name -> reader ``(path, **options) -> Interactions``.
FORMATS: Dict[str, Callable[..., Interactions]] = {}


def register_format(name: str) -> Callable[[Callable[..., Interactions]],
                                           Callable[..., Interactions]]:
    r"""Decorator registering a reader ``(path, **options) -> Interactions``
    as the input format :obj:`name` of ``mmgraph prepare --format``. The
    reader is returned unchanged; a name can be registered once."""
    def decorator(reader: Callable[..., Interactions]) -> Callable[..., Interactions]:
        if name in FORMATS and FORMATS[name] is not reader:
            raise ValueError(f"the format {name!r} is already registered "
                             f"({FORMATS[name].__name__})")
        FORMATS[name] = reader
        return reader
    return decorator


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def _read_lines(path: Path) -> List[str]:
    if not path.exists():
        raise DataFormatError("file not found", path)
    if path.is_dir():
        raise DataFormatError("expected a file, found a directory", path)
    try:
        with open(path, "r", encoding="utf-8") as f:
            return f.read().splitlines()
    except UnicodeDecodeError as e:
        raise DataFormatError(f"not UTF-8 text ({e})", path) from None


def _parse_int_column(values: Sequence[str], path: Path, column: str,
                      line_numbers: Sequence[int], allow_negative: bool = False) -> np.ndarray:
    r"""Strings -> int64, with the first bad entry reported by line."""
    try:
        out = (np.asarray(values, dtype=object).astype(np.int64) if len(values)
               else np.zeros(0, np.int64))
        ok = True
    except (ValueError, TypeError, OverflowError):
        ok = False
    if not ok:
        for v, ln in zip(values, line_numbers):
            try:
                int(v)
            except (ValueError, TypeError):
                raise DataFormatError(f"expected an integer, got {v!r}", path, ln, column) from None
        raise DataFormatError("expected integers", path, None, column)  # pragma: no cover
    if not allow_negative and out.size and out.min() < 0:
        pos = int(np.argmax(out < 0))
        raise DataFormatError(f"expected a non-negative integer id, got {out[pos]}",
                              path, line_numbers[pos], column)
    return out


def _parse_float_column(values: Sequence[str], path: Path, column: str,
                        line_numbers: Sequence[int]) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64) if len(values) else np.zeros(0)
    except ValueError:
        for v, ln in zip(values, line_numbers):
            try:
                float(v)
            except ValueError:
                raise DataFormatError(f"expected a number, got {v!r}", path, ln, column) from None
        raise  # pragma: no cover


def _check_labels(label: np.ndarray, path: Path, line_numbers: Sequence[int],
                  column: str = "x_label") -> np.ndarray:
    bad = (label < 0) | (label > 2)
    if bad.any():
        pos = int(np.argmax(bad))
        raise DataFormatError(
            f"expected a split label 0 (train), 1 (valid) or 2 (test), got {label[pos]}",
            path, line_numbers[pos], column)
    return label.astype(np.int8)


# --------------------------------------------------------------------------
# MMRec folder
# --------------------------------------------------------------------------
