import pytest
import torch

from mmgraph.data import NegativeSampler


def _edges():
    # 4 users, 10 items; user 3 has every item but 9 and 4 positive; item 8 never in train
    rows = [(0, 0), (0, 1), (1, 2), (2, 3), (2, 4), (2, 5)]
    rows += [(3, i) for i in range(10) if i not in (4, 9, 8)]
    rows += [(1, 9)]
    return torch.tensor(rows).t()


def test_never_positive_many_draws():
    ei = _edges()
    s = NegativeSampler(ei, 4, 10, candidates="all")
    g = torch.Generator().manual_seed(0)
    users = torch.arange(4).repeat(500)
    neg = s.sample(users, 20, generator=g)
    assert neg.shape == (2000, 20)
    pos = {(int(a), int(b)) for a, b in ei.t()}
    pairs = {(int(u), int(v)) for u, row in zip(users, neg) for v in row}
    assert not pairs & pos
    assert {v for u, v in pairs if u == 3} == {4, 8, 9}  # the only free items of user 3
    # roughly uniform over free items for user 3
    counts = torch.bincount(neg[users == 3].reshape(-1), minlength=10)[[4, 8, 9]].float()
    assert (counts / counts.sum() - 1 / 3).abs().max() < 0.05


def test_train_candidates_only():
    s = NegativeSampler(_edges(), 4, 10)  # MMRec default: items occurring in train
    neg = s.sample(torch.tensor([3] * 1000), 3)
    assert set(neg.unique().tolist()) == {4, 9}
    assert 8 not in NegativeSampler(_edges(), 4, 10).sample(torch.arange(4).repeat(300)).tolist()


def test_exact_fallback_and_random_users():
    g = torch.Generator().manual_seed(1)
    U, I = 50, 40
    ei = torch.stack([torch.randint(U, (1200,), generator=g),
                      torch.randint(I, (1200,), generator=g)])
    near_full = torch.stack([torch.zeros(I - 1, dtype=torch.long), torch.arange(1, I)])
    ei = torch.cat([ei[:, ei[0] != 0], near_full], 1)  # user 0 has all items but 0
    s = NegativeSampler(ei, U, I, candidates="all", max_rounds=0)  # force the exact path
    users = torch.randint(U, (5000,), generator=g)
    neg = s.sample(users, 4, generator=g)
    assert not s.is_positive(users[:, None], neg).any()
    assert (neg[users == 0] == 0).all()


def test_reproducible_and_global_rng():
    s = NegativeSampler(_edges(), 4, 10, candidates="all")
    u = torch.arange(4).repeat(50)
    a = s.sample(u, 5, generator=torch.Generator().manual_seed(3))
    b = s.sample(u, 5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    torch.manual_seed(11)
    c = s.sample(u, 5)
    torch.manual_seed(11)
    assert torch.equal(c, s.sample(u, 5))


def test_is_positive_and_full_user():
    ei = torch.tensor([[0, 0, 1], [0, 1, 1]])
    s = NegativeSampler(ei, 2, 2)
    assert s.is_positive(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1])).tolist() == \
        [True, True, False, True]
    with pytest.raises(ValueError, match="user 0"):
        s.sample(torch.tensor([1, 0]))
    assert s.sample(torch.tensor([1])).tolist() == [[0]]
