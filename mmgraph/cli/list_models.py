r"""``mmgraph list-models``: the registered models."""
from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("list-models", help="list the registered models")
    p.add_argument("pattern", nargs="?", default="*", help="a glob such as 'l*'")
    return p


def run(args: argparse.Namespace) -> int:
    from mmgraph.models import get_model_class, list_models
    from mmgraph.report import format_table
    rows = []
    for model in list_models(args.pattern):
        cls = get_model_class(model)
        doc = (cls.__doc__ or "").strip().splitlines()
        rows.append([model, cls.__name__, "yes" if cls.multimodal else "no",
                     "native" if cls.native_loss else "bpr", (doc[0] if doc else "")[:60]])
    print(format_table(rows, ["name", "class", "multimodal", "loss", "description"]))
    return 0
