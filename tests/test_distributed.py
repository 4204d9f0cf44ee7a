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


def _batches():
    from mmgraph.config import TrainConfig
    from mmgraph.data import load_dataset
    from mmgraph.models import create_model
    from mmgraph.train import Trainer
    ds = load_dataset("synthetic", num_users=80, num_items=50, avg_degree=8,
                      seed=0)
    torch.manual_seed(4)   # fit() would seed the initialisation the same way
    model = create_model("lightgcn", ds, n_layers=1)
    trainer = Trainer(model, ds, TrainConfig(epochs=1, batch_size=64, seed=4,
                                             topk=[10, 20]),
                      show_progress=False)
    torch.manual_seed(4 + dist.get_rank())
    batches = list(trainer.batches(0))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.training_step(batches[0])
    return {"users": [b.users for b in batches],
            "pos": [b.pos_items for b in batches],
            "neg": [b.neg_items for b in batches],
            "before": before, "after": model.state_dict()}


def test_each_rank_draws_its_own_share_of_global_batches(tmp_path):
    r0, r1 = run_two_ranks(_batches, tmp_path)
    # the same number of steps on both ranks, half the steps of one process
    from mmgraph.config import TrainConfig
    from mmgraph.data import load_dataset
    from mmgraph.models import create_model
    from mmgraph.train import Trainer
    ds = load_dataset("synthetic", num_users=80, num_items=50, avg_degree=8,
                      seed=0)
    single = Trainer(create_model("lightgcn", ds, n_layers=1), ds,
                     TrainConfig(epochs=1, batch_size=128, seed=4,
                                 topk=[10, 20]), show_progress=False)
    glob = list(single.batches(0))
    assert len(r0["users"]) == len(r1["users"]) == len(glob)
    for u0, p0, u1, p1, g in zip(r0["users"], r0["pos"], r1["users"],
                                 r1["pos"], glob):
        # disjoint shares whose union is the one-process global batch
        pairs = lambda u, p: sorted(zip(u.tolist(), p.tolist()))  # noqa
        assert pairs(torch.cat([u0, u1]), torch.cat([p0, p1])) == \
            pairs(g.users, g.pos_items)
        assert not torch.equal(u0, u1)
        assert u0.numel() + u1.numel() == g.users.numel()
    # negatives come from per-rank seeds: not the same draw on both ranks
    assert not torch.equal(r0["neg"][0], r1["neg"][0])
    # same initial parameters, and identical parameters after one step
    for key in r0["before"]:
        assert torch.equal(r0["before"][key], r1["before"][key]), key
        assert torch.equal(r0["after"][key], r1["after"][key]), key
        assert not torch.equal(r0["after"][key], r0["before"][key]), key


def test_lr_scale_rules():
    from mmgraph.distributed import lr_scale
    assert lr_scale("none", 4) == 1.0
    assert lr_scale("linear", 4) == 4.0
    assert lr_scale("sqrt", 4) == 2.0
    with pytest.raises(ValueError, match="lr_scaling"):
        lr_scale("cubic", 2)


def _train_sparse_features():
    from mmgraph.data import load_dataset
    from mmgraph.models import create_model
    from mmgraph.train import Trainer
    ds = load_dataset("synthetic", num_users=80, num_items=50, avg_degree=8,
                      seed=0)
    torch.manual_seed(0)
    model = create_model("bm3", ds)
    initial = model.encoders.feat_image.detach().clone()
    Trainer(model, ds, dict(epochs=1, batch_size=64, seed=4, topk=[10, 20],
                            sampled=True, sparse_features=True),
            show_progress=False).fit()
    return {"state": model.state_dict(), "initial": initial}


def test_two_ranks_reduce_row_sparse_feature_gradients(tmp_path):
    # The row-sparse gradients are reduced dense and made row-sparse again:
    # the ranks stay identical, and the table did train.
    r0, r1 = run_two_ranks(_train_sparse_features, tmp_path)
    for key in r0["state"]:
        assert torch.equal(r0["state"][key], r1["state"][key]), key
    assert not torch.equal(r0["state"]["encoders.feat_image"],
                           r0["initial"])


def _row_sparse_mean():
    from mmgraph.distributed import all_reduce_row_sparse, rank
    r = rank()
    # rank 0 touches rows 1, 4 (row 4 twice), rank 1 touches rows 4, 6, 7:
    # different counts, a shared row, a repeat inside one rank
    rows = [torch.tensor([1, 4, 4]), torch.tensor([4, 6, 7])][r]
    values = torch.arange(rows.numel() * 3, dtype=torch.float32).view(-1, 3)
    values = values + 10 * r
    grad = torch.sparse_coo_tensor(rows.unsqueeze(0), values, (9, 3))
    return {"dense": grad.to_dense(),
            "reduced": all_reduce_row_sparse(grad).to_dense(),
            "rows": all_reduce_row_sparse(grad).indices()[0]}


def test_row_sparse_gradients_average_over_ranks(tmp_path):
    r0, r1 = run_two_ranks(_row_sparse_mean, tmp_path)
    expected = (r0["dense"] + r1["dense"]) / 2
    torch.testing.assert_close(r0["reduced"], expected)
    assert torch.equal(r0["reduced"], r1["reduced"])
    # still row-sparse: only rows some rank touched
    assert r0["rows"].tolist() == [1, 4, 6, 7]


def _dense_mean():
    import mmgraph.distributed as D
    D.IN_PLACE_NUMEL = 12  # the 4 x 3 and 5 x 3 tables in place
    r = D.rank()
    params = [torch.nn.Parameter(torch.zeros(shape))
              for shape in [(4, 3), (2,), (5, 3), (3,)]]
    grads = [torch.full(p.shape, float(i + 1 + 10 * r)) for i, p in
             enumerate(params)]
    grads[2] = grads[2].t().contiguous().t()  # a transposed (strided) one
    for p, g in zip(params, grads):
        p.grad = g.clone()
    params[3].grad = None if r == 1 else params[3].grad  # none on rank 1
    D.all_reduce_gradients(params)
    return {"grads": [g.clone() for g in grads],
            "reduced": [p.grad for p in params]}


def test_dense_gradients_average_in_place_and_flattened(tmp_path):
    # large gradients are reduced in place, small ones flattened together;
    # a missing gradient counts as zeros; both ranks end identical
    r0, r1 = run_two_ranks(_dense_mean, tmp_path)
    r1["grads"][3].zero_()
    for i, (a, b) in enumerate(zip(r0["grads"], r1["grads"])):
        torch.testing.assert_close(r0["reduced"][i], (a + b) / 2)
        assert torch.equal(r0["reduced"][i], r1["reduced"][i])


def _cli_on_rank(root):
    from pathlib import Path
    from mmgraph.cli import main
    root = Path(root)
    train = ["train", "--model", "mf", "--data", "synthetic", "--set",
             "epochs=2", "--out", str(root / "run"), "--no-progress"]
    codes = {"train": main(train)}
    codes["again"] = main(train)  # not empty: every rank refuses, no hang
    codes["overwrite"] = main(train + ["--overwrite"])
    codes["logged"] = main(train[:-3] + ["--log", "csv,tensorboard",
                                         "--out", str(root / "logged"),
                                         "--no-progress"])
    codes["unlearn"] = main(["unlearn", "--run", str(root / "run"),
                             "--forget-fraction", "users:0.1", "--epochs", "1",
                             "--gold-dir", str(root / "gold"),
                             "--out", str(root / "unlearned"),
                             "--no-progress"])
    return codes


def test_the_cli_writes_its_run_folders_under_torchrun(tmp_path, capsys):
    r"""``torchrun -m mmgraph.cli train/unlearn --out DIR``: the main process
    locks and writes the folder, the others check it and train beside it
    (every rank locking it stopped the second rank at the lock)."""
    import functools
    import json
    r0, r1 = run_two_ranks(functools.partial(_cli_on_rank, str(tmp_path)),
                           tmp_path)
    assert r0 == r1 == {"train": 0, "again": 2, "overwrite": 0,
                        "logged": 0, "unlearn": 0}
    # rank 0 alone logs (each rank wrote its own TensorBoard event file)
    assert len(list((tmp_path / "logged" / "tensorboard").glob(
        "events.out.tfevents.*"))) == 1
    assert len((tmp_path / "logged" / "metrics.csv").read_text()
               .splitlines()) == 3  # the header and two epochs
    assert json.loads((tmp_path / "run" / "results.json").read_text())[
        "finished"]
    summary = json.loads((tmp_path / "unlearned" / "unlearn.json")
                         .read_text())
    assert summary["models"]["gold"]["run"] == str(
        (tmp_path / "gold").resolve())
    assert not (tmp_path / "run" / ".lock").exists()


def _search_on_rank(root):
    from mmgraph.search import search
    summary = search("mf", "synthetic", overrides={
        "epochs": 1, "batch_size": 128, "reg_weight": [0.0, 1e-3, 1e-2]},
        out_dir=root, sampler="random", trials=3, seed=0)
    summary.pop("seconds")
    return summary


def test_a_search_runs_its_study_on_rank_zero_and_trains_on_both(tmp_path):
    r"""``torchrun ... train --search``: the study and its journal live on
    rank 0, which hands each drawn point to the other ranks; every rank
    trains every trial and returns rank 0's summary (each rank running its
    own study in one journal failed: 'Cannot tell a FAIL trial')."""
    import functools
    import json
    pytest.importorskip("optuna")
    r0, r1 = run_two_ranks(
        functools.partial(_search_on_rank, str(tmp_path / "search")),
        tmp_path)
    assert r0 == r1
    on_disk = json.loads((tmp_path / "search" / "search.json").read_text())
    assert [t["number"] for t in on_disk["trials"]] == [0, 1, 2]
    assert on_disk["best"] == r0["best"]
    for trial in on_disk["trials"]:
        assert json.loads((tmp_path / "search" / trial["run_dir"] /
                           "results.json").read_text())["finished"]


def _cpu_seconds_on_rank():
    from mmgraph import load_dataset
    from mmgraph.distributed import cpu_seconds_all_ranks, rank
    from mmgraph.models import create_model
    from mmgraph.train import Trainer
    ds = load_dataset("synthetic")
    torch.manual_seed(0)
    trainer = Trainer(create_model("mf", ds), ds, {"epochs": 1})
    results = trainer.fit()
    return {"given": cpu_seconds_all_ranks(1.5 + rank()),
            "none": cpu_seconds_all_ranks(None),
            "trained": results["cpu_seconds"]}


def test_cpu_seconds_are_the_whole_jobs(tmp_path):
    r"""Under ``torchrun`` a run's ``cpu_seconds`` (and so unlearn.json's
    unlearning and gold costs) sums every rank's CPU time; it was rank 0's
    alone, half a 2-rank job's cost."""
    r0, r1 = run_two_ranks(_cpu_seconds_on_rank, tmp_path)
    assert r0["given"] == r1["given"] == 4.0    # 1.5 + 2.5
    assert r0["none"] is None
    # one number for the job, the same on every rank
    assert r0["trained"] == r1["trained"] > 0
