r"""``benchmarks/allreduce.py`` at a tiny shape: both ways of each exchange
run on two gloo ranks, agree (the script asserts it), and are reported."""
import json

import pytest

from tests.benchmarks.scripts import load_script

pytestmark = [pytest.mark.distributed, pytest.mark.slow]


def test_allreduce_benchmark_reports_both_ways(tmp_path):
    script = load_script("allreduce")
    assert script.main(["--shape", "tiny", "--repeats", "2",
                        "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "allreduce.json").read_text())
    kinds = {r["gradient"]: r for r in report["rows"]}
    assert set(kinds) == {"dense tables", "row-sparse rows"}
    for row in kinds.values():
        assert row["before_wall_s"] > 0 and row["now_wall_s"] > 0
        assert row["speedup"] == pytest.approx(
            row["before_wall_s"] / row["now_wall_s"])
    assert "row-sparse rows" in (tmp_path / "allreduce.md").read_text()
