import torch

from mmgraph.data import make_synthetic
from mmgraph.data.user_graph import (cooccurrence_neighbours,
                                     user_cooccurrence_graph)


def test_cooccurrence_by_hand():
    # user 0: items 0 1 2; user 1: items 1 2; user 2: item 2; user 3: item 3
    ei = torch.tensor([[0, 0, 0, 1, 1, 2, 3], [0, 1, 2, 1, 2, 2, 3]])
    indptr, nbrs, counts = cooccurrence_neighbours(ei, 4, 4)
    assert indptr.tolist() == [0, 2, 4, 6, 6]
    assert nbrs.tolist() == [1, 2, 0, 2, 0, 1]
    assert counts.tolist() == [2.0, 1.0, 2.0, 1.0, 1.0, 1.0]
    # at most one neighbour: the largest count, ties by user id
    indptr, nbrs, counts = cooccurrence_neighbours(ei, 4, 4, 1,
                                                   chunk_size=1)
    assert indptr.tolist() == [0, 1, 2, 3, 3]
    assert nbrs.tolist() == [1, 0, 0]


def test_matches_dense_product_in_chunks():
    ds = make_synthetic(num_users=90, num_items=60, avg_degree=8, seed=2)
    ei = ds.train_edge_index
    r = torch.zeros(ds.num_users, ds.num_items)
    r[ei[0], ei[1]] = 1
    c = r @ r.t()
    c.fill_diagonal_(0)
    indptr, nbrs, counts = cooccurrence_neighbours(
        ei, ds.num_users, ds.num_items, 7, chunk_size=16)
    for u in range(ds.num_users):
        got = nbrs[indptr[u]:indptr[u + 1]]
        want = sorted((v for v in range(ds.num_users) if c[u, v] > 0),
                      key=lambda v: (-c[u, v].item(), v))[:7]
        assert got.tolist() == want
        assert torch.equal(counts[indptr[u]:indptr[u + 1]], c[u, got])


def test_cached_per_training_set():
    ds = make_synthetic(num_users=40, num_items=30, avg_degree=6, seed=1)
    g = user_cooccurrence_graph(ds, 5)
    assert user_cooccurrence_graph(ds, 5) is g
    retain = ds.with_train_edges(ds.train_edge_index[:, ::2])
    g2 = user_cooccurrence_graph(retain, 5)
    assert g2 is not g
    assert int(g2[0][-1]) <= int(g[0][-1])
