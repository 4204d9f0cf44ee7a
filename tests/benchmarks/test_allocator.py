"""benchmarks/allocator.py: both allocator settings measured per model,
side by side (the workers run in subprocesses, hence slow)."""
import json
from pathlib import Path

import pytest

from .scripts import load_script

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def allocator():
    return load_script("allocator", "bench_allocator")


def test_compare_reads_both_rows(allocator):
    def row(cpu, sys_s, faults, wall):
        return {"model": "m", "mode": "full", "batch_cpu_s": cpu,
                "batch_sys_s": sys_s, "batch_page_faults": faults,
                "batch_s": wall, "peak_train_gib": 1.0}
    out = allocator.compare({"system": row(3.0, 1.0, 5000, 3.0),
                             "reuse": row(2.0, 0.0, 10, 1.5)})
    assert out["system_user_s"] == 2.0 and out["reuse_kernel_s"] == 0.0
    assert out["speedup_wall"] == 2.0 and out["speedup_cpu"] == 1.5
    assert "5,000" in allocator.render([out])


@pytest.mark.slow
def test_tiny_run_writes_both_settings(allocator, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    assert allocator.main(["--shape", "tiny", "--models", "lightgcn,mf",
                           "--batches", "2", "--out", str(tmp_path)]) == 0
    light, mf = json.loads(
        (tmp_path / "allocator-full.json").read_text())["rows"]
    assert light["system_wall_s"] > 0 and light["reuse_wall_s"] > 0
    assert light["system_page_faults"] >= 0
    assert mf["model"] == "mf" and mf["speedup_cpu"] > 0
    assert "page faults" in (tmp_path / "allocator-full.md").read_text()
