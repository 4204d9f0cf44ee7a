r"""The run-integrity catalogue (issue #12): every bad input or fault ends
with its exit status, one line on stderr naming the file, line or option, no
traceback, and earlier datasets and runs byte-for-byte unchanged.

The cases live in :mod:`tests.cli.catalogue` (also the source of
``docs/cli-errors.md``); most run in-process through :func:`mmgraph.cli.main`,
signals and pipes in a child process.
"""
import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from mmgraph.cli import main

from .catalogue import CASES, GROUPS, PAGE, render_page

ROOT = Path(__file__).resolve().parents[2]


def _tree_hash(folder: Path) -> dict:
    if not folder.exists():
        return {}
    if folder.is_file():
        return {"": hashlib.sha256(folder.read_bytes()).hexdigest()}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalogue")
    seq = root / "raw" / "user_sequence.txt"
    seq.parent.mkdir()
    lines = [" ".join([f"u{u}"] + [f"i{(u * 3 + j) % 8}" for j in range(6)])
             for u in range(12)]
    seq.write_text("\n".join(lines) + "\n")
    assert main(["prepare", "--format", "sequence", "--interactions", str(seq), "--name", "x",
                 "--split", "loo", "--out", str(root / "ds")]) == 0
    assert main(["train", "--model", "mf", "--data", str(root / "ds"), "--epochs", "2",
                 "--set", "batch_size=16", "--set", "valid_metric=recall@5",
                 "--out", str(root / "run"), "--no-progress"]) == 0
    return SimpleNamespace(ds=root / "ds", run=root / "run", seq=seq)


def _env(base, tmp_path):
    env = SimpleNamespace(tmp=tmp_path, ds=base.ds, run=base.run, seq=base.seq)
    fmt = {k: str(v) for k, v in vars(env).items()}
    return env, fmt


LOG_RECORD = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING) ")


def _check_message(case, err, fmt):
    r"""No traceback; stderr is the one-line message, after at most the log
    records of work done before the failure (``HH:MM:SS INFO ...``)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    if case.names == "":
        assert lines == [], err  # quiet
        return
    assert lines, "nothing on stderr"
    message, logs = lines[-1], lines[:-1]
    assert all(LOG_RECORD.match(line) for line in logs), \
        f"expected one line on stderr (after log records), got:\n{err}"
    assert message.startswith("error: "), message
    assert case.names.format(**fmt) in message, (case.names.format(**fmt), message)


IN_PROCESS = [c for c in CASES if not c.subprocess]
CHILD = [c for c in CASES if c.subprocess]


@pytest.mark.parametrize("case", IN_PROCESS, ids=[c.id for c in IN_PROCESS])
def test_case(case, base, tmp_path, capsys):
    if case.needs_no_cuda:
        import torch
        if torch.cuda.is_available():
            pytest.skip("a CUDA device is available")
    env, fmt = _env(base, tmp_path)
    if case.setup is not None:
        case.setup(env)
    protected = {p: _tree_hash(Path(p.format(**fmt))) for p in case.protect}
    capsys.readouterr()
    argv = [a.format(**fmt) for a in shlex.split(case.argv)]
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == case.code, f"exit {rc}, expected {case.code}; stderr: {err}"
    if case.names is None:
        assert "Traceback" not in err and "error:" not in err, err
        case.check(env, out, err)
    else:
        _check_message(case, err, fmt)
    for p, before in protected.items():
        assert _tree_hash(Path(p.format(**fmt))) == before, f"{p} changed"


def _child(argv, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    # A job started in the background inherits an ignored SIGINT, and Python
    # then installs no KeyboardInterrupt handler: give the child the default.
    return subprocess.Popen([sys.executable, "-m", "mmgraph.cli", *argv], cwd=str(ROOT),
                            env=env, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            **kw)


def _interrupt_when(proc, ready, lines, timeout=600):
    r"""Reads stderr in the background; sends SIGINT once ``ready()``."""
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the command ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=300)
    reader.join(timeout=30)


@pytest.mark.parametrize("case", CHILD, ids=[c.id for c in CHILD])
def test_child_case(case, base, tmp_path):
    env, fmt = _env(base, tmp_path)
    argv = [a.format(**fmt) for a in shlex.split(case.argv)]
    if case.id == "broken-pipe":
        proc = _child(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.close()  # the reader is gone before anything is written
        err = proc.stderr.read()
        proc.wait(timeout=300)
        assert proc.returncode == case.code
        _check_message(case, err, fmt)
        return
    if case.id == "two-trainings":
        return _two_trainings(case, argv, tmp_path, fmt)
    lines: list = []
    proc = _child(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if "--out" in argv:
        checkpoint = tmp_path / "run" / "checkpoint.pt"
        _interrupt_when(proc, checkpoint.exists, lines)
        assert checkpoint.exists()  # the last checkpoint is kept
    else:
        _interrupt_when(proc, lambda: any("epoch" in s for s in lines), lines)
    err = "".join(lines)
    assert proc.returncode == case.code, err
    assert "Traceback" not in err, err
    errors = [s for s in err.splitlines() if s.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: interrupted"), err
    assert case.names.format(**fmt) in errors[0], errors[0]


def _two_trainings(case, argv, tmp_path, fmt):
    r"""Two real processes train into the same folder: the first is paused
    (SIGSTOP) while it holds the lock, the second must fail on the lock
    without touching the folder, then the first completes."""
    run = tmp_path / "run"
    first = _child(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines: list = []
    reader = threading.Thread(target=lambda: lines.extend(first.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 600
    while not (run / "checkpoint.pt").exists() and first.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGSTOP)
    try:
        assert first.poll() is None, "the first training ended before the second started"
        before = _tree_hash(run)
        second = _child(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = second.communicate(timeout=600)
        assert _tree_hash(run) == before, "the second writer changed the folder"
    finally:
        os.kill(first.pid, signal.SIGCONT)
    first.wait(timeout=600)
    reader.join(timeout=30)
    assert second.returncode == case.code, err
    _check_message(case, err, fmt)
    assert first.returncode == 0, "".join(lines)
    assert not (run / ".lock").exists()
    results = json.loads((run / "results.json").read_text())
    assert results["finished"] and results["epochs"] == 3


def test_catalogue_size_and_shape():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 160
    assert {c.group for c in CASES} <= set(GROUPS)
    for c in CASES:
        assert (c.names is None) == (c.check is not None) or c.subprocess, c.id
        assert (c.code == 0) == (c.names is None), c.id


def test_docs_page_is_current():
    assert PAGE.read_text() == render_page(), \
        "docs/cli-errors.md is out of date: run python -m tests.cli.catalogue"
