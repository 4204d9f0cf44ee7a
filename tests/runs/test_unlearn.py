r"""The comparison models of :func:`mmgraph.runs.unlearn_run`: one
fine-tuned baseline per request whatever the method, a gold run refused
when it was trained with other settings, and what ``unlearn.json`` records
of the method's target."""
import json

import pytest

from mmgraph.errors import RunFolderError
from mmgraph.runs import unlearn_run
from mmgraph.unlearn import ForgetRequest


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory):
    from mmgraph.data import make_synthetic
    folder = tmp_path_factory.mktemp("data")
    make_synthetic(out=folder, num_users=80, num_items=50, avg_degree=8,
                   seed=0)
    return folder


def _train(data_folder, out, **overrides):
    from mmgraph.experiment import train_model
    train_model("mf", str(data_folder),
                overrides={"epochs": 4, "batch_size": 256, "patience": 100,
                           "learning_rate": 0.01, **overrides},
                out_dir=out, show_progress=False)
    return out


@pytest.fixture(scope="module")
def trained_run(data_folder, tmp_path_factory):
    return _train(data_folder, tmp_path_factory.mktemp("run") / "run")


def _users(ds):
    return ForgetRequest.random("users", 0.1, ds, seed=0)


def test_the_finetune_is_one_baseline_for_every_method(trained_run, tmp_path,
                                                       single_thread):
    runs = {method: unlearn_run(trained_run, tmp_path / method, _users,
                                finetune=True, show_progress=False, epochs=4,
                                method=method)
            for method in ("mmrecun", "targeted")}
    tuned = {m: r["models"]["finetune"] for m, r in runs.items()}
    # the unlearned models differ; their fine-tuned baseline does not
    assert runs["mmrecun"]["models"]["unlearned"]["forget"] != \
        runs["targeted"]["models"]["unlearned"]["forget"]
    assert tuned["targeted"]["forget"] == tuned["mmrecun"]["forget"]
    assert tuned["targeted"]["test"] == tuned["mmrecun"]["test"]
    assert tuned["targeted"]["selected_epoch"] == \
        tuned["mmrecun"]["selected_epoch"]
    for method, entry in tuned.items():
        assert entry["settings"]["method"] == "mmrecun"
        assert entry["settings"]["alpha"] == 0.0
        assert entry["settings"]["selection"] == "closest"
        # what the fine-tune's own run folder says it ran
        ran = json.loads((tmp_path / method / "finetune" /
                          "results.json").read_text())["unlearn"]
        assert (ran["method"], ran["target_rule"], ran["selection"]) == \
            ("mmrecun", "estimate", "closest"), method
        assert ran["final_forget_learning_rate"] == 0.01  # the run's
        assert ran["backoffs"] == 0


def test_unlearn_json_records_the_target_estimate(trained_run, tmp_path):
    fresh = unlearn_run(trained_run, tmp_path / "reinit", _users,
                        show_progress=False, epochs=1, reinit_rows=True)
    assert fresh["settings"]["target_estimate"] == "fresh_rows"
    assert fresh["settings"]["reinit_rows"] is True
    pairs = unlearn_run(
        trained_run, tmp_path / "pairs",
        lambda ds: ForgetRequest.random("interactions", 0.1, ds, seed=0),
        show_progress=False, epochs=1)
    assert pairs["settings"]["target_estimate"] == "held_out_pairs"
    assert pairs["settings"]["reinit_rows"] is False
    chance = unlearn_run(trained_run, tmp_path / "chance", _users,
                         show_progress=False, epochs=1, method="targeted")
    assert chance["settings"]["target_estimate"] is None
    assert chance["settings"]["target_rule"] == "chance"


def test_a_gold_trained_with_other_settings_is_refused(
        data_folder, trained_run, tmp_path):
    gold = tmp_path / "gold"
    unlearn_run(trained_run, tmp_path / "cell", _users, gold_dir=gold,
                show_progress=False, epochs=1)
    # where it ran and what it reports may differ ...
    reporting = _train(data_folder, tmp_path / "reporting",
                       eval_batch_size=17, topk=[10, 20])
    unlearn_run(reporting, tmp_path / "ok", _users, gold_from=gold,
                show_progress=False, epochs=1)
    # ... what it learned may not
    other = _train(data_folder, tmp_path / "other", learning_rate=0.02)
    with pytest.raises(RunFolderError, match=r"--gold-from: it was trained "
                       r"with other settings .*train\.learning_rate 0\.01 "
                       r"there, 0\.02 here"):
        unlearn_run(other, tmp_path / "refused", _users, gold_from=gold,
                    show_progress=False, epochs=1)
    assert not (tmp_path / "refused" / "unlearn.json").exists()


def test_the_stages_are_named_and_the_retain_data_built_once(
        trained_run, tmp_path, caplog):
    import logging
    with caplog.at_level(logging.INFO, logger="mmgraph"):
        unlearn_run(trained_run, tmp_path / "cell", _users, finetune=True,
                    gold=True, show_progress=False, epochs=1)
    messages = [r.getMessage() for r in caplog.records]
    # one retain dataset (its cold-start filter runs once), three stages
    assert sum("cold-start filter" in m for m in messages) == 1
    stages = [m for m in messages if m.startswith(
        ("unlearn: method", "fine-tune", "gold: starting"))]
    assert [s.split()[0] for s in stages] == ["unlearn:", "fine-tune",
                                              "gold:"]
