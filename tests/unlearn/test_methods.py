r"""The two unlearning methods (``'mmrecun'``, ``'targeted'``), the
gold-referenced target and the closest-to-target selection."""
import copy

import pytest
import torch
from torch_geometric import seed_everything

from mmgraph.models import create_model
from mmgraph.train import Trainer
from mmgraph.train.objectives.reverse_bpr import (UnlearnBatch,
                                                  UnlearnObjective)
from mmgraph.unlearn import ForgetRequest, Unlearner
from mmgraph.unlearn.callbacks import ForgetSelection, UnlearnStopping

_CFG = {"seed": 0, "learning_rate": 0.01, "topk": [10, 20]}


@pytest.fixture(scope="module")
def trained_lightgcn(tiny_dataset):
    seed_everything(0)
    model = create_model("lightgcn", tiny_dataset, n_layers=1)
    Trainer(model, tiny_dataset, {"epochs": 3, "seed": 0},
            show_progress=False).fit()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _model(ds, state, **kw):
    model = create_model("lightgcn", ds, n_layers=1, **kw)
    model.load_state_dict(state)
    return model


def _one_step(ds, state, alpha, method, **kw):
    r"""The parameters after one unlearning step of ``method`` on a fixed
    mixed batch."""
    req = ForgetRequest.random("users", 0.1, ds, seed=0)
    model = _model(ds, state, **kw)
    un = Unlearner(model, ds, req, config=_CFG, method=method, alpha=alpha)
    forget, retain = req.split(ds)
    model.on_train_graph_change(req.apply(ds))
    obj = UnlearnObjective(model, ds, alpha=alpha,
                           forget_side=un.forget_side,
                           scale_model_terms=method == "mmrecun")
    trainer = Trainer(model, ds, _CFG, objective=obj,
                      reset_parameters=False, show_progress=False)
    if un.forget_learning_rate != trainer.config.learning_rate:
        trainer.term_optimizers["weighted_forget"] = torch.optim.Adam(
            [p for p in model.parameters()], lr=un.forget_learning_rate)
    g = torch.Generator().manual_seed(0)
    f = forget[:, :16]
    r = retain[:, torch.randperm(retain.size(1), generator=g)[:64]]
    users = torch.cat([r[0], f[0]])
    neg = torch.randint(0, ds.num_items, (users.numel(), 1), generator=g)
    flags = torch.cat([torch.zeros(64, dtype=torch.bool),
                       torch.ones(f.size(1), dtype=torch.bool)])
    trainer.training_step(UnlearnBatch(users, torch.cat([r[1], f[1]]), neg,
                                       flags))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_alpha_changes_the_mmrecun_step(tiny_dataset, trained_lightgcn):
    a = _one_step(tiny_dataset, trained_lightgcn, 0.2, "mmrecun",
                  reg_weight=0.0)
    b = _one_step(tiny_dataset, trained_lightgcn, 0.8, "mmrecun",
                  reg_weight=0.0)
    # One optimiser: alpha weighs forget against retain gradients in the
    # same Adam step, so where they meet the step's direction changes (by up
    # to 2 x lr = 0.02 per entry).
    assert _changed(a, b) > 0.05
    assert max((a[k] - b[k]).abs().max().item() for k in a) > 0.01


def _changed(a, b):
    r"""Fraction of parameter entries that differ by more than 1e-3."""
    diff = torch.cat([(a[k] - b[k]).abs().view(-1) for k in a])
    return (diff > 1e-3).float().mean().item()


def test_alpha_does_not_change_the_targeted_step(tiny_dataset,
                                                 trained_lightgcn):
    # The flaw 'mmrecun' fixes: Adam is invariant to the constant scale of
    # each separately stepped term, so without model terms (reg_weight=0)
    # the targeted method ignores alpha.
    a = _one_step(tiny_dataset, trained_lightgcn, 0.2, "targeted",
                  reg_weight=0.0)
    b = _one_step(tiny_dataset, trained_lightgcn, 0.8, "targeted",
                  reg_weight=0.0)
    # Up to Adam's eps on entries with near-zero gradients.
    assert _changed(a, b) < 0.01


def test_mmrecun_objective_scales_the_model_terms(tiny_dataset):
    model = create_model("lightgcn", tiny_dataset, reg_weight=1.0)
    users = torch.tensor([0, 1, 2, 3])
    batch = UnlearnBatch(users, torch.tensor([1, 2, 3, 4]),
                         torch.tensor([[5], [6], [7], [8]]),
                         torch.tensor([False, False, True, True]))
    alpha = 0.3
    for scale in (True, False):
        out = UnlearnObjective(model, tiny_dataset, alpha=alpha,
                               scale_model_terms=scale)(model, batch)
        l_f, l_r, extra = out["forget"], out["retain"], out["extra"]
        expected = alpha * l_f + (1 - alpha) * (l_r + extra) if scale \
            else alpha * l_f + (1 - alpha) * l_r + extra
        assert extra > 0
        assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_method_defaults(tiny_dataset, trained_lightgcn):
    ds = tiny_dataset
    req = ForgetRequest.random("users", 0.1, ds, seed=0)
    m = Unlearner(_model(ds, trained_lightgcn), ds, req, config=_CFG)
    assert (m.method, m.forget_side, m.target_forget, m.selection) == \
        ("mmrecun", "both", "estimate", "closest")
    assert m.forget_learning_rate == m.config.learning_rate
    t = Unlearner(_model(ds, trained_lightgcn), ds, req, config=_CFG,
                  method="targeted")
    assert (t.forget_side, t.target_forget, t.selection) == \
        ("user", "chance", "lowest")
    assert t.forget_learning_rate == pytest.approx(
        10 * t.config.learning_rate)
    with pytest.raises(ValueError, match="method"):
        Unlearner(_model(ds, trained_lightgcn), ds, req, method="sisa")
    with pytest.raises(ValueError, match="target_forget"):
        Unlearner(_model(ds, trained_lightgcn), ds, req, target_forget="x")


def test_user_requests_estimate_with_fresh_rows(tiny_dataset,
                                                trained_lightgcn):
    ds = tiny_dataset
    req = ForgetRequest.random("users", 0.2, ds, seed=0)
    res = Unlearner(_model(ds, trained_lightgcn), ds, req, config=_CFG,
                    epochs=2, show_progress=False).fit()
    s = res["unlearn"]
    assert s["target_rule"] == "estimate" and s["selection"] == "closest"
    assert s["target_estimate"] == "fresh_rows"
    assert s["target_forget"] == pytest.approx(s["reference"]["recall@20"])
    assert s["over_forgetting"] == pytest.approx(
        max(0.0, s["target_forget"] - s["forget"]["recall@20"]))


def _naive_recall(scores, targets, masked, k=20):
    r"""Mean over users of hits@k / |targets|, by hand."""
    scores = scores.clone()
    for u, i in masked.t().tolist():
        scores[u, i] = -float("inf")
    per_user = {}
    for u, i in targets.t().tolist():
        per_user.setdefault(u, set()).add(i)
    recalls = []
    for u, items in per_user.items():
        top = set(torch.topk(scores[u], k).indices.tolist())
        recalls.append(len(top & items) / len(items))
    return sum(recalls) / len(recalls)


def test_interaction_requests_estimate_with_held_out_pairs(tiny_dataset,
                                                           trained_lightgcn):
    # The target: the starting model's recall@20 on the original validation
    # pairs of the forgotten pairs' users, the original training pairs
    # masked (a naive ranking here).
    ds = tiny_dataset
    req = ForgetRequest.random("interactions", 0.1, ds, seed=0)
    un = Unlearner(_model(ds, trained_lightgcn), ds, req, config=_CFG,
                   epochs=1, show_progress=False)
    ref = un.reference_edge_index()
    users = torch.unique(req.ids[0])
    expected_ref = ds.valid_edge_index[
        :, torch.isin(ds.valid_edge_index[0], users)]
    assert torch.equal(ref, expected_ref) and ref.size(1) > 0
    start = _model(ds, trained_lightgcn)
    start.on_train_graph_change(req.apply(ds))
    start.eval()
    with torch.no_grad():
        u, i = start.embeddings()
        scores = u @ i.t()
    by_hand = _naive_recall(scores, ref, ds.train_edge_index)
    res = un.fit()["unlearn"]
    assert res["target_estimate"] == "held_out_pairs"
    assert res["target_forget"] == pytest.approx(by_hand, abs=1e-6)
    # masking the training pairs matters: without it the estimate differs
    assert by_hand != pytest.approx(
        _naive_recall(scores, ref, torch.zeros(2, 0, dtype=torch.long)))


def test_fresh_rows_estimate_reinitialises_only_the_requested_rows(
        tiny_dataset, trained_lightgcn):
    from mmgraph.evaluation import Evaluator
    from mmgraph.unlearn.metrics import all_items_view, fresh_rows_forget
    ds = tiny_dataset
    req = ForgetRequest.random("users", 0.2, ds, seed=0)
    model = _model(ds, trained_lightgcn)
    forget, _ = req.split(ds)
    retain = req.apply(ds)
    model.on_train_graph_change(retain)
    ev = Evaluator(all_items_view(retain))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trained = ev.evaluate(model, forget)["recall@20"]
    est = fresh_rows_forget(model, ev, forget, "users", req.ids,
                            ds.num_users, ds.num_items, draws=2)
    # The state comes back bit for bit, and the estimate equals a by-hand
    # re-initialisation of the requested user rows.
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    by_hand = []
    for draw in range(2):
        torch.manual_seed(draw)
        model.reset_parameters()
        fresh = model.user_emb.weight.detach().clone()
        model.load_state_dict(before)
        with torch.no_grad():
            model.user_emb.weight[req.ids] = fresh[req.ids]
        by_hand.append(ev.evaluate(model, forget)["recall@20"])
        model.load_state_dict(before)
    assert est["recall@20"] == pytest.approx(sum(by_hand) / 2)
    assert est["recall@20"] != pytest.approx(trained)  # the rows did change
    with pytest.raises(ValueError, match="as many users as items"):
        fresh_rows_forget(model, ev, forget, "users", req.ids, 5, 5)


class _Fake:
    r"""The trainer attributes the selection reads."""

    def __init__(self):
        self.best_epoch, self.best_score = -1, 0.5
        self.marked = []

    def mark_best(self, record):
        self.best_epoch = record["epoch"]
        self.best_score = record["valid"]["recall@20"]
        self.marked.append(record["epoch"])

    class config:
        valid_metric = "recall@20"


@pytest.mark.parametrize("rule,expected", [("closest", [1, 2]),
                                           ("lowest", [1, 2, 3])])
def test_selection_rules(rule, expected):
    sel = ForgetSelection(torch.zeros(2, 1, dtype=torch.long), 0.1, rule)
    sel.start_valid, sel.target = 0.5, 0.10
    sel.best_forget = {"recall@20": 0.40}
    sel._forget = lambda trainer: {"recall@20": forgets.pop(0)}
    trainer = _Fake()
    # Epochs 1..4 (target 0.10): forget 0.20, 0.12, 0.02 (over-forgets),
    # 0.10 with an inadmissible validation.
    forgets = [0.20, 0.12, 0.02, 0.10]
    valids = [0.5, 0.5, 0.5, 0.3]
    for epoch, v in zip(range(1, 5), valids):
        sel.on_epoch_end(trainer, epoch, {"epoch": epoch,
                                          "valid": {"recall@20": v},
                                          "eval_seconds": 0.0})
    assert trainer.marked == expected


def test_balanced_rule_prefers_epochs_the_attack_cannot_tell_apart():
    nonmembers = torch.zeros(2, 1, dtype=torch.long)
    sel = ForgetSelection(torch.zeros(2, 1, dtype=torch.long), 0.1,
                          "balanced", mia_nonmembers=nonmembers,
                          mia_tolerance=0.05)
    sel.start_valid, sel.target = 0.5, 0.10
    sel.best_forget = {"recall@20": 0.40, "mia_auc": 0.70}
    # Epochs 1..5 (target 0.10): the attack AUC falls as forgetting goes
    # on. Epoch 2 is inside the tolerance (0.53), epoch 3 too and closer to
    # the target; epoch 4 meets the target but over-shoots the attack
    # (0.40), epoch 5 is inside both but inadmissible.
    forgets = [(0.30, 0.62), (0.20, 0.53), (0.15, 0.47), (0.10, 0.40),
               (0.11, 0.50)]
    valids = [0.5, 0.5, 0.5, 0.5, 0.3]
    sel._forget = lambda trainer: dict(zip(("recall@20", "mia_auc"),
                                           forgets.pop(0)))
    trainer = _Fake()
    for epoch, v in enumerate(valids, 1):
        sel.on_epoch_end(trainer, epoch, {"epoch": epoch,
                                          "valid": {"recall@20": v},
                                          "eval_seconds": 0.0})
    # 1: nearer 0.5 than epoch -1; 2: inside; 3: inside and closer.
    assert trainer.marked == [1, 2, 3]
    with pytest.raises(ValueError, match="non-member"):
        ForgetSelection(torch.zeros(2, 1, dtype=torch.long), rule="balanced")


def test_balanced_selection_end_to_end_records_the_attack(tiny_dataset,
                                                          trained_lightgcn):
    ds = tiny_dataset
    req = ForgetRequest.random("users", 0.2, ds, seed=0)
    model = _model(ds, trained_lightgcn)
    res = Unlearner(model, ds, req, config=_CFG, epochs=3,
                    selection="balanced", seed=3, show_progress=False).fit()
    assert res["unlearn"]["selection"] == "balanced"
    for record in res["history"]:
        assert 0.0 <= record["forget"]["mia_auc"] <= 1.0


def test_targets_are_checked():
    sel = ForgetSelection(torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="target_forget"):
        UnlearnStopping(sel, "gold")
    with pytest.raises(ValueError, match="rule"):
        ForgetSelection(torch.zeros(2, 1, dtype=torch.long), rule="best")


def test_cli_constants_match_the_library():
    from mmgraph.cli import unlearn as cli_unlearn
    from mmgraph.unlearn import METHODS
    from mmgraph.unlearn.callbacks import SELECTIONS, TARGETS
    assert cli_unlearn.METHODS == METHODS
    assert cli_unlearn.TARGETS == TARGETS
    assert cli_unlearn.SELECTIONS == SELECTIONS


def test_reinit_rows_starts_from_fresh_rows_and_is_recorded(tiny_dataset,
                                                           trained_lightgcn):
    ds = tiny_dataset
    req = ForgetRequest.random("users", 0.2, ds, seed=0)
    model = _model(ds, trained_lightgcn)
    before = model.user_emb.weight.detach().clone()
    items_before = model.item_emb.weight.detach().clone()
    # A target every score meets: the loop stops before its first step, so
    # the model is the starting point.
    un = Unlearner(model, ds, req, config=_CFG, epochs=1, reinit_rows=True,
                   target_forget=1.0, seed=3, show_progress=False)
    res = un.fit()
    assert res["unlearn"]["reinit_rows"] == ["user_emb.weight"]
    assert "before any step" in res["unlearn"]["stop_reason"]
    after = model.user_emb.weight.detach()
    # Only the requested rows changed, to the seeded fresh initialisation.
    others = torch.ones(ds.num_users, dtype=torch.bool)
    others[req.ids] = False
    assert torch.equal(after[others], before[others])
    assert torch.equal(model.item_emb.weight.detach(), items_before)
    fresh = torch.empty_like(before)
    torch.manual_seed(3)
    torch.nn.init.xavier_uniform_(fresh)
    assert torch.equal(after[req.ids], fresh[req.ids])
    square = copy.copy(ds)  # as many items as users: a row's side is ambiguous
    square.num_items = ds.num_users
    with pytest.raises(ValueError, match="different numbers of users"):
        Unlearner(_model(ds, trained_lightgcn), square, req, reinit_rows=True)
    with pytest.raises(ValueError, match="reinit_rows applies"):
        Unlearner(_model(ds, trained_lightgcn), ds,
                  ForgetRequest.random("interactions", 0.1, ds, seed=0),
                  reinit_rows=True)


def _mixed_batch(ds, n_retain=12, n_forget=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    edges = ds.train_edge_index[:, :n_retain + n_forget]
    neg = torch.randint(0, ds.num_items, (edges.size(1), 1), generator=g)
    flags = torch.arange(edges.size(1)) >= n_retain
    return UnlearnBatch(edges[0], edges[1], neg, flags)


@pytest.mark.parametrize("name", ["bm3", "cm3"])
def test_native_retain_loss_is_the_models_own_loss(tiny_dataset, name):
    from mmgraph.nn.losses import reverse_bpr_loss
    from mmgraph.train.objectives.native import NativeObjective
    seed_everything(0)
    model = create_model(name, tiny_dataset)
    batch = _mixed_batch(tiny_dataset)
    retain_only = UnlearnBatch(batch.users, batch.pos_items, batch.neg_items,
                               torch.zeros_like(batch.forget))
    # alpha = 0 (fine-tuning): exactly a training step's loss, same draws
    torch.manual_seed(1)
    tuned = UnlearnObjective(model, tiny_dataset, alpha=0.0,
                             retain_loss="native")(model, retain_only)
    torch.manual_seed(1)
    trained = NativeObjective(model, tiny_dataset)(model, retain_only)
    assert tuned["loss"].item() == pytest.approx(trained["loss"].item(),
                                                 rel=1e-6)
    # mixed rows: reverse BPR on the forget rows' scores, the native loss on
    # the retain rows only
    alpha = 0.3
    out = UnlearnObjective(model, tiny_dataset, alpha=alpha,
                           retain_loss="native")(model, batch)
    assert out["loss"].item() == pytest.approx(
        alpha * out["forget"].item() + (1 - alpha) * out["retain"].item(),
        rel=1e-5)
    assert out["extra"].item() == 0.0  # the model's terms are in its loss
    model.eval()  # deterministic scores to check the forget term
    with torch.no_grad():
        u, i = model.embeddings()
        f = batch.forget
        ref = reverse_bpr_loss(
            model.pair_scores(u, i, batch.users[f], batch.pos_items[f]),
            model.pair_scores(u, i, batch.users[f], batch.neg_items[f]))
        got = UnlearnObjective(model, tiny_dataset, alpha=alpha,
                               retain_loss="native")(model, batch)["forget"]
    assert got.item() == pytest.approx(ref.item(), rel=1e-5)


def test_retain_loss_follows_the_training_objective(tiny_dataset,
                                                    trained_lightgcn):
    ds = tiny_dataset
    req = ForgetRequest.random("users", 0.1, ds, seed=0)
    bm3 = create_model("bm3", ds)
    assert Unlearner(bm3, ds, req, config=_CFG).retain_loss == "native"
    assert Unlearner(bm3, ds, req, config={**_CFG, "objective": "bpr"}
                     ).retain_loss == "bpr"
    assert Unlearner(bm3, ds, req, config=_CFG, retain_loss="bpr"
                     ).retain_loss == "bpr"
    lgn = _model(ds, trained_lightgcn)
    assert Unlearner(lgn, ds, req, config=_CFG).retain_loss == "bpr"
    with pytest.raises(ValueError, match="retain_loss"):
        Unlearner(lgn, ds, req, config=_CFG, retain_loss="bce")
    with pytest.raises(ValueError, match="own loss"):
        UnlearnObjective(lgn, ds, retain_loss="native")


def test_native_fine_tuning_end_to_end_records_the_retain_loss(tiny_dataset):
    ds = tiny_dataset
    seed_everything(0)
    model = create_model("bm3", ds)
    Trainer(model, ds, {"epochs": 2, "seed": 0}, show_progress=False).fit()
    req = ForgetRequest.random("users", 0.1, ds, seed=0)
    res = Unlearner(model, ds, req, config={"seed": 0}, alpha=0.0, epochs=2,
                    target_forget=0.0, show_progress=False).fit()
    assert res["unlearn"]["retain_loss"] == "native"
    epochs = res["history"][1:]
    assert len(epochs) == 2
    # alpha = 0: the loss is BM3's own loss on the retain rows, nothing else
    assert all(r["loss"] == pytest.approx(r["retain"]) and r["extra"] == 0
               for r in epochs)


@pytest.mark.parametrize("kind", ["users", "items"])
def test_reinitialize_rows_reaches_every_table_of_the_side(tiny_dataset, kind):
    # Every parameter with a dimension of one entry per user (item) -- dim 0,
    # or dim 1 of a stack of tables like CM3's per-channel user preferences
    # [C, U, d] -- gets fresh values in exactly the requested rows.
    from mmgraph.models import list_models
    from mmgraph.unlearn.metrics import reinitialize_rows
    ds = tiny_dataset
    ids = torch.tensor([1, 4])
    n = ds.num_users if kind == "users" else ds.num_items
    for name in list_models():
        torch.manual_seed(0)
        model = create_model(name, ds)
        with torch.no_grad():  # "trained" values no initialisation draws
            for p in model.parameters():
                p.fill_(7.0)
        touched = reinitialize_rows(model, kind, ids, ds.num_users,
                                    ds.num_items, seed=3)
        for pname, p in model.named_parameters():
            dims = [d for d in range(min(p.dim(), 2)) if p.size(d) in
                    (n, ds.num_users + ds.num_items)]
            if not dims or (p.dim() < 3 and dims[0] != 0):
                assert pname not in touched, (name, pname)
                continue
            rows = ids if p.size(dims[0]) == n else ids + (
                ds.num_users if kind == "items" else 0)
            picked = p.detach().index_select(dims[0], rows)
            rest = torch.ones(p.size(dims[0]), dtype=torch.bool)
            rest[rows] = False
            assert pname in touched, (name, pname)
            assert not torch.all(picked == 7.0), (name, pname)
            assert torch.all(p.detach().index_select(
                dims[0], rest.nonzero().view(-1)) == 7.0), (name, pname)
    cm3 = create_model("cm3", ds)
    assert "user_prefs" in reinitialize_rows(cm3, "users", ids, ds.num_users,
                                             ds.num_items)


@pytest.mark.parametrize("method", ["mmrecun", "targeted"])
def test_the_fit_path_steps_with_the_methods_optimisers(tiny_dataset,
                                                        trained_lightgcn,
                                                        method):
    # The loop as fit() builds it, not a hand-made trainer: 'mmrecun' has
    # one optimiser at the run's rate; 'targeted' a second for the forget
    # term at 10x. A run's schedule and lr_scaling do not reach the loop.
    req = ForgetRequest.random("users", 0.1, tiny_dataset, seed=0)
    cfg = dict(_CFG, lr_scheduler="StepLR",
               lr_scheduler_params={"step_size": 1, "gamma": 0.1},
               lr_scaling="linear")
    un = Unlearner(_model(tiny_dataset, trained_lightgcn), tiny_dataset, req,
                   config=cfg, method=method, epochs=2, min_steps=2,
                   show_progress=False)
    un.fit()
    trainer = un.trainer
    assert trainer.scheduler is None and trainer.config.lr_scaling == "none"
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [0.01]
    rates = {k: [g["lr"] for g in o.param_groups]
             for k, o in trainer.term_optimizers.items()}
    if method == "mmrecun":
        assert rates == {}
    else:
        assert list(rates.values()) == [[pytest.approx(0.1)]]


@pytest.mark.parametrize("forgets,valids,epoch,reason", [
    # 0.30 improves on 0.40; 0.299 and 0.2995 are within 1 % of it
    ([0.30, 0.299, 0.2995, 0.2], [0.5] * 4, 3,
     "forget recall@20 plateaued for 2 epoch(s)"),
    # a trained epoch at or below the target ends the loop
    ([0.20, 0.09, 0.05], [0.5] * 3, 2, "forget recall@20 reached the target"),
    # one optimiser: an inadmissible epoch ends it (nothing to back off)
    ([0.20, 0.15, 0.05], [0.5, 0.44, 0.5], 2,
     "validation recall@20 fell below 0.90 x start"),
])
def test_stopping_reasons(forgets, valids, epoch, reason):
    class Trainer(_Fake):
        should_stop, stop_reason = False, "max epochs"

        class config(_Fake.config):
            patience, learning_rate = 2, 0.01

        def has_best(self):
            return self.best_epoch >= 0

    sel = ForgetSelection(torch.zeros(2, 1, dtype=torch.long), 0.1,
                          "closest")
    sel.start_valid, sel.target = 0.5, 0.10
    sel.best_forget = {"recall@20": 0.40}
    stop = UnlearnStopping(sel, 0.10)
    stop.target, stop._best_f = 0.10, 0.40
    trainer = Trainer()
    scores = list(forgets)
    sel._forget = lambda trainer: {"recall@20": scores.pop(0)}
    for e, v in enumerate(valids, 1):
        record = {"epoch": e, "valid": {"recall@20": v},
                  "eval_seconds": 0.0}
        sel.on_epoch_end(trainer, e, record)
        stop.on_epoch_end(trainer, e, record)
        if trainer.should_stop:
            break
    assert (e, trainer.stop_reason) == (epoch, reason)
