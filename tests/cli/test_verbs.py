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
    results = json.loads((run / "results.json").read_text())
    assert results["model"] == "mf" and results["data"] == "synthetic"
    # the closing tables are grouped like evaluate's: one row per metric name
    assert "accuracy:" in out and "beyond accuracy (" in out
    assert f"{results['test']['recall@20']:.4f}" in out
    assert f"{results['test']['coverage@20']:.4f}" in out
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


def test_parser_constants_match_the_library():
    # The parsers repeat a few library names so that they import no torch.
    from mmgraph.cli import prepare as cli_prepare
    from mmgraph.cli import unlearn as cli_unlearn
    from mmgraph.data.prepare import SPLITS
    from mmgraph.train.objectives.reverse_bpr import (FORGET_LOSSES, FORGET_SIDES,
                                                      RETAIN_LOSSES)
    from mmgraph.unlearn import KINDS
    assert cli_unlearn.KINDS == KINDS
    assert cli_unlearn.FORGET_LOSSES == FORGET_LOSSES
    assert cli_unlearn.FORGET_SIDES == FORGET_SIDES
    assert cli_unlearn.RETAIN_LOSSES == RETAIN_LOSSES
    assert cli_prepare.SPLITS == SPLITS


def test_every_verb_has_a_parser_and_a_handler():
    from mmgraph.cli.app import VERBS, build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert len(sub.choices) == len(VERBS)
    for verb in VERBS:
        assert callable(verb.add_parser) and callable(verb.run)


def test_debug_shows_the_traceback(tmp_path):
    from mmgraph.errors import DataFormatError
    with pytest.raises(DataFormatError):
        main(["--debug", "info", str(tmp_path / "none")])
    with pytest.raises(DataFormatError):
        main(["info", str(tmp_path / "none"), "--debug"])


def test_options_are_not_abbreviated(capsys):
    assert main(["train", "--model", "mf", "--epoch", "1"]) == 2
    assert "--epoch" in capsys.readouterr().err


def test_recommend_never_returns_a_training_item():
    from mmgraph.cli.recommend import recommend
    from mmgraph.data import make_synthetic
    from mmgraph.models import create_model
    ds = make_synthetic(num_users=20, num_items=15, avg_degree=6, seed=1)
    model = create_model("mf", ds).eval()
    lists = recommend(model, ds, list(range(ds.num_users)), k=ds.num_items)
    for u, items in enumerate(lists):
        seen = set(ds.train_edge_index[1][ds.train_edge_index[0] == u].tolist())
        assert not seen & set(items)
        assert sorted(items) == sorted(set(range(ds.num_items)) - seen)  # all the rest
        assert len(items) == len(set(items))
    # k below what is left: exactly k, a prefix of the full ranking.
    short = recommend(model, ds, [0, 1, 2], k=3)
    assert [len(x) for x in short] == [3, 3, 3]
    assert all(s == full[:3] for s, full in zip(short, lists[:3]))


def test_evaluate_prints_every_metric_in_grouped_tables_and_complete_json(tmp_path,
                                                                        capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "mf", "--epochs", "1", "--out", str(run),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run), "--json"]) == 0
    out = capsys.readouterr().out
    text, _, payload = out.partition("\n{")
    data = json.loads("{" + payload)
    assert set(data) == {"valid", "test"}
    keys = [k for k in data["test"] if "@" in k]
    assert {"recall@20", "mrr@20", "coverage@20", "novelty@20",
            "diversity_text@20", "gini@20"} <= set(keys)
    assert "num_users" in data["test"]      # counts stay in the JSON
    tables = text.split("\n\n")
    assert [t.splitlines()[0].split(" ")[0] for t in tables] == ["accuracy:", "beyond"]
    shown = set()
    for t in tables:
        lines = t.splitlines()
        columns = lines[1].split()[1:]           # valid@5 ... test@50
        for line in lines[3:]:
            name, *cells = line.split()
            shown |= {f"{name}@{c.partition('@')[2]}" for c, v in zip(columns, cells)
                      if v != "-"}
    assert shown == set(keys)                    # every key is printed
    acc_rows = [line.split()[0] for line in tables[0].splitlines()[3:]]
    assert "recall" in acc_rows and "coverage" not in acc_rows
    assert f"{data['test']['recall@20']:.4f}" in tables[0]


def test_an_unknown_option_names_the_verb_and_the_nearest_option(capsys):
    from mmgraph.cli import main
    assert main(["train", "--model", "mf", "--epoch", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: unrecognized arguments: --epoch 2. Did you mean "
                   "'--epochs'? (see 'mmgraph train --help')")
    assert main(["evaluate", "--run", "x", "--zzz"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: unrecognized arguments: --zzz (see "
                   "'mmgraph evaluate --help')")
