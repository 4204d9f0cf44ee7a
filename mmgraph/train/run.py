r"""One run of a fully resolved configuration (:func:`train_config`), and
reloading a finished run. Grids, seeds and suites of runs are
:mod:`mmgraph.experiment`'s."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch

from mmgraph.config import TrainConfig
from mmgraph.train.trainer import CHECKPOINT, RESULTS, Trainer
from mmgraph.train.utils import seed_everything

__all__ = ["train_config", "load_run", "run_dir_of_best"]

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
