import pytest
import torch
from torch_geometric.nn import LGConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import to_torch_csr_tensor as to_csr

from mmgraph.nn import (
    ItemGraphConvolution,
    LightGCNPropagation,
    spmm,
    symmetric_spmm,
    transpose_csr,
)


def _bipartite(num_users=30, num_items=20, num_edges=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randint(num_users, (num_edges, ), generator=g)
    i = torch.randint(num_items, (num_edges, ), generator=g) + num_users
    key = torch.unique(u * 1000 + i)  # collapse duplicate interactions
    u, i = key // 1000, key % 1000
    ei = torch.cat([torch.stack([u, i]), torch.stack([i, u])], dim=1)
    n = num_users + num_items
    ei, w = gcn_norm(ei, None, n, add_self_loops=False)
    return ei, w, n


def _dense(ei, w, n, m=None):
    return torch.zeros(n, m or n).index_put_((ei[0], ei[1]), w,
                                             accumulate=True)


def test_transpose_csr():
    ei = torch.tensor([[0, 0, 2, 2, 1], [1, 1, 0, 3, 3]])
    w = torch.tensor([1., 2., 3., 4., 5.])
    A = to_csr(ei, w, (3, 4))
    assert A.layout == torch.sparse_csr and A.shape == (3, 4)
    ref = torch.tensor([[0., 3., 0., 0.], [0., 0., 0., 5.], [3., 0., 0., 4.]])
    assert torch.equal(A.to_dense(), ref)  # duplicates (0, 1) summed
    At = transpose_csr(A)
    assert At.layout == torch.sparse_csr and torch.equal(At.to_dense(), ref.t())
    with pytest.raises(ValueError, match='transpose_csr'):
        transpose_csr(ref)


def test_symmetric_spmm_forward_backward():
    ei, w, n = _bipartite()
    A, D = to_csr(ei, w, (n, n)), _dense(ei, w, n)
    assert torch.allclose(D, D.t())
    x = torch.randn(n, 8, requires_grad=True)
    g = torch.randn(n, 8)
    out = symmetric_spmm(A, x)
    assert torch.allclose(out, D @ x, atol=1e-6)
    (out * g).sum().backward()
    assert torch.allclose(x.grad, D.t() @ g, atol=1e-6)
    # double backward goes through the same function:
    # L = |A x|^2, dL/dx = 2 A^T A x, d(sum dL/dx)/dx = 2 A^T A 1
    grad, = torch.autograd.grad(symmetric_spmm(A, x).pow(2).sum(), x,
                                create_graph=True)
    assert torch.allclose(grad, 2 * D.t() @ D @ x, atol=1e-5)
    grad2, = torch.autograd.grad(grad.sum(), x)
    ones = torch.ones(n, 8)
    assert torch.allclose(grad2, 2 * D.t() @ D @ ones, atol=1e-5)


@pytest.mark.parametrize('cached', [False, True])
def test_spmm_non_symmetric(cached):
    g = torch.Generator().manual_seed(1)
    ei = torch.stack([torch.randint(15, (60, ), generator=g),
                      torch.randint(25, (60, ), generator=g)])
    w = torch.rand(60, generator=g)
    A, D = to_csr(ei, w, (15, 25)), _dense(ei, w, 15, 25)
    x = torch.randn(25, 6, requires_grad=True)
    gr = torch.randn(15, 6)
    out = spmm(A, x, transpose_csr(A) if cached else None)
    assert torch.allclose(out, D @ x, atol=1e-6)
    (out * gr).sum().backward()
    assert torch.allclose(x.grad, D.t() @ gr, atol=1e-6)


def test_spmm_errors():
    A = to_csr(torch.tensor([[0, 1], [1, 0]]), None, (2, 2))
    with pytest.raises(ValueError, match='sparse_csr'):
        symmetric_spmm(A.to_dense(), torch.randn(2, 3))
    with pytest.raises(ValueError, match='shape mismatch'):
        spmm(A, torch.randn(3, 3))
    with pytest.raises(ValueError, match='src_t'):
        spmm(A, torch.randn(2, 3), torch.randn(2, 2))


@pytest.mark.parametrize('combine', ['mean', 'sum', 'stack'])
@pytest.mark.parametrize('num_layers', [0, 1, 3])
def test_lightgcn_propagation_matches_dense(combine, num_layers):
    ei, w, n = _bipartite()
    A, D = to_csr(ei, w, (n, n)), _dense(ei, w, n)
    x = torch.randn(n, 16, requires_grad=True)
    conv = LightGCNPropagation(num_layers, combine)
    assert str(conv) == (f'LightGCNPropagation(num_layers={num_layers}, '
                         f"combine='{combine}', symmetric=True)")

    layers = [x]
    for _ in range(num_layers):
        layers.append(D @ layers[-1])
    ref = torch.stack(layers)
    ref = {'mean': ref.mean(0), 'sum': ref.sum(0), 'stack': ref}[combine]

    out_csr = conv(x, A)
    out_ei = conv(x, ei, w)
    assert out_csr.shape == ref.shape
    assert torch.allclose(out_csr, ref, atol=1e-5)
    assert torch.allclose(out_ei, ref, atol=1e-5)

    gr = torch.randn_like(ref)
    g_csr, = torch.autograd.grad((out_csr * gr).sum(), x)
    g_ei, = torch.autograd.grad((out_ei * gr).sum(), x)
    g_ref, = torch.autograd.grad((ref * gr).sum(), x)
    assert torch.allclose(g_csr, g_ref, atol=1e-5)
    assert torch.allclose(g_ei, g_ref, atol=1e-5)


def test_lightgcn_propagation_matches_pyg_lgconv():
    ei, w, n = _bipartite(seed=3)
    x = torch.randn(n, 8)
    lg = LGConv(normalize=False)
    ref = [x]
    for _ in range(2):
        ref.append(lg(ref[-1], ei, w))
    out = LightGCNPropagation(2, 'mean')(x, to_csr(ei, w, (n, n)))
    assert torch.allclose(out, torch.stack(ref).mean(0), atol=1e-5)


def test_lightgcn_propagation_non_symmetric_csr():
    g = torch.Generator().manual_seed(2)
    ei = torch.randint(12, (2, 50), generator=g)
    w = torch.rand(50, generator=g)
    A, D = to_csr(ei, w, (12, 12)), _dense(ei, w, 12)
    x = torch.randn(12, 4, requires_grad=True)
    out = LightGCNPropagation(2, 'sum', symmetric=False)(x, A)
    ref = x + D @ x + D @ (D @ x)
    assert torch.allclose(out, ref, atol=1e-5)
    g1, = torch.autograd.grad(out.sum(), x)
    g2, = torch.autograd.grad(ref.sum(), x)
    assert torch.allclose(g1, g2, atol=1e-5)


def test_lightgcn_propagation_errors():
    with pytest.raises(ValueError, match='LightGCNPropagation'):
        LightGCNPropagation(combine='max')
    with pytest.raises(ValueError, match='LightGCNPropagation'):
        LightGCNPropagation(num_layers=-1)
    conv = LightGCNPropagation()
    ei, w, n = _bipartite()
    A = to_csr(ei, w, (n, n))
    with pytest.raises(ValueError, match='does not match'):
        conv(torch.randn(n + 1, 4), A)
    with pytest.raises(ValueError, match='edge_weight'):
        conv(torch.randn(n, 4), A, w)
    with pytest.raises(ValueError, match='edge_weight'):
        conv(torch.randn(n, 4), ei, w[:-1])


@pytest.mark.parametrize('num_layers', [1, 2])
@pytest.mark.parametrize('residual', [False, True])
def test_item_graph_convolution(num_layers, residual):
    # kNN-like graph: item i (target, row 1) aggregates its own directed
    # neighbour list (sources, row 0), PyG's source_to_target flow.
    num_items, k = 25, 4
    g = torch.Generator().manual_seed(5)
    target = torch.arange(num_items).repeat_interleave(k)
    source = torch.randint(num_items, (num_items * k, ), generator=g)
    ei = torch.stack([source, target])
    w = torch.full((num_items * k, ), 1.0 / k)
    S = _dense(ei.flip(0), w, num_items)  # S[i, j]: j's weight in i's mean
    assert not torch.allclose(S, S.t())
    x = torch.randn(num_items, 8, requires_grad=True)

    ref = x
    for _ in range(num_layers):
        ref = S @ ref
    if residual:
        ref = x + ref

    conv = ItemGraphConvolution(num_layers, residual=residual)
    assert str(conv) == (f'ItemGraphConvolution(num_layers={num_layers}, '
                         f"residual={residual}, flow='source_to_target')")
    S_csr = to_csr(ei.flip(0), w, (num_items, num_items))  # adj_t
    out_csr = conv(x, S_csr)
    out_ei = conv(x, ei, w)
    # the target_to_source flow reads the flipped edge_index the same way
    out_t2s = ItemGraphConvolution(num_layers, residual,
                                   flow='target_to_source')(x, ei.flip(0), w)
    out_t2s_csr = ItemGraphConvolution(num_layers, residual,
                                       flow='target_to_source')(x, S_csr)
    for out in (out_csr, out_ei, out_t2s, out_t2s_csr):
        assert torch.allclose(out, ref, atol=1e-5)

    gr = torch.randn_like(ref)
    g_ref, = torch.autograd.grad((ref * gr).sum(), x)
    for out in (out_csr, out_ei):
        g, = torch.autograd.grad((out * gr).sum(), x, retain_graph=True)
        assert torch.allclose(g, g_ref, atol=1e-5)
    # the transpose is cached for the same matrix object
    cached = conv._transpose._value
    conv(x, S_csr).sum().backward()
    assert conv._transpose._value is cached
    conv.reset_parameters()
    assert conv._transpose._value is None
