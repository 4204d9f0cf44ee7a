r"""Unlearning a finished run (MMRecUn) and comparing with retraining (gold)
and fine-tuning: the library side of ``mmgraph unlearn`` (whose parser is
:mod:`mmgraph.cli.unlearn`)."""
from __future__ import annotations

import copy
import json
import logging
import time
from pathlib import Path
from typing import Any, Dict, Optional, Union

from mmgraph.config import ConfigError
from mmgraph.train.unlearn import (KINDS, REQUEST_FILE, Unlearner,
                                   _run_requests, save_requests,
                                   unlearning_metrics)
from mmgraph.train.utils import atomic_write_json

__all__ = ["unlearn_run", "unlearn_table",
           "parse_fraction", "UNLEARN_FILE"]

log = logging.getLogger("mmgraph")

#: The comparison written into the output folder.
UNLEARN_FILE = "unlearn.json"


def parse_fraction(text: str):
    r"""``'users:0.05'`` -> ``('users', 0.05)``."""
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
