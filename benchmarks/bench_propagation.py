r"""Forward + backward time of LightGCN propagation: mmgraph's CSR fast path
against PyG's stock message passing, PyG's ``EdgeIndex`` fused path and plain
torch.sparse autograd. The custom CSR kernel is kept only while this shows
it faster.

Usage::

    python benchmarks/bench_propagation.py                 # Beauty scale
    python benchmarks/bench_propagation.py --users 2000 --items 1000 \
        --edges 20000 --repeats 5                          # quick look
    python benchmarks/bench_propagation.py --learned-weights  # GRCN's step

The graph is a random bipartite user–item graph (default: Amazon-Beauty
scale, 22,363 users, 12,101 items, ~150k distinct interactions), symmetrised
and normalised as :math:`D^{-1/2} A D^{-1/2}` once. Each method runs
``--layers`` propagation steps over ``[num_nodes, --dim]`` embeddings,
averages layers 0..L, and backpropagates a fixed random upstream gradient into
the embeddings (the step a LightGCN/BM3 model takes per batch). Methods are
timed round-robin (``--repeats`` rounds after warm-up) so background load hits
all alike; the best and the median time are reported, and ``ratio`` is a
method's time divided by the mmgraph fast path's (higher = slower). Every
method's output and gradient are checked against the first one.
"""
import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor

import torch_geometric
import torch_geometric.typing
from torch_geometric import EdgeIndex
from torch_geometric.nn import LGConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import to_torch_csr_tensor

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from mmgraph.nn import LightGCNPropagation  # noqa: E402
from mmgraph.nn.sparse import (  # noqa: E402
    EdgeGraph,
    edge_dot,
    edge_spmm,
    quiet_sparse_warnings,
)
from torch_geometric.utils import softmax as edge_softmax  # noqa: E402


def random_bipartite(num_users: int, num_items: int, num_edges: int,
                     seed: int = 0) -> Tuple[Tensor, Tensor, int]:
    g = torch.Generator().manual_seed(seed)
    # Draw a little more than needed, keep distinct pairs, cut to num_edges.
    u = torch.randint(num_users, (int(num_edges * 1.1), ), generator=g)
    i = torch.randint(num_items, (int(num_edges * 1.1), ), generator=g)
    key = torch.unique(u * num_items + i)
    key = key[torch.randperm(key.numel(), generator=g)[:num_edges]]
    u, i = key // num_items, key % num_items + num_users
    n = num_users + num_items
    ei = torch.cat([torch.stack([u, i]), torch.stack([i, u])], dim=1)
    ei, w = gcn_norm(ei, None, n, add_self_loops=False)
    return ei, w, n


def combine_mean(layers: List[Tensor]) -> Tensor:
    return torch.stack(layers).mean(0)


def make_methods(ei: Tensor, w: Tensor, n: int,
                 num_layers: int) -> Dict[str, Callable[[Tensor], Tensor]]:
    adj_csr = to_torch_csr_tensor(ei, w, (n, n))
    with quiet_sparse_warnings():
        adj_coo = torch.sparse_coo_tensor(ei, w, (n, n)).coalesce()
    mm_prop = LightGCNPropagation(num_layers, 'mean')
    # PyG's own sparse-dense product: an EdgeIndex, CSR-sorted.
    eidx, perm = EdgeIndex(ei, sparse_size=(n, n)).sort_by('row')
    w_eidx = w[perm]
    lg = LGConv(normalize=False)

    def stack(step: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
        def run(x: Tensor) -> Tensor:
            layers = [x]
            for _ in range(num_layers):
                layers.append(step(layers[-1]))
            return combine_mean(layers)

        return run

    methods: Dict[str, Callable[[Tensor], Tensor]] = {
        'mmgraph LightGCNPropagation (CSR, symmetric_spmm)':
        lambda x: mm_prop(x, adj_csr),
        'mmgraph LightGCNPropagation (edge_index)':
        lambda x: mm_prop(x, ei, w),
        'PyG LGConv (edge_index, stock MP)':
        stack(lambda h: lg(h, ei, w)),
        'PyG LGConv (CSR adj_t, utils.spmm)':
        stack(lambda h: lg(h, adj_csr)),
        'PyG EdgeIndex.matmul (sorted by row)':
        stack(lambda h: eidx.matmul(h, w_eidx)),
        'torch.sparse.mm autograd (CSR)':
        stack(lambda h: torch.sparse.mm(adj_csr, h)),
        'torch.sparse.mm autograd (COO)':
        stack(lambda h: torch.sparse.mm(adj_coo, h)),
    }
    if torch_geometric.typing.WITH_TORCH_SPARSE:
        import torch_sparse
        st = torch_sparse.SparseTensor(row=ei[0], col=ei[1], value=w,
                                       sparse_sizes=(n, n))
        methods['torch-sparse SparseTensor.matmul'] = stack(
            lambda h: torch_sparse.matmul(st, h, reduce='sum'))
    return methods


def make_learned_weight_methods(
        ei: Tensor, n: int,
        num_layers: int) -> Dict[str, Callable[[Tensor], Tensor]]:
    graph = EdgeGraph(ei[0], ei[1], n)
    src, dst = ei[0], ei[1]

    def fused(x: Tensor) -> Tensor:
        alpha = edge_softmax(edge_dot(graph, x, x), graph.dst, num_nodes=n)
        layers = [x]
        for _ in range(num_layers):
            layers.append(edge_spmm(graph, alpha, layers[-1]))
        return combine_mean(layers)

    def gathered(x: Tensor) -> Tensor:
        alpha = (x.index_select(0, dst) * x.index_select(0, src)).sum(-1)
        alpha = edge_softmax(alpha, dst, num_nodes=n).unsqueeze(-1)
        layers = [x]
        for _ in range(num_layers):
            h = layers[-1]
            layers.append(torch.zeros_like(h).index_add_(
                0, dst, h.index_select(0, src) * alpha))
        return combine_mean(layers)

    return {'mmgraph edge_dot + edge_spmm (SDDMM, CSR)': fused,
            'gathered index_select / index_add': gathered}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--users', type=int, default=22363)
    parser.add_argument('--items', type=int, default=12101)
    parser.add_argument('--edges', type=int, default=150000)
    parser.add_argument('--dim', type=int, default=64)
    parser.add_argument('--layers', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--learned-weights', action='store_true',
                        help='time a step with edge weights computed from '
                        'the embeddings (GRCN) instead of fixed ones')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    ei, w, n = random_bipartite(args.users, args.items, args.edges, args.seed)
    methods = make_learned_weight_methods(ei, n, args.layers) \
        if args.learned_weights else make_methods(ei, w, n, args.layers)
    g = torch.Generator().manual_seed(args.seed + 1)
    x0 = torch.randn(n, args.dim, generator=g)
    upstream = torch.randn(n, args.dim, generator=g)

    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    print(f'graph: {args.users:,} users, {args.items:,} items, '
          f'{ei.size(1) // 2:,} interactions ({ei.size(1):,} nnz), '
          f'd={args.dim}, {args.layers} layers (mean of 0..L)'
          f'{", weights learned from X" if args.learned_weights else ""}')
    print(f'torch {torch.__version__}, torch_geometric '
          f'{torch_geometric.__version__}, torch-sparse installed: '
          f'{torch_geometric.typing.WITH_TORCH_SPARSE}, '
          f'{torch.get_num_threads()} threads, {platform.machine()}, '
          f'load average {load:.2f}')
    print(f'{args.repeats} timed rounds (round-robin over methods) after '
          f'{args.warmup} warm-up runs\n')

    # Round-robin: every round times every method once, so background load
    # affects all methods alike; min (best of) and median are reported.
    names = list(methods)
    inputs = {name: x0.clone().requires_grad_() for name in names}
    t_f: Dict[str, List[float]] = {name: [] for name in names}
    t_fb: Dict[str, List[float]] = {name: [] for name in names}
    reference: Optional[Tuple[Tensor, Tensor]] = None
    errors: Dict[str, float] = {}
    with quiet_sparse_warnings():
        for name in names:  # warm-up + correctness against the first method
            fn, x = methods[name], inputs[name]
            for _ in range(args.warmup):
                x.grad = None
                out = fn(x)
                (out * upstream).sum().backward()
            assert x.grad is not None
            if reference is None:
                reference = (out.detach(), x.grad.clone())
            errors[name] = max(
                float((out.detach() - reference[0]).abs().max()),
                float((x.grad - reference[1]).abs().max()))
        for _ in range(args.repeats):
            for name in names:
                fn, x = methods[name], inputs[name]
                t0 = time.perf_counter()
                with torch.no_grad():
                    fn(x)
                t_f[name].append(time.perf_counter() - t0)
                x.grad = None
                t0 = time.perf_counter()
                (fn(x) * upstream).sum().backward()
                t_fb[name].append(time.perf_counter() - t0)

    base_min, base_med = min(t_fb[names[0]]), statistics.median(t_fb[names[0]])
    width = max(len(name) for name in names)
    header = (f"{'method':<{width}}  {'fwd ms':>7}  {'fwd+bwd ms':>10}  "
              f"{'bwd/fwd':>7}  {'ratio':>6}  {'median ms':>9}  "
              f"{'ratio':>6}  {'max|diff|':>9}")
    print(header)
    print('-' * len(header))
    for name in names:
        f, fb = min(t_f[name]), min(t_fb[name])
        med = statistics.median(t_fb[name])
        print(f'{name:<{width}}  {1e3 * f:>7.1f}  {1e3 * fb:>10.1f}  '
              f'{(fb - f) / f:>7.2f}  {fb / base_min:>5.2f}x  '
              f'{1e3 * med:>9.1f}  {med / base_med:>5.2f}x  '
              f'{errors[name]:>9.1e}')
    print('\nfwd, fwd+bwd: best of the runs; bwd/fwd = (fwd+bwd - fwd) / fwd; '
          'ratio = time / time of the first row (higher = slower)')


if __name__ == '__main__':
    main()
