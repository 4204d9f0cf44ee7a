import json

import pytest

from mmgraph.cli import main


def test_list_models(capsys):
    assert main(["list-models"]) == 0
    out = capsys.readouterr().out
    assert "lightgcn" in out and "mf" in out


def test_train_evaluate_recommend_on_synthetic(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "mf", "--data", "synthetic", "--epochs",
                 "2", "--out", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "recall@20" in out and "test" in out
    results = json.loads((run / "results.json").read_text())
    assert results["model"] == "mf" and results["data"] == "synthetic"
    assert main(["evaluate", "--run", str(run), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert f"{results['test']['recall@20']:.4f}" in out
    assert main(["recommend", "--run", str(run), "--users", "0,3",
                 "--k", "5"]) == 0
    out = capsys.readouterr().out
    assert "top-5" in out


def test_grid_selects_on_validation(tmp_path, capsys):
    out_dir = tmp_path / "grid"
    assert main(["train", "--model", "mf", "--epochs", "1", "--set",
                 "reg_weight=[0.1,0.001]", "--seeds", "1,2", "--out",
                 str(out_dir), "--no-progress"]) == 0
    grid = json.loads((out_dir / "grid.json").read_text())
    assert grid["selected_on"] == "valid" and len(grid["points"]) == 2
    best = max(grid["points"], key=lambda p: p["valid"]["recall@20"][0])
    assert grid["best"]["index"] == best["index"]
    assert len(best["runs"]) == 2
    assert "±" in capsys.readouterr().out


def test_unknown_key_is_a_clear_error(capsys):
    assert main(["train", "--model", "lightgcn", "--set", "n_layer=3"]) == 2
    assert "Did you mean 'n_layers'" in capsys.readouterr().err


def test_unknown_model_is_a_clear_error(capsys):
    assert main(["train", "--model", "lightgnc"]) == 2
    assert "Did you mean 'lightgcn'" in capsys.readouterr().err
