import json

import numpy as np
import pytest

from mmgraph.data import formats
from mmgraph.data.formats import (FORMATS, Interactions, list_formats, read_interactions,
                                  register_format)
from mmgraph.data.prepare import MANIFEST, prepare_dataset
from mmgraph.errors import DataFormatError


def test_builtin_formats_are_registered_plain_functions():
    assert {"sequence", "mmrec", "nbpo-json", "delimited"} <= set(list_formats())
    assert FORMATS["sequence"] is formats.read_sequence
    assert FORMATS["delimited"] is formats.read_delimited
    assert list_formats() == sorted(list_formats())


def test_register_a_format(monkeypatch, tmp_path):
    # One registry, seen from the module that defines it and the one that
    # reads through it.
    from mmgraph.data import interactions
    registry = dict(FORMATS)
    monkeypatch.setattr(interactions, "FORMATS", registry)
    monkeypatch.setattr(formats, "FORMATS", registry)

    @register_format("pairs")
    def read_pairs(path, swap: bool = False) -> Interactions:
        rows = [line.split() for line in open(path) if line.strip()]
        u, i = np.array([r[0] for r in rows], object), np.array([r[1] for r in rows], object)
        return Interactions(i, u) if swap else Interactions(u, i)

    assert formats.FORMATS["pairs"] is read_pairs and "pairs" in formats.list_formats()
    (tmp_path / "p.txt").write_text("a x\nb y\n")
    inter = formats.read_interactions("pairs", tmp_path / "p.txt", swap=True, other=None)
    assert inter.user.tolist() == ["x", "y"]
    with pytest.raises(DataFormatError, match="field '--other': does not apply"):
        formats.read_interactions("pairs", tmp_path / "p.txt", other=1)
    with pytest.raises(ValueError, match="already registered"):
        register_format("pairs")(lambda path: None)
    register_format("pairs")(read_pairs)  # the same function again is harmless


def test_unknown_format_suggests():
    with pytest.raises(DataFormatError, match="Did you mean 'sequence'"):
        read_interactions("sequnce", "x")


def _seq(path, users=8):
    path.write_text("".join(f"u{u} " + " ".join(f"i{(u + j) % 6}" for j in range(5)) + "\n"
                            for u in range(users)))
    return path


def test_prepare_dataset_manifest_and_exact_overwrite(tmp_path):
    seq = _seq(tmp_path / "s.txt")
    out = tmp_path / "out"
    prepare_dataset("sequence", seq, out, "a", split="loo")
    manifest = json.loads((out / MANIFEST).read_text())
    assert sorted(manifest["files"]) == ["a.inter", "i_id_mapping.csv", "u_id_mapping.csv"]
    assert manifest["split"] == "loo" and manifest["num_users"] == 8
    (out / "notes.txt").write_text("mine")  # not written by prepare: kept
    with pytest.raises(DataFormatError, match="not empty"):
        prepare_dataset("sequence", seq, out, "b", split="loo")
    before = (out / "a.inter").read_bytes()
    bad = tmp_path / "bad.txt"
    bad.write_text("alone\n")
    with pytest.raises(DataFormatError, match="line 1"):  # bad input: nothing changes
        prepare_dataset("sequence", bad, out, "b", overwrite=True)
    assert (out / "a.inter").read_bytes() == before
    prepare_dataset("sequence", seq, out, "b", split="mmrec", overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "b.inter", "i_id_mapping.csv", "notes.txt", MANIFEST, "u_id_mapping.csv"]


def test_prepare_dataset_refuses_temporal_without_time(tmp_path):
    with pytest.raises(DataFormatError, match="order of each user's items"):
        prepare_dataset("sequence", _seq(tmp_path / "s.txt"), tmp_path / "o", "a",
                        split="temporal")
    assert not (tmp_path / "o").exists()  # nothing left behind


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".", ".hidden"])
def test_prepare_dataset_name_is_not_a_path(tmp_path, name):
    with pytest.raises(DataFormatError, match="--name"):
        prepare_dataset("sequence", _seq(tmp_path / "s.txt"), tmp_path / "o", name)


def test_quoted_fields(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('user,item,t\nu1,"a,b",1\n"u,2",c,2\n')
    inter = formats.read_delimited(path, "user=user,item=item,time=t")
    assert inter.user.tolist() == ["u1", "u,2"] and inter.item.tolist() == ["a,b", "c"]
    assert inter.timestamp.tolist() == [1.0, 2.0]
    # A quoted line break spans two lines; the error names the record's last line.
    path.write_text('user,item\nu1,a\nu2,"multi\nline"\nu3,b\n')
    with pytest.raises(DataFormatError, match=r"r.csv, line 4, field 'item': .*line break"):
        formats.read_delimited(path, "user=user,item=item")
    path.write_text('user,item\nu1,"open\n')
    with pytest.raises(DataFormatError, match="malformed quoted field"):
        formats.read_delimited(path, "user=user,item=item")
