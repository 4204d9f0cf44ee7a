r"""Every command the README, the docs, ``benchmarks/README.md`` and the
examples' docstrings show -- ``mmgraph ...`` and ``python benchmarks/X.py``,
``python examples/X.py`` -- parses as written: a renamed or removed option,
or a misspelt verb, in a command a user copies fails here (parsing only:
their data does not exist)."""
import re
import shlex
from pathlib import Path

import pytest

from mmgraph.cli.app import build_parser

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")),
           *sorted((ROOT / "examples").glob("*.py")),
           *sorted((ROOT / "benchmarks").glob("*.md"))]
# ``mmgraph VERB`` as a shell command: at the start of a line (after a
# prompt, environment assignments or ``&&``), or run by ``python -m`` or
# ``torchrun -m mmgraph.cli [--]``.
COMMAND = re.compile(
    r"(?:^|&&|;)\s*(?:\$\s+)?(?:[A-Z_]+=\S+\s+)*"
    r"(?:mmgraph|(?:python3?|torchrun[^|;&]*?)\s+-m\s+mmgraph\.cli(?:\s+--)?)"
    r"\s+([a-z][\w-]*(?:\s.*)?)$")


def documented_lines():
    r"""``(source, line)`` for each line of the sources' code: the fenced
    blocks of a Markdown file, all of an example; a backslash-newline
    continues a command on the next line."""
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        blocks = re.findall(r"```[^\n]*\n(.*?)```", text, re.S) \
            if path.suffix == ".md" else [text]
        for block in blocks:
            for line in re.sub(r"\\\n", " ", block).splitlines():
                yield path.relative_to(ROOT), line.strip()


def documented_commands():
    found = []
    for source, line in documented_lines():
        match = COMMAND.search(line)
        if match:
            found.append(pytest.param(match.group(1),
                                      id=f"{source}:{len(found)}"))
    return found


COMMANDS = documented_commands()


def test_the_docs_show_commands_of_every_verb():
    verbs = {shlex.split(p.values[0], comments=True)[0] for p in COMMANDS}
    assert {"prepare", "train", "evaluate", "recommend", "unlearn", "export",
            "serve", "info", "list-models"} <= verbs, verbs


@pytest.mark.parametrize("command", COMMANDS)
def test_documented_command_parses(command, capsys):
    argv = shlex.split(command, comments=True)
    # an elided value (``--data ...``) stands for any value
    argv = ["X" if a in ("...", "…") else a for a in argv]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        pytest.fail(f"mmgraph {command!r} does not parse (exit {e.code}): "
                    f"{capsys.readouterr().err.strip()}")
    assert args.command == argv[0]


SCRIPT = re.compile(r"(?:^|&&|;)\s*(?:\$\s+)?(?:[A-Z_]+=\S+\s+)*python3?\s+"
                    r"((?:benchmarks|examples)/\w+\.py)(\s.*)?$")


def documented_scripts():
    found = []
    for source, line in documented_lines():
        match = SCRIPT.search(line)
        if match and "[--" not in line:  # not a usage synopsis
            found.append(pytest.param(match.group(1), match.group(2) or "",
                                      id=f"{source}:{len(found)}"))
    return found


SCRIPTS = documented_scripts()


class _Parsed(Exception):
    pass


@pytest.mark.parametrize("script,arguments", SCRIPTS)
def test_documented_script_command_parses(script, arguments, monkeypatch,
                                          capsys):
    r"""``python benchmarks/X.py ...`` and ``python examples/X.py ...`` as
    the docs show them: their options parse (the script stops right after
    parsing, before any work)."""
    import argparse
    import runpy

    from mmgraph.models.registry import MODELS
    argv = ["X" if a in ("...", "…") else a
            for a in shlex.split(arguments, comments=True)]
    source = (ROOT / script).read_text(encoding="utf-8")
    if "argparse" not in source and "_common" not in source:
        assert not argv, f"{script} takes no options"
        return
    parse = argparse.ArgumentParser.parse_args

    def parse_only(self, args=None, namespace=None):
        parse(self, args, namespace)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_only)
    monkeypatch.setattr("sys.argv", [str(ROOT / script), *argv])
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.syspath_prepend(str((ROOT / script).parent))  # as python X.py
    # an example that registers a model registers it in a throw-away copy
    # of the built-in models (another test may have imported it already)
    monkeypatch.setattr(MODELS, "_classes", {
        name: cls for name, cls in MODELS._classes.items()
        if cls.__module__.startswith("mmgraph.")})
    try:
        runpy.run_path(str(ROOT / script), run_name="__main__")
    except _Parsed:
        return
    except SystemExit as e:
        pytest.fail(f"python {script}{arguments} does not parse (exit "
                    f"{e.code}): {capsys.readouterr().err.strip()}")
    pytest.fail(f"{script} never parsed its arguments with argparse")


def test_torchrun_launches_separate_the_subcommand():
    r"""``torchrun`` reads an option after the script that abbreviates one
    of its own (``--run`` -> ``--run-path``, ``--log`` -> ``--log-dir``) as
    its own, and stops on "ambiguous option": the documented launches put
    ``--`` before the subcommand."""
    launches = [(path.name, line) for path in SOURCES
                for line in re.sub(r"\\\n", " ", path.read_text(
                    encoding="utf-8")).splitlines()
                if re.search(r"torchrun\s.*-m\s+mmgraph\.cli", line)]
    assert launches
    for name, line in launches:
        assert re.search(r"-m\s+mmgraph\.cli\s+--\s", line), (name, line)
