import pytest
import torch

from mmgraph.data import make_synthetic
from mmgraph.models import Batch, create_model
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


def test_forward_matches_formula_and_repr():
    ds = _data()
    model = create_model("vbpr", ds, embedding_dim=8)
    model.eval()
    u, i = model.embeddings()
    assert u.shape == (ds.num_users, 16) and i.shape == (ds.num_items, 16)
    content = torch.cat([ds.features["image"], ds.features["text"]], 1)
    lin = model.item_linear
    expected = torch.cat([model.item_emb, content @ lin.weight.t()
                          + lin.bias], 1)
    assert torch.allclose(i, expected, atol=1e-6)
    assert torch.equal(model.item_linear.bias, torch.zeros(8))
    assert model.score(torch.tensor([1, 2])).shape == (2, ds.num_items)
    text = repr(model)
    assert text.startswith("VBPR(") and "content_dim=24" in text


def test_extra_loss_is_mmrec_emb_loss():
    ds = _data()
    model = create_model("vbpr", ds, embedding_dim=8, reg_weight=0.1)
    batch = _batch(ds, n=6, k=1)
    u, i = model.embeddings()
    ub, ip, ineg = u[batch.users], i[batch.pos_items], \
        i[batch.neg_items[:, 0]]
    expected = 0.1 * (ub.norm() + ip.norm() + ineg.norm()) / 6
    assert torch.allclose(model.extra_loss(batch, u, i), expected)


def test_gradients_reach_every_parameter():
    ds = _data()
    model = create_model("vbpr", ds, embedding_dim=8)
    model.train()
    out = create_objective("bpr", model, ds)(model, _batch(ds))
    out["loss"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert "item_features" not in model.state_dict()


def test_loss_falls_and_same_seed_same_result():
    ds = _data()
    model = create_model("vbpr", ds, embedding_dim=16)
    objective = create_objective("bpr", model, ds)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    batch = _batch(ds, n=128)
    losses = []
    for _ in range(15):
        loss = objective(model, batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]

    def run():
        m = create_model("vbpr", ds, embedding_dim=8)
        cfg = dict(epochs=2, batch_size=128, eval_batch_size=64)
        return Trainer(m, ds, cfg, show_progress=False).fit(), m

    (r1, m1), (r2, m2) = run(), run()
    assert r1["valid"] == r2["valid"] and r1["test"] == r2["test"]
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("mods,dim", [
    ({"text": (12, 0.5)}, 12),
    ({"audio": (6, 0.4), "image": (16, 0.8), "text": (8, 0.3)}, 30),
])
def test_any_number_of_modalities(mods, dim):
    ds = _data(mods)
    model = create_model("vbpr", ds, embedding_dim=8)
    assert model.item_linear.in_features == dim
    out = create_objective("bpr", model, ds)(model, _batch(ds, k=3))
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
