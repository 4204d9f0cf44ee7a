r"""Training: the shared loop, objectives, one run, and unlearning (grids and
suites of runs: :mod:`mmgraph.experiment`)."""
from mmgraph.train.objectives import (Objective, create_objective,
                                      list_objectives, register_objective)
from mmgraph.train.run import load_run, train_config
from mmgraph.train.trainer import Trainer
from mmgraph.train.unlearn import ForgetRequest, Unlearner
from mmgraph.train.utils import seed_everything

__all__ = ["Trainer", "Objective", "register_objective", "create_objective",
           "list_objectives", "train_config", "load_run",
           "seed_everything", "ForgetRequest", "Unlearner"]
