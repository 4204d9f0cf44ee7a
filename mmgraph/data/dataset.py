r"""The :class:`RecDataset`: split interactions plus per-modality item
features, with cached graphs and a :class:`~torch_geometric.data.HeteroData`
view."""
from __future__ import annotations

import copy
import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from torch_geometric.index import index2ptr
from torch_geometric.utils import coalesce

from mmgraph.errors import DataFormatError
from mmgraph.io import atomic_save_npy
from .formats import (COLD_ITEMS_FILE, SPLIT_NAMES, find_inter_file, read_cold_items,
                      read_features, read_id_mapping, read_inter)
from .graphs import (fuse_graphs, fusion_weights, knn_graph, knn_graph_from_neighbours,
                     normalized_adjacency)

log = logging.getLogger("mmgraph")

#: Sub-folder of a data folder holding derived graphs (:meth:`RecDataset.knn_graph`).
KNN_CACHE_DIR = ".mmgraph_cache"

_USER, _REL, _ITEM = "user", "interacts", "item"

__all__ = ["RecDataset"]

PathLike = Union[str, os.PathLike]


def _sorted_unique_pairs(edge_index: Tensor, num_users: int, num_items: int) -> Tensor:
    return coalesce(edge_index.long(), num_nodes=max(num_users, num_items, 1))


def _drop_cold(edge_index: Tensor, has_train: Tensor) -> Tuple[Tensor, int]:
    keep = has_train[edge_index[0]]
    return edge_index[:, keep], int((~keep).sum())


class RecDataset:
    r"""A recommendation dataset in MMRec's protocol.

    Users are ``0..num_users-1`` and items ``0..num_items-1`` with
    ``num_users = max(userID) + 1`` and ``num_items = max(itemID) + 1`` over
    all rows of all splits (MMRec's rule). Training edges are deduplicated and
    sorted by (user, item); validation and test edges are held apart from the
    message-passing graph and *cold-start filtered*: rows of users without
    any training interaction are dropped (and counted in a log line).

    Build one with :func:`load_dataset`, :meth:`from_folder`,
    :meth:`from_interactions` or :func:`~mmgraph.data.make_synthetic`.

    Args:
        name (str): Dataset name.
        num_users (int): Number of users.
        num_items (int): Number of items.
        train_edge_index (LongTensor): ``[2, E]`` (user, item) training pairs.
        valid_edge_index (LongTensor): ``[2, E_v]`` validation pairs.
        test_edge_index (LongTensor): ``[2, E_t]`` test pairs.
        features (dict, optional): modality -> ``[num_items, d]`` features.
        root (Path, optional): The folder the data came from.
        knn_k (int): Default :math:`k` of the item–item kNN graphs.
        mm_image_weight (float): Weight of the ``image`` graph in the fused
            kNN graph (see :func:`~mmgraph.data.graphs.fusion_weights`).
        knn_chunk_size (int): Rows per chunk when building kNN graphs.
        excluded_items (LongTensor, optional): Sorted ids of items taken out
            of the catalogue (an unlearning request removed them): they are
            masked from every ranking.
        hidden_edge_index (LongTensor, optional): ``[2, H]`` training pairs
            hidden from this copy (label-noise experiments,
            :func:`~mmgraph.data.noise.hide_positives`).
        synthetic (SyntheticData, optional): The generator's arrays and
            hidden factors (:func:`~mmgraph.data.make_synthetic`).
        cold_items (LongTensor, optional): The cold items of a cold-start
            split (no training interaction; held-out interactions in
            validation / test; see ``prepare --cold-items``), read from
            ``cold_items.txt``. ``None`` for an ordinary split.
    """

    name: str
    root: Optional[Path]
    num_users: int
    num_items: int
    knn_k: int
    mm_image_weight: float
    knn_chunk_size: int
    features: Dict[str, Tensor]
    train_edge_index: Tensor
    valid_edge_index: Tensor
    test_edge_index: Tensor
    cold_start_dropped: Dict[str, int]
    excluded_items: Optional[Tensor]
    hidden_edge_index: Optional[Tensor]
    synthetic: Optional[Any]
    cold_items: Optional[Tensor]

    def __init__(self, name: str, num_users: int, num_items: int, train_edge_index: Tensor,
                 valid_edge_index: Tensor, test_edge_index: Tensor,
                 features: Optional[Mapping[str, Union[Tensor, np.ndarray]]] = None,
                 root: Optional[PathLike] = None, knn_k: int = 10,
                 mm_image_weight: float = 0.1, knn_chunk_size: int = 4096,
                 excluded_items: Optional[Tensor] = None,
                 hidden_edge_index: Optional[Tensor] = None,
                 synthetic: Optional[Any] = None,
                 cold_items: Optional[Union[Tensor, np.ndarray]] = None) -> None:
        self.name = name
        self.root = None if root is None else Path(root)
        self.num_users = int(num_users)
        self.num_items = int(num_items)
        self.knn_k = int(knn_k)
        self.mm_image_weight = float(mm_image_weight)
        self.knn_chunk_size = int(knn_chunk_size)
        #: Keep built kNN graphs in ``<root>/.mmgraph_cache/`` (see :meth:`knn_graph`).
        self.cache_knn = True
        self.features: Dict[str, Tensor] = {}
        for m in sorted(features or {}):
            x = torch.as_tensor(np.asarray(features[m]) if not isinstance(features[m], Tensor)
                                else features[m]).float().contiguous()
            if x.dim() != 2 or x.size(0) != self.num_items:
                raise DataFormatError(f"expected [{self.num_items}, d] features, got "
                                      f"{tuple(x.shape)}", self.root, None, m)
            self.features[m] = x
        self.train_edge_index = _sorted_unique_pairs(train_edge_index, self.num_users,
                                                     self.num_items)
        has_train = self._has_train()
        dropped = {}
        splits = {}
        for split, ei in (("valid", valid_edge_index), ("test", test_edge_index)):
            ei = _sorted_unique_pairs(ei, self.num_users, self.num_items)
            splits[split], dropped[split] = _drop_cold(ei, has_train)
        self.valid_edge_index, self.test_edge_index = splits["valid"], splits["test"]
        if dropped["valid"] or dropped["test"]:
            log.info("cold-start filter: dropped %d validation and %d test interaction(s) of "
                     "users absent from train", dropped["valid"], dropped["test"])
        self.cold_start_dropped = dropped
        self.excluded_items = excluded_items
        self.hidden_edge_index = hidden_edge_index
        self.synthetic = synthetic
        self.cold_items: Optional[Tensor] = None
        if cold_items is not None:
            cold = torch.unique(torch.as_tensor(np.asarray(cold_items)).long())
            if cold.numel() and (cold.min() < 0 or cold.max() >= self.num_items):
                raise DataFormatError(f"cold item ids must lie in [0, {self.num_items})",
                                      self.root, None, COLD_ITEMS_FILE)
            warm = torch.isin(cold, self.train_edge_index[1])
            if warm.any():
                raise DataFormatError(f"item {int(cold[warm][0])} is listed as cold but has "
                                      "training interactions; expected none",
                                      self.root, None, COLD_ITEMS_FILE)
            self.cold_items = cold
        self._cache: Dict[Any, Any] = {}

    # ------------------------------------------------------------------ build
    @classmethod
    def from_interactions(cls, user: np.ndarray, item: np.ndarray, label: np.ndarray,
                          features: Optional[Mapping[str, np.ndarray]] = None,
                          name: str = "dataset", root: Optional[PathLike] = None,
                          source: Optional[str] = None, **kwargs) -> "RecDataset":
        r"""Build from flat arrays of (non-negative integer) user ids, item
        ids and split labels 0/1/2. Duplicate pairs are dropped (the copy
        with the smallest label is kept, so a pair in train and test stays in
        train) and counted in a log line; an empty split is an error."""
        user = np.asarray(user, np.int64)
        item = np.asarray(item, np.int64)
        label = np.asarray(label, np.int64)
        src = source if source is not None else root
        if user.size == 0:
            raise DataFormatError("no interactions", src)
        counts = np.bincount(label, minlength=3)
        for s, split in enumerate(SPLIT_NAMES):
            if counts[s] == 0:
                raise DataFormatError(f"the {split} split is empty (no row with x_label={s}); "
                                      "expected rows in train, valid and test", src, None,
                                      "x_label")
        num_users = int(user.max()) + 1
        num_items = int(item.max()) + 1
        key = user * num_items + item
        order = np.lexsort((np.arange(user.size), label, key))
        first = np.ones(user.size, bool)
        first[1:] = key[order][1:] != key[order][:-1]
        keep = order[first]
        if keep.size != user.size:
            log.warning("%s: dropped %d duplicate (user, item) interaction(s)",
                        src or name, user.size - keep.size)
        user, item, label = user[keep], item[keep], label[keep]
        ei = torch.from_numpy(np.stack([user, item]))
        lab = torch.from_numpy(label)
        if features:
            for m, x in features.items():
                if np.asarray(x).shape[0] != num_items:
                    raise DataFormatError(
                        f"has {np.asarray(x).shape[0]} rows but the dataset has {num_items} "
                        "items (max itemID + 1)", src, None, f"{m} features")
        return cls(name, num_users, num_items, ei[:, lab == 0], ei[:, lab == 1], ei[:, lab == 2],
                   features, root=root, **kwargs)

    @classmethod
    def from_folder(cls, folder: PathLike, name: Optional[str] = None, **kwargs) -> "RecDataset":
        r"""Load an MMRec folder (``<name>.inter`` + ``<modality>_feat.npy``);
        :obj:`name` defaults to the stem of the single ``*.inter`` file.
        :obj:`folder` may also be the ``<name>.inter`` file itself."""
        inter_path = find_inter_file(folder, name)
        folder = inter_path.parent
        inter = read_inter(inter_path)
        if len(inter) == 0:
            raise DataFormatError("no interactions (only a header)", inter_path)
        num_items = int(inter.item.max()) + 1
        feats = read_features(folder, num_items)
        if (folder / COLD_ITEMS_FILE).exists() and "cold_items" not in kwargs:
            kwargs["cold_items"] = read_cold_items(folder / COLD_ITEMS_FILE, num_items)
        return cls.from_interactions(inter.user, inter.item, inter.label, feats,
                                     name=inter_path.stem, root=folder,
                                     source=str(inter_path), **kwargs)

    def _has_train(self) -> Tensor:
        has = torch.zeros(self.num_users, dtype=torch.bool)
        has[self.train_edge_index[0]] = True
        return has

    def with_train_edges(self, edge_index: Tensor,
                         drop_items_features: None = None) -> "RecDataset":
        r"""A copy with another training set (same id space, same features,
        same validation / test rows re-filtered for users that are now
        cold; all caches cleared). Used by unlearning and label-noise
        experiments."""
        if drop_items_features is not None:
            raise NotImplementedError("drop_items_features is reserved; pass None")
        edge_index = torch.as_tensor(edge_index).long()
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"expected a [2, E] edge_index, got {tuple(edge_index.shape)}")
        if edge_index.numel() and (edge_index.min() < 0 or edge_index[0].max() >= self.num_users
                                   or edge_index[1].max() >= self.num_items):
            raise ValueError("edge_index has ids outside the dataset's id space")
        new = copy.copy(self)
        new.train_edge_index = _sorted_unique_pairs(edge_index, self.num_users,
                                                    self.num_items)
        has_train = new._has_train()
        new.valid_edge_index, dv = _drop_cold(self.valid_edge_index, has_train)
        new.test_edge_index, dt = _drop_cold(self.test_edge_index, has_train)
        if dv or dt:
            log.info("cold-start filter: dropped %d validation and %d test interaction(s) of "
                     "users absent from the new train set", dv, dt)
        new.cold_start_dropped = {"valid": self.cold_start_dropped["valid"] + dv,
                                  "test": self.cold_start_dropped["test"] + dt}
        new._cache = {k: v for k, v in self._cache.items() if k[0] == "knn"}  # features unchanged
        return new

    # ----------------------------------------------------------------- access
    @property
    def modalities(self) -> List[str]:
        return sorted(self.features)

    def split_edge_index(self, split: str) -> Tensor:
        r"""``[2, E]`` (user, item) pairs of ``'train'``, ``'valid'`` or
        ``'test'``."""
        if split == "train":
            return self.train_edge_index
        if split in ("valid", "validation", "val"):
            return self.valid_edge_index
        if split == "test":
            return self.test_edge_index
        raise ValueError(f"unknown split {split!r}; expected 'train', 'valid' or 'test'")

    def train_csr(self) -> Tuple[Tensor, Tensor]:
        r"""``(indptr [U + 1], items)``: the training items of user ``u`` are
        ``items[indptr[u]:indptr[u + 1]]`` (sorted)."""
        key = ("csr",)
        if key not in self._cache:
            self._cache[key] = (index2ptr(self.train_edge_index[0], self.num_users),
                                self.train_edge_index[1].clone())
        return self._cache[key]

    def norm_adj(self) -> Tensor:
        r"""The cached :math:`\mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}` of
        the training graph as a ``[U + I, U + I]`` sparse CSR tensor (items
        offset by :math:`U`); see
        :func:`~mmgraph.data.graphs.normalized_adjacency`."""
        key = ("adj",)
        if key not in self._cache:
            self._cache[key] = normalized_adjacency(self.train_edge_index, self.num_users,
                                                    self.num_items)
        return self._cache[key]

    def fusion_weights(self) -> Dict[str, float]:
        return fusion_weights(self.modalities, self.mm_image_weight)

    def knn_graph(self, modality: Optional[str] = None,
                  k: Optional[int] = None) -> Tuple[Tensor, Tensor]:
        r"""Item–item kNN graph ``(edge_index, edge_weight)`` of one
        modality, or (``modality=None``) the weighted fusion of all of them
        (:func:`~mmgraph.data.graphs.fuse_graphs` with
        :meth:`fusion_weights`), in PyG's ``source_to_target`` flow
        (``edge_index[0]`` the neighbour, ``edge_index[1]`` the item that
        aggregates). Cached per (modality, k, weight) in memory and, for a
        dataset read from a folder (with :attr:`cache_knn`), each modality's
        graph also on disk as ``<root>/.mmgraph_cache/knn-<modality>-k<k>-<digest>.npy``
        (its neighbour table; the digest is that of the feature matrix's bytes, so
        other features never meet a stale graph). At Elec scale (63K items, 4096-d)
        a build costs minutes on one core and a cached read well under a second.
        An unreadable cache file is rebuilt; a folder that cannot be written is
        left alone."""
        k = self.knn_k if k is None else int(k)
        if not self.features:
            raise ValueError(f"dataset '{self.name}' has no item features, so no kNN graph")
        if modality is None:
            key = ("knn", None, k, self.mm_image_weight)
            if key not in self._cache:
                graphs = {m: self.knn_graph(m, k) for m in self.modalities}
                self._cache[key] = fuse_graphs(graphs, self.fusion_weights(), self.num_items)
            return self._cache[key]
        if modality not in self.features:
            raise KeyError(f"unknown modality {modality!r}; available: {self.modalities}")
        key = ("knn", modality, k)
        if key not in self._cache:
            self._cache[key] = self._knn_graph_via_disk(modality, k)
        return self._cache[key]

    def _knn_graph_via_disk(self, modality: str, k: int) -> Tuple[Tensor, Tensor]:
        x = self.features[modality]
        if self.root is None or not self.cache_knn:
            return knn_graph(x, k, self.knn_chunk_size)
        h = hashlib.sha256(f"{x.dtype}:{tuple(x.shape)};".encode())
        h.update(x.detach().cpu().contiguous().numpy().tobytes())
        path = self.root / KNN_CACHE_DIR / f"knn-{modality}-k{k}-{h.hexdigest()[:16]}.npy"
        if path.is_file():
            try:
                graph = knn_graph_from_neighbours(torch.from_numpy(
                    np.load(path, allow_pickle=False)))
                if graph[0].size(1) == x.size(0) * min(k, x.size(0)):
                    return tuple(t.to(x.device) for t in graph)
                raise ValueError("it has another size")
            except (OSError, ValueError, EOFError) as e:
                log.warning("%s: unusable cached kNN graph (%s); rebuilding it", path, e)
        graph = knn_graph(x, k, self.knn_chunk_size)
        try:
            atomic_save_npy(path, graph[0][0].view(x.size(0), -1).cpu().numpy())
        except OSError as e:  # a read-only or full folder: keep going without
            log.info("kNN graph not cached at %s (%s)", path, e)
        return graph

    # ------------------------------------------------------------ HeteroData
    def to_heterodata(self, knn: bool = True):
        r"""The dataset as a :class:`~torch_geometric.data.HeteroData`, in
        the layout of PyG's recommendation datasets
        (:class:`~torch_geometric.datasets.AmazonBook`,
        :class:`~torch_geometric.datasets.Gowalla`, ...):

        * node types ``user`` and ``item`` (``num_nodes``), item features
          ``data['item'][f'x_{m}']``;
        * ``('user', 'interacts', 'item')``: the training ``edge_index``
          (message-passing edges), the held-out test pairs as
          ``edge_label_index`` and the validation pairs as
          ``val_edge_label_index``; the reverse
          ``('item', 'rev_interacts', 'user')``;
        * with :obj:`knn`, ``('item', f'similar_{m}', 'item')`` per modality
          and the fused ``('item', 'similar', 'item')``, each with
          ``edge_index`` (``source_to_target``: row 0 the neighbour, row 1
          the item) and ``edge_weight``;
        * the dataset's settings as graph-level attributes (``name``,
          ``knn_k``, ``mm_image_weight``, ...), and the optional fields
          (``data['item'].excluded_items``, the relation's
          ``hidden_edge_index``) when set,

        so that :meth:`from_heterodata` gives back an equal dataset.
        """
        from torch_geometric.data import HeteroData
        data = HeteroData()
        data.name = self.name
        data.knn_k = self.knn_k
        data.mm_image_weight = self.mm_image_weight
        data.knn_chunk_size = self.knn_chunk_size
        data.cold_start_dropped = dict(self.cold_start_dropped)
        if self.root is not None:
            data.root = str(self.root)
        if self.synthetic is not None:
            data.synthetic = self.synthetic
        data["user"].num_nodes = self.num_users
        data["item"].num_nodes = self.num_items
        for m, x in self.features.items():
            data["item"][f"x_{m}"] = x
        if self.excluded_items is not None:
            data["item"].excluded_items = self.excluded_items
        rel = data[_USER, _REL, _ITEM]
        rel.edge_index = self.train_edge_index
        rel.edge_label_index = self.test_edge_index
        rel.val_edge_label_index = self.valid_edge_index
        if self.hidden_edge_index is not None:
            rel.hidden_edge_index = self.hidden_edge_index
        data[_ITEM, f"rev_{_REL}", _USER].edge_index = self.train_edge_index.flip(0)
        if knn and self.features:
            for m in self.modalities:
                ei, ew = self.knn_graph(m)
                data[_ITEM, f"similar_{m}", _ITEM].edge_index = ei
                data[_ITEM, f"similar_{m}", _ITEM].edge_weight = ew
            ei, ew = self.knn_graph(None)
            data[_ITEM, "similar", _ITEM].edge_index = ei
            data[_ITEM, "similar", _ITEM].edge_weight = ew
        return data

    @classmethod
    def from_heterodata(cls, data, edge_type: Optional[Tuple[str, str, str]] = None,
                        valid_ratio: Optional[float] = None, seed: int = 0,
                        **kwargs) -> "RecDataset":
        r"""Build a dataset from a :class:`~torch_geometric.data.HeteroData`:
        the inverse of :meth:`to_heterodata`, and the way in for a graph
        built elsewhere (e.g. :class:`torch_geometric.datasets.AmazonBook`).

        The user–item relation is :obj:`edge_type`, or the only relation
        between two different node types whose name does not start with
        ``rev_``; its source type holds the users, its destination type the
        items. It gives the training pairs (``edge_index``), the test pairs
        (``edge_label_index``; with an ``edge_label``, the pairs labelled
        non-zero) and the validation pairs (``val_edge_label_index``).
        Item features are the item type's ``x_<modality>`` attributes (a
        plain ``x`` becomes modality ``"x"``).

        Args:
            data (HeteroData): The graph.
            edge_type (tuple, optional): The user–item relation.
            valid_ratio (float, optional): Without ``val_edge_label_index``,
                move this random share of the test pairs to validation
                (seeded by :obj:`seed`); without either, an error.
            seed (int): Seed of that draw (a private generator).
            **kwargs: Override the stored ``name``, ``knn_k``,
                ``mm_image_weight`` or ``knn_chunk_size``.
        """
        src = "HeteroData"
        if edge_type is None:
            cands = [et for et in data.edge_types
                     if et[0] != et[2] and not et[1].startswith("rev_")]
            if len(cands) != 1:
                raise DataFormatError(f"expected exactly one user-item relation, found {cands}; "
                                      "pass edge_type=(user_type, relation, item_type)", src)
            edge_type = cands[0]
        edge_type = tuple(edge_type)
        if edge_type not in data.edge_types:
            raise DataFormatError(f"has no relation {edge_type}; relations: {data.edge_types}",
                                  src, None, "edge_type")
        user_type, _, item_type = edge_type
        rel = data[edge_type]

        def pairs(key: str) -> Optional[Tensor]:
            ei = getattr(rel, key, None)
            if ei is None:
                return None
            ei = torch.as_tensor(ei).long()
            if ei.dim() != 2 or ei.size(0) != 2:
                raise DataFormatError(f"expected a [2, E] tensor, got {tuple(ei.shape)}", src,
                                      None, f"{edge_type}.{key}")
            return ei

        train, test, valid = pairs("edge_index"), pairs("edge_label_index"), \
            pairs("val_edge_label_index")
        if train is None or test is None:
            raise DataFormatError("needs the training 'edge_index' and the held-out "
                                  "'edge_label_index' of the user-item relation", src, None,
                                  str(edge_type))
        label = getattr(rel, "edge_label", None)
        if label is not None:
            test = test[:, torch.as_tensor(label).view(-1) != 0]
        if valid is None:
            if valid_ratio is None or not 0.0 < float(valid_ratio) < 1.0:
                raise DataFormatError("has no validation pairs 'val_edge_label_index'; pass "
                                      "valid_ratio in (0, 1) to draw them from the test pairs",
                                      src, None, str(edge_type))
            perm = torch.randperm(test.size(1), generator=torch.Generator().manual_seed(seed))
            cut = int(round(float(valid_ratio) * test.size(1)))
            valid, test = test[:, perm[:cut]], test[:, perm[cut:]]

        def count(node_type: str, row: int) -> int:
            n = data[node_type].num_nodes
            if n is not None:
                return int(n)
            ids = [e[row] for e in (train, valid, test) if e.numel()]
            return int(torch.cat(ids).max()) + 1 if ids else 0

        items = data[item_type]
        features = {key[2:]: items[key] for key in items.keys() if key.startswith("x_")}
        if "x" in items.keys():
            features["x"] = items["x"]
        settings = {k: getattr(data, k) for k in ("name", "knn_k", "mm_image_weight",
                                                  "knn_chunk_size") if k in data}
        settings.setdefault("name", "heterodata")
        settings.update(kwargs)
        excluded = items["excluded_items"] if "excluded_items" in items.keys() else None
        ds = cls(num_users=count(user_type, 0), num_items=count(item_type, 1),
                 train_edge_index=train, valid_edge_index=valid, test_edge_index=test,
                 features=features, root=getattr(data, "root", None),
                 excluded_items=excluded, hidden_edge_index=pairs("hidden_edge_index"),
                 synthetic=getattr(data, "synthetic", None), **settings)
        stored = getattr(data, "cold_start_dropped", None)
        if stored is not None:
            ds.cold_start_dropped = {k: int(stored[k]) + ds.cold_start_dropped[k]
                                     for k in ds.cold_start_dropped}
        return ds

    def fingerprint(self) -> str:
        r"""A SHA-256 hex digest of the dataset's content: the sizes, the
        training, validation and test pairs, each modality's features (name,
        dtype, shape and bytes) and, when set, the excluded items. Equal
        content gives the same digest in any process; a re-split, another
        feature file or an unlearning request gives another."""
        h = hashlib.sha256()

        def put(tag: str, t: Tensor) -> None:
            t = t.detach().cpu().contiguous()
            h.update(f"{tag}:{t.dtype}:{tuple(t.shape)};".encode())
            h.update(t.numpy().tobytes())

        h.update(f"users={self.num_users};items={self.num_items};".encode())
        for split in SPLIT_NAMES:
            put(split, self.split_edge_index(split).long())
        for m in self.modalities:
            put(f"features/{m}", self.features[m])
        if self.excluded_items is not None:
            put("excluded_items", torch.as_tensor(self.excluded_items).long())
        return h.hexdigest()

    def id_mapping(self, kind: str = "item") -> Optional[List[str]]:
        r"""Raw ids (``u_id_mapping.csv`` / ``i_id_mapping.csv``) indexed by
        new id, or ``None`` when the folder has no map."""
        if self.root is None:
            return None
        path = self.root / ("u_id_mapping.csv" if kind == "user" else "i_id_mapping.csv")
        return read_id_mapping(path) if path.exists() else None

    # ---------------------------------------------------------------- summary
    def summary(self, components: bool = True) -> Dict[str, Any]:
        r"""The dataset card: sizes, split counts, density, degree statistics
        (over all splits), modalities and, with :obj:`components`, the
        connected components of the training graph (via networkx)."""
        counts = {s: int(self.split_edge_index(s).size(1)) for s in SPLIT_NAMES}
        total = sum(counts.values())
        all_ei = torch.cat([self.train_edge_index, self.valid_edge_index,
                            self.test_edge_index], 1)

        def stats(idx: Tensor, n: int) -> Dict[str, float]:
            d = torch.bincount(idx, minlength=n).double()
            if n == 0:
                return {"min": 0, "median": 0, "mean": 0, "max": 0}
            return {"min": int(d.min()), "median": float(d.median()),
                    "mean": float(d.mean()), "max": int(d.max())}

        out: Dict[str, Any] = {
            "name": self.name,
            "root": None if self.root is None else str(self.root),
            "num_users": self.num_users,
            "num_items": self.num_items,
            "interactions": {**counts, "total": total},
            "density": total / max(1, self.num_users * self.num_items),
            "user_degree": stats(all_ei[0], self.num_users),
            "item_degree": stats(all_ei[1], self.num_items),
            "items_in_train": int(torch.unique(self.train_edge_index[1]).numel()),
            "users_in_train": int(torch.unique(self.train_edge_index[0]).numel()),
            "cold_start_dropped": dict(self.cold_start_dropped),
            # the cold items of a cold-start split (cold_items.txt), a subset of
            # the items without training interactions counted above
            "cold_items": 0 if self.cold_items is None else int(self.cold_items.numel()),
            "modalities": {m: int(x.size(1)) for m, x in self.features.items()},
        }
        if components:
            import networkx as nx
            g = nx.Graph()
            g.add_nodes_from(range(self.num_users + self.num_items))
            ei = self.train_edge_index
            g.add_edges_from(zip(ei[0].tolist(), (ei[1] + self.num_users).tolist()))
            sizes = sorted((len(c) for c in nx.connected_components(g)), reverse=True)
            out["components"] = {"count": len(sizes), "largest": sizes[0] if sizes else 0,
                                 "isolated_nodes": sum(1 for s in sizes if s == 1)}
        return out

    def __repr__(self) -> str:
        return (f"RecDataset(name={self.name!r}, users={self.num_users}, items={self.num_items}, "
                f"train={self.train_edge_index.size(1)}, valid={self.valid_edge_index.size(1)}, "
                f"test={self.test_edge_index.size(1)}, modalities={self.modalities}"
                + ("" if self.cold_items is None else f", cold_items={self.cold_items.numel()}")
                + ")")

