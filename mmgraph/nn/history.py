r"""Historical item inputs for sampled training (``item_history``)."""
from __future__ import annotations

from typing import Callable, List, Optional

import torch
from torch import Tensor

ItemInputs = Callable[[Optional[Tensor]], List[Tensor]]


class ItemInputHistory(torch.nn.Module):
    r"""A table of every item's last computed inputs, so that a sampled step
    encodes only its seed items and reads the rest of its subgraph from the
    table: historical embeddings in the manner of GNNAutoScale (Fey et al.,
    "GNNAutoScale: Scalable and Expressive Graph Neural Networks via
    Historical Embeddings", ICML 2021), applied to the item *inputs* of
    content-encoded models (CM3's and LIRDRec's MLPs over the raw features).

    With a model's item inputs :math:`\mathbf{x}_i = f_\theta(\mathbf{f}_i)`
    (one ``[*, d_c]`` tensor per channel), a step over the subgraph items
    :math:`\mathcal{I}_s` with seeds :math:`\mathcal{B} \subseteq
    \mathcal{I}_s` (the batch's positives and negatives) uses

    .. math::
        \tilde{\mathbf{x}}_i =
        \begin{cases} f_\theta(\mathbf{f}_i) & i \in \mathcal{B} \\
        \bar{\mathbf{x}}_i & i \in \mathcal{I}_s \setminus \mathcal{B}
        \end{cases}

    where :math:`\bar{\mathbf{x}}_i` is the table's row: the value of the
    item's last computation, a constant for the step (no gradient reaches
    :math:`\theta` through it). The seeds' fresh values are written back.
    :meth:`refresh` recomputes every row (the trainer calls it at each
    epoch's start), so a row is at most one epoch old.

    Why: at Elec's shape the subgraph of a batch with fan-out ``[10, 10]``
    and the kNN relation holds about 80 % of all items, so encoding it
    costs nearly what the full graph's encoding costs; the seeds are a few
    per cent of it. The price is an approximation: the neighbours' inputs
    lag the parameters by up to an epoch and pass no gradient. It is not
    the references' training step (opt-in, measured in
    ``docs/distributed.md``). Under ``torchrun`` each rank keeps its own
    table (the parameters stay identical; the rows written between
    refreshes are each rank's own seeds').

    Args:
        num_items (int): rows of the table.
        chunk_size (int): items encoded at once by :meth:`refresh`
            (default: ``8192``).
    """

    def __init__(self, num_items: int, chunk_size: int = 8192) -> None:
        super().__init__()
        if num_items < 1 or chunk_size < 1:
            raise ValueError(f"ItemInputHistory: need num_items >= 1 and "
                             f"chunk_size >= 1 (got {num_items}, "
                             f"{chunk_size})")
        self.num_items = num_items
        self.chunk_size = chunk_size
        #: Width of each channel, known after the first :meth:`refresh`.
        self.widths: List[int] = []
        # Data, not state: rebuilt by refresh() after a resume.
        self.register_buffer("table", torch.empty(0), persistent=False)

    @property
    def filled(self) -> bool:
        r"""Whether :meth:`refresh` has run."""
        return bool(self.widths)

    @torch.no_grad()
    def refresh(self, item_inputs: ItemInputs) -> None:
        r"""Recomputes every row with ``item_inputs(index)`` (the model's
        :meth:`~mmgraph.models.Recommender.item_inputs`), in chunks."""
        device = self.table.device
        for start in range(0, self.num_items, self.chunk_size):
            index = torch.arange(start, min(start + self.chunk_size,
                                            self.num_items), device=device)
            chans = item_inputs(index)
            if start == 0:
                self.widths = [int(c.size(1)) for c in chans]
                self.table = chans[0].new_empty(self.num_items,
                                                sum(self.widths))
            self.table[index] = torch.cat(chans, dim=1)

    def forward(self, item_ids: Tensor, seeds: Tensor,
                item_inputs: ItemInputs) -> List[Tensor]:
        r"""The inputs of the items ``item_ids`` (``[I_s]`` global ids), one
        tensor per channel in ``item_ids`` order: fresh (with gradient) at
        the positions ``seeds`` (distinct), the table's rows elsewhere; the
        fresh rows are written to the table."""
        if not self.filled:
            raise RuntimeError("ItemInputHistory: refresh() must run before "
                               "the first step (the trainer does it at each "
                               "epoch's start)")
        fresh_ids = item_ids.index_select(0, seeds)
        fresh = torch.cat(item_inputs(fresh_ids), dim=1)
        with torch.no_grad():
            self.table.index_copy_(0, fresh_ids, fresh.detach().to(
                self.table.dtype))
        # index_select copies, so the later writes to the table do not
        # touch this step's values; index_copy keeps the seeds' gradient.
        rows = self.table.index_select(0, item_ids).to(fresh.dtype)
        rows = rows.index_copy(0, seeds, fresh)
        return list(rows.split(self.widths, dim=1))

    def extra_repr(self) -> str:
        return f"{self.num_items}, widths={self.widths}"
