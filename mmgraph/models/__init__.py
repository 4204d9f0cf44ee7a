r"""The model zoo. Importing this package registers every built-in model."""
from mmgraph.models.base import Batch, Recommender
from mmgraph.models.registry import (MODELS, create_model, get_model_class,
                                     list_models, model_hparams,
                                     register_model)
from mmgraph.models.mf import MF
from mmgraph.models.lightgcn import LightGCN

__all__ = ["Batch", "Recommender", "MODELS", "register_model", "create_model",
           "list_models", "get_model_class", "model_hparams", "MF",
           "LightGCN"]
from mmgraph.models.freedom import FREEDOM  # noqa: E402,F401
from mmgraph.models.vbpr import VBPR  # noqa: E402,F401
from mmgraph.models.lirdrec import LIRDRec  # noqa: E402,F401
from mmgraph.models.bm3 import BM3  # noqa: E402,F401
from mmgraph.models.cm3 import CM3  # noqa: E402,F401
from mmgraph.models.lattice import LATTICE  # noqa: E402,F401
from mmgraph.models.mgcn import MGCN  # noqa: E402,F401
from mmgraph.models.dualgnn import DualGNN  # noqa: E402,F401
from mmgraph.models.dragon import DRAGON  # noqa: E402,F401
from mmgraph.models.mmgcn import MMGCN  # noqa: E402,F401
from mmgraph.models.grcn import GRCN  # noqa: E402,F401
from mmgraph.models.lgmrec import LGMRec  # noqa: E402,F401
from mmgraph.models.smore import SMORE  # noqa: E402,F401
