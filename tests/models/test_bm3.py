import pytest
import torch
import torch.nn.functional as F

from mmgraph.experiment import resolve_config
from mmgraph.models import create_model, model_hparams
from mmgraph.train.trainer import Trainer

from .helpers import (ONE_AND_THREE_MODALITIES, assert_grads_everywhere,
                      assert_objective_reaches_every_parameter, assert_repr,
                      assert_reset_restores_features, eval_embeddings,
                      fit_twice, fixed_batch, tiny_data, training_losses)


def test_defaults_repr_and_shapes():
    ds = tiny_data()
    assert resolve_config("bm3")["model"] == model_hparams("bm3")
    assert resolve_config("bm3")["train"]["patience"] == 20
    model = create_model("bm3", ds, embedding_dim=16)
    assert model.native_loss and not model.uses_negatives
    eval_embeddings(model, ds, 16)
    assert_repr(model, "BM3", "modalities=['image', 'text']", "n_layers=1",
                "dropout=0.5")


def test_embeddings_match_naive_formula():
    ds = tiny_data()
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
    ds = tiny_data()
    model = create_model("bm3", ds, embedding_dim=8, dropout=0.0,
                         reg_weight=0.3, cl_weight=1.5)
    batch = fixed_batch(ds, k=0)
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
    ds = tiny_data()
    model = create_model("bm3", ds, embedding_dim=8, reg_weight=0.0)
    model.loss(fixed_batch(ds, k=0))["modal"].backward()
    assert model.user_emb.weight.grad is None
    assert model.item_emb.weight.grad is None
    assert model.encoders.feat_image.grad.abs().sum() > 0
    assert model.predictor.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("objective", ["native", "bpr", "nbpo"])
def test_gradients_reach_every_parameter(objective):
    ds = tiny_data()
    model = create_model("bm3", ds, embedding_dim=8)
    k = 0 if objective == "native" else 2
    assert_objective_reaches_every_parameter(model, ds, objective,
                                             fixed_batch(ds, k=k))


def test_extra_loss_is_regulariser_plus_modality_terms():
    ds = tiny_data()
    model = create_model("bm3", ds, embedding_dim=8, dropout=0.0)
    batch = fixed_batch(ds, k=0)
    native = model.loss(batch)
    u, i = model.embeddings()
    extra = model.extra_loss(batch, u, i)
    assert torch.allclose(extra, native["reg"] + native["modal"], atol=1e-5)
    model.cl_weight, model.reg_weight = 0.0, 0.0
    assert float(model.extra_loss(batch, u, i).detach()) == 0.0


def test_loss_falls_during_training():
    ds = tiny_data()
    torch.manual_seed(0)
    model = create_model("bm3", ds, embedding_dim=16).train()
    losses = training_losses(model, ds, 15, 1e-2,
                             batch=fixed_batch(ds, n=128, k=0))
    assert sum(losses[-3:]) < 0.8 * sum(losses[:3])


def test_same_seed_same_result_and_deterministic_eval():
    ds = tiny_data()
    runs = fit_twice("bm3", ds,
                     dict(epochs=2, batch_size=64, topk=[10, 20], seed=5))
    embs = [model.eval().embeddings()[1].detach() for _, model in runs]
    for emb, (_, model) in zip(embs, runs):
        assert torch.equal(emb, model.embeddings()[1])
    assert torch.equal(embs[0], embs[1])
    assert 0.0 <= runs[-1][0]["test"]["recall@20"] <= 1.0


def test_reset_restores_trained_features():
    ds = tiny_data()
    model = create_model("bm3", ds, embedding_dim=8)
    assert_reset_restores_features(model, ds, "text")
    frozen = create_model("bm3", ds, embedding_dim=8, train_features=False)
    names = [n for n, _ in frozen.named_parameters()]
    assert not any("feat_" in n for n in names)


def test_graph_is_not_in_the_checkpoint():
    ds = tiny_data()
    model = create_model("bm3", ds, embedding_dim=8)
    assert "adj" not in model.state_dict()
    keep = ds.train_edge_index[:, ::2]
    other = create_model("bm3", ds.with_train_edges(keep), embedding_dim=8)
    other.load_state_dict(model.state_dict())
    assert other.adj._nnz() < model.adj._nnz()


@pytest.mark.parametrize("modalities", ONE_AND_THREE_MODALITIES)
def test_any_number_of_modalities(modalities):
    ds = tiny_data(modalities, seed=1)
    model = create_model("bm3", ds, embedding_dim=8)
    assert model.modalities == sorted(modalities)
    out = model.loss(fixed_batch(ds, k=0))
    sum(out.values()).backward()
    assert_grads_everywhere(model)
    res = Trainer(model, ds, dict(epochs=1, batch_size=128, topk=[10, 20]),
                  show_progress=False).fit()
    assert 0.0 <= res["valid"]["recall@20"] <= 1.0
