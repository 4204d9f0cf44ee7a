r"""Readers of released datasets' raw files, registered as ``prepare``
formats like the ones in :mod:`mmgraph.data.formats`:

* **Amazon Reviews 2023** (McAuley Lab) -- reviews and item metadata as JSON
  Lines, optionally gzip-compressed (:func:`read_amazon2023`);
* **MicroLens** -- ``MicroLens-50k_pairs.csv`` / ``.tsv`` and
  ``MicroLens-50k_titles.csv`` (:func:`read_microlens`).

Importing :mod:`mmgraph.data.formats` imports this module, so the formats
are always registered.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmgraph.errors import DataFormatError
from mmgraph.data.interactions import (Interactions, PathLike, _parse_float_column,
                                       _read_lines, register_format)


# --------------------------------------------------------------------------
# Amazon Reviews 2023 (McAuley Lab): reviews + item metadata, JSON Lines
# --------------------------------------------------------------------------
def _iter_lines(path: Path):
    r"""``(line number, text)`` of a UTF-8 text file, gzip-compressed when
    its name ends in ``.gz``, streamed (the files can be large)."""
    import gzip
    if not path.exists():
        raise DataFormatError("file not found", path)
    if path.is_dir():
        raise DataFormatError("expected a file, found a directory", path)
    opener = gzip.open if path.suffix == ".gz" else open
    ln = 0
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for ln, line in enumerate(f, start=1):
                yield ln, line
    except UnicodeDecodeError as e:
        raise DataFormatError(f"not UTF-8 text ({e})", path, ln + 1) from None
    except (OSError, EOFError) as e:  # e.g. a truncated .gz
        raise DataFormatError(f"cannot read ({e})", path, ln + 1) from None


def _iter_json_lines(path: Path):
    r"""``(line number, object)`` of a JSON Lines file; blank lines are
    skipped, anything but a JSON object is an error naming the line."""
    for ln, line in _iter_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataFormatError(f"invalid JSON ({e.msg} at column {e.colno})", path,
                                  ln) from None
        if not isinstance(obj, dict):
            raise DataFormatError(f"expected a JSON object, got {type(obj).__name__}", path,
                                  ln)
        yield ln, obj


def _json_id(obj: dict, key: str, path: Path, ln: int) -> str:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        what = "missing" if key not in obj else f"got {value!r}"
        raise DataFormatError(f"expected a non-empty id ({what})", path, ln, key)
    return str(value)


def _json_number(obj: dict, key: str, path: Path, ln: int) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        what = "missing" if key not in obj else f"got {value!r}"
        raise DataFormatError(f"expected a number ({what})", path, ln, key)
    return float(value)


AMAZON2023_REVIEW_FIELDS = ("user_id", "parent_asin", "timestamp", "rating")


def read_amazon2023_meta(path: PathLike) -> Dict[str, str]:
    r"""Item texts from an Amazon Reviews 2023 metadata file
    (``meta_<Category>.jsonl[.gz]``): for every ``parent_asin``, its
    ``title`` followed by the paragraphs of its ``description`` (a list of
    strings), joined by spaces. A missing or ``null`` title / description
    counts as empty; any other type is an error naming the line and field."""
    path = Path(path)
    out: Dict[str, str] = {}
    for ln, obj in _iter_json_lines(path):
        key = _json_id(obj, "parent_asin", path, ln)
        title = obj.get("title") or ""
        if not isinstance(title, str):
            raise DataFormatError(f"expected a string, got {type(title).__name__}", path, ln,
                                  "title")
        desc = obj.get("description") or []
        if isinstance(desc, str):
            desc = [desc]
        if not isinstance(desc, list) or not all(isinstance(d, str) for d in desc):
            raise DataFormatError("expected a list of strings", path, ln, "description")
        if key in out:
            raise DataFormatError(f"duplicate parent_asin {key!r}; expected one line per item",
                                  path, ln, "parent_asin")
        out[key] = " ".join(s.strip() for s in [title, *desc] if s.strip())
    return out


@register_format("amazon2023")
def read_amazon2023(reviews: PathLike, item_text: Optional[PathLike] = None,
                    item_key: str = "parent_asin") -> Interactions:
    r"""Read Amazon Reviews 2023 (Hou et al., 2024): a reviews file
    (``<Category>.jsonl[.gz]``, one JSON object per review with
    ``user_id``, ``parent_asin``, ``asin``, ``rating``, ``timestamp`` in
    milliseconds, ``title``, ``text``, ...) and optionally the item
    metadata (``meta_<Category>.jsonl[.gz]``, see
    :func:`read_amazon2023_meta`), whose texts become ``item_text``.

    Items are identified by :obj:`item_key` (``parent_asin`` by default,
    the release's item id, which groups the variants of a product and keys
    the metadata; ``asin`` keeps variants apart). Every review becomes one
    interaction with its rating and timestamp. Image features come from a
    local folder of files named ``<parent_asin>.<ext>`` (``prepare
    --images``).
    """
    path = Path(reviews)
    if item_key not in ("parent_asin", "asin"):
        raise DataFormatError(f"item_key must be 'parent_asin' or 'asin', got {item_key!r}",
                              path)
    users: List[str] = []
    items: List[str] = []
    times: List[float] = []
    ratings: List[float] = []
    for ln, obj in _iter_json_lines(path):
        users.append(_json_id(obj, "user_id", path, ln))
        items.append(_json_id(obj, item_key, path, ln))
        times.append(_json_number(obj, "timestamp", path, ln))
        ratings.append(_json_number(obj, "rating", path, ln))
    if not users:
        raise DataFormatError("no reviews (expected one JSON object per line)", path)
    inter = Interactions(np.asarray(users, dtype=object), np.asarray(items, dtype=object),
                         None, np.asarray(times, np.float64), np.asarray(ratings, np.float64),
                         str(path))
    if item_text is not None:
        inter.item_text = read_amazon2023_meta(item_text)
    return inter


# --------------------------------------------------------------------------
# MicroLens (Ni et al., 2023): interaction pairs + video titles
# --------------------------------------------------------------------------
MICROLENS_USER_COLUMNS = ("user", "userID", "user_id")
MICROLENS_ITEM_COLUMNS = ("item", "videoID", "item_id", "video_id")


def _pick_column(header: List[str], names: Sequence[str], path: Path, role: str) -> int:
    for n in names:
        if n in header:
            return header.index(n)
    raise DataFormatError(f"no {role} column; header is {header}, expected one of "
                          f"{list(names)}", path, 1, role)


def _microlens_files(folder: Path) -> Tuple[Path, Optional[Path]]:
    pairs = sorted(folder.glob("*_pairs.csv")) or sorted(folder.glob("*_pairs.tsv"))
    if len(pairs) != 1:
        raise DataFormatError(f"expected one MicroLens-*_pairs.csv (or _pairs.tsv) file, found "
                              f"{[p.name for p in pairs]}", folder)
    titles = sorted(folder.glob("*_titles.csv")) + sorted(folder.glob("*_title_en.csv"))
    return pairs[0], titles[0] if titles else None


def read_microlens_titles(path: PathLike) -> Dict[str, str]:
    r"""Video titles of MicroLens (``MicroLens-50k_titles.csv``): a CSV with
    the header ``item,title`` (quoted titles may hold commas and newlines)."""
    path = Path(path)
    lines = _read_lines(path)
    reader = csv.reader(lines)
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
    except StopIteration:
        raise DataFormatError("empty file; expected the header 'item,title'", path, 1) from None
    i_col = _pick_column(header, MICROLENS_ITEM_COLUMNS, path, "item")
    if "title" not in header:
        raise DataFormatError(f"no title column; header is {header}", path, 1, "title")
    t_col = header.index("title")
    out: Dict[str, str] = {}
    for row in reader:
        ln = reader.line_num
        if not row:
            continue
        if len(row) <= max(i_col, t_col):
            raise DataFormatError(f"expected {len(header)} fields, got {len(row)}", path, ln)
        key = row[i_col].strip()
        if not key:
            raise DataFormatError("empty item id", path, ln, header[i_col])
        if key in out:
            raise DataFormatError(f"duplicate item id {key!r}; expected one line per item",
                                  path, ln, header[i_col])
        out[key] = row[t_col].strip()
    return out


@register_format("microlens")
def read_microlens(path: PathLike, item_text: Optional[PathLike] = None) -> Interactions:
    r"""Read MicroLens (Ni et al., "A Content-Driven Micro-Video
    Recommendation Dataset at Scale", 2023).

    :obj:`path` is the released folder or one of its interaction files:

    * ``MicroLens-50k_pairs.csv`` — header ``user,item,timestamp``
      (``userID``/``videoID`` are accepted too), one interaction per row,
      the timestamp in milliseconds;
    * ``MicroLens-50k_pairs.tsv`` — per line a user id, a tab, then the ids
      of the videos the user watched in chronological order separated by
      single spaces (the position becomes the timestamp).

    In a folder the ``.csv`` is preferred. Video titles
    (``MicroLens-50k_titles.csv``, :func:`read_microlens_titles`) are
    attached as ``item_text`` when given or found next to the pairs; the
    covers (``<item>.jpg``) are read with ``prepare --images``.
    """
    path = Path(path)
    if path.is_dir():
        path, found = _microlens_files(path)
        item_text = item_text if item_text is not None else found
    if path.suffix == ".tsv":
        inter = _read_microlens_tsv(path)
    else:
        inter = _read_microlens_csv(path)
    if item_text is not None:
        inter.item_text = read_microlens_titles(item_text)
    return inter


def _read_microlens_csv(path: Path) -> Interactions:
    lines = _read_lines(path)
    if not lines or not lines[0].strip():
        raise DataFormatError("empty file; expected the header 'user,item,timestamp'", path, 1)
    header = [h.strip().lstrip("\ufeff") for h in lines[0].split(",")]
    u_col = _pick_column(header, MICROLENS_USER_COLUMNS, path, "user")
    i_col = _pick_column(header, MICROLENS_ITEM_COLUMNS, path, "item")
    t_col = header.index("timestamp") if "timestamp" in header else None
    users: List[str] = []
    items: List[str] = []
    times: List[str] = []
    numbers: List[int] = []
    for ln, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != len(header):
            raise DataFormatError(f"expected {len(header)} fields ({header}), got {len(parts)}",
                                  path, ln)
        u, i = parts[u_col].strip(), parts[i_col].strip()
        for value, col in ((u, u_col), (i, i_col)):
            if not value:
                raise DataFormatError("empty id", path, ln, header[col])
        users.append(u)
        items.append(i)
        if t_col is not None:
            times.append(parts[t_col].strip())
        numbers.append(ln)
    if not users:
        raise DataFormatError("no interactions (only a header)", path)
    ts = _parse_float_column(times, path, "timestamp", numbers) if t_col is not None else None
    return Interactions(np.asarray(users, dtype=object), np.asarray(items, dtype=object),
                        None, ts, None, str(path))


def _read_microlens_tsv(path: Path) -> Interactions:
    users: List[str] = []
    items: List[str] = []
    pos: List[int] = []
    for ln, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise DataFormatError("expected 'USER<TAB>ITEM ITEM ...'", path, ln)
        user, rest = line.split("\t", 1)
        seq = rest.split()
        if not user.strip() or not seq:
            raise DataFormatError("expected a user id, a tab and at least one item id", path, ln)
        users.extend([user.strip()] * len(seq))
        items.extend(seq)
        pos.extend(range(len(seq)))
    if not users:
        raise DataFormatError("no interactions", path)
    return Interactions(np.asarray(users, dtype=object), np.asarray(items, dtype=object), None,
                        np.asarray(pos, dtype=np.float64), None, str(path))
