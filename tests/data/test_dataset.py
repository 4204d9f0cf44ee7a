import logging
import shutil

import numpy as np
import pytest
import torch

from mmgraph.data import DataFormatError, RecDataset, load_dataset


def test_folder_dataset(mmrec_folder, caplog):
    with caplog.at_level(logging.INFO, logger="mmgraph"):
        ds = load_dataset(mmrec_folder)
    assert ds.name == "tiny" and ds.root == mmrec_folder
    assert (ds.num_users, ds.num_items) == (3, 4)  # user 2 only in test still counts
    assert ds.train_edge_index.tolist() == [[0, 0, 1, 1], [0, 1, 1, 2]]
    assert ds.valid_edge_index.tolist() == [[0], [2]]
    assert ds.test_edge_index.tolist() == [[0, 1], [3, 3]]  # (2, 0) dropped: cold user
    assert "dropped 0 validation and 1 test" in caplog.text
    assert ds.modalities == ["image", "text"]
    assert ds.features["image"].dtype == torch.float32 and ds.features["image"].shape == (4, 6)
    assert torch.equal(ds.split_edge_index("valid"), ds.valid_edge_index)
    with pytest.raises(ValueError):
        ds.split_edge_index("dev")
    indptr, items = ds.train_csr()
    assert indptr.tolist() == [0, 2, 4, 4] and items.tolist() == [0, 1, 1, 2]
    assert ds.train_csr() is ds.train_csr()


def test_name_inference(mmrec_folder):
    shutil.copy(mmrec_folder / "tiny.inter", mmrec_folder / "other.inter")
    with pytest.raises(DataFormatError, match="exactly one"):
        load_dataset(mmrec_folder)
    assert load_dataset(mmrec_folder, name="other").name == "other"
    with pytest.raises(DataFormatError, match="not found"):
        load_dataset(mmrec_folder / "missing")


def test_graph_caches(small_synthetic):
    ds = small_synthetic
    A = ds.norm_adj()
    assert A is ds.norm_adj()
    assert A.shape == (ds.num_users + ds.num_items,) * 2
    assert A.layout == torch.sparse_csr
    ei, ew = ds.knn_graph("image")
    assert ei.size(1) == ds.num_items * ds.knn_k
    assert ds.knn_graph("image") is ds.knn_graph("image")
    assert ds.knn_graph("image", k=3)[0].size(1) == ds.num_items * 3
    fei, few = ds.knn_graph()
    row_sum = torch.zeros(ds.num_items).index_add_(0, fei[1], few)  # per target item
    assert torch.allclose(row_sum, torch.ones(ds.num_items), atol=1e-5)
    with pytest.raises(KeyError):
        ds.knn_graph("audio")


def test_fusion_weight_knob():
    from mmgraph.data import make_synthetic
    ds = make_synthetic(num_users=50, num_items=40, avg_degree=8, mm_image_weight=0.5, knn_k=4)
    ei, ew = ds.knn_graph()
    img = set(zip(*ds.knn_graph("image")[0].tolist()))
    vals = {(a, b): w for a, b, w in zip(ei[0].tolist(), ei[1].tolist(), ew.tolist())}
    a, b = next(iter(img - set(zip(*ds.knn_graph("text")[0].tolist()))))
    assert vals[(a, b)] == pytest.approx(0.5 / 4)


def test_heterodata(small_synthetic):
    ds = small_synthetic
    data = ds.to_heterodata()
    assert data.validate()
    assert data["user"].num_nodes == ds.num_users and data["item"].num_nodes == ds.num_items
    assert torch.equal(data["item"].x_image, ds.features["image"])
    rel = data["user", "interacts", "item"]
    assert torch.equal(rel.edge_index, ds.train_edge_index)
    # held-out pairs the PyG way: edge_label_index (test), val_edge_label_index
    assert torch.equal(rel.edge_label_index, ds.test_edge_index)
    assert torch.equal(rel.val_edge_label_index, ds.valid_edge_index)
    assert torch.equal(data["item", "rev_interacts", "user"].edge_index,
                       ds.train_edge_index.flip(0))
    types = set(data.edge_types)
    assert {("item", "similar_image", "item"), ("item", "similar_text", "item"),
            ("item", "similar", "item")} <= types
    # held-out edges are not message-passing edges
    train = set(zip(*ds.train_edge_index.tolist()))
    assert not train & set(zip(*ds.test_edge_index.tolist()))


def test_heterodata_knn_is_source_to_target(small_synthetic):
    # PyG's default flow on the exported kNN graph averages each item's own
    # neighbour list: the same as the item-item matrix the models use.
    from torch_geometric.nn import SimpleConv
    from mmgraph.models.freedom import item_knn_adjacency
    ds = small_synthetic
    rel = ds.to_heterodata()["item", "similar", "item"]
    h = torch.randn(ds.num_items, 4, generator=torch.Generator().manual_seed(0))
    out = SimpleConv(aggr="sum")(h, rel.edge_index, rel.edge_weight)
    S = item_knn_adjacency(ds, ds.knn_k, ds.mm_image_weight).to_dense()
    assert torch.allclose(out, S @ h, atol=1e-6)
    assert torch.allclose(S.sum(1), torch.ones(ds.num_items), atol=1e-6)


def _fields(ds):
    return {k: v for k, v in vars(ds).items() if not k.startswith("_")}


def _assert_same(a, b):
    fa, fb = _fields(a), _fields(b)
    assert fa.keys() == fb.keys()
    for key, va in fa.items():
        vb = fb[key]
        if isinstance(va, torch.Tensor):
            assert torch.equal(va, vb), key
        elif isinstance(va, dict):
            assert va.keys() == vb.keys(), key
            for k in va:
                assert (torch.equal(va[k], vb[k]) if isinstance(va[k], torch.Tensor)
                        else va[k] == vb[k]), (key, k)
        else:
            assert va == vb or va is vb, key


def test_from_heterodata_round_trip(mmrec_folder):
    ds = load_dataset(mmrec_folder, knn_k=3, mm_image_weight=0.3)
    ds.excluded_items = torch.tensor([1])
    ds.hidden_edge_index = torch.tensor([[1], [0]])
    back = RecDataset.from_heterodata(ds.to_heterodata())
    _assert_same(ds, back)
    assert back.cold_start_dropped == {"valid": 0, "test": 1}  # kept, not recounted
    assert back.knn_k == 3 and back.root == mmrec_folder
    assert torch.equal(back.knn_graph()[0], ds.knn_graph()[0])
    # the synthetic set, whose generator arrays ride along
    from mmgraph.data import make_synthetic
    syn = make_synthetic(num_users=40, num_items=30, avg_degree=6, seed=4)
    back = RecDataset.from_heterodata(syn.to_heterodata(knn=False))
    _assert_same(syn, back)
    assert back.fingerprint() == syn.fingerprint()


def test_model_trains_on_round_tripped_dataset(tiny_dataset, single_thread):
    from mmgraph.config import TrainConfig
    from mmgraph.models import create_model
    from mmgraph.train import Trainer
    back = RecDataset.from_heterodata(tiny_dataset.to_heterodata())
    cfg = dict(epochs=2, batch_size=256, eval_batch_size=64, seed=3)
    results = []
    for ds in (tiny_dataset, back):
        torch.manual_seed(0)
        model = create_model("freedom", ds)  # uses features, kNN graph and adjacency
        results.append(Trainer(model, ds, TrainConfig(**cfg)).fit())
    assert len(results[1]["history"]) == 2
    assert results[0]["test"] == results[1]["test"]
    assert results[1]["history"][-1]["loss"] == results[0]["history"][-1]["loss"]


def test_from_heterodata_foreign_graph():
    # A graph in the layout of PyG's AmazonBook: other type names, features
    # in `x`, no validation pairs, negatives labelled 0 in edge_label.
    from torch_geometric.data import HeteroData
    data = HeteroData()
    data["user"].num_nodes = 3
    data["book"].num_nodes = 4
    data["book"].x = torch.arange(8.0).view(4, 2)
    rel = data["user", "rates", "book"]
    rel.edge_index = torch.tensor([[0, 0, 1, 1, 2], [0, 1, 1, 2, 3]])
    rel.edge_label_index = torch.tensor([[0, 1, 2, 0, 2, 1], [2, 3, 0, 3, 1, 0]])
    rel.edge_label = torch.tensor([1, 1, 1, 1, 1, 0])
    data["book", "rev_rates", "user"].edge_index = rel.edge_index.flip(0)
    with pytest.raises(DataFormatError, match="val_edge_label_index.*valid_ratio"):
        RecDataset.from_heterodata(data)
    ds = RecDataset.from_heterodata(data, valid_ratio=0.4, seed=1, name="books")
    assert (ds.name, ds.num_users, ds.num_items, ds.modalities) == ("books", 3, 4, ["x"])
    assert torch.equal(ds.train_edge_index, rel.edge_index)
    held = set(zip(*ds.valid_edge_index.tolist())) | set(zip(*ds.test_edge_index.tolist()))
    assert held == {(0, 2), (1, 3), (2, 0), (0, 3), (2, 1)}  # (1, 0) was a negative
    assert ds.valid_edge_index.size(1) == 2
    data["user", "follows", "book"].edge_index = torch.tensor([[0], [0]])
    with pytest.raises(DataFormatError, match="exactly one user-item relation"):
        RecDataset.from_heterodata(data)
    assert RecDataset.from_heterodata(data, ("user", "rates", "book"),
                                      valid_ratio=0.5).num_items == 4


def test_fingerprint(mmrec_folder, tmp_path):
    from mmgraph.data import make_synthetic
    from mmgraph.data.prepare import split_mmrec
    a, b = load_dataset(mmrec_folder), load_dataset(mmrec_folder)
    assert a is not b and a.fingerprint() == b.fingerprint()  # reloading: same
    assert len(a.fingerprint()) == 64
    syn = make_synthetic(tmp_path / "syn", num_users=60, num_items=40, avg_degree=8, seed=0)
    again = load_dataset(tmp_path / "syn")
    assert again.fingerprint() == syn.fingerprint()
    # the same interactions re-split with another seed: another fingerprint
    g = syn.synthetic
    resplit = RecDataset.from_interactions(g.user, g.item, split_mmrec(g.user, 1), g.features)
    same = RecDataset.from_interactions(g.user, g.item, g.label, g.features)
    assert same.fingerprint() == syn.fingerprint()
    assert resplit.fingerprint() != syn.fingerprint()
    # features count; the name and the kNN settings do not
    other = RecDataset.from_interactions(g.user, g.item, g.label,
                                         {**g.features, "text": g.features["text"] * 2},
                                         name="x", knn_k=3)
    assert other.fingerprint() != syn.fingerprint()
    renamed = RecDataset.from_interactions(g.user, g.item, g.label, g.features, name="x",
                                           knn_k=3)
    assert renamed.fingerprint() == syn.fingerprint()
    renamed.excluded_items = torch.tensor([0])
    assert renamed.fingerprint() != syn.fingerprint()


@pytest.mark.slow
def test_fingerprint_is_stable_across_processes(mmrec_folder):
    import subprocess
    import sys
    code = ("import sys; from mmgraph.data import load_dataset; "
            "print(load_dataset(sys.argv[1]).fingerprint())")
    out = subprocess.run([sys.executable, "-c", code, str(mmrec_folder)], check=True,
                         capture_output=True, text=True).stdout.split()[-1]
    assert out == load_dataset(mmrec_folder).fingerprint()


def test_with_train_edges(small_synthetic, caplog):
    ds = small_synthetic
    ds.norm_adj()
    user = int(ds.valid_edge_index[0, 0])
    keep = ds.train_edge_index[0] != user
    with caplog.at_level(logging.INFO, logger="mmgraph"):
        new = ds.with_train_edges(ds.train_edge_index[:, keep])
    assert "absent from the new train set" in caplog.text
    assert new.num_users == ds.num_users and new.num_items == ds.num_items
    assert (new.valid_edge_index[0] != user).all() and (new.test_edge_index[0] != user).all()
    other = ds.valid_edge_index[0] != user
    assert torch.equal(new.valid_edge_index, ds.valid_edge_index[:, other])
    assert new.norm_adj() is not ds.norm_adj()
    assert new.norm_adj()._nnz() == 2 * int(keep.sum())
    assert ds.train_edge_index.size(1) > new.train_edge_index.size(1)  # original untouched
    with pytest.raises(ValueError):
        ds.with_train_edges(torch.tensor([[0], [ds.num_items]]))


def test_from_interactions_feature_rows():
    with pytest.raises(DataFormatError, match="rows"):
        RecDataset.from_interactions(np.array([0, 0, 0]), np.array([0, 1, 2]), np.array([0, 1, 2]),
                                     {"text": np.zeros((2, 3))})


def test_summary(small_synthetic):
    s = small_synthetic.summary()
    it = s["interactions"]
    assert it["total"] == it["train"] + it["valid"] + it["test"]
    assert s["modalities"] == {"image": 64, "text": 32}
    assert s["components"]["count"] >= 1
    assert s["user_degree"]["min"] <= s["user_degree"]["median"] <= s["user_degree"]["max"]
    assert s["density"] == pytest.approx(it["total"] / (s["num_users"] * s["num_items"]))


def test_knn_graph_cached_on_disk_reused_and_rebuilt_when_unusable(
        tmp_path, monkeypatch, caplog):
    import mmgraph.data.dataset as dataset_module
    from mmgraph.data.load import load_dataset
    from tests.run_factory import make_prepared_folder
    folder = make_prepared_folder(tmp_path / "data")
    built = load_dataset(str(folder)).knn_graph("image", 3)
    files = sorted((folder / ".mmgraph_cache").glob("knn-image-k3-*.npy"))
    assert len(files) == 1

    def no_build(*args, **kwargs):
        raise AssertionError("the cached graph should have been read")

    monkeypatch.setattr(dataset_module, "knn_graph", no_build)
    again = load_dataset(str(folder)).knn_graph("image", 3)
    assert all(torch.equal(a, b) for a, b in zip(built, again))
    monkeypatch.undo()
    # Other features (or another k) never meet this file.
    ds = load_dataset(str(folder))
    ds.features["image"] = ds.features["image"] + 1.0
    ds.knn_graph("image", 3)
    ds.knn_graph("image", 2)
    assert len(list((folder / ".mmgraph_cache").glob("knn-image-*"))) == 3
    # A damaged file is rebuilt, with a warning naming it.
    files[0].write_bytes(b"not an npy file")
    with caplog.at_level("WARNING", logger="mmgraph"):
        rebuilt = load_dataset(str(folder)).knn_graph("image", 3)
    assert files[0].name in caplog.text
    assert all(torch.equal(a, b) for a, b in zip(built, rebuilt))
    # A folder that cannot be written is left alone.
    def refuse(*args, **kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr(dataset_module, "atomic_save_npy", refuse)
    ds = load_dataset(str(folder))
    ds.knn_graph("text", 3)  # builds, cannot cache, goes on
    assert not list((folder / ".mmgraph_cache").glob("knn-text-*"))
