r"""Training objectives on one interface: BPR, the model's native loss,
BPO/NBPO (noisy-label-robust) and reverse BPR (unlearning)."""
from mmgraph.train.objectives.base import (OBJECTIVES, Objective,
                                           create_objective, list_objectives,
                                           objective_hparams,
                                           register_objective,
                                           resolve_objective_name)
from mmgraph.train.objectives.bpr import BPRObjective
from mmgraph.train.objectives.native import NativeObjective

__all__ = ["OBJECTIVES", "Objective", "register_objective",
           "create_objective", "list_objectives", "objective_hparams",
           "resolve_objective_name", "BPRObjective",
           "NativeObjective"]
from mmgraph.train.objectives.reverse_bpr import UnlearnObjective  # noqa: E402,F401
from mmgraph.train.objectives.nbpo import BPOObjective, NBPOObjective  # noqa: E402,F401
