r"""Error types of :mod:`mmgraph.data`.

Bad input is reported with :class:`DataFormatError`, whose message names the
file, the line or field, and what was expected, so that a user never sees a
traceback from deep inside numpy or torch.
"""
from __future__ import annotations

import os
from typing import Optional, Union

__all__ = ["DataFormatError", "MissingExtraError"]


class DataFormatError(ValueError):
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


class MissingExtraError(ImportError):
    r"""An optional dependency is missing; the message names the extra to
    install (e.g. ``pip install mmgraph[text]``)."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the optional package '{package}', which is not "
            f"installed. Install it with: pip install 'mmgraph[{extra}]'")
        self.package = package
        self.extra = extra
