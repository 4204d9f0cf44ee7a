r"""Mini-batch subgraphs for sampled training.

Full-graph training propagates over the whole user--item graph for every
batch; on Elec-sized data that is minutes per epoch. :class:`SubgraphBatches`
instead draws, for each batch of the trainer's default batches (the same
shuffled pairs and MMRec negatives as full-graph training), the ``L``-hop
neighbourhood of the batch's users, positive and negative items with a
fan-out per hop (``num_neighbors``, e.g. ``[10, 10]``; ``-1`` = every
neighbour) over the training graph (the ``interacts`` relation of
:meth:`~mmgraph.data.RecDataset.to_heterodata`, both ways), and a model that
supports it computes the batch's embeddings on that subgraph only
(:meth:`~mmgraph.models.Recommender.subgraph_embeddings`; models without it
refuse the mode with :class:`~mmgraph.errors.MMGraphError`, see
:func:`check_sampled`).

**Sampler.** PyG's :class:`~torch_geometric.loader.LinkNeighborLoader`
needs ``pyg-lib`` or ``torch-sparse``, which have no build for the torch
this project pins, so the same sampling scheme (non-disjoint, hop by hop,
each node expanded once) is done here in vectorised torch: a frontier node
with at most ``k`` neighbours keeps all of them, one with more draws ``k``
neighbours uniformly *with* replacement and keeps the distinct ones (PyG
samples without replacement; the difference is a few duplicates at hubs).
The cost of a batch is that of its sampled neighbourhood, never of the
whole graph.

**Normalisation.** The subgraph's edges keep the **full training graph's**
weights :math:`1/\sqrt{d_u d_i}` (:attr:`SubgraphBatch.adj`; for a model
that trains on its own graph of the epoch,
:meth:`~mmgraph.models.Recommender.sampling_edges`, that graph's), not the
degrees inside the sample: with unlimited fan-out and ``len(num_neighbors)
>= L`` the embeddings of the batch's nodes then equal the full-graph ones
exactly (every node within ``L - 1`` hops of a seed has all its edges in the
sample). With a finite fan-out, a node whose :math:`d` neighbours were
subsampled to :math:`m` distinct ones has its kept edges scaled by
:math:`d/m`, so its aggregation is an **unbiased estimate** of the full
graph's (given :math:`m` the kept set is a uniform subset), not a sum
shrunk by :math:`m/d`. Without the scale a popular item (hundreds of
neighbours, ten kept) trains with a few per cent of the aggregate it gets
at evaluation: sampled LightGCN on amazon-beauty plateaued at 89 % of the
full graph's validation recall@20 that way. The same holds for the kNN
relation below (``item_neighbors`` < :math:`k`).

**The item--item relation.** CM3 and LIRDRec add to each item the
propagated representations of its kNN neighbours, :math:`\mathbf{R}_i +
\mathbf{S}\mathbf{R}_i`. For such a model
(:meth:`~mmgraph.models.Recommender.sampling_item_graph`) the batch's items
are first expanded over :math:`\mathbf{S}` (``item_neighbors`` per hop,
``-1`` = all :math:`k`, for the model's kNN hops), the sampled neighbours
join the seeds of the user--item hops, and :attr:`SubgraphBatch.item_adj`
holds the sampled kNN edges with :math:`\mathbf{S}`'s weights: with every
fan-out unlimited the batch items' representations are exact.

**Gradients.** A node's row of :attr:`SubgraphBatch.adj` holds only the
edges it sampled, so the matrix is not symmetric; models propagate it with
``symmetric=False`` and the backward pass multiplies by its transpose.
With unlimited fan-out the batch's loss and every parameter's gradient equal
the full-graph step's (``tests/train/test_sampled.py``).

**Layer trimming.** Of an ``L``-layer propagation only the batch's own
nodes (the seeds) are scored, so layer :math:`l` needs the outputs of the
nodes within :math:`L - l` hops of the seeds and nothing else (the idea of
PyG's :func:`~torch_geometric.utils.trim_to_layer`). The subgraph's users
and items are kept in the order they were reached, so the nodes within
:math:`d` hops are a prefix of each (:attr:`SubgraphBatch.blocks`), and
:meth:`SubgraphBatch.layer_adjacencies` gives each layer a rectangular
matrix from the nodes within :math:`L - l + 1` hops to those within
:math:`L - l` (:class:`~mmgraph.nn.trimmed.TrimmedAdjacency`), over the
edges those rows sampled. The propagation then ends on the seeds: at
fan-out ``[10, 10]`` on Elec's shape a two-layer model's last layer
produces 6K rows from the first hop's 44K edges, not 123K rows from all
281K. The seeds' outputs, the loss and every gradient are unchanged
(``tests/train/test_sampled.py``). LightGCN, FREEDOM and CM3 propagate
that way; BM3's and LIRDRec's regularisers read every subgraph row, so they
propagate the whole :attr:`SubgraphBatch.adj` at every layer.

**Data parallelism.** The batches are the trainer's
:meth:`~mmgraph.train.Trainer.default_batches`, so under ``torchrun`` each
rank samples the subgraphs of its own share of every global batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmgraph.errors import MMGraphError
from mmgraph.models.base import Batch
from mmgraph.nn.sparse import csr_from_coo, quiet_sparse_warnings
from mmgraph.nn.trimmed import TrimmedAdjacency

__all__ = ["SubgraphBatch", "SubgraphBatches", "check_sampled",
           "surplus_hops_advice", "set_item_history", "refresh_item_history"]


def check_sampled(model, objective_name: str) -> None:
    r"""Raises :class:`~mmgraph.errors.MMGraphError` (one line) unless
    ``model`` trained by ``objective_name`` supports sampled training."""
    name = getattr(model, "registry_name", model.__class__.__name__)
    reason = getattr(model, "supports_sampled", False)
    if reason is not True:
        raise MMGraphError(f"--sampled: model '{name}' does not support "
                           f"sampled training ({reason}); train it "
                           f"full-graph (without --sampled)")
    native = objective_name == "native" and getattr(model, "native_loss",
                                                    False)
    if objective_name != "bpr" and not native:
        raise MMGraphError(f"--sampled: objective '{objective_name}' is not "
                           f"supported in sampled training; use "
                           f"--objective bpr (or the model's native loss)")


def surplus_hops_advice(model, num_neighbors: Sequence[int]
                        ) -> Optional[str]:
    r"""One line of advice when ``num_neighbors`` samples more user--item
    hops than ``model`` propagates layers, else :obj:`None`. The hops past
    the layers only enlarge the subgraph: their nodes are sampled and
    looked up, and reach the loss only through BM3's and LIRDRec's
    regulariser estimates (BM3 at Elec's shape: 0.47 s per batch at
    ``[10, 10]``, 0.30 at ``[10]``, the same accuracy on Beauty)."""
    layers = getattr(getattr(model, "propagation", None), "num_layers", None)
    hops = len(num_neighbors)
    if not isinstance(layers, int) or layers < 1 or hops <= layers:
        return None
    name = getattr(model, "registry_name", model.__class__.__name__)
    return (f"sampled: model '{name}' propagates {layers} user-item "
            f"layer(s) but num_neighbors {list(num_neighbors)} samples "
            f"{hops} hops; the last {hops - layers} only enlarge the "
            f"subgraph (num_neighbors={list(num_neighbors)[:layers]} "
            f"matches the layers)")


def set_item_history(model, enabled: bool, sampled: bool) -> None:
    r"""Attaches an :class:`~mmgraph.nn.history.ItemInputHistory` to
    :obj:`model` (``item_history``; filled by :meth:`refresh_item_history`)
    when :obj:`enabled`, else removes any (a model trained earlier with one
    would otherwise keep reading it). Raises
    :class:`~mmgraph.config.ConfigError` (one line), when enabling, without
    sampled training or for a model without content-computed item inputs."""
    from mmgraph.config import ConfigError
    from mmgraph.models.registry import get_model_class, list_models
    from mmgraph.nn.history import ItemInputHistory
    if not enabled:
        if model._modules.get("item_history") is not None:
            del model._modules["item_history"]
        return
    if not sampled:
        raise ConfigError("train item_history: needs sampled training "
                          "(--sampled); a full-graph step encodes every "
                          "item anyway")
    if not getattr(model, "supports_item_history", False):
        name = getattr(model, "registry_name", model.__class__.__name__)
        able = [m for m in list_models() if getattr(
            get_model_class(m), "supports_item_history", False)]
        raise ConfigError(f"train item_history: model '{name}' does not "
                          f"compute its item inputs from content; expected "
                          f"one of {', '.join(able)}")
    device = next(iter(model.buffers()), torch.empty(0)).device
    model.item_history = ItemInputHistory(model.num_items).to(device)


def refresh_item_history(model) -> None:
    r"""Recomputes every row of :obj:`model`'s item history, if it has one
    (the trainer calls it at each epoch's start)."""
    history = model._modules.get("item_history")
    if history is not None:
        history.refresh(model.item_inputs)


@dataclass
class SubgraphBatch(Batch):
    r"""A :class:`~mmgraph.models.base.Batch` (global ids, for regularisers
    over embedding tables) plus its sampled subgraph.

    Attributes:
        user_ids (Tensor): ``[U_s]`` global ids of the subgraph's users,
            ordered by hop distance from the batch (the batch's own users
            first, then those sampled at hop 1, ...).
        item_ids (Tensor): ``[I_s]`` global ids of its items, ordered the
            same way (the batch's items and their kNN neighbours first).
        local_users, local_pos, local_neg (Tensor): the batch's pairs as
            positions in ``user_ids`` / ``item_ids``.
        item_adj (Tensor, optional): ``[I_s, I_s]`` sparse CSR of the
            sampled item--item edges (the model's
            :meth:`~mmgraph.models.Recommender.sampling_item_graph`, its
            weights), in ``item_ids`` positions; :obj:`None` if the model
            has no such relation. Every entry lies among the first
            ``blocks[0][1]`` items (see :meth:`seed_item_adj`).
        hop_edges (tuple): ``(row, col, weight, ends)``: the subgraph's
            edges in the order they were sampled (row = aggregating node,
            local positions, items offset by ``U_s``; the full graph's
            normalised weights, times :math:`d/m` where a node's
            neighbours were subsampled) and how many were sampled by the end
            of each hop.
        blocks (list): ``(users, items)`` within :math:`d` hops of the
            batch, for :math:`d = 0, 1, \dots`; the last is ``(U_s, I_s)``.
    """
    user_ids: Optional[Tensor] = None
    item_ids: Optional[Tensor] = None
    local_users: Optional[Tensor] = None
    local_pos: Optional[Tensor] = None
    local_neg: Optional[Tensor] = None
    item_adj: Optional[Tensor] = None
    hop_edges: Optional[Tuple[Tensor, Tensor, Tensor, List[int]]] = None
    blocks: Optional[List[Tuple[int, int]]] = None

    def to(self, device) -> "SubgraphBatch":
        def mv(t):
            return None if t is None else t.to(device)
        hop_edges = None if self.hop_edges is None else \
            tuple(mv(t) for t in self.hop_edges[:3]) + (self.hop_edges[3],)
        return SubgraphBatch(mv(self.users), mv(self.pos_items),
                             mv(self.neg_items), mv(self.user_ids),
                             mv(self.item_ids), mv(self.local_users),
                             mv(self.local_pos), mv(self.local_neg),
                             mv(self.item_adj), hop_edges, self.blocks)

    @cached_property
    def adj(self) -> Tensor:
        r"""``[U_s + I_s, U_s + I_s]`` sparse CSR adjacency of the whole
        subgraph (items offset by ``U_s``; row = aggregating node), built on
        first use. **Not symmetric**: a node's row holds only the edges it
        sampled, so propagate it with ``symmetric=False``
        (:class:`~mmgraph.nn.propagation.LightGCNPropagation`), whose
        backward then uses the transpose. A model whose loss reads only the
        batch's rows propagates :meth:`layer_adjacencies` instead."""
        row, col, weight, _ = self.hop_edges
        n = sum(self.blocks[-1])
        return csr_from_coo(row, col, weight, (n, n))

    @property
    def seed_item_adj(self) -> Optional[Tensor]:
        r""":attr:`item_adj` restricted to the first ``blocks[0][1]`` items
        (the batch's and their kNN neighbours, which hold all its entries):
        the item--item relation of a trimmed propagation's output."""
        if self.item_adj is None:
            return None
        n = self.blocks[0][1]
        crow = self.item_adj.crow_indices()
        with quiet_sparse_warnings():
            return torch.sparse_csr_tensor(
                crow[:n + 1], self.item_adj.col_indices(),
                self.item_adj.values(), (n, n))

    def layer_adjacencies(self, num_layers: int) -> TrimmedAdjacency:
        r"""The subgraph's adjacency trimmed per layer to what the batch's
        rows need (:class:`~mmgraph.nn.trimmed.TrimmedAdjacency`): layer
        :math:`l` of :math:`L` maps the nodes within :math:`\min(L - l + 1,
        H)` hops to those within :math:`\min(L - l, H)` over the edges those
        rows sampled (hops :math:`1..L - l + 1`), so the propagation ends on
        the batch's users and items (``blocks[0]``). Their outputs equal
        those over :attr:`adj`; positions in ``user_ids`` / ``item_ids``
        stay valid (the batch's nodes come first)."""
        row, col, weight, ends = self.hop_edges
        hops = len(self.blocks) - 1
        n_users = self.blocks[-1][0]
        built: dict = {}
        layers = []
        for layer in range(1, num_layers + 1):
            d_out = min(num_layers - layer, hops)
            d_in = min(d_out + 1, hops)
            key = (d_out, d_in)
            if key not in built:
                source, target = self.blocks[d_in], self.blocks[d_out]
                # rows within d_out hops sampled their edges by hop d_out + 1
                end = ends[min(d_out, hops - 1)] if ends else 0
                r, c = row[:end], col[:end]
                # positions in the blocks: users first, then items
                r = torch.where(r < n_users, r, r - n_users + target[0])
                c = torch.where(c < n_users, c, c - n_users + source[0])
                built[key] = (csr_from_coo(r, c, weight[:end],
                                         (sum(target), sum(source))),
                              source, target)
            layers.append(built[key])
        return TrimmedAdjacency(layers, self.blocks[-1])

    @property
    def is_subgraph(self) -> bool:  # type: ignore[override]
        return self.hop_edges is not None

    def local(self) -> Batch:
        r"""The pairs as local positions (for scoring subgraph embeddings)."""
        return Batch(self.local_users, self.local_pos, self.local_neg)


def _csr(src: Tensor, dst: Tensor, n: int) -> Tuple[Tensor, Tensor]:
    order = torch.argsort(src, stable=True)
    ptr = torch.zeros(n + 1, dtype=torch.long)
    ptr[1:] = torch.cumsum(torch.bincount(src, minlength=n), 0)
    return ptr, dst[order]


def _sample(ptr: Tensor, col: Tensor, nodes: Tensor, k: int
            ) -> Tuple[Tensor, Tensor, Tensor]:
    r"""``(node, position in col, scale)`` of the sampled edges: every
    neighbour of the ``nodes`` with at most ``k`` (all if ``k == -1``;
    scale 1), else ``k`` uniform draws with replacement, deduplicated, each
    kept edge scaled by :math:`d / m` (degree over distinct neighbours
    kept). Given :math:`m`, the kept set is a uniform :math:`m`-subset, so
    the scaled sum over it is an unbiased estimate of the sum over all
    :math:`d` neighbours."""
    start, deg = ptr[nodes], ptr[nodes + 1] - ptr[nodes]
    take_all = deg <= k if k >= 0 else torch.ones_like(deg, dtype=torch.bool)
    # every neighbour of the small nodes
    small, sdeg = nodes[take_all], deg[take_all]
    owner = torch.repeat_interleave(torch.arange(small.numel()), sdeg)
    offs = torch.arange(owner.numel()) - torch.repeat_interleave(
        torch.cumsum(sdeg, 0) - sdeg, sdeg)
    rows, pos = small[owner], start[take_all][owner] + offs
    scale = torch.ones(rows.numel())
    if k >= 0 and bool((~take_all).any()):
        big, bdeg = nodes[~take_all], deg[~take_all]
        draw = (torch.rand(big.numel(), k) * bdeg.unsqueeze(1)).long()
        # distinct draws of each node, ascending: a sort of each node's k
        # draws (a global unique of all the keys sorted them all together)
        draw = draw.sort(dim=1).values
        keep = torch.ones_like(draw, dtype=torch.bool)
        keep[:, 1:] = draw[:, 1:] != draw[:, :-1]
        owner = torch.arange(big.numel()).unsqueeze(1).expand_as(draw)[keep]
        kept = keep.sum(1)
        rows = torch.cat([rows, big[owner]])
        pos = torch.cat([pos, (start[~take_all].unsqueeze(1) + draw)[keep]])
        scale = torch.cat([scale, (bdeg / kept.clamp_min(1))[owner].float()])
    return rows, pos, scale


class SubgraphBatches:
    r"""A :class:`~mmgraph.train.Trainer` batch source
    (``Trainer(..., batches=SubgraphBatches(dataset, [10, 10]))``) turning
    each of the trainer's default batches into a :class:`SubgraphBatch`.

    Args:
        dataset: the :class:`~mmgraph.data.RecDataset`.
        num_neighbors (list of int): fan-out per hop (``-1`` = all); at least
            as many hops as the model's propagation layers for the
            unlimited-fan-out equality.
        item_neighbors (int): fan-out per hop over the model's item--item
            relation (:meth:`~mmgraph.models.Recommender.sampling_item_graph`,
            CM3's and LIRDRec's kNN graph; ``-1`` = every neighbour, the
            exact term). (default: ``-1``)
    """
    #: Each rank draws its own batches (the trainer's default batches are
    #: already this rank's share).
    per_rank = True

    def __init__(self, dataset, num_neighbors: Sequence[int],
                 item_neighbors: int = -1) -> None:
        # The same rules as TrainConfig's (one definition, TRAIN_RULES).
        from mmgraph.config import check_train_value
        for key, value in (("num_neighbors", list(num_neighbors)),
                           ("item_neighbors", item_neighbors)):
            expected = check_train_value(key, value)
            if expected is not None:
                raise ValueError(f"{key}: expected {expected}, got {value!r}")
        self.num_neighbors: List[int] = [int(n) for n in num_neighbors]
        self.item_neighbors = int(item_neighbors)
        self.num_users, self.num_items = dataset.num_users, dataset.num_items
        # global id -> position in the step's sorted node list; only the
        # entries of the step's nodes are written and read (a gather, where
        # a binary search per edge cost ~10 % of a step at Elec's shape)
        self._user_pos = torch.empty(self.num_users, dtype=torch.long)
        self._item_pos = torch.empty(self.num_items, dtype=torch.long)
        # which nodes the step's subgraph holds already, and a scratch mask
        # for deduplicating a hop's new ones (set and cleared per step: a
        # gather and a scatter, where unique + isin sorted every hop's
        # neighbour lists)
        self._user_seen = torch.zeros(self.num_users, dtype=torch.bool)
        self._item_seen = torch.zeros(self.num_items, dtype=torch.bool)
        self._user_mark = torch.zeros(self.num_users, dtype=torch.bool)
        self._item_mark = torch.zeros(self.num_items, dtype=torch.bool)
        self.use_edges(dataset.train_edge_index)
        self.use_item_graph(None)

    def use_edges(self, edge_index: Tensor) -> None:
        r"""Samples from (and normalises by the degrees of) these
        ``(user, item)`` training edges from now on."""
        self.edges = edge_index
        u, i = edge_index.long().cpu()
        self.user_ptr, self.user_col = _csr(u, i, self.num_users)
        self.item_ptr, self.item_col = _csr(i, u, self.num_items)
        self.user_deg = torch.bincount(u, minlength=self.num_users
                                       ).clamp_min(1).double()
        self.item_deg = torch.bincount(i, minlength=self.num_items
                                       ).clamp_min(1).double()

    def use_item_graph(self, graph: Optional[Tuple[Tensor, int]]) -> None:
        r"""Also samples ``hops`` hops of this item--item relation
        ``(S [I, I] CSR, row = aggregating item, hops)`` from the batch's
        items (:obj:`None`: none)."""
        self.item_graph = graph
        if graph is not None:
            adj = graph[0].cpu()
            self.knn_ptr, self.knn_col, self.knn_val = \
                adj.crow_indices(), adj.col_indices(), adj.values()

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(num_neighbors="
                f"{self.num_neighbors}, item_neighbors={self.item_neighbors})")

    @staticmethod
    def _unseen(candidates: Tensor, seen: Tensor, mark: Tensor) -> Tensor:
        # The distinct candidates not seen yet, ascending; now seen.
        fresh = candidates[~seen[candidates]]
        mark[fresh] = True
        new = mark.nonzero().squeeze(1)
        mark[new] = False
        seen[new] = True
        return new

    def subgraph(self, batch: Batch) -> SubgraphBatch:
        r"""The sampled neighbourhood of one batch of global-id pairs."""
        try:
            return self._subgraph(batch)
        finally:  # the masks are per step (and must not keep a failed one)
            self._user_seen.zero_()
            self._item_seen.zero_()
            self._user_mark.zero_()
            self._item_mark.zero_()

    def _subgraph(self, batch: Batch) -> SubgraphBatch:
        neg = batch.neg_items
        seed_items = batch.pos_items if neg is None else \
            torch.cat([batch.pos_items, neg.reshape(-1)])
        u_seen, i_seen = self._user_seen, self._item_seen
        users = self._unseen(batch.users, u_seen, self._user_mark)
        items = self._unseen(seed_items, i_seen, self._item_mark)
        # The item-item relation first: the sampled neighbours' own
        # representations are needed, so they seed the user-item hops too.
        k_rows, k_pos, k_scale = [], [], []
        if self.item_graph is not None:
            frontier = items
            for _ in range(self.item_graph[1]):
                r, pos, scale = _sample(self.knn_ptr, self.knn_col,
                                        frontier, self.item_neighbors)
                k_rows.append(r)
                k_pos.append(pos)
                k_scale.append(scale)
                frontier = self._unseen(self.knn_col[pos], i_seen,
                                        self._item_mark)
                items = torch.cat([items, frontier])
        fu, fi = users, items
        # Nodes in the order they were reached, so those within d hops are
        # a prefix of each type (blocks[d]), which layer trimming relies on.
        blocks = [(users.numel(), items.numel())]
        e_u, e_i = [], []          # (user, item) of every sampled edge ...
        e_at_user = []             # ... and whether a user row aggregates it
        e_scale = []               # ... and its subsampling scale d / m
        hop_ends = []              # edges sampled by the end of each hop
        for k in self.num_neighbors:
            if fu.numel() == 0 and fi.numel() == 0:
                break
            ru, pos, su = _sample(self.user_ptr, self.user_col, fu, k)
            ni = self.user_col[pos]
            ri, pos, si = _sample(self.item_ptr, self.item_col, fi, k)
            nu = self.item_col[pos]
            e_u += [ru, nu]
            e_i += [ni, ri]
            e_scale += [su, si]
            e_at_user += [torch.ones_like(ru, dtype=torch.bool),
                          torch.zeros_like(ri, dtype=torch.bool)]
            hop_ends.append((hop_ends[-1] if hop_ends else 0) +
                            ru.numel() + ri.numel())
            new_i = self._unseen(ni, i_seen, self._item_mark)
            new_u = self._unseen(nu, u_seen, self._user_mark)
            users = torch.cat([users, new_u])
            items = torch.cat([items, new_i])
            fu, fi = new_u, new_i
            blocks.append((users.numel(), items.numel()))
        eu, ei, at_user = torch.cat(e_u), torch.cat(e_i), torch.cat(e_at_user)
        upos, ipos = self._user_pos, self._item_pos
        upos[users] = torch.arange(users.numel())
        ipos[items] = torch.arange(items.numel())
        lu = upos[eu]
        li = ipos[ei] + users.numel()
        row = torch.where(at_user, lu, li)
        col = torch.where(at_user, li, lu)
        weight = (self.user_deg[eu] * self.item_deg[ei]).rsqrt().float() \
            * torch.cat(e_scale)
        item_adj = None
        if self.item_graph is not None:
            r, pos = torch.cat(k_rows), torch.cat(k_pos)
            item_adj = csr_from_coo(ipos[r], ipos[self.knn_col[pos]],
                                  self.knn_val[pos].float() *
                                  torch.cat(k_scale),
                                  (items.numel(), items.numel()))
        local_neg = None if neg is None else ipos[neg]
        return SubgraphBatch(batch.users, batch.pos_items, neg, users, items,
                             upos[batch.users], ipos[batch.pos_items],
                             local_neg, item_adj, (row, col, weight, hop_ends),
                             blocks)

    def __call__(self, trainer, epoch: int) -> Iterator[SubgraphBatch]:
        # A model that trains on its own graph of the epoch (FREEDOM's
        # degree-pruned one, drawn in on_epoch_start) is sampled from it.
        edges = trainer.model.sampling_edges()
        if edges is not None and edges is not self.edges:
            self.use_edges(edges)
        graph = trainer.model.sampling_item_graph()
        if graph is None or self.item_graph is None or \
                graph[0] is not self.item_graph[0] or \
                graph[1] != self.item_graph[1]:
            self.use_item_graph(graph)
        for batch in trainer.default_batches(epoch):
            yield self.subgraph(batch)
