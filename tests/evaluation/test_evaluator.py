import math

import pytest
import torch

from mmgraph.evaluation import Evaluator
from tests.evaluation.test_metrics import naive_metrics


class TinyDataset:
    def __init__(self, num_users, num_items, train, valid, test):
        self.name = "tiny"
        self.num_users, self.num_items = num_users, num_items
        self.train_edge_index = train
        self.valid_edge_index, self.test_edge_index = valid, test

    def split_edge_index(self, split):
        return {"train": self.train_edge_index, "valid": self.valid_edge_index,
                "test": self.test_edge_index}[split]


class FixedScores(torch.nn.Module):
    def __init__(self, user_emb, item_emb):
        super().__init__()
        self.u, self.i = user_emb, item_emb
        self.calls = 0

    def embeddings(self):
        self.calls += 1
        return self.u, self.i

    def score(self, users, embeddings):
        return embeddings[0][users] @ embeddings[1].t()


def random_split(seed, num_users=50, num_items=60):
    g = torch.Generator().manual_seed(seed)
    pairs = torch.stack(torch.meshgrid(torch.arange(num_users),
                                       torch.arange(num_items),
                                       indexing="ij")).reshape(2, -1)
    keep = torch.rand(pairs.size(1), generator=g) < 0.2
    pairs = pairs[:, keep]
    label = torch.randint(0, 3, (pairs.size(1),), generator=g)
    return [pairs[:, label == s] for s in range(3)]


@pytest.mark.parametrize("seed", range(3))
def test_evaluator_matches_per_user_loop(seed):
    num_users, num_items = 50, 60
    train, valid, test = random_split(seed, num_users, num_items)
    ds = TinyDataset(num_users, num_items, train, valid, test)
    g = torch.Generator().manual_seed(seed)
    model = FixedScores(torch.randn(num_users, 8, generator=g),
                        torch.randn(num_items, 8, generator=g))
    ev = Evaluator(ds, ["recall", "ndcg", "precision", "map"], [5, 10, 20],
                   batch_size=7)
    for split, targets in (("valid", valid), ("test", test)):
        result = ev.evaluate(model, split)
        scores = model.u @ model.i.t()
        per_user = {}
        for u in targets[0].unique().tolist():
            s = scores[u].clone()
            s[train[1][train[0] == u]] = -math.inf
            ranked = s.argsort(descending=True)[:20].tolist()
            t = set(targets[1][targets[0] == u].tolist())
            for k in (5, 10, 20):
                for name, v in naive_metrics(ranked, t, k).items():
                    per_user.setdefault(f"{name}@{k}", []).append(v)
        for key in result:
            if "@" in key:
                ref = sum(per_user[key]) / len(per_user[key])
                assert result[key] == pytest.approx(ref, abs=1e-6), key
        assert result["num_users"] == targets[0].unique().numel()


def test_embeddings_computed_once_and_train_items_never_ranked():
    train, valid, test = random_split(0)
    ds = TinyDataset(50, 60, train, valid, test)
    model = FixedScores(torch.randn(50, 4), torch.randn(60, 4))
    ev = Evaluator(ds, batch_size=3)
    ev.evaluate(model, "test")
    assert model.calls == 1
    users = torch.arange(50)
    ranked = ev.rank(model, users, 30)
    train_keys = set((train[0] * 60 + train[1]).tolist())
    got = set((users.unsqueeze(1) * 60 + ranked).flatten().tolist())
    assert not (got & train_keys)


def test_validation_items_stay_candidates_when_testing():
    # One user, item 0 in train, item 1 in valid, item 2 in test: the valid
    # item scores highest and must occupy rank 1 of the test ranking.
    ds = TinyDataset(1, 3, torch.tensor([[0], [0]]), torch.tensor([[0], [1]]),
                     torch.tensor([[0], [2]]))
    model = FixedScores(torch.ones(1, 1), torch.tensor([[3.0], [2.0], [1.0]]))
    res = Evaluator(ds, ["recall"], [1, 2]).evaluate(model, "test")
    assert res["recall@1"] == 0.0 and res["recall@2"] == 1.0


def test_empty_split_is_a_clear_error():
    ds = TinyDataset(2, 3, torch.tensor([[0], [0]]),
                     torch.empty(2, 0, dtype=torch.long),
                     torch.tensor([[0], [2]]))
    model = FixedScores(torch.ones(2, 1), torch.ones(3, 1))
    with pytest.raises(ValueError, match="valid split has no interactions"):
        Evaluator(ds).evaluate(model, "valid")


def test_items_out_of_the_catalogue_are_never_ranked():
    # Items removed by an unlearning request (dataset.excluded_items) are
    # masked for every user, also for users without training items.
    train, valid, test = random_split(1)
    ds = TinyDataset(50, 60, train, valid, test)
    item_emb = torch.randn(60, 4)
    model = FixedScores(torch.randn(50, 4), item_emb)
    users = torch.arange(50)
    before = Evaluator(ds, batch_size=7).rank(model, users, 5)
    removed = torch.unique(before[:, 0])[:3]
    ds.excluded_items = removed
    after = Evaluator(ds, batch_size=7).rank(model, users, 5)
    assert torch.isin(before, removed).any()
    assert not torch.isin(after, removed).any()
