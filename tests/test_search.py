import json
import math

import pytest

from mmgraph.config import ConfigError
from mmgraph.experiment import resolve_config
from mmgraph.search import Axis, best_run_dir, run_study, search, search_space

optuna = pytest.importorskip("optuna")


def _space(model):
    return {a.name: a for a in search_space(
        resolve_config(model, use_grid=True), model)}


def test_space_rule_on_the_published_grids():
    s = _space("lightgcn")
    assert s["model.n_layers"].kind == "categorical"
    assert s["model.n_layers"].choices == [1, 2, 3, 4]
    assert (s["model.reg_weight"].kind, s["model.reg_weight"].low,
            s["model.reg_weight"].high) == ("log", 1e-6, 1e-2)
    s = _space("bm3")        # a factor of 10 is not two decades
    assert s["model.reg_weight"].kind == "categorical"
    assert s["model.dropout"].choices == [0.3, 0.5]
    s = _space("freedom")    # a 0 cannot be log-uniform
    assert s["model.reg_weight"].choices == [0.0, 1e-5, 1e-4, 1e-3]
    s = _space("mf")
    assert (s["model.reg_weight"].low, s["model.reg_weight"].high) == \
        (1e-5, 2.0)
    assert Axis.from_values("x", [1, 1000]).kind == "categorical"  # ints


def _toy(calls):
    # peak at reg = 1e-4, n = 2
    def train_fn(point):
        calls.append(point)
        return -(math.log10(point["reg"]) + 4) ** 2 - (point["n"] - 2) ** 2
    return train_fn


AXES = [Axis("reg", "log", low=1e-6, high=1e-2),
        Axis("n", "categorical", choices=[1, 2, 3])]


def test_study_values_are_the_callable_scores_and_best_is_max():
    calls = []
    study = run_study(AXES, _toy(calls), 12, "tpe", seed=1)
    assert len(calls) == 12 == len(study.trials)
    assert all(1e-6 <= c["reg"] <= 1e-2 and c["n"] in (1, 2, 3)
               for c in calls)
    assert study.best_value == max(t.value for t in study.trials)


def test_study_resumes_from_its_journal(tmp_path):
    store = tmp_path / "study.journal"
    first = []
    run_study(AXES, _toy(first), 3, "random", store, seed=0)
    more = []
    study = run_study(AXES, _toy(more), 5, "random", store, seed=0)
    assert len(first) == 3 and len(more) == 2 and len(study.trials) == 5
    # the reseeded sampler does not replay the first draws
    assert not {c["reg"] for c in more} & {c["reg"] for c in first}
    assert [t.params for t in study.trials[:3]] == \
        [{"reg": c["reg"], "n": c["n"]} for c in first]
    # nothing to do once the study holds enough trials
    again = []
    run_study(AXES, _toy(again), 5, "random", store, seed=0)
    assert again == []


def test_interrupted_trial_is_proposed_again(tmp_path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    store = tmp_path / "study.journal"
    study = optuna.create_study(
        study_name="mmgraph", direction="maximize",
        storage=JournalStorage(JournalFileBackend(str(store))))
    trial = study.ask()                       # a process died mid-trial
    params = {a.name: a.suggest(trial) for a in AXES}
    calls = []
    study = run_study(AXES, _toy(calls), 2, "random", store)
    assert calls[0] == params
    states = [t.state.name for t in study.trials]
    assert states == ["FAIL", "COMPLETE", "COMPLETE"]


def test_unknown_sampler():
    with pytest.raises(ConfigError, match="Did you mean 'tpe'"):
        run_study(AXES, _toy([]), 1, "tep")


def test_search_end_to_end_selects_on_validation_and_resumes(
        tiny_dataset, tmp_path, monkeypatch):
    import mmgraph.runs as run_mod
    trained = []
    real = run_mod.train_run

    def counting(*a, **kw):
        trained.append(a[3])
        return real(*a, **kw)
    monkeypatch.setattr(run_mod, "train_run", counting)
    out = tmp_path / "search"
    overrides = {"epochs": 1, "reg_weight": [1e-5, 1e-1]}
    s = search("mf", tiny_dataset, overrides=overrides, out_dir=out,
               sampler="random", trials=3, seed=0)
    assert s["selected_on"] == "valid" and len(s["trials"]) == 3
    assert s["space"] == {"model.reg_weight": {
        "kind": "log-uniform", "low": 1e-5, "high": 0.1}}
    best = max(s["trials"], key=lambda t: t["valid"]["recall@20"])
    assert s["best"]["number"] == best["number"]
    assert all("test" not in t for t in s["trials"])
    run_dir = best_run_dir(out)
    res = json.loads((run_dir / "results.json").read_text())
    assert s["best"]["test"] == res["test"]
    assert res["config"]["model"]["reg_weight"] == \
        best["point"]["model.reg_weight"]
    assert json.loads((out / "search.json").read_text())["best"]["number"] \
        == best["number"]
    assert len(trained) == 3
    # a rerun with more trials continues the study
    s2 = search("mf", tiny_dataset, overrides=overrides, out_dir=out,
                sampler="random", trials=4, seed=0)
    assert len(s2["trials"]) == 4 and len(trained) == 4
    assert [t["point"] for t in s2["trials"][:3]] == \
        [t["point"] for t in s["trials"]]


def test_search_refuses_another_search_in_the_folder(tiny_dataset, tmp_path):
    from mmgraph.errors import RunFolderError
    out = tmp_path / "s"
    out.mkdir()
    (out / "search.json").write_text(json.dumps({"model": "lightgcn"}))
    with pytest.raises(RunFolderError, match="another model"):
        search("mf", tiny_dataset, overrides={"epochs": 1}, out_dir=out,
               sampler="random", trials=1)


def test_cli_search_logs_resumes_and_feeds_evaluate_and_export(tmp_path, capsys):
    from mmgraph.cli import main
    from tests.run_factory import make_prepared_folder
    data = make_prepared_folder(tmp_path / "data")
    out = tmp_path / "s"
    argv = ["train", "--model", "mf", "--data", str(data), "--epochs", "1",
            "--set", "reg_weight=[0.00001,0.1]", "--search", "random", "--trials",
            "2", "--out", str(out), "--log", "csv", "--no-progress"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "selected on validation: trial" in printed and "test" in printed
    # the trials' table once in the terminal (it was also logged to stderr)
    assert (captured.out + captured.err).count("trial  point") == 1
    summary = json.loads((out / "search.json").read_text())
    assert len(summary["trials"]) == 2
    chosen = best_run_dir(out)
    # the --log loggers ran in every trial's folder (one row per epoch)
    for t in summary["trials"]:
        rows = (out / t["run_dir"] / "metrics.csv").read_text().splitlines()
        assert rows[0].startswith("epoch,") and len(rows) == 2
    # a search folder is accepted where a run folder is
    assert main(["evaluate", "--run", str(out), "--split", "test", "--json"]) == 0
    evaluated = capsys.readouterr().out
    res = json.loads((chosen / "results.json").read_text())
    assert f"{res['test']['recall@20']:.4f}" in evaluated
    assert main(["export", "--run", str(out), "--format", "npz", "--out",
                 str(tmp_path / "e.npz")]) == 0
    # a second call without --resume is refused; with it the study continues
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(argv[:argv.index("--trials") + 1] + ["3"]
                + argv[argv.index("--trials") + 2:] + ["--resume"]) == 0
    assert len(json.loads((out / "search.json").read_text())["trials"]) == 3


def test_cli_search_refuses_grid_and_seeds(capsys):
    from mmgraph.cli import main
    for extra in (["--grid"], ["--seeds", "1,2"]):
        assert main(["train", "--model", "mf", "--search", "tpe"] + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--search and" in err[0]
