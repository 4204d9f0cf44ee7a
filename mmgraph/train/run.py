r"""High-level runs: one configuration, or a grid over hyper-parameters and
seeds selected on validation; and reloading a finished run."""
from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from mmgraph.config import TrainConfig, expand_grid, resolve_config
from mmgraph.report import fmt_mean_std, format_table, mean_std
from mmgraph.train.trainer import CHECKPOINT, RESULTS, Trainer
from mmgraph.train.utils import atomic_write_json, seed_everything

__all__ = ["train_model", "train_config", "load_run", "run_dir_of_best"]

log = logging.getLogger("mmgraph")
GRID_FILE = "grid.json"


def _load(data, dataset_kwargs: Optional[Dict[str, Any]] = None):
    from mmgraph.data import load_dataset
    if isinstance(data, (str, Path)):
        return load_dataset(str(data), **(dataset_kwargs or {}))
    return data


def _data_spec(data) -> str:
    if isinstance(data, (str, Path)):
        return str(Path(data).resolve()) if str(data) != "synthetic" \
            else "synthetic"
    root = getattr(data, "root", None)
    return str(root) if root is not None else str(data.name)


def train_config(model_name: str, dataset, config: Dict[str, Dict[str, Any]],
                 out_dir: Union[str, Path, None] = None, resume: bool = False,
                 data_spec: Optional[str] = None,
                 show_progress: bool = True) -> Tuple[Dict[str, Any], Any]:
    r"""Trains one fully resolved configuration (no list values).

    Returns ``(results, model)``."""
    from mmgraph.models import create_model
    tc = TrainConfig(**config["train"])
    seed_everything(tc.seed)
    model = create_model(model_name, dataset, **config["model"])
    trainer = Trainer(model, dataset, tc, objective=tc.objective,
                      objective_params=config["objective"], out_dir=out_dir,
                      extra_results={"config": config,
                                     "data": data_spec or _data_spec(dataset)},
                      show_progress=show_progress)
    results = trainer.fit(resume=resume)
    return results, model


def train_model(model: str, data: Any = "synthetic",
          config_file: Optional[str] = None,
          overrides: Optional[Dict[str, Any]] = None,
          out_dir: Union[str, Path, None] = None, resume: bool = False,
          use_grid: bool = False, seeds: Optional[Sequence[int]] = None,
          show_progress: bool = True) -> Dict[str, Any]:
    r"""Trains ``model`` on ``data`` (a prepared folder, ``'synthetic'`` or a
    :class:`~mmgraph.data.RecDataset`).

    With list values in the configuration (a grid) or several ``seeds``,
    every combination is trained with every seed into
    ``out_dir/runs/<i>-seed<s>``; the combination with the best **mean
    validation** ``valid_metric`` is selected, and its test metrics are
    reported as mean ± std over the seeds (``out_dir/grid.json``). The test
    split never influences the selection.

    Returns the results dict of the single run, or the grid summary.
    """
    config = resolve_config(model, config_file, overrides, use_grid=use_grid)
    dataset = _load(data)
    spec = _data_spec(data)
    points = list(expand_grid(config, model))
    seeds = list(seeds) if seeds else [config["train"]["seed"]]
    if len(points) == 1 and len(seeds) == 1:
        cfg = points[0][1]
        cfg["train"]["seed"] = seeds[0]
        results, _ = train_config(model, dataset, cfg, out_dir, resume, spec,
                                  show_progress)
        return results
    return _grid(model, dataset, points, seeds, out_dir, resume, spec,
                 show_progress)


def _grid(model: str, dataset, points, seeds: List[int], out_dir, resume: bool,
          spec: str, show_progress: bool) -> Dict[str, Any]:
    out = Path(out_dir) if out_dir is not None else None
    metric = points[0][1]["train"]["valid_metric"]
    summary: List[Dict[str, Any]] = []
    for i, (point, cfg) in enumerate(points):
        runs = []
        for seed in seeds:
            c = copy.deepcopy(cfg)
            c["train"]["seed"] = seed
            run_dir = out / "runs" / f"{i}-seed{seed}" if out else None
            done = run_dir is not None and (run_dir / RESULTS).exists() and \
                json.loads((run_dir / RESULTS).read_text()).get("finished")
            if done and resume:
                res = json.loads((run_dir / RESULTS).read_text())
            else:
                log.info("grid point %d/%d %s seed %d", i + 1, len(points),
                         point, seed)
                res, _ = train_config(model, dataset, c, run_dir, resume, spec,
                                      show_progress)
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
        atomic_write_json(out / GRID_FILE, result)
    log.info("\n%s", grid_table(result))
    return result


def grid_table(result: Dict[str, Any]) -> str:
    r"""One row per grid point: the point, then valid and test mean ± std."""
    metric = result["valid_metric"]
    rows = []
    for e in result["points"]:
        mark = " *" if e is result["best"] or \
            e["index"] == result["best"]["index"] else ""
        rows.append([", ".join(f"{k}={val}" for k, val in e["point"].items())
                     or "(defaults)",
                     fmt_mean_std([r["valid"][metric] for r in e["runs"]]),
                     fmt_mean_std([r["test"][metric] for r in e["runs"]])
                     + mark])
    return format_table(rows, ["point", f"valid {metric}", f"test {metric}"])


def run_dir_of_best(run_dir: Union[str, Path]) -> Path:
    r"""The run folder that holds the checkpoint: ``run_dir`` itself, or the
    selected run of a grid folder."""
    run_dir = Path(run_dir)
    if (run_dir / CHECKPOINT).exists():
        return run_dir
    grid = run_dir / GRID_FILE
    if grid.exists():
        return Path(json.loads(grid.read_text())["best_run"])
    raise FileNotFoundError(f"{run_dir}: no {CHECKPOINT} or {GRID_FILE} "
                            f"(is this a run folder of 'mmgraph train'?)")


def load_run(run_dir: Union[str, Path], dataset=None,
             device: Optional[str] = None):
    r"""Rebuilds the dataset and the selected model of a finished run.

    Returns ``(model, dataset, results)``; the model is in eval mode with the
    best checkpoint loaded (``weights_only=True``)."""
    from mmgraph.models import create_model
    run = run_dir_of_best(run_dir)
    path = run / RESULTS
    try:
        results = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read the run's results ({e})") \
            from None
    if dataset is None:
        dataset = _load(results["data"])
        if results.get("unlearn_request"):
            # An unlearned run propagates over its retain graph only.
            from mmgraph.train.unlearn import apply_saved_request
            dataset = apply_saved_request(dataset, run)
    config = results["config"]
    model = create_model(results["model"], dataset, **config["model"])
    dev = torch.device(device or config["train"].get("device", "cpu"))
    state = torch.load(run / CHECKPOINT, map_location=dev, weights_only=True)
    model.load_state_dict(state["model"])
    model.to(dev).eval()
    return model, dataset, results
