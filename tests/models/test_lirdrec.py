import math

import pytest
import torch
import torch.nn.functional as F

from mmgraph.models import create_model
from mmgraph.models.freedom import item_knn_adjacency

from .helpers import (assert_objective_reaches_every_parameter, assert_repr,
                      assert_same_seed_same_result, eval_embeddings,
                      fixed_batch, objective_backward, tiny_data,
                      training_losses)


def _naive_dct(x):
    # X_k = s_k sum_j x_j cos(pi (2j + 1) k / 2n), orthonormal scaling.
    n = x.size(1)
    out = torch.zeros_like(x, dtype=torch.float64)
    for k in range(n):
        s = math.sqrt((1 if k == 0 else 2) / n)
        for j in range(n):
            out[:, k] += s * x[:, j].double() * \
                math.cos(math.pi * (2 * j + 1) * k / (2 * n))
    return out.float()


def test_forward_shapes_and_repr():
    ds = tiny_data()
    model = create_model("lirdrec", ds, embedding_dim=8)
    eval_embeddings(model, ds, 24)
    assert_repr(model, "LIRDRec", "channels=['image', 'text', 'dct']")


def test_dct_transformation():
    ds = tiny_data()
    model = create_model("lirdrec", ds, embedding_dim=8)
    expected = torch.cat([_naive_dct(ds.features["image"]),
                          _naive_dct(ds.features["text"])], 1)
    assert torch.allclose(model.dct_features, expected, atol=1e-4)
    assert model.shared_encoder.in_channels == 24
    assert "dct_features" not in model.state_dict()


def test_embeddings_match_naive_formula():
    ds = tiny_data()
    model = create_model("lirdrec", ds, embedding_dim=8, n_ui_layers=2)
    model.eval()
    U = ds.num_users
    chans = model.item_inputs()
    x = torch.cat([F.normalize(torch.cat([p, c]), dim=1)
                   for p, c in zip(model.user_prefs, chans)], 1)
    adj = ds.norm_adj().to_dense()
    r = x + adj @ x + adj @ adj @ x  # sum of layers 0..2
    ru, ri = r[:U], r[U:]
    parts = ru.split(8, dim=1)
    f = torch.cat([s(p) for s, p in zip(model.fusion.scorers, parts)], 1)
    w1, w2 = model.pwc_weights
    att = torch.softmax(w1 * f + w2 * model.fusion.theta, dim=1)
    users = torch.cat([att[:, c:c + 1] * parts[c] for c in range(3)], 1)
    s = item_knn_adjacency(ds, 10, 0.1).to_dense()
    u, i = model.embeddings()
    assert torch.allclose(u, users, atol=1e-5)
    assert torch.allclose(i, ri + s @ ri, atol=1e-5)
    reg = model.extra_loss(fixed_batch(ds), u, i)
    assert torch.allclose(reg, 1e-4 * (u.pow(2).mean() + i.pow(2).mean()))


def test_gradients_reach_every_parameter():
    ds = tiny_data()
    model = create_model("lirdrec", ds, embedding_dim=8)
    assert_objective_reaches_every_parameter(model, ds)


def test_pwc_schedule_and_weight_copying():
    ds = tiny_data()
    model = create_model("lirdrec", ds, embedding_dim=8)
    model.train()
    # w1 at the start of epochs 1..10 (decay 0.9, base 0.9), from the PWC
    # rule w1 <- w1 b^e / (w1 b^e + w2) of the LIRDRec reference code.
    table = [0.890, 0.868, 0.827, 0.758, 0.649, 0.496, 0.320, 0.169,
             0.073, 0.027]
    theta0 = model.fusion.theta.detach().clone()
    seen = []
    last_att = None  # the attention of the previous epoch's forward
    for epoch, expected in enumerate(table):
        model.on_epoch_start(epoch)
        if epoch == 0:  # nothing recorded yet: theta keeps its init
            assert torch.equal(model.fusion.theta, theta0)
        elif epoch == 1:  # theta <- softmax output of the last forward
            assert torch.allclose(model.fusion.theta, last_att)
            assert torch.allclose(model.fusion.theta.sum(1),
                                  torch.ones(ds.num_users))
        w1, w2 = model.pwc_weights
        assert abs(w1 - expected) < 6e-4 and abs(w1 + w2 - 1) < 1e-9
        seen.append(w1)
        model.embeddings()  # a training forward records the attention
        last_att = model.fusion.last_att.clone()
    assert all(a > b for a, b in zip(seen, seen[1:]))
    # The channel weights come from the recorded attention.
    weights = model.channel_weights()
    assert set(weights) == {"image", "text", "dct"}
    assert abs(sum(weights.values()) - 1) < 1e-5


def test_eval_is_deterministic_and_records_nothing():
    ds = tiny_data()
    model = create_model("lirdrec", ds, embedding_dim=8, dropout=0.5)
    model.train()
    model.on_epoch_start(0)
    train_u, _ = model.embeddings()
    recorded = model.fusion.last_att.clone()
    with torch.no_grad():
        model.fusion.theta.add_(1.0)  # changes the attention
    model.eval()
    u1, i1 = model.embeddings()
    u2, i2 = model.embeddings()
    assert torch.equal(u1, u2) and torch.equal(i1, i2)
    assert torch.equal(model.fusion.last_att, recorded)
    full = create_model("lirdrec", ds, embedding_dim=8, dropout=0.0)
    full.load_state_dict(model.state_dict())
    full.eval()
    assert torch.allclose(full.embeddings()[1], i1)


def test_loss_falls_and_same_seed_same_result():
    ds = tiny_data()
    model = create_model("lirdrec", ds, embedding_dim=16)
    losses = training_losses(model, ds, 15, 0.01, objective="bpr")
    assert losses[-1] < 0.7 * losses[0]
    assert_same_seed_same_result(
        "lirdrec", ds, dict(epochs=3, batch_size=128, eval_batch_size=64,
                            learning_rate=0.01))


@pytest.mark.parametrize("mods", [
    {"text": (12, 0.5)},
    {"audio": (6, 0.4), "image": (16, 0.8), "text": (8, 0.3)},
])
def test_any_number_of_modalities(mods):
    ds = tiny_data(mods)
    model = create_model("lirdrec", ds, embedding_dim=8)
    assert model.channels == sorted(mods) + ["dct"]
    assert model.dct_features.size(1) == sum(d for d, _ in mods.values())
    model.train()
    model.on_epoch_start(0)
    out = objective_backward("bpr", model, ds, fixed_batch(ds))
    u, i = model.embeddings()
    assert u.shape == (ds.num_users, 8 * (len(mods) + 1))
    assert i.shape == (ds.num_items, 8 * (len(mods) + 1))
    assert torch.isfinite(out["loss"])
