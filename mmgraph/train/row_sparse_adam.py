r"""Adam that updates only the rows a step touched, for tables read by row.

BM3 and FREEDOM train their raw item feature tables (the references wrap
them in ``nn.Embedding.from_pretrained(freeze=False)``), and a step reads
only its batch's rows of them. Dense Adam still reads and writes every row
of the table, its gradient and both moments at every step -- at Elec's
shape a 63K x 4,096 image table, 1 GB per tensor -- because the moments of
untouched rows decay and their momentum keeps moving them. Profiled on a
sampled BM3 step at MicroLens-1M's shape, that table-sized work (the dense
gradient, zeroing it, the fused Adam step) is most of the step.

:class:`RowSparseAdam` takes the row-sparse gradients that
:func:`torch.nn.functional.embedding` gives with ``sparse=True`` and
updates only those rows and their moments ("lazy" Adam: the update rule of
TensorFlow Addons' ``LazyAdam`` and of :class:`torch.optim.SparseAdam`).
Dense gradients get torch's Adam step unchanged (fused where possible), so
the rest of a model trains as before.
"""
from __future__ import annotations

from typing import Iterable, List, Tuple

import torch
from torch import Tensor
from torch.optim.adam import adam as adam_step

from mmgraph.distributed import coalesced_rows

__all__ = ["RowSparseAdam", "clip_grad_norm_", "set_sparse_features"]


class RowSparseAdam(torch.optim.Adam):
    r""":class:`torch.optim.Adam` where a parameter's gradient is row-sparse
    (a sparse COO tensor with one sparse dimension, as an embedding lookup
    with ``sparse=True`` produces), and Adam's own step where it is dense.

    For the rows :math:`R` of a sparse gradient :math:`\mathbf G_R` at step
    :math:`t` of that parameter (counted over the steps it had a gradient):

    .. math::
        \mathbf m_R &\leftarrow \beta_1 \mathbf m_R + (1 - \beta_1)
            \mathbf G_R, \qquad
        \mathbf v_R \leftarrow \beta_2 \mathbf v_R + (1 - \beta_2)
            \mathbf G_R^2,

        \mathbf W_R &\leftarrow \mathbf W_R - \frac{\eta}{1 - \beta_1^t}
            \frac{\mathbf m_R}{\sqrt{\mathbf v_R / (1 - \beta_2^t)} +
            \epsilon},

    Adam's update with its :math:`\epsilon` placement, so a row touched at
    every step follows Adam exactly; the other rows and their moments are
    left as they are (dense Adam would decay the moments and keep moving the
    rows by their momentum). Weight decay applies to the touched rows (L2
    added to the gradient, or decoupled with ``decoupled_weight_decay``).
    ``amsgrad`` and ``maximize`` are not supported for sparse gradients.

    Args and state are Adam's (``exp_avg``, ``exp_avg_sq``, ``step``), so a
    checkpoint of either loads into the other.
    """

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        stashed: List[Tuple[Tensor, Tensor]] = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and p.grad.is_sparse:
                    self._sparse_step(group, p)
                    stashed.append((p, p.grad))
                    p.grad = None  # hidden from the dense step
        try:
            super().step()
        finally:
            for p, grad in stashed:
                p.grad = grad
        return loss

    def _sparse_step(self, group: dict, p: Tensor) -> None:
        if group["amsgrad"] or group["maximize"]:
            raise ValueError("RowSparseAdam: amsgrad and maximize are not "
                             "supported for row-sparse gradients")
        grad = coalesced_rows(p.grad)
        rows, values = grad.indices()[0], grad.values()
        state = self.state[p]
        if len(state) == 0:
            state["step"] = torch.zeros((), dtype=torch.float32,
                                        device=p.device)
            state["exp_avg"] = torch.zeros_like(
                p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(
                p, memory_format=torch.preserve_format)
        if state["step"].device != p.device:  # e.g. loaded from dense Adam's
            state["step"] = state["step"].to(p.device)
        # Adam's own (fused where it has one) step on the gathered rows: one
        # pass over them instead of the eight of a step spelt out here;
        # it counts the step itself.
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        p_rows = p.index_select(0, rows)
        m_rows = exp_avg.index_select(0, rows)
        v_rows = exp_avg_sq.index_select(0, rows)
        beta1, beta2 = group["betas"]
        adam_step([p_rows], [values], [m_rows], [v_rows], [],
                  [state["step"]],
                  fused=True if p.device.type in ("cpu", "cuda") else None,
                  decoupled_weight_decay=bool(
                      group.get("decoupled_weight_decay", False)),
                  amsgrad=False, beta1=beta1, beta2=beta2, lr=group["lr"],
                  weight_decay=group["weight_decay"], eps=group["eps"],
                  maximize=False)
        p.index_copy_(0, rows, p_rows)
        exp_avg.index_copy_(0, rows, m_rows)
        exp_avg_sq.index_copy_(0, rows, v_rows)


def clip_grad_norm_(params: Iterable[Tensor], max_norm: float) -> Tensor:
    r""":func:`torch.nn.utils.clip_grad_norm_` (L2) for gradients that may be
    row-sparse, which torch's own cannot take: the norm of a sparse
    gradient is the norm of its coalesced values. Returns the total norm
    before clipping."""
    grads: List[Tensor] = []
    for p in params:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            p.grad = coalesced_rows(p.grad)
            grads.append(p.grad.values())
        else:
            grads.append(p.grad)
    if not grads:
        return torch.zeros(())
    total = torch.linalg.vector_norm(torch.stack(
        [torch.linalg.vector_norm(g.detach()) for g in grads]))
    coef = max_norm / (float(total) + 1e-6)
    if coef < 1:
        for g in grads:
            g.mul_(coef)
    return total


def set_sparse_features(model: torch.nn.Module, enabled: bool,
                        optimizer: str) -> int:
    r"""Switches the trainable feature tables of :obj:`model` to row-sparse
    gradients (``sparse_features``) when :obj:`enabled`, else back to dense
    ones (a model trained by an earlier sparse Trainer would otherwise keep
    giving sparse gradients to plain Adam); returns how many tables were
    switched on. Raises :class:`~mmgraph.config.ConfigError` (one line),
    when enabling, for a model that reads its feature tables whole, or has
    none to train, and for an optimiser other than Adam."""
    from mmgraph.config import ConfigError
    from mmgraph.models.registry import get_model_class, list_models
    from mmgraph.nn.encoders import ModalityEncoders
    encoders = [enc for enc in model.modules()
                if isinstance(enc, ModalityEncoders)]
    if not enabled:
        for enc in encoders:
            enc.sparse_grad = False
        return 0
    name = getattr(model, "registry_name", model.__class__.__name__)
    able = [m for m in list_models() if getattr(
        get_model_class(m), "reads_features_by_row", False)]
    if not getattr(model, "reads_features_by_row", False):
        raise ConfigError(f"train sparse_features: model '{name}' does not "
                          f"read its feature tables by row; expected one of "
                          f"{', '.join(able)}")
    if str(optimizer).lower() != "adam":
        raise ConfigError(f"train sparse_features: needs optimizer 'adam' "
                          f"(row-sparse Adam), got {optimizer!r}")
    tables = [enc for enc in encoders
              if enc.train_features and enc.has_features]
    if not tables:
        raise ConfigError(f"train sparse_features: model '{name}' has no "
                          f"trainable feature tables (train_features is "
                          f"off); nothing to update by row")
    for enc in tables:
        enc.sparse_grad = True
    return len(tables)
