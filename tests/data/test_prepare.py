import numpy as np
import pytest

from mmgraph.data import DataFormatError, load_dataset
from mmgraph.data.formats import Interactions, read_id_mapping, read_inter
from mmgraph.data.prepare import (deduplicate, factorize, k_core_mask, prepare_interactions,
                                  split_leave_one_out, split_mmrec, split_temporal,
                                  write_mmrec_folder)


@pytest.mark.parametrize("n,expected", [(5, (3, 1, 1)), (10, (8, 1, 1)), (23, (19, 2, 2)),
                                        (15, (12, 1, 2)), (9, (7, 1, 1)), (3, (1, 1, 1)),
                                        (50, (40, 5, 5)), (11, (9, 1, 1))])
def test_mmrec_split_counts(n, expected):
    labels = split_mmrec(np.zeros(n, np.int64), seed=3)
    assert tuple(np.bincount(labels, minlength=3)) == expected


def test_mmrec_split_many_users_and_seed():
    sizes = [5, 10, 23, 15, 2, 1]
    user = np.repeat(np.arange(len(sizes)), sizes)
    rng = np.random.default_rng(0)
    user = user[rng.permutation(user.size)]  # rows of a user need not be adjacent
    a = split_mmrec(user, seed=999)
    b = split_mmrec(user, seed=999)
    assert np.array_equal(a, b)
    expected = [(3, 1, 1), (8, 1, 1), (19, 2, 2), (12, 1, 2), (2, 0, 0), (1, 0, 0)]
    for u, exp in enumerate(expected):
        assert tuple(np.bincount(a[user == u], minlength=3)) == exp
    c = split_mmrec(user, seed=1000)
    assert not np.array_equal(a, c)  # a different draw, same counts
    for u in range(len(sizes)):
        assert np.array_equal(np.bincount(a[user == u], minlength=3),
                              np.bincount(c[user == u], minlength=3))


def test_leave_one_out():
    user = np.array([0, 0, 0, 1, 1, 0, 1, 2])
    t = np.array([3, 1, 2, 5, 6, 0, 4, 1])
    lab = split_leave_one_out(user, t)
    assert lab.tolist() == [2, 0, 1, 1, 2, 0, 0, 0]  # user 2 has one row: train


def test_temporal():
    t = np.array([9, 1, 5, 3, 7, 2, 8, 4, 6, 0], float)
    lab = split_temporal(t, (0.8, 0.1, 0.1))
    assert lab[t.argsort()].tolist() == [0] * 8 + [1, 2]
    with pytest.raises(DataFormatError):
        split_temporal(None)


def test_k_core_iterative():
    # 3-core. Round 1: item 4 (1 user) goes and item 3 (2 users) goes -> user 3 keeps
    # only item 0 and user 2 keeps items 2, 0. Round 2: users 2 and 3 (< 3 items) go.
    # Left: users 0, 1, 4 x items 0, 1, 2.
    pairs = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (4, 0), (4, 1), (4, 2),
             (2, 2), (2, 3), (2, 0), (3, 3), (3, 4), (3, 0)]
    u, i = map(np.array, zip(*pairs))
    mask = k_core_mask(u, i, 3)
    kept = {p for p, m in zip(pairs, mask) if m}
    # the defining property, and the expected (maximal) core by hand
    du = np.bincount(u[mask], minlength=5)
    di = np.bincount(i[mask], minlength=5)
    assert (du[u[mask]] >= 3).all() and (di[i[mask]] >= 3).all()
    assert kept == {(a, b) for a in (0, 1, 4) for b in (0, 1, 2)}
    assert k_core_mask(u, i, 0).all() and k_core_mask(u, i, 1).all()
    assert not k_core_mask(u, i, 4).any()


def test_factorize_and_dedupe():
    codes, raw = factorize(np.array(["b", "a", "b", "c"], dtype=object))
    assert codes.tolist() == [0, 1, 0, 2] and raw.tolist() == ["b", "a", "c"]
    codes, raw = factorize(np.array([7, 3, 7]))
    assert codes.tolist() == [1, 0, 1] and raw.tolist() == [3, 7]
    keep = deduplicate(np.array([0, 0, 1, 0]), np.array([1, 1, 1, 1]), np.array([2, 0, 0, 1]))
    assert keep.tolist() == [False, True, True, False]


def _raw(n_users=30, n_items=20, seed=0):
    rng = np.random.default_rng(seed)
    u, i = [], []
    for x in range(n_users):
        items = rng.choice(n_items, size=rng.integers(6, 15), replace=False)
        u += [f"U{x}"] * len(items)
        i += [f"I{y}" for y in items]
    return Interactions(np.array(u, object), np.array(i, object), None,
                        np.arange(len(u), dtype=float), None, "raw")


@pytest.mark.parametrize("split", ["mmrec", "loo", "temporal"])
def test_prepare_roundtrip(tmp_path, split):
    inter = _raw()
    data = prepare_interactions(inter, k_core=5, split=split, seed=7)
    feats = {"text": np.random.default_rng(0).standard_normal((data.num_items, 4))}
    write_mmrec_folder(tmp_path / "out", "toy", data, feats)
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["i_id_mapping.csv", "text_feat.npy", "toy.inter", "u_id_mapping.csv"]
    back = read_inter(tmp_path / "out" / "toy.inter")
    assert np.array_equal(back.label, data.label) and np.array_equal(back.user, data.user)
    assert read_id_mapping(tmp_path / "out" / "i_id_mapping.csv") == data.item_raw.tolist()
    raw_users = read_id_mapping(tmp_path / "out" / "u_id_mapping.csv")
    # every row maps back to an original (user, item) pair
    orig = set(zip(inter.user.tolist(), inter.item.tolist()))
    assert {(raw_users[a], data.item_raw[b]) for a, b in zip(back.user, back.item)} <= orig
    ds = load_dataset(tmp_path / "out")
    assert ds.name == "toy" and ds.num_items == data.num_items
    assert ds.modalities == ["text"]


def test_prepare_keeps_given_split_and_requires_one():
    inter = Interactions(np.array([0, 0, 0, 1, 1, 1]), np.array([0, 1, 2, 0, 1, 2]),
                         np.array([0, 1, 2, 0, 0, 2], np.int8), source="x")
    data = prepare_interactions(inter, split=None)
    assert data.label.tolist() == [0, 1, 2, 0, 0, 2]
    inter.label = None
    with pytest.raises(DataFormatError, match="no split labels"):
        prepare_interactions(inter, split=None)
    with pytest.raises(DataFormatError, match="needs a time per interaction"):
        prepare_interactions(inter, split="temporal")


def test_split_cold_items_moves_every_interaction_of_the_cold_items():
    from mmgraph.data.prepare import split_cold_items
    rng = np.random.default_rng(0)
    user = np.repeat(np.arange(30), 8)
    item = np.concatenate([rng.choice(40, 8, replace=False) for _ in range(30)])
    label, cold = split_cold_items(item, user, 0.1, "mmrec", seed=5)
    assert cold.tolist() == sorted(cold.tolist()) and len(cold) == 4
    is_cold = np.isin(item, cold)
    assert (label[is_cold] > 0).all()            # no training row of a cold item
    for c in cold:                               # one held-out split per cold item
        assert np.unique(label[item == c]).size == 1
    split_of = {int(c): int(label[item == c][0]) for c in cold if (item == c).any()}
    assert sorted(split_of.values()) == [1, 1, 2, 2]
    # The warm rows are split per user exactly as split_mmrec splits them.
    warm = ~is_cold
    assert np.array_equal(label[warm], split_mmrec(user[warm], seed=5))
    again, cold2 = split_cold_items(item, user, 0.1, "mmrec", seed=5)
    assert np.array_equal(again, label) and np.array_equal(cold, cold2)
    assert not np.array_equal(split_cold_items(item, user, 0.1, seed=6)[1], cold)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_cold_items_rejects_bad_fractions(fraction):
    from mmgraph.data.prepare import split_cold_items
    with pytest.raises(DataFormatError, match="--cold-items"):
        split_cold_items(np.arange(10), np.zeros(10, np.int64), fraction)


def test_cold_start_folder_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    user = np.repeat([f"u{u}" for u in range(20)], 6)
    item = np.concatenate([[f"i{i}" for i in rng.choice(25, 6, replace=False)]
                           for _ in range(20)]).astype(object)
    data = prepare_interactions(Interactions(user.astype(object), item), split="mmrec",
                                seed=3, cold_items=0.2)
    feats = {"text": rng.standard_normal((data.num_items, 4)).astype(np.float32)}
    write_mmrec_folder(tmp_path, "cs", data, feats)
    assert (tmp_path / "cold_items.txt").read_text().splitlines()[0] == "itemID"
    ds = load_dataset(tmp_path)
    assert ds.cold_items.tolist() == sorted(data.cold_items.tolist())
    assert ds.cold_items.numel() == 5
    assert not np.isin(ds.cold_items.numpy(), ds.train_edge_index[1].numpy()).any()
    held_out = np.concatenate([ds.valid_edge_index[1].numpy(), ds.test_edge_index[1].numpy()])
    assert np.isin(ds.cold_items.numpy(), held_out).any()
    assert ds.summary(components=False)["cold_items"] == 5
    assert ds.features["text"].shape[0] == ds.num_items      # cold items keep features
    # Re-preparing the folder without cold items removes the stale record.
    write_mmrec_folder(tmp_path, "cs", prepare_interactions(
        Interactions(user.astype(object), item), split="mmrec", seed=3), feats)
    assert not (tmp_path / "cold_items.txt").exists()
    assert load_dataset(tmp_path).cold_items is None


def test_cold_items_file_errors(tmp_path):
    from mmgraph.data.formats import read_cold_items
    (tmp_path / "cold_items.txt").write_text("itemID\n3\nx\n")
    with pytest.raises(DataFormatError, match=r"cold_items.txt.*line 3.*itemID"):
        read_cold_items(tmp_path / "cold_items.txt", 10)
    (tmp_path / "cold_items.txt").write_text("itemID\n3\n12\n")
    with pytest.raises(DataFormatError, match="line 3.*not below the number of items 10"):
        read_cold_items(tmp_path / "cold_items.txt", 10)
    (tmp_path / "cold_items.txt").write_text("3\n")
    with pytest.raises(DataFormatError, match="header 'itemID'"):
        read_cold_items(tmp_path / "cold_items.txt", 10)


def test_a_cold_item_with_training_interactions_is_an_error():
    import torch
    from mmgraph.data import RecDataset
    ei = torch.tensor([[0, 1], [0, 1]])
    with pytest.raises(DataFormatError, match="item 1 is listed as cold"):
        RecDataset("x", 2, 3, ei, ei[:, :1], ei[:, :1], cold_items=torch.tensor([1, 2]))


def test_cold_items_need_a_split():
    inter = Interactions(np.array(["a", "b", "c"], dtype=object),
                         np.array(["x", "y", "z"], dtype=object), np.array([0, 1, 2], np.int8))
    with pytest.raises(DataFormatError, match="choose --split"):
        prepare_interactions(inter, split=None, cold_items=0.3)
