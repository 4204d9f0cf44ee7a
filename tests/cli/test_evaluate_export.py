import subprocess
import sys

import pytest

from mmgraph.cli import main


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    r"""A two-seed grid folder of one point (``runs/0-seed1``, ``runs/0-seed2``)."""
    from mmgraph.data import make_synthetic
    root = tmp_path_factory.mktemp("grid")
    make_synthetic(out=root / "data", num_users=80, num_items=50, avg_degree=8, seed=0)
    out = root / "grid"
    assert main(["train", "--model", "mf", "--data", str(root / "data"), "--seeds", "1,2",
                 "--set", "epochs=1", "--no-progress", "--out", str(out)]) == 0
    return out


def test_evaluate_names_the_run_of_a_grid_folder(grid, capsys):
    capsys.readouterr()
    assert main(["evaluate", "--run", str(grid), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert f"using run {grid / 'runs' / '0-seed1'}: seed 1, one of the 2 seeds" in out
    # a plain run folder is what it says: no note
    assert main(["evaluate", "--run", str(grid / "runs" / "0-seed2"), "--split", "test"]) == 0
    assert "using run" not in capsys.readouterr().out


def test_export_refuses_an_existing_file_unless_overwrite(grid, tmp_path, capsys):
    out = tmp_path / "e.npz"
    capsys.readouterr()
    assert main(["export", "--run", str(grid), "--format", "npz", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"using run {grid / 'runs' / '0-seed1'}" in printed and f"wrote {out}" in printed
    out.write_bytes(b"mine")
    assert main(["export", "--run", str(grid), "--format", "npz", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out) in err[0] and "--overwrite" in err[0]
    assert out.read_bytes() == b"mine"  # nothing lost
    assert main(["export", "--run", str(grid), "--format", "npz", "--out", str(out),
                 "--overwrite"]) == 0
    assert out.read_bytes() != b"mine"


def test_faiss_loader_logs_stay_quiet():
    pytest.importorskip("faiss")
    # a fresh interpreter: faiss logs how it loaded only on its first import
    code = ("import logging; logging.basicConfig(level=logging.INFO); "
            "from mmgraph.export import _require; _require('faiss', 'export', 'x'); "
            "assert logging.getLogger('faiss').level == logging.NOTSET")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "faiss.loader" not in done.stderr and "AVX" not in done.stderr
