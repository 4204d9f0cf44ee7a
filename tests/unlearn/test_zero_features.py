r"""``zero_features`` reaches every copy of the removed items' features the
model holds: no parameter or buffer (persistent or not) keeps a row equal
to a removed item's original feature vector, alone or concatenated."""
import pytest
import torch
from torch_geometric import seed_everything

from mmgraph.models import create_model, list_models
from mmgraph.models.registry import get_model_class
from mmgraph.nn.encoders import DCT
from mmgraph.unlearn import ForgetRequest, Unlearner

MULTIMODAL = [n for n in list_models()
              if getattr(get_model_class(n), "multimodal", False)]


def _all_tensors(model):
    seen = dict(model.state_dict(keep_vars=False))
    seen.update({f"buffer:{k}": v for k, v in model.named_buffers()})
    seen.update({f"param:{k}": v.detach() for k, v in
                 model.named_parameters()})
    return seen


def _holders(model, vectors):
    r"""Names of the tensors with a row holding one of ``vectors`` as a
    contiguous slice."""
    found = set()
    for name, t in _all_tensors(model).items():
        if not torch.is_tensor(t) or t.dim() != 2 or \
                t.layout != torch.strided:
            continue
        t = t.float()
        for v in vectors:
            d = v.numel()
            for off in range(0, t.size(1) - d + 1):
                if bool((t[:, off:off + d] == v).all(1).any()):
                    found.add(name)
                    break
    return found


def _signatures(ds, items):
    r"""The removed items' feature rows per modality and their DCT
    concatenation (LIRDRec's transform), non-zero rows only."""
    feats = {m: ds.features[m].float() for m in ds.modalities}
    dct = DCT()([feats[m] for m in ds.modalities])
    out = []
    for i in items.tolist():
        for x in list(feats.values()) + [dct]:
            if bool(x[i].abs().sum() > 0):
                out.append(x[i].clone())
    return out


@pytest.mark.parametrize("name", MULTIMODAL)
def test_zero_features_leaves_no_copy(tiny_dataset, name):
    assert {"vbpr", "bm3", "freedom", "cm3", "lirdrec", "lattice", "mgcn",
            "dragon", "dualgnn", "lgmrec", "smore", "grcn",
            "mmgcn"} <= set(MULTIMODAL)
    ds = tiny_dataset
    seed_everything(0)
    model = create_model(name, ds)
    req = ForgetRequest.random("items", 0.05, ds, seed=1, remove_items=True,
                               zero_features=True)
    vectors = _signatures(ds, req.ids)
    # The scan sees the copies before unlearning.
    before = _holders(model, vectors)
    assert before, name
    original = {m: x.clone() for m, x in ds.features.items()}
    Unlearner(model, ds, req, {"seed": 0}, epochs=1, min_steps=2,
              show_progress=False).fit()
    assert _holders(model, vectors) == set(), name
    # The caller's dataset keeps its features (a model's buffer may alias
    # them: GRCN, LGMRec and MMGCN hold dataset.features[m].float()).
    for m, x in ds.features.items():
        assert torch.equal(x, original[m]), (name, m)


def test_replace_feature_rows_keeps_trained_rows():
    from mmgraph.models.base import Recommender
    table = torch.tensor([[1.5, 2.5], [3.5, 4.5], [5.5, 6.5]])
    pristine = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    new = torch.tensor([[1.0, 2.0], [0.0, 0.0], [5.0, 6.0]])
    Recommender.replace_feature_rows(table, new, pristine)
    # Only the changed row is replaced; the trained rows stay.
    assert table.tolist() == [[1.5, 2.5], [0.0, 0.0], [5.5, 6.5]]
    assert torch.equal(pristine, new)
    fixed = pristine.clone() + 1
    Recommender.replace_feature_rows(fixed, new)
    assert torch.equal(fixed, new)
