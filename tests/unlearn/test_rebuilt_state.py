r"""After unlearning rebuilds a model's derived state (its graphs on the
retained interactions, its feature copies and kNN item graphs on zeroed
features), every buffer equals the one of a model built on the new data
from the start: no graph keeps a forgotten edge or a removed item's
content, whatever layout or module holds it."""
import pytest
import torch
from torch_geometric import seed_everything

from mmgraph.models import create_model, list_models
from mmgraph.models.registry import get_model_class
from mmgraph.unlearn import ForgetRequest

MULTIMODAL = [n for n in list_models()
              if getattr(get_model_class(n), "multimodal", False)]


def _buffers(model):
    r"""Every buffer (persistent or not, sub-modules and graph modules such
    as :class:`~mmgraph.nn.sparse.EdgeGraph` included), sparse ones dense."""
    out = {}
    for name, t in model.named_buffers():
        if t is None:
            continue
        out[name] = t.to_dense() if t.layout != torch.strided else t
    return out


def _differing(model, fresh):
    ours, theirs = _buffers(model), _buffers(fresh)
    assert ours.keys() == theirs.keys()
    return sorted(k for k in ours
                  if ours[k].shape != theirs[k].shape or
                  not torch.allclose(ours[k].float(), theirs[k].float(),
                                     atol=1e-6))


@pytest.mark.parametrize("name", list_models())
def test_graphs_rebuilt_on_retained_interactions(tiny_dataset, name):
    ds = tiny_dataset
    seed_everything(0)
    model = create_model(name, ds)
    request = ForgetRequest.random("users", 0.1, ds, seed=1)
    retain = request.apply(ds)
    model.on_train_graph_change(retain)
    seed_everything(0)
    fresh = create_model(name, retain)
    assert _differing(model, fresh) == [], name


@pytest.mark.parametrize("name", MULTIMODAL)
def test_zeroed_features_reach_every_derived_buffer(tiny_dataset, name):
    ds = tiny_dataset
    seed_everything(0)
    model = create_model(name, ds)
    request = ForgetRequest.random("items", 0.1, ds, seed=1,
                                   remove_items=True, zero_features=True)
    retain = request.apply(ds)
    # the request changes the features the graphs are built from
    assert any(not torch.equal(ds.features[m], retain.features[m])
               for m in ds.modalities)
    model.on_features_change(retain)
    seed_everything(0)
    fresh = create_model(name, retain)
    assert _differing(model, fresh) == [], name
