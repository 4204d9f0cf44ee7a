r"""Sampled training: with unlimited fan-out the subgraph embeddings equal the
full-graph ones at the batch's nodes (full-graph normalisation), a sampled
epoch trains, and models that cannot be sampled refuse in one line."""
import pytest
import torch

from mmgraph.data import load_dataset
from mmgraph.errors import MMGraphError
from mmgraph.models import create_model
from mmgraph.train import Trainer
from mmgraph.train.sampled import (SubgraphBatches, check_sampled,
                                   surplus_hops_advice)


@pytest.fixture(scope="module")
def ds():
    return load_dataset("synthetic", num_users=40, num_items=30,
                        avg_degree=5, seed=0)


def _assert_batch_rows_exact(model, b, full_u, full_i):
    # The subgraph's users, positives and negatives = the full-graph rows.
    u, i = model.subgraph_embeddings(b)
    lb = b.local()
    for got, want in ((u[lb.users], full_u[b.users]),
                      (i[lb.pos_items], full_i[b.pos_items]),
                      (i[lb.neg_items], full_i[b.neg_items])):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


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
        _assert_batch_rows_exact(model, b, full_u, full_i)
        lb = b.local()
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
    # every weight is 1/sqrt(d_u d_i) of the full training graph, times
    # d/m in the row of a node that kept m of its d neighbours
    crow, col, w = b.adj.crow_indices(), b.adj.col_indices(), b.adj.values()
    row = torch.repeat_interleave(torch.arange(n), crow.diff())
    nu = b.user_ids.numel()
    is_user_row = row < nu
    u = torch.where(is_user_row, row, col)
    i = torch.where(is_user_row, col, row) - nu
    du = torch.bincount(ds.train_edge_index[0], minlength=ds.num_users)
    di = torch.bincount(ds.train_edge_index[1], minlength=ds.num_items)
    d_row = torch.where(is_user_row, du[b.user_ids[u]], di[b.item_ids[i]])
    kept = crow.diff()[row]
    expected = (du[b.user_ids[u]] * di[b.item_ids[i]]).double().rsqrt() * \
        d_row.double() / kept.double()
    assert bool((d_row > kept).any())  # some rows were subsampled
    torch.testing.assert_close(w.double(), expected, rtol=1e-6, atol=0)


def test_subsampled_aggregation_is_unbiased(ds):
    # The mean over draws of a hub's scaled sampled aggregate equals its
    # full-graph aggregate; the unscaled sum would shrink it by about k/d.
    from mmgraph.train.sampled import _csr, _sample
    users, items = ds.train_edge_index
    ptr, col = _csr(items, users, ds.num_items)
    hub = int(torch.argmax(ptr.diff()))
    d = int(ptr[hub + 1] - ptr[hub])
    assert d >= 8
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(ds.num_users, generator=gen).double()
    full = x[col[ptr[hub]:ptr[hub + 1]]].sum()
    torch.manual_seed(0)
    draws, scaled, unscaled = 4000, 0.0, 0.0
    for _ in range(draws):
        _, pos, scale = _sample(ptr, col, torch.tensor([hub]), 2)
        scaled += float((scale.double() * x[col[pos]]).sum())
        unscaled += float(x[col[pos]].sum())
    torch.testing.assert_close(scaled / draws, float(full), rtol=0.03,
                               atol=0)
    assert unscaled / draws < 0.5 * float(full)


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


#: The sampled models with settings small enough for the fixture, and the
#: hops of their user-item propagation.
SAMPLED = {
    "lightgcn": (dict(n_layers=2), 2),
    "freedom": (dict(n_ui_layers=2, knn_k=3), 2),
    "bm3": (dict(n_layers=2), 2),
    "cm3": (dict(n_ui_layers=2, n_mm_layers=2, knn_k=3), 2),
    "lirdrec": (dict(n_ui_layers=2, n_mm_layers=2, knn_k=3), 2),
}


@pytest.fixture(scope="module")
def sparse_ds():
    # Sparse enough that a batch's 2-hop neighbourhood (plus 2 kNN hops)
    # leaves nodes out.
    return load_dataset("synthetic", num_users=200, num_items=300,
                        avg_degree=2, seed=0)


def _sampled_model(ds, name, batch_size=16, objective="auto", **extra):
    kwargs, hops = SAMPLED[name]
    torch.manual_seed(0)
    model = create_model(name, ds, **kwargs, **extra).eval()
    trainer = Trainer(model, ds, dict(batch_size=batch_size, num_negatives=1,
                                      topk=[10, 20], objective=objective),
                      show_progress=False)
    source = SubgraphBatches(ds, [-1] * hops)
    source.use_item_graph(model.sampling_item_graph())
    return model, trainer, source


@pytest.mark.parametrize("name", list(SAMPLED))
def test_every_sampled_model_is_exact_at_the_batch_rows(sparse_ds, name):
    # Unlimited fan-outs (user-item hops and the kNN relation): the batch's
    # users, positives and negatives get their full-graph representations,
    # though the subgraph leaves nodes out.
    ds = sparse_ds
    model, trainer, source = _sampled_model(ds, name, batch_size=4)
    full_u, full_i = model.embeddings()
    smaller = False
    for b in source(trainer, 0):
        _assert_batch_rows_exact(model, b, full_u, full_i)
        smaller |= b.user_ids.numel() + b.item_ids.numel() < \
            ds.num_users + ds.num_items
    assert smaller


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters()
            if p.grad is not None}


def _step(model, trainer, batch):
    model.zero_grad()
    torch.manual_seed(2)  # BM3's dropout targets
    loss = trainer.objective(model, batch)["loss"]
    loss.backward()
    return loss.detach(), _grads(model)


def _assert_same_step(model, trainer, full, sampled):
    loss_f, grad_f = _step(model, trainer, full)
    loss_s, grad_s = _step(model, trainer, sampled)
    torch.testing.assert_close(loss_s, loss_f, rtol=1e-5, atol=1e-7)
    assert grad_s.keys() == grad_f.keys()
    for n, g in grad_f.items():
        torch.testing.assert_close(grad_s[n], g, rtol=1e-4, atol=1e-6,
                                   msg=n)


@pytest.mark.parametrize("name", list(SAMPLED))
def test_sampled_gradients_equal_full_graph_gradients(sparse_ds, name):
    # A batch whose subgraph leaves nodes out, unlimited fan-outs: the
    # objective (native for BM3 and CM3) and every parameter's gradient equal
    # the full-graph step's. The subgraph's adjacency is not symmetric, so
    # this fails if its backward reuses A for A^T. (BM3's and LIRDRec's
    # regularisers over all rows are only estimated on a subgraph, so they
    # are off here; the next test covers them.)
    from mmgraph.models.base import Batch
    ds = sparse_ds
    model, trainer, source = _sampled_model(ds, name, batch_size=8)
    if hasattr(model, "reg_weight") and name in ("bm3", "lirdrec"):
        model.reg_weight = 0.0
    sampled = next(iter(source(trainer, 0)))
    dense = sampled.adj.to_dense()
    assert not torch.equal(dense, dense.t())
    assert sampled.user_ids.numel() < ds.num_users
    _assert_same_step(model, trainer, Batch(sampled.users, sampled.pos_items,
                                            sampled.neg_items), sampled)


@pytest.mark.parametrize("name,extra", [
    ("bm3", dict(reg_weight=0.0)),
    ("cm3", dict(extra_uniformity_weight=0.5))])
def test_native_loss_models_with_bpr_sampled_equal_full(sparse_ds, name,
                                                        extra):
    # The pairwise path: subgraph_embeddings + extra_loss (BM3's modality
    # terms, CM3's extra uniformity term) on a partial subgraph.
    from mmgraph.models.base import Batch
    model, trainer, source = _sampled_model(sparse_ds, name, batch_size=8,
                                            objective="bpr", **extra)
    sampled = next(iter(source(trainer, 0)))
    assert sampled.user_ids.numel() < sparse_ds.num_users
    _assert_same_step(model, trainer, Batch(sampled.users, sampled.pos_items,
                                            sampled.neg_items), sampled)


def test_lightgcn_regulariser_on_a_subgraph_equals_the_tables_rows(
        sparse_ds):
    # On a subgraph LightGCN's EmbLoss reads the batch's rows of the inputs
    # it gathered for the propagation (one dense gradient per table); with a
    # weight large enough to matter, loss and gradients equal the full step.
    from mmgraph.models.base import Batch
    model, trainer, source = _sampled_model(sparse_ds, "lightgcn",
                                            batch_size=8, reg_weight=0.5)
    sampled = next(iter(source(trainer, 0)))
    full = Batch(sampled.users, sampled.pos_items, sampled.neg_items)
    parts = trainer.objective(model, sampled)
    assert parts["extra"] > 0.01 * parts["loss"]
    _assert_same_step(model, trainer, full, sampled)
    assert model._subgraph_ego is None  # nothing kept after the step


@pytest.mark.parametrize("name", list(SAMPLED))
def test_sampled_step_over_every_node_equals_full_graph_step(ds, name):
    # One batch of every training pair: the subgraph holds every node, so
    # the regularisers' estimates are the full values too.
    from mmgraph.models.base import Batch
    model, trainer, source = _sampled_model(ds, name)
    users, items = ds.train_edge_index
    torch.manual_seed(1)
    full = Batch(users, items, torch.randint(ds.num_items,
                                             (users.numel(), 1)))
    sampled = source.subgraph(full)
    assert sampled.user_ids.numel() == ds.num_users
    _assert_same_step(model, trainer, full, sampled)


def test_item_relation_fanout_keeps_knn_weights(ds):
    model = create_model("cm3", ds, knn_k=5)
    source = SubgraphBatches(ds, [2, 2], item_neighbors=2)
    source.use_item_graph(model.sampling_item_graph())
    from mmgraph.models.base import Batch
    torch.manual_seed(0)
    b = source.subgraph(Batch(ds.train_edge_index[0, :4],
                              ds.train_edge_index[1, :4],
                              torch.randint(ds.num_items, (4, 1))))
    a = b.item_adj
    assert a.shape == (b.item_ids.numel(), b.item_ids.numel())
    assert int(a.crow_indices().diff().max()) <= 2
    full = model.item_adj.to_dense()
    row = torch.repeat_interleave(torch.arange(a.size(0)),
                                  a.crow_indices().diff())
    expected = full[b.item_ids[row], b.item_ids[a.col_indices()]]
    assert bool((expected > 0).all())
    # S's weight times k/m: the row kept m of its k neighbours
    k = (full[b.item_ids[row]] > 0).sum(1)
    kept = a.crow_indices().diff()[row]
    assert bool((k > kept).any())
    torch.testing.assert_close(a.values(), expected * k / kept)
    # the batch's items and their sampled kNN neighbours are all present
    assert bool(torch.isin(b.item_ids[a.col_indices()], b.item_ids).all())


@pytest.mark.parametrize("name", ["bm3", "cm3", "lirdrec"])
def test_multimodal_models_train_sampled(ds, name):
    # Through TrainConfig(sampled=True): BM3 and CM3 with their native
    # losses, LIRDRec with BPR; a finite kNN fan-out.
    kwargs, _ = SAMPLED[name]
    torch.manual_seed(0)
    model = create_model(name, ds, **kwargs)
    res = Trainer(model, ds, dict(epochs=4, batch_size=64, topk=[10, 20],
                                  sampled=True, num_neighbors=[5, 5],
                                  item_neighbors=2, learning_rate=1e-2),
                  show_progress=False).fit()
    losses = [h["loss"] for h in res["history"]]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("name", ["vbpr", "mgcn", "grcn"])
def test_unsupported_models_refuse_in_one_line(ds, name):
    model = create_model(name, ds)
    with pytest.raises(MMGraphError) as err:
        check_sampled(model, "bpr")
    assert "\n" not in str(err.value) and name in str(err.value)


def test_other_objectives_refused(ds):
    with pytest.raises(MMGraphError, match="objective 'nbpo'"):
        check_sampled(create_model("lightgcn", ds), "nbpo")
    with pytest.raises(MMGraphError, match="objective 'native'"):
        check_sampled(create_model("lightgcn", ds), "native")
    with pytest.raises(ValueError, match="num_neighbors"):
        SubgraphBatches(ds, [0, 10])
    with pytest.raises(ValueError, match="item_neighbors"):
        SubgraphBatches(ds, [10], item_neighbors=0)


# --------------------------------------------------------------- item_history
@pytest.mark.parametrize("name", ["cm3", "lirdrec"])
def test_item_history_step_is_the_step_with_non_seed_inputs_detached(
        sparse_ds, name):
    # A naive reference: every subgraph item encoded, the non-seed rows
    # detached. With the history just refreshed (same parameters) the loss
    # equals the exact step's and the gradients equal the reference's; they
    # differ from the exact step's (the neighbours' encoder gradient is
    # what the history gives up).
    from mmgraph.train.sampled import refresh_item_history, set_item_history
    model, trainer, source = _sampled_model(sparse_ds, name, batch_size=8)
    b = next(iter(source(trainer, 0)))
    loss_exact, grad_exact = _step(model, trainer, b)

    seeds = torch.unique(torch.cat([b.local_pos, b.local_neg.reshape(-1)]))
    is_seed = torch.zeros(b.item_ids.numel(), dtype=torch.bool)
    is_seed[seeds] = True
    assert not bool(is_seed.all())

    def detached_rest(batch):
        return [torch.where(is_seed.unsqueeze(1), x, x.detach())
                for x in model.item_inputs(batch.item_ids)]
    model.sampled_item_inputs = detached_rest
    loss_ref, grad_ref = _step(model, trainer, b)
    del model.sampled_item_inputs

    set_item_history(model, True, sampled=True)
    refresh_item_history(model)
    loss_hist, grad_hist = _step(model, trainer, b)
    torch.testing.assert_close(loss_hist, loss_exact, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(loss_hist, loss_ref, rtol=1e-5, atol=1e-7)
    assert grad_hist.keys() == grad_ref.keys()
    for n, g in grad_ref.items():
        torch.testing.assert_close(grad_hist[n], g, rtol=1e-4, atol=1e-6,
                                   msg=n)
    encoder = [n for n in grad_exact if "mlps" in n or "encoders" in n]
    assert encoder and any(not torch.allclose(grad_hist[n], grad_exact[n])
                           for n in encoder)


def test_item_history_reads_stale_rows_until_the_next_refresh(sparse_ds):
    from mmgraph.train.sampled import refresh_item_history, set_item_history
    model, trainer, source = _sampled_model(sparse_ds, "lirdrec",
                                            batch_size=8)
    set_item_history(model, True, sampled=True)
    refresh_item_history(model)
    before = model.item_history.table.clone()
    with torch.no_grad():
        for p in model.encoders.parameters():
            p.mul_(1.5)
    b = next(iter(source(trainer, 0)))
    rows = torch.cat(model.sampled_item_inputs(b), 1)
    seeds = torch.unique(torch.cat([b.local_pos, b.local_neg.reshape(-1)]))
    rest = torch.ones(b.item_ids.numel(), dtype=torch.bool)
    rest[seeds] = False
    torch.testing.assert_close(rows[rest], before[b.item_ids[rest]])
    now = torch.cat(model.item_inputs(b.item_ids[seeds]), 1)
    torch.testing.assert_close(rows[seeds], now)
    torch.testing.assert_close(model.item_history.table[b.item_ids[seeds]],
                               now.detach())
    refresh_item_history(model)
    torch.testing.assert_close(model.item_history.table,
                               torch.cat(model.item_inputs(), 1).detach())


@pytest.mark.parametrize("name", ["cm3", "lirdrec"])
def test_models_train_sampled_with_item_history(ds, name):
    kwargs, _ = SAMPLED[name]
    torch.manual_seed(0)
    model = create_model(name, ds, **kwargs)
    trainer = Trainer(model, ds, dict(
        epochs=4, batch_size=64, topk=[10, 20], sampled=True,
        num_neighbors=[5, 5], item_history=True, learning_rate=1e-2),
        show_progress=False)
    calls = []
    refresh = model.item_history.refresh
    model.item_history.refresh = lambda f: calls.append(1) or refresh(f)
    res = trainer.fit()
    losses = [h["loss"] for h in res["history"]]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]
    assert len(calls) == len(losses)  # once per epoch
    # the model's state is unchanged by the history (data, not state)
    assert not any("item_history" in k for k in model.state_dict())
    # a later Trainer without it removes it
    Trainer(model, ds, dict(epochs=1, batch_size=64, topk=[10, 20],
                            sampled=True), show_progress=False)
    assert model._modules.get("item_history") is None


def test_item_history_refusals_are_one_line(ds):
    from mmgraph.config import ConfigError
    cases = [("cm3", dict(item_history=True), "needs sampled training"),
             ("lightgcn", dict(item_history=True, sampled=True),
              "model 'lightgcn' does not compute its item inputs from "
              "content; expected one of cm3, lirdrec")]
    for name, cfg, message in cases:
        with pytest.raises(ConfigError) as err:
            Trainer(create_model(name, ds), ds, dict(cfg, topk=[10, 20]),
                    show_progress=False)
        assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("layers,hops", [(2, 2), (3, 2), (2, 3), (1, 2)])
def test_trimmed_layers_give_the_seeds_the_untrimmed_outputs(ds, layers,
                                                               hops):
    # Finite fan-out: layer l of L maps the nodes within min(L - l + 1, H)
    # hops to those within min(L - l, H). Every layer's output at the
    # batch's rows is what the whole subgraph gives at every layer, and the
    # last layer runs over the first hop's edges only.
    from mmgraph.models.base import Batch
    from mmgraph.nn.propagation import LightGCNPropagation
    from mmgraph.nn.trimmed import narrow_blocks
    torch.manual_seed(0)
    b = SubgraphBatches(ds, [3] * hops).subgraph(Batch(
        ds.train_edge_index[0, :6], ds.train_edge_index[1, :6],
        torch.randint(ds.num_items, (6,))))
    # nodes in the order they were reached: the batch's own come first
    u0, i0 = b.blocks[0]
    assert torch.equal(b.user_ids[:u0], torch.unique(b.users))
    assert set(torch.cat([b.pos_items, b.neg_items]).tolist()) == \
        set(b.item_ids[:i0].tolist())
    assert bool((b.local_users < u0).all() and (b.local_pos < i0).all())
    trimmed_adj = b.layer_adjacencies(layers)
    row, col, weight, ends = b.hop_edges
    assert len(ends) == hops == len(b.blocks) - 1
    assert trimmed_adj.output_block == b.blocks[0]
    assert trimmed_adj.layers[-1][0]._nnz() == ends[0] < b.adj._nnz()
    for layer, (a, source, target) in enumerate(trimmed_adj.layers, 1):
        assert target == b.blocks[min(layers - layer, hops)]
        assert tuple(a.shape) == (sum(target), sum(source))
    prop = LightGCNPropagation(layers, combine="stack")
    x = torch.randn(b.adj.size(0), 4, requires_grad=True)
    trimmed = prop(x, trimmed_adj, symmetric=False)
    whole = prop(x, b.adj, symmetric=False)
    assert trimmed.shape == (layers + 1, u0 + i0, 4)
    at_seeds = torch.stack([narrow_blocks(h, b.blocks[-1], b.blocks[0])
                            for h in whole])
    torch.testing.assert_close(trimmed, at_seeds)
    # and so is the gradient of anything computed from the seeds' rows
    w = torch.randn_like(trimmed)
    g_trim, = torch.autograd.grad((trimmed * w).sum(), x)
    g_whole, = torch.autograd.grad((at_seeds * w).sum(), x)
    torch.testing.assert_close(g_trim, g_whole)


def test_trimmed_adjacency_refusals():
    from mmgraph.nn.propagation import LightGCNPropagation
    from mmgraph.nn.trimmed import TrimmedAdjacency, narrow_blocks
    with pytest.raises(ValueError, match="not inside"):
        narrow_blocks(torch.zeros(5, 2), (3, 2), (1, 3))
    a = torch.eye(3).to_sparse_csr()
    adj = TrimmedAdjacency([(a, (2, 1), (2, 1))], (2, 1))
    with pytest.raises(ValueError, match="1 layers for 2"):
        LightGCNPropagation(2)(torch.ones(3, 2), adj)
    with pytest.raises(ValueError, match="4 rows for a subgraph of 3"):
        LightGCNPropagation(1)(torch.ones(4, 2), adj)
    assert "TrimmedAdjacency([3, 3]:3)" == repr(adj)


def test_more_hops_than_layers_is_advised_against(ds, caplog):
    bm3 = create_model("bm3", ds)  # one layer by default
    advice = surplus_hops_advice(bm3, [10, 10])
    assert advice == ("sampled: model 'bm3' propagates 1 user-item layer(s) "
                      "but num_neighbors [10, 10] samples 2 hops; the last 1 "
                      "only enlarge the subgraph (num_neighbors=[10] matches "
                      "the layers)")
    assert surplus_hops_advice(bm3, [10]) is None
    lightgcn = create_model("lightgcn", ds)  # two layers
    assert surplus_hops_advice(lightgcn, [5, 5]) is None
    assert surplus_hops_advice(lightgcn, [5]) is None  # fewer hops: fine
    assert surplus_hops_advice(create_model("mf", ds), [5, 5, 5]) is None
    with caplog.at_level("WARNING", logger="mmgraph"):
        Trainer(bm3, ds, dict(sampled=True, num_neighbors=[5, 5]),
                show_progress=False)
    assert advice.replace("[10, 10]", "[5, 5]").replace("[10]", "[5]") in \
        caplog.text
