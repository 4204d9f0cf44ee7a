r"""``mmgraph unlearn``: forget users, items or interactions from a trained
run (MMRecUn) and compare with retraining (gold) and fine-tuning
(:func:`mmgraph.runs.unlearn_run`)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, Union

from mmgraph.cli import values

__all__ = ["add_parser", "run", "interrupted"]

# The library's names (mmgraph.unlearn.KINDS, METHODS, callbacks.TARGETS /
# SELECTIONS, reverse_bpr.FORGET_LOSSES /
# FORGET_SIDES / RETAIN_LOSSES), repeated so that the parser imports no torch; a test checks
# that they agree.
KINDS = ("users", "items", "interactions")
FORGET_LOSSES = ("reverse_bpr", "ascent")
FORGET_SIDES = ("both", "user", "item")
RETAIN_LOSSES = ("bpr", "native")
METHODS = ("mmrecun", "targeted")
TARGETS = ("estimate", "chance")
SELECTIONS = ("closest", "lowest", "balanced")


def _positive_or_auto(text: str) -> Union[str, float]:
    return text if text == "auto" else values.positive_float(text)


def _target(text: str) -> Union[str, float]:
    return text if text in ("auto",) + TARGETS else values.fraction(text)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "unlearn", help="forget users, items or interactions from a trained "
        "run (MMRecUn reverse BPR)",
        description="Unlearn a forget request from a trained run with "
        "MMRecUn's reverse BPR (forget set) + BPR (retain set), rebuilding "
        "the graphs from the retain set; write the unlearned run and "
        "unlearn.json (forget/test metrics and time of the original, "
        "unlearned and optionally gold and fine-tuned models) into a new "
        "folder --out.")
    p.add_argument("--run", required=True, type=Path, help="a trained run folder")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--forget-users", metavar="FILE",
                   help="user ids, one per line (internal ids as in the prepared "
                   "folder's .inter files; raw ids with --raw-ids)")
    g.add_argument("--forget-items", metavar="FILE",
                   help="item ids, one per line (internal, or raw with --raw-ids)")
    g.add_argument("--forget-interactions", metavar="FILE",
                   help="'user item' training pairs, one per line (internal ids, or "
                   "raw with --raw-ids)")
    g.add_argument("--forget-fraction", metavar="KIND:FRACTION",
                   help="a seeded random request, e.g. users:0.05, items:0.05, "
                   "interactions:0.05")
    p.add_argument("--raw-ids", action="store_true",
                   help="the request file holds the data's raw ids (mapped through the "
                   "dataset's u_id_mapping.csv / i_id_mapping.csv), as 'recommend' "
                   "takes them")
    p.add_argument("--remove-items", action="store_true",
                   help="item requests: take the items out of the catalogue "
                   "(masked from rankings); default: they stay as cold items")
    p.add_argument("--zero-features", action="store_true",
                   help="with --remove-items: zero their feature rows and "
                   "rebuild the kNN graphs")
    p.add_argument("--method", choices=METHODS, default="mmrecun",
                   help="mmrecun (default: reverse BPR on the forget set and BPR on "
                   "the retain set, both sides, one optimiser, objective alpha*L_f + "
                   "(1-alpha)*(L_r + model terms)) or targeted (one-sided forget "
                   "updates with their own 10x learning rate and back-off)")
    p.add_argument("--alpha", type=values.fraction, default=0.5,
                   help="weight of the reverse-BPR term in [0, 1] (default 0.5)")
    p.add_argument("--epochs", type=values.positive_int, default=10,
                   help="max epochs over the forget set (default 10)")
    p.add_argument("--lr", type=values.positive_float,
                   help="Adam learning rate (default: the run's)")
    p.add_argument("--forget-lr", type=_positive_or_auto, default="auto",
                   help="the forget term's own learning rate (default auto: one "
                   "optimiser for mmrecun; for targeted 10x --lr for user and item "
                   "requests, --lr for interactions)")
    p.add_argument("--batch-size", type=values.positive_int, default=128,
                   help="forget pairs per step (default 128)")
    p.add_argument("--retain-batch-size", type=values.positive_int, default=1024,
                   help="retain pairs per step (default 1024)")
    p.add_argument("--min-steps", type=values.positive_int, default=10,
                   help="fewest steps of an epoch over the forget set (default 10)")
    p.add_argument("--patience", type=values.positive_int, default=3,
                   help="stop after this many epochs without a 1%% forget "
                   "improvement (default 3)")
    p.add_argument("--valid-tolerance", type=values.fraction, default=0.05,
                   help="admissible relative drop of the validation metric "
                   "(default 0.05)")
    p.add_argument("--target-forget", type=_target, default="auto",
                   help="the forget score (the run's validation metric, e.g. "
                   "recall@20) to aim at: estimate (what a retrained "
                   "model would score: for users/items the starting model's forget "
                   "recall with their own rows re-initialised, for interactions its "
                   "recall on held-out validation pairs of their users), chance "
                   "(validation recall for interactions, k/items for "
                   "users/items) or a number (default auto: estimate for mmrecun, "
                   "chance for targeted)")
    p.add_argument("--selection", choices=("auto",) + SELECTIONS, default="auto",
                   help="keep the admissible epoch closest to the target, the "
                   "lowest forget score, or (balanced) the closest to the target among "
                   "those whose membership-inference AUC is within 0.05 of 0.5 "
                   "(default auto: closest for mmrecun, lowest for targeted)")
    p.add_argument("--forget-loss", choices=FORGET_LOSSES, default="reverse_bpr",
                   help="reverse_bpr (MMRecUn) or ascent (gradient ascent on BPR, an "
                   "ablation)")
    p.add_argument("--retain-loss", choices=("auto",) + RETAIN_LOSSES, default="auto",
                   help="the retain term: bpr (forward BPR + the model's terms) or native "
                   "(the model's own loss); default auto: the loss the run was trained "
                   "with (native for BM3/CM3 runs on their own loss, else bpr)")
    p.add_argument("--forget-side", choices=("auto",) + FORGET_SIDES, default="auto",
                   help="representations the forget term moves (default auto: both for "
                   "mmrecun; for targeted user for user requests, item for item "
                   "requests, both for interactions)")
    p.add_argument("--reinit-rows", action="store_true",
                   help="user/item requests: first re-initialise the forgotten users' "
                   "(items') own rows, as a retrained model holds them, then run the "
                   "method (an mmgraph addition, not in the paper)")
    p.add_argument("--seed", type=values.non_negative_int, default=0,
                   help="seed of the random request and of the loop")
    p.add_argument("--gold", action="store_true",
                   help="also retrain from scratch on the retain set")
    p.add_argument("--gold-from", type=Path, metavar="GOLD_RUN",
                   help="instead of --gold, measure the gold model an earlier --gold run of "
                   "the same request retrained (its gold/ folder; the requests must match)")
    p.add_argument("--gold-dir", type=Path, metavar="GOLD_DIR",
                   help="instead of --gold, retrain the gold into GOLD_DIR, outside --out, "
                   "before unlearning; an interrupted retraining of the same request there "
                   "is resumed and a finished one measured as is (for golds longer than a "
                   "job)")
    p.add_argument("--finetune", action="store_true",
                   help="also fine-tune on the retain set only (alpha=0, mmrecun's "
                   "stopping and selection whatever --method: one baseline per "
                   "request)")
    p.add_argument("--device", choices=["cpu", "cuda"])
    p.add_argument("--out", required=True, type=Path,
                   help="the new run folder (never the --run folder)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run in a non-empty --out (its files are removed first)")
    p.add_argument("--force", action="store_true",
                   help="unlearn even if the run's data changed since training (warns)")
    p.add_argument("--no-progress", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    from mmgraph.cli.common import check_device
    from mmgraph.config import ConfigError
    from mmgraph.distributed import init_from_env, is_main_process
    from mmgraph.runs import UNLEARN_FILE, RunFolder, check_unlearn_out, unlearn_run
    from mmgraph.unlearn import ForgetRequest
    check_device(args.device)
    fraction = parse_fraction(args.forget_fraction) if args.forget_fraction else None
    if args.zero_features and not args.remove_items:
        raise ConfigError("--zero-features needs --remove-items")
    if args.raw_ids and fraction is not None:
        raise ConfigError("--raw-ids applies to a request file, not to "
                          "--forget-fraction")
    kind = fraction[0] if fraction is not None else \
        next(k for k in KINDS if getattr(args, f"forget_{k}"))
    if args.reinit_rows and kind == "interactions":
        raise ConfigError("--reinit-rows: applies to user and item requests, not "
                          "interactions (their users and items keep their other data)")
    given = [flag for flag, value in (("--gold", args.gold), ("--gold-from", args.gold_from),
                                      ("--gold-dir", args.gold_dir)) if value]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)}: give one (retrain, reuse a retrained "
                          f"gold run, or retrain resumably into a folder)")
    init_from_env(args.device or "cpu")  # torchrun: data-parallel like training
    check_unlearn_out(args.run, args.out)  # before --overwrite can remove anything
    if args.gold_dir is not None:
        gold_dir, out = args.gold_dir.resolve(), args.out.resolve()
        if gold_dir == out or out in gold_dir.parents:
            raise ConfigError(f"--gold-dir {args.gold_dir}: is (inside) --out, which "
                              f"--overwrite clears; choose a folder outside it")
    options: Dict[str, bool] = {}
    if args.remove_items:
        options["remove_items"] = True
    if args.zero_features:
        options["zero_features"] = True

    def request_fn(dataset) -> ForgetRequest:
        if fraction is not None:
            return ForgetRequest.random(fraction[0], fraction[1], dataset, seed=args.seed,
                                        **options)
        for kind in KINDS:
            path = getattr(args, f"forget_{kind}")
            if path:
                return ForgetRequest.from_file(kind, path, dataset,
                                               raw_ids=args.raw_ids, **options)
        raise ConfigError("no forget request given")  # argparse requires one

    with RunFolder(args.out).claim(overwrite=args.overwrite, resume=None):
        summary = unlearn_run(
            args.run, args.out, request_fn, gold=args.gold, finetune=args.finetune,
            gold_from=args.gold_from, gold_dir=args.gold_dir,
            device=args.device, show_progress=not args.no_progress, force=args.force,
            method=args.method, selection=args.selection, alpha=args.alpha,
            epochs=args.epochs, learning_rate=args.lr,
            forget_learning_rate=args.forget_lr, batch_size=args.batch_size,
            retain_batch_size=args.retain_batch_size, patience=args.patience,
            min_steps=args.min_steps, valid_tolerance=args.valid_tolerance,
            target_forget=args.target_forget, forget_loss=args.forget_loss,
            retain_loss=args.retain_loss, forget_side=args.forget_side, seed=args.seed,
            reinit_rows=args.reinit_rows)
    if not is_main_process():
        return 0
    req = summary["request"]
    print(f"\n{summary['model']} on {summary['dataset']}: forget "
          f"{req['kind']} ({req['num_ids']} ids, {req['forget_edges']} of "
          f"{req['forget_edges'] + req['retain_edges']} training "
          f"interactions; {req['source']})")
    print(unlearn_table(summary))
    u = summary["models"]["unlearned"]
    print(f"\nunlearning ({summary.get('method', 'mmrecun')}): {u['epochs']} "
          f"epoch(s) over the forget set, selected epoch {u['selected_epoch']} "
          f"({u['stop_reason']}); target forget "
          f"{summary['settings']['target_forget']:.4f}, over-forgetting "
          f"{u.get('over_forgetting', 0.0):.4f}")
    if "speedup_vs_gold" in summary:
        cpu = summary.get("cpu_speedup_vs_gold")
        print(f"unlearning was {summary['speedup_vs_gold']:.1f}x faster than "
              f"retraining (gold) in wall-clock time"
              + ("" if cpu is None else f", {cpu:.1f}x in CPU time"))
    print(f"\nrun folder: {args.out}  (table: {Path(args.out) / UNLEARN_FILE})")
    return 0


def interrupted(args: argparse.Namespace) -> str:
    return (f"{args.run} is unchanged; {args.out} holds a partial unlearning run: "
            "run the command again with --overwrite")


def parse_fraction(text: str):
    r"""``'users:0.05'`` -> ``('users', 0.05)``."""
    from mmgraph.config import ConfigError
    kind, sep, value = str(text).partition(":")
    if not sep:
        raise ConfigError(f"--forget-fraction {text!r}: expected KIND:FRACTION "
                          f"with KIND one of {', '.join(KINDS)} (e.g. "
                          f"users:0.05)")
    try:
        fraction = float(value)
    except ValueError:
        raise ConfigError(f"--forget-fraction {text!r}: {value!r} is not a "
                          f"number") from None
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"--forget-fraction {text!r}: the fraction must be "
                          f"in (0, 1)")
    if kind not in KINDS:
        raise ConfigError(f"--forget-fraction {text!r}: unknown kind {kind!r}; "
                          f"expected one of {', '.join(KINDS)}")
    return kind, fraction


def unlearn_table(summary: Dict[str, Any], metric: str = "recall@20",
                  second: str = "ndcg@20") -> str:
    r"""One row per model: forget and test metrics, membership-inference
    AUC, wall and CPU seconds, epochs."""
    from mmgraph.report import format_table
    rows = []

    def num(value):
        return float(value) if value is not None else "-"

    for name, r in summary["models"].items():
        rows.append([name, r["forget"].get(metric, float("nan")),
                     r["forget"].get(second, float("nan")),
                     r["test"].get(metric, float("nan")),
                     r["test"].get(second, float("nan")),
                     num(r.get("mia_auc")), num(r.get("seconds")),
                     num(r.get("cpu_seconds")),
                     r.get("epochs") if r.get("epochs") is not None else "-"])
    return format_table(rows, ["model", f"forget {metric}",
                               f"forget {second}", f"test {metric}",
                               f"test {second}", "MIA AUC", "seconds",
                               "CPU s", "epochs"])
