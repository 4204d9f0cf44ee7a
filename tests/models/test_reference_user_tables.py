r"""The CM3 and LIRDRec reference code create their user preference tables as
``nn.Parameter(...).to(device)``: registered (and trained) on CPU, an
unregistered copy (never trained) on a GPU. ``train_user_prefs=False``
reproduces the GPU behaviour; the default trains them."""
import pytest
import torch

from mmgraph.models import create_model

from .helpers import tiny_data, training_losses


class _ReferencePattern(torch.nn.Module):
    def __init__(self, dtype):
        super().__init__()
        # The reference's construction; a dtype change stands in for the
        # device change (both make `.to` return a new tensor).
        self.pref = torch.nn.Parameter(torch.randn(4, 3)).to(dtype)


def test_reference_pattern_registers_only_when_to_is_a_no_op():
    same = _ReferencePattern(torch.float32)
    moved = _ReferencePattern(torch.float64)
    assert [n for n, _ in same.named_parameters()] == ["pref"]
    # A changed dtype (on a GPU: device) leaves a plain non-leaf tensor that
    # no optimiser built from .parameters() ever sees.
    assert list(moved.named_parameters()) == []
    assert not moved.pref.is_leaf and "pref" not in moved.state_dict()


def _prefs(model):
    return [p.detach().clone() for n, p in model.named_parameters()
            if n.startswith("user_prefs")]


@pytest.mark.parametrize("name", ["cm3", "lirdrec"])
@pytest.mark.parametrize("train_prefs", [True, False])
def test_train_user_prefs(name, train_prefs):
    ds = tiny_data()
    torch.manual_seed(0)
    model = create_model(name, ds, embedding_dim=8,
                         train_user_prefs=train_prefs)
    before = _prefs(model)
    others = {n: p.detach().clone() for n, p in model.named_parameters()
              if not n.startswith("user_prefs")}
    assert before and all(p.requires_grad == train_prefs for n, p in
                          model.named_parameters()
                          if n.startswith("user_prefs"))
    objective = None if model.native_loss else "bpr"
    training_losses(model, ds, steps=3, lr=0.05, objective=objective)
    after = _prefs(model)
    moved = [not torch.equal(a, b) for a, b in zip(after, before)]
    assert all(moved) if train_prefs else not any(moved)
    # The rest of the model trains either way.
    assert any(not torch.equal(p, others[n])
               for n, p in model.named_parameters() if n in others)
    # Frozen tables stay in the checkpoint.
    assert any(k.startswith("user_prefs") for k in model.state_dict())
