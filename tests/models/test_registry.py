r"""The registry sweep: every registered model builds, trains one epoch with
its default objective, evaluates, and is deterministic under a seed."""
import re

import pytest
import torch

from mmgraph.config import TrainConfig
from mmgraph.models import create_model, get_model_class, list_models
from mmgraph.models.base import Batch
from mmgraph.train import Trainer
from mmgraph.train.objectives import create_objective, resolve_objective_name
from torch_geometric import seed_everything


@pytest.mark.parametrize("name", list_models())
def test_registered_model_trains_and_evaluates(name, tiny_dataset):
    ds = tiny_dataset
    seed_everything(0)
    model = create_model(name, ds)
    assert repr(model).startswith(model.__class__.__name__)
    user_emb, item_emb = model.eval().embeddings()
    assert user_emb.shape[0] == ds.num_users
    assert item_emb.shape[0] == ds.num_items
    scores = model.score(torch.arange(5), (user_emb, item_emb))
    assert scores.shape == (5, ds.num_items)

    # Gradients reach the parameters through the default objective.
    model.train()
    objective = create_objective(resolve_objective_name(model), model, ds)
    users, pos = ds.train_edge_index[:, :64]
    neg = torch.randint(0, ds.num_items, (64, 1))
    out = objective(model, Batch(users, pos, neg))
    out["loss"].backward()
    with_grad = [n for n, p in model.named_parameters()
                 if p.requires_grad and p.grad is not None
                 and p.grad.abs().sum() > 0]
    assert with_grad, f"{name}: no parameter received a gradient"

    config = TrainConfig(epochs=1, batch_size=256, eval_batch_size=64,
                         topk=[5, 10, 20], seed=3)
    results = Trainer(model, ds, config, show_progress=False).fit()
    assert 0.0 <= results["test"]["recall@20"] <= 1.0
    assert results["epochs"] == 1


@pytest.mark.parametrize("name", list_models())
def test_registered_model_is_deterministic_under_a_seed(name, tiny_dataset,
                                                       single_thread):
    outs = []
    for _ in range(2):
        config = TrainConfig(epochs=1, batch_size=256, topk=[10, 20], seed=11)
        model = create_model(name, tiny_dataset)
        Trainer(model, tiny_dataset, config, show_progress=False).fit()
        outs.append(model.eval().embeddings()[1].detach().clone())
    assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize("name", list_models())
def test_every_model_trains_with_every_pairwise_objective(name, tiny_dataset):
    from mmgraph.train.objectives import list_objectives
    for obj in list_objectives():
        if obj in ("native",) or obj.startswith("unlearn"):
            continue
        model = create_model(name, tiny_dataset)
        config = TrainConfig(epochs=1, batch_size=512, topk=[10, 20], seed=1,
                             objective=obj)
        res = Trainer(model, tiny_dataset, config, show_progress=False).fit()
        assert res["objective"] == obj


def test_unknown_model_suggests_nearest():
    with pytest.raises(KeyError, match="Did you mean 'lightgcn'"):
        get_model_class("lightgnc")


def test_unknown_hparam_suggests_nearest(tiny_dataset):
    with pytest.raises(KeyError, match="Did you mean 'n_layers'"):
        create_model("lightgcn", tiny_dataset, n_layer=2)


def test_a_value_the_constructor_refuses_is_a_config_error_naming_the_model(tiny_dataset):
    from mmgraph.config import ConfigError
    with pytest.raises(ConfigError, match=r"^model 'lightgcn': .*must be >= 0 \(got -1\)"):
        create_model("lightgcn", tiny_dataset, n_layers=-1)
    with pytest.raises(ConfigError, match=r"^model 'bm3': .*dropout.*1\.5"):
        create_model("bm3", tiny_dataset, dropout=1.5)
    # a 0-dim model would train without a word
    for dim in (0, -4):
        with pytest.raises(ConfigError, match=f"model 'mf': embedding_dim must be a "
                                              f"positive integer \\(got {dim}\\)"):
            create_model("mf", tiny_dataset, embedding_dim=dim)


def test_a_multimodal_model_on_data_without_features_is_a_data_format_error(tmp_path):
    from mmgraph.data import make_synthetic
    from mmgraph.errors import DataFormatError
    ds = make_synthetic(out=tmp_path, num_users=30, num_items=20, avg_degree=5,
                        seed=0, modalities={})
    with pytest.raises(DataFormatError, match=f"^{re.escape(str(tmp_path))}: BM3 is a multimodal"):
        create_model("bm3", ds)
