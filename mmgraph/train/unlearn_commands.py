r"""``mmgraph unlearn``: forget users, items or interactions from a trained
run (MMRecUn) and compare with retraining (gold) and fine-tuning."""
from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Union

from mmgraph.errors import DataFormatError
from mmgraph.train.objectives.reverse_bpr import FORGET_LOSSES, FORGET_SIDES
from mmgraph.train.unlearn import (KINDS, REQUEST_FILE, ForgetRequest,
                                   Unlearner, _run_requests, save_requests,
                                   unlearning_metrics)
from mmgraph.train.utils import atomic_write_json

__all__ = ["add_unlearn_parser", "unlearn_run", "unlearn_table",
           "parse_fraction", "UNLEARN_FILE"]

log = logging.getLogger("mmgraph")

#: The comparison written into the output folder.
UNLEARN_FILE = "unlearn.json"


def parse_fraction(text: str):
    r"""``'users:0.05'`` -> ``('users', 0.05)``."""
    kind, sep, value = str(text).partition(":")
    if not sep:
        raise ValueError(f"--forget-fraction {text!r}: expected KIND:FRACTION "
                         f"with KIND one of {', '.join(KINDS)} (e.g. "
                         f"users:0.05)")
    try:
        fraction = float(value)
    except ValueError:
        raise ValueError(f"--forget-fraction {text!r}: {value!r} is not a "
                         f"number") from None
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"--forget-fraction {text!r}: the fraction must be "
                         f"in (0, 1)")
    return kind, fraction


def unlearn_run(run_dir: Union[str, Path], out_dir: Union[str, Path],
                request_fn, gold: bool = False, finetune: bool = False,
                device: Optional[str] = None, show_progress: bool = True,
                **unlearn_kwargs: Any) -> Dict[str, Any]:
    r"""Unlearns a request from a finished run and compares the models.

    Args:
        run_dir: a run folder of ``mmgraph train`` (or of an earlier
            ``mmgraph unlearn``: requests chain).
        out_dir: the new run folder (``results.json``, ``checkpoint.pt``,
            ``unlearn_request.json``, ``unlearn.json``; ``gold/`` and
            ``finetune/`` sub-runs).
        request_fn: ``dataset -> ForgetRequest`` (built on the run's
            dataset, so random fractions see its ids).
        gold (bool): also retrain from scratch on the retain set with the
            run's config (same epoch cap).
        finetune (bool): also fine-tune the original on the retain set only
            (the same loop with ``alpha=0``).
        device (str, optional): ``'cpu'`` or ``'cuda'``.
        **unlearn_kwargs: keywords of
            :class:`~mmgraph.train.unlearn.Unlearner`.

    Returns:
        The ``unlearn.json`` dict.
    """
    from mmgraph.data import load_dataset
    from mmgraph.train.run import load_run, run_dir_of_best, train_config
    from mmgraph.train.trainer import RESULTS

    run = run_dir_of_best(run_dir)
    out = Path(out_dir)
    results = json.loads((run / RESULTS).read_text())
    if not results.get("finished", True):
        raise ValueError(f"{run}: the run has not finished training")
    dataset = load_dataset(results["data"])
    previous = _run_requests(run)
    for r in previous:
        dataset = r.apply(dataset)
    model, dataset, _ = load_run(run, dataset=dataset, device=device)
    config = copy.deepcopy(results["config"])
    if device:
        config["train"]["device"] = device
    tc = config["train"]
    request = request_fn(dataset)
    forget, _ = request.split(dataset)
    retain_ds = request.apply(dataset)
    log.info("unlearn: %r -> %d forget / %d retain training interactions",
             request, forget.size(1), retain_ds.train_edge_index.size(1))

    def measure(m, train_edges=None):
        return unlearning_metrics(m, retain_ds, forget, train_edges,
                                  tc["metrics"], tc["topk"],
                                  tc["eval_batch_size"])

    models: Dict[str, Dict[str, Any]] = {}
    models["original"] = {**measure(model, dataset.train_edge_index),
                          "seconds": results.get("wall_seconds"),
                          "epochs": results.get("epochs")}
    # Sparse graph buffers cannot be deep-copied: keep the weights only.
    state0 = {k: v.detach().clone() for k, v in model.state_dict().items()} \
        if finetune else None
    epoch_offset = int(results.get("best_epoch", -1)) + 1
    base = {"config": config, "data": results["data"],
            "source_run": str(run)}

    unlearner = Unlearner(model, dataset, request, config=tc,
                          epoch_offset=epoch_offset, out_dir=out,
                          extra_results=base, previous_requests=previous,
                          show_progress=show_progress, **unlearn_kwargs)
    res = unlearner.fit()
    models["unlearned"] = {**measure(model), "seconds": res["wall_seconds"],
                           "cpu_seconds": res["cpu_seconds"],
                           "epochs": len(res["history"]) - 1,
                           "selected_epoch": res["best_epoch"],
                           "stop_reason": res["unlearn"]["stop_reason"]}

    if finetune:
        from mmgraph.models import create_model
        frozen = create_model(results["model"], dataset, **config["model"])
        frozen.load_state_dict(state0)
        frozen.to(next(iter(state0.values())).device)
        kw = dict(unlearn_kwargs, alpha=0.0)
        ft = Unlearner(frozen, dataset, request, config=tc,
                       epoch_offset=epoch_offset, out_dir=out / "finetune",
                       extra_results=base, previous_requests=previous,
                       show_progress=show_progress, **kw)
        res_ft = ft.fit()
        models["finetune"] = {**measure(frozen),
                              "seconds": res_ft["wall_seconds"],
                              "cpu_seconds": res_ft["cpu_seconds"],
                              "epochs": len(res_ft["history"]) - 1,
                              "selected_epoch": res_ft["best_epoch"],
                              "stop_reason": res_ft["unlearn"]["stop_reason"]}
        del frozen, state0

    if gold:
        gold_dir = out / "gold"
        t0, c0 = time.perf_counter(), time.process_time()
        res_g, gold_model = train_config(results["model"], retain_ds,
                                         copy.deepcopy(config), gold_dir,
                                         data_spec=results["data"],
                                         show_progress=show_progress)
        seconds = time.perf_counter() - t0
        cpu_seconds = time.process_time() - c0
        save_requests(gold_dir / REQUEST_FILE, previous + [request])
        res_g["unlearn_request"] = REQUEST_FILE
        atomic_write_json(gold_dir / RESULTS, res_g)
        models["gold"] = {**measure(gold_model), "seconds": seconds,
                          "cpu_seconds": cpu_seconds,
                          "epochs": res_g["epochs"],
                          "selected_epoch": res_g["best_epoch"]}

    summary = {
        "model": results["model"], "dataset": results.get("dataset"),
        "data": results["data"], "source_run": str(run),
        "request": {**{k: v for k, v in request.to_dict().items()
                       if k != "ids"}, "num_ids": len(request),
                    "forget_edges": int(forget.size(1)),
                    "retain_edges": int(retain_ds.train_edge_index.size(1)),
                    "previous_requests": len(previous)},
        "settings": {"alpha": unlearner.alpha,
                     "epochs": unlearner.config.epochs,
                     "learning_rate": unlearner.config.learning_rate,
                     "forget_learning_rate": unlearner.forget_learning_rate,
                     "batch_size": unlearner.config.batch_size,
                     "retain_batch_size": unlearner.trainer.retain_batch_size,
                     "min_steps": unlearner.trainer.min_steps,
                     "patience": unlearner.config.patience,
                     "valid_tolerance": unlearner.valid_tolerance,
                     "target_forget": unlearner.trainer.target,
                     "forget_loss": unlearner.forget_loss,
                     "forget_side": unlearner.forget_side,
                     "seed": unlearner.config.seed,
                     "train_epochs_cap": tc["epochs"]},
        "protocol": ("forget: forget edges as targets, retained training "
                     "items masked (lower is better); valid/test: the retain "
                     "dataset's splits, each model's own training items and "
                     "removed items masked; seconds: end-to-end wall clock "
                     "(original and gold: training to early stopping or the "
                     "epoch cap); cpu_seconds: CPU time of this process"),
        "models": models,
    }
    if gold:
        summary["speedup_vs_gold"] = models["gold"]["seconds"] / \
            max(models["unlearned"]["seconds"], 1e-9)
        summary["cpu_speedup_vs_gold"] = models["gold"]["cpu_seconds"] / \
            max(models["unlearned"]["cpu_seconds"], 1e-9)
    atomic_write_json(out / UNLEARN_FILE, summary)
    return summary


def unlearn_table(summary: Dict[str, Any], metric: str = "recall@20",
                  second: str = "ndcg@20") -> str:
    r"""One row per model: forget and test metrics, seconds, epochs."""
    from mmgraph.report import format_table
    rows = []
    for name, r in summary["models"].items():
        secs = r.get("seconds")
        rows.append([name, r["forget"].get(metric, float("nan")),
                     r["forget"].get(second, float("nan")),
                     r["test"].get(metric, float("nan")),
                     r["test"].get(second, float("nan")),
                     float(secs) if secs is not None else "-",
                     r.get("epochs") if r.get("epochs") is not None else "-"])
    return format_table(rows, ["model", f"forget {metric} (low)",
                               f"forget {second}", f"test {metric}",
                               f"test {second}", "seconds", "epochs"])


def _cmd_unlearn(args) -> int:
    options = {}
    if args.remove_items:
        options["remove_items"] = True
    if args.zero_features:
        options["zero_features"] = True
    numbers: Dict[str, Union[str, float]] = {}
    for name in ("target_forget", "forget_lr"):
        value = getattr(args, name)
        try:
            numbers[name] = value if value == "auto" else float(value)
        except ValueError:
            print(f"error: --{name.replace('_', '-')} {value!r}: expected a "
                  f"number or 'auto'", file=sys.stderr)
            return 2

    def request_fn(dataset) -> ForgetRequest:
        if args.forget_fraction:
            kind, fraction = parse_fraction(args.forget_fraction)
            return ForgetRequest.random(kind, fraction, dataset,
                                        seed=args.seed, **options)
        for kind in KINDS:
            path = getattr(args, f"forget_{kind}")
            if path:
                return ForgetRequest.from_file(kind, path, dataset, **options)
        raise ValueError("no forget request given")

    try:
        summary = unlearn_run(
            args.run, args.out, request_fn, gold=args.gold,
            finetune=args.finetune, device=args.device,
            show_progress=not args.no_progress, alpha=args.alpha,
            epochs=args.epochs, learning_rate=args.lr,
            forget_learning_rate=numbers["forget_lr"],
            batch_size=args.batch_size,
            retain_batch_size=args.retain_batch_size, patience=args.patience,
            min_steps=args.min_steps,
            valid_tolerance=args.valid_tolerance,
            target_forget=numbers["target_forget"],
            forget_loss=args.forget_loss, forget_side=args.forget_side,
            seed=args.seed)
    except DataFormatError:
        raise  # the CLI prints it without a traceback
    except ValueError as e:
        if args.verbose:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    req = summary["request"]
    print(f"\n{summary['model']} on {summary['dataset']}: forget "
          f"{req['kind']} ({req['num_ids']} ids, {req['forget_edges']} of "
          f"{req['forget_edges'] + req['retain_edges']} training "
          f"interactions; {req['source']})")
    print(unlearn_table(summary))
    u = summary["models"]["unlearned"]
    print(f"\nunlearning: {u['epochs']} epoch(s) over the forget set, "
          f"selected epoch {u['selected_epoch']} ({u['stop_reason']})")
    if "speedup_vs_gold" in summary:
        print(f"unlearning was {summary['speedup_vs_gold']:.1f}x faster than "
              f"retraining (gold) in wall-clock time, "
              f"{summary['cpu_speedup_vs_gold']:.1f}x in CPU time")
    print(f"\nrun folder: {args.out}  (table: "
          f"{Path(args.out) / UNLEARN_FILE})")
    return 0


def add_unlearn_parser(subparsers) -> argparse.ArgumentParser:
    r"""Adds ``mmgraph unlearn`` to the CLI."""
    p = subparsers.add_parser(
        "unlearn", help="forget users, items or interactions from a trained "
        "run (MMRecUn reverse BPR)",
        description="Unlearn a forget request from a trained run with "
        "MMRecUn's reverse BPR (forget set) + BPR (retain set), rebuilding "
        "the graphs from the retain set; write the unlearned run and "
        "unlearn.json (forget/test metrics and time of the original, "
        "unlearned and optionally gold and fine-tuned models).")
    p.add_argument("--run", required=True, help="a trained run folder")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--forget-users", metavar="FILE",
                   help="user ids, one per line")
    g.add_argument("--forget-items", metavar="FILE",
                   help="item ids, one per line")
    g.add_argument("--forget-interactions", metavar="FILE",
                   help="'user item' training pairs, one per line")
    g.add_argument("--forget-fraction", metavar="KIND:FRACTION",
                   help="a seeded random request, e.g. users:0.05, "
                   "items:0.05, interactions:0.05")
    p.add_argument("--remove-items", action="store_true",
                   help="item requests: take the items out of the catalogue "
                   "(masked from rankings); default: they stay as cold items")
    p.add_argument("--zero-features", action="store_true",
                   help="with --remove-items: zero their feature rows and "
                   "rebuild the kNN graphs")
    p.add_argument("--alpha", type=float, default=0.5,
                   help="weight of the reverse-BPR term (default 0.5)")
    p.add_argument("--epochs", type=int, default=10,
                   help="max epochs over the forget set (default 10)")
    p.add_argument("--lr", type=float,
                   help="Adam learning rate (default: the run's)")
    p.add_argument("--forget-lr", default="auto",
                   help="the forget term's own learning rate (default auto: "
                   "10x --lr for user and item requests, --lr for "
                   "interactions)")
    p.add_argument("--batch-size", type=int, default=128,
                   help="forget pairs per step (default 128)")
    p.add_argument("--retain-batch-size", type=int, default=1024,
                   help="retain pairs per step (default 1024)")
    p.add_argument("--min-steps", type=int, default=10,
                   help="fewest steps of an epoch over the forget set "
                   "(default 10)")
    p.add_argument("--patience", type=int, default=3,
                   help="stop after this many epochs without a 1%% forget "
                   "improvement (default 3)")
    p.add_argument("--valid-tolerance", type=float, default=0.05,
                   help="admissible relative drop of validation recall "
                   "(default 0.05)")
    p.add_argument("--target-forget", default="auto",
                   help="stop once forget recall@20 is at most this "
                   "(default auto: validation recall for interactions, "
                   "chance level for users/items)")
    p.add_argument("--forget-loss", choices=FORGET_LOSSES,
                   default="reverse_bpr",
                   help="reverse_bpr (MMRecUn) or ascent (gradient ascent on "
                   "BPR, an ablation)")
    p.add_argument("--forget-side", choices=("auto",) + FORGET_SIDES,
                   default="auto",
                   help="representations the forget term moves (default "
                   "auto: user for user requests, item for item requests, "
                   "both for interactions)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random request and of the loop")
    p.add_argument("--gold", action="store_true",
                   help="also retrain from scratch on the retain set")
    p.add_argument("--finetune", action="store_true",
                   help="also fine-tune on the retain set only (alpha=0)")
    p.add_argument("--device", choices=["cpu", "cuda"])
    p.add_argument("--out", required=True, help="output run folder")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_unlearn)
    return p
