r"""The ``mmgraph`` command line."""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

__all__ = ["main", "build_parser"]

#: Modules contributing sub-commands through ``add_<name>_parser``.
COMMAND_MODULES = {
    "mmgraph.data.commands": ("add_prepare_parser", "add_info_parser"),
    "mmgraph.train.unlearn_commands": ("add_unlearn_parser",),
}


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)


def _cmd_list_models(args) -> int:
    from mmgraph.models import get_model_class, list_models
    from mmgraph.report import format_table
    rows = []
    for name in list_models(args.pattern):
        cls = get_model_class(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ \
            else ""
        rows.append([name, cls.__name__,
                     "yes" if cls.multimodal else "no",
                     "native" if cls.native_loss else "bpr", doc[:60]])
    print(format_table(rows, ["name", "class", "multimodal", "loss",
                              "description"]))
    return 0


def _parse_overrides(items: Optional[List[str]]) -> dict:
    from mmgraph.config import parse_override
    out = {}
    for item in items or []:
        key, value = parse_override(item)
        out[key] = value
    return out


def _cmd_train(args) -> int:
    from mmgraph.distributed import init_from_env, is_main_process
    from mmgraph.report import metrics_table
    from mmgraph.train.run import grid_table, train_model
    init_from_env(args.device or "cpu")
    overrides = _parse_overrides(args.set)
    for key, value in (("epochs", args.epochs), ("seed", args.seed),
                       ("device", args.device), ("objective", args.objective)):
        if value is not None:
            overrides[key] = value
    if args.sampled:
        overrides["sampled"] = True
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    result = train_model(args.model, args.data, args.config, overrides,
                         args.out, resume=args.resume, use_grid=args.grid,
                         seeds=seeds, show_progress=not args.no_progress)
    if not is_main_process():
        return 0
    if "points" in result:
        print(grid_table(result))
        best = result["best"]
        print(f"\nselected on validation: {best['point']} "
              f"(mean over seeds {result['seeds']})")
        table = {s: {k: v[0] for k, v in best[s].items()}
                 for s in ("valid", "test")}
        print(metrics_table(table))
    else:
        print(f"\n{result['model']} on {result['dataset']}: best epoch "
              f"{result['best_epoch']} of {result['epochs']} "
              f"({result['seconds_per_epoch']:.2f} s/epoch)")
        print(metrics_table({"valid": result["valid"],
                             "test": result["test"]}))
    if args.out:
        print(f"\nrun folder: {args.out}")
    return 0


def _cmd_evaluate(args) -> int:
    from mmgraph.evaluation import Evaluator
    from mmgraph.report import metrics_table
    from mmgraph.runs import load_run
    model, dataset, results = load_run(args.run)
    tc = results["config"]["train"]
    ev = Evaluator(dataset, tc["metrics"], tc["topk"], tc["eval_batch_size"])
    out = {s: ev.evaluate(model, s) for s in args.split}
    print(metrics_table(out))
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


def _cmd_recommend(args) -> int:
    import torch

    from mmgraph.evaluation import Evaluator
    from mmgraph.report import format_table
    from mmgraph.runs import load_run
    model, dataset, _ = load_run(args.run)
    try:
        users = [int(u) for u in args.users.split(",") if u.strip()]
    except ValueError:
        raise SystemExit(f"error: --users {args.users!r}: expected "
                         f"comma-separated integer user ids") from None
    bad = [u for u in users if not 0 <= u < dataset.num_users]
    if bad:
        raise SystemExit(f"error: --users: ids {bad} outside 0.."
                         f"{dataset.num_users - 1}")
    ranked = Evaluator(dataset).rank(model, torch.tensor(users), args.k)
    rows = [[u, " ".join(map(str, r))] for u, r in
            zip(users, ranked.tolist())]
    print(format_table(rows, ["user", f"top-{args.k} items (rank order)"]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmgraph",
        description="Multimodal recommendation on PyTorch Geometric.")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list-models", help="list the registered models")
    p.add_argument("pattern", nargs="?", default="*")
    p.set_defaults(func=_cmd_list_models)

    p = sub.add_parser("train", help="train a model (or a grid) with early "
                       "stopping on validation")
    p.add_argument("--model", required=True)
    p.add_argument("--data", default="synthetic",
                   help="a prepared MMRec folder, or 'synthetic' (default)")
    p.add_argument("--config", help="YAML file with model/train/objective/"
                   "grid sections")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config key; a list value [a,b] is a grid "
                   "axis (repeatable)")
    p.add_argument("--grid", action="store_true",
                   help="search the model's published grid")
    p.add_argument("--seeds", help="comma-separated seeds (mean ± std)")
    p.add_argument("--objective", help="bpr, bpo, nbpo or native")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=["cpu", "cuda"])
    p.add_argument("--out", help="run folder")
    p.add_argument("--resume", action="store_true",
                   help="continue from the run folder's checkpoint")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--sampled", action="store_true",
                   help="train on sampled subgraphs (fan-out: --set "
                   "num_neighbors=[10,10]); evaluation stays full-graph")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a trained run")
    p.add_argument("--run", required=True)
    p.add_argument("--split", choices=["valid", "test"], action="append")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("recommend", help="top-k items for users")
    p.add_argument("--run", required=True)
    p.add_argument("--users", required=True, help="e.g. 0,5,9")
    p.add_argument("--k", type=int, default=10)
    p.set_defaults(func=_cmd_recommend)

    for module, adders in COMMAND_MODULES.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            continue
        for adder in adders:
            getattr(mod, adder)(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if getattr(args, "command", None) == "evaluate" and not args.split:
        args.split = ["valid", "test"]
    from mmgraph.config import ConfigError
    try:
        from mmgraph.errors import DataFormatError
    except ImportError:  # pragma: no cover
        DataFormatError = ValueError  # type: ignore
    try:
        return int(args.func(args) or 0)
    except (ConfigError, DataFormatError, KeyError, FileNotFoundError) as e:
        if args.verbose:
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
