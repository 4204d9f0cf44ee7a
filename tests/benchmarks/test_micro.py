"""The micro-benchmarks' reference implementations agree with mmgraph (so the
ratios they print compare equal work), and the scripts run end to end."""

import pytest
import torch

from .scripts import load_script


_load = load_script


@pytest.fixture(scope="module")
def ev():
    return _load("bench_evaluation")


def test_random_dataset_has_the_requested_size_and_split(ev):
    ds = ev.random_dataset(300, 120, 3000, features={"text": 8}, seed=1)
    assert (ds.num_users, ds.num_items) == (300, 120)
    total = sum(ds.split_edge_index(s).size(1)
                for s in ("train", "valid", "test"))
    assert 2500 < total <= 3000          # duplicates are dropped
    assert torch.bincount(ds.train_edge_index[0], minlength=300).min() >= 1
    assert ds.features["text"].shape == (120, 8)


def test_loop_evaluators_match_the_evaluator(ev, tiny_dataset):
    from mmgraph.evaluation import Evaluator
    torch.manual_seed(0)
    u = torch.randn(tiny_dataset.num_users, 16)
    i = torch.randn(tiny_dataset.num_items, 16)

    class Fixed(torch.nn.Module):
        def embeddings(self):
            return u, i

        def score(self, users, emb):
            return emb[0][users] @ emb[1].t()
    fast = Evaluator(tiny_dataset, ev.METRICS, ev.TOPK).evaluate(Fixed(),
                                                                 "test")
    lists = ev.user_lists(tiny_dataset, "test")
    for slow in (ev.per_user_loop(u, i, lists),
                 ev.mmrec_style(u, i, lists, batch_size=7)):
        assert set(slow) == {k for k in fast if "@" in k}
        for key, value in slow.items():
            assert value == pytest.approx(fast[key], abs=1e-6), key


def test_rejection_loop_never_returns_a_training_item(tiny_dataset):
    bs = _load("bench_sampling")
    edges = tiny_dataset.train_edge_index
    items = [set() for _ in range(tiny_dataset.num_users)]
    for a, b in edges.t().tolist():
        items[a].add(b)
    users = edges[0].tolist()
    neg = bs.rejection_loop(users, items, sorted(set(edges[1].tolist())), 3)
    assert all(len(row) == 3 and not set(row) & items[u]
               for u, row in zip(users, neg))


def test_pyg_lightgcn_propagates_and_evaluates_like_mmgraph(tiny_dataset):
    bt = _load("bench_training")
    assert bt.check_same_propagation(tiny_dataset) < 1e-5
    ours = bt.MMGraphRunner("lightgcn", tiny_dataset, batch_size=128)
    theirs = bt.PyGLightGCN(tiny_dataset, batch_size=128)
    with torch.no_grad():
        theirs.model.embedding.weight.copy_(torch.cat(
            [ours.model.user_emb.weight, ours.model.item_emb.weight]))
    _, a = ours.evaluate()
    _, b = theirs.evaluate()
    for key in ("recall@10", "recall@20", "ndcg@20", "ndcg@50"):
        assert b[key] == pytest.approx(a[key], abs=1e-6), key
    assert theirs.train_epoch() > 0 and ours.train_epoch() > 0


def test_scripts_run_end_to_end(tiny_dataset, monkeypatch, capsys):
    for name in ("bench_evaluation", "bench_sampling", "bench_training"):
        monkeypatch.setattr(_load(name), "load",
                            lambda data, features=None: tiny_dataset)
    assert _load("bench_evaluation").main(["--repeat", "1", "--mmrec"]) == 0
    assert "per-user Python loop" in capsys.readouterr().out
    assert _load("bench_sampling").main(["--repeat", "1"]) == 0
    assert "4 negative(s)" in capsys.readouterr().out
    assert _load("bench_training").main(["--all-models", "--models",
                                         "mf,lightgcn"]) == 0
    out = capsys.readouterr().out
    assert "PyG LightGCN (edge_index message passing)" in out
    assert "not installed" in out or "installed: timing" in out


def test_loss_benchmark_compares_equal_work_and_restores_cm3(capsys):
    bl = _load("bench_losses")
    assert bl.check_agreement(48, 16) < 1e-5
    rows = bl.time_losses(32, [8], repeats=1)
    assert [r[3] for r in rows] == ["mmgraph", "autograd"] * 2
    assert all(r[-1] > 0 for r in rows)
    import mmgraph.models.cm3 as cm3_module
    from mmgraph.nn import losses
    steps = bl.time_cm3_steps("synthetic", steps=1, batch_size=64)
    assert [r[:2] for r in steps] == [["mmgraph", 1], ["autograd", 1]]
    # the model's own losses are back in place after the run
    assert cm3_module.uniformity_loss is losses.uniformity_loss
    assert cm3_module.calibrated_uniformity_loss is \
        losses.calibrated_uniformity_loss
    bl.main(["--batch", "16", "--dims", "8", "--repeats", "1"])
    assert "calibrated uniformity" in capsys.readouterr().out
