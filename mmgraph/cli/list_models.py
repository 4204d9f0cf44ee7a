r"""``mmgraph list-models``: the registered models."""
from __future__ import annotations

import argparse
import re

__all__ = ["add_parser", "run", "summary"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("list-models", help="list the registered models")
    p.add_argument("pattern", nargs="?", default="*", help="a glob such as 'l*'")
    return p


# reST markup of the docstrings' first paragraphs: a link `text <url>`_, a
# role :class:`~a.b.C` (shown as C), a literal ``x``.
_LINK = re.compile(r"`([^`<]*?)\s*<[^`>]*>`_+")
_ROLE = re.compile(r":[\w:]+:`~?([^`]*)`")
_LITERAL = re.compile(r"``([^`]*)``")


def summary(doc: str) -> str:
    r"""The first sentence of a docstring on one line, without reST markup.
    A sentence ends at a ``.`` or ``:`` outside quotes and parentheses, so a
    paper's title and its citation stay whole."""
    paragraph = re.split(r"\n\s*\n", (doc or "").strip(), maxsplit=1)[0]
    text = " ".join(paragraph.split())
    text = _LINK.sub(r"\1", text)
    text = _ROLE.sub(lambda m: m.group(1).rpartition(".")[2] if "~" in m.group(0)
                     else m.group(1), text)
    text = _LITERAL.sub(r"\1", text).replace("**", "")
    depth, quoted = 0, False
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif c == "(":
            depth += 1
        elif c == ")":
            depth = max(depth - 1, 0)
        elif c in ".:" and not quoted and depth == 0 and text[i + 1:i + 2] in ("", " "):
            return text[:i]
    return text.rstrip(",; ")


def run(args: argparse.Namespace) -> int:
    from mmgraph.config import ConfigError
    from mmgraph.models import get_model_class, list_models
    from mmgraph.report import format_table
    rows = []
    for model in list_models(args.pattern):
        cls = get_model_class(model)
        rows.append([model, cls.__name__, "yes" if cls.multimodal else "no",
                     "native" if cls.native_loss else "bpr", summary(cls.__doc__ or "")])
    if not rows:
        raise ConfigError(f"no model matches {args.pattern!r} (see 'mmgraph list-models')")
    print(format_table(rows, ["name", "class", "multimodal", "loss", "description"]))
    return 0
