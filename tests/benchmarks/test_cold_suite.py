r"""The cold-start suite file: every model, a cold-start preparation whose
keys are all flags of ``mmgraph prepare``."""
import argparse
from pathlib import Path

from mmgraph.cli.prepare import add_parser as add_prepare_parser
from mmgraph.experiment import Experiment
from mmgraph.models import list_models

ROOT = Path(__file__).resolve().parents[2]


def test_beauty_cold_suite_prepares_a_cold_start_split():
    suite = Experiment.from_yaml(ROOT / "benchmarks" / "suites" / "beauty_cold.yaml")
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


def test_capped_cold_suite_differs_from_its_base_only_in_epochs_and_name():
    base = Experiment.from_yaml(ROOT / "benchmarks" / "suites" / "beauty_cold.yaml")
    capped = Experiment.from_yaml(ROOT / "benchmarks" / "suites" / "beauty_cold_e20.yaml")
    assert capped.train == {**base.train, "epochs": 20} and base.train["epochs"] == 1000
    assert (capped.models, capped.datasets, capped.seeds) == \
        (base.models, base.datasets, base.seeds)
    assert (capped.name, base.name) == ("beauty_cold_e20", "beauty_cold")
