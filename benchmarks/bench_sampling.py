r"""Negative sampling for one training epoch: mmgraph's vectorised
:class:`~mmgraph.data.NegativeSampler` against MMRec's rejection loop,
side by side.

Both draw, for every training interaction ``(u, i)``, ``k`` items uniformly
from the items that occur in training, excluding ``u``'s training items.

* **mmgraph**: candidates for the whole epoch at once, membership tested with
  one ``searchsorted`` over sorted ``u * I + i`` keys, only the collisions
  redrawn.
* **rejection loop** (MMRec's ``TrainDataLoader``): per row,
  ``random.sample(all_items, 1)`` until the item is not in the user's
  training set (a Python ``set`` per user).

Usage::

    python benchmarks/bench_sampling.py                    # Beauty-sized random
    python benchmarks/bench_sampling.py --data /work/prepared/amazon-sports
    python benchmarks/bench_sampling.py --negatives 1,4    # BPR and NBPO
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_evaluation import fastest, load  # noqa: E402  (puts repo on path)


def rejection_loop(users: List[int], user_items: List[set],
                   all_items: List[int], k: int) -> List[List[int]]:
    r"""MMRec's per-row rejection sampler, ``k`` negatives per row."""
    out = []
    for u in users:
        seen = user_items[u]
        row = []
        for _ in range(k):
            while True:
                j = random.sample(all_items, 1)[0]
                if j not in seen:
                    break
            row.append(j)
        out.append(row)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="random",
                   help="'random' (Beauty-sized, default), 'synthetic' or a "
                   "prepared folder")
    p.add_argument("--negatives", default="1,4",
                   help="comma-separated negatives per positive")
    p.add_argument("--repeat", type=int, default=3,
                   help="mmgraph timings: best of N")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import mmgraph  # noqa: F401
    from mmgraph.data import NegativeSampler
    from mmgraph.report import format_table
    ds = load(args.data)
    print(f"dataset: {ds}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    edges = ds.train_edge_index
    torch.manual_seed(args.seed)
    random.seed(args.seed)

    t = time.perf_counter()
    sampler = NegativeSampler(edges, ds.num_users, ds.num_items)
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    user_items: List[set] = [set() for _ in range(ds.num_users)]
    for u, i in edges.t().tolist():
        user_items[u].add(i)
    all_items = sorted(set(edges[1].tolist()))
    t_build_loop = time.perf_counter() - t
    users = edges[0][torch.randperm(edges.size(1))]
    users_list = users.tolist()

    rows = [["set-up (once per dataset)", f"{t_build:.3f}",
             f"{t_build_loop:.3f}", f"{t_build_loop / t_build:.1f}x"]]
    for k in [int(x) for x in args.negatives.split(",")]:
        neg, t_fast = fastest(lambda k=k: sampler.sample(users, k), args.repeat)
        # Correctness: no sampled item is a training item of its user.
        assert not bool(sampler.is_positive(users.view(-1, 1), neg).any())
        t = time.perf_counter()
        slow = rejection_loop(users_list, user_items, all_items, k)
        t_slow = time.perf_counter() - t
        assert len(slow) == len(users_list)
        rows.append([f"one epoch, {k} negative(s) per positive "
                     f"({edges.size(1) * k:,} draws)", f"{t_fast:.3f}",
                     f"{t_slow:.3f}", f"{t_slow / t_fast:.1f}x"])
    print()
    print(format_table(rows, ["task", "mmgraph s", "rejection loop s",
                              "ratio (loop / mmgraph)"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
