import pytest
import torch

from mmgraph.data import RecDataset, make_synthetic
from mmgraph.data.noise import hide_positives


def _keys(ei, num_items):
    return set((ei[0] * num_items + ei[1]).tolist())


@pytest.fixture(scope="module")
def ds():
    return make_synthetic(num_users=60, num_items=40, avg_degree=8, seed=3)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.4])
def test_hidden_pairs_leave_train(ds, fraction):
    new = hide_positives(ds, fraction, seed=1)
    n = ds.num_items
    old, kept = _keys(ds.train_edge_index, n), _keys(new.train_edge_index, n)
    hidden = _keys(new.hidden_edge_index, n)
    assert len(hidden) == round(fraction * ds.train_edge_index.size(1))
    assert kept | hidden == old and not kept & hidden
    # every user keeps a training positive: nobody turns cold, the
    # evaluated users (and their targets) are unchanged
    assert torch.equal(new.valid_edge_index, ds.valid_edge_index)
    assert torch.equal(new.test_edge_index, ds.test_edge_index)
    per_user = torch.bincount(new.train_edge_index[0],
                              minlength=ds.num_users)
    had = torch.bincount(ds.train_edge_index[0], minlength=ds.num_users) > 0
    assert bool((per_user[had] >= 1).all())
    # the input is untouched and the copy's caches follow the new train set
    assert ds.train_edge_index.size(1) == len(old)
    assert new.norm_adj()._nnz() == 2 * len(kept)


def test_hidden_pairs_leave_every_split():
    # (0, 1) is in train *and* in valid/test (overlapping splits): once
    # hidden it must not remain a target either.
    train = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 2]])
    valid = torch.tensor([[0, 1], [1, 0]])
    test = torch.tensor([[0, 1], [1, 3]])
    ds = RecDataset("tiny", 2, 4, train, valid, test)
    for seed in range(20):
        new = hide_positives(ds, 0.5, seed=seed)
        hidden = _keys(new.hidden_edge_index, 4)
        for split in (new.valid_edge_index, new.test_edge_index):
            assert not _keys(split, 4) & hidden
        if 1 in hidden:  # the pair (0, 1)
            assert _keys(new.valid_edge_index, 4) == {1 * 4 + 0}
            assert _keys(new.test_edge_index, 4) == {1 * 4 + 3}
            break
    else:
        pytest.fail("pair (0, 1) was never hidden in 20 seeds")


def test_seeded_and_private_rng(ds):
    torch.manual_seed(0)
    before = torch.rand(3)
    torch.manual_seed(0)
    a = hide_positives(ds, 0.2, seed=5)
    after = torch.rand(3)
    assert torch.equal(before, after)  # global RNG untouched
    b = hide_positives(ds, 0.2, seed=5)
    c = hide_positives(ds, 0.2, seed=6)
    assert torch.equal(a.hidden_edge_index, b.hidden_edge_index)
    assert not torch.equal(a.hidden_edge_index, c.hidden_edge_index)


def test_errors(ds):
    with pytest.raises(ValueError, match="fraction"):
        hide_positives(ds, 1.0)
    with pytest.raises(ValueError, match="fraction"):
        hide_positives(ds, -0.1)
    per_user = torch.bincount(ds.train_edge_index[0])
    # keeping every user's full history leaves nothing to hide
    with pytest.raises(ValueError, match="cannot hide"):
        hide_positives(ds, 0.1, min_train_per_user=int(per_user.max()))
