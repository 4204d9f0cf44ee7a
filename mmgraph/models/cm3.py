r"""CM3: calibrated alignment and uniformity for multimodal recommendation."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from mmgraph.models.base import Batch, Recommender
from mmgraph.models.freedom import item_knn_adjacency
from mmgraph.models.registry import register_model
from mmgraph.nn.encoders import ModalityEncoders
from mmgraph.nn.fusion import AttentionFusion, SphericalBezierFusion
from mmgraph.nn.losses import (alignment_loss, calibrated_uniformity_loss,
                               uniformity_loss)
from mmgraph.nn.propagation import ItemGraphConvolution, LightGCNPropagation

__all__ = ["CM3"]


@register_model("cm3")
class CM3(Recommender):
    r"""CM3 from `"Calibrating Multimodal Recommendation"
    <https://arxiv.org/abs/2508.01226>`_ (Zhou, Wang and Shen, 2025).

    **Representations.** For :math:`M \geq 1` modalities with raw (fixed)
    item features :math:`\mathbf{F}_m` there are :math:`M + 1` channels of
    size :math:`d`: one per modality, whose item side is an MLP of the
    features, and one shared channel whose item side is the spherical
    Bézier fusion (:class:`~mmgraph.nn.fusion.SphericalBezierFusion`) of
    linear projections of all modalities,

    .. math::
        \mathbf{x}^{m}_i = \mathrm{MLP}_m(\mathbf{f}^{m}_i), \qquad
        \mathbf{s}_i = \mathrm{Bezier}_{t_i}\big(\mathrm{n}(\mathbf{W}_1
        \mathbf{f}^{1}_i), \dots, \mathrm{n}(\mathbf{W}_M
        \mathbf{f}^{M}_i)\big), \quad t_i \sim \mathrm{Beta}(\alpha,
        \alpha),

    with one free user table per channel. Each channel's node matrix is
    row-normalised, the channels are concatenated and propagated with
    LightGCN (**sum** of layers :math:`0..L`):

    .. math::
        \mathbf{X} = \big[\mathrm{n}[\mathbf{P}_1; \mathbf{X}^{1}] \,\|\,
        \cdots \,\|\, \mathrm{n}[\mathbf{P}_M; \mathbf{X}^{M}] \,\|\,
        \mathrm{n}[\mathbf{P}_s; \mathbf{S}]\big], \qquad
        \mathbf{R} = \sum_{l=0}^{L}\hat{\mathbf{A}}^{l}\mathbf{X}.

    Users weight their channels with a per-user softmax,
    :math:`\mathbf{u} = [a_{u,1}\mathbf{r}_{u,1} \| \cdots \|
    a_{u,M+1}\mathbf{r}_{u,M+1}]`, :math:`\mathbf{a}_u =
    \mathrm{softmax}(\boldsymbol{\theta}_u)`; items add one hop over the
    frozen multimodal kNN graph, :math:`\mathbf{i} = \mathbf{R}_i +
    \mathbf{K}^{L_{mm}}\mathbf{R}_i`, with
    :math:`\mathbf{K} = \sum_m w_m \mathbf{K}_m` (cosine top-:math:`k`
    graphs of the raw features, :math:`w` = ``mm_image_weight`` for an
    ``image`` modality, the rest shared equally; 1 for a single modality).
    Scores are :math:`s_{ui} = \langle \mathbf{u}, \mathbf{i} \rangle`
    (un-normalised, as in the reference's prediction).

    **Native loss.** With :math:`\tilde{\mathbf{x}} = \mathrm{n}(\mathbf{x})`,
    the batch :math:`(u_b, i^{+}_b, j_b)` and one sampled negative per
    positive used only as a random item sample:

    .. math::
        \mathcal{L} = \frac{1}{B}\sum_b \lVert \tilde{\mathbf{u}}_{u_b} -
        \tilde{\mathbf{i}}_{i^{+}_b} \rVert^2 + \frac{\gamma}{2}\Big(
        \log \mathop{\mathrm{mean}}_{a<b} e^{-2\lVert\tilde{\mathbf{u}}_{u_a}
        - \tilde{\mathbf{u}}_{u_b}\rVert^2} + \log
        \mathop{\mathrm{mean}}_{a<b} e^{-2(\lVert\tilde{\mathbf{i}}_{j_a} -
        \tilde{\mathbf{i}}_{j_b}\rVert^2 - 2 + 2 s_{ab})}\Big),

    :math:`s_{ab} = \mathrm{clamp}(\cos(\mathrm{sg}(\mathbf{s}_{j_a}),
    \mathrm{sg}(\mathbf{s}_{j_b})), s_{\min}, s_{\max})`
    (:func:`~mmgraph.nn.losses.calibrated_uniformity_loss`). Returned as the
    named terms ``align`` and ``uniform``.

    **With a pairwise/point-wise objective** (BPR, BPO, NBPO, reverse BPR)
    the objective replaces the alignment/uniformity loss on
    :math:`\langle \mathbf{u}, \mathbf{i}\rangle`. CM3 has no regulariser
    (its layer-0 rows are normalised, so scores stay bounded), and its
    thesis is that pairwise losses already over-weight uniformity, so
    :meth:`extra_loss` is zero by default; ``extra_uniformity_weight``
    :math:`\mu > 0` adds :math:`\mu` times the (calibrated) uniformity term
    above, computed on the batch users and the first sampled negatives.

    **Differences from the reference code** (``enoche/CM3``
    ``src/models/cm3.py``):

    * The calibration similarities are computed from **detached** fused
      features (``detach_calibration=True``). The reference lets gradients
      flow through :math:`s_{ab}`; since the loss falls as :math:`s_{ab}`
      grows, that path simply pulls every item's fused feature to one
      point: on the synthetic data the mean pairwise cosine of the fused
      features went from 0.02 to 0.9998, which empties the shared channel
      of item information and turns the calibration into a constant.
      ``detach_calibration=False`` restores the reference behaviour.
    * The reference creates its per-user preference tables as
      ``nn.Parameter(...).to(device)``. On CPU ``.to`` returns the parameter
      itself, which is registered and trained; on a GPU it returns a new,
      non-leaf tensor that is **not registered**, so the optimiser never
      updates it: the published (GPU) numbers were made with the user
      preference tables frozen at their random initialisation.
      ``train_user_prefs=False`` reproduces that (the tables stay in the
      checkpoint, with ``requires_grad=False``); the default trains them, as
      the reference does on CPU and as the paper describes.
    * Any number of modalities (the reference hard-wires text and image,
      fusing them with one SLERP); two modalities give the reference's
      SLERP. With a single modality the shared channel's item side is the
      normalised projection of that modality.
    * Evaluation uses fresh eval-mode :meth:`embeddings` with the Bézier
      parameter at the Beta mean :math:`t = 1/2`; the reference scores with
      the embeddings cached in its **last training forward** (one optimiser
      step stale, with that batch's random Beta draws).
    * The kNN graph is built by :meth:`RecDataset.knn_graph` (chunked, ties
      broken by item index, zero rows guarded) and fused by
      :func:`~mmgraph.models.freedom.item_knn_adjacency`; the reference caches a dense
      top-k result in the dataset folder.
    * Squared distances for the uniformity terms come from the Gram matrix,
      not ``torch.pdist`` (same values; finite gradients for the duplicate
      users that batches contain).
    * ``dropout`` (edge pruning) is not a hyper-parameter: the reference only
      implements ``dropout = 0``. The unused reference parameters (trainable
      copies of the raw features, used only to build the kNN graph, and the
      ``result_embed`` cache) are not created. ``weight_decay`` (in the
      published grid) has no effect in the reference trainer but does here.
    * If a batch carries several negatives per positive, only the first
      column is used as the item sample (the reference samples one).

    Args:
        dataset: the :class:`~mmgraph.data.RecDataset` (needs at least one
            modality).
        embedding_dim (int): channel size :math:`d`; representations have
            :math:`(M + 1) d` entries (default: ``64``).
        n_ui_layers (int): user–item LightGCN layers :math:`L`
            (default: ``3``).
        n_mm_layers (int): kNN-graph hops :math:`L_{mm}` (default: ``1``).
        knn_k (int): neighbours per item in the kNN graph (default: ``10``).
        mm_image_weight (float): weight of the ``image`` kNN graph
            (default: ``0.1``).
        gamma (float): uniformity weight :math:`\gamma` (default: ``0.5``).
        alpha (float): Beta concentration :math:`\alpha` of the fusion
            parameter (default: ``0.5``).
        min_sim (float): :math:`s_{\min}` (default: ``0.0``).
        max_sim (float): :math:`s_{\max}` (default: ``1.0``).
        detach_calibration (bool): stop gradients through the calibration
            similarities (default: ``True``; the reference: ``False``).
        extra_uniformity_weight (float): :math:`\mu` of :meth:`extra_loss`
            (default: ``0.0``).
        train_user_prefs (bool): train the per-channel user preference
            tables (default: ``True``); ``False`` freezes them at their
            initialisation, as the reference's GPU runs do (see above).

    Training defaults (:attr:`train_defaults`): early-stopping patience
    ``10`` (the reference's ``stopping_step``).
    """
    native_loss = True
    uses_negatives = True
    multimodal = True
    train_defaults = {"patience": 10}
    #: Item inputs are MLPs of the features (and their fusion).
    scores_from_content = True

    #: Hidden size of the modality MLPs, in multiples of ``embedding_dim``
    #: (the reference's ``4 * embedding_size``).
    mlp_factor = 4
    #: Temperature of the uniformity terms (fixed in the reference).
    temperature = 2.0

    #: Sampled training (``--sampled``), with the native loss or a
    #: pairwise objective: the MLPs and the fusion run on the subgraph's
    #: items only, the propagation on its graph, and the kNN term over the
    #: sampled item--item edges (:meth:`sampling_item_graph`), so with every
    #: fan-out unlimited a step equals the full-graph one.
    supports_sampled = True
    #: ``item_history``: a sampled step may read its non-seed items' MLP
    #: and fusion outputs from a history (:meth:`item_inputs`).
    supports_item_history = True

    def __init__(self, dataset, embedding_dim: int = 64,
                 n_ui_layers: int = 3, n_mm_layers: int = 1, knn_k: int = 10,
                 mm_image_weight: float = 0.1, gamma: float = 0.5,
                 alpha: float = 0.5, min_sim: float = 0.0,
                 max_sim: float = 1.0, detach_calibration: bool = True,
                 extra_uniformity_weight: float = 0.0,
                 train_user_prefs: bool = True) -> None:
        super().__init__(dataset)
        if n_ui_layers < 0 or n_mm_layers < 1:
            raise ValueError(f"CM3: need n_ui_layers >= 0 and n_mm_layers >= "
                             f"1 (got {n_ui_layers}, {n_mm_layers})")
        if min_sim > max_sim:
            raise ValueError(f"CM3: min_sim {min_sim} > max_sim {max_sim}")
        self.embedding_dim = embedding_dim
        self.n_ui_layers = n_ui_layers
        self.n_mm_layers = n_mm_layers
        self.knn_k = knn_k
        self.mm_image_weight = mm_image_weight
        self.gamma = gamma
        self.alpha = alpha
        self.min_sim = min_sim
        self.max_sim = max_sim
        self.detach_calibration = detach_calibration
        self.extra_uniformity_weight = extra_uniformity_weight
        self.train_user_prefs = train_user_prefs
        self.modalities = list(dataset.modalities)
        self.num_channels = len(self.modalities) + 1

        feats = {m: dataset.features[m].float() for m in self.modalities}
        dims = {m: int(f.size(1)) for m, f in feats.items()}
        # Channel MLPs: in -> 4d (bias) -> LeakyReLU -> d (no bias), on the
        # fixed raw features (kept as non-persistent buffers).
        self.mlps = ModalityEncoders(
            dims, embedding_dim, hidden_channels=self.mlp_factor *
            embedding_dim, features=feats, train_features=False,
            act="leaky_relu", out_bias=False)
        # Linear projections feeding the spherical Bezier fusion.
        self.fusion_proj = ModalityEncoders(dims, embedding_dim,
                                            weight_init="xavier_normal")
        self.fusion = SphericalBezierFusion(alpha=alpha)
        self.user_prefs = torch.nn.Parameter(
            torch.empty(self.num_channels, self.num_users, embedding_dim),
            requires_grad=train_user_prefs)
        self.user_fusion = AttentionFusion(self.num_channels, self.num_users,
                                           mode="concat")
        self.propagation = LightGCNPropagation(n_ui_layers, combine="sum")
        self.item_conv = ItemGraphConvolution(n_mm_layers, residual=True)
        self.build_graphs(dataset)
        self.reset_parameters()

    def build_graphs(self, dataset) -> None:
        device = self.user_prefs.device
        # Non-persistent: graphs are data, not state (see Recommender).
        self.register_buffer("adj", dataset.norm_adj().to(device),
                             persistent=False)
        self.register_buffer("item_adj", item_knn_adjacency(
            dataset, self.knn_k, self.mm_image_weight).to(device),
            persistent=False)

    def reset_parameters(self) -> None:
        for prefs in self.user_prefs:
            torch.nn.init.xavier_normal_(prefs)
        self.mlps.reset_parameters()
        self.fusion_proj.reset_parameters()
        self.user_fusion.reset_parameters()

    # ---------------------------------------------------------------- forward
    def fused_features(self, index: Optional[Tensor] = None) -> Tensor:
        r"""The spherical Bézier fusion :math:`\mathbf{s}` of the projected
        modalities (unit rows) for items ``index`` (default: all); random
        in training mode, at the Beta mean in eval mode."""
        proj = self.fusion_proj(self.mlps.features(), index=index)
        return self.fusion([proj[m] for m in self.modalities])

    def item_inputs(self, index: Optional[Tensor] = None) -> List[Tensor]:
        r"""The item inputs of every channel, ``[I, d]`` each (or of the
        items :obj:`index`): the modality MLPs, then the fusion."""
        mlp = self.mlps(index=index)
        return [mlp[m] for m in self.modalities] + \
            [self.fused_features(index)]

    def forward(self, batch: Optional[Batch] = None
                ) -> Tuple[Tensor, Tensor, Tensor]:
        r"""Returns the un-normalised user and item representations
        :obj:`[U, (M+1)d]`, :obj:`[I, (M+1)d]` and the fused features
        :obj:`[I, d]`; for a sampled :obj:`batch`, those of its own users and
        items (the first rows of its subgraph's)."""
        sampled = batch is not None and batch.is_subgraph
        users = batch.user_ids if sampled else None
        items = self.sampled_item_inputs(batch) if sampled \
            else self.item_inputs()
        fused = items[-1]
        prefs = [p if users is None else p.index_select(0, users)
                 for p in self.user_prefs]
        x = torch.cat([F.normalize(torch.cat([p, q], 0), dim=-1)
                       for p, q in zip(prefs, items)], dim=-1)
        nu = prefs[0].size(0)
        adj, item_adj = self.adj, self.item_adj
        if sampled:
            # The losses read the batch's rows only: each layer is trimmed
            # to them, and the output holds the batch's users and items (a
            # prefix of the subgraph's, so its positions stay valid).
            adj = batch.layer_adjacencies(self.n_ui_layers)
            item_adj = batch.seed_item_adj
            nu = adj.output_block[0]
            users = users[:nu]
            fused = fused[:adj.output_block[1]]
        r = self.propagation(x, adj, symmetric=not sampled)
        r_u, r_i = r[:nu], r[nu:]
        user_rep = self.user_fusion(
            r_u.view(nu, self.num_channels, -1).transpose(0, 1), users)
        item_rep = self.item_conv(r_i, item_adj)
        return user_rep, item_rep, fused

    def embeddings(self) -> Tuple[Tensor, Tensor]:
        user_rep, item_rep, _ = self.forward()
        return user_rep, item_rep

    def subgraph_embeddings(self, batch) -> Tuple[Tensor, Tensor]:
        user_rep, item_rep, _ = self.forward(batch)
        return user_rep, item_rep

    def sampling_item_graph(self) -> Optional[Tuple[Tensor, int]]:
        return self.item_adj, self.n_mm_layers

    # ----------------------------------------------------------------- losses
    def _uniformity(self, users: Tensor, items: Tensor, user_rep: Tensor,
                    item_rep: Tensor, fused: Tensor) -> Tensor:
        # gamma/2 * (user uniformity + calibrated item uniformity). Rows are
        # gathered with index_select throughout: the backward of advanced
        # indexing with repeated ids (index_put_ accumulate) is not bitwise
        # reproducible on multi-threaded CPUs, index_add_ is.
        u = F.normalize(user_rep.index_select(0, users), dim=-1)
        i = F.normalize(item_rep.index_select(0, items), dim=-1)
        if self.detach_calibration:
            fused = fused.detach()
        uu = uniformity_loss(u, self.temperature)
        ii = calibrated_uniformity_loss(i, fused, self.temperature,
                                        self.min_sim, self.max_sim)
        return 0.5 * self.gamma * (uu + ii)

    def _item_sample(self, batch: Batch) -> Tensor:
        if batch.neg_items is None:
            raise ValueError("CM3: the loss needs one sampled negative per "
                             "positive (its item sample for uniformity); "
                             "set num_negatives >= 1")
        neg = batch.neg_items
        return neg[:, 0] if neg.dim() == 2 else neg

    def loss(self, batch: Batch) -> Dict[str, Tensor]:
        user_rep, item_rep, fused = self.forward(batch)
        rows = batch.local()  # positions in the representations
        neg = self._item_sample(rows)
        align = alignment_loss(
            F.normalize(user_rep.index_select(0, rows.users), dim=-1),
            F.normalize(item_rep.index_select(0, rows.pos_items), dim=-1))
        # A batch of one row has no pairs (the reference would return NaN).
        uniform = align.new_zeros(()) if len(batch) < 2 else \
            self._uniformity(rows.users, neg, user_rep, item_rep,
                             fused.index_select(0, neg))
        return {"align": align, "uniform": uniform}

    def extra_loss(self, batch: Batch, user_emb: Tensor,
                   item_emb: Tensor) -> Tensor:
        if self.extra_uniformity_weight == 0 or len(batch) < 2:
            return user_emb.new_zeros(())
        # Only the sampled items' fusion is needed (a fresh draw in
        # training); it is indexed by global id, the representations by row.
        fused = self.fused_features(self._item_sample(batch))
        rows = batch.local()
        return self.extra_uniformity_weight * self._uniformity(
            rows.users, self._item_sample(rows), user_emb, item_emb, fused)

    def extra_repr(self) -> str:
        return (f"{self.num_users}, {self.num_items}, "
                f"modalities={self.modalities}, "
                f"embedding_dim={self.embedding_dim}, "
                f"n_ui_layers={self.n_ui_layers}, gamma={self.gamma}, "
                f"alpha={self.alpha}")
