import json
import re

import numpy as np
import pytest

from mmgraph.cli import build_parser, main
from mmgraph.data import load_dataset

from tests.data.conftest import write_inter


def _seq(tmp_path, n_users=12, n_items=8):
    rng = np.random.default_rng(0)
    lines = []
    for u in range(n_users):
        items = rng.choice(n_items, size=6, replace=False)
        lines.append(" ".join([f"U{u}"] + [f"B{i:03d}" for i in items]))
    (tmp_path / "user_sequence.txt").write_text("\n".join(lines) + "\n")
    return tmp_path / "user_sequence.txt"


def test_parsers_wire_into_argparse():
    parser = build_parser()
    args = parser.parse_args(["prepare", "--format", "sequence", "--interactions", "x",
                              "--name", "n", "--out", "o"])
    assert callable(args.func) and args.seed == 999 and args.k_core == 0
    assert callable(parser.parse_args(["info", "dir"]).func)


@pytest.mark.parametrize("split", ["mmrec", "loo"])
def test_prepare_sequence_and_info(tmp_path, capsys, split):
    seq = _seq(tmp_path)
    out = tmp_path / "out"
    rc = main(["prepare", "--format", "sequence", "--interactions", str(seq), "--k-core", "5",
               "--split", split, "--name", "toy", "--out", str(out)])
    assert rc == 0
    ds = load_dataset(out)
    assert ds.num_users == 12 and ds.train_edge_index.size(1) + ds.valid_edge_index.size(1) \
        + ds.test_edge_index.size(1) == 72
    assert ds.valid_edge_index.size(1) == 12 and ds.test_edge_index.size(1) == 12
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    card = capsys.readouterr().out
    for word in ("users", "items", "train", "valid", "test", "density", "user degree",
                 "item degree", "modalities", "components"):
        assert word in card
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_users"] == 12


def test_prepare_delimited_temporal(tmp_path):
    rows = ["uid;iid;when"] + [f"u{u};i{(u + j) % 7};{u * 10 + j}" for u in range(8)
                               for j in range(5)]
    (tmp_path / "r.csv").write_text("\n".join(rows) + "\n")
    rc = main(["prepare", "--format", "delimited", "--interactions", str(tmp_path / "r.csv"),
               "--columns", "user=uid,item=iid,time=when", "--sep", ";", "--split", "temporal",
               "--name", "d", "--out", str(tmp_path / "o")])
    assert rc == 0
    ds = load_dataset(tmp_path / "o")
    assert ds.train_edge_index.size(1) == 32


def test_prepare_mmrec_keeps_split_and_features(mmrec_folder, tmp_path):
    rc = main(["prepare", "--format", "mmrec", "--interactions", str(mmrec_folder),
               "--name", "t2", "--out", str(tmp_path / "o")])
    assert rc == 0
    a, b = load_dataset(mmrec_folder), load_dataset(tmp_path / "o")
    assert np.array_equal(a.features["image"].numpy(), b.features["image"].numpy())
    assert a.train_edge_index.tolist() == b.train_edge_index.tolist()


def test_prepare_nbpo(tmp_path):
    f = tmp_path / "nb"
    f.mkdir()
    for name, d in (("train_data.json", [[0, 1], [1, 2]]), ("validation_data.json", [[2], [0]]),
                    ("test_data.json", [[3], [3]])):
        (f / name).write_text(json.dumps(d))
    assert main(["prepare", "--format", "nbpo-json", "--interactions", str(f),
                 "--name", "nb", "--out", str(tmp_path / "o")]) == 0
    ds = load_dataset(tmp_path / "o")
    assert ds.train_edge_index.tolist() == [[0, 0, 1, 1], [0, 1, 1, 2]]  # ids kept
    assert main(["prepare", "--format", "nbpo-json", "--interactions", str(f), "--split", "loo",
                 "--name", "nb", "--out", str(tmp_path / "o")]) == 2


def test_bad_input_exit_code(tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    write_inter(bad / "bad.inter", [(0, 0, 1, 1, 0), (0, 1, 1, 1, 7)])
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.inter" in err and "line 3" in err
    assert "Traceback" not in err
    assert main(["prepare", "--format", "delimited", "--interactions", str(bad / "bad.inter"),
                 "--name", "x", "--out", str(tmp_path / "o")]) == 2
    assert "--columns" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_prepare_cold_items(tmp_path, capsys):
    seq = _seq(tmp_path, n_users=30, n_items=20)
    out = tmp_path / "cold"
    rc = main(["prepare", "--format", "sequence", "--interactions", str(seq), "--split",
               "mmrec", "--cold-items", "0.2", "--name", "toy", "--out", str(out)])
    assert rc == 0
    assert "4 cold items" in capsys.readouterr().out
    ds = load_dataset(out)
    assert ds.cold_items.numel() == 4
    assert not np.isin(ds.cold_items.numpy(), ds.train_edge_index[1].numpy()).any()
    assert main(["info", str(out)]) == 0
    assert "cold items" in capsys.readouterr().out
    rc = main(["prepare", "--format", "sequence", "--interactions", str(seq), "--split",
               "mmrec", "--cold-items", "1.5", "--name", "toy", "--out", str(tmp_path / "x")])
    assert rc == 2
    assert "--cold-items" in capsys.readouterr().err



def test_temporal_split_refused_on_a_folder_prepared_from_sequences(tmp_path, capsys):
    seq = _seq(tmp_path)
    toy = tmp_path / "toy"
    assert main(["prepare", "--format", "sequence", "--interactions", str(seq),
                 "--name", "toy", "--out", str(toy)]) == 0
    # the log names the file where it ended up, not the staging folder
    err = capsys.readouterr().err
    assert f"INFO wrote {toy / 'toy.inter'}\n" in err and ".prepare-" not in err
    # its timestamps are positions 0, 1, 2, ...: no global time to split on
    args = ["prepare", "--format", "mmrec", "--split", "temporal", "--name", "t"]
    assert main(args + ["--interactions", str(toy), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {toy / 'prepare.json'}") and "positions" in err
    assert "--split loo" in err and not (tmp_path / "t").exists()
    # nor on a folder prepared from that one (the manifest carries it on)
    assert main(["prepare", "--format", "mmrec", "--interactions", str(toy), "--split", "loo",
                 "--name", "l", "--out", str(tmp_path / "l")]) == 0
    capsys.readouterr()
    assert main(args + ["--interactions", str(tmp_path / "l"),
                        "--out", str(tmp_path / "t")]) == 2
    assert "positions" in capsys.readouterr().err
    # a folder with real times still splits by time
    rows = [(u, (u + j) % 7, 1, 100 * j + u, 0) for u in range(8) for j in range(5)]
    real = tmp_path / "real"
    real.mkdir()
    write_inter(real / "real.inter", rows)
    assert main(args + ["--interactions", str(real), "--out", str(tmp_path / "t")]) == 0


def test_info_counts_every_item_without_training_interactions(mmrec_folder, capsys):
    # item 3 is only in test: the card counts it as cold, as it does the
    # isolated node it is in the training graph
    def card():
        capsys.readouterr()
        assert main(["info", str(mmrec_folder)]) == 0
        return dict(re.split(r"\s{2,}", line.strip(), maxsplit=1)
                    for line in capsys.readouterr().out.splitlines()[3:])
    rows = card()
    assert rows["users / items in train"] == "2 / 3"
    assert rows["cold items (no training interaction)"] == "1"
    assert "isolated" in rows["train graph components"]
    assert "of them listed in cold_items.txt" not in rows
    # a cold-start split's own list is shown apart
    (mmrec_folder / "cold_items.txt").write_text("itemID\n3\n")
    rows = card()
    assert rows["cold items (no training interaction)"] == "1"
    assert rows["of them listed in cold_items.txt"] == "1"
