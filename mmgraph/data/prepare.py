r"""Turn raw interactions into an MMRec-format folder.

Steps (each also usable on its own):

1. :func:`factorize` — map raw ids to contiguous ``0..n-1`` in order of first
   appearance (as MMRec's preprocessing does), keeping the raw ids.
2. :func:`deduplicate` — drop repeated (user, item) pairs, logging how many.
3. :func:`k_core_mask` — iterative k-core filter on users and items.
4. One split: :func:`split_mmrec` (random per user, MMRec's rule),
   :func:`split_leave_one_out` (last two by order), :func:`split_temporal`
   (global time ratio).
   Optionally :func:`split_cold_items` first takes a random share of the
   items out of training altogether (the cold-start protocol).
5. :func:`write_mmrec_folder` — ``<name>.inter``, ``u_id_mapping.csv``,
   ``i_id_mapping.csv``, ``<modality>_feat.npy`` and, for a cold-start
   split, ``cold_items.txt``, every file written atomically; the ``.inter``
   file is written last so a folder that has one is complete.

:func:`prepare_dataset` runs them all from a registered input format (what
``mmgraph prepare`` does). It never mixes two preparations in one folder: a
non-empty output folder is refused unless ``overwrite=True``, and then exactly
the files of the previous preparation (listed in its manifest
``prepare.json``) are replaced, after the new ones were completely written
beside them.
"""
from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from mmgraph.errors import DataFormatError
from .formats import (COLD_ITEMS_FILE, FORMATS, MANIFEST_FILE, Interactions, PathLike,
                      atomic_write_text, read_interactions, read_item_names,
                      write_cold_items, write_features, write_id_mapping, write_inter)

log = logging.getLogger("mmgraph")

SPLITS = ("mmrec", "loo", "temporal")

__all__ = ["factorize", "deduplicate", "k_core_mask", "split_mmrec", "split_leave_one_out",
           "split_temporal", "make_split", "split_cold_items", "write_mmrec_folder",
           "prepare_interactions",
           "PreparedData", "SPLITS", "prepare_dataset", "previous_preparation",
           "check_output_folder", "check_name", "MANIFEST"]

#: The manifest of a prepared folder: what was written, from what.
MANIFEST = MANIFEST_FILE
#: What a preparation writes (how a folder from before manifests is read).
PREPARED_PATTERNS = ("*.inter", "*_feat.npy", "u_id_mapping.csv", "i_id_mapping.csv",
                     COLD_ITEMS_FILE)


def factorize(values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    r"""Codes ``0..n-1`` and the raw value of each code
    (``raw[codes] == values``).

    String ids are numbered in order of first appearance (as MMRec's
    preprocessing does); integer ids keep their numeric order, so ids that
    are already contiguous map to themselves."""
    values = np.asarray(values)
    if values.size == 0:
        return np.zeros(0, np.int64), values[:0]
    if np.issubdtype(values.dtype, np.integer):
        uniq, inverse = np.unique(values, return_inverse=True)
        return inverse.reshape(-1).astype(np.int64), uniq
    uniq, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse.reshape(-1)].astype(np.int64), uniq[order]


def deduplicate(user: np.ndarray, item: np.ndarray,
                priority: Optional[np.ndarray] = None) -> np.ndarray:
    r"""Boolean mask keeping one row per (user, item) pair: the one with the
    smallest :obj:`priority` (e.g. the split label, so train wins), ties by
    row order. Logs the number of duplicates dropped."""
    n = len(user)
    if n == 0:
        return np.ones(0, bool)
    key = np.asarray(user, np.int64) * (int(np.max(item)) + 1) + np.asarray(item, np.int64)
    rows = np.arange(n)
    order = np.lexsort((rows, priority)) if priority is not None else rows
    _, first = np.unique(key[order], return_index=True)
    keep = np.zeros(n, bool)
    keep[order[first]] = True
    dropped = n - int(keep.sum())
    if dropped:
        log.warning("dropped %d duplicate (user, item) interaction(s)", dropped)
    return keep


def k_core_mask(user: np.ndarray, item: np.ndarray, k: int) -> np.ndarray:
    r"""Iterative :math:`k`-core: repeatedly drop every interaction whose user
    or item has fewer than :math:`k` interactions among the remaining ones,
    until every remaining user and item has at least :math:`k`.
    ``k <= 1`` keeps everything."""
    mask = np.ones(len(user), bool)
    if k <= 1 or len(user) == 0:
        return mask
    user = np.asarray(user, np.int64)
    item = np.asarray(item, np.int64)
    nu, ni = int(user.max()) + 1, int(item.max()) + 1
    rounds = 0
    while True:
        du = np.bincount(user[mask], minlength=nu)
        di = np.bincount(item[mask], minlength=ni)
        bad = mask & ((du[user] < k) | (di[item] < k))
        if not bad.any():
            break
        mask &= ~bad
        rounds += 1
    log.info("%d-core: kept %d of %d interactions after %d round(s)", k, int(mask.sum()),
             len(mask), rounds)
    return mask


def _group_positions(user: np.ndarray, order: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    r"""For rows visited in :obj:`order` (grouped by user), the position of
    each row inside its user's group and that user's group size."""
    us = user[order]
    counts = np.bincount(us)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(order)) - start[us]
    return pos, counts[us]


def split_mmrec(user: np.ndarray, seed: int = 999) -> np.ndarray:
    r"""MMRec's random per-user split (``1splitting.ipynb``).

    The rows are shuffled with :obj:`seed`; for a user with :math:`n`
    interactions the first rows go to train and the rest to validation and
    test:

    * :math:`n < 10`: :math:`n-2` / 1 / 1,
    * :math:`n \geq 10`: with :math:`v = \lfloor 0.2 n \rfloor`,
      :math:`n - v` / :math:`\lfloor v/2 \rfloor` / :math:`v - \lfloor v/2 \rfloor`.

    Users with fewer than 3 interactions keep everything in train (MMRec
    would leave them with no training row, i.e. cold and dropped).

    Returns:
        ``int8`` labels (0 train, 1 valid, 2 test) aligned with the rows.
    """
    user = np.asarray(user, np.int64)
    n = len(user)
    labels = np.zeros(n, np.int8)
    if n == 0:
        return labels
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    order = perm[np.argsort(user[perm], kind="stable")]
    pos, cnt = _group_positions(user, order)
    vt = np.where(cnt < 10, 2, np.floor(0.2 * cnt).astype(np.int64))
    n_valid = np.where(cnt < 10, 1, vt // 2)
    n_train = cnt - vt
    small = cnt < 3
    n_train = np.where(small, cnt, n_train)
    n_valid = np.where(small, 0, n_valid)
    lab = np.where(pos < n_train, 0, np.where(pos < n_train + n_valid, 1, 2))
    labels[order] = lab
    return labels


def split_leave_one_out(user: np.ndarray, order_key: Optional[np.ndarray] = None) -> np.ndarray:
    r"""Leave-one-out by order: per user, the last interaction (by
    :obj:`order_key`, ties by row order) is test, the one before validation,
    the rest train. Users with fewer than 3 interactions stay in train."""
    user = np.asarray(user, np.int64)
    n = len(user)
    labels = np.zeros(n, np.int8)
    if n == 0:
        return labels
    key = np.arange(n, dtype=np.float64) if order_key is None else np.asarray(order_key, np.float64)
    order = np.lexsort((np.arange(n), key, user))
    pos, cnt = _group_positions(user, order)
    rank_from_end = cnt - 1 - pos
    lab = np.where(cnt < 3, 0, np.where(rank_from_end == 0, 2, np.where(rank_from_end == 1, 1, 0)))
    labels[order] = lab
    return labels


def split_temporal(timestamp: np.ndarray,
                   ratios: Sequence[float] = (0.8, 0.1, 0.1)) -> np.ndarray:
    r"""Global temporal split: rows sorted by time (ties by row order); the
    first ``ratios[0]`` fraction is train, the next ``ratios[1]`` validation,
    the rest test."""
    if timestamp is None:
        raise DataFormatError("the temporal split needs a time column", None, None, "timestamp")
    if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1) > 1e-6:
        raise ValueError(f"ratios must be three non-negative numbers summing to 1, got {ratios}")
    n = len(timestamp)
    order = np.lexsort((np.arange(n), np.asarray(timestamp, np.float64)))
    c1 = int(np.floor(n * ratios[0]))
    c2 = int(np.floor(n * (ratios[0] + ratios[1])))
    lab = np.zeros(n, np.int8)
    lab[order[c1:c2]] = 1
    lab[order[c2:]] = 2
    return lab


def make_split(kind: str, user: np.ndarray, timestamp: Optional[np.ndarray] = None,
               seed: int = 999) -> np.ndarray:
    r"""Dispatch to one of :obj:`SPLITS` (``mmrec``, ``loo``, ``temporal``)."""
    if kind == "mmrec":
        return split_mmrec(user, seed)
    if kind == "loo":
        return split_leave_one_out(user, timestamp)
    if kind == "temporal":
        return split_temporal(timestamp)
    raise ValueError(f"unknown split {kind!r}; expected one of {SPLITS}")


def split_cold_items(item: np.ndarray, user: np.ndarray, fraction: float, kind: str = "mmrec",
                     timestamp: Optional[np.ndarray] = None,
                     seed: int = 999) -> Tuple[np.ndarray, np.ndarray]:
    r"""The cold-start item split.

    :math:`\mathrm{round}(f \cdot I)` items (at least one) are drawn
    uniformly without replacement (seeded by :obj:`seed`, a stream distinct
    from the per-user split's): these **cold** items get no training
    interaction. The first half of them (rounded down, in draw order) has
    all its interactions in validation, the rest in test. The remaining
    (warm) rows are split with :func:`make_split` (:obj:`kind`), so warm
    items keep the usual per-user proportions.

    Args:
        item, user (np.ndarray): Contiguous ``int64`` ids of each row.
        fraction (float): Share of the items made cold, in ``(0, 1)``.
        kind (str): Split of the warm rows (``mmrec``, ``loo``, ``temporal``).
        timestamp (np.ndarray, optional): For ``loo`` / ``temporal``.
        seed (int): Seed of both draws.

    Returns:
        ``(labels, cold_items)``: ``int8`` labels aligned with the rows and
        the sorted cold item ids.
    """
    if not 0.0 < fraction < 1.0:
        raise DataFormatError(f"expected a fraction in (0, 1), got {fraction}", None, None,
                              "--cold-items")
    item = np.asarray(item, np.int64)
    num_items = int(item.max()) + 1 if item.size else 0
    n_cold = max(1, int(round(fraction * num_items)))
    if n_cold >= num_items:
        raise DataFormatError(f"{fraction} of {num_items} items leaves no warm item", None,
                              None, "--cold-items")
    rng = np.random.default_rng([seed, 1])
    drawn = rng.choice(num_items, n_cold, replace=False)
    group = np.zeros(num_items, np.int8)        # 0 warm, 1 cold valid, 2 cold test
    group[drawn[:n_cold // 2]] = 1
    group[drawn[n_cold // 2:]] = 2
    row_group = group[item]
    labels = row_group.copy()
    warm = row_group == 0
    labels[warm] = make_split(kind, np.asarray(user, np.int64)[warm],
                              None if timestamp is None else np.asarray(timestamp)[warm], seed)
    log.info("cold items: %d of %d items (%d valid, %d test) with %d interactions moved out "
             "of training", n_cold, num_items, n_cold // 2, n_cold - n_cold // 2,
             int((~warm).sum()))
    return labels.astype(np.int8), np.sort(drawn)


class PreparedData:
    r"""Re-indexed, filtered, split interactions ready to be written.

    Attributes:
        user, item (np.ndarray): Contiguous ``int64`` ids.
        label (np.ndarray): ``int8`` split labels.
        timestamp, rating (np.ndarray, optional): Carried through.
        user_raw, item_raw (np.ndarray): Raw id of each new id.
        cold_items (np.ndarray, optional): Sorted new ids of the cold items
            of a cold-start split (see :func:`split_cold_items`).
    """

    def __init__(self, user, item, label, timestamp, rating, user_raw, item_raw,
                 cold_items: Optional[np.ndarray] = None) -> None:
        self.user, self.item, self.label = user, item, label
        self.timestamp, self.rating = timestamp, rating
        self.user_raw, self.item_raw = user_raw, item_raw
        self.cold_items = cold_items

    @property
    def num_users(self) -> int:
        return len(self.user_raw)

    @property
    def num_items(self) -> int:
        return len(self.item_raw)


def prepare_interactions(inter: Interactions, k_core: int = 0, split: Optional[str] = "mmrec",
                         seed: int = 999, cold_items: float = 0.0) -> PreparedData:
    r"""Deduplicate, :math:`k`-core filter, re-index and split.

    Args:
        inter (Interactions): Raw rows.
        k_core (int): Minimum degree of users and items (``0`` = no filter).
        split (str, optional): ``mmrec``, ``loo`` or ``temporal``; ``None``
            keeps the labels of :obj:`inter` (which must then have some).
        seed (int): Seed of the ``mmrec`` split (and of the cold items).
        cold_items (float): Share of the items made cold (no training
            interaction; see :func:`split_cold_items`); ``0`` = none.
    """
    if len(inter) == 0:
        raise DataFormatError("no interactions", inter.source)
    if split is None and inter.label is None:
        raise DataFormatError("the input has no split labels; choose --split", inter.source)
    u, _ = factorize(inter.user)
    i, _ = factorize(inter.item)
    keep = deduplicate(u, i, inter.label if split is None else None)
    keep = _masked_core(u, i, keep, k_core)
    rows = np.flatnonzero(keep)
    sub = inter.subset(rows)
    if len(sub) == 0:
        raise DataFormatError(f"no interactions left after the {k_core}-core filter",
                              inter.source)
    user, user_raw = factorize(sub.user)
    item, item_raw = factorize(sub.item)
    cold = None
    if split is None:
        if cold_items:
            raise DataFormatError("a cold-start split re-splits the data; choose --split",
                                  inter.source, None, "--cold-items")
        label = sub.label.astype(np.int8)
    else:
        if split == "temporal" and (sub.timestamp is None or inter.time_is_order
                                    or np.all(sub.timestamp == sub.timestamp[0])):
            if inter.timestamp is not None and inter.time_is_order:
                # Positions restart at 0 for every user: sorting them globally
                # would put every user's first items in train, not the past.
                raise DataFormatError(
                    "the temporal split needs a time per interaction, but these timestamps "
                    "are only the order of each user's items (positions in a sequence "
                    "file), not times; use --split loo (holds out each user's last items) "
                    "or mmrec (random)",
                    inter.time_origin or inter.source, None, "--split")
            what = "no time" if sub.timestamp is None else "the same time on every row"
            raise DataFormatError(f"the temporal split needs a time per interaction; this "
                                  f"input has {what} (use --split mmrec or loo)",
                                  inter.source, None, "--split")
        if cold_items:
            label, cold = split_cold_items(item, user, cold_items, split, sub.timestamp, seed)
        else:
            label = make_split(split, user, sub.timestamp, seed)
    counts = np.bincount(label, minlength=3)
    log.info("prepared %d users, %d items, %d/%d/%d train/valid/test interactions",
             len(user_raw), len(item_raw), counts[0], counts[1], counts[2])
    return PreparedData(user, item, label, sub.timestamp, sub.rating, user_raw, item_raw, cold)


def _masked_core(u: np.ndarray, i: np.ndarray, keep: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros(len(u), bool)
    rows = np.flatnonzero(keep)
    out[rows] = k_core_mask(u[rows], i[rows], k)
    return out


def write_mmrec_folder(out: PathLike, name: str, data: PreparedData,
                       features: Optional[Mapping[str, np.ndarray]] = None) -> Path:
    r"""Write a complete MMRec folder (every file atomically; the ``.inter``
    last). :obj:`features` rows must be aligned with the new item ids."""
    path = _write_folder(Path(out), name, data, features)
    log.info("wrote %s", path)
    return path


def _write_folder(out: Path, name: str, data: PreparedData,
                  features: Optional[Mapping[str, np.ndarray]] = None) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for m, x in (features or {}).items():
        if x.shape[0] != data.num_items:
            raise ValueError(f"feature '{m}' has {x.shape[0]} rows, expected {data.num_items}")
    write_features(out, features or {})
    write_id_mapping(out / "u_id_mapping.csv", data.user_raw.tolist(), "user_id", "userID")
    write_id_mapping(out / "i_id_mapping.csv", data.item_raw.tolist(), "item_id", "itemID")
    cold = getattr(data, "cold_items", None)
    if cold is not None:
        write_cold_items(out / COLD_ITEMS_FILE, cold)
    elif (out / COLD_ITEMS_FILE).exists():  # left by an earlier cold-start split
        (out / COLD_ITEMS_FILE).unlink()
    return write_inter(out / f"{name}.inter", data.user, data.item, data.label, data.rating,
                       data.timestamp)


# --------------------------------------------------------------------------
# the whole preparation, into a folder that never mixes two of them
# --------------------------------------------------------------------------
def check_name(name: str) -> str:
    r"""A dataset name is a plain file stem (``NAME.inter``), never a path."""
    if (not name or name in (".", "..") or Path(name).name != name or "\\" in name
            or name.startswith(".") or any(c in name for c in "\0\t\r\n")):
        raise DataFormatError(f"expected a name such as 'beauty' (not a path), got {name!r}",
                              None, None, "--name")
    return name


def previous_preparation(out: PathLike) -> List[Path]:
    r"""The files a previous preparation wrote into :obj:`out`: those its
    manifest lists (and the manifest), or for a folder prepared before
    manifests existed, the files a preparation writes
    (:obj:`PREPARED_PATTERNS`)."""
    out = Path(out)
    manifest = out / MANIFEST
    if manifest.is_file():
        try:
            files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
            paths = [out / f for f in files if Path(f).name == f]
        except (ValueError, KeyError, TypeError) as e:
            raise DataFormatError(f"corrupt manifest ({type(e).__name__}: {e}); remove the "
                                  "folder by hand", manifest) from None
        return [p for p in paths if p.exists()] + [manifest]
    found = {p for pattern in PREPARED_PATTERNS for p in out.glob(pattern) if p.is_file()}
    return sorted(found)


def check_output_folder(out: PathLike, overwrite: bool = False) -> List[Path]:
    r"""Refuses an output folder that is a file, or that is not empty unless
    :obj:`overwrite`; returns the files of the previous preparation that the
    new one will replace."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataFormatError("exists and is not a folder; expected an output folder", out,
                              None, "--out")
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not entries:
        return []
    old = previous_preparation(out)
    if not overwrite:
        shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
        raise DataFormatError(
            f"the output folder is not empty ({shown}); choose another --out, or pass "
            "--overwrite to replace the dataset prepared there", out)
    if (out / MANIFEST).is_file():
        ours = {p.name for p in old}
        strays = sorted(p.name for pattern in PREPARED_PATTERNS for p in out.glob(pattern)
                        if p.name not in ours)
        if strays:
            raise DataFormatError(
                f"holds {', '.join(strays)}, which its manifest does not list; --overwrite "
                "replaces only what a preparation wrote: move those away first", out)
    return old


def prepare_dataset(format: str, interactions: PathLike, out: PathLike, name: str, *,
                    k_core: int = 0, split: Optional[str] = None, seed: int = 999,
                    item_text: Optional[PathLike] = None, images: Optional[PathLike] = None,
                    device: str = "cpu", batch_size: int = 64, overwrite: bool = False,
                    cold_items: float = 0.0, **options: Any
                    ) -> Tuple[Path, PreparedData, Dict[str, np.ndarray]]:
    r"""Reads :obj:`interactions` in the registered :obj:`format`, filters,
    re-indexes, splits, encodes item text / images and writes the MMRec folder
    :obj:`out` with its manifest.

    Nothing in :obj:`out` changes until the new files are completely written
    (in a hidden folder beside them); only then are the previous
    preparation's files removed and the new ones moved in, the manifest last.

    Args:
        format (str): A name of :func:`~mmgraph.data.formats.list_formats`.
        interactions: The input file or folder.
        out: The output folder (created if missing).
        name (str): The dataset name (``NAME.inter``); not a path.
        k_core (int): Minimum user/item degree (``0`` = off).
        split (str, optional): ``mmrec``, ``loo`` or ``temporal``; default:
            keep the input's split if it has one, else ``mmrec``.
        seed (int): Seed of the ``mmrec`` split.
        item_text, images: ``item_names.txt`` / an image folder to encode.
            A reader that takes ``item_text`` itself (the item metadata of
            ``amazon2023``, the titles of ``microlens``) gets the file, and
            the texts it returns are encoded.
        cold_items (float): Share of the items made cold (see
            :func:`split_cold_items`); ``0`` = none.
        overwrite (bool): Replace the dataset prepared in a non-empty
            :obj:`out`.
        **options: Reader options (e.g. ``columns``, ``sep``, ``header``).

    Returns:
        ``(inter_path, data, features)``.
    """
    check_name(name)
    if k_core < 0:
        raise DataFormatError(f"expected an integer >= 0, got {k_core}", None, None, "--k-core")
    if split is not None and split not in SPLITS:
        raise DataFormatError(f"unknown split {split!r}; expected one of {SPLITS}", None, None,
                              "--split")
    for path in (item_text, images):
        if path is not None and not Path(path).exists():
            raise DataFormatError("file not found", path)
    out = Path(out)
    check_output_folder(out, overwrite)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)  # an unwritable output fails now
    try:
        return _prepare_into(out, format, interactions, name, k_core, split, seed,
                             item_text, images, device, batch_size, overwrite,
                             cold_items, options)
    except BaseException:
        if created and not any(out.iterdir()):
            out.rmdir()  # nothing was written: leave no empty folder behind
        raise


def _prepare_into(out: Path, format: str, interactions: PathLike, name: str, k_core: int,
                  split: Optional[str], seed: int, item_text: Optional[PathLike],
                  images: Optional[PathLike], device: str, batch_size: int, overwrite: bool,
                  cold_items: float, options: Dict[str, Any]
                  ) -> Tuple[Path, PreparedData, Dict[str, np.ndarray]]:
    reader = FORMATS.get(format)  # an unknown name: read_interactions says so
    if reader is not None and "item_text" in inspect.signature(reader).parameters:
        options = {**options, "item_text": item_text}  # the reader's own text source
    inter = read_interactions(format, interactions, **options)
    if inter.fixed_split and split is not None:
        raise DataFormatError(f"{format} keeps the split it is given; drop --split", None,
                              None, "--split")
    if split is None and inter.label is None:
        split = "mmrec"
    data = prepare_interactions(inter, k_core=k_core, split=split, seed=seed,
                                cold_items=cold_items)
    features: Dict[str, np.ndarray] = {}
    for m, x in (inter.item_features or {}).items():  # rows follow the new item ids
        features[m] = x[data.item_raw.astype(np.int64)]
    if item_text is not None or inter.item_text:
        from .features import encode_texts
        names = inter.item_text if inter.item_text is not None else read_item_names(item_text)
        texts = [names.get(str(r)) for r in data.item_raw]
        missing = sum(t is None for t in texts)
        if missing:
            log.warning("%d of %d items have no text in %s", missing, len(texts),
                        item_text or interactions)
        features["text"] = encode_texts(texts, batch_size=batch_size, device=device)
    if images is not None:
        from .features import encode_images
        features["image"] = encode_images(Path(images), [str(r) for r in data.item_raw],
                                          device=device)
    manifest = {"name": name, "format": format, "source": str(Path(interactions).resolve()),
                "k_core": k_core, "split": split, "seed": seed, "cold_items": cold_items,
                # read back by the mmrec reader: no temporal split of this folder
                "time_is_order": bool(inter.time_is_order and inter.timestamp is not None),
                "num_users": data.num_users, "num_items": data.num_items,
                "interactions": int(len(data.user))}
    path = _write_replacing(out, name, data, features, manifest, overwrite)
    return path, data, features


def _write_replacing(out: Path, name: str, data: PreparedData,
                     features: Mapping[str, np.ndarray], manifest: Dict[str, Any],
                     overwrite: bool) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    old = check_output_folder(out, overwrite)  # again: the folder may have changed
    stage = Path(tempfile.mkdtemp(prefix=".prepare-", dir=out))
    try:
        _write_folder(stage, name, data, features)  # logged below, where it ends up
        new = sorted(p.name for p in stage.iterdir())
        # The .inter last, so a folder that has one is complete.
        new.sort(key=lambda n: n.endswith(".inter"))
        for p in old:
            p.unlink()
        for n in new:
            os.replace(stage / n, out / n)
        atomic_write_text(out / MANIFEST, json.dumps({**manifest, "files": new}, indent=2)
                          + "\n")
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log.info("wrote %s", out / f"{name}.inter")
    return out / f"{name}.inter"
