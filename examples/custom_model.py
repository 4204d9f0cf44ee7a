r"""Writing your own model with mmgraph's layers and registering it.

A model is one class: subclass :class:`mmgraph.Recommender`, build what is
fixed (graphs) once in ``build_graphs``, return all user and item embeddings
from ``embeddings()``, and decorate the class with ``@register_model``. The
constructor's keyword defaults become the model's configuration, so the
registered model works with ``create_model``, ``train_model``, grids,
``--set key=value`` and the benchmark suite like the built-in ones.

The model below, "LightGCN with content", adds a learned, attention-weighted
mix of projected modality features to the layer-0 item embeddings before
LightGCN propagation. On the synthetic data the image modality carries the
signal, and the learned attention finds it::

    python examples/custom_model.py          # ~1 minute on 2 cores
    python examples/custom_model.py --fast   # a few epochs (tests)
"""
import argparse
import os
from typing import Tuple

import torch
from torch import Tensor

import mmgraph
from mmgraph import Recommender, register_model
from mmgraph.experiment import resolve_config
from mmgraph.models.base import Batch
from mmgraph.nn import (AttentionFusion, LightGCNPropagation,
                        ModalityEncoders, emb_loss)
from mmgraph.report import format_table
from mmgraph.runs import train_run


@register_model("content_lightgcn")
class ContentLightGCN(Recommender):
    r"""LightGCN whose layer-0 item embeddings add the attention-weighted
    projections of the item features:

    .. math::
        \mathbf{x}_i = \mathbf{e}_i + \beta \sum_m a_m \mathbf{W}_m
        \mathbf{f}^{m}_i, \qquad
        \mathbf{H} = \frac{1}{L+1}\sum_{l=0}^{L} \hat{\mathbf{A}}^{l}
        [\mathbf{E}_u; \mathbf{X}_i],

    :math:`\mathbf{a} = \mathrm{softmax}(\boldsymbol{\theta})` learned.

    Args:
        dataset: the :class:`~mmgraph.data.RecDataset`.
        embedding_dim (int): latent size (default: ``64``).
        n_layers (int): propagation layers (default: ``2``).
        content_weight (float): :math:`\beta` (default: ``1.0``).
        reg_weight (float): weight of the layer-0 norm penalty
            (default: ``1e-4``).
    """
    multimodal = True  # reads dataset.features; checked by the base class
    scores_from_content = True  # an item's own features enter its score

    def __init__(self, dataset, embedding_dim: int = 64, n_layers: int = 2,
                 content_weight: float = 1.0,
                 reg_weight: float = 1e-4) -> None:
        super().__init__(dataset)
        self.embedding_dim = embedding_dim
        self.content_weight = content_weight
        self.reg_weight = reg_weight
        self.modalities = list(dataset.modalities)
        feats = {m: dataset.features[m] for m in self.modalities}
        self.user_emb = torch.nn.Embedding(self.num_users, embedding_dim)
        self.item_emb = torch.nn.Embedding(self.num_items, embedding_dim)
        # One linear projection per modality; features stored as buffers.
        self.encoders = ModalityEncoders(
            {m: x.size(1) for m, x in feats.items()}, embedding_dim,
            features=feats)
        self.fusion = AttentionFusion(len(self.modalities))  # global weights
        self.propagation = LightGCNPropagation(n_layers, combine="mean")
        self.build_graphs(dataset)
        self.reset_parameters()

    def build_graphs(self, dataset) -> None:
        # Derived from the training interactions: a non-persistent buffer,
        # so checkpoints hold only learnable state.
        self.register_buffer("adj", dataset.norm_adj(), persistent=False)

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_uniform_(self.user_emb.weight)
        torch.nn.init.xavier_uniform_(self.item_emb.weight)
        self.encoders.reset_parameters()
        self.fusion.reset_parameters()

    def embeddings(self) -> Tuple[Tensor, Tensor]:
        content = self.fusion(list(self.encoders().values()))
        items = self.item_emb.weight + self.content_weight * content
        h = self.propagation(torch.cat([self.user_emb.weight, items]),
                             self.adj)
        return h[:self.num_users], h[self.num_users:]

    def extra_loss(self, batch: Batch, user_emb: Tensor,
                   item_emb: Tensor) -> Tensor:
        # Added to any objective (BPR by default): MMRec's EmbLoss on the
        # batch's layer-0 rows.
        items = [self.item_emb.weight[batch.pos_items]]
        if batch.neg_items is not None:
            items.append(self.item_emb.weight[batch.neg_items.reshape(-1)])
        return self.reg_weight * emb_loss(self.user_emb.weight[batch.users],
                                          *items)

    def extra_repr(self) -> str:
        return (f"{self.num_users}, {self.num_items}, "
                f"modalities={self.modalities}, "
                f"embedding_dim={self.embedding_dim}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true",
                        help="tiny data, a few epochs (also MMGRAPH_FAST=1)")
    args = parser.parse_args()
    fast = args.fast or os.environ.get("MMGRAPH_FAST") == "1"
    dataset = mmgraph.load_dataset("synthetic", num_users=300, num_items=150,
                                   avg_degree=12) if fast \
        else mmgraph.load_dataset("synthetic")

    print("registered:", ", ".join(mmgraph.list_models()))
    print(mmgraph.create_model("content_lightgcn", dataset))

    overrides = {"epochs": 4 if fast else 150, "patience": 10,
                 "batch_size": 512 if fast else 2048}
    rows, trained = [], {}
    for name, extra in (("lightgcn", {}), ("content_lightgcn", {}),
                        ("content_lightgcn", {"content_weight": 0.0})):
        # Keyword defaults are the config: resolve and override them like
        # any built-in model's (the CLI's --set, a YAML file, grids).
        config = resolve_config(name, overrides={**overrides, **extra})
        res, model = train_run(name, dataset, config, show_progress=False)
        label = name + "".join(f" ({k}={v})" for k, v in extra.items())
        trained[label] = model
        rows.append([label, res["test"]["recall@20"], res["test"]["ndcg@20"],
                     res["best_epoch"]])
    print()
    print(format_table(rows, ["model", "test recall@20", "test ndcg@20",
                              "best epoch"]))

    # The learned modality attention of the trained model.
    model = trained["content_lightgcn"]
    weights = torch.softmax(model.fusion.theta.detach(), dim=0)
    print("\nlearned modality attention:",
          ", ".join(f"{m} {float(w):.3f}" for m, w in
                    zip(model.modalities, weights)))


if __name__ == "__main__":
    main()
