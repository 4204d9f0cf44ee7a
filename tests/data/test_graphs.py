import pytest
import torch
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from mmgraph.data.graphs import fuse_graphs, fusion_weights, knn_graph, normalized_adjacency


def _random_edges(u, i, e, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(u, (e,), generator=g), torch.randint(i, (e,), generator=g)])


def test_normalized_adjacency_dense_and_gcn_norm():
    U, I = 7, 5
    ei = _random_edges(U, I, 20)  # contains duplicates and cold nodes
    A = normalized_adjacency(ei, U, I)
    assert A.layout == torch.sparse_csr and A.shape == (U + I, U + I)
    R = torch.zeros(U, I)
    R[ei[0], ei[1]] = 1.0
    Ad = torch.zeros(U + I, U + I)
    Ad[:U, U:] = R
    Ad[U:, :U] = R.t()
    d = Ad.sum(1) + 1e-7
    ref = Ad / d.sqrt()[:, None] / d.sqrt()[None, :]
    dense = A.to_dense()
    assert torch.allclose(dense, ref, atol=1e-6)
    assert torch.allclose(dense, dense.t()) and dense.diagonal().abs().sum() == 0
    # PyG gcn_norm on the symmetric, duplicate-free edge list
    key = torch.unique(ei[0] * I + ei[1])
    u, i = key // I, key % I + U
    sym = torch.stack([torch.cat([u, i]), torch.cat([i, u])])
    gei, gw = gcn_norm(sym, None, U + I, add_self_loops=False)
    g = torch.zeros(U + I, U + I)
    g[gei[1], gei[0]] = gw  # gcn_norm's flow: edge (j -> i) normalises into row i
    assert torch.allclose(dense, g, atol=1e-6)


def test_normalized_adjacency_weighted():
    ei = torch.tensor([[0, 0, 1], [0, 0, 1]])
    A = normalized_adjacency(ei, 2, 2, torch.tensor([1.0, 2.0, 1.0])).to_dense()
    # user 0 - item 0 weight 3 (duplicates summed): 3 / sqrt(3 * 3)
    assert torch.isclose(A[0, 2], torch.tensor(1.0), atol=1e-6)


def _brute_knn(x, k):
    xn = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    sim = xn @ xn.t()
    idx = torch.sort(sim, dim=1, descending=True, stable=True).indices[:, :k]
    out = set()
    for r in range(x.size(0)):
        out |= {(r, int(c)) for c in idx[r]}
    return out


@pytest.mark.parametrize("chunk", [3, 16, 4096])
def test_knn_matches_brute_force(chunk):
    x = torch.randn(37, 8, generator=torch.Generator().manual_seed(0))
    ei, ew = knn_graph(x, 5, chunk_size=chunk)
    assert ei.shape == (2, 37 * 5)
    # source_to_target: row 0 the neighbour, row 1 the item that aggregates
    assert set(zip(ei[1].tolist(), ei[0].tolist())) == _brute_knn(x, 5)
    assert torch.allclose(ew, torch.full_like(ew, 0.2))
    assert torch.equal(ei[1], torch.arange(37).repeat_interleave(5))
    # self is included (cosine 1)
    assert set(range(37)) <= {(a) for a, b in zip(ei[0].tolist(), ei[1].tolist()) if a == b}
    # sorted by (target, source)
    key = ei[1] * 37 + ei[0]
    assert torch.equal(key, key.sort().values)


def test_knn_ties_zero_rows_and_small_n():
    x = torch.randn(12, 4, generator=torch.Generator().manual_seed(1))
    x[[2, 5, 7, 9]] = x[0].clone()        # exact ties with item 0 (mean-filled items)
    x[11] = 0.0                     # zero-norm row: no NaN
    ei, ew = knn_graph(x, 3, chunk_size=5)
    assert torch.isfinite(ew).all()
    nbrs = {r: sorted(ei[0][ei[1] == r].tolist()) for r in range(12)}
    assert nbrs[0] == [0, 2, 5] and nbrs[9] == [0, 2, 5]  # ties -> smallest indices
    assert len(nbrs[11]) == 3
    # identical across chunk sizes
    ei2, _ = knn_graph(x, 3, chunk_size=64)
    assert torch.equal(ei, ei2)
    ei3, ew3 = knn_graph(x[:2], 10)  # k clamped to N
    assert ei3.size(1) == 4 and torch.allclose(ew3, torch.full_like(ew3, 0.5))


def test_fusion_weights():
    assert fusion_weights(["text"]) == {"text": 1.0}
    assert fusion_weights(["image", "text"], 0.1) == pytest.approx({"image": 0.1, "text": 0.9})
    w = fusion_weights(["audio", "image", "text"], 0.2)
    assert w == pytest.approx({"audio": 0.4, "image": 0.2, "text": 0.4})
    assert sum(fusion_weights(["a", "b", "c"]).values()) == pytest.approx(1.0)


def test_fuse_graphs_matches_dense():
    x1 = torch.randn(20, 5, generator=torch.Generator().manual_seed(0))
    x2 = torch.randn(20, 3, generator=torch.Generator().manual_seed(1))
    g = {"image": knn_graph(x1, 4), "text": knn_graph(x2, 4)}
    w = fusion_weights(list(g), 0.1)
    ei, ew = fuse_graphs(g, w, 20)
    dense = torch.zeros(20, 20)  # dense[i, j]: weight of neighbour j in item i's mean
    dense[ei[1], ei[0]] = ew
    ref = torch.zeros(20, 20)
    for m, (e, v) in g.items():
        ref.index_put_((e[1], e[0]), v * w[m], accumulate=True)
    assert torch.allclose(dense, ref)
    key = ei[1] * 20 + ei[0]  # coalesced: unique, sorted by (target, source)
    assert torch.equal(key, torch.unique(key))
    assert torch.allclose(dense.sum(1), torch.ones(20))  # rows still average
    assert torch.allclose(dense.diagonal(), torch.full((20,), 0.25))  # self in both lists


def test_knn_graph_from_neighbours_round_trip_and_refusals():
    from mmgraph.data.graphs import knn_graph, knn_graph_from_neighbours
    x = torch.randn(7, 4)
    ei, w = knn_graph(x, 3)
    again = knn_graph_from_neighbours(ei[0].view(7, 3))
    assert torch.equal(again[0], ei) and torch.equal(again[1], w)
    for bad in (torch.zeros(7, 3), torch.tensor([[0, 7]]), torch.tensor([[1, 0]] * 2),
                torch.tensor([0, 1])):
        with pytest.raises(ValueError):
            knn_graph_from_neighbours(bad)
