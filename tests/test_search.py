import argparse
import json
import math

import pytest

from mmgraph.config import ConfigError
from mmgraph.experiment import resolve_config
from mmgraph.search import Axis, add_arguments, best_run_dir, run, \
    run_study, search, search_space

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


def test_cli_run(tiny_dataset, tmp_path, capsys, monkeypatch):
    import mmgraph.search as search_mod
    monkeypatch.setattr(search_mod, "load_dataset", lambda data: tiny_dataset)
    parser = argparse.ArgumentParser()
    for a in ("--model", "--data", "--config", "--out", "--device",
              "--objective"):
        parser.add_argument(a)
    parser.add_argument("--set", action="append")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int)
    add_arguments(parser)
    args = parser.parse_args(["--model", "mf", "--data", "synthetic",
                              "--epochs", "1", "--search", "tpe", "--trials",
                              "2", "--out", str(tmp_path / "s")])
    assert run(args) == 0
    out = capsys.readouterr().out
    assert "selected on validation: trial" in out and "test" in out
