import pytest
import torch

from mmgraph.nn.sparse import (EdgeGraph, csr_rows, edge_dot, edge_spmm,
                               quiet_sparse_warnings, sparse_mm, spmm,
                               transpose_csr)


def _random_graph(n=7, e=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    key = torch.unique(torch.randint(n * n, (e, ), generator=g))
    return key % n, key // n, n  # src, dst (distinct pairs)


def test_edge_graph_orders_edges_by_target():
    graph = EdgeGraph(torch.tensor([2, 0, 1, 0]), torch.tensor([1, 2, 1, 0]),
                      3)
    assert graph.dst.tolist() == [0, 1, 1, 2]
    assert graph.src.tolist() == [0, 1, 2, 0]
    assert graph.crow.tolist() == [0, 1, 3, 4]
    dense = graph.matrix(torch.arange(1., 5.)).to_dense()
    assert dense.tolist() == [[1, 0, 0], [0, 2, 3], [4, 0, 0]]
    assert torch.equal(graph.matrix_t(torch.arange(1., 5.)).to_dense(),
                       dense.t())
    assert "num_edges=4" in repr(graph)


def test_edge_dot_and_spmm_match_gathered_form_and_gradients():
    src, dst, n = _random_graph()
    graph = EdgeGraph(src, dst, n)
    s, t = graph.src, graph.dst
    x = torch.randn(n, 3, dtype=torch.double, requires_grad=True)
    y = torch.randn(n, 3, dtype=torch.double, requires_grad=True)
    w = torch.randn(graph.num_edges, dtype=torch.double, requires_grad=True)
    dots = edge_dot(graph, x, y)
    assert torch.allclose(dots, (x[t] * y[s]).sum(-1))
    agg = edge_spmm(graph, w, y)
    naive = torch.zeros(n, 3, dtype=torch.double).index_add(
        0, t, y[s] * w[:, None])
    assert torch.allclose(agg, naive)
    assert torch.autograd.gradcheck(
        lambda a, b: edge_dot(graph, a, b), (x, y))
    assert torch.autograd.gradcheck(
        lambda v, b: edge_spmm(graph, v, b), (w, y))


def test_edge_functions_reject_wrong_shapes():
    graph = EdgeGraph(torch.tensor([0, 1]), torch.tensor([1, 0]), 2)
    with pytest.raises(ValueError, match="expected 2 edge weights"):
        edge_spmm(graph, torch.ones(3), torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"dense \[2, d\]"):
        edge_dot(graph, torch.ones(3, 4), torch.ones(2, 4))
    with pytest.raises(ValueError, match="num_nodes"):
        EdgeGraph(torch.tensor([0, 5]), torch.tensor([1, 0]), 2)


def test_csr_rows_selects_rows_with_repeats():
    dense = torch.tensor([[0., 1., 0.], [2., 0., 3.], [0., 0., 0.],
                          [4., 5., 6.]])
    rows = torch.tensor([3, 1, 1, 2])
    sub = csr_rows(dense.to_sparse_csr(), rows)
    assert torch.equal(sub.to_dense(), dense[rows])
    x = torch.randn(3, 2, requires_grad=True)
    spmm(sub, x).sum().backward()
    assert torch.allclose(x.grad, dense[rows].sum(0).unsqueeze(1).expand(3, 2))


@pytest.mark.parametrize("duplicates", [False, True])
def test_csr_from_coo_is_the_coalesced_matrix(duplicates):
    # one key sort and a row count; duplicate entries are summed (then the
    # coalescing path is taken); columns are sorted within each row
    from mmgraph.nn.sparse import csr_from_coo
    torch.manual_seed(0)
    n, m = 30, 45
    keys = torch.randperm(n * m)[:200]
    if duplicates:
        keys = torch.cat([keys, keys[:20]])
    keys = keys[torch.randperm(keys.numel())]
    row, col, val = keys // m, keys % m, torch.rand(keys.numel())
    a = csr_from_coo(row, col, val, (n, m))
    want = torch.zeros(n, m).index_put_((row, col), val, accumulate=True)
    torch.testing.assert_close(a.to_dense(), want)
    crow, cols = a.crow_indices(), a.col_indices()
    for r in range(n):
        seg = cols[crow[r]:crow[r + 1]]
        assert bool((seg[1:] > seg[:-1]).all())
    torch.testing.assert_close(transpose_csr(a).to_dense(), want.t())


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_sparse_mm_matches_dense_on_empty_rows_and_empty_matrices(dtype):
    # The product writes into an uninitialised buffer (beta=0): rows with no
    # entries and matrices with none must still come out as exact zeros,
    # whatever the allocator hands back (a freed NaN buffer, here).
    dense = torch.tensor([[0., 2., 0.], [0., 0., 0.], [1., 0., 3.],
                          [0., 0., 0.]], dtype=dtype)
    x = torch.randn(3, 5, dtype=dtype)
    for a in (dense, torch.zeros_like(dense)):
        for other in (x, x.t().contiguous().t()):  # and a strided one
            torch.full((4, 5), float("nan"), dtype=dtype)  # freed at once
            with quiet_sparse_warnings():
                out = sparse_mm(a.to_sparse_csr(), other)
            assert torch.equal(out, a @ other)
    with quiet_sparse_warnings():
        assert sparse_mm(torch.zeros(0, 3, dtype=dtype).to_sparse_csr(),
                         x).shape == (0, 5)


def test_sparse_mm_stays_differentiable_outside_the_autograd_functions():
    a = torch.tensor([[0., 2.], [1., 0.]])
    x = torch.randn(2, 3, requires_grad=True)
    with quiet_sparse_warnings():
        sparse_mm(a.to_sparse_csr(), x).sum().backward()
    assert torch.equal(x.grad, a.t() @ torch.ones(2, 3))
