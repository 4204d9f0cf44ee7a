r"""The parser of ``mmgraph`` and its one error boundary.

:func:`main` turns every anticipated failure into **one line** on stderr and
exit status 2:

* :data:`mmgraph.errors.ANTICIPATED` (bad input, bad values, run folders that
  are missing, corrupt or do not match), printed as ``error: <message>``;
* :class:`OSError` (a missing, unreadable or unwritable file or folder),
  printed as ``error: <file>: <reason>``;
* argument errors (argparse), printed as ``error: <option>: <what>``;
* a training loss that is no longer finite (:class:`FloatingPointError`),
  printed as ``error: training diverged: <epoch and loss>``.

A missing optional extra exits with 1, Ctrl-C with 130 (one line saying what
was kept and how to resume), a closed output pipe (``mmgraph ... | head``)
quietly with 2. Anything else is a bug and keeps its traceback; ``--debug``
shows the traceback of every failure.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, NoReturn, Optional

from mmgraph.cli import (evaluate, export, info, list_models, prepare, recommend,
                         serve, train, unlearn)
from mmgraph.errors import ANTICIPATED, MissingExtraError, did_you_mean

__all__ = ["main", "build_parser", "VERBS", "EXIT_ERROR", "EXIT_EXTRA",
           "EXIT_INTERRUPTED"]

#: The verb modules, in the order ``--help`` lists them.
VERBS = (list_models, prepare, info, train, evaluate, recommend, unlearn, export, serve)

EXIT_ERROR = 2
EXIT_EXTRA = 1
EXIT_INTERRUPTED = 130


def one_line(text: str) -> str:
    r"""The message on one line (inner line breaks become ``' | '``)."""
    lines = [s.strip() for s in str(text).strip().splitlines() if s.strip()]
    return " | ".join(lines) if lines else "(no message)"


class Parser(argparse.ArgumentParser):
    r"""An :class:`argparse.ArgumentParser` whose usage errors are one line
    (``error: <option>: <what> (see '<prog> --help')``), exit status 2, and
    which takes options only as spelt (no abbreviations: ``--over`` is not
    ``--overwrite``)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        # Unknown options are reported by the verb's parser (its usage and
        # help), with the nearest option it has.
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            target = self._verb_parser(namespace) or self
            options = [o for a in target._actions for o in a.option_strings]
            first = next((e for e in extras if e.startswith("-")), "")
            hint = did_you_mean(first.split("=", 1)[0], options) if first else ""
            target.error(f"unrecognized arguments: {' '.join(extras)}.{hint}"
                         if hint else f"unrecognized arguments: {' '.join(extras)}")
        return namespace

    def _verb_parser(self, namespace) -> Optional[argparse.ArgumentParser]:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action.choices.get(getattr(namespace, action.dest, None))
        return None

    def error(self, message: str) -> NoReturn:
        if message.startswith("argument "):
            option, _, what = message[len("argument "):].partition(": ")
            message = f"{option}: {what}" if what else option
        self.exit(EXIT_ERROR, f"error: {one_line(message)} (see '{self.prog} --help')\n")


def _add_common(parser: argparse.ArgumentParser, top: bool) -> None:
    # On a sub-command the defaults are SUPPRESSed so that they do not
    # overwrite a flag given before the verb.
    default = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging", **default)
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of any failure", **default)


def build_parser() -> argparse.ArgumentParser:
    r"""The ``mmgraph`` parser (imports no torch)."""
    parser = Parser(prog="mmgraph",
                    description="Multimodal recommendation on PyTorch Geometric.")
    _add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=Parser)
    for verb in VERBS:
        p = verb.add_parser(sub)
        _add_common(p, top=False)
        p.set_defaults(func=verb.run, verb=verb)
    return parser


def _setup_logging(verbose: bool) -> None:
    # The command is the application: it owns the root logger, bound to the
    # current stderr (force: main() may run several times in one process).
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr, force=True)


def _os_message(e: OSError) -> str:
    reason = e.strerror or type(e).__name__
    names = [n for n in (e.filename, e.filename2) if n is not None]
    if names:
        return f"{' -> '.join(os.fsdecode(n) for n in names)}: {reason}"
    return one_line(str(e)) if str(e) else reason


def _fail(message: str, status: int = EXIT_ERROR) -> int:
    print(f"error: {one_line(message)}", file=sys.stderr)
    return status


def _silence_stdout() -> None:
    # The reader went away: further writes (and the interpreter's final
    # flush) must not raise again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced (tests)
        pass


def main(argv: Optional[List[str]] = None) -> int:
    r"""Runs ``mmgraph`` with :obj:`argv` (default ``sys.argv[1:]``) and
    returns the exit status (``--help`` included: it returns 0)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2, already printed)
        return e.code if isinstance(e.code, int) else EXIT_ERROR
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if args.debug:
            raise
        hint = getattr(args.verb, "interrupted", None)
        return _fail(f"interrupted; {hint(args) if hint else 'nothing was written'}",
                     EXIT_INTERRUPTED)
    except BrokenPipeError:
        if args.debug:
            raise
        _silence_stdout()
        return EXIT_ERROR
    except MissingExtraError as e:
        if args.debug:
            raise
        return _fail(str(e), EXIT_EXTRA)
    except ANTICIPATED as e:
        if args.debug:
            raise
        return _fail(str(e))
    except OSError as e:
        if args.debug:
            raise
        return _fail(_os_message(e))
    except FloatingPointError as e:  # the Trainer's non-finite loss check
        if args.debug:
            raise
        return _fail(f"training diverged: {e}")
