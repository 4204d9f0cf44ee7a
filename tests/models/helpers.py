"""Shared set-up and checks for the model tests: one tiny synthetic dataset,
a fixed batch, and the property checks every model must pass."""
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from mmgraph.data import make_synthetic
from mmgraph.models import Batch, Recommender, create_model
from mmgraph.train.objectives import create_objective
from mmgraph.train.trainer import Trainer

#: Two modalities: image carries the item factors, text is mostly noise.
MODALITIES = {"image": (16, 0.8), "text": (8, 0.3)}
#: Fewer and more modalities than the default two.
ONE_AND_THREE_MODALITIES = [
    {"text": (12, 0.6)},
    {"image": (16, 0.8), "text": (8, 0.3), "audio": (6, 0.2)},
]


def tiny_data(modalities: Optional[Dict[str, Tuple[int, float]]] = None,
              seed: int = 0):
    """60 users, 40 items, every node with at least 3 training edges."""
    return make_synthetic(num_users=60, num_items=40, avg_degree=8,
                          min_degree=3, modalities=modalities or MODALITIES,
                          seed=seed)


def fixed_batch(ds, n: int = 32, k: int = 1, seed: int = 0,
                distinct: bool = False) -> Batch:
    """``n`` training edges with ``k`` uniform negatives each (``k = 0``: no
    negatives), drawn from a private generator. ``distinct=True`` draws the
    edges without replacement."""
    g = torch.Generator().manual_seed(seed)
    num_edges = ds.train_edge_index.size(1)
    if distinct:
        idx = torch.randperm(num_edges, generator=g)[:n]
    else:
        idx = torch.randint(num_edges, (n, ), generator=g)
    users, pos = ds.train_edge_index[:, idx]
    neg = torch.randint(ds.num_items, (n, k), generator=g) if k else None
    return Batch(users, pos, neg)


def eval_embeddings(model: Recommender, ds,
                    dim: int) -> Tuple[Tensor, Tensor]:
    """The eval-mode embeddings, checked to be ``[U, dim]`` and ``[I, dim]``;
    :meth:`score` gives every item a score."""
    u, i = model.eval().embeddings()
    assert u.shape == (ds.num_users, dim) and i.shape == (ds.num_items, dim)
    assert model.score(torch.tensor([0, 5])).shape == (2, ds.num_items)
    return u, i


def objective_backward(objective: str, model: Recommender, ds,
                       batch: Batch) -> Dict[str, Tensor]:
    """One pass of the named objective on ``batch``, then ``backward()``;
    returns the objective's terms."""
    out = create_objective(objective, model, ds)(model, batch)
    out["loss"].backward()
    return out


def assert_grads_everywhere(model: Recommender) -> None:
    """After a backward pass, every parameter got a non-zero gradient."""
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def assert_objective_reaches_every_parameter(
        model: Recommender, ds, objective: str = "bpr",
        batch: Optional[Batch] = None) -> None:
    """A training pass (train mode, ``on_epoch_start(0)``) of ``objective``
    on ``batch`` (default: :func:`fixed_batch`) gives every parameter a
    non-zero gradient."""
    model.train()
    model.on_epoch_start(0)
    objective_backward(objective, model, ds,
                       fixed_batch(ds) if batch is None else batch)
    assert_grads_everywhere(model)


def training_losses(model: Recommender, ds, steps: int, lr: float,
                    objective: Optional[str] = None,
                    batch: Optional[Batch] = None) -> List[float]:
    """Adam steps on one fixed batch (default: 128 training edges with one
    negative each); ``on_epoch_start(step)`` comes before each step, as in
    the trainer. The loss is the named ``objective``'s or, without one, the
    sum of the model's native loss terms. Returns the loss of every step."""
    if objective is None:
        def loss_fn(m, b):
            return sum(m.loss(b).values())
    else:
        obj = create_objective(objective, model, ds)

        def loss_fn(m, b):
            return obj(m, b)["loss"]
    batch = fixed_batch(ds, n=128) if batch is None else batch
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for step in range(steps):
        model.on_epoch_start(step)
        loss = loss_fn(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def assert_reset_restores_features(model: Recommender, ds,
                                   modality: str) -> None:
    """Trainable item features return to the dataset's after
    :meth:`reset_parameters`."""
    feat = getattr(model.encoders, f"feat_{modality}")
    with torch.no_grad():
        feat.add_(1.0)
    model.reset_parameters()
    assert torch.equal(getattr(model.encoders, f"feat_{modality}"),
                       ds.features[modality])


def assert_repr(model: Recommender, name: str, *parts: str) -> None:
    """``repr(model)`` is ``name(...)`` and shows every one of ``parts``."""
    text = repr(model)
    assert text.startswith(f"{name}("), text
    for part in parts:
        assert part in text, (part, text)


def fit_twice(name: str, ds, config: dict) -> List[Tuple[dict, Recommender]]:
    """Trains two fresh models (``embedding_dim=8``) with the same trainer
    config, hence the same seed; returns ``[(results, model)] * 2``."""
    runs = []
    for _ in range(2):
        model = create_model(name, ds, embedding_dim=8)
        runs.append((Trainer(model, ds, config, show_progress=False).fit(),
                     model))
    return runs


def assert_same_seed_same_result(name: str, ds, config: dict) -> None:
    """Two trainer runs from the same seed give the same metrics and the same
    state, entry by entry."""
    (r1, m1), (r2, m2) = fit_twice(name, ds, config)
    assert r1["valid"] == r2["valid"] and r1["test"] == r2["test"]
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
