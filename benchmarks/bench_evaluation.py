r"""Full-ranking evaluation: mmgraph's :class:`~mmgraph.evaluation.Evaluator`
against a per-user Python loop, side by side.

Both rank every item for every test user with the user's training items
masked and compute Recall/NDCG/Precision/MAP@{5,10,20,50} with MMRec's
definitions, from the same embeddings; the script checks that the metrics
agree and prints the speed ratio.

* **mmgraph**: embeddings once, users in batches of 4096, one matrix product,
  masking by two binary searches in the sorted training keys, one ``topk``,
  metrics in torch from the hit matrix.
* **per-user loop** (the pattern of many research scripts): for each user,
  score the items, mask the user's training list, ``topk``, then build the
  hit list and the metrics in Python.
* **MMRec-style** (``--mmrec``): batched scoring, then a Python loop over the
  users of a batch for the masks and the hit matrix, metrics in numpy -- what
  MMRec's ``TopKEvaluator`` does. With ``--model`` (a registered model,
  randomly initialised) it also recomputes the model's forward for every
  user batch, as MMRec's ``full_sort_predict`` of graph models does; mmgraph
  computes the embeddings once per evaluation.

Usage::

    python benchmarks/bench_evaluation.py                  # Beauty-sized random
    python benchmarks/bench_evaluation.py --data /work/prepared/amazon-beauty
    python benchmarks/bench_evaluation.py --max-users 2000 # shorter loop
    python benchmarks/bench_evaluation.py --mmrec --model lightgcn
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: Amazon Beauty 5-core (P5 split of ../shared/data): users, items, rows.
BEAUTY = (22363, 12101, 198502)
METRICS = ("recall", "ndcg", "precision", "map")
TOPK = (5, 10, 20, 50)


def random_dataset(num_users: int = BEAUTY[0], num_items: int = BEAUTY[1],
                   num_interactions: int = BEAUTY[2],
                   features: Optional[Dict[str, int]] = None,
                   seed: int = 0, name: str = "beauty-sized-random"):
    r"""A random dataset of a given size with a long-tailed item popularity
    (Zipf exponent 0.8), at least 5 interactions per user, MMRec's random
    per-user split and optional random features ``{modality: dim}``.

    Vectorised: memory is linear in the number of interactions (no dense
    user x item matrix)."""
    from mmgraph.data import RecDataset
    from mmgraph.data.prepare import split_mmrec
    rng = np.random.default_rng(seed)
    extra = max(num_interactions - 5 * num_users, 0)
    deg = 5 + rng.multinomial(extra, np.full(num_users, 1.0 / num_users))
    user = np.repeat(np.arange(num_users), deg)
    pop = 1.0 / np.arange(1, num_items + 1) ** 0.8
    item = rng.choice(num_items, size=user.size, p=pop / pop.sum())
    item = rng.permutation(num_items)[item]  # popular items anywhere
    item[:num_items] = np.arange(num_items)  # every item occurs
    key = np.unique(user * num_items + item)
    user, item = key // num_items, key % num_items
    label = split_mmrec(user, seed)
    feats = {m: rng.standard_normal((num_items, d)).astype(np.float32)
             for m, d in (features or {}).items()}
    return RecDataset.from_interactions(user, item, label, feats, name=name)


def load(data: str, features: Optional[Dict[str, int]] = None):
    from mmgraph.data import load_dataset
    if data == "random":
        return random_dataset(features=features)
    return load_dataset(data)


def _per_user_lists(edge_index: torch.Tensor, num_users: int) -> List[list]:
    lists: List[list] = [[] for _ in range(num_users)]
    for u, i in edge_index.t().tolist():
        lists[u].append(i)
    return lists


def _user_metrics(hits: Sequence[bool], num_targets: int) -> Dict[str, float]:
    r"""MMRec's definitions for one user, in plain Python."""
    out = {}
    for k in TOPK:
        h = hits[:k]
        n_hit = sum(h)
        dcg = sum(1.0 / math.log2(r + 2) for r, x in enumerate(h) if x)
        idcg = sum(1.0 / math.log2(r + 2) for r in range(min(num_targets, k)))
        ap, seen = 0.0, 0
        for r, x in enumerate(h):
            if x:
                seen += 1
                ap += seen / (r + 1)
        out[f"recall@{k}"] = n_hit / num_targets
        out[f"ndcg@{k}"] = dcg / idcg
        out[f"precision@{k}"] = n_hit / k
        out[f"map@{k}"] = ap / min(num_targets, k)
    return out


def user_lists(dataset, split: str = "test"):
    r"""Per-user training and target item lists (the loops' set-up, built
    once per dataset and not timed)."""
    return (_per_user_lists(dataset.train_edge_index, dataset.num_users),
            _per_user_lists(dataset.split_edge_index(split),
                            dataset.num_users))


def per_user_loop(user_emb, item_emb, lists,
                  max_users: Optional[int] = None) -> Dict[str, float]:
    r"""Scores, masks, ranks and measures one user at a time."""
    train_of, test_of = lists
    users = [u for u in range(len(test_of)) if test_of[u]]
    if max_users:
        users = users[:max_users]
    k = max(TOPK)
    sums: Dict[str, float] = {}
    for u in users:
        scores = item_emb @ user_emb[u]
        scores[train_of[u]] = -math.inf
        top = torch.topk(scores, k).indices.tolist()
        truth = set(test_of[u])
        for key, v in _user_metrics([i in truth for i in top],
                                    len(truth)).items():
            sums[key] = sums.get(key, 0.0) + v
    return {key: v / len(users) for key, v in sums.items()}


def mmrec_style(user_emb, item_emb, lists, batch_size: int = 4096,
                max_users: Optional[int] = None,
                forward=None) -> Dict[str, float]:
    r"""MMRec's evaluation pattern: batched scores, per-user Python masks
    and hit lists, numpy metrics. With ``forward`` (a callable returning
    ``(user_emb, item_emb)``) the embeddings are recomputed for every user
    batch, as MMRec's ``full_sort_predict`` of graph models does."""
    train_of, test_of = lists
    users = [u for u in range(len(test_of)) if test_of[u]]
    if max_users:
        users = users[:max_users]
    k = max(TOPK)
    rows = []
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        if forward is not None:
            with torch.no_grad():
                user_emb, item_emb = forward()
        scores = user_emb[batch] @ item_emb.t()
        rr, cc = [], []
        for r, u in enumerate(batch):
            rr += [r] * len(train_of[u])
            cc += train_of[u]
        scores[rr, cc] = -1e10
        top = torch.topk(scores, k, dim=1).indices.numpy()
        for r, u in enumerate(batch):
            truth = set(test_of[u])
            rows.append(([i in truth for i in top[r]], len(truth)))
    hits = np.array([h for h, _ in rows], dtype=float)
    n = np.array([t for _, t in rows], dtype=float)
    out = {}
    ranks = np.arange(1, k + 1)
    disc = 1.0 / np.log2(ranks + 1)
    for kk in TOPK:
        h = hits[:, :kk]
        out[f"recall@{kk}"] = float((h.sum(1) / n).mean())
        idcg = np.array([disc[:int(min(t, kk))].sum() for t in n])
        out[f"ndcg@{kk}"] = float(((h * disc[:kk]).sum(1) / idcg).mean())
        out[f"precision@{kk}"] = float((h.sum(1) / kk).mean())
        prec = np.cumsum(h, 1) / ranks[:kk]
        out[f"map@{kk}"] = float(((prec * h).sum(1) /
                                  np.minimum(n, kk)).mean())
    return out


def fastest(fn, repeat: int):
    r"""Calls ``fn`` ``repeat`` times (at least once); returns its last result
    and the fastest wall-clock seconds (the least disturbed by other load)."""
    times, out = [], None
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, min(times)


def _max_diff(a: Dict[str, float], b: Dict[str, float]) -> float:
    return max(abs(a[k] - b[k]) for k in b)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="random",
                   help="'random' (Beauty-sized, default), 'synthetic' or a "
                   "prepared folder")
    p.add_argument("--dim", type=int, default=64, help="embedding size")
    p.add_argument("--split", default="test", choices=["valid", "test"])
    p.add_argument("--max-users", type=int, default=None,
                   help="evaluate only the first N users in every method")
    p.add_argument("--repeat", type=int, default=3,
                   help="mmgraph timings: best of N")
    p.add_argument("--mmrec", action="store_true",
                   help="also time MMRec's batched + Python-loop evaluator")
    p.add_argument("--model", help="score with a registered model (random "
                   "initialisation; e.g. lightgcn) instead of fixed random "
                   "embeddings; the per-user loop then reuses one forward, "
                   "MMRec-style recomputes it per user batch")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import mmgraph  # noqa: F401
    from mmgraph.evaluation import Evaluator
    from mmgraph.report import format_table
    torch.manual_seed(args.seed)
    t = time.perf_counter()
    ds = load(args.data, features={"text": 384} if args.model else None)
    print(f"dataset: {ds} ({time.perf_counter() - t:.1f} s to build)")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")

    class Fixed(torch.nn.Module):  # a random model: fixed embeddings
        def __init__(self):
            super().__init__()
            self.u = torch.randn(ds.num_users, args.dim) / args.dim ** 0.5
            self.i = torch.randn(ds.num_items, args.dim) / args.dim ** 0.5

        def embeddings(self):
            return self.u, self.i

        def score(self, users, emb=None):
            u, i = emb if emb is not None else self.embeddings()
            return u[users] @ i.t()

    forward = None
    if args.model:
        from mmgraph.models import create_model
        model = create_model(args.model, ds).eval()  # randomly initialised
        forward = model.embeddings
        with torch.no_grad():
            model.u, model.i = model.embeddings()
    else:
        model = Fixed()
    ev = Evaluator(ds, METRICS, TOPK)
    targets = ds.split_edge_index(args.split)
    if args.max_users:  # the same users in every method
        users = torch.unique(targets[0])[:args.max_users]
        targets = targets[:, torch.isin(targets[0], users)]
    fast, t_fast = fastest(lambda: ev.evaluate(model, targets), args.repeat)
    n_users = fast["num_users"]

    lists = user_lists(ds, args.split)
    t = time.perf_counter()
    slow = per_user_loop(model.u, model.i, lists, args.max_users)
    t_loop = time.perf_counter() - t
    rows = [["mmgraph Evaluator", f"{t_fast:.3f}", "1.0x", "-"],
            ["per-user Python loop", f"{t_loop:.3f}",
             f"{t_loop / t_fast:.1f}x", f"{_max_diff(fast, slow):.1e}"]]
    if args.mmrec:
        t = time.perf_counter()
        mm = mmrec_style(model.u, model.i, lists, max_users=args.max_users,
                         forward=forward)
        t_mm = time.perf_counter() - t
        what = "MMRec-style (batched + Python hits" + \
            (", forward per batch)" if forward else ")")
        rows.append([what, f"{t_mm:.3f}", f"{t_mm / t_fast:.1f}x",
                     f"{_max_diff(fast, mm):.1e}"])
    scorer = f"a random {args.model}" if args.model else \
        f"random embeddings of size {args.dim}"
    print(f"\nfull ranking of {ds.num_items:,} items for {n_users:,} "
          f"{args.split} users, 16 metrics (recall/ndcg/precision/map @ "
          f"5/10/20/50), {scorer}:\n")
    print(format_table(rows, ["method", "seconds", "slower than mmgraph",
                              "max |metric diff|"]))
    print(f"\nmmgraph is {t_loop / t_fast:.1f}x faster than the per-user "
          f"loop (recall@20 {fast['recall@20']:.5f} vs "
          f"{slow['recall@20']:.5f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
