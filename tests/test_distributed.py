r"""Data-parallel training on CPU with the gloo backend: two ranks end with
identical parameters, and the sharded evaluation equals a single-process
evaluation of the same model."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

pytestmark = [pytest.mark.distributed, pytest.mark.slow]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank, world, port, out_dir, fn):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    torch.save(fn(), os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def run_two_ranks(fn, tmp_path):
    r"""Runs ``fn()`` (a module-level function) on each rank of a 2-rank
    gloo group, as ``torchrun`` would; returns what each rank returned."""
    mp.spawn(_rank_main, args=(2, _free_port(), str(tmp_path), fn),
             nprocs=2, join=True)
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=True)
            for r in range(2)]


def _train():
    from mmgraph.config import TrainConfig
    from mmgraph.data import load_dataset
    from mmgraph.models import create_model
    from mmgraph.train import Trainer
    ds = load_dataset("synthetic", num_users=80, num_items=50, avg_degree=8,
                      seed=0)
    model = create_model("lightgcn", ds, n_layers=1)
    res = Trainer(model, ds, TrainConfig(epochs=2, batch_size=128, seed=4,
                                         topk=[10, 20]),
                  show_progress=False).fit()
    return {"state": model.state_dict(), "test": res["test"]}


def test_two_ranks_agree_with_each_other_and_with_one_process(tmp_path):
    r0, r1 = run_two_ranks(_train, tmp_path)
    for key in r0["state"]:
        assert torch.equal(r0["state"][key], r1["state"][key]), key
    assert r0["test"] == r1["test"]

    from mmgraph.data import load_dataset
    from mmgraph.evaluation import Evaluator
    from mmgraph.models import create_model
    ds = load_dataset("synthetic", num_users=80, num_items=50, avg_degree=8,
                      seed=0)
    model = create_model("lightgcn", ds, n_layers=1)
    model.load_state_dict(r0["state"])
    single = Evaluator(ds, topk=[10, 20]).evaluate(model, "test")
    for key, value in single.items():
        assert r0["test"][key] == pytest.approx(value, abs=1e-6), key
