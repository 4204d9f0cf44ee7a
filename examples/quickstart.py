r"""Quickstart: load data, train a model with early stopping, evaluate it with
MMRec's full-ranking protocol, and recommend.

Runs on the built-in synthetic dataset (no files needed)::

    python examples/quickstart.py                 # ~1 minute on 2 cores
    python examples/quickstart.py --fast          # a few seconds (tests)
    python examples/quickstart.py --data /work/prepared/amazon-beauty
"""
import torch

import mmgraph
from mmgraph.report import format_table, metrics_table

from _common import example_dataset


def main() -> None:
    # 1. Data: the synthetic set has two item modalities, 'image' (features
    #    that carry the item factors) and 'text' (mostly noise).
    dataset, fast = example_dataset(__doc__)

    # 2. A model from the registry; hyper-parameters are keyword arguments
    #    (their defaults are the papers').
    print("registered models:", ", ".join(mmgraph.list_models()))
    model = mmgraph.create_model("lightgcn", dataset, n_layers=2)
    print(model)

    # 3. Train: BPR with one uniform negative per positive, Adam, early
    #    stopping on validation recall@20; the test split is evaluated once,
    #    on the best-validation checkpoint.
    config = {"epochs": 5 if fast else 200, "patience": 10,
              "batch_size": 512 if fast else 2048}
    trainer = mmgraph.Trainer(model, dataset, config, show_progress=not fast)
    results = trainer.fit()
    print(f"\nbest epoch {results['best_epoch']} of {results['epochs']} "
          f"({results['seconds_per_epoch']:.2f} s per epoch)")
    keys = ["recall@10", "recall@20", "ndcg@10", "ndcg@20"]
    print(metrics_table({"valid": results["valid"], "test": results["test"]},
                        keys))

    # 4. Evaluate again (any split or any (user, item) edge list), e.g. with
    #    other metrics and cut-offs.
    evaluator = mmgraph.Evaluator(dataset, metrics=["hit", "map"],
                                  topk=[5, 50])
    print("\ntest hit/map:", {k: round(v, 4) for k, v in
                              evaluator.evaluate(model, "test").items()
                              if "@" in k})

    # 5. Recommend: top-5 unseen items (training items are masked).
    users = torch.tensor([0, 1, 2])
    top = evaluator.rank(model, users, k=5)
    print()
    print(format_table([[u, " ".join(map(str, r))] for u, r in
                        zip(users.tolist(), top.tolist())],
                       ["user", "top-5 items"]))

    # 6. The same in one call, for a multimodal model, with a run folder
    #    (results.json, checkpoint.pt, test_topk.tsv, training_curve.png).
    res = mmgraph.train_model("freedom", dataset,
                              overrides={"epochs": 3 if fast else 100},
                              show_progress=False)
    print(f"\nFREEDOM: test recall@20 {res['test']['recall@20']:.4f} "
          f"(LightGCN {results['test']['recall@20']:.4f})")


if __name__ == "__main__":
    main()
