r"""Experiments: configuration resolution, grids × seeds, and suites of runs.

**Configuration.** A resolved configuration has three sections::

    model:      the model's constructor keywords (typed by its signature)
    train:      :class:`~mmgraph.config.TrainConfig` fields
    objective:  the objective's keywords (e.g. NBPO's flip-model size)

Defaults come from the code only: the model constructor's keyword defaults,
:class:`~mmgraph.config.TrainConfig` updated by the model class's
``train_defaults`` (e.g. LIRDRec's learning rate), and the objective
constructor. The packaged ``mmgraph/configs/<model>.yaml`` holds the papers'
published ``grid`` (used with ``use_grid=True``) and notes. Then a user file,
then ``--set`` overrides. A value may be a list, which makes it a grid axis.
An unknown key is a :class:`~mmgraph.config.ConfigError` that suggests the
nearest valid one.

**Runs.** :func:`train_model` trains one configuration, or every point of a
grid with every seed, selecting the point on mean validation.
:class:`Experiment` (in the style of cornac's) crosses models × datasets ×
objectives × seeds, trains what is not finished (resumable: a finished run
with the same resolved configuration is skipped, an interrupted one resumes
from its checkpoint) and reports mean ± std over seeds.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import logging
import multiprocessing as mp
import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import yaml

from mmgraph.config import ConfigError, TrainConfig
from mmgraph.errors import MMGraphError, did_you_mean
from mmgraph.models.registry import MODELS
from mmgraph.report import (TABLE_METRICS, fmt_mean_std, format_table,
                            mean_std, summarise, summary_csv,
                            summary_figures, summary_markdown)
from mmgraph.train.objectives.base import (OBJECTIVES,
                                           resolve_objective_name)
from mmgraph.train.run import GRID_FILE, _data_spec, _load, train_config
from mmgraph.train.trainer import CHECKPOINT, RESULTS
from mmgraph.train.utils import (atomic_write_bytes, atomic_write_json,
                                 atomic_write_text, package_versions)

__all__ = ["resolve_config", "parse_override", "apply_overrides",
           "expand_grid", "grid_axes", "model_config_path", "load_model_yaml",
           "train_defaults", "train_model", "grid_table", "Experiment",
           "RunSpec", "ExperimentError", "CONFIG_DIR", "SECTIONS"]

log = logging.getLogger("mmgraph")

#: Where the packaged per-model YAML files (published grids) live.
CONFIG_DIR = Path(__file__).resolve().parent / "configs"
SECTIONS = ("model", "train", "objective")


# ------------------------------------------------------------ configuration
def model_config_path(model: str) -> Path:
    r"""The packaged YAML file of ``model``."""
    return CONFIG_DIR / f"{model}.yaml"


def _read_yaml(path: Path) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"{path}: not valid YAML: {first}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got "
                          f"{type(data).__name__}")
    return data


def load_model_yaml(model: str) -> Dict[str, Any]:
    r"""The packaged YAML of ``model`` (``{}`` if it has none): its published
    ``grid`` only, since the defaults are the code's."""
    path = model_config_path(model)
    data = _read_yaml(path) if path.exists() else {}
    extra = sorted(set(data) - {"grid"})
    if extra:
        raise ConfigError(f"{path}: unexpected section {extra[0]!r}; a "
                          f"packaged model file holds only the published "
                          f"'grid' (defaults belong to the model class: "
                          f"constructor keywords and train_defaults)")
    return data


def train_defaults(model: str) -> Dict[str, Any]:
    r"""The :class:`~mmgraph.config.TrainConfig` fields of a run of
    ``model``: the dataclass defaults updated by the model class's
    ``train_defaults``."""
    cls = MODELS.get(model)
    defaults = TrainConfig().to_dict()
    own = dict(getattr(cls, "train_defaults", None) or {})
    unknown = [k for k in own if k not in defaults]
    if unknown:
        raise ConfigError(
            f"{cls.__qualname__}.train_defaults: unknown key {unknown[0]!r}."
            f"{did_you_mean(unknown[0], defaults)}")
    defaults.update(copy.deepcopy(own))
    return defaults


def _coerce(value: Any, default: Any, where: str) -> Any:
    r"""Casts ``value`` to the type of ``default`` (lists element-wise are
    grid axes, except for keys whose default is itself a list)."""
    if default is None or value is None:
        return value
    if isinstance(default, list):
        if not isinstance(value, list):
            value = [value]
        return value
    if isinstance(value, list):
        return [_coerce(v, default, where) for v in value]
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() in ("true", "1", "yes"):
                    return True
                if value.lower() in ("false", "0", "no"):
                    return False
                raise ValueError
            return bool(value)
        if isinstance(default, int) and not isinstance(default, bool):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, str):
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a value of type "
                          f"{type(default).__name__}, got {value!r}") from None
    return value


def _unknown_key(key: str, valid: Sequence[str], where: str) -> ConfigError:
    return ConfigError(f"{where}: unknown key {key!r}.{did_you_mean(key, valid)}"
                       f" Valid keys: {', '.join(sorted(valid))}")


def parse_override(text: str) -> Tuple[str, Any]:
    r"""Parses ``key=value`` (the value is YAML: ``3``, ``1e-4``,
    ``[2, 3]``, ``true``)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    # YAML reads "1e-4" as a string; accept it as a number.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") \
                else int(value)
        except ValueError:
            pass
    return key, value


def apply_overrides(config: Dict[str, Dict[str, Any]],
                    overrides: Dict[str, Any], where: str = "--set") -> None:
    r"""Applies ``{key: value}`` overrides in place. A key may be qualified
    (``model.n_layers``) or bare (``n_layers``) when exactly one section
    has it."""
    for key, value in overrides.items():
        if "." in key:
            section, name = key.split(".", 1)
            if section not in config:
                raise _unknown_key(section, SECTIONS, where)
            if name not in config[section]:
                raise _unknown_key(name, config[section], f"{where} {section}")
        else:
            owners = [s for s in SECTIONS if key in config.get(s, {})]
            if not owners:
                valid = [k for s in SECTIONS for k in config.get(s, {})]
                raise _unknown_key(key, valid, where)
            if len(owners) > 1:
                raise ConfigError(f"{where}: key {key!r} is ambiguous "
                                  f"({', '.join(owners)}); write "
                                  f"{owners[0]}.{key}")
            section, name = owners[0], key
        default = config[section][name]
        config[section][name] = _coerce(value, default,
                                        f"{where} {section}.{name}")


def _merge_section_file(config: Dict[str, Dict[str, Any]],
                        data: Dict[str, Any], where: str) -> None:
    for section, values in data.items():
        if section == "grid":
            continue
        if section not in SECTIONS:
            raise _unknown_key(section, SECTIONS + ("grid",), where)
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: section {section!r} must be a "
                              f"mapping")
        apply_overrides(config, {f"{section}.{k}": v
                                 for k, v in values.items()}, where)


def resolve_config(model: str, config_file: Optional[str] = None,
                   overrides: Optional[Dict[str, Any]] = None,
                   use_grid: bool = False) -> Dict[str, Dict[str, Any]]:
    r"""The full configuration of a run of ``model``.

    Args:
        model (str): registered model name.
        config_file (str, optional): a user YAML file with ``model``,
            ``train``, ``objective`` and ``grid`` sections.
        overrides (dict, optional): ``{key: value}`` from ``--set``.
        use_grid (bool): apply the model's published ``grid`` (and the user
            file's) as list values (default: :obj:`False`).
    """
    config: Dict[str, Dict[str, Any]] = {
        "model": copy.deepcopy(MODELS.defaults(model)),
        "train": train_defaults(model),
        "objective": {},
    }
    packaged = load_model_yaml(model)
    sources = [(packaged, str(model_config_path(model)))]
    if config_file:
        sources.append((_read_yaml(Path(config_file)), str(config_file)))

    def objective_name() -> str:
        return resolve_objective_name(MODELS.get(model),
                                      config["train"]["objective"])

    for data, where in sources:
        train = dict(data.get("train") or {})
        if "objective" in train:
            apply_overrides(config, {"train.objective": train["objective"]},
                            where)
    if overrides and "objective" in overrides:
        apply_overrides(config, {"train.objective": overrides["objective"]})
    config["objective"] = copy.deepcopy(OBJECTIVES.defaults(objective_name()))

    for data, where in sources:
        _merge_section_file(config, data, where)
        if use_grid and data.get("grid"):
            apply_overrides(config, dict(data["grid"]), f"{where} grid")
    if overrides:
        apply_overrides(config, {k: v for k, v in overrides.items()
                                 if k != "objective"})
    config["train"]["objective"] = objective_name()
    return config


def _list_default_keys(model: str, objective: str) -> set:
    keys = {("train", k) for k, v in TrainConfig().to_dict().items()
            if isinstance(v, (list, tuple))}
    keys |= {("model", k) for k, v in MODELS.defaults(model).items()
             if isinstance(v, (list, tuple))}
    keys |= {("objective", k) for k, v in OBJECTIVES.defaults(objective).items()
             if isinstance(v, (list, tuple))}
    return keys


def expand_grid(config: Dict[str, Dict[str, Any]], model: str
                ) -> Iterator[Tuple[Dict[str, Any], Dict[str, Dict[str, Any]]]]:
    r"""Yields ``(point, config)`` for every combination of list values.

    Keys whose code default is itself a list (``metrics``, ``topk``) are
    never grid axes."""
    list_defaults = _list_default_keys(model, config["train"]["objective"])
    axes: List[Tuple[str, str, List[Any]]] = []
    for section in SECTIONS:
        for key, value in config[section].items():
            if (section, key) in list_defaults:
                continue
            if isinstance(value, list):
                axes.append((section, key, value))
    if not axes:
        yield {}, config
        return
    for combo in itertools.product(*(values for _, _, values in axes)):
        point = {}
        cfg = copy.deepcopy(config)
        for (section, key, _), value in zip(axes, combo):
            cfg[section][key] = value
            point[f"{section}.{key}"] = value
        yield point, cfg


def grid_axes(config: Dict[str, Dict[str, Any]], model: str) -> List[str]:
    r"""The ``section.key`` names whose value is a grid axis."""
    return list(next(iter(expand_grid(config, model)))[0].keys())


# ------------------------------------------------------- one model: a grid
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


def _read_json(path: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


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
            res = _read_json(run_dir / RESULTS) if run_dir else None
            if not (resume and res and res.get("finished")):
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
        mark = " *" if e["index"] == result["best"]["index"] else ""
        rows.append([", ".join(f"{k}={val}" for k, val in e["point"].items())
                     or "(defaults)",
                     fmt_mean_std([r["valid"][metric] for r in e["runs"]]),
                     fmt_mean_std([r["test"][metric] for r in e["runs"]])
                     + mark])
    return format_table(rows, ["point", f"valid {metric}", f"test {metric}"])


# -------------------------------------------- many models: an Experiment
#: Written into each run folder of an experiment: what the run depends on.
SPEC_FILE = "bench_spec.json"
#: Written into each run folder by its worker: memory of the run.
BENCH_FILE = "bench.json"
#: The worker's log inside each run folder.
LOG_FILE = "log.txt"
#: Seconds between progress lines when the output is not a terminal.
HEARTBEAT = 300.0
#: Applied by ``quick=True`` before the suite's own ``quick:`` section.
QUICK_DEFAULTS: Dict[str, Any] = {
    "datasets": {"synthetic": "synthetic"},
    "seeds": [999, 2024],
    "train": {"epochs": 3, "patience": 3},
}
MEMORY_NOTE = ("peak MB = resource.getrusage(RUSAGE_SELF).ru_maxrss of "
               "the run's own worker process (forked after importing "
               "mmgraph, so it includes the interpreter + torch baseline "
               "shown as 'base MB')")
SUITE_KEYS = ("name", "description", "data_root", "raw_root", "datasets",
              "models", "objectives", "seeds", "train", "overrides", "quick",
              "grid")


class ExperimentError(MMGraphError, ValueError):
    r"""An invalid experiment (suite file or selection); the message names
    the file or option and what was expected."""


def _merge(base: Dict[str, Any], over: Dict[str, Any]) -> Dict[str, Any]:
    r"""Recursive dict merge; ``over`` wins, lists are replaced."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _as_list(value: Any, where: str) -> list:
    if value is None:
        return []
    if isinstance(value, (str, int)):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise ExperimentError(f"{where}: expected a list, got {value!r}")
    return list(value)


def _resolve_path(path: Union[str, Path], root: Path) -> str:
    path = os.path.expanduser(os.path.expandvars(str(path)))
    if path == "synthetic":
        return path
    p = Path(path)
    return str(p if p.is_absolute() else (root / p).resolve())


@dataclass
class RunSpec:
    r"""One training run of an :class:`Experiment`.

    ``overrides`` are ``--set``-style keys (the experiment's ``train``
    section, the model's overrides, the seed, the objective and, for a grid,
    the point) resolved by :func:`resolve_config` against the model's
    defaults."""
    dataset: str
    model: str
    objective: str
    seed: int
    data: Dict[str, Any]
    overrides: Dict[str, Any]
    run_dir: Path
    index: int = 0
    total: int = 0
    point: Dict[str, Any] = field(default_factory=dict)
    point_index: Optional[int] = None

    @property
    def label(self) -> str:
        r"""``model`` or ``model+objective`` (one row of the tables)."""
        return self.model if self.objective == "auto" \
            else f"{self.model}+{self.objective}"

    def key(self) -> Dict[str, Any]:
        r"""What the run's result depends on (a change means a rerun),
        including the model's resolved configuration, so that a changed
        model default also marks an earlier run stale."""
        key = {"dataset": self.dataset, "model": self.model,
               "objective": self.objective, "seed": self.seed,
               "data": self.data, "overrides": self.overrides,
               "config": resolve_config(self.model, None,
                                        dict(self.overrides))}
        if self.point:
            key["point"] = self.point
        return key

    def digest(self) -> str:
        text = json.dumps(self.key(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def state(self) -> str:
        r"""``'done'``, ``'partial'`` (resumable), ``'stale'`` (run with
        another specification) or ``'new'``."""
        saved = _read_json(self.run_dir / SPEC_FILE)
        if saved is not None and saved.get("digest") != self.digest():
            return "stale"
        res = _read_json(self.run_dir / RESULTS)
        if res and res.get("finished"):
            return "done"
        if (self.run_dir / CHECKPOINT).exists():
            return "partial"
        return "new"


@dataclass
class Experiment:
    r"""Models × datasets × objectives × seeds (× grid points), resumable.

    In the style of cornac's ``Experiment``: declare what to compare, call
    :meth:`run`, read the table. Every run trains one model to early
    stopping on validation (:func:`train_model`) into
    ``out/runs/<dataset>/<model>[+<objective>]/seed<seed>/`` (with a grid:
    ``.../<point>-seed<seed>/``). A run whose results are finished with the
    same resolved configuration is skipped, an interrupted one resumes from
    its checkpoint, and a run whose specification changed (the experiment
    or a model default) starts over. :meth:`write_reports` summarises every
    finished run as mean ± std over seeds (``results.{md,csv,json}`` and
    figures); with a grid, the point with the best mean validation
    ``valid_metric`` is reported (the test split never selects).

    Args:
        models (list of str): registered model names.
        datasets (dict): name -> ``'synthetic'``, a prepared folder, or
            ``{"path": ..., "options": {...synthetic generator keywords},
            "prepare": {...mmgraph prepare options}}``.
        objectives (list of str): ``'auto'`` (the model's native loss, else
            BPR) or registered objective names (default: ``['auto']``).
        seeds (list of int): seeds of every run (default: ``[999]``).
        train (dict): config keys for every run (``{'epochs': 100}``).
        overrides (dict): model name -> config keys for that model.
        grid (bool): search each model's published grid (default:
            :obj:`False`); list values in ``train``/``overrides`` are grid
            axes either way.
        name (str): the experiment's name (report title).
        description (str): a paragraph for the report.

    Example::

        exp = Experiment(["mf", "lightgcn"], {"synthetic": "synthetic"},
                         seeds=[1, 2], train={"epochs": 20})
        failed = exp.run("runs/exp")
        rows = exp.write_reports("runs/exp")
    """
    models: List[str]
    datasets: Dict[str, Any]
    objectives: List[str] = field(default_factory=lambda: ["auto"])
    seeds: List[int] = field(default_factory=lambda: [999])
    train: Dict[str, Any] = field(default_factory=dict)
    overrides: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    grid: bool = False
    name: str = "experiment"
    description: str = ""

    def __post_init__(self) -> None:
        self.models = [str(m) for m in _as_list(self.models, "models")]
        self.seeds = [int(s) for s in _as_list(self.seeds, "seeds")]
        self.objectives = [str(o) for o in
                           _as_list(self.objectives, "objectives")]
        datasets = {}
        for name, entry in dict(self.datasets or {}).items():
            if isinstance(entry, (str, Path)):
                entry = {"path": str(entry)}
            if not isinstance(entry, dict) or "path" not in entry:
                raise ExperimentError(
                    f"dataset {name!r}: expected 'synthetic', a prepared "
                    f"folder or a mapping with a 'path'")
            d = {"path": str(entry["path"]),
                 "options": dict(entry.get("options") or {})}
            if entry.get("prepare"):
                d["prepare"] = dict(entry["prepare"])
            datasets[str(name)] = d
        self.datasets = datasets
        self.overrides = {k: dict(v or {}) for k, v in
                          (self.overrides or {}).items()}
        self.train = dict(self.train or {})

    # ------------------------------------------------------------ building
    @classmethod
    def from_yaml(cls, path: Union[str, Path], quick: bool = False,
                  data_root: Optional[str] = None,
                  raw_root: Optional[str] = None,
                  data_overrides: Sequence[str] = (),
                  base: Union[str, Path, None] = None) -> "Experiment":
        r"""Reads a suite file (see ``benchmarks/suites/``).

        Args:
            path: the YAML file.
            quick (bool): merge :data:`QUICK_DEFAULTS` and the suite's own
                ``quick:`` section over it (a smoke test).
            data_root (str, optional): base of relative dataset paths
                (default: ``$MMGRAPH_DATA_ROOT``, else the suite's
                ``data_root``, relative to ``base``).
            raw_root (str, optional): base of relative ``prepare`` inputs
                (default: ``$MMGRAPH_RAW_ROOT``, else the suite's
                ``raw_root``).
            data_overrides (list of str): ``NAME=PATH``: use the prepared
                folder ``PATH`` for dataset ``NAME``.
            base (str, optional): what relative roots start from (default:
                the current directory).
        """
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) \
                or {}
        except FileNotFoundError:
            raise ExperimentError(f"{path}: suite file not found") from None
        except yaml.YAMLError as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ExperimentError(f"{path}: not valid YAML: {first}") \
                from None
        if not isinstance(raw, dict):
            raise ExperimentError(f"{path}: expected a mapping at the top "
                                  f"level")
        unknown = sorted(set(raw) - set(SUITE_KEYS))
        if unknown:
            raise ExperimentError(
                f"{path}: unknown key(s) {unknown}; valid: "
                f"{sorted(SUITE_KEYS)}.{did_you_mean(unknown[0], SUITE_KEYS)}")
        if quick:
            raw = _merge(_merge(raw, QUICK_DEFAULTS), raw.get("quick") or {})
            # quick replaces the datasets rather than adding synthetic data.
            raw["datasets"] = (raw.get("quick") or {}).get(
                "datasets", QUICK_DEFAULTS["datasets"])
        root = Path(base) if base is not None else Path.cwd()
        data_root = data_root or os.environ.get("MMGRAPH_DATA_ROOT") or \
            raw.get("data_root", ".")
        raw_root = raw_root or os.environ.get("MMGRAPH_RAW_ROOT") or \
            raw.get("raw_root", ".")
        droot = Path(_resolve_path(data_root, root))
        rroot = Path(_resolve_path(raw_root, root))
        given = dict(raw.get("datasets") or {})
        for item in data_overrides:
            if "=" not in item:
                raise ExperimentError(f"--data {item!r}: expected NAME=PATH")
            name, value = item.split("=", 1)
            if name not in given:
                raise ExperimentError(
                    f"--data {name}: the suite has no dataset {name!r} (has "
                    f"{sorted(given)}){did_you_mean(name, given)}")
            entry = dict(given[name]) if isinstance(given[name], dict) else {}
            entry.update(path=value, prepare=None)  # an existing folder
            given[name] = entry
        if not given:
            raise ExperimentError(f"{path}: no datasets")
        datasets: Dict[str, Dict[str, Any]] = {}
        for name, entry in given.items():
            if isinstance(entry, str):
                entry = {"path": entry}
            if not isinstance(entry, dict) or "path" not in entry:
                raise ExperimentError(
                    f"{path}: dataset {name!r} needs a path ('synthetic' or "
                    f"a prepared folder)")
            d = {"path": _resolve_path(entry["path"], droot),
                 "options": dict(entry.get("options") or {})}
            if d["options"] and d["path"] != "synthetic":
                raise ExperimentError(
                    f"{path}: dataset {name!r}: 'options' are generator "
                    f"settings of 'synthetic' only")
            prep = entry.get("prepare")
            if prep:
                prep = dict(prep)
                for k in ("interactions", "item_text", "images"):
                    if prep.get(k):
                        prep[k] = _resolve_path(prep[k], rroot)
                prep.setdefault("name", name)
                d["prepare"] = prep
            datasets[name] = d
        models = [str(m) for m in _as_list(raw.get("models"), "models")]
        if not models:
            raise ExperimentError(f"{path}: no models")
        overrides = raw.get("overrides") or {}
        for m in overrides:
            if m not in models:
                raise ExperimentError(
                    f"{path}: overrides for {m!r}, which is not in models "
                    f"{models}")
        return cls(models=models, datasets=datasets,
                   objectives=raw.get("objectives") or ["auto"],
                   seeds=raw.get("seeds") or [999],
                   train=dict(raw.get("train") or {}), overrides=overrides,
                   grid=bool(raw.get("grid", False)),
                   name=str(raw.get("name") or Path(path).stem),
                   description=str(raw.get("description") or ""))

    def select(self, models: Union[str, Sequence[str], None] = None,
               datasets: Union[str, Sequence[str], None] = None,
               seeds: Union[str, Sequence[int], None] = None,
               objectives: Union[str, Sequence[str], None] = None
               ) -> "Experiment":
        r"""A copy restricted to a subset (comma-separated strings or
        lists); asking for something the experiment lacks is an error."""
        s = copy.deepcopy(self)

        def pick(given, have: list, what: str, cast=str) -> list:
            if not given:
                return have
            items = given.split(",") if isinstance(given, str) else given
            want = [cast(str(x).strip()) for x in items if str(x).strip()]
            missing = [w for w in want if w not in have]
            if missing:
                raise ExperimentError(
                    f"--{what} {','.join(map(str, missing))}: not in the "
                    f"suite ({', '.join(map(str, have))})"
                    f"{did_you_mean(missing[0], have)}")
            return [h for h in have if h in want]
        s.models = pick(models, s.models, "models")
        s.seeds = pick(seeds, s.seeds, "seeds", int)
        s.objectives = pick(objectives, s.objectives, "objectives")
        keep = pick(datasets, list(s.datasets), "datasets")
        s.datasets = {k: v for k, v in s.datasets.items() if k in keep}
        return s

    def check(self) -> None:
        r"""Every model and objective is registered (else
        :class:`ExperimentError` with a hint)."""
        have = MODELS.names()
        missing = [m for m in self.models if m not in have]
        if missing:
            raise ExperimentError(
                f"unknown model(s) {missing}; registered: {', '.join(have)}."
                f"{did_you_mean(missing[0], have)}")
        objs = ["auto"] + OBJECTIVES.names()
        bad = [o for o in self.objectives if o not in objs]
        if bad:
            raise ExperimentError(f"unknown objective(s) {bad}; valid: "
                                  f"{objs}.{did_you_mean(bad[0], objs)}")

    def plan(self, out: Union[str, Path]) -> List[RunSpec]:
        r"""Every run, in dataset, model, objective, grid point, seed
        order."""
        out = Path(out)
        runs = []
        for ds, data in self.datasets.items():
            for model in self.models:
                for obj in self.objectives:
                    base = dict(self.train)
                    base.update(self.overrides.get(model, {}))
                    if obj != "auto":
                        base["objective"] = obj
                    points = list(expand_grid(resolve_config(
                        model, None, base, use_grid=self.grid), model))
                    for i, (point, _) in enumerate(points):
                        # The point's value replaces the axis (a list),
                        # whether the axis was given bare or qualified.
                        axes = set(point) | {k.split(".", 1)[1]
                                             for k in point}
                        fixed = {k: v for k, v in base.items()
                                 if k not in axes}
                        for seed in self.seeds:
                            over = {**fixed, **point, "seed": int(seed)}
                            spec = RunSpec(ds, model, obj, int(seed), data,
                                           over, out)
                            folder = f"seed{seed}"
                            if len(points) > 1:
                                spec.point, spec.point_index = point, i
                                folder = f"{i}-seed{seed}"
                            spec.run_dir = out / "runs" / ds / spec.label / \
                                folder
                            runs.append(spec)
        for i, r in enumerate(runs):
            r.index, r.total = i + 1, len(runs)
        return runs

    # ------------------------------------------------------------- running
    def prepare_data(self, log=print) -> None:
        r"""Runs ``mmgraph prepare`` for datasets whose folder does not
        exist yet but that say how to make it."""
        for name, d in self.datasets.items():
            if d["path"] == "synthetic" or Path(d["path"]).exists():
                continue
            prep = d.get("prepare")
            if not prep:
                raise ExperimentError(
                    f"dataset {name!r}: folder {d['path']} not found "
                    f"(prepare it with 'mmgraph prepare', or pass --data "
                    f"{name}=PATH / --data-root DIR)")
            cmd = [sys.executable, "-m", "mmgraph.cli", "prepare",
                   "--out", d["path"]]
            for key, value in prep.items():
                if value is None or value is False:
                    continue
                flag = "--" + key.replace("_", "-")
                cmd += [flag] if value is True else [flag, str(value)]
            log(f"preparing {name}: {' '.join(cmd[2:])}")
            rc = subprocess.call(cmd, cwd=str(_PACKAGE_PARENT))
            if rc != 0:
                raise ExperimentError(f"dataset {name!r}: 'mmgraph prepare' "
                                      f"failed (exit code {rc})")

    def run(self, out: Union[str, Path], isolation: str = "process",
            threads: Optional[int] = None, stream=None) -> List[RunSpec]:
        r"""Trains every run that is not finished; returns the runs that
        failed.

        Args:
            out: the experiment folder.
            isolation (str): ``'process'`` (each run in its own process
                forked from a server that has imported mmgraph, so its peak
                memory is its own; a run stops when this process is killed)
                or ``'none'`` (in this process).
            threads (int, optional): torch threads per run.
            stream: where progress lines go (default: ``sys.stdout``).
        """
        self.check()
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        return _execute(self.plan(out), isolation, stream or sys.stdout,
                        threads)

    # ------------------------------------------------------------ results
    def records(self, out: Union[str, Path]) -> List[Dict[str, Any]]:
        r"""One record per finished run (test and validation metrics at the
        best-validation epoch, epochs, times, memory, the validation curve).
        With a grid, only the runs of each model's selected point: the one
        with the best mean validation ``valid_metric`` over its seeds."""
        records = [r for r in (_run_record(s) for s in self.plan(out))
                   if r is not None]
        by_point: Dict[tuple, List[Dict[str, Any]]] = {}
        for r in records:
            by_point.setdefault((r["dataset"], r["label"], r["point_index"]),
                                []).append(r)
        best: Dict[tuple, Tuple[float, Any]] = {}
        for (ds, label, i), rs in by_point.items():
            score = mean_std([r["valid"].get(r["valid_metric"], float("nan"))
                              for r in rs])[0]
            if (ds, label) not in best or score > best[(ds, label)][0]:
                best[(ds, label)] = (score, i)
        return [r for r in records
                if best[(r["dataset"], r["label"])][1] == r["point_index"]]

    def write_reports(self, out: Union[str, Path], quick: bool = False
                      ) -> List[Dict[str, Any]]:
        r"""Writes ``results.{csv,json,md}`` and the figures of every
        finished run into ``out``; returns the summary rows
        (:func:`mmgraph.report.summarise`)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        runs = self.plan(out)
        records = self.records(out)
        rows = summarise(records)
        finished = sum(1 for s in runs if s.state() == "done")
        missing = len(runs) - finished
        versions = package_versions()
        atomic_write_json(out / "results.json", {
            "suite": self.name, "description": self.description,
            "quick": quick, "table_metrics": list(TABLE_METRICS),
            "selection": "test metrics at the best-validation epoch "
                         "(early stopping and selection on validation only)",
            "memory": MEMORY_NOTE, "versions": versions,
            "unfinished_runs": missing, "rows": rows,
            "runs": [{k: v for k, v in r.items() if k != "curve"}
                     for r in records]})
        atomic_write_text(out / "results.csv", summary_csv(rows))
        atomic_write_text(out / "results.md", summary_markdown(
            f"Benchmark suite `{self.name}`" + (" (quick)" if quick else ""),
            rows, self.description, MEMORY_NOTE, versions, missing))
        for name, png in summary_figures(records).items():
            atomic_write_bytes(out / name, png)
        return rows

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.name!r}, "
                f"models={self.models}, datasets={list(self.datasets)}, "
                f"objectives={self.objectives}, seeds={self.seeds}"
                f"{', grid=True' if self.grid else ''})")


# ---------------------------------------------------------- run execution
_PACKAGE_PARENT = Path(__file__).resolve().parents[1]


def _maxrss_mb() -> float:
    import resource
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # kilobytes on Linux, bytes on macOS
    return rss / (1024 ** 2) if sys.platform == "darwin" else rss / 1024


def _exit_with_runner(runner: int) -> None:
    r"""In a worker process: exit when the runner process goes away (it was
    killed), instead of training on as an orphan."""
    import threading

    def watch() -> None:
        while True:
            time.sleep(2.0)
            try:
                os.kill(runner, 0)
            except (ProcessLookupError, PermissionError):
                # gone, or the pid was reused by another user's process
                os._exit(3)
    threading.Thread(target=watch, daemon=True).start()


def _worker(spec: Dict[str, Any]) -> None:
    r"""Trains one run (in its own process) and writes ``bench.json``."""
    if spec.get("runner_pid"):
        _exit_with_runner(int(spec["runner_pid"]))
    run_dir = Path(spec["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(run_dir / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s",
                                           "%H:%M:%S"))
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    if spec.get("threads"):
        import torch
        torch.set_num_threads(int(spec["threads"]))
    base = _maxrss_mb()
    try:
        data = spec["data"]
        dataset = _load(data["path"], data["options"]) \
            if data["path"] == "synthetic" and data["options"] \
            else data["path"]
        resume = (run_dir / CHECKPOINT).exists()
        if resume:
            log.info("resuming from the checkpoint")
        train_model(spec["model"], dataset, None, dict(spec["overrides"]),
                    run_dir, resume=resume, show_progress=False)
    except BaseException:
        log.error("run failed:\n%s", traceback.format_exc())
        raise
    finally:
        handler.close()
        root.handlers[:], level = saved
        root.setLevel(level)
    info = {"peak_rss_mb": _maxrss_mb(), "base_rss_mb": base,
            "memory_method": "getrusage(RUSAGE_SELF).ru_maxrss"
            + (" (in-process: maximum so far)" if spec.get("in_process")
               else " of the run's worker process"),
            "digest": spec["digest"]}
    atomic_write_json(run_dir / BENCH_FILE, info)


def _context(isolation: str):
    if isolation == "none":
        return None
    if isolation != "process":
        raise ExperimentError(f"isolation {isolation!r}: expected 'process' "
                              f"or 'none'")
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("forkserver" if "forkserver" in methods
                         else "spawn")
    if ctx.get_start_method() == "forkserver":
        # Imported once by the server; every run is forked from it.
        os.environ.setdefault("MPLBACKEND", "Agg")
        ctx.set_forkserver_preload(["mmgraph", "mmgraph.experiment",
                                    "torch_geometric", "matplotlib.pyplot"])
    return ctx


def _reset(run_dir: Path) -> None:
    for p in run_dir.iterdir() if run_dir.exists() else []:
        if p.is_file():
            p.unlink()


def _progress_line(spec: RunSpec, t0: float) -> str:
    res = _read_json(spec.run_dir / RESULTS) or {}
    hist = res.get("history") or []
    text = f"  epoch {len(hist)}"
    if hist:
        metric = res.get("train_config", {}).get("valid_metric", "recall@20")
        text += (f", best valid {metric} "
                 f"{(res.get('valid') or {}).get(metric, float('nan')):.4f}")
    return text + f", {time.perf_counter() - t0:.0f} s"


def _execute(runs: List[RunSpec], isolation: str, out,
             threads: Optional[int]) -> List[RunSpec]:
    ctx = _context(isolation)
    failed = []
    tty = hasattr(out, "isatty") and out.isatty()
    for spec in runs:
        tag = (f"[{spec.index:>{len(str(spec.total))}}/{spec.total}] "
               f"{spec.dataset} {spec.label}"
               + (f" point {spec.point_index}" if spec.point else "")
               + f" seed {spec.seed}")
        state = spec.state()
        if state == "done":
            print(f"{tag}: finished earlier, skipped", file=out, flush=True)
            continue
        if state == "stale":
            print(f"{tag}: the suite changed since this run; starting over",
                  file=out, flush=True)
            _reset(spec.run_dir)
        print(f"{tag}: {'resuming' if state == 'partial' else 'training'}"
              f" ...", file=out, flush=True)
        spec.run_dir.mkdir(parents=True, exist_ok=True)
        digest = spec.digest()
        atomic_write_json(spec.run_dir / SPEC_FILE,
                          {"digest": digest, **spec.key()})
        payload = {"run_dir": str(spec.run_dir), "model": spec.model,
                   "data": spec.data, "overrides": spec.overrides,
                   "digest": digest, "threads": threads,
                   "in_process": ctx is None,
                   "runner_pid": None if ctx is None else os.getpid()}
        t0 = time.perf_counter()
        if ctx is None:
            try:
                _worker(payload)
                code = 0
            except Exception:  # noqa: BLE001 - reported below
                code = 1
        else:
            proc = ctx.Process(target=_worker, args=(payload,))
            proc.start()
            last = time.perf_counter()
            try:
                while proc.is_alive():
                    proc.join(timeout=2.0)
                    if not proc.is_alive():
                        break
                    if tty:
                        print("\r" + _progress_line(spec, t0) + "   ",
                              end="", file=out, flush=True)
                    elif time.perf_counter() - last > HEARTBEAT:
                        # Logs (job queues) get a line every few minutes.
                        last = time.perf_counter()
                        print(f"{tag}:{_progress_line(spec, t0)}", file=out,
                              flush=True)
            except KeyboardInterrupt:
                proc.terminate()
                proc.join()
                print(f"\n{tag}: interrupted; run the same command again to "
                      f"resume from the last checkpoint", file=out,
                      flush=True)
                raise
            if tty:
                print("\r" + " " * 70 + "\r", end="", file=out)
            code = proc.exitcode
        secs = time.perf_counter() - t0
        res = _read_json(spec.run_dir / RESULTS) or {}
        if code != 0 or not res.get("finished"):
            failed.append(spec)
            tail = ""
            log_file = spec.run_dir / LOG_FILE
            if log_file.exists():
                tail = "\n".join(log_file.read_text(errors="replace")
                                 .splitlines()[-15:])
            print(f"{tag}: FAILED (exit code {code}) after {secs:.1f} s; "
                  f"log {log_file}\n{tail}", file=out, flush=True)
            continue
        test = res.get("test", {})
        print(f"{tag}: done in {secs:.1f} s, best epoch {res['best_epoch']} "
              f"of {res['epochs']}, test recall@20 "
              f"{test.get('recall@20', float('nan')):.4f} ndcg@20 "
              f"{test.get('ndcg@20', float('nan')):.4f}", file=out,
              flush=True)
    return failed


def _run_record(spec: RunSpec) -> Optional[Dict[str, Any]]:
    if spec.state() != "done":
        return None
    res = _read_json(spec.run_dir / RESULTS)
    bench = _read_json(spec.run_dir / BENCH_FILE) or {}
    metric = res["train_config"]["valid_metric"]
    elapsed = 0.0
    curve = []
    for h in res.get("history") or []:
        elapsed += h.get("train_seconds", 0.0) + h.get("eval_seconds", 0.0)
        curve.append({"epoch": h["epoch"], "loss": h.get("loss"),
                      "valid": h["valid"].get(metric), "seconds": elapsed})
    return {
        "dataset": spec.dataset, "model": spec.model,
        "objective": res.get("objective", spec.objective),
        "label": spec.label, "seed": spec.seed,
        "point": spec.point, "point_index": spec.point_index,
        "run_dir": str(spec.run_dir), "valid_metric": metric,
        "test": {k: res["test"][k] for k in res["test"] if "@" in k},
        "valid": {k: res["valid"][k] for k in res["valid"] if "@" in k},
        "best_epoch": res["best_epoch"], "epochs": res["epochs"],
        "seconds_per_epoch": res.get("seconds_per_epoch", float("nan")),
        "seconds_per_eval": res.get("seconds_per_eval", float("nan")),
        # Sum over the recorded epochs (robust to a resumed run, whose
        # wall_seconds covers only the time after resuming).
        "total_seconds": elapsed,
        "peak_rss_mb": bench.get("peak_rss_mb", float("nan")),
        "base_rss_mb": bench.get("base_rss_mb", float("nan")),
        "curve": curve,
    }
