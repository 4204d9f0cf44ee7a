r"""The ``mmgraph`` command line.

One module per verb (:mod:`~mmgraph.cli.train`, :mod:`~mmgraph.cli.evaluate`,
:mod:`~mmgraph.cli.recommend`, :mod:`~mmgraph.cli.prepare`,
:mod:`~mmgraph.cli.info`, :mod:`~mmgraph.cli.unlearn`,
:mod:`~mmgraph.cli.list_models`); each has ``add_parser(subparsers)`` and
``run(args) -> int``. The parsers are built from lightweight modules only, so
``mmgraph --help`` and argument errors answer before torch is imported; the
verbs import the library when they run. :func:`~mmgraph.cli.app.main` holds
the one error boundary.
"""
from mmgraph.cli.app import build_parser, main

__all__ = ["main", "build_parser"]
