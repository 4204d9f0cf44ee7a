r"""Readers and writers for the interaction and feature formats mmgraph
understands.

* **MMRec folder** — ``<name>.inter`` (tab-separated, with header; columns
  ``userID itemID rating timestamp x_label`` of which only ``userID``,
  ``itemID`` and ``x_label`` are required; ``x_label`` 0/1/2 = train / valid /
  test) plus any number of ``<modality>_feat.npy`` item-feature matrices whose
  row ``i`` belongs to item ``i``.
* **Sequence files** — ``user_sequence.txt`` (``user item item ...`` per line,
  chronological) and ``item_names.txt`` (``ITEM name words ...``).
* **NBPO JSON split** — ``train_data.json``, ``validation_data.json`` and
  ``test_data.json``; entry ``u`` of each list holds the item ids of user ``u``.
* **Delimited** — any CSV/TSV with a user-given column mapping.
* **Amazon Reviews 2023** and **MicroLens** — the raw files of released
  datasets, in :mod:`mmgraph.data.released_formats` (registered here too).

Each input format is a plain reader function registered under its name with
:func:`register_format`; ``mmgraph prepare --format NAME`` offers exactly the
registered names (:func:`list_formats`) and calls the reader through
:func:`read_interactions`. A reader takes the input path and keyword options
and returns an :class:`Interactions` record (item features, if the input has
some, in :attr:`Interactions.item_features`). A new format is one decorated
function in this module::

    @register_format("my-format")
    def read_my_format(path, columns=None) -> Interactions:
        ...

Every reader returns an :class:`Interactions` record and raises
:class:`~mmgraph.data.errors.DataFormatError` naming the file, the line or
field and what was expected when the input is malformed. Every writer is
atomic: data go to a temporary file in the target folder, which is then
renamed over the destination with :func:`os.replace`.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
import inspect
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from mmgraph.io import atomic_save_npy, atomic_write, atomic_write_text
from mmgraph.errors import DataFormatError, did_you_mean

from mmgraph.data.interactions import (FORMATS, Interactions, PathLike,  # noqa: F401
                                       _check_labels, _parse_float_column,
                                       _parse_int_column, _read_lines,
                                       register_format)

INTER_COLUMNS = ("userID", "itemID", "rating", "timestamp", "x_label")
REQUIRED_INTER_COLUMNS = ("userID", "itemID", "x_label")
FEATURE_SUFFIX = "_feat.npy"
SPLIT_NAMES = ("train", "valid", "test")
NBPO_FILES = ("train_data.json", "validation_data.json", "test_data.json")
#: The cold items of a cold-start split (``prepare --cold-items``).
COLD_ITEMS_FILE = "cold_items.txt"
#: The first bytes of every ``.npy`` file.
NPY_MAGIC = b"\x93NUMPY"
#: The manifest ``mmgraph prepare`` writes beside a prepared folder's files.
MANIFEST_FILE = "prepare.json"

__all__ = [
    "register_format", "list_formats", "read_interactions", "FORMATS", "Interactions",
    "read_inter", "read_features", "read_mmrec_folder",
    "find_inter_file", "read_sequence", "read_item_names", "read_nbpo_json",
    "read_delimited", "parse_column_mapping", "write_inter", "write_features",
    "write_id_mapping", "read_id_mapping", "atomic_write", "atomic_write_text",
    "atomic_save_npy", "write_cold_items", "read_cold_items", "COLD_ITEMS_FILE",
    "read_amazon2023", "read_amazon2023_meta", "read_microlens", "read_microlens_titles",
]


def list_formats() -> List[str]:
    r"""The registered format names, sorted."""
    return sorted(FORMATS)


def read_interactions(format: str, path: PathLike, **options: Any) -> Interactions:
    r"""Read :obj:`path` with the reader registered as :obj:`format`.

    Options that are ``None`` are left to the reader's defaults; an option the
    reader does not take raises :class:`DataFormatError` naming it as
    ``--<option>`` (the command line's spelling)."""
    if format not in FORMATS:
        raise DataFormatError(f"unknown format {format!r}; expected one of "
                              f"{list_formats()}.{did_you_mean(format, FORMATS)}",
                              None, None, "--format")
    reader = FORMATS[format]
    params = inspect.signature(reader).parameters
    given = {k: v for k, v in options.items() if v is not None}
    for key in given:
        if key not in params or key == "path":
            raise DataFormatError(f"does not apply to --format {format}", None, None,
                                  "--" + key.replace("_", "-"))
    return reader(path, **given)


def read_inter(path: PathLike) -> Interactions:
    r"""Read an MMRec ``.inter`` file (tab-separated with a header row).

    ``userID``, ``itemID`` and ``x_label`` are required; ``rating`` and
    ``timestamp`` are read when present. Ids must be non-negative integers.
    """
    path = Path(path)
    lines = _read_lines(path)
    if not lines or not lines[0].strip():
        raise DataFormatError("empty file; expected a header row "
                              f"'{chr(9).join(INTER_COLUMNS)}'", path, 1)
    sep = "\t" if "\t" in lines[0] else None  # tolerate space-separated files
    header = [h.strip() for h in lines[0].split(sep)]
    missing = [c for c in REQUIRED_INTER_COLUMNS if c not in header]
    if missing:
        raise DataFormatError(
            f"missing required column(s) {missing}; header is {header}, expected at least "
            f"{list(REQUIRED_INTER_COLUMNS)}", path, 1, missing[0])
    ncol = len(header)
    rows: List[List[str]] = []
    line_numbers: List[int] = []
    for ln, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split(sep)
        if len(parts) != ncol:
            raise DataFormatError(f"expected {ncol} fields ({header}), got {len(parts)}",
                                  path, ln)
        rows.append(parts)
        line_numbers.append(ln)
    cols = list(zip(*rows)) if rows else [()] * ncol
    col = {h: [s.strip() for s in cols[j]] for j, h in enumerate(header)}
    user = _parse_int_column(col["userID"], path, "userID", line_numbers)
    item = _parse_int_column(col["itemID"], path, "itemID", line_numbers)
    label = _check_labels(
        _parse_int_column(col["x_label"], path, "x_label", line_numbers, allow_negative=True),
        path, line_numbers)
    ts = _parse_float_column(col["timestamp"], path, "timestamp", line_numbers) \
        if "timestamp" in col else None
    rating = _parse_float_column(col["rating"], path, "rating", line_numbers) \
        if "rating" in col else None
    return Interactions(user, item, label, ts, rating, str(path))


def find_inter_file(folder: PathLike, name: Optional[str] = None) -> Path:
    r"""The ``<name>.inter`` file of an MMRec folder (the single ``*.inter``
    file when :obj:`name` is not given). :obj:`folder` may also be the
    ``.inter`` file itself (how the command line picks one of several);
    the folder is then the file's parent."""
    folder = Path(folder)
    if folder.is_file():
        if folder.suffix != ".inter":
            raise DataFormatError("is a file; expected an MMRec folder or its NAME.inter "
                                  "file", folder)
        if name is not None and name != folder.stem:
            raise DataFormatError(f"names the dataset {folder.stem!r}, not {name!r}", folder)
        return folder
    if not folder.is_dir():
        raise DataFormatError("dataset folder not found", folder)
    if name is not None:
        path = folder / f"{name}.inter"
        if not path.exists():
            raise DataFormatError(f"expected the interaction file {name}.inter", folder)
        return path
    found = sorted(folder.glob("*.inter"))
    if len(found) != 1:
        which = (f"; choose one by giving its path, e.g. {found[0]} (name='{found[0].stem}' "
                 "in Python)" if found else "")
        raise DataFormatError(
            f"expected exactly one *.inter file, found {len(found)} "
            f"({[p.name for p in found]}){which}", folder)
    return found[0]


def read_features(folder: PathLike, num_items: Optional[int] = None) -> Dict[str, np.ndarray]:
    r"""Read every ``<modality>_feat.npy`` in :obj:`folder` as ``float32``.

    Files are loaded with ``allow_pickle=False``. Each matrix must be 2-D,
    numeric, finite and (if :obj:`num_items` is given) have exactly
    :obj:`num_items` rows.
    """
    folder = Path(folder)
    out: Dict[str, np.ndarray] = {}
    for path in sorted(folder.glob(f"*{FEATURE_SUFFIX}")):
        modality = path.name[: -len(FEATURE_SUFFIX)]
        if not modality:
            raise DataFormatError("empty modality name; expected <modality>_feat.npy", path)
        out[modality] = load_feature_file(path, num_items)
    return out


def load_feature_file(path: PathLike, num_items: Optional[int] = None) -> np.ndarray:
    r"""Load and validate one item-feature ``.npy`` file (memory-mapped
    copy-on-write when it is stored as C-ordered ``float32``)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(len(NPY_MAGIC))
    except OSError as e:
        raise DataFormatError(f"cannot read .npy file ({e})", path) from None
    if magic != NPY_MAGIC:
        # numpy would call it "pickled data" (its fallback for a file with no
        # NumPy header), which misleads for a text or a mis-named file.
        what = ("an empty file" if not magic else "a zip archive (.npz?)"
                if magic.startswith(b"PK") else "no NumPy header")
        raise DataFormatError(
            f"not a .npy file ({what}); expected one matrix saved with "
            "np.save(path, feats.astype('float32'))", path)
    try:
        try:
            # Memory-mapped copy-on-write: the pages are the file's (shared by
            # the ranks of a torchrun job, given back under memory pressure)
            # and a write, which nothing should do, stays private.
            arr = np.load(path, allow_pickle=False, mmap_mode="c")
        except ValueError:  # not mappable (object arrays): say why below
            arr = np.load(path, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise DataFormatError(
                "the array is stored as pickled Python objects, which mmgraph refuses to "
                "load (unsafe); expected a plain numeric array, e.g. "
                "np.save(path, feats.astype('float32'))", path) from None
        raise DataFormatError(f"not a valid .npy file ({e})", path) from None
    except (OSError, EOFError) as e:
        raise DataFormatError(f"cannot read .npy file ({e})", path) from None
    if not isinstance(arr, np.ndarray):
        raise DataFormatError("expected a single array (.npy), got an archive", path)
    if arr.ndim != 2:
        raise DataFormatError(f"expected a 2-D [num_items, dim] matrix, got shape {arr.shape}",
                              path)
    if arr.shape[1] == 0:
        raise DataFormatError(f"has zero-width rows (shape {arr.shape}); expected at least one "
                              "feature per item", path)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise DataFormatError(f"expected a numeric array, got dtype {arr.dtype}", path)
    if num_items is not None and arr.shape[0] != num_items:
        raise DataFormatError(
            f"has {arr.shape[0]} rows but the dataset has {num_items} items "
            "(row i must hold the features of item i)", path)
    arr = arr.astype(np.float32, copy=False)
    finite = np.isfinite(arr)
    if not finite.all():
        row = int(np.argmax(~finite.all(1)))
        col = int(np.argmax(~finite[row]))
        raise DataFormatError(f"contains NaN or inf (first at row {row} = item {row}, "
                              f"column {col}: {arr[row, col]}); expected finite values",
                              path, None, f"row {row}")
    return arr


def read_mmrec_folder(folder: PathLike, name: Optional[str] = None):
    r"""Read an MMRec folder: returns ``(name, interactions, features)``
    where features are *not* yet checked against the item count (the caller
    knows ``num_items``)."""
    inter_path = find_inter_file(folder, name)
    inter = read_inter(inter_path)
    return inter_path.stem, inter, read_features(inter_path.parent)


@register_format("mmrec")
def read_mmrec(path: PathLike, name: Optional[str] = None) -> Interactions:
    r"""An MMRec folder as input of preparation: its interactions (with their
    split) and its feature matrices, whose rows must cover every item id."""
    stem, inter, features = read_mmrec_folder(path, name)
    folder = Path(path).parent if Path(path).is_file() else Path(path)
    origin = _order_only_origin(folder, stem)
    if origin is not None:
        inter.time_is_order, inter.time_origin = True, origin
    n_raw = int(inter.item.max()) + 1 if len(inter) else 0
    for m, x in features.items():
        if x.shape[0] != n_raw:
            raise DataFormatError(f"has {x.shape[0]} rows but the dataset has {n_raw} items",
                                  folder / f"{m}{FEATURE_SUFFIX}")
    inter.item_features = features or None
    return inter


def _order_only_origin(folder: Path, stem: str) -> Optional[str]:
    r"""The manifest of :obj:`folder` when it says that the ``timestamp``
    column of ``<stem>.inter`` holds sequence positions, not times (the
    folder was prepared from a sequence file, directly or through other
    preparations); else ``None``."""
    manifest = folder / MANIFEST_FILE
    try:
        info = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # no (readable) provenance: the column is taken as times
    if not isinstance(info, dict) or info.get("name") != stem:
        return None  # the manifest describes another .inter file
    if info.get("format") == "sequence" or info.get("time_is_order"):
        return str(manifest)
    return None


# --------------------------------------------------------------------------
# sequence files
# --------------------------------------------------------------------------
def read_item_names(path: PathLike) -> Dict[str, str]:
    r"""Read ``item_names.txt``: ``ITEM_ID<space>free text`` per line. An id
    with no text maps to ``""`` (treated as missing)."""
    path = Path(path)
    out: Dict[str, str] = {}
    for ln, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        key = parts[0]
        if key in out:
            raise DataFormatError(f"duplicate item id {key!r}; expected one line per item",
                                  path, ln)
        out[key] = parts[1].strip() if len(parts) > 1 else ""
    return out


@register_format("sequence")
def read_sequence(path: PathLike, item_names: Optional[PathLike] = None) -> Interactions:
    r"""Read ``user_sequence.txt``: per line a user id followed by the ids of
    the items the user interacted with, in chronological order. The position
    in the sequence becomes the timestamp. Optionally attach the item texts of
    ``item_names.txt``."""
    path = Path(path)
    users: List[str] = []
    items: List[str] = []
    pos: List[int] = []
    for ln, line in enumerate(_read_lines(path), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise DataFormatError(
                "expected a user id followed by at least one item id", path, ln)
        n = len(parts) - 1
        users.extend([parts[0]] * n)
        items.extend(parts[1:])
        pos.extend(range(n))
    inter = Interactions(np.asarray(users, dtype=object), np.asarray(items, dtype=object),
                         None, np.asarray(pos, dtype=np.float64), None, str(path),
                         time_is_order=True)
    if item_names is not None:
        inter.item_text = read_item_names(item_names)
    return inter


# --------------------------------------------------------------------------
# NBPO JSON split
# --------------------------------------------------------------------------
@register_format("nbpo-json")
def read_nbpo_json(folder: PathLike) -> Interactions:
    r"""Read the NBPO split: ``train_data.json``, ``validation_data.json``,
    ``test_data.json`` in :obj:`folder`; entry ``u`` of each JSON list is the
    list of (0-based, integer) item ids of user ``u`` in that split."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError("expected a folder holding " + ", ".join(NBPO_FILES), folder)
    users, items, labels = [], [], []
    for label, fname in enumerate(NBPO_FILES):
        path = folder / fname
        if not path.exists():
            raise DataFormatError(f"missing split file {fname}", folder)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DataFormatError(f"invalid JSON ({e.msg})", path, e.lineno) from None
        if not isinstance(data, list):
            raise DataFormatError(f"expected a JSON list of per-user item lists, got "
                                  f"{type(data).__name__}", path)
        for u, row in enumerate(data):
            if not isinstance(row, list):
                raise DataFormatError(f"expected a list of item ids, got {type(row).__name__}",
                                      path, None, f"[{u}]")
            for p, it in enumerate(row):
                if isinstance(it, bool) or not isinstance(it, int) or it < 0:
                    raise DataFormatError(f"expected a non-negative integer item id, got {it!r}",
                                          path, None, f"[{u}][{p}]")
            users.extend([u] * len(row))
            items.extend(row)
            labels.extend([label] * len(row))
    return Interactions(np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64),
                        np.asarray(labels, dtype=np.int8), None, None, str(folder),
                        fixed_split=True)


# --------------------------------------------------------------------------
# generic delimited file
# --------------------------------------------------------------------------
DELIMITED_ROLES = ("user", "item", "time", "rating", "label")


def parse_column_mapping(spec: Union[str, Mapping[str, str]]) -> Dict[str, str]:
    r"""Parse ``"user=reviewerID,item=asin,time=ts"`` into a dict. Roles are
    ``user``, ``item`` (required), ``time``, ``rating`` and ``label``."""
    if isinstance(spec, Mapping):
        mapping = dict(spec)
    else:
        mapping = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            if "=" not in part:
                raise DataFormatError(f"expected ROLE=COLUMN, got {part!r}", None, None,
                                      "--columns")
            role, col = (s.strip() for s in part.split("=", 1))
            mapping[role] = col
    unknown = set(mapping) - set(DELIMITED_ROLES)
    if unknown:
        raise DataFormatError(f"unknown role(s) {sorted(unknown)}; expected some of "
                              f"{list(DELIMITED_ROLES)}", None, None, "--columns")
    for role in ("user", "item"):
        if role not in mapping:
            raise DataFormatError(f"the column mapping needs '{role}=COLUMN'", None, None,
                                  "--columns")
    return mapping


@register_format("delimited")
def read_delimited(path: PathLike, columns: Union[str, Mapping[str, str], None] = None,
                   sep: str = ",", header: bool = True) -> Interactions:
    r"""Read a delimited file with a column mapping ``role -> column``.

    With :obj:`header` the columns are named by the header row; without it
    they are 0-based column indices. User and item ids are kept as strings
    (they are re-indexed by :mod:`~mmgraph.data.prepare`); ``time`` and
    ``rating`` must be numeric; ``label`` must be 0/1/2.
    """
    path = Path(path)
    if not columns:
        raise DataFormatError("--format delimited needs --columns user=COL,item=COL[,...]",
                              None, None, "--columns")
    mapping = parse_column_mapping(columns)
    sep = {"\\t": "\t", "tab": "\t"}.get(sep, sep)
    if len(sep) != 1:
        raise DataFormatError(f"expected one separator character, got {sep!r}", None, None,
                              "--sep")
    # csv reads quoted fields, which may hold the separator or a line break.
    text = "\n".join(_read_lines(path))
    records = _csv_records(text, sep, path)
    try:
        first_line, first = next(records)
    except StopIteration:
        raise DataFormatError("empty file", path, 1) from None
    if header:
        head = [h.strip() for h in first]
        index = {}
        for role, col in mapping.items():
            if col not in head:
                raise DataFormatError(f"missing column {col!r} (mapped to '{role}'); header "
                                      f"is {head}", path, first_line, col)
            index[role] = head.index(col)
        rows_iter = records
    else:
        index = {}
        for role, col in mapping.items():
            try:
                index[role] = int(col)
            except ValueError:
                raise DataFormatError(f"without a header, columns are 0-based indices; got "
                                      f"{col!r} for '{role}'", path, None, "--columns") from None
            if index[role] < 0:
                raise DataFormatError(f"column indices are 0-based, got {col!r} for "
                                      f"'{role}'", path, None, "--columns")
        rows_iter = _chain_first((first_line, first), records)
    need = max(index.values()) + 1
    data = {r: [] for r in index}
    line_numbers = []
    for ln, row in rows_iter:
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < need:
            raise DataFormatError(f"expected at least {need} fields, got {len(row)}", path, ln)
        for r, j in index.items():
            data[r].append(row[j].strip())
        line_numbers.append(ln)
    for r in ("user", "item"):
        for v, ln in zip(data[r], line_numbers):
            if not v:
                raise DataFormatError(f"empty {r} id", path, ln, mapping[r])
            if "\t" in v or "\n" in v or "\r" in v:
                raise DataFormatError(f"the {r} id {v!r} holds a tab or a line break, which "
                                      "the tab-separated id maps cannot store", path, ln,
                                      mapping[r])
    ts = _parse_float_column(data["time"], path, mapping["time"], line_numbers) \
        if "time" in data else None
    rating = _parse_float_column(data["rating"], path, mapping["rating"], line_numbers) \
        if "rating" in data else None
    label = None
    if "label" in data:
        label = _check_labels(_parse_int_column(data["label"], path, mapping["label"],
                                                line_numbers, allow_negative=True),
                              path, line_numbers, mapping["label"])
    return Interactions(np.asarray(data["user"], dtype=object),
                        np.asarray(data["item"], dtype=object), label, ts, rating, str(path))


def _csv_records(text: str, sep: str, path: Path):
    r"""``(line number, fields)`` of each record; a malformed quote is a
    :class:`DataFormatError` naming its line."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise DataFormatError(f"malformed quoted field ({e})", path,
                                  reader.line_num) from None
        yield reader.line_num, row


def _chain_first(first, rest):
    yield first
    yield from rest


# --------------------------------------------------------------------------
# MMRec writers
# --------------------------------------------------------------------------
def write_inter(path: PathLike, user: np.ndarray, item: np.ndarray, label: np.ndarray,
                rating: Optional[np.ndarray] = None,
                timestamp: Optional[np.ndarray] = None) -> Path:
    r"""Atomically write an MMRec ``.inter`` file with all five columns
    (``rating`` defaults to 1, ``timestamp`` to 0)."""
    n = len(user)
    rating = np.ones(n) if rating is None else np.asarray(rating)
    timestamp = np.zeros(n) if timestamp is None else np.asarray(timestamp)

    def fmt(a: np.ndarray) -> List[str]:
        a = np.asarray(a, dtype=np.float64)
        if np.all(a == np.round(a)):
            return [str(v) for v in a.astype(np.int64).tolist()]
        return [repr(v) for v in a.tolist()]

    cols = [np.asarray(user, np.int64).tolist(), np.asarray(item, np.int64).tolist(),
            fmt(rating), fmt(timestamp), np.asarray(label, np.int64).tolist()]
    body = "\n".join(f"{u}\t{i}\t{r}\t{t}\t{x}" for u, i, r, t, x in zip(*cols))
    return atomic_write_text(path, "\t".join(INTER_COLUMNS) + "\n" + body + ("\n" if n else ""))


def write_features(folder: PathLike, features: Mapping[str, np.ndarray]) -> List[Path]:
    r"""Atomically write ``<modality>_feat.npy`` (float32) for each modality."""
    return [atomic_save_npy(Path(folder) / f"{m}{FEATURE_SUFFIX}",
                            np.asarray(x, dtype=np.float32)) for m, x in features.items()]


def write_id_mapping(path: PathLike, raw_ids: Sequence, raw_column: str,
                     new_column: str) -> Path:
    r"""Atomically write a tab-separated id map ``raw_column<TAB>new_column``
    where line ``k + 2`` maps raw id ``raw_ids[k]`` to ``k``."""
    body = "\n".join(f"{r}\t{k}" for k, r in enumerate(raw_ids))
    return atomic_write_text(path, f"{raw_column}\t{new_column}\n{body}\n")


def read_id_mapping(path: PathLike) -> List[str]:
    r"""Inverse of :func:`write_id_mapping`: ``raw_ids`` indexed by new id."""
    path = Path(path)
    lines = _read_lines(path)
    raw: Dict[int, str] = {}
    for ln, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise DataFormatError("expected 'raw_id<TAB>new_id'", path, ln)
        try:
            raw[int(parts[1])] = parts[0]
        except ValueError:
            raise DataFormatError(f"expected an integer new id, got {parts[1]!r}",
                                  path, ln) from None
    return [raw[k] for k in sorted(raw)]


# --------------------------------------------------------------------------
# cold items of a cold-start split
# --------------------------------------------------------------------------
def write_cold_items(path: PathLike, items: Sequence[int]) -> Path:
    r"""Atomically write ``cold_items.txt``: a header ``itemID`` and one
    (new, 0-based) item id per line, ascending."""
    body = "".join(f"{i}\n" for i in sorted(int(i) for i in items))
    return atomic_write_text(path, "itemID\n" + body)


def read_cold_items(path: PathLike, num_items: int) -> np.ndarray:
    r"""Inverse of :func:`write_cold_items`: the sorted unique cold item
    ids, each checked to be an item id below :obj:`num_items`."""
    path = Path(path)
    lines = _read_lines(path)
    if not lines or lines[0].strip() != "itemID":
        raise DataFormatError("expected the header 'itemID'", path, 1)
    values, numbers = [], []
    for ln, line in enumerate(lines[1:], start=2):
        if line.strip():
            values.append(line.strip())
            numbers.append(ln)
    ids = _parse_int_column(values, path, "itemID", numbers)
    if ids.size and ids.max() >= num_items:
        pos = int(np.argmax(ids >= num_items))
        raise DataFormatError(f"item id {ids[pos]} is not below the number of items "
                              f"{num_items}", path, numbers[pos], "itemID")
    return np.unique(ids)


# The readers of released datasets' raw files live in their own module;
# importing it registers their formats.
from mmgraph.data.released_formats import (  # noqa: E402,F401
    read_amazon2023_meta,
    read_amazon2023,
    read_microlens_titles,
    read_microlens,
    AMAZON2023_REVIEW_FIELDS,
    MICROLENS_USER_COLUMNS,
    MICROLENS_ITEM_COLUMNS,
)
