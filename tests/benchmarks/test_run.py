"""mmgraph.experiment.Experiment through benchmarks/run.py: suite files,
resume, and the results tables."""
import csv
import json
import statistics

import pytest

from mmgraph.experiment import Experiment, ExperimentError

from .scripts import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("run", "bench_run")


SUITE = """
name: tiny
datasets:
  tiny:
    path: synthetic
    options: {num_users: 60, num_items: 40, avg_degree: 8, seed: 3}
models: [mf, lightgcn]
seeds: [1, 2]
train: {epochs: EPOCHS, patience: 10, batch_size: 128}
overrides:
  lightgcn: {n_layers: 1}
"""


def _suite(tmp_path, epochs=2):
    path = tmp_path / "tiny.yaml"
    path.write_text(SUITE.replace("EPOCHS", str(epochs)))
    return path


def _run(bench, *args):
    return bench.main([str(a) for a in args] + ["--in-process"])


def test_suite_writes_tables_with_mean_std_over_seeds(bench, tmp_path,
                                                      capsys):
    out = tmp_path / "out"
    assert _run(bench, _suite(tmp_path), "--out", out) == 0
    printed = capsys.readouterr().out
    assert "[4/4] tiny lightgcn seed 2: done" in printed
    data = json.loads((out / "results.json").read_text())
    rows = {r["label"]: r for r in data["rows"]}
    assert set(rows) == {"mf", "lightgcn"}
    # The table's mean/std are those of the runs' own results.json files.
    for label in ("mf", "lightgcn"):
        vals = [json.loads((out / "runs" / "tiny" / label / f"seed{s}" /
                            "results.json").read_text())["test"]["ndcg@20"]
                for s in (1, 2)]
        assert rows[label]["ndcg@20"]["mean"] == pytest.approx(
            statistics.fmean(vals))
        assert rows[label]["ndcg@20"]["std"] == pytest.approx(
            statistics.stdev(vals))
        valid = [json.loads((out / "runs" / "tiny" / label / f"seed{s}" /
                             "results.json").read_text())["valid"]["recall@20"]
                 for s in (1, 2)]
        assert rows[label]["valid_recall@20"]["values"] == valid
        assert rows[label]["epochs"]["mean"] == 2
        assert rows[label]["peak_rss_mb"] > 0
    with open(out / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["model"] for r in table] == ["mf", "lightgcn"]
    assert float(table[0]["recall@20_mean"]) == pytest.approx(
        rows["mf"]["recall@20"]["mean"], abs=1e-6)
    md = (out / "results.md").read_text()
    assert "| tiny" in md and "±" in md and "ru_maxrss" in md
    assert "valid recall@20" in md
    for name in ("curves_tiny.png", "accuracy_vs_time_tiny.png"):
        assert (out / name).stat().st_size > 1000
    # The per-model override reached the model.
    res = json.loads((out / "runs/tiny/lightgcn/seed1/results.json")
                     .read_text())
    assert res["config"]["model"]["n_layers"] == 1


def test_finished_runs_are_skipped_and_interrupted_ones_resume(
        bench, tmp_path, monkeypatch, capsys):
    suite = _suite(tmp_path, epochs=3)
    ref = tmp_path / "ref"
    assert _run(bench, suite, "--out", ref, "--models", "mf",
                "--seeds", "1") == 0
    expected = json.loads((ref / "runs/tiny/mf/seed1/results.json")
                          .read_text())

    # Interrupt the run during epoch 2: epochs 0-1 are checkpointed.
    from mmgraph.train.trainer import Trainer
    original = Trainer.train_epoch

    def crash(self, epoch):
        if epoch == 2:
            raise RuntimeError("simulated interruption")
        return original(self, epoch)
    out = tmp_path / "out"
    monkeypatch.setattr(Trainer, "train_epoch", crash)
    assert _run(bench, suite, "--out", out, "--models", "mf",
                "--seeds", "1") == 1
    run_dir = out / "runs/tiny/mf/seed1"
    assert not json.loads((run_dir / "results.json").read_text())["finished"]
    assert (run_dir / "checkpoint.pt").exists()
    monkeypatch.setattr(Trainer, "train_epoch", original)
    capsys.readouterr()

    assert _run(bench, suite, "--out", out, "--models", "mf",
                "--seeds", "1") == 0
    assert "resuming" in capsys.readouterr().out
    resumed = json.loads((run_dir / "results.json").read_text())
    assert resumed["finished"] and resumed["test"] == expected["test"]
    assert resumed["best_epoch"] == expected["best_epoch"]

    stamp = (run_dir / "results.json").stat().st_mtime_ns
    assert _run(bench, suite, "--out", out, "--models", "mf",
                "--seeds", "1") == 0
    assert "finished earlier, skipped" in capsys.readouterr().out
    assert (run_dir / "results.json").stat().st_mtime_ns == stamp

    # A changed suite makes the old run stale: it is trained again.
    assert _run(bench, _suite(tmp_path, epochs=1), "--out", out, "--models",
                "mf", "--seeds", "1") == 0
    assert "starting over" in capsys.readouterr().out
    assert json.loads((run_dir / "results.json").read_text())["epochs"] == 1


def test_quick_mode_and_filters(bench, tmp_path):
    suite = Experiment.from_yaml(_suite(tmp_path), quick=True)
    assert list(suite.datasets) == ["synthetic"]
    assert suite.train["epochs"] == 3 and suite.seeds == [999, 2024]
    assert suite.train["batch_size"] == 128  # the suite's own keys stay
    full = Experiment.from_yaml(_suite(tmp_path))
    picked = full.select("lightgcn", None, "2", None)
    runs = picked.plan(tmp_path)
    assert [(r.model, r.seed) for r in runs] == [("lightgcn", 2)]
    assert runs[0].overrides == {"epochs": 2, "patience": 10,
                                 "batch_size": 128, "n_layers": 1, "seed": 2}
    with pytest.raises(ExperimentError, match="not in the suite"):
        full.select("bm4", None, None, None)
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [mf]\ndatasets: {a: synthetic}\nepochs: 3\n")
    with pytest.raises(ExperimentError, match="unknown key"):
        Experiment.from_yaml(bad)
    bad.write_text("models: [nosuchmodel]\ndatasets: {a: synthetic}\n")
    assert bench.main([str(bad), "--out", str(tmp_path / "x")]) == 2


def test_data_paths_are_resolved_and_overridable(bench, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("data_root: /data\nmodels: [mf]\ndatasets:\n"
                    "  beauty: {path: amazon-beauty, prepare: {format: "
                    "sequence, interactions: b/user_sequence.txt}}\n"
                    "raw_root: /raw\n")
    s = Experiment.from_yaml(path)
    assert s.datasets["beauty"]["path"] == "/data/amazon-beauty"
    assert s.datasets["beauty"]["prepare"]["interactions"] == \
        "/raw/b/user_sequence.txt"
    s = Experiment.from_yaml(path, data_root=str(tmp_path))
    assert s.datasets["beauty"]["path"] == str(tmp_path / "amazon-beauty")
    s = Experiment.from_yaml(path, data_overrides=["beauty=/elsewhere"])
    assert s.datasets["beauty"] == {"path": "/elsewhere", "options": {}}
    with pytest.raises(ExperimentError, match="not found"):
        Experiment.from_yaml(
            path, data_overrides=["beauty=/no/such/folder"]).prepare_data()


def test_a_suite_extends_another_and_names_only_what_differs(tmp_path):
    base = _suite(tmp_path)
    (tmp_path / "sub").mkdir()
    variant = tmp_path / "sub" / "variant.yaml"
    variant.write_text("extends: ../tiny.yaml\nname: capped\nmodels: [lightgcn, mf]\n"
                       "train: {epochs: 1}\noverrides:\n  mf: {emb_dim: 8}\n")
    s = Experiment.from_yaml(variant)
    assert s.name == "capped" and s.models == ["lightgcn", "mf"]  # lists and scalars replace
    # mappings merge: the base's patience and batch size stay
    assert s.train == {"epochs": 1, "patience": 10, "batch_size": 128}
    assert s.overrides == {"lightgcn": {"n_layers": 1}, "mf": {"emb_dim": 8}}
    assert s.seeds == [1, 2] and list(s.datasets) == ["tiny"]

    variant.write_text("extends: ../missing.yaml\n")
    with pytest.raises(ExperimentError, match=r"missing.yaml: suite file not "
                                              r"found \(extended by .*variant"):
        Experiment.from_yaml(variant)
    base.write_text(base.read_text() + "extends: sub/variant.yaml\n")
    variant.write_text("extends: ../tiny.yaml\n")
    with pytest.raises(ExperimentError, match="'extends' loops"):
        Experiment.from_yaml(variant)
    variant.write_text("extends: [../tiny.yaml]\n")
    with pytest.raises(ExperimentError, match="must be the path of one"):
        Experiment.from_yaml(variant)


def test_a_changed_model_default_makes_a_run_stale(bench, tmp_path,
                                                   monkeypatch):
    # The digest covers the resolved configuration, not only the suite's
    # overrides: editing a model's default (here its train_defaults) reruns
    # the run.
    from mmgraph.models import get_model_class
    suite = Experiment.from_yaml(_suite(tmp_path))
    spec = suite.select("mf", None, "1", None).plan(tmp_path)[0]
    before = spec.digest()
    monkeypatch.setattr(get_model_class("mf"), "train_defaults",
                        {"learning_rate": 0.5})
    assert spec.key()["config"]["train"]["learning_rate"] == 0.5
    assert spec.digest() != before


def test_a_setting_added_since_at_its_default_keeps_a_run(tmp_path):
    # A suite run recorded before a TrainConfig field existed (here
    # 'precision') is the same run while the field is at its default: it
    # stays 'done'/'partial' instead of being started over; at another
    # value it is stale.
    import json
    from mmgraph.experiment.runner import SPEC_FILE
    suite = Experiment.from_yaml(_suite(tmp_path))
    spec = suite.select("mf", None, "1", None).plan(tmp_path)[0]
    key = json.loads(json.dumps(spec.key(), default=str))
    del key["config"]["train"]["precision"]
    spec.run_dir.mkdir(parents=True)
    (spec.run_dir / SPEC_FILE).write_text(json.dumps(
        {"digest": "recorded-by-an-older-version", **key}))
    (spec.run_dir / "results.json").write_text(json.dumps(
        {"finished": True}))
    assert spec.state() == "done"
    spec.overrides["precision"] = "bfloat16"
    assert spec.state() == "stale"


def test_cold_start_section_states_the_chance_levels(bench, tmp_path):
    # A --cold-items folder: the run records keep the item counts, so the
    # report's cold-start section states k/I and k/C (here MF is ID-only).
    from mmgraph.cli import main as cli
    lines = [" ".join([f"U{u}"] + [f"B{(u * 7 + j * 3) % 25:03d}"
                                   for j in range(6)]) for u in range(40)]
    seq = tmp_path / "user_sequence.txt"
    seq.write_text("\n".join(lines) + "\n")
    assert cli(["prepare", "--format", "sequence", "--interactions", str(seq),
                "--split", "mmrec", "--cold-items", "0.2", "--name", "toy",
                "--out", str(tmp_path / "cold")]) == 0
    suite = tmp_path / "cold.yaml"
    suite.write_text(f"name: cold\ndatasets:\n  toy:\n    path: "
                     f"{tmp_path / 'cold'}\nmodels: [mf]\nseeds: [1]\n"
                     f"train: {{epochs: 1, batch_size: 64}}\n")
    assert _run(bench, suite, "--out", tmp_path / "out") == 0
    md = (tmp_path / "out" / "results.md").read_text()
    # 25 items, 5 of them cold
    assert "Chance level (a random ranking): about 20/25 = 0.8000 among all " \
        "items (a little more, as each user's training items are masked), " \
        "20/5 = 1.0000 among the cold items." in md
    assert "ID-only" in md
