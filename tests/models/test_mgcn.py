import pytest
import torch

from mmgraph.models import create_model
from mmgraph.nn.losses import info_nce_loss

from .helpers import (assert_objective_reaches_every_parameter, assert_repr,
                      assert_reset_restores_features,
                      assert_same_seed_same_result, eval_embeddings,
                      fixed_batch, objective_backward, tiny_data,
                      training_losses)


def _naive(model, ds):
    """Dense re-computation of MGCN's forward from the equations."""
    n_u, n_i = ds.num_users, ds.num_items
    n = n_u + n_i
    a = torch.zeros(n, n)
    r, c = ds.train_edge_index
    a[r, c + n_u] = 1
    a[c + n_u, r] = 1
    d = a.sum(1).pow(-0.5)
    d[torch.isinf(d)] = 0
    a = d[:, None] * a * d[None, :]
    x0 = torch.cat([model.user_emb.weight, model.item_emb.weight])
    h = (x0 + a @ x0 + a @ a @ x0) / 3
    mods = []
    for m in model.modalities:
        f = ds.features[m]
        fn = f / f.norm(dim=1, keepdim=True)
        sim = fn @ fn.t()
        val, idx = sim.topk(model.knn_k, dim=1)
        s = torch.zeros_like(sim).scatter_(1, idx, val)
        dd = s.sum(1).pow(-0.5)
        s = dd[:, None] * s * dd[None, :]
        t = model.encoders.encoders[m](model.encoders.features()[m])
        g = model.purifier[m][0]
        x = model.item_emb.weight * torch.sigmoid(g(t))
        x = s @ x
        mods.append(torch.cat([a[:n_u, n_u:] @ x, x]))
    q = model.query
    att = torch.softmax(torch.cat(
        [q[2](torch.tanh(q[0](x))) for x in mods], 1), 1)
    common = att[:, :1] * mods[0] + att[:, 1:] * mods[1]
    side = common.clone()
    for m, x in zip(model.modalities, mods):
        p = model.preference[m][0]
        side = side + torch.sigmoid(p(h)) * (x - common)
    return h, side / 3


def test_embeddings_match_naive_formula():
    ds = tiny_data()
    model = create_model("mgcn", ds, embedding_dim=8)
    u, i = eval_embeddings(model, ds, 8)
    h, side = _naive(model, ds)
    out = h + side
    assert torch.allclose(u, out[:ds.num_users], atol=1e-5)
    assert torch.allclose(i, out[ds.num_users:], atol=1e-5)
    assert_repr(model, "MGCN", "modalities=['image', 'text']", "cl_loss=0.01")


def test_extra_loss_is_regulariser_plus_contrast():
    ds = tiny_data()
    model = create_model("mgcn", ds, embedding_dim=8, reg_weight=0.3,
                         cl_loss=0.5)
    model.train()
    batch = fixed_batch(ds, n=6, k=1)
    u, i = model.embeddings()
    h, side = _naive(model, ds)
    reg = 0.5 * (u[batch.users].pow(2).sum() + i[batch.pos_items].pow(2).sum()
                 + i[batch.neg_items].pow(2).sum()) / 6
    items = batch.pos_items + ds.num_users
    cl = info_nce_loss(side[items], h[items], 0.2) + \
        info_nce_loss(side[batch.users], h[batch.users], 0.2)
    got = model.extra_loss(batch, u, i)
    assert torch.allclose(got, 0.3 * reg + 0.5 * cl, atol=1e-5)


def test_gradients_loss_falls_same_seed_and_reset():
    ds = tiny_data()
    model = create_model("mgcn", ds, embedding_dim=8, cl_loss=0.1)
    assert_objective_reaches_every_parameter(model, ds)
    model = create_model("mgcn", ds, embedding_dim=16)
    losses = training_losses(model, ds, 20, 0.02, objective="bpr")
    assert sum(losses[-3:]) / 3 < 0.8 * losses[0]
    assert_reset_restores_features(model, ds, "image")
    assert_same_seed_same_result(
        "mgcn", ds, dict(epochs=2, batch_size=128, eval_batch_size=64))


@pytest.mark.parametrize("mods", [
    {"text": (12, 0.5)},
    {"audio": (6, 0.4), "image": (16, 0.8), "text": (8, 0.3)},
])
@pytest.mark.parametrize("objective", ["bpr", "nbpo"])
def test_any_number_of_modalities_and_objectives(mods, objective):
    ds = tiny_data(mods)
    model = create_model("mgcn", ds, embedding_dim=8)
    model.train()
    out = objective_backward(objective, model, ds, fixed_batch(ds, k=2))
    assert torch.isfinite(out["loss"])
    assert set(model.purifier) == set(mods)


def test_rebuild_on_retain_set_keeps_state():
    ds = tiny_data()
    model = create_model("mgcn", ds, embedding_dim=8)
    state = model.state_dict()
    assert not any("adj" in k or "knn" in k or "r_hat" in k for k in state)
    retain = ds.with_train_edges(ds.train_edge_index[:, ::2])
    model.on_train_graph_change(retain)
    model.load_state_dict(state)
    assert model.r_hat._nnz() == retain.train_edge_index.size(1)
    assert torch.equal(model.adj.to_dense(), retain.norm_adj().to_dense())
