r"""Training: the shared loop, its callbacks, the objectives and high-level
runs (unlearning: :mod:`mmgraph.unlearn`; run folders: :mod:`mmgraph.runs`)."""
from mmgraph.train.callbacks import (BestValidScore, Callback, EarlyStopping,
                                     ProgressBar)
from mmgraph.train.objectives import (Objective, create_objective,
                                      list_objectives, register_objective)
from mmgraph.train.run import train_config, train_model
from mmgraph.train.trainer import Trainer
from mmgraph.train.utils import seed_everything

__all__ = ["Trainer", "Callback", "BestValidScore", "EarlyStopping",
           "ProgressBar", "Objective", "register_objective",
           "create_objective", "list_objectives", "train_model",
           "train_config", "seed_everything"]
