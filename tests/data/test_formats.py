import json
import logging

import numpy as np
import pytest

from mmgraph.data import DataFormatError, RecDataset
from mmgraph.data.formats import (atomic_save_npy, atomic_write, atomic_write_text,
                                  load_feature_file, parse_column_mapping, read_delimited,
                                  read_features, read_id_mapping, read_inter, read_item_names,
                                  read_nbpo_json, read_sequence, write_id_mapping)

from .conftest import write_inter


def test_read_inter_ok(mmrec_folder):
    inter = read_inter(mmrec_folder / "tiny.inter")
    assert len(inter) == 8
    assert inter.user.tolist() == [0, 0, 0, 0, 1, 1, 1, 2]
    assert inter.label.tolist() == [0, 0, 1, 2, 0, 0, 2, 2]
    assert inter.timestamp is not None and inter.rating is not None


def test_read_inter_only_required_columns(tmp_path):
    p = write_inter(tmp_path / "a.inter", [(1, 0, 0), (0, 1, 1)], "itemID\tx_label\tuserID\n")
    inter = read_inter(p)
    assert inter.user.tolist() == [0, 1] and inter.item.tolist() == [1, 0]
    assert inter.timestamp is None


def test_missing_column(tmp_path):
    p = write_inter(tmp_path / "a.inter", [(0, 1)], "userID\titemID\n")
    with pytest.raises(DataFormatError, match=r"a\.inter.*line 1.*x_label"):
        read_inter(p)


@pytest.mark.parametrize("bad,field,msg", [
    ((0, "x", 1, 1, 0), "itemID", "integer"),
    ((-1, 0, 1, 1, 0), "userID", "non-negative"),
    ((0, 1.5, 1, 1, 0), "itemID", "integer"),
    ((0, 0, 1, 1, 3), "x_label", "0 .train., 1 .valid. or 2 .test."),
    ((0, 0, 1, 1, -1), "x_label", "split label"),
])
def test_bad_fields(tmp_path, bad, field, msg):
    p = write_inter(tmp_path / "b.inter", [(0, 0, 1, 1, 0), (1, 1, 1, 1, 0), bad])
    with pytest.raises(DataFormatError, match=msg) as e:
        read_inter(p)
    assert "b.inter" in str(e.value) and "line 4" in str(e.value) and field in str(e.value)
    assert e.value.line == 4 and e.value.field == field


def test_wrong_field_count(tmp_path):
    (tmp_path / "c.inter").write_text("userID\titemID\tx_label\n0\t1\t0\n0\t1\n")
    with pytest.raises(DataFormatError, match="line 3.*expected 3 fields"):
        read_inter(tmp_path / "c.inter")


def test_feature_row_mismatch(mmrec_folder):
    np.save(mmrec_folder / "audio_feat.npy", np.zeros((3, 2), np.float32))
    with pytest.raises(DataFormatError, match=r"audio_feat\.npy.*3 rows.*4 items"):
        RecDataset.from_folder(mmrec_folder)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_feature_nonfinite(tmp_path, value):
    x = np.ones((4, 3), np.float32)
    x[2, 1] = value
    np.save(tmp_path / "image_feat.npy", x)
    with pytest.raises(DataFormatError, match=r"image_feat\.npy.*row 2.*NaN or inf"):
        read_features(tmp_path, 4)


def test_pickled_npy(tmp_path):
    np.save(tmp_path / "text_feat.npy", np.array([{"a": 1}, None], dtype=object),
            allow_pickle=True)
    with pytest.raises(DataFormatError, match=r"text_feat\.npy.*pickle"):
        read_features(tmp_path, 2)


@pytest.mark.parametrize("content,what", [
    (b"0.1 0.2\n0.3 0.4\n", "no NumPy header"),
    (b"", "an empty file"),
    (b"PK\x03\x04rest", "a zip archive"),
])
def test_a_file_that_is_not_npy_is_not_called_pickled(tmp_path, content, what):
    (tmp_path / "image_feat.npy").write_bytes(content)
    with pytest.raises(DataFormatError) as e:
        read_features(tmp_path, 2)
    msg = str(e.value)
    assert msg.startswith(str(tmp_path / "image_feat.npy"))
    assert f"not a .npy file ({what}" in msg and "pickle" not in msg


def test_feature_not_2d(tmp_path):
    np.save(tmp_path / "x_feat.npy", np.zeros(4, np.float32))
    with pytest.raises(DataFormatError, match="2-D"):
        load_feature_file(tmp_path / "x_feat.npy", 4)


def test_any_modality_name(mmrec_folder):
    np.save(mmrec_folder / "audio_feat.npy", np.ones((4, 2), np.float64))
    feats = read_features(mmrec_folder, 4)
    assert sorted(feats) == ["audio", "image", "text"]
    assert feats["audio"].dtype == np.float32


@pytest.mark.parametrize("label", [0, 1, 2])
def test_empty_split(tmp_path, label):
    rows = [(u, i, 1, 1, x) for u in range(3) for i, x in enumerate([0, 0, 1, 2])
            if x != label]
    folder = tmp_path / "e"
    folder.mkdir()
    write_inter(folder / "e.inter", rows)
    with pytest.raises(DataFormatError, match=r"e\.inter.*x_label.*split is empty"):
        RecDataset.from_folder(folder)


def test_duplicates_deduplicated_and_logged(mmrec_folder, tiny_rows, caplog):
    write_inter(mmrec_folder / "tiny.inter", tiny_rows + [tiny_rows[0], (0, 1, 1, 1, 2)])
    with caplog.at_level(logging.WARNING, logger="mmgraph"):
        ds = RecDataset.from_folder(mmrec_folder)
    assert "dropped 2 duplicate" in caplog.text
    # the (0, 1) pair listed in train and test stays in train only
    assert ds.train_edge_index.size(1) == 4
    assert not ((ds.test_edge_index[0] == 0) & (ds.test_edge_index[1] == 1)).any()


def test_sequence_reader(tmp_path):
    (tmp_path / "seq.txt").write_text("u1 A B C\nu2 B C\n\nu3 C\n")
    (tmp_path / "names.txt").write_text("A alpha thing\nB beta\nC\n")
    inter = read_sequence(tmp_path / "seq.txt", tmp_path / "names.txt")
    assert inter.user.tolist() == ["u1"] * 3 + ["u2"] * 2 + ["u3"]
    assert inter.item.tolist() == ["A", "B", "C", "B", "C", "C"]
    assert inter.timestamp.tolist() == [0, 1, 2, 0, 1, 0]
    assert inter.item_text == {"A": "alpha thing", "B": "beta", "C": ""}


def test_sequence_bad_line(tmp_path):
    (tmp_path / "seq.txt").write_text("u1 A B\nlonely\n")
    with pytest.raises(DataFormatError, match=r"seq\.txt.*line 2.*at least one item"):
        read_sequence(tmp_path / "seq.txt")


def test_item_names_duplicate(tmp_path):
    (tmp_path / "n.txt").write_text("A x\nA y\n")
    with pytest.raises(DataFormatError, match="line 2.*duplicate"):
        read_item_names(tmp_path / "n.txt")


def test_missing_file(tmp_path):
    with pytest.raises(DataFormatError, match="not found"):
        read_sequence(tmp_path / "nope.txt")


def _nbpo(folder, train, valid, test):
    folder.mkdir(exist_ok=True)
    for name, data in zip(("train_data.json", "validation_data.json", "test_data.json"),
                          (train, valid, test)):
        (folder / name).write_text(json.dumps(data))
    return folder


def test_nbpo_reader(tmp_path):
    f = _nbpo(tmp_path / "n", [[0, 1], [2]], [[2], [0]], [[3], []])
    inter = read_nbpo_json(f)
    assert inter.user.tolist() == [0, 0, 1, 0, 1, 0]
    assert inter.item.tolist() == [0, 1, 2, 2, 0, 3]
    assert inter.label.tolist() == [0, 0, 0, 1, 1, 2]


@pytest.mark.parametrize("bad,field", [([[0, "a"]], "[0][1]"), ([[0], 5], "[1]"),
                                       ([[0, -2]], "[0][1]"), ([[1.5]], "[0][0]")])
def test_nbpo_bad(tmp_path, bad, field):
    f = _nbpo(tmp_path / "n", [[0]], bad, [[1]])
    with pytest.raises(DataFormatError) as e:
        read_nbpo_json(f)
    assert "validation_data.json" in str(e.value) and e.value.field == field


def test_nbpo_missing_file(tmp_path):
    f = _nbpo(tmp_path / "n", [[0]], [[1]], [[1]])
    (f / "test_data.json").unlink()
    with pytest.raises(DataFormatError, match="test_data.json"):
        read_nbpo_json(f)


def test_delimited(tmp_path):
    (tmp_path / "r.csv").write_text('ts,reviewerID,asin,stars\n5,"a",X,4\n3,b,Y,5\n9,a,Y,1\n')
    inter = read_delimited(tmp_path / "r.csv", "user=reviewerID,item=asin,time=ts,rating=stars")
    assert inter.user.tolist() == ["a", "b", "a"] and inter.item.tolist() == ["X", "Y", "Y"]
    assert inter.timestamp.tolist() == [5, 3, 9] and inter.rating.tolist() == [4, 5, 1]
    (tmp_path / "r.tsv").write_text("a\tX\t1\nb\tY\t0\n")
    inter = read_delimited(tmp_path / "r.tsv", {"user": "0", "item": "1", "label": "2"},
                           sep="\\t", header=False)
    assert inter.label.tolist() == [1, 0]


def test_delimited_errors(tmp_path):
    (tmp_path / "r.csv").write_text("u,i,t\na,X,1\nb,Y,oops\n")
    with pytest.raises(DataFormatError, match=r"r\.csv.*line 1.*missing column 'asin'"):
        read_delimited(tmp_path / "r.csv", "user=u,item=asin")
    with pytest.raises(DataFormatError, match=r"line 3.*field 't'.*number"):
        read_delimited(tmp_path / "r.csv", "user=u,item=i,time=t")
    with pytest.raises(DataFormatError, match="needs 'item=COLUMN'"):
        parse_column_mapping("user=u")
    with pytest.raises(DataFormatError, match="unknown role"):
        parse_column_mapping("user=u,item=i,colour=c")


def test_atomic_write_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out.txt"

    def boom(f):
        f.write(b"partial")
        raise RuntimeError("interrupted")
    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert list(tmp_path.iterdir()) == []
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert target.read_text() == "old" and len(list(tmp_path.iterdir())) == 1
    with pytest.raises(TypeError):
        atomic_save_npy(tmp_path / "o.npy", np.array([object()], dtype=object))


def test_id_mapping_roundtrip(tmp_path):
    write_id_mapping(tmp_path / "m.csv", ["x", "y", "z"], "item_id", "itemID")
    assert read_id_mapping(tmp_path / "m.csv") == ["x", "y", "z"]
