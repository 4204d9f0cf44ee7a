r"""One model: :func:`train_model` trains one configuration, or every point
of a grid with every seed, and selects the point on mean validation."""
from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from mmgraph.data import load_dataset
from mmgraph.experiment.resolve import expand_grid, resolve_config
from mmgraph.report import fmt_mean_std, format_table, mean_std
from mmgraph.runs import RunFolder, dataset_spec, train_run
from mmgraph.train.logging_callbacks import make_loggers

__all__ = ["train_model", "grid_table", "grid_points"]

log = logging.getLogger("mmgraph")


def train_model(model: str, data: Any = "synthetic",
                config_file: Optional[str] = None,
                overrides: Optional[Dict[str, Any]] = None,
                out_dir: Union[str, Path, None] = None, resume: bool = False,
                use_grid: bool = False, seeds: Optional[Sequence[int]] = None,
                show_progress: bool = True, loggers: Optional[str] = None
                ) -> Dict[str, Any]:
    r"""Trains ``model`` on ``data`` (a prepared folder, ``'synthetic'`` or a
    :class:`~mmgraph.data.RecDataset`).

    With list values in the configuration (a grid) or several ``seeds``,
    every combination is trained with every seed into
    ``out_dir/runs/<i>-seed<s>``; the combination with the best **mean
    validation** ``valid_metric`` is selected, and its test metrics are
    reported as mean ± std over the seeds (``out_dir/grid.json``). The test
    split never influences the selection.

    ``loggers`` (``'csv'``, ``'tensorboard'`` or both, comma-separated) adds
    the loggers of :func:`~mmgraph.train.logging_callbacks.make_loggers` to
    every run that has a folder.

    Returns the results dict of the single run, or the grid summary.
    """
    config = resolve_config(model, config_file, overrides, use_grid=use_grid)
    points = grid_points(config, model)
    dataset = load_dataset(str(data)) if isinstance(data, (str, Path)) \
        else data
    spec = dataset_spec(data)
    seeds = list(seeds) if seeds else [config["train"]["seed"]]
    if len(points) == 1 and len(seeds) == 1:
        cfg = points[0][1]
        cfg["train"]["seed"] = seeds[0]
        results, _ = train_run(model, dataset, cfg, out_dir, resume, spec,
                               show_progress, extra_callbacks=_loggers(loggers, out_dir))
        return results
    return _grid(model, dataset, points, seeds, out_dir, resume, spec,
                 show_progress, loggers)


def grid_points(config: Dict[str, Dict[str, Any]], model: str
                ) -> List[Any]:
    r"""The ``(point, config)`` pairs of
    :func:`~mmgraph.experiment.resolve.expand_grid` (which refuses an axis
    given no values, ``--set 'n_layers=[]'``)."""
    return list(expand_grid(config, model))


def _loggers(names: Optional[str], run_dir) -> list:
    return make_loggers(names, run_dir) if run_dir is not None else []


def _grid(model: str, dataset, points, seeds: List[int], out_dir, resume: bool,
          spec: str, show_progress: bool, loggers: Optional[str] = None
          ) -> Dict[str, Any]:
    out = Path(out_dir) if out_dir is not None else None
    metric = points[0][1]["train"]["valid_metric"]
    summary: List[Dict[str, Any]] = []
    for i, (point, cfg) in enumerate(points):
        runs = []
        for seed in seeds:
            c = copy.deepcopy(cfg)
            c["train"]["seed"] = seed
            run_dir = out / "runs" / f"{i}-seed{seed}" if out else None
            folder = RunFolder(run_dir) if run_dir is not None else None
            if folder is not None and resume and folder.is_finished():
                res = folder.read_results()
            else:
                log.info("grid point %d/%d %s seed %d", i + 1, len(points),
                         point, seed)
                res, _ = train_run(model, dataset, c, run_dir, resume, spec,
                                   show_progress,
                                   extra_callbacks=_loggers(loggers, run_dir))
            runs.append({"seed": seed, "run_dir": str(run_dir) if run_dir
                         else None, "valid": res["valid"], "test": res["test"],
                         "best_epoch": res["best_epoch"]})
        keys = [k for k in runs[0]["valid"] if "@" in k]
        entry = {"index": i, "point": point, "runs": runs}
        for split in ("valid", "test"):
            entry[split] = {k: mean_std([r[split][k] for r in runs])
                            for k in keys}
        summary.append(entry)
    best = max(summary, key=lambda e: e["valid"][metric][0])
    result = {"model": model, "dataset": dataset.name, "data": spec,
              "valid_metric": metric, "seeds": seeds, "selected_on": "valid",
              "best": best, "points": summary, "config": points[0][1]}
    # The best point's first run is what evaluate/recommend load.
    result["best_run"] = best["runs"][0]["run_dir"]
    if out is not None:
        RunFolder(out).write_grid(result)
    # DEBUG: the command line prints the table itself (as --search's).
    log.debug("\n%s", grid_table(result))
    return result


def grid_table(result: Dict[str, Any]) -> str:
    r"""One row per grid point: the point, then valid and test mean ± std."""
    metric = result["valid_metric"]
    rows = []
    for e in result["points"]:
        mark = " *" if e["index"] == result["best"]["index"] else ""
        rows.append([", ".join(f"{k}={val}" for k, val in e["point"].items())
                     or "(defaults)",
                     fmt_mean_std([r["valid"][metric] for r in e["runs"]]),
                     fmt_mean_std([r["test"][metric] for r in e["runs"]])
                     + mark])
    return format_table(rows, ["point", f"valid {metric}", f"test {metric}"])
