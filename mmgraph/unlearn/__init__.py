r"""Machine unlearning (MMRecUn): forget requests, the unlearning batch
source and stopping rule over the shared :class:`~mmgraph.train.Trainer`,
the evaluation protocol and the one-call :class:`Unlearner`.

* :mod:`~mmgraph.unlearn.request` -- :class:`ForgetRequest` (what to forget);
* :mod:`~mmgraph.unlearn.batches` -- :class:`UnlearnBatches` (forget and
  retain pairs side by side);
* :mod:`~mmgraph.unlearn.callbacks` -- selection, stopping, back-off;
* :mod:`~mmgraph.unlearn.metrics` -- :func:`unlearning_metrics`;
* :mod:`~mmgraph.unlearn.membership` -- :func:`membership_auc` (the
  membership-inference check);
* :mod:`~mmgraph.unlearn.api` -- :class:`Unlearner`.

Run folders of unlearned models (the request record, reloading) are
handled by :mod:`mmgraph.runs` (:func:`~mmgraph.runs.unlearn_run`).
"""
from mmgraph.unlearn.api import METHODS, Unlearner
from mmgraph.unlearn.batches import UnlearnBatches
from mmgraph.unlearn.callbacks import ForgetSelection, UnlearnStopping
from mmgraph.unlearn.membership import membership_auc, nonmember_edges
from mmgraph.unlearn.metrics import unlearning_metrics
from mmgraph.unlearn.request import (KINDS, ForgetRequest, requests_from_dict,
                                     requests_to_dict)

__all__ = ["ForgetRequest", "KINDS", "METHODS", "Unlearner", "UnlearnBatches",
           "ForgetSelection", "UnlearnStopping", "unlearning_metrics",
           "membership_auc", "nonmember_edges",
           "requests_to_dict", "requests_from_dict"]
