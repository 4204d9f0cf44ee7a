import pytest
import torch
import torch.nn.functional as F

from mmgraph.models import create_model
from mmgraph.models.lattice import random_walk_adjacency
from torch_geometric.utils import to_torch_csr_tensor as to_csr

from .helpers import (assert_objective_reaches_every_parameter, assert_repr,
                      assert_reset_restores_features,
                      assert_same_seed_same_result, eval_embeddings,
                      fixed_batch, objective_backward, tiny_data,
                      training_losses)


def _dense(graph, n):
    return to_csr(graph[0], graph[1], (n, n)).to_dense()


def test_random_walk_adjacency_by_hand():
    # users 0, 1; items 0, 1 (nodes 2, 3); edges (0,0), (0,1), (1,1).
    ei = torch.tensor([[0, 0, 1], [0, 1, 1]])
    a = random_walk_adjacency(ei, 2, 2).to_dense()
    # degrees with the self loop: u0 3, u1 2, i0 2, i1 3
    expected = torch.tensor([[1 / 3, 0, 1 / 3, 1 / 3],
                             [0, 1 / 2, 0, 1 / 2],
                             [1 / 2, 0, 1 / 2, 0],
                             [1 / 3, 1 / 3, 0, 1 / 3]])
    assert torch.allclose(a, expected)


def _naive_item_graph(model, ds):
    """The reference's dense construction (build_sim, top-k with values,
    compute_normalized_laplacian) for comparison."""
    def knn_dense(x, k):
        xn = x / x.norm(dim=1, keepdim=True)
        sim = xn @ xn.t()
        val, idx = sim.topk(k, dim=1)
        return torch.zeros_like(sim).scatter_(1, idx, val)

    def lap(a):
        d = a.sum(1).pow(-0.5)
        d[torch.isinf(d)] = 0
        return d[:, None] * a * d[None, :]

    alpha = torch.softmax(model.modal_weight, 0)
    proj = model.encoders()
    learned = sum(a * knn_dense(proj[m], model.knn_k)
                  for a, m in zip(alpha, model.modalities))
    original = sum(a * lap(knn_dense(ds.features[m], model.knn_k))
                   for a, m in zip(alpha, model.modalities))
    lam = model.lambda_coeff
    return (1 - lam) * lap(learned) + lam * original


def test_embeddings_match_naive_formula():
    ds = tiny_data()
    model = create_model("lattice", ds, embedding_dim=8, feat_embed_dim=6)
    with torch.no_grad():
        model.modal_weight.copy_(torch.tensor([0.3, -0.2]))
    model.eval()
    u, i = eval_embeddings(model, ds, 8)
    n = ds.num_users + ds.num_items
    adj = torch.zeros(n, n)
    r, c = ds.train_edge_index
    adj[r, c + ds.num_users] = 1
    adj[c + ds.num_users, r] = 1
    adj += torch.eye(n)
    adj = adj / adj.sum(1, keepdim=True)
    x0 = torch.cat([model.user_emb.weight, model.item_emb.weight])
    h = (x0 + adj @ x0 + adj @ adj @ x0) / 3
    s = _naive_item_graph(model, ds)
    mm = F.normalize(s @ model.item_emb.weight, dim=1)
    assert torch.allclose(u, h[:ds.num_users], atol=1e-5)
    assert torch.allclose(i, h[ds.num_users:] + mm, atol=1e-5)
    assert_repr(model, "LATTICE", "modalities=['image', 'text']",
                "lambda_coeff=0.9")


def test_graph_is_learned_at_the_first_step_of_each_epoch_only():
    ds = tiny_data()
    model = create_model("lattice", ds, embedding_dim=8)
    model.train()
    batch = fixed_batch(ds)
    model.on_epoch_start(0)
    objective_backward("bpr", model, ds, batch)
    enc = model.encoders.encoders["image"].lins[0].weight
    assert enc.grad is not None and enc.grad.abs().sum() > 0
    assert model.modal_weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
    objective_backward("bpr", model, ds, batch)   # same epoch: detached
    assert enc.grad is None and model.modal_weight.grad is None
    model.on_epoch_start(1)
    objective_backward("bpr", model, ds, batch)
    assert enc.grad is not None


def test_gradients_and_extra_loss():
    ds = tiny_data()
    model = create_model("lattice", ds, embedding_dim=8, reg_weight=0.5)
    assert_objective_reaches_every_parameter(model, ds)
    batch = fixed_batch(ds, n=4, k=2)
    u, i = model.embeddings()
    expected = 0.5 * 0.5 * (u[batch.users].pow(2).sum()
                            + i[batch.pos_items].pow(2).sum()
                            + i[batch.neg_items].pow(2).sum()) / 4
    assert torch.allclose(model.extra_loss(batch, u, i), expected)


def test_loss_falls_same_seed_and_reset():
    ds = tiny_data()
    model = create_model("lattice", ds, embedding_dim=16)
    losses = training_losses(model, ds, 20, 0.02, objective="bpr")
    assert sum(losses[-3:]) / 3 < 0.8 * losses[0]
    assert_reset_restores_features(model, ds, "text")
    assert_same_seed_same_result(
        "lattice", ds, dict(epochs=2, batch_size=128, eval_batch_size=64))


@pytest.mark.parametrize("mods", [
    {"text": (12, 0.5)},
    {"audio": (6, 0.4), "image": (16, 0.8), "text": (8, 0.3)},
])
@pytest.mark.parametrize("objective", ["bpr", "nbpo"])
def test_any_number_of_modalities_and_objectives(mods, objective):
    ds = tiny_data(mods)
    model = create_model("lattice", ds, embedding_dim=8)
    model.train()
    out = objective_backward(objective, model, ds, fixed_batch(ds, k=2))
    assert torch.isfinite(out["loss"])
    assert model.modal_weight.numel() == len(mods)


def test_rebuild_on_retain_set_keeps_state():
    ds = tiny_data()
    model = create_model("lattice", ds, embedding_dim=8)
    state = model.state_dict()
    assert not any("adj" in k or "orig" in k for k in state)
    retain = ds.with_train_edges(ds.train_edge_index[:, ::2])
    model.on_train_graph_change(retain)
    model.load_state_dict(state)
    expected = random_walk_adjacency(retain.train_edge_index, ds.num_users,
                                     ds.num_items)
    assert torch.equal(model.adj.to_dense(), expected.to_dense())
