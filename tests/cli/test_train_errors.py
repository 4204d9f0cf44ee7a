r"""Settings of ``mmgraph train`` (and the small print of ``recommend`` and
``list-models``) that a new user gets wrong: each ends with exit status 2 and
one ``error:`` line naming the setting, never a traceback."""
import re

import pytest

from mmgraph.cli import main


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from mmgraph.data import make_synthetic
    root = tmp_path_factory.mktemp("train_errors")
    make_synthetic(out=root / "d", num_users=80, num_items=50, avg_degree=8, seed=0)
    make_synthetic(out=root / "nofeat", num_users=80, num_items=50, avg_degree=8, seed=0,
                   modalities={})
    return root


def _fails(argv, capsys, *names):
    r"""``argv`` exits with 2 and one ``error:`` line (after log records)
    naming every one of ``names``."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    message = err.strip().splitlines()[-1]
    assert message.startswith("error: "), err
    for name in names:
        assert name in message, (name, message)
    return message


def _train(data, *extra):
    return ["train", "--data", str(data / "d"), "--no-progress", *extra]


def test_multimodal_model_on_data_without_features(data, capsys):
    _fails(["train", "--model", "bm3", "--data", str(data / "nofeat"), "--set", "epochs=1",
            "--no-progress"], capsys, str(data / "nofeat"), "<modality>_feat.npy")


def test_native_objective_of_a_model_without_one(data, capsys):
    _fails(_train(data, "--model", "freedom", "--objective", "native", "--epochs", "1"),
           capsys, "--objective", "FREEDOM has no native loss", "'bpr'")


@pytest.mark.parametrize("model,setting,names", [
    ("lightgcn", "n_layers=-1", ("model 'lightgcn'", "(got -1)")),
    ("bm3", "dropout=1.5", ("model 'bm3'", "dropout", "1.5")),
    ("lightgcn", "embedding_dim=0", ("model 'lightgcn'", "embedding_dim", "(got 0)")),
])
def test_a_value_the_model_refuses(data, capsys, model, setting, names):
    _fails(_train(data, "--model", model, "--epochs", "1", "--set", setting), capsys, *names)


def test_an_empty_grid_axis(data, capsys):
    _fails(_train(data, "--model", "lightgcn", "--epochs", "1", "--set", "n_layers=[]"),
           capsys, "model.n_layers", "empty list")


@pytest.mark.parametrize("settings,names", [
    (["lr_scheduler=exponential"], ("lr_scheduler_params", "gamma")),
    (["lr_scheduler=step"], ("lr_scheduler_params", "step_size")),
    (["optimizer_params={momentum: 0.9}"], ("optimizer_params", "'adam'", "momentum")),
])
def test_arguments_the_optimizer_or_schedule_refuses(data, capsys, settings, names):
    sets = [a for s in settings for a in ("--set", s)]
    _fails(_train(data, "--model", "mf", "--epochs", "1", *sets), capsys, *names)


@pytest.mark.parametrize("flags,names", [
    (["--epochs", "1", "--set", "epochs=2"], ("--epochs 1", "--set epochs=2")),
    (["--epochs", "1", "--set", "train.epochs=2"], ("--epochs 1", "--set train.epochs=2")),
    (["--objective", "bpr", "--set", "objective=nbpo"],
     ("--objective bpr", "--set objective=nbpo")),
    (["--seed", "1", "--set", "seed=2"], ("--seed 1", "--set seed=2")),
    (["--sampled", "--set", "sampled=false"], ("--sampled and --set sampled=False",)),
    (["--seeds", "1,2", "--set", "seed=3"], ("--seeds", "--set seed")),
    (["--seeds", "1,2", "--set", "train.seed=3"], ("--seeds", "--set train.seed")),
    (["--seeds", "1,2", "--seed", "3"], ("--seeds and --seed",)),
])
def test_a_flag_and_a_different_set_of_the_same_key(data, capsys, flags, names):
    _fails(_train(data, "--model", "lightgcn", *flags), capsys, *names)


def test_a_flag_and_an_equal_set_agree(data, capsys):
    # no conflict: the command goes on to the (cheap) model error
    _fails(_train(data, "--model", "lightgcn", "--epochs", "1", "--set", "epochs=1",
                  "--objective", "bpr", "--set", "objective=bpr", "--set", "n_layers=-1"),
           capsys, "model 'lightgcn'")


def test_grid_table_is_shown_once(data, tmp_path, capsys):
    assert main(_train(data, "--model", "lightgcn", "--set", "n_layers=[1,2]", "--epochs",
                       "1", "--seeds", "1,2", "--out", str(tmp_path / "g"))) == 0
    captured = capsys.readouterr()
    # printed on stdout; the grid no longer also logs it to stderr at INFO
    header = re.compile(r"^point\s+valid recall@20\s+test recall@20", re.MULTILINE)
    assert len(header.findall(captured.out)) == 1
    assert len(header.findall(captured.out + captured.err)) == 1


def test_every_train_option_has_help():
    from mmgraph.cli.app import build_parser
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    missing = [a.option_strings[0] for a in train._actions
               if a.option_strings and not a.help]
    assert missing == []


def test_recommend_says_how_many_items_it_returns(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train(data, "--model", "mf", "--epochs", "1", "--out", str(run))) == 0
    capsys.readouterr()
    assert main(["recommend", "--run", str(run), "--users", "0", "--k", "500"]) == 0
    heading, _, row = capsys.readouterr().out.splitlines()[:3]
    returned = len(row.split()) - 1  # after the user id
    assert 0 < returned < 50
    assert f"top-{returned} items" in heading and "500" in heading, heading
    assert main(["recommend", "--run", str(run), "--users", "0", "--k", "3"]) == 0
    assert "top-3 items (rank order)" in capsys.readouterr().out


def test_list_models_describes_each_model_in_one_clean_line(capsys):
    assert main(["list-models"]) == 0
    out = capsys.readouterr().out
    assert "`" not in out and "<http" not in out and "**" not in out, out
    bm3 = next(line for line in out.splitlines() if line.startswith("bm3 "))
    assert ('"Bootstrap Latent Representations for Multi-modal Recommendation" '
            "(Zhou et al., WWW 2023)") in bm3


def test_list_models_without_a_match(capsys):
    assert main(["list-models", "zz*"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no empty table
    assert captured.err.strip() == "error: no model matches 'zz*' (see 'mmgraph list-models')"
