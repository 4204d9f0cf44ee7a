r"""``mmgraph evaluate``: the metrics of a trained run."""
from __future__ import annotations

import argparse
import json

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("evaluate", help="evaluate a trained run")
    p.add_argument("--run", required=True, help="a run (or grid) folder of 'mmgraph train'")
    p.add_argument("--split", choices=["valid", "test"], action="append",
                   help="valid and/or test (repeatable; default both)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: the run's")
    p.add_argument("--json", action="store_true",
                   help="also print every metric (and count) as JSON")
    p.add_argument("--force", action="store_true",
                   help="evaluate even if the run's data changed since training (warns)")
    return p


def run(args: argparse.Namespace) -> int:
    from mmgraph.cli.common import load_run
    from mmgraph.evaluation import Evaluator
    from mmgraph.report import grouped_metrics_tables
    from mmgraph.runs.train import selected_run_note
    model, dataset, results = load_run(args.run, device=args.device, force=args.force)
    note = selected_run_note(args.run)
    if note:  # a grid/search folder: say which of its runs these metrics are
        print(note)
    tc = results["config"]["train"]
    ev = Evaluator(dataset, tc["metrics"], tc["topk"], tc["eval_batch_size"])
    splits = list(dict.fromkeys(args.split or ["valid", "test"]))
    out = {s: ev.evaluate(model, s) for s in splits}
    print(grouped_metrics_tables(out))
    if args.json:  # every key, counts and the cold-start note included
        print(json.dumps(out, indent=2, default=float))
    return 0
