r"""Training a configuration into a run folder and reloading a finished
run (its selected model and data)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import (Any, Dict, Optional, Sequence,
                    Tuple)

import torch

from mmgraph.config import TrainConfig
from mmgraph.errors import RunFolderError
from mmgraph.train.callbacks import Callback
from mmgraph.train.trainer import Trainer
from torch_geometric import seed_everything

from mmgraph.runs.folder import (CHECKPOINT, GRID_FILE, IDENTITY_FILE, RESULTS,
                                  SEARCH_FILE, PathLike, RunFolder, locked)

__all__ = ["dataset_spec", "train_run", "run_dir_of_best", "selected_run_note",
           "check_data", "load_run"]

log = logging.getLogger("mmgraph")


def dataset_spec(data) -> str:
    r"""How a run records its data: the resolved folder path, ``'synthetic'``
    or the dataset's root/name; the ``NAME.inter`` file in a folder of
    several, so that reloading the run finds the same one."""
    if isinstance(data, (str, Path)):
        return str(Path(data).resolve()) if str(data) != "synthetic" \
            else "synthetic"
    root = getattr(data, "root", None)
    if root is None:
        return str(data.name)
    inter = Path(root) / f"{data.name}.inter"
    if inter.is_file() and len(list(Path(root).glob("*.inter"))) > 1:
        return str(inter)
    return str(root)


def train_run(model_name: str, dataset, config: Dict[str, Dict[str, Any]],
              out_dir: Optional[PathLike] = None, resume: bool = False,
              data_spec: Optional[str] = None, show_progress: bool = True,
              extra_results: Optional[Dict[str, Any]] = None,
              extra_callbacks: Sequence[Callback] = ()
              ) -> Tuple[Dict[str, Any], Any]:
    r"""Trains one fully resolved configuration (``model`` / ``train`` /
    ``objective`` sections, no list values) of ``model_name`` on
    ``dataset``, into the run folder ``out_dir`` if given (locked while
    training; ``resume`` continues its checkpoint). ``extra_callbacks``
    (e.g. the loggers of :func:`mmgraph.train.make_loggers`) run after the
    run folder's own.

    Returns ``(results, model)``."""
    from mmgraph.models import create_model
    tc = TrainConfig(**config["train"])
    seed_everything(tc.seed)
    model = create_model(model_name, dataset, **config["model"])
    folder = RunFolder(out_dir) if out_dir is not None else None
    extra = {"config": config, "data": data_spec or dataset_spec(dataset),
             **(extra_results or {})}
    trainer = Trainer(model, dataset, tc, objective=tc.objective,
                      objective_params=config["objective"],
                      callbacks=[*(folder.callbacks() if folder else ()),
                                 *extra_callbacks],
                      extra_results=extra, show_progress=show_progress)
    with locked(folder):
        results = trainer.fit(resume=resume)
    return results, model


def run_dir_of_best(run_dir: PathLike) -> Path:
    r"""The run folder that holds the checkpoint: ``run_dir`` itself, or the
    selected run of a grid folder (``grid.json``) or of a search folder
    (``search.json``): stored relative to that folder, so a moved folder
    still finds it; never relative to the working directory)."""
    folder = RunFolder(run_dir)
    if not folder.path.is_dir():
        raise RunFolderError("run folder not found" if not folder.path.exists()
                             else "is not a folder; expected a run folder",
                             folder.path)
    if folder.has_checkpoint() or folder.has_results():
        return folder.path
    for name, what in ((GRID_FILE, "the grid summary"),
                       (SEARCH_FILE, "the search summary")):
        if not folder.file(name).is_file():
            continue
        summary = folder.file(name)
        best = folder._read_json(name, what).get("best_run")
        if not isinstance(best, str) or not best:
            raise RunFolderError(f"{name} names no best run (unfinished?)", folder.path)
        path = Path(best)
        path = path if path.is_absolute() else folder.path / path
        if not (path / CHECKPOINT).is_file():
            raise RunFolderError(f"its best run {best!r} has no {CHECKPOINT}",
                                 summary)
        return path
    raise RunFolderError(f"no {CHECKPOINT}, {RESULTS}, {GRID_FILE} or {SEARCH_FILE} (is "
                         f"this a run folder of 'mmgraph train'?)", folder.path)


def selected_run_note(run_dir: PathLike) -> Optional[str]:
    r"""One line naming the run that :func:`run_dir_of_best` picks in a grid
    or search folder, and what it stands for (one seed of the selected
    grid point, which training reported as a mean over its seeds); ``None``
    for a plain run folder, which is used as it is."""
    path = run_dir_of_best(run_dir)
    folder = RunFolder(run_dir)
    if path == folder.path:
        return None
    if folder.file(GRID_FILE).is_file():
        grid = folder._read_json(GRID_FILE, "the grid summary")
        seeds = grid.get("seeds") if isinstance(grid.get("seeds"), list) else []
        runs = (grid.get("best") or {}).get("runs") or [{}]
        seed = runs[0].get("seed") if isinstance(runs[0], dict) else None
        if len(seeds) > 1:
            return (f"using run {path}: seed {seed}, one of the {len(seeds)} seeds of "
                    f"the point {GRID_FILE} selected (training reported that point as "
                    f"the mean over its seeds)")
        return f"using run {path}: the point {GRID_FILE} selected"
    return f"using run {path}: the trial {SEARCH_FILE} selected"


def check_data(folder: RunFolder, dataset, force: bool = False) -> None:
    r"""Refuses (one line) a ``dataset`` whose content fingerprint differs
    from the one the run in ``folder`` recorded in ``run.json`` (the data
    were re-prepared, re-split or edited since); with ``force`` only warns.
    A folder without a recorded fingerprint passes."""
    want = (folder.read_identity() or {}).get("dataset_fingerprint")
    if not want or dataset.fingerprint() == want:
        return
    where = dataset.root if getattr(dataset, "root", None) is not None \
        else dataset.name
    message = (f"the data at {where} changed since the run was trained "
               f"(their content fingerprint differs from {IDENTITY_FILE})")
    if force:
        log.warning("%s: %s; --force: using them anyway, the metrics are not "
                    "those of the recorded run", folder.path, message)
        return
    raise RunFolderError(f"{message}; re-prepare them as they were, or pass "
                         f"--force to use them anyway", folder.path)


def load_run(run_dir: PathLike, dataset=None, device: Optional[str] = None,
             force: bool = False):
    r"""Rebuilds the dataset and the selected model of a finished run (or
    of a grid folder's selected run).

    Returns ``(model, dataset, results)``; the model is in eval mode with the
    best checkpoint loaded (``weights_only=True``). Without ``dataset`` the
    run's data are loaded (with its recorded forget requests applied) and
    checked against the dataset fingerprint of ``run.json``
    (:func:`check_data`; ``force`` only warns). A missing, corrupt or
    mismatched file is a :class:`~mmgraph.errors.RunFolderError` naming
    it."""
    from mmgraph.data import load_dataset
    from mmgraph.models import create_model
    folder = RunFolder(run_dir_of_best(run_dir))
    results = folder.read_results(loadable=True)
    checkpoint = folder.file(CHECKPOINT)
    if not checkpoint.is_file():
        raise RunFolderError(f"no {CHECKPOINT}", folder.path)
    if dataset is None:
        dataset = folder.apply_requests(load_dataset(results["data"]))
        check_data(folder, dataset, force)
    config = results["config"]
    dev = torch.device(device or config["train"].get("device", "cpu"))
    state = folder.load_checkpoint(map_location=dev)
    try:
        model = create_model(results["model"], dataset, **config["model"])
        model.load_state_dict(state["model"])
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        if isinstance(e, RunFolderError):
            raise
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise RunFolderError(f"cannot be loaded as the checkpoint of this "
                             f"{results['model']!r} run ({type(e).__name__}: "
                             f"{first[:200]})", checkpoint) from None
    model.to(dev).eval()
    return model, dataset, results
