r"""mmgraph: multimodal recommendation on PyTorch Geometric.

The public face::

    import mmgraph
    ds = mmgraph.load_dataset("synthetic")          # or a prepared folder
    model = mmgraph.create_model("lightgcn", ds)
    results = mmgraph.Trainer(model, ds).fit()
    mmgraph.Evaluator(ds).evaluate(model, "test")

The public names are imported on first use (:pep:`562`), so ``import
mmgraph`` (and with it ``mmgraph --help``) does not load torch.
"""
import importlib as _importlib
import warnings as _warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the same names, statically, for type checkers and the API docs
    from mmgraph.data import RecDataset, load_dataset  # noqa: F401
    from mmgraph.evaluation import Evaluator  # noqa: F401
    from mmgraph.models import Recommender, create_model, list_models, register_model  # noqa: F401
    from mmgraph.experiment import train_model  # noqa: F401
    from mmgraph.runs import RunFolder, load_run  # noqa: F401
    from mmgraph.train import Trainer  # noqa: F401
    from mmgraph.unlearn import ForgetRequest, Unlearner  # noqa: F401

__version__ = "0.1.0"

# torch's sparse CSR support prints beta/invariant warnings on first use.
_warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support.*")
_warnings.filterwarnings("ignore", message=".*[Ss]parse invariant checks.*")

#: Public name -> the module that defines it.
_PUBLIC = {
    "RecDataset": "mmgraph.data",
    "load_dataset": "mmgraph.data",
    "Evaluator": "mmgraph.evaluation",
    "Recommender": "mmgraph.models",
    "create_model": "mmgraph.models",
    "list_models": "mmgraph.models",
    "register_model": "mmgraph.models",
    "Trainer": "mmgraph.train",
    "train_model": "mmgraph.experiment",
    "ForgetRequest": "mmgraph.unlearn",
    "Unlearner": "mmgraph.unlearn",
    "RunFolder": "mmgraph.runs",
    "load_run": "mmgraph.runs",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'mmgraph' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
