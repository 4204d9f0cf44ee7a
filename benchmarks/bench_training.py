r"""One training epoch and one full evaluation of LightGCN: mmgraph against a
plain re-implementation on PyG's stock
:class:`torch_geometric.nn.models.LightGCN` (``edge_index`` message passing),
side by side; with ``--all-models``, seconds per epoch and per evaluation of
every registered model.

* **mmgraph**: :func:`mmgraph.create_model` ``("lightgcn")`` trained by the
  :class:`~mmgraph.train.Trainer` (vectorised negative sampling excluding
  training items, propagation over a precomputed normalised CSR adjacency
  with a custom backward), evaluated by the
  :class:`~mmgraph.evaluation.Evaluator`.
* **PyG plain**: ``LightGCN(num_nodes, 64, num_layers=2)`` on the
  homogeneous ``edge_index`` (items offset by the number of users); every
  batch recomputes the embeddings with ``LGConv`` message passing (which
  re-normalises the graph on each call), negatives drawn uniformly with
  ``torch.randint`` (as PyG's ``examples/lightgcn.py``; no exclusion of
  training items), PyG's ``recommendation_loss``; evaluation computes the
  embeddings once, scores user batches with a matrix product, masks training
  items, ``topk`` and Recall/NDCG in torch.

Both use batch size 2048, embedding size 64, 2 layers, Adam (lr 1e-3), the
same evaluation users (validation split) and cut-offs (10, 20, 50). The script
first checks that both propagate identically from the same initial
embeddings.

torch-scatter / torch-sparse: when installed, the PyG model is also timed on
a ``SparseTensor`` adjacency and mmgraph with its ``torch_sparse`` backend;
when not installed this is reported and skipped.

Usage::

    python benchmarks/bench_training.py --data /work/prepared/amazon-sports
    python benchmarks/bench_training.py --data /work/prepared/amazon-sports \
        --all-models                    # every registered model
    python benchmarks/bench_training.py --data synthetic   # a quick look
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_evaluation import load  # noqa: E402  (also puts the repo on path)
from mmgraph.train.utils import adam  # noqa: E402

TOPK = (10, 20, 50)


def _extensions() -> Dict[str, bool]:
    import torch_geometric.typing as t
    return {"torch-scatter": bool(t.WITH_TORCH_SCATTER),
            "torch-sparse": bool(t.WITH_TORCH_SPARSE)}


# ------------------------------------------------------------------ mmgraph
class MMGraphRunner:
    r"""mmgraph's model + trainer + evaluator for any registered model."""

    def __init__(self, name: str, dataset, batch_size: int = 2048,
                 **hparams) -> None:
        from mmgraph.config import TrainConfig
        from mmgraph.models import create_model
        from mmgraph.train import Trainer
        t = time.perf_counter()
        self.model = create_model(name, dataset, **hparams)
        self.trainer = Trainer(
            self.model, dataset,
            TrainConfig(batch_size=batch_size, metrics=["recall", "ndcg"],
                        topk=list(TOPK)), show_progress=False)
        self.build_seconds = time.perf_counter() - t
        self.epoch = 0

    def warm_up(self, batches: int = 2) -> None:
        r"""A few untimed forward/backward passes (allocator warm-up)."""
        from mmgraph.models.base import Batch
        tr = self.trainer
        edges = tr.dataset.train_edge_index
        self.model.train()
        for _ in range(batches):
            idx = torch.randint(edges.size(1), (tr.config.batch_size,))
            users = edges[0, idx]
            neg = tr.sampler.sample(users, tr.num_negatives) \
                if tr.num_negatives else None
            loss = tr.objective(self.model,
                                Batch(users, edges[1, idx], neg))["loss"]
            loss.backward()
        tr.optimizer.zero_grad(set_to_none=True)

    def train_epoch(self) -> float:
        t = time.perf_counter()
        self.trainer.train_epoch(self.epoch)
        self.epoch += 1
        return time.perf_counter() - t

    def evaluate(self) -> Tuple[float, Dict[str, float]]:
        t = time.perf_counter()
        res = self.trainer.evaluator.evaluate(self.model, "valid")
        return time.perf_counter() - t, res


# ------------------------------------------------------------- PyG plain
class PyGLightGCN:
    r"""A plain LightGCN on ``torch_geometric.nn.models.LightGCN``."""

    def __init__(self, dataset, batch_size: int = 2048, dim: int = 64,
                 num_layers: int = 2, lambda_reg: float = 1e-4,
                 sparse_tensor: bool = False) -> None:
        from torch_geometric.nn.models import LightGCN
        self.ds = dataset
        U, I = dataset.num_users, dataset.num_items
        self.U, self.I = U, I
        self.batch_size = batch_size
        self.lambda_reg = lambda_reg
        self.model = LightGCN(U + I, dim, num_layers=num_layers)
        u, i = dataset.train_edge_index
        self.edge_index = torch.stack([torch.cat([u, i + U]),
                                       torch.cat([i + U, u])])
        if sparse_tensor:  # torch-sparse's SparseTensor path
            from torch_sparse import SparseTensor
            self.adj = SparseTensor(row=self.edge_index[1],
                                    col=self.edge_index[0],
                                    sparse_sizes=(U + I, U + I))
        else:
            self.adj = self.edge_index
        # The same optimiser as the Trainer, so the ratio is the model side.
        self.opt = adam(self.model.parameters(), lr=1e-3)
        self._train_mask = self._keys(dataset.train_edge_index)
        self._valid = self._keys(dataset.valid_edge_index)

    def _keys(self, ei: Tensor) -> Tensor:
        return torch.unique(ei[0] * self.I + ei[1])

    def _step(self, idx: Tensor) -> None:
        u, i = self.ds.train_edge_index[:, idx]
        j = torch.randint(self.I, (idx.numel(),))
        emb = self.model.get_embedding(self.adj)
        pos = (emb[u] * emb[self.U + i]).sum(-1)
        neg = (emb[u] * emb[self.U + j]).sum(-1)
        node_id = torch.cat([u, self.U + i, self.U + j])
        loss = self.model.recommendation_loss(pos, neg, node_id=node_id,
                                              lambda_reg=self.lambda_reg)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    def warm_up(self, batches: int = 2) -> None:
        E = self.ds.train_edge_index.size(1)
        for _ in range(batches):
            self._step(torch.randint(E, (self.batch_size,)))

    def train_epoch(self) -> float:
        self.model.train()
        t = time.perf_counter()
        E = self.ds.train_edge_index.size(1)
        perm = torch.randperm(E)
        for start in range(0, E, self.batch_size):
            self._step(perm[start:start + self.batch_size])
        return time.perf_counter() - t

    @torch.no_grad()
    def evaluate(self, batch_size: int = 4096
                 ) -> Tuple[float, Dict[str, float]]:
        self.model.eval()
        t = time.perf_counter()
        emb = self.model.get_embedding(self.adj)
        users_emb, items_emb = emb[:self.U], emb[self.U:]
        users, counts = torch.unique(self._valid // self.I,
                                     return_counts=True)
        kmax = max(TOPK)
        disc = 1.0 / torch.log2(torch.arange(2, kmax + 2).float())
        sums = {f"{m}@{k}": 0.0 for m in ("recall", "ndcg") for k in TOPK}
        for start in range(0, users.numel(), batch_size):
            b = users[start:start + batch_size]
            n = counts[start:start + batch_size].float()
            scores = users_emb[b] @ items_emb.t()
            lo = torch.searchsorted(self._train_mask, b * self.I)
            hi = torch.searchsorted(self._train_mask, (b + 1) * self.I)
            rows = torch.repeat_interleave(torch.arange(b.numel()), hi - lo)
            keys = self._train_mask[torch.cat(
                [torch.arange(s, e) for s, e in
                 zip(lo.tolist(), hi.tolist())])] if rows.numel() else rows
            scores[rows, keys % self.I] = -math.inf
            top = scores.topk(kmax, dim=1).indices
            k = b.unsqueeze(1) * self.I + top
            pos = torch.searchsorted(self._valid, k).clamp_max(
                self._valid.numel() - 1)
            hits = (self._valid[pos] == k).float()
            for kk in TOPK:
                h = hits[:, :kk]
                idcg = torch.cumsum(disc, 0)[(n.clamp(max=kk) - 1).long()]
                sums[f"recall@{kk}"] += float((h.sum(1) / n).sum())
                sums[f"ndcg@{kk}"] += float(((h * disc[:kk]).sum(1)
                                             / idcg).sum())
        secs = time.perf_counter() - t
        return secs, {k: v / users.numel() for k, v in sums.items()}


def check_same_propagation(ds) -> float:
    r"""max |difference| of mmgraph's and PyG's LightGCN outputs from the same
    initial embeddings."""
    ours = MMGraphRunner("lightgcn", ds).model.eval()
    theirs = PyGLightGCN(ds)
    with torch.no_grad():
        theirs.model.embedding.weight.copy_(
            torch.cat([ours.user_emb.weight, ours.item_emb.weight]))
        a = torch.cat(ours.embeddings())
        b = theirs.model.get_embedding(theirs.edge_index)
    return float((a - b).abs().max())


def _time(runner, epochs: int) -> Tuple[float, float, Dict[str, float]]:
    runner.warm_up()
    ep = [runner.train_epoch() for _ in range(epochs)]
    ev, res = runner.evaluate()
    return min(ep), ev, res


def _round_robin(runners: List[Tuple[str, object]], epochs: int,
                 evals: int) -> List[Tuple[str, Tuple[float, float, dict]]]:
    r"""Times the runners in turns (epoch of each, then the next round), so
    that background load hits all alike; keeps the fastest epoch and
    evaluation of each."""
    for _, r in runners:
        r.warm_up()
    ep: Dict[str, List[float]] = {n: [] for n, _ in runners}
    ev: Dict[str, List[float]] = {n: [] for n, _ in runners}
    res: Dict[str, dict] = {}
    for _ in range(epochs):
        for name, r in runners:
            ep[name].append(r.train_epoch())
    for _ in range(evals):
        for name, r in runners:
            secs, res[name] = r.evaluate()
            ev[name].append(secs)
    return [(n, (min(ep[n]), min(ev[n]), res[n])) for n, _ in runners]


def compare_lightgcn(ds, epochs: int, batch_size: int,
                     evals: int = 3) -> List[list]:
    from mmgraph.nn import sparse
    rows: List[list] = []
    ext = _extensions()
    torch.manual_seed(0)
    runners = [("mmgraph LightGCN (CSR + custom backward)",
                MMGraphRunner("lightgcn", ds, batch_size)),
               ("PyG LightGCN (edge_index message passing)",
                PyGLightGCN(ds, batch_size))]
    if ext["torch-sparse"]:
        runners.append(("PyG LightGCN (torch-sparse SparseTensor)",
                        PyGLightGCN(ds, batch_size, sparse_tensor=True)))
    results = _round_robin(runners, epochs, evals)
    if ext["torch-sparse"]:
        old = sparse.get_backend()
        try:
            for backend in ("torch", "torch_sparse"):
                sparse.set_backend(backend)
                torch.manual_seed(0)
                results += _round_robin(
                    [(f"mmgraph LightGCN (backend {backend})",
                      MMGraphRunner("lightgcn", ds, batch_size))],
                    epochs, evals)
        finally:
            sparse.set_backend(old)
    base_ep, base_ev = results[0][1][0], results[0][1][1]
    for name, (ep, ev, res) in results:
        rows.append([name, f"{ep:.3f}", f"{ev:.3f}",
                     f"{ep / base_ep:.2f}x", f"{ev / base_ev:.2f}x",
                     f"{res['recall@20']:.4f}"])
    return rows


def all_models(ds, names: Sequence[str], epochs: int,
               batch_size: int) -> List[list]:
    rows = []
    for name in names:
        try:
            torch.manual_seed(0)
            r = MMGraphRunner(name, ds, batch_size)
            ep, ev, res = _time(r, epochs)
            rows.append([name, f"{r.build_seconds:.2f}", f"{ep:.3f}",
                         f"{ev:.3f}", f"{res['recall@20']:.4f}"])
        except Exception as e:  # noqa: BLE001 - report and go on
            rows.append([name, "-", "-", "-",
                         f"error: {type(e).__name__}: {e}"[:60]])
        print(f"  {name}: done", flush=True)
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="synthetic",
                   help="a prepared folder (e.g. /work/prepared/"
                   "amazon-sports), 'synthetic' or 'random' (Beauty-sized)")
    p.add_argument("--epochs", type=int, default=2,
                   help="timed epochs per implementation, taken in turns "
                   "(the fastest is reported)")
    p.add_argument("--evals", type=int, default=3,
                   help="timed evaluations per implementation (fastest)")
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--all-models", action="store_true",
                   help="also time every registered model")
    p.add_argument("--models", help="comma-separated models for "
                   "--all-models (default: all registered)")
    p.add_argument("--skip-lightgcn", action="store_true",
                   help="skip the mmgraph vs PyG LightGCN comparison")
    args = p.parse_args(argv)

    import mmgraph  # noqa: F401
    from mmgraph.models import list_models
    from mmgraph.report import format_table
    ds = load(args.data, features={"text": 384})
    print(f"dataset: {ds}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    ext = _extensions()
    missing = [k for k, v in ext.items() if not v]
    if missing:
        print(f"{' and '.join(missing)} not installed: the with-extension "
              f"comparison (PyG SparseTensor, mmgraph torch_sparse backend) "
              f"is skipped")
    else:
        print("torch-scatter and torch-sparse installed: timing the "
              "SparseTensor and torch_sparse paths too")
    if not args.skip_lightgcn:
        diff = check_same_propagation(ds)
        print(f"same initial embeddings -> max |mmgraph - PyG| after "
              f"propagation: {diff:.1e}")
        rows = compare_lightgcn(ds, args.epochs, args.batch_size,
                                args.evals)
        print(f"\nLightGCN, one training epoch (fastest of {args.epochs}) "
              f"and one full validation evaluation (fastest of "
              f"{args.evals}), timed in turns:\n")
        print(format_table(rows, ["implementation", "s/epoch", "s/eval",
                                  "epoch time vs mmgraph",
                                  "eval time vs mmgraph",
                                  "valid recall@20"]))
        ep = float(rows[1][1]) / float(rows[0][1])
        ev = float(rows[1][2]) / float(rows[0][2])
        print(f"\nmmgraph: {ep:.2f}x faster per training epoch, {ev:.2f}x "
              f"faster per evaluation than PyG's stock LightGCN")
    if args.all_models:
        names = args.models.split(",") if args.models else list_models()
        print(f"\nevery model: build, one epoch, one evaluation "
              f"({len(names)} models)")
        rows = all_models(ds, names, args.epochs, args.batch_size)
        print()
        print(format_table(rows, ["model", "build s", "s/epoch", "s/eval",
                                  "valid recall@20"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
