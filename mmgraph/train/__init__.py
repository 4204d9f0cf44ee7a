r"""Training: the shared loop, objectives, high-level runs and unlearning."""
from mmgraph.train.objectives import (Objective, create_objective,
                                      list_objectives, register_objective)
from mmgraph.train.run import load_run, train_config, train_model
from mmgraph.train.trainer import Trainer
from mmgraph.train.unlearn import ForgetRequest, Unlearner
from mmgraph.train.utils import seed_everything

__all__ = ["Trainer", "Objective", "register_objective", "create_objective",
           "list_objectives", "train_model", "train_config", "load_run",
           "seed_everything", "ForgetRequest", "Unlearner"]
