r"""``scores_from_content`` tells the truth: a model that claims it scores
an item from content gives an item another representation when (only) that
item's features change; an ID-only model does not."""
import pytest
import torch

from mmgraph import RecDataset, create_model, list_models
from mmgraph.data import load_dataset


@pytest.fixture(scope="module")
def datasets():
    ds = load_dataset("synthetic", num_users=40, num_items=30, avg_degree=6,
                      seed=0)
    g = torch.Generator().manual_seed(1)
    feats = {m: x.clone() for m, x in ds.features.items()}
    for x in feats.values():
        x[0] = torch.randn(x.size(1), generator=g) * x.std()
    other = RecDataset(ds.name, ds.num_users, ds.num_items,
                       ds.train_edge_index, ds.valid_edge_index,
                       ds.test_edge_index, feats)
    return ds, other


def _item0(name, ds):
    torch.manual_seed(0)
    model = create_model(name, ds).eval()
    with torch.no_grad():
        return model.embeddings()[1][0]


@pytest.mark.parametrize("name", list_models())
def test_scores_from_content_matches_the_model(name, datasets):
    ds, other = datasets
    model_cls = type(create_model(name, ds))
    changed = not torch.equal(_item0(name, ds), _item0(name, other))
    assert changed == model_cls.scores_from_content, name


BUILT_IN = ("mf", "lightgcn", "vbpr", "freedom", "bm3", "cm3", "lirdrec")


def test_the_id_only_models():
    # Other tests may register more models (examples/custom_model.py): only
    # the built-in ones are checked here.
    ds = load_dataset("synthetic", num_users=20, num_items=15, avg_degree=4,
                      seed=0)
    id_only = {n for n in BUILT_IN
               if not type(create_model(n, ds)).scores_from_content}
    assert id_only == {"mf", "lightgcn", "bm3"}
