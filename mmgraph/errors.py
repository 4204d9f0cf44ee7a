r"""The error types of mmgraph.

Every failure a user can cause (bad input, a bad value, a run folder that is
missing, corrupt, locked or does not match) is raised as a subclass of
:class:`MMGraphError` (or the config leaf's :class:`~mmgraph.config.ConfigError`)
whose message is one line naming the file, the line or field, or the option,
and what was expected. The CLI turns exactly these (:data:`ANTICIPATED`) into a
one-line message and exit status 2.

A leaf module: it imports nothing from mmgraph but the config leaf.
"""
from __future__ import annotations

import difflib
import os
from typing import Optional, Union

from mmgraph.config import ConfigError

__all__ = ["MMGraphError", "DataFormatError", "MissingExtraError", "did_you_mean",
           "RunFolderError", "ConfigError", "ANTICIPATED"]


class MMGraphError(Exception):
    r"""Base of the anticipated failures; ``str(error)`` is the one-line
    message shown to the user."""



class DataFormatError(MMGraphError, ValueError):
    r"""Malformed input data.

    Args:
        message (str): What is wrong and what was expected.
        path (str or os.PathLike, optional): The offending file.
        line (int, optional): 1-based line number inside :obj:`path`.
        field (str, optional): The offending column / field / key.
    """

    def __init__(
        self,
        message: str,
        path: Optional[Union[str, os.PathLike]] = None,
        line: Optional[int] = None,
        field: Optional[str] = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        self.reason = message
        where = []
        if self.path is not None:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)


class MissingExtraError(MMGraphError, ImportError):
    r"""An optional dependency is missing; the message names the extra to
    install (e.g. ``pip install mmgraph[text]``)."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the optional package '{package}', which is not "
            f"installed. Install it with: pip install 'mmgraph[{extra}]'")
        self.package = package
        self.extra = extra


class RunFolderError(MMGraphError, ValueError):
    r"""A run or grid folder that is missing, corrupt, locked by another
    writer, already holds a finished run, or does not match what a command
    asks of it (model, configuration, dataset fingerprint).

    Args:
        message (str): What is wrong and what to do.
        path (str or os.PathLike, optional): The folder or file.
    """

    def __init__(self, message: str,
                 path: Optional[Union[str, os.PathLike]] = None) -> None:
        self.path = None if path is None else str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


#: What the CLI's error boundary turns into one line and exit status 2.
ANTICIPATED = (MMGraphError, ConfigError)


def did_you_mean(name: str, choices) -> str:
    r"""``" Did you mean 'x'?"`` for the closest of :obj:`choices` to
    :obj:`name`, or ``""`` when none is close: the one hint every unknown
    name (model, objective, key, metric, format) gets."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
