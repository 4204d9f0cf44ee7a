import copy

import pytest
import torch
import torch.nn.functional as F

from mmgraph.models import create_model
from mmgraph.models.mmgcn import mean_adjacency

from .helpers import (ONE_AND_THREE_MODALITIES,
                      assert_objective_reaches_every_parameter, assert_repr,
                      assert_same_seed_same_result, eval_embeddings,
                      fixed_batch, objective_backward, tiny_data)


def test_mean_adjacency_by_hand():
    # users 0, 1; items 0, 1, 2 (nodes 2, 3, 4); item 2 has no edge.
    ei = torch.tensor([[0, 0, 1], [0, 1, 1]])
    a = mean_adjacency(ei, 2, 3).to_dense()
    expected = torch.tensor([
        [0, 0, .5, .5, 0],
        [0, 0, 0, 1., 0],
        [1., 0, 0, 0, 0],
        [.5, .5, 0, 0, 0],
        [0, 0, 0, 0, 0]])
    assert torch.equal(a, expected)


def _naive(model, ds):
    # MMGCN Eq. 1-5 written out with a dense mean adjacency.
    a = mean_adjacency(ds.train_edge_index, ds.num_users,
                       ds.num_items).to_dense()
    out = 0
    for m, gcn in model.gcns.items():
        feat = ds.features[m]
        items = feat @ gcn.mlp.weight.t() + gcn.mlp.bias \
            if gcn.mlp is not None else feat
        x = F.normalize(torch.cat([gcn.preference, items]), dim=1)
        for w, lin, g in zip(gcn.conv, gcn.lin, gcn.gate):
            h = F.leaky_relu(a @ x @ w)
            xh = F.leaky_relu(x @ lin.weight.t() + lin.bias) + \
                model.id_embedding
            x = F.leaky_relu(torch.cat([h, xh], 1) @ g.weight.t() + g.bias)
        out = out + x
    return out / len(model.gcns)


def test_embeddings_match_naive_formula_and_reference_widths():
    ds = tiny_data()
    model = create_model("mmgcn", ds, embedding_dim=8, dim_latent=5)
    u, i = eval_embeddings(model, ds, 8)
    expected = _naive(model, ds)
    assert torch.allclose(torch.cat([u, i]), expected, atol=1e-5)
    # image is projected to dim_latent, text enters raw (MMRec).
    assert model.gcns["image"].width == 5
    assert model.gcns["text"].width == ds.features["text"].size(1)
    assert model.gcns["text"].preference.shape == (ds.num_users, 8)
    assert len(model.gcns["image"].conv) == 3
    assert_repr(model, "MMGCN", "n_layers=3", "learn_embeddings=False")


def _with_features(ds, **features):
    new = copy.copy(ds)
    new.features = {**ds.features, **features}
    return new


def test_constant_first_layer_is_cached_and_recomputed_on_change():
    # text enters unprojected with a frozen preference: x^(0) and A x^(0)
    # are cached; each change of what they depend on must recompute them.
    ds = tiny_data()
    model = create_model("mmgcn", ds, embedding_dim=8, dim_latent=5)
    model.eval()

    def fresh():
        for gcn in model.gcns.values():
            gcn._constant_input = None
        return torch.cat(model.embeddings())

    with torch.no_grad():
        first = torch.cat(model.embeddings())
        assert model.gcns["text"]._constant_input is not None
        assert model.gcns["image"]._constant_input is None  # projected
        assert torch.equal(torch.cat(model.embeddings()), first)
        changes = [
            lambda: model.gcns["text"].preference.add_(1.0),  # in place
            lambda: model.reset_parameters(),
            lambda: model.load_state_dict(create_model(
                "mmgcn", ds, embedding_dim=8, dim_latent=5).state_dict()),
            lambda: model.on_features_change(_with_features(
                ds, text=torch.randn_like(ds.features["text"]))),
            lambda: model.on_train_graph_change(
                ds.with_train_edges(ds.train_edge_index[:, ::2])),
        ]
        for change in changes:
            before = torch.cat(model.embeddings())
            change()
            after = torch.cat(model.embeddings())
            assert not torch.allclose(after, before)
            assert torch.allclose(after, fresh(), atol=1e-6)


def test_frozen_embeddings_as_reference_and_learned_on_request():
    ds = tiny_data()
    frozen = create_model("mmgcn", ds, embedding_dim=8)
    names = dict(frozen.named_parameters())
    assert "id_embedding" not in names
    assert not any("preference" in n for n in names)
    assert "id_embedding" in frozen.state_dict()  # kept in checkpoints
    assert_objective_reaches_every_parameter(frozen, ds)
    learned = create_model("mmgcn", ds, embedding_dim=8,
                           learn_embeddings=True)
    names = dict(learned.named_parameters())
    assert "id_embedding" in names and "gcns.image.preference" in names
    assert_objective_reaches_every_parameter(learned, ds)


def test_extra_loss_by_hand():
    ds = tiny_data()
    model = create_model("mmgcn", ds, embedding_dim=8, reg_weight=0.5)
    batch = fixed_batch(ds, n=3, k=2)
    e = model.id_embedding
    terms = []
    for b in range(3):
        for item in [batch.pos_items[b]] + list(batch.neg_items[b]):
            terms.append(e[batch.users[b]] ** 2 +
                         e[ds.num_users + item] ** 2)
    expected = torch.stack(terms).mean() + \
        (model.gcns["image"].preference ** 2).mean()
    u, i = model.embeddings()
    assert torch.allclose(model.extra_loss(batch, u, i), 0.5 * expected)


@pytest.mark.parametrize("mods", ONE_AND_THREE_MODALITIES)
def test_any_number_of_modalities(mods):
    ds = tiny_data(mods)
    model = create_model("mmgcn", ds, embedding_dim=8)
    eval_embeddings(model, ds, 8)
    model.train()
    out = objective_backward("nbpo", model, ds, fixed_batch(ds, k=4))
    assert torch.isfinite(out["loss"])
    assert set(model.gcns) == set(mods)


def test_rebuild_on_retain_set_keeps_state_and_same_seed():
    ds = tiny_data()
    model = create_model("mmgcn", ds, embedding_dim=8)
    state = model.state_dict()
    assert not any("adj" in k for k in state)
    retain = ds.with_train_edges(ds.train_edge_index[:, ::2])
    model.on_train_graph_change(retain)
    model.load_state_dict(state)
    expected = mean_adjacency(retain.train_edge_index, ds.num_users,
                              ds.num_items).to_dense()
    assert torch.equal(model.adj.to_dense(), expected)
    assert_same_seed_same_result(
        "mmgcn", ds, dict(epochs=2, batch_size=128, eval_batch_size=64))
