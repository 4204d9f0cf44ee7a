r"""A small trained run folder whose dataset has non-trivial raw ids (shared
by the export, serve and search tests)."""
from pathlib import Path

import numpy as np


def make_prepared_folder(root: Path, num_users: int = 60, num_items: int = 40,
                         seed: int = 3) -> Path:
    r"""A synthetic MMRec folder with raw ids ``'u<i>'`` / ``'item-<i>'``."""
    from mmgraph.data.prepare import PreparedData, write_mmrec_folder
    from mmgraph.data.synthetic import generate_synthetic
    data = generate_synthetic(num_users=num_users, num_items=num_items,
                              avg_degree=8, seed=seed,
                              modalities={"image": (8, 0.8), "text": (6, 0.3)})
    prep = PreparedData(data.user, data.item, data.label, None, None,
                        np.array([f"u{i}" for i in range(data.num_users)]),
                        np.array([f"item-{i}" for i in range(data.num_items)]))
    write_mmrec_folder(root, "tiny", prep, data.features)
    return root


def make_run(root: Path, model: str = "lightgcn", epochs: int = 2) -> Path:
    r"""Trains ``model`` for ``epochs`` on :func:`make_prepared_folder` data
    into ``root/run`` and returns the run folder."""
    from mmgraph.experiment import train_model
    data = make_prepared_folder(root / "data")
    run = root / "run"
    train_model(model, str(data), overrides={"epochs": epochs, "seed": 0},
                out_dir=run, show_progress=False)
    return run
