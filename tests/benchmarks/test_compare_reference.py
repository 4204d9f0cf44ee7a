"""compare_reference: the MMRec log parser, the table, the model mapping and
the mmgraph side on a small folder (the reference itself is not run)."""

import numpy as np
import pytest

from mmgraph.models import list_models

from .scripts import load_script


def _load():
    return load_script("compare_reference")


LOG = """\
30 Nov 08:08    INFO epoch 0 training [time: 1.25s, train loss: 0.6931]
30 Nov 08:08    INFO epoch 0 evaluating [time: 0.40s, valid_score: 0.012000]
30 Nov 08:08    INFO valid result: 
recall@5: 0.0040    recall@10: 0.0070    recall@20: 0.0120    ndcg@20: 0.0050    
30 Nov 08:08    INFO test result: 
recall@5: 0.0030    recall@10: 0.0060    recall@20: 0.0110    
30 Nov 08:08    INFO epoch 1 training [time: 0.75s, train loss: 0.6500]
30 Nov 08:08    INFO epoch 1 evaluating [time: 0.40s, valid_score: 0.020000]
30 Nov 08:08    INFO valid result: 
recall@5: 0.0100    recall@10: 0.0150    recall@20: 0.0200    
"""


def test_parses_valid_recall_and_training_seconds():
    cr = _load()
    assert cr.parse_reference_log(LOG) == [
        {"recall@20": 0.012, "train_seconds": 1.25},
        {"recall@20": 0.02, "train_seconds": 0.75}]


def test_table_shows_both_sides_and_the_ratio():
    cr = _load()
    rows = {"mf": {"reference": [[{"recall@20": 0.01, "train_seconds": 2.0}]],
                   "ours": [[{"recall@20": 0.02, "train_seconds": 1.0}],
                            [{"recall@20": 0.04, "train_seconds": 3.0}]]}}
    lines = cr.table(rows, 1).splitlines()
    assert lines[2] == ("| mf | 0 | 0.0100 | 0.0300±0.0141 | 2.00 | 2.00 "
                        "| 1.00 |")
    rows["mf"]["reference"] = []
    assert cr.table(rows, 1).splitlines()[2].startswith("| mf | 0 | – |")


def test_every_registered_model_is_mapped():
    cr = _load()
    assert {"lattice", "mgcn", "dragon", "dualgnn"} <= set(cr.MODELS)
    missing = set(list_models()) - set(cr.MODELS)
    assert not missing, missing
    # the models outside MMRec name their own repositories
    assert set(cr.OWN_REPOSITORY) <= set(cr.MODELS)


def test_reference_for_names_a_model_with_its_own_repository(tmp_path):
    cr = _load()
    with pytest.raises(SystemExit, match="--reference-for"):
        cr.main(["--reference", str(tmp_path), "--reference-for",
                 f"lightgcn={tmp_path}", "--workdir", str(tmp_path / "w")])


def test_our_side_runs_on_the_written_folder(tmp_path):
    cr = _load()
    folder = cr.make_data(tmp_path / "d", "d", 60, 40)
    assert (folder / "d.inter").exists()
    assert np.load(folder / "image_feat.npy").shape[1] == 4096
    out = cr.run_ours("lightgcn", folder, {"embedding_dim": 8}, 2, 1, 1e-3,
                      clock="cpu")
    assert len(out) == 2
    assert all(0 <= r["recall@20"] <= 1 and r["train_seconds"] >= 0
               for r in out)


def test_set_is_checked_before_anything_is_made(tmp_path):
    cr = _load()
    work = tmp_path / "work"
    for bad, says in (("dualgnn_reference_user_sum", "MODEL.KEY=VALUE"),
                      ("dualgnn.bogus=1", "no parameter 'bogus'"),
                      ("dualgn.reference_user_sum=true", "Did you mean 'dualgnn'")):
        with pytest.raises(SystemExit, match=says):
            cr.main(["--reference", str(tmp_path), "--models", "dualgnn",
                     "--skip-reference", "--set", bad, "--workdir", str(work)])
        assert not work.exists()
