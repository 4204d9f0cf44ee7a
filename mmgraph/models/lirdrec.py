r"""LIRDRec."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Parameter, ParameterList

from mmgraph.models.base import Batch, Recommender
from mmgraph.models.freedom import (EpochPrunedGraph, item_knn_adjacency,
                                    pruning_weights)
from mmgraph.models.registry import register_model
from mmgraph.nn.encoders import DCT, ModalityEncoders, ModalityProjection
from mmgraph.nn.fusion import ProgressiveWeightCopyingFusion
from mmgraph.nn.losses import mean_square_loss
from mmgraph.nn.propagation import ItemGraphConvolution, LightGCNPropagation

__all__ = ["LIRDRec"]

#: Name of the channel fed by the DCT of all modalities.
SHARED = "dct"


@register_model("lirdrec")
class LIRDRec(EpochPrunedGraph, Recommender):
    r"""LIRDRec from `"Learning Item Representations Directly from
    Multimodal Features" <https://arxiv.org/abs/2505.04960>`_ (Zhou, Zhang,
    Niyato and Shen, 2025).

    Items have **no ID embeddings**: with :math:`M` modalities there are
    :math:`C = M + 1` channels, one per modality plus a shared one fed by the
    fixed "multimodal transformation" (the orthonormal DCT-II of every
    modality's features, concatenated, :class:`~mmgraph.nn.encoders.DCT`):

    .. math::
        \mathbf{x}_m = \mathrm{MLP}_m(\mathbf{F}_m), \qquad
        \mathbf{x}_s = \mathrm{MLP}_s\big([\mathrm{DCT}(\mathbf{F}_{m_1})
        \,\|\,\cdots\,\|\,\mathrm{DCT}(\mathbf{F}_{m_M})]\big),

    each MLP in :math:`\to 4d \to` LeakyReLU :math:`\to d` (no output bias).
    Users have one free table :math:`\mathbf{P}_c` per channel. The node
    input stacks users and items per channel, normalises the rows and
    concatenates the channels; LightGCN propagation **sums** layers
    :math:`0..L`:

    .. math::
        \mathbf{X} = \big\Vert_{c}\, \mathrm{n}([\mathbf{P}_c;
        \mathbf{x}_c]), \qquad
        \mathbf{R} = \sum_{l=0}^{L} \hat{\mathbf{A}}^{l}\mathbf{X}.

    Users fuse their channels with progressive weight copying
    (:class:`~mmgraph.nn.fusion.ProgressiveWeightCopyingFusion`:
    :math:`\mathbf{a}_u = \mathrm{softmax}(w_1 \mathbf{f}_u +
    w_2\boldsymbol{\theta}_u)`, :math:`\mathbf{h}_u = \Vert_c\, a_{u,c}
    \mathbf{r}_{u,c}`; :math:`w_1` decays super-exponentially and
    :math:`\boldsymbol{\theta}` receives the last attention at every epoch
    start, see :meth:`on_epoch_start`). Items add one hop over the frozen kNN
    graph, :math:`\mathbf{h}_i = \mathbf{R}_i + \mathbf{S}^{L_{mm}}
    \mathbf{R}_i` (:func:`~mmgraph.models.freedom.item_knn_adjacency`).
    Scores are :math:`\mathbf{h}_u^{\top}\mathbf{h}_i` (not normalised). The
    regulariser (:meth:`extra_loss`) is the mean square of **all**
    representations,
    :math:`\lambda(\mathrm{mean}(\mathbf{H}_U^{2}) +
    \mathrm{mean}(\mathbf{H}_I^{2}))`.

    With image + text this is the reference model (channels image, text,
    DCT). :meth:`channel_weights` reports the learned PWC attention per
    channel.

    .. note::
        As in the reference, the *softmax output* is copied into the
        *logits* :math:`\boldsymbol{\theta}` each epoch. Once :math:`w_1`
        has faded, the copy contracts differences between channels (the
        softmax Jacobian at the uniform point is
        :math:`\frac{1}{C}(\mathbf{I} - \frac{1}{C}\mathbf{1}\mathbf{1}^\top)`),
        so the attention stays within about the size of one epoch's
        :math:`\boldsymbol{\theta}` updates of uniform: the sign of the
        preference is informative, its size is small (on the synthetic data
        about :math:`10^{-4}` at lr :math:`10^{-4}`).

    Differences from the reference code (LIRDRec ``lirdrec.py``):

    * evaluation uses fresh eval-mode :meth:`embeddings` (full graph, no
      recording of attention) instead of the representations cached at the
      last training batch, which are one optimiser step stale;
    * any number of modalities: one channel each plus the DCT channel (the
      reference hard-wires image, text, DCT). With one modality the DCT
      channel is a second, differently parametrised view of it;
    * the main term comes from the chosen objective (``bpr`` by default,
      MMRec's :math:`-\log(10^{-10} + \sigma)`), so NBPO and reverse BPR
      also apply;
    * the PWC schedule state (epoch counter, :math:`w_1, w_2`, the last
      attention) is part of the checkpoint, so a resumed run continues it;
    * the DCT is computed without the ``torch_dct`` dependency; kNN ties are
      broken by item index and the graph is not cached on disk;
    * The reference creates its per-user preference tables as
      ``nn.Parameter(...).to(device)``. On CPU ``.to`` returns the parameter
      itself, which is registered and trained; on a GPU it returns a new,
      non-leaf tensor that is **not registered**, so the optimiser never
      updates it: the published (GPU) numbers were made with the user
      preference tables frozen at their random initialisation.
      ``train_user_prefs=False`` reproduces that (the tables stay in the
      checkpoint, with ``requires_grad=False``); the default trains them, as
      the reference does on CPU and as the paper describes.
    * with ``dropout > 0`` the user--item graph is pruned each epoch as in
      FREEDOM (the reference carries that code path too; off by default).

    Args:
        dataset: the :class:`~mmgraph.data.RecDataset` (with features).
        embedding_dim (int): :math:`d` per channel (default: ``64``).
        n_ui_layers (int): user--item layers :math:`L` (default: ``2``).
        n_mm_layers (int): item--item hops :math:`L_{mm}` (default: ``1``).
        knn_k (int): neighbours per item in :math:`\mathbf{S}`
            (default: ``10``).
        mm_image_weight (float): weight of the image kNN graph
            (default: ``0.1``).
        reg_weight (float): :math:`\lambda` (default: ``1e-4``).
        decay_weight (float): initial :math:`w_1` (default: ``0.9``).
        decay_base (float): PWC decay base :math:`\beta` (default: ``0.9``).
        dropout (float): FREEDOM edge pruning ratio (default: ``0.0``).
        train_user_prefs (bool): train the per-channel user preference
            tables (default: ``True``); ``False`` freezes them at their
            initialisation, as the reference's GPU runs do (see above).

    Training defaults (:attr:`train_defaults`): learning rate ``1e-4``, the
    only value of the reference grid (not MMRec's ``1e-3``).
    """
    multimodal = True
    train_defaults = {"learning_rate": 1e-4}
    #: Item inputs are encoders of the features and their DCT.
    scores_from_content = True

    #: Sampled training (``--sampled``): the encoders run on the
    #: subgraph's items only, the propagation on its graph, the kNN term
    #: over the sampled item--item edges (:meth:`sampling_item_graph`), and
    #: PWC records the attention of the subgraph's users; the regulariser
    #: is the mean square over the subgraph's rows (an estimate of the
    #: full mean). With every fan-out unlimited the batch's representations
    #: equal the full-graph ones.
    supports_sampled = True
    #: ``item_history``: a sampled step may read its non-seed items'
    #: encoder outputs from a history (:meth:`item_inputs`).
    supports_item_history = True

    def __init__(self, dataset, embedding_dim: int = 64, n_ui_layers: int = 2,
                 n_mm_layers: int = 1, knn_k: int = 10,
                 mm_image_weight: float = 0.1, reg_weight: float = 1e-4,
                 decay_weight: float = 0.9, decay_base: float = 0.9,
                 dropout: float = 0.0, train_user_prefs: bool = True) -> None:
        super().__init__(dataset)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"LIRDRec: 'dropout' (the edge pruning ratio) "
                             f"must be in [0, 1) (got {dropout})")
        if embedding_dim < 4:
            raise ValueError(f"LIRDRec: 'embedding_dim' must be >= 4 (the "
                             f"PWC scorers have d/4 hidden units; got "
                             f"{embedding_dim})")
        self.embedding_dim = embedding_dim
        self.n_ui_layers = n_ui_layers
        self.n_mm_layers = n_mm_layers
        self.knn_k = knn_k
        self.mm_image_weight = mm_image_weight
        self.reg_weight = reg_weight
        self.dropout = dropout
        self.train_user_prefs = train_user_prefs
        self.modalities = list(dataset.modalities)
        if SHARED in self.modalities:
            raise ValueError(f"LIRDRec: a modality may not be called "
                             f"'{SHARED}' (the name of the DCT channel)")
        self.channels: List[str] = self.modalities + [SHARED]

        feats = {m: dataset.features[m].float() for m in self.modalities}
        hidden = 4 * embedding_dim
        self.encoders = ModalityEncoders(
            {m: int(x.size(1)) for m, x in feats.items()}, embedding_dim,
            hidden_channels=hidden, act="leaky_relu", out_bias=False,
            features=feats, train_features=False)
        # The fixed multimodal transformation, computed once.
        dct = DCT()([feats[m] for m in self.modalities])
        self.register_buffer("dct_features", dct, persistent=False)
        self.shared_encoder = ModalityProjection(
            dct.size(1), embedding_dim, hidden, act="leaky_relu",
            out_bias=False)
        self.user_prefs = ParameterList([
            Parameter(torch.empty(self.num_users, embedding_dim),
                      requires_grad=train_user_prefs)
            for _ in self.channels])
        self.fusion = ProgressiveWeightCopyingFusion(
            self.num_users, embedding_dim, num_channels=len(self.channels),
            hidden_channels=embedding_dim // 4, decay_weight=decay_weight,
            decay_base=decay_base)
        self.propagation = LightGCNPropagation(n_ui_layers, combine="sum")
        self.item_conv = ItemGraphConvolution(max(n_mm_layers, 1),
                                              residual=True)
        self.build_graphs(dataset)
        self.reset_parameters()

    # ---------------------------------------------------------------- graphs
    def on_features_change(self, dataset) -> None:
        feats = {m: dataset.features[m].float() for m in self.modalities}
        self.encoders.replace_features(feats)
        self.replace_feature_rows(
            self.dct_features, DCT()([feats[m] for m in self.modalities]))
        self.on_train_graph_change(dataset)

    def build_graphs(self, dataset) -> None:
        device = self.dct_features.device
        self.register_buffer("adj", dataset.norm_adj().to(device),
                             persistent=False)
        self.register_buffer(
            "mm_adj",
            item_knn_adjacency(dataset, self.knn_k,
                               self.mm_image_weight).to(device),
            persistent=False)
        edges = dataset.train_edge_index.to(device)
        self.register_buffer("train_edges", edges, persistent=False)
        self.register_buffer(
            "edge_weights",
            pruning_weights(edges, self.num_users, self.num_items),
            persistent=False)
        self.register_buffer("masked_adj", None, persistent=False)
        self.kept_edges: Optional[Tensor] = None

    def on_epoch_start(self, epoch: int) -> None:
        r"""Advances the PWC schedule (:math:`w_1, w_2` and the copy of the
        last attention into :math:`\boldsymbol{\theta}`) and, with
        ``dropout > 0``, redraws the pruned graph."""
        self.fusion.on_epoch_start(epoch)
        if self.dropout > 0:
            self.prune()

    # ------------------------------------------------------------ parameters
    def reset_parameters(self) -> None:
        self.encoders.reset_parameters()
        self.shared_encoder.reset_parameters()
        for p in self.user_prefs:
            torch.nn.init.xavier_normal_(p)
        self.fusion.reset_parameters()

    def item_inputs(self, index: Optional[Tensor] = None) -> List[Tensor]:
        r"""The item inputs :math:`\mathbf{x}_c` of every channel,
        ``[I, d]`` each (or of the items :obj:`index`), in :obj:`channels`
        order."""
        x = self.encoders(index=index)
        dct = self.dct_features if index is None else \
            self.dct_features.index_select(0, index)
        return [x[m] for m in self.modalities] + [self.shared_encoder(dct)]

    def _represent(self, users: Optional[Tensor],
                   item_inputs: List[Tensor], adj: Tensor,
                   item_adj: Optional[Tensor],
                   symmetric: bool) -> Tuple[Tensor, Tensor]:
        # All nodes (users/items None) or a sampled subgraph's.
        prefs = [p if users is None else p.index_select(0, users)
                 for p in self.user_prefs]
        x = torch.cat([
            F.normalize(torch.cat([p, xi], dim=0), dim=1)
            for p, xi in zip(prefs, item_inputs)
        ], dim=1)
        r = self.propagation(x, adj, symmetric=symmetric)
        nu = prefs[0].size(0)
        r_users, r_items = r[:nu], r[nu:]
        out_users = self.fusion(list(r_users.split(self.embedding_dim,
                                                   dim=1)), users)
        if item_adj is not None:
            r_items = self.item_conv(r_items, item_adj)
        return out_users, r_items

    def embeddings(self) -> Tuple[Tensor, Tensor]:
        return self._represent(None, self.item_inputs(), self.current_adj(),
                               self.mm_adj if self.n_mm_layers > 0 else None,
                               symmetric=True)

    def subgraph_embeddings(self, batch) -> Tuple[Tensor, Tensor]:
        # not trimmed per layer: the regulariser reads every subgraph row
        return self._represent(batch.user_ids,
                               self.sampled_item_inputs(batch), batch.adj,
                               batch.item_adj, symmetric=False)

    def sampling_item_graph(self) -> Optional[Tuple[Tensor, int]]:
        return (self.mm_adj, self.n_mm_layers) if self.n_mm_layers > 0 \
            else None

    def extra_loss(self, batch: Batch, user_emb: Tensor,
                   item_emb: Tensor) -> Tensor:
        if self.reg_weight == 0:
            return user_emb.new_zeros(())
        return self.reg_weight * mean_square_loss(user_emb, item_emb)

    # -------------------------------------------------------------- insight
    @property
    def pwc_weights(self) -> Tuple[float, float]:
        r"""The current schedule weights :math:`(w_1, w_2)`."""
        return float(self.fusion.w1), float(self.fusion.w2)

    def channel_weights(self, users: Optional[Tensor] = None
                        ) -> Dict[str, float]:
        r"""Mean PWC attention per channel over :obj:`users` (default: all),
        from the last training forward."""
        w = self.fusion.modality_weights(users)
        if w.dim() == 2:
            w = w.mean(dim=0)
        return {c: float(v) for c, v in zip(self.channels, w)}

    def extra_repr(self) -> str:
        return (f"{self.num_users}, {self.num_items}, "
                f"embedding_dim={self.embedding_dim}, "
                f"channels={self.channels}, "
                f"n_ui_layers={self.n_ui_layers}, "
                f"n_mm_layers={self.n_mm_layers}, knn_k={self.knn_k}")
