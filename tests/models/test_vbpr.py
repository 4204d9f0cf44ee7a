import pytest
import torch

from mmgraph.models import create_model

from .helpers import (assert_objective_reaches_every_parameter, assert_repr,
                      assert_same_seed_same_result, eval_embeddings,
                      fixed_batch, objective_backward, tiny_data,
                      training_losses)


def test_forward_matches_formula_and_repr():
    ds = tiny_data()
    model = create_model("vbpr", ds, embedding_dim=8)
    u, i = eval_embeddings(model, ds, 16)
    content = torch.cat([ds.features["image"], ds.features["text"]], 1)
    lin = model.item_linear
    expected = torch.cat([model.item_emb, content @ lin.weight.t()
                          + lin.bias], 1)
    assert torch.allclose(i, expected, atol=1e-6)
    assert torch.equal(model.item_linear.bias, torch.zeros(8))
    assert_repr(model, "VBPR", "content_dim=24")


def test_extra_loss_is_mmrec_emb_loss():
    ds = tiny_data()
    model = create_model("vbpr", ds, embedding_dim=8, reg_weight=0.1)
    batch = fixed_batch(ds, n=6, k=1)
    u, i = model.embeddings()
    ub, ip, ineg = u[batch.users], i[batch.pos_items], \
        i[batch.neg_items[:, 0]]
    expected = 0.1 * (ub.norm() + ip.norm() + ineg.norm()) / 6
    assert torch.allclose(model.extra_loss(batch, u, i), expected)


def test_gradients_reach_every_parameter():
    ds = tiny_data()
    model = create_model("vbpr", ds, embedding_dim=8)
    assert_objective_reaches_every_parameter(model, ds)
    assert "item_features" not in model.state_dict()


def test_loss_falls_and_same_seed_same_result():
    ds = tiny_data()
    model = create_model("vbpr", ds, embedding_dim=16)
    losses = training_losses(model, ds, 15, 0.01, objective="bpr")
    assert losses[-1] < 0.7 * losses[0]
    assert_same_seed_same_result(
        "vbpr", ds, dict(epochs=2, batch_size=128, eval_batch_size=64))


@pytest.mark.parametrize("mods,dim", [
    ({"text": (12, 0.5)}, 12),
    ({"audio": (6, 0.4), "image": (16, 0.8), "text": (8, 0.3)}, 30),
])
def test_any_number_of_modalities(mods, dim):
    ds = tiny_data(mods)
    model = create_model("vbpr", ds, embedding_dim=8)
    assert model.item_linear.in_features == dim
    out = objective_backward("bpr", model, ds, fixed_batch(ds, k=3))
    assert torch.isfinite(out["loss"])
