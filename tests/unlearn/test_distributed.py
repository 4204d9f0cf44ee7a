r"""Unlearning is the shared training loop, so it is data-parallel like
training: under a 2-rank gloo group (as ``torchrun`` launches it) both ranks
end with the same unlearned model, equal to a single process's."""
import pytest
import torch

from tests.test_distributed import run_two_ranks


def _unlearn(initial=None):
    torch.set_num_threads(1)
    from mmgraph.data import load_dataset
    from mmgraph.models import create_model
    from torch_geometric import seed_everything
    from mmgraph.unlearn import ForgetRequest, Unlearner
    ds = load_dataset("synthetic", num_users=80, num_items=50, avg_degree=8,
                      seed=0)
    seed_everything(3)
    model = create_model("lightgcn", ds, n_layers=1)
    if initial is not None:
        initial.update({k: v.clone() for k, v in model.state_dict().items()})
    request = ForgetRequest.random("users", 0.1, ds, seed=0)
    # Even forget / retain batch sizes: both ranks get equal shares of every
    # batch, so their averaged gradients are the single process's.
    res = Unlearner(model, ds, request, {"seed": 0, "topk": [10, 20]},
                    epochs=3, batch_size=8, retain_batch_size=64,
                    min_steps=3, target_forget=0.0, valid_tolerance=1.0,
                    patience=10, show_progress=False).fit()
    return model.state_dict(), res


def _on_rank():
    state, res = _unlearn()
    return {"state": state, "test": res["test"],
            "forget": res["unlearn"]["forget"], "best_epoch": res["best_epoch"]}


def test_unlearning_on_two_ranks_equals_one_process(tmp_path):
    r0, r1 = run_two_ranks(_on_rank, tmp_path)
    for key in r0["state"]:
        assert torch.equal(r0["state"][key], r1["state"][key]), key
    assert r0["test"] == r1["test"] and r0["forget"] == r1["forget"]

    threads, initial = torch.get_num_threads(), {}
    try:
        state, res = _unlearn(initial)
    finally:
        torch.set_num_threads(threads)
    assert r0["best_epoch"] == res["best_epoch"] >= 1
    for key, value in state.items():
        # Equal up to float rounding: the two ranks sum their halves of each
        # batch in another order, and Adam amplifies the rounding where a
        # gradient is ~0 (a few entries); unlearning moved the weights
        # thousands of times further than that.
        moved = (value - initial[key]).norm()
        diff = (r0["state"][key] - value).norm()
        assert moved > 0 and diff < 1e-3 * moved, (key, diff, moved)
        assert (r0["state"][key] - value).abs().max() < 1e-3
    for key, value in res["test"].items():
        assert r0["test"][key] == pytest.approx(value, abs=1e-6), key


def _unlearn_run_on_rank(root):
    torch.set_num_threads(1)
    from pathlib import Path
    from mmgraph.runs import unlearn_run
    from mmgraph.unlearn import ForgetRequest
    root = Path(root)

    def request(ds):
        return ForgetRequest.random("users", 0.1, ds, seed=0)

    found = {}
    for name, kw in (("gold_dir", {"gold_dir": root / "gold"}),
                     ("gold", {"gold": True})):
        summary = unlearn_run(root / "run", root / name, request,
                              show_progress=False, epochs=1, **kw)
        found[name] = {"forget": summary["models"]["gold"]["forget"],
                       "unlearned": summary["models"]["unlearned"]["forget"],
                       "epochs": summary["models"]["gold"]["epochs"]}
    return found


def test_unlearn_run_retrains_its_gold_on_two_ranks(tmp_path, monkeypatch):
    r"""The gold folders are read by every rank and written by the main
    one: every rank must have read a stopped gold before it is cleared, and
    the main one must have finished it before any rank measures it."""
    import functools
    import json
    from mmgraph.data import make_synthetic
    from mmgraph.experiment import train_model
    from mmgraph.runs import unlearn_run
    from mmgraph.train import Trainer
    from mmgraph.unlearn import ForgetRequest
    make_synthetic(out=tmp_path / "data", num_users=80, num_items=50,
                   avg_degree=8, seed=0)
    train_model("mf", str(tmp_path / "data"),
                overrides={"epochs": 3, "batch_size": 256, "patience": 100},
                out_dir=tmp_path / "run", show_progress=False)

    def stop(self, epoch):  # the gold's trainer, before its first checkpoint
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "train_epoch", stop)
    with pytest.raises(KeyboardInterrupt):
        unlearn_run(tmp_path / "run", tmp_path / "first",
                    lambda ds: ForgetRequest.random("users", 0.1, ds, seed=0),
                    gold_dir=tmp_path / "gold", show_progress=False)
    monkeypatch.undo()
    assert (tmp_path / "gold" / "unlearn_request.json").is_file()
    assert not (tmp_path / "gold" / "checkpoint.pt").exists()

    r0, r1 = run_two_ranks(
        functools.partial(_unlearn_run_on_rank, str(tmp_path)), tmp_path)
    assert r0 == r1
    # started over, trained to the run's cap; the same gold as --gold's
    assert r0["gold_dir"]["epochs"] == r0["gold"]["epochs"] == 3
    for key, value in r0["gold"]["forget"].items():
        assert r0["gold_dir"]["forget"][key] == pytest.approx(value), key
    assert json.loads((tmp_path / "gold" / "results.json").read_text())[
        "finished"]


def _method_on_rank(method):
    torch.set_num_threads(1)
    from mmgraph.data import load_dataset
    from mmgraph.models import create_model
    from torch_geometric import seed_everything
    from mmgraph.unlearn import ForgetRequest, Unlearner
    ds = load_dataset("synthetic", num_users=80, num_items=50, avg_degree=8,
                      seed=0)
    seed_everything(3)
    model = create_model("lightgcn", ds, n_layers=1)
    request = ForgetRequest.random("users", 0.1, ds, seed=0)
    # the method's defaults: its target (the fresh-rows estimate or
    # chance), selection, optimisers, tolerance and back-off
    res = Unlearner(model, ds, request, {"seed": 0, "topk": [10, 20]},
                    method=method, epochs=3, batch_size=8,
                    retain_batch_size=64, min_steps=3,
                    show_progress=False).fit()
    s = res["unlearn"]
    return {"state": model.state_dict(), "target": s["target_forget"],
            "reason": s["stop_reason"], "best_epoch": res["best_epoch"],
            "backoffs": s["backoffs"]}


@pytest.mark.parametrize("method", ["mmrecun", "targeted"])
def test_each_method_with_its_defaults_agrees_on_two_ranks(tmp_path, method):
    import functools
    r0, r1 = run_two_ranks(functools.partial(_method_on_rank, method),
                           tmp_path)
    for key in r0["state"]:
        assert torch.equal(r0["state"][key], r1["state"][key]), key
    assert {k: v for k, v in r0.items() if k != "state"} == \
        {k: v for k, v in r1.items() if k != "state"}
    # the target is the single process's (the estimate draws its fresh
    # rows from the same seeded generator on every rank)
    threads = torch.get_num_threads()
    try:
        alone = _method_on_rank(method)
    finally:
        torch.set_num_threads(threads)
    assert r0["target"] == pytest.approx(alone["target"])
