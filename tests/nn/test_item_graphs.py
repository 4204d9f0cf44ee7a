import torch

from mmgraph.nn.item_graphs import (coalesce_edges, cosine_knn,
                                    edge_propagate, symmetric_normalize)
from mmgraph.nn.losses import half_squared_norm_loss, info_nce_loss
from torch_geometric.utils import to_torch_csr_tensor as to_csr


def _dense(graph, n):
    return to_csr(graph[0], graph[1], (n, n)).to_dense()


def test_cosine_knn_and_normalisation_by_hand():
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    c = 2 ** -0.5
    graph = cosine_knn(x, 2)
    # item 0: itself (1) and item 1 (c); item 1: itself and item 0 (tie
    # with item 2 broken by the index); item 2: itself and item 1.
    expected = torch.tensor([[1, c, 0], [c, 1, 0], [0, c, 1]])
    assert torch.allclose(_dense(graph, 3), expected)
    # D^{-1/2} W D^{-1/2} with the row sums 1 + c on every row.
    norm = _dense(symmetric_normalize(graph, 3), 3)
    assert torch.allclose(norm, expected / (1 + c))


def test_weighted_sum_and_propagation_are_differentiable():
    g1 = (torch.tensor([[0, 1], [1, 0]]), torch.tensor([1.0, 2.0]))
    g2 = (torch.tensor([[0, 1], [1, 1]]), torch.tensor([3.0, 4.0]))
    c = torch.tensor(0.5, requires_grad=True)
    ei, ew = coalesce_edges([g1, g2], [c, 1.0], 2)
    assert torch.allclose(_dense((ei, ew), 2),
                          torch.tensor([[0, 0.5 + 3], [1.0, 4.0]]))
    x = torch.tensor([[1.0], [10.0]], requires_grad=True)
    out = edge_propagate((ei, ew), x, 1)
    assert torch.allclose(out, torch.tensor([[35.0], [41.0]]))
    out.sum().backward()
    # d/dc of (c*1*10 + c*2*1) = 12; d/dx_1 = 3.5 + 4.
    assert torch.allclose(c.grad, torch.tensor(12.0))
    assert torch.allclose(x.grad, torch.tensor([[1.0], [7.5]]))


def test_half_squared_norm_loss_by_hand():
    a = torch.tensor([[3.0, 4.0]])
    b = torch.tensor([[1.0, 0.0]])
    assert torch.allclose(half_squared_norm_loss(a, b), torch.tensor(13.0))
    assert torch.allclose(half_squared_norm_loss(a, b, batch_size=2),
                          torch.tensor(6.5))


def test_info_nce_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    # normalised: a = e1, e2; b = e1, (e1 + e2)/sqrt 2; tau = 1
    c = 2 ** -0.5
    l0 = -1 + torch.log(torch.exp(torch.tensor(1.0)) + torch.exp(torch.tensor(c)))
    l1 = -c + torch.log(torch.exp(torch.tensor(0.0)) + torch.exp(torch.tensor(c)))
    assert torch.allclose(info_nce_loss(a, b, 1.0), (l0 + l1) / 2)


