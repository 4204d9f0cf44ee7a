r"""Configuration: typed defaults per model in YAML, file + ``key=value``
overrides, and hyper-parameter grids.

A resolved configuration has three sections::

    model:      the model's constructor keywords (typed by its signature)
    train:      :class:`TrainConfig` fields
    objective:  the objective's keywords (e.g. NBPO's flip-model size)

Defaults come from the code (the model constructor, :class:`TrainConfig`,
the objective constructor), then ``mmgraph/configs/<model>.yaml`` (the
papers' defaults and published grid), then a user file, then ``--set``
overrides. A value may be a list, which makes it a grid axis. An unknown key
is an error that suggests the nearest valid one.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import yaml

__all__ = ["TrainConfig", "ObjectiveConfig", "DataConfig", "ConfigError", "resolve_config", "parse_override",
           "apply_overrides", "expand_grid", "model_config_path",
           "load_model_yaml"]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
SECTIONS = ("model", "train", "objective")


class ConfigError(ValueError):
    r"""An invalid configuration key or value."""


@dataclass
class TrainConfig:
    r"""Settings of the shared training loop (MMRec defaults).

    Args:
        learning_rate (float): Adam learning rate (default: ``1e-3``).
        weight_decay (float): Adam weight decay (default: ``0.0``).
        batch_size (int): positive pairs per step (default: ``2048``).
        epochs (int): maximum epochs (default: ``1000``).
        patience (int): epochs without a strict improvement of
            ``valid_metric`` before stopping (default: ``20``).
        valid_metric (str): model-selection metric (default: ``recall@20``).
        metrics (list): reported metrics (default: recall, ndcg, precision,
            map).
        topk (list): cut-offs (default: ``[5, 10, 20, 50]``).
        eval_batch_size (int): users per scoring batch (default: ``4096``).
        eval_test_each_epoch (bool): also evaluate the test split each epoch
            for curves -- never used for selection (default: ``False``).
        objective (str): ``'auto'`` (the model's native loss if it has one,
            else BPR), ``'bpr'``, ``'bpo'``, ``'nbpo'``, ``'native'``.
        num_negatives (int): negatives per positive; ``0`` means the
            objective's default (BPR 1, NBPO 4) (default: ``0``).
        neg_candidates (str): ``'train'`` (items seen in training, MMRec) or
            ``'all'`` (default: ``'train'``).
        clip_grad_norm (float): gradient clipping, ``0`` = off.
        seed (int): random seed (default: ``999``).
        device (str): ``'cpu'`` or ``'cuda'`` (default: ``'cpu'``).
        top_k_file (int): list length written to ``test_topk.tsv``.
        optimizer (str): the optimiser, a :mod:`torch.optim` class name in
            any case (``'adam'``, ``'sgd'``, ``'adamw'``; resolved by PyG's
            :func:`~torch_geometric.nn.resolver.optimizer_resolver`); Adam
            uses torch's fused kernel where it can (default: ``'adam'``).
        optimizer_params (dict): further keywords of the optimiser
            (e.g. ``{"momentum": 0.9}``; default: ``{}``).
        lr_scheduler (str, optional): a learning-rate schedule stepped once
            at the end of every epoch, a :mod:`torch.optim.lr_scheduler`
            class name (``'exponential'``, ``'step'``, ``'cosine_annealing'``,
            ``'reduce_lr_on_plateau'`` -- stepped with the validation score;
            resolved by PyG's
            :func:`~torch_geometric.nn.resolver.lr_scheduler_resolver`)
            (default: :obj:`None`, a constant rate).
        lr_scheduler_params (dict): keywords of the schedule (e.g.
            ``{"gamma": 0.99}``; default: ``{}``).
        lr_scaling (str): under ``torchrun`` the global batch is
            ``world_size * batch_size``; the learning rate is multiplied by
            ``1`` (``'none'``), ``world_size`` (``'linear'``) or
            ``sqrt(world_size)`` (``'sqrt'``) (default: ``'none'``; no effect
            in one process).
        sampled (bool): train on sampled mini-batch subgraphs
            (:class:`~mmgraph.train.sampled.SubgraphBatches`; models that
            cannot be sampled refuse) instead of the full graph; evaluation
            stays full-graph (default: :obj:`False`).
        num_neighbors (list): fan-out per hop of sampled training, ``-1`` =
            every neighbour (default: ``[10, 10]``).
    """
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 2048
    epochs: int = 1000
    patience: int = 20
    valid_metric: str = "recall@20"
    metrics: List[str] = field(
        default_factory=lambda: ["recall", "ndcg", "precision", "map"])
    topk: List[int] = field(default_factory=lambda: [5, 10, 20, 50])
    eval_batch_size: int = 4096
    eval_test_each_epoch: bool = False
    objective: str = "auto"
    num_negatives: int = 0
    neg_candidates: str = "train"
    clip_grad_norm: float = 0.0
    seed: int = 999
    device: str = "cpu"
    top_k_file: int = 50
    optimizer: str = "adam"
    optimizer_params: Dict[str, Any] = field(default_factory=dict)
    lr_scheduler: Optional[str] = None
    lr_scheduler_params: Dict[str, Any] = field(default_factory=dict)
    lr_scaling: str = "none"
    sampled: bool = False
    num_neighbors: List[int] = field(default_factory=lambda: [10, 10])

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ObjectiveConfig:
    r"""Which training objective, with its keywords.

    Args:
        name (str): a registered objective (``'bpr'``, ``'nbpo'``,
            ``'native'``, ...) or ``'auto'`` (the model's native loss if it
            has one, else BPR) (default: ``'auto'``).
        params (dict): keywords of the objective's constructor (default:
            ``{}``).
    """
    name: str = "auto"
    params: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class DataConfig:
    r"""Where a dataset comes from and how its item graphs are built.

    Args:
        source (str): ``'synthetic'`` or the path of a prepared MMRec folder
            (default: ``'synthetic'``).
        name (str, optional): the interaction-file stem when the folder
            holds several (default: :obj:`None`).
        knn_k (int): :math:`k` of the kNN item graphs (default: ``10``).
        mm_image_weight (float): image weight of the fused kNN graph
            (default: ``0.1``).
        params (dict): further keywords of the synthetic generator
            (default: ``{}``).
    """
    source: str = "synthetic"
    name: Optional[str] = None
    knn_k: int = 10
    mm_image_weight: float = 0.1
    params: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def _train_defaults() -> Dict[str, Any]:
    return TrainConfig().to_dict()


def model_config_path(model: str) -> Path:
    return CONFIG_DIR / f"{model}.yaml"


def _read_yaml(path: Path) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got "
                          f"{type(data).__name__}")
    return data


def load_model_yaml(model: str) -> Dict[str, Any]:
    r"""The packaged YAML of ``model`` (``{}`` if it has none)."""
    path = model_config_path(model)
    return _read_yaml(path) if path.exists() else {}


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
    close = difflib.get_close_matches(key, list(valid), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"{where}: unknown key {key!r}.{hint} Valid keys: "
                       f"{', '.join(sorted(valid))}")


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
                        data: Dict[str, Any], where: str,
                        allow_grid: bool) -> None:
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
    from mmgraph.models.registry import model_hparams
    from mmgraph.train.objectives import objective_hparams

    config: Dict[str, Dict[str, Any]] = {
        "model": copy.deepcopy(model_hparams(model)),
        "train": _train_defaults(),
        "objective": {},
    }
    packaged = load_model_yaml(model)
    sources = [(packaged, str(model_config_path(model)))]
    if config_file:
        sources.append((_read_yaml(Path(config_file)), str(config_file)))

    def objective_name() -> str:
        return _resolve_objective_name(model, config["train"]["objective"])

    for data, where in sources:
        train = dict(data.get("train") or {})
        if "objective" in train:
            apply_overrides(config, {"train.objective": train["objective"]},
                            where)
    if overrides and "objective" in overrides:
        apply_overrides(config, {"train.objective": overrides["objective"]})
    config["objective"] = objective_hparams(objective_name())

    for data, where in sources:
        _merge_section_file(config, data, where, allow_grid=use_grid)
        if use_grid and data.get("grid"):
            apply_overrides(config, dict(data["grid"]), f"{where} grid")
    if overrides:
        apply_overrides(config, {k: v for k, v in overrides.items()
                                 if k != "objective"})
    config["train"]["objective"] = objective_name()
    return config


def _resolve_objective_name(model: str, name: str) -> str:
    if name != "auto":
        return name
    from mmgraph.models.registry import get_model_class
    return "native" if get_model_class(model).native_loss else "bpr"


def _list_default_keys(model: str, objective: str) -> set:
    from mmgraph.models.registry import model_hparams
    from mmgraph.train.objectives import objective_hparams
    keys = {("train", k) for k, v in _train_defaults().items()
            if isinstance(v, (list, tuple))}
    keys |= {("model", k) for k, v in model_hparams(model).items()
             if isinstance(v, (list, tuple))}
    keys |= {("objective", k) for k, v in objective_hparams(objective).items()
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
