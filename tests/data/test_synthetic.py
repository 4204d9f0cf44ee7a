import numpy as np
import torch

from mmgraph.data import generate_synthetic, knn_graph, load_dataset, make_synthetic


def test_default_synthetic():
    ds = load_dataset("synthetic")
    assert ds.root is None and ds.modalities == ["image", "text"]
    assert ds.num_users == 300 and 180 <= ds.num_items <= 200
    assert 12 <= ds.summary(components=False)["user_degree"]["mean"] <= 18
    assert ds.features["image"].shape[1] == 64 and ds.features["text"].shape[1] == 32
    assert min(ds.train_edge_index.size(1), ds.valid_edge_index.size(1),
               ds.test_edge_index.size(1)) > 0


def test_reproducible():
    a = generate_synthetic(num_users=80, num_items=60, seed=5)
    b = generate_synthetic(num_users=80, num_items=60, seed=5)
    c = generate_synthetic(num_users=80, num_items=60, seed=6)
    assert np.array_equal(a.item, b.item) and np.array_equal(a.label, b.label)
    assert np.array_equal(a.features["text"], b.features["text"])
    assert not np.array_equal(a.item, c.item)


def _overlap(ei_a, ei_b):
    a = set(zip(*ei_a.tolist()))
    return len(a & set(zip(*ei_b.tolist()))) / len(a)


def test_signal_controls_knn_alignment():
    ds = make_synthetic(num_users=300, num_items=300, avg_degree=10, seed=2,
                        modalities={"hi": (32, 0.9), "lo": (32, 0.2), "none": (32, 0.0)})
    truth, _ = knn_graph(torch.from_numpy(ds.synthetic.item_factors), 10)
    hi = _overlap(ds.knn_graph("hi")[0], truth)
    lo = _overlap(ds.knn_graph("lo")[0], truth)
    none = _overlap(ds.knn_graph("none")[0], truth)
    assert hi > lo > none
    assert hi > 0.3 and none < 0.15


def test_interactions_follow_factors():
    d = generate_synthetic(num_users=300, num_items=200, seed=3)
    score = (d.user_factors @ d.item_factors.T)
    picked = score[d.user, d.item].mean()
    assert picked > score.mean() + 1.0  # users pick items aligned with their factors


def test_written_folder(tmp_path):
    ds = make_synthetic(tmp_path / "syn", num_users=60, num_items=50, avg_degree=8, seed=4)
    names = sorted(p.name for p in (tmp_path / "syn").iterdir())
    assert names == ["i_id_mapping.csv", "image_feat.npy", "synthetic.inter", "text_feat.npy",
                     "u_id_mapping.csv"]
    mem = make_synthetic(num_users=60, num_items=50, avg_degree=8, seed=4)
    assert torch.equal(ds.train_edge_index, mem.train_edge_index)
    assert torch.equal(ds.features["image"], mem.features["image"])


def test_heterodata_printout_is_a_short_summary():
    ds = make_synthetic(num_users=80, num_items=50, avg_degree=8, seed=0)
    data = ds.to_heterodata(knn=False)
    text = str(data)
    # the generator's record is one line, not its arrays
    assert "array(" not in text and len(text.splitlines()) < 30
    line = next(s for s in text.splitlines() if "synthetic=" in s)
    assert "users=80, items=50" in line and "image=[50, 64]" in line
    # and it is still there for whoever reads it
    assert data.synthetic is ds.synthetic
    back = type(ds).from_heterodata(data)
    assert np.array_equal(back.synthetic.item_factors, ds.synthetic.item_factors)
