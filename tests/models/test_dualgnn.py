import math

import pytest
import torch
import torch.nn.functional as F

from mmgraph.models import create_model
from mmgraph.models.dualgnn import sample_user_graph

from .helpers import (assert_objective_reaches_every_parameter, assert_repr,
                      assert_same_seed_same_result, eval_embeddings,
                      fixed_batch, objective_backward, tiny_data,
                      training_losses)


def test_sample_user_graph_by_hand():
    # user 0: neighbours 1 (count 2), 2 (count 1); user 1: 0 (count 3);
    # user 2: none.
    indptr = torch.tensor([0, 2, 3, 3])
    nbrs = torch.tensor([1, 2, 0])
    counts = torch.tensor([2.0, 1.0, 3.0])
    g = sample_user_graph(indptr, nbrs, counts, 2, 3).to_dense()
    e = math.exp(1.0)
    assert torch.allclose(g[0], torch.tensor([0, e / (1 + e), 1 / (1 + e)]))
    # k = 2 > one neighbour: padded with itself, weights sum to 1.
    assert torch.allclose(g[1], torch.tensor([1.0, 0, 0]))
    assert torch.equal(g[2], torch.zeros(3))
    # k = 1 keeps only the top neighbour.
    g1 = sample_user_graph(indptr, nbrs, counts, 1, 3).to_dense()
    assert torch.allclose(g1[0], torch.tensor([0.0, 1.0, 0.0]))
    # padding with several candidates: the pads come from the user's list
    # and change the softmax weights.
    torch.manual_seed(0)
    g3 = sample_user_graph(indptr, nbrs, counts, 5, 3).to_dense()
    assert torch.allclose(g3.sum(1), torch.tensor([1.0, 1.0, 0.0]))
    assert g3[0, 0] == 0 and g3[0, 1] > 0 and g3[0, 2] > 0


def _gcn(model, m, ds):
    g = model.gcn[m]
    x = torch.cat([g.preference, g.mlp(ds.features[m])])
    x = F.normalize(x, dim=1)
    a = ds.norm_adj().to_dense()
    return x + a @ x + a @ a @ x


def test_dualgnn_matches_naive_formula():
    ds = tiny_data()
    model = create_model("dualgnn", ds, embedding_dim=8)
    torch.manual_seed(0)
    model.on_epoch_start(0)
    u, i = eval_embeddings(model, ds, 8)
    reps = {m: _gcn(model, m, ds) for m in ("image", "text")}
    n = ds.num_users
    z = model.weight_u[:, 0] * reps["image"][:n] + \
        model.weight_u[:, 1] * reps["text"][:n]
    g = model.user_graph.to_dense()
    assert torch.allclose(u, z + g @ z, atol=1e-5)
    assert torch.allclose(i, reps["image"][n:] + reps["text"][n:], atol=1e-5)
    # initial user weights are a softmax over the modalities
    model.reset_parameters()
    assert torch.allclose(model.weight_u.sum(1), torch.ones(n, 1))
    assert_repr(model, "DualGNN", "modalities=['image', 'text']",
                "user_knn_k=40")


def test_dualgnn_reference_user_sum_reproduces_mmrec_aliasing():
    # MMRec: representation = v_rep; representation += t_rep (in place), so
    # its image user part is v + t.
    ds = tiny_data()
    model = create_model("dualgnn", ds, embedding_dim=8,
                         reference_user_sum=True)
    torch.manual_seed(0)
    model.on_epoch_start(0)
    u, i = eval_embeddings(model, ds, 8)
    reps = {m: _gcn(model, m, ds) for m in ("image", "text")}
    n = ds.num_users
    z = model.weight_u[:, 0] * (reps["image"][:n] + reps["text"][:n]) + \
        model.weight_u[:, 1] * reps["text"][:n]
    g = model.user_graph.to_dense()
    assert torch.allclose(u, z + g @ z, atol=1e-5)
    assert torch.allclose(i, reps["image"][n:] + reps["text"][n:], atol=1e-5)


def test_dragon_matches_naive_formula():
    ds = tiny_data()
    model = create_model("dragon", ds, embedding_dim=8)
    u, i = eval_embeddings(model, ds, 16)
    reps = {m: _gcn(model, m, ds) for m in ("image", "text")}
    n = ds.num_users
    z = torch.cat([model.weight_u[:, 0] * reps["image"][:n],
                   model.weight_u[:, 1] * reps["text"][:n]], 1)
    zi = torch.cat([reps["image"][n:], reps["text"][n:]], 1)
    # S = 0.1 K_image + 0.9 K_text, rows the mean over the 10 neighbours
    s = torch.zeros(ds.num_items, ds.num_items)
    for m, w in (("image", 0.1), ("text", 0.9)):
        x = F.normalize(ds.features[m], dim=1)
        top = (x @ x.t()).topk(10, dim=1).indices
        s.scatter_add_(1, top, torch.full(top.shape, w / 10))
    g = model.user_graph.to_dense()
    assert torch.allclose(u, z + g @ z, atol=1e-5)
    assert torch.allclose(i, zi + s @ zi, atol=1e-5)
    assert_repr(model, "DRAGON", "n_mm_layers=1")


@pytest.mark.parametrize("name", ["dualgnn", "dragon"])
def test_regulariser_by_hand(name):
    ds = tiny_data()
    model = create_model(name, ds, embedding_dim=8, reg_weight=0.5)
    batch = fixed_batch(ds, n=5)
    u, i = model.embeddings()
    reg = sum(model.gcn[m].preference[batch.users].pow(2).mean()
              for m in ("image", "text")) + model.weight_u.pow(2).mean()
    assert torch.allclose(model.extra_loss(batch, u, i),
                          math.log(2) * 0.5 * reg)


@pytest.mark.parametrize("name", ["dualgnn", "dragon"])
def test_gradients_loss_falls_same_seed(name):
    ds = tiny_data()
    model = create_model(name, ds, embedding_dim=8, reg_weight=0.1)
    assert_objective_reaches_every_parameter(model, ds)
    model = create_model(name, ds, embedding_dim=16)
    losses = training_losses(model, ds, 20, 0.02, objective="bpr")
    assert sum(losses[-3:]) / 3 < 0.8 * losses[0]
    assert_same_seed_same_result(
        name, ds, dict(epochs=2, batch_size=128, eval_batch_size=64))


@pytest.mark.parametrize("name", ["dualgnn", "dragon"])
@pytest.mark.parametrize("mods", [
    {"text": (12, 0.5)},
    {"audio": (6, 0.4), "image": (16, 0.8), "text": (8, 0.3)},
])
@pytest.mark.parametrize("objective", ["bpr", "nbpo"])
def test_any_number_of_modalities_and_objectives(name, mods, objective):
    ds = tiny_data(mods)
    model = create_model(name, ds, embedding_dim=8)
    model.train()
    model.on_epoch_start(0)
    out = objective_backward(objective, model, ds, fixed_batch(ds, k=2))
    assert torch.isfinite(out["loss"])
    assert (model.weight_u is None) == (len(mods) == 1)
    dim = 8 * len(mods) if name == "dragon" else 8
    eval_embeddings(model, ds, dim)


@pytest.mark.parametrize("name", ["dualgnn", "dragon"])
def test_rebuild_on_retain_set_keeps_state(name):
    ds = tiny_data()
    model = create_model(name, ds, embedding_dim=8)
    state = model.state_dict()
    assert not any(k.startswith("ug_") or "adj" in k for k in state)
    retain = ds.with_train_edges(ds.train_edge_index[:, ::2])
    model.on_train_graph_change(retain)
    model.load_state_dict(state)
    assert torch.equal(model.adj.to_dense(), retain.norm_adj().to_dense())
    model.on_epoch_start(0)
    # the user graph only links users who share a retained item
    g = model.user_graph.to_dense()
    r = torch.zeros(ds.num_users, ds.num_items)
    r[retain.train_edge_index[0], retain.train_edge_index[1]] = 1
    co = r @ r.t()
    assert ((g > 0) <= (co > 0)).all()
