r"""Sampled training: with unlimited fan-out the subgraph embeddings equal the
full-graph ones at the batch's nodes (full-graph normalisation), a sampled
epoch trains, and models that cannot be sampled refuse in one line."""
import pytest
import torch

from mmgraph.data import load_dataset
from mmgraph.errors import MMGraphError
from mmgraph.models import create_model
from mmgraph.train import Trainer
from mmgraph.train.sampled import SubgraphBatches, check_sampled


@pytest.fixture(scope="module")
def ds():
    return load_dataset("synthetic", num_users=40, num_items=30,
                        avg_degree=5, seed=0)


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_unlimited_fanout_equals_full_graph(ds, layers):
    torch.manual_seed(0)
    model = create_model("lightgcn", ds, n_layers=layers).eval()
    source = SubgraphBatches(ds, [-1] * layers)
    trainer = Trainer(model, ds, dict(batch_size=16, num_negatives=2,
                                      topk=[10, 20]), show_progress=False)
    full_u, full_i = model.embeddings()
    seen = 0
    for b in source(trainer, 0):
        u, i = model.subgraph_embeddings(b)
        lb = b.local()
        torch.testing.assert_close(u[lb.users], full_u[b.users],
                                   rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(i[lb.pos_items], full_i[b.pos_items],
                                   rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(i[lb.neg_items], full_i[b.neg_items],
                                   rtol=1e-5, atol=1e-6)
        # global ids agree with the local positions
        assert torch.equal(b.user_ids[lb.users], b.users)
        assert torch.equal(b.item_ids[lb.neg_items], b.neg_items)
        assert b.neg_items.shape == (b.users.numel(), 2)
        seen += b.users.numel()
    assert seen == ds.train_edge_index.size(1)


def test_finite_fanout_is_a_smaller_subgraph_with_full_graph_weights(ds):
    from mmgraph.models.base import Batch
    source = SubgraphBatches(ds, [2, 2])
    torch.manual_seed(0)
    b = source.subgraph(Batch(ds.train_edge_index[0, :4],
                              ds.train_edge_index[1, :4],
                              torch.randint(ds.num_items, (4, 1))))
    n = b.user_ids.numel() + b.item_ids.numel()
    assert n < ds.num_users + ds.num_items
    # at most 2 sampled neighbours aggregated by each node
    assert int(b.adj.crow_indices().diff().max()) <= 2
    # every weight is 1/sqrt(d_u d_i) of the full training graph
    crow, col, w = b.adj.crow_indices(), b.adj.col_indices(), b.adj.values()
    row = torch.repeat_interleave(torch.arange(n), crow.diff())
    nu = b.user_ids.numel()
    is_user_row = row < nu
    u = torch.where(is_user_row, row, col)
    i = torch.where(is_user_row, col, row) - nu
    du = torch.bincount(ds.train_edge_index[0], minlength=ds.num_users)
    di = torch.bincount(ds.train_edge_index[1], minlength=ds.num_items)
    expected = (du[b.user_ids[u]] * di[b.item_ids[i]]).double().rsqrt()
    torch.testing.assert_close(w.double(), expected, rtol=1e-6, atol=0)


def test_sampled_training_learns(ds):
    model = create_model("lightgcn", ds)
    source = SubgraphBatches(ds, [10, 10])
    res = Trainer(model, ds, dict(epochs=3, batch_size=64, topk=[10, 20]),
                  batches=source, show_progress=False).fit()
    losses = [h["loss"] for h in res["history"]]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("mm_layers", [1, 2])
def test_freedom_sampled_step_equals_full_graph_step(ds, mm_layers):
    # Unlimited fan-out over the epoch's pruned graph: the sampled
    # embeddings and the whole objective (BPR + the modality BPR terms)
    # equal the full-graph ones on every batch.
    from mmgraph.models.base import Batch
    torch.manual_seed(0)
    model = create_model("freedom", ds, n_ui_layers=2, n_mm_layers=mm_layers,
                         knn_k=3)
    model.train()
    model.on_epoch_start(0)  # draws the pruned graph
    assert model.sampling_edges().size(1) < ds.train_edge_index.size(1)
    trainer = Trainer(model, ds, dict(batch_size=16, topk=[10, 20]),
                      show_progress=False)
    source = SubgraphBatches(ds, [-1, -1])
    full_u, full_i = model.embeddings()
    for b in source(trainer, 0):
        assert source.edges is model.kept_edges
        u, i = model.subgraph_embeddings(b)
        lb = b.local()
        torch.testing.assert_close(u[lb.users], full_u[b.users],
                                   rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(i[lb.neg_items], full_i[b.neg_items],
                                   rtol=1e-5, atol=1e-6)
        sampled = trainer.objective(model, b)["loss"]
        full = trainer.objective(model, Batch(b.users, b.pos_items,
                                              b.neg_items))["loss"]
        torch.testing.assert_close(sampled, full, rtol=1e-5, atol=1e-7)


def test_freedom_trains_sampled(ds):
    model = create_model("freedom", ds, knn_k=3)
    res = Trainer(model, ds, dict(epochs=3, batch_size=64, topk=[10, 20]),
                  batches=SubgraphBatches(ds, [10, 10]),
                  show_progress=False).fit()
    losses = [h["loss"] for h in res["history"]]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("name", ["bm3", "cm3", "lirdrec"])
def test_unsupported_models_refuse_in_one_line(ds, name):
    model = create_model(name, ds)
    with pytest.raises(MMGraphError) as err:
        check_sampled(model, "bpr")
    assert "\n" not in str(err.value) and name in str(err.value)


def test_other_objectives_refused(ds):
    with pytest.raises(MMGraphError, match="objective 'nbpo'"):
        check_sampled(create_model("lightgcn", ds), "nbpo")
    with pytest.raises(ValueError, match="num_neighbors"):
        SubgraphBatches(ds, [0, 10])
