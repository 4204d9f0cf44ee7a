import numpy as np
import pytest
import torch

from mmgraph.errors import MMGraphError, MissingExtraError
from mmgraph.evaluation import Evaluator
from mmgraph.cli import main
from mmgraph.export import (FORMATS, EmbeddingIndex, ExportError, UnknownUserError,
                            export_run, faiss_topk, load_faiss, onnx_scores,
                            sidecar_path)
from mmgraph.runs import load_run
from tests.run_factory import make_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = make_run(tmp_path_factory.mktemp("export"))
    model, dataset, _ = load_run(run_dir)
    return run_dir, model, dataset


def _recommend(model, dataset, users, k, masked=True):
    ev = Evaluator(dataset)
    mask = None if masked else torch.empty(2, 0, dtype=torch.long)
    return ev.rank(model, torch.as_tensor(users), k, mask_edge_index=mask)


def test_npz_round_trip_holds_raw_ids_and_embeddings(trained, tmp_path):
    run_dir, model, dataset = trained
    out = export_run(run_dir, "npz", tmp_path / "emb.npz")
    with np.load(out) as z:
        assert z["user_ids"][:2].tolist() == ["u0", "u1"]
        assert z["item_ids"][3] == "item-3"
        assert str(z["score"]) == "dot"
        user_emb, item_emb = model.embeddings()
        np.testing.assert_allclose(z["user_emb"], user_emb.detach().numpy())
        np.testing.assert_allclose(z["item_emb"], item_emb.detach().numpy())
        # CSR of training items: user 5's row is its training items
        ptr, items = z["train_indptr"], z["train_items"]
        ei = dataset.train_edge_index
        assert sorted(items[ptr[5]:ptr[6]].tolist()) == \
            sorted(ei[1][ei[0] == 5].tolist())
    index = EmbeddingIndex.load_npz(out)
    assert index.num_users == dataset.num_users
    assert index.num_items == dataset.num_items


def test_bad_npz_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ExportError, match="cannot read the embedding archive"):
        EmbeddingIndex.load_npz(bad)
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(ExportError, match="not an mmgraph npz export"):
        EmbeddingIndex.load_npz(tmp_path / "other.npz")


def test_index_topk_equals_recommend(trained):
    _, model, dataset = trained
    index = EmbeddingIndex.from_model(model, dataset)
    users = torch.arange(dataset.num_users)
    items, scores = index.topk(users, 10)
    assert torch.equal(items, _recommend(model, dataset, users, 10))
    # no training item is ever returned
    rows, train = index.train_pairs(users)
    assert not (items[rows] == train.unsqueeze(1)).any()
    # scores are the inner products, best first
    want = (index.user_emb[users].unsqueeze(1) * index.item_emb[items]).sum(-1)
    torch.testing.assert_close(scores, want)
    assert (scores[:, :-1] >= scores[:, 1:]).all()


def test_recommend_by_raw_id_and_unknown_user(trained):
    _, model, dataset = trained
    index = EmbeddingIndex.from_model(model, dataset)
    out = index.recommend("u7", k=4)
    want = _recommend(model, dataset, [7], 4)[0].tolist()
    assert [r["item"] for r in out["items"]] == [f"item-{i}" for i in want]
    with pytest.raises(UnknownUserError, match="unknown user id 'nobody'"):
        index.recommend("nobody")
    assert issubclass(UnknownUserError, MMGraphError)


def test_custom_scorer_is_refused(trained):
    _, model, dataset = trained

    class Bilinear(type(model)):
        def score(self, users, embeddings=None):
            return super().score(users, embeddings) * 2

    odd = Bilinear.__new__(Bilinear)
    odd.__dict__.update(model.__dict__)
    with pytest.raises(ExportError, match="overrides score"):
        EmbeddingIndex.from_model(odd, dataset)


def test_unknown_format_is_a_clear_error(trained, tmp_path):
    run_dir, _, _ = trained
    with pytest.raises(ExportError, match="Did you mean 'onnx'"):
        export_run(run_dir, "onx", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_faiss_topk_equals_recommend(trained, tmp_path):
    faiss = pytest.importorskip("faiss")
    run_dir, model, dataset = trained
    out = export_run(run_dir, "faiss", tmp_path / "items.faiss")
    flat, index = load_faiss(out)
    assert isinstance(flat, faiss.Index) and flat.ntotal == dataset.num_items
    users = torch.arange(dataset.num_users)
    # A plain inner-product search equals recommend without masking ...
    items, _ = faiss_topk(flat, index, users, 10, exclude_train=False)
    want = _recommend(model, dataset, users, 10, masked=False)
    assert torch.equal(items, want)
    # ... and with training items filtered out, recommend's lists.
    items, scores = faiss_topk(flat, index, users, 10)
    assert torch.equal(items, _recommend(model, dataset, users, 10))
    assert torch.isfinite(scores).all()


def test_onnx_scorer_matches_pytorch(trained, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    run_dir, model, dataset = trained
    out = export_run(run_dir, "onnx", tmp_path / "scorer.onnx")
    users = np.array([0, 5, 59, 5], dtype=np.int64)
    got = onnx_scores(out, users)
    want = model.score(torch.from_numpy(users)).detach().numpy()
    assert got.shape == (4, dataset.num_items)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # the sidecar maps raw ids
    side = EmbeddingIndex.load_npz(f"{out}.npz")
    assert side.user_index("u59") == 59


def test_missing_extra_names_the_extra(trained, tmp_path, monkeypatch):
    import builtins
    run_dir, _, _ = trained
    real = builtins.__import__

    def fake(name, *a, **kw):
        if name == "faiss":
            raise ImportError(name)
        return real(name, *a, **kw)
    monkeypatch.setattr(builtins, "__import__", fake)
    monkeypatch.delitem(__import__("sys").modules, "faiss", raising=False)
    with pytest.raises(MissingExtraError, match=r"mmgraph\[export\]"):
        export_run(run_dir, "faiss", tmp_path / "f")
    assert not (tmp_path / "f").exists()


def test_cli_verb(trained, tmp_path, capsys):
    run_dir, _, _ = trained
    out = tmp_path / "e.npz"
    assert main(["export", "--run", str(run_dir), "--format", "npz", "--out",
                 str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    np.testing.assert_allclose(EmbeddingIndex.load_npz(out).item_emb,
                               EmbeddingIndex.from_run(run_dir).item_emb)


def test_cli_verb_faiss_writes_the_sidecar_and_matches_recommend(trained, tmp_path,
                                                                  capsys):
    run_dir, model, dataset = trained
    out = tmp_path / "items.faiss"
    assert main(["export", "--run", str(run_dir), "--format", "faiss", "--out",
                 str(out)]) == 0
    assert str(sidecar_path(out)) in capsys.readouterr().out
    flat, index = load_faiss(out)
    users = [0, 7, 21]
    items, _ = faiss_topk(flat, index, users, 5)
    assert items.tolist() == _recommend(model, dataset, users, 5).tolist()


def test_cli_formats_match_the_library():
    from mmgraph.cli import export as cli_export
    assert cli_export.FORMATS == FORMATS


def test_cli_bad_format_and_missing_run_are_one_line(tmp_path, capsys):
    assert main(["export", "--run", str(tmp_path), "--format", "annoy",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--format" in err[0]
    assert main(["export", "--run", str(tmp_path / "nope"), "--format", "npz",
                 "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert not (tmp_path / "x.npz").exists()


def _hand_index():
    # scores u0: [1, 2, 3, 4]; u1: [4, 3, 2, 1]
    user = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    item = torch.tensor([[1.0, 4.0], [2.0, 3.0], [3.0, 2.0], [4.0, 1.0]])
    # u0 trained on item 3, u1 on items 0 and 2; item 1 left the catalogue
    return EmbeddingIndex(user, item, ["a", "b"], ["w", "x", "y", "z"],
                          torch.tensor([0, 1, 3]), torch.tensor([3, 0, 2]),
                          excluded_items=torch.tensor([1]))


def test_topk_hand_computed_with_training_and_excluded_items():
    index = _hand_index()
    items, scores = index.topk([0, 1], 3)
    assert items.tolist() == [[2, 0, -1], [3, -1, -1]]
    assert scores[0, :2].tolist() == [3.0, 1.0]
    assert scores[1, 0].item() == 1.0 and scores[1, 1].item() == float("-inf")
    items, _ = index.topk([0, 1], 2, exclude_train=False)
    assert items.tolist() == [[3, 2], [0, 1]]
    assert index.recommend("b", 3)["items"] == [{"item": "z", "score": 1.0}]


def test_faiss_topk_hand_computed():
    pytest.importorskip("faiss")
    import faiss
    index = _hand_index()
    flat = faiss.IndexFlatIP(2)
    flat.add(index.item_emb.numpy())
    items, scores = faiss_topk(flat, index, [0, 1], 3)
    assert items.tolist() == [[2, 0, -1], [3, -1, -1]]
    assert scores[0, :2].tolist() == [3.0, 1.0]
