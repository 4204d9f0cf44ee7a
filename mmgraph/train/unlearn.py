r"""Machine unlearning: MMRecUn's reverse-BPR loop, from `"Multi-Modal
Recommendation Unlearning" <https://arxiv.org/abs/2405.15328>`_ (Sinha,
Mandal and Kankanhalli, AAAI 2025).

A trained model is asked to forget marked training data :math:`D_f` -- all
interactions of some **users**, all interactions with some **items**
(licence revoked, legal take-down) or given **interactions** -- while
keeping its quality on the retained data :math:`D_r = D \setminus D_f`:

1. :class:`ForgetRequest` turns a request (a file of ids / pairs, or a
   seeded random fraction) into :math:`D_f` and :math:`D_r`, and builds the
   *retain dataset* (``dataset.with_train_edges(D_r)``). An item request can
   also take the items out of the catalogue (their scores are masked from
   every ranking) and, for the paper's "modality constraints", zero their
   feature rows so that the kNN item graphs are rebuilt without their
   content.
2. Everything the model derives from the interactions is rebuilt from
   :math:`D_r` (:meth:`~mmgraph.models.Recommender.on_train_graph_change`):
   a forgotten edge never propagates again.
3. :class:`UnlearnTrainer` -- the shared loop of
   :class:`~mmgraph.train.Trainer` -- minimises
   :math:`\alpha\,\mathcal{L}_f + (1 - \alpha)\,\mathcal{L}_r` + the
   model's regulariser
   (:class:`~mmgraph.train.objectives.reverse_bpr.UnlearnObjective`)
   from the trained weights, one epoch being one pass over :math:`D_f` with
   retain batches drawn in parallel, and stops by a rule that watches the
   forget set and the validation set.

What the paper states is followed: reverse BPR on :math:`D_f` plus forward
BPR on :math:`D_r`, from the trained model, no data partitioning, user and
item requests, gold = retraining on :math:`D_r`. Where it is silent
(``MODELS.md`` §6.2), these are mmgraph's choices, tuned on amazon-beauty
with LightGCN:

* interaction-level requests besides user- and item-level ones;
* the stopping rule and the ``'auto'`` gold estimate of
  :class:`UnlearnTrainer`;
* ``forget_side``: after a user (item) request the forgotten users (items)
  are isolated in the rebuilt graph, so the forget term moves only their
  own representations (items, resp. users and negatives, detached); with
  the plain two-sided reverse BPR the forgotten users' items are pushed
  down for everyone who shares their taste, which cost up to a quarter of
  the validation recall in one epoch;
* the forget term's own Adam optimiser with 10x the run's learning rate
  for user / item requests, backed off by 10x (to the run's rate) when an
  epoch breaks the validation tolerance -- e.g. FREEDOM's cold items are
  also represented through their kNN neighbours, which the forget term
  then moves as well.

:class:`Unlearner` is the one-call API; :func:`unlearning_metrics` is the
protocol that compares the original, unlearned, gold (retrained on
:math:`D_r`) and fine-tuned models; :func:`apply_saved_request` rebuilds
the retain dataset of an unlearned run folder (used by ``load_run``).
"""
from __future__ import annotations

import copy
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from mmgraph.config import TrainConfig
from mmgraph.errors import DataFormatError
from mmgraph.evaluation import Evaluator
from mmgraph.train.objectives.reverse_bpr import UnlearnBatch, UnlearnObjective
from mmgraph.train.trainer import Trainer, _progress
from mmgraph.train.utils import adam, atomic_write_json, seed_everything

__all__ = ["ForgetRequest", "Unlearner", "UnlearnTrainer",
           "unlearning_metrics", "apply_saved_request",
           "load_requests", "save_requests", "KINDS", "REQUEST_FILE"]

log = logging.getLogger("mmgraph")

#: Request kinds.
KINDS = ("users", "items", "interactions")
#: The request record written into an unlearned run folder.
REQUEST_FILE = "unlearn_request.json"
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


def _isin_sorted(values: Tensor, sorted_keys: Tensor) -> Tensor:
    r"""Membership of ``values`` in a sorted 1-D tensor (binary search)."""
    if sorted_keys.numel() == 0:
        return torch.zeros_like(values, dtype=torch.bool)
    pos = torch.searchsorted(sorted_keys, values).clamp_max(
        sorted_keys.numel() - 1)
    return sorted_keys[pos] == values


# ---------------------------------------------------------------------------
# Forget requests
# ---------------------------------------------------------------------------
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
                  **options: Any) -> "ForgetRequest":
        r"""Reads a request file (internal ids, as in the prepared folder).

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
        what = "'user item' (two integer ids)" if ncol == 2 else \
            f"one integer {kind[:-1]} id"
        limits = [("user", dataset.num_users), ("item", dataset.num_items)] \
            if ncol == 2 else [(kind[:-1], dataset.num_users if
                                kind == "users" else dataset.num_items)]
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
                try:
                    v = int(tok)
                except ValueError:
                    raise DataFormatError(f"{tok!r} is not an integer {name} "
                                          f"id", path, lineno) from None
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
            found = _isin_sorted(_keys(ids, dataset.num_items), train)
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
            return _isin_sorted(train[0], self.ids)
        if self.kind == "items":
            return _isin_sorted(train[1], self.ids)
        keys = _keys(train, dataset.num_items)
        want = torch.unique(_keys(self.ids, dataset.num_items))
        mask = _isin_sorted(keys, want)
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
        keep = ~_isin_sorted(ei[1], excluded)
        dropped[split] = int((~keep).sum())
        setattr(ds, f"{split}_edge_index", ei[:, keep])
    if dropped["valid"] or dropped["test"]:
        log.info("removed items: dropped %d validation and %d test "
                 "interaction(s) with them", dropped["valid"], dropped["test"])
    if zero_features and ds.features:
        from mmgraph.data import RecDataset
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


def save_requests(path: Union[str, Path],
                  requests: Sequence[ForgetRequest]) -> None:
    r"""Writes the requests applied to a run (in order) as JSON."""
    atomic_write_json(path, {"format": 1, "requests":
                             [r.to_dict() for r in requests]})


def load_requests(path: Union[str, Path]) -> List[ForgetRequest]:
    r"""Reads a file written by :func:`save_requests`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        return [ForgetRequest.from_dict(r) for r in data["requests"]]
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: the unlearning request record is "
                                f"missing") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DataFormatError(f"not a valid unlearning request record "
                              f"({e})", path) from None


def _run_requests(run_dir: Union[str, Path]) -> List[ForgetRequest]:
    from mmgraph.train.run import run_dir_of_best
    from mmgraph.train.trainer import RESULTS
    run = run_dir_of_best(run_dir)
    results = json.loads((run / RESULTS).read_text())
    rel = results.get("unlearn_request")
    return load_requests(run / rel) if rel else []


def apply_saved_request(dataset, run_dir: Union[str, Path]):
    r"""The dataset a run folder's model was trained / unlearned on: the
    requests recorded by ``mmgraph unlearn`` (``results["unlearn_request"]``)
    applied to ``dataset`` in order. A run without a request returns
    ``dataset`` unchanged. Called by :func:`~mmgraph.train.load_run`."""
    for request in _run_requests(run_dir):
        dataset = request.apply(dataset)
    return dataset


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------
def _all_items(dataset):
    r"""A view of ``dataset`` without a catalogue mask: forget metrics
    measure what the model still knows about removed items."""
    if getattr(dataset, "excluded_items", None) is None:
        return dataset
    view = copy.copy(dataset)
    view.excluded_items = None
    return view


def unlearning_metrics(model, retain_dataset, forget_edge_index: Tensor,
                       train_edge_index: Optional[Tensor] = None,
                       metrics: Sequence[str] = ("recall", "ndcg"),
                       topk: Sequence[int] = (10, 20),
                       batch_size: int = 4096,
                       splits: Sequence[str] = ("valid", "test")
                       ) -> Dict[str, Dict[str, float]]:
    r"""The unlearning protocol (``MODELS.md`` §6.4), one embeddings pass:

    * ``'forget'``: the forget edges as targets, the **retained** training
      items masked (lower is better; compare with the gold model). Items
      taken out of the catalogue are *not* masked here, so the numbers show
      what the model still knows about them;
    * ``'valid'`` / ``'test'``: the retain dataset's held-out splits (users
      that lost all their training data are dropped), masking the model's
      **own** training interactions (``train_edge_index``, default the
      retain set; the original model's is the full set) and the removed
      items.

    The model keeps its own graph: the original is scored on the full
    training graph, the unlearned and gold models on :math:`D_r`.
    """
    emb = Evaluator(retain_dataset).embeddings(model)
    out = {"forget": Evaluator(_all_items(retain_dataset), metrics, topk,
                               batch_size)
           .evaluate(model, forget_edge_index,
                     mask_edge_index=retain_dataset.train_edge_index,
                     embeddings=emb)}
    ev = Evaluator(retain_dataset, metrics, topk, batch_size)
    for split in splits:
        out[split] = ev.evaluate(model, split,
                                 mask_edge_index=train_edge_index,
                                 embeddings=emb)
    return out


# ---------------------------------------------------------------------------
# The reverse-BPR loop
# ---------------------------------------------------------------------------
class _Cycle:
    r"""Draws batches of positions ``0..n-1`` from a reshuffled cycle (the
    smaller of the forget and retain sets is cycled, never truncated)."""

    def __init__(self, n: int) -> None:
        self.n = int(n)
        self.perm = torch.empty(0, dtype=torch.long)
        self.pos = 0

    def take(self, k: int) -> Tensor:
        parts = []
        while k > 0 and self.n > 0:
            if self.pos >= self.perm.numel():
                self.perm, self.pos = torch.randperm(self.n), 0
            step = min(k, self.n - self.pos)
            parts.append(self.perm[self.pos:self.pos + step])
            self.pos += step
            k -= step
        return torch.cat(parts) if parts else torch.empty(0, dtype=torch.long)


class UnlearnTrainer(Trainer):
    r"""The shared training loop (:class:`~mmgraph.train.Trainer`) run as
    MMRecUn's unlearning loop on a model that is already trained and whose
    graphs are already rebuilt on the retain dataset.

    One **epoch** is one shuffled pass over the forget set :math:`D_f` in
    batches of ``config.batch_size`` pairs, but at least ``min_steps``
    steps (a small request -- one user -- is cycled several times); each
    step adds a batch of ``retain_batch_size`` retain pairs (cycling
    through a shuffled :math:`D_r`), and both go through one embeddings
    pass of the
    :class:`~mmgraph.train.objectives.reverse_bpr.UnlearnObjective`.
    Negatives of forget rows are items the user never had in the original
    training set; negatives of retain rows exclude her retained items.

    **Stopping rule** (``MODELS.md`` §6.4), checked after every epoch on
    ``valid_metric`` (recall@20): the *forget* score (forget edges as
    targets, retained items masked) and the *validation* score (retain
    dataset; for item requests without the validation pairs of the
    forgotten items, which would reward remembering them). Epoch ``-1``
    is the trained model on the retain graph; its
    validation score :math:`v_0` is the reference. An epoch is *admissible*
    when its validation score is at least :math:`(1 - \text{tol})\,v_0`;
    the selected state is the admissible trained epoch with the lowest
    forget score (ties: higher validation); epoch ``-1`` is kept only when
    no trained epoch is admissible and forgets at least as well. The loop
    stops when

    * the forget score reaches ``target_forget`` in an admissible epoch (or
      already at epoch ``-1``: the rebuilt graphs alone forgot, no step is
      taken), or
    * the validation score falls below the tolerance -- unless the forget
      term has a learning rate of its own above the retain one: then the
      loop returns to the selected state, divides the forget learning rate
      by 10 (not below the retain one) and goes on (a back-off), or
    * the forget score has not improved by 1 % for ``config.patience``
      epochs (a plateau), or
    * ``config.epochs`` epochs have run.

    ``target_forget='auto'`` estimates the gold model's forget score
    without training it: for interaction requests the forgotten pairs are
    held-out pairs to a retrained model, so the target is :math:`v_0`; a
    forgotten user or item is unknown to a retrained model, so the target
    is the chance level :math:`k / I`.

    Args:
        model: the trained model, graphs rebuilt on ``dataset``.
        dataset: the retain dataset.
        forget_edge_index (Tensor): :math:`D_f`, ``[2, E_f]``.
        original_train_edge_index (Tensor): :math:`D` (to sample forget
            negatives).
        config (TrainConfig): ``epochs`` (max unlearning epochs),
            ``batch_size`` (forget pairs per step), ``learning_rate``,
            ``patience`` (plateau epochs), ``num_negatives``, metrics.
        alpha (float): weight of the forget term (default: ``0.5``).
        forget_loss (str): ``'reverse_bpr'`` or ``'ascent'``.
        forget_side (str): ``'both'``, ``'user'`` or ``'item'`` (see
            :class:`~mmgraph.train.objectives.reverse_bpr.UnlearnObjective`).
        forget_learning_rate (float, optional): a learning rate of its own
            for the forget term: its gradient is then applied by a second
            Adam optimiser after the retain step (default: :obj:`None`, one
            optimiser for the summed loss).
        retain_batch_size (int, optional): retain pairs per step (default:
            ``config.batch_size``).
        valid_tolerance (float): admissible relative validation drop
            (default: ``0.05``).
        target_forget (float or str): forget score at which to stop
            (default: ``'auto'``).
        request_kind (str): the request kind (for the ``'auto'`` target).
        forgotten_items (Tensor, optional): items of an item request (their
            validation pairs are left out of the stopping rule).
        min_steps (int): the fewest steps of an epoch (default: ``10``).
        epoch_offset (int): added to the epoch number passed to
            ``model.on_epoch_start`` (the trained model's epoch count).
        **kwargs: ``out_dir``, ``extra_results``, ``show_progress`` of
            :class:`~mmgraph.train.Trainer`.
    """

    def __init__(self, model, dataset, forget_edge_index: Tensor,
                 original_train_edge_index: Tensor,
                 config: Union[TrainConfig, Dict[str, Any]],
                 alpha: float = 0.5, forget_loss: str = "reverse_bpr",
                 forget_side: str = "both",
                 forget_learning_rate: Optional[float] = None,
                 retain_batch_size: Optional[int] = None,
                 valid_tolerance: float = 0.05,
                 target_forget: Union[float, str] = "auto",
                 request_kind: str = "interactions",
                 forgotten_items: Optional[Tensor] = None,
                 min_steps: int = 10, epoch_offset: int = 0,
                 **kwargs: Any) -> None:
        objective = UnlearnObjective(model, dataset, alpha=alpha,
                                     forget_loss=forget_loss,
                                     forget_side=forget_side)
        super().__init__(model, dataset, config, objective=objective, **kwargs)
        from mmgraph.data import NegativeSampler
        c = self.config
        # self.evaluator (the Trainer's) masks removed items itself; the
        # forget evaluator sees them, to measure what is still remembered.
        self.forget_evaluator = Evaluator(_all_items(dataset), c.metrics,
                                          c.topk, c.eval_batch_size)
        self.forget_edge_index = forget_edge_index.long().cpu()
        self.forget_sampler = NegativeSampler(
            original_train_edge_index, dataset.num_users, dataset.num_items,
            candidates=c.neg_candidates)
        self.alpha = float(alpha)
        self.forget_learning_rate = None if forget_learning_rate is None or \
            float(forget_learning_rate) == c.learning_rate else \
            float(forget_learning_rate)
        self._params = [p for p in self.model.parameters() if p.requires_grad]
        self.forget_optimizer = None if self.forget_learning_rate is None \
            else adam(self._params, lr=self.forget_learning_rate)
        self.retain_batch_size = int(retain_batch_size or c.batch_size)
        self.valid_tolerance = float(valid_tolerance)
        if not isinstance(target_forget, str):
            target_forget = float(target_forget)
        elif target_forget != "auto":
            raise ValueError(f"{self.__class__.__name__}: target_forget must "
                             f"be a number or 'auto', got {target_forget!r}")
        self.target_forget = target_forget
        self.request_kind = _kind(request_kind)
        self.epoch_offset = int(epoch_offset)
        if self.num_negatives < 1:
            raise ValueError(f"{self.__class__.__name__}: reverse BPR needs "
                             f"num_negatives >= 1")
        self.min_steps = max(1, int(min_steps))
        self._forget_cycle = _Cycle(self.forget_edge_index.size(1))
        self._retain_cycle = _Cycle(dataset.train_edge_index.size(1))
        valid = dataset.valid_edge_index
        if forgotten_items is not None and forgotten_items.numel():
            valid = valid[:, ~_isin_sorted(valid[1],
                                           torch.unique(forgotten_items))]
        #: The validation pairs the stopping rule watches.
        self.rule_valid_edge_index = valid
        self.stop_reason = ""
        self.backoffs = 0
        self.target = float("nan")
        self.best_forget: Dict[str, float] = {}

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.model.__class__.__name__}, "
                f"alpha={self.alpha}, forget={self.forget_edge_index.size(1)}"
                f", lr={self.config.learning_rate}, "
                f"batch_size={self.config.batch_size}+"
                f"{self.retain_batch_size})")

    def train_epoch(self, epoch: int) -> Dict[str, float]:
        r"""One pass over the forget set with retain batches alongside."""
        c = self.config
        self.model.train()
        self.objective.train()
        self.model.on_epoch_start(self.epoch_offset + epoch)
        self.objective.on_epoch_start(epoch)
        forget = self.forget_edge_index
        retain = self.dataset.train_edge_index
        use_forget = self.alpha > 0
        num_batches = max(math.ceil(forget.size(1) / c.batch_size),
                          self.min_steps)
        sums: Dict[str, float] = {}
        k = self.num_negatives
        for _ in _progress(range(num_batches), num_batches,
                           f"unlearn {epoch}", self.show_progress):
            fidx = self._forget_cycle.take(min(c.batch_size,
                                               forget.size(1)))
            ridx = self._retain_cycle.take(self.retain_batch_size) \
                if self.alpha < 1 else fidx[:0]
            ru, rp = retain[0, ridx], retain[1, ridx]
            users, pos = [ru], [rp]
            neg = [self.sampler.sample(ru, k)]
            flags = [torch.zeros(ru.numel(), dtype=torch.bool)]
            if use_forget:
                fu, fp = forget[0, fidx], forget[1, fidx]
                users.append(fu)
                pos.append(fp)
                neg.append(self.forget_sampler.sample(fu, k))
                flags.append(torch.ones(fu.numel(), dtype=torch.bool))
            batch = UnlearnBatch(torch.cat(users), torch.cat(pos),
                                 torch.cat(neg), torch.cat(flags)
                                 ).to(self.device)
            out = self.objective(self.model, batch)
            loss = out["loss"]
            weighted_forget = out.pop("weighted_forget", None)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"unlearning epoch {epoch}: the loss is {loss.item()} "
                    f"(lower the learning rate)")
            self._step(loss, weighted_forget)
            for key, value in out.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach())
        return {key: v / max(1, num_batches) for key, v in sums.items()}

    def _step(self, loss: Tensor, weighted_forget: Optional[Tensor]) -> None:
        r"""One optimiser step; with a forget learning rate of its own, the
        retain part is stepped first, then the forget gradient (taken at the
        same parameters) by the forget optimiser."""
        c = self.config
        self.optimizer.zero_grad(set_to_none=True)
        split = self.forget_optimizer is not None and \
            weighted_forget is not None and weighted_forget.requires_grad
        if split:
            grads = torch.autograd.grad(weighted_forget, self._params,
                                        retain_graph=True, allow_unused=True)
            loss = loss - weighted_forget
        if loss.requires_grad:
            loss.backward()
            if c.clip_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(self._params, c.clip_grad_norm)
            self.optimizer.step()
        if split:
            self.forget_optimizer.zero_grad(set_to_none=True)
            for p, g in zip(self._params, grads):
                p.grad = g
            if c.clip_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(self._params, c.clip_grad_norm)
            self.forget_optimizer.step()

    def _back_off(self) -> bool:
        r"""After an inadmissible epoch with a forget learning rate above
        the retain one: return to the selected state, divide the forget
        learning rate by 10 (not below the retain one), restart both
        optimisers and go on. Returns :obj:`False` when there is nothing
        left to lower."""
        lr = self.config.learning_rate
        if self.forget_optimizer is None or self._best_state is None:
            return False
        new = max(self.forget_learning_rate / 10.0, lr)
        self.model.load_state_dict(self._best_state)
        self.optimizer = self._make_optimizer()
        if new <= lr * (1 + 1e-9):
            self.forget_learning_rate, self.forget_optimizer = None, None
        else:
            self.forget_learning_rate = new
            self.forget_optimizer = adam(self._params, lr=new)
        log.info("unlearn: validation fell; back to epoch %d with forget "
                 "learning rate %g", self.best_epoch, new)
        self.backoffs += 1
        return True

    def evaluate_forget_valid(self) -> Tuple[Dict[str, float],
                                             Dict[str, float]]:
        r"""``(valid, forget)`` metrics from one embeddings pass."""
        emb = self.evaluator.embeddings(self.model)
        valid = self.evaluator.evaluate(self.model, self.rule_valid_edge_index,
                                        embeddings=emb)
        forget = self.forget_evaluator.evaluate(
            self.model, self.forget_edge_index, embeddings=emb)
        return valid, forget

    def _auto_target(self, valid0: Dict[str, float]) -> float:
        m = self.config.valid_metric
        if self.request_kind == "interactions":
            return float(valid0[m])
        k = int(m.split("@")[1])
        return k / self.dataset.num_items

    def _select(self, epoch: int, valid: Dict[str, float],
                forget: Dict[str, float]) -> None:
        self.best_epoch, self.best_valid = epoch, valid
        self.best_score = valid[self.config.valid_metric]
        self.best_forget = forget
        self._checkpoint()

    def fit(self, resume: bool = False) -> Dict[str, Any]:
        r"""Runs the loop from the current weights (never re-initialised)
        and returns the results dict of the selected state."""
        if resume:
            raise NotImplementedError(f"{self.__class__.__name__}: unlearning "
                                      f"runs are short; rerun instead")
        c, m = self.config, self.config.valid_metric
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        seed_everything(c.seed)
        start_time = time.perf_counter()
        t0 = time.perf_counter()
        valid, forget = self.evaluate_forget_valid()
        self.history.append({"epoch": -1, "valid": valid, "forget": forget,
                             "train_seconds": 0.0,
                             "eval_seconds": time.perf_counter() - t0})
        v0 = valid[m]
        self._select(-1, valid, forget)
        self.target = self.target_forget if isinstance(
            self.target_forget, float) else self._auto_target(valid)
        log.info("unlearn: start  forget %s %.4f  valid %s %.4f  (target "
                 "forget %.4f)", m, forget[m], m, v0, self.target)
        bad, best_f = 0, forget[m]
        self.stop_reason = f"max epochs ({c.epochs})"
        epochs = c.epochs
        if forget[m] <= self.target:
            # Rebuilding the graphs alone forgot: a reverse step could only
            # cost retained quality.
            self.stop_reason = (f"forget {m} reached the target with the "
                                f"rebuilt graphs alone")
            epochs = 0
        for epoch in range(epochs):
            t0 = time.perf_counter()
            losses = self.train_epoch(epoch)
            t1 = time.perf_counter()
            valid, forget = self.evaluate_forget_valid()
            self.history.append({"epoch": epoch, **losses, "valid": valid,
                                 "forget": forget, "train_seconds": t1 - t0,
                                 "eval_seconds": time.perf_counter() - t1})
            f, v = forget[m], valid[m]
            admissible = v >= (1.0 - self.valid_tolerance) * v0
            # Epoch -1 (no reverse step) is only the fallback: any admissible
            # trained epoch that forgets at least as well replaces it.
            better = f < self.best_forget[m] or (
                f == self.best_forget[m] and
                (self.best_epoch < 0 or v > self.best_score))
            if admissible and better:
                self._select(epoch, valid, forget)
            log.info("unlearn epoch %2d  loss %.4f  forget %s %.4f  valid "
                     "%s %.4f%s", epoch, losses.get("loss", float("nan")), m,
                     f, m, v, "  *" if self.best_epoch == epoch else "")
            self._write_results(final=False)
            if not admissible:
                if self._back_off():
                    bad, best_f = 0, self.best_forget[m]
                    self.history[-1]["backoff"] = self.forget_learning_rate \
                        or c.learning_rate
                    continue
                self.stop_reason = (f"validation {m} fell below "
                                    f"{1 - self.valid_tolerance:.2f} x start")
                break
            if f <= self.target:
                self.stop_reason = f"forget {m} reached the target"
                break
            if f < best_f - max(1e-4, 0.01 * best_f):
                bad, best_f = 0, f
            else:
                bad += 1
                if bad >= c.patience:
                    self.stop_reason = (f"forget {m} plateaued for "
                                        f"{c.patience} epoch(s)")
                    break
        self.extra_results["unlearn"] = {
            **self.extra_results.get("unlearn", {}),
            "alpha": self.alpha, "stop_reason": self.stop_reason,
            "target_forget": self.target, "start_valid": v0,
            "forget": self.best_forget,
            "forget_edges": int(self.forget_edge_index.size(1)),
            "retain_edges": int(self.dataset.train_edge_index.size(1)),
            "retain_batch_size": self.retain_batch_size,
            "min_steps": self.min_steps, "backoffs": self.backoffs,
            "final_forget_learning_rate": self.forget_learning_rate or
            c.learning_rate,
            "valid_tolerance": self.valid_tolerance}
        log.info("unlearn: %s; selected epoch %d", self.stop_reason,
                 self.best_epoch)
        return self.finish(time.perf_counter() - start_time)


# ---------------------------------------------------------------------------
# The one-call API
# ---------------------------------------------------------------------------
class Unlearner:
    r"""MMRecUn on any registered model: forget a :class:`ForgetRequest`
    from a trained model, in place.

    :meth:`fit` builds the retain dataset, rebuilds the model's graphs on it
    (:meth:`~mmgraph.models.Recommender.on_train_graph_change`) and runs the
    :class:`UnlearnTrainer`. The whole call is timed (``results
    ['wall_seconds']``): compare it with the gold model's training.

    Example::

        request = ForgetRequest.random("users", 0.05, dataset, seed=0)
        results = Unlearner(model, dataset, request, config=train_cfg).fit()
        retain_dataset = unlearner.retain_dataset

    Args:
        model: the trained model (graphs built on ``dataset``).
        dataset: the dataset it was trained on.
        request (ForgetRequest): what to forget.
        config (TrainConfig or dict, optional): the model's training config
            (learning rate, batch size, negatives, metrics); the fields
            below override it for the loop.
        alpha (float): weight of the reverse-BPR term (default: ``0.5``).
        epochs (int): max epochs over the forget set (default: ``10``).
        learning_rate (float, optional): Adam's learning rate (default:
            :obj:`None`, the run's: the loop continues its training).
        forget_learning_rate (float or str, optional): the forget term's
            own learning rate (a second Adam optimiser); ``'auto'``
            (default): 10x ``learning_rate`` for user and item requests,
            whose forget term (``forget_side='auto'``) moves only the
            forgotten users' / items' own representations, and
            ``learning_rate`` for interaction requests, whose forget term
            moves representations the retained data shares (tuned on
            amazon-beauty with LightGCN); :obj:`None` = ``learning_rate``.
        batch_size (int, optional): forget pairs per step (default: ``128``;
            :obj:`None` = the config's).
        retain_batch_size (int, optional): retain pairs per step (default:
            ``1024``; :obj:`None` = ``batch_size``).
        patience (int): plateau epochs (default: ``3``).
        valid_tolerance (float): admissible relative validation drop
            (default: ``0.05``).
        target_forget (float or str): see :class:`UnlearnTrainer` (default:
            ``'auto'``).
        forget_loss (str): ``'reverse_bpr'`` (default) or ``'ascent'``.
        forget_side (str): which representations the forget term moves:
            ``'auto'`` (default: ``'user'`` for user requests -- the
            forgotten users are isolated in the rebuilt graph, so only their
            own representations move and the retained users are left to the
            retain term --, ``'item'`` for item requests, ``'both'`` for
            interactions), or ``'both'`` / ``'user'`` / ``'item'``.
        seed (int): seed of the loop (default: ``0``).
        min_steps (int): the fewest steps of an epoch over the forget set
            (default: ``10``).
        epoch_offset (int): see :class:`UnlearnTrainer`.
        out_dir (str or Path, optional): run folder (``results.json``,
            ``checkpoint.pt``, the request record).
        extra_results (dict, optional): stored in ``results.json``.
        previous_requests (list, optional): requests already applied to
            ``dataset`` (recorded before this one, so a chain of unlearning
            runs reloads).
        show_progress (bool): progress bars (default: :obj:`True`).
    """

    def __init__(self, model, dataset, request: ForgetRequest,
                 config: Union[TrainConfig, Dict[str, Any], None] = None,
                 alpha: float = 0.5, epochs: int = 10,
                 learning_rate: Optional[float] = None,
                 forget_learning_rate: Union[float, str, None] = "auto",
                 batch_size: Optional[int] = 128,
                 retain_batch_size: Optional[int] = 1024, patience: int = 3,
                 valid_tolerance: float = 0.05,
                 target_forget: Union[float, str] = "auto",
                 forget_loss: str = "reverse_bpr", forget_side: str = "auto",
                 seed: int = 0, min_steps: int = 10, epoch_offset: int = 0,
                 out_dir: Union[str, Path, None] = None,
                 extra_results: Optional[Dict[str, Any]] = None,
                 previous_requests: Optional[Sequence[ForgetRequest]] = None,
                 show_progress: bool = True) -> None:
        if config is None:
            config = TrainConfig()
        elif isinstance(config, dict):
            config = TrainConfig(**config)
        overrides = {"epochs": int(epochs), "patience": int(patience),
                     "seed": int(seed), "objective": "unlearn"}
        if learning_rate is not None:
            overrides["learning_rate"] = float(learning_rate)
        if batch_size is not None:
            overrides["batch_size"] = int(batch_size)
        self.config = TrainConfig(**{**config.to_dict(), **overrides})
        if forget_learning_rate == "auto":
            forget_learning_rate = self.config.learning_rate * (
                1.0 if request.kind == "interactions" else 10.0)
        self.forget_learning_rate = self.config.learning_rate \
            if forget_learning_rate is None else float(forget_learning_rate)
        self.model, self.dataset, self.request = model, dataset, request
        self.alpha, self.forget_loss = float(alpha), forget_loss
        if forget_side == "auto":
            forget_side = {"users": "user", "items": "item"}.get(
                request.kind, "both")
        self.forget_side = forget_side
        self.retain_batch_size = retain_batch_size
        self.valid_tolerance, self.target_forget = valid_tolerance, \
            target_forget
        self.epoch_offset = int(epoch_offset)
        self.min_steps = int(min_steps)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.extra_results = dict(extra_results or {})
        self.requests = list(previous_requests or []) + [request]
        self.show_progress = show_progress
        self.retain_dataset = None
        self.forget_edge_index: Optional[Tensor] = None
        self.trainer: Optional[UnlearnTrainer] = None

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.model.__class__.__name__}, "
                f"{self.request!r}, alpha={self.alpha}, "
                f"epochs={self.config.epochs})")

    def fit(self) -> Dict[str, Any]:
        r"""Unlearns; returns the results dict (also ``out_dir/results.json``
        when a folder is given)."""
        start, cpu = time.perf_counter(), time.process_time()
        forget, _ = self.request.split(self.dataset)
        retain_ds = self.request.apply(self.dataset)
        self.forget_edge_index, self.retain_dataset = forget, retain_ds
        self.model.on_train_graph_change(retain_ds)
        extra = dict(self.extra_results)
        extra["unlearn"] = {"request": {k: v for k, v in
                                        self.request.to_dict().items()
                                        if k != "ids"},
                            "num_ids": len(self.request),
                            "forget_loss": self.forget_loss,
                            "forget_side": self.forget_side,
                            "learning_rate": self.config.learning_rate,
                            "forget_learning_rate":
                                self.forget_learning_rate,
                            "batch_size": self.config.batch_size,
                            "epochs": self.config.epochs,
                            "patience": self.config.patience}
        if self.out_dir is not None:
            save_requests(self.out_dir / REQUEST_FILE, self.requests)
            extra["unlearn_request"] = REQUEST_FILE
        self.trainer = UnlearnTrainer(
            self.model, retain_ds, forget, self.dataset.train_edge_index,
            self.config, alpha=self.alpha, forget_loss=self.forget_loss,
            forget_side=self.forget_side,
            forget_learning_rate=self.forget_learning_rate,
            retain_batch_size=self.retain_batch_size,
            valid_tolerance=self.valid_tolerance,
            target_forget=self.target_forget, request_kind=self.request.kind,
            forgotten_items=self.request.ids
            if self.request.kind == "items" else None,
            min_steps=self.min_steps,
            epoch_offset=self.epoch_offset, out_dir=self.out_dir,
            extra_results=extra, show_progress=self.show_progress)
        results = self.trainer.fit()
        results["wall_seconds"] = time.perf_counter() - start
        results["cpu_seconds"] = time.process_time() - cpu
        if self.out_dir is not None:
            from mmgraph.train.trainer import RESULTS
            atomic_write_json(self.out_dir / RESULTS, results)
        return results
