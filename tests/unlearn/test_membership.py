import pytest
import torch

from mmgraph.data import NegativeSampler
from mmgraph.models import create_model
from mmgraph.models.base import Batch
from mmgraph.train.objectives import create_objective
from mmgraph.unlearn import ForgetRequest
from mmgraph.unlearn.membership import (attack_auc, membership_auc,
                                        membership_scores, nonmember_edges)


def test_auc_by_hand():
    # Pairs (member, non-member): 0.9>0.4, 0.9>0.1, 0.4=0.4 (half),
    # 0.4>0.1, 0.4=0.4 (half), 0.4>0.1 -> 5 of 6.
    members = torch.tensor([0.9, 0.4, 0.4])
    nonmembers = torch.tensor([0.4, 0.1])
    assert attack_auc(members, nonmembers) == pytest.approx(5 / 6)
    assert attack_auc(nonmembers, members) == pytest.approx(1 / 6)
    assert attack_auc(torch.ones(4), torch.ones(3)) == pytest.approx(0.5)
    # Against the O(n m) definition on random values with ties.
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (40,), generator=g).float()
    b = torch.randint(0, 5, (30,), generator=g).float()
    naive = ((a[:, None] > b[None]).double() +
             0.5 * (a[:, None] == b[None]).double()).mean()
    assert attack_auc(a, b) == pytest.approx(naive.item())
    with pytest.raises(ValueError, match="non-members"):
        attack_auc(a, b[:0])


class _Fixed(torch.nn.Module):
    r"""A model with a fixed score matrix."""

    def __init__(self, scores):
        super().__init__()
        self.s = scores
        self.num_users, self.num_items = scores.shape

    def embeddings(self):
        return self.s, torch.eye(self.num_items)

    def score(self, users, embeddings):
        return embeddings[0][users]


def test_rank_scores_by_hand():
    model = _Fixed(torch.tensor([[0.1, 0.5, 0.3, 0.9],
                                 [0.4, 0.2, 0.8, 0.6]]))
    pairs = torch.tensor([[0, 0, 1], [1, 2, 3]])
    # User 0, item 1 (0.5): above 0.1 and 0.3 of 4 items -> 2/4; item 2
    # (0.3): above 0.1 -> 1/4. User 1, item 3 (0.6): above 0.4, 0.2 -> 2/4.
    r = membership_scores(model, pairs, batch_size=1)
    assert r.tolist() == pytest.approx([0.5, 0.25, 0.5])
    # Masking user 0's item 0 and user 1's item 2: 1/3, 0/3 and 2/3.
    mask = torch.tensor([[0, 1], [0, 2]])
    r = membership_scores(model, pairs, mask_edge_index=mask)
    assert r.tolist() == pytest.approx([1 / 3, 0.0, 2 / 3])
    s = membership_scores(model, pairs, attack="score")
    assert s.tolist() == pytest.approx([0.5, 0.3, 0.6])
    with pytest.raises(ValueError, match="attack"):
        membership_scores(model, pairs, attack="loss")


def _memorised(ds, steps):
    torch.manual_seed(0)
    model = create_model("mf", ds)
    users, pos = ds.train_edge_index
    sampler = NegativeSampler(ds.train_edge_index, ds.num_users, ds.num_items)
    objective = create_objective("bpr", model, ds)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        loss = objective(model, Batch(users, pos, sampler.sample(users)))
        opt.zero_grad()
        loss["loss"].backward()
        opt.step()
    return model


@pytest.mark.parametrize("attack", ["rank", "score"])
def test_a_memorising_model_is_caught(tiny_dataset, attack):
    ds = tiny_dataset
    req = ForgetRequest.random("users", 0.3, ds, seed=0)
    forget, retain = req.split(ds)
    non = nonmember_edges(ds, forget[0])
    assert non.size(1) > 10 and torch.isin(non[0], req.ids).all()
    trained = membership_auc(_memorised(ds, 150), forget, non, retain,
                             attack=attack)
    untrained = membership_auc(_memorised(ds, 0), forget, non, retain,
                               attack=attack)
    assert trained > 0.95
    assert abs(untrained - 0.5) < 0.15
