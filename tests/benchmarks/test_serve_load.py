"""The serve load test runs end to end on a tiny random index and stops by
itself after the bounded request count."""
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_serve_load_is_bounded_and_reports(capsys):
    spec = importlib.util.spec_from_file_location(
        "serve_load", ROOT / "benchmarks" / "serve_load.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["serve_load"] = mod
    spec.loader.exec_module(mod)
    assert mod.main(["--random", "50,30", "--requests", "25", "--k", "5",
                     "--concurrency", "2"]) == 0
    out = capsys.readouterr().out
    assert "25 requests, 2 client threads, 0 errors" in out
    assert "identical" in out and "p99" in out
