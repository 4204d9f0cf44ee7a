r"""MkDocs hooks: fill the CLI reference from the argparse parsers, so the
documented options are always the real ones.

A page line ``<!-- help: mmgraph train -->`` becomes the ``--help`` text of
``mmgraph train``; ``<!-- help: benchmarks/run.py -->`` that of the
benchmark runner.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import warnings
from pathlib import Path

# Importing torch-geometric warns about torch.jit.script; not our business.
warnings.filterwarnings("ignore", category=DeprecationWarning)

ROOT = Path(__file__).resolve().parents[1]
_MARK = re.compile(r"^<!-- help: (.+?) -->$", re.M)


def _subparser(parser: argparse.ArgumentParser, names):
    for name in names:
        sub = next(a for a in parser._actions
                   if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return parser


def _help(spec: str) -> str:
    os.environ["COLUMNS"] = "88"  # stable wrapping
    words = spec.split()
    if words[0] == "mmgraph":
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from mmgraph.cli import build_parser
        return _subparser(build_parser(), words[1:]).format_help()
    path = ROOT / words[0]
    module_spec = importlib.util.spec_from_file_location("_doc_cli", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["_doc_cli"] = module
    module_spec.loader.exec_module(module)
    return module.build_parser().format_help()


def on_page_markdown(markdown: str, **kwargs) -> str:
    return _MARK.sub(lambda m: "```text\n" + _help(m.group(1)).rstrip()
                     + "\n```", markdown)
