r"""Random and Bayesian (TPE) hyper-parameter search over a model's published
grid, with Optuna (``pip install 'mmgraph[search]'``).

``mmgraph train --model M --search random|tpe --trials N --out DIR`` draws
``N`` configurations from the **ranges** of the grid that ``--grid`` would
enumerate (the model's ``grid:`` section in ``mmgraph/configs/<model>.yaml``,
a user file's ``grid:`` and list values given with ``--set``), trains each
one with early stopping on validation, and selects the trial with the best
validation ``valid_metric``. The search space of each grid axis follows one
rule:

* **log-uniform** over :math:`[\min, \max]` when every value is a positive
  number, at least one is a float, and :math:`\max / \min \ge 100` (the
  values span two decades or more, as regularisation weights do:
  LightGCN's ``reg_weight`` ``[1e-2 .. 1e-6]`` becomes
  :math:`\log \lambda \sim \mathcal{U}(\log 10^{-6}, \log 10^{-2})`);
* **categorical** over the listed values otherwise (integers such as
  ``n_layers``, short lists such as ``dropout: [0.3, 0.5]``, and lists that
  contain 0 such as FREEDOM's ``reg_weight``).

Model selection never sees the test split: trials are compared on
validation only, the study records validation scores only, and the test
metrics of the **chosen** trial are read once, after the study, from its run
folder. (Each trial's Trainer still evaluates its own test split when it
finishes, as every mmgraph run does; the search ignores it.)

Resumable: with ``out_dir`` the study lives in ``out_dir/study.journal``
(Optuna's journal storage, an append-only file), each trial trains into
``out_dir/trials/<key>`` where ``<key>`` is a digest of the trial's
configuration, and ``out_dir/search.json`` is rewritten after every trial.
Rerunning the same command continues: finished trials count towards
``N``, a trial interrupted mid-training is proposed again and resumes from
its checkpoint, and a configuration sampled twice is trained once. The
sampler is reseeded with ``seed + number of trials so far`` so a resumed
random search does not replay its first draws.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from mmgraph import runs
from mmgraph.config import ConfigError
from mmgraph.data import load_dataset
from mmgraph.distributed import broadcast_object, is_main_process
from mmgraph.experiment import grid_axes, resolve_config
from mmgraph.errors import MissingExtraError, RunFolderError, did_you_mean
from mmgraph.io import atomic_write_json
from mmgraph.train.logging_callbacks import make_loggers

__all__ = ["Axis", "search_space", "run_study", "search", "SAMPLERS",
           "STUDY_FILE", "SEARCH_FILE", "best_run_dir", "search_table"]

log = logging.getLogger("mmgraph")

#: Sampler names of ``--search``.
SAMPLERS = ("random", "tpe")
SEARCH_FILE, STUDY_FILE, TRIALS_DIR = \
    runs.SEARCH_FILE, runs.STUDY_FILE, runs.TRIALS_DIR
#: Ratio max/min from which a positive float axis is searched log-uniformly.
LOG_RATIO = 100.0


class Axis:
    r"""One search dimension: ``kind`` is ``'categorical'`` (``choices``)
    or ``'log'`` (``low``, ``high``), decided by :meth:`from_values`."""

    def __init__(self, name: str, kind: str,
                 choices: Optional[Sequence[Any]] = None,
                 low: Optional[float] = None,
                 high: Optional[float] = None) -> None:
        self.name, self.kind = name, kind
        self.choices = list(choices) if choices is not None else None
        self.low, self.high = low, high

    @classmethod
    def from_values(cls, name: str, values: Sequence[Any]) -> "Axis":
        r"""The rule of the module docstring."""
        values = list(values)
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                      for v in values)
        if numeric and values and all(v > 0 for v in values) and \
                any(isinstance(v, float) for v in values) and \
                max(values) / min(values) >= LOG_RATIO:
            return cls(name, "log", low=float(min(values)),
                       high=float(max(values)))
        return cls(name, "categorical", choices=values)

    def suggest(self, trial) -> Any:
        if self.kind == "log":
            return trial.suggest_float(self.name, self.low, self.high,
                                       log=True)
        return trial.suggest_categorical(self.name, self.choices)

    def describe(self) -> Dict[str, Any]:
        if self.kind == "log":
            return {"kind": "log-uniform", "low": self.low, "high": self.high}
        return {"kind": "categorical", "choices": self.choices}

    def __repr__(self) -> str:
        if self.kind == "log":
            return f"Axis({self.name!r}, log-uniform [{self.low}, {self.high}])"
        return f"Axis({self.name!r}, categorical {self.choices})"


def search_space(config: Dict[str, Dict[str, Any]], model: str
                 ) -> List[Axis]:
    r"""The axes of a configuration resolved with ``use_grid=True``: one
    :class:`Axis` per grid axis (``"section.key"``)."""
    axes = []
    for name in grid_axes(config, model):
        section, key = name.split(".", 1)
        axes.append(Axis.from_values(name, config[section][key]))
    return axes


def _optuna():
    try:
        import optuna
    except ImportError:
        raise MissingExtraError("optuna", "search", "--search") from None
    return optuna


def _sampler(name: str, seed: int):
    optuna = _optuna()
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    raise ConfigError(f"--search {name!r}: expected one of "
                      f"{', '.join(SAMPLERS)}.{did_you_mean(name, SAMPLERS)}")


def run_study(axes: Sequence[Axis],
              train_fn: Callable[[Dict[str, Any]], float], trials: int,
              sampler: str = "tpe", storage: Union[str, Path, None] = None,
              seed: int = 0, study_name: str = "mmgraph",
              callbacks: Sequence[Callable] = ()):
    r"""Runs (or continues) an Optuna study until it holds ``trials``
    completed trials.

    Args:
        axes (Sequence[Axis]): the search space.
        train_fn (callable): ``point -> validation score`` where ``point``
            maps every axis name to a value; higher is better. An exception
            fails the trial (recorded as failed) and propagates.
        trials (int): the number of completed trials to reach.
        sampler (str): ``'random'`` or ``'tpe'``.
        storage (str or Path, optional): a journal file; the study is
            loaded from it if it exists (resume), else created there.
        seed (int): base seed of the sampler (reseeded with ``seed +`` the
            number of trials already in the study).
        callbacks (Sequence[callable]): Optuna's ``(study, trial)``
            callbacks, called after each trial.

    Returns:
        the :class:`optuna.Study`.
    """
    optuna = _optuna()
    from optuna.trial import TrialState
    store = None
    if storage is not None:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend
        Path(storage).parent.mkdir(parents=True, exist_ok=True)
        store = JournalStorage(JournalFileBackend(str(storage)))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=study_name, storage=store,
                                direction="maximize", load_if_exists=True)
    previous = study.get_trials(deepcopy=False)
    study.sampler = _sampler(sampler, seed + len(previous))
    # A trial left RUNNING by an interrupted process: fail it and propose
    # its point again (its run folder resumes from the checkpoint).
    for t in previous:
        if t.state == TrialState.RUNNING:
            study.tell(t.number, state=TrialState.FAIL)
            if t.params:
                study.enqueue_trial(t.params)

    def objective(trial) -> float:
        return float(train_fn({a.name: a.suggest(trial) for a in axes}))

    complete = sum(t.state == TrialState.COMPLETE for t in previous)
    if complete < trials:
        study.optimize(objective, n_trials=trials - complete, catch=(),
                       callbacks=list(callbacks), gc_after_trial=False)
    return study


def _point_key(point: Dict[str, Any]) -> str:
    text = json.dumps(point, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _read_json(path: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def search(model: str, data: Any = "synthetic",
           config_file: Optional[str] = None,
           overrides: Optional[Dict[str, Any]] = None,
           out_dir: Union[str, Path, None] = None, sampler: str = "tpe",
           trials: int = 20, seed: int = 0,
           show_progress: bool = False, loggers: Optional[str] = None
           ) -> Dict[str, Any]:
    r"""Random or TPE search over ``model``'s grid ranges (see the module
    docstring), selected on validation.

    Args:
        model (str): registered model name.
        data: a prepared folder, ``'synthetic'`` or a
            :class:`~mmgraph.data.RecDataset`.
        config_file (str, optional): user YAML (its ``grid:`` adds axes).
        overrides (dict, optional): ``--set`` values (a list is an axis).
        out_dir (str or Path, optional): the search folder (resumable).
        sampler (str): ``'random'`` or ``'tpe'``.
        trials (int): completed trials to reach.
        seed (int): the sampler's seed.
        show_progress (bool): a progress bar per trial.
        loggers (str, optional): the ``--log`` loggers for every trial's folder
            (:func:`~mmgraph.train.logging_callbacks.make_loggers`).

    Returns:
        the summary also written to ``out_dir/search.json``: ``trials``
        (number, point, validation metrics, run folder), ``best`` (the
        chosen trial, with its ``test`` metrics) and ``space``.
    """
    if int(trials) < 1:
        raise ConfigError(f"--trials {trials}: expected a positive integer")
    _sampler(sampler, seed)                       # validates the name early
    config = resolve_config(model, config_file, overrides, use_grid=True)
    axes = search_space(config, model)
    if not axes:
        raise ConfigError(f"model {model!r}: no grid axes to search (its "
                          f"configs/{model}.yaml has no 'grid:' and no list "
                          f"value was given)")
    metric = config["train"]["valid_metric"]
    dataset = load_dataset(str(data)) if isinstance(data, (str, Path)) \
        else data
    spec = runs.dataset_spec(data)
    out = Path(out_dir) if out_dir is not None else None
    identity = {"model": model, "data": spec, "sampler": sampler,
                "valid_metric": metric,
                "space": {a.name: a.describe() for a in axes}}
    if out is not None:
        old = _read_json(out / SEARCH_FILE)
        if old is not None:
            mismatch = [k for k in identity if old.get(k) != identity[k]]
            if mismatch:
                raise RunFolderError(
                    f"holds a search with another {', '.join(mismatch)}; "
                    f"use a new --out folder", out)
    records: Dict[str, Dict[str, Any]] = {}
    t_start = time.perf_counter()

    def results_of(point: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        key = _point_key(point)
        if key in records:
            return records[key]
        if out is not None:
            res = _read_json(out / TRIALS_DIR / key / "results.json")
            if res and res.get("finished"):
                records[key] = res
                return res
        return None

    def train_fn(point: Dict[str, Any]) -> float:
        res = results_of(point)          # a point sampled again: no retrain
        if res is None:
            cfg = copy.deepcopy(config)
            for name, value in point.items():
                section, k = name.split(".", 1)
                cfg[section][k] = value
            run_dir = out / TRIALS_DIR / _point_key(point) if out else None
            log.info("search trial %s", point)
            extra = make_loggers(loggers, run_dir) if run_dir else []
            res, _ = runs.train_run(model, dataset, cfg, run_dir,
                                    resume=run_dir is not None, data_spec=spec,
                                    show_progress=show_progress,
                                    extra_callbacks=extra)
            records[_point_key(point)] = res
        return float(res["valid"][metric])

    def rows(study) -> List[Dict[str, Any]]:
        out_rows = []
        for t in study.get_trials(deepcopy=False):
            if t.value is None:
                continue
            point = _point_of(t, axes)
            res = results_of(point) or {}
            out_rows.append({"number": t.number, "point": point,
                             "valid": res.get("valid", {metric: t.value}),
                             "run_dir": f"{TRIALS_DIR}/{_point_key(point)}"
                             if out else None})
        return out_rows

    def write_progress(study, trial) -> None:
        if out is not None:
            atomic_write_json(out / SEARCH_FILE,
                              _summary(identity, trials, rows(study), None))

    if not is_main_process():
        # Under torchrun the study (its sampler and journal) lives on rank
        # 0; the other ranks train each point it draws beside it, until it
        # sends None, and then return its summary.
        while (point := broadcast_object(None)) is not None:
            train_fn(point)
        return broadcast_object(None)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    study = run_study(axes, lambda point: train_fn(broadcast_object(point)),
                      trials, sampler,
                      out / STUDY_FILE if out is not None else None, seed,
                      callbacks=[write_progress])
    broadcast_object(None)  # the study is done
    point = _point_of(study.best_trial, axes)
    best_res = results_of(point)
    if best_res is None:
        raise RunFolderError(f"the chosen trial's results are missing "
                             f"({TRIALS_DIR}/{_point_key(point)}/results.json)",
                             out)
    # The only place the search reads a test split: the chosen trial's.
    best = {"number": study.best_trial.number, "point": point,
            "valid": dict(best_res["valid"]), "test": dict(best_res["test"]),
            "best_epoch": best_res.get("best_epoch"),
            "run_dir": f"{TRIALS_DIR}/{_point_key(point)}" if out else None}
    summary = _summary(identity, trials, rows(study), best)
    summary["seconds"] = time.perf_counter() - t_start
    summary["dataset"] = dataset.name
    if out is not None:
        atomic_write_json(out / SEARCH_FILE, summary)
    log.debug("\n%s", search_table(summary))  # the CLI prints it
    return broadcast_object(summary)


def _point_of(trial, axes: Sequence[Axis]) -> Dict[str, Any]:
    return {a.name: trial.params[a.name] for a in axes
            if a.name in trial.params}


def _summary(identity, trials, rows, best) -> Dict[str, Any]:
    return {**identity, "selected_on": "valid", "trials_requested": int(trials),
            "trials": rows, "best": best,
            "best_run": best["run_dir"] if best else None}


def best_run_dir(search_dir: Union[str, Path]) -> Path:
    r"""The run folder of the chosen trial of a finished search folder."""
    search_dir = Path(search_dir)
    summary = _read_json(search_dir / SEARCH_FILE)
    if not summary or not summary.get("best_run"):
        raise RunFolderError(f"no finished search ({SEARCH_FILE} without a "
                             f"chosen trial)", search_dir)
    return search_dir / summary["best_run"]


def search_table(summary: Dict[str, Any]) -> str:
    r"""One row per trial: number, point, validation score (chosen: ``*``)."""
    from mmgraph.report import format_table
    metric = summary["valid_metric"]
    best = (summary.get("best") or {}).get("number")
    rows = []
    for t in sorted(summary["trials"], key=lambda t: t["number"]):
        point = ", ".join(f"{k.split('.', 1)[1]}={_fmt(v)}"
                          for k, v in t["point"].items())
        rows.append([t["number"], point, f"{t['valid'][metric]:.4f}"
                     + (" *" if t["number"] == best else "")])
    return format_table(rows, ["trial", "point", f"valid {metric}"])


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)
