r"""mmgraph: multimodal recommendation on PyTorch Geometric.

The public face::

    import mmgraph
    ds = mmgraph.load_dataset("synthetic")          # or a prepared folder
    model = mmgraph.create_model("lightgcn", ds)
    results = mmgraph.Trainer(model, ds).fit()
    mmgraph.Evaluator(ds).evaluate(model, "test")
"""
__version__ = "0.1.0"

import warnings as _warnings

# torch's sparse CSR support prints beta/invariant warnings on first use.
_warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support.*")
_warnings.filterwarnings("ignore", message=".*[Ss]parse invariant checks.*")

from mmgraph.data import RecDataset, load_dataset  # noqa: E402
from mmgraph.evaluation import Evaluator  # noqa: E402
from mmgraph.models import (Recommender, create_model, list_models,  # noqa
                            register_model)
from mmgraph.train import Trainer  # noqa: E402
from mmgraph.unlearn import ForgetRequest, Unlearner  # noqa: E402
from mmgraph.runs import RunFolder, load_run  # noqa: E402
from mmgraph.experiment import train_model  # noqa: E402

__all__ = ["__version__", "RecDataset", "load_dataset", "Evaluator",
           "Recommender", "create_model", "list_models", "register_model",
           "Trainer", "train_model", "ForgetRequest", "Unlearner",
           "RunFolder", "load_run"]
