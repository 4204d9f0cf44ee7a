r"""BM3: bootstrapped multimodal recommendation without negative sampling.

BM3 (Zhou et al., WWW 2023) trains a LightGCN encoder with a shared predictor
by *bootstrapping*: each view is pulled towards a dropout-perturbed,
stop-gradient copy of the other (user <-> item), and each modality's
projection is aligned with the item embedding and with its own perturbed
copy. No negatives are sampled, and scoring uses the ID-based embeddings only.

This example trains BM3 on the synthetic data, shows its loss terms, checks
that scores do not read the item features, and compares it with the same
model without the multimodal terms (``cl_weight=0``)::

    python examples/bm3.py            # ~2 minutes on 2 cores
    python examples/bm3.py --fast     # a few epochs (tests)
"""
import torch

import mmgraph
from mmgraph.report import format_table

from _common import example_dataset


def main() -> None:
    dataset, fast = example_dataset(__doc__)
    config = {"epochs": 4 if fast else 150, "patience": 20,
              "batch_size": 512 if fast else 2048}

    # 1. Train with the native loss (the trainer picks it: BM3 has one).
    model = mmgraph.create_model("bm3", dataset)
    print(model)
    trainer = mmgraph.Trainer(model, dataset, config, show_progress=False)
    print(f"objective: {type(trainer.objective).__name__}, negatives per "
          f"positive: {trainer.num_negatives} (BM3 needs none)")
    results = trainer.fit()

    # 2. The named loss terms, as logged per epoch.
    terms = [k for k in results["history"][0] if k in ("ui", "reg", "modal",
                                                       "loss")]
    rows = [[h["epoch"]] + [h[k] for k in terms] +
            [h["valid"]["recall@20"]] for h in results["history"]]
    step = max(1, len(rows) // 8)
    print("\nloss terms (ui = user<->item bootstrap, reg = embedding norm, "
          "modal = cl_weight x modality alignment):")
    print(format_table(rows[::step], ["epoch"] + terms + ["valid recall@20"]))

    # 3. Scoring uses the ID embeddings only: changing the item features
    #    after training changes nothing.
    model.eval()
    before = model.embeddings()[1].detach().clone()
    with torch.no_grad():
        for feat in model.encoders.features().values():
            feat.zero_()
        after = model.embeddings()[1]
    print(f"\nmax change of the item embeddings after zeroing every feature "
          f"matrix: {float((before - after).abs().max()):.1e}")

    # 4. Ablation: the same model without the multimodal terms.
    plain = mmgraph.create_model("bm3", dataset, cl_weight=0.0)
    res0 = mmgraph.Trainer(plain, dataset, config, show_progress=False).fit()
    print()
    print(format_table(
        [["BM3 (cl_weight 2.0)", results["test"]["recall@20"],
          results["test"]["ndcg@20"], results["best_epoch"]],
         ["BM3 without modality terms (cl_weight 0)",
          res0["test"]["recall@20"], res0["test"]["ndcg@20"],
          res0["best_epoch"]]],
        ["model", "test recall@20", "test ndcg@20", "best epoch"]))


if __name__ == "__main__":
    main()
