r"""The model registry: ``@register_model``, :func:`create_model`,
:func:`list_models`.

A registered name maps to a :class:`~mmgraph.models.Recommender` class. The
constructor's keyword defaults are the model's hyper-parameter defaults (the
only source: ``mmgraph/configs/<name>.yaml`` keeps the published grid and
notes), and ``cls.train_defaults`` holds its training defaults. The duplicate
name rule is :class:`mmgraph.registry.Registry`'s.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List

from mmgraph.config import ConfigError
from mmgraph.errors import ANTICIPATED
from mmgraph.registry import Registry

__all__ = ["MODELS", "register_model", "create_model", "list_models",
           "get_model_class", "model_hparams"]


#: The registry of models. Importing this module imports the package
#: ``mmgraph.models`` first, which registers every built-in model.
MODELS: Registry = Registry("model")


def register_model(name: str) -> Callable[[type], type]:
    r"""Class decorator registering a :class:`Recommender` under ``name``."""
    return MODELS.register(name)


def list_models(pattern: str = "*") -> List[str]:
    r"""Registered model names matching a glob ``pattern``, sorted."""
    return MODELS.names(pattern)


def get_model_class(name: str) -> type:
    r"""The class registered under ``name``, with a suggestion on a typo."""
    return MODELS.get(name)


def model_hparams(name: str) -> Dict[str, Any]:
    r"""The constructor's keyword defaults of model ``name`` (the typed
    defaults that configs are checked against)."""
    return MODELS.defaults(name)


def create_model(name: str, dataset, **hparams: Any):
    r"""Builds model ``name`` on ``dataset``.

    Keyword arguments override the model's defaults; ``None`` values are
    dropped so the model keeps its default. An unknown keyword is an error
    that names the nearest valid one; a value the constructor refuses (its
    :class:`ValueError` or :class:`TypeError`, e.g. ``n_layers=-1``) and a
    non-positive ``embedding_dim`` are a :class:`~mmgraph.config.ConfigError`
    naming the model (``model 'lightgcn': n_layers must be >= 0 (got -1)``).
    """
    cls = MODELS.get(name)
    given = {k: v for k, v in hparams.items() if v is not None}
    MODELS.check_kwargs(name, given)
    dim = given.get("embedding_dim")
    # A 0-dim model would train (and score every item 0) without a word.
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
        raise ConfigError(f"model {name!r}: embedding_dim must be a positive integer "
                          f"(got {dim!r})")
    try:
        model = cls(dataset, **given)
    except ANTICIPATED:  # already one line naming what is wrong (e.g. the data)
        raise
    except (ValueError, TypeError) as e:  # the constructor's range checks
        raise ConfigError(f"model {name!r}: {e}") from e
    model.hparams = {**MODELS.defaults(name), **given}
    return model
