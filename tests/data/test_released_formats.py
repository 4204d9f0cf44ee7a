r"""Readers of released datasets (Amazon Reviews 2023, MicroLens) on small
fixtures written here, malformed lines included."""
import gzip
import json

import numpy as np
import pytest

from mmgraph.data import DataFormatError, load_dataset
from mmgraph.cli import main
from mmgraph.data.formats import (read_amazon2023, read_amazon2023_meta, read_microlens,
                                  read_microlens_titles)


def _review(user, item, t, rating=5.0, **extra):
    return {"rating": rating, "title": "ok", "text": "fine", "images": [],
            "asin": item + "-v", "parent_asin": item, "user_id": user, "timestamp": t,
            "helpful_vote": 0, "verified_purchase": True, **extra}


def _meta(item, title, description):
    return {"main_category": "All Beauty", "title": title, "average_rating": 4.1,
            "rating_number": 3, "features": [], "description": description, "price": None,
            "images": [{"thumb": "t.jpg", "large": "l.jpg", "variant": "MAIN",
                        "hi_res": None}], "videos": [], "store": "S", "categories": [],
            "details": {}, "parent_asin": item, "bought_together": None}


def _jsonl(path, rows, gz=False):
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_amazon2023_reviews_and_meta(tmp_path, gz):
    suffix = ".jsonl.gz" if gz else ".jsonl"
    reviews = _jsonl(tmp_path / f"All_Beauty{suffix}",
                     [_review("U1", "B1", 1588687728923, 4.0), _review("U1", "B2", 1588687729000),
                      _review("U2", "B1", 1600000000000, 1.0)], gz)
    meta = _jsonl(tmp_path / f"meta_All_Beauty{suffix}",
                  [_meta("B1", "Rose oil", ["Cold pressed.", "100 ml"]),
                   _meta("B2", None, None)], gz)
    inter = read_amazon2023(reviews, meta)  # the metadata file: item_text
    assert inter.user.tolist() == ["U1", "U1", "U2"]
    assert inter.item.tolist() == ["B1", "B2", "B1"]
    assert inter.timestamp.tolist() == [1588687728923, 1588687729000, 1600000000000]
    assert inter.rating.tolist() == [4.0, 5.0, 1.0]
    assert inter.item_text == {"B1": "Rose oil Cold pressed. 100 ml", "B2": ""}
    assert read_amazon2023(reviews, item_key="asin").item.tolist() == ["B1-v", "B2-v", "B1-v"]


@pytest.mark.parametrize("line,match", [
    ('{"user_id": "U1", "parent_asin": "B1", "timestamp": 1, "rating": 5}\n{"user_id": "U2",',
     r"All_Beauty.jsonl, line 2: invalid JSON"),
    ('{"parent_asin": "B1", "timestamp": 1, "rating": 5}', r"line 1, field 'user_id': .*missing"),
    ('{"user_id": "U1", "parent_asin": "", "timestamp": 1, "rating": 5}',
     r"line 1, field 'parent_asin'"),
    ('{"user_id": "U1", "parent_asin": "B1", "timestamp": "soon", "rating": 5}',
     r"line 1, field 'timestamp': expected a number"),
    ('\n\n{"user_id": "U1", "parent_asin": "B1", "timestamp": 1, "rating": true}',
     r"line 3, field 'rating'"),
    ('["U1", "B1"]', r"line 1: expected a JSON object"),
])
def test_amazon2023_malformed_reviews(tmp_path, line, match):
    path = tmp_path / "All_Beauty.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(DataFormatError, match=match):
        read_amazon2023(path)


def test_amazon2023_malformed_meta(tmp_path):
    path = _jsonl(tmp_path / "meta.jsonl", [_meta("B1", "a", ["b"]), _meta("B2", "c", 7)])
    with pytest.raises(DataFormatError, match=r"meta.jsonl, line 2, field 'description'"):
        read_amazon2023_meta(path)
    path = _jsonl(tmp_path / "meta.jsonl", [_meta("B1", "a", ["b"]), _meta("B1", "c", [])])
    with pytest.raises(DataFormatError, match=r"line 2, field 'parent_asin': duplicate"):
        read_amazon2023_meta(path)
    path = _jsonl(tmp_path / "meta.jsonl", [_meta("B1", ["a"], [])])
    with pytest.raises(DataFormatError, match=r"line 1, field 'title'"):
        read_amazon2023_meta(path)


def _microlens(folder, tsv=False):
    folder.mkdir()
    (folder / "MicroLens-50k_pairs.csv").write_text(
        "user,item,timestamp\n" + "".join(f"{u},{(u + j) % 9 + 1},{1658000000000 + 10 * j}\n"
                                          for u in range(1, 13) for j in range(6)))
    (folder / "MicroLens-50k_titles.csv").write_text(
        "item,title\n" + "".join(f'{i},"video {i}, part {i} # tag"\n' for i in range(1, 10)))
    if tsv:
        (folder / "MicroLens-50k_pairs.tsv").write_text("7\t3 1 2\n8\t2\n")
    return folder


def test_microlens_csv_tsv_and_titles(tmp_path):
    folder = _microlens(tmp_path / "ml", tsv=True)
    inter = read_microlens(folder)                    # the folder prefers the .csv
    assert len(inter) == 72 and inter.user[0] == "1" and inter.item[0] == "2"
    assert inter.timestamp[:2].tolist() == [1658000000000, 1658000000010]
    assert inter.item_text["3"] == "video 3, part 3 # tag"
    seq = read_microlens(folder / "MicroLens-50k_pairs.tsv")
    assert seq.user.tolist() == ["7", "7", "7", "8"]
    assert seq.item.tolist() == ["3", "1", "2", "2"]
    assert seq.timestamp.tolist() == [0, 1, 2, 0] and seq.item_text is None
    (tmp_path / "alt.csv").write_text("userID,videoID,timestamp\nu,v,5\n")
    assert read_microlens(tmp_path / "alt.csv").item.tolist() == ["v"]


@pytest.mark.parametrize("name,text,match", [
    ("p.csv", "user,item,timestamp\n1,2,3\n1,2\n", r"p.csv, line 3: expected 3 fields"),
    ("p.csv", "user,item,timestamp\n1,2,3\n4,,5\n", r"line 3, field 'item': empty id"),
    ("p.csv", "user,item,timestamp\n1,2,late\n", r"line 2, field 'timestamp': expected a number"),
    ("p.csv", "uid,vid,timestamp\n1,2,3\n", r"line 1, field 'user': no user column"),
    ("p.tsv", "1\t2 3\n4 5 6\n", r"p.tsv, line 2: expected 'USER<TAB>ITEM"),
    ("p.tsv", "1\t\n", r"line 1: expected a user id, a tab and at least one item"),
])
def test_microlens_malformed_pairs(tmp_path, name, text, match):
    (tmp_path / name).write_text(text)
    with pytest.raises(DataFormatError, match=match):
        read_microlens(tmp_path / name)


def test_microlens_malformed_titles(tmp_path):
    (tmp_path / "t.csv").write_text('item,title\n1,"a"\n1,"b"\n')
    with pytest.raises(DataFormatError, match=r"t.csv, line 3, field 'item': duplicate"):
        read_microlens_titles(tmp_path / "t.csv")
    (tmp_path / "t.csv").write_text("item,name\n1,a\n")
    with pytest.raises(DataFormatError, match=r"line 1, field 'title'"):
        read_microlens_titles(tmp_path / "t.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="MicroLens-\\*_pairs.csv"):
        read_microlens(tmp_path / "empty")


@pytest.fixture
def fake_text_encoder(monkeypatch):
    seen = {}

    def encode_texts(texts, **kwargs):
        seen["texts"] = list(texts)
        return np.arange(len(texts) * 2, dtype=np.float32).reshape(len(texts), 2)
    monkeypatch.setattr("mmgraph.data.features.encode_texts", encode_texts)
    return seen


def test_prepare_microlens_with_titles(tmp_path, fake_text_encoder):
    folder = _microlens(tmp_path / "ml")
    rc = main(["prepare", "--format", "microlens", "--interactions", str(folder), "--split",
               "loo", "--name", "ml", "--out", str(tmp_path / "out")])
    assert rc == 0
    ds = load_dataset(tmp_path / "out")
    assert ds.num_users == 12 and ds.num_items == 9
    assert ds.features["text"].shape == (9, 2)
    raw = ds.id_mapping("item")
    assert fake_text_encoder["texts"] == [f"video {r}, part {r} # tag" for r in raw]


def test_prepare_amazon2023_with_meta(tmp_path, fake_text_encoder):
    rows = [_review(f"U{u}", f"B{(u + j) % 6}", 1000 * u + j) for u in range(8) for j in range(4)]
    reviews = _jsonl(tmp_path / "r.jsonl", rows)
    meta = _jsonl(tmp_path / "m.jsonl", [_meta(f"B{i}", f"item {i}", ["desc"]) for i in range(5)])
    rc = main(["prepare", "--format", "amazon2023", "--interactions", str(reviews),
               "--item-text", str(meta), "--split", "temporal", "--name", "az",
               "--out", str(tmp_path / "out")])
    assert rc == 0
    ds = load_dataset(tmp_path / "out")
    assert ds.num_items == 6 and ds.features["text"].shape == (6, 2)
    texts = dict(zip(ds.id_mapping("item"), fake_text_encoder["texts"]))
    assert texts["B1"] == "item 1 desc" and texts["B5"] is None   # B5 has no metadata
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"user_id": "U1"}\n')
    assert main(["prepare", "--format", "amazon2023", "--interactions", str(bad),
                 "--name", "x", "--out", str(tmp_path / "x")]) == 2
