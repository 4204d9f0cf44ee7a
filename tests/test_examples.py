"""Every examples/*.py runs as it stands, in fast mode (``--fast`` and
``MMGRAPH_FAST=1``), in a subprocess.

The scripts start together, two at a time, when the first of these tests
runs (each takes seconds; most of it is importing torch), so the whole file
stays well under two minutes. Marked ``slow``: ``pytest -m "not slow"``
skips them.
"""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# `_name.py`: code the examples share, not an example.
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py")
                  if not p.name.startswith("_"))
TIMEOUT = 240  # seconds per script: a failure, not a hang, on a slow machine

#: A line each example must print (beyond exiting with status 0).
EXPECTED = {
    "quickstart.py": "FREEDOM: test recall@20",
    "own_data.py": "recommended (top 3)",
    "bm3.py": "after zeroing every feature matrix: 0.0e+00",
    "cm3.py": "mean user attention per channel",
    "lirdrec.py": "w1 (closed form)",
    "custom_model.py": "learned modality attention",
    "unlearning.py": "mmrecun + fresh rows",
}

pytestmark = pytest.mark.slow


def _run(path: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, MMGRAPH_FAST="1", MPLBACKEND="Agg")
    # Two scripts share the machine: one thread each avoids oversubscription.
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    # Runnable from a plain checkout too (no `pip install -e .`).
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    try:
        return subprocess.run([sys.executable, str(path), "--fast"],
                              cwd=str(cwd), env=env, capture_output=True,
                              text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(e.cmd, -1, e.stdout or "",
                                           f"timed out after {TIMEOUT} s")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    # Each script runs in its own empty folder: whatever it writes by default
    # stays out of the checkout.
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {p.name: pool.submit(
            _run, p, tmp_path_factory.mktemp(p.stem)) for p in EXAMPLES}
        yield futures


def test_the_documented_examples_exist():
    names = {p.name for p in EXAMPLES}
    assert set(EXPECTED) <= names


@pytest.mark.parametrize("name", [p.name for p in EXAMPLES])
def test_example_runs_in_fast_mode(runs, name):
    proc = runs[name].result()
    assert proc.returncode == 0, (
        f"{name} exited with {proc.returncode}\n--- stdout\n"
        f"{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}")
    if name in EXPECTED:
        assert EXPECTED[name] in proc.stdout, proc.stdout[-3000:]
