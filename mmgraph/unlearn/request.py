r"""Forget requests: what a trained model is asked to forget, as the
forget set :math:`D_f` and the retain set :math:`D_r = D \setminus D_f` of
its training interactions, and the retain dataset built from :math:`D_r`.

A request is kept with the unlearned run (``unlearn_request.json``, written
by :class:`~mmgraph.runs.RunFolder`) as :func:`requests_to_dict`; reloading
the run applies the recorded requests to the original data in order.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

import torch
from torch import Tensor

from mmgraph.data import RecDataset
from mmgraph.errors import DataFormatError, did_you_mean

__all__ = ["ForgetRequest", "KINDS", "requests_to_dict", "requests_from_dict"]

log = logging.getLogger("mmgraph")

#: Request kinds.
KINDS = ("users", "items", "interactions")
_ALIASES = {"user": "users", "users": "users", "item": "items",
            "items": "items", "interaction": "interactions",
            "interactions": "interactions", "edges": "interactions",
            "pairs": "interactions"}
_HEADER_WORDS = ("user", "item", "id")


def _kind(kind: str) -> str:
    key = str(kind).strip().lower()
    if key not in _ALIASES:
        raise ValueError(f"ForgetRequest: unknown kind {kind!r}; expected one "
                         f"of {', '.join(KINDS)}")
    return _ALIASES[key]


def _keys(edge_index: Tensor, num_items: int) -> Tensor:
    return edge_index[0].long() * num_items + edge_index[1].long()


def _raw_index(dataset, name: str, path: Path) -> Dict[str, int]:
    raw = dataset.id_mapping(name)
    if raw is None:
        file = "u_id_mapping.csv" if name == "user" else "i_id_mapping.csv"
        raise DataFormatError(f"raw {name} ids need the dataset's {file}, "
                              f"which {dataset.name!r} does not have (give "
                              f"integer ids)", path)
    return {r: i for i, r in enumerate(raw)}


@dataclass
class ForgetRequest:
    r"""What to forget, in the dataset's (internal, 0-based) id space.

    * ``kind='users'`` -- ``ids`` ``[N]``: every training interaction of
      these users;
    * ``kind='items'`` -- ``ids`` ``[N]``: every training interaction with
      these items. By default the items stay in the catalogue as cold items;
      with :obj:`remove_items` they are taken out of it (their scores are
      masked from every ranking, their validation / test rows dropped) and
      with :obj:`zero_features` their feature rows are zeroed too, so that
      the kNN item graphs are rebuilt without their content (MMRecUn's
      "modality constraints");
    * ``kind='interactions'`` -- ``ids`` ``[2, N]`` (user, item) training
      pairs.

    Build one with :meth:`from_file` or :meth:`random`; :meth:`split` gives
    :math:`(D_f, D_r)` and :meth:`apply` the retain dataset.

    Args:
        kind (str): ``'users'``, ``'items'`` or ``'interactions'``.
        ids (Tensor or sequence): the ids (sorted and deduplicated here).
        remove_items (bool): take requested items out of the catalogue
            (item requests only; default: :obj:`False`).
        zero_features (bool): zero the removed items' feature rows and
            rebuild the kNN graphs (needs :obj:`remove_items`; default:
            :obj:`False`).
        source (str): where the request came from (a file, a fraction).
    """
    kind: str
    ids: Tensor
    remove_items: bool = False
    zero_features: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        self.kind = _kind(self.kind)
        ids = torch.as_tensor(self.ids, dtype=torch.long)
        name = self.__class__.__name__
        if self.kind == "interactions":
            if ids.numel() == 0:
                ids = ids.reshape(2, 0)
            if ids.dim() != 2 or ids.size(0) != 2:
                raise ValueError(f"{name}: interaction ids must be a [2, N] "
                                 f"(user, item) tensor, got "
                                 f"{tuple(ids.shape)}")
            n = int(ids[1].max()) + 1 if ids.numel() else 1
            key = torch.unique(ids[0] * n + ids[1])
            ids = torch.stack([key // n, key % n])
        else:
            if ids.dim() != 1:
                ids = ids.reshape(-1)
            ids = torch.unique(ids)
        if ids.numel() and int(ids.min()) < 0:
            raise ValueError(f"{name}: negative id {int(ids.min())}")
        self.ids = ids
        if self.remove_items and self.kind != "items":
            raise ValueError(f"{name}: remove_items applies to item requests "
                             f"only (got kind {self.kind!r})")
        if self.zero_features and not self.remove_items:
            raise ValueError(f"{name}: zero_features needs remove_items (an "
                             f"item kept in the catalogue keeps its "
                             f"features)")

    def __len__(self) -> int:
        return int(self.ids.size(-1))

    def __repr__(self) -> str:
        opts = ""
        if self.remove_items:
            opts += ", remove_items=True"
        if self.zero_features:
            opts += ", zero_features=True"
        src = f", source={self.source!r}" if self.source else ""
        return f"{self.__class__.__name__}({self.kind}={len(self)}{opts}{src})"

    # ----------------------------------------------------------- builders
    @classmethod
    def random(cls, kind: str, fraction: float, dataset, seed: int = 0,
               **options: Any) -> "ForgetRequest":
        r"""A seeded random request: ``fraction`` of the users (or items)
        that have training interactions, or of the training interactions.
        At least one id is drawn."""
        kind = _kind(kind)
        fraction = float(fraction)
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"ForgetRequest.random: fraction must be in "
                             f"(0, 1), got {fraction}")
        g = torch.Generator().manual_seed(int(seed))
        train = dataset.train_edge_index
        if kind == "interactions":
            n = max(1, round(fraction * train.size(1)))
            idx = torch.randperm(train.size(1), generator=g)[:n]
            ids = train[:, idx]
        else:
            pool = torch.unique(train[0 if kind == "users" else 1])
            n = max(1, round(fraction * pool.numel()))
            ids = pool[torch.randperm(pool.numel(), generator=g)[:n]]
        return cls(kind, ids, source=f"random {kind}:{fraction:g} seed "
                   f"{int(seed)}", **options)

    @classmethod
    def from_file(cls, kind: str, path: Union[str, Path], dataset,
                  raw_ids: bool = False, **options: Any) -> "ForgetRequest":
        r"""Reads a request file: internal ids, as in the prepared folder's
        ``.inter`` files, or with ``raw_ids`` the original ids of the data
        (a take-down notice's item codes), mapped through the folder's
        ``u_id_mapping.csv`` / ``i_id_mapping.csv``.

        Users / items: one id per line. Interactions: ``user item`` per
        line, separated by whitespace, a comma or a semicolon. Blank lines
        and ``#`` comments are skipped; the first line may be a header
        (``userID itemID``). Every id is checked against the dataset, and
        every pair must be a training interaction; a bad line raises
        :class:`~mmgraph.data.DataFormatError` naming the file and line."""
        kind = _kind(kind)
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: forget request file not found")
        ncol = 2 if kind == "interactions" else 1
        id_kind = "raw" if raw_ids else "integer"
        what = f"'user item' (two {id_kind} ids)" if ncol == 2 else \
            f"one {id_kind} {kind[:-1]} id"
        limits = [("user", dataset.num_users), ("item", dataset.num_items)] \
            if ncol == 2 else [(kind[:-1], dataset.num_users if
                                kind == "users" else dataset.num_items)]
        maps = {name: _raw_index(dataset, name, path)
                for name, _ in limits} if raw_ids else {}
        rows: List[List[int]] = []
        lines: List[int] = []
        first = True
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise DataFormatError(f"not a UTF-8 text file ({e.reason})",
                                  path) from None
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            tokens = [t for t in re.split(r"[\s,;]+", line) if t]
            if first and all(re.fullmatch(r"[A-Za-z_][\w:.\-]*", t) and
                             any(w in t.lower() for w in _HEADER_WORDS)
                             for t in tokens):
                first = False
                continue  # a header such as "userID itemID"
            first = False
            if len(tokens) != ncol:
                raise DataFormatError(f"expected {what}, got {len(tokens)} "
                                      f"value(s): {line!r}", path, lineno)
            values = []
            for tok, (name, limit) in zip(tokens, limits):
                if raw_ids:
                    if tok not in maps[name]:
                        raise DataFormatError(
                            f"unknown raw {name} id {tok!r} (not in the "
                            f"dataset's id map){did_you_mean(tok, maps[name])}",
                            path, lineno)
                    values.append(maps[name][tok])
                    continue
                try:
                    v = int(tok)
                except ValueError:
                    hint = " (a raw id? pass --raw-ids / raw_ids=True to map " \
                        "it through the dataset's id map)" if \
                        dataset.id_mapping(name) is not None else ""
                    raise DataFormatError(f"{tok!r} is not an integer {name} "
                                          f"id{hint}", path, lineno) from None
                if not 0 <= v < limit:
                    raise DataFormatError(f"{name} id {v} is outside the "
                                          f"dataset's ids 0..{limit - 1}",
                                          path, lineno)
                values.append(v)
            rows.append(values)
            lines.append(lineno)
        if not rows:
            raise DataFormatError(f"no ids (expected {what} per line)", path)
        ids = torch.tensor(rows, dtype=torch.long)
        if kind == "interactions":
            ids = ids.t().contiguous()
            train = torch.unique(_keys(dataset.train_edge_index,
                                       dataset.num_items))
            found = torch.isin(_keys(ids, dataset.num_items), train)
            if not bool(found.all()):
                bad = int((~found).nonzero()[0])
                raise DataFormatError(
                    f"({rows[bad][0]}, {rows[bad][1]}) is not a training "
                    f"interaction ({int((~found).sum())} of {len(rows)} "
                    f"pairs are not); only training data can be forgotten",
                    path, lines[bad])
        else:
            ids = ids.view(-1)
        return cls(kind, ids, source=str(path), **options)

    # ------------------------------------------------------------- splits
    def forget_mask(self, dataset) -> Tensor:
        r"""``[E]`` bool over ``dataset.train_edge_index``: the forget set."""
        train = dataset.train_edge_index
        if self.kind == "users":
            return torch.isin(train[0], self.ids)
        if self.kind == "items":
            return torch.isin(train[1], self.ids)
        keys = _keys(train, dataset.num_items)
        want = torch.unique(_keys(self.ids, dataset.num_items))
        mask = torch.isin(keys, want)
        if int(mask.sum()) != want.numel():
            raise ValueError(f"{self!r}: {want.numel() - int(mask.sum())} "
                             f"requested pair(s) are not training "
                             f"interactions of dataset '{dataset.name}'")
        return mask

    def split(self, dataset) -> Tuple[Tensor, Tensor]:
        r"""``(forget [2, E_f], retain [2, E_r])`` training edges."""
        self._check_ids(dataset)
        mask = self.forget_mask(dataset)
        if not bool(mask.any()):
            raise ValueError(f"{self!r}: the request removes no training "
                             f"interaction of dataset '{dataset.name}'")
        train = dataset.train_edge_index
        return train[:, mask], train[:, ~mask]

    def _check_ids(self, dataset) -> None:
        if not self.ids.numel():
            raise ValueError(f"{self!r}: the request is empty")
        if self.kind == "interactions":
            limits = [("user", self.ids[0], dataset.num_users),
                      ("item", self.ids[1], dataset.num_items)]
        else:
            limits = [(self.kind[:-1], self.ids, dataset.num_users
                       if self.kind == "users" else dataset.num_items)]
        for name, ids, n in limits:
            if int(ids.max()) >= n:
                raise ValueError(f"{self!r}: {name} id {int(ids.max())} is "
                                 f"outside the dataset's ids 0..{n - 1}")

    def apply(self, dataset):
        r"""The retain dataset: ``dataset.with_train_edges(D_r)``; for
        removed items also their validation / test rows dropped, the
        attribute ``excluded_items`` (sorted ids masked from rankings) and,
        with :obj:`zero_features`, zeroed feature rows (the kNN graphs are
        then recomputed from the new features)."""
        _, retain = self.split(dataset)
        ds = dataset.with_train_edges(retain)
        if self.remove_items:
            ds = _remove_items(ds, self.ids, self.zero_features)
        return ds

    # --------------------------------------------------------------- I/O
    def to_dict(self) -> Dict[str, Any]:
        return {"kind": self.kind, "ids": self.ids.tolist(),
                "remove_items": self.remove_items,
                "zero_features": self.zero_features, "source": self.source}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "ForgetRequest":
        return cls(data["kind"], data["ids"],
                   remove_items=bool(data.get("remove_items", False)),
                   zero_features=bool(data.get("zero_features", False)),
                   source=str(data.get("source", "")))


def _remove_items(ds, items: Tensor, zero_features: bool):
    r"""Takes ``items`` out of the catalogue of the (already copied) retain
    dataset ``ds``."""
    old = getattr(ds, "excluded_items", None)
    excluded = torch.unique(torch.cat([old, items]) if old is not None
                            else items)
    dropped = {}
    for split in ("valid", "test"):
        ei = ds.split_edge_index(split)
        keep = ~torch.isin(ei[1], excluded)
        dropped[split] = int((~keep).sum())
        setattr(ds, f"{split}_edge_index", ei[:, keep])
    if dropped["valid"] or dropped["test"]:
        log.info("removed items: dropped %d validation and %d test "
                 "interaction(s) with them", dropped["valid"], dropped["test"])
    if zero_features and ds.features:
        feats = {}
        for m, x in ds.features.items():
            x = x.clone()
            x[excluded] = 0.0
            feats[m] = x
        # A fresh dataset: no cached kNN graph of the old features survives.
        new = RecDataset(ds.name, ds.num_users, ds.num_items,
                         ds.train_edge_index, ds.valid_edge_index,
                         ds.test_edge_index, feats, root=ds.root,
                         knn_k=ds.knn_k, mm_image_weight=ds.mm_image_weight,
                         knn_chunk_size=ds.knn_chunk_size)
        new.cold_start_dropped = dict(ds.cold_start_dropped)
        ds = new
    ds.excluded_items = excluded
    return ds


#: Version of the request record format.
RECORD_FORMAT = 1


def requests_to_dict(requests: Sequence[ForgetRequest]) -> Dict[str, Any]:
    r"""The record of the requests applied to a run, in order."""
    return {"format": RECORD_FORMAT,
            "requests": [r.to_dict() for r in requests]}


def requests_from_dict(data: Any, where: str = "unlearn_request.json"
                       ) -> List[ForgetRequest]:
    r"""The requests of a record written by :func:`requests_to_dict`; a bad
    record raises :class:`~mmgraph.errors.DataFormatError` naming
    ``where``."""
    try:
        return [ForgetRequest.from_dict(r) for r in data["requests"]]
    except (KeyError, TypeError, ValueError) as e:
        raise DataFormatError(f"not a valid unlearning request record "
                              f"({e})", where) from None
