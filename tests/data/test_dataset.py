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
    row_sum = torch.zeros(ds.num_items).index_add_(0, fei[0], few)
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
    assert torch.equal(rel.test_edge_index, ds.test_edge_index)
    assert torch.equal(data["item", "rev_interacts", "user"].edge_index,
                       ds.train_edge_index.flip(0))
    types = set(data.edge_types)
    assert {("item", "similar_image", "item"), ("item", "similar_text", "item"),
            ("item", "similar", "item")} <= types
    # held-out edges are not message-passing edges
    train = set(zip(*ds.train_edge_index.tolist()))
    assert not train & set(zip(*ds.test_edge_index.tolist()))


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
