r"""How closely the exports reproduce ``mmgraph recommend``.

For every user of a run:

* **FAISS, unmasked** -- ``IndexFlatIP.search`` top-k against
  :meth:`~mmgraph.evaluation.Evaluator.rank` with nothing masked;
* **FAISS, training items excluded** -- :func:`mmgraph.export.faiss_topk`
  against ``recommend``'s ranking (training items masked);
* **ONNX** -- the largest absolute difference between the onnxruntime
  scores and ``model.score`` over all users, and the top-k agreement of the
  lists ranked from the ONNX scores (training items masked).

Agreement is the share of users whose top-k list is identical (same items,
same order), and the share of (user, rank) positions that agree.

Usage::

    python benchmarks/export_agreement.py              # synthetic LightGCN run
    python benchmarks/export_agreement.py --run RUN --k 20
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def agreement(a: torch.Tensor, b: torch.Tensor):
    same = a == b
    return float(same.all(1).double().mean()), float(same.double().mean())


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", help="run folder (default: train a synthetic "
                   "LightGCN run, 2 epochs)")
    p.add_argument("--k", type=int, default=20)
    args = p.parse_args(argv)
    from mmgraph.evaluation import Evaluator
    from mmgraph.export import (EmbeddingIndex, export_run, faiss_topk,
                                load_faiss, onnx_scores)
    from mmgraph.experiment import train_model
    from mmgraph.runs import load_run
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = args.run
        if run is None:
            run = tmp / "run"
            train_model("lightgcn", "synthetic",
                        overrides={"epochs": 2, "seed": 0}, out_dir=run,
                        show_progress=False)
        model, dataset, _ = load_run(run, device="cpu")
        users = torch.arange(dataset.num_users)
        ev = Evaluator(dataset)
        emb = ev.embeddings(model)
        want = ev.rank(model, users, args.k, embeddings=emb)
        want_unmasked = ev.rank(model, users, args.k, embeddings=emb,
                                mask_edge_index=torch.empty(2, 0,
                                                            dtype=torch.long))
        flat, index = load_faiss(export_run(run, "faiss", tmp / "i.faiss"))
        got_unmasked, _ = faiss_topk(flat, index, users, args.k,
                                     exclude_train=False)
        got, _ = faiss_topk(flat, index, users, args.k)
        onnx_path = export_run(run, "onnx", tmp / "s.onnx")
        scores = torch.from_numpy(onnx_scores(onnx_path, users.numpy()))
        ref = model.score(users, emb)
        err = float((scores - ref).abs().max())
        rows, items = EmbeddingIndex.load_npz(f"{onnx_path}.npz") \
            .train_pairs(users)
        scores[rows, items] = float("-inf")
        got_onnx = scores.topk(args.k, dim=1).indices
    print(f"run: {run} ({dataset.num_users} users, {dataset.num_items} "
          f"items), k={args.k}")
    for name, a, b in (("faiss unmasked vs rank(no mask)", got_unmasked,
                        want_unmasked),
                       ("faiss_topk vs recommend", got, want),
                       ("onnx scores -> top-k vs recommend", got_onnx, want)):
        lists, positions = agreement(a, b)
        print(f"{name:36s} identical lists {100 * lists:6.2f}%  "
              f"positions {100 * positions:6.2f}%")
    print(f"onnx max |score - torch score|      {err:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
