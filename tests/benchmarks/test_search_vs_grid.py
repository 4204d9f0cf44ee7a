"""benchmarks/search_vs_grid.py: the seconds it reports for each side."""
import json

import pytest

from .scripts import load_script


@pytest.fixture(scope="module")
def svg():
    return load_script("search_vs_grid", "bench_search_vs_grid")


def _run(folder, finished, history, wall):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(
        {"finished": finished, "wall_seconds": wall, "history": history}))


def test_run_seconds_sums_every_epoch_of_finished_runs(svg, tmp_path):
    # A resumed run's wall_seconds counts only its last call (here 1 s);
    # the per-epoch records count all of it. Unfinished runs are left out.
    _run(tmp_path / "a", True, [{"train_seconds": 2.0, "eval_seconds": 0.5},
                                {"train_seconds": 3.0, "eval_seconds": 0.5}],
         wall=1.0)
    _run(tmp_path / "b", True, [{"train_seconds": 1.0, "eval_seconds": 1.0}],
         wall=2.0)
    _run(tmp_path / "c", False, [{"train_seconds": 9.0, "eval_seconds": 9.0}],
         wall=18.0)
    assert svg.run_seconds(tmp_path) == pytest.approx(8.0)
    assert svg.run_seconds(tmp_path / "missing") == 0.0
