from functools import partial

import pytest
import torch
import torch.nn.functional as F

from mmgraph.experiment import resolve_config
from mmgraph.models import Batch, create_model, model_hparams
from mmgraph.train.trainer import Trainer

from .helpers import (ONE_AND_THREE_MODALITIES, assert_grads_everywhere,
                      assert_objective_reaches_every_parameter, assert_repr,
                      eval_embeddings, fit_twice, fixed_batch, tiny_data,
                      training_losses)

# Edges drawn without replacement: distinct rows keep pdist well defined.
_batch = partial(fixed_batch, distinct=True)


def _naive_knn(ds, weights, k=10):
    # S = sum_m w_m K_m, row i of K_m = mean over the top-k cosine neighbours.
    s = torch.zeros(ds.num_items, ds.num_items)
    for m, w in weights.items():
        x = F.normalize(ds.features[m], dim=1)
        top = (x @ x.t()).topk(k, dim=1).indices
        s.scatter_add_(1, top, torch.full(top.shape, w / k))
    return s


def test_defaults_repr_and_shapes():
    ds = tiny_data()
    cfg = resolve_config("cm3")
    assert cfg["model"] == model_hparams("cm3")
    assert cfg["train"]["patience"] == 10
    model = create_model("cm3", ds, embedding_dim=8)
    assert model.native_loss and model.uses_negatives
    eval_embeddings(model, ds, 24)
    assert_repr(model, "CM3", "modalities=['image', 'text']", "n_ui_layers=3")


def test_two_modality_fusion_is_the_reference_slerp():
    # Reference: m = sin(p t)/sin t * n(W_txt f_txt) + sin((1-p) t)/sin t *
    # n(W_img f_img), p the weight toward text.
    ds = tiny_data()
    model = create_model("cm3", ds, embedding_dim=8).eval()
    model.fusion.eval_t = 0.3
    proj = model.fusion_proj(model.mlps.features())
    a = F.normalize(proj["text"], dim=1)
    b = F.normalize(proj["image"], dim=1)
    theta = torch.acos((a * b).sum(1).clamp(-1 + 1e-8, 1 - 1e-8))
    ref = (torch.sin(0.3 * theta) / torch.sin(theta)).unsqueeze(1) * a + \
        (torch.sin(0.7 * theta) / torch.sin(theta)).unsqueeze(1) * b
    assert torch.allclose(model.fused_features(), ref, atol=1e-5)


def test_embeddings_match_naive_formula():
    ds = tiny_data()
    model = create_model("cm3", ds, embedding_dim=8, n_ui_layers=2).eval()
    adj = ds.norm_adj().to_dense()
    mlp = model.mlps()
    items = [mlp["image"], mlp["text"], model.fused_features()]
    x = torch.cat([F.normalize(torch.cat([p, q]), dim=1)
                   for p, q in zip(model.user_prefs, items)], dim=1)
    r = x + adj @ x + adj @ adj @ x
    r_u, r_i = r[:ds.num_users], r[ds.num_users:]
    att = torch.softmax(model.user_fusion.theta, dim=1)
    user = torch.cat([att[:, c:c + 1] * r_u[:, 8 * c:8 * (c + 1)]
                      for c in range(3)], dim=1)
    s = _naive_knn(ds, {"image": 0.1, "text": 0.9})
    u, i = model.embeddings()
    assert torch.allclose(u, user, atol=1e-5)
    assert torch.allclose(i, r_i + s @ r_i, atol=1e-5)


def test_knn_graph_weights_for_one_and_three_modalities():
    one = tiny_data({"text": (12, 0.6)}, seed=1)
    model = create_model("cm3", one, embedding_dim=8)
    assert torch.allclose(model.item_adj.to_dense(),
                          _naive_knn(one, {"text": 1.0}), atol=1e-6)
    mods = {"audio": (6, 0.2), "image": (16, 0.8), "text": (8, 0.3)}
    three = tiny_data(mods, seed=2)
    model = create_model("cm3", three, embedding_dim=8, knn_k=5,
                         mm_image_weight=0.2)
    expected = _naive_knn(three, {"image": 0.2, "text": 0.4, "audio": 0.4},
                          k=5)
    assert torch.allclose(model.item_adj.to_dense(), expected, atol=1e-6)


def test_native_loss_matches_reference_formulas():
    ds = tiny_data()
    model = create_model("cm3", ds, embedding_dim=8, gamma=0.9,
                         max_sim=0.8).eval()
    batch = _batch(ds)  # distinct rows, so pdist is well defined
    out = model.loss(batch)
    user_rep, item_rep, fused = model.forward()
    u = F.normalize(user_rep, dim=1)[batch.users]
    i = F.normalize(item_rep, dim=1)[batch.pos_items]
    neg = batch.neg_items[:, 0]
    j = F.normalize(item_rep, dim=1)[neg]
    align = (u - i).norm(dim=1).pow(2).mean()
    uu = torch.pdist(u).pow(2).mul(-2).exp().mean().log()
    m = F.normalize(fused[neg], dim=1)
    pairs = torch.combinations(torch.arange(len(neg)))
    sim = (m @ m.t()).clamp(0.0, 0.8)[pairs[:, 0], pairs[:, 1]]
    ii = (torch.pdist(j).pow(2) - 2 + 2 * sim).mul(-2).exp().mean().log()
    assert torch.allclose(out["align"], align, atol=1e-5)
    assert torch.allclose(out["uniform"], 0.9 * (uu + ii) / 2, atol=1e-5)


def test_loss_needs_a_negative_and_survives_a_one_row_batch():
    ds = tiny_data()
    model = create_model("cm3", ds, embedding_dim=8)
    batch = _batch(ds)
    with pytest.raises(ValueError, match="CM3"):
        model.loss(Batch(batch.users, batch.pos_items, None))
    one = model.loss(Batch(batch.users[:1], batch.pos_items[:1],
                           batch.neg_items[:1]))
    assert float(one["uniform"]) == 0.0 and torch.isfinite(one["align"])


@pytest.mark.parametrize("objective,weight", [("native", 0.0), ("bpr", 0.0),
                                              ("nbpo", 0.5)])
def test_gradients_reach_every_parameter(objective, weight):
    ds = tiny_data()
    model = create_model("cm3", ds, embedding_dim=8,
                         extra_uniformity_weight=weight)
    k = 3 if objective == "nbpo" else 1
    assert_objective_reaches_every_parameter(model, ds, objective,
                                             _batch(ds, k=k))


def test_extra_loss():
    ds = tiny_data()
    model = create_model("cm3", ds, embedding_dim=8).eval()
    batch = _batch(ds)
    u, i = model.embeddings()
    assert float(model.extra_loss(batch, u, i)) == 0.0
    model.extra_uniformity_weight = 2.0
    expected = 2.0 * model.loss(batch)["uniform"]
    assert torch.allclose(model.extra_loss(batch, u, i), expected, atol=1e-5)


def test_loss_falls_during_training():
    ds = tiny_data()
    torch.manual_seed(0)
    model = create_model("cm3", ds, embedding_dim=16).train()
    losses = training_losses(model, ds, 15, 1e-2, batch=_batch(ds, n=128))
    assert sum(losses[-3:]) < sum(losses[:3]) - 0.3


def test_eval_is_deterministic_training_is_stochastic():
    ds = tiny_data()
    model = create_model("cm3", ds, embedding_dim=8)
    model.eval()
    assert torch.equal(model.embeddings()[1], model.embeddings()[1])
    model.train()
    assert not torch.equal(model.embeddings()[1], model.embeddings()[1])


def test_same_seed_same_result():
    ds = tiny_data()
    runs = fit_twice("cm3", ds,
                     dict(epochs=2, batch_size=64, topk=[10, 20], seed=5))
    first, second = (model.eval().embeddings()[1] for _, model in runs)
    assert torch.equal(first, second)
    assert 0.0 <= runs[-1][0]["test"]["recall@20"] <= 1.0


def test_graphs_are_not_in_the_checkpoint():
    ds = tiny_data()
    model = create_model("cm3", ds, embedding_dim=8)
    state = model.state_dict()
    assert not any(k in state for k in ("adj", "item_adj"))
    assert not any("feat_" in k for k in state)
    half = ds.with_train_edges(ds.train_edge_index[:, ::2])
    other = create_model("cm3", half, embedding_dim=8)
    other.load_state_dict(state)


@pytest.mark.parametrize("modalities", ONE_AND_THREE_MODALITIES)
def test_any_number_of_modalities(modalities):
    ds = tiny_data(modalities, seed=1)
    model = create_model("cm3", ds, embedding_dim=8)
    c = len(modalities) + 1
    u, i = model.eval().embeddings()
    assert u.shape == (ds.num_users, 8 * c) and i.shape[1] == 8 * c
    model.train()
    sum(model.loss(_batch(ds)).values()).backward()
    assert_grads_everywhere(model)
    res = Trainer(model, ds, dict(epochs=1, batch_size=128, topk=[10, 20]),
                  show_progress=False).fit()
    assert 0.0 <= res["valid"]["recall@20"] <= 1.0


@pytest.mark.parametrize("detach", [True, False])
def test_calibration_gradient_path(detach):
    # With the representations fixed, the only path from the uniformity term
    # to the fusion projections is the calibration similarity.
    ds = tiny_data()
    model = create_model("cm3", ds, embedding_dim=8,
                         detach_calibration=detach).eval()
    user_rep, item_rep, fused = model.forward()
    batch = _batch(ds)
    neg = batch.neg_items[:, 0]
    loss = model._uniformity(batch.users, neg, user_rep.detach(),
                             item_rep.detach(), fused[neg])
    assert loss.requires_grad != detach
    if not detach:
        loss.backward()
        grad = model.fusion_proj.encoders["image"].lins[0].weight.grad
        assert grad.abs().sum() > 0
