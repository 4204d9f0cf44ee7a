r"""A griffe extension for the API pages: mmgraph's docstrings follow PyTorch
Geometric's style (Google ``Args:`` sections with reStructuredText inline
markup); this rewrites the reST bits into the Markdown that mkdocstrings
renders (MathJax through ``pymdownx.arithmatex``).

* ``.. math::`` blocks -> ``$$ ... $$``; ``:math:`x``` -> ``$x$``
* ``:class:`~a.b.C``` -> ```C```, ``:func:`a.b``` -> ```a.b``` (all roles)
* ````code```` -> ```code```
* ```"Title" <url>`_`` -> ``["Title"](url)``
* ``.. note::`` / ``.. warning::`` -> admonitions; a paragraph ending in
  ``::`` -> ``:`` (the indented block after it stays a code block)
"""
from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|obj|attr|mod|data|exc|const)"
                   r":`~?([^`]+)`")
_MATH = re.compile(r":math:`([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")
_LINK = re.compile(r"`([^`<]+?)\s*<(https?://[^>]+)>`__?")
_DIRECTIVE = re.compile(r"^(\s*)\.\. (math|note|warning|tip)::\s*(.*)$")


def _short(match: re.Match) -> str:
    target = match.group(0)
    name = match.group(1)
    if "~" in target.split("`")[1][:1]:
        name = name.rsplit(".", 1)[-1]
    return f"`{name}`"


def _blocks(text: str) -> str:
    lines = text.split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = _DIRECTIVE.match(lines[i])
        if not m:
            line = lines[i]
            if line.rstrip().endswith("::") and line.strip() != "::":
                line = line.rstrip()[:-1]
            elif line.strip() == "::":
                line = ""
            out.append(line)
            i += 1
            continue
        indent, kind, rest = m.groups()
        body = [rest] if rest else []
        i += 1
        while i < len(lines) and (not lines[i].strip() or
                                  len(lines[i]) - len(lines[i].lstrip())
                                  > len(indent)):
            body.append(lines[i])
            i += 1
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        width = min((len(b) - len(b.lstrip()) for b in body if b.strip()),
                    default=0)
        body = [b[width:] for b in body]
        if kind == "math":
            out += [f"{indent}$$"] + [f"{indent}{b}" for b in body] + \
                [f"{indent}$$"]
        else:
            out += [f"{indent}!!! {kind}"] + \
                [f"{indent}    {b}" if b else "" for b in body]
        if i < len(lines) and lines[i].strip():
            out.append("")
    return "\n".join(out)


def rst_to_markdown(text: str) -> str:
    r"""The conversion applied to every docstring."""
    text = _blocks(text)
    text = _MATH.sub(lambda m: f"${m.group(1)}$", text)
    text = _ROLE.sub(_short, text)
    text = _LINK.sub(lambda m: f"[{m.group(1).strip()}]({m.group(2)})", text)
    text = _LITERAL.sub(lambda m: f"`{m.group(1)}`", text)
    return text


class ReSTToMarkdown(griffe.Extension):
    r"""Rewrites each docstring once the object tree is loaded."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
