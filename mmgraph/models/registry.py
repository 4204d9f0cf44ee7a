r"""The model registry: ``@register_model``, :func:`create_model`,
:func:`list_models`.

A registered name maps to a :class:`~mmgraph.models.Recommender` class and
its default hyper-parameters, read from ``mmgraph/configs/<name>.yaml``.
"""
from __future__ import annotations

import fnmatch
import inspect
from typing import Any, Callable, Dict, List

__all__ = ["register_model", "create_model", "list_models", "get_model_class",
           "model_hparams"]

_MODELS: Dict[str, type] = {}


def register_model(name: str) -> Callable[[type], type]:
    r"""Class decorator registering a :class:`Recommender` under ``name``."""
    def wrap(cls: type) -> type:
        if name in _MODELS and _MODELS[name] is not cls:
            raise ValueError(f"register_model: the name {name!r} is already "
                             f"taken by {_MODELS[name].__name__}")
        _MODELS[name] = cls
        cls.registry_name = name
        return cls
    return wrap


def list_models(pattern: str = "*") -> List[str]:
    r"""Registered model names matching a glob ``pattern``, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def get_model_class(name: str) -> type:
    r"""The class registered under ``name``, with a suggestion on a typo."""
    if name not in _MODELS:
        import difflib
        close = difflib.get_close_matches(name, _MODELS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown model {name!r}; registered models: "
                       f"{', '.join(sorted(_MODELS))}.{hint}")
    return _MODELS[name]


def model_hparams(name: str) -> Dict[str, Any]:
    r"""The constructor's keyword defaults of model ``name`` (the typed
    defaults that configs are checked against)."""
    cls = get_model_class(name)
    sig = inspect.signature(cls.__init__)
    return {p.name: p.default for p in sig.parameters.values()
            if p.name not in ("self", "dataset")
            and p.default is not inspect.Parameter.empty}


def create_model(name: str, dataset, **hparams: Any):
    r"""Builds model ``name`` on ``dataset``.

    Keyword arguments override the model's defaults; ``None`` values are
    dropped so the model keeps its default. An unknown keyword is an error
    that names the nearest valid one.
    """
    cls = get_model_class(name)
    defaults = model_hparams(name)
    given = {k: v for k, v in hparams.items() if v is not None}
    for key in given:
        if key not in defaults:
            import difflib
            close = difflib.get_close_matches(key, defaults, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise KeyError(f"model {name!r} has no hyper-parameter {key!r}; "
                           f"valid: {', '.join(sorted(defaults))}.{hint}")
    model = cls(dataset, **given)
    model.hparams = {**defaults, **given}
    return model
