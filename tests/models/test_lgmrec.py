import math

import pytest
import torch
import torch.nn.functional as F

from mmgraph.models import create_model
from mmgraph.models.lgmrec import full_infonce, hypergraph_propagation

from .helpers import (ONE_AND_THREE_MODALITIES,
                      assert_objective_reaches_every_parameter, assert_repr,
                      assert_same_seed_same_result, eval_embeddings,
                      fixed_batch, objective_backward, tiny_data)


def test_hypergraph_propagation_by_hand():
    hi = torch.tensor([[1., 0.], [0., 1.], [1., 1.]])   # 3 items, 2 edges
    hu = torch.tensor([[2., 0.], [0., 1.]])             # 2 users
    e = torch.tensor([[1.], [2.], [3.]])
    # lambda = H_i^T E = [[4], [5]]; items H_i lambda = [4, 5, 9];
    # users H_u lambda = [8, 5].
    u, i = hypergraph_propagation(hi, hu, e, 1)
    assert torch.equal(i, torch.tensor([[4.], [5.], [9.]]))
    assert torch.equal(u, torch.tensor([[8.], [5.]]))
    # two layers: lambda = H_i^T [4, 5, 9] = [13, 14]
    u, i = hypergraph_propagation(hi, hu, e, 2)
    assert torch.equal(i, torch.tensor([[13.], [14.], [27.]]))
    assert torch.equal(u, torch.tensor([[26.], [14.]]))
    with pytest.raises(ValueError, match="num_layers"):
        hypergraph_propagation(hi, hu, e, 0)


def test_full_infonce_by_hand():
    a = torch.tensor([[1., 0.], [0., 2.]])
    cands = torch.tensor([[3., 0.], [0., 1.], [1., 1.]])
    pos = cands[:2]
    # cosines: row 0 -> (1, 0, 1/sqrt2), row 1 -> (0, 1, 1/sqrt2)
    c = 1 / math.sqrt(2)
    one = -math.log(math.exp(1 / .5) / (math.exp(2) + 1 + math.exp(c / .5)))
    assert math.isclose(float(full_infonce(a, pos, cands, 0.5)), 2 * one,
                        rel_tol=1e-5)


def _naive_eval(model, ds):
    U = ds.num_users
    adj = ds.norm_adj().to_dense()
    r = torch.zeros(U, ds.num_items)
    r[ds.train_edge_index[0], ds.train_edge_index[1]] = 1
    x = torch.cat([model.user_emb.weight, model.item_emb.weight])
    cge = (x + adj @ x + adj @ adj @ x) / 3
    out, ghe = cge.clone(), 0
    for m in model.modalities:
        f = ds.features[m]
        items = f @ model.proj[m]
        users = r @ items / r.sum(1, keepdim=True)
        mge = adj @ adj @ torch.cat([users, items])
        out = out + F.normalize(mge, dim=1)
        logits = f @ model.hyper[m]
        hi = torch.softmax(logits / 0.2, 1)
        hu = torch.softmax(r @ logits / 0.2, 1)
        lat = hi.t() @ cge[U:]
        ghe = ghe + torch.cat([hu @ lat, hi @ lat])
    return out + 0.3 * F.normalize(ghe, dim=1)


def test_eval_embeddings_match_naive_formula():
    ds = tiny_data()
    model = create_model("lgmrec", ds, embedding_dim=8, alpha=0.3)
    u, i = eval_embeddings(model, ds, 8)
    assert torch.allclose(torch.cat([u, i]), _naive_eval(model, ds),
                          atol=1e-5)
    u2, _ = model.embeddings()
    assert torch.equal(u, u2)  # eval mode is deterministic
    model.train()
    u3, _ = model.embeddings()  # Gumbel noise and dropout in training
    assert not torch.allclose(u, u3)
    assert_repr(model, "LGMRec", "hyper_num=4", "keep_rate=0.5")


def test_extra_loss_is_contrast_plus_norms():
    ds = tiny_data()
    model = create_model("lgmrec", ds, embedding_dim=8, cl_weight=0.5,
                         reg_weight=0.25)
    model.train()
    torch.manual_seed(0)
    u, i = model.embeddings()
    batch = fixed_batch(ds, n=4, k=1)
    (uv, iv), (ut, it) = model._hyper_embs["image"], \
        model._hyper_embs["text"]
    cl = full_infonce(uv[batch.users], ut[batch.users], ut, 0.2) + \
        full_infonce(iv[batch.pos_items], it[batch.pos_items], it, 0.2)
    reg = (u[batch.users].norm() + i[batch.pos_items].norm() +
           i[batch.neg_items[:, 0]].norm()) / 4
    got = model.extra_loss(batch, u, i)
    assert torch.allclose(got, 0.5 * cl + 0.25 * reg)


def test_gradients_reach_every_parameter():
    ds = tiny_data()
    model = create_model("lgmrec", ds, embedding_dim=8, cl_weight=0.1)
    assert_objective_reaches_every_parameter(model, ds)


@pytest.mark.parametrize("mods", ONE_AND_THREE_MODALITIES)
def test_any_number_of_modalities(mods):
    ds = tiny_data(mods)
    model = create_model("lgmrec", ds, embedding_dim=8)
    eval_embeddings(model, ds, 8)
    model.train()
    out = objective_backward("nbpo", model, ds, fixed_batch(ds, k=4))
    assert torch.isfinite(out["loss"])
    assert set(model.proj) == set(mods)


def test_rebuild_on_retain_set_keeps_state_and_same_seed():
    ds = tiny_data()
    model = create_model("lgmrec", ds, embedding_dim=8)
    state = model.state_dict()
    assert not any("adj" in k or "inter" in k for k in state)
    retain = ds.with_train_edges(ds.train_edge_index[:, ::2])
    model.on_train_graph_change(retain)
    model.load_state_dict(state)
    assert model.inter.values().numel() == retain.train_edge_index.size(1)
    assert torch.equal(model.adj.to_dense(), retain.norm_adj().to_dense())
    assert_same_seed_same_result(
        "lgmrec", ds, dict(epochs=2, batch_size=128, eval_batch_size=64))
