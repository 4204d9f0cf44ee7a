r"""One registry rule for every name-to-class table (models, objectives).

A :class:`Registry` maps names to classes:

* ``@registry.register("name")`` adds a class and sets ``cls.registry_name``.
  Registering a name again with the **same** class is a no-op (a module
  imported twice, a notebook cell run again); with a **different** class it
  raises, so a plug-in can never silently replace a built-in.
* :meth:`Registry.get` of an unknown name raises :class:`UnknownNameError`
  (a :class:`KeyError` and a :class:`~mmgraph.errors.MMGraphError`) whose
  one-line message lists the registered names and suggests the closest
  (:func:`~mmgraph.errors.did_you_mean`).
* :meth:`Registry.defaults` reads a class's keyword defaults from its
  constructor signature: the typed defaults a configuration is checked
  against, and :meth:`Registry.check_kwargs` rejects an unknown keyword the
  same way.

A leaf-level module: it imports only :mod:`mmgraph.errors`. Built-ins are
registered by importing the package that defines them, which Python always
does before it imports the module holding the registry.
"""
from __future__ import annotations

import fnmatch
import inspect
from typing import (Any, Callable, Dict, Generic, Iterable, Iterator, List,
                    TypeVar)

from mmgraph.errors import MMGraphError, did_you_mean

__all__ = ["Registry", "UnknownNameError"]

T = TypeVar("T", bound=type)


class UnknownNameError(MMGraphError, KeyError):
    r"""A name (or keyword) that a registry does not know. ``str(error)`` is
    the one-line message (not :class:`KeyError`'s quoted repr)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    r"""A table of named classes with one duplicate-name rule.

    Args:
        kind (str): What is registered, for messages (``"model"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._classes: Dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        r"""Class decorator registering ``cls`` under ``name``."""
        def wrap(cls: T) -> T:
            have = self._classes.get(name)
            if have is not None and have is not cls:
                raise ValueError(f"{self.kind} name {name!r} is already "
                                 f"registered to {have.__qualname__}; "
                                 f"choose another name for "
                                 f"{cls.__qualname__}")
            self._classes[name] = cls
            cls.registry_name = name
            return cls
        return wrap

    def names(self, pattern: str = "*") -> List[str]:
        r"""Registered names matching a glob ``pattern``, sorted."""
        return sorted(n for n in self._classes if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._classes)

    def get(self, name: str) -> T:
        r"""The class registered under ``name``."""
        if name not in self._classes:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; registered: "
                f"{', '.join(sorted(self._classes))}."
                f"{did_you_mean(name, self._classes)}")
        return self._classes[name]

    def defaults(self, name: str) -> Dict[str, Any]:
        r"""The keyword defaults of the constructor of ``name`` (parameters
        without a default, such as ``dataset`` or ``model``, are not
        options)."""
        sig = inspect.signature(self.get(name).__init__)
        return {p.name: p.default for p in sig.parameters.values()
                if p.default is not inspect.Parameter.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    def check_kwargs(self, name: str, keys: Iterable[str]) -> None:
        r"""Raises :class:`UnknownNameError` for a keyword that the
        constructor of ``name`` does not take."""
        valid = self.defaults(name)
        for key in keys:
            if key not in valid:
                raise UnknownNameError(
                    f"{self.kind} {name!r} has no parameter {key!r}; valid: "
                    f"{', '.join(sorted(valid))}.{did_you_mean(key, valid)}")

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.kind!r}, "
                f"{len(self._classes)} registered)")
