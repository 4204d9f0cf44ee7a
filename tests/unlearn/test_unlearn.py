import json

import pytest
import torch

from mmgraph.config import TrainConfig
from mmgraph.data import DataFormatError
from mmgraph.evaluation import Evaluator
from mmgraph.models import create_model, list_models
from mmgraph.models.base import Batch
from mmgraph.train.objectives import create_objective
from mmgraph.train.objectives.reverse_bpr import (UnlearnBatch,
                                                  UnlearnObjective)
from mmgraph.runs import REQUEST_FILE, RunFolder
from mmgraph.unlearn import ForgetRequest, Unlearner, unlearning_metrics


def apply_saved_request(ds, folder):
    return RunFolder(folder).apply_requests(ds)


def load_requests(path):
    return RunFolder(path.parent).read_requests(path.name)


def _pairs(ei):
    return set(zip(ei[0].tolist(), ei[1].tolist()))


def _margins(model, users, pos, neg):
    u, i = model.embeddings()
    return (model.pair_scores(u, i, users, pos)
            - model.pair_scores(u, i, users, neg[:, 0]))


# --------------------------------------------------------------- objective
@pytest.mark.parametrize("forget_loss", ["reverse_bpr", "ascent"])
def test_one_reverse_step_lowers_the_forget_margin(tiny_dataset, forget_loss):
    # Guards against the double-minus bug that turns reverse BPR into BPR.
    torch.manual_seed(0)
    model = create_model("mf", tiny_dataset, reg_weight=0.0)
    edges = tiny_dataset.train_edge_index[:, :64]
    users, pos = edges
    neg = torch.randint(tiny_dataset.num_items, (64, 1))
    objective = UnlearnObjective(model, tiny_dataset, alpha=1.0,
                                 forget_loss=forget_loss)
    batch = UnlearnBatch(users, pos, neg, torch.ones(64, dtype=torch.bool))
    before = _margins(model, users, pos, neg).detach()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    objective(model, batch)["loss"].backward()
    opt.step()
    after = _margins(model, users, pos, neg).detach()
    assert after.mean() < before.mean()
    assert (after < before).float().mean() > 0.9


def test_retain_rows_are_ordinary_bpr(tiny_dataset):
    torch.manual_seed(0)
    model = create_model("mf", tiny_dataset, reg_weight=0.0)
    users, pos = tiny_dataset.train_edge_index[:, :64]
    neg = torch.randint(tiny_dataset.num_items, (64, 1))
    objective = UnlearnObjective(model, tiny_dataset, alpha=0.3)
    plain = create_objective("bpr", model, tiny_dataset)
    mixed = UnlearnBatch(users, pos, neg, torch.zeros(64, dtype=torch.bool))
    out = objective(model, mixed)
    # alpha weighs the forget term; retain rows give (1 - alpha) * BPR.
    ref = plain(model, Batch(users, pos, neg))
    assert torch.allclose(out["loss"], 0.7 * ref["loss"])
    before = _margins(model, users, pos, neg).detach()
    out["loss"].backward()
    torch.optim.SGD(model.parameters(), lr=0.5).step()
    assert _margins(model, users, pos, neg).mean() > before.mean()


def test_forget_and_retain_terms_are_split_by_the_mask(tiny_dataset):
    model = create_model("mf", tiny_dataset, reg_weight=0.0)
    users, pos = tiny_dataset.train_edge_index[:, :10]
    neg = torch.randint(tiny_dataset.num_items, (10, 2))
    flags = torch.tensor([True] * 4 + [False] * 6)
    out = UnlearnObjective(model, tiny_dataset, alpha=0.25)(
        model, UnlearnBatch(users, pos, neg, flags))
    u, i = model.embeddings()
    s_pos = model.pair_scores(u, i, users, pos)
    s_neg = model.pair_scores(u, i, users, neg)
    diff = s_pos.unsqueeze(1) - s_neg
    l_f = -torch.nn.functional.logsigmoid(-diff[:4]).mean()
    l_r = -torch.log(1e-10 + torch.sigmoid(diff[4:])).mean()
    assert torch.allclose(out["forget"], l_f)
    assert torch.allclose(out["retain"], l_r)
    assert torch.allclose(out["loss"], 0.25 * l_f + 0.75 * l_r)


def test_objective_is_registered_and_checks_arguments(tiny_dataset):
    model = create_model("mf", tiny_dataset)
    obj = create_objective("unlearn", model, tiny_dataset, alpha=0.7)
    assert repr(obj) == \
        "UnlearnObjective(alpha=0.7, forget_loss='reverse_bpr')"
    with pytest.raises(ValueError, match="alpha"):
        UnlearnObjective(model, tiny_dataset, alpha=1.5)
    with pytest.raises(ValueError, match="forget_loss"):
        UnlearnObjective(model, tiny_dataset, forget_loss="bpr")


# ---------------------------------------------------------------- requests
def test_user_item_and_interaction_requests_give_the_right_sets(tiny_dataset):
    ds = tiny_dataset
    train = _pairs(ds.train_edge_index)
    users = [0, 3, 7, 50]
    forget, retain = ForgetRequest("users", users).split(ds)
    assert _pairs(forget) == {(u, i) for u, i in train if u in users}
    assert _pairs(retain) == train - _pairs(forget)
    items = [1, 2, 40]
    forget, retain = ForgetRequest("item", items).split(ds)
    assert _pairs(forget) == {(u, i) for u, i in train if i in items}
    assert _pairs(retain) == train - _pairs(forget)
    pairs = sorted(train)[::17]
    req = ForgetRequest("interactions", torch.tensor(pairs).t())
    forget, retain = req.split(ds)
    assert _pairs(forget) == set(pairs)
    assert _pairs(retain) == train - set(pairs)
    assert repr(req) == f"ForgetRequest(interactions={len(pairs)})"


def test_random_requests_are_seeded_fractions(tiny_dataset):
    ds = tiny_dataset
    a = ForgetRequest.random("users", 0.1, ds, seed=3)
    b = ForgetRequest.random("users", 0.1, ds, seed=3)
    c = ForgetRequest.random("users", 0.1, ds, seed=4)
    assert torch.equal(a.ids, b.ids) and not torch.equal(a.ids, c.ids)
    assert len(a) == round(0.1 * torch.unique(ds.train_edge_index[0]).numel())
    e = ForgetRequest.random("interactions", 0.05, ds, seed=0)
    forget, _ = e.split(ds)
    assert forget.size(1) == round(0.05 * ds.train_edge_index.size(1))
    i = ForgetRequest.random("items", 0.05, ds, seed=0)
    assert len(i) == round(0.05 * torch.unique(ds.train_edge_index[1]).numel())
    with pytest.raises(ValueError, match="fraction"):
        ForgetRequest.random("users", 1.5, ds)
    with pytest.raises(ValueError, match="unknown kind"):
        ForgetRequest.random("modalities", 0.1, ds)


def test_request_files_and_their_errors(tiny_dataset, tmp_path):
    ds = tiny_dataset
    u0, i0 = ds.train_edge_index[:, 0].tolist()
    u1, i1 = ds.train_edge_index[:, 5].tolist()
    good = tmp_path / "pairs.tsv"
    good.write_text(f"userID\titemID\n# comment\n{u0}\t{i0}\n\n{u1},{i1}\n")
    req = ForgetRequest.from_file("interactions", good, ds)
    assert _pairs(req.ids) == {(u0, i0), (u1, i1)} and req.source == str(good)
    users = tmp_path / "users.txt"
    users.write_text("3\n1  # a comment\n3\n")
    assert ForgetRequest.from_file("users", users, ds).ids.tolist() == [1, 3]

    cases = {
        "3\nabc\n": ("users", 2, "not an integer"),
        "3 4\n": ("users", 1, "expected one integer user id"),
        f"1\n2\n{ds.num_items}\n": ("items", 3, "outside"),
        "-1\n": ("items", 1, "outside"),
        f"{u0} {i0}\n{u0}\n": ("interactions", 2, "expected 'user item'"),
        "": ("users", None, "no ids"),
    }
    missing = next((u, i) for u in range(ds.num_users)
                   for i in range(ds.num_items)
                   if (u, i) not in _pairs(ds.train_edge_index))
    cases[f"{u0} {i0}\n\n{missing[0]} {missing[1]}\n"] = (
        "interactions", 3, "not a training interaction")
    for n, (text, (kind, line, message)) in enumerate(cases.items()):
        path = tmp_path / f"bad{n}.txt"
        path.write_text(text)
        with pytest.raises(DataFormatError, match=message) as err:
            ForgetRequest.from_file(kind, path, ds)
        assert str(path) in str(err.value)
        if line is not None:
            assert f"line {line}:" in str(err.value)
    with pytest.raises(FileNotFoundError, match="not found"):
        ForgetRequest.from_file("users", tmp_path / "nope.txt", ds)


def test_request_options_are_checked():
    with pytest.raises(ValueError, match="item requests only"):
        ForgetRequest("users", [1], remove_items=True)
    with pytest.raises(ValueError, match="needs remove_items"):
        ForgetRequest("items", [1], zero_features=True)
    with pytest.raises(ValueError, match=r"\[2, N\]"):
        ForgetRequest("interactions", [1, 2, 3])


def test_removed_items_leave_catalogue_features_and_splits(tiny_dataset):
    ds = tiny_dataset
    items = torch.tensor([2, 5, 11])
    req = ForgetRequest("items", items, remove_items=True, zero_features=True)
    retain_ds = req.apply(ds)
    assert torch.equal(retain_ds.excluded_items, items)
    for m in ds.modalities:
        assert retain_ds.features[m][items].abs().sum() == 0
        assert ds.features[m][items].abs().sum() > 0  # original untouched
        # The kNN graph is recomputed from the zeroed features.
        ei, _ = retain_ds.knn_graph(m)
        old, _ = ds.knn_graph(m)
        assert not torch.equal(ei, old)
    for split in ("valid", "test"):
        assert not torch.isin(retain_ds.split_edge_index(split)[1],
                              items).any()
    assert not torch.isin(retain_ds.train_edge_index[1], items).any()
    model = create_model("mf", retain_ds)
    users = torch.arange(ds.num_users)
    ranked = Evaluator(retain_ds).rank(model, users, 20)
    assert not torch.isin(ranked, items).any()
    # Kept in the catalogue (default): cold items, still rankable.
    kept = ForgetRequest("items", items).apply(ds)
    assert getattr(kept, "excluded_items", None) is None
    assert torch.equal(kept.features[ds.modalities[0]],
                       ds.features[ds.modalities[0]])


# ---------------------------------------------------------------- graphs
def _interaction_tensors(model, num_users, num_items):
    r"""Every tensor a model holds that can encode user-item edges."""
    n = num_users + num_items
    seen = {}
    for mod_name, module in model.named_modules():
        tensors = dict(module.named_buffers(recurse=False))
        tensors.update({k: v for k, v in vars(module).items()
                        if isinstance(v, torch.Tensor)})
        for name, t in tensors.items():
            if t is None:
                continue
            if t.layout != torch.strided and tuple(t.shape) == (n, n):
                seen[f"{mod_name}.{name}"] = ("adj", t)
            elif (t.layout == torch.strided and t.dtype == torch.long
                  and t.dim() == 2 and t.size(0) == 2):
                seen[f"{mod_name}.{name}"] = ("edges", t)
    return seen


@pytest.mark.parametrize("name", list_models())
def test_rebuilt_graphs_hold_no_forget_edge(tiny_dataset, name):
    ds = tiny_dataset
    model = create_model(name, ds)
    req = ForgetRequest.random("users", 0.1, ds, seed=1)
    forget, retain = req.split(ds)
    retain_ds = req.apply(ds)
    model.on_train_graph_change(retain_ds)
    model.train()
    model.on_epoch_start(0)
    model.embeddings()  # draws per-epoch graphs (edge pruning)
    U = ds.num_users
    forget_pairs = _pairs(forget)
    found = _interaction_tensors(model, ds.num_users, ds.num_items)
    if model.__class__.__name__ in ("LightGCN", "FREEDOM"):
        assert found, "no adjacency buffer found"
    for key, (kind, t) in found.items():
        if kind == "adj":
            idx = t.to_sparse_coo().coalesce().indices()
            u, i = idx[0], idx[1] - U
            keep = (u < U) & (i >= 0)
            pairs = _pairs(torch.stack([u[keep], i[keep]]))
        else:
            pairs = _pairs(t)
        assert not pairs & forget_pairs, f"{name}: {key} keeps forget edges"
        if kind == "adj" and key.endswith("adj") and "masked" not in key:
            assert pairs == _pairs(retain), key


# -------------------------------------------------------------- the loop
_CFG = TrainConfig(epochs=25, batch_size=256, learning_rate=0.02,
                   patience=100, seed=0)


@pytest.fixture(scope="module")
def trained_mf_state(tiny_dataset):
    # Full-batch BPR without per-epoch evaluation: fast, and it memorises.
    from mmgraph.data import NegativeSampler
    torch.manual_seed(0)
    ds = tiny_dataset
    model = create_model("mf", ds)
    users, pos = ds.train_edge_index
    sampler = NegativeSampler(ds.train_edge_index, ds.num_users,
                              ds.num_items)
    objective = create_objective("bpr", model, ds)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(150):
        loss = objective(model, Batch(users, pos, sampler.sample(users)))
        opt.zero_grad()
        loss["loss"].backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _trained(ds, state):
    model = create_model("mf", ds)
    model.load_state_dict(state)
    return model, _CFG


def _auc(model, edges, ds, exclude):
    r"""Fraction of (pair, unobserved item) orders that rank the pair
    higher, per the full score matrix."""
    with torch.no_grad():
        model.eval()
        scores = model.score(torch.arange(ds.num_users))
    seen = torch.zeros(ds.num_users, ds.num_items, dtype=torch.bool)
    seen[exclude[0], exclude[1]] = True
    s = scores[edges[0], edges[1]].unsqueeze(1)
    rows = scores[edges[0]]
    free = ~seen[edges[0]]
    return ((s > rows) & free).sum().item() / free.sum().item()


def test_unlearning_forgets_and_keeps_the_retained_order(tiny_dataset,
                                                        trained_mf_state):
    ds = tiny_dataset
    model, cfg = _trained(ds, trained_mf_state)
    req = ForgetRequest.random("interactions", 0.1, ds, seed=0)
    forget, retain = req.split(ds)
    full = ds.train_edge_index
    before_r = _auc(model, retain, ds, full)
    before_f = _auc(model, forget, ds, full)
    res = Unlearner(model, ds, req, config=cfg, epochs=6, patience=6,
                    batch_size=32, retain_batch_size=256, learning_rate=0.05,
                    target_forget=0.0, valid_tolerance=1.0,
                    show_progress=False).fit()
    after_r = _auc(model, retain, ds, full)
    after_f = _auc(model, forget, ds, full)
    assert before_f > 0.99 and after_f < 0.5
    assert after_r > before_r - 0.05
    assert res["best_epoch"] >= 0 and res["unlearn"]["forget_edges"] == \
        forget.size(1)


def test_stopping_rule_respects_the_validation_tolerance(tiny_dataset,
                                                        trained_mf_state):
    ds = tiny_dataset
    model, cfg = _trained(ds, trained_mf_state)
    req = ForgetRequest.random("users", 0.2, ds, seed=0)
    un = Unlearner(model, ds, req, config=cfg, epochs=8, patience=8,
                   alpha=1.0, learning_rate=0.2, batch_size=16,
                   forget_side="both",
                   valid_tolerance=0.0, target_forget=0.0,
                   show_progress=False)
    res = un.fit()
    hist = res["history"]
    v0 = hist[0]["valid"]["recall@20"]
    # Pure reverse BPR at a large step hurts validation: the loop stops at
    # the first inadmissible epoch and keeps an admissible state.
    assert "validation" in res["unlearn"]["stop_reason"]
    assert hist[-1]["valid"]["recall@20"] < v0
    sel = next(h for h in hist if h["epoch"] == res["best_epoch"])
    assert sel["valid"]["recall@20"] >= v0


def test_epoch_lines_show_the_forget_score(tiny_dataset, trained_mf_state,
                                          caplog):
    # Without a progress bar each unlearning epoch is one log line; it
    # carries the forget score the stopping rule watches.
    ds = tiny_dataset
    model, cfg = _trained(ds, trained_mf_state)
    req = ForgetRequest.random("users", 0.2, ds, seed=0)
    un = Unlearner(model, ds, req, config=cfg, epochs=2, patience=2,
                   batch_size=16, show_progress=False)
    with caplog.at_level("INFO", logger="mmgraph"):
        res = un.fit()
    lines = [r.getMessage() for r in caplog.records
             if r.getMessage().startswith("epoch ")]
    assert lines, "no epoch line was logged"
    last = res["history"][-1]
    assert f"forget recall@20 {last['forget']['recall@20']:.4f}" in lines[-1]


def test_unlearned_run_folder_reloads_the_retain_dataset(tiny_dataset,
                                                        tmp_path):
    from mmgraph.runs import load_run
    ds = tiny_dataset
    model, cfg = create_model("lightgcn", ds, n_layers=1), _CFG
    req = ForgetRequest.random("items", 0.1, ds, seed=0, remove_items=True)
    out = tmp_path / "unlearned"
    folder = RunFolder(out)
    rel = folder.write_requests([req])
    un = Unlearner(model, ds, req, config=cfg, epochs=2,
                   extra_results={"config": {"model": model.hparams,
                                             "train": cfg.to_dict()},
                                  "data": "tiny", "unlearn_request": rel},
                   callbacks=folder.callbacks(), show_progress=False)
    res = un.fit()
    saved = json.loads((out / "results.json").read_text())
    assert saved["unlearn_request"] == REQUEST_FILE
    assert saved["model"] == "lightgcn" and "test" in saved
    assert load_requests(out / REQUEST_FILE)[0].ids.tolist() == \
        req.ids.tolist()
    rebuilt = apply_saved_request(ds, out)
    assert torch.equal(rebuilt.train_edge_index,
                       un.retain_dataset.train_edge_index)
    assert torch.equal(rebuilt.excluded_items, req.ids)
    loaded, _, _ = load_run(out, dataset=rebuilt)
    assert torch.equal(loaded.adj.to_dense(),
                       un.model.adj.to_dense())
    m = unlearning_metrics(loaded, rebuilt, un.forget_edge_index,
                           metrics=["recall"], topk=[20])
    assert m["test"]["recall@20"] == pytest.approx(res["test"]["recall@20"])
    assert set(m) == {"forget", "valid", "test"}


def test_cli_unlearn_writes_the_comparison(tmp_path, capsys):
    from mmgraph.cli import main
    from mmgraph.data import make_synthetic
    from mmgraph.experiment import train_model
    from mmgraph.runs import load_run
    folder = tmp_path / "data"
    make_synthetic(out=folder, num_users=80, num_items=50, avg_degree=8,
                   seed=0)
    run = tmp_path / "run"
    train_model("mf", str(folder), overrides={"epochs": 3, "batch_size": 256},
                out_dir=run, show_progress=False)
    out = tmp_path / "unlearned"
    assert main(["unlearn", "--run", str(run), "--forget-fraction",
                 "users:0.1", "--gold", "--finetune", "--epochs", "2",
                 "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "forget recall@20" in printed and "gold" in printed
    summary = json.loads((out / "unlearn.json").read_text())
    assert set(summary["models"]) == {"original", "unlearned", "finetune",
                                      "gold"}
    for entry in summary["models"].values():
        assert {"forget", "valid", "test", "mia_auc", "seconds",
                "cpu_seconds"} <= set(entry)
        assert 0.0 <= entry["mia_auc"] <= 1.0
    for name in ("unlearned", "finetune", "gold"):
        assert summary["models"][name]["cpu_seconds"] > 0
    assert summary["method"] == summary["settings"]["method"] == "mmrecun"
    assert "MIA AUC" in printed and "over-forgetting" in printed
    assert summary["request"]["kind"] == "users"
    assert summary["models"]["gold"]["epochs"] == 3  # the run's epoch cap
    # The gold and unlearned folders reload onto the retain dataset.
    for sub in (out, out / "gold", out / "finetune"):
        from mmgraph.data import load_dataset
        ds = apply_saved_request(load_dataset(str(folder)), sub)
        assert ds.train_edge_index.size(1) == \
            summary["request"]["retain_edges"]
        load_run(sub, dataset=ds)
    # A chained request applies on top of the first one.
    out2 = tmp_path / "twice"
    assert main(["unlearn", "--run", str(out), "--forget-fraction",
                 "interactions:0.1", "--epochs", "1", "--out", str(out2),
                 "--method", "targeted", "--no-progress"]) == 0
    assert len(load_requests(out2 / REQUEST_FILE)) == 2
    assert json.loads((out2 / "unlearn.json").read_text())["method"] == \
        "targeted"
    # A second method on the same request reuses that gold run: the same
    # gold numbers, no retraining; a gold of another request is refused.
    reuse = tmp_path / "targeted"
    assert main(["unlearn", "--run", str(run), "--forget-fraction",
                 "users:0.1", "--method", "targeted", "--epochs", "1",
                 "--gold-from", str(out / "gold"), "--out", str(reuse),
                 "--no-progress"]) == 0
    reused = json.loads((reuse / "unlearn.json").read_text())["models"]
    gold = summary["models"]["gold"]
    assert reused["gold"]["forget"] == pytest.approx(gold["forget"])
    assert reused["gold"]["mia_auc"] == pytest.approx(gold["mia_auc"])
    assert reused["gold"]["epochs"] == 3 and reused["gold"]["cpu_seconds"] > 0
    assert reused["gold"]["run"] == str((out / "gold").resolve())
    assert not (reuse / "gold").exists()
    capsys.readouterr()
    assert main(["unlearn", "--run", str(run), "--forget-fraction",
                 "users:0.1", "--seed", "1", "--gold-from", str(out / "gold"),
                 "--out", str(tmp_path / "other"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--gold-from" in err and str(out / "gold") in err
    assert "other ids" in err
    assert main(["unlearn", "--run", str(run), "--forget-fraction",
                 "users:0.1", "--gold", "--gold-from", str(out / "gold"),
                 "--out", str(tmp_path / "both"), "--no-progress"]) == 2
    bad = tmp_path / "bad.txt"
    bad.write_text("1\nx\n")
    assert main(["unlearn", "--run", str(run), "--forget-users", str(bad),
                 "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert f"{bad}, line 2" in capsys.readouterr().err


def test_gold_dir_resumes_an_interrupted_gold_and_outlives_the_cell(
        tmp_path, monkeypatch):
    from mmgraph.data import make_synthetic
    from mmgraph.errors import RunFolderError
    from mmgraph.experiment import train_model
    from mmgraph.runs import unlearn_run
    from mmgraph.train import Trainer
    folder = tmp_path / "data"
    make_synthetic(out=folder, num_users=80, num_items=50, avg_degree=8,
                   seed=0)
    run = tmp_path / "run"
    train_model("mf", str(folder), overrides={"epochs": 4, "batch_size": 256,
                                              "patience": 100},
                out_dir=run, show_progress=False)
    gold_dir = tmp_path / "users" / "gold"

    def request(ds):
        return ForgetRequest.random("users", 0.1, ds, seed=0)

    def unlearn(out, **kw):
        return unlearn_run(run, out, request, show_progress=False,
                           epochs=1, **kw)

    # A stop in the gold's epoch 2: it is retrained before unlearning, so
    # nothing of the cell exists yet, and its folder keeps a checkpoint.
    trained, train_epoch = [], Trainer.train_epoch

    def crash_at(at):
        def crash(self, epoch):
            if epoch == at and "source_run" not in self.extra_results:
                raise KeyboardInterrupt
            return train_epoch(self, epoch)
        return crash

    monkeypatch.setattr(Trainer, "train_epoch", crash_at(0))
    with pytest.raises(KeyboardInterrupt):  # before any checkpoint
        unlearn(tmp_path / "cell", gold_dir=gold_dir)
    assert not (gold_dir / "checkpoint.pt").exists()
    monkeypatch.setattr(Trainer, "train_epoch", crash_at(2))
    with pytest.raises(KeyboardInterrupt):  # started over, stopped again
        unlearn(tmp_path / "cell", gold_dir=gold_dir)
    assert (gold_dir / "checkpoint.pt").is_file()
    assert not (gold_dir / "results.json").exists() or not json.loads(
        (gold_dir / "results.json").read_text())["finished"]
    assert not (tmp_path / "cell" / "unlearn.json").exists()

    def record(self, epoch):
        if "source_run" not in self.extra_results:  # the gold's trainer
            trained.append(epoch)
        return train_epoch(self, epoch)

    monkeypatch.setattr(Trainer, "train_epoch", record)
    first = unlearn(tmp_path / "cell", gold_dir=gold_dir)
    assert trained == [2, 3]  # resumed, not started over
    gold = first["models"]["gold"]
    assert gold["epochs"] == 4 and gold["run"] == str(gold_dir.resolve())
    assert gold["cpu_seconds"] > 0 and first["speedup_vs_gold"] > 0
    # a second method measures the finished gold as is
    second = unlearn(tmp_path / "cell2", gold_dir=gold_dir,
                     method="targeted")
    assert trained == [2, 3]
    assert second["models"]["gold"]["forget"] == gold["forget"]
    # another request's gold, or a folder of something else, is refused
    with pytest.raises(RunFolderError, match="--gold-dir: .*other ids"):
        unlearn_run(run, tmp_path / "cell3",
                    lambda ds: ForgetRequest.random("users", 0.1, ds, seed=1),
                    gold_dir=gold_dir, show_progress=False, epochs=1)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("x")
    with pytest.raises(RunFolderError, match="no finished or interrupted"):
        unlearn(tmp_path / "cell4", gold_dir=tmp_path / "junk")
    with pytest.raises(ValueError, match="one of gold"):
        unlearn(tmp_path / "cell5", gold=True, gold_dir=gold_dir)
    # --gold retrains in out/gold over a finished gold an earlier run left
    for seed in (1, 0):
        summary = unlearn_run(
            run, tmp_path / "cell6",
            lambda ds, seed=seed: ForgetRequest.random("users", 0.1, ds,
                                                       seed=seed),
            gold=True, show_progress=False, epochs=1)
        ids = load_requests(tmp_path / "cell6" / "gold" /
                            REQUEST_FILE)[-1].ids
        assert summary["models"]["gold"]["epochs"] == 4
        assert sorted(ids) == sorted(load_requests(
            tmp_path / "cell6" / REQUEST_FILE)[-1].ids)
    # the same gold as --gold-dir's, which stopped and resumed
    assert summary["models"]["gold"]["forget"] == pytest.approx(
        gold["forget"])
    # the CLI refuses a gold folder inside --out, which --overwrite clears
    from mmgraph.cli import main
    assert main(["unlearn", "--run", str(run), "--forget-fraction",
                 "users:0.1", "--gold-dir", str(tmp_path / "c" / "gold"),
                 "--out", str(tmp_path / "c"), "--no-progress"]) == 2
    assert main(["unlearn", "--run", str(run), "--forget-fraction",
                 "users:0.1", "--gold-dir", str(gold_dir), "--gold",
                 "--out", str(tmp_path / "d"), "--no-progress"]) == 2
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_reprs(tiny_dataset):
    model = create_model("mf", tiny_dataset)
    req = ForgetRequest("items", [3, 1, 3], remove_items=True,
                        source="f.txt")
    assert repr(req) == ("ForgetRequest(items=2, remove_items=True, "
                         "source='f.txt')")
    un = Unlearner(model, tiny_dataset, req, alpha=0.3, epochs=4)
    assert repr(un) == ("Unlearner(MF, ForgetRequest(items=2, "
                        "remove_items=True, source='f.txt'), "
                        "method='mmrecun', alpha=0.3, retain_loss='bpr', "
                        "epochs=4)")


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_unlearns(tiny_dataset, name):
    ds = tiny_dataset
    torch.manual_seed(0)
    model = create_model(name, ds)
    req = ForgetRequest.random("interactions", 0.1, ds, seed=0)
    cfg = TrainConfig(batch_size=256, topk=[20], metrics=["recall"])
    un = Unlearner(model, ds, req, config=cfg, epochs=1, min_steps=20,
                   batch_size=32, retain_batch_size=64, target_forget=0.0,
                   valid_tolerance=1.0, show_progress=False)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    res = un.fit()
    assert res["best_epoch"] == 0 and len(res["history"]) == 2
    assert torch.isfinite(torch.tensor(res["history"][1]["loss"]))
    changed = [k for k, v in model.state_dict().items()
               if v.dtype.is_floating_point and not torch.equal(v, before[k])]
    assert changed, f"{name}: no parameter moved"


@pytest.mark.parametrize("side", ["user", "item"])
def test_forget_side_detaches_the_other_side(tiny_dataset, side):
    model = create_model("mf", tiny_dataset, reg_weight=0.0)
    users, pos = tiny_dataset.train_edge_index[:, :16]
    neg = torch.randint(tiny_dataset.num_items, (16, 1))
    obj = UnlearnObjective(model, tiny_dataset, alpha=1.0, forget_side=side)
    flags = torch.ones(16, dtype=torch.bool)
    obj(model, UnlearnBatch(users, pos, neg, flags))["loss"].backward()
    moved, fixed = (model.user_emb, model.item_emb) if side == "user" else \
        (model.item_emb, model.user_emb)
    assert moved.weight.grad.abs().sum() > 0
    assert fixed.weight.grad is None or fixed.weight.grad.abs().sum() == 0
    if side == "item":  # only the forgotten positives move, not negatives
        rows = moved.weight.grad.abs().sum(1).nonzero().view(-1)
        assert set(rows.tolist()) <= set(pos.tolist())
    assert "forget_side" in repr(obj)
    un = Unlearner(model, tiny_dataset, ForgetRequest(f"{side}s", [1]),
                   method="targeted")
    assert un.forget_side == side  # 'auto' follows the request kind


def test_a_harmful_forget_rate_backs_off(tiny_dataset, trained_mf_state):
    ds = tiny_dataset
    model, cfg = _trained(ds, trained_mf_state)
    req = ForgetRequest.random("interactions", 0.2, ds, seed=0)
    # A forget step of 5.0 on shared representations wrecks validation; the
    # loop returns to the selected state with a 10x smaller forget rate.
    un = Unlearner(model, ds, req, config=cfg, learning_rate=0.05,
                   forget_learning_rate=5.0, epochs=4, patience=4,
                   batch_size=32, target_forget=0.0, valid_tolerance=0.02,
                   show_progress=False)
    res = un.fit()
    hist = res["history"]
    assert res["unlearn"]["backoffs"] >= 1
    assert hist[1]["backoff"] == pytest.approx(0.5)
    v0 = hist[0]["valid"]["recall@20"]
    sel = next(h for h in hist if h["epoch"] == res["best_epoch"])
    assert sel["valid"]["recall@20"] >= 0.98 * v0


def test_forget_metrics_see_removed_items(tiny_dataset, trained_mf_state):
    # Removed items are masked from rankings, but the forget metrics must
    # still show what the model knows about them.
    ds = tiny_dataset
    model, _ = _trained(ds, trained_mf_state)
    req = ForgetRequest("items", [2, 5, 11], remove_items=True)
    forget, _ = req.split(ds)
    m = unlearning_metrics(model, req.apply(ds), forget, ds.train_edge_index,
                           metrics=["recall"], topk=[20])
    assert m["forget"]["recall@20"] > 0.9


def test_request_files_in_raw_ids(tmp_path):
    # A take-down notice names items by the data's own codes: --raw-ids
    # maps them through the folder's id maps.
    from mmgraph.cli import main
    from mmgraph.data import load_dataset, make_synthetic
    from mmgraph.data.formats import write_id_mapping
    folder = tmp_path / "data"
    make_synthetic(out=folder, num_users=60, num_items=40, avg_degree=8,
                   seed=0)
    write_id_mapping(folder / "u_id_mapping.csv",
                     [f"U{k:03d}" for k in range(60)], "user_id", "userID")
    write_id_mapping(folder / "i_id_mapping.csv",
                     [f"B0{k:03d}" for k in range(40)], "asin", "itemID")
    ds = load_dataset(str(folder))
    u0, i0 = ds.train_edge_index[:, 0].tolist()
    items = tmp_path / "takedown.txt"
    items.write_text("B0007\nB0003\n")
    req = ForgetRequest.from_file("items", items, ds, raw_ids=True)
    assert req.ids.tolist() == [3, 7]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"U{u0:03d} B0{i0:03d}\n")
    req = ForgetRequest.from_file("interactions", pairs, ds, raw_ids=True)
    assert _pairs(req.ids) == {(u0, i0)}
    # an unknown code names the line and the nearest known one
    items.write_text("B0007\nB0O07\n")
    with pytest.raises(DataFormatError, match=r"line 2: unknown raw item id "
                       r"'B0O07'.*Did you mean"):
        ForgetRequest.from_file("items", items, ds, raw_ids=True)
    # without --raw-ids a code is not an integer id, and the error says so
    with pytest.raises(DataFormatError, match="a raw id\\? pass --raw-ids"):
        ForgetRequest.from_file("items", items, ds)
    # a dataset without maps has no raw ids
    plain = load_dataset("synthetic", num_users=30, num_items=20, seed=0)
    with pytest.raises(DataFormatError, match="i_id_mapping.csv"):
        ForgetRequest.from_file("items", items, plain, raw_ids=True)
    # the CLI: --raw-ids with a file, not with a random fraction
    from mmgraph.experiment import train_model
    run = tmp_path / "run"
    train_model("mf", str(folder), overrides={"epochs": 1}, out_dir=run,
                show_progress=False)
    items.write_text("B0007\n")
    assert main(["unlearn", "--run", str(run), "--forget-items", str(items),
                 "--raw-ids", "--epochs", "1", "--out",
                 str(tmp_path / "out"), "--no-progress"]) == 0
    saved = load_requests(tmp_path / "out" / REQUEST_FILE)[-1]
    assert saved.ids.tolist() == [7]
    assert main(["unlearn", "--run", str(run), "--forget-fraction",
                 "items:0.1", "--raw-ids", "--out", str(tmp_path / "x"),
                 "--no-progress"]) == 2
