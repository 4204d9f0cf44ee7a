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
import itertools
import json
import logging
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import yaml

from mmgraph.config import ConfigError, TrainConfig
from mmgraph.errors import did_you_mean
from mmgraph.models.registry import MODELS
from mmgraph.report import fmt_mean_std, format_table, mean_std
from mmgraph.train.objectives.base import (OBJECTIVES,
                                           resolve_objective_name)
from mmgraph.train.run import GRID_FILE, _data_spec, _load, train_config
from mmgraph.train.trainer import RESULTS
from mmgraph.train.utils import atomic_write_json

__all__ = ["resolve_config", "parse_override", "apply_overrides",
           "expand_grid", "grid_axes", "model_config_path", "load_model_yaml",
           "train_defaults", "train_model", "grid_table", "CONFIG_DIR",
           "SECTIONS"]

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
