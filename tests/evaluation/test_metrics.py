import math

import pytest
import torch

from mmgraph.evaluation.metrics import (METRICS, compute_metrics,
                                        parse_metric_name)


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
    return {"recall": recall, "precision": precision, "ndcg": dcg / idcg,
            "map": ap, "hit": float(sum(hits) > 0), "f1": f1}


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
