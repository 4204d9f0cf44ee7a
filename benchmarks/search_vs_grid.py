r"""TPE (or random) search against the full published grid, side by side:
best validation score and wall time of each.

Both train the same model on the same data with the same settings (``--set``
overrides, e.g. a capped ``epochs``) and select on validation
``recall@20``; the grid trains every point of the model's ``grid:``
(LightGCN: 4 x 5 = 20 points), the search ``--trials`` draws from the
grid's ranges (:mod:`mmgraph.search`). Both are resumable folders under
``--out``, so an interrupted comparison continues.

Usage::

    python benchmarks/search_vs_grid.py --out /tmp/svg                     # synthetic
    python benchmarks/search_vs_grid.py --data DATA --trials 30 --out DIR
    python benchmarks/search_vs_grid.py --set epochs=30 --out DIR          # capped
    python benchmarks/search_vs_grid.py --size 300,200 --set epochs=20 --out DIR
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="lightgcn")
    p.add_argument("--data", default="synthetic")
    p.add_argument("--size", metavar="USERS,ITEMS",
                   help="size of the synthetic set (default 1000,500)")
    p.add_argument("--sampler", default="tpe", choices=["tpe", "random"])
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    from mmgraph.search import search
    from mmgraph.data import load_dataset
    from mmgraph.experiment import parse_override, train_model
    overrides = dict(parse_override(s) for s in args.set)
    if args.size and args.data == "synthetic":
        u, i = (int(x) for x in args.size.split(","))
        dataset = load_dataset("synthetic", num_users=u, num_items=i)
    else:
        dataset = load_dataset(args.data)
    out = Path(args.out)

    t0 = time.perf_counter()
    grid = train_model(args.model, dataset, overrides=overrides,
                       out_dir=out / "grid", resume=True, use_grid=True,
                       show_progress=False)
    grid_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    found = search(args.model, dataset, overrides=overrides,
                   out_dir=out / args.sampler, sampler=args.sampler,
                   trials=args.trials, seed=args.seed)
    search_s = time.perf_counter() - t0
    metric = grid["valid_metric"]
    gbest, sbest = grid["best"], found["best"]
    grid_runs = run_seconds(out / "grid" / "runs")
    search_runs = run_seconds(out / args.sampler / "trials")
    print(f"{args.model} on {dataset.name} ({dataset.num_users} users, "
          f"{dataset.num_items} items), overrides {overrides or 'none'}")
    print(f"{'':24s} {'runs':>5s} {'best valid ' + metric:>22s} "
          f"{'its test ' + metric:>20s} {'runs s':>8s} {'this call s':>11s}")
    print(f"{'grid':24s} {len(grid['points']):5d} "
          f"{gbest['valid'][metric][0]:22.4f} {gbest['test'][metric][0]:20.4f}"
          f" {grid_runs:8.0f} {grid_s:11.0f}")
    print(f"{args.sampler + f' ({args.trials} trials)':24s} "
          f"{len(found['trials']):5d} {sbest['valid'][metric]:22.4f} "
          f"{sbest['test'][metric]:20.4f} {search_runs:8.0f} {search_s:11.0f}")
    print(f"grid best: {gbest['point']}")
    print(f"{args.sampler} best: {sbest['point']}")
    print("(runs s: the training and validation seconds every run recorded "
          "per epoch,\n summed, resumed parts included; this call s: only "
          "what this call trained)")
    return 0


def run_seconds(folder: Path) -> float:
    r"""The seconds of training and validation the finished runs under
    :obj:`folder` recorded epoch by epoch (``train_seconds`` +
    ``eval_seconds`` of every ``history`` entry of each ``results.json``),
    summed: the compute of the histories kept, whichever calls made them."""
    import json
    from mmgraph.train.trainer import epoch_seconds
    total = 0.0
    for f in sorted(folder.glob("*/results.json")):
        results = json.loads(f.read_text(encoding="utf-8"))
        if results.get("finished"):
            total += sum(epoch_seconds(h) for h in results.get("history", []))
    return total


if __name__ == "__main__":
    sys.exit(main())
