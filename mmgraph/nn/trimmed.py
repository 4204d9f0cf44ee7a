r"""Per-layer adjacencies of a sampled subgraph, trimmed to the rows each
layer needs (the idea of PyG's :func:`~torch_geometric.utils.trim_to_layer`
and its hierarchical neighbourhood sampling).

Of an :math:`L`-layer propagation over a mini-batch's sampled subgraph only
the batch's own nodes (the *seeds*) are scored. Layer :math:`l` therefore
needs the outputs of the nodes within :math:`L - l` hops of the seeds and
nothing else, and reads only the nodes within :math:`L - l + 1` hops. With
the subgraph's users and items each ordered by hop distance (seeds first),
the nodes within :math:`d` hops are the first :math:`u_d` users and the
first :math:`i_d` items, so each layer is a rectangular sparse matrix from
one such *block* ``(u_{d+1}, i_{d+1})`` to a smaller one ``(u_d, i_d)``, and
the propagation ends on the seeds alone. At fan-out ``[10, 10]`` on Elec's
shape the last layer of a two-layer model then produces the 6K seed rows
instead of the subgraph's 123K, over the first hop's 44K edges instead of
all 281K.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Tuple

import torch
from torch import Tensor

__all__ = ["TrimmedAdjacency", "narrow_blocks"]

Block = Tuple[int, int]


def narrow_blocks(x: Tensor, source: Block, target: Block) -> Tensor:
    r"""The rows of ``x`` (laid out as the block ``source = (u, i)``: ``u``
    user rows, then ``i`` item rows) that belong to the smaller block
    ``target``: its first ``target[0]`` users and first ``target[1]``
    items."""
    if tuple(source) == tuple(target):
        return x
    if target[0] > source[0] or target[1] > source[1]:
        raise ValueError(f"narrow_blocks: block {tuple(target)} is not "
                         f"inside {tuple(source)}")
    return _NarrowBlocks.apply(x, tuple(source), tuple(target))


class _NarrowBlocks(torch.autograd.Function):
    # The backward of two slices and a cat builds a zero gradient the size
    # of x per slice and adds them; this one builds one and copies both
    # row ranges into it (a sampled LightGCN step narrows several
    # subgraph-sized tensors per layer).
    @staticmethod
    def forward(ctx, x: Tensor, source: Block, target: Block) -> Tensor:
        ctx.shape, ctx.source, ctx.target = x.shape, source, target
        return torch.cat([x[:target[0]],
                          x[source[0]:source[0] + target[1]]])

    @staticmethod
    def backward(ctx, grad: Tensor):
        (u, _), (tu, ti) = ctx.source, ctx.target
        out = grad.new_zeros(ctx.shape)
        out[:tu] = grad[:tu]
        out[u:u + ti] = grad[tu:]
        return out, None, None


@dataclass
class TrimmedAdjacency:
    r"""One sparse matrix per propagation layer, each trimmed to the rows
    the layer's output needs
    (:meth:`~mmgraph.train.sampled.SubgraphBatch.layer_adjacencies` builds
    it; :class:`~mmgraph.nn.propagation.LightGCNPropagation` takes it in
    place of an adjacency).

    Attributes:
        layers (list): ``(A, source, target)`` per layer: ``A`` a CSR
            matrix ``[sum(target), sum(source)]`` (row = aggregating node)
            from the nodes of block ``source`` to those of block
            ``target``. A block ``(u, i)`` is the first ``u`` users and the
            first ``i`` items of the subgraph, laid out users first.
        input_block (tuple): the block of the layer-0 features (every node
            of the subgraph).
    """
    layers: List[Tuple[Tensor, Block, Block]] = field(default_factory=list)
    input_block: Block = (0, 0)

    @property
    def output_block(self) -> Block:
        r"""The block of the propagation's output (the seeds'): ``(users,
        items)``."""
        return self.layers[-1][2] if self.layers else self.input_block

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{list(a.shape)}:{a._nnz()}"
                           for a, _, _ in self.layers)
        return f"{self.__class__.__name__}({shapes})"
