r"""Getting a trained run out of mmgraph: embeddings with raw ids (``npz``),
a FAISS inner-product index (``faiss``) and an ONNX scorer (``onnx``).

Every mmgraph model scores a (user, item) pair by the inner product of its
final representations,

.. math::
    s(u, i) = \mathbf{e}_u^{\top} \mathbf{e}_i,

which :meth:`~mmgraph.models.Recommender.embeddings` returns once the graph
propagation (and any modality fusion) is done. An export therefore runs the
model **once**, in eval mode, and keeps the two tables
:math:`\mathbf{E}_U \in \mathbb{R}^{U \times d}` and
:math:`\mathbf{E}_I \in \mathbb{R}^{I \times d}`; nothing in it needs
PyTorch, PyG or the dataset afterwards. A model that overrides
:meth:`~mmgraph.models.Recommender.score` (a scorer that is not a plain inner
product) is refused with :class:`ExportError` rather than exported wrongly.

:class:`EmbeddingIndex` is the in-memory form shared by the three formats and
by :mod:`mmgraph.serve`: the tables, the raw user and item ids of the
prepared folder's id maps (``str(i)`` when the dataset has none), and what a
recommendation must exclude, namely each user's training items (as CSR) and
the items taken out of the catalogue by an unlearning request. Its
:meth:`~EmbeddingIndex.topk` is the same ranking as ``mmgraph recommend``
(:meth:`mmgraph.evaluation.Evaluator.rank`).

Files (``mmgraph export --run R --format F --out PATH``):

* ``npz`` -- ``PATH`` is a NumPy archive with ``user_ids``, ``item_ids``
  (raw ids, strings), ``user_emb``, ``item_emb`` (float32), ``train_indptr``,
  ``train_items`` (the training items of internal user ``u`` are
  ``train_items[train_indptr[u]:train_indptr[u+1]]``), ``excluded_items``,
  ``score`` (``"dot"``) and ``model``.
* ``faiss`` -- ``PATH`` is a serialised ``faiss.IndexFlatIP`` over the item
  embeddings (FAISS id = internal item id), and ``PATH.npz`` the archive
  above (the user vectors to query with, raw ids, training items). A plain
  search returns the unmasked top-k; :func:`faiss_topk` over-fetches and
  drops training items, which gives ``recommend``'s lists.
* ``onnx`` -- ``PATH`` is an ONNX graph ``user_ids int64 [B] -> scores
  float32 [B, I]`` (a ``Gather`` of the user table and a ``MatMul`` with the
  item table, both stored as initializers; opset 13), and ``PATH.npz`` the
  archive above for the raw ids and training items. When ``onnxruntime`` is
  installed the export checks the graph against the PyTorch scores.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from mmgraph.errors import MMGraphError, MissingExtraError, did_you_mean
from mmgraph.io import atomic_write_bytes
from mmgraph.runs import load_run

__all__ = ["EmbeddingIndex", "ExportError", "UnknownUserError", "FORMATS",
           "export_run", "export_npz", "export_faiss", "export_onnx",
           "load_faiss", "faiss_topk", "sidecar_path"]

#: The export formats, in the order ``--format`` lists them.
FORMATS = ("npz", "faiss", "onnx")

PathLike = Union[str, Path]


class ExportError(MMGraphError, ValueError):
    r"""A run that cannot be exported in the asked format (e.g. a model whose
    scorer is not an inner product, or an unknown format)."""


class UnknownUserError(MMGraphError, LookupError):
    r"""A raw user id that is not in the run's dataset."""


def _require(package: str, extra: str, purpose: str):
    import importlib
    import logging
    # faiss logs at INFO how its loader tried each build ("Could not load
    # library with AVX2 support due to: ModuleNotFoundError(...)"), which
    # reads like a failure on the command line's log.
    quiet = logging.getLogger(package.split(".")[0])
    level = quiet.level
    quiet.setLevel(max(level, logging.WARNING))
    try:
        return importlib.import_module(package)
    except ImportError:
        raise MissingExtraError(package.split(".")[0].replace("_", "-"),
                                extra, purpose) from None
    finally:
        quiet.setLevel(level)


def _raw_ids(dataset, kind: str, n: int) -> np.ndarray:
    ids = dataset.id_mapping(kind) if hasattr(dataset, "id_mapping") else None
    if ids is None or len(ids) != n:
        return np.arange(n).astype(str)
    return np.asarray(ids, dtype=str)


class EmbeddingIndex:
    r"""The exported state of a run: final user / item embeddings, raw ids
    and the items each user must not be recommended.

    Ranking is the inner product :math:`\mathbf{E}_U[u] \mathbf{E}_I^{\top}`
    with the user's training items and the catalogue's excluded items set to
    :math:`-\infty`, computed for a batch of users with one matrix product
    and masked without a loop over users (the CSR ranges are expanded with
    ``repeat_interleave``).

    Args:
        user_emb (Tensor): ``[U, d]``.
        item_emb (Tensor): ``[I, d]``.
        user_ids (Sequence[str]): raw user ids, indexed by internal id.
        item_ids (Sequence[str]): raw item ids, indexed by internal id.
        train_indptr (Tensor): ``[U + 1]`` CSR pointers of training items.
        train_items (Tensor): CSR column indices (items) of training items.
        excluded_items (Tensor, optional): items never recommended.
        model (str): the model's name (informative).
    """

    def __init__(self, user_emb: Tensor, item_emb: Tensor,
                 user_ids: Sequence[str], item_ids: Sequence[str],
                 train_indptr: Tensor, train_items: Tensor,
                 excluded_items: Optional[Tensor] = None,
                 model: str = "") -> None:
        self.user_emb = torch.as_tensor(user_emb).detach().float().cpu()
        self.item_emb = torch.as_tensor(item_emb).detach().float().cpu()
        self.user_ids = np.asarray(user_ids, dtype=str)
        self.item_ids = np.asarray(item_ids, dtype=str)
        self.train_indptr = torch.as_tensor(train_indptr).long().cpu()
        self.train_items = torch.as_tensor(train_items).long().cpu()
        self.excluded_items = torch.as_tensor(
            [] if excluded_items is None else excluded_items).long().cpu()
        self.model = str(model)
        U, I = self.user_emb.size(0), self.item_emb.size(0)
        if (len(self.user_ids) != U or len(self.item_ids) != I
                or self.train_indptr.numel() != U + 1
                or self.user_emb.size(1) != self.item_emb.size(1)):
            raise ExportError(
                f"inconsistent embedding index: {U} user rows / "
                f"{len(self.user_ids)} user ids, {I} item rows / "
                f"{len(self.item_ids)} item ids, {self.train_indptr.numel()} "
                f"CSR pointers (expected users + 1)")
        self._user_pos = {raw: i for i, raw in enumerate(self.user_ids.tolist())}

    # ------------------------------------------------------------ building
    @classmethod
    @torch.no_grad()
    def from_model(cls, model, dataset, name: str = "") -> "EmbeddingIndex":
        r"""Runs ``model`` once in eval mode; refuses a model whose
        :meth:`score` is not the inner product of its embeddings."""
        from mmgraph.models import Recommender
        if type(model).score is not Recommender.score:
            raise ExportError(
                f"model {name or type(model).__name__!r} overrides score(): its "
                f"scores are not the inner product of exported embeddings, so "
                f"npz/faiss/onnx exports would rank wrongly; export is "
                f"supported for inner-product models only")
        was_training = model.training
        model.eval()
        try:
            user_emb, item_emb = model.embeddings()
        finally:
            model.train(was_training)
        indptr, items = dataset.train_csr()
        excluded = getattr(dataset, "excluded_items", None)
        return cls(user_emb, item_emb,
                   _raw_ids(dataset, "user", dataset.num_users),
                   _raw_ids(dataset, "item", dataset.num_items),
                   indptr, items, excluded, name)

    @classmethod
    def from_run(cls, run_dir: PathLike) -> "EmbeddingIndex":
        r"""Loads a finished run (or a grid folder's selected run) and
        computes its embeddings once."""
        model, dataset, results = load_run(run_dir, device="cpu")
        return cls.from_model(model, dataset, results.get("model", ""))

    # ------------------------------------------------------------- npz I/O
    def to_arrays(self) -> Dict[str, np.ndarray]:
        return {"user_ids": self.user_ids, "item_ids": self.item_ids,
                "user_emb": self.user_emb.numpy(),
                "item_emb": self.item_emb.numpy(),
                "train_indptr": self.train_indptr.numpy(),
                "train_items": self.train_items.numpy(),
                "excluded_items": self.excluded_items.numpy(),
                "score": np.asarray("dot"), "model": np.asarray(self.model)}

    def save_npz(self, path: PathLike) -> Path:
        r"""Writes the archive atomically (see the module docstring)."""
        buf = io.BytesIO()
        np.savez(buf, **self.to_arrays())
        atomic_write_bytes(path, buf.getvalue())
        return Path(path)

    @classmethod
    def load_npz(cls, path: PathLike) -> "EmbeddingIndex":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise ExportError(f"{path}: cannot read the embedding archive "
                              f"({e})") from None
        missing = {"user_ids", "item_ids", "user_emb", "item_emb",
                   "train_indptr", "train_items"} - set(arrays)
        if missing:
            raise ExportError(f"{path}: not an mmgraph npz export (missing "
                              f"{sorted(missing)})")
        if str(arrays.get("score", "dot")) != "dot":
            raise ExportError(f"{path}: score {str(arrays['score'])!r} is not "
                              f"supported (expected 'dot')")
        return cls(torch.from_numpy(arrays["user_emb"]),
                   torch.from_numpy(arrays["item_emb"]), arrays["user_ids"],
                   arrays["item_ids"], torch.from_numpy(arrays["train_indptr"]),
                   torch.from_numpy(arrays["train_items"]),
                   torch.from_numpy(arrays.get("excluded_items",
                                               np.zeros(0, np.int64))),
                   str(arrays.get("model", "")))

    # ------------------------------------------------------------- ranking
    @property
    def num_users(self) -> int:
        return self.user_emb.size(0)

    @property
    def num_items(self) -> int:
        return self.item_emb.size(0)

    def user_index(self, raw_id: str) -> int:
        r"""The internal id of a raw user id (:class:`UnknownUserError` if
        the run has no such user)."""
        try:
            return self._user_pos[str(raw_id)]
        except KeyError:
            raise UnknownUserError(
                f"unknown user id {str(raw_id)!r} (the run has "
                f"{self.num_users} users)") from None

    def scores(self, users: Tensor) -> Tensor:
        r"""Unmasked scores ``[len(users), I]``."""
        return self.user_emb[users] @ self.item_emb.t()

    def train_pairs(self, users: Tensor) -> Tuple[Tensor, Tensor]:
        r"""``(row, item)``: the training items of ``users[row]``."""
        start = self.train_indptr[users]
        counts = self.train_indptr[users + 1] - start
        rows = torch.repeat_interleave(torch.arange(users.numel()), counts)
        offsets = torch.arange(int(counts.sum())) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts)
        return rows, self.train_items[start[rows] + offsets]

    @torch.no_grad()
    def topk(self, users: Union[Tensor, Sequence[int]], k: int,
             exclude_train: bool = True) -> Tuple[Tensor, Tensor]:
        r"""``(items [B, k], scores [B, k])`` for internal user ids, best
        first; with :obj:`exclude_train` the user's training items and the
        excluded items are never returned (their score would be
        :math:`-\infty`; lists are cut where only such items remain, so a
        row may hold ``-1`` items with ``-inf`` scores at its end)."""
        users = torch.as_tensor(users, dtype=torch.long).reshape(-1)
        scores = self.scores(users)
        if exclude_train:
            if self.excluded_items.numel():
                scores[:, self.excluded_items] = float("-inf")
            rows, items = self.train_pairs(users)
            scores[rows, items] = float("-inf")
        values, items = scores.topk(min(int(k), self.num_items), dim=1)
        items = items.masked_fill(values == float("-inf"), -1)
        return items, values

    def recommend(self, raw_user: str, k: int = 10) -> Dict[str, Any]:
        r"""Top-``k`` for one raw user id as a JSON-ready dict
        ``{"user", "k", "items": [{"item", "score"}, ...]}``."""
        u = self.user_index(raw_user)
        items, values = self.topk([u], k)
        keep = items[0] >= 0
        return {"user": str(raw_user), "k": int(k),
                "items": [{"item": str(self.item_ids[i]), "score": float(s)}
                          for i, s in zip(items[0][keep].tolist(),
                                          values[0][keep].tolist())]}

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(model={self.model!r}, "
                f"users={self.num_users}, items={self.num_items}, "
                f"dim={self.user_emb.size(1)})")


# ------------------------------------------------------------------ formats
def export_npz(index: EmbeddingIndex, out: PathLike) -> Path:
    r"""Writes the ``npz`` archive (see the module docstring)."""
    return index.save_npz(out)


def sidecar_path(out: PathLike) -> Path:
    r"""The ``npz`` archive written next to a ``faiss`` or ``onnx`` export."""
    return Path(f"{out}.npz")


def export_faiss(index: EmbeddingIndex, out: PathLike) -> Path:
    r"""Writes a ``faiss.IndexFlatIP`` over the item embeddings to ``out``
    and the ``npz`` archive to ``out.npz``."""
    faiss = _require("faiss", "export", "the faiss export")
    flat = faiss.IndexFlatIP(index.item_emb.size(1))
    flat.add(np.ascontiguousarray(index.item_emb.numpy(), dtype=np.float32))
    data = faiss.serialize_index(flat)
    index.save_npz(sidecar_path(out))
    atomic_write_bytes(out, np.asarray(data).tobytes())
    return Path(out)


def load_faiss(path: PathLike):
    r"""``(faiss_index, EmbeddingIndex)`` of a ``faiss`` export."""
    faiss = _require("faiss", "export", "reading a faiss export")
    path = Path(path)
    try:
        data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
        flat = faiss.deserialize_index(data)
    except (OSError, RuntimeError) as e:
        raise ExportError(f"{path}: cannot read the faiss index ({e})") \
            from None
    return flat, EmbeddingIndex.load_npz(sidecar_path(path))


def faiss_topk(flat, index: EmbeddingIndex, users: Union[Tensor, Sequence[int]],
               k: int, exclude_train: bool = True) -> Tuple[Tensor, Tensor]:
    r"""Top-``k`` from a FAISS index, with the same exclusions as
    :meth:`EmbeddingIndex.topk`: FAISS is asked for ``k`` plus the largest
    number of excluded items any of the users has, then excluded hits are
    dropped (a stable sort moves kept hits to the front, no loop over
    users)."""
    users = torch.as_tensor(users, dtype=torch.long).reshape(-1)
    query = np.ascontiguousarray(index.user_emb[users].numpy())
    if not exclude_train:
        values, items = flat.search(query, min(int(k), index.num_items))
        return torch.from_numpy(items), torch.from_numpy(values)
    counts = index.train_indptr[users + 1] - index.train_indptr[users]
    extra = int(counts.max()) if users.numel() else 0
    fetch = min(int(k) + extra + index.excluded_items.numel(), index.num_items)
    values, items = (torch.from_numpy(a) for a in flat.search(query, fetch))
    n = index.num_items
    rows, train = index.train_pairs(users)
    banned = torch.unique(rows * n + train)
    keys = torch.arange(users.numel()).unsqueeze(1) * n + items
    pos = torch.searchsorted(banned, keys).clamp(max=max(banned.numel() - 1, 0))
    drop = (banned[pos] == keys) if banned.numel() else \
        torch.zeros_like(keys, dtype=torch.bool)
    if index.excluded_items.numel():
        drop |= torch.isin(items, index.excluded_items)
    drop |= items < 0
    order = torch.sort(drop.to(torch.int8), dim=1, stable=True).indices
    items = items.gather(1, order)[:, :k]
    values = values.gather(1, order)[:, :k]
    gone = drop.gather(1, order)[:, :k]
    return items.masked_fill(gone, -1), values.masked_fill(gone, float("-inf"))


#: ONNX opset of the exported scorer (Gather and MatMul are unchanged since).
ONNX_OPSET = 13


def export_onnx(index: EmbeddingIndex, out: PathLike,
                check: bool = True) -> Path:
    r"""Writes an ONNX graph ``user_ids int64 [B] -> scores float32 [B, I]``
    (:math:`\mathbf{E}_U[\text{ids}]\,\mathbf{E}_I^{\top}`) to ``out`` and the
    ``npz`` archive to ``out.npz``. With :obj:`check` and ``onnxruntime``
    installed, the graph is run on up to 64 users and compared with the
    PyTorch scores before anything is written (:class:`ExportError` if they
    differ by more than ``1e-4``)."""
    onnx = _require("onnx", "export", "the onnx export")
    from onnx import TensorProto, helper, numpy_helper
    U = numpy_helper.from_array(index.user_emb.numpy().astype(np.float32),
                                name="user_emb")
    It = numpy_helper.from_array(
        np.ascontiguousarray(index.item_emb.numpy().T, dtype=np.float32),
        name="item_emb_t")
    graph = helper.make_graph(
        [helper.make_node("Gather", ["user_emb", "user_ids"], ["user_vec"],
                          axis=0),
         helper.make_node("MatMul", ["user_vec", "item_emb_t"], ["scores"])],
        "mmgraph_scorer",
        [helper.make_tensor_value_info("user_ids", TensorProto.INT64,
                                       ["batch"])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT,
                                       ["batch", index.num_items])],
        initializer=[U, It])
    proto = helper.make_model(
        graph, producer_name="mmgraph",
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    proto.ir_version = min(proto.ir_version, 8)
    helper.set_model_props(proto, {"model": index.model, "score": "dot",
                                   "num_users": str(index.num_users),
                                   "num_items": str(index.num_items)})
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    if check:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            pass
        else:
            users = torch.arange(min(64, index.num_users))
            got = onnx_scores(data, users.numpy())
            want = index.scores(users).numpy()
            err = float(np.abs(got - want).max()) if got.size else 0.0
            if err > 1e-4:
                raise ExportError(f"{out}: the ONNX scorer differs from the "
                                  f"PyTorch scores by {err:.2e} (> 1e-4)")
    index.save_npz(sidecar_path(out))
    atomic_write_bytes(out, data)
    return Path(out)


def onnx_scores(model: Union[bytes, PathLike], user_ids: np.ndarray
                ) -> np.ndarray:
    r"""Runs an ``onnx`` export with onnxruntime: ``scores [B, I]``."""
    ort = _require("onnxruntime", "export", "running an onnx export")
    if not isinstance(model, bytes):
        model = Path(model).read_bytes()
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return sess.run(["scores"], {"user_ids": np.asarray(user_ids, np.int64)})[0]


_WRITERS = {"npz": export_npz, "faiss": export_faiss, "onnx": export_onnx}


def export_run(run_dir: PathLike, format: str, out: PathLike,
               overwrite: bool = False) -> Path:
    r"""Exports a finished run (or a grid folder's selected run).

    Args:
        run_dir: the run folder of ``mmgraph train``.
        format (str): ``'npz'``, ``'faiss'`` or ``'onnx'``.
        out: the file to write (``faiss`` and ``onnx`` also write
            ``out.npz``).
        overwrite (bool): replace existing files; without it an existing
            ``out`` (or ``out.npz``) is refused before anything is computed.

    Returns:
        ``Path(out)``.
    """
    if format not in _WRITERS:
        raise ExportError(f"--format {format!r}: expected one of "
                          f"{', '.join(FORMATS)}.{did_you_mean(format, FORMATS)}")
    targets = [Path(out)] + ([sidecar_path(out)] if format != "npz" else [])
    for path in targets:
        if path.is_dir():
            raise ExportError(f"{path}: is a folder; --out names the file to write")
        if path.exists() and not overwrite:
            raise ExportError(f"{path}: exists; pass --overwrite to replace it, or "
                              f"choose another --out")
    index = EmbeddingIndex.from_run(run_dir)
    return _WRITERS[format](index, out)
