import pytest
import torch
import torch.nn.functional as F

from mmgraph.config import resolve_config
from mmgraph.data import make_synthetic
from mmgraph.models import Batch, create_model, model_hparams
from mmgraph.train.objectives import create_objective
from mmgraph.train.trainer import Trainer


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny tensors: extra intra-op threads only add contention.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _data(modalities=None, seed=0):
    modalities = modalities or {"image": (16, 0.8), "text": (8, 0.3)}
    return make_synthetic(num_users=60, num_items=40, avg_degree=8,
                          min_degree=3, modalities=modalities, seed=seed)


def _batch(ds, n=32, k=0):
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(ds.train_edge_index.size(1), (n, ), generator=g)
    users, pos = ds.train_edge_index[:, idx]
    neg = torch.randint(ds.num_items, (n, k), generator=g) if k else None
    return Batch(users, pos, neg)


def test_defaults_repr_and_shapes():
    ds = _data()
    assert resolve_config("bm3")["model"] == model_hparams("bm3")
    assert resolve_config("bm3")["train"]["patience"] == 20
    model = create_model("bm3", ds, embedding_dim=16)
    assert model.native_loss and not model.uses_negatives
    u, i = model.eval().embeddings()
    assert u.shape == (ds.num_users, 16) and i.shape == (ds.num_items, 16)
    assert model.score(torch.tensor([0, 5])).shape == (2, ds.num_items)
    text = repr(model)
    assert text.startswith("BM3(")
    assert "modalities=['image', 'text']" in text and "n_layers=1" in text
    assert "dropout=0.5" in text


def test_embeddings_match_naive_formula():
    ds = _data()
    model = create_model("bm3", ds, embedding_dim=8, n_layers=2).eval()
    adj = ds.norm_adj().to_dense()
    x0 = torch.cat([model.user_emb.weight, model.item_emb.weight])
    h = (x0 + adj @ x0 + adj @ adj @ x0) / 3
    h_u = h[:ds.num_users]
    h_i = h[ds.num_users:] + model.item_emb.weight
    u, i = model.embeddings()
    assert torch.allclose(u, model.predictor(h_u), atol=1e-5)
    assert torch.allclose(i, model.predictor(h_i), atol=1e-5)


def test_native_loss_matches_hand_computation():
    # dropout = 0 makes the targets the detached online outputs.
    ds = _data()
    model = create_model("bm3", ds, embedding_dim=8, dropout=0.0,
                         reg_weight=0.3, cl_weight=1.5)
    batch = _batch(ds)
    users, items = batch.users, batch.pos_items
    out = model.loss(batch)
    assert set(out) == {"ui", "reg", "modal"}

    h_u, h_i = model.encode()
    p = model.predictor

    def neg_cos(a, b):
        return 1 - F.cosine_similarity(a, b, dim=-1).mean()

    ui = neg_cos(p(h_u[users]), h_i[items]) + \
        neg_cos(p(h_i[items]), h_u[users])
    reg = 0.3 * (h_u.norm() + h_i.norm()) / ds.num_items
    modal = 0
    for m in ("image", "text"):
        enc = model.encoders.encoders[m]
        t = ds.features[m][items] @ enc.lins[0].weight.t() + enc.lins[0].bias
        modal = modal + neg_cos(p(t), h_i[items]) + neg_cos(p(t), t)
    assert torch.allclose(out["ui"], ui, atol=1e-5)
    assert torch.allclose(out["reg"], reg, atol=1e-6)
    assert torch.allclose(out["modal"], 1.5 * modal, atol=1e-5)


def test_targets_are_stop_gradient():
    # The modality terms train the projections, features and predictor only:
    # their item target must not pass gradients to the ID embeddings.
    ds = _data()
    model = create_model("bm3", ds, embedding_dim=8, reg_weight=0.0)
    model.loss(_batch(ds))["modal"].backward()
    assert model.user_emb.weight.grad is None
    assert model.item_emb.weight.grad is None
    assert model.encoders.feat_image.grad.abs().sum() > 0
    assert model.predictor.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("objective", ["native", "bpr", "nbpo"])
def test_gradients_reach_every_parameter(objective):
    ds = _data()
    model = create_model("bm3", ds, embedding_dim=8).train()
    obj = create_objective(objective, model, ds)
    k = 0 if objective == "native" else 2
    obj(model, _batch(ds, k=k))["loss"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_extra_loss_is_regulariser_plus_modality_terms():
    ds = _data()
    model = create_model("bm3", ds, embedding_dim=8, dropout=0.0)
    batch = _batch(ds)
    native = model.loss(batch)
    u, i = model.embeddings()
    extra = model.extra_loss(batch, u, i)
    assert torch.allclose(extra, native["reg"] + native["modal"], atol=1e-5)
    model.cl_weight, model.reg_weight = 0.0, 0.0
    assert float(model.extra_loss(batch, u, i).detach()) == 0.0


def test_loss_falls_during_training():
    ds = _data()
    torch.manual_seed(0)
    model = create_model("bm3", ds, embedding_dim=16).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = _batch(ds, n=128)
    losses = []
    for _ in range(15):
        loss = sum(model.loss(batch).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-3:]) < 0.8 * sum(losses[:3])


def test_same_seed_same_result_and_deterministic_eval():
    ds = _data()
    embs = []
    for _ in range(2):
        model = create_model("bm3", ds, embedding_dim=8)
        cfg = dict(epochs=2, batch_size=64, topk=[10, 20], seed=5)
        res = Trainer(model, ds, cfg, show_progress=False).fit()
        embs.append(model.eval().embeddings()[1].detach())
        assert torch.equal(embs[-1], model.embeddings()[1])
    assert torch.equal(embs[0], embs[1])
    assert 0.0 <= res["test"]["recall@20"] <= 1.0


def test_reset_restores_trained_features():
    ds = _data()
    model = create_model("bm3", ds, embedding_dim=8)
    with torch.no_grad():
        model.encoders.feat_text.add_(1.0)
    model.reset_parameters()
    assert torch.equal(model.encoders.feat_text, ds.features["text"])
    frozen = create_model("bm3", ds, embedding_dim=8, train_features=False)
    names = [n for n, _ in frozen.named_parameters()]
    assert not any("feat_" in n for n in names)


def test_graph_is_not_in_the_checkpoint():
    ds = _data()
    model = create_model("bm3", ds, embedding_dim=8)
    assert "adj" not in model.state_dict()
    keep = ds.train_edge_index[:, ::2]
    other = create_model("bm3", ds.with_train_edges(keep), embedding_dim=8)
    other.load_state_dict(model.state_dict())
    assert other.adj._nnz() < model.adj._nnz()


@pytest.mark.parametrize("modalities", [
    {"text": (12, 0.6)},
    {"image": (16, 0.8), "text": (8, 0.3), "audio": (6, 0.2)},
])
def test_any_number_of_modalities(modalities):
    ds = _data(modalities, seed=1)
    model = create_model("bm3", ds, embedding_dim=8)
    assert model.modalities == sorted(modalities)
    out = model.loss(_batch(ds))
    sum(out.values()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    res = Trainer(model, ds, dict(epochs=1, batch_size=128, topk=[10, 20]),
                  show_progress=False).fit()
    assert 0.0 <= res["valid"]["recall@20"] <= 1.0
