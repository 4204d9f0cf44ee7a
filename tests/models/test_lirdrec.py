import math

import pytest
import torch
import torch.nn.functional as F

from mmgraph.data import make_synthetic
from mmgraph.models import Batch, create_model
from mmgraph.models.freedom import item_knn_adjacency
from mmgraph.train.objectives import create_objective
from mmgraph.train.trainer import Trainer


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny tensors: extra intra-op threads only add contention.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _data(modalities=None):
    modalities = modalities or {"image": (16, 0.8), "text": (8, 0.3)}
    return make_synthetic(num_users=60, num_items=40, avg_degree=8,
                          min_degree=3, modalities=modalities, seed=0)


def _batch(ds, n=32, k=1):
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(ds.train_edge_index.size(1), (n, ), generator=g)
    users, pos = ds.train_edge_index[:, idx]
    neg = torch.randint(ds.num_items, (n, k), generator=g)
    return Batch(users, pos, neg)


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
    ds = _data()
    model = create_model("lirdrec", ds, embedding_dim=8)
    model.eval()
    u, i = model.embeddings()
    assert u.shape == (ds.num_users, 24) and i.shape == (ds.num_items, 24)
    assert model.score(torch.tensor([0, 5])).shape == (2, ds.num_items)
    text = repr(model)
    assert text.startswith("LIRDRec(")
    assert "channels=['image', 'text', 'dct']" in text


def test_dct_transformation():
    ds = _data()
    model = create_model("lirdrec", ds, embedding_dim=8)
    expected = torch.cat([_naive_dct(ds.features["image"]),
                          _naive_dct(ds.features["text"])], 1)
    assert torch.allclose(model.dct_features, expected, atol=1e-4)
    assert model.shared_encoder.in_channels == 24
    assert "dct_features" not in model.state_dict()


def test_embeddings_match_naive_formula():
    ds = _data()
    model = create_model("lirdrec", ds, embedding_dim=8, n_ui_layers=2)
    model.eval()
    U = ds.num_users
    chans = model.item_channels()
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
    reg = model.extra_loss(_batch(ds), u, i)
    assert torch.allclose(reg, 1e-4 * (u.pow(2).mean() + i.pow(2).mean()))


def test_gradients_reach_every_parameter():
    ds = _data()
    model = create_model("lirdrec", ds, embedding_dim=8)
    model.train()
    model.on_epoch_start(0)
    out = create_objective("bpr", model, ds)(model, _batch(ds))
    out["loss"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_pwc_schedule_and_weight_copying():
    ds = _data()
    model = create_model("lirdrec", ds, embedding_dim=8)
    model.train()
    # w1 at the start of epochs 1..10 (MODELS.md 5.5, decay 0.9, base 0.9).
    table = [0.890, 0.868, 0.827, 0.758, 0.649, 0.496, 0.320, 0.169,
             0.073, 0.027]
    theta0 = model.fusion.theta.detach().clone()
    seen = []
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
    ds = _data()
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
    ds = _data()
    model = create_model("lirdrec", ds, embedding_dim=16)
    objective = create_objective("bpr", model, ds)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    batch = _batch(ds, n=128)
    model.train()
    losses = []
    for step in range(15):
        model.on_epoch_start(step)
        loss = objective(model, batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]

    def run():
        m = create_model("lirdrec", ds, embedding_dim=8)
        cfg = dict(epochs=3, batch_size=128, eval_batch_size=64,
                   learning_rate=0.01)
        return Trainer(m, ds, cfg, show_progress=False).fit(), m

    (r1, m1), (r2, m2) = run(), run()
    assert r1["valid"] == r2["valid"] and r1["test"] == r2["test"]
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("mods", [
    {"text": (12, 0.5)},
    {"audio": (6, 0.4), "image": (16, 0.8), "text": (8, 0.3)},
])
def test_any_number_of_modalities(mods):
    ds = _data(mods)
    model = create_model("lirdrec", ds, embedding_dim=8)
    assert model.channels == sorted(mods) + ["dct"]
    assert model.dct_features.size(1) == sum(d for d, _ in mods.values())
    model.train()
    model.on_epoch_start(0)
    out = create_objective("bpr", model, ds)(model, _batch(ds))
    out["loss"].backward()
    u, i = model.embeddings()
    assert u.shape == (ds.num_users, 8 * (len(mods) + 1))
    assert i.shape == (ds.num_items, 8 * (len(mods) + 1))
    assert torch.isfinite(out["loss"])
