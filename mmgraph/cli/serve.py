r"""``mmgraph serve``: top-k recommendations of a run over HTTP
(``GET /recommend?user=ID&k=K``, ``GET /health``); see :mod:`mmgraph.serve`."""
from __future__ import annotations

import argparse

from mmgraph.cli import values

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("serve", help="serve a run's top-k recommendations over HTTP")
    p.add_argument("--run", required=True,
                   help="a run, grid or search folder, or an npz export")
    p.add_argument("--port", type=values.non_negative_int, default=8000,
                   help="port (default 8000; 0: any free port)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")
    return p


def run(args: argparse.Namespace) -> int:
    r"""Blocks until interrupted (Ctrl-C ends it with status 0)."""
    from mmgraph.serve import serve
    serve(args.run, args.host, args.port)
    return 0
