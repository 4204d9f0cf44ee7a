r"""The :class:`Recommender` contract every mmgraph model follows."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor

from mmgraph.errors import DataFormatError
from mmgraph.nn.encoders import ModalityEncoders, replace_feature_rows
from mmgraph.nn.losses import emb_loss, half_squared_norm_loss, info_nce_loss

__all__ = ["Batch", "Recommender"]


@dataclass
class Batch:
    r"""One training mini-batch of ``(user, positive item)`` pairs.

    Attributes:
        users (Tensor): ``[B]`` user ids.
        pos_items (Tensor): ``[B]`` observed items.
        neg_items (Tensor, optional): ``[B, k]`` sampled unobserved items
            (``None`` for models trained without negatives, e.g. BM3).
    """
    users: Tensor
    pos_items: Tensor
    neg_items: Optional[Tensor] = None

    def __len__(self) -> int:
        return self.users.numel()

    def rows(self, user_emb: Tensor, item_emb: Tensor) -> List[Tensor]:
        r"""The batch's rows of the representations: users, positives and
        (when sampled) the flattened negatives, the arguments of the batch
        regularisers. ``index_select``, not ``x[index]``: the backward of
        advanced indexing is not deterministic on multi-threaded CPUs."""
        out = [user_emb.index_select(0, self.users),
               item_emb.index_select(0, self.pos_items)]
        if self.neg_items is not None:
            out.append(item_emb.index_select(0, self.neg_items.reshape(-1)))
        return out

    #: Whether the batch carries a sampled subgraph
    #: (:class:`~mmgraph.train.sampled.SubgraphBatch`).
    is_subgraph = False

    def local(self) -> "Batch":
        r"""The pairs as row positions in the representations the batch's
        step computes: the ids themselves for a full-graph batch (a
        :class:`~mmgraph.train.sampled.SubgraphBatch` maps them into its
        subgraph)."""
        return self

    def to(self, device: Union[str, torch.device]) -> "Batch":
        return Batch(self.users.to(device), self.pos_items.to(device),
                     None if self.neg_items is None else
                     self.neg_items.to(device))


class Recommender(torch.nn.Module):
    r"""Base class of all recommenders.

    A model receives the dataset at construction and precomputes everything
    that is fixed (normalised adjacency, kNN graphs, fixed transforms) once.
    Graph structures are kept as plain attributes or non-persistent buffers
    so that ``state_dict()`` holds only learnable state: a model rebuilt on
    another training graph with the same id space (unlearning, label-noise
    experiments) loads the same checkpoint.

    The contract:

    * :meth:`embeddings` -- all user and all item representations whose inner
      product is the preference score. In training mode it may be stochastic
      (dropout, edge pruning); in eval mode it is deterministic.
    * :meth:`score` -- ``[len(users), num_items]`` scores from precomputed
      embeddings; it never masks training items (the evaluator does).
    * :meth:`extra_loss` -- the model's own regulariser or auxiliary terms
      that accompany a pairwise/pointwise objective (BPR, BPO, NBPO,
      reverse BPR).
    * :meth:`loss` -- a model-native loss (BM3, CM3). Models with a native loss
      set ``native_loss = True``; the trainer then uses it unless another
      objective is requested.
    * :meth:`on_epoch_start` -- per-epoch hooks (edge pruning, weight copying).

    Class attributes:
        native_loss (bool): whether :meth:`loss` is implemented.
        uses_negatives (bool): whether :meth:`loss` needs sampled negatives.
        multimodal (bool): whether the model reads item features.
        train_defaults (dict): the model's defaults of
            :class:`~mmgraph.config.TrainConfig` fields (e.g. its paper's
            learning rate), under any explicit setting: ``Trainer(model,
            dataset)`` and the CLI start from them alike.
        scores_from_content (bool): whether an item's score depends on its
            own features, so that a cold item (no training interaction) is
            scored from content. ``False`` for ID-only scorers, whose cold
            items keep untrained embeddings: the evaluator then reports no
            cold-item metrics for them, only a note.
    """
    native_loss: bool = False
    uses_negatives: bool = True
    multimodal: bool = False
    train_defaults: Dict[str, Any] = {}
    scores_from_content: bool = False

    def __init__(self, dataset) -> None:
        super().__init__()
        self.num_users = int(dataset.num_users)
        self.num_items = int(dataset.num_items)
        if self.multimodal and not dataset.modalities:
            # Bad data, not a bug: one line naming the folder.
            raise DataFormatError(
                f"{self.__class__.__name__} is a multimodal model but the "
                f"dataset {dataset.name!r} has no <modality>_feat.npy files; "
                f"add item features or train an ID-only model (mf, lightgcn)",
                getattr(dataset, "root", None))
        #: The resolved hyper-parameters (filled by the registry).
        self.hparams: Dict[str, Any] = {}

    def reset_parameters(self) -> None:
        r"""Re-initialises all learnable parameters."""
        raise NotImplementedError

    def embeddings(self) -> Tuple[Tensor, Tensor]:
        r"""Returns ``(user_emb [U, d], item_emb [I, d])``."""
        raise NotImplementedError

    def score(self, users: Tensor,
              embeddings: Optional[Tuple[Tensor, Tensor]] = None) -> Tensor:
        r"""Scores of ``users`` against every item, ``[len(users), I]``."""
        user_emb, item_emb = self.embeddings() if embeddings is None \
            else embeddings
        return user_emb[users] @ item_emb.t()

    @staticmethod
    def pair_scores(user_emb: Tensor, item_emb: Tensor, users: Tensor,
                    items: Tensor) -> Tensor:
        r"""Scores of ``(users[b], items[b, ...])``; ``items`` may be
        ``[B]`` or ``[B, k]``."""
        # index_select's backward is bitwise reproducible on several CPU
        # threads; advanced indexing's is not when ids repeat.
        u = user_emb.index_select(0, users)
        if items.dim() == 2:
            i = item_emb.index_select(0, items.reshape(-1)).view(
                *items.shape, -1)
            return (u.unsqueeze(1) * i).sum(-1)
        return (u * item_emb.index_select(0, items)).sum(-1)

    #: Whether :meth:`subgraph_embeddings` is implemented (sampled
    #: training, ``mmgraph train --sampled``); else the reason it is not.
    supports_sampled: Union[bool, str] = (
        "its representations are not computed on a sampled subgraph")

    #: Whether training reads the trainable feature tables of the model's
    #: :class:`~mmgraph.nn.ModalityEncoders` only by row (a batch's items),
    #: so that their gradients can be row-sparse (``sparse_features``).
    reads_features_by_row: bool = False

    #: Whether the model computes its item inputs from content by
    #: :meth:`item_inputs` and reads them in sampled steps through
    #: :meth:`sampled_item_inputs`, so that sampled training can keep
    #: historical inputs for the subgraph's non-seed items
    #: (``item_history``, :class:`~mmgraph.nn.history.ItemInputHistory`).
    supports_item_history: bool = False

    def item_inputs(self, index: Optional[Tensor] = None) -> List[Tensor]:
        r"""The item inputs computed from content, one ``[I, d_c]`` tensor
        per channel, for the items :obj:`index` (default: all); only for
        models with :attr:`supports_item_history`."""
        raise NotImplementedError(
            f"{self.__class__.__name__} has no item inputs from content")

    def sampled_item_inputs(self, batch) -> List[Tensor]:
        r""":meth:`item_inputs` of a sampled subgraph's items (``item_ids``
        order): all computed, or, with a history attached
        (``item_history``), the batch's positives and negatives computed and
        the other items' read from the history."""
        history = self._modules.get("item_history")
        if history is None:
            return self.item_inputs(batch.item_ids)
        seeds = batch.local_pos if batch.local_neg is None else torch.cat(
            [batch.local_pos, batch.local_neg.reshape(-1)])
        return history(batch.item_ids, torch.unique(seeds), self.item_inputs)

    def subgraph_embeddings(self, batch) -> Tuple[Tensor, Tensor]:
        r"""The user and item representations of a sampled subgraph
        (:class:`~mmgraph.train.sampled.SubgraphBatch`: ``user_ids``,
        ``item_ids``, ``adj``), rows in the order of ``user_ids`` /
        ``item_ids``: all of them, or (a model propagating
        :meth:`~mmgraph.train.sampled.SubgraphBatch.layer_adjacencies`) the
        first ones, which hold the batch's own users and items."""
        raise NotImplementedError(
            f"{self.__class__.__name__} does not support sampled training: "
            f"{self.supports_sampled}")

    def sampling_edges(self) -> Optional[Tensor]:
        r"""The ``(user, item)`` edges sampled training draws subgraphs
        from in the current epoch, when the model trains on a graph of its
        own (FREEDOM's pruned one); :obj:`None` (default): the dataset's
        training graph."""
        return None

    def sampling_item_graph(self) -> Optional[Tuple[Tensor, int]]:
        r"""``(S, hops)``: an item--item relation (CSR ``[I, I]``, row =
        aggregating item) whose **propagated** neighbours the item
        representations add, so sampled training draws ``hops`` hops of it
        from the batch's items first (CM3's and LIRDRec's kNN graph);
        :obj:`None` (default): no such relation."""
        return None

    def batch_embeddings(self, batch: Batch
                         ) -> Tuple[Tensor, Tensor, Batch]:
        r"""``(user_emb, item_emb, index_batch)`` for a training step: the
        full :meth:`embeddings` and ``batch`` itself, or for a sampled
        batch (one with a subgraph ``adj``) :meth:`subgraph_embeddings` and
        the batch's local positions."""
        if batch.is_subgraph:
            user_emb, item_emb = self.subgraph_embeddings(batch)
            return user_emb, item_emb, batch.local()
        user_emb, item_emb = self.embeddings()
        return user_emb, item_emb, batch

    def extra_loss(self, batch: Batch, user_emb: Tensor,
                   item_emb: Tensor) -> Tensor:
        r"""The model's own terms added to the objective (default: none)."""
        return user_emb.new_zeros(())

    @staticmethod
    def batch_emb_loss(batch: Batch, user_table: Tensor,
                       item_table: Tensor) -> Tensor:
        r"""MMRec's ``EmbLoss`` on the batch rows of two embedding tables:
        :math:`(\|U[u_b]\|_F + \|I[i^+_b]\|_F + \|I[j_b]\|_F) / B`."""
        items = [item_table[batch.pos_items]]
        if batch.neg_items is not None:
            items.append(item_table[batch.neg_items.reshape(-1)])
        return emb_loss(user_table[batch.users], *items)

    @staticmethod
    def batch_l2_loss(batch: Batch, user_emb: Tensor,
                      item_emb: Tensor) -> Tensor:
        r"""The L2 regulariser of the batch's final representations
        (LATTICE, MGCN, SMORE; LightGCN's form):
        :math:`\tfrac{1}{2}(\|\mathbf{u}_b\|^2 + \|\mathbf{i}^+_b\|^2 +
        \|\mathbf{i}^-_b\|^2) / B`, one gather (:meth:`Batch.rows`)."""
        return half_squared_norm_loss(*batch.rows(user_emb, item_emb),
                                      batch_size=batch.users.numel())

    def batch_view_contrast_loss(self, batch: Batch, side: Tensor,
                                 content: Tensor,
                                 temperature: float) -> Tensor:
        r"""The contrast of two ``[U + I, d]`` views (users first) on the
        batch's positive items and on its users (MGCN, SMORE):
        :math:`\mathrm{InfoNCE}(\mathbf{S}_{i_b}, \mathbf{C}_{i_b}) +
        \mathrm{InfoNCE}(\mathbf{S}_{u_b}, \mathbf{C}_{u_b})`
        (:func:`~mmgraph.nn.losses.info_nce_loss`)."""
        items = batch.pos_items + self.num_users
        return info_nce_loss(side.index_select(0, items),
                             content.index_select(0, items), temperature) + \
            info_nce_loss(side.index_select(0, batch.users),
                          content.index_select(0, batch.users), temperature)

    def loss(self, batch: Batch) -> Union[Tensor, Dict[str, Tensor]]:
        r"""The model-native training loss (only if ``native_loss``)."""
        raise NotImplementedError(
            f"{self.__class__.__name__} has no native loss; train it with an "
            f"objective such as 'bpr'")

    def on_epoch_start(self, epoch: int) -> None:
        r"""Called by the trainer before each epoch (``epoch`` from 0)."""

    def on_train_graph_change(self, dataset) -> None:
        r"""Rebuilds everything derived from the training interactions for a
        new training set in the same id space (used by unlearning). The
        default re-runs ``__init__``'s graph set-up via
        :meth:`build_graphs`."""
        self.build_graphs(dataset)

    def on_features_change(self, dataset) -> None:
        r"""Replaces every copy of the item features the model holds (fixed
        input buffers, trainable feature tables, transforms of them) by
        ``dataset.features`` and rebuilds the graphs: those built from the
        features alone (:meth:`build_feature_graphs`, e.g. kNN item graphs)
        and those built from the interactions
        (:meth:`on_train_graph_change`). Used by unlearning when a request
        zeroes the removed items' features
        (:class:`~mmgraph.unlearn.ForgetRequest` ``zero_features``).

        The default writes the features into every
        :class:`~mmgraph.nn.ModalityEncoders` that stores them (trainable
        tables only in the changed rows) and into the model's fixed
        ``feat_<modality>`` input buffers. A model holding other copies
        (VBPR's concatenation, LIRDRec's DCT) overrides this; a multimodal
        model holding none of these raises, so no copy is missed
        silently."""
        feats = {m: dataset.features[m].float()
                 for m in getattr(dataset, "modalities", [])}
        handled = False
        for module in self.modules():
            if isinstance(module, ModalityEncoders) and module.has_features:
                module.replace_features(feats)
                handled = True
        buffers = dict(self.named_buffers(recurse=False))
        for m, x in feats.items():
            old = buffers.get(f"feat_{m}")
            if old is not None:
                # Re-bound, not copied into: the buffer may alias the
                # original dataset's tensor, which must stay as it is.
                setattr(self, f"feat_{m}", x.to(old.device, old.dtype))
                handled = True
        if self.multimodal and not handled:
            raise NotImplementedError(
                f"{self.__class__.__name__} reads item features but holds "
                f"them in no ModalityEncoders or feat_<modality> buffer: "
                f"implement on_features_change()")
        self.build_feature_graphs(dataset)
        self.on_train_graph_change(dataset)

    #: The row rule (:func:`mmgraph.nn.encoders.replace_feature_rows`).
    replace_feature_rows = staticmethod(replace_feature_rows)

    def build_graphs(self, dataset) -> None:
        r"""Precomputes the graphs the model propagates over (override)."""

    def build_feature_graphs(self, dataset) -> None:
        r"""Precomputes what the model derives from the item features alone
        and keeps fixed, e.g. kNN item graphs built in ``__init__`` (override;
        :meth:`on_features_change` calls it again, so a removed item's
        content leaves them too). Graphs that also depend on the
        interactions belong in :meth:`build_graphs`."""

    def extra_repr(self) -> str:
        return f"{self.num_users}, {self.num_items}"
