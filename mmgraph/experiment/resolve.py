r"""Configuration resolution: a run's full configuration from the code's
defaults, the packaged grid, a user file and ``--set`` overrides.

A resolved configuration has three sections::

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
"""
from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Type

import yaml

from mmgraph.config import (ConfigError, TrainConfig, grid_values,
                             list_valued_train_keys)
from mmgraph.errors import did_you_mean
from mmgraph.models.registry import MODELS
from mmgraph.train.objectives.base import (OBJECTIVES,
                                           resolve_objective_name)

__all__ = ["resolve_config", "parse_override", "apply_overrides",
           "expand_grid", "grid_axes", "model_config_path", "load_model_yaml",
           "train_defaults", "CONFIG_DIR", "SECTIONS"]

#: Where the packaged per-model YAML files (published grids) live.
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
SECTIONS = ("model", "train", "objective")


def model_config_path(model: str) -> Path:
    r"""The packaged YAML file of ``model``."""
    return CONFIG_DIR / f"{model}.yaml"


def read_yaml_mapping(path: Path, error: Type[Exception] = ConfigError,
                      what: str = "config file") -> Dict[str, Any]:
    r"""The top-level mapping of the YAML file ``path`` (``{}`` if empty);
    a missing file, invalid YAML or another top-level type raises ``error``
    in one line that names the file (``what`` says which kind it is)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except yaml.YAMLError as e:
        raise error(_yaml_error(path, e)) from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping at the top level, got "
                    f"{type(data).__name__}")
    return data


def _yaml_error(path: Path, e: yaml.YAMLError) -> str:
    r"""One line for a YAML error: the file, the line and column where the
    parser stopped, what it found and what it was parsing (and from where);
    PyYAML's own text spreads these over several lines, the first of which
    is often only the context ("while parsing a block mapping")."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    problem = getattr(e, "problem", None)
    if mark is None or not problem:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        return f"{path}: not valid YAML: {first}"
    where = f"{path}, line {mark.line + 1}, column {mark.column + 1}"
    context, cmark = getattr(e, "context", None), getattr(e, "context_mark", None)
    if context:
        started = f" started at line {cmark.line + 1}" \
            if cmark is not None and cmark.line != mark.line else ""
        problem += f" ({context}{started})"
    return f"{where}: not valid YAML: {problem}"


def load_model_yaml(model: str) -> Dict[str, Any]:
    r"""The packaged YAML of ``model`` (``{}`` if it has none): its published
    ``grid`` only, since the defaults are the code's."""
    path = model_config_path(model)
    data = read_yaml_mapping(path) if path.exists() else {}
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
    # YAML reads "1e-4" as a string; accept it as a number, also inside a
    # list (a grid axis such as [1e-5, 1e-1]).
    if isinstance(value, list):
        return key, [_as_number(v) for v in value]
    return key, _as_number(value)


def _as_number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eE") \
                else int(value)
        except ValueError:
            pass
    return value


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
        sources.append((read_yaml_mapping(Path(config_file)), str(config_file)))

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
    keys = {("train", k) for k in list_valued_train_keys()}
    keys |= {("model", k) for k, v in MODELS.defaults(model).items()
             if isinstance(v, (list, tuple))}
    keys |= {("objective", k) for k, v in OBJECTIVES.defaults(objective).items()
             if isinstance(v, (list, tuple))}
    return keys


def expand_grid(config: Dict[str, Dict[str, Any]], model: str
                ) -> Iterator[Tuple[Dict[str, Any], Dict[str, Dict[str, Any]]]]:
    r"""Yields ``(point, config)`` for every combination of list values; an
    axis given no values is a :class:`~mmgraph.config.ConfigError` naming it.

    Keys whose code default is itself a list (``metrics``, ``topk``,
    ``num_neighbors``) are grid axes only when given a list of lists
    (:func:`~mmgraph.config.grid_values`)."""
    list_defaults = _list_default_keys(model, config["train"]["objective"])
    axes: List[Tuple[str, str, List[Any]]] = []
    for section in SECTIONS:
        for key, value in config[section].items():
            values = grid_values(value, (section, key) in list_defaults)
            if values is not None:
                axes.append((section, key, values))
    empty = [f"{section}.{key}" for section, key, values in axes if not values]
    if empty:  # the product would be empty: no run, no error
        raise ConfigError(f"{', '.join(empty)}: an empty list of values (a grid "
                          f"axis needs at least one, e.g. [1, 2])")
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
