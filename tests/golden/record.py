r"""Golden values of the training and unlearning loops (issue: no behaviour
change across the orchestration redesign).

Every registered model x {bpr, nbpo} trains a few epochs on a small
synthetic set with a fixed seed, and one unlearning request of each kind
runs on LightGCN; the best epoch, validation/test recall@20 and ndcg@20
and the final training loss are recorded. ``tests/test_golden.py``
recomputes them and compares to 1e-6.

Record (only when a change is *meant* to alter results, and say so in the
commit)::

    python -m tests.golden.record
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import torch

GOLDEN_FILE = Path(__file__).with_name("values.json")
MODELS = ["mf", "lightgcn", "vbpr", "freedom", "bm3", "cm3", "lirdrec"]
OBJECTIVES = ["bpr", "nbpo"]
KINDS = ["users", "items", "interactions"]
EPOCHS = 3
KEYS = ["valid_recall@20", "valid_ndcg@20", "test_recall@20", "test_ndcg@20"]


def golden_dataset():
    from mmgraph.data import load_dataset
    return load_dataset("synthetic", num_users=150, num_items=100,
                        avg_degree=10, seed=7)


def _summary(results: Dict[str, Any]) -> Dict[str, float]:
    history = results.get("history") or []
    loss = None
    for row in reversed(history):
        if "loss" in row:
            loss = float(row["loss"])
            break
    out = {"best_epoch": float(results.get("best_epoch", -1)),
           "final_loss": loss}
    valid = results.get("valid") or {}
    test = results.get("test") or {}
    for key in KEYS:
        split, metric = key.split("_", 1)
        src = valid if split == "valid" else test
        out[key] = float(src[metric]) if metric in src else None
    return out


def train_value(model: str, objective: str, dataset) -> Dict[str, float]:
    from mmgraph import train_model
    torch.set_num_threads(1)
    overrides = {"objective": objective, "train.epochs": EPOCHS,
                 "train.seed": 0, "train.eval_batch_size": 4096}
    results = train_model(model, dataset, overrides=overrides,
                          show_progress=False)
    return _summary(results)


def unlearn_value(kind: str, dataset) -> Dict[str, float]:
    from mmgraph import ForgetRequest, Unlearner, create_model
    from torch_geometric import seed_everything
    torch.set_num_threads(1)
    seed_everything(0)
    model = create_model("lightgcn", dataset)
    from mmgraph import Trainer
    Trainer(model, dataset, {"epochs": EPOCHS, "seed": 0},
            show_progress=False).fit()
    request = ForgetRequest.random(kind, 0.1, dataset, seed=0)
    results = Unlearner(model, dataset, request, {"seed": 0},
                        method="targeted", epochs=2,
                        show_progress=False).fit()
    out = _summary(results)
    forget = (results.get("unlearn") or {}).get("forget") or {}
    for key in ("recall@20", "ndcg@20"):
        out[f"forget_{key}"] = float(forget[key])
    return out


def compute_all() -> Dict[str, Dict[str, float]]:
    dataset = golden_dataset()
    values = {}
    for model in MODELS:
        for objective in OBJECTIVES:
            values[f"train/{model}/{objective}"] = train_value(
                model, objective, dataset)
    for kind in KINDS:
        values[f"unlearn/lightgcn/{kind}"] = unlearn_value(kind, dataset)
    return values


if __name__ == "__main__":
    values = compute_all()
    GOLDEN_FILE.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
    print(json.dumps(values, indent=1, sort_keys=True))
