r"""A latent-factor synthetic multimodal dataset: the built-in default (no
files needed) and the test data.

Generative process (all vectorised, seeded with a private
:class:`numpy.random.Generator`, so the global RNGs are untouched):

1. User and item factors :math:`\mathbf{p}_u, \mathbf{q}_i \sim
   \mathcal{N}(0, \mathbf{I}_d)` and an item popularity bias
   :math:`b_i \sim \mathcal{N}(0, \sigma_b^2)`.
2. Degree :math:`n_u = n_{min} + \text{Poisson}(\bar{n} - n_{min})`, at most
   half the items.
3. User :math:`u` picks :math:`n_u` distinct items from
   :math:`\text{softmax}_i(\mathbf{p}_u^{\top}\mathbf{q}_i / (\sqrt{d}\,\tau)
   + b_i)` without replacement (Gumbel top-:math:`k` trick).
4. Modality :math:`m` with dimension :math:`d_m` and signal
   :math:`s_m \in [0, 1]`:
   :math:`\mathbf{F}_m = s_m \, \mathbf{Q}\mathbf{W}_m / \sqrt{d} + (1 - s_m)\,
   \mathbf{E}_m` with :math:`\mathbf{W}_m, \mathbf{E}_m` standard normal,
   so both parts have unit variance per entry and :math:`s_m` sets how much
   the features tell about the item factors.
5. MMRec's random per-user split (:func:`~mmgraph.data.prepare.split_mmrec`).

Items never picked are dropped (ids stay contiguous).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

from .dataset import RecDataset
from .formats import PathLike
from .prepare import PreparedData, split_mmrec, write_mmrec_folder

__all__ = ["SyntheticData", "generate_synthetic", "make_synthetic", "DEFAULT_MODALITIES"]

DEFAULT_MODALITIES: Dict[str, Tuple[int, float]] = {"image": (64, 0.8), "text": (32, 0.3)}


@dataclass(repr=False)
class SyntheticData:
    r"""Generated arrays (ids are contiguous; ``features[m]`` row ``i`` is
    item ``i``) plus the hidden factors, for tests."""
    user: np.ndarray
    item: np.ndarray
    label: np.ndarray
    features: Dict[str, np.ndarray]
    user_factors: np.ndarray
    item_factors: np.ndarray
    num_users: int
    num_items: int
    params: Dict[str, object] = field(default_factory=dict)

    def __repr__(self) -> str:
        # One line: it is printed inside a HeteroData's summary
        # (RecDataset.to_heterodata), where the arrays would fill a screen.
        feats = ", ".join(f"{m}={list(x.shape)}" for m, x in self.features.items())
        return (f"{self.__class__.__name__}(users={self.num_users}, items={self.num_items}, "
                f"interactions={len(self.user)}, features=[{feats}], "
                f"latent_dim={self.user_factors.shape[-1]})")


def generate_synthetic(num_users: int = 300, num_items: int = 200, avg_degree: float = 15.0,
                       latent_dim: int = 16, temperature: float = 0.25,
                       popularity: float = 0.5, min_degree: int = 5,
                       modalities: Optional[Mapping[str, Tuple[int, float]]] = None,
                       seed: int = 0) -> SyntheticData:
    r"""Generate interactions and item features (see the module docstring).

    The defaults (300 users, 200 items, 15 interactions per user) are sized
    for a first run: ``mmgraph train --model bm3 --data synthetic`` trains
    BM3 to early stopping in well under a minute on two CPU cores. Pass
    larger sizes (e.g. ``num_users=1000, num_items=500, avg_degree=20``, the
    defaults before 0.2) for a harder set.

    Args:
        num_users (int): Users.
        num_items (int): Items before dropping never-picked ones.
        avg_degree (float): Mean interactions per user.
        latent_dim (int): :math:`d`.
        temperature (float): :math:`\tau`; smaller = more predictable.
        popularity (float): :math:`\sigma_b`, the spread of item popularity.
        min_degree (int): :math:`n_{min}` (keeps every user in train after
            the split).
        modalities (dict): ``name -> (dim, signal)``; default image (64, 0.8)
            and text (32, 0.3).
        seed (int): Seed.
    """
    modalities = dict(DEFAULT_MODALITIES if modalities is None else modalities)
    for m, (dim, signal) in modalities.items():
        if not 0.0 <= signal <= 1.0 or int(dim) < 1:
            raise ValueError(f"modality {m!r}: need dim >= 1 and signal in [0, 1]")
    rng = np.random.default_rng(seed)
    P = rng.standard_normal((num_users, latent_dim))
    Q = rng.standard_normal((num_items, latent_dim))
    bias = popularity * rng.standard_normal(num_items)
    cap = max(1, num_items // 2)
    deg = min_degree + rng.poisson(max(avg_degree - min_degree, 0.0), num_users)
    deg = np.clip(deg, 1, cap)
    logits = (P @ Q.T) / (np.sqrt(latent_dim) * temperature) + bias
    keys = logits + rng.gumbel(size=logits.shape)
    kmax = int(deg.max())
    top = np.argpartition(-keys, kmax - 1, axis=1)[:, :kmax]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, 1), 1), 1)
    take = np.arange(kmax)[None, :] < deg[:, None]
    user = np.repeat(np.arange(num_users), deg)
    item = top[take]
    # drop never-picked items so ids stay contiguous (MMRec: num_items = max id + 1)
    used = np.zeros(num_items, bool)
    used[item] = True
    remap = np.cumsum(used) - 1
    item = remap[item]
    Q = Q[used]
    feats = {}
    for m, (dim, signal) in modalities.items():
        W = rng.standard_normal((latent_dim, int(dim)))
        noise = rng.standard_normal((Q.shape[0], int(dim)))
        feats[m] = (signal * (Q @ W) / np.sqrt(latent_dim)
                    + (1 - signal) * noise).astype(np.float32)
    label = split_mmrec(user, seed)
    params = dict(num_users=num_users, num_items=num_items, avg_degree=avg_degree,
                  latent_dim=latent_dim, temperature=temperature, popularity=popularity,
                  min_degree=min_degree, modalities=modalities, seed=seed)
    return SyntheticData(user.astype(np.int64), item.astype(np.int64), label, feats, P, Q,
                         num_users, int(used.sum()), params)


def make_synthetic(out: Optional[PathLike] = None, name: str = "synthetic",
                   knn_k: int = 10, mm_image_weight: float = 0.1, **kwargs) -> RecDataset:
    r"""The synthetic dataset as a :class:`~mmgraph.data.RecDataset`.

    With :obj:`out`, an MMRec folder (``<name>.inter``, id maps,
    ``<modality>_feat.npy``) is written there first and loaded back;
    otherwise everything stays in memory. Keyword arguments go to
    :func:`generate_synthetic`. The generated arrays and hidden factors are
    the dataset's ``synthetic`` field.
    """
    data = generate_synthetic(**kwargs)
    if out is not None:
        prep = PreparedData(data.user, data.item, data.label, None, None,
                            np.arange(data.num_users), np.arange(data.num_items))
        write_mmrec_folder(out, name, prep, data.features)
        ds = RecDataset.from_folder(out, name, knn_k=knn_k, mm_image_weight=mm_image_weight)
    else:
        ds = RecDataset.from_interactions(data.user, data.item, data.label, data.features,
                                          name=name, knn_k=knn_k,
                                          mm_image_weight=mm_image_weight)
    ds.synthetic = data
    return ds
