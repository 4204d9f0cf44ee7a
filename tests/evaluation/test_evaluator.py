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


def hand_dataset():
    # The tiny case of tests/evaluation/test_metrics.py: per-user scores
    # give the top-2 lists [1, 2], [2, 3], [1, 3] once training items are
    # masked; test targets are item 2, 3 and 1.
    train = torch.tensor([[0, 1, 1, 2], [0, 0, 1, 0]])
    test = torch.tensor([[0, 1, 2], [2, 3, 1]])
    ds = TinyDataset(3, 4, train, test, test)
    ds.features = {"text": torch.tensor([[1.0, 0.0], [1.0, 0.0],
                                         [0.0, 1.0], [1.0, 1.0]])}
    scores = torch.tensor([[9.0, 3, 2, 1], [9, 8, 3, 2], [9, 3, 1, 2]])
    return ds, FixedScores(torch.eye(3), scores.t().contiguous())


def test_beyond_accuracy_metrics_hand_computed():
    ds, model = hand_dataset()
    res = Evaluator(ds, topk=[2], batch_size=2).evaluate(model, "test")
    c = 1 / math.sqrt(2)
    expected = {"recall@2": 1.0, "mrr@2": 2 / 3, "coverage@2": 0.75,
                "gini@2": 0.25, "novelty@2": 8 / 3,
                "avg_popularity@2": 1 / 3,
                "diversity_text@2": (1 + 2 * (1 - c)) / 3}
    for key, value in expected.items():
        assert res[key] == pytest.approx(value), key
    assert res["num_users"] == 3
    assert "cold_num_users" not in res and "cold_note" not in res


def test_per_user_values_cover_per_user_metrics_only():
    ds, model = hand_dataset()
    res = Evaluator(ds, topk=[2]).evaluate(model, "test", per_user=True)
    assert res["per_user"]["novelty@2"].tolist() == pytest.approx(
        [2.5, 3.0, 2.5])
    assert "coverage@2" not in res["per_user"]


def cold_dataset():
    # 3 users, 6 items; items 4 and 5 are cold (no training interaction).
    # Scores rank items 5 > 0 > 1 > 2 > 3 > 4 for every user; each user's
    # training item is masked.
    train = torch.tensor([[0, 1, 2], [0, 1, 2]])
    test = torch.tensor([[0, 0, 1, 2], [3, 4, 3, 5]])
    ds = TinyDataset(3, 6, train, test, test)
    ds.cold_items = torch.tensor([4, 5])
    item = torch.tensor([[5.0], [4], [3], [2], [1], [6]])
    return ds, FixedScores(torch.ones(3, 1), item)


def test_cold_items_ranked_among_all_and_among_cold():
    ds, model = cold_dataset()
    model.scores_from_content = True
    res = Evaluator(ds, ["recall", "mrr"], [1, 2, 3]).evaluate(model, "test")
    # Users 0 (cold target 4) and 2 (cold target 5); user 1 has none.
    assert res["cold_num_users"] == 2 and res["cold_items"] == 2
    assert res["num_items"] == 6  # with cold_items: the chance levels
    # Among all items: user 0 ranks [5, 1, 2, ...] (4 is last), user 2
    # ranks [5, 0, 1]: recall@1 = (0 + 1) / 2.
    assert res["cold_recall@1"] == pytest.approx(0.5)
    assert res["cold_recall@3"] == pytest.approx(0.5)
    # Among the cold items [5, 4]: user 0 finds 4 at rank 2.
    assert res["cold_among_cold_recall@1"] == pytest.approx(0.5)
    assert res["cold_among_cold_recall@2"] == pytest.approx(1.0)
    assert res["cold_among_cold_mrr@2"] == pytest.approx(0.75)
    assert "cold_among_cold_recall@3" not in res  # only 2 cold items
    # The overall metrics still cover every user and every target.
    assert res["num_users"] == 3


def test_id_only_models_get_a_note_not_cold_metrics():
    ds, model = cold_dataset()  # FixedScores has no scores_from_content
    res = Evaluator(ds, ["recall"], [1, 2]).evaluate(model, "test")
    assert not [k for k in res if k.startswith("cold_") and "@" in k]
    assert "scores_from_content=False" in res["cold_note"]
    assert "recall@2" in res
    off = Evaluator(ds, ["recall"], [1], cold=False).evaluate(model, "test")
    assert "cold_note" not in off and "cold_items" not in off
    assert "num_items" not in off


def test_cold_true_without_cold_items_is_an_error():
    ds, model = hand_dataset()
    with pytest.raises(ValueError, match="records no cold items"):
        Evaluator(ds, cold=True).evaluate(model, "test")
