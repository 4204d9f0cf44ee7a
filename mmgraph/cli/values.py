r"""Checks of the values that enter through the command line.

The ``argparse`` types (:func:`positive_int`, :func:`non_negative_int`,
:func:`positive_float`, :func:`seed_list`, :func:`separator`, ...) reject a
bad flag while the arguments are parsed, before anything is loaded;
:func:`check_train_values` applies the rules of
:class:`~mmgraph.config.TrainConfig` (:data:`mmgraph.config.TRAIN_RULES`) to
``--set`` overrides (single values and grid axes), naming the option.
Both are lightweight: no torch.
"""
from __future__ import annotations

import argparse
import math
from typing import Any, Dict, Iterable, List

from mmgraph.config import (ConfigError, check_train_value, grid_values,
                             list_valued_train_keys)

__all__ = ["positive_int", "non_negative_int", "positive_float", "non_negative_float",
           "fraction", "seed_list", "separator", "name", "check_train_values",
           "check_metric_names"]


def _number(text: str, kind=float):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    r"""An integer :math:`\geq 1`."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    r"""An integer :math:`\geq 0` (seeds, k-core)."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    r"""A finite number :math:`> 0` (learning rates)."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    r"""A finite number :math:`\geq 0`."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    r"""A number in :math:`[0, 1]`."""
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def seed_list(text: str) -> List[int]:
    r"""``'1,2,3'``: distinct non-negative integers, at least one."""
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts) or not all(parts):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 1,2,3, got {text!r}")
    seeds = [non_negative_int(p) for p in parts]
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"a seed is repeated in {text!r}")
    return seeds


def separator(text: str) -> str:
    r"""One field-separator character (``'\t'`` or ``tab`` for a tab)."""
    sep = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(sep) != 1 or sep in "\"\r\n":
        raise argparse.ArgumentTypeError(
            f"expected one character (or '\\t' for a tab), got {text!r}")
    return sep


def name(text: str) -> str:
    r"""A dataset name: a plain file stem, never a path."""
    bad = (not text or text in (".", "..") or "/" in text or "\\" in text
           or text.startswith(".") or any(c in text for c in "\0\t\r\n"))
    if bad:
        raise argparse.ArgumentTypeError(
            f"expected a name such as 'beauty' (letters, digits, '-', '_'; "
            f"not a path), got {text!r}")
    return text


def _axis_values(key: str, value: Any) -> Iterable[Any]:
    # The values of a grid axis, or the one value (the rule of expand_grid).
    values = grid_values(value, key in list_valued_train_keys())
    return [value] if values is None else values


def check_train_values(overrides: Dict[str, Any], option: str = "--set") -> None:
    r"""Raises :class:`~mmgraph.config.ConfigError` naming :obj:`option` and
    the key when an override of a ``train`` key has an impossible value
    (every value of a grid axis is checked)."""
    for key, value in overrides.items():
        section, _, bare = key.rpartition(".")
        if section not in ("", "train"):
            continue
        for v in _axis_values(bare, value):
            expected = check_train_value(bare, v)
            if expected is not None:
                raise ConfigError(f"{option} {key}: expected {expected}, got {v!r}")


def check_metric_names(metrics: Iterable[str], topk: Iterable[int], valid_metric: str,
                       known: Iterable[str], option: str = "--set") -> None:
    r"""Every metric name is known and ``valid_metric`` is ``NAME@K`` with a
    known name and a reported cut-off ``K``."""
    from mmgraph.errors import did_you_mean
    known = sorted(known)
    for m in metrics:
        # diversity_<modality>: the diversity in one modality's feature space
        if str(m).lower() not in known and not str(m).lower().startswith("diversity_"):
            raise ConfigError(f"{option} metrics: unknown metric {m!r}; expected some of "
                              f"{known}.{did_you_mean(m, known)}")
    name_, _, k = str(valid_metric).partition("@")
    if name_.lower() not in known:
        raise ConfigError(f"{option} valid_metric: unknown metric {name_!r} in "
                          f"{valid_metric!r}; expected one of {known}.{did_you_mean(name_, known)}")
    topk = list(topk)
    if not k.isdigit() or int(k) not in topk:
        raise ConfigError(f"{option} valid_metric: {valid_metric!r} needs a cut-off among "
                          f"topk {topk}")
