import math

import pytest
import torch

from mmgraph.evaluation.metrics import (
    METRICS, compute_catalogue_metrics, compute_list_metrics, compute_metrics,
    coverage, expand_metric_names, gini, intra_list_distance, item_popularity,
    parse_metric_name, recommendation_counts, self_information)


def naive_metrics(ranked, targets, k):
    """Per-user reference straight from MMRec's definitions."""
    hits = [1 if item in targets else 0 for item in ranked[:k]]
    n = len(targets)
    recall = sum(hits) / n
    precision = sum(hits) / k
    dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
    idcg = sum(1 / math.log2(r + 2) for r in range(min(n, k)))
    ap = sum(h * sum(hits[:r + 1]) / (r + 1)
             for r, h in enumerate(hits)) / min(n, k)
    f1 = 0.0 if recall + precision == 0 else \
        2 * recall * precision / (recall + precision)
    rr = next((1 / (r + 1) for r, h in enumerate(hits) if h), 0.0)
    return {"recall": recall, "precision": precision, "ndcg": dcg / idcg,
            "map": ap, "hit": float(sum(hits) > 0), "f1": f1, "mrr": rr}


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_naive_reference(seed):
    g = torch.Generator().manual_seed(seed)
    num_users, num_items, K = 30, 40, 20
    ranked = torch.stack([torch.randperm(num_items, generator=g)[:K]
                          for _ in range(num_users)])
    targets = []
    for u in range(num_users):
        # Include users with one target and users with more targets than k.
        n = [1, 25, 3][u % 3] if u < 6 else \
            int(torch.randint(1, 30, (1,), generator=g))
        targets.append(set(torch.randperm(num_items, generator=g)[:n].tolist()))
    hits = torch.tensor([[int(i) in t for i in row.tolist()]
                         for row, t in zip(ranked, targets)])
    num_targets = torch.tensor([len(t) for t in targets])
    for k in (1, 5, 10, 20):
        values = compute_metrics(hits, num_targets, METRICS.keys(), [k])
        for u in range(num_users):
            ref = naive_metrics(ranked[u].tolist(), targets[u], k)
            for name, v in ref.items():
                assert values[f"{name}@{k}"][u].item() == pytest.approx(
                    v, abs=1e-6), (name, k, u)


def test_hand_computed_values():
    # Targets {a, b}; top-3 = [a, x, b] -> hits [1, 0, 1].
    hits = torch.tensor([[True, False, True]])
    n = torch.tensor([2])
    v = compute_metrics(hits, n, ["recall", "ndcg", "precision", "map"], [3])
    assert v["recall@3"].item() == pytest.approx(1.0)
    assert v["precision@3"].item() == pytest.approx(2 / 3)
    idcg = 1 + 1 / math.log2(3)
    assert v["ndcg@3"].item() == pytest.approx((1 + 1 / math.log2(4)) / idcg)
    assert v["map@3"].item() == pytest.approx((1 + 2 / 3) / 2)


def test_recall_denominator_is_num_targets_not_k():
    hits = torch.tensor([[True, True]])
    v = compute_metrics(hits, torch.tensor([10]), ["recall"], [2])
    assert v["recall@2"].item() == pytest.approx(0.2)


def test_parse_metric_name_errors():
    assert parse_metric_name("Recall@20") == ("recall", 20)
    with pytest.raises(ValueError, match="expected '<metric>@<k>'"):
        parse_metric_name("recall20")
    with pytest.raises(ValueError, match="unknown metric"):
        parse_metric_name("auc@5")


def test_naive_reference_covers_every_hit_metric():
    assert set(naive_metrics([0], {0}, 1)) == set(METRICS)


def test_mrr_hand_computed():
    hits = torch.tensor([[False, True, True], [False, False, False],
                         [True, False, False]])
    v = compute_metrics(hits, torch.tensor([2, 1, 1]), ["mrr"], [1, 3])
    assert v["mrr@1"].tolist() == [0.0, 0.0, 1.0]
    assert v["mrr@3"].tolist() == pytest.approx([0.5, 0.0, 1.0])


# A tiny catalogue computed by hand: 4 items, training popularity
# n = [3, 1, 0, 0] (N = 4), top-2 lists [1, 2], [2, 3], [1, 3], 2-d text
# features item0 = item1 = (1, 0), item2 = (0, 1), item3 = (1, 1).
RANKED = torch.tensor([[1, 2], [2, 3], [1, 3]])
TRAIN = torch.tensor([[0, 1, 1, 2], [0, 0, 1, 0]])
TEXT = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


def test_popularity_and_self_information_hand_computed():
    pop = item_popularity(TRAIN, 4)
    assert pop.tolist() == [3, 1, 0, 0]
    # p(i) = (n_i + 1) / (N + I) = [4, 2, 1, 1] / 8
    assert self_information(pop).tolist() == pytest.approx([1, 2, 3, 3])


def test_list_metrics_hand_computed():
    v = compute_list_metrics(RANKED, ["novelty", "avg_popularity",
                                      "diversity_text"], [1, 2],
                             item_popularity(TRAIN, 4), {"text": TEXT})
    assert v["novelty@2"].tolist() == pytest.approx([2.5, 3.0, 2.5])
    assert v["novelty@1"].tolist() == pytest.approx([2.0, 3.0, 2.0])
    assert v["avg_popularity@2"].tolist() == pytest.approx([0.5, 0.0, 0.5])
    c = 1 / math.sqrt(2)  # cos((0, 1), (1, 1)) = cos((1, 0), (1, 1))
    assert v["diversity_text@2"].tolist() == pytest.approx([1, 1 - c, 1 - c])
    assert v["diversity_text@1"].tolist() == [0.0, 0.0, 0.0]


def test_catalogue_metrics_hand_computed():
    counts = recommendation_counts(RANKED, [1, 2], 4)
    assert counts.tolist() == [[0, 2, 1, 0], [0, 2, 2, 2]]
    v = compute_catalogue_metrics(counts, ["coverage", "gini"], [1, 2])
    assert v["coverage@2"] == pytest.approx(0.75)
    assert v["coverage@1"] == pytest.approx(0.5)
    # sorted counts [0, 2, 2, 2]: sum_j (2j - 5) c_j / (4 * 6) = 6 / 24
    assert v["gini@2"] == pytest.approx(0.25)
    # sorted [0, 0, 1, 2]: (1 * 1 + 3 * 2) / (4 * 3)
    assert v["gini@1"] == pytest.approx(7 / 12)


def test_gini_and_coverage_extremes():
    assert gini(torch.tensor([5, 5, 5, 5])).item() == pytest.approx(0.0)
    assert gini(torch.tensor([0, 0, 0, 8])).item() == pytest.approx(0.75)
    assert gini(torch.zeros(3, dtype=torch.long)).item() == 0.0
    assert coverage(torch.tensor([0, 1, 0, 3])).item() == 0.5


@pytest.mark.parametrize("seed", range(3))
def test_intra_list_distance_matches_pairwise_loop(seed):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(30, 6, generator=g)
    feats[3] = 0  # an item without features: cosine 0 with everything
    ranked = torch.stack([torch.randperm(30, generator=g)[:8]
                          for _ in range(11)])
    got = intra_list_distance(ranked, feats, [2, 5, 8], chunk_elements=50)
    unit = torch.nn.functional.normalize(feats, dim=1)
    for k in (2, 5, 8):
        for u in range(11):
            items = ranked[u, :k].tolist()
            d = [1 - float(unit[a] @ unit[b]) for x, a in enumerate(items)
                 for b in items[x + 1:]]
            assert got[k][u].item() == pytest.approx(sum(d) / len(d),
                                                     abs=1e-5)


def test_expand_metric_names():
    assert expand_metric_names(["Recall", "diversity", "recall"],
                               ["image", "text"]) == [
        "recall", "diversity_image", "diversity_text"]
    assert expand_metric_names(["diversity"], []) == []
    with pytest.raises(ValueError, match="no 'image' features"):
        expand_metric_names(["diversity_image"], ["text"])
    for name in ("coverage@20", "gini@5", "novelty@1", "avg_popularity@50",
                 "diversity@10", "diversity_text@10", "mrr@3"):
        parse_metric_name(name)
    with pytest.raises(ValueError, match="unknown metric"):
        parse_metric_name("diversity_@10")
