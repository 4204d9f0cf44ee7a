r"""Training: the shared loop, its callbacks and the objectives (grids and
suites of runs: :mod:`mmgraph.experiment`; run folders: :mod:`mmgraph.runs`;
unlearning: :mod:`mmgraph.unlearn`)."""
from mmgraph.train.callbacks import (BestValidScore, Callback, EarlyStopping,
                                     ProgressBar)
from mmgraph.train.objectives import (Objective, create_objective,
                                      list_objectives, register_objective)
from mmgraph.train.row_sparse_adam import RowSparseAdam
from mmgraph.train.trainer import Trainer

__all__ = ["Trainer", "Callback", "BestValidScore", "EarlyStopping",
           "ProgressBar", "Objective", "register_objective",
           "create_objective", "list_objectives", "RowSparseAdam"]
