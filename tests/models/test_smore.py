import math

import pytest
import torch

from mmgraph.models import create_model
from mmgraph.models.smore import (SpectralFusion, max_fuse_graphs,
                                  similarity_knn_graph)
from mmgraph.nn.losses import info_nce_loss

from .helpers import (ONE_AND_THREE_MODALITIES,
                      assert_objective_reaches_every_parameter, assert_repr,
                      assert_reset_restores_features,
                      assert_same_seed_same_result, eval_embeddings,
                      fixed_batch, objective_backward, tiny_data)


def _unit_filters(fusion: SpectralFusion) -> None:
    with torch.no_grad():
        for p in list(fusion.filters.values()) + [fusion.fusion_filter]:
            p.zero_()
            p[:, 0] = 1.0


def test_spectral_fusion_is_filter_and_circular_convolution():
    torch.manual_seed(0)
    x, y = torch.randn(3, 8), torch.randn(3, 8)
    fusion = SpectralFusion(["image", "text"], 8)
    _unit_filters(fusion)
    uni, fused = fusion({"image": x, "text": y})
    # A unit filter is the identity.
    assert torch.allclose(uni["image"], x, atol=1e-5)
    assert torch.allclose(uni["text"], y, atol=1e-5)
    # The product of orthonormal spectra is the circular convolution
    # divided by sqrt(d).
    conv = torch.stack([sum(x[:, j] * y[:, (k - j) % 8] for j in range(8))
                        for k in range(8)], 1)
    assert torch.allclose(fused, conv / math.sqrt(8), atol=1e-5)
    # A real filter of 2 on every frequency doubles the input.
    with torch.no_grad():
        fusion.filters["image"][:, 0] = 2.0
    assert torch.allclose(fusion({"image": x, "text": y})[0]["image"],
                          2 * x, atol=1e-5)
    single = SpectralFusion(["text"], 8)
    _unit_filters(single)
    assert torch.allclose(single({"text": y})[1], y, atol=1e-5)
    assert repr(single) == "SpectralFusion(modalities=['text'], channels=8)"


def test_similarity_knn_graph_by_hand():
    x = torch.tensor([[1., 0.], [1., 1.], [0., 1.]])
    # k = 2 with self: 0 -> {0, 1}, 1 -> {0, 1} (tie with 2: lower index),
    # 2 -> {1, 2}; cos(0, 1) = cos(1, 2) = c.
    ei = torch.tensor([[0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 1, 2]])
    c = 1 / math.sqrt(2)
    _, w = similarity_knn_graph(x, ei, 3)
    d = 1 + c
    expected = torch.tensor([1 / d, c / d, c / d, 1 / d, c / d, 1 / d])
    assert torch.allclose(w, expected, atol=1e-6)


def test_max_fuse_graphs_by_hand():
    a = (torch.tensor([[0, 1], [1, 0]]), torch.tensor([0.5, 0.2]))
    b = (torch.tensor([[0, 1], [1, 1]]), torch.tensor([0.3, 0.9]))
    ei, ew = max_fuse_graphs({"image": a, "text": b}, 2)
    assert ei.tolist() == [[0, 1, 1], [1, 0, 1]]
    assert torch.allclose(ew, torch.tensor([0.5, 0.2, 0.9]))


def test_in_batch_info_nce_by_hand():
    a = torch.tensor([[1., 0.], [0., 3.]])
    b = torch.tensor([[2., 0.], [1., 1.]])
    c = 1 / math.sqrt(2)
    l0 = -math.log(math.exp(1 / .2) / (math.exp(1 / .2) + math.exp(c / .2)))
    l1 = -math.log(math.exp(c / .2) / (1 + math.exp(c / .2)))
    assert math.isclose(float(info_nce_loss(a, b, 0.2)), (l0 + l1) / 2,
                        rel_tol=1e-5)


def _naive(model, ds):
    U = ds.num_users
    adj = ds.norm_adj().to_dense()
    r = adj[:U, U:]
    feats = model.encoders.features()
    proj = {m: model.encoders.encoders[m](feats[m]) for m in feats}
    uni, fused = model.spectral(proj)
    spectra = dict(uni, fusion=fused)
    e_i = model.item_emb.weight
    views = {}
    for v, x in spectra.items():
        s = getattr(model, f"item_adj_{v}").to_dense()
        g = model.item_gates[v]
        items = s @ (e_i * torch.sigmoid(x @ g[0].weight.t() + g[0].bias))
        views[v] = torch.cat([r @ items, items])
    x = torch.cat([model.user_emb.weight, e_i])
    content = (x + adj @ x + adj @ adj @ x + adj @ adj @ adj @ x) / 4
    parts = []
    for m in model.modalities:
        q = model.queries[m]
        att = torch.softmax(torch.tanh(views["fusion"] @ q[0].weight.t() +
                                       q[0].bias) @ q[2].weight.t(), -1)
        gate = model.prefer_gates[m][0]
        parts.append(torch.sigmoid(content @ gate.weight.t() + gate.bias) *
                     att * views[m])
    gate = model.prefer_gates["fusion"][0]
    parts.append(torch.sigmoid(content @ gate.weight.t() + gate.bias) *
                 views["fusion"])
    return content + sum(parts) / len(parts)


def test_embeddings_match_naive_formula():
    ds = tiny_data()
    model = create_model("smore", ds, embedding_dim=8, n_ui_layers=3)
    u, i = eval_embeddings(model, ds, 8)
    assert torch.allclose(torch.cat([u, i]), _naive(model, ds), atol=1e-5)
    # The fused item graph is the max of the modality graphs.
    img = model.item_adj_image.to_dense()
    txt = model.item_adj_text.to_dense()
    fus = model.item_adj_fusion.to_dense()
    both = (img != 0) & (txt != 0)
    assert torch.allclose(fus[both], torch.maximum(img, txt)[both])
    assert_repr(model, "SMORE", "n_ui_layers=3", "image_knn_k=10")


def test_extra_loss_by_hand():
    ds = tiny_data()
    model = create_model("smore", ds, embedding_dim=8, reg_weight=0.5,
                         cl_loss=0.25)
    model.train()
    u, i = model.embeddings()
    side, content = model._views
    batch = fixed_batch(ds, n=5, k=1)
    U = ds.num_users
    items = batch.pos_items + U
    reg = 0.5 * ((u[batch.users] ** 2).sum() + (i[batch.pos_items] ** 2).sum()
                 + (i[batch.neg_items[:, 0]] ** 2).sum()) / 5
    cl = info_nce_loss(side[items], content[items], 0.2) + \
        info_nce_loss(side[batch.users], content[batch.users], 0.2)
    assert torch.allclose(model.extra_loss(batch, u, i),
                          0.5 * reg + 0.25 * cl)


def test_gradients_reach_every_parameter_and_reset():
    ds = tiny_data()
    model = create_model("smore", ds, embedding_dim=8)
    assert_objective_reaches_every_parameter(model, ds)
    assert_reset_restores_features(model, ds, "image")


def test_dropout_only_in_training():
    ds = tiny_data()
    model = create_model("smore", ds, embedding_dim=8, dropout_rate=0.5)
    u, _ = model.eval().embeddings()
    model.train()
    u2, _ = model.embeddings()
    assert not torch.allclose(u, u2)
    u3, _ = model.eval().embeddings()
    assert torch.equal(u, u3)


@pytest.mark.parametrize("mods", ONE_AND_THREE_MODALITIES)
def test_any_number_of_modalities(mods):
    ds = tiny_data(mods)
    model = create_model("smore", ds, embedding_dim=8, image_knn_k=5,
                         text_knn_k=3)
    eval_embeddings(model, ds, 8)
    model.train()
    out = objective_backward("nbpo", model, ds, fixed_batch(ds, k=4))
    assert torch.isfinite(out["loss"])
    for m in mods:  # k neighbours per row (self included)
        k = 5 if m == "image" else 3
        counts = model.__getattr__(f"item_adj_{m}").crow_indices().diff()
        assert torch.equal(counts, torch.full((ds.num_items,), k))


def test_rebuild_on_retain_set_keeps_state_and_same_seed():
    ds = tiny_data()
    model = create_model("smore", ds, embedding_dim=8)
    state = model.state_dict()
    assert not any("adj" in k or "inter" in k for k in state)
    retain = ds.with_train_edges(ds.train_edge_index[:, ::2])
    model.on_train_graph_change(retain)
    model.load_state_dict(state)
    U = ds.num_users
    expected = retain.norm_adj().to_dense()[:U, U:]
    assert torch.equal(model.norm_inter.to_dense(), expected)
    assert_same_seed_same_result(
        "smore", ds, dict(epochs=2, batch_size=128, eval_batch_size=64))
