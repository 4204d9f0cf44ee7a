r"""The cold-start suite file: every model, a cold-start preparation whose
keys are all flags of ``mmgraph prepare``."""
import argparse
import importlib.util
import sys
from pathlib import Path

from mmgraph.data.commands import add_prepare_parser
from mmgraph.models import list_models

ROOT = Path(__file__).resolve().parents[2]


def test_beauty_cold_suite_prepares_a_cold_start_split():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = bench  # dataclasses look their module up
    spec.loader.exec_module(bench)
    suite = bench.load_suite(ROOT / "benchmarks" / "suites" / "beauty_cold.yaml")
    assert set(suite.models) == set(list_models())
    prep = suite.datasets["amazon-beauty-cold"]["prepare"]
    assert prep["cold_items"] == 0.1 and prep["split"] == "mmrec" and prep["k_core"] == 5
    parser = argparse.ArgumentParser()
    add_prepare_parser(parser.add_subparsers())
    argv = ["prepare", "--out", "o"]
    for key, value in prep.items():
        argv += ["--" + key.replace("_", "-"), str(value)]
    args = parser.parse_args(argv)
    assert args.cold_items == 0.1 and args.seed == 999
