import math

import numpy as np
import pytest
import torch

from mmgraph.experiment import resolve_config
from mmgraph.data import make_synthetic
from mmgraph.evaluation import Evaluator
from mmgraph.models import Batch, create_model
from mmgraph.train import Trainer, create_objective
from mmgraph.train.callbacks import Callback
from mmgraph.train.objectives.nbpo import (FlipModel, NBPOObjective,
                                           reference_init,
                                           reference_parity_config)


@pytest.fixture(scope="module")
def ds():
    return make_synthetic(num_users=40, num_items=30, avg_degree=8, seed=1)


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _batch(ds, B=6, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(ds.train_edge_index.size(1), (B,), generator=g)
    users, pos = ds.train_edge_index[:, idx]
    neg = torch.randint(ds.num_items, (B, k), generator=g)
    return Batch(users, pos, neg)


def _reference_ascent(U, V, P, Q, batch, rule):
    r"""Naive per-triple accumulation of the reference update rules
    (the hand-written gradients of the reference ``_BPO.py`` / ``_NBPO.py``,
    Yu & Qin, SIGIR 2020), before the L2 shrink."""
    dU, dV = np.zeros_like(U), np.zeros_like(V)
    dP = None if P is None else np.zeros_like(P)
    dQ = None if Q is None else np.zeros_like(Q)
    for b in range(len(batch)):
        u, i = int(batch.users[b]), int(batch.pos_items[b])
        for j in batch.neg_items[b].tolist():
            Ri, Rj = U[u] @ V[i], U[u] @ V[j]
            if rule == "bpo":
                gRi, gRj = _sig(-Ri), -_sig(Rj)
            else:
                ri, rj = _sig(P[u] @ Q[i]), _sig(P[u] @ Q[j])
                gRi = (1 - ri) * _sig(-Ri)
                gRj = rj * _sig(-Rj) - _sig(Rj)
                ggi = -_sig(Ri) * ri
                ggj = _sig(Rj) * (1 - rj)
                dP[u] += ggi * Q[i] + ggj * Q[j]
                dQ[i] += ggi * P[u]
                dQ[j] += ggj * P[u]
            dU[u] += gRi * V[i] + gRj * V[j]
            dV[i] += gRi * U[u]
            dV[j] += gRj * U[u]
    return dU, dV, dP, dQ


def _mf(ds, d=4, seed=0):
    torch.manual_seed(seed)
    model = create_model("mf", ds, embedding_dim=d, reg_weight=0.0).double()
    with torch.no_grad():  # spread scores so sigma is far from saturation
        model.user_emb.weight.normal_(0, 0.8)
        model.item_emb.weight.normal_(0, 0.8)
    return model


def test_bpo_gradients_equal_reference_rule(ds):
    model = _mf(ds)
    lam_r = 0.7
    obj = create_objective("bpo", model, ds, reduction="sum",
                           backbone_l2=lam_r).double()
    batch = _batch(ds)
    obj(model, batch)["loss"].backward()
    U = model.user_emb.weight.detach().numpy()
    V = model.item_emb.weight.detach().numpy()
    dU, dV, _, _ = _reference_ascent(U, V, None, None, batch, "bpo")
    # minimised loss: gradient = -(ascent - lambda * theta), all rows
    np.testing.assert_allclose(model.user_emb.weight.grad.numpy(),
                               -(dU - lam_r * U), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.item_emb.weight.grad.numpy(),
                               -(dV - lam_r * V), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("rows", ["all", "batch"])
def test_nbpo_gradients_equal_reference_rule(ds, rows):
    model = _mf(ds)
    lam_r, lam_phi = 0.3, 0.9
    obj = create_objective("nbpo", model, ds, flip_dim=3, flip_reg=lam_phi,
                           flip_reg_rows=rows, reduction="sum",
                           backbone_l2=lam_r).double()
    with torch.no_grad():  # rho spread over (0, 1), not just ~0.002
        obj.flip.P.normal_(0, 1.0)
        obj.flip.Q.normal_(0, 1.0)
    batch = _batch(ds)
    obj(model, batch)["loss"].backward()
    U = model.user_emb.weight.detach().numpy()
    V = model.item_emb.weight.detach().numpy()
    P = obj.flip.P.detach().numpy()
    Q = obj.flip.Q.detach().numpy()
    dU, dV, dP, dQ = _reference_ascent(U, V, P, Q, batch, "nbpo")
    if rows == "all":
        regP, regQ = lam_phi * P, lam_phi * Q
    else:  # one L2 term per (u, i, j) triple on the rows it touches
        k = batch.neg_items.size(1)
        cu = np.bincount(batch.users.numpy(), minlength=ds.num_users) * k
        ci = np.bincount(batch.pos_items.numpy(), minlength=ds.num_items) * k \
            + np.bincount(batch.neg_items.reshape(-1).numpy(),
                          minlength=ds.num_items)
        regP, regQ = lam_phi * cu[:, None] * P, lam_phi * ci[:, None] * Q
    kw = dict(rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.user_emb.weight.grad.numpy(),
                               -(dU - lam_r * U), **kw)
    np.testing.assert_allclose(model.item_emb.weight.grad.numpy(),
                               -(dV - lam_r * V), **kw)
    np.testing.assert_allclose(obj.flip.P.grad.numpy(), -(dP - regP), **kw)
    np.testing.assert_allclose(obj.flip.Q.grad.numpy(), -(dQ - regQ), **kw)


def test_mean_is_sum_over_triples(ds):
    batch = _batch(ds)
    grads = {}
    for red in ("mean", "sum"):
        model = _mf(ds)
        obj = create_objective("nbpo", model, ds, reduction=red,
                               backbone_l2=0.1, flip_reg=0.2)
        torch.manual_seed(0)
        obj.reset_parameters()
        obj(model, batch)["loss"].backward()
        grads[red] = (model.user_emb.weight.grad, obj.flip.Q.grad)
    n = batch.neg_items.numel()
    for g_mean, g_sum in zip(grads["mean"], grads["sum"]):
        torch.testing.assert_close(g_mean * n, g_sum)


def test_nbpo_with_rho_zero_is_bpo(ds):
    batch = _batch(ds)
    grads = []
    for name in ("bpo", "nbpo"):
        model = _mf(ds)
        params = {"flip_reg": 0.0} if name == "nbpo" else {}
        obj = create_objective(name, model, ds, **params).double()
        if name == "nbpo":
            with torch.no_grad():  # gamma = -40: rho ~ 4e-18
                obj.flip.P.fill_(1.0)
                obj.flip.Q.fill_(-40.0 / obj.flip.dim)
        obj(model, batch)["loss"].backward()
        grads.append((model.user_emb.weight.grad, model.item_emb.weight.grad))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)
    # and the flip model at its initialisation is already close to BPO
    flip = FlipModel(ds.num_users, ds.num_items, dim=50, init_scale=5.0)
    rho = flip.rho(torch.arange(ds.num_users).repeat_interleave(ds.num_items),
                   torch.arange(ds.num_items).repeat(ds.num_users))
    assert 0.0005 < rho.mean().item() < 0.01


def test_rho_stays_in_open_interval(ds):
    model = _mf(ds)
    obj = NBPOObjective(model, ds, flip_dim=4)
    users = torch.arange(ds.num_users).repeat_interleave(ds.num_items)
    items = torch.arange(ds.num_items).repeat(ds.num_users)
    opt = torch.optim.Adam([*model.parameters(), *obj.parameters()], lr=0.5)
    for step in range(30):
        out = obj(model, _batch(ds, B=32, k=4, seed=step))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        assert math.isfinite(out["loss"].item())
    rho = obj.flip.rho(users, items)
    assert bool(((rho > 0) & (rho < 1)).all())
    assert 0 < out["rho_pos"].item() < 1 and 0 < out["rho_neg"].item() < 1
    # extreme flip logits: the loss and all gradients stay finite
    with torch.no_grad():
        obj.flip.P.fill_(30.0)
        obj.flip.Q[: ds.num_items // 2].fill_(30.0)
        obj.flip.Q[ds.num_items // 2:].fill_(-30.0)
    opt.zero_grad()
    out = obj(model, _batch(ds, B=32, k=4))
    out["loss"].backward()
    assert math.isfinite(out["loss"].item())
    for p in [*model.parameters(), *obj.parameters()]:
        assert bool(torch.isfinite(p.grad).all())


def test_flip_model_trains_but_never_ranks(ds):
    model = _mf(ds).float()
    obj = create_objective("nbpo", model, ds, flip_dim=5)
    obj(model, _batch(ds))["loss"].backward()
    assert obj.flip.P.grad.abs().sum() > 0
    assert obj.flip.Q.grad.abs().sum() > 0
    # the flip tables belong to the objective, not the model's checkpoint
    assert not any(k.startswith("flip") or k in ("P", "Q")
                   for k in model.state_dict())
    model.eval()
    ev = Evaluator(ds, ["recall", "ndcg", "f1"], [2, 5])
    before = ev.evaluate(model, "valid")
    scores = model.score(torch.arange(ds.num_users))
    with torch.no_grad():
        obj.flip.P.normal_()
        obj.flip.Q.normal_()
    assert ev.evaluate(model, "valid") == before
    torch.testing.assert_close(model.score(torch.arange(ds.num_users)),
                               scores)


@pytest.mark.parametrize("model_name", ["mf", "lightgcn"])
@pytest.mark.parametrize("objective", ["bpo", "nbpo"])
def test_training_loss_falls(ds, model_name, objective):
    torch.manual_seed(0)
    model = create_model(model_name, ds, embedding_dim=16)
    cfg = {"epochs": 6, "patience": 100, "batch_size": 64,
           "learning_rate": 0.01, "metrics": ["f1", "ndcg"], "topk": [2, 5],
           "valid_metric": "ndcg@5"}
    trainer = Trainer(model, ds, cfg, objective=objective,
                      objective_params={"flip_lr": 0.02}
                      if objective == "nbpo" else None, show_progress=False)
    assert trainer.num_negatives == 4  # the objective's default
    res = trainer.fit()
    losses = [h["loss"] for h in res["history"]]
    assert losses[-1] < losses[0]
    assert set(res["test"]) >= {"f1@2", "ndcg@5"}
    if objective == "nbpo":
        groups = trainer.optimizer.param_groups
        assert groups[1]["lr"] == 0.02
        assert {id(p) for p in groups[1]["params"]} == \
            {id(trainer.objective.flip.P), id(trainer.objective.flip.Q)}
        assert "rho_neg" in res["history"][0]


def test_config_and_errors(ds):
    cfg = resolve_config("mf", overrides={"objective": "nbpo",
                                          "objective.flip_dim": 8,
                                          "flip_reg": 0.5})
    assert cfg["train"]["objective"] == "nbpo"
    assert cfg["objective"]["flip_dim"] == 8
    assert cfg["objective"]["flip_reg"] == 0.5
    model = _mf(ds)
    with pytest.raises(ValueError, match="NBPOObjective: flip_reg_rows"):
        create_objective("nbpo", model, ds, flip_reg_rows="some")
    with pytest.raises(ValueError, match="BPOObjective: reduction"):
        create_objective("bpo", model, ds, reduction="median")
    obj = create_objective("nbpo", model, ds)
    with pytest.raises(ValueError, match="no sampled negatives"):
        obj(model, Batch(torch.tensor([0]), torch.tensor([1]), None))


def test_repr(ds):
    obj = create_objective("nbpo", _mf(ds), ds, flip_dim=7, flip_lr=0.01)
    text = repr(obj)
    assert "NBPOObjective(" in text and "flip_reg_rows='batch'" in text
    assert f"FlipModel({ds.num_users}, {ds.num_items}, dim=7" in text
    assert "flip_lr=0.01" in text
    assert "reduction='sum'" in repr(create_objective("bpo", _mf(ds), ds,
                                                      reduction="sum"))


def test_reference_parity_is_a_configuration(ds):
    torch.manual_seed(0)
    model = create_model("mf", ds, embedding_dim=8, reg_weight=0.0)
    cfg = {"epochs": 3, "patience": 100, "batch_size": 128,
           "learning_rate": 0.05, "neg_candidates": "all",
           "metrics": ["ndcg"], "topk": [5], "valid_metric": "ndcg@5"}
    train, params = reference_parity_config(
        cfg, {"reduction": "sum", "flip_reg": 5.0, "flip_reg_rows": "all",
              "backbone_l2": 1.0, "flip_lr": 0.1})
    reference_init(model)
    # the reference init: U, V ~ U[0, 1) / sqrt(K0) after reset
    model.reset_parameters()
    w = model.user_emb.weight
    assert w.min() >= 0 and w.max() < 1 / math.sqrt(8)

    class Rates(Callback):
        def __init__(self):
            self.lrs = []

        def on_epoch_start(self, trainer, epoch):
            self.lrs.append([g["lr"] for g in
                             trainer.optimizer.param_groups])

    rates = Rates()
    trainer = Trainer(model, ds, train, "nbpo", callbacks=[rates],
                      objective_params=params, show_progress=False)
    res = trainer.fit()
    assert isinstance(trainer.optimizer, torch.optim.SGD)
    # epoch e runs at eta * 0.99 ** (e + 1), for the model and the flip model
    for e, lrs in enumerate(rates.lrs):
        assert lrs == pytest.approx([0.05 * 0.99 ** (e + 1),
                                     0.1 * 0.99 ** (e + 1)])
    assert all(math.isfinite(h["loss"]) for h in res["history"])
    with pytest.raises(ValueError, match="reference_init"):
        reference_init(_NoTables(ds))


class _NoTables(torch.nn.Module):
    def __init__(self, ds):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
