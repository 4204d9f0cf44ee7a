r"""``mmgraph train``: one configuration, or a grid over hyper-parameters and
seeds selected on validation."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from mmgraph.cli import values

__all__ = ["add_parser", "run", "interrupted"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train a model (or a grid) with early "
                              "stopping on validation")
    p.add_argument("--model", required=True, help="a registered model (mmgraph list-models)")
    p.add_argument("--data", default="synthetic",
                   help="a prepared MMRec folder (or its NAME.inter file, where it "
                   "holds several), or 'synthetic' (default)")
    p.add_argument("--config", help="YAML file with model/train/objective/grid sections")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config key; a list value [a,b] is a grid axis "
                        "(repeatable)")
    p.add_argument("--grid", action="store_true", help="search the model's published grid")
    p.add_argument("--seeds", type=values.seed_list,
                   help="comma-separated distinct seeds (mean ± std)")
    p.add_argument("--objective", help="bpr, bpo, nbpo or native")
    p.add_argument("--epochs", type=values.positive_int, help="maximum epochs (>= 1)")
    p.add_argument("--seed", type=values.non_negative_int,
                   help="random seed of the run (default: the config's)")
    p.add_argument("--device", choices=["cpu", "cuda"],
                   help="where to train (default: the config's, cpu)")
    p.add_argument("--out", type=Path,
                   help="run folder (without it nothing is saved)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true",
                   help="continue from the run folder's checkpoint")
    g.add_argument("--overwrite", action="store_true",
                   help="replace the run in a non-empty --out (its files are removed first)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (e.g. when logging to a file)")
    p.add_argument("--sampled", action="store_true",
                   help="train on sampled subgraphs (fan-out: --set num_neighbors=[10,10]; "
                        "over CM3's and LIRDRec's kNN relation: --set item_neighbors=K, "
                        "-1 = all; --set item_history=true: CM3 and LIRDRec encode only the "
                        "batch's items; --set sparse_features=true: BM3 and FREEDOM update "
                        "only the feature rows read); evaluation stays full-graph")
    # Search and logging (mmgraph.search, mmgraph.train.logging_callbacks);
    # spelt here so that the parser imports no torch.
    p.add_argument("--search", choices=["random", "tpe"],
                   help="random or TPE (Bayesian) search over the grid's ranges instead of "
                        "the full grid, selected on validation (needs mmgraph[search]; "
                        "--resume continues the study in --out)")
    p.add_argument("--trials", type=values.positive_int, default=20,
                   help="completed trials of --search (default 20)")
    p.add_argument("--log", metavar="NAME[,NAME]",
                   help="also log every epoch into the run folder: csv (metrics.csv), "
                        "tensorboard (tensorboard/; needs mmgraph[tensorboard])")
    return p


def _check_search_and_log(args: argparse.Namespace) -> None:
    r"""``--search`` and ``--log`` fit the other options (before any data
    are read)."""
    from mmgraph.config import ConfigError
    if args.search:
        for flag, given in (("--grid", args.grid), ("--seeds", args.seeds)):
            if given:
                raise ConfigError(f"--search and {flag}: give one of them (--search "
                                  "draws its points from the grid's ranges, one seed)")
    if args.log:
        if args.out is None:
            raise ConfigError("--log needs --out (the logs are written into the run folder)")
        from mmgraph.train.logging_callbacks import make_loggers
        make_loggers(args.log, args.out)  # an unknown name or a missing extra: now


def _run_search(args: argparse.Namespace, overrides: Dict[str, Any], dataset) -> int:
    r"""``train --search``: the study, its table and the chosen trial."""
    from mmgraph.distributed import is_main_process
    from mmgraph.report import grouped_metrics_tables
    from mmgraph.search import search, search_table
    with _claim_out(args):  # --overwrite clears the search files (runs.RUN_FILES)
        summary = search(args.model, dataset, args.config, overrides, args.out, args.search,
                         args.trials, seed=args.seed if args.seed is not None else 0,
                         show_progress=not args.no_progress, loggers=args.log)
    if not is_main_process():
        return 0
    print(search_table(summary))
    best = summary["best"]
    print(f"\nselected on validation: trial {best['number']} {best['point']} "
          f"({summary['seconds']:.0f} s)")
    print(grouped_metrics_tables({"valid": best["valid"], "test": best["test"]}))
    if args.out:
        print(f"\nsearch folder: {args.out}")
    return 0


def _overrides(args: argparse.Namespace) -> Dict[str, Any]:
    from mmgraph.config import ConfigError
    from mmgraph.experiment import parse_override
    out: Dict[str, Any] = {}
    for item in args.set or []:
        key, value = parse_override(item)
        if not key:
            raise ConfigError(f"--set {item!r}: expected key=value")
        out[key] = value
    values.check_train_values(out, "--set")
    if args.seeds:  # one seed list, or one seed: not both
        given = (["--seed"] if args.seed is not None else []) + [
            f"--set {spelt}" for spelt in ("seed", "train.seed") if spelt in out]
        if given:
            raise ConfigError(f"--seeds and {given[0]}: give one of them")
    flags = (("epochs", "--epochs", args.epochs), ("seed", "--seed", args.seed),
             ("device", "--device", args.device),
             ("objective", "--objective", args.objective),
             ("sampled", "--sampled", True if args.sampled else None))
    for key, flag, value in flags:
        if value is None:
            continue
        # The flag would silently win over a different --set of the same key.
        for spelt in (key, f"train.{key}"):
            if spelt in out and out[spelt] != value:
                given = flag if value is True else f"{flag} {value}"
                raise ConfigError(f"{given} and --set {spelt}={out[spelt]}: "
                                  "give one of them")
        out.pop(f"train.{key}", None)
        out[key] = value
    return out


def check_config(config: Dict[str, Dict[str, Any]], where: str) -> None:
    r"""The resolved ``train`` section holds possible values and known
    metric names, and its device exists."""
    from mmgraph.cli.common import check_device
    from mmgraph.evaluation.metrics import ALL_METRICS
    train = config["train"]
    values.check_train_values({f"train.{k}": v for k, v in train.items()}, where)
    values.check_metric_names(train["metrics"], train["topk"], train["valid_metric"],
                              ALL_METRICS, where)
    check_device(train["device"], "--device" if where == "--set" else f"{where} device")


def _claim_out(args: argparse.Namespace):
    r"""The run folder claimed (and locked) for the training
    (:meth:`mmgraph.runs.RunFolder.claim`: a non-empty one only with
    ``--resume`` or ``--overwrite``), or a no-op without ``--out``."""
    import contextlib

    from mmgraph.errors import RunFolderError
    from mmgraph.runs import RunFolder
    out: Optional[Path] = args.out
    if out is None:
        if args.resume:
            raise RunFolderError("--resume needs --out (the run folder to continue)")
        return contextlib.nullcontext()
    return RunFolder(out).claim(overwrite=args.overwrite, resume=args.resume)


def _load_data(data: str, config: Dict[str, Dict[str, Any]]):
    r"""The dataset (a folder by its absolute path, which the run records),
    checked against the selection metric's cut-off."""
    from mmgraph.config import ConfigError
    from mmgraph.data import load_dataset
    if data != "synthetic" or Path(data).exists():
        data = str(Path(data).resolve())
    dataset = load_dataset(data)
    metric = config["train"]["valid_metric"]
    k = int(str(metric).partition("@")[2])
    if k > dataset.num_items:
        raise ConfigError(f"valid_metric {metric}: the dataset {dataset.name!r} has only "
                          f"{dataset.num_items} items, so there is no top-{k}; select on a "
                          f"smaller cut-off (--set valid_metric=...@K with K <= "
                          f"{dataset.num_items} and K in topk)")
    return dataset


def run(args: argparse.Namespace) -> int:
    from mmgraph.distributed import init_from_env, is_main_process
    from mmgraph.experiment import grid_table, resolve_config, train_model
    from mmgraph.experiment.grid import grid_points
    from mmgraph.report import grouped_metrics_tables
    overrides = _overrides(args)
    try:
        config = resolve_config(args.model, args.config, overrides, use_grid=args.grid)
    except KeyError as e:  # the model and objective registries: an unknown name
        from mmgraph.config import ConfigError
        raise ConfigError(str(e.args[0]) if e.args else str(e)) from None
    check_config(config, f"--config {args.config}" if args.config else "--set")
    grid_points(config, args.model)  # an empty grid axis: before any data are read
    _check_search_and_log(args)
    init_from_env(args.device or "cpu")
    dataset = _load_data(args.data, config)
    if args.search:
        return _run_search(args, overrides, dataset)
    seeds: Optional[List[int]] = args.seeds
    with _claim_out(args):
        result = train_model(args.model, dataset, args.config, overrides,
                             args.out, resume=args.resume, use_grid=args.grid,
                             seeds=seeds, show_progress=not args.no_progress,
                             loggers=args.log)
    if not is_main_process():
        return 0
    if "points" in result:
        print(grid_table(result))
        best = result["best"]
        print(f"\nselected on validation: {best['point']} "
              f"(mean over seeds {result['seeds']})")
        table = {s: {k: v[0] for k, v in best[s].items()} for s in ("valid", "test")}
        print(grouped_metrics_tables(table))
    else:
        print(f"\n{result['model']} on {result['dataset']}: best epoch "
              f"{result['best_epoch']} of {result['epochs']} "
              f"({result['seconds_per_epoch']:.2f} s/epoch)")
        print(grouped_metrics_tables({"valid": result["valid"], "test": result["test"]}))
    if args.out:
        print(f"\nrun folder: {args.out}")
    else:
        print("note: no --out: nothing was saved (the results above are only printed)",
              file=sys.stderr)
    return 0


def interrupted(args: argparse.Namespace) -> str:
    if args.out is None:
        return "nothing was saved (no --out)"
    how = "--resume instead of --overwrite" if args.overwrite else "plus --resume"
    return f"the last checkpoint in {args.out} is kept; continue with the same command {how}"
