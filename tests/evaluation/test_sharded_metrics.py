r"""Under torch.distributed (gloo, two CPU ranks) the evaluator's catalogue
metrics (coverage, Gini: counts summed over ranks, not per-rank values
averaged), per-user beyond-accuracy metrics and cold-item metrics equal a
single-process evaluation."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cold_dataset():
    from mmgraph.data import RecDataset, load_dataset
    ds = load_dataset("synthetic", num_users=60, num_items=40, avg_degree=8, seed=2)
    cold = torch.arange(0, 40, 7)
    train = ds.train_edge_index
    moved = torch.isin(train[1], cold)
    test = torch.cat([ds.test_edge_index, train[:, moved]], 1)
    return RecDataset(ds.name, ds.num_users, ds.num_items, train[:, ~moved],
                      ds.valid_edge_index, test, ds.features, cold_items=cold)


def evaluate():
    from mmgraph.evaluation import Evaluator
    from mmgraph.models import create_model
    ds = cold_dataset()
    torch.manual_seed(0)
    model = create_model("vbpr", ds)
    return Evaluator(ds, topk=[5, 10], batch_size=7).evaluate(model, "test")


def _worker(rank, world, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    torch.save(evaluate(), os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def test_sharded_evaluation_equals_one_process(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=False)
    single = evaluate()
    assert r0 == r1
    assert set(r0) == set(single)
    for key in ("coverage@10", "gini@10", "novelty@10", "diversity_text@10",
                "cold_recall@10", "cold_among_cold_recall@5", "cold_num_users"):
        assert key in single, key
    for key, value in single.items():
        assert r0[key] == pytest.approx(value, abs=1e-9), key
