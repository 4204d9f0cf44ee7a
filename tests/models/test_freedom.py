import pytest
import torch

from mmgraph.data import normalized_adjacency
from mmgraph.models import create_model
from mmgraph.models.freedom import (degree_sensitive_pruning,
                                    item_knn_adjacency, pruning_weights)

from .helpers import (assert_objective_reaches_every_parameter, assert_repr,
                      assert_reset_restores_features,
                      assert_same_seed_same_result, eval_embeddings,
                      fixed_batch, objective_backward, tiny_data,
                      training_losses)


def _dense(csr):
    return csr.to_dense()


def test_forward_shapes_and_repr():
    ds = tiny_data()
    model = create_model("freedom", ds, embedding_dim=16)
    eval_embeddings(model, ds, 16)
    assert_repr(model, "FREEDOM", "modalities=['image', 'text']",
                "dropout=0.8")


def test_embeddings_match_naive_formula():
    ds = tiny_data()
    model = create_model("freedom", ds, embedding_dim=8, dropout=0.0)
    model.eval()
    adj = _dense(ds.norm_adj())
    x0 = torch.cat([model.user_emb.weight, model.item_emb.weight])
    h = (x0 + adj @ x0 + adj @ adj @ x0) / 3
    # S = 0.1 K_image + 0.9 K_text, each row of K_m the mean over k items.
    s = torch.zeros(ds.num_items, ds.num_items)
    for m, w in (("image", 0.1), ("text", 0.9)):
        x = ds.features[m]
        sim = torch.nn.functional.normalize(x, dim=1)
        sim = sim @ sim.t()
        top = sim.topk(10, dim=1).indices
        s.scatter_add_(1, top, torch.full(top.shape, w / 10))
    u, i = model.embeddings()
    assert torch.allclose(u, h[:ds.num_users], atol=1e-5)
    expected = h[ds.num_users:] + s @ model.item_emb.weight
    assert torch.allclose(i, expected, atol=1e-5)


def test_gradients_reach_every_parameter():
    ds = tiny_data()
    model = create_model("freedom", ds, embedding_dim=8, reg_weight=0.1)
    assert_objective_reaches_every_parameter(model, ds)


def test_extra_loss_is_weighted_modality_bpr():
    ds = tiny_data()
    model = create_model("freedom", ds, embedding_dim=8, reg_weight=0.5)
    batch = fixed_batch(ds, n=5, k=2)
    u, i = model.embeddings()
    expected = 0.0
    for m in ("image", "text"):
        proj = model.encoders.encoders[m](model.encoders.features()[m])
        ub = u[batch.users]
        pos = (ub * proj[batch.pos_items]).sum(-1)
        neg = (ub.unsqueeze(1) * proj[batch.neg_items]).sum(-1)
        expected += -torch.nn.functional.logsigmoid(
            pos.unsqueeze(1) - neg).mean()
    got = model.extra_loss(batch, u, i)
    assert torch.allclose(got, 0.5 * expected)
    model.reg_weight = 0.0
    assert model.extra_loss(batch, u, i).item() == 0.0


def test_pruning_keeps_distinct_training_edges():
    ds = tiny_data()
    model = create_model("freedom", ds, embedding_dim=8, dropout=0.7)
    model.train()
    torch.manual_seed(1)
    model.on_epoch_start(0)
    kept = model.kept_edges
    num_edges = ds.train_edge_index.size(1)
    assert kept.size(1) == int(num_edges * (1 - 0.7))
    key = kept[0] * ds.num_items + kept[1]
    assert key.unique().numel() == key.numel()
    train_key = ds.train_edge_index[0] * ds.num_items + \
        ds.train_edge_index[1]
    assert torch.isin(key, train_key).all()
    # The training graph is the renormalised kept graph.
    expected = normalized_adjacency(kept, ds.num_users, ds.num_items)
    assert torch.allclose(_dense(model.current_adj()), _dense(expected))
    # A new epoch draws another subgraph.
    model.on_epoch_start(1)
    key2 = model.kept_edges[0] * ds.num_items + model.kept_edges[1]
    assert not torch.equal(key.sort().values, key2.sort().values)


def test_pruning_prefers_low_degree_edges():
    # Edge (0, 0) joins two degree-5 nodes, (5, 5) two degree-1 nodes.
    users = torch.tensor([0, 0, 0, 0, 0, 1, 2, 3, 4, 5])
    items = torch.tensor([0, 1, 2, 3, 4, 0, 0, 0, 0, 5])
    ei = torch.stack([users, items])
    w = pruning_weights(ei, 6, 6)
    assert torch.allclose(w[0], torch.tensor(1 / 5.0))
    assert torch.allclose(w[-1], torch.tensor(1.0))
    torch.manual_seed(0)
    hits = torch.zeros(10)
    for _ in range(300):
        kept, _ = degree_sensitive_pruning(ei, w, 0.5, 6, 6)
        assert kept.size(1) == 5
        hits += (ei.t().unsqueeze(1) == kept.t().unsqueeze(0)).all(-1).any(1)
    assert hits[-1] > 2 * hits[0]


def test_eval_uses_full_graph():
    ds = tiny_data()
    pruned = create_model("freedom", ds, embedding_dim=8, dropout=0.8)
    full = create_model("freedom", ds, embedding_dim=8, dropout=0.0)
    full.load_state_dict(pruned.state_dict())
    pruned.train()
    pruned.on_epoch_start(0)
    train_u, _ = pruned.embeddings()
    pruned.eval()
    full.eval()
    u, i = pruned.embeddings()
    u2, i2 = full.embeddings()
    assert torch.equal(u, u2) and torch.equal(i, i2)
    assert not torch.allclose(train_u, u)


def test_loss_falls_and_same_seed_same_result():
    ds = tiny_data()
    model = create_model("freedom", ds, embedding_dim=16, dropout=0.5)
    losses = training_losses(model, ds, 20, 0.02, objective="bpr")
    assert sum(losses[-3:]) / 3 < 0.7 * losses[0]
    assert_same_seed_same_result(
        "freedom", ds, dict(epochs=2, batch_size=128, eval_batch_size=64))


def test_reset_restores_trained_features():
    ds = tiny_data()
    model = create_model("freedom", ds, embedding_dim=8)
    assert_reset_restores_features(model, ds, "image")


@pytest.mark.parametrize("mods", [
    {"text": (12, 0.5)},
    {"audio": (6, 0.4), "image": (16, 0.8), "text": (8, 0.3)},
])
def test_any_number_of_modalities(mods):
    ds = tiny_data(mods)
    model = create_model("freedom", ds, embedding_dim=8, reg_weight=0.1)
    model.train()
    out = objective_backward("bpr", model, ds, fixed_batch(ds))
    assert torch.isfinite(out["loss"])
    assert set(model.encoders.modalities) == set(mods)
    # Graph weights: image w, the rest share 1 - w; rows sum to 1.
    s = item_knn_adjacency(ds, 10, 0.1).to_dense()
    assert torch.allclose(s.sum(1), torch.ones(ds.num_items), atol=1e-5)


def test_rebuild_on_retain_set_keeps_state():
    ds = tiny_data()
    model = create_model("freedom", ds, embedding_dim=8, dropout=0.5)
    state = model.state_dict()
    assert not any("adj" in k or "edge" in k for k in state)
    retain = ds.with_train_edges(ds.train_edge_index[:, ::2])
    model.build_graphs(retain)
    assert model.train_edges.size(1) == retain.train_edge_index.size(1)
    model.load_state_dict(state)
    model.train()
    model.on_epoch_start(0)
    key = model.kept_edges[0] * ds.num_items + model.kept_edges[1]
    retain_key = retain.train_edge_index[0] * ds.num_items + \
        retain.train_edge_index[1]
    assert torch.isin(key, retain_key).all()
