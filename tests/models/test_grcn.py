import math

import pytest
import torch
import torch.nn.functional as F

from mmgraph.models import create_model
from mmgraph.models.grcn import neighbour_attention
from mmgraph.nn.sparse import EdgeGraph

from .helpers import (ONE_AND_THREE_MODALITIES,
                      assert_objective_reaches_every_parameter, assert_repr,
                      assert_same_seed_same_result, eval_embeddings,
                      fixed_batch, objective_backward, tiny_data)


def test_neighbour_attention_by_hand():
    # Node 0 receives from 1 and 2; node 1 from 0.
    x = torch.tensor([[1., 0.], [2., 0.], [0., 1.]])
    src, dst = torch.tensor([1, 2, 0]), torch.tensor([0, 0, 1])
    out, alpha = neighbour_attention(x, EdgeGraph(src, dst, 3))
    # scores x0.x1 = 2, x0.x2 = 0 -> softmax (e^2, 1) / (e^2 + 1)
    a = math.exp(2) / (math.exp(2) + 1)
    assert torch.allclose(alpha, torch.tensor([a, 1 - a, 1.0]))
    assert torch.allclose(out, torch.tensor([[2 * a, 1 - a], [1., 0.],
                                             [0., 0.]]))


@torch.no_grad()
def _naive(model, ds, n_routing=0):
    # GRCN written edge by edge (Python loops; tests only).
    U, n = ds.num_users, ds.num_users + ds.num_items
    edges = [(int(u), int(i) + U) for u, i in ds.train_edge_index.t()]
    directed = edges + [(t, s) for s, t in edges]
    contents, alphas = [], []
    for m in model.modalities:
        lin = model.mlp[m]
        f = F.normalize(F.leaky_relu(ds.features[m] @ lin.weight.t() +
                                     lin.bias), dim=1)
        p = F.normalize(model.preference[m], dim=1)
        for _ in range(n_routing):
            new = p.clone()
            for u in range(U):
                items = [t for s, t in edges if s == u]
                w = torch.softmax(torch.stack([p[u] @ f[i - U]
                                               for i in items]), 0)
                new[u] = p[u] + sum(w[j] * f[i - U]
                                    for j, i in enumerate(items))
            p = F.normalize(new, dim=1)
        x = torch.cat([p, f])
        alpha = {}
        for t in range(n):
            ins = [s for s, tt in directed if tt == t]
            if ins:
                w = torch.softmax(torch.stack([x[t] @ x[s] for s in ins]), 0)
                for j, s in enumerate(ins):
                    alpha[(s, t)] = w[j]
        xh = torch.zeros_like(x)
        for (s, t), a in alpha.items():
            xh[t] += a * x[s]
        contents.append(x + xh)
        alphas.append(alpha)
    x0 = F.normalize(model.id_embedding, dim=1)
    weight = {}
    for s, t in directed:
        weight[(s, t)] = max(float(alphas[k][(s, t)] *
                                   model.confidence[s, k])
                             for k in range(len(model.modalities)))
        weight[(s, t)] = max(weight[(s, t)], 0.0)
    out, h = x0, x0
    for _ in range(2):
        nh = torch.zeros_like(h)
        for (s, t), w in weight.items():
            nh[t] += w * h[s]
        h = nh
        out = out + h
    return torch.cat([out] + contents, 1)


@pytest.mark.parametrize("n_routing", [0, 1])
def test_embeddings_match_edge_by_edge_formula(n_routing):
    ds = tiny_data()
    model = create_model("grcn", ds, embedding_dim=6, latent_dim=4,
                         n_routing=n_routing)
    with torch.no_grad():  # some negative confidences exercise the ReLU
        model.confidence.normal_()
    u, i = eval_embeddings(model, ds, 6 + 2 * 4)
    expected = _naive(model, ds, n_routing)
    assert torch.allclose(torch.cat([u, i]), expected, atol=1e-5)
    assert_repr(model, "GRCN", f"n_routing={n_routing}", "latent_dim=4")


def test_extra_loss_by_hand():
    ds = tiny_data()
    model = create_model("grcn", ds, embedding_dim=8, reg_weight=0.5)
    batch = fixed_batch(ds, n=3, k=1)
    e = model.id_embedding
    users = batch.users.repeat_interleave(2)
    items = torch.stack([batch.pos_items, batch.neg_items[:, 0]], 1)
    items = items.reshape(-1) + ds.num_users
    expected = (e[users] ** 2 + e[items] ** 2).mean() + \
        (model.preference["image"] ** 2).mean() + \
        (model.preference["image"][users] ** 2).mean() + \
        (model.preference["text"][users] ** 2).mean()
    u, i = model.embeddings()
    assert torch.allclose(model.extra_loss(batch, u, i), 0.5 * expected)


def test_gradients_reach_every_parameter():
    ds = tiny_data()
    model = create_model("grcn", ds, embedding_dim=8)
    assert_objective_reaches_every_parameter(model, ds)


@pytest.mark.parametrize("mods", ONE_AND_THREE_MODALITIES)
def test_any_number_of_modalities(mods):
    ds = tiny_data(mods)
    model = create_model("grcn", ds, embedding_dim=8, latent_dim=4)
    eval_embeddings(model, ds, 8 + 4 * len(mods))
    model.train()
    out = objective_backward("nbpo", model, ds, fixed_batch(ds, k=4))
    assert torch.isfinite(out["loss"])


def test_rebuild_on_retain_set_keeps_state_and_same_seed():
    ds = tiny_data()
    model = create_model("grcn", ds, embedding_dim=8)
    state = model.state_dict()
    retain = ds.with_train_edges(ds.train_edge_index[:, ::2])
    model.on_train_graph_change(retain)
    model.load_state_dict(state)
    assert model.graph.num_edges == 2 * retain.train_edge_index.size(1)
    assert_same_seed_same_result(
        "grcn", ds, dict(epochs=2, batch_size=128, eval_batch_size=64))
